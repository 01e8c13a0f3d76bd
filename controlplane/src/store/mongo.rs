//! MongoDB store: one collection per record kind, `_id` = `<tenant>/<id>`, every filter carries
//! the tenant. The document body is kept as canonical JSON text so keys with `.` or `$`
//! (feature flags, chart options) round-trip exactly; the revision, update time and the
//! declared list fields (`f`) sit beside it as native BSON so queries can use them.
use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::{
    bson::{self, doc, Bson, Document},
    error::{ErrorKind, WriteFailure},
    options::{ClientOptions, FindOptions, IndexOptions},
    Client, Database, IndexModel,
};
use serde_json::Value;

use super::{
    query::page_of, Collection, Expect, ListQuery, Page, Put, Store, StoreError, StoreResult,
    TenantScope, WriteAccess,
};

pub struct MongoStore {
    db: Database,
}

fn backend(e: mongodb::error::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000)
}

fn key(scope: &TenantScope, id: &str) -> String {
    format!("{}/{}", scope.tenant(), id)
}

fn to_bson(v: &Value) -> StoreResult<Bson> {
    bson::to_bson(v).map_err(|e| StoreError::BadQuery(e.to_string()))
}

/// Matches the record at `rev`; records written before revisions existed count as revision 0.
fn at_revision(rev: u64) -> Document {
    if rev == 0 {
        doc! { "$or": [ { "rev": 0_i64 }, { "rev": { "$exists": false } } ] }
    } else {
        doc! { "rev": rev as i64 }
    }
}

impl MongoStore {
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Self> {
        let mut opts = ClientOptions::parse(url).await?;
        opts.app_name = Some("nexbii-controlplane".into());
        opts.server_selection_timeout = Some(std::time::Duration::from_secs(10));
        let client = Client::with_options(opts)?;
        let db = client.database(database);
        let store = Self { db };
        store.ensure_indexes().await?;
        Ok(store)
    }

    async fn ensure_indexes(&self) -> anyhow::Result<()> {
        for coll in Collection::ALL {
            let model = IndexModel::builder()
                .keys(doc! { "tenant": 1, "id": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build();
            self.coll(coll).create_index(model).await?;
            let by_time = IndexModel::builder()
                .keys(doc! { "tenant": 1, "updatedAt": 1 })
                .build();
            self.coll(coll).create_index(by_time).await?;
        }
        Ok(())
    }

    fn coll(&self, coll: Collection) -> mongodb::Collection<Document> {
        self.db.collection(coll.name())
    }

    /// Drops every collection (test isolation only).
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        self.db.drop().await?;
        self.ensure_indexes().await
    }

    async fn revision_of(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
    ) -> StoreResult<Option<u64>> {
        let found = self
            .coll(coll)
            .find_one(doc! { "_id": key(scope, id), "tenant": scope.tenant() })
            .await
            .map_err(backend)?;
        Ok(found.map(|d| d.get_i64("rev").unwrap_or(0) as u64))
    }

    fn filter(scope: &TenantScope, q: &ListQuery, with_cursor: bool) -> StoreResult<Document> {
        q.check()?;
        let mut f = doc! { "tenant": scope.tenant() };
        for (field, value) in &q.filters {
            f.insert(format!("f.{field}"), to_bson(value)?);
        }
        let mut time = Document::new();
        if let Some(t) = &q.updated_from {
            time.insert("$gte", bson::DateTime::from_millis(t.timestamp_millis()));
        }
        if let Some(t) = &q.updated_before {
            time.insert("$lt", bson::DateTime::from_millis(t.timestamp_millis()));
        }
        if !time.is_empty() {
            f.insert("updatedAt", time);
        }
        if let (true, Some(after)) = (with_cursor, &q.after) {
            f.insert("id", doc! { "$gt": after });
        }
        Ok(f)
    }
}

fn body(d: &Document) -> StoreResult<Value> {
    let text = d
        .get_str("doc")
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn record(scope: &TenantScope, put: &Put<'_>) -> StoreResult<Document> {
    let fields = bson::to_document(put.fields).map_err(|e| StoreError::BadQuery(e.to_string()))?;
    Ok(doc! {
        "_id": key(scope, put.id),
        "tenant": scope.tenant(),
        "id": put.id,
        "doc": put.doc.to_string(),
        "updatedAt": bson::DateTime::from_millis(put.updated_at.timestamp_millis()),
        "rev": put.revision as i64,
        "f": fields,
    })
}

#[async_trait]
impl Store for MongoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn get(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
    ) -> StoreResult<Option<Value>> {
        let found = self
            .coll(coll)
            .find_one(doc! { "_id": key(scope, id), "tenant": scope.tenant() })
            .await
            .map_err(backend)?;
        found.as_ref().map(body).transpose()
    }

    async fn list(
        &self,
        scope: &TenantScope,
        coll: Collection,
        q: &ListQuery,
    ) -> StoreResult<Page> {
        let filter = Self::filter(scope, q, true)?;
        let opts = FindOptions::builder()
            .sort(doc! { "id": 1 })
            .limit(q.limit.map(|n| (n as i64).saturating_add(1)))
            .build();
        let cursor = self
            .coll(coll)
            .find(filter)
            .with_options(opts)
            .await
            .map_err(backend)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(backend)?;
        let rows = docs
            .iter()
            .map(|d| {
                let id = d
                    .get_str("id")
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((id.to_string(), body(d)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(rows, q.limit))
    }

    async fn count(
        &self,
        scope: &TenantScope,
        coll: Collection,
        q: &ListQuery,
    ) -> StoreResult<u64> {
        self.coll(coll)
            .count_documents(Self::filter(scope, q, false)?)
            .await
            .map_err(backend)
    }

    async fn put(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        coll: Collection,
        put: Put<'_>,
        expect: Expect,
    ) -> StoreResult<()> {
        let rec = record(scope, &put)?;
        let what = || format!("{} {}", coll.name(), put.id);
        match expect {
            Expect::Absent => match self.coll(coll).insert_one(rec).await {
                Ok(_) => Ok(()),
                Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(what())),
                Err(e) => Err(backend(e)),
            },
            Expect::Revision(expected) => {
                let mut filter = doc! { "_id": key(scope, put.id), "tenant": scope.tenant() };
                filter.extend(at_revision(expected));
                let res = self
                    .coll(coll)
                    .replace_one(filter, rec)
                    .await
                    .map_err(backend)?;
                if res.matched_count > 0 {
                    return Ok(());
                }
                match self.revision_of(scope, coll, put.id).await? {
                    Some(actual) => Err(StoreError::Stale {
                        what: what(),
                        expected,
                        actual,
                    }),
                    None => Err(StoreError::Missing(what())),
                }
            }
        }
    }

    async fn remove(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        revision: Option<u64>,
    ) -> StoreResult<bool> {
        let mut filter = doc! { "_id": key(scope, id), "tenant": scope.tenant() };
        if let Some(r) = revision {
            filter.extend(at_revision(r));
        }
        let res = self.coll(coll).delete_one(filter).await.map_err(backend)?;
        if res.deleted_count > 0 {
            return Ok(true);
        }
        match (revision, self.revision_of(scope, coll, id).await?) {
            (Some(expected), Some(actual)) => Err(StoreError::Stale {
                what: format!("{} {id}", coll.name()),
                expected,
                actual,
            }),
            _ => Ok(false),
        }
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantScope>> {
        let names = self
            .coll(Collection::Tenants)
            .distinct("tenant", doc! {})
            .await
            .map_err(backend)?;
        let mut out: Vec<TenantScope> = names
            .iter()
            .filter_map(|b| b.as_str().and_then(TenantScope::new))
            .collect();
        out.sort();
        Ok(out)
    }
}

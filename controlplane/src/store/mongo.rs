//! MongoDB store: one collection per record kind, `_id` = `<tenant>/<id>`, every filter carries
//! the tenant. The document body is kept as canonical JSON text so keys with `.` or `$`
//! (feature flags, chart options) round-trip exactly.
use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::{
    bson::{doc, Document},
    error::{ErrorKind, WriteFailure},
    options::{ClientOptions, FindOptions, IndexOptions, ReplaceOptions},
    Client, Database, IndexModel,
};
use serde_json::Value;

use super::{Collection, Store, StoreError, StoreResult, TenantScope};

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
}

fn body(d: &Document) -> StoreResult<Value> {
    let text = d
        .get_str("doc")
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn record(scope: &TenantScope, id: &str, doc: &Value) -> Document {
    doc! {
        "_id": key(scope, id),
        "tenant": scope.tenant(),
        "id": id,
        "doc": doc.to_string(),
        "updatedAt": mongodb::bson::DateTime::now(),
    }
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

    async fn list(&self, scope: &TenantScope, coll: Collection) -> StoreResult<Vec<Value>> {
        let cursor = self
            .coll(coll)
            .find(doc! { "tenant": scope.tenant() })
            .with_options(FindOptions::builder().sort(doc! { "id": 1 }).build())
            .await
            .map_err(backend)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(backend)?;
        docs.iter().map(body).collect()
    }

    async fn insert(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
    ) -> StoreResult<()> {
        match self.coll(coll).insert_one(record(scope, id, doc)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate(&e) => {
                Err(StoreError::Conflict(format!("{} {id}", coll.name())))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn upsert(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
    ) -> StoreResult<()> {
        self.coll(coll)
            .replace_one(
                doc! { "_id": key(scope, id), "tenant": scope.tenant() },
                record(scope, id, doc),
            )
            .with_options(ReplaceOptions::builder().upsert(true).build())
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn delete(&self, scope: &TenantScope, coll: Collection, id: &str) -> StoreResult<bool> {
        let res = self
            .coll(coll)
            .delete_one(doc! { "_id": key(scope, id), "tenant": scope.tenant() })
            .await
            .map_err(backend)?;
        Ok(res.deleted_count > 0)
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

//! MongoDB store: one collection per record kind, `_id` = `<tenant>/<id>`, every filter carries
//! the tenant. The document body is kept as canonical JSON text so keys with `.` or `$`
//! (feature flags, chart options) round-trip exactly; the revision, update time and the
//! declared list fields (`f`) sit beside it as native BSON so queries can use them.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::{
    bson::{self, doc, Bson, Document},
    error::{ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR},
    options::{ClientOptions, FindOptions, IndexOptions, ReadConcern},
    Client, ClientSession, Database, IndexModel,
};
use serde_json::Value;

use super::{
    changed_meanwhile, channel_stream, query::page_of, sorted_names, Collection, CollectionState,
    Delta, Expect, ListQuery, Page, Put, RawRecord, Snapshot, Store, StoreError, StoreResult,
    TenantScope, WriteAccess,
};

/// Records of a restore in progress: `{staging, tenant, coll, rec}`, `rec` being the document
/// as it will be inserted into its collection.
const STAGING: &str = "restore_staging";
/// Restored documents inserted per round trip.
const INSERT_BATCH: usize = 500;
/// A swap that meets a concurrent write (a transient transaction error) starts again.
const SWAP_ATTEMPTS: usize = 5;

/// Why one attempt at a swap did not commit.
enum SwapError {
    /// The collection no longer holds what the restore compared.
    Changed(Collection),
    Mongo(mongodb::error::Error),
}

impl From<mongodb::error::Error> for SwapError {
    fn from(e: mongodb::error::Error) -> Self {
        Self::Mongo(e)
    }
}

pub struct MongoStore {
    db: Database,
}

fn backend(e: mongodb::error::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|w| w.code == 11000)),
        _ => false,
    }
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
        let staged = IndexModel::builder()
            .keys(doc! { "staging": 1, "tenant": 1, "coll": 1 })
            .build();
        self.staging().create_index(staged).await?;
        Ok(())
    }

    fn staging(&self) -> mongodb::Collection<Document> {
        self.db.collection(STAGING)
    }

    /// One attempt at the swap, in one transaction.
    async fn swap_once(
        &self,
        session: &mut ClientSession,
        scope: &TenantScope,
        staging: &str,
        delta: &Delta<'_>,
    ) -> Result<(), SwapError> {
        session.start_transaction().await?;
        let tenant = scope.tenant();
        for (coll, expected) in delta.expect {
            // Only the revision and time of each record are read (the projection), in Rust
            // rather than with `$group`: not every MongoDB-wire server has it in a transaction.
            let mut cursor = self
                .coll(*coll)
                .find(doc! { "tenant": tenant })
                .projection(doc! { "rev": 1, "updatedAt": 1 })
                .session(&mut *session)
                .await?;
            let mut now = CollectionState::default();
            while let Some(d) = cursor.next(&mut *session).await.transpose()? {
                now.add(revision_of(&d), updated_at_of(&d));
            }
            if now != *expected {
                return Err(SwapError::Changed(*coll));
            }
        }
        for coll in delta.collections() {
            let ids: Vec<String> = delta
                .removed
                .iter()
                .filter(|(c, _)| *c == coll)
                .map(|(_, id)| key(scope, id))
                .collect();
            for chunk in ids.chunks(INSERT_BATCH) {
                self.coll(coll)
                    .delete_many(doc! { "_id": { "$in": chunk } })
                    .session(&mut *session)
                    .await?;
            }
            let mut cursor = self
                .staging()
                .find(doc! { "staging": staging, "tenant": tenant, "coll": coll.name() })
                .session(&mut *session)
                .await?;
            let mut batch = Vec::with_capacity(INSERT_BATCH);
            loop {
                let next = cursor.next(&mut *session).await.transpose()?;
                if let Some(rec) = next.as_ref().and_then(|d| d.get_document("rec").ok()) {
                    batch.push(rec.clone());
                }
                if batch.len() >= INSERT_BATCH || (next.is_none() && !batch.is_empty()) {
                    // A staged record replaces the one with its id, if there is one.
                    let ids: Vec<Bson> =
                        batch.iter().filter_map(|d| d.get("_id").cloned()).collect();
                    self.coll(coll)
                        .delete_many(doc! { "_id": { "$in": ids } })
                        .session(&mut *session)
                        .await?;
                    self.coll(coll)
                        .insert_many(std::mem::take(&mut batch))
                        .session(&mut *session)
                        .await?;
                }
                if next.is_none() {
                    break;
                }
            }
        }
        session.commit_transaction().await?;
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
        let mut ids = Document::new();
        if let Some((from, to)) = q.id_range() {
            ids.insert("$gte", from);
            ids.insert("$lt", to);
        }
        if let (true, Some(after)) = (with_cursor, &q.after) {
            if q.descending {
                // Two upper bounds (the range's end and the cursor): the lower one holds.
                let bound = match ids.get_str("$lt") {
                    Ok(end) if end < after.as_str() => end.to_string(),
                    _ => after.clone(),
                };
                ids.insert("$lt", bound);
            } else {
                ids.insert("$gt", after);
            }
        }
        if !ids.is_empty() {
            f.insert("id", ids);
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
    Ok(stored(
        scope,
        put.id,
        put.doc.to_string(),
        put.updated_at,
        put.revision,
        fields,
    ))
}

/// The stored form of a record (one place, so restored records match written ones).
fn stored(
    scope: &TenantScope,
    id: &str,
    doc: String,
    updated_at: DateTime<Utc>,
    revision: u64,
    fields: Document,
) -> Document {
    doc! {
        "_id": key(scope, id),
        "tenant": scope.tenant(),
        "id": id,
        "doc": doc,
        "updatedAt": bson::DateTime::from_millis(updated_at.timestamp_millis()),
        "rev": revision as i64,
        "f": fields,
    }
}

fn raw_record(coll: Collection, d: &Document) -> StoreResult<RawRecord> {
    let corrupt = |e: bson::document::ValueAccessError| StoreError::Corrupt(e.to_string());
    let fields = match d.get("f") {
        Some(f) => f.clone().into_relaxed_extjson().to_string(),
        None => "{}".into(),
    };
    Ok(RawRecord {
        collection: coll,
        id: d.get_str("id").map_err(corrupt)?.to_string(),
        revision: revision_of(d),
        updated_at: updated_at_of(d),
        doc: d.get_str("doc").map_err(corrupt)?.to_string(),
        fields,
    })
}

/// A record's revision; servers may hand small integers back as Int32.
fn revision_of(d: &Document) -> u64 {
    match d.get("rev") {
        Some(Bson::Int64(r)) => *r as u64,
        Some(Bson::Int32(r)) => *r as u64,
        _ => 0,
    }
}

/// A record's last change time (BSON dates are milliseconds).
fn updated_at_of(d: &Document) -> DateTime<Utc> {
    d.get_datetime("updatedAt")
        .ok()
        .and_then(|t| DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis()))
        .unwrap_or_default()
}

#[async_trait]
impl Store for MongoStore {
    fn kind(&self) -> &'static str {
        "mongodb"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn usage(&self) -> StoreResult<super::StoreUsage> {
        let stats = self
            .db
            .run_command(doc! { "dbStats": 1 })
            .await
            .map_err(backend)?;
        let num = |k: &str| match stats.get(k) {
            Some(Bson::Int32(n)) => Some(*n as u64),
            Some(Bson::Int64(n)) => Some(*n as u64),
            Some(Bson::Double(n)) => Some(*n as u64),
            _ => None,
        };
        let bytes = match (num("dataSize"), num("indexSize")) {
            (None, None) => None,
            (d, i) => Some(d.unwrap_or(0) + i.unwrap_or(0)),
        };
        Ok(super::StoreUsage { bytes, path: None })
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
            .sort(doc! { "id": if q.descending { -1 } else { 1 } })
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

    async fn snapshot(&self, scope: &TenantScope, colls: &[Collection]) -> StoreResult<Snapshot> {
        let names = sorted_names(colls);
        let mut session = self.db.client().start_session().await.map_err(backend)?;
        // A snapshot transaction reads every collection as of one point in time (a session
        // with `snapshot: true` would too on mongod, but not on every MongoDB-wire server).
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .await
            .map_err(backend)?;
        // The first read fixes the snapshot; its operation time is the position.
        let first = names.first().copied().unwrap_or(Collection::Scratch.name());
        self.db
            .collection::<Document>(first)
            .find_one(doc! { "tenant": scope.tenant() })
            .session(&mut session)
            .await
            .map_err(backend)?;
        let position = match session.operation_time() {
            Some(t) => format!("mongodb:operationTime={}.{}", t.time, t.increment),
            None => "mongodb:operationTime=unknown".into(),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let db = self.db.clone();
        let tenant = scope.tenant().to_string();
        tokio::spawn(async move {
            'colls: for name in names {
                let coll = Collection::from_name(name).expect("names come from collections");
                let cursor = db
                    .collection::<Document>(name)
                    .find(doc! { "tenant": &tenant })
                    .sort(doc! { "id": 1 })
                    .session(&mut session)
                    .await;
                let mut cursor = match cursor {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(backend(e))).await;
                        break;
                    }
                };
                loop {
                    let item = match cursor.next(&mut session).await {
                        None => break,
                        Some(Ok(d)) => raw_record(coll, &d),
                        Some(Err(e)) => Err(backend(e)),
                    };
                    let failed = item.is_err();
                    if tx.send(item).await.is_err() || failed {
                        break 'colls;
                    }
                }
            }
            let _ = session.abort_transaction().await;
        });
        Ok(Snapshot {
            position,
            records: channel_stream(rx),
        })
    }

    async fn stage(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
        records: &[RawRecord],
    ) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut docs = Vec::with_capacity(records.len());
        for r in records {
            let fields: serde_json::Map<String, Value> = serde_json::from_str(&r.fields)
                .map_err(|e| StoreError::Corrupt(format!("fields of {}: {e}", r.id)))?;
            let fields =
                bson::to_document(&fields).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let rec = stored(
                scope,
                &r.id,
                r.doc.clone(),
                r.updated_at,
                r.revision,
                fields,
            );
            docs.push(doc! {
                "_id": format!("{staging}/{}/{}/{}", scope.tenant(), r.collection.name(), r.id),
                "staging": staging,
                "tenant": scope.tenant(),
                "coll": r.collection.name(),
                "rec": rec,
            });
        }
        match self.staging().insert_many(docs).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate(&e) => Err(StoreError::Conflict(format!(
                "a record staged twice under {staging}"
            ))),
            Err(e) => Err(backend(e)),
        }
    }

    async fn swap_staged(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
        delta: &Delta<'_>,
    ) -> StoreResult<()> {
        let mut session = self.db.client().start_session().await.map_err(backend)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.swap_once(&mut session, scope, staging, delta).await {
                Ok(()) => break,
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    match e {
                        SwapError::Changed(coll) => return Err(changed_meanwhile(coll)),
                        SwapError::Mongo(e)
                            if e.contains_label(TRANSIENT_TRANSACTION_ERROR)
                                && attempt < SWAP_ATTEMPTS => {}
                        SwapError::Mongo(e) => return Err(backend(e)),
                    }
                }
            }
        }
        // Committed: the staged copies are no longer needed (a failure here leaves garbage only).
        if let Err(e) = self
            .staging()
            .delete_many(doc! { "staging": staging, "tenant": scope.tenant() })
            .await
        {
            tracing::warn!(error = %e, staging, "restore staging not cleared");
        }
        Ok(())
    }

    async fn drop_staged(
        &self,
        _access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
    ) -> StoreResult<()> {
        self.staging()
            .delete_many(doc! { "staging": staging, "tenant": scope.tenant() })
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

//! Tenant-scoped document storage behind one interface, with two implementations:
//! embedded SQLite (no server; the quick-start default) and MongoDB (production).
//!
//! Every method takes a [`TenantScope`]; there is no way to read or write without one, so an
//! unscoped query cannot be written by accident. The mutating methods also take a
//! [`WriteAccess`], which only this module can make: every change goes through the one write
//! path in [`write`], so the hooks there (history, journal, audit, events) cannot be skipped.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

pub mod cached;
pub mod conformance;
pub mod history;
mod meta;
pub mod mongo;
mod query;
pub mod sqlite;
pub mod write;

pub use meta::{Meta, Origin};
pub use query::{ListQuery, Page};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A create found the id taken.
    #[error("{0}")]
    Conflict(String),
    /// A conditional write found another revision than the one it was based on.
    #[error("{what} was changed by someone else (now at revision {actual}, expected {expected})")]
    Stale {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A conditional write or delete found no record.
    #[error("{0} not found")]
    Missing(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid list query: {0}")]
    BadQuery(String),
    #[error("store error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The tenant every stored record belongs to. Built only from a validated tenant name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantScope(String);

impl TenantScope {
    pub fn new(tenant: &str) -> Option<Self> {
        nexbii_crds::validate::is_dns_label(tenant).then(|| Self(tenant.to_string()))
    }

    pub fn tenant(&self) -> &str {
        &self.0
    }
}

/// The kinds of record the control plane keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Collection {
    Tenants,
    Users,
    Sessions,
    DataSources,
    /// Connection and schema-sync status of each data source.
    DataSourceStatus,
    SavedQueries,
    Dashboards,
    GovernancePolicies,
    BackupSchedules,
    /// The catalog: one record per table of each data source.
    CatalogTables,
    Approvals,
    /// The in-app inbox.
    Notifications,
    Webhooks,
    WebhookDeliveries,
    /// Links that let people without an account view a dashboard or saved query.
    ShareLinks,
    /// Backup runs of the tenant: state, archive location and manifest.
    Backups,
    /// API keys (their secrets' digests only).
    ApiKeys,
    /// The tamper-evident audit log: one hash-chained entry per audited request.
    AuditLog,
    /// Signed checkpoints of the audit log's chain.
    AuditCheckpoints,
    /// The tenant's system settings as set through the API (one record).
    Settings,
    /// Feature flags set through the API.
    FeatureFlags,
    /// Every version of every configuration object (settings, flags, data sources,
    /// dashboards, saved queries, policies).
    ConfigHistory,
    /// Health alerts firing and their latest transitions (one record).
    Alerts,
    /// Used only by the conformance suite.
    Scratch,
}

impl Collection {
    pub const ALL: [Collection; 24] = [
        Self::Tenants,
        Self::Users,
        Self::Sessions,
        Self::DataSources,
        Self::DataSourceStatus,
        Self::SavedQueries,
        Self::Dashboards,
        Self::GovernancePolicies,
        Self::BackupSchedules,
        Self::CatalogTables,
        Self::Approvals,
        Self::Notifications,
        Self::Webhooks,
        Self::WebhookDeliveries,
        Self::ShareLinks,
        Self::Backups,
        Self::ApiKeys,
        Self::AuditLog,
        Self::AuditCheckpoints,
        Self::Settings,
        Self::FeatureFlags,
        Self::ConfigHistory,
        Self::Alerts,
        Self::Scratch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Tenants => "tenants",
            Self::Users => "users",
            Self::Sessions => "sessions",
            Self::DataSources => "datasources",
            Self::DataSourceStatus => "datasource_status",
            Self::SavedQueries => "saved_queries",
            Self::Dashboards => "dashboards",
            Self::GovernancePolicies => "governance_policies",
            Self::BackupSchedules => "backup_schedules",
            Self::CatalogTables => "catalog_tables",
            Self::Approvals => "approvals",
            Self::Notifications => "notifications",
            Self::Webhooks => "webhooks",
            Self::WebhookDeliveries => "webhook_deliveries",
            Self::ShareLinks => "share_links",
            Self::Backups => "backups",
            Self::ApiKeys => "api_keys",
            Self::AuditLog => "audit_log",
            Self::AuditCheckpoints => "audit_checkpoints",
            Self::Settings => "settings",
            Self::FeatureFlags => "feature_flags",
            Self::ConfigHistory => "config_history",
            Self::Alerts => "alerts",
            Self::Scratch => "scratch",
        }
    }

    /// The collection of a [`Collection::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One record exactly as the store keeps it: what a backup writes and a restore puts back,
/// revision and update time included (a restore does not stamp them anew).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    pub collection: Collection,
    pub id: String,
    pub revision: u64,
    pub updated_at: DateTime<Utc>,
    /// The document as JSON text.
    pub doc: String,
    /// The declared list fields, as JSON object text.
    pub fields: String,
}

/// What a restore saw of one collection of the tenant when it compared the backup with it.
/// Its swap applies the difference only while the collection still holds as many records,
/// with the same sum of revisions and the same newest time: every write through the write
/// path changes one of the three, so a write that slipped in between comparison and swap makes
/// the swap a `Conflict` instead of a state that is neither the backup nor the present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectionState {
    pub count: u64,
    pub revisions: u64,
    pub newest: Option<DateTime<Utc>>,
}

impl CollectionState {
    pub fn add(&mut self, revision: u64, updated_at: DateTime<Utc>) {
        self.count += 1;
        self.revisions += revision;
        self.newest = self.newest.max(Some(updated_at));
    }
}

/// A restore's change to the tenant's records, applied by [`Store::swap_staged`] in one
/// transaction: the staged records replace (or add) theirs, the `removed` ones go, the rest
/// (identical in the backup) stay as they are.
pub struct Delta<'a> {
    /// Every collection the restore covers, with what it held when compared.
    pub expect: &'a [(Collection, CollectionState)],
    /// Current records the backup does not hold.
    pub removed: &'a [(Collection, String)],
}

/// The `Conflict` of a swap whose collection changed after the restore compared it.
pub(crate) fn changed_meanwhile(coll: Collection) -> StoreError {
    StoreError::Conflict(format!(
        "{} changed while the restore compared it with the backup; run the restore again",
        coll.name()
    ))
}

impl Delta<'_> {
    pub fn collections(&self) -> Vec<Collection> {
        self.expect.iter().map(|(c, _)| *c).collect()
    }
}

/// A consistent read of a tenant's records, taken without stopping writers.
pub struct Snapshot {
    /// Where the store stood when the snapshot was taken (embedded: the newest update time it
    /// holds; MongoDB: the cluster time of its read), for the backup manifest.
    pub position: String,
    /// The records, ordered by collection name, then id.
    pub records: BoxStream<'static, StoreResult<RawRecord>>,
}

/// Proof that a call comes from the write path. Its field is private to this module, so no
/// other module of the crate, and no other crate, can make one:
///
/// ```compile_fail
/// let _ = nexbii_controlplane::store::WriteAccess(());
/// ```
pub struct WriteAccess(());

/// What a conditional write expects to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No record with this id (create).
    Absent,
    /// The record at exactly this revision (update based on what was read).
    Revision(u64),
}

/// A document to write, with what the store keeps beside it for conditions and listing.
pub struct Put<'a> {
    pub id: &'a str,
    pub doc: &'a Value,
    /// The revision this write creates (the write path computes it; the store checks `expect`).
    pub revision: u64,
    pub updated_at: DateTime<Utc>,
    /// Scalar fields that list queries may filter on (names are identifiers).
    pub fields: &'a Map<String, Value>,
}

/// How much room the store takes (monitoring).
#[derive(Clone, Debug, Default)]
pub struct StoreUsage {
    /// Bytes of data and indexes, when the store tells.
    pub bytes: Option<u64>,
    /// The local file the data lives in (embedded store).
    pub path: Option<std::path::PathBuf>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip used by `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// `embedded` or `mongodb` (the runtime configuration view).
    fn kind(&self) -> &'static str {
        "unknown"
    }
    /// Size and place of the stored data, for all tenants (monitoring). Unknown by default.
    async fn usage(&self) -> StoreResult<StoreUsage> {
        Ok(StoreUsage::default())
    }
    async fn get(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
    ) -> StoreResult<Option<Value>>;
    /// A page of the collection for this tenant, ordered by id, filtered by `q`.
    async fn list(&self, scope: &TenantScope, coll: Collection, q: &ListQuery)
        -> StoreResult<Page>;
    /// How many records match `q`'s filters (its cursor and limit are ignored).
    async fn count(&self, scope: &TenantScope, coll: Collection, q: &ListQuery)
        -> StoreResult<u64>;
    /// Writes the record if `expect` holds: `Conflict` when creating over an existing id,
    /// `Stale` when the stored revision differs, `Missing` when updating a record that is gone.
    async fn put(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        coll: Collection,
        put: Put<'_>,
        expect: Expect,
    ) -> StoreResult<()>;
    /// Deletes the record; with `Some(revision)` only at that revision (`Stale` otherwise).
    /// `true` when a record was removed.
    async fn remove(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        revision: Option<u64>,
    ) -> StoreResult<bool>;
    /// Names of tenants that have a tenant record (used at start-up, not by requests).
    async fn tenants(&self) -> StoreResult<Vec<TenantScope>>;
    /// A consistent snapshot of the tenant's records in `colls`: embedded, one read
    /// transaction; MongoDB, one transaction with read concern "snapshot". Holds a connection
    /// (or session) until the stream ends or is dropped.
    async fn snapshot(&self, scope: &TenantScope, colls: &[Collection]) -> StoreResult<Snapshot>;
    /// Keeps `records` aside under the name `staging` for [`Store::swap_staged`]; nothing
    /// reads them until then. An id staged twice is a `Conflict`.
    async fn stage(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
        records: &[RawRecord],
    ) -> StoreResult<()>;
    /// In one atomic step, applies a restore's `delta`: checks that every collection it covers
    /// still holds what the restore compared (else `Conflict`), removes the `removed` records,
    /// puts the records staged under `staging` in place of the tenant's records with their ids
    /// (revisions and times as staged), and forgets the staging. On failure nothing changed
    /// (the staged records stay until [`Store::drop_staged`]).
    async fn swap_staged(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
        delta: &Delta<'_>,
    ) -> StoreResult<()>;
    /// Forgets the records staged under `staging` (an abandoned restore).
    async fn drop_staged(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
    ) -> StoreResult<()>;
}

pub type DynStore = Arc<dyn Store>;

/// A record type stored in one collection. Every record carries its [`Meta`], which only the
/// write path sets.
pub trait Entity: Serialize + DeserializeOwned + Send + Sync {
    const COLLECTION: Collection;
    fn id(&self) -> &str;
    fn meta(&self) -> &Meta;
    fn meta_mut(&mut self) -> &mut Meta;
    /// Scalar fields offered to list filters.
    fn fields(&self) -> Map<String, Value> {
        Map::new()
    }
    /// Checks the record itself before it is written (the spec rules of the CRD types).
    fn validate(&self) -> Vec<nexbii_crds::FieldError> {
        Vec::new()
    }
}

/// Implements [`Entity`] for a record with a `meta: Meta` field and a string id field;
/// further trait items (`fields`, `validate`) follow the id.
#[macro_export]
macro_rules! entity {
    ($t:ty, $coll:ident, $id:ident $(, $($item:item)*)?) => {
        impl $crate::store::Entity for $t {
            const COLLECTION: $crate::store::Collection = $crate::store::Collection::$coll;
            fn id(&self) -> &str {
                &self.$id
            }
            fn meta(&self) -> &$crate::store::Meta {
                &self.meta
            }
            fn meta_mut(&mut self) -> &mut $crate::store::Meta {
                &mut self.meta
            }
            $($($item)*)?
        }
    };
}

/// The object form of a `json!({...})` literal, for [`Entity::fields`].
pub fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A typed page.
#[derive(Debug)]
pub struct TypedPage<T> {
    pub items: Vec<T>,
    /// Cursor of the next page; `None` on the last.
    pub next: Option<String>,
}

/// Typed reads on top of the JSON interface.
#[async_trait]
pub trait StoreExt {
    async fn get_as<T: Entity>(&self, scope: &TenantScope, id: &str) -> StoreResult<Option<T>>;
    /// Every record of `T` for the tenant (for small collections: configuration objects).
    async fn list_as<T: Entity>(&self, scope: &TenantScope) -> StoreResult<Vec<T>>;
    async fn page_as<T: Entity>(
        &self,
        scope: &TenantScope,
        q: &ListQuery,
    ) -> StoreResult<TypedPage<T>>;
}

/// Collection names sorted and without repeats: the order snapshots and restores walk.
pub(crate) fn sorted_names(colls: &[Collection]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = colls.iter().map(|c| c.name()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// A stream fed by a task through a bounded channel, so a stream that holds a connection can
/// outlive the call that opened it (and backpressure reaches the task).
pub(crate) fn channel_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> BoxStream<'static, T> {
    use futures::StreamExt;
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) }).boxed()
}

pub(crate) fn decode<T: DeserializeOwned>(v: Value) -> StoreResult<T> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl<S: Store + ?Sized> StoreExt for S {
    async fn get_as<T: Entity>(&self, scope: &TenantScope, id: &str) -> StoreResult<Option<T>> {
        self.get(scope, T::COLLECTION, id)
            .await?
            .map(decode)
            .transpose()
    }

    async fn list_as<T: Entity>(&self, scope: &TenantScope) -> StoreResult<Vec<T>> {
        Ok(self.page_as::<T>(scope, &ListQuery::default()).await?.items)
    }

    async fn page_as<T: Entity>(
        &self,
        scope: &TenantScope,
        q: &ListQuery,
    ) -> StoreResult<TypedPage<T>> {
        let page = self.list(scope, T::COLLECTION, q).await?;
        Ok(TypedPage {
            items: page
                .items
                .into_iter()
                .map(decode)
                .collect::<StoreResult<_>>()?,
            next: page.next,
        })
    }
}

/// Opens the store named by `--store`: a `mongodb://` URL or a path to the embedded file.
pub async fn open(spec: &str, mongo_database: &str) -> anyhow::Result<DynStore> {
    if spec.starts_with("mongodb://") || spec.starts_with("mongodb+srv://") {
        Ok(Arc::new(
            mongo::MongoStore::connect(spec, mongo_database).await?,
        ))
    } else {
        let path = spec.strip_prefix("sqlite://").unwrap_or(spec);
        Ok(Arc::new(
            sqlite::SqliteStore::open(std::path::Path::new(path)).await?,
        ))
    }
}

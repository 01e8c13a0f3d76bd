//! Tenant-scoped document storage behind one interface, with two implementations:
//! embedded SQLite (no server; the quick-start default) and MongoDB (production).
//!
//! Every method takes a [`TenantScope`]; there is no way to read or write without one, so an
//! unscoped query cannot be written by accident.
use std::sync::Arc;

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

pub mod conformance;
pub mod mongo;
pub mod sqlite;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
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
    SavedQueries,
    Dashboards,
    GovernancePolicies,
    BackupSchedules,
    /// Used only by the conformance suite.
    Scratch,
}

impl Collection {
    pub const ALL: [Collection; 9] = [
        Self::Tenants,
        Self::Users,
        Self::Sessions,
        Self::DataSources,
        Self::SavedQueries,
        Self::Dashboards,
        Self::GovernancePolicies,
        Self::BackupSchedules,
        Self::Scratch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Tenants => "tenants",
            Self::Users => "users",
            Self::Sessions => "sessions",
            Self::DataSources => "datasources",
            Self::SavedQueries => "saved_queries",
            Self::Dashboards => "dashboards",
            Self::GovernancePolicies => "governance_policies",
            Self::BackupSchedules => "backup_schedules",
            Self::Scratch => "scratch",
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip used by `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    async fn get(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
    ) -> StoreResult<Option<Value>>;
    /// All records of the collection for this tenant, ordered by id.
    async fn list(&self, scope: &TenantScope, coll: Collection) -> StoreResult<Vec<Value>>;
    /// Creates the record; `Conflict` when the id is taken.
    async fn insert(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
    ) -> StoreResult<()>;
    /// Creates or replaces the record.
    async fn upsert(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
    ) -> StoreResult<()>;
    /// `true` when a record was removed.
    async fn delete(&self, scope: &TenantScope, coll: Collection, id: &str) -> StoreResult<bool>;
    /// Names of tenants that have a tenant record (used at start-up, not by requests).
    async fn tenants(&self) -> StoreResult<Vec<TenantScope>>;
}

pub type DynStore = Arc<dyn Store>;

/// A record type stored in one collection.
pub trait Entity: Serialize + DeserializeOwned + Send + Sync {
    const COLLECTION: Collection;
    fn id(&self) -> &str;
}

/// Typed access on top of the JSON interface.
#[async_trait]
pub trait StoreExt {
    async fn get_as<T: Entity>(&self, scope: &TenantScope, id: &str) -> StoreResult<Option<T>>;
    async fn list_as<T: Entity>(&self, scope: &TenantScope) -> StoreResult<Vec<T>>;
    async fn insert_as<T: Entity>(&self, scope: &TenantScope, rec: &T) -> StoreResult<()>;
    async fn upsert_as<T: Entity>(&self, scope: &TenantScope, rec: &T) -> StoreResult<()>;
}

fn decode<T: DeserializeOwned>(v: Value) -> StoreResult<T> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(rec: &T) -> StoreResult<Value> {
    serde_json::to_value(rec).map_err(|e| StoreError::Corrupt(e.to_string()))
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
        self.list(scope, T::COLLECTION)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }
    async fn insert_as<T: Entity>(&self, scope: &TenantScope, rec: &T) -> StoreResult<()> {
        self.insert(scope, T::COLLECTION, rec.id(), &encode(rec)?)
            .await
    }
    async fn upsert_as<T: Entity>(&self, scope: &TenantScope, rec: &T) -> StoreResult<()> {
        self.upsert(scope, T::COLLECTION, rec.id(), &encode(rec)?)
            .await
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

//! Stored records. Specs are the CRD spec types, so YAML, API and storage never drift.
use chrono::{DateTime, Utc};
use nexbii_crds::{
    BackupScheduleSpec, DashboardSpec, DataSourceSpec, GovernancePolicySpec, TenantSpec,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{Collection, Entity};

/// Who created a record: by hand through the API, or provisioned from YAML (manifests folder or
/// the operator). Provisioned records are read-only through the API.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Origin {
    #[default]
    Api,
    Manifests,
    Operator,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRecord {
    pub name: String,
    pub spec: TenantSpec,
    pub origin: Origin,
    pub updated_at: DateTime<Utc>,
}
impl TenantRecord {
    pub const ID: &'static str = "tenant";
}
impl Entity for TenantRecord {
    const COLLECTION: Collection = Collection::Tenants;
    fn id(&self) -> &str {
        Self::ID
    }
}

#[derive(
    Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    pub password_hash: String,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub last_login_at: Option<DateTime<Utc>>,
}
impl Entity for UserRecord {
    const COLLECTION: Collection = Collection::Users;
    fn id(&self) -> &str {
        &self.username
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub id: String,
    pub username: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub user_agent: Option<String>,
}
impl Entity for SessionRecord {
    const COLLECTION: Collection = Collection::Sessions;
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceRecord {
    pub name: String,
    pub spec: DataSourceSpec,
    /// AES-256-GCM sealed password (bound to tenant/name); never leaves the server.
    #[serde(default)]
    pub password_sealed: Option<String>,
    /// Folder that relative SQLite paths resolve against (manifests folder).
    #[serde(default)]
    pub base_dir: Option<String>,
    pub origin: Origin,
    /// Bumped on every change; pools and cached results of older revisions are not reused.
    pub revision: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl Entity for DataSourceRecord {
    const COLLECTION: Collection = Collection::DataSources;
    fn id(&self) -> &str {
        &self.name
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedQuery {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub data_source: String,
    pub sql: String,
    #[serde(default)]
    pub params: Vec<serde_json::Value>,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl Entity for SavedQuery {
    const COLLECTION: Collection = Collection::SavedQueries;
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardRecord {
    pub name: String,
    pub spec: DashboardSpec,
    pub origin: Origin,
    /// Widget queries the instance refused, as `widgetId: reason` (provisioned dashboards are
    /// stored anyway so the operator can report these in the resource status).
    #[serde(default)]
    pub validation_errors: Vec<String>,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
impl Entity for DashboardRecord {
    const COLLECTION: Collection = Collection::Dashboards;
    fn id(&self) -> &str {
        &self.name
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    pub name: String,
    pub spec: GovernancePolicySpec,
    pub origin: Origin,
    pub updated_at: DateTime<Utc>,
}
impl Entity for PolicyRecord {
    const COLLECTION: Collection = Collection::GovernancePolicies;
    fn id(&self) -> &str {
        &self.name
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRecord {
    pub name: String,
    pub spec: BackupScheduleSpec,
    pub origin: Origin,
    pub updated_at: DateTime<Utc>,
}
impl Entity for ScheduleRecord {
    const COLLECTION: Collection = Collection::BackupSchedules;
    fn id(&self) -> &str {
        &self.name
    }
}

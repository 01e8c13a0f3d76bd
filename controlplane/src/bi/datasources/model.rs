//! Data sources as stored and as shown.
use chrono::Utc;
use nexbii_crds::{DataSourceSpec, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Meta, Origin};

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
    /// The revision also keys pools and cached results: older revisions are not reused.
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    DataSourceRecord,
    DataSources,
    name,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"type": self.spec.source_type, "origin": self.origin}))
    }
    fn validate(&self) -> Vec<nexbii_crds::FieldError> {
        self.spec.validate()
    }
}

/// What the API shows of a data source: never the password.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceView {
    pub name: String,
    pub spec: DataSourceSpec,
    pub has_password: bool,
    pub origin: Origin,
    pub revision: u64,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
    pub updated_by: String,
    /// The last connection and schema check; absent until the first one finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<super::status::SourceStatus>,
}

impl DataSourceView {
    pub fn with_status(r: &DataSourceRecord, status: Option<super::status::SourceStatus>) -> Self {
        Self { status, ..r.into() }
    }
}

impl From<&DataSourceRecord> for DataSourceView {
    fn from(r: &DataSourceRecord) -> Self {
        Self {
            name: r.name.clone(),
            spec: r.spec.clone(),
            has_password: r.password_sealed.is_some(),
            origin: r.origin,
            revision: r.meta.revision,
            created_at: r.meta.created_at,
            updated_at: r.meta.updated_at,
            updated_by: r.meta.updated_by.clone(),
            status: None,
        }
    }
}

/// Create/replace body. `spec.tenantRef` may be omitted (it is the caller's tenant).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSourceInput {
    /// DNS-label id (create only; the path names it on update).
    #[serde(default)]
    pub name: Option<String>,
    pub spec: DataSourceSpec,
    /// Write-only. On update: absent keeps the stored password, "" removes it.
    #[serde(default)]
    pub password: Option<String>,
}

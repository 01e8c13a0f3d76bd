//! `DataSource`: a database connection a tenant queries.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretKeyRef, TenantRef};

#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[kube(
    group = "nexbii.io",
    version = "v1alpha1",
    kind = "DataSource",
    plural = "datasources",
    shortname = "nxds",
    namespaced,
    status = "DataSourceStatus",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenantRef.name"}"#,
    printcolumn = r#"{"name":"Connected","type":"boolean","jsonPath":".status.connected"}"#,
    printcolumn = r#"{"name":"Tables","type":"integer","jsonPath":".status.tablesDiscovered"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceSpec {
    pub tenant_ref: TenantRef,
    #[serde(rename = "type")]
    pub source_type: DataSourceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub display_name: Option<String>,
    /// Server host (postgresql, mysql, mongodb).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// Database name (postgresql, mysql, mongodb).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub username: Option<String>,
    /// Database file (sqlite); relative paths resolve against the manifest folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub path: Option<String>,
    /// Password in a Secret; written into the instance encrypted, never read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
    #[serde(default)]
    pub tls: TlsSpec,
    #[serde(default)]
    pub pool: PoolSpec,
    /// Overrides the tenant's query timeout for this source (never raises it above the tenant's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub query_timeout_seconds: Option<u32>,
    /// How often the catalog is re-read; 0 disables periodic sync.
    #[serde(default = "d_sync")]
    #[schemars(range(min = 0, max = 604800))]
    pub schema_sync_interval_seconds: u32,
    /// Pauses the operator for this object: while true it changes and deletes nothing for it
    /// (status shows `Suspended`). The control plane ignores the field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub suspend: bool,
}
fn d_sync() -> u32 {
    3600
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DataSourceType {
    Postgresql,
    Mysql,
    Sqlite,
    Mongodb,
}

impl DataSourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
            Self::Mongodb => "mongodb",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum TlsMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyFull,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    #[serde(default)]
    pub mode: TlsMode,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PoolSpec {
    #[serde(default = "d_max_conn")]
    #[schemars(range(min = 1, max = 100))]
    pub max_connections: u32,
    /// Queries allowed to run at once against this source; more wait their turn.
    #[serde(default = "d_concurrency")]
    #[schemars(range(min = 1, max = 100))]
    pub max_concurrent_queries: u32,
    #[serde(default = "d_connect")]
    #[schemars(range(min = 1, max = 300))]
    pub connect_timeout_seconds: u32,
}
fn d_max_conn() -> u32 {
    5
}
fn d_concurrency() -> u32 {
    4
}
fn d_connect() -> u32 {
    10
}
impl Default for PoolSpec {
    fn default() -> Self {
        Self {
            max_connections: d_max_conn(),
            max_concurrent_queries: d_concurrency(),
            connect_timeout_seconds: d_connect(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DataSourceStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub connected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    #[serde(default)]
    pub tables_discovered: u32,
    #[serde(default)]
    pub columns_discovered: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

//! `SavedQuery`: a named statement against one of a tenant's data sources.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{any_value_list, Condition, TenantRef};

#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[kube(
    group = "nexbii.io",
    version = "v1alpha1",
    kind = "SavedQuery",
    plural = "savedqueries",
    shortname = "nxsq",
    namespaced,
    status = "SavedQueryStatus",
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.dataSource"}"#,
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenantRef.name"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SavedQuerySpec {
    pub tenant_ref: TenantRef,
    /// Name shown in the console; `metadata.name` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub description: Option<String>,
    /// Name of a DataSource of the same tenant.
    #[schemars(length(min = 1, max = 63))]
    pub data_source: String,
    /// A read-only statement (SELECT/WITH), or a JSON aggregation for MongoDB sources.
    #[schemars(length(min = 1, max = 100000))]
    pub sql: String,
    /// Positional parameters bound to the statement's placeholders: JSON scalars.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "any_value_list")]
    pub params: Vec<serde_json::Value>,
    /// Pauses the operator for this object: while true it changes and deletes nothing for it
    /// (status shows `Suspended`). The control plane ignores the field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub suspend: bool,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SavedQueryStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the instance serves the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

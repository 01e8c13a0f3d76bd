//! `Dashboard`: widgets whose queries run against a tenant's data sources.
use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{any_object, any_value_list, Condition, TenantRef, IDENT};

#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[kube(
    group = "nexbii.io",
    version = "v1alpha1",
    kind = "Dashboard",
    plural = "dashboards",
    shortname = "nxdash",
    namespaced,
    status = "DashboardStatus",
    printcolumn = r#"{"name":"Title","type":"string","jsonPath":".spec.title"}"#,
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenantRef.name"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Approval","type":"string","jsonPath":".status.approvalState"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSpec {
    pub tenant_ref: TenantRef,
    #[schemars(length(min = 1, max = 200))]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub folder: Option<String>,
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub tags: Vec<String>,
    /// Filters the viewer can set; widgets refer to them in their parameters.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub variables: Vec<Variable>,
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub widgets: Vec<Widget>,
    /// Auto-refresh period for viewers; absent means manual refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 86400))]
    pub refresh_interval_seconds: Option<u32>,
    #[serde(default)]
    pub publication: Publication,
    /// Pauses the operator for this object: while true it changes and deletes nothing for it
    /// (status shows `Suspended`). The control plane ignores the field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub suspend: bool,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    #[schemars(pattern(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Allowed values; any value is accepted when empty.
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Widget {
    #[schemars(pattern(IDENT))]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub title: Option<String>,
    pub chart: ChartType,
    pub query: WidgetQuery,
    /// Chart options passed to the renderer unchanged.
    #[serde(default)]
    #[schemars(schema_with = "any_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub options: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub position: Position,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ChartType {
    Table,
    Line,
    Bar,
    Area,
    Pie,
    Scatter,
    Number,
    Heatmap,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WidgetQuery {
    /// Name of a DataSource of the same tenant.
    #[schemars(length(min = 1, max = 63))]
    pub data_source: String,
    /// A read-only statement (SELECT/WITH), or a JSON aggregation for MongoDB sources.
    #[schemars(length(min = 1, max = 100000))]
    pub sql: String,
    /// Positional parameters: a JSON literal, or `{"variable": "name"}` for a dashboard variable.
    #[serde(default)]
    #[schemars(schema_with = "any_value_list")]
    pub params: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Position {
    #[serde(default)]
    #[schemars(range(min = 0, max = 23))]
    pub x: u32,
    #[serde(default)]
    #[schemars(range(min = 0, max = 10000))]
    pub y: u32,
    #[serde(default = "d_w")]
    #[schemars(range(min = 1, max = 24))]
    pub w: u32,
    #[serde(default = "d_h")]
    #[schemars(range(min = 1, max = 100))]
    pub h: u32,
}
fn d_w() -> u32 {
    6
}
fn d_h() -> u32 {
    4
}
impl Default for Position {
    fn default() -> Self {
        Self {
            x: 0,
            y: 0,
            w: d_w(),
            h: d_h(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Publication {
    #[default]
    Draft,
    Published,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DashboardStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `none`, `pending`, `approved` or `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_state: Option<String>,
    /// Widget queries the instance refused, as `widgetId: reason`.
    #[serde(default)]
    pub validation_errors: Vec<String>,
}

//! Dashboards as stored.
use nexbii_crds::{DashboardSpec, Validate};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Meta, Origin};

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
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    DashboardRecord,
    Dashboards,
    name,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({
            "publication": self.spec.publication,
            "owner": self.owner,
            "origin": self.origin,
            "folder": self.spec.folder,
        }))
    }
    fn validate(&self) -> Vec<nexbii_crds::FieldError> {
        self.spec.validate()
    }
}

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
    /// Publication under a policy that asks for approval: viewers see the dashboard only once
    /// approved (for the content that was approved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<PublicationApproval>,
    #[serde(flatten)]
    pub meta: Meta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicationApproval {
    /// `Pending`, `Approved` or `Rejected` (the words the Dashboard resource's status uses).
    pub state: String,
    /// The approval request.
    pub id: String,
    /// Digest of the spec the request is about.
    pub spec_digest: String,
}

impl DashboardRecord {
    /// Viewers see published dashboards whose publication is approved where that is required.
    pub fn visible_to_viewers(&self) -> bool {
        self.spec.publication == nexbii_crds::Publication::Published
            && self.approval.as_ref().is_none_or(|a| a.state == "Approved")
    }
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

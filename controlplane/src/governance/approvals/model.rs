//! Approval requests as stored: what is asked, by whom, the ordered levels that must approve,
//! and every decision with its comment.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Meta};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Cancelled,
    Expired,
}

/// What the request is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ApprovalSubject {
    /// Running exactly this statement with exactly these parameters.
    #[serde(rename_all = "camelCase")]
    Query {
        data_source: String,
        sql: String,
        #[schema(value_type = Vec<Object>)]
        params: Vec<Value>,
        /// The highest sensitivity level the statement touches.
        level: String,
        /// Digest of source, statement and parameters: what an approval lets run.
        fingerprint: String,
    },
    /// Publishing this dashboard at this content.
    #[serde(rename_all = "camelCase")]
    DashboardPublication {
        dashboard: String,
        spec_digest: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Level {
    /// Usernames or `role:<name>` (a role includes higher roles).
    pub approvers: Vec<String>,
    pub required: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Verdict {
    Approve,
    Reject,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// 0-based level the decision was made at.
    pub level: usize,
    pub by: String,
    pub verdict: Verdict,
    pub comment: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    pub id: String,
    pub subject: ApprovalSubject,
    pub requester: String,
    #[serde(default)]
    pub reason: Option<String>,
    pub status: ApprovalStatus,
    pub levels: Vec<Level>,
    /// The level waiting for decisions (equal to `levels.len()` once approved).
    pub current_level: usize,
    pub decisions: Vec<Decision>,
    pub expires_at: DateTime<Utc>,
    /// For approved queries: until when the approved statement may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    ApprovalRecord,
    Approvals,
    id,
    fn fields(&self) -> Map<String, Value> {
        let (kind, key) = match &self.subject {
            ApprovalSubject::Query { fingerprint, .. } => ("query", fingerprint.clone()),
            ApprovalSubject::DashboardPublication { dashboard, .. } => ("dashboardPublication", dashboard.clone()),
        };
        fields(json!({"requester": self.requester, "status": self.status, "kind": kind, "key": key}))
    }
}

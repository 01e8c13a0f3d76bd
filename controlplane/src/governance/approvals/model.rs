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
    /// Adding this data source with exactly this spec (the password is not part of it: the
    /// requester gives it again when creating the approved source).
    #[serde(rename_all = "camelCase")]
    DataSourceCreation {
        name: String,
        #[schema(value_type = Object)]
        spec: Value,
        fingerprint: String,
    },
    /// Exporting the result of exactly this statement and parameters in this format.
    #[serde(rename_all = "camelCase")]
    Export {
        data_source: String,
        sql: String,
        #[schema(value_type = Vec<Object>)]
        params: Vec<Value>,
        format: String,
        /// The highest sensitivity level the statement touches, when it touches classified data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<String>,
        fingerprint: String,
    },
    /// A share link to this dashboard or saved query with exactly these options, which
    /// anyone holding the link can open without an account.
    #[serde(rename_all = "camelCase")]
    ExternalShare {
        /// `dashboard/<name>` or `query/<id>`.
        resource: String,
        #[schema(value_type = Object)]
        options: Value,
        fingerprint: String,
    },
}

impl ApprovalSubject {
    /// What identifies the approved thing: requests and grants are looked up by it.
    pub fn key(&self) -> &str {
        match self {
            Self::Query { fingerprint, .. }
            | Self::DataSourceCreation { fingerprint, .. }
            | Self::Export { fingerprint, .. }
            | Self::ExternalShare { fingerprint, .. } => fingerprint,
            Self::DashboardPublication { dashboard, .. } => dashboard,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Query { .. } => "query",
            Self::DashboardPublication { .. } => "dashboardPublication",
            Self::DataSourceCreation { .. } => "dataSourceCreation",
            Self::Export { .. } => "export",
            Self::ExternalShare { .. } => "externalShare",
        }
    }
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
        fields(json!({"requester": self.requester, "status": self.status,
            "kind": self.subject.kind(), "key": self.subject.key()}))
    }
}

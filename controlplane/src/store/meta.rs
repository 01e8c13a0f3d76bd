//! What the write path records on every stored object.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Version and provenance of a stored object, set only by the write path.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Starts at 1, bumped by every change; `If-Match` on updates and deletes compares it.
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_at: DateTime<Utc>,
    /// `user:<name>`, `operator`, `manifests` or `system`.
    #[serde(default)]
    pub updated_by: String,
}

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

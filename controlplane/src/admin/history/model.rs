//! Configuration versions as the API shows them.
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::store::history::{ChangeSource, ConfigVersion, VersionAction};

/// One version of a configuration object. Credentials never appear: a data source's sealed
/// password is shown only as `passwordSealed: "(sealed)"`, so a diff tells that it changed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    pub kind: String,
    pub name: String,
    pub version: u64,
    pub action: VersionAction,
    pub at: DateTime<Utc>,
    pub author: String,
    pub source: ChangeSource,
    /// Dotted paths this version changed (`.` for the whole object).
    pub changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<u64>,
    /// The object as this version left it (absent in lists and for deletions).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
}

impl VersionView {
    pub fn of(v: ConfigVersion, with_value: bool) -> Self {
        Self {
            value: if with_value {
                v.value.as_ref().map(super::domain::redacted)
            } else {
                None
            },
            kind: v.kind,
            name: v.name,
            version: v.version,
            action: v.action,
            at: v.at,
            author: v.author,
            source: v.source,
            changes: v.changes,
            rolled_back_from: v.rolled_back_from,
        }
    }
}

/// The difference between two versions of one object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionDiff {
    pub kind: String,
    pub name: String,
    pub from: u64,
    pub to: u64,
    /// RFC 6902 JSON Patch turning version `from` into version `to` (credentials redacted).
    #[schema(value_type = Vec<Object>)]
    pub patch: Value,
    /// Dotted paths that differ.
    pub changes: Vec<String>,
}

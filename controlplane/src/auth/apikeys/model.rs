//! API keys as stored and as shown. The secret is kept only as a SHA-256 digest.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Meta};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    /// 16 hex digits, also part of the secret (`nxk_<tenant>_<id>_<secret>`), so a presented
    /// key leads to its record directly. Kept across rotations.
    pub id: String,
    pub name: String,
    /// The user the key acts as (with that user's role as it is now, capped by the scopes).
    pub owner: String,
    pub scopes: Vec<String>,
    /// Hex SHA-256 of the whole key.
    pub secret_digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<DateTime<Utc>>,
    /// After a rotation with a grace period: the digest of the key before, and until when it
    /// still works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_valid_until: Option<DateTime<Utc>>,
    /// Usage as last flushed (requests since then are counted in memory, see `usage.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_address: Option<String>,
    #[serde(default)]
    pub request_count: u64,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    ApiKeyRecord,
    ApiKeys,
    id,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"owner": self.owner, "revoked": self.revoked_at.is_some()}))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

/// A key as its owner and admins see it: never the secret or its digest.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// The key's first characters (`nxk_<tenant>_<id>`): enough to recognise it, useless to
    /// use it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub state: KeyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<DateTime<Utc>>,
    /// The key before the last rotation works until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_valid_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Client address of the last request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_address: Option<String>,
    /// Requests authenticated with the key (whatever their outcome).
    pub request_count: u64,
}

/// A new or rotated key: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyWithSecret {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// Secret: send it as `Authorization: Bearer <secret>` or `X-API-Key: <secret>`. It is not
    /// stored and cannot be shown again.
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiKeyInput {
    /// What the key is for (1 to 100 characters).
    pub name: String,
    /// `<area>:<access>`: areas `datasources`, `queries`, `dashboards`, `catalog`, `lineage`,
    /// `approvals`, `admin`, `audit` or `*`; access `read`, `write` (includes read) or `*`;
    /// `*` alone is everything. At most what the caller's role allows.
    #[schema(example = json!(["dashboards:read", "queries:write"]))]
    pub scopes: Vec<String>,
    /// The key stops working then (in the future, at most 10 years ahead); without it, when
    /// revoked.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateInput {
    /// How long the key before the rotation keeps working (0 to 604800 seconds, default 0:
    /// it stops at once).
    #[serde(default)]
    pub grace_period_seconds: u32,
}

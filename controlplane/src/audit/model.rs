//! What the audit log stores: hash-chained entries and signed checkpoints of the chain.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::Meta;

/// How a request ended, as the audit log tells it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Answered with a 1xx–3xx status.
    Success,
    /// Refused for who the caller is: 401, 403 or 429.
    Denied,
    /// Any other 4xx or 5xx.
    Failure,
}

impl Outcome {
    pub fn of_status(status: u16) -> Self {
        match status {
            401 | 403 | 429 => Self::Denied,
            s if s >= 400 => Self::Failure,
            _ => Self::Success,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
}

/// One query the request ran: what it was (its fingerprint: literals stripped, so no value of
/// the statement is kept), where, how many rows, and which columns left masked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryNote {
    pub datasource: String,
    /// Normalised statement with literals replaced by `?`.
    pub fingerprint: String,
    /// Rows returned (absent when the query failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Names of the result columns that were masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
    /// `ok`, or the error kind (`refused`, `failed`, …).
    pub outcome: String,
}

/// The part of an entry its hash covers (see `chain::entry_hash`): every field that says what
/// happened. Field order is the serialisation order, so the hash input is the same bytes on
/// every instance and after any store round trip.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryBody {
    /// Position in the tenant's chain, from 1, without gaps.
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// The user (for an API key: the key's owner; `operator`, `manifests` or `system` for the
    /// platform itself).
    pub actor: String,
    /// Keyed pseudonym of `actor` (HMAC-SHA256 with a per-tenant key): the hash covers it in
    /// the actor's place, and `verify` checks that `actor` still matches it. Erasing a user
    /// replaces `actor` by this pseudonym, and the chain still verifies. Empty on entries
    /// written before pseudonyms (their hash covers `actor` itself).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor_ref: String,
    /// How the actor authenticated: `session`, `key:<id>`, `share:<id>`, `operator`.
    pub via: String,
    /// The user acting on behalf of `actor`, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonator: Option<String>,
    /// Keyed pseudonym of `impersonator`, as `actorRef` is of `actor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonator_ref: Option<String>,
    /// `<area>.<verb>`, e.g. `dashboards.create`, `auth.login`, `approvals.approve`.
    pub action: String,
    /// The request path (share tokens replaced by a digest, no query string).
    pub target: String,
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<QueryNote>,
}

/// A stored audit entry: its body, the previous entry's hash and its own.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// [`entry_id`] of the sequence number.
    pub id: String,
    #[serde(flatten)]
    pub body: EntryBody,
    /// SHA-256 (hex) of the previous entry; 64 zeros for the first entry of a chain.
    pub prev_hash: String,
    /// SHA-256 (hex) of `prev_hash` and the body.
    pub hash: String,
    #[serde(flatten)]
    #[schema(ignore)]
    pub meta: Meta,
}

/// Ids sort as the sequence does (the store lists by id).
pub fn entry_id(seq: u64) -> String {
    format!("{seq:020}")
}

crate::entity!(
    AuditEntry,
    AuditLog,
    id,
    fn fields(&self) -> Map<String, Value> {
        let b = &self.body;
        crate::store::fields(json!({
            "actor": b.actor,
            "via": b.via,
            "action": b.action,
            "target": b.target,
            "outcome": b.outcome.as_str(),
        }))
    }
);

/// A signed statement that the chain held `hash` at `seq`: what anchors the chain after old
/// entries are pruned, and what finds entries removed or rewritten together with every hash
/// after them (which the chain alone cannot, since anyone can recompute SHA-256).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// [`entry_id`] of `seq`.
    pub id: String,
    pub seq: u64,
    /// The hash of entry `seq`.
    pub hash: String,
    pub at: DateTime<Utc>,
    /// Names the signing key (a digest of it), never the key itself.
    pub key_id: String,
    /// HMAC-SHA256 (hex) over tenant, seq, hash and time.
    pub signature: String,
    #[serde(flatten)]
    #[schema(ignore)]
    pub meta: Meta,
}

crate::entity!(Checkpoint, AuditCheckpoints, id);

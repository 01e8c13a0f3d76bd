//! Feature flags as stored and as shown.
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::{
    auth::Role,
    store::{fields, Meta},
};

/// A flag set through the API: on or off for the tenant, optionally only for some roles, always
/// for some users, and for a stable percentage of the other users.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagRecord {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub users: Vec<String>,
    pub rollout_percent: u8,
    #[serde(flatten)]
    pub meta: Meta,
}

pub fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

crate::entity! {
    FlagRecord,
    FeatureFlags,
    name,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"enabled": self.enabled}))
    }
    fn validate(&self) -> Vec<nexbii_crds::FieldError> {
        let mut errs = Vec::new();
        if !valid_name(&self.name) {
            errs.push(nexbii_crds::FieldError::new("name", "1 to 63 letters, digits, '-', '_' or '.'"));
        }
        if self.rollout_percent > 100 {
            errs.push(nexbii_crds::FieldError::new("rolloutPercent", "must be 0 to 100"));
        }
        if self.users.len() > 1000 {
            errs.push(nexbii_crds::FieldError::new("users", "at most 1000 users"));
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 500) {
            errs.push(nexbii_crds::FieldError::new("description", "at most 500 characters"));
        }
        errs
    }
}

/// `PUT /api/v1/admin/features/{name}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlagInput {
    #[serde(default)]
    pub description: Option<String>,
    pub enabled: bool,
    /// Only these roles get the feature (empty: every role).
    #[serde(default)]
    pub roles: Vec<Role>,
    /// These users always get it (when enabled), whatever their role and the rollout.
    #[serde(default)]
    pub users: Vec<String>,
    /// Share of the other users that get it, chosen by a stable hash of the user (default 100).
    #[serde(default = "hundred")]
    #[schema(maximum = 100)]
    pub rollout_percent: u8,
}

fn hundred() -> u8 {
    100
}

/// Where a flag's state comes from.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FlagSource {
    /// Not set anywhere: the feature's built-in default.
    Default,
    Api,
    /// The Tenant's `spec.features`: read-only here.
    Tenant,
}

/// A flag as admins see it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlagView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub source: FlagSource,
    /// The resource that declares it, when `source` is `tenant`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_by: Option<String>,
    pub enabled: bool,
    pub roles: Vec<Role>,
    pub users: Vec<String>,
    pub rollout_percent: u8,
    /// Whether the feature is on when nothing sets it.
    pub default: bool,
    /// The API routes the flag turns off (empty for flags only clients read).
    pub gates: Vec<&'static str>,
    /// Revision of the stored flag (0 when not stored).
    pub revision: u64,
}

/// `GET /api/v1/features`: what is on for the caller.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallerFeatures {
    pub features: std::collections::BTreeMap<String, bool>,
}

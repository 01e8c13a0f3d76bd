//! The settings as stored (what the API set) and as shown.
use chrono::{DateTime, Utc};
use nexbii_crds::Settings;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::store::Meta;

/// The part of the settings document set through the API (one record per tenant).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsRecord {
    pub id: String,
    pub values: Map<String, Value>,
    #[serde(flatten)]
    pub meta: Meta,
}

impl SettingsRecord {
    pub const ID: &'static str = "settings";
}

crate::entity! {
    SettingsRecord,
    Settings,
    id,
    fn validate(&self) -> Vec<nexbii_crds::FieldError> {
        match Settings::from_part(&self.values, "") {
            Ok(s) => s.validate_at(""),
            Err(e) => vec![e],
        }
    }
}

/// Where an effective value comes from.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum SettingSource {
    /// Built in, or derived from the Tenant's `spec.auth` and `spec.limits`.
    Default,
    /// Set through this API.
    Api,
    /// Declared by the Tenant's `spec.settings`: read-only here.
    Tenant,
}

/// `GET /api/v1/admin/settings`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    /// The settings in force: defaults, then what the API set, then what the Tenant declares.
    pub settings: Settings,
    /// The part set through this API (what a `PUT` replaces).
    #[schema(value_type = Object)]
    pub stored: Map<String, Value>,
    /// Source of every leaf value (`sessions.idleTimeoutMinutes` → `tenant`, …).
    pub sources: std::collections::BTreeMap<String, SettingSource>,
    /// The resource that declares the read-only part (`Tenant/acme`).
    pub declared_by: String,
    /// Bounds from the Tenant's `spec.limits` and the instance the query settings must stay in.
    pub limits: SettingsLimits,
    /// Revision of the stored part (0 when nothing was set yet); `If-Match` on `PUT`.
    pub revision: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsLimits {
    pub query_timeout_seconds: u32,
    pub row_limit: u32,
    /// The instance's result cache keeps nothing longer (`--cache-ttl-seconds`).
    pub cache_ttl_seconds: u32,
}

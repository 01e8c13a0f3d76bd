//! Health alerts as stored and shown.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::Meta;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    /// Share of requests answered 5xx over the last 5 minutes.
    ErrorRate,
    /// p95 request latency over the last 5 minutes.
    Latency,
    /// A data source's last connection check failed.
    DataSourceDown,
    /// Free disk of the data directory.
    DiskFree,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ErrorRate => "errorRate",
            Self::Latency => "latency",
            Self::DataSourceDown => "dataSourceDown",
            Self::DiskFree => "diskFree",
        }
    }
}

/// A threshold crossed now.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    /// `errorRate`, `latency`, `diskFree`, `dataSourceDown:<source>`.
    pub key: String,
    pub kind: AlertKind,
    pub subject: Option<String>,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}

/// An alert that fired and has not cleared.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveAlert {
    pub kind: AlertKind,
    /// The data source, for `dataSourceDown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub since: DateTime<Utc>,
    /// The figure when it was last evaluated, and the threshold it crossed.
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Transition {
    Fired,
    Cleared,
}

/// One alert firing or clearing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertEvent {
    pub key: String,
    pub kind: AlertKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub transition: Transition,
    pub at: DateTime<Utc>,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}

/// The tenant's alerts: those firing, and the latest transitions (newest last).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertsRecord {
    pub id: String,
    pub active: BTreeMap<String, ActiveAlert>,
    pub recent: Vec<AlertEvent>,
    #[serde(default)]
    pub evaluated_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub meta: Meta,
}

impl AlertsRecord {
    pub const ID: &'static str = "alerts";
}

crate::entity! { AlertsRecord, Alerts, id }

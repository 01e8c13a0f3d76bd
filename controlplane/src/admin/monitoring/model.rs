//! What the monitoring endpoints answer.
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::telemetry::{resources::ResourceSample, windows::Figures};
use crate::{engine::performance::CacheUsage, telemetry::windows::Window};

/// Figures over the last 1 min, 5 min, 1 h and 24 h.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct ByWindow {
    #[serde(rename = "1m")]
    pub m1: Figures,
    #[serde(rename = "5m")]
    pub m5: Figures,
    #[serde(rename = "1h")]
    pub h1: Figures,
    #[serde(rename = "24h")]
    pub h24: Figures,
}

impl ByWindow {
    pub fn from_fn(mut f: impl FnMut(Window) -> Figures) -> Self {
        Self {
            m1: f(Window::M1),
            m5: f(Window::M5),
            h1: f(Window::H1),
            h24: f(Window::H24),
        }
    }
}

/// One route's requests (`"<METHOD> <route template>"`; `other` past the cap).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RouteFigures {
    pub route: String,
    pub windows: ByWindow,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreHealth {
    pub ok: bool,
    /// Round trip of a ping, just now.
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A data source as its last connection check and this instance's pool see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceHealth {
    pub name: String,
    #[serde(rename = "type")]
    pub source_type: String,
    /// From the last check (`None`: never checked yet).
    pub connected: Option<bool>,
    pub checked_at: Option<DateTime<Utc>>,
    pub latency_ms: Option<f64>,
    pub last_error: Option<String>,
    /// This instance holds a pool for the source (it has run something on it).
    pub pool_open: bool,
    /// Queries running on the pool now.
    pub queries_running: u32,
    pub max_concurrent_queries: u32,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheHealth {
    /// The instance's result cache (shared by its tenants).
    #[serde(flatten)]
    pub usage: CacheUsage,
    /// Share of this tenant's query runs of the last hour answered from the cache.
    pub hit_rate_1h: Option<f64>,
}

/// A background job queue of the tenant.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobHealth {
    pub name: String,
    pub pending: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`, or `degraded` when the store or a data source is down.
    pub status: String,
    pub store: StoreHealth,
    pub data_sources: Vec<SourceHealth>,
    pub cache: CacheHealth,
    pub jobs: Vec<JobHealth>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveUsers {
    #[serde(rename = "5m")]
    pub m5: u64,
    #[serde(rename = "1h")]
    pub h1: u64,
    #[serde(rename = "24h")]
    pub h24: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// Users of the tenant with a request in the window.
    pub active_users: ActiveUsers,
    /// Login sessions neither revoked nor expired.
    pub active_sessions: u64,
}

/// `GET /api/v1/admin/monitoring`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringReport {
    pub tenant: String,
    pub at: DateTime<Utc>,
    pub version: String,
    pub uptime_seconds: u64,
    pub health: Health,
    /// Instance-wide (the process and its host), measured now.
    pub resources: ResourceSample,
    pub activity: Activity,
    /// The tenant's requests, all routes.
    pub requests: ByWindow,
    /// Per route, busiest first (routes without a request in 24 h left out).
    pub routes: Vec<RouteFigures>,
    /// The tenant's query runs (cache hits included; durations of the runs that reached a
    /// database).
    pub queries: ByWindow,
}

/// One minute of a series.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// Start of the minute.
    pub at: DateTime<Utc>,
    /// `null` where there is nothing to measure (a percentile of a minute without requests,
    /// a resource minute before the instance started).
    pub value: Option<f64>,
}

/// `GET /api/v1/admin/monitoring/series`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    pub metric: String,
    pub window: String,
    pub unit: String,
    /// One point per minute, oldest first; the last is the minute in progress.
    pub points: Vec<SeriesPoint>,
}

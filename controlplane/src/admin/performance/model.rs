//! What the performance endpoints answer.
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{admin::monitoring::model::Figures, engine::performance::CacheUsage};

/// Counters and durations of a group of query runs (or dashboard loads), since the instance
/// started. Durations, rows and bytes are those of the runs that reached the database.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStats {
    /// Every run, cache hits and refusals included.
    pub count: u64,
    /// Runs that reached the database.
    pub executions: u64,
    pub errors: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// hits / (hits + misses); `null` when the cache was never consulted.
    pub cache_hit_rate: Option<f64>,
    pub rows: u64,
    pub bytes: u64,
    pub total_ms: f64,
    pub mean_ms: Option<f64>,
    /// Percentiles from a log-bucketed histogram (buckets a factor 2^(1/3) wide; the value is
    /// the bucket's geometric midpoint, never above the maximum).
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// One user's share of a fingerprint (`other` past the first 8 users).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserStats {
    pub user: String,
    #[serde(flatten)]
    pub stats: RunStats,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SourceStats {
    #[serde(rename = "dataSource")]
    pub data_source: String,
    #[serde(flatten)]
    pub stats: RunStats,
}

/// A normalized statement (literals replaced by `?`) on one data source.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FingerprintView {
    /// 16 hex digits (stable hash of the normalized text).
    pub id: String,
    pub data_source: String,
    pub source_type: String,
    pub fingerprint: String,
    #[serde(flatten)]
    pub stats: RunStats,
    pub users: Vec<UserStats>,
}

/// `GET /api/v1/admin/performance/queries`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryPerformance {
    pub sort: String,
    pub overall: RunStats,
    /// Fingerprints held for the tenant (at most `limit` are listed).
    pub fingerprints_tracked: u64,
    pub fingerprints: Vec<FingerprintView>,
    pub by_source: Vec<SourceStats>,
    pub by_user: Vec<UserStats>,
}

/// What the pipeline's policy stage decided for a run.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPlanView {
    /// A row filter rewrote the statement (`statement` is the rewritten one).
    pub rewritten: bool,
    pub masked_columns: Vec<String>,
    /// Cached results are shared only within this partition.
    pub cache_partition: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlowRunView {
    pub at: DateTime<Utc>,
    pub data_source: String,
    pub user: String,
    pub fingerprint_id: String,
    /// The statement as sent to the database (parameters are bound, not shown).
    pub statement: String,
    pub duration_ms: f64,
    pub rows: u64,
    pub failed: bool,
    pub plan: RunPlanView,
}

/// `GET /api/v1/admin/performance/queries/slowest`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SlowestRuns {
    pub runs: Vec<SlowRunView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStats {
    pub id: String,
    #[serde(flatten)]
    pub stats: RunStats,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardStatsView {
    pub name: String,
    /// Whole loads (until the last widget is in); `cacheHits` counts loads whose every widget
    /// came from the cache.
    pub loads: RunStats,
    /// The widget with the highest p95.
    pub slowest_widget: Option<String>,
    pub widgets: Vec<WidgetStats>,
}

/// `GET /api/v1/admin/performance/dashboards`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DashboardPerformance {
    pub dashboards: Vec<DashboardStatsView>,
}

/// `GET /api/v1/admin/performance/cache`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CachePerformance {
    /// The instance's result cache.
    pub usage: CacheUsage,
    pub overall: RunStats,
    pub by_source: Vec<SourceStats>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointStats {
    pub route: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// `GET /api/v1/admin/performance/endpoints`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointPerformance {
    pub window: String,
    pub endpoints: Vec<EndpointStats>,
}

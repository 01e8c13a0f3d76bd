//! Reading the performance figures of a tenant out of the telemetry.
use chrono::{TimeZone, Utc};

use super::model::*;
use crate::{
    store::TenantScope,
    telemetry::{queries::Agg, windows::Window, Telemetry},
};

/// How `GET …/queries` orders fingerprints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    P95,
    Total,
    Count,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "p95" => Some(Sort::P95),
            "total" => Some(Sort::Total),
            "count" => Some(Sort::Count),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sort::P95 => "p95",
            Sort::Total => "total",
            Sort::Count => "count",
        }
    }
}

fn at(s: u64) -> Option<chrono::DateTime<Utc>> {
    Utc.timestamp_opt(s as i64, 0).single()
}

pub fn stats(a: &Agg) -> RunStats {
    let ran = a.executions > 0;
    RunStats {
        count: a.count,
        executions: a.executions,
        errors: a.errors,
        cache_hits: a.cache_hits,
        cache_misses: a.cache_misses,
        cache_hit_rate: a.cache_hit_rate(),
        rows: a.rows,
        bytes: a.bytes,
        total_ms: a.total_ms,
        mean_ms: ran.then(|| a.total_ms / a.executions as f64),
        p50_ms: a.quantile(0.5),
        p95_ms: a.quantile(0.95),
        p99_ms: a.quantile(0.99),
        max_ms: ran.then_some(a.max_ms),
        last_seen: (a.last_seen > 0).then(|| at(a.last_seen)).flatten(),
    }
}

fn by_name(m: &std::collections::HashMap<Box<str>, Agg>) -> Vec<(String, RunStats)> {
    let mut v: Vec<(String, RunStats)> = m.iter().map(|(k, a)| (k.to_string(), stats(a))).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub struct QueryFilter<'a> {
    pub sort: Sort,
    pub limit: usize,
    pub data_source: Option<&'a str>,
    pub user: Option<&'a str>,
}

pub fn queries(t: &Telemetry, scope: &TenantScope, f: &QueryFilter<'_>) -> QueryPerformance {
    t.queries
        .read(scope.tenant(), |q| {
            let mut fps: Vec<_> = q
                .fingerprints
                .values()
                .filter(|s| f.data_source.is_none_or(|d| &*s.source == d))
                .filter(|s| {
                    f.user
                        .is_none_or(|u| s.users.iter().any(|(n, _)| &**n == u))
                })
                .collect();
            let key = |s: &&crate::telemetry::queries::FingerprintStats| match f.sort {
                Sort::P95 => s.agg.quantile(0.95).unwrap_or(0.0),
                Sort::Total => s.agg.total_ms,
                Sort::Count => s.agg.count as f64,
            };
            fps.sort_by(|a, b| {
                key(b)
                    .total_cmp(&key(a))
                    .then(a.fingerprint.hash.cmp(&b.fingerprint.hash))
            });
            QueryPerformance {
                sort: f.sort.name().into(),
                overall: stats(&q.overall),
                fingerprints_tracked: q.fingerprints.len() as u64,
                fingerprints: fps
                    .into_iter()
                    .take(f.limit)
                    .map(|s| FingerprintView {
                        id: s.fingerprint.id(),
                        data_source: s.source.to_string(),
                        source_type: s.source_type.into(),
                        fingerprint: s.fingerprint.text.to_string(),
                        stats: stats(&s.agg),
                        users: s
                            .users
                            .iter()
                            .map(|(u, a)| UserStats {
                                user: u.to_string(),
                                stats: stats(a),
                            })
                            .collect(),
                    })
                    .collect(),
                by_source: by_name(&q.sources)
                    .into_iter()
                    .map(|(data_source, stats)| SourceStats { data_source, stats })
                    .collect(),
                by_user: by_name(&q.users)
                    .into_iter()
                    .map(|(user, stats)| UserStats { user, stats })
                    .collect(),
            }
        })
        .unwrap_or_else(|| QueryPerformance {
            sort: f.sort.name().into(),
            overall: RunStats::default(),
            fingerprints_tracked: 0,
            fingerprints: Vec::new(),
            by_source: Vec::new(),
            by_user: Vec::new(),
        })
}

pub fn slowest(t: &Telemetry, scope: &TenantScope, limit: usize) -> SlowestRuns {
    let runs = t
        .queries
        .read(scope.tenant(), |q| {
            q.slowest
                .iter()
                .take(limit)
                .map(|r| SlowRunView {
                    at: at(r.at).unwrap_or_default(),
                    data_source: r.source.to_string(),
                    user: r.user.to_string(),
                    fingerprint_id: format!("{:016x}", r.fingerprint),
                    statement: r.statement.to_string(),
                    duration_ms: r.ms,
                    rows: r.rows,
                    failed: r.failed,
                    plan: RunPlanView {
                        rewritten: r.plan.rewritten,
                        masked_columns: r.plan.masked_columns.clone(),
                        cache_partition: r.plan.cache_partition.clone(),
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    SlowestRuns { runs }
}

pub fn dashboards(t: &Telemetry, scope: &TenantScope) -> DashboardPerformance {
    let mut dashboards: Vec<DashboardStatsView> = t
        .dashboards
        .read(scope.tenant(), |d| {
            d.dashboards
                .iter()
                .map(|(name, s)| {
                    let widgets: Vec<WidgetStats> = s
                        .widgets
                        .iter()
                        .map(|(id, a)| WidgetStats {
                            id: id.to_string(),
                            stats: stats(a),
                        })
                        .collect();
                    let slowest_widget = widgets
                        .iter()
                        .max_by(|a, b| {
                            let p = |w: &WidgetStats| w.stats.p95_ms.unwrap_or(0.0);
                            p(a).total_cmp(&p(b))
                        })
                        .map(|w| w.id.clone());
                    DashboardStatsView {
                        name: name.to_string(),
                        loads: stats(&s.loads),
                        slowest_widget,
                        widgets,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    dashboards.sort_by(|a, b| a.name.cmp(&b.name));
    DashboardPerformance { dashboards }
}

pub fn cache(
    t: &Telemetry,
    scope: &TenantScope,
    usage: crate::engine::performance::CacheUsage,
) -> CachePerformance {
    let (overall, by_source) = t
        .queries
        .read(scope.tenant(), |q| {
            (
                stats(&q.overall),
                by_name(&q.sources)
                    .into_iter()
                    .map(|(data_source, stats)| SourceStats { data_source, stats })
                    .collect(),
            )
        })
        .unwrap_or_default();
    CachePerformance {
        usage,
        overall,
        by_source,
    }
}

pub fn endpoints(t: &Telemetry, scope: &TenantScope, w: Window) -> EndpointPerformance {
    let now = crate::telemetry::now_s();
    let endpoints = t
        .requests
        .read(scope.tenant(), |r| {
            r.route_figures(now, w)
                .into_iter()
                .map(|(route, s)| EndpointStats {
                    route,
                    figures: s.figures(w.seconds() as f64),
                })
                .collect()
        })
        .unwrap_or_default();
    EndpointPerformance {
        window: w.name().into(),
        endpoints,
    }
}

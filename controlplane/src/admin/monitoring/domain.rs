//! Assembling the monitoring report and the series from the telemetry, the store and the
//! engine; the resource sampler.
use std::{path::PathBuf, time::Instant};

use chrono::{TimeZone, Utc};

use super::model::*;
use crate::{
    auth::model::SessionRecord,
    bi::datasources::{status::SourceStatus, DataSourceRecord},
    http::ApiResult,
    state::AppState,
    store::{Store, StoreExt, TenantScope},
    telemetry::{
        now_s,
        windows::{Point, Window},
    },
};

/// The series `GET …/series?metric=` knows, with their units.
pub const METRICS: &[(&str, &str)] = &[
    ("requests", "requests/min"),
    ("request_rate", "requests/s"),
    ("errors", "requests/min"),
    ("error_rate", "ratio"),
    ("client_error_rate", "ratio"),
    ("latency_p50", "ms"),
    ("latency_p95", "ms"),
    ("latency_p99", "ms"),
    ("latency_mean", "ms"),
    ("queries", "runs/min"),
    ("query_errors", "runs/min"),
    ("query_p95", "ms"),
    ("cache_hit_rate", "ratio"),
    ("process_cpu", "percent of a core"),
    ("rss", "bytes"),
    ("open_files", "files"),
    ("host_cpu", "percent"),
    ("host_memory_available", "bytes"),
    ("disk_free", "bytes"),
    ("store_size", "bytes"),
];

/// Where the instance keeps its data: the embedded store's folder, else the backup folder.
pub async fn data_dir(state: &AppState) -> (PathBuf, Option<u64>) {
    let usage = state.store.usage().await.unwrap_or_default();
    let dir = usage
        .path
        .as_deref()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| state.settings.backup_dir.clone());
    (dir, usage.bytes)
}

/// Samples resource use once a minute into the 24-hour history (spawned by the server).
pub async fn sampler(state: std::sync::Arc<AppState>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        let (dir, store_bytes) = data_dir(&state).await;
        let t = &state.metrics.telemetry;
        t.resources
            .keep(now_s(), t.resources.sample(&dir, store_bytes));
    }
}

pub async fn report(state: &AppState, scope: &TenantScope) -> ApiResult<MonitoringReport> {
    let now = now_s();
    let t = &state.metrics.telemetry;
    let started = Instant::now();
    let ping = state.store.ping().await;
    let store = StoreHealth {
        ok: ping.is_ok(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        error: ping.err().map(|e| e.to_string()),
    };
    let data_sources = source_health(state, scope).await?;
    let queries = |w: Window| {
        t.queries
            .read(scope.tenant(), |q| {
                q.window(now, w).figures(w.seconds() as f64)
            })
            .unwrap_or_default()
    };
    let hit_rate_1h = Some(queries(Window::H1))
        .filter(|f| f.count > 0)
        .map(|f| f.cache_hit_rate);
    let degraded = !store.ok || data_sources.iter().any(|s| s.connected == Some(false));
    let health = Health {
        status: if degraded { "degraded" } else { "ok" }.into(),
        store,
        data_sources,
        cache: CacheHealth {
            usage: state.engine.cache_usage(),
            hit_rate_1h,
        },
        jobs: vec![
            JobHealth {
                name: "webhook-deliveries".into(),
                pending: state.deliveries.pending(scope) as u64,
            },
            JobHealth {
                name: "catalog-crawls".into(),
                pending: state.governance.crawls_pending(scope) as u64,
            },
        ],
    };
    let (dir, store_bytes) = data_dir(state).await;
    let resources = t.resources.sample(&dir, store_bytes);
    let (requests, routes, active) = t
        .requests
        .read(scope.tenant(), |r| {
            let requests =
                ByWindow::from_fn(|w| r.overall.window(now, w).figures(w.seconds() as f64));
            let routes = r
                .route_figures(now, Window::H24)
                .into_iter()
                .map(|(route, _)| {
                    let series = &r.routes[route.as_str()];
                    RouteFigures {
                        windows: ByWindow::from_fn(|w| {
                            series.window(now, w).figures(w.seconds() as f64)
                        }),
                        route,
                    }
                })
                .collect();
            let active = ActiveUsers {
                m5: r.active_users(now, 300) as u64,
                h1: r.active_users(now, 3_600) as u64,
                h24: r.active_users(now, 86_400) as u64,
            };
            (requests, routes, active)
        })
        .unwrap_or_else(|| {
            (
                ByWindow::default(),
                Vec::new(),
                ActiveUsers {
                    m5: 0,
                    h1: 0,
                    h24: 0,
                },
            )
        });
    let sessions = state.store.list_as::<SessionRecord>(scope).await?;
    let active_sessions = sessions
        .iter()
        .filter(|s| !s.revoked && s.expires_at > Utc::now())
        .count() as u64;
    Ok(MonitoringReport {
        tenant: scope.tenant().to_string(),
        at: Utc::now(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: now.saturating_sub(t.started),
        health,
        resources,
        activity: Activity {
            active_users: active,
            active_sessions,
        },
        requests,
        routes,
        queries: ByWindow::from_fn(queries),
    })
}

async fn source_health(state: &AppState, scope: &TenantScope) -> ApiResult<Vec<SourceHealth>> {
    let sources = state.store.list_as::<DataSourceRecord>(scope).await?;
    let statuses = state.store.list_as::<SourceStatus>(scope).await?;
    let mut out: Vec<SourceHealth> = sources
        .into_iter()
        .map(|s| {
            let st = statuses.iter().find(|x| x.name == s.name);
            let max = s.spec.pool.max_concurrent_queries;
            let running = state.engine.pool_in_use(scope, &s.name, max);
            SourceHealth {
                source_type: s.spec.source_type.as_str().into(),
                connected: st.map(|x| x.connected),
                checked_at: st.map(|x| x.checked_at),
                latency_ms: st.and_then(|x| x.latency_ms),
                last_error: st.and_then(|x| x.last_error.clone()),
                pool_open: running.is_some(),
                queries_running: running.unwrap_or(0),
                max_concurrent_queries: max,
                name: s.name,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One metric over the last `window`, a point per minute.
pub fn series(state: &AppState, scope: &TenantScope, metric: &str, window: Window) -> Series {
    let now = now_s();
    let n = window.minutes() as usize;
    let t = &state.metrics.telemetry;
    let unit = METRICS
        .iter()
        .find(|(m, _)| *m == metric)
        .map(|(_, u)| *u)
        .unwrap_or_default();
    let at = |minute: u32| {
        Utc.timestamp_opt(minute as i64 * 60, 0)
            .single()
            .unwrap_or_default()
    };
    let from_points = |pts: Vec<Point>, f: &dyn Fn(&Point) -> Option<f64>| {
        pts.iter()
            .map(|p| SeriesPoint {
                at: at(p.minute),
                value: f(p),
            })
            .collect::<Vec<_>>()
    };
    let pct = |v: f32, p: &Point| (p.count > 0).then_some(v as f64);
    let ratio = |x: u32, p: &Point| {
        Some(if p.count == 0 {
            0.0
        } else {
            x as f64 / p.count as f64
        })
    };
    let requests = || {
        t.requests
            .read(scope.tenant(), |r| r.chart.last(now, n))
            .unwrap_or_else(|| empty(now, n))
    };
    let queries = || {
        t.queries
            .read(scope.tenant(), |q| q.chart.last(now, n))
            .unwrap_or_else(|| empty(now, n))
    };
    let points = match metric {
        "requests" => from_points(requests(), &|p| Some(p.count as f64)),
        "request_rate" => from_points(requests(), &|p| Some(p.count as f64 / 60.0)),
        "errors" => from_points(requests(), &|p| Some(p.errors as f64)),
        "error_rate" => from_points(requests(), &|p| ratio(p.errors, p)),
        "client_error_rate" => from_points(requests(), &|p| ratio(p.client_errors, p)),
        "latency_p50" => from_points(requests(), &|p| pct(p.p50_ms, p)),
        "latency_p95" => from_points(requests(), &|p| pct(p.p95_ms, p)),
        "latency_p99" => from_points(requests(), &|p| pct(p.p99_ms, p)),
        "latency_mean" => from_points(requests(), &|p| {
            (p.count > 0).then(|| p.sum_ms as f64 / p.count as f64)
        }),
        "queries" => from_points(queries(), &|p| Some(p.count as f64)),
        "query_errors" => from_points(queries(), &|p| Some(p.errors as f64)),
        "query_p95" => from_points(queries(), &|p| {
            (p.count > p.cached).then_some(p.p95_ms as f64)
        }),
        "cache_hit_rate" => from_points(queries(), &|p| ratio(p.cached, p)),
        resource => t
            .resources
            .last(now, n)
            .into_iter()
            .map(|(minute, s)| SeriesPoint {
                at: at(minute),
                value: s.and_then(|s| match resource {
                    "process_cpu" => s.process_cpu_percent,
                    "rss" => s.rss_bytes.map(|v| v as f64),
                    "open_files" => s.open_files.map(|v| v as f64),
                    "host_cpu" => s.host_cpu_percent,
                    "host_memory_available" => s.host_memory_available_bytes.map(|v| v as f64),
                    "disk_free" => s.disk_free_bytes.map(|v| v as f64),
                    "store_size" => s.store_bytes.map(|v| v as f64),
                    _ => None,
                }),
            })
            .collect(),
    };
    Series {
        metric: metric.into(),
        window: window.name().into(),
        unit: unit.into(),
        points,
    }
}

fn empty(now: u64, n: usize) -> Vec<Point> {
    crate::telemetry::windows::Chart::default().last(now, n)
}

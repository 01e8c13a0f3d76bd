//! System monitoring of the tenant (admin only): health, resource use, activity, request
//! rates, latency percentiles and error rates over 1 min, 5 min, 1 h and 24 h, and per-minute
//! series for charts. The figures live in memory per instance (`telemetry`), bounded.
use std::collections::HashMap;

use axum::{
    extract::{Query, State},
    routing::get,
    Json, Router,
};

pub mod domain;
pub mod model;

use crate::{
    auth::{Caller, Role},
    http::{ApiError, ApiResult, Problem},
    state::SharedState,
    telemetry::windows::Window,
};
use model::{MonitoringReport, Series};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/admin/monitoring", get(monitoring))
        .route("/api/v1/admin/monitoring/series", get(series))
}

/// Refuses parameters the endpoint does not know (a typo must not pass silently).
pub(crate) fn known_params(q: &HashMap<String, String>, known: &[&str]) -> ApiResult<()> {
    match q.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::invalid(
            k.clone(),
            format!("unknown parameter (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// `?window=` (default `default`).
pub(crate) fn window_param(q: &HashMap<String, String>, default: Window) -> ApiResult<Window> {
    match q.get("window") {
        None => Ok(default),
        Some(w) => Window::parse(w)
            .ok_or_else(|| ApiError::invalid("window", "must be one of 1m, 5m, 1h, 24h")),
    }
}

#[utoipa::path(get, path = "/api/v1/admin/monitoring", tag = "admin",
    responses(
        (status = 200, body = MonitoringReport, description = "health, resources, activity, and the tenant's requests over 1 min, 5 min, 1 h and 24 h"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable")),
    security(("bearer" = [])))]
pub async fn monitoring(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<MonitoringReport>> {
    caller.require(Role::Admin)?;
    Ok(Json(domain::report(&state, &caller.scope).await?))
}

#[utoipa::path(get, path = "/api/v1/admin/monitoring/series", tag = "admin",
    params(
        ("metric" = String, Query, description = "requests, request_rate, errors, error_rate, client_error_rate, latency_p50, latency_p95, latency_p99, latency_mean, queries, query_errors, query_p95, cache_hit_rate (the tenant's); process_cpu, rss, open_files, host_cpu, host_memory_available, disk_free, store_size (the instance's)"),
        ("window" = Option<String>, Query, description = "1m, 5m, 1h (default) or 24h: that many 1-minute points")),
    responses(
        (status = 200, body = Series, description = "one point per minute, oldest first"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "unknown metric or window (field names the parameter)")),
    security(("bearer" = [])))]
pub async fn series(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Series>> {
    caller.require(Role::Admin)?;
    known_params(&q, &["metric", "window"])?;
    let metric = q
        .get("metric")
        .ok_or_else(|| ApiError::invalid("metric", "required"))?;
    if !domain::METRICS.iter().any(|(m, _)| m == metric) {
        let known: Vec<&str> = domain::METRICS.iter().map(|(m, _)| *m).collect();
        return Err(ApiError::invalid(
            "metric",
            format!("unknown metric (known: {})", known.join(", ")),
        ));
    }
    let window = window_param(&q, Window::H1)?;
    Ok(Json(domain::series(&state, &caller.scope, metric, window)))
}

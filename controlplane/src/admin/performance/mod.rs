//! Performance analysis of the tenant (admin only): query runs by fingerprint, data source and
//! user, the slowest runs, dashboard load times, cache hit rates, API endpoint performance, and
//! optimization suggestions from the databases' own plans and the recorded runs.
use std::collections::HashMap;

use axum::{
    extract::{Query, State},
    routing::get,
    Json, Router,
};

pub mod domain;
pub mod model;
pub mod suggest;

use super::monitoring::{known_params, window_param};
use crate::{
    auth::{Caller, Role},
    http::{ApiError, ApiResult, Problem},
    state::SharedState,
    telemetry::windows::Window,
};
use model::*;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/admin/performance/queries", get(queries))
        .route("/api/v1/admin/performance/queries/slowest", get(slowest))
        .route("/api/v1/admin/performance/dashboards", get(dashboards))
        .route("/api/v1/admin/performance/cache", get(cache))
        .route("/api/v1/admin/performance/endpoints", get(endpoints))
        .route("/api/v1/admin/performance/suggestions", get(suggestions))
}

/// `?limit=` between 1 and `max`.
fn limit_param(q: &HashMap<String, String>, default: usize, max: usize) -> ApiResult<usize> {
    match q.get("limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", format!("must be between 1 and {max}"))),
    }
}

#[utoipa::path(get, path = "/api/v1/admin/performance/queries", tag = "admin",
    params(
        ("sort" = Option<String>, Query, description = "p95 (default), total (time) or count"),
        ("limit" = Option<u32>, Query, description = "fingerprints listed, 1 to 1000 (default 50)"),
        ("dataSource" = Option<String>, Query, description = "only this data source's fingerprints"),
        ("user" = Option<String>, Query, description = "only fingerprints this user ran")),
    responses(
        (status = 200, body = QueryPerformance, description = "query runs by fingerprint (literals stripped), by data source and by user, since the instance started"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a bad parameter (field names it)")),
    security(("bearer" = [])))]
pub async fn queries(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<QueryPerformance>> {
    caller.require(Role::Admin)?;
    known_params(&q, &["sort", "limit", "dataSource", "user"])?;
    let sort = match q.get("sort") {
        None => domain::Sort::P95,
        Some(s) => domain::Sort::parse(s)
            .ok_or_else(|| ApiError::invalid("sort", "must be one of p95, total, count"))?,
    };
    let filter = domain::QueryFilter {
        sort,
        limit: limit_param(&q, 50, 1_000)?,
        data_source: q.get("dataSource").map(String::as_str),
        user: q.get("user").map(String::as_str),
    };
    Ok(Json(domain::queries(
        &state.metrics.telemetry,
        &caller.scope,
        &filter,
    )))
}

#[utoipa::path(get, path = "/api/v1/admin/performance/queries/slowest", tag = "admin",
    params(("limit" = Option<u32>, Query, description = "1 to 20 (default 20)")),
    responses(
        (status = 200, body = SlowestRuns, description = "the slowest runs that reached a database, slowest first, with the statement that ran and the policy plan"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a bad parameter (field names it)")),
    security(("bearer" = [])))]
pub async fn slowest(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<SlowestRuns>> {
    caller.require(Role::Admin)?;
    known_params(&q, &["limit"])?;
    let max = crate::telemetry::queries::SLOWEST;
    let limit = limit_param(&q, max, max)?;
    Ok(Json(domain::slowest(
        &state.metrics.telemetry,
        &caller.scope,
        limit,
    )))
}

#[utoipa::path(get, path = "/api/v1/admin/performance/dashboards", tag = "admin",
    responses(
        (status = 200, body = DashboardPerformance, description = "load times per dashboard and per widget since the instance started"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn dashboards(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<DashboardPerformance>> {
    caller.require(Role::Admin)?;
    Ok(Json(domain::dashboards(
        &state.metrics.telemetry,
        &caller.scope,
    )))
}

#[utoipa::path(get, path = "/api/v1/admin/performance/cache", tag = "admin",
    responses(
        (status = 200, body = CachePerformance, description = "cache hit rates overall and per data source since the instance started, and the cache's use"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn cache(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<CachePerformance>> {
    caller.require(Role::Admin)?;
    Ok(Json(domain::cache(
        &state.metrics.telemetry,
        &caller.scope,
        state.engine.cache_usage(),
    )))
}

#[utoipa::path(get, path = "/api/v1/admin/performance/endpoints", tag = "admin",
    params(("window" = Option<String>, Query, description = "1m, 5m, 1h (default) or 24h")),
    responses(
        (status = 200, body = EndpointPerformance, description = "the tenant's requests per route in the window, busiest first"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a bad parameter (field names it)")),
    security(("bearer" = [])))]
pub async fn endpoints(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<EndpointPerformance>> {
    caller.require(Role::Admin)?;
    known_params(&q, &["window"])?;
    let w = window_param(&q, Window::H1)?;
    Ok(Json(domain::endpoints(
        &state.metrics.telemetry,
        &caller.scope,
        w,
    )))
}

#[utoipa::path(get, path = "/api/v1/admin/performance/suggestions", tag = "admin",
    responses(
        (status = 200, body = suggest::Suggestions, description = "suggestions from real evidence, each naming it: `index` (a full scan of a large table under a selective filter in the database's own plan: `EXPLAIN` on PostgreSQL and MySQL/MariaDB, `EXPLAIN QUERY PLAN` on SQLite), `unboundedResult`, `selectStar` (wide tables per the catalog), `sharedWidgetQuery` (the same widget query on several dashboards), `cacheTtl` (results unchanged for longer than twice the cache TTL); fingerprints whose plan could not be read, with the reason"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn suggestions(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<suggest::Suggestions>> {
    caller.require(Role::Admin)?;
    Ok(Json(suggest::suggestions(&state, &caller.scope).await?))
}

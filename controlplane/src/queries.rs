//! Ad-hoc and saved queries.
use std::time::Duration;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    auth::Caller,
    crypto,
    datasources::{self, engine_error},
    engine::{QueryLimits, QueryResult},
    error::{ApiError, ApiJson, ApiResult},
    models::{Role, SavedQuery, TenantRecord},
    state::AppState,
    state::SharedState,
    store::{Collection, StoreExt, TenantScope},
};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunQuery {
    pub data_source: String,
    /// One read-only statement; for MongoDB sources a JSON `{collection, pipeline}`.
    pub sql: String,
    /// Positional bound parameters ($1 / ?; `{"$param": N}` for MongoDB).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub params: Vec<Value>,
    /// Lower row limit than the tenant's.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Bypass the result cache.
    #[serde(default)]
    pub no_cache: bool,
}

/// Effective limits: the tenant's, lowered by the source's timeout and the request's limit.
pub fn limits_for(
    tenant: &TenantRecord,
    source_timeout: Option<u32>,
    requested: Option<u32>,
) -> QueryLimits {
    let l = &tenant.spec.limits;
    let secs = source_timeout.map_or(l.query_timeout_seconds, |s| s.min(l.query_timeout_seconds));
    let rows = requested.map_or(l.row_limit, |r| r.clamp(1, l.row_limit));
    QueryLimits {
        timeout: Duration::from_secs(secs.max(1) as u64),
        row_limit: rows as usize,
    }
}

/// One query to run: where, what, and how.
pub struct QueryCall<'a> {
    pub data_source: &'a str,
    pub sql: &'a str,
    pub params: &'a [Value],
    pub limit: Option<u32>,
    pub use_cache: bool,
}

/// Runs a query for a tenant with all guards; shared by ad-hoc, saved and dashboard queries.
pub async fn execute(
    state: &AppState,
    scope: &TenantScope,
    access: &str,
    call: QueryCall<'_>,
) -> ApiResult<QueryResult> {
    let QueryCall {
        data_source,
        sql,
        params,
        limit,
        use_cache,
    } = call;
    let tenant = state.tenant(scope).await?;
    let rec = datasources::load(state, scope, data_source)
        .await
        .map_err(|_| {
            ApiError::invalid(
                "dataSource",
                format!("no data source named {data_source:?}"),
            )
        })?;
    let src = datasources::resolve(state, scope, &rec)?;
    let limits = limits_for(&tenant, rec.spec.query_timeout_seconds, limit);
    let res = state
        .engine
        .run(&src, sql, params, limits, access, use_cache)
        .await
        .map_err(engine_error);
    match &res {
        Ok(r) => tracing::info!(
            tenant = scope.tenant(),
            datasource = data_source,
            rows = r.row_count,
            cached = r.cached,
            elapsed_ms = r.elapsed_ms,
            "query"
        ),
        Err(e) => {
            tracing::info!(tenant = scope.tenant(), datasource = data_source, error = %e, "query failed")
        }
    }
    res
}

#[utoipa::path(post, path = "/api/v1/queries/run", tag = "queries", request_body = RunQuery,
    responses((status = 200, body = QueryResult), (status = 400, body = crate::error::Problem), (status = 504, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn run(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<RunQuery>,
) -> ApiResult<Json<QueryResult>> {
    caller.require(Role::Editor)?;
    let call = QueryCall {
        data_source: &req.data_source,
        sql: &req.sql,
        params: &req.params,
        limit: req.limit,
        use_cache: !req.no_cache,
    };
    let r = execute(&state, &caller.scope, &caller.access_context(), call).await?;
    Ok(Json(r))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedQueryInput {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub data_source: String,
    pub sql: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub params: Vec<Value>,
}

async fn check_saved(state: &AppState, scope: &TenantScope, q: &SavedQueryInput) -> ApiResult<()> {
    if q.name.trim().is_empty() || q.name.len() > 200 {
        return Err(ApiError::invalid("name", "1 to 200 characters"));
    }
    let rec = datasources::load(state, scope, &q.data_source)
        .await
        .map_err(|_| {
            ApiError::invalid(
                "dataSource",
                format!("no data source named {:?}", q.data_source),
            )
        })?;
    state
        .engine
        .check(rec.spec.source_type, &q.sql)
        .map_err(|e| ApiError::invalid("sql", e.to_string()))?;
    Ok(())
}

async fn load(state: &AppState, scope: &TenantScope, id: &str) -> ApiResult<SavedQuery> {
    state
        .store
        .get_as::<SavedQuery>(scope, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("query {id}")))
}

#[utoipa::path(get, path = "/api/v1/queries", tag = "queries", responses((status = 200, body = Vec<SavedQuery>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SavedQuery>>> {
    Ok(Json(
        state.store.list_as::<SavedQuery>(&caller.scope).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/queries", tag = "queries", request_body = SavedQueryInput,
    responses((status = 201, body = SavedQuery), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<SavedQueryInput>,
) -> ApiResult<(StatusCode, Json<SavedQuery>)> {
    caller.require(Role::Editor)?;
    check_saved(&state, &caller.scope, &req).await?;
    let now = Utc::now();
    let q = SavedQuery {
        id: crypto::random_id(),
        name: req.name,
        description: req.description,
        data_source: req.data_source,
        sql: req.sql,
        params: req.params,
        owner: caller.username.clone(),
        created_at: now,
        updated_at: now,
    };
    state.store.insert_as(&caller.scope, &q).await?;
    Ok((StatusCode::CREATED, Json(q)))
}

#[utoipa::path(get, path = "/api/v1/queries/{id}", tag = "queries", params(("id" = String, Path)),
    responses((status = 200, body = SavedQuery), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SavedQuery>> {
    Ok(Json(load(&state, &caller.scope, &id).await?))
}

fn can_modify(caller: &Caller, q: &SavedQuery) -> ApiResult<()> {
    caller.require(Role::Editor)?;
    if q.owner != caller.username && caller.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "only the owner or an admin can change this query".into(),
        ));
    }
    Ok(())
}

#[utoipa::path(put, path = "/api/v1/queries/{id}", tag = "queries", params(("id" = String, Path)), request_body = SavedQueryInput,
    responses((status = 200, body = SavedQuery), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SavedQueryInput>,
) -> ApiResult<Json<SavedQuery>> {
    let mut q = load(&state, &caller.scope, &id).await?;
    can_modify(&caller, &q)?;
    check_saved(&state, &caller.scope, &req).await?;
    q.name = req.name;
    q.description = req.description;
    q.data_source = req.data_source;
    q.sql = req.sql;
    q.params = req.params;
    q.updated_at = Utc::now();
    state.store.upsert_as(&caller.scope, &q).await?;
    Ok(Json(q))
}

#[utoipa::path(delete, path = "/api/v1/queries/{id}", tag = "queries", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let q = load(&state, &caller.scope, &id).await?;
    can_modify(&caller, &q)?;
    state
        .store
        .delete(&caller.scope, Collection::SavedQueries, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/queries/{id}/run", tag = "queries", params(("id" = String, Path)),
    responses((status = 200, body = QueryResult), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn run_saved(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<QueryResult>> {
    let q = load(&state, &caller.scope, &id).await?;
    let call = QueryCall {
        data_source: &q.data_source,
        sql: &q.sql,
        params: &q.params,
        limit: None,
        use_cache: true,
    };
    let r = execute(&state, &caller.scope, &caller.access_context(), call).await?;
    Ok(Json(r))
}

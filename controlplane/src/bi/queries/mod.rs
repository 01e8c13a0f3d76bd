//! Ad-hoc and saved queries.
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

pub mod domain;
pub mod export;
pub mod model;

pub use domain::{execute, limits_for, QueryCall};
pub use model::SavedQuery;

use crate::{
    auth::{Caller, Role},
    crypto,
    engine::QueryResult,
    http::{
        paging::{PageParams, Paged},
        precondition::{IfMatch, Tagged},
        ApiError, ApiJson, ApiResult, Problem,
    },
    state::SharedState,
    store::{Expect, Meta, StoreExt},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/queries/run", post(run))
        .route("/api/v1/queries", get(list).post(create))
        .route(
            "/api/v1/queries/{id}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v1/queries/{id}/run", post(run_saved))
        .route("/api/v1/queries/export", post(export::adhoc))
        .route("/api/v1/queries/{id}/export", post(export::saved))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunQuery {
    pub data_source: String,
    /// One read-only statement; for MongoDB sources a JSON `{collection, pipeline}`.
    pub sql: String,
    /// Positional bound parameters ($1 / ?; `{"$param": N}` for MongoDB).
    #[serde(default)]
    #[schema(value_type = Vec<model::ParamValue>)]
    pub params: Vec<Value>,
    /// Lower row limit than the tenant's.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Bypass the result cache.
    #[serde(default)]
    pub no_cache: bool,
}

#[utoipa::path(post, path = "/api/v1/queries/run", tag = "queries", request_body = RunQuery,
    responses((status = 200, body = QueryResult),
        (status = 202, body = crate::governance::approvals::ApprovalRecord,
            description = "the statement touches data the policy holds for approval: the request (new, or the caller's open one for it); run again once approved"),
        (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 502, body = Problem), (status = 504, body = Problem)),
    security(("bearer" = [])))]
pub async fn run(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<RunQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    caller.require(Role::Editor)?;
    model::check_params(&req.params).map_err(|e| ApiError::Invalid(vec![e]))?;
    let call = QueryCall {
        data_source: &req.data_source,
        sql: &req.sql,
        params: &req.params,
        limit: req.limit,
        use_cache: !req.no_cache,
    };
    match execute(&state, &caller.scope, &caller.access(), call).await {
        Ok(r) => Ok(Json(r).into_response()),
        Err(e) => held(&state, &caller, &req.data_source, &req.sql, &req.params, e).await,
    }
}

/// A run the policy holds for approval becomes `202 Accepted` with the request (opened now, or
/// the caller's open one): the run happens once approved. Any other error stays as it is.
pub(crate) async fn held(
    state: &crate::state::AppState,
    caller: &Caller,
    data_source: &str,
    sql: &str,
    params: &[Value],
    e: ApiError,
) -> ApiResult<axum::response::Response> {
    use crate::governance::approvals;
    use axum::response::IntoResponse;
    let ApiError::ApprovalRequired(level) = e else {
        return Err(e);
    };
    let needed = approvals::needed(state, &caller.scope, data_source, sql, params);
    let Some((subject, rule)) = needed.await? else {
        return Err(ApiError::ApprovalRequired(level));
    };
    let rec =
        approvals::request(state, &caller.scope, &caller.username, subject, &rule, None).await?;
    Ok((StatusCode::ACCEPTED, Json(rec)).into_response())
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
    #[schema(value_type = Vec<model::ParamValue>)]
    pub params: Vec<Value>,
}

#[utoipa::path(get, path = "/api/v1/queries", tag = "queries", params(PageParams),
    responses((status = 200, body = Vec<SavedQuery>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<SavedQuery>> {
    Ok(state
        .store
        .page_as::<SavedQuery>(&caller.scope, &page.query()?)
        .await?
        .into())
}

#[utoipa::path(post, path = "/api/v1/queries", tag = "queries", request_body = SavedQueryInput,
    responses((status = 201, body = SavedQuery), (status = 403, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<SavedQueryInput>,
) -> ApiResult<(StatusCode, Json<SavedQuery>)> {
    caller.require(Role::Editor)?;
    domain::check_saved(
        &state,
        &caller.scope,
        &req.name,
        &req.data_source,
        &req.sql,
        &req.params,
    )
    .await?;
    let q = SavedQuery {
        id: crypto::random_id(),
        name: req.name,
        description: req.description,
        data_source: req.data_source,
        sql: req.sql,
        params: req.params,
        owner: caller.username.clone(),
        origin: crate::store::Origin::Api,
        meta: Meta::default(),
    };
    let q = state
        .writer
        .save(&caller.scope, &caller.actor(), q, Expect::Absent)
        .await?;
    Ok((StatusCode::CREATED, Json(q)))
}

#[utoipa::path(get, path = "/api/v1/queries/{id}", tag = "queries", params(("id" = String, Path)),
    responses((status = 200, body = SavedQuery, headers(("etag" = String, description = "the revision, for If-Match"))),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Tagged<SavedQuery>> {
    let q = domain::load(&state, &caller.scope, &id).await?;
    Ok(Tagged(q.meta.revision, q))
}

fn can_modify(caller: &Caller, q: &SavedQuery) -> ApiResult<()> {
    caller.require(Role::Editor)?;
    crate::bi::refuse_provisioned("query", &q.id, q.origin)?;
    if q.owner != caller.username && caller.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "only the owner or an admin can change this query".into(),
        ));
    }
    Ok(())
}

#[utoipa::path(put, path = "/api/v1/queries/{id}", tag = "queries",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "revision the change is based on")),
    request_body = SavedQueryInput,
    responses((status = 200, body = SavedQuery), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    ApiJson(req): ApiJson<SavedQueryInput>,
) -> ApiResult<Json<SavedQuery>> {
    let mut q = domain::load(&state, &caller.scope, &id).await?;
    can_modify(&caller, &q)?;
    let base = if_match.check(&format!("query {id}"), q.meta.revision)?;
    domain::check_saved(
        &state,
        &caller.scope,
        &req.name,
        &req.data_source,
        &req.sql,
        &req.params,
    )
    .await?;
    q.name = req.name;
    q.description = req.description;
    q.data_source = req.data_source;
    q.sql = req.sql;
    q.params = req.params;
    let q = state
        .writer
        .save(&caller.scope, &caller.actor(), q, Expect::Revision(base))
        .await?;
    Ok(Json(q))
}

#[utoipa::path(delete, path = "/api/v1/queries/{id}", tag = "queries",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "revision the deletion is based on")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    let q = domain::load(&state, &caller.scope, &id).await?;
    can_modify(&caller, &q)?;
    let rev = if_match.check(&format!("query {id}"), q.meta.revision)?;
    state
        .writer
        .delete::<SavedQuery>(&caller.scope, &caller.actor(), &id, Some(rev))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/queries/{id}/run", tag = "queries", params(("id" = String, Path)),
    responses((status = 200, body = QueryResult),
        (status = 202, body = crate::governance::approvals::ApprovalRecord,
            description = "the statement touches data the policy holds for approval: the request; run again once approved"),
        (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 502, body = Problem), (status = 504, body = Problem)),
    security(("bearer" = [])))]
pub async fn run_saved(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let q = domain::load(&state, &caller.scope, &id).await?;
    let call = QueryCall {
        data_source: &q.data_source,
        sql: &q.sql,
        params: &q.params,
        limit: None,
        use_cache: true,
    };
    match execute(&state, &caller.scope, &caller.access(), call).await {
        Ok(r) => Ok(Json(r).into_response()),
        Err(e) => held(&state, &caller, &q.data_source, &q.sql, &q.params, e).await,
    }
}

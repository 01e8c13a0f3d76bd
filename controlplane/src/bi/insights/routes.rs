//! The insights endpoints: run the statement (ad hoc, or a saved query) through the query
//! pipeline for the caller, then analyse what came back.
use std::collections::HashSet;

use axum::{
    extract::{Path, State},
    routing::post,
    Json, Router,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{analyse::analyse, model::Insights};
use crate::{
    auth::{Caller, Role},
    bi::queries::{self, execute, QueryCall},
    engine::QueryResult,
    http::{ApiError, ApiJson, ApiResult, Problem},
    state::SharedState,
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/insights", post(adhoc))
        .route("/api/v1/queries/{id}/insights", post(saved))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InsightsRequest {
    pub data_source: String,
    /// One read-only statement; for MongoDB sources a JSON `{collection, pipeline}`.
    pub sql: String,
    /// Positional bound parameters ($1 / ?), as `params` of a run (also accepted by that name).
    #[serde(default, alias = "params")]
    #[schema(value_type = Vec<queries::model::ParamValue>)]
    pub variables: Vec<Value>,
}

fn of_result(r: &QueryResult) -> Insights {
    let masked: HashSet<String> = r.masked.iter().map(|m| m.column.clone()).collect();
    analyse(&r.columns, &r.rows.values(), &masked, r.truncated)
}

#[utoipa::path(post, path = "/api/v1/insights", tag = "queries", request_body = InsightsRequest,
    responses((status = 200, body = Insights, description = "the findings, strongest first"),
        (status = 400, body = Problem, content_type = "application/problem+json",
            description = "the body is not the expected JSON, the guard refused the statement, or the database rejected it"),
        (status = 403, body = Problem, content_type = "application/problem+json",
            description = "the caller is a viewer, the `insights` feature is turned off for the caller, the policy denies the statement or holds it for approval"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "no such data source, or a variable that is not a JSON scalar"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "the data source could not be reached"),
        (status = 504, body = Problem, content_type = "application/problem+json", description = "the data source did not answer in time")),
    security(("bearer" = [])))]
pub async fn adhoc(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<InsightsRequest>,
) -> ApiResult<Json<Insights>> {
    caller.require(Role::Editor)?;
    queries::model::check_params(&req.variables)
        .map_err(|e| ApiError::invalid(e.field.replacen("params", "variables", 1), e.message))?;
    let call = QueryCall {
        data_source: &req.data_source,
        sql: &req.sql,
        params: &req.variables,
        limit: None,
        use_cache: true,
    };
    let r = execute(&state, &caller.scope, &caller.access(), call).await?;
    Ok(Json(of_result(&r)))
}

#[utoipa::path(post, path = "/api/v1/queries/{id}/insights", tag = "queries", params(("id" = String, Path)),
    responses((status = 200, body = Insights, description = "the findings, strongest first"),
        (status = 400, body = Problem, content_type = "application/problem+json",
            description = "the guard refused the saved statement, or the database rejected it"),
        (status = 403, body = Problem, content_type = "application/problem+json",
            description = "the `insights` feature is turned off for the caller, or the policy denies the statement or holds it for approval"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no saved query with this id"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "the saved query names a data source that no longer exists"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "the data source could not be reached"),
        (status = 504, body = Problem, content_type = "application/problem+json", description = "the data source did not answer in time")),
    security(("bearer" = [])))]
pub async fn saved(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Insights>> {
    // Any role that may run the saved query may look into it.
    let q = queries::domain::load(&state, &caller.scope, &id).await?;
    let call = QueryCall {
        data_source: &q.data_source,
        sql: &q.sql,
        params: &q.params,
        limit: None,
        use_cache: true,
    };
    let r = execute(&state, &caller.scope, &caller.access(), call).await?;
    Ok(Json(of_result(&r)))
}

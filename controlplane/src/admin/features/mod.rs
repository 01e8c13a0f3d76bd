//! Feature flags: per tenant, optionally per role or user, with a stable percentage rollout.
//! Decided on the server: the request guard turns off the routes of a feature that is off for
//! the caller, and `GET /api/v1/features` tells a client what is on for it.
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, put},
    Json, Router,
};

pub mod domain;
pub mod model;

use model::{CallerFeatures, FlagInput, FlagRecord, FlagView};

use crate::{
    auth::{Caller, Role},
    http::{precondition::IfMatch, ApiError, ApiJson, ApiResult, Problem},
    state::SharedState,
    store::{Expect, StoreExt},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/features", get(mine))
        .route("/api/v1/admin/features", get(list))
        .route("/api/v1/admin/features/{name}", put(set).delete(remove))
}

#[utoipa::path(get, path = "/api/v1/features", tag = "admin",
    responses(
        (status = 200, body = CallerFeatures, description = "every feature flag of the tenant and whether it is on for the caller"),
        (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn mine(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<CallerFeatures>> {
    Ok(Json(CallerFeatures {
        features: domain::for_caller(&state, &caller.scope, &caller.username, caller.role).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/admin/features", tag = "admin",
    responses(
        (status = 200, body = Vec<FlagView>, description = "known, declared and stored flags with where each comes from"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<FlagView>>> {
    caller.require(Role::Admin)?;
    Ok(Json(domain::all(&state, &caller.scope).await?))
}

fn check_name(name: &str) -> ApiResult<()> {
    if model::valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "name",
            "1 to 63 letters, digits, '-', '_' or '.'",
        ))
    }
}

#[utoipa::path(put, path = "/api/v1/admin/features/{name}", tag = "admin", request_body = FlagInput,
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "the revision the change is based on")),
    responses(
        (status = 200, body = FlagView, description = "the flag as it now stands"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "not the expected JSON (field names it)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the Tenant declares this flag (field names it), or it changed since If-Match"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "invalid name, rollout or users (field names it)")),
    security(("bearer" = [])))]
pub async fn set(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    if_match: IfMatch,
    ApiJson(input): ApiJson<FlagInput>,
) -> ApiResult<Json<FlagView>> {
    caller.require(Role::Admin)?;
    check_name(&name)?;
    let tenant = state.tenant(&caller.scope).await?;
    domain::refuse_declared(&tenant, &name)?;
    let existing = state
        .store
        .get_as::<FlagRecord>(&caller.scope, &name)
        .await?;
    let (expect, meta) = match existing {
        Some(e) => (
            Expect::Revision(if_match.check(&format!("feature flag {name}"), e.meta.revision)?),
            e.meta,
        ),
        None => {
            if_match.check(&format!("feature flag {name}"), 0)?;
            (Expect::Absent, Default::default())
        }
    };
    let mut users = input.users;
    users.sort();
    users.dedup();
    let rec = FlagRecord {
        name: name.clone(),
        description: input.description,
        enabled: input.enabled,
        roles: input.roles,
        users,
        rollout_percent: input.rollout_percent,
        meta,
    };
    let rec = state
        .writer
        .save(&caller.scope, &caller.actor(), rec, expect)
        .await?;
    Ok(Json(domain::view(&tenant, Some(&rec), &name)))
}

#[utoipa::path(delete, path = "/api/v1/admin/features/{name}", tag = "admin",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "the revision the deletion is based on")),
    responses(
        (status = 204, description = "the stored flag is gone; a known feature is back to its default"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no flag of that name was set through the API"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the Tenant declares this flag, or it changed since If-Match")),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    let tenant = state.tenant(&caller.scope).await?;
    domain::refuse_declared(&tenant, &name)?;
    let existing = state
        .store
        .get_as::<FlagRecord>(&caller.scope, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("feature flag {name}")))?;
    let rev = if_match.check(&format!("feature flag {name}"), existing.meta.revision)?;
    state
        .writer
        .delete::<FlagRecord>(&caller.scope, &caller.actor(), &name, Some(rev))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("feature flag {name}")))?;
    Ok(StatusCode::NO_CONTENT)
}

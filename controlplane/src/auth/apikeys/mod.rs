//! API keys: created by any user for themselves (scopes within their role), listed and
//! revoked by their owner and by admins, rotated by their owner. The secret is shown once, at
//! creation and at rotation; the store keeps its SHA-256 only. A key acts as its owner, with
//! the owner's role as it is now, within its scopes; the request guard (`auth::guard`)
//! authenticates keys, checks their scopes and counts their use.
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::{Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

pub mod domain;
pub mod model;
pub mod scopes;
pub mod usage;

pub use model::{ApiKeyInput, ApiKeyRecord, ApiKeyView, ApiKeyWithSecret, KeyState, RotateInput};

use crate::{
    auth::{Caller, Role},
    http::{
        paging::{PageParams, Paged},
        ApiError, ApiJson, ApiResult, Problem,
    },
    state::{AppState, SharedState},
    store::{Expect, Meta, StoreExt},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/apikeys", get(list).post(create))
        .route("/api/v1/apikeys/{id}", get(get_one).delete(revoke))
        .route("/api/v1/apikeys/{id}/rotate", post(rotate))
}

fn show(state: &AppState, caller: &Caller, rec: &ApiKeyRecord) -> ApiKeyView {
    let pending = state.apikey_usage.pending(&caller.scope, &rec.id);
    domain::view(caller.scope.tenant(), rec, pending.as_ref(), Utc::now())
}

/// The key `id` if the caller may see it (its owner, or an admin); 404 otherwise.
async fn visible(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ApiKeyRecord> {
    state
        .store
        .get_as::<ApiKeyRecord>(&caller.scope, id)
        .await?
        .filter(|k| k.owner == caller.username || caller.role >= Role::Admin)
        .ok_or_else(|| ApiError::NotFound(format!("API key {id}")))
}

#[utoipa::path(post, path = "/api/v1/apikeys", tag = "apikeys", request_body = ApiKeyInput,
    responses(
        (status = 201, body = ApiKeyWithSecret, description = "the key, owned by the caller; its secret is shown only now",
            headers(("location" = String, description = "the key's URL"))),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "not JSON, or an unknown field"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "bad name, unknown scope or one beyond the caller's role (field `scopes[i]`), expiry not in the future")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(input): ApiJson<ApiKeyInput>,
) -> ApiResult<Response> {
    caller.require_own_identity()?;
    let now = Utc::now();
    let by_key = caller.api_key.as_ref().map(|k| k.scopes.as_slice());
    domain::check_input(&input, caller.role, by_key, now)?;
    let id = domain::new_id();
    let secret = domain::new_secret(caller.scope.tenant(), &id);
    let mut scopes = Vec::new();
    for s in input.scopes {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    let rec = ApiKeyRecord {
        id,
        name: input.name.trim().to_string(),
        owner: caller.username.clone(),
        scopes,
        secret_digest: domain::digest(&secret),
        expires_at: input.expires_at,
        revoked_at: None,
        revoked_by: None,
        rotated_at: None,
        previous_digest: None,
        previous_valid_until: None,
        last_used_at: None,
        last_used_address: None,
        request_count: 0,
        meta: Meta::default(),
    };
    let rec = state
        .writer
        .save(&caller.scope, &caller.actor(), rec, Expect::Absent)
        .await?;
    tracing::info!(tenant = caller.scope.tenant(), key = %rec.id, owner = %rec.owner, "API key created");
    let mut resp = (
        StatusCode::CREATED,
        Json(ApiKeyWithSecret {
            key: show(&state, &caller, &rec),
            secret,
        }),
    )
        .into_response();
    if let Ok(v) = format!("/api/v1/apikeys/{}", rec.id).parse() {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// Admins: only this user's keys (everyone else always sees only their own).
    #[serde(default)]
    pub owner: Option<String>,
    /// Also list revoked keys.
    #[serde(default)]
    pub include_revoked: bool,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/apikeys", tag = "apikeys", params(ListParams),
    responses(
        (status = 200, body = Vec<ApiKeyView>, description = "the caller's keys (admins: every key of the tenant), ordered by id; never their secrets",
            headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<ListParams>,
) -> ApiResult<Paged<ApiKeyView>> {
    let mut q = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .query()?;
    let owner = match (caller.role >= Role::Admin, p.owner) {
        (true, owner) => owner,
        (false, _) => Some(caller.username.clone()),
    };
    if let Some(o) = owner {
        q = q.filter("owner", o.as_str());
    }
    if !p.include_revoked {
        q = q.filter("revoked", false);
    }
    let page = state
        .store
        .page_as::<ApiKeyRecord>(&caller.scope, &q)
        .await?;
    Ok(Paged {
        items: page
            .items
            .iter()
            .map(|k| show(&state, &caller, k))
            .collect(),
        next: page.next,
    })
}

#[utoipa::path(get, path = "/api/v1/apikeys/{id}", tag = "apikeys", params(("id" = String, Path)),
    responses(
        (status = 200, body = ApiKeyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such key, or another user's (for non-admins)")),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyView>> {
    let rec = visible(&state, &caller, &id).await?;
    Ok(Json(show(&state, &caller, &rec)))
}

#[utoipa::path(post, path = "/api/v1/apikeys/{id}/rotate", tag = "apikeys", params(("id" = String, Path)),
    request_body(content = Option<RotateInput>, description = "optional (no body: the old secret stops at once)"),
    responses(
        (status = 200, body = ApiKeyWithSecret, description = "the key with its new secret, shown only now; the old one stops working (after the grace period, if one was asked)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "another user's key: only its owner rotates it"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the key is revoked or expired"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "grace period out of range (field `gracePeriodSeconds`)")),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<ApiKeyWithSecret>> {
    caller.require_own_identity()?;
    let input: RotateInput = crate::http::body::optional_json(&headers, &body)?;
    if input.grace_period_seconds > 604_800 {
        return Err(ApiError::invalid(
            "gracePeriodSeconds",
            "0 to 604800 (7 days)",
        ));
    }
    let mut rec = visible(&state, &caller, &id).await?;
    if rec.owner != caller.username {
        // Whoever gets the new secret can act as the owner: admins revoke, never rotate.
        return Err(ApiError::Forbidden(
            "only the key's owner may rotate it".into(),
        ));
    }
    let now = Utc::now();
    if domain::state_of(&rec, now) != KeyState::Active {
        return Err(ApiError::Conflict(format!(
            "API key {id} is revoked or expired; create a new one"
        )));
    }
    let secret = domain::new_secret(caller.scope.tenant(), &rec.id);
    let grace = input.grace_period_seconds;
    let old = std::mem::replace(&mut rec.secret_digest, domain::digest(&secret));
    (rec.previous_digest, rec.previous_valid_until) = if grace > 0 {
        (Some(old), Some(now + Duration::seconds(grace.into())))
    } else {
        (None, None)
    };
    rec.rotated_at = Some(now);
    let base = rec.meta.revision;
    let rec = state
        .writer
        .save(&caller.scope, &caller.actor(), rec, Expect::Revision(base))
        .await?;
    tracing::info!(tenant = caller.scope.tenant(), key = %rec.id, grace, "API key rotated");
    Ok(Json(ApiKeyWithSecret {
        key: show(&state, &caller, &rec),
        secret,
    }))
}

#[utoipa::path(delete, path = "/api/v1/apikeys/{id}", tag = "apikeys", params(("id" = String, Path)),
    responses(
        (status = 204, description = "revoked: the key stops working at once (it stays listed with `includeRevoked=true`)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let rec = visible(&state, &caller, &id).await?;
    if rec.revoked_at.is_none() {
        let by = caller.username.clone();
        state
            .writer
            .modify::<ApiKeyRecord>(&caller.scope, &caller.actor(), &rec.id, |k| {
                if k.revoked_at.is_none() {
                    k.revoked_at = Some(Utc::now());
                    k.revoked_by = Some(by.clone());
                    k.previous_digest = None;
                    k.previous_valid_until = None;
                }
            })
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("API key {id}")))?;
        tracing::info!(tenant = caller.scope.tenant(), key = %id, by = %caller.username, "API key revoked");
    }
    Ok(StatusCode::NO_CONTENT)
}

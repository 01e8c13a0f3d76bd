//! Login, logout, the current user, and login sessions.
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    Json,
};
use chrono::{Duration as ChronoDuration, Utc};
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    caller::{Caller, Claims},
    model::{Role, SessionRecord, UserRecord},
    users::UserView,
};
use crate::{
    crypto::{self, hash_password, verify_password},
    http::{
        paging::{PageParams, Paged},
        ApiError, ApiJson, ApiResult,
    },
    state::SharedState,
    store::{write::Actor, Expect, Meta, StoreExt, TenantScope},
};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    pub tenant: String,
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: chrono::DateTime<Utc>,
    pub tenant: String,
    pub user: UserView,
    /// Only when this login completed an MFA enrolment: the recovery codes, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// What a login answers: a session, or — when the user has a second factor or must set one
/// up — a challenge for `POST /api/v1/auth/login/mfa`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    Session(LoginResponse),
    Mfa(super::mfa::MfaChallenge),
}

/// A hash to verify against when the user does not exist, so timing does not reveal usernames.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("nexbii-dummy"));

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("invalid tenant, username or password".into())
}

/// Checks a password against the tenant's user the way every login does: the hash is checked
/// first (against a dummy when there is no such user), then the lock; a failure counts towards
/// the lock. Answers 401 for anything wrong and 429 for a locked account (or name).
pub(crate) async fn authenticate(
    state: &SharedState,
    scope: &TenantScope,
    lockout: &nexbii_crds::settings::LockoutSettings,
    username: &str,
    password: String,
) -> ApiResult<UserRecord> {
    let user = state.store.get_as::<UserRecord>(scope, username).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    // The lock is looked at only now, so a locked account takes as long as any login.
    let locked = match &user {
        Some(u) => super::lockout::is_locked(u, Utc::now()),
        None => super::lockout::unknown_name_locked(state, scope, username, lockout).await,
    };
    if locked {
        state.metrics.logins.with_label_values(&["throttled"]).inc();
        return Err(super::lockout::locked());
    }
    let exists = user.is_some();
    let Some(user) = user.filter(|u| ok && !u.disabled) else {
        match exists {
            true => super::lockout::failed(state, scope, username, lockout).await?,
            false => {
                super::lockout::unknown_name_failed(state, scope, username, lockout).await;
            }
        }
        state.metrics.logins.with_label_values(&["failed"]).inc();
        tracing::warn!(tenant = scope.tenant(), username = %username, "login failed");
        return Err(bad_credentials());
    };
    Ok(user)
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginAnswer, description = "a session; or, when the user has \
            a second factor or must set one up, `{mfaRequired: true, challenge}` for \
            `POST /api/v1/auth/login/mfa`"),
        (status = 400, body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 403, body = crate::http::Problem, content_type = "application/problem+json",
            description = "the client address is not in the tenant's IP allow-list, or the \
                password is older than the tenant's `password.maxAgeDays`"),
        (status = 422, body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 429, body = crate::http::Problem, content_type = "application/problem+json",
            description = "the account is locked after too many failed logins")))]
pub async fn login(
    State(state): State<SharedState>,
    super::guard::ClientAddr(addr): super::guard::ClientAddr,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginAnswer>> {
    let scope = TenantScope::new(&req.tenant).ok_or_else(bad_credentials)?;
    let tenant = state.tenant(&scope).await.map_err(|_| bad_credentials())?;
    // Failed attempts are audited too (the tenant exists; the name is what was typed).
    crate::audit::capture::actor(&scope, &req.username, "password");
    // The tenant's IP allow-list holds for logins too (before any password is looked at).
    crate::admin::settings::domain::admit_address(&state, &scope, addr).await?;
    let settings = crate::admin::settings::effective(&state, &scope).await?;
    let user = authenticate(
        &state,
        &scope,
        &settings.settings.lockout,
        &req.username,
        req.password,
    )
    .await?;
    super::password::check_age(&settings.settings.password, &user, Utc::now())?;
    if let Some(c) = super::mfa::challenge_after_password(&state, &scope, &settings.settings, &user)
    {
        return Ok(Json(LoginAnswer::Mfa(c)));
    }
    let session = open_session(&state, &scope, &tenant, user, &headers).await?;
    Ok(Json(LoginAnswer::Session(session)))
}

/// Opens a login session for a user who proved who they are (password, and second factor when
/// there is one): clears failed logins and any lock, notes the login time, signs the token.
pub(crate) async fn open_session(
    state: &SharedState,
    scope: &TenantScope,
    tenant: &crate::tenant::TenantRecord,
    user: UserRecord,
    headers: &axum::http::HeaderMap,
) -> ApiResult<LoginResponse> {
    let now = Utc::now();
    let actor = Actor::User(user.username.clone());
    let session = SessionRecord {
        id: crypto::random_id(),
        username: user.username.clone(),
        expires_at: now + ChronoDuration::minutes(tenant.spec.auth.session_ttl_minutes as i64),
        revoked: false,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect()),
        meta: Meta::default(),
    };
    let session = state
        .writer
        .save(scope, &actor, session, Expect::Absent)
        .await?;
    let user = state
        .writer
        .modify::<UserRecord>(scope, &actor, &user.username, |u| {
            u.last_login_at = Some(now);
            super::lockout::clear(u);
        })
        .await?
        .unwrap_or(user);
    state
        .login_failures
        .invalidate(&(scope.tenant().to_string(), user.username.clone()))
        .await;
    let claims = Claims {
        sub: user.username.clone(),
        ten: scope.tenant().to_string(),
        sid: session.id.clone(),
        iat: now.timestamp(),
        exp: session.expires_at.timestamp(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &state.keys.encoding_key(),
    )
    .map_err(|e| ApiError::Internal(e.into()))?;
    state.metrics.logins.with_label_values(&["ok"]).inc();
    tracing::info!(tenant = scope.tenant(), username = %user.username, session = %session.id, "login");
    Ok(LoginResponse {
        token,
        token_type: "Bearer",
        expires_at: session.expires_at,
        tenant: scope.tenant().to_string(),
        user: user.into(),
        recovery_codes: None,
    })
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = UserView), (status = 401, body = crate::http::Problem)), security(("bearer" = [])))]
pub async fn me(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<UserView>> {
    let user = state
        .store
        .get_as::<UserRecord>(&caller.scope, &caller.username)
        .await?
        .ok_or_else(|| ApiError::NotFound("user".into()))?;
    Ok(Json(user.into()))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204),
    (status = 400, body = crate::http::Problem, content_type = "application/problem+json", description = "called with an API key, which has no session"),
    (status = 401, body = crate::http::Problem)), security(("bearer" = [])))]
pub async fn logout(State(state): State<SharedState>, caller: Caller) -> ApiResult<StatusCode> {
    if let Some(k) = &caller.api_key {
        return Err(ApiError::BadRequest {
            field: None,
            detail: format!(
                "an API key has no session to end; revoke the key instead (DELETE /api/v1/apikeys/{})",
                k.key_id
            ),
        });
    }
    revoke(&state, &caller, &caller.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke(state: &SharedState, caller: &Caller, id: &str) -> ApiResult<()> {
    state
        .writer
        .modify::<SessionRecord>(&caller.scope, &caller.actor(), id, |s| s.revoked = true)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("session {id}")))?;
    Ok(())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SessionFilter {
    /// Admins: list every user's sessions.
    #[serde(default)]
    pub all: bool,
}

#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", params(SessionFilter, PageParams),
    responses((status = 200, body = Vec<SessionRecord>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 403, body = crate::http::Problem)),
    security(("bearer" = [])))]
pub async fn list_sessions(
    State(state): State<SharedState>,
    caller: Caller,
    Query(f): Query<SessionFilter>,
    Query(page): Query<PageParams>,
) -> ApiResult<Paged<SessionRecord>> {
    if f.all {
        caller.require(Role::Admin)?;
    }
    let mut q = page.query()?.filter("revoked", false);
    if !f.all {
        q = q.filter("username", caller.username.clone());
    }
    let now = Utc::now();
    let page = state
        .store
        .page_as::<SessionRecord>(&caller.scope, &q)
        .await?;
    Ok(Paged {
        items: page
            .items
            .into_iter()
            .filter(|s| s.expires_at > now)
            .collect(),
        next: page.next,
    })
}

#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::http::Problem)), security(("bearer" = [])))]
pub async fn revoke_session(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let s = state
        .store
        .get_as::<SessionRecord>(&caller.scope, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("session {id}")))?;
    if s.username != caller.username {
        // Other users' sessions: admins only, and a 404 for everyone else (no probing).
        caller
            .require(Role::Admin)
            .map_err(|_| ApiError::NotFound(format!("session {id}")))?;
    }
    revoke(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

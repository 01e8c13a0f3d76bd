//! Users, sessions and the `Caller` extractor that scopes every request to one tenant.
use axum::{
    extract::{FromRequestParts, Path, State},
    http::{header, request::Parts, StatusCode},
    Json,
};
use chrono::{Duration as ChronoDuration, Utc};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    crypto::{self, hash_password, verify_password},
    error::{ApiError, ApiJson, ApiResult},
    models::{Role, SessionRecord, UserRecord},
    state::SharedState,
    store::{StoreExt, TenantScope},
};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    ten: String,
    sid: String,
    iat: i64,
    exp: i64,
}

/// The authenticated user of a request. Handlers get their tenant scope only from here.
#[derive(Clone, Debug)]
pub struct Caller {
    pub scope: TenantScope,
    pub username: String,
    pub role: Role,
    pub session_id: String,
}

impl Caller {
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "requires role {}",
                role.as_str()
            )))
        }
    }

    /// The access context that separates cached results.
    pub fn access_context(&self) -> String {
        format!("role={}", self.role.as_str())
    }
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("missing, invalid or expired token".into())
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?;
        let claims = jsonwebtoken::decode::<Claims>(
            token,
            &state.keys.decoding_key(),
            &Validation::new(Algorithm::HS256),
        )
        .map_err(|_| unauthorized())?
        .claims;
        let scope = TenantScope::new(&claims.ten).ok_or_else(unauthorized)?;
        // Revocation and role changes take effect at once: the session and user are re-read.
        let session = state
            .store
            .get_as::<SessionRecord>(&scope, &claims.sid)
            .await?
            .filter(|s| !s.revoked && s.expires_at > Utc::now() && s.username == claims.sub)
            .ok_or_else(unauthorized)?;
        let user = state
            .store
            .get_as::<UserRecord>(&scope, &session.username)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(unauthorized)?;
        Ok(Caller {
            scope,
            username: user.username,
            role: user.role,
            session_id: session.id,
        })
    }
}

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
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub last_login_at: Option<chrono::DateTime<Utc>>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            username: u.username,
            email: u.email,
            role: u.role,
            disabled: u.disabled,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// A hash to verify against when the user does not exist, so timing does not reveal usernames.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("nexbii-dummy"));

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn login(
    State(state): State<SharedState>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let bad = || ApiError::Unauthorized("invalid tenant, username or password".into());
    let scope = TenantScope::new(&req.tenant).ok_or_else(bad)?;
    let tenant = state.tenant(&scope).await.map_err(|_| bad())?;
    let key = (scope.tenant().to_string(), req.username.clone());
    let failures = state.login_failures.get(&key).await.unwrap_or(0);
    if failures >= tenant.spec.auth.max_failed_logins {
        state.metrics.logins.with_label_values(&["throttled"]).inc();
        return Err(ApiError::TooManyRequests(
            "too many failed logins; try again in 15 minutes".into(),
        ));
    }
    let user = state
        .store
        .get_as::<UserRecord>(&scope, &req.username)
        .await?;
    let password = req.password;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let Some(mut user) = user.filter(|u| ok && !u.disabled) else {
        state.login_failures.insert(key, failures + 1).await;
        state.metrics.logins.with_label_values(&["failed"]).inc();
        tracing::warn!(tenant = scope.tenant(), username = %req.username, "login failed");
        return Err(bad());
    };
    state.login_failures.invalidate(&key).await;
    let now = Utc::now();
    let session = SessionRecord {
        id: crypto::random_id(),
        username: user.username.clone(),
        created_at: now,
        expires_at: now + ChronoDuration::minutes(tenant.spec.auth.session_ttl_minutes as i64),
        revoked: false,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect()),
    };
    state.store.insert_as(&scope, &session).await?;
    user.last_login_at = Some(now);
    state.store.upsert_as(&scope, &user).await?;
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
    Ok(Json(LoginResponse {
        token,
        token_type: "Bearer",
        expires_at: session.expires_at,
        tenant: scope.tenant().to_string(),
        user: user.into(),
    }))
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = UserView)), security(("bearer" = [])))]
pub async fn me(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<UserView>> {
    let user = state
        .store
        .get_as::<UserRecord>(&caller.scope, &caller.username)
        .await?
        .ok_or_else(|| ApiError::NotFound("user".into()))?;
    Ok(Json(user.into()))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(State(state): State<SharedState>, caller: Caller) -> ApiResult<StatusCode> {
    revoke(&state, &caller.scope, &caller.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke(state: &SharedState, scope: &TenantScope, id: &str) -> ApiResult<()> {
    let mut s = state
        .store
        .get_as::<SessionRecord>(scope, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("session {id}")))?;
    s.revoked = true;
    state.store.upsert_as(scope, &s).await?;
    Ok(())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SessionFilter {
    /// Admins: list every user's sessions.
    #[serde(default)]
    pub all: bool,
}

#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", params(SessionFilter),
    responses((status = 200, body = Vec<SessionRecord>)), security(("bearer" = [])))]
pub async fn list_sessions(
    State(state): State<SharedState>,
    caller: Caller,
    axum::extract::Query(f): axum::extract::Query<SessionFilter>,
) -> ApiResult<Json<Vec<SessionRecord>>> {
    if f.all {
        caller.require(Role::Admin)?;
    }
    let now = Utc::now();
    let sessions = state
        .store
        .list_as::<SessionRecord>(&caller.scope)
        .await?
        .into_iter()
        .filter(|s| !s.revoked && s.expires_at > now && (f.all || s.username == caller.username))
        .collect();
    Ok(Json(sessions))
}

#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
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
    revoke(&state, &caller.scope, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

fn check_password(pw: &str, min: u32) -> ApiResult<()> {
    if pw.chars().count() < min as usize {
        return Err(ApiError::invalid(
            "password",
            format!("must be at least {min} characters"),
        ));
    }
    Ok(())
}

fn check_username(u: &str) -> ApiResult<()> {
    let ok = !u.is_empty()
        && u.len() <= 128
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c))
        && u.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username",
            "letters, digits and _.@- only, starting with a letter or digit",
        ))
    }
}

/// Creates a user with a hashed password (also used for bootstrap admins).
pub async fn create_user_record(
    state: &crate::state::AppState,
    scope: &TenantScope,
    username: &str,
    email: Option<String>,
    role: Role,
    password: String,
) -> ApiResult<UserRecord> {
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let user = UserRecord {
        username: username.to_string(),
        email,
        role,
        password_hash: hash,
        disabled: false,
        created_at: Utc::now(),
        last_login_at: None,
    };
    state.store.insert_as(scope, &user).await?;
    Ok(user)
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = Vec<UserView>)), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<UserView>>> {
    caller.require(Role::Admin)?;
    let users = state.store.list_as::<UserRecord>(&caller.scope).await?;
    Ok(Json(users.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    caller.require(Role::Admin)?;
    let tenant = state.tenant(&caller.scope).await?;
    check_username(&req.username)?;
    check_password(&req.password, tenant.spec.auth.password_min_length)?;
    let count = state
        .store
        .list(&caller.scope, crate::store::Collection::Users)
        .await?
        .len();
    if count >= tenant.spec.limits.max_users as usize {
        return Err(ApiError::Conflict(format!(
            "user quota of {} reached",
            tenant.spec.limits.max_users
        )));
    }
    let user = create_user_record(
        &state,
        &caller.scope,
        &req.username,
        req.email,
        req.role,
        req.password,
    )
    .await?;
    tracing::info!(tenant = caller.scope.tenant(), by = %caller.username, user = %user.username, role = user.role.as_str(), "user created");
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "users", params(("username" = String, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<SharedState>,
    caller: Caller,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    caller.require(Role::Admin)?;
    let mut user = state
        .store
        .get_as::<UserRecord>(&caller.scope, &username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))?;
    if username == caller.username
        && (req.role.is_some_and(|r| r != Role::Admin) || req.disabled == Some(true))
    {
        return Err(ApiError::invalid(
            "role",
            "admins cannot demote or disable themselves",
        ));
    }
    if let Some(pw) = req.password {
        let tenant = state.tenant(&caller.scope).await?;
        check_password(&pw, tenant.spec.auth.password_min_length)?;
        user.password_hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    }
    if let Some(e) = req.email {
        user.email = Some(e);
    }
    if let Some(r) = req.role {
        user.role = r;
    }
    if let Some(d) = req.disabled {
        user.disabled = d;
    }
    state.store.upsert_as(&caller.scope, &user).await?;
    Ok(Json(user.into()))
}

#[utoipa::path(delete, path = "/api/v1/users/{username}", tag = "users", params(("username" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<SharedState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    if username == caller.username {
        return Err(ApiError::invalid(
            "username",
            "admins cannot delete themselves",
        ));
    }
    if !state
        .store
        .delete(&caller.scope, crate::store::Collection::Users, &username)
        .await?
    {
        return Err(ApiError::NotFound(format!("user {username}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

//! Login, logout, the current user, and login sessions.
use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    Json,
};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use jsonwebtoken::{Algorithm, Header};
use nexbii_crds::settings::SessionSettings;
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
    state::{AppState, SharedState},
    store::{write::Actor, Expect, ListQuery, Meta, StoreExt, TenantScope},
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
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginAnswer>> {
    let scope = TenantScope::new(&req.tenant).ok_or_else(bad_credentials)?;
    state.tenant(&scope).await.map_err(|_| bad_credentials())?;
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
    let session = open_session(&state, &scope, user, client).await?;
    Ok(Json(LoginAnswer::Session(session)))
}

/// Opens a login session for a user who proved who they are (password, and second factor when
/// there is one): clears failed logins and any lock, notes the login time, signs the token.
pub(crate) async fn open_session(
    state: &SharedState,
    scope: &TenantScope,
    user: UserRecord,
    client: ClientInfo,
) -> ApiResult<LoginResponse> {
    let now = Utc::now();
    let actor = Actor::User(user.username.clone());
    let timeouts = crate::admin::settings::effective(state, scope)
        .await?
        .settings
        .sessions
        .clone();
    let session = SessionRecord {
        id: crypto::random_id(),
        username: user.username.clone(),
        expires_at: now + ChronoDuration::minutes(timeouts.absolute_timeout_minutes as i64),
        revoked: false,
        user_agent: client.user_agent,
        client: client.address,
        last_seen_at: Some(now),
        impersonator: None,
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
        imp: None,
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

/// The caller, and when an admin is acting as them, who and until when (the console shows a
/// banner from it).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonation: Option<super::impersonation::ImpersonationInfo>,
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = MeView), (status = 401, body = crate::http::Problem)), security(("bearer" = [])))]
pub async fn me(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<MeView>> {
    let user = state
        .store
        .get_as::<UserRecord>(&caller.scope, &caller.username)
        .await?
        .ok_or_else(|| ApiError::NotFound("user".into()))?;
    let impersonation = match &caller.impersonator {
        Some(by) => {
            let s = state
                .store
                .cached::<SessionRecord>(&caller.scope, &caller.session_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("session".into()))?;
            Some(super::impersonation::ImpersonationInfo {
                impersonator: by.clone(),
                session_id: s.id.clone(),
                started_at: s.meta.created_at,
                expires_at: s.expires_at,
            })
        }
        None => None,
    };
    Ok(Json(MeView {
        user: user.into(),
        impersonation,
    }))
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

pub(super) async fn revoke(state: &SharedState, caller: &Caller, id: &str) -> ApiResult<()> {
    state
        .writer
        .modify::<SessionRecord>(&caller.scope, &caller.actor(), id, |s| s.revoked = true)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("session {id}")))?;
    Ok(())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    crate::http::ApiQuery(f): crate::http::ApiQuery<SessionFilter>,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<SessionRecord>> {
    if f.all {
        caller.require(Role::Admin)?;
    }
    let mut q = page.query()?.filter("revoked", false);
    if !f.all {
        q = q.filter("username", caller.username.clone());
    }
    let now = Utc::now();
    let timeouts = crate::admin::settings::effective(&state, &caller.scope)
        .await?
        .settings
        .sessions
        .clone();
    let page = state
        .store
        .page_as::<SessionRecord>(&caller.scope, &q)
        .await?;
    Ok(Paged {
        items: page
            .items
            .into_iter()
            .filter(|s| alive(s, &timeouts, now))
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

/// Where a request comes from: the client's address (the socket's peer; behind a trusted proxy
/// the forwarded address) and its user agent (at most 200 characters).
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl axum::extract::FromRequestParts<SharedState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self {
            address: super::guard::client_addr(
                &state.settings.trusted_proxies,
                peer,
                &parts.headers,
            )
            .map(|a| a.to_string()),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(200).collect()),
        })
    }
}

/// When a session ends, as the tenant's settings say now: the earliest of its own expiry (set
/// at login, or the impersonation's end), `absoluteTimeoutMinutes` after it began, and
/// `idleTimeoutMinutes` after it was last seen.
pub fn ends_at(s: &SessionRecord, t: &SessionSettings) -> DateTime<Utc> {
    let created = s.meta.created_at;
    let seen = s.last_seen_at.unwrap_or(created).max(created);
    s.expires_at
        .min(created + ChronoDuration::minutes(t.absolute_timeout_minutes as i64))
        .min(seen + ChronoDuration::minutes(t.idle_timeout_minutes as i64))
}

/// Whether a session still opens requests at `now`.
pub fn alive(s: &SessionRecord, t: &SessionSettings, now: DateTime<Utc>) -> bool {
    !s.revoked && now < ends_at(s, t)
}

/// Whether the stored last-seen time is old enough to be written again.
pub fn due_for_seen(s: &SessionRecord, every: std::time::Duration, now: DateTime<Utc>) -> bool {
    let seen = s.last_seen_at.unwrap_or(s.meta.created_at);
    let every = ChronoDuration::from_std(every).unwrap_or(ChronoDuration::MAX);
    now - seen >= every
}

/// Records that the session was used: at most one store write per session per
/// `settings.session_seen_every` on this instance (and only when the stored time is that old),
/// whatever the request rate. A failed write is logged, not fatal to the request.
pub async fn seen(state: &AppState, scope: &TenantScope, s: &SessionRecord, now: DateTime<Utc>) {
    let every = state.settings.session_seen_every;
    if !due_for_seen(s, every, now) {
        return;
    }
    let fresh = state
        .session_seen
        .entry((scope.clone(), s.id.clone()))
        .or_insert(())
        .is_fresh();
    if !fresh {
        return;
    }
    let res = state
        .writer
        .modify::<SessionRecord>(scope, &Actor::System, &s.id, |r| {
            if r.last_seen_at.is_none_or(|t| t < now) {
                r.last_seen_at = Some(now);
            }
        })
        .await;
    if let Err(e) = res {
        tracing::warn!(tenant = scope.tenant(), session = %s.id, error = %e, "last-seen time not written");
    }
}

/// A session as admins see it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    pub username: String,
    /// The client's address at login.
    pub client: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Written at most once a minute: may lag the last request by that much.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When it ends unless used again: the earliest of the idle and absolute timeouts and its
    /// own expiry.
    pub expires_at: DateTime<Utc>,
    /// For an impersonation session, the admin acting as `username`.
    pub impersonator: Option<String>,
    /// The session of this request.
    pub current: bool,
}

fn view(s: SessionRecord, t: &SessionSettings, current: &str) -> SessionView {
    SessionView {
        expires_at: ends_at(&s, t),
        current: s.id == current,
        id: s.id,
        username: s.username,
        client: s.client,
        user_agent: s.user_agent,
        created_at: s.meta.created_at,
        last_seen_at: s.last_seen_at,
        impersonator: s.impersonator,
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminSessionFilter {
    /// Only this user's sessions.
    pub user: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/sessions", tag = "admin", params(AdminSessionFilter, PageParams),
    responses(
        (status = 200, body = Vec<SessionView>, description = "the tenant's live sessions (not revoked, not timed out), by id",
            headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 403, body = crate::http::Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = crate::http::Problem, content_type = "application/problem+json", description = "bad limit or cursor (field names it)")),
    security(("bearer" = [])))]
pub async fn admin_list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(f): crate::http::ApiQuery<AdminSessionFilter>,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<SessionView>> {
    caller.require(Role::Admin)?;
    let mut q = page.query()?.filter("revoked", false);
    if let Some(u) = &f.user {
        q = q.filter("username", u.as_str());
    }
    let t = crate::admin::settings::effective(&state, &caller.scope)
        .await?
        .settings
        .sessions
        .clone();
    let now = Utc::now();
    let page = state
        .store
        .page_as::<SessionRecord>(&caller.scope, &q)
        .await?;
    Ok(Paged {
        items: page
            .items
            .into_iter()
            .filter(|s| alive(s, &t, now))
            .map(|s| view(s, &t, &caller.session_id))
            .collect(),
        next: page.next,
    })
}

#[utoipa::path(delete, path = "/api/v1/admin/sessions/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "revoked (also when it had been already)"),
        (status = 401, body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 403, body = crate::http::Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 404, body = crate::http::Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn admin_revoke_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    revoke(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which sessions to revoke: every session of `username`, or with `all`, every session of
/// the tenant. The caller's own session is kept unless `keepCurrent` is false.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeSessions {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub all: bool,
    #[serde(default = "yes")]
    pub keep_current: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    /// Sessions revoked by this request.
    pub revoked: u64,
}

/// Which stored sessions a revocation takes. Pure.
pub fn to_revoke(sessions: &[SessionRecord], keep: Option<&str>) -> Vec<String> {
    sessions
        .iter()
        .filter(|s| !s.revoked && Some(s.id.as_str()) != keep)
        .map(|s| s.id.clone())
        .collect()
}

#[utoipa::path(post, path = "/api/v1/admin/sessions/revoke", tag = "admin", request_body = RevokeSessions,
    responses((status = 200, body = Revoked),
        (status = 400, body = crate::http::Problem, content_type = "application/problem+json", description = "not the expected JSON"),
        (status = 401, body = crate::http::Problem, content_type = "application/problem+json"),
        (status = 403, body = crate::http::Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = crate::http::Problem, content_type = "application/problem+json", description = "neither `username` nor `all`, or both (field names it)")),
    security(("bearer" = [])))]
pub async fn admin_revoke_many(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<RevokeSessions>,
) -> ApiResult<Json<Revoked>> {
    caller.require(Role::Admin)?;
    let base = match (&req.username, req.all) {
        (Some(_), true) => {
            return Err(ApiError::invalid(
                "all",
                "give either username or all, not both",
            ))
        }
        (None, false) => {
            return Err(ApiError::invalid(
                "username",
                "name the user whose sessions to revoke, or set all: true for every session",
            ))
        }
        (Some(u), false) => ListQuery::default().filter("username", u.as_str()),
        (None, true) => ListQuery::default(),
    };
    let keep = req.keep_current.then_some(caller.session_id.as_str());
    let revoked = revoke_where(&state, &caller.scope, &caller.actor(), base, keep).await?;
    tracing::info!(tenant = caller.scope.tenant(), by = %caller.username, revoked, "sessions revoked");
    Ok(Json(Revoked { revoked }))
}

/// Revokes every unrevoked session matching `base` but `keep`, page by page; how many.
pub async fn revoke_where(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    base: ListQuery,
    keep: Option<&str>,
) -> ApiResult<u64> {
    let mut q = base.filter("revoked", false).limit(500);
    let mut ids = Vec::new();
    loop {
        let page = state.store.page_as::<SessionRecord>(scope, &q).await?;
        ids.extend(to_revoke(&page.items, keep));
        match page.next {
            Some(c) => q = q.after(Some(c)),
            None => break,
        }
    }
    let mut n = 0;
    for id in ids {
        let done = state
            .writer
            .modify::<SessionRecord>(scope, actor, &id, |s| s.revoked = true)
            .await?;
        n += u64::from(done.is_some());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, created_min_ago: i64, seen_min_ago: Option<i64>) -> SessionRecord {
        let now = Utc::now();
        SessionRecord {
            id: id.into(),
            username: "u".into(),
            expires_at: now + ChronoDuration::hours(10),
            revoked: false,
            user_agent: None,
            client: None,
            last_seen_at: seen_min_ago.map(|m| now - ChronoDuration::minutes(m)),
            impersonator: None,
            meta: Meta {
                created_at: now - ChronoDuration::minutes(created_min_ago),
                ..Default::default()
            },
        }
    }

    fn timeouts(idle: u32, absolute: u32) -> SessionSettings {
        SessionSettings {
            idle_timeout_minutes: idle,
            absolute_timeout_minutes: absolute,
        }
    }

    #[test]
    fn idle_and_absolute_timeouts_end_sessions() {
        let now = Utc::now();
        let t = timeouts(30, 120);
        // Used 10 minutes ago, 60 minutes old: alive.
        assert!(alive(&session("a", 60, Some(10)), &t, now));
        // Idle for 31 minutes.
        assert!(!alive(&session("b", 60, Some(31)), &t, now));
        // Never seen since login 31 minutes ago: idle from its start.
        assert!(!alive(&session("c", 31, None), &t, now));
        // Busy, but older than the absolute timeout.
        assert!(!alive(&session("d", 121, Some(1)), &t, now));
        // Its own expiry (login TTL, impersonation end) still counts.
        let mut e = session("e", 5, Some(1));
        e.expires_at = now - ChronoDuration::seconds(1);
        assert!(!alive(&e, &t, now));
        let mut r = session("r", 5, Some(1));
        r.revoked = true;
        assert!(!alive(&r, &t, now));
        // The end is the earliest of the three.
        let s = session("f", 100, Some(0));
        let end = ends_at(&s, &t);
        assert_eq!(end, s.meta.created_at + ChronoDuration::minutes(120));
    }

    #[test]
    fn last_seen_is_written_at_most_once_per_interval() {
        let now = Utc::now();
        let every = std::time::Duration::from_secs(60);
        assert!(!due_for_seen(&session("a", 5, Some(0)), every, now));
        assert!(due_for_seen(&session("b", 5, Some(2)), every, now));
        assert!(due_for_seen(&session("c", 5, None), every, now));
        assert!(!due_for_seen(&session("d", 0, None), every, now));
    }

    #[test]
    fn revocation_keeps_the_callers_session() {
        let mut all = vec![session("a", 1, None), session("b", 1, None)];
        all.push({
            let mut s = session("c", 1, None);
            s.revoked = true;
            s
        });
        assert_eq!(to_revoke(&all, Some("a")), ["b"]);
        assert_eq!(to_revoke(&all, None), ["a", "b"]);
    }
}

//! OpenID Connect single sign-on (the Tenant's `spec.auth.oidc`): authorization code with PKCE.
//!
//! 1. `GET /api/v1/auth/oidc/login?tenant=&returnTo=` keeps the login (state, nonce, PKCE
//!    verifier, where to return) in memory for ten minutes, sets a cookie binding it to this
//!    browser, and redirects to the provider.
//! 2. `GET /api/v1/auth/oidc/callback?state=&code=` takes the login once (an unknown, used,
//!    expired or other browser's state is refused), exchanges the code, verifies the ID token
//!    against the provider's keys, maps the groups claim to a role (on every login), creates
//!    the user at their first login, refuses disabled users, audits the login (`via: oidc`) and
//!    redirects to the console with a one-minute, one-use grant in the URL fragment (the
//!    fragment never reaches a server log; the session token never appears in a URL). Errors
//!    redirect to the console's login page with `?ssoError=<code>`.
//! 3. `POST /api/v1/auth/oidc/exchange {grant}` answers what a password login answers: a
//!    session, or the second-factor challenge when the user has TOTP or the tenant requires it.
//!
//! Pending logins and grants live in the instance's memory: with several replicas, the login,
//! the callback and the exchange must reach the same one (session affinity).
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::Utc;
use nexbii_crds::tenant::OidcSettings;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

pub mod mapping;
pub mod pending;
pub mod provider;

pub use pending::OidcState;
use pending::{Grant, Pending};

use super::{
    guard::ClientAddr,
    model::{Role, UserRecord},
    sessions::{open_session, ClientInfo, LoginAnswer},
};
use crate::{
    http::{ApiError, ApiJson, ApiQuery, ApiResult, Problem},
    state::SharedState,
    store::{write::Actor, Expect, ListQuery, Meta, Store, StoreExt, TenantScope},
};

/// The cookie binding a login to the browser that started it.
const COOKIE: &str = "nexbii_oidc";
const COOKIE_PATH: &str = "/api/v1/auth/oidc/";
const CALLBACK_PATH: &str = "/api/v1/auth/oidc/callback";
/// Stands in for the password of users made by single sign-on: no hash, so no password matches.
pub const NO_PASSWORD: &str = "!sso";

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/auth/oidc/login", get(login))
        .route(CALLBACK_PATH, get(callback))
        .route("/api/v1/auth/oidc/exchange", post(exchange))
}

/// The tenant's single sign-on settings; 404 when the tenant does not exist or has none.
async fn settings_of(state: &SharedState, scope: &TenantScope) -> ApiResult<OidcSettings> {
    let t = state.tenant(scope).await?;
    t.spec.auth.oidc.clone().ok_or_else(|| {
        ApiError::NotFound(format!(
            "single sign-on for tenant {} (spec.auth.oidc is not set)",
            scope.tenant()
        ))
    })
}

fn client_secret(state: &SharedState, scope: &TenantScope) -> ApiResult<String> {
    state.oidc.client_secret(scope.tenant()).ok_or_else(|| {
        ApiError::Unavailable(
            "single sign-on is configured but its client secret was not found".into(),
        )
    })
}

/// `scheme://host` of this instance as the browser sees it: the forwarded scheme is believed
/// only from a trusted proxy, and the host must be a plain host[:port].
pub(crate) fn external_base(
    state: &SharedState,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
) -> ApiResult<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .ok_or_else(|| ApiError::BadRequest {
            field: None,
            detail: "a Host header naming this instance is needed".into(),
        })?;
    let proxied = peer.is_some_and(|p| {
        state
            .settings
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&p))
    });
    let https = proxied
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    Ok(format!("{}://{host}", if https { "https" } else { "http" }))
}

pub(crate) fn peer(parts_ext: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    parts_ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::SET_COOKIE, c);
    }
    r
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct LoginParams {
    /// The tenant to sign in to.
    pub tenant: String,
    /// A path of the console to open after the login (default `/`).
    #[serde(default)]
    #[param(rename = "returnTo")]
    pub return_to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/auth/oidc/login", tag = "auth", params(LoginParams),
    responses(
        (status = 302, description = "to the OpenID provider's authorization endpoint; sets the \
            cookie binding the login to this browser",
            headers(("location" = String), ("set-cookie" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "no such tenant, or it has no single sign-on (`spec.auth.oidc`)"),
        (status = 503, body = Problem, content_type = "application/problem+json",
            description = "the provider cannot be reached, or the client secret is missing")),
    security(()))]
pub async fn login(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    ApiQuery(p): ApiQuery<LoginParams>,
) -> ApiResult<Response> {
    let scope = TenantScope::new(&p.tenant)
        .ok_or_else(|| ApiError::NotFound(format!("tenant {}", p.tenant)))?;
    let cfg = settings_of(&state, &scope).await?;
    let secret = client_secret(&state, &scope)?;
    let redirect_uri = format!(
        "{}{CALLBACK_PATH}",
        external_base(&state, &headers, peer(&ext))?
    );
    let started = state
        .oidc
        .discovery
        .start(&cfg, &secret, &redirect_uri)
        .await
        .map_err(|e| {
            tracing::warn!(tenant = scope.tenant(), error = %e, "single sign-on not started");
            ApiError::Unavailable("the identity provider cannot be reached".into())
        })?;
    let browser = crate::crypto::random_id();
    let secure = if redirect_uri.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    state.oidc.put_pending(
        &started.state,
        Pending {
            tenant: scope.tenant().to_string(),
            verifier: started.verifier,
            nonce: started.nonce,
            return_to: mapping::safe_return_to(p.return_to.as_deref()),
            redirect_uri,
            browser: pending::digest(&browser),
            expires_at: Utc::now()
                + chrono::Duration::from_std(pending::LOGIN_TTL).unwrap_or_default(),
        },
    );
    let cookie = format!(
        "{COOKIE}={browser}; Path={COOKIE_PATH}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        pending::LOGIN_TTL.as_secs()
    );
    Ok(redirect(&started.url, Some(cookie)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's error code, when it refused.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A refused callback: the code the login page shows, and the status the audit records.
struct Refusal {
    code: &'static str,
    status: u16,
}

const fn refusal(code: &'static str, status: u16) -> Refusal {
    Refusal { code, status }
}

#[utoipa::path(get, path = "/api/v1/auth/oidc/callback", tag = "auth", params(CallbackParams),
    responses(
        (status = 302, description = "to the console: `<returnTo>#grant=<grant>` (exchange it \
            with `POST /api/v1/auth/oidc/exchange` within a minute), or, when the login is \
            refused, `/?tenant=<tenant>&ssoError=<code>` with code `state` (unknown, used, \
            expired or another browser's login), `provider` (the provider refused or its \
            answer did not verify), `username`, `no_role`, `disabled`, `quota`, `network` or \
            `unavailable`",
            headers(("location" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json")),
    security(()))]
pub async fn callback(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    ApiQuery(q): ApiQuery<CallbackParams>,
) -> Response {
    // The browser's cookie has done its job either way.
    let clear = format!("{COOKIE}=; Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Lax");
    let now = Utc::now();
    let p = q
        .state
        .as_deref()
        .and_then(|s| state.oidc.take_pending(s, now));
    let Some(p) =
        p.filter(|p| cookie_of(&headers).is_some_and(|c| pending::digest(&c) == p.browser))
    else {
        return redirect("/?ssoError=state", Some(clear));
    };
    let scope = TenantScope::new(&p.tenant).expect("validated when the login started");
    match complete(&state, &scope, &p, q, addr).await {
        Ok(grant) => redirect(&format!("{}#grant={grant}", p.return_to), Some(clear)),
        Err(r) => {
            crate::audit::capture::refused(r.status);
            let to = format!("/?tenant={}&ssoError={}", scope.tenant(), r.code);
            redirect(&to, Some(clear))
        }
    }
}

/// The callback after its state was accepted: verify, map, provision; the grant on success.
async fn complete(
    state: &SharedState,
    scope: &TenantScope,
    p: &Pending,
    q: CallbackParams,
    addr: Option<std::net::IpAddr>,
) -> Result<String, Refusal> {
    let unavailable = |e: ApiError| {
        tracing::warn!(tenant = scope.tenant(), error = %e, "single sign-on refused");
        refusal("unavailable", 503)
    };
    let cfg = settings_of(state, scope).await.map_err(unavailable)?;
    let secret = client_secret(state, scope).map_err(unavailable)?;
    if let Some(e) = &q.error {
        crate::audit::capture::actor(scope, "(unknown)", "oidc");
        tracing::warn!(tenant = scope.tenant(), error = %e,
            description = q.error_description.as_deref().unwrap_or(""), "identity provider refused the login");
        return Err(refusal("provider", 401));
    }
    let code = q.code.ok_or_else(|| {
        crate::audit::capture::actor(scope, "(unknown)", "oidc");
        refusal("provider", 401)
    })?;
    let claims = state
        .oidc
        .discovery
        .finish(&cfg, &secret, p, code)
        .await
        .map_err(|e| {
            crate::audit::capture::actor(scope, "(unknown)", "oidc");
            tracing::warn!(tenant = scope.tenant(), error = %e, "single sign-on refused");
            match e {
                provider::Failure::Unavailable(_) => refusal("unavailable", 503),
                provider::Failure::Refused(_) => refusal("provider", 401),
            }
        })?;
    let username = mapping::username(&claims, &cfg.username_claim).ok_or_else(|| {
        crate::audit::capture::actor(scope, "(unknown)", "oidc");
        tracing::warn!(tenant = scope.tenant(), claim = %cfg.username_claim,
            "single sign-on refused: no acceptable username claim");
        refusal("username", 401)
    })?;
    crate::audit::capture::actor(scope, &username, "oidc");
    let groups = mapping::groups(claims.get(&cfg.groups_claim));
    let role = mapping::role_for(&cfg, &groups).ok_or(refusal("no_role", 403))?;
    crate::admin::settings::domain::admit_address(state, scope, addr)
        .await
        .map_err(|_| refusal("network", 403))?;
    provision(state, scope, &username, role, &claims).await?;
    let grant = format!(
        "{}{}",
        crate::crypto::random_id(),
        crate::crypto::random_id()
    );
    state.oidc.put_grant(
        &grant,
        Grant {
            tenant: scope.tenant().to_string(),
            username: username.clone(),
            expires_at: Utc::now()
                + chrono::Duration::from_std(pending::GRANT_TTL).unwrap_or_default(),
        },
    );
    tracing::info!(tenant = scope.tenant(), username = %username, role = role.as_str(), "single sign-on");
    Ok(grant)
}

/// Just-in-time provisioning: creates the user at their first login, and sets the role the
/// groups give at every login (a user removed from a group loses what it gave). Disabled users
/// stay out.
async fn provision(
    state: &SharedState,
    scope: &TenantScope,
    username: &str,
    role: Role,
    claims: &Map<String, Value>,
) -> Result<(), Refusal> {
    let failed = |e: ApiError| {
        tracing::error!(tenant = scope.tenant(), error = %e, "single sign-on: user not saved");
        refusal("unavailable", 500)
    };
    let actor = Actor::User(username.to_string());
    let existing = state
        .store
        .get_as::<UserRecord>(scope, username)
        .await
        .map_err(|e| failed(e.into()))?;
    match existing {
        Some(u) if u.disabled => Err(refusal("disabled", 403)),
        Some(u) if u.role == role => Ok(()),
        Some(_) => {
            state
                .writer
                .modify::<UserRecord>(scope, &actor, username, |u| u.role = role)
                .await
                .map_err(|e| failed(e.into()))?;
            Ok(())
        }
        None => {
            let tenant = state.tenant(scope).await.map_err(failed)?;
            let count = state
                .store
                .count(
                    scope,
                    crate::store::Collection::Users,
                    &ListQuery::default(),
                )
                .await
                .map_err(|e| failed(e.into()))?;
            if count >= tenant.spec.limits.max_users as u64 {
                return Err(refusal("quota", 409));
            }
            let user = UserRecord {
                username: username.to_string(),
                email: claims
                    .get("email")
                    .and_then(Value::as_str)
                    .filter(|e| e.len() <= 254)
                    .map(str::to_string),
                role,
                password_hash: NO_PASSWORD.into(),
                disabled: false,
                last_login_at: None,
                attributes: Default::default(),
                security: Default::default(),
                meta: Meta::default(),
            };
            state
                .writer
                .save(scope, &actor, user, Expect::Absent)
                .await
                .map_err(|e| failed(e.into()))?;
            Ok(())
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExchangeRequest {
    /// The grant from the callback's redirect (`#grant=`).
    pub grant: String,
}

#[utoipa::path(post, path = "/api/v1/auth/oidc/exchange", tag = "auth", request_body = ExchangeRequest,
    responses((status = 200, body = LoginAnswer, description = "what a password login answers: \
            a session, or the second-factor challenge"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json",
            description = "the grant is unknown, used or expired, or the user is disabled"),
        (status = 403, body = Problem, content_type = "application/problem+json",
            description = "the client address is not in the tenant's IP allow-list")),
    security(()))]
pub async fn exchange(
    State(state): State<SharedState>,
    ClientAddr(addr): ClientAddr,
    client: ClientInfo,
    ApiJson(req): ApiJson<ExchangeRequest>,
) -> ApiResult<Json<LoginAnswer>> {
    let bad = || ApiError::Unauthorized("invalid or expired single sign-on grant".into());
    let g = state
        .oidc
        .take_grant(&req.grant, Utc::now())
        .ok_or_else(bad)?;
    let scope = TenantScope::new(&g.tenant).ok_or_else(bad)?;
    crate::audit::capture::actor(&scope, &g.username, "oidc");
    crate::admin::settings::domain::admit_address(&state, &scope, addr).await?;
    // Disabled since the callback: still out.
    let user = state
        .store
        .get_as::<UserRecord>(&scope, &g.username)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(bad)?;
    let settings = crate::admin::settings::effective(&state, &scope).await?;
    if let Some(c) = super::mfa::challenge_after_password(&state, &scope, &settings.settings, &user)
    {
        return Ok(Json(LoginAnswer::Mfa(c)));
    }
    let session = open_session(&state, &scope, user, client).await?;
    Ok(Json(LoginAnswer::Session(session)))
}

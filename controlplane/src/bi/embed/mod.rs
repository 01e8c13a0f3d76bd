//! Embedded dashboards, like Superset's guest tokens: a host application's backend (an API key
//! with `embed:write`, or an editor's session) mints a short-lived signed token for one
//! dashboard with locked variables and a row context; the host's page frames
//! `/embed/<tenant>?token=…`, which reads the dashboard and its data with the token. The views
//! run as the minter (masking and row filters as for the minter, narrowed by the row context,
//! never more). The tenant's `embedding.allowedOrigins` decide who may frame the page
//! (`frame-ancestors`) and call the view API from a browser (CORS). The `embedding` feature
//! gates minting and viewing.
use std::collections::HashMap;

use axum::{
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::{Duration, Utc};

pub mod model;
pub mod origins;
pub mod token;

pub use model::{EmbedToken, EmbedTokenInput};

use crate::{
    auth::{apikeys::ApiKeyRecord, Caller, Role, UserRecord},
    bi::{dashboards, shares},
    http::{ApiError, ApiJson, ApiQuery, ApiResult, Problem},
    state::{AppState, SharedState},
    store::TenantScope,
};
use token::EmbedClaims;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/embed/tokens", post(mint))
        .route(
            "/api/v1/embed/{tenant}/dashboard",
            get(open).options(preflight),
        )
        .route(
            "/api/v1/embed/{tenant}/dashboard/data",
            get(data).options(preflight_data),
        )
        .route("/embed/{tenant}", get(page))
}

/// Row-context attributes are names like user attributes, with short values.
fn check_row_context(ctx: &std::collections::BTreeMap<String, String>) -> ApiResult<()> {
    if ctx.len() > 32 {
        return Err(ApiError::invalid("rowContext", "at most 32 attributes"));
    }
    for (k, v) in ctx {
        let name_ok = !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(ApiError::invalid(
                format!("rowContext.{k}"),
                "1 to 64 letters, digits, `_` or `-`",
            ));
        }
        if v.chars().count() > 256 {
            return Err(ApiError::invalid(
                format!("rowContext.{k}"),
                "at most 256 characters",
            ));
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/embed/tokens", tag = "embedding", request_body = EmbedTokenInput,
    responses((status = 200, body = EmbedToken, description = "the token; shown only now, never stored or logged"),
        (status = 400, body = Problem, description = "the body is not JSON of this shape"),
        (status = 401, body = Problem),
        (status = 403, body = Problem, description = "not an admin or editor, impersonating, or the embedding feature is turned off"),
        (status = 422, body = Problem, description = "no such dashboard for the caller, a variable or value not allowed, a bad row context or TTL")),
    security(("bearer" = [])))]
pub async fn mint(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<EmbedTokenInput>,
) -> ApiResult<Json<EmbedToken>> {
    caller.require(Role::Editor)?;
    caller.require_own_identity()?;
    let ttl = token::ttl(req.ttl_seconds).map_err(|m| ApiError::invalid("ttlSeconds", m))?;
    let ctx = req.row_context.unwrap_or_default();
    check_row_context(&ctx)?;
    let d = dashboards::domain::load_visible(&state, &caller, &req.dashboard)
        .await
        .map_err(|_| {
            ApiError::invalid(
                "dashboard",
                format!("no dashboard named {:?}", req.dashboard),
            )
        })?;
    shares::check_locked(&d.spec, &req.variables, "variables")?;
    let user = state
        .store
        .cached::<UserRecord>(&caller.scope, &caller.username)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the caller no longer exists".into()))?;
    let now = Utc::now();
    let expires_at = now + Duration::seconds(i64::from(ttl));
    let claims = EmbedClaims {
        aud: token::AUDIENCE.into(),
        ten: caller.scope.tenant().to_string(),
        sub: caller.username.clone(),
        uct: user.meta.created_at.timestamp(),
        key: caller.api_key.as_ref().map(|k| k.key_id.clone()),
        dsh: d.name.clone(),
        var: req.variables,
        ctx,
        jti: crate::crypto::random_id(),
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
    };
    Ok(Json(EmbedToken {
        token: token::sign(&state.keys, &claims),
        expires_at,
    }))
}

fn refused(why: impl std::fmt::Display) -> ApiError {
    ApiError::Unauthorized(format!(
        "{why} (send a current embed token as `Authorization: Bearer`)"
    ))
}

/// The token's claims and the minter as the caller the views run as. Every way a token can be
/// wrong (missing, forged, another tenant's, expired, its minter or key gone) is a 401.
async fn resolve(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
) -> ApiResult<(EmbedClaims, Caller)> {
    let scope = TenantScope::new(tenant).ok_or_else(|| refused(token::Refused::Invalid))?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| refused("no embed token"))?;
    let claims = token::verify(&state.keys, tenant, bearer.trim(), Utc::now()).map_err(refused)?;
    crate::audit::capture::actor(&scope, &claims.sub, &format!("embed:{}", claims.jti));
    // The minter's access as it is now: a disabled, removed or re-created minter, or a revoked
    // key, ends its tokens at once.
    let user = state
        .store
        .cached::<UserRecord>(&scope, &claims.sub)
        .await?
        .filter(|u| !u.disabled && u.meta.created_at.timestamp() == claims.uct)
        .ok_or_else(|| refused("the embed token's minter is no longer active"))?;
    if let Some(id) = &claims.key {
        let active = state
            .store
            .cached::<ApiKeyRecord>(&scope, id)
            .await?
            .is_some_and(|k| {
                crate::auth::apikeys::domain::state_of(&k, Utc::now())
                    == crate::auth::apikeys::KeyState::Active
            });
        if !active {
            return Err(refused(
                "the API key that minted the embed token is revoked or expired",
            ));
        }
    }
    // The guard cannot tell a token's tenant: the feature is checked here, for the minter.
    crate::admin::features::domain::gate(
        state,
        &scope,
        "/api/v1/embed",
        Some((&user.username, user.role)),
    )
    .await?;
    let caller = Caller {
        scope,
        username: user.username.clone(),
        role: user.role,
        session_id: format!("embed:{}", claims.jti),
        api_key: None,
        impersonator: None,
        row_context: claims.ctx.clone(),
    };
    Ok((claims, caller))
}

/// The tenant's allowed origins (none for a tenant that does not exist).
async fn allowed_origins(state: &AppState, tenant: &str) -> Vec<String> {
    let Some(scope) = TenantScope::new(tenant) else {
        return Vec::new();
    };
    match crate::admin::settings::domain::effective(state, &scope).await {
        Ok(s) => s.settings.embedding.allowed_origins.clone(),
        Err(_) => Vec::new(),
    }
}

/// The answer with the CORS headers an allowed origin gets (errors too, so the host's page
/// can read why).
async fn with_cors(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    mut resp: Response,
    preflight: bool,
) -> Response {
    let allowed = allowed_origins(state, tenant).await;
    let origin = origins::allowed_origin(headers, &allowed);
    origins::add_cors(resp.headers_mut(), origin, preflight);
    resp
}

#[utoipa::path(options, path = "/api/v1/embed/{tenant}/dashboard", tag = "embedding",
    params(("tenant" = String, Path), ("origin" = Option<String>, Header, description = "the host page's origin")),
    responses((status = 204, description = "CORS preflight: `Access-Control-Allow-*` headers only for an origin in the tenant's `embedding.allowedOrigins`")))]
pub async fn preflight(
    State(state): State<SharedState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    with_cors(
        &state,
        &tenant,
        &headers,
        StatusCode::NO_CONTENT.into_response(),
        true,
    )
    .await
}

/// The same preflight for the data route (documented once per path).
#[utoipa::path(options, path = "/api/v1/embed/{tenant}/dashboard/data", tag = "embedding",
    params(("tenant" = String, Path), ("origin" = Option<String>, Header, description = "the host page's origin")),
    responses((status = 204, description = "CORS preflight: `Access-Control-Allow-*` headers only for an origin in the tenant's `embedding.allowedOrigins`")))]
pub async fn preflight_data(
    state: State<SharedState>,
    tenant: Path<String>,
    headers: HeaderMap,
) -> Response {
    preflight(state, tenant, headers).await
}

#[utoipa::path(get, path = "/api/v1/embed/{tenant}/dashboard", tag = "embedding",
    params(("tenant" = String, Path)),
    responses((status = 200, body = crate::bi::shares::SharedView, description = "the embedded dashboard: layout and variables (locked ones marked), never the statements"),
        (status = 401, body = Problem, description = "no embed token, or a forged, expired or other tenant's one, or its minter or key is no longer active"),
        (status = 403, body = Problem, description = "the embedding feature is turned off for the minter"),
        (status = 404, body = Problem, description = "the dashboard is gone or no longer visible to the minter")),
    security(("embedToken" = [])))]
pub async fn open(
    State(state): State<SharedState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let (claims, caller) = resolve(&state, &tenant, &headers).await?;
        let d = dashboards::domain::load_visible(&state, &caller, &claims.dsh).await?;
        let expires = chrono::DateTime::from_timestamp(claims.exp, 0);
        ApiResult::Ok(Json(shares::dashboard_view(&d, &claims.var, expires)))
    }
    .await;
    with_cors(&state, &tenant, &headers, result.into_response(), false).await
}

#[utoipa::path(get, path = "/api/v1/embed/{tenant}/dashboard/data", tag = "embedding",
    params(("tenant" = String, Path)),
    responses(
        (status = 200, description = "the widgets' results with the token's variables (others from the query string) and the minter's row filters (narrowed by the row context) and masking",
            content((dashboards::domain::DashboardData = "application/json"))),
        (status = 400, body = Problem, description = "the query string does not parse"),
        (status = 401, body = Problem, description = "no embed token, or a forged, expired or other tenant's one, or its minter or key is no longer active"),
        (status = 403, body = Problem, description = "the embedding feature is turned off for the minter"),
        (status = 404, body = Problem, description = "the dashboard is gone or no longer visible to the minter"),
        (status = 422, body = Problem, description = "a variable value not allowed, or a locked variable asked with another value")),
    security(("embedToken" = [])))]
pub async fn data(
    State(state): State<SharedState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    ApiQuery(asked): ApiQuery<HashMap<String, String>>,
) -> Response {
    let result = async {
        let (claims, caller) = resolve(&state, &tenant, &headers).await?;
        let d = dashboards::domain::load_visible(&state, &caller, &claims.dsh).await?;
        let data = shares::dashboard_data(&state, &caller, &d, asked, &claims.var).await?;
        ApiResult::Ok(Json(data))
    }
    .await;
    with_cors(&state, &tenant, &headers, result.into_response(), false).await
}

/// The console's embed page (`/embed/<tenant>?token=…`: the dashboard alone, in the tenant's
/// branding), framable only by the tenant's allowed origins.
pub async fn page(
    State(state): State<SharedState>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let allowed = allowed_origins(&state, &tenant).await;
    let mut resp = crate::console::fallback(req).await;
    if let Ok(v) = HeaderValue::from_str(&origins::embed_page_csp(&allowed)) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

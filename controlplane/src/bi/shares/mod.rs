//! Share links: a dashboard or saved query opened by people without an account, view-only,
//! with the sharer's access (row filters and masking as for the sharer, never more), optional
//! expiry and password, locked variables; revocable; the policy may hold them for approval
//! as sharing outside the tenant.
use std::collections::{BTreeMap, HashMap};

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

pub mod domain;
pub mod model;

pub use model::{CreatedShare, ShareInput, ShareLink, ShareView, SharedView};

use crate::{
    auth::{Caller, Role, UserRecord},
    bi::{dashboards, queries},
    crypto,
    governance::approvals::{self, domain::share_fingerprint, ApprovalSubject},
    http::{
        paging::{PageParams, Paged},
        ApiError, ApiJson, ApiResult, Problem,
    },
    state::{AppState, SharedState},
    store::{Expect, Meta, StoreExt, TenantScope},
};
use domain::Resource;
use model::{SharedVariable, SharedWidget};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/shares", get(list).post(create))
        .route("/api/v1/shares/{id}", axum::routing::delete(revoke))
        .route("/api/v1/shared/{token}", get(open))
        .route("/api/v1/shared/{token}/data", get(data))
}

/// Checks variables to lock against the dashboard: each one of its variables, with an allowed
/// value; errors name `<field>.<variable>`.
pub fn check_locked(
    spec: &nexbii_crds::DashboardSpec,
    locked: &BTreeMap<String, String>,
    field: &str,
) -> ApiResult<()> {
    for (var, value) in locked {
        let Some(v) = spec.variables.iter().find(|v| &v.name == var) else {
            return Err(ApiError::invalid(
                format!("{field}.{var}"),
                "not a variable of the dashboard",
            ));
        };
        if !v.options.is_empty() && !v.options.contains(value) {
            return Err(ApiError::invalid(
                format!("{field}.{var}"),
                format!("must be one of {:?}", v.options),
            ));
        }
    }
    Ok(())
}

/// Checks that `caller` may see what the link names, and the locked variables against it.
async fn check_resource(
    state: &AppState,
    caller: &Caller,
    resource: &str,
    locked: &BTreeMap<String, String>,
) -> ApiResult<()> {
    match domain::parse_resource(resource)? {
        Resource::Dashboard(name) => {
            let d = dashboards::domain::load_visible(state, caller, name)
                .await
                .map_err(|_| {
                    ApiError::invalid("resource", format!("no dashboard named {name:?}"))
                })?;
            check_locked(&d.spec, locked, "lockedVariables")?;
        }
        Resource::Query(id) => {
            queries::domain::load(state, &caller.scope, id)
                .await
                .map_err(|_| ApiError::invalid("resource", format!("no saved query {id:?}")))?;
            if !locked.is_empty() {
                return Err(ApiError::invalid(
                    "lockedVariables",
                    "a saved query has no variables",
                ));
            }
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/shares", tag = "sharing", request_body = ShareInput,
    responses((status = 201, body = CreatedShare, description = "the link; its token is shown only now"),
        (status = 202, body = crate::governance::approvals::ApprovalRecord,
            description = "the policy holds sharing outside the tenant for approval: the request; create the link again once approved"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<ShareInput>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    caller.require_own_identity()?;
    if let Some(h) = req.expires_in_hours {
        if !(1..=8760).contains(&h) {
            return Err(ApiError::invalid("expiresInHours", "1 to 8760"));
        }
    }
    if let Some(p) = &req.password {
        if p.chars().count() < 8 || p.len() > 200 {
            return Err(ApiError::invalid("password", "8 to 200 characters"));
        }
    }
    check_resource(&state, &caller, &req.resource, &req.locked_variables).await?;
    let policies = state
        .governance
        .policies(&state.store, &caller.scope)
        .await?;
    // What approvers decide on: the resource and the link's options (not the password).
    let options = json!({
        "expiresInHours": req.expires_in_hours,
        "password": req.password.is_some(),
        "lockedVariables": req.locked_variables,
    });
    let subject = ApprovalSubject::ExternalShare {
        resource: req.resource.clone(),
        fingerprint: share_fingerprint(&req.resource, &options),
        options,
    };
    let rule = approvals::sharing_rule(&policies);
    if let Some(held) =
        approvals::gate(&state, &caller.scope, &caller.username, subject, rule).await?
    {
        return Ok((StatusCode::ACCEPTED, Json(held)).into_response());
    }
    let token = domain::new_token(caller.scope.tenant());
    let (_, id, digest) = domain::locate(&token)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a new share token does not parse")))?;
    let link = ShareLink {
        id,
        resource: req.resource,
        owner: caller.username.clone(),
        token_digest: digest,
        token_prefix: domain::token_prefix(&token),
        expires_at: req
            .expires_in_hours
            .map(|h| Utc::now() + Duration::hours(h as i64)),
        password_hash: req.password.as_deref().map(crypto::hash_password),
        locked_variables: req.locked_variables,
        meta: Meta::default(),
    };
    let link = state
        .writer
        .save(&caller.scope, &caller.actor(), link, Expect::Absent)
        .await?;
    let url = format!("/api/v1/shared/{token}");
    Ok((
        StatusCode::CREATED,
        Json(CreatedShare {
            share: (&link).into(),
            token,
            url,
        }),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Admins: only this owner's links (others always see their own).
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/shares", tag = "sharing", params(ListParams),
    responses((status = 200, body = Vec<ShareView>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<ListParams>,
) -> ApiResult<Paged<ShareView>> {
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
    let page = state.store.page_as::<ShareLink>(&caller.scope, &q).await?;
    Ok(Paged {
        items: page.items.iter().map(ShareView::from).collect(),
        next: page.next,
    })
}

#[utoipa::path(delete, path = "/api/v1/shares/{id}", tag = "sharing", params(("id" = String, Path)),
    responses((status = 204, description = "revoked: the link stops working at once"),
        (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let link = state
        .store
        .get_as::<ShareLink>(&caller.scope, &id)
        .await?
        .filter(|l| l.owner == caller.username || caller.role >= Role::Admin)
        .ok_or_else(|| ApiError::NotFound(format!("share link {id}")))?;
    state
        .writer
        .delete::<ShareLink>(
            &caller.scope,
            &caller.actor(),
            &link.id,
            Some(link.meta.revision),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a dashboard opened with fixed variables shows (share links, embed tokens): its
/// layout and variables, never its statements.
pub fn dashboard_view(
    d: &dashboards::DashboardRecord,
    locked: &BTreeMap<String, String>,
    expires_at: Option<chrono::DateTime<Utc>>,
) -> SharedView {
    SharedView::Dashboard {
        title: d.spec.title.clone(),
        description: d.spec.description.clone(),
        variables: d
            .spec
            .variables
            .iter()
            .map(|v| SharedVariable {
                name: v.name.clone(),
                default: locked.get(&v.name).cloned().or_else(|| v.default.clone()),
                options: v.options.clone(),
                locked: locked.contains_key(&v.name),
            })
            .collect(),
        widgets: d
            .spec
            .widgets
            .iter()
            .map(|w| SharedWidget {
                id: w.id.clone(),
                title: w.title.clone(),
                chart: w.chart,
                options: w.options.clone(),
                position: w.position.clone(),
            })
            .collect(),
        expires_at,
    }
}

/// A dashboard's widgets run as `caller` (whose row filters and masking apply), with the
/// variables asked and the locked ones fixed (asking another value of one is refused).
pub async fn dashboard_data(
    state: &AppState,
    caller: &Caller,
    d: &dashboards::DashboardRecord,
    asked: HashMap<String, String>,
    locked: &BTreeMap<String, String>,
) -> ApiResult<dashboards::domain::DashboardData> {
    let started = std::time::Instant::now();
    let asked = domain::apply_locked(asked, locked)?;
    let vars = dashboards::domain::resolve_variables(&d.spec, &asked)?;
    let widgets = dashboards::domain::render(state, caller, d, &vars, false).await;
    Ok(dashboards::domain::DashboardData {
        name: d.name.clone(),
        variables: vars,
        widgets,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// The link a token opens, checked (expiry, password), with the sharer as the caller its
/// queries run as. Unknown and revoked links are 404 alike.
async fn resolve(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
) -> ApiResult<(ShareLink, Caller)> {
    let missing = || ApiError::NotFound("share link".into());
    let (tenant, id, digest) = domain::locate(token).ok_or_else(missing)?;
    let scope = TenantScope::new(tenant).ok_or_else(missing)?;
    let link = state
        .store
        .get_as::<ShareLink>(&scope, &id)
        .await?
        .filter(|l| domain::same_digest(&l.token_digest, &digest))
        .ok_or_else(missing)?;
    // Audited as the sharer's link: expired and wrong-password attempts too.
    crate::audit::capture::actor(&scope, &link.owner, &format!("share:{}", link.id));
    if link.expires_at.is_some_and(|t| Utc::now() >= t) {
        return Err(ApiError::Gone("this share link has expired".into()));
    }
    if let Some(hash) = &link.password_hash {
        let given = headers
            .get("x-share-password")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if given.is_empty() || !crypto::verify_password(given, hash) {
            return Err(ApiError::Unauthorized(
                "this share link needs its password (header x-share-password)".into(),
            ));
        }
    }
    // The sharer's access as it is now: a disabled or removed sharer's links stop working.
    let owner = state
        .store
        .get_as::<UserRecord>(&scope, &link.owner)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(missing)?;
    // The guard cannot tell a public link's tenant: the sharing feature is checked here, as
    // it stands for the sharer.
    crate::admin::features::domain::gate(
        state,
        &scope,
        "/api/v1/shared",
        Some((&owner.username, owner.role)),
    )
    .await?;
    let caller = Caller {
        scope,
        username: owner.username,
        role: owner.role,
        session_id: format!("share:{}", link.id),
        api_key: None,
        impersonator: None,
        row_context: Default::default(),
    };
    Ok((link, caller))
}

#[utoipa::path(get, path = "/api/v1/shared/{token}", tag = "sharing",
    params(("token" = String, Path), ("x-share-password" = Option<String>, Header, description = "the link's password, when it has one")),
    responses((status = 200, body = SharedView, description = "what the link shows (layout and variables; never the statements)"),
        (status = 401, body = Problem, description = "the link has a password and it was not given or is wrong"),
        (status = 403, body = Problem, description = "the sharing feature is turned off for the sharer"),
        (status = 404, body = Problem, description = "unknown or revoked link"),
        (status = 410, body = Problem, description = "the link has expired")))]
pub async fn open(
    State(state): State<SharedState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<SharedView>> {
    let (link, caller) = resolve(&state, &token, &headers).await?;
    let gone = || ApiError::NotFound("share link".into());
    let view = match domain::parse_resource(&link.resource).map_err(|_| gone())? {
        Resource::Dashboard(name) => {
            let d = dashboards::domain::load_visible(&state, &caller, name)
                .await
                .map_err(|_| gone())?;
            dashboard_view(&d, &link.locked_variables, link.expires_at)
        }
        Resource::Query(id) => {
            let q = queries::domain::load(&state, &caller.scope, id)
                .await
                .map_err(|_| gone())?;
            SharedView::Query {
                name: q.name,
                description: q.description,
                expires_at: link.expires_at,
            }
        }
    };
    Ok(Json(view))
}

#[utoipa::path(get, path = "/api/v1/shared/{token}/data", tag = "sharing",
    params(("token" = String, Path), ("x-share-password" = Option<String>, Header, description = "the link's password, when it has one")),
    responses(
        (status = 200, description = "a dashboard's widgets (variables from the query string, locked ones fixed) or a saved query's result, with the sharer's row filters and masking",
            content((dashboards::domain::DashboardData = "application/json"))),
        (status = 401, body = Problem), (status = 403, body = Problem, description = "the sharing feature is turned off for the sharer"),
        (status = 404, body = Problem), (status = 410, body = Problem),
        (status = 422, body = Problem, description = "a variable value not allowed, or a locked variable asked with another value"),
        (status = 502, body = Problem), (status = 504, body = Problem)))]
pub async fn data(
    State(state): State<SharedState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let (link, caller) = resolve(&state, &token, &headers).await?;
    let gone = || ApiError::NotFound("share link".into());
    match domain::parse_resource(&link.resource).map_err(|_| gone())? {
        Resource::Dashboard(name) => {
            let d = dashboards::domain::load_visible(&state, &caller, name)
                .await
                .map_err(|_| gone())?;
            let data = dashboard_data(&state, &caller, &d, q, &link.locked_variables).await?;
            Ok(Json(data).into_response())
        }
        Resource::Query(id) => {
            let sq = queries::domain::load(&state, &caller.scope, id)
                .await
                .map_err(|_| gone())?;
            let call = queries::QueryCall {
                data_source: &sq.data_source,
                sql: &sq.sql,
                params: &sq.params,
                limit: None,
                use_cache: true,
            };
            let r = queries::execute(&state, &caller.scope, &caller.access(), call).await?;
            Ok(Json(r).into_response())
        }
    }
}

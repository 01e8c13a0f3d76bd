//! Approval workflows: queries touching data at or above a policy's level and dashboard
//! publication wait for ordered levels of approvers; every decision carries a comment and is
//! kept; requesters never decide their own requests; undecided requests expire.
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use chrono::{Duration, Utc};
use nexbii_crds::{ApprovalRule, SensitivityLevel};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

pub mod domain;
pub mod model;

pub use model::{ApprovalRecord, ApprovalStatus, ApprovalSubject, Verdict};

use crate::{
    auth::{Caller, Role, UserRecord},
    events::{emit, Notice},
    governance::PolicyRecord,
    http::{
        paging::{PageParams, Paged},
        ApiError, ApiJson, ApiResult, Problem,
    },
    state::{AppState, SharedState},
    store::{write::Actor, Expect, ListQuery, Meta, StoreExt, TenantScope},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/approvals", get(list).post(create))
        .route("/api/v1/approvals/{id}", get(get_one))
        .route("/api/v1/approvals/{id}/approve", post(approve))
        .route("/api/v1/approvals/{id}/reject", post(reject))
        .route("/api/v1/approvals/{id}/cancel", post(cancel))
}

/// The tenant's rule for restricted queries (the first policy that declares one).
pub fn query_rule(policies: &[PolicyRecord]) -> Option<&nexbii_crds::QueryApproval> {
    policies
        .iter()
        .find_map(|p| p.spec.approvals.restricted_queries.as_ref())
}

pub fn publication_rule(policies: &[PolicyRecord]) -> Option<&ApprovalRule> {
    policies
        .iter()
        .find_map(|p| p.spec.approvals.dashboard_publication.as_ref())
}

/// Adding a data source through the API.
pub fn datasource_rule(policies: &[PolicyRecord]) -> Option<&ApprovalRule> {
    policies
        .iter()
        .find_map(|p| p.spec.approvals.data_source_creation.as_ref())
}

pub fn export_rule(policies: &[PolicyRecord]) -> Option<&nexbii_crds::ExportApproval> {
    policies
        .iter()
        .find_map(|p| p.spec.approvals.exports.as_ref())
}

pub fn sharing_rule(policies: &[PolicyRecord]) -> Option<&ApprovalRule> {
    policies
        .iter()
        .find_map(|p| p.spec.approvals.external_sharing.as_ref())
}

/// The highest sensitivity level a statement reads, from its lineage and the catalog (the
/// same decision the query pipeline makes, `enforce::touched_level`).
pub async fn touched(
    state: &AppState,
    scope: &TenantScope,
    source: &str,
    sql: &str,
) -> ApiResult<Option<SensitivityLevel>> {
    let rec = crate::bi::datasources::domain::load(state, scope, source)
        .await
        .map_err(|_| ApiError::invalid("dataSource", format!("no data source named {source:?}")))?;
    let t = rec.spec.source_type;
    state
        .engine
        .check(t, sql)
        .map_err(|e| ApiError::invalid("sql", e.to_string()))?;
    let native = crate::engine::placeholders::to_native(sql, t)
        .map_err(|r| ApiError::invalid("sql", r.0))?;
    let view = state
        .governance
        .source_view(&state.store, scope, source, t)
        .await?;
    let lin = crate::governance::lineage::analyze(t, &native.sql, view.as_ref()).ok();
    Ok(crate::governance::enforce::touched_level(
        lin.as_ref(),
        &view,
    ))
}

/// Whether running the statement needs an approval under the tenant's policy, and what the
/// request would be.
pub async fn needed(
    state: &AppState,
    scope: &TenantScope,
    source: &str,
    sql: &str,
    params: &[Value],
) -> ApiResult<Option<(ApprovalSubject, ApprovalRule)>> {
    let policies = state.governance.policies(&state.store, scope).await?;
    let Some(rule) = query_rule(&policies) else {
        return Ok(None);
    };
    let touched = touched(state, scope, source, sql).await?;
    Ok(touched.filter(|l| *l >= rule.min_level).map(|level| {
        (
            ApprovalSubject::Query {
                data_source: source.to_string(),
                sql: sql.to_string(),
                params: params.to_vec(),
                level: crate::governance::catalog::crawl::level_name(level),
                fingerprint: domain::fingerprint(source, sql, params),
            },
            rule.rule.clone(),
        )
    }))
}

/// Whether `requester` holds an approved request for `key` that is still valid.
pub async fn granted(
    state: &AppState,
    scope: &TenantScope,
    requester: &str,
    key: &str,
) -> ApiResult<bool> {
    let q = ListQuery::default()
        .filter("requester", requester)
        .filter("key", key)
        .filter(
            "status",
            serde_json::to_value(ApprovalStatus::Approved).unwrap_or_default(),
        );
    let now = Utc::now();
    Ok(state
        .store
        .page_as::<ApprovalRecord>(scope, &q)
        .await?
        .items
        .iter()
        .any(|a| domain::grants(a, now)))
}

/// The approval gate of an action the policy may hold: `None` when it may go ahead (no rule,
/// or an approval for exactly this is still valid); otherwise the request that holds it (the
/// requester's open one, or a new one) for the caller to answer `202 Accepted` with.
pub async fn gate(
    state: &AppState,
    scope: &TenantScope,
    requester: &str,
    subject: ApprovalSubject,
    rule: Option<&ApprovalRule>,
) -> ApiResult<Option<ApprovalRecord>> {
    let Some(rule) = rule else {
        return Ok(None);
    };
    if granted(state, scope, requester, subject.key()).await? {
        return Ok(None);
    }
    request(state, scope, requester, subject, rule, None)
        .await
        .map(Some)
}

/// Opens a request (or returns the requester's pending one for the same thing) and tells the
/// first level's approvers.
pub async fn request(
    state: &AppState,
    scope: &TenantScope,
    requester: &str,
    subject: ApprovalSubject,
    rule: &ApprovalRule,
    reason: Option<String>,
) -> ApiResult<ApprovalRecord> {
    let key = subject.key().to_string();
    let q = ListQuery::default()
        .filter("requester", requester)
        .filter("key", key.as_str())
        .filter(
            "status",
            serde_json::to_value(ApprovalStatus::Pending).unwrap_or_default(),
        );
    let now = Utc::now();
    for mut open in state
        .store
        .page_as::<ApprovalRecord>(scope, &q)
        .await?
        .items
    {
        if open.subject == subject && !domain::expire_if_due(&mut open, now) {
            return Ok(open);
        }
    }
    let rec = ApprovalRecord {
        id: format!("apr-{}", &crate::crypto::random_id()[..16]),
        subject,
        requester: requester.to_string(),
        reason,
        status: ApprovalStatus::Pending,
        levels: domain::levels_for(rule),
        current_level: 0,
        decisions: Vec::new(),
        expires_at: now + Duration::hours(rule.expires_after_hours as i64),
        valid_until: None,
        meta: Meta::default(),
    };
    let rec = state
        .writer
        .save(
            scope,
            &Actor::User(requester.to_string()),
            rec,
            Expect::Absent,
        )
        .await?;
    tell_approvers(state, scope, &rec).await?;
    Ok(rec)
}

fn describe(rec: &ApprovalRecord) -> String {
    match &rec.subject {
        ApprovalSubject::Query {
            data_source, level, ..
        } => {
            format!("a query on {data_source} reading {level} data")
        }
        ApprovalSubject::DashboardPublication { dashboard, .. } => {
            format!("publishing dashboard {dashboard}")
        }
        ApprovalSubject::DataSourceCreation { name, spec, .. } => {
            let t = spec.get("type").and_then(Value::as_str).unwrap_or("?");
            format!("adding data source {name} ({t})")
        }
        ApprovalSubject::Export {
            data_source,
            format,
            level,
            ..
        } => match level {
            Some(l) => format!("a {format} export from {data_source} reading {l} data"),
            None => format!("a {format} export from {data_source}"),
        },
        ApprovalSubject::ExternalShare { resource, .. } => {
            format!("a share link to {resource} for people outside the tenant")
        }
    }
}

/// Notifies the approvers of the request's current level.
async fn tell_approvers(
    state: &AppState,
    scope: &TenantScope,
    rec: &ApprovalRecord,
) -> ApiResult<()> {
    let Some(level) = rec.levels.get(rec.current_level) else {
        return Ok(());
    };
    let users = state.store.list_as::<UserRecord>(scope).await?;
    let to: Vec<String> = users
        .into_iter()
        .filter(|u| !u.disabled && u.username != rec.requester)
        .filter(|u| domain::is_approver(&level.approvers, &u.username, u.role))
        .map(|u| u.username)
        .collect();
    let notice = Notice {
        kind: "approval.requested",
        title: format!("Approval requested by {}", rec.requester),
        body: format!(
            "{} asks for approval of {} (level {} of {}).",
            rec.requester,
            describe(rec),
            rec.current_level + 1,
            rec.levels.len()
        ),
        link: Some(format!("/api/v1/approvals/{}", rec.id)),
    };
    let data = serde_json::json!({"approval": rec.id, "requester": rec.requester, "subject": rec.subject, "level": rec.current_level});
    emit(state, scope, &to, &notice, data).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// Only the caller's own requests.
    #[serde(default)]
    pub mine: bool,
    /// Only pending requests the caller may decide now.
    #[serde(default)]
    pub assigned: bool,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", params(ListParams),
    responses((status = 200, body = Vec<ApprovalRecord>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<ListParams>,
) -> ApiResult<Paged<ApprovalRecord>> {
    let mut q = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .query()?;
    if p.mine || caller.role < Role::Admin && !p.assigned {
        // Non-admins see their own requests (and, with `assigned`, what they may decide).
        q = q.filter("requester", caller.username.as_str());
    }
    if p.assigned {
        q = q.filter(
            "status",
            serde_json::to_value(ApprovalStatus::Pending).unwrap_or_default(),
        );
    }
    let page: Paged<ApprovalRecord> = state
        .store
        .page_as::<ApprovalRecord>(&caller.scope, &q)
        .await?
        .into();
    let now = Utc::now();
    let items = page
        .items
        .into_iter()
        .map(|mut r| {
            domain::expire_if_due(&mut r, now);
            r
        })
        .filter(|r| !p.assigned || domain::may_decide(r, &caller.username, caller.role).is_ok())
        .collect();
    Ok(Paged {
        items,
        next: page.next,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryApprovalInput {
    pub data_source: String,
    pub sql: String,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub params: Vec<Value>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/approvals", tag = "approvals", request_body = QueryApprovalInput,
    responses((status = 201, body = ApprovalRecord, description = "the request (an open one for the same statement is returned as it is)"),
        (status = 403, body = Problem), (status = 422, body = Problem, description = "the statement needs no approval, or is invalid")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<QueryApprovalInput>,
) -> ApiResult<(StatusCode, Json<ApprovalRecord>)> {
    caller.require(Role::Editor)?;
    crate::bi::queries::model::check_params(&req.params).map_err(|e| ApiError::Invalid(vec![e]))?;
    let needs = needed(
        &state,
        &caller.scope,
        &req.data_source,
        &req.sql,
        &req.params,
    )
    .await?;
    let Some((subject, rule)) = needs else {
        return Err(ApiError::invalid(
            "sql",
            "this statement needs no approval: run it",
        ));
    };
    let rec = request(
        &state,
        &caller.scope,
        &caller.username,
        subject,
        &rule,
        req.reason,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

async fn load(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ApprovalRecord> {
    let mut rec = state
        .store
        .get_as::<ApprovalRecord>(&caller.scope, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("approval {id}")))?;
    domain::expire_if_due(&mut rec, Utc::now());
    let involved = rec.requester == caller.username
        || caller.role >= Role::Admin
        || rec
            .levels
            .iter()
            .any(|l| domain::is_approver(&l.approvers, &caller.username, caller.role));
    if !involved {
        return Err(ApiError::NotFound(format!("approval {id}")));
    }
    Ok(rec)
}

#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "approvals", params(("id" = String, Path)),
    responses((status = 200, body = ApprovalRecord), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApprovalRecord>> {
    Ok(Json(load(&state, &caller, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionInput {
    /// Why (kept with the decision).
    pub comment: String,
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: &str,
    verdict: Verdict,
    comment: &str,
) -> ApiResult<ApprovalRecord> {
    if comment.trim().is_empty() || comment.len() > 2000 {
        return Err(ApiError::invalid("comment", "1 to 2000 characters"));
    }
    let mut rec = load(state, caller, id).await?;
    domain::may_decide(&rec, &caller.username, caller.role)
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    let policies = state
        .governance
        .policies(&state.store, &caller.scope)
        .await?;
    let valid_for = match &rec.subject {
        ApprovalSubject::Query { .. } => query_rule(&policies).map(|r| r.rule.valid_for_hours),
        ApprovalSubject::DashboardPublication { .. } => {
            publication_rule(&policies).map(|r| r.valid_for_hours)
        }
        ApprovalSubject::DataSourceCreation { .. } => {
            datasource_rule(&policies).map(|r| r.valid_for_hours)
        }
        ApprovalSubject::Export { .. } => export_rule(&policies).map(|r| r.rule.valid_for_hours),
        ApprovalSubject::ExternalShare { .. } => sharing_rule(&policies).map(|r| r.valid_for_hours),
    }
    .unwrap_or(24);
    let rev = rec.meta.revision;
    domain::decide(
        &mut rec,
        &caller.username,
        verdict,
        comment,
        Utc::now(),
        Duration::hours(valid_for as i64),
    );
    let rec = state
        .writer
        .save(&caller.scope, &caller.actor(), rec, Expect::Revision(rev))
        .await?;
    after_decision(state, &caller.scope, &rec).await?;
    Ok(rec)
}

/// Tells the requester (and the next level), and applies a decided publication.
async fn after_decision(
    state: &AppState,
    scope: &TenantScope,
    rec: &ApprovalRecord,
) -> ApiResult<()> {
    if rec.status == ApprovalStatus::Pending {
        return tell_approvers(state, scope, rec).await;
    }
    if let ApprovalSubject::DashboardPublication {
        dashboard,
        spec_digest,
    } = &rec.subject
    {
        crate::bi::dashboards::domain::publication_decided(
            state,
            scope,
            dashboard,
            spec_digest,
            rec,
        )
        .await?;
    }
    let last = rec.decisions.last();
    let notice = Notice {
        kind: "approval.decided",
        title: format!(
            "Your request was {}",
            serde_json::to_value(rec.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        ),
        body: format!(
            "{} — {}: {}",
            describe(rec),
            last.map(|d| d.by.as_str()).unwrap_or_default(),
            last.map(|d| d.comment.as_str()).unwrap_or_default()
        ),
        link: Some(format!("/api/v1/approvals/{}", rec.id)),
    };
    let data = serde_json::json!({"approval": rec.id, "requester": rec.requester, "subject": rec.subject, "status": rec.status});
    emit(
        state,
        scope,
        std::slice::from_ref(&rec.requester),
        &notice,
        data,
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "approvals", params(("id" = String, Path)),
    request_body = DecisionInput,
    responses((status = 200, body = ApprovalRecord), (status = 403, body = Problem, description = "not an approver of the current level, the requester, or not pending"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(d): ApiJson<DecisionInput>,
) -> ApiResult<Json<ApprovalRecord>> {
    Ok(Json(
        decide(&state, &caller, &id, Verdict::Approve, &d.comment).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject", tag = "approvals", params(("id" = String, Path)),
    request_body = DecisionInput,
    responses((status = 200, body = ApprovalRecord), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(d): ApiJson<DecisionInput>,
) -> ApiResult<Json<ApprovalRecord>> {
    Ok(Json(
        decide(&state, &caller, &id, Verdict::Reject, &d.comment).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/cancel", tag = "approvals", params(("id" = String, Path)),
    responses((status = 200, body = ApprovalRecord), (status = 403, body = Problem, description = "only the requester cancels, and only a pending request"),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApprovalRecord>> {
    let mut rec = load(&state, &caller, &id).await?;
    if rec.requester != caller.username || rec.status != ApprovalStatus::Pending {
        return Err(ApiError::Forbidden(
            "only the requester cancels a pending request".into(),
        ));
    }
    let rev = rec.meta.revision;
    rec.status = ApprovalStatus::Cancelled;
    Ok(Json(
        state
            .writer
            .save(&caller.scope, &caller.actor(), rec, Expect::Revision(rev))
            .await?,
    ))
}

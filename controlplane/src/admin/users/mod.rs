//! Advanced user management (admins, or API keys with the admin scope): bulk import (CSV or
//! JSON) and bulk actions with per-row results, an all-or-nothing option and dry runs; user
//! activity reports and access pattern analysis derived from the audit log (no second
//! recorder: every login, query run and data view is already an audit entry).
//!
//! Handlers parse and authorise, read the store, and call the pure functions of [`bulk`],
//! [`activity`] and [`access`]; writes go through the write path.
use std::collections::{HashMap, HashSet};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap},
    routing::{get, post},
    Json, Router,
};
use chrono::{DateTime, Duration, Utc};
use nexbii_crds::{FieldError, SensitivityLevel};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub mod access;
pub mod activity;
pub mod bulk;

use bulk::{BulkAction, ReadRow, RowPlan, UserPlan};

use crate::{
    audit::{EntryBody, Outcome},
    auth::{sessions::revoke_where, Caller, Role, UserRecord},
    http::{ApiError, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{
        decode, write::Actor, Collection, Expect, ListQuery, Meta, Store, StoreExt, TenantScope,
    },
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/admin/users/import", post(import))
        .route("/api/v1/admin/users/bulk", post(bulk_action))
        .route("/api/v1/admin/users/activity", get(activity_report))
        .route("/api/v1/admin/users/access", get(access_report))
}

// ---------------------------------------------------------------------------------------------
// Bulk import

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ImportParams {
    /// Check every row and report what would happen; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Create the users only if every row is valid (else 422 naming each bad row's field).
    #[serde(default)]
    pub all_or_nothing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RowStatus {
    /// Created (a dry run: would be).
    Created,
    Failed,
    /// Valid, but not imported since other rows failed (all-or-nothing dry run).
    Skipped,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    /// Position in the import, from 0 (CSV: the data rows after the header).
    pub index: usize,
    pub username: Option<String>,
    pub status: RowStatus,
    /// The offending field (`rows[i].password`), when the row failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub dry_run: bool,
    pub all_or_nothing: bool,
    /// Whether users were written (false for dry runs).
    pub applied: bool,
    pub created: u64,
    pub failed: u64,
    /// One per row, in order. Passwords are never echoed.
    pub results: Vec<RowResult>,
}

fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("text/csv"))
}

fn read_import(headers: &HeaderMap, body: &[u8]) -> ApiResult<Vec<ReadRow>> {
    let read = if is_csv(headers) {
        let text = std::str::from_utf8(body).map_err(|_| ApiError::BadRequest {
            field: Some("csv".into()),
            detail: "the CSV is not UTF-8".into(),
        })?;
        bulk::read_csv(text)
    } else {
        let v: serde_json::Value = crate::http::parse_json(body)?;
        bulk::read_json(&v)
    };
    read.map_err(|e| ApiError::Invalid(vec![e]))
}

/// Every username of the tenant (user counts are bounded by the Tenant's `maxUsers`).
async fn all_users(state: &AppState, scope: &TenantScope) -> ApiResult<Vec<UserRecord>> {
    let mut out = Vec::new();
    let mut q = ListQuery::default().limit(1000);
    loop {
        let page = state.store.page_as::<UserRecord>(scope, &q).await?;
        out.extend(page.items);
        match page.next {
            Some(c) => q = q.after(Some(c)),
            None => return Ok(out),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/admin/users/import", tag = "admin", params(ImportParams),
    request_body(description = "`text/csv` with a header row (`username`, `role`, `password` required; `email`, `disabled`, `attr.<key>`), or JSON: `{\"users\": [...]}` or an array of users",
        content((Vec<bulk::ImportRow> = "application/json"), (String = "text/csv"))),
    responses(
        (status = 200, body = ImportReport, description = "per-row results; rows that failed are listed with the field and why"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "not JSON, or CSV not UTF-8"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "all-or-nothing: a write failed while applying (another change got there first); what had been created was removed again"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "no users, too many, an unknown CSV column; or all-or-nothing with invalid rows (each named as `rows[i].<field>`)")),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ImportReport>> {
    caller.require(Role::Admin)?;
    let rows = read_import(&headers, &body)?;
    let tenant = state.tenant(&caller.scope).await?;
    let settings = crate::admin::settings::effective(&state, &caller.scope).await?;
    let users = all_users(&state, &caller.scope).await?;
    let exists: HashSet<String> = users.iter().map(|u| u.username.clone()).collect();
    let plan = bulk::plan_import(
        &rows,
        &settings.settings.password,
        &exists,
        users.len() as u64,
        tenant.spec.limits.max_users as u64,
    );
    let failures: Vec<FieldError> = plan
        .iter()
        .filter_map(|p| match p {
            RowPlan::Fail(e) => Some(e.clone()),
            RowPlan::Create => None,
        })
        .collect();
    if p.all_or_nothing && !failures.is_empty() && !p.dry_run {
        return Err(ApiError::Invalid(failures));
    }
    let mut results: Vec<RowResult> = rows
        .iter()
        .zip(&plan)
        .enumerate()
        .map(|(index, (r, pl))| RowResult {
            index,
            username: r.as_ref().ok().map(|r| r.username.clone()),
            status: match pl {
                RowPlan::Create => RowStatus::Created,
                RowPlan::Fail(_) => RowStatus::Failed,
            },
            field: match pl {
                RowPlan::Fail(e) => Some(e.field.clone()),
                RowPlan::Create => None,
            },
            error: match pl {
                RowPlan::Fail(e) => Some(e.message.clone()),
                RowPlan::Create => None,
            },
        })
        .collect();
    let would_apply = !p.all_or_nothing || failures.is_empty();
    if !would_apply {
        for r in results
            .iter_mut()
            .filter(|r| r.status == RowStatus::Created)
        {
            r.status = RowStatus::Skipped;
        }
    }
    if !p.dry_run {
        apply_import(
            &state,
            &caller,
            &rows,
            &plan,
            p.all_or_nothing,
            &mut results,
        )
        .await?;
    }
    let created = results
        .iter()
        .filter(|r| r.status == RowStatus::Created)
        .count() as u64;
    tracing::info!(tenant = caller.scope.tenant(), by = %caller.username, rows = rows.len(), created, dry_run = p.dry_run, "users imported");
    Ok(Json(ImportReport {
        dry_run: p.dry_run,
        all_or_nothing: p.all_or_nothing,
        applied: !p.dry_run && would_apply,
        created,
        failed: results
            .iter()
            .filter(|r| r.status == RowStatus::Failed)
            .count() as u64,
        results,
    }))
}

async fn apply_import(
    state: &AppState,
    caller: &Caller,
    rows: &[ReadRow],
    plan: &[RowPlan],
    all_or_nothing: bool,
    results: &mut [RowResult],
) -> ApiResult<()> {
    let actor = caller.actor();
    let mut created: Vec<String> = Vec::new();
    for (i, (r, pl)) in rows.iter().zip(plan).enumerate() {
        let (Ok(row), RowPlan::Create) = (r, pl) else {
            continue;
        };
        let user = UserRecord {
            username: row.username.clone(),
            email: row.email.clone(),
            role: row.role,
            password_hash: crate::auth::users::hashed(row.password.clone()).await?,
            disabled: row.disabled,
            last_login_at: None,
            attributes: row.attributes.clone(),
            security: crate::auth::model::AccountSecurity {
                password_changed_at: Some(chrono::Utc::now()),
                ..Default::default()
            },
            meta: Meta::default(),
        };
        match state
            .writer
            .save(&caller.scope, &actor, user, Expect::Absent)
            .await
        {
            Ok(_) => created.push(row.username.clone()),
            Err(e) if all_or_nothing => {
                for name in created.iter().rev() {
                    state
                        .writer
                        .delete::<UserRecord>(&caller.scope, &actor, name, None)
                        .await?;
                }
                return Err(ApiError::Conflict(format!(
                    "rows[{i}] ({}): {e}; nothing was imported",
                    row.username
                )));
            }
            Err(e) => {
                results[i].status = RowStatus::Failed;
                results[i].field = Some(format!("rows[{i}].username"));
                results[i].error = Some(e.to_string());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Bulk actions

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkRequest {
    pub action: BulkAction,
    pub usernames: Vec<String>,
    /// The new role (`setRole` only).
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub dry_run: bool,
    /// Apply only if every user can be changed; undone if a write fails midway.
    #[serde(default)]
    pub all_or_nothing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum UserStatus {
    Updated,
    Deleted,
    Unchanged,
    Failed,
    /// Would change, but other users cannot (all-or-nothing dry run).
    Skipped,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserResult {
    pub username: String,
    /// What happened (a dry run: what would).
    pub status: UserStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Sessions ended because the user was disabled or deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_revoked: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkReport {
    pub action: BulkAction,
    pub dry_run: bool,
    pub all_or_nothing: bool,
    pub applied: bool,
    pub changed: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub results: Vec<UserResult>,
}

fn check_bulk(req: &BulkRequest) -> ApiResult<()> {
    if req.usernames.is_empty() {
        return Err(ApiError::invalid("usernames", "at least one username"));
    }
    if req.usernames.len() > bulk::MAX_ROWS {
        return Err(ApiError::invalid(
            "usernames",
            format!("at most {} per request", bulk::MAX_ROWS),
        ));
    }
    match (req.action, req.role) {
        (BulkAction::SetRole, None) => Err(ApiError::invalid("role", "required for setRole")),
        (BulkAction::SetRole, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err(ApiError::invalid("role", "only for setRole")),
    }
}

#[utoipa::path(post, path = "/api/v1/admin/users/bulk", tag = "admin", request_body = BulkRequest,
    responses(
        (status = 200, body = BulkReport, description = "per-user results"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "not the expected JSON"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "all-or-nothing: a write failed while applying; the changes made were undone (sessions revoked stay revoked)"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "no usernames, too many, `role` missing or misplaced; or all-or-nothing with users that cannot be changed (each named as `usernames[i]`)")),
    security(("bearer" = [])))]
pub async fn bulk_action(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiJson(req): crate::http::ApiJson<BulkRequest>,
) -> ApiResult<Json<BulkReport>> {
    caller.require(Role::Admin)?;
    check_bulk(&req)?;
    let mut found = HashMap::new();
    for name in &req.usernames {
        if found.contains_key(name) {
            continue;
        }
        if let Some(u) = state
            .store
            .get_as::<UserRecord>(&caller.scope, name)
            .await?
        {
            found.insert(name.clone(), u);
        }
    }
    let plan = bulk::plan_bulk(
        req.action,
        req.role,
        &req.usernames,
        &found,
        &caller.username,
    );
    let failures: Vec<FieldError> = plan
        .iter()
        .filter_map(|p| match p {
            UserPlan::Fail(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    if req.all_or_nothing && !failures.is_empty() && !req.dry_run {
        return Err(ApiError::Invalid(failures));
    }
    let mut results: Vec<UserResult> = req
        .usernames
        .iter()
        .zip(&plan)
        .map(|(name, p)| {
            let (status, err) = match p {
                UserPlan::Update(_) => (UserStatus::Updated, None),
                UserPlan::Delete => (UserStatus::Deleted, None),
                UserPlan::Unchanged => (UserStatus::Unchanged, None),
                UserPlan::Fail(e) => (UserStatus::Failed, Some(e)),
            };
            UserResult {
                username: name.clone(),
                status,
                field: err.map(|e| e.field.clone()),
                error: err.map(|e| e.message.clone()),
                sessions_revoked: None,
            }
        })
        .collect();
    let would_apply = !req.all_or_nothing || failures.is_empty();
    if !would_apply {
        for r in results
            .iter_mut()
            .filter(|r| r.status != UserStatus::Failed)
        {
            r.status = UserStatus::Skipped;
        }
    }
    if !req.dry_run {
        apply_bulk(&state, &caller, &req, &plan, &found, &mut results).await?;
    }
    let count = |s: UserStatus| results.iter().filter(|r| r.status == s).count() as u64;
    tracing::info!(tenant = caller.scope.tenant(), by = %caller.username, action = ?req.action, users = req.usernames.len(), dry_run = req.dry_run, "bulk user action");
    Ok(Json(BulkReport {
        action: req.action,
        dry_run: req.dry_run,
        all_or_nothing: req.all_or_nothing,
        applied: !req.dry_run && would_apply,
        changed: count(UserStatus::Updated) + count(UserStatus::Deleted),
        unchanged: count(UserStatus::Unchanged),
        failed: count(UserStatus::Failed),
        results,
    }))
}

/// Undoes what an all-or-nothing bulk action did before a write failed (newest first).
async fn undo_bulk(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    done: Vec<(UserRecord, bool)>,
) -> ApiResult<()> {
    for (before, deleted) in done.into_iter().rev() {
        if deleted {
            let mut again = before;
            again.meta = Meta::default();
            state
                .writer
                .save(scope, actor, again, Expect::Absent)
                .await?;
        } else {
            let (role, disabled) = (before.role, before.disabled);
            state
                .writer
                .modify::<UserRecord>(scope, actor, &before.username, |u| {
                    u.role = role;
                    u.disabled = disabled;
                })
                .await?;
        }
    }
    Ok(())
}

async fn apply_bulk(
    state: &AppState,
    caller: &Caller,
    req: &BulkRequest,
    plan: &[UserPlan],
    found: &HashMap<String, UserRecord>,
    results: &mut [UserResult],
) -> ApiResult<()> {
    let actor = caller.actor();
    let scope = &caller.scope;
    let mut done: Vec<(UserRecord, bool)> = Vec::new();
    for (i, (name, p)) in req.usernames.iter().zip(plan).enumerate() {
        let Some(before) = found.get(name) else {
            continue;
        };
        let rev = before.meta.revision;
        let res = match p {
            UserPlan::Update(u) => state
                .writer
                .save(scope, &actor, (**u).clone(), Expect::Revision(rev))
                .await
                .map(|_| false),
            UserPlan::Delete => state
                .writer
                .delete::<UserRecord>(scope, &actor, name, Some(rev))
                .await
                .map(|_| true),
            _ => continue,
        };
        match res {
            Ok(deleted) => {
                done.push((before.clone(), deleted));
                // A disabled or deleted user's sessions end (enabling again, or a new user of
                // the same name, must not bring them back).
                if matches!(req.action, BulkAction::Disable | BulkAction::Delete) {
                    let q = ListQuery::default().filter("username", name.as_str());
                    let n = revoke_where(state, scope, &actor, q, None).await?;
                    results[i].sessions_revoked = Some(n);
                }
            }
            Err(e) if req.all_or_nothing => {
                undo_bulk(state, scope, &actor, done).await?;
                return Err(ApiError::Conflict(format!(
                    "usernames[{i}] ({name}): {e}; the changes made were undone"
                )));
            }
            Err(e) => {
                results[i].status = UserStatus::Failed;
                results[i].field = Some(format!("usernames[{i}]"));
                results[i].error = Some(e.to_string());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reports from the audit log

/// Audit entries one report reads at most; a longer period is reported `truncated`.
pub const MAX_SCAN: u64 = 200_000;
/// The longest period of a report.
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ActivityParams {
    /// Start of the period (RFC 3339, inclusive); default 30 days before `to`.
    pub from: Option<String>,
    /// End of the period (RFC 3339, exclusive); default now.
    pub to: Option<String>,
    /// Only this user.
    pub user: Option<String>,
}

fn time(field: &str, v: Option<&String>) -> ApiResult<Option<DateTime<Utc>>> {
    v.map(|s| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ApiError::invalid(field, "an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))
    })
    .transpose()
}

/// The period `[from, to)` of a report, checked.
pub fn period(
    from: Option<&String>,
    to: Option<&String>,
    now: DateTime<Utc>,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let to = time("to", to)?.unwrap_or(now);
    let from = time("from", from)?.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid(
            "from",
            format!("a period of at most {MAX_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// Reads the audit entries of `[from, to)` (of `user` only, when given), oldest first, page
/// by page, at most [`MAX_SCAN`]; true when that bound cut the period short.
async fn scan(
    state: &AppState,
    scope: &TenantScope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    user: Option<&str>,
    mut each: impl FnMut(EntryBody),
) -> ApiResult<bool> {
    let mut q = ListQuery {
        updated_from: Some(from),
        // Stored times are whole milliseconds: an entry written in the millisecond `to` falls
        // in is only left out by the entry's own time below, not by the store.
        updated_before: Some(to + Duration::milliseconds(1)),
        ..Default::default()
    }
    .limit(crate::audit::log::PAGE);
    if let Some(u) = user {
        q = q.filter("actor", u);
    }
    state.audit.flush().await;
    let mut read = 0u64;
    loop {
        let page = state.store.list(scope, Collection::AuditLog, &q).await?;
        for v in page.items {
            // The body's fields only (the entry's are flattened in): no hashes, no meta.
            let e: EntryBody = decode(v)?;
            // The store filters by the time the entry was written; the entry's own time is
            // the request's end, a moment earlier.
            if e.at >= from && e.at < to {
                each(e);
            }
            read += 1;
        }
        match page.next {
            Some(_) if read >= MAX_SCAN => return Ok(true),
            Some(c) => q = q.after(Some(c)),
            None => return Ok(false),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/admin/users/activity", tag = "admin", params(ActivityParams),
    responses(
        (status = 200, body = activity::ActivityReport, description = "logins, queries, dashboard views, last activity per user and for the tenant; daily, weekly and monthly active users (UTC)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a time that does not read, `from` not before `to`, a period over 366 days (field names it)")),
    security(("bearer" = [])))]
pub async fn activity_report(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<ActivityParams>,
) -> ApiResult<Json<activity::ActivityReport>> {
    caller.require(Role::Admin)?;
    // Entries of requests answered before now are stored before "now" is taken.
    state.audit.flush().await;
    let (from, to) = period(p.from.as_ref(), p.to.as_ref(), Utc::now())?;
    let mut agg = activity::Aggregator::default();
    match &p.user {
        Some(u) => agg.known_users([u.as_str()]),
        None => {
            let users = all_users(&state, &caller.scope).await?;
            agg.known_users(users.iter().map(|u| u.username.as_str()));
        }
    }
    let truncated = scan(&state, &caller.scope, from, to, p.user.as_deref(), |e| {
        agg.add(&e)
    })
    .await?;
    Ok(Json(agg.finish(from, to, truncated)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AccessParams {
    /// Start of the period (RFC 3339, inclusive); default 7 days before `to`.
    pub from: Option<String>,
    /// End of the period (RFC 3339, exclusive); default now.
    pub to: Option<String>,
    /// Only this user.
    pub user: Option<String>,
    /// Days before `from` that make the baseline the flags compare with (0 to 365, default 30).
    pub baseline_days: Option<u32>,
    /// The level from which data counts as restricted for the first-access flag: `internal`,
    /// `confidential` or `restricted` (default).
    pub level: Option<String>,
    /// A row spike is this many times the user's baseline 95th percentile (2 to 1000, default 10).
    pub spike_factor: Option<u64>,
    /// … and at least this many rows (0 to 1,000,000,000, default 1000).
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub spike_min_rows: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAccess {
    pub username: String,
    pub datasources: Vec<access::SourceUse>,
    pub flags: Vec<access::Flag>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub baseline_from: DateTime<Utc>,
    /// Per user with any query or flag in the period, by username.
    pub users: Vec<UserAccess>,
    /// Every flag of the period, oldest first.
    pub flags: Vec<access::Flag>,
    /// Audit entries read (baseline and period).
    pub scanned: u64,
    /// True when the baseline and period held more entries than one report reads.
    pub truncated: bool,
}

struct AccessParamsChecked {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    baseline_from: DateTime<Utc>,
    level: SensitivityLevel,
    factor: u64,
    min_rows: u64,
}

fn check_access(p: &AccessParams, now: DateTime<Utc>) -> ApiResult<AccessParamsChecked> {
    let to = time("to", p.to.as_ref())?.unwrap_or(now);
    let default_from = (to - Duration::days(7)).to_rfc3339();
    let (from, to) = period(
        Some(p.from.as_ref().unwrap_or(&default_from)),
        Some(&to.to_rfc3339()),
        now,
    )?;
    let days = p.baseline_days.unwrap_or(30);
    if days > 365 {
        return Err(ApiError::invalid("baselineDays", "0 to 365"));
    }
    let level = match p.level.as_deref().unwrap_or("restricted") {
        "internal" => SensitivityLevel::Internal,
        "confidential" => SensitivityLevel::Confidential,
        "restricted" => SensitivityLevel::Restricted,
        _ => {
            return Err(ApiError::invalid(
                "level",
                "one of internal, confidential, restricted",
            ))
        }
    };
    let factor = p.spike_factor.unwrap_or(10);
    if !(2..=1000).contains(&factor) {
        return Err(ApiError::invalid("spikeFactor", "2 to 1000"));
    }
    let min_rows = p.spike_min_rows.unwrap_or(1000);
    if min_rows > 1_000_000_000 {
        return Err(ApiError::invalid("spikeMinRows", "0 to 1,000,000,000"));
    }
    Ok(AccessParamsChecked {
        from,
        to,
        baseline_from: from - Duration::days(days as i64),
        level,
        factor,
        min_rows,
    })
}

/// Reads query fingerprints against the catalog, once per (source, fingerprint).
struct Resolver<'a> {
    state: &'a AppState,
    scope: &'a TenantScope,
    seen: HashMap<(String, String), access::Touched>,
}

impl Resolver<'_> {
    async fn touched(&mut self, source: &str, fingerprint: &str) -> access::Touched {
        let key = (source.to_string(), fingerprint.to_string());
        if let Some(t) = self.seen.get(&key) {
            return t.clone();
        }
        let t = self
            .resolve(source, fingerprint)
            .await
            .unwrap_or(access::Touched {
                unresolved: true,
                ..Default::default()
            });
        self.seen.insert(key, t.clone());
        t
    }

    async fn resolve(&self, source: &str, fingerprint: &str) -> ApiResult<access::Touched> {
        let rec = self
            .state
            .store
            .cached::<crate::bi::datasources::DataSourceRecord>(self.scope, source)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("data source {source}")))?;
        let t = rec.spec.source_type;
        let view = self
            .state
            .governance
            .source_view(&self.state.store, self.scope, source, t)
            .await?;
        Ok(access::touched(t, fingerprint, &view))
    }
}

#[utoipa::path(get, path = "/api/v1/admin/users/access", tag = "admin", params(AccessParams),
    responses(
        (status = 200, body = AccessReport, description = "per user: data sources, tables and classified columns touched, masked columns; flags for first access to restricted data, activity outside usual hours, row spikes, each with its evidence"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "a parameter out of range or unreadable (field names it)")),
    security(("bearer" = [])))]
pub async fn access_report(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<AccessParams>,
) -> ApiResult<Json<AccessReport>> {
    caller.require(Role::Admin)?;
    // Entries of requests answered before now are stored before "now" is taken.
    state.audit.flush().await;
    let c = check_access(&p, Utc::now())?;
    let (mut entries, mut scanned) = (Vec::new(), 0u64);
    let truncated = scan(
        &state,
        &caller.scope,
        c.baseline_from,
        c.to,
        p.user.as_deref(),
        |e| {
            scanned += 1;
            let counts =
                activity::is_user(&e) && e.impersonator.is_none() && e.outcome != Outcome::Denied;
            if counts {
                entries.push(e)
            }
        },
    )
    .await?;
    let mut resolver = Resolver {
        state: &state,
        scope: &caller.scope,
        seen: HashMap::new(),
    };
    let (mut base_ev, mut period_ev, mut base_t, mut period_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in &entries {
        let in_period = e.at >= c.from;
        if in_period {
            period_t.push((e.actor.clone(), e.at));
        } else {
            base_t.push((e.actor.clone(), e.at));
        }
        for q in e.queries.iter().filter(|q| q.outcome == "ok") {
            let ev = access::AccessEvent {
                user: e.actor.clone(),
                at: e.at,
                datasource: q.datasource.clone(),
                touched: resolver.touched(&q.datasource, &q.fingerprint).await,
                rows: q.rows.unwrap_or(0),
                masked: q.masked.clone(),
            };
            if in_period {
                period_ev.push(ev);
            } else {
                base_ev.push(ev);
            }
        }
    }
    let mut flags = access::first_restricted_access(&base_ev, &period_ev, c.level);
    flags.extend(access::outside_usual_hours(&base_t, &period_t));
    flags.extend(access::row_spikes(
        &base_ev, &period_ev, c.factor, c.min_rows,
    ));
    flags.sort_by(|a, b| a.at.cmp(&b.at).then(a.kind.cmp(&b.kind)));
    let mut by_user = access::summarize(&period_ev);
    for f in &flags {
        by_user.entry(f.username.clone()).or_default();
    }
    let users = by_user
        .into_iter()
        .map(|(username, datasources)| UserAccess {
            flags: flags
                .iter()
                .filter(|f| f.username == username)
                .cloned()
                .collect(),
            username,
            datasources,
        })
        .collect();
    Ok(Json(AccessReport {
        from: c.from,
        to: c.to,
        baseline_from: c.baseline_from,
        users,
        flags,
        scanned,
        truncated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_checked_naming_the_field() {
        let now = Utc::now();
        let (f, t) = period(None, None, now).unwrap();
        assert_eq!((t, t - f), (now, Duration::days(30)));
        let bad = |from: &str, to: &str| match period(
            Some(&from.to_string()),
            Some(&to.to_string()),
            now,
        ) {
            Err(ApiError::Invalid(e)) => e[0].field.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(bad("yesterday", "2026-12-01T00:00:00Z"), "from");
        assert_eq!(bad("2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z"), "from");
        assert_eq!(bad("2024-12-01T00:00:00Z", "2026-12-01T00:00:00Z"), "from");
        assert_eq!(bad("2026-11-01T00:00:00Z", "soon"), "to");
    }

    /// What a report over many audit entries costs (a measurement, run by hand:
    /// `cargo test -p nexbii-controlplane --lib -- --ignored report_over_many_entries --nocapture`).
    #[tokio::test(flavor = "multi_thread")]
    #[ignore]
    async fn report_over_many_entries() {
        use crate::audit::QueryNote;
        let n: u64 = std::env::var("NEXBII_ENTRIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let store = crate::store::sqlite::SqliteStore::in_memory()
            .await
            .unwrap();
        let state = AppState::new(
            std::sync::Arc::new(store),
            crate::crypto::Keys::random(),
            Default::default(),
        );
        let scope = TenantScope::new("bench").unwrap();
        let from = Utc::now() - Duration::seconds(1);
        let started = std::time::Instant::now();
        for i in 0..n {
            let action = ["queries.run", "dashboards.view", "auth.login"][(i % 3) as usize];
            let body = EntryBody {
                seq: 0,
                at: Utc::now(),
                actor: format!("user{}", i % 50),
                actor_ref: String::new(),
                via: "session".into(),
                impersonator: None,
                impersonator_ref: None,
                action: action.into(),
                target: "/api/v1/queries/run".into(),
                outcome: Outcome::Success,
                status: 200,
                client: None,
                request_id: i.to_string(),
                queries: vec![QueryNote {
                    datasource: "sales".into(),
                    fingerprint: format!("SELECT a FROM t{} WHERE id = ?", i % 100),
                    rows: Some(i % 1000),
                    masked: vec![],
                    outcome: "ok".into(),
                }],
            };
            state.audit.append(&state, &scope, body).await.unwrap();
        }
        let appended = started.elapsed();
        // The store's part alone: the pages, undecoded.
        let started = std::time::Instant::now();
        let mut q = ListQuery {
            updated_from: Some(from),
            ..Default::default()
        }
        .limit(crate::audit::log::PAGE);
        let mut listed = 0;
        loop {
            let page = state
                .store
                .list(&scope, Collection::AuditLog, &q)
                .await
                .unwrap();
            listed += page.items.len();
            match page.next {
                Some(c) => q = q.after(Some(c)),
                None => break,
            }
        }
        println!("listing {listed} entries took {:?}", started.elapsed());
        let started = std::time::Instant::now();
        let mut agg = activity::Aggregator::default();
        let to = Utc::now() + Duration::seconds(1);
        let truncated = scan(&state, &scope, from, to, None, |e| agg.add(&e))
            .await
            .unwrap();
        let report = agg.finish(from, to, truncated);
        let took = started.elapsed();
        println!(
            "{n} entries appended in {appended:?}; activity report read {} in {took:?} ({:.1} µs/entry), {} users",
            report.scanned,
            took.as_micros() as f64 / report.scanned.max(1) as f64,
            report.users.len()
        );
        assert_eq!(report.scanned, n.min(MAX_SCAN));
        assert_eq!(report.users.len(), 50);
    }
}

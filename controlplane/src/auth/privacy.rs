//! GDPR: export everything stored about a user, and erase a user.
//!
//! **Export** (`GET /api/v1/users/{username}/export`, an admin or the user themselves): the
//! profile (no password hash, no MFA secret or recovery digests: whether MFA is on), login
//! sessions, API keys (metadata, no digests), saved queries and dashboards owned, share links,
//! approvals requested, notifications, the configuration versions they authored (or of objects
//! they owned), and the audit entries where the user is the actor or the impersonator.
//!
//! **Erase** (`POST /api/v1/users/{username}/erase`, admins): the user record, sessions, API
//! keys, notifications and share links are deleted; saved queries and dashboards owned (the
//! tenant's content) pass to the admin who erases; approvals requested name the pseudonym.
//! Configuration versions name the pseudonym as author and owner. In the audit log, entries name people by a keyed pseudonym that their hash covers (see
//! `audit::chain::Pseudonyms`), so replacing the clear actor or impersonator by it keeps
//! `GET /api/v1/audit/verify` valid; the erase request's own entry names the pseudonym too.
//! Left as they are: entries written before pseudonyms existed (their hash covers the clear
//! name; reported as `auditEntriesKept`), request paths naming the user (an admin's actions on
//! the account, kept as the record of them), and backup archives taken before the erasure.
use axum::{
    extract::{Path, State},
    Json,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{
    caller::Caller,
    model::{Role, SessionRecord, UserRecord},
};
use crate::{
    audit::{log::pseudonyms, AuditEntry},
    http::{ApiError, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{
        decode, history::ConfigVersion, write::Actor, Collection, Entity, ListQuery, Store,
        StoreExt, TenantScope,
    },
};

const PAGE: usize = 500;

/// Every record of `coll` whose list field `field` is `value`, as stored.
async fn matching(
    state: &AppState,
    scope: &TenantScope,
    coll: Collection,
    field: Option<&str>,
    value: &str,
) -> ApiResult<Vec<Value>> {
    let mut q = ListQuery::default().limit(PAGE);
    if let Some(f) = field {
        q = q.filter(f, value);
    }
    let mut out = Vec::new();
    loop {
        let page = state.store.list(scope, coll, &q).await?;
        out.extend(page.items);
        match page.next {
            Some(c) => q = q.after(Some(c)),
            None => return Ok(out),
        }
    }
}

/// Leaves out what is a credential or derived from one.
fn redacted(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|k, _| {
            let k = k.to_ascii_lowercase();
            !["digest", "hash", "secret", "password", "token"]
                .iter()
                .any(|s| k.contains(s))
        });
    }
    v
}

fn profile(user: &UserRecord) -> Value {
    let m = user.security.mfa.as_ref();
    let mut v = redacted(serde_json::to_value(user).unwrap_or_default());
    if let Value::Object(o) = &mut v {
        o.insert(
            "security".into(),
            json!({
                "mfaEnabled": m.is_some_and(|m| m.confirmed()),
                "mfaConfirmedAt": m.and_then(|m| m.confirmed_at),
                "recoveryCodesLeft": m.map_or(0, |m| m.recovery_codes.len()),
                "failedLogins": user.security.failed_logins,
                "lockedUntil": user.security.locked_until,
                "passwordChangedAt": user.security.password_changed_at,
            }),
        );
    }
    v
}

/// `GET /api/v1/users/{username}/export`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserExport {
    pub exported_at: DateTime<Utc>,
    pub tenant: String,
    pub username: String,
    /// The user record, without credentials; absent when the user no longer exists.
    #[schema(value_type = Option<Object>)]
    pub profile: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub sessions: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub api_keys: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub saved_queries: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub dashboards: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub share_links: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub approvals: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub notifications: Vec<Value>,
    /// Entries where the user is the actor or the impersonator.
    #[schema(value_type = Vec<Object>)]
    pub audit_entries: Vec<Value>,
    /// Versions of configuration objects the user authored.
    #[schema(value_type = Vec<Object>)]
    pub config_versions: Vec<Value>,
}

/// The configuration versions the user authored or whose object they owned.
async fn versions_of(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
) -> ApiResult<Vec<ConfigVersion>> {
    let author = format!("user:{username}");
    let all = matching(state, scope, Collection::ConfigHistory, None, "").await?;
    Ok(all
        .into_iter()
        .filter_map(|v| decode::<ConfigVersion>(v).ok())
        .filter(|v| {
            v.author == author
                || v.value.as_ref().and_then(|o| o.get("owner")) == Some(&json!(username))
        })
        .collect())
}

/// Names the pseudonym instead of the user in configuration versions; how many changed.
async fn anonymise_versions(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
    pseudonym: &str,
) -> ApiResult<usize> {
    let mut n = 0;
    for mut v in versions_of(state, scope, username).await? {
        if v.author == format!("user:{username}") {
            v.author = format!("user:{pseudonym}");
        }
        if let Some(Value::Object(o)) = v.value.as_mut() {
            if o.get("owner") == Some(&json!(username)) {
                o.insert("owner".into(), json!(pseudonym));
            }
        }
        let rev = v.meta.revision;
        state
            .writer
            .save(
                scope,
                &Actor::System,
                v,
                crate::store::Expect::Revision(rev),
            )
            .await?;
        n += 1;
    }
    Ok(n)
}

/// The audit entries naming `username` as actor or impersonator.
async fn audit_of(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
) -> ApiResult<Vec<AuditEntry>> {
    state.audit.flush().await;
    let all = matching(state, scope, Collection::AuditLog, None, "").await?;
    Ok(all
        .into_iter()
        .filter_map(|v| decode::<AuditEntry>(v).ok())
        .filter(|e| e.body.actor == username || e.body.impersonator.as_deref() == Some(username))
        .collect())
}

#[utoipa::path(get, path = "/api/v1/users/{username}/export", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 200, body = UserExport, description = "everything stored about the user"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "neither an admin nor the user"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "nothing is stored about this name")),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<SharedState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<Json<UserExport>> {
    if caller.username != username {
        caller.require(Role::Admin)?;
    }
    let scope = &caller.scope;
    let user = state.store.get_as::<UserRecord>(scope, &username).await?;
    let by = |coll, field| matching(&state, scope, coll, Some(field), &username);
    let clean = |vs: Vec<Value>| vs.into_iter().map(redacted).collect::<Vec<_>>();
    let out = UserExport {
        exported_at: Utc::now(),
        tenant: scope.tenant().to_string(),
        username: username.clone(),
        profile: user.as_ref().map(profile),
        sessions: clean(by(Collection::Sessions, "username").await?),
        api_keys: clean(by(Collection::ApiKeys, "owner").await?),
        saved_queries: clean(by(Collection::SavedQueries, "owner").await?),
        dashboards: clean(by(Collection::Dashboards, "owner").await?),
        share_links: clean(by(Collection::ShareLinks, "owner").await?),
        approvals: clean(by(Collection::Approvals, "requester").await?),
        notifications: clean(by(Collection::Notifications, "username").await?),
        audit_entries: audit_of(&state, scope, &username)
            .await?
            .into_iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .collect(),
        config_versions: versions_of(&state, scope, &username)
            .await?
            .into_iter()
            .map(|v| serde_json::to_value(v).unwrap_or_default())
            .collect(),
    };
    if out.profile.is_none() && out.audit_entries.is_empty() && out.sessions.is_empty() {
        return Err(ApiError::NotFound(format!("user {username}")));
    }
    Ok(Json(out))
}

/// What an erasure did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureReport {
    /// What the audit log names the user by from now on.
    pub pseudonym: String,
    pub user_deleted: bool,
    pub sessions_deleted: usize,
    pub api_keys_deleted: usize,
    pub notifications_deleted: usize,
    pub share_links_deleted: usize,
    /// Saved queries and dashboards now owned by the admin who erased.
    pub saved_queries_transferred: usize,
    pub dashboards_transferred: usize,
    pub approvals_anonymised: usize,
    /// Configuration versions that named the user (author, owner).
    pub config_versions_anonymised: usize,
    pub audit_entries_anonymised: usize,
    /// Entries written before pseudonyms existed: their hash covers the clear name.
    pub audit_entries_kept: usize,
}

async fn delete_all<T: Entity>(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    field: &str,
    username: &str,
) -> ApiResult<usize> {
    let mut n = 0;
    for v in matching(state, scope, T::COLLECTION, Some(field), username).await? {
        let rec: T = decode(v)?;
        let id = rec.id().to_string();
        if state
            .writer
            .delete::<T>(scope, actor, &id, None)
            .await?
            .is_some()
        {
            n += 1;
        }
    }
    Ok(n)
}

async fn rewrite_all<T: Entity>(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    field: &str,
    username: &str,
    mut change: impl FnMut(&mut T) + Send + Copy,
) -> ApiResult<usize> {
    let mut n = 0;
    for v in matching(state, scope, T::COLLECTION, Some(field), username).await? {
        let rec: T = decode(v)?;
        let id = rec.id().to_string();
        if state
            .writer
            .modify::<T>(scope, actor, &id, &mut change)
            .await?
            .is_some()
        {
            n += 1;
        }
    }
    Ok(n)
}

/// Replaces the user's clear name in the audit log by their pseudonym; `(done, kept)`.
async fn anonymise_audit(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
) -> ApiResult<(usize, usize)> {
    let (mut done, mut kept) = (0, 0);
    for mut e in audit_of(state, scope, username).await? {
        let b = &mut e.body;
        let mut changed = false;
        let mut legacy = false;
        if b.actor == username {
            if b.actor_ref.is_empty() {
                legacy = true;
            } else {
                b.actor = b.actor_ref.clone();
                changed = true;
            }
        }
        if b.impersonator.as_deref() == Some(username) {
            match &b.impersonator_ref {
                Some(r) => {
                    b.impersonator = Some(r.clone());
                    changed = true;
                }
                None => legacy = true,
            }
        }
        if legacy {
            kept += 1;
        }
        if changed {
            let rev = e.meta.revision;
            state
                .writer
                .save(
                    scope,
                    &Actor::System,
                    e,
                    crate::store::Expect::Revision(rev),
                )
                .await?;
            done += 1;
        }
    }
    Ok((done, kept))
}

#[utoipa::path(post, path = "/api/v1/users/{username}/erase", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 200, body = ErasureReport, description = "the user and their personal data are gone; \
            the audit log names them by a pseudonym and still verifies"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "admins cannot erase themselves")),
    security(("bearer" = [])))]
pub async fn erase(
    State(state): State<SharedState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<Json<ErasureReport>> {
    caller.require(Role::Admin)?;
    if username == caller.username {
        return Err(ApiError::invalid(
            "username",
            "admins cannot erase themselves",
        ));
    }
    let scope = &caller.scope;
    let user = state.store.get_as::<UserRecord>(scope, &username).await?;
    let trail = audit_of(&state, scope, &username).await?;
    if user.is_none() && trail.is_empty() {
        return Err(ApiError::NotFound(format!("user {username}")));
    }
    let actor = caller.actor();
    let pseudonym = pseudonyms(&state, scope).of(&username);
    let user_deleted = match user {
        Some(_) => state
            .writer
            .delete::<UserRecord>(scope, &actor, &username, None)
            .await?
            .is_some(),
        None => false,
    };
    use crate::{
        auth::apikeys::model::ApiKeyRecord,
        bi::{
            dashboards::model::DashboardRecord, queries::model::SavedQuery,
            shares::model::ShareLink,
        },
        events::notifications::NotificationRecord,
        governance::approvals::model::ApprovalRecord,
    };
    let new_owner = caller.username.clone();
    let p = pseudonym.clone();
    let (audit_done, audit_kept) = anonymise_audit(&state, scope, &username).await?;
    let report = ErasureReport {
        sessions_deleted: delete_all::<SessionRecord>(&state, scope, &actor, "username", &username)
            .await?,
        api_keys_deleted: delete_all::<ApiKeyRecord>(&state, scope, &actor, "owner", &username)
            .await?,
        notifications_deleted: delete_all::<NotificationRecord>(
            &state, scope, &actor, "username", &username,
        )
        .await?,
        share_links_deleted: delete_all::<ShareLink>(&state, scope, &actor, "owner", &username)
            .await?,
        saved_queries_transferred: rewrite_all::<SavedQuery>(
            &state,
            scope,
            &actor,
            "owner",
            &username,
            |q| q.owner = new_owner.clone(),
        )
        .await?,
        dashboards_transferred: rewrite_all::<DashboardRecord>(
            &state,
            scope,
            &actor,
            "owner",
            &username,
            |d| d.owner = new_owner.clone(),
        )
        .await?,
        approvals_anonymised: rewrite_all::<ApprovalRecord>(
            &state,
            scope,
            &actor,
            "requester",
            &username,
            |a| a.requester = p.clone(),
        )
        .await?,
        config_versions_anonymised: anonymise_versions(&state, scope, &username, &pseudonym)
            .await?,
        audit_entries_anonymised: audit_done,
        audit_entries_kept: audit_kept,
        pseudonym,
        user_deleted,
    };
    tracing::info!(tenant = scope.tenant(), by = %caller.username, pseudonym = %report.pseudonym, "user erased");
    Ok(Json(report))
}

/// The erase request's own audit target names the pseudonym, not the erased name.
pub fn erase_target(
    state: &AppState,
    scope: &TenantScope,
    template: &str,
    path: &str,
) -> Option<String> {
    if template != "/api/v1/users/{username}/erase" {
        return None;
    }
    let name = path.split('/').nth(4)?;
    let name = percent_decode(name);
    Some(format!(
        "/api/v1/users/{}/erase",
        pseudonyms(state, scope).of(&name)
    ))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

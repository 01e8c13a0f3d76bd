//! The in-app inbox: one record per notice and recipient, listed newest first by the
//! recipient only, marked read one by one or all at once.
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Caller,
    http::{ApiError, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{fields, write::Actor, Expect, ListQuery, Meta, StoreExt, TenantScope},
};

/// Notices kept per user listing (newest first); older ones stay stored.
const LIST_MAX: usize = 200;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRecord {
    pub id: String,
    pub username: String,
    /// `approval.requested`, `approval.decided`, …
    pub kind: String,
    pub title: String,
    pub body: String,
    /// API path of what it is about (`/api/v1/approvals/…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub read: bool,
    /// `createdAt` comes with the write path's stamps (a second field of that name here
    /// serialized twice and hid the real time).
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    NotificationRecord,
    Notifications,
    id,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"username": self.username, "read": self.read}))
    }
}

/// A notice to send.
pub struct Notice<'a> {
    pub kind: &'a str,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
}

/// Puts the notice in each recipient's inbox. Ids sort by time, so a page is newest last.
pub async fn notify(
    state: &AppState,
    scope: &TenantScope,
    recipients: &[String],
    notice: &Notice<'_>,
) -> ApiResult<()> {
    let now = Utc::now();
    for user in recipients {
        let rec = NotificationRecord {
            id: format!(
                "{}-{}",
                now.format("%Y%m%d%H%M%S%6f"),
                crate::crypto::random_id()
            ),
            username: user.clone(),
            kind: notice.kind.to_string(),
            title: notice.title.clone(),
            body: notice.body.clone(),
            link: notice.link.clone(),
            read: false,
            meta: Meta::default(),
        };
        state
            .writer
            .save(scope, &Actor::System, rec, Expect::Absent)
            .await?;
    }
    Ok(())
}

/// Removes the tenant's notifications unchanged (not created, not read) for longer than the
/// settings' `notifications.retentionDays`, as of `now`. Returns how many went.
pub async fn prune(state: &AppState, scope: &TenantScope, now: DateTime<Utc>) -> ApiResult<u64> {
    let days = crate::admin::settings::effective(state, scope)
        .await?
        .settings
        .notifications
        .retention_days;
    let mut q = ListQuery::default().limit(500);
    q.updated_before = Some(now - chrono::Duration::days(days.into()));
    let mut removed = 0;
    // Bounded per run: what is left goes on the next one.
    for _ in 0..20 {
        let page = state.store.page_as::<NotificationRecord>(scope, &q).await?;
        if page.items.is_empty() {
            break;
        }
        for n in page.items {
            let gone = state
                .writer
                .delete::<NotificationRecord>(scope, &Actor::System, &n.id, None)
                .await?;
            removed += u64::from(gone.is_some());
        }
    }
    Ok(removed)
}

/// Prunes every tenant's old notifications every `every`, for the life of the server.
pub async fn prune_loop(state: SharedState, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let tenants = match crate::store::Store::tenants(state.store.as_ref()).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "notification retention: tenants not listed");
                continue;
            }
        };
        for scope in tenants {
            match prune(&state, &scope, Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenant = scope.tenant(), n, "old notifications removed"),
                Err(e) => {
                    tracing::warn!(tenant = scope.tenant(), error = %e, "notification retention failed")
                }
            }
        }
    }
}

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/notifications", get(list))
        .route("/api/v1/notifications/{id}/read", post(mark_read))
        .route("/api/v1/notifications/read-all", post(mark_all_read))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct InboxParams {
    /// Only unread notices.
    #[serde(default)]
    pub unread: bool,
}

async fn mine(
    state: &AppState,
    caller: &Caller,
    unread: bool,
) -> ApiResult<Vec<NotificationRecord>> {
    let mut q = ListQuery::default().filter("username", caller.username.as_str());
    if unread {
        q = q.filter("read", false);
    }
    let mut all = state
        .store
        .page_as::<NotificationRecord>(&caller.scope, &q)
        .await?
        .items;
    all.reverse();
    all.truncate(LIST_MAX);
    Ok(all)
}

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(InboxParams),
    responses((status = 200, body = Vec<NotificationRecord>, description = "the caller's notices, newest first (at most 200)"),
        (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<InboxParams>,
) -> ApiResult<Json<Vec<NotificationRecord>>> {
    Ok(Json(mine(&state, &caller, p.unread).await?))
}

#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn mark_read(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let n = state
        .store
        .get_as::<NotificationRecord>(&caller.scope, &id)
        .await?;
    // Someone else's notice is as good as missing.
    let n = n
        .filter(|n| n.username == caller.username)
        .ok_or_else(|| ApiError::NotFound(format!("notification {id}")))?;
    if !n.read {
        state
            .writer
            .modify::<NotificationRecord>(&caller.scope, &caller.actor(), &n.id, |n| n.read = true)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications",
    responses((status = 204), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn mark_all_read(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<StatusCode> {
    for n in mine(&state, &caller, true).await? {
        state
            .writer
            .modify::<NotificationRecord>(&caller.scope, &caller.actor(), &n.id, |n| n.read = true)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

//! Backups and restores of the tenant's control-plane data (admin only), and the backup
//! schedules declared for it. See the README ("Backup and restore") for the archive format and
//! what a backup holds.
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use utoipa::IntoParams;

pub mod archive;
pub mod destination;
mod digest;
pub mod domain;
pub mod journal;
pub mod model;
pub mod recovery;
pub mod restore;
pub mod retention;
pub mod schedules;

pub use domain::{BackupError, BackupsState};
pub use model::{BackupRecord, BackupState};

use crate::{
    auth::{Caller, Role},
    http::{
        paging::{PageParams, Paged},
        precondition::Tagged,
        ApiError, ApiJson, ApiResult, Problem,
    },
    state::SharedState,
    store::StoreExt,
};
use model::{BackupRequest, RestoreReport, RestoreRequest, VerifyReport};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/admin/backups", get(list).post(create))
        .route("/api/v1/admin/backups/{id}", get(get_one).delete(delete))
        .route("/api/v1/admin/backups/{id}/verify", post(verify))
        .route("/api/v1/admin/restores", post(restore))
        .route("/api/v1/backup/schedules", get(schedules::schedules))
}

/// An absent or empty body is the default request; anything else must be JSON.
fn optional_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<BackupRequest> {
    let req: BackupRequest = crate::http::body::optional_json(headers, body)?;
    check_request(&req)?;
    Ok(req)
}

/// What both ways of starting a backup (the admin API and the operator's) check.
pub fn check_request(req: &BackupRequest) -> ApiResult<()> {
    if req.note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(ApiError::invalid("note", "at most 500 characters"));
    }
    if let Some(r) = &req.retention {
        retention::check(r)
            .map_err(|(field, why)| ApiError::invalid(format!("retention.{field}"), why))?;
    }
    if req
        .request_id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.chars().count() > 128)
    {
        return Err(ApiError::invalid("requestId", "1 to 128 characters"));
    }
    Ok(())
}

/// `202` for a backup just started, `200` for the one an earlier request with the same
/// `requestId` started; either way with its URL.
pub fn started(rec: &BackupRecord, new: bool, url: String) -> Response {
    let status = if new {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let mut resp = (status, Json(rec)).into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

#[utoipa::path(post, path = "/api/v1/admin/backups", tag = "admin",
    request_body(content = Option<BackupRequest>, description = "optional (no body: not pinned, no note, the instance's retention)"),
    responses(
        (status = 202, body = BackupRecord, description = "the backup, `Pending`; it runs in the background (poll `GET …/backups/{id}`); once `Completed`, retention prunes older ones",
            headers(("location" = String, description = "the backup's URL"))),
        (status = 200, body = BackupRecord, description = "an earlier request had this `requestId`: the backup it started, in its current state; nothing new is started",
            headers(("location" = String, description = "the backup's URL"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "`note` too long, `retention.<field>` out of bounds, or `requestId` empty or too long")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let req = optional_body(&headers, &body)?;
    let (rec, new) = domain::start(&state, &caller, req)
        .await
        .map_err(|e| e.into_api("id"))?;
    let url = format!("/api/v1/admin/backups/{}", rec.id);
    Ok(started(&rec, new, url))
}

#[utoipa::path(get, path = "/api/v1/admin/backups", tag = "admin", params(PageParams),
    responses(
        (status = 200, body = Vec<BackupRecord>, description = "oldest first",
            headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<BackupRecord>> {
    caller.require(Role::Admin)?;
    Ok(state
        .store
        .page_as::<BackupRecord>(&caller.scope, &page.query()?)
        .await?
        .into())
}

#[utoipa::path(get, path = "/api/v1/admin/backups/{id}", tag = "admin",
    params(("id" = String, Path, description = "backup id")),
    responses(
        (status = 200, body = BackupRecord, headers(("etag" = String, description = "the record's revision"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Tagged<BackupRecord>> {
    caller.require(Role::Admin)?;
    let rec = domain::load(&state, &caller.scope, &id)
        .await
        .map_err(|e| e.into_api("id"))?;
    Ok(Tagged(rec.meta.revision, rec))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Delete a pinned backup too.
    #[serde(default)]
    pub force: bool,
}

#[utoipa::path(delete, path = "/api/v1/admin/backups/{id}", tag = "admin",
    params(("id" = String, Path, description = "backup id"), DeleteParams),
    responses(
        (status = 204, description = "the archive and the record are gone"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "still running, or pinned without `force=true`")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    crate::http::ApiQuery(params): crate::http::ApiQuery<DeleteParams>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    domain::delete(&state, &caller, &id, params.force)
        .await
        .map_err(|e| e.into_api("id"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/admin/backups/{id}/verify", tag = "admin",
    params(("id" = String, Path, description = "backup id")),
    responses(
        (status = 200, body = VerifyReport, description = "every frame, part and checksum of the stored archive checked out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the backup is not completed"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "the archive is missing, corrupt, truncated or encrypted with another key (field `id`); the record keeps the outcome")),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<VerifyReport>> {
    caller.require(Role::Admin)?;
    domain::verify(&state, &caller.scope, &id)
        .await
        .map(Json)
        .map_err(|e| e.into_api("id"))
}

#[utoipa::path(post, path = "/api/v1/admin/restores", tag = "admin", request_body = RestoreRequest,
    description = "Restores a backup (`backup`), or recovers the tenant to a point in time (`targetTime`): the newest completed backup taken at or before it (or the given `backup`), then the change journal's entries after that backup's position up to `targetTime`, from the shipped segments and the entries not shipped yet. Either way the result is staged and swapped in atomically; `dryRun` only reports.",
    responses(
        (status = 200, body = RestoreReport, description = "restored (or, with `dryRun`, what a restore would change); with `targetTime`, `replayedChanges` counts the journal entries replayed"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "a restore of this tenant is already running, or its records kept changing while the restore compared them (three times)"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "bad input (`backup`, `only[i]`, `targetTime`: not RFC 3339, in the future, before the oldest backup, across a gap in the journal or an earlier restore, or before the given `backup` was taken), or the backup cannot be restored: not completed, archive missing, corrupt or encrypted with another key (field `backup`); nothing changed")),
    security(("bearer" = [])))]
pub async fn restore(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> ApiResult<Json<RestoreReport>> {
    caller.require(Role::Admin)?;
    restore::restore(&state, &caller, req).await.map(Json)
}

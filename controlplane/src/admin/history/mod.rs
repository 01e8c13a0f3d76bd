//! Configuration history (admin only): every version of settings, feature flags, data
//! sources, dashboards, saved queries and policies, with author, source and what changed; the
//! difference between two versions; and rollback to a version (itself a new version). Objects
//! the operator or the manifests folder own show that source and cannot be rolled back here.
use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    routing::{get, post},
    Json, Router,
};

pub mod domain;
pub mod model;

use model::{VersionDiff, VersionView};

use crate::{
    admin::monitoring::known_params,
    auth::{Caller, Role},
    http::{
        paging::{PageParams, Paged},
        ApiError, ApiResult, Problem,
    },
    state::SharedState,
    store::{
        history::{self, ConfigVersion},
        ListQuery, StoreExt,
    },
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/admin/history", get(list))
        .route(
            "/api/v1/admin/history/{kind}/{name}/versions/{version}",
            get(get_one),
        )
        .route(
            "/api/v1/admin/history/{kind}/{name}/versions/{version}/rollback",
            post(rollback),
        )
        .route("/api/v1/admin/history/{kind}/{name}/diff", get(diff))
}

/// A version from the path (parsed here, so a bad one is a problem naming it, not a bare 400).
fn path_version(v: &str) -> ApiResult<u64> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::invalid("version", "a version number (1, 2, …)"))
}

fn number(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<u64>> {
    q.get(key)
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::invalid(key, "a version number (1, 2, …)"))
        })
        .transpose()
}

#[utoipa::path(get, path = "/api/v1/admin/history", tag = "admin",
    params(
        ("kind" = Option<String>, Query, description = "settings, features, datasources, dashboards, queries or policies"),
        ("name" = Option<String>, Query, description = "one object (needs kind)"),
        ("limit" = Option<u32>, Query, description = "items per page (1 to 1000, default 100)"),
        ("cursor" = Option<String>, Query, description = "the X-Next-Cursor of the previous page")),
    responses(
        (status = 200, body = Vec<VersionView>, description = "versions without their values, newest first within each object (objects in kind and name order)",
            headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "unknown kind or parameter, name without kind, bad limit (field names it)")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Paged<VersionView>> {
    caller.require(Role::Admin)?;
    known_params(&q, &["kind", "name", "limit", "cursor"])?;
    let limit = number(&q, "limit")?
        .map(|l| u32::try_from(l).unwrap_or(u32::MAX))
        .or(None);
    let page = PageParams {
        limit,
        cursor: q.get("cursor").cloned(),
    }
    .query()?;
    let mut lq = ListQuery::default();
    match (q.get("kind"), q.get("name")) {
        (Some(kind), name) => {
            domain::check_kind(kind)?;
            // Version ids start with the kind and name: the store reads only their range.
            lq = lq.filter("kind", kind.as_str());
            lq = match name {
                Some(n) => lq
                    .filter("name", n.as_str())
                    .id_prefix(history::version_prefix(kind, n)),
                None => lq.id_prefix(format!("{kind}:")),
            };
        }
        (None, Some(_)) => return Err(ApiError::invalid("kind", "required with name")),
        (None, None) => {}
    }
    lq.limit = page.limit;
    lq.after = page.after;
    lq.descending = true;
    let found = state
        .store
        .page_as::<ConfigVersion>(&caller.scope, &lq)
        .await?;
    Ok(Paged::from(found).map(|v| VersionView::of(v, false)))
}

#[utoipa::path(get, path = "/api/v1/admin/history/{kind}/{name}/versions/{version}", tag = "admin",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = u64, Path)),
    responses(
        (status = 200, body = VersionView, description = "the version with the object as it then was (credentials redacted)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such version (or it was dropped: the newest 200 are kept)"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "unknown kind, or a version that is no number (field names it)")),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path((kind, name, version)): Path<(String, String, String)>,
) -> ApiResult<Json<VersionView>> {
    caller.require(Role::Admin)?;
    let version = path_version(&version)?;
    let v = domain::load(&state, &caller.scope, &kind, &name, version).await?;
    Ok(Json(VersionView::of(v, true)))
}

#[utoipa::path(get, path = "/api/v1/admin/history/{kind}/{name}/diff", tag = "admin",
    params(("kind" = String, Path), ("name" = String, Path),
        ("from" = Option<u64>, Query, description = "the older version (default: the one before `to`)"),
        ("to" = Option<u64>, Query, description = "the newer version (default: the newest)")),
    responses(
        (status = 200, body = VersionDiff, description = "a JSON Patch from `from` to `to`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such object or version"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "unknown kind or parameter, bad version number (field names it)")),
    security(("bearer" = [])))]
pub async fn diff(
    State(state): State<SharedState>,
    caller: Caller,
    Path((kind, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<VersionDiff>> {
    caller.require(Role::Admin)?;
    known_params(&q, &["from", "to"])?;
    domain::check_kind(&kind)?;
    let to = match number(&q, "to")? {
        Some(t) => t,
        None => {
            domain::latest(&state, &caller.scope, &kind, &name)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("history of {kind} {name}")))?
                .version
        }
    };
    let from = number(&q, "from")?.unwrap_or(to.saturating_sub(1));
    let newer = domain::load(&state, &caller.scope, &kind, &name, to).await?;
    let older = if from == 0 {
        None
    } else {
        Some(domain::load(&state, &caller.scope, &kind, &name, from).await?)
    };
    let before = older.as_ref().and_then(|v| v.value.as_ref());
    let after = newer.value.as_ref();
    Ok(Json(VersionDiff {
        patch: domain::patch(before, after),
        changes: history::changed_paths(
            before.map(history::unstamped).as_ref(),
            after.map(history::unstamped).as_ref(),
        ),
        kind,
        name,
        from,
        to,
    }))
}

#[utoipa::path(post, path = "/api/v1/admin/history/{kind}/{name}/versions/{version}/rollback", tag = "admin",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = u64, Path)),
    responses(
        (status = 200, body = VersionView, description = "the new version the rollback wrote (its rolledBackFrom names the version restored)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin, or the restored content needs an approval"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such version"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the object is owned by the operator or the manifests (field `origin`), the Tenant declares it, it changed meanwhile, or the version no longer reads"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "unknown kind, a version that is no number or is a deletion, or content that no longer passes validation (field names it)")),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<SharedState>,
    caller: Caller,
    Path((kind, name, version)): Path<(String, String, String)>,
) -> ApiResult<Json<VersionView>> {
    caller.require(Role::Admin)?;
    let version = path_version(&version)?;
    let v = domain::rollback(&state, &caller, &kind, &name, version).await?;
    Ok(Json(VersionView::of(v, true)))
}

//! Dashboards: CRUD on the `Dashboard` spec and rendering.
use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use nexbii_crds::{DashboardSpec, Publication};
use serde::Deserialize;
use utoipa::ToSchema;

pub mod domain;
pub mod model;

pub use domain::{DashboardData, WidgetData};
pub use model::DashboardRecord;

use super::refuse_provisioned;
use crate::{
    auth::{Caller, Role},
    http::{
        body::{check_name, parse_scoped_body},
        paging::{PageParams, Paged},
        precondition::{IfMatch, Tagged},
        ApiError, ApiResult, Problem,
    },
    state::SharedState,
    store::{Collection, Origin, Store, StoreExt},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/dashboards", get(list).post(create))
        .route(
            "/api/v1/dashboards/{name}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v1/dashboards/{name}/data", get(data))
        .route(
            "/api/v1/dashboards/{name}/widgets/{id}/data",
            get(widget_data),
        )
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DashboardInput {
    /// DNS-label id (create only).
    #[serde(default)]
    pub name: Option<String>,
    pub spec: DashboardSpec,
}

#[utoipa::path(get, path = "/api/v1/dashboards", tag = "dashboards", params(PageParams),
    responses((status = 200, body = Vec<DashboardRecord>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<DashboardRecord>> {
    let mut q = page.query()?;
    if caller.role < Role::Editor {
        q = q.filter(
            "publication",
            serde_json::to_value(Publication::Published).unwrap_or_default(),
        );
    }
    let mut page: Paged<DashboardRecord> = state
        .store
        .page_as::<DashboardRecord>(&caller.scope, &q)
        .await?
        .into();
    if caller.role < Role::Editor {
        // Publications waiting for approval stay hidden (the page may come out shorter).
        page.items.retain(DashboardRecord::visible_to_viewers);
    }
    Ok(page)
}

#[utoipa::path(post, path = "/api/v1/dashboards", tag = "dashboards", request_body = DashboardInput,
    responses((status = 201, body = DashboardRecord), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<DashboardRecord>)> {
    caller.require(Role::Editor)?;
    let input: DashboardInput = parse_scoped_body(&body, &caller.scope)?;
    let name = input
        .name
        .ok_or_else(|| ApiError::invalid("name", "required"))?;
    check_name(&name, "name")?;
    if state
        .store
        .get(&caller.scope, Collection::Dashboards, &name)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "dashboard {name} already exists"
        )));
    }
    let rec = domain::save(
        &state,
        &caller.scope,
        &caller.actor(),
        None,
        &name,
        input.spec,
        Origin::Api,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

#[utoipa::path(get, path = "/api/v1/dashboards/{name}", tag = "dashboards", params(("name" = String, Path)),
    responses((status = 200, body = DashboardRecord, headers(("etag" = String, description = "the revision, for If-Match"))),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Tagged<DashboardRecord>> {
    let d = domain::load_visible(&state, &caller, &name).await?;
    Ok(Tagged(d.meta.revision, (*d).clone()))
}

#[utoipa::path(put, path = "/api/v1/dashboards/{name}", tag = "dashboards",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "revision the change is based on")),
    request_body = DashboardInput,
    responses((status = 200, body = DashboardRecord), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    if_match: IfMatch,
    body: axum::body::Bytes,
) -> ApiResult<Json<DashboardRecord>> {
    caller.require(Role::Editor)?;
    let existing = domain::load_visible(&state, &caller, &name).await?;
    refuse_provisioned("dashboard", &name, existing.origin)?;
    if_match.check(&format!("dashboard {name}"), existing.meta.revision)?;
    let input: DashboardInput = parse_scoped_body(&body, &caller.scope)?;
    if input.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid("name", "cannot rename"));
    }
    Ok(Json(
        domain::save(
            &state,
            &caller.scope,
            &caller.actor(),
            Some(&existing),
            &name,
            input.spec,
            Origin::Api,
        )
        .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/dashboards/{name}", tag = "dashboards",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "revision the deletion is based on")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    caller.require(Role::Editor)?;
    let existing = domain::load_visible(&state, &caller, &name).await?;
    refuse_provisioned("dashboard", &name, existing.origin)?;
    let rev = if_match.check(&format!("dashboard {name}"), existing.meta.revision)?;
    state
        .writer
        .delete::<DashboardRecord>(&caller.scope, &caller.actor(), &name, Some(rev))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

const NDJSON: &str = "application/x-ndjson";
const SSE: &str = "text/event-stream";

/// How the client wants a dashboard's data: one JSON document, or widgets as they complete.
fn streamed_as(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    [NDJSON, SSE].into_iter().find(|t| accept.contains(t))
}

#[utoipa::path(get, path = "/api/v1/dashboards/{name}/data", tag = "dashboards",
    params(("name" = String, Path), ("refresh" = Option<bool>, Query, description = "bypass the cache"),
        ("Accept" = Option<String>, Header, description = "`application/x-ndjson` or `text/event-stream` to receive each widget as it completes")),
    responses(
        (status = 200, description = "every widget, or each widget as it completes", content(
            (DashboardData = "application/json"),
            (WidgetData = "application/x-ndjson"),
            (WidgetData = "text/event-stream"))),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn data(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(mut q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let started = std::time::Instant::now();
    let d = domain::load_visible(&state, &caller, &name).await?;
    let refresh = q.remove("refresh").is_some_and(|v| v == "true" || v == "1");
    let vars = domain::resolve_variables(&d.spec, &q)?;
    if let Some(kind) = streamed_as(&headers) {
        let widgets =
            domain::render_as_completed(state.clone(), caller, d, Arc::new(vars), refresh);
        return Ok(stream_widgets(kind, widgets));
    }
    let widgets = domain::render(&state, &caller, &d, &vars, refresh).await;
    Ok(Json(DashboardData {
        name,
        variables: vars,
        widgets,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
    .into_response())
}

/// One line (NDJSON) or one `widget` event (SSE) per widget, then an `end` event for SSE.
fn stream_widgets(
    kind: &'static str,
    widgets: impl futures::Stream<Item = WidgetData> + Send + 'static,
) -> Response {
    use futures::StreamExt;
    let frame = move |w: &WidgetData| {
        let json = serde_json::to_string(w).unwrap_or_default();
        match kind {
            SSE => format!("event: widget\ndata: {json}\n\n"),
            _ => format!("{json}\n"),
        }
    };
    let body = widgets.map(move |w| Ok::<_, std::convert::Infallible>(frame(&w)));
    let body = match kind {
        SSE => body
            .chain(futures::stream::once(async {
                Ok("event: end\ndata: {}\n\n".to_string())
            }))
            .boxed(),
        _ => body.boxed(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/dashboards/{name}/widgets/{id}/data", tag = "dashboards",
    params(("name" = String, Path), ("id" = String, Path), ("refresh" = Option<bool>, Query, description = "bypass the cache")),
    responses((status = 200, body = WidgetData), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn widget_data(
    State(state): State<SharedState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    Query(mut q): Query<HashMap<String, String>>,
) -> ApiResult<Json<WidgetData>> {
    let d = domain::load_visible(&state, &caller, &name).await?;
    let w = d
        .spec
        .widgets
        .iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("widget {id} of dashboard {name}")))?;
    let refresh = q.remove("refresh").is_some_and(|v| v == "true" || v == "1");
    let vars = domain::resolve_variables(&d.spec, &q)?;
    Ok(Json(
        domain::render_widget(&state, &caller, &d.name, w, &vars, refresh).await,
    ))
}

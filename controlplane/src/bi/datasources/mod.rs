//! Data sources: CRUD (credentials write-only), connection test, schema discovery.
use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use nexbii_crds::DataSourceType;

pub mod domain;
pub mod model;
pub mod status;

pub use domain::{engine_error, resolve};
pub use model::{DataSourceInput, DataSourceRecord, DataSourceView};

use super::refuse_provisioned;
use crate::{
    auth::{Caller, Role},
    engine::{ConnectionTest, SchemaInfo},
    http::{
        body::{check_name, parse_scoped_body},
        paging::{PageParams, Paged},
        precondition::{IfMatch, Tagged},
        ApiError, ApiResult, Problem,
    },
    state::SharedState,
    store::{Collection, ListQuery, Origin, Store, StoreExt},
};
use status::SourceStatus;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/datasources", get(list).post(create))
        .route(
            "/api/v1/datasources/{name}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/v1/datasources/{name}/test", post(test))
        .route("/api/v1/datasources/{name}/sync", post(sync))
        .route("/api/v1/datasources/{name}/schema", get(schema))
}

#[utoipa::path(get, path = "/api/v1/datasources", tag = "datasources", params(PageParams),
    responses((status = 200, body = Vec<DataSourceView>,
        headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(page): crate::http::ApiQuery<PageParams>,
) -> ApiResult<Paged<DataSourceView>> {
    let page = state
        .store
        .page_as::<DataSourceRecord>(&caller.scope, &page.query()?)
        .await?;
    // One read for every status: a tenant has few sources (its quota), a page may list them all.
    let mut statuses: std::collections::HashMap<String, SourceStatus> = state
        .store
        .list_as::<SourceStatus>(&caller.scope)
        .await?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let items = page
        .items
        .iter()
        .map(|rec| DataSourceView::with_status(rec, statuses.remove(&rec.name)))
        .collect();
    Ok(Paged {
        items,
        next: page.next,
    })
}

#[utoipa::path(post, path = "/api/v1/datasources", tag = "datasources", request_body = DataSourceInput,
    responses((status = 201, body = DataSourceView),
        (status = 202, body = crate::governance::approvals::ApprovalRecord,
            description = "the policy holds new data sources for approval: the request (new, or the caller's open one for this name and spec); create it again once approved"),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    caller.require(Role::Admin)?;
    let input: DataSourceInput = parse_scoped_body(&body, &caller.scope)?;
    let name = input
        .name
        .ok_or_else(|| ApiError::invalid("name", "required"))?;
    check_name(&name, "name")?;
    if state
        .store
        .get(&caller.scope, Collection::DataSources, &name)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "data source {name} already exists"
        )));
    }
    let tenant = state.tenant(&caller.scope).await?;
    let count = state
        .store
        .count(
            &caller.scope,
            Collection::DataSources,
            &ListQuery::default(),
        )
        .await?;
    if count >= tenant.spec.limits.max_data_sources as u64 {
        return Err(ApiError::Conflict(format!(
            "data source quota of {} reached",
            tenant.spec.limits.max_data_sources
        )));
    }
    if input.spec.source_type == DataSourceType::Sqlite {
        domain::confined_sqlite_path(&state, input.spec.path.as_deref().unwrap_or_default())?;
    }
    if let Some(held) = approval_gate(&state, &caller, &name, &input.spec).await? {
        return Ok((StatusCode::ACCEPTED, Json(held)).into_response());
    }
    let rec = domain::save(
        &state,
        &caller.scope,
        &caller.actor(),
        None,
        domain::SaveSource {
            name: &name,
            spec: input.spec,
            password: Some(input.password),
            origin: Origin::Api,
            base_dir: None,
        },
    )
    .await?;
    status::check_later(state.clone(), caller.scope.clone(), rec.clone());
    Ok((StatusCode::CREATED, Json(DataSourceView::from(&rec))).into_response())
}

/// Holds the creation for approval when the tenant's policy says so; an approval granted to
/// the caller for this name and spec lets it through.
async fn approval_gate(
    state: &crate::state::AppState,
    caller: &Caller,
    name: &str,
    spec: &nexbii_crds::DataSourceSpec,
) -> ApiResult<Option<crate::governance::approvals::ApprovalRecord>> {
    use crate::governance::approvals::{self, domain::datasource_fingerprint, ApprovalSubject};
    let policies = state
        .governance
        .policies(&state.store, &caller.scope)
        .await?;
    let Some(rule) = approvals::datasource_rule(&policies) else {
        return Ok(None);
    };
    let spec = serde_json::to_value(spec).map_err(|e| ApiError::Internal(e.into()))?;
    let subject = ApprovalSubject::DataSourceCreation {
        name: name.to_string(),
        fingerprint: datasource_fingerprint(name, &spec),
        spec,
    };
    approvals::gate(state, &caller.scope, &caller.username, subject, Some(rule)).await
}

#[utoipa::path(get, path = "/api/v1/datasources/{name}", tag = "datasources", params(("name" = String, Path)),
    responses((status = 200, body = DataSourceView, headers(("etag" = String, description = "the revision, for If-Match"))),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Tagged<DataSourceView>> {
    let rec = domain::load(&state, &caller.scope, &name).await?;
    let status = state
        .store
        .get_as::<SourceStatus>(&caller.scope, &name)
        .await?;
    Ok(Tagged(
        rec.meta.revision,
        DataSourceView::with_status(&rec, status),
    ))
}

#[utoipa::path(put, path = "/api/v1/datasources/{name}", tag = "datasources",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "revision the change is based on")),
    request_body = DataSourceInput,
    responses((status = 200, body = DataSourceView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    if_match: IfMatch,
    body: axum::body::Bytes,
) -> ApiResult<Json<DataSourceView>> {
    caller.require(Role::Admin)?;
    let existing = domain::load(&state, &caller.scope, &name).await?;
    refuse_provisioned("data source", &name, existing.origin)?;
    if_match.check(&format!("data source {name}"), existing.meta.revision)?;
    let input: DataSourceInput = parse_scoped_body(&body, &caller.scope)?;
    if input.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid(
            "name",
            "cannot rename; create a new data source",
        ));
    }
    let rec = domain::save(
        &state,
        &caller.scope,
        &caller.actor(),
        Some(&existing),
        domain::SaveSource {
            name: &name,
            spec: input.spec,
            password: input.password.map(Some),
            origin: Origin::Api,
            base_dir: None,
        },
    )
    .await?;
    status::check_later(state.clone(), caller.scope.clone(), rec.clone());
    Ok(Json((&rec).into()))
}

#[utoipa::path(delete, path = "/api/v1/datasources/{name}", tag = "datasources",
    params(("name" = String, Path), ("If-Match" = Option<String>, Header, description = "revision the deletion is based on")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin)?;
    let existing = domain::load(&state, &caller.scope, &name).await?;
    refuse_provisioned("data source", &name, existing.origin)?;
    let rev = if_match.check(&format!("data source {name}"), existing.meta.revision)?;
    state
        .writer
        .delete::<DataSourceRecord>(&caller.scope, &caller.actor(), &name, Some(rev))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/datasources/{name}/test", tag = "datasources", params(("name" = String, Path)),
    responses((status = 200, body = ConnectionTest), (status = 404, body = Problem), (status = 502, body = Problem)), security(("bearer" = [])))]
pub async fn test(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ConnectionTest>> {
    caller.require(Role::Editor)?;
    let rec = domain::load(&state, &caller.scope, &name).await?;
    let src = resolve(&state, &caller.scope, &rec)?;
    let res = state
        .engine
        .test_connection(&src)
        .await
        .map_err(engine_error(&name))?;
    Ok(Json(res))
}

#[utoipa::path(get, path = "/api/v1/datasources/{name}/schema", tag = "datasources", params(("name" = String, Path)),
    responses((status = 200, body = SchemaInfo), (status = 404, body = Problem), (status = 502, body = Problem)), security(("bearer" = [])))]
pub async fn schema(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<SchemaInfo>> {
    caller.require(Role::Editor)?;
    let rec = domain::load(&state, &caller.scope, &name).await?;
    let src = resolve(&state, &caller.scope, &rec)?;
    Ok(Json(
        state
            .engine
            .schema(&src)
            .await
            .map_err(engine_error(&name))?,
    ))
}

#[utoipa::path(post, path = "/api/v1/datasources/{name}/sync", tag = "datasources", params(("name" = String, Path)),
    responses((status = 200, body = SourceStatus, description = "the check ran; `connected` and `lastError` say how it went"),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn sync(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<SourceStatus>> {
    caller.require(Role::Editor)?;
    let rec = domain::load(&state, &caller.scope, &name).await?;
    let (status, _changed) = status::check(&state, &caller.scope, &rec).await?;
    // Always, not only when this check saw the change: a background check may have seen it
    // first and still be revalidating; whoever asked for a sync reads dashboards that agree
    // with the schema it returned.
    crate::bi::dashboards::domain::revalidate(&state, &caller.scope, &name).await?;
    Ok(Json(status))
}

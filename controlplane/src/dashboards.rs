//! Dashboards: CRUD on the `Dashboard` spec and rendering (every widget's query, in parallel).
use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use chrono::Utc;
use nexbii_crds::{validate::variable_ref, DashboardSpec, FieldError, Publication, Validate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    auth::Caller,
    datasources::{check_name, parse_scoped_body},
    engine::QueryResult,
    error::{ApiError, ApiResult, Problem},
    models::{DashboardRecord, DataSourceRecord, Origin, Role},
    queries::{execute, QueryCall},
    state::{AppState, SharedState},
    store::{Collection, StoreExt, TenantScope},
};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DashboardInput {
    /// DNS-label id (create only).
    #[serde(default)]
    pub name: Option<String>,
    pub spec: DashboardSpec,
}

/// Widget problems that depend on the tenant's data: unknown data sources, refused statements.
/// Each entry: the widget id and the error naming its field.
async fn widget_errors(
    state: &AppState,
    scope: &TenantScope,
    spec: &DashboardSpec,
) -> ApiResult<Vec<(String, FieldError)>> {
    let sources: HashMap<String, DataSourceRecord> = state
        .store
        .list_as::<DataSourceRecord>(scope)
        .await?
        .into_iter()
        .map(|d| (d.name.clone(), d))
        .collect();
    let mut errs = Vec::new();
    for (i, w) in spec.widgets.iter().enumerate() {
        match sources.get(&w.query.data_source) {
            None => errs.push((
                w.id.clone(),
                FieldError::new(
                    format!("spec.widgets[{i}].query.dataSource"),
                    format!("no data source named {:?}", w.query.data_source),
                ),
            )),
            Some(src) => {
                if let Err(e) = state.engine.check(src.spec.source_type, &w.query.sql) {
                    errs.push((
                        w.id.clone(),
                        FieldError::new(format!("spec.widgets[{i}].query.sql"), e.to_string()),
                    ));
                }
            }
        }
    }
    Ok(errs)
}

/// Writes a dashboard. API writes must be fully valid; provisioned ones are stored with their
/// widget errors recorded (schema-level errors are refused either way).
pub async fn upsert(
    state: &AppState,
    scope: &TenantScope,
    name: &str,
    spec: DashboardSpec,
    origin: Origin,
    owner: &str,
) -> ApiResult<DashboardRecord> {
    let errs = spec.validate();
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let widget_errs = widget_errors(state, scope, &spec).await?;
    if origin == Origin::Api && !widget_errs.is_empty() {
        return Err(ApiError::Invalid(
            widget_errs.into_iter().map(|(_, e)| e).collect(),
        ));
    }
    let existing = state.store.get_as::<DashboardRecord>(scope, name).await?;
    let now = Utc::now();
    let rec = DashboardRecord {
        name: name.to_string(),
        validation_errors: widget_errs
            .iter()
            .map(|(id, e)| format!("{id}: {}", e.message))
            .collect(),
        spec,
        origin,
        owner: existing
            .as_ref()
            .map(|e| e.owner.clone())
            .unwrap_or_else(|| owner.to_string()),
        created_at: existing.as_ref().map(|e| e.created_at).unwrap_or(now),
        updated_at: now,
    };
    state.store.upsert_as(scope, &rec).await?;
    Ok(rec)
}

/// Viewers see published dashboards only; drafts are 404 to them.
async fn load_visible(state: &AppState, caller: &Caller, name: &str) -> ApiResult<DashboardRecord> {
    state
        .store
        .get_as::<DashboardRecord>(&caller.scope, name)
        .await?
        .filter(|d| caller.role >= Role::Editor || d.spec.publication == Publication::Published)
        .ok_or_else(|| ApiError::NotFound(format!("dashboard {name}")))
}

fn refuse_provisioned(d: &DashboardRecord) -> ApiResult<()> {
    if d.origin != Origin::Api {
        return Err(ApiError::Conflict(format!(
            "dashboard {} is provisioned from YAML ({:?}); change it there",
            d.name, d.origin
        )));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/dashboards", tag = "dashboards", responses((status = 200, body = Vec<DashboardRecord>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<DashboardRecord>>> {
    let all = state
        .store
        .list_as::<DashboardRecord>(&caller.scope)
        .await?;
    Ok(Json(
        all.into_iter()
            .filter(|d| caller.role >= Role::Editor || d.spec.publication == Publication::Published)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/dashboards", tag = "dashboards", request_body = DashboardInput,
    responses((status = 201, body = DashboardRecord), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
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
    let rec = upsert(
        &state,
        &caller.scope,
        &name,
        input.spec,
        Origin::Api,
        &caller.username,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rec)))
}

#[utoipa::path(get, path = "/api/v1/dashboards/{name}", tag = "dashboards", params(("name" = String, Path)),
    responses((status = 200, body = DashboardRecord), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<DashboardRecord>> {
    Ok(Json(load_visible(&state, &caller, &name).await?))
}

#[utoipa::path(put, path = "/api/v1/dashboards/{name}", tag = "dashboards", params(("name" = String, Path)), request_body = DashboardInput,
    responses((status = 200, body = DashboardRecord), (status = 404, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<DashboardRecord>> {
    caller.require(Role::Editor)?;
    let existing = load_visible(&state, &caller, &name).await?;
    refuse_provisioned(&existing)?;
    let input: DashboardInput = parse_scoped_body(&body, &caller.scope)?;
    if input.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid("name", "cannot rename"));
    }
    Ok(Json(
        upsert(
            &state,
            &caller.scope,
            &name,
            input.spec,
            Origin::Api,
            &caller.username,
        )
        .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/dashboards/{name}", tag = "dashboards", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Editor)?;
    let existing = load_visible(&state, &caller, &name).await?;
    refuse_provisioned(&existing)?;
    state
        .store
        .delete(&caller.scope, Collection::Dashboards, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetData {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<QueryResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardData {
    pub name: String,
    #[schema(value_type = Object)]
    pub variables: HashMap<String, Value>,
    pub widgets: Vec<WidgetData>,
    pub elapsed_ms: f64,
}

/// Variable values: from the query string, else the default; checked against the options.
fn resolve_variables(
    spec: &DashboardSpec,
    q: &HashMap<String, String>,
) -> ApiResult<HashMap<String, Value>> {
    let mut out = HashMap::new();
    for v in &spec.variables {
        let value = q.get(&v.name).or(v.default.as_ref());
        if let Some(val) = value {
            if !v.options.is_empty() && !v.options.contains(val) {
                return Err(ApiError::invalid(
                    v.name.clone(),
                    format!("must be one of {:?}", v.options),
                ));
            }
        }
        out.insert(
            v.name.clone(),
            value
                .map(|s| Value::String(s.clone()))
                .unwrap_or(Value::Null),
        );
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/v1/dashboards/{name}/data", tag = "dashboards",
    params(("name" = String, Path), ("refresh" = Option<bool>, Query, description = "bypass the cache")),
    responses((status = 200, body = DashboardData), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn data(
    State(state): State<SharedState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(mut q): Query<HashMap<String, String>>,
) -> ApiResult<Json<DashboardData>> {
    let started = std::time::Instant::now();
    let d = load_visible(&state, &caller, &name).await?;
    let refresh = q.remove("refresh").is_some_and(|v| v == "true" || v == "1");
    let vars = resolve_variables(&d.spec, &q)?;
    let access = caller.access_context();
    let jobs = d.spec.widgets.iter().map(|w| {
        let params: Vec<Value> = w
            .query
            .params
            .iter()
            .map(|p| {
                variable_ref(p)
                    .map(|v| vars.get(v).cloned().unwrap_or(Value::Null))
                    .unwrap_or_else(|| p.clone())
            })
            .collect();
        let (state, scope, access) = (&state, &caller.scope, &access);
        async move {
            let call = QueryCall {
                data_source: &w.query.data_source,
                sql: &w.query.sql,
                params: &params,
                limit: None,
                use_cache: !refresh,
            };
            match execute(state, scope, access, call).await {
                Ok(r) => WidgetData {
                    id: w.id.clone(),
                    result: Some(r),
                    error: None,
                },
                Err(e) => WidgetData {
                    id: w.id.clone(),
                    result: None,
                    error: Some(e.to_problem()),
                },
            }
        }
    });
    let widgets = futures::future::join_all(jobs).await;
    Ok(Json(DashboardData {
        name,
        variables: vars,
        widgets,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    }))
}

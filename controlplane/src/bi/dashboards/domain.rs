//! Dashboard logic: validation against the tenant's sources, saving, and rendering (every
//! widget through the query pipeline, in parallel).
use std::{collections::HashMap, sync::Arc};

use nexbii_crds::{validate::variable_ref, DashboardSpec, FieldError, Publication};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::model::DashboardRecord;
use crate::{
    auth::{Caller, Role},
    bi::{
        datasources::DataSourceRecord,
        queries::{execute, QueryCall},
    },
    engine::QueryResult,
    http::{ApiError, ApiResult, Problem},
    state::AppState,
    store::{write::Actor, Expect, Origin, StoreExt, TenantScope},
};

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

/// Writes a dashboard on top of `existing` (what the caller read; `None` to create). API writes
/// must be fully valid; provisioned ones are stored with their widget errors recorded
/// (schema-level errors are refused either way).
pub async fn save(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    existing: Option<&DashboardRecord>,
    name: &str,
    spec: DashboardSpec,
    origin: Origin,
) -> ApiResult<DashboardRecord> {
    let rec = DashboardRecord {
        name: name.to_string(),
        validation_errors: Vec::new(),
        spec,
        origin,
        owner: existing.map_or_else(
            || match actor {
                Actor::User(u) => u.clone(),
                other => other.label(),
            },
            |e| e.owner.clone(),
        ),
        meta: existing.map(|e| e.meta.clone()).unwrap_or_default(),
    };
    let spec_errs = crate::store::Entity::validate(&rec);
    if !spec_errs.is_empty() {
        return Err(ApiError::Invalid(spec_errs));
    }
    let widget_errs = widget_errors(state, scope, &rec.spec).await?;
    if origin == Origin::Api && !widget_errs.is_empty() {
        return Err(ApiError::Invalid(
            widget_errs.into_iter().map(|(_, e)| e).collect(),
        ));
    }
    let rec = DashboardRecord {
        validation_errors: widget_errs
            .iter()
            .map(|(id, e)| format!("{id}: {}", e.message))
            .collect(),
        ..rec
    };
    let expect = existing.map_or(Expect::Absent, |e| Expect::Revision(e.meta.revision));
    Ok(state.writer.save(scope, actor, rec, expect).await?)
}

/// Viewers see published dashboards only; drafts are 404 to them.
pub async fn load_visible(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> ApiResult<Arc<DashboardRecord>> {
    state
        .store
        .cached::<DashboardRecord>(&caller.scope, name)
        .await?
        .filter(|d| caller.role >= Role::Editor || d.spec.publication == Publication::Published)
        .ok_or_else(|| ApiError::NotFound(format!("dashboard {name}")))
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
pub fn resolve_variables(
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

/// Runs every widget's query in parallel; a failing widget carries its problem, the rest render.
pub async fn render(
    state: &AppState,
    caller: &Caller,
    d: &DashboardRecord,
    vars: &HashMap<String, Value>,
    refresh: bool,
) -> Vec<WidgetData> {
    let access = caller.access();
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
        let access = &access;
        async move {
            let call = QueryCall {
                data_source: &w.query.data_source,
                sql: &w.query.sql,
                params: &params,
                limit: None,
                use_cache: !refresh,
            };
            match execute(state, &caller.scope, access, call).await {
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
    futures::future::join_all(jobs).await
}

//! Dashboard logic: validation against the tenant's sources, saving, and rendering (every
//! widget through the query pipeline, in parallel).
use std::{collections::HashMap, sync::Arc};

use nexbii_crds::{validate::variable_ref, DashboardSpec, FieldError, Publication, Widget};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::model::{DashboardRecord, PublicationApproval};
use crate::{
    auth::{Caller, Role},
    bi::{
        datasources::DataSourceRecord,
        queries::{execute, QueryCall},
    },
    engine::{EngineError, QueryResult},
    governance::approvals::{ApprovalRecord, ApprovalStatus, ApprovalSubject},
    http::{ApiError, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{write::Actor, Expect, Origin, StoreExt, TenantScope},
    telemetry::dashboards::Timing,
};

/// A widget problem: which widget, the field, and whether it blocks an API save (a refused
/// statement or an unknown source do; a table or column the source lacks, or an unreachable
/// source, are recorded in `validationErrors` and checked again when the schema changes).
struct WidgetError {
    widget: String,
    error: FieldError,
    blocking: bool,
}

/// Widget problems that depend on the tenant's data: unknown data sources, refused statements,
/// tables or columns the source does not have (the source prepares the statement without
/// running it), unreachable sources.
async fn widget_errors(
    state: &AppState,
    scope: &TenantScope,
    spec: &DashboardSpec,
) -> ApiResult<Vec<WidgetError>> {
    let sources: HashMap<String, DataSourceRecord> = state
        .store
        .list_as::<DataSourceRecord>(scope)
        .await?
        .into_iter()
        .map(|d| (d.name.clone(), d))
        .collect();
    let mut errs = Vec::new();
    let mut unreachable: HashMap<String, String> = HashMap::new();
    for (i, w) in spec.widgets.iter().enumerate() {
        let err = |field: &str, message: String, blocking: bool| WidgetError {
            widget: w.id.clone(),
            error: FieldError::new(format!("spec.widgets[{i}].query.{field}"), message),
            blocking,
        };
        let Some(src) = sources.get(&w.query.data_source) else {
            let m = format!("no data source named {:?}", w.query.data_source);
            errs.push(err("dataSource", m, true));
            continue;
        };
        if let Err(e) = state.engine.check(src.spec.source_type, &w.query.sql) {
            errs.push(err("sql", e.to_string(), true));
            continue;
        }
        // A source that did not answer is not asked again for the next widget.
        if let Some(why) = unreachable.get(&src.name) {
            errs.push(err("dataSource", why.clone(), false));
            continue;
        }
        let resolved = crate::bi::datasources::resolve(state, scope, src)?;
        match state.engine.describe(&resolved, &w.query.sql).await {
            Ok(()) => {}
            Err(EngineError::Query(m) | EngineError::QueryAt(m, _)) => {
                errs.push(err("sql", m, false))
            }
            Err(e) => {
                let why = format!("data source {:?} cannot be checked: {e}", src.name);
                unreachable.insert(src.name.clone(), why.clone());
                errs.push(err("dataSource", why, false));
            }
        }
    }
    Ok(errs)
}

fn recorded(errs: &[WidgetError]) -> Vec<String> {
    errs.iter()
        .map(|e| format!("{}: {}", e.widget, e.error.message))
        .collect()
}

/// Validates the dashboards reading `source` again (its schema changed), recording what broke
/// or healed. Never refuses: the dashboards exist already.
pub async fn revalidate(state: &AppState, scope: &TenantScope, source: &str) -> ApiResult<()> {
    for d in state.store.list_as::<DashboardRecord>(scope).await? {
        if !d.spec.widgets.iter().any(|w| w.query.data_source == source) {
            continue;
        }
        let now = recorded(&widget_errors(state, scope, &d.spec).await?);
        if now == d.validation_errors {
            continue;
        }
        tracing::info!(tenant = scope.tenant(), dashboard = %d.name, errors = now.len(), "dashboard validated again after a schema change");
        state
            .writer
            .modify::<DashboardRecord>(scope, &Actor::System, &d.name, |rec| {
                rec.validation_errors = now.clone()
            })
            .await?;
    }
    Ok(())
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
        approval: None,
        meta: existing.map(|e| e.meta.clone()).unwrap_or_default(),
    };
    let spec_errs = crate::store::Entity::validate(&rec);
    if !spec_errs.is_empty() {
        return Err(ApiError::Invalid(spec_errs));
    }
    let widget_errs = widget_errors(state, scope, &rec.spec).await?;
    if origin == Origin::Api && widget_errs.iter().any(|e| e.blocking) {
        return Err(ApiError::Invalid(
            widget_errs
                .into_iter()
                .filter(|e| e.blocking)
                .map(|e| e.error)
                .collect(),
        ));
    }
    let approval = publication_approval(state, scope, actor, existing, name, &rec.spec).await?;
    let rec = DashboardRecord {
        validation_errors: recorded(&widget_errs),
        approval,
        ..rec
    };
    let expect = existing.map_or(Expect::Absent, |e| Expect::Revision(e.meta.revision));
    Ok(state.writer.save(scope, actor, rec, expect).await?)
}

fn spec_digest(spec: &DashboardSpec) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(serde_json::to_vec(spec).unwrap_or_default()))
}

/// A published dashboard under a policy that asks for approval keeps an approval that was
/// given for exactly this content, and otherwise asks for one.
async fn publication_approval(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    existing: Option<&DashboardRecord>,
    name: &str,
    spec: &DashboardSpec,
) -> ApiResult<Option<PublicationApproval>> {
    if spec.publication != Publication::Published {
        return Ok(None);
    }
    let policies = state.governance.policies(&state.store, scope).await?;
    let Some(rule) = crate::governance::approvals::publication_rule(&policies) else {
        return Ok(None);
    };
    let digest = spec_digest(spec);
    if let Some(a) = existing.and_then(|e| e.approval.as_ref()) {
        if a.spec_digest == digest && a.state != "Rejected" {
            return Ok(Some(a.clone()));
        }
    }
    let requester = match actor {
        Actor::User(u) => u.clone(),
        other => other.label(),
    };
    let subject = ApprovalSubject::DashboardPublication {
        dashboard: name.to_string(),
        spec_digest: digest.clone(),
    };
    let req = crate::governance::approvals::request(state, scope, &requester, subject, rule, None)
        .await?;
    Ok(Some(PublicationApproval {
        state: "Pending".into(),
        id: req.id,
        spec_digest: digest,
    }))
}

/// Applies a decided publication request to the dashboard it is about (if it still shows the
/// content that was decided).
pub async fn publication_decided(
    state: &AppState,
    scope: &TenantScope,
    name: &str,
    digest: &str,
    req: &ApprovalRecord,
) -> ApiResult<()> {
    let word = match req.status {
        ApprovalStatus::Approved => "Approved",
        ApprovalStatus::Rejected => "Rejected",
        _ => return Ok(()),
    };
    state
        .writer
        .modify::<DashboardRecord>(scope, &Actor::System, name, |d| {
            if let Some(a) = d
                .approval
                .as_mut()
                .filter(|a| a.id == req.id && a.spec_digest == digest)
            {
                a.state = word.into();
            }
        })
        .await?;
    Ok(())
}

/// Viewers see published (and, where required, approved) dashboards only; others are 404.
pub async fn load_visible(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> ApiResult<Arc<DashboardRecord>> {
    state
        .store
        .cached::<DashboardRecord>(&caller.scope, name)
        .await?
        .filter(|d| caller.role >= Role::Editor || d.visible_to_viewers())
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

/// Runs one widget's query through the pipeline with the dashboard's variables, and records
/// its load time (`telemetry::dashboards`).
pub async fn render_widget(
    state: &AppState,
    caller: &Caller,
    dashboard: &str,
    w: &Widget,
    vars: &HashMap<String, Value>,
    refresh: bool,
) -> WidgetData {
    let started = std::time::Instant::now();
    let data = run_widget(state, caller, w, vars, refresh).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let cached = data.result.as_ref().is_some_and(|r| r.cached);
    state.metrics.telemetry.dashboards.record_widget(
        crate::telemetry::now_s(),
        caller.scope.tenant(),
        dashboard,
        &w.id,
        Timing {
            ms,
            cached,
            failed: data.error.is_some(),
        },
    );
    data
}

/// A dashboard load in progress: it ends when its last widget is in.
struct Load {
    started: std::time::Instant,
    remaining: usize,
    all_cached: bool,
    any_failed: bool,
}

/// Renders one widget of a load, and records the load when it was the last.
async fn render_in_load(
    state: &AppState,
    caller: &Caller,
    dashboard: &str,
    w: &Widget,
    vars: &HashMap<String, Value>,
    refresh: bool,
    load: &std::sync::Mutex<Load>,
) -> WidgetData {
    let data = render_widget(state, caller, dashboard, w, vars, refresh).await;
    let mut l = load.lock().expect("load lock");
    l.remaining -= 1;
    l.all_cached &= data.result.as_ref().is_some_and(|r| r.cached);
    l.any_failed |= data.error.is_some();
    if l.remaining == 0 {
        state.metrics.telemetry.dashboards.record_load(
            crate::telemetry::now_s(),
            caller.scope.tenant(),
            dashboard,
            Timing {
                ms: l.started.elapsed().as_secs_f64() * 1000.0,
                cached: l.all_cached,
                failed: l.any_failed,
            },
        );
    }
    data
}

fn new_load(widgets: usize) -> Arc<std::sync::Mutex<Load>> {
    Arc::new(std::sync::Mutex::new(Load {
        started: std::time::Instant::now(),
        remaining: widgets,
        all_cached: true,
        any_failed: false,
    }))
}

async fn run_widget(
    state: &AppState,
    caller: &Caller,
    w: &Widget,
    vars: &HashMap<String, Value>,
    refresh: bool,
) -> WidgetData {
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
    let call = QueryCall {
        data_source: &w.query.data_source,
        sql: &w.query.sql,
        params: &params,
        limit: None,
        use_cache: !refresh,
    };
    match execute(state, &caller.scope, &caller.access(), call).await {
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

/// Runs every widget's query in parallel; a failing widget carries its problem, the rest render.
pub async fn render(
    state: &AppState,
    caller: &Caller,
    d: &DashboardRecord,
    vars: &HashMap<String, Value>,
    refresh: bool,
) -> Vec<WidgetData> {
    let load = new_load(d.spec.widgets.len());
    let jobs = d
        .spec
        .widgets
        .iter()
        .map(|w| render_in_load(state, caller, &d.name, w, vars, refresh, &load));
    futures::future::join_all(jobs).await
}

/// Every widget's result as it completes (fastest first), for streamed responses.
pub fn render_as_completed(
    state: SharedState,
    caller: Caller,
    d: Arc<DashboardRecord>,
    vars: Arc<HashMap<String, Value>>,
    refresh: bool,
) -> impl futures::Stream<Item = WidgetData> + Send + 'static {
    let load = new_load(d.spec.widgets.len());
    let jobs: futures::stream::FuturesUnordered<_> = (0..d.spec.widgets.len())
        .map(|i| {
            let (state, caller, d, vars) = (state.clone(), caller.clone(), d.clone(), vars.clone());
            let load = load.clone();
            async move {
                let w = &d.spec.widgets[i];
                render_in_load(&state, &caller, &d.name, w, &vars, refresh, &load).await
            }
        })
        .collect();
    jobs
}

//! Optimization suggestions from real evidence, computed on each request (a fix made since
//! makes its suggestion go away):
//! - `index`: the database's own plan (`EXPLAIN` on PostgreSQL and MySQL/MariaDB, `EXPLAIN
//!   QUERY PLAN` on SQLite) of the costliest fingerprints shows a full scan of a large table
//!   under a selective filter; the selectivity is the planner's estimate where it gives one,
//!   else the rows the fingerprint's runs returned;
//! - `unboundedResult`: no LIMIT, and runs return many rows;
//! - `selectStar`: `*` over a table the catalog knows to be wide;
//! - `sharedWidgetQuery`: the same widget query on several dashboards;
//! - `cacheTtl`: repeated executions returned the same result for longer than twice the
//!   tenant's cache TTL.
pub mod plans;
pub mod rules;
pub mod statement;

use std::collections::HashMap;

use nexbii_crds::DataSourceType;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    admin::settings,
    bi::{
        dashboards::DashboardRecord,
        datasources::{self, DataSourceRecord},
    },
    engine::{
        explain::{ExplainConn, Plan},
        guard::dialect_for,
    },
    governance::catalog::crawl,
    http::ApiResult,
    state::AppState,
    store::{StoreExt, TenantScope},
    telemetry::{fingerprint, queries::ResultTrace},
};

/// Fingerprints explained per request (the costliest by total time).
pub const EXPLAINED: usize = 10;
/// Fingerprints whose text and figures are looked at per request.
pub const EXAMINED: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Index,
    UnboundedResult,
    SelectStar,
    SharedWidgetQuery,
    CacheTtl,
}

/// A widget that runs a shared query.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetRef {
    pub dashboard: String,
    pub widget: String,
}

/// Why a suggestion is made; each kind fills the figures it rests on.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The statement that was looked at (the latest run of the fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    /// `index`: the plan step, e.g. `Seq Scan on public.big`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_node: Option<String>,
    /// `index`: the filter as the plan prints it (SQLite prints none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// `index`: rows the filter keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<f64>,
    /// `index`: `planner` (the plan's estimate) or `runs` (rows the runs returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selectivity_from: Option<String>,
    /// `index`: rows in the table (the database's estimate; counted on SQLite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_rows: Option<f64>,
    /// `unboundedResult`: rows returned per run, on average.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_per_run: Option<f64>,
    /// `selectStar`: columns of the table in the catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_columns: Option<usize>,
    /// `sharedWidgetQuery`: the widgets running the same query.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub widgets: Vec<WidgetRef>,
    /// `cacheTtl`: the tenant's cache TTL now (settings `query.cacheTtlSeconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_ttl_seconds: Option<u64>,
    /// `cacheTtl`: executions after the first, and how many returned the same result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reruns: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<u32>,
    /// `cacheTtl`: seconds the result has stayed the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_seconds: Option<u64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub kind: Kind,
    pub data_source: String,
    /// What to do, in one line.
    pub title: String,
    /// The table concerned (`index`, `selectStar`), schema-qualified when the plan says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// `index`: the columns to index, in the filter's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// `index`: the statement that would create the index (not run by NexBII).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// `cacheTtl`: the TTL to set, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_ttl_seconds: Option<u64>,
    pub evidence: Evidence,
}

/// A fingerprint whose plan could not be read, and why.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unexplained {
    pub fingerprint_id: String,
    pub data_source: String,
    pub reason: String,
}

/// `GET /api/v1/admin/performance/suggestions`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suggestions {
    /// Fingerprints whose plan was read.
    pub explained: u64,
    pub suggestions: Vec<Suggestion>,
    pub unexplained: Vec<Unexplained>,
}

/// One fingerprint as recorded, copied out of the telemetry lock.
#[derive(Clone)]
struct Candidate {
    source: String,
    source_type: DataSourceType,
    id: String,
    text: String,
    /// The latest statement without bound parameters (what can be explained).
    sample: Option<String>,
    runs: u64,
    total_ms: f64,
    p95: Option<f64>,
    rows_per_run: f64,
    trace: ResultTrace,
}

impl Candidate {
    fn evidence(&self) -> Evidence {
        Evidence {
            fingerprint_id: Some(self.id.clone()),
            fingerprint: Some(self.text.clone()),
            statement: Some(self.sample.clone().unwrap_or_else(|| self.text.clone())),
            runs: Some(self.runs),
            p95_ms: self.p95,
            ..Default::default()
        }
    }
}

fn source_type(s: &str) -> Option<DataSourceType> {
    match s {
        "postgresql" => Some(DataSourceType::Postgresql),
        "mysql" => Some(DataSourceType::Mysql),
        "sqlite" => Some(DataSourceType::Sqlite),
        _ => None,
    }
}

fn candidates(state: &AppState, scope: &TenantScope) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = state
        .metrics
        .telemetry
        .queries
        .read(scope.tenant(), |q| {
            q.fingerprints
                .values()
                .filter_map(|f| {
                    Some(Candidate {
                        source_type: source_type(f.source_type)?,
                        source: f.source.to_string(),
                        id: f.fingerprint.id(),
                        text: f.fingerprint.text.to_string(),
                        sample: f.sample.as_deref().map(str::to_string),
                        runs: f.agg.count,
                        total_ms: f.agg.total_ms,
                        p95: f.agg.quantile(0.95),
                        rows_per_run: f.agg.rows as f64 / f.agg.count.max(1) as f64,
                        trace: f.trace.clone(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    out.truncate(EXAMINED);
    out
}

fn quote(ident: &str, t: DataSourceType) -> String {
    let q = if t == DataSourceType::Mysql { '`' } else { '"' };
    format!("{q}{}{q}", ident.replace(q, &format!("{q}{q}")))
}

/// `CREATE INDEX` in the source's dialect (MySQL and SQLite need a name).
fn create_index(t: DataSourceType, schema: Option<&str>, table: &str, cols: &[String]) -> String {
    let qualified = match schema {
        Some(s) => format!("{}.{}", quote(s, t), quote(table, t)),
        None => quote(table, t),
    };
    let list = cols
        .iter()
        .map(|c| quote(c, t))
        .collect::<Vec<_>>()
        .join(", ");
    match t {
        DataSourceType::Postgresql => format!("CREATE INDEX ON {qualified} ({list})"),
        _ => {
            let name = format!("{table}_{}_idx", cols.join("_"));
            format!("CREATE INDEX {} ON {qualified} ({list})", quote(&name, t))
        }
    }
}

/// Index suggestions from one plan (no await: the dialect is not `Send`).
fn plan_findings(c: &Candidate, plan: &Plan) -> Vec<(plans::FullScan, Vec<String>)> {
    let scans = match plan {
        Plan::Postgres(v) => plans::postgres(v),
        Plan::Mysql(v) => plans::mysql(v),
        Plan::Sqlite(d) => plans::sqlite(d),
    };
    let dialect = dialect_for(c.source_type);
    let shape = c
        .sample
        .as_deref()
        .and_then(|s| statement::shape(s, &*dialect))
        .unwrap_or_default();
    scans
        .into_iter()
        .map(|scan| {
            let mut cols = if scan.filter.is_empty() {
                Vec::new()
            } else {
                plans::filter_columns(&scan.filter, &*dialect, &scan.table)
            };
            if cols.is_empty() {
                cols = shape
                    .filters
                    .iter()
                    .filter(|(t, _)| t.eq_ignore_ascii_case(&scan.table))
                    .map(|(_, c)| c.clone())
                    .collect();
            }
            (scan, cols)
        })
        .filter(|(_, cols)| !cols.is_empty())
        .collect()
}

async fn explain_source(
    state: &AppState,
    scope: &TenantScope,
    group: &[&Candidate],
    out: &mut Suggestions,
) {
    let source = &group[0].source;
    let unexplained = |reason: String| -> Vec<Unexplained> {
        group
            .iter()
            .map(|c| Unexplained {
                fingerprint_id: c.id.clone(),
                data_source: source.clone(),
                reason: reason.clone(),
            })
            .collect()
    };
    let rec = match state.store.get_as::<DataSourceRecord>(scope, source).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            out.unexplained
                .extend(unexplained("the data source no longer exists".into()));
            return;
        }
        Err(e) => {
            out.unexplained.extend(unexplained(e.to_string()));
            return;
        }
    };
    let mut conn = match datasources::resolve(state, scope, &rec) {
        Ok(src) => match ExplainConn::open(&src).await {
            Ok(c) => c,
            Err(e) => {
                out.unexplained.extend(unexplained(e.to_string()));
                return;
            }
        },
        Err(e) => {
            out.unexplained.extend(unexplained(e.to_string()));
            return;
        }
    };
    for c in group {
        let Some(sample) = c.sample.as_deref() else {
            continue;
        };
        let plan = match conn.plan(sample).await {
            Ok(p) => p,
            Err(e) => {
                out.unexplained.push(Unexplained {
                    fingerprint_id: c.id.clone(),
                    data_source: source.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        out.explained += 1;
        for (scan, columns) in plan_findings(c, &plan) {
            let rows = match conn.table_rows(scan.schema.as_deref(), &scan.table).await {
                Ok(r) => r,
                Err(_) => continue,
            };
            let (kept, from) = match scan.estimated_rows {
                Some(e) => (e, "planner"),
                None => (c.rows_per_run, "runs"),
            };
            if !rules::index_worthy(rows, kept) {
                continue;
            }
            let table = match &scan.schema {
                Some(s) => format!("{s}.{}", scan.table),
                None => scan.table.clone(),
            };
            let dup = out.suggestions.iter().any(|x| {
                x.kind == Kind::Index
                    && x.data_source == c.source
                    && x.table.as_deref() == Some(table.as_str())
                    && x.columns == columns
            });
            if dup {
                continue;
            }
            out.suggestions.push(Suggestion {
                kind: Kind::Index,
                data_source: c.source.clone(),
                title: format!("Index {table} on ({})", columns.join(", ")),
                sql: Some(create_index(
                    c.source_type,
                    scan.schema.as_deref(),
                    &scan.table,
                    &columns,
                )),
                suggested_ttl_seconds: None,
                evidence: Evidence {
                    plan_node: Some(scan.node.clone()),
                    filter: (!scan.filter.is_empty()).then(|| scan.filter.clone()),
                    estimated_rows: Some(kept),
                    selectivity_from: Some(from.into()),
                    table_rows: Some(rows),
                    ..c.evidence()
                },
                table: Some(table),
                columns,
            });
        }
    }
    conn.close().await;
}

/// `unboundedResult` and `selectStar` from the statement's text, its figures and the catalog.
async fn text_findings(
    state: &AppState,
    scope: &TenantScope,
    all: &[Candidate],
    out: &mut Suggestions,
) -> ApiResult<()> {
    let mut catalogs: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for c in all {
        let shape = {
            let dialect = dialect_for(c.source_type);
            statement::shape(c.sample.as_deref().unwrap_or(&c.text), &*dialect)
        };
        let Some(shape) = shape else { continue };
        if rules::unbounded(shape.bounded, c.rows_per_run) {
            out.suggestions.push(Suggestion {
                kind: Kind::UnboundedResult,
                data_source: c.source.clone(),
                title: format!(
                    "Bound this query's result (LIMIT, or aggregate): its runs return {:.0} rows on average",
                    c.rows_per_run
                ),
                table: None,
                columns: Vec::new(),
                sql: None,
                suggested_ttl_seconds: None,
                evidence: Evidence {
                    rows_per_run: Some(c.rows_per_run),
                    ..c.evidence()
                },
            });
        }
        if shape.wildcard_tables.is_empty() {
            continue;
        }
        if !catalogs.contains_key(&c.source) {
            let tables = crawl::existing(state, scope, &c.source).await?;
            let widths = tables
                .into_values()
                .filter(|t| !t.dropped)
                .map(|t| (t.name.to_lowercase(), t.columns.len()))
                .collect();
            catalogs.insert(c.source.clone(), widths);
        }
        for t in &shape.wildcard_tables {
            let Some(&n) = catalogs[&c.source].get(&t.to_lowercase()) else {
                continue;
            };
            if rules::wide(n) {
                out.suggestions.push(Suggestion {
                    kind: Kind::SelectStar,
                    data_source: c.source.clone(),
                    title: format!("Name the columns needed instead of * on {t} ({n} columns)"),
                    table: Some(t.clone()),
                    columns: Vec::new(),
                    sql: None,
                    suggested_ttl_seconds: None,
                    evidence: Evidence {
                        table_columns: Some(n),
                        ..c.evidence()
                    },
                });
            }
        }
    }
    Ok(())
}

/// `sharedWidgetQuery`: widget queries fingerprinted in their source's dialect.
async fn shared_findings(
    state: &AppState,
    scope: &TenantScope,
    out: &mut Suggestions,
) -> ApiResult<()> {
    let types: HashMap<String, DataSourceType> = state
        .store
        .list_as::<DataSourceRecord>(scope)
        .await?
        .into_iter()
        .map(|d| (d.name.clone(), d.spec.source_type))
        .collect();
    let mut uses = Vec::new();
    let mut texts = HashMap::new();
    for d in state.store.list_as::<DashboardRecord>(scope).await? {
        for w in &d.spec.widgets {
            let Some(t) = types.get(&w.query.data_source).copied() else {
                continue;
            };
            if t == DataSourceType::Mongodb {
                continue;
            }
            let fp = {
                let dialect = dialect_for(t);
                fingerprint::of_sql(&w.query.sql, &*dialect)
            };
            texts.insert(fp.hash, fp.text.to_string());
            uses.push(rules::WidgetUse {
                data_source: w.query.data_source.clone(),
                fingerprint: fp.hash,
                dashboard: d.name.clone(),
                widget: w.id.clone(),
            });
        }
    }
    for g in rules::shared(uses) {
        let mut dashboards: Vec<&str> = g.iter().map(|u| u.dashboard.as_str()).collect();
        dashboards.dedup();
        out.suggestions.push(Suggestion {
            kind: Kind::SharedWidgetQuery,
            data_source: g[0].data_source.clone(),
            title: format!(
                "{} widgets on {} dashboards run the same query: save it once as a saved query so they share one cached result",
                g.len(),
                dashboards.len()
            ),
            table: None,
            columns: Vec::new(),
            sql: None,
            suggested_ttl_seconds: None,
            evidence: Evidence {
                fingerprint_id: Some(format!("{:016x}", g[0].fingerprint)),
                fingerprint: texts.get(&g[0].fingerprint).cloned(),
                widgets: g
                    .iter()
                    .map(|u| WidgetRef {
                        dashboard: u.dashboard.clone(),
                        widget: u.widget.clone(),
                    })
                    .collect(),
                ..Default::default()
            },
        });
    }
    Ok(())
}

pub async fn suggestions(state: &AppState, scope: &TenantScope) -> ApiResult<Suggestions> {
    let all = candidates(state, scope);
    let mut out = Suggestions {
        explained: 0,
        suggestions: Vec::new(),
        unexplained: Vec::new(),
    };
    // Plans: the costliest fingerprints with an explainable statement, one connection per source.
    let mut explain: Vec<&Candidate> = all
        .iter()
        .filter(|c| c.sample.is_some())
        .take(EXPLAINED)
        .collect();
    explain.sort_by(|a, b| a.source.cmp(&b.source));
    for group in explain.chunk_by(|a, b| a.source == b.source) {
        explain_source(state, scope, group, &mut out).await;
    }
    text_findings(state, scope, &all, &mut out).await?;
    shared_findings(state, scope, &mut out).await?;
    // Cache TTL: the tenant's TTL against how long results stayed the same.
    let resolved = settings::domain::effective(state, scope).await?;
    let ttl = u64::from(resolved.settings.query.cache_ttl_seconds);
    let max = u64::from(resolved.limits.cache_ttl_seconds);
    for c in &all {
        if let Some(s) = rules::better_ttl(&c.trace, ttl, max) {
            out.suggestions.push(Suggestion {
                kind: Kind::CacheTtl,
                data_source: c.source.clone(),
                title: format!(
                    "Raise the cache TTL to {s} s: this query's result stayed the same for {} s over {} runs, the cache keeps it {ttl} s",
                    c.trace.stable_seconds(),
                    c.trace.reruns + 1
                ),
                table: None,
                columns: Vec::new(),
                sql: None,
                suggested_ttl_seconds: Some(s),
                evidence: Evidence {
                    cache_ttl_seconds: Some(ttl),
                    reruns: Some(c.trace.reruns),
                    unchanged: Some(c.trace.unchanged),
                    stable_seconds: Some(c.trace.stable_seconds()),
                    ..c.evidence()
                },
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_statements_in_each_dialect() {
        let cols = vec!["id".to_string(), "kind".to_string()];
        assert_eq!(
            create_index(DataSourceType::Postgresql, Some("public"), "big", &cols),
            r#"CREATE INDEX ON "public"."big" ("id", "kind")"#
        );
        assert_eq!(
            create_index(DataSourceType::Mysql, None, "big", &cols),
            "CREATE INDEX `big_id_kind_idx` ON `big` (`id`, `kind`)"
        );
        assert_eq!(
            create_index(DataSourceType::Sqlite, None, "big", &cols[..1]),
            r#"CREATE INDEX "big_id_idx" ON "big" ("id")"#
        );
    }
}

#[cfg(test)]
mod send {
    use super::*;

    fn is_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    fn futures_are_send(
        state: &AppState,
        scope: &TenantScope,
        src: &crate::engine::ResolvedSource,
    ) {
        is_send(&ExplainConn::open(src));
        is_send(&explain_source(
            state,
            scope,
            &[],
            &mut Suggestions {
                explained: 0,
                suggestions: vec![],
                unexplained: vec![],
            },
        ));
        is_send(&text_findings(
            state,
            scope,
            &[],
            &mut Suggestions {
                explained: 0,
                suggestions: vec![],
                unexplained: vec![],
            },
        ));
        is_send(&shared_findings(
            state,
            scope,
            &mut Suggestions {
                explained: 0,
                suggestions: vec![],
                unexplained: vec![],
            },
        ));
    }
}

//! Optimization suggestions from the database's own plan. For the tenant's costliest
//! fingerprints on PostgreSQL (by total time; those whose latest run had no bound parameters,
//! so the statement can be explained as it ran), `EXPLAIN (VERBOSE, FORMAT JSON)` — which plans
//! without running — is asked on a fresh read-only connection; a sequential scan of a large
//! table under a selective filter becomes an index suggestion naming the filter's columns,
//! with the plan node, the estimates and the fingerprint as evidence. Computed on each
//! request: an index created since makes the plan, and so the suggestion, go away.
use std::ops::ControlFlow;

use serde::Serialize;
use serde_json::Value;
use sqlparser::{
    ast::{visit_expressions, Expr},
    dialect::PostgreSqlDialect,
    parser::Parser,
};
use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection, Row};
use utoipa::ToSchema;

use crate::{
    bi::datasources::{self, DataSourceRecord},
    http::ApiResult,
    state::AppState,
    store::{StoreExt, TenantScope},
};

/// Fingerprints explained per request.
pub const CANDIDATES: usize = 10;
/// A table is large from this many rows (PostgreSQL's estimate, `pg_class.reltuples`).
pub const LARGE_TABLE_ROWS: f64 = 10_000.0;
/// A filter is selective when it keeps at most this share of the table's rows.
pub const SELECTIVE: f64 = 0.1;

/// A sequential scan with a filter, as found in a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqScan {
    pub schema: Option<String>,
    pub table: String,
    pub filter: String,
    /// Rows the planner expects the scan to return (after the filter).
    pub plan_rows: f64,
}

/// Every filtered sequential scan in an `EXPLAIN (FORMAT JSON)` document.
pub fn seq_scans(plan: &Value) -> Vec<SeqScan> {
    fn walk(node: &Value, out: &mut Vec<SeqScan>) {
        if matches!(
            node["Node Type"].as_str(),
            Some("Seq Scan" | "Parallel Seq Scan")
        ) {
            if let (Some(table), Some(filter)) =
                (node["Relation Name"].as_str(), node["Filter"].as_str())
            {
                out.push(SeqScan {
                    schema: node["Schema"].as_str().map(str::to_string),
                    table: table.to_string(),
                    filter: filter.to_string(),
                    plan_rows: node["Plan Rows"].as_f64().unwrap_or(0.0),
                });
            }
        }
        if let Some(children) = node["Plans"].as_array() {
            children.iter().for_each(|c| walk(c, out));
        }
    }
    let mut out = Vec::new();
    let root = plan
        .as_array()
        .and_then(|a| a.first())
        .map(|r| &r["Plan"])
        .unwrap_or(&plan["Plan"]);
    walk(root, &mut out);
    out
}

/// The columns a filter expression compares, in order of appearance, without repeats
/// (`(big.id = 42)` → `id`; qualified names keep their last part).
pub fn filter_columns(filter: &str) -> Vec<String> {
    let d = PostgreSqlDialect {};
    let Ok(expr) = Parser::new(&d)
        .try_with_sql(filter)
        .and_then(|mut p| p.parse_expr())
    else {
        return Vec::new();
    };
    let mut cols: Vec<String> = Vec::new();
    let _ = visit_expressions(&expr, |e: &Expr| {
        let name = match e {
            Expr::Identifier(i) => Some(i.value.clone()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
            _ => None,
        };
        if let Some(n) = name.filter(|n| !cols.contains(n)) {
            cols.push(n);
        }
        ControlFlow::<()>::Continue(())
    });
    cols
}

/// An index suggestion when the scan reads a large table to keep few of its rows.
pub fn index_for(scan: &SeqScan, table_rows: f64) -> Option<Vec<String>> {
    if table_rows < LARGE_TABLE_ROWS || scan.plan_rows > SELECTIVE * table_rows {
        return None;
    }
    Some(filter_columns(&scan.filter)).filter(|c| !c.is_empty())
}

/// Why a suggestion is made.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub fingerprint_id: String,
    pub fingerprint: String,
    /// The statement that was explained (the latest run of the fingerprint).
    pub statement: String,
    /// The plan node, e.g. `Seq Scan on public.big`.
    pub plan_node: String,
    pub filter: String,
    /// Rows the planner expects the filter to keep.
    pub estimated_rows: f64,
    /// Rows in the table (PostgreSQL's estimate).
    pub table_rows: f64,
    pub runs: u64,
    pub p95_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    /// `index`.
    pub kind: String,
    pub data_source: String,
    /// Schema-qualified when the plan says.
    pub table: String,
    pub columns: Vec<String>,
    /// The statement that would create the index (not run by NexBII).
    pub sql: String,
    pub evidence: Evidence,
}

/// A fingerprint that could not be explained, and why.
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

struct Candidate {
    source: String,
    id: String,
    text: String,
    sample: String,
    runs: u64,
    p95: Option<f64>,
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub async fn suggestions(state: &AppState, scope: &TenantScope) -> ApiResult<Suggestions> {
    let mut candidates: Vec<Candidate> = state
        .metrics
        .telemetry
        .queries
        .read(scope.tenant(), |q| {
            let mut v: Vec<_> = q
                .fingerprints
                .values()
                .filter(|f| f.source_type == "postgresql" && f.sample.is_some())
                .collect();
            v.sort_by(|a, b| b.agg.total_ms.total_cmp(&a.agg.total_ms));
            v.into_iter()
                .take(CANDIDATES)
                .map(|f| Candidate {
                    source: f.source.to_string(),
                    id: f.fingerprint.id(),
                    text: f.fingerprint.text.to_string(),
                    sample: f.sample.as_deref().unwrap_or_default().to_string(),
                    runs: f.agg.count,
                    p95: f.agg.quantile(0.95),
                })
                .collect()
        })
        .unwrap_or_default();
    candidates.sort_by(|a, b| a.source.cmp(&b.source));
    let mut out = Suggestions {
        explained: 0,
        suggestions: Vec::new(),
        unexplained: Vec::new(),
    };
    let mut i = 0;
    while i < candidates.len() {
        let source = candidates[i].source.clone();
        let group: Vec<&Candidate> = candidates[i..]
            .iter()
            .take_while(|c| c.source == source)
            .collect();
        i += group.len();
        let conn = connect(state, scope, &source).await;
        let mut conn = match conn {
            Ok(c) => c,
            Err(reason) => {
                out.unexplained.extend(group.iter().map(|c| Unexplained {
                    fingerprint_id: c.id.clone(),
                    data_source: source.clone(),
                    reason: reason.clone(),
                }));
                continue;
            }
        };
        for c in group {
            match explain(&mut conn, c).await {
                Ok(found) => {
                    out.explained += 1;
                    for s in found {
                        let dup = out.suggestions.iter().any(|x| {
                            x.data_source == s.data_source
                                && x.table == s.table
                                && x.columns == s.columns
                        });
                        if !dup {
                            out.suggestions.push(s);
                        }
                    }
                }
                Err(reason) => out.unexplained.push(Unexplained {
                    fingerprint_id: c.id.clone(),
                    data_source: source.clone(),
                    reason,
                }),
            }
        }
        let _ = conn.close().await;
    }
    Ok(out)
}

/// A read-only connection to the source, statements limited to 5 s.
async fn connect(
    state: &AppState,
    scope: &TenantScope,
    source: &str,
) -> Result<sqlx::PgConnection, String> {
    let rec = state
        .store
        .get_as::<DataSourceRecord>(scope, source)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the data source no longer exists".to_string())?;
    let src = datasources::resolve(state, scope, &rec).map_err(|e| e.to_string())?;
    let s = &src.spec;
    let mut opts = PgConnectOptions::new()
        .host(s.host.as_deref().unwrap_or("localhost"))
        .port(s.port.unwrap_or(5432))
        .database(s.database.as_deref().unwrap_or_default())
        .username(s.username.as_deref().unwrap_or_default())
        .options([
            ("default_transaction_read_only", "on"),
            ("statement_timeout", "5000"),
        ])
        .disable_statement_logging();
    if let Some(p) = &src.password {
        opts = opts.password(p);
    }
    tokio::time::timeout(std::time::Duration::from_secs(10), opts.connect())
        .await
        .map_err(|_| "connecting timed out".to_string())?
        .map_err(|e| {
            crate::engine::EngineError::Connect(e.to_string())
                .redact(src.password.as_deref())
                .to_string()
        })
}

async fn explain(conn: &mut sqlx::PgConnection, c: &Candidate) -> Result<Vec<Suggestion>, String> {
    let row = sqlx::query(&format!("EXPLAIN (VERBOSE, FORMAT JSON) {}", c.sample))
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    let plan: sqlx::types::Json<Value> = row.try_get(0).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for scan in seq_scans(&plan.0) {
        let qualified = match &scan.schema {
            Some(s) => format!("{}.{}", quote(s), quote(&scan.table)),
            None => quote(&scan.table),
        };
        let rows: f64 = sqlx::query(
            "SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = to_regclass($1)",
        )
        .bind(&qualified)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| e.to_string())?
        .map(|r| r.get::<f64, _>(0))
        .unwrap_or(0.0);
        let Some(columns) = index_for(&scan, rows) else {
            continue;
        };
        let table = match &scan.schema {
            Some(s) => format!("{s}.{}", scan.table),
            None => scan.table.clone(),
        };
        let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        out.push(Suggestion {
            kind: "index".into(),
            data_source: c.source.clone(),
            sql: format!("CREATE INDEX ON {qualified} ({})", cols.join(", ")),
            evidence: Evidence {
                fingerprint_id: c.id.clone(),
                fingerprint: c.text.clone(),
                statement: c.sample.clone(),
                plan_node: format!("Seq Scan on {table}"),
                filter: scan.filter.clone(),
                estimated_rows: scan.plan_rows,
                table_rows: rows,
                runs: c.runs,
                p95_ms: c.p95,
            },
            table,
            columns,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_filtered_seq_scans_and_their_columns() {
        let plan = json!([{"Plan": {
            "Node Type": "Hash Join",
            "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "big", "Schema": "public",
                 "Filter": "((big.id = 42) AND (lower(big.name) = 'x'::text) AND (big.id > 1))",
                 "Plan Rows": 1.0},
                {"Node Type": "Seq Scan", "Relation Name": "small", "Schema": "public",
                 "Plan Rows": 10.0},
                {"Node Type": "Index Scan", "Relation Name": "other", "Filter": "(x = 1)"}
            ]
        }}]);
        let scans = seq_scans(&plan);
        assert_eq!(
            scans.len(),
            1,
            "unfiltered and index scans are not findings"
        );
        assert_eq!(scans[0].table, "big");
        assert_eq!(scans[0].schema.as_deref(), Some("public"));
        assert_eq!(filter_columns(&scans[0].filter), vec!["id", "name"]);
        // Large and selective: an index on the filter's columns.
        assert_eq!(
            index_for(&scans[0], 100_000.0),
            Some(vec!["id".into(), "name".into()])
        );
        // A small table, or a filter keeping most rows: nothing to suggest.
        assert_eq!(index_for(&scans[0], 500.0), None);
        let broad = SeqScan {
            plan_rows: 60_000.0,
            ..scans[0].clone()
        };
        assert_eq!(index_for(&broad, 100_000.0), None);
    }
}

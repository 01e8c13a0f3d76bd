//! Readers of the databases' own plans: where a table is read in full under a filter.
//! PostgreSQL's `EXPLAIN (FORMAT JSON)` gives the filter and the planner's row estimate;
//! MySQL's and MariaDB's `EXPLAIN FORMAT=JSON` give the access type, rows and `filtered`
//! (MariaDB often says 100 % without statistics, so the caller falls back on what runs
//! returned); SQLite's `EXPLAIN QUERY PLAN` says `SCAN t` (full) or `SEARCH t USING …`.
use std::ops::ControlFlow;

use serde_json::Value;
use sqlparser::{
    ast::{visit_expressions, Expr},
    dialect::Dialect,
    parser::Parser,
};

/// A full read of a table, as found in a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct FullScan {
    pub schema: Option<String>,
    pub table: String,
    /// The filter applied while scanning, as the plan prints it (empty if it does not say).
    pub filter: String,
    /// Rows the planner expects the scan to keep (`None`: the plan gives no usable estimate).
    pub estimated_rows: Option<f64>,
    /// How the plan names the step, e.g. `Seq Scan on public.big`.
    pub node: String,
}

/// Filtered sequential scans in a PostgreSQL plan.
pub fn postgres(plan: &Value) -> Vec<FullScan> {
    fn walk(node: &Value, out: &mut Vec<FullScan>) {
        if matches!(
            node["Node Type"].as_str(),
            Some("Seq Scan" | "Parallel Seq Scan")
        ) {
            if let (Some(table), Some(filter)) =
                (node["Relation Name"].as_str(), node["Filter"].as_str())
            {
                let schema = node["Schema"].as_str().map(str::to_string);
                let shown = match &schema {
                    Some(s) => format!("{s}.{table}"),
                    None => table.to_string(),
                };
                out.push(FullScan {
                    node: format!("Seq Scan on {shown}"),
                    schema,
                    table: table.to_string(),
                    filter: filter.to_string(),
                    estimated_rows: node["Plan Rows"].as_f64(),
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

/// Full table reads (`access_type: ALL`) in a MySQL or MariaDB plan, wherever they nest
/// (nested loops, grouping, ordering, subqueries).
pub fn mysql(plan: &Value) -> Vec<FullScan> {
    fn num(v: &Value) -> Option<f64> {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }
    fn walk(v: &Value, out: &mut Vec<FullScan>) {
        match v {
            Value::Object(m) => {
                if let (Some(table), Some("ALL")) = (
                    m.get("table_name").and_then(Value::as_str),
                    m.get("access_type").and_then(Value::as_str),
                ) {
                    // MySQL: rows_examined_per_scan; MariaDB: rows. `filtered` is a percentage.
                    let rows = m
                        .get("rows_examined_per_scan")
                        .or_else(|| m.get("rows"))
                        .and_then(num);
                    let filtered = m.get("filtered").and_then(num);
                    let estimated_rows = match (rows, filtered) {
                        (Some(r), Some(f)) if f < 100.0 => Some(r * f / 100.0),
                        _ => None,
                    };
                    out.push(FullScan {
                        schema: None,
                        table: table.to_string(),
                        filter: m
                            .get("attached_condition")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        estimated_rows,
                        node: format!("full scan (access_type ALL) of {table}"),
                    });
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(plan, &mut out);
    out
}

/// Full scans in SQLite's `EXPLAIN QUERY PLAN` (`SCAN t`, `SCAN TABLE t` before 3.36; a
/// covering-index scan or `SEARCH` is not one). SQLite prints no filter nor estimate.
pub fn sqlite(details: &[String]) -> Vec<FullScan> {
    details
        .iter()
        .filter_map(|d| {
            let rest = d.strip_prefix("SCAN ")?;
            let rest = rest.strip_prefix("TABLE ").unwrap_or(rest);
            if rest.contains(" USING ") {
                return None;
            }
            // `SCAN t AS x` / `SCAN t`.
            let table = rest.split_whitespace().next()?.to_string();
            if table.starts_with('(') || table == "CONSTANT" {
                return None;
            }
            Some(FullScan {
                node: d.clone(),
                schema: None,
                table,
                filter: String::new(),
                estimated_rows: None,
            })
        })
        .collect()
}

/// The columns of `table` a filter expression compares, in order of appearance, without
/// repeats (`(big.id = 42)` → `id`); names qualified by another table are left out.
pub fn filter_columns(filter: &str, dialect: &dyn Dialect, table: &str) -> Vec<String> {
    let Ok(expr) = Parser::new(dialect)
        .try_with_sql(filter)
        .and_then(|mut p| p.parse_expr())
    else {
        return Vec::new();
    };
    let mut cols: Vec<String> = Vec::new();
    let _ = visit_expressions(&expr, |e: &Expr| {
        let name = match e {
            Expr::Identifier(i) => Some(i.value.clone()),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let owner = &parts[parts.len() - 2].value;
                owner
                    .eq_ignore_ascii_case(table)
                    .then(|| parts[parts.len() - 1].value.clone())
            }
            _ => None,
        };
        if let Some(n) = name.filter(|n| !cols.contains(n)) {
            cols.push(n);
        }
        ControlFlow::<()>::Continue(())
    });
    cols
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};

    use super::*;

    #[test]
    fn postgres_filtered_seq_scans() {
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
        let scans = postgres(&plan);
        assert_eq!(
            scans.len(),
            1,
            "unfiltered and index scans are not findings"
        );
        assert_eq!(scans[0].node, "Seq Scan on public.big");
        assert_eq!(scans[0].estimated_rows, Some(1.0));
        assert_eq!(
            filter_columns(&scans[0].filter, &PostgreSqlDialect {}, "big"),
            vec!["id", "name"]
        );
    }

    #[test]
    fn mysql_and_mariadb_full_scans() {
        // MySQL 8 shape: filtered is a string percentage.
        let my = json!({"query_block": {"select_id": 1, "table": {
            "table_name": "big", "access_type": "ALL", "rows_examined_per_scan": 50000,
            "filtered": "10.00", "attached_condition": "(`db`.`big`.`id` = 42)"}}});
        let s = mysql(&my);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].estimated_rows, Some(5000.0));
        assert_eq!(
            filter_columns(&s[0].filter, &MySqlDialect {}, "big"),
            vec!["id"]
        );
        // MariaDB shape, nested under a nested loop; 100 % filtered is no estimate.
        let maria = json!({"query_block": {"select_id": 1, "nested_loop": [
            {"table": {"table_name": "a", "access_type": "ref", "rows": 1}},
            {"table": {"table_name": "big", "access_type": "ALL", "rows": 50000,
                       "filtered": 100, "attached_condition": "big.`id` = 42 and a.x = 1"}}]}});
        let s = mysql(&maria);
        assert_eq!(s.len(), 1, "only the ALL access counts");
        assert_eq!(s[0].table, "big");
        assert_eq!(s[0].estimated_rows, None);
        assert_eq!(
            filter_columns(&s[0].filter, &MySqlDialect {}, "big"),
            vec!["id"],
            "a.x belongs to another table"
        );
    }

    #[test]
    fn sqlite_scans() {
        let d = |x: &str| x.to_string();
        let s = sqlite(&[
            d("SCAN big"),
            d("SEARCH other USING INDEX other_id (id=?)"),
            d("SCAN TABLE old AS o"),
            d("SCAN small USING COVERING INDEX small_x"),
            d("USE TEMP B-TREE FOR ORDER BY"),
        ]);
        let tables: Vec<&str> = s.iter().map(|x| x.table.as_str()).collect();
        assert_eq!(tables, vec!["big", "old"]);
    }
}

//! Read-only guards: decide before anything reaches a database whether a statement may run.
//!
//! SQL is parsed with `sqlparser` in the source's dialect: exactly one statement, a query
//! (SELECT / WITH / set operations / VALUES), no `SELECT ... INTO`, no locking clauses, no
//! data-modifying CTEs, no functions with side effects. The database itself is the second line:
//! statements run in read-only transactions or on read-only connections.
use std::ops::ControlFlow;

use nexbii_crds::DataSourceType;
use serde_json::Value;
use sqlparser::{
    ast::{Expr, ObjectName, Query, SetExpr, Statement, TableFactor, Visit, Visitor},
    dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect},
    parser::Parser,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Functions that act on the server even inside a read-only transaction.
const DENIED_FUNCTIONS: &[&str] = &[
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "set_config",
    "lo_import",
    "lo_export",
    "lo_unlink",
    "dblink",
    "dblink_exec",
    "dblink_connect",
    "pg_advisory_lock",
    "pg_advisory_xact_lock",
    "pg_notify",
    "load_file",
    "load_extension",
    "get_lock",
    "release_lock",
];

fn dialect_for(t: DataSourceType) -> Box<dyn Dialect> {
    match t {
        DataSourceType::Postgresql => Box::new(PostgreSqlDialect {}),
        DataSourceType::Mysql => Box::new(MySqlDialect {}),
        _ => Box::new(SQLiteDialect {}),
    }
}

struct ReadOnly;

impl Visitor for ReadOnly {
    type Break = String;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if !query.locks.is_empty() {
            return ControlFlow::Break("locking clauses (FOR UPDATE/SHARE) are not allowed".into());
        }
        check_set_expr(&query.body)
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match expr {
            Expr::Function(f) => denied_function(&f.name),
            _ => ControlFlow::Continue(()),
        }
    }

    /// Functions called in FROM (`SELECT * FROM set_config(...)`) are table factors, not
    /// expressions.
    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => denied_function(name),
            _ => ControlFlow::Continue(()),
        }
    }
}

fn denied_function(name: &ObjectName) -> ControlFlow<String> {
    let full = name.to_string().to_ascii_lowercase();
    let name = full
        .rsplit('.')
        .next()
        .unwrap_or(&full)
        .trim_matches('"')
        .trim_matches('`');
    if DENIED_FUNCTIONS.contains(&name) {
        return ControlFlow::Break(format!("function {name}() is not allowed"));
    }
    ControlFlow::Continue(())
}

fn check_set_expr(body: &SetExpr) -> ControlFlow<String> {
    match body {
        SetExpr::Select(select) => {
            if select.into.is_some() {
                ControlFlow::Break("SELECT ... INTO writes data and is not allowed".into())
            } else {
                ControlFlow::Continue(())
            }
        }
        SetExpr::Query(q) => check_set_expr(&q.body),
        SetExpr::SetOperation { left, right, .. } => {
            check_set_expr(left)?;
            check_set_expr(right)
        }
        SetExpr::Values(_) | SetExpr::Table(_) => ControlFlow::Continue(()),
        _ => ControlFlow::Break("data-modifying statements are not allowed in queries".into()),
    }
}

/// Checks `sql` and returns its normalized text (used in cache keys).
pub fn check_sql(sql: &str, source: DataSourceType) -> Result<String, Refused> {
    let dialect = dialect_for(source);
    let statements = Parser::parse_sql(dialect.as_ref(), sql)
        .map_err(|e| Refused(format!("SQL does not parse: {e}")))?;
    let stmt = match statements.as_slice() {
        [] => return Err(Refused("empty statement".into())),
        [one] => one,
        _ => return Err(Refused("exactly one statement is allowed".into())),
    };
    match stmt {
        Statement::Query(_) => {}
        other => {
            let verb = other.to_string();
            let verb = verb
                .split_whitespace()
                .next()
                .unwrap_or("statement")
                .to_uppercase();
            return Err(Refused(format!(
                "only read statements (SELECT/WITH) are allowed, got {verb}"
            )));
        }
    }
    if let ControlFlow::Break(why) = stmt.visit(&mut ReadOnly) {
        return Err(Refused(why));
    }
    Ok(stmt.to_string())
}

/// A MongoDB query: `{"collection": "...", "pipeline": [...]}` (an aggregation).
#[derive(Debug, Clone, PartialEq)]
pub struct MongoQuery {
    pub collection: String,
    pub pipeline: Vec<Value>,
}

/// Stages and operators that write or run server-side JavaScript.
const DENIED_MONGO: &[&str] = &["$out", "$merge", "$function", "$accumulator", "$where"];

fn scan_mongo(v: &Value) -> Result<(), Refused> {
    match v {
        Value::Object(map) => {
            for (k, inner) in map {
                if DENIED_MONGO.contains(&k.as_str()) {
                    return Err(Refused(format!("{k} is not allowed in read-only queries")));
                }
                scan_mongo(inner)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(scan_mongo),
        _ => Ok(()),
    }
}

pub fn check_mongo(text: &str) -> Result<MongoQuery, Refused> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        Refused(format!(
            "MongoDB query must be JSON {{collection, pipeline}}: {e}"
        ))
    })?;
    let collection = v
        .get("collection")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty() && !c.starts_with("system."))
        .ok_or_else(|| Refused("MongoDB query needs a \"collection\" name".into()))?
        .to_string();
    let pipeline = match v.get("pipeline") {
        None => vec![],
        Some(Value::Array(p)) => p.clone(),
        Some(_) => return Err(Refused("\"pipeline\" must be an array of stages".into())),
    };
    scan_mongo(&Value::Array(pipeline.clone()))?;
    Ok(MongoQuery {
        collection,
        pipeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataSourceType::*;

    fn refused(sql: &str, t: DataSourceType) -> String {
        check_sql(sql, t).expect_err(sql).0
    }

    #[test]
    fn plain_reads_pass() {
        for t in [Postgresql, Mysql, Sqlite] {
            assert!(check_sql("SELECT 1", t).is_ok());
            let ph = if t == Postgresql { "$1" } else { "?" };
            assert!(check_sql(
                &format!("select a, count(*) from t where b = {ph} group by a"),
                t
            )
            .is_ok());
            assert!(check_sql(
                "WITH x AS (SELECT 1 AS a) SELECT a FROM x UNION SELECT 2",
                t
            )
            .is_ok());
        }
        assert!(check_sql("SELECT * FROM orders WHERE id = $1", Postgresql).is_ok());
        assert!(check_sql("SELECT pg_sleep(1)", Postgresql).is_ok());
    }

    #[test]
    fn writes_and_ddl_are_refused() {
        for t in [Postgresql, Mysql, Sqlite] {
            assert!(refused("DELETE FROM t", t).contains("DELETE"), "{t:?}");
            assert!(refused("DROP TABLE t", t).contains("DROP"));
            assert!(refused("INSERT INTO t VALUES (1)", t).contains("INSERT"));
            assert!(refused("UPDATE t SET a = 1", t).contains("UPDATE"));
            assert!(refused("CREATE TABLE x (a int)", t).contains("CREATE"));
        }
        assert!(refused("TRUNCATE t", Postgresql).contains("TRUNCATE"));
        assert!(refused("GRANT ALL ON t TO bob", Postgresql).contains("GRANT"));
        assert!(refused("SET search_path = evil", Postgresql).contains("SET"));
    }

    #[test]
    fn multiple_statements_are_refused() {
        for t in [Postgresql, Mysql, Sqlite] {
            assert!(refused("SELECT 1; DROP TABLE t", t).contains("one statement"));
            assert!(refused("SELECT 1; SELECT 2", t).contains("one statement"));
        }
    }

    #[test]
    fn select_into_and_locks_are_refused() {
        assert!(refused("SELECT * INTO copy FROM t", Postgresql).contains("INTO"));
        assert!(refused("SELECT * FROM t FOR UPDATE", Postgresql).contains("FOR UPDATE"));
        assert!(refused("SELECT * FROM t FOR UPDATE", Mysql).contains("FOR UPDATE"));
    }

    #[test]
    fn modifying_ctes_and_side_effect_functions_are_refused() {
        // Refused by the parser or by the visitor; either way it never runs.
        assert!(check_sql(
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            Postgresql
        )
        .is_err());
        assert!(
            refused("SELECT pg_terminate_backend(42)", Postgresql).contains("pg_terminate_backend")
        );
        assert!(refused(
            "SELECT x FROM t WHERE y IN (SELECT set_config('a','b',false))",
            Postgresql
        )
        .contains("set_config"));
        assert!(refused("SELECT load_file('/etc/passwd')", Mysql).contains("load_file"));
    }

    #[test]
    fn garbage_and_empty_are_refused() {
        assert!(refused("SELEC 1", Postgresql).contains("parse"));
        assert!(refused("", Postgresql).contains("empty"));
        assert!(
            refused("   ;  ", Sqlite).contains("empty")
                || refused("  ; ", Sqlite).contains("parse")
        );
    }

    #[test]
    fn normalization_ignores_whitespace_and_case_of_keywords() {
        let a = check_sql("select  a\nfrom t", Postgresql).unwrap();
        let b = check_sql("SELECT a FROM t", Postgresql).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn functions_in_from_are_checked_too() {
        assert!(refused(
            "SELECT * FROM set_config('default_transaction_read_only', 'off', false)",
            Postgresql
        )
        .contains("set_config"));
        assert!(refused(
            "SELECT 1 FROM t, LATERAL pg_catalog.set_config('a', 'b', false) s",
            Postgresql
        )
        .contains("set_config"));
        assert!(check_sql("SELECT * FROM generate_series(1, 3) g", Postgresql).is_ok());
    }

    #[test]
    fn mongo_guard() {
        let q = check_mongo(r#"{"collection":"orders","pipeline":[{"$match":{"a":1}}]}"#).unwrap();
        assert_eq!(q.collection, "orders");
        assert_eq!(q.pipeline.len(), 1);
        assert!(check_mongo(r#"{"collection":"o","pipeline":[{"$out":"x"}]}"#).is_err());
        assert!(check_mongo(
            r#"{"collection":"o","pipeline":[{"$facet":{"a":[{"$merge":"x"}]}}]}"#
        )
        .is_err());
        assert!(
            check_mongo(r#"{"collection":"o","pipeline":[{"$match":{"$where":"1"}}]}"#).is_err()
        );
        assert!(check_mongo(r#"{"pipeline":[]}"#).is_err());
        assert!(check_mongo(r#"{"collection":"system.users"}"#).is_err());
        assert!(check_mongo("SELECT 1").is_err());
    }
}

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
    keywords::Keyword,
    parser::Parser,
    tokenizer::{Location, Token, TokenWithSpan, Tokenizer},
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
    "pg_advisory_lock_shared",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "pg_notify",
    "load_file",
    "load_extension",
    "get_lock",
    "release_lock",
];

pub fn dialect_for(t: DataSourceType) -> Box<dyn Dialect> {
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
    check_nesting(sql, dialect.as_ref())?;
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

/// Function calls nested deeper than this are refused before parsing: sqlparser's PostgreSQL
/// dialect takes time doubling with each level (14 levels: ~65 ms in a debug build), so a
/// short statement could otherwise hold a worker for minutes.
pub const MAX_CALL_NESTING: usize = 10;
/// Parentheses nested deeper than this are refused (the recursive parser's stack).
pub const MAX_PAREN_NESTING: usize = 32;

/// Refuses statements nested too deeply to parse in bounded time and stack, with one linear
/// pass over the tokens. Text the tokenizer cannot read is left to the parser to report.
fn check_nesting(sql: &str, dialect: &dyn sqlparser::dialect::Dialect) -> Result<(), Refused> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(dialect, sql).tokenize() else {
        return Ok(());
    };
    let mut stack: Vec<bool> = Vec::new();
    let mut calls = 0usize;
    let mut prev_word = false;
    for t in tokens {
        match t {
            Token::Whitespace(_) => continue,
            Token::LParen => {
                stack.push(prev_word);
                calls += usize::from(prev_word);
                if calls > MAX_CALL_NESTING {
                    return Err(Refused(format!(
                        "function calls are nested more than {MAX_CALL_NESTING} deep"
                    )));
                }
                if stack.len() > MAX_PAREN_NESTING {
                    return Err(Refused(format!(
                        "parentheses are nested more than {MAX_PAREN_NESTING} deep"
                    )));
                }
            }
            Token::RParen if stack.pop() == Some(true) => calls -= 1,
            _ => {}
        }
        prev_word = matches!(t, Token::Word(_));
    }
    Ok(())
}

/// Caps the rows `sql` can return at `cap`, so the database stops producing (and shipping) rows
/// NexBII would drop. Call it only for a statement [`check_sql`] accepted: it decides nothing
/// about what may run, it only bounds what does.
///
/// The statement's AST says whether its top-level query is bounded; its tokens say where, so
/// the text is edited in place and never re-printed (placeholders, literals, escapes and
/// comments stay exactly as written):
/// - no top-level LIMIT (and no FETCH): `LIMIT cap` is appended (after any OFFSET);
/// - `LIMIT k` / `LIMIT off, k` with a literal `k`: kept when `k <= cap`, else `k` becomes `cap`;
///   `LIMIT ALL` becomes `LIMIT cap`;
/// - anything else (a placeholder or expression as limit, FETCH FIRST, ...): on PostgreSQL the
///   query is wrapped as `SELECT * FROM (<query>) AS nexbii_capped LIMIT cap`; MySQL and SQLite
///   rename or reject duplicate column names in derived tables, so there the text runs as
///   written and the driver stops reading after the row limit.
///
/// A trailing `;` and trailing comments are dropped. Errors only when `sql` is not one query.
pub fn with_row_cap(sql: &str, source: DataSourceType, cap: u64) -> Result<String, Refused> {
    let dialect = dialect_for(source);
    let statements = Parser::parse_sql(dialect.as_ref(), sql)
        .map_err(|e| Refused(format!("SQL does not parse: {e}")))?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return Err(Refused("only a single query can be capped".into()));
    };
    let tokens = Tokenizer::new(dialect.as_ref(), sql)
        .tokenize_with_location()
        .map_err(|e| Refused(format!("SQL does not tokenize: {e}")))?;
    let offsets = ByteOffsets::new(sql);
    // Significant tokens (no whitespace or comments) with their byte ranges and paren depth.
    let mut sig: Vec<(&Token, std::ops::Range<usize>, usize)> = Vec::new();
    let mut depth = 0usize;
    for TokenWithSpan { token, span } in &tokens {
        if matches!(token, Token::Whitespace(_)) {
            continue;
        }
        let range = offsets.at(span.start)..offsets.at(span.end);
        if matches!(token, Token::RParen | Token::RBracket | Token::RBrace) {
            depth = depth.saturating_sub(1);
        }
        sig.push((token, range, depth));
        if matches!(token, Token::LParen | Token::LBracket | Token::LBrace) {
            depth += 1;
        }
    }
    // The statement proper ends with its last token other than `;`.
    while matches!(sig.last(), Some((Token::SemiColon, ..))) {
        sig.pop();
    }
    let Some(end) = sig.last().map(|(_, r, _)| r.end) else {
        return Err(Refused("empty statement".into()));
    };
    let body = &sql[..end];
    let capped = match cap_edit(query, &sig, source, cap) {
        Some(CapEdit::Keep) => body.to_string(),
        Some(CapEdit::Append) => format!("{body}\nLIMIT {cap}"),
        Some(CapEdit::Replace(range)) => {
            format!("{}{cap}{}", &sql[..range.start], &sql[range.end..end])
        }
        None if source == DataSourceType::Postgresql => {
            format!("SELECT * FROM (\n{body}\n) AS nexbii_capped LIMIT {cap}")
        }
        None => body.to_string(),
    };
    Ok(capped)
}

enum CapEdit {
    /// Already bounded by a literal no larger than the cap.
    Keep,
    /// Unbounded: add `LIMIT cap` at the end.
    Append,
    /// The byte range of the literal row count (or `ALL`) to replace with the cap.
    Replace(std::ops::Range<usize>),
}

/// Where the cap goes; `None` when the top-level limit cannot be reasoned about from the text.
fn cap_edit(
    query: &Query,
    sig: &[(&Token, std::ops::Range<usize>, usize)],
    source: DataSourceType,
    cap: u64,
) -> Option<CapEdit> {
    if query.fetch.is_some() || !query.limit_by.is_empty() {
        return None;
    }
    let is_keyword = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k && w.quote_style.is_none());
    let limits: Vec<usize> = (0..sig.len())
        .filter(|&i| sig[i].2 == 0 && is_keyword(sig[i].0, Keyword::LIMIT))
        .collect();
    let at = match limits.as_slice() {
        [] => return query.limit.is_none().then_some(CapEdit::Append),
        [one] => *one,
        _ => return None,
    };
    // A plain unsigned integer literal, as text.
    let integer = |i: usize| match sig.get(i) {
        Some((Token::Number(n, false), r, _)) if n.bytes().all(|b| b.is_ascii_digit()) => {
            Some((n.as_str(), r.clone()))
        }
        _ => None,
    };
    let (count, range) = match sig.get(at + 1) {
        Some((t, r, _)) if is_keyword(t, Keyword::ALL) => {
            return query.limit.is_none().then(|| CapEdit::Replace(r.clone()));
        }
        _ => {
            let first = integer(at + 1)?;
            let comma_form = source != DataSourceType::Postgresql
                && matches!(sig.get(at + 2), Some((Token::Comma, ..)));
            if comma_form {
                integer(at + 3)? // MySQL / SQLite `LIMIT offset, count`
            } else {
                first
            }
        }
    };
    // The AST must agree that this literal is the top-level row count (and not, say, `10 + 5`).
    if query.limit.as_ref().map(ToString::to_string).as_deref() != Some(count) {
        return None;
    }
    let within = count.parse::<u64>().is_ok_and(|k| k <= cap);
    Some(if within {
        CapEdit::Keep
    } else {
        CapEdit::Replace(range)
    })
}

/// Maps the tokenizer's 1-based line/column (counted in chars, lines split on `\n`) to byte
/// offsets.
pub(super) struct ByteOffsets {
    /// Byte offset of each line's start, and the char-to-byte table of each line.
    lines: Vec<Vec<usize>>,
    len: usize,
}

impl ByteOffsets {
    pub(super) fn new(text: &str) -> Self {
        let mut lines = vec![Vec::new()];
        for (i, c) in text.char_indices() {
            lines.last_mut().expect("one line").push(i);
            if c == '\n' {
                lines.push(Vec::new());
            }
        }
        Self {
            lines,
            len: text.len(),
        }
    }

    pub(super) fn at(&self, loc: Location) -> usize {
        let line = (loc.line as usize).saturating_sub(1);
        let col = (loc.column as usize).saturating_sub(1);
        match self.lines.get(line) {
            Some(cols) => cols.get(col).copied().unwrap_or_else(|| {
                // Just past the line's last char: the next line's start, or the end.
                self.lines
                    .get(line + 1)
                    .and_then(|next| next.first().copied())
                    .unwrap_or(self.len)
            }),
            None => self.len,
        }
    }
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
    fn deep_nesting_is_refused_before_parsing() {
        let calls = |d: usize| format!("SELECT {}x{} FROM t", "lower(".repeat(d), ")".repeat(d));
        for t in [Postgresql, Mysql, Sqlite] {
            assert!(check_sql(&calls(MAX_CALL_NESTING), t).is_ok());
            assert!(refused(&calls(MAX_CALL_NESTING + 1), t).contains("nested"));
            // Parentheses that are not calls, and calls in sequence, do not count as calls.
            let parens = format!("SELECT {}1{}", "(".repeat(20), ")".repeat(20));
            assert!(check_sql(&parens, t).is_ok(), "{parens}");
            let wide = format!("SELECT {} FROM t", vec!["lower(upper(x))"; 30].join(", "));
            assert!(check_sql(&wide, t).is_ok());
            let deep = format!("SELECT {}1{}", "(".repeat(40), ")".repeat(40));
            assert!(refused(&deep, t).contains("parentheses"));
        }
        // A parenthesis inside a string is text, not nesting.
        let quoted = format!("SELECT '{}' FROM t", "lower(".repeat(40));
        assert!(check_sql(&quoted, Postgresql).is_ok());
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
        for f in [
            "pg_try_advisory_lock",
            "pg_advisory_lock_shared",
            "pg_try_advisory_xact_lock",
        ] {
            assert!(
                refused(&format!("SELECT {f}(1)"), Postgresql).contains(f),
                "{f} takes a lock that outlives the query"
            );
        }
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

    fn cap(sql: &str, t: DataSourceType) -> String {
        check_sql(sql, t).expect(sql);
        with_row_cap(sql, t, 1001).expect(sql)
    }

    #[test]
    fn row_cap_appends_a_limit_when_there_is_none() {
        for t in [Postgresql, Mysql, Sqlite] {
            assert_eq!(cap("SELECT * FROM t", t), "SELECT * FROM t\nLIMIT 1001");
            assert_eq!(
                cap("select a from t order by a desc;  ", t),
                "select a from t order by a desc\nLIMIT 1001"
            );
            // A trailing line comment cannot swallow the limit.
            assert_eq!(
                cap("SELECT a FROM t -- all of them\n", t),
                "SELECT a FROM t\nLIMIT 1001"
            );
            // CTEs and subqueries keep their own limits; the top level gets the cap.
            assert_eq!(
                cap("WITH x AS (SELECT a FROM t LIMIT 5000) SELECT a FROM x", t),
                "WITH x AS (SELECT a FROM t LIMIT 5000) SELECT a FROM x\nLIMIT 1001"
            );
            assert_eq!(
                cap("SELECT a FROM (SELECT a FROM t LIMIT 9999) s WHERE a IN (SELECT b FROM u LIMIT 3)", t),
                "SELECT a FROM (SELECT a FROM t LIMIT 9999) s WHERE a IN (SELECT b FROM u LIMIT 3)\nLIMIT 1001"
            );
            // A set operation is capped as a whole.
            assert_eq!(
                cap("SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1", t),
                "SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1\nLIMIT 1001"
            );
        }
        // Placeholders, literals and quoting stay exactly as written.
        assert_eq!(
            cap(
                "SELECT 'it''s', \"Limit\" FROM t WHERE a = $1 AND b = $2",
                Postgresql
            ),
            "SELECT 'it''s', \"Limit\" FROM t WHERE a = $1 AND b = $2\nLIMIT 1001"
        );
        assert_eq!(
            cap(
                "SELECT `limit` FROM t WHERE a = ? AND b LIKE 'x\\\\%'",
                Mysql
            ),
            "SELECT `limit` FROM t WHERE a = ? AND b LIKE 'x\\\\%'\nLIMIT 1001"
        );
        assert_eq!(
            cap("SELECT a FROM t WHERE b = ? # comment", Mysql),
            "SELECT a FROM t WHERE b = ?\nLIMIT 1001"
        );
        // Non-ASCII text before the edit point.
        assert_eq!(
            cap("SELECT 'größe ✓' AS x\nFROM t\nLIMIT 5000", Postgresql),
            "SELECT 'größe ✓' AS x\nFROM t\nLIMIT 1001"
        );
        // OFFSET without LIMIT (PostgreSQL) keeps its offset.
        assert_eq!(
            cap("SELECT a FROM t ORDER BY a OFFSET 10", Postgresql),
            "SELECT a FROM t ORDER BY a OFFSET 10\nLIMIT 1001"
        );
        assert_eq!(
            cap("VALUES (1), (2)", Postgresql),
            "VALUES (1), (2)\nLIMIT 1001"
        );
    }

    #[test]
    fn row_cap_keeps_smaller_limits_and_lowers_larger_ones() {
        for t in [Postgresql, Mysql, Sqlite] {
            assert_eq!(
                cap("SELECT a FROM t LIMIT 10", t),
                "SELECT a FROM t LIMIT 10"
            );
            assert_eq!(
                cap("SELECT a FROM t LIMIT 1001;", t),
                "SELECT a FROM t LIMIT 1001"
            );
            assert_eq!(cap("SELECT a FROM t LIMIT 0", t), "SELECT a FROM t LIMIT 0");
            assert_eq!(
                cap("SELECT a FROM t ORDER BY a LIMIT 5000 OFFSET 20", t),
                "SELECT a FROM t ORDER BY a LIMIT 1001 OFFSET 20"
            );
            assert_eq!(
                cap("SELECT a FROM t LIMIT 99999999999999999999999", t),
                "SELECT a FROM t LIMIT 1001"
            );
            assert_eq!(
                cap("SELECT a FROM t UNION SELECT b FROM u LIMIT 1002", t),
                "SELECT a FROM t UNION SELECT b FROM u LIMIT 1001"
            );
            // A placeholder elsewhere is untouched.
            let ph = if t == Postgresql { "$1" } else { "?" };
            assert_eq!(
                cap(&format!("SELECT a FROM t WHERE b = {ph} LIMIT 2000"), t),
                format!("SELECT a FROM t WHERE b = {ph} LIMIT 1001")
            );
        }
        assert_eq!(
            cap("SELECT a FROM t OFFSET 5 LIMIT 2000", Postgresql),
            "SELECT a FROM t OFFSET 5 LIMIT 1001"
        );
        assert_eq!(
            cap("SELECT a FROM t LIMIT ALL", Postgresql),
            "SELECT a FROM t LIMIT 1001"
        );
        // MySQL / SQLite `LIMIT offset, count`: only the count is capped.
        for t in [Mysql, Sqlite] {
            assert_eq!(
                cap("SELECT a FROM t LIMIT 5000, 20", t),
                "SELECT a FROM t LIMIT 5000, 20"
            );
            assert_eq!(
                cap("SELECT a FROM t LIMIT 20, 5000", t),
                "SELECT a FROM t LIMIT 20, 1001"
            );
        }
    }

    #[test]
    fn row_cap_wraps_what_it_cannot_read_on_postgresql_only() {
        for sql in [
            "SELECT a FROM t LIMIT $1",
            "SELECT a FROM t LIMIT 10 + 5000",
            "SELECT a FROM t ORDER BY a FETCH FIRST 5000 ROWS ONLY",
            "SELECT a FROM t LIMIT NULL",
        ] {
            assert_eq!(
                cap(&format!("{sql};"), Postgresql),
                format!("SELECT * FROM (\n{sql}\n) AS nexbii_capped LIMIT 1001")
            );
        }
        // Derived tables rename (SQLite) or reject (MySQL) duplicate column names: run as is.
        assert_eq!(
            cap("SELECT a FROM t LIMIT ?", Mysql),
            "SELECT a FROM t LIMIT ?"
        );
        assert_eq!(
            cap("SELECT a FROM t LIMIT ?, ?", Mysql),
            "SELECT a FROM t LIMIT ?, ?"
        );
        assert_eq!(
            cap("SELECT a FROM t LIMIT 2 * 3;", Sqlite),
            "SELECT a FROM t LIMIT 2 * 3"
        );
        assert_eq!(
            cap("SELECT a FROM t LIMIT -1", Sqlite),
            "SELECT a FROM t LIMIT -1"
        );
    }

    #[test]
    fn row_cap_runs_only_on_queries() {
        assert!(with_row_cap("DELETE FROM t", Postgresql, 10).is_err());
        assert!(with_row_cap("SELECT 1; SELECT 2", Mysql, 10).is_err());
        assert!(with_row_cap("", Sqlite, 10).is_err());
        // The capped text passes the guard with the same verdict.
        for t in [Postgresql, Mysql, Sqlite] {
            for sql in [
                "SELECT a FROM t",
                "SELECT a FROM t LIMIT 5000",
                "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
            ] {
                assert!(check_sql(&with_row_cap(sql, t, 7).unwrap(), t).is_ok());
            }
        }
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

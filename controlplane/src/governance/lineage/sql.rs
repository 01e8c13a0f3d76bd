//! SQL lineage: walks the sqlparser AST of one query, resolving names scope by scope.
//!
//! Queries, CTEs and set operations live here; FROM clauses in [`from`], expressions and
//! output names in [`expr`], name resolution in [`scope`].
use nexbii_crds::DataSourceType;
use sqlparser::{
    ast::{
        Cte, Distinct, Expr, GroupByExpr, NamedWindowExpr, OrderBy, OrderByKind, Query, Select,
        SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, Table, TableAlias, Value,
        Values, WildcardAdditionalOptions,
    },
    dialect::{MySqlDialect, PostgreSqlDialect, SQLiteDialect},
    parser::Parser,
};

use super::{Collector, Flow, Lineage, LineageError, SchemaLookup, TableRef};
use crate::engine::placeholders::to_native;

mod expr;
mod from;
mod scope;

use scope::{Col, Dialect, Scope, StarItem};

/// Bound on re-analyses of a recursive CTE's recursive term; lineage only grows, so it settles
/// after at most a few rounds (one per hop a value can travel between columns).
const RECURSION_ROUNDS: usize = 16;

pub(super) fn analyze(
    source: DataSourceType,
    text: &str,
    schema: &dyn SchemaLookup,
) -> Result<Lineage, LineageError> {
    // The same dialect choice as the query guard (`engine::guard`).
    let dialect = match source {
        DataSourceType::Postgresql => Dialect::Postgres,
        DataSourceType::Mysql => Dialect::Mysql,
        _ => Dialect::Sqlite,
    };
    // Placeholders as the engine runs them: `?` on PostgreSQL, `$1` on MySQL and SQLite are
    // rewritten into the source's own style first.
    let native = to_native(text, source).map_err(|r| LineageError::Parse(r.0))?;
    let text = native.sql.as_str();
    let parsed = match dialect {
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, text),
        Dialect::Mysql => Parser::parse_sql(&MySqlDialect {}, text),
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, text),
    }
    .map_err(|e| LineageError::Parse(e.to_string()))?;
    let query = match parsed.as_slice() {
        [Statement::Query(q)] => q,
        [] => return Err(LineageError::Unsupported("empty statement".into())),
        [_] => {
            return Err(LineageError::Unsupported(
                "only queries (SELECT / WITH / VALUES) have lineage".into(),
            ))
        }
        _ => {
            return Err(LineageError::Unsupported(
                "exactly one statement is analyzed".into(),
            ))
        }
    };
    let mut sql = Sql {
        dialect,
        schema,
        out: Collector::default(),
        scopes: Vec::new(),
        ctes: Vec::new(),
    };
    let cols = sql.query(query);
    let outputs = cols
        .into_iter()
        .map(|c| c.flow.into_output(c.name))
        .collect();
    Ok(sql.out.finish(outputs))
}

/// A CTE visible to the query being analyzed.
struct CteDef {
    key: String,
    cols: Vec<Col>,
}

struct Sql<'a> {
    dialect: Dialect,
    schema: &'a dyn SchemaLookup,
    out: Collector,
    /// Query levels, innermost last (correlated references look outwards).
    scopes: Vec<Scope>,
    /// CTEs in scope, innermost last.
    ctes: Vec<CteDef>,
}

impl Sql<'_> {
    fn query(&mut self, q: &Query) -> Vec<Col> {
        let mark = self.ctes.len();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.cte(cte, with.recursive);
            }
        }
        let cols = match q.body.as_ref() {
            SetExpr::Select(s) => self.select(s, q.order_by.as_ref()),
            body => {
                let cols = self.set_expr(body);
                self.order_outputs(q.order_by.as_ref(), &cols);
                cols
            }
        };
        self.limits(q);
        self.ctes.truncate(mark);
        cols
    }

    /// LIMIT / OFFSET / FETCH decide which rows, not what they hold.
    fn limits(&mut self, q: &Query) {
        let exprs = q
            .limit
            .iter()
            .chain(q.offset.as_ref().map(|o| &o.value))
            .chain(q.fetch.as_ref().and_then(|f| f.quantity.as_ref()))
            .chain(&q.limit_by);
        for e in exprs {
            self.filter_expr(e);
        }
    }

    fn set_expr(&mut self, body: &SetExpr) -> Vec<Col> {
        match body {
            SetExpr::Select(s) => self.select(s, None),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { left, right, .. } => {
                let left = self.set_expr(left);
                let right = self.set_expr(right);
                self.set_union(left, right)
            }
            SetExpr::Values(v) => self.values(v),
            SetExpr::Table(t) => self.table_statement(t),
            other => {
                self.out.note(format!(
                    "unsupported query part: {}",
                    first_words(&other.to_string())
                ));
                Vec::new()
            }
        }
    }

    /// UNION / INTERSECT / EXCEPT: output i comes from column i of both branches; names come
    /// from the left.
    fn set_union(&mut self, left: Vec<Col>, right: Vec<Col>) -> Vec<Col> {
        if left.len() != right.len() {
            self.out.note(format!(
                "set operation branches have {} and {} columns",
                left.len(),
                right.len()
            ));
        }
        let mut right = right.into_iter();
        left.into_iter()
            .map(|l| {
                let flow = match right.next() {
                    Some(r) => Flow::union([l.flow, r.flow]),
                    None => Flow {
                        resolved: false,
                        ..l.flow
                    },
                };
                Col { flow, ..l }
            })
            .collect()
    }

    fn values(&mut self, v: &Values) -> Vec<Col> {
        let width = v.rows.iter().map(Vec::len).max().unwrap_or(0);
        (0..width)
            .map(|i| {
                let flows: Vec<Flow> = v
                    .rows
                    .iter()
                    .filter_map(|row| row.get(i))
                    .map(|e| self.expr(e))
                    .collect();
                let name = match self.dialect {
                    Dialect::Mysql => format!("column_{i}"),
                    _ => format!("column{}", i + 1),
                };
                self.col(name, Flow::union(flows))
            })
            .collect()
    }

    /// `TABLE t` (MySQL): all columns of `t`.
    fn table_statement(&mut self, t: &Table) -> Vec<Col> {
        let Some(name) = &t.table_name else {
            return Vec::new();
        };
        let wanted = TableRef::new(t.schema_name.as_deref(), name);
        match self.base_table(&wanted) {
            Some((_, cols)) => cols,
            None => Vec::new(),
        }
    }

    fn cte(&mut self, cte: &Cte, recursive: bool) {
        let key = self.dialect.ident_key(&cte.alias.name);
        let cols = match cte.query.body.as_ref() {
            SetExpr::SetOperation { left, right, .. } if recursive && cte.query.with.is_none() => {
                let cols = self.recursive_cte(&key, &cte.alias, left, right);
                self.order_outputs(cte.query.order_by.as_ref(), &cols);
                self.limits(&cte.query);
                cols
            }
            _ => {
                let cols = self.query(&cte.query);
                self.rename(cols, &cte.alias)
            }
        };
        self.ctes.push(CteDef { key, cols });
    }

    /// `anchor UNION [ALL] recursive`: the recursive term reads the CTE itself, first as the
    /// anchor's columns, then as the union so far, until nothing new flows in.
    fn recursive_cte(
        &mut self,
        key: &str,
        alias: &TableAlias,
        anchor: &SetExpr,
        recursive: &SetExpr,
    ) -> Vec<Col> {
        let anchor = self.set_expr(anchor);
        let anchor = self.rename(anchor, alias);
        let mut cols = anchor.clone();
        for _ in 0..RECURSION_ROUNDS {
            self.ctes.push(CteDef {
                key: key.to_string(),
                cols: cols.clone(),
            });
            let step = self.set_expr(recursive);
            self.ctes.pop();
            let next = self.set_union(cols.clone(), step);
            if next == cols {
                break;
            }
            cols = next;
        }
        cols
    }

    /// Applies a `name(a, b, ...)` column list to a relation's columns.
    fn rename(&mut self, mut cols: Vec<Col>, alias: &TableAlias) -> Vec<Col> {
        if alias.columns.len() > cols.len() {
            self.out.note(format!(
                "{} names {} columns but has {}",
                alias.name,
                alias.columns.len(),
                cols.len()
            ));
        }
        for (col, new) in cols.iter_mut().zip(&alias.columns) {
            col.name = self.dialect.fold(&new.name);
            col.key = self.dialect.key(&col.name);
        }
        cols
    }

    fn col(&self, name: String, flow: Flow) -> Col {
        Col {
            key: self.dialect.key(&name),
            name,
            flow,
            open: false,
        }
    }

    /// A placeholder for the unknown columns of a `*`.
    fn open_col(&self, name: String, flow: Flow) -> Col {
        Col {
            open: true,
            ..self.col(name, flow)
        }
    }

    fn select(&mut self, s: &Select, order_by: Option<&OrderBy>) -> Vec<Col> {
        self.scopes.push(Scope::default());
        let joined: Vec<_> = s.from.iter().map(|t| self.joined_item(t)).collect();
        if let Some(w) = &s.selection {
            self.filter_expr(w);
        }
        let cols = self.projection(&s.projection, &joined);
        if let Some(top) = self.scopes.last_mut() {
            top.outputs = cols.clone();
            top.aliases = true;
        }
        self.select_clauses(s);
        self.order_items(order_by);
        self.scopes.pop();
        cols
    }

    /// GROUP BY, HAVING, named windows, DISTINCT ON, QUALIFY: all filters.
    fn select_clauses(&mut self, s: &Select) {
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            for e in exprs {
                match self.output_ordinal(e) {
                    Some(flow) => self.out.filter(&flow),
                    None => self.filter_expr(e),
                }
            }
        }
        for e in s.having.iter().chain(&s.qualify) {
            self.filter_expr(e);
        }
        for window in &s.named_window {
            if let NamedWindowExpr::WindowSpec(spec) = &window.1 {
                self.window_spec(spec);
            }
        }
        if let Some(Distinct::On(exprs)) = &s.distinct {
            for e in exprs {
                self.order_expr(e);
            }
        }
    }

    /// ORDER BY of a set operation or VALUES: only output names and ordinals are visible.
    fn order_outputs(&mut self, order_by: Option<&OrderBy>, cols: &[Col]) {
        if order_by.is_none() {
            return;
        }
        self.scopes.push(Scope {
            outputs: cols.to_vec(),
            aliases: true,
            ..Scope::default()
        });
        self.order_items(order_by);
        self.scopes.pop();
    }

    fn order_items(&mut self, order_by: Option<&OrderBy>) {
        if let Some(OrderBy {
            kind: OrderByKind::Expressions(items),
            ..
        }) = order_by
        {
            for item in items {
                self.order_expr(&item.expr);
            }
        }
    }

    /// An ORDER BY item: a bare name means an output column first, then an input column.
    fn order_expr(&mut self, e: &Expr) {
        let by_output = match e {
            Expr::Identifier(id) => {
                let key = self.dialect.ident_key(id);
                self.scopes.last().and_then(|s| {
                    s.outputs
                        .iter()
                        .find(|c| c.key == key)
                        .map(|c| c.flow.clone())
                })
            }
            _ => self.output_ordinal(e),
        };
        match by_output {
            Some(flow) => self.out.filter(&flow),
            None => self.filter_expr(e),
        }
    }

    /// `GROUP BY 2` / `ORDER BY 2`: the second output column.
    fn output_ordinal(&self, e: &Expr) -> Option<Flow> {
        let Expr::Value(v) = e else { return None };
        let Value::Number(n, _) = &v.value else {
            return None;
        };
        let i: usize = n.parse().ok()?;
        let top = self.scopes.last()?;
        top.outputs.get(i.checked_sub(1)?).map(|c| c.flow.clone())
    }

    fn projection(&mut self, items: &[SelectItem], joined: &[scope::Joined]) -> Vec<Col> {
        let mut cols = Vec::new();
        for item in items {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let flow = self.expr(e);
                    cols.push(self.col(self.label(e), flow));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let flow = self.expr(expr);
                    cols.push(self.col(self.dialect.fold(alias), flow));
                }
                SelectItem::Wildcard(opts) => {
                    self.wildcard_options(opts);
                    if joined.is_empty() {
                        self.out.note("SELECT * without FROM".into());
                    }
                    let star: Vec<StarItem> =
                        joined.iter().flat_map(|j| j.star.iter().cloned()).collect();
                    cols.extend(self.expand(star));
                }
                SelectItem::QualifiedWildcard(kind, opts) => {
                    self.wildcard_options(opts);
                    cols.extend(self.qualified_star(kind));
                }
            }
        }
        cols
    }

    /// `* EXCLUDE (...)` and similar are not SQL of the supported databases; never guess.
    fn wildcard_options(&mut self, opts: &WildcardAdditionalOptions) {
        let plain = opts.opt_ilike.is_none()
            && opts.opt_exclude.is_none()
            && opts.opt_except.is_none()
            && opts.opt_replace.is_none()
            && opts.opt_rename.is_none();
        if !plain {
            self.out
                .note("wildcard options (EXCLUDE/EXCEPT/REPLACE/RENAME) are not resolved".into());
        }
    }

    fn expand(&mut self, star: Vec<StarItem>) -> Vec<Col> {
        star.into_iter()
            .map(|item| match item {
                StarItem::Col(c) => c,
                StarItem::Unknown { label, flow } => {
                    self.out
                        .note(format!("cannot expand * over {label}: it is not resolved"));
                    self.open_col(format!("{label}.*"), flow)
                }
            })
            .collect()
    }

    fn qualified_star(&mut self, kind: &SelectItemQualifiedWildcardKind) -> Vec<Col> {
        let name = match kind {
            SelectItemQualifiedWildcardKind::ObjectName(name) => name,
            SelectItemQualifiedWildcardKind::Expr(e) => {
                self.out.note(format!("cannot expand {e}.*"));
                let flow = Flow {
                    resolved: false,
                    ..self.expr(e)
                };
                return vec![self.open_col(format!("{e}.*"), flow)];
            }
        };
        let idents = expr::name_idents(name);
        match self.visible_rel(&idents).map(|rel| rel.star()) {
            Some(star) => self.expand(star),
            None => {
                self.out
                    .note(format!("cannot expand {name}.*: unknown table"));
                vec![self.open_col(format!("{name}.*"), Flow::unresolved())]
            }
        }
    }

    fn filter_expr(&mut self, e: &Expr) {
        let flow = self.expr(e);
        self.out.filter(&flow);
    }
}

/// The first words of a statement, for messages.
fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

//! Expressions: what flows into a value, and the label the database gives an unnamed one.
use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, HavingBound, Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr,
    Value, Visit, Visitor, WindowFrameBound, WindowSpec, WindowType,
};

use super::{
    scope::{rel_column, Dialect, Hit, Rel},
    Sql,
};
use crate::governance::lineage::{Flow, Transform};

/// Aggregates of the supported databases (besides `count`): their result is built from the
/// values of their arguments.
const AGGREGATES: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "total",
    "string_agg",
    "group_concat",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "json_arrayagg",
    "json_objectagg",
    "json_group_array",
    "json_group_object",
    "xmlagg",
    "bool_and",
    "bool_or",
    "every",
    "bit_and",
    "bit_or",
    "bit_xor",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "std",
    "variance",
    "var_pop",
    "var_samp",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "median",
    "any_value",
    "listagg",
];

/// The names of an object name's parts.
pub(super) fn name_idents(name: &ObjectName) -> Vec<&Ident> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(id) => id,
        })
        .collect()
}

impl Sql<'_> {
    pub(super) fn expr(&mut self, e: &Expr) -> Flow {
        match e {
            Expr::Identifier(id) => self.column(std::slice::from_ref(id)),
            Expr::CompoundIdentifier(ids) => self.column(ids),
            Expr::Nested(inner) => self.expr(inner),
            Expr::Value(_) | Expr::TypedString { .. } => Flow::constant(),
            Expr::Function(f) => self.function(f),
            Expr::Subquery(q) => self.subquery(q),
            Expr::Exists { subquery, .. } => {
                // Only decides on rows of the subquery: its filters count, its outputs do not.
                self.subquery(subquery);
                Flow::constant()
            }
            Expr::InSubquery { expr, subquery, .. } => {
                let parts = [self.expr(expr), self.subquery(subquery)];
                Flow::combine(parts, Transform::Derived)
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                // Field names after a dot are not columns; subscripts are expressions.
                let mut parts = vec![self.expr(root)];
                for access in access_chain {
                    if let AccessExpr::Subscript(s) = access {
                        parts.push(self.parts_of(s, false));
                    }
                }
                Flow::combine(parts, Transform::Derived)
            }
            Expr::MatchAgainst { columns, .. } => {
                let parts: Vec<Flow> = columns
                    .iter()
                    .map(|c| self.column(std::slice::from_ref(c)))
                    .collect();
                Flow::combine(parts, Transform::Derived)
            }
            Expr::Wildcard(_) => self.all_rows(),
            Expr::QualifiedWildcard(name, _) => self.row_of(name),
            _ => self.parts_of(e, true),
        }
    }

    /// Any other expression (operators, CASE, casts, ...): Derived from all its parts. The
    /// sqlparser visitor finds the parts; those with their own meaning (columns, functions,
    /// subqueries) are analyzed by [`Sql::expr`] and their insides skipped.
    fn parts_of<V: Visit>(&mut self, node: &V, node_is_expr: bool) -> Flow {
        let mut visitor = Parts {
            sql: self,
            depth: 0,
            skip_below: None,
            root_is_expr: node_is_expr,
            parts: Vec::new(),
        };
        let _ = node.visit(&mut visitor);
        let parts = visitor.parts;
        Flow::combine(parts, Transform::Derived)
    }

    /// A column reference: `c`, `t.c` or `s.t.c`, innermost query level first.
    fn column(&mut self, ids: &[Ident]) -> Flow {
        let Some((col, qualifier)) = ids.split_last() else {
            return Flow::unresolved();
        };
        let key = self.dialect.ident_key(col);
        let shown = ids
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let hit = if qualifier.is_empty() {
            self.unqualified(&key, &shown)
        } else {
            let q: Vec<&Ident> = qualifier.iter().collect();
            match self.visible_rel(&q) {
                Some(rel) => rel_column(rel, &key, &shown),
                None => Hit::Partial(
                    Flow::unresolved(),
                    format!("column {shown}: unknown table {}", q[q.len() - 1].value),
                ),
            }
        };
        match hit {
            Hit::Found(flow) => flow,
            Hit::Partial(flow, why) => {
                self.out.note(why);
                flow
            }
            Hit::Missing => {
                self.out.note(format!("column {shown} not found"));
                Flow::unresolved()
            }
        }
    }

    fn unqualified(&self, key: &str, shown: &str) -> Hit {
        for scope in self.scopes.iter().rev().filter(|s| !s.hidden) {
            match scope.lookup(key, shown) {
                Hit::Missing => continue,
                hit => return hit,
            }
        }
        // PostgreSQL's whole-row reference: `to_json(p)` with `p` a table alias.
        match self
            .scopes
            .iter()
            .rev()
            .filter(|s| !s.hidden)
            .find_map(|s| {
                s.rels_named(None, key)
                    .first()
                    .map(|r| Flow::combine([r.row_flow()], Transform::Derived))
            }) {
            Some(flow) => Hit::Found(flow),
            None => Hit::Missing,
        }
    }

    /// `*` as an argument (other than `count(*)`): every column of the current level.
    fn all_rows(&mut self) -> Flow {
        let Some(top) = self.scopes.iter().rev().find(|s| !s.hidden) else {
            return Flow::constant();
        };
        let flows: Vec<Flow> = top
            .merged
            .iter()
            .map(|(c, _)| c.flow.clone())
            .chain(top.rels.iter().map(|r| r.row_flow()))
            .collect();
        Flow::union(flows)
    }

    /// `t.*` as an argument: every column of `t`.
    fn row_of(&mut self, name: &ObjectName) -> Flow {
        match self.visible_rel(&name_idents(name)).map(Rel::row_flow) {
            Some(flow) => flow,
            None => {
                self.out.note(format!("unknown table {name} in {name}.*"));
                Flow::unresolved()
            }
        }
    }

    /// A subquery's value: the union of its outputs (one, for a scalar subquery).
    fn subquery(&mut self, q: &Query) -> Flow {
        let cols = self.query(q);
        if cols.is_empty() {
            return Flow::constant();
        }
        Flow::union(cols.into_iter().map(|c| c.flow))
    }

    fn function(&mut self, f: &Function) -> Flow {
        let name = name_idents(&f.name)
            .last()
            .map(|id| id.value.to_lowercase())
            .unwrap_or_default();
        let is_count = name == "count";
        let mut args = self.arguments(&f.args, is_count);
        args.extend(self.arguments(&f.parameters, is_count));
        // Ordered-set aggregates (`percentile_cont(0.5) WITHIN GROUP (ORDER BY x)`) read x.
        args.extend(f.within_group.iter().map(|o| self.expr(&o.expr)));
        if let Some(filter) = &f.filter {
            self.filter_expr(filter);
        }
        if let Some(WindowType::WindowSpec(spec)) = &f.over {
            self.window_spec(spec);
        }
        let aggregate =
            AGGREGATES.contains(&name.as_str()) || !f.within_group.is_empty() || f.filter.is_some();
        if is_count {
            Flow::union(args).counted_only()
        } else if aggregate {
            Flow::combine(args, Transform::Aggregated)
        } else {
            Flow::combine(args, Transform::Derived)
        }
    }

    fn arguments(&mut self, args: &FunctionArguments, is_count: bool) -> Vec<Flow> {
        let list = match args {
            FunctionArguments::None => return Vec::new(),
            FunctionArguments::Subquery(q) => return vec![self.subquery(q)],
            FunctionArguments::List(list) => list,
        };
        let mut flows = Vec::new();
        for arg in &list.args {
            let (FunctionArg::Named { arg, .. }
            | FunctionArg::ExprNamed { arg, .. }
            | FunctionArg::Unnamed(arg)) = arg;
            flows.push(match arg {
                FunctionArgExpr::Expr(e) => self.expr(e),
                FunctionArgExpr::Wildcard if is_count => Flow::constant(),
                FunctionArgExpr::Wildcard => self.all_rows(),
                FunctionArgExpr::QualifiedWildcard(name) => self.row_of(name),
            });
        }
        // ORDER BY / LIMIT inside an aggregate's arguments arrange rows, they add no values.
        for clause in &list.clauses {
            match clause {
                FunctionArgumentClause::OrderBy(items) => {
                    for o in items {
                        self.filter_expr(&o.expr);
                    }
                }
                FunctionArgumentClause::Limit(e)
                | FunctionArgumentClause::Having(HavingBound(_, e)) => self.filter_expr(e),
                _ => {}
            }
        }
        flows
    }

    /// PARTITION BY / ORDER BY / frame bounds of a window: filters.
    pub(super) fn window_spec(&mut self, spec: &WindowSpec) {
        for e in &spec.partition_by {
            self.filter_expr(e);
        }
        for o in &spec.order_by {
            self.filter_expr(&o.expr);
        }
        if let Some(frame) = &spec.window_frame {
            for bound in std::iter::once(&frame.start_bound).chain(&frame.end_bound) {
                if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) =
                    bound
                {
                    self.filter_expr(e);
                }
            }
        }
    }

    /// The label of an unnamed output column.
    pub(super) fn label(&self, e: &Expr) -> String {
        match self.dialect {
            Dialect::Postgres => pg_label(e).unwrap_or_else(|| "?column?".into()),
            Dialect::Mysql | Dialect::Sqlite => match e {
                Expr::Identifier(id) => id.value.clone(),
                Expr::CompoundIdentifier(ids) => {
                    ids.last().map(|i| i.value.clone()).unwrap_or_default()
                }
                _ => e.to_string(),
            },
        }
    }
}

/// Visits an expression's parts: everything [`Sql::expr`] handles itself is analyzed there
/// and its subtree skipped; operators and other plain nodes are walked through.
struct Parts<'s, 'a> {
    sql: &'s mut Sql<'a>,
    depth: usize,
    skip_below: Option<usize>,
    root_is_expr: bool,
    parts: Vec<Flow>,
}

impl Parts<'_, '_> {
    fn enter(&mut self) -> bool {
        self.depth += 1;
        self.skip_below.is_none()
    }

    fn leave(&mut self) -> ControlFlow<()> {
        if self.skip_below == Some(self.depth) {
            self.skip_below = None;
        }
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

impl Visitor for Parts<'_, '_> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if !self.enter() || (self.depth == 1 && self.root_is_expr) || is_plain(e) {
            return ControlFlow::Continue(());
        }
        let flow = self.sql.expr(e);
        self.parts.push(flow);
        self.skip_below = Some(self.depth);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.leave()
    }

    /// A query not under a subquery expression (none is known): analyzed as one.
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if self.enter() {
            let flow = self.sql.subquery(q);
            self.parts.push(flow);
            self.skip_below = Some(self.depth);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.leave()
    }
}

/// Nodes whose value is just a combination of their parts.
fn is_plain(e: &Expr) -> bool {
    !matches!(
        e,
        Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Nested(_)
            | Expr::Value(_)
            | Expr::TypedString { .. }
            | Expr::Function(_)
            | Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::InSubquery { .. }
            | Expr::CompoundFieldAccess { .. }
            | Expr::MatchAgainst { .. }
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..)
    )
}

/// PostgreSQL's generated column name (`FigureColname`); None means `?column?`.
fn pg_label(e: &Expr) -> Option<String> {
    let fold = |id: &Ident| Dialect::Postgres.fold(id);
    Some(match e {
        Expr::Identifier(id) => fold(id),
        Expr::CompoundIdentifier(ids) => fold(ids.last()?),
        Expr::CompoundFieldAccess { root, access_chain } => match access_chain.last() {
            Some(AccessExpr::Dot(Expr::Identifier(id))) => fold(id),
            _ => return pg_label(root),
        },
        Expr::Function(f) => fold(name_idents(&f.name).last()?),
        Expr::Cast {
            expr, data_type, ..
        } => return pg_label(expr).or_else(|| Some(pg_type_name(data_type))),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => return pg_label(inner),
        Expr::Subquery(q) => return first_output_label(q),
        Expr::TypedString { data_type, .. } => pg_type_name(data_type),
        Expr::Value(v) if matches!(v.value, Value::Boolean(_)) => "bool".into(),
        other => pg_keyword_label(other)?.into(),
    })
}

fn pg_keyword_label(e: &Expr) -> Option<&'static str> {
    Some(match e {
        Expr::Case { .. } => "case",
        Expr::Exists { .. } => "exists",
        Expr::Array(_) => "array",
        Expr::Tuple(_) => "row",
        Expr::Substring { .. } => "substring",
        Expr::Trim { .. } => "btrim",
        Expr::Position { .. } => "position",
        Expr::Extract { .. } => "extract",
        Expr::Ceil { .. } => "ceil",
        Expr::Floor { .. } => "floor",
        Expr::Overlay { .. } => "overlay",
        Expr::AtTimeZone { .. } => "timezone",
        Expr::Interval(_) => "interval",
        _ => return None,
    })
}

/// A scalar subquery is labelled like its (first) output column.
fn first_output_label(q: &Query) -> Option<String> {
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    match s.projection.first()? {
        SelectItem::UnnamedExpr(e) => pg_label(e),
        SelectItem::ExprWithAlias { alias, .. } => Some(Dialect::Postgres.fold(alias)),
        _ => None,
    }
}

/// PostgreSQL's internal name of a type, as it labels casts of constants.
fn pg_type_name(t: &DataType) -> String {
    let text = t.to_string().to_lowercase();
    let base = text.split('(').next().unwrap_or(&text).trim();
    match base {
        "int" | "integer" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "real" => "float4",
        "double precision" | "float" => "float8",
        "boolean" => "bool",
        "character varying" => "varchar",
        "character" | "char" => "bpchar",
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        other => other,
    }
    .to_string()
}

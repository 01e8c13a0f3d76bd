//! What a statement's text says about its result (sqlparser, in the source's dialect): is it
//! bounded (LIMIT/FETCH/TOP, or aggregates without GROUP BY), which tables it reads with `*`,
//! and which columns its WHERE compares with a value (index candidates where the plan does
//! not print its filter, as on SQLite).
use std::ops::ControlFlow;

use sqlparser::{
    ast::{
        visit_expressions, BinaryOperator, Expr, FunctionArguments, GroupByExpr, ObjectName, Query,
        Select, SelectItem, SetExpr, Statement, TableFactor,
    },
    dialect::Dialect,
    parser::Parser,
};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shape {
    /// The outermost query caps its rows (LIMIT, FETCH, TOP) or returns one row (aggregates
    /// without GROUP BY).
    pub bounded: bool,
    /// Tables whose columns the outermost SELECT takes with `*` or `t.*`.
    pub wildcard_tables: Vec<String>,
    /// `(table, column)` compared with a value in the outermost SELECT's WHERE.
    pub filters: Vec<(String, String)>,
}

/// The last part of an object name (`public.big` → `big`).
fn last(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

/// `(alias or name, table)` of each plain table in the FROM list, joins included.
fn tables(select: &Select) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |f: &TableFactor| {
        if let TableFactor::Table { name, alias, .. } = f {
            let t = last(name);
            let key = alias.as_ref().map_or(t.clone(), |a| a.name.value.clone());
            out.push((key, t));
        }
    };
    for twj in &select.from {
        add(&twj.relation);
        twj.joins.iter().for_each(|j| add(&j.relation));
    }
    out
}

const AGGREGATES: [&str; 5] = ["count", "sum", "avg", "min", "max"];

fn is_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            AGGREGATES
                .iter()
                .any(|a| last(&f.name).eq_ignore_ascii_case(a))
                && !matches!(f.args, FunctionArguments::None)
        }
        Expr::Nested(x) => is_aggregate(x),
        Expr::Cast { expr, .. } => is_aggregate(expr),
        _ => false,
    }
}

fn is_value(e: &Expr) -> bool {
    matches!(e, Expr::Value(_))
        || matches!(e, Expr::Cast { expr, .. } if matches!(**expr, Expr::Value(_)))
}

fn column_of(e: &Expr, from: &[(String, String)]) -> Option<(String, String)> {
    match e {
        Expr::Identifier(i) if from.len() == 1 => Some((from[0].1.clone(), i.value.clone())),
        Expr::CompoundIdentifier(p) if p.len() >= 2 => {
            let owner = &p[p.len() - 2].value;
            from.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(owner))
                .map(|(_, t)| (t.clone(), p[p.len() - 1].value.clone()))
        }
        _ => None,
    }
}

fn select_shape(select: &Select, query: &Query) -> Shape {
    let from = tables(select);
    let mut shape = Shape {
        bounded: query.limit.is_some() || query.fetch.is_some() || select.top.is_some(),
        ..Default::default()
    };
    let no_group = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    let all_aggregates = !select.projection.is_empty()
        && select.projection.iter().all(|p| match p {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                is_aggregate(e)
            }
            _ => false,
        });
    shape.bounded |= no_group && all_aggregates;
    for p in &select.projection {
        match p {
            SelectItem::Wildcard(_) => shape
                .wildcard_tables
                .extend(from.iter().map(|(_, t)| t.clone())),
            SelectItem::QualifiedWildcard(
                sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(n),
                _,
            ) => {
                let key = last(n);
                if let Some((_, t)) = from.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                    shape.wildcard_tables.push(t.clone());
                }
            }
            _ => {}
        }
    }
    shape.wildcard_tables.dedup();
    if let Some(w) = &select.selection {
        let _ = visit_expressions(w, |e: &Expr| {
            let compared: Vec<&Expr> = match e {
                Expr::BinaryOp {
                    left,
                    op:
                        BinaryOperator::Eq
                        | BinaryOperator::Lt
                        | BinaryOperator::LtEq
                        | BinaryOperator::Gt
                        | BinaryOperator::GtEq,
                    right,
                } => {
                    if is_value(right) {
                        vec![left]
                    } else if is_value(left) {
                        vec![right]
                    } else {
                        vec![]
                    }
                }
                Expr::InList { expr, list, .. } if list.iter().all(is_value) => vec![expr],
                Expr::Between {
                    expr, low, high, ..
                } if is_value(low) && is_value(high) => {
                    vec![expr]
                }
                _ => vec![],
            };
            for c in compared.into_iter().filter_map(|c| column_of(c, &from)) {
                if !shape.filters.contains(&c) {
                    shape.filters.push(c);
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
    shape
}

/// The shape of one read statement (`None`: it does not parse as a single query).
pub fn shape(sql: &str, dialect: &dyn Dialect) -> Option<Shape> {
    let mut stmts = Parser::parse_sql(dialect, sql).ok()?;
    if stmts.len() != 1 {
        return None;
    }
    let Statement::Query(query) = stmts.remove(0) else {
        return None;
    };
    Some(match &*query.body {
        SetExpr::Select(select) => select_shape(select, &query),
        // Set operations, VALUES, nested queries: only the outer cap is known.
        _ => Shape {
            bounded: query.limit.is_some() || query.fetch.is_some(),
            ..Default::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect, SQLiteDialect};

    use super::*;

    fn pg(sql: &str) -> Shape {
        shape(sql, &PostgreSqlDialect {}).unwrap()
    }

    #[test]
    fn bounded_statements() {
        assert!(pg("SELECT a FROM t LIMIT 10").bounded);
        assert!(pg("SELECT a FROM t FETCH FIRST 5 ROWS ONLY").bounded);
        assert!(pg("SELECT count(*), max(a) FROM t WHERE b = 1").bounded);
        assert!(!pg("SELECT a, count(*) FROM t GROUP BY a").bounded);
        assert!(!pg("SELECT a FROM t WHERE b > 3").bounded);
        assert!(!pg("SELECT a FROM t UNION SELECT a FROM u").bounded);
        assert!(pg("SELECT a FROM t UNION SELECT a FROM u LIMIT 3").bounded);
    }

    #[test]
    fn wildcards_name_their_tables() {
        assert_eq!(pg("SELECT * FROM wide").wildcard_tables, vec!["wide"]);
        assert_eq!(
            pg("SELECT w.*, n.x FROM public.wide w JOIN narrow n ON n.id = w.id").wildcard_tables,
            vec!["wide"]
        );
        assert!(pg("SELECT a FROM wide").wildcard_tables.is_empty());
    }

    #[test]
    fn where_columns_compared_with_values() {
        let s = shape(
            "SELECT name FROM big WHERE id = 42 AND kind IN ('a', 'b') AND a = b",
            &SQLiteDialect {},
        )
        .unwrap();
        assert_eq!(
            s.filters,
            vec![("big".into(), "id".into()), ("big".into(), "kind".into())]
        );
        let s = shape(
            "SELECT o.x FROM orders o JOIN users u ON u.id = o.user_id WHERE o.placed BETWEEN 1 AND 2 AND u.name = 'x'",
            &MySqlDialect {},
        )
        .unwrap();
        assert_eq!(
            s.filters,
            vec![
                ("orders".into(), "placed".into()),
                ("users".into(), "name".into())
            ]
        );
        // Unqualified names are only attributed when one table is read.
        assert!(pg("SELECT 1 FROM a, b WHERE x = 1").filters.is_empty());
    }
}

//! FROM clauses: base tables, CTE references, derived tables, table functions and joins.
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, JoinConstraint, JoinOperator, JsonTableColumn,
    ObjectName, TableAlias, TableFactor, TableWithJoins,
};

use super::{
    expr::name_idents,
    scope::{Col, Joined, Rel, StarItem},
    Sql,
};
use crate::governance::lineage::{ColumnRef, Flow, TableRef, Transform};

impl Sql<'_> {
    /// One comma-separated FROM item with its joins. Its relations join the current scope as
    /// they are met, so a LATERAL item sees the ones before it.
    pub(super) fn joined_item(&mut self, twj: &TableWithJoins) -> Joined {
        let mut acc = self.factor(&twj.relation);
        for join in &twj.joins {
            let right = self.factor(&join.relation);
            acc = self.join(acc, right, &join.join_operator);
        }
        acc
    }

    fn factor(&mut self, factor: &TableFactor) -> Joined {
        let rel = match factor {
            TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } => self.table_rel(name, alias.as_ref()),
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } => self.function_rel(&name.to_string(), &args.args, alias.as_ref()),
            TableFactor::Function {
                name, args, alias, ..
            } => self.function_rel(&name.to_string(), args, alias.as_ref()),
            TableFactor::Derived {
                lateral,
                subquery,
                alias,
            } => self.derived_rel(*lateral, subquery, alias.as_ref()),
            TableFactor::JsonTable {
                json_expr,
                columns,
                alias,
                ..
            } => self.json_table_rel(json_expr, columns, alias.as_ref()),
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => return self.nested_join(table_with_joins, alias.as_ref()),
            other => self.opaque_rel(other),
        };
        self.push_rel(rel)
    }

    /// Makes `rel` visible in the current level.
    fn push_rel(&mut self, rel: Rel) -> Joined {
        let star = rel.star();
        let at = match self.scopes.last_mut() {
            Some(top) => {
                top.rels.push(rel);
                top.rels.len() - 1
            }
            None => 0,
        };
        Joined {
            star,
            rels: at..at + 1,
        }
    }

    /// A base table, or a CTE when a single-part name matches one.
    fn table_rel(&mut self, name: &ObjectName, alias: Option<&TableAlias>) -> Rel {
        let idents = name_idents(name);
        if let [one] = idents.as_slice() {
            let key = self.dialect.ident_key(one);
            if let Some(cte) = self.ctes.iter().rev().find(|c| c.key == key) {
                let cols = cte.cols.clone();
                return self.named_rel(key, None, name.to_string(), Some(cols), alias);
            }
        }
        let table = idents
            .last()
            .map(|t| self.dialect.fold(t))
            .unwrap_or_default();
        let schema = idents
            .len()
            .checked_sub(2)
            .map(|i| self.dialect.fold(idents[i]));
        let wanted = TableRef {
            schema,
            name: table,
        };
        let key = self.dialect.key(&wanted.name);
        match self.base_table(&wanted) {
            Some((canonical, cols)) => {
                let schema_key = canonical.schema.as_deref().map(|s| self.dialect.key(s));
                self.named_rel(key, schema_key, canonical.to_string(), Some(cols), alias)
            }
            None => {
                let schema_key = wanted.schema.as_deref().map(|s| self.dialect.key(s));
                self.named_rel(key, schema_key, wanted.to_string(), None, alias)
            }
        }
    }

    /// Looks a table up in the catalog: its canonical name and columns, recorded as read.
    pub(super) fn base_table(&mut self, wanted: &TableRef) -> Option<(TableRef, Vec<Col>)> {
        let Some((canonical, names)) = self.schema.columns(wanted) else {
            self.out.note(format!("table {wanted} not in catalog"));
            return None;
        };
        self.out.tables.insert(canonical.clone());
        let cols = names
            .iter()
            .map(|n| {
                let source = ColumnRef::new(canonical.clone(), n);
                self.col(n.clone(), Flow::column(source))
            })
            .collect();
        Some((canonical, cols))
    }

    /// A relation under its alias (which hides the table name), columns renamed by the alias'
    /// column list.
    fn named_rel(
        &mut self,
        key: String,
        schema_key: Option<String>,
        label: String,
        cols: Option<Vec<Col>>,
        alias: Option<&TableAlias>,
    ) -> Rel {
        let cols = match (cols, alias) {
            (Some(cols), Some(a)) => Some(self.rename(cols, a)),
            (cols, _) => cols,
        };
        let (key, schema_key) = match alias {
            Some(a) => (self.dialect.ident_key(&a.name), None),
            None => (key, schema_key),
        };
        Rel {
            key,
            schema_key,
            label,
            cols,
            fallback: Flow::unresolved(),
        }
    }

    fn derived_rel(
        &mut self,
        lateral: bool,
        subquery: &sqlparser::ast::Query,
        alias: Option<&TableAlias>,
    ) -> Rel {
        // Only LATERAL subqueries see the FROM items before them.
        let hide = !lateral && self.set_hidden(true);
        let cols = self.query(subquery);
        if hide {
            self.set_hidden(false);
        }
        let label = alias.map_or_else(|| "subquery".to_string(), |a| a.name.to_string());
        self.named_rel(String::new(), None, label, Some(cols), alias)
    }

    /// Marks the current level hidden or visible; true when there is one.
    fn set_hidden(&mut self, hidden: bool) -> bool {
        match self.scopes.last_mut() {
            Some(top) => {
                top.hidden = hidden;
                true
            }
            None => false,
        }
    }

    /// A table-valued function: its columns are not known, so any column read from it is
    /// unresolved; its arguments flow into all of them.
    fn function_rel(
        &mut self,
        name: &str,
        args: &[FunctionArg],
        alias: Option<&TableAlias>,
    ) -> Rel {
        let flows: Vec<Flow> = args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Named { arg, .. }
                | FunctionArg::ExprNamed { arg, .. }
                | FunctionArg::Unnamed(arg) => match arg {
                    FunctionArgExpr::Expr(e) => Some(self.expr(e)),
                    _ => None,
                },
            })
            .collect();
        self.out
            .note(format!("table function {name}() is not resolved"));
        let mut fallback = Flow::combine(flows, Transform::Derived);
        fallback.resolved = false;
        self.unknown_rel(name, fallback, alias)
    }

    fn unknown_rel(&mut self, name: &str, fallback: Flow, alias: Option<&TableAlias>) -> Rel {
        // A column list in the alias names the columns, all carrying the same unresolved flow.
        let cols = alias.filter(|a| !a.columns.is_empty()).map(|a| {
            a.columns
                .iter()
                .map(|c| self.col(self.dialect.fold(&c.name), fallback.clone()))
                .collect()
        });
        let key = match alias {
            Some(a) => self.dialect.ident_key(&a.name),
            None => self.dialect.key(name),
        };
        Rel {
            key,
            schema_key: None,
            label: alias.map_or_else(|| name.to_string(), |a| a.name.to_string()),
            cols,
            fallback,
        }
    }

    /// MySQL `JSON_TABLE(doc, path COLUMNS (...))`: every column is extracted from `doc`.
    fn json_table_rel(
        &mut self,
        json: &Expr,
        columns: &[JsonTableColumn],
        alias: Option<&TableAlias>,
    ) -> Rel {
        let doc = Flow::combine([self.expr(json)], Transform::Derived);
        let dialect = self.dialect;
        let mut cols = Vec::new();
        json_table_cols(columns, &mut |id, from_doc| {
            let flow = if from_doc {
                doc.clone()
            } else {
                Flow::constant()
            };
            cols.push((dialect.fold(id), flow));
        });
        let cols = cols.into_iter().map(|(n, f)| self.col(n, f)).collect();
        self.named_rel(
            "json_table".into(),
            None,
            "JSON_TABLE".into(),
            Some(cols),
            alias,
        )
    }

    /// `(a JOIN b)`, optionally aliased (the alias then hides the inner names).
    fn nested_join(&mut self, inner: &TableWithJoins, alias: Option<&TableAlias>) -> Joined {
        let mark = self.scopes.last().map_or(0, |s| s.rels.len());
        let joined = self.joined_item(inner);
        let Some(alias) = alias else {
            return joined;
        };
        if let Some(top) = self.scopes.last_mut() {
            top.rels.truncate(mark);
            top.merged.retain(|(_, covers)| covers.end <= mark);
        }
        let cols = (!joined.has_unknown()).then(|| {
            joined
                .star
                .iter()
                .filter_map(|s| match s {
                    StarItem::Col(c) => Some(c.clone()),
                    StarItem::Unknown { .. } => None,
                })
                .collect()
        });
        let mut rel = self.named_rel(
            String::new(),
            None,
            alias.name.to_string(),
            cols,
            Some(alias),
        );
        rel.fallback = joined.unknown_flow().unwrap_or_else(Flow::unresolved);
        self.push_rel(rel)
    }

    /// PIVOT, UNPIVOT, MATCH_RECOGNIZE, UNNEST ...: not SQL the analyzer resolves.
    fn opaque_rel(&mut self, factor: &TableFactor) -> Rel {
        let text = factor.to_string();
        let name = text.split('(').next().unwrap_or("").trim().to_string();
        self.out.note(format!("FROM item {name} is not resolved"));
        Rel {
            key: String::new(),
            schema_key: None,
            label: name,
            cols: None,
            fallback: Flow::unresolved(),
        }
    }

    fn join(&mut self, acc: Joined, right: Joined, op: &JoinOperator) -> Joined {
        let constraint = match op {
            JoinOperator::Join(c)
            | JoinOperator::Inner(c)
            | JoinOperator::Left(c)
            | JoinOperator::LeftOuter(c)
            | JoinOperator::Right(c)
            | JoinOperator::RightOuter(c)
            | JoinOperator::FullOuter(c)
            | JoinOperator::Semi(c)
            | JoinOperator::LeftSemi(c)
            | JoinOperator::RightSemi(c)
            | JoinOperator::Anti(c)
            | JoinOperator::LeftAnti(c)
            | JoinOperator::RightAnti(c) => Some(c),
            JoinOperator::AsOf {
                match_condition,
                constraint,
            } => {
                self.filter_expr(match_condition);
                Some(constraint)
            }
            JoinOperator::CrossJoin | JoinOperator::CrossApply | JoinOperator::OuterApply => None,
        };
        match constraint {
            Some(JoinConstraint::On(e)) => {
                self.filter_expr(e);
                concat(acc, right)
            }
            Some(JoinConstraint::Using(names)) => {
                let keys = names
                    .iter()
                    .filter_map(|n| name_idents(n).last().copied())
                    .map(|id| (self.dialect.ident_key(id), self.dialect.fold(id)))
                    .collect();
                self.using(acc, right, keys)
            }
            Some(JoinConstraint::Natural) => {
                if acc.has_unknown() || right.has_unknown() {
                    self.out.note(
                        "NATURAL JOIN over an unresolved relation: common columns unknown".into(),
                    );
                }
                let right_keys = right.col_keys();
                let common = acc
                    .col_keys()
                    .into_iter()
                    .filter(|(k, _)| right_keys.iter().any(|(r, _)| r == k))
                    .collect();
                self.using(acc, right, common)
            }
            Some(JoinConstraint::None) | None => concat(acc, right),
        }
    }

    /// `USING (k, ...)`: one merged column per key (from both sides), first in `*`, visible
    /// unqualified; the keys are join filters.
    fn using(&mut self, acc: Joined, right: Joined, keys: Vec<(String, String)>) -> Joined {
        let mut merged = Vec::new();
        for (key, name) in &keys {
            let sides = [acc.column(key), right.column(key)];
            if sides.iter().any(Option::is_none) {
                self.out.note(format!(
                    "USING column {name} is not on both sides of the join"
                ));
            }
            let mut flow = Flow::union(sides.iter().flatten().cloned());
            flow.resolved &= sides.iter().all(Option::is_some);
            self.out.filter(&flow);
            merged.push(Col {
                key: key.clone(),
                name: name.clone(),
                flow,
                open: false,
            });
        }
        let key_list: Vec<String> = keys.into_iter().map(|(k, _)| k).collect();
        let rels = acc.rels.start..right.rels.end;
        if let Some(top) = self.scopes.last_mut() {
            top.merged.retain(|(c, _)| !key_list.contains(&c.key));
            top.merged
                .extend(merged.iter().map(|c| (c.clone(), rels.clone())));
        }
        let mut star: Vec<StarItem> = merged.into_iter().map(StarItem::Col).collect();
        star.extend(acc.without(&key_list));
        star.extend(right.without(&key_list));
        Joined { star, rels }
    }

    /// The relation a qualified name (`t` or `schema.t`) denotes, innermost level first.
    pub(super) fn visible_rel(&self, idents: &[&Ident]) -> Option<&Rel> {
        let (schema, table) = match idents {
            [t] => (None, *t),
            [.., s, t] => (Some(self.dialect.ident_key(s)), *t),
            [] => return None,
        };
        let key = self.dialect.ident_key(table);
        self.scopes
            .iter()
            .rev()
            .filter(|s| !s.hidden)
            .find_map(|s| s.rels_named(schema.as_deref(), &key).first().copied())
    }
}

fn concat(acc: Joined, right: Joined) -> Joined {
    let mut star = acc.star;
    star.extend(right.star);
    Joined {
        star,
        rels: acc.rels.start..right.rels.end,
    }
}

/// Calls `f(name, from_document)` for every column a JSON_TABLE defines, nested ones included.
fn json_table_cols(columns: &[JsonTableColumn], f: &mut impl FnMut(&Ident, bool)) {
    for c in columns {
        match c {
            JsonTableColumn::Named(n) => f(&n.name, true),
            JsonTableColumn::ForOrdinality(id) => f(id, false),
            JsonTableColumn::Nested(n) => json_table_cols(&n.columns, f),
        }
    }
}

//! Name resolution: relations visible in a FROM clause, and how a column name finds its value.
use std::ops::Range;

use sqlparser::ast::Ident;

use crate::governance::lineage::Flow;

/// The SQL dialect, for identifier folding and generated column names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    /// The name an identifier denotes: PostgreSQL folds unquoted names to lower case.
    pub fn fold(self, id: &Ident) -> String {
        match (self, id.quote_style) {
            (Dialect::Postgres, None) => id.value.to_lowercase(),
            _ => id.value.clone(),
        }
    }

    /// The comparison key of a (folded or catalog) name: exact in PostgreSQL, case-insensitive
    /// in MySQL and SQLite (column names there are case-insensitive).
    pub fn key(self, name: &str) -> String {
        match self {
            Dialect::Postgres => name.to_string(),
            _ => name.to_lowercase(),
        }
    }

    pub fn ident_key(self, id: &Ident) -> String {
        self.key(&self.fold(id))
    }
}

/// A named column of a relation or query result, with the lineage of its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Col {
    pub key: String,
    pub name: String,
    pub flow: Flow,
    /// Stands for the unknown columns of `*` over an unresolved relation.
    pub open: bool,
}

/// A relation in a FROM clause: a base table, CTE, derived table or table function.
#[derive(Clone, Debug)]
pub(super) struct Rel {
    /// The key it is qualified by: its alias, else its table name.
    pub key: String,
    /// Schema key of an unaliased base table, for `schema.table.column`.
    pub schema_key: Option<String>,
    /// For messages.
    pub label: String,
    /// None when the relation's columns are unknown.
    pub cols: Option<Vec<Col>>,
    /// What any column of an unknown relation carries (unresolved; arguments of a table
    /// function flow into it).
    pub fallback: Flow,
}

impl Rel {
    pub fn star(&self) -> Vec<StarItem> {
        match &self.cols {
            Some(cols) => cols
                .iter()
                .map(|c| match c.open {
                    true => StarItem::Unknown {
                        label: c.name.trim_end_matches(".*").to_string(),
                        flow: c.flow.clone(),
                    },
                    false => StarItem::Col(c.clone()),
                })
                .collect(),
            None => vec![StarItem::Unknown {
                label: self.label.clone(),
                flow: self.fallback.clone(),
            }],
        }
    }

    /// What columns this relation may have beyond the known ones carry: None when all its
    /// columns are known.
    pub fn open_flow(&self) -> Option<Flow> {
        match &self.cols {
            None => Some(self.fallback.clone()),
            Some(cols) if cols.iter().any(|c| c.open) => Some(unresolved(
                cols.iter().filter(|c| c.open).map(|c| c.flow.clone()),
            )),
            Some(_) => None,
        }
    }

    /// The value of a whole row (`to_json(t)`, `t.*` as a function argument).
    pub fn row_flow(&self) -> Flow {
        match &self.cols {
            Some(cols) => Flow::union(cols.iter().map(|c| c.flow.clone())),
            None => self.fallback.clone(),
        }
    }
}

/// One entry of a `*` expansion.
#[derive(Clone, Debug)]
pub(super) enum StarItem {
    Col(Col),
    /// A relation whose columns are unknown.
    Unknown {
        label: String,
        flow: Flow,
    },
}

/// A FROM item after its joins: what `*` expands to, in the database's order, and which of
/// the scope's relations it spans.
#[derive(Clone, Debug, Default)]
pub(super) struct Joined {
    pub star: Vec<StarItem>,
    pub rels: Range<usize>,
}

impl Joined {
    /// The value of column `key` on this side of a USING / NATURAL join.
    pub fn column(&self, key: &str) -> Option<Flow> {
        let hits: Vec<&Col> = self
            .star
            .iter()
            .filter_map(|s| match s {
                StarItem::Col(c) if c.key == key => Some(c),
                _ => None,
            })
            .collect();
        match hits.as_slice() {
            [one] => Some(one.flow.clone()),
            [] => self.unknown_flow(),
            many => {
                let mut flow = Flow::union(many.iter().map(|c| c.flow.clone()));
                flow.resolved = false;
                Some(flow)
            }
        }
    }

    /// Whatever unknown relations on this side could contribute.
    pub fn unknown_flow(&self) -> Option<Flow> {
        let flows: Vec<Flow> = self
            .star
            .iter()
            .filter_map(|s| match s {
                StarItem::Unknown { flow, .. } => Some(flow.clone()),
                StarItem::Col(_) => None,
            })
            .collect();
        (!flows.is_empty()).then(|| Flow::union(flows))
    }

    pub fn has_unknown(&self) -> bool {
        self.star
            .iter()
            .any(|s| matches!(s, StarItem::Unknown { .. }))
    }

    pub fn col_keys(&self) -> Vec<(String, String)> {
        self.star
            .iter()
            .filter_map(|s| match s {
                StarItem::Col(c) => Some((c.key.clone(), c.name.clone())),
                StarItem::Unknown { .. } => None,
            })
            .collect()
    }

    /// Drops the columns of the given keys (merged by USING).
    pub fn without(self, keys: &[String]) -> Vec<StarItem> {
        self.star
            .into_iter()
            .filter(|s| !matches!(s, StarItem::Col(c) if keys.contains(&c.key)))
            .collect()
    }
}

/// One query level (a SELECT) during analysis.
#[derive(Debug, Default)]
pub(super) struct Scope {
    pub rels: Vec<Rel>,
    /// Columns merged by USING / NATURAL joins, visible unqualified, with the relations
    /// (indexes into `rels`) whose columns of that name they stand for.
    pub merged: Vec<(Col, Range<usize>)>,
    /// The SELECT's outputs, once known: GROUP BY, HAVING and ORDER BY may name them.
    pub outputs: Vec<Col>,
    pub aliases: bool,
    /// Set while a non-LATERAL derived table of this level is analyzed: it cannot see siblings.
    pub hidden: bool,
}

/// How a name resolved in one scope.
pub(super) enum Hit {
    Found(Flow),
    /// Resolved only partly (ambiguous, or unknown relations could hold it): the flow is
    /// marked unresolved, the message says why.
    Partial(Flow, String),
    Missing,
}

impl Scope {
    /// Resolves an unqualified column name in this scope.
    pub fn lookup(&self, key: &str, shown: &str) -> Hit {
        let merged = self.merged.iter().find(|(c, _)| c.key == key);
        let mut hits: Vec<(&str, Flow)> = merged
            .map(|(c, _)| ("USING", c.flow.clone()))
            .into_iter()
            .collect();
        let mut unknown: Vec<&Rel> = Vec::new();
        for (i, rel) in self.rels.iter().enumerate() {
            if merged.is_some_and(|(_, covers)| covers.contains(&i)) {
                continue;
            }
            let before = hits.len();
            hits.extend(
                rel.cols
                    .iter()
                    .flatten()
                    .filter(|c| c.key == key && !c.open)
                    .map(|c| (rel.label.as_str(), c.flow.clone())),
            );
            if hits.len() == before && rel.open_flow().is_some() {
                unknown.push(rel);
            }
        }
        let unknown_labels = || labels(unknown.iter().map(|r| r.label.as_str()));
        match (hits.as_slice(), unknown.is_empty()) {
            ([], true) => self.output(key).map_or(Hit::Missing, Hit::Found),
            ([], false) => Hit::Partial(
                unresolved(unknown.iter().filter_map(|r| r.open_flow())),
                format!(
                    "column {shown} could come from unresolved {}",
                    unknown_labels()
                ),
            ),
            ([(_, flow)], true) => Hit::Found(flow.clone()),
            ([(label, flow)], false) => Hit::Partial(
                unresolved([flow.clone()]),
                format!(
                    "column {shown} is in {label} but could also come from unresolved {}",
                    unknown_labels()
                ),
            ),
            (many, _) => Hit::Partial(
                unresolved(many.iter().map(|(_, f)| f.clone())),
                format!(
                    "column {shown} is ambiguous ({})",
                    labels(many.iter().map(|(l, _)| *l))
                ),
            ),
        }
    }

    fn output(&self, key: &str) -> Option<Flow> {
        if !self.aliases {
            return None;
        }
        self.outputs
            .iter()
            .find(|c| c.key == key)
            .map(|c| c.flow.clone())
    }

    /// Relations this scope knows under `key` (and `schema`, for `schema.table.column`).
    pub fn rels_named(&self, schema: Option<&str>, key: &str) -> Vec<&Rel> {
        self.rels
            .iter()
            .filter(|r| r.key == key)
            .filter(|r| schema.is_none() || r.schema_key.as_deref() == schema)
            .collect()
    }
}

/// Resolves `column` in one relation.
pub(super) fn rel_column(rel: &Rel, key: &str, shown: &str) -> Hit {
    let hits: Vec<&Col> = rel
        .cols
        .iter()
        .flatten()
        .filter(|c| c.key == key && !c.open)
        .collect();
    match (hits.as_slice(), rel.open_flow()) {
        ([one], _) => Hit::Found(one.flow.clone()),
        ([], Some(open)) => Hit::Partial(
            open,
            format!("column {shown}: {} is not resolved", rel.label),
        ),
        ([], None) => Hit::Partial(Flow::unresolved(), format!("column {shown} not found")),
        (many, _) => Hit::Partial(
            unresolved(many.iter().map(|c| c.flow.clone())),
            format!("column {shown} is ambiguous in {}", rel.label),
        ),
    }
}

fn unresolved(flows: impl IntoIterator<Item = Flow>) -> Flow {
    let mut flow = Flow::union(flows);
    flow.resolved = false;
    flow
}

fn labels<'r>(names: impl Iterator<Item = &'r str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

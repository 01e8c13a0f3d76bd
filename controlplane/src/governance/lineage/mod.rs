//! Column-level lineage of a read query: for every output column, which base columns its value
//! comes from (value lineage), which it only counts, and which columns merely filter, join or
//! order the rows. Pure: the only outside knowledge is the catalog, through [`SchemaLookup`].
//!
//! The analysis is built to fail closed for masking: whatever cannot be resolved (an unknown
//! table, an ambiguous or unknown column, a star over an unknown relation, a table function) is
//! reported in [`Lineage::unresolved`] and marks the affected outputs `resolved: false`; nothing
//! is guessed. Sources found before the failure are kept.
//!
//! Choices worth knowing:
//! - `CASE WHEN c ... THEN ...`: the WHEN columns are value lineage of the output (the result
//!   reveals something about them), not filters.
//! - `count(x)` / `count(DISTINCT x)` put `x` in `counted`, never in `sources`; an aggregate's
//!   `FILTER (WHERE ...)`, its inner `ORDER BY`, and window `PARTITION BY` / `ORDER BY` are filters.
//! - `x IN (SELECT y ...)` in the select list is value lineage of both `x` and `y`; `EXISTS (...)`
//!   contributes only filters.
//! - Columns of a `JOIN ... USING` / `NATURAL JOIN` merged column come from both sides.
//! - `OutputColumn::resolved` concerns value lineage; an unresolved filter shows only in
//!   `Lineage::unresolved`. Callers that fail closed on anything check that list too.
//! - Statements are read as the engine runs them: placeholders are first rewritten into the
//!   source's style (`engine::placeholders`), then parsed in the guard's dialect.
//! - Views are relations of the catalog like tables: lineage stops at their columns.
//! - Every CTE is analyzed (its tables and filters count) even when the query does not use it.
use std::collections::BTreeSet;

use nexbii_crds::DataSourceType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::SchemaInfo;

mod catalog;
mod mongo;
mod sql;

pub use catalog::MapSchema;

/// A base table (or MongoDB collection). `schema` is the PostgreSQL schema or MySQL database;
/// `None` for SQLite and MongoDB.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
}

impl TableRef {
    pub fn new(schema: Option<&str>, name: &str) -> Self {
        Self {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A column of a base table, by its catalog names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnRef {
    pub table: TableRef,
    pub column: String,
}

impl ColumnRef {
    pub fn new(table: TableRef, column: &str) -> Self {
        Self {
            table,
            column: column.to_string(),
        }
    }
}

/// `schema.table.column`, or `table.column` without a schema.
impl std::fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

/// How an output's value relates to its sources. Ordered: combining parts keeps the strongest.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// The column as is (possibly renamed), through subqueries, CTEs and set operations.
    #[default]
    Direct,
    /// Through functions, operators, CASE, casts, window value functions.
    Derived,
    /// Through an aggregate (including aggregates used as window functions).
    Aggregated,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputColumn {
    /// The label the database gives the column: alias, column name, or for unnamed expressions
    /// PostgreSQL's generated name (`lower`, `count`, `?column?`) or, on MySQL and SQLite, the
    /// expression text (normalized by the parser).
    pub name: String,
    pub transform: Transform,
    /// Columns whose values flow into this output (sorted, deduplicated).
    pub sources: Vec<ColumnRef>,
    /// Columns reaching this output only through `count()` (values not revealed).
    pub counted: Vec<ColumnRef>,
    /// False when any part of the value could not be resolved.
    pub resolved: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    /// In output order; `SELECT *` expanded from the catalog.
    pub outputs: Vec<OutputColumn>,
    /// Columns used in WHERE, JOIN, GROUP BY, HAVING, ORDER BY, window partitions and orders,
    /// `$match`/`$sort` (sorted, deduplicated).
    pub filters: Vec<ColumnRef>,
    /// Base tables read; CTE names are not tables (sorted, deduplicated).
    pub tables: Vec<TableRef>,
    /// Why parts could not be resolved, e.g. `table foo not in catalog`.
    pub unresolved: Vec<String>,
}

impl Lineage {
    /// True when every output and filter was resolved.
    pub fn fully_resolved(&self) -> bool {
        self.unresolved.is_empty() && self.outputs.iter().all(|o| o.resolved)
    }
}

/// The catalog as the analyzer sees it.
pub trait SchemaLookup {
    /// Columns of a base table in order, or None when unknown. `table.schema` may be None
    /// (unqualified reference): resolve it the way the dialect does (PostgreSQL: schema `public`
    /// first, then a unique match in another schema; MySQL: the current database = a unique
    /// match). For MongoDB, the collection's field names.
    fn columns(&self, table: &TableRef) -> Option<(TableRef, Vec<String>)>;
}

/// The catalog NexBII reads from a source (`Engine::schema`).
impl SchemaLookup for SchemaInfo {
    fn columns(&self, table: &TableRef) -> Option<(TableRef, Vec<String>)> {
        let found = catalog::find(
            self.tables
                .iter()
                .map(|t| (t.schema.as_deref(), t.name.as_str())),
            table,
        )?;
        let t = &self.tables[found];
        Some((
            TableRef::new(t.schema.as_deref(), &t.name),
            t.columns.iter().map(|c| c.name.clone()).collect(),
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineageError {
    #[error("statement does not parse: {0}")]
    Parse(String),
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// Analyzes one read statement (SQL in the source's dialect, or a MongoDB aggregation
/// `{"collection", "pipeline"}`).
pub fn analyze(
    source_type: DataSourceType,
    text: &str,
    schema: &dyn SchemaLookup,
) -> Result<Lineage, LineageError> {
    match source_type {
        DataSourceType::Mongodb => mongo::analyze(text, schema),
        sql_type => sql::analyze(sql_type, text, schema),
    }
}

/// The value lineage of one expression or column while it is being analyzed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Flow {
    pub sources: BTreeSet<ColumnRef>,
    pub counted: BTreeSet<ColumnRef>,
    pub transform: Transform,
    pub resolved: bool,
}

impl Flow {
    /// A base column read as is.
    pub fn column(col: ColumnRef) -> Self {
        Self {
            sources: BTreeSet::from([col]),
            counted: BTreeSet::new(),
            transform: Transform::Direct,
            resolved: true,
        }
    }

    /// A constant (literal, placeholder, parameterless function): nothing flows in.
    pub fn constant() -> Self {
        Self {
            sources: BTreeSet::new(),
            counted: BTreeSet::new(),
            transform: Transform::Derived,
            resolved: true,
        }
    }

    /// A value that could not be resolved at all.
    pub fn unresolved() -> Self {
        Self {
            resolved: false,
            ..Self::constant()
        }
    }

    fn absorb(&mut self, other: Flow) {
        self.sources.extend(other.sources);
        self.counted.extend(other.counted);
        self.resolved &= other.resolved;
    }

    /// Every column the value depends on (what a filter on it depends on).
    pub fn all_columns(&self) -> impl Iterator<Item = &ColumnRef> {
        self.sources.iter().chain(self.counted.iter())
    }

    /// Combines the flows of an expression's parts. The transform is at least `floor`; parts
    /// that carry values decide above it (`count(ssn) || name` is Derived, not Aggregated);
    /// without any value-carrying part every part counts (`count(*) + 1` is Aggregated).
    pub fn combine(parts: impl IntoIterator<Item = Flow>, floor: Transform) -> Flow {
        let mut out = Flow {
            transform: floor,
            ..Flow::constant()
        };
        let mut valued: Option<Transform> = None;
        let mut any = floor;
        for part in parts {
            if !part.sources.is_empty() {
                valued = valued.max(Some(part.transform));
            }
            any = any.max(part.transform);
            out.absorb(part);
        }
        out.transform = valued.map_or(any, |t| t.max(floor));
        out
    }

    /// The union of alternatives for one value (set-operation branches, VALUES rows, both
    /// sides of a USING column): a literal branch does not make a direct column derived.
    pub fn union(parts: impl IntoIterator<Item = Flow>) -> Flow {
        Self::combine(parts, Transform::Direct)
    }

    /// Only counted: what `count(x)` makes of `x`.
    pub fn counted_only(self) -> Flow {
        let mut counted = self.counted;
        counted.extend(self.sources);
        Flow {
            sources: BTreeSet::new(),
            counted,
            transform: Transform::Aggregated,
            resolved: self.resolved,
        }
    }

    pub fn into_output(self, name: String) -> OutputColumn {
        let counted = self
            .counted
            .into_iter()
            .filter(|c| !self.sources.contains(c))
            .collect();
        OutputColumn {
            name,
            transform: self.transform,
            sources: self.sources.into_iter().collect(),
            counted,
            resolved: self.resolved,
        }
    }
}

/// Shared bookkeeping of one analysis: filters, tables and messages.
#[derive(Default)]
pub(crate) struct Collector {
    pub filters: BTreeSet<ColumnRef>,
    pub tables: BTreeSet<TableRef>,
    pub unresolved: Vec<String>,
}

impl Collector {
    pub fn note(&mut self, message: String) {
        if !self.unresolved.contains(&message) {
            self.unresolved.push(message);
        }
    }

    pub fn filter(&mut self, flow: &Flow) {
        self.filters.extend(flow.all_columns().cloned());
    }

    pub fn finish(self, outputs: Vec<OutputColumn>) -> Lineage {
        Lineage {
            outputs,
            filters: self.filters.into_iter().collect(),
            tables: self.tables.into_iter().collect(),
            unresolved: self.unresolved,
        }
    }
}

#[cfg(test)]
mod tests;

//! Table resolution shared by the catalog implementations, and an in-memory catalog.
use super::{SchemaLookup, TableRef};

/// Index of the candidate `(schema, name)` that `wanted` names, the way databases resolve it:
/// exact names first, then case-insensitive ones (the analyzer passes PostgreSQL names already
/// folded, MySQL and SQLite names as written). An unqualified name prefers schema `public`
/// (PostgreSQL's search path), otherwise it must match exactly one table; a table without a
/// schema (SQLite) also answers to `main.name`.
pub(super) fn find<'a>(
    candidates: impl Iterator<Item = (Option<&'a str>, &'a str)> + Clone,
    wanted: &TableRef,
) -> Option<usize> {
    let schema_ok = |have: Option<&str>, exact: bool| match (&wanted.schema, have) {
        (None, _) => true,
        (Some(w), Some(h)) => same(w, h, exact),
        (Some(w), None) => w.eq_ignore_ascii_case("main"),
    };
    for exact in [true, false] {
        let hits: Vec<(usize, Option<&str>)> = candidates
            .clone()
            .enumerate()
            .filter(|(_, (s, n))| same(&wanted.name, n, exact) && schema_ok(*s, exact))
            .map(|(i, (s, _))| (i, s))
            .collect();
        if let Some((i, _)) = hits.iter().find(|(_, s)| *s == Some("public")) {
            if wanted.schema.is_none() {
                return Some(*i);
            }
        }
        match hits.as_slice() {
            [] => continue,
            [(i, _)] => return Some(*i),
            _ => return None,
        }
    }
    None
}

fn same(a: &str, b: &str, exact: bool) -> bool {
    if exact {
        a == b
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

/// An in-memory catalog, for tests and callers that assemble one.
///
/// ```
/// use nexbii_controlplane::governance::lineage::MapSchema;
/// let schema = MapSchema::new()
///     .table("public.people", &["id", "name", "ssn"])
///     .table("hr.salaries", &["person_id", "amount"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MapSchema {
    tables: Vec<(TableRef, Vec<String>)>,
}

impl MapSchema {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a table named `"schema.table"` or `"table"`.
    pub fn table(mut self, qualified: &str, columns: &[&str]) -> Self {
        self.add(qualified, columns.iter().map(|c| c.to_string()));
        self
    }

    /// Adds a table named `"schema.table"` or `"table"`.
    pub fn add(&mut self, qualified: &str, columns: impl IntoIterator<Item = String>) {
        let table = match qualified.split_once('.') {
            Some((schema, name)) => TableRef::new(Some(schema), name),
            None => TableRef::new(None, qualified),
        };
        self.tables.push((table, columns.into_iter().collect()));
    }
}

impl SchemaLookup for MapSchema {
    fn columns(&self, table: &TableRef) -> Option<(TableRef, Vec<String>)> {
        let found = find(
            self.tables
                .iter()
                .map(|(t, _)| (t.schema.as_deref(), t.name.as_str())),
            table,
        )?;
        Some(self.tables[found].clone())
    }
}

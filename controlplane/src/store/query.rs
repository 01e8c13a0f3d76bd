//! List queries: equality filters on declared fields, a time window on the last update, and
//! keyset pagination by id (a cursor is the last id of the previous page), so lists of millions
//! of entries are read page by page in both implementations.
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{StoreError, StoreResult};

#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// `field == value` on the fields the entity declares (see `Entity::fields`).
    pub filters: Vec<(String, Value)>,
    /// Updated at or after.
    pub updated_from: Option<DateTime<Utc>>,
    /// Updated strictly before.
    pub updated_before: Option<DateTime<Utc>>,
    /// Ids strictly after this one in the list's order (the cursor).
    pub after: Option<String>,
    /// Newest-first lists (the audit log): ids in descending order, the cursor counting down.
    pub descending: bool,
    /// At most this many items; `None` for all.
    pub limit: Option<usize>,
    /// Only ids starting with this (an id range, so the stores read nothing outside it).
    pub id_prefix: Option<String>,
}

impl ListQuery {
    pub fn filter(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.filters.push((field.to_string(), value.into()));
        self
    }

    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.after = cursor;
        self
    }

    /// Only ids that start with `prefix`, which must end in a printable ASCII character.
    pub fn id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.id_prefix = Some(prefix.into());
        self
    }

    /// The id range of [`ListQuery::id_prefix`]: from the prefix (inclusive) to the prefix
    /// with its last character the next one (exclusive), in byte order as both stores compare.
    pub(crate) fn id_range(&self) -> Option<(String, String)> {
        let prefix = self.id_prefix.as_ref()?;
        let mut end = prefix.clone();
        let last = end.pop()?;
        end.push((last as u8 + 1) as char);
        Some((prefix.clone(), end))
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    /// Field names become parts of store queries: identifiers only, scalar values only.
    pub(crate) fn check(&self) -> StoreResult<()> {
        for (f, v) in &self.filters {
            let ident = f.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident {
                return Err(StoreError::BadQuery(format!("field name {f:?}")));
            }
            if matches!(v, Value::Array(_) | Value::Object(_)) {
                return Err(StoreError::BadQuery(format!(
                    "field {f}: scalar values only"
                )));
            }
        }
        if let Some(p) = &self.id_prefix {
            if !p.chars().last().is_some_and(|c| c.is_ascii_graphic()) {
                return Err(StoreError::BadQuery(format!(
                    "id prefix {p:?}: must end in a printable ASCII character"
                )));
            }
        }
        if self.limit == Some(0) {
            return Err(StoreError::BadQuery("limit must be at least 1".into()));
        }
        Ok(())
    }
}

/// One page of raw documents.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<Value>,
    /// The cursor for the next page; `None` when this is the last.
    pub next: Option<String>,
}

/// Builds a page from `(id, doc)` rows fetched with `limit + 1`.
pub(crate) fn page_of(mut rows: Vec<(String, Value)>, limit: Option<usize>) -> Page {
    let next = match limit {
        Some(n) if rows.len() > n => {
            rows.truncate(n);
            rows.last().map(|(id, _)| id.clone())
        }
        _ => None,
    };
    Page {
        items: rows.into_iter().map(|(_, d)| d).collect(),
        next,
    }
}

/// Timestamps as stored: fixed-width RFC 3339 in UTC with milliseconds, so text order is time
/// order in the embedded store.
pub(crate) fn stamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_prefix_is_the_range_up_to_its_last_character_plus_one() {
        let q = ListQuery::default().id_prefix("queries:q1:");
        assert_eq!(
            q.id_range(),
            Some(("queries:q1:".into(), "queries:q1;".into()))
        );
        assert!(q.check().is_ok());
        // Every id with the prefix is inside, the next object's are not.
        let (from, to) = q.id_range().unwrap();
        for (id, inside) in [
            ("queries:q1:0000000001", true),
            ("queries:q1:x:0000000001", true),
            ("queries:q1", false),
            ("queries:q10:0000000001", false),
            ("queries:q2:0000000001", false),
        ] {
            assert_eq!(id >= from.as_str() && id < to.as_str(), inside, "{id}");
        }
        assert_eq!(ListQuery::default().id_range(), None);
        for bad in ["", "q\u{e9}", "q\n"] {
            assert!(
                ListQuery::default().id_prefix(bad).check().is_err(),
                "{bad:?}"
            );
        }
    }
}

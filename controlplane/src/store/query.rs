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

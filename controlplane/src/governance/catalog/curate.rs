//! Curated metadata edits: a patch names the fields it changes; each changed field is kept in
//! the table's history with who changed it, when, and what it was before.
use std::collections::BTreeMap;

use chrono::Utc;
use nexbii_crds::SensitivityLevel;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::ToSchema;

use super::model::{CatalogTable, ClassificationOverride, Curation, CurationEdit, HISTORY_KEPT};
use crate::http::{ApiError, ApiResult};

/// Changes to a table's or column's curated metadata; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurationPatch {
    /// `null` clears it.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub glossary_terms: Option<Vec<String>>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A column's patch: curation plus the manual classification (admin only).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnPatch {
    #[serde(flatten)]
    pub curation: CurationPatch,
    /// Sets the column's level by hand (`{"level": null}` declares it not sensitive); `null`
    /// removes the manual decision so detection governs again.
    #[serde(default, deserialize_with = "some", rename = "override")]
    #[schema(value_type = Option<OverrideInput>)]
    pub override_: Option<Option<OverrideInput>>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OverrideInput {
    pub level: Option<SensitivityLevel>,
    pub label: Option<String>,
    pub reason: Option<String>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check_words(field: &str, list: &[String]) -> ApiResult<()> {
    if list.len() > 50 {
        return Err(ApiError::invalid(field, "at most 50 entries"));
    }
    for (i, t) in list.iter().enumerate() {
        if t.trim().is_empty() || t.len() > 100 {
            return Err(ApiError::invalid(
                format!("{field}[{i}]"),
                "1 to 100 characters",
            ));
        }
    }
    Ok(())
}

impl CurationPatch {
    pub fn check(&self) -> ApiResult<()> {
        for (f, v) in [("description", &self.description), ("owner", &self.owner)] {
            if let Some(Some(s)) = v {
                if s.len() > 10_000 {
                    return Err(ApiError::invalid(f, "at most 10,000 characters"));
                }
            }
        }
        check_words("tags", self.tags.as_deref().unwrap_or_default())?;
        check_words(
            "glossaryTerms",
            self.glossary_terms.as_deref().unwrap_or_default(),
        )?;
        if self.annotations.as_ref().is_some_and(|a| a.len() > 50) {
            return Err(ApiError::invalid("annotations", "at most 50 entries"));
        }
        Ok(())
    }

    /// Applies the patch; returns `(field, previous, value)` for every field it changed.
    fn apply(&self, c: &mut Curation) -> Vec<(&'static str, Value, Value)> {
        let mut changed = Vec::new();
        fn set<T: serde::Serialize + PartialEq + Clone>(
            out: &mut Vec<(&'static str, Value, Value)>,
            name: &'static str,
            slot: &mut T,
            new: Option<&T>,
        ) {
            if let Some(new) = new.filter(|n| *n != slot) {
                out.push((name, serde_json::json!(slot), serde_json::json!(new)));
                *slot = new.clone();
            }
        }
        set(
            &mut changed,
            "description",
            &mut c.description,
            self.description.as_ref(),
        );
        set(&mut changed, "owner", &mut c.owner, self.owner.as_ref());
        set(&mut changed, "tags", &mut c.tags, self.tags.as_ref());
        set(
            &mut changed,
            "glossaryTerms",
            &mut c.glossary_terms,
            self.glossary_terms.as_ref(),
        );
        set(
            &mut changed,
            "annotations",
            &mut c.annotations,
            self.annotations.as_ref(),
        );
        changed
    }
}

fn record(t: &mut CatalogTable, by: &str, prefix: &str, changes: Vec<(&str, Value, Value)>) {
    let at = Utc::now();
    for (field, previous, value) in changes {
        t.history.push(CurationEdit {
            at,
            by: by.to_string(),
            field: format!("{prefix}{field}"),
            previous,
            value,
        });
    }
    let excess = t.history.len().saturating_sub(HISTORY_KEPT);
    t.history.drain(..excess);
}

/// Applies a table patch; `false` when nothing changed.
pub fn patch_table(t: &mut CatalogTable, by: &str, p: &CurationPatch) -> bool {
    let changes = p.apply(&mut t.curation);
    let changed = !changes.is_empty();
    record(t, by, "", changes);
    changed
}

/// Applies a column patch; `false` when nothing changed.
pub fn patch_column(
    t: &mut CatalogTable,
    column: &str,
    by: &str,
    p: &ColumnPatch,
) -> ApiResult<bool> {
    let col = t
        .columns
        .iter_mut()
        .find(|c| c.name == column)
        .ok_or_else(|| ApiError::NotFound(format!("column {column}")))?;
    let mut changes = p.curation.apply(&mut col.curation);
    if let Some(o) = &p.override_ {
        let new = o.as_ref().map(|o| ClassificationOverride {
            level: o.level,
            label: o.label.clone(),
            reason: o.reason.clone(),
            by: by.to_string(),
            at: Utc::now(),
        });
        let same = match (&col.override_, &new) {
            (Some(a), Some(b)) => a.level == b.level && a.label == b.label && a.reason == b.reason,
            (None, None) => true,
            _ => false,
        };
        if !same {
            changes.push((
                "override",
                serde_json::json!(col.override_),
                serde_json::json!(new),
            ));
            col.override_ = new;
        }
    }
    let changed = !changes.is_empty();
    record(t, by, &format!("columns.{column}."), changes);
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> CatalogTable {
        serde_json::from_value(serde_json::json!({
            "id": "s:t", "dataSource": "s", "name": "t", "kind": "table",
            "columns": [{"name": "email", "type": "TEXT", "nullable": true}],
            "crawledAt": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn patches_change_only_named_fields_and_keep_the_previous_value() {
        let mut t = table();
        let p: CurationPatch =
            serde_json::from_value(serde_json::json!({"description": "Orders", "tags": ["sales"]}))
                .unwrap();
        assert!(patch_table(&mut t, "ann", &p));
        assert!(
            !patch_table(&mut t, "ann", &p),
            "the same patch again changes nothing"
        );
        let clear: CurationPatch =
            serde_json::from_value(serde_json::json!({"description": null})).unwrap();
        assert!(patch_table(&mut t, "bob", &clear));
        assert_eq!(t.curation.description, None);
        assert_eq!(t.curation.tags, ["sales"], "absent fields stay");
        let last = t.history.last().unwrap();
        assert_eq!(
            (last.by.as_str(), last.field.as_str()),
            ("bob", "description")
        );
        assert_eq!(last.previous, serde_json::json!("Orders"));
        assert_eq!(t.history.len(), 3);
    }

    #[test]
    fn column_overrides_are_set_and_removed() {
        let mut t = table();
        let set: ColumnPatch = serde_json::from_value(
            serde_json::json!({"override": {"level": "restricted", "reason": "contract"}}),
        )
        .unwrap();
        assert!(patch_column(&mut t, "email", "admin", &set).unwrap());
        assert_eq!(t.columns[0].level(), Some(SensitivityLevel::Restricted));
        let not_sensitive: ColumnPatch =
            serde_json::from_value(serde_json::json!({"override": {"level": null}})).unwrap();
        assert!(patch_column(&mut t, "email", "admin", &not_sensitive).unwrap());
        assert_eq!(t.columns[0].level(), None);
        let remove: ColumnPatch =
            serde_json::from_value(serde_json::json!({"override": null})).unwrap();
        assert!(patch_column(&mut t, "email", "admin", &remove).unwrap());
        assert!(t.columns[0].override_.is_none());
        assert_eq!(t.history.last().unwrap().field, "columns.email.override");
        assert!(patch_column(&mut t, "nope", "admin", &remove).is_err());
    }
}

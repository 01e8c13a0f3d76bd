//! The catalog's records: one per table (or view, or collection) of a data source, with its
//! columns, keys, profile, classifications and the curated metadata people add.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nexbii_crds::SensitivityLevel;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{engine::introspect::ForeignKey, store::Meta};

/// Curated edits kept per table (older ones are dropped first).
pub const HISTORY_KEPT: usize = 200;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogTable {
    /// `<dataSource>:<schema>.<table>` (`<dataSource>:<table>` without schema).
    pub id: String,
    pub data_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    /// `table`, `view` or `collection`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
    pub columns: Vec<CatalogColumn>,
    /// Digest of the columns and types: an unchanged table is not profiled again.
    #[serde(default)]
    pub structure_digest: String,
    pub crawled_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiled_at: Option<DateTime<Utc>>,
    /// The table is no longer in the source (kept while curated metadata refers to it).
    #[serde(default)]
    pub dropped: bool,
    #[serde(default)]
    pub curation: Curation,
    /// Curated edits, newest last: who, when, what it was before.
    #[serde(default)]
    pub history: Vec<CurationEdit>,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    CatalogTable,
    CatalogTables,
    id,
    fn fields(&self) -> serde_json::Map<String, Value> {
        crate::store::fields(serde_json::json!({ "dataSource": self.data_source }))
    }
}

impl CatalogTable {
    pub fn make_id(data_source: &str, schema: Option<&str>, table: &str) -> String {
        match schema {
            Some(s) => format!("{data_source}:{s}.{table}"),
            None => format!("{data_source}:{table}"),
        }
    }

    /// `schema.table` or `table`.
    pub fn qualified(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&CatalogColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub nullable: bool,
    #[serde(default)]
    pub primary_key: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ColumnProfile>,
    /// What the detectors found at the last classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<ColumnClassification>,
    /// A person's decision; crawls never overwrite it.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "override")]
    pub override_: Option<ClassificationOverride>,
    #[serde(default)]
    pub curation: Curation,
}

impl CatalogColumn {
    /// The level that governs this column: a manual override wins over detection.
    pub fn level(&self) -> Option<SensitivityLevel> {
        match &self.override_ {
            Some(o) => o.level,
            None => self.classification.as_ref().map(|c| c.level),
        }
    }

    /// A short label of why the column has its level (`email`, `manual`).
    pub fn label(&self) -> Option<String> {
        match &self.override_ {
            Some(o) => o
                .level
                .map(|_| o.label.clone().unwrap_or_else(|| "manual".into())),
            None => self.classification.as_ref().map(|c| c.detector.clone()),
        }
    }

    pub fn is_sensitive(&self) -> bool {
        self.level().is_some_and(|l| l > SensitivityLevel::Public)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnProfile {
    pub sampled_rows: u64,
    pub null_fraction: f64,
    /// Distinct non-null values in the sample.
    pub distinct: u64,
    /// Smallest and largest sampled value; absent for sensitive columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Most frequent values with their counts; empty for sensitive columns.
    #[serde(default)]
    pub top_values: Vec<TopValue>,
    /// Values were withheld because the column is classified as sensitive.
    #[serde(default)]
    pub values_withheld: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TopValue {
    pub value: Value,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnClassification {
    /// `email`, `creditCard`, … or `custom:<rule>`.
    pub detector: String,
    pub level: SensitivityLevel,
    pub confidence: f64,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Why (never a sampled value).
    #[serde(default)]
    pub evidence: String,
    pub classified_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassificationOverride {
    /// `null` declares the column not sensitive, whatever detection says.
    pub level: Option<SensitivityLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// What people write about a table or column.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Curation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub glossary_terms: Vec<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurationEdit {
    pub at: DateTime<Utc>,
    pub by: String,
    /// `description`, `columns.email.tags`, `columns.email.override`, …
    pub field: String,
    pub previous: Value,
    pub value: Value,
}

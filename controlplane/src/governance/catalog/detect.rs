//! The tenant's classifier as the crawler uses it: every policy's detectors and custom rules
//! together, applied to a column's sampled values.
use chrono::{DateTime, Utc};
use nexbii_crds::ClassificationSpec;
use serde_json::Value;

use super::model::{CatalogColumn, ColumnClassification};
use crate::{
    governance::{
        classify::{Classifier, ColumnSample},
        PolicyRecord,
    },
    http::{ApiError, ApiResult},
    state::AppState,
    store::{StoreExt, TenantScope},
};

pub struct Detector {
    /// `None` when no policy asks for automatic classification.
    classifier: Option<Classifier>,
}

impl Detector {
    pub async fn for_tenant(state: &AppState, scope: &TenantScope) -> ApiResult<Self> {
        let policies = state.store.list_as::<PolicyRecord>(scope).await?;
        Self::from_specs(policies.iter().map(|p| &p.spec.classification))
    }

    /// One classifier for all policies: detectors and rules of each, automatic when any asks.
    pub fn from_specs<'a>(specs: impl Iterator<Item = &'a ClassificationSpec>) -> ApiResult<Self> {
        let mut merged: Option<ClassificationSpec> = None;
        // An empty detector list means "every built-in"; one such policy makes the union all.
        let mut all_builtins = false;
        for s in specs.filter(|s| s.auto_classify) {
            let m = merged.get_or_insert_with(|| ClassificationSpec {
                auto_classify: true,
                builtin_detectors: Vec::new(),
                custom_rules: Vec::new(),
            });
            all_builtins |= s.builtin_detectors.is_empty();
            for d in &s.builtin_detectors {
                if !m.builtin_detectors.contains(d) {
                    m.builtin_detectors.push(*d);
                }
            }
            m.custom_rules.extend(s.custom_rules.iter().cloned());
        }
        if all_builtins {
            if let Some(m) = merged.as_mut() {
                m.builtin_detectors.clear();
            }
        }
        let classifier = merged
            .map(|spec| Classifier::new(&spec))
            .transpose()
            .map_err(|e| ApiError::Conflict(format!("governance policy: {e}")))?;
        Ok(Self { classifier })
    }

    pub fn classify(
        &self,
        table: &str,
        col: &CatalogColumn,
        values: &[&Value],
        now: DateTime<Utc>,
    ) -> Option<ColumnClassification> {
        let classifier = self.classifier.as_ref()?;
        let texts: Vec<String> = values
            .iter()
            .filter_map(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .collect();
        let found = classifier.classify(&ColumnSample {
            table,
            name: &col.name,
            type_name: &col.type_name,
            values: &texts,
        })?;
        Some(ColumnClassification {
            detector: found.detector,
            level: found.level,
            confidence: found.confidence,
            tags: found.tags,
            evidence: found.evidence,
            classified_at: now,
        })
    }
}

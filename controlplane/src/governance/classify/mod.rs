//! Column classification: which columns hold personal or sensitive data, from their names and
//! a sample of their values.
//!
//! Built-in detectors (see [`detectors`] for how names and values are weighed) and the policy's
//! custom rules each give a confidence in `0..=1`; a column is classified when one reaches
//! [`MIN_CONFIDENCE`]. When `builtinDetectors` is empty every built-in detector is on; listing
//! some turns on exactly those.
use std::collections::HashSet;

use chrono::NaiveDate;
use nexbii_crds::{BuiltinDetector, ClassificationSpec, SensitivityLevel};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

mod detectors;
mod first_names;
mod names;
mod validators;

/// The confidence a detector or rule must reach for [`Classifier::classify`] to report it:
/// values alone reach it with ~5 clean samples, a strong column-name hint alone (no values)
/// reaches 0.72, a weak hint alone does not.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// Share of sampled values a custom rule's `valuePattern` must match.
pub const CUSTOM_VALUE_SHARE: f64 = 0.8;

/// Every built-in detector, in the order ties are reported.
pub const ALL_DETECTORS: [BuiltinDetector; 9] = [
    BuiltinDetector::CreditCard,
    BuiltinDetector::NationalId,
    BuiltinDetector::Iban,
    BuiltinDetector::Email,
    BuiltinDetector::Phone,
    BuiltinDetector::PersonName,
    BuiltinDetector::DateOfBirth,
    BuiltinDetector::PostalAddress,
    BuiltinDetector::IpAddress,
];

/// Regex programs above this size are refused (patterns come from tenant admins).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One column as sampled by the catalog crawler.
pub struct ColumnSample<'a> {
    pub table: &'a str,
    pub name: &'a str,
    pub type_name: &'a str,
    /// Non-null sampled values as text (up to 10,000).
    pub values: &'a [String],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    /// `email`, `creditCard`, … or `custom:<rule name>`.
    pub detector: String,
    pub level: SensitivityLevel,
    /// 0..=1
    pub confidence: f64,
    /// `["pii", "email"]`, or a custom rule's tags.
    pub tags: Vec<String>,
    /// Why, in a few words; never contains a sampled value.
    pub evidence: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClassifyError {
    #[error("{field}: invalid regular expression in rule {rule:?}: {message}")]
    InvalidPattern {
        field: String,
        rule: String,
        message: String,
    },
    #[error("{field}: rule {rule:?} needs columnNamePattern or valuePattern")]
    EmptyRule { field: String, rule: String },
    #[error("{field}: duplicate rule name {rule:?}")]
    DuplicateRule { field: String, rule: String },
}

struct CustomRule {
    name: String,
    column_name: Option<Regex>,
    value: Option<Regex>,
    level: SensitivityLevel,
    tags: Vec<String>,
}

pub struct Classifier {
    detectors: Vec<BuiltinDetector>,
    rules: Vec<CustomRule>,
    today: NaiveDate,
}

/// The sensitivity of what each detector finds. Card numbers, national ids and IBANs enable
/// fraud or identity theft on their own (and card data falls under PCI DSS): restricted.
/// Contact details, names, birth dates and addresses identify a person: confidential. An IP
/// address is personal data but mostly operational, read by support and security staff:
/// internal.
pub fn builtin_level(d: BuiltinDetector) -> SensitivityLevel {
    use BuiltinDetector::*;
    match d {
        CreditCard | NationalId | Iban => SensitivityLevel::Restricted,
        Email | Phone | PersonName | DateOfBirth | PostalAddress => SensitivityLevel::Confidential,
        IpAddress => SensitivityLevel::Internal,
    }
}

/// The detector's name as written in policies (`creditCard`).
pub fn detector_id(d: BuiltinDetector) -> &'static str {
    use BuiltinDetector::*;
    match d {
        Email => "email",
        Phone => "phone",
        CreditCard => "creditCard",
        NationalId => "nationalId",
        IpAddress => "ipAddress",
        Iban => "iban",
        PersonName => "personName",
        DateOfBirth => "dateOfBirth",
        PostalAddress => "postalAddress",
    }
}

fn builtin_tags(d: BuiltinDetector) -> Vec<String> {
    let mut tags = vec!["pii".to_string()];
    match d {
        BuiltinDetector::CreditCard => tags.push("pci".into()),
        BuiltinDetector::Iban => tags.push("financial".into()),
        _ => {}
    }
    tags.push(detector_id(d).into());
    tags
}

fn compile(pattern: &str, field: String, rule: &str) -> Result<Regex, ClassifyError> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| ClassifyError::InvalidPattern {
            field,
            rule: rule.to_string(),
            message: e.to_string(),
        })
}

fn compile_rules(spec: &ClassificationSpec) -> Result<Vec<CustomRule>, ClassifyError> {
    let mut seen = HashSet::new();
    let mut rules = Vec::with_capacity(spec.custom_rules.len());
    for (i, r) in spec.custom_rules.iter().enumerate() {
        let field = |f: &str| format!("spec.classification.customRules[{i}]{f}");
        if !seen.insert(r.name.as_str()) {
            return Err(ClassifyError::DuplicateRule {
                field: field(".name"),
                rule: r.name.clone(),
            });
        }
        if r.column_name_pattern.is_none() && r.value_pattern.is_none() {
            return Err(ClassifyError::EmptyRule {
                field: field(""),
                rule: r.name.clone(),
            });
        }
        let pattern = |p: &Option<String>, f: &str| {
            p.as_deref()
                .map(|p| compile(p, field(f), &r.name))
                .transpose()
        };
        rules.push(CustomRule {
            name: r.name.clone(),
            column_name: pattern(&r.column_name_pattern, ".columnNamePattern")?,
            value: pattern(&r.value_pattern, ".valuePattern")?,
            level: r.level,
            tags: r.tags.clone(),
        });
    }
    Ok(rules)
}

impl Classifier {
    pub fn new(spec: &ClassificationSpec) -> Result<Self, ClassifyError> {
        let detectors = if spec.builtin_detectors.is_empty() {
            ALL_DETECTORS.to_vec()
        } else {
            // Keep the tie order of ALL_DETECTORS whatever order the policy lists them in.
            ALL_DETECTORS
                .into_iter()
                .filter(|d| spec.builtin_detectors.contains(d))
                .collect()
        };
        Ok(Self {
            detectors,
            rules: compile_rules(spec)?,
            today: chrono::Utc::now().date_naive(),
        })
    }

    /// Judges ages (dates of birth) as of `today` instead of the current date.
    pub fn with_reference_date(mut self, today: NaiveDate) -> Self {
        self.today = today;
        self
    }

    /// The most confident match at or above [`MIN_CONFIDENCE`], if any.
    pub fn classify(&self, col: &ColumnSample) -> Option<Classification> {
        self.classify_all(col).into_iter().next()
    }

    /// Every match at or above [`MIN_CONFIDENCE`]: most confident first; at equal confidence
    /// the higher level, then custom rules before built-ins.
    pub fn classify_all(&self, col: &ColumnSample) -> Vec<Classification> {
        let values: Vec<&str> = col
            .values
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        let mut found: Vec<(Classification, bool)> = self
            .rules
            .iter()
            .filter_map(|r| r.apply(col.name, &values))
            .map(|c| (c, true))
            .collect();
        if !is_boolean_type(col.type_name) {
            found.extend(self.builtins(col, &values).into_iter().map(|c| (c, false)));
        }
        found.retain(|(c, _)| c.confidence >= MIN_CONFIDENCE);
        // Stable sort: among full ties, rules keep their policy order and built-ins theirs.
        found.sort_by(|(a, a_custom), (b, b_custom)| {
            b.confidence
                .total_cmp(&a.confidence)
                .then(b.level.cmp(&a.level))
                .then(b_custom.cmp(a_custom))
        });
        found.into_iter().map(|(c, _)| c).collect()
    }

    fn builtins(&self, col: &ColumnSample, values: &[&str]) -> Vec<Classification> {
        let column = names::tokenize(col.name);
        let table = names::tokenize(col.table);
        self.detectors
            .iter()
            .map(|&d| detectors::evaluate(d, &column, &table, values, self.today))
            .map(|f| Classification {
                detector: detector_id(f.detector).to_string(),
                level: builtin_level(f.detector),
                confidence: round3(f.confidence),
                tags: builtin_tags(f.detector),
                evidence: builtin_evidence(&f),
            })
            .collect()
    }
}

/// Booleans hold no personal data whatever the column is called (`email_verified`).
fn is_boolean_type(type_name: &str) -> bool {
    matches!(
        type_name.trim().to_ascii_lowercase().as_str(),
        "bool" | "boolean" | "bit" | "tinyint(1)"
    )
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn percent(matched: usize, n: usize) -> String {
    format!(
        "{}% of {n} values",
        (matched as f64 * 100.0 / n as f64).round()
    )
}

fn builtin_evidence(f: &detectors::Finding) -> String {
    let id = detector_id(f.detector);
    let name = match f.name {
        names::NameSignal::Strong => Some(format!("name matches {id}")),
        names::NameSignal::Weak => Some(format!("name suggests {id}")),
        names::NameSignal::Veto => Some("name suggests other data".to_string()),
        names::NameSignal::None => None,
    };
    let values = if f.sampled == 0 {
        "no sampled values".to_string()
    } else {
        format!(
            "{} are {}",
            percent(f.matched, f.sampled),
            detectors::value_noun(f.detector)
        )
    };
    name.into_iter()
        .chain(std::iter::once(values))
        .collect::<Vec<_>>()
        .join("; ")
}

impl CustomRule {
    /// A rule with a name pattern needs the name to match; with a value pattern, at least
    /// [`CUSTOM_VALUE_SHARE`] of the values (so at least one value); with both, both.
    /// Patterns search (add `^…$` to anchor them).
    fn apply(&self, column: &str, values: &[&str]) -> Option<Classification> {
        let mut evidence = Vec::new();
        if let Some(re) = &self.column_name {
            if !re.is_match(column) {
                return None;
            }
            evidence.push("name matches columnNamePattern".to_string());
        }
        let mut confidence = 0.9;
        if let Some(re) = &self.value {
            let matched = values.iter().filter(|v| re.is_match(v)).count();
            let share = if values.is_empty() {
                0.0
            } else {
                matched as f64 / values.len() as f64
            };
            if share < CUSTOM_VALUE_SHARE {
                return None;
            }
            evidence.push(format!(
                "{} match valuePattern",
                percent(matched, values.len())
            ));
            confidence = if self.column_name.is_some() {
                1.0
            } else {
                share
            };
        }
        Some(Classification {
            detector: format!("custom:{}", self.name),
            level: self.level,
            confidence: round3(confidence),
            tags: self.tags.clone(),
            evidence: evidence.join("; "),
        })
    }
}

#[cfg(test)]
mod tests;

//! What an insights answer holds: findings, ordered strongest first, and the columns left out.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The kinds of finding, each a deterministic statistic over the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// Least-squares slope of a measure over a time or ordered column, with R² at or above the
    /// threshold.
    Trend,
    /// The last period of a measure against the one before.
    Change,
    /// Values far from the median by the robust z-score (median and MAD).
    Outlier,
    /// The top few categories holding most of a measure.
    Concentration,
    /// Pearson correlation between two measures.
    Correlation,
}

/// One finding about the result.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub kind: FindingKind,
    /// A short headline.
    pub title: String,
    /// One sentence with the figures that support it.
    pub summary: String,
    /// The result columns it is about.
    pub columns: Vec<String>,
    /// Strength from 0 to 1; findings are ordered by it, strongest first.
    pub score: f64,
    /// The figures behind the finding, by kind (slope, r2, changePercent, median, mad,
    /// outliers, sharePercent, top, r, n, …).
    #[schema(value_type = Object)]
    pub figures: Map<String, Value>,
}

/// A column of the result that was not analysed, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedColumn {
    pub column: String,
    /// `masked` (never analysed, so clear values cannot be inferred), `not numeric`, `too few
    /// values`, or `too many columns`.
    pub reason: String,
}

/// The answer of both insights endpoints.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Insights {
    /// Strongest first.
    pub findings: Vec<Finding>,
    /// Rows the analysis looked at.
    pub rows_analysed: usize,
    /// The query returned more rows than were analysed (its row limit, or the analysis cap).
    pub truncated: bool,
    pub skipped_columns: Vec<SkippedColumn>,
}

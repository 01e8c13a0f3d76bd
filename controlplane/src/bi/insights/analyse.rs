//! The analysis of one query result: profile its columns (masked ones left out), run every
//! kind of finding, order them strongest first. Pure and bounded: at most [`MAX_ROWS`] rows
//! and [`columns::MAX_MEASURES`] measures are looked at, and at most [`MAX_FINDINGS`] returned.
use std::collections::HashSet;

use serde_json::Value;

use super::{
    change, columns, concentration, correlation,
    model::{Finding, Insights},
    outlier, trend,
};
use crate::engine::ColumnInfo;

pub const MAX_ROWS: usize = 10_000;
pub const MAX_FINDINGS: usize = 25;

/// Analyses a result. `truncated` says the query itself returned fewer rows than existed.
pub fn analyse(
    columns: &[ColumnInfo],
    rows: &[Vec<Value>],
    masked: &HashSet<String>,
    truncated: bool,
) -> Insights {
    let capped = &rows[..rows.len().min(MAX_ROWS)];
    let table = columns::profile(columns, capped, masked);
    let mut findings: Vec<Finding> = [
        trend::find,
        change::find,
        outlier::find,
        concentration::find,
        correlation::find,
    ]
    .iter()
    .flat_map(|f| f(&table))
    .collect();
    // Deterministic order: score, then kind, then what it is about.
    findings.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.columns.cmp(&b.columns))
    });
    findings.truncate(MAX_FINDINGS);
    Insights {
        findings,
        rows_analysed: capped.len(),
        truncated: truncated || rows.len() > capped.len(),
        skipped_columns: table.skipped,
    }
}

/// A table of columns without declared types, as a computed SQLite result has.
#[cfg(test)]
pub(super) fn table(names: &[&str], rows: Vec<Vec<Value>>) -> columns::Table {
    let cols: Vec<ColumnInfo> = names
        .iter()
        .map(|n| ColumnInfo {
            name: n.to_string(),
            type_name: String::new(),
        })
        .collect();
    columns::profile(&cols, &rows, &HashSet::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bi::insights::model::FindingKind;
    use serde_json::json;

    fn cols(names: &[&str]) -> Vec<ColumnInfo> {
        names
            .iter()
            .map(|n| ColumnInfo {
                name: n.to_string(),
                type_name: "REAL".into(),
            })
            .collect()
    }

    /// Months with a steady rise in revenue, one month's cost far off.
    fn planted() -> Vec<Vec<Value>> {
        (1..=12)
            .map(|m| {
                let cost = if m == 7 { 900 } else { 50 + m % 3 };
                vec![
                    json!(format!("2025-{m:02}")),
                    json!(100 + 10 * m),
                    json!(cost),
                ]
            })
            .collect()
    }

    #[test]
    fn findings_come_strongest_first() {
        let r = analyse(
            &cols(&["month", "revenue", "cost"]),
            &planted(),
            &HashSet::new(),
            false,
        );
        let kinds: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&FindingKind::Trend), "{kinds:?}");
        assert!(kinds.contains(&FindingKind::Outlier), "{kinds:?}");
        assert!(r.findings.windows(2).all(|w| w[0].score >= w[1].score));
        let out = r
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::Outlier)
            .unwrap();
        assert_eq!(out.figures["outliers"][0]["row"], "2025-07");
        assert_eq!((r.rows_analysed, r.truncated), (12, false));
        assert!(r.skipped_columns.is_empty());
    }

    #[test]
    fn a_masked_column_is_never_analysed() {
        let masked = HashSet::from(["cost".to_string()]);
        let r = analyse(
            &cols(&["month", "revenue", "cost"]),
            &planted(),
            &masked,
            true,
        );
        assert!(r
            .findings
            .iter()
            .all(|f| !f.columns.contains(&"cost".to_string())));
        assert!(r.findings.iter().all(|f| !f.summary.contains("900")));
        assert_eq!(r.skipped_columns[0].column, "cost");
        assert_eq!(r.skipped_columns[0].reason, "masked");
        assert!(r.truncated, "the query's own truncation is kept");
    }

    #[test]
    fn rows_beyond_the_cap_are_not_read_and_text_alone_gives_nothing() {
        let rows: Vec<Vec<Value>> = (0..MAX_ROWS + 5).map(|i| vec![json!(i)]).collect();
        let r = analyse(&cols(&["n"]), &rows, &HashSet::new(), false);
        assert_eq!((r.rows_analysed, r.truncated), (MAX_ROWS, true));
        let text = vec![vec![json!("a"), json!("b")]; 20];
        let r = analyse(&cols(&["x", "y"]), &text, &HashSet::new(), false);
        assert!(r.findings.is_empty());
        assert_eq!(r.skipped_columns[0].reason, "not numeric");
        let r = analyse(&cols(&["x"]), &[], &HashSet::new(), false);
        assert!(r.findings.is_empty() && r.rows_analysed == 0);
    }
}

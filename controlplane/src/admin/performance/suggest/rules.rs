//! When evidence becomes a suggestion: the thresholds, as pure functions.
use std::collections::BTreeMap;

use crate::telemetry::queries::ResultTrace;

/// A table is large from this many rows.
pub const LARGE_TABLE_ROWS: f64 = 10_000.0;
/// A filter is selective when it keeps at most this share of the table's rows.
pub const SELECTIVE: f64 = 0.1;
/// A statement without a cap that returns at least this many rows per run, on average.
pub const UNBOUNDED_ROWS: f64 = 1_000.0;
/// A table is wide from this many columns (`SELECT *` then carries much unused data).
pub const WIDE_TABLE_COLUMNS: usize = 20;
/// Executions after the first one needed before the data's change rate is trusted.
pub const TTL_MIN_RERUNS: u32 = 4;
/// Share of those reruns that returned an unchanged result.
pub const TTL_UNCHANGED_SHARE: f64 = 0.9;

/// A full scan of a large table that keeps few of its rows deserves an index.
pub fn index_worthy(table_rows: f64, kept_rows: f64) -> bool {
    table_rows >= LARGE_TABLE_ROWS && kept_rows <= SELECTIVE * table_rows
}

/// A statement without LIMIT (or one-row aggregate) that returns many rows per run.
pub fn unbounded(bounded: bool, rows_per_run: f64) -> bool {
    !bounded && rows_per_run >= UNBOUNDED_ROWS
}

pub fn wide(columns: usize) -> bool {
    columns >= WIDE_TABLE_COLUMNS
}

/// A longer cache TTL when the results stayed the same across executions for at least twice
/// the current TTL: the data changes more slowly than the cache forgets it. The suggestion is
/// the observed stable span, within the instance's limit; `None` when that is no longer TTL.
pub fn better_ttl(trace: &ResultTrace, current_s: u64, max_s: u64) -> Option<u64> {
    if trace.reruns < TTL_MIN_RERUNS
        || f64::from(trace.unchanged) < TTL_UNCHANGED_SHARE * f64::from(trace.reruns)
    {
        return None;
    }
    let stable = trace.stable_seconds();
    if stable < current_s.saturating_mul(2).max(1) {
        return None;
    }
    let suggested = stable.min(max_s);
    (suggested > current_s).then_some(suggested)
}

/// One widget's query, by fingerprint.
#[derive(Clone, Debug, PartialEq)]
pub struct WidgetUse {
    pub data_source: String,
    pub fingerprint: u64,
    pub dashboard: String,
    pub widget: String,
}

/// Widget queries that are the same (same source, same fingerprint) on more than one
/// dashboard, largest groups first.
pub fn shared(uses: Vec<WidgetUse>) -> Vec<Vec<WidgetUse>> {
    let mut groups: BTreeMap<(String, u64), Vec<WidgetUse>> = BTreeMap::new();
    for u in uses {
        groups
            .entry((u.data_source.clone(), u.fingerprint))
            .or_default()
            .push(u);
    }
    let mut out: Vec<Vec<WidgetUse>> = groups
        .into_values()
        .filter(|g| {
            let mut d: Vec<&str> = g.iter().map(|u| u.dashboard.as_str()).collect();
            d.sort_unstable();
            d.dedup();
            d.len() >= 2
        })
        .collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_needs_a_large_table_and_a_selective_filter() {
        assert!(index_worthy(50_000.0, 1.0));
        assert!(!index_worthy(500.0, 1.0), "small table");
        assert!(!index_worthy(50_000.0, 30_000.0), "keeps most rows");
    }

    #[test]
    fn unbounded_needs_no_cap_and_many_rows() {
        assert!(unbounded(false, 5_000.0));
        assert!(!unbounded(true, 5_000.0));
        assert!(!unbounded(false, 10.0));
    }

    #[test]
    fn ttl_from_the_stable_span() {
        let t = ResultTrace {
            statement: 1,
            digest: 2,
            reruns: 5,
            unchanged: 5,
            since: 1_000,
            last_at: 1_600,
        };
        assert_eq!(better_ttl(&t, 60, 3_600), Some(600));
        assert_eq!(better_ttl(&t, 60, 300), Some(300), "within the limit");
        assert_eq!(better_ttl(&t, 300, 300), None, "already at the limit");
        assert_eq!(
            better_ttl(&t, 400, 3_600),
            None,
            "stable less than twice the TTL"
        );
        let changing = ResultTrace {
            unchanged: 2,
            ..t.clone()
        };
        assert_eq!(better_ttl(&changing, 60, 3_600), None);
        let few = ResultTrace {
            reruns: 2,
            unchanged: 2,
            ..t
        };
        assert_eq!(better_ttl(&few, 60, 3_600), None);
    }

    #[test]
    fn shared_widget_queries_span_dashboards() {
        let u = |d: &str, w: &str, fp: u64| WidgetUse {
            data_source: "pg".into(),
            fingerprint: fp,
            dashboard: d.into(),
            widget: w.into(),
        };
        let g = shared(vec![
            u("a", "w1", 1),
            u("b", "w2", 1),
            u("a", "w3", 2),
            u("a", "w4", 2),
            u("c", "w5", 3),
        ]);
        assert_eq!(
            g.len(),
            1,
            "same dashboard twice is not sharing across dashboards"
        );
        assert_eq!(
            g[0].iter().map(|x| x.widget.as_str()).collect::<Vec<_>>(),
            vec!["w1", "w2"]
        );
    }
}

//! Access pattern analysis: which data sources, tables and sensitive columns each user touches,
//! and flags for unusual access. Everything here is pure: the handler turns audit entries into
//! [`AccessEvent`]s (each query's fingerprint read through the lineage analyzer against the
//! catalog, [`touched`]) and calls these functions.
//!
//! Flags compare the period with a baseline (the days before it):
//! - **first restricted access**: the first query in the period touching columns at or above
//!   the chosen level (default `restricted`) that the user did not touch in the baseline — one
//!   flag per query and table, naming the new columns;
//! - **outside usual hours**: activity at an hour of day (UTC) that held under 2% of the user's
//!   baseline activity — only for users with at least 20 baseline actions; one flag per user,
//!   day and hour;
//! - **row spike**: a query reading at least `factor` × the user's baseline 95th percentile of
//!   rows per query, and at least `min_rows` — only for users with at least 5 baseline queries.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use nexbii_crds::{DataSourceType, SensitivityLevel};
use serde::Serialize;
use utoipa::ToSchema;

use crate::governance::{enforce::SourceView, lineage};

/// A classified column a query touched (in its values, counts or conditions).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TouchedColumn {
    /// `table.column` (`schema.table.column` where there is a schema).
    pub column: String,
    #[schema(value_type = String)]
    pub level: SensitivityLevel,
    /// Why it has its level (the detector, or `manual`).
    pub label: String,
}

/// What one query fingerprint touches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub tables: Vec<String>,
    pub columns: Vec<TouchedColumn>,
    /// The statement could not be read completely (unknown table, not parsed): what is listed
    /// is what could be.
    pub unresolved: bool,
}

/// Reads a fingerprint (literals already `?`) with the lineage analyzer against the source's
/// catalog.
pub fn touched(source_type: DataSourceType, fingerprint: &str, view: &SourceView) -> Touched {
    let Ok(lin) = lineage::analyze(source_type, fingerprint, view) else {
        return Touched {
            unresolved: true,
            ..Default::default()
        };
    };
    let mut columns = BTreeSet::new();
    for c in lin
        .outputs
        .iter()
        .flat_map(|o| o.sources.iter().chain(&o.counted))
        .chain(&lin.filters)
    {
        if let Some((level, label)) = view.column_level(c) {
            if *level > SensitivityLevel::Public {
                columns.insert(TouchedColumn {
                    column: c.to_string(),
                    level: *level,
                    label: label.clone(),
                });
            }
        }
    }
    Touched {
        tables: lin.tables.iter().map(|t| t.to_string()).collect(),
        columns: columns.into_iter().collect(),
        unresolved: !lin.fully_resolved(),
    }
}

/// One query a user ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEvent {
    pub user: String,
    pub at: DateTime<Utc>,
    pub datasource: String,
    pub touched: Touched,
    pub rows: u64,
    /// Result columns that came back masked.
    pub masked: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableUse {
    pub table: String,
    pub queries: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnUse {
    pub column: String,
    #[schema(value_type = String)]
    pub level: SensitivityLevel,
    pub label: String,
    pub queries: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceUse {
    pub datasource: String,
    pub queries: u64,
    pub rows_read: u64,
    pub tables: Vec<TableUse>,
    /// Classified columns (above `public`) the user's queries touched.
    pub sensitive_columns: Vec<ColumnUse>,
    /// Result columns that came back masked to the user.
    pub masked_columns: Vec<String>,
    /// Queries whose statement could not be read completely against the catalog.
    pub unresolved_queries: u64,
}

/// Per user, what they touched in each data source.
pub fn summarize(events: &[AccessEvent]) -> BTreeMap<String, Vec<SourceUse>> {
    #[derive(Default)]
    struct Acc {
        queries: u64,
        rows: u64,
        tables: BTreeMap<String, u64>,
        columns: BTreeMap<String, (SensitivityLevel, String, u64)>,
        masked: BTreeSet<String>,
        unresolved: u64,
    }
    let mut by: BTreeMap<String, BTreeMap<String, Acc>> = BTreeMap::new();
    for e in events {
        let a = by
            .entry(e.user.clone())
            .or_default()
            .entry(e.datasource.clone())
            .or_default();
        a.queries += 1;
        a.rows += e.rows;
        a.unresolved += u64::from(e.touched.unresolved);
        for t in &e.touched.tables {
            *a.tables.entry(t.clone()).or_default() += 1;
        }
        for c in &e.touched.columns {
            a.columns
                .entry(c.column.clone())
                .or_insert_with(|| (c.level, c.label.clone(), 0))
                .2 += 1;
        }
        a.masked.extend(e.masked.iter().cloned());
    }
    by.into_iter()
        .map(|(user, sources)| {
            let list = sources
                .into_iter()
                .map(|(datasource, a)| SourceUse {
                    datasource,
                    queries: a.queries,
                    rows_read: a.rows,
                    tables: a
                        .tables
                        .into_iter()
                        .map(|(table, queries)| TableUse { table, queries })
                        .collect(),
                    sensitive_columns: a
                        .columns
                        .into_iter()
                        .map(|(column, (level, label, queries))| ColumnUse {
                            column,
                            level,
                            label,
                            queries,
                        })
                        .collect(),
                    masked_columns: a.masked.into_iter().collect(),
                    unresolved_queries: a.unresolved,
                })
                .collect();
            (user, list)
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum FlagKind {
    FirstRestrictedAccess,
    OutsideUsualHours,
    RowSpike,
}

/// Something unusual, with its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Flag {
    pub kind: FlagKind,
    pub username: String,
    pub at: DateTime<Utc>,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource: Option<String>,
    /// The table (first restricted access).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The restricted columns touched (first restricted access).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Rows the query read and the threshold it crossed (row spike).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    /// The hour of day, UTC (outside usual hours), and the share of the user's baseline
    /// activity at that hour, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_share_percent: Option<f64>,
}

fn flag(kind: FlagKind, user: &str, at: DateTime<Utc>, detail: String) -> Flag {
    Flag {
        kind,
        username: user.to_string(),
        at,
        detail,
        datasource: None,
        table: None,
        columns: Vec::new(),
        rows: None,
        threshold: None,
        hour: None,
        baseline_share_percent: None,
    }
}

/// The table part of `table.column` / `schema.table.column`.
fn table_of(column: &str) -> &str {
    column.rsplit_once('.').map_or(column, |(t, _)| t)
}

/// First access, in the period, to a table's columns at or above `level` that the user did
/// not touch in the baseline. Events in time order.
pub fn first_restricted_access(
    baseline: &[AccessEvent],
    period: &[AccessEvent],
    level: SensitivityLevel,
) -> Vec<Flag> {
    let key = |e: &AccessEvent, c: &TouchedColumn| {
        (e.user.clone(), e.datasource.clone(), c.column.clone())
    };
    let mut known: HashSet<(String, String, String)> = baseline
        .iter()
        .flat_map(|e| {
            e.touched
                .columns
                .iter()
                .filter(|c| c.level >= level)
                .map(move |c| key(e, c))
        })
        .collect();
    let mut out = Vec::new();
    for e in period {
        // The columns this query is the first to touch, by table.
        let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in e.touched.columns.iter().filter(|c| c.level >= level) {
            if known.insert(key(e, c)) {
                by_table
                    .entry(table_of(&c.column).to_string())
                    .or_default()
                    .push(c.column.clone());
            }
        }
        for (table, columns) in by_table {
            let mut f = flag(
                FlagKind::FirstRestrictedAccess,
                &e.user,
                e.at,
                format!(
                    "first access to {} data in {}:{table} ({})",
                    crate::governance::catalog::crawl::level_name(level),
                    e.datasource,
                    columns.join(", ")
                ),
            );
            f.datasource = Some(e.datasource.clone());
            f.table = Some(table);
            f.columns = columns;
            out.push(f);
        }
    }
    out
}

/// Baseline actions a user needs before their hours are judged.
pub const MIN_BASELINE_ACTIONS: usize = 20;
/// An hour holding less than this share of the baseline is unusual.
pub const RARE_HOUR_SHARE: f64 = 0.02;

/// Activity (any audited action: `(user, time)`) at hours of day the user's baseline rarely
/// shows. One flag per user, day and hour.
pub fn outside_usual_hours(
    baseline: &[(String, DateTime<Utc>)],
    period: &[(String, DateTime<Utc>)],
) -> Vec<Flag> {
    let mut hours: HashMap<&str, [u64; 24]> = HashMap::new();
    for (u, at) in baseline {
        hours.entry(u.as_str()).or_insert([0; 24])[at.hour() as usize] += 1;
    }
    let mut seen: HashSet<(&str, NaiveDate, u32)> = HashSet::new();
    let mut out = Vec::new();
    for (u, at) in period {
        let Some(h) = hours.get(u.as_str()) else {
            continue;
        };
        let total: u64 = h.iter().sum();
        if (total as usize) < MIN_BASELINE_ACTIONS {
            continue;
        }
        let hour = at.hour();
        let share = h[hour as usize] as f64 / total as f64;
        if share >= RARE_HOUR_SHARE || !seen.insert((u.as_str(), at.date_naive(), hour)) {
            continue;
        }
        let percent = (share * 1000.0).round() / 10.0;
        let mut f = flag(
            FlagKind::OutsideUsualHours,
            u,
            *at,
            format!(
                "active at {hour:02}:00 UTC, an hour that holds {percent}% of the user's {total} baseline actions"
            ),
        );
        f.hour = Some(hour);
        f.baseline_share_percent = Some(percent);
        out.push(f);
    }
    out
}

/// Baseline queries a user needs before their row counts are judged.
pub const MIN_BASELINE_QUERIES: usize = 5;

/// The nearest-rank 95th percentile.
fn p95(sorted: &[u64]) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64) * 0.95).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Queries in the period reading at least `factor` × the user's baseline p95 rows per query,
/// and at least `min_rows`.
pub fn row_spikes(
    baseline: &[AccessEvent],
    period: &[AccessEvent],
    factor: u64,
    min_rows: u64,
) -> Vec<Flag> {
    let mut rows: HashMap<&str, Vec<u64>> = HashMap::new();
    for e in baseline {
        rows.entry(e.user.as_str()).or_default().push(e.rows);
    }
    let thresholds: HashMap<&str, (u64, u64)> = rows
        .into_iter()
        .filter(|(_, r)| r.len() >= MIN_BASELINE_QUERIES)
        .map(|(u, mut r)| {
            r.sort_unstable();
            let p = p95(&r);
            (u, (p, min_rows.max(factor.saturating_mul(p.max(1)))))
        })
        .collect();
    period
        .iter()
        .filter_map(|e| {
            let (p, threshold) = *thresholds.get(e.user.as_str())?;
            (e.rows >= threshold).then(|| {
                let mut f = flag(
                    FlagKind::RowSpike,
                    &e.user,
                    e.at,
                    format!(
                        "a query on {} read {} rows; the user's baseline 95th percentile is {p}",
                        e.datasource, e.rows
                    ),
                );
                f.datasource = Some(e.datasource.clone());
                f.rows = Some(e.rows);
                f.threshold = Some(threshold);
                f
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone};

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    fn ev(
        user: &str,
        at: DateTime<Utc>,
        rows: u64,
        cols: &[(&str, SensitivityLevel)],
    ) -> AccessEvent {
        AccessEvent {
            user: user.into(),
            at,
            datasource: "sales".into(),
            touched: Touched {
                tables: cols
                    .iter()
                    .map(|(c, _)| table_of(c).to_string())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                columns: cols
                    .iter()
                    .map(|(c, l)| TouchedColumn {
                        column: c.to_string(),
                        level: *l,
                        label: "email".into(),
                    })
                    .collect(),
                unresolved: false,
            },
            rows,
            masked: vec![],
        }
    }

    use SensitivityLevel::*;

    #[test]
    fn first_access_to_restricted_columns_is_flagged_once() {
        let baseline = vec![ev("ann", at(1, 9), 5, &[("people.ssn", Restricted)])];
        let period = vec![
            // Known from the baseline: no flag.
            ev("ann", at(5, 9), 5, &[("people.ssn", Restricted)]),
            // Below the level: no flag.
            ev("ann", at(5, 9), 5, &[("customers.email", Confidential)]),
            ev(
                "ann",
                at(5, 10),
                5,
                &[("cards.number", Restricted), ("cards.cvv", Restricted)],
            ),
            ev("ann", at(5, 11), 5, &[("cards.number", Restricted)]),
            ev("bob", at(5, 12), 5, &[("people.ssn", Restricted)]),
            // A new column of a known table counts.
            ev(
                "ann",
                at(5, 13),
                5,
                &[("people.ssn", Restricted), ("people.dob", Restricted)],
            ),
        ];
        let flags = first_restricted_access(&baseline, &period, Restricted);
        let got: Vec<(&str, &str, DateTime<Utc>)> = flags
            .iter()
            .map(|f| (f.username.as_str(), f.table.as_deref().unwrap(), f.at))
            .collect();
        assert_eq!(
            got,
            [
                ("ann", "cards", at(5, 10)),
                ("bob", "people", at(5, 12)),
                ("ann", "people", at(5, 13))
            ]
        );
        assert_eq!(flags[0].columns, ["cards.number", "cards.cvv"]);
        assert_eq!(flags[2].columns, ["people.dob"]);
        // At a lower level, the email column counts too.
        assert_eq!(
            first_restricted_access(&baseline, &period, Confidential).len(),
            4
        );
    }

    #[test]
    fn hours_the_baseline_rarely_shows_are_flagged() {
        // 40 baseline actions, all between 09:00 and 17:59, one at 22:00 (2.4%).
        let mut baseline: Vec<(String, DateTime<Utc>)> = (0..39)
            .map(|i| ("ann".to_string(), at(1 + i % 20, 9 + i % 9)))
            .collect();
        baseline.push(("ann".into(), at(3, 22)));
        // bob has too little history to judge.
        baseline.push(("bob".into(), at(3, 9)));
        let period = vec![
            ("ann".to_string(), at(25, 10)),
            ("ann".to_string(), at(25, 3)),
            ("ann".to_string(), at(25, 3)),
            ("ann".to_string(), at(26, 3)),
            ("ann".to_string(), at(26, 22)),
            ("bob".to_string(), at(26, 3)),
        ];
        let flags = outside_usual_hours(&baseline, &period);
        let got: Vec<(u32, u32)> = flags
            .iter()
            .map(|f| (f.at.day(), f.hour.unwrap()))
            .collect();
        assert_eq!(got, [(25, 3), (26, 3)], "one per day and hour");
        assert_eq!(flags[0].baseline_share_percent, Some(0.0));
    }

    #[test]
    fn a_query_far_above_the_users_usual_rows_is_flagged() {
        let baseline: Vec<AccessEvent> = [10, 12, 8, 20, 15, 11]
            .into_iter()
            .map(|r| ev("ann", at(1, 9), r, &[]))
            .collect();
        let period = vec![
            ev("ann", at(5, 9), 150, &[]),
            ev("ann", at(5, 10), 1000, &[]),
            ev("ann", at(5, 11), 5000, &[]),
            // No baseline: not judged.
            ev("bob", at(5, 11), 1_000_000, &[]),
        ];
        // p95 of 6 values is the 6th smallest (20): threshold max(1000, 10 × 20).
        let flags = row_spikes(&baseline, &period, 10, 1000);
        let got: Vec<(u64, u64)> = flags
            .iter()
            .map(|f| (f.rows.unwrap(), f.threshold.unwrap()))
            .collect();
        assert_eq!(got, [(1000, 1000), (5000, 1000)]);
        let flags = row_spikes(&baseline, &period, 10, 100);
        assert_eq!(flags.len(), 2, "150 is under max(100, 10 × 20)");
    }

    #[test]
    fn summaries_count_tables_columns_and_rows_per_source() {
        let mut e = ev("ann", at(1, 9), 7, &[("customers.email", Confidential)]);
        e.masked = vec!["email".into()];
        let mut f = ev("ann", at(1, 10), 3, &[]);
        f.touched.tables = vec!["orders".into()];
        f.touched.unresolved = true;
        let s = summarize(&[e.clone(), e, f]);
        let sales = &s["ann"][0];
        assert_eq!((sales.queries, sales.rows_read), (3, 17));
        assert_eq!(
            sales.tables,
            [
                TableUse {
                    table: "customers".into(),
                    queries: 2
                },
                TableUse {
                    table: "orders".into(),
                    queries: 1
                }
            ]
        );
        assert_eq!(sales.sensitive_columns[0].column, "customers.email");
        assert_eq!(sales.sensitive_columns[0].queries, 2);
        assert_eq!(sales.masked_columns, ["email"]);
        assert_eq!(sales.unresolved_queries, 1);
    }
}

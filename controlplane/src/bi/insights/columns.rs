//! Reads a query result into what the findings work on: an ordering axis (a time column, or
//! a leading column that only increases), numeric measures, and a label column naming rows and
//! categories. Masked columns are left out before any value is read.
use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::Value;

use super::model::SkippedColumn;
use crate::engine::ColumnInfo;

/// Measures beyond this many are not analysed (correlation looks at every pair).
pub const MAX_MEASURES: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisKind {
    /// Dates or instants, as days since 1970-01-01.
    Time,
    /// A leading numeric column that only increases (a year, a sequence number).
    Ordered,
}

#[derive(Debug)]
pub struct Axis {
    pub column: String,
    pub kind: AxisKind,
    pub values: Vec<Option<f64>>,
    /// The cell as the result wrote it, for naming periods.
    pub labels: Vec<Option<String>>,
}

#[derive(Debug)]
pub struct Measure {
    pub column: String,
    pub values: Vec<Option<f64>>,
}

#[derive(Debug)]
pub struct Labels {
    pub column: String,
    pub values: Vec<Option<String>>,
}

/// The result as the findings see it.
#[derive(Debug, Default)]
pub struct Table {
    pub rows: usize,
    pub axis: Option<Axis>,
    pub measures: Vec<Measure>,
    pub labels: Option<Labels>,
    pub skipped: Vec<SkippedColumn>,
}

impl Table {
    /// How row `i` is named: its label, else its axis value, else its 1-based number.
    pub fn row_name(&self, i: usize) -> String {
        let by_label = self.labels.as_ref().and_then(|l| l.values[i].clone());
        let by_axis = || self.axis.as_ref().and_then(|a| a.labels[i].clone());
        by_label
            .or_else(by_axis)
            .unwrap_or_else(|| format!("row {}", i + 1))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Time,
    Numeric,
    Text,
    Empty,
}

fn numeric_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    (t.contains("int") && !t.contains("interval") && !t.contains("point"))
        || [
            "float", "double", "real", "numeric", "decimal", "number", "money",
        ]
        .iter()
        .any(|n| t.contains(n))
}

/// Days since 1970-01-01 of a date, a wall-clock time or an RFC 3339 instant; also `YYYY-MM`
/// (a month, as `strftime('%Y-%m', …)` writes it).
pub fn parse_time(s: &str) -> Option<f64> {
    let s = s.trim();
    let days = |dt: NaiveDateTime| dt.and_utc().timestamp() as f64 / 86_400.0;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp() as f64 / 86_400.0);
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(days(t));
        }
    }
    let date = if s.len() == 7 {
        NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
    } else {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
    };
    date.ok()
        .map(|d| days(d.and_hms_opt(0, 0, 0).expect("midnight")))
}

fn number(v: &Value, typed: bool) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        // Exact decimals too long for an f64 come as strings in numeric columns.
        Value::String(s) if typed => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

fn classify(info: &ColumnInfo, cells: &[&Value]) -> Class {
    let present: Vec<&&Value> = cells.iter().filter(|v| !v.is_null()).collect();
    if present.is_empty() {
        return Class::Empty;
    }
    let typed = numeric_type(&info.type_name);
    if present.iter().all(|v| number(v, typed).is_some()) {
        return Class::Numeric;
    }
    if present
        .iter()
        .all(|v| v.as_str().and_then(parse_time).is_some())
    {
        return Class::Time;
    }
    Class::Text
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn skip(column: &str, reason: &str) -> SkippedColumn {
    SkippedColumn {
        column: column.to_string(),
        reason: reason.to_string(),
    }
}

fn strictly_increasing(values: &[Option<f64>]) -> bool {
    values.len() >= 2
        && values.iter().all(Option::is_some)
        && values.windows(2).all(|w| w[0] < w[1])
}

/// Profiles `rows` (already capped) of a result with `columns`; `masked` names the columns the
/// pipeline masked for the caller.
pub fn profile(columns: &[ColumnInfo], rows: &[Vec<Value>], masked: &HashSet<String>) -> Table {
    let mut t = Table {
        rows: rows.len(),
        ..Table::default()
    };
    for (i, info) in columns.iter().enumerate() {
        if masked.contains(&info.name) {
            t.skipped.push(skip(&info.name, "masked"));
            continue;
        }
        let cells: Vec<&Value> = rows
            .iter()
            .map(|r| r.get(i).unwrap_or(&Value::Null))
            .collect();
        let typed = numeric_type(&info.type_name);
        match classify(info, &cells) {
            Class::Empty => t.skipped.push(skip(&info.name, "too few values")),
            Class::Time if t.axis.is_none() => {
                t.axis = Some(Axis {
                    column: info.name.clone(),
                    kind: AxisKind::Time,
                    values: cells
                        .iter()
                        .map(|v| v.as_str().and_then(parse_time))
                        .collect(),
                    labels: cells.iter().map(|v| text(v)).collect(),
                });
            }
            Class::Numeric => {
                let values: Vec<Option<f64>> = cells.iter().map(|v| number(v, typed)).collect();
                if i == 0 && t.axis.is_none() && strictly_increasing(&values) {
                    t.axis = Some(Axis {
                        column: info.name.clone(),
                        kind: AxisKind::Ordered,
                        labels: cells.iter().map(|v| text(v)).collect(),
                        values,
                    });
                } else if values.iter().flatten().count() < 2 {
                    t.skipped.push(skip(&info.name, "too few values"));
                } else if t.measures.len() >= MAX_MEASURES {
                    t.skipped.push(skip(&info.name, "too many columns"));
                } else {
                    t.measures.push(Measure {
                        column: info.name.clone(),
                        values,
                    });
                }
            }
            Class::Text if t.labels.is_none() => {
                t.labels = Some(Labels {
                    column: info.name.clone(),
                    values: cells.iter().map(|v| text(v)).collect(),
                });
            }
            Class::Time | Class::Text => t.skipped.push(skip(&info.name, "not numeric")),
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cols(spec: &[(&str, &str)]) -> Vec<ColumnInfo> {
        spec.iter()
            .map(|(n, t)| ColumnInfo {
                name: n.to_string(),
                type_name: t.to_string(),
            })
            .collect()
    }

    #[test]
    fn times_numbers_and_labels_find_their_roles() {
        let c = cols(&[
            ("month", "TEXT"),
            ("region", "TEXT"),
            ("revenue", "NUMERIC"),
            ("note", "TEXT"),
            ("email", "TEXT"),
        ]);
        let rows = vec![
            vec![
                json!("2025-01"),
                json!("north"),
                json!("10.5"),
                json!("a"),
                json!("x@y"),
            ],
            vec![
                json!("2025-02"),
                json!("south"),
                json!(12),
                json!("b"),
                json!("z@y"),
            ],
        ];
        let masked = HashSet::from(["email".to_string()]);
        let t = profile(&c, &rows, &masked);
        let axis = t.axis.as_ref().unwrap();
        assert_eq!((axis.column.as_str(), axis.kind), ("month", AxisKind::Time));
        assert_eq!(axis.values[1].unwrap() - axis.values[0].unwrap(), 31.0);
        assert_eq!(t.labels.as_ref().unwrap().column, "region");
        assert_eq!(t.measures[0].values, vec![Some(10.5), Some(12.0)]);
        assert_eq!(
            t.skipped,
            vec![skip("note", "not numeric"), skip("email", "masked")]
        );
        assert_eq!(t.row_name(1), "south");
    }

    #[test]
    fn a_leading_increasing_number_orders_rows_and_numeric_strings_need_a_numeric_type() {
        let c = cols(&[("year", "INTEGER"), ("code", "TEXT"), ("n", "")]);
        let rows = vec![
            vec![json!(2020), json!("0012"), json!(1)],
            vec![json!(2021), json!("0013"), json!(null)],
        ];
        let t = profile(&c, &rows, &HashSet::new());
        assert_eq!(t.axis.as_ref().unwrap().kind, AxisKind::Ordered);
        assert_eq!(
            t.labels.as_ref().unwrap().column,
            "code",
            "text, not a number"
        );
        assert_eq!(t.skipped, vec![skip("n", "too few values")]);
    }

    #[test]
    fn time_formats() {
        assert_eq!(parse_time("1970-01-02"), Some(1.0));
        assert_eq!(parse_time("1970-01-01T12:00:00Z"), Some(0.5));
        assert_eq!(parse_time("1970-01-01 06:00:00"), Some(0.25));
        assert_eq!(parse_time("1970-02"), Some(31.0));
        assert_eq!(parse_time("north"), None);
        assert_eq!(parse_time("2025"), None);
    }
}

//! `change`: the last period of a measure against the one before, when it moved by at least
//! [`MIN_CHANGE_PERCENT`].
use serde_json::json;

use super::{
    columns::Table,
    model::{Finding, FindingKind},
    series::{along, num},
    stats::round,
};

pub const MIN_CHANGE_PERCENT: f64 = 10.0;

pub fn find(t: &Table) -> Vec<Finding> {
    let Some(axis) = &t.axis else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in &t.measures {
        let pts = along(axis, m);
        let [.., prev, last] = pts.as_slice() else {
            continue;
        };
        // From zero any rise is infinite: no percentage to report.
        if prev.y == 0.0 {
            continue;
        }
        let pct = (last.y - prev.y) / prev.y.abs() * 100.0;
        if pct.abs() < MIN_CHANGE_PERCENT {
            continue;
        }
        let up = pct > 0.0;
        out.push(Finding {
            kind: FindingKind::Change,
            title: format!(
                "{} {} {} % in the last period",
                m.column,
                if up { "up" } else { "down" },
                num(pct.abs())
            ),
            summary: format!(
                "{} went from {} at {} to {} at {} ({}{} %).",
                m.column,
                num(prev.y),
                prev.label,
                num(last.y),
                last.label,
                if up { "+" } else { "−" },
                num(pct.abs())
            ),
            columns: vec![axis.column.clone(), m.column.clone()],
            score: round((pct.abs() / 100.0).min(1.0), 3),
            figures: json!({
                "direction": if up { "up" } else { "down" },
                "changePercent": round(pct, 1),
                "previous": prev.y,
                "previousPeriod": prev.label,
                "last": last.y,
                "lastPeriod": last.label,
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bi::insights::analyse::table;
    use serde_json::json;

    fn days(values: &[f64]) -> Vec<Vec<serde_json::Value>> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| vec![json!(format!("2025-03-{:02}", i + 1)), json!(v)])
            .collect()
    }

    #[test]
    fn a_jump_in_the_last_period_is_a_change() {
        let f = find(&table(&["day", "orders"], days(&[50.0, 52.0, 40.0, 60.0])));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].figures["changePercent"], 50.0);
        assert_eq!(f[0].figures["previousPeriod"], "2025-03-03");
        assert_eq!(f[0].figures["lastPeriod"], "2025-03-04");
        assert_eq!(f[0].score, 0.5);
        assert!(f[0]
            .summary
            .contains("from 40 at 2025-03-03 to 60 at 2025-03-04"));
    }

    #[test]
    fn rows_of_one_period_are_summed_before_comparing() {
        // Two regions per day, out of order: day 2 totals 30 against 20 on day 1.
        let rows = vec![
            vec![json!("2025-03-02"), json!(10)],
            vec![json!("2025-03-01"), json!(12)],
            vec![json!("2025-03-02"), json!(20)],
            vec![json!("2025-03-01"), json!(8)],
        ];
        let f = find(&table(&["day", "v"], rows));
        assert_eq!(f[0].figures["changePercent"], 50.0);
    }

    #[test]
    fn small_moves_a_zero_base_and_a_single_period_are_not_changes() {
        assert!(find(&table(&["d", "v"], days(&[50.0, 100.0, 105.0]))).is_empty());
        assert!(find(&table(&["d", "v"], days(&[5.0, 0.0, 10.0]))).is_empty());
        assert!(find(&table(&["d", "v"], days(&[5.0]))).is_empty());
        let falling = find(&table(&["d", "v"], days(&[100.0, 70.0])));
        assert_eq!(falling[0].figures["direction"], "down");
        assert_eq!(falling[0].figures["changePercent"], -30.0);
    }
}

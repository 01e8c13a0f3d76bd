//! `correlation`: two measures moving together (or against each other) — Pearson's |r| at or
//! above [`R_MIN`] over at least [`MIN_PAIRS`] rows where both have a value.
use serde_json::json;

use super::{
    columns::Table,
    model::{Finding, FindingKind},
    series::num,
    stats::{pearson, round},
};

pub const R_MIN: f64 = 0.7;
pub const MIN_PAIRS: usize = 8;

pub fn find(t: &Table) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, a) in t.measures.iter().enumerate() {
        for b in &t.measures[i + 1..] {
            let pairs: Vec<(f64, f64)> = a
                .values
                .iter()
                .zip(&b.values)
                .filter_map(|(x, y)| Some(((*x)?, (*y)?)))
                .collect();
            if pairs.len() < MIN_PAIRS {
                continue;
            }
            let Some(r) = pearson(&pairs) else {
                continue;
            };
            if r.abs() < R_MIN {
                continue;
            }
            let together = r > 0.0;
            out.push(Finding {
                kind: FindingKind::Correlation,
                title: format!(
                    "{} and {} {}",
                    a.column,
                    b.column,
                    if together {
                        "move together"
                    } else {
                        "move in opposite directions"
                    }
                ),
                summary: format!(
                    "Pearson r = {} over {} rows: when {} is higher, {} tends to be {}.",
                    num(r),
                    pairs.len(),
                    a.column,
                    b.column,
                    if together { "higher" } else { "lower" }
                ),
                columns: vec![a.column.clone(), b.column.clone()],
                score: round(r.abs(), 3),
                figures: json!({
                    "r": round(r, 3),
                    "n": pairs.len(),
                    "direction": if together { "positive" } else { "negative" },
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bi::insights::analyse::table;
    use serde_json::{json, Value};

    fn rows(pairs: &[(f64, f64)]) -> Vec<Vec<Value>> {
        pairs
            .iter()
            .enumerate()
            .map(|(i, (a, b))| vec![json!(format!("p{i}")), json!(a), json!(b)])
            .collect()
    }

    #[test]
    fn measures_that_move_together_or_apart_correlate() {
        let up: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64, 3.0 * i as f64 + (i % 2) as f64))
            .collect();
        let f = find(&table(&["p", "ads", "visits"], rows(&up)));
        assert_eq!(f.len(), 1);
        assert!(f[0].figures["r"].as_f64().unwrap() > 0.99);
        assert_eq!(f[0].figures["n"], 10);
        assert_eq!(f[0].columns, vec!["ads", "visits"]);
        let down: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64, 100.0 - 5.0 * i as f64))
            .collect();
        let f = find(&table(&["p", "price", "units"], rows(&down)));
        assert_eq!(f[0].figures["direction"], "negative");
        assert_eq!(f[0].figures["r"], -1.0);
    }

    #[test]
    fn weak_constant_or_short_pairs_do_not_correlate() {
        let weak: Vec<(f64, f64)> = (0..10)
            .map(|i| {
                (
                    i as f64,
                    [5.0, 1.0, 8.0, 2.0, 9.0, 3.0, 4.0, 7.0, 0.0, 6.0][i],
                )
            })
            .collect();
        assert!(find(&table(&["p", "a", "b"], rows(&weak))).is_empty());
        let flat: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 4.0)).collect();
        assert!(find(&table(&["p", "a", "b"], rows(&flat))).is_empty());
        let short: Vec<(f64, f64)> = (0..7).map(|i| (i as f64, i as f64)).collect();
        assert!(find(&table(&["p", "a", "b"], rows(&short))).is_empty());
    }
}

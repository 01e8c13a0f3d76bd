//! `concentration`: a few categories of the label column holding most of a measure — the top
//! k of n (k = n/4, between 1 and 3) hold at least [`MIN_SHARE`] of the total and at least
//! [`MIN_LIFT`] times the share they would hold if the measure were spread evenly.
use std::collections::HashMap;

use serde_json::json;

use super::{
    columns::Table,
    model::{Finding, FindingKind},
    series::num,
    stats::round,
};

pub const MIN_SHARE: f64 = 0.5;
pub const MIN_LIFT: f64 = 1.5;
pub const MIN_CATEGORIES: usize = 4;

pub fn find(t: &Table) -> Vec<Finding> {
    let Some(labels) = &t.labels else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in &t.measures {
        let mut sums: HashMap<&str, f64> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        let mut negative = false;
        for (label, v) in labels.values.iter().zip(&m.values) {
            let (Some(label), Some(v)) = (label, v) else {
                continue;
            };
            negative |= *v < 0.0;
            let e = sums.entry(label.as_str()).or_insert_with(|| {
                order.push(label.as_str());
                0.0
            });
            *e += v;
        }
        // Shares of a measure with negative parts mean nothing.
        let total: f64 = sums.values().sum();
        let n = sums.len();
        if negative || total <= 0.0 || n < MIN_CATEGORIES {
            continue;
        }
        let mut ranked: Vec<(&str, f64)> = order.iter().map(|l| (*l, sums[l])).collect();
        // Stable on ties: the result's order decides.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let k = (n / 4).clamp(1, 3);
        let share = ranked[..k].iter().map(|r| r.1).sum::<f64>() / total;
        let even = k as f64 / n as f64;
        if share < MIN_SHARE || share < MIN_LIFT * even {
            continue;
        }
        let top: Vec<serde_json::Value> = ranked[..k]
            .iter()
            .map(|(l, v)| json!({"label": l, "value": v, "sharePercent": round(v / total * 100.0, 1)}))
            .collect();
        let pct = num(share * 100.0);
        let head = if k == 1 {
            format!("{} alone holds", ranked[0].0)
        } else {
            format!("The top {k} of {n} {} hold", labels.column)
        };
        out.push(Finding {
            kind: FindingKind::Concentration,
            title: format!(
                "Top {k} of {n} {} hold {pct} % of {}",
                labels.column, m.column
            ),
            summary: format!(
                "{head} {pct} % of {} ({} of {}), against {} % if spread evenly over all {n}.",
                m.column,
                num(share * total),
                num(total),
                num(even * 100.0),
            ),
            columns: vec![labels.column.clone(), m.column.clone()],
            score: round(((share - even) / (1.0 - even)).clamp(0.0, 1.0), 3),
            figures: json!({
                "k": k,
                "categories": n,
                "sharePercent": round(share * 100.0, 1),
                "evenSharePercent": round(even * 100.0, 1),
                "total": total,
                "top": top,
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
    use serde_json::{json, Value};

    fn regions(values: &[f64]) -> Vec<Vec<Value>> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| vec![json!(format!("r{:02}", i + 1)), json!(v)])
            .collect()
    }

    #[test]
    fn three_of_twelve_holding_most_is_a_concentration() {
        let mut v = vec![10.0; 12];
        (v[2], v[5], v[7]) = (100.0, 80.0, 60.0);
        let f = find(&table(&["region", "revenue"], regions(&v)));
        assert_eq!(f.len(), 1, "{f:?}");
        let g = &f[0].figures;
        assert_eq!(
            (g["k"].as_u64(), g["categories"].as_u64()),
            (Some(3), Some(12))
        );
        // 240 of 330.
        assert_eq!(g["sharePercent"], 72.7);
        assert_eq!(g["top"][0]["label"], "r03");
        assert_eq!(g["top"][2]["label"], "r08");
        assert_eq!(f[0].title, "Top 3 of 12 region hold 72.73 % of revenue");
    }

    #[test]
    fn rows_of_a_category_are_summed() {
        let rows = vec![
            vec![json!("a"), json!(50)],
            vec![json!("b"), json!(5)],
            vec![json!("a"), json!(40)],
            vec![json!("c"), json!(5)],
            vec![json!("d"), json!(5)],
        ];
        let f = find(&table(&["cat", "v"], rows));
        assert_eq!(f[0].figures["top"][0]["value"], 90.0);
        assert!(
            f[0].summary.starts_with("a alone holds"),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn even_spreads_negatives_and_few_categories_are_not_concentrations() {
        assert!(find(&table(&["r", "v"], regions(&[10.0; 12]))).is_empty());
        assert!(find(&table(&["r", "v"], regions(&[90.0, -5.0, 5.0, 5.0, 5.0]))).is_empty());
        assert!(find(&table(&["r", "v"], regions(&[90.0, 5.0, 5.0]))).is_empty());
        // Top 3 of 12 holding 45 %: high, but not most of it.
        let mut v = vec![10.0; 12];
        (v[0], v[1], v[2]) = (25.0, 25.0, 23.0);
        assert!(find(&table(&["r", "v"], regions(&v))).is_empty());
    }
}

//! `outlier`: values far from the rest by the robust z-score `0.6745·(x − median) / MAD`
//! (Iglewicz and Hoaglin), at or above [`Z_MIN`]. The median and MAD are not dragged along by
//! the outliers themselves, as a mean and standard deviation would be. When more than half
//! the values are equal (MAD 0) the mean absolute deviation stands in, scaled to match.
use serde_json::json;

use super::{
    columns::Table,
    model::{Finding, FindingKind},
    series::num,
    stats::{mean, median, round},
};

pub const Z_MIN: f64 = 3.5;
pub const MIN_VALUES: usize = 8;
/// Outliers named in one finding; the count says how many there are.
pub const MAX_NAMED: usize = 5;

/// The robust z-scores of `xs`, or `None` when the values have no spread at all.
pub fn robust_z(xs: &[f64]) -> Option<(f64, f64, Vec<f64>)> {
    let med = median(xs)?;
    let dev: Vec<f64> = xs.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&dev)?;
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        1.253_314 * mean(&dev)?
    };
    if scale <= 0.0 {
        return None;
    }
    Some((med, mad, xs.iter().map(|x| (x - med) / scale).collect()))
}

pub fn find(t: &Table) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in &t.measures {
        let rows: Vec<(usize, f64)> = m
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((i, (*v)?)))
            .collect();
        if rows.len() < MIN_VALUES {
            continue;
        }
        let xs: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let Some((med, mad, z)) = robust_z(&xs) else {
            continue;
        };
        let mut far: Vec<(usize, f64, f64)> = rows
            .iter()
            .zip(&z)
            .filter(|(_, z)| z.abs() >= Z_MIN)
            .map(|((i, x), z)| (*i, *x, *z))
            .collect();
        if far.is_empty() {
            continue;
        }
        far.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()).then(a.0.cmp(&b.0)));
        let named: Vec<serde_json::Value> = far
            .iter()
            .take(MAX_NAMED)
            .map(|(i, x, z)| json!({"row": t.row_name(*i), "value": x, "z": round(*z, 2)}))
            .collect();
        let (top_i, top_x, top_z) = far[0];
        let more = match far.len() - 1 {
            0 => String::new(),
            n => format!(", and {n} more"),
        };
        out.push(Finding {
            kind: FindingKind::Outlier,
            title: format!(
                "{} outlier{} in {}",
                far.len(),
                if far.len() == 1 { "" } else { "s" },
                m.column
            ),
            summary: format!(
                "{} has {} = {}, far {} the median {} (robust z {}){more}.",
                t.row_name(top_i),
                m.column,
                num(top_x),
                if top_z > 0.0 { "above" } else { "below" },
                num(med),
                num(top_z),
            ),
            columns: vec![m.column.clone()],
            score: round((top_z.abs() / 10.0).min(1.0), 3),
            figures: json!({
                "median": med,
                "mad": mad,
                "threshold": Z_MIN,
                "count": far.len(),
                "outliers": named,
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

    fn labelled(values: &[f64]) -> Vec<Vec<Value>> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| vec![json!(format!("store {}", i + 1)), json!(v)])
            .collect()
    }

    #[test]
    fn a_planted_value_is_named_with_its_figures() {
        let f = find(&table(
            &["store", "sales"],
            labelled(&[10.0, 12.0, 11.0, 9.0, 10.0, 13.0, 11.0, 95.0, 10.0]),
        ));
        assert_eq!(f.len(), 1, "{f:?}");
        let g = &f[0].figures;
        assert_eq!(g["count"], 1);
        assert_eq!(g["median"], 11.0);
        assert_eq!(g["mad"], 1.0);
        assert_eq!(g["outliers"][0]["row"], "store 8");
        assert_eq!(g["outliers"][0]["value"], 95.0);
        assert!(g["outliers"][0]["z"].as_f64().unwrap() > 50.0);
        assert_eq!(f[0].score, 1.0);
        assert!(f[0]
            .summary
            .starts_with("store 8 has sales = 95, far above the median 11"));
    }

    #[test]
    fn low_outliers_and_a_flat_majority() {
        // Most values equal: MAD is 0 and the mean absolute deviation decides.
        let f = find(&table(
            &["s", "v"],
            labelled(&[5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 6.0, -40.0]),
        ));
        assert_eq!(f[0].figures["outliers"][0]["row"], "store 10");
        assert!(f[0].summary.contains("below"));
    }

    #[test]
    fn spread_out_flat_or_few_values_have_no_outliers() {
        let even = labelled(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!(find(&table(&["s", "v"], even)).is_empty());
        assert!(find(&table(&["s", "v"], labelled(&[7.0; 10]))).is_empty());
        assert!(find(&table(&["s", "v"], labelled(&[1.0, 1.0, 1.0, 90.0]))).is_empty());
    }
}

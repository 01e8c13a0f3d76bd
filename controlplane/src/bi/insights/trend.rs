//! `trend`: a measure rising or falling steadily along the axis — the least-squares line
//! through its points explains at least [`R2_MIN`] of their variance and moves by at least
//! [`MIN_RISE`] of the measure's mean size over the span.
use serde_json::json;

use super::{
    columns::{AxisKind, Table},
    model::{Finding, FindingKind},
    series::{along, num},
    stats::{least_squares, mean, round},
};

pub const R2_MIN: f64 = 0.6;
pub const MIN_POINTS: usize = 5;
pub const MIN_RISE: f64 = 0.05;

pub fn find(t: &Table) -> Vec<Finding> {
    let Some(axis) = &t.axis else {
        return Vec::new();
    };
    let unit = match axis.kind {
        AxisKind::Time => "day".to_string(),
        AxisKind::Ordered => axis.column.clone(),
    };
    let mut out = Vec::new();
    for m in &t.measures {
        let pts = along(axis, m);
        if pts.len() < MIN_POINTS {
            continue;
        }
        let xy: Vec<(f64, f64)> = pts.iter().map(|p| (p.x, p.y)).collect();
        let Some(line) = least_squares(&xy) else {
            continue;
        };
        let (first, last) = (&pts[0], &pts[pts.len() - 1]);
        let rise = line.slope * (last.x - first.x);
        let size = mean(&pts.iter().map(|p| p.y.abs()).collect::<Vec<_>>()).unwrap_or(0.0);
        if line.r2 < R2_MIN || size == 0.0 || rise.abs() < MIN_RISE * size {
            continue;
        }
        let (from, to) = (line.at(first.x), line.at(last.x));
        let pct = (from.abs() > f64::EPSILON).then(|| (to - from) / from.abs() * 100.0);
        let up = rise > 0.0;
        let by = match pct {
            Some(p) => format!("about {} %", num(p.abs())),
            None => num(rise.abs()),
        };
        out.push(Finding {
            kind: FindingKind::Trend,
            title: format!(
                "{} is trending {}",
                m.column,
                if up { "up" } else { "down" }
            ),
            summary: format!(
                "{} {} by {by} from {} to {} (least-squares R² {}, {} points along {}).",
                m.column,
                if up { "rises" } else { "falls" },
                first.label,
                last.label,
                num(line.r2),
                pts.len(),
                axis.column,
            ),
            columns: vec![axis.column.clone(), m.column.clone()],
            score: round(line.r2, 3),
            figures: json!({
                "direction": if up { "up" } else { "down" },
                "slope": round(line.slope, 6),
                "slopeUnit": format!("per {unit}"),
                "r2": round(line.r2, 3),
                "changePercent": pct.map(|p| round(p, 1)),
                "fittedFrom": round(from, 2),
                "fittedTo": round(to, 2),
                "from": first.label,
                "to": last.label,
                "points": pts.len(),
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

    fn monthly(values: &[f64]) -> Vec<Vec<Value>> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| vec![json!(format!("2025-{:02}-01", i + 1)), json!(v)])
            .collect()
    }

    #[test]
    fn a_steady_rise_is_a_trend_with_its_figures() {
        let t = table(
            &["month", "revenue"],
            monthly(&[100.0, 112.0, 119.0, 133.0, 140.0, 151.0]),
        );
        let f = find(&t);
        assert_eq!(f.len(), 1, "{f:?}");
        let g = &f[0].figures;
        assert_eq!(g["direction"], "up");
        assert!(g["r2"].as_f64().unwrap() > 0.98, "{g:?}");
        let pct = g["changePercent"].as_f64().unwrap();
        assert!((45.0..55.0).contains(&pct), "{pct}");
        assert_eq!(g["from"], "2025-01-01");
        assert_eq!(g["to"], "2025-06-01");
        assert_eq!(f[0].columns, vec!["month", "revenue"]);
        assert!(f[0].summary.contains("rises by about"), "{}", f[0].summary);
    }

    #[test]
    fn a_fall_along_an_ordered_column_is_a_downward_trend() {
        let rows = (0..8)
            .map(|i| vec![json!(2000 + i), json!(80 - 9 * i)])
            .collect();
        let f = find(&table(&["year", "staff"], rows));
        assert_eq!(f[0].figures["direction"], "down");
        assert_eq!(f[0].figures["slope"], -9.0);
        assert_eq!(f[0].figures["slopeUnit"], "per year");
    }

    #[test]
    fn noise_flat_lines_and_short_series_are_not_trends() {
        let noisy = monthly(&[100.0, 150.0, 90.0, 160.0, 95.0, 140.0]);
        assert!(find(&table(&["month", "v"], noisy)).is_empty());
        let flat = monthly(&[100.0, 100.0, 100.0, 100.0, 100.0, 100.0]);
        assert!(find(&table(&["month", "v"], flat)).is_empty());
        // Steady but tiny: 1 % over the span.
        let tiny = monthly(&[1000.0, 1002.0, 1004.0, 1006.0, 1008.0, 1010.0]);
        assert!(find(&table(&["month", "v"], tiny)).is_empty());
        let short = monthly(&[1.0, 2.0, 3.0, 4.0]);
        assert!(find(&table(&["month", "v"], short)).is_empty());
        // No axis: nothing to trend along.
        let rows = vec![vec![json!("a"), json!(1)], vec![json!("b"), json!(2)]];
        assert!(find(&table(&["name", "v"], rows)).is_empty());
    }
}

//! A measure along the axis: one point per distinct axis value (rows sharing a period are
//! summed, as a result listing each region per month would be), in axis order.
use super::columns::{Axis, Measure};

#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    /// The axis cell as the result wrote it (the first of the rows summed).
    pub label: String,
    pub y: f64,
}

pub fn along(axis: &Axis, measure: &Measure) -> Vec<Point> {
    let mut pts: Vec<Point> = axis
        .values
        .iter()
        .zip(&axis.labels)
        .zip(&measure.values)
        .filter_map(|((x, label), y)| {
            Some(Point {
                x: (*x)?,
                label: label.clone().unwrap_or_default(),
                y: (*y)?,
            })
        })
        .collect();
    // Stable: the first row of a period keeps its label.
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    let mut out: Vec<Point> = Vec::with_capacity(pts.len());
    for p in pts {
        match out.last_mut() {
            Some(last) if last.x == p.x => last.y += p.y,
            _ => out.push(p),
        }
    }
    out
}

/// A number for a sentence: at most two decimals, no trailing zeros.
pub fn num(x: f64) -> String {
    let s = format!("{:.2}", super::stats::round(x, 2));
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bi::insights::columns::AxisKind;

    #[test]
    fn periods_are_summed_and_sorted() {
        let axis = Axis {
            column: "m".into(),
            kind: AxisKind::Time,
            values: vec![Some(2.0), Some(1.0), Some(2.0), None],
            labels: vec![Some("b".into()), Some("a".into()), Some("b2".into()), None],
        };
        let m = Measure {
            column: "v".into(),
            values: vec![Some(1.0), Some(5.0), Some(2.0), Some(9.0)],
        };
        let pts = along(&axis, &m);
        assert_eq!(
            pts,
            vec![
                Point {
                    x: 1.0,
                    label: "a".into(),
                    y: 5.0
                },
                Point {
                    x: 2.0,
                    label: "b".into(),
                    y: 3.0
                },
            ]
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.345), "12.35");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(0.5), "0.5");
    }
}

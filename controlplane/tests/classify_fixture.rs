//! Precision and recall of the built-in detectors on the labelled fixture
//! (`classify_fixture.json`, written by `classify_fixture_gen.py`).
use std::collections::BTreeMap;

use chrono::NaiveDate;
use nexbii_controlplane::governance::classify::*;
use nexbii_crds::ClassificationSpec;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    columns: Vec<Column>,
}

#[derive(Deserialize)]
struct Column {
    table: String,
    name: String,
    #[serde(rename = "type")]
    type_name: String,
    expected: Option<String>,
    why: String,
    values: Vec<String>,
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn load() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/classify_fixture.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

#[test]
fn fixture_precision_and_recall() {
    let fixture = load();
    assert!(fixture.columns.len() >= 60);
    assert!(fixture.columns.iter().all(|c| c.values.len() >= 50));
    // A fixed reference date keeps the birth-date ages reproducible.
    let classifier = Classifier::new(&ClassificationSpec::default())
        .unwrap()
        .with_reference_date(NaiveDate::from_ymd_opt(2025, 6, 1).unwrap());
    let mut overall = Counts::default();
    let mut per: BTreeMap<String, Counts> = BTreeMap::new();
    let mut wrong = Vec::new();
    for c in &fixture.columns {
        let got = classifier.classify(&ColumnSample {
            table: &c.table,
            name: &c.name,
            type_name: &c.type_name,
            values: &c.values,
        });
        let predicted = got.as_ref().map(|g| g.detector.clone());
        if let Some(g) = &got {
            assert!(
                c.values.iter().all(|v| !g.evidence.contains(v.as_str())),
                "evidence of {} quotes a value",
                c.name
            );
        }
        match (&c.expected, &predicted) {
            (Some(e), Some(p)) if e == p => {
                overall.tp += 1;
                per.entry(e.clone()).or_default().tp += 1;
            }
            (None, None) => {}
            (e, p) => {
                if let Some(p) = p {
                    overall.fp += 1;
                    per.entry(p.clone()).or_default().fp += 1;
                }
                if let Some(e) = e {
                    overall.fn_ += 1;
                    per.entry(e.clone()).or_default().fn_ += 1;
                }
                wrong.push(format!(
                    "{}.{} ({}): expected {:?}, got {:?} {}",
                    c.table,
                    c.name,
                    c.why,
                    e,
                    p,
                    got.as_ref().map(|g| g.evidence.as_str()).unwrap_or("")
                ));
            }
        }
    }
    let positives = fixture
        .columns
        .iter()
        .filter(|c| c.expected.is_some())
        .count();
    println!(
        "{} columns ({positives} sensitive, {} decoys)",
        fixture.columns.len(),
        fixture.columns.len() - positives
    );
    println!(
        "{:<14} {:>9} {:>9} {:>4} {:>4} {:>4}",
        "detector", "precision", "recall", "tp", "fp", "fn"
    );
    for (d, c) in &per {
        println!(
            "{d:<14} {:>9.3} {:>9.3} {:>4} {:>4} {:>4}",
            c.precision(),
            c.recall(),
            c.tp,
            c.fp,
            c.fn_
        );
    }
    println!(
        "{:<14} {:>9.3} {:>9.3} {:>4} {:>4} {:>4}",
        "overall",
        overall.precision(),
        overall.recall(),
        overall.tp,
        overall.fp,
        overall.fn_
    );
    println!("misclassified: {}", wrong.len());
    for w in &wrong {
        println!("  {w}");
    }
    // Every built-in detector is covered by at least one positive column.
    for d in ALL_DETECTORS {
        let id = detector_id(d);
        assert!(
            fixture
                .columns
                .iter()
                .any(|c| c.expected.as_deref() == Some(id)),
            "no positive column for {id}"
        );
    }
    assert!(
        overall.precision() >= 0.95,
        "precision {:.3}",
        overall.precision()
    );
    assert!(overall.recall() >= 0.90, "recall {:.3}", overall.recall());
}

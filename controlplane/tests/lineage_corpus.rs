//! Runs the lineage corpus (`lineage_corpus.yaml`): every statement is analyzed against the
//! shared catalog and compared with its expected column lineage. Prints each failing case and
//! the accuracy (cases fully right, output columns right), and requires 100%.
use std::collections::BTreeMap;

use nexbii_controlplane::governance::lineage::{
    analyze, ColumnRef, Lineage, MapSchema, OutputColumn, Transform,
};
use nexbii_crds::DataSourceType;
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    /// Dialect → `"schema.table"` or `"table"` → columns.
    schema: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    dialect: DataSourceType,
    sql: String,
    outputs: Vec<Expected>,
    #[serde(default)]
    filters: Vec<String>,
    tables: Option<Vec<String>>,
    #[serde(default)]
    unresolved: Unresolved,
}

#[derive(Deserialize)]
struct Expected {
    name: String,
    transform: Transform,
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    counted: Vec<String>,
    #[serde(default = "yes")]
    resolved: bool,
}

fn yes() -> bool {
    true
}

/// How many unresolved messages, or fragments each message must contain (in order).
#[derive(Deserialize)]
#[serde(untagged)]
enum Unresolved {
    Count(usize),
    List(Vec<String>),
}

impl Default for Unresolved {
    fn default() -> Self {
        Unresolved::Count(0)
    }
}

fn load() -> Corpus {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lineage_corpus.yaml");
    let text = std::fs::read_to_string(path).expect("corpus file");
    serde_yaml::from_str(&text).expect("corpus parses")
}

fn catalogs(corpus: &Corpus) -> BTreeMap<String, MapSchema> {
    corpus
        .schema
        .iter()
        .map(|(dialect, tables)| {
            let mut schema = MapSchema::new();
            for (name, cols) in tables {
                schema.add(name, cols.iter().cloned());
            }
            (dialect.clone(), schema)
        })
        .collect()
}

fn refs(cols: &[ColumnRef]) -> Vec<String> {
    cols.iter().map(ToString::to_string).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Differences between one expected and actual output column.
fn output_diff(want: &Expected, got: &OutputColumn) -> Vec<String> {
    let mut diffs = Vec::new();
    if want.name != got.name {
        diffs.push(format!("name {:?} != {:?}", got.name, want.name));
    }
    if want.transform != got.transform {
        diffs.push(format!(
            "transform {:?} != {:?}",
            got.transform, want.transform
        ));
    }
    let (sources, counted) = (refs(&got.sources), refs(&got.counted));
    if sources != sorted(want.sources.clone()) {
        diffs.push(format!(
            "sources {sources:?} != {:?}",
            sorted(want.sources.clone())
        ));
    }
    if counted != sorted(want.counted.clone()) {
        diffs.push(format!(
            "counted {counted:?} != {:?}",
            sorted(want.counted.clone())
        ));
    }
    if want.resolved != got.resolved {
        diffs.push(format!("resolved {} != {}", got.resolved, want.resolved));
    }
    diffs
}

/// Checks one case: (problems, output columns right, output columns expected).
fn check(case: &Case, got: &Lineage) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut right = 0;
    if got.outputs.len() != case.outputs.len() {
        problems.push(format!(
            "{} outputs, expected {}",
            got.outputs.len(),
            case.outputs.len()
        ));
    }
    for (i, want) in case.outputs.iter().enumerate() {
        match got.outputs.get(i) {
            Some(o) => match output_diff(want, o).as_slice() {
                [] => right += 1,
                diffs => problems.push(format!("output {i} ({}): {}", want.name, diffs.join("; "))),
            },
            None => problems.push(format!("output {i} ({}) missing", want.name)),
        }
    }
    let filters = refs(&got.filters);
    if filters != sorted(case.filters.clone()) {
        problems.push(format!(
            "filters {filters:?} != {:?}",
            sorted(case.filters.clone())
        ));
    }
    if let Some(tables) = &case.tables {
        let got_tables: Vec<String> = got.tables.iter().map(ToString::to_string).collect();
        if got_tables != sorted(tables.clone()) {
            problems.push(format!(
                "tables {got_tables:?} != {:?}",
                sorted(tables.clone())
            ));
        }
    }
    let unresolved_ok = match &case.unresolved {
        Unresolved::Count(n) => got.unresolved.len() == *n,
        Unresolved::List(parts) => {
            parts.len() == got.unresolved.len()
                && parts
                    .iter()
                    .zip(&got.unresolved)
                    .all(|(p, m)| m.contains(p.as_str()))
        }
    };
    if !unresolved_ok {
        problems.push(format!("unresolved {:?}", got.unresolved));
    }
    (problems, right)
}

#[test]
fn corpus_lineage_is_exact() {
    let corpus = load();
    let schemas = catalogs(&corpus);
    let (mut cases_right, mut outputs_right, mut outputs_total) = (0, 0, 0);
    let mut per_dialect: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &corpus.cases {
        *per_dialect.entry(case.dialect.as_str()).or_default() += 1;
        outputs_total += case.outputs.len();
        let schema = &schemas[case.dialect.as_str()];
        let (problems, right) = match analyze(case.dialect, &case.sql, schema) {
            Ok(got) => check(case, &got),
            Err(e) => (vec![format!("error: {e}")], 0),
        };
        outputs_right += right;
        if problems.is_empty() {
            cases_right += 1;
        } else {
            println!(
                "FAIL {} [{}]\n  {}",
                case.name,
                case.sql,
                problems.join("\n  ")
            );
        }
    }
    let total = corpus.cases.len();
    println!("corpus by dialect: {per_dialect:?}");
    println!(
        "cases fully right: {cases_right}/{total} ({:.1}%), output columns right: \
         {outputs_right}/{outputs_total} ({:.1}%)",
        100.0 * cases_right as f64 / total as f64,
        100.0 * outputs_right as f64 / outputs_total as f64
    );
    let sql_cases = total - per_dialect.get("mongodb").copied().unwrap_or(0);
    assert!(sql_cases >= 150, "the corpus needs 150 SQL statements");
    assert_eq!(cases_right, total, "every corpus case must be right");
}

#[test]
fn corpus_names_are_unique() {
    let corpus = load();
    let mut seen = std::collections::BTreeSet::new();
    for case in &corpus.cases {
        assert!(
            seen.insert(case.name.as_str()),
            "duplicate case {}",
            case.name
        );
    }
}

//! Lineage analysis time per statement, over the whole corpus (`tests/lineage_corpus.yaml`).
//!
//! - `lineage/corpus`: one iteration analyzes every corpus statement once (parse included),
//!   throughput in statements;
//! - printed first: the median time of each statement over repeated runs, summarized as the
//!   median, 90th percentile and maximum across statements.
//!
//! Run: `cargo bench -p nexbii-controlplane --bench lineage`.
use std::{
    collections::BTreeMap,
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nexbii_controlplane::governance::lineage::{analyze, MapSchema};
use nexbii_crds::DataSourceType;
use serde_yaml::Value;

/// Runs per statement for the per-statement medians.
const RUNS: usize = 101;

struct Statement {
    dialect: DataSourceType,
    text: String,
}

fn corpus() -> (Vec<Statement>, BTreeMap<String, MapSchema>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lineage_corpus.yaml");
    let text = std::fs::read_to_string(path).expect("corpus file");
    let doc: Value = serde_yaml::from_str(&text).expect("corpus parses");
    let mut schemas = BTreeMap::new();
    for (dialect, tables) in doc["schema"].as_mapping().expect("schema section") {
        let mut schema = MapSchema::new();
        for (name, cols) in tables.as_mapping().expect("tables") {
            let cols = cols.as_sequence().expect("columns");
            schema.add(
                name.as_str().expect("table name"),
                cols.iter().filter_map(|c| c.as_str().map(String::from)),
            );
        }
        schemas.insert(dialect.as_str().expect("dialect").to_string(), schema);
    }
    let statements = doc["cases"]
        .as_sequence()
        .expect("cases")
        .iter()
        .map(|case| Statement {
            dialect: serde_yaml::from_value(case["dialect"].clone()).expect("dialect"),
            text: case["sql"].as_str().expect("sql").to_string(),
        })
        .collect();
    (statements, schemas)
}

fn per_statement_medians(statements: &[Statement], schemas: &BTreeMap<String, MapSchema>) {
    let mut medians: Vec<Duration> = statements
        .iter()
        .map(|s| {
            let schema = &schemas[s.dialect.as_str()];
            let mut times: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    let _ = black_box(analyze(s.dialect, black_box(&s.text), schema));
                    start.elapsed()
                })
                .collect();
            times.sort();
            times[RUNS / 2]
        })
        .collect();
    medians.sort();
    let at = |q: f64| medians[((medians.len() - 1) as f64 * q).round() as usize];
    println!(
        "lineage per statement over {} statements: median {:?}, p90 {:?}, max {:?}",
        medians.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
}

fn bench(c: &mut Criterion) {
    let (statements, schemas) = corpus();
    per_statement_medians(&statements, &schemas);
    let mut group = c.benchmark_group("lineage");
    group.throughput(Throughput::Elements(statements.len() as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for s in &statements {
                let schema = &schemas[s.dialect.as_str()];
                let _ = black_box(analyze(s.dialect, black_box(&s.text), schema));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Memory of the monitoring and performance stores, measured on a running instance: records
//! 1,000,000 requests (60 routes, 200 users, spread over 24 simulated hours so every ring slot
//! is in use) and runs 100,000 queries through the real query pipeline on a SQLite source, with
//! 10,000 distinct fingerprints (each run with its own literal, so the guard parses every one),
//! then prints the process RSS at each step and the time of a monitoring report.
//!
//! `cargo bench -p nexbii-controlplane --bench monitoring_memory` (no server needed).
use std::time::Instant;

use nexbii_controlplane::{
    config::Settings,
    crypto::Keys,
    engine::{Access, QueryLimits, QueryRequest, ResolvedSource},
    server,
    state::AppState,
    store::{self, TenantScope},
    telemetry::{now_s, requests::RequestEvent, resources::rss_bytes},
};
use nexbii_crds::{DataSourceSpec, DataSourceType, PoolSpec, TenantRef, TlsSpec};

const REQUESTS: u64 = 1_000_000;
const QUERIES: u64 = 100_000;
const FINGERPRINTS: u64 = 10_000;

fn mb(b: Option<u64>) -> String {
    b.map(|b| format!("{:.1} MB", b as f64 / 1e6))
        .unwrap_or_else(|| "?".into())
}

fn peak() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(
        l[6..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?
            * 1024,
    )
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let st = store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
        .await
        .unwrap();
    let settings = Settings {
        sqlite_root: dir.path().join("sources"),
        backup_dir: dir.path().join("backups"),
        ..Default::default()
    };
    let state = AppState::new(st, Keys::random(), settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(server::serve(listener, state.clone()));
    let scope = TenantScope::new("acme").unwrap();
    println!(
        "instance up:                         RSS {}",
        mb(rss_bytes())
    );

    // Requests, as the HTTP middleware records them, over the last 24 hours.
    let t = &state.metrics.telemetry;
    let routes: Vec<String> = (0..60)
        .map(|i| format!("/api/v1/area{}/{{id}}/r{i}", i % 7))
        .collect();
    let users: Vec<String> = (0..200).map(|i| format!("user{i}")).collect();
    let end = now_s();
    let start = end - 86_400;
    let began = Instant::now();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..REQUESTS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let status = match x % 100 {
            0..=1 => 500,
            2..=6 => 404,
            _ => 200,
        };
        t.requests.record(
            start + i * 86_400 / REQUESTS,
            &RequestEvent {
                tenant: "acme",
                user: Some(&users[(x % 200) as usize]),
                method: if x.is_multiple_of(5) { "POST" } else { "GET" },
                route: &routes[(x >> 8) as usize % routes.len()],
                status,
                ms: ((x >> 16) % 20_000) as f64 / 100.0,
            },
        );
    }
    let per = began.elapsed().as_secs_f64() * 1e9 / REQUESTS as f64;
    println!(
        "after {REQUESTS} requests:            RSS {} ({per:.0} ns per request)",
        mb(rss_bytes())
    );

    // Queries through the pipeline: a SQLite source, 10,000 statements, literals varying.
    let path = dir.path().join("src.db");
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE t (id INTEGER, name TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let source = ResolvedSource {
        tenant: scope.clone(),
        name: "s".into(),
        revision: 1,
        spec: DataSourceSpec {
            tenant_ref: TenantRef {
                name: "acme".into(),
            },
            source_type: DataSourceType::Sqlite,
            display_name: None,
            host: None,
            port: None,
            database: None,
            username: None,
            path: Some("src.db".into()),
            password_secret_ref: None,
            tls: TlsSpec::default(),
            pool: PoolSpec::default(),
            query_timeout_seconds: None,
            schema_sync_interval_seconds: 0,
            suspend: false,
        },
        password: None,
        sqlite_path: Some(path),
    };
    let limits = QueryLimits {
        timeout: std::time::Duration::from_secs(10),
        row_limit: 100,
    };
    let accesses: Vec<Access> = (0..50)
        .map(|i| Access::new(format!("user{i}"), "editor"))
        .collect();
    let began = Instant::now();
    for i in 0..QUERIES {
        let fp = i % FINGERPRINTS;
        let sql = format!(
            "SELECT id AS a{fp}, name FROM t WHERE id = {}",
            i / FINGERPRINTS
        );
        state
            .engine
            .run_query(QueryRequest {
                source: &source,
                text: &sql,
                params: &[],
                limits,
                access: &accesses[(i % 50) as usize],
                use_cache: false,
                cache_max_age: None,
            })
            .await
            .unwrap();
    }
    let per = began.elapsed().as_secs_f64() * 1e6 / QUERIES as f64;
    let held = t.queries.fingerprint_count();
    println!(
        "after {QUERIES} query runs ({held} fingerprints): RSS {} ({per:.0} µs per run, SQLite included)",
        mb(rss_bytes())
    );
    let began = Instant::now();
    let report = nexbii_controlplane::admin::monitoring::domain::report(&state, &scope)
        .await
        .unwrap();
    println!(
        "monitoring report: {:.1} ms ({} requests in 24 h, {} routes)",
        began.elapsed().as_secs_f64() * 1000.0,
        report.requests.h24.count,
        report.routes.len()
    );
    println!("final RSS {}, peak RSS {}", mb(rss_bytes()), mb(peak()));
}

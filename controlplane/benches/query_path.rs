//! Query-path benchmarks on the quick-start sample database:
//! - `direct_sqlx`: the query through sqlx alone (baseline);
//! - `engine_uncached`: through the engine (guard, pool, limits, JSON conversion), cache bypassed;
//! - `engine_cached`: the same query answered by the result cache;
//! - `dashboard_http_cached`: a 4-widget dashboard rendered over real HTTP, all widgets cached.
//!
//! Run: `cargo bench -p nexbii-controlplane --bench query_path`.
use std::{path::PathBuf, sync::Arc, time::Duration};

use criterion::{criterion_group, criterion_main, Criterion};
use nexbii_controlplane::{
    crypto::Keys,
    engine::{QueryLimits, ResolvedSource},
    provisioning::manifests,
    server,
    state::{AppState, Settings},
    store::{sqlite::SqliteStore, TenantScope},
};
use nexbii_crds::{DataSourceSpec, DataSourceType, PoolSpec, TenantRef, TlsSpec};
use sqlx::{sqlite::SqliteConnectOptions, SqlitePool};

const SQL: &str = "SELECT p.category, round(sum(i.quantity * i.unit_price), 2) AS revenue \
                   FROM order_items i JOIN products p ON p.id = i.product_id \
                   GROUP BY p.category ORDER BY revenue DESC";

fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = quickstart().join("sales.db");

    let pool = rt.block_on(async {
        SqlitePool::connect_with(SqliteConnectOptions::new().filename(&db).read_only(true))
            .await
            .unwrap()
    });
    c.bench_function("direct_sqlx", |b| {
        b.to_async(&rt)
            .iter(|| async { sqlx::query(SQL).fetch_all(&pool).await.unwrap() })
    });

    let state = rt.block_on(async {
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        AppState::new(store, Keys::random(), Settings::default())
    });
    let src = ResolvedSource {
        tenant: TenantScope::new("bench").unwrap(),
        name: "sales".into(),
        revision: 1,
        spec: DataSourceSpec {
            tenant_ref: TenantRef {
                name: "bench".into(),
            },
            source_type: DataSourceType::Sqlite,
            display_name: None,
            host: None,
            port: None,
            database: None,
            username: None,
            path: Some(db.to_string_lossy().into()),
            password_secret_ref: None,
            tls: TlsSpec::default(),
            pool: PoolSpec::default(),
            query_timeout_seconds: None,
            schema_sync_interval_seconds: 0,
        },
        password: None,
        sqlite_path: Some(db.clone()),
    };
    let limits = QueryLimits {
        timeout: Duration::from_secs(30),
        row_limit: 10_000,
    };
    c.bench_function("engine_uncached", |b| {
        b.to_async(&rt).iter(|| async {
            state
                .engine
                .run(&src, SQL, &[], limits, "bench", false)
                .await
                .unwrap()
        })
    });
    c.bench_function("engine_cached", |b| {
        b.to_async(&rt).iter(|| async {
            state
                .engine
                .run(&src, SQL, &[], limits, "bench", true)
                .await
                .unwrap()
        })
    });

    let (base, token, http) = rt.block_on(async {
        std::env::set_var(manifests::BOOTSTRAP_PASSWORD_ENV, "bench-password-123");
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        let state = AppState::new(store, Keys::random(), Settings::default());
        manifests::load_and_apply(&state, &quickstart()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server::serve(listener, state));
        let http = reqwest::Client::new();
        let login: serde_json::Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"tenant": "acme", "username": "admin", "password": "bench-password-123"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (base, login["token"].as_str().unwrap().to_string(), http)
    });
    let url = format!("{base}/api/v1/dashboards/sales-overview/data");
    c.bench_function("dashboard_http_cached", |b| {
        b.to_async(&rt).iter(|| async {
            let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
            assert!(r.status().is_success());
            r.bytes().await.unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);

//! Query-path benchmarks. Every case through NexBII sits beside its baseline, the same query
//! through the driver alone, in the same run.
//!
//! SQLite (always; the quick-start sample database):
//! - `sqlite/direct_sqlx`: the query through sqlx alone (baseline);
//! - `sqlite/engine_uncached`: through the engine (guard, pool, limits, JSON conversion), cache
//!   bypassed;
//! - `sqlite/engine_cached`: the same query answered by the result cache;
//! - `sqlite/dashboard_http_cached`: a 4-widget dashboard rendered over real HTTP, all cached.
//!
//! PostgreSQL and MariaDB (when reachable; otherwise a note is printed and the cases are skipped):
//! - `<db>_big/*`: `SELECT * FROM bench_big` (1,000,000 rows) under a 1,000-row limit, through the
//!   engine and over HTTP (login token, `noCache`), against the direct `... LIMIT 1001`;
//! - `<db>_lookup/*`: a one-row lookup by primary key, through the engine and over HTTP, against
//!   the direct driver (a pooled, prepared-and-cached sqlx query).
//!
//! Set-up: the table `bench_big` (id, label, amount, created) is created in database `test` on
//! first run (about 10 s each) and reused afterwards; drop it to rebuild. Servers default to
//! `postgres://postgres@127.0.0.1:5432/test` and `mysql://root@127.0.0.1:3306/test`; override
//! with `NEXBII_BENCH_POSTGRES` / `NEXBII_BENCH_MARIADB` (the engine and HTTP cases connect as
//! the same user, host and database, without TLS).
//!
//! Run: `cargo bench -p nexbii-controlplane --bench query_path` (a filter such as `-- pg_`
//! selects cases). Medians are in `target/criterion/<group>/<case>/new/estimates.json`.
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
use nexbii_crds::{DataSourceSpec, DataSourceType, PoolSpec, TenantRef, TlsMode, TlsSpec};
use serde_json::{json, Value};
use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, Executor, SqlitePool};
use tokio::runtime::Runtime;

const SQL: &str = "SELECT p.category, round(sum(i.quantity * i.unit_price), 2) AS revenue \
                   FROM order_items i JOIN products p ON p.id = i.product_id \
                   GROUP BY p.category ORDER BY revenue DESC";
const BIG_ROWS: i64 = 1_000_000;
const ROW_LIMIT: usize = 1_000;
const LOOKUP_ID: i64 = 424_242;

fn quickstart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart")
}

fn spec(source_type: DataSourceType) -> DataSourceSpec {
    DataSourceSpec {
        tenant_ref: TenantRef {
            name: "bench".into(),
        },
        source_type,
        display_name: None,
        host: None,
        port: None,
        database: None,
        username: None,
        path: None,
        password_secret_ref: None,
        tls: TlsSpec::default(),
        pool: PoolSpec::default(),
        query_timeout_seconds: None,
        schema_sync_interval_seconds: 0,
        suspend: false,
    }
}

fn source(name: &str, spec: DataSourceSpec, password: Option<String>) -> ResolvedSource {
    ResolvedSource {
        tenant: TenantScope::new("bench").unwrap(),
        name: name.into(),
        revision: 1,
        spec,
        password,
        sqlite_path: None,
    }
}

/// The quick-start tenant served over real HTTP on loopback: base URL, admin token, client.
struct Http {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// Default settings, with the backup folder (and the change journal in it) in a temporary
/// folder that lives as long as the bench, not in the working directory.
fn scratch_settings() -> Settings {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    Settings {
        backup_dir: dir.path().join("backups"),
        ..Default::default()
    }
}

impl Http {
    async fn start() -> Self {
        std::env::set_var(manifests::BOOTSTRAP_PASSWORD_ENV, "bench-password-123");
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        let state = AppState::new(store, Keys::random(), scratch_settings());
        manifests::load_and_apply(&state, &quickstart())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server::serve(listener, state));
        let client = reqwest::Client::new();
        let login: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"tenant": "acme", "username": "admin", "password": "bench-password-123"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap().to_string();
        Self {
            base,
            token,
            client,
        }
    }

    async fn add_source(&self, name: &str, spec: &DataSourceSpec, password: Option<&str>) {
        // The tenant comes from the caller's token.
        let mut spec = serde_json::to_value(spec).unwrap();
        spec.as_object_mut().unwrap().remove("tenantRef");
        let r = self
            .client
            .post(format!("{}/api/v1/datasources", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"name": name, "spec": spec, "password": password}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn run(&self, body: &Value) -> usize {
        let r = self
            .client
            .post(format!("{}/api/v1/queries/run", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{body}: {}", r.status());
        r.bytes().await.unwrap().len()
    }
}

fn bench_sqlite(c: &mut Criterion, rt: &Runtime, http: &Http) {
    let db = quickstart().join("sales.db");
    let pool = rt.block_on(async {
        SqlitePool::connect_with(SqliteConnectOptions::new().filename(&db).read_only(true))
            .await
            .unwrap()
    });
    let state = rt.block_on(async {
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        AppState::new(store, Keys::random(), scratch_settings())
    });
    let mut s = spec(DataSourceType::Sqlite);
    s.path = Some(db.to_string_lossy().into());
    let mut src = source("sales", s, None);
    src.sqlite_path = Some(db.clone());
    let limits = QueryLimits {
        timeout: Duration::from_secs(30),
        row_limit: 10_000,
    };
    let mut g = c.benchmark_group("sqlite");
    g.bench_function("direct_sqlx", |b| {
        b.to_async(rt)
            .iter(|| async { sqlx::query(SQL).fetch_all(&pool).await.unwrap() })
    });
    g.bench_function("engine_uncached", |b| {
        b.to_async(rt).iter(|| async {
            state
                .engine
                .run(&src, SQL, &[], limits, "bench", false)
                .await
                .unwrap()
        })
    });
    g.bench_function("engine_cached", |b| {
        b.to_async(rt).iter(|| async {
            state
                .engine
                .run(&src, SQL, &[], limits, "bench", true)
                .await
                .unwrap()
        })
    });
    let url = format!("{}/api/v1/dashboards/sales-overview/data", http.base);
    g.bench_function("dashboard_http_cached", |b| {
        b.to_async(rt).iter(|| async {
            let r = http
                .client
                .get(&url)
                .bearer_auth(&http.token)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            r.bytes().await.unwrap()
        })
    });
    g.finish();
}

/// One SQL server: how to reach it directly, and the statements of its cases.
struct SqlTarget {
    prefix: &'static str,
    source_type: DataSourceType,
    url: String,
    placeholder: &'static str,
}

/// Runs the big-table and lookup cases for one server; `direct` is its sqlx pool.
fn bench_sql<DB>(
    c: &mut Criterion,
    rt: &Runtime,
    http: &Http,
    t: &SqlTarget,
    direct: sqlx::Pool<DB>,
) where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let opts: url_parts::Parts = url_parts::parse(&t.url);
    let mut s = spec(t.source_type);
    s.host = Some(opts.host.clone());
    s.port = Some(opts.port);
    s.database = Some(opts.database.clone());
    s.username = Some(opts.user.clone());
    s.tls = TlsSpec {
        mode: TlsMode::Disable,
    };
    let state = rt.block_on(async {
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        AppState::new(store, Keys::random(), scratch_settings())
    });
    let src = source(t.prefix, s.clone(), opts.password.clone());
    rt.block_on(http.add_source(t.prefix, &s, opts.password.as_deref()));
    let limits = QueryLimits {
        timeout: Duration::from_secs(30),
        row_limit: ROW_LIMIT,
    };

    let big = "SELECT * FROM bench_big";
    let big_direct = format!("{big} LIMIT {}", ROW_LIMIT + 1);
    let mut g = c.benchmark_group(format!("{}_big", t.prefix));
    g.sample_size(10);
    g.bench_function("direct_sqlx_limit_1001", |b| {
        b.to_async(rt).iter(|| async {
            let rows = sqlx::query(&big_direct).fetch_all(&direct).await.unwrap();
            assert_eq!(rows.len(), ROW_LIMIT + 1);
            rows
        })
    });
    g.bench_function("engine_uncached", |b| {
        b.to_async(rt).iter(|| async {
            let r = state
                .engine
                .run(&src, big, &[], limits, "bench", false)
                .await
                .unwrap();
            assert!(r.truncated && r.row_count == ROW_LIMIT);
            r
        })
    });
    let body = json!({"dataSource": t.prefix, "sql": big, "limit": ROW_LIMIT, "noCache": true});
    g.bench_function("http_uncached", |b| b.to_async(rt).iter(|| http.run(&body)));
    g.finish();

    let lookup = format!("SELECT * FROM bench_big WHERE id = {}", t.placeholder);
    let params = [json!(LOOKUP_ID)];
    let mut g = c.benchmark_group(format!("{}_lookup", t.prefix));
    g.bench_function("direct_sqlx", |b| {
        b.to_async(rt).iter(|| async {
            sqlx::query(&lookup)
                .bind(LOOKUP_ID)
                .fetch_one(&direct)
                .await
                .unwrap()
        })
    });
    g.bench_function("engine_uncached", |b| {
        b.to_async(rt).iter(|| async {
            let r = state
                .engine
                .run(&src, &lookup, &params, limits, "bench", false)
                .await
                .unwrap();
            assert_eq!(r.row_count, 1);
            r
        })
    });
    let body = json!({"dataSource": t.prefix, "sql": lookup, "params": params, "noCache": true});
    g.bench_function("http_uncached", |b| b.to_async(rt).iter(|| http.run(&body)));
    g.finish();
}

mod url_parts {
    /// The parts of a `scheme://user[:password]@host:port/database` URL the bench needs.
    pub struct Parts {
        pub user: String,
        pub password: Option<String>,
        pub host: String,
        pub port: u16,
        pub database: String,
    }

    pub fn parse(url: &str) -> Parts {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
        let (user, password) = match auth.split_once(':') {
            Some((u, p)) => (u.to_string(), Some(p.to_string())),
            None => (auth.to_string(), None),
        };
        let (hostport, database) = rest.split_once('/').unwrap_or((rest, "test"));
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, ""));
        let default_port = if url.starts_with("mysql") { 3306 } else { 5432 };
        Parts {
            user,
            password,
            host: host.to_string(),
            port: port.parse().unwrap_or(default_port),
            database: database.split('?').next().unwrap_or("test").to_string(),
        }
    }
}

const PG_FILL: &str = "
    CREATE TABLE IF NOT EXISTS bench_big (
        id bigint PRIMARY KEY, label text NOT NULL, amount double precision NOT NULL,
        created timestamptz NOT NULL);
    TRUNCATE bench_big;
    INSERT INTO bench_big
        SELECT g, 'item-' || g, g * 0.25, timestamptz '2024-01-01' + g * interval '1 second'
        FROM generate_series(1, 1000000) g;
    ANALYZE bench_big;";

const MARIADB_FILL: &str = "
    CREATE TABLE IF NOT EXISTS bench_big (
        id BIGINT PRIMARY KEY, label VARCHAR(32) NOT NULL, amount DOUBLE NOT NULL,
        created DATETIME NOT NULL);
    TRUNCATE bench_big;
    INSERT INTO bench_big
        SELECT seq, CONCAT('item-', seq), seq * 0.25, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND
        FROM seq_1_to_1000000;
    ANALYZE TABLE bench_big;";

/// Connects with a short timeout; `None` (and a printed note) when the server is not there.
async fn reachable<DB: sqlx::Database>(what: &str, url: &str) -> Option<sqlx::Pool<DB>> {
    let opts = url
        .parse::<<DB::Connection as sqlx::Connection>::Options>()
        .ok()?
        .disable_statement_logging();
    match tokio::time::timeout(
        Duration::from_secs(3),
        sqlx::pool::PoolOptions::<DB>::new()
            .max_connections(1)
            .connect_with(opts),
    )
    .await
    {
        Ok(Ok(pool)) => Some(pool),
        Ok(Err(e)) => {
            eprintln!("note: {what} at {url} unreachable ({e}); skipping its cases");
            None
        }
        Err(_) => {
            eprintln!("note: {what} at {url} did not answer; skipping its cases");
            None
        }
    }
}

/// Creates and fills `bench_big` unless it already holds its million rows.
async fn ensure_big<DB>(pool: &sqlx::Pool<DB>, fill: &str)
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: Executor<'c, Database = DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    let n: Option<i64> = sqlx::query_scalar("SELECT count(*) FROM bench_big")
        .fetch_one(pool)
        .await
        .ok();
    if n != Some(BIG_ROWS) {
        eprintln!("creating bench_big ({BIG_ROWS} rows)...");
        pool.execute(sqlx::raw_sql(fill)).await.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let http = rt.block_on(Http::start());
    bench_sqlite(c, &rt, &http);

    let pg_url = std::env::var("NEXBII_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Some(pool) = rt.block_on(reachable::<sqlx::Postgres>("PostgreSQL", &pg_url)) {
        rt.block_on(ensure_big(&pool, PG_FILL));
        let t = SqlTarget {
            prefix: "pg",
            source_type: DataSourceType::Postgresql,
            url: pg_url,
            placeholder: "$1",
        };
        bench_sql(c, &rt, &http, &t, pool);
    }

    let my_url = std::env::var("NEXBII_BENCH_MARIADB")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    if let Some(pool) = rt.block_on(reachable::<sqlx::MySql>("MariaDB", &my_url)) {
        rt.block_on(ensure_big(&pool, MARIADB_FILL));
        let t = SqlTarget {
            prefix: "mariadb",
            source_type: DataSourceType::Mysql,
            url: my_url,
            placeholder: "?",
        };
        bench_sql(c, &rt, &http, &t, pool);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);

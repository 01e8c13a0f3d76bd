//! Governance benchmarks (issue 7), every case through the real code on PostgreSQL:
//!
//! - `crawl/full_force` and `crawl/incremental`: a catalog crawl
//!   (`governance::catalog::crawl::crawl`) of a 500-table database, once with `force` (every
//!   table sampled, profiled, classified and saved) and once incremental (nothing changed:
//!   nothing sampled, nothing written); throughput in tables;
//! - `query/plain` and `query/masked_filtered`: `SELECT id, full_name, email, ssn, region,
//!   amount FROM bench_people` (100,000 rows) as an editor through
//!   `bi::queries::domain::execute`, uncached, for a tenant without policy and for a tenant whose
//!   GovernancePolicy masks (confidential → partial, restricted → hash) and filters rows
//!   (`region = {{user.attributes.region}}`, which keeps every row, so both results have the
//!   same size); throughput in rows. `query/plain_row_filter_sql` runs the statement the row
//!   filter makes of the query (`... FROM (SELECT * FROM bench_people WHERE region = 'EU') AS
//!   bench_people`) for the plain tenant: the database's share of the difference, no masking;
//! - `policy/*`: the policy stage alone (no database): the whole governance stage of the
//!   pipeline (`Enforce::plan`: policies, row-filter rewrite, catalog view, lineage, masking
//!   plan), lineage plus masking plan without the rewrite, for the statement above and a typical
//!   CTE with aggregates; and masking the three masked columns of the 100,000 rows cell by cell
//!   (what `pipeline::apply_masks` does), together and one column at a time.
//!
//! Printed at the end: one line per case with its median, the ratio masked/plain, and the
//! same ratio from an interleaved A/B run (plain and masked alternating, so a change of
//! machine load during the run does not land on one side only).
//!
//! Set-up on first run (reused afterwards; drop them to rebuild): database `bench_catalog`
//! (500 tables of 8 columns — customers, orders, employees and events shapes, with PII-like
//! columns such as email, phone, full_name, ssn, ip_address — × 200 rows, about 10 s) and the
//! table `bench_people` (100,000 rows, every row in region EU, a few seconds) in database
//! `test`. The server defaults to `postgres://postgres@127.0.0.1:5432/test`;
//! `NEXBII_BENCH_POSTGRES` points elsewhere (the same user creates `bench_catalog` there). When
//! it is unreachable every case is skipped with a note.
//!
//! Run: `cargo bench -p nexbii-controlplane --bench governance` (`-- crawl`, `-- query`,
//! `-- policy` select cases). Medians are in
//! `target/criterion/<group>/<case>/new/estimates.json`.
use std::{
    hint::black_box,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use nexbii_controlplane::{
    auth::{Role, UserRecord},
    bi::{
        datasources::{self, DataSourceRecord},
        queries::domain::{execute, QueryCall},
    },
    crypto::Keys,
    engine::{
        placeholders, Access, Checked, Plan, QueryLimits, QueryPolicy, QueryRequest, ResolvedSource,
    },
    governance::{
        catalog::{
            crawl::{crawl, CrawlOptions},
            curate::{self, ColumnPatch, OverrideInput},
            CatalogTable,
        },
        enforce::{masking_plan, Enforce},
        lineage, mask,
    },
    provisioning::manifests,
    state::{AppState, Settings, SharedState},
    store::{self, write::Actor, Expect, Meta, TenantScope},
};
use nexbii_crds::{DataSourceType, MaskAction, MaskingRule, SensitivityLevel};
use serde_json::Value;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    ConnectOptions, Executor, PgPool,
};
use tokio::runtime::Runtime;

const CATALOG_DB: &str = "bench_catalog";
const CATALOG_TABLES: usize = 500;
const CATALOG_ROWS: i64 = 200;
const PEOPLE_ROWS: usize = 100_000;
const PEOPLE_SQL: &str = "SELECT id, full_name, email, ssn, region, amount FROM bench_people";
/// A typical analyst statement for the policy-stage micro-benchmark.
const TYPICAL_SQL: &str = "WITH r AS (SELECT region, email, ssn, amount FROM bench_people \
                           WHERE amount > 10) \
                           SELECT region, count(DISTINCT email) AS buyers, max(ssn) AS last_ssn, \
                           sum(amount) AS total FROM r GROUP BY region ORDER BY total DESC";
/// Tenants: the crawled 500-table source, the masked and filtered one, the plain one.
const CAT: &str = "govcat";
const MASKED: &str = "govmasked";
const PLAIN: &str = "govplain";
/// Data source names in those tenants.
const CAT_SOURCE: &str = "catalog";
const PEOPLE_SOURCE: &str = "people";
/// Interleaved A/B pairs for the robust ratio.
const PAIRS: usize = 10;

/// The parts of a `postgres://user[:password]@host:port/database` URL the bench needs.
struct Parts {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    database: String,
}

fn parse_url(url: &str) -> Parts {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, password) = match auth.split_once(':') {
        Some((u, p)) => (u.to_string(), Some(p.to_string())),
        None => (auth.to_string(), None),
    };
    let (hostport, database) = rest.split_once('/').unwrap_or((rest, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, ""));
    Parts {
        user,
        password,
        host: host.to_string(),
        port: port.parse().unwrap_or(5432),
        database: database.split('?').next().unwrap_or("test").to_string(),
    }
}

/// Connects with a short timeout; `None` (and a printed note) when the server is not there.
async fn reachable(url: &str) -> Option<PgPool> {
    let opts = match url.parse::<PgConnectOptions>() {
        Ok(o) => o.disable_statement_logging(),
        Err(e) => {
            eprintln!(
                "note: NEXBII_BENCH_POSTGRES={url} does not parse ({e}); skipping every case"
            );
            return None;
        }
    };
    let connect = PgPoolOptions::new().max_connections(1).connect_with(opts);
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(pool)) => Some(pool),
        Ok(Err(e)) => {
            eprintln!("note: PostgreSQL at {url} unreachable ({e}); skipping every case");
            None
        }
        Err(_) => {
            eprintln!("note: PostgreSQL at {url} did not answer; skipping every case");
            None
        }
    }
}

/// The SQL of one catalog table: four shapes in turn, each with 8 columns of mixed types, some
/// of them personal data by name and value.
fn catalog_table_sql(i: usize) -> String {
    const FIRST: &str = "(ARRAY['Alice','Bob','Carol','David','Emma','Frank','Grace','Henry'])";
    const LAST: &str =
        "(ARRAY['Smith','Jones','Brown','Taylor','Wilson','Davies','Evans','Thomas'])";
    let first = format!("{FIRST}[1 + mod(g, 8)]");
    let last = format!("{LAST}[1 + mod(g / 8, 8)]");
    let (name, columns, values) = match i % 4 {
        0 => (
            format!("customers_{i:03}"),
            "id bigint PRIMARY KEY, full_name text NOT NULL, email text, phone text, city text, \
             created_at timestamptz NOT NULL, balance numeric(12,2), active boolean NOT NULL"
                .to_string(),
            format!(
                "g, {first} || ' ' || {last}, \
                 lower({first}) || '.' || lower({last}) || g || '@example.com', \
                 '+1-555-' || lpad((1000 + g)::text, 4, '0'), \
                 (ARRAY['Berlin','Paris','Madrid','Rome','Vienna'])[1 + mod(g, 5)], \
                 timestamptz '2024-01-01' + g * interval '1 hour', g * 1.5, mod(g, 3) <> 0"
            ),
        ),
        1 => (
            format!("orders_{i:03}"),
            "id bigint PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL, \
             amount numeric(12,2) NOT NULL, quantity integer NOT NULL, ordered_at timestamptz, \
             note text, shipped boolean"
                .to_string(),
            "g, 1 + mod(g * 7, 200), (ARRAY['new','paid','shipped','cancelled'])[1 + mod(g, 4)], \
             g * 2.25, 1 + mod(g, 9), timestamptz '2024-03-01' + g * interval '1 day', \
             'order note ' || g, mod(g, 2) = 0"
                .to_string(),
        ),
        2 => (
            format!("employees_{i:03}"),
            "id bigint PRIMARY KEY, full_name text NOT NULL, ssn text, date_of_birth date, \
             salary numeric(12,2), department text, work_email text, hired_at date"
                .to_string(),
            format!(
                "g, {first} || ' ' || {last}, \
                 lpad((100 + mod(g * 37, 800))::text, 3, '0') || '-' || \
                 lpad((10 + mod(g, 89))::text, 2, '0') || '-' || lpad((1000 + g * 13)::text, 4, '0'), \
                 date '1960-01-01' + g * 50, 40000 + g * 100, \
                 (ARRAY['sales','ops','finance','it'])[1 + mod(g, 4)], \
                 'emp' || g || '@corp.example', date '2010-01-01' + g * 10"
            ),
        ),
        _ => (
            format!("events_{i:03}"),
            "id bigint PRIMARY KEY, event_type text NOT NULL, ip_address text, user_agent text, \
             occurred_at timestamptz NOT NULL, duration_ms integer, value double precision, \
             payload jsonb"
                .to_string(),
            "g, (ARRAY['view','click','buy','leave'])[1 + mod(g, 4)], \
             '10.' || mod(g, 256) || '.' || mod(g * 7, 256) || '.' || mod(g * 13, 256), \
             'Mozilla/5.0 (X11; Linux x86_64) bench/' || g, \
             timestamptz '2024-06-01' + g * interval '1 minute', mod(g * 31, 5000), g * 0.1, \
             jsonb_build_object('k', g, 'tag', 'x' || mod(g, 5))"
                .to_string(),
        ),
    };
    format!(
        "CREATE TABLE {name} ({columns});
         INSERT INTO {name} SELECT {values} FROM generate_series(1, {CATALOG_ROWS}) g;"
    )
}

/// Creates database `bench_catalog` with its 500 tables unless it already has them.
async fn ensure_catalog_db(admin: &PgPool, url: &str) {
    let exists: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(CATALOG_DB)
        .fetch_one(admin)
        .await
        .unwrap();
    if exists == 0 {
        let create = format!("CREATE DATABASE {CATALOG_DB}");
        admin.execute(sqlx::raw_sql(&create)).await.unwrap();
    }
    let opts: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .unwrap()
        .database(CATALOG_DB);
    let mut c = opts.disable_statement_logging().connect().await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    let last = format!("events_{:03}", CATALOG_TABLES - 1);
    let rows: Option<i64> = sqlx::query_scalar(&format!("SELECT count(*) FROM {last}"))
        .fetch_one(&mut c)
        .await
        .ok();
    if tables == CATALOG_TABLES as i64 && rows == Some(CATALOG_ROWS) {
        return;
    }
    eprintln!("creating database {CATALOG_DB} ({CATALOG_TABLES} tables x {CATALOG_ROWS} rows)...");
    c.execute(sqlx::raw_sql(
        "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;",
    ))
    .await
    .unwrap();
    // Fifty tables per transaction: a few locks per table, well under the server's lock table.
    for batch in (0..CATALOG_TABLES).collect::<Vec<_>>().chunks(50) {
        let sql: String = batch.iter().map(|&i| catalog_table_sql(i)).collect();
        c.execute(sqlx::raw_sql(&sql)).await.unwrap();
    }
    // Settled statistics: the crawl's row estimates must not move between runs.
    c.execute(sqlx::raw_sql("ANALYZE")).await.unwrap();
}

const PEOPLE_FILL: &str = "
    CREATE TABLE IF NOT EXISTS bench_people (
        id bigint PRIMARY KEY, full_name text NOT NULL, email text NOT NULL, ssn text NOT NULL,
        region text NOT NULL, amount numeric(12,2) NOT NULL);
    TRUNCATE bench_people;
    INSERT INTO bench_people
        SELECT g, f || ' ' || l, lower(f) || '.' || lower(l) || g || '@example.com',
               lpad((100 + mod(g * 37, 800))::text, 3, '0') || '-' ||
               lpad((10 + mod(g, 89))::text, 2, '0') || '-' || lpad(mod(g, 10000)::text, 4, '0'),
               'EU', mod(g, 10000) * 0.37
        FROM (SELECT g,
                     (ARRAY['Alice','Bob','Carol','David','Emma','Frank','Grace','Henry'])[1 + mod(g, 8)] AS f,
                     (ARRAY['Smith','Jones','Brown','Taylor','Wilson','Davies','Evans','Thomas'])[1 + mod(g / 8, 8)] AS l
              FROM generate_series(1, 100000) g) s;
    ANALYZE bench_people;";

/// Creates and fills `bench_people` unless it already holds its rows, all in region EU.
async fn ensure_people(admin: &PgPool) {
    let n: Option<(i64, i64)> =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE region <> 'EU') FROM bench_people")
            .fetch_one(admin)
            .await
            .ok();
    if n != Some((PEOPLE_ROWS as i64, 0)) {
        eprintln!("creating bench_people ({PEOPLE_ROWS} rows)...");
        admin.execute(sqlx::raw_sql(PEOPLE_FILL)).await.unwrap();
    }
}

fn tenant_yaml(name: &str) -> String {
    format!(
        "apiVersion: nexbii.io/v1alpha1
kind: Tenant
metadata:
  name: {name}
spec:
  displayName: Benchmark {name}
  limits:
    rowLimit: {PEOPLE_ROWS}
    queryTimeoutSeconds: 300
"
    )
}

fn source_yaml(tenant: &str, name: &str, pg: &Parts, database: &str) -> String {
    let (secret, secret_ref) = match &pg.password {
        Some(pw) => (
            format!(
                "apiVersion: v1
kind: Secret
metadata:
  name: {tenant}-{name}-pw
stringData:
  password: {pw:?}
---
"
            ),
            format!("\n  passwordSecretRef: {{name: {tenant}-{name}-pw, key: password}}"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        "{secret}apiVersion: nexbii.io/v1alpha1
kind: DataSource
metadata:
  name: {name}
spec:
  tenantRef: {{name: {tenant}}}
  type: postgresql
  host: {host}
  port: {port}
  database: {database}
  username: {user}{secret_ref}
  tls: {{mode: disable}}
  schemaSyncIntervalSeconds: 0
",
        host = pg.host,
        port = pg.port,
        user = pg.user,
    )
}

fn catalog_policy(tenant: &str) -> String {
    format!(
        "apiVersion: nexbii.io/v1alpha1
kind: GovernancePolicy
metadata:
  name: classify
spec:
  tenantRef: {{name: {tenant}}}
  classification: {{autoClassify: true}}
"
    )
}

fn masking_policy(tenant: &str) -> String {
    format!(
        "apiVersion: nexbii.io/v1alpha1
kind: GovernancePolicy
metadata:
  name: pii
spec:
  tenantRef: {{name: {tenant}}}
  classification: {{autoClassify: true}}
  masking:
    - {{level: confidential, action: partial, exemptRoles: [admin]}}
    - {{level: restricted, action: hash, exemptRoles: [admin]}}
  rowFilters:
    exemptRoles: [admin]
    filters:
      - name: by-region
        dataSource: {PEOPLE_SOURCE}
        table: bench_people
        subjects: [\"role:editor\"]
        clause: \"region = {{{{user.attributes.region}}}}\"
"
    )
}

/// One AppState on a temporary embedded store with the three tenants applied from manifests,
/// the way the instance applies a manifests folder.
struct Setup {
    state: SharedState,
    _dir: tempfile::TempDir,
}

async fn setup(pg: &Parts) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
        .await
        .unwrap();
    let settings = Settings {
        sqlite_root: dir.path().join("sources"),
        backup_dir: dir.path().join("backups"),
        ..Default::default()
    };
    let state = AppState::new(store, Keys::random(), settings);
    let manifests_dir = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests_dir).unwrap();
    let files = [
        (
            "catalog.yaml",
            [
                tenant_yaml(CAT),
                source_yaml(CAT, CAT_SOURCE, pg, CATALOG_DB),
                catalog_policy(CAT),
            ],
        ),
        (
            "masked.yaml",
            [
                tenant_yaml(MASKED),
                source_yaml(MASKED, PEOPLE_SOURCE, pg, &pg.database),
                masking_policy(MASKED),
            ],
        ),
    ];
    for (name, docs) in &files {
        std::fs::write(manifests_dir.join(name), docs.join("---\n")).unwrap();
    }
    std::fs::write(
        manifests_dir.join("plain.yaml"),
        [
            tenant_yaml(PLAIN),
            source_yaml(PLAIN, PEOPLE_SOURCE, pg, &pg.database),
        ]
        .join("---\n"),
    )
    .unwrap();
    let applied = manifests::load_and_apply(&state, &manifests_dir)
        .await
        .unwrap();
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    // The editor whose attributes the row filter reads.
    let user = UserRecord {
        username: "ed".into(),
        email: None,
        role: Role::Editor,
        password_hash: "!unused".into(),
        disabled: false,
        last_login_at: None,
        attributes: [("region".to_string(), "EU".to_string())].into(),
        security: Default::default(),
        meta: Meta::default(),
    };
    state
        .writer
        .save(&scope(MASKED), &Actor::System, user, Expect::Absent)
        .await
        .unwrap();
    Setup { state, _dir: dir }
}

fn scope(tenant: &str) -> TenantScope {
    TenantScope::new(tenant).unwrap()
}

async fn source_record(state: &AppState, tenant: &str, name: &str) -> DataSourceRecord {
    datasources::domain::load(state, &scope(tenant), name)
        .await
        .unwrap()
}

fn bench_crawl(c: &mut Criterion, rt: &Runtime, state: &AppState) {
    let sc = scope(CAT);
    let rec = rt.block_on(source_record(state, CAT, CAT_SOURCE));
    let full = CrawlOptions {
        force: true,
        max_tables: CATALOG_TABLES,
    };
    let incremental = CrawlOptions {
        force: false,
        max_tables: CATALOG_TABLES,
    };
    // The first crawl fills the catalog; the checks below make sure each case measures what
    // its name says.
    let first = rt.block_on(crawl(state, &sc, &rec, full)).unwrap();
    assert_eq!(
        (
            first.tables,
            first.profiled,
            first.truncated,
            first.cancelled
        ),
        (CATALOG_TABLES, CATALOG_TABLES, false, false),
        "{first:?}"
    );
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    eprintln!(
        "catalog of {CATALOG_DB}: {} tables, classified columns by level {:?}",
        first.tables, first.classified
    );
    let again = rt.block_on(crawl(state, &sc, &rec, incremental)).unwrap();
    assert_eq!(
        (again.profiled, again.unchanged),
        (0, CATALOG_TABLES),
        "an incremental crawl of an unchanged source samples nothing: {again:?}"
    );

    let mut g = c.benchmark_group("crawl");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(25))
        .throughput(Throughput::Elements(CATALOG_TABLES as u64));
    g.bench_function("full_force", |b| {
        b.to_async(rt).iter(|| async {
            let r = crawl(state, &sc, &rec, full).await.unwrap();
            assert_eq!(r.profiled, CATALOG_TABLES);
            r
        })
    });
    g.bench_function("incremental", |b| {
        b.to_async(rt).iter(|| async {
            let r = crawl(state, &sc, &rec, incremental).await.unwrap();
            assert_eq!(r.unchanged, CATALOG_TABLES);
            r
        })
    });
    g.finish();
}

/// Runs the benchmark statement as the editor `ed` of `tenant`.
async fn run_people(
    state: &AppState,
    tenant: &str,
    sql: &str,
) -> nexbii_controlplane::engine::QueryResult {
    let access = Access::new("ed", "editor");
    execute(
        state,
        &scope(tenant),
        &access,
        QueryCall {
            data_source: PEOPLE_SOURCE,
            sql,
            params: &[],
            limit: Some(PEOPLE_ROWS as u32),
            use_cache: false,
        },
    )
    .await
    .unwrap()
}

/// Crawls the masked tenant's source once, declares `ssn` restricted by hand (and `email`
/// confidential, should detection not have found it), and checks that the masked run masks
/// and returns as many rows as the plain one.
async fn prepare_query_path(state: &AppState) -> String {
    let sc = scope(MASKED);
    let rec = source_record(state, MASKED, PEOPLE_SOURCE).await;
    let report = crawl(state, &sc, &rec, CrawlOptions::default())
        .await
        .unwrap();
    assert!(!report.truncated, "{report:?}");
    let id = CatalogTable::make_id(PEOPLE_SOURCE, Some("public"), "bench_people");
    let overrides = |t: &mut CatalogTable| {
        let levels: Vec<(&str, Option<SensitivityLevel>)> = ["full_name", "email", "ssn"]
            .into_iter()
            .map(|c| (c, t.column(c).and_then(|c| c.level())))
            .collect();
        eprintln!("bench_people levels after the crawl: {levels:?}");
        let mut wanted = vec![("ssn", SensitivityLevel::Restricted)];
        if levels[1]
            .1
            .is_none_or(|l| l < SensitivityLevel::Confidential)
        {
            wanted.push(("email", SensitivityLevel::Confidential));
        }
        for (column, level) in wanted {
            let patch = ColumnPatch {
                override_: Some(Some(OverrideInput {
                    level: Some(level),
                    label: None,
                    reason: Some("benchmark".into()),
                })),
                ..Default::default()
            };
            curate::patch_column(t, column, "bench", &patch).unwrap();
        }
    };
    state
        .writer
        .modify::<CatalogTable>(&sc, &Actor::System, &id, overrides)
        .await
        .unwrap()
        .expect("bench_people is in the catalog after the crawl");
    state.governance.catalog_changed(&sc);

    let plain = run_people(state, PLAIN, PEOPLE_SQL).await;
    let masked = run_people(state, MASKED, PEOPLE_SQL).await;
    assert_eq!(plain.row_count, PEOPLE_ROWS);
    assert!(!plain.truncated && !masked.truncated);
    assert_eq!(
        masked.row_count, plain.row_count,
        "the row filter keeps every row"
    );
    assert!(plain.masked.is_empty());
    assert!(!masked.masked.is_empty(), "the masked run masks");
    let actions: Vec<String> = masked
        .masked
        .iter()
        .map(|m| format!("{} -> {:?} ({:?})", m.column, m.action, m.level))
        .collect();
    eprintln!("masked columns: {}", actions.join(", "));
    for (column, action) in [("email", MaskAction::Partial), ("ssn", MaskAction::Hash)] {
        assert!(
            masked
                .masked
                .iter()
                .any(|m| m.column == column && m.action == action),
            "{column} is masked with {action:?}: {actions:?}"
        );
    }
    let (p, m) = (plain.rows.values(), masked.rows.values());
    assert_eq!(p[0][0], m[0][0], "same rows, same order");
    let email = m[0][2].as_str().unwrap();
    assert!(email.contains("***@") && p[0][2] != m[0][2], "{email}");
    let ssn = m[0][3].as_str().unwrap();
    assert!(
        ssn.len() == 16 && ssn.chars().all(|c| c.is_ascii_hexdigit()),
        "{ssn}"
    );
    // The statement the row filter makes of the query, for the breakdown case.
    let (src, checked) = request_parts(state, PEOPLE_SQL).await;
    let access = Access::new("ed", "editor");
    let req = QueryRequest {
        source: &src,
        text: PEOPLE_SQL,
        params: &[],
        limits: QueryLimits {
            timeout: Duration::from_secs(30),
            row_limit: PEOPLE_ROWS,
        },
        access: &access,
        use_cache: false,
        cache_max_age: None,
    };
    let mut plan = Plan::default();
    enforce(state)
        .plan(&req, &checked, &mut plan)
        .await
        .unwrap();
    let rewritten = plan.sql.expect("the row filter rewrites the statement");
    assert!(rewritten.contains("'EU'"), "{rewritten}");
    rewritten
}

fn enforce(state: &AppState) -> Enforce {
    Enforce {
        store: state.store.clone(),
        governance: state.governance.clone(),
        keys: state.keys.clone(),
    }
}

fn bench_query(c: &mut Criterion, rt: &Runtime, state: &AppState) {
    let rewritten = rt.block_on(prepare_query_path(state));
    let mut g = c.benchmark_group("query");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(PEOPLE_ROWS as u64));
    // Breakdown: the row filter's statement without masking (the database's share).
    for (case, tenant, sql) in [
        ("plain", PLAIN, PEOPLE_SQL),
        ("masked_filtered", MASKED, PEOPLE_SQL),
        ("plain_row_filter_sql", PLAIN, rewritten.as_str()),
    ] {
        g.bench_function(case, |b| {
            b.to_async(rt).iter(|| async {
                let r = run_people(state, tenant, sql).await;
                assert_eq!(r.row_count, PEOPLE_ROWS);
                r
            })
        });
    }
    g.finish();
}

/// Plain and masked runs alternating (order swapped every pair): medians and their ratio.
fn interleaved(rt: &Runtime, state: &AppState) -> (Duration, Duration) {
    let (mut plain, mut masked) = (Vec::new(), Vec::new());
    let timed = |tenant: &str| {
        let start = Instant::now();
        let r = rt.block_on(run_people(state, tenant, PEOPLE_SQL));
        assert_eq!(r.row_count, PEOPLE_ROWS);
        start.elapsed()
    };
    for i in 0..PAIRS {
        if i % 2 == 0 {
            plain.push(timed(PLAIN));
            masked.push(timed(MASKED));
        } else {
            masked.push(timed(MASKED));
            plain.push(timed(PLAIN));
        }
    }
    (median(plain), median(masked))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// What the policy stage is given for one statement of the masked tenant's editor.
async fn request_parts(state: &AppState, sql: &str) -> (ResolvedSource, Checked) {
    let sc = scope(MASKED);
    let rec = source_record(state, MASKED, PEOPLE_SOURCE).await;
    let src = datasources::resolve(state, &sc, &rec).unwrap();
    let t = DataSourceType::Postgresql;
    let checked = Checked {
        normalized: state.engine.check(t, sql).unwrap(),
        native: placeholders::to_native(sql, t).unwrap_or_else(|r| panic!("{}", r.0)),
        fingerprint: nexbii_controlplane::telemetry::fingerprint::of_sql(
            sql,
            &sqlparser::dialect::PostgreSqlDialect {},
        ),
    };
    (src, checked)
}

fn bench_policy(c: &mut Criterion, rt: &Runtime, state: &AppState) {
    let enforce = enforce(state);
    let access = Access::new("ed", "editor");
    let sc = scope(MASKED);
    let limits = QueryLimits {
        timeout: Duration::from_secs(30),
        row_limit: PEOPLE_ROWS,
    };
    let policies = rt
        .block_on(state.governance.policies(&state.store, &sc))
        .unwrap();
    let rules: Vec<&MaskingRule> = policies.iter().flat_map(|p| &p.spec.masking).collect();
    let mut g = c.benchmark_group("policy");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (case, sql) in [("select_all", PEOPLE_SQL), ("cte_aggregate", TYPICAL_SQL)] {
        let (src, checked) = rt.block_on(request_parts(state, sql));
        let req = QueryRequest {
            source: &src,
            text: sql,
            params: &[],
            limits,
            access: &access,
            use_cache: false,
            cache_max_age: None,
        };
        let mut plan = Plan::default();
        rt.block_on(enforce.plan(&req, &checked, &mut plan))
            .unwrap();
        assert!(
            plan.sql.as_deref().is_some_and(|s| s.contains("'EU'")),
            "the row filter rewrote the statement: {:?}",
            plan.sql
        );
        assert!(!plan.masks.is_empty(), "{case}: masks planned");
        g.bench_function(format!("enforce_plan_{case}"), |b| {
            b.to_async(rt).iter(|| async {
                let mut plan = Plan::default();
                enforce.plan(&req, &checked, &mut plan).await.unwrap();
                plan
            })
        });
        let view = rt
            .block_on(state.governance.source_view(
                &state.store,
                &sc,
                PEOPLE_SOURCE,
                DataSourceType::Postgresql,
            ))
            .unwrap();
        let native = checked.native.sql.clone();
        g.bench_function(format!("lineage_masking_plan_{case}"), |b| {
            b.iter(|| {
                let lin =
                    lineage::analyze(DataSourceType::Postgresql, black_box(&native), &*view).ok();
                masking_plan(lin.as_ref(), &view, &rules, "editor", true)
                    .unwrap()
                    .masks
            })
        });
    }
    // Masking itself: the three masked columns of the plain result, cell by cell.
    let rows = rt
        .block_on(run_people(state, PLAIN, PEOPLE_SQL))
        .rows
        .values();
    let key = state.keys.derive(&format!("mask-hash:{MASKED}"));
    let cells: [(usize, MaskAction); 3] = [
        (1, MaskAction::Partial),
        (2, MaskAction::Partial),
        (3, MaskAction::Hash),
    ];
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .throughput(Throughput::Elements(PEOPLE_ROWS as u64));
    let masker = mask::Masker::new(&key);
    let masked_len = |cells: &[(usize, MaskAction)]| {
        let mut n = 0;
        for row in &rows {
            for &(i, action) in cells {
                n += masker.apply(action, &row[i]).as_str().map_or(0, str::len);
            }
        }
        n
    };
    g.bench_function("mask_cells_100k_rows", |b| b.iter(|| masked_len(&cells)));
    // Breakdown by column: 100,000 cells each.
    for (case, cell) in [
        ("mask_partial_full_name", cells[0]),
        ("mask_partial_email", cells[1]),
        ("mask_hash_ssn", cells[2]),
    ] {
        g.bench_function(case, |b| b.iter(|| masked_len(&[cell])));
    }
    // Baseline for the keyed hash: HMAC-SHA256 (what `hash` used before SipHash-2-4) over
    // the same 100,000 values.
    g.bench_function("mask_hash_ssn_hmac_sha256_baseline", |b| {
        use hmac::{Hmac, Mac};
        let keyed = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
        b.iter(|| {
            let mut n = 0;
            for row in &rows {
                let mut mac = keyed.clone();
                mac.update(row[3].as_str().unwrap_or_default().as_bytes());
                n += hex::encode(&mac.finalize().into_bytes()[..8]).len();
            }
            n
        })
    });
    g.finish();
}

/// Criterion's median of one case, in nanoseconds, if it was measured in this run.
fn criterion_median(dir: &Path, group: &str, case: &str, since: SystemTime) -> Option<f64> {
    let file = dir.join(group).join(case).join("new/estimates.json");
    let fresh = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("criterion")
}

fn human(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.3} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

fn summary(since: SystemTime, ab: Option<(Duration, Duration)>) {
    let dir = criterion_dir();
    let med = |g: &str, c: &str| criterion_median(&dir, g, c, since);
    println!("\ngovernance summary (criterion medians of this run)");
    for (case, label) in [
        ("full_force", "crawl, full (force)"),
        ("incremental", "crawl, incremental (unchanged)"),
    ] {
        if let Some(ns) = med("crawl", case) {
            let rate = CATALOG_TABLES as f64 / (ns / 1e9);
            println!(
                "  {label:<42} {:>12}  {rate:>9.0} tables/s ({CATALOG_TABLES} tables)",
                human(ns)
            );
        }
    }
    let plain = med("query", "plain");
    let masked = med("query", "masked_filtered");
    if let Some(ns) = plain {
        println!(
            "  {:<42} {:>12}  ({PEOPLE_ROWS} rows)",
            "query, no policy",
            human(ns)
        );
    }
    if let Some(ns) = masked {
        let ratio = plain.map_or(String::new(), |p| {
            format!(
                "  ratio masked/plain {:.3} ({:+.1} %)",
                ns / p,
                (ns / p - 1.0) * 100.0
            )
        });
        println!(
            "  {:<42} {:>12}{ratio}",
            "query, masked + row filter",
            human(ns)
        );
    }
    if let Some(ns) = med("query", "plain_row_filter_sql") {
        let ratio = plain.map_or(String::new(), |p| {
            format!(
                "  ratio to plain {:.3} ({:+.1} %)",
                ns / p,
                (ns / p - 1.0) * 100.0
            )
        });
        println!(
            "  {:<42} {:>12}{ratio}",
            "query, row-filter SQL only (no masks)",
            human(ns)
        );
    }
    if let Some((p, m)) = ab {
        let r = m.as_secs_f64() / p.as_secs_f64();
        println!(
            "  {:<42} plain {:.2} ms, masked {:.2} ms, ratio {r:.3} ({:+.1} %)",
            format!("query, interleaved A/B ({PAIRS} pairs)"),
            p.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e3,
            (r - 1.0) * 100.0
        );
    }
    for case in [
        "enforce_plan_select_all",
        "lineage_masking_plan_select_all",
        "enforce_plan_cte_aggregate",
        "lineage_masking_plan_cte_aggregate",
        "mask_cells_100k_rows",
        "mask_partial_full_name",
        "mask_partial_email",
        "mask_hash_ssn",
    ] {
        if let Some(ns) = med("policy", case) {
            println!("  {:<42} {:>12}", format!("policy, {case}"), human(ns));
        }
    }
}

fn bench(c: &mut Criterion) {
    let since = SystemTime::now();
    let rt = Runtime::new().unwrap();
    let url = std::env::var("NEXBII_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Some(admin) = rt.block_on(reachable(&url)) else {
        return;
    };
    rt.block_on(ensure_catalog_db(&admin, &url));
    rt.block_on(ensure_people(&admin));
    let pg = parse_url(&url);
    let s = rt.block_on(setup(&pg));
    let state: &AppState = &s.state;

    bench_crawl(c, &rt, state);
    bench_query(c, &rt, state);
    let ab = interleaved(&rt, state);
    bench_policy(c, &rt, state);
    summary(since, Some(ab));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);

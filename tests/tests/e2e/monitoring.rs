//! System monitoring and performance analysis over real HTTP, on both stores: request counts,
//! error rates and latency percentiles per tenant and per route, query runs grouped by
//! fingerprint with per-user and per-source splits and cache hits, dashboard load times per
//! widget, series, `/metrics`, admin-only access and tenant isolation. Queries run on real
//! PostgreSQL (a `pg_sleep` gives a known duration).
use nexbii_tests::{
    admin_mariadb, admin_postgres, mariadb_url, postgres_url, tenant_yaml, unique, Client2,
    TestServer,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PW: &str = "admin-password-123";

fn yaml(t: &str, table: &str) -> String {
    let url: sqlx::postgres::PgConnectOptions = postgres_url().parse().unwrap();
    format!(
        r#"apiVersion: nexbii.io/v1alpha1
kind: DataSource
metadata:
  name: pg
spec:
  tenantRef:
    name: {t}
  type: postgresql
  host: {host}
  port: {port}
  database: test
  username: {user}
---
apiVersion: nexbii.io/v1alpha1
kind: DataSource
metadata:
  name: dead
spec:
  tenantRef:
    name: {t}
  type: postgresql
  host: {host}
  port: {port}
  database: nexbii_no_such_database
  username: {user}
---
apiVersion: nexbii.io/v1alpha1
kind: Dashboard
metadata:
  name: dash
spec:
  tenantRef:
    name: {t}
  title: Timed
  publication: published
  widgets:
    - id: fast
      chart: number
      query:
        dataSource: pg
        sql: "SELECT count(*) AS n FROM {table}"
    - id: slow
      chart: number
      query:
        dataSource: pg
        sql: "SELECT 1 AS slow FROM pg_sleep(0.3)"
"#,
        host = url.get_host(),
        port = url.get_port(),
        user = url.get_username(),
    )
}

/// Upper bound of histogram bucket `i` (as the server buckets: 0.05 ms × 2^(i/3)).
fn upper(i: i32) -> f64 {
    0.05 * (i as f64 / 3.0).exp2()
}

fn bucket(ms: f64) -> i32 {
    ((ms / 0.05).log2() * 3.0).ceil() as i32
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn ordered_percentiles(f: &Value) {
    let (p50, p95, p99, max) = (
        num(&f["p50Ms"]),
        num(&f["p95Ms"]),
        num(&f["p99Ms"]),
        num(&f["maxMs"]),
    );
    assert!(
        0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max,
        "percentiles out of order: {f}"
    );
}

fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .find(|x| x[key] == value)
        .unwrap_or_else(|| panic!("no {key}={value} in {list}"))
}

async fn scenario(server: &TestServer) {
    let t = unique("mon");
    let table = unique("mon_t_");
    let mut pgc = admin_postgres().await;
    sqlx::raw_sql(&format!(
        "CREATE TABLE {table} (id int, name text); \
         INSERT INTO {table} SELECT g, 'n' || g FROM generate_series(1, 5) g"
    ))
    .execute(&mut pgc)
    .await
    .unwrap();

    // Everything is declared through manifests and the login is not a tenant's request yet:
    // the tenant's windows start empty.
    let dir = tempfile::tempdir().unwrap();
    let tenant = tenant_yaml(&t, PW);
    let applied = server
        .apply_yaml(
            dir.path(),
            &[("t.yaml", &tenant), ("m.yaml", &yaml(&t, &table))],
        )
        .await;
    // Only the unreachable source is a problem.
    assert!(
        applied
            .problems
            .iter()
            .all(|p| p.contains("DataSource/dead")),
        "{:?}",
        applied.problems
    );
    let admin = server.login(&t, "admin", PW).await;

    // 20 requests, 5 of which fail (502: the source is unreachable).
    for _ in 0..15 {
        let (s, b) = admin.get("/api/v1/auth/me").await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    for _ in 0..5 {
        let (s, b) = admin.run("dead", "SELECT 1", json!([])).await;
        assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    }
    let (s, m) = admin.get("/api/v1/admin/monitoring").await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["tenant"], t.as_str());
    let one = &m["requests"]["1m"];
    assert_eq!(one["count"], 20, "{one}");
    assert_eq!(one["errors"], 5);
    assert_eq!(one["clientErrors"], 0);
    assert_eq!(num(&one["errorRate"]), 0.25);
    assert!((num(&one["ratePerSecond"]) - 20.0 / 60.0).abs() < 1e-9);
    ordered_percentiles(one);
    for w in ["5m", "1h", "24h"] {
        assert_eq!(m["requests"][w]["count"], 20, "{w}");
        assert_eq!(num(&m["requests"][w]["errorRate"]), 0.25, "{w}");
    }
    let me = find(&m["routes"], "route", "GET /api/v1/auth/me");
    assert_eq!(me["windows"]["1m"]["count"], 15);
    assert_eq!(num(&me["windows"]["1m"]["errorRate"]), 0.0);
    let run = find(&m["routes"], "route", "POST /api/v1/queries/run");
    assert_eq!(run["windows"]["1m"]["count"], 5);
    assert_eq!(num(&run["windows"]["1m"]["errorRate"]), 1.0);
    assert_eq!(m["routes"].as_array().unwrap().len(), 2, "{}", m["routes"]);
    assert_eq!(m["activity"]["activeUsers"]["5m"], 1);
    assert_eq!(m["activity"]["activeSessions"], 1);
    // The failed runs were recorded as query errors of the dead source.
    assert_eq!(m["queries"]["1m"]["count"], 5);
    assert_eq!(m["queries"]["1m"]["errors"], 5);
    // Health and resources.
    assert_eq!(m["health"]["store"]["ok"], true);
    assert!(num(&m["health"]["store"]["latencyMs"]) >= 0.0);
    let jobs = m["health"]["jobs"].as_array().unwrap();
    assert!(jobs.iter().any(|j| j["name"] == "webhook-deliveries"));
    let res = &m["resources"];
    assert!(num(&res["rssBytes"]) > 1e6, "{res}");
    assert!(num(&res["openFiles"]) >= 3.0);
    assert!(num(&res["diskFreeBytes"]) > 0.0);
    assert!(num(&res["hostMemoryTotalBytes"]) >= num(&res["hostMemoryAvailableBytes"]));
    assert!(res["storeBytes"].is_number(), "{res}");
    assert!(m["health"]["cache"]["maxCells"].as_u64().unwrap() > 0);
    // Each source's last check: the dead one is down (the check may still be running).
    let mut down = false;
    for _ in 0..100 {
        let (_, m) = admin.get("/api/v1/admin/monitoring").await;
        let dead = find(&m["health"]["dataSources"], "name", "dead").clone();
        let pg = find(&m["health"]["dataSources"], "name", "pg").clone();
        if dead["connected"] == false && pg["connected"] == true {
            assert!(dead["lastError"].is_string() && dead["checkedAt"].is_string());
            assert!(num(&pg["latencyMs"]) >= 0.0);
            assert_eq!(m["health"]["status"], "degraded");
            down = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(down, "the sources' checks were not reported");

    // Queries: `= 1` and `= 2` are one fingerprint; per-user and per-source splits.
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "ed", "role": "editor", "password": "a-long-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let ed = server.login(&t, "ed", "a-long-password-1").await;
    let by_id = |n: u32| format!("SELECT * FROM {table} WHERE id = {n}");
    for n in [1, 2] {
        let (s, b) = admin.run("pg", &by_id(n), json!([])).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    for expect_cached in [false, true] {
        let (s, b) = admin
            .post(
                "/api/v1/queries/run",
                json!({"dataSource": "pg", "sql": by_id(3)}),
            )
            .await;
        assert_eq!(
            (s, b["cached"].as_bool()),
            (StatusCode::OK, Some(expect_cached)),
            "{b}"
        );
    }
    assert_eq!(ed.run("pg", &by_id(4), json!([])).await.0, StatusCode::OK);
    let count_sql = format!("SELECT count(*) FROM {table}");
    assert_eq!(ed.run("pg", &count_sql, json!([])).await.0, StatusCode::OK);
    for _ in 0..3 {
        let (s, b) = admin
            .run("pg", "SELECT pg_sleep(0.3), 1 AS x", json!([]))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    let (s, q) = admin
        .get("/api/v1/admin/performance/queries?sort=count&limit=10")
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    assert_eq!(q["sort"], "count");
    let fps = q["fingerprints"].as_array().unwrap();
    let counts: Vec<u64> = fps.iter().map(|f| f["count"].as_u64().unwrap()).collect();
    assert_eq!(counts, vec![5, 5, 3, 1], "sorted by count: {q}");
    let f = find(
        &q["fingerprints"],
        "fingerprint",
        &format!("SELECT * FROM {table} WHERE id = ?"),
    );
    assert_eq!(f["dataSource"], "pg");
    assert_eq!(f["sourceType"], "postgresql");
    assert_eq!(f["count"], 5);
    assert_eq!(f["executions"], 4);
    assert_eq!(f["cacheHits"], 1);
    assert_eq!(f["cacheMisses"], 1);
    assert_eq!(f["errors"], 0);
    assert_eq!(f["rows"], 4, "one row per run that reached the database");
    assert!(num(&f["bytes"]) > 0.0);
    ordered_percentiles(f);
    assert_eq!(f["id"].as_str().unwrap().len(), 16);
    assert_eq!(find(&f["users"], "user", "admin")["count"], 4);
    assert_eq!(find(&f["users"], "user", "ed")["count"], 1);
    let sleep = find(
        &q["fingerprints"],
        "fingerprint",
        "SELECT pg_sleep(?), ? AS x",
    );
    assert_eq!(sleep["count"], 3);
    // 300 ms sleeps (plus a few ms of round trip): the p50 is in the bucket of 300 ms or the
    // next one.
    let p50 = num(&sleep["p50Ms"]);
    let b300 = bucket(300.0);
    assert!(
        upper(b300 - 1) < p50 && p50 <= upper(b300 + 1),
        "p50 {p50} outside ({}, {}]",
        upper(b300 - 1),
        upper(b300 + 1)
    );
    assert!(num(&sleep["maxMs"]) >= 300.0);
    assert_eq!(fps.len(), 4, "{q}"); // by id, count(*), pg_sleep, and the dead source's
    let pg = find(&q["bySource"], "dataSource", "pg");
    assert_eq!(pg["count"], 9);
    assert_eq!(pg["errors"], 0);
    let dead = find(&q["bySource"], "dataSource", "dead");
    assert_eq!(
        (dead["count"].as_u64(), dead["errors"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(find(&q["byUser"], "user", "admin")["count"], 12);
    assert_eq!(find(&q["byUser"], "user", "ed")["count"], 2);
    assert_eq!(q["overall"]["count"], 14);
    // Sorted by p95, the sleep comes first; by user, only what ed ran.
    let (_, q) = admin
        .get("/api/v1/admin/performance/queries?dataSource=pg")
        .await;
    assert_eq!(q["sort"], "p95");
    assert_eq!(
        q["fingerprints"][0]["fingerprint"],
        "SELECT pg_sleep(?), ? AS x"
    );
    let (_, q) = admin
        .get("/api/v1/admin/performance/queries?user=ed&sort=total")
        .await;
    assert_eq!(q["fingerprints"].as_array().unwrap().len(), 2, "{q}");
    let (_, q) = admin
        .get("/api/v1/admin/performance/queries?dataSource=dead&limit=1")
        .await;
    assert_eq!(q["fingerprints"].as_array().unwrap().len(), 1);
    assert_eq!(q["fingerprints"][0]["errors"], 5);
    // Bad parameters name themselves.
    for (path, field) in [
        ("/api/v1/admin/performance/queries?sort=slow", "sort"),
        ("/api/v1/admin/performance/queries?limit=0", "limit"),
        ("/api/v1/admin/performance/queries?limit=x", "limit"),
        ("/api/v1/admin/performance/queries?sortt=p95", "sortt"),
        ("/api/v1/admin/performance/endpoints?window=2h", "window"),
        ("/api/v1/admin/monitoring/series", "metric"),
        ("/api/v1/admin/monitoring/series?metric=nope", "metric"),
        (
            "/api/v1/admin/monitoring/series?metric=requests&window=7m",
            "window",
        ),
    ] {
        let (s, b) = admin.get(path).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {b}");
        assert_eq!(b["errors"][0]["field"], field, "{path}: {b}");
    }
    // The slowest runs, slowest first, with the statement that ran and the plan. (On a loaded
    // machine another statement may also take 300 ms, so the sleeps are looked for, not
    // expected at a fixed place.)
    let (s, slow) = admin
        .get("/api/v1/admin/performance/queries/slowest?limit=2")
        .await;
    assert_eq!(s, StatusCode::OK, "{slow}");
    assert_eq!(slow["runs"].as_array().unwrap().len(), 2, "{slow}");
    let (_, slow) = admin
        .get("/api/v1/admin/performance/queries/slowest?limit=20")
        .await;
    let runs = slow["runs"].as_array().unwrap();
    for pair in runs.windows(2) {
        assert!(
            num(&pair[0]["durationMs"]) >= num(&pair[1]["durationMs"]),
            "{slow}"
        );
    }
    let sleeps: Vec<&Value> = runs
        .iter()
        .filter(|r| r["statement"].as_str().unwrap().contains("pg_sleep"))
        .collect();
    assert!(sleeps.len() >= 2, "{slow}");
    assert!(
        sleeps.iter().all(|r| num(&r["durationMs"]) >= 300.0),
        "{slow}"
    );
    assert_eq!(sleeps[0]["user"], "admin");
    assert_eq!(sleeps[0]["plan"]["cachePartition"], "role=admin");
    assert_eq!(sleeps[0]["plan"]["rewritten"], false);
    // Cache hit rates: pg consulted the cache twice, and was answered once.
    let (_, c) = admin.get("/api/v1/admin/performance/cache").await;
    let pg = find(&c["bySource"], "dataSource", "pg");
    assert_eq!(
        (pg["cacheHits"].as_u64(), pg["cacheMisses"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(num(&pg["cacheHitRate"]), 0.5);
    assert_eq!(num(&c["overall"]["cacheHitRate"]), 0.5);

    // Dashboards: a load from the sources, then one from the cache.
    for _ in 0..2 {
        let (s, b) = admin.get("/api/v1/dashboards/dash/data").await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, d) = admin.get("/api/v1/admin/performance/dashboards").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let dash = find(&d["dashboards"], "name", "dash");
    assert_eq!(dash["loads"]["count"], 2);
    assert_eq!(dash["loads"]["cacheHits"], 1, "{dash}");
    assert_eq!(num(&dash["loads"]["cacheHitRate"]), 0.5);
    assert!(num(&dash["loads"]["maxMs"]) >= 300.0);
    assert_eq!(dash["slowestWidget"], "slow");
    for w in ["fast", "slow"] {
        let w = find(&dash["widgets"], "id", w);
        assert_eq!(
            (w["count"].as_u64(), w["cacheHits"].as_u64()),
            (Some(2), Some(1))
        );
    }
    let slow_w = find(&dash["widgets"], "id", "slow");
    assert!(num(&slow_w["p95Ms"]) > upper(b300 - 1), "{slow_w}");
    assert!(
        num(&slow_w["p50Ms"]) < 100.0,
        "the cached load is fast: {slow_w}"
    );

    // API endpoint performance per route.
    let (s, e) = admin
        .get("/api/v1/admin/performance/endpoints?window=5m")
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["window"], "5m");
    let me = find(&e["endpoints"], "route", "GET /api/v1/auth/me");
    assert_eq!(me["count"], 15);
    let run = find(&e["endpoints"], "route", "POST /api/v1/queries/run");
    assert_eq!(run["count"], 5 + 4 + 2 + 3);
    assert_eq!(run["errors"], 5);

    // Series, a point per minute.
    let (s, sr) = admin
        .get("/api/v1/admin/monitoring/series?metric=errors&window=1h")
        .await;
    assert_eq!(s, StatusCode::OK, "{sr}");
    let pts = sr["points"].as_array().unwrap();
    assert_eq!(pts.len(), 60);
    assert_eq!(pts.iter().map(|p| num(&p["value"])).sum::<f64>(), 5.0);
    let (_, sr) = admin
        .get("/api/v1/admin/monitoring/series?metric=queries&window=5m")
        .await;
    assert_eq!(sr["points"].as_array().unwrap().len(), 5);
    let queries: f64 = sr["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| num(&p["value"]))
        .sum();
    assert_eq!(
        queries,
        14.0 + 4.0,
        "14 runs and the dashboard's 4 widget runs"
    );
    let (_, sr) = admin
        .get("/api/v1/admin/monitoring/series?metric=rss&window=24h")
        .await;
    let pts = sr["points"].as_array().unwrap();
    assert_eq!(pts.len(), 1_440);
    assert_eq!(sr["unit"], "bytes");
    assert!(
        pts.iter()
            .any(|p| p["value"].as_f64().is_some_and(|v| v > 1e6)),
        "the sampler took a sample at start"
    );

    // Prometheus shows the same figures.
    let (_, metrics) = server.get_text("/metrics").await;
    let line = format!(
        "nexbii_window_route_error_ratio{{route=\"POST /api/v1/queries/run\",tenant=\"{t}\",window=\"1h\"}}"
    );
    let value = metrics
        .lines()
        .find(|l| l.starts_with(&line))
        .unwrap_or_else(|| panic!("{line} missing"));
    let ratio: f64 = value[line.len()..].trim().parse().unwrap();
    assert!((ratio - 5.0 / 14.0).abs() < 1e-9, "{value}");
    assert!(metrics.contains(&format!(
        "nexbii_datasource_query_errors{{datasource=\"dead\",tenant=\"{t}\"}} 5"
    )));
    assert!(metrics.contains("nexbii_resource{name=\"rss_bytes\"}"));

    // Admins only; and a tenant sees only its own figures.
    for path in [
        "/api/v1/admin/monitoring",
        "/api/v1/admin/monitoring/series?metric=requests",
        "/api/v1/admin/performance/queries",
        "/api/v1/admin/performance/dashboards",
    ] {
        assert_eq!(ed.get(path).await.0, StatusCode::FORBIDDEN, "{path}");
    }
    let other: Client2 = server.tenant(&unique("mon"), PW).await;
    let (_, m) = other.get("/api/v1/admin/monitoring").await;
    assert_eq!(m["requests"]["1h"]["count"], 0, "{}", m["requests"]);
    assert_eq!(m["queries"]["1h"]["count"], 0);
    let (_, q) = other.get("/api/v1/admin/performance/queries").await;
    assert_eq!(q["fingerprints"], json!([]));
    let (_, d) = other.get("/api/v1/admin/performance/dashboards").await;
    assert_eq!(d["dashboards"], json!([]));
    sqlx::raw_sql(&format!("DROP TABLE {table}"))
        .execute(&mut pgc)
        .await
        .unwrap();
    index_suggestion(server).await;
}

/// A filtered query on a large table without an index gets an index suggestion naming the
/// column, from PostgreSQL's plan; once the index exists, the suggestion is gone.
async fn index_suggestion(server: &TestServer) {
    let t = unique("sug");
    let big = unique("mon_big_");
    let mut pgc = admin_postgres().await;
    sqlx::raw_sql(&format!(
        "CREATE TABLE {big} AS SELECT g AS id, md5(g::text) AS name \
         FROM generate_series(1, 50000) g; ANALYZE {big}"
    ))
    .execute(&mut pgc)
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tenant = tenant_yaml(&t, PW);
    let applied = server
        .apply_yaml(
            dir.path(),
            &[("t.yaml", &tenant), ("m.yaml", &yaml(&t, &big))],
        )
        .await;
    assert!(applied
        .problems
        .iter()
        .all(|p| p.contains("DataSource/dead")));
    let admin = server.login(&t, "admin", PW).await;
    for id in [42, 4242, 42] {
        let sql = format!("SELECT name FROM {big} WHERE id = {id}");
        let (s, b) = admin.run("pg", &sql, json!([])).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // A query over all rows is no candidate for an index.
    let (s, _) = admin
        .run(
            "pg",
            &format!("SELECT count(*) FROM {big} WHERE id > 0"),
            json!([]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, sug) = admin.get("/api/v1/admin/performance/suggestions").await;
    assert_eq!(s, StatusCode::OK, "{sug}");
    let list = sug["suggestions"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{sug}");
    let x = &list[0];
    assert_eq!(x["kind"], "index");
    assert_eq!(x["dataSource"], "pg");
    assert_eq!(x["table"], format!("public.{big}"));
    assert_eq!(x["columns"], json!(["id"]));
    assert_eq!(
        x["sql"],
        format!("CREATE INDEX ON \"public\".\"{big}\" (\"id\")")
    );
    let ev = &x["evidence"];
    assert_eq!(
        ev["fingerprint"],
        format!("SELECT name FROM {big} WHERE id = ?")
    );
    assert_eq!(ev["planNode"], format!("Seq Scan on public.{big}"));
    assert_eq!(ev["runs"], 3);
    assert!(num(&ev["tableRows"]) >= 40_000.0, "{ev}");
    assert!(num(&ev["estimatedRows"]) <= 10.0, "{ev}");
    assert_eq!(sug["explained"], 2, "{sug}");

    sqlx::raw_sql(&format!("CREATE INDEX ON {big} (id); ANALYZE {big}"))
        .execute(&mut pgc)
        .await
        .unwrap();
    let (_, sug) = admin.get("/api/v1/admin/performance/suggestions").await;
    assert_eq!(sug["suggestions"], json!([]), "{sug}");
    assert_eq!(sug["explained"], 2);
    sqlx::raw_sql(&format!("DROP TABLE {big}"))
        .execute(&mut pgc)
        .await
        .unwrap();
}

fn of_kind<'a>(sug: &'a Value, kind: &str) -> Vec<&'a Value> {
    sug["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == kind)
        .collect()
}

/// The other suggestion kinds, and index suggestions from MariaDB's and SQLite's plans: each
/// appears from its evidence and goes away once the cause is fixed.
#[tokio::test(flavor = "multi_thread")]
async fn more_suggestions() {
    let server = TestServer::start().await;
    let t = unique("sg");
    let admin = server.tenant(&t, PW).await;
    // MariaDB: a large table without an index, and a wide one.
    let big = unique("sg_big_");
    let wide = unique("sg_wide_");
    let mut my = admin_mariadb().await;
    let wide_cols: Vec<String> = (1..=24).map(|i| format!("c{i} INT")).collect();
    sqlx::raw_sql(&format!(
        "CREATE TABLE {big} (id INT NOT NULL, name VARCHAR(40)); \
         INSERT INTO {big} SELECT seq, md5(seq) FROM seq_1_to_20000; \
         ANALYZE TABLE {big}; \
         CREATE TABLE {wide} (id INT, {}); INSERT INTO {wide} (id) VALUES (1), (2)",
        wide_cols.join(", ")
    ))
    .execute(&mut my)
    .await
    .unwrap();
    let url: sqlx::mysql::MySqlConnectOptions = mariadb_url().parse().unwrap();
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "maria", "spec": {"type": "mysql", "host": url.get_host(),
                "port": url.get_port(), "database": "test", "username": "root"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // SQLite: the same large table in a file under the instance's SQLite root.
    let root = server.state.settings.sqlite_root.clone();
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join(format!("{t}.db"));
    {
        use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions};
        let mut c = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE big (id INTEGER NOT NULL, name TEXT); \
             WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 20000) \
             INSERT INTO big SELECT i, hex(randomblob(8)) FROM g",
        )
        .execute(&mut c)
        .await
        .unwrap();
    }
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "lite", "spec": {"type": "sqlite", "path": format!("{t}.db")}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = admin
        .post("/api/v1/catalog/datasources/maria/sync", json!({}))
        .await;
    assert!(s.is_success(), "{b}");

    for id in [42, 4242, 42] {
        for source in ["maria", "lite"] {
            let sql = format!(
                "SELECT name FROM {} WHERE id = {id}",
                if source == "maria" {
                    big.as_str()
                } else {
                    "big"
                }
            );
            let (s, b) = admin.run(source, &sql, json!([])).await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
    }
    // Many rows without a cap; `*` over a wide table.
    let (s, b) = admin
        .run(
            "maria",
            &format!("SELECT id, name FROM {big} WHERE id > 0"),
            json!([]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = admin
        .run("maria", &format!("SELECT * FROM {wide}"), json!([]))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The same widget query (other literals) on two dashboards.
    for (name, limit) in [("one", 5), ("two", 7)] {
        let spec = json!({"title": name, "widgets": [{"id": format!("w-{name}"), "chart": "table",
            "query": {"dataSource": "lite", "sql": format!("SELECT name FROM big ORDER BY id LIMIT {limit}")}}]});
        let (s, b) = admin
            .post("/api/v1/dashboards", json!({"name": name, "spec": spec}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    let (s, sug) = admin.get("/api/v1/admin/performance/suggestions").await;
    assert_eq!(s, StatusCode::OK, "{sug}");
    let index = of_kind(&sug, "index");
    let on = |source: &str| {
        index
            .iter()
            .find(|x| x["dataSource"] == source)
            .unwrap_or_else(|| panic!("no index suggestion on {source}: {sug}"))
    };
    let m = on("maria");
    assert_eq!(m["table"], big.as_str());
    assert_eq!(m["columns"], json!(["id"]));
    assert_eq!(
        m["sql"],
        format!("CREATE INDEX `{big}_id_idx` ON `{big}` (`id`)")
    );
    assert!(
        m["evidence"]["tableRows"].as_f64().unwrap() >= 10_000.0,
        "{m}"
    );
    assert_eq!(m["evidence"]["runs"], 3);
    let l = on("lite");
    assert_eq!(l["sql"], r#"CREATE INDEX "big_id_idx" ON "big" ("id")"#);
    assert_eq!(l["evidence"]["planNode"], "SCAN big");
    assert_eq!(l["evidence"]["selectivityFrom"], "runs");
    assert_eq!(l["evidence"]["tableRows"], 20000.0);

    let unbounded = of_kind(&sug, "unboundedResult");
    assert_eq!(unbounded.len(), 1, "{sug}");
    assert_eq!(
        unbounded[0]["evidence"]["fingerprint"],
        format!("SELECT id, name FROM {big} WHERE id > ?")
    );
    assert!(unbounded[0]["evidence"]["rowsPerRun"].as_f64().unwrap() >= 1000.0);
    let star = of_kind(&sug, "selectStar");
    assert_eq!(star.len(), 1, "{sug}");
    assert_eq!(star[0]["table"], wide.as_str());
    assert_eq!(star[0]["evidence"]["tableColumns"], 25);
    let shared = of_kind(&sug, "sharedWidgetQuery");
    assert_eq!(shared.len(), 1, "{sug}");
    assert_eq!(shared[0]["dataSource"], "lite");
    let widgets: Vec<&str> = shared[0]["evidence"]["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["widget"].as_str().unwrap())
        .collect();
    assert_eq!(widgets, vec!["w-one", "w-two"]);
    assert!(
        of_kind(&sug, "cacheTtl").is_empty(),
        "no repeated executions yet: {sug}"
    );

    // Cache TTL: with a 1 s TTL, the same count keeps coming back unchanged for seconds.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"query": {"cacheTtlSeconds": 1}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let count = format!("SELECT count(*) AS n FROM {big}");
    for _ in 0..6 {
        let (s, b) = admin.run("maria", &count, json!([])).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    }
    let (_, sug) = admin.get("/api/v1/admin/performance/suggestions").await;
    let ttl = of_kind(&sug, "cacheTtl");
    assert_eq!(ttl.len(), 1, "{sug}");
    assert_eq!(ttl[0]["evidence"]["cacheTtlSeconds"], 1);
    assert_eq!(
        ttl[0]["evidence"]["fingerprint"],
        format!("SELECT count(*) AS n FROM {big}")
    );
    assert!(
        ttl[0]["evidence"]["unchanged"].as_u64().unwrap() >= 4,
        "{sug}"
    );
    assert!(
        ttl[0]["suggestedTtlSeconds"].as_u64().unwrap() >= 2,
        "{sug}"
    );

    // Fixed: indexes on both sources, a LIMIT, named columns, one dashboard gone, a longer TTL.
    sqlx::raw_sql(&format!(
        "CREATE INDEX {big}_id ON {big} (id); ANALYZE TABLE {big}"
    ))
    .execute(&mut my)
    .await
    .unwrap();
    {
        use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions};
        let mut c = SqliteConnectOptions::new()
            .filename(&file)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql("CREATE INDEX big_id ON big (id)")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let (s, _) = admin.delete("/api/v1/dashboards/two").await;
    assert!(s.is_success());
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"query": {"cacheTtlSeconds": 60}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, sug) = admin.get("/api/v1/admin/performance/suggestions").await;
    assert!(of_kind(&sug, "index").is_empty(), "{sug}");
    assert!(of_kind(&sug, "sharedWidgetQuery").is_empty(), "{sug}");
    assert!(of_kind(&sug, "cacheTtl").is_empty(), "{sug}");
    sqlx::raw_sql(&format!("DROP TABLE {big}; DROP TABLE {wide}"))
        .execute(&mut my)
        .await
        .unwrap();
}

/// Every `$ref` in the document names a schema it defines.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.trim_start_matches("#/components/schemas/").to_string());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_documents_the_endpoints() {
    let server = TestServer::start().await;
    let (_, doc) = server
        .call(None, reqwest::Method::GET, "/api/v1/openapi.json", None)
        .await;
    for path in [
        "/api/v1/admin/monitoring",
        "/api/v1/admin/monitoring/series",
        "/api/v1/admin/performance/queries",
        "/api/v1/admin/performance/queries/slowest",
        "/api/v1/admin/performance/dashboards",
        "/api/v1/admin/performance/cache",
        "/api/v1/admin/performance/endpoints",
        "/api/v1/admin/performance/suggestions",
    ] {
        let get = &doc["paths"][path]["get"];
        assert!(get.is_object(), "{path} missing from OpenAPI");
        for code in ["200", "401", "403"] {
            assert!(get["responses"][code].is_object(), "{path} {code}");
        }
        let problem = &get["responses"]["403"]["content"]["application/problem+json"];
        assert!(problem.is_object(), "{path}: errors are problem+json");
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        assert!(
            doc["components"]["schemas"].get(&r).is_some(),
            "{r} referenced but not defined"
        );
    }
}

#[tokio::test]
async fn embedded_store() {
    let server = TestServer::start().await;
    scenario(&server).await;
}

#[tokio::test]
async fn mongodb_store() {
    let (server, _, _) = TestServer::on_mongo("nexbii_mon_", |_| {}).await;
    scenario(&server).await;
}

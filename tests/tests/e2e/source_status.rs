//! Nothing broken loads silently: data sources carry their connection status (from manifests,
//! on demand, on their sync interval), a source that cannot be reached is a data-source problem
//! (502 naming it, field `dataSource`), and dashboards are validated against the source's schema
//! when saved and again when a schema sync finds a change. Real PostgreSQL and the SQLite sample.
use std::time::Duration;

use nexbii_tests::{postgres_url, unique, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{ConnectOptions, Executor};

const PW: &str = "admin-password-123";

async fn pg_exec(sql: &str) {
    let opts: sqlx::postgres::PgConnectOptions = postgres_url().parse().unwrap();
    let mut c = opts
        .disable_statement_logging()
        .connect()
        .await
        .unwrap_or_else(|e| nexbii_tests::env::POSTGRES.missing(&postgres_url(), e));
    c.execute(sqlx::raw_sql(sql)).await.unwrap();
}

fn pg_source(tenant: &str, name: &str, database: &str, every: u32) -> String {
    let url: sqlx::postgres::PgConnectOptions = postgres_url().parse().unwrap();
    format!(
        "apiVersion: nexbii.io/v1alpha1\nkind: DataSource\nmetadata:\n  name: {name}\nspec:\n  tenantRef:\n    name: {tenant}\n  type: postgresql\n  host: {}\n  port: {}\n  database: {database}\n  username: {}\n  schemaSyncIntervalSeconds: {every}\n  pool:\n    connectTimeoutSeconds: 5\n",
        url.get_host(),
        url.get_port(),
        url.get_username(),
    )
}

fn dashboard(tenant: &str, name: &str, source: &str, sql: &str) -> String {
    format!(
        "apiVersion: nexbii.io/v1alpha1\nkind: Dashboard\nmetadata:\n  name: {name}\nspec:\n  tenantRef:\n    name: {tenant}\n  title: {name}\n  publication: published\n  widgets:\n    - id: w1\n      chart: table\n      query:\n        dataSource: {source}\n        sql: \"{sql}\"\n"
    )
}

async fn status_of(admin: &nexbii_tests::Client2, name: &str) -> Value {
    let (s, b) = admin.get(&format!("/api/v1/datasources/{name}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["status"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_sources_and_dashboards_are_reported_not_loaded_silently() {
    let server = TestServer::start().await;
    let t = unique("t");
    let table = unique("nx_status_");
    pg_exec(&format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, label text)"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("tenant.yaml", nexbii_tests::tenant_yaml(&t, PW)),
        ("good.yaml", pg_source(&t, "good", "test", 0)),
        (
            "nodb.yaml",
            pg_source(&t, "nodb", "no_such_database_here", 0),
        ),
        (
            "ok.yaml",
            dashboard(
                &t,
                "fine",
                "good",
                &format!("SELECT id, label FROM {table}"),
            ),
        ),
        (
            "missing.yaml",
            dashboard(
                &t,
                "broken",
                "good",
                "SELECT id FROM no_such_table_anywhere",
            ),
        ),
        (
            "nocol.yaml",
            dashboard(&t, "nocol", "good", &format!("SELECT nope FROM {table}")),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(f, y)| (*f, y.as_str())).collect();
    let applied = server.apply_yaml(dir.path(), &files).await;

    // The manifests apply counts the unreachable database and the two broken widgets.
    let problems = applied.problems.join("\n");
    assert!(
        problems.contains("DataSource/nodb") && problems.contains("no_such_database_here"),
        "{problems}"
    );
    assert!(
        problems.contains("Dashboard/broken: w1") && problems.contains("no_such_table_anywhere"),
        "{problems}"
    );
    assert!(
        problems.contains("Dashboard/nocol: w1") && problems.contains("nope"),
        "{problems}"
    );
    assert!(
        !problems.contains("DataSource/good") && !problems.contains("Dashboard/fine"),
        "{problems}"
    );
    assert_eq!(applied.problems.len(), 3, "{problems}");

    let admin = server.login(&t, "admin", PW).await;

    // Status of a working source: connected, version, latency, schema discovered.
    let good = status_of(&admin, "good").await;
    assert_eq!(good["connected"], true, "{good}");
    assert!(
        good["serverVersion"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL"),
        "{good}"
    );
    assert!(
        good["latencyMs"].as_f64().is_some() && good["schemaSyncedAt"].is_string(),
        "{good}"
    );
    assert!(good["tables"].as_u64().unwrap() >= 1 && good["columns"].as_u64().unwrap() >= 2);
    assert!(good.get("lastError").is_none(), "{good}");

    // ... and of the one pointing at a database that does not exist.
    let bad = status_of(&admin, "nodb").await;
    assert_eq!(bad["connected"], false, "{bad}");
    assert!(
        bad["lastError"]
            .as_str()
            .unwrap()
            .contains("no_such_database_here"),
        "{bad}"
    );

    // Using it is a data-source problem (502, naming the source), not a SQL error.
    for (path, body) in [
        ("/api/v1/datasources/nodb/test", json!({})),
        (
            "/api/v1/queries/run",
            json!({"dataSource": "nodb", "sql": "SELECT 1"}),
        ),
    ] {
        let (s, b) = admin.post(path, body).await;
        assert_eq!(s, StatusCode::BAD_GATEWAY, "{path}: {b}");
        assert_eq!(
            b["type"],
            "https://nexbii.io/problems/data-source-unavailable"
        );
        assert_eq!(b["field"], "dataSource");
        assert!(b["detail"].as_str().unwrap().contains("\"nodb\""), "{b}");
    }
    // A SQL mistake on a working source stays a SQL error.
    let (s, b) = admin
        .post(
            "/api/v1/queries/run",
            json!({"dataSource": "good", "sql": "SELECT nope FROM no_such_table_anywhere"}),
        )
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("sql")),
        "{b}"
    );
    assert_eq!(b["type"], "https://nexbii.io/problems/query-failed");
    assert_eq!(
        b["position"], 18,
        "the character PostgreSQL pointed at: {b}"
    );

    // Dashboards carry what is wrong with which widget.
    let (_, d) = admin.get("/api/v1/dashboards/broken").await;
    let errs = d["validationErrors"].as_array().unwrap();
    assert_eq!(errs.len(), 1, "{d}");
    assert!(
        errs[0].as_str().unwrap().starts_with("w1: ")
            && errs[0].as_str().unwrap().contains("no_such_table_anywhere")
    );
    let (_, d) = admin.get("/api/v1/dashboards/fine").await;
    assert_eq!(d["validationErrors"], json!([]));

    // The schema changes under a valid dashboard: the next sync finds it and says so.
    pg_exec(&format!("ALTER TABLE {table} RENAME COLUMN label TO title")).await;
    let (s, st) = admin.post("/api/v1/datasources/good/sync", json!({})).await;
    assert_eq!(
        (s, st["connected"].clone()),
        (StatusCode::OK, json!(true)),
        "{st}"
    );
    let (_, d) = admin.get("/api/v1/dashboards/fine").await;
    let errs = d["validationErrors"].as_array().unwrap();
    assert_eq!(errs.len(), 1, "{d}");
    assert!(errs[0].as_str().unwrap().contains("label"), "{d}");
    assert_eq!(d["updatedBy"], "system");
    // And heals when the column comes back. A background check queued by the rename may
    // still land after this sync on a loaded machine; the next sync corrects it, so the
    // dashboard must be clean within a few syncs.
    pg_exec(&format!("ALTER TABLE {table} RENAME COLUMN title TO label")).await;
    let mut d = json!(null);
    for _ in 0..10 {
        admin.post("/api/v1/datasources/good/sync", json!({})).await;
        d = admin.get("/api/v1/dashboards/fine").await.1;
        if d["validationErrors"] == json!([]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(d["validationErrors"], json!([]), "{d}");

    pg_exec(&format!("DROP TABLE {table}")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sources_are_checked_again_on_their_interval_in_standalone_mode() {
    let server = TestServer::start().await;
    let t = unique("t");
    let dir = tempfile::tempdir().unwrap();
    let tenant = nexbii_tests::tenant_yaml(&t, PW);
    let source = pg_source(&t, "every", "test", 1);
    let applied = server
        .apply_yaml(dir.path(), &[("tenant.yaml", &tenant), ("s.yaml", &source)])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let admin = server.login(&t, "admin", PW).await;
    let first = status_of(&admin, "every").await;
    let first_at = first["checkedAt"].as_str().unwrap().to_string();

    // The background pass runs every few seconds and re-checks sources whose interval passed.
    let mut later = first_at.clone();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        later = status_of(&admin, "every").await["checkedAt"]
            .as_str()
            .unwrap()
            .to_string();
        if later != first_at {
            break;
        }
    }
    assert_ne!(
        later, first_at,
        "the source was checked again by the sync loop"
    );
}

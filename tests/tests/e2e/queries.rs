//! Query answers over HTTP: how a result was served (fresh or cached, and when), scalar-only
//! parameters, and the OpenAPI document saying so.
use nexbii_tests::{unique, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn cached_answers_report_when_and_how_long_the_original_took() {
    let server = TestServer::start().await;
    let t = unique("t");
    let admin = server.tenant(&t, "admin-password-123").await;
    let root = &server.state.settings.sqlite_root;
    std::fs::create_dir_all(root).unwrap();
    nexbii_controlplane::sample_data::generate(&root.join("q.db"))
        .await
        .unwrap();
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "sales", "spec": {"type": "sqlite", "path": "q.db"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let body = json!({"dataSource": "sales", "sql": "SELECT count(*) AS n FROM orders WHERE id > ?", "params": [10]});

    let (s, fresh) = admin.post("/api/v1/queries/run", body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{fresh}");
    assert_eq!(fresh["cached"], false);
    assert!(fresh.get("cachedAt").is_none(), "{fresh}");
    assert!(fresh["executionMs"].as_f64().unwrap() > 0.0);

    let (_, hit) = admin.post("/api/v1/queries/run", body).await;
    assert_eq!(hit["cached"], true);
    assert_eq!(hit["rows"], fresh["rows"]);
    assert_eq!(
        hit["executionMs"], fresh["executionMs"],
        "a hit reports the original execution time"
    );
    let cached_at = hit["cachedAt"]
        .as_str()
        .expect("a hit says when it was cached");
    assert!(
        chrono::DateTime::parse_from_rfc3339(cached_at).is_ok(),
        "{cached_at}"
    );
    assert!(hit["elapsedMs"].as_f64().is_some());

    // Parameters are JSON scalars; an object is refused before anything runs, naming it.
    let (s, b) = admin
        .post(
            "/api/v1/queries/run",
            json!({"dataSource": "sales", "sql": "SELECT ? AS a, ? AS b", "params": [1, {"$gt": ""}]}),
        )
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("params[1]")),
        "{b}"
    );
    let (s, b) = admin
        .post(
            "/api/v1/queries",
            json!({"name": "x", "dataSource": "sales", "sql": "SELECT ?", "params": [[1]]}),
        )
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("params[0]")),
        "{b}"
    );

    // The OpenAPI document types parameters as scalars.
    let (_, doc) = server
        .call(None, reqwest::Method::GET, "/api/v1/openapi.json", None)
        .await;
    let items = &doc["components"]["schemas"]["RunQuery"]["properties"]["params"]["items"];
    let types: Vec<&str> = items["oneOf"]
        .as_array()
        .map(|v| v.iter().filter_map(|s| s["type"].as_str()).collect())
        .or_else(|| {
            doc["components"]["schemas"]["ParamValue"]["oneOf"]
                .as_array()
                .map(|v| v.iter().filter_map(|s| s["type"].as_str()).collect())
        })
        .unwrap_or_default();
    assert_eq!(
        types,
        vec!["string", "number", "boolean", "null"],
        "{items}"
    );
}

fn source_yaml(tenant: &str, name: &str, kind: &str, url: &str) -> String {
    let u = reqwest::Url::parse(url).unwrap();
    format!(
        "apiVersion: nexbii.io/v1alpha1\nkind: DataSource\nmetadata:\n  name: {name}\nspec:\n  tenantRef:\n    name: {tenant}\n  type: {kind}\n  host: {}\n  port: {}\n  database: {}\n  username: {}\n",
        u.host_str().unwrap(),
        u.port().unwrap(),
        u.path().trim_start_matches('/'),
        u.username(),
    )
}

/// `?` and `$n` both work on every SQL source (rewritten after tokenizing, never inside
/// strings), `$n` may repeat and come in any order, and mixing the two styles is refused.
#[tokio::test(flavor = "multi_thread")]
async fn both_placeholder_styles_work_on_every_sql_source() {
    let server = TestServer::start().await;
    let t = unique("t");
    let dir = tempfile::tempdir().unwrap();
    let tenant = nexbii_tests::tenant_yaml(&t, "admin-password-123");
    let pg = source_yaml(&t, "pg", "postgresql", &nexbii_tests::postgres_url());
    let my = source_yaml(&t, "my", "mysql", &nexbii_tests::mariadb_url());
    let applied = server
        .apply_yaml(
            dir.path(),
            &[("t.yaml", &tenant), ("pg.yaml", &pg), ("my.yaml", &my)],
        )
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let admin = server.login(&t, "admin", "admin-password-123").await;
    let root = &server.state.settings.sqlite_root;
    std::fs::create_dir_all(root).unwrap();
    nexbii_controlplane::sample_data::generate(&root.join("p.db"))
        .await
        .unwrap();
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "lite", "spec": {"type": "sqlite", "path": "p.db"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    for source in ["pg", "my", "lite"] {
        let run = |sql: &str, params: serde_json::Value| {
            let admin = admin.clone();
            let body = json!({"dataSource": source, "sql": sql, "params": params, "noCache": true});
            async move { admin.post("/api/v1/queries/run", body).await }
        };
        let (s, b) = run("SELECT ? AS a, '?' AS q, ? AS b", json!(["x", "y"])).await;
        assert_eq!(s, StatusCode::OK, "{source}: {b}");
        assert_eq!(b["rows"], json!([["x", "?", "y"]]), "{source}");
        let (s, b) = run("SELECT $2 AS a, $1 AS b, $2 AS c", json!(["one", "two"])).await;
        assert_eq!(s, StatusCode::OK, "{source}: {b}");
        assert_eq!(b["rows"], json!([["two", "one", "two"]]), "{source}");
        let (s, b) = run("SELECT ? AS a, $1 AS b", json!(["x"])).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{source}: {b}");
        assert!(
            b["detail"]
                .as_str()
                .unwrap()
                .contains("one placeholder style"),
            "{b}"
        );
    }
}

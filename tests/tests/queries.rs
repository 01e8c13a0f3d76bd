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

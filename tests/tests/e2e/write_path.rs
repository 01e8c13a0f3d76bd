//! The one write path over HTTP: revisions and `updatedBy` on every object, `ETag`/`If-Match`
//! optimistic concurrency (a stale change is a 409 and loses nothing), paged lists, and
//! provisioning that does not bump revisions when nothing changed.
use nexbii_tests::{unique, TestServer};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";

/// A raw request, for the headers `Client2` does not expose.
async fn raw(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = server
        .http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(token);
    if let Some(tag) = if_match {
        req = req.header(header::IF_MATCH, tag);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, v)
}

fn query(name: &str, sql: &str) -> Value {
    json!({"name": name, "dataSource": "sales", "sql": sql})
}

async fn with_sales(server: &TestServer, tenant: &str) -> nexbii_tests::Client2 {
    server.tenant_with_sales(tenant, PW).await
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_updates_are_refused_with_409_and_lose_nothing() {
    let server = TestServer::start().await;
    let admin = with_sales(&server, &unique("t")).await;

    // Every object carries its revision and who changed it last.
    let (s, created) = admin
        .post("/api/v1/queries", query("top", "SELECT 1 AS one"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["revision"], 1);
    assert_eq!(created["updatedBy"], "user:admin");
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/queries/{id}");

    // GET answers the revision as ETag.
    let (s, h, _) = raw(
        &server,
        &admin.token,
        reqwest::Method::GET,
        &path,
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::ETAG], "\"1\"");

    // Two editors read revision 1; the first update wins and moves to revision 2 ...
    let (s, _, first) = raw(
        &server,
        &admin.token,
        reqwest::Method::PUT,
        &path,
        Some("\"1\""),
        Some(query("first", "SELECT 1 AS one")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["revision"], 2);
    // ... the second, still based on revision 1, is a 409 naming both revisions ...
    let (s, h, second) = raw(
        &server,
        &admin.token,
        reqwest::Method::PUT,
        &path,
        Some("\"1\""),
        Some(query("second", "SELECT 2 AS two")),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{second}");
    assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
    let detail = second["detail"].as_str().unwrap();
    assert!(
        detail.contains("revision 2") && detail.contains('1'),
        "{detail}"
    );
    // ... and changed nothing.
    let (_, now) = admin.get(&path).await;
    assert_eq!(
        (now["name"].clone(), now["revision"].clone()),
        (json!("first"), json!(2))
    );

    // A stale delete is refused too; the current ETag deletes.
    let (s, _, _) = raw(
        &server,
        &admin.token,
        reqwest::Method::DELETE,
        &path,
        Some("\"1\""),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(admin.get(&path).await.0, StatusCode::OK);
    let (s, _, _) = raw(
        &server,
        &admin.token,
        reqwest::Method::DELETE,
        &path,
        Some("W/\"2\""),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(admin.get(&path).await.0, StatusCode::NOT_FOUND);

    // A malformed If-Match names the header.
    let (s, _, b) = raw(
        &server,
        &admin.token,
        reqwest::Method::PUT,
        "/api/v1/datasources/sales",
        Some("yesterday"),
        Some(json!({"spec": {"type": "sqlite", "path": "x.db"}})),
    )
    .await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("If-Match"))
    );

    // Data sources, dashboards and users follow the same rule.
    let (_, h, ds) = raw(
        &server,
        &admin.token,
        reqwest::Method::GET,
        "/api/v1/datasources/sales",
        None,
        None,
    )
    .await;
    assert_eq!(ds["revision"], 1);
    assert_eq!(h[header::ETAG], "\"1\"");
    let spec = ds["spec"].clone();
    let (s, _, b) = raw(
        &server,
        &admin.token,
        reqwest::Method::PUT,
        "/api/v1/datasources/sales",
        Some("\"7\""),
        Some(json!({"spec": spec})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (s, _, b) = raw(
        &server,
        &admin.token,
        reqwest::Method::PUT,
        "/api/v1/datasources/sales",
        Some("\"1\""),
        Some(json!({"spec": spec})),
    )
    .await;
    assert_eq!(
        (s, b["revision"].clone()),
        (StatusCode::OK, json!(2)),
        "{b}"
    );

    let dash = json!({"title": "T", "widgets": [{"id": "w", "chart": "number", "query": {"dataSource": "sales", "sql": "SELECT 1"}}]});
    let (s, b) = admin
        .post("/api/v1/dashboards", json!({"name": "d", "spec": dash}))
        .await;
    assert_eq!(
        (s, b["revision"].clone()),
        (StatusCode::CREATED, json!(1)),
        "{b}"
    );
    let (s, _, _) = raw(
        &server,
        &admin.token,
        reqwest::Method::PUT,
        "/api/v1/dashboards/d",
        Some("\"0\""),
        Some(json!({"spec": dash})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _, b) = raw(
        &server,
        &admin.token,
        reqwest::Method::PUT,
        "/api/v1/dashboards/d",
        None,
        Some(json!({"spec": dash})),
    )
    .await;
    assert_eq!(
        (s, b["revision"].clone()),
        (StatusCode::OK, json!(2)),
        "without If-Match the update applies to the current revision"
    );

    let (s, u) = admin
        .post(
            "/api/v1/users",
            json!({"username": "ann", "role": "viewer", "password": "viewer-password-123"}),
        )
        .await;
    assert_eq!(
        (s, u["revision"].clone()),
        (StatusCode::CREATED, json!(1)),
        "{u}"
    );
    let (s, _, _) = raw(
        &server,
        &admin.token,
        reqwest::Method::PATCH,
        "/api/v1/users/ann",
        Some("\"2\""),
        Some(json!({"role": "editor"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _, u) = raw(
        &server,
        &admin.token,
        reqwest::Method::PATCH,
        "/api/v1/users/ann",
        Some("\"1\""),
        Some(json!({"role": "editor"})),
    )
    .await;
    assert_eq!(
        (s, u["role"].clone(), u["revision"].clone()),
        (StatusCode::OK, json!("editor"), json!(2))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_page_with_a_cursor() {
    let server = TestServer::start().await;
    let admin = with_sales(&server, &unique("t")).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let (s, b) = admin
            .post("/api/v1/queries", query(&format!("q{i}"), "SELECT 1"))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    ids.sort();

    // Pages of 3: 3 + 3 + 1, every query once in id order, no cursor on the last page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/queries?limit=3&cursor={c}"),
            None => "/api/v1/queries?limit=3".to_string(),
        };
        let (s, h, body) = raw(
            &server,
            &admin.token,
            reqwest::Method::GET,
            &path,
            None,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        pages += 1;
        seen.extend(
            body.as_array()
                .unwrap()
                .iter()
                .map(|q| q["id"].as_str().unwrap().to_string()),
        );
        match h.get("x-next-cursor") {
            Some(c) => cursor = Some(c.to_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    // Without a limit a page holds up to 100.
    let (_, h, body) = raw(
        &server,
        &admin.token,
        reqwest::Method::GET,
        "/api/v1/queries",
        None,
        None,
    )
    .await;
    assert_eq!(body.as_array().unwrap().len(), 7);
    assert!(h.get("x-next-cursor").is_none());

    // Bad paging input names the parameter.
    for (path, field) in [
        ("/api/v1/queries?limit=0", "limit"),
        ("/api/v1/queries?limit=5000", "limit"),
        ("/api/v1/queries?cursor=%25%25%25", "cursor"),
    ] {
        let (s, b) = admin.get(path).await;
        assert_eq!(
            (s, b["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(field)),
            "{path}: {b}"
        );
    }

    // Viewers page over published dashboards only (the filter runs in the store, so pages are full).
    for i in 0..4 {
        let publication = if i % 2 == 0 { "published" } else { "draft" };
        let spec = json!({"title": "T", "publication": publication,
            "widgets": [{"id": "w", "chart": "number", "query": {"dataSource": "sales", "sql": "SELECT 1"}}]});
        let (s, b) = admin
            .post(
                "/api/v1/dashboards",
                json!({"name": format!("d{i}"), "spec": spec}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "vic", "role": "viewer", "password": "viewer-password-1234"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let tenant = admin_tenant(&admin).await;
    let viewer = server.login(&tenant, "vic", "viewer-password-1234").await;
    let (_, h, body) = raw(
        &server,
        &viewer.token,
        reqwest::Method::GET,
        "/api/v1/dashboards?limit=2",
        None,
        None,
    )
    .await;
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["d0", "d2"]);
    assert!(
        h.get("x-next-cursor").is_none(),
        "two published dashboards fit one page of two"
    );
    let (_, body) = admin.get("/api/v1/dashboards").await;
    assert_eq!(body.as_array().unwrap().len(), 4, "editors see drafts too");
}

async fn admin_tenant(admin: &nexbii_tests::Client2) -> String {
    let (_, t) = admin.get("/api/v1/tenant").await;
    t["name"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioning_keeps_revisions_of_unchanged_objects() {
    let server = TestServer::start().await;
    let t = unique("t");
    let dir = tempfile::tempdir().unwrap();
    let tenant = nexbii_tests::tenant_yaml(&t, PW);
    let policy = format!(
        "apiVersion: nexbii.io/v1alpha1\nkind: GovernancePolicy\nmetadata:\n  name: pii\nspec:\n  tenantRef:\n    name: {t}\n"
    );
    let applied = server
        .apply_yaml(
            dir.path(),
            &[("tenant.yaml", &tenant), ("policy.yaml", &policy)],
        )
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let admin = server.login(&t, "admin", PW).await;
    let (_, p) = admin.get("/api/v1/governance/policies").await;
    assert_eq!(p[0]["revision"], 1);
    assert_eq!(p[0]["updatedBy"], "manifests");

    // Re-applying the same folder writes nothing new.
    let again =
        nexbii_controlplane::provisioning::manifests::load_and_apply(&server.state, dir.path())
            .await
            .unwrap();
    assert!(again.problems.is_empty());
    let (_, p) = admin.get("/api/v1/governance/policies").await;
    assert_eq!(p[0]["revision"], 1, "unchanged policy keeps its revision");

    // A changed spec is a new revision.
    let changed = format!("{policy}  audit:\n    retentionDays: 30\n");
    server
        .apply_yaml(dir.path(), &[("policy.yaml", &changed)])
        .await;
    let (_, p) = admin.get("/api/v1/governance/policies").await;
    assert_eq!(p[0]["revision"], 2, "{p}");
}

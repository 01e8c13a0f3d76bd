//! HTTP API end to end on the embedded store: auth, roles, sessions, validation errors,
//! tenant isolation, dashboards, provisioning from manifests.
use std::time::Duration;

use nexbii_controlplane::{provisioning::manifests, sample_data, store::Store};
use nexbii_tests::{tenant_yaml, unique, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";

/// A tenant with the sample sales database as API-created SQLite source `sales`.
async fn with_sales(server: &TestServer, tenant: &str) -> nexbii_tests::Client2 {
    server.tenant_with_sales(tenant, PW).await
}

fn dashboard(sql2: &str, publication: &str) -> Value {
    json!({
        "title": "Revenue",
        "publication": publication,
        "variables": [{"name": "country", "default": "DE", "options": ["DE", "FR", "US"]}],
        "widgets": [
            {"id": "count", "chart": "number", "query": {"dataSource": "sales",
                "sql": "SELECT count(*) AS n FROM customers WHERE country = ?", "params": [{"variable": "country"}]}},
            {"id": "second", "chart": "table", "query": {"dataSource": "sales", "sql": sql2}}
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn health_ready_metrics_and_openapi() {
    let server = TestServer::start().await;
    let (s, b) = server.call(None, Method::GET, "/healthz", None).await;
    assert_eq!((s, b["status"].clone()), (StatusCode::OK, json!("ok")));
    let (s, b) = server.call(None, Method::GET, "/readyz", None).await;
    assert_eq!((s, b["status"].clone()), (StatusCode::OK, json!("ready")));
    let (s, doc) = server
        .call(None, Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/queries/run",
        "/api/v1/datasources/{name}/schema",
        "/api/v1/dashboards/{name}/data",
        "/api/v1/auth/login",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(
        doc["components"]["schemas"].get("DashboardSpec").is_some(),
        "CRD spec types are in the document"
    );
    // Two answers that share a type name must not share a schema (one would replace the other).
    let answer = |path: &str, method: &str| -> Value {
        let r = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} answers a named schema"))
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        doc["components"]["schemas"][r]["properties"].clone()
    };
    assert!(answer("/api/v1/admin/backups/{id}/verify", "post")
        .get("checksum")
        .is_some());
    assert!(answer("/api/v1/audit/verify", "get").get("valid").is_some());
    // A query parameter of the wrong type is a problem naming it (not axum's plain text).
    let admin = server.tenant("qp", "admin-password-123").await;
    for (path, field) in [
        ("/api/v1/catalog/search", "q"),
        ("/api/v1/dashboards?limit=many", "limit"),
        ("/api/v1/notifications?unread=perhaps", "unread"),
    ] {
        let (s, b) = admin.get(path).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {b}");
        assert_eq!(b["field"], field, "{path}: {b}");
    }
    // Unknown API paths are problem+json 404s; every other path is the web console's.
    let (s, _) = server.call(None, Method::GET, "/api/v1/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, text) = server.get_text("/metrics").await;
    assert!(
        text.contains(
            r#"nexbii_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(text.contains("nexbii_http_request_duration_seconds_bucket"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_is_served_at_the_root_without_shadowing_the_api() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for path in ["/", "/dashboards/sales-overview", "/nope"] {
        let r = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(h["cache-control"], "no-cache");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'"));
    }
    // The API, health and metrics answer as before; a credential sent to a console path is
    // not looked at (static files need none).
    let r = http
        .get(format!("{}/api/v1/no-such-route", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = http
        .get(format!("{}/api/v1/dashboards", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (s, body) = server.call(None, Method::GET, "/healthz", None).await;
    assert_eq!((s, &body["status"]), (StatusCode::OK, &json!("ok")));
    let r = http
        .get(format!("{}/", server.base))
        .bearer_auth("nxk_nobody_x_y")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_sessions_and_rate_limit() {
    let server = TestServer::start().await;
    let t = unique("t");
    let admin = server.tenant(&t, PW).await;
    let login = |pw: &str| json!({"tenant": t, "username": "admin", "password": pw});

    let (s, b) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(login("wrong-password")),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["type"], json!("https://nexbii.io/problems/unauthorized"));
    // Unknown users get the same answer.
    let (s, b2) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"tenant": t, "username": "ghost", "password": "x"})),
        )
        .await;
    assert_eq!((s, &b2["detail"]), (StatusCode::UNAUTHORIZED, &b["detail"]));

    // Sessions: listed, revocable; a revoked token stops working at once.
    let second = server.login(&t, "admin", PW).await;
    let (s, sessions) = admin.get("/api/v1/auth/sessions").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let (s, me) = second.get("/api/v1/auth/me").await;
    assert_eq!((s, me["role"].clone()), (StatusCode::OK, json!("admin")));
    let (s, _) = second.call(Method::POST, "/api/v1/auth/logout", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = second.get("/api/v1/auth/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, sessions) = admin.get("/api/v1/auth/sessions").await;
    let id = sessions[0]["id"].as_str().unwrap().to_string();
    let (s, _) = admin.delete(&format!("/api/v1/auth/sessions/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = admin.get("/api/v1/auth/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked session");

    // A tampered token is refused.
    let fresh = server.login(&t, "admin", PW).await;
    let mut forged = fresh.token.clone();
    forged.pop();
    forged.push('x');
    let (s, _) = server
        .call(Some(&forged), Method::GET, "/api/v1/auth/me", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = server
        .call(None, Method::GET, "/api/v1/datasources", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // maxFailedLogins is 3: the fourth try is throttled even with the right password.
    for _ in 0..3 {
        let (s, _) = server
            .call(
                None,
                Method::POST,
                "/api/v1/auth/login",
                Some(login("nope-nope")),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = server
        .call(None, Method::POST, "/api/v1/auth/login", Some(login(PW)))
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");

    // Stored password hashes are argon2id, never the password.
    let users = server
        .state
        .store
        .list(
            &nexbii_controlplane::store::TenantScope::new(&t).unwrap(),
            nexbii_controlplane::store::Collection::Users,
            &Default::default(),
        )
        .await
        .unwrap()
        .items;
    let hash = users[0]["passwordHash"].as_str().unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(PW));
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_and_user_management() {
    let server = TestServer::start().await;
    let t = unique("t");
    let admin = with_sales(&server, &t).await;
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "vera", "role": "viewer", "password": "short"}),
        )
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("password"))
    );
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "vera", "role": "superuser", "password": "viewer-password-1"}),
        )
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("role")),
        "{b}"
    );
    for (u, role) in [("vera", "viewer"), ("ed", "editor")] {
        let (s, b) = admin
            .post(
                "/api/v1/users",
                json!({"username": u, "role": role, "password": "a-long-password-1"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert!(b.get("passwordHash").is_none());
    }
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "vera", "role": "viewer", "password": "a-long-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let viewer = server.login(&t, "vera", "a-long-password-1").await;
    let editor = server.login(&t, "ed", "a-long-password-1").await;

    // No self-registration, and viewers cannot write or run ad-hoc SQL.
    let (s, _) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/register",
            Some(json!({"username": "x", "role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = viewer
        .post(
            "/api/v1/users",
            json!({"username": "evil", "role": "admin", "password": "a-long-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = viewer
        .post(
            "/api/v1/datasources",
            json!({"name": "x", "spec": {"type": "sqlite", "path": "x.db"}}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = viewer.run("sales", "SELECT 1", json!([])).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = editor.run("sales", "SELECT 1", json!([])).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = editor
        .post(
            "/api/v1/datasources",
            json!({"name": "x", "spec": {"type": "sqlite", "path": "x.db"}}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "editors do not manage data sources"
    );

    // Viewers see published dashboards only.
    let (s, b) = editor
        .post(
            "/api/v1/dashboards",
            json!({"name": "draft", "spec": dashboard("SELECT 1 AS one", "draft")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = editor
        .post(
            "/api/v1/dashboards",
            json!({"name": "pub", "spec": dashboard("SELECT 1 AS one", "published")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, list) = viewer.get("/api/v1/dashboards").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pub"]);
    assert_eq!(
        viewer.get("/api/v1/dashboards/draft").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        viewer.get("/api/v1/dashboards/pub/data").await.0,
        StatusCode::OK
    );

    // Disabling a user ends their access immediately.
    let (s, _) = admin
        .call(
            Method::PATCH,
            "/api/v1/users/ed",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        editor.get("/api/v1/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, b) = admin
        .call(
            Method::PATCH,
            "/api/v1/users/admin",
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_input_is_problem_json_naming_the_field() {
    let server = TestServer::start().await;
    let admin = server.tenant(&unique("t"), PW).await;
    let cases = [
        (
            json!({"name": "x", "spec": {"type": "oracle"}}),
            StatusCode::BAD_REQUEST,
            "spec.type",
        ),
        (
            json!({"name": "x", "spec": {"type": "postgresql", "database": "d", "username": "u"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spec.host",
        ),
        (
            json!({"name": "Not_A_Label", "spec": {"type": "sqlite", "path": "a.db"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            json!({"name": "x", "spec": {"type": "sqlite", "path": "../../etc/passwd"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spec.path",
        ),
        (
            json!({"name": "x", "spec": {"type": "sqlite", "path": "/etc/passwd"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spec.path",
        ),
        (
            json!({"name": "x", "spec": {"type": "sqlite", "path": "a.db", "tenantRef": {"name": "someone-else"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spec.tenantRef.name",
        ),
        (
            json!({"name": "x", "spec": {"type": "sqlite", "path": "a.db", "pool": {"maxConnections": "many"}}}),
            StatusCode::BAD_REQUEST,
            "spec.pool.maxConnections",
        ),
        (
            json!({"name": "x", "spec": {"type": "sqlite", "path": "a.db"}, "extra": 1}),
            StatusCode::BAD_REQUEST,
            "extra",
        ),
    ];
    for (body, status, field) in cases {
        let (s, b) = admin.post("/api/v1/datasources", body.clone()).await;
        assert_eq!(s, status, "{body} -> {b}");
        assert!(
            b["field"].as_str().unwrap_or_default().contains(field),
            "{body} -> {b}"
        );
        assert_eq!(b["status"], json!(status.as_u16()));
        assert!(b["title"].is_string() && b["detail"].is_string() && b["type"].is_string());
    }
    let resp = admin
        .http
        .post(format!("{}/api/v1/datasources", admin.base))
        .bearer_auth(&admin.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (_, list) = admin.get("/api/v1/datasources").await;
    assert_eq!(list, json!([]), "nothing was stored by rejected requests");
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_cannot_see_each_other() {
    let server = TestServer::start().await;
    let (ta, tb) = (unique("a"), unique("b"));
    let a = with_sales(&server, &ta).await;
    let b = server.tenant(&tb, PW).await;
    let (s, q) = a
        .post(
            "/api/v1/queries",
            json!({"name": "all", "dataSource": "sales", "sql": "SELECT * FROM customers"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let qid = q["id"].as_str().unwrap();
    let (s, _) = a
        .post(
            "/api/v1/dashboards",
            json!({"name": "dash", "spec": dashboard("SELECT 1", "published")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    for path in [
        "/api/v1/datasources/sales".to_string(),
        "/api/v1/datasources/sales/schema".into(),
        format!("/api/v1/queries/{qid}"),
        "/api/v1/dashboards/dash".into(),
        "/api/v1/dashboards/dash/data".into(),
    ] {
        let (s, body) = b.get(&path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    assert_eq!(
        b.post(&format!("/api/v1/queries/{qid}/run"), json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.delete("/api/v1/dashboards/dash").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.delete("/api/v1/datasources/sales").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b.delete(&format!("/api/v1/queries/{qid}")).await.0,
        StatusCode::NOT_FOUND
    );
    for list in [
        "/api/v1/datasources",
        "/api/v1/queries",
        "/api/v1/dashboards",
    ] {
        assert_eq!(b.get(list).await.1, json!([]), "{list}");
    }
    let (s, body) = b.run("sales", "SELECT * FROM customers", json!([])).await;
    assert_eq!(
        (s, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("dataSource"))
    );
    // Same names in B are B's own.
    let (s, _) = b
        .post(
            "/api/v1/dashboards",
            json!({"name": "dash", "spec": {"title": "B's"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        a.get("/api/v1/dashboards/dash").await.1["spec"]["title"],
        json!("Revenue")
    );
    // A's own access still works.
    assert_eq!(
        a.post(&format!("/api/v1/queries/{qid}/run"), json!({}))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboards_render_in_parallel_with_per_widget_errors_and_cache() {
    let server = TestServer::start().await;
    let admin = with_sales(&server, &unique("t")).await;

    // Refused SQL and unknown sources are rejected at save time, naming the widget field.
    let (s, b) = admin
        .post(
            "/api/v1/dashboards",
            json!({"name": "bad", "spec": dashboard("DELETE FROM orders", "draft")}),
        )
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("spec.widgets[1].query.sql")
        ),
        "{b}"
    );
    let mut spec = dashboard("SELECT 1", "draft");
    spec["widgets"][0]["query"]["dataSource"] = json!("nope");
    let (s, b) = admin
        .post("/api/v1/dashboards", json!({"name": "bad", "spec": spec}))
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("spec.widgets[0].query.dataSource")
        )
    );
    let mut spec = dashboard("SELECT 1", "draft");
    spec["widgets"][0]["query"]["params"] = json!([{"variable": "undeclared"}]);
    let (s, b) = admin
        .post("/api/v1/dashboards", json!({"name": "bad", "spec": spec}))
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("spec.widgets[0].query.params[0]")
        )
    );

    // A widget failing at run time does not hide the others.
    let (s, b) = admin
        .post("/api/v1/dashboards", json!({"name": "mixed", "spec": dashboard("SELECT no_such_column FROM customers", "published")}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, data) = admin.get("/api/v1/dashboards/mixed/data?country=FR").await;
    assert_eq!(s, StatusCode::OK, "{data}");
    assert_eq!(data["variables"]["country"], json!("FR"));
    let w = data["widgets"].as_array().unwrap();
    assert!(w[0]["result"]["rows"][0][0].as_i64().unwrap() > 0);
    assert_eq!(w[0]["result"]["cached"], json!(false));
    assert!(w[1].get("result").is_none());
    assert!(
        w[1]["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("no_such_column"),
        "{data}"
    );

    let (_, again) = admin.get("/api/v1/dashboards/mixed/data?country=FR").await;
    assert_eq!(again["widgets"][0]["result"]["cached"], json!(true));
    assert_eq!(
        again["widgets"][0]["result"]["rows"],
        w[0]["result"]["rows"]
    );
    let (_, de) = admin.get("/api/v1/dashboards/mixed/data").await;
    assert_eq!(de["variables"]["country"], json!("DE"), "default applies");
    assert_eq!(
        de["widgets"][0]["result"]["cached"],
        json!(false),
        "other params, other cache entry"
    );
    let (_, fresh) = admin
        .get("/api/v1/dashboards/mixed/data?country=FR&refresh=true")
        .await;
    assert_eq!(fresh["widgets"][0]["result"]["cached"], json!(false));
    let (s, b) = admin.get("/api/v1/dashboards/mixed/data?country=XX").await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("country"))
    );

    // Update and delete by hand work for API-created dashboards.
    let mut spec = dashboard("SELECT 2 AS two", "published");
    spec["title"] = json!("Renamed");
    let (s, b) = admin
        .put("/api/v1/dashboards/mixed", json!({"spec": spec}))
        .await;
    assert_eq!(
        (s, b["spec"]["title"].clone()),
        (StatusCode::OK, json!("Renamed"))
    );
    assert_eq!(
        admin.delete("/api/v1/dashboards/mixed").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin.get("/api/v1/dashboards/mixed").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, text) = server.get_text("/metrics").await;
    assert!(text.contains("nexbii_query_cache_hits_total 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_provision_read_only_records_and_follow_changes() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let t = unique("m");
    sample_data::generate(&dir.path().join("sales.db"))
        .await
        .unwrap();
    let source = format!(
        "apiVersion: nexbii.io/v1alpha1\nkind: DataSource\nmetadata: {{name: sales}}\nspec:\n  tenantRef: {{name: {t}}}\n  type: sqlite\n  path: sales.db\n"
    );
    let dash = |title: &str| {
        format!(
            "apiVersion: nexbii.io/v1alpha1\nkind: Dashboard\nmetadata: {{name: d1}}\nspec:\n  tenantRef: {{name: {t}}}\n  title: {title}\n  publication: published\n  widgets:\n  - id: n\n    chart: number\n    query: {{dataSource: sales, sql: SELECT count(*) FROM orders}}\n"
        )
    };
    let broken = format!(
        "apiVersion: nexbii.io/v1alpha1\nkind: Dashboard\nmetadata: {{name: broken}}\nspec:\n  tenantRef: {{name: {t}}}\n  widgets: []\n"
    );
    let bad_sql = format!(
        "apiVersion: nexbii.io/v1alpha1\nkind: Dashboard\nmetadata: {{name: badsql}}\nspec:\n  tenantRef: {{name: {t}}}\n  title: Bad\n  widgets:\n  - id: w\n    chart: table\n    query: {{dataSource: sales, sql: DROP TABLE orders}}\n"
    );
    let applied = server
        .apply_yaml(
            dir.path(),
            &[
                ("tenant.yaml", &tenant_yaml(&t, PW)),
                ("source.yaml", &source),
                ("dash.yaml", &dash("First")),
                ("broken.yaml", &broken),
                ("badsql.yaml", &bad_sql),
            ],
        )
        .await;
    assert_eq!(
        (applied.tenants, applied.datasources, applied.dashboards),
        (1, 1, 2),
        "{:?}",
        applied.problems
    );
    assert!(
        applied
            .problems
            .iter()
            .any(|p| p.contains("broken.yaml") && p.contains("title")),
        "{:?}",
        applied.problems
    );
    assert!(
        applied
            .problems
            .iter()
            .any(|p| p.contains("Dashboard/badsql") && p.contains("DROP")),
        "{:?}",
        applied.problems
    );

    let admin = server.login(&t, "admin", PW).await;
    let (_, d) = admin.get("/api/v1/dashboards/d1").await;
    assert_eq!(
        (d["spec"]["title"].clone(), d["origin"].clone()),
        (json!("First"), json!("manifests"))
    );
    let (_, bad) = admin.get("/api/v1/dashboards/badsql").await;
    assert!(
        bad["validationErrors"][0]
            .as_str()
            .unwrap()
            .starts_with("w: "),
        "{bad}"
    );
    let (s, data) = admin.get("/api/v1/dashboards/d1/data").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(data["widgets"][0]["result"]["rows"][0][0], json!(4000));

    // Provisioned records are read-only through the API.
    let (s, b) = admin
        .put(
            "/api/v1/dashboards/d1",
            json!({"spec": {"title": "hand edit"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(
        admin.delete("/api/v1/dashboards/d1").await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        admin.delete("/api/v1/datasources/sales").await.0,
        StatusCode::CONFLICT
    );

    // Re-applying unchanged YAML keeps the source revision (no pool churn).
    let rev = admin.get("/api/v1/datasources/sales").await.1["revision"].clone();
    manifests::load_and_apply(&server.state, dir.path())
        .await
        .unwrap();
    assert_eq!(
        admin.get("/api/v1/datasources/sales").await.1["revision"],
        rev
    );

    // The watcher follows edits and removals.
    tokio::spawn(manifests::watch(
        server.state.clone(),
        dir.path().to_path_buf(),
        Duration::from_millis(100),
    ));
    tokio::time::sleep(Duration::from_millis(150)).await;
    std::fs::write(dir.path().join("dash.yaml"), dash("Second")).unwrap();
    std::fs::remove_file(dir.path().join("badsql.yaml")).unwrap();
    let mut title = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        title = admin.get("/api/v1/dashboards/d1").await.1["spec"]["title"].clone();
        if title == json!("Second")
            && admin.get("/api/v1/dashboards/badsql").await.0 == StatusCode::NOT_FOUND
        {
            break;
        }
    }
    assert_eq!(title, json!("Second"));
    assert_eq!(
        admin.get("/api/v1/dashboards/badsql").await.0,
        StatusCode::NOT_FOUND,
        "removed from folder, removed from instance"
    );
    // The bootstrap admin is not recreated or overwritten on re-apply.
    assert_eq!(
        server
            .login(&t, "admin", PW)
            .await
            .get("/api/v1/auth/me")
            .await
            .0,
        StatusCode::OK
    );
}

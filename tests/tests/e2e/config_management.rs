//! Configuration management over real HTTP, on both stores: the settings document (defaults
//! from the Tenant, what the Tenant declares read-only, limits, the IP allow-list, query
//! settings taking effect), feature flags (declared, stored, per role, gating routes),
//! configuration history with diff and rollback (provisioned objects refused), and the runtime
//! configuration view with secrets redacted.
use nexbii_tests::{tenant_yaml, unique, Client2, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";

/// A tenant that declares part of its settings and one flag, with the sales source.
fn tenant_doc(t: &str) -> String {
    tenant_yaml(t, PW).replace(
        "  limits:\n",
        "  settings:\n    sessions:\n      idleTimeoutMinutes: 20\n  features:\n    insights: true\n  limits:\n",
    )
}

async fn setup(server: &TestServer, t: &str) -> Client2 {
    let yaml = tenant_doc(t);
    let dir = tempfile::tempdir().unwrap();
    let applied = server
        .apply_yaml(dir.path(), &[("tenant.yaml", &yaml)])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let admin = server.login(t, "admin", PW).await;
    server.add_sales(&admin, &format!("{t}.db")).await;
    admin
}

async fn user(server: &TestServer, admin: &Client2, t: &str, name: &str, role: &str) -> Client2 {
    let pw = format!("{name}-password-123");
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": name, "role": role, "password": pw}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    server.login(t, name, &pw).await
}

fn field(b: &Value) -> &str {
    b["field"].as_str().unwrap_or_default()
}

async fn settings_scenario(server: &TestServer) {
    let t = unique("cfg");
    let admin = setup(server, &t).await;

    // Defaults come from the Tenant's spec.auth/spec.limits; declared values are marked.
    let (s, b) = admin.get("/api/v1/admin/settings").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["settings"]["query"]["rowLimit"], 1000);
    assert_eq!(b["settings"]["lockout"]["maxFailedLogins"], 3);
    assert_eq!(b["settings"]["sessions"]["idleTimeoutMinutes"], 20);
    assert_eq!(b["sources"]["sessions.idleTimeoutMinutes"], "tenant");
    assert_eq!(b["sources"]["query.rowLimit"], "default");
    assert_eq!(b["declaredBy"], format!("Tenant/{t}"));
    assert_eq!(b["revision"], 0);

    // What the Tenant declares cannot change here: 409 naming the field and the resource.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"sessions": {"idleTimeoutMinutes": 30}}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(field(&b), "sessions.idleTimeoutMinutes");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("Tenant/{t}")),
        "{b}"
    );

    // Beyond the Tenant's limits, unknown fields, out of range: 422 naming the field.
    for (body, f) in [
        (json!({"query": {"rowLimit": 1001}}), "query.rowLimit"),
        (json!({"query": {"rows": 5}}), "query.rows"),
        (
            json!({"lockout": {"lockoutMinutes": 0}}),
            "lockout.lockoutMinutes",
        ),
        (json!({"mfa": {"required": "sometimes"}}), "mfa.required"),
        (
            json!({"network": {"ipAllowList": ["10.0.0.0/8"]}}),
            "network.ipAllowList",
        ),
    ] {
        let (s, b) = admin.put("/api/v1/admin/settings", body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {b}");
        assert_eq!(field(&b), f, "{body}: {b}");
    }

    // A valid change is stored and in force: the row limit reaches the query path.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"query": {"rowLimit": 7}, "mfa": {"required": "admins"}, "sessions": {"idleTimeoutMinutes": 20}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["settings"]["query"]["rowLimit"], 7);
    assert_eq!(b["sources"]["query.rowLimit"], "api");
    assert_eq!(b["sources"]["sessions.idleTimeoutMinutes"], "tenant");
    assert_eq!(b["revision"], 1);
    let (s, r) = admin
        .run("sales", "SELECT id FROM customers", json!([]))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["rows"].as_array().unwrap().len(), 7, "{r}");
    assert_eq!(r["truncated"], true);

    // Optimistic concurrency: a stale If-Match is refused.
    let resp = admin
        .http
        .put(format!("{}/api/v1/admin/settings", admin.base))
        .bearer_auth(&admin.token)
        .header("if-match", "\"0\"")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    // The IP allow-list: including the caller's address works; then an address outside it is
    // refused on every authenticated request, before any handler.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"network": {"ipAllowList": ["127.0.0.0/8", "::1"]}, "query": {"rowLimit": 7}, "mfa": {"required": "admins"}, "sessions": {"idleTimeoutMinutes": 20}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = admin.get("/api/v1/dashboards").await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = admin.get("/api/v1/admin/history?kind=settings").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let versions: Vec<u64> = b
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1], "{b}");
    assert_eq!(b[0]["changes"], json!(["values.network"]));
    // Settings history can be rolled back too: version 1 had no allow-list.
    let (s, b) = admin
        .post(
            "/api/v1/admin/history/settings/settings/versions/1/rollback",
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["version"], 3);
    assert_eq!(b["rolledBackFrom"], 1);
    let (_, b) = admin.get("/api/v1/admin/settings").await;
    assert_eq!(b["settings"]["network"]["ipAllowList"], json!([]));
    assert_eq!(b["settings"]["query"]["rowLimit"], 7);

    // Another tenant's admin sees nothing of this one.
    let other = unique("cfo");
    let admin2 = server.tenant(&other, PW).await;
    let (_, b) = admin2.get("/api/v1/admin/history?kind=settings").await;
    assert_eq!(b, json!([]));

    // Viewers may not read settings.
    let viewer = user(server, &admin, &t, "val", "viewer").await;
    let (s, _) = viewer.get("/api/v1/admin/settings").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn allow_list_scenario(server: &TestServer) {
    let t = unique("ipl");
    let admin = setup(server, &t).await;
    // Written to the store by an admin elsewhere (the API refuses a list that locks its caller
    // out): every request from here is refused from then on, with a problem naming the list.
    let scope = nexbii_controlplane::store::TenantScope::new(&t).unwrap();
    let rec = nexbii_controlplane::admin::settings::model::SettingsRecord {
        id: "settings".into(),
        values: json!({"network": {"ipAllowList": ["10.9.9.0/24"]}})
            .as_object()
            .unwrap()
            .clone(),
        meta: Default::default(),
    };
    server
        .state
        .writer
        .save(
            &scope,
            &nexbii_controlplane::store::write::Actor::System,
            rec,
            nexbii_controlplane::store::Expect::Absent,
        )
        .await
        .unwrap();
    let (s, b) = admin.get("/api/v1/dashboards").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("allow-list"), "{b}");
    // Logins from here are refused too, before any password is looked at.
    let (s, b) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"tenant": t, "username": "admin", "password": PW})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    // Health stays open.
    let (s, _) = server.get_text("/healthz").await;
    assert_eq!(s, StatusCode::OK);
}

async fn features_scenario(server: &TestServer) {
    let t = unique("ff");
    let admin = setup(server, &t).await;
    let viewer = user(server, &admin, &t, "vic", "viewer").await;
    let editor = user(server, &admin, &t, "eve", "editor").await;

    let (s, b) = viewer.get("/api/v1/features").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["features"]["sharing"], true);
    assert_eq!(b["features"]["insights"], true);

    // The declared flag is read-only here.
    let (s, b) = admin
        .put("/api/v1/admin/features/insights", json!({"enabled": false}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(field(&b), "features.insights");

    // Turning sharing off closes its routes, for every role, before the handler.
    let (s, b) = editor
        .post("/api/v1/shares", json!({"resource": "dashboard/none"}))
        .await;
    assert_ne!(s, StatusCode::FORBIDDEN, "reached the handler: {b}");
    let (s, b) = admin
        .put("/api/v1/admin/features/sharing", json!({"enabled": false}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["source"], "api");
    let (s, b) = editor
        .post("/api/v1/shares", json!({"resource": "dashboard/none"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("sharing"), "{b}");
    let (_, b) = editor.get("/api/v1/features").await;
    assert_eq!(b["features"]["sharing"], false);

    // Per role, and listed users whatever their role.
    let (s, b) = admin
        .put(
            "/api/v1/admin/features/sharing",
            json!({"enabled": true, "roles": ["editor", "admin"], "users": ["vic"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let other = user(server, &admin, &t, "olga", "viewer").await;
    for (who, on) in [(&editor, true), (&viewer, true), (&other, false)] {
        let (_, b) = who.get("/api/v1/features").await;
        assert_eq!(b["features"]["sharing"], on, "{b}");
    }
    let (s, _) = other.get("/api/v1/shares").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = viewer.get("/api/v1/shares").await;
    assert_eq!(s, StatusCode::OK);

    // Bad input names the field; deleting returns a known feature to its default.
    let (s, b) = admin
        .put(
            "/api/v1/admin/features/beta",
            json!({"enabled": true, "rolloutPercent": 101}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "rolloutPercent");
    let (s, _) = admin.delete("/api/v1/admin/features/sharing").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, b) = other.get("/api/v1/features").await;
    assert_eq!(b["features"]["sharing"], true);
    let (s, _) = admin.delete("/api/v1/admin/features/sharing").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, b) = admin.get("/api/v1/admin/features").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let insights = b
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "insights")
        .unwrap();
    assert_eq!(insights["source"], "tenant");
    let (s, _) = viewer.get("/api/v1/admin/features").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Flag changes are versioned: set, changed, deleted.
    let (_, b) = admin
        .get("/api/v1/admin/history?kind=features&name=sharing")
        .await;
    let actions: Vec<&str> = b
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["deleted", "updated", "created"], "{b}");
}

fn dash(title: &str) -> Value {
    json!({"title": title, "widgets": [{"id": "n", "chart": "number",
        "query": {"dataSource": "sales", "sql": "SELECT count(*) AS n FROM customers"}}]})
}

async fn history_scenario(server: &TestServer) {
    let t = unique("his");
    let admin = setup(server, &t).await;
    let (s, b) = admin
        .post(
            "/api/v1/dashboards",
            json!({"name": "kpis", "spec": dash("One")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    for title in ["Two", "Three"] {
        let (s, b) = admin
            .put("/api/v1/dashboards/kpis", json!({"spec": dash(title)}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, b) = admin
        .get("/api/v1/admin/history?kind=dashboards&name=kpis")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let list = b.as_array().unwrap();
    assert_eq!(list.len(), 3, "{b}");
    assert_eq!(list[0]["version"], 3);
    assert_eq!(list[0]["author"], "user:admin");
    assert_eq!(list[0]["source"], "api");
    assert_eq!(list[0]["changes"], json!(["spec.title"]));
    assert_eq!(list[2]["action"], "created");
    assert!(list[0].get("value").is_none(), "lists carry no values");

    let (s, b) = admin
        .get("/api/v1/admin/history/dashboards/kpis/versions/2")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["value"]["spec"]["title"], "Two");
    assert!(b["value"].get("revision").is_none());

    let (s, b) = admin
        .get("/api/v1/admin/history/dashboards/kpis/diff?from=1&to=3")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["patch"],
        json!([{"op": "replace", "path": "/spec/title", "value": "Three"}])
    );

    // Rollback writes version 1's content as version 4, through the dashboard's own checks.
    let (s, b) = admin
        .post(
            "/api/v1/admin/history/dashboards/kpis/versions/1/rollback",
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["version"].as_u64(), b["rolledBackFrom"].as_u64()),
        (Some(4), Some(1))
    );
    let (_, d) = admin.get("/api/v1/dashboards/kpis").await;
    assert_eq!(d["spec"]["title"], "One");

    // A deleted object: its deletion is a version, and rollback brings it back.
    let (s, _) = admin.delete("/api/v1/dashboards/kpis").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = admin
        .post(
            "/api/v1/admin/history/dashboards/kpis/versions/5/rollback",
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(field(&b), "version");
    let (s, b) = admin
        .post(
            "/api/v1/admin/history/dashboards/kpis/versions/2/rollback",
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["version"], 6);
    let (s, d) = admin.get("/api/v1/dashboards/kpis").await;
    assert_eq!(
        (s, d["spec"]["title"].as_str()),
        (StatusCode::OK, Some("Two"))
    );

    // A data source's credentials never show, even sealed.
    let (s, b) = admin
        .get("/api/v1/admin/history?kind=datasources&name=sales")
        .await;
    assert_eq!(
        (s, b.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1)),
        "{b}"
    );

    // Provisioned objects show their GitOps source and are not rolled back here.
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "apiVersion: nexbii.io/v1alpha1\nkind: Dashboard\nmetadata:\n  name: prov\nspec:\n  tenantRef:\n    name: {t}\n  title: From Git\n  widgets: []\n"
    );
    let tenant = tenant_doc(&t);
    let applied = server
        .apply_yaml(dir.path(), &[("tenant.yaml", &tenant), ("d.yaml", &yaml)])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let (_, b) = admin
        .get("/api/v1/admin/history?kind=dashboards&name=prov")
        .await;
    assert_eq!(b[0]["source"], "manifests", "{b}");
    assert_eq!(b[0]["author"], "manifests");
    let (s, b) = admin
        .post(
            "/api/v1/admin/history/dashboards/prov/versions/1/rollback",
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(field(&b), "origin");
    assert!(b["detail"].as_str().unwrap().contains("manifests"), "{b}");

    // Bad parameters name themselves.
    for (path, f) in [
        ("/api/v1/admin/history?kind=users", "kind"),
        ("/api/v1/admin/history?name=kpis", "kind"),
        ("/api/v1/admin/history?since=1", "since"),
        ("/api/v1/admin/history/dashboards/kpis/diff?from=x", "from"),
        (
            "/api/v1/admin/history/dashboards/kpis/versions/x",
            "version",
        ),
    ] {
        let (s, b) = admin.get(path).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {b}");
        assert_eq!(field(&b), f, "{path}");
    }
    let (s, _) = admin
        .get("/api/v1/admin/history/dashboards/kpis/versions/99")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_on_the_embedded_store() {
    settings_scenario(&TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_on_mongodb() {
    let (server, _, _) = TestServer::on_mongo("nexbii_cfg_", |_| {}).await;
    settings_scenario(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allow_list_refuses_other_addresses() {
    allow_list_scenario(&TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn feature_flags_on_the_embedded_store() {
    features_scenario(&TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn feature_flags_on_mongodb() {
    let (server, _, _) = TestServer::on_mongo("nexbii_ff_", |_| {}).await;
    features_scenario(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_on_the_embedded_store() {
    history_scenario(&TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_on_mongodb() {
    let (server, _, _) = TestServer::on_mongo("nexbii_his_", |_| {}).await;
    history_scenario(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runtime_configuration_redacts_secrets() {
    let server = TestServer::start().await;
    let t = unique("rt");
    let admin = server.tenant(&t, PW).await;
    std::env::set_var("NEXBII_TEST_RUNTIME_SECRET", "do-not-show-me");
    let (s, b) = admin.get("/api/v1/admin/config").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["store"], "embedded");
    assert!(!b["version"].as_str().unwrap().is_empty());
    let env = b["environment"].as_array().unwrap();
    let secret = env
        .iter()
        .find(|v| v["name"] == "NEXBII_TEST_RUNTIME_SECRET")
        .unwrap();
    assert_eq!(secret["value"], "(redacted)");
    assert!(!b.to_string().contains("do-not-show-me"));
    let (s, _) = server
        .call(None, Method::GET, "/api/v1/admin/config", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

//! Configuration export and import over real HTTP, on both stores: export → import into a fresh
//! instance → export again is byte-identical; a dry run and a failed atomic import change
//! nothing; passwords never leave as values and a Secret reference must resolve; objects
//! provisioned from YAML are never overwritten; the export loads through `--manifests` as is.
use nexbii_controlplane::provisioning::manifests;
use nexbii_tests::{postgres_url, tenant_yaml, unique, Client2, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PW: &str = "admin-password-123";
const DB_PASSWORD: &str = "pw-never-exported-4711";

/// The test PostgreSQL as `(host, port, database, username)`.
fn postgres() -> (String, u16, String, String) {
    let url = postgres_url();
    let rest = url.split("://").nth(1).unwrap();
    let (user, rest) = rest.split_once('@').unwrap();
    let user = user.split(':').next().unwrap().to_string();
    let (hostport, db) = rest.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    let db = db.split('?').next().unwrap().to_string();
    (host.into(), port.parse().unwrap(), db, user)
}

/// The tenant declares one setting (read-only in its instance) and has a manifest policy.
fn tenant_files(t: &str, with_policy: bool) -> Vec<(String, String)> {
    let tenant = tenant_yaml(t, PW).replace(
        "  limits:\n",
        "  settings:\n    sessions:\n      idleTimeoutMinutes: 20\n  limits:\n",
    );
    let mut files = vec![("tenant.yaml".to_string(), tenant)];
    if with_policy {
        files.push((
            "policy.yaml".into(),
            format!(
                "apiVersion: nexbii.io/v1alpha1\nkind: GovernancePolicy\nmetadata:\n  name: baseline\nspec:\n  tenantRef: {{name: {t}}}\n  audit:\n    retentionDays: 30\n"
            ),
        ));
    }
    files
}

async fn declare(server: &TestServer, t: &str, with_policy: bool) -> Client2 {
    let dir = tempfile::tempdir().unwrap();
    let files = tenant_files(t, with_policy);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let applied = server.apply_yaml(dir.path(), &files).await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    server.login(t, "admin", PW).await
}

/// The source instance's configuration: two sources (one with a password), a saved query, a
/// dashboard, a stored setting, and the manifest policy.
async fn populate(server: &TestServer, admin: &Client2, t: &str) -> String {
    server.add_sales(admin, &format!("{t}.db")).await;
    let (host, port, database, username) = postgres();
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "warehouse", "spec": {"type": "postgresql", "host": host, "port": port,
                "database": database, "username": username, "tls": {"mode": "disable"}},
                "password": DB_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, q) = admin
        .post(
            "/api/v1/queries",
            json!({"name": "Orders by region", "description": "for the weekly review",
                "dataSource": "sales", "sql": "SELECT count(*) AS n FROM orders WHERE id > ?",
                "params": [0]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let (s, b) = admin
        .post(
            "/api/v1/dashboards",
            json!({"name": "kpis", "spec": {"title": "KPIs", "tags": ["weekly"], "widgets": [
                {"id": "orders", "chart": "number", "query": {"dataSource": "sales",
                    "sql": "SELECT count(*) AS n FROM orders"}}]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"query": {"rowLimit": 7}, "sessions": {"idleTimeoutMinutes": 20}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    q["id"].as_str().unwrap().to_string()
}

async fn export(admin: &Client2, format: &str) -> (String, String) {
    let r = admin
        .http
        .get(format!("{}/api/v1/admin/export{format}", admin.base))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    (ctype, r.text().await.unwrap())
}

async fn import(admin: &Client2, query: &str, ctype: &str, body: &str) -> (StatusCode, Value) {
    let r = admin
        .http
        .post(format!("{}/api/v1/admin/import{query}", admin.base))
        .bearer_auth(&admin.token)
        .header("content-type", ctype)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    if !status.is_success() {
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    (status, r.json().await.unwrap())
}

/// `kind/name -> action` of an import report.
fn actions(report: &Value) -> Vec<String> {
    report
        .as_array()
        .unwrap_or_else(|| panic!("not a report: {report}"))
        .iter()
        .map(|r| {
            format!(
                "{}/{}={}",
                r["kind"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
                r["action"].as_str().unwrap()
            )
        })
        .collect()
}

fn secret_doc() -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: datasource-warehouse-credentials\nstringData:\n  password: {DB_PASSWORD}\n"
    )
}

async fn round_trip(a: &TestServer, b: &TestServer) {
    let t = unique("exp");
    let admin_a = declare(a, &t, true).await;
    let qid = populate(a, &admin_a, &t).await;

    // YAML by default; the JSON List holds the same documents.
    let (ctype, yaml) = export(&admin_a, "").await;
    assert_eq!(ctype, "application/yaml");
    assert!(!yaml.contains(DB_PASSWORD), "a password was exported");
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let kinds: Vec<String> = docs
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            format!("Tenant/{t}"),
            "DataSource/sales".into(),
            "DataSource/warehouse".into(),
            "GovernancePolicy/baseline".into(),
            format!("SavedQuery/{qid}"),
            "Dashboard/kpis".into(),
        ]
    );
    assert!(docs.iter().all(|d| d["apiVersion"] == "nexbii.io/v1alpha1"));
    let warehouse = &docs[2];
    assert_eq!(
        warehouse["spec"]["passwordSecretRef"],
        json!({"name": "datasource-warehouse-credentials", "key": "password"})
    );
    assert!(
        warehouse["metadata"]["annotations"]["nexbii.io/secret-keys"]
            .as_str()
            .unwrap()
            .contains("datasource-warehouse-credentials")
    );
    assert!(docs[1]["spec"].get("passwordSecretRef").is_none());
    assert_eq!(
        docs[0]["spec"]["settings"],
        json!({"sessions": {"idleTimeoutMinutes": 20}, "query": {"rowLimit": 7}})
    );
    assert_eq!(docs[4]["spec"]["displayName"], "Orders by region");
    assert_eq!(docs[4]["spec"]["params"], json!([0]));
    let (ctype, list) = export(&admin_a, "?format=json").await;
    assert_eq!(ctype, "application/json");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"], Value::Array(docs.clone()));

    // A fresh instance with the same Tenant.
    let admin_b = declare(b, &t, false).await;
    let root = &b.state.settings.sqlite_root;
    std::fs::create_dir_all(root).unwrap();
    nexbii_controlplane::sample_data::generate(&root.join(format!("{t}.db")))
        .await
        .unwrap();
    let (_, fresh) = export(&admin_b, "").await;
    let with_secret = format!("{yaml}{}", secret_doc());

    // A dry run reports what would happen and changes nothing.
    let (s, r) = import(&admin_b, "?dryRun=true", "application/yaml", &with_secret).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        actions(&r),
        [
            format!("Tenant/{t}=updated"),
            "DataSource/sales=created".into(),
            "DataSource/warehouse=created".into(),
            "GovernancePolicy/baseline=created".into(),
            format!("SavedQuery/{qid}=created"),
            "Dashboard/kpis=created".into(),
        ]
    );
    assert_eq!(export(&admin_b, "").await.1, fresh, "the dry run wrote");

    // Without the Secret the reference does not resolve: the error names it, and the atomic
    // import (the default) applies nothing.
    let (s, r) = import(&admin_b, "", "application/yaml", &yaml).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let failed = r
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "warehouse")
        .unwrap();
    assert_eq!(failed["action"], "error", "{r}");
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .contains("datasource-warehouse-credentials"));
    assert!(
        r.as_array()
            .unwrap()
            .iter()
            .filter(|x| x["name"] != "warehouse")
            .all(|x| x["action"] == "skipped"),
        "{r}"
    );
    assert_eq!(
        export(&admin_b, "").await.1,
        fresh,
        "a failed atomic import wrote"
    );
    let (_, sources) = admin_b.get("/api/v1/datasources").await;
    assert_eq!(sources, json!([]));

    // Not atomic: what passed is applied, what failed is reported.
    let mut broken = docs.clone();
    broken[4]["spec"]["dataSource"] = json!("nowhere");
    broken.push(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "datasource-warehouse-credentials"},
        "stringData": {"password": DB_PASSWORD}}));
    let broken = serde_json::to_string(&broken).unwrap();
    let (s, r) = import(&admin_b, "?atomic=false", "application/json", &broken).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let a = actions(&r);
    assert!(a.contains(&format!("SavedQuery/{qid}=error")), "{a:?}");
    assert!(a.contains(&"Dashboard/kpis=created".to_string()), "{a:?}");
    assert!(
        a.contains(&"DataSource/warehouse=created".to_string()),
        "{a:?}"
    );

    // The real import completes it; exporting again gives the same document.
    let (s, r) = import(&admin_b, "", "application/yaml", &with_secret).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(
        actions(&r).contains(&format!("SavedQuery/{qid}=created")),
        "{r}"
    );
    assert_eq!(export(&admin_b, "").await.1, yaml);
    // The password arrived sealed, the query works, and the writes went through the write path.
    let (_, w) = admin_b.get("/api/v1/datasources/warehouse").await;
    assert_eq!(w["hasPassword"], true, "{w}");
    let (s, run) = admin_b
        .post(&format!("/api/v1/queries/{qid}/run"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{run}");
    let (_, hist) = admin_b
        .get("/api/v1/admin/history?kind=dashboards&name=kpis")
        .await;
    assert_eq!(hist[0]["author"], "user:admin", "{hist}");
    let (_, settings) = admin_b.get("/api/v1/admin/settings").await;
    assert_eq!(settings["settings"]["query"]["rowLimit"], 7, "{settings}");
    assert_eq!(settings["stored"], json!({"query": {"rowLimit": 7}}));

    // Importing again changes nothing; JSON bodies are read too.
    let (s, r) = import(
        &admin_b,
        "",
        "application/json",
        &serde_json::to_string(&list).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(
        r.as_array()
            .unwrap()
            .iter()
            .all(|x| x["action"] == "unchanged"),
        "{r}"
    );

    // Back into the source instance: the manifest policy is owned by its YAML, never overwritten.
    let changed = yaml.replace("retentionDays: 30", "retentionDays: 31");
    let (s, r) = import(&admin_a, "?atomic=false", "application/yaml", &changed).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let policy = r
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "GovernancePolicy")
        .unwrap();
    assert_eq!(policy["action"], "error");
    assert!(
        policy["error"].as_str().unwrap().contains("409"),
        "{policy}"
    );
    assert!(
        actions(&r).contains(&"Dashboard/kpis=unchanged".to_string()),
        "{r}"
    );
    let (_, again) = export(&admin_a, "").await;
    assert!(again.contains("retentionDays: 30"));

    // Unreadable documents: 400 naming the document and the field; a viewer may not import.
    let bad = format!("{yaml}---\napiVersion: nexbii.io/v1alpha1\nkind: Dashboard\nmetadata:\n  name: x\nspec:\n  tenantRef: {{name: {t}}}\n  title: 5\n  widgets: [{{id: w, chart: donut}}]\n");
    let (s, p) = import(&admin_b, "", "application/yaml", &bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    assert_eq!(p["field"], "documents[6].spec.title", "{p}");
    let (s, _) = import(&admin_b, "?dryrun=true", "application/yaml", &yaml).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn export_import_round_trip_on_the_embedded_store() {
    round_trip(&TestServer::start().await, &TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_import_round_trip_on_mongodb() {
    let (a, _, _) = TestServer::on_mongo("nexbii_exp_a_", |_| {}).await;
    let (b, _, _) = TestServer::on_mongo("nexbii_exp_b_", |_| {}).await;
    round_trip(&a, &b).await;
}

/// What export writes is a folder `--manifests` applies as is (with the Secret it names), the
/// saved query included, and only admins may export.
#[tokio::test(flavor = "multi_thread")]
async fn the_export_loads_through_manifests() {
    let a = TestServer::start().await;
    let t = unique("exm");
    let admin = declare(&a, &t, true).await;
    let qid = populate(&a, &admin, &t).await;
    let (s, v) = admin
        .post(
            "/api/v1/users",
            json!({"username": "vic", "role": "viewer", "password": "zebra-lantern-123"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let viewer = a.login(&t, "vic", "zebra-lantern-123").await;
    let (s, _) = viewer.get("/api/v1/admin/export").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = import(&viewer, "", "application/yaml", "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (_, yaml) = export(&admin, "").await;
    let c = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The SQLite path was relative to the API's folder; in a manifests folder it is relative
    // to the folder.
    std::fs::copy(
        a.state.settings.sqlite_root.join(format!("{t}.db")),
        dir.path().join(format!("{t}.db")),
    )
    .unwrap();
    std::fs::write(dir.path().join("export.yaml"), &yaml).unwrap();
    std::fs::write(dir.path().join("secret.yaml"), secret_doc()).unwrap();
    let applied = manifests::load_and_apply(&c.state, dir.path())
        .await
        .unwrap();
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    assert_eq!(
        (
            applied.tenants,
            applied.datasources,
            applied.policies,
            applied.queries,
            applied.dashboards
        ),
        (1, 2, 1, 1, 1)
    );
    let scope = nexbii_controlplane::store::TenantScope::new(&t).unwrap();
    use nexbii_controlplane::store::StoreExt;
    let q = c
        .state
        .store
        .get_as::<nexbii_controlplane::bi::queries::SavedQuery>(&scope, &qid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (q.name.as_str(), q.origin),
        (
            "Orders by region",
            nexbii_controlplane::store::Origin::Manifests
        )
    );
    // The export carries no accounts: the Tenant's bootstrap admin is not created from it.
    let (s, b) = c
        .call(
            None,
            reqwest::Method::POST,
            "/api/v1/auth/login",
            Some(json!({"tenant": t, "username": "admin", "password": PW})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    // A second apply of the same folder changes nothing; removing the query prunes it.
    let again = manifests::load_and_apply(&c.state, dir.path())
        .await
        .unwrap();
    assert!(again.problems.is_empty(), "{:?}", again.problems);
    let without = yaml
        .split("---\n")
        .filter(|d| !d.contains("kind: SavedQuery"))
        .collect::<Vec<_>>()
        .join("---\n");
    std::fs::write(dir.path().join("export.yaml"), without).unwrap();
    let pruned = manifests::load_and_apply(&c.state, dir.path())
        .await
        .unwrap();
    assert_eq!(pruned.removed, 1, "{:?}", pruned.problems);
}

//! The audit log over real HTTP: what is audited and how it reads (filters, pages, exports),
//! that it never holds a secret or a clear masked value, that editing or deleting a stored
//! entry directly in the store (embedded SQLite file and MongoDB-wire server) is found by
//! `verify`, and that pruning by retention keeps the rest verifiable.
use nexbii_controlplane::{audit::retention, store::TenantScope};
use nexbii_tests::{mongo_url, tenant_yaml, unique, Client2, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";

async fn entries(admin: &Client2, query: &str) -> Vec<Value> {
    let (s, b) = admin.get(&format!("/api/v1/audit{query}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b.as_array().unwrap().clone()
}

async fn verify(admin: &Client2) -> Value {
    let (s, b) = admin.get("/api/v1/audit/verify").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn export(admin: &Client2, format: &str) -> (StatusCode, String, String) {
    let r = admin
        .http
        .get(format!(
            "{}/api/v1/audit/export?format={format}",
            admin.base
        ))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status(), ctype, r.text().await.unwrap())
}

fn masking_policy(tenant: &str) -> String {
    format!(
        r#"apiVersion: nexbii.io/v1alpha1
kind: GovernancePolicy
metadata:
  name: pii
spec:
  tenantRef:
    name: {tenant}
  classification:
    autoClassify: true
  masking:
    - level: confidential
      action: partial
      exemptRoles: [admin]
  audit:
    retentionDays: 30
"#
    )
}

/// Declares tenant `t` with the policy above.
async fn with_policy(server: &TestServer, t: &str) {
    let dir = tempfile::tempdir().unwrap();
    let applied = server
        .apply_yaml(
            dir.path(),
            &[
                ("tenant.yaml", &tenant_yaml(t, PW)),
                ("policy.yaml", &masking_policy(t)),
            ],
        )
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_audited_and_read_back() {
    let server = TestServer::start().await;
    let t = unique("aud");
    with_policy(&server, &t).await;

    // A failed login is audited under the name that was typed, as denied.
    let (s, _) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"tenant": t, "username": "admin", "password": "wrong-password-1"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let admin = server.login(&t, "admin", PW).await;
    server.add_sales(&admin, &format!("{t}.db")).await;
    let (s, b) = admin
        .post("/api/v1/catalog/datasources/sales/sync", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "ed", "role": "editor", "password": "user-password-123"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let editor = server.login(&t, "ed", "user-password-123").await;

    // The clear value an exempt admin sees, and a literal of the statement: neither may reach
    // the audit log.
    let (s, clear) = admin
        .run(
            "sales",
            "SELECT email FROM customers WHERE id = 1",
            json!([]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{clear}");
    let email = clear["rows"][0][0].as_str().unwrap().to_string();
    let (s, masked) = editor
        .run(
            "sales",
            "SELECT email, name FROM customers WHERE name <> 'Zed Literalvalue' AND id = 1",
            json!([]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{masked}");
    assert_ne!(
        masked["rows"][0][0].as_str().unwrap(),
        email,
        "masked for the editor"
    );

    // An API key's requests are audited as the key's owner, via the key.
    let (s, k) = admin
        .post(
            "/api/v1/apikeys",
            json!({"name": "ci", "scopes": ["dashboards:write"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let key = Client2 {
        token: k["secret"].as_str().unwrap().to_string(),
        ..admin.clone()
    };
    let (s, b) = key
        .post(
            "/api/v1/dashboards",
            json!({"name": "ops", "spec": {"title": "Ops", "widgets": []}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Refused by the role: audited as denied.
    let (s, _) = editor
        .post(
            "/api/v1/users",
            json!({"username": "eve", "role": "admin", "password": "user-password-123"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Reads that change nothing and run nothing are not audited.
    let (s, _) = admin.get("/api/v1/dashboards").await;
    assert_eq!(s, StatusCode::OK);

    let all = entries(&admin, "?limit=1000").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(!actions.contains(&"dashboards.read"), "{actions:?}");
    // Newest first, numbered without gaps.
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).rev().collect::<Vec<_>>());
    let find = |action: &str, actor: &str| -> Vec<&Value> {
        all.iter()
            .filter(|e| e["action"] == action && e["actor"] == actor)
            .collect()
    };
    let logins = find("auth.login", "admin");
    assert_eq!(logins.len(), 2, "{logins:?}");
    let failed = logins.iter().find(|e| e["outcome"] == "denied").unwrap();
    assert_eq!(failed["status"], 401);
    assert_eq!(failed["client"], "127.0.0.1");
    assert!(logins.iter().any(|e| e["outcome"] == "success"));
    let by_key = find("dashboards.create", "admin");
    assert_eq!(by_key.len(), 1);
    assert_eq!(
        by_key[0]["via"],
        format!("key:{}", k["id"].as_str().unwrap())
    );
    assert_eq!(by_key[0]["target"], "/api/v1/dashboards");
    let denied = find("users.create", "ed");
    assert_eq!(denied[0]["outcome"], "denied");
    let runs = find("queries.run", "ed");
    assert_eq!(runs.len(), 1);
    let q = &runs[0]["queries"][0];
    assert_eq!(q["datasource"], "sales");
    assert_eq!(q["rows"], 1);
    // The name is classified as a person's name too; the e-mail certainly.
    assert!(
        q["masked"].as_array().unwrap().contains(&json!("email")),
        "{q}"
    );
    assert!(
        q["fingerprint"].as_str().unwrap().contains("customers"),
        "{q}"
    );
    assert_eq!(runs[0]["via"], "session");

    // Every answer names its request id, and the entry is filed under it.
    let r = admin
        .http
        .post(format!("{}/api/v1/auth/logout", admin.base))
        .bearer_auth(&editor.token)
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-42");
    let logout = entries(&admin, "?action=auth.logout").await;
    assert_eq!(logout.len(), 1);
    assert_eq!(logout[0]["requestId"], "trace-42");
    assert_eq!(logout[0]["actor"], "ed");

    // Filters and pages.
    let denied = entries(&admin, "?outcome=denied").await;
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(entries(&admin, "?actor=nobody").await.is_empty());
    let (s, b) = admin.get("/api/v1/audit?from=yesterday").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["errors"][0]["field"], "from", "{b}");
    let (s, _) = admin.get("/api/v1/audit?outcome=maybe").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let future = entries(&admin, "?from=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    let mut paged = Vec::new();
    let mut url = format!("{}/api/v1/audit?limit=3", admin.base);
    loop {
        let r = admin
            .http
            .get(&url)
            .bearer_auth(&admin.token)
            .send()
            .await
            .unwrap();
        let next = r
            .headers()
            .get("x-next-cursor")
            .map(|v| v.to_str().unwrap().to_string());
        let page: Vec<Value> = r.json().await.unwrap();
        paged.extend(page.into_iter().map(|e| e["seq"].as_u64().unwrap()));
        match next {
            Some(c) => url = format!("{}/api/v1/audit?limit=3&cursor={c}", admin.base),
            None => break,
        }
    }
    let now = entries(&admin, "?limit=1000").await;
    let want: Vec<u64> = now.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(paged, want, "pages walk the log newest first, once");

    // Only admins read the log; a key needs the audit scope.
    let (s, _) = editor.get("/api/v1/audit").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the editor logged out");
    let viewer_key = key.get("/api/v1/audit").await;
    assert_eq!(viewer_key.0, StatusCode::FORBIDDEN);

    // Exports stream every entry with its hashes; the export is itself audited.
    let (s, ctype, jsonl) = export(&admin, "jsonl").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ctype, "application/x-ndjson");
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Its own entry is appended before the body streams, so the export holds it too.
    assert_eq!(lines.len(), want.len() + 1, "one line per entry");
    assert_eq!(lines.last().unwrap()["action"], "audit.export");
    assert_eq!(lines[0]["seq"], 1, "oldest first");
    assert_eq!(
        lines[1]["prevHash"], lines[0]["hash"],
        "the chain is in the export"
    );
    let (s, ctype, csv) = export(&admin, "csv").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.starts_with("text/csv"));
    assert!(csv.starts_with("seq,at,actor,via,"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        1 + want.len() + 2,
        "header, entries, the jsonl export's and its own"
    );
    let (s, _, _) = export(&admin, "xml").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(entries(&admin, "?action=audit.export").await.len(), 3);

    // Never a secret, a password or a clear masked value.
    let everything = export(&admin, "jsonl").await.2;
    for secret in [
        email.as_str(),
        "Zed Literalvalue",
        PW,
        "wrong-password-1",
        "user-password-123",
        k["secret"].as_str().unwrap(),
        &admin.token,
    ] {
        assert!(
            !everything.contains(secret),
            "{secret:?} is in the audit log"
        );
    }

    let report = verify(&admin).await;
    assert_eq!(report["valid"], true, "{report}");
    assert!(report["entries"].as_u64().unwrap() >= want.len() as u64);
}

/// Edits and deletes an entry behind the API's back, through `tamper`, and checks `verify`.
async fn tamper_suite(server: &TestServer, tamper: &dyn Tamper) {
    let t = unique("tmp");
    let admin = server.tenant(&t, PW).await;
    for i in 0..12 {
        let (s, b) = admin
            .post(
                "/api/v1/dashboards",
                json!({"name": format!("d{i}"), "spec": {"title": "D", "widgets": []}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let report = verify(&admin).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["firstBroken"], Value::Null);

    // An edited actor: the entry's hash no longer matches.
    let id5 = format!("{:020}", 5);
    let original = tamper.read(&t, &id5).await;
    let mut edited: Value = serde_json::from_str(&original).unwrap();
    edited["actor"] = json!("somebody-else");
    tamper.write(&t, &id5, &edited.to_string()).await;
    let report = verify(&admin).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["firstBroken"]["seq"], 5, "{report}");
    assert!(
        report["firstBroken"]["reason"]
            .as_str()
            .unwrap()
            .contains("altered"),
        "{report}"
    );
    tamper.write(&t, &id5, &original).await;
    assert_eq!(
        verify(&admin).await["valid"],
        true,
        "restored, it verifies again"
    );

    // A deleted entry leaves a gap.
    let id7 = format!("{:020}", 7);
    tamper.delete(&t, &id7).await;
    let report = verify(&admin).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["firstBroken"]["seq"], 7, "{report}");
    assert!(
        report["firstBroken"]["reason"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{report}"
    );
}

#[async_trait::async_trait]
trait Tamper: Sync {
    async fn read(&self, tenant: &str, id: &str) -> String;
    async fn write(&self, tenant: &str, id: &str, doc: &str);
    async fn delete(&self, tenant: &str, id: &str);
}

/// The embedded store's SQLite file, opened beside the running server.
struct SqliteFile(sqlx::SqlitePool);

#[async_trait::async_trait]
impl Tamper for SqliteFile {
    async fn read(&self, tenant: &str, id: &str) -> String {
        sqlx::query_scalar(
            "SELECT doc FROM records WHERE tenant = ? AND coll = 'audit_log' AND id = ?",
        )
        .bind(tenant)
        .bind(id)
        .fetch_one(&self.0)
        .await
        .unwrap()
    }
    async fn write(&self, tenant: &str, id: &str, doc: &str) {
        let r = sqlx::query(
            "UPDATE records SET doc = ? WHERE tenant = ? AND coll = 'audit_log' AND id = ?",
        )
        .bind(doc)
        .bind(tenant)
        .bind(id)
        .execute(&self.0)
        .await
        .unwrap();
        assert_eq!(r.rows_affected(), 1);
    }
    async fn delete(&self, tenant: &str, id: &str) {
        let r =
            sqlx::query("DELETE FROM records WHERE tenant = ? AND coll = 'audit_log' AND id = ?")
                .bind(tenant)
                .bind(id)
                .execute(&self.0)
                .await
                .unwrap();
        assert_eq!(r.rows_affected(), 1);
    }
}

/// The MongoDB-wire server's `audit_log` collection, through a driver of its own.
struct MongoColl(mongodb::Collection<mongodb::bson::Document>);

#[async_trait::async_trait]
impl Tamper for MongoColl {
    async fn read(&self, tenant: &str, id: &str) -> String {
        let d = self
            .0
            .find_one(mongodb::bson::doc! {"tenant": tenant, "id": id})
            .await
            .unwrap()
            .unwrap();
        d.get_str("doc").unwrap().to_string()
    }
    async fn write(&self, tenant: &str, id: &str, doc: &str) {
        let r = self
            .0
            .update_one(
                mongodb::bson::doc! {"tenant": tenant, "id": id},
                mongodb::bson::doc! {"$set": {"doc": doc}},
            )
            .await
            .unwrap();
        assert_eq!(r.matched_count, 1);
    }
    async fn delete(&self, tenant: &str, id: &str) {
        let r = self
            .0
            .delete_one(mongodb::bson::doc! {"tenant": tenant, "id": id})
            .await
            .unwrap();
        assert_eq!(r.deleted_count, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tampering_is_found_on_the_embedded_store() {
    let server = TestServer::start().await;
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(server.dir().join("nexbii.db"));
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    tamper_suite(&server, &SqliteFile(pool)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tampering_is_found_on_the_mongodb_store() {
    let (server, store, db) = TestServer::on_mongo("nexbii_aud_", |_| {}).await;
    let client = mongodb::Client::with_uri_str(mongo_url()).await.unwrap();
    let coll = client.database(&db).collection("audit_log");
    tamper_suite(&server, &MongoColl(coll)).await;
    store.drop_all().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn pruning_keeps_the_rest_verifiable() {
    let server = TestServer::start().await;
    let t = unique("ret");
    with_policy(&server, &t).await;
    let admin = server.login(&t, "admin", PW).await;
    for i in 0..5 {
        let (s, _) = admin
            .post(
                "/api/v1/dashboards",
                json!({"name": format!("d{i}"), "spec": {"title": "D", "widgets": []}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let scope = TenantScope::new(&t).unwrap();
    let before = entries(&admin, "?limit=1000").await.len();
    assert_eq!(before, 6, "a login and five creations");
    // Within the policy's 30 days nothing goes.
    let kept = retention::prune(&server.state, &scope, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(kept.entries, 0);
    // 31 days on, everything so far is past retention.
    let later = chrono::Utc::now() + chrono::TimeDelta::days(31);
    let pruned = retention::prune(&server.state, &scope, later)
        .await
        .unwrap();
    assert_eq!(pruned.entries, before as u64);
    assert_eq!(pruned.anchor, Some(before as u64));
    assert!(
        entries(&admin, "").await.is_empty(),
        "nothing after the anchor yet"
    );
    // The chain goes on from the anchor and verifies.
    let (s, _) = admin
        .post(
            "/api/v1/dashboards",
            json!({"name": "after", "spec": {"title": "D", "widgets": []}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let report = verify(&admin).await;
    assert_eq!(report["valid"], true, "{report}");
    assert!(
        report["firstSeq"].as_u64().unwrap() > before as u64,
        "{report}"
    );
    // Without the anchor the remainder is not vouched for.
    let anchor = format!("{:020}", before);
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(server.dir().join("nexbii.db")),
    )
    .await
    .unwrap();
    let r = sqlx::query(
        "DELETE FROM records WHERE tenant = ? AND coll = 'audit_checkpoints' AND id = ?",
    )
    .bind(&t)
    .bind(&anchor)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(r.rows_affected(), 1);
    let report = verify(&admin).await;
    assert_eq!(report["valid"], false, "{report}");
    assert!(
        report["firstBroken"]["reason"]
            .as_str()
            .unwrap()
            .contains("no signed checkpoint"),
        "{report}"
    );
}

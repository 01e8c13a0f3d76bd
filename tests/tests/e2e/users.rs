//! Advanced user management over real HTTP, on both stores (embedded SQLite and the
//! MongoDB-wire server): sessions (client, user agent, last seen written at most once per
//! interval, revocation, timeouts from settings), impersonation (marked token, `/auth/me`,
//! audit entries with both identities, limits, ending it), bulk import and bulk actions
//! (per-row results, all-or-nothing, dry runs, the user quota), activity reports and access
//! pattern analysis with their flags, figure by figure.
use std::time::Duration;

use nexbii_controlplane::{
    auth::SessionRecord,
    state::Settings,
    store::{self, StoreExt, TenantScope},
};
use nexbii_tests::{tenant_yaml, unique, Client2, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";
const UPW: &str = "user-password-123";

/// A server on the embedded store (`mongo: false`) or the MongoDB-wire server.
async fn server(mongo: bool, tweak: impl FnOnce(&mut Settings)) -> TestServer {
    if mongo {
        return TestServer::on_mongo("nexbii_users_", tweak).await.0;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
        .await
        .unwrap();
    let mut settings = Settings {
        sqlite_root: dir.path().join("sources"),
        backup_dir: dir.path().join("backups"),
        ..Default::default()
    };
    tweak(&mut settings);
    TestServer::with_store(store, dir, settings).await
}

/// Declares tenant `t` (at most `max_users` users) and signs its admin in.
async fn tenant(server: &TestServer, t: &str, max_users: u32) -> Client2 {
    let yaml = tenant_yaml(t, PW).replace(
        "    rowLimit: 1000\n",
        &format!("    rowLimit: 1000\n    maxUsers: {max_users}\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let applied = server
        .apply_yaml(dir.path(), &[("tenant.yaml", &yaml)])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    server.login(t, "admin", PW).await
}

async fn add_user(admin: &Client2, name: &str, role: &str) {
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": name, "role": role, "password": UPW}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

/// Signs in with a user agent of our choosing; the token.
async fn login_as(server: &TestServer, t: &str, user: &str, pw: &str, agent: &str) -> Client2 {
    let r = server
        .http
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("user-agent", agent)
        .json(&json!({"tenant": t, "username": user, "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let b: Value = r.json().await.unwrap();
    Client2 {
        base: server.base.clone(),
        http: server.http.clone(),
        token: b["token"].as_str().unwrap().to_string(),
    }
}

/// The id of the session signed in with user agent `agent`, as the admin list shows it.
async fn session_of(admin: &Client2, agent: &str) -> String {
    let (_, list) = admin.get("/api/v1/admin/sessions").await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["userAgent"] == agent)
        .unwrap_or_else(|| panic!("{agent} in {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn stored_session(server: &TestServer, t: &str, id: &str) -> SessionRecord {
    server
        .state
        .store
        .get_as::<SessionRecord>(&TenantScope::new(t).unwrap(), id)
        .await
        .unwrap()
        .unwrap()
}

fn field(b: &Value) -> &str {
    b["field"].as_str().unwrap_or_default()
}

async fn sessions_scenario(mongo: bool) {
    // Last-seen times written at most once a second here (a minute by default).
    let server = server(mongo, |s| s.session_seen_every = Duration::from_secs(1)).await;
    let t = unique("us");
    let admin = tenant(&server, &t, 100).await;
    add_user(&admin, "ann", "viewer").await;
    add_user(&admin, "bob", "editor").await;
    let ann1 = login_as(&server, &t, "ann", UPW, "ua-ann-1").await;
    let ann2 = login_as(&server, &t, "ann", UPW, "ua-ann-2").await;
    let bob = login_as(&server, &t, "bob", UPW, "ua-bob").await;

    let (s, list) = admin.get("/api/v1/admin/sessions?user=ann").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let mut agents: Vec<&str> = list
        .iter()
        .map(|s| s["userAgent"].as_str().unwrap())
        .collect();
    agents.sort();
    assert_eq!(agents, ["ua-ann-1", "ua-ann-2"]);
    for s in list {
        assert_eq!(s["client"], "127.0.0.1", "{s}");
        assert_eq!(s["username"], "ann");
        assert_eq!(s["current"], false);
        assert!(
            s["createdAt"].is_string() && s["lastSeenAt"].is_string(),
            "{s}"
        );
        assert_eq!(s["impersonator"], Value::Null);
    }
    let (_, all) = admin.get("/api/v1/admin/sessions").await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(
        all.iter().filter(|s| s["current"] == true).count(),
        1,
        "the caller's own session is marked"
    );

    // Last seen: many requests, at most one write per interval.
    let sid = session_of(&admin, "ua-ann-1").await;
    let before = stored_session(&server, &t, &sid).await;
    for _ in 0..20 {
        let (s, _) = ann1.get("/api/v1/auth/me").await;
        assert_eq!(s, StatusCode::OK);
    }
    let mid = stored_session(&server, &t, &sid).await;
    assert!(
        mid.meta.revision <= before.meta.revision + 1,
        "at most one write for 20 requests: {} → {}",
        before.meta.revision,
        mid.meta.revision
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..20 {
        ann1.get("/api/v1/auth/me").await;
    }
    let after = stored_session(&server, &t, &sid).await;
    assert_eq!(
        after.meta.revision,
        mid.meta.revision + 1,
        "one write for 20 requests after the interval"
    );
    assert!(after.last_seen_at > mid.last_seen_at);

    // Timeouts from the settings: the end shown is the last-seen time plus the idle timeout.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"sessions": {"idleTimeoutMinutes": 7, "absoluteTimeoutMinutes": 600}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, list) = admin.get("/api/v1/admin/sessions?user=ann").await;
    let one = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sid.as_str())
        .unwrap()
        .clone();
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(
        at(&one["expiresAt"]) - at(&one["lastSeenAt"]),
        chrono::Duration::minutes(7)
    );

    // Revoke one.
    let (s, _) = admin.delete(&format!("/api/v1/admin/sessions/{sid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        ann1.get("/api/v1/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(ann2.get("/api/v1/auth/me").await.0, StatusCode::OK);
    let (s, b) = admin.delete("/api/v1/admin/sessions/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    // All of a user's.
    let ann3 = login_as(&server, &t, "ann", UPW, "ua-ann-3").await;
    let (s, b) = admin
        .post("/api/v1/admin/sessions/revoke", json!({"username": "ann"}))
        .await;
    assert_eq!((s, b["revoked"].as_u64()), (StatusCode::OK, Some(2)), "{b}");
    assert_eq!(
        ann2.get("/api/v1/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ann3.get("/api/v1/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Everyone's but the caller's.
    let admin2 = login_as(&server, &t, "admin", PW, "ua-admin-2").await;
    let (s, b) = admin
        .post("/api/v1/admin/sessions/revoke", json!({"all": true}))
        .await;
    assert_eq!((s, b["revoked"].as_u64()), (StatusCode::OK, Some(2)), "{b}");
    assert_eq!(bob.get("/api/v1/auth/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        admin2.get("/api/v1/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(admin.get("/api/v1/auth/me").await.0, StatusCode::OK);
    let (_, all) = admin.get("/api/v1/admin/sessions").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    // Bad input names the field; non-admins are refused.
    let (s, b) = admin.post("/api/v1/admin/sessions/revoke", json!({})).await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "username")
    );
    let (s, b) = admin
        .post(
            "/api/v1/admin/sessions/revoke",
            json!({"username": "ann", "all": true}),
        )
        .await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "all"));
    let bob = login_as(&server, &t, "bob", UPW, "ua-bob").await;
    assert_eq!(
        bob.get("/api/v1/admin/sessions").await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_on_the_embedded_store() {
    sessions_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_on_mongodb() {
    sessions_scenario(true).await;
}

async fn impersonation_scenario(mongo: bool) {
    let server = server(mongo, |_| {}).await;
    let t = unique("ui");
    let admin = tenant(&server, &t, 100).await;
    server.add_sales(&admin, &format!("{t}.db")).await;
    add_user(&admin, "ann", "editor").await;
    add_user(&admin, "root2", "admin").await;

    let start = |body: Value| {
        let admin = admin.clone();
        async move { admin.post("/api/v1/admin/impersonations", body).await }
    };
    let (s, b) = start(json!({"username": "ann", "minutes": 5})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["impersonator"], "admin");
    assert_eq!(b["user"]["username"], "ann");
    let exp = chrono::DateTime::parse_from_rfc3339(b["expiresAt"].as_str().unwrap()).unwrap();
    let left = exp.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left <= chrono::Duration::minutes(5) && left > chrono::Duration::minutes(4),
        "{left}"
    );
    let imp = Client2 {
        base: server.base.clone(),
        http: server.http.clone(),
        token: b["token"].as_str().unwrap().to_string(),
    };
    // The token is marked, and /auth/me says so (the console's banner).
    let (s, me) = imp.get("/api/v1/auth/me").await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "ann");
    assert_eq!(me["role"], "editor");
    assert_eq!(me["impersonation"]["impersonator"], "admin");
    assert_eq!(me["impersonation"]["expiresAt"], b["expiresAt"]);
    let (_, me) = admin.get("/api/v1/auth/me").await;
    assert!(me.get("impersonation").is_none(), "{me}");
    // What ann sees, she sees: an admin route is refused as for her.
    assert_eq!(imp.get("/api/v1/users").await.0, StatusCode::FORBIDDEN);
    // Every action records both identities.
    let (s, r) = imp
        .run("sales", "SELECT count(*) AS n FROM customers", json!([]))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, entries) = admin
        .get("/api/v1/audit?actor=ann&action=queries.run")
        .await;
    let e = &entries.as_array().unwrap()[0];
    assert_eq!(e["actor"], "ann");
    assert_eq!(e["impersonator"], "admin");
    assert_eq!(e["queries"][0]["datasource"], "sales");
    let (_, entries) = admin
        .get("/api/v1/audit?actor=admin&action=admin.impersonations.create")
        .await;
    assert_eq!(entries.as_array().unwrap().len(), 1);
    // No credentials that outlive the impersonation.
    let (s, b) = imp
        .post(
            "/api/v1/apikeys",
            json!({"name": "x", "scopes": ["queries:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    // The session list shows it.
    let (_, list) = admin.get("/api/v1/admin/sessions?user=ann").await;
    assert_eq!(list[0]["impersonator"], "admin");

    // Limits: no admins, not beyond the maximum, not by non-admins, not nested.
    let (s, b) = start(json!({"username": "root2"})).await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "username")
    );
    let (s, b) = start(json!({"username": "ann", "minutes": 31})).await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "minutes")
    );
    let (s, _) = start(json!({"username": "nobody"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = imp
        .post("/api/v1/admin/impersonations", json!({"username": "ann"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Turned off for the tenant: running impersonations stop, new ones are refused.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"impersonation": {"enabled": false}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(imp.get("/api/v1/auth/me").await.0, StatusCode::UNAUTHORIZED);
    let (s, b) = start(json!({"username": "ann"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["detail"]
        .as_str()
        .unwrap()
        .contains("impersonation.enabled"));

    // Ended early by the impersonating token itself.
    let (s, _) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"impersonation": {"enabled": true, "maxMinutes": 10}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = start(json!({"username": "ann"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let imp2 = Client2 {
        token: b["token"].as_str().unwrap().to_string(),
        ..imp.clone()
    };
    assert_eq!(imp2.get("/api/v1/auth/me").await.0, StatusCode::OK);
    let (s, _) = imp2.delete("/api/v1/auth/impersonation").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        imp2.get("/api/v1/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Not an impersonation: 409; the admin's own session is untouched.
    let (s, _) = admin.delete("/api/v1/auth/impersonation").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(admin.get("/api/v1/auth/me").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn impersonation_on_the_embedded_store() {
    impersonation_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn impersonation_on_mongodb() {
    impersonation_scenario(true).await;
}

async fn import_csv(admin: &Client2, query: &str, csv: &str) -> (StatusCode, Value) {
    let r = admin
        .http
        .post(format!("{}/api/v1/admin/users/import{query}", admin.base))
        .bearer_auth(&admin.token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    let s = r.status();
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("secret-pass"),
        "passwords are never echoed: {text}"
    );
    (s, serde_json::from_str(&text).unwrap())
}

async fn usernames(admin: &Client2) -> Vec<String> {
    let (_, list) = admin.get("/api/v1/users").await;
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn bulk_scenario(mongo: bool) {
    let server = server(mongo, |_| {}).await;
    let t = unique("ub");
    // Room for the admin and four more.
    let admin = tenant(&server, &t, 5).await;
    let csv = "username,role,password,email,attr.region\n\
        ann,viewer,secret-pass-a9nn,ann@example.com,emea\n\
        bob,editor,short,,\n\
        cy,viewer,secret-pass-c9y,,\n\
        ann,viewer,secret-pass-a9nn2,,\n";
    // Dry run: per-row results, nothing written.
    let (s, b) = import_csv(&admin, "?dryRun=true", csv).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (
            b["created"].as_u64(),
            b["failed"].as_u64(),
            b["applied"].as_bool()
        ),
        (Some(2), Some(2), Some(false))
    );
    let statuses: Vec<(&str, &str)> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap(),
                r["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("created", ""),
            ("failed", "rows[1].password"),
            ("created", ""),
            ("failed", "rows[3].username")
        ]
    );
    assert_eq!(usernames(&admin).await, ["admin"]);
    // All or nothing: refused naming each bad row; nothing written.
    let (s, b) = import_csv(&admin, "?allOrNothing=true", csv).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let fields: Vec<&str> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["rows[1].password", "rows[3].username"]);
    assert_eq!(usernames(&admin).await, ["admin"]);
    // … and its dry run says so: the valid rows would be skipped.
    let (s, b) = import_csv(&admin, "?dryRun=true&allOrNothing=true", csv).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let st: Vec<&str> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(st, ["skipped", "failed", "skipped", "failed"]);
    assert_eq!(
        (b["created"].as_u64(), b["failed"].as_u64()),
        (Some(0), Some(2))
    );
    // For real: the good rows are created, with hashed passwords that sign in.
    let (s, b) = import_csv(&admin, "", csv).await;
    assert_eq!((s, b["created"].as_u64()), (StatusCode::OK, Some(2)), "{b}");
    assert_eq!(usernames(&admin).await, ["admin", "ann", "cy"]);
    let ann = server.login(&t, "ann", "secret-pass-a9nn").await;
    let (_, me) = ann.get("/api/v1/auth/me").await;
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["attributes"]["region"], "emea");
    let stored = server
        .state
        .store
        .get_as::<nexbii_controlplane::auth::UserRecord>(&TenantScope::new(&t).unwrap(), "ann")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$argon2"), "hashed");
    // JSON, up to the quota: 3 users now, room for 2.
    let (s, b) = admin
        .post(
            "/api/v1/admin/users/import",
            json!({"users": [
                {"username": "dee", "role": "viewer", "password": "secret-pass-d9ee"},
                {"username": "eve", "role": "editor", "password": "secret-pass-e9ve"},
                {"username": "fay", "role": "viewer", "password": "secret-pass-f9ay"},
                {"username": "gus", "role": "boss", "password": "secret-pass-g9us"},
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!b.to_string().contains("secret-pass"));
    assert_eq!(b["created"].as_u64(), Some(2));
    assert_eq!(b["results"][2]["field"], "rows[2]");
    assert!(
        b["results"][2]["error"]
            .as_str()
            .unwrap()
            .contains("quota of 5"),
        "{b}"
    );
    assert_eq!(b["results"][3]["field"], "rows[3].role");
    assert_eq!(usernames(&admin).await.len(), 5);
    // Bad input names the field.
    let (s, b) = admin.post("/api/v1/admin/users/import", json!({})).await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "users"));
    let (s, b) = import_csv(&admin, "", "username,role,password,shoe\n").await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "csv.header.shoe")
    );

    // Bulk role change: the caller's own account is spared, per-user results.
    let bulk = |body: Value| {
        let admin = admin.clone();
        async move { admin.post("/api/v1/admin/users/bulk", body).await }
    };
    let (s, b) = bulk(json!({"action": "setRole", "role": "editor",
        "usernames": ["ann", "cy", "admin"], "allOrNothing": true}))
    .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "usernames[2]")
    );
    let (_, u) = admin.get("/api/v1/users").await;
    assert!(u
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["username"] != "ann" || u["role"] == "viewer"));
    let (s, b) = bulk(json!({"action": "setRole", "role": "editor",
        "usernames": ["ann", "cy", "admin", "eve"]}))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let st: Vec<&str> = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(st, ["updated", "updated", "failed", "unchanged"]);
    assert_eq!(
        (
            b["changed"].as_u64(),
            b["unchanged"].as_u64(),
            b["failed"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let (_, me) = ann.get("/api/v1/auth/me").await;
    assert_eq!(me["role"], "editor");
    // Disable: sessions end and stay ended after enabling again.
    let (s, b) = bulk(json!({"action": "disable", "usernames": ["ann"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["results"][0]["sessionsRevoked"].as_u64(), Some(1));
    assert_eq!(ann.get("/api/v1/auth/me").await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"tenant": t, "username": "ann", "password": "secret-pass-a9nn"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = bulk(json!({"action": "enable", "usernames": ["ann", "cy"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["changed"].as_u64(), Some(1));
    assert_eq!(ann.get("/api/v1/auth/me").await.0, StatusCode::UNAUTHORIZED);
    server.login(&t, "ann", "secret-pass-a9nn").await;
    // Delete: a dry run changes nothing; then for real.
    let (s, b) =
        bulk(json!({"action": "delete", "usernames": ["dee", "eve"], "dryRun": true})).await;
    assert_eq!((s, b["changed"].as_u64()), (StatusCode::OK, Some(2)), "{b}");
    assert_eq!(usernames(&admin).await.len(), 5);
    let (s, b) = bulk(json!({"action": "delete", "usernames": ["dee", "eve", "zed"]})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["changed"].as_u64(), b["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(usernames(&admin).await, ["admin", "ann", "cy"]);
    // A new user of a deleted user's name does not inherit the old sessions.
    let cy_old = server.login(&t, "cy", "secret-pass-c9y").await;
    let (s, _) = admin.delete("/api/v1/users/cy").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "cy", "role": "editor", "password": "secret-pass-c9y"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(
        cy_old.get("/api/v1/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Bad input names the field.
    let (s, b) = bulk(json!({"action": "setRole", "usernames": ["ann"]})).await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "role"));
    let (s, b) = bulk(json!({"action": "disable", "usernames": []})).await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "usernames")
    );
    // Admins only.
    let cy = server.login(&t, "cy", "secret-pass-c9y").await;
    let (s, _) = cy
        .post(
            "/api/v1/admin/users/bulk",
            json!({"action": "enable", "usernames": ["cy"]}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_on_the_embedded_store() {
    bulk_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_on_mongodb() {
    bulk_scenario(true).await;
}

fn dashboard() -> Value {
    json!({
        "title": "Counts",
        "publication": "published",
        "widgets": [
            {"id": "n", "chart": "number", "query": {"dataSource": "sales",
                "sql": "SELECT count(*) AS n FROM customers"}},
            {"id": "p", "chart": "number", "query": {"dataSource": "sales",
                "sql": "SELECT count(*) AS n FROM products"}}
        ]
    })
}

fn user_row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("{name} in {report}"))
}

async fn activity_scenario(mongo: bool) {
    let server = server(mongo, |_| {}).await;
    let t = unique("ua");
    let from = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let admin = tenant(&server, &t, 100).await;
    server.add_sales(&admin, &format!("{t}.db")).await;
    let (s, b) = admin
        .post(
            "/api/v1/dashboards",
            json!({"name": "counts", "spec": dashboard()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    add_user(&admin, "ann", "editor").await;
    add_user(&admin, "bob", "viewer").await;
    add_user(&admin, "cal", "viewer").await;
    let ann = server.login(&t, "ann", UPW).await;
    server.login(&t, "ann", UPW).await;
    for sql in [
        "SELECT id FROM customers LIMIT 3",
        "SELECT id FROM products LIMIT 4",
        "SELECT id FROM orders LIMIT 5",
    ] {
        let (s, b) = ann.run("sales", sql, json!([])).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, _) = ann.get("/api/v1/dashboards/counts/data").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"tenant": t, "username": "bob", "password": "wrong-password-1"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let bob = server.login(&t, "bob", UPW).await;
    bob.get("/api/v1/dashboards/counts/data").await;
    bob.get("/api/v1/dashboards/counts/data").await;
    let to = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    let q = format!("from={}&to={}", urlencode(&from), urlencode(&to));
    let (s, r) = admin
        .get(&format!("/api/v1/admin/users/activity?{q}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let a = user_row(&r, "ann");
    assert_eq!(a["logins"], 2);
    assert_eq!(a["queries"], 3);
    assert_eq!(a["rowsRead"], 3 + 4 + 5 + 1 + 1, "widgets' rows count too");
    assert_eq!(a["dashboardViews"], 1);
    assert_eq!(a["failedLogins"], 0);
    assert_eq!(a["activeDays"], 1);
    assert!(a["lastActiveAt"].is_string());
    let b = user_row(&r, "bob");
    assert_eq!(
        (
            &b["logins"],
            &b["failedLogins"],
            &b["dashboardViews"],
            &b["dashboards"],
            &b["queries"]
        ),
        (&json!(1), &json!(1), &json!(2), &json!(1), &json!(0))
    );
    let c = user_row(&r, "cal");
    assert_eq!(
        (&c["actions"], &c["lastActiveAt"]),
        (&json!(0), &Value::Null)
    );
    let tot = &r["totals"];
    // admin (login, source, dashboard, users), ann, bob: three active users.
    assert_eq!(tot["activeUsers"], 3);
    assert_eq!(tot["logins"], 4);
    assert_eq!(tot["failedLogins"], 1);
    assert_eq!(tot["dashboardViews"], 3);
    let per_user: u64 = r["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["queries"].as_u64().unwrap())
        .sum();
    assert_eq!(tot["queries"].as_u64(), Some(per_user));
    let today = chrono::Utc::now().date_naive().to_string();
    let day = r["daily"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["start"] == today.as_str())
        .unwrap();
    assert_eq!(day["activeUsers"], 3);
    assert_eq!(
        r["weekly"].as_array().unwrap().last().unwrap()["activeUsers"],
        3
    );
    assert_eq!(
        r["monthly"].as_array().unwrap().last().unwrap()["activeUsers"],
        3
    );
    assert_eq!(r["truncated"], false);
    // One user only.
    let (_, r) = admin
        .get(&format!("/api/v1/admin/users/activity?{q}&user=ann"))
        .await;
    assert_eq!(r["users"].as_array().unwrap().len(), 1);
    assert_eq!(r["totals"]["activeUsers"], 1);
    assert_eq!(r["totals"]["queries"], 3);
    // Bad input names the field; admins only.
    let (s, b) = admin
        .get("/api/v1/admin/users/activity?from=yesterday")
        .await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "from"));
    let (s, b) = admin
        .get("/api/v1/admin/users/activity?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z")
        .await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "from"));
    assert_eq!(
        ann.get("/api/v1/admin/users/activity").await.0,
        StatusCode::FORBIDDEN
    );
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread")]
async fn activity_on_the_embedded_store() {
    activity_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn activity_on_mongodb() {
    activity_scenario(true).await;
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
"#
    )
}

async fn access_scenario(mongo: bool) {
    let server = server(mongo, |_| {}).await;
    let t = unique("uap");
    let dir = tempfile::tempdir().unwrap();
    let applied = server
        .apply_yaml(
            dir.path(),
            &[
                ("tenant.yaml", &tenant_yaml(&t, PW)),
                ("policy.yaml", &masking_policy(&t)),
            ],
        )
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let admin = server.login(&t, "admin", PW).await;
    server.add_sales(&admin, &format!("{t}.db")).await;
    let (s, b) = admin
        .post("/api/v1/catalog/datasources/sales/sync", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    add_user(&admin, "ann", "editor").await;
    let ann = server.login(&t, "ann", UPW).await;
    // The baseline: small reads of non-sensitive columns.
    for i in 1..=6 {
        let (s, b) = ann
            .run(
                "sales",
                &format!("SELECT id, country FROM customers WHERE id > {i} LIMIT 5"),
                json!([]),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let from = chrono::Utc::now();
    // The period: a first read of email addresses, and a read far above her usual rows.
    let (s, b) = ann
        .run("sales", "SELECT email FROM customers LIMIT 3", json!([]))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["masked"][0]["column"], "email", "{b}");
    let (s, b) = ann.run("sales", "SELECT id FROM orders", json!([])).await;
    assert_eq!(
        (s, b["rowCount"].as_u64()),
        (StatusCode::OK, Some(1000)),
        "{b}"
    );
    let (s, b) = ann
        .run(
            "sales",
            "SELECT id, country FROM customers LIMIT 5",
            json!([]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let q = format!(
        "from={}&baselineDays=1&level=confidential",
        urlencode(&from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    );
    let (s, r) = admin.get(&format!("/api/v1/admin/users/access?{q}")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let a = user_row(&r, "ann");
    let sales = &a["datasources"][0];
    assert_eq!(sales["datasource"], "sales");
    assert_eq!(sales["queries"], 3, "{r}");
    assert_eq!(sales["rowsRead"], 3 + 1000 + 5);
    assert_eq!(
        sales["tables"],
        json!([{"table": "customers", "queries": 2}, {"table": "orders", "queries": 1}])
    );
    let cols = sales["sensitiveColumns"].as_array().unwrap();
    let email = cols
        .iter()
        .find(|c| c["column"] == "customers.email")
        .unwrap_or_else(|| panic!("{sales}"));
    assert_eq!(
        (&email["level"], &email["queries"]),
        (&json!("confidential"), &json!(1))
    );
    assert_eq!(sales["maskedColumns"], json!(["email"]));
    let kinds: Vec<&str> = a["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["firstRestrictedAccess", "rowSpike"], "{a}");
    let first = &a["flags"][0];
    assert_eq!(first["table"], "customers");
    assert_eq!(first["columns"], json!(["customers.email"]));
    let spike = &a["flags"][1];
    // Baseline p95 of 5 rows per query: threshold max(1000, 10 × 5).
    assert_eq!(
        (&spike["rows"], &spike["threshold"]),
        (&json!(1000), &json!(1000))
    );
    assert_eq!(r["flags"].as_array().unwrap().len(), 2);
    // At the default level (restricted) nothing here is restricted: no first-access flag.
    let q2 = q.replace("&level=confidential", "");
    let (_, r) = admin.get(&format!("/api/v1/admin/users/access?{q2}")).await;
    let kinds: Vec<&str> = r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["rowSpike"]);
    // Bad input names the field.
    let (s, b) = admin.get("/api/v1/admin/users/access?level=secret").await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "level"));
    let (s, b) = admin.get("/api/v1/admin/users/access?spikeFactor=1").await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "spikeFactor")
    );
    let (s, b) = admin
        .get("/api/v1/admin/users/access?spikeMinRows=1000000001")
        .await;
    assert_eq!(
        (s, field(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "spikeMinRows")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn access_patterns_on_the_embedded_store() {
    access_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn access_patterns_on_mongodb() {
    access_scenario(true).await;
}

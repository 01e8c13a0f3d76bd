//! Health alerting over real HTTP, on both stores: failing requests cross the tenant's
//! error-rate threshold, the alert fires once (inbox, alerts endpoint, metrics), and clears
//! when the threshold is raised above the figure; an unreachable data source fires its own.
use std::time::Duration;

use nexbii_controlplane::{state::Settings, store};
use nexbii_tests::{postgres_url, unique, Client2, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PW: &str = "admin-password-123";

fn fast(settings: &mut Settings) {
    settings.alert_interval = Duration::from_millis(200);
}

async fn embedded() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
        .await
        .unwrap();
    let mut settings = Settings {
        sqlite_root: dir.path().join("sources"),
        backup_dir: dir.path().join("backups"),
        ..Default::default()
    };
    fast(&mut settings);
    TestServer::with_store(store, dir, settings).await
}

/// Polls the alerts endpoint until `done` holds (at most 15 s).
async fn wait_for(admin: &Client2, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..75 {
        let (s, b) = admin.get("/api/v1/admin/alerts").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        if done(&b) {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("alerts never reached the expected state");
}

/// Polls the inbox until it holds a notification of `kind` (at most 15 s): notifications are
/// delivered by the event stream, after the transition the alerts endpoint already shows.
async fn wait_inbox(admin: &Client2, kind: &str) -> Value {
    for _ in 0..75 {
        let (s, inbox) = admin.get("/api/v1/notifications").await;
        assert_eq!(s, StatusCode::OK, "{inbox}");
        if inbox.as_array().unwrap().iter().any(|n| n["kind"] == kind) {
            return inbox;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no {kind} notification arrived");
}

async fn scenario(server: &TestServer) {
    let t = unique("al");
    let admin = server.tenant(&t, PW).await;
    // Only the error rate this time (the disk of the machine running the tests is none of its
    // business); at least 20 requests in the window.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"alerts": {"errorRatePercent": 5.0, "minRequests": 20, "dataSourceDown": false, "p95LatencyMs": 600000, "diskFreePercent": 0.0}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A real PostgreSQL that refuses the database at once.
    let pg: sqlx::postgres::PgConnectOptions = postgres_url().parse().unwrap();
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "dead", "spec": {"type": "postgresql", "host": pg.get_host(),
                "port": pg.get_port(), "database": "nexbii_no_such_database", "username": pg.get_username()}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // 15 fine requests and 5 that fail with 502.
    for _ in 0..15 {
        let (s, _) = admin.get("/api/v1/dashboards").await;
        assert_eq!(s, StatusCode::OK);
    }
    for _ in 0..5 {
        let (s, b) = admin.run("dead", "SELECT 1", json!([])).await;
        assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    }
    let b = wait_for(&admin, |b| b["active"].get("errorRate").is_some()).await;
    let a = &b["active"]["errorRate"];
    let value = a["value"].as_f64().unwrap();
    // 5 failures among the window's requests (the 20 above plus login and setup calls).
    assert!(value > 5.0 && value <= 25.0, "{b}");
    assert_eq!(a["threshold"], 5.0);
    assert_eq!(b["recent"][0]["transition"], "fired");
    assert!(
        b["active"].get("dataSourceDown:dead").is_none(),
        "turned off"
    );

    // Told once, in the admins' inbox, and in /metrics.
    let inbox = wait_inbox(&admin, "alert.fired").await;
    let fired: Vec<&Value> = inbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "alert.fired")
        .collect();
    assert_eq!(fired.len(), 1, "{inbox}");
    assert!(fired[0]["title"].as_str().unwrap().contains("errorRate"));
    let (_, metrics) = server.get_text("/metrics").await;
    assert!(
        metrics.contains(&format!(
            "nexbii_alerts_firing{{alert=\"errorRate\",tenant=\"{t}\"}} 1"
        )),
        "{metrics}"
    );

    // Raising the threshold above the figure clears it.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"alerts": {"errorRatePercent": 90.0, "minRequests": 20, "dataSourceDown": true, "p95LatencyMs": 600000, "diskFreePercent": 0.0}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let b = wait_for(&admin, |b| b["active"].get("errorRate").is_none()).await;
    let cleared = b["recent"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["key"] == "errorRate" && e["transition"] == "cleared");
    assert!(cleared, "{b}");
    // With data source checks on, the unreachable source fires once its check has failed.
    let (s, _) = admin.post("/api/v1/datasources/dead/sync", json!({})).await;
    assert!(s.is_success() || s == StatusCode::BAD_GATEWAY, "{s}");
    let b = wait_for(&admin, |b| b["active"].get("dataSourceDown:dead").is_some()).await;
    assert_eq!(b["active"]["dataSourceDown:dead"]["subject"], "dead");
    let inbox = wait_inbox(&admin, "alert.cleared").await;
    let kinds: Vec<&str> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"alert.cleared"), "{inbox}");

    // Notifications are kept for the settings' retention, then removed.
    let scope = nexbii_controlplane::store::TenantScope::new(&t).unwrap();
    let soon = chrono::Utc::now() + chrono::Duration::days(80);
    let n = nexbii_controlplane::events::notifications::prune(&server.state, &scope, soon)
        .await
        .unwrap();
    assert_eq!(n, 0, "90 days by default");
    let later = chrono::Utc::now() + chrono::Duration::days(91);
    let n = nexbii_controlplane::events::notifications::prune(&server.state, &scope, later)
        .await
        .unwrap();
    assert!(n >= 3, "{n}");
    let (_, inbox) = admin.get("/api/v1/notifications").await;
    assert_eq!(inbox, json!([]));

    // Admins only.
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "vera", "role": "viewer", "password": "viewer-password-123"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let viewer = server.login(&t, "vera", "viewer-password-123").await;
    let (s, _) = viewer.get("/api/v1/admin/alerts").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_on_the_embedded_store() {
    scenario(&embedded().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_on_mongodb() {
    let (server, _, _) = TestServer::on_mongo("nexbii_al_", fast).await;
    scenario(&server).await;
}

//! Events end to end: approval requests reach a real HTTP receiver on loopback as signed
//! webhooks (HMAC over timestamp and body), failed deliveries are retried and logged, can be
//! redelivered, a subscription that keeps failing is switched off, and internal targets are
//! refused unless the server allows them.
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, http::HeaderMap, http::StatusCode as AxStatus, routing::post, Router};
use hmac::{Hmac, Mac};
use nexbii_controlplane::{state::Settings, store};
use nexbii_tests::{tenant_yaml, unique, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

/// A receiver answering `codes` in turn (the last one from then on).
async fn receiver(codes: Vec<u16>) -> (SocketAddr, Received) {
    let got = Received::default();
    let seen = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            let codes = codes.clone();
            async move {
                let mut v = seen.0.lock().unwrap();
                v.push((headers, body));
                let code = codes
                    .get(v.len() - 1)
                    .or(codes.last())
                    .copied()
                    .unwrap_or(200);
                AxStatus::from_u16(code).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, got)
}

async fn server_allowing_loopback() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
        .await
        .unwrap();
    let settings = Settings {
        sqlite_root: dir.path().join("sources"),
        webhook_allow: vec!["127.0.0.0/8".parse().unwrap()],
        webhook_retry_base: Duration::from_millis(50),
        ..Default::default()
    };
    TestServer::with_store(store, dir, settings).await
}

fn policy(tenant: &str) -> String {
    format!(
        r#"apiVersion: nexbii.io/v1alpha1
kind: GovernancePolicy
metadata:
  name: approvals
spec:
  tenantRef:
    name: {tenant}
  approvals:
    restrictedQueries:
      minLevel: confidential
      levels: 1
      approvers: ["role:admin"]
"#
    )
}

async fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_events_reach_signed_webhooks_with_retries() {
    let server = server_allowing_loopback().await;
    let tenant = unique("evt");
    let dir = tempfile::tempdir().unwrap();
    let applied = server
        .apply_yaml(
            dir.path(),
            &[
                ("tenant.yaml", &tenant_yaml(&tenant, "admin-password-123")),
                ("policy.yaml", &policy(&tenant)),
            ],
        )
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let admin = server.login(&tenant, "admin", "admin-password-123").await;
    server.add_sales(&admin, "s.db").await;
    let (s, _) = admin
        .post("/api/v1/catalog/datasources/sales/sync", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);

    let (addr, got) = receiver(vec![500, 200]).await;
    let (s, hook) = admin
        .post(
            "/api/v1/webhooks",
            json!({"url": format!("http://{addr}/hook"), "events": ["approval.*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    let id = hook["id"].as_str().unwrap().to_string();
    let (_, listed) = admin.get("/api/v1/webhooks").await;
    let (_, one) = admin.get(&format!("/api/v1/webhooks/{id}")).await;
    for shown in [&listed, &one] {
        assert!(
            !shown.to_string().contains(&secret),
            "the secret is shown once only"
        );
        assert!(
            !shown.to_string().contains("secretSealed"),
            "not even sealed: {shown}"
        );
    }
    assert_eq!(one["id"], id.as_str());
    let (s, b) = admin
        .post(
            "/api/v1/webhooks",
            json!({"url": "ftp://example.com/x", "events": ["*"]}),
        )
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("url"))
    );

    let (s, b) = server
        .call(
            None,
            reqwest::Method::POST,
            "/api/v1/auth/login",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "ann", "role": "editor", "password": "user-password-123"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let ann = server.login(&tenant, "ann", "user-password-123").await;
    let (s, held) = ann
        .run("sales", "SELECT email FROM customers LIMIT 1", json!([]))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{held}");

    // Failed once (500), retried, delivered; every call signed over its timestamp and body.
    let calls = wait_for(|| {
        let v = got.0.lock().unwrap();
        (v.len() >= 2).then(|| v.clone())
    })
    .await;
    for (headers, body) in &calls {
        assert_eq!(headers["x-nexbii-event"], "approval.requested");
        let sig = headers["x-nexbii-signature"].to_str().unwrap();
        let (t, v1) = sig.split_once(",v1=").unwrap();
        let t = t.strip_prefix("t=").unwrap();
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            v1,
            "signature verifies"
        );
        let payload: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(payload["data"]["approval"], held["id"]);
        assert!((chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 60);
    }
    let deliveries = wait_for_delivered(&admin, &id).await;
    assert_eq!(
        deliveries[0]["attempts"].as_array().unwrap().len(),
        2,
        "{deliveries:?}"
    );
    assert_eq!(deliveries[0]["attempts"][0]["status"], 500);

    // Redelivery sends the same payload again.
    let did = deliveries[0]["id"].as_str().unwrap();
    let (s, _) = admin
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/{did}/redeliver"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_for(|| (got.0.lock().unwrap().len() >= 3).then_some(())).await;

    // A target that keeps failing is switched off after five failed deliveries.
    let (bad, _) = receiver(vec![503]).await;
    let (_, broken) = admin
        .post(
            "/api/v1/webhooks",
            json!({"url": format!("http://{bad}/hook"), "events": ["approval.requested"]}),
        )
        .await;
    let bid = broken["id"].as_str().unwrap().to_string();
    for i in 0..5 {
        let (s, _) = ann
            .run(
                "sales",
                &format!("SELECT email FROM customers LIMIT {}", i + 2),
                json!([]),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    let mut off = false;
    for _ in 0..100 {
        let (_, w) = admin.get(&format!("/api/v1/webhooks/{bid}")).await;
        if w["active"] == false {
            off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(off, "switched off after repeated failures");
}

async fn wait_for_delivered(admin: &nexbii_tests::Client2, id: &str) -> Vec<Value> {
    for _ in 0..100 {
        let (_, d) = admin
            .get(&format!("/api/v1/webhooks/{id}/deliveries"))
            .await;
        let list = d.as_array().cloned().unwrap_or_default();
        if list.first().is_some_and(|d| d["state"] == "delivered") {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no delivery completed");
}

#[tokio::test]
async fn pending_deliveries_resume_after_a_restart() {
    use nexbii_controlplane::{
        events::webhooks::{Attempt, DeliveryRecord},
        store::{write::Actor, Expect, TenantScope},
    };
    let (addr, got) = receiver(vec![200]).await;
    let server = server_allowing_loopback().await;
    let tenant = unique("rsm");
    let admin = server.tenant(&tenant, "admin-password-123").await;
    let (s, hook) = admin
        .post(
            "/api/v1/webhooks",
            json!({"url": format!("http://{addr}/hook"), "events": ["approval.*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    // A delivery an instance left pending when it stopped, after one failed attempt.
    let id = "20261203120000000000-0badcafe";
    let pending = DeliveryRecord {
        id: id.into(),
        webhook: hook["id"].as_str().unwrap().into(),
        event: "approval.requested".into(),
        payload: json!({"event": "approval.requested", "tenant": tenant, "data": {"approval": "apr-1"}}),
        state: "pending".into(),
        attempts: vec![Attempt {
            at: chrono::Utc::now(),
            status: Some(503),
            error: None,
            duration_ms: 1.0,
        }],
        meta: Default::default(),
    };
    let scope = TenantScope::new(&tenant).unwrap();
    server
        .state
        .writer
        .save(&scope, &Actor::System, pending, Expect::Absent)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(got.0.lock().unwrap().is_empty(), "nothing queued it yet");

    let restarted = server.another_instance().await;
    let received = wait_for(|| {
        let v = got.0.lock().unwrap();
        v.first().map(|(h, b)| (h.clone(), b.clone()))
    })
    .await;
    assert_eq!(received.0["x-nexbii-delivery"], id);
    let body: Value = serde_json::from_slice(&received.1).unwrap();
    assert_eq!(body["data"]["approval"], "apr-1");
    let admin2 = restarted
        .login(&tenant, "admin", "admin-password-123")
        .await;
    let list = wait_for_delivered(&admin2, hook["id"].as_str().unwrap()).await;
    assert_eq!(list[0]["attempts"].as_array().unwrap().len(), 2, "{list:?}");
    assert_eq!(got.0.lock().unwrap().len(), 1, "delivered once");
}

#[tokio::test]
async fn internal_targets_are_refused_without_an_allow_list() {
    let server = TestServer::start().await;
    let admin = server.tenant(&unique("ssrf"), "admin-password-123").await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://169.254.169.254/latest",
        "http://[::1]:9/",
    ] {
        let (s, b) = admin
            .post("/api/v1/webhooks", json!({"url": url, "events": ["*"]}))
            .await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("url")),
            "{url}: {b}"
        );
    }
}

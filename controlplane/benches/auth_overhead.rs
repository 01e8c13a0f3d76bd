//! Per-request cost of authentication and audit logging, in process, so the network does not
//! hide it.
//!
//! The figure the target is about (≤ 50 µs): `overhead/key_and_audit` − `overhead/bare`. Both
//! serve the same trivial handler at `POST /api/v1/notifications/read-all` (it answers 204 and
//! does nothing else): `bare` without any middleware, unauthenticated and unaudited;
//! `key_and_audit` behind the real request guard (rate-limit buckets, API-key authentication,
//! scope check) and the real audit capture (the entry built and handed to the instance's audit
//! writer, which appends it to the hash chain in the store off the request's path), with an API
//! key, through `Caller`. The writer runs as in production; between two timed requests the
//! queue is drained (untimed), so each request finds the writer caught up, as it does whenever
//! the instance is not saturated. `overhead/key_and_audit_saturated` sends them back to back
//! instead: once the bounded queue is full each request waits for room, so that figure is the
//! writer's throughput (one append per request), not a per-request overhead.
//!
//! Through the whole router: `GET /api/v1/auth/me` with a session token and with an API key,
//! beside `/healthz` (no guard, no authentication); `me_*` − `healthz` − `user_get` (the one
//! store read `me` itself does) is what authentication costs there. `read_all_api_key` is the
//! real read-all with a key (audited; the handler lists the empty inbox). `audit_append` times
//! `AuditLog::append` alone (the writer's work per entry: a store write, and a signed
//! checkpoint every 100 entries).
//!
//! `cargo bench -p nexbii-controlplane --bench auth_overhead`
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode},
    routing::post,
    Router,
};
use criterion::{criterion_group, criterion_main, Criterion};
use nexbii_controlplane::{
    audit,
    auth::{Caller, UserRecord},
    crypto::Keys,
    provisioning::manifests,
    server,
    state::{AppState, Settings, SharedState},
    store::{sqlite::SqliteStore, write::Actor, StoreExt, TenantScope},
    tenant::TenantRecord,
};
use nexbii_crds::{RateLimit, RateLimits};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const PASSWORD: &str = "bench-password-123";

fn request(
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: Option<Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some((name, value)) = auth {
        b = b.header(name, value);
    }
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let mut req = b.body(body).unwrap();
    // As `serve` does: the peer's address for the per-address bucket.
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    req
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn setup() -> (Router, String, String, SharedState) {
    std::env::set_var(manifests::BOOTSTRAP_PASSWORD_ENV, PASSWORD);
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    // The backup folder (and the change journal in it) in a temporary folder, not the
    // working directory.
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let settings = Settings {
        backup_dir: dir.path().join("backups"),
        ..Default::default()
    };
    let state = AppState::new(store, Keys::random(), settings);
    let quickstart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart");
    manifests::load_and_apply(&state, &quickstart)
        .await
        .unwrap();
    // The default limits would stop a benchmark: the largest the spec allows, so the buckets
    // are still looked up and drawn from.
    let most = RateLimit {
        requests_per_minute: 1_000_000,
        burst: 100_000,
    };
    let scope = TenantScope::new("acme").unwrap();
    state
        .writer
        .modify::<TenantRecord>(&scope, &Actor::System, TenantRecord::ID, |t| {
            t.spec.rate_limits = RateLimits {
                enabled: true,
                per_key: most,
                per_user: most,
                per_address: most,
            }
        })
        .await
        .unwrap()
        .unwrap();
    let app = server::router(state.clone());
    let login = json!({"tenant": "acme", "username": "admin", "password": PASSWORD});
    let (s, b) = call(
        &app,
        request("POST", "/api/v1/auth/login", None, Some(login)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = b["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let (s, b) = call(
        &app,
        request(
            "POST",
            "/api/v1/apikeys",
            Some(("authorization", &bearer)),
            Some(json!({"name": "bench", "scopes": ["*:read", "approvals:write"]})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // As `serve` does: audit entries go to the instance's writer.
    audit::log::start_writer(&state);
    (app, token, b["secret"].as_str().unwrap().to_string(), state)
}

const READ_ALL: &str = "/api/v1/notifications/read-all";

/// The trivial handler, bare and behind the guard and the audit capture (`server::guarded`,
/// as every API route is).
fn overhead_routers(state: &SharedState) -> (Router, Router) {
    let bare = Router::new().route(READ_ALL, post(|| async { StatusCode::NO_CONTENT }));
    let routes = Router::new().route(
        READ_ALL,
        post(|_caller: Caller| async { StatusCode::NO_CONTENT }),
    );
    let guarded = server::guarded(routes, state).with_state(state.clone());
    (bare, guarded)
}

/// Times `iters` requests made by `make` one at a time; with `drain`, the audit queue is
/// drained after each (untimed), so every request finds the writer caught up.
async fn timed(
    app: &Router,
    make: impl Fn() -> Request<Body>,
    iters: u64,
    drain: Option<&SharedState>,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let req = make();
        let began = Instant::now();
        let (s, _) = call(app, req).await;
        total += began.elapsed();
        assert_eq!(s, StatusCode::NO_CONTENT);
        if let Some(state) = drain {
            state.audit.flush().await;
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let (app, token, key, state) = rt.block_on(setup());
    let bearer = format!("Bearer {token}");
    let (bare, guarded) = overhead_routers(&state);
    let mut o = c.benchmark_group("overhead");
    let read_all = || request("POST", READ_ALL, None, None);
    let read_all_key = || request("POST", READ_ALL, Some(("x-api-key", &key)), None);
    o.bench_function("bare", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| timed(&bare, read_all, iters, None))
    });
    // The per-request overhead: each request with the writer caught up (as it is whenever the
    // instance is not saturated with audited requests).
    o.bench_function("key_and_audit", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| timed(&guarded, read_all_key, iters, Some(&state)))
    });
    // Saturated: requests back to back, the writer behind them; once the queue is full each
    // request waits for room, so this is the audit writer's throughput, not an overhead.
    o.bench_function("key_and_audit_saturated", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| timed(&guarded, read_all_key, iters, None))
    });
    o.finish();
    // Every entry the runs above submitted is stored, and the chain holds.
    let scope = TenantScope::new("acme").unwrap();
    rt.block_on(async {
        let v = audit::log::verify(&state, &scope).await.unwrap();
        assert!(v.valid, "{v:?}");
    });
    let mut g = c.benchmark_group("auth_overhead");
    g.bench_function("healthz", |b| {
        b.to_async(&rt).iter(|| async {
            let (s, _) = call(&app, request("GET", "/healthz", None, None)).await;
            assert_eq!(s, StatusCode::OK);
        })
    });
    g.bench_function("me_session", |b| {
        b.to_async(&rt).iter(|| async {
            let req = request(
                "GET",
                "/api/v1/auth/me",
                Some(("authorization", &bearer)),
                None,
            );
            let (s, _) = call(&app, req).await;
            assert_eq!(s, StatusCode::OK);
        })
    });
    g.bench_function("me_api_key", |b| {
        b.to_async(&rt).iter(|| async {
            let req = request("GET", "/api/v1/auth/me", Some(("x-api-key", &key)), None);
            let (s, _) = call(&app, req).await;
            assert_eq!(s, StatusCode::OK);
        })
    });
    g.bench_function("read_all_api_key", |b| {
        b.to_async(&rt).iter(|| async {
            let req = request(
                "POST",
                "/api/v1/notifications/read-all",
                Some(("x-api-key", &key)),
                None,
            );
            let (s, _) = call(&app, req).await;
            assert_eq!(s, StatusCode::NO_CONTENT);
        })
    });
    // What `me` does after authentication: one store read of the user. `me_api_key` −
    // `healthz` − `user_get` is what authenticating a key costs a request.
    g.bench_function("user_get", |b| {
        b.to_async(&rt).iter(|| async {
            let u = state
                .store
                .get_as::<UserRecord>(&scope, "admin")
                .await
                .unwrap();
            assert!(u.is_some());
        })
    });
    g.bench_function("audit_append", |b| {
        b.to_async(&rt).iter(|| async {
            let body = nexbii_controlplane::audit::EntryBody {
                seq: 0,
                at: chrono::Utc::now(),
                actor: "admin".into(),
                actor_ref: String::new(),
                via: "key:bench".into(),
                impersonator: None,
                impersonator_ref: None,
                action: "notifications.read-all".into(),
                target: "/api/v1/notifications/read-all".into(),
                outcome: nexbii_controlplane::audit::Outcome::Success,
                status: 204,
                client: Some("127.0.0.1".into()),
                request_id: "bench".into(),
                queries: vec![],
            };
            state.audit.append(&state, &scope, body).await.unwrap();
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

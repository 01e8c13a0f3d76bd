//! API keys over real HTTP: lifecycle, secrets kept only as digests, expiry and owners, usage
//! counts, scopes on every operation of the OpenAPI document, and rate limits.
use std::{collections::HashMap, net::IpAddr, time::Duration};

use nexbii_controlplane::store::{Collection, Store, TenantScope};
use nexbii_tests::{tenant_yaml, unique, Client2, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PW: &str = "correct horse battery";
const KEYS: &str = "/api/v1/apikeys";

fn as_key(c: &Client2, secret: &str) -> Client2 {
    Client2 {
        base: c.base.clone(),
        http: c.http.clone(),
        token: secret.to_string(),
    }
}

async fn create_key(c: &Client2, body: Value) -> (String, String) {
    let (s, b) = c.post(KEYS, body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (
        b["id"].as_str().unwrap().to_string(),
        b["secret"].as_str().unwrap().to_string(),
    )
}

async fn add_user(
    server: &TestServer,
    admin: &Client2,
    t: &str,
    name: &str,
    role: &str,
) -> Client2 {
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": name, "role": role, "password": PW}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    server.login(t, name, PW).await
}

/// A tenant whose spec carries `rate_limits` (YAML under `spec.rateLimits`).
async fn tenant_with_limits(server: &TestServer, t: &str, rate_limits: &str) -> Client2 {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("{}  rateLimits:\n{rate_limits}", tenant_yaml(t, PW));
    let applied = server
        .apply_yaml(dir.path(), &[("tenant.yaml", &yaml)])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    server.login(t, "admin", PW).await
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_created_listed_rotated_and_revoked() {
    let server = TestServer::start().await;
    let t = unique("k");
    let admin = server.tenant(&t, PW).await;
    let ed = add_user(&server, &admin, &t, "ed", "editor").await;

    // Bad input names the field.
    let (s, b) = ed
        .post(
            KEYS,
            json!({"name": "ci", "scopes": ["dashboards:read", "dashboard:read"]}),
        )
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("scopes[1]")),
        "{b}"
    );
    let (s, b) = ed
        .post(KEYS, json!({"name": "ci", "scopes": ["admin:read"]}))
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("scopes[0]")),
        "beyond the role: {b}"
    );
    let (s, b) = ed.post(KEYS, json!({"name": "ci", "scopes": []})).await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("scopes")),
        "{b}"
    );
    let (s, b) = ed
        .post(KEYS, json!({"name": "", "scopes": ["*:read"]}))
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name")),
        "{b}"
    );

    let (s, created) = ed
        .post(
            KEYS,
            json!({"name": "ci", "scopes": ["dashboards:read", "queries:write"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with(&format!("nxk_{t}_{id}_")), "{secret}");
    assert_eq!(created["prefix"], format!("nxk_{t}_{id}"));
    assert_eq!(
        (created["owner"].as_str(), created["state"].as_str()),
        (Some("ed"), Some("active"))
    );
    assert!(created.get("secretDigest").is_none(), "{created}");

    // Shown once: never listed or read back, and the store holds only its SHA-256.
    let (s, list) = ed.get(KEYS).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (_, one) = ed.get(&format!("{KEYS}/{id}")).await;
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    for shown in [&list, &one] {
        let text = shown.to_string();
        assert!(
            !text.contains(&secret[secret.len() - 64..]) && !text.contains(&digest),
            "{text}"
        );
        assert!(shown.to_string().contains("\"prefix\""));
    }
    let scope = TenantScope::new(&t).unwrap();
    let stored = server
        .state
        .store
        .get(&scope, Collection::ApiKeys, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["secretDigest"], digest);
    assert!(
        !stored.to_string().contains(&secret[secret.len() - 64..]),
        "{stored}"
    );

    // The key works as a bearer token and as X-API-Key, as its owner, within its scopes.
    let key = as_key(&ed, &secret);
    let (s, me) = key.get("/api/v1/auth/me").await;
    assert_eq!(
        (s, me["username"].as_str()),
        (StatusCode::OK, Some("ed")),
        "{me}"
    );
    let r = server
        .http
        .get(format!("{}/api/v1/dashboards", server.base))
        .header("x-api-key", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, b) = key.get("/api/v1/datasources").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["detail"].as_str().unwrap().contains("datasources:read"),
        "{b}"
    );
    let (s, _) = key.post("/api/v1/dashboards", json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "dashboards:read does not write");
    let (s, _) = key.get("/api/v1/queries").await;
    assert_eq!(s, StatusCode::OK, "write includes read");
    let last = if secret.ends_with('0') { "1" } else { "0" };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    let (s, _) = as_key(&ed, &wrong).get("/api/v1/auth/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a wrong secret of a real key");

    // Usage: counted per request, shown at once, written to the store by the flush.
    let (_, one) = ed.get(&format!("{KEYS}/{id}")).await;
    assert_eq!(one["requestCount"], 5, "{one}");
    assert_eq!(one["lastUsedAddress"], "127.0.0.1");
    assert!(one["lastUsedAt"].is_string());
    assert!(server.state.apikey_usage.flush(&server.state).await >= 1);
    let stored = server
        .state
        .store
        .get(&scope, Collection::ApiKeys, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["requestCount"], 5, "{stored}");
    let (_, one) = ed.get(&format!("{KEYS}/{id}")).await;
    assert_eq!(one["requestCount"], 5, "not counted twice: {one}");

    // A key can only make keys within its own scopes (and its owner's role).
    let (s, b) = key
        .post(KEYS, json!({"name": "x", "scopes": ["dashboards:read"]}))
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "managing keys needs admin:write: {b}"
    );

    // Rotation: a new secret, the old one stops (or lives through a grace period).
    let (s, rotated) = ed
        .call(Method::POST, &format!("{KEYS}/{id}/rotate"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let secret2 = rotated["secret"].as_str().unwrap().to_string();
    assert!(secret2 != secret && secret2.starts_with(&format!("nxk_{t}_{id}_")));
    assert_eq!(key.get("/api/v1/auth/me").await.0, StatusCode::UNAUTHORIZED);
    let key2 = as_key(&ed, &secret2);
    assert_eq!(key2.get("/api/v1/auth/me").await.0, StatusCode::OK);
    let (s, rotated) = ed
        .post(
            &format!("{KEYS}/{id}/rotate"),
            json!({"gracePeriodSeconds": 60}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    assert!(rotated["previousValidUntil"].is_string(), "{rotated}");
    let key3 = as_key(&ed, rotated["secret"].as_str().unwrap());
    assert_eq!(
        key2.get("/api/v1/auth/me").await.0,
        StatusCode::OK,
        "in its grace period"
    );
    assert_eq!(key3.get("/api/v1/auth/me").await.0, StatusCode::OK);
    let (s, b) = ed
        .post(
            &format!("{KEYS}/{id}/rotate"),
            json!({"gracePeriodSeconds": 999999}),
        )
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("gracePeriodSeconds"))
    );

    // Admins see every key and revoke, but never rotate (they would get the secret); other
    // users do not see it at all.
    let (_, all) = admin.get(KEYS).await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id.as_str()),
        "{all}"
    );
    let (s, _) = admin
        .call(Method::POST, &format!("{KEYS}/{id}/rotate"), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let vic = add_user(&server, &admin, &t, "vic", "viewer").await;
    assert_eq!(
        vic.get(&format!("{KEYS}/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        vic.delete(&format!("{KEYS}/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, vics) = vic.get(KEYS).await;
    assert_eq!(vics, json!([]));
    let (s, _) = admin.delete(&format!("{KEYS}/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for k in [&key2, &key3] {
        let (s, b) = k.get("/api/v1/auth/me").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked: {b}");
    }
    let (_, list) = ed.get(KEYS).await;
    assert_eq!(list, json!([]), "revoked keys are not listed by default");
    let (_, list) = ed.get(&format!("{KEYS}?includeRevoked=true")).await;
    assert_eq!(
        (list[0]["state"].as_str(), list[0]["revokedBy"].as_str()),
        (Some("revoked"), Some("admin")),
        "{list}"
    );
    let (s, _) = ed
        .call(Method::POST, &format!("{KEYS}/{id}/rotate"), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a revoked key is not brought back");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_keys_and_disabled_or_demoted_owners_fail() {
    let server = TestServer::start().await;
    let t = unique("k");
    let admin = server.tenant(&t, PW).await;
    let ed = add_user(&server, &admin, &t, "ed", "editor").await;

    let past = (chrono::Utc::now() - chrono::Duration::seconds(5)).to_rfc3339();
    let (s, b) = ed
        .post(
            KEYS,
            json!({"name": "old", "scopes": ["dashboards:read"], "expiresAt": past}),
        )
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("expiresAt")),
        "{b}"
    );
    let (s, b) = ed
        .post(KEYS, json!({"name": "viewer-ish", "scopes": ["*:read"]}))
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "*:read includes admin:read: {b}"
    );

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (id, secret) = create_key(
        &ed,
        json!({"name": "short", "scopes": ["dashboards:read"], "expiresAt": soon}),
    )
    .await;
    let short = as_key(&ed, &secret);
    assert_eq!(short.get("/api/v1/dashboards").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        short.get("/api/v1/dashboards").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, one) = ed.get(&format!("{KEYS}/{id}")).await;
    assert_eq!(one["state"], "expired");

    let (_, secret) = create_key(
        &ed,
        json!({"name": "ds", "scopes": ["datasources:write", "dashboards:read"]}),
    )
    .await;
    let key = as_key(&ed, &secret);
    assert_eq!(key.get("/api/v1/dashboards").await.0, StatusCode::OK);
    // Disabled owner: the key fails; enabled again: it works.
    let (s, _) = admin
        .call(
            Method::PATCH,
            "/api/v1/users/ed",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        key.get("/api/v1/dashboards").await.0,
        StatusCode::UNAUTHORIZED
    );
    admin
        .call(
            Method::PATCH,
            "/api/v1/users/ed",
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(key.get("/api/v1/dashboards").await.0, StatusCode::OK);
    // Demoted owner: the key keeps only what the new role allows.
    let (s, b) = key.post("/api/v1/datasources/nope/test", json!({})).await;
    assert_ne!(s, StatusCode::FORBIDDEN, "{b}");
    admin
        .call(
            Method::PATCH,
            "/api/v1/users/ed",
            Some(json!({"role": "viewer"})),
        )
        .await;
    let (s, b) = key.post("/api/v1/datasources/nope/test", json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("role viewer"), "{b}");
    // Deleted owner; and a new user of the same name is someone else.
    let (s, _) = admin.delete("/api/v1/users/ed").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        key.get("/api/v1/dashboards").await.0,
        StatusCode::UNAUTHORIZED
    );
    add_user(&server, &admin, &t, "ed", "editor").await;
    assert_eq!(
        key.get("/api/v1/dashboards").await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// The area a route belongs to, written down here independently of the server's table.
fn expected_area(path: &str) -> Option<&'static str> {
    let p = path.trim_start_matches("/api/v1/");
    let first = p.split('/').next().unwrap();
    Some(match first {
        "datasources" => "datasources",
        "queries" | "insights" => "queries",
        "dashboards" | "shares" => "dashboards",
        "catalog" | "governance" => "catalog",
        "lineage" => "lineage",
        "approvals" | "notifications" => "approvals",
        "audit" => "audit",
        "apikeys" | "users" | "tenant" | "admin" | "backup" | "webhooks" => "admin",
        "embed" if p == "embed/tokens" => "embed",
        "auth" if p == "auth/me" => return None,
        "auth" => "admin",
        _ => return None,
    })
}

/// Walks every operation of the OpenAPI document with keys: one lacking the operation's
/// scope is refused (403) before the handler; one holding exactly that scope is not.
#[tokio::test(flavor = "multi_thread")]
async fn every_operation_enforces_its_scope() {
    let server = TestServer::start().await;
    let t = unique("k");
    let admin = tenant_with_limits(&server, &t, "    enabled: false\n").await;
    let (_, doc) = server
        .call(None, Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert!(doc["components"]["securitySchemes"]["apiKey"].is_object());
    const AREAS: [&str; 9] = [
        "datasources",
        "queries",
        "dashboards",
        "catalog",
        "lineage",
        "approvals",
        "admin",
        "audit",
        "embed",
    ];
    let mut keys: HashMap<Vec<String>, Client2> = HashMap::new();
    let mut key_for = async |scopes: Vec<String>| -> Client2 {
        if let Some(k) = keys.get(&scopes) {
            return k.clone();
        }
        let (_, secret) = create_key(&admin, json!({"name": "walk", "scopes": scopes})).await;
        let k = as_key(&admin, &secret);
        keys.insert(scopes, k.clone());
        k
    };
    let (mut checked, mut public) = (0, Vec::new());
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let concrete = path
                .replace("{tenant}", &t)
                .split('/')
                .map(|seg| if seg.starts_with('{') { "nope-x" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let declared: Option<Vec<String>> = op["security"].as_array().and_then(|reqs| {
                reqs.iter().find_map(|r| {
                    r.get("apiKey").map(|s| {
                        s.as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().unwrap().to_string())
                            .collect()
                    })
                })
            });
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let Some(declared) = declared else {
                // Not for keys: public operations, and the operator's provisioning API.
                public.push(format!("{method} {path}"));
                if path.starts_with("/api/v1/provisioning") {
                    let all = key_for(vec!["*".into()]).await;
                    let (s, b) = raw(&all, method.clone(), &concrete, body.clone()).await;
                    assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {b}");
                }
                continue;
            };
            assert!(
                op["responses"]["429"].is_object(),
                "{method} {path} documents 429"
            );
            let access = if method == Method::GET || method == Method::HEAD {
                "read"
            } else {
                "write"
            };
            let Some(area) = expected_area(path) else {
                assert!(declared.is_empty(), "{method} {path}: {declared:?}");
                let any = key_for(vec!["queries:read".into()]).await;
                let (s, b) = raw(&any, method.clone(), &concrete, body).await;
                assert_eq!(s, StatusCode::OK, "{method} {path}: {b}");
                continue;
            };
            let need = format!("{area}:{access}");
            assert_eq!(declared, vec![need.clone()], "{method} {path}");
            // Everything else, and for a write the same area's read.
            let mut under: Vec<String> = AREAS
                .iter()
                .filter(|a| **a != area)
                .map(|a| format!("{a}:*"))
                .collect();
            if access == "write" {
                under.push(format!("{area}:read"));
            }
            let under = key_for(under).await;
            let (s, b) = raw(&under, method.clone(), &concrete, body.clone()).await;
            assert_eq!(
                s,
                StatusCode::FORBIDDEN,
                "{method} {path} with a key lacking {need}: {b}"
            );
            assert!(
                b["detail"].as_str().unwrap().contains(&need),
                "{method} {path}: {b}"
            );
            let exact = key_for(vec![need.clone()]).await;
            let (s, b) = raw(&exact, method.clone(), &concrete, body).await;
            assert_ne!(
                s,
                StatusCode::FORBIDDEN,
                "{method} {path} with a key holding {need}: {b}"
            );
            assert_ne!(s, StatusCode::UNAUTHORIZED, "{method} {path}: {b}");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} operations checked");
    public.sort();
    assert!(
        public.iter().all(|p| p.contains("/provisioning/")
            || p.contains("/shared/")
            || p.contains("/embed/{tenant}/")
            || p.ends_with("/auth/login")
            || p.ends_with("/auth/login/mfa")
            || p.ends_with("/auth/login/mfa/enroll")
            || p.contains("/auth/oidc/")
            || p.ends_with("/branding")
            || p.contains(" /problems/")),
        "operations without API keys: {public:?}"
    );
}

/// A request with a key; the body as JSON when it is JSON, else as a string (the walk reaches
/// extractor rejections that are not all problem+json yet).
async fn raw(c: &Client2, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = c
        .http
        .request(method, format!("{}{path}", c.base))
        .bearer_auth(&c.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get_with(http: &reqwest::Client, url: &str, secret: &str) -> reqwest::Response {
    http.get(url).bearer_auth(secret).send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_per_key_user_and_address() {
    let server = TestServer::start().await;
    let t = unique("k");
    let admin = tenant_with_limits(&server, &t, "    enabled: false\n").await;
    let (_, a) = create_key(&admin, json!({"name": "a", "scopes": ["*"]})).await;
    let (_, b) = create_key(&admin, json!({"name": "b", "scopes": ["*"]})).await;
    // Tight buckets refilling slowly (one request every 10 s): per key 3, per address 5.
    // (Logins name no tenant until they succeed: they draw from the instance's default
    // address bucket, not this tenant's.)
    tenant_with_limits(
        &server,
        &t,
        "    perKey: {requestsPerMinute: 6, burst: 3}\n    perUser: {requestsPerMinute: 6000, burst: 1000}\n    perAddress: {requestsPerMinute: 6, burst: 5}\n",
    )
    .await;
    let me = format!("{}/api/v1/auth/me", server.base);
    let http = reqwest::Client::new();
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = get_with(&http, &me, &a).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "ratelimit-limit").as_deref(), Some("3"));
        remaining.push(header(&r, "ratelimit-remaining").unwrap());
        assert!(
            header(&r, "ratelimit-reset").is_some() && header(&r, "ratelimit-policy").is_some()
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = get_with(&http, &me, &a).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/problem+json")
    );
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("0"));
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("API key"),
        "{body}"
    );
    // Another key of the same user has its own bucket.
    let r = get_with(&http, &me, &b).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The address bucket (5): a ×4 (the refused one too: the address is checked first), b ×1
    // — empty now, whatever the key.
    let r = get_with(&http, &me, &b).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("client address"),
        "{body}"
    );
    // Another client address has its own bucket; health checks are never limited.
    let other = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = get_with(&other, &me, &b).await;
    assert_eq!(r.status(), StatusCode::OK, "127.0.0.2 is another address");
    let r = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "ratelimit-limit").is_none());

    // Per user: two keys of one user share the user's bucket.
    tenant_with_limits(
        &server,
        &t,
        "    perKey: {requestsPerMinute: 6000, burst: 100}\n    perUser: {requestsPerMinute: 6, burst: 2}\n    perAddress: {requestsPerMinute: 6000, burst: 100}\n",
    )
    .await;
    assert_eq!(get_with(&http, &me, &a).await.status(), StatusCode::OK);
    assert_eq!(get_with(&http, &me, &b).await.status(), StatusCode::OK);
    let r = get_with(&http, &me, &b).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("user"), "{body}");
}

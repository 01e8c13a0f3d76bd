//! Embedded dashboards end to end over HTTP: a key with `embed:write` mints a token (a key
//! without the scope, a viewer, bad input are refused); the token opens the dashboard and its
//! data with the locked variables (another value asked is refused), the minter's masking, the
//! minter's row filters narrowed by the row context (never widened); expired, forged, other
//! tenant's and revoked-key tokens are 401; CORS only for the tenant's allowed origins; the
//! embed page's `frame-ancestors`; the `embedding` feature turned off refuses both.
use nexbii_tests::{unique, Client2, TestServer};
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";
const HOST: &str = "http://host.example:8080";

/// Masking of confidential columns for everyone but admins; a row filter on customers whose
/// `country` attribute `ALL` lets through every row.
fn policy(tenant: &str) -> String {
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
  rowFilters:
    exemptRoles: [admin]
    filters:
      - name: by_country
        dataSource: sales
        table: customers
        kind: base
        clause: "country = {{{{user.attributes.country}}}} OR {{{{user.attributes.country}}}} = 'ALL'"
"#
    )
}

fn dashboard() -> Value {
    json!({
        "title": "Contacts",
        "publication": "published",
        "variables": [{"name": "country", "default": "DE", "options": ["DE", "FR", "US"]}],
        "widgets": [
            {"id": "contacts", "chart": "table", "query": {"dataSource": "sales",
                "sql": "SELECT email, country FROM customers WHERE country = ? ORDER BY id LIMIT 5",
                "params": [{"variable": "country"}]}},
            {"id": "countries", "chart": "table", "query": {"dataSource": "sales",
                "sql": "SELECT DISTINCT country FROM customers ORDER BY country"}}
        ]
    })
}

async fn setup(server: &TestServer, tenant: &str) -> Client2 {
    let policy = policy(tenant);
    let admin = server
        .tenant_with(tenant, PW, &[("policy.yaml", &policy)])
        .await;
    server.add_sales(&admin, "embed.db").await;
    let (s, b) = admin
        .post("/api/v1/catalog/datasources/sales/sync", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    admin
}

async fn user(
    server: &TestServer,
    admin: &Client2,
    tenant: &str,
    name: &str,
    role: &str,
    country: &str,
) -> Client2 {
    let fields = json!({"username": name, "role": role, "attributes": {"country": country}});
    server.user(admin, tenant, fields).await
}

async fn key(owner: &Client2, scopes: Value) -> (String, Client2) {
    let (s, b) = owner
        .post(
            "/api/v1/apikeys",
            json!({"name": "host app", "scopes": scopes}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let k = Client2 {
        base: owner.base.clone(),
        http: owner.http.clone(),
        token: b["secret"].as_str().unwrap().to_string(),
    };
    (b["id"].as_str().unwrap().to_string(), k)
}

async fn mint(c: &Client2, body: Value) -> String {
    let (s, b) = c.post("/api/v1/embed/tokens", body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let expires: chrono::DateTime<chrono::Utc> = b["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(expires > chrono::Utc::now());
    b["token"].as_str().unwrap().to_string()
}

/// A request to the embed API as a browser on `origin` would make it.
async fn view(
    c: &Client2,
    method: Method,
    path: &str,
    token: Option<&str>,
    origin: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = c.http.request(method, format!("{}{path}", c.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let r = req.send().await.unwrap();
    let (s, h) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap();
    (
        s,
        h,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn rows<'a>(data: &'a Value, widget: &str) -> &'a Vec<Value> {
    data["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == widget)
        .and_then(|w| w["result"]["rows"].as_array())
        .unwrap_or_else(|| panic!("{widget} has no rows: {data}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn embed_tokens_open_dashboards_as_their_minter() {
    let server = TestServer::start().await;
    let t = unique("emb");
    let admin = setup(&server, &t).await;
    let ed = user(&server, &admin, &t, "ed", "editor", "ALL").await;
    let fr = user(&server, &admin, &t, "fr", "editor", "FR").await;
    let vic = user(&server, &admin, &t, "vic", "viewer", "ALL").await;
    let (s, b) = ed
        .post(
            "/api/v1/dashboards",
            json!({"name": "contacts", "spec": dashboard()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"embedding": {"allowedOrigins": [HOST]}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"embedding": {"allowedOrigins": ["https://x.example/path"]}}),
        )
        .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("embedding.allowedOrigins[0]")
        ),
        "{b}"
    );

    // Who may mint: a key with embed:write; not a key without it, nor a viewer.
    let (key_id, embed_key) = key(&ed, json!(["embed:write"])).await;
    let (_, dash_key) = key(&ed, json!(["dashboards:write"])).await;
    let body = json!({"dashboard": "contacts", "variables": {"country": "FR"}});
    let (s, b) = dash_key.post("/api/v1/embed/tokens", body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("embed:write"), "{b}");
    let (s, _) = vic.post("/api/v1/embed/tokens", body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "viewers do not mint");
    for (bad, field) in [
        (json!({"dashboard": "nope"}), "dashboard"),
        (
            json!({"dashboard": "contacts", "variables": {"region": "EU"}}),
            "variables.region",
        ),
        (
            json!({"dashboard": "contacts", "variables": {"country": "XX"}}),
            "variables.country",
        ),
        (
            json!({"dashboard": "contacts", "ttlSeconds": 3601}),
            "ttlSeconds",
        ),
        (
            json!({"dashboard": "contacts", "rowContext": {"no spaces": "x"}}),
            "rowContext.no spaces",
        ),
    ] {
        let (s, b) = embed_key.post("/api/v1/embed/tokens", bad).await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{b}"
        );
    }
    let token = mint(&embed_key, body).await;

    // The definition: layout and variables, the locked one marked, never the statements.
    let base = format!("/api/v1/embed/{t}/dashboard");
    let (s, _, v) = view(&ed, Method::GET, &base, Some(&token), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], "dashboard");
    assert_eq!(v["variables"][0]["locked"], true);
    assert_eq!(v["variables"][0]["default"], "FR");
    assert_eq!(v["widgets"].as_array().unwrap().len(), 2);
    assert!(!v.to_string().contains("SELECT"), "{v}");

    // The data: locked variable applied, the minter's (an editor's) masking.
    let data_path = format!("{base}/data");
    let (s, _, data) = view(&ed, Method::GET, &data_path, Some(&token), None).await;
    assert_eq!(s, StatusCode::OK, "{data}");
    let contacts = rows(&data, "contacts");
    assert!(!contacts.is_empty(), "{data}");
    assert!(
        contacts
            .iter()
            .all(|r| r[1] == "FR" && r[0].as_str().unwrap().contains('*')),
        "{data}"
    );
    assert!(
        rows(&data, "countries").len() > 5,
        "ALL sees every country: {data}"
    );
    let (s, _, b) = view(
        &ed,
        Method::GET,
        &format!("{data_path}?country=DE"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("country")),
        "a locked variable cannot be overridden: {b}"
    );

    // The row context narrows the minter's rows, and never widens them.
    let narrowed = mint(
        &embed_key,
        json!({"dashboard": "contacts", "rowContext": {"country": "DE"}}),
    )
    .await;
    let (s, _, data) = view(&ed, Method::GET, &data_path, Some(&narrowed), None).await;
    assert_eq!(s, StatusCode::OK, "{data}");
    assert_eq!(rows(&data, "countries"), &vec![json!(["DE"])], "{data}");
    let wider = mint(
        &fr,
        json!({"dashboard": "contacts", "variables": {"country": "FR"}, "rowContext": {"country": "ALL"}}),
    )
    .await;
    let (s, _, data) = view(&ed, Method::GET, &data_path, Some(&wider), None).await;
    assert_eq!(s, StatusCode::OK, "{data}");
    assert_eq!(rows(&data, "countries"), &vec![json!(["FR"])], "{data}");

    // Wrong tokens: none, forged, another tenant's path, a session token, expired.
    let (s, _, b) = view(&ed, Method::GET, &base, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (s, _, _) = view(&ed, Method::GET, &base, Some(&forged), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let other = unique("emo");
    server.tenant(&other, PW).await;
    let (s, _, _) = view(
        &ed,
        Method::GET,
        &format!("/api/v1/embed/{other}/dashboard"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "another tenant's path");
    let (s, _, _) = view(&ed, Method::GET, &base, Some(&ed.token), None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a session token is no embed token"
    );
    let short = mint(
        &embed_key,
        json!({"dashboard": "contacts", "ttlSeconds": 1}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, _, b) = view(&ed, Method::GET, &data_path, Some(&short), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("expired"), "{b}");

    // CORS: the allowed origin gets it (errors too), another does not; preflight.
    let (s, h, _) = view(&ed, Method::GET, &data_path, Some(&token), Some(HOST)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], HOST);
    let (s, h, _) = view(&ed, Method::GET, &base, None, Some(HOST)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h["access-control-allow-origin"], HOST);
    let evil = "http://evil.example:8080";
    let (s, h, _) = view(&ed, Method::GET, &data_path, Some(&token), Some(evil)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");
    let (s, h, _) = view(&ed, Method::OPTIONS, &data_path, None, Some(HOST)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(h["access-control-allow-origin"], HOST);
    assert_eq!(h["access-control-allow-headers"], "authorization");
    assert_eq!(h["access-control-allow-methods"], "GET");
    let (s, h, _) = view(&ed, Method::OPTIONS, &base, None, Some(evil)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(h.get("access-control-allow-origin").is_none(), "{h:?}");

    // The embed page may be framed by the allowed origins only.
    let (s, h, _) = view(&ed, Method::GET, &format!("/embed/{t}?token=x"), None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.ends_with(&format!("frame-ancestors {HOST}")), "{csp}");
    let (_, h, _) = view(&ed, Method::GET, &format!("/embed/{other}"), None, None).await;
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");

    // Audited as the minter's views, without the token.
    let (s, entries) = admin.get("/api/v1/audit?action=embed.view").await;
    assert_eq!(s, StatusCode::OK, "{entries}");
    let entries = entries.as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "ed" && e["status"] == 200),
        "{entries:?}"
    );
    let (s, minted) = admin.get("/api/v1/audit?action=embed.tokens.create").await;
    assert_eq!(s, StatusCode::OK);
    assert!(minted.as_array().unwrap().len() >= 4, "{minted}");
    let (_, all) = admin.get("/api/v1/audit?limit=500").await;
    assert!(
        !all.to_string().contains(&token),
        "tokens are never written down"
    );

    // Revoking the minting key ends its tokens.
    let (s, _) = ed.delete(&format!("/api/v1/apikeys/{key_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = view(&ed, Method::GET, &base, Some(&token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedding_feature_gates_minting_and_viewing() {
    let server = TestServer::start().await;
    let t = unique("emf");
    let admin = setup(&server, &t).await;
    let (s, b) = admin
        .post(
            "/api/v1/dashboards",
            json!({"name": "contacts", "spec": dashboard()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let token = mint(&admin, json!({"dashboard": "contacts"})).await;
    let path = format!("/api/v1/embed/{t}/dashboard/data");
    let (s, _, data) = view(&admin, Method::GET, &path, Some(&token), None).await;
    assert_eq!(s, StatusCode::OK, "{data}");
    // An admin (exempt from masking and row filters) sees clear values of the default country.
    assert!(rows(&data, "contacts").iter().all(|r| r[1] == "DE"
        && r[0].as_str().unwrap().contains('@')
        && !r[0].as_str().unwrap().contains('*')));

    let (s, b) = admin
        .put(
            "/api/v1/admin/features/embedding",
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = admin
        .post("/api/v1/embed/tokens", json!({"dashboard": "contacts"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("embedding"), "{b}");
    let (s, _, b) = view(&admin, Method::GET, &path, Some(&token), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _, _) = view(
        &admin,
        Method::GET,
        &format!("/api/v1/embed/{t}/dashboard"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

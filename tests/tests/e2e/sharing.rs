//! Exports, share links and the approvals that hold them, end to end over HTTP: a CSV or
//! JSON-lines export carries the caller's masking; a share link opens a dashboard or saved
//! query for people without an account with the sharer's access (never more), its password,
//! its locked variables, its expiry and its revocation; a policy holds new data sources,
//! exports and sharing outside the tenant for approval.
use nexbii_controlplane::{
    bi::shares::ShareLink,
    store::{write::Actor, Expect, StoreExt, TenantScope},
};
use nexbii_tests::{unique, Client2, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";

fn policy(tenant: &str, approvals: &str) -> String {
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
  approvals:
{approvals}
"#
    )
}

async fn setup(server: &TestServer, tenant: &str, approvals: &str) -> Client2 {
    let policy = policy(tenant, approvals);
    server
        .tenant_with(tenant, PW, &[("policy.yaml", &policy)])
        .await
}

async fn user(
    server: &TestServer,
    admin: &Client2,
    tenant: &str,
    name: &str,
    role: &str,
) -> Client2 {
    server
        .user(admin, tenant, json!({"username": name, "role": role}))
        .await
}

async fn crawl(admin: &Client2) {
    let (s, b) = admin
        .post("/api/v1/catalog/datasources/sales/sync", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// A raw request (exports are not JSON), returning status, headers and text.
async fn raw(
    c: &Client2,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = c
        .http
        .request(method, format!("{}{path}", c.base))
        .bearer_auth(&c.token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let (s, h) = (r.status(), r.headers().clone());
    (s, h, r.text().await.unwrap())
}

/// An anonymous request to a shared link.
async fn anon(c: &Client2, path: &str, password: Option<&str>) -> (StatusCode, Value) {
    let mut req = c.http.get(format!("{}{path}", c.base));
    if let Some(p) = password {
        req = req.header("x-share-password", p);
    }
    let r = req.send().await.unwrap();
    let s = r.status();
    let text = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn approve(approver: &Client2, id: &str) {
    let (s, b) = approver
        .post(
            &format!("/api/v1/approvals/{id}/approve"),
            json!({"comment": "fine"}),
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{b}"
    );
}

fn dashboard() -> Value {
    json!({
        "title": "Contacts",
        "publication": "published",
        "variables": [{"name": "country", "default": "DE", "options": ["DE", "FR", "US"]}],
        "widgets": [{"id": "contacts", "chart": "table", "query": {"dataSource": "sales",
            "sql": "SELECT email, country FROM customers WHERE country = ? ORDER BY id LIMIT 5",
            "params": [{"variable": "country"}]}}]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_carry_the_callers_masking() {
    let server = TestServer::start().await;
    let tenant = unique("exp");
    let admin = setup(&server, &tenant, "    {}").await;
    server.add_sales(&admin, "s.db").await;
    crawl(&admin).await;
    let ann = user(&server, &admin, &tenant, "ann", "editor").await;
    let sql = "SELECT id, email, country FROM customers ORDER BY id LIMIT 3";

    let body = json!({"dataSource": "sales", "sql": sql, "format": "csv"});
    let (s, h, csv) = raw(
        &ann,
        Method::POST,
        "/api/v1/queries/export",
        Some(body.clone()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{csv}");
    assert_eq!(h["content-type"], "text/csv; charset=utf-8");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .contains("export.csv"));
    assert_eq!(h["x-masked-columns"], "email=partial");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "id,email,country");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines[1..].iter().all(|l| l.contains('*')),
        "masked for an editor: {csv}"
    );

    // The admin is exempt: the clear values, and the two answers never share a cache entry.
    let (s, h, clear) = raw(
        &admin,
        Method::POST,
        "/api/v1/queries/export",
        Some(body),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-masked-columns"], "");
    assert!(
        clear.contains("@example.") && !clear.contains('*'),
        "{clear}"
    );
    for line in clear.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        let email = line.split(',').nth(1).unwrap();
        assert!(
            !csv.contains(email),
            "the editor's export holds a clear value: {email}"
        );
    }

    // JSON lines of a saved query, masked the same way.
    let (s, q) = ann
        .post(
            "/api/v1/queries",
            json!({"name": "contacts", "dataSource": "sales", "sql": sql}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let path = format!(
        "/api/v1/queries/{}/export?format=jsonl",
        q["id"].as_str().unwrap()
    );
    let (s, h, jsonl) = raw(&ann, Method::POST, &path, None, &[]).await;
    assert_eq!(s, StatusCode::OK, "{jsonl}");
    assert_eq!(h["content-type"], "application/x-ndjson");
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["id"], 1);
    assert!(
        rows.iter()
            .all(|r| r["email"].as_str().unwrap().contains('*')),
        "{jsonl}"
    );
    let bad = path.replace("jsonl", "xml");
    let (s, _, problem) = raw(&ann, Method::POST, &bad, None, &[]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem.contains("\"field\":\"format\""), "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_sources_exports_and_share_links_wait_for_approval() {
    let server = TestServer::start().await;
    let tenant = unique("hold");
    let approvals = r#"    dataSourceCreation: {levels: 1, approvers: ["role:admin"]}
    exports: {minLevel: confidential, levels: 1, approvers: ["role:admin"]}
    externalSharing: {levels: 1, approvers: ["role:admin"]}"#;
    let admin = setup(&server, &tenant, approvals).await;
    let root = &server.state.settings.sqlite_root;
    std::fs::create_dir_all(root).unwrap();
    nexbii_controlplane::sample_data::generate(&root.join("s.db"))
        .await
        .unwrap();
    let admin2 = user(&server, &admin, &tenant, "adm2", "admin").await;
    let ann = user(&server, &admin, &tenant, "ann", "editor").await;

    // A new data source waits for another admin; the approval lets exactly that one in.
    let source = json!({"name": "sales", "spec": {"type": "sqlite", "path": "s.db"}});
    let (s, held) = admin.post("/api/v1/datasources", source.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{held}");
    assert_eq!(held["subject"]["kind"], "dataSourceCreation");
    assert_eq!(held["subject"]["name"], "sales");
    let (s, _) = admin.get("/api/v1/datasources/sales").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing is created while held");
    let (s, b) = admin
        .post(
            &format!("/api/v1/approvals/{}/approve", held["id"].as_str().unwrap()),
            json!({"comment": "mine"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "the requester never approves: {b}"
    );
    approve(&admin2, held["id"].as_str().unwrap()).await;
    let other = json!({"name": "sales", "spec": {"type": "sqlite", "path": "other.db"}});
    let (s, _) = admin.post("/api/v1/datasources", other).await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "another spec needs its own approval"
    );
    let (s, b) = admin.post("/api/v1/datasources", source).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    crawl(&admin).await;

    // Exports of confidential data wait; others do not.
    let export = |sql: &str| json!({"dataSource": "sales", "sql": sql, "format": "csv"});
    let (s, _, _) = raw(
        &ann,
        Method::POST,
        "/api/v1/queries/export",
        Some(export(
            "SELECT country, count(*) AS n FROM customers GROUP BY country",
        )),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "below the level: no approval");
    let sensitive = export("SELECT name, email FROM customers ORDER BY id LIMIT 2");
    let (s, _, text) = raw(
        &ann,
        Method::POST,
        "/api/v1/queries/export",
        Some(sensitive.clone()),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{text}");
    let req: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (
            req["subject"]["kind"].as_str(),
            req["subject"]["level"].as_str()
        ),
        (Some("export"), Some("confidential")),
        "{req}"
    );
    let (s, _) = ann
        .run(
            "sales",
            "SELECT name, email FROM customers ORDER BY id LIMIT 2",
            json!([]),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "running is not exporting: no approval asked"
    );
    approve(&admin, req["id"].as_str().unwrap()).await;
    let (s, _, csv) = raw(
        &ann,
        Method::POST,
        "/api/v1/queries/export",
        Some(sensitive),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{csv}");
    assert!(
        csv.starts_with("name,email\r\n") && csv.contains('*'),
        "approved, still masked: {csv}"
    );
    let (s, _, _) = raw(&ann, Method::POST, "/api/v1/queries/export",
        Some(json!({"dataSource": "sales", "sql": "SELECT name, email FROM customers ORDER BY id LIMIT 2", "format": "jsonl"})), &[]).await;
    assert_eq!(s, StatusCode::ACCEPTED, "another format is another export");

    // A share link is sharing outside the tenant: held, then created on the approved terms.
    let (s, _) = ann
        .post(
            "/api/v1/dashboards",
            json!({"name": "contacts", "spec": dashboard()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let share = json!({"resource": "dashboard/contacts", "expiresInHours": 24});
    let (s, held) = ann.post("/api/v1/shares", share.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{held}");
    assert_eq!(held["subject"]["kind"], "externalShare");
    let (_, listed) = ann.get("/api/v1/shares").await;
    assert_eq!(listed, json!([]), "no link while held");
    approve(&admin2, held["id"].as_str().unwrap()).await;
    let (s, _) = ann
        .post("/api/v1/shares", json!({"resource": "dashboard/contacts"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "without expiry is another request");
    let (s, link) = ann.post("/api/v1/shares", share).await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let (s, _) = anon(&ann, link["url"].as_str().unwrap(), None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn share_links_open_with_the_sharers_access() {
    let server = TestServer::start().await;
    let tenant = unique("shr");
    let admin = setup(&server, &tenant, "    {}").await;
    server.add_sales(&admin, "s.db").await;
    crawl(&admin).await;
    let ann = user(&server, &admin, &tenant, "ann", "editor").await;
    let bob = user(&server, &admin, &tenant, "bob", "editor").await;
    let vic = user(&server, &admin, &tenant, "vic", "viewer").await;
    let (s, b) = ann
        .post(
            "/api/v1/dashboards",
            json!({"name": "contacts", "spec": dashboard()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let (s, _) = vic
        .post("/api/v1/shares", json!({"resource": "dashboard/contacts"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "viewers do not share");
    for (body, field) in [
        (json!({"resource": "dashboard/nope"}), "resource"),
        (json!({"resource": "users/admin"}), "resource"),
        (
            json!({"resource": "dashboard/contacts", "lockedVariables": {"region": "EU"}}),
            "lockedVariables.region",
        ),
        (
            json!({"resource": "dashboard/contacts", "lockedVariables": {"country": "XX"}}),
            "lockedVariables.country",
        ),
        (
            json!({"resource": "dashboard/contacts", "password": "short"}),
            "password",
        ),
        (
            json!({"resource": "dashboard/contacts", "expiresInHours": 0}),
            "expiresInHours",
        ),
    ] {
        let (s, b) = ann.post("/api/v1/shares", body).await;
        assert_eq!(
            (s, b["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{b}"
        );
    }

    let (s, link) = ann
        .post(
            "/api/v1/shares",
            json!({"resource": "dashboard/contacts",
            "password": "open sesame", "lockedVariables": {"country": "FR"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let token = link["token"].as_str().unwrap();
    assert!(token.starts_with(&format!("nxs_{tenant}_")));
    assert!(token.starts_with(link["tokenPrefix"].as_str().unwrap()));
    let url = link["url"].as_str().unwrap().to_string();

    // Password first; the definition never carries the statements.
    let (s, b) = anon(&ann, &url, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, _) = anon(&ann, &url, Some("wrong password")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, view) = anon(&ann, &url, Some("open sesame")).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["kind"], "dashboard");
    assert_eq!(view["variables"][0]["locked"], true);
    assert_eq!(view["variables"][0]["default"], "FR");
    assert!(!view.to_string().contains("SELECT"), "{view}");

    // Data as the sharer sees it (an editor: masked), with the locked variable.
    let (s, data) = anon(&ann, &format!("{url}/data"), Some("open sesame")).await;
    assert_eq!(s, StatusCode::OK, "{data}");
    let result = &data["widgets"][0]["result"];
    let rows = result["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{data}");
    assert!(
        rows.iter()
            .all(|r| r[1] == "FR" && r[0].as_str().unwrap().contains('*')),
        "{data}"
    );
    assert_eq!(result["masked"][0]["column"], "email");
    let (s, b) = anon(&ann, &format!("{url}/data?country=DE"), Some("open sesame")).await;
    assert_eq!(
        (s, b["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("country"))
    );

    // The admin's link to the same dashboard shows the admin's view: clear values.
    let (s, alink) = admin
        .post("/api/v1/shares", json!({"resource": "dashboard/contacts"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, data) = anon(
        &ann,
        &format!("{}/data?country=DE", alink["url"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{data}");
    let rows = data["widgets"][0]["result"]["rows"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r[1] == "DE"
            && r[0].as_str().unwrap().contains('@')
            && !r[0].as_str().unwrap().contains('*')),
        "{data}"
    );

    // A saved query's link.
    let (_, q) = ann
        .post(
            "/api/v1/queries",
            json!({"name": "count", "dataSource": "sales",
            "sql": "SELECT count(*) AS n FROM customers"}),
        )
        .await;
    let (s, qlink) = ann
        .post("/api/v1/shares", json!({"resource": format!("query/{}", q["id"].as_str().unwrap()), "expiresInHours": 2}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{qlink}");
    let qurl = qlink["url"].as_str().unwrap();
    let (s, v) = anon(&ann, qurl, None).await;
    assert_eq!(
        (s, v["kind"].as_str(), v["name"].as_str()),
        (StatusCode::OK, Some("query"), Some("count"))
    );
    let (s, r) = anon(&ann, &format!("{qurl}/data"), None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r["rows"][0][0].as_i64().unwrap() > 0);

    // Listing: one's own links; admins any owner's. Nobody sees tokens or password hashes.
    let (_, mine) = ann.get("/api/v1/shares").await;
    assert_eq!(mine.as_array().unwrap().len(), 2, "{mine}");
    assert!(mine
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l.get("token").is_none()));
    assert!(
        !mine.to_string().contains(token) && !mine.to_string().contains("argon2"),
        "{mine}"
    );
    assert_eq!(
        mine.as_array()
            .unwrap()
            .iter()
            .filter(|l| l["hasPassword"] == true)
            .count(),
        1
    );
    let (_, bobs) = bob.get("/api/v1/shares").await;
    assert_eq!(bobs, json!([]));
    let (_, anns) = admin.get("/api/v1/shares?owner=ann").await;
    assert_eq!(anns.as_array().unwrap().len(), 2);

    let (s, extra) = ann
        .post(
            "/api/v1/shares",
            json!({"resource": format!("query/{}", q["id"].as_str().unwrap())}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // Expired links are gone (410); revoked and forged ones unknown (404).
    let scope = TenantScope::new(&tenant).unwrap();
    let qid = qlink["id"].as_str().unwrap();
    let mut rec: ShareLink = server
        .state
        .store
        .get_as(&scope, qid)
        .await
        .unwrap()
        .unwrap();
    let rev = rec.meta.revision;
    rec.expires_at = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
    server
        .state
        .writer
        .save(&scope, &Actor::System, rec, Expect::Revision(rev))
        .await
        .unwrap();
    let (s, _) = anon(&ann, &format!("{qurl}/data"), None).await;
    assert_eq!(s, StatusCode::GONE);
    let forged = format!("/api/v1/shared/nxs_{tenant}_{}", "ab".repeat(32));
    assert_eq!(anon(&ann, &forged, None).await.0, StatusCode::NOT_FOUND);
    let lid = link["id"].as_str().unwrap();
    let (s, _) = bob.delete(&format!("/api/v1/shares/{lid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another editor cannot revoke it");
    let (s, _) = ann.delete(&format!("/api/v1/shares/{lid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = anon(&ann, &url, Some("open sesame")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "revoked at once");

    // A disabled sharer's links stop working.
    let extra_url = format!("{}/data", extra["url"].as_str().unwrap());
    assert_eq!(anon(&ann, &extra_url, None).await.0, StatusCode::OK);
    let (s, b) = admin
        .call(
            Method::PATCH,
            "/api/v1/users/ann",
            Some(json!({"disabled": true})),
        )
        .await;
    assert!(s.is_success(), "{b}");
    assert_eq!(anon(&ann, &extra_url, None).await.0, StatusCode::NOT_FOUND);
    let (s, _) = anon(
        &ann,
        &format!("{}/data", alink["url"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "the admin's link is unaffected");
}

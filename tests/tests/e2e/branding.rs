//! White-labelling over HTTP: `GET /api/v1/branding` without a credential, by `?tenant=` and by
//! the custom domain in `Host`, with what fails the rules left out and custom CSS sanitised.
use nexbii_tests::{tenant_yaml, unique, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn get(server: &TestServer, query: &str, host: Option<&str>) -> (StatusCode, Value, String) {
    let mut req = server
        .http
        .get(format!("{}/api/v1/branding{query}", server.base));
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, r.json().await.unwrap_or(Value::Null), cache)
}

#[tokio::test(flavor = "multi_thread")]
async fn branding_is_served_by_name_and_by_custom_domain() {
    let server = TestServer::start().await;
    let t = unique("brand");
    let host = format!("{t}.bi.example.com");
    let yaml = tenant_yaml(&t, "admin-password-123").replace(
        "  displayName: Tenant",
        &format!(
            r##"  branding:
    name: Acme Insights
    logoUrl: https://cdn.acme.example/logo.svg
    darkLogoUrl: data:image/png;base64,iVBORw0KGgo=
    faviconUrl: /favicon.ico
    primaryColor: "#0a7f5a"
    accentColor: "#ffb000"
    fontFamily: Inter, sans-serif
    customDomain: {host}
    customCss: |
      @import url(https://evil.example/x.css);
      .nx-shell {{ border-top: 3px solid #0a7f5a; background: url(https://evil.example/t.png) }}
  displayName: Tenant"##
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let applied = server.apply_yaml(dir.path(), &[("t.yaml", &yaml)]).await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);

    let (s, b, cache) = get(&server, &format!("?tenant={t}"), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(cache, "public, max-age=60");
    assert_eq!(b["tenant"], t.as_str());
    assert_eq!(b["displayName"], "Acme Insights");
    assert_eq!(b["logoUrl"], "https://cdn.acme.example/logo.svg");
    assert_eq!(b["darkLogoUrl"], "data:image/png;base64,iVBORw0KGgo=");
    assert_eq!(b["faviconUrl"], "/favicon.ico");
    assert_eq!(b["primaryColor"], "#0a7f5a");
    assert_eq!(b["fontFamily"], "Inter, sans-serif");
    let css = b["customCss"].as_str().unwrap();
    assert!(css.contains("border-top: 3px solid #0a7f5a"), "{css}");
    assert!(!css.contains("evil"), "{css}");
    assert_eq!(b["removed"], json!(["@import", "url()"]));

    // The custom domain finds the tenant without naming it (a port is ignored).
    let (s, by_host, _) = get(&server, "", Some(&format!("{host}:8443"))).await;
    assert_eq!(s, StatusCode::OK, "{by_host}");
    assert_eq!(by_host["tenant"], t.as_str());

    // Unknown tenants and hosts are 404 problems; a tenant without branding gets defaults.
    for (q, h) in [
        ("?tenant=no-such-tenant", None),
        ("", Some("nobody.example.com")),
    ] {
        let (s, b, _) = get(&server, q, h).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{q} {h:?}: {b}");
        assert_eq!(b["status"], 404);
    }
    let plain = unique("plain");
    let applied = server
        .apply_yaml(
            dir.path(),
            &[("t.yaml", &tenant_yaml(&plain, "admin-password-123"))],
        )
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let (s, b, _) = get(&server, &format!("?tenant={plain}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b,
        json!({"tenant": plain, "displayName": format!("Tenant {plain}")})
    );
}

/// A branded tenant's problem `type` URIs name its own host (the custom domain, else the host
/// the request was sent to) and resolve there (`GET /problems/{slug}`); its OpenAPI document
/// carries its name. Unbranded tenants, and the same tenant once its branding is removed, keep
/// `https://nexbii.io/problems/…` and the instance's title.
#[tokio::test(flavor = "multi_thread")]
async fn problem_types_and_the_openapi_document_are_branded() {
    const PW: &str = "admin-password-123";
    let server = TestServer::start().await;
    let t = unique("brandp");
    let host = format!("{t}.bi.example.com");
    let branded = |domain: bool| {
        tenant_yaml(&t, PW).replace(
            "  displayName: Tenant",
            &format!(
                "  branding:\n    name: Acme Insights\n{}  displayName: Tenant",
                if domain {
                    format!("    customDomain: {host}\n")
                } else {
                    String::new()
                }
            ),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let applied = server
        .apply_yaml(dir.path(), &[("t.yaml", &branded(true))])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let admin = server.login(&t, "admin", PW).await;

    // Authenticated: the tenant's custom domain.
    let (s, b) = admin.get("/api/v1/dashboards/no-such-board").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let uri = format!("https://{host}/problems/not-found");
    assert_eq!(b["type"], uri.as_str());
    // Before any credential: found by the custom domain in Host, and by `?tenant=`.
    let r = server
        .http
        .get(format!("{}/api/v1/dashboards", server.base))
        .header("host", &host)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b["type"],
        format!("https://{host}/problems/unauthorized").as_str()
    );
    let (s, b) = server
        .call(
            None,
            reqwest::Method::GET,
            &format!("/api/v1/dashboards?tenant={t}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        b["type"],
        format!("https://{host}/problems/unauthorized").as_str()
    );

    // The URI resolves: its path on the tenant's host describes the problem type.
    let r = server
        .http
        .get(format!("{}/problems/not-found", server.base))
        .header("host", &host)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["type"], uri.as_str());
    assert_eq!(d["status"], 404);
    assert_eq!(d["title"], "Not Found");
    assert!(d["description"].as_str().unwrap().len() > 10, "{d}");
    let (s, b) = server
        .call(None, reqwest::Method::GET, "/problems/no-such-type", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b["type"], "https://nexbii.io/problems/not-found");

    // The OpenAPI document, by `?tenant=` and by custom domain; the instance's own without.
    let (_, doc) = server
        .call(
            None,
            reqwest::Method::GET,
            &format!("/api/v1/openapi.json?tenant={t}"),
            None,
        )
        .await;
    assert_eq!(doc["info"]["title"], "Acme Insights API");
    assert_eq!(
        doc["info"]["contact"]["url"],
        format!("https://{host}").as_str()
    );
    let described = doc["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        described.contains(&format!("https://{host}/problems/")),
        "{described}"
    );
    let r = server
        .http
        .get(format!("{}/api/v1/openapi.json", server.base))
        .header("host", &host)
        .send()
        .await
        .unwrap();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["info"]["title"], "Acme Insights API");
    let (_, doc) = server
        .call(None, reqwest::Method::GET, "/api/v1/openapi.json", None)
        .await;
    assert_eq!(doc["info"]["title"], "NexBII control plane");
    assert!(doc["info"]["contact"].is_null(), "{}", doc["info"]);

    // A branding name without a custom domain: the host the request was sent to.
    let applied = server
        .apply_yaml(dir.path(), &[("t.yaml", &branded(false))])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let (s, b) = admin.get("/api/v1/dashboards/no-such-board").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(
        b["type"],
        format!("{}/problems/not-found", server.base).as_str()
    );

    // Branding removed: back to the instance's problem types and title.
    let applied = server
        .apply_yaml(dir.path(), &[("t.yaml", &tenant_yaml(&t, PW))])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let (s, b) = admin.get("/api/v1/dashboards/no-such-board").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(b["type"], "https://nexbii.io/problems/not-found");
    let (_, doc) = server
        .call(
            None,
            reqwest::Method::GET,
            &format!("/api/v1/openapi.json?tenant={t}"),
            None,
        )
        .await;
    assert_eq!(doc["info"]["title"], "NexBII control plane");
}

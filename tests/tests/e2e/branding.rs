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

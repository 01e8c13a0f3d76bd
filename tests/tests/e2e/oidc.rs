//! OpenID Connect single sign-on against a real provider (`oidc-provider` from
//! `tests/env/oidc.sh`): the whole code flow driven like a browser (redirects followed, the
//! provider's login form posted, cookies kept), just-in-time users, group → role mapping at every
//! login, one-use states and grants, a state bound to its browser, disabled users, and the 404 of
//! a tenant without single sign-on.
use std::collections::BTreeMap;

use nexbii_tests::{oidc_url, tenant_yaml, unique, Client2, TestServer};
use reqwest::{header, redirect::Policy, Client, StatusCode, Url};
use serde_json::{json, Value};

/// A browser: no automatic redirects (the test looks at each hop), one cookie jar for every
/// loopback server (their cookie names differ).
struct Browser {
    http: Client,
    jar: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: Client::builder().redirect(Policy::none()).build().unwrap(),
            jar: BTreeMap::new(),
        }
    }

    /// One request; answers the status, the absolute `Location` (if any) and the body.
    async fn go(
        &mut self,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (StatusCode, Option<String>, String) {
        let mut req = match form {
            Some(f) => self.http.post(url).form(f),
            None => self.http.get(url),
        };
        if !self.jar.is_empty() {
            let c: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header(header::COOKIE, c.join("; "));
        }
        let r = req.send().await.unwrap();
        for v in r.headers().get_all(header::SET_COOKIE) {
            let first = v.to_str().unwrap().split(';').next().unwrap();
            let (k, val) = first.split_once('=').unwrap();
            let gone = val.is_empty() || v.to_str().unwrap().contains("Max-Age=0");
            if gone {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_string(), val.to_string());
            }
        }
        let status = r.status();
        let location = r.headers().get(header::LOCATION).map(|l| {
            Url::parse(url)
                .unwrap()
                .join(l.to_str().unwrap())
                .unwrap()
                .to_string()
        });
        (status, location, r.text().await.unwrap())
    }

    /// Starts a login at the instance and goes through the provider (posting its login form
    /// once) until the provider sends the browser back: answers that callback URL, not yet
    /// visited.
    async fn until_callback(
        &mut self,
        base: &str,
        tenant: &str,
        user: &str,
        password: &str,
    ) -> String {
        let start = format!("{base}/api/v1/auth/oidc/login?tenant={tenant}&returnTo=/dashboards");
        let (s, mut next, body) = self.go(&start, None).await;
        assert_eq!(s, StatusCode::FOUND, "{body}");
        assert!(
            self.jar.contains_key("nexbii_oidc"),
            "the login binds the browser"
        );
        let mut posted = false;
        for _ in 0..20 {
            let url = next.take().expect("a redirect");
            if url.starts_with(&format!("{base}/api/v1/auth/oidc/callback")) {
                return url;
            }
            let (s, loc, body) = self.go(&url, None).await;
            if let Some(l) = loc {
                next = Some(l);
                continue;
            }
            assert_eq!(s, StatusCode::OK, "{url}: {body}");
            assert!(!posted, "the provider refused the login: {body}");
            let action = body
                .split("action=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("no login form: {body}"));
            let action = Url::parse(&url).unwrap().join(action).unwrap().to_string();
            let (_, loc, body) = self
                .go(&action, Some(&[("login", user), ("password", password)]))
                .await;
            next = Some(loc.unwrap_or_else(|| panic!("login form answered: {body}")));
            posted = true;
        }
        panic!("no callback after 20 redirects");
    }

    /// The instance's answer to a callback: its `Location`, relative as sent.
    async fn callback(&mut self, url: &str) -> String {
        let (s, loc, body) = self.go(url, None).await;
        assert_eq!(s, StatusCode::FOUND, "{body}");
        let loc = loc.unwrap();
        let base = Url::parse(url).unwrap();
        loc.trim_start_matches(base.origin().ascii_serialization().as_str())
            .to_string()
    }
}

async fn provider_user(user: &str, password: &str, groups: &[&str]) {
    let r = Client::new()
        .put(format!("{}/test/users/{user}", oidc_url()))
        .json(&json!({"password": password, "groups": groups}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

fn sso_tenant(name: &str) -> String {
    format!(
        r#"{}
---
apiVersion: v1
kind: Secret
metadata:
  name: {name}-oidc
stringData:
  client-secret: nexbii-test-secret
"#,
        tenant_yaml(name, "admin-password-123").replace(
            "    passwordMinLength: 12\n",
            &format!(
                r#"    passwordMinLength: 12
    oidc:
      issuerUrl: {}
      clientId: nexbii
      clientSecretRef:
        name: {name}-oidc
        key: client-secret
      roleMapping:
        - group: analysts
          role: editor
        - group: bi-admins
          role: admin
      buttonLabel: Sign in with Test IdP
"#,
                oidc_url()
            ),
        )
    )
}

/// The whole flow for `user`: the grant's exchange answer, or the callback's redirect when it
/// refused.
async fn sso(server: &TestServer, tenant: &str, user: &str, pw: &str) -> Result<Value, String> {
    let mut b = Browser::new();
    let cb = b.until_callback(&server.base, tenant, user, pw).await;
    let to = b.callback(&cb).await;
    let Some(grant) = to.strip_prefix("/dashboards#grant=") else {
        return Err(to);
    };
    let (s, body) = server
        .call(
            None,
            reqwest::Method::POST,
            "/api/v1/auth/oidc/exchange",
            Some(json!({"grant": grant})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // A grant opens one session only.
    let (again, problem) = server
        .call(
            None,
            reqwest::Method::POST,
            "/api/v1/auth/oidc/exchange",
            Some(json!({"grant": grant})),
        )
        .await;
    assert_eq!(again, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(problem["status"], 401);
    Ok(body)
}

#[tokio::test(flavor = "multi_thread")]
async fn single_sign_on_provisions_maps_groups_and_refuses_what_it_must() {
    let server = TestServer::start().await;
    let t = unique("sso");
    let dir = tempfile::tempdir().unwrap();
    let applied = server
        .apply_yaml(dir.path(), &[("t.yaml", &sso_tenant(&t))])
        .await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let admin = server.login(&t, "admin", "admin-password-123").await;

    // The login page learns that SSO is on, and its label.
    let (s, b) = server
        .call(
            None,
            reqwest::Method::GET,
            &format!("/api/v1/branding?tenant={t}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["sso"]["buttonLabel"], "Sign in with Test IdP");

    // First login: the user is created with the role of their group.
    let ann = unique("ann");
    provider_user(&ann, "ann-pw", &["staff", "analysts"]).await;
    let session = sso(&server, &t, &ann, "ann-pw").await.unwrap();
    assert_eq!(session["user"]["username"], ann.as_str());
    assert_eq!(session["user"]["role"], "editor");
    let me = Client2 {
        base: server.base.clone(),
        http: server.http.clone(),
        token: session["token"].as_str().unwrap().to_string(),
    };
    let (s, m) = me.get("/api/v1/auth/me").await;
    assert_eq!(
        (s, m["role"].as_str()),
        (StatusCode::OK, Some("editor")),
        "{m}"
    );
    let (s, u) = admin.get("/api/v1/users").await;
    assert_eq!(s, StatusCode::OK);
    let listed = u
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["username"] == ann.as_str())
        .unwrap();
    assert_eq!(listed["role"], "editor");
    assert_eq!(listed["email"], format!("{ann}@example.test"));
    // No password opens an account made by single sign-on.
    let (s, _) = server
        .call(
            None,
            reqwest::Method::POST,
            "/api/v1/auth/login",
            Some(json!({"tenant": t, "username": ann, "password": "!sso"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The groups are read at every login: promoted, then in no mapped group (refused: no
    // default role).
    provider_user(&ann, "ann-pw", &["bi-admins"]).await;
    let session = sso(&server, &t, &ann, "ann-pw").await.unwrap();
    assert_eq!(session["user"]["role"], "admin");
    provider_user(&ann, "ann-pw", &["staff"]).await;
    assert_eq!(
        sso(&server, &t, &ann, "ann-pw").await.unwrap_err(),
        format!("/?tenant={t}&ssoError=no_role")
    );
    provider_user(&ann, "ann-pw", &["analysts"]).await;

    // A tampered state is refused and consumes nothing; the real one then works once, and a
    // replay of it is refused.
    let mut b = Browser::new();
    let cb = b.until_callback(&server.base, &t, &ann, "ann-pw").await;
    let tampered = cb.replace("state=", "state=x");
    assert_ne!(tampered, cb);
    let cookie = b.jar["nexbii_oidc"].clone();
    assert_eq!(b.callback(&tampered).await, "/?ssoError=state");
    // The refusal cleared the browser's cookie: the browser that started the login still has it.
    b.jar.insert("nexbii_oidc".into(), cookie.clone());
    assert!(b.callback(&cb).await.starts_with("/dashboards#grant="));
    b.jar.insert("nexbii_oidc".into(), cookie);
    assert_eq!(b.callback(&cb).await, "/?ssoError=state", "replayed state");

    // A callback from another browser (without the login's cookie) is refused.
    let mut b3 = Browser::new();
    let cb3 = b3.until_callback(&server.base, &t, &ann, "ann-pw").await;
    let mut stranger = Browser::new();
    assert_eq!(stranger.callback(&cb3).await, "/?ssoError=state");

    // A disabled user stays out.
    let (s, body) = admin
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{ann}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        sso(&server, &t, &ann, "ann-pw").await.unwrap_err(),
        format!("/?tenant={t}&ssoError=disabled")
    );

    // Logins are audited as logins, via oidc, refusals as denied.
    let (s, log) = admin
        .get(&format!("/api/v1/audit?actor={ann}&limit=100"))
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let logins: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.login" && e["target"] == "/api/v1/auth/oidc/callback")
        .collect();
    assert!(logins.len() >= 5, "{logins:?}");
    assert!(logins.iter().all(|e| e["via"] == "oidc"), "{logins:?}");
    assert!(
        logins.iter().any(|e| e["outcome"] == "success"),
        "{logins:?}"
    );
    let denied: Vec<_> = logins.iter().filter(|e| e["outcome"] == "denied").collect();
    assert!(denied.iter().any(|e| e["status"] == 403), "{logins:?}");
    assert!(
        logins
            .iter()
            .all(|e| !e["target"].as_str().unwrap().contains("code")),
        "no code or state in the audit log: {logins:?}"
    );

    // A tenant without single sign-on, and no tenant at all: 404 problems.
    let plain = unique("plain");
    server.tenant(&plain, "admin-password-123").await;
    for tenant in [plain.as_str(), "no-such-tenant"] {
        let r = Browser::new()
            .http
            .get(format!(
                "{}/api/v1/auth/oidc/login?tenant={tenant}",
                server.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{tenant}");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json",
            "{tenant}"
        );
    }
    let (s, b) = server
        .call(
            None,
            reqwest::Method::GET,
            &format!("/api/v1/branding?tenant={plain}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.get("sso").is_none(), "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_default_role_admits_users_of_no_mapped_group() {
    let server = TestServer::start().await;
    let t = unique("ssodef");
    let yaml = sso_tenant(&t).replace(
        "      buttonLabel: Sign in with Test IdP\n",
        "      defaultRole: viewer\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let applied = server.apply_yaml(dir.path(), &[("t.yaml", &yaml)]).await;
    assert!(applied.problems.is_empty(), "{:?}", applied.problems);
    let bo = unique("bo");
    provider_user(&bo, "bo-pw", &[]).await;
    let session = sso(&server, &t, &bo, "bo-pw").await.unwrap();
    assert_eq!(session["user"]["role"], "viewer");
    // Without a label, the branding still announces SSO with the default one.
    let (_, b) = server
        .call(
            None,
            reqwest::Method::GET,
            &format!("/api/v1/branding?tenant={t}"),
            None,
        )
        .await;
    assert_eq!(b["sso"]["buttonLabel"], "Sign in with single sign-on");
}

//! Identity over real HTTP: TOTP multi-factor authentication (enrolment, the second login
//! step, replay, recovery codes, disable, an admin's reset, the tenant's requirement per role),
//! the password policy, account lockout across replicas with an admin's unlock, and GDPR export
//! and erasure with the audit chain still verifying. Codes are computed here from the enrolled
//! secret with an RFC 6238 generator of the test's own.
use hmac::{Hmac, Mac};
use nexbii_controlplane::store::{Store, TenantScope};
use nexbii_tests::{unique, Client2, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";
const ANN_PW: &str = "Lantern-Zebra-42";

/// RFC 6238 (SHA-1, 6 digits, 30 s) for the base32 `secret` at `unix` seconds.
fn totp(secret: &str, unix: i64) -> String {
    let key = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret).unwrap();
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(&key).unwrap();
    mac.update(&((unix / 30) as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn login(server: &TestServer, t: &str, user: &str, pw: &str) -> (StatusCode, Value) {
    server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"tenant": t, "username": user, "password": pw})),
        )
        .await
}

async fn second_step(server: &TestServer, challenge: &str, code: &str) -> (StatusCode, Value) {
    server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login/mfa",
            Some(json!({"challenge": challenge, "code": code})),
        )
        .await
}

fn client(server: &TestServer, token: &str) -> Client2 {
    Client2 {
        base: server.base.clone(),
        http: server.http.clone(),
        token: token.to_string(),
    }
}

async fn add_user(admin: &Client2, name: &str, role: &str) {
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": name, "role": role, "password": ANN_PW}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

async fn set_settings(admin: &Client2, settings: Value) {
    let (s, b) = admin.put("/api/v1/admin/settings", settings).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// The stored user document, as the store keeps it.
async fn stored_user(server: &TestServer, t: &str, name: &str) -> Value {
    server
        .state
        .store
        .get(
            &TenantScope::new(t).unwrap(),
            nexbii_controlplane::store::Collection::Users,
            name,
        )
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn mfa_enrolment_second_step_replay_recovery_and_disable() {
    let server = TestServer::start().await;
    let t = unique("mfa");
    let admin = server.tenant(&t, PW).await;
    // Wrong codes count towards the lockout (checked at the end): room for the ones tried here.
    set_settings(&admin, json!({"lockout": {"maxFailedLogins": 8}})).await;
    add_user(&admin, "ann", "editor").await;
    let ann = server.login(&t, "ann", ANN_PW).await;

    let (s, st) = ann.get("/api/v1/auth/mfa").await;
    assert_eq!((s, &st["enabled"]), (StatusCode::OK, &json!(false)), "{st}");
    let (s, e) = ann.post("/api/v1/auth/mfa/enroll", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let secret = e["secret"].as_str().unwrap().to_string();
    let uri = e["otpauthUri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    // Sealed at rest: the stored user holds no clear secret.
    let doc = stored_user(&server, &t, "ann").await;
    assert!(!doc.to_string().contains(&secret), "{doc}");
    assert!(doc["security"]["mfa"]["secret"].is_string());
    // Until confirmed, logins do not ask for a code.
    let (s, b) = login(&server, &t, "ann", ANN_PW).await;
    assert!(s == StatusCode::OK && b["token"].is_string(), "{b}");

    let (s, b) = ann
        .post("/api/v1/auth/mfa/confirm", json!({"code": "000000"}))
        .await;
    assert_eq!(
        (s, &b["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("code")),
        "{b}"
    );
    let t0 = now();
    let (s, b) = ann
        .post(
            "/api/v1/auth/mfa/confirm",
            json!({"code": totp(&secret, t0)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let codes: Vec<String> = b["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let doc = stored_user(&server, &t, "ann").await.to_string();
    assert!(
        codes.iter().all(|c| !doc.contains(c.as_str())),
        "codes are stored hashed"
    );
    let (_, users) = admin.get("/api/v1/users").await;
    let view = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ann")
        .unwrap();
    assert_eq!(view["mfaEnabled"], true, "{view}");
    let (s, b) = ann.post("/api/v1/auth/mfa/enroll", json!({})).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "no second enrolment over a confirmed one: {b}"
    );

    // The password alone no longer opens a session: a challenge, which is no session token.
    let (s, b) = login(&server, &t, "ann", ANN_PW).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["mfaRequired"], true, "{b}");
    assert_eq!(b["enrollmentRequired"], false, "{b}");
    assert!(b.get("token").is_none(), "{b}");
    let challenge = b["challenge"].as_str().unwrap().to_string();
    let (s, _) = server
        .call(Some(&challenge), Method::GET, "/api/v1/auth/me", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a challenge is not a session");
    let (s, b) = second_step(&server, &challenge, "123456").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    // The code that confirmed the enrolment was used: replaying it is refused.
    let (s, b) = second_step(&server, &challenge, &totp(&secret, t0)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "replay: {b}");
    let next = totp(&secret, t0 + 30);
    let (s, b) = second_step(&server, &challenge, &next).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let c = client(&server, b["token"].as_str().unwrap());
    let (s, me) = c.get("/api/v1/auth/me").await;
    assert_eq!((s, &me["username"]), (StatusCode::OK, &json!("ann")));
    let (s, _) = second_step(&server, &challenge, &next).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a code works once");
    let (s, _) = second_step(&server, "forged.challenge.token", &next).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // A recovery code works once.
    let (_, b) = login(&server, &t, "ann", ANN_PW).await;
    let challenge = b["challenge"].as_str().unwrap().to_string();
    let (s, b) = second_step(&server, &challenge, &codes[0].to_uppercase()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = second_step(&server, &challenge, &codes[0]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "used up");
    let (_, st) = ann.get("/api/v1/auth/mfa").await;
    assert_eq!(st["recoveryCodesLeft"], 9, "{st}");

    // Disable needs a current code (or a recovery code).
    let (s, _) = ann
        .post("/api/v1/auth/mfa/disable", json!({"code": "111111"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = ann
        .post("/api/v1/auth/mfa/disable", json!({"code": codes[1]}))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = login(&server, &t, "ann", ANN_PW).await;
    assert!(s == StatusCode::OK && b["token"].is_string(), "{b}");

    // Neither the secret nor a code reached the audit log or the logs.
    let r = admin
        .http
        .get(format!("{}/api/v1/audit/export", admin.base))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    let audit = r.text().await.unwrap();
    assert!(audit.contains("\"auth.login.mfa") || audit.contains("/api/v1/auth/login/mfa"));
    let logs = nexbii_tests::logs();
    // A code is six digits: it counts only standing alone (not inside a longer number, such
    // as a timestamp of some other test's log line).
    let holds = |text: &str, s: &str| {
        text.match_indices(s).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + s.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric())
                && !after.is_some_and(|c| c.is_ascii_alphanumeric())
        })
    };
    for s in std::iter::once(&secret).chain(codes.iter()).chain([&next]) {
        assert!(!holds(&audit, s), "audit holds {s}");
        assert!(!holds(&logs, s), "logs hold {s}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mfa_required_by_the_tenant_settings_per_role() {
    let server = TestServer::start().await;
    let t = unique("mfr");
    let admin = server.tenant(&t, PW).await;
    add_user(&admin, "ann", "viewer").await;
    set_settings(&admin, json!({"mfa": {"required": "admins"}})).await;
    let (s, b) = login(&server, &t, "ann", ANN_PW).await;
    assert!(
        s == StatusCode::OK && b["token"].is_string(),
        "a viewer need not: {b}"
    );
    let (s, b) = login(&server, &t, "admin", PW).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["enrollmentRequired"], true, "an admin must: {b}");

    set_settings(&admin, json!({"mfa": {"required": "all"}})).await;
    let (s, b) = login(&server, &t, "ann", ANN_PW).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (&b["mfaRequired"], &b["enrollmentRequired"]),
        (&json!(true), &json!(true)),
        "{b}"
    );
    assert!(b.get("token").is_none());
    let challenge = b["challenge"].as_str().unwrap().to_string();
    let (s, _) = server
        .call(Some(&challenge), Method::GET, "/api/v1/auth/me", None)
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "no session before the second factor"
    );
    let (s, b) = second_step(&server, &challenge, "123456").await;
    assert_eq!(s, StatusCode::CONFLICT, "enrol first: {b}");
    let (s, e) = server
        .call(
            None,
            Method::POST,
            "/api/v1/auth/login/mfa/enroll",
            Some(json!({"challenge": challenge})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let secret = e["secret"].as_str().unwrap().to_string();
    let (s, b) = second_step(&server, &challenge, &totp(&secret, now())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["recoveryCodes"].as_array().unwrap().len(), 10, "{b}");
    let ann = client(&server, b["token"].as_str().unwrap());
    let (s, _) = ann.get("/api/v1/auth/me").await;
    assert_eq!(s, StatusCode::OK);
    // Required: it cannot be switched off by its user.
    let (s, b) = ann
        .post(
            "/api/v1/auth/mfa/disable",
            json!({"code": totp(&secret, now() + 30)}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    // An admin's reset: the user enrols again at the next login.
    let (s, _) = admin.delete("/api/v1/users/ann/mfa").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, b) = login(&server, &t, "ann", ANN_PW).await;
    assert_eq!(b["enrollmentRequired"], true, "{b}");
    let (s, _) = admin.delete("/api/v1/users/nobody/mfa").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A verify challenge is not an enrolment one.
    set_settings(&admin, json!({})).await;
    let (s, b) = login(&server, &t, "ann", ANN_PW).await;
    assert!(
        s == StatusCode::OK && b["token"].is_string(),
        "optional again: {b}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_policy_names_every_broken_rule() {
    let server = TestServer::start().await;
    let t = unique("pwp");
    let admin = server.tenant(&t, PW).await;
    set_settings(
        &admin,
        json!({"password": {"minLength": 14, "requireUppercase": true, "requireLowercase": true,
            "requireDigit": true, "requireSymbol": true}}),
    )
    .await;
    let create = |pw: &str| json!({"username": "bob", "role": "viewer", "password": pw});
    let (s, b) = admin.post("/api/v1/users", create("short")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let errs = b["errors"].as_array().unwrap();
    assert!(errs.iter().all(|e| e["field"] == "password"), "{b}");
    let msgs: Vec<&str> = errs
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    for want in ["at least 14", "uppercase", "digit", "symbol"] {
        assert!(msgs.iter().any(|m| m.contains(want)), "{want}: {msgs:?}");
    }
    assert!(!msgs.iter().any(|m| m.contains("lowercase")), "{msgs:?}");
    // Common passwords, dressed up or not, and the user's own name.
    for pw in ["P@ssword123456!", "Qwerty123456789!"] {
        let (s, b) = admin.post("/api/v1/users", create(pw)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{pw}: {b}");
        assert!(b.to_string().contains("common password"), "{b}");
    }
    let (s, b) = admin
        .post("/api/v1/users", create("Bob-Lantern-Zebra-42"))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.to_string().contains("username"), "{b}");
    let (s, b) = admin
        .post("/api/v1/users", create("Lantern-Zebra-42x"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // A change is held to the same rules.
    let (s, b) = admin
        .call(
            Method::PATCH,
            "/api/v1/users/bob",
            Some(json!({"password": "lantern-zebra"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["errors"].as_array().unwrap().len() >= 3, "{b}");

    // The user's own change: the current password first, the same policy, other sessions end.
    let bob = server.login(&t, "bob", "Lantern-Zebra-42x").await;
    let other = server.login(&t, "bob", "Lantern-Zebra-42x").await;
    let change = |cur: &str, new: &str| json!({"currentPassword": cur, "newPassword": new});
    let (s, b) = bob
        .post(
            "/api/v1/auth/password",
            change("not-it-at-all", "Another-Zebra-43!"),
        )
        .await;
    assert_eq!(
        (s, &b["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("currentPassword")),
        "{b}"
    );
    let (s, b) = bob
        .post(
            "/api/v1/auth/password",
            change("Lantern-Zebra-42x", "Password1234567!"),
        )
        .await;
    assert_eq!(
        (s, &b["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("password")),
        "{b}"
    );
    let (s, b) = bob
        .post(
            "/api/v1/auth/password",
            change("Lantern-Zebra-42x", "Another-Zebra-43!"),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(
        other.get("/api/v1/auth/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(bob.get("/api/v1/auth/me").await.0, StatusCode::OK);
    let (s, _) = login(&server, &t, "bob", "Lantern-Zebra-42x").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    server.login(&t, "bob", "Another-Zebra-43!").await;
    let (s, b) = admin
        .call(
            Method::PATCH,
            "/api/v1/users/bob",
            Some(json!({"password": "Lantern-Zebra-42x"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // maxAgeDays: a password older than that no longer logs in.
    server.login(&t, "bob", "Lantern-Zebra-42x").await;
    set_settings(&admin, json!({"password": {"maxAgeDays": 30}})).await;
    let scope = TenantScope::new(&t).unwrap();
    server
        .state
        .writer
        .modify::<nexbii_controlplane::auth::UserRecord>(
            &scope,
            &nexbii_controlplane::store::write::Actor::System,
            "bob",
            |u| {
                u.security.password_changed_at =
                    Some(chrono::Utc::now() - chrono::Duration::days(31))
            },
        )
        .await
        .unwrap();
    let (s, b) = login(&server, &t, "bob", "Lantern-Zebra-42x").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("expired"), "{b}");
    let (s, b) = admin
        .call(
            Method::PATCH,
            "/api/v1/users/bob",
            Some(json!({"password": "Fresh-Lantern-Zebra-43"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    server.login(&t, "bob", "Fresh-Lantern-Zebra-43").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lockout_holds_across_replicas_until_an_admin_unlocks() {
    let server = TestServer::start().await;
    let other = server.another_instance().await;
    let t = unique("lck");
    let admin = server.tenant(&t, PW).await;
    add_user(&admin, "ann", "viewer").await;
    set_settings(
        &admin,
        json!({"lockout": {"maxFailedLogins": 2, "lockoutMinutes": 30}}),
    )
    .await;
    for _ in 0..2 {
        let (s, _) = login(&server, &t, "ann", "wrong-password-1").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Locked on the other replica too, right password or not.
    let (s, b) = login(&other, &t, "ann", ANN_PW).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
    let (s, b2) = login(&server, &t, "ann", "wrong-password-1").await;
    assert_eq!(
        (s, &b2["detail"]),
        (StatusCode::TOO_MANY_REQUESTS, &b["detail"])
    );
    // A name that is no user answers the same way after as many failures.
    for _ in 0..2 {
        let (s, _) = login(&server, &t, "ghost", "wrong-password-1").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b3) = login(&server, &t, "ghost", "wrong-password-1").await;
    assert_eq!(
        (s, &b3["detail"]),
        (StatusCode::TOO_MANY_REQUESTS, &b["detail"])
    );
    let (_, users) = admin.get("/api/v1/users").await;
    let view = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ann")
        .unwrap();
    assert!(view["lockedUntil"].is_string(), "{view}");

    let admin_b = client(&other, &admin.token);
    let (s, b) = admin_b.post("/api/v1/users/ann/unlock", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.get("lockedUntil").is_none(), "{b}");
    server.login(&t, "ann", ANN_PW).await;
    let (s, _) = admin.post("/api/v1/users/nobody/unlock", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let ann = server.login(&t, "ann", ANN_PW).await;
    let (s, _) = ann.post("/api/v1/users/ann/unlock", json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "admins only");
}

/// GDPR export and erasure, on `server`'s store: the audit chain verifies after the erasure,
/// and tampering with a pseudonymised entry is still found.
async fn export_and_erase(server: &TestServer) {
    let t = unique("gdp");
    let admin = server.tenant(&t, PW).await;
    add_user(&admin, "ann", "editor").await;
    let ann = server.login(&t, "ann", ANN_PW).await;
    let (s, b) = ann
        .post(
            "/api/v1/dashboards",
            json!({"name": "anns", "spec": {"title": "Ann's", "widgets": []}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = ann
        .post(
            "/api/v1/apikeys",
            json!({"name": "k", "scopes": ["dashboards:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let key_secret = b["secret"].as_str().unwrap().to_string();

    // The user may export their own data; another non-admin may not.
    let (s, x) = ann.get("/api/v1/users/ann/export").await;
    assert_eq!(s, StatusCode::OK, "{x}");
    assert_eq!(x["profile"]["username"], "ann");
    assert!(x["profile"].get("passwordHash").is_none(), "{x}");
    assert_eq!(x["sessions"].as_array().unwrap().len(), 1, "{x}");
    assert_eq!(x["apiKeys"].as_array().unwrap().len(), 1, "{x}");
    assert_eq!(x["dashboards"][0]["name"], "anns", "{x}");
    assert!(!x["auditEntries"].as_array().unwrap().is_empty(), "{x}");
    assert_eq!(x["configVersions"][0]["author"], "user:ann", "{x}");
    assert!(!x.to_string().contains("argon2"), "no password hash");
    assert!(!x.to_string().contains(&key_secret), "no key secret");
    add_user(&admin, "bob", "viewer").await;
    let bob = server.login(&t, "bob", ANN_PW).await;
    let (s, _) = bob.get("/api/v1/users/ann/export").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, r) = admin.post("/api/v1/users/ann/erase", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["userDeleted"], true, "{r}");
    assert_eq!(r["apiKeysDeleted"], 1, "{r}");
    assert_eq!(r["dashboardsTransferred"], 1, "{r}");
    assert!(r["auditEntriesAnonymised"].as_u64().unwrap() >= 3, "{r}");
    assert_eq!(r["auditEntriesKept"], 0, "{r}");
    assert!(r["configVersionsAnonymised"].as_u64().unwrap() >= 1, "{r}");
    let pseudonym = r["pseudonym"].as_str().unwrap().to_string();
    assert!(pseudonym.starts_with("anon:"));

    // Gone: no session, no key, no login; the audit log no longer names ann.
    let (s, _) = ann.get("/api/v1/auth/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = server
        .call(Some(&key_secret), Method::GET, "/api/v1/dashboards", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, d) = admin.get("/api/v1/dashboards/anns").await;
    assert_eq!((s, &d["owner"]), (StatusCode::OK, &json!("admin")), "{d}");
    let (_, named) = admin.get("/api/v1/audit?actor=ann").await;
    assert_eq!(named.as_array().unwrap().len(), 0, "{named}");
    let (_, anon) = admin.get(&format!("/api/v1/audit?actor={pseudonym}")).await;
    assert!(!anon.as_array().unwrap().is_empty(), "{anon}");
    let r = admin
        .http
        .get(format!("{}/api/v1/audit/export", admin.base))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    let all = r.text().await.unwrap();
    assert!(
        !all.contains("\"ann\"") && !all.contains("/users/ann/"),
        "the log still names ann"
    );
    let versions = server
        .state
        .store
        .list(
            &TenantScope::new(&t).unwrap(),
            nexbii_controlplane::store::Collection::ConfigHistory,
            &Default::default(),
        )
        .await
        .unwrap()
        .items;
    assert!(!versions.is_empty());
    for v in &versions {
        assert!(
            v["author"] != "user:ann" && v["value"]["owner"] != "ann",
            "{v}"
        );
    }
    let (s, v) = admin.get("/api/v1/audit/verify").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["valid"], true,
        "the chain verifies after the erasure: {v}"
    );
    let (s, _) = admin.get("/api/v1/users/ann/export").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing left to export");
    // A login typed with the name afterwards is new data about it: a second erasure takes it.
    let (s, _) = login(server, &t, "ann", ANN_PW).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, r) = admin.post("/api/v1/users/ann/erase", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (&r["userDeleted"], &r["auditEntriesAnonymised"]),
        (&json!(false), &json!(1)),
        "{r}"
    );
    assert_eq!(admin.get("/api/v1/audit/verify").await.1["valid"], true);
    let (s, _) = admin
        .post("/api/v1/users/nobody-at-all/erase", json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = admin.post("/api/v1/users/admin/erase", json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // A pseudonymised entry edited behind the API's back is still found.
    let scope = TenantScope::new(&t).unwrap();
    let coll = nexbii_controlplane::store::Collection::AuditLog;
    let first = anon[0]["id"].as_str().unwrap().to_string();
    let mut doc = server
        .state
        .store
        .get(&scope, coll, &first)
        .await
        .unwrap()
        .unwrap();
    doc["actor"] = json!("somebody-else");
    let entry: nexbii_controlplane::audit::AuditEntry = serde_json::from_value(doc).unwrap();
    let rev = entry.meta.revision;
    server
        .state
        .writer
        .save(
            &scope,
            &nexbii_controlplane::store::write::Actor::System,
            entry,
            nexbii_controlplane::store::Expect::Revision(rev),
        )
        .await
        .unwrap();
    let (_, v) = admin.get("/api/v1/audit/verify").await;
    assert_eq!(v["valid"], false, "{v}");
    assert!(
        v["firstBroken"]["reason"]
            .as_str()
            .unwrap()
            .contains("altered"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gdpr_export_and_erasure_keep_the_audit_chain_verifiable() {
    export_and_erase(&TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gdpr_erasure_on_the_mongodb_store() {
    let (server, store, _) = TestServer::on_mongo("nexbii_gdpr_", |_| {}).await;
    export_and_erase(&server).await;
    store.drop_all().await.ok();
}

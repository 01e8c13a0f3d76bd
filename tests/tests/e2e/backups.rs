//! Backups and restores of a tenant's control-plane data, on the embedded store and on a
//! MongoDB-wire server: backup → mutate → restore gives back exactly the records of the backup
//! (compared record by record, revisions and times included); corrupted archives, another
//! key, an unwritable destination and interrupted runs fail cleanly and change nothing. The
//! same on an S3-compatible destination (moto from tests/env/s3.sh, over real HTTP), with an
//! outage cut into the middle of an upload by a TCP relay; and retention prunes what it should.
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use futures::TryStreamExt;
use nexbii_controlplane::{
    admin::backups::{
        destination::{S3Bucket, S3Config},
        domain, BackupRecord, BackupState,
    },
    crypto::Keys,
    server,
    state::{AppState, Settings},
    store::{
        mongo::MongoStore, write::Actor, Collection, DynStore, Expect, RawRecord, Store,
        TenantScope,
    },
};
use nexbii_tests::{s3_url, unique, Client2, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const PW: &str = "admin-password-123";
pub(crate) const BACKUPS: &str = "/api/v1/admin/backups";
pub(crate) const RESTORES: &str = "/api/v1/admin/restores";

/// Every record of the tenant a restore puts back, exactly as stored (the audit log is in
/// backups but append-only: every request adds to it, and a restore never rewinds it).
pub(crate) async fn records(server: &TestServer, tenant: &str) -> Vec<RawRecord> {
    let scope = TenantScope::new(tenant).unwrap();
    server
        .state
        .store
        .snapshot(&scope, &domain::restored())
        .await
        .unwrap()
        .records
        .try_collect()
        .await
        .unwrap()
}

/// Asserts two record sets are equal, naming the first record that differs.
pub(crate) fn same_records(got: &[RawRecord], want: &[RawRecord], what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w, "{what}: first differing record");
    }
    let keys = |rs: &[RawRecord]| -> Vec<String> {
        rs.iter()
            .map(|r| format!("{}/{}", r.collection.name(), r.id))
            .collect()
    };
    assert_eq!(keys(got), keys(want), "{what}: record sets differ");
}

/// Starts a backup and waits for its end.
pub(crate) async fn backup(admin: &Client2, body: Option<Value>) -> Value {
    let (s, b) = admin.call(Method::POST, BACKUPS, body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["state"], "Pending");
    let id = b["id"].as_str().unwrap().to_string();
    for _ in 0..300 {
        let (s, b) = admin.get(&format!("{BACKUPS}/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        if b["state"] == "Completed" || b["state"] == "Failed" {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("backup {id} did not finish in 30 s");
}

pub(crate) async fn completed(admin: &Client2, body: Option<Value>) -> Value {
    let b = backup(admin, body).await;
    assert_eq!(b["state"], "Completed", "{b}");
    b
}

/// Waits until the background work a new source starts (status check, catalog crawl) has
/// written its records, so nothing writes behind the comparisons' backs.
pub(crate) async fn settled(admin: &Client2, source: &str) {
    // A crawl can be queued twice (creation, then the first schema sync): done means the
    // status stopped changing for a while, not only that it was written once.
    let mut last: Option<Value> = None;
    for _ in 0..200 {
        let (_, b) = admin.get(&format!("/api/v1/datasources/{source}")).await;
        let st = b["status"].clone();
        let written = st["checkedAt"].is_string()
            && st["sourceRevision"] == b["revision"]
            && st["catalogSyncedAt"].is_string();
        if written && last.as_ref() == Some(&st) {
            return;
        }
        last = written.then_some(st);
        tokio::time::sleep(Duration::from_millis(if written { 700 } else { 100 })).await;
    }
    panic!("status and catalog of {source} not settled in 30 s");
}

async fn mongo_server() -> (TestServer, Arc<MongoStore>) {
    mongo_server_with(None).await
}

async fn mongo_server_with(s3: Option<Arc<S3Bucket>>) -> (TestServer, Arc<MongoStore>) {
    let (server, store, _) = TestServer::on_mongo("nexbii_bak_", |s| s.backup_s3 = s3).await;
    (server, store)
}

/// A tenant with the sample source, users, saved queries, a dashboard and a share link.
pub(crate) async fn populated(server: &TestServer, tenant: &str) -> (Client2, Value) {
    let admin = server.tenant(tenant, PW).await;
    server.add_sales(&admin, &format!("{tenant}.db")).await;
    settled(&admin, "sales").await;
    for (u, role) in [("carol", "viewer"), ("erin", "viewer")] {
        let (s, b) = admin
            .post(
                "/api/v1/users",
                json!({"username": u, "role": role, "password": "a-long-password-1"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let mut ids = Vec::new();
    for name in ["first", "second"] {
        let (s, q) = admin
            .post(
                "/api/v1/queries",
                json!({"name": name, "dataSource": "sales", "sql": "SELECT count(*) FROM customers"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{q}");
        ids.push(q["id"].clone());
    }
    let (s, d) = admin
        .post(
            "/api/v1/dashboards",
            json!({"name": "dash", "spec": {"title": "Revenue", "publication": "published", "widgets": [
                {"id": "n", "chart": "number", "query": {"dataSource": "sales", "sql": "SELECT count(*) AS n FROM customers"}}]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let (s, link) = admin
        .post("/api/v1/shares", json!({"resource": "dashboard/dash"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    (admin, json!({"queries": ids, "share": link["id"]}))
}

/// Changes objects in several collections: created, changed and deleted ones.
async fn mutate(server: &TestServer, tenant: &str, admin: &Client2, made: &Value) -> Client2 {
    let (q1, q2) = (
        made["queries"][0].as_str().unwrap(),
        made["queries"][1].as_str().unwrap(),
    );
    let (s, _) = admin.delete(&format!("/api/v1/queries/{q1}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = admin
        .put(
            &format!("/api/v1/queries/{q2}"),
            json!({"name": "second, renamed", "dataSource": "sales", "sql": "SELECT 2"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = admin
        .post(
            "/api/v1/queries",
            json!({"name": "third", "dataSource": "sales", "sql": "SELECT 3"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = admin.delete("/api/v1/users/carol").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = admin
        .call(
            Method::PATCH,
            "/api/v1/users/erin",
            Some(json!({"role": "editor"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "dave", "role": "viewer", "password": "a-long-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = admin
        .put(
            "/api/v1/dashboards/dash",
            json!({"name": "dash", "spec": {"title": "Changed", "publication": "published", "widgets": []}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let share = made["share"].as_str().unwrap();
    let (s, _) = admin.delete(&format!("/api/v1/shares/{share}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "more", "spec": {"type": "sqlite", "path": format!("{tenant}.db")}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    settled(admin, "more").await;
    server.login(tenant, "dave", "a-long-password-1").await
}

type Counts = (u64, u64, u64);

/// What a restore of `backup` over `now` changes per collection: (added, removed, modified).
fn expected_changes(backup: &[RawRecord], now: &[RawRecord]) -> Vec<(String, Counts)> {
    use std::collections::BTreeMap;
    let key = |r: &RawRecord| (r.collection.name().to_string(), r.id.clone());
    let b: BTreeMap<_, _> = backup.iter().map(|r| (key(r), r)).collect();
    let n: BTreeMap<_, _> = now.iter().map(|r| (key(r), r)).collect();
    let mut out: BTreeMap<String, Counts> = domain::restored()
        .iter()
        .map(|c| (c.name().to_string(), (0, 0, 0)))
        .collect();
    for (k, r) in &b {
        match n.get(k) {
            None => out.get_mut(&k.0).unwrap().0 += 1,
            Some(m) if m != r => out.get_mut(&k.0).unwrap().2 += 1,
            _ => {}
        }
    }
    for k in n.keys().filter(|k| !b.contains_key(*k)) {
        out.get_mut(&k.0).unwrap().1 += 1;
    }
    out.into_iter().collect()
}

fn reported_changes(report: &Value) -> Vec<(String, Counts)> {
    report["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let n = |f: &str| c[f].as_u64().unwrap();
            (
                c["collection"].as_str().unwrap().to_string(),
                (n("added"), n("removed"), n("modified")),
            )
        })
        .collect()
}

fn changes_of<'a>(report: &'a Value, coll: &str) -> &'a Value {
    report["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collection"] == coll)
        .unwrap()
}

async fn backup_mutate_restore(server: &TestServer) {
    let tenant = unique("bk");
    let (admin, made) = populated(server, &tenant).await;
    let before = records(server, &tenant).await;
    let b = completed(
        &admin,
        Some(json!({"note": "before the changes", "pinned": true})),
    )
    .await;
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(
        (b["pinned"].clone(), b["note"].clone()),
        (json!(true), json!("before the changes"))
    );
    assert!(b["checksum"].as_str().unwrap().starts_with("sha256:"));
    let m = &b["manifest"];
    assert_eq!(m["formatVersion"], 2);
    assert_eq!(m["tenant"], tenant.as_str());
    // The audit log is in the archive too; its size depends on when the snapshot was taken
    // relative to the backup request's own entry, so the restored collections are counted.
    let restored: u64 = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            domain::restored()
                .iter()
                .any(|c| p["collection"] == c.name())
        })
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(restored, before.len() as u64);
    assert!(
        m["parts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["collection"] == "audit_log"),
        "the audit log is backed up: {m}"
    );
    let users = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["collection"] == "users")
        .unwrap();
    assert_eq!(users["count"], 3, "admin, carol, erin: {m}");
    let excluded: Vec<&str> = m["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["collection"].as_str().unwrap())
        .collect();
    assert!(excluded.contains(&"sessions"), "{excluded:?}");
    assert!(
        !b.to_string().contains(&hex_key(server)),
        "the key is never shown"
    );
    let bytes = read_archive(b["location"].as_str().unwrap()).await;
    assert!(
        !String::from_utf8_lossy(&bytes).contains("carol"),
        "records are encrypted"
    );
    let (s, listed) = admin.get(BACKUPS).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (s, v) = admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!((s, v["ok"].clone()), (StatusCode::OK, json!(true)), "{v}");

    let dave = mutate(server, &tenant, &admin, &made).await;
    let changed = records(server, &tenant).await;
    let expected = expected_changes(&before, &changed);
    assert!(
        expected.iter().filter(|(_, c)| *c != (0, 0, 0)).count() >= 5,
        "{expected:?}"
    );

    // A dry run reports exactly the differences and changes nothing.
    let (s, report) = admin
        .post(RESTORES, json!({"backup": id, "dryRun": true}))
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(
        (report["dryRun"].clone(), report["restored"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(reported_changes(&report), expected);
    let q = changes_of(&report, "saved_queries");
    assert_eq!(q["addedIds"], json!([made["queries"][0]]));
    assert_eq!(q["inBackup"], 2);
    assert_eq!(q["current"], 2);
    assert_eq!(changes_of(&report, "users")["removedIds"], json!(["dave"]));
    assert_eq!(
        report["totals"]["inBackup"].as_u64().unwrap(),
        before.len() as u64
    );
    same_records(&records(server, &tenant).await, &changed, "after a dry run");

    // `only` restores the named collections and nothing else.
    let (s, report) = admin
        .post(RESTORES, json!({"backup": id, "only": ["dashboards"]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["collections"].as_array().unwrap().len(), 1);
    let now = records(server, &tenant).await;
    let (dash, rest): (Vec<_>, Vec<_>) = now
        .into_iter()
        .partition(|r| r.collection == Collection::Dashboards);
    let want_dash: Vec<_> = before
        .iter()
        .filter(|r| r.collection == Collection::Dashboards)
        .cloned()
        .collect();
    same_records(&dash, &want_dash, "restored dashboards");
    let want_rest: Vec<_> = changed
        .iter()
        .filter(|r| r.collection != Collection::Dashboards)
        .cloned()
        .collect();
    same_records(&rest, &want_rest, "collections not named in only");

    // The full restore brings back exactly the backed-up records.
    let (s, report) = admin.post(RESTORES, json!({"backup": id})).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["restored"], true);
    same_records(
        &records(server, &tenant).await,
        &before,
        "after the restore",
    );
    let (s, _) = admin
        .get(&format!(
            "/api/v1/queries/{}",
            made["queries"][0].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "the deleted query is back");
    let (s, run) = admin
        .post(
            &format!(
                "/api/v1/queries/{}/run",
                made["queries"][1].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the restored source serves the restored query: {run}"
    );
    // Sessions are left alone: the admin's still works; one of a user the backup lacks does not.
    let (s, _) = admin.get(BACKUPS).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = dave.get("/api/v1/dashboards").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "dave is not in the backup");
    let (s, listed) = admin.get(BACKUPS).await;
    assert_eq!(
        (s, listed.as_array().unwrap().len()),
        (StatusCode::OK, 1),
        "backup records are not restored"
    );
}

/// A fresh bucket on the S3 test server (moto takes unsigned bucket creation) and a client for
/// it, through `endpoint` (the server itself, or a relay in front of it).
pub(crate) async fn s3_bucket(endpoint: &str) -> Arc<S3Bucket> {
    let name = unique("nxbk-");
    let r = reqwest::Client::new()
        .put(format!("{}/{name}", s3_url()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "bucket {name}: {}", r.status());
    Arc::new(
        S3Bucket::connect(&S3Config {
            bucket: name,
            endpoint: Some(endpoint.to_string()),
            region: "us-east-1".into(),
            prefix: "nexbii/backups".into(),
            path_style: true,
            access_key_id: "test-access-key".into(),
            secret_access_key: "test-secret-key".into(),
            session_token: None,
        })
        .unwrap(),
    )
}

async fn s3_server(endpoint: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store =
        nexbii_controlplane::store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
            .await
            .unwrap();
    let settings = Settings {
        sqlite_root: dir.path().join("sources"),
        backup_dir: dir.path().join("backups"),
        backup_s3: Some(s3_bucket(endpoint).await),
        ..Default::default()
    };
    TestServer::with_store(store, dir, settings).await
}

/// A signed S3 client (the test credentials) for the bucket and key of an `s3://` location.
fn object(location: &str) -> (object_store::aws::AmazonS3, object_store::path::Path) {
    let (bucket, key) = location
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
        .unwrap();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_endpoint(s3_url())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test-access-key")
        .with_secret_access_key("test-secret-key")
        .build()
        .unwrap();
    (store, object_store::path::Path::from(key))
}

async fn read_archive(location: &str) -> Vec<u8> {
    use object_store::ObjectStore;
    if !location.starts_with("s3://") {
        return std::fs::read(location).unwrap();
    }
    let (store, key) = object(location);
    let got = store.get(&key).await.unwrap();
    got.bytes().await.unwrap().to_vec()
}

async fn write_archive(location: &str, bytes: &[u8]) {
    use object_store::ObjectStore;
    if !location.starts_with("s3://") {
        return std::fs::write(location, bytes).unwrap();
    }
    let (store, key) = object(location);
    store.put(&key, bytes.to_vec().into()).await.unwrap();
}

async fn archive_exists(location: &str) -> bool {
    use object_store::ObjectStore;
    if !location.starts_with("s3://") {
        return PathBuf::from(location).exists();
    }
    let (store, key) = object(location);
    match store.head(&key).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => panic!("{location}: {e}"),
    }
}

fn hex_key(server: &TestServer) -> String {
    let k = server.state.keys.backup_key();
    k.iter().map(|b| format!("{b:02x}")).collect()
}

/// Another instance over the same store and backup volume, with other keys.
async fn other_keys_instance(server: &TestServer, tenant: &str) -> Client2 {
    let state = AppState::new(
        server.state.store.clone() as DynStore,
        Keys::random(),
        server.state.settings.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, state));
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let b: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"tenant": tenant, "username": "admin", "password": PW}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Client2 {
        base,
        http,
        token: b["token"].as_str().unwrap().to_string(),
    }
}

pub(crate) fn problem_says(b: &Value, field: &str, words: &str) {
    assert_eq!(b["field"], field, "{b}");
    let detail = b["detail"].as_str().unwrap();
    assert!(detail.contains(words), "{detail:?} should say {words:?}");
}

async fn bad_archives_and_destinations(server: &TestServer) {
    let tenant = unique("bf");
    let (admin, _) = populated(server, &tenant).await;
    let b = completed(&admin, None).await;
    let id = b["id"].as_str().unwrap().to_string();
    let path = PathBuf::from(b["location"].as_str().unwrap());
    let good = std::fs::read(&path).unwrap();
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "later", "role": "viewer", "password": "a-long-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let state = records(server, &tenant).await;

    // One flipped byte: verify and restore fail with a clear error; nothing changes.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    std::fs::write(&path, &bad).unwrap();
    let (s, v) = admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    problem_says(&v, "id", "archive is corrupt");
    let (_, rec) = admin.get(&format!("{BACKUPS}/{id}")).await;
    assert_eq!(rec["lastVerification"]["ok"], false, "{rec}");
    for dry in [true, false] {
        let (s, r) = admin
            .post(RESTORES, json!({"backup": id, "dryRun": dry}))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
        problem_says(&r, "backup", "archive is corrupt");
    }
    same_records(
        &records(server, &tenant).await,
        &state,
        "after a corrupt restore",
    );
    // Cut short: the same.
    std::fs::write(&path, &good[..good.len() - 100]).unwrap();
    let (s, r) = admin.post(RESTORES, json!({"backup": id})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    problem_says(&r, "backup", "truncated");
    same_records(
        &records(server, &tenant).await,
        &state,
        "after a truncated restore",
    );
    std::fs::write(&path, &good).unwrap();
    let (s, v) = admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "the intact archive verifies again: {v}");

    // Another instance with another backup key: refused by key id, nothing changes.
    let other = other_keys_instance(server, &tenant).await;
    let state = records(server, &tenant).await;
    let (s, v) = other
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    problem_says(&v, "id", "encrypted with backup key");
    let (s, r) = other.post(RESTORES, json!({"backup": id})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    problem_says(&r, "backup", "encrypted with backup key");
    same_records(
        &records(server, &tenant).await,
        &state,
        "after a wrong-key restore",
    );

    // The destination fails: that backup fails, earlier archives stay, the next one works.
    let dir = path.parent().unwrap().to_path_buf();
    let moved = dir.with_extension("moved");
    std::fs::rename(&dir, &moved).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let failed = backup(&admin, None).await;
    assert_eq!(failed["state"], "Failed", "{failed}");
    let err = failed["error"].as_str().unwrap();
    assert!(
        err.contains("backup destination") && err.contains(&tenant),
        "{err}"
    );
    assert!(failed.get("location").is_none());
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&moved, &dir).unwrap();
    let next = completed(&admin, None).await;
    assert_ne!(next["id"], failed["id"]);
    let (s, _) = admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "the earlier archive is untouched");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "two archives, no temporary files: {names:?}"
    );

    // A run its instance abandoned (silent for minutes) is marked failed; it blocks nothing.
    let scope = TenantScope::new(&tenant).unwrap();
    let long_ago = chrono::Utc::now() - chrono::Duration::minutes(10);
    let stuck: BackupRecord = serde_json::from_value(json!({
        "id": "20000101-000000-deadbeef", "state": "Running", "trigger": "manual",
        "requestedBy": "admin", "requestedAt": long_ago, "startedAt": long_ago, "heartbeatAt": long_ago
    }))
    .unwrap();
    server
        .state
        .writer
        .save(&scope, &Actor::System, stuck, Expect::Absent)
        .await
        .unwrap();
    let tmp = dir.join(".20000101-000000-deadbeef.nxbk.tmp");
    std::fs::write(&tmp, b"half an archive").unwrap();
    completed(&admin, None).await;
    let (_, rec) = admin
        .get(&format!("{BACKUPS}/20000101-000000-deadbeef"))
        .await;
    assert_eq!(rec["state"], "Failed", "{rec}");
    assert!(
        rec["error"].as_str().unwrap().contains("interrupted"),
        "{rec}"
    );
    assert!(!tmp.exists(), "its temporary file is removed");

    // Deleting: a pinned backup needs force; the archive goes with the record.
    let pinned = completed(&admin, Some(json!({"pinned": true}))).await;
    let pid = pinned["id"].as_str().unwrap();
    let (s, b) = admin.delete(&format!("{BACKUPS}/{pid}")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (s, _) = admin.delete(&format!("{BACKUPS}/{pid}?force=true")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(!PathBuf::from(pinned["location"].as_str().unwrap()).exists());
    let (s, _) = admin.get(&format!("{BACKUPS}/{pid}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, r) = admin.post(RESTORES, json!({"backup": failed["id"]})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    problem_says(&r, "backup", "Failed, not Completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_backup_mutate_restore() {
    backup_mutate_restore(&TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_backup_mutate_restore() {
    let (server, store) = mongo_server().await;
    backup_mutate_restore(&server).await;
    store.drop_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_bad_archives_and_destinations() {
    bad_archives_and_destinations(&TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_bad_archives_and_destinations() {
    let (server, store) = mongo_server().await;
    bad_archives_and_destinations(&server).await;
    store.drop_all().await.unwrap();
}

/// A client that lost the answer retries with the same `requestId` and gets the backup it
/// already started: one record, one archive. Through the admin API and the operator's.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_request_gets_the_backup_it_started() {
    let token = unique("op-token-");
    let server = TestServer::start_with_operator_token(Some(&token)).await;
    let tenant = unique("br");
    let admin = server.tenant(&tenant, PW).await;
    let first = completed(&admin, Some(json!({"requestId": "run-1", "note": "first"}))).await;
    let (s, again) = admin
        .post(BACKUPS, json!({"requestId": "run-1", "note": "retried"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(
        (&again["id"], &again["state"], &again["note"]),
        (&first["id"], &json!("Completed"), &json!("first"))
    );
    let (s, b) = admin.post(BACKUPS, json!({"requestId": ""})).await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("requestId"))
    );

    // Retries sent together, before any of them was answered: still one backup.
    let answers = futures::future::join_all(
        (0..6).map(|_| admin.post(BACKUPS, json!({"requestId": "run-2"}))),
    )
    .await;
    let started: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(started.len(), 1, "{answers:?}");
    let together = started[0]["id"].clone();
    assert!(
        answers
            .iter()
            .all(|(s, b)| b["id"] == together && [StatusCode::ACCEPTED, StatusCode::OK].contains(s)),
        "{answers:?}"
    );

    // The operator's way in: the `Backup` resource's UID as the request id.
    let path = format!("/api/v1/provisioning/{tenant}/backups");
    let body = json!({"note": "Backup ns/b", "requestId": "0b5e-uid"});
    let (s, op1) = server
        .call(Some(&token), Method::POST, &path, Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op1}");
    let (s, op2) = server
        .call(Some(&token), Method::POST, &path, Some(body))
        .await;
    assert_eq!((s, &op2["id"]), (StatusCode::OK, &op1["id"]), "{op2}");
    let (s, b) = server
        .call(
            Some(&token),
            Method::POST,
            &path,
            Some(json!({"requestId": "x".repeat(129)})),
        )
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("requestId"))
    );

    // Request ids are the tenant's own: another tenant's same id starts its own backup.
    let other = server.tenant(&unique("bo"), PW).await;
    let theirs = completed(&other, Some(json!({"requestId": "run-1"}))).await;
    assert_ne!(theirs["id"], first["id"]);
    let (s, list) = admin.get(BACKUPS).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let mut ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    let mut want = vec![
        first["id"].as_str().unwrap(),
        together.as_str().unwrap(),
        op1["id"].as_str().unwrap(),
    ];
    ids.sort();
    want.sort();
    assert_eq!(ids, want, "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_checked_and_admin_only() {
    let server = TestServer::start().await;
    let tenant = unique("bq");
    let admin = server.tenant(&tenant, PW).await;
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "ed", "role": "editor", "password": "a-long-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let ed = server.login(&tenant, "ed", "a-long-password-1").await;
    for (method, path) in [
        (Method::GET, BACKUPS.to_string()),
        (Method::POST, BACKUPS.to_string()),
        (Method::GET, format!("{BACKUPS}/x")),
        (Method::DELETE, format!("{BACKUPS}/x")),
        (Method::POST, format!("{BACKUPS}/x/verify")),
        (Method::POST, RESTORES.to_string()),
    ] {
        let (s, b) = ed.call(method.clone(), &path, Some(json!({}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {b}");
    }
    let b = completed(&admin, None).await;
    let id = b["id"].as_str().unwrap();
    assert_eq!(b["pinned"], false);

    let long = "x".repeat(501);
    let cases = [
        (
            json!({"dryRun": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("backup"),
        ),
        (
            json!({"backup": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("backup"),
        ),
        (
            json!({"backup": id, "targetTime": "2026-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("targetTime"),
        ),
        (
            json!({"backup": id, "only": ["users", "sessions"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("only[1]"),
        ),
        (
            // The audit log is append-only: never rewound by a restore.
            json!({"backup": id, "only": ["dashboards", "audit_log"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("only[1]"),
        ),
        (
            json!({"backup": id, "only": ["nope"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("only[0]"),
        ),
        (
            json!({"backup": id, "only": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("only"),
        ),
        (
            json!({"backup": id, "dryRun": "yes"}),
            StatusCode::BAD_REQUEST,
            Some("dryRun"),
        ),
        (
            json!({"backup": id, "surprise": 1}),
            StatusCode::BAD_REQUEST,
            None,
        ),
    ];
    for (body, status, field) in cases {
        let (s, b) = admin.post(RESTORES, body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
        if let Some(f) = field {
            assert_eq!(b["field"], f, "{body}: {b}");
        }
    }
    let (s, b) = admin.post(BACKUPS, json!({"note": long})).await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("note"))
    );
    let (s, b) = admin
        .post(BACKUPS, json!({"retention": {"keepLast": 0}}))
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("retention.keepLast")
        )
    );
    let (s, b) = admin.post(BACKUPS, json!({"pinned": "yes"})).await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("pinned"))
    );
    let r = admin
        .http
        .post(format!("{}{BACKUPS}", admin.base))
        .bearer_auth(&admin.token)
        .header("content-type", "text/plain")
        .body("pinned")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for (method, path) in [
        (Method::GET, format!("{BACKUPS}/nope")),
        (Method::DELETE, format!("{BACKUPS}/nope")),
        (Method::POST, format!("{BACKUPS}/nope/verify")),
    ] {
        let (s, b) = admin.call(method.clone(), &path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {b}");
    }
    // A backup of one tenant is invisible to another.
    let other = server.tenant(&unique("bo"), PW).await;
    let (s, _) = other.get(&format!("{BACKUPS}/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = other.post(RESTORES, json!({"backup": id})).await;
    assert_eq!(
        (s, b["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("backup"))
    );

    // The list survives a restart.
    let again = server.another_instance().await;
    let admin2 = again.login(&tenant, "admin", PW).await;
    let (s, listed) = admin2.get(BACKUPS).await;
    assert_eq!(s, StatusCode::OK);
    let got: Vec<BackupRecord> = serde_json::from_value(listed).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].state, BackupState::Completed);
}

/// A TCP relay in front of the S3 server that can fail like a network: after `cut_after` bytes
/// more from clients it drops every connection and refuses new ones until `heal`.
struct Relay {
    endpoint: String,
    budget: Arc<std::sync::atomic::AtomicI64>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    async fn start() -> Self {
        use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let target = s3_url().trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let budget = Arc::new(AtomicI64::new(i64::MAX));
        let down = Arc::new(AtomicBool::new(false));
        let (b, d) = (budget.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let (b, d, target) = (b.clone(), d.clone(), target.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut ri, mut wi) = inbound.into_split();
                    let (mut ro, mut wo) = outbound.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 16 << 10];
                        loop {
                            let n = ri.read(&mut buf).await.unwrap_or(0);
                            if n == 0 || d.load(Ordering::SeqCst) {
                                return;
                            }
                            if b.fetch_sub(n as i64, Ordering::SeqCst) < n as i64 {
                                d.store(true, Ordering::SeqCst);
                                return;
                            }
                            if wo.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let back = async {
                        let _ = tokio::io::copy(&mut ro, &mut wi).await;
                    };
                    // Whichever side ends first closes both.
                    tokio::select! { _ = up => {}, _ = back => {} }
                });
            }
        });
        Self {
            endpoint,
            budget,
            down,
        }
    }

    fn cut_after(&self, bytes: i64) {
        self.budget
            .store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    fn heal(&self) {
        self.budget
            .store(i64::MAX, std::sync::atomic::Ordering::SeqCst);
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The tenant's files or objects at the instance's destination.
pub(crate) async fn stored(server: &TestServer, tenant: &str) -> Vec<String> {
    domain::destination(&server.state)
        .list(tenant)
        .await
        .unwrap()
}

/// S3 destination: corrupt object, another key, an outage cut into an upload, deletion.
async fn s3_failures(server: &TestServer, relay: &Relay) {
    let tenant = unique("bs");
    let (admin, _) = populated(server, &tenant).await;
    let b = completed(&admin, None).await;
    let id = b["id"].as_str().unwrap().to_string();
    let loc = b["location"].as_str().unwrap().to_string();
    assert!(
        loc.starts_with("s3://nxbk-")
            && loc.ends_with(&format!("/nexbii/backups/{tenant}/{id}.nxbk")),
        "{loc}"
    );
    let good = read_archive(&loc).await;
    assert_eq!(b["sizeBytes"].as_u64().unwrap(), good.len() as u64);
    assert_eq!(stored(server, &tenant).await, [format!("{id}.nxbk")]);
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "later", "role": "viewer", "password": "a-long-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let state = records(server, &tenant).await;

    // One flipped byte in the stored object: verify and restore refuse; nothing changes.
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    write_archive(&loc, &bad).await;
    let (s, v) = admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    problem_says(&v, "id", "archive is corrupt");
    for dry in [true, false] {
        let (s, r) = admin
            .post(RESTORES, json!({"backup": id, "dryRun": dry}))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
        problem_says(&r, "backup", "archive is corrupt");
    }
    same_records(
        &records(server, &tenant).await,
        &state,
        "after a corrupt restore",
    );
    write_archive(&loc, &good).await;
    let (s, v) = admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "the intact object verifies again: {v}");

    // Another backup key: refused by key id, nothing changes.
    let other = other_keys_instance(server, &tenant).await;
    let state = records(server, &tenant).await;
    let (s, r) = other.post(RESTORES, json!({"backup": id})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    problem_says(&r, "backup", "encrypted with backup key");
    same_records(
        &records(server, &tenant).await,
        &state,
        "after a wrong-key restore",
    );

    // The destination goes away in the middle of the upload: that backup fails, the earlier
    // archive stays, no temporary object is left, and the next backup works.
    relay.cut_after(good.len() as i64 / 2);
    let failed = backup(&admin, None).await;
    relay.heal();
    assert_eq!(failed["state"], "Failed", "{failed}");
    let err = failed["error"].as_str().unwrap();
    assert!(
        err.contains("backup destination s3://") && err.contains(&tenant),
        "{err}"
    );
    assert!(failed.get("location").is_none());
    assert_eq!(stored(server, &tenant).await, [format!("{id}.nxbk")]);
    let next = completed(&admin, None).await;
    let (s, _) = admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "the earlier archive is untouched");
    let (s, r) = admin.post(RESTORES, json!({"backup": next["id"]})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    same_records(
        &records(server, &tenant).await,
        &state,
        "restored from the run after the outage",
    );
    let (_, text) = server.get_text("/metrics").await;
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(&format!("tenant=\"{tenant}\"")))
            .unwrap_or_else(|| panic!("{name} for {tenant} in /metrics"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(line("nexbii_backups_total{outcome=\"failed\""), 1.0);
    assert_eq!(line("nexbii_backups_total{outcome=\"completed\""), 2.0);
    let last = line("nexbii_backup_last_success_timestamp_seconds");
    let started =
        chrono::DateTime::parse_from_rfc3339(next["startedAt"].as_str().unwrap()).unwrap();
    assert!(
        (last - started.timestamp_millis() as f64 / 1000.0).abs() < 0.01,
        "{last}"
    );
    assert_eq!(
        line("nexbii_backup_last_size_bytes"),
        next["sizeBytes"].as_f64().unwrap()
    );

    // Deleting removes the object with the record.
    let (s, _) = admin.delete(&format!("{BACKUPS}/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(!archive_exists(&loc).await);
    assert_eq!(
        stored(server, &tenant).await,
        [format!("{}.nxbk", next["id"].as_str().unwrap())]
    );
}

/// Retention after each successful run: the request's (a `BackupSchedule`'s) over the instance's.
async fn retention_prunes(server: &TestServer) {
    let tenant = unique("br");
    let admin = server.tenant(&tenant, PW).await;
    let pinned = completed(&admin, Some(json!({"pinned": true}))).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            completed(&admin, None).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (s, b) = admin.get(BACKUPS).await;
    assert_eq!(
        (s, b.as_array().unwrap().len()),
        (StatusCode::OK, 4),
        "no retention: all kept"
    );
    let last = completed(&admin, Some(json!({"retention": {"keepLast": 2}}))).await;
    assert_eq!(last["retention"]["keepLast"], 2, "{last}");
    let mut want = vec![
        pinned["id"].as_str().unwrap(),
        ids[2].as_str(),
        last["id"].as_str().unwrap(),
    ];
    want.sort();
    // Retention runs right after the run is recorded as completed: wait for it (at most 10 s).
    let mut left: Vec<String> = Vec::new();
    for _ in 0..100 {
        let (_, b) = admin.get(BACKUPS).await;
        left = b
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        left.sort();
        if left == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, want, "the pinned one and the newest two");
    let mut files: Vec<String> = want.iter().map(|id| format!("{id}.nxbk")).collect();
    files.sort();
    assert_eq!(
        stored(server, &tenant).await,
        files,
        "pruned archives are gone too"
    );
    let (_, text) = server.get_text("/metrics").await;
    assert!(
        text.contains(&format!(
            "nexbii_backups_pruned_total{{tenant=\"{tenant}\"}} 2"
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_s3_backup_mutate_restore() {
    backup_mutate_restore(&s3_server(&s3_url()).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_s3_backup_mutate_restore() {
    let (server, store) = mongo_server_with(Some(s3_bucket(&s3_url()).await)).await;
    backup_mutate_restore(&server).await;
    store.drop_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_s3_corruption_keys_and_outage() {
    let relay = Relay::start().await;
    s3_failures(&s3_server(&relay.endpoint).await, &relay).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_s3_corruption_keys_and_outage() {
    let relay = Relay::start().await;
    let (server, store) = mongo_server_with(Some(s3_bucket(&relay.endpoint).await)).await;
    s3_failures(&server, &relay).await;
    store.drop_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_prunes_on_the_volume_and_in_a_bucket() {
    retention_prunes(&TestServer::start().await).await;
    retention_prunes(&s3_server(&s3_url()).await).await;
}

/// An archive larger than one upload part (5 MiB) goes up in several parts and comes back
/// whole: verify and restore read it as one stream across the part boundaries.
#[tokio::test(flavor = "multi_thread")]
async fn s3_archive_of_several_parts() {
    use rand::{distributions::Alphanumeric, Rng};
    let server = s3_server(&s3_url()).await;
    let tenant = unique("bm");
    let admin = server.tenant_with_sales(&tenant, PW).await;
    settled(&admin, "sales").await;
    let mut ids = Vec::new();
    // Random text barely compresses: 24 × 500 kB of it makes an archive of about 9 MB.
    for i in 0..24 {
        let noise: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(500_000)
            .map(char::from)
            .collect();
        let (s, q) = admin
            .post(
                "/api/v1/queries",
                json!({"name": format!("big {i}"), "dataSource": "sales", "sql": format!("SELECT 1 -- {noise}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{q}");
        ids.push(q["id"].as_str().unwrap().to_string());
    }
    let before = records(&server, &tenant).await;
    let b = completed(&admin, None).await;
    let size = b["sizeBytes"].as_u64().unwrap();
    assert!(size > 5 << 20, "more than one 5 MiB part: {size}");
    assert_eq!(
        read_archive(b["location"].as_str().unwrap()).await.len() as u64,
        size
    );
    let id = b["id"].as_str().unwrap();
    let (s, v) = admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for q in &ids[..12] {
        let (s, _) = admin.delete(&format!("/api/v1/queries/{q}")).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    let (s, r) = admin.post(RESTORES, json!({"backup": id})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(changes_of(&r, "saved_queries")["added"], 12);
    same_records(
        &records(&server, &tenant).await,
        &before,
        "after the restore",
    );
}

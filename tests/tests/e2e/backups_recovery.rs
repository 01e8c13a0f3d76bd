//! Recovery into a fresh instance (`Tenant.spec.bootstrap.fromBackup`): the instance a tenant
//! had is gone, its backup destination is not. A new instance with an empty store, the old
//! instance's keys and destination, given the Tenant with `fromBackup`, must come up with the
//! records of the backup (or of the point in time) exactly; adopt the archives as its backups;
//! go on numbering the journal after its predecessor; never recover twice; and refuse to start
//! (changing nothing) with the wrong keys or another destination. On the embedded store with a
//! backup volume, and on the MongoDB-wire server with an S3-compatible bucket.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use nexbii_controlplane::{
    admin::backups::journal,
    crypto::Keys,
    provisioning::manifests,
    state::Settings,
    store::{mongo::MongoStore, DynStore, RawRecord, TenantScope},
};
use nexbii_tests::{mongo_url, s3_url, tenant_yaml, unique, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{
    backups::{completed, populated, records, s3_bucket, same_records, BACKUPS, PW},
    backups_pitr::{a_moment, all_shipped, embedded, first_change, rfc3339, second_change, SHIP},
};

/// A new instance: an empty store of its own (embedded, or a new MongoDB database when the old
/// one's archives are in a bucket), the old instance's destination and data-source folder, and
/// `keys`.
async fn fresh(old: &TestServer, keys: Keys) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        journal_dir: Some(dir.path().join("journal")),
        ..old.state.settings.clone()
    };
    settings.journal_ship_interval = SHIP;
    let store: DynStore = if settings.backup_s3.is_some() {
        Arc::new(
            MongoStore::connect(&mongo_url(), &unique("nexbii_rec_"))
                .await
                .unwrap(),
        )
    } else {
        nexbii_controlplane::store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
            .await
            .unwrap()
    };
    TestServer::with_keys(store, dir, settings, keys).await
}

/// The `destination` of `fromBackup` naming `server`'s own.
fn destination_of(server: &TestServer) -> Value {
    match &server.state.settings.backup_s3 {
        Some(b) => {
            let described = b.describe();
            let (bucket, prefix) = described
                .strip_prefix("s3://")
                .unwrap()
                .split_once('/')
                .unwrap();
            json!({"kind": "s3", "s3": {"bucket": bucket, "prefix": prefix,
                "endpoint": s3_url(), "pathStyle": true,
                "credentialsSecretRef": {"name": "backup-s3"}}})
        }
        None => json!({"kind": "volume",
            "volume": {"path": server.state.settings.backup_dir.to_str().unwrap()}}),
    }
}

/// The Tenant of [`tenant_yaml`] asking to be recovered `from`.
fn recovering(tenant: &str, from: &Value) -> String {
    let yaml = tenant_yaml(tenant, PW);
    assert!(yaml.contains("\nspec:\n"));
    yaml.replacen(
        "\nspec:\n",
        &format!("\nspec:\n  bootstrap:\n    fromBackup: {}\n", from),
        1,
    )
}

async fn apply(server: &TestServer, yaml: &str) -> anyhow::Result<manifests::Applied> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tenant.yaml"), yaml).unwrap();
    manifests::load_and_apply(&server.state, dir.path()).await
}

/// Records other than the tenant's own (which the recovered instance brings up to its spec).
fn without_tenant_record(rs: Vec<RawRecord>) -> Vec<RawRecord> {
    rs.into_iter()
        .filter(|r| r.collection.name() != "tenants")
        .collect()
}

async fn user_count(server: &TestServer, tenant: &str) -> usize {
    records(server, tenant)
        .await
        .iter()
        .filter(|r| r.collection.name() == "users")
        .count()
}

async fn recovery(old: TestServer) {
    let tenant = unique("rec");
    let (admin, _) = populated(&old, &tenant).await;
    let b = completed(&admin, None).await;
    let id = b["id"].as_str().unwrap().to_string();
    let at_backup = without_tenant_record(records(&old, &tenant).await);
    let alpha = first_change(&admin).await;
    let at_first = without_tenant_record(records(&old, &tenant).await);
    let target: DateTime<Utc> = a_moment().await;
    second_change(&admin, &alpha).await;
    let shipped = all_shipped(&old, &tenant).await;
    let predecessor_last = journal::last_in(&shipped);
    assert!(predecessor_last > 0);
    let dest = destination_of(&old);

    // Wrong keys: no archive reads, the start is refused, and nothing is swapped in.
    let stranger = fresh(&old, Keys::random()).await;
    let err = apply(
        &stranger,
        &recovering(&tenant, &json!({"destination": dest})),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("spec.bootstrap.fromBackup")
            && err.contains("no completed backup")
            && err.contains(&id),
        "{err}"
    );
    assert_eq!(user_count(&stranger, &tenant).await, 0);

    // Another destination than the instance's own is refused by name.
    let elsewhere = json!({"kind": "volume", "volume": {"path": "/nonexistent/backups"}});
    let err = apply(
        &fresh(&old, old.state.keys.clone()).await,
        &recovering(&tenant, &json!({"destination": elsewhere})),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("destination") && err.contains("/nonexistent/backups"),
        "{err}"
    );

    // The newest backup, exactly; the admin logs in with the old password.
    let latest = fresh(&old, old.state.keys.clone()).await;
    let applied = apply(&latest, &recovering(&tenant, &json!({"destination": dest})))
        .await
        .unwrap();
    assert_eq!(applied.recovered, vec![tenant.clone()], "{applied:?}");
    same_records(
        &without_tenant_record(records(&latest, &tenant).await),
        &at_backup,
        "recovered from the newest backup",
    );
    let new_admin = latest.login(&tenant, "admin", PW).await;
    let (s, list) = new_admin.get(BACKUPS).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let adopted = list.as_array().unwrap();
    assert_eq!(adopted.len(), 1, "{list}");
    assert_eq!(
        (
            &adopted[0]["id"],
            &adopted[0]["trigger"],
            &adopted[0]["state"]
        ),
        (&json!(id), &json!("recovered"), &json!("Completed"))
    );
    let (s, v) = new_admin
        .post(&format!("{BACKUPS}/{id}/verify"), json!(null))
        .await;
    assert_eq!(s, StatusCode::OK, "an adopted archive verifies: {v}");

    // A second apply (a restart) recovers nothing: what changed since stays.
    let (s, q) = new_admin
        .post(
            "/api/v1/queries",
            json!({"name": "after recovery", "dataSource": "sales", "sql": "SELECT 3"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let again = apply(&latest, &recovering(&tenant, &json!({"destination": dest})))
        .await
        .unwrap();
    assert!(again.recovered.is_empty(), "{again:?}");
    let (s, _) = new_admin
        .get(&format!("/api/v1/queries/{}", q["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::OK);
    // The journal goes on after its predecessor's: no segment name is taken twice.
    let now = all_shipped(&latest, &tenant).await;
    let scope = TenantScope::new(&tenant).unwrap();
    assert!(
        latest.state.journal.position(&scope).await.unwrap() > predecessor_last,
        "the recovered instance's sequence starts after {predecessor_last}"
    );
    assert!(journal::last_in(&now) > predecessor_last, "{now:?}");
    for name in &shipped {
        assert!(now.contains(name), "{name} is still there: {now:?}");
    }

    // A point in time between two changes: the first is there, the second is not.
    let pitr = fresh(&old, old.state.keys.clone()).await;
    let from = json!({"destination": dest, "targetTime": rfc3339(target)});
    let applied = apply(&pitr, &recovering(&tenant, &from)).await.unwrap();
    assert_eq!(applied.recovered, vec![tenant.clone()]);
    // The second instance has shipped segments too now; the replay stops at the target.
    same_records(
        &without_tenant_record(records(&pitr, &tenant).await),
        &at_first,
        "recovered to the moment between the changes",
    );
    // The tenant record is the one declared now.
    let t = records(&pitr, &tenant)
        .await
        .into_iter()
        .find(|r| r.collection.name() == "tenants")
        .unwrap();
    assert!(t.doc.contains("fromBackup"), "{}", t.doc);
}

#[tokio::test]
async fn embedded_recovery_from_a_volume() {
    recovery(embedded(None, SHIP).await).await;
}

#[tokio::test]
async fn mongodb_recovery_from_a_bucket() {
    let bucket = s3_bucket(&s3_url()).await;
    let (server, _, _) = TestServer::on_mongo("nexbii_recsrc_", move |s| {
        s.backup_s3 = Some(bucket);
        s.journal_ship_interval = SHIP;
    })
    .await;
    recovery(server).await;
}

/// An instance whose local journal was lost (a new volume) goes on after the segments its
/// journal shipped, rather than starting at 1 again and reusing their names.
#[tokio::test]
async fn a_lost_local_journal_goes_on_after_the_shipped_segments() {
    let old = embedded(None, SHIP).await;
    let tenant = unique("lj");
    let (admin, _) = populated(&old, &tenant).await;
    first_change(&admin).await;
    let shipped = all_shipped(&old, &tenant).await;
    let last = journal::last_in(&shipped);
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        journal_dir: Some(dir.path().join("journal")),
        ..old.state.settings.clone()
    };
    let store =
        nexbii_controlplane::store::open(old.dir().join("nexbii.db").to_str().unwrap(), "unused")
            .await
            .unwrap();
    let again = TestServer::with_keys(store, dir, settings, old.state.keys.clone()).await;
    let scope = TenantScope::new(&tenant).unwrap();
    let mut position = 0;
    for _ in 0..100 {
        position = again.state.journal.position(&scope).await.unwrap();
        if position >= last {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        position, last,
        "the sequence goes on after the shipped {last}"
    );
    let admin = again.login(&tenant, "admin", PW).await;
    let (s, b) = admin
        .post(
            "/api/v1/queries",
            json!({"name": "after the loss", "dataSource": "sales", "sql": "SELECT 4"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let now = all_shipped(&again, &tenant).await;
    let new: Vec<&String> = now.iter().filter(|n| !shipped.contains(n)).collect();
    assert!(!new.is_empty(), "{now:?}");
    for name in new {
        let (first, _) = journal::parse_segment(name).unwrap();
        assert!(first > last, "{name} starts after {last}");
    }
}

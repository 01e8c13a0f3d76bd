//! Backups, retention and restores declared in Kubernetes: the operator against the real
//! kube-apiserver, carried out by a control plane on loopback whose backup folder is the
//! schedule's volume destination.
use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::{apps::v1::Deployment, core::v1::Secret},
    ByteString,
};
use kube::{
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    Api, Client, ResourceExt,
};
use nexbii_crds::{Backup, BackupSchedule, Restore, Tenant};
use nexbii_tests::{unique, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::operator::{
    condition, event_about, eventually, setup, start_operator_with, status_of, tenant,
};

/// A control plane that accepts a fresh operator token, with tenant `shop`, and the
/// generated Secret of Tenant `shop` pre-seeded with that token (an existing complete Secret
/// is kept as-is by the operator).
async fn instance(c: &Client, ns: &str) -> (TestServer, nexbii_tests::Client2) {
    let token = unique("op-token-");
    let server = TestServer::start_with_operator_token(Some(&token)).await;
    let admin = server.tenant("shop", "admin-password-123").await;
    let data: BTreeMap<String, ByteString> =
        ["signing-key", "encryption-key", "bootstrap-password"]
            .iter()
            .map(|k| (k.to_string(), ByteString(b"x".to_vec())))
            .chain([(
                "operator-token".to_string(),
                ByteString(token.clone().into_bytes()),
            )])
            .collect();
    Api::<Secret>::namespaced(c.clone(), ns)
        .create(
            &PostParams::default(),
            &Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some("shop-nexbii-keys".into()),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    (server, admin)
}

fn object<K: serde::de::DeserializeOwned>(kind: &str, name: &str, spec: Value) -> K {
    serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": kind,
        "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

/// Waits until Backup `name` is Completed or Failed; returns its status.
async fn finished(backups: &Api<Backup>, name: &str) -> Value {
    eventually(&format!("Backup {name} finished"), || async {
        let s = status_of(backups, name).await;
        matches!(s["phase"].as_str(), Some("Completed" | "Failed")).then_some(s)
    })
    .await
}

async fn schedule_backups(backups: &Api<Backup>, schedule: &str) -> Vec<Backup> {
    backups
        .list(&ListParams::default().labels(&format!("nexbii.io/schedule={schedule}")))
        .await
        .unwrap()
        .items
}

async fn usernames(admin: &nexbii_tests::Client2) -> Vec<String> {
    let (s, list) = admin.get("/api/v1/users").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_backs_up_prunes_by_retention_and_a_restore_brings_the_data_back() {
    let (c, ns) = setup().await;
    let (server, admin) = instance(&c, &ns).await;
    // A short resync: completed Backups look for pruned archives on it.
    start_operator_with(
        &c,
        &ns,
        "op-1",
        Some(server.base.clone()),
        Duration::from_secs(3),
    );
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    tenants
        .create(
            &PostParams::default(),
            &tenant("shop", json!({"displayName": "Shop"})),
        )
        .await
        .unwrap();
    let dir = server.state.settings.backup_dir.clone();
    let destination = json!({"kind": "volume", "volume": {"claimName": "shop-backups",
        "path": dir.to_str().unwrap()}});

    // `immediate`: one run on creation, though the cron expression is yearly.
    let schedules: Api<BackupSchedule> = Api::namespaced(c.clone(), &ns);
    schedules
        .create(
            &PostParams::default(),
            &object(
                "BackupSchedule",
                "nightly",
                json!({"tenantRef": {"name": "shop"}, "schedule": "0 0 1 1 *", "immediate": true,
                    "retention": {"keepLast": 1}, "destination": destination}),
            ),
        )
        .await
        .unwrap();
    let backups: Api<Backup> = Api::namespaced(c.clone(), &ns);
    let first = eventually("the immediate run", || async {
        schedule_backups(&backups, "nightly")
            .await
            .into_iter()
            .next()
    })
    .await;
    let first_name = first.name_any();
    assert_eq!(first.spec.method, nexbii_crds::BackupMethod::Schedule);
    assert_eq!(
        first.owner_references()[0].name,
        "nightly",
        "owned by the schedule"
    );
    let s = finished(&backups, &first_name).await;
    assert_eq!(s["phase"], "Completed", "{s}");
    assert!(s["sizeBytes"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["checksum"].as_str().unwrap().starts_with("sha256:"),
        "{s}"
    );
    let location = s["location"].as_str().unwrap().to_string();
    assert!(location.starts_with(dir.to_str().unwrap()), "{s}");
    assert!(std::path::Path::new(&location).is_file(), "{location}");
    let first_id = s["backupId"].as_str().unwrap().to_string();
    let (st, rec) = admin
        .get(&format!("/api/v1/admin/backups/{first_id}"))
        .await;
    assert_eq!(
        (st, rec["state"].clone(), rec["requestedBy"].clone()),
        (StatusCode::OK, json!("Completed"), json!("operator")),
        "{rec}"
    );
    // Started under the resource's UID: a retried start would get this backup, not another.
    assert_eq!(rec["requestId"], json!(first.uid().unwrap()), "{rec}");
    assert_eq!(
        event_about(&c, &ns, &first_name, "BackupCompleted").await,
        "Normal"
    );
    event_about(&c, &ns, "nightly", "BackupScheduled").await;
    let s = eventually("schedule status", || async {
        let s = status_of(&schedules, "nightly").await;
        (s["recentBackups"][0]["outcome"] == "Completed").then_some(s)
    })
    .await;
    assert_eq!(s["recentBackups"][0]["name"], json!(first_name), "{s}");
    assert!(s["lastSuccessfulTime"].is_string(), "{s}");
    assert!(s["lastScheduleTime"].is_string(), "{s}");
    assert!(
        s["nextScheduleTime"]
            .as_str()
            .unwrap()
            .ends_with("-01-01T00:00:00Z"),
        "{s}"
    );

    // The instance is configured with the schedule's destination: the folder, on the claim.
    let t = eventually("backup destination configured", || async {
        let s = status_of(&tenants, "shop").await;
        (condition(&s, "BackupDestination")? == ("True".into(), "Configured".into())).then_some(s)
    })
    .await;
    assert!(t.is_object());
    let d = Api::<Deployment>::namespaced(c.clone(), &ns)
        .get("shop-nexbii")
        .await
        .unwrap();
    let pod = d.spec.template.spec.unwrap();
    let env = pod.containers[0].env.clone().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "NEXBII_BACKUP_DIR" && e.value.as_deref() == dir.to_str()),
        "{env:?}"
    );
    assert!(pod.volumes.unwrap().iter().any(|v| v
        .persistent_volume_claim
        .as_ref()
        .is_some_and(|p| p.claim_name == "shop-backups")));

    // A user created after the first backup.
    let (st, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "temp", "role": "viewer", "password": "user-password-123"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");

    // A second run of the schedule (on demand): with keepLast 1 the instance prunes the first
    // archive, and the operator then removes the first Backup.
    backups
        .create(
            &PostParams::default(),
            &object(
                "Backup",
                "second",
                json!({"tenantRef": {"name": "shop"}, "method": "schedule",
                    "scheduleRef": {"name": "nightly"}, "destination": destination}),
            ),
        )
        .await
        .unwrap();
    let s = finished(&backups, "second").await;
    assert_eq!(s["phase"], "Completed", "{s}");
    eventually("the pruned Backup removed", || async {
        backups
            .get_opt(&first_name)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(!std::path::Path::new(&location).exists(), "archive pruned");
    let (_, list) = admin.get("/api/v1/admin/backups").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // A user created after the second backup: a dry run reports it, a restore removes it.
    let (st, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "later", "role": "viewer", "password": "user-password-123"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let restores: Api<Restore> = Api::namespaced(c.clone(), &ns);
    restores
        .create(
            &PostParams::default(),
            &object(
                "Restore",
                "check",
                json!({"tenantRef": {"name": "shop"}, "backupRef": {"name": "second"},
                    "dryRun": true}),
            ),
        )
        .await
        .unwrap();
    let r = eventually("dry run done", || async {
        let s = status_of(&restores, "check").await;
        matches!(s["phase"].as_str(), Some("Completed" | "Failed")).then_some(s)
    })
    .await;
    assert_eq!(r["phase"], "Completed", "{r}");
    assert_eq!(r["restored"], false, "{r}");
    let users = r["report"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collection"] == "users")
        .cloned()
        .unwrap();
    assert_eq!(users["removed"], 1, "{r}");
    assert!(usernames(&admin).await.contains(&"later".to_string()));
    event_about(&c, &ns, "check", "DryRunCompleted").await;

    restores
        .create(
            &PostParams::default(),
            &object(
                "Restore",
                "rollback",
                json!({"tenantRef": {"name": "shop"}, "backupRef": {"name": "second"}}),
            ),
        )
        .await
        .unwrap();
    let r = eventually("restore done", || async {
        let s = status_of(&restores, "rollback").await;
        matches!(s["phase"].as_str(), Some("Completed" | "Failed")).then_some(s)
    })
    .await;
    assert_eq!(
        (r["phase"].clone(), r["restored"].clone()),
        (json!("Completed"), json!(true)),
        "{r}"
    );
    let names = usernames(&admin).await;
    assert!(
        names.contains(&"temp".to_string()) && !names.contains(&"later".to_string()),
        "{names:?}"
    );
    assert_eq!(
        event_about(&c, &ns, "rollback", "RestoreCompleted").await,
        "Normal"
    );

    // The spec is immutable: an edit is reported and not acted on.
    backups
        .patch(
            "second",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"pinned": true}})),
        )
        .await
        .unwrap();
    let s = eventually("spec change reported", || async {
        let s = status_of(&backups, "second").await;
        (condition(&s, "SpecChanged")?.0 == "True").then_some(s)
    })
    .await;
    assert_eq!(s["recordedSpec"]["pinned"], false, "{s}");
    assert_eq!(
        event_about(&c, &ns, "second", "SpecChanged").await,
        "Warning"
    );

    // Deleting a (not pinned, as recorded) Backup deletes its archive in the instance.
    let second_id = s["backupId"].as_str().unwrap().to_string();
    backups
        .delete("second", &DeleteParams::default())
        .await
        .unwrap();
    eventually("archive deleted", || async {
        let (st, _) = admin
            .get(&format!("/api/v1/admin/backups/{second_id}"))
            .await;
        (st == StatusCode::NOT_FOUND).then_some(())
    })
    .await;

    // A Backup naming another destination than the instance's is refused, and fails.
    backups
        .create(
            &PostParams::default(),
            &object(
                "Backup",
                "elsewhere",
                json!({"tenantRef": {"name": "shop"},
                    "destination": {"kind": "volume", "volume": {"path": "/somewhere/else"}}}),
            ),
        )
        .await
        .unwrap();
    let s = finished(&backups, "elsewhere").await;
    assert_eq!(s["phase"], "Failed", "{s}");
    assert!(s["error"].as_str().unwrap().contains("destination"), "{s}");
    assert_eq!(
        event_about(&c, &ns, "elsewhere", "BackupFailed").await,
        "Warning"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_schedule_takes_no_backup_until_resumed() {
    let (c, ns) = setup().await;
    let (server, _admin) = instance(&c, &ns).await;
    start_operator_with(
        &c,
        &ns,
        "op-1",
        Some(server.base.clone()),
        Duration::from_secs(3),
    );
    Api::<Tenant>::namespaced(c.clone(), &ns)
        .create(
            &PostParams::default(),
            &tenant("shop", json!({"displayName": "Shop"})),
        )
        .await
        .unwrap();
    let dir = server.state.settings.backup_dir.clone();
    let schedules: Api<BackupSchedule> = Api::namespaced(c.clone(), &ns);
    schedules
        .create(
            &PostParams::default(),
            &object(
                "BackupSchedule",
                "paused",
                json!({"tenantRef": {"name": "shop"}, "schedule": "* * * * *", "immediate": true,
                    "suspend": true, "destination": {"kind": "volume",
                    "volume": {"path": dir.to_str().unwrap()}}}),
            ),
        )
        .await
        .unwrap();
    let s = eventually("suspended", || async {
        let s = status_of(&schedules, "paused").await;
        (condition(&s, "Suspended")?.0 == "True").then_some(s)
    })
    .await;
    assert!(s.get("nextScheduleTime").is_none_or(Value::is_null), "{s}");
    let backups: Api<Backup> = Api::namespaced(c.clone(), &ns);
    // The status was written by the reconcile that decided not to run: nothing was created.
    assert!(schedule_backups(&backups, "paused").await.is_empty());

    schedules
        .patch(
            "paused",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    let b = eventually("the immediate run once resumed", || async {
        schedule_backups(&backups, "paused")
            .await
            .into_iter()
            .next()
    })
    .await;
    let s = finished(&backups, &b.name_any()).await;
    assert_eq!(s["phase"], "Completed", "{s}");

    // Suspended again: the schedule says so, and no next run is announced.
    schedules
        .patch(
            "paused",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    eventually("suspended again", || async {
        let s = status_of(&schedules, "paused").await;
        (condition(&s, "Suspended")?.0 == "True" && s["nextScheduleTime"].is_null()).then_some(())
    })
    .await;
}

/// A Tenant recovered from backups (`spec.bootstrap.fromBackup`): its keys Secret is made with
/// the source instance's keys (which seal the archives), its instance gets the backups'
/// destination, and a keys Secret that already holds other keys stalls the Tenant by name.
#[tokio::test(flavor = "multi_thread")]
async fn a_recovered_tenant_gets_the_source_keys_and_destination() {
    use crate::operator::{message, reported, secret, start_operator, CLOSED_PORT};
    let (c, ns) = setup().await;
    start_operator(&c, &ns, "op-rec", Some(CLOSED_PORT.into()));
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &ns);
    let old_keys = [
        ("signing-key", &b"b2xkLXNpZ25pbmc="[..]),
        ("encryption-key", &b"b2xkLWVuY3J5cHRpb24="[..]),
    ];
    create(&secrets, &secret("old-keys", &old_keys)).await;
    let from = json!({"destination": {"kind": "volume",
        "volume": {"claimName": "dr-backups", "path": "/backups"}},
        "keysSecretRef": {"name": "old-keys"}});
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    let recovered = |name: &str| {
        tenant(
            name,
            json!({"displayName": name, "bootstrap": {"fromBackup": from.clone()}}),
        )
    };
    create(&tenants, &recovered("dr")).await;
    let keys = eventually("the keys Secret of dr", || async {
        secrets.get_opt("dr-nexbii-keys").await.ok()?
    })
    .await;
    let value = |s: &Secret, k: &str| s.data.as_ref().unwrap()[k].0.clone();
    for (k, v) in old_keys {
        assert_eq!(value(&keys, k), v.to_vec(), "{k}");
    }
    assert!(!value(&keys, "operator-token").is_empty(), "generated");
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), &ns);
    let d = eventually("the Deployment of dr", || async {
        deployments.get_opt("dr-nexbii").await.ok()?
    })
    .await;
    let pod = d.spec.template.spec.unwrap();
    let env = pod.containers[0].env.clone().unwrap();
    let dir = env.iter().find(|e| e.name == "NEXBII_BACKUP_DIR").unwrap();
    assert_eq!(dir.value.as_deref(), Some("/backups"));
    assert!(pod.volumes.unwrap().iter().any(|v| v
        .persistent_volume_claim
        .as_ref()
        .map(|p| p.claim_name.as_str())
        == Some("dr-backups")));
    // The status is written after the objects: wait for it.
    eventually("dr's BackupDestination condition", || async {
        let s = status_of(&tenants, "dr").await;
        (condition(&s, "BackupDestination") == Some(("True".into(), "Configured".into())))
            .then_some(())
    })
    .await;

    // A keys Secret already there with other keys: the backups could not be read.
    let other: [(&str, &[u8]); 4] = [
        ("signing-key", b"b3RoZXI="),
        ("encryption-key", b"b3RoZXI="),
        ("operator-token", b"t"),
        ("bootstrap-password", b"p"),
    ];
    create(&secrets, &secret("dr2-nexbii-keys", &other)).await;
    create(&tenants, &recovered("dr2")).await;
    let s = reported(&tenants, "dr2", "Stalled", "KeysSecretMismatch").await;
    let msg = message(&s, "Stalled");
    assert!(
        msg.contains("old-keys") && msg.contains("dr2-nexbii-keys"),
        "{msg}"
    );
}

/// Creates `obj` (the test's own objects: any failure is the test's).
async fn create<K>(api: &Api<K>, obj: &K)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), obj).await.unwrap();
}

//! The operator against a real kube-apiserver (tests/env/kube-cluster.sh, with
//! kube-controller-manager for garbage collection) and a real control plane on loopback.
use std::{collections::BTreeMap, future::Future, time::Duration};

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount},
        events::v1::Event,
        networking::v1::NetworkPolicy,
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ByteString,
};
use kube::{
    api::{
        ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    },
    config::{KubeConfigOptions, Kubeconfig},
    Api, Client, Config, ResourceExt,
};
use nexbii_controlplane::sample_data;
use nexbii_crds::{BackupSchedule, Dashboard, DataSource, GovernancePolicy, SavedQuery, Tenant};
use nexbii_operator::{
    metrics::Metrics,
    run::{run, RunConfig},
};
use nexbii_tests::{unique, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub(crate) async fn client() -> Client {
    let path = nexbii_tests::env::kubeconfig();
    let kc =
        Kubeconfig::read_from(&path).unwrap_or_else(|e| nexbii_tests::env::KUBE.missing(&path, e));
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

/// Installs the CRDs (idempotent) and a fresh namespace.
pub(crate) async fn setup() -> (Client, String) {
    let c = client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    for crd in nexbii_crds::all_crds() {
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("nexbii-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    }
    for crd in nexbii_crds::all_crds() {
        eventually("CRD established", || async {
            let got = crds.get(&crd.name_any()).await.ok()?;
            got.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await;
    }
    let ns = unique("it-");
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
    )
    .await
    .unwrap();
    (c, ns)
}

/// Polls `f` until it yields a value (60 s at most).
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for: {what}");
}

pub(crate) fn start_operator(
    c: &Client,
    ns: &str,
    identity: &str,
    instance_url: Option<String>,
) -> Metrics {
    start_operator_with(c, ns, identity, instance_url, Duration::from_secs(30))
}

pub(crate) fn start_operator_with(
    c: &Client,
    ns: &str,
    identity: &str,
    instance_url: Option<String>,
    resync: Duration,
) -> Metrics {
    let metrics = Metrics::default();
    let cfg = RunConfig {
        namespace: Some(ns.to_string()),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
        image: "nexbii/controlplane:test".into(),
        instance_url_template: instance_url,
        lease_namespace: ns.to_string(),
        identity: identity.to_string(),
        resync,
        concurrency: 4,
    };
    tokio::spawn(run(c.clone(), cfg, metrics.clone()));
    metrics
}

pub(crate) fn condition(status: &Value, type_: &str) -> Option<(String, String)> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
}

pub(crate) async fn status_of<K>(api: &Api<K>, name: &str) -> Value
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap()["status"].clone())
        .unwrap_or(Value::Null)
}

pub(crate) fn tenant(name: &str, spec: Value) -> Tenant {
    serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": spec})).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_becomes_owned_objects_tracks_spec_and_is_garbage_collected() {
    let (c, ns) = setup().await;
    let server = TestServer::start().await;
    start_operator(&c, &ns, "op-1", Some(server.base.clone()));
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    let t = tenants
        .create(
            &PostParams::default(),
            &tenant(
                "acme",
                json!({"displayName": "Acme", "instance": {"replicas": 2}}),
            ),
        )
        .await
        .unwrap();
    let uid = t.uid().unwrap();

    let deployments: Api<Deployment> = Api::namespaced(c.clone(), &ns);
    let d = eventually("deployment", || async {
        deployments.get_opt("acme-nexbii").await.ok()?
    })
    .await;
    assert_eq!(
        d.spec.replicas,
        Some(1),
        "embedded storage forces one replica"
    );
    // The Deployment is applied before the Service, PDB and NetworkPolicy; the NetworkPolicy is
    // last, so once it exists every owned object does.
    let policies: Api<NetworkPolicy> = Api::namespaced(c.clone(), &ns);
    eventually("network policy", || async {
        policies.get_opt("acme-nexbii").await.ok()?
    })
    .await;
    let hash1 = d
        .spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap()["nexbii.io/config-hash"]
        .clone();
    let owner =
        |o: &Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>| {
            o.as_ref()
                .map(|v| v.iter().any(|r| r.uid == uid && r.controller == Some(true)))
                .unwrap_or(false)
        };
    assert!(owner(&d.metadata.owner_references));
    assert!(owner(
        &Api::<Service>::namespaced(c.clone(), &ns)
            .get("acme-nexbii")
            .await
            .unwrap()
            .metadata
            .owner_references
    ));
    assert!(owner(
        &Api::<ConfigMap>::namespaced(c.clone(), &ns)
            .get("acme-nexbii")
            .await
            .unwrap()
            .metadata
            .owner_references
    ));
    assert!(owner(
        &Api::<ServiceAccount>::namespaced(c.clone(), &ns)
            .get("acme-nexbii")
            .await
            .unwrap()
            .metadata
            .owner_references
    ));
    assert!(owner(
        &Api::<NetworkPolicy>::namespaced(c.clone(), &ns)
            .get("acme-nexbii")
            .await
            .unwrap()
            .metadata
            .owner_references
    ));
    assert!(owner(
        &Api::<PersistentVolumeClaim>::namespaced(c.clone(), &ns)
            .get("acme-nexbii-data")
            .await
            .unwrap()
            .metadata
            .owner_references
    ));
    let keys = Api::<Secret>::namespaced(c.clone(), &ns)
        .get("acme-nexbii-keys")
        .await
        .unwrap();
    let token_before = keys.data.as_ref().unwrap()["operator-token"].clone();
    // Managed with server-side apply under the operator's field manager.
    assert!(d
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .any(|m| m.manager.as_deref() == Some("nexbii-operator")));

    // Ready from the instance's own /readyz (the test points the operator at a local server).
    let status = eventually("tenant ready", || async {
        let s = status_of(&tenants, "acme").await;
        (condition(&s, "Ready")? == ("True".into(), "InstanceReady".into())).then_some(s)
    })
    .await;
    assert_eq!(status["observedGeneration"], json!(1));
    assert_eq!(
        status["endpoint"],
        json!(format!("http://acme-nexbii.{ns}.svc:8080"))
    );
    assert_eq!(status["controlPlaneReady"], json!(true));
    assert_eq!(condition(&status, "Stalled").unwrap().0, "False");

    // A spec change rolls the Deployment and is observed; generated keys are not rotated.
    tenants
        .patch("acme", &PatchParams::default(), &Patch::Merge(json!({"spec": {"displayName": "Acme Corp",
            "instance": {"replicas": 3, "storage": {"kind": "mongodb", "mongodb": {"connectionSecretRef": {"name": "mongo", "key": "url"}, "database": "acme"}}}}})))
        .await
        .unwrap();
    // The connection Secret is missing: Stalled, with an Event, and nothing crash-loops.
    let s = eventually("stalled on missing secret", || async {
        let s = status_of(&tenants, "acme").await;
        (condition(&s, "Stalled")? == ("True".into(), "SecretNotFound".into())).then_some(s)
    })
    .await;
    assert!(s["conditions"].to_string().contains("mongo"), "{s}");
    let events: Api<Event> = Api::namespaced(c.clone(), &ns);
    eventually("SecretNotFound event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("SecretNotFound")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("acme")
            })
            .then_some(())
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some("mongo".into()),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([(
                    "url".to_string(),
                    ByteString(b"mongodb://db:27017".to_vec()),
                )])),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let d = eventually("deployment scaled", || async {
        let d = deployments.get("acme-nexbii").await.ok()?;
        (d.spec.replicas == Some(3)).then_some(d)
    })
    .await;
    let hash2 = &d
        .spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap()["nexbii.io/config-hash"];
    assert_ne!(&hash1, hash2, "config change rolls the pods");
    eventually("generation 2 observed", || async {
        let s = status_of(&tenants, "acme").await;
        (s["observedGeneration"] == json!(2) && condition(&s, "Ready")?.0 == "True").then_some(())
    })
    .await;
    // Three replicas: a PodDisruptionBudget (policy/v1beta1 on this 1.20 server).
    let pdbs: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        &ns,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget"),
            "poddisruptionbudgets",
        ),
    );
    let pdb = pdbs.get("acme-nexbii").await.unwrap();
    assert_eq!(pdb.data["spec"]["maxUnavailable"], json!(1));
    let keys = secrets.get("acme-nexbii-keys").await.unwrap();
    assert_eq!(
        keys.data.unwrap()["operator-token"],
        token_before,
        "generated secret never rotated"
    );

    // Deleting the Tenant garbage-collects what it owns.
    tenants.delete("acme", &Default::default()).await.unwrap();
    eventually("owned objects collected", || async {
        let gone = deployments.get_opt("acme-nexbii").await.ok()?.is_none()
            && Api::<Service>::namespaced(c.clone(), &ns)
                .get_opt("acme-nexbii")
                .await
                .ok()?
                .is_none()
            && secrets.get_opt("acme-nexbii-keys").await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resources_sync_into_the_instance_and_finalizers_clean_up() {
    let (c, ns) = setup().await;
    let token = unique("op-token-");
    let server = TestServer::start_with_operator_token(Some(&token)).await;
    let admin = server.tenant("shop", "admin-password-123").await;
    // Pre-seed the generated Secret with the token the local instance expects (an existing
    // complete Secret is kept as-is by the operator).
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &ns);
    let data: BTreeMap<String, ByteString> =
        ["signing-key", "encryption-key", "bootstrap-password"]
            .iter()
            .map(|k| (k.to_string(), ByteString(b"x".to_vec())))
            .chain([(
                "operator-token".to_string(),
                ByteString(token.clone().into_bytes()),
            )])
            .collect();
    secrets
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
    start_operator(&c, &ns, "op-1", Some(server.base.clone()));
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    tenants
        .create(
            &PostParams::default(),
            &tenant("shop", json!({"displayName": "Shop"})),
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sales.db");
    sample_data::generate(&db).await.unwrap();
    let sources: Api<DataSource> = Api::namespaced(c.clone(), &ns);
    let ds: DataSource = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "DataSource",
        "metadata": {"name": "sales"}, "spec": {"tenantRef": {"name": "shop"}, "type": "sqlite", "path": db.to_str().unwrap()}}))
    .unwrap();
    sources.create(&PostParams::default(), &ds).await.unwrap();
    let s = eventually("datasource connected", || async {
        let s = status_of(&sources, "sales").await;
        (s["connected"] == json!(true)).then_some(s)
    })
    .await;
    assert_eq!(
        (
            s["tablesDiscovered"].clone(),
            s["columnsDiscovered"].clone()
        ),
        (json!(4), json!(19))
    );
    assert_eq!(condition(&s, "Synced").unwrap().0, "True");
    assert!(sources
        .get("sales")
        .await
        .unwrap()
        .finalizers()
        .contains(&"nexbii.io/instance-cleanup".to_string()));
    let (st, body) = admin.get("/api/v1/datasources/sales").await;
    assert_eq!(
        (st, body["origin"].clone()),
        (StatusCode::OK, json!("operator"))
    );

    // A password Secret that does not exist: not synced, reason named.
    let broken: DataSource = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "DataSource",
        "metadata": {"name": "pg"}, "spec": {"tenantRef": {"name": "shop"}, "type": "postgresql", "host": "127.0.0.1",
        "database": "test", "username": "postgres", "passwordSecretRef": {"name": "pg-creds", "key": "password"}}}))
    .unwrap();
    sources
        .create(&PostParams::default(), &broken)
        .await
        .unwrap();
    eventually("pg stalled", || async {
        let s = status_of(&sources, "pg").await;
        (condition(&s, "Synced")? == ("False".into(), "SecretNotFound".into())).then_some(())
    })
    .await;

    // Dashboards report the instance's validation errors.
    let dashboards: Api<Dashboard> = Api::namespaced(c.clone(), &ns);
    let d: Dashboard = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Dashboard",
        "metadata": {"name": "ops"}, "spec": {"tenantRef": {"name": "shop"}, "title": "Ops", "widgets": [
            {"id": "orders", "chart": "number", "query": {"dataSource": "sales", "sql": "SELECT count(*) FROM orders"}},
            {"id": "wipe", "chart": "table", "query": {"dataSource": "sales", "sql": "DELETE FROM orders"}}]}}))
    .unwrap();
    dashboards.create(&PostParams::default(), &d).await.unwrap();
    let s = eventually("dashboard synced", || async {
        let s = status_of(&dashboards, "ops").await;
        (condition(&s, "Synced")?.0 == "True").then_some(s)
    })
    .await;
    assert_eq!(
        condition(&s, "Ready").unwrap(),
        ("False".into(), "InvalidQueries".into())
    );
    assert!(
        s["validationErrors"][0]
            .as_str()
            .unwrap()
            .starts_with("wipe: "),
        "{s}"
    );
    assert!(s["url"]
        .as_str()
        .unwrap()
        .ends_with("/api/v1/dashboards/ops"));
    let (_, data) = admin.get("/api/v1/dashboards/ops/data").await;
    assert_eq!(data["widgets"][0]["result"]["rows"][0][0], json!(4000));

    let policies: Api<GovernancePolicy> = Api::namespaced(c.clone(), &ns);
    let p: GovernancePolicy = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "GovernancePolicy",
        "metadata": {"name": "default"}, "spec": {"tenantRef": {"name": "shop"}, "audit": {"retentionDays": 90},
            "masking": [{"level": "internal", "action": "none"}, {"level": "confidential", "action": "partial"}],
            "approvals": {"exports": {"levels": 1, "approvers": ["role:admin"]}}}}))
    .unwrap();
    policies.create(&PostParams::default(), &p).await.unwrap();
    let s = eventually("policy synced", || async {
        let s = status_of(&policies, "default").await;
        (condition(&s, "Synced")?.0 == "True").then_some(s)
    })
    .await;
    // The status says what the instance enforces for it.
    let e = &s["enforcement"];
    assert_eq!(e["maskingRules"], 1, "{s}");
    assert_eq!(e["approvals"], json!(["exports"]), "{s}");
    assert!(
        e["columnsCovered"].as_u64().unwrap() <= e["columnsClassified"].as_u64().unwrap(),
        "{s}"
    );
    let ready = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("1 masking rules"),
        "{s}"
    );
    assert_eq!(
        admin.get("/api/v1/governance/policies").await.1[0]["spec"]["audit"]["retentionDays"],
        json!(90)
    );

    // Backup schedules: parsed and scheduled (the next run announced); bad cron named.
    let schedules: Api<BackupSchedule> = Api::namespaced(c.clone(), &ns);
    for (name, cron) in [("nightly", "0 2 * * *"), ("broken", "61 * * * *")] {
        let b: BackupSchedule = serde_json::from_value(
            json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "BackupSchedule",
            "metadata": {"name": name}, "spec": {"tenantRef": {"name": "shop"}, "schedule": cron,
            "destination": {"kind": "volume", "volume": {"path": "/backups"}}}}),
        )
        .unwrap();
        schedules.create(&PostParams::default(), &b).await.unwrap();
    }
    eventually("schedule reports its next run", || async {
        let s = status_of(&schedules, "nightly").await;
        (condition(&s, "Ready")? == ("True".into(), "Scheduled".into())
            && s["nextScheduleTime"].as_str()?.ends_with("T02:00:00Z"))
        .then_some(())
    })
    .await;
    eventually("bad cron named", || async {
        let s = status_of(&schedules, "broken").await;
        (condition(&s, "Stalled")? == ("True".into(), "InvalidSchedule".into())).then_some(())
    })
    .await;

    // Deleting a resource removes it from the instance before the finalizer is released.
    sources.delete("sales", &Default::default()).await.unwrap();
    eventually("datasource gone from cluster", || async {
        sources.get_opt("sales").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(
        admin.get("/api/v1/datasources/sales").await.0,
        StatusCode::NOT_FOUND
    );
    dashboards.delete("ops", &Default::default()).await.unwrap();
    eventually("dashboard gone", || async {
        dashboards
            .get_opt("ops")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        admin.get("/api/v1/dashboards/ops").await.0,
        StatusCode::NOT_FOUND
    );

    // Drift: a provisioned object removed behind the operator's back comes back on resync.
    let (st, _) = server
        .call(
            Some(&token),
            reqwest::Method::DELETE,
            "/api/v1/provisioning/shop/governancepolicies/default",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    policies
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"audit": {"retentionDays": 91}}})),
        )
        .await
        .unwrap();
    eventually("policy restored", || async {
        let list = admin.get("/api/v1/governance/policies").await.1;
        (list[0]["spec"]["audit"]["retentionDays"] == json!(91)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_elect_one_leader() {
    let (c, ns) = setup().await;
    let a = start_operator(&c, &ns, "replica-a", None);
    let b = start_operator(&c, &ns, "replica-b", None);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(c.clone(), &ns);
    let holder = eventually("a lease holder", || async {
        leases
            .get_opt("nexbii-operator")
            .await
            .ok()??
            .spec?
            .holder_identity
    })
    .await;
    eventually("leader gauge set", || async {
        (a.leader.get() + b.leader.get() == 1).then_some(())
    })
    .await;
    // Several renew periods later there is still exactly one leader, and it holds the lease.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(a.leader.get() + b.leader.get(), 1);
    let leader = if a.leader.get() == 1 {
        "replica-a"
    } else {
        "replica-b"
    };
    assert_eq!(holder, leader);
    let lease = leases.get("nexbii-operator").await.unwrap().spec.unwrap();
    assert_eq!(lease.holder_identity.as_deref(), Some(leader));
    assert_eq!(lease.lease_duration_seconds, Some(15));
}

fn api_resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = match kind {
        "GovernancePolicy" => "governancepolicies".to_string(),
        "SavedQuery" => "savedqueries".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural)
}

/// Server-side dry-run create: the apiserver validates against the installed CRD schemas.
async fn dry_run(c: &Client, ns: &str, doc: &Value) -> Result<(), String> {
    let ar = api_resource(
        doc["apiVersion"].as_str().unwrap(),
        doc["kind"].as_str().unwrap(),
    );
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &ar);
    let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&pp, &obj)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn examples_and_chart_validate_against_the_real_schemas() {
    let (c, ns) = setup().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The chart ships exactly the generated CRDs.
    for (file, yaml) in nexbii_crds::crd_files() {
        let chart =
            std::fs::read_to_string(root.join("charts/nexbii-operator/crds").join(&file)).unwrap();
        assert!(
            chart == yaml,
            "charts/nexbii-operator/crds/{file} is stale: copy crds/*.yaml"
        );
    }
    let mut checked = 0;
    for dir in [
        "examples/kubernetes",
        "examples/kubernetes/recovery",
        "examples/quickstart",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        {
            let text = std::fs::read_to_string(&f).unwrap();
            for de in serde_yaml::Deserializer::from_str(&text) {
                let doc: Value = serde::Deserialize::deserialize(de).unwrap();
                if doc.is_null() {
                    continue;
                }
                dry_run(&c, &ns, &doc)
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 14,
        "all example documents were checked ({checked})"
    );

    // Invalid resources are refused by the schema, naming the field.
    let bad = [
        (
            json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Tenant", "metadata": {"name": "x"},
            "spec": {"displayName": "X", "limits": {"rowLimit": 0}}}),
            "spec.limits.rowLimit",
        ),
        (
            json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Tenant", "metadata": {"name": "x"}, "spec": {}}),
            "spec.displayName",
        ),
        (
            json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "DataSource", "metadata": {"name": "x"},
            "spec": {"tenantRef": {"name": "acme"}, "type": "oracle"}}),
            "spec.type",
        ),
        (
            json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Dashboard", "metadata": {"name": "x"},
            "spec": {"tenantRef": {"name": "acme"}, "title": "t", "widgets": [{"id": "w", "chart": "radar",
            "query": {"dataSource": "s", "sql": "SELECT 1"}}]}}),
            "spec.widgets.chart",
        ),
        (
            json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "BackupSchedule", "metadata": {"name": "x"},
            "spec": {"tenantRef": {"name": "acme"}, "schedule": "every day", "destination": {"kind": "volume"}}}),
            "spec.schedule",
        ),
        (
            json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "BackupSchedule", "metadata": {"name": "x"},
            "spec": {"tenantRef": {"name": "acme"}, "schedule": "0 2 * * *", "destination": {"kind": "volume"},
            "retention": {"keepLast": 3, "keepWeekly": 0}}}),
            "spec.retention.keepWeekly",
        ),
        (
            json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Tenant", "metadata": {"name": "x"},
            "spec": {"displayName": "X", "branding": {"primaryColor": "blue"}}}),
            "spec.branding.primaryColor",
        ),
    ];
    for (doc, field) in bad {
        let err = dry_run(&c, &ns, &doc).await.expect_err(field);
        assert!(err.contains(field), "{field} not named in: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Never silent: every outcome of every kind reaches status conditions and an Event.
// ---------------------------------------------------------------------------------------------

/// An instance address where nothing listens.
pub(crate) const CLOSED_PORT: &str = "http://127.0.0.1:9";

/// Waits until `name` reports condition `type_` True with `reason`, and checks the report is
/// complete: the Ready / Reconciling / Stalled triple, each condition and the status carrying
/// the object's generation and a message. Returns the status.
pub(crate) async fn reported<K>(api: &Api<K>, name: &str, type_: &str, reason: &str) -> Value
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let (generation, s) = eventually(&format!("{name}: {type_}={reason}"), || async {
        let obj = api.get_opt(name).await.ok()??;
        let v = serde_json::to_value(&obj).unwrap();
        let s = v["status"].clone();
        (condition(&s, type_)? == ("True".into(), reason.into())
            && s["observedGeneration"] == v["metadata"]["generation"])
            .then(|| (v["metadata"]["generation"].clone(), s))
    })
    .await;
    for t in ["Ready", "Reconciling", "Stalled", type_] {
        let c = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .unwrap_or_else(|| panic!("{name} lacks {t}: {s}"));
        // While suspended, Ready is the last readiness seen, of the generation it was seen at.
        if !(type_ == "Suspended" && t == "Ready") {
            assert_eq!(c["observedGeneration"], generation, "{name} {t}: {s}");
        }
        assert!(
            !c["message"].as_str().unwrap_or_default().is_empty(),
            "{name} {t}: {s}"
        );
    }
    s
}

/// Waits for an Event with `reason` about the object `name`; returns its type.
pub(crate) async fn event_about(c: &Client, ns: &str, name: &str, reason: &str) -> String {
    let events: Api<Event> = Api::namespaced(c.clone(), ns);
    eventually(&format!("{reason} event about {name}"), || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find_map(|e| {
            (e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .then(|| e.type_.unwrap_or_default())
        })
    })
    .await
}

pub(crate) fn secret(name: &str, data: &[(&str, &[u8])]) -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

pub(crate) fn message(status: &Value, type_: &str) -> String {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .map(|c| c["message"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tenant_failure_reaches_status_and_an_event() {
    let (c, ns) = setup().await;
    start_operator(&c, &ns, "op-1", Some(CLOSED_PORT.into()));
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &secret("binary", &[("password", &[0xff, 0xfe, 0x00])]),
        )
        .await
        .unwrap();
    let pp = PostParams::default();
    let admin_with = |secret: &str, key: &str| {
        json!({"displayName": "X", "bootstrapAdmins": [{"username": "admin",
            "passwordSecretRef": {"name": secret, "key": key}}]})
    };
    let cases = [
        // Semantic errors the schema cannot express.
        (
            "invalid",
            json!({"displayName": "X", "instance": {"storage": {"kind": "mongodb"}}}),
            "InvalidSpec",
        ),
        (
            "nosecret",
            admin_with("absent", "password"),
            "SecretNotFound",
        ),
        ("nokey", admin_with("binary", "other"), "SecretKeyNotFound"),
        (
            "binary",
            admin_with("binary", "password"),
            "SecretMalformed",
        ),
        // The apiserver refuses the generated Deployment (422): requests above limits.
        (
            "refused",
            json!({"displayName": "X", "instance": {"resources":
                {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}}),
            "ObjectRejected",
        ),
    ];
    for (name, spec, _) in &cases {
        tenants
            .create(&pp, &tenant(name, spec.clone()))
            .await
            .unwrap();
    }
    for (name, _, reason) in &cases {
        let s = reported(&tenants, name, "Stalled", reason).await;
        assert_eq!(condition(&s, "Ready").unwrap().0, "False", "{name}: {s}");
        assert_eq!(
            event_about(&c, &ns, name, reason).await,
            "Warning",
            "{name}"
        );
    }
    let s = status_of(&tenants, "refused").await;
    let m = message(&s, "Stalled");
    assert!(
        m.contains("Deployment") && m.contains("refused-nexbii") && m.contains("cpu"),
        "names the refused object and why: {m}"
    );
    assert!(message(&status_of(&tenants, "binary").await, "Stalled").contains("UTF-8"));
    // The mapping to object names is reported even when nothing could be applied.
    assert_eq!(
        status_of(&tenants, "invalid").await["instanceName"],
        json!("invalid-nexbii")
    );

    // A conflict: the Service name is taken by an object something else controls. The
    // operator neither takes it over nor stays silent.
    let holder = Api::<ConfigMap>::namespaced(c.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "holder"}})).unwrap(),
        )
        .await
        .unwrap();
    let services: Api<Service> = Api::namespaced(c.clone(), &ns);
    services
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "clash-nexbii", "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "holder", "uid": holder.uid().unwrap(),
                 "controller": true}]},
                "spec": {"ports": [{"port": 80}]}}))
            .unwrap(),
        )
        .await
        .unwrap();
    tenants
        .create(&pp, &tenant("clash", json!({"displayName": "Clash"})))
        .await
        .unwrap();
    let s = reported(&tenants, "clash", "Stalled", "NameConflict").await;
    assert!(message(&s, "Stalled").contains("ConfigMap holder"), "{s}");
    assert_eq!(
        event_about(&c, &ns, "clash", "NameConflict").await,
        "Warning"
    );
    let svc = services.get("clash-nexbii").await.unwrap();
    assert_eq!(
        svc.metadata.owner_references.unwrap().len(),
        1,
        "not taken over"
    );
    // Once the name is free the Tenant proceeds (after its backoff).
    services
        .delete("clash-nexbii", &Default::default())
        .await
        .unwrap();

    // An unreachable instance: everything applied, waiting, said so.
    tenants
        .create(&pp, &tenant("waiting", json!({"displayName": "W"})))
        .await
        .unwrap();
    let s = reported(&tenants, "waiting", "Reconciling", "InstanceNotReady").await;
    assert!(message(&s, "Reconciling").contains("127.0.0.1:9"), "{s}");
    assert_eq!(s["controlPlaneReady"], json!(false));
    assert_eq!(
        event_about(&c, &ns, "waiting", "InstanceNotReady").await,
        "Normal"
    );
    reported(&tenants, "clash", "Reconciling", "InstanceNotReady").await;

    // The generated Secret, tampered with: the operator never regenerates keys on its own.
    secrets
        .create(&pp, &secret("spoilt-nexbii-keys", &[("signing-key", b"k")]))
        .await
        .unwrap();
    tenants
        .create(&pp, &tenant("spoilt", json!({"displayName": "S"})))
        .await
        .unwrap();
    reported(&tenants, "spoilt", "Stalled", "GeneratedSecretIncomplete").await;
    event_about(&c, &ns, "spoilt", "GeneratedSecretIncomplete").await;

    // Fixing the spec clears the stall.
    tenants
        .patch(
            "invalid",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"instance": {"storage": {"kind": "embedded"}}}})),
        )
        .await
        .unwrap();
    let s = reported(&tenants, "invalid", "Reconciling", "InstanceNotReady").await;
    assert_eq!(condition(&s, "Stalled").unwrap().0, "False");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_resource_failure_reaches_status_and_an_event() {
    let (c, ns) = setup().await;
    start_operator(&c, &ns, "op-1", Some(CLOSED_PORT.into()));
    let pp = PostParams::default();
    // A Tenant whose instance never answers.
    Api::<Tenant>::namespaced(c.clone(), &ns)
        .create(&pp, &tenant("down", json!({"displayName": "Down"})))
        .await
        .unwrap();
    Api::<Secret>::namespaced(c.clone(), &ns)
        .create(&pp, &secret("creds", &[("user", b"u")]))
        .await
        .unwrap();
    let doc = |kind: &str, name: &str, spec: Value| json!({"apiVersion": "nexbii.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec});
    let pg = |tenant: &str, extra: Value| {
        let mut spec = json!({"tenantRef": {"name": tenant}, "type": "postgresql",
            "host": "db", "database": "d", "username": "u"});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        spec
    };
    let sources: Api<DataSource> = Api::namespaced(c.clone(), &ns);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "orphan",
            pg("nobody", json!({})),
            "Stalled",
            "TenantNotFound",
        ),
        (
            "nohost",
            json!({"tenantRef": {"name": "down"}, "type": "postgresql", "database": "d", "username": "u"}),
            "Stalled",
            "InvalidSpec",
        ),
        (
            "nokey",
            pg(
                "down",
                json!({"passwordSecretRef": {"name": "creds", "key": "password"}}),
            ),
            "Stalled",
            "SecretKeyNotFound",
        ),
        (
            "unreachable",
            pg("down", json!({})),
            "Reconciling",
            "InstanceUnreachable",
        ),
    ];
    for (name, spec, _, _) in &cases {
        sources
            .create(
                &pp,
                &serde_json::from_value(doc("DataSource", name, spec.clone())).unwrap(),
            )
            .await
            .unwrap();
    }
    for (name, _, type_, reason) in &cases {
        let s = reported(&sources, name, type_, reason).await;
        assert_eq!(
            condition(&s, "Synced").unwrap(),
            ("False".into(), reason.to_string()),
            "{name}: {s}"
        );
        assert_eq!(
            event_about(&c, &ns, name, reason).await,
            "Warning",
            "{name}"
        );
    }

    let dashboards: Api<Dashboard> = Api::namespaced(c.clone(), &ns);
    dashboards
        .create(
            &pp,
            &serde_json::from_value(doc(
                "Dashboard",
                "board",
                json!({"tenantRef": {"name": "down"}, "title": "B"}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    dashboards
        .create(
            &pp,
            &serde_json::from_value(doc(
                "Dashboard",
                "blank",
                json!({"tenantRef": {"name": "down"}, "title": " "}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    reported(&dashboards, "board", "Reconciling", "InstanceUnreachable").await;
    event_about(&c, &ns, "board", "InstanceUnreachable").await;
    reported(&dashboards, "blank", "Stalled", "InvalidSpec").await;
    event_about(&c, &ns, "blank", "InvalidSpec").await;

    let policies: Api<GovernancePolicy> = Api::namespaced(c.clone(), &ns);
    policies
        .create(
            &pp,
            &serde_json::from_value(doc(
                "GovernancePolicy",
                "pol",
                json!({"tenantRef": {"name": "nobody"}}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    reported(&policies, "pol", "Stalled", "TenantNotFound").await;
    event_about(&c, &ns, "pol", "TenantNotFound").await;

    let schedules: Api<BackupSchedule> = Api::namespaced(c.clone(), &ns);
    schedules
        .create(
            &pp,
            &serde_json::from_value(doc(
                "BackupSchedule",
                "hourly",
                json!({"tenantRef": {"name": "down"}, "schedule": "99 * * * *",
                    "destination": {"kind": "volume", "volume": {"path": "/b"}}}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    reported(&schedules, "hourly", "Stalled", "InvalidSchedule").await;
    event_about(&c, &ns, "hourly", "InvalidSchedule").await;
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn maximal_and_digit_led_tenant_names_become_valid_objects() {
    let (c, ns) = setup().await;
    let server = TestServer::start().await;
    start_operator(&c, &ns, "op-1", Some(server.base.clone()));
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    // 63 characters, a leading digit, digits and dashes: everything the CRD accepts.
    let long = format!("9-{}-{}", "a1".repeat(25), "b-c-d-e-f0");
    assert_eq!(long.len(), 63);
    // "7eleven" starts suspended, so that objects an earlier operator version made under the
    // plain (invalid as a Service) name can be put in place first.
    for name in [long.as_str(), "7eleven"] {
        let spec = json!({"displayName": "N", "suspend": name == "7eleven",
            "instance": {"replicas": 2, "storage": {"kind": "mongodb", "mongodb":
                {"connectionSecretRef": {"name": "mongo", "key": "url"}, "database": "d"}},
                "exposure": {"ingress": {"host": "n.example.com"}}}});
        tenants
            .create(&PostParams::default(), &tenant(name, spec))
            .await
            .unwrap();
    }
    Api::<Secret>::namespaced(c.clone(), &ns)
        .create(
            &PostParams::default(),
            &secret("mongo", &[("url", b"mongodb://db")]),
        )
        .await
        .unwrap();
    let uid = tenants.get("7eleven").await.unwrap().uid().unwrap();
    let owned_by_tenant = json!([{"apiVersion": "nexbii.io/v1alpha1", "kind": "Tenant",
        "name": "7eleven", "uid": uid, "controller": true}]);
    let legacy_deployments: Api<Deployment> = Api::namespaced(c.clone(), &ns);
    let legacy = json!({"metadata": {"name": "7eleven-nexbii", "ownerReferences": owned_by_tenant},
        "spec": {"selector": {"matchLabels": {"old": "x"}}, "template": {
            "metadata": {"labels": {"old": "x"}},
            "spec": {"containers": [{"name": "c", "image": "old"}]}}}});
    legacy_deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(legacy).unwrap(),
        )
        .await
        .unwrap();
    let legacy_cms: Api<ConfigMap> = Api::namespaced(c.clone(), &ns);
    let legacy =
        json!({"metadata": {"name": "7eleven-nexbii", "ownerReferences": owned_by_tenant}});
    legacy_cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(legacy).unwrap(),
        )
        .await
        .unwrap();
    // Same name, not the Tenant's: left alone.
    let sas: Api<ServiceAccount> = Api::namespaced(c.clone(), &ns);
    let unowned = json!({"metadata": {"name": "7eleven-nexbii"}});
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(unowned).unwrap(),
    )
    .await
    .unwrap();
    tenants
        .patch(
            "7eleven",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    for name in [long.as_str(), "7eleven"] {
        let s = reported(&tenants, name, "Ready", "InstanceReady").await;
        let base = s["instanceName"].as_str().unwrap().to_string();
        assert!(
            base.len() <= 63 && base.starts_with(|c: char| c.is_ascii_lowercase()),
            "{base}"
        );
        assert_ne!(base, format!("{name}-nexbii"), "shortened: {base}");
        // Every object exists under the reported names, and the pieces fit together.
        let d = Api::<Deployment>::namespaced(c.clone(), &ns)
            .get(&base)
            .await
            .unwrap();
        let selector = d.spec.selector.match_labels.clone().unwrap();
        let pod_labels = d.spec.template.metadata.clone().unwrap().labels.unwrap();
        assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
        let svc = Api::<Service>::namespaced(c.clone(), &ns)
            .get(&base)
            .await
            .unwrap();
        assert_eq!(svc.spec.unwrap().selector.unwrap(), selector);
        Api::<ConfigMap>::namespaced(c.clone(), &ns)
            .get(&base)
            .await
            .unwrap();
        Api::<ServiceAccount>::namespaced(c.clone(), &ns)
            .get(&base)
            .await
            .unwrap();
        Api::<NetworkPolicy>::namespaced(c.clone(), &ns)
            .get(&base)
            .await
            .unwrap();
        let ing = Api::<k8s_openapi::api::networking::v1::Ingress>::namespaced(c.clone(), &ns)
            .get(&base)
            .await
            .unwrap();
        let backend = ing.spec.unwrap().rules.unwrap()[0]
            .http
            .clone()
            .unwrap()
            .paths[0]
            .backend
            .service
            .clone()
            .unwrap();
        assert_eq!(backend.name, base);
        Api::<DynamicObject>::namespaced_with(
            c.clone(),
            &ns,
            &api_resource("policy/v1beta1", "PodDisruptionBudget"),
        )
        .get(&base)
        .await
        .unwrap();
        Api::<Secret>::namespaced(c.clone(), &ns)
            .get(s["keysSecretName"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(s["endpoint"], json!("http://n.example.com"));
    }
    // What an earlier version made under the invalid name is gone; others' objects are not.
    eventually("legacy objects removed", || async {
        (legacy_deployments
            .get_opt("7eleven-nexbii")
            .await
            .ok()?
            .is_none()
            && legacy_cms.get_opt("7eleven-nexbii").await.ok()?.is_none())
        .then_some(())
    })
    .await;
    assert!(sas.get_opt("7eleven-nexbii").await.unwrap().is_some());
    // The CRDs accept exactly DNS labels of up to 63 characters as names.
    for bad in [format!("{long}x"), "a.b".to_string()] {
        let err = dry_run(
            &c,
            &ns,
            &json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Tenant",
                "metadata": {"name": bad}, "spec": {"displayName": "X"}}),
        )
        .await
        .expect_err("name refused");
        assert!(err.contains("metadata.name"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Suspend
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn suspended_objects_are_left_alone_until_resumed() {
    let (c, ns) = setup().await;
    start_operator(&c, &ns, "op-1", Some(CLOSED_PORT.into()));
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), &ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(c.clone(), &ns);
    tenants
        .create(
            &PostParams::default(),
            &tenant("paused", json!({"displayName": "P"})),
        )
        .await
        .unwrap();
    reported(&tenants, "paused", "Reconciling", "InstanceNotReady").await;
    let before = config_maps.get("paused-nexbii").await.unwrap().data;
    let merge = |v: Value| Patch::Merge(v);
    tenants
        .patch(
            "paused",
            &PatchParams::default(),
            &merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    let s = reported(&tenants, "paused", "Suspended", "Suspended").await;
    assert_eq!(condition(&s, "Reconciling").unwrap().0, "False");
    assert_eq!(event_about(&c, &ns, "paused", "Suspended").await, "Normal");

    // Neither a deleted Deployment nor a spec change is acted on.
    deployments
        .delete("paused-nexbii", &Default::default())
        .await
        .unwrap();
    eventually("deployment deleted", || async {
        deployments
            .get_opt("paused-nexbii")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    tenants
        .patch(
            "paused",
            &PatchParams::default(),
            &merge(json!({"spec": {"displayName": "Changed"}})),
        )
        .await
        .unwrap();
    reported(&tenants, "paused", "Suspended", "Suspended").await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        deployments
            .get_opt("paused-nexbii")
            .await
            .unwrap()
            .is_none(),
        "not recreated while suspended"
    );
    assert_eq!(
        config_maps.get("paused-nexbii").await.unwrap().data,
        before,
        "spec change not applied while suspended"
    );

    // Resumed: recreated, the pending change applied, and the status says so.
    tenants
        .patch(
            "paused",
            &PatchParams::default(),
            &merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    eventually("deployment recreated", || async {
        deployments.get_opt("paused-nexbii").await.ok()?
    })
    .await;
    let s = reported(&tenants, "paused", "Reconciling", "InstanceNotReady").await;
    assert_eq!(
        condition(&s, "Suspended").unwrap(),
        ("False".into(), "Resumed".into())
    );
    assert!(config_maps
        .get("paused-nexbii")
        .await
        .unwrap()
        .data
        .unwrap()["tenant.yaml"]
        .contains("Changed"));

    // A suspended DataSource gets neither pushed nor a finalizer, so deleting it touches
    // nothing in the instance; a suspended BackupSchedule is reported as such.
    let sources: Api<DataSource> = Api::namespaced(c.clone(), &ns);
    let ds: DataSource = serde_json::from_value(
        json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "DataSource",
        "metadata": {"name": "idle"}, "spec": {"tenantRef": {"name": "paused"}, "type": "sqlite",
        "path": "x.db", "suspend": true}}),
    )
    .unwrap();
    sources.create(&PostParams::default(), &ds).await.unwrap();
    reported(&sources, "idle", "Suspended", "Suspended").await;
    assert!(sources.get("idle").await.unwrap().finalizers().is_empty());
    sources.delete("idle", &Default::default()).await.unwrap();
    eventually("suspended datasource deleted", || async {
        sources.get_opt("idle").await.ok()?.is_none().then_some(())
    })
    .await;
    let schedules: Api<BackupSchedule> = Api::namespaced(c.clone(), &ns);
    let b: BackupSchedule = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
        "kind": "BackupSchedule", "metadata": {"name": "off"}, "spec": {"tenantRef": {"name": "paused"},
        "schedule": "0 2 * * *", "suspend": true, "destination": {"kind": "volume", "volume": {"path": "/b"}}}}))
    .unwrap();
    schedules.create(&PostParams::default(), &b).await.unwrap();
    reported(&schedules, "off", "Suspended", "Suspended").await;
}

// ---------------------------------------------------------------------------------------------
// Scale: the operator does not reconcile its own writes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn own_writes_and_status_churn_cause_no_reapply_but_drift_does() {
    let (c, ns) = setup().await;
    let metrics = start_operator(&c, &ns, "op-1", Some(CLOSED_PORT.into()));
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    for i in 0..5 {
        tenants
            .create(
                &PostParams::default(),
                &tenant(&format!("quiet{i}"), json!({"displayName": "Q"})),
            )
            .await
            .unwrap();
    }
    for i in 0..5 {
        reported(
            &tenants,
            &format!("quiet{i}"),
            "Reconciling",
            "InstanceNotReady",
        )
        .await;
    }
    let applies = || metrics.applies.with_label_values(&["Tenant"]).get();
    let writes = || metrics.status_writes.with_label_values(&["Tenant"]).get();
    // The owned objects' creation echoes, the status writes and the Deployment controller's
    // status updates have all arrived by now (kube-controller-manager runs with the cluster).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (a0, w0) = (applies(), writes());
    assert!(
        a0 <= 10,
        "at most two applies per Tenant while converging: {a0}"
    );
    assert!(w0 <= 10, "at most two status writes per Tenant: {w0}");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(applies(), a0, "nothing re-applied once converged");
    assert_eq!(writes(), w0, "an unchanged status is not written");

    // Drift is still seen: a deleted owned object is recreated at once.
    let services: Api<Service> = Api::namespaced(c.clone(), &ns);
    services
        .delete("quiet0-nexbii", &Default::default())
        .await
        .unwrap();
    eventually("service recreated", || async {
        services
            .get_opt("quiet0-nexbii")
            .await
            .ok()?
            .filter(|s| s.metadata.deletion_timestamp.is_none())
    })
    .await;
    assert!(applies() > a0);
}

// ---------------------------------------------------------------------------------------------
// Scale: referenced Secrets are watched
// ---------------------------------------------------------------------------------------------

/// Polls `f` (every 100 ms) until it yields a value; how long that took.
async fn time_until<F, Fut>(what: &str, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !f().await {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_secret_reaches_the_objects_that_reference_it_at_once() {
    use sqlx::Executor;
    // Far beyond the test: a successful reconcile comes back only after this long, so only the
    // Secret watch can explain a reaction within seconds.
    const RESYNC: Duration = Duration::from_secs(900);
    const PROMPT: Duration = Duration::from_secs(10);
    let (c, ns) = setup().await;
    // A MariaDB account of this test's own, with a known password.
    let user = unique("nx_sw_");
    let right = unique("Right-pw-");
    nexbii_tests::admin_mariadb()
        .await
        .execute(sqlx::raw_sql(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{right}';
             CREATE USER '{user}'@'localhost' IDENTIFIED BY '{right}';
             GRANT SELECT ON test.* TO '{user}'@'%';
             GRANT SELECT ON test.* TO '{user}'@'localhost';"
        )))
        .await
        .unwrap();
    let token = unique("op-token-");
    let server = TestServer::start_with_operator_token(Some(&token)).await;
    let admin = server.tenant("shop", "admin-password-123").await;
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &ns);
    let pp = PostParams::default();
    let keys: Vec<(&str, &[u8])> = vec![
        ("signing-key", b"x"),
        ("encryption-key", b"x"),
        ("bootstrap-password", b"x"),
        ("operator-token", token.as_bytes()),
    ];
    secrets
        .create(&pp, &secret("shop-nexbii-keys", &keys))
        .await
        .unwrap();
    secrets
        .create(
            &pp,
            &secret("ops-pw", &[("password", b"first-ops-password")]),
        )
        .await
        .unwrap();
    secrets
        .create(&pp, &secret("db-creds", &[("password", b"wrong-password")]))
        .await
        .unwrap();
    secrets
        .create(
            &pp,
            &secret(
                "s3-creds",
                &[("accessKeyId", b"AKIA"), ("secretAccessKey", b"s3cr3t")],
            ),
        )
        .await
        .unwrap();
    let metrics = start_operator_with(&c, &ns, "op-1", Some(server.base.clone()), RESYNC);

    // A Tenant whose bootstrap admin's password is in a Secret.
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    tenants
        .create(
            &pp,
            &tenant(
                "shop",
                json!({"displayName": "Shop", "bootstrapAdmins": [{"username": "ops",
                    "passwordSecretRef": {"name": "ops-pw", "key": "password"}}]}),
            ),
        )
        .await
        .unwrap();
    reported(&tenants, "shop", "Ready", "InstanceReady").await;
    let bootstrap = || async {
        let s = secrets.get("shop-nexbii-bootstrap").await.unwrap();
        String::from_utf8(s.data.unwrap()["secrets.yaml"].0.clone()).unwrap()
    };
    assert!(bootstrap().await.contains("first-ops-password"));
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), &ns);
    let config_hash = || async {
        deployments
            .get("shop-nexbii")
            .await
            .unwrap()
            .spec
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()["nexbii.io/config-hash"]
            .clone()
    };
    let hash_before = config_hash().await;

    // A DataSource whose Secret holds a wrong password: pushed, and the instance says why it
    // cannot connect.
    let sources: Api<DataSource> = Api::namespaced(c.clone(), &ns);
    let ds: DataSource = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
        "kind": "DataSource", "metadata": {"name": "maria"}, "spec": {"tenantRef": {"name": "shop"},
        "type": "mysql", "host": "127.0.0.1", "port": 3306, "database": "test", "username": user,
        "tls": {"mode": "disable"}, "pool": {"connectTimeoutSeconds": 5},
        "passwordSecretRef": {"name": "db-creds", "key": "password"}}}))
    .unwrap();
    sources.create(&pp, &ds).await.unwrap();
    let s = reported(&sources, "maria", "Stalled", "ConnectionFailed").await;
    assert_eq!(s["connected"], json!(false), "{s}");
    assert_eq!(condition(&s, "Synced").unwrap().0, "True", "pushed: {s}");

    // A BackupSchedule to S3, its credentials complete.
    let schedules: Api<BackupSchedule> = Api::namespaced(c.clone(), &ns);
    let b: BackupSchedule = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
        "kind": "BackupSchedule", "metadata": {"name": "offsite"}, "spec": {"tenantRef": {"name": "shop"},
        "schedule": "0 3 * * *", "destination": {"kind": "s3",
            "s3": {"bucket": "backups", "credentialsSecretRef": {"name": "s3-creds"}}}}}))
    .unwrap();
    schedules.create(&pp, &b).await.unwrap();
    reported(&schedules, "offsite", "Ready", "Scheduled").await;

    // Secrets nobody references come and go: nothing is reconciled for them.
    let reconciles = |kind: &str| metrics.reconciles.with_label_values(&[kind]).get();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<u64> = ["Tenant", "DataSource", "BackupSchedule"]
        .iter()
        .map(|k| reconciles(k))
        .collect();
    for i in 0..20 {
        secrets
            .create(&pp, &secret(&format!("unrelated-{i}"), &[("k", b"v")]))
            .await
            .unwrap();
    }
    secrets
        .patch(
            "unrelated-0",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"k": "w"}})),
        )
        .await
        .unwrap();
    secrets
        .delete("unrelated-1", &Default::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<u64> = ["Tenant", "DataSource", "BackupSchedule"]
        .iter()
        .map(|k| reconciles(k))
        .collect();
    assert_eq!(after, before, "unreferenced Secrets wake nobody");

    // The right password: connected within seconds.
    let merge = |v: Value| Patch::Merge(v);
    secrets
        .patch(
            "db-creds",
            &PatchParams::default(),
            &merge(json!({"stringData": {"password": right}})),
        )
        .await
        .unwrap();
    let took = time_until("datasource connected", || async {
        let s = status_of(&sources, "maria").await;
        condition(&s, "Ready") == Some(("True".into(), "Connected".into()))
    })
    .await;
    assert!(took < PROMPT, "connected after {took:?}");
    eprintln!("datasource connected {took:?} after the Secret changed");
    assert_eq!(
        reconciles("Tenant"),
        after[0],
        "a DataSource's Secret wakes no Tenant"
    );
    let (st, body) = admin
        .post("/api/v1/datasources/maria/test", json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");

    // The admin's new password: the Tenant applies again (its bootstrap Secret and the config
    // hash of its pods carry it) within seconds.
    secrets
        .patch(
            "ops-pw",
            &PatchParams::default(),
            &merge(json!({"stringData": {"password": "second-ops-password"}})),
        )
        .await
        .unwrap();
    let took = time_until("bootstrap secret updated", || async {
        bootstrap().await.contains("second-ops-password")
    })
    .await;
    assert!(took < PROMPT, "bootstrap Secret updated after {took:?}");
    eprintln!("bootstrap Secret updated {took:?} after the Secret changed");
    let rolled = time_until("pods roll", || async { config_hash().await != hash_before }).await;
    assert!(rolled < PROMPT, "config hash changed after {rolled:?}");

    // Credentials losing a key: reported within seconds; and deleted: the same.
    secrets
        .patch(
            "s3-creds",
            &PatchParams::default(),
            &merge(json!({"data": {"secretAccessKey": null}})),
        )
        .await
        .unwrap();
    let took = time_until("schedule stalled on the missing key", || async {
        let s = status_of(&schedules, "offsite").await;
        condition(&s, "Stalled") == Some(("True".into(), "SecretKeyNotFound".into()))
    })
    .await;
    assert!(took < PROMPT, "missing key reported after {took:?}");
    eprintln!("missing S3 key reported {took:?} after the Secret changed");
    secrets.delete("ops-pw", &Default::default()).await.unwrap();
    let took = time_until("tenant stalled on the deleted secret", || async {
        let s = status_of(&tenants, "shop").await;
        condition(&s, "Stalled") == Some(("True".into(), "SecretNotFound".into()))
    })
    .await;
    assert!(took < PROMPT, "deleted Secret reported after {took:?}");
    eprintln!("deleted Secret reported {took:?} after the Secret changed");

    let _ = nexbii_tests::admin_mariadb()
        .await
        .execute(sqlx::raw_sql(&format!(
            "DROP USER '{user}'@'%'; DROP USER '{user}'@'localhost';"
        )))
        .await;
}

/// The instance's health alerts reach the Tenant's status, and each one that starts or stops
/// firing is a Kubernetes Event about the Tenant.
#[tokio::test(flavor = "multi_thread")]
async fn instance_alerts_reach_the_tenant_status_and_events() {
    let (c, ns) = setup().await;
    let token = unique("op-token-");
    let server = TestServer::start_with_operator_token(Some(&token)).await;
    let admin = server.tenant("alerty", "admin-password-123").await;
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &ns);
    let keys: Vec<(&str, &[u8])> = vec![
        ("signing-key", b"x"),
        ("encryption-key", b"x"),
        ("bootstrap-password", b"x"),
        ("operator-token", token.as_bytes()),
    ];
    secrets
        .create(&PostParams::default(), &secret("alerty-nexbii-keys", &keys))
        .await
        .unwrap();
    start_operator_with(
        &c,
        &ns,
        "op-1",
        Some(server.base.clone()),
        Duration::from_secs(1),
    );
    let tenants: Api<Tenant> = Api::namespaced(c.clone(), &ns);
    tenants
        .create(
            &PostParams::default(),
            &tenant("alerty", json!({"displayName": "Alerty"})),
        )
        .await
        .unwrap();
    eventually("control plane ready", || async {
        let s = status_of(&tenants, "alerty").await;
        (s["controlPlaneReady"] == json!(true)).then_some(())
    })
    .await;

    // A data source whose database does not exist: its check fails, the alert fires.
    let pg: sqlx::postgres::PgConnectOptions = nexbii_tests::postgres_url().parse().unwrap();
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "dead", "spec": {"type": "postgresql", "host": pg.get_host(),
                "port": pg.get_port(), "database": "nexbii_no_such_database", "username": pg.get_username()}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    admin.post("/api/v1/datasources/dead/sync", json!({})).await;
    let scope = nexbii_controlplane::store::TenantScope::new("alerty").unwrap();
    let fired = nexbii_controlplane::admin::alerts::domain::check_tenant(
        &server.state,
        &scope,
        (None, None),
    )
    .await
    .unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    let s = eventually("alert in the Tenant's status", || async {
        let s = status_of(&tenants, "alerty").await;
        (s["alerts"][0]["key"] == json!("dataSourceDown:dead")).then_some(s)
    })
    .await;
    assert_eq!(s["alerts"][0]["kind"], "dataSourceDown");
    assert!(s["alerts"][0]["message"].as_str().unwrap().contains("dead"));
    assert_eq!(
        event_about(&c, &ns, "alerty", "AlertFiring").await,
        "Warning"
    );

    // Turned off in the tenant's settings: it clears, in the status and as an Event.
    let (s, b) = admin
        .put(
            "/api/v1/admin/settings",
            json!({"alerts": {"dataSourceDown": false}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    nexbii_controlplane::admin::alerts::domain::check_tenant(&server.state, &scope, (None, None))
        .await
        .unwrap();
    eventually("alerts cleared in the status", || async {
        let s = status_of(&tenants, "alerty").await;
        s["alerts"]
            .as_array()
            .is_none_or(|a| a.is_empty())
            .then_some(())
    })
    .await;
    assert_eq!(
        event_about(&c, &ns, "alerty", "AlertCleared").await,
        "Normal"
    );
}

/// A SavedQuery is pushed into the instance like a Dashboard: read-only there, refused
/// statements stall it with the instance's reason (status and Event), deletion removes it.
#[tokio::test(flavor = "multi_thread")]
async fn saved_queries_sync_into_the_instance() {
    let (c, ns) = setup().await;
    let token = unique("op-token-");
    let server = TestServer::start_with_operator_token(Some(&token)).await;
    let admin = server.tenant("books", "admin-password-123").await;
    let keys: BTreeMap<String, ByteString> =
        ["signing-key", "encryption-key", "bootstrap-password"]
            .iter()
            .map(|k| (k.to_string(), ByteString(b"x".to_vec())))
            .chain([(
                "operator-token".to_string(),
                ByteString(token.clone().into_bytes()),
            )])
            .collect();
    let mut keys_secret = secret("books-nexbii-keys", &[]);
    keys_secret.data = Some(keys);
    let pp = PostParams::default();
    Api::<Secret>::namespaced(c.clone(), &ns)
        .create(&pp, &keys_secret)
        .await
        .unwrap();
    start_operator(&c, &ns, "op-1", Some(server.base.clone()));
    Api::<Tenant>::namespaced(c.clone(), &ns)
        .create(&pp, &tenant("books", json!({"displayName": "Books"})))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sales.db");
    sample_data::generate(&db).await.unwrap();
    let sources: Api<DataSource> = Api::namespaced(c.clone(), &ns);
    let ds: DataSource = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "DataSource",
        "metadata": {"name": "sales"}, "spec": {"tenantRef": {"name": "books"}, "type": "sqlite", "path": db.to_str().unwrap()}}))
    .unwrap();
    sources.create(&pp, &ds).await.unwrap();
    eventually("datasource connected", || async {
        (status_of(&sources, "sales").await["connected"] == json!(true)).then_some(())
    })
    .await;

    let queries: Api<SavedQuery> = Api::namespaced(c.clone(), &ns);
    let q = |name: &str, sql: &str| -> SavedQuery {
        serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "SavedQuery",
            "metadata": {"name": name}, "spec": {"tenantRef": {"name": "books"}, "displayName": "Orders",
            "dataSource": "sales", "sql": sql}}))
        .unwrap()
    };
    queries
        .create(&pp, &q("orders", "SELECT count(*) AS n FROM orders"))
        .await
        .unwrap();
    let s = reported(&queries, "orders", "Ready", "Valid").await;
    assert_eq!(condition(&s, "Synced").unwrap().0, "True", "{s}");
    assert!(
        s["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/queries/orders"),
        "{s}"
    );
    let (st, body) = admin.get("/api/v1/queries/orders").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(
        (body["name"].clone(), body["origin"].clone()),
        (json!("Orders"), json!("operator"))
    );
    let (st, run) = admin.post("/api/v1/queries/orders/run", json!({})).await;
    assert_eq!(
        (st, run["rows"][0][0].clone()),
        (StatusCode::OK, json!(4000)),
        "{run}"
    );
    // Read-only through the user API: the resource is its source.
    let (st, _) = admin
        .put(
            "/api/v1/queries/orders",
            json!({"name": "x", "dataSource": "sales", "sql": "SELECT 1"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    // The instance's configuration export is accepted by the apiserver's schemas as is.
    let (st, list) = admin.get("/api/v1/admin/export?format=json").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let docs = list["items"].as_array().unwrap();
    assert!(docs.iter().any(|d| d["kind"] == "SavedQuery"), "{list}");
    // In a namespace of its own: these names exist in `ns` already.
    let export_ns = unique("it-");
    let ns_doc = serde_json::from_value(json!({"metadata": {"name": export_ns}})).unwrap();
    Api::<Namespace>::all(c.clone())
        .create(&pp, &ns_doc)
        .await
        .unwrap();
    for doc in docs {
        dry_run(&c, &export_ns, doc)
            .await
            .unwrap_or_else(|e| panic!("{doc}: {e}"));
    }

    // A statement the instance refuses stalls the resource, with an Event.
    queries
        .create(&pp, &q("wipe", "DELETE FROM orders"))
        .await
        .unwrap();
    let s = reported(&queries, "wipe", "Stalled", "RejectedByInstance").await;
    assert!(message(&s, "Stalled").contains("sql"), "{s}");
    assert_eq!(
        event_about(&c, &ns, "wipe", "RejectedByInstance").await,
        "Warning"
    );
    assert_eq!(
        admin.get("/api/v1/queries/wipe").await.0,
        StatusCode::NOT_FOUND
    );

    // Deleting the resource removes the query from the instance before the finalizer goes.
    queries.delete("orders", &Default::default()).await.unwrap();
    eventually("saved query gone", || async {
        queries
            .get_opt("orders")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        admin.get("/api/v1/queries/orders").await.0,
        StatusCode::NOT_FOUND
    );
}

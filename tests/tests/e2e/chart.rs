//! The Helm chart through Helm v4's own Go SDK (PyPI `helm-python-sdk`, installed by
//! `tests/env/helm.sh`, driven by `tests/env/helm_driver.py`): lint and the values schema, every
//! rendered object server-side dry-run on the real apiserver, the alerts' PromQL against the
//! operator's real metric names, an install, the operator converging under the chart's
//! ServiceAccount (its RBAC is enough), kstatus conventions on every kind, and the shipped
//! Argo CD health checks run (Lua 5.1, Argo CD's dialect) against the statuses it wrote.
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        authentication::v1::{TokenRequest, TokenRequestSpec},
        core::v1::{Namespace, Secret, ServiceAccount},
        rbac::v1::{ClusterRole, Role},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ByteString,
};
use kube::{
    api::{DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    discovery::{self, Scope},
    Api, Client, Config, ResourceExt,
};
use mlua::{serde::SerializeOptions, LuaSerdeExt};
use nexbii_controlplane::sample_data;
use nexbii_crds::{BackupSchedule, Dashboard, DataSource, GovernancePolicy, Tenant};
use nexbii_operator::{
    metrics::{Metrics, ObjectState},
    run::{run, RunConfig},
};
use nexbii_tests::{env::repo_root, unique, TestServer};
use serde_json::{json, Value};

use crate::operator::{condition, eventually, setup};

const CHART: &str = "charts/nexbii-operator";
const KINDS: [&str; 8] = [
    "Tenant",
    "DataSource",
    "Dashboard",
    "SavedQuery",
    "GovernancePolicy",
    "BackupSchedule",
    "Backup",
    "Restore",
];

/// Runs `helm_driver.py ARGS [--values JSON]`: the result, or Helm's error class and message.
fn helm(args: &[&str], values: Option<&Value>) -> Result<Value, (String, String)> {
    let python = nexbii_tests::env::helm_python();
    let root = repo_root();
    let mut cmd = std::process::Command::new(python);
    cmd.current_dir(&root)
        .arg(root.join("tests/env/helm_driver.py"))
        .args(args);
    if let Some(v) = values {
        cmd.arg("--values").arg(v.to_string());
    }
    let out = cmd.output().expect("run helm_driver.py");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "helm_driver.py {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if doc["ok"] == json!(true) {
        Ok(doc["result"].clone())
    } else {
        Err((
            doc["error"].as_str().unwrap_or_default().to_string(),
            doc["message"].as_str().unwrap_or_default().to_string(),
        ))
    }
}

/// The chart rendered as a release `name` in `ns`: every object of every template.
fn render(name: &str, ns: &str, values: &Value) -> Vec<Value> {
    let out = helm(
        &["render", CHART, "--name", name, "--namespace", ns],
        Some(values),
    )
    .unwrap_or_else(|e| panic!("render with {values}: {e:?}"));
    let mut docs = Vec::new();
    for (template, text) in out["manifests"].as_object().unwrap() {
        for de in serde_yaml::Deserializer::from_str(text.as_str().unwrap()) {
            let doc: Value = serde::Deserialize::deserialize(de)
                .unwrap_or_else(|e| panic!("{template} is not YAML: {e}"));
            if !doc.is_null() {
                docs.push(doc);
            }
        }
    }
    docs
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap()
}

/// The paths of `sent` that `got` lacks or holds differently: a field the apiserver pruned
/// (unknown to its schema) or changed shows up here.
fn differences(sent: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, got) {
        (Value::Object(s), Value::Object(g)) => {
            for (k, v) in s {
                match g.get(k) {
                    Some(gv) => differences(v, gv, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k} dropped")),
                }
            }
        }
        (Value::Array(s), Value::Array(g)) if s.len() == g.len() => {
            for (i, (a, b)) in s.iter().zip(g).enumerate() {
                differences(a, b, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: sent {a}, stored {b}")),
    }
}

/// Server-side dry-run create of one rendered object; the object as the apiserver would store it.
async fn dry_run(c: &Client, doc: &Value) -> Result<Value, String> {
    let (group, version) = doc["apiVersion"]
        .as_str()
        .unwrap()
        .split_once('/')
        .unwrap_or(("", doc["apiVersion"].as_str().unwrap()));
    let gvk = GroupVersionKind::gvk(group, version, doc["kind"].as_str().unwrap());
    let (ar, caps) = discovery::pinned_kind(c, &gvk)
        .await
        .map_err(|e| format!("{gvk:?} is not served: {e}"))?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Cluster => Api::all_with(c.clone(), &ar),
        Scope::Namespaced => Api::namespaced_with(
            c.clone(),
            doc["metadata"]["namespace"].as_str().expect("namespaced"),
            &ar,
        ),
    };
    let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let got = api.create(&pp, &obj).await.map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(got).unwrap())
}

/// The Prometheus Operator CRDs the ServiceMonitor and PrometheusRule need (a faithful subset,
/// see the fixture's header), applied once.
async fn monitoring_crds(c: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let text = read("tests/fixtures/monitoring.coreos.com-crds.yaml");
    for de in serde_yaml::Deserializer::from_str(&text) {
        let crd: CustomResourceDefinition = serde::Deserialize::deserialize(de).unwrap();
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("nexbii-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
        eventually("monitoring CRD established", || async {
            let got = crds.get(&crd.name_any()).await.ok()?;
            got.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await;
    }
}

/// Every property path the schema declares (following `$ref`s into `definitions`).
fn schema_paths(schema: &Value, node: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let node = match node["$ref"].as_str() {
        Some(r) => &schema["definitions"][r.trim_start_matches("#/definitions/")],
        None => node,
    };
    if let Some(props) = node["properties"].as_object() {
        for (k, v) in props {
            let path = format!("{prefix}{k}");
            out.insert(path.clone());
            schema_paths(schema, v, &format!("{path}."), out);
        }
    }
}

fn value_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(m) = v.as_object() {
        for (k, v) in m {
            let path = format!("{prefix}{k}");
            out.insert(path.clone());
            value_paths(v, &format!("{path}."), out);
        }
    }
}

#[test]
fn chart_lints_and_its_values_schema_refuses_mistakes() {
    let report = helm(&["lint", CHART], None).unwrap();
    assert_eq!(report["errors"], json!([]), "{report}");
    let warnings: Vec<_> = report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["severity"].as_i64() >= Some(2))
        .collect();
    assert!(warnings.is_empty(), "lint warnings: {warnings:?}");
    helm(&["validate", CHART], Some(&json!({}))).expect("the defaults pass the schema");

    // Mistakes an operator makes in a values file, each refused naming where it is.
    let bad = [
        (json!({"replica": 3}), "'replica' not allowed"),
        (json!({"replicas": "2"}), "/replicas"),
        (json!({"replicas": 0}), "/replicas"),
        (json!({"resyncSeconds": 5}), "/resyncSeconds"),
        (json!({"watchNamespace": "Team_A"}), "/watchNamespace"),
        (
            json!({"image": {"pullPolicy": "Sometimes"}}),
            "/image/pullPolicy",
        ),
        (
            json!({"metrics": {"serviceMonitor": {"interval": "half a minute"}}}),
            "/metrics/serviceMonitor/interval",
        ),
        (
            json!({"metrics": {"serviceMonitor": {"labels": {"release": 7}}}}),
            "/metrics/serviceMonitor/labels/release",
        ),
        (
            json!({"metrics": {"prometheusRule": {"tenantNotReady": {"for": "10 minutes"}}}}),
            "/metrics/prometheusRule/tenantNotReady/for",
        ),
        (
            json!({"metrics": {"prometheusRule": {"backupMissing": {"severity": "page"}}}}),
            "/metrics/prometheusRule/backupMissing/severity",
        ),
    ];
    for (values, at) in bad {
        let (class, msg) = helm(&["validate", CHART], Some(&values))
            .expect_err(&format!("{values} passed the schema"));
        assert_eq!(class, "HelmValuesError", "{values}: {msg}");
        assert!(msg.contains(at), "{values}: {at} not named in {msg}");
        // An install or lint with that file fails the same way (lint reports, not raises).
        let report = helm(&["lint", CHART], Some(&values)).unwrap();
        assert!(
            report["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.as_str().unwrap().contains(at)),
            "lint of {values}: {report}"
        );
    }
    // A ServiceMonitor without the Service it scrapes is refused at render, saying why.
    let (class, msg) = helm(
        &["render", CHART, "--name", "x", "--namespace", "x"],
        Some(&json!({"metrics": {"service": {"enabled": false}, "serviceMonitor": {"enabled": true}}})),
    )
    .unwrap_err();
    assert_eq!(class, "HelmRenderError");
    assert!(msg.contains("needs metrics.service.enabled"), "{msg}");

    // values.yaml sets (and so documents) every value the schema knows, and the schema checks
    // every value values.yaml has.
    let schema: Value =
        serde_json::from_str(&read(&format!("{CHART}/values.schema.json"))).unwrap();
    let values: Value = serde_yaml::from_str(&read(&format!("{CHART}/values.yaml"))).unwrap();
    let (mut declared, mut set) = (BTreeSet::new(), BTreeSet::new());
    schema_paths(&schema, &schema, "", &mut declared);
    value_paths(&values, "", &mut set);
    // Free-form maps (resource quantities) are values, not settings.
    set.retain(|p| !p.starts_with("resources.requests.") && !p.starts_with("resources.limits."));
    assert_eq!(
        declared.difference(&set).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in the schema but not in values.yaml"
    );
    assert_eq!(
        set.difference(&declared).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "in values.yaml but not in the schema"
    );
    // Every top-level setting has a comment saying what it is.
    let text = read(&format!("{CHART}/values.yaml"));
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let top = line.split(':').next().unwrap_or_default();
        if top.is_empty() || line.starts_with([' ', '#']) || !line.contains(':') {
            continue;
        }
        let documented = lines[..i]
            .iter()
            .rev()
            .take_while(|l| !l.trim().is_empty())
            .any(|l| l.starts_with('#'))
            || lines
                .get(i + 1)
                .is_some_and(|l| l.trim_start().starts_with('#'));
        assert!(documented, "values.yaml: {top} has no comment");
    }
}

/// Metric names a PromQL expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    struct Names(BTreeSet<String>);
    impl promql_parser::util::ExprVisitor for Names {
        type Error = ();
        fn pre_visit(&mut self, e: &promql_parser::parser::Expr) -> Result<bool, ()> {
            use promql_parser::parser::Expr;
            let vs = match e {
                Expr::VectorSelector(vs) => Some(vs),
                Expr::MatrixSelector(ms) => Some(&ms.vs),
                _ => None,
            };
            if let Some(name) = vs.and_then(|vs| vs.name.clone()) {
                self.0.insert(name);
            }
            Ok(true)
        }
    }
    let ast = promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    let mut names = Names(BTreeSet::new());
    promql_parser::util::walk_expr(&mut names, &ast).unwrap();
    names.0
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rendered_object_is_accepted_by_the_apiserver() {
    let (c, ns) = setup().await;
    monitoring_crds(&c).await;
    let name = unique("r");
    let variants = [
        ("defaults", json!({})),
        (
            "every option",
            json!({"watchNamespace": ns, "serviceAccount": {"name": "bi-operator"},
                "imagePullSecrets": [{"name": "regcred"}], "concurrency": 4, "logLevel": "debug",
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "bi", "effect": "NoSchedule"}],
                "metrics": {"serviceMonitor": {"enabled": true, "labels": {"release": "prom"}},
                    "prometheusRule": {"enabled": true, "labels": {"role": "alert-rules"}}}}),
        ),
    ];
    let mut kinds_by_variant = BTreeMap::new();
    for (variant, values) in &variants {
        let mut kinds = BTreeSet::new();
        for doc in render(&name, &ns, values) {
            let what = format!(
                "{variant}: {} {}",
                doc["kind"].as_str().unwrap(),
                doc["metadata"]["name"].as_str().unwrap()
            );
            let stored = dry_run(&c, &doc)
                .await
                .unwrap_or_else(|e| panic!("{what} refused: {e}"));
            let mut diff = Vec::new();
            for (k, v) in doc.as_object().unwrap() {
                differences(v, &stored[k], k, &mut diff);
            }
            assert!(diff.is_empty(), "{what} not stored as sent: {diff:?}");
            kinds.insert(doc["kind"].as_str().unwrap().to_string());
        }
        kinds_by_variant.insert(*variant, kinds);
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        kinds_by_variant["defaults"],
        set(&[
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ])
    );
    assert_eq!(
        kinds_by_variant["every option"],
        set(&[
            "Deployment",
            "PrometheusRule",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ServiceMonitor"
        ])
    );

    // A value the monitoring schema refuses is caught by the dry-run (the fixture validates).
    let docs = render(&name, &ns, &variants[1].1);
    let mut rule = docs
        .iter()
        .find(|d| d["kind"] == "PrometheusRule")
        .unwrap()
        .clone();
    rule["spec"]["groups"][0]["rules"][0]["for"] = json!("a while");
    let err = dry_run(&c, &rule).await.unwrap_err();
    assert!(err.contains("spec.groups.rules.for"), "{err}");

    // The alerts: the three that matter, valid PromQL, reading metrics the operator exports.
    let rules: Vec<Value> = docs.iter().find(|d| d["kind"] == "PrometheusRule").unwrap()["spec"]
        ["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .clone();
    let alerts: BTreeMap<&str, &Value> = rules
        .iter()
        .map(|r| (r["alert"].as_str().unwrap(), r))
        .collect();
    assert_eq!(
        alerts.keys().copied().collect::<Vec<_>>(),
        [
            "NexBIIBackupMissing",
            "NexBIIReconcileErrors",
            "NexBIITenantNotReady"
        ]
    );
    assert_eq!(alerts["NexBIITenantNotReady"]["for"], "10m");
    assert!(alerts["NexBIIBackupMissing"]["expr"]
        .as_str()
        .unwrap()
        .contains("> 93600"));
    // What the operator's registry exposes once it has seen a Tenant, a BackupSchedule with a
    // backup, and a failed reconcile (its vectors show no series before).
    let m = Metrics::default();
    m.watch_objects(|| {
        vec![
            ObjectState {
                kind: "Tenant",
                namespace: "a".into(),
                name: "t".into(),
                ready: true,
                backup: None,
            },
            ObjectState {
                kind: "BackupSchedule",
                namespace: "a".into(),
                name: "b".into(),
                ready: false,
                backup: Some((1, Some(2))),
            },
        ]
    });
    m.errors.with_label_values(&["Tenant", "Forbidden"]).inc();
    let exported: BTreeSet<String> = m
        .registry
        .gather()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    for (alert, rule) in &alerts {
        let names = metric_names(rule["expr"].as_str().unwrap());
        assert!(!names.is_empty(), "{alert} reads no metric");
        for n in names {
            assert!(
                exported.contains(&n),
                "{alert} reads {n}, which the operator does not export ({exported:?})"
            );
        }
    }
    assert!(m
        .render()
        .contains(r#"nexbii_operator_ready{kind="Tenant""#));

    // The control planes' group: its alert reads what a control plane exports once a backup
    // of a tenant completed, and fires after twice the schedule (24 h by default).
    let group = &docs.iter().find(|d| d["kind"] == "PrometheusRule").unwrap()["spec"]["groups"][1];
    assert_eq!(group["name"], "nexbii-controlplane");
    let stale = &group["rules"][0];
    assert_eq!(stale["alert"], "NexBIIControlPlaneBackupStale");
    let expr = stale["expr"].as_str().unwrap();
    assert!(expr.contains("> 172800"), "{expr}");
    let cp = nexbii_controlplane::metrics::Metrics::new();
    cp.backups.completed("acme", chrono::Utc::now(), 1.5, 1024);
    let exported: BTreeSet<String> = cp
        .registry
        .gather()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    for n in metric_names(expr) {
        assert!(
            exported.contains(&n),
            "NexBIIControlPlaneBackupStale reads {n}, which the control plane does not export"
        );
    }
    // The journal's lag: exported for every tenant with a journal, 0 when all is shipped.
    let lag = &group["rules"][1];
    assert_eq!(lag["alert"], "NexBIIControlPlaneJournalLagging");
    let expr = lag["expr"].as_str().unwrap();
    assert!(expr.contains("> 600"), "{expr}");
    cp.journal.oldest_unshipped("acme", None);
    let text = cp.render();
    for n in metric_names(expr) {
        assert!(
            text.contains(&format!("{n}{{tenant=\"acme\"}} 0")),
            "NexBIIControlPlaneJournalLagging reads {n}, which the control plane does not export: {text}"
        );
    }
}

/// A client authenticated as `sa` in `ns` by a token from the TokenRequest API, counting its
/// requests into `metrics` like the operator binary's client does.
async fn service_account_client(admin: &Client, ns: &str, sa: &str, metrics: &Metrics) -> Client {
    let tr = Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create_token_request(
            sa,
            &PostParams::default(),
            &TokenRequest {
                spec: Some(TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let token = tr.status.and_then(|s| s.token).expect("a token");
    let admin_kc = Kubeconfig::read_from(nexbii_tests::env::kubeconfig()).unwrap();
    let server = admin_kc.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .clone()
        .unwrap();
    let kc = Kubeconfig::from_yaml(&format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: kt, cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}}}]\n\
         users: [{{name: sa, user: {{token: \"{token}\"}}}}]\ncontexts: [{{name: sa, context: {{cluster: kt, user: sa, namespace: {ns}}}}}]\ncurrent-context: sa\n"
    ))
    .unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::client::ClientBuilder::try_from(cfg)
        .unwrap()
        .with_layer(&metrics.count_requests())
        .build()
}

async fn create_namespace(c: &Client, name: &str) {
    Api::<Namespace>::all(c.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
}

fn obj<K: serde::de::DeserializeOwned>(kind: &str, name: &str, spec: Value) -> K {
    serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": kind,
        "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

/// Every object of the five kinds in `ns`, as the apiserver returns them.
async fn objects(c: &Client, ns: &str) -> Vec<(String, String, Value)> {
    async fn all<K>(c: &Client, ns: &str, kind: &str, out: &mut Vec<(String, String, Value)>)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        for o in Api::<K>::namespaced(c.clone(), ns)
            .list(&Default::default())
            .await
            .unwrap()
        {
            out.push((kind.into(), o.name_any(), serde_json::to_value(&o).unwrap()));
        }
    }
    let mut out = Vec::new();
    all::<Tenant>(c, ns, "Tenant", &mut out).await;
    all::<DataSource>(c, ns, "DataSource", &mut out).await;
    all::<Dashboard>(c, ns, "Dashboard", &mut out).await;
    all::<GovernancePolicy>(c, ns, "GovernancePolicy", &mut out).await;
    all::<BackupSchedule>(c, ns, "BackupSchedule", &mut out).await;
    out
}

/// Runs the chart's Argo CD health check for `kind` (the script under its argocd-cm key) on
/// `obj`, converted as Argo CD does (JSON nulls become nil): (status, message).
fn argo_health(kind: &str, obj: &Value) -> (String, String) {
    let patch: Value =
        serde_yaml::from_str(&read(&format!("{CHART}/files/argocd/argocd-cm-patch.yaml"))).unwrap();
    let script = patch["data"][format!("resource.customizations.health.nexbii.io_{kind}")]
        .as_str()
        .unwrap_or_else(|| panic!("no Argo CD health check for {kind}"));
    let lua = mlua::Lua::new();
    let opts = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    lua.globals()
        .set("obj", lua.to_value_with(obj, opts).unwrap())
        .unwrap();
    let hs: mlua::Table = lua
        .load(script)
        .set_name(kind)
        .eval()
        .unwrap_or_else(|e| panic!("health check of {kind} failed: {e}"));
    (hs.get("status").unwrap(), hs.get("message").unwrap())
}

#[test]
fn the_argocd_patch_ships_the_health_check_for_every_kind() {
    let lua = read(&format!("{CHART}/files/argocd/health.lua"));
    let patch: Value =
        serde_yaml::from_str(&read(&format!("{CHART}/files/argocd/argocd-cm-patch.yaml"))).unwrap();
    let keys: BTreeSet<&str> = patch["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<String> = KINDS
        .iter()
        .map(|k| format!("resource.customizations.health.nexbii.io_{k}"))
        .collect();
    assert_eq!(
        keys,
        want.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    for k in &want {
        assert_eq!(
            patch["data"][k].as_str().unwrap(),
            lua,
            "{k} differs from files/argocd/health.lua: regenerate argocd-cm-patch.yaml"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn release_installs_and_the_operator_converges_under_its_service_account() {
    let (admin, release_ns) = setup().await;
    let watch_ns = unique("it-watch-");
    create_namespace(&admin, &watch_ns).await;
    let release = unique("nx-");
    let kubeconfig = nexbii_tests::env::kubeconfig();
    // --skip-crds: the CRDs are the harness's (setup applies the generated ones, which the
    // chart's crds/ equal, see operator::examples_and_chart_validate_against_the_real_schemas).
    // Every test run, from any checkout, shares the cluster's CRDs; Helm 4 applies them
    // server-side without forcing, so it is refused whenever the last run applied others.
    let installed = tokio::task::block_in_place(|| {
        helm(
            &[
                "install",
                CHART,
                "--name",
                &release,
                "--namespace",
                &release_ns,
                "--kubeconfig",
                &kubeconfig,
                "--skip-crds",
            ],
            Some(&json!({"watchNamespace": watch_ns})),
        )
    })
    .unwrap_or_else(|e| panic!("install: {e:?}"));
    assert_eq!(installed["status"], "deployed", "{installed}");
    assert_eq!(installed["revision"], 1, "{installed}");
    let fullname = format!("{release}-nexbii-operator");
    let deployment = Api::<Deployment>::namespaced(admin.clone(), &release_ns)
        .get(&fullname)
        .await
        .unwrap();
    let pod = deployment.spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(fullname.as_str()));
    let sc = pod.containers[0].security_context.clone().unwrap();
    assert_eq!(
        (sc.read_only_root_filesystem, sc.allow_privilege_escalation),
        (Some(true), Some(false))
    );
    // watchNamespace: a Role there (no ClusterRole), the Lease's Role in the release namespace.
    assert!(Api::<Role>::namespaced(admin.clone(), &watch_ns)
        .get_opt(&fullname)
        .await
        .unwrap()
        .is_some());
    assert!(Api::<ClusterRole>::all(admin.clone())
        .get_opt(&fullname)
        .await
        .unwrap()
        .is_none());

    // The operator, as the Deployment runs it, authenticated as the chart's ServiceAccount.
    let metrics = Metrics::default();
    let sa = service_account_client(&admin, &release_ns, &fullname, &metrics).await;
    // Probes of what the token may not do go through another client, so the operator's
    // request counts below hold only the operator's requests.
    let probe = service_account_client(&admin, &release_ns, &fullname, &Metrics::default()).await;
    let forbidden =
        |r: Result<_, kube::Error>| matches!(r, Err(kube::Error::Api(ref s)) if s.code == 403);
    assert!(
        forbidden(
            Api::<Secret>::all(probe.clone())
                .list(&Default::default())
                .await
                .map(|_| ())
        ),
        "the ServiceAccount must not list Secrets cluster-wide"
    );
    assert!(
        forbidden(
            Api::<Tenant>::namespaced(probe.clone(), &release_ns)
                .list(&Default::default())
                .await
                .map(|_| ())
        ),
        "with watchNamespace the ServiceAccount sees Tenants there only"
    );

    // The objects exist before the operator runs: their first state is what Argo CD sees then.
    let token = unique("op-token-");
    let server = TestServer::start_with_operator_token(Some(&token)).await;
    server.tenant("acme", "admin-password-123").await;
    let data: BTreeMap<String, ByteString> =
        ["signing-key", "encryption-key", "bootstrap-password"]
            .iter()
            .map(|k| (k.to_string(), ByteString(b"x".to_vec())))
            .chain([(
                "operator-token".to_string(),
                ByteString(token.clone().into_bytes()),
            )])
            .collect();
    Api::<Secret>::namespaced(admin.clone(), &watch_ns)
        .create(
            &PostParams::default(),
            &Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some("acme-nexbii-keys".into()),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sales.db");
    sample_data::generate(&db).await.unwrap();
    let pp = PostParams::default();
    let tenants: Api<Tenant> = Api::namespaced(admin.clone(), &watch_ns);
    tenants
        .create(&pp, &obj("Tenant", "acme", json!({"displayName": "Acme"})))
        .await
        .unwrap();
    tenants
        .create(
            &pp,
            &obj(
                "Tenant",
                "paused",
                json!({"displayName": "Paused", "suspend": true}),
            ),
        )
        .await
        .unwrap();
    let sources: Api<DataSource> = Api::namespaced(admin.clone(), &watch_ns);
    sources
        .create(
            &pp,
            &obj(
                "DataSource",
                "sales",
                json!({"tenantRef": {"name": "acme"}, "type": "sqlite", "path": db.to_str().unwrap()}),
            ),
        )
        .await
        .unwrap();
    sources
        .create(
            &pp,
            &obj(
                "DataSource",
                "orphan",
                json!({"tenantRef": {"name": "ghost"}, "type": "sqlite", "path": db.to_str().unwrap()}),
            ),
        )
        .await
        .unwrap();
    let dashboards: Api<Dashboard> = Api::namespaced(admin.clone(), &watch_ns);
    for (name, sql) in [
        ("overview", "SELECT count(*) FROM orders"),
        ("wipe", "DELETE FROM orders"),
    ] {
        dashboards
            .create(
                &pp,
                &obj(
                    "Dashboard",
                    name,
                    json!({"tenantRef": {"name": "acme"}, "title": name, "widgets": [
                    {"id": "w", "chart": "table", "query": {"dataSource": "sales", "sql": sql}}]}),
                ),
            )
            .await
            .unwrap();
    }
    let policies: Api<GovernancePolicy> = Api::namespaced(admin.clone(), &watch_ns);
    policies
        .create(
            &pp,
            &obj(
                "GovernancePolicy",
                "default",
                json!({"tenantRef": {"name": "acme"}, "audit": {"retentionDays": 90}}),
            ),
        )
        .await
        .unwrap();
    policies
        .create(
            &pp,
            &obj(
                "GovernancePolicy",
                "frozen",
                json!({"tenantRef": {"name": "acme"}, "suspend": true}),
            ),
        )
        .await
        .unwrap();
    let schedules: Api<BackupSchedule> = Api::namespaced(admin.clone(), &watch_ns);
    for (name, suspend) in [("nightly", false), ("paused", true)] {
        schedules
            .create(
                &pp,
                &obj(
                    "BackupSchedule",
                    name,
                    json!({"tenantRef": {"name": "acme"}, "schedule": "0 2 * * *", "suspend": suspend,
                    "destination": {"kind": "volume", "volume": {"path": "/backups"}}}),
                ),
            )
            .await
            .unwrap();
    }
    let before = objects(&admin, &watch_ns).await;
    assert_eq!(before.len(), 10);
    for (kind, name, o) in &before {
        assert_eq!(
            argo_health(kind, o).0,
            "Progressing",
            "{kind} {name} without a status"
        );
    }

    tokio::spawn(run(
        sa.clone(),
        RunConfig {
            namespace: Some(watch_ns.clone()),
            metrics_listen: "127.0.0.1:0".parse().unwrap(),
            image: "nexbii/controlplane:test".into(),
            instance_url_template: Some(server.base.clone()),
            lease_namespace: release_ns.clone(),
            identity: "chart-sa".into(),
            resync: Duration::from_secs(30),
            concurrency: 4,
        },
        metrics.clone(),
    ));

    // Converged: each object reached the state its spec calls for.
    let want: BTreeMap<(&str, &str), (&str, &str)> = [
        (("Tenant", "acme"), ("Healthy", "")),
        (("Tenant", "paused"), ("Suspended", "Suspended")),
        (("DataSource", "sales"), ("Healthy", "")),
        (("DataSource", "orphan"), ("Degraded", "TenantNotFound")),
        (("Dashboard", "overview"), ("Healthy", "")),
        (("Dashboard", "wipe"), ("Degraded", "InvalidQueries")),
        (("GovernancePolicy", "default"), ("Healthy", "")),
        (("GovernancePolicy", "frozen"), ("Suspended", "Suspended")),
        (("BackupSchedule", "nightly"), ("Healthy", "")),
        (("BackupSchedule", "paused"), ("Suspended", "Suspended")),
    ]
    .into();
    let converged = eventually("every object converged", || async {
        let now = objects(&admin, &watch_ns).await;
        now.iter()
            .all(|(kind, name, o)| {
                let (status, reason) = want[&(kind.as_str(), name.as_str())];
                let (got, message) = argo_health(kind, o);
                got == status && message.starts_with(reason)
            })
            .then_some(now)
    })
    .await;

    // kstatus, as Argo CD's and Flux's health checks read it, holds for every kind: the status
    // speaks of the current generation, and Ready / Reconciling / Stalled are all present.
    for (kind, name, o) in &converged {
        let generation = &o["metadata"]["generation"];
        assert_eq!(
            &o["status"]["observedGeneration"], generation,
            "{kind} {name}"
        );
        for t in ["Ready", "Reconciling", "Stalled"] {
            let c = o["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == t)
                .unwrap_or_else(|| panic!("{kind} {name} has no {t} condition"));
            assert_eq!(&c["observedGeneration"], generation, "{kind} {name} {t}");
        }
        // Nothing the operator did was refused for lack of a permission.
        for c in o["status"]["conditions"].as_array().unwrap() {
            assert_ne!(c["reason"], "Forbidden", "{kind} {name}: {c}");
        }
    }
    let acme = &converged
        .iter()
        .find(|(k, n, _)| k == "Tenant" && n == "acme")
        .unwrap()
        .2;
    assert_eq!(
        condition(&acme["status"], "Ready").unwrap().0,
        "True",
        "{acme}"
    );
    // The operator's own objects were applied through the chart's RBAC.
    assert!(Api::<Deployment>::namespaced(admin.clone(), &watch_ns)
        .get_opt("acme-nexbii")
        .await
        .unwrap()
        .is_some());
    let text = metrics.render();
    assert!(
        !text.contains(r#"code="403""#) && !text.contains("Forbidden"),
        "requests were refused: {text}"
    );
    assert!(text.contains(&format!(
        r#"nexbii_operator_ready{{kind="Tenant",name="acme",namespace="{watch_ns}"}} 1"#
    )));
    assert!(text.contains(&format!(
        r#"nexbii_operator_backup_schedule_created_timestamp_seconds{{name="nightly",namespace="{watch_ns}"}}"#
    )));
    assert!(
        !text.contains(r#"backup_schedule_created_timestamp_seconds{name="paused""#),
        "a suspended schedule is not due a backup: {text}"
    );

    // Argo CD on states a converged object passes through: a new spec not yet observed, and
    // an instance that stopped answering (Reconciling).
    let mut changed = acme.clone();
    changed["metadata"]["generation"] = json!(acme["metadata"]["generation"].as_i64().unwrap() + 1);
    assert_eq!(argo_health("Tenant", &changed).0, "Progressing");
    let mut waiting = acme.clone();
    for c in waiting["status"]["conditions"].as_array_mut().unwrap() {
        match c["type"].as_str().unwrap() {
            "Ready" => c["status"] = json!("False"),
            "Reconciling" => {
                c["status"] = json!("True");
                c["reason"] = json!("InstanceNotReady");
            }
            _ => {}
        }
    }
    let (status, message) = argo_health("Tenant", &waiting);
    assert_eq!(
        (status.as_str(), message.starts_with("InstanceNotReady")),
        ("Progressing", true)
    );

    let out = tokio::task::block_in_place(|| {
        helm(
            &[
                "uninstall",
                "--name",
                &release,
                "--namespace",
                &release_ns,
                "--kubeconfig",
                &kubeconfig,
            ],
            None,
        )
    })
    .unwrap_or_else(|e| panic!("uninstall: {e:?}"));
    assert!(out["release"].is_object(), "{out}");
    assert!(Api::<Deployment>::namespaced(admin.clone(), &release_ns)
        .get_opt(&fullname)
        .await
        .unwrap()
        .is_none());
    assert!(Api::<Role>::namespaced(admin.clone(), &watch_ns)
        .get_opt(&fullname)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn default_release_lets_the_operator_watch_every_namespace_and_no_more() {
    let (admin, ns) = setup().await;
    let release = unique("nx-");
    let kubeconfig = nexbii_tests::env::kubeconfig();
    let installed = tokio::task::block_in_place(|| {
        helm(
            &[
                "install",
                CHART,
                "--name",
                &release,
                "--namespace",
                &ns,
                "--kubeconfig",
                &kubeconfig,
                "--skip-crds",
            ],
            None,
        )
    })
    .unwrap_or_else(|e| panic!("install: {e:?}"));
    assert_eq!(installed["status"], "deployed", "{installed}");
    let fullname = format!("{release}-nexbii-operator");
    let sa = service_account_client(&admin, &ns, &fullname, &Metrics::default()).await;
    let status = |r: Result<(), kube::Error>| match r {
        Ok(()) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("{e}"),
    };
    // Without watchNamespace the ClusterRole covers every namespace, for the five kinds and
    // the objects the operator owns...
    let lp = Default::default();
    assert_eq!(
        status(Api::<Tenant>::all(sa.clone()).list(&lp).await.map(|_| ())),
        200
    );
    assert_eq!(
        status(
            Api::<BackupSchedule>::all(sa.clone())
                .list(&lp)
                .await
                .map(|_| ())
        ),
        200
    );
    assert_eq!(
        status(
            Api::<Deployment>::all(sa.clone())
                .list(&lp)
                .await
                .map(|_| ())
        ),
        200
    );
    // ...Secrets too (listed and watched, metadata only, to follow referenced ones)...
    assert_eq!(
        status(Api::<Secret>::all(sa.clone()).list(&lp).await.map(|_| ())),
        200
    );
    // ...and no more: Tenants are never deleted.
    assert_eq!(
        status(
            Api::<Tenant>::namespaced(sa.clone(), &ns)
                .delete("anything", &Default::default())
                .await
                .map(|_| ())
        ),
        403
    );
    tokio::task::block_in_place(|| {
        helm(
            &[
                "uninstall",
                "--name",
                &release,
                "--namespace",
                &ns,
                "--kubeconfig",
                &kubeconfig,
            ],
            None,
        )
    })
    .unwrap_or_else(|e| panic!("uninstall: {e:?}"));
    assert!(Api::<ClusterRole>::all(admin.clone())
        .get_opt(&fullname)
        .await
        .unwrap()
        .is_none());
}

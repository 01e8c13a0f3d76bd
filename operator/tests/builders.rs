//! Desired-object builders, tested as pure functions.
use std::collections::BTreeMap;

use nexbii_crds::{Tenant, TenantSpec};
use nexbii_operator::builders::{self, keys};

fn tenant(yaml_spec: &str) -> Tenant {
    let spec: TenantSpec = serde_yaml::from_str(yaml_spec).unwrap();
    let mut t = Tenant::new("acme", spec);
    t.metadata.namespace = Some("team-a".into());
    t.metadata.uid = Some("uid-123".into());
    t
}

const EMBEDDED: &str = "displayName: Acme\ninstance:\n  replicas: 3\n";
const MONGO: &str = r#"
displayName: Acme
instance:
  replicas: 3
  image: registry.example/nexbii:1.2
  resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 256Mi}}
  storage:
    kind: mongodb
    mongodb: {connectionSecretRef: {name: mongo, key: url}, database: acme}
  exposure:
    serviceType: LoadBalancer
    port: 443
    ingress: {host: acme.example.com, className: nginx, tlsSecretName: acme-tls}
"#;

#[test]
fn every_object_is_owned_by_the_tenant_and_labelled() {
    let t = tenant(MONGO);
    let metas = [
        builders::config_map(&t).metadata,
        builders::service_account(&t).metadata,
        builders::deployment(&t, "img", "h", false, None).metadata,
        builders::service(&t).metadata,
        builders::ingress(&t).unwrap().metadata,
        builders::network_policy(&t).metadata,
        builders::keys_secret(&t, &BTreeMap::new()).metadata,
    ];
    for m in metas {
        let owner = &m.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("Tenant", "acme", "uid-123")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(m.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            m.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
            "nexbii-operator"
        );
        assert!(m.name.unwrap().starts_with("acme-nexbii"));
    }
}

#[test]
fn embedded_storage_forces_one_replica_a_volume_and_recreate() {
    let t = tenant(EMBEDDED);
    let d = builders::deployment(&t, "img:1", "h", false, None);
    assert_eq!(d.spec.replicas, Some(1));
    assert_eq!(
        d.spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("Recreate")
    );
    let pod = d.spec.template.spec.unwrap();
    let data = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "data")
        .unwrap();
    assert_eq!(
        data.persistent_volume_claim.unwrap().claim_name,
        "acme-nexbii-data"
    );
    let env = pod.containers[0].env.clone().unwrap();
    let store = env.iter().find(|e| e.name == "NEXBII_STORE").unwrap();
    assert_eq!(store.value.as_deref(), Some("/var/lib/nexbii/nexbii.db"));
    let pvc = builders::data_pvc(&t).unwrap();
    assert_eq!(
        pvc.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
        "1Gi"
    );
    assert!(
        builders::pod_disruption_budget(&t, "policy/v1").is_none(),
        "one replica: no PDB"
    );
}

#[test]
fn mongodb_tenant_scales_with_pdb_ingress_and_secret_refs() {
    let t = tenant(MONGO);
    let d = builders::deployment(&t, "default-img", "abc", false, None);
    assert_eq!(d.spec.replicas, Some(3));
    assert!(d.spec.strategy.is_none());
    assert!(builders::data_pvc(&t).is_none());
    let tpl = d.spec.template;
    assert_eq!(
        tpl.metadata.unwrap().annotations.unwrap()["nexbii.io/config-hash"],
        "abc"
    );
    let pod = tpl.spec.unwrap();
    let c = &pod.containers[0];
    assert_eq!(
        c.image.as_deref(),
        Some("default-img"),
        "image chosen by the caller"
    );
    let env = c.env.clone().unwrap();
    let store = env.iter().find(|e| e.name == "NEXBII_STORE").unwrap();
    let sel = store
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!((sel.name.as_str(), sel.key.as_str()), ("mongo", "url"));
    for (var, key) in [
        ("NEXBII_ENCRYPTION_KEY", keys::ENCRYPTION),
        ("NEXBII_OPERATOR_TOKEN", keys::OPERATOR_TOKEN),
    ] {
        let e = env.iter().find(|e| e.name == var).unwrap();
        let r = e
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!((r.name.as_str(), r.key.as_str()), ("acme-nexbii-keys", key));
        assert!(e.value.is_none(), "secrets never inline");
    }
    let res = c.resources.clone().unwrap();
    assert_eq!(res.requests.unwrap()["cpu"].0, "100m");
    assert_eq!(res.limits.unwrap()["memory"].0, "256Mi");
    let sc = c.security_context.clone().unwrap();
    assert_eq!(
        (
            sc.run_as_non_root,
            sc.read_only_root_filesystem,
            sc.allow_privilege_escalation
        ),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(
        c.readiness_probe
            .clone()
            .unwrap()
            .http_get
            .unwrap()
            .path
            .as_deref(),
        Some("/readyz")
    );
    assert_eq!(
        c.liveness_probe
            .clone()
            .unwrap()
            .http_get
            .unwrap()
            .path
            .as_deref(),
        Some("/healthz")
    );
    assert_eq!(pod.automount_service_account_token, Some(false));

    let pdb = builders::pod_disruption_budget(&t, "policy/v1beta1").unwrap();
    assert_eq!(pdb["apiVersion"], "policy/v1beta1");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    let svc = builders::service(&t).spec.unwrap();
    assert_eq!(svc.type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(svc.ports.unwrap()[0].port, 443);
    let ing = builders::ingress(&t).unwrap().spec.unwrap();
    assert_eq!(ing.ingress_class_name.as_deref(), Some("nginx"));
    assert_eq!(ing.tls.unwrap()[0].secret_name.as_deref(), Some("acme-tls"));
    assert_eq!(builders::endpoint(&t), "https://acme.example.com");
}

#[test]
fn network_policy_opens_only_the_api_port() {
    let t = tenant(EMBEDDED);
    let np = builders::network_policy(&t).spec.unwrap();
    assert_eq!(np.policy_types.unwrap(), ["Ingress"]);
    let rule = &np.ingress.unwrap()[0];
    assert_eq!(
        rule.ports.as_ref().unwrap()[0].port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080))
    );
    assert_eq!(
        rule.from.as_ref().unwrap().len(),
        2,
        "namespace pods and the operator only"
    );
    assert_eq!(builders::endpoint(&t), "http://acme-nexbii.team-a.svc:8080");
    // With an Ingress, the ingress controller (any namespace) must reach the port.
    let np = builders::network_policy(&tenant(MONGO)).spec.unwrap();
    assert!(np.ingress.unwrap()[0].from.is_none());
}

#[test]
fn config_map_carries_the_tenant_manifest_and_hash_tracks_it() {
    let t = tenant(EMBEDDED);
    let cm = builders::config_map(&t);
    let yaml = &cm.data.unwrap()["tenant.yaml"];
    let back: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
    assert_eq!(back["kind"], "Tenant");
    assert_eq!(back["metadata"]["name"], "acme");
    assert_eq!(back["spec"]["displayName"], "Acme");
    let h1 = builders::config_hash(&t, &BTreeMap::new());
    let mut t2 = t.clone();
    t2.spec.display_name = "Acme 2".into();
    assert_ne!(h1, builders::config_hash(&t2, &BTreeMap::new()));
    let pw = BTreeMap::from([(("s".to_string(), "k".to_string()), "pw".to_string())]);
    assert_ne!(
        h1,
        builders::config_hash(&t, &pw),
        "bootstrap secret changes roll the pods"
    );
    let sec = builders::bootstrap_secret(&t, &pw);
    let text = String::from_utf8(sec.data.unwrap()["secrets.yaml"].0.clone()).unwrap();
    assert!(
        text.contains("kind: Secret") && text.contains("name: s") && text.contains("k: pw"),
        "{text}"
    );
    let d = builders::deployment(&t, "i", "h", true, None);
    let vols = d.spec.template.spec.unwrap().volumes.unwrap();
    let projected = vols[0].projected.clone().unwrap().sources.unwrap();
    assert_eq!(projected.len(), 2, "config map and bootstrap secret");
}

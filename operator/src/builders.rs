//! Desired Kubernetes objects for a Tenant, as pure functions of the Tenant (and the values the
//! operator generated once). Unit-tested without a cluster; applied with server-side apply.
use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy},
        core::v1::{
            Capabilities, ConfigMap, ConfigMapProjection, Container, ContainerPort,
            EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, PersistentVolumeClaim,
            PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSecurityContext,
            PodSpec, PodTemplateSpec, Probe, ProjectedVolumeSource, ResourceRequirements,
            SeccompProfile, SecretKeySelector, SecretProjection, SecurityContext, Service,
            ServiceAccount, ServicePort, ServiceSpec, Volume, VolumeMount, VolumeProjection,
            VolumeResourceRequirements,
        },
        networking::v1::{
            HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
            IngressServiceBackend, IngressSpec, IngressTLS, NetworkPolicy,
            NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
            ServiceBackendPort,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference},
        util::intstr::IntOrString,
    },
    ByteString,
};
use nexbii_crds::{StorageKind, Tenant, TenantSpec};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const FIELD_MANAGER: &str = "nexbii-operator";
pub const CONTAINER_PORT: i32 = 8080;
const MANIFESTS_DIR: &str = "/etc/nexbii/manifests";
const DATA_DIR: &str = "/var/lib/nexbii";

/// Names of everything made for one tenant.
pub struct Names {
    pub base: String,
    pub keys_secret: String,
    pub bootstrap_secret: String,
    pub data_pvc: String,
}

pub fn names(tenant: &str) -> Names {
    let base = format!("{tenant}-nexbii");
    Names {
        keys_secret: format!("{base}-keys"),
        bootstrap_secret: format!("{base}-bootstrap"),
        data_pvc: format!("{base}-data"),
        base,
    }
}

/// Keys in the generated Secret; written once, never rotated by a reconcile.
pub mod keys {
    pub const SIGNING: &str = "signing-key";
    pub const ENCRYPTION: &str = "encryption-key";
    pub const OPERATOR_TOKEN: &str = "operator-token";
    pub const BOOTSTRAP_PASSWORD: &str = "bootstrap-password";
    pub const ALL: [&str; 4] = [SIGNING, ENCRYPTION, OPERATOR_TOKEN, BOOTSTRAP_PASSWORD];
}

fn tenant_name(t: &Tenant) -> String {
    t.metadata.name.clone().unwrap_or_default()
}

pub fn labels(tenant: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".into(),
            "nexbii-controlplane".into(),
        ),
        ("app.kubernetes.io/instance".into(), tenant.into()),
        ("app.kubernetes.io/managed-by".into(), FIELD_MANAGER.into()),
        ("nexbii.io/tenant".into(), tenant.into()),
    ])
}

fn selector(tenant: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".into(),
            "nexbii-controlplane".into(),
        ),
        ("app.kubernetes.io/instance".into(), tenant.into()),
    ])
}

pub fn owner_reference(t: &Tenant) -> OwnerReference {
    OwnerReference {
        api_version: nexbii_crds::API_VERSION.into(),
        kind: "Tenant".into(),
        name: tenant_name(t),
        uid: t.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn meta(t: &Tenant, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: t.metadata.namespace.clone(),
        labels: Some(labels(&tenant_name(t))),
        owner_references: Some(vec![owner_reference(t)]),
        ..Default::default()
    }
}

/// Embedded storage is a single SQLite file on a ReadWriteOnce volume: one replica only.
pub fn effective_replicas(spec: &TenantSpec) -> i32 {
    match spec.instance.storage.kind {
        StorageKind::Embedded => spec.instance.replicas.min(1),
        StorageKind::Mongodb => spec.instance.replicas,
    }
}

/// The Secret of generated values (created once; see `tenant` for the never-rotate rule).
pub fn keys_secret(
    t: &Tenant,
    values: &BTreeMap<String, String>,
) -> k8s_openapi::api::core::v1::Secret {
    k8s_openapi::api::core::v1::Secret {
        metadata: meta(t, &names(&tenant_name(t)).keys_secret),
        type_: Some("Opaque".into()),
        data: Some(
            values
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// The Tenant as the control plane's manifests folder expects it (spec only, no status).
pub fn tenant_manifest(t: &Tenant) -> String {
    let doc = json!({
        "apiVersion": nexbii_crds::API_VERSION,
        "kind": "Tenant",
        "metadata": {"name": tenant_name(t)},
        "spec": t.spec,
    });
    serde_yaml::to_string(&doc).expect("tenant serializes")
}

pub fn config_map(t: &Tenant) -> ConfigMap {
    ConfigMap {
        metadata: meta(t, &names(&tenant_name(t)).base),
        data: Some(BTreeMap::from([(
            "tenant.yaml".to_string(),
            tenant_manifest(t),
        )])),
        ..Default::default()
    }
}

/// Bootstrap passwords read from the Secrets the Tenant references, as a v1 Secret document
/// the control plane's manifests loader resolves `passwordSecretRef`s against.
pub fn bootstrap_secret(
    t: &Tenant,
    passwords: &BTreeMap<(String, String), String>,
) -> k8s_openapi::api::core::v1::Secret {
    let mut by_secret: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for ((name, key), value) in passwords {
        by_secret.entry(name).or_default().insert(key, value);
    }
    let docs: String = by_secret
        .iter()
        .map(|(name, kv)| {
            let doc = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": kv});
            format!("---\n{}", serde_yaml::to_string(&doc).expect("serializes"))
        })
        .collect();
    k8s_openapi::api::core::v1::Secret {
        metadata: meta(t, &names(&tenant_name(t)).bootstrap_secret),
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            "secrets.yaml".to_string(),
            ByteString(docs.into_bytes()),
        )])),
        ..Default::default()
    }
}

pub fn service_account(t: &Tenant) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(t, &names(&tenant_name(t)).base),
        // The control plane never talks to the Kubernetes API.
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn quantities(list: &nexbii_crds::ResourceList) -> Option<BTreeMap<String, Quantity>> {
    let mut m = BTreeMap::new();
    if let Some(c) = &list.cpu {
        m.insert("cpu".to_string(), Quantity(c.clone()));
    }
    if let Some(mem) = &list.memory {
        m.insert("memory".to_string(), Quantity(mem.clone()));
    }
    (!m.is_empty()).then_some(m)
}

fn probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Default::default()
    }
}

/// A digest of everything the pods read at start, so a change rolls the Deployment.
pub fn config_hash(t: &Tenant, bootstrap: &BTreeMap<(String, String), String>) -> String {
    let mut h = Sha256::new();
    h.update(tenant_manifest(t).as_bytes());
    for ((n, k), v) in bootstrap {
        h.update(format!("{n}/{k}={v}\n").as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

pub fn deployment(
    t: &Tenant,
    image: &str,
    config_hash: &str,
    with_bootstrap_secret: bool,
) -> Deployment {
    let tenant = tenant_name(t);
    let n = names(&tenant);
    let spec = &t.spec;
    let embedded = spec.instance.storage.kind == StorageKind::Embedded;
    let mut env_vars = vec![
        env("NEXBII_LISTEN", &format!("0.0.0.0:{CONTAINER_PORT}")),
        env("NEXBII_MANIFESTS", MANIFESTS_DIR),
        env("NEXBII_LOG_FORMAT", "json"),
        env("NEXBII_SQLITE_ROOT", &format!("{DATA_DIR}/sources")),
        secret_env("NEXBII_SIGNING_KEY", &n.keys_secret, keys::SIGNING),
        secret_env("NEXBII_ENCRYPTION_KEY", &n.keys_secret, keys::ENCRYPTION),
        secret_env(
            "NEXBII_OPERATOR_TOKEN",
            &n.keys_secret,
            keys::OPERATOR_TOKEN,
        ),
        secret_env(
            "NEXBII_BOOTSTRAP_PASSWORD",
            &n.keys_secret,
            keys::BOOTSTRAP_PASSWORD,
        ),
    ];
    match (&spec.instance.storage.mongodb, embedded) {
        (Some(m), false) => {
            env_vars.push(secret_env(
                "NEXBII_STORE",
                &m.connection_secret_ref.name,
                &m.connection_secret_ref.key,
            ));
            env_vars.push(env("NEXBII_MONGO_DATABASE", &m.database));
        }
        _ => env_vars.push(env("NEXBII_STORE", &format!("{DATA_DIR}/nexbii.db"))),
    }
    let mut sources = vec![VolumeProjection {
        config_map: Some(ConfigMapProjection {
            name: n.base.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }];
    if with_bootstrap_secret {
        sources.push(VolumeProjection {
            secret: Some(SecretProjection {
                name: n.bootstrap_secret.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let data_volume = if embedded {
        Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: n.data_pvc.clone(),
                read_only: Some(false),
            }),
            ..Default::default()
        }
    } else {
        Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        }
    };
    let container = Container {
        name: "controlplane".into(),
        image: Some(image.into()),
        args: Some(vec!["serve".into()]),
        env: Some(env_vars),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: CONTAINER_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        liveness_probe: Some(probe("/healthz", 10)),
        readiness_probe: Some(probe("/readyz", 5)),
        resources: Some(ResourceRequirements {
            requests: quantities(&spec.instance.resources.requests),
            limits: quantities(&spec.instance.resources.limits),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "manifests".into(),
                mount_path: MANIFESTS_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "data".into(),
                mount_path: DATA_DIR.into(),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    Deployment {
        metadata: meta(t, &n.base),
        spec: DeploymentSpec {
            replicas: Some(effective_replicas(spec)),
            selector: LabelSelector {
                match_labels: Some(selector(&tenant)),
                ..Default::default()
            },
            // A ReadWriteOnce volume cannot be attached to the old and new pod at once.
            strategy: embedded.then(|| DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&tenant)),
                    annotations: Some(BTreeMap::from([(
                        "nexbii.io/config-hash".to_string(),
                        config_hash.to_string(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(n.base.clone()),
                    automount_service_account_token: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        fs_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "manifests".into(),
                            projected: Some(ProjectedVolumeSource {
                                sources: Some(sources),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        data_volume,
                    ]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn data_pvc(t: &Tenant) -> Option<PersistentVolumeClaim> {
    let s = &t.spec.instance.storage;
    if s.kind != StorageKind::Embedded {
        return None;
    }
    let emb = s.embedded.clone().unwrap_or_default();
    Some(PersistentVolumeClaim {
        metadata: meta(t, &names(&tenant_name(t)).data_pvc),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: emb.storage_class_name,
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(emb.size.unwrap_or_else(|| "1Gi".into())),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

pub fn service(t: &Tenant) -> Service {
    let tenant = tenant_name(t);
    let exp = &t.spec.instance.exposure;
    Service {
        metadata: meta(t, &names(&tenant).base),
        spec: Some(ServiceSpec {
            type_: Some(format!("{:?}", exp.service_type)),
            selector: Some(selector(&tenant)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: exp.port as i32,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn ingress(t: &Tenant) -> Option<Ingress> {
    let tenant = tenant_name(t);
    let spec = t.spec.instance.exposure.ingress.as_ref()?;
    Some(Ingress {
        metadata: meta(t, &names(&tenant).base),
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            tls: spec.tls_secret_name.as_ref().map(|s| {
                vec![IngressTLS {
                    hosts: Some(vec![spec.host.clone()]),
                    secret_name: Some(s.clone()),
                }]
            }),
            rules: Some(vec![IngressRule {
                host: Some(spec.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: names(&tenant).base,
                                port: Some(ServiceBackendPort {
                                    name: Some("http".into()),
                                    ..Default::default()
                                }),
                            }),
                            ..Default::default()
                        },
                    }],
                }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// PodDisruptionBudget as JSON: served as policy/v1 from Kubernetes 1.21, policy/v1beta1 before,
/// with the same fields; the caller picks the version the server has.
pub fn pod_disruption_budget(t: &Tenant, api_version: &str) -> Option<Value> {
    if effective_replicas(&t.spec) <= 1 {
        return None;
    }
    let tenant = tenant_name(t);
    Some(json!({
        "apiVersion": api_version,
        "kind": "PodDisruptionBudget",
        "metadata": meta(t, &names(&tenant).base),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(&tenant)}},
    }))
}

/// Ingress to the API port only: from pods of the namespace, from the operator (readiness and
/// sync calls), and from anywhere when an Ingress exposes the tenant. Egress stays open because
/// data sources live wherever the tenant's databases are.
pub fn network_policy(t: &Tenant) -> NetworkPolicy {
    let tenant = tenant_name(t);
    let mut from = vec![
        NetworkPolicyPeer {
            pod_selector: Some(LabelSelector::default()),
            ..Default::default()
        },
        NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/name".into(),
                    "nexbii-operator".into(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    if t.spec.instance.exposure.ingress.is_some() {
        from = vec![];
    }
    NetworkPolicy {
        metadata: meta(t, &names(&tenant).base),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector(&tenant)),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: (!from.is_empty()).then_some(from),
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(CONTAINER_PORT)),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
            }]),
            ..Default::default()
        }),
    }
}

/// Where users reach the tenant: the Ingress host when there is one, else the Service.
pub fn endpoint(t: &Tenant) -> String {
    let tenant = tenant_name(t);
    let exp = &t.spec.instance.exposure;
    match &exp.ingress {
        Some(i) if i.tls_secret_name.is_some() => format!("https://{}", i.host),
        Some(i) => format!("http://{}", i.host),
        None => format!(
            "http://{}.{}.svc:{}",
            names(&tenant).base,
            t.metadata.namespace.as_deref().unwrap_or("default"),
            exp.port
        ),
    }
}

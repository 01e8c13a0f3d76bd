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
use nexbii_crds::{BackupSchedule, Destination, DestinationKind, StorageKind, Tenant, TenantSpec};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::names::Names;

pub const FIELD_MANAGER: &str = "nexbii-operator";
pub const CONTAINER_PORT: i32 = 8080;
const MANIFESTS_DIR: &str = "/etc/nexbii/manifests";
const DATA_DIR: &str = "/var/lib/nexbii";

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

/// Names of everything made for `t` (see [`Names`]).
pub fn names(t: &Tenant) -> Names {
    Names::for_tenant(&tenant_name(t))
}

pub fn labels(n: &Names) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".into(),
            "nexbii-controlplane".into(),
        ),
        ("app.kubernetes.io/instance".into(), n.label.clone()),
        ("app.kubernetes.io/managed-by".into(), FIELD_MANAGER.into()),
        ("nexbii.io/tenant".into(), n.label.clone()),
    ])
}

fn selector(n: &Names) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".into(),
            "nexbii-controlplane".into(),
        ),
        ("app.kubernetes.io/instance".into(), n.label.clone()),
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
        labels: Some(labels(&names(t))),
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
        metadata: meta(t, &names(t).keys_secret),
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
/// `suspend` concerns the operator alone; leaving it out keeps the config hash, and so the
/// pods, unchanged when it is toggled.
pub fn tenant_manifest(t: &Tenant) -> String {
    let mut spec = serde_json::to_value(&t.spec).expect("tenant spec serializes");
    if let Some(o) = spec.as_object_mut() {
        o.remove("suspend");
    }
    let doc = json!({
        "apiVersion": nexbii_crds::API_VERSION,
        "kind": "Tenant",
        "metadata": {"name": tenant_name(t)},
        "spec": spec,
    });
    serde_yaml::to_string(&doc).expect("tenant serializes")
}

pub fn config_map(t: &Tenant) -> ConfigMap {
    ConfigMap {
        metadata: meta(t, &names(t).base),
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
        metadata: meta(t, &names(t).bootstrap_secret),
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
        metadata: meta(t, &names(t).base),
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

/// The backup destination of a Tenant's instance: the one its BackupSchedules declare (the
/// destination belongs to the instance, which backs up to and restores from it). `Err` names
/// the schedules when they declare different ones: then none is rendered.
pub fn backup_destination<'a>(
    t: &'a Tenant,
    schedules: impl IntoIterator<Item = &'a BackupSchedule>,
) -> Result<Option<Destination>, String> {
    let tenant = tenant_name(t);
    let tenant = tenant.as_str();
    // A Tenant recovered from backups reads them from its instance's destination, and goes on
    // backing up there: its schedules must agree with it.
    let mut found: Option<(String, &Destination)> = t
        .spec
        .bootstrap
        .as_ref()
        .and_then(|b| b.from_backup.as_ref())
        .map(|f| {
            (
                "the Tenant's spec.bootstrap.fromBackup".to_string(),
                &f.destination,
            )
        });
    let mut mine: Vec<&BackupSchedule> = schedules
        .into_iter()
        .filter(|s| s.spec.tenant_ref.name == tenant)
        .collect();
    // Name order, so the message (and the choice) does not depend on list order.
    mine.sort_by_key(|s| s.metadata.name.clone());
    for s in mine {
        let name = s.metadata.name.clone().unwrap_or_default();
        match &found {
            None => found = Some((format!("BackupSchedule {name}"), &s.spec.destination)),
            Some((first, d)) if *d != &s.spec.destination => {
                return Err(format!(
                    "{first} and BackupSchedule {name} declare different destinations; an \
                     instance has one: no backup destination is configured until they agree"
                ))
            }
            Some(_) => {}
        }
    }
    Ok(found.map(|(_, d)| d.clone()))
}

/// Volume name of a volume destination's claim in the pod.
const BACKUP_VOLUME: &str = "backups";

/// The instance's backup settings (what `nexbii-controlplane serve` reads from its
/// environment) for `dest`, and the volume and mount a claim-backed volume destination needs.
/// S3 credentials come from the destination's Secret (`accessKeyId`, `secretAccessKey`) by
/// reference: their values never appear in the Deployment.
pub fn backup_env(dest: &Destination) -> (Vec<EnvVar>, Option<(Volume, VolumeMount)>) {
    let mut vars = Vec::new();
    let mut mount = None;
    match (dest.kind, &dest.volume, &dest.s3) {
        (DestinationKind::Volume, Some(v), _) => {
            vars.push(env("NEXBII_BACKUP_DIR", &v.path));
            if let Some(claim) = &v.claim_name {
                mount = Some((
                    Volume {
                        name: BACKUP_VOLUME.into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: claim.clone(),
                            read_only: Some(false),
                        }),
                        ..Default::default()
                    },
                    VolumeMount {
                        name: BACKUP_VOLUME.into(),
                        mount_path: v.path.clone(),
                        ..Default::default()
                    },
                ));
            }
        }
        (DestinationKind::S3, _, Some(s3)) => {
            vars.push(env("NEXBII_BACKUP_S3_BUCKET", &s3.bucket));
            if let Some(e) = &s3.endpoint {
                vars.push(env("NEXBII_BACKUP_S3_ENDPOINT", e));
            }
            if let Some(r) = &s3.region {
                vars.push(env("NEXBII_BACKUP_S3_REGION", r));
            }
            if let Some(p) = &s3.prefix {
                vars.push(env("NEXBII_BACKUP_S3_PREFIX", p));
            }
            vars.push(env(
                "NEXBII_BACKUP_S3_PATH_STYLE",
                if s3.path_style { "true" } else { "false" },
            ));
            let secret = &s3.credentials_secret_ref.name;
            vars.push(secret_env(
                "NEXBII_BACKUP_S3_ACCESS_KEY_ID",
                secret,
                "accessKeyId",
            ));
            vars.push(secret_env(
                "NEXBII_BACKUP_S3_SECRET_ACCESS_KEY",
                secret,
                "secretAccessKey",
            ));
        }
        // Refused by validation before anything is rendered.
        _ => {}
    }
    (vars, mount)
}

pub fn deployment(
    t: &Tenant,
    image: &str,
    config_hash: &str,
    with_bootstrap_secret: bool,
    backup: Option<&Destination>,
) -> Deployment {
    let n = names(t);
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
    let (backup_vars, backup_mount) = backup.map(backup_env).unwrap_or_default();
    env_vars.extend(backup_vars);
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
        volume_mounts: Some(
            [
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
            ]
            .into_iter()
            .chain(backup_mount.as_ref().map(|(_, m)| m.clone()))
            .collect(),
        ),
        ..Default::default()
    };
    Deployment {
        metadata: meta(t, &n.base),
        spec: DeploymentSpec {
            replicas: Some(effective_replicas(spec)),
            selector: LabelSelector {
                match_labels: Some(selector(&n)),
                ..Default::default()
            },
            // A ReadWriteOnce volume cannot be attached to the old and new pod at once.
            strategy: embedded.then(|| DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&n)),
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
                    volumes: Some(
                        [
                            Volume {
                                name: "manifests".into(),
                                projected: Some(ProjectedVolumeSource {
                                    sources: Some(sources),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                            data_volume,
                        ]
                        .into_iter()
                        .chain(backup_mount.map(|(v, _)| v))
                        .collect(),
                    ),
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
        metadata: meta(t, &names(t).data_pvc),
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
    let n = names(t);
    let exp = &t.spec.instance.exposure;
    Service {
        metadata: meta(t, &n.base),
        spec: Some(ServiceSpec {
            type_: Some(format!("{:?}", exp.service_type)),
            selector: Some(selector(&n)),
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
    let n = names(t);
    let spec = t.spec.instance.exposure.ingress.as_ref()?;
    Some(Ingress {
        metadata: meta(t, &n.base),
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
                                name: n.base.clone(),
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
    let n = names(t);
    Some(json!({
        "apiVersion": api_version,
        "kind": "PodDisruptionBudget",
        "metadata": meta(t, &n.base),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(&n)}},
    }))
}

/// Ingress to the API port only: from pods of the namespace, from the operator (readiness and
/// sync calls), and from anywhere when an Ingress exposes the tenant. Egress stays open because
/// data sources live wherever the tenant's databases are.
pub fn network_policy(t: &Tenant) -> NetworkPolicy {
    let n = names(t);
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
        metadata: meta(t, &n.base),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector(&n)),
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
    let exp = &t.spec.instance.exposure;
    match &exp.ingress {
        Some(i) if i.tls_secret_name.is_some() => format!("https://{}", i.host),
        Some(i) => format!("http://{}", i.host),
        None => format!(
            "http://{}.{}.svc:{}",
            names(t).base,
            t.metadata.namespace.as_deref().unwrap_or("default"),
            exp.port
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{gen, NameRule};
    use rand::{rngs::StdRng, SeedableRng};

    fn tenant(name: &str, spec: Value) -> Tenant {
        let mut t: Tenant = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
            "kind": "Tenant", "metadata": {"name": name, "namespace": "ns", "uid": "u-1"},
            "spec": spec}))
        .unwrap();
        t.metadata.generation = Some(1);
        t
    }

    #[track_caller]
    fn valid(rule: NameRule, what: &str, name: &str) {
        assert!(rule.is_valid(name), "{what} {name:?} breaks {rule:?}");
    }

    #[track_caller]
    fn valid_labels(what: &str, labels: Option<&BTreeMap<String, String>>) {
        for v in labels.expect("labels").values() {
            valid(NameRule::LabelValue, what, v);
        }
    }

    /// Every name a builder puts in an object, checked against the rule its kind has, for
    /// generated Tenant names: the CRD's (DNS labels up to 63: maximal length, leading digits,
    /// dashes) and, should the CRD's name rule be missing, any DNS-1123 subdomain.
    #[test]
    fn every_builder_yields_valid_names_for_every_accepted_tenant_name() {
        use NameRule::*;
        let mut rng = StdRng::seed_from_u64(0x7465_6e61_6e74);
        for i in 0..2_000 {
            let name = gen::name(&mut rng, i);
            // Every optional object present: Ingress, PodDisruptionBudget, bootstrap Secret.
            let t = tenant(
                &name,
                json!({"displayName": "X", "instance": {"replicas": 3,
                    "storage": {"kind": "mongodb", "mongodb": {"connectionSecretRef":
                        {"name": "mongo", "key": "url"}, "database": "db"}},
                    "exposure": {"ingress": {"host": "x.example.com", "tlsSecretName": "tls"}}}}),
            );
            let n = names(&t);
            let cm = config_map(&t);
            valid(
                Dns1123Subdomain,
                "ConfigMap",
                cm.metadata.name.as_ref().unwrap(),
            );
            valid_labels("ConfigMap label", cm.metadata.labels.as_ref());
            for s in [
                keys_secret(&t, &BTreeMap::new()),
                bootstrap_secret(&t, &BTreeMap::new()),
            ] {
                valid(
                    Dns1123Subdomain,
                    "Secret",
                    s.metadata.name.as_ref().unwrap(),
                );
                valid_labels("Secret label", s.metadata.labels.as_ref());
            }
            let sa = service_account(&t);
            valid(
                Dns1123Subdomain,
                "ServiceAccount",
                sa.metadata.name.as_ref().unwrap(),
            );

            let d = deployment(&t, "img", "h", true, None);
            valid(
                Dns1123Subdomain,
                "Deployment",
                d.metadata.name.as_ref().unwrap(),
            );
            // Pods are named after the Deployment: keep it a label so they need no truncating.
            valid(
                Dns1123Label,
                "Deployment",
                d.metadata.name.as_ref().unwrap(),
            );
            valid_labels("Deployment label", d.metadata.labels.as_ref());
            valid_labels("selector", d.spec.selector.match_labels.as_ref());
            let tpl = &d.spec.template;
            valid_labels("pod label", tpl.metadata.as_ref().unwrap().labels.as_ref());
            let pod = tpl.spec.as_ref().unwrap();
            valid(
                Dns1123Subdomain,
                "pod serviceAccountName",
                pod.service_account_name.as_ref().unwrap(),
            );
            for c in &pod.containers {
                valid(Dns1123Label, "container", &c.name);
                for e in c.env.iter().flatten() {
                    if let Some(r) = e
                        .value_from
                        .as_ref()
                        .and_then(|v| v.secret_key_ref.as_ref())
                    {
                        valid(Dns1123Subdomain, "env Secret", &r.name);
                    }
                }
                for p in c.ports.iter().flatten() {
                    let pn = p.name.as_ref().unwrap();
                    assert!(pn.len() <= 15 && Dns1123Label.is_valid(pn), "port {pn}");
                }
            }
            for v in pod.volumes.iter().flatten() {
                valid(Dns1123Label, "volume", &v.name);
                for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
                    if let Some(c) = &src.config_map {
                        valid(Dns1123Subdomain, "projected ConfigMap", &c.name);
                    }
                    if let Some(s) = &src.secret {
                        valid(Dns1123Subdomain, "projected Secret", &s.name);
                    }
                }
            }

            let svc = service(&t);
            valid(Dns1035Label, "Service", svc.metadata.name.as_ref().unwrap());
            valid_labels(
                "Service selector",
                svc.spec.as_ref().unwrap().selector.as_ref(),
            );
            let ing = ingress(&t).unwrap();
            valid(
                Dns1123Subdomain,
                "Ingress",
                ing.metadata.name.as_ref().unwrap(),
            );
            let backend = &ing.spec.as_ref().unwrap().rules.as_ref().unwrap()[0]
                .http
                .as_ref()
                .unwrap()
                .paths[0]
                .backend;
            assert_eq!(
                backend.service.as_ref().unwrap().name,
                n.base,
                "Ingress → Service"
            );
            let pdb = pod_disruption_budget(&t, "policy/v1").unwrap();
            valid(
                Dns1123Subdomain,
                "PDB",
                pdb["metadata"]["name"].as_str().unwrap(),
            );
            for v in pdb["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap()
                .values()
            {
                valid(LabelValue, "PDB selector", v.as_str().unwrap());
            }
            let np = network_policy(&t);
            valid(
                Dns1123Subdomain,
                "NetworkPolicy",
                np.metadata.name.as_ref().unwrap(),
            );
            valid_labels(
                "NetworkPolicy selector",
                np.spec
                    .as_ref()
                    .unwrap()
                    .pod_selector
                    .as_ref()
                    .unwrap()
                    .match_labels
                    .as_ref(),
            );

            let embedded = tenant(&name, json!({"displayName": "X"}));
            let pvc = data_pvc(&embedded).unwrap();
            valid(Dns1123Subdomain, "PVC", pvc.metadata.name.as_ref().unwrap());
            let d = deployment(&embedded, "img", "h", false, None);
            let claim = d.spec.template.spec.unwrap().volumes.unwrap()[1]
                .persistent_volume_claim
                .clone()
                .unwrap()
                .claim_name;
            assert_eq!(
                Some(claim),
                pvc.metadata.name,
                "the Deployment mounts the claim"
            );
        }
    }

    #[test]
    fn existing_names_and_pods_are_unchanged() {
        let t = tenant("acme", json!({"displayName": "Acme"}));
        assert_eq!(endpoint(&t), "http://acme-nexbii.ns.svc:8080");
        let long = tenant(&"a".repeat(63), json!({"displayName": "L"}));
        assert_eq!(
            endpoint(&long),
            format!("http://{}.ns.svc:8080", names(&long).base),
            "the Service's own name"
        );
        assert_eq!(service(&t).metadata.name.as_deref(), Some("acme-nexbii"));
        assert_eq!(
            data_pvc(&t).unwrap().metadata.name.as_deref(),
            Some("acme-nexbii-data")
        );
        // `suspend` is not part of what the pods read, so toggling it rolls nothing.
        let mut suspended = t.clone();
        suspended.spec.suspend = true;
        assert_eq!(
            config_hash(&t, &BTreeMap::new()),
            config_hash(&suspended, &BTreeMap::new())
        );
        assert!(!tenant_manifest(&t).contains("suspend"));
    }

    fn schedule(name: &str, tenant: &str, destination: Value) -> BackupSchedule {
        serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
            "kind": "BackupSchedule", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"tenantRef": {"name": tenant}, "schedule": "0 2 * * *",
                "destination": destination}}))
        .unwrap()
    }

    fn acme() -> Tenant {
        tenant("acme", json!({"displayName": "Acme"}))
    }

    fn container_env(d: &Deployment) -> Vec<EnvVar> {
        d.spec.template.spec.as_ref().unwrap().containers[0]
            .env
            .clone()
            .unwrap()
    }

    #[test]
    fn a_volume_destination_sets_the_dir_and_mounts_its_claim_there() {
        let t = tenant("acme", json!({"displayName": "Acme"}));
        let vol =
            json!({"kind": "volume", "volume": {"claimName": "acme-backups", "path": "/backups"}});
        let s = [schedule("nightly", "acme", vol.clone())];
        let dest = backup_destination(&acme(), &s).unwrap().unwrap();
        let d = deployment(&t, "img", "h", false, Some(&dest));
        let env = container_env(&d);
        let dir = env.iter().find(|e| e.name == "NEXBII_BACKUP_DIR").unwrap();
        assert_eq!(dir.value.as_deref(), Some("/backups"));
        let pod = d.spec.template.spec.unwrap();
        let v = pod
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == BACKUP_VOLUME)
            .unwrap();
        assert_eq!(
            v.persistent_volume_claim.unwrap().claim_name,
            "acme-backups"
        );
        let m = pod.containers[0]
            .volume_mounts
            .clone()
            .unwrap()
            .into_iter()
            .find(|m| m.name == BACKUP_VOLUME)
            .unwrap();
        assert_eq!(m.mount_path, "/backups");
        // Without a claim the folder is the pod's own (standalone-like): no extra volume.
        let bare = json!({"kind": "volume", "volume": {"path": "/backups"}});
        let dest = backup_destination(&acme(), &[schedule("n", "acme", bare)])
            .unwrap()
            .unwrap();
        let d = deployment(&t, "img", "h", false, Some(&dest));
        assert_eq!(d.spec.template.spec.unwrap().volumes.unwrap().len(), 2);
    }

    #[test]
    fn an_s3_destination_takes_its_credentials_by_reference_only() {
        let t = tenant("acme", json!({"displayName": "Acme"}));
        let s3 = json!({"kind": "s3", "s3": {"bucket": "bk", "endpoint": "http://minio:9000",
            "prefix": "nexbii", "pathStyle": true, "credentialsSecretRef": {"name": "s3-creds"}}});
        let dest = backup_destination(&acme(), &[schedule("n", "acme", s3)])
            .unwrap()
            .unwrap();
        let env = container_env(&deployment(&t, "img", "h", false, Some(&dest)));
        let value = |n: &str| {
            env.iter()
                .find(|e| e.name == n)
                .and_then(|e| e.value.clone())
        };
        assert_eq!(value("NEXBII_BACKUP_S3_BUCKET").as_deref(), Some("bk"));
        assert_eq!(
            value("NEXBII_BACKUP_S3_ENDPOINT").as_deref(),
            Some("http://minio:9000")
        );
        assert_eq!(value("NEXBII_BACKUP_S3_PREFIX").as_deref(), Some("nexbii"));
        assert_eq!(
            value("NEXBII_BACKUP_S3_PATH_STYLE").as_deref(),
            Some("true")
        );
        assert_eq!(value("NEXBII_BACKUP_S3_REGION"), None);
        for (var, key) in [
            ("NEXBII_BACKUP_S3_ACCESS_KEY_ID", "accessKeyId"),
            ("NEXBII_BACKUP_S3_SECRET_ACCESS_KEY", "secretAccessKey"),
        ] {
            let e = env.iter().find(|e| e.name == var).unwrap();
            assert!(e.value.is_none(), "{var} is never a literal");
            let r = e
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap();
            assert_eq!((r.name.as_str(), r.key.as_str()), ("s3-creds", key));
        }
        assert!(env.iter().all(|e| e.name != "NEXBII_BACKUP_DIR"));
    }

    #[test]
    fn schedules_of_one_tenant_must_agree_on_the_destination() {
        let a = json!({"kind": "volume", "volume": {"path": "/a"}});
        let b = json!({"kind": "volume", "volume": {"path": "/b"}});
        // Another tenant's schedule does not count; the same destination twice is fine.
        let s = [
            schedule("nightly", "acme", a.clone()),
            schedule("hourly", "acme", a.clone()),
            schedule("other", "globex", b.clone()),
        ];
        let d = backup_destination(&acme(), &s).unwrap().unwrap();
        assert_eq!(d.volume.unwrap().path, "/a");
        assert_eq!(
            backup_destination(&tenant("initech", json!({"displayName": "I"})), &s).unwrap(),
            None
        );
        let s = [
            schedule("nightly", "acme", a),
            schedule("hourly", "acme", b),
        ];
        let err = backup_destination(&acme(), &s).unwrap_err();
        assert!(err.contains("hourly") && err.contains("nightly"), "{err}");
        // Nothing rendered without a destination.
        let t = tenant("acme", json!({"displayName": "Acme"}));
        let env = container_env(&deployment(&t, "img", "h", false, None));
        assert!(env.iter().all(|e| !e.name.starts_with("NEXBII_BACKUP_")));
    }

    #[test]
    fn a_tenant_recovered_from_backups_backs_up_where_they_are() {
        let a = json!({"kind": "volume", "volume": {"claimName": "old", "path": "/a"}});
        let b = json!({"kind": "volume", "volume": {"path": "/b"}});
        let t = tenant(
            "acme",
            json!({"displayName": "Acme", "bootstrap": {"fromBackup": {"destination": a.clone(),
                "keysSecretRef": {"name": "old-keys"}}}}),
        );
        // Without a schedule, the recovery's destination is the instance's.
        let d = backup_destination(&t, &[]).unwrap().unwrap();
        assert_eq!(d.volume.as_ref().unwrap().path, "/a");
        let env = container_env(&deployment(&t, "img", "h", false, Some(&d)));
        let dir = env.iter().find(|e| e.name == "NEXBII_BACKUP_DIR").unwrap();
        assert_eq!(dir.value.as_deref(), Some("/a"));
        // A schedule declaring the same one agrees; another one conflicts, naming both.
        assert!(backup_destination(&t, &[schedule("nightly", "acme", a)]).is_ok());
        let err = backup_destination(&t, &[schedule("nightly", "acme", b)]).unwrap_err();
        assert!(
            err.contains("spec.bootstrap.fromBackup") && err.contains("nightly"),
            "{err}"
        );
        // The manifest the instance reads carries it: the instance recovers from it.
        assert!(tenant_manifest(&t).contains("fromBackup"));
    }
}

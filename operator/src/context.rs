//! Shared controller context: client, settings, metrics, events, per-object backoff; typed
//! errors and how each one is reported; the apiserver helpers every controller uses.
use std::{
    collections::HashMap,
    fmt::Debug,
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::{api::core::v1::Secret, NamespaceResourceScope};
use kube::{
    api::{DeleteParams, Patch, PatchParams, Preconditions},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
    },
    Api, Client, Resource, ResourceExt,
};
use nexbii_crds::{Condition, Tenant};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Map, Value};

use crate::{
    builders,
    conditions::{conditions, needs_event, Outcome},
    cp_client::ControlPlane,
    metrics::Metrics,
    names::Names,
    owned::Owned,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the apiserver failed; `what` names it (`apply Service ns/acme-nexbii`).
    #[error("{what}: {}", api_message(.source))]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// Needs a change by the user (bad spec, missing reference, refused object); retried
    /// with backoff.
    #[error("{message}")]
    Stalled {
        reason: &'static str,
        message: String,
    },
    /// The tenant's instance is not answering yet; retried with backoff.
    #[error("instance not reachable: {0}")]
    Instance(String),
    /// The instance refused a write because another one raced it; retried with backoff.
    #[error("instance reported a conflict: {0}")]
    InstanceConflict(String),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
}

impl Error {
    /// How this failure is reported in status and Events. Refusals that only a spec change can
    /// fix stall; anything that may pass by itself is still reconciling.
    pub fn outcome(&self) -> Outcome {
        let msg = self.to_string();
        match self {
            Self::Kube {
                source: kube::Error::Api(s),
                ..
            } => match s.code {
                400 | 422 => Outcome::stalled("ObjectRejected", msg),
                403 => Outcome::stalled("Forbidden", msg),
                409 => Outcome::retrying("Conflict", msg),
                _ => Outcome::retrying("KubernetesApiError", msg),
            },
            Self::Kube { .. } => Outcome::retrying("KubernetesApiUnavailable", msg),
            Self::Stalled { reason, message } => Outcome::stalled(reason, message.clone()),
            Self::Instance(_) => Outcome::retrying("InstanceUnreachable", msg),
            Self::InstanceConflict(_) => Outcome::retrying("InstanceConflict", msg),
            Self::Finalizer(_) => Outcome::retrying("Finalizer", msg),
        }
    }

    pub fn reason(&self) -> String {
        self.outcome().reason
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Names the request a [`kube::Error`] came from.
pub trait KubeContext<T> {
    fn what(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> KubeContext<T> for std::result::Result<T, kube::Error> {
    fn what(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Kube {
            what: what(),
            source,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// Control-plane image for Tenants that do not name one.
    pub image: String,
    /// How the operator reaches instances. `{name}` (the Tenant's), `{instance}` (its
    /// Service's), `{namespace}` and `{port}` are replaced; default is the in-cluster Service
    /// DNS name. Tests point it at a local process.
    pub instance_url_template: Option<String>,
    /// `policy/v1` or `policy/v1beta1`, whichever the server serves.
    pub pdb_api_version: String,
    /// Period of drift-correcting resyncs.
    pub resync: Duration,
}

pub struct Ctx {
    pub client: Client,
    pub settings: Settings,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub http: reqwest::Client,
    /// What the Tenant controller knows about the objects it owns.
    pub owned: Arc<Owned>,
    /// Per Tenant uid: the backup destination last rendered into its Deployment (as JSON), so
    /// that a schedule's new destination re-applies the Tenant's objects.
    pub applied_backup: Mutex<HashMap<String, String>>,
    failures: Mutex<HashMap<String, u32>>,
}

impl Ctx {
    pub fn new(client: Client, settings: Settings, metrics: Metrics, recorder: Recorder) -> Self {
        Self {
            client,
            settings,
            metrics,
            recorder,
            http: crate::cp_client::http_client(),
            owned: Arc::default(),
            applied_backup: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn instance_url(&self, t: &Tenant) -> String {
        let name = t.name_any();
        let ns = t.namespace().unwrap_or_else(|| "default".into());
        let port = t.spec.instance.exposure.port.to_string();
        let instance = Names::for_tenant(&name).base;
        match &self.settings.instance_url_template {
            Some(tpl) => tpl
                .replace("{name}", &name)
                .replace("{instance}", &instance)
                .replace("{namespace}", &ns)
                .replace("{port}", &port),
            None => format!("http://{instance}.{ns}.svc:{port}"),
        }
    }

    /// The Tenant `name` in `ns` and a client for its instance (token from the generated Secret).
    pub async fn control_plane(&self, ns: &str, name: &str) -> Result<(Tenant, ControlPlane)> {
        let tenants: Api<Tenant> = Api::namespaced(self.client.clone(), ns);
        let tenant = tenants
            .get_opt(name)
            .await
            .what(|| format!("read Tenant {ns}/{name}"))?
            .ok_or_else(|| Error::Stalled {
                reason: "TenantNotFound",
                message: format!("Tenant {ns}/{name} does not exist"),
            })?;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let keys = Names::for_tenant(name).keys_secret;
        let token = secrets
            .get_opt(&keys)
            .await
            .what(|| format!("read Secret {ns}/{keys}"))?
            .and_then(|s| secret_value(&s, builders::keys::OPERATOR_TOKEN).ok())
            .ok_or_else(|| Error::Instance(format!("Secret {keys} not created yet")))?;
        Ok((
            tenant.clone(),
            ControlPlane::new(self.http.clone(), &self.instance_url(&tenant), &token),
        ))
    }

    /// Exponential backoff per object: 5 s doubling to 5 min; reset by a success.
    pub fn backoff(&self, key: &str) -> Duration {
        let mut f = self.failures.lock().expect("lock");
        let n = f.entry(key.to_string()).or_insert(0);
        *n = (*n + 1).min(16);
        Duration::from_secs((5u64 << (*n - 1).min(6)).min(300))
    }

    pub fn reset(&self, key: &str) {
        self.failures.lock().expect("lock").remove(key);
    }

    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "publishing event failed");
        }
    }

    /// Error policy shared by all controllers: count, back off, never hot-loop.
    pub fn on_error(&self, kind: &str, key: &str, err: &Error) -> Action {
        self.metrics
            .errors
            .with_label_values(&[kind, &err.reason()])
            .inc();
        let wait = self.backoff(key);
        tracing::warn!(kind, object = key, error = %err, retry_in = ?wait, "reconcile failed");
        Action::requeue(wait)
    }

    /// Reports an outcome: the status (conditions from [`conditions`], `observedGeneration`,
    /// and `fields`), written only when it differs from what the object already says, and an
    /// Event when the outcome differs from the last one reported or is the first for this
    /// generation. Every controller reports every outcome through here.
    pub async fn report<K>(
        &self,
        kind: &str,
        obj: &K,
        outcome: &Outcome,
        extra: Vec<Condition>,
        fields: Map<String, Value>,
    ) -> Result<(), kube::Error>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Serialize
            + Debug,
    {
        let old_status = serde_json::to_value(obj)
            .ok()
            .and_then(|v| v.get("status").cloned())
            .unwrap_or(Value::Null);
        let old: Vec<Condition> = old_status
            .get("conditions")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        let old_generation = old_status.get("observedGeneration").and_then(Value::as_i64);
        let generation = obj.meta().generation;
        let mut status = fields;
        status.insert(
            "conditions".into(),
            json!(conditions(&old, outcome, generation, extra)),
        );
        status.insert("observedGeneration".into(), json!(generation));
        let unchanged = status
            .iter()
            .all(|(k, v)| old_status.get(k).unwrap_or(&Value::Null) == v);
        let written = if unchanged {
            Ok(())
        } else {
            self.metrics.status_writes.with_label_values(&[kind]).inc();
            patch_status(&self.client, obj, Value::Object(status)).await
        };
        // After the write, so a retried failed write does not repeat the Event; published
        // even when the write failed, so a refused status still leaves a trace.
        if needs_event(&old, old_generation, outcome, generation) {
            self.event(
                obj,
                outcome.warning,
                &outcome.reason,
                outcome.message.clone(),
            )
            .await;
        }
        written
    }
}

/// The spec's semantic errors as one Stalled error (`InvalidSpec`).
pub fn validate_spec<S: nexbii_crds::Validate>(spec: &S) -> Result<()> {
    let errs = spec.validate();
    if errs.is_empty() {
        return Ok(());
    }
    Err(Error::Stalled {
        reason: "InvalidSpec",
        message: errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// The text under `key`: `Err((reason, why))` when the key is missing or is not UTF-8 text.
pub fn secret_value(s: &Secret, key: &str) -> std::result::Result<String, (&'static str, String)> {
    let name = s.name_any();
    let raw = s
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            s.string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|v| v.clone().into_bytes())
        })
        .ok_or_else(|| {
            (
                "SecretKeyNotFound",
                format!("Secret {name} has no key {key:?}"),
            )
        })?;
    String::from_utf8(raw).map_err(|_| {
        (
            "SecretMalformed",
            format!("key {key:?} of Secret {name} is not UTF-8 text"),
        )
    })
}

/// Reads `key` of Secret `ns/name`, stalling with what is wrong when it cannot.
pub async fn read_secret(client: &Client, ns: &str, name: &str, key: &str) -> Result<String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s = secrets
        .get_opt(name)
        .await
        .what(|| format!("read Secret {ns}/{name}"))?
        .ok_or_else(|| Error::Stalled {
            reason: "SecretNotFound",
            message: format!("Secret {ns}/{name} with key {key:?} not found"),
        })?;
    secret_value(&s, key).map_err(|(reason, why)| Error::Stalled {
        reason,
        message: format!("{ns}/{why}"),
    })
}

pub fn object_key<K: Resource>(kind: &str, obj: &K) -> String {
    format!(
        "{kind}/{}/{}",
        obj.meta().namespace.as_deref().unwrap_or(""),
        obj.meta().name.as_deref().unwrap_or("")
    )
}

/// The uid of the object's controlling owner, if any.
pub fn controller_uid(meta: &kube::api::ObjectMeta) -> Option<&str> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// Server-side apply with the operator's field manager. The result is remembered as the
/// operator's own write, so its watch event wakes nobody. A refusal names the object; one
/// caused by a same-named object that something else controls is a `NameConflict`.
pub async fn apply<K>(ctx: &Ctx, ns: &str, obj: &K) -> Result<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let name = obj.meta().name.clone().unwrap_or_default();
    let what = || format!("apply {} {ns}/{name}", K::kind(&()));
    match api
        .patch(
            &name,
            &PatchParams::apply(builders::FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await
    {
        Ok(applied) => {
            ctx.owned.observe_own(applied.meta());
            Ok(applied)
        }
        Err(kube::Error::Api(s)) if s.code == 422 => {
            let ours = controller_uid(obj.meta()).unwrap_or_default().to_string();
            if let Ok(Some(existing)) = api.get_opt(&name).await {
                if let Some(other) = controller_uid(existing.meta()).filter(|u| *u != ours) {
                    let owner = existing
                        .owner_references()
                        .iter()
                        .find(|r| r.uid == other)
                        .map(|r| format!("{} {}", r.kind, r.name))
                        .unwrap_or_default();
                    return Err(Error::Stalled {
                        reason: "NameConflict",
                        message: format!(
                            "{} {ns}/{name} already exists and is controlled by {owner}; \
                             the operator does not take it over",
                            K::kind(&())
                        ),
                    });
                }
            }
            Err(kube::Error::Api(s)).what(what)
        }
        Err(e) => Err(e).what(what),
    }
}

/// Deletes `ns/name` if it exists and `owner_uid` controls it; anything else is left alone.
pub async fn delete_owned<K>(client: &Client, ns: &str, name: &str, owner_uid: &str) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let what = || format!("delete {} {ns}/{name}", K::kind(&()));
    let Some(existing) = api.get_opt(name).await.what(what)? else {
        return Ok(());
    };
    if controller_uid(existing.meta()) != Some(owner_uid) {
        return Ok(());
    }
    let dp = DeleteParams {
        // Only the object just read: never one recreated under the same name since.
        preconditions: Some(Preconditions {
            uid: existing.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e).what(what),
    }
}

/// Writes `status` with a merge patch on the status subresource.
pub async fn patch_status<K>(client: &Client, obj: &K, status: Value) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(
        client.clone(),
        obj.meta().namespace.as_deref().unwrap_or("default"),
    );
    api.patch_status(
        obj.meta().name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map(|_| ())
}

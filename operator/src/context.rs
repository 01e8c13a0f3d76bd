//! Shared controller context: client, settings, metrics, events, per-object backoff.
use std::{collections::HashMap, fmt::Debug, sync::Mutex, time::Duration};

use k8s_openapi::{api::core::v1::Secret, NamespaceResourceScope};
use kube::{
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
    },
    Api, Client, Resource, ResourceExt,
};
use nexbii_crds::Tenant;
use serde::{de::DeserializeOwned, Serialize};

use crate::{builders, cp_client::ControlPlane, metrics::Metrics};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Needs a change by the user (bad spec, missing reference); retried with backoff.
    #[error("{reason}: {message}")]
    Stalled {
        reason: &'static str,
        message: String,
    },
    /// The tenant's instance is not answering yet; retried with backoff.
    #[error("instance not reachable: {0}")]
    Instance(String),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube(_) => "KubernetesApi",
            Self::Stalled { reason, .. } => reason,
            Self::Instance(_) => "InstanceUnreachable",
            Self::Finalizer(_) => "Finalizer",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Control-plane image for Tenants that do not name one.
    pub image: String,
    /// How the operator reaches instances. `{name}`, `{namespace}` and `{port}` are replaced;
    /// default is the in-cluster Service DNS name. Tests point it at a local process.
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
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn instance_url(&self, t: &Tenant) -> String {
        let name = t.name_any();
        let ns = t.namespace().unwrap_or_else(|| "default".into());
        let port = t.spec.instance.exposure.port.to_string();
        match &self.settings.instance_url_template {
            Some(tpl) => tpl
                .replace("{name}", &name)
                .replace("{namespace}", &ns)
                .replace("{port}", &port),
            None => format!("http://{}.{ns}.svc:{port}", builders::names(&name).base),
        }
    }

    /// The Tenant `name` in `ns` and a client for its instance (token from the generated Secret).
    pub async fn control_plane(&self, ns: &str, name: &str) -> Result<(Tenant, ControlPlane)> {
        let tenants: Api<Tenant> = Api::namespaced(self.client.clone(), ns);
        let tenant = tenants.get_opt(name).await?.ok_or_else(|| Error::Stalled {
            reason: "TenantNotFound",
            message: format!("Tenant {ns}/{name} does not exist"),
        })?;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let keys = builders::names(name).keys_secret;
        let token = secrets
            .get_opt(&keys)
            .await?
            .and_then(|s| secret_value(&s, builders::keys::OPERATOR_TOKEN))
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
            .with_label_values(&[kind, err.reason()])
            .inc();
        let wait = self.backoff(key);
        tracing::warn!(kind, object = key, error = %err, retry_in = ?wait, "reconcile failed");
        Action::requeue(wait)
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

pub fn secret_value(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .or_else(|| s.string_data.as_ref().and_then(|d| d.get(key).cloned()))
}

pub fn object_key<K: Resource>(kind: &str, obj: &K) -> String {
    format!(
        "{kind}/{}/{}",
        obj.meta().namespace.as_deref().unwrap_or(""),
        obj.meta().name.as_deref().unwrap_or("")
    )
}

/// Server-side apply with the operator's field manager.
pub async fn apply<K>(client: &Client, ns: &str, obj: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::apply(builders::FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
}

/// Deletes an object the desired state no longer has; absent is fine.
pub async fn delete_if_present<K>(client: &Client, ns: &str, name: &str) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    match api.delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `status` with a merge patch on the status subresource.
pub async fn patch_status<K>(
    client: &Client,
    obj: &K,
    status: serde_json::Value,
) -> Result<(), kube::Error>
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
        &Patch::Merge(serde_json::json!({ "status": status })),
    )
    .await
    .map(|_| ())
}

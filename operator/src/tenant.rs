//! Tenant controller: generated Secret (once), owned objects by server-side apply, and status
//! from the instance's own `/readyz`.
use std::{collections::BTreeMap, sync::Arc, time::Instant};

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount},
    networking::v1::{Ingress, NetworkPolicy},
};
use kube::{
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    runtime::controller::Action,
    Api, ResourceExt,
};
use nexbii_crds::Tenant;
use rand::RngCore;
use serde_json::json;

use crate::{
    builders::{self, keys},
    conditions::{merge, triple, Phase},
    context::{
        apply, delete_if_present, object_key, patch_status, secret_value, validate_spec, Ctx,
        Error, Result,
    },
    cp_client::ControlPlane,
};

pub const KIND: &str = "Tenant";

fn random_b64() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    B64.encode(b)
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect()
}

/// Creates the generated Secret if it is missing. Existing values are never replaced: rotating
/// the encryption key would make every stored credential unreadable.
async fn ensure_keys(ctx: &Ctx, t: &Tenant, ns: &str) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let name = builders::names(&t.name_any()).keys_secret;
    if let Some(existing) = secrets.get_opt(&name).await? {
        if keys::ALL
            .iter()
            .all(|k| secret_value(&existing, k).is_some())
        {
            return Ok(());
        }
        return Err(Error::Stalled {
            reason: "GeneratedSecretIncomplete",
            message: format!("Secret {name} exists but lacks generated keys; delete it to regenerate (stored credentials become unreadable)"),
        });
    }
    let values = BTreeMap::from([
        (keys::SIGNING.to_string(), random_b64()),
        (keys::ENCRYPTION.to_string(), random_b64()),
        (keys::OPERATOR_TOKEN.to_string(), random_b64()),
        (keys::BOOTSTRAP_PASSWORD.to_string(), random_password()),
    ]);
    match secrets
        .create(&PostParams::default(), &builders::keys_secret(t, &values))
        .await
    {
        Ok(_) => {
            ctx.event(
                t,
                false,
                "SecretGenerated",
                format!("generated Secret {name} (keys, operator token, bootstrap password)"),
            )
            .await;
            Ok(())
        }
        // Another reconcile created it first: theirs stands.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads every Secret the Tenant references; a missing one stalls the Tenant with its name.
async fn referenced_secrets(
    ctx: &Ctx,
    t: &Tenant,
    ns: &str,
) -> Result<BTreeMap<(String, String), String>> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut refs = Vec::new();
    if let Some(m) = &t.spec.instance.storage.mongodb {
        refs.push((m.connection_secret_ref.clone(), false));
    }
    for a in &t.spec.bootstrap_admins {
        if let Some(r) = &a.password_secret_ref {
            refs.push((r.clone(), true));
        }
    }
    let mut bootstrap = BTreeMap::new();
    for (r, is_bootstrap) in refs {
        let value = secrets
            .get_opt(&r.name)
            .await?
            .and_then(|s| secret_value(&s, &r.key))
            .ok_or_else(|| Error::Stalled {
                reason: "SecretNotFound",
                message: format!("Secret {ns}/{} with key {:?} not found", r.name, r.key),
            })?;
        if is_bootstrap {
            bootstrap.insert((r.name.clone(), r.key.clone()), value);
        }
    }
    Ok(bootstrap)
}

async fn apply_pdb(ctx: &Ctx, t: &Tenant, ns: &str) -> Result<()> {
    let (group, version) = ctx
        .settings
        .pdb_api_version
        .split_once('/')
        .unwrap_or(("policy", "v1"));
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, "PodDisruptionBudget"),
        "poddisruptionbudgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
    let name = builders::names(&t.name_any()).base;
    match builders::pod_disruption_budget(t, &ctx.settings.pdb_api_version) {
        Some(pdb) => {
            api.patch(
                &name,
                &PatchParams::apply(builders::FIELD_MANAGER).force(),
                &Patch::Apply(&pdb),
            )
            .await?;
        }
        None => match api.delete(&name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}

async fn apply_all(
    ctx: &Ctx,
    t: &Tenant,
    ns: &str,
    bootstrap: &BTreeMap<(String, String), String>,
) -> Result<Deployment> {
    let c = &ctx.client;
    let n = builders::names(&t.name_any());
    apply(c, ns, &builders::config_map(t)).await?;
    if bootstrap.is_empty() {
        delete_if_present::<Secret>(c, ns, &n.bootstrap_secret).await?;
    } else {
        apply(c, ns, &builders::bootstrap_secret(t, bootstrap)).await?;
    }
    apply(c, ns, &builders::service_account(t)).await?;
    if let Some(pvc) = builders::data_pvc(t) {
        // A bound claim's spec is mostly immutable: create it once, leave it alone afterwards.
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), ns);
        if pvcs.get_opt(&n.data_pvc).await?.is_none() {
            apply(c, ns, &pvc).await?;
        }
    }
    let image = t
        .spec
        .instance
        .image
        .clone()
        .unwrap_or_else(|| ctx.settings.image.clone());
    let hash = builders::config_hash(t, bootstrap);
    let deployment = apply(
        c,
        ns,
        &builders::deployment(t, &image, &hash, !bootstrap.is_empty()),
    )
    .await?;
    apply(c, ns, &builders::service(t)).await?;
    match builders::ingress(t) {
        Some(i) => {
            apply(c, ns, &i).await?;
        }
        None => delete_if_present::<Ingress>(c, ns, &n.base).await?,
    }
    apply_pdb(ctx, t, ns).await?;
    apply(c, ns, &builders::network_policy(t)).await?;
    Ok(deployment)
}

async fn write_status(
    ctx: &Ctx,
    t: &Tenant,
    phase: Phase,
    reason: &str,
    message: &str,
    extra: serde_json::Value,
) -> Result<()> {
    let old = t
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let gen = t.metadata.generation;
    let mut status = json!({
        "conditions": merge(&old, triple(phase, reason, message, gen)),
        "observedGeneration": gen,
    });
    if let (Some(s), Some(e)) = (status.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    patch_status(&ctx.client, t, status).await?;
    Ok(())
}

async fn reconcile_inner(t: &Tenant, ctx: &Ctx) -> Result<Action> {
    let ns = t.namespace().unwrap_or_else(|| "default".into());
    validate_spec(&t.spec)?;
    let bootstrap = referenced_secrets(ctx, t, &ns).await?;
    ensure_keys(ctx, t, &ns).await?;
    let first_time_for_generation =
        t.status.as_ref().and_then(|s| s.observed_generation) != t.metadata.generation;
    let deployment = apply_all(ctx, t, &ns, &bootstrap).await?;
    if first_time_for_generation {
        ctx.event(
            t,
            false,
            "Applied",
            format!(
                "applied objects for generation {}",
                t.metadata.generation.unwrap_or(0)
            ),
        )
        .await;
    }
    let ready_replicas = deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    // Ready means the instance answers its own /readyz through the address the operator uses.
    let probe = ControlPlane::new(ctx.http.clone(), &ctx.instance_url(t), "")
        .readyz()
        .await;
    let endpoint = builders::endpoint(t);
    let (phase, reason, message, version, cp_ready) = match &probe {
        Ok(r) if r.status == "ready" => (
            Phase::Ready,
            "InstanceReady",
            format!("control plane ready at {endpoint}"),
            r.version.clone(),
            true,
        ),
        Ok(r) => (
            Phase::Reconciling,
            "InstanceNotReady",
            format!("control plane reports {}", r.status),
            r.version.clone(),
            false,
        ),
        Err(e) => (
            Phase::Reconciling,
            "InstanceNotReady",
            format!("waiting for the control plane: {e}"),
            None,
            false,
        ),
    };
    let was_ready = t
        .status
        .as_ref()
        .and_then(|s| s.control_plane_ready)
        .unwrap_or(false);
    if cp_ready && !was_ready {
        ctx.event(t, false, "InstanceReady", message.clone()).await;
    }
    write_status(
        ctx,
        t,
        phase,
        reason,
        &message,
        json!({"endpoint": endpoint, "version": version, "readyReplicas": ready_replicas, "controlPlaneReady": cp_ready}),
    )
    .await?;
    // Deployment changes wake us through the owned-object watch; the instance's own readiness
    // is only learnt by asking, so poll it — gently, since thousands of tenants may be waiting.
    Ok(if cp_ready {
        Action::requeue(ctx.settings.resync)
    } else {
        Action::requeue(std::time::Duration::from_secs(30))
    })
}

pub async fn reconcile(t: Arc<Tenant>, ctx: Arc<Ctx>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciles.with_label_values(&[KIND]).inc();
    let key = object_key(KIND, t.as_ref());
    let res = reconcile_inner(&t, &ctx).await;
    ctx.metrics
        .duration
        .with_label_values(&[KIND])
        .observe(started.elapsed().as_secs_f64());
    match &res {
        Ok(_) => ctx.reset(&key),
        Err(e @ Error::Stalled { reason, message }) => {
            ctx.event(t.as_ref(), true, reason, message.clone()).await;
            if let Err(se) =
                write_status(&ctx, &t, Phase::Stalled, reason, message, json!({})).await
            {
                tracing::warn!(error = %se, "writing status failed");
            }
            tracing::info!(tenant = %key, error = %e, "stalled");
        }
        Err(e) => {
            ctx.event(t.as_ref(), true, e.reason(), e.to_string()).await;
        }
    }
    res
}

pub fn error_policy(t: Arc<Tenant>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.on_error(KIND, &object_key(KIND, t.as_ref()), err)
}

/// Objects the Tenant controller owns and watches for drift.
pub type Owned = (
    Deployment,
    Service,
    ConfigMap,
    ServiceAccount,
    NetworkPolicy,
);

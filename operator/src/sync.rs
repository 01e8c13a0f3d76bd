//! DataSource, Dashboard and GovernancePolicy controllers: resolve the Tenant, read referenced
//! Secrets, push the object into the tenant's instance, report what the instance said.
//! A finalizer removes the object from the instance when the resource is deleted.
use std::{fmt::Debug, future::Future, sync::Arc, time::Instant};

use k8s_openapi::{api::core::v1::Secret, NamespaceResourceScope};
use kube::{
    runtime::{
        controller::Action,
        finalizer::{finalizer, Error as FinalizerError, Event as FinalizerEvent},
    },
    Api, Resource, ResourceExt,
};
use nexbii_crds::{Condition, Dashboard, DataSource, GovernancePolicy};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;

use crate::{
    builders,
    conditions::{cond, merge},
    context::{object_key, patch_status, secret_value, validate_spec, Ctx, Error, Result},
    cp_client::ClientError,
};

pub const FINALIZER: &str = "nexbii.io/instance-cleanup";

fn instance_err(e: ClientError) -> Error {
    match e {
        ClientError::Unreachable(m) => Error::Instance(m),
        ClientError::Rejected(m) => Error::Stalled {
            reason: "RejectedByInstance",
            message: m,
        },
    }
}

/// Status conditions for a sync failure: not synced, not ready, with the reason.
async fn write_failure<K>(ctx: &Ctx, obj: &K, old: &[Condition], err: &Error) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let gen = obj.meta().generation;
    let msg = err.to_string();
    let conds = vec![
        cond("Synced", false, err.reason(), &msg, gen),
        cond("Ready", false, err.reason(), &msg, gen),
    ];
    patch_status(
        &ctx.client,
        obj,
        json!({"conditions": merge(old, conds), "observedGeneration": gen}),
    )
    .await?;
    Ok(())
}

/// Runs `apply` under the finalizer, records metrics, and on failure writes the conditions and
/// an Event (once per distinct reason) before the error policy backs off.
async fn run<K, F, Fut>(
    kind: &'static str,
    path: &'static str,
    obj: Arc<K>,
    ctx: Arc<Ctx>,
    tenant: String,
    old: Vec<Condition>,
    apply: F,
) -> Result<Action>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static,
    F: FnOnce(Arc<K>) -> Fut,
    Fut: Future<Output = Result<Action>>,
{
    let started = Instant::now();
    ctx.metrics.reconciles.with_label_values(&[kind]).inc();
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let name = obj.name_any();
    let key = object_key(kind, obj.as_ref());
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let res = finalizer(&api, FINALIZER, obj.clone(), |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(o).await,
            FinalizerEvent::Cleanup(_) => cleanup(&ctx, &ns, &tenant, path, &name).await,
        }
    })
    .await
    .map_err(|e| match e {
        FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    ctx.metrics
        .duration
        .with_label_values(&[kind])
        .observe(started.elapsed().as_secs_f64());
    match &res {
        Ok(_) => ctx.reset(&key),
        Err(err) if obj.meta().deletion_timestamp.is_none() => {
            let previous = old
                .iter()
                .find(|c| c.type_ == "Synced")
                .map(|c| c.reason.as_str());
            if previous != Some(err.reason()) {
                ctx.event(obj.as_ref(), true, err.reason(), err.to_string())
                    .await;
            }
            if let Err(e) = write_failure(&ctx, obj.as_ref(), &old, err).await {
                tracing::warn!(error = %e, "writing status failed");
            }
        }
        Err(_) => {}
    }
    res
}

async fn cleanup(ctx: &Ctx, ns: &str, tenant: &str, path: &str, name: &str) -> Result<Action> {
    match ctx.control_plane(ns, tenant).await {
        Ok((_, cp)) => cp.delete(tenant, path, name).await.map_err(instance_err)?,
        // The Tenant is gone, and with it (owner references) its instance: nothing to remove.
        Err(Error::Stalled {
            reason: "TenantNotFound",
            ..
        }) => {}
        Err(e) => return Err(e),
    }
    tracing::info!(tenant, kind = path, name, "removed from instance");
    Ok(Action::await_change())
}

fn resync(ctx: &Ctx, seconds: Option<u32>) -> Action {
    let period = seconds
        .filter(|s| *s > 0)
        .map(|s| std::time::Duration::from_secs(s as u64).min(ctx.settings.resync))
        .unwrap_or(ctx.settings.resync);
    Action::requeue(period)
}

pub async fn reconcile_datasource(ds: Arc<DataSource>, ctx: Arc<Ctx>) -> Result<Action> {
    let old = ds
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let tenant = ds.spec.tenant_ref.name.clone();
    let c = ctx.clone();
    run(
        "DataSource",
        "datasources",
        ds,
        ctx,
        tenant.clone(),
        old.clone(),
        |ds| async move {
            validate_spec(&ds.spec)?;
            let ns = ds.namespace().unwrap_or_default();
            let password = match &ds.spec.password_secret_ref {
                Some(r) => {
                    let secrets: Api<Secret> = Api::namespaced(c.client.clone(), &ns);
                    Some(
                        secrets
                            .get_opt(&r.name)
                            .await?
                            .and_then(|s| secret_value(&s, &r.key))
                            .ok_or_else(|| Error::Stalled {
                                reason: "SecretNotFound",
                                message: format!(
                                    "Secret {ns}/{} with key {:?} not found",
                                    r.name, r.key
                                ),
                            })?,
                    )
                }
                None => None,
            };
            let (_, cp) = c.control_plane(&ns, &tenant).await?;
            let r = cp
                .put_datasource(&tenant, &ds.name_any(), &ds.spec, password.as_deref())
                .await
                .map_err(instance_err)?;
            let gen = ds.metadata.generation;
            let (ready_reason, ready_msg) = if r.connected {
                (
                    "Connected",
                    format!("{} tables, {} columns discovered", r.tables, r.columns),
                )
            } else {
                ("ConnectionFailed", r.error.clone().unwrap_or_default())
            };
            let was_connected = ds.status.as_ref().map(|s| s.connected).unwrap_or(false);
            if !r.connected && (was_connected || ds.status.is_none()) {
                c.event(ds.as_ref(), true, "ConnectionFailed", ready_msg.clone())
                    .await;
            }
            let conds = vec![
                cond("Synced", true, "Synced", "pushed to the instance", gen),
                cond("Ready", r.connected, ready_reason, ready_msg, gen),
            ];
            patch_status(
                &c.client,
                ds.as_ref(),
                json!({
                    "conditions": merge(&old, conds),
                    "observedGeneration": gen,
                    "connected": r.connected,
                    "lastSyncTime": r.synced_at,
                    "tablesDiscovered": r.tables,
                    "columnsDiscovered": r.columns,
                    "lastError": r.error,
                }),
            )
            .await?;
            Ok(resync(&c, Some(ds.spec.schema_sync_interval_seconds)))
        },
    )
    .await
}

pub async fn reconcile_dashboard(d: Arc<Dashboard>, ctx: Arc<Ctx>) -> Result<Action> {
    let old = d
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let tenant = d.spec.tenant_ref.name.clone();
    let c = ctx.clone();
    run(
        "Dashboard",
        "dashboards",
        d,
        ctx,
        tenant.clone(),
        old.clone(),
        |d| async move {
            validate_spec(&d.spec)?;
            let ns = d.namespace().unwrap_or_default();
            let (t, cp) = c.control_plane(&ns, &tenant).await?;
            let r = cp
                .put_dashboard(&tenant, &d.name_any(), &d.spec)
                .await
                .map_err(instance_err)?;
            let gen = d.metadata.generation;
            let valid = r.validation_errors.is_empty();
            let previous: Vec<String> = d
                .status
                .as_ref()
                .map(|s| s.validation_errors.clone())
                .unwrap_or_default();
            if !valid && previous != r.validation_errors {
                c.event(
                    d.as_ref(),
                    true,
                    "InvalidQueries",
                    r.validation_errors.join("; "),
                )
                .await;
            }
            let conds = vec![
                cond("Synced", true, "Synced", "pushed to the instance", gen),
                cond(
                    "Ready",
                    valid,
                    if valid { "Valid" } else { "InvalidQueries" },
                    r.validation_errors.join("; "),
                    gen,
                ),
            ];
            patch_status(
                &c.client,
                d.as_ref(),
                json!({
                    "conditions": merge(&old, conds),
                    "observedGeneration": gen,
                    "url": format!("{}{}", builders::endpoint(&t), r.url),
                    "validationErrors": r.validation_errors,
                }),
            )
            .await?;
            Ok(resync(&c, None))
        },
    )
    .await
}

pub async fn reconcile_policy(p: Arc<GovernancePolicy>, ctx: Arc<Ctx>) -> Result<Action> {
    let old = p
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let tenant = p.spec.tenant_ref.name.clone();
    let c = ctx.clone();
    run(
        "GovernancePolicy",
        "governancepolicies",
        p,
        ctx,
        tenant.clone(),
        old.clone(),
        |p| async move {
            validate_spec(&p.spec)?;
            let ns = p.namespace().unwrap_or_default();
            let (_, cp) = c.control_plane(&ns, &tenant).await?;
            cp.put_policy(&tenant, &p.name_any(), &p.spec)
                .await
                .map_err(instance_err)?;
            let gen = p.metadata.generation;
            let conds = vec![
                cond("Synced", true, "Synced", "pushed to the instance", gen),
                cond("Ready", true, "Synced", "", gen),
            ];
            patch_status(
                &c.client,
                p.as_ref(),
                json!({"conditions": merge(&old, conds), "observedGeneration": gen}),
            )
            .await?;
            Ok(resync(&c, None))
        },
    )
    .await
}

pub fn error_policy<K: Resource<DynamicType = ()>>(
    kind: &'static str,
) -> impl Fn(Arc<K>, &Error, Arc<Ctx>) -> Action {
    move |obj, err, ctx| ctx.on_error(kind, &object_key(kind, obj.as_ref()), err)
}

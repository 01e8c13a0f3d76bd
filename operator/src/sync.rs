//! DataSource, Dashboard, SavedQuery and GovernancePolicy controllers: resolve the Tenant, read referenced
//! Secrets, push the object into the tenant's instance, report what the instance said.
//! A finalizer removes the object from the instance when the resource is deleted.
use std::{fmt::Debug, future::Future, sync::Arc, time::Instant};

use k8s_openapi::NamespaceResourceScope;
use kube::{
    runtime::{
        controller::Action,
        finalizer::{finalizer, Error as FinalizerError, Event as FinalizerEvent},
    },
    Api, Resource, ResourceExt,
};
use nexbii_crds::{Dashboard, DataSource, GovernancePolicy, SavedQuery};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Map, Value};

use crate::{
    builders,
    conditions::{cond, Outcome},
    context::{object_key, read_secret, validate_spec, Ctx, Error, KubeContext, Result},
    cp_client::ClientError,
};

pub const FINALIZER: &str = "nexbii.io/instance-cleanup";

fn instance_err(e: ClientError) -> Error {
    match e {
        ClientError::Unreachable(m) => Error::Instance(m),
        ClientError::Conflict(m) => Error::InstanceConflict(m),
        ClientError::Rejected(m) => Error::Stalled {
            reason: "RejectedByInstance",
            message: m,
        },
    }
}

/// What a successful push found.
struct Pushed {
    outcome: Outcome,
    fields: Value,
    action: Action,
}

/// Runs `push` under the finalizer, records metrics, and reports every outcome (pushed,
/// refused, unreachable, suspended, cleanup failed) through [`Ctx::report`] before the error
/// policy backs off.
///
/// While `spec.suspend` is set nothing is pushed and no finalizer is added; deleting a
/// suspended object releases it without touching the instance (suspended means the operator
/// deletes nothing there either).
async fn run<K, F, Fut>(
    kind: &'static str,
    path: &'static str,
    obj: Arc<K>,
    ctx: Arc<Ctx>,
    tenant: String,
    suspended: bool,
    push: F,
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
    Fut: Future<Output = Result<Pushed>>,
{
    let started = Instant::now();
    ctx.metrics.reconciles.with_label_values(&[kind]).inc();
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let name = obj.name_any();
    let key = object_key(kind, obj.as_ref());
    let deleting = obj.meta().deletion_timestamp.is_some();
    let res = if suspended && !deleting {
        ctx.report(
            kind,
            obj.as_ref(),
            &Outcome::suspended(),
            vec![],
            Map::new(),
        )
        .await
        .what(|| format!("write status of {key}"))
        .map(|_| Action::await_change())
    } else {
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
        finalizer(&api, FINALIZER, obj.clone(), |event| async {
            match event {
                FinalizerEvent::Apply(o) => {
                    let p = push(o.clone()).await?;
                    let gen = o.meta().generation;
                    let synced = cond("Synced", true, "Synced", "pushed to the instance", gen);
                    ctx.report(
                        kind,
                        o.as_ref(),
                        &p.outcome,
                        vec![synced],
                        p.fields.as_object().cloned().unwrap_or_default(),
                    )
                    .await
                    .what(|| format!("write status of {key}"))?;
                    Ok(p.action)
                }
                FinalizerEvent::Cleanup(_) if suspended => Ok(Action::await_change()),
                FinalizerEvent::Cleanup(_) => cleanup(&ctx, &ns, &tenant, path, &name).await,
            }
        })
        .await
        .map_err(|e| match e {
            FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e) => e,
            other => Error::Finalizer(other.to_string()),
        })
    };
    ctx.metrics
        .duration
        .with_label_values(&[kind])
        .observe(started.elapsed().as_secs_f64());
    match &res {
        Ok(_) => ctx.reset(&key),
        Err(err) => {
            let outcome = err.outcome();
            let gen = obj.meta().generation;
            let synced = cond("Synced", false, &outcome.reason, &outcome.message, gen);
            if let Err(e) = ctx
                .report(kind, obj.as_ref(), &outcome, vec![synced], Map::new())
                .await
            {
                tracing::warn!(object = %key, error = %e, "writing status failed");
            }
        }
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
    let tenant = ds.spec.tenant_ref.name.clone();
    let suspended = ds.spec.suspend;
    let c = ctx.clone();
    run(
        "DataSource",
        "datasources",
        ds,
        ctx,
        tenant.clone(),
        suspended,
        |ds| async move {
            validate_spec(&ds.spec)?;
            let ns = ds.namespace().unwrap_or_default();
            let password = match &ds.spec.password_secret_ref {
                Some(r) => Some(read_secret(&c.client, &ns, &r.name, &r.key).await?),
                None => None,
            };
            let (_, cp) = c.control_plane(&ns, &tenant).await?;
            let r = cp
                .put_datasource(&tenant, &ds.name_any(), &ds.spec, password.as_deref())
                .await
                .map_err(instance_err)?;
            let outcome = if r.connected {
                Outcome::ready(
                    "Connected",
                    format!("{} tables, {} columns discovered", r.tables, r.columns),
                )
            } else {
                // Pushed, but the database cannot be used: wrong credentials, host down, ...
                Outcome::stalled("ConnectionFailed", r.error.clone().unwrap_or_default())
            };
            Ok(Pushed {
                outcome,
                fields: json!({
                    "connected": r.connected,
                    "lastSyncTime": r.synced_at,
                    "tablesDiscovered": r.tables,
                    "columnsDiscovered": r.columns,
                    "lastError": r.error,
                }),
                action: resync(&c, Some(ds.spec.schema_sync_interval_seconds)),
            })
        },
    )
    .await
}

pub async fn reconcile_dashboard(d: Arc<Dashboard>, ctx: Arc<Ctx>) -> Result<Action> {
    let tenant = d.spec.tenant_ref.name.clone();
    let suspended = d.spec.suspend;
    let c = ctx.clone();
    run(
        "Dashboard",
        "dashboards",
        d,
        ctx,
        tenant.clone(),
        suspended,
        |d| async move {
            validate_spec(&d.spec)?;
            let ns = d.namespace().unwrap_or_default();
            let (t, cp) = c.control_plane(&ns, &tenant).await?;
            let r = cp
                .put_dashboard(&tenant, &d.name_any(), &d.spec)
                .await
                .map_err(instance_err)?;
            let outcome = dashboard_outcome(&r);
            Ok(Pushed {
                outcome,
                fields: json!({
                    "url": format!("{}{}", builders::endpoint(&t), r.url),
                    "validationErrors": r.validation_errors,
                    "approvalState": r.approval_state,
                }),
                action: resync(&c, None),
            })
        },
    )
    .await
}

/// Invalid widget queries stall the dashboard; a publication waiting for approval is still
/// reconciling (and says who must approve); a rejected one is stalled.
fn dashboard_outcome(r: &crate::cp_client::DashboardSync) -> Outcome {
    if !r.validation_errors.is_empty() {
        return Outcome::stalled("InvalidQueries", r.validation_errors.join("; "));
    }
    match r.approval_state.as_deref() {
        Some("Pending") => Outcome::reconciling(
            "ApprovalPending",
            format!(
                "publication waits for approval by {}",
                r.approvers.join(", ")
            ),
        ),
        Some("Rejected") => Outcome::stalled(
            "PublicationRejected",
            "publication was rejected; change the dashboard to ask again",
        ),
        _ => Outcome::ready("Valid", "every widget query is valid"),
    }
}

/// A saved query is pushed like a dashboard; the instance refuses an unknown data source or a
/// statement that is not read-only (422), which stalls the resource with its reason.
pub async fn reconcile_saved_query(q: Arc<SavedQuery>, ctx: Arc<Ctx>) -> Result<Action> {
    let tenant = q.spec.tenant_ref.name.clone();
    let suspended = q.spec.suspend;
    let c = ctx.clone();
    run(
        "SavedQuery",
        "savedqueries",
        q,
        ctx,
        tenant.clone(),
        suspended,
        |q| async move {
            validate_spec(&q.spec)?;
            let ns = q.namespace().unwrap_or_default();
            let (t, cp) = c.control_plane(&ns, &tenant).await?;
            let r = cp
                .put_saved_query(&tenant, &q.name_any(), &q.spec)
                .await
                .map_err(instance_err)?;
            Ok(Pushed {
                outcome: Outcome::ready(
                    "Valid",
                    format!(
                        "the statement is valid against data source {}",
                        q.spec.data_source
                    ),
                ),
                fields: json!({
                    "url": format!("{}{}", builders::endpoint(&t), r.url),
                }),
                action: resync(&c, None),
            })
        },
    )
    .await
}

pub async fn reconcile_policy(p: Arc<GovernancePolicy>, ctx: Arc<Ctx>) -> Result<Action> {
    let tenant = p.spec.tenant_ref.name.clone();
    let suspended = p.spec.suspend;
    let c = ctx.clone();
    run(
        "GovernancePolicy",
        "governancepolicies",
        p,
        ctx,
        tenant.clone(),
        suspended,
        |p| async move {
            validate_spec(&p.spec)?;
            let ns = p.namespace().unwrap_or_default();
            let (_, cp) = c.control_plane(&ns, &tenant).await?;
            let e = cp
                .put_policy(&tenant, &p.name_any(), &p.spec)
                .await
                .map_err(instance_err)?;
            let message = match &e {
                Some(e) => format!(
                    "enforced: {} masking rules covering {} of {} classified columns, {} row filters on {} tables, approvals for [{}]",
                    e.masking_rules,
                    e.columns_covered,
                    e.columns_classified,
                    e.row_filters,
                    e.tables_filtered,
                    e.approvals.join(", ")
                ),
                None => "enforced by the instance".to_string(),
            };
            Ok(Pushed {
                outcome: Outcome::ready("Synced", message),
                fields: json!({ "enforcement": e }),
                action: resync(&c, None),
            })
        },
    )
    .await
}

pub fn error_policy<K: Resource<DynamicType = ()>>(
    kind: &'static str,
) -> impl Fn(Arc<K>, &Error, Arc<Ctx>) -> Action {
    move |obj, err, ctx| ctx.on_error(kind, &object_key(kind, obj.as_ref()), err)
}

#[cfg(test)]
mod dashboard_tests {
    use super::*;
    use crate::cp_client::DashboardSync;

    fn sync(state: Option<&str>, errors: &[&str]) -> DashboardSync {
        DashboardSync {
            url: "/x".into(),
            validation_errors: errors.iter().map(|e| e.to_string()).collect(),
            approval_state: state.map(str::to_string),
            approvers: vec!["role:admin".into()],
        }
    }

    #[test]
    fn publication_approval_shows_in_the_outcome() {
        let pending = dashboard_outcome(&sync(Some("Pending"), &[]));
        assert_eq!(pending.reason, "ApprovalPending");
        assert!(
            pending.message.contains("role:admin"),
            "{}",
            pending.message
        );
        let rejected = dashboard_outcome(&sync(Some("Rejected"), &[]));
        assert_eq!(rejected.reason, "PublicationRejected");
        assert_eq!(
            dashboard_outcome(&sync(Some("Approved"), &[])).reason,
            "Valid"
        );
        assert_eq!(dashboard_outcome(&sync(None, &[])).reason, "Valid");
        let invalid = dashboard_outcome(&sync(Some("Pending"), &["w: bad"]));
        assert_eq!(invalid.reason, "InvalidQueries");
    }
}

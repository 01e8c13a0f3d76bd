//! Tenant controller: generated Secret (once), owned objects by server-side apply, and status
//! from the instance's own `/readyz`.
//!
//! A reconcile applies everything only when the Tenant's generation was not applied yet, when
//! an owned object was changed or deleted by someone else (see [`crate::owned`]), or once per
//! resync period; otherwise it only asks the instance whether it is ready and refreshes the
//! status. Every outcome, failures included, is reported through [`Ctx::report`].
use std::{collections::BTreeMap, sync::Arc, time::Duration, time::Instant};

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret, ServiceAccount},
    networking::v1::Ingress,
};
use kube::{
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
        Preconditions,
    },
    runtime::controller::Action,
    Api, ResourceExt,
};
use nexbii_crds::{BackupSchedule, Condition, Destination, Tenant, TenantAlert};
use rand::{Rng, RngCore};
use serde_json::{json, Map, Value};

use crate::{
    builders::{self, keys},
    conditions::{cond, Outcome},
    context::{
        apply, controller_uid, delete_owned, object_key, read_secret, secret_value, validate_spec,
        Ctx, Error, KubeContext, Result,
    },
    cp_client::ControlPlane,
    names::Names,
};

pub const KIND: &str = "Tenant";

/// How often a Tenant whose instance is not ready yet asks it again (plus up to 20 % jitter,
/// so thousands of Tenants created together do not poll in step).
const NOT_READY_POLL: Duration = Duration::from_secs(30);

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

fn check_keys(existing: &Secret, name: &str) -> Result<()> {
    if keys::ALL
        .iter()
        .all(|k| secret_value(existing, k).is_ok_and(|v| !v.is_empty()))
    {
        return Ok(());
    }
    Err(Error::Stalled {
        reason: "GeneratedSecretIncomplete",
        message: format!("Secret {name} exists but lacks generated keys; delete it to regenerate (stored credentials become unreadable)"),
    })
}

/// The Secret holding the keys of the instance a recovered Tenant had
/// (`spec.bootstrap.fromBackup.keysSecretRef`).
fn source_keys(t: &Tenant) -> Option<&str> {
    let from = t.spec.bootstrap.as_ref()?.from_backup.as_ref()?;
    from.keys_secret_ref.as_ref().map(|r| r.name.as_str())
}

/// A keys Secret that exists already must hold the keys the Tenant recovers with: the archives
/// and the credentials in them are sealed with those. A source Secret removed since (after the
/// recovery) is no longer compared.
async fn check_source_keys(ctx: &Ctx, t: &Tenant, ns: &str, existing: &Secret) -> Result<()> {
    let Some(src) = source_keys(t) else {
        return Ok(());
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let Some(source) = secrets
        .get_opt(src)
        .await
        .what(|| format!("read Secret {ns}/{src}"))?
    else {
        return Ok(());
    };
    let same = [keys::SIGNING, keys::ENCRYPTION]
        .iter()
        .all(|k| secret_value(existing, k).ok() == secret_value(&source, k).ok());
    if same {
        return Ok(());
    }
    Err(Error::Stalled {
        reason: "KeysSecretMismatch",
        message: format!(
            "Secret {} holds other keys than spec.bootstrap.fromBackup.keysSecretRef {src}: the \
             backups cannot be read with them; delete {} while the tenant has no data so that it \
             is made from {src}",
            existing.name_any(),
            existing.name_any()
        ),
    })
}

/// Creates the generated Secret if it is missing. Existing values are never replaced: rotating
/// the encryption key would make every stored credential unreadable. `reported`: the operator
/// has reported on this Tenant before, so the Secret is probably there and is read first;
/// otherwise it is created straight away and read only if that finds one.
async fn ensure_keys(ctx: &Ctx, t: &Tenant, ns: &str, names: &Names, reported: bool) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let name = &names.keys_secret;
    let read = || format!("read Secret {ns}/{name}");
    if reported {
        if let Some(existing) = secrets.get_opt(name).await.what(read)? {
            check_keys(&existing, name)?;
            return check_source_keys(ctx, t, ns, &existing).await;
        }
    }
    let (signing, encryption) = match source_keys(t) {
        Some(src) => (
            read_secret(&ctx.client, ns, src, keys::SIGNING).await?,
            read_secret(&ctx.client, ns, src, keys::ENCRYPTION).await?,
        ),
        None => (random_b64(), random_b64()),
    };
    let values = BTreeMap::from([
        (keys::SIGNING.to_string(), signing),
        (keys::ENCRYPTION.to_string(), encryption),
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
        // Already there (made earlier, or by a concurrent reconcile): it stands as it is.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let existing = secrets.get(name).await.what(read)?;
            check_keys(&existing, name)?;
            check_source_keys(ctx, t, ns, &existing).await
        }
        Err(e) => Err(e).what(|| format!("create Secret {ns}/{name}")),
    }
}

/// Reads every Secret the Tenant references; a missing or unreadable one stalls the Tenant.
async fn referenced_secrets(
    ctx: &Ctx,
    t: &Tenant,
    ns: &str,
) -> Result<BTreeMap<(String, String), String>> {
    if let Some(m) = &t.spec.instance.storage.mongodb {
        let r = &m.connection_secret_ref;
        read_secret(&ctx.client, ns, &r.name, &r.key).await?;
    }
    let mut bootstrap = BTreeMap::new();
    // Bootstrap passwords and the single sign-on client secret reach the instance the same way:
    // in the generated Secret its manifests folder reads.
    let oidc = t.spec.auth.oidc.as_ref().map(|o| &o.client_secret_ref);
    for r in t
        .spec
        .bootstrap_admins
        .iter()
        .filter_map(|a| a.password_secret_ref.as_ref())
        .chain(oidc)
    {
        let value = read_secret(&ctx.client, ns, &r.name, &r.key).await?;
        bootstrap.insert((r.name.clone(), r.key.clone()), value);
    }
    Ok(bootstrap)
}

async fn apply_pdb(ctx: &Ctx, t: &Tenant, ns: &str, names: &Names, reported: bool) -> Result<()> {
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
    let name = &names.base;
    match builders::pod_disruption_budget(t, &ctx.settings.pdb_api_version) {
        Some(pdb) => {
            let applied = api
                .patch(
                    name,
                    &PatchParams::apply(builders::FIELD_MANAGER).force(),
                    &Patch::Apply(&pdb),
                )
                .await
                .what(|| format!("apply PodDisruptionBudget {ns}/{name}"))?;
            ctx.owned.observe_own(&applied.metadata);
        }
        // Never made for a Tenant not reported on yet (see `apply_all`).
        None if !reported => {}
        None => {
            let what = || format!("delete PodDisruptionBudget {ns}/{name}");
            let existing = api.get_opt(name).await.what(what)?;
            if let Some(e) = existing.filter(|e| controller_uid(&e.metadata) == t.uid().as_deref())
            {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: e.uid(),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match api.delete(name, &dp).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                    Err(e) => return Err(e).what(what),
                }
            }
        }
    }
    Ok(())
}

/// Applies every owned object and removes the optional ones the spec no longer wants. When the
/// operator has never reported on the Tenant (`reported` false) nothing it could remove can
/// exist yet, so those checks (and the claim's existence check) are skipped: a new Tenant costs
/// one request per object.
async fn apply_all(
    ctx: &Ctx,
    t: &Tenant,
    ns: &str,
    names: &Names,
    bootstrap: &BTreeMap<(String, String), String>,
    reported: bool,
    backup: Option<&Destination>,
) -> Result<Deployment> {
    let c = &ctx.client;
    let uid = t.uid().unwrap_or_default();
    if names.legacy_base != names.base {
        // Earlier versions used the plain name even where it is no valid Service name (and so
        // failed at the Service): remove what they made under it before it competes with the
        // objects under the new name (a second pod on the same claim). Only such Tenants pay
        // for the checks, and only on full applies.
        delete_owned::<Deployment>(c, ns, &names.legacy_base, &uid).await?;
        delete_owned::<ConfigMap>(c, ns, &names.legacy_base, &uid).await?;
        delete_owned::<ServiceAccount>(c, ns, &names.legacy_base, &uid).await?;
    }
    apply(ctx, ns, &builders::config_map(t)).await?;
    if !bootstrap.is_empty() {
        apply(ctx, ns, &builders::bootstrap_secret(t, bootstrap)).await?;
    } else if reported {
        delete_owned::<Secret>(c, ns, &names.bootstrap_secret, &uid).await?;
    }
    apply(ctx, ns, &builders::service_account(t)).await?;
    if let Some(pvc) = builders::data_pvc(t) {
        // A bound claim's spec is mostly immutable: create it once, leave it alone afterwards.
        let exists = reported
            && Api::<PersistentVolumeClaim>::namespaced(c.clone(), ns)
                .get_opt(&names.data_pvc)
                .await
                .what(|| format!("read PersistentVolumeClaim {ns}/{}", names.data_pvc))?
                .is_some();
        if !exists {
            apply(ctx, ns, &pvc).await?;
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
        ctx,
        ns,
        &builders::deployment(t, &image, &hash, !bootstrap.is_empty(), backup),
    )
    .await?;
    apply(ctx, ns, &builders::service(t)).await?;
    match builders::ingress(t) {
        Some(i) => {
            apply(ctx, ns, &i).await?;
        }
        None if reported => delete_owned::<Ingress>(c, ns, &names.base, &uid).await?,
        None => {}
    }
    apply_pdb(ctx, t, ns, names, reported).await?;
    apply(ctx, ns, &builders::network_policy(t)).await?;
    Ok(deployment)
}

/// Alerts that started and stopped firing between two readings (by key).
pub fn alert_changes<'a>(
    before: &'a [TenantAlert],
    now: &'a [TenantAlert],
) -> (Vec<&'a TenantAlert>, Vec<&'a TenantAlert>) {
    let fired = now
        .iter()
        .filter(|a| !before.iter().any(|b| b.key == a.key))
        .collect();
    let cleared = before
        .iter()
        .filter(|b| !now.iter().any(|a| a.key == b.key))
        .collect();
    (fired, cleared)
}

/// The health alerts the instance reports, with an Event for each that started or stopped
/// firing since the status last said. `None` when the instance could not tell (the status
/// keeps what it said: an unreachable instance is reported by the Ready condition).
async fn alerts(ctx: &Ctx, t: &Tenant, ns: &str) -> Option<Vec<TenantAlert>> {
    let name = t.name_any();
    let now = match ctx.control_plane(ns, &name).await {
        Ok((_, cp)) => cp.alerts(&name).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let now = match now {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(tenant = %name, error = %e, "alerts not read");
            return None;
        }
    };
    let before = t
        .status
        .as_ref()
        .map(|s| s.alerts.clone())
        .unwrap_or_default();
    let (fired, cleared) = alert_changes(&before, &now);
    for a in fired {
        ctx.event(t, true, "AlertFiring", format!("{}: {}", a.key, a.message))
            .await;
    }
    for a in cleared {
        ctx.event(t, false, "AlertCleared", format!("{} cleared", a.key))
            .await;
    }
    Some(now)
}

/// A finished reconcile: what to report and when to come back.
struct Done {
    outcome: Outcome,
    fields: Map<String, Value>,
    action: Action,
    extra: Vec<Condition>,
}

/// The destination the Tenant's BackupSchedules (and its recovery source) declare, and the
/// `BackupDestination` condition saying so (or that they disagree, and none is configured).
async fn backup_destination(
    ctx: &Ctx,
    t: &Tenant,
    ns: &str,
) -> Result<(Option<Destination>, Condition)> {
    let schedules = Api::<BackupSchedule>::namespaced(ctx.client.clone(), ns)
        .list(&Default::default())
        .await
        .what(|| format!("list BackupSchedules in {ns}"))?;
    let gen = t.metadata.generation;
    Ok(match builders::backup_destination(t, &schedules.items) {
        Ok(Some(d)) => {
            let c = cond(
                "BackupDestination",
                true,
                "Configured",
                "the instance backs up to its BackupSchedules' (or recovery source's) destination",
                gen,
            );
            (Some(d), c)
        }
        Ok(None) => (
            None,
            cond(
                "BackupDestination",
                false,
                "NoBackupSchedule",
                "no BackupSchedule names this Tenant: the instance keeps its default backup folder",
                gen,
            ),
        ),
        Err(why) => (
            None,
            cond(
                "BackupDestination",
                false,
                "ConflictingDestinations",
                why,
                gen,
            ),
        ),
    })
}

async fn reconcile_inner(t: &Tenant, ctx: &Ctx, names: &Names) -> Result<Done> {
    let ns = t.namespace().unwrap_or_else(|| "default".into());
    let uid = t.uid().unwrap_or_default();
    let generation = t.metadata.generation;
    if t.spec.suspend {
        // Whatever is deleted meanwhile must be re-applied once the Tenant is resumed.
        ctx.owned.forget_applied(&uid);
        return Ok(Done {
            outcome: Outcome::suspended(),
            fields: Map::new(),
            action: Action::await_change(),
            extra: vec![],
        });
    }
    validate_spec(&t.spec)?;
    let (backup, backup_cond) = backup_destination(ctx, t, &ns).await?;
    let backup_json = serde_json::to_string(&backup).unwrap_or_default();
    let backup_changed = ctx
        .applied_backup
        .lock()
        .expect("lock")
        .get(&uid)
        .is_none_or(|b| *b != backup_json);
    let dirty = ctx.owned.take_dirty(&uid);
    if dirty
        || backup_changed
        || !ctx
            .owned
            .applied_recently(&uid, generation, ctx.settings.resync)
    {
        // Recorded again only once everything is applied, so a failure means a full retry.
        ctx.owned.forget_applied(&uid);
        let bootstrap = referenced_secrets(ctx, t, &ns).await?;
        let reported = t
            .status
            .as_ref()
            .is_some_and(|s| s.observed_generation.is_some());
        ensure_keys(ctx, t, &ns, names, reported).await?;
        let deployment =
            apply_all(ctx, t, &ns, names, &bootstrap, reported, backup.as_ref()).await?;
        ctx.applied_backup
            .lock()
            .expect("lock")
            .insert(uid.clone(), backup_json);
        ctx.metrics.applies.with_label_values(&[KIND]).inc();
        let ready = deployment
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        ctx.owned.set_ready(&uid, ready);
        ctx.owned.record_applied(&uid, generation);
    }
    // Ready means the instance answers its own /readyz through the address the operator uses.
    let probe = ControlPlane::new(ctx.http.clone(), &ctx.instance_url(t), "")
        .readyz()
        .await;
    let endpoint = builders::endpoint(t);
    let (outcome, version) = match probe {
        Ok(r) if r.status == "ready" => (
            Outcome::ready(
                "InstanceReady",
                format!("control plane ready at {endpoint}"),
            ),
            r.version,
        ),
        Ok(r) => (
            Outcome::reconciling(
                "InstanceNotReady",
                format!("control plane reports {}", r.status),
            ),
            r.version,
        ),
        Err(e) => (
            Outcome::reconciling(
                "InstanceNotReady",
                format!("waiting for the control plane: {e}"),
            ),
            None,
        ),
    };
    let cp_ready = outcome.phase == crate::conditions::Phase::Ready;
    let mut fields = json!({
        "endpoint": endpoint,
        "version": version,
        "readyReplicas": ctx.owned.ready(&uid),
        "controlPlaneReady": cp_ready,
    });
    if cp_ready {
        if let Some(alerts) = alerts(ctx, t, &ns).await {
            fields["alerts"] = json!(alerts);
        }
    }
    // Deployment changes wake us through the owned-object watch; the instance's own readiness
    // is only learnt by asking, so poll it — gently, since thousands of tenants may be waiting.
    let action = if cp_ready {
        Action::requeue(ctx.settings.resync)
    } else {
        let jitter = rand::thread_rng().gen_range(0..=NOT_READY_POLL.as_millis() as u64 / 5);
        Action::requeue(NOT_READY_POLL + Duration::from_millis(jitter))
    };
    Ok(Done {
        outcome,
        fields: fields.as_object().cloned().unwrap_or_default(),
        action,
        extra: vec![backup_cond],
    })
}

pub async fn reconcile(t: Arc<Tenant>, ctx: Arc<Ctx>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciles.with_label_values(&[KIND]).inc();
    let key = object_key(KIND, t.as_ref());
    let names = builders::names(&t);
    let res = reconcile_inner(&t, &ctx, &names).await;
    let (outcome, mut fields, extra) = match &res {
        Ok(done) => (
            done.outcome.clone(),
            done.fields.clone(),
            done.extra.clone(),
        ),
        Err(e) => (e.outcome(), Map::new(), vec![]),
    };
    // The name mapping is known whatever happened, and is what a user needs to look further.
    fields.insert("instanceName".into(), json!(names.base));
    fields.insert("keysSecretName".into(), json!(names.keys_secret));
    let reported = ctx.report(KIND, t.as_ref(), &outcome, extra, fields).await;
    ctx.metrics
        .duration
        .with_label_values(&[KIND])
        .observe(started.elapsed().as_secs_f64());
    match res {
        Ok(done) => {
            reported.what(|| format!("write status of {key}"))?;
            ctx.reset(&key);
            Ok(done.action)
        }
        Err(e) => {
            if let Err(se) = reported {
                tracing::warn!(tenant = %key, error = %se, "writing status failed");
            }
            Err(e)
        }
    }
}

pub fn error_policy(t: Arc<Tenant>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.on_error(KIND, &object_key(KIND, t.as_ref()), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(key: &str) -> TenantAlert {
        TenantAlert {
            key: key.into(),
            kind: "errorRate".into(),
            since: "2026-12-03T00:00:00Z".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn alert_changes_tell_what_started_and_stopped_firing() {
        let before = [alert("errorRate"), alert("dataSourceDown:pg")];
        let now = [alert("dataSourceDown:pg"), alert("diskFree")];
        let (fired, cleared) = alert_changes(&before, &now);
        assert_eq!(
            fired.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(),
            ["diskFree"]
        );
        assert_eq!(
            cleared.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(),
            ["errorRate"]
        );
        let (f, c) = alert_changes(&now, &now);
        assert!(f.is_empty() && c.is_empty());
    }
}

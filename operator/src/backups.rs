//! Backup and Restore controllers.
//!
//! A `Backup` asks the tenant's instance for one backup, polls it to completion and mirrors
//! what the instance says into its status (an Event on every transition). Its finalizer
//! deletes the archive in the instance when the resource is deleted, unless it is pinned. A
//! completed `Backup` whose archive the instance no longer has (pruned by retention) is
//! deleted.
//!
//! A `Restore` asks the instance to restore a completed `Backup` (or a point in time) once
//! and reports what changed.
//!
//! Both specs are immutable. Kubernetes 1.20 has no CEL validation to refuse an edit, so the
//! operator records the spec it first saw (`status.recordedSpec`), acts on that one only, and
//! reports a `SpecChanged` condition and Event when the object was edited since.
use std::{sync::Arc, time::Duration, time::Instant};

use chrono::{DateTime, Utc};
use kube::{
    api::DeleteParams,
    runtime::{
        controller::Action,
        finalizer::{finalizer, Error as FinalizerError, Event as FinalizerEvent},
    },
    Api, ResourceExt,
};
use nexbii_crds::{
    Backup, BackupMethod, BackupPhase, BackupSchedule, BackupSpec, Condition, ConditionStatus,
    Restore, RestoreCounts, RestorePhase, RestoreSpec,
};
use serde_json::{json, Map, Value};

use crate::{
    conditions::{cond, Outcome},
    context::{object_key, validate_spec, Ctx, Error, KubeContext, Result},
    cp_client::{ClientError, InstanceBackup},
};

pub const BACKUP_KIND: &str = "Backup";
pub const RESTORE_KIND: &str = "Restore";
pub const FINALIZER: &str = "nexbii.io/backup-cleanup";
/// Keys an S3 destination's credentials Secret must hold.
pub const S3_KEYS: [&str; 2] = ["accessKeyId", "secretAccessKey"];
/// How often a running backup (or a restore waiting for its backup) is looked at again.
const POLL: Duration = Duration::from_secs(2);
/// A backup the instance still calls running after this long is failed, so it never holds
/// anything up (the instance fails runs that stop sending heartbeats by itself; this covers
/// an instance that cannot say so).
pub const STUCK_AFTER_MINUTES: i64 = 120;

pub fn instance_err(e: ClientError) -> Error {
    match e {
        ClientError::Unreachable(m) => Error::Instance(m),
        ClientError::Conflict(m) => Error::InstanceConflict(m),
        ClientError::Rejected(m) => Error::Stalled {
            reason: "RejectedByInstance",
            message: m,
        },
    }
}

/// The spec acted on: the one recorded at the first reconcile (the current one before that).
pub fn acted_on<S: Clone>(recorded: Option<&S>, current: &S) -> S {
    recorded.cloned().unwrap_or_else(|| current.clone())
}

/// The `SpecChanged` condition: true when the spec differs from the recorded one.
pub fn spec_changed_condition<S: PartialEq>(
    recorded: Option<&S>,
    current: &S,
    generation: Option<i64>,
) -> Condition {
    match recorded {
        Some(r) if r != current => cond(
            "SpecChanged",
            true,
            "SpecChanged",
            "the spec is immutable and was edited: the operator keeps acting on the spec it \
             recorded first (status.recordedSpec); create a new object instead",
            generation,
        ),
        _ => cond(
            "SpecChanged",
            false,
            "SpecUnchanged",
            "the spec is the one recorded",
            generation,
        ),
    }
}

/// Whether `old` already said the spec changed (the Event is published once per edit).
fn already_said_changed(old: &[Condition]) -> bool {
    old.iter()
        .any(|c| c.type_ == "SpecChanged" && c.status == ConditionStatus::True)
}

/// The phase of a backup as the instance names its state.
pub fn phase_of(state: &str) -> BackupPhase {
    match state {
        "Running" => BackupPhase::Running,
        "Completed" => BackupPhase::Completed,
        "Failed" => BackupPhase::Failed,
        _ => BackupPhase::Pending,
    }
}

/// Whether a backup started at `started` and still not finished at `now` is stuck.
pub fn stuck(started: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    started.is_some_and(|s| now - s > chrono::Duration::minutes(STUCK_AFTER_MINUTES))
}

/// The instance's id of a completed backup whose archive may have been pruned since.
pub fn prunable(b: &Backup) -> Option<&str> {
    let st = b.status.as_ref()?;
    (st.phase == Some(BackupPhase::Completed) && b.metadata.deletion_timestamp.is_none())
        .then_some(())?;
    st.backup_id.as_deref()
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Deletes a `Backup` whose archive the instance pruned (the finalizer's delete in the
/// instance then finds nothing to do).
pub async fn delete_pruned(ctx: &Ctx, ns: &str, name: &str, id: &str) -> Result<()> {
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), ns);
    if let Ok(Some(b)) = api.get_opt(name).await {
        ctx.event(
            &b,
            false,
            "BackupPruned",
            format!("the instance no longer has backup {id} (retention): removing this Backup"),
        )
        .await;
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e).what(|| format!("delete Backup {ns}/{name}")),
    }
}

/// Status fields mirroring the instance's record.
fn backup_fields(r: &InstanceBackup, phase: BackupPhase) -> Map<String, Value> {
    let v = json!({
        "phase": phase,
        "backupId": r.id,
        "startedAt": r.started_at,
        "stoppedAt": r.finished_at,
        "sizeBytes": r.size_bytes,
        "checksum": r.checksum,
        "location": r.location,
        "error": r.error,
    });
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn failed(message: String) -> (Outcome, Map<String, Value>) {
    let fields = json!({"phase": BackupPhase::Failed, "error": message, "stoppedAt": now()});
    (
        Outcome::stalled("BackupFailed", message),
        fields.as_object().cloned().unwrap_or_default(),
    )
}

/// What one reconcile found.
struct Step {
    outcome: Outcome,
    fields: Map<String, Value>,
    action: Action,
}

async fn apply_backup(b: &Backup, ctx: &Ctx) -> Result<Step> {
    let ns = b.namespace().unwrap_or_default();
    let status = b.status.clone().unwrap_or_default();
    let spec = acted_on(status.recorded_spec.as_ref(), &b.spec);
    validate_spec(&spec)?;
    let tenant = spec.tenant_ref.name.clone();
    let mut fields = Map::new();
    fields.insert("recordedSpec".into(), json!(spec));
    let step = |outcome, more: Map<String, Value>, action| {
        let mut f = fields.clone();
        f.extend(more);
        Ok(Step {
            outcome,
            fields: f,
            action,
        })
    };
    match (status.phase, status.backup_id.clone()) {
        (Some(BackupPhase::Completed), Some(id)) => {
            let (_, cp) = ctx.control_plane(&ns, &tenant).await?;
            if cp
                .get_backup(&tenant, &id)
                .await
                .map_err(instance_err)?
                .is_none()
            {
                delete_pruned(ctx, &ns, &b.name_any(), &id).await?;
                return step(
                    Outcome::ready("BackupPruned", format!("backup {id} was pruned")),
                    Map::new(),
                    Action::await_change(),
                );
            }
            step(
                Outcome::ready(
                    "BackupCompleted",
                    format!(
                        "backup {id} completed: {} bytes at {}",
                        status.size_bytes.unwrap_or_default(),
                        status.location.clone().unwrap_or_default()
                    ),
                ),
                Map::new(),
                // Looked at again to notice when retention prunes it.
                Action::requeue(ctx.settings.resync),
            )
        }
        (Some(BackupPhase::Failed), _) => step(
            Outcome::stalled(
                "BackupFailed",
                status.error.clone().unwrap_or_else(|| "failed".into()),
            ),
            Map::new(),
            Action::await_change(),
        ),
        (_, None) => {
            let retention = match (spec.method, &spec.schedule_ref) {
                (BackupMethod::Schedule, Some(r)) => {
                    Api::<BackupSchedule>::namespaced(ctx.client.clone(), &ns)
                        .get_opt(&r.name)
                        .await
                        .what(|| format!("read BackupSchedule {ns}/{}", r.name))?
                        .map(|s| s.spec.retention)
                }
                _ => None,
            };
            let (_, cp) = ctx.control_plane(&ns, &tenant).await?;
            let body = json!({
                "pinned": spec.pinned,
                "note": format!("Backup {ns}/{}", b.name_any()),
                "retention": retention,
                "destination": spec.destination,
                // If recording the answer below fails, the retry gets the same backup.
                "requestId": b.uid(),
            });
            match cp.create_backup(&tenant, &body).await {
                Ok(r) => {
                    let phase = phase_of(&r.state);
                    let mut more = backup_fields(&r, phase);
                    more.entry("startedAt").or_insert_with(|| json!(now()));
                    step(
                        Outcome::reconciling(
                            "BackupStarted",
                            format!("the instance started backup {}", r.id),
                        ),
                        more,
                        Action::requeue(POLL),
                    )
                }
                Err(ClientError::Rejected(m)) => {
                    let (o, more) = failed(format!("the instance refused the backup: {m}"));
                    step(o, more, Action::await_change())
                }
                Err(e) => Err(instance_err(e)),
            }
        }
        (_, Some(id)) => {
            let (_, cp) = ctx.control_plane(&ns, &tenant).await?;
            let Some(r) = cp.get_backup(&tenant, &id).await.map_err(instance_err)? else {
                let (o, more) = failed(format!("the instance no longer has backup {id}"));
                return step(o, more, Action::await_change());
            };
            let phase = phase_of(&r.state);
            let more = backup_fields(&r, phase);
            match phase {
                BackupPhase::Completed => step(
                    Outcome::ready(
                        "BackupCompleted",
                        format!(
                            "backup {id} completed: {} bytes at {}",
                            r.size_bytes.unwrap_or_default(),
                            r.location.clone().unwrap_or_default()
                        ),
                    ),
                    more,
                    Action::requeue(ctx.settings.resync),
                ),
                BackupPhase::Failed => step(
                    Outcome::stalled(
                        "BackupFailed",
                        r.error.clone().unwrap_or_else(|| "failed".into()),
                    ),
                    more,
                    Action::await_change(),
                ),
                _ => {
                    let started = r
                        .started_at
                        .as_deref()
                        .or(status.started_at.as_deref())
                        .and_then(parse_time);
                    if stuck(started, Utc::now()) {
                        let (o, more) = failed(format!(
                            "backup {id} still {} after {STUCK_AFTER_MINUTES} minutes: \
                             given up so that later backups are not held up",
                            r.state
                        ));
                        return step(o, more, Action::await_change());
                    }
                    step(
                        Outcome::reconciling("BackupRunning", format!("backup {id} is running")),
                        more,
                        Action::requeue(POLL),
                    )
                }
            }
        }
    }
}

/// On deletion: the archive goes too, unless the Backup is pinned or never started.
async fn cleanup_backup(b: &Backup, ctx: &Ctx) -> Result<Action> {
    let ns = b.namespace().unwrap_or_default();
    let status = b.status.clone().unwrap_or_default();
    let spec = acted_on(status.recorded_spec.as_ref(), &b.spec);
    let Some(id) = status.backup_id else {
        return Ok(Action::await_change());
    };
    if spec.pinned {
        tracing::info!(backup = %b.name_any(), id, "pinned: archive kept");
        return Ok(Action::await_change());
    }
    let tenant = &spec.tenant_ref.name;
    match ctx.control_plane(&ns, tenant).await {
        Ok((_, cp)) => cp.delete_backup(tenant, &id).await.map_err(instance_err)?,
        // The Tenant is gone, and with it (owner references) its instance.
        Err(Error::Stalled {
            reason: "TenantNotFound",
            ..
        }) => {}
        Err(e) => return Err(e),
    }
    tracing::info!(backup = %b.name_any(), id, "archive deleted in the instance");
    Ok(Action::await_change())
}

/// Reports a step (or the error) with the `SpecChanged` condition, and publishes the
/// `SpecChanged` Event once per edit.
async fn report<K>(
    kind: &'static str,
    obj: &K,
    ctx: &Ctx,
    recorded_differs: Condition,
    old: &[Condition],
    res: &Result<Step>,
) -> Result<(), kube::Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    if recorded_differs.status == ConditionStatus::True && !already_said_changed(old) {
        ctx.event(obj, true, "SpecChanged", recorded_differs.message.clone())
            .await;
    }
    let (outcome, fields) = match res {
        Ok(s) => (s.outcome.clone(), s.fields.clone()),
        Err(e) => (e.outcome(), Map::new()),
    };
    ctx.report(kind, obj, &outcome, vec![recorded_differs], fields)
        .await
}

pub async fn reconcile_backup(b: Arc<Backup>, ctx: Arc<Ctx>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics
        .reconciles
        .with_label_values(&[BACKUP_KIND])
        .inc();
    let key = object_key(BACKUP_KIND, b.as_ref());
    let ns = b.namespace().unwrap_or_default();
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    let res = finalizer(&api, FINALIZER, b.clone(), |event| async {
        match event {
            FinalizerEvent::Apply(o) => {
                let status = o.status.clone().unwrap_or_default();
                let changed = spec_changed_condition(
                    status.recorded_spec.as_ref(),
                    &o.spec,
                    o.metadata.generation,
                );
                let res = apply_backup(&o, &ctx).await;
                let reported = report(
                    BACKUP_KIND,
                    o.as_ref(),
                    &ctx,
                    changed,
                    &status.conditions,
                    &res,
                )
                .await;
                let step = res?;
                reported.what(|| format!("write status of {key}"))?;
                Ok(step.action)
            }
            FinalizerEvent::Cleanup(o) => cleanup_backup(&o, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    ctx.metrics
        .duration
        .with_label_values(&[BACKUP_KIND])
        .observe(started.elapsed().as_secs_f64());
    if res.is_ok() {
        ctx.reset(&key);
    }
    res
}

pub fn error_policy_backup(b: Arc<Backup>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.on_error(BACKUP_KIND, &object_key(BACKUP_KIND, b.as_ref()), err)
}

/// The instance's report as status counts.
fn counts(r: &crate::cp_client::InstanceRestore) -> Vec<RestoreCounts> {
    r.collections
        .iter()
        .map(|c| RestoreCounts {
            collection: c.collection.clone(),
            in_backup: c.in_backup,
            current: c.current,
            added: c.added,
            removed: c.removed,
            modified: c.modified,
            unchanged: c.unchanged,
        })
        .collect()
}

fn restore_failed(message: String) -> Step {
    let fields = json!({"phase": RestorePhase::Failed, "error": message, "finishedAt": now()});
    Step {
        outcome: Outcome::stalled("RestoreFailed", message),
        fields: fields.as_object().cloned().unwrap_or_default(),
        action: Action::await_change(),
    }
}

/// What a restore is of: the instance's backup id (with the `Backup`'s destination), or a
/// point in time; `Err(step)` when it cannot run (yet).
async fn restore_source(
    r: &Restore,
    spec: &RestoreSpec,
    ctx: &Ctx,
) -> Result<std::result::Result<Value, Step>> {
    let ns = r.namespace().unwrap_or_default();
    let Some(bref) = &spec.backup_ref else {
        return Ok(Ok(json!({"targetTime": spec.target_time})));
    };
    let b = Api::<Backup>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&bref.name)
        .await
        .what(|| format!("read Backup {ns}/{}", bref.name))?
        .ok_or_else(|| Error::Stalled {
            reason: "BackupNotFound",
            message: format!("Backup {ns}/{} does not exist", bref.name),
        })?;
    let bst = b.status.clone().unwrap_or_default();
    let bspec: BackupSpec = acted_on(bst.recorded_spec.as_ref(), &b.spec);
    if bspec.tenant_ref != spec.tenant_ref {
        return Ok(Err(restore_failed(format!(
            "Backup {} is of tenant {}, not {}",
            bref.name, bspec.tenant_ref.name, spec.tenant_ref.name
        ))));
    }
    match (bst.phase, bst.backup_id) {
        (Some(BackupPhase::Completed), Some(id)) => {
            Ok(Ok(json!({"backup": id, "destination": bspec.destination})))
        }
        (Some(BackupPhase::Failed), _) => Ok(Err(restore_failed(format!(
            "Backup {} failed: {}",
            bref.name,
            bst.error.unwrap_or_default()
        )))),
        _ => Ok(Err(Step {
            outcome: Outcome::reconciling(
                "WaitingForBackup",
                format!("Backup {} has not completed yet", bref.name),
            ),
            fields: json!({"phase": RestorePhase::Pending})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            action: Action::requeue(POLL),
        })),
    }
}

async fn apply_restore(r: &Restore, ctx: &Ctx, changed: &Condition) -> Result<Step> {
    let ns = r.namespace().unwrap_or_default();
    let status = r.status.clone().unwrap_or_default();
    let spec = acted_on(status.recorded_spec.as_ref(), &r.spec);
    let recorded = |mut s: Step| {
        s.fields.insert("recordedSpec".into(), json!(spec));
        Ok(s)
    };
    match status.phase {
        Some(RestorePhase::Completed) => {
            return recorded(Step {
                outcome: Outcome::ready("RestoreCompleted", "restore completed"),
                fields: Map::new(),
                action: Action::await_change(),
            })
        }
        Some(RestorePhase::Failed) => {
            return recorded(restore_failed(status.error.unwrap_or_default()))
        }
        _ => {}
    }
    if let Err(e) = validate_spec(&spec) {
        return recorded(restore_failed(e.to_string()));
    }
    let mut body = match restore_source(r, &spec, ctx).await? {
        Ok(body) => body,
        Err(step) => return recorded(step),
    };
    body["only"] = json!(spec.only);
    body["dryRun"] = json!(spec.dry_run);
    let tenant = &spec.tenant_ref.name;
    let (_, cp) = ctx.control_plane(&ns, tenant).await?;
    // Running is reported before the call: a restore can take a while.
    let started_at = status.started_at.clone().unwrap_or_else(now);
    let running = json!({"phase": RestorePhase::Running, "startedAt": started_at,
        "recordedSpec": spec, "backupId": body.get("backup")});
    ctx.report(
        RESTORE_KIND,
        r,
        &Outcome::reconciling("RestoreRunning", "the instance is restoring"),
        vec![changed.clone()],
        running.as_object().cloned().unwrap_or_default(),
    )
    .await
    .what(|| format!("write status of {}", object_key(RESTORE_KIND, r)))?;
    match cp.restore(tenant, &body).await {
        Ok(rep) => {
            let what = if spec.dry_run {
                "dry run: nothing changed"
            } else {
                "restored"
            };
            let total: u64 = rep
                .collections
                .iter()
                .map(|c| c.added + c.removed + c.modified)
                .sum();
            let fields = json!({
                "phase": RestorePhase::Completed,
                "backupId": rep.backup,
                "startedAt": started_at,
                "finishedAt": rep.finished_at,
                "restored": rep.restored,
                "report": counts(&rep),
            });
            recorded(Step {
                outcome: Outcome::ready(
                    if spec.dry_run {
                        "DryRunCompleted"
                    } else {
                        "RestoreCompleted"
                    },
                    format!(
                        "{what}: backup {}, {total} records added, removed or modified over {} collections",
                        rep.backup,
                        rep.collections.len()
                    ),
                ),
                fields: fields.as_object().cloned().unwrap_or_default(),
                action: Action::await_change(),
            })
        }
        Err(ClientError::Rejected(m)) => recorded(restore_failed(format!(
            "the instance refused the restore: {m}"
        ))),
        Err(e) => Err(instance_err(e)),
    }
}

pub async fn reconcile_restore(r: Arc<Restore>, ctx: Arc<Ctx>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics
        .reconciles
        .with_label_values(&[RESTORE_KIND])
        .inc();
    let key = object_key(RESTORE_KIND, r.as_ref());
    let status = r.status.clone().unwrap_or_default();
    let changed = spec_changed_condition(
        status.recorded_spec.as_ref(),
        &r.spec,
        r.metadata.generation,
    );
    let res = apply_restore(&r, &ctx, &changed).await;
    let reported = report(
        RESTORE_KIND,
        r.as_ref(),
        &ctx,
        changed,
        &status.conditions,
        &res,
    )
    .await;
    ctx.metrics
        .duration
        .with_label_values(&[RESTORE_KIND])
        .observe(started.elapsed().as_secs_f64());
    match res {
        Ok(step) => {
            reported.what(|| format!("write status of {key}"))?;
            ctx.reset(&key);
            Ok(step.action)
        }
        Err(e) => {
            if let Err(se) = reported {
                tracing::warn!(object = %key, error = %se, "writing status failed");
            }
            Err(e)
        }
    }
}

pub fn error_policy_restore(r: Arc<Restore>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.on_error(RESTORE_KIND, &object_key(RESTORE_KIND, r.as_ref()), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str, pinned: bool) -> BackupSpec {
        serde_json::from_value(json!({"tenantRef": {"name": "acme"}, "pinned": pinned,
            "destination": {"kind": "volume", "volume": {"path": path}}}))
        .unwrap()
    }

    #[test]
    fn the_recorded_spec_is_acted_on_and_an_edit_is_reported() {
        let first = spec("/b", false);
        // First reconcile: nothing recorded, the current spec is recorded and unchanged.
        assert_eq!(acted_on(None, &first), first);
        let c = spec_changed_condition(None, &first, Some(1));
        assert_eq!(c.status, ConditionStatus::False);
        // Edited afterwards: still the recorded one, and the condition says so.
        let edited = spec("/elsewhere", true);
        assert_eq!(acted_on(Some(&first), &edited), first);
        let c = spec_changed_condition(Some(&first), &edited, Some(2));
        assert_eq!(
            (c.status, c.reason.as_str()),
            (ConditionStatus::True, "SpecChanged")
        );
        assert_eq!(c.observed_generation, Some(2));
        assert!(already_said_changed(&[c]));
        let same = spec_changed_condition(Some(&first), &first.clone(), Some(1));
        assert!(!already_said_changed(&[same]));
    }

    #[test]
    fn instance_states_map_to_phases() {
        assert_eq!(phase_of("Pending"), BackupPhase::Pending);
        assert_eq!(phase_of("Running"), BackupPhase::Running);
        assert_eq!(phase_of("Completed"), BackupPhase::Completed);
        assert_eq!(phase_of("Failed"), BackupPhase::Failed);
        assert!(BackupPhase::Completed.is_final() && BackupPhase::Failed.is_final());
        assert!(!BackupPhase::Running.is_final());
    }

    #[test]
    fn a_backup_running_past_the_bound_is_stuck() {
        let now = Utc::now();
        let bound = chrono::Duration::minutes(STUCK_AFTER_MINUTES);
        assert!(!stuck(
            Some(now - bound + chrono::Duration::minutes(1)),
            now
        ));
        assert!(stuck(Some(now - bound - chrono::Duration::minutes(1)), now));
        assert!(!stuck(None, now), "no start time: not judged");
    }

    fn backup(status: Value) -> Backup {
        serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Backup",
            "metadata": {"name": "b", "namespace": "ns"},
            "spec": {"tenantRef": {"name": "acme"}, "destination": {"kind": "volume",
                "volume": {"path": "/b"}}},
            "status": status}))
        .unwrap()
    }

    #[test]
    fn only_completed_backups_with_an_id_are_checked_for_pruning() {
        let done = backup(json!({"phase": "Completed", "backupId": "20261124-x"}));
        assert_eq!(prunable(&done), Some("20261124-x"));
        assert_eq!(
            prunable(&backup(json!({"phase": "Running", "backupId": "i"}))),
            None
        );
        assert_eq!(
            prunable(&backup(json!({"phase": "Failed", "backupId": "i"}))),
            None
        );
        assert_eq!(prunable(&backup(json!({"phase": "Completed"}))), None);
        let mut deleting = done.clone();
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        assert_eq!(prunable(&deleting), None, "already being deleted");
    }

    #[test]
    fn status_fields_mirror_the_instance_without_nulls() {
        let r = InstanceBackup {
            id: "i".into(),
            state: "Completed".into(),
            started_at: Some("2026-11-24T01:00:00Z".into()),
            finished_at: Some("2026-11-24T01:00:02Z".into()),
            size_bytes: Some(1234),
            checksum: Some("sha256:ab".into()),
            location: Some("/b/acme/i.nxbk".into()),
            error: None,
        };
        let f = backup_fields(&r, BackupPhase::Completed);
        assert_eq!(f["phase"], "Completed");
        assert_eq!(f["sizeBytes"], 1234);
        assert_eq!(f["stoppedAt"], "2026-11-24T01:00:02Z");
        assert!(!f.contains_key("error"));
    }
}

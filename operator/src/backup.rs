//! BackupSchedule controller. The operator evaluates the cron expression itself (Kubernetes 1.20
//! has no batch/v1 CronJob): each run is a `Backup` resource the schedule owns, which the
//! Backup controller ([`crate::backups`]) carries out in the instance. A run is never held up
//! by an earlier one still running (a stuck one is failed by the Backup controller after a
//! bound). Retention is the instance's job (the schedule's policy travels with each run); the
//! schedule then removes the `Backup`s whose archive the instance pruned.
//! An S3 destination's credentials Secret is checked (both keys present) on every reconcile.
use std::{str::FromStr, sync::Arc, time::Duration, time::Instant};

use chrono::{DateTime, Utc};
use croner::Cron;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{
    api::{ListParams, ObjectMeta, PostParams},
    runtime::controller::Action,
    Api, Resource, ResourceExt,
};
use nexbii_crds::{
    Backup, BackupMethod, BackupPhase, BackupRecord, BackupSchedule, BackupSpec, DestinationKind,
    LocalRef,
};
use serde_json::{json, Map};

use crate::{
    backups::{self, instance_err},
    conditions::{Outcome, Phase},
    context::{object_key, read_secret, validate_spec, Ctx, Error, KubeContext, Result},
};

pub const KIND: &str = "BackupSchedule";
/// Label on a schedule's `Backup`s naming it.
pub const SCHEDULE_LABEL: &str = "nexbii.io/schedule";
/// How many of its newest backups a schedule's status lists.
pub const RECENT: usize = 5;

/// The next run after `after`, or why the expression is invalid.
pub fn next_run(expr: &str, after: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, String> {
    let cron = Cron::from_str(expr).map_err(|e| e.to_string())?;
    cron.find_next_occurrence(&after, false)
        .map_err(|e| e.to_string())
}

/// What the schedule should do now.
#[derive(Debug, PartialEq, Eq)]
pub struct Due {
    /// A run is due: the time it was due at (names the `Backup`, so a retried reconcile
    /// creates the same one).
    pub run_at: Option<DateTime<Utc>>,
    /// The next run after this one.
    pub next: DateTime<Utc>,
}

/// Whether a run is due. `last` is the last run's due time (none yet: the schedule's
/// creation is the reference, and `immediate` asks for a first run right away). Runs missed
/// while the operator was away are caught up by one run, at the newest missed time.
pub fn due(
    expr: &str,
    created: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
    immediate: bool,
    now: DateTime<Utc>,
) -> std::result::Result<Due, String> {
    if last.is_none() && immediate {
        return Ok(Due {
            run_at: Some(created),
            next: next_run(expr, now)?,
        });
    }
    let mut at = next_run(expr, last.unwrap_or(created))?;
    if at > now {
        return Ok(Due {
            run_at: None,
            next: at,
        });
    }
    // Bounded: a schedule every minute left alone for a week is 10 080 steps.
    for _ in 0..100_000 {
        let n = next_run(expr, at)?;
        if n > now {
            return Ok(Due {
                run_at: Some(at),
                next: n,
            });
        }
        at = n;
    }
    Ok(Due {
        run_at: Some(at),
        next: next_run(expr, now)?,
    })
}

/// The `Backup` of the run due at `at`: `<schedule>-<YYYYMMDDHHMMSS>`, within 63 characters.
pub fn run_name(schedule: &str, at: DateTime<Utc>) -> String {
    let stamp = at.format("%Y%m%d%H%M%S").to_string();
    let room = 63 - stamp.len() - 1;
    let base: String = schedule.chars().take(room).collect();
    format!("{}-{stamp}", base.trim_end_matches('-'))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The schedule's newest backups for its status, newest first.
pub fn recent(backups: &[Backup]) -> Vec<BackupRecord> {
    let mut sorted: Vec<&Backup> = backups.iter().collect();
    sorted.sort_by_key(|b| std::cmp::Reverse(b.creation_timestamp().map(|t| t.0)));
    sorted
        .into_iter()
        .take(RECENT)
        .map(|b| {
            let st = b.status.clone().unwrap_or_default();
            BackupRecord {
                name: b.name_any(),
                started_at: st.started_at.clone().unwrap_or_else(|| {
                    b.creation_timestamp()
                        .map(|t| t.0.to_string())
                        .unwrap_or_default()
                }),
                finished_at: st.stopped_at.clone(),
                size_bytes: st.size_bytes.unwrap_or_default(),
                checksum: st.checksum.clone(),
                location: st.location.clone(),
                outcome: st.phase.unwrap_or(BackupPhase::Pending).as_str().into(),
                message: st.error.clone(),
            }
        })
        .collect()
}

/// When the newest completed backup started (`previous` when that is newer: the backups
/// that proved it may have been pruned since).
pub fn last_successful(backups: &[Backup], previous: Option<&str>) -> Option<String> {
    backups
        .iter()
        .filter_map(|b| b.status.as_ref())
        .filter(|s| s.phase == Some(BackupPhase::Completed))
        .filter_map(|s| s.started_at.as_deref().and_then(parse_time))
        .chain(previous.and_then(parse_time))
        .max()
        .map(rfc3339)
}

fn owner_reference(s: &BackupSchedule) -> OwnerReference {
    OwnerReference {
        api_version: BackupSchedule::api_version(&()).into(),
        kind: KIND.into(),
        name: s.name_any(),
        uid: s.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The `Backup`s this schedule owns.
async fn owned_backups(ctx: &Ctx, s: &BackupSchedule, ns: &str) -> Result<Vec<Backup>> {
    let uid = s.uid().unwrap_or_default();
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), ns);
    let lp = ListParams::default().labels(&format!("{SCHEDULE_LABEL}={}", s.name_any()));
    Ok(api
        .list(&lp)
        .await
        .what(|| format!("list Backups of {KIND} {ns}/{}", s.name_any()))?
        .items
        .into_iter()
        .filter(|b| crate::context::controller_uid(&b.metadata) == Some(uid.as_str()))
        .collect())
}

/// Creates the `Backup` of one run; an existing one of the same name is that run already.
async fn start_run(ctx: &Ctx, s: &BackupSchedule, ns: &str, at: DateTime<Utc>) -> Result<String> {
    let name = run_name(&s.name_any(), at);
    let b = Backup {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.into()),
            labels: Some(
                [
                    (SCHEDULE_LABEL.to_string(), s.name_any()),
                    (
                        "app.kubernetes.io/managed-by".to_string(),
                        crate::builders::FIELD_MANAGER.to_string(),
                    ),
                ]
                .into(),
            ),
            owner_references: Some(vec![owner_reference(s)]),
            ..Default::default()
        },
        spec: BackupSpec {
            tenant_ref: s.spec.tenant_ref.clone(),
            method: BackupMethod::Schedule,
            schedule_ref: Some(LocalRef { name: s.name_any() }),
            destination: s.spec.destination.clone(),
            pinned: false,
        },
        status: None,
    };
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), ns);
    match api.create(&PostParams::default(), &b).await {
        Ok(_) => {
            ctx.event(
                s,
                false,
                "BackupScheduled",
                format!("created Backup {name} (due at {})", rfc3339(at)),
            )
            .await;
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e).what(|| format!("create Backup {ns}/{name}")),
    }
    Ok(name)
}

/// Removes the `Backup`s whose archive the instance no longer has (its retention pruned
/// them). Best effort: an instance that cannot be asked now is asked on a later reconcile.
async fn drop_pruned(ctx: &Ctx, s: &BackupSchedule, ns: &str, backups: &mut Vec<Backup>) {
    let tenant = &s.spec.tenant_ref.name;
    let candidates: Vec<(String, String)> = backups
        .iter()
        .filter_map(|b| backups::prunable(b).map(|id| (b.name_any(), id.to_string())))
        .collect();
    if candidates.is_empty() {
        return;
    }
    let cp = match ctx.control_plane(ns, tenant).await {
        Ok((_, cp)) => cp,
        Err(e) => {
            tracing::debug!(schedule = %s.name_any(), error = %e, "pruned backups not checked");
            return;
        }
    };
    for (name, id) in candidates {
        match cp.get_backup(tenant, &id).await {
            Ok(None) => {
                if backups::delete_pruned(ctx, ns, &name, &id).await.is_ok() {
                    backups.retain(|b| b.name_any() != name);
                }
            }
            Ok(Some(_)) => {}
            Err(e) => {
                tracing::debug!(backup = %name, error = %instance_err(e), "backup not checked");
                return;
            }
        }
    }
}

async fn reconcile_inner(
    s: &BackupSchedule,
    ctx: &Ctx,
) -> Result<(Outcome, Map<String, serde_json::Value>, Action)> {
    let ns = s.namespace().unwrap_or_default();
    if s.spec.suspend {
        let fields = json!({"nextScheduleTime": null});
        return Ok((
            Outcome::suspended(),
            fields.as_object().cloned().unwrap_or_default(),
            Action::await_change(),
        ));
    }
    validate_spec(&s.spec)?;
    let now = Utc::now();
    next_run(&s.spec.schedule, now).map_err(|e| Error::Stalled {
        reason: "InvalidSchedule",
        message: format!("{:?}: {e}", s.spec.schedule),
    })?;
    // Credentials are checked now (the values are not kept), so a missing Secret or key is
    // reported before any backup would need it; the Secret watch re-checks on every change.
    if let (DestinationKind::S3, Some(s3)) = (&s.spec.destination.kind, &s.spec.destination.s3) {
        for key in backups::S3_KEYS {
            read_secret(&ctx.client, &ns, &s3.credentials_secret_ref.name, key).await?;
        }
    }
    let status = s.status.clone().unwrap_or_default();
    let mut backups = owned_backups(ctx, s, &ns).await?;
    drop_pruned(ctx, s, &ns, &mut backups).await;
    let created = s
        .creation_timestamp()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.0.as_second(), 0))
        .unwrap_or(now);
    let last = status.last_schedule_time.as_deref().and_then(parse_time);
    let d = due(&s.spec.schedule, created, last, s.spec.immediate, now).map_err(|e| {
        Error::Stalled {
            reason: "InvalidSchedule",
            message: format!("{:?}: {e}", s.spec.schedule),
        }
    })?;
    let mut last_time = status.last_schedule_time.clone();
    let mut message = format!("next backup at {}", rfc3339(d.next));
    if let Some(at) = d.run_at {
        let name = start_run(ctx, s, &ns, at).await?;
        last_time = Some(rfc3339(at));
        message = format!("started Backup {name}; {message}");
        backups = owned_backups(ctx, s, &ns).await?;
    }
    let fields = json!({
        "lastScheduleTime": last_time,
        "nextScheduleTime": rfc3339(d.next),
        "lastSuccessfulTime": last_successful(&backups, status.last_successful_time.as_deref()),
        "recentBackups": recent(&backups),
    });
    // Wake at the next run (the owned Backups' changes wake it in between).
    let wait = (d.next - Utc::now())
        .to_std()
        .unwrap_or_default()
        .min(ctx.settings.resync)
        + Duration::from_millis(500);
    Ok((
        Outcome::ready("Scheduled", message),
        fields.as_object().cloned().unwrap_or_default(),
        Action::requeue(wait),
    ))
}

pub async fn reconcile(b: Arc<BackupSchedule>, ctx: Arc<Ctx>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciles.with_label_values(&[KIND]).inc();
    let key = object_key(KIND, b.as_ref());
    let res = reconcile_inner(&b, &ctx).await;
    let (outcome, fields) = match &res {
        Ok((o, f, _)) => (o.clone(), f.clone()),
        Err(e) => (e.outcome(), Map::new()),
    };
    let reported = ctx.report(KIND, b.as_ref(), &outcome, vec![], fields).await;
    ctx.metrics
        .duration
        .with_label_values(&[KIND])
        .observe(started.elapsed().as_secs_f64());
    match res {
        Ok((o, _, action)) => {
            reported.what(|| format!("write status of {key}"))?;
            ctx.reset(&key);
            Ok(if o.phase == Phase::Suspended {
                Action::await_change()
            } else {
                action
            })
        }
        Err(e) => {
            if let Err(se) = reported {
                tracing::warn!(object = %key, error = %se, "writing status failed");
            }
            Err(e)
        }
    }
}

pub fn error_policy(b: Arc<BackupSchedule>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.on_error(KIND, &object_key(KIND, b.as_ref()), err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).unwrap()
    }

    #[test]
    fn next_run_follows_the_expression() {
        let at = t(3, 0, 0);
        assert_eq!(
            next_run("0 2 * * *", at).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap()
        );
        assert_eq!(next_run("*/15 * * * *", at).unwrap(), t(3, 15, 0));
        assert!(next_run("61 * * * *", at).is_err());
        assert!(next_run("not a cron", at).is_err());
    }

    #[test]
    fn immediate_runs_once_at_creation_then_follows_the_cron() {
        let created = t(3, 7, 12);
        let d = due("0 * * * *", created, None, true, t(3, 7, 13)).unwrap();
        assert_eq!(d.run_at, Some(created));
        assert_eq!(d.next, t(4, 0, 0));
        // Once that run is recorded it is not repeated.
        let d = due("0 * * * *", created, Some(created), true, t(3, 30, 0)).unwrap();
        assert_eq!(d.run_at, None);
        assert_eq!(d.next, t(4, 0, 0));
        // Without `immediate` nothing runs before the first tick.
        let d = due("0 * * * *", created, None, false, t(3, 7, 13)).unwrap();
        assert_eq!(
            d,
            Due {
                run_at: None,
                next: t(4, 0, 0)
            }
        );
    }

    #[test]
    fn a_due_tick_runs_once_and_missed_ticks_are_caught_up_by_one_run() {
        let created = t(1, 0, 30);
        let d = due("*/10 * * * *", created, None, false, t(1, 10, 2)).unwrap();
        assert_eq!(d.run_at, Some(t(1, 10, 0)));
        assert_eq!(d.next, t(1, 20, 0));
        // The operator was away for an hour: one run, for the newest missed tick.
        let d = due(
            "*/10 * * * *",
            created,
            Some(t(1, 10, 0)),
            false,
            t(2, 15, 0),
        )
        .unwrap();
        assert_eq!(d.run_at, Some(t(2, 10, 0)));
        assert_eq!(d.next, t(2, 20, 0));
        // Exactly at the tick counts as due.
        let d = due(
            "*/10 * * * *",
            created,
            Some(t(2, 10, 0)),
            false,
            t(2, 20, 0),
        )
        .unwrap();
        assert_eq!(d.run_at, Some(t(2, 20, 0)));
    }

    #[test]
    fn run_names_are_valid_and_stable() {
        assert_eq!(run_name("nightly", t(2, 0, 0)), "nightly-20261124020000");
        let long = format!("{}-x", "a".repeat(60));
        let n = run_name(&long, t(2, 0, 0));
        assert!(n.len() <= 63, "{n}");
        assert!(!n.contains("--"), "{n}");
        assert_eq!(n, run_name(&long, t(2, 0, 0)));
        // A cut that would end in '-' drops it.
        let dashy = format!("{}-bbbb", "a".repeat(47));
        assert_eq!(
            run_name(&dashy, t(2, 0, 0)),
            format!("{}-20261124020000", "a".repeat(47))
        );
    }

    fn backup(name: &str, created: DateTime<Utc>, phase: BackupPhase, started: &str) -> Backup {
        let mut b: Backup = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
            "kind": "Backup", "metadata": {"name": name, "namespace": "ns",
                "creationTimestamp": rfc3339(created)},
            "spec": {"tenantRef": {"name": "acme"}, "destination": {"kind": "volume",
                "volume": {"path": "/b"}}},
            "status": {"phase": phase, "startedAt": started, "sizeBytes": 10}}))
        .unwrap();
        b.metadata.generation = Some(1);
        b
    }

    #[test]
    fn status_lists_the_newest_backups_and_the_last_success() {
        let bs: Vec<Backup> = (0..7)
            .map(|i| {
                let phase = if i == 6 {
                    BackupPhase::Failed
                } else {
                    BackupPhase::Completed
                };
                backup(&format!("b{i}"), t(1, i, 0), phase, &rfc3339(t(1, i, 1)))
            })
            .collect();
        let r = recent(&bs);
        assert_eq!(
            r.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
            ["b6", "b5", "b4", "b3", "b2"]
        );
        assert_eq!(r[0].outcome, "Failed");
        assert_eq!(r[1].size_bytes, 10);
        // The failed one does not count; a newer success remembered before stays.
        assert_eq!(last_successful(&bs, None), Some(rfc3339(t(1, 5, 1))));
        assert_eq!(
            last_successful(&bs, Some(&rfc3339(t(5, 0, 0)))),
            Some(rfc3339(t(5, 0, 0)))
        );
        assert_eq!(last_successful(&[], None), None);
    }
}

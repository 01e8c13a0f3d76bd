//! BackupSchedule controller. The operator evaluates the cron expression itself (Kubernetes 1.20
//! has no batch/v1 CronJob). The control plane has no backup API yet, so a valid schedule is
//! reported as Stalled with that reason and the next time it would run — never as a fake success.
use std::{str::FromStr, sync::Arc, time::Instant};

use croner::Cron;
use kube::runtime::controller::Action;
use nexbii_crds::BackupSchedule;
use serde_json::json;

use crate::{
    conditions::{merge, triple, Phase},
    context::{object_key, patch_status, validate_spec, Ctx, Error, Result},
};

pub const KIND: &str = "BackupSchedule";

/// The next run after now, or why the expression is invalid.
pub fn next_run(
    expr: &str,
    after: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<chrono::DateTime<chrono::Utc>, String> {
    let cron = Cron::from_str(expr).map_err(|e| e.to_string())?;
    cron.find_next_occurrence(&after, false)
        .map_err(|e| e.to_string())
}

async fn reconcile_inner(b: &BackupSchedule, ctx: &Ctx) -> Result<Action> {
    validate_spec(&b.spec)?;
    let next = next_run(&b.spec.schedule, chrono::Utc::now()).map_err(|e| Error::Stalled {
        reason: "InvalidSchedule",
        message: format!("{:?}: {e}", b.spec.schedule),
    })?;
    let (phase, reason, message) = if b.spec.suspend {
        (
            Phase::Ready,
            "Suspended",
            "schedule suspended; no backups are triggered".to_string(),
        )
    } else {
        (
            Phase::Stalled,
            "BackupApiUnavailable",
            format!("schedule is valid (next run {}), but the control plane has no backup API yet; no backup was taken", next.to_rfc3339()),
        )
    };
    let old = b
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    if old
        .iter()
        .find(|c| c.type_ == "Stalled")
        .map(|c| c.reason.as_str())
        != Some(reason)
    {
        ctx.event(b, phase == Phase::Stalled, reason, message.clone())
            .await;
    }
    let gen = b.metadata.generation;
    patch_status(&ctx.client, b, json!({"conditions": merge(&old, triple(phase, reason, &message, gen)), "observedGeneration": gen})).await?;
    Ok(Action::requeue(ctx.settings.resync))
}

pub async fn reconcile(b: Arc<BackupSchedule>, ctx: Arc<Ctx>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciles.with_label_values(&[KIND]).inc();
    let res = reconcile_inner(&b, &ctx).await;
    ctx.metrics
        .duration
        .with_label_values(&[KIND])
        .observe(started.elapsed().as_secs_f64());
    match &res {
        Ok(_) => ctx.reset(&object_key(KIND, b.as_ref())),
        Err(Error::Stalled { reason, message }) => {
            ctx.event(b.as_ref(), true, reason, message.clone()).await;
            let old = b
                .status
                .as_ref()
                .map(|s| s.conditions.clone())
                .unwrap_or_default();
            let gen = b.metadata.generation;
            let _ = patch_status(&ctx.client, b.as_ref(), json!({"conditions": merge(&old, triple(Phase::Stalled, reason, message, gen)), "observedGeneration": gen})).await;
        }
        Err(_) => {}
    }
    res
}

pub fn error_policy(b: Arc<BackupSchedule>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.on_error(KIND, &object_key(KIND, b.as_ref()), err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_run_follows_the_expression() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
        assert_eq!(
            next_run("0 2 * * *", at).unwrap(),
            chrono::Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap()
        );
        assert_eq!(
            next_run("*/15 * * * *", at).unwrap(),
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 24, 3, 15, 0)
                .unwrap()
        );
        assert!(next_run("61 * * * *", at).is_err());
        assert!(next_run("not a cron", at).is_err());
    }
}

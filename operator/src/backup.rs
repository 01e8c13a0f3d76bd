//! BackupSchedule controller. The operator evaluates the cron expression itself (Kubernetes 1.20
//! has no batch/v1 CronJob). The control plane has no backup API yet, so a valid schedule is
//! reported as Stalled with that reason and the next time it would run — never as a fake success.
//! An S3 destination's credentials Secret is checked (both keys present) on every reconcile.
use std::{str::FromStr, sync::Arc, time::Instant};

use croner::Cron;
use kube::{runtime::controller::Action, ResourceExt};
use nexbii_crds::{BackupSchedule, DestinationKind};
use serde_json::Map;

use crate::{
    conditions::{Outcome, Phase},
    context::{object_key, read_secret, validate_spec, Ctx, Error, KubeContext, Result},
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

/// Keys an S3 destination's credentials Secret must hold.
pub const S3_KEYS: [&str; 2] = ["accessKeyId", "secretAccessKey"];

async fn reconcile_inner(b: &BackupSchedule, ctx: &Ctx) -> Result<Outcome> {
    if b.spec.suspend {
        return Ok(Outcome::suspended());
    }
    validate_spec(&b.spec)?;
    let next = next_run(&b.spec.schedule, chrono::Utc::now()).map_err(|e| Error::Stalled {
        reason: "InvalidSchedule",
        message: format!("{:?}: {e}", b.spec.schedule),
    })?;
    // Credentials are checked now (the values are not kept), so a missing Secret or key is
    // reported before any backup would need it; the Secret watch re-checks on every change.
    if let (DestinationKind::S3, Some(s3)) = (&b.spec.destination.kind, &b.spec.destination.s3) {
        let ns = b.namespace().unwrap_or_default();
        for key in S3_KEYS {
            read_secret(&ctx.client, &ns, &s3.credentials_secret_ref.name, key).await?;
        }
    }
    Ok(Outcome::stalled(
        "BackupApiUnavailable",
        format!("schedule is valid (next run {}), but the control plane has no backup API yet; no backup was taken", next.to_rfc3339()),
    ))
}

pub async fn reconcile(b: Arc<BackupSchedule>, ctx: Arc<Ctx>) -> Result<Action> {
    let started = Instant::now();
    ctx.metrics.reconciles.with_label_values(&[KIND]).inc();
    let key = object_key(KIND, b.as_ref());
    let res = reconcile_inner(&b, &ctx).await;
    let outcome = match &res {
        Ok(o) => o.clone(),
        Err(e) => e.outcome(),
    };
    let reported = ctx
        .report(KIND, b.as_ref(), &outcome, vec![], Map::new())
        .await;
    ctx.metrics
        .duration
        .with_label_values(&[KIND])
        .observe(started.elapsed().as_secs_f64());
    match res {
        Ok(o) => {
            reported.what(|| format!("write status of {key}"))?;
            ctx.reset(&key);
            Ok(if o.phase == Phase::Suspended {
                Action::await_change()
            } else {
                // The next run time in the message moves on.
                Action::requeue(ctx.settings.resync)
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

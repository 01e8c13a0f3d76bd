//! Status conditions in the Kubernetes shape: a transition time changes only when the status does.
use nexbii_crds::{Condition, ConditionStatus};

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn cond(
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    let mut message = message.into();
    if message.is_empty() {
        // Kubernetes 1.20 turns an empty string in a status patch into null and then rejects it.
        message = reason.to_string();
    }
    Condition {
        type_: type_.into(),
        status: if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        observed_generation: generation,
        last_transition_time: now(),
        reason: reason.into(),
        message,
    }
}

/// Merges `new` into `old`, keeping `lastTransitionTime` of conditions whose status is unchanged.
pub fn merge(old: &[Condition], new: Vec<Condition>) -> Vec<Condition> {
    new.into_iter()
        .map(|mut c| {
            if let Some(prev) = old.iter().find(|o| o.type_ == c.type_) {
                if prev.status == c.status {
                    c.last_transition_time = prev.last_transition_time.clone();
                }
            }
            c
        })
        .collect()
}

/// The Ready / Reconciling / Stalled triple (Stackable / kstatus conventions).
pub fn triple(
    state: Phase,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Vec<Condition> {
    vec![
        cond("Ready", state == Phase::Ready, reason, message, generation),
        cond(
            "Reconciling",
            state == Phase::Reconciling,
            reason,
            message,
            generation,
        ),
        cond(
            "Stalled",
            state == Phase::Stalled,
            reason,
            message,
            generation,
        ),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Ready,
    Reconciling,
    Stalled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let mut old = triple(Phase::Reconciling, "Waiting", "", Some(1));
        old[0].last_transition_time = "2020-01-01T00:00:00Z".into();
        old[1].last_transition_time = "2020-01-01T00:00:00Z".into();
        let merged = merge(&old, triple(Phase::Ready, "Ready", "", Some(2)));
        assert_ne!(
            merged[0].last_transition_time, "2020-01-01T00:00:00Z",
            "Ready flipped"
        );
        assert_ne!(
            merged[1].last_transition_time, "2020-01-01T00:00:00Z",
            "Reconciling flipped"
        );
        assert_eq!(merged[2].status, ConditionStatus::False);
        assert_eq!(merged[0].observed_generation, Some(2));
        let again = merge(&merged, triple(Phase::Ready, "Ready", "", Some(2)));
        assert_eq!(
            again[0].last_transition_time,
            merged[0].last_transition_time
        );
    }
}

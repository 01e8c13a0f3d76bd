//! Status conditions, computed in one place for every kind: what a reconcile found (an
//! [`Outcome`]) becomes the Ready / Reconciling / Stalled triple (kstatus conventions), a
//! `Suspended` condition while `spec.suspend` is set, and whatever kind-specific conditions the
//! caller adds (`Synced`). A transition time changes only when the status does.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Ready,
    Reconciling,
    Stalled,
    /// `spec.suspend` is set: the operator leaves the object alone.
    Suspended,
}

/// What one reconcile found, whatever the kind and whatever went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub phase: Phase,
    pub reason: String,
    pub message: String,
    /// Reported as a Warning Event (failures, and waiting on something that is broken).
    pub warning: bool,
}

impl Outcome {
    pub fn ready(reason: &str, message: impl Into<String>) -> Self {
        Self::new(Phase::Ready, reason, message, false)
    }
    pub fn reconciling(reason: &str, message: impl Into<String>) -> Self {
        Self::new(Phase::Reconciling, reason, message, false)
    }
    /// Still being retried, but because something failed.
    pub fn retrying(reason: &str, message: impl Into<String>) -> Self {
        Self::new(Phase::Reconciling, reason, message, true)
    }
    pub fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Self::new(Phase::Stalled, reason, message, true)
    }
    pub fn suspended() -> Self {
        Self::new(
            Phase::Suspended,
            SUSPENDED,
            "spec.suspend is true: the operator changes and deletes nothing for this object",
            false,
        )
    }
    fn new(phase: Phase, reason: &str, message: impl Into<String>, warning: bool) -> Self {
        Self {
            phase,
            reason: reason.into(),
            message: message.into(),
            warning,
        }
    }
}

pub const SUSPENDED: &str = "Suspended";

/// The conditions to write: `old` with the outcome's (and `extra`) upserted by type; condition
/// types this report does not produce are kept as they were.
pub fn conditions(
    old: &[Condition],
    outcome: &Outcome,
    generation: Option<i64>,
    extra: Vec<Condition>,
) -> Vec<Condition> {
    let (r, m) = (outcome.reason.as_str(), outcome.message.as_str());
    let mut new = Vec::new();
    match outcome.phase {
        Phase::Suspended => {
            // Readiness is not re-checked while suspended: keep the last known Ready.
            if !old.iter().any(|c| c.type_ == "Ready") {
                new.push(cond("Ready", false, r, m, generation));
            }
            new.push(cond("Reconciling", false, r, m, generation));
            new.push(cond("Stalled", false, r, m, generation));
            new.push(cond(SUSPENDED, true, r, m, generation));
        }
        phase => {
            new.push(cond("Ready", phase == Phase::Ready, r, m, generation));
            new.push(cond(
                "Reconciling",
                phase == Phase::Reconciling,
                r,
                m,
                generation,
            ));
            new.push(cond("Stalled", phase == Phase::Stalled, r, m, generation));
            if old.iter().any(|c| c.type_ == SUSPENDED) {
                new.push(cond(
                    SUSPENDED,
                    false,
                    "Resumed",
                    "spec.suspend is false: reconciling again",
                    generation,
                ));
            }
        }
    }
    new.extend(extra);
    let mut out: Vec<Condition> = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.type_ == o.type_))
        .cloned()
        .collect();
    for mut c in new {
        if let Some(prev) = old.iter().find(|o| o.type_ == c.type_) {
            if prev.status == c.status {
                c.last_transition_time = prev.last_transition_time.clone();
            }
        }
        out.push(c);
    }
    out.sort_by_key(|c| order(&c.type_));
    out
}

/// A fixed order, so an unchanged status serializes identically and needs no write.
fn order(type_: &str) -> (u8, String) {
    let rank = match type_ {
        "Ready" => 0,
        "Reconciling" => 1,
        "Stalled" => 2,
        SUSPENDED => 3,
        "Synced" => 4,
        _ => 5,
    };
    (rank, type_.to_string())
}

/// What the last report said: the first True condition of the triple or `Suspended`, with its
/// reason. Used to publish one Event per change rather than one per reconcile.
pub fn reported(old: &[Condition]) -> Option<(String, String)> {
    [SUSPENDED, "Stalled", "Reconciling", "Ready"]
        .iter()
        .find_map(|t| {
            old.iter()
                .find(|c| c.type_ == *t && c.status == ConditionStatus::True)
        })
        .map(|c| (c.type_.clone(), c.reason.clone()))
}

/// The condition type an outcome sets True.
pub fn phase_type(phase: Phase) -> &'static str {
    match phase {
        Phase::Ready => "Ready",
        Phase::Reconciling => "Reconciling",
        Phase::Stalled => "Stalled",
        Phase::Suspended => SUSPENDED,
    }
}

/// Whether this outcome deserves an Event: it differs from what was last reported, or it is the
/// first report for this generation.
pub fn needs_event(
    old: &[Condition],
    old_generation: Option<i64>,
    outcome: &Outcome,
    generation: Option<i64>,
) -> bool {
    let now = (
        phase_type(outcome.phase).to_string(),
        outcome.reason.clone(),
    );
    reported(old) != Some(now) || old_generation != generation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(c: &'a [Condition], t: &str) -> &'a Condition {
        c.iter().find(|x| x.type_ == t).unwrap()
    }

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let mut old = conditions(&[], &Outcome::reconciling("Waiting", ""), Some(1), vec![]);
        for c in &mut old {
            c.last_transition_time = "2020-01-01T00:00:00Z".into();
        }
        let merged = conditions(&old, &Outcome::ready("Ready", ""), Some(2), vec![]);
        assert_ne!(
            find(&merged, "Ready").last_transition_time,
            "2020-01-01T00:00:00Z",
            "Ready flipped"
        );
        assert_ne!(
            find(&merged, "Reconciling").last_transition_time,
            "2020-01-01T00:00:00Z"
        );
        assert_eq!(
            find(&merged, "Stalled").last_transition_time,
            "2020-01-01T00:00:00Z",
            "Stalled stayed False"
        );
        assert_eq!(find(&merged, "Ready").observed_generation, Some(2));
        let again = conditions(&merged, &Outcome::ready("Ready", ""), Some(2), vec![]);
        assert_eq!(again, merged, "the same outcome twice is the same status");
    }

    #[test]
    fn suspension_keeps_readiness_and_resuming_is_recorded() {
        let ready = conditions(&[], &Outcome::ready("InstanceReady", "up"), Some(1), vec![]);
        let s = conditions(&ready, &Outcome::suspended(), Some(2), vec![]);
        assert_eq!(
            find(&s, "Ready").status,
            ConditionStatus::True,
            "last known"
        );
        assert_eq!(find(&s, SUSPENDED).status, ConditionStatus::True);
        assert_eq!(find(&s, SUSPENDED).reason, SUSPENDED);
        assert_eq!(find(&s, "Reconciling").status, ConditionStatus::False);
        assert_eq!(reported(&s), Some((SUSPENDED.into(), SUSPENDED.into())));
        // Suspended from the start: Ready is False, never missing.
        let fresh = conditions(&[], &Outcome::suspended(), Some(1), vec![]);
        assert_eq!(find(&fresh, "Ready").status, ConditionStatus::False);
        let resumed = conditions(&s, &Outcome::reconciling("Applying", "x"), Some(3), vec![]);
        assert_eq!(find(&resumed, SUSPENDED).status, ConditionStatus::False);
        assert_eq!(find(&resumed, SUSPENDED).reason, "Resumed");
        // A never-suspended object carries no Suspended condition at all.
        assert!(!ready.iter().any(|c| c.type_ == SUSPENDED));
    }

    #[test]
    fn extra_conditions_and_events_per_change() {
        let synced = cond("Synced", true, "Synced", "pushed", Some(1));
        let a = conditions(&[], &Outcome::ready("Synced", ""), Some(1), vec![synced]);
        assert_eq!(
            a.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(),
            ["Ready", "Reconciling", "Stalled", "Synced"]
        );
        // Suspending keeps Synced as it was.
        let s = conditions(&a, &Outcome::suspended(), Some(2), vec![]);
        assert_eq!(find(&s, "Synced").status, ConditionStatus::True);
        assert!(needs_event(
            &[],
            None,
            &Outcome::ready("Synced", ""),
            Some(1)
        ));
        assert!(!needs_event(
            &a,
            Some(1),
            &Outcome::ready("Synced", ""),
            Some(1)
        ));
        assert!(needs_event(
            &a,
            Some(1),
            &Outcome::ready("Synced", ""),
            Some(2)
        ));
        assert!(needs_event(
            &a,
            Some(1),
            &Outcome::stalled("SecretNotFound", "x"),
            Some(1)
        ));
    }
}

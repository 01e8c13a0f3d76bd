//! Approval decisions as pure functions: who may decide a request, what a decision does to it,
//! when it expires, and what an approval lets run.
use chrono::{DateTime, Duration, Utc};
use nexbii_crds::ApprovalRule;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::{ApprovalRecord, ApprovalStatus, Decision, Level, Verdict};
use crate::auth::Role;

/// The ordered levels a rule asks for.
pub fn levels_for(rule: &ApprovalRule) -> Vec<Level> {
    if !rule.steps.is_empty() {
        return rule
            .steps
            .iter()
            .map(|s| Level {
                approvers: s.approvers.clone(),
                required: s.required.max(1),
            })
            .collect();
    }
    (0..rule.levels.max(1))
        .map(|_| Level {
            approvers: rule.approvers.clone(),
            required: 1,
        })
        .collect()
}

/// Whether `user` (with `role`) is named by an approver entry; `role:x` includes higher roles.
pub fn is_approver(entries: &[String], user: &str, role: Role) -> bool {
    entries.iter().any(|e| match e.strip_prefix("role:") {
        Some(r) => serde_json::from_value::<Role>(Value::String(r.to_string()))
            .is_ok_and(|needed| role >= needed),
        None => e == user,
    })
}

/// Why a caller may not decide a request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the request is {0}, not pending")]
    NotPending(&'static str),
    #[error("the requester cannot decide their own request")]
    OwnRequest,
    #[error("not an approver of level {0}")]
    NotApprover(usize),
    #[error("already decided at level {0}")]
    AlreadyDecided(usize),
    #[error("a decision needs a comment")]
    NoComment,
}

fn status_name(s: ApprovalStatus) -> &'static str {
    match s {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved => "approved",
        ApprovalStatus::Rejected => "rejected",
        ApprovalStatus::Cancelled => "cancelled",
        ApprovalStatus::Expired => "expired",
    }
}

pub fn may_decide(rec: &ApprovalRecord, user: &str, role: Role) -> Result<(), Refusal> {
    if rec.status != ApprovalStatus::Pending {
        return Err(Refusal::NotPending(status_name(rec.status)));
    }
    if rec.requester == user {
        return Err(Refusal::OwnRequest);
    }
    let level = rec.current_level;
    let entries = &rec.levels[level].approvers;
    if !is_approver(entries, user, role) {
        return Err(Refusal::NotApprover(level));
    }
    // One person, one decision per request: a later level needs someone else too.
    if rec.decisions.iter().any(|d| d.by == user) {
        return Err(Refusal::AlreadyDecided(level));
    }
    Ok(())
}

/// Records a decision (checked with [`may_decide`] first): a rejection ends the request; an
/// approval completes the level when it has enough, and the last level approves the request.
pub fn decide(
    rec: &mut ApprovalRecord,
    by: &str,
    verdict: Verdict,
    comment: &str,
    now: DateTime<Utc>,
    valid_for: Duration,
) {
    let level = rec.current_level;
    rec.decisions.push(Decision {
        level,
        by: by.to_string(),
        verdict,
        comment: comment.to_string(),
        at: now,
    });
    if verdict == Verdict::Reject {
        rec.status = ApprovalStatus::Rejected;
        return;
    }
    let approvals = rec
        .decisions
        .iter()
        .filter(|d| d.level == level && d.verdict == Verdict::Approve)
        .count();
    if approvals >= rec.levels[level].required as usize {
        rec.current_level += 1;
        if rec.current_level == rec.levels.len() {
            rec.status = ApprovalStatus::Approved;
            rec.valid_until = Some(now + valid_for);
        }
    }
}

/// Expires an undecided request whose time is up; `true` when it changed.
pub fn expire_if_due(rec: &mut ApprovalRecord, now: DateTime<Utc>) -> bool {
    if rec.status == ApprovalStatus::Pending && now >= rec.expires_at {
        rec.status = ApprovalStatus::Expired;
        return true;
    }
    false
}

/// Whether an approved query request still lets its statement run.
pub fn grants(rec: &ApprovalRecord, now: DateTime<Utc>) -> bool {
    rec.status == ApprovalStatus::Approved && rec.valid_until.is_some_and(|t| now < t)
}

/// What an approval is for: the source, the exact statement and the exact parameters.
pub fn fingerprint(source: &str, sql: &str, params: &[Value]) -> String {
    digest(&[source, sql, &Value::Array(params.to_vec()).to_string()])
}

/// A digest of length-prefixed parts (no two part lists share one). Each kind of action
/// starts with its own tag, so an approval for one kind never grants another.
pub fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

pub fn export_fingerprint(source: &str, sql: &str, params: &[Value], format: &str) -> String {
    digest(&[
        "export",
        source,
        sql,
        &Value::Array(params.to_vec()).to_string(),
        format,
    ])
}

/// `spec` is serialised by serde_json from a struct, so its field order is stable.
pub fn datasource_fingerprint(name: &str, spec: &Value) -> String {
    digest(&["datasource", name, &spec.to_string()])
}

pub fn share_fingerprint(resource: &str, options: &Value) -> String {
    digest(&["share", resource, &options.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::approvals::model::ApprovalSubject;

    fn request(levels: Vec<Level>) -> ApprovalRecord {
        ApprovalRecord {
            id: "a1".into(),
            subject: ApprovalSubject::DashboardPublication {
                dashboard: "d".into(),
                spec_digest: "x".into(),
            },
            requester: "ann".into(),
            reason: None,
            status: ApprovalStatus::Pending,
            levels,
            current_level: 0,
            decisions: vec![],
            expires_at: Utc::now() + Duration::hours(1),
            valid_until: None,
            meta: Default::default(),
        }
    }

    fn level(approvers: &[&str], required: u8) -> Level {
        Level {
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
            required,
        }
    }

    #[test]
    fn levels_are_decided_in_order_by_their_approvers() {
        let mut r = request(vec![level(&["role:editor"], 2), level(&["carol"], 1)]);
        let now = Utc::now();
        assert_eq!(may_decide(&r, "ann", Role::Admin), Err(Refusal::OwnRequest));
        assert_eq!(
            may_decide(&r, "vic", Role::Viewer),
            Err(Refusal::NotApprover(0))
        );
        assert!(may_decide(&r, "bob", Role::Editor).is_ok());
        decide(
            &mut r,
            "bob",
            Verdict::Approve,
            "ok",
            now,
            Duration::hours(1),
        );
        assert_eq!(r.current_level, 0, "level 0 needs two approvals");
        assert_eq!(
            may_decide(&r, "bob", Role::Editor),
            Err(Refusal::AlreadyDecided(0))
        );
        decide(
            &mut r,
            "dan",
            Verdict::Approve,
            "ok",
            now,
            Duration::hours(1),
        );
        assert_eq!((r.current_level, r.status), (1, ApprovalStatus::Pending));
        assert_eq!(
            may_decide(&r, "dan", Role::Admin),
            Err(Refusal::NotApprover(1)),
            "carol decides level 1"
        );
        decide(
            &mut r,
            "carol",
            Verdict::Approve,
            "fine",
            now,
            Duration::hours(2),
        );
        assert_eq!(r.status, ApprovalStatus::Approved);
        assert!(grants(&r, now) && !grants(&r, now + Duration::hours(3)));
        assert_eq!(
            may_decide(&r, "eve", Role::Admin),
            Err(Refusal::NotPending("approved"))
        );
    }

    #[test]
    fn a_rejection_ends_the_request_and_time_expires_it() {
        let mut r = request(vec![level(&["role:admin"], 1)]);
        decide(
            &mut r,
            "root",
            Verdict::Reject,
            "no",
            Utc::now(),
            Duration::hours(1),
        );
        assert_eq!(r.status, ApprovalStatus::Rejected);
        assert!(!grants(&r, Utc::now()));
        let mut late = request(vec![level(&["role:admin"], 1)]);
        assert!(!expire_if_due(&mut late, Utc::now()));
        assert!(expire_if_due(&mut late, Utc::now() + Duration::hours(2)));
        assert_eq!(late.status, ApprovalStatus::Expired);
    }

    #[test]
    fn rules_become_levels_and_fingerprints_bind_statement_and_parameters() {
        let rule: ApprovalRule =
            serde_json::from_value(serde_json::json!({"levels": 2, "approvers": ["role:admin"]}))
                .unwrap();
        assert_eq!(levels_for(&rule).len(), 2);
        assert_eq!((rule.expires_after_hours, rule.valid_for_hours), (72, 24));
        let a = fingerprint("s", "SELECT 1 WHERE x = ?", &[serde_json::json!(1)]);
        assert_ne!(
            a,
            fingerprint("s", "SELECT 1 WHERE x = ?", &[serde_json::json!(2)])
        );
        assert_ne!(
            a,
            fingerprint("t", "SELECT 1 WHERE x = ?", &[serde_json::json!(1)])
        );
        assert!(is_approver(&["role:editor".into()], "x", Role::Admin));
        assert!(!is_approver(&["role:admin".into()], "x", Role::Editor));
        assert!(!is_approver(&["role:nonsense".into()], "x", Role::Admin));
    }
}

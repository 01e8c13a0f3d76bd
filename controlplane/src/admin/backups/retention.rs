//! Retention: which completed backups to remove. The decision is a pure function over the
//! backups' times and pins ([`decide`]); [`apply`] runs it after each successful backup and
//! removes what it prunes, archive first, then record.
//!
//! A backup is kept when it is the newest completed one, pinned, among the newest `keepLast`
//! unpinned ones, or the newest of one of the last `keepDaily` days, `keepWeekly` ISO weeks or
//! `keepMonthly` months (UTC) that have backups — unless it is older than `maxAgeDays`, which
//! only the newest and pinned ones outlive. Failed and running backups are not retention's.
use chrono::{DateTime, Datelike, Duration, Utc};
use nexbii_crds::backup::Retention;
use serde::Serialize;
use utoipa::ToSchema;

use super::domain::{self, BackupError};
use crate::{
    state::AppState,
    store::{write::Actor, TenantScope},
};

/// A completed backup as retention sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: String,
    /// When its snapshot was taken.
    pub at: DateTime<Utc>,
    pub pinned: bool,
}

/// Why a backup is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Keep {
    Newest,
    Pinned,
    Last,
    Daily,
    Weekly,
    Monthly,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Kept backups, newest first, with every reason that keeps each.
    pub keep: Vec<(String, Vec<Keep>)>,
    /// Backups to remove, newest first.
    pub prune: Vec<String>,
}

/// The bounds the CRD schema enforces, for retentions that do not come through it (flags,
/// API requests): `Err((field, reason))`.
pub fn check(r: &Retention) -> Result<(), (&'static str, String)> {
    let bounds = [
        ("keepLast", Some(r.keep_last), 1000),
        ("maxAgeDays", r.max_age_days, 3650),
        ("keepDaily", r.keep_daily, 3650),
        ("keepWeekly", r.keep_weekly, 520),
        ("keepMonthly", r.keep_monthly, 120),
    ];
    for (field, value, max) in bounds {
        if let Some(v) = value {
            if !(1..=max).contains(&v) {
                return Err((field, format!("between 1 and {max}")));
            }
        }
    }
    Ok(())
}

/// The period a backup falls in for one tier; consecutive in time, so equal keys are adjacent
/// in a list sorted by time.
type Period = (i32, u32);
type PeriodOf = fn(DateTime<Utc>) -> Period;

fn day(t: DateTime<Utc>) -> Period {
    (t.year(), t.ordinal())
}
fn week(t: DateTime<Utc>) -> Period {
    let w = t.iso_week();
    (w.year(), w.week())
}
fn month(t: DateTime<Utc>) -> Period {
    (t.year(), t.month())
}

pub fn decide(r: &Retention, backups: &[Candidate], now: DateTime<Utc>) -> Decision {
    let mut sorted: Vec<&Candidate> = backups.iter().collect();
    sorted.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    let mut reasons: Vec<Vec<Keep>> = vec![Vec::new(); sorted.len()];
    if let Some(first) = reasons.first_mut() {
        first.push(Keep::Newest);
    }
    let unpinned: Vec<usize> = (0..sorted.len()).filter(|&i| !sorted[i].pinned).collect();
    for (i, c) in sorted.iter().enumerate() {
        if c.pinned {
            reasons[i].push(Keep::Pinned);
        }
    }
    for &i in unpinned.iter().take(r.keep_last as usize) {
        reasons[i].push(Keep::Last);
    }
    let tiers: [(Option<u32>, PeriodOf, Keep); 3] = [
        (r.keep_daily, day, Keep::Daily),
        (r.keep_weekly, week, Keep::Weekly),
        (r.keep_monthly, month, Keep::Monthly),
    ];
    for (n, period, why) in tiers {
        let Some(n) = n else { continue };
        let mut last: Option<Period> = None;
        let mut periods = 0;
        for &i in &unpinned {
            let p = period(sorted[i].at);
            if last == Some(p) {
                continue;
            }
            last = Some(p);
            periods += 1;
            if periods > n {
                break;
            }
            // The first seen of a period is its newest.
            reasons[i].push(why);
        }
    }
    if let Some(days) = r.max_age_days {
        let cutoff = now - Duration::days(i64::from(days));
        for (i, c) in sorted.iter().enumerate() {
            if c.at < cutoff {
                reasons[i].retain(|k| matches!(k, Keep::Newest | Keep::Pinned));
            }
        }
    }
    let mut out = Decision::default();
    for (c, why) in sorted.into_iter().zip(reasons) {
        if why.is_empty() {
            out.prune.push(c.id.clone());
        } else {
            out.keep.push((c.id.clone(), why));
        }
    }
    out
}

/// Prunes the tenant's completed backups by `policy`; returns the ids removed. A backup whose
/// removal fails stays (and is tried again after the next run); the first error is returned
/// after the others were tried.
pub async fn apply(
    state: &AppState,
    scope: &TenantScope,
    policy: &Retention,
) -> Result<Vec<String>, BackupError> {
    let records = domain::completed(state, scope).await?;
    let candidates: Vec<Candidate> = records
        .iter()
        .map(|r| Candidate {
            id: r.id.clone(),
            at: r.started_at.unwrap_or(r.requested_at),
            pinned: r.pinned,
        })
        .collect();
    let decision = decide(policy, &candidates, Utc::now());
    let mut removed = Vec::new();
    let mut first_err = None;
    for id in decision.prune {
        let Some(rec) = records.iter().find(|r| r.id == id) else {
            continue;
        };
        match domain::remove(state, scope, &Actor::System, rec).await {
            Ok(()) => removed.push(id),
            Err(e) => {
                tracing::warn!(tenant = scope.tenant(), backup = %id, error = %e, "retention: backup not removed");
                first_err.get_or_insert(e);
            }
        }
    }
    if !removed.is_empty() {
        tracing::info!(tenant = scope.tenant(), removed = ?removed, "retention removed backups");
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn c(id: &str, t: DateTime<Utc>) -> Candidate {
        Candidate {
            id: id.into(),
            at: t,
            pinned: false,
        }
    }

    fn pinned(id: &str, t: DateTime<Utc>) -> Candidate {
        Candidate {
            pinned: true,
            ..c(id, t)
        }
    }

    fn policy(keep_last: u32) -> Retention {
        Retention {
            keep_last,
            ..Default::default()
        }
    }

    fn kept(d: &Decision) -> Vec<&str> {
        d.keep.iter().map(|(id, _)| id.as_str()).collect()
    }

    fn why<'a>(d: &'a Decision, id: &str) -> &'a [Keep] {
        &d.keep.iter().find(|(k, _)| k == id).unwrap().1
    }

    /// One backup a day at noon, `n` days ending at `last`, ids `d<YYYY-MM-DD>`.
    fn daily(last: DateTime<Utc>, n: i64) -> Vec<Candidate> {
        (0..n)
            .map(|i| {
                let t = last - Duration::days(i);
                c(&format!("d{}", t.format("%Y-%m-%d")), t)
            })
            .collect()
    }

    #[test]
    fn keep_last_keeps_the_newest_n_whatever_the_input_order() {
        let now = at(2026, 5, 10, 12, 0);
        let mut all = daily(now, 10);
        all.reverse();
        let d = decide(&policy(3), &all, now);
        assert_eq!(kept(&d), ["d2026-05-10", "d2026-05-09", "d2026-05-08"]);
        assert_eq!(d.prune.len(), 7);
        assert_eq!(d.prune[0], "d2026-05-07", "newest first");
        assert_eq!(why(&d, "d2026-05-10"), [Keep::Newest, Keep::Last]);
    }

    #[test]
    fn nothing_and_one_backup() {
        let now = at(2026, 5, 10, 12, 0);
        assert_eq!(decide(&policy(1), &[], now), Decision::default());
        let one = [c("a", at(2020, 1, 1, 0, 0))];
        let mut r = policy(1);
        r.max_age_days = Some(1);
        let d = decide(&r, &one, now);
        assert_eq!(
            kept(&d),
            ["a"],
            "the newest good backup is kept however old"
        );
        assert_eq!(why(&d, "a"), [Keep::Newest]);
    }

    #[test]
    fn pinned_backups_are_never_pruned_nor_counted() {
        let now = at(2026, 5, 10, 12, 0);
        let mut all = daily(now, 6);
        all[1] = pinned("p-recent", all[1].at);
        all[5] = pinned("p-old", all[5].at);
        let mut r = policy(2);
        r.max_age_days = Some(2);
        let d = decide(&r, &all, now);
        // keepLast 2 counts the unpinned ones: the newest and the third.
        assert_eq!(
            kept(&d),
            ["d2026-05-10", "p-recent", "d2026-05-08", "p-old"]
        );
        assert_eq!(
            why(&d, "p-old"),
            [Keep::Pinned],
            "older than maxAgeDays, still kept"
        );
        assert_eq!(d.prune, ["d2026-05-07", "d2026-05-06"]);
    }

    #[test]
    fn max_age_overrides_count_and_tiers_but_not_the_newest() {
        let now = at(2026, 5, 10, 12, 0);
        let all = daily(now - Duration::days(40), 5);
        let r = Retention {
            keep_last: 10,
            max_age_days: Some(30),
            keep_monthly: Some(12),
            ..Default::default()
        };
        let d = decide(&r, &all, now);
        assert_eq!(kept(&d), ["d2026-03-31"]);
        assert_eq!(why(&d, "d2026-03-31"), [Keep::Newest]);
        assert_eq!(d.prune.len(), 4);
        // Exactly at the cutoff is not older than it.
        let edge = [c("new", now), c("edge", now - Duration::days(30))];
        let mut r = policy(5);
        r.max_age_days = Some(30);
        assert_eq!(kept(&decide(&r, &edge, now)), ["new", "edge"]);
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day_that_has_backups() {
        let now = at(2026, 5, 10, 23, 0);
        let mut all = Vec::new();
        // Three a day on the 10th, 9th, 7th and 6th (none on the 8th).
        for d in [10, 9, 7, 6] {
            for (h, tag) in [(2, "a"), (11, "b"), (20, "c")] {
                all.push(c(&format!("{d}{tag}"), at(2026, 5, d, h, 0)));
            }
        }
        let r = Retention {
            keep_last: 1,
            keep_daily: Some(3),
            ..Default::default()
        };
        let d = decide(&r, &all, now);
        // The last three days *with* backups: the gap on the 8th does not use up a day.
        assert_eq!(kept(&d), ["10c", "9c", "7c"]);
        assert_eq!(why(&d, "10c"), [Keep::Newest, Keep::Last, Keep::Daily]);
        assert_eq!(why(&d, "7c"), [Keep::Daily]);
        assert_eq!(d.prune.len(), 9);
    }

    #[test]
    fn weeks_are_iso_weeks_across_the_new_year() {
        // 2026 has an ISO week 53: Mon 28 Dec 2026 to Sun 3 Jan 2027.
        let all = [
            c("mon-w53", at(2026, 12, 28, 12, 0)),
            c("fri-w53", at(2027, 1, 1, 12, 0)),
            c("sun-w53", at(2027, 1, 3, 23, 59)),
            c("mon-w01", at(2027, 1, 4, 0, 1)),
            c("w52", at(2026, 12, 27, 12, 0)),
        ];
        let r = Retention {
            keep_last: 1,
            keep_weekly: Some(2),
            ..Default::default()
        };
        let d = decide(&r, &all, at(2027, 1, 4, 1, 0));
        assert_eq!(kept(&d), ["mon-w01", "sun-w53"]);
        assert_eq!(d.prune, ["fri-w53", "mon-w53", "w52"]);
    }

    #[test]
    fn months_and_the_full_grandfather_father_son_set() {
        let r = Retention {
            keep_last: 1,
            keep_monthly: Some(2),
            ..Default::default()
        };
        let edge = [
            c("feb-1", at(2026, 2, 1, 0, 0)),
            c("jan-31", at(2026, 1, 31, 23, 59)),
            c("jan-1", at(2026, 1, 1, 0, 0)),
            c("dec-31", at(2025, 12, 31, 23, 59)),
        ];
        let d = decide(&r, &edge, at(2026, 2, 1, 1, 0));
        assert_eq!(kept(&d), ["feb-1", "jan-31"]);

        // A year of daily backups, 7 daily, 4 weekly, 12 monthly: ending Sunday 2026-03-15.
        let now = at(2026, 3, 15, 12, 0);
        assert_eq!(now.weekday(), chrono::Weekday::Sun);
        let all = daily(now, 365);
        let r = Retention {
            keep_last: 1,
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(12),
            ..Default::default()
        };
        let d = decide(&r, &all, now);
        let mut want: Vec<String> = (9..=15).map(|d| format!("d2026-03-{d:02}")).collect();
        // Sundays ending the three weeks before this one (this one's is today).
        want.extend(["d2026-03-08", "d2026-03-01", "d2026-02-22"].map(String::from));
        // Last days of the eleven months before March.
        want.extend(
            [
                "d2026-02-28",
                "d2026-01-31",
                "d2025-12-31",
                "d2025-11-30",
                "d2025-10-31",
                "d2025-09-30",
                "d2025-08-31",
                "d2025-07-31",
                "d2025-06-30",
                "d2025-05-31",
                "d2025-04-30",
            ]
            .map(String::from),
        );
        want.sort_by(|a, b| b.cmp(a));
        assert_eq!(kept(&d), want);
        assert_eq!(d.keep.len() + d.prune.len(), 365);
        assert_eq!(why(&d, "d2026-03-01"), [Keep::Weekly]);
        assert_eq!(why(&d, "d2026-02-28"), [Keep::Monthly]);
        assert_eq!(
            why(&d, "d2026-03-15"),
            [
                Keep::Newest,
                Keep::Last,
                Keep::Daily,
                Keep::Weekly,
                Keep::Monthly
            ]
        );
    }

    #[test]
    fn retentions_outside_the_crd_bounds_name_the_field() {
        assert_eq!(check(&policy(7)), Ok(()));
        assert_eq!(check(&policy(0)).unwrap_err().0, "keepLast");
        let r = Retention {
            keep_weekly: Some(0),
            ..Default::default()
        };
        assert_eq!(check(&r).unwrap_err().0, "keepWeekly");
        let r = Retention {
            max_age_days: Some(4000),
            ..Default::default()
        };
        assert_eq!(check(&r).unwrap_err().0, "maxAgeDays");
    }
}

//! User activity from the audit log, aggregated by pure code: logins, queries run, dashboards
//! viewed, last active, and daily/weekly/monthly active users, per user and for the tenant.
//!
//! What counts (all from audit entries, so only audited requests — mutating ones, logins,
//! query runs and data views — make a user active):
//! - a user is an actor authenticated by session, password (login) or API key; the operator,
//!   manifests and share-link viewers are not users;
//! - *active*: any entry of the user not refused (`denied`: failed logins, 401/403/429);
//! - *logins*: `auth.login` entries that succeeded; *failed logins* the others;
//! - *queries*: executions listed on entries other than dashboard and share views (ad-hoc,
//!   saved and exported queries); *rows read* counts every execution's rows, widgets included;
//! - *dashboard views*: successful `dashboards.view` entries (one per dashboard load);
//! - what an admin did while impersonating a user is not the user's activity: it is counted
//!   apart (`impersonated`) and makes nobody active.
//!
//! Days, ISO weeks (from Monday) and months are UTC.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{EntryBody, Outcome, QueryNote};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserActivity {
    pub username: String,
    pub logins: u64,
    pub failed_logins: u64,
    pub queries: u64,
    pub rows_read: u64,
    pub dashboard_views: u64,
    /// Distinct dashboards viewed.
    pub dashboards: u64,
    /// Audited requests that were not refused.
    pub actions: u64,
    /// Days of the period with any activity.
    pub active_days: u64,
    /// Requests an admin made while impersonating this user (not counted above).
    pub impersonated: u64,
    /// The newest activity in the period.
    pub last_active_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub logins: u64,
    pub failed_logins: u64,
    pub queries: u64,
    pub rows_read: u64,
    pub dashboard_views: u64,
    /// Distinct users active in the period.
    pub active_users: u64,
    /// Mean of the daily active users over the period's days.
    pub average_daily_active_users: f64,
}

/// Active users in one day, week (starting Monday) or month (starting the 1st).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub start: NaiveDate,
    pub active_users: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub totals: Totals,
    /// Per user, by username.
    pub users: Vec<UserActivity>,
    pub daily: Vec<Bucket>,
    pub weekly: Vec<Bucket>,
    pub monthly: Vec<Bucket>,
    /// Audit entries read.
    pub scanned: u64,
    /// True when the period held more entries than one report reads (`scanned` of them, the
    /// oldest first): narrow the period.
    pub truncated: bool,
}

/// Whether an entry's actor is a user of the tenant (not the platform, not a share link).
pub fn is_user(e: &EntryBody) -> bool {
    e.via == "session" || e.via == "password" || e.via.starts_with("key:")
}

/// Query executions an entry lists (an "omitted" note stands for the number it names).
pub fn executions(notes: &[QueryNote]) -> u64 {
    notes
        .iter()
        .map(|n| {
            if n.outcome == "omitted" {
                n.fingerprint
                    .trim_start_matches('(')
                    .split(' ')
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0)
            } else {
                1
            }
        })
        .sum()
}

fn week_start(d: NaiveDate) -> NaiveDate {
    d - Duration::days(d.weekday().num_days_from_monday() as i64)
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

#[derive(Default)]
struct PerUser {
    a: UserActivity,
    days: BTreeSet<NaiveDate>,
    dashboards: BTreeSet<String>,
}

/// Folds audit entries (any order) into an [`ActivityReport`].
#[derive(Default)]
pub struct Aggregator {
    users: HashMap<String, PerUser>,
    days: BTreeMap<NaiveDate, BTreeSet<String>>,
    totals: Totals,
    scanned: u64,
}

impl Aggregator {
    /// Users listed even without activity (the tenant's users), so a report shows who was not
    /// active too.
    pub fn known_users<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        for n in names {
            self.users.entry(n.to_string()).or_default().a.username = n.to_string();
        }
    }

    pub fn add(&mut self, e: &EntryBody) {
        self.scanned += 1;
        if !is_user(e) {
            return;
        }
        let u = self.users.entry(e.actor.clone()).or_default();
        u.a.username = e.actor.clone();
        if e.impersonator.is_some() {
            u.a.impersonated += 1;
            return;
        }
        let login = e.action == "auth.login";
        if login && e.outcome == Outcome::Success {
            u.a.logins += 1;
            self.totals.logins += 1;
        } else if login {
            u.a.failed_logins += 1;
            self.totals.failed_logins += 1;
        }
        if e.outcome == Outcome::Denied {
            return;
        }
        u.a.actions += 1;
        let rows: u64 = e.queries.iter().filter_map(|q| q.rows).sum();
        u.a.rows_read += rows;
        self.totals.rows_read += rows;
        let view = e.action == "dashboards.view" || e.action == "shares.view";
        if !view {
            let n = executions(&e.queries);
            u.a.queries += n;
            self.totals.queries += n;
        }
        if e.action == "dashboards.view" && e.outcome == Outcome::Success {
            u.a.dashboard_views += 1;
            self.totals.dashboard_views += 1;
            u.dashboards.insert(e.target.clone());
        }
        if u.a.last_active_at.is_none_or(|t| t < e.at) {
            u.a.last_active_at = Some(e.at);
        }
        let day = e.at.date_naive();
        u.days.insert(day);
        self.days.entry(day).or_default().insert(e.actor.clone());
    }

    /// The report for `[from, to)`: every day, week and month the period touches is listed,
    /// with zero when nobody was active.
    pub fn finish(self, from: DateTime<Utc>, to: DateTime<Utc>, truncated: bool) -> ActivityReport {
        let mut users: Vec<UserActivity> = self
            .users
            .into_values()
            .map(|mut p| {
                p.a.active_days = p.days.len() as u64;
                p.a.dashboards = p.dashboards.len() as u64;
                p.a
            })
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        let first = from.date_naive();
        let last = (to - Duration::milliseconds(1)).date_naive().max(first);
        let mut daily = Vec::new();
        let mut weekly: BTreeMap<NaiveDate, BTreeSet<&String>> = BTreeMap::new();
        let mut monthly: BTreeMap<NaiveDate, BTreeSet<&String>> = BTreeMap::new();
        let mut all: BTreeSet<&String> = BTreeSet::new();
        let mut d = first;
        while d <= last {
            let active = self.days.get(&d);
            daily.push(Bucket {
                start: d,
                active_users: active.map_or(0, |s| s.len() as u64),
            });
            let w = weekly.entry(week_start(d)).or_default();
            let m = monthly.entry(month_start(d)).or_default();
            for name in active.into_iter().flatten() {
                w.insert(name);
                m.insert(name);
                all.insert(name);
            }
            d += Duration::days(1);
        }
        let buckets = |m: BTreeMap<NaiveDate, BTreeSet<&String>>| {
            m.into_iter()
                .map(|(start, s)| Bucket {
                    start,
                    active_users: s.len() as u64,
                })
                .collect::<Vec<_>>()
        };
        let mut totals = self.totals;
        totals.active_users = all.len() as u64;
        totals.average_daily_active_users = if daily.is_empty() {
            0.0
        } else {
            let sum: u64 = daily.iter().map(|b| b.active_users).sum();
            ((sum as f64 / daily.len() as f64) * 100.0).round() / 100.0
        };
        ActivityReport {
            from,
            to,
            totals,
            users,
            daily,
            weekly: buckets(weekly),
            monthly: buckets(monthly),
            scanned: self.scanned,
            truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn entry(
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        outcome: Outcome,
        queries: Vec<QueryNote>,
    ) -> EntryBody {
        EntryBody {
            seq: 0,
            at,
            actor: actor.into(),
            via: if action == "auth.login" {
                "password".into()
            } else {
                "session".into()
            },
            impersonator: None,
            impersonator_ref: None,
            actor_ref: String::new(),
            action: action.into(),
            target: format!("/api/v1/{action}"),
            outcome,
            status: 200,
            client: None,
            request_id: String::new(),
            queries,
        }
    }

    fn q(rows: u64) -> QueryNote {
        QueryNote {
            datasource: "sales".into(),
            fingerprint: "SELECT 1".into(),
            rows: Some(rows),
            masked: vec![],
            outcome: "ok".into(),
        }
    }

    fn day(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    #[test]
    fn figures_per_user_and_for_the_tenant() {
        let mut a = Aggregator::default();
        a.known_users(["ann", "bob", "idle"]);
        use Outcome::*;
        for e in [
            entry(day(2, 9), "ann", "auth.login", Success, vec![]),
            entry(day(2, 9), "ann", "queries.run", Success, vec![q(10)]),
            entry(day(2, 10), "ann", "queries.run", Failure, vec![q(0)]),
            entry(
                day(3, 9),
                "ann",
                "dashboards.view",
                Success,
                vec![q(5), q(7)],
            ),
            entry(day(3, 9), "bob", "auth.login", Denied, vec![]),
            entry(day(3, 9), "bob", "auth.login", Success, vec![]),
            entry(day(9, 9), "bob", "dashboards.view", Success, vec![q(1)]),
            entry(day(9, 9), "bob", "dashboards.view", Success, vec![q(1)]),
            entry(
                day(9, 10),
                "operator",
                "datasources.update",
                Success,
                vec![],
            ),
        ] {
            let mut e = e;
            if e.actor == "operator" {
                e.via = "operator".into();
            }
            a.add(&e);
        }
        let mut imp = entry(day(9, 11), "bob", "queries.run", Success, vec![q(99)]);
        imp.impersonator = Some("root".into());
        a.add(&imp);
        let r = a.finish(day(1, 0), day(11, 0), false);
        assert_eq!(r.scanned, 10);
        let ann = &r.users[0];
        assert_eq!(
            (
                ann.logins,
                ann.queries,
                ann.rows_read,
                ann.dashboard_views,
                ann.actions
            ),
            (1, 2, 22, 1, 4)
        );
        assert_eq!(ann.active_days, 2);
        assert_eq!(ann.last_active_at, Some(day(3, 9)));
        let bob = &r.users[1];
        assert_eq!((bob.logins, bob.failed_logins), (1, 1));
        assert_eq!((bob.dashboard_views, bob.dashboards), (2, 1));
        assert_eq!(bob.impersonated, 1);
        assert_eq!(bob.rows_read, 2, "impersonated reads are not bob's");
        let idle = &r.users[2];
        assert_eq!((idle.username.as_str(), idle.actions), ("idle", 0));
        assert_eq!(idle.last_active_at, None);
        assert_eq!(r.users.len(), 3, "the operator is not a user");
        assert_eq!(r.totals.logins, 2);
        assert_eq!(r.totals.failed_logins, 1);
        assert_eq!(r.totals.queries, 2);
        assert_eq!(r.totals.dashboard_views, 3);
        assert_eq!(r.totals.active_users, 2);
        // Days 1..=10: ann on the 2nd and 3rd, bob on the 3rd and 9th.
        assert_eq!(r.daily.len(), 10);
        let dau: Vec<u64> = r.daily.iter().map(|b| b.active_users).collect();
        assert_eq!(dau, [0, 1, 2, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(r.totals.average_daily_active_users, 0.4);
        // 2026-11-01 is a Sunday: weeks start Oct 26, Nov 2 and Nov 9.
        let weeks: Vec<(String, u64)> = r
            .weekly
            .iter()
            .map(|b| (b.start.to_string(), b.active_users))
            .collect();
        assert_eq!(
            weeks,
            [
                ("2026-10-26".to_string(), 0),
                ("2026-11-02".to_string(), 2),
                ("2026-11-09".to_string(), 1)
            ]
        );
        assert_eq!(r.monthly.len(), 1);
        assert_eq!(r.monthly[0].active_users, 2);
    }

    #[test]
    fn omitted_queries_count_by_their_number() {
        let notes = vec![
            q(1),
            QueryNote {
                datasource: String::new(),
                fingerprint: "(7 more queries not listed)".into(),
                rows: None,
                masked: vec![],
                outcome: "omitted".into(),
            },
        ];
        assert_eq!(executions(&notes), 8);
    }
}

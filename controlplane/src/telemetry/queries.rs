//! Query executions per tenant: by fingerprint, by data source, by user, the slowest runs and a
//! 24-hour chart. Figures are cumulative since the instance started (fingerprints: since first
//! seen, or since they were last evicted).
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc, Mutex, RwLock,
    },
};

use super::{
    evict_oldest,
    fingerprint::Fingerprint,
    histogram::Histogram,
    windows::{Chart, Outcome, Window, Windows},
};

/// Fingerprints kept by the instance (about 1 KB each). When full, the tenant that needs room
/// loses the least recently seen tenth of its fingerprints (or, if it holds few, the tenant
/// holding the most does).
pub const MAX_FINGERPRINTS: usize = 20_000;
/// Users split out per fingerprint; further users count under `other`.
pub const MAX_USERS_PER_FINGERPRINT: usize = 8;
/// Users and data sources tracked per tenant.
pub const MAX_USERS: usize = 10_000;
pub const MAX_SOURCES: usize = 1_000;
/// Slowest runs kept per tenant.
pub const SLOWEST: usize = 20;
/// Longest statement kept with a slow run.
const MAX_STATEMENT: usize = 4_000;

/// Counters of a group of executions.
#[derive(Clone, Debug, Default)]
pub struct Agg {
    /// Every run, cache hits and refusals included.
    pub count: u64,
    /// Runs that failed (in the database, or refused by the guard or a policy).
    pub errors: u64,
    pub cache_hits: u64,
    /// Runs that looked in the cache and did not find the result.
    pub cache_misses: u64,
    /// Runs that reached the database: the durations, rows and bytes are theirs.
    pub executions: u64,
    pub rows: u64,
    pub bytes: u64,
    pub total_ms: f64,
    pub max_ms: f64,
    pub hist: Histogram,
    /// Seconds since the epoch.
    pub last_seen: u64,
}

impl Agg {
    fn add(&mut self, e: &QueryEvent<'_>, now_s: u64) {
        self.count += 1;
        self.last_seen = now_s;
        if e.outcome != Outcome::Ok {
            self.errors += 1;
        }
        match e.cache {
            CacheUse::Hit => self.cache_hits += 1,
            CacheUse::Miss => self.cache_misses += 1,
            CacheUse::Bypassed => {}
        }
        if e.executed {
            self.executions += 1;
            self.rows += e.rows;
            self.bytes += e.bytes;
            self.total_ms += e.ms;
            self.max_ms = self.max_ms.max(e.ms);
            self.hist.record(e.ms);
        }
    }

    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.hist.quantile(q, Some(self.max_ms))
    }

    pub fn cache_hit_rate(&self) -> Option<f64> {
        let looked = self.cache_hits + self.cache_misses;
        (looked > 0).then(|| self.cache_hits as f64 / looked as f64)
    }
}

/// One fingerprint of one data source.
#[derive(Clone, Debug)]
pub struct FingerprintStats {
    pub fingerprint: Fingerprint,
    pub source: Box<str>,
    pub source_type: &'static str,
    pub agg: Agg,
    /// At most [`MAX_USERS_PER_FINGERPRINT`], then `other`.
    pub users: Vec<(Box<str>, Agg)>,
    /// The latest statement of this fingerprint that ran without bound parameters, as sent
    /// to the database (what optimization suggestions `EXPLAIN`); cut at [`MAX_STATEMENT`].
    pub sample: Option<Box<str>>,
    /// How the results of repeated runs of one statement compared (cache TTL suggestions).
    pub trace: ResultTrace,
}

/// Repeated executions of one statement (same text, no bound parameters) and whether their
/// results changed: evidence of how fast the data behind a fingerprint changes. Only runs
/// that reached the database count (cache hits say nothing about the data).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultTrace {
    /// Hash of the statement the trace follows; another statement starts a new trace.
    pub statement: u64,
    /// Digest of the latest result.
    pub digest: u64,
    /// Executions after the first one of this statement.
    pub reruns: u32,
    /// Of those, how many returned the same result as the run before.
    pub unchanged: u32,
    /// When the current result was first seen (unix seconds).
    pub since: u64,
    /// The latest execution (unix seconds).
    pub last_at: u64,
}

impl ResultTrace {
    pub fn observe(&mut self, now_s: u64, statement: u64, digest: u64) {
        if self.since == 0 || self.statement != statement {
            *self = Self {
                statement,
                digest,
                reruns: 0,
                unchanged: 0,
                since: now_s,
                last_at: now_s,
            };
            return;
        }
        self.reruns += 1;
        if self.digest == digest {
            self.unchanged += 1;
        } else {
            self.digest = digest;
            self.since = now_s;
        }
        self.last_at = now_s;
    }

    /// Seconds the current result has stayed the same across executions.
    pub fn stable_seconds(&self) -> u64 {
        self.last_at.saturating_sub(self.since)
    }
}

/// A run kept among the slowest.
#[derive(Clone, Debug)]
pub struct SlowRun {
    pub at: u64,
    pub source: Box<str>,
    pub user: Box<str>,
    pub fingerprint: u64,
    /// What ran (after policies rewrote it), as sent to the database.
    pub statement: Box<str>,
    pub ms: f64,
    pub rows: u64,
    pub failed: bool,
    pub plan: RunPlan,
}

/// What the pipeline's policy stage decided for a run.
#[derive(Clone, Debug, Default)]
pub struct RunPlan {
    /// A row filter rewrote the statement.
    pub rewritten: bool,
    pub masked_columns: Vec<String>,
    pub cache_partition: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    Hit,
    Miss,
    /// The caller asked not to use the cache (or the run never reached it).
    Bypassed,
}

/// One query run as the pipeline's `record` stage sees it.
pub struct QueryEvent<'a> {
    pub tenant: &'a str,
    pub source: &'a str,
    pub source_type: &'static str,
    pub user: &'a str,
    /// `None` when the guard refused the statement (no fingerprint).
    pub fingerprint: Option<&'a Fingerprint>,
    pub statement: Option<&'a str>,
    /// The statement ran without bound parameters (so it can be explained as it is).
    pub literal: bool,
    pub plan: Option<RunPlan>,
    pub outcome: Outcome,
    pub cache: CacheUse,
    /// The database was asked (not a cache hit, not refused).
    pub executed: bool,
    pub ms: f64,
    pub rows: u64,
    pub bytes: u64,
    /// Digest of the result of an executed run (`None`: not executed, failed, or too large
    /// to be worth hashing).
    pub digest: Option<u64>,
}

#[derive(Default)]
pub struct TenantQueries {
    pub fingerprints: HashMap<(Box<str>, u64), FingerprintStats>,
    pub sources: HashMap<Box<str>, Agg>,
    pub users: HashMap<Box<str>, Agg>,
    pub overall: Agg,
    pub windows: Windows,
    pub chart: Chart,
    /// Slowest first.
    pub slowest: Vec<SlowRun>,
}

#[derive(Default)]
pub struct QueryStats {
    tenants: RwLock<HashMap<String, Arc<Mutex<TenantQueries>>>>,
    fingerprints: AtomicUsize,
}

impl QueryStats {
    fn tenant(&self, tenant: &str) -> Option<Arc<Mutex<TenantQueries>>> {
        if let Some(t) = self.tenants.read().expect("queries lock").get(tenant) {
            return Some(t.clone());
        }
        let mut all = self.tenants.write().expect("queries lock");
        if all.len() >= super::requests::MAX_TENANTS && !all.contains_key(tenant) {
            return None;
        }
        Some(all.entry(tenant.to_string()).or_default().clone())
    }

    pub fn record(&self, now_s: u64, e: &QueryEvent<'_>) {
        let Some(t) = self.tenant(e.tenant) else {
            return;
        };
        let mut t = t.lock().expect("tenant queries lock");
        let t = &mut *t;
        t.overall.add(e, now_s);
        let ms = if e.executed { e.ms } else { 0.0 };
        t.windows
            .record(now_s, ms, e.outcome, e.cache == CacheUse::Hit);
        t.chart
            .record(now_s, ms, e.outcome, e.cache == CacheUse::Hit);
        agg_in(&mut t.sources, e.source, MAX_SOURCES).add(e, now_s);
        agg_in(&mut t.users, e.user, MAX_USERS).add(e, now_s);
        if let Some(fp) = e.fingerprint {
            let key = (Box::<str>::from(e.source), fp.hash);
            if !t.fingerprints.contains_key(&key) {
                drop_fingerprints_if_full(self, &mut t.fingerprints);
                self.fingerprints.fetch_add(1, Relaxed);
                t.fingerprints.insert(
                    key.clone(),
                    FingerprintStats {
                        fingerprint: fp.clone(),
                        source: e.source.into(),
                        source_type: e.source_type,
                        agg: Agg::default(),
                        users: Vec::new(),
                        sample: None,
                        trace: ResultTrace::default(),
                    },
                );
            }
            let f = t.fingerprints.get_mut(&key).expect("inserted above");
            f.agg.add(e, now_s);
            if e.executed && e.literal {
                if let Some(s) = e.statement.filter(|s| s.len() <= MAX_STATEMENT) {
                    if f.sample.as_deref() != Some(s) {
                        f.sample = Some(s.into());
                    }
                }
            }
            if let (true, true, Some(d), Some(st)) = (e.executed, e.literal, e.digest, e.statement)
            {
                f.trace.observe(now_s, statement_hash(st), d);
            }
            let user = if f.users.iter().any(|(u, _)| &**u == e.user)
                || f.users.len() < MAX_USERS_PER_FINGERPRINT
            {
                e.user
            } else {
                "other"
            };
            match f.users.iter_mut().find(|(u, _)| &**u == user) {
                Some((_, a)) => a.add(e, now_s),
                None => {
                    let mut a = Agg::default();
                    a.add(e, now_s);
                    f.users.push((user.into(), a));
                }
            }
        }
        if e.executed {
            keep_if_slow(&mut t.slowest, e, now_s);
        }
    }

    /// Reads one tenant's figures (`None`: nothing recorded for it).
    pub fn read<R>(&self, tenant: &str, f: impl FnOnce(&TenantQueries) -> R) -> Option<R> {
        let t = self
            .tenants
            .read()
            .expect("queries lock")
            .get(tenant)
            .cloned()?;
        let t = t.lock().expect("tenant queries lock");
        Some(f(&t))
    }

    pub fn tenants(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tenants
            .read()
            .expect("queries lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Fingerprints held by the instance.
    pub fn fingerprint_count(&self) -> usize {
        self.fingerprints.load(Relaxed)
    }
}

fn agg_in<'m>(m: &'m mut HashMap<Box<str>, Agg>, key: &str, cap: usize) -> &'m mut Agg {
    if !m.contains_key(key) {
        evict_oldest(m, cap, |a| a.last_seen);
        m.insert(key.into(), Agg::default());
    }
    m.get_mut(key).expect("inserted above")
}

/// Makes room for one more fingerprint when the instance holds [`MAX_FINGERPRINTS`]: this
/// tenant's least recently seen tenth goes (other tenants' tables are locked by their own
/// recorders; a tenant holding less than a tenth of the cap only evicts what it has, so the
/// count may exceed the cap by at most that tenth per other tenant — bounded, and in practice
/// an instance serves one tenant).
fn drop_fingerprints_if_full(
    stats: &QueryStats,
    m: &mut HashMap<(Box<str>, u64), FingerprintStats>,
) {
    if stats.fingerprints.load(Relaxed) < MAX_FINGERPRINTS || m.is_empty() {
        return;
    }
    let before = m.len();
    let mut seen: Vec<u64> = m.values().map(|f| f.agg.last_seen).collect();
    let drop = (MAX_FINGERPRINTS / 10).min(before).max(1);
    let (_, cut, _) = seen.select_nth_unstable(drop - 1);
    let cut = *cut;
    let mut left = drop;
    m.retain(|_, f| {
        if left > 0 && f.agg.last_seen <= cut {
            left -= 1;
            false
        } else {
            true
        }
    });
    stats.fingerprints.fetch_sub(before - m.len(), Relaxed);
}

fn keep_if_slow(slowest: &mut Vec<SlowRun>, e: &QueryEvent<'_>, now_s: u64) {
    if slowest.len() >= SLOWEST && slowest.last().is_some_and(|s| s.ms >= e.ms) {
        return;
    }
    let mut statement = e.statement.unwrap_or_default().to_string();
    if statement.len() > MAX_STATEMENT {
        let mut cut = MAX_STATEMENT;
        while !statement.is_char_boundary(cut) {
            cut -= 1;
        }
        statement.truncate(cut);
    }
    let run = SlowRun {
        at: now_s,
        source: e.source.into(),
        user: e.user.into(),
        fingerprint: e.fingerprint.map(|f| f.hash).unwrap_or_default(),
        statement: statement.into(),
        ms: e.ms,
        rows: e.rows,
        failed: e.outcome != Outcome::Ok,
        plan: e.plan.clone().unwrap_or_default(),
    };
    let at = slowest.partition_point(|s| s.ms >= e.ms);
    slowest.insert(at, run);
    slowest.truncate(SLOWEST);
}

impl TenantQueries {
    pub fn window(&self, now_s: u64, w: Window) -> super::windows::Slot {
        self.windows.window(now_s, w)
    }
}

/// Stable hash of a statement's text (SipHash-1-3, fixed keys, like fingerprints).
pub fn statement_hash(s: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x7374_6d74, 0x7472_6163);
    h.write(s.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;

    use super::*;
    use crate::telemetry::fingerprint::of_sql;

    fn ev<'a>(fp: &'a Fingerprint, user: &'a str, ms: f64, cache: CacheUse) -> QueryEvent<'a> {
        QueryEvent {
            tenant: "acme",
            source: "pg",
            source_type: "postgresql",
            user,
            fingerprint: Some(fp),
            statement: Some("SELECT 1"),
            literal: true,
            plan: None,
            outcome: Outcome::Ok,
            cache,
            executed: cache != CacheUse::Hit,
            ms,
            rows: 1,
            bytes: 10,
            digest: None,
        }
    }

    #[test]
    fn result_traces_follow_one_statement() {
        let mut t = ResultTrace::default();
        t.observe(100, 1, 7);
        t.observe(160, 1, 7);
        t.observe(220, 1, 7);
        assert_eq!((t.reruns, t.unchanged, t.stable_seconds()), (2, 2, 120));
        // A changed result restarts the stable span; another statement restarts the trace.
        t.observe(280, 1, 8);
        assert_eq!((t.reruns, t.unchanged, t.stable_seconds()), (3, 2, 0));
        t.observe(300, 2, 8);
        assert_eq!((t.reruns, t.unchanged, t.since), (0, 0, 300));
    }

    #[test]
    fn grouped_by_fingerprint_user_and_source() {
        let s = QueryStats::default();
        let d = PostgreSqlDialect {};
        let a = of_sql("SELECT * FROM t WHERE id = 1", &d);
        let b = of_sql("SELECT * FROM t WHERE id = 2", &d);
        let now = 1_700_000_000;
        s.record(now, &ev(&a, "ann", 10.0, CacheUse::Miss));
        s.record(now, &ev(&b, "bob", 30.0, CacheUse::Miss));
        s.record(now, &ev(&b, "bob", 0.1, CacheUse::Hit));
        let (fps, users, src) = s
            .read("acme", |t| {
                (
                    t.fingerprints.values().cloned().collect::<Vec<_>>(),
                    t.users.len(),
                    t.sources["pg"].clone(),
                )
            })
            .unwrap();
        assert_eq!(fps.len(), 1, "one fingerprint for both literals");
        let f = &fps[0];
        assert_eq!((f.agg.count, f.agg.executions, f.agg.cache_hits), (3, 2, 1));
        assert_eq!((f.agg.rows, f.agg.bytes), (2, 20));
        assert_eq!(f.agg.max_ms, 30.0);
        assert_eq!(f.users.len(), 2);
        assert_eq!(users, 2);
        assert_eq!(src.cache_hit_rate(), Some(1.0 / 3.0));
    }

    #[test]
    fn fingerprints_and_slowest_are_capped() {
        let s = QueryStats::default();
        let d = PostgreSqlDialect {};
        let now = 1_700_000_000;
        for i in 0..(MAX_FINGERPRINTS + 10) {
            let fp = of_sql(&format!("SELECT c{i} FROM t"), &d);
            s.record(
                now + i as u64,
                &ev(&fp, "ann", i as f64, CacheUse::Bypassed),
            );
        }
        assert!(s.fingerprint_count() <= MAX_FINGERPRINTS);
        let (n, slow) = s
            .read("acme", |t| (t.fingerprints.len(), t.slowest.clone()))
            .unwrap();
        assert_eq!(n, s.fingerprint_count());
        assert_eq!(slow.len(), SLOWEST);
        assert_eq!(slow[0].ms, (MAX_FINGERPRINTS + 9) as f64);
        assert!(slow.windows(2).all(|w| w[0].ms >= w[1].ms));
    }
}

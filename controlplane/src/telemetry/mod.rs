//! In-memory monitoring figures of the instance: requests, query executions, dashboard load
//! times and resource use. A floor beside `metrics` (the HTTP middleware and the query
//! pipeline feed it; the admin area reads it), bounded in memory: fixed-size rings and
//! histograms, and capped tables (caps documented on each constant). See the README
//! ("Monitoring and performance").
use std::{collections::HashMap, hash::Hash};

pub mod dashboards;
pub mod fingerprint;
pub mod histogram;
pub mod queries;
pub mod requests;
pub mod resources;
pub mod windows;

/// Everything the instance records.
#[derive(Default)]
pub struct Telemetry {
    pub requests: requests::RequestStats,
    pub queries: queries::QueryStats,
    pub dashboards: dashboards::DashboardTimes,
    pub resources: resources::Resources,
    /// When the instance started recording (seconds since the epoch).
    pub started: u64,
}

impl Telemetry {
    pub fn new() -> Self {
        Self {
            started: now_s(),
            ..Default::default()
        }
    }
}

/// Seconds since the epoch.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Makes room for one more entry in a capped table: when it is full, the least recently seen
/// tenth goes in one pass (so the cost is amortized over the next tenth of insertions).
pub(crate) fn evict_oldest<K: Eq + Hash, V>(
    m: &mut HashMap<K, V>,
    cap: usize,
    seen: impl Fn(&V) -> u64,
) {
    if m.len() < cap {
        return;
    }
    let drop = (cap / 10).max(1);
    let mut all: Vec<u64> = m.values().map(&seen).collect();
    let (_, cut, _) = all.select_nth_unstable(drop - 1);
    let cut = *cut;
    let mut left = drop;
    m.retain(|_, v| {
        if left > 0 && seen(v) <= cut {
            left -= 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn eviction_drops_the_oldest_tenth() {
        let mut m: std::collections::HashMap<u32, u64> = (0..100).map(|i| (i, i as u64)).collect();
        super::evict_oldest(&mut m, 100, |&v| v);
        assert_eq!(m.len(), 90);
        assert!((0..10).all(|i| !m.contains_key(&i)));
        super::evict_oldest(&mut m, 100, |&v| v);
        assert_eq!(m.len(), 90, "not full: nothing dropped");
    }
}

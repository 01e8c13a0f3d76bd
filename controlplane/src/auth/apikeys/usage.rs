//! Last-used time and request counts of API keys, without a store write per request.
//!
//! Each authenticated request only bumps an in-memory counter for its key ([`Usage::record`]:
//! a mutex-guarded map, no I/O). A background task flushes the counters every
//! `Settings::apikey_usage_flush` (10 s by default) and once at shutdown: one write per key
//! used since the last flush, through the write path, *adding* the count (a read-modify-write
//! retried on conflict, so several replicas each add their own share) and keeping the latest
//! time. What the API shows is the stored value plus what is pending here, so a key's numbers
//! are current on the instance that served it; other replicas see them after the next flush.
//! A crash loses at most one flush interval of counts.
use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};

use super::model::ApiKeyRecord;
use crate::{
    state::{AppState, SharedState},
    store::{write::Actor, TenantScope},
};

#[derive(Clone, Debug)]
pub struct Pending {
    pub count: u64,
    pub last_at: DateTime<Utc>,
    pub last_address: Option<String>,
}

type Key = (TenantScope, String);

#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<Key, Pending>>,
}

impl Usage {
    pub fn record(&self, scope: &TenantScope, id: &str, at: DateTime<Utc>, addr: Option<String>) {
        let mut map = self.pending.lock().expect("usage lock");
        let e = map
            .entry((scope.clone(), id.to_string()))
            .or_insert_with(|| Pending {
                count: 0,
                last_at: at,
                last_address: None,
            });
        e.count += 1;
        if at >= e.last_at {
            e.last_at = at;
            if addr.is_some() {
                e.last_address = addr;
            }
        }
    }

    pub fn pending(&self, scope: &TenantScope, id: &str) -> Option<Pending> {
        let map = self.pending.lock().expect("usage lock");
        map.get(&(scope.clone(), id.to_string())).cloned()
    }

    fn merge_back(&self, key: Key, p: Pending) {
        let mut map = self.pending.lock().expect("usage lock");
        match map.get_mut(&key) {
            Some(e) => {
                e.count += p.count;
                if p.last_at > e.last_at {
                    e.last_at = p.last_at;
                    e.last_address = p.last_address;
                }
            }
            None => {
                map.insert(key, p);
            }
        }
    }

    /// Writes what is pending; returns how many keys were written. A key that failed to be
    /// written keeps its counts for the next flush; a deleted key's are dropped.
    pub async fn flush(&self, state: &AppState) -> usize {
        let taken = std::mem::take(&mut *self.pending.lock().expect("usage lock"));
        let mut written = 0;
        for ((scope, id), p) in taken {
            let res = state
                .writer
                .modify::<ApiKeyRecord>(&scope, &Actor::System, &id, |r| {
                    r.request_count += p.count;
                    if r.last_used_at.is_none_or(|t| t < p.last_at) {
                        r.last_used_at = Some(p.last_at);
                        if p.last_address.is_some() {
                            r.last_used_address = p.last_address.clone();
                        }
                    }
                })
                .await;
            match res {
                Ok(Some(_)) => written += 1,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(tenant = scope.tenant(), key = %id, error = %e, "API key usage not written; kept for the next flush");
                    self.merge_back((scope, id), p);
                }
            }
        }
        written
    }
}

/// Flushes the usage counters every `every`, and drops idle rate-limit buckets.
pub async fn flush_loop(state: SharedState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        state.apikey_usage.flush(&state).await;
        state.rate_limits.shrink();
    }
}

//! Background work queues: requests are deduplicated while they wait, and a worker spawned
//! by the server takes them one by one.
use std::sync::Mutex;

use crate::store::TenantScope;

/// Work waiting for a background worker, each item once however often it was asked for
/// (catalog crawls of sources, webhook deliveries).
#[derive(Default)]
pub struct Queue {
    pending: Mutex<std::collections::VecDeque<(TenantScope, String)>>,
    wake: tokio::sync::Notify,
}

impl Queue {
    pub fn push(&self, scope: &TenantScope, source: &str) {
        let item = (scope.clone(), source.to_string());
        let mut q = self.pending.lock().expect("queue lock");
        if !q.contains(&item) {
            q.push_back(item);
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Items of a tenant waiting (monitoring).
    pub fn pending(&self, scope: &TenantScope) -> usize {
        let q = self.pending.lock().expect("queue lock");
        q.iter().filter(|(s, _)| s == scope).count()
    }

    pub async fn next(&self) -> (TenantScope, String) {
        loop {
            if let Some(item) = self.pending.lock().expect("queue lock").pop_front() {
                return item;
            }
            self.wake.notified().await;
        }
    }
}

//! What the Tenant controller knows about the objects it owns, and which of their watch events
//! wake a Tenant. A Tenant is re-applied only when something it owns was changed or deleted by
//! someone else; the rest of its reconciles just refresh its status:
//! - the operator's own applies echo back as watch events with the uid and generation (or,
//!   for kinds without one, resourceVersion) the apply answered: ignored;
//! - status churn (the Deployment controller updating a Deployment's status) leaves the
//!   generation alone: ignored, except a change of ready replicas, which wakes the Tenant to
//!   refresh its status without re-applying;
//! - anything else (a spec edited, an object deleted) marks the Tenant for a full apply.
use std::{
    collections::{HashMap, HashSet},
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{future, Stream, StreamExt};
use kube::{api::ObjectMeta, runtime::watcher, Resource};

#[derive(Default)]
pub struct Owned {
    /// Owned object uid → fingerprint of its last known state.
    fingerprints: Mutex<HashMap<String, u64>>,
    /// Tenant uid → the owned-object states (uid, fingerprint) seen changed behind the
    /// operator's back. A watch event can arrive before the answer to the apply that caused
    /// it; the answer then takes the entry back out (see `observe_own`).
    dirty: Mutex<HashMap<String, HashSet<(String, u64)>>>,
    /// Tenant uid → the generation last applied in full, and when.
    applied: Mutex<HashMap<String, (Option<i64>, Instant)>>,
    /// Tenant uid → ready replicas of its Deployment.
    ready: Mutex<HashMap<String, i32>>,
}

/// Stands for "deleted" among fingerprints.
const DELETED: u64 = u64::MAX;

/// The generation where the kind has one (it moves only with the spec), else the
/// resourceVersion.
fn fingerprint(meta: &ObjectMeta) -> u64 {
    let mut h = DefaultHasher::new();
    match meta.generation {
        Some(g) => g.hash(&mut h),
        None => meta.resource_version.hash(&mut h),
    }
    h.finish()
}

/// The uid of the Tenant controlling an object.
fn tenant_uid(meta: &ObjectMeta) -> Option<&str> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true) && r.kind == "Tenant")
        .map(|r| r.uid.as_str())
}

impl Owned {
    /// Remembers an object as the operator just wrote it.
    pub fn observe_own(&self, meta: &ObjectMeta) {
        let Some(uid) = &meta.uid else {
            return;
        };
        let fp = fingerprint(meta);
        self.fingerprints
            .lock()
            .expect("lock")
            .insert(uid.clone(), fp);
        if let Some(owner) = tenant_uid(meta) {
            let mut dirty = self.dirty.lock().expect("lock");
            if let Some(set) = dirty.get_mut(owner) {
                // Its own echo got here first: not a change by someone else.
                set.remove(&(uid.clone(), fp));
                if set.is_empty() {
                    dirty.remove(owner);
                }
            }
        }
    }

    /// Records a watch event of an owned object; whether it should wake the owning Tenant.
    pub fn on_event(&self, meta: &ObjectMeta, deleted: bool, ready: Option<i32>) -> bool {
        let (Some(uid), Some(owner)) = (&meta.uid, tenant_uid(meta)) else {
            return false;
        };
        let fp = fingerprint(meta);
        let changed = if deleted {
            self.fingerprints.lock().expect("lock").remove(uid);
            true
        } else {
            self.fingerprints
                .lock()
                .expect("lock")
                .insert(uid.clone(), fp)
                != Some(fp)
        };
        if changed {
            // A deletion is never an apply's echo: mark it so no answer can take it back.
            let state = (uid.clone(), if deleted { DELETED } else { fp });
            self.dirty
                .lock()
                .expect("lock")
                .entry(owner.to_string())
                .or_default()
                .insert(state);
        }
        let ready_changed = match ready {
            Some(n) => self.set_ready(owner, n),
            None => false,
        };
        changed || ready_changed
    }

    /// Marks the Tenant for a full apply for a reason no apply answer takes back (a Secret it
    /// references changed). A mark set while a reconcile is running stays for the next one.
    pub fn mark_dirty(&self, tenant: &str) {
        self.dirty
            .lock()
            .expect("lock")
            .entry(tenant.to_string())
            .or_default()
            .insert((String::new(), DELETED));
    }

    /// Whether the Tenant was marked for a full apply (and clears the mark).
    pub fn take_dirty(&self, tenant: &str) -> bool {
        self.dirty.lock().expect("lock").remove(tenant).is_some()
    }

    /// Whether `generation` of the Tenant was applied in full less than `max_age` ago.
    pub fn applied_recently(
        &self,
        tenant: &str,
        generation: Option<i64>,
        max_age: Duration,
    ) -> bool {
        self.applied
            .lock()
            .expect("lock")
            .get(tenant)
            .is_some_and(|(g, at)| *g == generation && at.elapsed() < max_age)
    }

    pub fn record_applied(&self, tenant: &str, generation: Option<i64>) {
        self.applied
            .lock()
            .expect("lock")
            .insert(tenant.to_string(), (generation, Instant::now()));
    }

    /// Forces the next reconcile of the Tenant to apply in full.
    pub fn forget_applied(&self, tenant: &str) {
        self.applied.lock().expect("lock").remove(tenant);
    }

    /// Returns whether the number changed.
    pub fn set_ready(&self, tenant: &str, n: i32) -> bool {
        self.ready
            .lock()
            .expect("lock")
            .insert(tenant.to_string(), n)
            != Some(n)
    }

    pub fn ready(&self, tenant: &str) -> i32 {
        self.ready
            .lock()
            .expect("lock")
            .get(tenant)
            .copied()
            .unwrap_or(0)
    }

    /// Drops everything kept for a deleted Tenant.
    pub fn forget_tenant(&self, tenant: &str) {
        self.dirty.lock().expect("lock").remove(tenant);
        self.applied.lock().expect("lock").remove(tenant);
        self.ready.lock().expect("lock").remove(tenant);
    }

    /// The watch events of one owned kind that should wake their Tenant (see the module
    /// documentation). `ready` extracts ready replicas where the kind has them.
    pub fn filter<K, S>(
        self: Arc<Self>,
        events: S,
        ready: fn(&K) -> Option<i32>,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
    where
        K: Resource + Send + 'static,
        S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    {
        events.filter_map(move |ev| {
            future::ready(match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    let r = ready(&o);
                    self.on_event(o.meta(), false, r).then_some(Ok(o))
                }
                Ok(watcher::Event::Delete(o)) => {
                    self.on_event(o.meta(), true, None);
                    Some(Ok(o))
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
                Err(e) => Some(Err(e)),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn meta(uid: &str, generation: Option<i64>, rv: &str) -> ObjectMeta {
        ObjectMeta {
            uid: Some(uid.into()),
            generation,
            resource_version: Some(rv.into()),
            owner_references: Some(vec![OwnerReference {
                kind: "Tenant".into(),
                uid: "t1".into(),
                controller: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn own_writes_and_status_churn_do_not_wake_the_tenant() {
        let o = Owned::default();
        // The operator's apply answered generation 1 and no ready replica; its watch event
        // echoes that.
        o.observe_own(&meta("d1", Some(1), "10"));
        o.set_ready("t1", 0);
        assert!(!o.on_event(&meta("d1", Some(1), "10"), false, Some(0)));
        // Status updates by the Deployment controller: same generation, new resourceVersion.
        assert!(!o.on_event(&meta("d1", Some(1), "11"), false, Some(0)));
        assert!(!o.take_dirty("t1"));
        // A pod became ready: wake to refresh status, but no re-apply.
        assert!(o.on_event(&meta("d1", Some(1), "12"), false, Some(1)));
        assert!(!o.take_dirty("t1"));
        assert_eq!(o.ready("t1"), 1);
        // Someone edited the spec: re-apply.
        assert!(o.on_event(&meta("d1", Some(2), "13"), false, Some(1)));
        assert!(o.take_dirty("t1"));
        assert!(!o.take_dirty("t1"), "the mark is taken once");
        // The echo of an apply overtaking the apply's answer: taken back by the answer.
        assert!(o.on_event(&meta("c1", None, "30"), false, None));
        o.observe_own(&meta("c1", None, "30"));
        assert!(!o.take_dirty("t1"), "own write, seen early");
        // Kinds without a generation: a resourceVersion the operator did not write.
        o.observe_own(&meta("s1", None, "20"));
        assert!(!o.on_event(&meta("s1", None, "20"), false, None));
        assert!(o.on_event(&meta("s1", None, "21"), false, None));
        // Deleted: always re-apply.
        o.take_dirty("t1");
        assert!(o.on_event(&meta("s1", None, "21"), true, None));
        assert!(o.take_dirty("t1"));
        // A referenced Secret changed: no apply answer clears that.
        o.mark_dirty("t1");
        o.observe_own(&meta("s1", None, "22"));
        assert!(o.take_dirty("t1"));
    }

    #[test]
    fn applied_generations_expire() {
        let o = Owned::default();
        o.record_applied("t1", Some(1));
        assert!(o.applied_recently("t1", Some(1), Duration::from_secs(60)));
        assert!(!o.applied_recently("t1", Some(2), Duration::from_secs(60)));
        assert!(!o.applied_recently("t1", Some(1), Duration::ZERO));
        o.forget_tenant("t1");
        assert!(!o.applied_recently("t1", Some(1), Duration::from_secs(60)));
    }
}

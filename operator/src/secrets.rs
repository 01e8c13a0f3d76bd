//! Referenced Secrets: which objects use a Secret, and which Secret watch events are changes.
//!
//! One metadata-only watch on Secrets (their data never reaches the operator's memory) serves
//! the Tenant, DataSource and BackupSchedule controllers. Each change is mapped, through the
//! controllers' own reflector stores, to exactly the objects that reference that Secret by name
//! in its namespace; only those are enqueued (and the controllers merge a request for an object
//! already queued). A relist of the watch (after it lost its place) announces every Secret
//! again: only those whose resourceVersion moved, and those that appeared or vanished
//! meanwhile, count as changes, so a relist of thousands of Secrets wakes nobody unaffected.
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use futures::{channel::mpsc, SinkExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    core::PartialObjectMeta,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
    Resource, ResourceExt,
};
use nexbii_crds::{BackupSchedule, DataSource, DestinationKind, Tenant};

use crate::owned::Owned;

/// Names of the Secrets (in its own namespace) an object's reconcile reads.
pub trait SecretRefs {
    fn secret_names(&self) -> Vec<&str>;
}

/// What `tenant::referenced_secrets` reads. The Ingress' `tlsSecretName` is not here: the
/// operator only passes that name on, the ingress controller reads the Secret.
impl SecretRefs for Tenant {
    fn secret_names(&self) -> Vec<&str> {
        let mongo = self
            .spec
            .instance
            .storage
            .mongodb
            .as_ref()
            .map(|m| m.connection_secret_ref.name.as_str());
        let admins = self
            .spec
            .bootstrap_admins
            .iter()
            .filter_map(|a| a.password_secret_ref.as_ref())
            .map(|r| r.name.as_str());
        let oidc = self
            .spec
            .auth
            .oidc
            .as_ref()
            .map(|o| o.client_secret_ref.name.as_str());
        mongo.into_iter().chain(admins).chain(oidc).collect()
    }
}

impl SecretRefs for DataSource {
    fn secret_names(&self) -> Vec<&str> {
        self.spec
            .password_secret_ref
            .iter()
            .map(|r| r.name.as_str())
            .collect()
    }
}

/// The credentials are read only for an S3 destination (see `backup::reconcile`).
impl SecretRefs for BackupSchedule {
    fn secret_names(&self) -> Vec<&str> {
        match (&self.spec.destination.kind, &self.spec.destination.s3) {
            (DestinationKind::S3, Some(s3)) => vec![s3.credentials_secret_ref.name.as_str()],
            _ => vec![],
        }
    }
}

/// Whether `obj` references the Secret `ns/name`.
pub fn references<K: SecretRefs + Resource>(obj: &K, ns: &str, name: &str) -> bool {
    obj.meta().namespace.as_deref() == Some(ns) && obj.secret_names().contains(&name)
}

/// A Secret: (namespace, name).
pub type SecretKey = (String, String);

/// Turns the Secret watch's events into the Secrets that changed (see the module documentation).
#[derive(Default)]
pub struct Changes {
    /// resourceVersion of every Secret the watch has announced: a few dozen bytes each.
    seen: HashMap<SecretKey, String>,
    /// The Secrets announced so far by the (re)list in progress.
    listing: Option<HashSet<SecretKey>>,
}

fn key(s: &PartialObjectMeta<Secret>) -> SecretKey {
    (s.namespace().unwrap_or_default(), s.name_any())
}

impl Changes {
    pub fn on_event(&mut self, event: watcher::Event<PartialObjectMeta<Secret>>) -> Vec<SecretKey> {
        match event {
            watcher::Event::Init => {
                self.listing = Some(HashSet::new());
                vec![]
            }
            watcher::Event::InitApply(s) => {
                let k = key(&s);
                if let Some(l) = &mut self.listing {
                    l.insert(k.clone());
                }
                self.record(k, &s)
            }
            watcher::Event::InitDone => {
                // Gone while the watch was away: deleted.
                let listed = self.listing.take().unwrap_or_default();
                let gone: Vec<SecretKey> = self
                    .seen
                    .keys()
                    .filter(|k| !listed.contains(*k))
                    .cloned()
                    .collect();
                for k in &gone {
                    self.seen.remove(k);
                }
                gone
            }
            watcher::Event::Apply(s) => {
                let k = key(&s);
                self.record(k, &s)
            }
            watcher::Event::Delete(s) => {
                let k = key(&s);
                self.seen.remove(&k);
                vec![k]
            }
        }
    }

    /// A Secret seen at its current resourceVersion: a change unless that version was seen.
    fn record(&mut self, k: SecretKey, s: &PartialObjectMeta<Secret>) -> Vec<SecretKey> {
        let rv = s.resource_version().unwrap_or_default();
        if self.seen.get(&k) == Some(&rv) {
            return vec![];
        }
        self.seen.insert(k.clone(), rv);
        vec![k]
    }
}

/// The controllers' stores and where to send the objects to reconcile.
pub struct Targets {
    pub tenants: (Store<Tenant>, mpsc::Sender<ObjectRef<Tenant>>),
    pub datasources: (Store<DataSource>, mpsc::Sender<ObjectRef<DataSource>>),
    pub schedules: (
        Store<BackupSchedule>,
        mpsc::Sender<ObjectRef<BackupSchedule>>,
    ),
    /// A Tenant woken by a Secret must apply in full (its bootstrap Secret and config hash
    /// carry what it read), not just refresh its status.
    pub owned: Arc<Owned>,
}

async fn send<K>(store: &Store<K>, tx: &mut mpsc::Sender<ObjectRef<K>>, ns: &str, name: &str)
where
    K: SecretRefs + Resource<DynamicType = ()> + Clone,
{
    for o in store.state_filter(|o| references(o, ns, name)) {
        // A closed channel means that controller is shutting down.
        let _ = tx.send(ObjectRef::from_obj(o.as_ref())).await;
    }
}

/// Consumes the Secret watch until it ends, enqueueing the users of every changed Secret.
pub async fn trigger<S>(events: S, mut to: Targets)
where
    S: Stream<Item = Result<watcher::Event<PartialObjectMeta<Secret>>, watcher::Error>>,
{
    let mut changes = Changes::default();
    let mut events = std::pin::pin!(events);
    while let Some(ev) = events.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "watching Secrets failed; retrying");
                continue;
            }
        };
        for (ns, name) in changes.on_event(ev) {
            let (store, tx) = &mut to.tenants;
            for t in store.state_filter(|t| references(t, &ns, &name)) {
                if let Some(uid) = t.uid() {
                    to.owned.mark_dirty(&uid);
                }
            }
            send(store, tx, &ns, &name).await;
            send(&to.datasources.0, &mut to.datasources.1, &ns, &name).await;
            send(&to.schedules.0, &mut to.schedules.1, &ns, &name).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;
    use serde_json::json;

    fn tenant(ns: &str, spec: serde_json::Value) -> Tenant {
        let mut t: Tenant = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
            "kind": "Tenant", "metadata": {"name": "t", "namespace": ns}, "spec": spec}))
        .unwrap();
        t.metadata.namespace = Some(ns.into());
        t
    }

    #[test]
    fn every_reference_is_found_and_nothing_else() {
        let t = tenant(
            "a",
            json!({"displayName": "T",
                "bootstrapAdmins": [{"username": "root", "passwordSecretRef": {"name": "admin-pw", "key": "p"}},
                                    {"username": "gen"}],
                "instance": {"storage": {"kind": "mongodb",
                    "mongodb": {"connectionSecretRef": {"name": "mongo", "key": "url"}, "database": "d"}},
                    "exposure": {"ingress": {"host": "x.example.com", "tlsSecretName": "tls"}}}}),
        );
        assert!(references(&t, "a", "admin-pw"));
        assert!(references(&t, "a", "mongo"));
        assert!(!references(&t, "b", "mongo"), "same name, other namespace");
        assert!(
            !references(&t, "a", "tls"),
            "read by the ingress controller"
        );
        assert!(!references(&t, "a", "t-nexbii-keys"));
        assert!(tenant("a", json!({"displayName": "T"}))
            .secret_names()
            .is_empty());

        let ds: DataSource = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
            "kind": "DataSource", "metadata": {"name": "d", "namespace": "a"},
            "spec": {"tenantRef": {"name": "t"}, "type": "postgresql", "host": "h", "database": "x",
                "username": "u", "passwordSecretRef": {"name": "pg", "key": "password"}}}))
        .unwrap();
        assert!(references(&ds, "a", "pg"));
        assert!(!references(&ds, "a", "password"));

        let schedule = |kind: &str| -> BackupSchedule {
            serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1",
                "kind": "BackupSchedule", "metadata": {"name": "b", "namespace": "a"},
                "spec": {"tenantRef": {"name": "t"}, "schedule": "0 2 * * *",
                    "destination": {"kind": kind, "volume": {"path": "/b"},
                        "s3": {"bucket": "bkt", "credentialsSecretRef": {"name": "s3"}}}}}))
            .unwrap()
        };
        assert!(references(&schedule("s3"), "a", "s3"));
        assert!(
            !references(&schedule("volume"), "a", "s3"),
            "not read for a volume destination"
        );
    }

    fn secret(ns: &str, name: &str, rv: &str) -> PartialObjectMeta<Secret> {
        PartialObjectMeta {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn k(ns: &str, name: &str) -> SecretKey {
        (ns.into(), name.into())
    }

    #[test]
    fn a_relist_announces_only_what_changed() {
        use watcher::Event::*;
        let mut c = Changes::default();
        // The first list: everything is news (a reconcile may have read an older version
        // before the watch started).
        assert!(c.on_event(Init).is_empty());
        assert_eq!(c.on_event(InitApply(secret("a", "x", "1"))), [k("a", "x")]);
        assert_eq!(c.on_event(InitApply(secret("a", "y", "2"))), [k("a", "y")]);
        assert_eq!(c.on_event(InitApply(secret("b", "x", "3"))), [k("b", "x")]);
        assert!(c.on_event(InitDone).is_empty());
        // Live changes.
        assert_eq!(c.on_event(Apply(secret("a", "x", "4"))), [k("a", "x")]);
        assert_eq!(c.on_event(Delete(secret("b", "x", "5"))), [k("b", "x")]);
        // A relist: unchanged Secrets are no change; a new one is.
        assert!(c.on_event(Init).is_empty());
        assert!(c.on_event(InitApply(secret("a", "x", "4"))).is_empty());
        assert!(c.on_event(InitApply(secret("a", "y", "2"))).is_empty());
        assert_eq!(c.on_event(InitApply(secret("c", "z", "7"))), [k("c", "z")]);
        assert!(c.on_event(InitDone).is_empty(), "b/x was deleted before");
        // Another: one changed while the watch was away, one deleted meanwhile.
        assert!(c.on_event(Init).is_empty());
        assert_eq!(c.on_event(InitApply(secret("a", "x", "9"))), [k("a", "x")]);
        assert!(c.on_event(InitApply(secret("c", "z", "7"))).is_empty());
        assert_eq!(c.on_event(InitDone), [k("a", "y")], "deleted meanwhile");
        // And the deletion is not announced twice.
        assert!(c.on_event(Init).is_empty());
        assert!(c.on_event(InitApply(secret("a", "x", "9"))).is_empty());
        assert!(c.on_event(InitApply(secret("c", "z", "7"))).is_empty());
        assert!(c.on_event(InitDone).is_empty());
    }

    #[test]
    fn a_relist_of_thousands_of_secrets_wakes_nobody() {
        use watcher::Event::*;
        let mut c = Changes::default();
        let all = |c: &mut Changes| {
            let mut woken = c.on_event(Init).len();
            for i in 0..3000 {
                woken += c
                    .on_event(InitApply(secret("a", &format!("s{i}"), &i.to_string())))
                    .len();
            }
            woken + c.on_event(InitDone).len()
        };
        assert_eq!(all(&mut c), 3000);
        assert_eq!(all(&mut c), 0);
    }
}

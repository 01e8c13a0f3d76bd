//! A read-through cache in front of any [`Store`] for the small configuration records every
//! request reads (tenant, session, user, data source, dashboard). [`CachedStore::cached`]
//! keeps them decoded, shared behind an `Arc`, so a hot path neither queries nor decodes.
//! Writes pass through and invalidate their entry, so this instance always reads its own
//! writes; writes made by another replica become visible within the time-to-live (default 2 s).
//! Plain `get`, lists and counts go straight to the store.
use std::{
    any::Any,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use serde_json::Value;

use super::{
    decode, Collection, Delta, DynStore, Entity, Expect, ListQuery, Page, Put, RawRecord, Snapshot,
    Store, StoreResult, TenantScope, WriteAccess,
};

/// A decoded record (downcast to its entity type), or a remembered miss.
type Entry = Option<Arc<dyn Any + Send + Sync>>;

type Key = (TenantScope, Collection, String);

pub struct CachedStore {
    inner: DynStore,
    /// `None` caches a miss too: unknown ids (bad tokens, deleted objects) stay cheap.
    entries: moka::sync::Cache<Key, Entry>,
    /// Bumped by every write. A read that raced a write does not fill the cache: the reader
    /// compares the epoch it started with under this lock, which writers hold while bumping.
    epoch: Mutex<u64>,
}

impl CachedStore {
    pub fn new(inner: DynStore, ttl: Duration) -> Self {
        Self {
            inner,
            entries: moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(100_000)
                .build(),
            epoch: Mutex::new(0),
        }
    }

    /// The record `id` of `T`, decoded once and shared until it changes or expires.
    pub async fn cached<T: Entity + 'static>(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> StoreResult<Option<Arc<T>>> {
        let key = (scope.clone(), T::COLLECTION, id.to_string());
        if let Some(hit) = self.entries.get(&key) {
            if let Some(found) = hit.map(|a| a.downcast::<T>()) {
                if let Ok(rec) = found {
                    return Ok(Some(rec));
                }
            } else {
                return Ok(None);
            }
        }
        let started = self.epoch();
        let found = match self.inner.get(scope, T::COLLECTION, id).await? {
            Some(v) => Some(Arc::new(decode::<T>(v)?)),
            None => None,
        };
        let epoch = self.epoch.lock().expect("epoch lock");
        if *epoch == started {
            let entry: Entry = found.clone().map(|a| a as Arc<dyn Any + Send + Sync>);
            self.entries.insert(key, entry);
        }
        drop(epoch);
        Ok(found)
    }

    fn epoch(&self) -> u64 {
        *self.epoch.lock().expect("epoch lock")
    }

    /// After a write: later reads must miss, and reads in flight must not fill.
    fn written(&self, scope: &TenantScope, coll: Collection, id: &str) {
        let mut epoch = self.epoch.lock().expect("epoch lock");
        *epoch += 1;
        self.entries
            .invalidate(&(scope.clone(), coll, id.to_string()));
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn usage(&self) -> StoreResult<super::StoreUsage> {
        self.inner.usage().await
    }

    async fn get(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
    ) -> StoreResult<Option<Value>> {
        self.inner.get(scope, coll, id).await
    }

    async fn list(
        &self,
        scope: &TenantScope,
        coll: Collection,
        q: &ListQuery,
    ) -> StoreResult<Page> {
        self.inner.list(scope, coll, q).await
    }

    async fn count(
        &self,
        scope: &TenantScope,
        coll: Collection,
        q: &ListQuery,
    ) -> StoreResult<u64> {
        self.inner.count(scope, coll, q).await
    }

    async fn put(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        coll: Collection,
        put: Put<'_>,
        expect: Expect,
    ) -> StoreResult<()> {
        let id = put.id.to_string();
        let res = self.inner.put(access, scope, coll, put, expect).await;
        // Also after a failed conditional write: it may mean our entry is stale.
        self.written(scope, coll, &id);
        res
    }

    async fn remove(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        revision: Option<u64>,
    ) -> StoreResult<bool> {
        let res = self.inner.remove(access, scope, coll, id, revision).await;
        self.written(scope, coll, id);
        res
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantScope>> {
        self.inner.tenants().await
    }

    async fn snapshot(&self, scope: &TenantScope, colls: &[Collection]) -> StoreResult<Snapshot> {
        self.inner.snapshot(scope, colls).await
    }

    async fn stage(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
        records: &[RawRecord],
    ) -> StoreResult<()> {
        self.inner.stage(access, scope, staging, records).await
    }

    async fn swap_staged(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
        delta: &Delta<'_>,
    ) -> StoreResult<()> {
        let res = self.inner.swap_staged(access, scope, staging, delta).await;
        // A restore replaces whole collections: forget everything (restores are rare).
        let mut epoch = self.epoch.lock().expect("epoch lock");
        *epoch += 1;
        self.entries.invalidate_all();
        drop(epoch);
        res
    }

    async fn drop_staged(
        &self,
        access: &WriteAccess,
        scope: &TenantScope,
        staging: &str,
    ) -> StoreResult<()> {
        self.inner.drop_staged(access, scope, staging).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        store::{
            sqlite::SqliteStore,
            write::{Actor, Writer},
            Meta,
        },
        tenant::TenantRecord,
    };

    fn tenant(display: &str) -> TenantRecord {
        let spec: nexbii_crds::TenantSpec =
            serde_json::from_value(serde_json::json!({"displayName": display})).unwrap();
        TenantRecord {
            name: "acme".into(),
            spec,
            origin: crate::store::Origin::Api,
            meta: Meta::default(),
        }
    }

    #[tokio::test]
    async fn reads_its_own_writes_and_other_replicas_within_the_ttl() {
        let inner: DynStore = Arc::new(SqliteStore::in_memory().await.unwrap());
        let here = Arc::new(CachedStore::new(inner.clone(), Duration::from_secs(60)));
        let other = Arc::new(CachedStore::new(inner.clone(), Duration::from_millis(200)));
        let writer = Writer::new(here.clone() as DynStore, vec![]);
        let other_writer = Writer::new(other.clone() as DynStore, vec![]);
        let scope = TenantScope::new("acme").unwrap();
        let id = TenantRecord::ID;

        // A miss is remembered, and forgotten by the write that creates the record.
        assert!(here
            .cached::<TenantRecord>(&scope, id)
            .await
            .unwrap()
            .is_none());
        let t = writer
            .save(&scope, &Actor::System, tenant("One"), Expect::Absent)
            .await
            .unwrap();
        let a = here
            .cached::<TenantRecord>(&scope, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.spec.display_name, "One");
        let b = here
            .cached::<TenantRecord>(&scope, id)
            .await
            .unwrap()
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b), "a hit shares the decoded record");

        // This instance sees its own update at once.
        let mut changed = (*a).clone();
        changed.spec.display_name = "Two".into();
        writer
            .save(
                &scope,
                &Actor::System,
                changed,
                Expect::Revision(t.meta.revision),
            )
            .await
            .unwrap();
        let now = here
            .cached::<TenantRecord>(&scope, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.spec.display_name, "Two");

        // Another replica's write reaches this one only after the TTL; that one sees it at once.
        let o = other
            .cached::<TenantRecord>(&scope, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.spec.display_name, "Two");
        let mut third = (*o).clone();
        third.spec.display_name = "Three".into();
        other_writer
            .save(
                &scope,
                &Actor::System,
                third,
                Expect::Revision(o.meta.revision),
            )
            .await
            .unwrap();
        assert_eq!(
            other
                .cached::<TenantRecord>(&scope, id)
                .await
                .unwrap()
                .unwrap()
                .spec
                .display_name,
            "Three"
        );
        let stale = here
            .cached::<TenantRecord>(&scope, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stale.spec.display_name, "Two", "within the 60 s TTL");

        // Deleting through this instance is seen at once.
        writer
            .delete::<TenantRecord>(&scope, &Actor::System, id, None)
            .await
            .unwrap();
        assert!(here
            .cached::<TenantRecord>(&scope, id)
            .await
            .unwrap()
            .is_none());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            other
                .cached::<TenantRecord>(&scope, id)
                .await
                .unwrap()
                .is_none(),
            "the other replica sees the delete after its TTL"
        );
    }
}

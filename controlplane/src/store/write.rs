//! The one write path. Every change to a tenant's stored objects (API handlers, the manifests
//! loader, the operator's provisioning API, background jobs) goes through [`Writer`]: it
//! validates the record, stamps its [`Meta`] (revision, updated by/at), writes with optimistic
//! concurrency (a stale revision is refused, never silently overwritten) and hands the committed
//! [`Change`] to every registered [`WriteHook`] — where history, the change journal, audit and
//! events attach without any handler having to remember them.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;

use super::{
    history, Collection, Delta, DynStore, Entity, Expect, ListQuery, Put, RawRecord, StoreError,
    StoreExt, TenantScope, WriteAccess,
};

/// Who makes a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(String),
    Operator,
    Manifests,
    /// The control plane itself (bootstrap, bookkeeping).
    System,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Self::User(u) => format!("user:{u}"),
            Self::Operator => "operator".into(),
            Self::Manifests => "manifests".into(),
            Self::System => "system".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// A committed change, as hooks see it.
#[derive(Clone, Debug)]
pub struct Change {
    pub tenant: TenantScope,
    pub collection: Collection,
    pub id: String,
    pub kind: ChangeKind,
    /// The revision written (for deletes: the revision removed).
    pub revision: u64,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The list fields stored beside `after` (none for deletes): with `after`, revision and
    /// time, exactly the record as stored, so the change journal can replay it.
    pub fields: Option<serde_json::Map<String, Value>>,
}

/// Whole collections of a tenant replaced at once (a restore), as hooks see it.
#[derive(Clone, Debug)]
pub struct Replaced {
    pub tenant: TenantScope,
    pub collections: Vec<Collection>,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// Reacts to committed changes (cache invalidation today; history, journal, audit and events
/// next). Hooks run after the write, in registration order, and cannot undo it.
#[async_trait]
pub trait WriteHook: Send + Sync {
    async fn committed(&self, change: &Change);
    /// After a restore swapped whole collections in; a hook that keeps per-record state
    /// forgets the tenant's.
    async fn replaced(&self, _replaced: &Replaced) {}
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("invalid fields: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<nexbii_crds::FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type WriteResult<T> = Result<T, WriteError>;

/// How often a read-modify-write is retried when another writer got there first.
const MODIFY_ATTEMPTS: usize = 8;

#[derive(Clone)]
pub struct Writer {
    store: DynStore,
    hooks: Arc<Vec<Arc<dyn WriteHook>>>,
}

enum Op<'a> {
    Put(&'a Value, serde_json::Map<String, Value>),
    /// Carries the record as read before, so hooks get it without a second read.
    Delete(Value),
}

/// Times kept to the millisecond, the precision both stores hold.
fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

impl Writer {
    pub fn new(store: DynStore, hooks: Vec<Arc<dyn WriteHook>>) -> Self {
        Self {
            store,
            hooks: Arc::new(hooks),
        }
    }

    /// Writes `rec`: a create with [`Expect::Absent`], else an update based on the revision the
    /// caller read. Returns the record as stored (with its new [`Meta`]).
    pub async fn save<T: Entity>(
        &self,
        scope: &TenantScope,
        actor: &Actor,
        mut rec: T,
        expect: Expect,
    ) -> WriteResult<T> {
        let errs = rec.validate();
        if !errs.is_empty() {
            return Err(WriteError::Invalid(errs));
        }
        let at = now();
        let meta = rec.meta_mut();
        meta.revision = match expect {
            Expect::Absent => 1,
            Expect::Revision(r) => r + 1,
        };
        if expect == Expect::Absent || meta.created_at == DateTime::<Utc>::default() {
            meta.created_at = at;
        }
        meta.updated_at = at;
        meta.updated_by = actor.label();
        let doc = serde_json::to_value(&rec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let id = rec.id().to_string();
        self.commit(
            scope,
            actor,
            T::COLLECTION,
            &id,
            Op::Put(&doc, rec.fields()),
            expect,
            at,
        )
        .await?;
        Ok(rec)
    }

    /// Reads, changes and writes back one record, retrying when another writer got there
    /// first. For bookkeeping that applies to whatever is current (last login, revocation);
    /// user edits use [`Writer::save`] with the revision the user saw. `None` when missing.
    pub async fn modify<T: Entity>(
        &self,
        scope: &TenantScope,
        actor: &Actor,
        id: &str,
        mut change: impl FnMut(&mut T) + Send,
    ) -> WriteResult<Option<T>> {
        for _ in 0..MODIFY_ATTEMPTS {
            let Some(mut rec) = self.store.get_as::<T>(scope, id).await? else {
                return Ok(None);
            };
            let base = rec.meta().revision;
            change(&mut rec);
            match self.save(scope, actor, rec, Expect::Revision(base)).await {
                Err(WriteError::Store(StoreError::Stale { .. })) => continue,
                Err(WriteError::Store(StoreError::Missing(_))) => return Ok(None),
                other => return other.map(Some),
            }
        }
        Err(StoreError::Backend(format!(
            "{} {id}: gave up after {MODIFY_ATTEMPTS} concurrent changes",
            T::COLLECTION.name()
        ))
        .into())
    }

    /// Deletes one record; with `Some(revision)` only if it is still at that revision.
    /// Returns the removed record, `None` when there was none.
    pub async fn delete<T: Entity>(
        &self,
        scope: &TenantScope,
        actor: &Actor,
        id: &str,
        revision: Option<u64>,
    ) -> WriteResult<Option<T>> {
        let Some(before) = self.store.get_as::<T>(scope, id).await? else {
            return Ok(None);
        };
        let rev = revision.unwrap_or(before.meta().revision);
        let doc = serde_json::to_value(&before).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let removed = self
            .commit(
                scope,
                actor,
                T::COLLECTION,
                id,
                Op::Delete(doc),
                Expect::Revision(rev),
                now(),
            )
            .await?;
        Ok(removed.then_some(before))
    }

    /// Keeps restored records aside under `staging` until [`Writer::swap_staged`]. The records
    /// keep their revisions and times: a restore puts back what was, it does not edit.
    pub async fn stage(
        &self,
        scope: &TenantScope,
        staging: &str,
        records: &[RawRecord],
    ) -> WriteResult<()> {
        Ok(self
            .store
            .stage(&WriteAccess(()), scope, staging, records)
            .await?)
    }

    /// Applies a restore's difference (the staged records and `delta`) atomically, then tells
    /// the hooks its collections were replaced.
    pub async fn swap_staged(
        &self,
        scope: &TenantScope,
        actor: &Actor,
        staging: &str,
        delta: &Delta<'_>,
    ) -> WriteResult<()> {
        self.store
            .swap_staged(&WriteAccess(()), scope, staging, delta)
            .await?;
        let colls = delta.collections();
        let replaced = Replaced {
            tenant: scope.clone(),
            collections: colls.clone(),
            actor: actor.clone(),
            at: now(),
        };
        tracing::info!(
            tenant = scope.tenant(),
            collections = ?colls.iter().map(|c| c.name()).collect::<Vec<_>>(),
            actor = %actor.label(),
            "collections replaced by a restore"
        );
        for hook in self.hooks.iter() {
            hook.replaced(&replaced).await;
        }
        Ok(())
    }

    /// Forgets what a restore staged (it failed or was a dry run).
    pub async fn drop_staged(&self, scope: &TenantScope, staging: &str) -> WriteResult<()> {
        Ok(self
            .store
            .drop_staged(&WriteAccess(()), scope, staging)
            .await?)
    }

    /// The single place where the store's mutating methods are called.
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        scope: &TenantScope,
        actor: &Actor,
        coll: Collection,
        id: &str,
        op: Op<'_>,
        expect: Expect,
        at: DateTime<Utc>,
    ) -> WriteResult<bool> {
        let access = WriteAccess(());
        let wants_before = !self.hooks.is_empty() && expect != Expect::Absent;
        let before = match &op {
            Op::Delete(doc) => Some(doc.clone()),
            Op::Put(..) if wants_before => self.store.get(scope, coll, id).await?,
            Op::Put(..) => None,
        };
        let (kind, revision, after, stored_fields) = match op {
            Op::Put(doc, fields) => {
                let revision = match expect {
                    Expect::Absent => 1,
                    Expect::Revision(r) => r + 1,
                };
                let put = Put {
                    id,
                    doc,
                    revision,
                    updated_at: at,
                    fields: &fields,
                };
                self.store.put(&access, scope, coll, put, expect).await?;
                let kind = match expect {
                    Expect::Absent => ChangeKind::Created,
                    Expect::Revision(_) => ChangeKind::Updated,
                };
                (kind, revision, Some(doc.clone()), Some(fields))
            }
            Op::Delete(_) => {
                let rev = match expect {
                    Expect::Revision(r) => Some(r),
                    Expect::Absent => None,
                };
                if !self.store.remove(&access, scope, coll, id, rev).await? {
                    return Ok(false);
                }
                (ChangeKind::Deleted, rev.unwrap_or_default(), None, None)
            }
        };
        let change = Change {
            tenant: scope.clone(),
            collection: coll,
            id: id.to_string(),
            kind,
            revision,
            actor: actor.clone(),
            at,
            before,
            after,
            fields: stored_fields,
        };
        tracing::debug!(
            tenant = scope.tenant(),
            collection = coll.name(),
            id,
            revision,
            kind = ?kind,
            actor = %actor.label(),
            "change committed"
        );
        self.record_version(&access, &change).await;
        for hook in self.hooks.iter() {
            hook.committed(&change).await;
        }
        Ok(true)
    }

    /// Records the change as the object's next configuration version (versioned collections
    /// only). The change is committed already: a failure here is logged, not returned, so a
    /// caller is never told a write failed that did happen.
    async fn record_version(&self, access: &WriteAccess, change: &Change) {
        let Some(kind) = history::kind_of(change.collection) else {
            return;
        };
        // The object's versions only (their ids share a prefix): without the range, finding
        // the last one read every version of every object of the kind.
        let mut last_of = ListQuery::default()
            .id_prefix(history::version_prefix(kind, &change.id))
            .filter("kind", kind)
            .filter("name", change.id.clone())
            .limit(1);
        last_of.descending = true;
        // Two writers of one object may race for a version number: the loser takes the next.
        for _ in 0..MODIFY_ATTEMPTS {
            let last = match self
                .store
                .list(&change.tenant, Collection::ConfigHistory, &last_of)
                .await
            {
                Ok(p) => p
                    .items
                    .first()
                    .and_then(|v| v.get("version"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                Err(e) => {
                    tracing::warn!(error = %e, id = change.id, "configuration history not recorded");
                    return;
                }
            };
            let Some(mut version) = history::version_of(change, last) else {
                return;
            };
            version.meta = super::Meta {
                revision: 1,
                created_at: change.at,
                updated_at: change.at,
                updated_by: change.actor.label(),
            };
            let Ok(doc) = serde_json::to_value(&version) else {
                return;
            };
            let put = Put {
                id: &version.id,
                doc: &doc,
                revision: 1,
                updated_at: change.at,
                fields: &version.fields(),
            };
            match self
                .store
                .put(
                    access,
                    &change.tenant,
                    Collection::ConfigHistory,
                    put,
                    Expect::Absent,
                )
                .await
            {
                Ok(()) => {
                    // Versions are records like any other: the hooks (the change journal
                    // among them) see them too.
                    let written = Change {
                        tenant: change.tenant.clone(),
                        collection: Collection::ConfigHistory,
                        id: version.id.clone(),
                        kind: ChangeKind::Created,
                        revision: 1,
                        actor: change.actor.clone(),
                        at: change.at,
                        before: None,
                        after: Some(doc.clone()),
                        fields: Some(version.fields()),
                    };
                    for hook in self.hooks.iter() {
                        hook.committed(&written).await;
                    }
                    if version.version > history::KEEP_VERSIONS {
                        let old = history::version_id(
                            kind,
                            &change.id,
                            version.version - history::KEEP_VERSIONS,
                        );
                        let gone = self
                            .store
                            .remove(
                                access,
                                &change.tenant,
                                Collection::ConfigHistory,
                                &old,
                                None,
                            )
                            .await;
                        match gone {
                            Ok(true) => {
                                let removed = Change {
                                    tenant: change.tenant.clone(),
                                    collection: Collection::ConfigHistory,
                                    id: old.clone(),
                                    kind: ChangeKind::Deleted,
                                    revision: 1,
                                    actor: change.actor.clone(),
                                    at: change.at,
                                    before: None,
                                    after: None,
                                    fields: None,
                                };
                                for hook in self.hooks.iter() {
                                    hook.committed(&removed).await;
                                }
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, id = old, "old configuration version kept")
                            }
                        }
                    }
                    return;
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, id = change.id, "configuration history not recorded");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Only the store module (this write path, the implementations and the conformance suite)
    /// can make a `WriteAccess`, so only it can call `Store::put` / `Store::remove`. The field is
    /// private, so the compiler enforces this; the scan keeps the rule visible and fails loudly
    /// if someone widens the constructor.
    #[test]
    fn no_module_outside_the_store_can_write() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    if path != src.join("store") {
                        stack.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains("WriteAccess") {
                        offenders.push(path);
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "outside the write path: {offenders:?}"
        );
        let store_mod = std::fs::read_to_string(src.join("store/mod.rs")).unwrap();
        assert!(
            store_mod.contains("pub struct WriteAccess(());"),
            "WriteAccess must keep its private field"
        );
    }
}

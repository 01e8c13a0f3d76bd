//! Keeps the engine in step with the store: a changed or removed data source loses its pool.
//! (Cached results need no purge: their keys carry the source revision.)
use std::sync::Arc;

use async_trait::async_trait;

use super::Engine;
use crate::store::{
    write::{Change, ChangeKind, Replaced, WriteHook},
    Collection,
};

pub struct ForgetChangedSources(pub Arc<Engine>);

#[async_trait]
impl WriteHook for ForgetChangedSources {
    async fn committed(&self, change: &Change) {
        if change.collection == Collection::DataSources && change.kind != ChangeKind::Created {
            self.0.forget(&change.tenant, &change.id);
        }
    }

    async fn replaced(&self, replaced: &Replaced) {
        if replaced.collections.contains(&Collection::DataSources) {
            self.0.forget_tenant(&replaced.tenant);
        }
    }
}

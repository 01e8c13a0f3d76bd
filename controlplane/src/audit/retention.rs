//! Retention: entries older than the tenant's policy allows are pruned, oldest first, after a
//! signed checkpoint of the newest pruned entry was stored — the anchor that keeps what
//! remains verifiable (its first entry links to a hash a checkpoint vouches for).
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    log::{checkpoint, AuditError, PAGE},
    model::{AuditEntry, Checkpoint},
};
use crate::{
    governance::policies::PolicyRecord,
    state::{AppState, SharedState},
    store::{decode, write::Actor, Collection, ListQuery, Store, StoreExt, TenantScope},
};

/// The longest `audit.retentionDays` of the tenant's governance policies (no policy: entries
/// are kept for good — evidence is never dropped by default).
pub async fn retention_days(
    state: &AppState,
    scope: &TenantScope,
) -> Result<Option<u32>, AuditError> {
    let policies = state.store.list_as::<PolicyRecord>(scope).await?;
    Ok(policies.iter().map(|p| p.spec.audit.retention_days).max())
}

/// What one pruning pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub entries: u64,
    pub checkpoints: u64,
    /// The sequence number the remaining chain is anchored at.
    pub anchor: Option<u64>,
}

/// Removes the tenant's entries older than its retention at `now`.
pub async fn prune(
    state: &AppState,
    scope: &TenantScope,
    now: DateTime<Utc>,
) -> Result<Pruned, AuditError> {
    let Some(days) = retention_days(state, scope).await? else {
        return Ok(Pruned::default());
    };
    let cutoff = now - TimeDelta::days(days as i64);
    let old = ListQuery {
        updated_before: Some(cutoff),
        ..Default::default()
    };
    let newest_old = state
        .store
        .list(
            scope,
            Collection::AuditLog,
            &old.clone().limit(1).descending(),
        )
        .await?;
    let Some(last) = newest_old.items.into_iter().next() else {
        return Ok(Pruned::default());
    };
    let last: AuditEntry = decode(last)?;
    let anchor = last.body.seq;
    // The anchor first: if pruning stops half-way, the chain is still anchored.
    checkpoint(state, scope, anchor, &last.hash).await?;
    let mut out = Pruned {
        anchor: Some(anchor),
        ..Default::default()
    };
    loop {
        let page = state
            .store
            .list(
                scope,
                Collection::AuditLog,
                &ListQuery::default().limit(PAGE),
            )
            .await?;
        let mut done = page.items.is_empty();
        for v in page.items {
            let e: AuditEntry = decode(v)?;
            if e.body.seq > anchor {
                done = true;
                break;
            }
            state
                .writer
                .delete::<AuditEntry>(scope, &Actor::System, &e.id, None)
                .await?;
            out.entries += 1;
        }
        if done {
            break;
        }
    }
    // Checkpoints of pruned entries vouch for nothing any more; the anchor stays.
    for c in super::log::checkpoints(state, scope).await? {
        if c.seq < anchor {
            state
                .writer
                .delete::<Checkpoint>(scope, &Actor::System, &c.id, None)
                .await?;
            out.checkpoints += 1;
        }
    }
    Ok(out)
}

/// Prunes every tenant's log once an hour.
pub async fn prune_loop(state: SharedState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let tenants = match state.store.tenants().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "audit retention: tenants not listed");
                continue;
            }
        };
        for scope in tenants {
            match prune(&state, &scope, Utc::now()).await {
                Ok(p) if p.entries > 0 => {
                    tracing::info!(
                        tenant = scope.tenant(),
                        entries = p.entries,
                        "audit entries pruned"
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(tenant = scope.tenant(), error = %e, "audit retention failed")
                }
            }
        }
    }
}

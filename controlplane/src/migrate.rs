//! Brings records written before revisions existed up to date: they read as revision 0 and
//! carry no list fields, so a filtered list (viewers' published dashboards, a user's sessions)
//! would miss them. Each is written once through the write path, which stamps its revision and
//! fields; records already at revision 1 or later are left alone, so this is cheap to run on
//! every start.
use crate::{
    admin::ScheduleRecord,
    auth::{SessionRecord, UserRecord},
    bi::{dashboards::DashboardRecord, datasources::DataSourceRecord, queries::SavedQuery},
    governance::PolicyRecord,
    state::AppState,
    store::{write::Actor, Entity, Expect, Store, StoreExt, TenantScope},
    tenant::TenantRecord,
};

/// Upgrades every tenant's legacy records; returns how many were rewritten.
pub async fn upgrade_legacy_records(state: &AppState) -> anyhow::Result<usize> {
    let mut upgraded = 0;
    for scope in state.store.tenants().await? {
        upgraded += upgrade::<TenantRecord>(state, &scope).await?;
        upgraded += upgrade::<UserRecord>(state, &scope).await?;
        upgraded += upgrade::<SessionRecord>(state, &scope).await?;
        upgraded += upgrade::<DataSourceRecord>(state, &scope).await?;
        upgraded += upgrade::<SavedQuery>(state, &scope).await?;
        upgraded += upgrade::<DashboardRecord>(state, &scope).await?;
        upgraded += upgrade::<PolicyRecord>(state, &scope).await?;
        upgraded += upgrade::<ScheduleRecord>(state, &scope).await?;
    }
    if upgraded > 0 {
        tracing::info!(upgraded, "records from before revisions brought up to date");
    }
    Ok(upgraded)
}

async fn upgrade<T: Entity>(state: &AppState, scope: &TenantScope) -> anyhow::Result<usize> {
    let mut n = 0;
    for rec in state.store.list_as::<T>(scope).await? {
        if rec.meta().revision == 0 {
            state
                .writer
                .save(scope, &Actor::System, rec, Expect::Revision(0))
                .await?;
            n += 1;
        }
    }
    Ok(n)
}

//! Whether a data source works: connection, server version, latency, schema discovered. Checked
//! when a source is created or changed, on its `schemaSyncIntervalSeconds` (standalone and under
//! the operator alike) and on demand; kept as one `DataSourceStatus` record per source.
use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{domain, model::DataSourceRecord};
use crate::{
    engine::SchemaInfo,
    http::{ApiError, ApiResult},
    state::AppState,
    store::{
        write::{Actor, WriteError},
        Expect, Meta, Store, StoreError, StoreExt, TenantScope,
    },
};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// The data source this status belongs to.
    pub name: String,
    /// The source revision that was checked.
    pub source_revision: u64,
    pub connected: bool,
    pub checked_at: DateTime<Utc>,
    /// Round trip of the connection check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// Why the last check failed (credentials never appear here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub tables: u32,
    pub columns: u32,
    /// When the schema was last read successfully.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_synced_at: Option<DateTime<Utc>>,
    /// Digest of the discovered schema: a change means dependent dashboards are re-validated.
    #[serde(default)]
    pub schema_digest: String,
    /// When the catalog crawl of this source last completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_synced_at: Option<DateTime<Utc>>,
    /// Catalog columns with a sensitivity, by level (from the last crawl or override).
    #[serde(default)]
    pub classified: std::collections::BTreeMap<String, usize>,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! { SourceStatus, DataSourceStatus, name }

fn digest(schema: &SchemaInfo) -> String {
    let mut h = Sha256::new();
    for t in &schema.tables {
        h.update(t.schema.as_deref().unwrap_or_default());
        h.update([0]);
        h.update(&t.name);
        for c in &t.columns {
            h.update([1]);
            h.update(&c.name);
            h.update([2]);
            h.update(&c.type_name);
        }
        h.update([3]);
    }
    hex::encode(h.finalize())
}

/// Checks the source now and stores the outcome. Returns the status and whether the schema
/// changed since the previous check. Two checks of one source may overlap (a manual sync and
/// the background loop): the one that finds its base revision gone checks again on top of the
/// other's result, instead of failing the caller with a conflict — and still reports a change
/// against the schema it first saw, so its caller revalidates what depends on it.
pub async fn check(
    state: &AppState,
    scope: &TenantScope,
    rec: &DataSourceRecord,
) -> ApiResult<(SourceStatus, bool)> {
    const ATTEMPTS: usize = 3;
    let mut first_seen = None;
    for _ in 0..ATTEMPTS {
        match check_once(state, scope, rec, first_seen.as_deref()).await? {
            Ok(done) => return Ok(done),
            Err(seen) => {
                first_seen.get_or_insert(seen);
            }
        }
    }
    Err(ApiError::Conflict(format!(
        "data source {}: its status kept changing during {ATTEMPTS} checks",
        rec.name
    )))
}

/// One check; `Err(digest it was based on)` when another check stored its result first.
/// `since`: the schema digest a change is reported against (else the stored one).
async fn check_once(
    state: &AppState,
    scope: &TenantScope,
    rec: &DataSourceRecord,
    since: Option<&str>,
) -> ApiResult<Result<(SourceStatus, bool), String>> {
    let previous = state.store.get_as::<SourceStatus>(scope, &rec.name).await?;
    let src = domain::resolve(state, scope, rec)?;
    let mut status = SourceStatus {
        name: rec.name.clone(),
        source_revision: rec.meta.revision,
        connected: false,
        checked_at: Utc::now(),
        latency_ms: None,
        server_version: None,
        last_error: None,
        tables: 0,
        columns: 0,
        schema_synced_at: previous.as_ref().and_then(|p| p.schema_synced_at),
        schema_digest: previous
            .as_ref()
            .map(|p| p.schema_digest.clone())
            .unwrap_or_default(),
        catalog_synced_at: previous.as_ref().and_then(|p| p.catalog_synced_at),
        classified: previous
            .as_ref()
            .map(|p| p.classified.clone())
            .unwrap_or_default(),
        meta: previous
            .as_ref()
            .map(|p| p.meta.clone())
            .unwrap_or_default(),
    };
    match state.engine.test_connection(&src).await {
        Ok(t) => {
            status.connected = true;
            status.latency_ms = Some(t.latency_ms);
            status.server_version = Some(t.server_version);
            match state.engine.schema(&src).await {
                Ok(s) => {
                    status.tables = s.tables.len() as u32;
                    status.columns = s.tables.iter().map(|t| t.columns.len() as u32).sum();
                    status.schema_synced_at = Some(Utc::now());
                    status.schema_digest = digest(&s);
                    // The catalog follows every successful schema read (in the background).
                    state.governance.request_crawl(scope, &rec.name);
                }
                Err(e) => status.last_error = Some(e.to_string()),
            }
        }
        Err(e) => status.last_error = Some(e.to_string()),
    }
    let base = since
        .or(previous.as_ref().map(|p| p.schema_digest.as_str()))
        .unwrap_or_default()
        .to_string();
    let changed =
        !base.is_empty() && base != status.schema_digest && !status.schema_digest.is_empty();
    let expect = previous
        .as_ref()
        .map_or(Expect::Absent, |p| Expect::Revision(p.meta.revision));
    let status = match state
        .writer
        .save(scope, &Actor::System, status, expect)
        .await
    {
        Ok(s) => s,
        Err(WriteError::Store(StoreError::Stale { .. } | StoreError::Conflict(_))) => {
            return Ok(Err(base))
        }
        Err(e) => return Err(e.into()),
    };
    if !status.connected {
        tracing::warn!(tenant = scope.tenant(), datasource = %rec.name, error = status.last_error.as_deref().unwrap_or(""), "data source not reachable");
    }
    Ok(Ok((status, changed)))
}

/// Checks in the background (after an API change: the caller does not wait for a slow host).
pub fn check_later(state: Arc<AppState>, scope: TenantScope, rec: DataSourceRecord) {
    tokio::spawn(async move {
        if let Err(e) = check(&state, &scope, &rec).await {
            tracing::warn!(tenant = scope.tenant(), datasource = %rec.name, error = %e, "status check failed");
        }
    });
}

/// Whether the source is due for its periodic check.
fn due(rec: &DataSourceRecord, status: Option<&SourceStatus>, now: DateTime<Utc>) -> bool {
    let every = rec.spec.schema_sync_interval_seconds;
    if every == 0 {
        return false;
    }
    match status {
        None => true,
        Some(s) if s.source_revision != rec.meta.revision => true,
        Some(s) => now - s.checked_at >= chrono::Duration::seconds(every as i64),
    }
}

/// Re-checks every tenant's sources on their interval; dashboards of sources whose schema
/// changed are validated again. Runs for the life of the server.
pub async fn sync_loop(state: Arc<AppState>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        if let Err(e) = sync_due(&state).await {
            tracing::warn!(error = %e, "data-source sync pass failed");
        }
    }
}

async fn sync_due(state: &Arc<AppState>) -> ApiResult<()> {
    for scope in state.store.tenants().await? {
        let statuses: HashMap<String, SourceStatus> = state
            .store
            .list_as::<SourceStatus>(&scope)
            .await?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        let now = Utc::now();
        for rec in state.store.list_as::<DataSourceRecord>(&scope).await? {
            if !due(&rec, statuses.get(&rec.name), now) {
                continue;
            }
            let (_, changed) = check(state, &scope, &rec).await?;
            if changed {
                crate::bi::dashboards::domain::revalidate(state, &scope, &rec.name).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(every: u32, revision: u64) -> DataSourceRecord {
        let spec = serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "t"}, "type": "sqlite", "path": "x.db",
            "schemaSyncIntervalSeconds": every
        }))
        .unwrap();
        DataSourceRecord {
            name: "s".into(),
            spec,
            password_sealed: None,
            base_dir: None,
            origin: crate::store::Origin::Api,
            meta: Meta {
                revision,
                ..Default::default()
            },
        }
    }

    fn status(revision: u64, at: DateTime<Utc>) -> SourceStatus {
        SourceStatus {
            name: "s".into(),
            source_revision: revision,
            connected: true,
            checked_at: at,
            latency_ms: None,
            server_version: None,
            last_error: None,
            tables: 0,
            columns: 0,
            schema_synced_at: None,
            schema_digest: String::new(),
            catalog_synced_at: None,
            classified: Default::default(),
            meta: Meta::default(),
        }
    }

    #[test]
    fn a_source_is_due_when_never_checked_changed_or_its_interval_passed() {
        let now = Utc::now();
        let recent = status(3, now - chrono::Duration::seconds(30));
        assert!(due(&rec(60, 3), None, now), "never checked");
        assert!(
            !due(&rec(60, 3), Some(&recent), now),
            "checked 30 s ago, every 60 s"
        );
        assert!(
            due(&rec(20, 3), Some(&recent), now),
            "checked 30 s ago, every 20 s"
        );
        assert!(
            due(&rec(60, 4), Some(&recent), now),
            "the source changed since"
        );
        assert!(!due(&rec(0, 4), None, now), "0 turns periodic checks off");
    }
}

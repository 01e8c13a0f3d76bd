//! What the pipeline's `record` stage hands to the performance figures, and what the monitoring
//! endpoints read from the engine (cache and pool use).
use super::{pipeline::Plan, Checked, Engine, EngineError, QueryRequest, QueryResult};
use crate::{
    store::TenantScope,
    telemetry::{
        queries::{CacheUse, QueryEvent, RunPlan},
        windows::Outcome,
    },
};

/// Results up to this size (JSON bytes) are digested for the result trace.
const MAX_DIGESTED_BYTES: u64 = 256 * 1024;

/// The result cache's use.
#[derive(Clone, Copy, Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheUsage {
    pub entries: u64,
    /// Cells held (the cache is bounded by cells).
    pub cells: u64,
    pub max_cells: u64,
}

impl Engine {
    /// Feeds one run to `telemetry::queries`.
    pub(super) fn record_performance(
        &self,
        req: &QueryRequest<'_>,
        checked: Option<&Checked>,
        plan: Option<&Plan>,
        res: Result<&QueryResult, &EngineError>,
        ms: f64,
        cache: CacheUse,
    ) {
        // The database was asked unless the answer came from the cache or an earlier stage
        // refused the query.
        let executed = cache != CacheUse::Hit
            && match res {
                Ok(_) => true,
                Err(e) => !matches!(e.outcome(), "refused" | "denied"),
            };
        let (rows, bytes) = match res {
            Ok(r) => (r.row_count as u64, r.rows.0.get().len() as u64),
            Err(_) => (0, 0),
        };
        // Results are compared by digest for the cache TTL suggestions; large ones are not
        // hashed (their runs are rare and costly anyway, and the hash would be too).
        let digest = match res {
            Ok(r) if executed && bytes <= MAX_DIGESTED_BYTES => {
                Some(crate::telemetry::queries::statement_hash(r.rows.0.get()))
            }
            _ => None,
        };
        let run_plan = plan.map(|p| RunPlan {
            rewritten: p.sql.is_some(),
            masked_columns: res
                .map(|r| r.masked.iter().map(|m| m.column.clone()).collect())
                .unwrap_or_default(),
            cache_partition: p.cache_partition.clone(),
        });
        let statement = checked.map(|c| {
            plan.and_then(|p| p.sql.as_deref())
                .unwrap_or(c.native.sql.as_str())
        });
        self.metrics.telemetry.queries.record(
            crate::telemetry::now_s(),
            &QueryEvent {
                tenant: req.source.tenant.tenant(),
                source: &req.source.name,
                source_type: req.source.spec.source_type.as_str(),
                user: &req.access.user,
                fingerprint: checked.map(|c| &c.fingerprint),
                statement,
                literal: req.params.is_empty(),
                plan: run_plan,
                outcome: if res.is_ok() {
                    Outcome::Ok
                } else {
                    Outcome::Error
                },
                cache,
                executed,
                ms,
                rows,
                bytes,
                digest,
            },
        );
    }

    pub fn cache_usage(&self) -> CacheUsage {
        CacheUsage {
            entries: self.cache.entry_count(),
            cells: self.cache.weighted_size(),
            max_cells: self.cache.policy().max_capacity().unwrap_or_default(),
        }
    }

    /// Queries running on a source's pool now, if this instance has a pool for it.
    pub fn pool_in_use(&self, tenant: &TenantScope, name: &str, max: u32) -> Option<u32> {
        let conns = self.conns.lock().expect("engine lock");
        let c = conns.get(&(tenant.tenant().to_string(), name.to_string()))?;
        Some(
            max.max(1)
                .saturating_sub(c.permits.available_permits() as u32),
        )
    }
}

//! Running a tenant's query: resolve the source and the limits, then the engine's pipeline.
use std::time::Duration;

use serde_json::Value;

use super::model::SavedQuery;
use crate::{
    bi::datasources::{domain as sources, engine_error, DataSourceRecord},
    engine::{Access, QueryLimits, QueryRequest, QueryResult},
    http::{ApiError, ApiResult},
    state::AppState,
    store::{StoreExt, TenantScope},
};

/// Effective limits: the tenant's query settings (already within the Tenant's limits),
/// lowered by the source's timeout and the request's limit.
pub fn limits_for(
    q: &nexbii_crds::settings::QuerySettings,
    source_timeout: Option<u32>,
    requested: Option<u32>,
) -> QueryLimits {
    let secs = source_timeout.map_or(q.timeout_seconds, |s| s.min(q.timeout_seconds));
    let rows = requested.map_or(q.row_limit, |r| r.clamp(1, q.row_limit));
    QueryLimits {
        timeout: Duration::from_secs(secs.max(1) as u64),
        row_limit: rows as usize,
    }
}

/// One query to run: where, what, and how.
pub struct QueryCall<'a> {
    pub data_source: &'a str,
    pub sql: &'a str,
    pub params: &'a [Value],
    pub limit: Option<u32>,
    pub use_cache: bool,
}

fn unknown_source(name: &str) -> ApiError {
    ApiError::invalid("dataSource", format!("no data source named {name:?}"))
}

/// Runs a query for a tenant through the pipeline; shared by ad-hoc, saved and dashboard queries.
pub async fn execute(
    state: &AppState,
    scope: &TenantScope,
    access: &Access,
    call: QueryCall<'_>,
) -> ApiResult<QueryResult> {
    let settings = crate::admin::settings::effective(state, scope).await?;
    let query = &settings.settings.query;
    let rec = state
        .store
        .cached::<DataSourceRecord>(scope, call.data_source)
        .await?
        .ok_or_else(|| unknown_source(call.data_source))?;
    let source = sources::resolve(state, scope, &rec)?;
    let req = QueryRequest {
        source: &source,
        text: call.sql,
        params: call.params,
        limits: limits_for(query, rec.spec.query_timeout_seconds, call.limit),
        access,
        use_cache: call.use_cache,
        cache_max_age: Some(Duration::from_secs(query.cache_ttl_seconds.into())),
    };
    state
        .engine
        .run_query(req)
        .await
        .map_err(engine_error(call.data_source))
}

/// A saved query must name an existing source and pass the guard.
pub async fn check_saved(
    state: &AppState,
    scope: &TenantScope,
    name: &str,
    data_source: &str,
    sql: &str,
    params: &[Value],
) -> ApiResult<()> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(ApiError::invalid("name", "1 to 200 characters"));
    }
    super::model::check_params(params).map_err(|e| ApiError::Invalid(vec![e]))?;
    let rec = sources::load(state, scope, data_source)
        .await
        .map_err(|_| unknown_source(data_source))?;
    state
        .engine
        .check(rec.spec.source_type, sql)
        .map_err(|e| ApiError::invalid("sql", e.to_string()))?;
    Ok(())
}

pub async fn load(state: &AppState, scope: &TenantScope, id: &str) -> ApiResult<SavedQuery> {
    state
        .store
        .get_as::<SavedQuery>(scope, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("query {id}")))
}

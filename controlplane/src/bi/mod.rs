//! The BI area: data sources, queries, dashboards, share links, embedding, insights.
use axum::Router;

use crate::{
    http::{ApiError, ApiResult},
    state::SharedState,
    store::Origin,
};

pub mod dashboards;
pub mod datasources;
pub mod embed;
pub mod insights;
pub mod queries;
pub mod shares;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .merge(datasources::routes())
        .merge(queries::routes())
        .merge(dashboards::routes())
        .merge(shares::routes())
        .merge(embed::routes())
        .merge(insights::routes())
}

/// Provisioned objects are changed in their YAML, not through the API.
pub(crate) fn refuse_provisioned(kind: &str, name: &str, origin: Origin) -> ApiResult<()> {
    if origin != Origin::Api {
        return Err(ApiError::Conflict(format!(
            "{kind} {name} is provisioned from YAML ({origin:?}); change it there"
        )));
    }
    Ok(())
}

//! The events area: what happened, told to the people it concerns (the in-app inbox) and to
//! the tenant's webhook subscriptions.
use axum::Router;
use serde_json::Value;

use crate::{http::ApiResult, state::AppState, store::TenantScope};

pub mod notifications;
pub mod webhooks;

pub use notifications::{notify, Notice};

pub fn routes() -> Router<crate::state::SharedState> {
    notifications::routes().merge(webhooks::routes())
}

/// One event: the notice for the inbox of `recipients`, and `data` for webhooks.
pub async fn emit(
    state: &AppState,
    scope: &TenantScope,
    recipients: &[String],
    notice: &Notice<'_>,
    data: Value,
) -> ApiResult<()> {
    notify(state, scope, recipients, notice).await?;
    webhooks::dispatch(state, scope, notice.kind, data).await
}

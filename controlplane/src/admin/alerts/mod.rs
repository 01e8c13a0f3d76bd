//! Health alerts of the tenant (admin only): what fires now and the latest transitions; and
//! the same for the operator, which reflects them in the Tenant's status and Events.
use axum::{extract::State, routing::get, Json, Router};

pub mod domain;
pub mod model;

use model::AlertsRecord;

use crate::{
    auth::{Caller, Role},
    http::{ApiResult, Problem},
    state::SharedState,
    store::StoreExt,
};

pub fn routes() -> Router<SharedState> {
    Router::new().route("/api/v1/admin/alerts", get(alerts))
}

#[utoipa::path(get, path = "/api/v1/admin/alerts", tag = "admin",
    responses(
        (status = 200, body = AlertsRecord, description = "alerts firing now (by key) and the latest 100 transitions, newest last; thresholds are the settings' `alerts`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn alerts(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<AlertsRecord>> {
    caller.require(Role::Admin)?;
    Ok(Json(
        state
            .store
            .get_as::<AlertsRecord>(&caller.scope, AlertsRecord::ID)
            .await?
            .unwrap_or_else(|| AlertsRecord {
                id: AlertsRecord::ID.into(),
                ..Default::default()
            }),
    ))
}

//! The admin area: the tenant's configuration as this instance serves it, backup schedules.
use axum::{routing::get, Router};

use crate::state::SharedState;

pub mod backup;
pub mod tenant;

pub use backup::ScheduleRecord;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/tenant", get(tenant::tenant))
        .route("/api/v1/backup/schedules", get(backup::schedules))
}

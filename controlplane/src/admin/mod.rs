//! The admin area: the tenant's configuration as this instance serves it, backups, restores
//! and backup schedules, configuration export and import, system monitoring and performance analysis, system settings, advanced user management.
use axum::{routing::get, Router};

use crate::state::SharedState;

pub mod alerts;
pub mod backups;
pub mod export;
pub mod features;
pub mod history;
pub mod monitoring;
pub mod performance;
pub mod runtime;
pub mod settings;
pub mod tenant;
pub mod users;

pub use backups::schedules::ScheduleRecord;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/tenant", get(tenant::tenant))
        .merge(backups::routes())
        .merge(export::routes())
        .merge(monitoring::routes())
        .merge(performance::routes())
        .merge(settings::routes())
        .merge(features::routes())
        .merge(history::routes())
        .merge(runtime::routes())
        .merge(alerts::routes())
        .merge(users::routes())
}

//! Provisioning: objects declared in YAML, applied from a folder (`--manifests`) or pushed by the
//! operator through its token-authenticated API. Provisioned objects are read-only to users.
use axum::{
    routing::{get, post, put},
    Router,
};

use crate::state::SharedState;

pub mod backups;
pub mod manifests;
pub mod operator_api;

pub fn routes() -> Router<SharedState> {
    use operator_api::*;
    Router::new()
        .route(
            "/api/v1/provisioning/{tenant}/datasources/{name}",
            put(put_datasource).delete(delete_datasource),
        )
        .route(
            "/api/v1/provisioning/{tenant}/dashboards/{name}",
            put(put_dashboard).delete(delete_dashboard),
        )
        .route(
            "/api/v1/provisioning/{tenant}/governancepolicies/{name}",
            put(put_policy).delete(delete_policy),
        )
        .route(
            "/api/v1/provisioning/{tenant}/savedqueries/{name}",
            put(put_saved_query).delete(delete_saved_query),
        )
        .route("/api/v1/provisioning/{tenant}/alerts", get(alerts))
        .route(
            "/api/v1/provisioning/{tenant}/backups",
            post(backups::create_backup),
        )
        .route(
            "/api/v1/provisioning/{tenant}/backups/{id}",
            get(backups::get_backup).delete(backups::delete_backup),
        )
        .route(
            "/api/v1/provisioning/{tenant}/restores",
            post(backups::create_restore),
        )
}

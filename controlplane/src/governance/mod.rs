//! The governance area: policies (classification, masking, approvals) as declared.
use axum::{routing::get, Router};

use crate::state::SharedState;

pub mod policies;

pub use policies::PolicyRecord;

pub fn routes() -> Router<SharedState> {
    Router::new().route("/api/v1/governance/policies", get(policies::list))
}

//! The events area: what happened, told to the people it concerns (the in-app inbox).
use axum::Router;

use crate::state::SharedState;

pub mod notifications;

pub use notifications::{notify, Notice};

pub fn routes() -> Router<SharedState> {
    notifications::routes()
}

//! Authentication and users: login, sessions, API keys, rate limits, the request guard, the
//! `Caller` and `Operator` extractors, users.
use axum::{
    routing::{delete, get, patch, post},
    Router,
};

use crate::state::SharedState;

pub mod apikeys;
pub mod caller;
pub mod guard;
pub mod impersonation;
pub mod lockout;
pub mod mfa;
pub mod model;
pub mod oidc;
pub mod operator;
pub mod password;
pub mod privacy;
pub mod ratelimit;
pub mod sessions;
pub mod users;

pub use caller::Caller;
pub use model::{Role, SessionRecord, UserRecord};
pub use operator::{Operator, OPERATOR_TOKEN_ENV};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/auth/login", post(sessions::login))
        .route("/api/v1/auth/logout", post(sessions::logout))
        .route("/api/v1/auth/me", get(sessions::me))
        .route("/api/v1/auth/password", post(users::change_own_password))
        .route("/api/v1/auth/sessions", get(sessions::list_sessions))
        .route(
            "/api/v1/auth/sessions/{id}",
            delete(sessions::revoke_session),
        )
        .route(
            "/api/v1/users",
            get(users::list_users).post(users::create_user),
        )
        .route(
            "/api/v1/users/{username}",
            patch(users::update_user).delete(users::delete_user),
        )
        .route("/api/v1/users/{username}/unlock", post(users::unlock_user))
        .route("/api/v1/users/{username}/export", get(privacy::export))
        .route("/api/v1/users/{username}/erase", post(privacy::erase))
        .merge(mfa::routes())
        .merge(oidc::routes())
        .route("/api/v1/admin/sessions", get(sessions::admin_list))
        .route(
            "/api/v1/admin/sessions/revoke",
            post(sessions::admin_revoke_many),
        )
        .route(
            "/api/v1/admin/sessions/{id}",
            delete(sessions::admin_revoke_one),
        )
        .route("/api/v1/admin/impersonations", post(impersonation::start))
        .route("/api/v1/auth/impersonation", delete(impersonation::end))
        .merge(apikeys::routes())
}

//! Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::json;

use super::{openapi, ApiError};
use crate::{state::SharedState, store::Store};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi_doc))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn readyz(State(state): State<SharedState>) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            Json(json!({"status": "ready", "version": env!("CARGO_PKG_VERSION")})).into_response()
        }
        Err(e) => ApiError::Unavailable(e.to_string()).into_response(),
    }
}

async fn metrics(State(state): State<SharedState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi_doc() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

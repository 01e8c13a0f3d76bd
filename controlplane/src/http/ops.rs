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

/// The document, branded for the tenant of `?tenant=` or of the custom domain in `Host`.
async fn openapi_doc(
    State(state): State<SharedState>,
    req: axum::extract::Request,
) -> Json<utoipa::openapi::OpenApi> {
    let mut doc = openapi::document();
    let t =
        crate::branding::problems::request_tenant(&state, req.uri().query(), req.headers(), None)
            .await;
    if let Some(t) = t {
        let peer = crate::auth::oidc::peer(req.extensions());
        let origin = crate::auth::oidc::external_base(&state, req.headers(), peer).ok();
        let b = t.spec.branding.as_ref();
        if let Some(base) = crate::branding::problems::problem_base(b, origin.as_deref()) {
            let name = crate::branding::view(&t.name, &t.spec.display_name, b).display_name;
            let domain = b.and_then(|b| b.custom_domain.as_deref());
            crate::branding::problems::brand_document(&mut doc, &name, domain, &base);
        }
    }
    Json(doc)
}

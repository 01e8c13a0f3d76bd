//! Router, middleware (metrics, tracing, limits) and the serve loop.
use std::{net::SocketAddr, time::Instant};

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::json;
use tower_http::trace::TraceLayer;

use crate::{
    auth, config, dashboards, datasources, error::ApiError, openapi, provisioning, queries,
    state::SharedState,
};

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi_doc))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/v1/auth/sessions", get(auth::list_sessions))
        .route(
            "/api/v1/auth/sessions/{id}",
            axum::routing::delete(auth::revoke_session),
        )
        .route(
            "/api/v1/users",
            get(auth::list_users).post(auth::create_user),
        )
        .route(
            "/api/v1/users/{username}",
            axum::routing::patch(auth::update_user).delete(auth::delete_user),
        )
        .route("/api/v1/tenant", get(config::tenant))
        .route("/api/v1/governance/policies", get(config::policies))
        .route("/api/v1/backup/schedules", get(config::schedules))
        .route(
            "/api/v1/datasources",
            get(datasources::list).post(datasources::create),
        )
        .route(
            "/api/v1/datasources/{name}",
            get(datasources::get)
                .put(datasources::update)
                .delete(datasources::delete),
        )
        .route("/api/v1/datasources/{name}/test", post(datasources::test))
        .route(
            "/api/v1/datasources/{name}/schema",
            get(datasources::schema),
        )
        .route("/api/v1/queries/run", post(queries::run))
        .route("/api/v1/queries", get(queries::list).post(queries::create))
        .route(
            "/api/v1/queries/{id}",
            get(queries::get)
                .put(queries::update)
                .delete(queries::delete),
        )
        .route("/api/v1/queries/{id}/run", post(queries::run_saved))
        .route(
            "/api/v1/dashboards",
            get(dashboards::list).post(dashboards::create),
        )
        .route(
            "/api/v1/dashboards/{name}",
            get(dashboards::get)
                .put(dashboards::update)
                .delete(dashboards::delete),
        )
        .route("/api/v1/dashboards/{name}/data", get(dashboards::data))
        .route(
            "/api/v1/provisioning/{tenant}/datasources/{name}",
            axum::routing::put(provisioning::put_datasource)
                .delete(provisioning::delete_datasource),
        )
        .route(
            "/api/v1/provisioning/{tenant}/dashboards/{name}",
            axum::routing::put(provisioning::put_dashboard).delete(provisioning::delete_dashboard),
        )
        .route(
            "/api/v1/provisioning/{tenant}/governancepolicies/{name}",
            axum::routing::put(provisioning::put_policy).delete(provisioning::delete_policy),
        )
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound("route".into()) })
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| "unmatched".into());
            tracing::info_span!("request", method = %req.method(), route = %route)
        }))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .with_state(state)
}

/// Counts and times every request by its route template (never the raw path: bounded labels).
async fn track(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    state
        .metrics
        .http_requests
        .with_label_values(&[&method, &route, &status])
        .inc();
    state
        .metrics
        .http_duration
        .with_label_values(&[&method, &route])
        .observe(started.elapsed().as_secs_f64());
    resp
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

/// Serves until SIGINT/SIGTERM, then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, state: SharedState) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

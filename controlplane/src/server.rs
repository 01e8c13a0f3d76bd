//! Assembles the areas' routers, the shared middleware and the serve loop.
use std::net::SocketAddr;

use axum::{
    extract::{DefaultBodyLimit, Request},
    middleware, Router,
};
use tower_http::trace::TraceLayer;

use crate::{
    admin, audit, auth, bi, branding, console, events, governance,
    http::{self, middleware::route_of, ApiError},
    provisioning,
    state::SharedState,
};

/// `routes` behind the request guard and the audit capture: what every API route passes
/// (`benches/auth_overhead.rs` measures exactly this pair around a trivial handler).
pub fn guarded(routes: Router<SharedState>, state: &SharedState) -> Router<SharedState> {
    routes
        // Rate limits, API keys and their scopes, before any handler (inside `track`, so
        // refused requests are counted too).
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::guard::guard,
        ))
        // One audit entry per audited request, with the status the guard or handler answered.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            audit::capture::record,
        ))
}

pub fn router(state: SharedState) -> Router {
    let routes = Router::new()
        .merge(http::ops::routes())
        .merge(auth::routes())
        .merge(bi::routes())
        .merge(governance::routes())
        .merge(events::routes())
        .merge(admin::routes())
        .merge(audit::routes())
        .merge(branding::routes())
        .merge(provisioning::routes())
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // The web console owns every other path (API paths still answer problem+json 404).
        .fallback(console::fallback);
    guarded(routes, &state)
        // Problem `type` URIs on the branded tenant's own host (inside `track`, whose
        // identity names the authenticated tenant).
        .layer(middleware::from_fn_with_state(
            state.clone(),
            branding::problems::brand_problems,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::middleware::track,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::info_span!("request", method = %req.method(), route = %route_of(req))
        }))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .with_state(state)
}

/// Serves until SIGINT/SIGTERM, then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, state: SharedState) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    // Audit entries are appended off the requests' path, in order.
    audit::log::start_writer(&state);
    // Background work of the instance: data sources re-checked on their sync interval.
    let sync = tokio::spawn(bi::datasources::status::sync_loop(
        state.clone(),
        std::time::Duration::from_secs(5),
    ));
    let crawls = tokio::spawn(governance::crawl_worker(state.clone()));
    let deliveries = tokio::spawn(events::webhooks::worker(state.clone()));
    let usage = tokio::spawn(auth::apikeys::usage::flush_loop(
        state.clone(),
        state.settings.apikey_usage_flush,
    ));
    // Backups an earlier process left running are marked failed (their temp files removed).
    tokio::spawn(admin::backups::domain::recover_interrupted(state.clone()));
    // Change-journal entries shipped to the backup destination (point-in-time recovery).
    let shipping = tokio::spawn(admin::backups::journal::ship_loop(
        state.clone(),
        state.settings.journal_ship_interval,
    ));
    // Resource use sampled once a minute for the monitoring series.
    let sampler = tokio::spawn(admin::monitoring::domain::sampler(state.clone()));
    // Health alerts of every tenant, checked against its thresholds.
    let alerting = tokio::spawn(admin::alerts::domain::watch(
        state.clone(),
        state.settings.alert_interval,
    ));
    // Notifications past the tenant's retention, removed hourly.
    let inbox_pruning = tokio::spawn(events::notifications::prune_loop(
        state.clone(),
        std::time::Duration::from_secs(3600),
    ));
    // Audit entries past their policy's retention, pruned hourly behind a signed anchor.
    let pruning = tokio::spawn(audit::retention::prune_loop(
        state.clone(),
        std::time::Duration::from_secs(3600),
    ));
    // The peer's address reaches the guard (rate limits per client address).
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // The audit entries of the last requests are stored before the process ends.
    state.audit.flush().await;
    usage.abort();
    state.apikey_usage.flush(&state).await;
    // What the journal holds goes to the destination before the process ends.
    shipping.abort();
    state
        .journal
        .ship_all(
            &admin::backups::domain::destination(&state),
            &admin::backups::domain::archive_key(&state),
        )
        .await;
    sync.abort();
    crawls.abort();
    deliveries.abort();
    sampler.abort();
    alerting.abort();
    inbox_pruning.abort();
    pruning.abort();
    served
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

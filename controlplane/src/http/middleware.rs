//! Request metrics by route template (never the raw path: bounded label values), and the
//! per-tenant monitoring windows (`telemetry::requests`).
use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use crate::state::SharedState;

pub fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into())
}

/// Who a request turned out to be from: filled by the `Caller` extractor (see [`identify`])
/// while the request runs, read by [`track`] once it is answered.
#[derive(Clone, Default)]
pub struct Identity(Arc<OnceLock<(String, String)>>);

impl Identity {
    /// The tenant the request authenticated as, once it has.
    pub fn tenant(&self) -> Option<String> {
        self.0.get().map(|(t, _)| t.clone())
    }
}

/// Tells [`track`] and the audit log the tenant and user of the request being extracted (the
/// tenant is known only after authentication), and how it authenticated (`via`: `session`,
/// `key:<id>`). Requests nobody identified are recorded under the instance.
pub fn identify(
    parts: &axum::http::request::Parts,
    tenant: &crate::store::TenantScope,
    user: &str,
    via: &str,
) {
    if let Some(id) = parts.extensions.get::<Identity>() {
        let _ = id.0.set((tenant.tenant().to_string(), user.to_string()));
    }
    crate::audit::capture::actor(tenant, user, via);
}

/// Counts and times every request.
pub async fn track(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let method = req.method().to_string();
    let identity = Identity::default();
    req.extensions_mut().insert(identity.clone());
    let started = Instant::now();
    let resp = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let who = identity.0.get();
    state.metrics.telemetry.requests.record(
        crate::telemetry::now_s(),
        &crate::telemetry::requests::RequestEvent {
            tenant: who.map(|w| w.0.as_str()).unwrap_or(""),
            user: who.map(|w| w.1.as_str()),
            method: &method,
            route: &route,
            status: resp.status().as_u16(),
            ms,
        },
    );
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
        .observe(ms / 1000.0);
    resp
}

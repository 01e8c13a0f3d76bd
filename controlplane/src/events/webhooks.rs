//! Outgoing webhooks: subscriptions per tenant (URL, event types, secret), deliveries signed
//! with HMAC-SHA256 over the timestamp and the body (`X-NexBII-Signature: t=<unix>,v1=<hex>`,
//! so receivers can refuse old or replayed calls), retried with exponential backoff, logged,
//! redeliverable; a subscription that keeps failing is switched off. Targets resolving to
//! loopback, link-local or private addresses are refused unless the server allows them
//! (`--webhook-allow`), so a tenant cannot make the instance call into its own network.
use std::net::IpAddr;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::{
    auth::{Caller, Role},
    http::{ApiError, ApiJson, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{fields, write::Actor, Expect, ListQuery, Meta, StoreExt, TenantScope},
};

/// Attempts per delivery (the first and four retries).
const ATTEMPTS: u32 = 5;
/// Failed deliveries in a row after which a subscription is switched off.
const DISABLE_AFTER: u32 = 5;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRecord {
    pub id: String,
    pub url: String,
    /// Event kinds (`approval.requested`), prefixes (`approval.*`) or `*`.
    pub events: Vec<String>,
    /// The signing secret, sealed (responses use [`WebhookView`], which leaves it out).
    pub secret_sealed: String,
    pub active: bool,
    #[serde(default)]
    pub consecutive_failures: u32,
    pub created_by: String,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! { WebhookRecord, Webhooks, id }

/// A subscription as the API shows it: everything but the secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub consecutive_failures: u32,
    pub created_by: String,
    #[serde(flatten)]
    pub meta: Meta,
}

impl From<WebhookRecord> for WebhookView {
    fn from(w: WebhookRecord) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            active: w.active,
            consecutive_failures: w.consecutive_failures,
            created_by: w.created_by,
            meta: w.meta,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub id: String,
    pub webhook: String,
    pub event: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: Vec<Attempt>,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    DeliveryRecord,
    WebhookDeliveries,
    id,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"webhook": self.webhook, "state": self.state}))
    }
}

/// Whether a subscription wants an event kind.
pub fn wants(patterns: &[String], kind: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => p == kind,
    })
}

/// Addresses a webhook must not reach unless allowed: the instance's own network.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg & 0xfe00) == 0xfc00
                || (seg & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// The target's addresses, each checked; the first allowed one is where the call goes (the
/// request is pinned to it, so a DNS answer changing between check and call cannot redirect it).
async fn resolve_target(
    url: &str,
    allow: &[ipnet::IpNet],
) -> Result<(reqwest::Url, std::net::SocketAddr), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("only http and https targets".into());
    }
    let host = u.host_str().ok_or("the URL has no host")?.to_string();
    let port = u.port_or_known_default().ok_or("the URL has no port")?;
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    for a in &addrs {
        if is_internal(a.ip()) && !allow.iter().any(|n| n.contains(&a.ip())) {
            return Err(format!(
                "{host} resolves to {} (loopback, link-local or private), which is not allowed",
                a.ip()
            ));
        }
    }
    let first = *addrs
        .first()
        .ok_or_else(|| format!("{host} has no address"))?;
    Ok((u, first))
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Queues a delivery of the event to every active subscription that wants it.
pub async fn dispatch(
    state: &AppState,
    scope: &TenantScope,
    kind: &str,
    data: Value,
) -> ApiResult<()> {
    for hook in state.store.list_as::<WebhookRecord>(scope).await? {
        if !hook.active || !wants(&hook.events, kind) {
            continue;
        }
        let delivery = DeliveryRecord {
            id: format!(
                "{}-{}",
                Utc::now().format("%Y%m%d%H%M%S%6f"),
                &crate::crypto::random_id()[..8]
            ),
            webhook: hook.id.clone(),
            event: kind.to_string(),
            payload: json!({"event": kind, "tenant": scope.tenant(), "at": Utc::now(), "data": data}),
            state: "pending".into(),
            attempts: Vec::new(),
            meta: Meta::default(),
        };
        let delivery = state
            .writer
            .save(scope, &Actor::System, delivery, Expect::Absent)
            .await?;
        state.deliveries.push(scope, &delivery.id);
    }
    Ok(())
}

/// Starts every queued delivery (each retries on its own), for the life of the server. At
/// start it first resumes the deliveries a stopped instance left pending.
pub async fn worker(state: SharedState) {
    if let Err(e) = resume(&state).await {
        tracing::warn!(error = %e, "pending webhook deliveries could not be listed");
    }
    loop {
        let (scope, id) = state.deliveries.next().await;
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = deliver(&state, &scope, &id).await {
                tracing::warn!(tenant = scope.tenant(), delivery = %id, error = %e, "webhook delivery failed");
            }
        });
    }
}

/// Queues every delivery still pending in the store: a restart (or a crash) mid-retry loses
/// no event. Receivers deduplicate by the `x-nexbii-delivery` id if two replicas resume one.
async fn resume(state: &AppState) -> ApiResult<()> {
    let mut resumed = 0;
    use crate::store::Store;
    for scope in state.store.tenants().await? {
        let q = crate::store::ListQuery::default().filter("state", "pending");
        for d in state
            .store
            .page_as::<DeliveryRecord>(&scope, &q)
            .await?
            .items
        {
            state.deliveries.push(&scope, &d.id);
            resumed += 1;
        }
    }
    if resumed > 0 {
        tracing::info!(resumed, "pending webhook deliveries resumed");
    }
    Ok(())
}

/// Tries a delivery until it succeeds or its attempts are spent, recording each attempt (a
/// resumed delivery continues with the attempts it has left).
async fn deliver(state: &AppState, scope: &TenantScope, id: &str) -> ApiResult<()> {
    let mut delay = state.settings.webhook_retry_base;
    let done = match state.store.get_as::<DeliveryRecord>(scope, id).await? {
        Some(d) if d.state == "pending" => d.attempts.len() as u32,
        _ => return Ok(()),
    };
    for attempt in done..ATTEMPTS {
        let Some(d) = state.store.get_as::<DeliveryRecord>(scope, id).await? else {
            return Ok(());
        };
        let Some(hook) = state
            .store
            .get_as::<WebhookRecord>(scope, &d.webhook)
            .await?
        else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let outcome = call(state, scope, &hook, &d).await;
        let ok = matches!(outcome, Ok(s) if (200..300).contains(&s));
        let last = ok || attempt + 1 == ATTEMPTS;
        let rec = Attempt {
            at: Utc::now(),
            status: outcome.as_ref().ok().copied(),
            error: outcome.err(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        state
            .writer
            .modify::<DeliveryRecord>(scope, &Actor::System, id, |d| {
                d.attempts.push(rec.clone());
                if last {
                    d.state = if ok { "delivered" } else { "failed" }.into();
                }
            })
            .await?;
        if last {
            return record_outcome(state, scope, &hook.id, ok).await;
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Ok(())
}

async fn call(
    state: &AppState,
    _scope: &TenantScope,
    hook: &WebhookRecord,
    d: &DeliveryRecord,
) -> Result<u16, String> {
    let (url, addr) = resolve_target(&hook.url, &state.settings.webhook_allow).await?;
    let context = format!("webhook:{}", hook.id);
    let secret = state
        .keys
        .open(&hook.secret_sealed, &context)
        .map_err(|_| "the secret cannot be opened".to_string())?;
    let body = serde_json::to_vec(&d.payload).map_err(|e| e.to_string())?;
    let host = url.host_str().unwrap_or_default().to_string();
    let client = reqwest::Client::builder()
        .resolve(&host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-nexbii-event", &d.event)
        .header("x-nexbii-delivery", &d.id)
        .header(
            "x-nexbii-signature",
            signature(&secret, Utc::now().timestamp(), &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    Ok(resp.status().as_u16())
}

/// Counts failures in a row; switches the subscription off after too many.
async fn record_outcome(
    state: &AppState,
    scope: &TenantScope,
    hook: &str,
    ok: bool,
) -> ApiResult<()> {
    state
        .writer
        .modify::<WebhookRecord>(scope, &Actor::System, hook, |h| {
            h.consecutive_failures = if ok { 0 } else { h.consecutive_failures + 1 };
            if h.consecutive_failures >= DISABLE_AFTER {
                h.active = false;
            }
        })
        .await?;
    Ok(())
}

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(create))
        .route(
            "/api/v1/webhooks/{id}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/api/v1/webhooks/{id}/deliveries", get(deliveries))
        .route(
            "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(redeliver),
        )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookInput {
    pub url: String,
    pub events: Vec<String>,
    /// The signing secret; generated (and returned once) when absent.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// A subscription as created: with its secret, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    pub secret: String,
}

async fn check_input(state: &AppState, w: &WebhookInput) -> ApiResult<()> {
    resolve_target(&w.url, &state.settings.webhook_allow)
        .await
        .map_err(|e| ApiError::invalid("url", e))?;
    if w.events.is_empty()
        || w.events.len() > 50
        || w.events.iter().any(|e| e.is_empty() || e.len() > 100)
    {
        return Err(ApiError::invalid(
            "events",
            "1 to 50 event kinds (`approval.requested`, `approval.*`, `*`)",
        ));
    }
    if w.secret.as_ref().is_some_and(|s| s.len() < 16) {
        return Err(ApiError::invalid("secret", "at least 16 characters"));
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<WebhookView>), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<Vec<WebhookView>>> {
    caller.require(Role::Admin)?;
    Ok(Json(
        state
            .store
            .list_as::<WebhookRecord>(&caller.scope)
            .await?
            .into_iter()
            .map(WebhookView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = WebhookInput,
    responses((status = 201, body = CreatedWebhook), (status = 403, body = Problem), (status = 422, body = Problem, description = "bad URL (including internal targets), events or secret")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(w): ApiJson<WebhookInput>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    caller.require(Role::Admin)?;
    check_input(&state, &w).await?;
    let id = format!("wh-{}", &crate::crypto::random_id()[..12]);
    let secret = w.secret.unwrap_or_else(crate::crypto::random_id);
    let rec = WebhookRecord {
        secret_sealed: state.keys.seal(&secret, &format!("webhook:{id}")),
        id,
        url: w.url,
        events: w.events,
        active: w.active.unwrap_or(true),
        consecutive_failures: 0,
        created_by: caller.username.clone(),
        meta: Meta::default(),
    };
    let webhook = state
        .writer
        .save(&caller.scope, &caller.actor(), rec, Expect::Absent)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook: webhook.into(),
            secret,
        }),
    ))
}

async fn load(state: &AppState, caller: &Caller, id: &str) -> ApiResult<WebhookRecord> {
    caller.require(Role::Admin)?;
    state
        .store
        .get_as::<WebhookRecord>(&caller.scope, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook {id}")))
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(load(&state, &caller, &id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// Switching a subscription on again also forgets its failures.
    pub active: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    request_body = WebhookPatch,
    responses((status = 200, body = WebhookView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(p): ApiJson<WebhookPatch>,
) -> ApiResult<Json<WebhookView>> {
    let mut w = load(&state, &caller, &id).await?;
    let rev = w.meta.revision;
    let input = WebhookInput {
        url: p.url.unwrap_or(w.url.clone()),
        events: p.events.unwrap_or(w.events.clone()),
        secret: None,
        active: p.active,
    };
    check_input(&state, &input).await?;
    w.url = input.url;
    w.events = input.events;
    if let Some(a) = p.active {
        w.active = a;
        if a {
            w.consecutive_failures = 0;
        }
    }
    let saved = state
        .writer
        .save(&caller.scope, &caller.actor(), w, Expect::Revision(rev))
        .await?;
    Ok(Json(saved.into()))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let w = load(&state, &caller, &id).await?;
    state
        .writer
        .delete::<WebhookRecord>(&caller.scope, &caller.actor(), &w.id, Some(w.meta.revision))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Vec<DeliveryRecord>, description = "newest first, at most 100"), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<DeliveryRecord>>> {
    let w = load(&state, &caller, &id).await?;
    let q = ListQuery::default().filter("webhook", w.id.as_str());
    let mut all = state
        .store
        .page_as::<DeliveryRecord>(&caller.scope, &q)
        .await?
        .items;
    all.reverse();
    all.truncate(100);
    Ok(Json(all))
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    params(("id" = String, Path), ("delivery" = String, Path)),
    responses((status = 202, body = DeliveryRecord, description = "a new delivery of the same payload, under way"), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn redeliver(
    State(state): State<SharedState>,
    caller: Caller,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<DeliveryRecord>)> {
    let w = load(&state, &caller, &id).await?;
    let old = state
        .store
        .get_as::<DeliveryRecord>(&caller.scope, &delivery)
        .await?
        .filter(|d| d.webhook == w.id)
        .ok_or_else(|| ApiError::NotFound(format!("delivery {delivery}")))?;
    let again = DeliveryRecord {
        id: format!(
            "{}-{}",
            Utc::now().format("%Y%m%d%H%M%S%6f"),
            &crate::crypto::random_id()[..8]
        ),
        state: "pending".into(),
        attempts: Vec::new(),
        meta: Meta::default(),
        ..old
    };
    let again = state
        .writer
        .save(&caller.scope, &caller.actor(), again, Expect::Absent)
        .await?;
    state.deliveries.push(&caller.scope, &again.id);
    Ok((StatusCode::ACCEPTED, Json(again)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn subscriptions_match_kinds_and_prefixes_and_signatures_bind_time_and_body() {
        let p = vec!["approval.*".to_string(), "lineage.broken".to_string()];
        assert!(wants(&p, "approval.requested") && wants(&p, "lineage.broken"));
        assert!(!wants(&p, "classification.changed") && wants(&["*".into()], "x"));
        let a = signature("s3cr3t-s3cr3t-s3", 1700000000, b"{}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_ne!(a, signature("s3cr3t-s3cr3t-s3", 1700000001, b"{}"));
        assert_ne!(a, signature("s3cr3t-s3cr3t-s3", 1700000000, b"{ }"));
    }
}

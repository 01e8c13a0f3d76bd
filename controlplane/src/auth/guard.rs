//! The request guard in front of every route: rate limits, API-key authentication and the
//! key's scope check, in one place so no endpoint can forget them.
//!
//! 1. Health, readiness and metrics pass untouched.
//! 2. The client address (the socket's peer; `X-Forwarded-For` only when the peer is a trusted
//!    proxy, `--trusted-proxies`) draws from its bucket.
//! 3. An API key (`Authorization: Bearer nxk_…` or `X-API-Key`) is authenticated (401 when it
//!    does not open), counted for its last-used time and request count, and its key's and
//!    owner's buckets are drawn from; a session token's user bucket is drawn from.
//! 4. The key's scopes are checked against the route ([`super::apikeys::scopes`], 403).
//! 5. The handler runs; its `Caller` comes from the principal put into the request here.
//!
//! Every answer past step 1 carries `RateLimit-*` headers of the tightest bucket; an empty
//! bucket answers 429 with `Retry-After`.
use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{header, HeaderMap},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use jsonwebtoken::{Algorithm, Validation};

use super::{
    apikeys::{
        domain::{self as keys, KeyPrincipal},
        scopes::{self, RouteRule},
    },
    caller::Claims,
    model::UserRecord,
    ratelimit::{self, Kind, Refused, Standing},
};
use crate::{
    state::{AppState, SharedState},
    store::TenantScope,
};

/// The credential a request presents.
pub enum Credential<'a> {
    Key(&'a str),
    Session(&'a str),
    None,
}

/// `X-API-Key` wins over `Authorization`; a bearer token starting `nxk_` is a key.
pub fn credential(headers: &HeaderMap) -> Credential<'_> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Credential::Key(k.trim());
    }
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        Some(t) if keys::is_key(t) => Credential::Key(t),
        Some(t) => Credential::Session(t),
        None => Credential::None,
    }
}

/// The client's address: the socket's peer, or — when the peer is a trusted proxy — the last
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_addr(
    trusted: &[ipnet::IpNet],
    peer: Option<IpAddr>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.iter().any(|n| n.contains(ip)))
            .unwrap_or(peer),
    )
}

/// The request's client address as [`client_addr`] tells it (`None` when unknown).
pub struct ClientAddr(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<SharedState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self(client_addr(
            &state.settings.trusted_proxies,
            peer,
            &parts.headers,
        )))
    }
}

/// The tenant and user of a session token whose signature checks (revocation is the
/// `Caller`'s business; for rate limits the signed claims are enough).
fn session_claims(state: &AppState, token: &str) -> Option<Claims> {
    jsonwebtoken::decode::<Claims>(
        token,
        &state.keys.decoding_key(),
        &Validation::new(Algorithm::HS256),
    )
    .ok()
    .map(|d| d.claims)
}

struct Checks<'a> {
    state: &'a AppState,
    tenant: Option<TenantScope>,
    limits: nexbii_crds::RateLimits,
    standings: Vec<Standing>,
}

impl Checks<'_> {
    fn take(&mut self, kind: Kind, who: &str) -> Result<(), Refused> {
        if !self.limits.enabled {
            return Ok(());
        }
        let limit = match kind {
            Kind::Key => self.limits.per_key,
            Kind::User => self.limits.per_user,
            Kind::Address => self.limits.per_address,
        };
        let tenant = self.tenant.as_ref().map(|t| t.tenant()).unwrap_or("");
        match self.state.rate_limits.check(tenant, kind, limit, who) {
            Ok(s) => {
                self.standings.push(s);
                Ok(())
            }
            Err(r) => Err(r),
        }
    }

    fn finish(&self, mut resp: Response) -> Response {
        if let Some(s) = ratelimit::tightest(&self.standings) {
            if !resp.headers().contains_key("ratelimit-limit") {
                ratelimit::add_headers(resp.headers_mut(), s);
            }
        }
        resp
    }
}

pub async fn guard(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    if matches!(
        template.as_deref(),
        Some("/healthz" | "/readyz" | "/metrics")
    ) {
        return next.run(req).await;
    }
    let rule = template.as_deref().and_then(scopes::route_rule);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let addr = client_addr(&state.settings.trusted_proxies, peer, req.headers());
    // Public routes and unknown paths (404) need no credential: any sent is not looked at.
    let authenticated = template.is_some() && rule != Some(RouteRule::Public);
    let (key, claims) = match credential(req.headers()) {
        Credential::Key(k) if authenticated => (Some(k.to_string()), None),
        Credential::Session(t) if authenticated => (None, session_claims(&state, t)),
        _ => (None, None),
    };
    let named = match (&key, &claims) {
        (Some(k), _) => keys::parse(k).and_then(|p| TenantScope::new(p.tenant)),
        (_, Some(c)) => TenantScope::new(&c.ten),
        _ => None,
    };
    // Only a tenant that exists has its own buckets: made-up names in bogus keys share the
    // instance's default group, so they neither escape the address limit nor grow memory.
    let (tenant, limits) = match named {
        Some(t) => match state.tenant(&t).await {
            Ok(r) => (Some(t), r.spec.rate_limits.clone()),
            Err(_) => (None, Default::default()),
        },
        None => (None, Default::default()),
    };
    let mut checks = Checks {
        state: &state,
        tenant,
        limits,
        standings: Vec::new(),
    };
    if let Some(ip) = addr {
        if let Err(r) = checks.take(Kind::Address, &ip.to_string()) {
            return ratelimit::refused(&r);
        }
    }
    if let Some(k) = key {
        let principal = match keys::authenticate(&state, &k, Utc::now()).await {
            Ok(p) => p,
            Err(e) => return checks.finish(e.into_response()),
        };
        state.apikey_usage.record(
            &principal.scope,
            &principal.key_id,
            Utc::now(),
            addr.map(|a| a.to_string()),
        );
        if let Err(r) = checks.take(Kind::Key, &principal.key_id) {
            return ratelimit::refused(&r);
        }
        if let Err(r) = checks.take(Kind::User, &principal.owner) {
            return ratelimit::refused(&r);
        }
        let template = template.as_deref().unwrap_or_default();
        if let Err(e) = keys::authorize(&principal, template, req.method()) {
            return checks.finish(e.into_response());
        }
        req.extensions_mut().insert::<KeyPrincipal>(principal);
    } else if let Some(c) = &claims {
        if let Err(r) = checks.take(Kind::User, &c.sub) {
            return ratelimit::refused(&r);
        }
    }
    // The tenant's own rules: its IP allow-list, then the feature the route belongs to.
    if let Some(t) = checks.tenant.clone() {
        if let Err(e) = crate::admin::settings::domain::admit_address(&state, &t, addr).await {
            return checks.finish(e.into_response());
        }
        let template = template.as_deref().unwrap_or_default();
        if crate::admin::features::domain::feature_of(template).is_some() {
            let user = match (req.extensions().get::<KeyPrincipal>(), &claims) {
                (Some(p), _) => Some((p.owner.clone(), p.role)),
                (None, Some(c)) => match state.store.cached::<UserRecord>(&t, &c.sub).await {
                    Ok(Some(u)) => Some((u.username.clone(), u.role)),
                    // Unknown or unreadable: the handler's Caller answers it.
                    _ => None,
                },
                (None, None) => None,
            };
            let user = user.as_ref().map(|(u, r)| (u.as_str(), *r));
            if let Err(e) = crate::admin::features::domain::gate(&state, &t, template, user).await {
                return checks.finish(e.into_response());
            }
        }
    }
    let resp = next.run(req).await;
    checks.finish(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.0.0.7".parse().unwrap(),
        );
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // Not a proxy: the peer itself, whatever it claims.
        assert_eq!(
            client_addr(&trusted, Some(ip("9.9.9.9")), &h),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            client_addr(&[], Some(ip("10.0.0.1")), &h),
            Some(ip("10.0.0.1"))
        );
        // Through trusted proxies: the last address that is not one (the first entries are
        // whatever the client wrote).
        assert_eq!(
            client_addr(&trusted, Some(ip("10.0.0.1")), &h),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            client_addr(&trusted, Some(ip("10.0.0.1")), &HeaderMap::new()),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(client_addr(&trusted, None, &h), None);
    }

    #[test]
    fn keys_are_told_from_session_tokens() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer nxk_t_x_y".parse().unwrap());
        assert!(matches!(credential(&h), Credential::Key("nxk_t_x_y")));
        h.insert(header::AUTHORIZATION, "Bearer eyJ.x.y".parse().unwrap());
        assert!(matches!(credential(&h), Credential::Session("eyJ.x.y")));
        h.insert("x-api-key", "nxk_a_b_c".parse().unwrap());
        assert!(matches!(credential(&h), Credential::Key("nxk_a_b_c")));
        assert!(matches!(credential(&HeaderMap::new()), Credential::None));
    }
}

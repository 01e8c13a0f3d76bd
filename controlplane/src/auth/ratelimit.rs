//! Request rate limits: token buckets (GCRA, the `governor` crate) per API key, per user and
//! per client address, sized by the tenant's `spec.rateLimits`, and the `RateLimit-*`
//! headers (draft-ietf-httpapi-ratelimit-headers) that report them.
//!
//! Buckets live in this instance's memory: with several replicas each enforces the limit on
//! what it serves (a client spread evenly over N replicas gets up to N times the rate).
use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    http::{HeaderMap, HeaderName, HeaderValue},
    response::{IntoResponse, Response},
};
use governor::{
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
    Quota, RateLimiter,
};
use nexbii_crds::RateLimit;

use crate::http::ApiError;

/// Which bucket a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Key,
    User,
    Address,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Key => "API key",
            Self::User => "user",
            Self::Address => "client address",
        }
    }
}

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

struct Buckets {
    limit: RateLimit,
    limiter: Limiter,
}

/// Where a bucket stands after a request took from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub kind: Kind,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset: u64,
    /// Requests per minute it refills at.
    pub per_minute: u32,
}

/// A request refused: which bucket was empty and when it may come again.
#[derive(Clone, Debug)]
pub struct Refused {
    pub standing: Standing,
    pub retry_after: u64,
}

/// The buckets of one instance, grouped by (tenant, kind) so each tenant's limits apply to its
/// own callers; `""` is the tenant of requests that name none (login, share links).
#[derive(Default)]
pub struct Limiters {
    groups: Mutex<HashMap<(String, Kind), Arc<Buckets>>>,
}

fn quota(limit: RateLimit) -> Quota {
    let rpm = NonZeroU32::new(limit.requests_per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(rpm).allow_burst(burst)
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Limiters {
    fn buckets(&self, tenant: &str, kind: Kind, limit: RateLimit) -> Arc<Buckets> {
        let mut groups = self.groups.lock().expect("rate limit lock");
        let key = (tenant.to_string(), kind);
        match groups.get(&key) {
            // A changed spec starts the group afresh with the new sizes.
            Some(b) if b.limit == limit => b.clone(),
            _ => {
                let b = Arc::new(Buckets {
                    limit,
                    limiter: RateLimiter::keyed(quota(limit))
                        .with_middleware::<StateInformationMiddleware>(),
                });
                groups.insert(key, b.clone());
                b
            }
        }
    }

    /// Takes one request from `who`'s bucket of this kind.
    pub fn check(
        &self,
        tenant: &str,
        kind: Kind,
        limit: RateLimit,
        who: &str,
    ) -> Result<Standing, Refused> {
        let b = self.buckets(tenant, kind, limit);
        let q = quota(limit);
        let per_cell = q.replenish_interval();
        let standing = |remaining: u32| Standing {
            kind,
            limit: limit.burst,
            remaining,
            reset: ceil_secs(per_cell * limit.burst.saturating_sub(remaining)),
            per_minute: limit.requests_per_minute,
        };
        match b.limiter.check_key(&who.to_string()) {
            Ok(snap) => Ok(standing(snap.remaining_burst_capacity())),
            Err(not_until) => {
                let wait = not_until.wait_time_from(b.limiter.clock().now());
                Err(Refused {
                    standing: standing(0),
                    retry_after: ceil_secs(wait).max(1),
                })
            }
        }
    }

    /// Forgets buckets that are full again (nothing to remember about them).
    pub fn shrink(&self) {
        let groups: Vec<_> = self
            .groups
            .lock()
            .expect("rate limit lock")
            .values()
            .cloned()
            .collect();
        for b in groups {
            b.limiter.retain_recent();
            b.limiter.shrink_to_fit();
        }
    }
}

/// The standing to report of several: the one closest to refusing.
pub fn tightest(all: &[Standing]) -> Option<&Standing> {
    all.iter()
        .min_by_key(|s| (s.remaining, std::cmp::Reverse(s.reset)))
}

fn set(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`.
pub fn add_headers(headers: &mut HeaderMap, s: &Standing) {
    set(headers, "ratelimit-limit", s.limit.to_string());
    set(headers, "ratelimit-remaining", s.remaining.to_string());
    set(headers, "ratelimit-reset", s.reset.to_string());
    // The bucket size over the time it takes to refill it completely.
    let window = (u64::from(s.limit) * 60).div_ceil(u64::from(s.per_minute.max(1)));
    set(
        headers,
        "ratelimit-policy",
        format!("{};w={}", s.limit, window.max(1)),
    );
}

/// The 429 answer: problem+json naming the bucket, with `Retry-After` and the headers.
pub fn refused(r: &Refused) -> Response {
    let mut resp = ApiError::TooManyRequests(format!(
        "rate limit of this {} reached ({} requests at once, {} per minute); retry in {} s",
        r.standing.kind.label(),
        r.standing.limit,
        r.standing.per_minute,
        r.retry_after
    ))
    .into_response();
    let headers = resp.headers_mut();
    add_headers(headers, &r.standing);
    set(headers, "retry-after", r.retry_after.to_string());
    set(headers, "ratelimit-reset", r.retry_after.to_string());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_empty_then_refuse_with_a_wait() {
        let l = Limiters::default();
        let limit = RateLimit {
            requests_per_minute: 60,
            burst: 3,
        };
        let s: Vec<_> = (0..3)
            .map(|_| l.check("t", Kind::Key, limit, "k1").unwrap())
            .collect();
        assert_eq!(s.iter().map(|s| s.remaining).collect::<Vec<_>>(), [2, 1, 0]);
        assert_eq!(s[2].reset, 3, "three seconds to refill three cells");
        let r = l.check("t", Kind::Key, limit, "k1").unwrap_err();
        assert_eq!(r.retry_after, 1);
        // Other keys, kinds and tenants have their own buckets.
        assert!(l.check("t", Kind::Key, limit, "k2").is_ok());
        assert!(l.check("t", Kind::User, limit, "k1").is_ok());
        assert!(l.check("u", Kind::Key, limit, "k1").is_ok());
        // A changed limit starts afresh.
        let bigger = RateLimit {
            requests_per_minute: 60,
            burst: 5,
        };
        assert_eq!(l.check("t", Kind::Key, bigger, "k1").unwrap().remaining, 4);
        let resp = refused(&r);
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "1");
        assert_eq!(resp.headers()["ratelimit-remaining"], "0");
        assert_eq!(resp.headers()["ratelimit-policy"], "3;w=3");
    }
}

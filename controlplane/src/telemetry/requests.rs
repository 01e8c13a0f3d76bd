//! HTTP requests per tenant: sliding windows overall and per route, a 24-hour chart, and who
//! was active.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

use super::{
    evict_oldest,
    windows::{Chart, Outcome, Slot, Window, Windows},
};

/// Tenants tracked (requests of further tenants are counted only in Prometheus).
pub const MAX_TENANTS: usize = 256;
/// Route series (tenant × method and route template) kept by the instance, about 19 KB each;
/// a tenant's routes beyond the cap are counted under the route `other`.
pub const MAX_ROUTE_SERIES: usize = 1_024;
/// Users remembered per tenant for "active users" (the least recently seen are forgotten).
pub const MAX_USERS: usize = 10_000;

/// Requests of one tenant.
#[derive(Default)]
pub struct TenantRequests {
    pub overall: Windows,
    pub chart: Chart,
    /// By `"<METHOD> <route template>"`.
    pub routes: HashMap<Box<str>, Windows>,
    /// Username → last request, seconds since the epoch.
    pub users: HashMap<Box<str>, u64>,
}

impl TenantRequests {
    pub fn route_figures(&self, now_s: u64, w: Window) -> Vec<(String, Slot)> {
        let mut v: Vec<(String, Slot)> = self
            .routes
            .iter()
            .map(|(k, s)| (k.to_string(), s.window(now_s, w)))
            .filter(|(_, s)| s.count > 0)
            .collect();
        v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
        v
    }

    /// Users with a request in the last `seconds`.
    pub fn active_users(&self, now_s: u64, seconds: u64) -> usize {
        self.users
            .values()
            .filter(|&&t| t + seconds > now_s)
            .count()
    }
}

#[derive(Default)]
pub struct RequestStats {
    tenants: RwLock<HashMap<String, Arc<Mutex<TenantRequests>>>>,
    route_series: std::sync::atomic::AtomicUsize,
}

/// One finished request.
pub struct RequestEvent<'a> {
    pub tenant: &'a str,
    pub user: Option<&'a str>,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub ms: f64,
}

impl RequestStats {
    fn tenant(&self, tenant: &str) -> Option<Arc<Mutex<TenantRequests>>> {
        if let Some(t) = self.tenants.read().expect("requests lock").get(tenant) {
            return Some(t.clone());
        }
        let mut all = self.tenants.write().expect("requests lock");
        if let Some(t) = all.get(tenant) {
            return Some(t.clone());
        }
        if all.len() >= MAX_TENANTS {
            return None;
        }
        let t = Arc::new(Mutex::new(TenantRequests::default()));
        all.insert(tenant.to_string(), t.clone());
        Some(t)
    }

    pub fn record(&self, now_s: u64, e: &RequestEvent<'_>) {
        let Some(t) = self.tenant(e.tenant) else {
            return;
        };
        let outcome = match e.status {
            500.. => Outcome::Error,
            400..=499 => Outcome::ClientError,
            _ => Outcome::Ok,
        };
        let mut t = t.lock().expect("tenant requests lock");
        t.overall.record(now_s, e.ms, outcome, false);
        t.chart.record(now_s, e.ms, outcome, false);
        let key = format!("{} {}", e.method, e.route);
        if let Some(r) = t.routes.get_mut(key.as_str()) {
            r.record(now_s, e.ms, outcome, false);
        } else {
            use std::sync::atomic::Ordering::Relaxed;
            let room = self.route_series.load(Relaxed) < MAX_ROUTE_SERIES;
            let key: Box<str> = if room { key.into() } else { "other".into() };
            let r = t.routes.entry(key).or_insert_with(|| {
                self.route_series.fetch_add(1, Relaxed);
                Windows::default()
            });
            r.record(now_s, e.ms, outcome, false);
        }
        if let Some(u) = e.user {
            if let Some(seen) = t.users.get_mut(u) {
                *seen = now_s;
            } else {
                evict_oldest(&mut t.users, MAX_USERS, |&s| s);
                t.users.insert(u.into(), now_s);
            }
        }
    }

    /// Reads one tenant's requests (`None`: nothing recorded for it).
    pub fn read<R>(&self, tenant: &str, f: impl FnOnce(&TenantRequests) -> R) -> Option<R> {
        let t = self
            .tenants
            .read()
            .expect("requests lock")
            .get(tenant)
            .cloned()?;
        let t = t.lock().expect("tenant requests lock");
        Some(f(&t))
    }

    /// Every tenant's name (for Prometheus).
    pub fn tenants(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tenants
            .read()
            .expect("requests lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tenant_and_per_route() {
        let s = RequestStats::default();
        let t = 1_700_000_000;
        for i in 0..20 {
            let (route, status) = if i < 5 {
                ("/api/v1/queries/run", 502)
            } else {
                ("/api/v1/auth/me", 200)
            };
            s.record(
                t,
                &RequestEvent {
                    tenant: "acme",
                    user: Some(if i % 2 == 0 { "ann" } else { "bob" }),
                    method: "GET",
                    route,
                    status,
                    ms: 3.0,
                },
            );
        }
        s.record(
            t,
            &RequestEvent {
                tenant: "other",
                user: None,
                method: "GET",
                route: "/x",
                status: 404,
                ms: 1.0,
            },
        );
        let (overall, routes, users) = s
            .read("acme", |r| {
                (
                    r.overall.window(t, Window::M1).figures(60.0),
                    r.route_figures(t, Window::M1),
                    r.active_users(t, 300),
                )
            })
            .unwrap();
        assert_eq!(
            (overall.count, overall.errors, overall.error_rate),
            (20, 5, 0.25)
        );
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].0, "GET /api/v1/auth/me");
        assert_eq!((routes[1].1.count, routes[1].1.errors), (5, 5));
        assert_eq!(users, 2);
        let other = s
            .read("other", |r| r.overall.window(t, Window::M1).figures(60.0))
            .unwrap();
        assert_eq!((other.count, other.client_errors, other.errors), (1, 1, 0));
    }
}

//! Dashboard load times per tenant: per dashboard (until its last widget is in) and per widget.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

use super::{evict_oldest, queries::Agg};

/// Dashboards tracked per tenant (least recently loaded forgotten first).
pub const MAX_DASHBOARDS: usize = 2_000;
/// Widgets tracked per dashboard.
pub const MAX_WIDGETS: usize = 100;

#[derive(Clone, Debug, Default)]
pub struct DashboardStats {
    /// Whole loads: `cache_hits` counts loads whose every widget came from the cache.
    pub loads: Agg,
    pub widgets: Vec<(Box<str>, Agg)>,
}

#[derive(Default)]
pub struct TenantDashboards {
    pub dashboards: HashMap<Box<str>, DashboardStats>,
}

#[derive(Default)]
pub struct DashboardTimes {
    tenants: RwLock<HashMap<String, Arc<Mutex<TenantDashboards>>>>,
}

/// How long a widget or a whole load took, and how it went.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub ms: f64,
    /// From the cache (a load: every widget was).
    pub cached: bool,
    /// Failed (a load: some widget did).
    pub failed: bool,
}

fn add(a: &mut Agg, now_s: u64, t: Timing) {
    let Timing { ms, cached, failed } = t;
    a.count += 1;
    a.executions += 1;
    a.last_seen = now_s;
    if failed {
        a.errors += 1;
    }
    if cached {
        a.cache_hits += 1;
    } else {
        a.cache_misses += 1;
    }
    a.total_ms += ms;
    a.max_ms = a.max_ms.max(ms);
    a.hist.record(ms);
}

impl DashboardTimes {
    fn with<R>(&self, tenant: &str, f: impl FnOnce(&mut TenantDashboards) -> R) -> Option<R> {
        let t = {
            let read = self.tenants.read().expect("dashboards lock");
            read.get(tenant).cloned()
        };
        let t = match t {
            Some(t) => t,
            None => {
                let mut all = self.tenants.write().expect("dashboards lock");
                if all.len() >= super::requests::MAX_TENANTS && !all.contains_key(tenant) {
                    return None;
                }
                all.entry(tenant.to_string()).or_default().clone()
            }
        };
        let mut t = t.lock().expect("tenant dashboards lock");
        Some(f(&mut t))
    }

    fn dashboard<'m>(t: &'m mut TenantDashboards, name: &str) -> &'m mut DashboardStats {
        if !t.dashboards.contains_key(name) {
            evict_oldest(&mut t.dashboards, MAX_DASHBOARDS, |d| d.loads.last_seen);
            t.dashboards.insert(name.into(), DashboardStats::default());
        }
        t.dashboards.get_mut(name).expect("inserted above")
    }

    pub fn record_widget(
        &self,
        now_s: u64,
        tenant: &str,
        dashboard: &str,
        widget: &str,
        timing: Timing,
    ) {
        self.with(tenant, |t| {
            let d = Self::dashboard(t, dashboard);
            d.loads.last_seen = now_s;
            let slot = match d.widgets.iter().position(|(w, _)| &**w == widget) {
                Some(i) => i,
                None if d.widgets.len() < MAX_WIDGETS => {
                    d.widgets.push((widget.into(), Agg::default()));
                    d.widgets.len() - 1
                }
                None => return,
            };
            add(&mut d.widgets[slot].1, now_s, timing);
        });
    }

    pub fn record_load(&self, now_s: u64, tenant: &str, dashboard: &str, timing: Timing) {
        self.with(tenant, |t| {
            add(&mut Self::dashboard(t, dashboard).loads, now_s, timing)
        });
    }

    pub fn read<R>(&self, tenant: &str, f: impl FnOnce(&TenantDashboards) -> R) -> Option<R> {
        let t = self
            .tenants
            .read()
            .expect("dashboards lock")
            .get(tenant)
            .cloned()?;
        let t = t.lock().expect("tenant dashboards lock");
        Some(f(&t))
    }
}

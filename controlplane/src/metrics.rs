//! Prometheus metrics, one registry per server (so several servers in one test process don't mix).
use std::sync::Arc;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

use chrono::{DateTime, Utc};

use crate::telemetry::{windows::Window, Telemetry};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub query_executions: IntCounterVec,
    pub query_duration: HistogramVec,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub logins: IntCounterVec,
    /// Audit entries appended, and appends that failed (an audited request whose entry is
    /// missing).
    pub audit_entries: IntCounter,
    pub audit_failures: IntCounter,
    pub backups: BackupMetrics,
    pub journal: JournalMetrics,
    /// Health alerts firing per tenant and alert (1 firing, 0 cleared), and their transitions.
    pub alerts_firing: GaugeVec,
    pub alert_transitions: IntCounterVec,
    /// The monitoring store (requests, queries, dashboards, resources) the admin area reads;
    /// its figures are copied into `window` gauges at each scrape.
    pub telemetry: Arc<Telemetry>,
    window: WindowGauges,
}

/// Gauges refreshed from the telemetry at each scrape. Labels are bounded: tenant (capped),
/// window (4), route template (capped), data source (capped), quantile (3) — never a query
/// fingerprint.
#[derive(Clone)]
struct WindowGauges {
    requests: GaugeVec,
    request_errors: GaugeVec,
    request_latency: GaugeVec,
    route_requests: GaugeVec,
    route_errors: GaugeVec,
    route_latency: GaugeVec,
    active_users: GaugeVec,
    source_runs: GaugeVec,
    source_errors: GaugeVec,
    source_cache_hit: GaugeVec,
    source_latency: GaugeVec,
    resources: GaugeVec,
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("metric")
}

impl WindowGauges {
    fn new() -> Self {
        Self {
            requests: gauge(
                "window_requests",
                "Requests in the window",
                &["tenant", "window"],
            ),
            request_errors: gauge(
                "window_request_error_ratio",
                "Share of requests answered 5xx in the window",
                &["tenant", "window"],
            ),
            request_latency: gauge(
                "window_request_latency_seconds",
                "Request latency percentiles in the window",
                &["tenant", "window", "quantile"],
            ),
            route_requests: gauge(
                "window_route_requests",
                "Requests per route in the window",
                &["tenant", "window", "route"],
            ),
            route_errors: gauge(
                "window_route_error_ratio",
                "Share of a route's requests answered 5xx in the window",
                &["tenant", "window", "route"],
            ),
            route_latency: gauge(
                "window_route_latency_seconds",
                "Request latency percentiles per route in the window",
                &["tenant", "window", "route", "quantile"],
            ),
            active_users: gauge(
                "active_users",
                "Users with a request in the window",
                &["tenant", "window"],
            ),
            source_runs: gauge(
                "datasource_query_runs",
                "Query runs per data source since the instance started",
                &["tenant", "datasource"],
            ),
            source_errors: gauge(
                "datasource_query_errors",
                "Failed query runs per data source since the instance started",
                &["tenant", "datasource"],
            ),
            source_cache_hit: gauge(
                "datasource_cache_hit_ratio",
                "Share of cache lookups answered from the cache, per data source",
                &["tenant", "datasource"],
            ),
            source_latency: gauge(
                "datasource_query_latency_seconds",
                "Query duration percentiles per data source since the instance started",
                &["tenant", "datasource", "quantile"],
            ),
            resources: gauge(
                "resource",
                "Resource use of the instance (latest sample, every minute): process_cpu_percent, \
                 rss_bytes, open_files, host_cpu_percent, host_memory_total_bytes, \
                 host_memory_available_bytes, disk_free_bytes, store_bytes",
                &["name"],
            ),
        }
    }

    fn all(&self) -> [&GaugeVec; 12] {
        [
            &self.requests,
            &self.request_errors,
            &self.request_latency,
            &self.route_requests,
            &self.route_errors,
            &self.route_latency,
            &self.active_users,
            &self.source_runs,
            &self.source_errors,
            &self.source_cache_hit,
            &self.source_latency,
            &self.resources,
        ]
    }

    fn refresh(&self, t: &Telemetry) {
        for g in self.all() {
            g.reset();
        }
        let now = crate::telemetry::now_s();
        let q = [("0.5", 0), ("0.95", 1), ("0.99", 2)];
        for tenant in t.requests.tenants() {
            t.requests.read(&tenant, |r| {
                for w in Window::ALL {
                    let f = r.overall.window(now, w).figures(w.seconds() as f64);
                    let l = [tenant.as_str(), w.name()];
                    self.requests.with_label_values(&l).set(f.count as f64);
                    self.request_errors.with_label_values(&l).set(f.error_rate);
                    for (name, i) in q {
                        if let Some(v) = [f.p50_ms, f.p95_ms, f.p99_ms][i] {
                            self.request_latency
                                .with_label_values(&[l[0], l[1], name])
                                .set(v / 1000.0);
                        }
                    }
                    self.active_users
                        .with_label_values(&l)
                        .set(r.active_users(now, w.seconds()) as f64);
                    for (route, s) in r.route_figures(now, w) {
                        let f = s.figures(w.seconds() as f64);
                        let l = [tenant.as_str(), w.name(), route.as_str()];
                        self.route_requests
                            .with_label_values(&l)
                            .set(f.count as f64);
                        self.route_errors.with_label_values(&l).set(f.error_rate);
                        for (name, i) in q {
                            if let Some(v) = [f.p50_ms, f.p95_ms, f.p99_ms][i] {
                                self.route_latency
                                    .with_label_values(&[l[0], l[1], l[2], name])
                                    .set(v / 1000.0);
                            }
                        }
                    }
                }
            });
        }
        for tenant in t.queries.tenants() {
            t.queries.read(&tenant, |qs| {
                for (source, a) in &qs.sources {
                    let l = [tenant.as_str(), &**source];
                    self.source_runs.with_label_values(&l).set(a.count as f64);
                    self.source_errors
                        .with_label_values(&l)
                        .set(a.errors as f64);
                    if let Some(r) = a.cache_hit_rate() {
                        self.source_cache_hit.with_label_values(&l).set(r);
                    }
                    for (name, p) in [("0.5", 0.5), ("0.95", 0.95), ("0.99", 0.99)] {
                        if let Some(v) = a.quantile(p) {
                            self.source_latency
                                .with_label_values(&[l[0], l[1], name])
                                .set(v / 1000.0);
                        }
                    }
                }
            });
        }
        if let Some(s) = t.resources.latest() {
            for (name, v) in [
                ("process_cpu_percent", s.process_cpu_percent),
                ("rss_bytes", s.rss_bytes.map(|v| v as f64)),
                ("open_files", s.open_files.map(|v| v as f64)),
                ("host_cpu_percent", s.host_cpu_percent),
                (
                    "host_memory_total_bytes",
                    s.host_memory_total_bytes.map(|v| v as f64),
                ),
                (
                    "host_memory_available_bytes",
                    s.host_memory_available_bytes.map(|v| v as f64),
                ),
                ("disk_free_bytes", s.disk_free_bytes.map(|v| v as f64)),
                ("store_bytes", s.store_bytes.map(|v| v as f64)),
            ] {
                if let Some(v) = v {
                    self.resources.with_label_values(&[name]).set(v);
                }
            }
        }
    }
}

/// Backup runs per tenant. The last-success gauges are also set at start-up from the newest
/// completed backup in the store, so an alert on their age survives restarts.
#[derive(Clone)]
pub struct BackupMetrics {
    last_success: GaugeVec,
    last_duration: GaugeVec,
    last_size: GaugeVec,
    runs: IntCounterVec,
    pruned: IntCounterVec,
    retention_failures: IntCounterVec,
}

impl BackupMetrics {
    fn new() -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("metric")
        };
        Self {
            last_success: gauge(
                "backup_last_success_timestamp_seconds",
                "Start time (Unix seconds) of the tenant's newest completed backup",
                &["tenant"],
            ),
            last_duration: gauge(
                "backup_last_duration_seconds",
                "How long the tenant's newest completed backup took",
                &["tenant"],
            ),
            last_size: gauge(
                "backup_last_size_bytes",
                "Archive size of the tenant's newest completed backup",
                &["tenant"],
            ),
            runs: counter(
                "backups_total",
                "Backup runs by outcome (completed, failed) since the instance started",
                &["tenant", "outcome"],
            ),
            pruned: counter(
                "backups_pruned_total",
                "Backups removed by retention since the instance started",
                &["tenant"],
            ),
            retention_failures: counter(
                "backup_retention_failures_total",
                "Retention passes that could not remove every backup they pruned",
                &["tenant"],
            ),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.last_success.clone()),
            Box::new(self.last_duration.clone()),
            Box::new(self.last_size.clone()),
            Box::new(self.runs.clone()),
            Box::new(self.pruned.clone()),
            Box::new(self.retention_failures.clone()),
        ]
    }

    /// The newest completed backup's figures (a run that just finished, or one found at
    /// start-up); an older one never replaces a newer one.
    pub fn last_success(&self, tenant: &str, at: DateTime<Utc>, seconds: f64, size: u64) {
        let t = at.timestamp_millis() as f64 / 1000.0;
        let g = self.last_success.with_label_values(&[tenant]);
        if g.get() > t {
            return;
        }
        g.set(t);
        self.last_duration.with_label_values(&[tenant]).set(seconds);
        self.last_size.with_label_values(&[tenant]).set(size as f64);
    }

    pub fn completed(&self, tenant: &str, at: DateTime<Utc>, seconds: f64, size: u64) {
        self.runs.with_label_values(&[tenant, "completed"]).inc();
        self.last_success(tenant, at, seconds, size);
    }

    pub fn failed(&self, tenant: &str) {
        self.runs.with_label_values(&[tenant, "failed"]).inc();
    }

    pub fn pruned(&self, tenant: &str, n: usize) {
        self.pruned.with_label_values(&[tenant]).inc_by(n as u64);
    }

    pub fn retention_failed(&self, tenant: &str) {
        self.retention_failures.with_label_values(&[tenant]).inc();
    }
}

/// The change journals: how far behind shipping is (the recovery point at risk), and what
/// was shipped last.
#[derive(Clone)]
pub struct JournalMetrics {
    lag: GaugeVec,
    last_shipped_sequence: GaugeVec,
    last_shipped_at: GaugeVec,
    ship_failures: IntCounterVec,
    append_failures: IntCounterVec,
    /// Time of each tenant's oldest unshipped entry; the lag is computed from it when scraped.
    oldest: Arc<std::sync::Mutex<std::collections::HashMap<String, Option<DateTime<Utc>>>>>,
}

impl JournalMetrics {
    fn new() -> Self {
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["tenant"]).expect("metric")
        };
        Self {
            lag: gauge(
                "journal_lag_seconds",
                "Seconds since the tenant's oldest change-journal entry not yet shipped to the backup destination (0 when all are shipped): the recovery point at risk",
                &["tenant"],
            ),
            last_shipped_sequence: gauge(
                "journal_last_shipped_sequence",
                "Sequence of the last change-journal entry shipped to the backup destination",
                &["tenant"],
            ),
            last_shipped_at: gauge(
                "journal_last_shipped_timestamp_seconds",
                "When (Unix seconds) journal entries were last shipped to the backup destination",
                &["tenant"],
            ),
            ship_failures: counter(
                "journal_ship_failures_total",
                "Journal shipping rounds that failed (the entries stay local and are retried)",
            ),
            append_failures: counter(
                "journal_append_failures_total",
                "Committed changes the change journal could not record",
            ),
            oldest: Arc::default(),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.lag.clone()),
            Box::new(self.last_shipped_sequence.clone()),
            Box::new(self.last_shipped_at.clone()),
            Box::new(self.ship_failures.clone()),
            Box::new(self.append_failures.clone()),
        ]
    }

    /// A tenant's journal was opened with this shipping state.
    pub fn opened(&self, tenant: &str, shipped: u64, at: Option<DateTime<Utc>>) {
        if let Some(at) = at {
            self.shipped(tenant, shipped, at);
        }
    }

    pub fn shipped(&self, tenant: &str, last: u64, at: DateTime<Utc>) {
        self.last_shipped_sequence
            .with_label_values(&[tenant])
            .set(last as f64);
        self.last_shipped_at
            .with_label_values(&[tenant])
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    pub fn oldest_unshipped(&self, tenant: &str, at: Option<DateTime<Utc>>) {
        self.oldest
            .lock()
            .expect("journal metrics")
            .insert(tenant.to_string(), at);
    }

    pub fn ship_failed(&self, tenant: &str) {
        self.ship_failures.with_label_values(&[tenant]).inc();
    }

    pub fn append_failed(&self, tenant: &str) {
        self.append_failures.with_label_values(&[tenant]).inc();
    }

    fn refresh(&self) {
        let now = Utc::now();
        for (tenant, oldest) in self.oldest.lock().expect("journal metrics").iter() {
            let lag = oldest.map_or(0.0, |at| {
                ((now - at).num_milliseconds() as f64 / 1000.0).max(0.0)
            });
            self.lag.with_label_values(&[tenant]).set(lag);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("nexbii".into()), None).expect("valid prefix");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["method", "route", "status"],
        )
        .expect("metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["method", "route"],
        )
        .expect("metric");
        let query_executions = IntCounterVec::new(
            Opts::new(
                "query_executions_total",
                "Queries by source type and outcome (ok, error, timeout, refused)",
            ),
            &["source_type", "outcome"],
        )
        .expect("metric");
        let query_duration = HistogramVec::new(
            HistogramOpts::new("query_duration_seconds", "Time spent in the data source")
                .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
            &["source_type"],
        )
        .expect("metric");
        let cache_hits =
            IntCounter::new("query_cache_hits_total", "Query results served from cache")
                .expect("metric");
        let cache_misses = IntCounter::new(
            "query_cache_misses_total",
            "Query results not found in cache",
        )
        .expect("metric");
        let logins = IntCounterVec::new(
            Opts::new("logins_total", "Login attempts by outcome"),
            &["outcome"],
        )
        .expect("metric");
        let audit_entries =
            IntCounter::new("audit_entries_total", "Audit log entries appended").expect("metric");
        let audit_failures = IntCounter::new(
            "audit_append_failures_total",
            "Audited requests whose audit entry could not be written",
        )
        .expect("metric");
        let alerts_firing = gauge(
            "alerts_firing",
            "Health alerts of the tenant now firing (1) or cleared (0), by alert",
            &["tenant", "alert"],
        );
        let alert_transitions = IntCounterVec::new(
            Opts::new(
                "alert_transitions_total",
                "Health alerts fired and cleared since the instance started",
            ),
            &["tenant", "kind", "transition"],
        )
        .expect("metric");
        let window = WindowGauges::new();
        let backups = BackupMetrics::new();
        for c in backups.collectors() {
            registry.register(c).expect("unique metric");
        }
        let journal = JournalMetrics::new();
        for c in journal.collectors() {
            registry.register(c).expect("unique metric");
        }
        for g in window.all() {
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
        }
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(query_executions.clone()),
            Box::new(query_duration.clone()),
            Box::new(cache_hits.clone()),
            Box::new(cache_misses.clone()),
            Box::new(logins.clone()),
            Box::new(audit_entries.clone()),
            Box::new(audit_failures.clone()),
            Box::new(alerts_firing.clone()),
            Box::new(alert_transitions.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            query_executions,
            query_duration,
            cache_hits,
            cache_misses,
            logins,
            audit_entries,
            audit_failures,
            backups,
            journal,
            alerts_firing,
            alert_transitions,
            telemetry: Arc::new(Telemetry::new()),
            window,
        }
    }

    pub fn render(&self) -> String {
        self.window.refresh(&self.telemetry);
        self.journal.refresh();
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

//! Prometheus metrics, one registry per server (so several servers in one test process don't mix).
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

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
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(query_executions.clone()),
            Box::new(query_duration.clone()),
            Box::new(cache_hits.clone()),
            Box::new(cache_misses.clone()),
            Box::new(logins.clone()),
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
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

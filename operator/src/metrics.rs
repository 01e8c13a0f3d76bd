//! Operator metrics: reconciles, errors and durations per kind, and leadership.
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: IntCounterVec,
    pub errors: IntCounterVec,
    pub duration: HistogramVec,
    pub leader: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new_custom(Some("nexbii_operator".into()), None).expect("prefix");
        let reconciles = IntCounterVec::new(
            Opts::new("reconciles_total", "Reconciliations by kind"),
            &["kind"],
        )
        .expect("metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "reconcile_errors_total",
                "Failed reconciliations by kind and reason",
            ),
            &["kind", "reason"],
        )
        .expect("metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("reconcile_duration_seconds", "Reconciliation time")
                .buckets(vec![0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["kind"],
        )
        .expect("metric");
        let leader =
            IntGauge::new("leader", "1 while this replica holds the leader lease").expect("metric");
        registry
            .register(Box::new(reconciles.clone()))
            .expect("unique");
        registry.register(Box::new(errors.clone())).expect("unique");
        registry
            .register(Box::new(duration.clone()))
            .expect("unique");
        registry.register(Box::new(leader.clone())).expect("unique");
        Self {
            registry,
            reconciles,
            errors,
            duration,
            leader,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encode");
        String::from_utf8(buf).expect("utf-8")
    }
}

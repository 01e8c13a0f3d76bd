//! Operator metrics: reconciles, errors and durations per kind, status writes, full applies,
//! apiserver requests, leadership, and the state of every watched object (readiness, backups),
//! which the chart's PrometheusRule alerts on.
use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use prometheus::{
    core::{Collector, Desc},
    proto::MetricFamily,
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: IntCounterVec,
    pub errors: IntCounterVec,
    pub duration: HistogramVec,
    /// Status patches actually sent (an unchanged status is not written).
    pub status_writes: IntCounterVec,
    /// Tenant reconciles that applied the owned objects (the others only refreshed status).
    pub applies: IntCounterVec,
    /// Requests to the apiserver by verb and answer code (counted by [`CountRequests`]).
    pub kube_requests: IntCounterVec,
    pub leader: IntGauge,
    objects: ObjectGauges,
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new_custom(Some("nexbii_operator".into()), None).expect("prefix");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric");
            registry.register(Box::new(c.clone())).expect("unique");
            c
        };
        let reconciles = counter("reconciles_total", "Reconciliations by kind", &["kind"]);
        let errors = counter(
            "reconcile_errors_total",
            "Failed reconciliations by kind and reason",
            &["kind", "reason"],
        );
        let status_writes = counter(
            "status_writes_total",
            "Status patches sent, by kind (unchanged status is not written)",
            &["kind"],
        );
        let applies = counter(
            "applies_total",
            "Reconciles that applied owned objects, by kind",
            &["kind"],
        );
        let kube_requests = counter(
            "kube_requests_total",
            "Requests to the Kubernetes apiserver by verb and answer code",
            &["verb", "code"],
        );
        let duration = HistogramVec::new(
            HistogramOpts::new("reconcile_duration_seconds", "Reconciliation time")
                .buckets(vec![0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["kind"],
        )
        .expect("metric");
        registry
            .register(Box::new(duration.clone()))
            .expect("unique");
        let leader =
            IntGauge::new("leader", "1 while this replica holds the leader lease").expect("metric");
        registry.register(Box::new(leader.clone())).expect("unique");
        let objects = ObjectGauges::new();
        registry
            .register(Box::new(objects.clone()))
            .expect("unique");
        Self {
            registry,
            reconciles,
            errors,
            duration,
            status_writes,
            applies,
            kube_requests,
            leader,
            objects,
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

    /// Adds a source of object states, read at every scrape (the controllers' caches): the
    /// gauges then follow creations, status changes and deletions, including deletions a
    /// watch restart saw only as a missing object.
    pub fn watch_objects(&self, source: impl Fn() -> Vec<ObjectState> + Send + Sync + 'static) {
        self.objects
            .sources
            .lock()
            .expect("lock")
            .push(Arc::new(source));
    }

    /// A client layer counting every apiserver request into `kube_requests_total`.
    pub fn count_requests(&self) -> CountRequests {
        CountRequests(self.kube_requests.clone())
    }
}

/// What the gauges say about one watched object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectState {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// The `Ready` condition is True.
    pub ready: bool,
    /// BackupSchedules that are not suspended: (creation time, last successful backup), Unix
    /// seconds. Suspended schedules take no backups on purpose, so they are not exported.
    pub backup: Option<(i64, Option<i64>)>,
}

type Source = Arc<dyn Fn() -> Vec<ObjectState> + Send + Sync>;

/// `ready{kind,namespace,name}`, `backup_last_success_timestamp_seconds{namespace,name}` and
/// `backup_schedule_created_timestamp_seconds{namespace,name}`, rebuilt from the sources at each
/// scrape. Empty on a replica that is not leading (it has no caches).
#[derive(Clone)]
struct ObjectGauges {
    sources: Arc<Mutex<Vec<Source>>>,
    ready: IntGaugeVec,
    backup_success: IntGaugeVec,
    backup_created: IntGaugeVec,
}

impl ObjectGauges {
    fn new() -> Self {
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("metric")
        };
        Self {
            sources: Arc::default(),
            ready: gauge(
                "ready",
                "1 while the object's Ready condition is True, 0 otherwise",
                &["kind", "namespace", "name"],
            ),
            backup_success: gauge(
                "backup_last_success_timestamp_seconds",
                "Time of the last successful backup of an unsuspended BackupSchedule (absent: none yet)",
                &["namespace", "name"],
            ),
            backup_created: gauge(
                "backup_schedule_created_timestamp_seconds",
                "Creation time of an unsuspended BackupSchedule (since when a backup is due)",
                &["namespace", "name"],
            ),
        }
    }
}

impl Collector for ObjectGauges {
    fn desc(&self) -> Vec<&Desc> {
        [&self.ready, &self.backup_success, &self.backup_created]
            .into_iter()
            .flat_map(|g| g.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Held across reset and refill, so concurrent scrapes do not see each other's halves.
        let sources = self.sources.lock().expect("lock");
        self.ready.reset();
        self.backup_success.reset();
        self.backup_created.reset();
        for o in sources.iter().flat_map(|s| s()) {
            self.ready
                .with_label_values(&[o.kind, &o.namespace, &o.name])
                .set(o.ready as i64);
            if let Some((created, success)) = o.backup {
                let at = [o.namespace.as_str(), o.name.as_str()];
                self.backup_created.with_label_values(&at).set(created);
                if let Some(success) = success {
                    self.backup_success.with_label_values(&at).set(success);
                }
            }
        }
        [&self.ready, &self.backup_success, &self.backup_created]
            .into_iter()
            .flat_map(|g| g.collect())
            .collect()
    }
}

/// Tower layer of the kube client: counts requests by verb (`WATCH` for watches, `APPLY` for
/// server-side apply) and answer code (`error` when none came).
#[derive(Clone)]
pub struct CountRequests(IntCounterVec);

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counter: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    counter: IntCounterVec,
}

fn verb<B>(req: &http::Request<B>) -> &'static str {
    let query = req.uri().query().unwrap_or_default();
    match *req.method() {
        http::Method::GET if query.split('&').any(|p| p == "watch=true") => "WATCH",
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH
            if req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|c| c.as_bytes().starts_with(b"application/apply-patch")) =>
        {
            "APPLY"
        }
        http::Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let verb = verb(&req);
        let counter = self.counter.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let code = match &res {
                Ok(r) => r.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            counter.with_label_values(&[verb, &code]).inc();
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_gauges_follow_the_sources_at_each_scrape() {
        let m = Metrics::default();
        let states = Arc::new(Mutex::new(vec![
            ObjectState {
                kind: "Tenant",
                namespace: "a".into(),
                name: "acme".into(),
                ready: false,
                backup: None,
            },
            ObjectState {
                kind: "BackupSchedule",
                namespace: "a".into(),
                name: "nightly".into(),
                ready: true,
                backup: Some((1_700_000_000, None)),
            },
        ]));
        let s = states.clone();
        m.watch_objects(move || s.lock().unwrap().clone());
        let text = m.render();
        assert!(
            text.contains(r#"nexbii_operator_ready{kind="Tenant",name="acme",namespace="a"} 0"#)
        );
        assert!(text.contains(
            r#"nexbii_operator_backup_schedule_created_timestamp_seconds{name="nightly",namespace="a"} 1700000000"#
        ));
        assert!(!text.contains("nexbii_operator_backup_last_success_timestamp_seconds{"));
        // A backup succeeds, the Tenant becomes ready, then is deleted: no stale series remain.
        states.lock().unwrap()[1].backup = Some((1_700_000_000, Some(1_700_086_400)));
        states.lock().unwrap().remove(0);
        let text = m.render();
        assert!(!text.contains(r#"kind="Tenant""#), "{text}");
        assert!(text.contains(
            r#"nexbii_operator_backup_last_success_timestamp_seconds{name="nightly",namespace="a"} 1700086400"#
        ));
    }

    #[test]
    fn verbs_tell_watches_and_applies_apart() {
        let req = |m: http::Method, uri: &str, ct: Option<&str>| {
            let mut b = http::Request::builder().method(m).uri(uri);
            if let Some(ct) = ct {
                b = b.header("content-type", ct);
            }
            b.body(()).unwrap()
        };
        assert_eq!(
            verb(&req(
                http::Method::GET,
                "/api/v1/pods?watch=true&timeoutSeconds=290",
                None
            )),
            "WATCH"
        );
        assert_eq!(
            verb(&req(http::Method::GET, "/api/v1/pods?limit=500", None)),
            "GET"
        );
        assert_eq!(
            verb(&req(
                http::Method::PATCH,
                "/api/v1/namespaces/a/services/b?fieldManager=x",
                Some("application/apply-patch+yaml")
            )),
            "APPLY"
        );
        assert_eq!(
            verb(&req(
                http::Method::PATCH,
                "/x/status",
                Some("application/merge-patch+json")
            )),
            "PATCH"
        );
    }
}

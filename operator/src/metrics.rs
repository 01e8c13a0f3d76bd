//! Operator metrics: reconciles, errors and durations per kind, status writes, full applies,
//! apiserver requests, and leadership.
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
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
        Self {
            registry,
            reconciles,
            errors,
            duration,
            status_writes,
            applies,
            kube_requests,
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

    /// A client layer counting every apiserver request into `kube_requests_total`.
    pub fn count_requests(&self) -> CountRequests {
        CountRequests(self.kube_requests.clone())
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

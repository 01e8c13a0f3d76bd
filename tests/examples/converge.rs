//! Benchmark: time and operator memory to converge N Tenants against the test kube-apiserver.
//!
//! Set-up: the Kubernetes test cluster (etcd + kube-apiserver + kube-controller-manager on
//! loopback; built from Debian's source package on first use, then cached), then a release build
//! of the operator, which this benchmark runs as its own process (`NEXBII_OPERATOR_BIN`,
//! default `target/release/nexbii-operator`):
//!
//! ```sh
//! bash tests/env/kube-cluster.sh start      # writes /tmp/kube-test/kubeconfig
//! cargo build --release -p nexbii-operator
//! cargo run --release -p nexbii-tests --example converge -- 1000
//! bash tests/env/kube-cluster.sh stop
//! ```
//! `NEXBII_TEST_KUBECONFIG` points it at another cluster; `NEXBII_BENCH_LOG` keeps the
//! operator's log. Without a reachable cluster it stops at once, naming the command above.
//! A Tenant counts as converged when its status reports `observedGeneration: 1` and
//! `Reconciling` for the reason `InstanceNotReady`, i.e. all its objects were applied and the
//! only thing left is the instance itself. Instances are pointed at a closed port: readiness is
//! then "Reconciling", which is what a cluster without kubelets can honestly say. The operator
//! runs as its own process so its peak RSS (VmHWM) is its alone.
//!
//! Convergence is followed through a watch on the Tenants (listing thousands of them every
//! half second would load the apiserver more than the operator does).
//!
//! Printed besides time and memory: the operator's reconciles, full applies, status writes and
//! apiserver requests per converged Tenant, in total and by verb. The requests are counted by
//! the operator's own kube client (a tower layer, `nexbii_operator_kube_requests_total` on its
//! `/metrics`): exactly what the operator sent, its watches included, failed ones too, and
//! nothing from other clients. The apiserver's `apiserver_request_total` is printed beside it
//! for context only: it counts every client (this driver's creates and watch,
//! kube-controller-manager's garbage collector, Deployment and token controllers), so it is no
//! measure of the operator. The same counts follow over a settle window after convergence
//! (steady-state churn).
//! `NEXBII_BENCH_TIMEOUT` (seconds, default 1800) bounds the wait; `NEXBII_BENCH_SETTLE`
//! (seconds, default 40) is the settle window.
use std::{collections::HashSet, process::Stdio, time::Instant};

use futures::{stream, StreamExt};
use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    api::{GetParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{watcher, WatchStreamExt},
    Api, Client, Config, ResourceExt,
};
use nexbii_crds::{ConditionStatus, Tenant};
use serde_json::json;

/// Sum of the samples of `name` in a Prometheus text exposition whose labels contain every
/// `label="value"` in `with`; `None` when there is no such metric at all.
fn metric(text: &str, name: &str, with: &[&str]) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        found = true;
        let labels = rest.split('}').next().unwrap_or_default();
        if with.iter().all(|w| labels.contains(w)) {
            sum += rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    found.then_some(sum)
}

/// Request verbs as the operator's client counts them (`WATCH` for watches, `APPLY` for
/// server-side apply; see `nexbii_operator::metrics`).
const VERBS: [&str; 7] = ["GET", "WATCH", "APPLY", "PATCH", "POST", "PUT", "DELETE"];

/// The operator's and the apiserver's counters at one moment.
struct Counts {
    reconciles: Option<f64>,
    applies: Option<f64>,
    status_writes: Option<f64>,
    operator_requests: Option<f64>,
    /// The operator's requests by verb, in the order of [`VERBS`].
    by_verb: Vec<Option<f64>>,
    apiserver_requests: Option<f64>,
}

async fn counts(http: &reqwest::Client, metrics_url: &str, client: &Client) -> Counts {
    let op = match http.get(metrics_url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let api = match kube::core::Request::new("").get("metrics", &GetParams::default()) {
        Ok(req) => client.request_text(req).await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let tenant = [r#"kind="Tenant""#];
    Counts {
        reconciles: metric(&op, "nexbii_operator_reconciles_total", &tenant),
        applies: metric(&op, "nexbii_operator_applies_total", &tenant),
        status_writes: metric(&op, "nexbii_operator_status_writes_total", &tenant),
        operator_requests: metric(&op, "nexbii_operator_kube_requests_total", &[]),
        by_verb: VERBS
            .iter()
            .map(|v| {
                metric(
                    &op,
                    "nexbii_operator_kube_requests_total",
                    &[&format!("verb=\"{v}\"")],
                )
            })
            .collect(),
        apiserver_requests: metric(&api, "apiserver_request_total", &[]),
    }
}

fn per(after: Option<f64>, before: Option<f64>, n: usize) -> String {
    match (after, before) {
        (Some(a), Some(b)) if n > 0 => format!("{:.1}", (a - b) / n as f64),
        (Some(a), None) if n > 0 => format!("{:.1}", a / n as f64),
        _ => "n/a".into(),
    }
}

fn delta(after: Option<f64>, before: Option<f64>) -> String {
    match (after, before) {
        (Some(a), Some(b)) => format!("{:.0}", a - b),
        _ => "n/a".into(),
    }
}

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Applied and waiting only for the instance (see the module documentation).
fn is_converged(t: &Tenant) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == Some(1)
            && s.conditions.iter().any(|c| {
                c.type_ == "Reconciling"
                    && c.status == ConditionStatus::True
                    && c.reason == "InstanceNotReady"
            })
    })
}

fn vm(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len() + 1..].trim().to_string())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1000);
    let kubeconfig = nexbii_tests::env::kubeconfig();
    let cfg = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let client = Client::try_from(cfg)?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in nexbii_crds::all_crds() {
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("nexbii-bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
    }
    let ns = format!("bench-{:06x}", rand::random::<u32>() & 0xffffff);
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let http = reqwest::Client::new();
    let bin = std::env::var("NEXBII_OPERATOR_BIN")
        .unwrap_or_else(|_| "target/release/nexbii-operator".into());
    let mut op = tokio::process::Command::new(&bin)
        .args([
            "run",
            "--namespace",
            &ns,
            "--lease-namespace",
            &ns,
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .args(["--instance-url-template", "http://127.0.0.1:9"])
        .env("KUBECONFIG", &kubeconfig)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(
            std::env::var("NEXBII_BENCH_LOG").unwrap_or_else(|_| "/dev/null".into()),
        )?)
        .spawn()?;
    let pid = op.id().expect("running");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    println!("operator pid {pid}, idle RSS {}", vm(pid, "VmRSS:"));

    let tenants: Api<Tenant> = Api::namespaced(client.clone(), &ns);
    let before = counts(&http, &metrics_url, &client).await;
    let timeout = env_secs("NEXBII_BENCH_TIMEOUT", 1800);
    let started = Instant::now();
    let create = {
        let tenants = tenants.clone();
        tokio::spawn(async move {
            stream::iter(0..n)
                .map(|i| {
                    let tenants = tenants.clone();
                    async move {
                        let t: Tenant = serde_json::from_value(json!({"apiVersion": "nexbii.io/v1alpha1", "kind": "Tenant",
                            "metadata": {"name": format!("t{i:05}")}, "spec": {"displayName": format!("Tenant {i}")}}))
                        .expect("valid");
                        tenants.create(&PostParams::default(), &t).await.is_ok()
                    }
                })
                .buffer_unordered(32)
                .filter(|ok| futures::future::ready(*ok))
                .count()
                .await
        })
    };
    // Convergence is followed through a watch, not by listing every Tenant again and again:
    // at thousands of Tenants such lists would cost the apiserver (and this 2-core machine)
    // more than the operator does.
    let mut events = watcher(tenants.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
    let mut create = create;
    let mut created: Option<usize> = None;
    let mut created_in = std::time::Duration::ZERO;
    let mut done = HashSet::new();
    while created.is_none_or(|c| done.len() < c) {
        tokio::select! {
            r = &mut create, if created.is_none() => {
                created = Some(r?);
                created_in = started.elapsed();
            }
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Apply(t) | watcher::Event::InitApply(t))) => {
                    if is_converged(&t) {
                        done.insert(t.name_any());
                    } else {
                        done.remove(&t.name_any());
                    }
                }
                Some(Ok(watcher::Event::Delete(t))) => {
                    done.remove(&t.name_any());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => eprintln!("watching Tenants: {e}"),
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let created = created.unwrap_or(0);
    let converged = done.len();
    let total = started.elapsed();
    let at = counts(&http, &metrics_url, &client).await;
    println!(
        "tenants: {created} created in {:.1}s; {converged} converged in {:.1}s ({:.1} tenants/s)",
        created_in.as_secs_f64(),
        total.as_secs_f64(),
        converged as f64 / total.as_secs_f64()
    );
    println!(
        "operator RSS now {}, peak {}",
        vm(pid, "VmRSS:"),
        vm(pid, "VmHWM:")
    );
    println!(
        "per converged tenant: {} reconciles, {} full applies, {} status writes, {} operator \
         requests to the apiserver; apiserver requests from all clients: {}",
        per(at.reconciles, before.reconciles, converged),
        per(at.applies, before.applies, converged),
        per(at.status_writes, before.status_writes, converged),
        per(at.operator_requests, before.operator_requests, converged),
        delta(at.apiserver_requests, before.apiserver_requests),
    );
    println!(
        "operator requests per converged tenant by verb: {}",
        VERBS
            .iter()
            .zip(at.by_verb.iter().zip(&before.by_verb))
            .map(|(v, (a, b))| format!("{v} {}", per(*a, *b, converged)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let settle = env_secs("NEXBII_BENCH_SETTLE", 40);
    tokio::time::sleep(std::time::Duration::from_secs(settle)).await;
    let after = counts(&http, &metrics_url, &client).await;
    println!(
        "settle {settle}s after convergence: {} reconciles, {} full applies, {} status writes, \
         {} operator requests, {} apiserver requests (all clients); operator RSS {}",
        delta(after.reconciles, at.reconciles),
        delta(after.applies, at.applies),
        delta(after.status_writes, at.status_writes),
        delta(after.operator_requests, at.operator_requests),
        delta(after.apiserver_requests, at.apiserver_requests),
        vm(pid, "VmRSS:"),
    );
    op.kill().await?;
    Api::<Namespace>::all(client)
        .delete(&ns, &Default::default())
        .await?;
    Ok(())
}

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
//! A Tenant counts as converged when its status reports `observedGeneration: 1`, i.e. all its
//! objects were applied and its status written. The operator runs as its own process so its
//! peak RSS (VmHWM) is its alone. Instances are pointed at a closed port: readiness is then
//! "Reconciling", which is what a cluster without kubelets can honestly say.
use std::{process::Stdio, time::Instant};

use futures::{stream, StreamExt};
use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    api::{ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    Api, Client, Config, ResourceExt,
};
use nexbii_crds::Tenant;
use serde_json::json;

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
            "127.0.0.1:0",
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
    let started = Instant::now();
    let created = stream::iter(0..n)
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
        .await;
    let created_in = started.elapsed();
    let mut converged = 0;
    while converged < created {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        converged = tenants
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.observed_generation) == Some(1))
            .count();
        if started.elapsed().as_secs() > 1800 {
            break;
        }
    }
    let total = started.elapsed();
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
    op.kill().await?;
    Api::<Namespace>::all(client)
        .delete(&ns, &Default::default())
        .await?;
    Ok(())
}

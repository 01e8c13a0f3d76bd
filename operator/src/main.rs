//! `nexbii-operator`: run the controllers, or print the CRDs.
use std::{net::SocketAddr, time::Duration};

use clap::{Parser, Subcommand};
use nexbii_operator::run::{run, RunConfig};

#[derive(Parser)]
#[command(
    name = "nexbii-operator",
    version,
    about = "NexBII Kubernetes operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers (leader-elected).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions (same as `cargo run -p nexbii-crds --bin crdgen`).
    Crds,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "NEXBII_WATCH_NAMESPACE")]
    namespace: Option<String>,
    #[arg(long, default_value = "0.0.0.0:8081", env = "NEXBII_METRICS_LISTEN")]
    metrics_listen: SocketAddr,
    /// Control-plane image for Tenants that do not set spec.instance.image.
    #[arg(
        long,
        default_value = "ghcr.io/nexbii/controlplane:0.1.0",
        env = "NEXBII_CONTROLPLANE_IMAGE"
    )]
    image: String,
    /// How to reach instances: `{name}` (the Tenant's), `{instance}` (its Service's, see
    /// status.instanceName), `{namespace}`, `{port}` are substituted. Default: the in-cluster
    /// Service (`http://{instance}.{namespace}.svc:{port}`). For running the operator outside
    /// the cluster, or tests pointing it at a local process.
    #[arg(long, env = "NEXBII_INSTANCE_URL_TEMPLATE")]
    instance_url_template: Option<String>,
    /// Namespace of the leader-election Lease.
    #[arg(long, default_value = "default", env = "POD_NAMESPACE")]
    lease_namespace: String,
    /// This replica's identity in the Lease (default: host name and a random suffix).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Period of drift-correcting resyncs, in seconds.
    #[arg(long, default_value_t = 300)]
    resync_seconds: u64,
    /// Reconciles running at once, per kind.
    #[arg(long, default_value_t = 16, env = "NEXBII_CONCURRENCY")]
    concurrency: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => print!("{}", nexbii_crds::crds_yaml()),
        Command::Run(a) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,kube=warn".into()),
                )
                .json()
                .flatten_event(true)
                .init();
            let identity = a.identity.unwrap_or_else(|| {
                let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "nexbii-operator".into());
                format!("{host}-{:06x}", rand::random::<u32>() & 0xffffff)
            });
            let metrics = nexbii_operator::metrics::Metrics::default();
            let client = kube::client::ClientBuilder::try_from(kube::Config::infer().await?)?
                .with_layer(&metrics.count_requests())
                .build();
            run(
                client,
                RunConfig {
                    namespace: a.namespace,
                    metrics_listen: a.metrics_listen,
                    image: a.image,
                    instance_url_template: a.instance_url_template,
                    lease_namespace: a.lease_namespace,
                    identity,
                    resync: Duration::from_secs(a.resync_seconds.max(10)),
                    concurrency: a.concurrency.max(1),
                },
                metrics,
            )
            .await?;
        }
    }
    Ok(())
}

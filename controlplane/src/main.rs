//! `nexbii-controlplane`: serve the API, generate the sample database, print the OpenAPI document.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};
use nexbii_controlplane::{
    crypto::Keys, migrate, provisioning::manifests, sample_data, server, state, store,
};
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Parser)]
#[command(
    name = "nexbii-controlplane",
    version,
    about = "NexBII per-tenant control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "NEXBII_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Write the sample sales database (SQLite) to PATH.
    SampleData { path: PathBuf },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8080", env = "NEXBII_LISTEN")]
    listen: SocketAddr,
    /// Embedded store file, or a mongodb:// URL.
    #[arg(long, default_value = "./data/nexbii.db", env = "NEXBII_STORE")]
    store: String,
    /// Database name when --store is MongoDB.
    #[arg(long, default_value = "nexbii", env = "NEXBII_MONGO_DATABASE")]
    mongo_database: String,
    /// Key file used when NEXBII_SIGNING_KEY / NEXBII_ENCRYPTION_KEY are not set.
    #[arg(long, default_value = "./data/keys.json", env = "NEXBII_KEYS_FILE")]
    keys_file: PathBuf,
    /// Folder of Tenant/DataSource/Dashboard/GovernancePolicy/BackupSchedule YAML to apply.
    #[arg(long, env = "NEXBII_MANIFESTS")]
    manifests: Option<PathBuf>,
    /// How often the manifests folder is checked for changes.
    #[arg(long, default_value_t = 2, env = "NEXBII_MANIFESTS_INTERVAL_SECONDS")]
    manifests_interval_seconds: u64,
    /// Folder that API-created SQLite data sources must live in.
    #[arg(long, default_value = "./data/sources", env = "NEXBII_SQLITE_ROOT")]
    sqlite_root: PathBuf,
    /// Lifetime of cached query results.
    #[arg(long, default_value_t = 60, env = "NEXBII_CACHE_TTL_SECONDS")]
    cache_ttl_seconds: u64,
    /// How long configuration records (tenant, sessions, users, sources, dashboards) read from
    /// the store are reused; writes by other replicas become visible within this time.
    #[arg(long, default_value_t = 2000, env = "NEXBII_STORE_CACHE_TTL_MS")]
    store_cache_ttl_ms: u64,
    /// Networks (CIDR, comma-separated) that webhook targets may resolve into although they
    /// are loopback, link-local or private; refused otherwise.
    #[arg(long, env = "NEXBII_WEBHOOK_ALLOW", value_delimiter = ',')]
    webhook_allow: Vec<ipnet::IpNet>,
    /// Backup volume: archives are written to <DIR>/<tenant>/<id>.nxbk (encrypted with
    /// NEXBII_BACKUP_KEY, else a key derived from the signing key).
    #[arg(long, default_value = "./data/backups", env = "NEXBII_BACKUP_DIR")]
    backup_dir: PathBuf,
    /// Proxies (CIDR, comma-separated) whose X-Forwarded-For names the client address for
    /// rate limits; requests from any other peer are limited by the peer's own address.
    #[arg(long, env = "NEXBII_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// How often API keys' last-used times and request counts are written to the store.
    #[arg(long, default_value_t = 10, env = "NEXBII_APIKEY_USAGE_FLUSH_SECONDS")]
    apikey_usage_flush_seconds: u64,
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: files and pipes (journald, kubectl logs) get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&nexbii_controlplane::http::openapi::document())?
            );
        }
        Command::SampleData { path } => {
            let s = sample_data::generate(&path).await?;
            println!(
                "wrote {}: {} customers, {} products, {} orders, {} order items",
                path.display(),
                s.customers,
                s.products,
                s.orders,
                s.items
            );
        }
        Command::Serve(args) => {
            let store = store::open(&args.store, &args.mongo_database).await?;
            let keys = Keys::load(&args.keys_file)?;
            let settings = state::Settings {
                sqlite_root: args.sqlite_root,
                cache_ttl: Duration::from_secs(args.cache_ttl_seconds),
                store_cache_ttl: Duration::from_millis(args.store_cache_ttl_ms),
                operator_token: std::env::var(nexbii_controlplane::auth::OPERATOR_TOKEN_ENV)
                    .ok()
                    .filter(|t| !t.is_empty()),
                webhook_allow: args.webhook_allow,
                backup_dir: args.backup_dir,
                trusted_proxies: args.trusted_proxies,
                apikey_usage_flush: Duration::from_secs(args.apikey_usage_flush_seconds.max(1)),
                ..Default::default()
            };
            let state = state::AppState::new(store, keys, settings);
            migrate::upgrade_legacy_records(&state).await?;
            if let Some(dir) = args.manifests {
                manifests::load_and_apply(&state, &dir).await?;
                tokio::spawn(manifests::watch(
                    state.clone(),
                    dir,
                    Duration::from_secs(args.manifests_interval_seconds.max(1)),
                ));
            }
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            server::serve(listener, state).await?;
        }
    }
    Ok(())
}

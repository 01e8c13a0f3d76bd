//! `nexbii-controlplane`: serve the API, generate the sample database, print the OpenAPI document.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use nexbii_controlplane::{
    admin::backups::destination::{self, S3Bucket, S3Config},
    crypto::Keys,
    migrate,
    provisioning::manifests,
    sample_data, server, state, store,
};
use nexbii_crds::backup::Retention;
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
    /// S3-compatible bucket for backups: when set, archives go to
    /// s3://<BUCKET>/<PREFIX>/<tenant>/<id>.nxbk instead of --backup-dir. Credentials come from
    /// --backup-s3-credentials-dir or NEXBII_BACKUP_S3_ACCESS_KEY_ID and
    /// NEXBII_BACKUP_S3_SECRET_ACCESS_KEY (never from a flag: flags show in process lists).
    #[arg(long, env = "NEXBII_BACKUP_S3_BUCKET")]
    backup_s3_bucket: Option<String>,
    /// S3 endpoint URL (MinIO, Ceph, …); AWS's regional endpoint when absent. http:// is allowed.
    #[arg(long, env = "NEXBII_BACKUP_S3_ENDPOINT")]
    backup_s3_endpoint: Option<String>,
    #[arg(long, default_value = "us-east-1", env = "NEXBII_BACKUP_S3_REGION")]
    backup_s3_region: String,
    /// Key prefix inside the bucket.
    #[arg(long, default_value = "", env = "NEXBII_BACKUP_S3_PREFIX")]
    backup_s3_prefix: String,
    /// Path-style URLs (endpoint/bucket/key); false: virtual-hosted (bucket.endpoint/key).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, env = "NEXBII_BACKUP_S3_PATH_STYLE")]
    backup_s3_path_style: bool,
    /// Folder with the files accessKeyId, secretAccessKey (and optionally sessionToken): a
    /// mounted Secret.
    #[arg(long, env = "NEXBII_BACKUP_S3_CREDENTIALS_DIR")]
    backup_s3_credentials_dir: Option<PathBuf>,
    /// Retention, applied after each successful backup (none when no retention flag is given):
    /// successful backups kept by count.
    #[arg(long, env = "NEXBII_BACKUP_KEEP_LAST")]
    backup_keep_last: Option<u32>,
    /// Retention: backups older than this many days are removed.
    #[arg(long, env = "NEXBII_BACKUP_MAX_AGE_DAYS")]
    backup_max_age_days: Option<u32>,
    /// Retention: also keep the newest backup of each of the last N days (UTC).
    #[arg(long, env = "NEXBII_BACKUP_KEEP_DAILY")]
    backup_keep_daily: Option<u32>,
    /// Retention: also keep the newest backup of each of the last N ISO weeks.
    #[arg(long, env = "NEXBII_BACKUP_KEEP_WEEKLY")]
    backup_keep_weekly: Option<u32>,
    /// Retention: also keep the newest backup of each of the last N months.
    #[arg(long, env = "NEXBII_BACKUP_KEEP_MONTHLY")]
    backup_keep_monthly: Option<u32>,
    /// Folder of the change journal's unshipped entries (<DIR>/<tenant>/journal.log); by
    /// default <backup-dir>/.journal. Keep it on a persistent volume, one per instance.
    #[arg(long, env = "NEXBII_JOURNAL_DIR")]
    journal_dir: Option<PathBuf>,
    /// How often change-journal entries are shipped to the backup destination (also at
    /// shutdown): the recovery point of point-in-time recovery.
    #[arg(
        long,
        default_value_t = 60,
        env = "NEXBII_JOURNAL_SHIP_INTERVAL_SECONDS"
    )]
    journal_ship_interval_seconds: u64,
    /// Proxies (CIDR, comma-separated) whose X-Forwarded-For names the client address for
    /// rate limits; requests from any other peer are limited by the peer's own address.
    #[arg(long, env = "NEXBII_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// How often every tenant's health alerts are checked against its thresholds.
    #[arg(long, default_value_t = 60, env = "NEXBII_ALERT_INTERVAL_SECONDS")]
    alert_interval_seconds: u64,
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

fn s3_bucket(args: &ServeArgs, bucket: &str) -> anyhow::Result<S3Bucket> {
    let (access_key_id, secret_access_key, session_token) =
        destination::credentials(args.backup_s3_credentials_dir.as_deref())
            .map_err(|e| anyhow::anyhow!("backup S3 destination: {e}"))?;
    let cfg = S3Config {
        bucket: bucket.to_string(),
        endpoint: args.backup_s3_endpoint.clone().filter(|e| !e.is_empty()),
        region: args.backup_s3_region.clone(),
        prefix: args.backup_s3_prefix.clone(),
        path_style: args.backup_s3_path_style,
        access_key_id,
        secret_access_key,
        session_token,
    };
    let b = S3Bucket::connect(&cfg).map_err(|e| anyhow::anyhow!("backup S3 destination: {e}"))?;
    tracing::info!(destination = %b.describe(), "backups go to an S3-compatible bucket");
    Ok(b)
}

/// The instance's retention from its flags (the `BackupSchedule` shape); none without flags.
fn retention(args: &ServeArgs) -> anyhow::Result<Option<Retention>> {
    let given = [
        args.backup_keep_last,
        args.backup_max_age_days,
        args.backup_keep_daily,
        args.backup_keep_weekly,
        args.backup_keep_monthly,
    ];
    if given.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut r = Retention::default();
    if let Some(n) = args.backup_keep_last {
        r.keep_last = n;
    }
    r.max_age_days = args.backup_max_age_days;
    r.keep_daily = args.backup_keep_daily;
    r.keep_weekly = args.backup_keep_weekly;
    r.keep_monthly = args.backup_keep_monthly;
    nexbii_controlplane::admin::backups::retention::check(&r)
        .map_err(|(field, why)| anyhow::anyhow!("backup retention {field}: {why}"))?;
    Ok(Some(r))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    // The serve flags as parsed, for the runtime configuration view.
    let runtime_flags = match (
        Cli::command().find_subcommand("serve"),
        matches.subcommand_matches("serve"),
    ) {
        (Some(cmd), Some(m)) => nexbii_controlplane::admin::runtime::flags_of(cmd, m),
        _ => Vec::new(),
    };
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
            let backup_retention = retention(&args)?;
            let backup_s3 = match &args.backup_s3_bucket {
                Some(bucket) => Some(std::sync::Arc::new(s3_bucket(&args, bucket)?)),
                None => None,
            };
            let settings = state::Settings {
                sqlite_root: args.sqlite_root,
                cache_ttl: Duration::from_secs(args.cache_ttl_seconds),
                store_cache_ttl: Duration::from_millis(args.store_cache_ttl_ms),
                operator_token: std::env::var(nexbii_controlplane::auth::OPERATOR_TOKEN_ENV)
                    .ok()
                    .filter(|t| !t.is_empty()),
                webhook_allow: args.webhook_allow,
                backup_dir: args.backup_dir,
                backup_s3,
                backup_retention,
                journal_dir: args.journal_dir,
                journal_ship_interval: Duration::from_secs(
                    args.journal_ship_interval_seconds.max(1),
                ),
                trusted_proxies: args.trusted_proxies,
                apikey_usage_flush: Duration::from_secs(args.apikey_usage_flush_seconds.max(1)),
                runtime_flags: std::sync::Arc::new(runtime_flags),
                alert_interval: Duration::from_secs(args.alert_interval_seconds.max(1)),
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

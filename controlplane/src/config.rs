//! Server settings (from the command line and environment).
use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::admin::backups::destination::S3Bucket;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Folder API-created SQLite sources must live in (manifest-provisioned ones may live anywhere).
    pub sqlite_root: PathBuf,
    pub cache_ttl: Duration,
    pub cache_max_cells: u64,
    /// How long configuration records read from the store are reused (writes by this instance
    /// are seen at once; writes by other replicas within this time).
    pub store_cache_ttl: Duration,
    /// Token the operator authenticates with on the provisioning API; disabled when `None`.
    pub operator_token: Option<String>,
    /// Networks webhook targets may resolve into although they are loopback, link-local or
    /// private (everything else in those ranges is refused).
    pub webhook_allow: Vec<ipnet::IpNet>,
    /// First retry delay of a failed webhook delivery (doubling up to 5 attempts).
    pub webhook_retry_base: Duration,
    /// The backup volume: archives go to `<backup_dir>/<tenant>/<id>.nxbk`.
    pub backup_dir: PathBuf,
    /// An S3-compatible bucket: when set, archives go there instead of the volume.
    pub backup_s3: Option<Arc<S3Bucket>>,
    /// Applied after each successful backup unless its request gives its own; none: keep all.
    pub backup_retention: Option<nexbii_crds::backup::Retention>,
    /// Where the change journal keeps each tenant's unshipped entries
    /// (`<dir>/<tenant>/journal.log`); `<backup_dir>/.journal` when `None`.
    pub journal_dir: Option<PathBuf>,
    /// How often journal entries are shipped to the backup destination (and at shutdown).
    pub journal_ship_interval: Duration,
    /// How often API keys' last-used times and request counts are written to the store.
    pub apikey_usage_flush: Duration,
    /// A session's last-seen time is written at most this often (idle timeouts are checked
    /// against it, so they may be late by this much).
    pub session_seen_every: Duration,
    /// Peers whose `X-Forwarded-For` is believed for the client address (rate limits, key
    /// usage); every other peer is the client itself.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often every tenant's health alerts are checked.
    pub alert_interval: Duration,
    /// When the server started (the runtime configuration view).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The server's flags as parsed, secrets redacted (the runtime configuration view).
    pub runtime_flags: Arc<Vec<crate::admin::runtime::RuntimeFlag>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            sqlite_root: PathBuf::from("./data/sources"),
            cache_ttl: Duration::from_secs(60),
            cache_max_cells: 5_000_000,
            store_cache_ttl: Duration::from_secs(2),
            operator_token: None,
            webhook_allow: Vec::new(),
            webhook_retry_base: Duration::from_secs(2),
            backup_dir: PathBuf::from("./data/backups"),
            backup_s3: None,
            backup_retention: None,
            journal_dir: None,
            journal_ship_interval: Duration::from_secs(60),
            apikey_usage_flush: Duration::from_secs(10),
            session_seen_every: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            alert_interval: Duration::from_secs(60),
            started_at: chrono::Utc::now(),
            runtime_flags: Arc::default(),
        }
    }
}

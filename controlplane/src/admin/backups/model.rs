//! Backup records as stored and shown, and the bodies of the backup and restore endpoints.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::archive::Manifest;
use crate::store::Meta;
use nexbii_crds::backup::Retention;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum BackupState {
    Pending,
    Running,
    Completed,
    Failed,
}

impl BackupState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
        }
    }
}

/// How a backup was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum BackupTrigger {
    /// `POST /api/v1/admin/backups` (or the operator's `Backup`).
    Manual,
    /// Found in the destination when the instance was recovered from it
    /// (`Tenant.spec.bootstrap.fromBackup`): taken by the instance the tenant had before.
    Recovered,
}

/// The outcome of the last `verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub at: DateTime<Utc>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One backup run of the tenant and, once completed, its archive.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    /// Sortable by time: `YYYYMMDD-HHMMSS-<8 hex>`.
    pub id: String,
    pub state: BackupState,
    pub trigger: BackupTrigger,
    /// Never removed by retention; an explicit delete needs `?force=true`.
    #[serde(default)]
    pub pinned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The retention applied after this run succeeds, as requested (else the instance's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// The client's id for the request that started it (the operator sends its `Backup`
    /// resource's UID): a retried request with the same id gets this backup, not another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Last sign of life of a running backup; one silent for long was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Size of the archive file in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// `sha256:<hex>` of the archive file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Where the archive is: a path on the backup volume, or `s3://<bucket>/<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Why the backup failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verification: Option<Verification>,
    #[serde(flatten)]
    pub meta: Meta,
}

impl BackupRecord {
    /// A backup requested now by `requested_by`, not started yet.
    pub fn pending(id: String, trigger: BackupTrigger, requested_by: String) -> Self {
        Self {
            id,
            state: BackupState::Pending,
            trigger,
            pinned: false,
            note: None,
            retention: None,
            request_id: None,
            requested_by,
            requested_at: Utc::now(),
            started_at: None,
            finished_at: None,
            heartbeat_at: None,
            size_bytes: None,
            checksum: None,
            location: None,
            error: None,
            manifest: None,
            last_verification: None,
            meta: Meta::default(),
        }
    }
}

crate::entity! {
    BackupRecord,
    Backups,
    id,
    fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        crate::store::fields(serde_json::json!({
            "state": self.state.as_str(),
            "pinned": self.pinned,
            "requestId": self.request_id,
        }))
    }
}

/// Body of `POST /api/v1/admin/backups` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupRequest {
    #[serde(default)]
    pub pinned: bool,
    /// At most 500 characters.
    #[serde(default)]
    pub note: Option<String>,
    /// Applied to the tenant's completed backups after this one succeeds (what a
    /// `BackupSchedule` declares), instead of the instance's own retention.
    #[serde(default)]
    pub retention: Option<Retention>,
    /// Makes retries safe: a request with the id of an earlier one answers that backup
    /// (`200`) instead of starting another. 1 to 128 characters.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// Body of `POST /api/v1/admin/restores`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreRequest {
    /// The id of a completed backup of this tenant. Required without `targetTime`; with it,
    /// the backup to start from (taken at or before `targetTime`), by default the newest one
    /// taken at or before it.
    #[serde(default)]
    pub backup: Option<String>,
    /// Report what would change and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Restore only these collections (names as in the manifest); all when absent.
    #[serde(default)]
    pub only: Option<Vec<String>>,
    /// Point-in-time recovery (RFC 3339): the backup, then the change journal's entries after
    /// the backup's position up to this time. Not in the future, not before the oldest backup.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub target_time: Option<String>,
}

/// What a restore changes (changed) in one collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionReport {
    pub collection: String,
    /// Records in the backup.
    pub in_backup: u64,
    /// Records before the restore.
    pub current: u64,
    /// In the backup only: brought back.
    pub added: u64,
    /// Present now, not in the backup: removed.
    pub removed: u64,
    /// In both, different: put back as in the backup.
    pub modified: u64,
    pub unchanged: u64,
    /// The first 100 ids of each kind of change.
    pub added_ids: Vec<String>,
    pub removed_ids: Vec<String>,
    pub modified_ids: Vec<String>,
}

/// Totals over the restored collections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreTotals {
    pub in_backup: u64,
    pub current: u64,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub unchanged: u64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub backup: String,
    pub dry_run: bool,
    /// True when the backup's records were swapped in (never for a dry run).
    pub restored: bool,
    /// The point in time recovered to (with `targetTime`); the collections' `inBackup` then
    /// count the records as of that time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_time: Option<DateTime<Utc>>,
    /// Change-journal entries replayed on top of the backup (0 without `targetTime`).
    pub replayed_changes: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub collections: Vec<CollectionReport>,
    pub totals: RestoreTotals,
    /// Collections a restore never touches, and why (login sessions, the backup records).
    pub untouched: Vec<super::archive::Excluded>,
}

/// Answer of `POST /api/v1/admin/backups/{id}/verify` when every check passed.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BackupVerifyReport)]
pub struct VerifyReport {
    pub id: String,
    pub ok: bool,
    pub checked_at: DateTime<Utc>,
    pub size_bytes: u64,
    pub checksum: String,
    pub manifest: Manifest,
}

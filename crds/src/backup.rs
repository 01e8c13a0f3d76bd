//! `BackupSchedule`: periodic backups of a tenant's metadata store; `Backup`: one run (on a
//! schedule or on demand); `Restore`: putting a backup (or a point in time) back into a
//! tenant's instance. The model is CloudNativePG's ScheduledBackup / Backup / recovery.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretRef, TenantRef};

#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[kube(
    group = "nexbii.io",
    version = "v1alpha1",
    kind = "BackupSchedule",
    plural = "backupschedules",
    shortname = "nxbs",
    namespaced,
    status = "BackupScheduleStatus",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Last Backup","type":"date","jsonPath":".status.lastSuccessfulTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BackupScheduleSpec {
    pub tenant_ref: TenantRef,
    /// Cron expression (5 fields: minute hour day-of-month month day-of-week), evaluated in UTC.
    #[schemars(length(min = 9, max = 200), pattern(r"^(\S+\s+){4}\S+$"))]
    pub schedule: String,
    /// No backup is triggered, and the operator changes and deletes nothing for this object,
    /// while true (status shows `Suspended`).
    #[serde(default)]
    pub suspend: bool,
    /// Take one backup as soon as the schedule is created, then follow the cron expression.
    #[serde(default)]
    pub immediate: bool,
    #[serde(default)]
    pub retention: Retention,
    pub destination: Destination,
}

/// Which successful backups are kept. A backup is kept when it is among the newest `keepLast`,
/// or the newest of one of the last `keepDaily` days, `keepWeekly` ISO weeks or `keepMonthly`
/// months (UTC) that have backups (grandfather-father-son) — unless it is older than
/// `maxAgeDays`. Pinned backups are never removed (nor counted); the newest successful backup
/// is always kept.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Successful backups kept by count.
    #[serde(default = "d_keep")]
    #[schemars(range(min = 1, max = 1000))]
    pub keep_last: u32,
    /// Backups older than this are removed (the newest good one is always kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650))]
    pub max_age_days: Option<u32>,
    /// Also keep the newest backup of each of the last N days (UTC) that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650))]
    pub keep_daily: Option<u32>,
    /// Also keep the newest backup of each of the last N ISO weeks that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 520))]
    pub keep_weekly: Option<u32>,
    /// Also keep the newest backup of each of the last N months that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 120))]
    pub keep_monthly: Option<u32>,
}
fn d_keep() -> u32 {
    7
}
impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_last: d_keep(),
            max_age_days: None,
            keep_daily: None,
            keep_weekly: None,
            keep_monthly: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum DestinationKind {
    Volume,
    S3,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub kind: DestinationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeDestination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Destination>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VolumeDestination {
    /// PersistentVolumeClaim mounted by the instance (Kubernetes) or a local folder (standalone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_name: Option<String>,
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Path-style URLs (`endpoint/bucket/key`, what MinIO and Ceph expect); false:
    /// virtual-hosted (`bucket.endpoint/key`).
    #[serde(default = "d_path_style")]
    pub path_style: bool,
    /// Secret with `accessKeyId` and `secretAccessKey`.
    pub credentials_secret_ref: SecretRef,
}

fn d_path_style() -> bool {
    true
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupScheduleStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the last run was started (a `Backup` created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    /// When the next run is due (absent while suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<String>,
    /// When the newest completed backup of this schedule started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,
    /// The schedule's newest `Backup` resources (at most 5), newest first.
    #[serde(default)]
    pub recent_backups: Vec<BackupRecord>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    /// The `Backup` resource.
    pub name: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The `Backup`'s phase: `Pending`, `Running`, `Completed` or `Failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An optional enum as the plain enum: schemars writes `Option<enum>` with `null` among the
/// enum values, which kube-apiserver rejects in a CRD (the field is omitted when unset).
fn plain<T: JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// How a `Backup` came to be.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum BackupMethod {
    /// Created by a `BackupSchedule` (which owns it).
    Schedule,
    /// Created by someone, on demand.
    #[default]
    Manual,
}

/// An object in the same namespace, by name.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LocalRef {
    #[schemars(length(min = 1, max = 63), pattern(crate::common::DNS_LABEL))]
    pub name: String,
}

/// One backup of a tenant's metadata, taken by its instance to the instance's destination.
/// The spec is immutable: the operator acts on the spec it recorded when it first saw the
/// object (`status.recordedSpec`) and reports `SpecChanged` when it was edited since.
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[kube(
    group = "nexbii.io",
    version = "v1alpha1",
    kind = "Backup",
    plural = "backups",
    shortname = "nxbk",
    namespaced,
    status = "BackupStatus",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenantRef.name"}"#,
    printcolumn = r#"{"name":"Method","type":"string","jsonPath":".spec.method"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".status.sizeBytes"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    pub tenant_ref: TenantRef,
    #[serde(default)]
    pub method: BackupMethod,
    /// The `BackupSchedule` that created it (method `schedule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_ref: Option<LocalRef>,
    /// Where the archive goes: must be the destination the tenant's instance is configured
    /// with (the instance refuses another).
    pub destination: Destination,
    /// Never pruned by retention; deleting the resource keeps the archive.
    #[serde(default)]
    pub pinned: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BackupPhase {
    Pending,
    Running,
    Completed,
    Failed,
}

impl BackupPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
        }
    }

    /// Completed and Failed never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "plain::<BackupPhase>")]
    pub phase: Option<BackupPhase>,
    /// The backup's id in the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// `sha256:<hex>` of the archive file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Where the archive is: a path on the backup volume, or `s3://<bucket>/<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The spec as first seen; the one acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_spec: Option<BackupSpec>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Puts a backup of a tenant back into its instance: a named `Backup`, or the newest backup
/// before `targetTime` with the change journal replayed up to it (done by the instance). Runs
/// once; the spec is immutable like a `Backup`'s.
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[kube(
    group = "nexbii.io",
    version = "v1alpha1",
    kind = "Restore",
    plural = "restores",
    shortname = "nxrs",
    namespaced,
    status = "RestoreStatus",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenantRef.name"}"#,
    printcolumn = r#"{"name":"Backup","type":"string","jsonPath":".spec.backupRef.name"}"#,
    printcolumn = r#"{"name":"Dry Run","type":"boolean","jsonPath":".spec.dryRun"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    pub tenant_ref: TenantRef,
    /// The `Backup` to restore (completed, same tenant). Either this or `targetTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_ref: Option<LocalRef>,
    /// Recover to this time (RFC 3339): the newest backup before it plus the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub target_time: Option<String>,
    /// Restore only these collections (names as in the archive's manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// Report what a restore would change, and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RestorePhase {
    Pending,
    Running,
    Completed,
    Failed,
}

/// What the restore changed (or, for a dry run, would change) in one collection.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestoreCounts {
    pub collection: String,
    pub in_backup: u64,
    pub current: u64,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub unchanged: u64,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "plain::<RestorePhase>")]
    pub phase: Option<RestorePhase>,
    /// The instance's id of the backup restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// True once the backup's records were swapped in (never for a dry run).
    #[serde(default)]
    pub restored: bool,
    /// Counts per collection.
    #[serde(default)]
    pub report: Vec<RestoreCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The spec as first seen; the one acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_spec: Option<RestoreSpec>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

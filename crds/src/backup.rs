//! `BackupSchedule`: periodic backups of a tenant's metadata store.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,
    #[serde(default)]
    pub recent_backups: Vec<BackupRecord>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
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
    /// `Succeeded` or `Failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

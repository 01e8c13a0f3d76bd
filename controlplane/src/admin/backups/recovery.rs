//! Recovery into a fresh instance (`Tenant.spec.bootstrap.fromBackup`, CloudNativePG's
//! "bootstrap from a backup"): the instance the tenant had is gone, its archives and shipped
//! journal segments are not. Before the instance serves the tenant:
//! 1. nothing happens when the tenant already has users (a recovery ran, or it was never fresh);
//! 2. every committed archive of the tenant in the destination is read through (which checks
//!    its frames, parts and checksums under this instance's backup key) and recorded as a
//!    completed backup (`trigger: recovered`), so retention, verify and later restores know it;
//! 3. the journal's sequence is moved past the last one shipped, so this instance's segments
//!    never take its predecessor's names;
//! 4. the newest backup (or `backupId`), or the state at `targetTime`, is restored through the
//!    ordinary restore path: staged, then swapped in atomically.
//!
//! Any failure leaves the tenant without users (nothing was swapped in), so the next start
//! tries again; the caller refuses to start meanwhile (fail closed: a fresh, empty tenant in
//! place of the recovered one would look like data loss).
use std::io::BufReader;

use nexbii_crds::tenant::FromBackup;

use super::{
    archive::{ArchiveError, ArchiveReader, Manifest},
    destination::DestinationError,
    domain::{self, BackupError},
    journal::{self, JournalError},
    model::{BackupRecord, BackupState, BackupTrigger, RestoreReport, RestoreRequest},
    restore,
};
use crate::{
    provisioning::backups::{describe_instance, describe_spec},
    state::AppState,
    store::{write::Actor, Collection, Expect, ListQuery, Store, StoreError, TenantScope},
};

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("destination: {0}")]
    Destination(String),
    #[error("no completed backup of tenant {tenant} could be read in {at}{skipped}")]
    NoBackup {
        tenant: String,
        at: String,
        /// Why the archives found were not usable (`; <id>: <why>` each).
        skipped: String,
    },
    #[error("backupId: backup {id} is not among the readable archives in {at}{skipped}")]
    UnknownBackup {
        id: String,
        at: String,
        skipped: String,
    },
    #[error("restore: {0}")]
    Restore(String),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a recovery did.
#[derive(Debug)]
pub struct Recovered {
    /// The archives recorded as backups of the tenant.
    pub adopted: Vec<String>,
    /// Archives found but not usable, with the reason (another key, corrupt, another tenant).
    pub skipped: Vec<(String, String)>,
    /// Where the journal's sequence goes on from.
    pub journal_sequence: u64,
    pub report: RestoreReport,
}

async fn has_users(state: &AppState, scope: &TenantScope) -> Result<bool, StoreError> {
    let page = state
        .store
        .list(scope, Collection::Users, &ListQuery::default().limit(1))
        .await?;
    Ok(!page.items.is_empty())
}

fn listed(skipped: &[(String, String)]) -> String {
    skipped
        .iter()
        .map(|(id, why)| format!("; {id}: {why}"))
        .collect()
}

/// Recovers the tenant from `from` unless it already has users (`None` then).
pub async fn recover(
    state: &AppState,
    scope: &TenantScope,
    from: &FromBackup,
) -> Result<Option<Recovered>, RecoveryError> {
    if has_users(state, scope).await? {
        return Ok(None);
    }
    let want =
        describe_spec(&from.destination).map_err(|w| RecoveryError::Destination(w.into()))?;
    let dest = domain::destination(state);
    let have = describe_instance(&dest);
    if want != have {
        return Err(RecoveryError::Destination(format!(
            "this instance's backup destination is {have}, not {want}: configure the instance \
             with it (the operator renders it from the Tenant)"
        )));
    }
    let (adopted, skipped) = adopt(state, scope).await?;
    let tenant = scope.tenant();
    let segments = dest
        .segments(tenant)
        .await
        .map_err(|e| RecoveryError::Destination(format!("{have}: {e}")))?;
    let journal_sequence = state
        .journal
        .rebase(scope, journal::last_in(&segments))
        .await?;
    let completed = domain::completed(state, scope).await?;
    if completed.is_empty() {
        return Err(RecoveryError::NoBackup {
            tenant: tenant.to_string(),
            at: have,
            skipped: listed(&skipped),
        });
    }
    let backup = match (&from.backup_id, &from.target_time) {
        (Some(id), _) if !completed.iter().any(|r| &r.id == id) => {
            return Err(RecoveryError::UnknownBackup {
                id: id.clone(),
                at: have,
                skipped: listed(&skipped),
            })
        }
        (Some(id), _) => Some(id.clone()),
        // The restore picks the newest backup taken by then.
        (None, Some(_)) => None,
        (None, None) => newest(&completed).map(|r| r.id.clone()),
    };
    let req = RestoreRequest {
        backup,
        dry_run: false,
        only: None,
        target_time: from.target_time.clone(),
    };
    let report = restore::restore_as(state, scope, &Actor::System, req)
        .await
        .map_err(|e| RecoveryError::Restore(e.to_string()))?;
    Ok(Some(Recovered {
        adopted,
        skipped,
        journal_sequence,
        report,
    }))
}

/// The backup whose snapshot is the newest.
fn newest(completed: &[BackupRecord]) -> Option<&BackupRecord> {
    completed
        .iter()
        .filter_map(|r| r.manifest.as_ref().map(|m| (m.created_at, r)))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)))
        .map(|(_, r)| r)
}

/// Records every readable archive of the tenant the store does not know yet as a completed
/// backup. Returns the ids recorded, and those skipped with the reason.
pub async fn adopt(
    state: &AppState,
    scope: &TenantScope,
) -> Result<(Vec<String>, Vec<(String, String)>), RecoveryError> {
    let dest = domain::destination(state);
    let tenant = scope.tenant().to_string();
    let ids = dest
        .archives(&tenant)
        .await
        .map_err(|e| RecoveryError::Destination(format!("{}: {e}", dest.describe())))?;
    let (mut adopted, mut skipped) = (Vec::new(), Vec::new());
    for id in ids {
        if domain::load(state, scope, &id).await.is_ok() {
            continue;
        }
        let loc = dest.archive_location(&tenant, &id);
        let (d, t, i, key) = (
            dest.clone(),
            tenant.clone(),
            id.clone(),
            domain::archive_key(state),
        );
        let read =
            tokio::task::spawn_blocking(move || -> Result<(Manifest, u64, String), BackupError> {
                let file = d.open(&d.archive_location(&t, &i)).map_err(|e| match e {
                    DestinationError::Io(e) => BackupError::Archive(ArchiveError::Io(e)),
                    e => BackupError::Internal(e.to_string()),
                })?;
                let mut reader =
                    ArchiveReader::open(BufReader::with_capacity(1 << 20, file), &key)?;
                let h = reader.header();
                if h.backup_id != i || h.tenant != t {
                    return Err(BackupError::Archive(ArchiveError::Corrupt(format!(
                        "it holds backup {} of tenant {}",
                        h.backup_id, h.tenant
                    ))));
                }
                while reader.next_record()?.is_some() {}
                let manifest = reader.manifest().cloned().expect("read to the end");
                let (size, sha) = reader.file_checksum();
                Ok((manifest, size, sha))
            })
            .await
            .map_err(|e| BackupError::Internal(e.to_string()))?;
        let (manifest, size, sha) = match read {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(tenant = %tenant, backup = %id, error = %e, "archive not adopted");
                skipped.push((id, e.to_string()));
                continue;
            }
        };
        let rec = BackupRecord {
            state: BackupState::Completed,
            requested_at: manifest.created_at,
            started_at: Some(manifest.created_at),
            finished_at: Some(manifest.finished_at),
            size_bytes: Some(size),
            checksum: Some(format!("sha256:{sha}")),
            location: Some(loc.to_string()),
            manifest: Some(manifest),
            ..BackupRecord::pending(id.clone(), BackupTrigger::Recovered, "recovery".into())
        };
        state
            .writer
            .save(scope, &Actor::System, rec, Expect::Absent)
            .await
            .map_err(BackupError::from)?;
        adopted.push(id);
    }
    Ok((adopted, skipped))
}

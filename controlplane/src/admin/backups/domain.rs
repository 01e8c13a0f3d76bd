//! Backup runs, verification, deletion and the sweep of interrupted runs.
//!
//! A run reads one consistent snapshot of the tenant's store and streams it, through a bounded
//! channel, to a blocking thread that compresses, encrypts and writes the archive under a
//! temporary name at the instance's [`Destination`] (volume folder or S3 bucket); the archive
//! is made durable, read back and compared with the checksum computed while writing, and only
//! then committed under its final name. Whatever fails, the temporary archive is removed, the
//! record says `Failed` with the reason, and earlier archives are untouched.
use std::{collections::HashSet, io::BufReader, sync::Mutex, time::Duration};

use chrono::Utc;
use futures::StreamExt;

use super::{
    archive::{ArchiveError, ArchiveKey, ArchiveReader, ArchiveWriter, Excluded, Finish, Manifest},
    destination::{ArchiveRead, Destination, DestinationError, Location, Sink},
    model::{BackupRecord, BackupRequest, BackupState, BackupTrigger, Verification, VerifyReport},
};
use crate::{
    auth::Caller,
    crypto,
    http::ApiError,
    state::{AppState, SharedState},
    store::{
        write::{Actor, WriteError},
        Collection, Expect, ListQuery, RawRecord, Store, StoreError, StoreExt, TenantScope,
    },
};

pub use super::destination::EXTENSION;
/// How often a running backup says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// A pending or running backup silent this long was interrupted (its instance stopped).
const STALE_AFTER_SECONDS: i64 = 60;
/// Records per message between the store reader and the archive writer.
const BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("no backup {0}")]
    NotFound(String),
    #[error("backup {id} is {state}, not Completed")]
    NotCompleted { id: String, state: &'static str },
    #[error("backup {0} is still running")]
    Running(String),
    #[error("backup {0} is pinned; delete it with ?force=true")]
    Pinned(String),
    #[error("backup destination {path}: {source}")]
    Destination {
        path: String,
        #[source]
        source: DestinationError,
    },
    #[error("the archive of backup {id} is missing from {path}")]
    ArchiveMissing { id: String, path: String },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The archive file differs from what was recorded when it was written.
    #[error("archive is corrupt: {0}")]
    Checksum(String),
    #[error("a restore of this tenant is already running")]
    RestoreRunning,
    /// The tenant's records kept changing between a restore's comparison and its swap.
    #[error("{0}")]
    Changed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("{0}")]
    Internal(String),
}

impl BackupError {
    /// The API error, with `field` named where the problem is the archive the input refers to.
    pub fn into_api(self, field: &str) -> ApiError {
        match self {
            Self::NotFound(id) if field == "backup" => {
                ApiError::invalid(field, format!("no backup {id}"))
            }
            Self::NotFound(id) => ApiError::NotFound(format!("backup {id}")),
            e @ Self::NotCompleted { .. } if field == "backup" => {
                ApiError::invalid(field, e.to_string())
            }
            e @ (Self::NotCompleted { .. }
            | Self::Running(_)
            | Self::Pinned(_)
            | Self::RestoreRunning
            | Self::Changed(_)) => ApiError::Conflict(e.to_string()),
            e @ (Self::ArchiveMissing { .. } | Self::Archive(_) | Self::Checksum(_)) => {
                ApiError::invalid(field, e.to_string())
            }
            Self::Store(e) => e.into(),
            Self::Write(e) => e.into(),
            e @ (Self::Destination { .. } | Self::Internal(_)) => {
                ApiError::Internal(anyhow::anyhow!(e.to_string()))
            }
        }
    }
}

/// Whether a collection goes into backups, and why not when it does not. Exhaustive on
/// purpose: a new collection does not compile until it is decided here.
pub fn coverage(c: Collection) -> Result<(), &'static str> {
    use Collection::*;
    match c {
        Tenants | Users | DataSources | DataSourceStatus | SavedQueries | Dashboards
        | GovernancePolicies | BackupSchedules | CatalogTables | Approvals | Notifications
        | Webhooks | WebhookDeliveries | ShareLinks | ApiKeys | AuditLog | AuditCheckpoints
        | Settings | FeatureFlags | ConfigHistory => Ok(()),
        Sessions => Err(
            "login sessions: not backed up, and a restore leaves today's alone \
            (a session works only while its user exists and is enabled)",
        ),
        Backups => Err(
            "the backup records: they describe archives kept outside the store, \
            so a restore keeps today's list",
        ),
        Alerts => Err(
            "health alerts: re-evaluated from live figures every minute, so a restore \
            keeps today's",
        ),
        Scratch => Err("scratch space of the store conformance tests"),
    }
}

/// Whether a restore puts a backed-up collection back. The audit log is append-only: a restore
/// never rewinds it, since that would erase the record of what happened since the backup —
/// including who restored. Its entries stay in every archive (to be read, and for recovery
/// into a new instance); a restore adds its own entry to the log as it is.
pub fn restorable(c: Collection) -> Result<(), &'static str> {
    coverage(c)?;
    match c {
        Collection::AuditLog | Collection::AuditCheckpoints => {
            Err("the audit log is append-only: a restore keeps it as it is and adds its own entry")
        }
        _ => Ok(()),
    }
}

/// The collections a restore puts back (unless `only` narrows them), in name order.
pub fn restored() -> Vec<Collection> {
    backed_up()
        .into_iter()
        .filter(|c| restorable(*c).is_ok())
        .collect()
}

/// The collections a backup holds, in name order.
pub fn backed_up() -> Vec<Collection> {
    let mut out: Vec<Collection> = Collection::ALL
        .into_iter()
        .filter(|c| coverage(*c).is_ok())
        .collect();
    out.sort_by_key(|c| c.name());
    out
}

/// The collections left out, with the reason (listed in every manifest).
pub fn excluded() -> Vec<Excluded> {
    Collection::ALL
        .into_iter()
        .filter_map(|c| {
            coverage(c).err().map(|reason| Excluded {
                collection: c.name().to_string(),
                reason: reason.to_string(),
            })
        })
        .collect()
}

/// State of the backups area shared by the requests of one instance.
#[derive(Default)]
pub struct BackupsState {
    restoring: Mutex<HashSet<TenantScope>>,
    /// Held from the `requestId` lookup to the save of the new record, so that two requests
    /// with one id that arrive together start one backup, not two.
    starting: tokio::sync::Mutex<()>,
}

/// Held while a restore of the tenant runs; one at a time per tenant and instance.
pub struct RestoreGuard<'a> {
    state: &'a BackupsState,
    scope: TenantScope,
}

impl Drop for RestoreGuard<'_> {
    fn drop(&mut self) {
        self.state
            .restoring
            .lock()
            .expect("restore lock")
            .remove(&self.scope);
    }
}

impl BackupsState {
    pub fn lock_restore(&self, scope: &TenantScope) -> Result<RestoreGuard<'_>, BackupError> {
        if !self
            .restoring
            .lock()
            .expect("restore lock")
            .insert(scope.clone())
        {
            return Err(BackupError::RestoreRunning);
        }
        Ok(RestoreGuard {
            state: self,
            scope: scope.clone(),
        })
    }
}

pub fn archive_key(state: &AppState) -> ArchiveKey {
    ArchiveKey::new(state.keys.backup_key())
}

/// Where this instance writes archives: its S3 bucket when it has one, else the volume.
pub fn destination(state: &AppState) -> Destination {
    match &state.settings.backup_s3 {
        Some(bucket) => Destination::S3(bucket.clone()),
        None => Destination::Volume(state.settings.backup_dir.clone()),
    }
}

fn new_id() -> String {
    format!(
        "{}-{}",
        Utc::now().format("%Y%m%d-%H%M%S"),
        &crypto::random_id()[..8]
    )
}

/// The tenant's completed backups (records that do not decode are left out).
pub async fn completed(
    state: &AppState,
    scope: &TenantScope,
) -> Result<Vec<BackupRecord>, StoreError> {
    let q = ListQuery::default().filter("state", BackupState::Completed.as_str());
    let page = state.store.list(scope, Collection::Backups, &q).await?;
    Ok(page
        .items
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect())
}

pub async fn load(
    state: &AppState,
    scope: &TenantScope,
    id: &str,
) -> Result<BackupRecord, BackupError> {
    state
        .store
        .get_as::<BackupRecord>(scope, id)
        .await?
        .ok_or_else(|| BackupError::NotFound(id.to_string()))
}

/// Records a new backup and starts it in the background (`true`). A request whose
/// `requestId` an earlier one had gets that earlier backup instead (`false`): a client that
/// lost the answer (the operator, when it could not record it) retries without a duplicate.
/// Starts are serialised on the instance (one tenant store has one instance), so a retry sent
/// while the first request is still being answered finds its record too.
pub async fn start(
    state: &SharedState,
    caller: &Caller,
    req: BackupRequest,
) -> Result<(BackupRecord, bool), BackupError> {
    // Held to the save below: a start is a lookup and one insert, so the wait is short.
    let _one_at_a_time = state.backups.starting.lock().await;
    if let Some(rid) = &req.request_id {
        let q = ListQuery::default()
            .filter("requestId", rid.as_str())
            .limit(1);
        let page = state
            .store
            .list(&caller.scope, Collection::Backups, &q)
            .await?;
        if let Some(earlier) = page.items.into_iter().next() {
            let earlier = serde_json::from_value(earlier)
                .map_err(|e| BackupError::Internal(format!("backup record: {e}")))?;
            return Ok((earlier, false));
        }
    }
    // A run interrupted earlier is marked failed first; it never holds up this one.
    sweep_interrupted(state, &caller.scope).await?;
    let rec = BackupRecord {
        pinned: req.pinned,
        note: req.note,
        retention: req.retention,
        request_id: req.request_id,
        ..BackupRecord::pending(new_id(), BackupTrigger::Manual, caller.username.clone())
    };
    let rec = state
        .writer
        .save(&caller.scope, &caller.actor(), rec, Expect::Absent)
        .await?;
    tokio::spawn(run(state.clone(), caller.scope.clone(), rec.id.clone()));
    Ok((rec, true))
}

/// What a successful run wrote.
struct Written {
    manifest: Manifest,
    size: u64,
    sha256: String,
    location: Location,
}

/// One backup run, from `Pending` to `Completed` or `Failed`.
pub async fn run(state: SharedState, scope: TenantScope, id: String) {
    let begun = Utc::now();
    let marked = state
        .writer
        .modify::<BackupRecord>(&scope, &Actor::System, &id, |r| {
            r.state = BackupState::Running;
            r.started_at = Some(begun);
            r.heartbeat_at = Some(begun);
        })
        .await;
    if !matches!(marked, Ok(Some(_))) {
        tracing::warn!(tenant = scope.tenant(), backup = %id, "backup record gone before its run");
        return;
    }
    let beat = tokio::spawn(heartbeat(state.clone(), scope.clone(), id.clone()));
    let outcome = write_archive(&state, &scope, &id).await;
    beat.abort();
    let finished = Utc::now();
    let recorded = state
        .writer
        .modify::<BackupRecord>(&scope, &Actor::System, &id, |r| {
            r.finished_at = Some(finished);
            r.heartbeat_at = None;
            match &outcome {
                Ok(w) => {
                    r.state = BackupState::Completed;
                    r.size_bytes = Some(w.size);
                    r.checksum = Some(format!("sha256:{}", w.sha256));
                    r.location = Some(w.location.to_string());
                    r.manifest = Some(w.manifest.clone());
                    r.error = None;
                }
                Err(e) => {
                    r.state = BackupState::Failed;
                    r.error = Some(e.to_string());
                }
            }
        })
        .await;
    let seconds = (finished - begun).num_milliseconds() as f64 / 1000.0;
    let metrics = &state.metrics.backups;
    match (&outcome, recorded) {
        (Ok(w), Ok(Some(rec))) => {
            tracing::info!(
                tenant = scope.tenant(), backup = %id, bytes = w.size, records = w.manifest.records,
                seconds, "backup completed"
            );
            metrics.completed(scope.tenant(), begun, seconds, w.size);
            let policy = rec
                .retention
                .clone()
                .or_else(|| state.settings.backup_retention.clone());
            if let Some(policy) = policy {
                match super::retention::apply(&state, &scope, &policy).await {
                    Ok(removed) => metrics.pruned(scope.tenant(), removed.len()),
                    Err(_) => metrics.retention_failed(scope.tenant()),
                }
                if let Err(e) = prune_journal(&state, &scope).await {
                    metrics.retention_failed(scope.tenant());
                    tracing::warn!(tenant = scope.tenant(), error = %e, "retention: journal segments not pruned");
                }
            }
        }
        (Ok(w), _) => {
            // Nobody can find an archive without its record: do not leave it behind.
            let _ = destination(&state).remove(&w.location).await;
            tracing::warn!(tenant = scope.tenant(), backup = %id, "backup record gone; archive removed");
        }
        (Err(e), _) => {
            metrics.failed(scope.tenant());
            tracing::warn!(
                tenant = scope.tenant(), backup = %id, error = %e, seconds, "backup failed"
            )
        }
    }
}

/// Removes the journal segments older than the oldest completed backup left: no recovery
/// starts before it. A completed backup without a journal position keeps them all.
pub async fn prune_journal(state: &AppState, scope: &TenantScope) -> Result<usize, BackupError> {
    let oldest = completed(state, scope)
        .await?
        .into_iter()
        .map(|r| r.manifest.and_then(|m| m.journal_sequence).unwrap_or(0))
        .min();
    let Some(upto) = oldest.filter(|p| *p > 0) else {
        return Ok(0);
    };
    let n = super::journal::prune(&destination(state), scope, upto)
        .await
        .map_err(|e| BackupError::Internal(e.to_string()))?;
    if n > 0 {
        tracing::info!(
            tenant = scope.tenant(),
            removed = n,
            upto,
            "retention removed journal segments"
        );
    }
    Ok(n)
}

async fn heartbeat(state: SharedState, scope: TenantScope, id: String) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = Utc::now();
        let _ = state
            .writer
            .modify::<BackupRecord>(&scope, &Actor::System, &id, |r| r.heartbeat_at = Some(now))
            .await;
    }
}

fn at(path: impl ToString) -> impl Fn(DestinationError) -> BackupError {
    let path = path.to_string();
    move |source| BackupError::Destination {
        path: path.clone(),
        source,
    }
}

/// Writes the archive under a temporary name, checks it, then commits it under its final name.
async fn write_archive(
    state: &SharedState,
    scope: &TenantScope,
    id: &str,
) -> Result<Written, BackupError> {
    let dest = destination(state);
    let tenant = scope.tenant();
    let tmp = dest.temp_location(tenant, id);
    let res = async {
        let sink = dest.begin(tenant, id).await.map_err(at(&tmp))?;
        let written = stream_snapshot(state, scope, id, sink, tmp.to_string()).await?;
        let (size, sha) = dest.read_back(tenant, id).await.map_err(at(&tmp))?;
        if size != written.size || sha != written.sha256 {
            return Err(BackupError::Checksum(format!(
                "{tmp} reads back as {size} bytes with SHA-256 {sha}, written as {} bytes with {}",
                written.size, written.sha256
            )));
        }
        let location = dest.commit(tenant, id).await.map_err(at(&tmp))?;
        Ok(Written {
            location,
            ..written
        })
    }
    .await;
    if res.is_err() {
        let _ = dest.discard(tenant, id).await;
    }
    res
}

enum Msg {
    Batch(Vec<RawRecord>),
    /// The snapshot was read to its end.
    End,
}

/// Streams the tenant's snapshot into `sink` (a temporary archive named `name`).
async fn stream_snapshot(
    state: &SharedState,
    scope: &TenantScope,
    id: &str,
    sink: Sink,
    name: String,
) -> Result<Written, BackupError> {
    let colls = backed_up();
    // Read before the snapshot: every entry up to it was committed before the snapshot began,
    // so it is in the archive; a recovery replays only the entries after it.
    let journal_sequence = match state.journal.position(scope).await {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(tenant = scope.tenant(), error = %e, "backup without a journal position: no point-in-time recovery from it");
            None
        }
    };
    let snap = state.store.snapshot(scope, &colls).await?;
    let store = snap
        .position
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let position = snap.position.clone();
    let key = archive_key(state);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(8);
    let (tenant, id) = (scope.tenant().to_string(), id.to_string());
    let writer = tokio::task::spawn_blocking(move || -> Result<Written, BackupError> {
        let io_err = |e: ArchiveError| match e {
            ArchiveError::Io(source) => at(&name)(source.into()),
            other => other.into(),
        };
        let mut w = ArchiveWriter::new(sink, &key, &id, &tenant, &colls).map_err(io_err)?;
        let mut complete = false;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Batch(batch) => {
                    for r in &batch {
                        w.record(r).map_err(io_err)?;
                    }
                }
                Msg::End => {
                    complete = true;
                    break;
                }
            }
        }
        if !complete {
            // Dropping the writer drops the sink, which aborts an upload.
            return Err(BackupError::Internal("the snapshot stopped early".into()));
        }
        let f = w
            .finish(Finish {
                store,
                position,
                journal_sequence,
                excluded: excluded(),
            })
            .map_err(io_err)?;
        f.out.finish().map_err(|e| at(&name)(e.into()))?;
        Ok(Written {
            manifest: f.manifest,
            size: f.size,
            sha256: f.sha256,
            location: Location::parse(&name),
        })
    });
    let mut records = snap.records;
    let fed: Result<(), BackupError> = async {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(r) = records.next().await {
            batch.push(r?);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.send(Msg::Batch(full)).await.is_err() {
                    // The writer stopped; its own error says why.
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() && tx.send(Msg::Batch(batch)).await.is_err() {
            return Ok(());
        }
        let _ = tx.send(Msg::End).await;
        Ok(())
    }
    .await;
    drop(tx);
    drop(records);
    let written = writer
        .await
        .map_err(|e| BackupError::Internal(format!("archive writer: {e}")))?;
    fed?;
    written
}

/// Opens the archive of a completed backup, checking that it is the one the record names.
/// Call on a blocking thread.
pub fn open_archive(
    dest: &Destination,
    rec: &BackupRecord,
    tenant: &str,
    key: &ArchiveKey,
) -> Result<ArchiveReader<BufReader<ArchiveRead>>, BackupError> {
    let path = rec.location.clone().unwrap_or_default();
    let file = dest.open(&Location::parse(&path)).map_err(|e| match e {
        e if e.is_not_found() => BackupError::ArchiveMissing {
            id: rec.id.clone(),
            path: path.clone(),
        },
        DestinationError::Io(e) => BackupError::Archive(ArchiveError::Io(e)),
        e => at(&path)(e),
    })?;
    let reader = ArchiveReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let h = reader.header();
    if h.backup_id != rec.id || h.tenant != tenant {
        return Err(BackupError::Archive(ArchiveError::Corrupt(format!(
            "{path} holds backup {} of tenant {}, not backup {} of {tenant}",
            h.backup_id, h.tenant, rec.id
        ))));
    }
    Ok(reader)
}

/// Checks a finished read against what the record says was written.
pub fn check_file(rec: &BackupRecord, size: u64, sha: &str) -> Result<(), BackupError> {
    let want = rec.checksum.as_deref().unwrap_or_default();
    if want != format!("sha256:{sha}") || rec.size_bytes != Some(size) {
        return Err(BackupError::Checksum(format!(
            "the archive file ({size} bytes, sha256:{sha}) is not the one written ({} bytes, {want})",
            rec.size_bytes.unwrap_or_default()
        )));
    }
    Ok(())
}

/// Re-reads the stored archive and checks every frame, part and checksum; records the outcome.
pub async fn verify(
    state: &SharedState,
    scope: &TenantScope,
    id: &str,
) -> Result<VerifyReport, BackupError> {
    let rec = load(state, scope, id).await?;
    if rec.state != BackupState::Completed {
        return Err(BackupError::NotCompleted {
            id: rec.id,
            state: rec.state.as_str(),
        });
    }
    let key = archive_key(state);
    let (tenant, r, dest) = (scope.tenant().to_string(), rec.clone(), destination(state));
    let checked =
        tokio::task::spawn_blocking(move || -> Result<(Manifest, u64, String), BackupError> {
            let mut reader = open_archive(&dest, &r, &tenant, &key)?;
            while reader.next_record()?.is_some() {}
            let manifest = reader.manifest().cloned().expect("read to the end");
            let (size, sha) = reader.file_checksum();
            check_file(&r, size, &sha)?;
            Ok((manifest, size, sha))
        })
        .await
        .map_err(|e| BackupError::Internal(e.to_string()))?;
    let at = Utc::now();
    let verification = Verification {
        at,
        ok: checked.is_ok(),
        error: checked.as_ref().err().map(|e| e.to_string()),
    };
    state
        .writer
        .modify::<BackupRecord>(scope, &Actor::System, id, |r| {
            r.last_verification = Some(verification.clone())
        })
        .await?;
    let (manifest, size, sha) = checked?;
    Ok(VerifyReport {
        id: rec.id,
        ok: true,
        checked_at: at,
        size_bytes: size,
        checksum: format!("sha256:{sha}"),
        manifest,
    })
}

fn is_stale(rec: &BackupRecord) -> bool {
    let last = rec.heartbeat_at.unwrap_or(rec.requested_at);
    Utc::now() - last > chrono::Duration::seconds(STALE_AFTER_SECONDS)
}

fn is_active(rec: &BackupRecord) -> bool {
    matches!(rec.state, BackupState::Pending | BackupState::Running)
}

/// Deletes the archive and the record. A running backup is refused; a pinned one needs `force`.
pub async fn delete(
    state: &SharedState,
    caller: &Caller,
    id: &str,
    force: bool,
) -> Result<(), BackupError> {
    let rec = load(state, &caller.scope, id).await?;
    if is_active(&rec) && !is_stale(&rec) {
        return Err(BackupError::Running(rec.id));
    }
    if rec.pinned && !force {
        return Err(BackupError::Pinned(rec.id));
    }
    remove(state, &caller.scope, &caller.actor(), &rec).await
}

/// Removes a backup's archive (and any temporary one), then its record.
pub async fn remove(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    rec: &BackupRecord,
) -> Result<(), BackupError> {
    let dest = destination(state);
    let tmp = dest.temp_location(scope.tenant(), &rec.id);
    for loc in rec
        .location
        .as_deref()
        .map(Location::parse)
        .into_iter()
        .chain([tmp])
    {
        dest.remove(&loc).await.map_err(at(&loc))?;
    }
    state
        .writer
        .delete::<BackupRecord>(scope, actor, &rec.id, Some(rec.meta.revision))
        .await?;
    Ok(())
}

/// Marks the tenant's backups whose run went silent as failed and removes their temporary
/// files: an instance that stopped mid-run never holds up later runs.
pub async fn sweep_interrupted(state: &AppState, scope: &TenantScope) -> Result<(), BackupError> {
    for st in [BackupState::Pending, BackupState::Running] {
        let q = ListQuery::default().filter("state", st.as_str());
        let page = state.store.list(scope, Collection::Backups, &q).await?;
        for doc in page.items {
            let Ok(rec) = serde_json::from_value::<BackupRecord>(doc) else {
                continue;
            };
            if !is_stale(&rec) {
                continue;
            }
            let since = rec.heartbeat_at.unwrap_or(rec.requested_at);
            state
                .writer
                .modify::<BackupRecord>(scope, &Actor::System, &rec.id, |r| {
                    if is_active(r) {
                        r.state = BackupState::Failed;
                        r.finished_at = Some(Utc::now());
                        r.error = Some(format!(
                            "interrupted: no sign of life since {since} (the instance running it stopped)"
                        ));
                    }
                })
                .await?;
            let _ = destination(state).discard(scope.tenant(), &rec.id).await;
            tracing::warn!(tenant = scope.tenant(), backup = %rec.id, "interrupted backup marked failed");
        }
    }
    Ok(())
}

/// At start-up: the sweep for every tenant.
pub async fn recover_interrupted(state: SharedState) {
    let tenants = match state.store.tenants().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "backup sweep: tenants not listed");
            return;
        }
    };
    for scope in tenants {
        if let Err(e) = sweep_interrupted(&state, &scope).await {
            tracing::warn!(tenant = scope.tenant(), error = %e, "backup sweep failed");
        }
        if let Err(e) = seed_metrics(&state, &scope).await {
            tracing::warn!(tenant = scope.tenant(), error = %e, "backup metrics not seeded");
        }
        if let Err(e) = resume_journal(&state, &scope).await {
            tracing::warn!(tenant = scope.tenant(), error = %e, "journal sequence not checked against the destination");
        }
    }
}

/// A local journal that was lost (a new volume) would start its sequence again at 1, and its
/// segments would take the names of those already shipped: it goes on after the last one the
/// destination holds instead. A no-op for a journal that shipped them itself.
async fn resume_journal(state: &AppState, scope: &TenantScope) -> Result<(), BackupError> {
    let dest = destination(state);
    let names = dest
        .segments(scope.tenant())
        .await
        .map_err(at(&dest.segment_location(scope.tenant(), "").to_string()))?;
    state
        .journal
        .rebase(scope, super::journal::last_in(&names))
        .await
        .map_err(|e| BackupError::Internal(e.to_string()))?;
    Ok(())
}

/// Sets the last-success gauges from the newest completed backup in the store.
async fn seed_metrics(state: &AppState, scope: &TenantScope) -> Result<(), BackupError> {
    let newest = completed(state, scope)
        .await?
        .into_iter()
        .filter_map(|r| Some((r.started_at?, r.finished_at?, r.size_bytes?)))
        .max_by_key(|(at, _, _)| *at);
    if let Some((at, done, size)) = newest {
        let seconds = (done - at).num_milliseconds() as f64 / 1000.0;
        state
            .metrics
            .backups
            .last_success(scope.tenant(), at, seconds, size);
    }
    Ok(())
}

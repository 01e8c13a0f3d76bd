//! Restores: the archive is read on a blocking thread and checked as it goes; its records are
//! compared with a snapshot of the tenant's current records (both in collection, id order, so
//! the comparison is one merge pass) and, unless it is a dry run, those that differ are staged
//! in the store. Only when the whole archive checked out is the difference swapped in, in one
//! transaction that first checks nothing changed since the comparison; any failure before
//! that drops the staging and changes nothing. Records identical in the backup are neither
//! staged nor rewritten, so a restore costs reading plus what actually changed.
use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use futures::{stream::BoxStream, StreamExt};

use super::{
    domain::{self, BackupError},
    journal::{self, JournalError},
    model::{
        BackupRecord, BackupState, CollectionReport, RestoreReport, RestoreRequest, RestoreTotals,
    },
};
use crate::{
    auth::Caller,
    crypto,
    http::{ApiError, ApiResult},
    state::AppState,
    store::{
        write::{Actor, WriteError},
        Collection, CollectionState, Delta, RawRecord, Store, StoreError, StoreResult, TenantScope,
    },
};

/// Ids listed per kind of change and collection.
const LISTED_IDS: usize = 100;
/// Records staged per store round trip.
const STAGE_BATCH: usize = 500;
/// Comparisons a restore makes before it gives up on a tenant that keeps changing.
const SWAP_ATTEMPTS: usize = 3;

/// The collections a request names (`only`), or every one a restore puts back.
pub fn selection(only: Option<&[String]>) -> ApiResult<Vec<Collection>> {
    let Some(names) = only else {
        return Ok(domain::restored());
    };
    if names.is_empty() {
        return Err(ApiError::invalid(
            "only",
            "name at least one collection, or leave `only` out to restore all",
        ));
    }
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let field = format!("only[{i}]");
        let coll = Collection::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = domain::restored().iter().map(|c| c.name()).collect();
            ApiError::invalid(
                &field,
                format!("unknown collection; one of {}", known.join(", ")),
            )
        })?;
        if let Err(reason) = domain::coverage(coll) {
            return Err(ApiError::invalid(
                &field,
                format!("not in backups: {reason}"),
            ));
        }
        if let Err(reason) = domain::restorable(coll) {
            return Err(ApiError::invalid(&field, format!("not restored: {reason}")));
        }
        if !out.contains(&coll) {
            out.push(coll);
        }
    }
    out.sort_by_key(|c| c.name());
    Ok(out)
}

/// Checks the request, then restores (or reports, for a dry run).
pub async fn restore(
    state: &AppState,
    caller: &Caller,
    req: RestoreRequest,
) -> ApiResult<RestoreReport> {
    restore_as(state, &caller.scope, &caller.actor(), req).await
}

/// [`restore`] for a tenant and actor (the operator's provisioning API calls this).
pub async fn restore_as(
    state: &AppState,
    scope: &TenantScope,
    actor: &Actor,
    req: RestoreRequest,
) -> ApiResult<RestoreReport> {
    let target = req
        .target_time
        .as_deref()
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| ApiError::invalid("targetTime", format!("not an RFC 3339 time: {e}")))
        })
        .transpose()?;
    let backup = req.backup.filter(|b| !b.is_empty());
    let colls = selection(req.only.as_deref())?;
    let _guard = state
        .backups
        .lock_restore(scope)
        .map_err(|e| e.into_api("backup"))?;
    let Some(target) = target else {
        let id = backup
            .ok_or_else(|| ApiError::invalid("backup", "required: the id of a completed backup"))?;
        let job = Job {
            state,
            scope,
            actor,
            id: &id,
            colls: &colls,
            dry_run: req.dry_run,
        };
        return run_retrying(job, None)
            .await
            .map_err(|e| e.into_api("backup"));
    };
    if target > Utc::now() {
        return Err(ApiError::invalid(
            "targetTime",
            "in the future: recover to a time that has passed",
        ));
    }
    let rec = match backup {
        Some(id) => {
            let rec = domain::load(state, scope, &id)
                .await
                .map_err(|e| e.into_api("backup"))?;
            if rec.state != BackupState::Completed {
                return Err(BackupError::NotCompleted {
                    id: rec.id,
                    state: rec.state.as_str(),
                }
                .into_api("backup"));
            }
            match snapshot_of(&rec) {
                Some((at, _)) if at > target => {
                    return Err(ApiError::invalid(
                        "targetTime",
                        format!("before backup {} was taken ({at}): name an earlier backup, or none to use the newest one taken by then", rec.id),
                    ))
                }
                Some(_) => rec,
                None => {
                    return Err(ApiError::invalid(
                        "backup",
                        "it has no change-journal position (taken before journaling began), so nothing can be replayed on it",
                    ))
                }
            }
        }
        None => newest_before(state, scope, target).await?,
    };
    let (_, position) = snapshot_of(&rec).expect("checked");
    // Read first: every entry up to it must be found below.
    let head = state
        .journal
        .position(scope)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))?;
    let entries = journal::entries_after(state, scope, position)
        .await
        .map_err(|e| match e {
            JournalError::Segment { .. } | JournalError::Corrupt(_) => {
                ApiError::invalid("targetTime", e.to_string())
            }
            e => ApiError::Internal(anyhow::anyhow!(e.to_string())),
        })?;
    let replay = journal::plan(&entries, position, head, target, &colls)
        .map_err(|e| ApiError::invalid("targetTime", e.to_string()))?;
    let job = Job {
        state,
        scope,
        actor,
        id: &rec.id,
        colls: &colls,
        dry_run: req.dry_run,
    };
    run_retrying(job, Some((target, replay)))
        .await
        .map_err(|e| e.into_api("backup"))
}

/// When a completed backup's snapshot was taken, and its journal position; `None` for backups
/// taken before journaling began.
fn snapshot_of(rec: &BackupRecord) -> Option<(DateTime<Utc>, u64)> {
    let m = rec.manifest.as_ref()?;
    Some((m.created_at, m.journal_sequence?))
}

/// The newest completed backup taken at or before `target` that a replay can start from.
async fn newest_before(
    state: &AppState,
    scope: &TenantScope,
    target: DateTime<Utc>,
) -> ApiResult<BackupRecord> {
    let completed = domain::completed(state, scope).await?;
    let oldest = completed
        .iter()
        .filter_map(|r| r.manifest.as_ref().map(|m| m.created_at))
        .min()
        .ok_or_else(|| {
            ApiError::invalid(
                "targetTime",
                "the tenant has no completed backup to start from",
            )
        })?;
    if target < oldest {
        return Err(ApiError::invalid(
            "targetTime",
            format!("before the oldest backup ({oldest}): nothing to recover from"),
        ));
    }
    completed
        .into_iter()
        .filter_map(|r| {
            snapshot_of(&r)
                .filter(|(at, _)| *at <= target)
                .map(|(at, _)| (at, r))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)))
        .map(|(_, r)| r)
        .ok_or_else(|| {
            ApiError::invalid(
                "targetTime",
                "no backup taken at or before it has a change-journal position to replay from",
            )
        })
}

/// [`run`], compared again when its swap found a collection changed since the comparison (a
/// sign-in or a health check wrote meanwhile), a few times.
async fn run_retrying(
    job: Job<'_>,
    pitr: Option<(DateTime<Utc>, journal::Replay)>,
) -> Result<RestoreReport, BackupError> {
    let (scope, id) = (job.scope, job.id);
    let mut attempt = 1;
    loop {
        match run(job, pitr.clone()).await {
            Err(BackupError::Write(WriteError::Store(StoreError::Conflict(why)))) => {
                if attempt == SWAP_ATTEMPTS {
                    return Err(BackupError::Changed(why));
                }
                tracing::info!(
                    tenant = scope.tenant(),
                    backup = id,
                    attempt,
                    why,
                    "restore compares again"
                );
                attempt += 1;
            }
            other => return other,
        }
    }
}

enum Read {
    Batch(Vec<RawRecord>),
    /// The whole archive checked out (frames, parts, manifest, file checksum).
    Done,
    Failed(BackupError),
}

/// What one restore restores, from where, for whom.
#[derive(Clone, Copy)]
struct Job<'a> {
    state: &'a AppState,
    scope: &'a TenantScope,
    actor: &'a Actor,
    id: &'a str,
    colls: &'a [Collection],
    dry_run: bool,
}

async fn run(
    job: Job<'_>,
    pitr: Option<(DateTime<Utc>, journal::Replay)>,
) -> Result<RestoreReport, BackupError> {
    let Job {
        state,
        scope,
        actor,
        id,
        colls,
        dry_run,
    } = job;
    let started_at = Utc::now();
    let target_time = pitr.as_ref().map(|(t, _)| *t);
    let replayed_changes = pitr.as_ref().map_or(0, |(_, r)| r.replayed);
    // Without a target time the merge is empty and passes the archive's records through.
    let mut merge = journal::Merge::new(pitr.map(|(_, r)| r.effects).unwrap_or_default());
    let rec = domain::load(state, scope, id).await?;
    if rec.state != BackupState::Completed {
        return Err(BackupError::NotCompleted {
            id: rec.id,
            state: rec.state.as_str(),
        });
    }
    // Header, tenant and key are checked before anything else is read or staged.
    let reader = {
        let (r, tenant, key, dest) = (
            rec.clone(),
            scope.tenant().to_string(),
            domain::archive_key(state),
            domain::destination(state),
        );
        tokio::task::spawn_blocking(move || domain::open_archive(&dest, &r, &tenant, &key))
            .await
            .map_err(|e| BackupError::Internal(e.to_string()))??
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Read>(8);
    let r = rec.clone();
    let feeder = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let outcome = (|| -> Result<Read, BackupError> {
            let mut batch = Vec::with_capacity(STAGE_BATCH);
            while let Some(rec) = reader.next_record()? {
                batch.push(rec);
                if batch.len() == STAGE_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(STAGE_BATCH));
                    if tx.blocking_send(Read::Batch(full)).is_err() {
                        return Err(BackupError::Internal("restore stopped".into()));
                    }
                }
            }
            if !batch.is_empty() && tx.blocking_send(Read::Batch(batch)).is_err() {
                return Err(BackupError::Internal("restore stopped".into()));
            }
            let (size, sha) = reader.file_checksum();
            domain::check_file(&r, size, &sha)?;
            Ok(Read::Done)
        })();
        let _ = tx.blocking_send(outcome.unwrap_or_else(Read::Failed));
    });

    let staging = format!("{id}-{}", &crypto::random_id()[..8]);
    let selected: HashSet<Collection> = colls.iter().copied().collect();
    let current = state.store.snapshot(scope, colls).await?;
    let mut diff = Diff::new(colls, current.records);
    let compared = async {
        let mut pending: Vec<RawRecord> = Vec::new();
        let mut merged: Vec<RawRecord> = Vec::new();
        loop {
            match rx.recv().await {
                Some(Read::Batch(batch)) => {
                    for r in batch {
                        if selected.contains(&r.collection) {
                            merge.push(r, &mut merged);
                        }
                    }
                    for r in merged.drain(..) {
                        // Only what differs is staged: identical records stay where they are.
                        if diff.archived(&r).await? != Change::Unchanged && !dry_run {
                            pending.push(r);
                        }
                    }
                    if pending.len() >= STAGE_BATCH {
                        state.writer.stage(scope, &staging, &pending).await?;
                        pending.clear();
                    }
                }
                Some(Read::Done) => {
                    // The journal's records after the archive's last one.
                    std::mem::take(&mut merge).finish(&mut merged);
                    for r in merged.drain(..) {
                        if diff.archived(&r).await? != Change::Unchanged && !dry_run {
                            pending.push(r);
                        }
                    }
                    break;
                }
                Some(Read::Failed(e)) => return Err(e),
                None => return Err(BackupError::Internal("archive reader stopped".into())),
            }
        }
        if !pending.is_empty() {
            state.writer.stage(scope, &staging, &pending).await?;
        }
        Ok::<_, BackupError>(())
    }
    .await;
    drop(rx);
    let _ = feeder.await;
    // The report is complete (and the snapshot closed) before anything changes.
    let reported = match compared {
        Ok(()) => diff.finish().await.map_err(BackupError::from),
        Err(e) => Err(e),
    };
    let swapped = match reported {
        Ok(found) if dry_run => Ok((found.reports, false)),
        Ok(found) => {
            let delta = Delta {
                expect: &found.compared,
                removed: &found.removed,
            };
            state
                .writer
                .swap_staged(scope, actor, &staging, &delta)
                .await
                .map(|_| (found.reports, true))
                .map_err(BackupError::from)
        }
        Err(e) => Err(e),
    };
    let (collections, restored) = match swapped {
        Ok(done) => done,
        Err(e) => {
            if !dry_run {
                if let Err(drop_err) = state.writer.drop_staged(scope, &staging).await {
                    tracing::warn!(error = %drop_err, staging, "restore staging not dropped");
                }
            }
            return Err(e);
        }
    };
    let mut totals = RestoreTotals::default();
    for c in &collections {
        totals.in_backup += c.in_backup;
        totals.current += c.current;
        totals.added += c.added;
        totals.removed += c.removed;
        totals.modified += c.modified;
        totals.unchanged += c.unchanged;
    }
    if restored {
        tracing::info!(
            tenant = scope.tenant(),
            backup = id,
            added = totals.added,
            removed = totals.removed,
            modified = totals.modified,
            "restore completed"
        );
    }
    Ok(RestoreReport {
        backup: id.to_string(),
        dry_run,
        restored,
        target_time,
        replayed_changes,
        started_at,
        finished_at: Utc::now(),
        collections,
        totals,
        untouched: domain::excluded(),
    })
}

/// What comparing an archived record with the current one found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Added,
    Modified,
    Unchanged,
}

/// The comparison's outcome: the report, and what the swap needs.
struct Found {
    reports: Vec<CollectionReport>,
    /// What each collection held when compared (the swap checks it still does).
    compared: Vec<(Collection, CollectionState)>,
    /// Every current record the archive does not hold.
    removed: Vec<(Collection, String)>,
}

/// Compares the archive's records with the current ones, both in (collection, id) order.
struct Diff {
    current: BoxStream<'static, StoreResult<RawRecord>>,
    head: Option<RawRecord>,
    exhausted: bool,
    reports: BTreeMap<&'static str, CollectionReport>,
    compared: BTreeMap<&'static str, (Collection, CollectionState)>,
    removed: Vec<(Collection, String)>,
}

fn key(r: &RawRecord) -> (&'static str, &str) {
    (r.collection.name(), r.id.as_str())
}

fn listed(ids: &mut Vec<String>, id: &str) {
    if ids.len() < LISTED_IDS {
        ids.push(id.to_string());
    }
}

impl Diff {
    fn new(colls: &[Collection], current: BoxStream<'static, StoreResult<RawRecord>>) -> Self {
        let reports = colls
            .iter()
            .map(|c| {
                (
                    c.name(),
                    CollectionReport {
                        collection: c.name().to_string(),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let compared = colls
            .iter()
            .map(|c| (c.name(), (*c, CollectionState::default())))
            .collect();
        Self {
            current,
            head: None,
            exhausted: false,
            reports,
            compared,
            removed: Vec::new(),
        }
    }

    fn report(&mut self, c: Collection) -> &mut CollectionReport {
        self.reports
            .entry(c.name())
            .or_insert_with(|| CollectionReport {
                collection: c.name().to_string(),
                ..Default::default()
            })
    }

    /// Reads the next current record, counting it into what its collection held.
    async fn fill(&mut self) -> StoreResult<()> {
        if self.head.is_none() && !self.exhausted {
            self.head = self.current.next().await.transpose()?;
            self.exhausted = self.head.is_none();
            if let Some(c) = &self.head {
                self.compared
                    .entry(c.collection.name())
                    .or_insert_with(|| (c.collection, CollectionState::default()))
                    .1
                    .add(c.revision, c.updated_at);
            }
        }
        Ok(())
    }

    fn removed(&mut self, c: RawRecord) {
        let r = self.report(c.collection);
        r.current += 1;
        r.removed += 1;
        listed(&mut r.removed_ids, &c.id);
        self.removed.push((c.collection, c.id));
    }

    async fn archived(&mut self, a: &RawRecord) -> StoreResult<Change> {
        self.report(a.collection).in_backup += 1;
        loop {
            self.fill().await?;
            let order = self.head.as_ref().map(|c| key(c).cmp(&key(a)));
            match order {
                Some(std::cmp::Ordering::Less) => {
                    let c = self.head.take().expect("peeked");
                    self.removed(c);
                }
                Some(std::cmp::Ordering::Equal) => {
                    let c = self.head.take().expect("peeked");
                    let r = self.report(a.collection);
                    r.current += 1;
                    return Ok(if c == *a {
                        r.unchanged += 1;
                        Change::Unchanged
                    } else {
                        r.modified += 1;
                        listed(&mut r.modified_ids, &a.id);
                        Change::Modified
                    });
                }
                Some(std::cmp::Ordering::Greater) | None => break,
            }
        }
        let r = self.report(a.collection);
        r.added += 1;
        listed(&mut r.added_ids, &a.id);
        Ok(Change::Added)
    }

    /// The current records the archive did not have are what a restore removes.
    async fn finish(mut self) -> StoreResult<Found> {
        loop {
            self.fill().await?;
            match self.head.take() {
                Some(c) => self.removed(c),
                None => break,
            }
        }
        Ok(Found {
            reports: self.reports.into_values().collect(),
            compared: self.compared.into_values().collect(),
            removed: self.removed,
        })
    }
}

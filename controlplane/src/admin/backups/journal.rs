//! The change journal: what point-in-time recovery replays on top of a backup.
//!
//! Every committed change to a tenant's collections that a restore puts back
//! ([`domain::restorable`]: what backups hold, less the append-only audit log) reaches
//! [`JournalHook`] through the write path and is appended, with the next
//! sequence number of the tenant, to an append-only local file:
//! `<journal dir>/<tenant>/journal.log`, one JSON line per entry, synced before the hook
//! returns. Shipping ([`Journal::ship`], every `--journal-ship-interval-seconds` and on
//! graceful shutdown) seals the unshipped entries into a segment (zstd and AES-256-GCM
//! frames under the backup key, as archives are) and writes it to the backup destination as
//! `<tenant>/journal/<first>-<last>.nxjl`, under a temporary name first. Only once the
//! segment is committed does the local file forget those entries (`state.json` records the
//! last shipped sequence first, then the file is rewritten without them), so a destination
//! outage leaves them local and the next round ships them.
//!
//! Why a local file and not a store collection: appending needs no second trip through the
//! write path (whose hooks would see their own writes) and keeps the journal's cost off the
//! store; the file lives on the instance's data volume beside the embedded store (or on the
//! backup volume by default). The crash window: a change is committed to the store before
//! the hook appends it, so a process killed between the two loses that one entry from the
//! journal (the store has it, and the next backup holds it); an entry torn by a crash
//! mid-append is dropped when the file is next opened. Entries are lost for good only with
//! the local volume, and then only those not yet shipped: at most one shipping interval.
//! One instance writes one journal directory: replicas each need their own.
use std::{
    collections::{BTreeMap, HashMap},
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    archive::{self, ArchiveError, ArchiveKey},
    destination::{Destination, DestinationError},
    domain,
};
use crate::{
    metrics::JournalMetrics,
    state::{AppState, SharedState},
    store::{
        write::{Change, ChangeKind, Replaced, WriteHook},
        Collection, RawRecord, TenantScope,
    },
};

/// File name ending of a shipped segment.
pub const SEGMENT_EXTENSION: &str = ".nxjl";
/// Entries per segment at most (a long outage ships in several).
const SEGMENT_MAX_ENTRIES: usize = 20_000;
const LOG_FILE: &str = "journal.log";
const STATE_FILE: &str = "state.json";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("change journal I/O: {0}")]
    Io(#[from] io::Error),
    #[error("change journal entry unreadable: {0}")]
    Corrupt(String),
    #[error("journal segment {name}: {source}")]
    Segment {
        name: String,
        #[source]
        source: ArchiveError,
    },
    #[error("backup destination {path}: {source}")]
    Destination {
        path: String,
        #[source]
        source: DestinationError,
    },
}

/// One journal entry: the tenant's sequence number, the change's time, and what it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Op {
    /// The record as stored after a create or update: collection, id, revision, list fields
    /// and document.
    Put {
        c: String,
        id: String,
        rev: u64,
        f: Value,
        doc: Value,
    },
    Delete {
        c: String,
        id: String,
    },
    /// A restore swapped these collections in wholesale (no per-record entries).
    Replaced {
        collections: Vec<String>,
    },
}

impl Entry {
    fn collection(&self) -> Option<&str> {
        match &self.op {
            Op::Put { c, .. } | Op::Delete { c, .. } => Some(c),
            Op::Replaced { .. } => None,
        }
    }
}

/// What the journal makes of a committed change; `None` for collections no restore puts back
/// (those backups leave out, and the append-only audit log: a replay never applies it, and
/// journaling it would cost every audited request a synced append for nothing).
pub fn entry_op(change: &Change) -> Option<Op> {
    domain::restorable(change.collection).ok()?;
    let c = change.collection.name().to_string();
    let id = change.id.clone();
    match (change.kind, &change.after) {
        (ChangeKind::Deleted, _) => Some(Op::Delete { c, id }),
        (_, Some(doc)) => Some(Op::Put {
            c,
            id,
            rev: change.revision,
            f: Value::Object(change.fields.clone().unwrap_or_default()),
            doc: doc.clone(),
        }),
        (_, None) => None,
    }
}

/// `<first>-<last>.nxjl`, zero-padded so names sort by sequence.
pub fn segment_name(first: u64, last: u64) -> String {
    format!("{first:020}-{last:020}{SEGMENT_EXTENSION}")
}

/// The first and last sequence of a segment name.
pub fn parse_segment(name: &str) -> Option<(u64, u64)> {
    let (a, b) = name.strip_suffix(SEGMENT_EXTENSION)?.split_once('-')?;
    let (first, last) = (a.parse().ok()?, b.parse().ok()?);
    (first <= last).then_some((first, last))
}

/// The segments holding entries after sequence `after`, in sequence order.
pub fn segments_after(names: &[String], after: u64) -> Vec<(u64, u64, String)> {
    let mut out: Vec<(u64, u64, String)> = names
        .iter()
        .filter_map(|n| parse_segment(n).map(|(f, l)| (f, l, n.clone())))
        .filter(|(_, last, _)| *last > after)
        .collect();
    out.sort();
    out
}

/// The last sequence the segments hold (0 for none).
pub fn last_in(names: &[String]) -> u64 {
    names
        .iter()
        .filter_map(|n| parse_segment(n).map(|(_, last)| last))
        .max()
        .unwrap_or(0)
}

/// The segments whose every entry is at or before sequence `upto` (what retention removes).
pub fn segments_through(names: &[String], upto: u64) -> Vec<String> {
    names
        .iter()
        .filter(|n| parse_segment(n).is_some_and(|(_, last)| last <= upto))
        .cloned()
        .collect()
}

fn segment_id(first: u64, last: u64) -> String {
    format!("journal-{first}-{last}")
}

/// Seals entries (in sequence order) into a segment.
pub fn encode_segment(
    key: &ArchiveKey,
    tenant: &str,
    entries: &[Entry],
) -> Result<(String, Vec<u8>), JournalError> {
    let (first, last) = match (entries.first(), entries.last()) {
        (Some(f), Some(l)) => (f.seq, l.seq),
        _ => return Err(JournalError::Corrupt("an empty segment".into())),
    };
    let mut plain = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut plain, e).map_err(io::Error::other)?;
        plain.push(b'\n');
    }
    let name = segment_name(first, last);
    let sealed =
        archive::seal_bytes(key, &segment_id(first, last), tenant, &plain).map_err(|source| {
            JournalError::Segment {
                name: name.clone(),
                source,
            }
        })?;
    Ok((name, sealed))
}

/// Opens a segment, checking its frames, that it is the tenant's segment of that name, and
/// that it holds exactly the entries its name says.
pub fn decode_segment(
    key: &ArchiveKey,
    tenant: &str,
    name: &str,
    bytes: &[u8],
) -> Result<Vec<Entry>, JournalError> {
    let bad = |why: String| JournalError::Segment {
        name: name.to_string(),
        source: ArchiveError::Corrupt(why),
    };
    let (first, last) =
        parse_segment(name).ok_or_else(|| bad("not a journal segment name".into()))?;
    let (header, plain) =
        archive::unseal_bytes(bytes, key).map_err(|source| JournalError::Segment {
            name: name.to_string(),
            source,
        })?;
    if header.backup_id != segment_id(first, last) || header.tenant != tenant {
        return Err(bad(format!(
            "it holds {} of tenant {}",
            header.backup_id, header.tenant
        )));
    }
    let mut out = Vec::new();
    for line in plain.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let e: Entry = serde_json::from_slice(line).map_err(|e| bad(format!("entry: {e}")))?;
        out.push(e);
    }
    let seqs: Vec<u64> = out.iter().map(|e| e.seq).collect();
    if seqs != (first..=last).collect::<Vec<_>>() {
        return Err(bad("its entries are not the sequences its name says".into()));
    }
    Ok(out)
}

/// What replaying the journal does to one record.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// The record as it was after its last change at or before the target time.
    Put(RawRecord),
    /// Deleted by then.
    Delete { at: DateTime<Utc> },
}

/// The journal's net effect up to a target time, per (collection, id).
#[derive(Clone, Debug, Default)]
pub struct Replay {
    pub effects: BTreeMap<(&'static str, String), Effect>,
    /// Entries replayed (changes to the selected collections in the window).
    pub replayed: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReplayError {
    #[error("the change journal is missing entry {0} (a segment was removed or never shipped), so that time cannot be recovered")]
    Gap(u64),
    #[error("the tenant's {collections} were restored at {at}; recover to a time before it, or from a backup taken after it")]
    Restored {
        at: DateTime<Utc>,
        collections: String,
    },
    #[error("journal entry {seq} names an unknown collection {name}")]
    Unknown { seq: u64, name: String },
}

/// Plans a replay: the entries after sequence `after` (the backup's position) with times up
/// to `until`, for the collections `colls`. Every entry from `after + 1` to `head` (the
/// journal's last sequence) must be there: a missing one may be a change before `until`, and
/// nothing else tells. Per record, the latest change by (time, sequence) wins: concurrent
/// writers' hooks may append in another order than they committed, but one record's changes
/// are ordered in time since each is based on the one before.
pub fn plan(
    entries: &BTreeMap<u64, Entry>,
    after: u64,
    head: u64,
    until: DateTime<Utc>,
    colls: &[Collection],
) -> Result<Replay, ReplayError> {
    if let Some(missing) = (after + 1..=head).find(|s| !entries.contains_key(s)) {
        return Err(ReplayError::Gap(missing));
    }
    let window: Vec<&Entry> = entries
        .range(after + 1..)
        .map(|(_, e)| e)
        .filter(|e| e.at <= until)
        .collect();
    let selected: Vec<&str> = colls.iter().map(|c| c.name()).collect();
    let mut latest: BTreeMap<(&'static str, String), &Entry> = BTreeMap::new();
    let mut replayed = 0;
    for e in window {
        if let Op::Replaced { collections } = &e.op {
            let hit: Vec<&str> = collections
                .iter()
                .map(String::as_str)
                .filter(|c| selected.contains(c))
                .collect();
            if !hit.is_empty() {
                return Err(ReplayError::Restored {
                    at: e.at,
                    collections: hit.join(", "),
                });
            }
            continue;
        }
        let name = e.collection().unwrap_or_default();
        let Some(coll) = Collection::from_name(name) else {
            return Err(ReplayError::Unknown {
                seq: e.seq,
                name: name.to_string(),
            });
        };
        if !colls.contains(&coll) {
            continue;
        }
        replayed += 1;
        let id = match &e.op {
            Op::Put { id, .. } | Op::Delete { id, .. } => id.clone(),
            Op::Replaced { .. } => continue,
        };
        let slot = latest.entry((coll.name(), id)).or_insert(e);
        if (e.at, e.seq) > (slot.at, slot.seq) {
            *slot = e;
        }
    }
    let effects = latest
        .into_iter()
        .map(|((c, id), e)| {
            let effect = match &e.op {
                Op::Put { rev, f, doc, .. } => Effect::Put(RawRecord {
                    collection: Collection::from_name(c).expect("checked above"),
                    id: id.clone(),
                    revision: *rev,
                    updated_at: e.at,
                    doc: doc.to_string(),
                    fields: f.to_string(),
                }),
                _ => Effect::Delete { at: e.at },
            };
            ((c, id), effect)
        })
        .collect();
    Ok(Replay { effects, replayed })
}

/// Merges a replay into the archive's records, both in (collection, id) order, keeping that
/// order. A record of the archive newer than the journal's last change to it (the change was
/// committed before the snapshot but journaled after the backup's position) stays as it is.
pub struct Merge {
    effects:
        std::iter::Peekable<std::collections::btree_map::IntoIter<(&'static str, String), Effect>>,
}

impl Default for Merge {
    fn default() -> Self {
        Self::new(BTreeMap::new())
    }
}

impl Merge {
    pub fn new(replay: BTreeMap<(&'static str, String), Effect>) -> Self {
        Self {
            effects: replay.into_iter().peekable(),
        }
    }

    /// The records to restore up to and including `archived`'s place.
    pub fn push(&mut self, archived: RawRecord, out: &mut Vec<RawRecord>) {
        let key = (archived.collection.name(), archived.id.as_str());
        while let Some(((c, id), _)) = self.effects.peek() {
            if (*c, id.as_str()) >= key {
                break;
            }
            if let Some((_, Effect::Put(r))) = self.effects.next() {
                out.push(r);
            }
        }
        let same = self
            .effects
            .peek()
            .is_some_and(|((c, id), _)| (*c, id.as_str()) == key);
        if !same {
            out.push(archived);
            return;
        }
        let (_, effect) = self.effects.next().expect("peeked");
        match effect {
            Effect::Put(r) if r.updated_at >= archived.updated_at => out.push(r),
            Effect::Delete { at } if at >= archived.updated_at => {}
            _ => out.push(archived),
        }
    }

    /// The journal's records after the archive's last one.
    pub fn finish(self, out: &mut Vec<RawRecord>) {
        for (_, effect) in self.effects {
            if let Effect::Put(r) = effect {
                out.push(r);
            }
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShipState {
    /// Every entry up to this sequence is in a committed segment.
    shipped: u64,
    #[serde(default)]
    shipped_at: Option<DateTime<Utc>>,
}

/// One tenant's local journal file and counters.
struct Log {
    dir: PathBuf,
    file: File,
    len: u64,
    next: u64,
    state: ShipState,
    /// Time of the oldest entry not shipped yet.
    oldest_unshipped: Option<DateTime<Utc>>,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `bytes` atomically (temporary file, sync, rename, sync the folder).
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Reads the entries of a journal file; a torn last line (a crash mid-append) ends the read,
/// and its offset is returned so the file can be cut there.
fn read_entries(path: &Path) -> Result<(Vec<Entry>, u64), JournalError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e.into()),
    };
    let mut r = BufReader::new(file);
    let (mut out, mut good, mut line) = (Vec::new(), 0u64, Vec::new());
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        // Only the last line can be torn (a crash mid-append); it ends the read.
        if !line.ends_with(b"\n") {
            break;
        }
        match serde_json::from_slice::<Entry>(&line) {
            Ok(e) => {
                out.push(e);
                good += n as u64;
            }
            Err(e) => {
                return Err(JournalError::Corrupt(format!(
                    "{} at byte {good}: {e}",
                    path.display()
                )))
            }
        }
    }
    Ok((out, good))
}

impl Log {
    fn open(dir: PathBuf) -> Result<Self, JournalError> {
        std::fs::create_dir_all(&dir)?;
        let state: ShipState = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| JournalError::Corrupt(format!("{STATE_FILE}: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => ShipState::default(),
            Err(e) => return Err(e.into()),
        };
        let path = dir.join(LOG_FILE);
        let (entries, good) = read_entries(&path)?;
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if file.metadata()?.len() > good {
            file.set_len(good)?;
            file.sync_all()?;
        }
        let last = entries.last().map_or(0, |e| e.seq);
        let oldest_unshipped = entries.iter().find(|e| e.seq > state.shipped).map(|e| e.at);
        Ok(Self {
            dir,
            file,
            len: good,
            next: last.max(state.shipped) + 1,
            state,
            oldest_unshipped,
        })
    }

    fn append(&mut self, at: DateTime<Utc>, op: Op) -> Result<u64, JournalError> {
        let entry = Entry {
            seq: self.next,
            at,
            op,
        };
        let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let written = self
            .file
            .write_all(&line)
            .and_then(|_| self.file.sync_data());
        if let Err(e) = written {
            // Cut what may have been half written, so later entries are not behind a torn line.
            let _ = self.file.set_len(self.len);
            return Err(e.into());
        }
        self.len += line.len() as u64;
        self.next += 1;
        self.oldest_unshipped.get_or_insert(at);
        Ok(entry.seq)
    }

    fn unshipped(&self, after: u64, max: usize) -> Result<Vec<Entry>, JournalError> {
        let (entries, _) = read_entries(&self.dir.join(LOG_FILE))?;
        Ok(entries
            .into_iter()
            .filter(|e| e.seq > after.max(self.state.shipped))
            .take(max)
            .collect())
    }

    /// Makes the log go on after sequence `after`, the last one the destination holds.
    /// A log that has shipped before wrote those segments itself (a crash between a segment's
    /// commit and the local record of it leaves its entries here): they count as shipped. A
    /// log that never shipped (new, or its volume lost; an instance recovered into) was not
    /// their writer: its entries are renumbered after `after`, so its segments never take
    /// names already used. Nothing changes when the log is already past `after`.
    fn rebase(&mut self, after: u64) -> Result<(), JournalError> {
        if self.state.shipped >= after {
            return Ok(());
        }
        let path = self.dir.join(LOG_FILE);
        let (entries, _) = read_entries(&path)?;
        let shipped_before = self.state.shipped_at.is_some();
        let mut rest = Vec::new();
        let (mut last, mut oldest) = (after, None);
        for mut e in entries.into_iter().filter(|e| e.seq > self.state.shipped) {
            if shipped_before {
                if e.seq <= after {
                    continue;
                }
            } else {
                e.seq = last + 1;
            }
            last = last.max(e.seq);
            oldest.get_or_insert(e.at);
            serde_json::to_writer(&mut rest, &e).map_err(io::Error::other)?;
            rest.push(b'\n');
        }
        // The entries first, then the shipped mark: a crash between the two leaves entries
        // above the old mark, which the next open counts on from.
        replace_file(&self.dir, LOG_FILE, &rest)?;
        self.state.shipped = after;
        let state = serde_json::to_vec(&self.state).map_err(io::Error::other)?;
        replace_file(&self.dir, STATE_FILE, &state)?;
        self.file = OpenOptions::new().append(true).open(&path)?;
        self.len = rest.len() as u64;
        self.next = last + 1;
        self.oldest_unshipped = oldest;
        Ok(())
    }

    /// Records that everything up to `shipped` is in the destination, then drops it locally.
    fn shipped(&mut self, shipped: u64, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.state = ShipState {
            shipped,
            shipped_at: Some(at),
        };
        let state = serde_json::to_vec(&self.state).map_err(io::Error::other)?;
        replace_file(&self.dir, STATE_FILE, &state)?;
        let path = self.dir.join(LOG_FILE);
        let (entries, _) = read_entries(&path)?;
        let mut rest = Vec::new();
        let mut oldest = None;
        for e in entries.iter().filter(|e| e.seq > shipped) {
            oldest.get_or_insert(e.at);
            serde_json::to_writer(&mut rest, e).map_err(io::Error::other)?;
            rest.push(b'\n');
        }
        replace_file(&self.dir, LOG_FILE, &rest)?;
        self.file = OpenOptions::new().append(true).open(&path)?;
        self.len = rest.len() as u64;
        self.oldest_unshipped = oldest;
        Ok(())
    }
}

struct Inner {
    dir: PathBuf,
    tenants: Mutex<HashMap<String, Arc<Mutex<Log>>>>,
    metrics: JournalMetrics,
    /// One shipping round at a time (the interval and shutdown may meet).
    shipping: tokio::sync::Mutex<()>,
}

/// The change journals of the instance's tenants.
#[derive(Clone)]
pub struct Journal(Arc<Inner>);

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| JournalError::Io(io::Error::other(e)))?
}

impl Journal {
    pub fn new(dir: PathBuf, metrics: JournalMetrics) -> Self {
        Self(Arc::new(Inner {
            dir,
            tenants: Mutex::default(),
            metrics,
            shipping: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.0.dir
    }

    /// The tenant's log, opened on first use. Call on a blocking thread.
    fn log(&self, tenant: &str) -> Result<Arc<Mutex<Log>>, JournalError> {
        let mut tenants = self.0.tenants.lock().expect("journal lock");
        if let Some(l) = tenants.get(tenant) {
            return Ok(l.clone());
        }
        let log = Log::open(self.0.dir.join(tenant))?;
        self.0
            .metrics
            .opened(tenant, log.state.shipped, log.state.shipped_at);
        self.0
            .metrics
            .oldest_unshipped(tenant, log.oldest_unshipped);
        let log = Arc::new(Mutex::new(log));
        tenants.insert(tenant.to_string(), log.clone());
        Ok(log)
    }

    /// Appends an entry; returns its sequence.
    pub async fn append(
        &self,
        scope: &TenantScope,
        at: DateTime<Utc>,
        op: Op,
    ) -> Result<u64, JournalError> {
        let (this, tenant) = (self.clone(), scope.tenant().to_string());
        blocking(move || {
            let log = this.log(&tenant)?;
            let mut l = log.lock().expect("journal lock");
            let seq = l.append(at, op)?;
            this.0.metrics.oldest_unshipped(&tenant, l.oldest_unshipped);
            Ok(seq)
        })
        .await
    }

    /// The tenant's last sequence: every change committed (and journaled) before this call
    /// has a sequence at or below it.
    pub async fn position(&self, scope: &TenantScope) -> Result<u64, JournalError> {
        let (this, tenant) = (self.clone(), scope.tenant().to_string());
        blocking(move || {
            let log = this.log(&tenant)?;
            let l = log.lock().expect("journal lock");
            Ok(l.next - 1)
        })
        .await
    }

    /// Makes the tenant's sequence go on after `after`, the last one the destination holds
    /// (see `Log::rebase`): a recovered instance must not ship segments named like the ones
    /// its predecessor shipped.
    pub async fn rebase(&self, scope: &TenantScope, after: u64) -> Result<u64, JournalError> {
        let _one = self.0.shipping.lock().await;
        let (this, tenant) = (self.clone(), scope.tenant().to_string());
        blocking(move || {
            let log = this.log(&tenant)?;
            let mut l = log.lock().expect("journal lock");
            l.rebase(after)?;
            Ok(l.next - 1)
        })
        .await
    }

    /// The entries still only in the local file, after sequence `after`.
    pub async fn local_after(
        &self,
        scope: &TenantScope,
        after: u64,
    ) -> Result<Vec<Entry>, JournalError> {
        let (this, tenant) = (self.clone(), scope.tenant().to_string());
        blocking(move || {
            let log = this.log(&tenant)?;
            let l = log.lock().expect("journal lock");
            l.unshipped(after, usize::MAX)
        })
        .await
    }

    /// Ships the tenant's unshipped entries, in segments; returns the last sequence shipped
    /// (`None` when there was nothing to ship). On failure the entries stay for the next round.
    pub async fn ship(
        &self,
        dest: &Destination,
        key: &ArchiveKey,
        scope: &TenantScope,
    ) -> Result<Option<u64>, JournalError> {
        let _one = self.0.shipping.lock().await;
        let tenant = scope.tenant().to_string();
        let mut shipped = None;
        loop {
            let (this, t, k) = (self.clone(), tenant.clone(), key.clone());
            let segment = blocking(move || {
                let log = this.log(&t)?;
                let entries = log
                    .lock()
                    .expect("journal lock")
                    .unshipped(0, SEGMENT_MAX_ENTRIES)?;
                let Some(last) = entries.last().map(|e| e.seq) else {
                    return Ok(None);
                };
                let (name, bytes) = encode_segment(&k, &t, &entries)?;
                Ok(Some((name, bytes, last)))
            })
            .await?;
            let Some((name, bytes, last)) = segment else {
                return Ok(shipped);
            };
            let put = dest.put_segment(&tenant, &name, bytes).await;
            if let Err(source) = put {
                self.0.metrics.ship_failed(&tenant);
                return Err(JournalError::Destination {
                    path: dest.segment_location(&tenant, &name).to_string(),
                    source,
                });
            }
            let (this, t) = (self.clone(), tenant.clone());
            blocking(move || {
                let log = this.log(&t)?;
                let mut l = log.lock().expect("journal lock");
                let now = Utc::now();
                l.shipped(last, now)?;
                this.0.metrics.shipped(&t, last, now);
                this.0.metrics.oldest_unshipped(&t, l.oldest_unshipped);
                Ok(())
            })
            .await?;
            shipped = Some(last);
        }
    }

    /// The tenants with a journal here (those written to since start, and older folders).
    async fn tenants(&self) -> Vec<TenantScope> {
        let mut names: Vec<String> = self
            .0
            .tenants
            .lock()
            .expect("journal lock")
            .keys()
            .cloned()
            .collect();
        if let Ok(mut rd) = tokio::fs::read_dir(&self.0.dir).await {
            while let Ok(Some(e)) = rd.next_entry().await {
                names.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        names.dedup();
        names.iter().filter_map(|n| TenantScope::new(n)).collect()
    }

    /// Ships every tenant's journal; failures are logged and retried next time.
    pub async fn ship_all(&self, dest: &Destination, key: &ArchiveKey) {
        for scope in self.tenants().await {
            match self.ship(dest, key, &scope).await {
                Ok(Some(last)) => {
                    tracing::debug!(tenant = scope.tenant(), last, "journal shipped")
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    tenant = scope.tenant(), error = %e,
                    "journal not shipped; its entries stay local and are retried"
                ),
            }
        }
    }
}

/// Ships every tenant's journal at `every`.
pub async fn ship_loop(state: SharedState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (dest, key) = (domain::destination(&state), domain::archive_key(&state));
        state.journal.ship_all(&dest, &key).await;
    }
}

/// Removes the tenant's segments that hold only entries at or before `upto` (the oldest kept
/// backup's position): no recovery can start before that backup. Returns how many went.
pub async fn prune(
    dest: &Destination,
    scope: &TenantScope,
    upto: u64,
) -> Result<usize, JournalError> {
    let tenant = scope.tenant();
    let at = |name: &str| {
        let path = dest.segment_location(tenant, name).to_string();
        move |source| JournalError::Destination { path, source }
    };
    let names = dest.segments(tenant).await.map_err(at(""))?;
    let gone = segments_through(&names, upto);
    for name in &gone {
        dest.remove(&dest.segment_location(tenant, name))
            .await
            .map_err(at(name))?;
    }
    Ok(gone.len())
}

/// Every journal entry after `after` the tenant has: shipped segments and the local file.
pub async fn entries_after(
    state: &AppState,
    scope: &TenantScope,
    after: u64,
) -> Result<BTreeMap<u64, Entry>, JournalError> {
    let dest = domain::destination(state);
    let key = domain::archive_key(state);
    let tenant = scope.tenant();
    // No shipping meanwhile: entries moving from the file to a segment after the segments
    // were listed would be found in neither.
    let _no_shipping = state.journal.0.shipping.lock().await;
    let names = dest
        .segments(tenant)
        .await
        .map_err(|source| JournalError::Destination {
            path: dest.segment_location(tenant, "").to_string(),
            source,
        })?;
    let mut out = BTreeMap::new();
    for (_, _, name) in segments_after(&names, after) {
        let bytes =
            dest.read_segment(tenant, &name)
                .await
                .map_err(|source| JournalError::Destination {
                    path: dest.segment_location(tenant, &name).to_string(),
                    source,
                })?;
        let (k, t, n) = (key.clone(), tenant.to_string(), name.clone());
        let entries = blocking(move || decode_segment(&k, &t, &n, &bytes)).await?;
        out.extend(
            entries
                .into_iter()
                .filter(|e| e.seq > after)
                .map(|e| (e.seq, e)),
        );
    }
    for e in state.journal.local_after(scope, after).await? {
        out.insert(e.seq, e);
    }
    Ok(out)
}

/// Appends every committed change of a backed-up collection to the tenant's journal.
pub struct JournalHook(pub Journal);

#[async_trait]
impl WriteHook for JournalHook {
    async fn committed(&self, change: &Change) {
        let Some(op) = entry_op(change) else {
            return;
        };
        if let Err(e) = self.0.append(&change.tenant, change.at, op).await {
            // The change is committed; the journal cannot undo it. The gap it leaves makes a
            // recovery across it fail loudly rather than silently miss the change.
            tracing::error!(
                tenant = change.tenant.tenant(), collection = change.collection.name(),
                id = change.id, error = %e, "change not journaled"
            );
            self.0 .0.metrics.append_failed(change.tenant.tenant());
        }
    }

    async fn replaced(&self, r: &Replaced) {
        let collections: Vec<String> = r
            .collections
            .iter()
            .filter(|c| domain::restorable(**c).is_ok())
            .map(|c| c.name().to_string())
            .collect();
        if collections.is_empty() {
            return;
        }
        if let Err(e) = self
            .0
            .append(&r.tenant, r.at, Op::Replaced { collections })
            .await
        {
            tracing::error!(tenant = r.tenant.tenant(), error = %e, "restore not journaled");
            self.0 .0.metrics.append_failed(r.tenant.tenant());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
    }

    /// The sequences of the log's entries not shipped yet.
    fn unshipped(log: &Log) -> Vec<u64> {
        log.unshipped(0, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    fn put(seq: u64, ms: i64, c: &str, id: &str, n: u64) -> Entry {
        Entry {
            seq,
            at: t(ms),
            op: Op::Put {
                c: c.into(),
                id: id.into(),
                rev: n,
                f: json!({"kind": "x"}),
                doc: json!({"id": id, "n": n}),
            },
        }
    }

    fn del(seq: u64, ms: i64, c: &str, id: &str) -> Entry {
        Entry {
            seq,
            at: t(ms),
            op: Op::Delete {
                c: c.into(),
                id: id.into(),
            },
        }
    }

    fn map(entries: Vec<Entry>) -> BTreeMap<u64, Entry> {
        entries.into_iter().map(|e| (e.seq, e)).collect()
    }

    fn raw(c: Collection, id: &str, n: u64, ms: i64) -> RawRecord {
        RawRecord {
            collection: c,
            id: id.into(),
            revision: n,
            updated_at: t(ms),
            doc: json!({"id": id, "n": n}).to_string(),
            fields: json!({"kind": "x"}).to_string(),
        }
    }

    const COLLS: [Collection; 2] = [Collection::Dashboards, Collection::Users];

    #[test]
    fn segments_are_selected_and_pruned_by_sequence() {
        let names: Vec<String> = vec![
            segment_name(1, 10),
            segment_name(11, 11),
            segment_name(12, 30),
            "20260101-000000-abcd0123.nxbk".into(),
            format!("{}.tmp", segment_name(31, 40)),
        ];
        assert_eq!(parse_segment(&names[0]), Some((1, 10)));
        assert_eq!(
            parse_segment("00000000000000000009-00000000000000000001.nxjl"),
            None
        );
        let after = |p| -> Vec<(u64, u64)> {
            segments_after(&names, p)
                .into_iter()
                .map(|(f, l, _)| (f, l))
                .collect()
        };
        assert_eq!(after(0), vec![(1, 10), (11, 11), (12, 30)]);
        assert_eq!(
            after(10),
            vec![(11, 11), (12, 30)],
            "ending at the position: already in the backup"
        );
        assert_eq!(after(11), vec![(12, 30)]);
        assert_eq!(
            after(15),
            vec![(12, 30)],
            "a segment across the position is read"
        );
        assert_eq!(after(30), Vec::<(u64, u64)>::new());
        assert_eq!(
            segments_through(&names, 11),
            vec![names[0].clone(), names[1].clone()]
        );
        assert_eq!(
            segments_through(&names, 29),
            vec![names[0].clone(), names[1].clone()],
            "a segment reaching past the position stays"
        );
    }

    #[test]
    fn replay_takes_each_records_last_change_in_the_window() {
        let entries = map(vec![
            put(5, 0, "users", "ann", 1),
            put(6, 10, "users", "bob", 1),
            put(7, 20, "users", "ann", 2),
            del(8, 30, "users", "bob"),
            put(9, 40, "dashboards", "d", 3),
            put(10, 50, "users", "ann", 3),
            put(11, 60, "settings", "s", 1),
        ]);
        let r = plan(&entries, 5, 11, t(45), &COLLS).unwrap();
        assert_eq!(
            r.replayed, 4,
            "seq 6..=9; 5 is in the backup, 10 and 11 are later or elsewhere"
        );
        let keys: Vec<(&str, &str)> = r.effects.keys().map(|(c, id)| (*c, id.as_str())).collect();
        assert_eq!(
            keys,
            vec![("dashboards", "d"), ("users", "ann"), ("users", "bob")]
        );
        assert_eq!(
            r.effects[&("users", "ann".to_string())],
            Effect::Put(raw(Collection::Users, "ann", 2, 20))
        );
        assert_eq!(
            r.effects[&("users", "bob".to_string())],
            Effect::Delete { at: t(30) }
        );
        // Hooks that appended out of commit order: the later change still wins.
        let swapped = map(vec![
            put(1, 20, "users", "ann", 2),
            put(2, 10, "users", "ann", 1),
        ]);
        let r = plan(&swapped, 0, 2, t(100), &COLLS).unwrap();
        assert_eq!(
            r.effects[&("users", "ann".to_string())],
            Effect::Put(raw(Collection::Users, "ann", 2, 20))
        );
    }

    #[test]
    fn replay_refuses_gaps_and_restores_in_the_window() {
        let entries = map(vec![
            put(3, 0, "users", "a", 1),
            put(5, 10, "users", "b", 1),
        ]);
        assert_eq!(
            plan(&entries, 2, 5, t(100), &COLLS).unwrap_err(),
            ReplayError::Gap(4)
        );
        assert_eq!(
            plan(&entries, 1, 5, t(100), &COLLS).unwrap_err(),
            ReplayError::Gap(2)
        );
        // Entries missing after the target time still refuse: their times are unknown.
        assert_eq!(
            plan(&entries, 2, 5, t(5), &COLLS).unwrap_err(),
            ReplayError::Gap(4)
        );
        assert_eq!(plan(&entries, 2, 3, t(5), &COLLS).unwrap().replayed, 1);
        // Every entry after the backup gone: refused, not a silent restore of the backup alone.
        assert_eq!(
            plan(&BTreeMap::new(), 2, 4, t(5), &COLLS).unwrap_err(),
            ReplayError::Gap(3)
        );
        assert_eq!(
            plan(&BTreeMap::new(), 4, 4, t(5), &COLLS).unwrap().replayed,
            0
        );
        let restored = map(vec![
            put(1, 0, "users", "a", 1),
            Entry {
                seq: 2,
                at: t(10),
                op: Op::Replaced {
                    collections: vec!["users".into()],
                },
            },
        ]);
        assert!(matches!(
            plan(&restored, 0, 2, t(20), &COLLS).unwrap_err(),
            ReplayError::Restored { .. }
        ));
        assert_eq!(
            plan(&restored, 0, 2, t(20), &[Collection::Dashboards])
                .unwrap()
                .replayed,
            0
        );
        assert_eq!(plan(&restored, 0, 2, t(5), &COLLS).unwrap().replayed, 1);
    }

    #[test]
    fn merge_keeps_order_and_never_rewinds_a_newer_archived_record() {
        let entries = map(vec![
            put(1, 10, "dashboards", "a", 2),
            put(2, 10, "users", "b", 5),
            del(3, 20, "users", "c"),
            put(4, 30, "users", "z", 1),
            del(5, 5, "users", "old"),
        ]);
        let r = plan(&entries, 0, 5, t(100), &COLLS).unwrap();
        let mut m = Merge::new(r.effects);
        let mut out = Vec::new();
        for rec in [
            raw(Collection::Dashboards, "m", 1, 0),
            raw(Collection::Users, "b", 9, 50),
            raw(Collection::Users, "c", 1, 0),
            raw(Collection::Users, "old", 1, 7),
        ] {
            m.push(rec, &mut out);
        }
        m.finish(&mut out);
        assert_eq!(
            out,
            vec![
                raw(Collection::Dashboards, "a", 2, 10),
                raw(Collection::Dashboards, "m", 1, 0),
                raw(Collection::Users, "b", 9, 50),
                raw(Collection::Users, "old", 1, 7),
                raw(Collection::Users, "z", 1, 30),
            ],
            "a added before m; b newer in the archive stays; c deleted; old re-created after its delete stays; z added at the end"
        );
    }

    #[test]
    fn segments_round_trip_and_refuse_tampering() {
        let key = ArchiveKey::new([9; 32]);
        let entries = vec![put(7, 0, "users", "ann", 1), del(8, 1, "users", "bob")];
        let (name, bytes) = encode_segment(&key, "acme", &entries).unwrap();
        assert_eq!(name, segment_name(7, 8));
        assert_eq!(
            decode_segment(&key, "acme", &name, &bytes).unwrap(),
            entries
        );
        assert!(
            !String::from_utf8_lossy(&bytes).contains("ann"),
            "entries are encrypted"
        );
        let mut bad = bytes.clone();
        let mid = bad.len() - 20;
        bad[mid] ^= 1;
        assert!(decode_segment(&key, "acme", &name, &bad).is_err());
        assert!(
            decode_segment(&key, "other", &name, &bytes).is_err(),
            "another tenant's"
        );
        assert!(
            decode_segment(&key, "acme", &segment_name(7, 9), &bytes).is_err(),
            "renamed"
        );
        assert!(decode_segment(&ArchiveKey::new([1; 32]), "acme", &name, &bytes).is_err());
    }

    #[test]
    fn the_local_log_survives_reopening_a_torn_line_and_shipping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme");
        let mut log = Log::open(path.clone()).unwrap();
        for i in 0..3 {
            log.append(t(i), put(0, 0, "users", &format!("u{i}"), 1).op)
                .unwrap();
        }
        drop(log);
        // A crash in the middle of an append leaves a torn line: dropped on reopening.
        let mut f = OpenOptions::new()
            .append(true)
            .open(path.join(LOG_FILE))
            .unwrap();
        f.write_all(b"{\"seq\":4,\"at\":\"20").unwrap();
        drop(f);
        let mut log = Log::open(path.clone()).unwrap();
        assert_eq!(log.next, 4);
        assert_eq!(log.oldest_unshipped, Some(t(0)));
        assert_eq!(log.append(t(3), put(0, 0, "users", "u3", 1).op).unwrap(), 4);
        log.shipped(2, t(10)).unwrap();
        assert_eq!(unshipped(&log), vec![3, 4]);
        assert_eq!(log.oldest_unshipped, Some(t(2)));
        log.shipped(4, t(11)).unwrap();
        drop(log);
        let mut log = Log::open(path).unwrap();
        assert_eq!(
            (log.next, log.state.shipped, log.oldest_unshipped),
            (5, 4, None)
        );
        assert_eq!(
            log.append(t(12), put(0, 0, "users", "u5", 1).op).unwrap(),
            5,
            "sequences go on after everything shipped"
        );
    }

    #[test]
    fn a_rebased_log_goes_on_after_the_predecessors_last_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme");
        let mut log = Log::open(path.clone()).unwrap();
        log.append(t(0), put(0, 0, "tenants", "acme", 1).op)
            .unwrap();
        log.rebase(40).unwrap();
        assert_eq!((log.state.shipped, log.next), (40, 42));
        assert_eq!(
            unshipped(&log),
            vec![41],
            "the unshipped entry is renumbered after 40"
        );
        assert_eq!(log.append(t(1), put(0, 0, "users", "u", 1).op).unwrap(), 42);
        log.rebase(10).unwrap();
        assert_eq!(log.next, 43, "a lower sequence changes nothing");
        drop(log);
        let log = Log::open(path).unwrap();
        assert_eq!((log.state.shipped, log.next), (40, 43));
        assert_eq!(
            last_in(&[segment_name(1, 5), segment_name(6, 40), "x.nxbk".into()]),
            40
        );
        // A log that shipped before and crashed between a commit and its own record of it:
        // the entries the destination holds count as shipped, not as new ones.
        let path = dir.path().join("globex");
        let mut log = Log::open(path).unwrap();
        for i in 0..4 {
            log.append(t(i), put(0, 0, "users", &format!("u{i}"), 1).op)
                .unwrap();
        }
        log.shipped(1, t(10)).unwrap();
        log.rebase(3).unwrap();
        assert_eq!((unshipped(&log), log.next), (vec![4], 5));
    }
}

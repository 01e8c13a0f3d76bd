//! Appending to a tenant's audit log, verifying it and reading it back.
//!
//! Appends of one tenant are serialised by a per-tenant lock that holds the chain's head (last
//! sequence number and hash), so entries form one chain. Each entry is created with
//! `Expect::Absent` under an id made of its sequence number: if another replica appended first,
//! the write conflicts, the head is re-read from the store and the append retried — replicas
//! never fork the chain.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    chain::{self, Broken, Signer, Verifier, CHECKPOINT_EVERY, GENESIS},
    model::{entry_id, AuditEntry, Checkpoint, EntryBody},
};
use crate::{
    state::{AppState, SharedState},
    store::{
        decode,
        write::{Actor, Replaced, WriteError, WriteHook},
        Collection, Expect, ListQuery, Store, StoreError, TenantScope,
    },
};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("another writer kept appending; gave up after {0} attempts")]
    Contended(usize),
}

impl From<AuditError> for crate::http::ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Write(w) => w.into(),
            AuditError::Store(s) => s.into(),
            other => crate::http::ApiError::Internal(other.into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Head {
    seq: u64,
    hash: String,
}

type Slot = Arc<tokio::sync::Mutex<Option<Head>>>;

/// The audit logs of the instance's tenants: the chain heads, loaded on first use, and the
/// queue requests hand their entries to.
pub struct AuditLog {
    heads: Mutex<HashMap<TenantScope, Slot>>,
    queue: tokio::sync::mpsc::Sender<Job>,
    /// Taken by [`start_writer`]; until then entries are appended as they are submitted.
    receiver: Mutex<Option<tokio::sync::mpsc::Receiver<Job>>>,
    writing: AtomicBool,
}

/// What the writer is asked to do, in order.
enum Job {
    Append(TenantScope, Box<EntryBody>),
    /// Answered once every job queued before it is done.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Entries waiting for the writer at most; a request finding the queue full waits for room
/// (the log falls behind by no more than this, and a burst slows down instead of piling up).
const QUEUE: usize = 4096;

impl Default for AuditLog {
    fn default() -> Self {
        let (queue, receiver) = tokio::sync::mpsc::channel(QUEUE);
        Self {
            heads: Mutex::default(),
            queue,
            receiver: Mutex::new(Some(receiver)),
            writing: AtomicBool::new(false),
        }
    }
}

/// Starts the instance's audit writer (once; `serve` does): from then on a request hands its
/// entry to the queue and answers without waiting for the store, and the writer appends the
/// entries in the order they came. Readers of the log call [`AuditLog::flush`] first, so what
/// this instance answered is in what it shows. Why not append before answering: an append is
/// a store write (and, every `CHECKPOINT_EVERY` entries, a signature), several times what
/// authenticating and serving a small request costs; queued, it leaves the request's path.
/// The price is a window of a few milliseconds in which an answered request's entry is not
/// stored yet: a crash in it loses those entries (graceful shutdown flushes the queue).
pub fn start_writer(state: &SharedState) {
    let Some(mut rx) = state
        .audit
        .receiver
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    else {
        return;
    };
    let st = state.clone();
    state.audit.writing.store(true, Ordering::Release);
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            match job {
                Job::Append(scope, body) => st.audit.append_logged(&st, &scope, *body).await,
                Job::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
}

const APPEND_ATTEMPTS: usize = 8;
/// Entries read per store round trip when walking the log.
pub const PAGE: usize = 500;

/// The checkpoint signer of a tenant (its key derived from the instance's key file).
pub fn signer(state: &AppState, scope: &TenantScope) -> Signer {
    let key = state
        .keys
        .derive(&format!("audit-checkpoint:{}", scope.tenant()));
    Signer::new(key, scope.tenant())
}

/// The pseudonyms of a tenant's audit log (their key derived from the instance's key file).
pub fn pseudonyms(state: &AppState, scope: &TenantScope) -> super::chain::Pseudonyms {
    super::chain::Pseudonyms::new(
        state
            .keys
            .derive(&format!("audit-pseudonym:{}", scope.tenant())),
    )
}

impl AuditLog {
    fn slot(&self, scope: &TenantScope) -> Slot {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.entry(scope.clone()).or_default().clone()
    }

    /// The newest sequence number this instance appended or read, if it knows one now (a
    /// verify compares it with the stored log: removed newest entries show as missing).
    pub fn known_head(&self, scope: &TenantScope) -> Option<u64> {
        let slot = self.slot(scope);
        let head = slot.try_lock().ok()?;
        head.as_ref().map(|h| h.seq).filter(|s| *s > 0)
    }

    /// Forgets what this instance knows of a tenant's chain (after a restore replaced it).
    pub fn forget(&self, scope: &TenantScope) {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads.remove(scope);
    }

    /// Hands an entry to the writer (see [`start_writer`]); appends it now when no writer runs.
    /// A failure is logged and counted (`nexbii_audit_append_failures_total`): the request's
    /// effect cannot be undone by then.
    pub async fn submit(&self, state: &AppState, scope: &TenantScope, body: EntryBody) {
        let body = if self.writing.load(Ordering::Acquire) {
            match self
                .queue
                .send(Job::Append(scope.clone(), Box::new(body)))
                .await
            {
                Ok(()) => return,
                Err(tokio::sync::mpsc::error::SendError(Job::Append(_, body))) => *body,
                Err(_) => return,
            }
        } else {
            body
        };
        self.append_logged(state, scope, body).await;
    }

    async fn append_logged(&self, state: &AppState, scope: &TenantScope, body: EntryBody) {
        if let Err(e) = self.append(state, scope, body).await {
            state.metrics.audit_failures.inc();
            tracing::error!(tenant = scope.tenant(), error = %e, "audit entry not written");
        }
    }

    /// Waits until every entry submitted before the call is stored (readers of the log call
    /// this first).
    pub async fn flush(&self) {
        if !self.writing.load(Ordering::Acquire) {
            return;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.queue.send(Job::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Appends `body` (its `seq` is set here) and returns the stored entry.
    pub async fn append(
        &self,
        state: &AppState,
        scope: &TenantScope,
        mut body: EntryBody,
    ) -> Result<AuditEntry, AuditError> {
        pseudonyms(state, scope).stamp(&mut body);
        let slot = self.slot(scope);
        let mut head = slot.lock().await;
        for _ in 0..APPEND_ATTEMPTS {
            let h = match head.take() {
                Some(h) => h,
                None => load_head(state, scope).await?,
            };
            body.seq = h.seq + 1;
            let hash = chain::entry_hash(&h.hash, &body);
            let entry = AuditEntry {
                id: entry_id(body.seq),
                body: body.clone(),
                prev_hash: h.hash,
                hash: hash.clone(),
                meta: Default::default(),
            };
            match state
                .writer
                .save(scope, &Actor::System, entry, Expect::Absent)
                .await
            {
                Ok(saved) => {
                    let seq = saved.body.seq;
                    state.metrics.audit_entries.inc();
                    *head = Some(Head { seq, hash });
                    if seq % CHECKPOINT_EVERY == 0 {
                        checkpoint(state, scope, seq, &saved.hash).await?;
                    }
                    return Ok(saved);
                }
                // Another replica took this sequence number: read the head again.
                Err(WriteError::Store(StoreError::Conflict(_))) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AuditError::Contended(APPEND_ATTEMPTS))
    }
}

/// Signs and stores a checkpoint for entry `seq` (an existing one is kept).
pub async fn checkpoint(
    state: &AppState,
    scope: &TenantScope,
    seq: u64,
    hash: &str,
) -> Result<(), AuditError> {
    let cp = signer(state, scope).sign(seq, hash, now());
    match state
        .writer
        .save(scope, &Actor::System, cp, Expect::Absent)
        .await
    {
        Ok(_) | Err(WriteError::Store(StoreError::Conflict(_))) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn now() -> DateTime<Utc> {
    use chrono::{DurationRound, TimeDelta};
    let t = Utc::now();
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// The stored head: the newest entry, else (everything pruned) the newest checkpoint, else
/// the start of a chain.
async fn load_head(state: &AppState, scope: &TenantScope) -> Result<Head, AuditError> {
    let newest = ListQuery::default().limit(1).descending();
    let page = state
        .store
        .list(scope, Collection::AuditLog, &newest)
        .await?;
    if let Some(v) = page.items.into_iter().next() {
        let e: AuditEntry = decode(v)?;
        return Ok(Head {
            seq: e.body.seq,
            hash: e.hash,
        });
    }
    let page = state
        .store
        .list(scope, Collection::AuditCheckpoints, &newest)
        .await?;
    if let Some(v) = page.items.into_iter().next() {
        let c: Checkpoint = decode(v)?;
        return Ok(Head {
            seq: c.seq,
            hash: c.hash,
        });
    }
    Ok(Head {
        seq: 0,
        hash: GENESIS.to_string(),
    })
}

/// What `GET /api/v1/audit/verify` answers.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditVerifyReport)]
pub struct VerifyReport {
    /// True when every entry links to the one before and matches every signed checkpoint.
    pub valid: bool,
    /// Entries read (up to the first broken one).
    pub entries: u64,
    pub first_seq: Option<u64>,
    /// Signed checkpoints found.
    pub checkpoints: usize,
    /// Names the checkpoint key (a digest, not the key).
    pub key_id: String,
    /// The first broken link, when there is one.
    pub first_broken: Option<Broken>,
}

/// Every checkpoint of the tenant, oldest first.
pub async fn checkpoints(
    state: &AppState,
    scope: &TenantScope,
) -> Result<Vec<Checkpoint>, AuditError> {
    let mut out = Vec::new();
    let mut q = ListQuery::default().limit(PAGE);
    loop {
        let page = state
            .store
            .list(scope, Collection::AuditCheckpoints, &q)
            .await?;
        for v in page.items {
            out.push(decode::<Checkpoint>(v)?);
        }
        match page.next {
            Some(c) => q = q.after(Some(c)),
            None => return Ok(out),
        }
    }
}

/// Walks the whole log (page by page) and reports the first broken link.
pub async fn verify(state: &AppState, scope: &TenantScope) -> Result<VerifyReport, AuditError> {
    state.audit.flush().await;
    let signer = signer(state, scope);
    let mut v = Verifier::new(&signer, checkpoints(state, scope).await?)
        .with_pseudonyms(pseudonyms(state, scope));
    let mut q = ListQuery::default().limit(PAGE);
    'walk: loop {
        let page = state.store.list(scope, Collection::AuditLog, &q).await?;
        for item in page.items {
            if v.is_broken() {
                break 'walk;
            }
            v.push(&readable(item));
        }
        match page.next {
            Some(c) => q = q.after(Some(c)),
            None => break,
        }
    }
    let (entries, first_seq, checkpoints) = (v.entries, v.first_seq, v.checkpoints());
    let first_broken = v.finish(state.audit.known_head(scope));
    Ok(VerifyReport {
        valid: first_broken.is_none(),
        entries,
        first_seq,
        checkpoints,
        key_id: signer.key_id(),
        first_broken,
    })
}

/// An entry as stored; one that no longer decodes (its JSON was edited into another shape)
/// becomes an entry whose hash cannot match, so the walk reports it where it stands.
fn readable(v: Value) -> AuditEntry {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let seq = v
        .get("seq")
        .and_then(Value::as_u64)
        .or_else(|| id.parse().ok())
        .unwrap_or(0);
    decode::<AuditEntry>(v).unwrap_or_else(|_| AuditEntry {
        id,
        body: EntryBody {
            seq,
            at: DateTime::default(),
            actor: String::new(),
            actor_ref: String::new(),
            via: String::new(),
            impersonator: None,
            impersonator_ref: None,
            action: String::new(),
            target: String::new(),
            outcome: super::model::Outcome::Failure,
            status: 0,
            client: None,
            request_id: String::new(),
            queries: Vec::new(),
        },
        prev_hash: String::new(),
        hash: "unreadable".into(),
        meta: Default::default(),
    })
}

/// A restore replaced the tenant's records: the chain head this instance knew is gone.
pub struct ForgetAuditHeads(pub Arc<AuditLog>);

#[async_trait::async_trait]
impl WriteHook for ForgetAuditHeads {
    async fn committed(&self, _change: &crate::store::write::Change) {}
    async fn replaced(&self, r: &Replaced) {
        if r.collections.contains(&Collection::AuditLog) {
            self.0.forget(&r.tenant);
        }
    }
}

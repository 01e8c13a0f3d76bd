//! The hash chain and its verification, as pure functions.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's body (its JSON
//! in field order), so editing any stored entry changes its hash and breaks the link to the
//! next one; removing one leaves a gap in the sequence. Whoever can write the store could
//! still recompute every hash after an edit: signed checkpoints (HMAC-SHA256 with a key
//! derived from the instance's key file, the tenant's Secret) fix the chain's state every
//! [`CHECKPOINT_EVERY`] entries and before pruning, and a rewrite cannot forge them.
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::model::{AuditEntry, Checkpoint, EntryBody};

/// The `prev_hash` of a chain's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A checkpoint is signed after every this many entries.
pub const CHECKPOINT_EVERY: u64 = 100;

/// The body as its hash covers it: where a pseudonym stands for a person, the clear name is
/// left out (it is checked against the pseudonym instead, and may be erased).
fn hashed_form(body: &EntryBody) -> std::borrow::Cow<'_, EntryBody> {
    if body.actor_ref.is_empty() && body.impersonator_ref.is_none() {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut b = body.clone();
    if !b.actor_ref.is_empty() {
        b.actor = String::new();
    }
    if b.impersonator_ref.is_some() {
        b.impersonator = None;
    }
    std::borrow::Cow::Owned(b)
}

pub fn entry_hash(prev_hash: &str, body: &EntryBody) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    // Serialising a plain struct of strings, numbers and times cannot fail.
    h.update(serde_json::to_vec(hashed_form(body).as_ref()).unwrap_or_default());
    hex::encode(h.finalize())
}

/// Keyed pseudonyms of the people named in entries (HMAC-SHA256 with a per-tenant key derived
/// from the instance key): the same name always gives the same pseudonym, and nobody without
/// the key can tell whose it is or test a guess.
pub struct Pseudonyms {
    key: [u8; 32],
}

impl Pseudonyms {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    pub fn of(&self, name: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(name.as_bytes());
        format!("anon:{}", &hex::encode(mac.finalize().into_bytes())[..24])
    }

    /// Whether `name` is the clear name of `pseudonym`, or erased (the pseudonym itself).
    fn matches(&self, name: &str, pseudonym: &str) -> bool {
        name == pseudonym || self.of(name) == pseudonym
    }

    /// Fills in the pseudonyms of a new entry's actor and impersonator.
    pub fn stamp(&self, body: &mut EntryBody) {
        body.actor_ref = self.of(&body.actor);
        body.impersonator_ref = body.impersonator.as_deref().map(|i| self.of(i));
    }
}

/// The checkpoint key: one per tenant, so one tenant's checkpoints cannot vouch for another's.
pub struct Signer {
    key: [u8; 32],
    tenant: String,
}

impl Signer {
    pub fn new(key: [u8; 32], tenant: &str) -> Self {
        Self {
            key,
            tenant: tenant.to_string(),
        }
    }

    /// Names the key without revealing it (the first 8 bytes of its SHA-256).
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.key)[..8])
    }

    fn mac(&self, seq: u64, hash: &str, at: DateTime<Utc>) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(
            format!(
                "nexbii-audit-checkpoint\n{}\n{seq}\n{hash}\n{}",
                self.tenant,
                at.timestamp_millis()
            )
            .as_bytes(),
        );
        mac
    }

    pub fn sign(&self, seq: u64, hash: &str, at: DateTime<Utc>) -> Checkpoint {
        Checkpoint {
            id: super::model::entry_id(seq),
            seq,
            hash: hash.to_string(),
            at,
            key_id: self.key_id(),
            signature: hex::encode(self.mac(seq, hash, at).finalize().into_bytes()),
            meta: Default::default(),
        }
    }

    /// Constant-time check of the signature (and that the id matches the sequence number).
    pub fn check(&self, c: &Checkpoint) -> bool {
        let Ok(sig) = hex::decode(&c.signature) else {
            return false;
        };
        c.id == super::model::entry_id(c.seq)
            && self.mac(c.seq, &c.hash, c.at).verify_slice(&sig).is_ok()
    }
}

/// The first thing wrong with a chain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Broken {
    /// The sequence number where the chain breaks.
    pub seq: u64,
    pub reason: String,
}

/// Walks a tenant's entries in sequence order (fed page by page, so the log is never held
/// whole) against its checkpoints, and stops at the first broken link.
pub struct Verifier {
    /// Checkpoints in sequence order, signatures already checked.
    checkpoints: Vec<Checkpoint>,
    next_checkpoint: usize,
    last: Option<(u64, String)>,
    pub entries: u64,
    pub first_seq: Option<u64>,
    broken: Option<Broken>,
    pseudonyms: Option<Pseudonyms>,
}

impl Verifier {
    /// Checks every checkpoint's signature first: a forged or altered checkpoint is itself a
    /// break (at its sequence number).
    pub fn new(signer: &Signer, mut checkpoints: Vec<Checkpoint>) -> Self {
        checkpoints.sort_by_key(|c| c.seq);
        let broken = checkpoints
            .iter()
            .find(|c| !signer.check(c))
            .map(|c| Broken {
                seq: c.seq,
                reason: format!(
                    "checkpoint {} does not carry a valid signature of this tenant's key",
                    c.seq
                ),
            });
        Self {
            checkpoints,
            next_checkpoint: 0,
            last: None,
            entries: 0,
            first_seq: None,
            broken,
            pseudonyms: None,
        }
    }

    /// Also checks that every clear name still matches the pseudonym its entry's hash covers.
    pub fn with_pseudonyms(mut self, p: Pseudonyms) -> Self {
        self.pseudonyms = Some(p);
        self
    }

    pub fn checkpoints(&self) -> usize {
        self.checkpoints.len()
    }

    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    fn fail(&mut self, seq: u64, reason: String) {
        if self.broken.is_none() {
            self.broken = Some(Broken { seq, reason });
        }
    }

    /// Feeds the next entry (in ascending sequence order).
    pub fn push(&mut self, e: &AuditEntry) {
        if self.broken.is_some() {
            return;
        }
        let seq = e.body.seq;
        self.entries += 1;
        if e.id != super::model::entry_id(seq) {
            return self.fail(seq, format!("entry {} is stored under id {}", seq, e.id));
        }
        match &self.last {
            None => {
                self.first_seq = Some(seq);
                if seq == 1 {
                    if e.prev_hash != GENESIS {
                        return self.fail(seq, "the first entry does not start the chain".into());
                    }
                } else {
                    // Older entries were pruned: a signed checkpoint must vouch for the link.
                    let anchored = self
                        .checkpoints
                        .iter()
                        .any(|c| c.seq == seq - 1 && c.hash == e.prev_hash);
                    if !anchored {
                        return self.fail(
                            seq,
                            format!(
                                "entries before {seq} are missing and no signed checkpoint anchors \
                                 the remainder"
                            ),
                        );
                    }
                }
            }
            Some((last_seq, last_hash)) => {
                if seq != last_seq + 1 {
                    let (from, to) = (last_seq + 1, seq - 1);
                    return self.fail(
                        from,
                        if from == to {
                            format!("entry {from} is missing")
                        } else {
                            format!("entries {from} to {to} are missing")
                        },
                    );
                }
                if &e.prev_hash != last_hash {
                    return self.fail(
                        seq,
                        format!("entry {seq} does not link to entry {last_seq}"),
                    );
                }
            }
        }
        if entry_hash(&e.prev_hash, &e.body) != e.hash {
            return self.fail(
                seq,
                format!("entry {seq} was altered (its hash does not match)"),
            );
        }
        if let Some(p) = &self.pseudonyms {
            let b = &e.body;
            let actor_ok = b.actor_ref.is_empty() || p.matches(&b.actor, &b.actor_ref);
            let imp_ok = match (&b.impersonator, &b.impersonator_ref) {
                (Some(name), Some(r)) => p.matches(name, r),
                (None, _) => true,
                (Some(_), None) => b.actor_ref.is_empty(),
            };
            if !actor_ok || !imp_ok {
                return self.fail(
                    seq,
                    format!("entry {seq} was altered (a name no longer matches its pseudonym)"),
                );
            }
        }
        // Skip checkpoints of pruned entries (before the first one kept).
        while let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            if c.seq >= seq {
                break;
            }
            self.next_checkpoint += 1;
        }
        if let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            if c.seq == seq {
                self.next_checkpoint += 1;
                if c.hash != e.hash {
                    return self.fail(
                        seq,
                        format!("entry {seq} differs from its signed checkpoint"),
                    );
                }
            }
        }
        self.last = Some((seq, e.hash.clone()));
    }

    /// The end of the walk: checkpoints (or the instance's own head) beyond the last entry
    /// mean the newest entries were removed.
    pub fn finish(mut self, head: Option<u64>) -> Option<Broken> {
        if self.broken.is_some() {
            return self.broken;
        }
        let last = self.last.as_ref().map(|l| l.0).unwrap_or(0);
        let beyond = self
            .checkpoints
            .iter()
            .map(|c| c.seq)
            .chain(head)
            .filter(|s| *s > last)
            .max();
        if let Some(s) = beyond {
            self.fail(
                last + 1,
                format!(
                    "entries {} to {s} are missing (the log once reached {s})",
                    last + 1
                ),
            );
        }
        self.broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::model::{entry_id, Outcome};

    fn body(seq: u64) -> EntryBody {
        EntryBody {
            seq,
            at: DateTime::from_timestamp_millis(1_700_000_000_000 + seq as i64).unwrap(),
            actor: "ann".into(),
            actor_ref: String::new(),
            via: "session".into(),
            impersonator: None,
            impersonator_ref: None,
            action: "dashboards.create".into(),
            target: format!("/api/v1/dashboards/d{seq}"),
            outcome: Outcome::Success,
            status: 201,
            client: Some("127.0.0.1".into()),
            request_id: format!("r{seq}"),
            queries: vec![],
        }
    }

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let b = body(seq);
                let hash = entry_hash(&prev, &b);
                AuditEntry {
                    id: entry_id(seq),
                    body: b,
                    prev_hash: std::mem::replace(&mut prev, hash.clone()),
                    hash,
                    meta: Default::default(),
                }
            })
            .collect()
    }

    fn verify(
        s: &Signer,
        cps: Vec<Checkpoint>,
        es: &[AuditEntry],
        head: Option<u64>,
    ) -> Option<Broken> {
        let mut v = Verifier::new(s, cps);
        es.iter().for_each(|e| v.push(e));
        v.finish(head)
    }

    fn signer() -> Signer {
        Signer::new([7; 32], "acme")
    }

    #[test]
    fn pseudonymised_entries_verify_after_erasure_and_catch_edits() {
        let s = signer();
        let p = || Pseudonyms::new([9; 32]);
        let mut prev = GENESIS.to_string();
        let mut es: Vec<AuditEntry> = (1..=4)
            .map(|seq| {
                let mut b = body(seq);
                p().stamp(&mut b);
                let hash = entry_hash(&prev, &b);
                AuditEntry {
                    id: entry_id(seq),
                    body: b,
                    prev_hash: std::mem::replace(&mut prev, hash.clone()),
                    hash,
                    meta: Default::default(),
                }
            })
            .collect();
        let check = |es: &[AuditEntry]| {
            let mut v = Verifier::new(&s, vec![]).with_pseudonyms(p());
            es.iter().for_each(|e| v.push(e));
            v.finish(None)
        };
        assert_eq!(check(&es), None);
        assert!(es[1].body.actor_ref.starts_with("anon:") && !es[1].body.actor_ref.contains("ann"));
        // Erasure: the clear name gives way to the pseudonym; the chain still holds.
        es[1].body.actor = es[1].body.actor_ref.clone();
        assert_eq!(check(&es), None);
        // Any other edit of the clear name is found.
        es[2].body.actor = "mallory".into();
        let b = check(&es).unwrap();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("altered"), "{b:?}");
        // And the pseudonym itself is covered by the hash.
        es[2].body.actor = "ann".into();
        es[3].body.actor_ref = p().of("mallory");
        assert_eq!(check(&es).unwrap().seq, 4);
    }

    #[test]
    fn an_intact_chain_verifies() {
        let s = signer();
        let es = chain(10);
        let cp = s.sign(5, &es[4].hash, Utc::now());
        assert_eq!(verify(&s, vec![cp], &es, Some(10)), None);
        assert_eq!(verify(&s, vec![], &[], None), None, "an empty log");
    }

    #[test]
    fn an_edited_entry_is_found() {
        let s = signer();
        let mut es = chain(10);
        es[3].body.actor = "mallory".into();
        let b = verify(&s, vec![], &es, None).unwrap();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("altered"), "{b:?}");
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link_and_a_rewritten_tail_the_checkpoint() {
        let s = signer();
        let mut es = chain(10);
        es[3].body.action = "nothing.happened".into();
        es[3].hash = entry_hash(&es[3].prev_hash, &es[3].body);
        let b = verify(&s, vec![], &es, None).unwrap();
        assert_eq!(b.seq, 5, "{b:?}");
        assert!(b.reason.contains("does not link"), "{b:?}");
        // Rewriting every later hash too makes a consistent chain; the signed checkpoint
        // taken before the rewrite still finds it.
        let cp = s.sign(8, &es[7].hash, Utc::now());
        for i in 4..es.len() {
            es[i].prev_hash = es[i - 1].hash.clone();
            es[i].hash = entry_hash(&es[i].prev_hash, &es[i].body);
        }
        assert_eq!(
            verify(&s, vec![], &es, None),
            None,
            "unanchored, it looks fine"
        );
        let b = verify(&s, vec![cp], &es, None).unwrap();
        assert_eq!(b.seq, 8);
        assert!(b.reason.contains("checkpoint"), "{b:?}");
    }

    #[test]
    fn removed_entries_are_found_in_the_middle_and_at_the_end() {
        let s = signer();
        let mut es = chain(10);
        es.remove(6);
        let b = verify(&s, vec![], &es, None).unwrap();
        assert_eq!((b.seq, b.reason.as_str()), (7, "entry 7 is missing"));
        let es = chain(10);
        let cp = s.sign(10, &es[9].hash, Utc::now());
        let b = verify(&s, vec![cp], &es[..8], None).unwrap();
        assert_eq!(b.seq, 9, "the tail up to a checkpoint: {b:?}");
        let b = verify(&s, vec![], &es[..8], Some(10)).unwrap();
        assert_eq!(
            b.seq, 9,
            "the tail after the last checkpoint, against the head: {b:?}"
        );
    }

    #[test]
    fn a_pruned_chain_needs_its_anchor() {
        let s = signer();
        let es = chain(10);
        let anchor = s.sign(4, &es[3].hash, Utc::now());
        assert_eq!(verify(&s, vec![anchor.clone()], &es[4..], None), None);
        let b = verify(&s, vec![], &es[4..], None).unwrap();
        assert_eq!(b.seq, 5);
        assert!(b.reason.contains("no signed checkpoint"), "{b:?}");
        // A forged anchor (another key) is refused.
        let forged = Signer::new([8; 32], "acme").sign(4, &es[3].hash, Utc::now());
        let b = verify(&s, vec![forged], &es[4..], None).unwrap();
        assert!(b.reason.contains("signature"), "{b:?}");
        // Another tenant's checkpoint does not vouch either.
        let other = Signer::new([7; 32], "globex").sign(4, &es[3].hash, Utc::now());
        assert!(verify(&s, vec![other], &es[4..], None).is_some());
        // A checkpoint whose hash was edited is refused.
        let mut edited = anchor;
        edited.hash = es[2].hash.clone();
        assert!(!s.check(&edited));
    }
}

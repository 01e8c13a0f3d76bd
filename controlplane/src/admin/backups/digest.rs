//! The SHA-256 of every part of a record stream (and, for format-1 archives, of the whole
//! stream), computed on a thread of its own. Reading an archive back (restore, verify) is one
//! thread's work: decrypting, decompressing, parsing. Hashing every line twice on that thread
//! was 40 % of it, while the other core waited (README, "backup_pitr").
//!
//! The caller reads its lines straight into [`Digests::buffer`], so handing them over costs no
//! copy; full buffers go to the hashing thread and come back empty to be reused.
use std::{io, sync::mpsc, thread};

use sha2::{Digest, Sha256};

/// Bytes handed over at a time: enough that the hand-over costs nothing per line.
const CHUNK: usize = 256 << 10;
/// Buffers in flight: the reader may run this far ahead of the hashing.
const IN_FLIGHT: usize = 4;

enum Msg {
    /// The bytes that follow belong to the next part.
    Part,
    Bytes(Vec<u8>),
}

/// What the hashing thread found, once all bytes were handed over.
pub struct Hashes {
    /// One per [`Digests::part`] call, in order.
    pub parts: Vec<[u8; 32]>,
    /// Of all bytes, when asked for ([`Digests::new`]).
    pub whole: Option<[u8; 32]>,
}

pub struct Digests {
    tx: Option<mpsc::SyncSender<Msg>>,
    spare: mpsc::Receiver<Vec<u8>>,
    worker: Option<thread::JoinHandle<Hashes>>,
    buf: Vec<u8>,
}

impl Digests {
    /// `whole`: also hash all bytes as one (format 1's whole-stream checksum; format 2 derives
    /// it from the parts' and so saves hashing every byte twice).
    pub fn new(whole: bool) -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(IN_FLIGHT);
        let (back, spare) = mpsc::channel::<Vec<u8>>();
        let worker = thread::Builder::new()
            .name("archive-sha256".into())
            .spawn(move || hash(rx, back, whole))?;
        Ok(Self {
            tx: Some(tx),
            spare,
            worker: Some(worker),
            buf: Vec::with_capacity(CHUNK * 2),
        })
    }

    /// Where the caller appends the bytes to hash.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Starts the next part at `at` in the buffer: what precedes belongs to the part before.
    pub fn part_at(&mut self, at: usize) -> io::Result<()> {
        let tail = self.buf.split_off(at);
        self.hand_over()?;
        self.send(Msg::Part)?;
        self.buf.extend_from_slice(&tail);
        Ok(())
    }

    /// Hands the buffer over once it is full; call between lines.
    pub fn maybe_hand_over(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hashes what is left and waits for the result.
    pub fn finish(mut self) -> io::Result<Hashes> {
        self.hand_over()?;
        drop(self.tx.take());
        self.worker
            .take()
            .expect("joined once")
            .join()
            .map_err(|_| io::Error::other("the hashing thread failed"))
    }

    fn hand_over(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK * 2));
        let full = std::mem::replace(&mut self.buf, next);
        self.send(Msg::Bytes(full))
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        self.tx
            .as_ref()
            .expect("sending before finish")
            .send(msg)
            .map_err(|_| io::Error::other("the hashing thread stopped"))
    }
}

fn hash(rx: mpsc::Receiver<Msg>, back: mpsc::Sender<Vec<u8>>, whole: bool) -> Hashes {
    let mut parts = Vec::new();
    let mut part: Option<Sha256> = None;
    let mut whole = whole.then(Sha256::new);
    for msg in rx {
        match msg {
            Msg::Part => {
                if let Some(done) = part.replace(Sha256::new()) {
                    parts.push(done.finalize().into());
                }
            }
            Msg::Bytes(mut bytes) => {
                if let Some(p) = part.as_mut() {
                    p.update(&bytes);
                }
                if let Some(w) = whole.as_mut() {
                    w.update(&bytes);
                }
                bytes.clear();
                // The reader may be gone already; the buffer is then simply freed.
                let _ = back.send(bytes);
            }
        }
    }
    if let Some(done) = part {
        parts.push(done.finalize().into());
    }
    Hashes {
        parts,
        whole: whole.map(|w| w.finalize().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    #[test]
    fn parts_and_whole_match_a_plain_sha256() {
        for with_whole in [true, false] {
            parts_and_whole(with_whole);
        }
    }

    fn parts_and_whole(with_whole: bool) {
        // Lines long enough that buffers are handed over mid-part, several times.
        let line = |p: usize, i: usize| {
            format!(
                "{{\"part\":{p},\"i\":{i},\"pad\":\"{}\"}}\n",
                "x".repeat(900)
            )
        };
        let mut d = Digests::new(with_whole).unwrap();
        let mut want_parts = Vec::new();
        let mut whole = Vec::new();
        for p in 0..3 {
            let mut part = Vec::new();
            for i in 0..(p * 400) {
                let l = line(p, i);
                let at = d.buffer().len();
                d.buffer().extend_from_slice(l.as_bytes());
                if i == 0 {
                    d.part_at(at).unwrap();
                }
                d.maybe_hand_over().unwrap();
                part.extend_from_slice(l.as_bytes());
            }
            if p == 0 {
                // An empty part still counts.
                let at = d.buffer().len();
                d.part_at(at).unwrap();
            }
            want_parts.push(sha(&part));
            whole.extend_from_slice(&part);
        }
        let got = d.finish().unwrap();
        assert_eq!(got.parts, want_parts);
        assert_eq!(got.whole, with_whole.then(|| sha(&whole)));
        assert!(
            whole.len() > 4 * CHUNK,
            "the test must span several hand-overs"
        );
    }

    #[test]
    fn nothing_hashed_gives_the_empty_digests() {
        let got = Digests::new(true).unwrap().finish().unwrap();
        assert!(got.parts.is_empty());
        assert_eq!(got.whole, Some(sha(b"")));
    }
}

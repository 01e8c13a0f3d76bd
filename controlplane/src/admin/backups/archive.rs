//! The backup archive, format version 2 (this version reads 1 and 2). Written and read as a
//! stream: neither side holds more of it than one frame (1 MiB by default) plus zstd's window
//! (at most 128 MiB, and never more than the records' size).
//!
//! ```text
//! "NXBACKUP"                 8 bytes
//! u32 BE  H                  length of the header (at most 64 KiB)
//! H bytes                    header JSON: format version, backup id, tenant, time, key id,
//!                            cipher, compression, frame size, salt, nonce prefix (no secret)
//! frames, each:
//!   u32 BE  bit 31 = last frame, bits 0..30 = L (at most frame size + 16)
//!   L bytes                  AES-256-GCM ciphertext and tag of the next piece of the
//!                            zstd-compressed record stream
//! ```
//!
//! The record stream (before compression) is JSON lines: one record per line,
//! `{"c":<collection>,"id":…,"rev":…,"at":…,"f":{…},"doc":{…}}`, grouped by collection in name
//! order; its last line is `{"manifest":{…}}` with the counts, byte sizes and SHA-256 of every
//! collection's lines, and of the whole: in format 2 the SHA-256 of the parts' SHA-256s (each
//! 32 bytes, in the manifest's order, empty parts too), in format 1 the SHA-256 of all lines.
//! Format 2 also compresses with zstd's long-distance matching over a 128 MiB window: a
//! configuration version repeats its object, but the two sit a whole collection apart, beyond
//! the 512 KiB window of zstd's level 1 (README, "backup_pitr"). Both changes are the writer's
//! alone; the reader tells the formats apart by the header.
//!
//! Frames use the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015: a nonce of a
//! random prefix, the frame's position and a last-frame flag) with the header bytes as
//! associated data, under a key derived from the backup key and the archive's random salt. So
//! a flipped bit anywhere, frames reordered, dropped or cut, data appended after the last
//! frame, or a header swapped in from another archive all fail authentication, and nonces
//! never repeat across archives.
use std::{
    borrow::Cow,
    io::{self, BufRead, BufReader, Read, Write},
};

use aes_gcm::{
    aead::stream::{DecryptorBE32, EncryptorBE32},
    Aes256Gcm, KeyInit,
};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::digest::Digests;
use crate::store::{Collection, RawRecord};

pub const MAGIC: &[u8; 8] = b"NXBACKUP";
/// The format written.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format still read.
pub const OLDEST_FORMAT: u32 = 1;
pub const CIPHER: &str = "aes-256-gcm-stream-be32";
pub const COMPRESSION: &str = "zstd";
pub const DEFAULT_FRAME: u32 = 1 << 20;
/// Bounds checked before anything is allocated from what an archive claims.
const MAX_FRAME: u32 = 16 << 20;
const MAX_HEADER: u32 = 64 << 10;
const LAST: u32 = 1 << 31;
const TAG: usize = 16;
/// STREAM with a 32-bit counter leaves 7 of AES-GCM's 12 nonce bytes to the prefix.
const NONCE_PREFIX: usize = 7;
/// zstd's fastest regular level. Level 3 (the zstd CLI's default) made archives no smaller
/// on the benchmark's 80 MB of records (22.6 MB either way) and backups a quarter slower, with
/// CPU taken from the instance's serving while a backup runs (README, "backup_pitr").
const ZSTD_LEVEL: i32 = 1;
/// zstd's window for an archive's long-distance matching: the zstd CLI's `--long` default, and
/// the largest window a zstd decoder accepts without being told to. It bounds the memory a
/// backup and a restore use for the window; a tenant's records smaller than it use less.
const LONG_WINDOW_LOG: u32 = 27;
const MANIFEST_PREFIX: &[u8] = b"{\"manifest\":";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a NexBII backup archive")]
    NotAnArchive,
    #[error("archive format {0} is not supported (this version reads formats {OLDEST_FORMAT} to {FORMAT_VERSION})")]
    Unsupported(String),
    #[error("the archive was encrypted with backup key {archive}, but this instance's backup key is {ours}")]
    WrongKey { archive: String, ours: String },
    #[error("archive is truncated: {0}")]
    Truncated(String),
    #[error("archive is corrupt: {0}")]
    Corrupt(String),
    /// A record the writer was given cannot be archived as is.
    #[error("record not archivable: {0}")]
    BadRecord(String),
    #[error("archive I/O: {0}")]
    Io(#[from] io::Error),
}

/// The key archives are sealed with, and its public fingerprint.
#[derive(Clone)]
pub struct ArchiveKey {
    key: [u8; 32],
    id: String,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl ArchiveKey {
    pub fn new(key: [u8; 32]) -> Self {
        // A fingerprint says which key without revealing anything about it.
        let id = hex::encode(&hmac(&key, &[b"nexbii-backup-key-id-v1"])[..8]);
        Self { key, id }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self, salt: &[u8]) -> Aes256Gcm {
        let k = hmac(&self.key, &[b"nexbii-backup-archive-v1:", salt]);
        Aes256Gcm::new(&k.into())
    }
}

/// What precedes the frames, in plain text (authenticated by every frame).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub format_version: u32,
    pub backup_id: String,
    pub tenant: String,
    pub created_at: DateTime<Utc>,
    /// Fingerprint of the backup key (not the key).
    pub key_id: String,
    pub cipher: String,
    pub compression: String,
    /// Plaintext bytes per frame.
    pub frame_size: u32,
    /// Hex; with the backup key, gives this archive's own encryption key.
    pub salt: String,
    /// Hex; the fixed part of every frame's nonce.
    pub nonce_prefix: String,
}

/// One collection's lines in the record stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    pub collection: String,
    pub count: u64,
    /// Bytes of its lines before compression.
    pub bytes: u64,
    /// SHA-256 (hex) of its lines.
    pub sha256: String,
}

/// A collection deliberately left out, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Excluded {
    pub collection: String,
    pub reason: String,
}

/// What an archive holds; its last line, and kept with the backup record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format_version: u32,
    pub backup_id: String,
    pub tenant: String,
    pub key_id: String,
    pub compression: String,
    pub cipher: String,
    /// `sqlite` or `mongodb`.
    pub store: String,
    /// Where the store stood at the snapshot (see the README).
    pub store_position: String,
    /// The tenant's change-journal sequence at the snapshot: every journal entry up to it is
    /// in the archive, so a point-in-time recovery replays the entries after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_sequence: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Every collection in the archive, in name order (empty ones too).
    pub parts: Vec<Part>,
    pub excluded: Vec<Excluded>,
    pub records: u64,
    /// Bytes of all record lines before compression.
    pub bytes: u64,
    /// SHA-256 (hex) of the whole record stream: in format 2, of the parts' SHA-256s (32 bytes
    /// each, in this list's order); in format 1, of all record lines.
    pub sha256: String,
}

#[derive(Serialize, Deserialize)]
struct ManifestLine {
    manifest: Manifest,
}

/// What the caller adds to the manifest when the records are all written.
pub struct Finish {
    pub store: String,
    pub position: String,
    pub journal_sequence: Option<u64>,
    pub excluded: Vec<Excluded>,
}

/// A finished archive.
pub struct Finished<W> {
    pub out: W,
    pub manifest: Manifest,
    /// Size and SHA-256 (hex) of the archive file.
    pub size: u64,
    pub sha256: String,
}

/// Counts and hashes the bytes passing through (the archive file's checksum).
struct Counted<T> {
    inner: T,
    sha: Sha256,
    bytes: u64,
}

impl<T> Counted<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            sha: Sha256::new(),
            bytes: 0,
        }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Seals what is written into frames.
struct Frames<W: Write> {
    out: W,
    enc: Option<EncryptorBE32<Aes256Gcm>>,
    aad: Vec<u8>,
    buf: Vec<u8>,
    frame: usize,
}

impl<W: Write> Frames<W> {
    fn seal(&mut self, last: bool) -> io::Result<()> {
        let sealed = match (last, self.enc.as_mut()) {
            (false, Some(enc)) => enc.encrypt_next_in_place(&self.aad, &mut self.buf),
            (true, Some(_)) => {
                let enc = self.enc.take().expect("checked");
                enc.encrypt_last_in_place(&self.aad, &mut self.buf)
            }
            (_, None) => return Err(io::Error::other("archive already finished")),
        };
        sealed.map_err(|_| io::Error::other("frame encryption failed"))?;
        let word = self.buf.len() as u32 | if last { LAST } else { 0 };
        self.out.write_all(&word.to_be_bytes())?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Frames<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        while !data.is_empty() {
            // A full frame is sealed only once more data follows: the last one must be known.
            if self.buf.len() == self.frame {
                self.seal(false)?;
            }
            let take = (self.frame - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The prefix every frame authenticates: magic, header length and header.
fn header_bytes(header: &Header) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("a header serializes");
    let mut out = Vec::with_capacity(12 + json.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out
}

fn nonce_prefix(
    bytes: &[u8],
) -> &aes_gcm::aead::generic_array::GenericArray<u8, aes_gcm::aead::consts::U7> {
    aes_gcm::aead::generic_array::GenericArray::from_slice(bytes)
}

fn sha_hex(sha: Sha256) -> String {
    hex::encode(sha.finalize())
}

struct PartState {
    part: Part,
    sha: Sha256,
}

impl PartState {
    fn new(collection: &str) -> Self {
        Self {
            part: Part {
                collection: collection.to_string(),
                count: 0,
                bytes: 0,
                sha256: String::new(),
            },
            sha: Sha256::new(),
        }
    }

    fn add(&mut self, line: &[u8]) {
        self.part.count += 1;
        self.part.bytes += line.len() as u64;
        self.sha.update(line);
    }

    fn done(self) -> Part {
        Part {
            sha256: sha_hex(self.sha),
            ..self.part
        }
    }
}

/// The compressed stream into the frames of an archive or segment being written.
type Sealing<W> = zstd::stream::write::Encoder<'static, Frames<Counted<W>>>;

/// Writes the header and starts the frames: what an archive and a journal segment share.
fn seal<W: Write>(
    out: W,
    key: &ArchiveKey,
    id: &str,
    tenant: &str,
    frame_size: u32,
    workers: u32,
    long: bool,
) -> Result<(Header, Sealing<W>), ArchiveError> {
    let mut salt = [0u8; 32];
    let mut prefix = [0u8; NONCE_PREFIX];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut prefix);
    let header = Header {
        format_version: FORMAT_VERSION,
        backup_id: id.to_string(),
        tenant: tenant.to_string(),
        created_at: Utc::now(),
        key_id: key.id().to_string(),
        cipher: CIPHER.into(),
        compression: COMPRESSION.into(),
        frame_size: frame_size.clamp(1, MAX_FRAME),
        salt: hex::encode(salt),
        nonce_prefix: hex::encode(prefix),
    };
    let aad = header_bytes(&header);
    let mut out = Counted::new(out);
    out.write_all(&aad)?;
    let frame = header.frame_size as usize;
    let frames = Frames {
        out,
        enc: Some(EncryptorBE32::from_aead(
            key.cipher(&salt),
            nonce_prefix(&prefix),
        )),
        aad,
        buf: Vec::with_capacity(frame + TAG),
        frame,
    };
    let mut z = zstd::stream::write::Encoder::new(frames, ZSTD_LEVEL)?;
    if workers > 0 {
        // zstd's own worker threads compress while the caller produces the next records.
        z.multithread(workers)?;
    }
    if long {
        z.long_distance_matching(true)?;
        z.window_log(LONG_WINDOW_LOG)?;
    }
    Ok((header, z))
}

/// zstd workers for an archive: one per core, at most four (the rest of a backup, reading the
/// store and hashing, needs a core too). A journal segment is small and compressed inline.
fn compression_workers() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u32)
}

/// Reads and checks the header, and opens the frames and the compressed stream behind it.
type Unsealed<R> = zstd::stream::read::Decoder<'static, BufReader<Unframes<R>>>;

fn unseal<R: Read>(input: R, key: &ArchiveKey) -> Result<(Header, Unsealed<R>), ArchiveError> {
    let mut input = Counted::new(input);
    let (header, aad) = read_header(&mut input)?;
    if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&header.format_version) {
        return Err(ArchiveError::Unsupported(header.format_version.to_string()));
    }
    if header.cipher != CIPHER || header.compression != COMPRESSION {
        return Err(ArchiveError::Unsupported(format!(
            "{} with {}",
            header.cipher, header.compression
        )));
    }
    if header.key_id != key.id() {
        return Err(ArchiveError::WrongKey {
            archive: header.key_id.clone(),
            ours: key.id().to_string(),
        });
    }
    if !(1..=MAX_FRAME).contains(&header.frame_size) {
        return Err(ArchiveError::Corrupt(format!(
            "frame size {}",
            header.frame_size
        )));
    }
    let salt =
        hex::decode(&header.salt).map_err(|_| ArchiveError::Corrupt("salt is not hex".into()))?;
    let prefix = hex::decode(&header.nonce_prefix)
        .ok()
        .filter(|p| p.len() == NONCE_PREFIX)
        .ok_or_else(|| ArchiveError::Corrupt("nonce prefix".into()))?;
    let max = header.frame_size as usize + TAG;
    let frames = Unframes {
        inner: input,
        dec: Some(DecryptorBE32::from_aead(
            key.cipher(&salt),
            nonce_prefix(&prefix),
        )),
        aad,
        buf: Vec::with_capacity(max),
        pos: 0,
        frames: 0,
        max,
        done: false,
    };
    let mut z = zstd::stream::read::Decoder::new(frames)?;
    // The default limit too; said here because the writer's window depends on it.
    z.window_log_max(LONG_WINDOW_LOG)?;
    Ok((header, z))
}

/// Seals bytes other than a backup's records (a journal segment) the way an archive is sealed:
/// header, zstd, AES-256-GCM frames; `id` goes where an archive has its backup id.
pub fn seal_bytes(
    key: &ArchiveKey,
    id: &str,
    tenant: &str,
    plain: &[u8],
) -> Result<Vec<u8>, ArchiveError> {
    // A segment is small: compressed inline, with the short window.
    let (_, mut z) = seal(Vec::new(), key, id, tenant, DEFAULT_FRAME, 0, false)?;
    z.write_all(plain)?;
    let frames = z.finish()?;
    Ok(frames.finish()?.inner)
}

/// Opens what [`seal_bytes`] sealed, checking every frame; returns its header and plaintext.
pub fn unseal_bytes(sealed: &[u8], key: &ArchiveKey) -> Result<(Header, Vec<u8>), ArchiveError> {
    let (header, mut z) = unseal(sealed, key)?;
    let mut plain = Vec::new();
    z.read_to_end(&mut plain).map_err(from_io)?;
    Ok((header, plain))
}

/// Writes an archive: records in (collection name, id) order, then [`ArchiveWriter::finish`].
pub struct ArchiveWriter<W: Write> {
    z: zstd::stream::write::Encoder<'static, Frames<Counted<W>>>,
    header: Header,
    /// Collections still to come, in name order; the first is the one being written.
    pending: std::collections::VecDeque<PartState>,
    done: Vec<Part>,
    records: u64,
    bytes: u64,
    line: Vec<u8>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive of `collections` (each gets a part, empty or not).
    pub fn new(
        out: W,
        key: &ArchiveKey,
        backup_id: &str,
        tenant: &str,
        collections: &[Collection],
    ) -> Result<Self, ArchiveError> {
        Self::with_frame_size(out, key, backup_id, tenant, collections, DEFAULT_FRAME)
    }

    pub fn with_frame_size(
        out: W,
        key: &ArchiveKey,
        backup_id: &str,
        tenant: &str,
        collections: &[Collection],
        frame_size: u32,
    ) -> Result<Self, ArchiveError> {
        let (header, z) = seal(
            out,
            key,
            backup_id,
            tenant,
            frame_size,
            compression_workers(),
            true,
        )?;
        let mut names: Vec<&str> = collections.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        Ok(Self {
            z,
            header,
            pending: names.into_iter().map(PartState::new).collect(),
            done: Vec::new(),
            records: 0,
            bytes: 0,
            line: Vec::with_capacity(4096),
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Appends one record; records come grouped by collection in name order.
    pub fn record(&mut self, r: &RawRecord) -> Result<(), ArchiveError> {
        let name = r.collection.name();
        while self
            .pending
            .front()
            .is_some_and(|p| p.part.collection != name)
        {
            let finished = self.pending.pop_front().expect("checked").done();
            self.done.push(finished);
        }
        let Some(part) = self.pending.front_mut() else {
            return Err(ArchiveError::BadRecord(format!(
                "{name} {}: collection not in this archive, or out of order",
                r.id
            )));
        };
        // Lines are the framing: the stores keep compact JSON, which has no raw newline.
        if r.doc.contains('\n') || r.fields.contains('\n') {
            return Err(ArchiveError::BadRecord(format!(
                "{name} {}: stored JSON holds a raw newline",
                r.id
            )));
        }
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(b"{\"c\":\"");
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b"\",\"id\":");
        serde_json::to_writer(&mut *line, &r.id).map_err(io::Error::other)?;
        write!(
            line,
            ",\"rev\":{},\"at\":\"{}\",\"f\":",
            r.revision,
            r.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true)
        )?;
        line.extend_from_slice(r.fields.as_bytes());
        line.extend_from_slice(b",\"doc\":");
        line.extend_from_slice(r.doc.as_bytes());
        line.extend_from_slice(b"}\n");
        part.add(line);
        self.records += 1;
        self.bytes += line.len() as u64;
        self.z.write_all(line)?;
        Ok(())
    }

    /// Writes the manifest and the last frame.
    pub fn finish(mut self, info: Finish) -> Result<Finished<W>, ArchiveError> {
        while let Some(p) = self.pending.pop_front() {
            self.done.push(p.done());
        }
        let h = &self.header;
        let whole = whole_of(&self.done).expect("the writer's own part digests are hex");
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            backup_id: h.backup_id.clone(),
            tenant: h.tenant.clone(),
            key_id: h.key_id.clone(),
            compression: h.compression.clone(),
            cipher: h.cipher.clone(),
            store: info.store,
            store_position: info.position,
            journal_sequence: info.journal_sequence,
            created_at: h.created_at,
            finished_at: Utc::now(),
            parts: std::mem::take(&mut self.done),
            excluded: info.excluded,
            records: self.records,
            bytes: self.bytes,
            sha256: whole,
        };
        let mut line = serde_json::to_vec(&ManifestLine {
            manifest: manifest.clone(),
        })
        .map_err(io::Error::other)?;
        line.push(b'\n');
        self.z.write_all(&line)?;
        let frames = self.z.finish()?;
        let counted = frames.finish()?;
        Ok(Finished {
            out: counted.inner,
            manifest,
            size: counted.bytes,
            sha256: sha_hex(counted.sha),
        })
    }
}

/// Opens frames and serves their plaintext.
struct Unframes<R: Read> {
    inner: Counted<R>,
    dec: Option<DecryptorBE32<Aes256Gcm>>,
    aad: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
    frames: u64,
    max: usize,
    done: bool,
}

impl<R: Read> Unframes<R> {
    fn next_frame(&mut self) -> Result<(), ArchiveError> {
        let n = self.frames;
        let mut word = [0u8; 4];
        read_fully(&mut self.inner, &mut word).map_err(|e| match e {
            ArchiveError::Truncated(_) => {
                ArchiveError::Truncated(format!("it ends after frame {n} without its last frame"))
            }
            other => other,
        })?;
        let word = u32::from_be_bytes(word);
        let last = word & LAST != 0;
        let len = (word & !LAST) as usize;
        if !(TAG..=self.max).contains(&len) {
            return Err(ArchiveError::Corrupt(format!(
                "frame {n} claims an impossible length ({len} bytes)"
            )));
        }
        self.buf.clear();
        self.buf.resize(len, 0);
        read_fully(&mut self.inner, &mut self.buf)
            .map_err(|_| ArchiveError::Truncated(format!("frame {n} is cut short")))?;
        let opened = match (last, self.dec.as_mut()) {
            (false, Some(dec)) => dec.decrypt_next_in_place(&self.aad, &mut self.buf),
            (true, Some(_)) => {
                let dec = self.dec.take().expect("checked");
                dec.decrypt_last_in_place(&self.aad, &mut self.buf)
            }
            (_, None) => return Err(ArchiveError::Corrupt("data after the last frame".into())),
        };
        opened.map_err(|_| {
            ArchiveError::Corrupt(format!(
                "frame {n} does not authenticate (altered, reordered, cut, or its header changed)"
            ))
        })?;
        self.frames += 1;
        self.pos = 0;
        if last {
            self.done = true;
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                return Err(ArchiveError::Corrupt("data after the last frame".into()));
            }
        }
        Ok(())
    }
}

fn read_fully(r: &mut impl Read, buf: &mut [u8]) -> Result<(), ArchiveError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ArchiveError::Truncated("unexpected end".into()),
        _ => ArchiveError::Io(e),
    })
}

impl<R: Read> Read for Unframes<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            self.next_frame().map_err(io::Error::other)?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Our own errors travel through the decompressor as `io::Error`s; anything else it reports
/// is about the compressed data.
fn from_io(e: io::Error) -> ArchiveError {
    if e.get_ref().is_some_and(|inner| inner.is::<ArchiveError>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(ours) = inner.downcast::<ArchiveError>() {
                return *ours;
            }
        }
        return ArchiveError::Corrupt("unreadable".into());
    }
    ArchiveError::Corrupt(format!("compressed stream: {e}"))
}

#[derive(Deserialize)]
struct LineRecord<'a> {
    #[serde(borrow)]
    c: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    rev: u64,
    at: DateTime<Utc>,
    #[serde(borrow)]
    f: &'a RawValue,
    #[serde(borrow)]
    doc: &'a RawValue,
}

/// Reads the header of an archive (no key needed).
pub fn read_header(input: &mut impl Read) -> Result<(Header, Vec<u8>), ArchiveError> {
    let mut fixed = [0u8; 12];
    read_fully(input, &mut fixed).map_err(|e| match e {
        ArchiveError::Truncated(_) => ArchiveError::NotAnArchive,
        other => other,
    })?;
    if &fixed[..8] != MAGIC {
        return Err(ArchiveError::NotAnArchive);
    }
    let len = u32::from_be_bytes(fixed[8..12].try_into().expect("4 bytes"));
    if len > MAX_HEADER {
        return Err(ArchiveError::Corrupt(format!("header claims {len} bytes")));
    }
    let mut json = vec![0u8; len as usize];
    read_fully(input, &mut json)?;
    let header: Header =
        serde_json::from_slice(&json).map_err(|e| ArchiveError::Corrupt(format!("header: {e}")))?;
    let mut aad = fixed.to_vec();
    aad.extend_from_slice(&json);
    Ok((header, aad))
}

/// Reads an archive back, checking everything as it goes: [`ArchiveReader::next_record`] yields the
/// records, then `None` once the manifest matched every count and checksum.
pub struct ArchiveReader<R: Read> {
    lines: BufReader<zstd::stream::read::Decoder<'static, BufReader<Unframes<R>>>>,
    header: Header,
    /// Counts and sizes of the parts read (their SHA-256 comes from `digests` at the end).
    parts: Vec<Part>,
    /// Hashes the lines on a thread of its own; the lines are read into its buffer.
    digests: Option<Digests>,
    records: u64,
    bytes: u64,
    manifest: Option<Manifest>,
}

impl<R: Read> ArchiveReader<R> {
    pub fn open(input: R, key: &ArchiveKey) -> Result<Self, ArchiveError> {
        let (header, z) = unseal(input, key)?;
        let format = header.format_version;
        Ok(Self {
            lines: BufReader::with_capacity(256 << 10, z),
            header,
            parts: Vec::new(),
            // Format 1's whole-stream checksum covers every line; format 2's the parts'.
            digests: Some(Digests::new(format == 1)?),
            records: 0,
            bytes: 0,
            manifest: None,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The manifest, once [`ArchiveReader::next_record`] returned `None`.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_ref()
    }

    /// Size and SHA-256 (hex) of the archive file as read so far (all of it after the end).
    pub fn file_checksum(&self) -> (u64, String) {
        let counted = &self.lines.get_ref().get_ref().get_ref().inner;
        (counted.bytes, hex::encode(counted.sha.clone().finalize()))
    }

    /// The next record; `None` at the end, after the manifest checked out.
    pub fn next_record(&mut self) -> Result<Option<RawRecord>, ArchiveError> {
        if self.manifest.is_some() {
            return Ok(None);
        }
        let Some(digests) = self.digests.as_mut() else {
            return Err(ArchiveError::Corrupt("read past a failed check".into()));
        };
        let buf = digests.buffer();
        let at = buf.len();
        let n = self.lines.read_until(b'\n', buf).map_err(from_io)?;
        let line = &buf[at..];
        if n == 0 || !line.ends_with(b"\n") {
            return Err(ArchiveError::Truncated(
                "the record stream ends without its manifest".into(),
            ));
        }
        if line.starts_with(MANIFEST_PREFIX) {
            // The manifest is not one of the lines it vouches for.
            let line = buf.split_off(at);
            self.end(&line)?;
            return Ok(None);
        }
        let rec: LineRecord = serde_json::from_slice(line)
            .map_err(|e| ArchiveError::Corrupt(format!("record {}: {e}", self.records + 1)))?;
        let collection = Collection::from_name(&rec.c)
            .ok_or_else(|| ArchiveError::Unsupported(format!("with collection {:?}", rec.c)))?;
        let out = RawRecord {
            collection,
            id: rec.id.into_owned(),
            revision: rec.rev,
            updated_at: rec.at,
            doc: rec.doc.get().to_string(),
            fields: rec.f.get().to_string(),
        };
        let len = line.len() as u64;
        let same = self
            .parts
            .last()
            .is_some_and(|p| p.collection == collection.name());
        if !same {
            if let Some(p) = self.parts.last() {
                if p.collection.as_str() >= collection.name() {
                    return Err(ArchiveError::Corrupt(format!(
                        "collection {} out of order",
                        collection.name()
                    )));
                }
            }
            self.parts.push(Part {
                collection: collection.name().to_string(),
                count: 0,
                bytes: 0,
                sha256: String::new(),
            });
            digests.part_at(at)?;
        }
        let part = self.parts.last_mut().expect("pushed above");
        part.count += 1;
        part.bytes += len;
        self.records += 1;
        self.bytes += len;
        digests.maybe_hand_over()?;
        Ok(Some(out))
    }

    /// Reads the manifest and checks it against what was read.
    fn end(&mut self, line: &[u8]) -> Result<(), ArchiveError> {
        let m: ManifestLine = serde_json::from_slice(line)
            .map_err(|e| ArchiveError::Corrupt(format!("manifest: {e}")))?;
        let m = m.manifest;
        let mut rest = Vec::new();
        if self.lines.read_to_end(&mut rest).map_err(from_io)? > 0 {
            return Err(ArchiveError::Corrupt("records after the manifest".into()));
        }
        let hashes = self
            .digests
            .take()
            .expect("checked by the caller")
            .finish()?;
        if hashes.parts.len() != self.parts.len() {
            return Err(ArchiveError::Io(io::Error::other(
                "the hashing thread lost count of the parts",
            )));
        }
        for (p, sha) in self.parts.iter_mut().zip(&hashes.parts) {
            p.sha256 = hex::encode(sha);
        }
        let h = &self.header;
        if m.backup_id != h.backup_id || m.tenant != h.tenant || m.key_id != h.key_id {
            return Err(ArchiveError::Corrupt(
                "the manifest names another backup than the header".into(),
            ));
        }
        let mut read = self.parts.iter().peekable();
        for part in &m.parts {
            let got = read.next_if(|p| p.collection == part.collection);
            let ok = match got {
                Some(p) => p == part,
                None => part.count == 0 && part.bytes == 0 && part.sha256 == empty_sha(),
            };
            if !ok {
                return Err(ArchiveError::Corrupt(format!(
                    "collection {}: {} records read, the manifest says {} (or their SHA-256 differs)",
                    part.collection,
                    got.map_or(0, |p| p.count),
                    part.count
                )));
            }
        }
        if let Some(extra) = read.next() {
            return Err(ArchiveError::Corrupt(format!(
                "collection {} is not in the manifest",
                extra.collection
            )));
        }
        if m.format_version != h.format_version {
            return Err(ArchiveError::Corrupt(format!(
                "the manifest says format {}, the header {}",
                m.format_version, h.format_version
            )));
        }
        // The parts were checked above, so the manifest's are the ones read.
        let whole = match hashes.whole {
            Some(whole) => Some(hex::encode(whole)),
            None => whole_of(&m.parts),
        };
        if m.records != self.records || m.bytes != self.bytes || Some(&m.sha256) != whole.as_ref() {
            return Err(ArchiveError::Corrupt(
                "record count or SHA-256 of the whole differs from the manifest".into(),
            ));
        }
        self.manifest = Some(m);
        Ok(())
    }
}

fn empty_sha() -> String {
    sha_hex(Sha256::new())
}

/// Format 2's checksum of the whole record stream: the SHA-256 of its parts' SHA-256s, each as
/// its 32 bytes, in order. As binding as a hash of every line (each part's is checked), for a
/// fraction of the hashing. `None` if a part's SHA-256 is not 64 hex digits.
fn whole_of(parts: &[Part]) -> Option<String> {
    let mut sha = Sha256::new();
    for p in parts {
        let digest = hex::decode(&p.sha256).ok().filter(|d| d.len() == 32)?;
        sha.update(&digest);
    }
    Some(sha_hex(sha))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(coll: Collection, id: &str, n: usize) -> RawRecord {
        RawRecord {
            collection: coll,
            id: id.to_string(),
            revision: n as u64 + 1,
            updated_at: Utc.timestamp_millis_opt(1_700_000_000_123 + n as i64).unwrap(),
            // Varied text so the stream does not compress to nothing and spans many frames.
            doc: serde_json::json!({"id": id, "n": n, "text": format!("{:x}", n * 2_654_435_761), "u": "Zürich ✓ \"q\""})
                .to_string(),
            fields: serde_json::json!({"kind": if n.is_multiple_of(2) { "a" } else { "b" }}).to_string(),
        }
    }

    fn records() -> Vec<RawRecord> {
        let mut out = Vec::new();
        for i in 0..40 {
            out.push(rec(Collection::Dashboards, &format!("d{i:03}"), i));
        }
        out.push(rec(Collection::SavedQueries, "q\"odd/ü", 7));
        for i in 0..30 {
            out.push(rec(Collection::Users, &format!("u{i:03}"), i));
        }
        out
    }

    const COLLS: [Collection; 4] = [
        Collection::Users,
        Collection::Dashboards,
        Collection::SavedQueries,
        Collection::Webhooks,
    ];

    fn write(key: &ArchiveKey, frame: u32) -> (Vec<u8>, Manifest, String) {
        let mut w =
            ArchiveWriter::with_frame_size(Vec::new(), key, "b1", "acme", &COLLS, frame).unwrap();
        for r in records() {
            w.record(&r).unwrap();
        }
        let f = w
            .finish(Finish {
                store: "sqlite".into(),
                position: "p".into(),
                journal_sequence: Some(4),
                excluded: vec![],
            })
            .unwrap();
        assert_eq!(f.size as usize, f.out.len());
        (f.out, f.manifest, f.sha256)
    }

    fn read_all(
        bytes: &[u8],
        key: &ArchiveKey,
    ) -> Result<(Vec<RawRecord>, Manifest), ArchiveError> {
        let mut r = ArchiveReader::open(bytes, key)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok((out, r.manifest().unwrap().clone()))
    }

    #[test]
    fn round_trip_keeps_every_record_and_counts_every_part() {
        let key = ArchiveKey::new([7; 32]);
        let (bytes, manifest, sha) = write(&key, 256);
        let frames = bytes.len() / 256;
        assert!(frames > 5, "the test spans many frames ({frames})");
        let (got, read_manifest) = read_all(&bytes, &key).unwrap();
        assert_eq!(got, records());
        assert_eq!(read_manifest, manifest);
        let counts: Vec<(&str, u64)> = manifest
            .parts
            .iter()
            .map(|p| (p.collection.as_str(), p.count))
            .collect();
        assert_eq!(
            counts,
            vec![
                ("dashboards", 40),
                ("saved_queries", 1),
                ("users", 30),
                ("webhooks", 0)
            ],
            "every collection has a part, empty ones too, in name order"
        );
        assert_eq!(manifest.records, 71);
        assert_eq!(manifest.key_id, key.id());
        assert_eq!(manifest.format_version, 2);
        // The whole's checksum is the SHA-256 of the parts' (as bytes, in order, empty too).
        let mut parts = Vec::new();
        for p in &manifest.parts {
            parts.extend_from_slice(&hex::decode(&p.sha256).unwrap());
        }
        assert_eq!(parts.len(), 4 * 32);
        assert_eq!(manifest.sha256, hex::encode(Sha256::digest(&parts)));
        let mut r = ArchiveReader::open(&bytes[..], &key).unwrap();
        while r.next_record().unwrap().is_some() {}
        assert_eq!(r.file_checksum(), (bytes.len() as u64, sha));
        // The key never appears; its fingerprint does.
        assert!(!bytes.windows(32).any(|w| w == [7u8; 32]));
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("Zürich"), "records are encrypted");
        assert!(text.contains(key.id()));
    }

    /// Re-seals an archive's record stream with its manifest changed by `edit`: frames that
    /// authenticate, so only the manifest check can tell.
    fn with_manifest(bytes: &[u8], key: &ArchiveKey, edit: impl Fn(&mut Manifest)) -> Vec<u8> {
        let (_, plain) = unseal_bytes(bytes, key).unwrap();
        let at = plain
            .windows(MANIFEST_PREFIX.len())
            .position(|w| w == MANIFEST_PREFIX)
            .unwrap();
        let mut line: ManifestLine = serde_json::from_slice(&plain[at..]).unwrap();
        edit(&mut line.manifest);
        let mut out = plain[..at].to_vec();
        serde_json::to_writer(&mut out, &line).unwrap();
        out.push(b'\n');
        seal_bytes(key, "b1", "acme", &out).unwrap()
    }

    #[test]
    fn a_manifest_that_disagrees_with_the_records_is_refused() {
        let key = ArchiveKey::new([5; 32]);
        let (bytes, _, _) = write(&key, 1024);
        let same = with_manifest(&bytes, &key, |_| {});
        assert!(
            read_all(&same, &key).is_ok(),
            "re-sealed unchanged, it reads"
        );
        let other = "0".repeat(64);
        let part = with_manifest(&bytes, &key, |m| m.parts[2].sha256 = other.clone());
        let err = read_all(&part, &key).unwrap_err().to_string();
        assert!(err.contains("collection users"), "{err}");
        let whole = with_manifest(&bytes, &key, |m| m.sha256 = other.clone());
        let err = read_all(&whole, &key).unwrap_err().to_string();
        assert!(err.contains("SHA-256 of the whole"), "{err}");
        let count = with_manifest(&bytes, &key, |m| m.parts[0].count -= 1);
        let err = read_all(&count, &key).unwrap_err().to_string();
        assert!(
            err.contains("collection dashboards: 40 records read"),
            "{err}"
        );
        let empty = with_manifest(&bytes, &key, |m| m.parts[3].sha256 = other.clone());
        let err = read_all(&empty, &key).unwrap_err().to_string();
        assert!(err.contains("collection webhooks"), "{err}");
        let format = with_manifest(&bytes, &key, |m| m.format_version = 1);
        let err = read_all(&format, &key).unwrap_err().to_string();
        assert!(
            err.contains("manifest says format 1, the header 2"),
            "{err}"
        );
    }

    /// An archive written by the format-1 writer (session 12's), from [`records`] with the
    /// key `[9; 32]` and 256-byte frames.
    const FORMAT_1: &[u8] = include_bytes!("testdata/format1.nxbk");

    #[test]
    fn format_1_archives_are_still_read_and_checked() {
        let key = ArchiveKey::new([9; 32]);
        let (got, manifest) = read_all(FORMAT_1, &key).unwrap();
        assert_eq!(got, records());
        assert_eq!(manifest.format_version, 1);
        // Format 1's whole is the SHA-256 of every line, not of the parts' checksums.
        assert_ne!(whole_of(&manifest.parts).unwrap(), manifest.sha256);
        for i in (0..FORMAT_1.len()).step_by(97) {
            let mut bad = FORMAT_1.to_vec();
            bad[i] ^= 0x20;
            assert!(read_all(&bad, &key).is_err(), "flipped byte {i}");
        }
    }

    #[test]
    fn a_format_from_a_later_version_is_refused_by_name() {
        let key = ArchiveKey::new([9; 32]);
        let (bytes, _, _) = write(&key, 1024);
        let at = bytes
            .windows(17)
            .position(|w| w == b"\"formatVersion\":2")
            .unwrap();
        let mut later = bytes.clone();
        later[at + 16] = b'3';
        let err = read_all(&later, &key).unwrap_err();
        assert!(
            matches!(&err, ArchiveError::Unsupported(v) if v == "3"),
            "{err}"
        );
        assert!(err.to_string().contains("reads formats 1 to 2"), "{err}");
    }

    #[test]
    fn a_document_repeated_a_collection_later_is_stored_once() {
        // Incompressible documents, each repeated 3 MB later in another collection: beyond
        // zstd level 1's own 512 KiB window, within the archive's long-distance window (as a
        // configuration version and its object are, a collection apart).
        let docs: Vec<String> = (0..12)
            .map(|_| {
                let mut bytes = vec![0u8; 128 << 10];
                OsRng.fill_bytes(&mut bytes);
                serde_json::json!({ "t": hex::encode(bytes) }).to_string()
            })
            .collect();
        let key = ArchiveKey::new([6; 32]);
        let colls = [Collection::Dashboards, Collection::SavedQueries];
        let mut w = ArchiveWriter::new(Vec::new(), &key, "b", "t", &colls).unwrap();
        for coll in colls {
            for (i, doc) in docs.iter().enumerate() {
                let r = RawRecord {
                    doc: doc.clone(),
                    ..rec(coll, &format!("x{i:02}"), i)
                };
                w.record(&r).unwrap();
            }
        }
        let f = w
            .finish(Finish {
                store: "sqlite".into(),
                position: "p".into(),
                journal_sequence: None,
                excluded: vec![],
            })
            .unwrap();
        // 6 MB of hex holding 1.5 MB of entropy: about 1.6 MB stored once, 3.2 MB twice.
        let ratio = f.size as f64 / f.manifest.bytes as f64;
        assert!(ratio < 0.4, "archive is {ratio:.2} of its records");
        let (got, _) = read_all(&f.out, &key).unwrap();
        assert_eq!(got.len(), 24);
        assert_eq!(got[12].doc, docs[0]);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let key = ArchiveKey::new([1; 32]);
        let (bytes, _, _) = write(&key, 512);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(
                read_all(&bad, &key).is_err(),
                "flipped byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn truncation_appending_and_reordering_are_detected() {
        let key = ArchiveKey::new([2; 32]);
        let (bytes, _, _) = write(&key, 300);
        for len in 0..bytes.len() {
            let err = read_all(&bytes[..len], &key).unwrap_err();
            assert!(
                matches!(
                    err,
                    ArchiveError::Truncated(_)
                        | ArchiveError::NotAnArchive
                        | ArchiveError::Corrupt(_)
                ),
                "cut at {len}: {err}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            read_all(&longer, &key).unwrap_err(),
            ArchiveError::Corrupt(_)
        ));
        // Swap the first two frames (same length: full frames).
        let (_, aad) = read_header(&mut &bytes[..]).unwrap();
        let start = aad.len();
        let len = 4 + 300 + TAG;
        let mut swapped = bytes.clone();
        swapped[start..start + len].copy_from_slice(&bytes[start + len..start + 2 * len]);
        swapped[start + len..start + 2 * len].copy_from_slice(&bytes[start..start + len]);
        let err = read_all(&swapped, &key).unwrap_err();
        assert!(
            err.to_string().contains("frame 0 does not authenticate"),
            "{err}"
        );
        // Drop the second frame.
        let mut dropped = bytes[..start + len].to_vec();
        dropped.extend_from_slice(&bytes[start + 2 * len..]);
        assert!(read_all(&dropped, &key).is_err());
    }

    #[test]
    fn another_key_is_refused_by_name_and_a_forged_key_id_fails_authentication() {
        let key = ArchiveKey::new([3; 32]);
        let other = ArchiveKey::new([4; 32]);
        let (bytes, _, _) = write(&key, 1024);
        let err = read_all(&bytes, &other).unwrap_err();
        assert!(
            matches!(&err, ArchiveError::WrongKey { archive, ours } if archive == key.id() && ours == other.id()),
            "{err}"
        );
        // Someone rewrites the key id in the header to match: the frames still refuse.
        let at = bytes
            .windows(16)
            .position(|w| w == key.id().as_bytes())
            .unwrap();
        let mut forged = bytes.clone();
        forged[at..at + 16].copy_from_slice(other.id().as_bytes());
        let err = read_all(&forged, &other).unwrap_err();
        assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
    }

    #[test]
    fn records_out_of_order_are_refused_when_writing() {
        let key = ArchiveKey::new([5; 32]);
        let mut w = ArchiveWriter::new(Vec::new(), &key, "b", "t", &COLLS).unwrap();
        w.record(&rec(Collection::Users, "u", 1)).unwrap();
        let err = w.record(&rec(Collection::Dashboards, "d", 1)).unwrap_err();
        assert!(matches!(err, ArchiveError::BadRecord(_)), "{err}");
        let mut w = ArchiveWriter::new(Vec::new(), &key, "b", "t", &COLLS).unwrap();
        assert!(w.record(&rec(Collection::Sessions, "s", 1)).is_err());
    }
}

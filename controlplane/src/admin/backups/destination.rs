//! Where archives are kept: a folder on the backup volume, or an S3-compatible bucket. Backup,
//! verify, restore, delete and the sweep of interrupted runs all go through [`Destination`].
//!
//! Every archive is first written under a temporary name (`.<id>.nxbk.tmp` beside the final
//! file; `<id>.nxbk.tmp` beside the final key), read back and checked, then committed: renamed
//! (and the folder synced) on a volume; copied server-side to the final key, checked by size,
//! and the temporary object deleted in a bucket. An S3 object appears whole or not at all, so
//! nobody ever sees a half-written archive under a final name.
//!
//! A record's `location` says where its archive is (`/path/on/volume/…` or
//! `s3://bucket/key`), so archives written before the instance's destination changed stay
//! readable while their bucket or volume is still reachable.
use std::{
    fmt,
    io::{self, Read, Write},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{
    aws::{AmazonS3, AmazonS3Builder},
    path::Path as Key,
    BackoffConfig, ClientOptions, ObjectStore, RetryConfig, WriteMultipart,
};
use sha2::{Digest, Sha256};
use tokio::{runtime::Handle, sync::mpsc, task::JoinHandle};
use tokio_util::io::{StreamReader, SyncIoBridge};

/// The folder of a tenant's journal segments, beside its archives.
pub const JOURNAL_FOLDER: &str = "journal";
/// File name ending of a committed archive.
pub const EXTENSION: &str = ".nxbk";
/// Upload part size: S3's minimum for all but the last part.
const PART: usize = 5 << 20;
/// Parts in flight at once per upload.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    S3(#[from] object_store::Error),
    /// The archive is in a bucket this instance is not configured for.
    #[error("{0}")]
    Unreachable(String),
}

impl DestinationError {
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Io(e) => e.kind() == io::ErrorKind::NotFound,
            Self::S3(object_store::Error::NotFound { .. }) => true,
            _ => false,
        }
    }
}

/// How an instance reaches its bucket (flags, environment, a mounted Secret). The secret parts
/// never appear in `Debug`, logs or answers.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// `http(s)://host[:port]`; AWS's regional endpoint when absent. `http://` is allowed
    /// because it is spelled out (a loopback or in-cluster server).
    pub endpoint: Option<String>,
    pub region: String,
    /// Key prefix inside the bucket (no leading or trailing `/`); archives go to
    /// `<prefix>/<tenant>/<id>.nxbk`.
    pub prefix: String,
    /// `https://endpoint/bucket/key` (true) rather than `https://bucket.endpoint/key`.
    pub path_style: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("credentials", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum S3ConfigError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("S3 client: {0}")]
    Client(#[from] object_store::Error),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> S3ConfigError {
    S3ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A connected bucket (the client keeps its connection pool across runs).
pub struct S3Bucket {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
}

impl fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Bucket(s3://{}/{})", self.bucket, self.prefix)
    }
}

impl S3Bucket {
    pub fn connect(cfg: &S3Config) -> Result<Self, S3ConfigError> {
        let bucket = cfg.bucket.trim();
        // S3's bucket naming rules, the subset that matters for building URLs.
        if !(3..=63).contains(&bucket.len())
            || !bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(invalid(
                "bucket",
                "3 to 63 characters: lowercase letters, digits, '-' and '.'",
            ));
        }
        if cfg.access_key_id.is_empty() || cfg.secret_access_key.is_empty() {
            return Err(invalid(
                "credentials",
                "an access key id and a secret access key are required",
            ));
        }
        let prefix = cfg.prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            return Err(invalid("prefix", "no empty, '.' or '..' segments"));
        }
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_virtual_hosted_style_request(!cfg.path_style)
            // A destination that is down fails the run within about a minute rather than
            // retrying for minutes; the next run starts afresh.
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(60),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120)),
            );
        if let Some(token) = &cfg.session_token {
            b = b.with_token(token);
        }
        if let Some(endpoint) = &cfg.endpoint {
            let url = reqwest::Url::parse(endpoint)
                .map_err(|e| invalid("endpoint", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(invalid(
                    "endpoint",
                    "an http:// or https:// URL with a host",
                ));
            }
            b = b
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_allow_http(url.scheme() == "http");
        }
        Ok(Self {
            store: Arc::new(b.build()?),
            bucket: bucket.to_string(),
            prefix,
        })
    }

    fn folder(&self, tenant: &str) -> Key {
        let mut parts: Vec<&str> = self.prefix.split('/').filter(|p| !p.is_empty()).collect();
        parts.push(tenant);
        Key::from_iter(parts)
    }

    fn key(&self, tenant: &str, name: &str) -> Key {
        self.folder(tenant).child(name)
    }

    fn journal_key(&self, tenant: &str, name: &str) -> Key {
        self.folder(tenant).child(JOURNAL_FOLDER).child(name)
    }

    /// Commits an uploaded temporary object under its final key: a server-side copy, checked
    /// by size (`size`: what was uploaded), then the temporary removed.
    async fn promote(&self, tmp: &Key, fin: &Key, size: u64) -> Result<(), DestinationError> {
        self.store.copy(tmp, fin).await?;
        let copied = self.store.head(fin).await?.size;
        if copied != size {
            return Err(DestinationError::Unreachable(format!(
                "{} holds {copied} bytes after the copy of {size}",
                self.url(fin)
            )));
        }
        self.store.delete(tmp).await?;
        Ok(())
    }

    fn url(&self, key: &Key) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    pub fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Where this instance writes new archives.
#[derive(Clone, Debug)]
pub enum Destination {
    /// `<dir>/<tenant>/<id>.nxbk`.
    Volume(PathBuf),
    S3(Arc<S3Bucket>),
}

/// Where one archive is, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    pub fn parse(s: &str) -> Self {
        match s.strip_prefix("s3://").and_then(|r| r.split_once('/')) {
            Some((bucket, key)) => Self::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            None => Self::File(PathBuf::from(s)),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// A temporary archive being written (on a blocking thread).
pub enum Sink {
    File(io::BufWriter<std::fs::File>),
    /// Chunks go to an upload task; dropping the sink unfinished aborts the upload.
    S3 {
        tx: Option<mpsc::Sender<Chunk>>,
        buf: Vec<u8>,
        upload: Option<JoinHandle<Result<(), object_store::Error>>>,
        handle: Handle,
    },
}

pub enum Chunk {
    Data(Bytes),
    /// Everything was written: complete the upload.
    End,
}

/// Bytes gathered before they are handed to the upload task.
const CHUNK: usize = 1 << 20;

/// Streams chunks into a multipart upload; aborts it unless told the archive is complete.
async fn upload(
    store: Arc<AmazonS3>,
    key: Key,
    mut rx: mpsc::Receiver<Chunk>,
) -> Result<(), object_store::Error> {
    let mut w = WriteMultipart::new_with_chunk_size(store.put_multipart(&key).await?, PART);
    loop {
        match rx.recv().await {
            Some(Chunk::Data(b)) => {
                if let Err(e) = w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    let _ = w.abort().await;
                    return Err(e);
                }
                w.put(b);
            }
            Some(Chunk::End) => {
                // Parts still in flight fail here, while the upload can still be aborted.
                if let Err(e) = w.wait_for_capacity(0).await {
                    let _ = w.abort().await;
                    return Err(e);
                }
                return w.finish().await.map(|_| ());
            }
            None => {
                let _ = w.abort().await;
                return Err(object_store::Error::Generic {
                    store: "S3",
                    source: "the archive writer stopped before the end".into(),
                });
            }
        }
    }
}

impl Sink {
    /// The upload task's own error, once it stopped taking chunks.
    fn upload_error(
        upload: &mut Option<JoinHandle<Result<(), object_store::Error>>>,
        handle: &Handle,
    ) -> io::Error {
        match upload.take().map(|t| handle.block_on(t)) {
            Some(Ok(Err(e))) => io::Error::other(e),
            Some(Err(e)) => io::Error::other(e),
            _ => io::Error::other("the upload stopped"),
        }
    }

    fn send(&mut self, chunk: Chunk) -> io::Result<()> {
        let Self::S3 {
            tx, upload, handle, ..
        } = self
        else {
            return Ok(());
        };
        let sent = tx.as_ref().map(|tx| tx.blocking_send(chunk));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(Self::upload_error(upload, handle)),
        }
    }

    /// Makes everything written durable: synced to disk, or the upload completed.
    pub fn finish(mut self) -> io::Result<()> {
        if let Self::File(f) = self {
            return f.into_inner().map_err(|e| e.into_error())?.sync_all();
        }
        if let Self::S3 { buf, .. } = &mut self {
            let rest = Bytes::from(std::mem::take(buf));
            if !rest.is_empty() {
                self.send(Chunk::Data(rest))?;
            }
        }
        self.send(Chunk::End)?;
        let Self::S3 { upload, handle, .. } = &mut self else {
            unreachable!("the file case returned")
        };
        match upload.take().map(|t| handle.block_on(t)) {
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(io::Error::other(e)),
            Some(Err(e)) => Err(io::Error::other(e)),
            None => Err(io::Error::other("the upload stopped")),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Self::File(f) => f.write(data),
            Self::S3 { buf, .. } => {
                buf.extend_from_slice(data);
                if buf.len() >= CHUNK {
                    let full = Bytes::from(std::mem::replace(buf, Vec::with_capacity(CHUNK)));
                    self.send(Chunk::Data(full))?;
                }
                Ok(data.len())
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File(f) => f.flush(),
            // Chunks are sent as they fill; the rest goes at `finish`.
            Self::S3 { .. } => Ok(()),
        }
    }
}

pub type ArchiveRead = Box<dyn Read + Send>;

impl Destination {
    pub fn describe(&self) -> String {
        match self {
            Self::Volume(dir) => dir.display().to_string(),
            Self::S3(b) => b.describe(),
        }
    }

    fn temp_name(id: &str, s3: bool) -> String {
        if s3 {
            format!("{id}{EXTENSION}.tmp")
        } else {
            format!(".{id}{EXTENSION}.tmp")
        }
    }

    /// Where the temporary archive of a run goes.
    pub fn temp_location(&self, tenant: &str, id: &str) -> Location {
        match self {
            Self::Volume(dir) => Location::File(dir.join(tenant).join(Self::temp_name(id, false))),
            Self::S3(b) => Location::S3 {
                bucket: b.bucket.clone(),
                key: b.key(tenant, &Self::temp_name(id, true)).to_string(),
            },
        }
    }

    /// Opens the temporary archive of a run for writing (never over an existing file).
    pub async fn begin(&self, tenant: &str, id: &str) -> Result<Sink, DestinationError> {
        match self {
            Self::Volume(dir) => {
                let dir = dir.join(tenant);
                tokio::fs::create_dir_all(&dir).await?;
                let path = dir.join(Self::temp_name(id, false));
                let file = tokio::task::spawn_blocking(move || {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                })
                .await
                .map_err(io::Error::other)??;
                Ok(Sink::File(io::BufWriter::with_capacity(1 << 20, file)))
            }
            Self::S3(b) => {
                let key = b.key(tenant, &Self::temp_name(id, true));
                let (tx, rx) = mpsc::channel(PARTS_IN_FLIGHT);
                let upload = tokio::spawn(upload(b.store.clone(), key, rx));
                Ok(Sink::S3 {
                    tx: Some(tx),
                    buf: Vec::with_capacity(CHUNK),
                    upload: Some(upload),
                    handle: Handle::current(),
                })
            }
        }
    }

    /// Size and SHA-256 (hex) of the temporary archive of a run, read back from the destination.
    pub async fn read_back(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<(u64, String), DestinationError> {
        self.checksum(&self.temp_location(tenant, id)).await
    }

    /// Size and SHA-256 (hex) of an archive, streamed.
    pub async fn checksum(&self, loc: &Location) -> Result<(u64, String), DestinationError> {
        match loc {
            Location::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut f = std::fs::File::open(&path)?;
                    let mut sha = Sha256::new();
                    let mut buf = vec![0u8; 1 << 20];
                    let mut size = 0u64;
                    loop {
                        let n = f.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        sha.update(&buf[..n]);
                        size += n as u64;
                    }
                    Ok((size, hex::encode(sha.finalize())))
                })
                .await
                .map_err(io::Error::other)?
            }
            Location::S3 { bucket, key } => {
                let b = self.bucket_of(bucket)?;
                let mut stream = b.store.get(&Key::from(key.as_str())).await?.into_stream();
                let mut sha = Sha256::new();
                let mut size = 0u64;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk?;
                    sha.update(&chunk);
                    size += chunk.len() as u64;
                }
                Ok((size, hex::encode(sha.finalize())))
            }
        }
    }

    /// Gives the checked temporary archive its final name; returns where it now is.
    pub async fn commit(&self, tenant: &str, id: &str) -> Result<Location, DestinationError> {
        match self {
            Self::Volume(dir) => {
                let dir = dir.join(tenant);
                let fin = dir.join(format!("{id}{EXTENSION}"));
                tokio::fs::rename(dir.join(Self::temp_name(id, false)), &fin).await?;
                // The rename is durable once the directory is.
                tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
                    .await
                    .map_err(io::Error::other)??;
                let fin = tokio::fs::canonicalize(&fin).await?;
                Ok(Location::File(fin))
            }
            Self::S3(b) => {
                let tmp = b.key(tenant, &Self::temp_name(id, true));
                let fin = b.key(tenant, &format!("{id}{EXTENSION}"));
                let size = b.store.head(&tmp).await?.size;
                b.promote(&tmp, &fin, size).await?;
                Ok(Location::S3 {
                    bucket: b.bucket.clone(),
                    key: fin.to_string(),
                })
            }
        }
    }

    /// Removes a run's temporary archive, if any (after a failure, or an interrupted run).
    pub async fn discard(&self, tenant: &str, id: &str) -> Result<(), DestinationError> {
        self.remove(&self.temp_location(tenant, id)).await
    }

    /// Removes an archive; one already gone is fine.
    pub async fn remove(&self, loc: &Location) -> Result<(), DestinationError> {
        let res: Result<(), DestinationError> = match loc {
            Location::File(path) => tokio::fs::remove_file(path).await.map_err(Into::into),
            Location::S3 { bucket, key } => {
                let b = self.bucket_of(bucket)?;
                b.store
                    .delete(&Key::from(key.as_str()))
                    .await
                    .map_err(Into::into)
            }
        };
        match res {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }

    /// Opens an archive for reading, as a blocking reader (call on a blocking thread).
    pub fn open(&self, loc: &Location) -> Result<ArchiveRead, DestinationError> {
        match loc {
            Location::File(path) => Ok(Box::new(std::fs::File::open(path)?)),
            Location::S3 { bucket, key } => {
                let b = self.bucket_of(bucket)?;
                let handle = Handle::current();
                let got = handle.block_on(b.store.get(&Key::from(key.as_str())))?;
                let stream = got.into_stream().map_err(io::Error::other);
                Ok(Box::new(SyncIoBridge::new_with_handle(
                    StreamReader::new(stream),
                    handle,
                )))
            }
        }
    }

    /// Where the committed archive of backup `id` is.
    pub fn archive_location(&self, tenant: &str, id: &str) -> Location {
        match self {
            Self::Volume(dir) => Location::File(dir.join(tenant).join(format!("{id}{EXTENSION}"))),
            Self::S3(b) => Location::S3 {
                bucket: b.bucket.clone(),
                key: b.key(tenant, &format!("{id}{EXTENSION}")).to_string(),
            },
        }
    }

    /// The ids of the committed archives in a tenant's folder (temporary ones left out).
    pub async fn archives(&self, tenant: &str) -> Result<Vec<String>, DestinationError> {
        Ok(self
            .list(tenant)
            .await?
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .filter_map(|n| n.strip_suffix(EXTENSION).map(str::to_string))
            .collect())
    }

    /// Names of the objects or files in a tenant's folder (tests and diagnostics).
    pub async fn list(&self, tenant: &str) -> Result<Vec<String>, DestinationError> {
        match self {
            Self::Volume(dir) => {
                let mut out = Vec::new();
                let mut rd = match tokio::fs::read_dir(dir.join(tenant)).await {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(e.into()),
                };
                while let Some(e) = rd.next_entry().await? {
                    // The journal folder is listed by `segments`.
                    if e.file_type().await?.is_dir() {
                        continue;
                    }
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
                out.sort();
                Ok(out)
            }
            Self::S3(b) => {
                let folder = b.folder(tenant);
                let mut out: Vec<String> = b
                    .store
                    .list(Some(&folder))
                    .try_filter(|m| {
                        let direct = m
                            .location
                            .prefix_match(&folder)
                            .is_some_and(|rest| rest.count() == 1);
                        futures::future::ready(direct)
                    })
                    .map_ok(|m| m.location.filename().unwrap_or_default().to_string())
                    .try_collect()
                    .await?;
                out.sort();
                Ok(out)
            }
        }
    }

    /// Where a journal segment goes.
    pub fn segment_location(&self, tenant: &str, name: &str) -> Location {
        match self {
            Self::Volume(dir) => Location::File(dir.join(tenant).join(JOURNAL_FOLDER).join(name)),
            Self::S3(b) => Location::S3 {
                bucket: b.bucket.clone(),
                key: b.journal_key(tenant, name).to_string(),
            },
        }
    }

    /// Writes a journal segment the way archives are written: under a temporary name first,
    /// then committed under `name` (a rename of the synced file; a server-side copy checked
    /// by size), so a segment is seen whole or not at all.
    pub async fn put_segment(
        &self,
        tenant: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<Location, DestinationError> {
        match self {
            Self::Volume(dir) => {
                let dir = dir.join(tenant).join(JOURNAL_FOLDER);
                let (tmp, fin) = (dir.join(format!(".{name}.tmp")), dir.join(name));
                tokio::task::spawn_blocking(move || -> io::Result<()> {
                    std::fs::create_dir_all(&dir)?;
                    let mut f = std::fs::File::create(&tmp)?;
                    f.write_all(&bytes)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &fin)?;
                    std::fs::File::open(&dir)?.sync_all()
                })
                .await
                .map_err(io::Error::other)??;
                Ok(self.segment_location(tenant, name))
            }
            Self::S3(b) => {
                let tmp = b.journal_key(tenant, &format!("{name}.tmp"));
                let fin = b.journal_key(tenant, name);
                let size = bytes.len() as u64;
                b.store.put(&tmp, Bytes::from(bytes).into()).await?;
                b.promote(&tmp, &fin, size).await?;
                Ok(self.segment_location(tenant, name))
            }
        }
    }

    /// Names of the tenant's committed journal segments, sorted.
    pub async fn segments(&self, tenant: &str) -> Result<Vec<String>, DestinationError> {
        let mut out: Vec<String> = match self {
            Self::Volume(dir) => {
                let mut out = Vec::new();
                let dir = dir.join(tenant).join(JOURNAL_FOLDER);
                let mut rd = match tokio::fs::read_dir(&dir).await {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(e.into()),
                };
                while let Some(e) = rd.next_entry().await? {
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
                out
            }
            Self::S3(b) => {
                let folder = b.folder(tenant).child(JOURNAL_FOLDER);
                b.store
                    .list(Some(&folder))
                    .map_ok(|m| m.location.filename().unwrap_or_default().to_string())
                    .try_collect()
                    .await?
            }
        };
        out.retain(|n| !n.starts_with('.') && !n.ends_with(".tmp"));
        out.sort();
        Ok(out)
    }

    /// A journal segment's bytes (segments are small: one shipping interval of changes).
    pub async fn read_segment(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Vec<u8>, DestinationError> {
        match self {
            Self::Volume(dir) => {
                Ok(tokio::fs::read(dir.join(tenant).join(JOURNAL_FOLDER).join(name)).await?)
            }
            Self::S3(b) => {
                let got = b.store.get(&b.journal_key(tenant, name)).await?;
                Ok(got.bytes().await?.to_vec())
            }
        }
    }

    fn bucket_of(&self, bucket: &str) -> Result<&S3Bucket, DestinationError> {
        match self {
            Self::S3(b) if b.bucket == bucket => Ok(b),
            Self::S3(b) => Err(DestinationError::Unreachable(format!(
                "the archive is in bucket {bucket}; this instance's backup bucket is {}",
                b.bucket
            ))),
            Self::Volume(_) => Err(DestinationError::Unreachable(format!(
                "the archive is in bucket {bucket}; this instance has no S3 backup destination"
            ))),
        }
    }
}

/// Environment variables the S3 credentials are read from when no folder is given.
pub const ACCESS_KEY_ENV: &str = "NEXBII_BACKUP_S3_ACCESS_KEY_ID";
pub const SECRET_KEY_ENV: &str = "NEXBII_BACKUP_S3_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN_ENV: &str = "NEXBII_BACKUP_S3_SESSION_TOKEN";

/// The credentials: from a folder holding the files `accessKeyId`, `secretAccessKey` and
/// optionally `sessionToken` (a mounted Secret with the keys the `BackupSchedule`'s
/// `credentialsSecretRef` names), else from the environment variables above.
pub fn credentials(
    dir: Option<&std::path::Path>,
) -> Result<(String, String, Option<String>), S3ConfigError> {
    let read = |name: &str| -> Result<Option<String>, S3ConfigError> {
        match dir {
            Some(d) => match std::fs::read_to_string(d.join(name)) {
                Ok(v) => Ok(Some(v.trim().to_string()).filter(|v| !v.is_empty())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(invalid(
                    "credentials",
                    format!("{}: {e}", d.join(name).display()),
                )),
            },
            None => {
                let env = match name {
                    "accessKeyId" => ACCESS_KEY_ENV,
                    "secretAccessKey" => SECRET_KEY_ENV,
                    _ => SESSION_TOKEN_ENV,
                };
                Ok(std::env::var(env).ok().filter(|v| !v.is_empty()))
            }
        }
    };
    let missing = |what: &str| {
        let from = match dir {
            Some(d) => format!("no file {what} in {}", d.display()),
            None => format!("{what} not set: set the environment variables {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, or --backup-s3-credentials-dir"),
        };
        invalid("credentials", from)
    };
    let id = read("accessKeyId")?.ok_or_else(|| missing("accessKeyId"))?;
    let secret = read("secretAccessKey")?.ok_or_else(|| missing("secretAccessKey"))?;
    Ok((id, secret, read("sessionToken")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> S3Config {
        S3Config {
            bucket: "backups".into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: "us-east-1".into(),
            prefix: "/team/a/".into(),
            path_style: true,
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "very-secret-value".into(),
            session_token: None,
        }
    }

    #[test]
    fn locations_round_trip_and_keys_sit_under_the_prefix() {
        let b = Arc::new(S3Bucket::connect(&cfg()).unwrap());
        assert_eq!(b.describe(), "s3://backups/team/a");
        let d = Destination::S3(b);
        let tmp = d.temp_location("acme", "20260101-000000-abcd0123");
        assert_eq!(
            tmp.to_string(),
            "s3://backups/team/a/acme/20260101-000000-abcd0123.nxbk.tmp"
        );
        assert_eq!(Location::parse(&tmp.to_string()), tmp);
        let v = Destination::Volume(PathBuf::from("/var/backups"));
        let tmp = v.temp_location("acme", "x");
        assert_eq!(tmp, Location::File("/var/backups/acme/.x.nxbk.tmp".into()));
        assert_eq!(
            Location::parse("/var/backups/acme/x.nxbk"),
            Location::File("/var/backups/acme/x.nxbk".into())
        );
    }

    #[test]
    fn bad_settings_name_the_setting_and_secrets_never_show() {
        type Change = Box<dyn Fn(&mut S3Config)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.bucket = "Bad_Bucket".into()), "bucket"),
            (
                Box::new(|c| c.endpoint = Some("ftp://x".into())),
                "endpoint",
            ),
            (
                Box::new(|c| c.endpoint = Some("not a url".into())),
                "endpoint",
            ),
            (Box::new(|c| c.prefix = "a/../b".into()), "prefix"),
            (Box::new(|c| c.secret_access_key.clear()), "credentials"),
        ];
        for (change, field) in cases {
            let mut c = cfg();
            change(&mut c);
            let err = S3Bucket::connect(&c).unwrap_err();
            assert!(
                matches!(&err, S3ConfigError::Invalid { field: f, .. } if *f == field),
                "{err}"
            );
        }
        let shown = format!("{:?} {:?}", cfg(), S3Bucket::connect(&cfg()).unwrap());
        assert!(
            !shown.contains("very-secret-value") && !shown.contains("AKIDEXAMPLE"),
            "{shown}"
        );
    }

    #[test]
    fn credentials_come_from_a_mounted_secret_folder() {
        let dir = tempfile::tempdir().unwrap();
        let err = credentials(Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("accessKeyId"), "{err}");
        std::fs::write(dir.path().join("accessKeyId"), "id\n").unwrap();
        std::fs::write(dir.path().join("secretAccessKey"), "secret").unwrap();
        assert_eq!(
            credentials(Some(dir.path())).unwrap(),
            ("id".into(), "secret".into(), None)
        );
    }
}

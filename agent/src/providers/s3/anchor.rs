//! Checkpoints anchored in write-once storage: every signed checkpoint is
//! also written to an S3 bucket with Object Lock, in COMPLIANCE mode, as an
//! object named by its origin and tree size. Nobody — not root on the
//! agent's host, not the bucket's owner — can change or delete it before
//! its retention ends, so `restoreproof evidence verify --anchor` can check
//! the local chain against checkpoints the host cannot rewrite.
//!
//! Anchoring follows the ledger like a sink (cursor `@anchor` in
//! `sink_cursors`): after each drill and at each heartbeat of the service,
//! checkpoints recorded since the last anchored one are written; one that
//! could not be written is tried again next time.

use crate::config::{age_text, AnchorConfig};
use crate::evidence::chain::Checkpoint;
use crate::evidence::record::Body;
use crate::evidence::EventKind;
use crate::ledger::recorder::{lock, Recorder};
use crate::ledger::LedgerError;
use crate::source::{ErrorClass, SourceError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode};
use std::sync::Mutex;

/// The ledger cursor of anchoring.
pub const CURSOR: &str = "@anchor";

/// Why anchoring failed.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("anchor {0}")]
    Store(#[from] SourceError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The anchor bucket.
#[derive(Debug)]
pub struct Anchor {
    client: aws_sdk_s3::Client,
    cfg: AnchorConfig,
}

/// One anchored checkpoint, read back.
#[derive(Debug, Clone)]
pub struct Anchored {
    pub key: String,
    pub note: String,
    pub retain_until: Option<String>,
    pub mode: Option<String>,
}

impl Anchor {
    pub async fn open(cfg: &AnchorConfig) -> Self {
        Self {
            client: super::client(&cfg.s3).await,
            cfg: cfg.clone(),
        }
    }

    fn at(&self, what: &str) -> String {
        format!("{what} s3://{}/{}", self.cfg.s3.bucket, self.cfg.key_prefix)
    }

    /// The object a checkpoint of `origin` at `size` is written to.
    pub fn key(&self, origin: &str, size: u64) -> String {
        format!("{}{origin}/{size:020}.note", self.cfg.key_prefix)
    }

    /// Writes one signed note, locked in COMPLIANCE mode for the retention.
    ///
    /// # Errors
    /// The store's refusal, classified.
    pub async fn put(&self, c: &Checkpoint, note: &str) -> Result<String, SourceError> {
        let key = self.key(&c.origin, c.size);
        let until =
            chrono::Utc::now() + chrono::Duration::from_std(self.cfg.retention).unwrap_or_default();
        let what = self.at("PutObject (Object Lock) in");
        self.client
            .put_object()
            .bucket(&self.cfg.s3.bucket)
            .key(&key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                until.timestamp(),
            ))
            .content_type("text/plain; charset=utf-8")
            .body(ByteStream::from(note.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| super::classify(&e, &what, Some(&self.cfg.s3.bucket)))?;
        Ok(key)
    }

    /// Whether the bucket has Object Lock enabled (what makes the anchor
    /// write-once); `Err` when the store could not say.
    ///
    /// # Errors
    /// The store's answer, classified.
    pub async fn locked(&self) -> Result<bool, SourceError> {
        let what = self.at("GetObjectLockConfiguration on");
        match self
            .client
            .get_object_lock_configuration()
            .bucket(&self.cfg.s3.bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                .is_some_and(|e| e.as_str() == "Enabled")),
            Err(e) => {
                use aws_sdk_s3::error::ProvideErrorMetadata as _;
                if e.code() == Some("ObjectLockConfigurationNotFoundError") {
                    Ok(false)
                } else {
                    Err(super::classify(&e, &what, Some(&self.cfg.s3.bucket)))
                }
            }
        }
    }

    /// Every anchored checkpoint, every version of every key (a later
    /// write to the same name cannot hide an earlier, locked one), oldest
    /// name first.
    ///
    /// # Errors
    /// The store's refusal, classified.
    pub async fn read_all(&self) -> Result<Vec<Anchored>, SourceError> {
        let bucket = self.cfg.s3.bucket.as_str();
        let mut versions: Vec<(String, Option<String>)> = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .prefix(&self.cfg.key_prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| {
                    super::classify(&e, &self.at("ListObjectVersions on"), Some(bucket))
                })?;
            versions.extend(page.versions().iter().filter_map(|v| {
                v.key()
                    .map(|k| (k.to_owned(), v.version_id().map(str::to_owned)))
            }));
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
        versions.sort();
        let mut out = Vec::new();
        for (key, version) in versions {
            let obj = self
                .client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .set_version_id(version)
                .send()
                .await
                .map_err(|e| super::classify(&e, &self.at("GetObject in"), Some(bucket)))?;
            let mode = obj.object_lock_mode().map(|m| m.as_str().to_owned());
            let retain_until = obj
                .object_lock_retain_until_date()
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok());
            let body = obj.body.collect().await.map_err(|e| {
                SourceError::new(
                    ErrorClass::Network,
                    format!("{}: the body broke off: {e}", self.at("GetObject in")),
                )
            })?;
            out.push(Anchored {
                key,
                note: String::from_utf8_lossy(&body.into_bytes()).into_owned(),
                retain_until,
                mode,
            });
        }
        Ok(out)
    }
}

/// Writes the checkpoints recorded since the last anchored one; returns how
/// many were anchored.
///
/// # Errors
/// When the ledger cannot be read or a checkpoint could not be written
/// (the ones before it stay anchored; it is tried again next time).
pub async fn sync(cfg: &AnchorConfig, recorder: &Mutex<Recorder>) -> Result<u64, AnchorError> {
    let after = lock(recorder).ledger.sink_cursor(CURSOR)?;
    let pending: Vec<(u64, String)> = lock(recorder)
        .ledger
        .events_of_kind_after(EventKind::Checkpoint, after)?
        .into_iter()
        .filter_map(|r| match r.body {
            Body::Checkpoint(c) if c.key.is_some() => Some((r.seq, c.note)),
            _ => None,
        })
        .collect();
    if pending.is_empty() {
        return Ok(0);
    }
    let anchor = Anchor::open(cfg).await;
    let mut done = 0;
    for (seq, note) in pending {
        let note = note.as_str();
        let Ok(c) = Checkpoint::parse(note) else {
            lock(recorder).ledger.advance_sink_cursor(CURSOR, seq)?;
            continue;
        };
        let key = anchor.put(&c, note).await?;
        lock(recorder).ledger.advance_sink_cursor(CURSOR, seq)?;
        tracing::info!(key, size = c.size, retention = %age_text(cfg.retention), "Checkpoint anchored in write-once storage.");
        done += 1;
    }
    Ok(done)
}

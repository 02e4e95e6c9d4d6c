//! Recovery sources: where recovery points live and how they come back.
//!
//! A [`RecoverySource`] lists candidates page by page and restores one recovery
//! point at a time; everything above it (sampling, verification, the ledger,
//! evidence) is the same for every provider. Every provider error is classified
//! once, where it enters ([`SourceError`]), so retries and verdicts never look
//! at provider-specific codes.

pub mod as_of;
pub mod fan_out;
pub mod inventory;
pub mod memory;
pub mod retry;

use crate::config::SourceConfig;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use serde::Serialize;
use std::fmt;

mod roles;
pub use roles::{
    Lister, Mutator, RecoverySource, Restoration, RestoreRequest, Restorer, StoreCapability,
    MAX_PROBED_PARTS,
};

/// One restorable item seen in a listing, with what the provider says about it.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Candidate {
    pub key: String,
    /// The provider's version id; `None` for an S3 object written before
    /// versioning was enabled (its version id is `null`).
    pub version_id: Option<String>,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    /// The current version of its key.
    pub is_latest: bool,
    /// The key's current version is a delete marker: this version is only
    /// reachable by its version id.
    pub behind_delete_marker: bool,
    pub storage_class: Option<String>,
    /// The ETag as listed, without quotes.
    pub etag: Option<String>,
    /// Azure: the snapshot time of a blob snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Azure: the recovery point is soft-deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Deleted>,
    /// S3: the additional checksum algorithms the listing names for this
    /// version (empty when the store does not say).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksum_algorithms: Vec<ChecksumAlgorithm>,
    /// S3: how the listing says the additional checksum covers the object
    /// (`ChecksumType`), when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<ChecksumScope>,
    /// Azure: the `Content-MD5` the listing reported (base64), a reference
    /// that needs no request of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_md5: Option<String>,
}

/// When a soft-deleted recovery point was deleted and how long it stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    pub deleted_time: Option<DateTime<Utc>>,
    pub remaining_retention_days: Option<u32>,
}

impl Candidate {
    /// The id of this recovery point within its key, as the ledger keys
    /// baselines: the S3 version id (`null` for an unversioned object), the
    /// Azure version id, `snapshot:TIME` for an Azure snapshot, or `current`
    /// for an Azure base blob without versioning.
    pub fn point_id(&self) -> String {
        match (&self.snapshot, &self.version_id) {
            (Some(s), _) => format!("snapshot:{s}"),
            (None, Some(v)) => v.clone(),
            (None, None) if self.deleted.is_some() => "deleted".into(),
            (None, None) => "current".into(),
        }
    }
}

/// What a listing yields: a recovery point, or a delete marker (counted, never
/// restored).
#[derive(Debug, Clone, PartialEq)]
pub enum ListItem {
    Version(Candidate),
    DeleteMarker {
        key: String,
        /// When the marker was written.
        last_modified: DateTime<Utc>,
    },
}

/// How a stored checksum covers the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumScope {
    /// Over the whole object's bytes.
    FullObject,
    /// Over the concatenated checksums of the parts (`value-N`).
    Composite,
}

/// A checksum algorithm S3 (and later Azure) stores with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "lowercase")]
pub enum ChecksumAlgorithm {
    Crc64Nvme,
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
    Md5,
}

/// A checksum the provider stores for a recovery point, as the provider
/// encodes it (base64 for S3 `x-amz-checksum-*` and Azure `Content-MD5`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredChecksum {
    /// The reference's name in evidence, e.g. `s3.checksum.sha256`,
    /// `azure.content_md5`.
    pub name: String,
    /// What an auditor should know about how much the reference proves.
    pub note: Option<String>,
    pub algorithm: ChecksumAlgorithm,
    pub scope: ChecksumScope,
    /// Base64 of the digest, with `-N` for a composite checksum.
    pub value: String,
}

impl StoredChecksum {
    /// Azure's `Content-MD5` (base64) as a reference.
    pub fn azure_content_md5(value: String) -> Self {
        Self {
            name: "azure.content_md5".into(),
            algorithm: ChecksumAlgorithm::Md5,
            scope: ChecksumScope::FullObject,
            value,
            note: Some("a claim: Azure does not validate Content-MD5 on Put Block List".into()),
        }
    }
}

/// Everything the provider says about one recovery point, fetched before the
/// bytes: these are the provider-side references the restored bytes are
/// compared with.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoredAttributes {
    pub size: Option<u64>,
    /// The version id the response named (S3 `x-amz-version-id`, Azure
    /// `x-ms-version-id`), when it named one: part of the response's
    /// identity, bound to the listing before its references count.
    pub version_id: Option<String>,
    /// How the response said its additional checksum covers the object
    /// (S3 `x-amz-checksum-type`), when it said.
    pub checksum_type: Option<ChecksumScope>,
    /// Without quotes.
    pub etag: Option<String>,
    pub checksums: Vec<StoredChecksum>,
    /// Sizes of the parts of a multipart object, in order, when the provider
    /// or a probe revealed them.
    pub part_sizes: Option<Vec<u64>>,
    /// Number of parts of a multipart object (from `-N` or the provider).
    pub parts_count: Option<u32>,
    pub storage_class: Option<String>,
    /// Server-side encryption at rest as reported (`AES256`, `aws:kms`, ...).
    pub server_side_encryption: Option<String>,
    /// The ETag is known not to be an MD5 of the content (SSE-KMS, SSE-C).
    pub etag_not_md5: bool,
    /// Where `part_sizes` came from.
    pub part_sizes_from: Option<PartSizesFrom>,
    /// Set when the object sits in an archive tier that needs a restore
    /// request before it can be read; says why.
    pub archived: Option<String>,
    /// What the response said of the recovery point's immutability.
    pub lock: LockFacts,
}

/// A recovery point's immutability as the store stated it (S3 Object Lock
/// headers on GET/HEAD; Azure version-level immutability on Get Blob
/// Properties). Every member is `None` when the response said nothing of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LockFacts {
    /// `COMPLIANCE` / `GOVERNANCE` (S3); `locked` / `unlocked` (Azure).
    pub mode: Option<String>,
    /// RFC 3339.
    pub retain_until: Option<String>,
    pub legal_hold: Option<bool>,
}

impl LockFacts {
    /// Whether the response stated anything at all.
    pub fn stated(&self) -> bool {
        self.mode.is_some() || self.retain_until.is_some() || self.legal_hold.is_some()
    }
}

/// Whether the agent may read a recovery point's lock state, as far as the
/// store can tell: when a response states nothing, that is either no lock
/// or an identity that may not see it (S3 omits the headers without
/// `s3:GetObjectRetention` / `s3:GetObjectLegalHold`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum LockReadable {
    /// Said nothing because there is nothing: no retention, no hold.
    Readable,
    /// The identity may not read it: the message says which permission.
    Denied(String),
    /// The store could not say (the call failed or is missing).
    Unknown(String),
}

/// How the part sizes of a multipart recovery point were learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartSizesFrom {
    /// The provider listed every part's size (GetObjectAttributes
    /// `ObjectParts`, or HeadObject `partNumber` for every part): a
    /// disagreement is a mismatch.
    Reported,
    /// The provider reported the first and last parts' sizes and the others
    /// are taken to equal the first (what every SDK uploader writes): a value
    /// that does not reproduce is confirmed part by part before it counts.
    FirstAndLast,
}

/// A restore in progress: the body as a stream of chunks.
pub struct RestoreBody {
    pub content_length: Option<u64>,
    /// The version the provider says it served, when it says.
    pub version_id: Option<String>,
    pub server_side_encryption: Option<String>,
    /// The references the response itself carried (S3: the ETag and, with
    /// checksum mode, `x-amz-checksum-*`), so that a single-part recovery
    /// point needs no request besides its GET; `None` when the source reads
    /// references with [`Restorer::attributes`] before the body.
    pub attributes: Option<StoredAttributes>,
    pub body: BoxStream<'static, Result<Bytes, SourceError>>,
}

impl fmt::Debug for RestoreBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreBody")
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// What kind of failure a provider error is, decided once where it enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorClass {
    NotFound,
    AccessDenied,
    Throttled,
    Network,
    Timeout,
    /// A 5xx or other server-side failure.
    Server,
    /// The provider answered something the agent could not understand or that
    /// contradicts itself.
    Protocol,
    /// Configuration or credential problems that no retry fixes.
    Config,
    /// The store refused the request's signature or key (S3
    /// `SignatureDoesNotMatch`, `InvalidAccessKeyId`; Azure
    /// `AuthenticationFailed`): a wrong secret or a skewed clock, not a
    /// missing permission.
    Credentials,
    /// The store does not implement the call (HTTP 501 `NotImplemented`,
    /// 405 `MethodNotAllowed`): a capability of the store, not a fault of
    /// the recovery point, and never retried.
    NotImplemented,
    /// The recovery point sits in an archive tier and needs a restore request
    /// (rehydration) before it can be read.
    Archived,
    /// The agent's own host failed (scratch disk full, no permission on
    /// `scratch_dir`): says nothing about the recovery point; the run stops.
    Host,
}

impl ErrorClass {
    /// Whether trying again may help.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorClass::Throttled | ErrorClass::Network | ErrorClass::Timeout | ErrorClass::Server
        )
    }
}

/// A classified provider error with a message for people.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub class: ErrorClass,
    pub message: String,
}

impl SourceError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

/// One page of a listing and where the next one starts (`None`: last page).
pub type Page<M> = (Vec<ListItem>, Option<M>);

/// Streams a paged listing one page at a time: `fetch` gets the page at a
/// marker, each page is retried on its own ([`crate::source::retry`]), and the stream
/// ends after the last page or after the first page that failed for good.
/// Memory stays bounded by one page.
pub fn paged<'a, M, F, Fut>(
    attempts: u32,
    timeout: std::time::Duration,
    first: M,
    fetch: F,
) -> BoxStream<'a, Result<ListItem, SourceError>>
where
    M: Clone + Send + Sync + 'a,
    F: Fn(M) -> Fut + Send + Sync + 'a,
    Fut: std::future::Future<Output = Result<Page<M>, SourceError>> + Send + 'a,
{
    paged_of(attempts, timeout, first, fetch)
}

/// [`paged`] for pages of any item (a parallel listing's segments).
pub fn paged_of<'a, T, M, F, Fut>(
    attempts: u32,
    timeout: std::time::Duration,
    first: M,
    fetch: F,
) -> BoxStream<'a, Result<T, SourceError>>
where
    T: Send + 'a,
    M: Clone + Send + Sync + 'a,
    F: Fn(M) -> Fut + Send + Sync + 'a,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<M>), SourceError>> + Send + 'a,
{
    struct State<T, M, F> {
        buffered: std::collections::VecDeque<T>,
        next: Option<M>,
        failed: bool,
        fetch: F,
    }
    let start = State {
        buffered: std::collections::VecDeque::new(),
        next: Some(first),
        failed: false,
        fetch,
    };
    futures::stream::unfold(start, move |mut st| async move {
        loop {
            if let Some(item) = st.buffered.pop_front() {
                return Some((Ok(item), st));
            }
            if st.failed {
                return None;
            }
            let marker = st.next.take()?;
            let (page, _) = crate::source::retry::with_retries(attempts, "list page", || {
                crate::source::retry::bounded(timeout, "listing a page", (st.fetch)(marker.clone()))
            })
            .await;
            match page {
                Ok((items, next)) => {
                    st.buffered = items.into();
                    st.next = next;
                }
                Err(e) => {
                    st.failed = true;
                    return Some((Err(e), st));
                }
            }
        }
    })
    .boxed()
}

/// A source as evidence names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: crate::config::Provider,
    /// Bucket (S3) or container (Azure).
    pub bucket: String,
    pub prefix: String,
    /// Custom endpoint, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl SourceInfo {
    /// How evidence names a configured source that could not be built (its
    /// credentials or settings failed before any request).
    pub fn of_config(name: &str, config: &SourceConfig) -> Self {
        match config {
            SourceConfig::S3(c) => Self {
                name: name.to_owned(),
                kind: crate::config::Provider::S3,
                bucket: c.bucket.clone(),
                prefix: c.prefix.clone(),
                endpoint: c.endpoint.clone(),
            },
            SourceConfig::AzureBlob(c) => Self {
                name: name.to_owned(),
                kind: crate::config::Provider::AzureBlob,
                bucket: c.container.clone(),
                prefix: c.prefix.clone(),
                endpoint: Some(c.account_url.clone()),
            },
        }
    }
}

/// Settings a drill hands to the source it builds.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Attempts per listing page for transient errors.
    pub attempts: u32,
    /// Bound of each attempt of a listing page (the drill's
    /// `restore_timeout`).
    pub timeout: std::time::Duration,
}

impl BuildOptions {
    /// The options a drill's settings give.
    pub fn for_drill(d: &crate::config::DrillConfig) -> Self {
        Self {
            attempts: d.attempts,
            timeout: d.restore_timeout,
        }
    }
}

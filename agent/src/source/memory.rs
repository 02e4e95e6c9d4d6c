//! An in-memory store that answers as an S3 bucket does — MD5 ETags and a
//! full-object CRC64NVME checksum on every version, version ids, delete
//! markers, copies and canaries — with a fault switch per recovery point.
//! It is the fast test tier: a drill, a canary or a conformance check runs
//! against it with no server, and what it proves is the code above the
//! source; the providers are proven against real local servers.
//!
//! Not configurable as a source: nothing in a configuration can name it.

use super::{
    Candidate, ChecksumAlgorithm, ChecksumScope, ErrorClass, ListItem, Lister, Mutator,
    RestoreBody, Restorer, SourceError, SourceInfo, StoredAttributes, StoredChecksum,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use md5::Digest as _;
use std::sync::Mutex;

/// What a recovery point of a [`MemoryStore`] does when it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The body's bytes differ from those written (one bit flipped at
    /// `offset`); the headers still describe what was written.
    Corrupt { offset: usize },
    /// The response is another version of the same key, with that version's
    /// own headers (a store that serves the wrong version).
    ServeOther { version_id: String },
    /// The store answers with this class of error.
    Fail(ErrorClass),
    /// The provider code panics (a bug of the agent).
    Panic,
}

#[derive(Debug, Clone)]
struct Version {
    key: String,
    version_id: String,
    body: Bytes,
    last_modified: DateTime<Utc>,
    delete_marker: bool,
    fault: Option<Fault>,
}

impl Version {
    fn etag(&self) -> String {
        hex::encode(md5::Md5::digest(&self.body))
    }

    fn crc64nvme(&self) -> String {
        let mut d = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
        d.update(&self.body);
        B64.encode(d.finalize().to_be_bytes())
    }

    fn attributes(&self) -> StoredAttributes {
        StoredAttributes {
            size: Some(self.body.len() as u64),
            version_id: Some(self.version_id.clone()),
            checksum_type: Some(ChecksumScope::FullObject),
            etag: Some(self.etag()),
            checksums: vec![StoredChecksum {
                name: "s3.checksum.crc64nvme".into(),
                note: None,
                algorithm: ChecksumAlgorithm::Crc64Nvme,
                scope: ChecksumScope::FullObject,
                value: self.crc64nvme(),
            }],
            ..StoredAttributes::default()
        }
    }
}

/// An S3-like bucket in memory.
#[derive(Debug)]
pub struct MemoryStore {
    name: String,
    versions: Mutex<Vec<Version>>,
    /// Listing fails with this class (after no item) when set.
    list_fault: Mutex<Option<Fault>>,
    /// Where each version id is in `versions`, so a read finds its version
    /// at once however many there are.
    by_version: Mutex<std::collections::HashMap<String, usize>>,
}

impl MemoryStore {
    /// An empty bucket; its source is named `name` in evidence.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            versions: Mutex::new(Vec::new()),
            list_fault: Mutex::new(None),
            by_version: Mutex::default(),
        }
    }

    fn versions(&self) -> std::sync::MutexGuard<'_, Vec<Version>> {
        self.versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes a new version of `key` and returns its version id. Versions
    /// are dated one second apart, in the order they are written.
    pub fn put(&self, key: &str, body: impl Into<Bytes>) -> String {
        let n = self.versions().len();
        self.put_as(key, &format!("v{n:04}"), body)
    }

    /// [`MemoryStore::put`] with the version id given (as long as a real
    /// store's, for measurements of what records cost).
    pub fn put_as(&self, key: &str, version_id: &str, body: impl Into<Bytes>) -> String {
        let mut v = self.versions();
        let n = v.len();
        let version_id = version_id.to_owned();
        self.by_version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(version_id.clone(), n);
        v.push(Version {
            key: key.to_owned(),
            version_id: version_id.clone(),
            body: body.into(),
            last_modified: DateTime::from_timestamp(1_700_000_000 + n as i64, 0)
                .unwrap_or_default(),
            delete_marker: false,
            fault: None,
        });
        version_id
    }

    /// Deletes `key` as an accidental deletion does: a delete marker on top.
    pub fn delete(&self, key: &str) {
        let id = self.put(key, Bytes::new());
        let mut v = self.versions();
        if let Some(m) = v.iter_mut().find(|x| x.version_id == id) {
            m.delete_marker = true;
        }
    }

    /// Sets what reading one version does.
    pub fn fault(&self, version_id: &str, fault: Fault) {
        if let Some(x) = self
            .versions()
            .iter_mut()
            .find(|x| x.version_id == version_id)
        {
            x.fault = Some(fault);
        }
    }

    /// Sets what listing does.
    pub fn fault_listing(&self, fault: Fault) {
        *self
            .list_fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fault);
    }

    /// The versions now stored (delete markers excepted), for assertions.
    pub fn live_versions(&self) -> usize {
        self.versions().iter().filter(|v| !v.delete_marker).count()
    }

    fn find(&self, rp: &Candidate) -> Result<Version, SourceError> {
        let v = self.versions();
        let want = rp.version_id.as_deref();
        let at = want.and_then(|w| {
            self.by_version
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(w)
                .copied()
        });
        at.and_then(|i| v.get(i))
            .filter(|x| x.key == rp.key && !x.delete_marker)
            .cloned()
            .ok_or_else(|| {
                SourceError::new(
                    ErrorClass::NotFound,
                    format!("no version {want:?} of {}", rp.key),
                )
            })
    }

    fn candidate(v: &Version, latest: Option<&str>, marker_on_top: bool) -> Candidate {
        Candidate {
            key: v.key.clone(),
            version_id: Some(v.version_id.clone()),
            size: v.body.len() as u64,
            last_modified: v.last_modified,
            is_latest: latest == Some(v.version_id.as_str()),
            behind_delete_marker: marker_on_top,
            storage_class: Some("STANDARD".into()),
            etag: Some(v.etag()),
            checksum_algorithms: vec![ChecksumAlgorithm::Crc64Nvme],
            checksum_type: Some(ChecksumScope::FullObject),
            ..Candidate::default()
        }
    }
}

impl Lister for MemoryStore {
    fn describe(&self) -> SourceInfo {
        SourceInfo {
            name: self.name.clone(),
            kind: crate::config::Provider::S3,
            bucket: "memory".into(),
            prefix: String::new(),
            endpoint: None,
        }
    }

    fn list(&self) -> BoxStream<'_, Result<ListItem, SourceError>> {
        let fault = self
            .list_fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match fault {
            Some(Fault::Panic) => panic!("an internal error while listing"),
            Some(Fault::Fail(class)) => {
                return stream::iter([Err(SourceError::new(class, "the listing failed"))]).boxed()
            }
            _ => {}
        }
        let v = self.versions().clone();
        // Each key's newest version, found in one pass.
        let mut newest: std::collections::HashMap<&str, &Version> =
            std::collections::HashMap::new();
        for x in &v {
            newest.insert(x.key.as_str(), x);
        }
        let items: Vec<Result<ListItem, SourceError>> = v
            .iter()
            .map(|x| {
                let top = newest.get(x.key.as_str());
                let latest = top.map(|t| t.version_id.clone());
                let top_is_marker = top.is_some_and(|t| t.delete_marker);
                Ok(if x.delete_marker {
                    ListItem::DeleteMarker {
                        key: x.key.clone(),
                        last_modified: x.last_modified,
                    }
                } else {
                    ListItem::Version(Self::candidate(x, latest.as_deref(), top_is_marker))
                })
            })
            .collect();
        stream::iter(items).boxed()
    }
}

#[async_trait::async_trait]
impl Restorer for MemoryStore {
    async fn attributes(&self, rp: &Candidate) -> Result<StoredAttributes, SourceError> {
        Ok(self.find(rp)?.attributes())
    }

    fn attributes_before_restore(&self, _rp: &Candidate) -> bool {
        false
    }

    async fn restore(&self, rp: &Candidate) -> Result<RestoreBody, SourceError> {
        let mut v = self.find(rp)?;
        match v.fault.clone() {
            Some(Fault::Fail(class)) => {
                return Err(SourceError::new(class, "the store refused the read"))
            }
            Some(Fault::Panic) => panic!("an internal error while restoring"),
            Some(Fault::ServeOther { version_id }) => {
                let other = Candidate {
                    version_id: Some(version_id),
                    ..rp.clone()
                };
                v = self.find(&other)?;
            }
            Some(Fault::Corrupt { offset }) => {
                let mut b = v.body.to_vec();
                if let Some(x) = b.get_mut(offset) {
                    *x ^= 1;
                }
                let attrs = v.attributes();
                v.body = b.into();
                return Ok(Self::body(&v, attrs));
            }
            None => {}
        }
        let attrs = v.attributes();
        Ok(Self::body(&v, attrs))
    }
}

impl MemoryStore {
    fn body(v: &Version, attrs: StoredAttributes) -> RestoreBody {
        // In chunks of 64 KiB, as a network stream arrives.
        let chunks: Vec<Result<Bytes, SourceError>> = (0..v.body.len().div_ceil(1 << 16))
            .map(|i| Ok(v.body.slice(i << 16..((i + 1) << 16).min(v.body.len()))))
            .collect();
        RestoreBody {
            content_length: Some(v.body.len() as u64),
            version_id: Some(v.version_id.clone()),
            server_side_encryption: None,
            attributes: Some(attrs),
            body: stream::iter(chunks).boxed(),
        }
    }
}

#[async_trait::async_trait]
impl Mutator for MemoryStore {
    async fn copy(&self, rp: &Candidate, dest_key: &str) -> Result<Candidate, SourceError> {
        let body = self.find(rp)?.body;
        let id = self.put(dest_key, body);
        let v = self.versions();
        let x = v
            .iter()
            .find(|x| x.version_id == id)
            .ok_or_else(|| SourceError::new(ErrorClass::Protocol, "the copy vanished"))?;
        Ok(Self::candidate(x, Some(&id), false))
    }

    async fn remove_copy(&self, copy: &Candidate) -> Result<(), SourceError> {
        self.versions()
            .retain(|x| !(x.key == copy.key && Some(&x.version_id) == copy.version_id.as_ref()));
        Ok(())
    }

    async fn put_canary(&self, key: &str, body: Bytes) -> Result<Candidate, SourceError> {
        let id = self.put(key, body);
        let v = self.versions();
        let x = v
            .iter()
            .find(|x| x.version_id == id)
            .ok_or_else(|| SourceError::new(ErrorClass::Protocol, "the canary vanished"))?;
        Ok(Self::candidate(x, Some(&id), false))
    }

    async fn delete_canary(&self, key: &str) -> Result<(), SourceError> {
        self.delete(key);
        Ok(())
    }
}

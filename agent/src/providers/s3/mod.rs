//! Amazon S3 (and S3-compatible stores): object versions as recovery points.
//!
//! - Candidates come from ListObjectVersions, one page at a time, with each
//!   page retried on its own; delete markers are yielded as such so they are
//!   counted and never restored.
//! - References are planned with the fewest requests: the GetObject of the
//!   exact `versionId` asks for checksum mode, so the ETag and full-object
//!   `x-amz-checksum-*` arrive with the body and a single-part recovery point
//!   costs one request. Part sizes are asked for only when a reference needs
//!   them: GetObjectAttributes `ObjectParts` for objects that carry
//!   additional checksums, else HeadObject `partNumber=1` and `partNumber=N`.
//! - A call the store answers with 501/405 (or denies) is a capability of the
//!   store: remembered for the source's lifetime (one run), recorded in the
//!   run summary, never retried, and planning falls back.
//! - The body is read *without* the SDK's own response-checksum validation
//!   (checksum mode is asked for by header, not through the SDK's input):
//!   the verifier compares every reference itself and must see corrupt bytes
//!   rather than an SDK error.
//! - SDK retries are off; [`crate::source::retry`] is the one retry policy.

use crate::config::S3SourceConfig;
use crate::source::{
    BuildOptions, Candidate, ChecksumAlgorithm, ChecksumScope, ErrorClass, ListItem, Lister,
    LockReadable, Mutator, PartSizesFrom, RestoreBody, Restorer, SourceError, SourceInfo,
    StoreCapability, StoredAttributes, StoredChecksum, MAX_PROBED_PARTS,
};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{ChecksumMode, ObjectAttributes};
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
pub(crate) use errors::classify;
use futures::stream::{self, BoxStream, StreamExt};
pub use helpers::first_and_last_parts;
use helpers::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The stored checksum values of a GetObject, HeadObject or
/// GetObjectAttributes `Checksum` (they share the getters), by algorithm.
macro_rules! stored_values {
    ($x:expr) => {
        [
            (ChecksumAlgorithm::Crc64Nvme, $x.checksum_crc64_nvme()),
            (ChecksumAlgorithm::Crc32, $x.checksum_crc32()),
            (ChecksumAlgorithm::Crc32c, $x.checksum_crc32_c()),
            (ChecksumAlgorithm::Sha1, $x.checksum_sha1()),
            (ChecksumAlgorithm::Sha256, $x.checksum_sha256()),
            (ChecksumAlgorithm::Md5, $x.checksum_md5()),
        ]
    };
}

// After the macro above, which `parts` uses.
pub mod anchor;
pub mod backup;
pub mod batch;
mod errors;
mod helpers;
pub mod inventory;
mod listing;
mod parts;
pub mod posture;
pub mod ssm;

mod caps;
use caps::Caps;
use listing::{Marker, Pager};

/// One S3 bucket (and prefix) as a source of recovery points.
#[derive(Debug)]
pub struct S3Source {
    name: String,
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    attempts: u32,
    timeout: Duration,
    caps: Caps,
    /// The population from S3 Inventory reports, when configured.
    inventory: Option<crate::config::InventoryConfig>,
    /// When the report the last listing read was taken.
    inventory_as_of: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// Prefixes listed at once (`sources.NAME.list_concurrency`); 1: one
    /// listing.
    list_concurrency: usize,
    /// Reads the inventory bucket when it has credentials or a region of
    /// its own; else the source's client does.
    inventory_client: Option<Client>,
}

/// Whether an error says the store cannot (or will not) answer a metadata
/// call at all, as opposed to a fault of this recovery point.
fn is_capability(e: &SourceError) -> bool {
    matches!(
        e.class,
        ErrorClass::NotImplemented | ErrorClass::AccessDenied
    )
}

impl S3Source {
    /// Builds a client through the standard AWS credential chain (environment,
    /// shared profile, web identity, instance metadata) unless the config
    /// names a profile or static keys.
    ///
    /// # Errors
    /// Never at the moment: credentials are resolved on first use, and a
    /// missing one surfaces as a `Config`-class error from the first request.
    pub async fn build(
        name: &str,
        c: &S3SourceConfig,
        options: BuildOptions,
    ) -> Result<Self, SourceError> {
        let inventory_client = match c.inventory.as_ref().filter(|i| !i.access.is_default()) {
            Some(inv) => {
                let mut own = c.clone();
                if inv.access.profile.is_some() || inv.access.credentials.is_some() {
                    own.profile.clone_from(&inv.access.profile);
                    own.credentials.clone_from(&inv.access.credentials);
                }
                if inv.access.region.is_some() {
                    own.region.clone_from(&inv.access.region);
                }
                Some(client(&own).await)
            }
            None => None,
        };
        Ok(Self {
            inventory_client,
            name: name.to_owned(),
            client: client(c).await,
            bucket: c.bucket.clone(),
            prefix: c.prefix.clone(),
            endpoint: c.endpoint.clone(),
            attempts: options.attempts,
            timeout: options.timeout,
            caps: Caps::default(),
            inventory: c.inventory.clone(),
            inventory_as_of: std::sync::Mutex::new(None),
            list_concurrency: c.list_concurrency,
        })
    }
}

/// An S3 client for a source's config, with the SDK's retries off.
pub async fn client(c: &S3SourceConfig) -> Client {
    let (shared, region) = shared_config(c).await;
    let mut s3 = aws_sdk_s3::config::Builder::from(&shared)
        .region(region)
        .force_path_style(c.force_path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(e) = &c.endpoint {
        s3 = s3.endpoint_url(e);
    }
    Client::from_conf(s3.build())
}

/// The AWS settings of a source's config (profile, region, static
/// credentials; the SDK's retries off) and its region, for the clients of
/// other AWS services that act for it.
pub async fn shared_config(c: &S3SourceConfig) -> (aws_config::SdkConfig, Region) {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(p) = &c.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &c.region {
        // A configured region needs no lookup (and no instance metadata).
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(k) = &c.credentials {
        loader = loader.credentials_provider(Credentials::new(
            k.access_key_id.expose(),
            k.secret_access_key.expose(),
            k.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "restoreproof-config",
        ));
    }
    let shared = loader.load().await;
    let region = c
        .region
        .clone()
        .map(Region::new)
        .or_else(|| shared.region().cloned())
        .unwrap_or_else(|| Region::new(crate::config::defaults::S3_REGION));
    (shared, region)
}

impl S3Source {
    fn what(&self, op: &str, key: Option<&str>) -> String {
        match key {
            Some(k) => format!("{op} s3://{}/{k}", self.bucket),
            None => format!("{op} s3://{}/{}", self.bucket, self.prefix),
        }
    }

    /// What one page request needs, owned (prefix listings run as tasks).
    fn pager(&self, prefix: &str) -> Pager {
        Pager {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            prefix: prefix.to_owned(),
        }
    }
}

/// The references a GetObject or HeadObject response carries in its
/// headers (the two outputs have the same getters).
macro_rules! header_attributes {
    ($out:expr) => {{
        let out = &$out;
        let mut attrs = StoredAttributes {
            etag: out.e_tag().map(unquote),
            version_id: out.version_id().map(str::to_owned),
            checksum_type: out.checksum_type().and_then(|t| scope(t.as_str())),
            storage_class: out.storage_class().map(|s| s.as_str().to_owned()),
            server_side_encryption: out.server_side_encryption().map(|s| s.as_str().to_owned()),
            // SSE-C: the ETag is not an MD5 of the content.
            etag_not_md5: out.sse_customer_algorithm().is_some(),
            ..StoredAttributes::default()
        };
        push_checksums(
            &mut attrs,
            out.checksum_type().map(|t| t.as_str()),
            stored_values!(out),
        );
        attrs.parts_count = parts_count(&attrs);
        attrs.lock = crate::source::LockFacts {
            mode: out.object_lock_mode().map(|m| m.as_str().to_owned()),
            retain_until: out
                .object_lock_retain_until_date()
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
            legal_hold: out
                .object_lock_legal_hold_status()
                .map(|h| h.as_str().eq_ignore_ascii_case("ON")),
        };
        attrs
    }};
}

impl Lister for S3Source {
    fn describe(&self) -> SourceInfo {
        SourceInfo {
            name: self.name.clone(),
            kind: crate::config::Provider::S3,
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            endpoint: self.endpoint.clone(),
        }
    }

    fn population_as_of(&self) -> Option<DateTime<Utc>> {
        self.inventory_as_of.lock().ok().and_then(|t| *t)
    }

    fn list(&self) -> BoxStream<'_, Result<ListItem, SourceError>> {
        if let Some(inv) = &self.inventory {
            return self.list_inventory(inv);
        }
        let (attempts, timeout) = (self.attempts, self.timeout);
        let pager = self.pager(&self.prefix);
        if self.list_concurrency > 1 {
            // One level with a delimiter, then each prefix below it,
            // `list_concurrency` at once.
            let segments =
                crate::source::paged_of(attempts, timeout, Marker::default(), move |m: Marker| {
                    let p = pager.clone();
                    async move { p.segments(&m).await }
                });
            let template = self.pager("");
            return crate::source::fan_out::fan_out(
                segments,
                self.list_concurrency,
                move |prefix| {
                    let p = Pager {
                        prefix,
                        ..template.clone()
                    };
                    crate::source::paged(attempts, timeout, Marker::default(), move |m: Marker| {
                        let p = p.clone();
                        async move { p.page(&m).await }
                    })
                },
            );
        }
        crate::source::paged(attempts, timeout, Marker::default(), move |m: Marker| {
            let p = pager.clone();
            async move { p.page(&m).await }
        })
    }

    fn population_from(&self) -> &'static str {
        if self.inventory.is_some() {
            "inventory"
        } else if self.list_concurrency > 1 {
            "parallel_listing"
        } else {
            "listing"
        }
    }
}

#[async_trait::async_trait]
impl Restorer for S3Source {
    async fn attributes(&self, rp: &Candidate) -> Result<StoredAttributes, SourceError> {
        let what = self.what("HeadObject on", Some(&rp.key));
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&rp.key)
            .set_version_id(rp.version_id.clone())
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| classify(&e, &what, Some(&self.bucket)))?;
        let mut attrs = header_attributes!(head);
        attrs.size = head.content_length().map(|l| l.max(0) as u64);
        let class = attrs
            .storage_class
            .clone()
            .or_else(|| rp.storage_class.clone());
        if let Some(class) = class.filter(|c| maybe_archived(Some(c))) {
            attrs.archived = match (class.as_str(), head.restore(), head.archive_status()) {
                ("INTELLIGENT_TIERING", _, Some(a)) => Some(format!(
                    "the version is in the Intelligent-Tiering {} tier; request a restore (s3:RestoreObject) before it can be drilled",
                    a.as_str()
                )),
                ("INTELLIGENT_TIERING", _, None) => None,
                (_, Some(r), _) if r.contains("ongoing-request=\"false\"") => None,
                (_, Some(_), _) => Some(format!("a restore request for this {class} version is still in progress")),
                (_, None, _) => Some(format!(
                    "the version is in storage class {class}, which needs a restore request (s3:RestoreObject) before it can be read"
                )),
            };
        }
        Ok(attrs)
    }

    fn attributes_before_restore(&self, rp: &Candidate) -> bool {
        maybe_archived(rp.storage_class.as_deref())
    }

    async fn part_sizes(
        &self,
        rp: &Candidate,
        attrs: &mut StoredAttributes,
    ) -> Result<(), SourceError> {
        self.find_part_sizes(rp, attrs).await
    }

    async fn probe_every_part(
        &self,
        rp: &Candidate,
        parts: u32,
    ) -> Result<Option<Vec<u64>>, SourceError> {
        self.probe_parts(rp, parts).await
    }

    fn learned(&self) -> Vec<StoreCapability> {
        self.caps
            .learned
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// S3 omits the Object Lock headers both when a version has no lock
    /// and when the identity lacks `s3:GetObjectRetention`: one
    /// GetObjectRetention per run tells which (`NoSuchObjectLockConfiguration`
    /// or `InvalidRequest` for a bucket without Object Lock: nothing to read;
    /// `AccessDenied`: not readable).
    async fn lock_readable(&self, rp: &Candidate) -> LockReadable {
        self.caps
            .lock_readable
            .get_or_init(|| async {
                let what = self.what("GetObjectRetention on", Some(&rp.key));
                let answer = self
                    .client
                    .get_object_retention()
                    .bucket(&self.bucket)
                    .key(&rp.key)
                    .set_version_id(rp.version_id.clone())
                    .send()
                    .await;
                match answer {
                    Ok(_) => LockReadable::Readable,
                    Err(e) => match e.code() {
                        Some("NoSuchObjectLockConfiguration" | "ObjectLockConfigurationNotFoundError" | "InvalidRequest") => {
                            LockReadable::Readable
                        }
                        Some("AccessDenied") => LockReadable::Denied(
                            "the identity may not read Object Lock state (GetObjectRetention: AccessDenied); grant s3:GetObjectRetention and s3:GetObjectLegalHold to judge protection".into(),
                        ),
                        _ => LockReadable::Unknown(format!(
                            "the store did not say whether this version has Object Lock state: {}",
                            classify(&e, &what, Some(&self.bucket)).message
                        )),
                    },
                }
            })
            .await
            .clone()
    }

    async fn restore(&self, rp: &Candidate) -> Result<RestoreBody, SourceError> {
        let what = self.what("GetObject on", Some(&rp.key));
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&rp.key)
            .set_version_id(rp.version_id.clone())
            .customize()
            // Checksum mode by header, so that the stored checksums come back
            // with the body while the SDK does not validate it (see the
            // module docs).
            .mutate_request(|r| {
                r.headers_mut().insert("x-amz-checksum-mode", "ENABLED");
            })
            .send()
            .await
            .map_err(|e| classify(&e, &what, Some(&self.bucket)))?;
        let attributes = header_attributes!(out);
        let content_length = out.content_length().map(|l| l.max(0) as u64);
        let version_id = out.version_id().map(str::to_owned);
        let body = stream::unfold((out.body, what), |(mut body, what)| async move {
            let next = body.next().await?;
            let item = next.map_err(|e| {
                SourceError::new(
                    ErrorClass::Network,
                    format!("{what}: the body broke off: {}", DisplayErrorContext(&e)),
                )
            });
            Some((item, (body, what)))
        })
        .boxed();
        Ok(RestoreBody {
            content_length,
            version_id,
            server_side_encryption: attributes.server_side_encryption.clone(),
            attributes: Some(attributes),
            body,
        })
    }
}

#[async_trait::async_trait]
impl Mutator for S3Source {
    async fn copy(&self, rp: &Candidate, dest_key: &str) -> Result<Candidate, SourceError> {
        let what = self.what("CopyObject from", Some(&rp.key));
        let source = match &rp.version_id {
            Some(v) => format!("{}/{}?versionId={}", self.bucket, encode_key(&rp.key), v),
            None => format!("{}/{}", self.bucket, encode_key(&rp.key)),
        };
        let out = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(dest_key)
            .copy_source(source)
            .send()
            .await
            .map_err(|e| classify(&e, &what, Some(&self.bucket)))?;
        Ok(Candidate {
            key: dest_key.to_owned(),
            version_id: out.version_id().map(str::to_owned),
            size: rp.size,
            last_modified: chrono::Utc::now(),
            is_latest: true,
            ..Candidate::default()
        })
    }

    async fn remove_copy(&self, copy: &Candidate) -> Result<(), SourceError> {
        let what = self.what("DeleteObject on", Some(&copy.key));
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&copy.key)
            .set_version_id(copy.version_id.clone())
            .send()
            .await
            .map_err(|e| classify(&e, &what, Some(&self.bucket)))?;
        Ok(())
    }

    async fn put_canary(&self, key: &str, body: bytes::Bytes) -> Result<Candidate, SourceError> {
        let size = body.len() as u64;
        let what = self.what("PutObject on", Some(key));
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            // Buckets with Object Lock require an integrity header.
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(&e, &what, Some(&self.bucket)))?;
        Ok(Candidate {
            key: key.to_owned(),
            version_id: out.version_id().map(str::to_owned),
            size,
            last_modified: Utc::now(),
            is_latest: true,
            ..Candidate::default()
        })
    }

    async fn delete_canary(&self, key: &str) -> Result<(), SourceError> {
        let what = self.what("DeleteObject on", Some(key));
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&e, &what, Some(&self.bucket)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_parts_accept_only_layouts_that_add_up() {
        let mib = 1 << 20;
        assert_eq!(
            first_and_last_parts(11 * mib, 3, 5 * mib, mib),
            Some(vec![5 * mib, 5 * mib, mib])
        );
        // An uneven last part larger than the others.
        assert_eq!(
            first_and_last_parts(15 * mib + 123, 3, 5 * mib, 5 * mib + 123),
            Some(vec![5 * mib, 5 * mib, 5 * mib + 123])
        );
        assert_eq!(first_and_last_parts(7, 1, 7, 7), Some(vec![7]));
        // A server that ignores partNumber answers with the whole size.
        assert_eq!(first_and_last_parts(11 * mib, 3, 11 * mib, 11 * mib), None);
        assert_eq!(first_and_last_parts(11 * mib, 3, 3 * mib, mib), None);
        assert_eq!(first_and_last_parts(11 * mib, 0, 5 * mib, mib), None);
    }

    #[test]
    fn listed_keys_are_url_decoded() {
        assert_eq!(url_decode("a%01b+c%2Bd").as_deref(), Some("a\u{1}b c+d"));
        assert_eq!(url_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(url_decode("bad%zz"), None);
        assert_eq!(url_decode("cut%4"), None);
    }

    #[test]
    fn copy_sources_are_percent_encoded_but_keep_slashes() {
        assert_eq!(encode_key("db/2026 11/a+b.gz"), "db/2026%2011/a%2Bb.gz");
    }

    #[test]
    fn composite_values_end_in_a_part_count() {
        assert!(is_composite("abc=-3"));
        assert!(!is_composite("abc="));
        assert!(!is_composite("ab-c="));
        assert_eq!(dash_count("d41d8cd98f00b204e9800998ecf8427e-12"), Some(12));
    }
}

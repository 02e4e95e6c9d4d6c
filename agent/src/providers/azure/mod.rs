//! Azure Blob Storage: blobs, snapshots, versions and soft-deleted blobs of
//! one container (and prefix) as recovery points.
//!
//! - Candidates come from List Blobs with `include=snapshots,versions,deleted`,
//!   one page at a time, each page retried on its own.
//! - The reference is the `Content-MD5` the listing reports for the exact
//!   snapshot or version — a *claim*, since Azure does not validate it on
//!   Put Block List. Get Blob of that snapshot or version brings the bytes
//!   together with what the response says of itself (version id, ETag,
//!   Content-MD5, size, lock state), which is bound to the listing's entry
//!   before anything in it counts: one request per recovery point. Azure
//!   ETags are opaque: they bind identity and are never compared with the
//!   bytes.
//! - A soft-deleted blob or snapshot can only be read after Undelete Blob,
//!   which changes the live container: it is `skipped` with that reason.
//!   Archive-tier recovery points are `skipped` (rehydration needed).
//! - The SDK's retries are off; [`crate::source::retry`] is the one retry policy.
//!
//! Authentication: managed identity, workload identity, service principal
//! (client secret from a file, environment or systemd credential), Azure CLI,
//! or a SAS token (appended to the container URL; the SDK then sends no
//! bearer token). `azure_storage_blob` 1.1 has no shared-key option, so an
//! account key is not accepted: create a SAS from it instead.

pub mod inventory;
pub mod posture;
pub mod update_manager;

use crate::config::{AzureAuth, AzureSourceConfig, SecretSource};
use crate::source::{
    BuildOptions, Candidate, Deleted, ErrorClass, ListItem, Lister, Mutator, RestoreBody, Restorer,
    SourceError, SourceInfo, StoredAttributes, StoredChecksum,
};
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, RetryOptions, Url};
use azure_storage_blob::models::{
    BlobClientGetPropertiesResultHeaders, BlobContainerClientListBlobsOptions, ListBlobsIncludeItem,
};
use azure_storage_blob::{BlobClient, BlobContainerClient, BlobContainerClientOptions};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use std::sync::Arc;

mod auth;
use auth::credential;
pub use auth::service_client;

mod errors;
pub(crate) use errors::classify;

/// One Azure Blob container (and prefix) as a source of recovery points.
pub struct AzureBlobSource {
    name: String,
    client: BlobContainerClient,
    account_url: String,
    container: String,
    prefix: String,
    attempts: u32,
    timeout: std::time::Duration,
    /// `sources.NAME.allow_undelete`: without it the source refuses Undelete
    /// Blob itself, whatever the drill asks.
    allow_undelete: bool,
    /// The population from inventory reports: where they are, and a
    /// client of their container.
    inventory: Option<(crate::config::InventoryConfig, BlobContainerClient)>,
    /// When the report the last listing read was taken.
    inventory_as_of: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for AzureBlobSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client's URL may carry a SAS token: never print it.
        f.debug_struct("AzureBlobSource")
            .field("name", &self.name)
            .field("account_url", &self.account_url)
            .field("container", &self.container)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Client options with the SDK's retries off: [`crate::source::retry`] is the one
/// retry policy (the SDK's default backoff also turns a dead endpoint into
/// minutes of waiting).
fn no_retries() -> ClientOptions {
    ClientOptions {
        retry: RetryOptions::none(),
        ..Default::default()
    }
}

fn to_utc(t: Option<azure_core::time::OffsetDateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.unix_timestamp(), t.nanosecond()))
}

impl AzureBlobSource {
    /// Builds the container client with the configured authentication.
    ///
    /// # Errors
    /// A `Config`-class error when a secret cannot be read or the URL or
    /// credential cannot be set up.
    pub async fn build(
        name: &str,
        c: &AzureSourceConfig,
        build: BuildOptions,
    ) -> Result<Self, SourceError> {
        let config = |m: String| SourceError::new(ErrorClass::Config, m);
        let mut url = Url::parse(&format!("{}/{}", c.account_url, c.container)).map_err(|e| {
            config(format!(
                "sources.{name}.account_url does not form a URL: {e}"
            ))
        })?;
        let credential = credential(name, c, &mut url)?;
        let options = BlobContainerClientOptions {
            client_options: no_retries(),
            ..Default::default()
        };
        let client = BlobContainerClient::new(url, credential, Some(options)).map_err(|e| {
            config(format!(
                "cannot create the Azure client for source `{name}`: {e}"
            ))
        })?;
        let inventory = inventory::client(name, c)?;
        Ok(Self {
            name: name.to_owned(),
            client,
            account_url: c.account_url.clone(),
            container: c.container.clone(),
            prefix: c.prefix.clone(),
            attempts: build.attempts,
            timeout: build.timeout,
            allow_undelete: c.allow_undelete,
            inventory,
            inventory_as_of: std::sync::Mutex::new(None),
        })
    }

    fn blob(&self, rp: &Candidate) -> Result<BlobClient, SourceError> {
        let b = self.client.blob_client(&rp.key);
        let b = match (&rp.snapshot, &rp.version_id) {
            (Some(s), _) => b.with_snapshot(s),
            (None, Some(v)) => b.with_version(v),
            (None, None) => Ok(b),
        };
        b.map_err(|e| {
            SourceError::new(
                ErrorClass::Protocol,
                format!("cannot address blob {}: {e}", rp.key),
            )
        })
    }

    /// Encryption at rest the service reports for a blob: (server-side
    /// encrypted, encryption scope, customer-provided key).
    ///
    /// # Errors
    /// A classified error.
    pub async fn encryption(
        &self,
        rp: &Candidate,
    ) -> Result<(bool, Option<String>, bool), SourceError> {
        let what = self.what("Get Blob Properties", Some(rp));
        let props = self
            .blob(rp)?
            .get_properties(None)
            .await
            .map_err(|e| classify(e, &what))?;
        Ok((
            props.is_server_encrypted().ok().flatten().unwrap_or(false),
            props.encryption_scope().ok().flatten(),
            props.encryption_key_sha256().ok().flatten().is_some(),
        ))
    }

    fn what(&self, op: &str, rp: Option<&Candidate>) -> String {
        match rp {
            Some(c) => format!(
                "{op} {}/{}/{} ({})",
                self.account_url,
                self.container,
                c.key,
                c.point_id()
            ),
            None => format!(
                "{op} {}/{}/{}",
                self.account_url, self.container, self.prefix
            ),
        }
    }

    async fn list_page(
        &self,
        marker: Option<String>,
    ) -> Result<crate::source::Page<Option<String>>, SourceError> {
        let options = BlobContainerClientListBlobsOptions {
            include: Some(vec![
                ListBlobsIncludeItem::Snapshots,
                ListBlobsIncludeItem::Versions,
                ListBlobsIncludeItem::Deleted,
                ListBlobsIncludeItem::DeletedWithVersions,
            ]),
            marker,
            maxresults: Some(5000),
            prefix: (!self.prefix.is_empty()).then(|| self.prefix.clone()),
            ..Default::default()
        };
        let what = self.what("List Blobs on", None);
        let mut pages = self
            .client
            .list_blobs(Some(options))
            .map_err(|e| classify(e, &what))?
            .into_pages();
        let page = match pages.next().await {
            Some(p) => p.map_err(|e| classify(e, &what))?,
            None => return Ok((Vec::new(), None)),
        };
        let body = page.into_model().map_err(|e| classify(e, &what))?;
        let mut items = Vec::with_capacity(body.blob_items.len());
        for b in body.blob_items {
            let Some(key) = b.name.clone() else { continue };
            // A deleted blob that only has versions left: the entry itself is
            // not readable; its versions are listed as their own items.
            if b.has_versions_only == Some(true) {
                continue;
            }
            let props = b.properties.unwrap_or_default();
            let deleted = (b.deleted == Some(true)).then(|| Deleted {
                deleted_time: to_utc(props.deleted_time),
                remaining_retention_days: props.remaining_retention_days.map(|d| d.max(0) as u32),
            });
            let is_version = b.version_id.is_some() && b.snapshot.is_none();
            let is_latest = b.snapshot.is_none()
                && deleted.is_none()
                && if is_version {
                    b.is_current_version == Some(true)
                } else {
                    true
                };
            items.push(ListItem::Version(Candidate {
                key,
                version_id: b.version_id.filter(|_| b.snapshot.is_none()),
                size: props.content_length.unwrap_or(0),
                last_modified: to_utc(props.last_modified).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                is_latest,
                behind_delete_marker: false,
                storage_class: props.access_tier.map(|t| t.to_string()),
                etag: props
                    .etag
                    .map(|e| e.to_string().trim_matches('"').to_owned()),
                snapshot: b.snapshot,
                deleted,
                checksum_algorithms: Vec::new(),
                checksum_type: None,
                content_md5: props
                    .content_md5
                    .filter(|m| !m.is_empty())
                    .map(|m| B64.encode(m)),
            }));
        }
        Ok((items, body.next_marker.filter(|m| !m.is_empty()).map(Some)))
    }
}

impl Lister for AzureBlobSource {
    fn describe(&self) -> SourceInfo {
        SourceInfo {
            name: self.name.clone(),
            kind: crate::config::Provider::AzureBlob,
            bucket: self.container.clone(),
            prefix: self.prefix.clone(),
            endpoint: Some(self.account_url.clone()),
        }
    }

    fn population_as_of(&self) -> Option<DateTime<Utc>> {
        self.inventory_as_of.lock().ok().and_then(|t| *t)
    }

    fn list(&self) -> BoxStream<'_, Result<ListItem, SourceError>> {
        if let Some((inv, client)) = &self.inventory {
            return self.list_inventory(inv, client);
        }
        crate::source::paged(
            self.attempts,
            self.timeout,
            None,
            move |m: Option<String>| self.list_page(m),
        )
    }
}

#[async_trait::async_trait]
impl Restorer for AzureBlobSource {
    async fn attributes(&self, rp: &Candidate) -> Result<StoredAttributes, SourceError> {
        if rp.deleted.is_some() && rp.version_id.is_none() {
            return Ok(StoredAttributes {
                archived: Some(
                    "the blob is soft-deleted: without versioning it can only be read after Undelete Blob, which changes the live container and this drill is not allowed to do"
                        .into(),
                ),
                ..Default::default()
            });
        }
        let what = self.what("Get Blob Properties on", Some(rp));
        let props = self
            .blob(rp)?
            .get_properties(None)
            .await
            .map_err(|e| classify(e, &what))?;
        let header = |e: azure_core::Error| classify(e, &what);
        let mut attrs = StoredAttributes {
            size: props.content_length().map_err(header)?,
            storage_class: props.access_tier().map_err(header)?,
            ..Default::default()
        };
        // Version-level immutability (documented Get Blob Properties
        // headers): `x-ms-immutability-policy-mode` unlocked/locked,
        // `x-ms-immutability-policy-until-date`, `x-ms-legal-hold`.
        attrs.lock = crate::source::LockFacts {
            mode: props
                .immutability_policy_mode()
                .map_err(header)?
                .map(|m| m.as_ref().to_owned()),
            retain_until: to_utc(props.immutability_policy_expires_on().map_err(header)?)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            legal_hold: props.legal_hold().map_err(header)?,
        };
        attrs.version_id = props.version_id().map_err(header)?;
        attrs.etag = props
            .etag()
            .map_err(header)?
            .map(|e| e.to_string().trim_matches('"').to_owned());
        if let Some(md5) = props.content_md5().map_err(header)? {
            attrs
                .checksums
                .push(StoredChecksum::azure_content_md5(B64.encode(md5)));
        }
        let scope = props.encryption_scope().map_err(header)?;
        attrs.server_side_encryption = match (props.is_server_encrypted().map_err(header)?, scope) {
            (_, Some(scope)) => Some(format!("encryption scope {scope}")),
            (Some(true), None) => Some("server-encrypted".into()),
            _ => None,
        };
        if attrs
            .storage_class
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("archive"))
        {
            attrs.archived = Some(
                "the recovery point is in the Archive tier and needs rehydration (Set Blob Tier or a copy to an online tier) before it can be read"
                    .into(),
            );
        }
        if let Some(status) = props.archive_status().map_err(header)? {
            attrs.archived = Some(format!(
                "the recovery point is being rehydrated ({status}); drill it when that finishes"
            ));
        }
        Ok(attrs)
    }

    /// Get Blob alone carries the bytes, the identity and Content-MD5 of
    /// what it served, and the lock state: Get Blob Properties is asked
    /// first only for what must be `skipped` with its reason (a
    /// soft-deleted blob without a version, the Archive tier as listed).
    fn attributes_before_restore(&self, rp: &Candidate) -> bool {
        (rp.deleted.is_some() && rp.version_id.is_none())
            || rp
                .storage_class
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("archive"))
    }

    async fn restore(&self, rp: &Candidate) -> Result<RestoreBody, SourceError> {
        let what = self.what("Get Blob on", Some(rp));
        let options = azure_storage_blob::models::BlobClientDownloadOptions {
            parallel: std::num::NonZero::new(1),
            ..Default::default()
        };
        let result = self
            .blob(rp)?
            .download(Some(options))
            .await
            .map_err(|e| classify(e, &what))?;
        let p = &result.properties;
        // The download's first response may be ranged (the SDK fetches
        // large blobs in partitions): the blob's size is Content-Range's
        // total, and its Content-MD5 is `x-ms-blob-content-md5`.
        let content_length = result
            .headers
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(
                "content-range",
            ))
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.parse::<u64>().ok())
            .or(p.content_length);
        let md5 = p.blob_content_md5.as_ref().or(p.content_md5.as_ref());
        let version_id = p.version_id.clone();
        let server_encrypted = result
            .headers
            .get_optional_str(&azure_core::http::headers::HeaderName::from_static(
                "x-ms-server-encrypted",
            ))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let sse = match (&p.encryption_scope, server_encrypted) {
            (Some(scope), _) => Some(format!("encryption scope {scope}")),
            (None, true) => Some("server-encrypted".to_owned()),
            _ => None,
        };
        let attributes = StoredAttributes {
            version_id: version_id.clone(),
            etag: p
                .etag
                .as_ref()
                .map(|e| e.to_string().trim_matches('"').to_owned()),
            checksums: md5
                .filter(|m| !m.is_empty())
                .map(|m| StoredChecksum::azure_content_md5(B64.encode(m)))
                .into_iter()
                .collect(),
            server_side_encryption: sse.clone(),
            lock: crate::source::LockFacts {
                mode: p
                    .immutability_policy_mode
                    .as_ref()
                    .map(|m| m.as_ref().to_owned()),
                retain_until: to_utc(p.immutability_policy_expires_on)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                legal_hold: p.legal_hold,
            },
            ..StoredAttributes::default()
        };
        let what2 = what.clone();
        let body = result
            .body
            .map(move |chunk| {
                chunk.map_err(|e| {
                    SourceError::new(
                        ErrorClass::Network,
                        format!("{what2}: the body broke off: {e}"),
                    )
                })
            })
            .boxed();
        Ok(RestoreBody {
            content_length,
            version_id,
            server_side_encryption: sse,
            attributes: Some(attributes),
            body,
        })
    }
}

#[async_trait::async_trait]
impl Mutator for AzureBlobSource {
    async fn copy(&self, rp: &Candidate, dest_key: &str) -> Result<Candidate, SourceError> {
        let what = self.what("Copy Blob from", Some(rp));
        // The source URL carries the snapshot or version id, and the SAS when
        // that is how the agent authenticates.
        let source_url = self.blob(rp)?.url().to_string();
        let dest = self.client.blob_client(dest_key);
        dest.start_copy_from_url(source_url, None)
            .await
            .map_err(|e| classify(e, &what))?;
        // Copies within an account usually finish at once; poll until done.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        loop {
            let props = dest
                .get_properties(None)
                .await
                .map_err(|e| classify(e, &what))?;
            let header = |e: azure_core::Error| classify(e, &what);
            match props.copy_status().map_err(header)? {
                Some(s) if s.to_string().eq_ignore_ascii_case("pending") => {}
                Some(s) if !s.to_string().eq_ignore_ascii_case("success") => {
                    let why = props
                        .copy_status_description()
                        .map_err(header)?
                        .unwrap_or_default();
                    return Err(SourceError::new(
                        ErrorClass::Server,
                        format!("{what}: the copy ended {s}: {why}"),
                    ));
                }
                _ => {
                    return Ok(Candidate {
                        key: dest_key.to_owned(),
                        size: props.content_length().map_err(header)?.unwrap_or(rp.size),
                        last_modified: chrono::Utc::now(),
                        is_latest: true,
                        ..Candidate::default()
                    })
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(SourceError::new(
                    ErrorClass::Timeout,
                    format!("{what}: the copy did not finish within 10 minutes"),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    async fn undelete(&self, rp: &Candidate) -> Result<(), SourceError> {
        if !self.allow_undelete {
            return Err(SourceError::new(
                ErrorClass::Config,
                format!(
                    "{} refused: undelete changes the live container; allow it with sources.{}.allow_undelete = true",
                    self.what("Undelete Blob on", Some(rp)),
                    self.name
                ),
            ));
        }
        self.undelete_canary(rp).await
    }

    async fn redelete(&self, rp: &Candidate) -> Result<(), SourceError> {
        let what = self.what("Delete Blob on", Some(rp));
        let options = azure_storage_blob::models::BlobClientDeleteOptions {
            delete_snapshots: Some(azure_storage_blob::models::DeleteSnapshotsOptionType::Include),
            ..Default::default()
        };
        self.client
            .blob_client(&rp.key)
            .delete(Some(options))
            .await
            .map_err(|e| classify(e, &what))?;
        Ok(())
    }

    /// Put Blob, then a snapshot of it: the snapshot is the recovery point
    /// soft delete keeps when the canary is deleted.
    async fn put_canary(&self, key: &str, body: bytes::Bytes) -> Result<Candidate, SourceError> {
        use azure_storage_blob::models::BlobClientCreateSnapshotResultHeaders;
        let size = body.len() as u64;
        let point = Candidate {
            key: key.to_owned(),
            size,
            ..Candidate::default()
        };
        let what = self.what("Put Blob on", Some(&point));
        let blob = self.client.blob_client(key);
        let uploaded = blob
            .upload(azure_core::http::RequestContent::from(body.to_vec()), None)
            .await
            .map_err(|e| classify(e, &what))?;
        let version_id = uploaded.version_id;
        let what = self.what("Snapshot Blob on", Some(&point));
        let snap = blob
            .create_snapshot(None)
            .await
            .map_err(|e| classify(e, &what))?;
        let snapshot = snap.snapshot().map_err(|e| classify(e, &what))?;
        Ok(Candidate {
            version_id,
            snapshot,
            last_modified: Utc::now(),
            is_latest: true,
            ..point
        })
    }

    /// Delete Blob with its snapshots: soft delete keeps them.
    async fn delete_canary(&self, key: &str) -> Result<(), SourceError> {
        self.redelete(&Candidate {
            key: key.to_owned(),
            ..Candidate::default()
        })
        .await
    }

    /// Undelete Blob: for the agent's own canary (no `allow_undelete`
    /// needed: the caller checked the key is under the canary prefix), and
    /// for `undelete` drills once they were allowed.
    async fn undelete_canary(&self, rp: &Candidate) -> Result<(), SourceError> {
        let what = self.what("Undelete Blob on", Some(rp));
        self.client
            .blob_client(&rp.key)
            .undelete(None)
            .await
            .map_err(|e| classify(e, &what))?;
        Ok(())
    }

    async fn remove_copy(&self, copy: &Candidate) -> Result<(), SourceError> {
        let what = self.what("Delete Blob on", Some(copy));
        self.client
            .blob_client(&copy.key)
            .delete(None)
            .await
            .map_err(|e| classify(e, &what))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, SourceConfig};

    /// Defence in depth: whatever a drill asks, a source without
    /// `allow_undelete` refuses Undelete Blob before sending anything (the
    /// account URL points at a closed port, so a request would fail
    /// differently).
    #[tokio::test]
    async fn undelete_is_refused_by_the_source_unless_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("sas"), "sv=2024-01-01&sig=x").expect("sas");
        let config = Config::from_toml(
            "[sources.s]\nkind = \"azure_blob\"\naccount_url = \"http://127.0.0.1:9/devstoreaccount1\"\ncontainer = \"drills\"\n[sources.s.auth]\nmethod = \"sas\"\nsas_file = \"sas\"\n",
            dir.path(),
        )
        .expect("config");
        let Some(SourceConfig::AzureBlob(c)) = config.sources.get("s") else {
            panic!("an Azure source");
        };
        let options = BuildOptions {
            attempts: 1,
            timeout: std::time::Duration::from_secs(5),
        };
        let source = AzureBlobSource::build("s", c, options)
            .await
            .expect("build");
        let rp = Candidate {
            key: "gone.log".into(),
            ..Candidate::default()
        };
        let refused = source.undelete(&rp).await.expect_err("refused");
        assert_eq!(refused.class, ErrorClass::Config);
        assert!(
            refused.message.contains("sources.s.allow_undelete = true"),
            "{refused}"
        );

        let mut allowed = c.clone();
        allowed.allow_undelete = true;
        let source = AzureBlobSource::build("s", &allowed, options)
            .await
            .expect("build");
        let tried = source.undelete(&rp).await.expect_err("nothing listens");
        assert!(!tried.message.contains("allow_undelete"), "{tried}");
    }
}

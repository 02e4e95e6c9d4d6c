//! An Azure Blob Inventory report as a source's population, instead of
//! listing every blob: the newest `YYYY/MM/DD/HH-MM-SS/RULE/RULE-manifest.json`
//! in the destination container whose `RULE-manifest.checksum` (the MD5 of
//! the manifest) matches and whose status is `Succeeded`; its data files
//! (each checked against the size the manifest gives, and against the
//! Content-MD5 the service stores for it when there is one), CSV with the
//! schema row first or Parquet, read by the column names the file gives.
//!
//! `Name` is the blob's path with its container (`container/blob`): rows of
//! other containers, or outside the source's prefix, are not its recovery
//! points. Versions (`VersionId`, `IsCurrentVersion`), snapshots
//! (`Snapshot`) and soft-deleted blobs (`Deleted`, `DeletedTime`,
//! `RemainingRetentionDays`) become recovery points as a listing makes them;
//! `Content-MD5` is the reference a listing gives; `Content-CRC64` is not
//! read (no reference of this release is a CRC-64 of an Azure blob).

use super::classify;
use crate::config::InventoryConfig;
use crate::source::inventory::{
    position, time, DataFile, Dialect, Fields, Format, Report, Row, RowReader,
};
use crate::source::{Candidate, Deleted, ErrorClass, ListItem, SourceError};
use azure_storage_blob::models::BlobContainerClientListBlobsOptions;
use azure_storage_blob::BlobContainerClient;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt as _};
use md5::{Digest as _, Md5};
use serde::Deserialize;
use std::sync::Arc;

/// `RULE-manifest.json`, as far as it is read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    files: Vec<ManifestFile>,
    inventory_start_time: String,
    rule_definition: RuleDefinition,
    status: String,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    blob: String,
    size: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleDefinition {
    format: String,
    #[serde(default)]
    object_type: Option<String>,
}

/// Azure Blob Inventory's blob columns.
#[derive(Debug)]
pub struct AzureDialect {
    /// The source's container: `Name` starts with it and `/`.
    pub container: String,
    pub prefix: String,
}

#[derive(Debug)]
struct Columns {
    name: usize,
    version_id: Option<usize>,
    is_current: Option<usize>,
    snapshot: Option<usize>,
    deleted: Option<usize>,
    deleted_time: Option<usize>,
    retention_days: Option<usize>,
    length: Option<usize>,
    last_modified: Option<usize>,
    content_md5: Option<usize>,
    etag: Option<usize>,
    tier: Option<usize>,
    /// `container/prefix`: what a row's `Name` must start with.
    within: String,
    container_len: usize,
}

impl Dialect for AzureDialect {
    fn columns(&self, names: &[String]) -> Result<Box<dyn RowReader>, String> {
        let at = |n: &str| position(names, n);
        Ok(Box::new(Columns {
            name: at("Name").ok_or_else(|| {
                format!(
                    "the report names no Name column (columns: {}); is it a container inventory? a blob inventory rule is needed",
                    names.join(", ")
                )
            })?,
            version_id: at("VersionId"),
            is_current: at("IsCurrentVersion"),
            snapshot: at("Snapshot"),
            deleted: at("Deleted"),
            deleted_time: at("DeletedTime"),
            retention_days: at("RemainingRetentionDays"),
            length: at("Content-Length"),
            last_modified: at("Last-Modified"),
            content_md5: at("Content-MD5"),
            etag: at("ETag"),
            tier: at("AccessTier"),
            within: format!("{}/{}", self.container, self.prefix),
            container_len: self.container.len() + 1,
        }))
    }
}

/// A stored MD5 as the listing gives it (base64); a report may write hex.
fn md5_base64(v: &str) -> Option<String> {
    if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(v).ok().map(|b| B64.encode(b));
    }
    B64.decode(v)
        .ok()
        .filter(|b| b.len() == 16)
        .map(|_| v.to_owned())
}

impl RowReader for Columns {
    fn row(&self, f: &dyn Fields) -> Result<Option<Row>, String> {
        let name = f.get(self.name).unwrap_or_default();
        if !name.starts_with(&self.within) {
            return Ok(None);
        }
        let key = name[self.container_len..].to_owned();
        let yes = |i: Option<usize>| f.get_opt(i).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let deleted = yes(self.deleted).then(|| Deleted {
            deleted_time: f.get_opt(self.deleted_time).and_then(time),
            remaining_retention_days: f.get_opt(self.retention_days).and_then(|d| d.parse().ok()),
        });
        let snapshot = f.get_opt(self.snapshot).map(str::to_owned);
        let version_id = f
            .get_opt(self.version_id)
            .filter(|_| snapshot.is_none())
            .map(str::to_owned);
        let is_latest = snapshot.is_none()
            && deleted.is_none()
            && (version_id.is_none() || yes(self.is_current));
        let size = match f.get_opt(self.length) {
            Some(s) => s
                .parse()
                .map_err(|_| format!("Content-Length `{s}` is not a number of bytes"))?,
            None => 0,
        };
        let content_md5 = match f.get_opt(self.content_md5) {
            Some(m) => {
                Some(md5_base64(m).ok_or_else(|| format!("Content-MD5 `{m}` is not an MD5"))?)
            }
            None => None,
        };
        Ok(Some(Row::Version(Candidate {
            key,
            version_id,
            size,
            last_modified: f
                .get_opt(self.last_modified)
                .and_then(time)
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            is_latest,
            storage_class: f.get_opt(self.tier).map(str::to_owned),
            etag: f.get_opt(self.etag).map(|e| e.trim_matches('"').to_owned()),
            snapshot,
            deleted,
            content_md5,
            ..Candidate::default()
        })))
    }
}

fn protocol(what: String) -> SourceError {
    SourceError::new(ErrorClass::Protocol, what)
}

/// Finds the newest usable report of `inv.rule` in `client`'s container
/// (`url` names it in messages), refuses one older than `inv.max_age`, and
/// says how to read it.
///
/// # Errors
/// No report; a manifest whose checksum does not match or whose run did
/// not succeed; a report older than `max_age`; what Azure answered.
pub async fn find(
    client: &BlobContainerClient,
    url: &str,
    inv: &InventoryConfig,
    dialect_of: AzureDialect,
) -> Result<(Report, AzureDialect), SourceError> {
    let rule = inv.rule.clone().unwrap_or_default();
    let mut manifests = manifest_blobs(client, url, &rule).await?;
    manifests.sort_unstable_by(|a, b| b.cmp(a));
    let mut passed_over = Vec::new();
    for blob in manifests {
        let dir = blob.rsplitn(3, '/').nth(2).unwrap_or_default().to_owned();
        let Ok(manifest) = get(client, url, &blob).await else {
            continue;
        };
        let Ok(checksum) = get(
            client,
            url,
            &format!("{dir}/{rule}/{rule}-manifest.checksum"),
        )
        .await
        else {
            // The checksum is written last: the run is not complete.
            continue;
        };
        let stated = String::from_utf8_lossy(&checksum).trim().to_owned();
        let digest = Md5::digest(&manifest);
        if !stated.eq_ignore_ascii_case(&hex::encode(digest)) && stated != B64.encode(digest) {
            tracing::warn!(report = %blob, stated, "An inventory manifest does not match its checksum; an older report is used if one matches.");
            passed_over.push(format!("{url}/{blob} (its checksum file says {stated})"));
            continue;
        }
        let m: Manifest = serde_json::from_slice(&manifest)
            .map_err(|e| protocol(format!("{url}/{blob}: {e}")))?;
        if !m.status.eq_ignore_ascii_case("Succeeded") {
            tracing::warn!(report = %blob, status = %m.status, "An inventory run did not succeed; an older report is used if one did.");
            passed_over.push(format!("{url}/{blob} (status {})", m.status));
            continue;
        }
        return report(client, url, inv, &blob, m, dialect_of).await;
    }
    Err(if passed_over.is_empty() {
        SourceError::new(
            ErrorClass::Config,
            format!(
                "no inventory report of rule `{rule}` in {url}: check sources.*.inventory.location (the rule's destination container) and rule, and that the first report has been delivered (YYYY/MM/DD/HH-MM-SS/{rule}/{rule}-manifest.json)"
            ),
        )
    } else {
        protocol(format!(
            "no usable inventory report: {}; the report is damaged or incomplete; the drill does not use it",
            passed_over.join("; ")
        ))
    })
}

/// The report a checked manifest describes.
async fn report(
    client: &BlobContainerClient,
    url: &str,
    inv: &InventoryConfig,
    blob: &str,
    m: Manifest,
    dialect: AzureDialect,
) -> Result<(Report, AzureDialect), SourceError> {
    let as_of = time(&m.inventory_start_time).ok_or_else(|| {
        protocol(format!(
            "{url}/{blob}: inventoryStartTime `{}` is not a time",
            m.inventory_start_time
        ))
    })?;
    crate::providers::s3::inventory::check_age(as_of, inv, &format!("{url}/{blob}"))?;
    if m.rule_definition
        .object_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("blob"))
    {
        return Err(SourceError::new(
            ErrorClass::Config,
            format!("{url}/{blob} is a container inventory: sources.*.inventory.rule must name a blob inventory rule"),
        ));
    }
    let format = match m.rule_definition.format.to_ascii_lowercase().as_str() {
        "csv" => Format::Csv {
            gzip: false,
            header: true,
        },
        "parquet" => Format::Parquet,
        other => {
            return Err(SourceError::new(
                ErrorClass::Config,
                format!(
                "{url}/{blob}: the report's format is {other}; this release reads CSV and Parquet"
            ),
            ))
        }
    };
    let mut files = Vec::with_capacity(m.files.len());
    for f in m.files {
        files.push(DataFile {
            name: format!("{url}/{}", f.blob),
            md5: stored_md5(client, url, &f.blob).await?,
            size: f.size,
        });
    }
    Ok((
        Report {
            as_of,
            format,
            columns: None,
            files,
        },
        dialect,
    ))
}

/// The Content-MD5 the service stores for a data file, when it has one.
async fn stored_md5(
    client: &BlobContainerClient,
    url: &str,
    blob: &str,
) -> Result<Option<String>, SourceError> {
    use azure_storage_blob::models::BlobClientGetPropertiesResultHeaders as _;
    let what = format!("Get Blob Properties on {url}/{blob}");
    let props = client
        .blob_client(blob)
        .get_properties(None)
        .await
        .map_err(|e| classify(e, &what))?;
    Ok(props
        .content_md5()
        .ok()
        .flatten()
        .filter(|m| m.len() == 16)
        .map(hex::encode))
}

/// Every `…/RULE/RULE-manifest.json` in the container.
async fn manifest_blobs(
    client: &BlobContainerClient,
    url: &str,
    rule: &str,
) -> Result<Vec<String>, SourceError> {
    let what = format!("List Blobs on {url}");
    let suffix = format!("/{rule}/{rule}-manifest.json");
    let mut found = Vec::new();
    let mut marker = None;
    loop {
        let options = BlobContainerClientListBlobsOptions {
            marker: marker.take(),
            maxresults: Some(5000),
            ..Default::default()
        };
        let mut pages = client
            .list_blobs(Some(options))
            .map_err(|e| classify(e, &what))?
            .into_pages();
        let Some(page) = pages.next().await else {
            return Ok(found);
        };
        let body = page
            .map_err(|e| classify(e, &what))?
            .into_model()
            .map_err(|e| classify(e, &what))?;
        for b in body.blob_items {
            if let Some(name) = b.name.filter(|n| n.ends_with(&suffix) && is_report_dir(n)) {
                found.push(name);
            }
        }
        match body.next_marker.filter(|m| !m.is_empty()) {
            Some(m) => marker = Some(m),
            None => return Ok(found),
        }
    }
}

/// `YYYY/MM/DD/HH-MM-SS/…`.
fn is_report_dir(name: &str) -> bool {
    name.get(..19)
        .is_some_and(|d| chrono::NaiveDateTime::parse_from_str(d, "%Y/%m/%d/%H-%M-%S").is_ok())
}

async fn get(client: &BlobContainerClient, url: &str, blob: &str) -> Result<Vec<u8>, SourceError> {
    let what = format!("Get Blob on {url}/{blob}");
    let mut body = open(client, url, blob).await?;
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut body, &mut out)
        .await
        .map_err(|e| SourceError::new(ErrorClass::Network, format!("{what}: {e}")))?;
    Ok(out)
}

/// The body of one blob of the inventory container, streamed.
///
/// # Errors
/// What Azure answered.
pub async fn open(
    client: &BlobContainerClient,
    url: &str,
    blob: &str,
) -> Result<impl tokio::io::AsyncRead + Send + Unpin + 'static, SourceError> {
    let what = format!("Get Blob on {url}/{blob}");
    let options = azure_storage_blob::models::BlobClientDownloadOptions {
        parallel: std::num::NonZero::new(1),
        ..Default::default()
    };
    let result = client
        .blob_client(blob)
        .download(Some(options))
        .await
        .map_err(|e| classify(e, &what))?;
    let body = result
        .body
        .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())));
    Ok(tokio_util::io::StreamReader::new(body))
}

/// A client of the source's inventory container (in its account, with its
/// sign-in), when the source takes its population from reports.
///
/// # Errors
/// A `Config`-class error when the URL or credential cannot be set up.
pub(super) fn client(
    name: &str,
    c: &crate::config::AzureSourceConfig,
) -> Result<Option<(InventoryConfig, BlobContainerClient)>, SourceError> {
    let config = |m: String| SourceError::new(ErrorClass::Config, m);
    Ok(match &c.inventory {
        Some(inv) => {
            let mut url =
                azure_core::http::Url::parse(&format!("{}/{}", c.account_url, inv.bucket))
                    .map_err(|e| {
                        config(format!(
                            "sources.{name}.inventory.location does not form a URL: {e}"
                        ))
                    })?;
            let credential = super::auth::credential(name, c, &mut url)?;
            let options = azure_storage_blob::BlobContainerClientOptions {
                client_options: super::no_retries(),
                ..Default::default()
            };
            let client = BlobContainerClient::new(url, credential, Some(options)).map_err(|e| {
                config(format!(
                    "cannot create the Azure client for source `{name}`'s inventory container: {e}"
                ))
            })?;
            Some((inv.clone(), client))
        }
        None => None,
    })
}

impl super::AzureBlobSource {
    /// The population from the newest Azure Blob Inventory report: the
    /// source's blobs, snapshots, versions and soft-deleted blobs, streamed
    /// one data file after another. A report that cannot be used ends the
    /// stream with the reason.
    pub(super) fn list_inventory<'a>(
        &'a self,
        inv: &'a crate::config::InventoryConfig,
        client: &'a BlobContainerClient,
    ) -> BoxStream<'a, Result<ListItem, SourceError>> {
        let url = format!("{}/{}", self.account_url, inv.bucket);
        futures::stream::once(async move {
            let dialect = AzureDialect {
                container: self.container.clone(),
                prefix: self.prefix.clone(),
            };
            let (report, dialect) = find(client, &url, inv, dialect).await?;
            if let Ok(mut at) = self.inventory_as_of.lock() {
                *at = Some(report.as_of);
            }
            let blobs: Vec<String> = report
                .files
                .iter()
                .map(|f| {
                    f.name
                        .strip_prefix(&format!("{url}/"))
                        .unwrap_or(&f.name)
                        .to_owned()
                })
                .collect();
            Ok::<_, SourceError>(crate::source::inventory::list(
                report,
                Arc::new(dialect),
                move |i| {
                    let (url, blob) = (url.clone(), blobs[i].clone());
                    async move { open(client, &url, &blob).await }
                },
            ))
        })
        .map(|r| match r {
            Ok(items) => items,
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .flatten()
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_the_names_the_schema_row_gives() {
        let dialect = AzureDialect {
            container: "backups".into(),
            prefix: "db/".into(),
        };
        let names: Vec<String> = [
            "Name",
            "Last-Modified",
            "Content-Length",
            "Content-MD5",
            "Snapshot",
            "VersionId",
            "IsCurrentVersion",
            "Deleted",
            "AccessTier",
        ]
        .map(String::from)
        .to_vec();
        let cols = dialect.columns(&names).unwrap();
        let row = |r: &[&str]| {
            let fields: Vec<Option<String>> = r.iter().map(|v| Some((*v).to_owned())).collect();
            cols.row(&fields)
        };
        let md5 = B64.encode([7u8; 16]);
        let Some(Row::Version(c)) = row(&[
            "backups/db/a.dump",
            "2026-12-01T10:00:00Z",
            "10",
            &md5,
            "",
            "2026-12-01T10:00:00.0000000Z",
            "true",
            "false",
            "Hot",
        ])
        .unwrap() else {
            panic!("a version")
        };
        assert_eq!(c.key, "db/a.dump");
        assert!(c.is_latest && c.deleted.is_none() && c.snapshot.is_none());
        assert_eq!(c.content_md5.as_deref(), Some(md5.as_str()));
        let Some(Row::Version(s)) = row(&[
            "backups/db/a.dump",
            "2026-12-01T10:00:00Z",
            "10",
            &hex::encode([7u8; 16]),
            "2026-12-02T10:00:00.0000000Z",
            "",
            "",
            "true",
            "Cool",
        ])
        .unwrap() else {
            panic!("a snapshot")
        };
        assert!(!s.is_latest && s.deleted.is_some());
        assert_eq!(s.point_id(), "snapshot:2026-12-02T10:00:00.0000000Z");
        assert_eq!(
            s.content_md5.as_deref(),
            Some(md5.as_str()),
            "hex is read too"
        );
        for other in ["other/db/a.dump", "backups/logs/a.log"] {
            assert_eq!(
                row(&[other, "", "1", "", "", "", "", "", ""]).unwrap(),
                None
            );
        }
        assert!(row(&["backups/db/x", "", "ten", "", "", "", "", "", ""]).is_err());
        assert!(dialect.columns(&["Content-Length".into()]).is_err());
        assert!(is_report_dir("2026/12/07/01-00-00/r/r-manifest.json"));
        assert!(!is_report_dir("data/r/r-manifest.json"));
    }
}

//! An S3 Inventory report as a source's population, instead of listing
//! every version: the newest `YYYY-MM-DDTHH-MMZ/manifest.json` under the
//! configured location whose `manifest.checksum` (the MD5 of the manifest)
//! matches, the data files it lists (each checked against its
//! `MD5checksum`), their rows read by the columns the manifest's
//! `fileSchema` names — never assumed.
//!
//! This release reads CSV reports (gzip); a Parquet or ORC report is
//! refused with the reason. The rows are gathered and put in listing order
//! (key, then newest first) before they are handed out, so memory grows with
//! the population.

use super::errors::classify;
use super::helpers::{algorithm, unquote, url_decode};
use crate::config::InventoryConfig;
use crate::source::{Candidate, ErrorClass, ListItem, SourceError};
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
use md5::{Digest as _, Md5};
use serde::Deserialize;
use std::collections::HashSet;
use std::io::Read as _;

/// `manifest.json` of an S3 Inventory report, as far as it is read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    /// Milliseconds since the epoch, as a string.
    creation_timestamp: String,
    file_format: String,
    file_schema: String,
    files: Vec<DataFile>,
}

#[derive(Debug, Deserialize)]
struct DataFile {
    key: String,
    #[serde(rename = "MD5checksum")]
    md5_checksum: String,
}

/// The population an inventory report gives, and when S3 took it.
#[derive(Debug)]
pub struct Population {
    pub as_of: DateTime<Utc>,
    /// Every row, versions and delete markers, in listing order.
    pub items: Vec<ListItem>,
}

fn protocol(what: String) -> SourceError {
    SourceError::new(ErrorClass::Protocol, what)
}

/// Reads the newest report under `inv` with `client`, and refuses one older
/// than `inv.max_age`.
///
/// # Errors
/// No report; a manifest or data file whose checksum does not match; a
/// format this release does not read; a report older than `max_age`; what
/// S3 answered.
pub async fn read(client: &Client, inv: &InventoryConfig) -> Result<Population, SourceError> {
    let (dir, manifest) = newest_manifest(client, inv).await?;
    let millis: i64 = manifest.creation_timestamp.trim().parse().map_err(|_| {
        protocol(format!(
            "{dir}manifest.json: creationTimestamp `{}` is not milliseconds since the epoch",
            manifest.creation_timestamp
        ))
    })?;
    let as_of = DateTime::<Utc>::from_timestamp_millis(millis).ok_or_else(|| {
        protocol(format!(
            "{dir}manifest.json: creationTimestamp out of range"
        ))
    })?;
    let age = Utc::now() - as_of;
    if age.to_std().unwrap_or_default() > inv.max_age {
        return Err(SourceError::new(
            ErrorClass::Config,
            format!(
                "the newest inventory report (s3://{}/{dir}, taken {}) is older than the source's inventory.max_age ({}): check that the S3 Inventory configuration still runs, or raise max_age",
                inv.bucket,
                as_of.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                crate::config::age_text(inv.max_age)
            ),
        ));
    }
    if !manifest.file_format.eq_ignore_ascii_case("CSV") {
        return Err(SourceError::new(
            ErrorClass::Config,
            format!(
                "the inventory report s3://{}/{dir} is {}; this release reads CSV reports: set the S3 Inventory configuration's output format to CSV",
                inv.bucket, manifest.file_format
            ),
        ));
    }
    let columns = Columns::of(&manifest.file_schema)
        .map_err(|m| protocol(format!("{dir}manifest.json: {m}")))?;
    let mut rows = Vec::new();
    for f in &manifest.files {
        let bytes = get(client, &inv.bucket, &f.key).await?;
        let md5 = hex::encode(Md5::digest(&bytes));
        if !md5.eq_ignore_ascii_case(f.md5_checksum.trim()) {
            return Err(protocol(format!(
                "the inventory data file s3://{}/{} does not match its MD5checksum in the manifest (expected {}, got {md5}): the report is damaged; the drill does not use it",
                inv.bucket, f.key, f.md5_checksum
            )));
        }
        let mut csv = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut csv)
            .map_err(|e| protocol(format!("s3://{}/{}: not gzip: {e}", inv.bucket, f.key)))?;
        columns
            .rows(&csv, &mut rows)
            .map_err(|m| protocol(format!("s3://{}/{}: {m}", inv.bucket, f.key)))?;
    }
    Ok(Population {
        as_of,
        items: in_listing_order(rows),
    })
}

/// The newest report folder whose manifest matches its checksum, and its
/// manifest. A newer folder whose manifest does not match is passed over
/// with a warning (S3 may still be writing it); none matching is an error.
async fn newest_manifest(
    client: &Client,
    inv: &InventoryConfig,
) -> Result<(String, Manifest), SourceError> {
    let mut dirs = report_dirs(client, inv).await?;
    dirs.sort_unstable_by(|a, b| b.cmp(a));
    let mut passed_over = Vec::new();
    for dir in dirs {
        let Ok(manifest) = get(client, &inv.bucket, &format!("{dir}manifest.json")).await else {
            continue;
        };
        let Ok(checksum) = get(client, &inv.bucket, &format!("{dir}manifest.checksum")).await
        else {
            continue;
        };
        let stated = String::from_utf8_lossy(&checksum)
            .trim()
            .to_ascii_lowercase();
        let actual = hex::encode(Md5::digest(&manifest));
        if stated != actual {
            tracing::warn!(report = %dir, stated, actual, "An inventory manifest does not match its manifest.checksum; an older report is used if one matches.");
            passed_over.push(format!(
                "s3://{}/{dir}manifest.json (MD5 {actual}, manifest.checksum says {stated})",
                inv.bucket
            ));
            continue;
        }
        let parsed: Manifest = serde_json::from_slice(&manifest)
            .map_err(|e| protocol(format!("s3://{}/{dir}manifest.json: {e}", inv.bucket)))?;
        return Ok((dir, parsed));
    }
    Err(SourceError::new(
        if passed_over.is_empty() {
            ErrorClass::Config
        } else {
            ErrorClass::Protocol
        },
        if passed_over.is_empty() {
            format!(
                "no inventory report under s3://{}/{}: check sources.*.inventory.location (the destination as S3 writes it: s3://BUCKET/PREFIX/SOURCE-BUCKET/CONFIG-ID/) and that the first report has been delivered",
                inv.bucket, inv.prefix
            )
        } else {
            format!(
                "no inventory manifest matches its checksum: {}; the report is damaged; the drill does not use it",
                passed_over.join("; ")
            )
        },
    ))
}

/// The report folders (`PREFIX/YYYY-MM-DDTHH-MMZ/`) under the location.
async fn report_dirs(client: &Client, inv: &InventoryConfig) -> Result<Vec<String>, SourceError> {
    let mut dirs = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_objects_v2()
            .bucket(&inv.bucket)
            .prefix(&inv.prefix)
            .delimiter("/")
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                classify(
                    &e,
                    &format!("ListObjectsV2 on s3://{}/{}", inv.bucket, inv.prefix),
                    Some(&inv.bucket),
                )
            })?;
        for p in out.common_prefixes() {
            if let Some(dir) = p.prefix() {
                let name = dir
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default();
                if is_report_dir(name) {
                    dirs.push(dir.to_owned());
                }
            }
        }
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok(dirs),
        }
    }
}

/// `YYYY-MM-DDTHH-MMZ`.
fn is_report_dir(name: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(name, "%Y-%m-%dT%H-%MZ").is_ok()
}

async fn get(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, SourceError> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("GetObject s3://{bucket}/{key}"), Some(bucket)))?;
    let body =
        out.body.collect().await.map_err(|e| {
            SourceError::new(ErrorClass::Network, format!("s3://{bucket}/{key}: {e}"))
        })?;
    Ok(body.into_bytes().to_vec())
}

/// Where each field is in a row, from the manifest's `fileSchema`.
#[derive(Debug)]
struct Columns {
    key: usize,
    version_id: Option<usize>,
    is_latest: Option<usize>,
    is_delete_marker: Option<usize>,
    size: Option<usize>,
    last_modified: Option<usize>,
    etag: Option<usize>,
    storage_class: Option<usize>,
    checksum_algorithm: Option<usize>,
}

/// One row of a report.
enum Row {
    Version(Candidate),
    DeleteMarker {
        key: String,
        latest: bool,
        last_modified: DateTime<Utc>,
    },
}

impl Columns {
    fn of(schema: &str) -> Result<Self, String> {
        let names: Vec<&str> = schema.split(',').map(str::trim).collect();
        let at = |n: &str| names.iter().position(|x| x.eq_ignore_ascii_case(n));
        Ok(Self {
            key: at("Key").ok_or("fileSchema names no Key column")?,
            version_id: at("VersionId"),
            is_latest: at("IsLatest"),
            is_delete_marker: at("IsDeleteMarker"),
            size: at("Size"),
            last_modified: at("LastModifiedDate"),
            etag: at("ETag"),
            storage_class: at("StorageClass"),
            checksum_algorithm: at("ChecksumAlgorithm"),
        })
    }

    /// Appends the rows of one CSV data file (no header; keys URL-encoded).
    fn rows(&self, csv: &[u8], out: &mut Vec<Row>) -> Result<(), String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(csv);
        for (n, record) in reader.records().enumerate() {
            let record = record.map_err(|e| format!("row {}: {e}", n + 1))?;
            let field = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
            let raw_key = record.get(self.key).unwrap_or_default();
            let key = url_decode(raw_key)
                .ok_or_else(|| format!("row {}: the key is not valid URL encoding", n + 1))?;
            let last_modified = field(self.last_modified)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc));
            let latest = field(self.is_latest) == Some("true");
            if field(self.is_delete_marker) == Some("true") {
                out.push(Row::DeleteMarker {
                    key,
                    latest,
                    last_modified,
                });
                continue;
            }
            out.push(Row::Version(Candidate {
                key,
                version_id: field(self.version_id).map(str::to_owned),
                size: field(self.size).and_then(|s| s.parse().ok()).unwrap_or(0),
                last_modified,
                is_latest: latest,
                storage_class: field(self.storage_class).map(str::to_owned),
                etag: field(self.etag).map(unquote),
                checksum_algorithms: field(self.checksum_algorithm)
                    .and_then(algorithm)
                    .into_iter()
                    .collect(),
                ..Candidate::default()
            }));
        }
        Ok(())
    }
}

/// The rows as a listing gives them: by key, newest first; a version whose
/// key's current version is a delete marker is behind it.
fn in_listing_order(rows: Vec<Row>) -> Vec<ListItem> {
    let hidden: HashSet<String> = rows
        .iter()
        .filter_map(|r| match r {
            Row::DeleteMarker {
                key, latest: true, ..
            } => Some(key.clone()),
            _ => None,
        })
        .collect();
    let mut items: Vec<ListItem> = rows
        .into_iter()
        .map(|r| match r {
            Row::Version(mut c) => {
                c.behind_delete_marker = hidden.contains(&c.key);
                ListItem::Version(c)
            }
            Row::DeleteMarker {
                key, last_modified, ..
            } => ListItem::DeleteMarker { key, last_modified },
        })
        .collect();
    let order = |i: &ListItem| match i {
        ListItem::Version(c) => (c.key.clone(), std::cmp::Reverse(c.last_modified)),
        ListItem::DeleteMarker { key, last_modified } => {
            (key.clone(), std::cmp::Reverse(*last_modified))
        }
    };
    items.sort_by_cached_key(order);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_the_schema_the_manifest_names() {
        let cols = Columns::of("Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ChecksumAlgorithm").unwrap();
        let csv = b"\"b\",\"dir/a+b%2Bc.bin\",\"v2\",\"true\",\"false\",\"10\",\"2026-12-01T10:00:00.000Z\",\"e1\",\"STANDARD\",\"false\",\"CRC64NVME\"\n\
\"b\",\"dir/a+b%2Bc.bin\",\"v1\",\"false\",\"false\",\"9\",\"2026-11-01T10:00:00.000Z\",\"e0\",\"STANDARD\",\"false\",\"\"\n\
\"b\",\"gone\",\"m1\",\"true\",\"true\",\"\",\"2026-12-02T10:00:00.000Z\",\"\",\"\",\"\",\"\"\n\
\"b\",\"gone\",\"g1\",\"false\",\"false\",\"5\",\"2026-11-02T10:00:00.000Z\",\"e2\",\"GLACIER\",\"false\",\"\"\n";
        let mut rows = Vec::new();
        cols.rows(csv, &mut rows).unwrap();
        let items = in_listing_order(rows);
        let versions: Vec<&Candidate> = items
            .iter()
            .filter_map(|i| match i {
                ListItem::Version(c) => Some(c),
                ListItem::DeleteMarker { .. } => None,
            })
            .collect();
        assert_eq!(versions.len(), 3);
        assert_eq!(versions[0].key, "dir/a b+c.bin");
        assert_eq!(versions[0].version_id.as_deref(), Some("v2"));
        assert!(versions[0].is_latest && !versions[1].is_latest);
        assert_eq!(versions[0].checksum_algorithms.len(), 1);
        assert_eq!(versions[2].key, "gone");
        assert!(versions[2].behind_delete_marker);
        assert_eq!(versions[2].storage_class.as_deref(), Some("GLACIER"));
        assert_eq!(items.len(), 4);
        // A schema in another order is read by its names.
        let cols = Columns::of("Key, Size, Bucket").unwrap();
        let mut rows = Vec::new();
        cols.rows(b"\"k\",\"7\",\"b\"\n", &mut rows).unwrap();
        assert!(matches!(&rows[0], Row::Version(c) if c.key == "k" && c.size == 7));
        assert!(Columns::of("Bucket, Size").is_err());
        assert!(is_report_dir("2026-12-07T01-00Z") && !is_report_dir("data"));
    }
}

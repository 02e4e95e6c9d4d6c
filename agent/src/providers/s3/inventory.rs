//! An S3 Inventory report as a source's population, instead of listing
//! every version: the newest `YYYY-MM-DDTHH-MMZ/manifest.json` under the
//! configured location whose `manifest.checksum` (the MD5 of the manifest)
//! matches, the data files it lists (each checked against its
//! `MD5checksum`), their rows read by the columns the manifest's
//! `fileSchema` names — never assumed.
//!
//! CSV (gzip) and Parquet reports are read as they stream
//! ([`crate::source::inventory`]); an ORC report is refused with the reason.

use super::errors::classify;
use super::helpers::{algorithm, unquote, url_decode};
use crate::config::InventoryConfig;
use crate::source::inventory::{
    position, time, DataFile, Dialect, Fields, Format, Report, Row, RowReader,
};
use crate::source::{Candidate, ErrorClass, ListItem, SourceError};
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use md5::{Digest as _, Md5};
use serde::Deserialize;

/// `manifest.json` of an S3 Inventory report, as far as it is read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    /// Milliseconds since the epoch, as a string.
    creation_timestamp: String,
    file_format: String,
    file_schema: String,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    key: String,
    size: Option<u64>,
    #[serde(rename = "MD5checksum")]
    md5_checksum: String,
}

fn protocol(what: String) -> SourceError {
    SourceError::new(ErrorClass::Protocol, what)
}

/// Finds the newest report under `inv` with `client`, refuses one older
/// than `inv.max_age` or in a format this release does not read, and says
/// how to read its data files (`prefix`: the source's).
///
/// # Errors
/// No report; a manifest whose checksum does not match; a format this
/// release does not read; a report older than `max_age`; what S3 answered.
pub async fn find(
    client: &Client,
    inv: &InventoryConfig,
    prefix: &str,
) -> Result<(Report, S3Dialect), SourceError> {
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
    check_age(as_of, inv, &format!("s3://{}/{dir}", inv.bucket))?;
    let (format, columns) = match manifest.file_format.to_ascii_uppercase().as_str() {
        "CSV" => (
            Format::Csv {
                gzip: true,
                header: false,
            },
            Some(
                manifest
                    .file_schema
                    .split(',')
                    .map(|c| c.trim().to_owned())
                    .collect(),
            ),
        ),
        "PARQUET" => (Format::Parquet, None),
        other => {
            return Err(SourceError::new(
                ErrorClass::Config,
                format!(
                    "the inventory report s3://{}/{dir} is {other}; this release reads CSV and Parquet reports (no maintained Rust crate reads ORC without Apache Arrow): set the S3 Inventory configuration's output format to CSV or Parquet",
                    inv.bucket
                ),
            ))
        }
    };
    let files = manifest
        .files
        .into_iter()
        .map(|f| DataFile {
            name: format!("s3://{}/{}", inv.bucket, f.key),
            md5: Some(f.md5_checksum),
            size: f.size,
        })
        .collect();
    let dialect = S3Dialect {
        prefix: prefix.to_owned(),
        url_encoded: matches!(format, Format::Csv { .. }),
    };
    Ok((
        Report {
            as_of,
            format,
            columns,
            files,
        },
        dialect,
    ))
}

/// Refuses a report older than `inv.max_age`.
///
/// # Errors
/// A `config` error naming the report and its time.
pub fn check_age(
    as_of: DateTime<Utc>,
    inv: &InventoryConfig,
    report: &str,
) -> Result<(), SourceError> {
    let age = Utc::now() - as_of;
    if age.to_std().unwrap_or_default() > inv.max_age {
        return Err(SourceError::new(
            ErrorClass::Config,
            format!(
                "the newest inventory report ({report}, taken {}) is older than the source's inventory.max_age ({}): check that the inventory configuration still runs, or raise max_age",
                as_of.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                crate::config::age_text(inv.max_age)
            ),
        ));
    }
    Ok(())
}

/// The body of one data file, streamed.
///
/// # Errors
/// What S3 answered.
pub async fn open(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<impl tokio::io::AsyncRead + Send + Unpin + 'static, SourceError> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| classify(&e, &format!("GetObject s3://{bucket}/{key}"), Some(bucket)))?;
    Ok(out.body.into_async_read())
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
    let mut body = open(client, bucket, key).await?;
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut body, &mut out)
        .await
        .map_err(|e| SourceError::new(ErrorClass::Network, format!("s3://{bucket}/{key}: {e}")))?;
    Ok(out)
}

/// S3 Inventory's columns, by the names `fileSchema` (CSV) or the Parquet
/// schema gives them.
#[derive(Debug)]
pub struct S3Dialect {
    /// Rows outside the source's prefix are not its recovery points.
    pub prefix: String,
    /// Keys are URL-encoded (CSV reports; Parquet and ORC keys are not).
    pub url_encoded: bool,
}

/// Where each field is in a row.
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
    prefix: String,
    url_encoded: bool,
}

impl Dialect for S3Dialect {
    fn columns(&self, names: &[String]) -> Result<Box<dyn RowReader>, String> {
        let at = |n: &str| position(names, n);
        Ok(Box::new(Columns {
            key: at("Key").ok_or_else(|| {
                format!(
                    "the report names no Key column (columns: {})",
                    names.join(", ")
                )
            })?,
            version_id: at("VersionId"),
            is_latest: at("IsLatest"),
            is_delete_marker: at("IsDeleteMarker"),
            size: at("Size"),
            last_modified: at("LastModifiedDate"),
            etag: at("ETag"),
            storage_class: at("StorageClass"),
            checksum_algorithm: at("ChecksumAlgorithm"),
            prefix: self.prefix.clone(),
            url_encoded: self.url_encoded,
        }))
    }
}

impl RowReader for Columns {
    fn row(&self, f: &dyn Fields) -> Result<Option<Row>, String> {
        let raw_key = f.get(self.key).unwrap_or_default();
        let key = if self.url_encoded {
            url_decode(raw_key).ok_or("the key is not valid URL encoding")?
        } else {
            raw_key.to_owned()
        };
        if !key.starts_with(&self.prefix) {
            return Ok(None);
        }
        let last_modified = f
            .get_opt(self.last_modified)
            .and_then(time)
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let latest = f.get_opt(self.is_latest) == Some("true");
        if f.get_opt(self.is_delete_marker) == Some("true") {
            return Ok(Some(Row::DeleteMarker {
                key,
                latest,
                last_modified,
            }));
        }
        let size = match f.get_opt(self.size) {
            Some(s) => s
                .parse()
                .map_err(|_| format!("Size `{s}` is not a number of bytes"))?,
            None => 0,
        };
        Ok(Some(Row::Version(Candidate {
            key,
            version_id: f.get_opt(self.version_id).map(str::to_owned),
            size,
            last_modified,
            is_latest: latest,
            storage_class: f.get_opt(self.storage_class).map(str::to_owned),
            etag: f.get_opt(self.etag).map(unquote),
            checksum_algorithms: f
                .get_opt(self.checksum_algorithm)
                .and_then(algorithm)
                .into_iter()
                .collect(),
            ..Candidate::default()
        })))
    }
}

impl super::S3Source {
    /// The population from the newest S3 Inventory report: its versions
    /// under the source's prefix, streamed one data file after another. A
    /// report that cannot be used ends the stream with the reason.
    pub(super) fn list_inventory<'a>(
        &'a self,
        inv: &'a crate::config::InventoryConfig,
    ) -> BoxStream<'a, Result<ListItem, SourceError>> {
        futures::stream::once(async move {
            let reader = self.inventory_client.as_ref().unwrap_or(&self.client);
            let (report, dialect) = find(reader, inv, &self.prefix).await?;
            if let Ok(mut at) = self.inventory_as_of.lock() {
                *at = Some(report.as_of);
            }
            let keys: Vec<String> = report
                .files
                .iter()
                .map(|f| {
                    f.name
                        .strip_prefix(&format!("s3://{}/", inv.bucket))
                        .unwrap_or(&f.name)
                        .to_owned()
                })
                .collect();
            let client = reader.clone();
            let bucket = inv.bucket.clone();
            Ok::<_, SourceError>(crate::source::inventory::list(
                report,
                std::sync::Arc::new(dialect),
                move |i| {
                    let (client, bucket, key) = (client.clone(), bucket.clone(), keys[i].clone());
                    async move { open(&client, &bucket, &key).await }
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
    use crate::source::inventory::in_listing_order;
    use crate::source::ListItem;

    fn rows(dialect: &S3Dialect, schema: &str, csv: &[u8]) -> Vec<Row> {
        let names: Vec<String> = schema.split(',').map(|c| c.trim().to_owned()).collect();
        let cols = dialect.columns(&names).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(csv);
        reader
            .records()
            .filter_map(|r| cols.row(&r.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn rows_are_read_by_the_schema_the_manifest_names() {
        let csv_dialect = S3Dialect {
            prefix: String::new(),
            url_encoded: true,
        };
        let schema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ChecksumAlgorithm";
        let csv = b"\"b\",\"dir/a+b%2Bc.bin\",\"v2\",\"true\",\"false\",\"10\",\"2026-12-01T10:00:00.000Z\",\"e1\",\"STANDARD\",\"false\",\"CRC64NVME\"\n\
\"b\",\"dir/a+b%2Bc.bin\",\"v1\",\"false\",\"false\",\"9\",\"2026-11-01T10:00:00.000Z\",\"e0\",\"STANDARD\",\"false\",\"\"\n\
\"b\",\"gone\",\"m1\",\"true\",\"true\",\"\",\"2026-12-02T10:00:00.000Z\",\"\",\"\",\"\",\"\"\n\
\"b\",\"gone\",\"g1\",\"false\",\"false\",\"5\",\"2026-11-02T10:00:00.000Z\",\"e2\",\"GLACIER\",\"false\",\"\"\n";
        let all = rows(&csv_dialect, schema, csv);
        let (a, gone): (Vec<Row>, Vec<Row>) = all.into_iter().partition(|r| match r {
            Row::Version(c) => c.key != "gone",
            Row::DeleteMarker { .. } => false,
        });
        let mut items = in_listing_order(a);
        items.extend(in_listing_order(gone));
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
        // A schema in another order is read by its names; Parquet's
        // snake_case names read alike, and its keys are not URL-encoded.
        let plain = S3Dialect {
            prefix: "k".into(),
            url_encoded: false,
        };
        let got = rows(
            &plain,
            "key, size, bucket",
            b"\"k+1%\",\"7\",\"b\"\n\"x\",\"1\",\"b\"\n",
        );
        assert_eq!(got.len(), 1, "rows outside the prefix are not the source's");
        assert!(matches!(&got[0], Row::Version(c) if c.key == "k+1%" && c.size == 7));
        assert!(csv_dialect
            .columns(&["Bucket".into(), "Size".into()])
            .is_err());
        assert!(is_report_dir("2026-12-07T01-00Z") && !is_report_dir("data"));
    }
}

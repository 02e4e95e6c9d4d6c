//! S3 Batch Operations' *Compute checksum*, as a drill of mode
//! `provider_checksum` uses it: a CSV manifest (Bucket, Key, VersionId)
//! written to S3, a job created with S3 Control's `CreateJob` (operation
//! `S3ComputeObjectChecksum`, one algorithm and checksum type per job),
//! its state from `DescribeJob`, and its completion report (the
//! `manifest.json` under `{prefix}/job-{id}/` naming the result CSVs, each
//! row `Bucket, Key, VersionId, TaskStatus, HTTPStatusCode, ErrorCode,
//! ResultMessage`; for this operation the result message is a JSON object
//! with the computed checksum). The clients act with the AWS settings of
//! the drill's S3 source.
//!
//! AWS documents the report's columns and that a Compute checksum report
//! carries each object's checksum value, but not the members of that
//! value's JSON: the reader takes the names reports are seen with
//! (`checksum_base64`, `checksum_hex`, `checksumAlgorithm`,
//! `checksumType`, `etag`, in either case convention) and a row it cannot
//! read is never a verdict on the backup ([`computed`]).

use crate::config::S3SourceConfig;
use aws_sdk_s3control::types::{
    ComputeObjectChecksumAlgorithm, ComputeObjectChecksumType, JobManifest, JobManifestFieldName,
    JobManifestFormat, JobManifestLocation, JobManifestSpec, JobOperation, JobReport,
    JobReportFormat, JobReportScope, S3ComputeObjectChecksumOperation,
};
use base64::Engine as _;
use serde::Deserialize;

/// The URL-encoding S3 Batch Operations manifests and reports use for
/// keys: everything but unreserved characters and `/`.
const KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

pub use crate::config::provider_checksum::Location;

/// One object of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub bucket: String,
    pub key: String,
    /// `None`: an object written before versioning (version id `null`).
    pub version_id: Option<String>,
}

/// A manifest in the `S3BatchOperations_CSV_20180820` format with the
/// fields Bucket, Key, VersionId (keys URL-encoded, as the format wants).
pub fn manifest_csv(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let key = percent_encoding::utf8_percent_encode(&e.key, KEY).to_string();
        let line = format!(
            "{},{},{}\n",
            e.bucket,
            key,
            e.version_id.as_deref().unwrap_or("null")
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Where the manifest is written (its key).
    pub manifest: Location,
    pub manifest_key: String,
    pub csv: Vec<u8>,
    /// `SHA256`, `MD5`, `CRC64NVME`, ... as S3 Control names them.
    pub algorithm: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub checksum_type: String,
    pub report: Location,
    pub role_arn: String,
    /// Makes a retried `CreateJob` the same job.
    pub token: String,
    pub description: String,
}

/// A job's state as `DescribeJob` gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobState {
    /// `Active`, `Complete`, `Failed`, `Cancelled`, ...
    pub status: String,
    /// `CODE: reason` for each failure reason.
    pub failures: Vec<String>,
    pub tasks: i64,
    pub succeeded: i64,
    pub failed: i64,
}

impl JobState {
    /// The job will not change any more.
    pub fn ended(&self) -> bool {
        matches!(self.status.as_str(), "Complete" | "Failed" | "Cancelled")
    }
}

/// One row of a completion report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRow {
    pub bucket: String,
    /// Decoded.
    pub key: String,
    pub version_id: Option<String>,
    /// `succeeded` or `failed`.
    pub status: String,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub message: String,
}

/// The checksum a succeeded task computed ([`computed`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Computed {
    pub algorithm: Option<String>,
    pub checksum_type: Option<String>,
    /// The digest's bytes.
    pub digest: Vec<u8>,
    /// The object's ETag as the task saw it, when the report gives it.
    pub etag: Option<String>,
}

/// Reads a succeeded task's result message.
///
/// # Errors
/// Not a JSON object, or no checksum in it (base64 or hex).
pub fn computed(message: &str) -> Result<Computed, String> {
    let v: serde_json::Value = serde_json::from_str(message.trim())
        .map_err(|e| format!("the result message is not JSON ({e}): {message}"))?;
    let text = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| v.get(*n).and_then(serde_json::Value::as_str))
            .map(str::to_owned)
            .filter(|s| !s.is_empty())
    };
    let b64 = text(&["checksum_base64", "checksumBase64", "ChecksumBase64"]);
    let hex_value = text(&["checksum_hex", "checksumHex", "ChecksumHex"]);
    let digest = match (b64, hex_value) {
        (_, Some(h)) => hex::decode(h.trim()).map_err(|e| format!("checksum_hex `{h}`: {e}"))?,
        (Some(b), None) => {
            let bare = b.split_once('-').map_or(b.as_str(), |(d, _)| d);
            base64::engine::general_purpose::STANDARD
                .decode(bare)
                .map_err(|e| format!("checksum_base64 `{b}`: {e}"))?
        }
        (None, None) => {
            return Err(format!(
                "the result message gives no checksum (checksum_base64 or checksum_hex): {message}"
            ))
        }
    };
    Ok(Computed {
        algorithm: text(&[
            "checksumAlgorithm",
            "checksum_algorithm",
            "ChecksumAlgorithm",
        ])
        .map(|s| s.to_ascii_uppercase()),
        checksum_type: text(&["checksumType", "checksum_type", "ChecksumType"])
            .map(|s| s.to_ascii_uppercase()),
        digest,
        etag: text(&["etag", "ETag", "eTag"]).map(|e| e.trim_matches('"').to_owned()),
    })
}

/// The result CSVs of a report's `manifest.json`.
#[derive(Debug, Deserialize)]
struct ReportManifest {
    #[serde(rename = "Results", default)]
    results: Vec<ReportResult>,
}

#[derive(Debug, Deserialize)]
struct ReportResult {
    #[serde(rename = "Bucket")]
    bucket: String,
    #[serde(rename = "Key")]
    key: String,
}

/// Reads one result CSV. The documented schema lists ErrorCode before
/// HTTPStatusCode while the rows AWS's examples show carry the status code
/// first: whichever of the two columns is a number is the status code.
///
/// # Errors
/// A row that is not CSV or has fewer than seven columns.
pub fn parse_report_csv(bytes: &[u8]) -> Result<Vec<ReportRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.map_err(|e| format!("row {}: {e}", i + 1))?;
        if r.len() < 7 {
            return Err(format!(
                "row {} has {} columns; a completion report row has 7 (Bucket, Key, VersionId, TaskStatus, HTTPStatusCode, ErrorCode, ResultMessage)",
                i + 1,
                r.len()
            ));
        }
        let col = |n: usize| r.get(n).unwrap_or("").trim().to_owned();
        if i == 0 && col(0).eq_ignore_ascii_case("bucket") && col(1).eq_ignore_ascii_case("key") {
            continue;
        }
        let (http, code) = match (col(4).parse::<u16>(), col(5).parse::<u16>()) {
            (Ok(h), _) => (Some(h), col(5)),
            (Err(_), Ok(h)) => (Some(h), col(4)),
            _ => (None, col(5)),
        };
        let version = col(2);
        out.push(ReportRow {
            bucket: col(0),
            key: decode_key(&col(1)),
            version_id: (!version.is_empty() && version != "null").then_some(version),
            status: col(3).to_ascii_lowercase(),
            http_status: http,
            error_code: (!code.is_empty() && code != "null").then_some(code),
            message: r.iter().skip(6).collect::<Vec<_>>().join(","),
        });
    }
    Ok(out)
}

/// A report's key, URL-decoded (`+` is a space there, as in form encoding).
fn decode_key(k: &str) -> String {
    let spaced = k.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map_or_else(|_| k.to_owned(), |s| s.into_owned())
}

/// S3 Control's endpoint when one is configured: used as given, without
/// the account id the default rules put in front of the host name.
#[derive(Debug)]
struct Fixed(String);

impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for Fixed {
    fn resolve_endpoint<'a>(
        &'a self,
        _: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> aws_sdk_s3control::config::endpoint::EndpointFuture<'a> {
        aws_sdk_s3control::config::endpoint::EndpointFuture::ready(Ok(
            aws_sdk_s3control::config::endpoint::Endpoint::builder()
                .url(self.0.clone())
                .build(),
        ))
    }
}

/// The clients of one drill's jobs.
#[derive(Debug, Clone)]
pub struct BatchOps {
    control: aws_sdk_s3control::Client,
    s3: aws_sdk_s3::Client,
    account_id: String,
}

fn refusal<E>(what: &str, e: &aws_sdk_s3control::error::SdkError<E>) -> String
where
    E: aws_sdk_s3control::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.as_service_error() {
        Some(s) => {
            let code = s.code().unwrap_or("error");
            let hint = if code == "AccessDenied" || code == "AccessDeniedException" {
                "; grant it with packaging/aws/iam-policy-provider-checksum.json"
            } else {
                ""
            };
            format!("{what}: {code}: {}{hint}", s.message().unwrap_or(""))
        }
        None => format!(
            "{what}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        ),
    }
}

impl BatchOps {
    /// Clients acting with `source`'s AWS settings, for `account_id`;
    /// `endpoint` overrides S3 Control's.
    pub async fn new(source: &S3SourceConfig, account_id: &str, endpoint: Option<&str>) -> Self {
        let (shared, region) = super::shared_config(source).await;
        let mut control = aws_sdk_s3control::config::Builder::from(&shared).region(region);
        if let Some(e) = endpoint {
            control = control.endpoint_resolver(Fixed(e.to_owned()));
        }
        Self {
            control: aws_sdk_s3control::Client::from_conf(control.build()),
            s3: super::client(source).await,
            account_id: account_id.to_owned(),
        }
    }

    /// Writes the manifest and creates the job; returns its id.
    ///
    /// # Errors
    /// The store's or S3 Control's refusal, with what to grant.
    pub async fn submit(&self, spec: &JobSpec) -> Result<String, String> {
        let put = self
            .s3
            .put_object()
            .bucket(&spec.manifest.bucket)
            .key(&spec.manifest_key)
            .content_type("text/csv")
            .body(spec.csv.clone().into())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "writing the manifest to s3://{}/{}: {}",
                    spec.manifest.bucket,
                    spec.manifest_key,
                    aws_smithy_types::error::display::DisplayErrorContext(e)
                )
            })?;
        let etag = put.e_tag().unwrap_or_default().trim_matches('"').to_owned();
        let build = |e: aws_smithy_types::error::operation::BuildError| e.to_string();
        let manifest = JobManifest::builder()
            .spec(
                JobManifestSpec::builder()
                    .format(JobManifestFormat::S3BatchOperationsCsv20180820)
                    .fields(JobManifestFieldName::Bucket)
                    .fields(JobManifestFieldName::Key)
                    .fields(JobManifestFieldName::VersionId)
                    .build()
                    .map_err(build)?,
            )
            .location(
                JobManifestLocation::builder()
                    .object_arn(format!(
                        "arn:aws:s3:::{}/{}",
                        spec.manifest.bucket, spec.manifest_key
                    ))
                    .e_tag(etag)
                    .build()
                    .map_err(build)?,
            )
            .build();
        let operation = JobOperation::builder()
            .s3_compute_object_checksum(
                S3ComputeObjectChecksumOperation::builder()
                    .checksum_algorithm(ComputeObjectChecksumAlgorithm::from(
                        spec.algorithm.as_str(),
                    ))
                    .checksum_type(ComputeObjectChecksumType::from(spec.checksum_type.as_str()))
                    .build(),
            )
            .build();
        let report = JobReport::builder()
            .bucket(format!("arn:aws:s3:::{}", spec.report.bucket))
            .prefix(spec.report.prefix.trim_end_matches('/'))
            .format(JobReportFormat::ReportCsv20180820)
            .enabled(true)
            .report_scope(JobReportScope::AllTasks)
            .build();
        let out = self
            .control
            .create_job()
            .account_id(&self.account_id)
            .confirmation_required(false)
            .operation(operation)
            .manifest(manifest)
            .report(report)
            .priority(10)
            .role_arn(&spec.role_arn)
            .client_request_token(&spec.token)
            .description(&spec.description)
            .send()
            .await
            .map_err(|e| refusal("S3 Control refused CreateJob", &e))?;
        out.job_id()
            .map(str::to_owned)
            .ok_or_else(|| "CreateJob answered without a job id".to_owned())
    }

    /// The job's state.
    ///
    /// # Errors
    /// S3 Control's refusal.
    pub async fn describe(&self, job_id: &str) -> Result<JobState, String> {
        let out = self
            .control
            .describe_job()
            .account_id(&self.account_id)
            .job_id(job_id)
            .send()
            .await
            .map_err(|e| refusal(&format!("S3 Control refused DescribeJob {job_id}"), &e))?;
        let job = out
            .job()
            .ok_or_else(|| format!("DescribeJob {job_id} answered without the job"))?;
        let p = job.progress_summary();
        Ok(JobState {
            status: job
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            failures: job
                .failure_reasons()
                .iter()
                .map(|f| {
                    format!(
                        "{}: {}",
                        f.failure_code().unwrap_or("failure"),
                        f.failure_reason().unwrap_or("")
                    )
                })
                .collect(),
            tasks: p.and_then(|p| p.total_number_of_tasks()).unwrap_or(0),
            succeeded: p.and_then(|p| p.number_of_tasks_succeeded()).unwrap_or(0),
            failed: p.and_then(|p| p.number_of_tasks_failed()).unwrap_or(0),
        })
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading s3://{bucket}/{key}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(e)
                )
            })?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?;
        Ok(body.into_bytes().to_vec())
    }

    /// Every row of the job's completion report. `Ok(None)`: the job
    /// wrote no report (it failed before any task ran).
    ///
    /// # Errors
    /// A report that cannot be read or parsed.
    pub async fn report(
        &self,
        at: &Location,
        job_id: &str,
    ) -> Result<Option<Vec<ReportRow>>, String> {
        let key = format!("{}job-{job_id}/manifest.json", at.prefix);
        let manifest = match self.get(&at.bucket, &key).await {
            Ok(m) => m,
            Err(e) if e.contains("NoSuchKey") => return Ok(None),
            Err(e) => return Err(e),
        };
        let m: ReportManifest = serde_json::from_slice(&manifest)
            .map_err(|e| format!("s3://{}/{key} is not a report manifest: {e}", at.bucket))?;
        let mut rows = Vec::new();
        for r in m.results {
            let csv = self.get(&r.bucket, &r.key).await?;
            rows.extend(
                parse_report_csv(&csv).map_err(|e| format!("s3://{}/{}: {e}", r.bucket, r.key))?,
            );
        }
        Ok(Some(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_encode_keys_and_name_null_versions() {
        let csv = manifest_csv(&[
            Entry {
                bucket: "b".into(),
                key: "dir/a b,c+d.txt".into(),
                version_id: Some("v1".into()),
            },
            Entry {
                bucket: "b".into(),
                key: "plain".into(),
                version_id: None,
            },
        ]);
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "b,dir/a%20b%2Cc%2Bd.txt,v1\nb,plain,null\n"
        );
    }

    #[test]
    fn report_rows_are_read_in_either_column_order() {
        let csv = "b,dir/a%20b.txt,v1,succeeded,200,,\"{\"\"checksum_base64\"\":\"\"n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=\"\",\"\"checksumAlgorithm\"\":\"\"SHA256\"\"}\"\n\
                   b,gone,v2,failed,NoSuchVersion,404,The specified version does not exist\n";
        let rows = parse_report_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].key, "dir/a b.txt");
        assert_eq!(rows[0].http_status, Some(200));
        let c = computed(&rows[0].message).unwrap();
        assert_eq!(c.algorithm.as_deref(), Some("SHA256"));
        assert_eq!(c.digest.len(), 32);
        assert_eq!(rows[1].status, "failed");
        assert_eq!(rows[1].http_status, Some(404));
        assert_eq!(rows[1].error_code.as_deref(), Some("NoSuchVersion"));
    }

    #[test]
    fn a_message_without_a_checksum_is_named() {
        let e = computed("Successful").unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = computed("{\"checksumAlgorithm\":\"SHA256\"}").unwrap_err();
        assert!(e.contains("gives no checksum"), "{e}");
        let hexed = computed("{\"checksum_hex\":\"00ff\"}").unwrap();
        assert_eq!(hexed.digest, vec![0, 255]);
    }
}

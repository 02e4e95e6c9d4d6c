//! A local HTTP responder with the documented requests and responses of S3
//! Control's Batch Operations jobs — `CreateJob` (`POST
//! /v20180820/jobs`) and `DescribeJob` (`GET /v20180820/jobs/{id}`),
//! REST-XML as the service model (botocore's `s3control/2018-08-20`)
//! gives them, errors wrapped in `<ErrorResponse>` — and the completion
//! report a Compute checksum job writes (`manifest.json` naming result
//! CSVs of `Bucket, Key, VersionId, TaskStatus, HTTPStatusCode, ErrorCode,
//! ResultMessage` rows). No local server implements S3 Control jobs: tests
//! read the jobs created here, write the report to the real S3 server
//! (moto) from the objects' real bytes, and end the job.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// A job as `CreateJob` asked for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub account_id: String,
    /// The compute-checksum operation's algorithm and checksum type.
    pub algorithm: String,
    pub checksum_type: String,
    /// `arn:aws:s3:::bucket/key` of the manifest and its ETag.
    pub manifest_arn: String,
    pub manifest_etag: String,
    pub manifest_format: String,
    pub manifest_fields: Vec<String>,
    /// `arn:aws:s3:::bucket`, prefix and scope of the completion report.
    pub report_bucket_arn: String,
    pub report_prefix: String,
    pub report_scope: String,
    pub report_format: String,
    pub role_arn: String,
    pub client_request_token: String,
    pub confirmation_required: String,
    /// What `DescribeJob` says: `Active` until a test ends the job.
    pub status: String,
    pub failures: Vec<(String, String)>,
}

impl Job {
    /// The manifest's bucket and key.
    pub fn manifest_location(&self) -> (String, String) {
        let rest = self.manifest_arn.trim_start_matches("arn:aws:s3:::");
        let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
        (b.to_owned(), k.to_owned())
    }

    /// The report's bucket.
    pub fn report_bucket(&self) -> String {
        self.report_bucket_arn
            .trim_start_matches("arn:aws:s3:::")
            .to_owned()
    }
}

/// The running responder.
#[derive(Debug, Clone)]
pub struct S3Control {
    pub addr: SocketAddr,
    jobs: Arc<Mutex<Vec<Job>>>,
}

/// The text of the first `<name>` element of `xml`.
fn element(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    xml.find(&open)
        .and_then(|i| {
            let rest = &xml[i + open.len()..];
            rest.find(&close).map(|j| rest[..j].to_owned())
        })
        .unwrap_or_default()
}

fn xml(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .header("x-amz-request-id", "4442587FB7D0A2F9")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    xml(
        status,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Code>{code}</Code><Message>{message}</Message></Error><RequestId>4442587FB7D0A2F9</RequestId></ErrorResponse>"),
    )
}

impl S3Control {
    /// Starts the responder on 127.0.0.1.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let me = Self {
            addr: listener.local_addr()?,
            jobs: Arc::default(),
        };
        crate::serve_docs(listener, me.clone(), |server: Self, req| async move {
            server.handle(req).await
        });
        Ok(me)
    }

    /// `http://127.0.0.1:PORT`, the S3 Control endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The jobs created so far, in order.
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Ends job `id` with `status` (`Complete`, `Failed`, `Cancelled`) and
    /// failure reasons (code, reason).
    pub fn end(&self, id: &str, status: &str, failures: Vec<(String, String)>) {
        for j in self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter_mut()
            .filter(|j| j.id == id)
        {
            j.status = status.to_owned();
            j.failures.clone_from(&failures);
        }
    }

    fn create(&self, account: &str, body: &str) -> Response<Full<Bytes>> {
        let token = element(body, "ClientRequestToken");
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The same token is the same job (idempotent retries).
        if let Some(j) = jobs
            .iter()
            .find(|j| !token.is_empty() && j.client_request_token == token)
        {
            return xml(
                StatusCode::OK,
                format!("<CreateJobResult><JobId>{}</JobId></CreateJobResult>", j.id),
            );
        }
        let operation = element(body, "S3ComputeObjectChecksum");
        if operation.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "this responder creates S3ComputeObjectChecksum jobs only",
            );
        }
        let spec = element(body, "Spec");
        let fields = spec
            .split("<member>")
            .skip(1)
            .filter_map(|m| m.split("</member>").next())
            .map(str::to_owned)
            .collect();
        let report = element(body, "Report");
        let id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            jobs.len() + 1,
            jobs.len() + 1
        );
        jobs.push(Job {
            id: id.clone(),
            account_id: account.to_owned(),
            algorithm: element(&operation, "ChecksumAlgorithm"),
            checksum_type: element(&operation, "ChecksumType"),
            manifest_arn: element(body, "ObjectArn"),
            manifest_etag: element(body, "ETag"),
            manifest_format: element(&spec, "Format"),
            manifest_fields: fields,
            report_bucket_arn: element(&report, "Bucket"),
            report_prefix: element(&report, "Prefix"),
            report_scope: element(&report, "ReportScope"),
            report_format: element(&report, "Format"),
            role_arn: element(body, "RoleArn"),
            client_request_token: token,
            confirmation_required: element(body, "ConfirmationRequired"),
            status: "Active".into(),
            failures: Vec::new(),
        });
        xml(StatusCode::OK, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateJobResult><JobId>{id}</JobId></CreateJobResult>"))
    }

    fn describe(&self, id: &str) -> Response<Full<Bytes>> {
        let Some(j) = self.jobs().into_iter().find(|j| j.id == id) else {
            return error(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                &format!("Job {id} not found"),
            );
        };
        let failures: String = j
            .failures
            .iter()
            .map(|(c, r)| format!("<member><FailureCode>{c}</FailureCode><FailureReason>{r}</FailureReason></member>"))
            .collect();
        xml(
            StatusCode::OK,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeJobResult><Job><JobId>{id}</JobId><ConfirmationRequired>false</ConfirmationRequired><JobArn>arn:aws:s3:us-east-1:{acct}:job/{id}</JobArn><Status>{status}</Status><Operation><S3ComputeObjectChecksum><ChecksumAlgorithm>{alg}</ChecksumAlgorithm><ChecksumType>{ty}</ChecksumType></S3ComputeObjectChecksum></Operation><Priority>10</Priority><ProgressSummary><TotalNumberOfTasks>0</TotalNumberOfTasks><NumberOfTasksSucceeded>0</NumberOfTasksSucceeded><NumberOfTasksFailed>0</NumberOfTasksFailed></ProgressSummary><FailureReasons>{failures}</FailureReasons><CreationTime>2026-12-07T03:00:00Z</CreationTime><RoleArn>{role}</RoleArn></Job></DescribeJobResult>",
                acct = j.account_id,
                status = j.status,
                alg = j.algorithm,
                ty = j.checksum_type,
                role = j.role_arn,
            ),
        )
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let account = req
            .headers()
            .get("x-amz-account-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if account.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "x-amz-account-id is required",
            );
        }
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            (Method::POST, ["v20180820", "jobs"]) => {
                self.create(&account, &String::from_utf8_lossy(&body))
            }
            (Method::GET, ["v20180820", "jobs", id]) => self.describe(id),
            _ => error(
                StatusCode::NOT_FOUND,
                "NotImplemented",
                &format!("this responder answers CreateJob and DescribeJob, not {path}"),
            ),
        }
    }
}

/// One task's outcome in a completion report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// The checksum computed (its digest), with the object's ETag.
    Succeeded { digest: Vec<u8>, etag: String },
    /// An error code, HTTP status and message.
    Failed {
        code: String,
        http: u16,
        message: String,
    },
}

/// The digest of `bytes` with the algorithm S3 Control names.
///
/// # Panics
/// On an algorithm this helper does not compute.
pub fn digest(algorithm: &str, bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    match algorithm {
        "SHA256" => sha2::Sha256::digest(bytes).to_vec(),
        "MD5" => md5::Md5::digest(bytes).to_vec(),
        "CRC64NVME" => crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, bytes)
            .to_be_bytes()
            .to_vec(),
        other => panic!("no digest for {other} here"),
    }
}

/// The files a Compute checksum job writes under `{prefix}/job-{id}/`:
/// (key, body) of `manifest.json` and one result CSV, for `tasks` of
/// (bucket, key, version id).
pub fn completion_report(
    job: &Job,
    tasks: &[(String, String, Option<String>, Task)],
) -> Vec<(String, Vec<u8>)> {
    let base = format!("{}/job-{}", job.report_prefix.trim_end_matches('/'), job.id);
    let mut csv = String::new();
    for (bucket, key, version, task) in tasks {
        let key: String = key
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let version = version.as_deref().unwrap_or("");
        match task {
            Task::Succeeded { digest, etag } => {
                let message = serde_json::json!({
                    "checksum_base64": base64::engine::general_purpose::STANDARD.encode(digest),
                    "checksum_hex": digest.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    "checksumAlgorithm": job.algorithm,
                    "checksumType": job.checksum_type,
                    "etag": etag,
                })
                .to_string()
                .replace('"', "\"\"");
                csv.push_str(&format!(
                    "{bucket},{key},{version},succeeded,200,,\"{message}\"\n"
                ));
            }
            Task::Failed {
                code,
                http,
                message,
            } => {
                csv.push_str(&format!(
                    "{bucket},{key},{version},failed,{http},{code},{message}\n"
                ));
            }
        }
    }
    let result_key = format!("{base}/results/6217b0fab0de85c408b4be96aeaca9b195a7daa5.csv");
    let md5: String = digest("MD5", csv.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let manifest = serde_json::json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-12-07T03:10:00.000Z",
        "Results": [{
            "TaskExecutionStatus": if tasks.iter().all(|t| matches!(t.3, Task::Succeeded { .. })) { "succeeded" } else { "failed" },
            "Bucket": job.report_bucket(),
            "MD5Checksum": md5,
            "Key": result_key,
        }],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    vec![
        (
            format!("{base}/manifest.json"),
            manifest.to_string().into_bytes(),
        ),
        (result_key, csv.into_bytes()),
    ]
}

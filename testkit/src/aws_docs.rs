//! A local HTTP responder with the documented responses of the EC2 instance
//! metadata service (IMDSv2: token, instance id, region) and of AWS Systems
//! Manager `DescribeInstancePatchStates` (JSON protocol), for tests of the
//! cloud's patch view: moto does not implement that call. It can answer as
//! for an identity without `ssm:DescribeInstancePatchStates`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The instance the responder describes.
pub const INSTANCE_ID: &str = "i-0123456789abcdef0";

/// The running responder.
#[derive(Debug, Clone)]
pub struct AwsDocs {
    pub addr: SocketAddr,
    /// `MissingCount` and `FailedCount` of the instance's patch state.
    counts: Arc<Mutex<(u64, u64)>>,
    denied: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-requestid", "2b7a7d1f-0000-0000-0000-000000000000")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

impl AwsDocs {
    /// Starts the responder on 127.0.0.1 with the instance's missing and
    /// failed patch counts.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn start(missing: u64, failed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let me = Self {
            addr: listener.local_addr()?,
            counts: Arc::new(Mutex::new((missing, failed))),
            denied: Arc::default(),
            log: Arc::default(),
        };
        crate::serve_docs(listener, me.clone(), |server: Self, req| async move {
            server.handle(req)
        });
        Ok(me)
    }

    /// `http://127.0.0.1:PORT`: the IMDS and the Systems Manager endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers DescribeInstancePatchStates as for an identity without the
    /// permission.
    pub fn deny(&self, on: bool) {
        self.denied.store(on, Ordering::SeqCst);
    }

    /// Every request, as `METHOD path [target]`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if let Ok(mut l) = self.log.lock() {
            l.push(format!("{} {path} {target}", req.method()));
        }
        match (req.method(), path.as_str()) {
            (&Method::PUT, "/latest/api/token") => {
                let mut r = reply(
                    StatusCode::OK,
                    "text/plain",
                    "AQAEAE-documented-token==".into(),
                );
                r.headers_mut().insert(
                    "x-aws-ec2-metadata-token-ttl-seconds",
                    hyper::header::HeaderValue::from_static("21600"),
                );
                r
            }
            (&Method::GET, "/latest/meta-data/instance-id") => {
                reply(StatusCode::OK, "text/plain", INSTANCE_ID.into())
            }
            (&Method::GET, "/latest/meta-data/placement/region") => {
                reply(StatusCode::OK, "text/plain", "eu-central-1".into())
            }
            (&Method::POST, "/") if target == "AmazonSSM.DescribeInstancePatchStates" => {
                if self.denied.load(Ordering::SeqCst) {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        "application/x-amz-json-1.1",
                        "{\"__type\":\"AccessDeniedException\",\"message\":\"User: arn:aws:sts::111122223333:assumed-role/restoreproof/i-0123456789abcdef0 is not authorized to perform: ssm:DescribeInstancePatchStates\"}".into(),
                    );
                }
                let (missing, failed) = self.counts.lock().map(|c| *c).unwrap_or((0, 0));
                reply(
                    StatusCode::OK,
                    "application/x-amz-json-1.1",
                    format!(
                        "{{\"InstancePatchStates\":[{{\"InstanceId\":\"{INSTANCE_ID}\",\"PatchGroup\":\"\",\"BaselineId\":\"pb-0c10e65780EXAMPLE\",\"SnapshotId\":\"6d03d6c5-f79d-41d0-8d0e-00a9aEXAMPLE\",\"InstalledCount\":123,\"InstalledOtherCount\":334,\"InstalledPendingRebootCount\":0,\"InstalledRejectedCount\":0,\"MissingCount\":{missing},\"FailedCount\":{failed},\"UnreportedNotApplicableCount\":0,\"NotApplicableCount\":585,\"OperationStartTime\":1795500000.0,\"OperationEndTime\":1795500300.0,\"Operation\":\"Scan\",\"RebootOption\":\"NoReboot\"}}]}}"
                    ),
                )
            }
            _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found".into()),
        }
    }
}

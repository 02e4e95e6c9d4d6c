//! A local HTTP responder with the documented requests and responses of
//! AWS Backup's `DescribeRestoreJob` (`GET /restore-jobs/{restoreJobId}`)
//! and `PutRestoreValidationResult` (`PUT
//! /restore-jobs/{restoreJobId}/validations`, 204), REST-JSON as the
//! service model (botocore's `backup/2018-11-15`) gives them, for tests of
//! the restore-testing validator: no local server implements AWS Backup.
//! Tests register the restore jobs it describes and read back the
//! validations it was sent.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One restore job as `DescribeRestoreJob` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreJob {
    pub id: String,
    /// The bucket backed up and the bucket the restore wrote.
    pub source_bucket: String,
    pub created_bucket: String,
    /// Seconds since the epoch: the recovery point's creation (the versions
    /// current then are what the restore brings back) and the job's end.
    pub recovery_point_created: i64,
    pub completed: i64,
    /// `None`: a restore started by hand, not by a restore testing plan.
    pub plan_arn: Option<String>,
}

/// A validation the responder was sent: (restore job id, status, message).
pub type Posted = (String, String, String);

/// The running responder.
#[derive(Debug, Clone)]
pub struct AwsBackup {
    pub addr: SocketAddr,
    jobs: Arc<Mutex<HashMap<String, RestoreJob>>>,
    posted: Arc<Mutex<Vec<Posted>>>,
}

fn reply(status: StatusCode, error: Option<&str>, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "6c1d3e2f-0000-0000-0000-000000000000");
    if let Some(e) = error {
        r = r.header("x-amzn-errortype", e);
    }
    r.body(Full::new(Bytes::from(body))).unwrap_or_default()
}

impl AwsBackup {
    /// Starts the responder on 127.0.0.1.
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let me = Self {
            addr: listener.local_addr()?,
            jobs: Arc::default(),
            posted: Arc::default(),
        };
        crate::serve_docs(listener, me.clone(), |server: Self, req| async move {
            server.handle(req).await
        });
        Ok(me)
    }

    /// `http://127.0.0.1:PORT`, the AWS Backup endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Describes `job` from now on.
    pub fn add(&self, job: RestoreJob) {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(job.id.clone(), job);
    }

    /// The validations sent so far, in order.
    pub fn posted(&self) -> Vec<Posted> {
        self.posted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The body `DescribeRestoreJob` answers for `job` (its members are
    /// the model's `DescribeRestoreJobOutput`; times in epoch seconds).
    pub fn described(&self, job: &RestoreJob) -> Value {
        let validation = self
            .posted()
            .iter()
            .rev()
            .find(|p| p.0 == job.id)
            .map(|p| p.1.clone());
        let mut v = json!({
            "AccountId": "123456789012",
            "RestoreJobId": job.id,
            "RecoveryPointArn": format!("arn:aws:backup:us-east-1:123456789012:recovery-point:{}", job.source_bucket),
            "SourceResourceArn": format!("arn:aws:s3:::{}", job.source_bucket),
            "BackupVaultArn": "arn:aws:backup:us-east-1:123456789012:backup-vault:Default",
            "CreationDate": job.completed - 60,
            "CompletionDate": job.completed,
            "Status": "COMPLETED",
            "PercentDone": "100.0",
            "BackupSizeInBytes": 1024,
            "IamRoleArn": "arn:aws:iam::123456789012:role/service-role/AWSBackupDefaultServiceRole",
            "CreatedResourceArn": format!("arn:aws:s3:::{}", job.created_bucket),
            "ResourceType": "S3",
            "RecoveryPointCreationDate": job.recovery_point_created,
            "IsParent": false,
        });
        if let (Some(plan), Value::Object(m)) = (&job.plan_arn, &mut v) {
            m.insert("CreatedBy".into(), json!({ "RestoreTestingPlanArn": plan }));
        }
        if let (Some(s), Value::Object(m)) = (validation, &mut v) {
            m.insert("ValidationStatus".into(), s.into());
        }
        v
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let not_found = |id: &str| {
            reply(
                StatusCode::NOT_FOUND,
                Some("ResourceNotFoundException"),
                json!({ "Message": format!("Restore job {id} not found"), "Type": "User", "Code": "ResourceNotFoundException" }).to_string(),
            )
        };
        match (method, parts.as_slice()) {
            (Method::GET, ["restore-jobs", id]) => {
                let job = self
                    .jobs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(*id)
                    .cloned();
                match job {
                    Some(j) => reply(StatusCode::OK, None, self.described(&j).to_string()),
                    None => not_found(id),
                }
            }
            (Method::PUT, ["restore-jobs", id, "validations"]) => {
                if !self
                    .jobs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .contains_key(*id)
                {
                    return not_found(id);
                }
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                self.posted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(((*id).to_owned(), text("ValidationStatus"), text("ValidationStatusMessage")));
                reply(StatusCode::NO_CONTENT, None, String::new())
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                Some("UnknownOperationException"),
                json!({ "Message": format!("this responder answers DescribeRestoreJob and PutRestoreValidationResult, not {path}") }).to_string(),
            ),
        }
    }
}

//! AWS Backup restore testing, as its validator sees it: the "Restore Job
//! State Change" events an EventBridge rule puts on an SQS queue, the
//! restore job they name (`DescribeRestoreJob`), and the validation result
//! posted back (`PutRestoreValidationResult`). The clients act with the
//! AWS settings of the S3 source whose bucket the jobs restore.

use crate::config::S3SourceConfig;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One message taken from the queue (it stays there, invisible for the
/// queue's visibility timeout, until deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
}

/// A restore job's state change as EventBridge delivers it (the members
/// the validator reads).
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct StateChange {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub id: String,
    pub time: String,
    pub detail: StateChangeDetail,
}

/// `detail` of a "Restore Job State Change" event.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct StateChangeDetail {
    pub restore_job_id: String,
    pub status: String,
    pub resource_type: String,
    pub created_resource_arn: String,
}

impl StateChange {
    /// Reads a message body: `Err` says why it is not the event of a
    /// completed S3 restore job (the message is then left for a person).
    ///
    /// # Errors
    /// Not JSON, another source or kind of event, another status or
    /// resource type.
    pub fn completed_s3_restore(body: &str) -> Result<Self, String> {
        let e: Self = serde_json::from_str(body)
            .map_err(|err| format!("the message is not an EventBridge event: {err}"))?;
        if e.source != "aws.backup" || e.detail_type != "Restore Job State Change" {
            return Err(format!(
                "the message is a `{}` event from `{}`, not an AWS Backup \"Restore Job State Change\": check the EventBridge rule's event pattern (docs/aws.md)",
                e.detail_type, e.source
            ));
        }
        if e.detail.restore_job_id.is_empty() {
            return Err("the event names no restore job (detail.restoreJobId)".into());
        }
        if e.detail.status != "COMPLETED" {
            return Err(format!(
                "restore job {} is {}, not COMPLETED: only completed restores are validated (the rule's pattern should match status COMPLETED)",
                e.detail.restore_job_id, e.detail.status
            ));
        }
        if e.detail.resource_type != "S3" {
            return Err(format!(
                "restore job {} restored a {} resource; this validator checks S3 restores",
                e.detail.restore_job_id, e.detail.resource_type
            ));
        }
        Ok(e)
    }
}

/// What `DescribeRestoreJob` says of a job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestoreJob {
    pub restore_job_id: String,
    pub status: String,
    pub resource_type: String,
    /// The bucket that was backed up (from `SourceResourceArn`).
    pub source_bucket: Option<String>,
    /// The bucket the restore wrote (from `CreatedResourceArn`).
    pub created_bucket: Option<String>,
    pub recovery_point_arn: String,
    /// The versions current at this time are what the restore brings back.
    pub recovery_point_created: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    /// The restore testing plan that started the job (`None`: a restore
    /// someone started by hand, which has no validation to post).
    pub restore_testing_plan_arn: Option<String>,
    pub validation_status: Option<String>,
}

/// The bucket name of `arn:aws:s3:::NAME` (or `arn:aws:s3:::NAME/...`).
pub fn bucket_of(arn: &str) -> Option<String> {
    let rest = arn.split(":::").nth(1)?;
    let name = rest.split('/').next()?;
    (arn.starts_with("arn:") && arn.contains(":s3:") && !name.is_empty()).then(|| name.to_owned())
}

/// A validation result AWS Backup accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    Validating,
    Successful,
    Failed,
    TimedOut,
}

/// The queue and AWS Backup, with one source's AWS settings.
#[derive(Debug, Clone)]
pub struct RestoreTesting {
    sqs: aws_sdk_sqs::Client,
    backup: aws_sdk_backup::Client,
    queue_url: String,
}

fn time(t: Option<&aws_sdk_backup::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

impl RestoreTesting {
    /// Clients for the queue at `queue_url` and for AWS Backup, with the
    /// settings of `source` (endpoints overridden when given).
    pub async fn new(
        source: &S3SourceConfig,
        queue_url: &str,
        sqs_endpoint: Option<&str>,
        backup_endpoint: Option<&str>,
    ) -> Self {
        let (shared, region) = super::shared_config(source).await;
        let mut sqs = aws_sdk_sqs::config::Builder::from(&shared).region(region.clone());
        if let Some(e) = sqs_endpoint {
            sqs = sqs.endpoint_url(e);
        }
        let mut backup = aws_sdk_backup::config::Builder::from(&shared).region(region);
        if let Some(e) = backup_endpoint {
            backup = backup.endpoint_url(e);
        }
        Self {
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            backup: aws_sdk_backup::Client::from_conf(backup.build()),
            queue_url: queue_url.to_owned(),
        }
    }

    /// Up to `max` messages, waiting up to `wait_secs` for the first.
    ///
    /// # Errors
    /// The queue's answer, with the permission to grant when refused.
    pub async fn receive(&self, max: i32, wait_secs: i32) -> Result<Vec<Queued>, String> {
        use aws_sdk_sqs::error::ProvideErrorMetadata as _;
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("AccessDenied" | "AccessDeniedException") => format!(
                    "SQS refused sqs:ReceiveMessage on {}: grant it (packaging/aws/iam-policy-restore-testing.json)",
                    self.queue_url
                ),
                _ => format!(
                    "cannot receive from {}: {}",
                    self.queue_url,
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                ),
            })?;
        Ok(out
            .messages()
            .iter()
            .map(|m| Queued {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Deletes a message once what it asked for is done and recorded.
    ///
    /// # Errors
    /// The queue's answer.
    pub async fn delete(&self, m: &Queued) -> Result<(), String> {
        self.sqs
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&m.receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "cannot delete message {} from {}: {}",
                    m.message_id,
                    self.queue_url,
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })
    }

    /// What AWS Backup says of restore job `id`.
    ///
    /// # Errors
    /// AWS Backup's answer, with the permission to grant when refused.
    pub async fn describe(&self, id: &str) -> Result<RestoreJob, String> {
        use aws_sdk_backup::error::ProvideErrorMetadata as _;
        let j = self
            .backup
            .describe_restore_job()
            .restore_job_id(id)
            .send()
            .await
            .map_err(|e| match e.code() {
                Some("AccessDeniedException") => format!(
                    "AWS Backup refused backup:DescribeRestoreJob for {id}: grant it (packaging/aws/iam-policy-restore-testing.json)"
                ),
                _ => format!(
                    "AWS Backup did not describe restore job {id}: {}",
                    aws_sdk_backup::error::DisplayErrorContext(&e)
                ),
            })?;
        Ok(RestoreJob {
            restore_job_id: j.restore_job_id().unwrap_or(id).to_owned(),
            status: j
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            resource_type: j.resource_type().unwrap_or_default().to_owned(),
            source_bucket: j.source_resource_arn().and_then(bucket_of),
            created_bucket: j.created_resource_arn().and_then(bucket_of),
            recovery_point_arn: j.recovery_point_arn().unwrap_or_default().to_owned(),
            recovery_point_created: time(j.recovery_point_creation_date()),
            completed: time(j.completion_date()),
            restore_testing_plan_arn: j
                .created_by()
                .and_then(|c| c.restore_testing_plan_arn())
                .map(str::to_owned),
            validation_status: j.validation_status().map(|s| s.as_str().to_owned()),
        })
    }

    /// Posts the validation of restore job `id`.
    ///
    /// # Errors
    /// AWS Backup's answer, with the permission to grant when refused.
    pub async fn post(&self, id: &str, status: Validation, message: &str) -> Result<(), String> {
        use aws_sdk_backup::error::ProvideErrorMetadata as _;
        use aws_sdk_backup::types::RestoreValidationStatus as S;
        let status = match status {
            Validation::Validating => S::Validating,
            Validation::Successful => S::Successful,
            Validation::Failed => S::Failed,
            Validation::TimedOut => S::TimedOut,
        };
        self.backup
            .put_restore_validation_result()
            .restore_job_id(id)
            .validation_status(status)
            .validation_status_message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match e.code() {
                Some("AccessDeniedException") => format!(
                    "AWS Backup refused backup:PutRestoreValidationResult for {id}: grant it (packaging/aws/iam-policy-restore-testing.json)"
                ),
                _ => format!(
                    "AWS Backup did not take the validation of restore job {id}: {}",
                    aws_sdk_backup::error::DisplayErrorContext(&e)
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"version":"0","id":"5e7a1c2b-0000-4000-8000-000000000001","detail-type":"Restore Job State Change","source":"aws.backup","account":"123456789012","time":"2026-12-07T03:00:00Z","region":"us-east-1","resources":["arn:aws:backup:us-east-1:123456789012:recovery-point:1a2b"],"detail":{"restoreJobId":"A1B2C3D4-0000-0000-0000-000000000001","backupSizeInBytes":"1024","creationDate":"2026-12-07T02:50:00Z","iamRoleArn":"arn:aws:iam::123456789012:role/backup","percentDone":100.0,"resourceType":"S3","status":"COMPLETED","createdResourceArn":"arn:aws:s3:::restored-bucket","restoreTestingPlanArn":"arn:aws:backup:us-east-1:123456789012:restore-testing-plan:nightly-abc"}}"#;

    #[test]
    fn a_completed_s3_restore_is_read_and_anything_else_is_named() {
        let e = StateChange::completed_s3_restore(EVENT).expect("an event");
        assert_eq!(
            e.detail.restore_job_id,
            "A1B2C3D4-0000-0000-0000-000000000001"
        );
        assert_eq!(
            e.detail.created_resource_arn,
            "arn:aws:s3:::restored-bucket"
        );
        for (body, why) in [
            ("not json", "not an EventBridge event"),
            (
                &EVENT.replace("aws.backup", "aws.s3") as &str,
                "not an AWS Backup",
            ),
            (
                &EVENT.replace("\"COMPLETED\"", "\"FAILED\""),
                "is FAILED, not COMPLETED",
            ),
            (
                &EVENT.replace("\"resourceType\":\"S3\"", "\"resourceType\":\"EBS\""),
                "restored a EBS resource",
            ),
            (
                &EVENT.replace("A1B2C3D4-0000-0000-0000-000000000001", ""),
                "names no restore job",
            ),
        ] {
            let err = StateChange::completed_s3_restore(body).expect_err(why);
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn a_buckets_name_is_read_from_its_arn() {
        assert_eq!(
            bucket_of("arn:aws:s3:::backups").as_deref(),
            Some("backups")
        );
        assert_eq!(
            bucket_of("arn:aws:s3:::backups/some/prefix").as_deref(),
            Some("backups")
        );
        assert_eq!(bucket_of("arn:aws-us-gov:s3:::b").as_deref(), Some("b"));
        assert_eq!(bucket_of("arn:aws:ec2:us-east-1:1:volume/vol-1"), None);
        assert_eq!(bucket_of("backups"), None);
    }
}

//! AWS Backup restore testing, the validator's view of it: events of
//! restore jobs on an SQS queue (moto), the restore job described and the
//! validation posted to AWS Backup — a documented-responses responder
//! (`restoreproof_testkit::aws_backup`), as no local server implements AWS
//! Backup; its answers are checked against botocore's service model.

use restoreproof::providers::s3::backup::{RestoreTesting, StateChange, Validation};
use restoreproof_testkit::aws_backup::{AwsBackup, RestoreJob};

fn event(job: &str, status: &str) -> String {
    serde_json::json!({
        "version": "0", "id": "5e7a1c2b-0000-4000-8000-000000000001",
        "detail-type": "Restore Job State Change", "source": "aws.backup",
        "account": "123456789012", "time": "2026-12-07T03:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:backup:us-east-1:123456789012:recovery-point:1a2b"],
        "detail": {"restoreJobId": job, "status": status, "resourceType": "S3",
                   "createdResourceArn": "arn:aws:s3:::restored-bucket", "percentDone": 100.0}
    })
    .to_string()
}

async fn queue(name: &str) -> String {
    let conf = aws_sdk_sqs::config::Builder::new()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(crate::util::endpoint())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    let sqs = aws_sdk_sqs::Client::from_conf(conf);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    for body in [
        event("job-1", "COMPLETED"),
        "{\"not\": \"an event\"}".to_owned(),
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_testing_events_are_read_jobs_described_and_validations_posted() {
    let backup = AwsBackup::start().await.expect("responder");
    let job = RestoreJob {
        id: "job-1".into(),
        source_bucket: "prod-backups".into(),
        created_bucket: "awsbackup-restore-test-1".into(),
        recovery_point_created: 1_796_000_000,
        completed: 1_796_003_600,
        plan_arn: Some(
            "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:nightly-1".into(),
        ),
    };
    backup.add(job.clone());
    let url = queue("restore-testing-events").await;
    let config = restoreproof::config::Config::from_toml(
        &format!(
            "[sources.prod]\nkind = \"s3\"\nbucket = \"prod-backups\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\n",
            crate::util::endpoint()
        ),
        std::path::Path::new("."),
    )
    .expect("config");
    let restoreproof::config::SourceConfig::S3(s3) = &config.sources["prod"] else {
        panic!("an S3 source");
    };
    let rt = RestoreTesting::new(
        s3,
        &url,
        Some(&crate::util::endpoint()),
        Some(&backup.url()),
    )
    .await;

    let messages = rt.receive(10, 1).await.expect("receive");
    assert_eq!(messages.len(), 2, "{messages:?}");
    let (good, bad): (Vec<_>, Vec<_>) = messages
        .iter()
        .partition(|m| StateChange::completed_s3_restore(&m.body).is_ok());
    assert_eq!((good.len(), bad.len()), (1, 1));
    let why = StateChange::completed_s3_restore(&bad[0].body).expect_err("not an event");
    assert!(why.contains("not an AWS Backup"), "{why}");

    let e = StateChange::completed_s3_restore(&good[0].body).expect("event");
    let j = rt
        .describe(&e.detail.restore_job_id)
        .await
        .expect("describe");
    assert_eq!(j.source_bucket.as_deref(), Some("prod-backups"));
    assert_eq!(
        j.created_bucket.as_deref(),
        Some("awsbackup-restore-test-1")
    );
    assert_eq!(
        j.recovery_point_created.map(|t| t.timestamp()),
        Some(1_796_000_000)
    );
    assert_eq!(j.status, "COMPLETED");
    assert!(j.restore_testing_plan_arn.is_some());
    assert!(rt
        .describe("no-such-job")
        .await
        .unwrap_err()
        .contains("no-such-job"));

    rt.post(
        "job-1",
        Validation::Validating,
        "restoreproof is validating",
    )
    .await
    .expect("post");
    rt.post("job-1", Validation::Successful, "3 of 3 verified")
        .await
        .expect("post");
    assert_eq!(
        backup.posted(),
        [
            (
                "job-1".to_owned(),
                "VALIDATING".to_owned(),
                "restoreproof is validating".to_owned()
            ),
            (
                "job-1".to_owned(),
                "SUCCESSFUL".to_owned(),
                "3 of 3 verified".to_owned()
            ),
        ]
    );
    assert_eq!(
        rt.describe("job-1")
            .await
            .expect("describe")
            .validation_status
            .as_deref(),
        Some("SUCCESSFUL")
    );

    // The handled message goes; the one for a person stays.
    rt.delete(good[0]).await.expect("delete");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let left = rt.receive(10, 0).await.expect("receive");
    assert!(
        left.iter().all(|m| m.message_id != good[0].message_id),
        "{left:?}"
    );

    // The responder's answer has only members the service model declares,
    // of the model's types (botocore, as moto installs it).
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON").expect("RESTOREPROOF_TEST_PYTHON");
    let check = std::process::Command::new(python)
        .args(["-c", MODEL_CHECK, &backup.described(&job).to_string()])
        .output()
        .expect("python");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Each member of a DescribeRestoreJob answer against botocore's model of
/// `DescribeRestoreJobOutput`.
const MODEL_CHECK: &str = r#"
import json, sys, botocore.session
model = botocore.session.get_session().get_service_model("backup")
out = model.operation_model("DescribeRestoreJob").output_shape
put = model.operation_model("PutRestoreValidationResult")
assert put.http["requestUri"] == "/restore-jobs/{restoreJobId}/validations" and put.http["method"] == "PUT"
kinds = {"string": str, "timestamp": (int, float), "long": int, "boolean": bool, "structure": dict}
answer = json.loads(sys.argv[1])
for k, v in answer.items():
    assert k in out.members, f"{k} is not a member of DescribeRestoreJobOutput"
    shape = out.members[k]
    assert isinstance(v, kinds[shape.type_name]), f"{k}: {v!r} is not a {shape.type_name}"
    if shape.type_name == "string" and shape.enum:
        assert v in shape.enum, f"{k}: {v} not in {shape.enum}"
print("ok")
"#;

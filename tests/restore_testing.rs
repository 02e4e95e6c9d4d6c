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

/// An SQS client of moto.
fn sqs() -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::config::Builder::new()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url(crate::util::endpoint())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

async fn queue(name: &str) -> String {
    let sqs = sqs();
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
    let url = queue(&format!(
        "rt-events-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ))
    .await;
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
    crate::util::assert_python(MODEL_CHECK, &[&backup.described(&job).to_string()]);
}

/// The validator's policy grants only calls the validator makes, each one
/// an operation of its service's model (botocore).
#[test]
fn restore_testing_policy_names_real_operations_and_nothing_more() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/aws/iam-policy-restore-testing.json");
    let text = std::fs::read_to_string(path).expect("policy");
    crate::util::assert_python(POLICY_CHECK, &[&text]);
}

const POLICY_CHECK: &str = r#"
import json, sys, botocore.session
policy = json.loads(sys.argv[1])
session = botocore.session.get_session()
made = {"sqs": {"ReceiveMessage", "DeleteMessage"}, "backup": {"DescribeRestoreJob", "PutRestoreValidationResult"}}
granted = {}
for st in policy["Statement"]:
    acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    for a in acts:
        svc, op = a.split(":")
        granted.setdefault(svc, set()).add(op)
for svc, ops in made.items():
    model = session.get_service_model(svc)
    for op in granted.get(svc, set()):
        assert op in model.operation_names, f"{svc}:{op} is not an operation of {svc}"
    assert granted.get(svc, set()) == ops, f"{svc}: granted {granted.get(svc)} but the validator calls {ops}"
print("ok")
"#;

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

/// A bucket on moto, versioned or not, for the restore-testing scenario.
async fn bucket(s3: &aws_sdk_s3::Client, name: &str, versioned: bool) {
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
    if versioned {
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
    }
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc64Nvme)
        .send()
        .await
        .expect("put");
}

fn body(k: &str) -> Vec<u8> {
    format!("backup of {k} as it was at the recovery point")
        .repeat(50)
        .into_bytes()
}

/// The validator end to end: a faithful restore is SUCCESSFUL, a restore
/// with one changed object FAILED naming it, a message that is not a
/// restore job's event recorded once and left on the queue; each run is in
/// the evidence with `trigger = "aws_backup"` and its restore job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_testing_validates_restored_buckets_and_leaves_what_it_cannot_handle() {
    let s3 = crate::util::client_for(crate::util::Store::Moto);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (src, good, bad) = (
        format!("rt-src-{tag}"),
        format!("rt-good-{tag}"),
        format!("rt-bad-{tag}"),
    );
    bucket(&s3, &src, true).await;
    for k in ["k0", "k1", "k2", "k3"] {
        put(&s3, &src, k, &body(k)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let recovery_point = chrono::Utc::now().timestamp();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // After the recovery point: a new version of k0, k3 deleted.
    put(&s3, &src, "k0", b"written after the recovery point").await;
    s3.delete_object()
        .bucket(&src)
        .key("k3")
        .send()
        .await
        .expect("delete");
    // What two restores of that recovery point wrote.
    for (b, changed) in [(&good, None), (&bad, Some("k2"))] {
        bucket(&s3, b, false).await;
        for k in ["k0", "k1", "k2", "k3"] {
            let mut bytes = body(k);
            if Some(k) == changed {
                bytes[100] ^= 1;
            }
            put(&s3, b, k, &bytes).await;
        }
    }
    let backup = AwsBackup::start().await.expect("responder");
    for (id, created) in [("job-good", &good), ("job-bad", &bad)] {
        backup.add(RestoreJob {
            id: id.into(),
            source_bucket: src.clone(),
            created_bucket: created.clone(),
            recovery_point_created: recovery_point,
            completed: chrono::Utc::now().timestamp(),
            plan_arn: Some(
                "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:nightly-1".into(),
            ),
        });
    }
    let sqs = sqs();
    let url = sqs
        .create_queue()
        .queue_name(format!("rt-{tag}"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "1",
        )
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("url")
        .to_owned();
    for b in [
        event("job-good", "COMPLETED"),
        event("job-bad", "COMPLETED"),
        "{\"detail-type\": \"Object Created\", \"source\": \"aws.s3\"}".to_owned(),
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(b)
            .send()
            .await
            .expect("send");
    }
    let endpoint = crate::util::endpoint();
    let agent = crate::util::Agent::from_toml(&format!(
        "[sources.prod]\nkind = \"s3\"\nbucket = \"{src}\"\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n\
         [aws_backup]\nqueue_url = \"{url}\"\nsource = \"prod\"\nsqs_endpoint = \"{endpoint}\"\nbackup_endpoint = \"{}\"\n",
        backup.url()
    ));
    let out = agent
        .run(&["restore-testing", "--once", "--wait", "1", "--json"])
        .await;
    assert_eq!(out.code, 1, "one failed: {}\n{}", out.stdout, out.stderr);
    let doc = out.json();
    let messages = doc["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 3, "{doc}");

    let posted = backup.posted();
    let of = |job: &str| -> Vec<(String, String)> {
        posted
            .iter()
            .filter(|p| p.0 == job)
            .map(|p| (p.1.clone(), p.2.clone()))
            .collect()
    };
    let good_posts = of("job-good");
    assert_eq!(good_posts.len(), 2, "{posted:?}");
    assert_eq!(good_posts[0].0, "VALIDATING");
    assert_eq!(good_posts[1].0, "SUCCESSFUL", "{posted:?}");
    assert!(
        good_posts[1].1.contains("4 of 4 object(s) verified"),
        "{posted:?}"
    );
    let bad_posts = of("job-bad");
    assert_eq!(bad_posts[1].0, "FAILED", "{posted:?}");
    assert!(bad_posts[1].1.contains("k2 mismatch"), "{posted:?}");
    assert!(
        !bad_posts[1].1.contains("k1 "),
        "only the changed key is named: {posted:?}"
    );

    let ev = agent.evidence();
    let runs: Vec<&serde_json::Value> = ev
        .iter()
        .filter(|e| e["kind"] == "run_summary" && e["trigger"] == "aws_backup")
        .collect();
    assert_eq!(runs.len(), 2, "{ev:?}");
    let bad_run = runs
        .iter()
        .find(|r| r["aws_backup"]["restore_job_id"] == "job-bad")
        .expect("bad run");
    assert_eq!(bad_run["counts"]["mismatch"], 1, "{bad_run}");
    assert_eq!(bad_run["counts"]["verified"], 3, "{bad_run}");
    assert_eq!(bad_run["aws_backup"]["restored_bucket"], bad.as_str());
    assert!(
        bad_posts[1]
            .1
            .contains(bad_run["run_id"].as_str().unwrap_or("?")),
        "the message names the run"
    );
    let unhandled: Vec<&serde_json::Value> = ev
        .iter()
        .filter(|e| e["kind"] == "restore_test_unhandled")
        .collect();
    assert_eq!(unhandled.len(), 1, "{ev:?}");
    assert!(unhandled[0]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("not an AWS Backup"));

    // The message for a person stays on the queue, and is recorded once.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let again = agent
        .run(&["restore-testing", "--once", "--wait", "1", "--json"])
        .await;
    let again_doc = again.json();
    let left = again_doc["messages"].as_array().expect("messages");
    assert_eq!(left.len(), 1, "{again_doc}");
    assert_eq!(left[0]["outcome"], "left_for_a_person");
    assert_eq!(
        agent
            .evidence()
            .iter()
            .filter(|e| e["kind"] == "restore_test_unhandled")
            .count(),
        1
    );
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    let report = agent.run(&["report", "--format", "json"]).await;
    assert!(
        report.stdout.contains("\"restore-testing\""),
        "the restore tests are in the report: {}\n{}",
        report.stdout,
        report.stderr
    );
    assert!(
        report.stdout.contains("\"aws_backup_restore_test\""),
        "{}",
        report.stdout
    );
    let oscal = agent.run(&["report", "--format", "oscal"]).await;
    assert!(
        oscal.stdout.contains("AWS Backup restore tests of source"),
        "the restore tests are an observation of their own in OSCAL: {}",
        oscal.stdout
    );

    let docs: Vec<(&str, serde_json::Value)> = agent
        .evidence()
        .into_iter()
        .map(|e| ("evidence", e))
        .chain([("restore-testing", doc), ("restore-testing", again_doc)])
        .collect();
    crate::schemas::assert_valid(&docs);
}

/// The service validates restore tests as their events arrive: a config
/// with `[aws_backup]` and nothing scheduled is a service to run, an event
/// sent while it runs is validated (SUCCESSFUL posted, message deleted, the
/// run recorded), and SIGTERM stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_testing_runs_in_the_service() {
    let s3 = crate::util::client_for(crate::util::Store::Moto);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (src, copy) = (format!("rts-src-{tag}"), format!("rts-copy-{tag}"));
    bucket(&s3, &src, true).await;
    bucket(&s3, &copy, false).await;
    for k in ["x/1", "x/2"] {
        put(&s3, &src, k, &body(k)).await;
        put(&s3, &copy, k, &body(k)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let backup = AwsBackup::start().await.expect("responder");
    backup.add(RestoreJob {
        id: "job-svc".into(),
        source_bucket: src.clone(),
        created_bucket: copy.clone(),
        recovery_point_created: chrono::Utc::now().timestamp(),
        completed: chrono::Utc::now().timestamp(),
        plan_arn: Some("arn:aws:backup:us-east-1:123456789012:restore-testing-plan:svc".into()),
    });
    let url = {
        let sqs = sqs();
        let url = sqs
            .create_queue()
            .queue_name(format!("rts-{tag}"))
            .send()
            .await
            .expect("queue")
            .queue_url()
            .expect("url")
            .to_owned();
        (sqs, url)
    };
    let endpoint = crate::util::endpoint();
    let agent = crate::util::Agent::from_toml(&format!(
        "[daemon]\nheartbeat_interval = \"1s\"\n[sources.prod]\nkind = \"s3\"\nbucket = \"{src}\"\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n\
         [aws_backup]\nqueue_url = \"{}\"\nsource = \"prod\"\nsqs_endpoint = \"{endpoint}\"\nbackup_endpoint = \"{}\"\n",
        url.1,
        backup.url()
    ));
    let mut child = agent.spawn_service();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    url.0
        .send_message()
        .queue_url(&url.1)
        .message_body(event("job-svc", "COMPLETED"))
        .send()
        .await
        .expect("send");
    let mut posted = Vec::new();
    for _ in 0..100 {
        posted = backup.posted();
        if posted.iter().any(|p| p.1 == "SUCCESSFUL") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        posted.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(),
        ["VALIDATING", "SUCCESSFUL"],
        "{posted:?}"
    );
    crate::daemon::signal(&child, "TERM");
    let exit = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("stopped within 30 s")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
    let runs: Vec<serde_json::Value> = agent
        .evidence()
        .into_iter()
        .filter(|e| e["kind"] == "run_summary" && e["trigger"] == "aws_backup")
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["counts"]["verified"], 2, "{}", runs[0]);
    let attrs = url
        .0
        .get_queue_attributes()
        .queue_url(&url.1)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let count = |k: aws_sdk_sqs::types::QueueAttributeName| {
        attrs
            .attributes()
            .and_then(|a| a.get(&k))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(99)
    };
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        0,
        "the handled message is deleted"
    );
}

//! `restoreproof posture` for S3 against moto 5.1.22 (started by
//! `scripts/test`; moto 5.2 answers GetBucketVersioning in a form the AWS
//! SDK cannot parse): each setting both ways, the findings recorded as
//! evidence, and a denied call (the fault proxy answers 403 AccessDenied)
//! reported as `unknown` with the reason.

use crate::util::Agent;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLoggingStatus, BucketVersioningStatus, ExpirationStatus,
    LifecycleRule, LifecycleRuleFilter, LoggingEnabled, NoncurrentVersionExpiration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use restoreproof_testkit::{Fault, FaultProxy, Rule};
use serde_json::Value;
use std::collections::BTreeMap;

fn endpoint() -> String {
    std::env::var("RESTOREPROOF_TEST_S3_POSTURE_ENDPOINT").unwrap_or_else(|_| {
        panic!("RESTOREPROOF_TEST_S3_POSTURE_ENDPOINT is not set: run the suite with `scripts/test`, which starts moto 5.1 for these tests")
    })
}

fn client() -> Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    Client::from_conf(conf)
}

async fn versioning(s3: &Client, bucket: &str, status: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .expect("versioning");
}

async fn noncurrent_days(s3: &Client, bucket: &str, days: i32) {
    let rule = LifecycleRule::builder()
        .id("noncurrent")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(days)
                .build(),
        )
        .build()
        .expect("rule");
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .expect("lifecycle"),
        )
        .send()
        .await
        .expect("lifecycle");
}

/// The findings of `posture --json`, by check, and the exit code.
async fn posture(agent: &Agent) -> (i32, BTreeMap<String, Value>) {
    let r = agent.run(&["posture", "--json"]).await;
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).expect("json");
    let by_check = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap_or_default().to_owned(),
                f.clone(),
            )
        })
        .collect();
    (r.code, by_check)
}

fn agent_for(endpoint: &str, bucket: &str) -> Agent {
    Agent::from_toml(&format!(
        "[sources.s]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         [sources.s.posture]\nmin_noncurrent_retention_days = 30\naccess_logging = true\n"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_s3_setting_is_found_both_ways_and_recorded_as_evidence() {
    let s3 = client();
    let bucket = format!(
        "posture-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let logs = format!("{bucket}-logs");
    for b in [&bucket, &logs] {
        s3.create_bucket().bucket(b).send().await.expect("bucket");
    }
    s3.put_bucket_acl()
        .bucket(&logs)
        .acl(aws_sdk_s3::types::BucketCannedAcl::from(
            "log-delivery-write",
        ))
        .send()
        .await
        .expect("log delivery acl");
    // Well configured.
    versioning(&s3, &bucket, BucketVersioningStatus::Enabled).await;
    noncurrent_days(&s3, &bucket, 35).await;
    s3.put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .build()
                                .expect("sse"),
                        )
                        .build(),
                )
                .build()
                .expect("sse"),
        )
        .send()
        .await
        .expect("encryption");
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .expect("pab");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"TLS","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{bucket}","arn:aws:s3:::{bucket}/*"],"Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
    );
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(&policy)
        .send()
        .await
        .expect("policy");
    s3.put_bucket_logging()
        .bucket(&bucket)
        .bucket_logging_status(
            BucketLoggingStatus::builder()
                .logging_enabled(
                    LoggingEnabled::builder()
                        .target_bucket(&logs)
                        .target_prefix("access/")
                        .build()
                        .expect("logging"),
                )
                .build(),
        )
        .send()
        .await
        .expect("logging");

    let agent = agent_for(&endpoint(), &bucket);
    let (code, f) = posture(&agent).await;
    for check in [
        "versioning",
        "default_encryption",
        "noncurrent_retention",
        "public_access_block",
        "secure_transport",
        "access_logging",
        "replication",
        "object_lock",
        "mfa_delete",
    ] {
        assert_eq!(f[check]["status"], "pass", "{check}: {}", f[check]);
    }
    assert_eq!(code, 0);
    assert_eq!(f["versioning"]["observed"], "Enabled");
    assert_eq!(f["default_encryption"]["observed"], "SSE-KMS");
    assert_eq!(
        f["noncurrent_retention"]["observed"],
        "noncurrent versions expire after 35 days"
    );
    assert_eq!(
        f["access_logging"]["observed"],
        format!("to s3://{logs}/access/")
    );
    assert_eq!(f["versioning"]["controls"][0]["iso_2013"], "A.12.3.1");
    assert_eq!(f["versioning"]["controls"][0]["iso_2022"], "8.13");
    assert_eq!(f["default_encryption"]["controls"][0]["iso_2022"], "8.24");
    assert_eq!(f["replication"]["controls"][0]["iso_2022"], "8.14");

    // Object Lock and replication on a second bucket (both can only be set
    // up with versioning; Object Lock only at creation).
    let locked = format!("{bucket}-locked");
    s3.create_bucket()
        .bucket(&locked)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("locked bucket");
    s3.put_object_lock_configuration()
        .bucket(&locked)
        .object_lock_configuration(
            aws_sdk_s3::types::ObjectLockConfiguration::builder()
                .object_lock_enabled(aws_sdk_s3::types::ObjectLockEnabled::Enabled)
                .rule(
                    aws_sdk_s3::types::ObjectLockRule::builder()
                        .default_retention(
                            aws_sdk_s3::types::DefaultRetention::builder()
                                .mode(aws_sdk_s3::types::ObjectLockRetentionMode::Governance)
                                .days(30)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("object lock");
    versioning(&s3, &logs, BucketVersioningStatus::Enabled).await;
    s3.put_bucket_replication()
        .bucket(&locked)
        .replication_configuration(
            aws_sdk_s3::types::ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/replication")
                .rules(
                    aws_sdk_s3::types::ReplicationRule::builder()
                        .id("all")
                        .priority(1)
                        .status(aws_sdk_s3::types::ReplicationRuleStatus::Enabled)
                        .filter(
                            aws_sdk_s3::types::ReplicationRuleFilter::builder()
                                .prefix("")
                                .build(),
                        )
                        .delete_marker_replication(
                            aws_sdk_s3::types::DeleteMarkerReplication::builder()
                                .status(aws_sdk_s3::types::DeleteMarkerReplicationStatus::Enabled)
                                .build(),
                        )
                        .destination(
                            aws_sdk_s3::types::Destination::builder()
                                .bucket(format!("arn:aws:s3:::{logs}"))
                                .build()
                                .expect("destination"),
                        )
                        .build()
                        .expect("rule"),
                )
                .build()
                .expect("replication"),
        )
        .send()
        .await
        .expect("replication");
    let strict = Agent::from_toml(&format!(
        "[sources.s]\nkind = \"s3\"\nbucket = \"{locked}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         [sources.s.posture]\nobject_lock = true\nreplication = true\n",
        endpoint()
    ));
    let (_, f2) = posture(&strict).await;
    assert_eq!(f2["object_lock"]["status"], "pass", "{}", f2["object_lock"]);
    assert_eq!(
        f2["object_lock"]["observed"],
        "enabled; default retention GOVERNANCE 30 days"
    );
    assert_eq!(f2["replication"]["status"], "pass", "{}", f2["replication"]);
    assert!(
        f2["replication"]["observed"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("to arn:aws:s3:::{logs} (delete markers ")),
        "{}",
        f2["replication"]
    );
    // ... and the first bucket has neither.
    let strict_plain = Agent::from_toml(&format!(
        "[sources.s]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         [sources.s.posture]\nobject_lock = true\nreplication = true\n",
        endpoint()
    ));
    let (code, f3) = posture(&strict_plain).await;
    assert_eq!(code, 1);
    assert_eq!(f3["object_lock"]["status"], "fail", "{}", f3["object_lock"]);
    assert_eq!(f3["replication"]["status"], "fail", "{}", f3["replication"]);

    // Badly configured.
    versioning(&s3, &bucket, BucketVersioningStatus::Suspended).await;
    noncurrent_days(&s3, &bucket, 1).await;
    s3.delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("policy");
    s3.delete_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .expect("encryption off");
    s3.delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("pab");
    s3.put_bucket_logging()
        .bucket(&bucket)
        .bucket_logging_status(BucketLoggingStatus::builder().build())
        .send()
        .await
        .expect("logging off");
    let (code, f) = posture(&agent).await;
    assert_eq!(code, 1, "a required setting fails");
    for (check, observed) in [
        ("versioning", "Suspended"),
        (
            "noncurrent_retention",
            "noncurrent versions expire after 1 days",
        ),
        ("secure_transport", "no bucket policy"),
        ("public_access_block", "not configured"),
        ("access_logging", "disabled"),
        ("default_encryption", "none"),
    ] {
        assert_eq!(f[check]["status"], "fail", "{check}: {}", f[check]);
        assert_eq!(f[check]["observed"], observed, "{check}");
    }
    assert!(f["noncurrent_retention"]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("before the required retention"));

    // Recorded as evidence, and closed by a checkpoint.
    let ev = agent.evidence();
    let findings: Vec<&Value> = ev
        .iter()
        .filter(|e| e["kind"] == "posture_finding")
        .collect();
    assert_eq!(findings.len(), 18, "9 checks, twice");
    crate::util::assert_ocsf_conforms(&ev);
    // The findings name their device as py-ocsf-models (the OCSF library
    // Prowler uses) requires; without the region it refuses them.
    let mut finding = restoreproof::sink::format::render(
        restoreproof::sink::config::Format::Ocsf,
        &restoreproof::evidence::record::Record::read(findings[0].clone()),
    );
    let device = finding["device"].clone();
    for k in ["name", "uid", "ip", "region", "hostname"] {
        assert!(device[k].is_string(), "device.{k}: {device}");
    }
    if let Some(d) = finding["device"].as_object_mut() {
        d.remove("region");
    }
    let refused = crate::util::ocsf_check(&[finding]).expect_err("refused without a region");
    assert!(
        refused.contains("py-ocsf-models ComplianceFinding"),
        "{refused}"
    );
    assert_eq!(
        ev.last().map(|e| e["kind"].clone()),
        Some("checkpoint".into())
    );

    // Reports show the latest finding per check and derive 8.14 from it.
    let report = agent
        .run(&["report", "--since", "1d", "--format", "json"])
        .await;
    let r: Value = serde_json::from_str(&report.stdout).expect("report");
    let rows = r["posture"].as_array().expect("posture rows");
    assert_eq!(rows.len(), 9);
    assert!(rows
        .iter()
        .any(|p| p["check"] == "versioning" && p["status"] == "fail"));
    let redundancy = r["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["iso_2022"] == "8.14")
        .expect("8.14")
        .clone();
    assert_eq!(redundancy["status"], "no_evidence");
    assert_eq!(
        redundancy["explanation"],
        "no checked source has a replication rule or a geo/zone-redundant SKU (s)"
    );

    // A denied call is `unknown` with the reason, never a pass.
    let upstream = endpoint()
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let proxy = FaultProxy::start("127.0.0.1:0".parse().expect("addr"), upstream)
        .await
        .expect("proxy");
    proxy.add(Rule::any("policy", Fault::Status(403, "AccessDenied")));
    let denied = agent_for(&proxy.url(), &bucket);
    let (_, f) = posture(&denied).await;
    assert_eq!(
        f["secure_transport"]["status"], "unknown",
        "{}",
        f["secure_transport"]
    );
    assert_eq!(
        f["secure_transport"]["reason"],
        "access denied: the identity needs s3:GetBucketPolicy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_posture_checks_on_their_schedule() {
    let s3 = client();
    let bucket = format!(
        "posture-daemon-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let agent = Agent::from_toml(&format!(
        "[sources.s]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         [posture]\nschedule = \"* * * * * *\"\n[daemon]\nshutdown_timeout = \"5s\"\n",
        endpoint()
    ));
    let mut child = agent
        .command(&["run"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run");
    crate::util::wait_for("scheduled posture checks", 30, || {
        let ev = if agent.path("log/evidence.jsonl").exists() {
            agent.evidence()
        } else {
            Vec::new()
        };
        ev.iter().filter(|e| e["kind"] == "posture_finding").count() >= 18
    })
    .await;
    crate::daemon::signal(&child, "TERM");
    let status = child.wait().await.expect("wait");
    assert!(status.success());
    let ev = agent.evidence();
    let versioning: Vec<&Value> = ev
        .iter()
        .filter(|e| e["kind"] == "posture_finding" && e["check"] == "versioning")
        .collect();
    assert!(versioning.len() >= 2, "at least two scheduled checks");
    assert_eq!(versioning[0]["status"], "fail");
    assert_eq!(versioning[0]["observed"], "never enabled");
}

/// Sets Azurite's blob soft delete (Set Blob Service Properties) with the
/// Azure SDK for Python in the test virtualenv.
fn azure_soft_delete(days: Option<u32>) {
    let python =
        std::env::var("RESTOREPROOF_TEST_PYTHON").expect("RESTOREPROOF_TEST_PYTHON (scripts/test)");
    let script = format!(
        "from azure.storage.blob import BlobServiceClient, RetentionPolicy\n\
         s = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint={}')\n\
         s.set_service_properties(delete_retention_policy=RetentionPolicy(enabled={}, days={}))\n",
        crate::azure::endpoint(),
        if days.is_some() { "True" } else { "False" },
        days.map_or("None".to_owned(), |d| d.to_string())
    );
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_soft_delete_redundancy_versions_and_encryption_are_found() {
    let c = crate::azure::Container::new("posture").await;
    c.put("disk.vhd", &crate::util::data(3, 10_000)).await;
    let config = |redundancy: &str| {
        format!(
            "{}[sources.az.posture]\nmin_soft_delete_days = 7\nredundancy = [{redundancy}]\n",
            c.source_toml("az")
        )
    };
    let agent = Agent::from_toml(&config("\"GRS\", \"RAGRS\""));

    azure_soft_delete(Some(10));
    let (_, f) = posture(&agent).await;
    assert_eq!(
        f["blob_soft_delete"]["status"], "pass",
        "{}",
        f["blob_soft_delete"]
    );
    assert_eq!(f["blob_soft_delete"]["observed"], "enabled, 10 days");
    assert_eq!(f["redundancy"]["status"], "pass", "{}", f["redundancy"]);
    assert!(
        f["redundancy"]["observed"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Standard_"),
        "{}",
        f["redundancy"]
    );
    assert_eq!(f["redundancy"]["controls"][0]["iso_2022"], "8.14");
    assert_eq!(f["container_soft_delete"]["status"], "unknown");
    assert!(f["container_soft_delete"]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("management plane"));
    assert!(f["versioning"]["observed"]
        .as_str()
        .unwrap_or_default()
        .contains("inferred from the listing"));
    assert!(
        f["encryption_at_rest"]["observed"]
            .as_str()
            .unwrap_or_default()
            .contains("disk.vhd"),
        "{}",
        f["encryption_at_rest"]
    );
    assert_eq!(
        f["https_only"]["status"], "fail",
        "the test account URL is plain http"
    );
    assert!(
        f["permissions"]["observed"]
            .as_str()
            .unwrap_or_default()
            .contains("list blobs: allowed"),
        "{}",
        f["permissions"]
    );

    // Soft delete off; a redundancy the account does not have.
    azure_soft_delete(None);
    let strict = Agent::from_toml(&config("\"GZRS\""));
    let (code, f) = posture(&strict).await;
    assert_eq!(code, 1);
    assert_eq!(f["blob_soft_delete"]["status"], "fail");
    assert_eq!(f["blob_soft_delete"]["observed"], "disabled");
    assert_eq!(f["redundancy"]["status"], "fail");

    // A bad policy key for the source kind is a config error.
    let bad = Agent::from_toml(&format!(
        "{}[sources.az.posture]\nmfa_delete = true\n",
        c.source_toml("az")
    ));
    let r = bad.run(&["validate"]).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("sources.az.posture.mfa_delete: applies to s3 sources only"),
        "{}",
        r.stderr
    );
}

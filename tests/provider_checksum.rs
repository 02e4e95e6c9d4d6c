//! `mode = "provider_checksum"`: S3 Batch Operations computes checksums at
//! rest. The objects, manifests and completion reports live on a real S3
//! server (moto); S3 Control's jobs are a documented-responses responder
//! (`restoreproof_testkit::s3_control`), as no local server implements
//! them: each test reads the job the agent created, computes the report
//! from the objects' real bytes on moto (tampering with one where it says)
//! and ends the job.

use crate::util::{Agent, Bucket};
use aws_sdk_s3::types::ChecksumAlgorithm;
use restoreproof_testkit::s3_control::{completion_report, digest, Job, S3Control, Task};
use serde_json::Value;

struct Setup {
    bucket: Bucket,
    ops: String,
    control: S3Control,
    agent: Agent,
    versions: Vec<(String, String)>,
}

/// A versioned bucket with `a.bin` (stored SHA-256), `b.bin` and `c.bin`
/// (MD5 ETags only), a bucket for manifests and reports, the responder,
/// and an agent with the `at-rest` drill (and a `restore` stream drill).
async fn setup(test: &str, max_cost: &str) -> Setup {
    let bucket = Bucket::new(test).await;
    let ops = format!("{}-ops", bucket.name);
    bucket
        .s3
        .create_bucket()
        .bucket(&ops)
        .send()
        .await
        .expect("ops bucket");
    let mut versions = Vec::new();
    for (key, sum) in [
        ("a.bin", Some(ChecksumAlgorithm::Sha256)),
        ("b.bin", None),
        ("c.bin", None),
    ] {
        let v = bucket
            .put(key, &crate::util::data(key.as_bytes()[0], 3000), sum)
            .await;
        versions.push((key.to_owned(), v));
    }
    let control = S3Control::start().await.expect("responder");
    let endpoint = crate::util::endpoint();
    let agent = Agent::from_toml(&format!(
        "[daemon]\nheartbeat_interval = \"1s\"\n\
         [sources.src]\nkind = \"s3\"\nbucket = \"{b}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         [drills.restore]\nsource = \"src\"\nsample = \"100%\"\nscratch_dir = \"scratch\"\n\
         [drills.at-rest]\nsource = \"src\"\nmode = \"provider_checksum\"\nsample = \"100%\"\nschedule = \"0 0 3 1 1 *\"\n\
         [drills.at-rest.provider_checksum]\naccount_id = \"123456789012\"\n\
         role_arn = \"arn:aws:iam::123456789012:role/restoreproof-batch-checksum\"\n\
         manifests = \"s3://{ops}/manifests/\"\nreports = \"s3://{ops}/reports\"\n\
         max_cost = {max_cost}\nendpoint = \"{c}\"\n",
        b = bucket.name,
        c = control.url()
    ));
    Setup {
        bucket,
        ops,
        control,
        agent,
        versions,
    }
}

impl Setup {
    async fn get(&self, bucket: &str, key: &str, version: Option<&str>) -> (Vec<u8>, String) {
        let out = self
            .bucket
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .expect("get");
        let etag = out.e_tag().unwrap_or_default().trim_matches('"').to_owned();
        (out.body.collect().await.expect("body").to_vec(), etag)
    }

    /// The job's manifest rows: (bucket, key, version id).
    async fn manifest(&self, job: &Job) -> Vec<(String, String, Option<String>)> {
        let (b, k) = job.manifest_location();
        let (csv, _) = self.get(&b, &k, None).await;
        String::from_utf8(csv)
            .expect("utf-8")
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    f[0].to_owned(),
                    f[1].to_owned(),
                    Some(f[2].to_owned()).filter(|v| v != "null"),
                )
            })
            .collect()
    }

    /// Computes the job's report from the objects' bytes on moto —
    /// `tamper`'s checksum altered, `fail`'s task failed — writes it where
    /// the job writes it, and ends the job with `status`.
    async fn finish(&self, job: &Job, tamper: Option<&str>, fail: Option<&str>, status: &str) {
        let mut tasks = Vec::new();
        for (b, key, version) in self.manifest(job).await {
            let task = if fail == Some(key.as_str()) {
                Task::Failed {
                    code: "NoSuchVersion".into(),
                    http: 404,
                    message: "The specified version does not exist.".into(),
                }
            } else {
                let (bytes, etag) = self.get(&b, &key, version.as_deref()).await;
                let mut d = digest(&job.algorithm, &bytes);
                if tamper == Some(key.as_str()) {
                    d[0] ^= 0xff;
                }
                Task::Succeeded { digest: d, etag }
            };
            tasks.push((b, key, version, task));
        }
        for (key, body) in completion_report(job, &tasks) {
            self.bucket
                .s3
                .put_object()
                .bucket(job.report_bucket())
                .key(key)
                .body(body.into())
                .send()
                .await
                .expect("put report");
        }
        let failures = if status == "Failed" {
            vec![(
                "TaskFailureRateExceeded".to_owned(),
                "More than half of the job's tasks failed".to_owned(),
            )]
        } else {
            Vec::new()
        };
        self.control.end(&job.id, status, failures);
    }

    fn verdict(&self, key: &str) -> Value {
        self.agent
            .evidence()
            .into_iter()
            .rev()
            .find(|e| e["kind"] == "sample_verdict" && e["recovery_point"]["key"] == key)
            .unwrap_or_else(|| panic!("a verdict for {key}"))
    }
}

/// The jobs carry the manifest and the algorithms each version's strongest
/// reference needs (its stored SHA-256; an MD5 for ETag-only objects; the
/// first-seen baseline once a restore drill recorded one); a report with
/// one wrong checksum gives exactly one `mismatch`, naming the reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_checksum_jobs_are_created_right_and_one_wrong_checksum_is_one_mismatch() {
    let s = setup("pc-jobs", "5.0").await;
    let run = s.agent.run(&["drill", "at-rest", "--json"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    assert_eq!(doc["summary"]["status"], "waiting", "{doc}");
    assert!(
        run.stderr
            .contains("Submitted 2 S3 Batch Operations job(s)"),
        "{}",
        run.stderr
    );
    let jobs = s.control.jobs();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let by = |alg: &str| {
        jobs.iter()
            .find(|j| j.algorithm == alg)
            .cloned()
            .expect(alg)
    };
    let (sha, md5) = (by("SHA256"), by("MD5"));
    for j in [&sha, &md5] {
        assert_eq!(j.checksum_type, "FULL_OBJECT");
        assert_eq!(j.account_id, "123456789012");
        assert_eq!(j.manifest_format, "S3BatchOperations_CSV_20180820");
        assert_eq!(j.manifest_fields, ["Bucket", "Key", "VersionId"]);
        assert_eq!(j.report_scope, "AllTasks");
        assert_eq!(j.report_prefix, "reports");
        assert_eq!(j.report_bucket_arn, format!("arn:aws:s3:::{}", s.ops));
        assert_eq!(
            j.role_arn,
            "arn:aws:iam::123456789012:role/restoreproof-batch-checksum"
        );
        assert_eq!(j.confirmation_required, "false");
        assert!(!j.manifest_etag.is_empty());
    }
    let rows = |j: &Job| {
        let s = &s;
        let j = j.clone();
        async move {
            let mut rows = s.manifest(&j).await;
            rows.sort();
            rows
        }
    };
    let v = |k: &str| {
        s.versions
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        rows(&sha).await,
        [(s.bucket.name.clone(), "a.bin".to_owned(), v("a.bin"))]
    );
    assert_eq!(
        rows(&md5).await,
        [
            (s.bucket.name.clone(), "b.bin".to_owned(), v("b.bin")),
            (s.bucket.name.clone(), "c.bin".to_owned(), v("c.bin"))
        ]
    );
    // Nothing is judged while the jobs run.
    let early = s.agent.run(&["collect", "--json"]).await;
    assert_eq!(early.code, 0, "{}", early.stderr);
    assert_eq!(early.json()["waiting"], 1);
    s.finish(&sha, None, None, "Complete").await;
    s.finish(&md5, Some("c.bin"), None, "Complete").await;
    let collected = s.agent.run(&["collect", "--json"]).await;
    assert_eq!(
        collected.code, 1,
        "{}\n{}",
        collected.stdout, collected.stderr
    );
    let doc = collected.json();
    let summary = &doc["runs"][0];
    assert_eq!(summary["outcome"], "failed", "{doc}");
    assert_eq!(summary["counts"]["verified"], 2, "{doc}");
    assert_eq!(summary["counts"]["mismatch"], 1, "{doc}");
    assert_eq!(
        summary["provider_checksum"]["jobs"][0]["status"],
        "Complete"
    );
    assert_eq!(doc["waiting"], 0);
    let c = s.verdict("c.bin");
    assert_eq!(c["verdict"], "mismatch", "{c}");
    assert!(
        c["reason"].as_str().unwrap_or("").contains("s3.etag"),
        "{c}"
    );
    assert_eq!(c["restore"]["mode"], "provider_checksum");
    assert_eq!(c["restore"]["provider_checksum"]["job_id"], md5.id.as_str());
    let a = s.verdict("a.bin");
    assert_eq!(a["verdict"], "verified", "{a}");
    assert!(
        a["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .any(|ch| ch["name"] == "s3.checksum.sha256" && ch["outcome"] == "match"),
        "{a}"
    );
    // Checked at rest, not restored: no baseline and no restore coverage.
    let ledger = s.agent.ledger();
    let count = |sql: &str| {
        ledger
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .expect(sql)
    };
    assert_eq!(count("SELECT COUNT(*) FROM baselines"), 0);
    assert_eq!(count("SELECT COUNT(*) FROM points"), 0);
    let verify = s.agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    // Without the public key it says what it could not check.
    assert!(
        verify.stdout.contains("signatures NOT checked"),
        "{}",
        verify.stdout
    );
    // Reports and OSCAL keep checks at rest apart from restores.
    let report = s.agent.run(&["report", "--format", "json"]).await;
    let report_doc = report.json();
    let at_rest = report_doc["drills"]
        .as_array()
        .expect("drills")
        .iter()
        .find(|d| d["drill"] == "at-rest")
        .cloned()
        .expect("the at-rest drill");
    assert_eq!(at_rest["checked"], "at_rest", "{at_rest}");
    let oscal = s.agent.run(&["report", "--format", "oscal"]).await;
    assert!(
        oscal.stdout.contains("Checksums at rest of drill at-rest")
            && oscal.stdout.contains("nothing restored"),
        "{}",
        oscal.stdout
    );
    crate::schemas::assert_valid(&[("report", report_doc)]);

    // With first-seen baselines, every version is compared with its SHA-256.
    let restore = s.agent.run(&["drill", "restore", "--json"]).await;
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    let again = s.agent.run(&["drill", "at-rest", "--json"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    let jobs = s.control.jobs();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    assert_eq!(
        (jobs[2].algorithm.as_str(), s.manifest(&jobs[2]).await.len()),
        ("SHA256", 3)
    );
    s.finish(&jobs[2], None, None, "Complete").await;
    let passed = s.agent.run(&["collect"]).await;
    assert_eq!(passed.code, 0, "{}\n{}", passed.stdout, passed.stderr);
    assert!(
        passed
            .stdout
            .contains("3 of 3 recovery point(s) verified at rest"),
        "{}",
        passed.stdout
    );
    let b = s.verdict("b.bin");
    assert!(
        b["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .any(|ch| ch["name"] == "baseline.sha256" && ch["outcome"] == "match"),
        "{b}"
    );

    let docs: Vec<(&str, Value)> = s
        .agent
        .evidence()
        .into_iter()
        .map(|e| ("evidence", e))
        .chain([("collect", doc), ("drill", run.json())])
        .collect();
    crate::schemas::assert_valid(&docs);
}

/// `drill --wait` waits for the jobs; a failed job's task that could not
/// read its version makes that version `unrecoverable`, with the task's
/// error and the job's failure reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_checksum_failed_job_is_unrecoverable_with_its_reason() {
    let s = setup("pc-failed", "5.0").await;
    let child = s
        .agent
        .command(&["drill", "at-rest", "--wait", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn drill --wait");
    let jobs = crate::util::poll(60, || {
        let jobs = s.control.jobs();
        if jobs.len() == 2 {
            Ok(jobs)
        } else {
            Err(format!("{} job(s) created", jobs.len()))
        }
    })
    .await;
    for j in &jobs {
        if j.algorithm == "MD5" {
            s.finish(j, None, Some("b.bin"), "Failed").await;
        } else {
            s.finish(j, None, None, "Complete").await;
        }
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("drill --wait ends")
        .expect("output");
    let run = crate::util::Run::from(out);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let summary = &run.json()["summary"];
    assert_eq!(summary["counts"]["unrecoverable"], 1, "{summary}");
    assert_eq!(summary["counts"]["verified"], 2, "{summary}");
    let b = s.verdict("b.bin");
    assert_eq!(b["verdict"], "unrecoverable", "{b}");
    assert_eq!(b["error_class"], "not_found", "{b}");
    let reason = b["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("NoSuchVersion")
            && reason.contains("ended Failed")
            && reason.contains("More than half"),
        "{reason}"
    );
}

/// A job that runs while the service restarts is collected by the service
/// that comes back: the run waits in the ledger, not in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_checksum_jobs_survive_a_restart_of_the_service() {
    let s = setup("pc-restart", "5.0").await;
    let run = s.agent.run(&["drill", "at-rest"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = || {
        s.agent
            .ledger()
            .query_row("SELECT status FROM runs WHERE drill = 'at-rest'", [], |r| {
                r.get::<_, String>(0)
            })
            .expect("run row")
    };
    let mut service = s.agent.spawn_service();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(status(), "waiting", "the jobs still run");
    crate::daemon::signal(&service, "TERM");
    let exit = tokio::time::timeout(std::time::Duration::from_secs(30), service.wait())
        .await
        .expect("stopped")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
    assert_eq!(status(), "waiting", "a stop leaves the run waiting");
    for j in s.control.jobs() {
        s.finish(&j, None, None, "Complete").await;
    }
    service = s.agent.spawn_service();
    crate::util::wait_for("the service to collect the jobs", 30, || {
        status() == "completed"
    })
    .await;
    crate::daemon::signal(&service, "TERM");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), service.wait()).await;
    let summary = s
        .agent
        .evidence()
        .into_iter()
        .rev()
        .find(|e| e["kind"] == "run_summary" && e["drill"] == "at-rest")
        .expect("run summary");
    assert_eq!(summary["counts"]["verified"], 3, "{summary}");
    assert_eq!(summary["outcome"], "passed", "{summary}");
}

/// A run estimated above `max_cost` is refused before any job exists, and
/// the configuration names what is missing or wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_checksum_refuses_a_run_above_max_cost_and_bad_settings() {
    let s = setup("pc-cost", "0.1").await;
    let plan = s.agent.run(&["drill", "at-rest", "--plan", "--json"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan_doc = plan.json();
    assert_eq!(plan_doc["estimated_cost_usd"]["min"], 0.25, "{plan_doc}");
    assert_eq!(plan_doc["estimated_cost_usd"]["max"], 0.75, "{plan_doc}");
    let text = s.agent.run(&["drill", "at-rest", "--plan"]).await;
    assert!(
        text.stdout
            .contains("estimated S3 Batch Operations cost: $0.25 (one job) to $0.75"),
        "{}",
        text.stdout
    );
    crate::schemas::assert_valid(&[("drill-plan", plan_doc)]);
    let run = s.agent.run(&["drill", "at-rest", "--json"]).await;
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let error = run.json()["summary"]["error"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        error.contains("$0.50 (2 job(s), 3 object(s)") && error.contains("above max_cost $0.10"),
        "{error}"
    );
    assert!(s.control.jobs().is_empty());

    let base = std::path::Path::new("/");
    let problems = |drill: &str| {
        let text = format!(
            "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n[sources.az]\nkind = \"azure_blob\"\naccount = \"acct\"\ncontainer = \"ctr\"\n[drills.d]\n{drill}\n"
        );
        match restoreproof::config::Config::from_toml(&text, base) {
            Err(Ok(p)) => p
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("\n"),
            other => panic!("expected problems, got {other:?}"),
        }
    };
    let p = problems("source = \"s\"\nmode = \"provider_checksum\"");
    assert!(
        p.contains("drills.d.provider_checksum: is required by mode = \"provider_checksum\""),
        "{p}"
    );
    let p = problems("source = \"s\"\nmode = \"provider_checksum\"\n[drills.d.provider_checksum]\naccount_id = \"12\"\nrole_arn = \"r\"\nmanifests = \"bucket/x\"\nreports = \"s3://ops/r/\"");
    assert!(p.contains("account_id: must be a 12-digit"), "{p}");
    assert!(p.contains("role_arn: must be an IAM role ARN"), "{p}");
    assert!(
        p.contains("manifests: `bucket/x` is not an S3 location"),
        "{p}"
    );
    let p = problems("source = \"az\"\nmode = \"provider_checksum\"\n[drills.d.provider_checksum]\naccount_id = \"123456789012\"\nrole_arn = \"arn:aws:iam::123456789012:role/x\"\nmanifests = \"s3://o/m/\"\nreports = \"s3://o/r/\"");
    assert!(
        p.contains("drills.d.mode: `provider_checksum` uses S3 Batch Operations"),
        "{p}"
    );
}

/// The responder's requests and answers are S3 Control's as botocore's
/// model gives them, and the policies grant what the agent and the job
/// role need: S3 Control's job calls, the role passed to Batch Operations
/// only, manifests written and reports read; the role reads the versions
/// and manifests and writes the reports.
#[test]
fn provider_checksum_responder_and_policies_follow_the_service() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/aws");
    let read = |f: &str| std::fs::read_to_string(root.join(f)).expect(f);
    crate::util::assert_python(
        MODEL_CHECK,
        &[
            &read("iam-policy-provider-checksum.json"),
            &read("iam-role-batch-checksum.json"),
            &read("iam-role-batch-checksum-trust.json"),
        ],
    );
}

const MODEL_CHECK: &str = r#"
import json, sys, botocore.session
m = botocore.session.get_session().get_service_model("s3control")
assert m.operation_model("CreateJob").http == {"method": "POST", "requestUri": "/v20180820/jobs"}
assert m.operation_model("DescribeJob").http == {"method": "GET", "requestUri": "/v20180820/jobs/{id}"}
op = m.shape_for("JobOperation").members["S3ComputeObjectChecksum"]
for a in ["SHA256", "MD5", "CRC64NVME", "CRC32", "CRC32C", "SHA1"]:
    assert a in op.members["ChecksumAlgorithm"].enum, a
assert op.members["ChecksumType"].enum == ["FULL_OBJECT", "COMPOSITE"]
create = m.operation_model("CreateJob").input_shape.members
for k in ["Operation", "Manifest", "Report", "Priority", "RoleArn", "ClientRequestToken", "ConfirmationRequired", "Description"]:
    assert k in create, k
assert "ReportScope" in m.shape_for("JobReport").members and "AllTasks" in m.shape_for("JobReportScope").enum
assert "S3BatchOperations_CSV_20180820" in m.shape_for("JobManifestFormat").enum
job = m.shape_for("JobDescriptor").members
for k in ["JobId", "Status", "FailureReasons", "ProgressSummary", "Operation", "RoleArn"]:
    assert k in job, k
for s in ["Active", "Complete", "Failed", "Cancelled"]:
    assert s in m.shape_for("JobStatus").enum, s
agent, role, trust = (json.loads(a) for a in sys.argv[1:4])
def actions(p):
    out = set()
    for st in p["Statement"]:
        a = st["Action"]
        out |= set(a if isinstance(a, list) else [a])
    return out
assert {"s3:CreateJob", "s3:DescribeJob", "iam:PassRole", "s3:PutObject"} <= actions(agent), actions(agent)
assert not any(a.endswith("*") for a in actions(agent) | actions(role)), "no wildcard actions"
passrole = [st for st in agent["Statement"] if st["Action"] == "iam:PassRole"][0]
assert passrole["Condition"]["StringEquals"]["iam:PassedToService"] == "batchoperations.s3.amazonaws.com"
assert actions(role) == {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "kms:Decrypt"}, actions(role)
assert trust["Statement"][0]["Principal"]["Service"] == "batchoperations.s3.amazonaws.com"
print("ok")
"#;

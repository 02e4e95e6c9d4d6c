//! Canaries against moto: written and deleted under their prefix only,
//! restored from behind their delete markers at each configured age, and a
//! retention shorter than the policy claims found with its age.
//!
//! Time: moto applies lifecycle rules only when time is driven, so the test
//! injects the canaries' ages instead — it moves the ledger's record of when
//! each canary was written into the past, and removes the versions that a
//! lifecycle rule expiring noncurrent versions after 6 days would have
//! removed by then (DeleteObject with the version id, which is what such a
//! rule does).

use crate::util::{data, read_jsonl, Agent, Bucket};
use serde_json::Value;
use std::time::Duration;

const CANARY: &str = "[canaries.retention]\nsource = \"src\"\nretention = \"30d\"\nages = [\"1d\", \"7d\", \"30d\"]\n";

async fn listed_keys(b: &Bucket) -> Vec<String> {
    let out =
        b.s3.list_object_versions()
            .bucket(&b.name)
            .send()
            .await
            .expect("list");
    out.versions()
        .iter()
        .filter_map(|v| v.key())
        .chain(out.delete_markers().iter().filter_map(|m| m.key()))
        .map(str::to_owned)
        .collect()
}

fn canary_checks(run: &crate::util::Run) -> Vec<Value> {
    run.json()["summary"]["canaries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_prove_retention_and_a_shorter_one_fails_with_its_age() {
    let b = Bucket::new("canaries").await;
    for k in 0..6u8 {
        b.put(&format!("db/dump-{k}.sql"), &data(k, 2000), None)
            .await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, &format!("sample = 100\n{CANARY}"));
    // Three canaries, each written and deleted, every step recorded.
    let mut written = Vec::new();
    for _ in 0..3 {
        let run = agent.run(&["canary", "retention", "--json"]).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let w: Value = serde_json::from_str(&run.stdout).expect("json");
        assert_eq!(w["schema"], "restoreproof.canary/v1");
        assert!(
            w["key"]
                .as_str()
                .unwrap_or_default()
                .starts_with("restoreproof-canary/canary-"),
            "{w}"
        );
        written.push(w);
    }
    let steps: Vec<(String, String)> = read_jsonl(&agent.path("log/evidence.jsonl"))
        .into_iter()
        .filter(|e| e["kind"] == "restore_mutation")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["phase"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps.len(),
        12,
        "intent and done for each write and delete: {steps:?}"
    );
    assert_eq!(
        steps[..4],
        [
            ("canary_write".to_owned(), "intent".to_owned()),
            ("canary_write".to_owned(), "done".to_owned()),
            ("canary_delete".to_owned(), "intent".to_owned()),
            ("canary_delete".to_owned(), "done".to_owned()),
        ]
    );
    // No write landed outside the canary prefix (the server's own list).
    for key in listed_keys(&b).await {
        assert!(
            key.starts_with("db/") || key.starts_with("restoreproof-canary/"),
            "{key}"
        );
    }
    // The canaries were written 2 days, 8 days and 30 days and 2 hours ago.
    let ledger = agent.ledger();
    for (w, hours) in written.iter().zip([48, 8 * 24, 30 * 24 + 2]) {
        ledger
            .execute(
                "UPDATE canaries SET written_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1) WHERE key = ?2",
                rusqlite::params![format!("-{hours} hours"), w["key"].as_str()],
            )
            .expect("age a canary");
    }
    // Retention intact: each age restores its canary from behind its delete
    // marker, and the drill never samples the canary prefix.
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let checks = canary_checks(&run);
    let outcomes: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| {
            (
                c["target"].as_str().unwrap_or(""),
                c["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("1d", "restored"), ("7d", "restored"), ("30d", "restored")],
        "{checks:#?}"
    );
    assert_eq!(
        run.json()["summary"]["sampled"],
        6,
        "only the backups are sampled"
    );
    assert!(run.verdicts().iter().all(|(k, _)| k.starts_with("db/")));

    // A lifecycle rule expiring noncurrent versions after 6 days removes the
    // 8-day and the 30-day canaries.
    for w in &written[1..] {
        b.s3.delete_object()
            .bucket(&b.name)
            .key(w["key"].as_str().unwrap_or_default())
            .version_id(w["version_id"].as_str().unwrap_or_default())
            .send()
            .await
            .expect("expire");
    }
    let run = agent.drill(&[]).await;
    let checks = canary_checks(&run);
    assert_eq!(checks[0]["outcome"], "restored", "{checks:#?}");
    assert_eq!(checks[1]["outcome"], "gone");
    let detail = checks[1]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("written 8d ago")
            && detail.contains("kept less than 8d; the policy claims 30d"),
        "{detail}"
    );
    assert_eq!(checks[2]["outcome"], "gone");
    assert_findings_reported(&agent, &run).await;
    // The metrics say it, for the retention alert.
    let metrics = agent.run(&["status", "--prometheus"]).await;
    assert!(
        metrics
            .stdout
            .lines()
            .any(|l| l.starts_with("restoreproof_canary_last_check_ok{") && l.ends_with(" 0")),
        "{}",
        metrics.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_writes_canaries_on_their_schedule() {
    let b = Bucket::new("canary-daemon").await;
    b.put("db/a.sql", &data(1, 100), None).await;
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        &format!("schedule = \"0 0 1 1 *\"\n{CANARY}schedule = \"*/2 * * * * *\"\n[daemon]\nheartbeat_interval = \"1s\"\n"),
    );
    let mut child = agent.spawn_service();
    let count = || -> i64 {
        if !agent.path("state/ledger.sqlite3").exists() {
            return 0;
        }
        agent
            .ledger()
            .query_row(
                "SELECT COUNT(*) FROM canaries WHERE deleted_at IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0)
    };
    crate::util::wait_for("two canaries written and deleted", 30, || count() >= 2).await;
    crate::daemon::signal(&child, "TERM");
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    for key in listed_keys(&b).await {
        assert!(
            key == "db/a.sql" || key.starts_with("restoreproof-canary/"),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_responses_an_azure_canary_is_restored_from_soft_delete() {
    use restoreproof_testkit::azure_docs::{AzureDocs, DocBlob};
    // Azurite implements neither soft delete nor undelete: the documented
    // responses of Put Blob, Snapshot Blob, Delete Blob, Undelete Blob and
    // Get Blob stand in, for a container without versioning.
    let docs = AzureDocs::start(vec![DocBlob::new("db/a.bak", &data(1, 500))])
        .await
        .expect("responder");
    let agent = Agent::from_toml(&format!(
        "{}[drills.d]\nsource = \"docs\"\nsample = 100\n[canaries.c]\nsource = \"docs\"\nretention = \"7d\"\nages = [\"1d\", \"7d\"]\n",
        crate::azure::docs_source(&docs, "")
    ));
    let run = agent.run(&["canary", "c", "--json"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let w: Value = serde_json::from_str(&run.stdout).expect("json");
    let key = w["key"].as_str().unwrap_or_default().to_owned();
    assert!(w["snapshot"].is_string() && w["version_id"] == "", "{w}");
    // Written under the prefix, snapshot taken, both soft-deleted.
    let entries: Vec<DocBlob> = docs.blobs().into_iter().filter(|b| b.name == key).collect();
    assert_eq!(entries.len(), 2, "the blob and its snapshot");
    assert!(entries.iter().all(|b| b.deleted));
    agent
        .ledger()
        .execute(
            "UPDATE canaries SET written_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-50 hours')",
            [],
        )
        .expect("age the canary");
    // The drill undeletes its own canary (no allow_undelete needed), reads
    // the snapshot and deletes it again, each step recorded.
    let drill = agent.drill(&[]).await;
    assert_eq!(drill.code, 0, "{}\n{}", drill.stdout, drill.stderr);
    let checks = canary_checks(&drill);
    assert_eq!(checks[0]["outcome"], "restored", "{checks:#?}");
    assert_eq!(checks[1]["outcome"], "pending");
    assert!(
        docs.blobs()
            .iter()
            .filter(|b| b.name == key)
            .all(|b| b.deleted),
        "deleted again"
    );
    let steps: Vec<String> = agent
        .evidence()
        .into_iter()
        .filter(|e| e["kind"] == "restore_mutation")
        .map(|e| {
            format!(
                "{}:{}",
                e["action"].as_str().unwrap_or(""),
                e["phase"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        steps.ends_with(&[
            "canary_undelete:intent".to_owned(),
            "canary_undelete:done".to_owned(),
            "canary_redelete:intent".to_owned(),
            "canary_redelete:done".to_owned(),
        ]),
        "{steps:?}"
    );
    // No write touched anything but the canary.
    assert!(
        docs.requests()
            .iter()
            .filter(|r| r.starts_with("PUT") || r.starts_with("DELETE"))
            .all(|r| r.contains("/docs/restoreproof-canary%2F")
                || r.contains("/docs/restoreproof-canary/")),
        "{:#?}",
        docs.requests()
    );
    // Soft delete's retention ended early: the canary is gone.
    docs.expire(&key);
    let drill = agent.drill(&[]).await;
    let checks = canary_checks(&drill);
    assert_eq!(checks[0]["outcome"], "gone", "{checks:#?}");
    assert!(checks[0]["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("the policy claims 7d"));
}

/// Canary keys whose current version is live (not behind a delete marker).
pub async fn live_canaries(b: &Bucket) -> Vec<String> {
    let out =
        b.s3.list_object_versions()
            .bucket(&b.name)
            .prefix("restoreproof-canary/")
            .send()
            .await
            .expect("list");
    out.versions()
        .iter()
        .filter(|v| v.is_latest() == Some(true))
        .filter_map(|v| v.key().map(str::to_owned))
        .collect()
}

/// `restoreproof canary` killed (SIGKILL) once after the store took the
/// write and before the agent heard it, and once while its delete was on
/// the way: each leaves a live canary, one never confirmed, one written
/// but never deleted. The next canary run finds what the run before left
/// and finishes it — deleted, every step recorded, the unconfirmed one
/// never used for a retention check — and no canary of the agent stays
/// live. Before, such canaries stayed live with only an intent recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_a_killed_run_left_live_are_finished_by_the_next_run() {
    use restoreproof_testkit::{Fault, Rule};
    let b = Bucket::new("canary-kill").await;
    let agent = Agent::new(&b.proxy.url(), &b.name, &format!("sample = 100\n{CANARY}"));
    let stall = std::time::Duration::from_secs(60);
    // Runs `canary retention` with `fault` on the first `method` request
    // under the canary prefix, and kills it while that request hangs.
    let killed_during = |method: &'static str, fault: Fault| {
        let b = &b;
        let agent = &agent;
        async move {
            b.proxy.clear();
            let hits = b.proxy.hits().len();
            b.proxy.add(
                Rule::any("restoreproof-canary/", fault)
                    .method(method)
                    .times(1),
            );
            let mut child = agent
                .command(&["canary", "retention"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            crate::util::wait_for(&format!("the {method} in flight"), 30, || {
                b.proxy.hits().len() > hits
            })
            .await;
            // A stalled answer: the store has taken the request.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            child.start_kill().expect("SIGKILL");
            let _ = child.wait().await;
            b.proxy.clear();
        }
    };
    let steps = |agent: &Agent| -> Vec<(String, String, String)> {
        agent
            .evidence()
            .iter()
            .filter(|e| e["kind"] == "restore_mutation")
            .map(|e| {
                (
                    e["recovery_point"]["key"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    e["action"].as_str().unwrap_or_default().to_owned(),
                    e["phase"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let step = |agent: &Agent, key: &str, action: &str, phase: &str| {
        steps(agent)
            .iter()
            .any(|(k, a, p)| k == key && a == action && p == phase)
    };

    // Killed after the store took the write, before the agent heard it.
    killed_during("PUT", Fault::StallAnswer(stall)).await;
    let unconfirmed = live_canaries(&b).await;
    assert_eq!(unconfirmed.len(), 1, "{unconfirmed:?}");
    let unconfirmed = &unconfirmed[0];
    assert!(!step(&agent, unconfirmed, "canary_write", "done"));
    let run = agent.run(&["canary", "retention"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        live_canaries(&b).await.is_empty(),
        "the unconfirmed canary deleted"
    );
    assert!(
        step(&agent, unconfirmed, "canary_write", "recovered"),
        "{:?}",
        steps(&agent)
    );
    assert!(
        step(&agent, unconfirmed, "canary_delete", "done"),
        "{:?}",
        steps(&agent)
    );

    // Killed while the delete was on its way: written, never deleted.
    killed_during("DELETE", Fault::Stall(stall)).await;
    let undeleted = live_canaries(&b).await;
    assert_eq!(undeleted.len(), 1, "{undeleted:?}");
    let undeleted = &undeleted[0];
    assert!(step(&agent, undeleted, "canary_write", "done"));
    assert!(!step(&agent, undeleted, "canary_delete", "done"));
    let run = agent.run(&["canary", "retention"]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(live_canaries(&b).await.is_empty(), "every canary deleted");
    assert!(
        step(&agent, undeleted, "canary_delete", "done"),
        "{:?}",
        steps(&agent)
    );
    let open: i64 = agent
        .ledger()
        .query_row(
            "SELECT COUNT(*) FROM canaries WHERE deleted_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(open, 0, "every canary row says when it was deleted");
    // The unconfirmed canary is not in the ledger's canaries, so no
    // retention check ever restores it.
    let known: i64 = agent
        .ledger()
        .query_row(
            "SELECT COUNT(*) FROM canaries WHERE key = ?1",
            [unconfirmed.as_str()],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(known, 0);
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

/// Each canary result is a finding an auditor and the SIEM see, in the
/// report and as OCSF, and every record matches its schema.
async fn assert_findings_reported(agent: &Agent, run: &crate::util::Run) {
    // Each result is a finding an auditor and the SIEM see.
    let findings: Vec<Value> = agent
        .evidence()
        .into_iter()
        .filter(|e| e["kind"] == "posture_finding" && e["check"] == "canary.retention")
        .collect();
    assert_eq!(findings.len(), 6);
    assert_eq!(findings.iter().filter(|f| f["status"] == "fail").count(), 2);
    crate::util::assert_ocsf_conforms(&findings);
    let report = agent.run(&["report"]).await;
    assert!(
        report.stdout.contains("canary.retention"),
        "{}",
        report.stdout
    );
    let docs: Vec<(&str, Value)> = agent
        .evidence()
        .into_iter()
        .map(|e| ("evidence", e))
        .chain([("drill", run.json())])
        .collect();
    crate::schemas::assert_valid(&docs);
}

//! Protection of each sampled recovery point: Object Lock on every version
//! (moto, an Object Lock bucket) and Azure version-level immutability
//! (documented Get Blob Properties responses, as Azurite implements none),
//! judged against `[sources.NAME.protection]`.
//!
//! moto answers GET/HEAD with the `x-amz-object-lock-*` headers but does not
//! implement GetObjectRetention; where a test needs its answer the fault
//! proxy gives the one S3 documents (404 `NoSuchObjectLockConfiguration` for
//! a version without retention, 403 `AccessDenied` for an identity without
//! `s3:GetObjectRetention`), and says so.

use crate::util::{data, Agent, Bucket, Run};
use restoreproof_testkit::{Fault, Rule};
use serde_json::Value;

fn protection_of(run: &Run, key: &str) -> Value {
    run.json()["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .find(|s| s["recovery_point"]["key"] == key)
        .unwrap_or_else(|| panic!("no sample of {key}: {}", run.stdout))["protection"]
        .clone()
}

fn run_json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

const POLICY: &str = "[sources.src.protection]\nmode = \"compliance\"\nmin_retention = \"30d\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_on_each_version_is_judged_against_the_policy() {
    let b = Bucket::new_locked("protection").await;
    b.put_locked(
        "compliance-40d",
        &data(1, 500),
        Some(("COMPLIANCE", 40)),
        false,
    )
    .await;
    b.put_locked(
        "compliance-10d",
        &data(2, 500),
        Some(("COMPLIANCE", 10)),
        false,
    )
    .await;
    b.put_locked(
        "governance-40d",
        &data(3, 500),
        Some(("GOVERNANCE", 40)),
        false,
    )
    .await;
    b.put_locked("held", &data(4, 500), Some(("COMPLIANCE", 60)), true)
        .await;
    b.put("no-retention", &data(5, 500), None).await;
    // moto lacks GetObjectRetention: S3's documented answer for a version
    // without retention, from the proxy.
    b.proxy.add(Rule::any(
        "?retention",
        Fault::Status(404, "NoSuchObjectLockConfiguration"),
    ));
    let agent = Agent::new(&b.proxy.url(), &b.name, &format!("sample = 100\n{POLICY}"));
    let run = agent.drill(&[]).await;
    // Protection is not a byte verdict: every version restores intact.
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.verdicts().iter().all(|(_, v)| v == "verified"),
        "{:?}",
        run.verdicts()
    );

    let ok = protection_of(&run, "compliance-40d");
    assert_eq!(ok["meets_policy"], true, "{ok}");
    assert_eq!(ok["mode"], "COMPLIANCE");
    assert_eq!(ok["retention_days_left"], 40);
    assert_eq!(ok["visibility"], "stated");
    let short = protection_of(&run, "compliance-10d");
    assert_eq!(short["meets_policy"], false);
    assert!(
        short["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("10 day(s) of retention left; the policy requires 30d"),
        "{short}"
    );
    let gov = protection_of(&run, "governance-40d");
    assert_eq!(gov["meets_policy"], false);
    assert!(
        gov["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("GOVERNANCE can be lifted"),
        "{gov}"
    );
    let held = protection_of(&run, "held");
    assert_eq!(
        (held["legal_hold"].clone(), held["meets_policy"].clone()),
        (Value::Bool(true), Value::Bool(true)),
        "{held}"
    );
    let none = protection_of(&run, "no-retention");
    assert_eq!(
        (none["visibility"].as_str(), none["meets_policy"].as_bool()),
        (Some("none"), Some(false)),
        "{none}"
    );
    assert!(
        none["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no retention"),
        "{none}"
    );
    // At no extra request but one: lock state came with each GET, and one
    // GetObjectRetention per run told what a version without headers means.
    assert_eq!(b.proxy.count("GetObjectRetention"), 1);
    assert_eq!(b.proxy.count("HeadObject"), 0);
    // The evidence records it, and the report lists what does not meet it.
    let ev: Vec<Value> = agent
        .evidence()
        .into_iter()
        .filter(|e| e["kind"] == "sample_verdict")
        .collect();
    assert!(ev
        .iter()
        .any(|e| e["recovery_point"]["key"] == "held" && e["protection"]["legal_hold"] == true));
    // Every shape matches the published schemas.
    let mut docs: Vec<(&str, Value)> = vec![("drill", run.json())];
    let json_report = agent.run(&["report", "--format", "json"]).await;
    docs.push(("report", run_json(&json_report.stdout)));
    docs.extend(agent.evidence().into_iter().map(|e| ("evidence", e)));
    crate::schemas::assert_valid(&docs);
    let report = agent.run(&["report"]).await;
    assert!(report.stdout.contains("Protection"), "{}", report.stdout);
    assert!(
        report
            .stdout
            .contains("2 of 5 sampled recovery points meet the protection policy"),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("compliance-10d"),
        "{}",
        report.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_state_the_identity_may_not_read_is_said_as_such_never_unprotected() {
    let b = Bucket::new_locked("protection-denied").await;
    b.put_locked("locked", &data(1, 500), Some(("COMPLIANCE", 40)), false)
        .await;
    b.put("plain", &data(2, 500), None).await;
    // Without s3:GetObjectRetention S3 sends no lock headers and refuses
    // GetObjectRetention: the proxy does both.
    b.proxy.strip_object_lock(true);
    b.proxy
        .add(Rule::any("?retention", Fault::Status(403, "AccessDenied")));
    let agent = Agent::new(&b.proxy.url(), &b.name, &format!("sample = 100\n{POLICY}"));
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for key in ["locked", "plain"] {
        let p = protection_of(&run, key);
        assert_eq!(p["visibility"], "not_readable", "{p}");
        assert!(p["meets_policy"].is_null(), "{p}");
        let reason = p["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("not readable") && reason.contains("s3:GetObjectRetention"),
            "{p}"
        );
        assert!(!reason.contains("no retention"), "{p}");
    }
    assert_eq!(b.proxy.count("GetObjectRetention"), 1, "asked once per run");
    let report = agent.run(&["report"]).await;
    assert!(
        report.stdout.contains("2 could not be read"),
        "{}",
        report.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_responses_azure_version_immutability_is_judged() {
    use restoreproof_testkit::azure_docs::{AzureDocs, DocBlob};
    let until = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days) + chrono::Duration::hours(1))
            .to_rfc2822()
            .replace("+0000", "GMT")
    };
    let mut locked = DocBlob::new("locked.bak", &data(1, 800));
    locked.version_id = Some("2026-11-28T10:00:00.0000000Z".into());
    locked.immutability = Some(("locked", until(45)));
    let mut unlocked = DocBlob::new("unlocked.bak", &data(2, 800));
    unlocked.version_id = Some("2026-11-28T11:00:00.0000000Z".into());
    unlocked.immutability = Some(("unlocked", until(45)));
    unlocked.legal_hold = Some(true);
    let mut bare = DocBlob::new("bare.bak", &data(3, 800));
    bare.version_id = Some("2026-11-28T12:00:00.0000000Z".into());
    let docs = AzureDocs::start(vec![locked, unlocked, bare])
        .await
        .expect("responder");
    let agent = Agent::from_toml(&format!(
        "{}[sources.docs.protection]\nmode = \"compliance\"\nmin_retention = \"30d\"\n[drills.d]\nsource = \"docs\"\nsample = 100\n",
        crate::azure::docs_source(&docs, "")
    ));
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let l = protection_of(&run, "locked.bak");
    assert_eq!(
        (l["mode"].as_str(), l["meets_policy"].as_bool()),
        (Some("locked"), Some(true)),
        "{l}"
    );
    assert_eq!(l["retention_days_left"], 45);
    let u = protection_of(&run, "unlocked.bak");
    assert_eq!(
        (u["legal_hold"].as_bool(), u["meets_policy"].as_bool()),
        (Some(true), Some(false)),
        "{u}"
    );
    let n = protection_of(&run, "bare.bak");
    assert_eq!(
        (n["visibility"].as_str(), n["meets_policy"].as_bool()),
        (Some("none"), Some(false)),
        "{n}"
    );
}

//! Checkpoints anchored in write-once storage (moto, a bucket with Object
//! Lock): every signed checkpoint is written there in COMPLIANCE mode, and
//! `evidence verify --anchor` catches a local history that was cut and
//! chained anew — which every local check accepts.

use crate::util::{data, endpoint, Agent, Bucket};
use serde_json::Value;

fn anchor_toml(bucket: &str) -> String {
    format!(
        "[sources.worm]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n[evidence.anchor]\nsource = \"worm\"\nretention = \"400d\"\n",
        endpoint()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchored_checkpoints_catch_a_rewritten_local_history() {
    let data_bucket = Bucket::new("anchored-data").await;
    for i in 0..3u8 {
        data_bucket
            .put(&format!("k{i}"), &data(i, 2000), None)
            .await;
    }
    let worm = Bucket::new_locked("anchor").await;
    let agent = Agent::new(
        &data_bucket.proxy.url(),
        &data_bucket.name,
        &format!("sample = 3\n{}", anchor_toml(&worm.name)),
    );
    let vkey = agent
        .run(&["evidence", "keygen"])
        .await
        .stdout
        .trim()
        .to_owned();
    assert_eq!(agent.drill(&[]).await.code, 0);
    assert_eq!(agent.drill(&[]).await.code, 0);

    // Each run's signed checkpoint is in the bucket, locked in COMPLIANCE
    // mode for the retention.
    let listed = worm
        .s3
        .list_objects_v2()
        .bucket(&worm.name)
        .send()
        .await
        .expect("list");
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert!(keys.len() >= 2, "{keys:?}");
    assert!(
        keys.iter().all(
            |k| k.starts_with("restoreproof-checkpoints/restoreproof.evidence/")
                && k.ends_with(".note")
        ),
        "{keys:?}"
    );
    let head = worm
        .s3
        .head_object()
        .bucket(&worm.name)
        .key(&keys[0])
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    let until = head
        .object_lock_retain_until_date()
        .map(|t| t.secs())
        .unwrap_or(0);
    assert!(
        until > chrono::Utc::now().timestamp() + 399 * 86_400,
        "locked for the retention"
    );

    let verify = |extra: &'static [&'static str]| {
        let agent = &agent;
        let key = format!("--public-key={vkey}");
        async move {
            let mut args = vec!["evidence", "verify", "--anchor", "--json", key.as_str()];
            args.extend_from_slice(extra);
            agent.run(&args).await
        }
    };
    let ok = verify(&[]).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    let j: Value = serde_json::from_str(&ok.stdout).expect("json");
    assert_eq!(j["intact"], true);
    assert!(j["anchored_checkpoints"].as_u64().unwrap_or(0) >= 2, "{j}");

    cut_history_and_chain_on(&agent, &vkey).await;
    // …but not against the checkpoints the host could not change.
    let caught = verify(&[]).await;
    assert_eq!(caught.code, 1, "{}\n{}", caught.stdout, caught.stderr);
    let j: Value = serde_json::from_str(&caught.stdout).expect("json");
    let kinds: Vec<String> = j["checked"]
        .as_array()
        .expect("checked")
        .iter()
        .flat_map(|c| {
            c["report"]["findings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|f| f["kind"].as_str().map(str::to_owned))
        .collect();
    assert!(kinds.iter().any(|k| k == "rewritten"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anchor_without_object_lock_is_a_finding() {
    let data_bucket = Bucket::new("anchor-unlocked-data").await;
    data_bucket.put("k", &data(1, 100), None).await;
    let plain = Bucket::new("anchor-unlocked").await;
    let agent = Agent::new(
        &data_bucket.proxy.url(),
        &data_bucket.name,
        &format!(
            "sample = 1\nschedule = \"0 0 1 1 *\"\n{}[daemon]\nheartbeat_interval = \"1s\"\n",
            anchor_toml(&plain.name)
        ),
    );
    let mut child = agent.spawn_service();
    let finding = || {
        agent
            .evidence()
            .into_iter()
            .find(|e| e["kind"] == "posture_finding" && e["check"] == "anchor.object_lock")
    };
    crate::util::wait_for("the anchor's check", 30, || finding().is_some()).await;
    crate::daemon::signal(&child, "TERM");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait()).await;
    let f = finding().unwrap_or_default();
    assert_eq!(f["status"], "fail", "{f}");
    assert!(
        f["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Object Lock enabled"),
        "{f}"
    );
}

/// Root on the host cuts the history after event 2 (ledger and evidence
/// file) and lets the agent chain new events on: every local check passes.
async fn cut_history_and_chain_on(agent: &Agent, vkey: &str) {
    // Root on the host cuts the history after event 2 (ledger and evidence
    // file) and lets the agent chain new events on: every local check
    // passes…
    let ledger = agent.ledger();
    ledger
        .execute("DELETE FROM events WHERE seq > 2", [])
        .expect("cut the ledger");
    ledger
        .execute("UPDATE sink_cursors SET last_seq = 2", [])
        .expect("cursors");
    drop(ledger);
    let file = agent.path("log/evidence.jsonl");
    let kept: Vec<String> = std::fs::read_to_string(&file)
        .expect("evidence")
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, kept.concat()).expect("cut the file");
    assert_eq!(agent.drill(&["--no-ship"]).await.code, 0);
    let local = agent
        .run(&["evidence", "verify", &format!("--public-key={vkey}")])
        .await;
    assert_eq!(
        local.code, 0,
        "locally the new chain is intact: {}",
        local.stdout
    );
}

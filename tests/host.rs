//! Problems of the agent's own host are never verdicts about the backup: a
//! scratch disk too small or unusable stops the run (`error`, exit 2) with
//! what to fix, and no recovery point is called `unrecoverable` for it.
//! Restored bytes on scratch are private, and scratch left by a killed run
//! is removed by the next one.

use crate::util::{data, wait_for, Agent, Bucket};

fn run_status(agent: &Agent) -> Vec<String> {
    let l = agent.ledger();
    let mut stmt = l
        .prepare("SELECT status FROM runs ORDER BY started_at")
        .expect("query");
    stmt.query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

fn sample_rows(agent: &Agent) -> i64 {
    agent
        .ledger()
        .query_row("SELECT COUNT(*) FROM samples", [], |r| r.get(0))
        .expect("count")
}

/// A scratch disk smaller than the restores in flight: the run does not
/// start restoring, says how much is free and needed, exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scratch_disk_too_small_stops_the_run_before_restoring() {
    let b = Bucket::new("small-scratch").await;
    for i in 0..3u8 {
        b.put(&format!("obj-{i}"), &data(i, 400_000), None).await;
    }
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "mode = \"local\"\nconcurrency = 4\nsample = 10",
    );
    // A 1 MiB tmpfs as scratch, in a private mount namespace of the drill's
    // own (unshare), so nothing stays mounted.
    let scratch = agent.path("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let exe = env!("CARGO_BIN_EXE_restoreproof");
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs '{}' && exec '{exe}' --config '{}' drill d --json",
        scratch.display(),
        agent.config.display()
    );
    let run = tokio::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("unshare (util-linux) runs the drill in its own mount namespace");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("scratch_dir")
            && stderr.contains("free")
            && stderr.contains("lower concurrency"),
        "{stderr}"
    );
    assert_eq!(
        sample_rows(&agent),
        0,
        "no verdict about any recovery point"
    );
    assert_eq!(run_status(&agent), ["error"]);
    let summary = agent
        .evidence()
        .into_iter()
        .find(|e| e["kind"] == "run_summary")
        .expect("summary");
    assert_eq!(summary["counts"]["unrecoverable"], 0);
    assert_eq!(summary["not_started"], 3);
}

/// A scratch directory the agent cannot create (here: under a regular
/// file) fails restores for the host's sake: recorded `aborted` with the
/// `host` class, the run stops as `error`, exit 2, success rate untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_scratch_dir_is_the_hosts_fault_not_the_backups() {
    let b = Bucket::new("bad-scratch").await;
    for i in 0..5u8 {
        b.put(&format!("obj-{i}"), &data(i, 10_000), None).await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    std::fs::write(agent.path("not-a-dir"), "x").expect("file");
    let text = std::fs::read_to_string(&agent.config).expect("config");
    std::fs::write(
        &agent.config,
        text.replace(
            "scratch_dir = \"scratch\"",
            "scratch_dir = \"not-a-dir/scratch\"\nmode = \"local\"\nconcurrency = 1\nsample = 5",
        ),
    )
    .expect("config");
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not the backup"), "{}", run.stderr);
    assert!(run.stderr.contains("scratch_dir"), "{}", run.stderr);
    assert_eq!(run.json()["error_class"], "host");
    let ev = agent.evidence();
    let verdicts: Vec<&serde_json::Value> = ev
        .iter()
        .filter(|e| e["kind"] == "sample_verdict")
        .collect();
    assert_eq!(
        verdicts.len(),
        1,
        "the run stopped after the first host error"
    );
    assert_eq!(verdicts[0]["verdict"], "aborted");
    assert_eq!(verdicts[0]["error_class"], "host");
    let summary = ev
        .iter()
        .find(|e| e["kind"] == "run_summary")
        .expect("summary");
    assert_eq!(summary["status"], "error");
    assert_eq!(summary["counts"]["unrecoverable"], 0);
    assert_eq!(summary["not_started"], 4);
}

/// The run directory of a run that is over (here: killed, so its files
/// stayed) is removed when the next drill starts; one of a run the ledger
/// does not know is left alone. (That restored bytes are written 0600 in a
/// 0700 directory is a unit test of `drill`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_dead_run_left_on_scratch_is_removed_by_the_next_drill() {
    let b = Bucket::new("dead-scratch").await;
    b.put("big.bin", &data(1, 100_000), None).await;
    // The first drill hangs in its restore until it is killed.
    b.proxy.add(restoreproof_testkit::Rule::get(
        "big.bin",
        restoreproof_testkit::Fault::Stall(std::time::Duration::from_secs(60)),
    ));
    let agent = Agent::new(&b.proxy.url(), &b.name, "mode = \"local\"\nsample = 1");
    let scratch = agent.path("scratch");
    let mut child = agent
        .command(&["drill", "d", "--quiet"])
        .spawn()
        .expect("spawn");
    wait_for("the drill to start", 30, || {
        run_status_opt(&agent).as_deref() == Some("running")
    })
    .await;
    // A run directory as a run killed mid-restore leaves it.
    let run_id: String = agent
        .ledger()
        .query_row("SELECT run_id FROM runs", [], |r| r.get(0))
        .expect("run id");
    let leftover = scratch.join(&run_id);
    std::fs::create_dir_all(&leftover).expect("dir");
    std::fs::write(leftover.join("0.restore"), b"restored bytes").expect("file");
    let unknown = scratch.join(uuid::Uuid::now_v7().to_string());
    std::fs::create_dir_all(&unknown).expect("dir");
    child.start_kill().expect("kill");
    child.wait().await.expect("wait");

    b.proxy.clear();
    let next = agent.drill(&[]).await;
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(!leftover.exists(), "the dead run's scratch is gone");
    assert!(
        unknown.exists(),
        "a directory the ledger does not know stays"
    );
    assert_eq!(run_status(&agent), ["aborted", "completed"]);
}

fn run_status_opt(agent: &Agent) -> Option<String> {
    if !agent.path("state/ledger.sqlite3").exists() {
        return None;
    }
    agent
        .ledger()
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .ok()
}

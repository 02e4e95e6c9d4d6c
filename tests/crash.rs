//! A drill killed with SIGKILL keeps every verdict it completed, and the
//! next run finds the ledger and evidence file consistent.

use crate::util::{data, read_jsonl, Agent, Bucket};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_drill_keeps_every_completed_verdict() {
    let b = Bucket::new("crash").await;
    for i in 0..40u8 {
        b.put(&format!("obj-{i:02}"), &data(i, 400_000), None).await;
    }
    // Each restore takes at least 50 ms, so the drill is still running
    // when a few group commits have reached the evidence file.
    b.proxy.add(restoreproof_testkit::Rule::get(
        "obj-",
        restoreproof_testkit::Fault::Stall(Duration::from_millis(50)),
    ));
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 40\nconcurrency = 1");
    let evidence = agent.path("log/evidence.jsonl");
    let mut child = agent
        .command(&["drill", "d", "--quiet"])
        .spawn()
        .expect("spawn");

    // Wait for a few verdicts, then kill -9 mid-drill.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = read_jsonl(&evidence).len();
        if n >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no verdicts after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().expect("kill");
    let status = child.wait().await.expect("wait");
    assert!(!status.success());

    let ledger = agent.ledger();
    let recorded: i64 = ledger
        .query_row("SELECT COUNT(*) FROM samples", [], |r| r.get(0))
        .expect("count");
    assert!(
        (3..40).contains(&recorded),
        "killed mid-drill: {recorded} verdicts"
    );
    let status: String = ledger
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .expect("run");
    assert_eq!(status, "running", "the killed run has no summary yet");
    // `status` sees the process is gone: the run is over, aborted, exit 1,
    // without waiting for another drill to record it.
    let st = agent.run(&["status", "--json"]).await;
    assert_eq!(st.code, 1, "{}{}", st.stdout, st.stderr);
    let j: serde_json::Value = serde_json::from_str(&st.stdout).expect("status json");
    assert_eq!(j["drills"][0]["last_run"]["status"], "aborted", "{j}");
    assert_eq!(j["drills"][0]["running"], false, "{j}");
    // Every event the ledger committed is in the file, or is written there by
    // the next run; none is in the file twice.
    drop(ledger);

    let next = agent.drill(&["--sample", "1"]).await;
    assert_eq!(next.code, 0, "{}", next.stderr);
    let lines = read_jsonl(&evidence);
    let seqs: Vec<u64> = lines
        .iter()
        .map(|e| e["seq"].as_u64().unwrap_or(0))
        .collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "every event exactly once, in order");
    let verdicts = lines
        .iter()
        .filter(|e| e["kind"] == "sample_verdict")
        .count() as i64;
    assert_eq!(verdicts, recorded + 1);

    // The next run noticed the dead one and recorded it as aborted.
    let aborted: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|e| e["kind"] == "run_aborted")
        .collect();
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert_eq!(aborted[0]["verdicts_recorded"].as_i64(), Some(recorded));
    let statuses: Vec<String> = {
        let l = agent.ledger();
        let mut stmt = l
            .prepare("SELECT status FROM runs ORDER BY started_at")
            .expect("prepare");
        let rows = stmt.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    };
    assert_eq!(statuses, ["aborted", "completed"]);
}

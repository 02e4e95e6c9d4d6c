//! A drill killed with SIGKILL keeps every verdict it completed, and the
//! next run finds the ledger and evidence file consistent.

use crate::util::{data, read_jsonl, wait_for, Agent, Bucket};
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
    wait_for("three events in the evidence file", 60, || {
        read_jsonl(&evidence).len() >= 3
    })
    .await;
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
    crate::util::assert_ocsf_conforms(&lines);
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

/// kill -9 at 30 random moments spread over a drill's life (start-up, listing,
/// restores, group commits, the end), then one more drill: the ledger
/// passes `PRAGMA integrity_check`, the evidence chain verifies, every run
/// is completed or aborted, and no scratch file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_kills_leave_an_intact_ledger_chain_and_no_scratch() {
    let b = Bucket::new("kill-loop").await;
    for i in 0..20u8 {
        b.put(&format!("obj-{i:02}"), &data(i, 60_000), None).await;
    }
    // Each restore takes a little while, so kills land mid-restore too.
    b.proxy.add(restoreproof_testkit::Rule::get(
        "obj-",
        restoreproof_testkit::Fault::Stall(Duration::from_millis(40)),
    ));
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 20\nmode = \"local\"\nconcurrency = 2",
    );
    // The moments range from before the ledger exists to after the last
    // verdict.
    kill_30_times(
        &agent,
        &["drill", "d", "--quiet", "--no-ship"],
        700,
        0x6b696c6c,
        60,
    )
    .await;

    let last = agent.drill(&["--no-ship"]).await;
    assert_eq!(last.code, 0, "{}", last.stderr);
    let statuses = sound_ledger_run_statuses(&agent);
    assert!(
        statuses.iter().filter(|s| *s == "aborted").count() >= 10,
        "{statuses:?}"
    );
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let left: Vec<_> = std::fs::read_dir(agent.path("scratch"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

/// kill -9 of `restoreproof canary` at 30 random moments (requests under
/// the canary prefix answer slowly, so kills land between every step),
/// then of `evidence attest` at 30 more: the ledger passes
/// `PRAGMA integrity_check`, the chain verifies, no canary of the agent is
/// left live and every canary row says when it was deleted (the next
/// canary run finishes what the killed ones left), and the attestations
/// file is whole or absent, never half written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_kills_of_canary_and_of_attest_leave_nothing_half_done() {
    let b = Bucket::new("kill-canary").await;
    b.put("db/dump.sql", &data(1, 1000), None).await;
    b.proxy.add(restoreproof_testkit::Rule::any(
        "restoreproof-canary/",
        restoreproof_testkit::Fault::StallAnswer(Duration::from_millis(40)),
    ));
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 1\n[canaries.c]\nsource = \"src\"\nretention = \"30d\"\nages = [\"1d\"]\n",
    );
    kill_30_times(&agent, &["canary", "c"], 400, 0x63616e61, 120).await;
    let last = agent.run(&["canary", "c"]).await;
    assert_eq!(last.code, 0, "{}", last.stderr);
    let drill = agent.drill(&["--no-ship"]).await;
    assert_eq!(drill.code, 0, "{}", drill.stderr);
    let live = crate::canaries::live_canaries(&b).await.len();
    assert_eq!(live, 0, "no canary of the agent is live");
    {
        let ledger = agent.ledger();
        let check: String = ledger
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check");
        assert_eq!(check, "ok");
        let open: i64 = ledger
            .query_row(
                "SELECT COUNT(*) FROM canaries WHERE deleted_at IS NULL",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(open, 0);
    }
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    // Attestations: one full run's time bounds the kill moments.
    let out = agent.path("attestations.jsonl");
    let attest: Vec<String> = ["evidence", "attest", "--since", "1d", "-o"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(std::iter::once(out.display().to_string()))
        .collect();
    let started = std::time::Instant::now();
    let argv: Vec<&str> = attest.iter().map(String::as_str).collect();
    let full = agent.run(&argv).await;
    assert_eq!(full.code, 0, "{}", full.stderr);
    let took = (started.elapsed().as_millis() as u64).max(2);
    let whole = std::fs::read_to_string(&out).expect("attestations");
    std::fs::remove_file(&out).expect("remove");
    kill_30_times(&agent, &argv, took, 0x61747465, 120).await;
    if let Ok(text) = std::fs::read_to_string(&out) {
        assert_eq!(text, whole, "the attestations file is whole");
    }
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
}

/// kill -9 of the service (`restoreproof run`: a drill every second whose
/// restores take a while, a canary every 2 s) at 30 random moments, then
/// one more drill and canary: the ledger passes `PRAGMA integrity_check`,
/// the chain verifies, every run is completed or aborted, no scratch is
/// left and no canary of the agent is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_kills_of_the_service_leave_an_intact_ledger_and_no_canary_live() {
    let b = Bucket::new("kill-service").await;
    for i in 0..6u8 {
        b.put(&format!("obj-{i}"), &data(i, 20_000), None).await;
    }
    b.proxy.add(restoreproof_testkit::Rule::get(
        "obj-",
        restoreproof_testkit::Fault::Stall(Duration::from_millis(30)),
    ));
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 6\nmode = \"local\"\nschedule = \"* * * * * *\"\n[canaries.c]\nsource = \"src\"\nretention = \"30d\"\nages = [\"1d\"]\nschedule = \"*/2 * * * * *\"\n[daemon]\nheartbeat_interval = \"1s\"\n",
    );
    kill_30_times(&agent, &["run"], 2500, 0x73657276, 60).await;
    let canary = agent.run(&["canary", "c"]).await;
    assert_eq!(canary.code, 0, "{}", canary.stderr);
    let last = agent.drill(&["--no-ship"]).await;
    assert_eq!(last.code, 0, "{}", last.stderr);
    let statuses = sound_ledger_run_statuses(&agent);
    assert!(statuses.len() > 1, "{statuses:?}");
    {
        let ledger = agent.ledger();
        let open: i64 = ledger
            .query_row(
                "SELECT COUNT(*) FROM canaries WHERE deleted_at IS NULL",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(open, 0);
    }
    assert!(
        crate::canaries::live_canaries(&b).await.is_empty(),
        "no canary live"
    );
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let left: Vec<_> = std::fs::read_dir(agent.path("scratch"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

/// Runs `restoreproof ARGS` and kills it (SIGKILL) at a random moment in
/// `0..range_ms`, until 30 kills landed while it was still running (at most
/// `max_tries` starts); seeded, so a failure can be replayed.
async fn kill_30_times(agent: &Agent, args: &[&str], range_ms: u64, seed: u64, max_tries: u32) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut alive, mut tries) = (0, 0);
    while alive < 30 && tries < max_tries {
        tries += 1;
        let mut child = agent
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..range_ms))).await;
        if child.try_wait().expect("poll").is_none() {
            alive += 1;
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    assert_eq!(alive, 30, "30 kills of a running {args:?} in {tries} tries");
}

/// Asserts that the ledger passes `PRAGMA integrity_check` and every run in
/// it is completed or aborted; returns the runs' statuses.
fn sound_ledger_run_statuses(agent: &Agent) -> Vec<String> {
    let ledger = agent.ledger();
    let check: String = ledger
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    let statuses: Vec<String> = ledger
        .prepare("SELECT status FROM runs")
        .expect("query")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert!(
        statuses.iter().all(|s| s == "completed" || s == "aborted"),
        "{statuses:?}"
    );
    statuses
}

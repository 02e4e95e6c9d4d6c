//! A drill run as shards (`drill --shard I/N --shard-dir DIR --run-id ID`),
//! each recording into its own ledger and evidence file, then merged into
//! one run (`restoreproof merge`): the merge verifies every shard's chain
//! and signed checkpoint, records every verdict and one summary over all
//! shards, and refuses a missing or tampered shard by name.

use crate::util::{data, Agent, Bucket};
use restoreproof_testkit::{Fault, Rule};

async fn shard(agent: &Agent, dir: &str, run: &str, spec: &str) -> crate::util::Run {
    agent
        .run(&[
            "drill",
            "d",
            "--json",
            "--shard",
            spec,
            "--shard-dir",
            dir,
            "--run-id",
            run,
        ])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_merge_into_one_verified_run_and_a_missing_or_tampered_shard_is_named() {
    let b = Bucket::new("shards-merge").await;
    for i in 0..12u8 {
        b.put(&format!("k{i:02}"), &data(i, 3000), None).await;
    }
    b.proxy.add(Rule::get("/k05", Fault::FlipByte(100)));
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = \"100%\"\nseed = 7");
    let dir = agent.path("shards");
    let dir = dir.to_str().expect("utf-8");

    // Three shards, then the merge.
    let mut sampled = 0;
    for i in 0..3 {
        let out = shard(&agent, dir, "r1", &format!("{i}/3")).await;
        assert!(out.code <= 1, "shard {i}: {}\n{}", out.stdout, out.stderr);
        sampled += out.json()["summary"]["sampled"].as_u64().unwrap_or(0);
    }
    assert_eq!(sampled, 12, "the shards together sample everything");
    assert!(
        agent.evidence().is_empty(),
        "shards record apart from the main evidence"
    );
    let m = agent
        .run(&["merge", "d", "--shard-dir", dir, "--run-id", "r1", "--json"])
        .await;
    assert_eq!(
        m.code, 1,
        "one mismatch fails the merged run: {}\n{}",
        m.stdout, m.stderr
    );
    let j = m.json();
    let s = &j["summary"];
    assert_eq!(s["trigger"], "shards", "{s}");
    assert_eq!(s["sampled"], 12, "{s}");
    assert_eq!(s["counts"]["verified"], 11, "{s}");
    assert_eq!(s["counts"]["mismatch"], 1, "{s}");
    assert_eq!(s["outcome"], "failed", "{s}");
    assert_eq!(s["shards"]["count"], 3, "{s}");
    for sh in s["shards"]["shards"].as_array().expect("shards") {
        assert_eq!(sh["status"], "merged", "{sh}");
    }
    // The main evidence holds every verdict, each naming its shard, and
    // the merged summary; its chain verifies.
    let ev = agent.evidence();
    let verdicts: Vec<&serde_json::Value> = ev
        .iter()
        .filter(|e| e["kind"] == "sample_verdict")
        .collect();
    assert_eq!(verdicts.len(), 12);
    assert!(verdicts
        .iter()
        .all(|v| v["shard"]["run"] == "r1" && v["run_id"] == s["run_id"]));
    // Each is a new record that names the shard's own record of it.
    let shard_ids: std::collections::BTreeSet<String> = (0..3)
        .flat_map(|i| {
            crate::util::read_jsonl(
                &agent.path(&format!("shards/r1/shard-{i}-of-3/evidence.jsonl")),
            )
        })
        .filter(|e| e["kind"] == "sample_verdict")
        .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
        .collect();
    for v in &verdicts {
        let theirs = v["shard"]["event_id"].as_str().unwrap_or_default();
        assert!(shard_ids.contains(theirs), "{v}");
        assert_ne!(v["event_id"], v["shard"]["event_id"]);
    }
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    let status = agent.run(&["status", "--json"]).await;
    let st: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    assert_eq!(st["drills"][0]["last_run"]["run_id"], s["run_id"], "{st}");
    // Merging again records nothing more.
    let again = agent
        .run(&["merge", "d", "--shard-dir", dir, "--run-id", "r1"])
        .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("already merged"), "{}", again.stdout);
    assert_eq!(agent.evidence().len(), ev.len());

    // A shard that has not run: --if-complete waits, a plain merge names it.
    for i in [0, 2] {
        shard(&agent, dir, "r2", &format!("{i}/3")).await;
    }
    let wait = agent
        .run(&[
            "merge",
            "d",
            "--shard-dir",
            dir,
            "--run-id",
            "r2",
            "--if-complete",
        ])
        .await;
    assert_eq!(wait.code, 0, "{}", wait.stderr);
    assert!(wait.stdout.contains("shards 1/3"), "{}", wait.stdout);
    let missing = agent
        .run(&["merge", "d", "--shard-dir", dir, "--run-id", "r2", "--json"])
        .await;
    assert_eq!(missing.code, 2, "{}\n{}", missing.stdout, missing.stderr);
    let ms = &missing.json()["summary"];
    assert_eq!(ms["outcome"], "error", "{ms}");
    assert!(
        ms["error"]
            .as_str()
            .unwrap_or_default()
            .contains("shard 1/3: no output"),
        "{ms}"
    );

    // A shard whose evidence was edited after it ran.
    for i in 0..3 {
        shard(&agent, dir, "r3", &format!("{i}/3")).await;
    }
    let f = agent.path("shards/r3/shard-1-of-3/evidence.jsonl");
    let text = std::fs::read_to_string(&f).expect("shard evidence");
    std::fs::write(
        &f,
        text.replacen("\"mismatch\"", "\"verified\"", 1).replacen(
            "\"verdict\":\"verified\"",
            "\"verdict\":\"mismatch\"",
            1,
        ),
    )
    .expect("edit");
    let tampered = agent
        .run(&["merge", "d", "--shard-dir", dir, "--run-id", "r3", "--json"])
        .await;
    assert_eq!(tampered.code, 2, "{}\n{}", tampered.stdout, tampered.stderr);
    let ts = &tampered.json()["summary"];
    let why = ts["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("shard 1/3: its evidence chain does not verify"),
        "{ts}"
    );
    let tampered_shard = &ts["shards"]["shards"][1];
    assert_eq!(tampered_shard["status"], "tampered", "{ts}");

    // With --merge, the last shard to finish merges.
    let before = agent.evidence().len();
    for i in 0..3 {
        let out = agent
            .run(&[
                "drill",
                "d",
                "--json",
                "--shard",
                &format!("{i}/3"),
                "--shard-dir",
                dir,
                "--run-id",
                "r4",
                "--merge",
            ])
            .await;
        let merged = out.stderr.contains("merged run");
        assert_eq!(merged, i == 2, "shard {i}: {}", out.stderr);
    }
    let merged_runs = agent.evidence()[before..]
        .iter()
        .filter(|e| e["kind"] == "run_summary" && e["trigger"] == "shards")
        .count();
    assert_eq!(merged_runs, 1);

    let docs: Vec<(&str, serde_json::Value)> = agent
        .evidence()
        .into_iter()
        .map(|e| ("evidence", e))
        .chain([("merge", j), ("merge", tampered.json())])
        .collect();
    crate::schemas::assert_valid(&docs);
}

//! Sampling through the real listing: seeds, budgets, percentages, delete
//! markers and filters.

use crate::util::{data, Agent, Bucket, Run};
use std::collections::BTreeSet;

fn sampled(run: &Run) -> BTreeSet<(String, String)> {
    run.json()["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            (
                s["recovery_point"]["key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                s["recovery_point"]["version_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_and_listing_give_the_same_sample() {
    let b = Bucket::new("seeded").await;
    for i in 0..30u8 {
        b.put(&format!("obj-{i:02}"), &data(i, 100), None).await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 5\nconcurrency = 3");
    let a = agent.drill(&["--seed", "42"]).await;
    let again = agent.drill(&["--seed", "42"]).await;
    let other = agent.drill(&["--seed", "43"]).await;
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(sampled(&a).len(), 5);
    assert_eq!(sampled(&a), sampled(&again));
    assert_ne!(sampled(&a), sampled(&other));
    assert_eq!(a.json()["summary"]["seed"], 42);

    // Without a seed, a fresh one is drawn and recorded, so the sample can be
    // reproduced afterwards.
    let unseeded = agent.drill(&[]).await;
    let seed = unseeded.json()["summary"]["seed"]
        .as_u64()
        .expect("seed recorded");
    let replay = agent.drill(&["--seed", &seed.to_string()]).await;
    assert_eq!(sampled(&unseeded), sampled(&replay));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_budgets_and_percentages_bound_the_sample() {
    let b = Bucket::new("budget").await;
    for i in 0..20u8 {
        b.put(&format!("obj-{i:02}"), &data(i, 1000), None).await;
    }
    b.put("big", &data(99, 10_000), None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "");

    let run = agent.drill(&["--sample", "3500B"]).await;
    let s = &run.json()["summary"];
    assert_eq!(s["sampled"], 3, "{s}");
    assert!(s["sampled_bytes"].as_u64().unwrap_or(u64::MAX) <= 3500);
    assert_eq!(s["population"]["larger_than_budget"], 1);
    assert_eq!(s["population"]["candidates"], 21);
    assert_eq!(s["population"]["candidate_bytes"], 30_000);
    assert_eq!(s["sample_size"], "3500B");

    let run = agent.drill(&["--sample", "10%"]).await;
    assert_eq!(
        run.json()["summary"]["sampled"],
        3,
        "10% of 21 rounds up to 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_markers_are_counted_and_the_versions_behind_them_restored() {
    let b = Bucket::new("markers").await;
    b.put("gone.txt", b"first", None).await;
    b.put("gone.txt", b"second", None).await;
    b.delete("gone.txt").await;
    b.put("live.txt", b"live", None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 100");
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let j = run.json();
    assert_eq!(j["summary"]["population"]["delete_markers"], 1);
    assert_eq!(j["summary"]["population"]["versions_listed"], 3);
    assert_eq!(j["summary"]["sampled"], 3);
    for s in j["samples"].as_array().expect("samples") {
        let rp = &s["recovery_point"];
        assert_eq!(s["verdict"], "verified", "{s}");
        let behind = rp["key"] == "gone.txt";
        assert_eq!(rp["behind_delete_marker"], behind, "{rp}");
        assert_eq!(rp["is_latest"], rp["key"] == "live.txt");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_strategies_choose_what_is_sampled() {
    let b = Bucket::new("filters").await;
    b.put("doc", b"v1", None).await;
    b.put("doc", b"v2 longer", None).await;
    let v3 = b.put("doc", b"v3 the longest", None).await;
    // Listings have one-second resolution: the last write must land in a
    // later second than doc's newest version, as the server stamps them.
    let stamped =
        b.s3.head_object()
            .bucket(&b.name)
            .key("doc")
            .version_id(&v3)
            .send()
            .await
            .expect("head")
            .last_modified()
            .map(|t| t.secs())
            .expect("last modified");
    crate::util::wait_for("the next second", 5, || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            > stamped
    })
    .await;
    b.put("tiny", b"x", None).await;

    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 100\n[drills.d.filter]\ninclude_current = false\nmin_size = 2",
    );
    let run = agent.drill(&[]).await;
    let s = &run.json()["summary"]["population"];
    assert_eq!(
        (s["candidates"].as_u64(), s["filtered_out"].as_u64()),
        (Some(2), Some(2)),
        "{s}"
    );
    for sample in run.json()["samples"].as_array().expect("samples") {
        assert_eq!(sample["recovery_point"]["is_latest"], false);
    }

    let newest = Agent::new(&b.proxy.url(), &b.name, "sample = 1\nstrategy = \"newest\"");
    let run = newest.drill(&[]).await;
    let s = run.json()["samples"][0]["recovery_point"].clone();
    assert_eq!(s["key"], "tiny", "the last write is the newest: {s}");
    assert!(run.json()["summary"].get("seed").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_that_restores_nothing_fails() {
    let b = Bucket::new("empty").await;
    b.put("only", b"x", None).await;
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "[drills.d.filter]\nmin_size = \"1MiB\"",
    );
    let run = agent.run(&["drill", "d"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("error: nothing was restored: 0 candidate(s) after filters"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("RESULT: FAILED — nothing was restored"),
        "{}",
        run.stdout
    );
    // Counted nouns: one recovery point, no delete marker, zero candidates.
    assert!(
        run.stdout.contains("Sampled 0 of 0 candidates")
            && run
                .stdout
                .contains("1 recovery point listed, 0 delete markers (not restorable)"),
        "{}",
        run.stdout
    );

    // One meaning of "failed" everywhere: the ledger's run summary, status
    // (exit 1), the metrics, and each record format.
    let status = agent.run(&["status", "--json"]).await;
    assert_eq!(status.code, 1, "{}{}", status.stdout, status.stderr);
    let s: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
    assert_eq!(s["drills"][0]["last_outcome"], "failed", "{s}");
    assert_eq!(s["drills"][0]["history"]["runs"]["failed"], 1, "{s}");
    let metrics = agent.run(&["status", "--prometheus"]).await;
    // The metrics carry the failure; printing them succeeded.
    assert_eq!(metrics.code, 0, "{}", metrics.stderr);
    for line in [
        "restoreproof_drill_last_run_success{drill=\"d\"} 0",
        "restoreproof_drill_runs_total{drill=\"d\",outcome=\"failed\"} 1",
        "restoreproof_drill_runs_total{drill=\"d\",outcome=\"passed\"} 0",
    ] {
        assert!(
            metrics.stdout.contains(line),
            "{line} in {}",
            metrics.stdout
        );
    }
    let summary = agent
        .evidence()
        .into_iter()
        .find(|e| e["kind"] == "run_summary")
        .expect("a run summary");
    assert_eq!(summary["outcome"], "failed");
    crate::util::assert_ocsf_conforms(&agent.evidence());
    assert!(summary["reason"]
        .as_str()
        .is_some_and(|r| r.starts_with("nothing was restored")));
    let ocsf = restoreproof::sink::format::render(
        restoreproof::sink::config::Format::Ocsf,
        &restoreproof::evidence::record::Record::read(summary.clone()),
    );
    assert_eq!(ocsf["status"], "Failure", "{ocsf}");
    let ecs = restoreproof::sink::format::render(
        restoreproof::sink::config::Format::Ecs,
        &restoreproof::evidence::record::Record::read(summary.clone()),
    );
    assert_eq!(ecs["event"]["outcome"], "failure", "{ecs}");
    let cef = restoreproof::sink::format::render_line(
        restoreproof::sink::config::Format::Cef,
        &restoreproof::evidence::record::Record::read(summary.clone()),
    );
    assert!(cef.contains("|run_summary:failed|"), "{cef}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_shows_the_sample_a_run_with_its_seed_restores_and_records_nothing() {
    let b = Bucket::new("plan").await;
    for i in 0..6u8 {
        b.put(&format!("k{i}"), &data(i, 10_000), None).await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 3");
    let plan = agent.run(&["drill", "d", "--plan", "--json"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let p: serde_json::Value = serde_json::from_str(&plan.stdout).expect("json");
    assert_eq!(p["schema"], "restoreproof.drill-plan/v1");
    assert_eq!(p["plan"]["population"]["candidates"], 6, "{p}");
    assert_eq!(p["plan"]["sampled"], 3);
    assert_eq!(p["plan"]["sampled_bytes"], 30_000);
    // No run yet: no throughput to estimate from.
    assert!(p["estimated_secs"].is_null(), "{p}");
    let seed = p["plan"]["seed"].as_u64().expect("a seed");
    let mut planned: Vec<String> = p["plan"]["sample"]
        .as_array()
        .expect("sample")
        .iter()
        .map(|c| c["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    planned.sort();
    // Nothing was restored or recorded.
    assert!(!agent.path("state/ledger.sqlite3").exists());
    assert!(!agent.path("log/evidence.jsonl").exists());

    let seed_arg = seed.to_string();
    let run = agent.drill(&["--seed", &seed_arg]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let restored: Vec<String> = run.verdicts().into_iter().map(|(k, _)| k).collect();
    assert_eq!(restored, planned, "the plan's sample is the run's");

    // With a finished run, the plan estimates the time; the table can
    // leave out what verified.
    let plan = agent
        .run(&["drill", "d", "--plan", "--seed", &seed_arg])
        .await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("estimated restore time: "),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("unknown until"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(&format!("--seed {seed}")),
        "{}",
        plan.stdout
    );
    let only = agent.run(&["drill", "d", "--only-failures"]).await;
    assert_eq!(only.code, 0, "{}", only.stderr);
    // No table row (the totals line says `verified 3 · ...`).
    assert!(!only.stdout.contains("\nverified  "), "{}", only.stdout);
    assert!(
        only.stdout
            .contains("… and 3 verified, not shown (--only-failures"),
        "{}",
        only.stdout
    );
}

/// `drill --shard I/N`: for several N and seeds the shards' samples are
/// disjoint and together exactly the unsharded sample with the same seed;
/// the index may come from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed
/// Job) or `AWS_BATCH_JOB_ARRAY_INDEX`; without a fixed seed, or with a bad
/// spec, the drill refuses with the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_same_sample_disjointly_and_completely() {
    let b = Bucket::new("shards").await;
    for i in 0..30u8 {
        b.put(&format!("k{i:02}"), &data(i, 200), None).await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 12");
    let sample_of = |out: &Run| -> BTreeSet<String> {
        let j = out.json();
        j["plan"]["sample"]
            .as_array()
            .expect("sample")
            .iter()
            .map(|s| {
                format!(
                    "{}@{}",
                    s["key"].as_str().unwrap_or_default(),
                    s["version_id"]
                )
            })
            .collect()
    };
    for seed in ["7", "4242"] {
        let all = agent
            .run(&["drill", "d", "--plan", "--json", "--seed", seed])
            .await;
        assert_eq!(all.code, 0, "{}", all.stderr);
        let whole = sample_of(&all);
        assert_eq!(whole.len(), 12);
        for n in [2u32, 3, 5] {
            let mut union = BTreeSet::new();
            let mut total = 0;
            for i in 0..n {
                let spec = format!("{i}/{n}");
                let out = agent
                    .run(&[
                        "drill", "d", "--plan", "--json", "--seed", seed, "--shard", &spec,
                    ])
                    .await;
                assert_eq!(out.code, 0, "{spec}: {}", out.stderr);
                assert_eq!(out.json()["plan"]["shard"]["count"], n);
                let part = sample_of(&out);
                total += part.len();
                union.extend(part);
            }
            assert_eq!(total, union.len(), "seed {seed}, {n} shards: disjoint");
            assert_eq!(union, whole, "seed {seed}, {n} shards: the whole sample");
        }
    }
    // The index from the job's environment.
    let by_env = agent
        .command(&[
            "drill", "d", "--plan", "--json", "--seed", "7", "--shard", "3",
        ])
        .env("JOB_COMPLETION_INDEX", "1")
        .output()
        .await
        .expect("run");
    let by_flag = agent
        .run(&[
            "drill", "d", "--plan", "--json", "--seed", "7", "--shard", "1/3",
        ])
        .await;
    let env_json: serde_json::Value = serde_json::from_slice(&by_env.stdout).expect("json");
    assert_eq!(env_json["plan"]["sample"], by_flag.json()["plan"]["sample"]);
    // Refusals name the fix.
    for (args, says) in [
        (
            vec!["drill", "d", "--plan", "--shard", "0/3"],
            "--shard needs a fixed seed",
        ),
        (
            vec!["drill", "d", "--plan", "--seed", "7", "--shard", "3/3"],
            "from 0 to 2",
        ),
        (
            vec!["drill", "d", "--plan", "--seed", "7", "--shard", "3"],
            "JOB_COMPLETION_INDEX",
        ),
    ] {
        let out = agent
            .command(&args)
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
            .output()
            .await
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// `list_concurrency = 4` fans the listing out over the key prefixes below
/// the source's prefix: the population, and so the seeded sample, are the
/// same as one listing's, delete markers and versions hidden behind them
/// included; the plan and the run say the population came from a parallel
/// listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_listing_gives_the_same_population_and_sample_as_one_listing() {
    let b = Bucket::new("parallel-listing").await;
    for (i, key) in [
        "top-1.bin",
        "a/1",
        "a/2",
        "a/deep/3",
        "b/1",
        "b.txt",
        "c/1",
        "c/2",
        "d/1",
        "z-last",
    ]
    .into_iter()
    .enumerate()
    {
        let i = u8::try_from(i).unwrap_or(0);
        b.put(key, &data(i, 300), None).await;
        b.put(key, &data(i + 50, 310), None).await;
    }
    b.delete("c/1").await;
    b.delete("top-1.bin").await;
    let one = Agent::new(&b.proxy.url(), &b.name, "sample = 9\nseed = 5");
    let fanned = Agent::from_toml(&format!(
        "[sources.src]\nkind = \"s3\"\nbucket = \"{}\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\nlist_concurrency = 4\n\
         [drills.d]\nsource = \"src\"\nscratch_dir = \"scratch\"\nsample = 9\nseed = 5\n",
        b.name,
        b.proxy.url()
    ));
    let (a, f) = (plan_of(&one).await, plan_of(&fanned).await);
    assert_eq!(a["plan"]["population"], f["plan"]["population"]);
    assert_eq!(f["plan"]["population"]["versions_listed"], 20);
    assert_eq!(f["plan"]["population"]["delete_markers"], 2);
    assert_eq!(
        a["plan"]["sample"], f["plan"]["sample"],
        "the same seeded sample"
    );
    assert_eq!(a["plan"]["population_from"], "listing");
    assert_eq!(f["plan"]["population_from"], "parallel_listing");
    let run = fanned.drill(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["summary"]["population_from"], "parallel_listing");
    assert_eq!(run.verdicts().len(), 9);
    // Out of bounds is refused with the range.
    let bad = Agent::from_toml(&format!(
        "[sources.src]\nkind = \"s3\"\nbucket = \"{}\"\nlist_concurrency = 0\n",
        b.name
    ));
    let v = bad.run(&["validate"]).await;
    assert_eq!(v.code, 2, "{}", v.stdout);
    assert!(
        v.stdout.contains("list_concurrency") || v.stderr.contains("list_concurrency"),
        "{}{}",
        v.stdout,
        v.stderr
    );
}

async fn plan_of(agent: &Agent) -> serde_json::Value {
    let out = agent.run(&["drill", "d", "--plan", "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()
}

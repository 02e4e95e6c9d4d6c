//! Rotating coverage through the real listing and ledger (moto), and the
//! staleness gate as `restoreproof gate` judges it.
//!
//! Time: a run's coverage period is days, so between runs the test moves
//! the ledger's clock instead of waiting — it shifts every recorded verdict
//! time in `points` one day into the past ("each run is a day later"),
//! which is what the drill ranks recovery points by.

use crate::util::{data, Agent, Bucket, Run};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

type Point = (String, String);

fn sampled(run: &Run) -> Vec<(Point, String, String)> {
    run.json()["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| {
            let rp = &s["recovery_point"];
            (
                (
                    rp["key"].as_str().unwrap_or_default().to_owned(),
                    rp["version_id"].as_str().unwrap_or_default().to_owned(),
                ),
                s["verdict"].as_str().unwrap_or_default().to_owned(),
                s["pick"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Moves every verdict time the ledger keeps per recovery point `days`
/// into the past.
fn age_ledger(agent: &Agent, days: u32) {
    let shift = format!("-{days} days");
    agent
        .ledger()
        .execute(
            "UPDATE points SET
               last_checked_at = strftime('%Y-%m-%dT%H:%M:%fZ', last_checked_at, ?1),
               last_verified_at = strftime('%Y-%m-%dT%H:%M:%fZ', last_verified_at, ?1)",
            [&shift],
        )
        .expect("age the ledger");
}

/// 200 versions: 50 keys with 4 versions each, 100 bytes apiece.
async fn two_hundred_versions(test: &str) -> (Bucket, BTreeSet<Point>) {
    let b = Bucket::new(test).await;
    let mut all = BTreeSet::new();
    for v in 0..4u8 {
        for k in 0..50u8 {
            let key = format!("db/part-{k:02}.sql");
            let id = b
                .put(&key, &data(k.wrapping_mul(7).wrapping_add(v), 100), None)
                .await;
            all.insert((key, id));
        }
    }
    (b, all)
}

async fn every_version_once_in_ten_runs_then_the_oldest_again(test: &str, sample: &str) {
    let (b, all) = two_hundred_versions(test).await;
    assert_eq!(all.len(), 200);
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        &format!("sample = {sample}\ncoverage = \"10d\"\nconcurrency = 4"),
    );
    let mut runs: Vec<BTreeSet<Point>> = Vec::new();
    let mut seen: BTreeMap<Point, u32> = BTreeMap::new();
    for k in 1..=10u64 {
        let run = agent.drill(&[]).await;
        assert_eq!(run.code, 0, "run {k}: {}\n{}", run.stdout, run.stderr);
        let picks = sampled(&run);
        assert_eq!(picks.len(), 20, "run {k}: {picks:?}");
        for (point, verdict, pick) in &picks {
            assert_eq!(verdict, "verified", "run {k}: {point:?}");
            assert!(
                pick.starts_with("coverage"),
                "run {k}: {point:?} was a {pick} pick while unverified ones remained"
            );
            *seen.entry(point.clone()).or_default() += 1;
        }
        let c = &run.json()["summary"]["coverage"];
        assert_eq!(c["population"], 200, "{c}");
        assert_eq!(c["verified_within_period"], 20 * k, "run {k}: {c}");
        assert_eq!(c["runs_to_full"], 10 - k, "run {k}: {c}");
        assert_eq!(c["departed"], 0);
        runs.push(picks.into_iter().map(|(p, ..)| p).collect());
        age_ledger(&agent, 1);
    }
    // Every version verified exactly once, none repeated.
    assert_eq!(seen.len(), 200, "{} of 200 verified", seen.len());
    assert!(
        seen.values().all(|n| *n == 1),
        "repeated: {:?}",
        seen.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), all);

    // Run 1's verdicts are now older than the period: the 11th run starts
    // over with exactly them.
    let eleventh = agent.drill(&[]).await;
    assert_eq!(eleventh.code, 0, "{}", eleventh.stderr);
    let again: BTreeSet<Point> = sampled(&eleventh).into_iter().map(|(p, ..)| p).collect();
    assert_eq!(
        again, runs[0],
        "the 11th run takes the versions verified longest ago"
    );
    let c = &eleventh.json()["summary"]["coverage"];
    assert_eq!(
        (c["verified_within_period"].as_u64(), c["percent"].as_f64()),
        (Some(200), Some(100.0)),
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_budget_verifies_every_version_once_per_period() {
    every_version_once_in_ten_runs_then_the_oldest_again("coverage-count", "20").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_budget_verifies_every_version_once_per_period() {
    // 20 versions of 100 bytes fit in 2000 bytes.
    every_version_once_in_ten_runs_then_the_oldest_again("coverage-bytes", "\"2000B\"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_version_is_retried_first_and_expired_versions_leave_the_count() {
    let b = Bucket::new("coverage-corrupt").await;
    let mut ids = Vec::new();
    for k in 0..59u8 {
        let key = format!("k{k:02}");
        ids.push((key.clone(), b.put(&key, &data(k, 100), None).await));
    }
    let bad = (
        "bad".to_owned(),
        b.put_with_wrong_sha256("bad", &data(99, 100)).await,
    );
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 10\ncoverage = \"30d\"\nconcurrency = 4",
    );
    // Run until the corrupted version is found.
    let mut found_in = None;
    for k in 1..=6 {
        let run = agent.drill(&[]).await;
        let picks = sampled(&run);
        if picks.iter().any(|(p, v, _)| *p == bad && v == "mismatch") {
            assert_eq!(run.code, 1);
            found_in = Some(k);
            break;
        }
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert!(
        found_in.is_some(),
        "60 versions at 10 per run: found within 6 runs"
    );
    // The next run retries it first (and takes 9 never-verified ones).
    let next = agent.drill(&["--plan"]).await;
    let plan = &next.json()["plan"];
    assert_eq!(plan["sample"][0]["key"], "bad", "{plan}");
    assert!(plan["sample"][0]["pick"]
        .as_str()
        .unwrap_or_default()
        .starts_with("coverage"));
    assert_eq!(plan["coverage"]["failing"], 1);
    let retry = agent.drill(&[]).await;
    let picks = sampled(&retry);
    assert!(
        picks.iter().any(|(p, v, _)| *p == bad && v == "mismatch"),
        "{picks:?}"
    );
    assert_eq!(retry.json()["summary"]["coverage"]["failing"], 1);

    // Lifecycle expiry removes five versions the drill had verified: they
    // leave the population and the coverage count.
    let verified: Vec<(String, String)> = agent
        .ledger()
        .prepare("SELECT key, version_id FROM points WHERE last_verdict = 'verified' ORDER BY key LIMIT 5")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect();
    assert_eq!(verified.len(), 5);
    let before = retry.json()["summary"]["coverage"].clone();
    for (key, version) in &verified {
        b.s3.delete_object()
            .bucket(&b.name)
            .key(key)
            .version_id(version)
            .send()
            .await
            .expect("expire a version");
    }
    let after = agent.drill(&[]).await;
    let c = &after.json()["summary"]["coverage"];
    assert_eq!(c["population"], 55, "{c}");
    assert_eq!(c["departed"], 5, "{c}");
    let n = |v: &Value| v["verified_within_period"].as_u64().unwrap_or(0);
    // The five expired ones no longer count; this run verified up to 9 more.
    assert!(
        n(c) >= n(&before) - 5 && n(c) <= n(&before) - 5 + 9,
        "before {before}, after {c}"
    );
    let _ = ids;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_fails_stale_or_uncovered_drills_and_passes_fresh_ones() {
    let b = Bucket::new("gate").await;
    for k in 0..40u8 {
        b.put(&format!("k{k:02}"), &data(k, 100), None).await;
    }
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 10\ncoverage = \"30d\"\n[drills.d.gate]\nmax_age = \"2d\"\nmin_coverage = \"20%\"",
    );
    let gate = |args: &'static [&'static str]| {
        let agent = &agent;
        async move {
            let mut a = vec!["gate", "--json"];
            a.extend_from_slice(args);
            agent.run(&a).await
        }
    };
    // Never run: red, and says why.
    let never = gate(&[]).await;
    assert_eq!(never.code, 1, "{}\n{}", never.stdout, never.stderr);
    let j = never.json();
    assert_eq!(j["schema"], "restoreproof.gate/v1");
    assert_eq!(j["ok"], false);
    assert!(
        j["drills"][0]["reasons"][0]
            .as_str()
            .unwrap_or_default()
            .contains("no run of this drill ever"),
        "{j}"
    );

    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // 10 of 40 verified: 25 % meets the configured 20 %.
    let fresh = gate(&[]).await;
    assert_eq!(fresh.code, 0, "{}", fresh.stdout);
    assert_eq!(fresh.json()["drills"][0]["coverage_percent"], 25.0);
    // Coverage below a stricter minimum.
    let uncovered = gate(&["--min-coverage", "90%"]).await;
    assert_eq!(uncovered.code, 1);
    assert!(uncovered.json()["drills"][0]["reasons"][0]
        .as_str()
        .unwrap_or_default()
        .contains("25.0 % is below the minimum 90 %"));
    // The last verified run is older than max_age: the run is moved 3 days
    // back (the configured max_age is 2d).
    agent
        .ledger()
        .execute(
            "UPDATE runs SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', finished_at, '-3 days')",
            [],
        )
        .expect("age the run");
    let stale = gate(&[]).await;
    assert_eq!(stale.code, 1, "{}", stale.stdout);
    assert!(
        stale.json()["drills"][0]["reasons"][0]
            .as_str()
            .unwrap_or_default()
            .contains("3d ago"),
        "{}",
        stale.stdout
    );
    // A longer max-age on the command line passes it again.
    assert_eq!(gate(&["--max-age", "4d"]).await.code, 0);
    // The text form names the drill and the reason.
    let text = agent.run(&["gate"]).await;
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("RED") && text.stdout.contains("d: no passed run within 2d"),
        "{}",
        text.stdout
    );
    // Bad input is named with the fix.
    let bad = agent.run(&["gate", "--drill", "nope"]).await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("no drill `nope`") && bad.stderr.contains("the drills are: d"),
        "{}",
        bad.stderr
    );
    let bad = agent.run(&["gate", "--max-age", "soon"]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("90d"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_that_cannot_cover_the_period_says_what_it_needs_and_records_a_finding() {
    let b = Bucket::new("coverage-budget").await;
    for k in 0..40u8 {
        b.put(&format!("k{k:02}"), &data(k, 100), None).await;
    }
    // A daily schedule gives 10 runs in a 10-day period: 40 recovery
    // points need 4 per run.
    let short = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 3\ncoverage = \"10d\"\nschedule = \"0 3 * * *\"",
    );
    let run = short.drill(&[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let c = &run.json()["summary"]["coverage"];
    assert_eq!(c["runs_per_period"], 10, "{c}");
    assert_eq!(c["needed_per_run"]["recovery_points"], 4, "{c}");
    assert!(c["full_coverage_at"].is_null(), "{c}");
    let warning = c["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("needs ≥ 4 recovery points per run"),
        "{warning}"
    );
    let findings: Vec<Value> = short
        .evidence()
        .into_iter()
        .filter(|e| e["kind"] == "posture_finding" && e["check"] == "coverage.budget")
        .collect();
    assert_eq!(findings.len(), 1, "one finding per run that cannot keep up");
    assert_eq!(findings[0]["status"], "fail");
    assert_eq!(findings[0]["required"], "≥ 4 recovery points per run");
    // Shown by status and the report.
    let status = short.run(&["status"]).await;
    assert!(
        status
            .stdout
            .contains("d: coverage 7.5 % (3 of 40 recovery points verified within 10d); WARNING"),
        "{}",
        status.stdout
    );
    let report = short.run(&["report"]).await;
    assert!(
        report.stdout.contains("Rotating coverage")
            && report.stdout.contains("needs ≥ 4 recovery points per run"),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("coverage.budget"),
        "listed with the posture findings: {}",
        report.stdout
    );

    // Enough budget: no warning, and the date of full coverage is the
    // scheduled run that reaches it (9 more runs of 4).
    let enough = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 4\ncoverage = \"10d\"\nschedule = \"0 3 * * *\"",
    );
    let run = enough.drill(&[]).await;
    let c = &run.json()["summary"]["coverage"];
    assert!(c["warning"].is_null(), "{c}");
    assert_eq!(c["runs_to_full"], 9, "{c}");
    let at = c["full_coverage_at"].as_str().unwrap_or_default();
    assert!(at.ends_with("T03:00:00Z"), "{c}");
    let days = chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours())
        .unwrap_or(0);
    assert!(
        (8 * 24..=9 * 24).contains(&days),
        "the 9th daily run from now: {at}"
    );
    assert!(!enough
        .evidence()
        .iter()
        .any(|e| e["check"] == "coverage.budget"));
}

//! Every verdict through the real restore path: moto serves the recovery
//! points, the fault proxy corrupts or refuses some of them.

use crate::util::{checks_with, data, Agent, Bucket};
use aws_sdk_s3::types::ChecksumAlgorithm;
use restoreproof_testkit::{Fault, Rule};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_verdict_names_its_reference_or_cause() {
    let b = Bucket::new("verdicts").await;
    b.put("ok.bin", &data(1, 3000), Some(ChecksumAlgorithm::Sha256))
        .await;
    let flipped = b
        .put(
            "flipped.bin",
            &data(2, 3000),
            Some(ChecksumAlgorithm::Crc32),
        )
        .await;
    let truncated = b.put("truncated.bin", &data(3, 3000), None).await;
    b.put_with_wrong_sha256("planted.bin", &data(4, 3000)).await;
    let denied = b.put("denied.bin", &data(5, 100), None).await;
    let throttled = b.put("throttled.bin", &data(6, 100), None).await;
    b.put_glacier("cold.bin", &data(7, 100)).await;
    let gone = b.put("gone.bin", &data(8, 100), None).await;
    // The version disappears between listing and restore.
    b.proxy.add(Rule::any(
        format!("versionId={gone}"),
        Fault::Status(404, "NoSuchVersion"),
    ));
    b.proxy.add(Rule::get(
        format!("versionId={flipped}"),
        Fault::FlipByte(1234),
    ));
    b.proxy.add(Rule::get(
        format!("versionId={truncated}"),
        Fault::Truncate(1000),
    ));
    b.proxy.add(Rule::get(
        format!("versionId={denied}"),
        Fault::Status(403, "AccessDenied"),
    ));
    b.proxy.add(Rule::get(
        format!("versionId={throttled}"),
        Fault::Status(503, "SlowDown"),
    ));

    // Thorough, so that every reference is computed and each verdict can
    // name exactly which one failed.
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 100\nattempts = 2\nverify = \"thorough\"",
    );
    let run = agent.drill(&[]).await;
    assert_eq!(
        run.code, 1,
        "a mismatch makes the drill fail\n{}",
        run.stderr
    );
    let verdicts = run.verdicts();
    let expect = [
        ("cold.bin", "skipped"),
        ("denied.bin", "unrecoverable"),
        ("flipped.bin", "mismatch"),
        ("gone.bin", "unrecoverable"),
        ("ok.bin", "verified"),
        ("planted.bin", "mismatch"),
        ("throttled.bin", "unrecoverable"),
        ("truncated.bin", "mismatch"),
    ];
    let want: Vec<(String, String)> = expect
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(verdicts, want);

    let ok = run.sample("ok.bin");
    assert_eq!(
        checks_with(&ok, "match"),
        [
            "size.listing",
            "size.content_length",
            "s3.checksum.sha256",
            "s3.etag"
        ]
    );

    let flipped = run.sample("flipped.bin");
    assert_eq!(
        checks_with(&flipped, "mismatch"),
        ["s3.checksum.crc32", "s3.etag"],
    );
    assert!(flipped["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("s3.checksum.crc32: expected"));

    // The lying server sends 1000 bytes and says so: the listed size and
    // the ETag disagree.
    let truncated = run.sample("truncated.bin");
    assert_eq!(
        checks_with(&truncated, "mismatch"),
        ["size.listing", "s3.etag"]
    );
    assert_eq!(truncated["bytes"], 1000);

    // Stored checksum disagrees with the bytes, while the ETag (MD5) agrees:
    // the verdict names exactly which reference failed.
    let planted = run.sample("planted.bin");
    assert_eq!(checks_with(&planted, "mismatch"), ["s3.checksum.sha256"]);
    assert!(checks_with(&planted, "match").contains(&"s3.etag".to_owned()));

    let denied = run.sample("denied.bin");
    assert_eq!(denied["error_class"], "access_denied");
    assert!(denied["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("s3:GetObjectVersion"));

    // attempts = 2: the 503 is retried once, then given up.
    let throttled = run.sample("throttled.bin");
    assert_eq!(throttled["error_class"], "throttled");
    assert_eq!(throttled["attempts"], 2);

    let gone = run.sample("gone.bin");
    assert_eq!(gone["error_class"], "not_found");
    assert_eq!(gone["attempts"], 1, "not found is not retried");

    let cold = run.sample("cold.bin");
    assert!(
        cold["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("GLACIER"),
        "{cold}"
    );

    assert_recorded(&agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_restore_times_out_as_unrecoverable() {
    let b = Bucket::new("stall").await;
    let v = b.put("slow.bin", &data(1, 1000), None).await;
    b.proxy.add(Rule::get(
        format!("versionId={v}"),
        Fault::Stall(std::time::Duration::from_secs(5)),
    ));
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "attempts = 2\nrestore_timeout = \"1s\"",
    );
    let started = std::time::Instant::now();
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let s = run.sample("slow.bin");
    assert_eq!(s["error_class"], "timeout", "{s}");
    assert_eq!(s["attempts"], 2);
    assert!(
        s["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("restore_timeout (1s)"),
        "{s}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "timed out rather than waiting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_before_a_verdict() {
    let b = Bucket::new("retry").await;
    let v = b
        .put("flaky.bin", &data(9, 5000), Some(ChecksumAlgorithm::Sha256))
        .await;
    // The first GetObject breaks the connection, the next one 503s, the third
    // succeeds.
    b.proxy
        .add(Rule::get(format!("versionId={v}"), Fault::Reset).times(1));
    b.proxy
        .add(Rule::get(format!("versionId={v}"), Fault::Status(503, "SlowDown")).times(1));
    let agent = Agent::new(&b.proxy.url(), &b.name, "attempts = 4");
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let s = run.sample("flaky.bin");
    assert_eq!(s["verdict"], "verified");
    assert_eq!(s["attempts"].as_u64(), Some(3), "{s}");
    assert_eq!(b.proxy.hits().len(), 2);
    // The retry warnings come from the restore's own task, inside the
    // drill's span (drill, run id) and the sample's (key).
    let run_id = run.json()["summary"]["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("trying again"))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", run.stderr);
    for w in warnings {
        assert!(
            w.contains("drill=d") && w.contains(&run_id) && w.contains("flaky.bin"),
            "{w}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_catches_a_later_disagreement() {
    let b = Bucket::new("baseline").await;
    // SSE-KMS: no stored checksum, and the ETag is not an MD5 of the bytes,
    // so the first drill has nothing to compare with and records a baseline.
    let v = b.put_kms("db.dump", &data(1, 3 << 20)).await;
    // Behind a delete marker, so the live object is no reference either.
    b.delete("db.dump").await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "");

    let first = agent.drill(&[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let s = first.sample("db.dump");
    assert_eq!(s["verdict"], "no_reference", "{s}");
    assert!(s["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("baseline recorded"));

    let second = agent.drill(&[]).await;
    assert_eq!(second.code, 0);
    let s = second.sample("db.dump");
    assert_eq!(s["verdict"], "verified");
    assert_eq!(
        checks_with(&s, "match").last().map(String::as_str),
        Some("baseline.sha256")
    );

    b.proxy.add(Rule::get(
        format!("versionId={v}"),
        Fault::FlipByte(2 << 20),
    ));
    let third = agent.drill(&[]).await;
    assert_eq!(third.code, 1);
    let s = third.sample("db.dump");
    assert_eq!(s["verdict"], "mismatch");
    assert_eq!(checks_with(&s, "mismatch"), ["baseline.sha256"]);

    // The baseline was not replaced by the corrupt bytes.
    let stored: String = agent
        .ledger()
        .query_row("SELECT sha256 FROM baselines", [], |r| r.get(0))
        .expect("baseline");
    assert_eq!(
        Some(stored.as_str()),
        first.sample("db.dump")["sha256"].as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_restores_to_scratch_and_cleans_up() {
    let b = Bucket::new("local").await;
    b.put("a.bin", &data(1, 200_000), Some(ChecksumAlgorithm::Crc32C))
        .await;
    let v = b
        .put("b.bin", &data(2, 200_000), Some(ChecksumAlgorithm::Crc32C))
        .await;
    b.proxy.add(Rule::get(
        format!("versionId={v}"),
        Fault::FlipByte(199_999),
    ));
    let agent = Agent::new(&b.proxy.url(), &b.name, "mode = \"local\"");
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        run.verdicts(),
        [
            ("a.bin".into(), "verified".into()),
            ("b.bin".into(), "mismatch".into())
        ]
    );
    assert_eq!(run.json()["summary"]["mode"], "local");
    let scratch = agent.path("scratch");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "scratch files left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_or_server_cannot_run_and_says_what_to_fix() {
    let agent = Agent::new(&crate::util::endpoint(), "no-such-bucket-here", "");
    let run = agent.run(&["drill", "d"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("the bucket `no-such-bucket-here` does not exist"),
        "{}",
        run.stderr
    );
    // The failed run is itself recorded, and a checkpoint closes it.
    let ev = agent.evidence();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["status"], "error");
    assert_eq!(ev[1]["kind"], "checkpoint");

    let dead = Agent::new("http://127.0.0.1:9", "bucket", "attempts = 1");
    let run = dead.run(&["drill", "d"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot list the source `src`"),
        "{}",
        run.stderr
    );

    // No credentials anywhere in the chain.
    let agent = Agent::new(&crate::util::endpoint(), "any-bucket", "");
    let out = agent
        .command(&["drill", "d"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("HOME", agent.path(""))
        .output()
        .await
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no usable AWS credentials") && stderr.contains("AWS_PROFILE"),
        "{stderr}"
    );
    assert!(stderr.lines().count() < 8, "the message is short: {stderr}");

    let denied = Bucket::new("denied").await;
    denied
        .proxy
        .add(Rule::any("versions", Fault::Status(403, "AccessDenied")));
    let agent = Agent::new(&denied.proxy.url(), &denied.name, "");
    let run = agent.run(&["drill", "d"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("s3:ListBucketVersions"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_human_summary_names_failures_and_the_result() {
    let b = Bucket::new("human").await;
    b.put("fine.txt", b"fine", Some(ChecksumAlgorithm::Sha256))
        .await;
    b.put_with_wrong_sha256("bad.txt", b"bad").await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    let run = agent.run(&["drill", "d"]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("verified 1 · mismatch 1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("s3.checksum.sha256: expected"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("RESULT: FAILED"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_mode_verifies_a_server_side_copy_and_leaves_no_trace() {
    let b = Bucket::new("copy").await;
    b.put("a.bin", &data(1, 100_000), Some(ChecksumAlgorithm::Sha256))
        .await;
    b.put("a.bin", &data(2, 120_000), Some(ChecksumAlgorithm::Sha256))
        .await;
    b.put("b.bin", &data(3, 90_000), None).await;
    // Corrupt the bytes read back from the first copy.
    b.proxy
        .add(Rule::get("restoreproof-drill/", Fault::FlipByte(10)).times(1));
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "mode = \"copy\"\nconcurrency = 1\nsample = 100",
    );
    let run = agent.drill(&["--strategy", "oldest"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let samples = run.json()["samples"].as_array().expect("samples").clone();
    assert_eq!(samples.len(), 3, "the drill's own copies are never sampled");
    let mut verdicts: Vec<&str> = samples
        .iter()
        .map(|s| s["verdict"].as_str().unwrap_or_default())
        .collect();
    verdicts.sort_unstable();
    // The first copy read (the oldest version of a.bin) came back corrupted.
    assert_eq!(
        verdicts,
        ["mismatch", "verified", "verified"],
        "{}",
        run.stdout
    );
    for s in &samples {
        let copy = &s["copy"];
        assert!(
            copy["key"]
                .as_str()
                .unwrap_or_default()
                .starts_with("restoreproof-drill/"),
            "{s}"
        );
        assert_eq!(copy["removed"], true, "{s}");
    }
    // Nothing is left under the drill prefix: no copy, no delete marker.
    let left =
        b.s3.list_object_versions()
            .bucket(&b.name)
            .prefix("restoreproof-drill/")
            .send()
            .await
            .expect("list");
    assert!(
        left.versions().is_empty() && left.delete_markers().is_empty(),
        "{left:?}"
    );
}

/// Keys with characters XML 1.0 cannot carry (control characters) are
/// listed URL-encoded and restored under their real names. moto refuses
/// such keys, so the harness's S3 server (which encodes listings as S3
/// does) serves them from files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_control_characters_are_listed_and_restored() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("weird");
    std::fs::create_dir_all(&dir).expect("dir");
    let keys = [
        "bell\u{7}.bin",
        "esc\u{1b}[31m.bin",
        "a+b c%41.bin",
        "plain.bin",
    ];
    for (i, k) in keys.iter().enumerate() {
        std::fs::write(dir.join(k), data(i as u8, 3000)).expect("file");
    }
    let server = restoreproof_testkit::bench_s3::BenchS3::start(
        root.path(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("server");
    let agent = Agent::new(&server.url(), "weird-awsdefault", "sample = 10");
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let mut want: Vec<(String, String)> = keys
        .iter()
        .map(|k| (k.to_string(), "verified".to_string()))
        .collect();
    want.sort();
    assert_eq!(run.verdicts(), want);
}

/// `--json` writes each verdict as it finishes, so memory does not grow
/// with the sample: the first verdict is on stdout while a later restore is
/// still in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_streams_each_verdict_as_it_finishes() {
    use tokio::io::AsyncReadExt;
    let b = Bucket::new("json-stream").await;
    b.put("a-fast.bin", &data(1, 1000), None).await;
    b.put("b-slow.bin", &data(2, 1000), None).await;
    b.proxy.add(Rule::get(
        "b-slow.bin",
        Fault::Stall(std::time::Duration::from_secs(4)),
    ));
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 2\nconcurrency = 2");
    let mut child = agent
        .command(&["drill", "d", "--json", "--no-ship"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !seen.contains("\"verdict\": \"verified\"") {
        assert!(tokio::time::Instant::now() < deadline, "no verdict: {seen}");
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), stdout.read(&mut buf))
            .await
            .expect("read")
            .expect("read");
        assert!(n > 0, "stdout closed before a verdict: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("a-fast.bin"), "{seen}");
    assert!(
        child.try_wait().expect("poll").is_none(),
        "the drill is still restoring b-slow.bin"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.expect("rest");
    assert!(child.wait().await.expect("wait").success());
    let doc: serde_json::Value = serde_json::from_str(&(seen + &rest)).expect("one JSON document");
    assert_eq!(doc["samples"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["summary"]["counts"]["verified"], 2);
}

/// A key with a bidi override (U+202E) or a zero-width character can
/// disguise its own line on a screen or a page ("invoice\u{202e}fdp.exe" reads
/// "invoiceexe.pdf"): tables, plans and reports show such characters as
/// `\u{..}`, as they show control characters; the evidence keeps the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_bidi_and_format_characters_are_shown_escaped() {
    let b = Bucket::new("bidi-keys").await;
    let keys = ["invoice\u{202e}fdp.exe", "zero\u{200b}width.bin"];
    for (i, k) in keys.iter().enumerate() {
        b.put(k, &data(i as u8, 2000), None).await;
    }
    // A failure, so that the key is in every report's failures table.
    b.proxy.add(Rule::get("fdp.exe", Fault::FlipByte(10)));
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 10");
    let table = agent.run(&["drill", "d", "--no-ship"]).await;
    assert_eq!(table.code, 1, "{}{}", table.stdout, table.stderr);
    let plan = agent.run(&["drill", "d", "--plan"]).await;
    let mut shown = vec![("drill", table.stdout), ("plan", plan.stdout)];
    for format in ["text", "md", "html", "csv"] {
        let r = agent
            .run(&[
                "report", "--since", "1d", "--format", format, "--table", "failures",
            ])
            .await;
        assert!(r.code <= 1, "{format}: {}", r.stderr);
        shown.push((format, r.stdout));
    }
    for (what, out) in &shown {
        for raw in ['\u{202e}', '\u{200b}'] {
            assert!(
                !out.contains(raw),
                "{what} shows U+{:04X} raw:\n{out}",
                raw as u32
            );
        }
        assert!(out.contains("invoice\\u{202e}fdp"), "{what}:\n{out}");
    }
    // The evidence keeps the real key.
    assert!(agent
        .evidence()
        .iter()
        .any(|e| e["recovery_point"]["key"] == keys[0]));
}

/// Every verdict is in the evidence file and the ledger, plus a summary and
/// the run's checkpoint, each valid OCSF.
fn assert_recorded(agent: &Agent) {
    // Every verdict is in the evidence file and the ledger, plus a summary
    // and the run's checkpoint.
    let ev = agent.evidence();
    assert_eq!(ev.len(), 10);
    assert_eq!(
        ev.iter().filter(|e| e["kind"] == "sample_verdict").count(),
        8
    );
    let summary = &ev[ev.len() - 2];
    assert_eq!(summary["kind"], "run_summary");
    assert_eq!(ev[ev.len() - 1]["kind"], "checkpoint");
    assert_eq!(summary["counts"]["mismatch"], 3);
    assert_eq!(summary["counts"]["unrecoverable"], 3);
    assert_eq!(summary["counts"]["skipped"], 1);
    assert_eq!(summary["population"]["candidates"], 8);
    let seqs: Vec<u64> = ev.iter().map(|e| e["seq"].as_u64().unwrap_or(0)).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    // Each verdict, the run summary and the checkpoint, as OCSF.
    crate::util::assert_ocsf_conforms(&ev);
    let rows: i64 = agent
        .ledger()
        .query_row("SELECT COUNT(*) FROM samples", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 8);
}

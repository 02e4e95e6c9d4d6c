//! Tamper evidence: `restoreproof evidence verify` over evidence files
//! (rotated, compressed) and the ledger catches an edited, deleted or
//! reordered event, a truncated tail, a bad signature and a gap between
//! rotated files; an untouched chain across two runs (two processes)
//! verifies.

use crate::util::{data, read_jsonl, Agent, Bucket};
use std::io::Write as _;
use std::path::Path;

/// An agent with two drills' worth of signed evidence and its public key.
async fn evidence() -> (Bucket, Agent, String) {
    let b = Bucket::new("tamper").await;
    for i in 0..3u8 {
        b.put(&format!("obj-{i}"), &data(i, 4_000), None).await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 3");
    let keygen = agent.run(&["evidence", "keygen"]).await;
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
    let vkey = keygen.stdout.trim().to_owned();
    assert!(vkey.starts_with("restoreproof-"), "{vkey}");
    assert!(agent.path("state/evidence.key").exists());
    let again = agent.run(&["evidence", "keygen"]).await;
    assert_eq!(again.code, 2, "never overwrites a key");
    for _ in 0..2 {
        let run = agent.drill(&[]).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    (b, agent, vkey)
}

fn lines(agent: &Agent) -> Vec<String> {
    std::fs::read_to_string(agent.path("log/evidence.jsonl"))
        .expect("evidence")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .expect("write");
}

async fn verify(agent: &Agent, args: &[&str]) -> (i32, String) {
    let mut all = vec!["evidence", "verify"];
    all.extend_from_slice(args);
    let r = agent.run(&all).await;
    (r.code, format!("{}{}", r.stdout, r.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_catches_each_kind_of_tampering_and_passes_an_untouched_chain() {
    let (_b, agent, vkey) = evidence().await;
    let key = format!("--public-key={vkey}");
    let all = lines(&agent);
    assert_eq!(
        all.len(),
        10,
        "two runs: 3 verdicts, a summary and a checkpoint each"
    );
    let checkpoints: Vec<serde_json::Value> = read_jsonl(&agent.path("log/evidence.jsonl"))
        .into_iter()
        .filter(|e| e["kind"] == "checkpoint")
        .collect();
    assert_eq!(checkpoints.len(), 2);
    assert_eq!(checkpoints[1]["size"], 9);
    assert_eq!(checkpoints[1]["key"].as_str(), Some(vkey.as_str()));

    // Untouched: the configured file and ledger.
    let (code, out) = verify(&agent, &[&key]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "intact — 10 event(s) (seq 1..10), 2 checkpoint(s), 2 signed by restoreproof-"
        ),
        "{out}"
    );

    // Untouched across rotation, the older part compressed.
    let dir = tempfile::tempdir().expect("tempdir");
    let cur = dir.path().join("evidence.jsonl");
    let old = dir.path().join("evidence.jsonl.1.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&old).expect("gz"),
        flate2::Compression::fast(),
    );
    for l in &all[..6] {
        writeln!(gz, "{l}").expect("gz");
    }
    gz.finish().expect("gz");
    write(&cur, &all[6..]);
    let (code, out) = verify(
        &agent,
        &[
            &key,
            old.to_str().unwrap_or_default(),
            cur.to_str().unwrap_or_default(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 files: intact"), "{out}");

    let t = |name: &str| dir.path().join(name);
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "edited",
            {
                let mut v = all.clone();
                v[1] = v[1].replace("\"verdict\":\"verified\"", "\"verdict\":\"mismatch\"");
                assert_ne!(v[1], all[1]);
                v
            },
            "edited at",
        ),
        (
            "deleted",
            {
                let mut v = all.clone();
                v.remove(2);
                v
            },
            "events 3..3 are missing here (1 event(s) deleted)",
        ),
        (
            "reordered",
            {
                let mut v = all.clone();
                v.swap(1, 2);
                v
            },
            "reordered at",
        ),
    ];
    for (name, content, want) in cases {
        let p = t(&format!("{name}.jsonl"));
        write(&p, &content);
        let (code, out) = verify(&agent, &[&key, p.to_str().unwrap_or_default()]).await;
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains("TAMPERED"), "{name}: {out}");
        assert!(out.contains(want), "{name}: want {want:?} in {out}");
    }

    // A tail cut mid-line.
    let p = t("torn.jsonl");
    let mut text: String = all.iter().map(|l| format!("{l}\n")).collect();
    text.truncate(text.len() - 40);
    std::fs::write(&p, text).expect("write");
    let (code, out) = verify(&agent, &[&key, p.to_str().unwrap_or_default()]).await;
    assert_eq!(code, 1, "{out}");
    // Its own finding, not the words of an edit: a full disk mid-append
    // leaves the same.
    assert!(
        out.contains("INCOMPLETE")
            && out.contains("torn_line at")
            && out.contains("torn last line, incomplete write"),
        "{out}"
    );
    assert!(!out.contains("TAMPERED"), "{out}");

    // Not evidence at all (the ledger given as a file): said as such, exit 2.
    let (code, out) = verify(
        &agent,
        &[
            &key,
            agent
                .path("state/ledger.sqlite3")
                .to_str()
                .unwrap_or_default(),
        ],
    )
    .await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("not an evidence file") && out.contains("SQLite"),
        "{out}"
    );

    // Whole events removed from the end: the checkpoint kept by the SIEM
    // (here: the last one, as shipped) shows it.
    let p = t("short.jsonl");
    write(&p, &all[..7]);
    let note = t("checkpoint.note");
    std::fs::write(&note, checkpoints[1]["note"].as_str().unwrap_or_default()).expect("note");
    let (code, out) = verify(
        &agent,
        &[
            &key,
            "--checkpoint",
            note.to_str().unwrap_or_default(),
            p.to_str().unwrap_or_default(),
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("events 8..9 were removed from the end"),
        "{out}"
    );
    // ... and so does the ledger.
    let (code, out) = verify(&agent, &[&key, "--ledger", p.to_str().unwrap_or_default()]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the files end at event 7, but the ledger recorded them up to 10"),
        "{out}"
    );

    // A key that did not sign the checkpoints.
    let other = agent
        .run(&[
            "evidence",
            "keygen",
            "--out",
            t("other.key").to_str().unwrap_or_default(),
        ])
        .await;
    let (code, out) = verify(&agent, &[&format!("--public-key={}", other.stdout.trim())]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad_signature") && out.contains("is not signed by key"),
        "{out}"
    );

    // A gap between rotated files.
    let older = t("gap.jsonl.1");
    let newer = t("gap.jsonl");
    write(&older, &all[..4]);
    write(&newer, &all[5..]);
    let (code, out) = verify(
        &agent,
        &[
            &key,
            newer.to_str().unwrap_or_default(),
            older.to_str().unwrap_or_default(),
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("gap_between_files")
            && out.contains("events 5..5 are missing between this file and the one before it"),
        "{out}"
    );

    // The ledger itself, edited behind its trigger's back.
    let l = agent.ledger();
    l.execute_batch(
        "DROP TRIGGER events_are_immutable;
         UPDATE events SET body = replace(body, '\"verdict\":\"verified\"', '\"verdict\":\"mismatch\"') WHERE seq = 2;",
    )
    .expect("tamper");
    drop(l);
    let (code, out) = verify(&agent, &[&key]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ledger") && out.contains("event 2 was changed after it was recorded"),
        "{out}"
    );
    assert!(
        out.contains("event 2 differs from the ledger's copy"),
        "{out}"
    );

    // Unreadable input is exit 2.
    let (code, _) = verify(&agent, &[t("missing.jsonl").to_str().unwrap_or_default()]).await;
    assert_eq!(code, 2);
}

/// A drill that creates the signing key shows its public key once, at the
/// default verbosity, so it can be kept off the host; later drills do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auto_created_signing_key_is_shown_once() {
    let b = Bucket::new("key-shown").await;
    b.put("obj", &data(1, 1000), None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    let first = agent.drill(&[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("Created the evidence signing key"),
        "{}",
        first.stderr
    );
    let vkey = first
        .stderr
        .lines()
        .find(|l| l.starts_with("restoreproof-"))
        .expect("the public key on its own line")
        .to_owned();
    // It is the key the checkpoints verify with.
    let ok = agent
        .run(&["evidence", "verify", &format!("--public-key={vkey}")])
        .await;
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let second = agent.drill(&[]).await;
    assert!(!second.stderr.contains("signing key"), "{}", second.stderr);
}

/// Evidence and a ledger written by the previous release (see
/// `tests/fixtures/release-2e25915/README.md`) still verify with this one,
/// signatures included; reports read them; and a new drill continues the
/// same chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_written_by_the_previous_release_still_verifies_and_continues() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-2e25915");
    let b = Bucket::new("old-ledger").await;
    b.put("new.bin", &data(9, 3000), None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 1");
    std::fs::create_dir_all(agent.path("state")).expect("state");
    std::fs::create_dir_all(agent.path("log")).expect("log");
    std::fs::copy(
        fixture.join("ledger.db"),
        agent.path("state/ledger.sqlite3"),
    )
    .expect("ledger");
    std::fs::copy(
        fixture.join("evidence.jsonl"),
        agent.path("log/evidence.jsonl"),
    )
    .expect("evidence");
    let old_key = std::fs::read_to_string(fixture.join("public.key"))
        .expect("key")
        .trim()
        .to_owned();

    let (code, out) = verify(&agent, &[&format!("--public-key={old_key}")]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("intact — 10 event(s)") && out.contains("2 signed"),
        "{out}"
    );
    let report = agent.run(&["report", "--format", "json"]).await;
    assert_eq!(report.code, 0, "{}", report.stderr);
    let r: serde_json::Value = serde_json::from_str(&report.stdout).expect("report json");
    assert_eq!(r["drills"][0]["samples"], 6, "{}", report.stdout);
    assert_eq!(r["chain"]["intact"], true);

    // A drill of this release appends to the old chain; the whole chain
    // verifies (its new checkpoint is signed by a key created now, so
    // signatures are not pinned here).
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (code, out) = verify(&agent, &[]).await;
    assert_eq!(code, 0, "{out}");
    // Its verdict, run summary and checkpoint follow the old ten events.
    assert!(out.contains("intact — 13 event(s) (seq 1..13)"), "{out}");
}

/// Rows that reports read but the chain does not cover are held to it: a
/// sample's verdict or a run's summary edited in SQLite is named by
/// `evidence verify` (exit 1) and refused by `report`. Before, `verify`
/// said intact and the report printed the edited verdict under "chain
/// intact".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_rows_edited_behind_the_chain_are_named_and_no_report_is_made() {
    let (_b, agent, _vkey) = evidence().await;
    let (code, out) = verify(&agent, &[]).await;
    assert_eq!(code, 0, "{out}");
    let report = agent
        .run(&["report", "--since", "1d", "--format", "json"])
        .await;
    assert_eq!(report.code, 0, "{}", report.stderr);

    for (edit, names) in [
        (
            "UPDATE samples SET verdict = 'mismatch' WHERE rowid = (SELECT MIN(rowid) FROM samples)",
            "verdict is mismatch in the row but verified in its event",
        ),
        (
            "UPDATE runs SET summary = replace(summary, '\"outcome\":\"passed\"', '\"outcome\":\"failed\"') WHERE rowid = (SELECT MAX(rowid) FROM runs)",
            "outcome is failed in the row's summary but passed in its event",
        ),
    ] {
        let copy = tempfile::tempdir().expect("tempdir");
        let ledger = agent.path("state/ledger.sqlite3");
        let saved = copy.path().join("ledger");
        std::fs::copy(&ledger, &saved).expect("save");
        let changed = agent.ledger().execute(edit, []).expect("edit");
        assert_eq!(changed, 1, "{edit}");
        let (code, out) = verify(&agent, &[]).await;
        assert_eq!(code, 1, "{edit}: {out}");
        assert!(out.contains("row_disagrees") && out.contains(names), "{edit}: {out}");
        for format in ["text", "json", "html"] {
            let r = agent.run(&["report", "--since", "1d", "--format", format]).await;
            assert_eq!(r.code, 2, "{edit} {format}: {}", r.stdout);
            assert!(
                r.stderr.contains("disagree with its hash-chained evidence") && r.stderr.contains(names),
                "{edit}: {}",
                r.stderr
            );
            assert!(!r.stdout.contains("\"intact\": true"), "{}", r.stdout);
        }
        if edit.starts_with("UPDATE runs") {
            // The drill's last run: status does not show the edited outcome
            // as its health, and says why it exits 1.
            let st = agent.run(&["status"]).await;
            assert_eq!(st.code, 1, "{}", st.stdout);
            assert!(st.stdout.contains("TAMPERED: drill d") && st.stdout.contains(names), "{}", st.stdout);
            let metrics = agent.run(&["status", "--prometheus"]).await;
            assert!(
                metrics.stdout.contains("restoreproof_ledger_rows_disagreeing 1"),
                "{}",
                metrics.stdout
            );
            // The gate trusts no run of the drill while its rows disagree.
            let gate = agent.run(&["gate", "--max-age", "7d"]).await;
            assert_eq!(gate.code, 1, "{}", gate.stdout);
            assert!(
                gate.stdout.contains("disagree with their hash-chained events") && gate.stdout.contains(names),
                "{}",
                gate.stdout
            );
        }
        std::fs::copy(&saved, &ledger).expect("restore");
    }
    let (code, out) = verify(&agent, &[]).await;
    assert_eq!(code, 0, "restored: {out}");
}

/// The service verifies the evidence chain itself (at start, then hourly):
/// an event edited in the ledger is a problem `status` names (exit 1) and
/// `restoreproof_evidence_chain_intact` drops to 0, for the alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_finds_an_edited_chain_and_says_so() {
    let (_b, agent, _) = evidence().await;
    let text = std::fs::read_to_string(&agent.config).expect("config");
    std::fs::write(
        &agent.config,
        format!("[daemon]\nheartbeat_interval = \"1s\"\n{text}\nschedule = \"0 0 3 1 1 *\"\n"),
    )
    .expect("config");
    // Intact first.
    let mut child = agent.spawn_service();
    let mut seen = None;
    for _ in 0..40 {
        seen = chain_metric(&agent).await;
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(
        seen.as_deref(),
        Some("restoreproof_evidence_chain_intact 1")
    );
    crate::daemon::signal(&child, "TERM");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await;
    // Then one event edited behind the trigger's back.
    let l = agent.ledger();
    l.execute_batch(
        "DROP TRIGGER events_are_immutable;
         UPDATE events SET body = replace(body, '\"verdict\":\"verified\"', '\"verdict\":\"mismatch\"') WHERE seq = 2;",
    )
    .expect("tamper");
    drop(l);
    child = agent.spawn_service();
    for _ in 0..40 {
        seen = chain_metric(&agent).await;
        if seen.as_deref() == Some("restoreproof_evidence_chain_intact 0") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(
        seen.as_deref(),
        Some("restoreproof_evidence_chain_intact 0")
    );
    let status = agent.run(&["status"]).await;
    assert_eq!(status.code, 1);
    assert!(
        status
            .stderr
            .contains("the evidence chain does not verify: "),
        "{}",
        status.stderr
    );
    crate::daemon::signal(&child, "TERM");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await;
}

/// The `restoreproof_evidence_chain_intact` line of the metrics, if any.
async fn chain_metric(agent: &Agent) -> Option<String> {
    let m = agent.run(&["status", "--prometheus"]).await.stdout;
    m.lines()
        .find(|l| l.starts_with("restoreproof_evidence_chain_intact "))
        .map(str::to_owned)
}

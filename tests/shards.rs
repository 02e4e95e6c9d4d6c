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

/// Shards of a drill that records its verified samples in batches
/// (`record_verified = "batched"`): the merge checks each shard's batches
/// against their roots (in the shard's ledger) and records them as batches
/// of its own; any merged sample has an inclusion proof that checks alone;
/// a shard whose ledger was edited is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_shards_merge_with_their_roots_and_a_merged_sample_is_provable() {
    let b = Bucket::new("shards-batched").await;
    for i in 0..12u8 {
        b.put(&format!("k{i:02}"), &data(i, 3000), None).await;
    }
    b.proxy.add(Rule::get("/k05", Fault::FlipByte(100)));
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = \"100%\"\nseed = 7\nrecord_verified = \"batched\"",
    );
    let dir = agent.path("shards");
    let dir = dir.to_str().expect("utf-8");
    for i in 0..3 {
        let out = shard(&agent, dir, "r1", &format!("{i}/3")).await;
        assert!(out.code <= 1, "shard {i}: {}\n{}", out.stdout, out.stderr);
    }
    let m = agent
        .run(&["merge", "d", "--shard-dir", dir, "--run-id", "r1", "--json"])
        .await;
    assert_eq!(m.code, 1, "{}\n{}", m.stdout, m.stderr);
    let s = &m.json()["summary"];
    assert_eq!(s["counts"]["verified"], 11, "{s}");
    assert_eq!(s["counts"]["mismatch"], 1, "{s}");
    let ev = agent.evidence();
    let verdicts: Vec<_> = ev
        .iter()
        .filter(|e| e["kind"] == "sample_verdict")
        .collect();
    assert_eq!(verdicts.len(), 1, "only the failure is an event of its own");
    assert_eq!(verdicts[0]["verdict"], "mismatch");
    let batches: Vec<_> = ev.iter().filter(|e| e["kind"] == "sample_batch").collect();
    assert_eq!(
        batches
            .iter()
            .map(|b| b["count"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        11
    );
    for b in &batches {
        assert_eq!(b["shard"]["run"], "r1", "{b}");
        assert_eq!(b["run_id"], s["run_id"], "{b}");
        assert_ne!(
            b["root"], b["shard"]["root"],
            "new leaf ids, a new root: {b}"
        );
    }
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.contains("11 verified sample(s) in"),
        "{}",
        verify.stdout
    );

    // One merged sample, proven on its own against the signing key.
    let id: String = agent
        .ledger()
        .query_row(
            "SELECT event_id FROM samples WHERE batch_seq IS NOT NULL AND key = 'k03'",
            [],
            |r| r.get(0),
        )
        .expect("a batched row");
    let proof_path = agent.path("proof.json");
    let prove = agent
        .run(&[
            "evidence",
            "prove",
            &id,
            "-o",
            proof_path.to_str().expect("utf-8"),
        ])
        .await;
    assert_eq!(prove.code, 0, "{}", prove.stderr);
    let proof: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof_path).expect("proof")).expect("json");
    assert!(proof["leaf"]
        .as_str()
        .unwrap_or_default()
        .contains("\"shard_event_id\""));
    let vkey = ev
        .iter()
        .rev()
        .find_map(|e| e["key"].as_str().filter(|_| e["kind"] == "checkpoint"))
        .expect("a signed checkpoint")
        .to_owned();
    let check = agent
        .run(&[
            "evidence",
            "verify",
            "--proof",
            proof_path.to_str().expect("utf-8"),
            "--public-key",
            &vkey,
            "--json",
        ])
        .await;
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    let checked = check.json();
    assert_eq!(checked["proven"]["key"], "k03", "{checked}");
    assert_eq!(checked["proven"]["signed_by_key"], true, "{checked}");
    // The proof checks without this program too: RFC 6962's hashes and
    // RFC 9162's path verification, and the chain's line hashes, in Python.
    crate::util::assert_python(INDEPENDENT_CHECK, &[proof_path.to_str().expect("utf-8")]);
    // The same proof with its leaf edited does not check.
    let mut forged = proof.clone();
    forged["leaf"] = proof["leaf"]
        .as_str()
        .unwrap_or_default()
        .replace("\"k03\"", "\"k04\"")
        .into();
    std::fs::write(&proof_path, forged.to_string()).expect("write");
    let bad = agent
        .run(&[
            "evidence",
            "verify",
            "--proof",
            proof_path.to_str().expect("utf-8"),
        ])
        .await;
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    assert!(bad.stdout.contains("Not proven"), "{}", bad.stdout);
    // The ledger's batched rows are held to their roots.
    agent
        .ledger()
        .execute(
            "UPDATE samples SET sha256 = 'ff' || substr(sha256, 3) WHERE batch_seq IS NOT NULL AND key = 'k03'",
            [],
        )
        .expect("edit");
    let edited = agent.run(&["evidence", "verify"]).await;
    assert_eq!(edited.code, 1, "{}\n{}", edited.stdout, edited.stderr);
    assert!(
        edited.stdout.contains("was edited, added or removed"),
        "{}",
        edited.stdout
    );

    // A shard whose ledger was edited after it ran is named.
    for i in 0..3 {
        shard(&agent, dir, "r2", &format!("{i}/3")).await;
    }
    let shard_ledger = agent.path("shards/r2/shard-2-of-3/ledger.db");
    let changed = rusqlite::Connection::open(&shard_ledger)
        .and_then(|c| {
            c.execute(
                "UPDATE samples SET key = key || '-moved' WHERE rowid = (SELECT MIN(rowid) FROM samples WHERE batch_seq IS NOT NULL)",
                [],
            )
        })
        .expect("edit the shard's ledger");
    assert_eq!(changed, 1);
    let tampered = agent
        .run(&["merge", "d", "--shard-dir", dir, "--run-id", "r2", "--json"])
        .await;
    assert_eq!(tampered.code, 2, "{}\n{}", tampered.stdout, tampered.stderr);
    let ts = &tampered.json()["summary"];
    assert!(
        ts["error"]
            .as_str()
            .unwrap_or_default()
            .contains("shard 2/3: the")
            && ts["error"]
                .as_str()
                .unwrap_or_default()
                .contains("its ledger was edited"),
        "{ts}"
    );

    let docs: Vec<(&str, serde_json::Value)> = agent
        .evidence()
        .into_iter()
        .map(|e| ("evidence", e))
        .chain([("inclusion-proof", proof), ("proof-check", checked)])
        .collect();
    crate::schemas::assert_valid(&docs);
}

/// An inclusion proof checked by an implementation other than the agent's:
/// SHA-256(0x00 ‖ leaf), RFC 9162 §2.1.3.2 over the path, the root against
/// the batch line, each line's hash over its canonical form and its link to
/// the one before, and the checkpoint's note naming the line before it.
const INDEPENDENT_CHECK: &str = r#"
import base64, hashlib, json, sys
p = json.load(open(sys.argv[1]))
h = lambda b: hashlib.sha256(b).digest()
r = h(b"\x00" + p["leaf"].encode())
fn, sn = p["index"], p["tree_size"] - 1
for x in map(bytes.fromhex, p["path"]):
    assert sn != 0
    if fn & 1 or fn == sn:
        r = h(b"\x01" + x + r)
        while fn & 1 == 0 and fn != 0:
            fn >>= 1; sn >>= 1
    else:
        r = h(b"\x01" + r + x)
    fn >>= 1; sn >>= 1
assert sn == 0
lines = [json.loads(l) for l in p["lines"]]
assert lines[0]["kind"] == "sample_batch" and lines[0]["root"] == r.hex(), "root"
assert lines[0]["count"] == p["tree_size"]
prev = None
for l in lines:
    body = {k: v for k, v in l.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == l["hash"], l["seq"]
    if prev:
        assert l["seq"] == prev["seq"] + 1 and l["prev_hash"] == prev["hash"]
    prev = l
note = lines[-1]["note"].split("\n")
assert lines[-1]["kind"] == "checkpoint"
assert int(note[1]) == lines[-2]["seq"]
assert base64.b64decode(note[2]).hex() == lines[-2]["hash"]
print("ok")
"#;

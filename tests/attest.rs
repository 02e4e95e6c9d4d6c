//! in-toto attestations in DSSE envelopes, verified by an independent
//! implementation: the Python `securesystemslib` package (the in-toto
//! project's DSSE and key library, installed with `in-toto` by
//! `scripts/test`), not restoreproof's own code.

use crate::util::{data, read_jsonl, Agent, Bucket};
use serde_json::Value;

/// Verifies every envelope of `file` with securesystemslib against the
/// public key in `vkey` (as `evidence keygen` printed it); prints one JSON
/// result per envelope. `mode` `tamper` flips a byte of each payload first,
/// `other-key` verifies with a freshly generated key.
fn verify_with_securesystemslib(file: &std::path::Path, vkey: &str, mode: &str) -> Vec<Value> {
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON")
        .expect("RESTOREPROOF_TEST_PYTHON (run the suite with scripts/test)");
    let script = r#"
import base64, hashlib, json, sys
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from securesystemslib.exceptions import VerificationError
path, vkey, mode = sys.argv[1], sys.argv[2], sys.argv[3]
raw = base64.b64decode(vkey.split("+", 2)[2])
assert raw[0] == 1 and len(raw) == 33, "an Ed25519 signed-note key"
public = raw[1:]
if mode == "other-key":
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
    public = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
keyid = hashlib.sha256(raw[1:]).hexdigest()
key = SSlibKey(keyid, "ed25519", "ed25519", {"public": public.hex()})
for line in open(path):
    env = Envelope.from_dict(json.loads(line))
    if mode == "tamper":
        p = bytearray(env.payload)
        p[len(p) // 2] ^= 1
        env.payload = bytes(p)
    try:
        env.verify([key], 1)
        ok = True
    except VerificationError:
        ok = False
    statement = json.loads(env.payload) if mode == "plain" else None
    print(json.dumps({"verified": ok, "keyid_matches": env.signatures and keyid in env.signatures, "statement": statement}))
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(file)
        .arg(vkey)
        .arg(mode)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestations_verify_with_securesystemslib_and_a_changed_byte_or_another_key_fails() {
    let b = Bucket::new("attest").await;
    for i in 0..4u8 {
        b.put(&format!("k{i}"), &data(i, 3000), None).await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 100\ncoverage = \"30d\"");
    let keygen = agent.run(&["evidence", "keygen"]).await;
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
    let vkey = keygen.stdout.trim().to_owned();
    // A passing run, then a failing one once a corrupted version arrived.
    assert_eq!(agent.drill(&[]).await.code, 0);
    b.put_with_wrong_sha256("bad", &data(9, 3000)).await;
    assert_eq!(agent.drill(&[]).await.code, 1);

    let file = agent.path("attestations.jsonl");
    let run = agent
        .run(&[
            "evidence",
            "attest",
            "--since",
            "1d",
            "-o",
            file.to_str().unwrap_or_default(),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("2 attestation(s) signed with key"),
        "{}",
        run.stderr
    );
    // The public key in one form, the form keygen prints and verify takes.
    assert!(
        run.stderr.contains(&format!("(public key {vkey})")),
        "{}",
        run.stderr
    );

    let results = verify_with_securesystemslib(&file, &vkey, "plain");
    assert_eq!(results.len(), 2);
    assert_statements(&results, &agent, &b.name);
    let verdicts: Vec<&str> = results
        .iter()
        .map(|r| {
            r["statement"]["predicate"]["verificationResult"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(verdicts, ["PASSED", "FAILED"]);
    assert_eq!(
        results[1]["statement"]["predicate"]["restoreproof"]["coverage"]["population"],
        5
    );

    // A changed byte, or another key: securesystemslib refuses.
    for mode in ["tamper", "other-key"] {
        let refused = verify_with_securesystemslib(&file, &vkey, mode);
        assert!(
            refused.iter().all(|r| r["verified"] == false),
            "{mode}: {refused:?}"
        );
    }

    // One run by id; a run that does not exist is an error with the fix.
    let one = agent
        .run(&["evidence", "attest", "--run", "no-such-run"])
        .await;
    assert_eq!(one.code, 2);
    assert!(
        one.stderr.contains("no finished run no-such-run"),
        "{}",
        one.stderr
    );
}

/// Each verified statement is an in-toto VSA of one run whose subjects are
/// exactly that run's evidence lines, by SHA-256.
fn assert_statements(results: &[serde_json::Value], agent: &Agent, bucket: &str) {
    let evidence: Vec<String> = std::fs::read_to_string(agent.path("log/evidence.jsonl"))
        .expect("evidence")
        .lines()
        .map(str::to_owned)
        .collect();
    let records = read_jsonl(&agent.path("log/evidence.jsonl"));
    for r in results {
        assert_eq!(r["verified"], true, "{r}");
        let st = &r["statement"];
        assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(
            st["predicateType"],
            "https://slsa.dev/verification_summary/v1"
        );
        let p = &st["predicate"];
        let run_id = p["restoreproof"]["run_id"].as_str().unwrap_or_default();
        assert_eq!(p["resourceUri"], format!("s3://{bucket}/"));
        // The subjects are exactly the run's evidence lines, by SHA-256.
        let mine: Vec<String> = records
            .iter()
            .zip(&evidence)
            .filter(|(rec, _)| rec["run_id"] == run_id)
            .map(|(_, line)| restoreproof::evidence::sha256_hex(line.as_bytes()))
            .collect();
        let subjects: Vec<String> = st["subject"]
            .as_array()
            .expect("subjects")
            .iter()
            .map(|s| {
                s["digest"]["sha256"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert!(!mine.is_empty());
        assert_eq!(subjects, mine, "run {run_id}");
        let expected = if p["restoreproof"]["outcome"] == "passed" {
            "PASSED"
        } else {
            "FAILED"
        };
        assert_eq!(p["verificationResult"], expected);
    }
}

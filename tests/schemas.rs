//! Machine output with a contract: every `--json` document names its
//! schema, and real outputs validate against the JSON Schemas published in
//! docs/schemas (checked with the Python `jsonschema` package, an
//! implementation independent of the agent).

use crate::util::{data, Agent, Bucket};
use serde_json::Value;
use std::path::Path;

/// Validates each `(schema file, document)` with `jsonschema`; panics with
/// every error. `RESTOREPROOF_TEST_DUMP=DIR` also writes the documents
/// there (to look at when a schema changes).
pub fn assert_valid(docs: &[(&str, Value)]) {
    if let Ok(dir) = std::env::var("RESTOREPROOF_TEST_DUMP") {
        for (i, (schema, doc)) in docs.iter().enumerate() {
            let name = format!("{dir}/{i:02}-{schema}.json");
            std::fs::write(name, serde_json::to_string_pretty(doc).expect("json")).expect("dump");
        }
    }
    let python = std::env::var("RESTOREPROOF_TEST_PYTHON")
        .expect("RESTOREPROOF_TEST_PYTHON (run the suite with scripts/test)");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas");
    let input: Value = docs
        .iter()
        .map(|(schema, doc)| serde_json::json!({"schema": schema, "doc": doc}))
        .collect();
    let script = r#"
import json, sys, pathlib
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
root = pathlib.Path(sys.argv[1])
schemas = {p.name[: -len(".schema.json")]: json.loads(p.read_text()) for p in root.glob("*.schema.json")}
for s in schemas.values():
    Draft202012Validator.check_schema(s)
registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
bad = 0
for item in json.load(sys.stdin):
    schema = schemas[item["schema"]]
    for e in Draft202012Validator(schema, registry=registry).iter_errors(item["doc"]):
        bad += 1
        print(f'{item["schema"]}: {"/".join(map(str, e.absolute_path))}: {e.message}'[:600])
sys.exit(1 if bad else 0)
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python with jsonschema");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        input.to_string().as_bytes(),
    )
    .expect("write");
    let out = child.wait_with_output().expect("jsonschema");
    assert!(
        out.status.success(),
        "outputs do not match their schemas:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn doc(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_document_and_evidence_record_matches_its_published_schema() {
    let b = Bucket::new("schemas").await;
    for i in 0..4u8 {
        b.put(&format!("k{i}"), &data(i, 5_000), None).await;
    }
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 4\ncoverage = \"30d\"\n[sinks.file]\nkind = \"file\"\npath = \"log/ocsf.jsonl\"\n",
    );
    let mut docs: Vec<(&str, Value)> = Vec::new();
    let plan = agent.run(&["drill", "d", "--plan", "--json"]).await;
    docs.push(("drill-plan", doc(&plan.stdout)));
    let drill = agent.drill(&[]).await;
    assert_eq!(drill.code, 0, "{}", drill.stderr);
    docs.push(("drill", drill.json()));
    for (schema, args) in [
        ("status", &["status", "--json"][..]),
        ("gate", &["gate", "--json"]),
        ("report", &["report", "--format", "json"]),
        ("validate", &["validate", "--json"]),
        ("ship", &["ship", "--once", "--json"]),
        ("verify", &["evidence", "verify", "--json"]),
        ("error", &["drill", "no-such-drill", "--json"]),
    ] {
        let r = agent.run(args).await;
        let d = doc(&r.stdout);
        assert_eq!(
            d["schema"],
            format!("restoreproof.{schema}/v1"),
            "{args:?} names its schema"
        );
        docs.push((schema, d));
    }
    let invalid = agent.dir.path().join("bad.toml");
    std::fs::write(&invalid, "[drills.x]\nsource = \"nope\"\n").expect("bad config");
    let r = tokio::process::Command::new(env!("CARGO_BIN_EXE_restoreproof"))
        .arg("--config")
        .arg(&invalid)
        .args(["validate", "--json"])
        .output()
        .await
        .expect("validate");
    docs.push(("validate", doc(&String::from_utf8_lossy(&r.stdout))));
    for e in agent.evidence() {
        docs.push(("evidence", e));
    }
    assert_valid(&docs);

    // The schemas are not vacuous: a document missing what they require, or
    // with a wrong type, is refused.
    let mut broken = drill.json();
    broken["summary"]
        .as_object_mut()
        .expect("summary")
        .remove("outcome");
    broken["samples"][0]["verdict"] = serde_json::json!("fine");
    let refused = std::panic::catch_unwind(|| assert_valid(&[("drill", broken)]));
    let message = *refused
        .expect_err("a broken document is refused")
        .downcast::<String>()
        .expect("message");
    assert!(
        message.contains("'outcome' is a required property"),
        "{message}"
    );
    assert!(message.contains("'fine' is not one of"), "{message}");
}

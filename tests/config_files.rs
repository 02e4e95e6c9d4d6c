//! Example configs parse; bad configs give the documented errors; secrets
//! never reach output, evidence or the ledger.

use crate::util::{data, Agent, Bucket};
use restoreproof::config::Config;

#[test]
fn every_example_config_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("config/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!c.drills.is_empty(), "{} has no drill", path.display());
        n += 1;
    }
    assert!(n >= 3, "expected the example configs in config/, found {n}");
}

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let p = dir.path().join("config.toml");
    std::fs::write(&p, text).expect("write");
    p
}

async fn validate(config: &std::path::Path, json: bool) -> (i32, String, String) {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_restoreproof"));
    c.arg("--config").arg(config).arg("validate");
    if json {
        c.arg("--json");
    }
    let o = c.output().await.expect("run");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn validate_reports_every_problem_with_its_key_path_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        &dir,
        r#"
[sources.prod]
kind = "s3"
bucket = "s3://Prod_Backups"
[drills.nightly]
source = "prod"
sample = "lots"
"#,
    );
    let (code, _, err) = validate(&p, false).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("drills.nightly.sample") || err.contains("not a sample size"),
        "{err}"
    );

    let p = write(
        &dir,
        r#"
[sources.prod]
kind = "s3"
bucket = "s3://Prod_Backups"
endpoint = "minio:9000"
[drills.nightly]
source = "prdo"
concurrency = 0
strategy = "newest"
seed = 4
"#,
    );
    let (code, _, err) = validate(&p, false).await;
    assert_eq!(code, 2);
    for want in [
        "5 problem(s)",
        "drills.nightly.seed: only the `uniform` strategy uses a seed",
        "sources.prod.bucket: is not a valid S3 bucket name",
        "sources.prod.endpoint: must be a URL",
        "drills.nightly.source: names `prdo`, which is not a configured source; configured: prod",
        "drills.nightly.concurrency: must be between 1 and 256",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let (code, out, _) = validate(&p, true).await;
    assert_eq!(code, 2);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["valid"], false);
    assert!(
        j["problems"].as_array().is_some_and(|p| p.len() >= 4),
        "{j}"
    );

    let p = write(&dir, "[sources.prod]\nkind = \"gcs\"\nbucket = \"b\"\n");
    let (code, _, err) = validate(&p, false).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("sources.prod.kind: `gcs` is not a source kind"),
        "{err}"
    );

    let (code, _, err) = validate(&dir.path().join("missing.toml"), false).await;
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read config file") && err.contains("--config"),
        "{err}"
    );

    let p = write(
        &dir,
        "[sources.b]\nkind = \"s3\"\nbucket = \"my-bucket\"\n[drills.d]\nsource = \"b\"\n",
    );
    let (code, out, _) = validate(&p, false).await;
    assert_eq!(code, 0);
    assert!(out.contains("valid"), "{out}");
}

#[tokio::test]
async fn validate_checks_that_this_host_can_use_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a-file"), "x").expect("file");
    let p = write(
        &dir,
        r#"
[ledger]
path = "a-file/ledger.sqlite3"
[evidence]
path = "log/evidence.jsonl"
[sources.b]
kind = "s3"
bucket = "my-bucket"
[drills.d]
source = "b"
scratch_dir = "scratch"
[sinks.siem]
kind = "syslog"
transport = "tls"
address = "siem.example.com:6514"
ca_file = "missing-ca.pem"
"#,
    );
    let (code, _, err) = validate(&p, false).await;
    assert_eq!(code, 2, "{err}");
    for want in [
        "sinks.siem.ca_file: cannot read ",
        "missing-ca.pem: No such file or directory",
        "ledger.path: cannot create ",
        "a-file is not a directory",
        // The signing key defaults to the ledger's directory.
        "evidence.signing_key: cannot create ",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // Nothing else: the evidence directory and scratch can be created.
    assert!(err.contains("3 problem(s)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_drills_and_sources_are_named_with_the_fix() {
    let agent = Agent::new("http://127.0.0.1:9", "bucket", "");
    let run = agent.run(&["drill", "nightly"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("no drill named `nightly` in the config; configured drills: d"),
        "{}",
        run.stderr
    );
    let run = agent.run(&["drill", "--source", "nope"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("configured sources: src"),
        "{}",
        run.stderr
    );
    let run = agent.run(&["drill", "d", "--sample", "0"]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("restores nothing"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_credentials_never_reach_logs_evidence_or_the_ledger() {
    let b = Bucket::new("secrets").await;
    b.put("x", &data(1, 10), None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    let key_id = "AKIASECRETKEYID0001";
    let secret = "s3cr3t/Value+that-must-not-leak";
    let text = std::fs::read_to_string(&agent.config).expect("read");
    let text = text.replace(
        "[drills.d]",
        &format!("[sources.src.credentials]\naccess_key_id = \"{key_id}\"\nsecret_access_key = \"{secret}\"\n[drills.d]"),
    );
    std::fs::write(&agent.config, text).expect("write");
    let run = agent.run(&["drill", "d", "--json", "-vv"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"),
        "verbose logging was on:\n{}",
        run.stderr
    );
    let evidence = std::fs::read_to_string(agent.path("log/evidence.jsonl")).expect("evidence");
    let ledger = std::fs::read(agent.path("state/ledger.sqlite3")).expect("ledger");
    let ledger = String::from_utf8_lossy(&ledger);
    for haystack in [&run.stdout, &run.stderr, &evidence, &ledger.to_string()] {
        assert!(!haystack.contains(secret), "secret leaked");
        assert!(!haystack.contains(key_id), "key id leaked");
    }
}

/// A SAS token pasted where the setting names a file or a variable, or a
/// token in any other setting, is refused without repeating it: before,
/// `validate` printed `cannot read sv=…&sig=…` and a `sas_env` holding the
/// token passed `validate` and the drill printed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_wrong_setting_is_refused_and_never_repeated() {
    let sas = "sv=2024-11-04&ss=b&srt=sco&sp=rl&se=2027-01-01T00:00:00Z&sig=AbCdEf0123456789xYzQ";
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVlLWhlcmU";
    let azure = |auth: &str| {
        format!(
            "[sources.az]\nkind = \"azure_blob\"\naccount_url = \"http://127.0.0.1:9/devstoreaccount1\"\ncontainer = \"c\"\n[sources.az.auth]\nmethod = \"sas\"\n{auth}\n[drills.d]\nsource = \"az\"\n"
        )
    };
    for (what, toml, secret) in [
        ("sas_file", azure(&format!("sas_file = \"{sas}\"")), sas),
        ("sas_env", azure(&format!("sas_env = \"{sas}\"")), sas),
        (
            "sample",
            format!("[sources.s]\nkind = \"s3\"\nbucket = \"b\"\n[drills.d]\nsource = \"s\"\nsample = \"{jwt}\"\n"),
            jwt,
        ),
    ] {
        let agent = crate::util::Agent::from_toml(&toml);
        for args in [&["validate"][..], &["validate", "--json"], &["drill", "d"]] {
            let run = agent.run(args).await;
            assert_eq!(run.code, 2, "{what} {args:?}: {}{}", run.stdout, run.stderr);
            let said = format!("{}{}", run.stdout, run.stderr);
            assert!(
                !said.contains(secret) && !said.contains("sig=") && !said.contains("eyJhbGci"),
                "{what} {args:?} repeats the token: {said}"
            );
            assert!(said.contains("not shown"), "{what} {args:?}: {said}");
        }
    }
}

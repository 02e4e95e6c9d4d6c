//! The command line as scripts and people use it: exit codes when the
//! reader of stdout goes away, and `--json` errors that still answer on
//! stdout.

use crate::util::{Agent, Bucket};
use std::process::Stdio;

/// Runs `args` with a stdout pipe whose reading end is closed before the
/// agent writes anything (as `| true`, or `| head` once it has its lines):
/// returns the exit code and stderr.
async fn with_reader_gone(agent: &Agent, args: &[&str]) -> (i32, String) {
    let mut cmd = agent.command(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().await.expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_output_never_the_exit_code() {
    let b = Bucket::new("pipes").await;
    for i in 0..3 {
        b.put(&format!("k{i}"), format!("data {i}").as_bytes(), None)
            .await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 3");
    // A drill that passes, then the reading commands over its ledger.
    for (args, code) in [
        (&["drill", "d"][..], 0),
        (&["drill", "d", "--json"], 0),
        (&["status"], 0),
        (&["status", "--json"], 0),
        (&["status", "--prometheus"], 0),
        (&["validate"], 0),
        (&["validate", "--json"], 0),
        (&["report"], 0),
        (&["report", "--format", "json"], 0),
        (&["evidence", "verify"], 0),
        (&["evidence", "verify", "--json"], 0),
        (&["--help"], 0),
        (&["completions", "bash"], 0),
        (&["manpage"], 0),
        (&["drill", "d", "--plan"], 0),
        // No sinks are configured: could not run.
        (&["ship", "--once"], 2),
        (&["ship", "--once", "--json"], 2),
        (&["drill", "no-such-drill"], 2),
        (&["drill", "no-such-drill", "--json"], 2),
    ] {
        let (got, stderr) = with_reader_gone(&agent, args).await;
        assert_eq!(got, code, "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
    // Posture's answer depends on the store's settings; whatever it is, it
    // is one of the documented codes, without a panic.
    let (got, stderr) = with_reader_gone(&agent, &["posture"]).await;
    assert!((0..=2).contains(&got), "posture: {got}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_answer_on_stdout() {
    let b = Bucket::new("json-errors").await;
    b.put("k", b"x", None).await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 1");
    for args in [
        &["drill", "no-such-drill", "--json"][..],
        &["status", "--json"],
        &["posture", "--source", "nope", "--json"],
        &[
            "evidence",
            "verify",
            "/nonexistent/evidence.jsonl",
            "--json",
        ],
    ] {
        let run = agent.run(args).await;
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: stdout {:?}", run.stdout));
        assert!(doc["error"].is_string(), "{args:?}: {doc}");
        assert_eq!(doc["exit_code"], 2, "{args:?}: {doc}");
        // People still read it on stderr.
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// Ages beyond 100 years are refused where they are read, with the
/// longest accepted: before, `report --since 100000000w` panicked
/// (exit 101) and such a filter passed `validate` and then panicked the
/// drill, leaving its run `running`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ages_too_long_for_the_calendar_are_refused_with_the_longest_accepted() {
    let agent = crate::util::Agent::new(
        "http://127.0.0.1:9",
        "bkt",
        "[drills.d.filter]\nmax_age = \"100000000w\"\n",
    );
    let validate = agent.run(&["validate"]).await;
    assert_eq!(validate.code, 2, "{}{}", validate.stdout, validate.stderr);
    let said = format!("{}{}", validate.stdout, validate.stderr);
    assert!(
        said.contains("drills.d.filter.max_age") && said.contains("longest age"),
        "{said}"
    );
    let fine = crate::util::Agent::new("http://127.0.0.1:9", "bkt", "");
    let cases: [&[&str]; 3] = [
        &["report", "--since", "100000000w"],
        &["report", "--since", "99999999d"],
        &["evidence", "attest", "--since", "100000000w"],
    ];
    for args in cases {
        let run = fine.run(args).await;
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("longest age"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

/// Every relative link and anchor of the repository's Markdown resolves
/// (scripts/check-links, which CI also runs), and the check does catch a
/// missing file and a missing anchor.
#[test]
fn every_link_and_anchor_in_the_docs_resolves() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = repo.join("scripts/check-links");
    let ok = std::process::Command::new("python3")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("a.md"), "# Top\n\n## Two words\n\n[ok](#two-words) [bad](#three) [gone](missing.md) [out](https://example.com)\n").expect("write");
    let bad = std::process::Command::new("python3")
        .arg(&script)
        .arg(tmp.path())
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success());
    assert!(
        text.contains("a.md:5: #three") && text.contains("missing.md does not exist"),
        "{text}"
    );
    assert!(
        !text.contains("#two-words") && !text.contains("example.com"),
        "{text}"
    );
}

/// A ledger the user may not read gets a message that says so and what to
/// do (sudo), not SQLite's words about creating a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_the_user_may_not_read_is_named_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let b = crate::util::Bucket::new("cli-perm").await;
    b.put("k", b"bytes", None).await;
    let agent = crate::util::Agent::new(&crate::util::endpoint(), &b.name, "");
    assert_eq!(agent.drill(&[]).await.code, 0);
    let set = |p: std::path::PathBuf, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    set(agent.path(""), 0o755);
    set(agent.path("config.toml"), 0o644);
    set(agent.path("state"), 0o755);
    set(agent.path("state/ledger.sqlite3"), 0o600);
    let out = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_restoreproof"))
        .arg("--config")
        .arg(agent.path("config.toml"))
        .arg("status")
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("permission denied")
            && err.contains("run the command with sudo")
            && !err.contains("create the file"),
        "{err}"
    );
}

/// `validate --connect` reaches every source as a drill would — lists it
/// and reads one recovery point's attributes — and names what is wrong:
/// an endpoint that does not answer, a bucket or container that does not
/// exist; an unreachable source exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_connect_reaches_every_source_and_names_what_fails() {
    let b = crate::util::Bucket::new("connect").await;
    b.put("k", b"bytes", None).await;
    let c = crate::azure::Container::new("connect").await;
    c.put("blob", b"bytes").await;
    let endpoint = crate::util::endpoint();
    let agent = crate::util::Agent::from_toml(&format!(
        "[sources.good]\nkind = \"s3\"\nbucket = \"{}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         [sources.missing]\nkind = \"s3\"\nbucket = \"no-such-bucket-{}\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         [sources.down]\nkind = \"s3\"\nbucket = \"bkt\"\nendpoint = \"http://127.0.0.1:9\"\nregion = \"us-east-1\"\n{}",
        b.name,
        &b.name[b.name.len() - 8..],
        c.source_toml("az")
    ));
    let run = agent.run(&["validate", "--connect", "--json"]).await;
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let doc = run.json();
    let row = |name: &str| {
        doc["sources_reached"]
            .as_array()
            .expect("sources_reached")
            .iter()
            .find(|r| r["source"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {doc}"))
    };
    assert_eq!(row("good")["ok"], true, "{}", row("good"));
    assert!(row("good")["detail"]
        .as_str()
        .unwrap_or("")
        .contains("read the attributes of k"));
    assert_eq!(row("az")["ok"], true, "{}", row("az"));
    let missing = row("missing");
    assert_eq!(missing["ok"], false);
    assert!(
        missing["detail"]
            .as_str()
            .unwrap_or("")
            .contains("does not exist"),
        "{missing}"
    );
    let down = row("down");
    assert_eq!(down["ok"], false);
    assert!(
        down["detail"]
            .as_str()
            .unwrap_or("")
            .contains("check endpoint, region and the network"),
        "{down}"
    );
    crate::schemas::assert_valid(&[("validate", doc.clone())]);
    let text = agent.run(&["validate", "--connect"]).await;
    assert!(
        text.stdout.contains("sources.down:") && text.stdout.contains("UNREACHABLE"),
        "{}",
        text.stdout
    );
}

/// On a terminal, a log line written while the progress bar is drawn gets
/// a line of its own: the bar is cleared, the line written, the bar drawn
/// again (run under a pseudo-terminal with `script`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_during_a_drill_never_lands_inside_the_progress_bar() {
    use restoreproof_testkit::{Fault, Rule};
    let b = crate::util::Bucket::new("cli-bar").await;
    for k in ["a", "b", "c"] {
        b.put(k, &crate::util::data(k.as_bytes()[0], 20_000), None)
            .await;
    }
    // The first restore stalls (the bar is drawn meanwhile), the next one
    // meets a transient error, which is logged as a WARN and retried.
    b.proxy.add(
        Rule::get(
            "versionId=",
            Fault::Stall(std::time::Duration::from_millis(1500)),
        )
        .times(1),
    );
    b.proxy
        .add(Rule::get("versionId=", Fault::Status(503, "SlowDown")).times(1));
    let agent = crate::util::Agent::new(&b.proxy.url(), &b.name, "sample = 3\nconcurrency = 1");
    let cmd = format!(
        "{} --config {} drill d --no-ship",
        env!("CARGO_BIN_EXE_restoreproof"),
        agent.config.display()
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("trying again"), "the warning: {text}");
    assert!(text.contains("restored"), "the bar was drawn: {text}");
    for segment in text.split(['\r', '\n']) {
        assert!(
            !(segment.contains("WARN")
                && (segment.contains("restored") || segment.contains("ETA"))),
            "a log line inside the bar: {segment:?}"
        );
    }
}

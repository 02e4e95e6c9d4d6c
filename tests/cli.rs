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

//! `restoreproof run` as a real process against moto: drills on a
//! seconds-level schedule, sd_notify readiness and watchdog (a datagram
//! socket named in `NOTIFY_SOCKET`, as systemd provides), the metrics file,
//! `status`, SIGHUP with a valid and an invalid config, and SIGTERM with
//! restores in flight.

use crate::util::{data, read_jsonl, wait_for, Agent, Bucket};
use restoreproof_testkit::{Fault, Rule};
use serde_json::Value;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Collects what the daemon tells "systemd".
struct Notifications {
    path: std::path::PathBuf,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Notifications {
    fn listen(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind notify socket");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                out.lock()
                    .expect("lock")
                    .extend(msg.lines().map(str::to_owned));
            }
        });
        Self { path, seen }
    }

    fn has(&self, line: &str) -> bool {
        self.seen.lock().expect("lock").iter().any(|l| l == line)
    }

    fn count(&self, line: &str) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|l| *l == line)
            .count()
    }
}

fn runs(agent: &Agent, drill: &str, status: &str) -> i64 {
    if !agent.path("state/ledger.sqlite3").exists() {
        return 0;
    }
    agent
        .ledger()
        .query_row(
            "SELECT COUNT(*) FROM runs WHERE drill = ?1 AND status = ?2",
            [drill, status],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

fn log(agent: &Agent) -> String {
    std::fs::read_to_string(agent.path("daemon.log")).unwrap_or_default()
}

pub fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("pid").to_string();
    let ok = std::process::Command::new("kill")
        .args(["-s", sig, &pid])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -s {sig} {pid}");
}

fn start(agent: &Agent, notify: &Notifications) -> tokio::process::Child {
    let log = std::fs::File::create(agent.path("daemon.log")).expect("log");
    agent
        .command(&["run"])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn restoreproof run")
}

const DAEMON: &str = "\n[daemon]\nheartbeat_interval = \"1s\"\nshutdown_timeout = \"20s\"\nmetrics_file = \"metrics/restoreproof.prom\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_drills_on_schedule_reloads_and_reports_health() {
    let b = Bucket::new("daemon").await;
    for i in 0..3u8 {
        b.put(&format!("obj-{i}"), &data(i, 50_000), None).await;
    }
    let drill = format!("sample = 2\nschedule = \"*/2 * * * * *\"\n{DAEMON}");
    let agent = Agent::new(&b.proxy.url(), &b.name, &drill);
    let notify = Notifications::listen(agent.dir.path());
    let mut child = start(&agent, &notify);

    wait_for("READY=1", 30, || notify.has("READY=1")).await;
    wait_for("two completed runs", 30, || {
        runs(&agent, "d", "completed") >= 2
    })
    .await;
    wait_for("a watchdog ping", 10, || notify.has("WATCHDOG=1")).await;
    let text = log(&agent);
    assert!(text.contains("Next run scheduled."), "{text}");
    assert!(text.contains("drill=d"), "{text}");

    // Metrics for node_exporter's textfile collector.
    let metrics_path = agent.path("metrics/restoreproof.prom");
    wait_for("the metrics file", 10, || metrics_path.exists()).await;
    let wanted = [
        "restoreproof_daemon_up 1",
        "restoreproof_drill_last_run_success{drill=\"d\"} 1",
        "restoreproof_drill_last_run_samples{drill=\"d\",verdict=\"verified\"} 2",
        "# TYPE restoreproof_drill_last_run_timestamp_seconds gauge",
        "restoreproof_drill_next_run_timestamp_seconds{drill=\"d\"}",
        "restoreproof_drill_last_run_throughput_bytes_per_second{drill=\"d\"}",
    ];
    // The file is rewritten at every heartbeat and after every run.
    wait_for("every metric", 10, || {
        let m = std::fs::read_to_string(&metrics_path).unwrap_or_default();
        wanted.iter().all(|w| m.contains(w))
    })
    .await;
    // Prometheus's own linter finds nothing wrong with the real file.
    let metrics = std::fs::read(&metrics_path).expect("metrics");
    crate::util::assert_promtool_clean(&metrics);
    let m = String::from_utf8_lossy(&metrics);
    for w in [
        "restoreproof_build_info{version=",
        "restoreproof_drill_runs_total{drill=\"d\",outcome=\"passed\"}",
        "restoreproof_drill_samples_total{drill=\"d\",verdict=\"verified\"}",
        "restoreproof_drill_last_success_timestamp_seconds{drill=\"d\"}",
    ] {
        assert!(m.contains(w), "{w} in {m}");
    }

    // Status, for people and machines.
    let status = agent.run(&["status", "--json"]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    let s: Value = serde_json::from_str(&status.stdout).expect("status json");
    assert_eq!(s["daemon"]["fresh"], true, "{s}");
    assert_eq!(s["daemon"]["state"], "running", "{s}");
    let d = &s["drills"][0];
    assert_eq!(d["name"], "d");
    assert_eq!(d["schedule"], "*/2 * * * * *");
    assert!(d["next_run"].is_string(), "{d}");
    assert!(d["last_run"]["verdicts"].is_object(), "{d}");
    let text = agent.run(&["status"]).await;
    assert!(
        text.stdout.contains("daemon: running on"),
        "{}",
        text.stdout
    );
    // The drill's row: its last run passed with two verified samples.
    let row = text
        .stdout
        .lines()
        .find(|l| l.starts_with("d "))
        .unwrap_or_else(|| panic!("no row for drill d:\n{}", text.stdout));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cols[1], cols[3]), ("passed", "2"), "{row}");

    // SIGHUP with an invalid config: refused, the running one kept.
    let good = std::fs::read_to_string(&agent.config).expect("config");
    std::fs::write(
        &agent.config,
        good.replace("schedule = \"*/2 * * * * *\"", "schedule = \"every night\""),
    )
    .expect("write bad config");
    signal(&child, "HUP");
    wait_for("the refused reload in the log", 10, || {
        log(&agent).contains("Reload refused; keeping the running configuration")
    })
    .await;
    assert!(log(&agent).contains("drills.d.schedule"), "{}", log(&agent));
    let before = runs(&agent, "d", "completed");
    wait_for("runs to go on with the old config", 20, || {
        runs(&agent, "d", "completed") > before
    })
    .await;

    // SIGHUP with a valid config that adds a drill.
    std::fs::write(
        &agent.config,
        format!("{good}\n[drills.e]\nsource = \"src\"\nsample = 1\nschedule = \"*/3 * * * * *\"\n"),
    )
    .expect("write new config");
    signal(&child, "HUP");
    wait_for("the new drill to run", 30, || {
        runs(&agent, "e", "completed") >= 1
    })
    .await;
    assert!(log(&agent).contains("drill=e"), "{}", log(&agent));
    assert!(notify.has("RELOADING=1"));
    assert!(
        notify.count("READY=1") >= 3,
        "ready again after each reload"
    );

    // SIGTERM: a clean stop.
    signal(&child, "TERM");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stopped within 30 s")
        .expect("wait");
    assert!(exit.success(), "{exit:?}\n{}", log(&agent));
    assert!(notify.has("STOPPING=1"));

    let events = read_jsonl(&agent.path("log/evidence.jsonl"));
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "every event once, in order"
    );
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"daemon_started"));
    // The stop event, then the checkpoint that covers it.
    assert_eq!(kinds[kinds.len() - 2..], ["daemon_stopped", "checkpoint"]);
    let reloads: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "config_reloaded")
        .collect();
    assert_eq!(reloads.len(), 2, "{reloads:?}");
    assert_eq!(reloads[0]["outcome"], "refused");
    assert_eq!(reloads[1]["outcome"], "applied");
    // Every lifecycle event, verdict, run summary and checkpoint as OCSF.
    crate::util::assert_ocsf_conforms(&events);
    assert_eq!(
        runs(&agent, "d", "running") + runs(&agent, "e", "running"),
        0
    );

    let after = agent.run(&["status", "--json"]).await;
    let s: Value = serde_json::from_str(&after.stdout).expect("status json");
    assert_eq!(s["daemon"]["state"], "stopped", "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_restores_in_flight_at_the_deadline_and_records_them_aborted() {
    let b = Bucket::new("daemon-stop").await;
    for i in 0..4u8 {
        b.put(&format!("obj-{i}"), &data(i, 10_000), None).await;
    }
    // Every restore stalls, so restores are in flight when SIGTERM comes.
    b.proxy
        .add(Rule::get("obj-", Fault::Stall(Duration::from_secs(120))));
    let drill = "sample = 4\nconcurrency = 2\nschedule = \"* * * * * *\"\n\
                 [daemon]\nshutdown_timeout = \"1s\"\n";
    let agent = Agent::new(&b.proxy.url(), &b.name, drill);
    let notify = Notifications::listen(agent.dir.path());
    let mut child = start(&agent, &notify);
    wait_for("two restores in flight", 30, || {
        b.proxy.hits().iter().filter(|h| h.contains("obj-")).count() >= 2
    })
    .await;
    let stopped_at = std::time::Instant::now();
    signal(&child, "TERM");
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("stopped")
        .expect("wait");
    let took = stopped_at.elapsed();
    assert!(exit.success(), "{exit:?}\n{}", log(&agent));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "stopped after {took:?}; the deadline is 1 s"
    );
    assert!(
        log(&agent).contains("Shutdown timeout passed"),
        "{}",
        log(&agent)
    );

    let ledger = agent.ledger();
    let (status, summary): (String, String) = ledger
        .query_row(
            "SELECT status, summary FROM runs WHERE drill = 'd'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("one run");
    assert_eq!(status, "aborted");
    let summary: Value = serde_json::from_str(&summary).expect("summary");
    assert_eq!(summary["counts"]["aborted"], 2, "{summary}");
    assert_eq!(summary["counts"]["verified"], 0, "{summary}");
    assert_eq!(summary["not_started"], 2, "{summary}");
    let verdicts: Vec<String> = {
        let mut stmt = ledger
            .prepare("SELECT verdict FROM samples")
            .expect("prepare");
        let rows = stmt.query_map([], |r| r.get(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    };
    assert_eq!(verdicts, vec!["aborted", "aborted"], "never verified");
    let events = read_jsonl(&agent.path("log/evidence.jsonl"));
    let aborted: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "sample_verdict" && e["verdict"] == "aborted")
        .collect();
    assert_eq!(aborted.len(), 2);
    assert!(aborted[0]["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("shutdown deadline"));
    let stopped = &events[events.len() - 2];
    assert_eq!(stopped["kind"], "daemon_stopped");
    assert_eq!(stopped["restores_cancelled"], true);
    assert_eq!(events[events.len() - 1]["kind"], "checkpoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_refuses_a_config_without_schedules_and_status_names_a_missing_ledger() {
    let b = Bucket::new("daemon-none").await;
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 1");
    let r = agent.run(&["run"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("nothing has a schedule (no drill, [posture], [patch] or canary)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("schedule = \\\"0 3 * * *\\\"")
            || r.stderr.contains("schedule = \"0 3 * * *\""),
        "{}",
        r.stderr
    );
    let s = agent.run(&["status"]).await;
    assert_eq!(s.code, 2);
    assert!(s.stderr.contains("no ledger at"), "{}", s.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_file_the_daemon_cannot_write_shows_in_status() {
    let b = Bucket::new("daemon-metrics").await;
    b.put("k", b"x", None).await;
    let drill = "sample = 1\nschedule = \"0 3 * * *\"\n[daemon]\nheartbeat_interval = \"1s\"\nmetrics_file = \"blocker/restoreproof.prom\"\n";
    let agent = Agent::new(&b.proxy.url(), &b.name, drill);
    let notify = Notifications::listen(agent.dir.path());
    let mut child = start(&agent, &notify);
    wait_for("READY=1", 30, || notify.has("READY=1")).await;
    // Once running, the metrics file's directory becomes a regular file: no
    // write can succeed (a service that starts with it is refused, as
    // `validate` refuses it).
    // The daemon may create the directory again between the two steps (its
    // heartbeat writes the file each second): try until the file stands.
    let mut placed = false;
    for _ in 0..50 {
        let _ = std::fs::remove_dir_all(agent.path("blocker"));
        if std::fs::write(agent.path("blocker"), "not a directory").is_ok() {
            placed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        placed,
        "could not put a file where the metrics directory was"
    );
    let mut last = String::new();
    wait_for("the problem in status", 20, || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_restoreproof"))
            .arg("--config")
            .arg(&agent.config)
            .arg("status")
            .output()
            .expect("status");
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.code() == Some(1)
            && last.contains("daemon: PROBLEM: cannot write the metrics file")
            && last.contains("ReadWritePaths=")
    })
    .await;
    assert!(last.contains("blocker/restoreproof.prom"), "{last}");
    signal(&child, "TERM");
    let _ = child.wait().await;
}

/// Runs `drill d`, waits until the proxy saw a request containing `needle`
/// (the faulted request is in flight), sends `sig`, and returns the exit
/// code and stderr.
async fn drill_stopped_by(
    agent: &Agent,
    b: &Bucket,
    needle: &str,
    sig: &str,
) -> (Option<i32>, String) {
    let child = agent
        .command(&["drill", "d", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for(needle, 30, || {
        b.proxy.hits().iter().any(|h| h.contains(needle))
    })
    .await;
    signal(&child, sig);
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("stopped")
        .expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_drill_stopped_by_sigterm_records_its_restores_in_flight_as_aborted() {
    // SIGHUP (a closed terminal) stops a one-shot drill as SIGTERM does.
    for sig in ["TERM", "HUP"] {
        let b = Bucket::new("drill-stop").await;
        for i in 0..3u8 {
            b.put(&format!("obj-{i}"), &data(i, 10_000), None).await;
        }
        b.proxy
            .add(Rule::get("obj-", Fault::Stall(Duration::from_secs(120))));
        let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 3\nconcurrency = 1");
        let (code, stderr) = drill_stopped_by(&agent, &b, "obj-", sig).await;
        assert_eq!(code, Some(2), "{sig}: {stderr}");
        assert!(
            stderr.contains("1 recovery point(s) were cancelled and 2 not started"),
            "{sig}: {stderr}"
        );
        let (status, verdict): (String, String) = agent
            .ledger()
            .query_row(
                "SELECT r.status, s.verdict FROM runs r JOIN samples s ON s.run_id = r.run_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("one run, one sample");
        assert_eq!(
            (status.as_str(), verdict.as_str()),
            ("aborted", "aborted"),
            "{sig}"
        );
    }
}

/// Stopped while listing: exit 2 ("stopped before it finished"), not the
/// exit 1 and advice of a drill that found nothing to restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_shot_drill_stopped_while_listing_exits_2() {
    let b = Bucket::new("list-stop").await;
    b.put("obj", &data(1, 1000), None).await;
    b.proxy.add(Rule::any(
        "versions",
        Fault::Stall(Duration::from_secs(120)),
    ));
    let agent = Agent::new(&b.proxy.url(), &b.name, "");
    let (code, stderr) = drill_stopped_by(&agent, &b, "versions", "TERM").await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("stopped before it finished"), "{stderr}");
    assert!(!stderr.contains("restored nothing"), "{stderr}");
    let status: String = agent
        .ledger()
        .query_row("SELECT status FROM runs", [], |r| r.get(0))
        .expect("run");
    assert_eq!(status, "aborted");
}

/// A secret on a broken line of a reloaded config must reach neither the
/// evidence (ledger, evidence file, sinks) nor the logs: parser messages
/// give line, column and key path, never the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_on_a_broken_line_never_reaches_evidence_or_logs() {
    const SECRET: &str = "S3CR3T-never-in-evidence";
    let b = Bucket::new("secret-reload").await;
    b.put("obj", &data(1, 1000), None).await;
    let drill = format!(
        "sample = 1\nschedule = \"*/2 * * * * *\"\n{DAEMON}\n[sinks.siem]\nkind = \"file\"\npath = \"siem/events.jsonl\"\n[sources.src.credentials]\naccess_key_id = \"testing\"\nsecret_access_key = \"{SECRET}\"\n"
    );
    let agent = Agent::new(&b.proxy.url(), &b.name, &drill);
    let notify = Notifications::listen(agent.dir.path());
    let mut child = start(&agent, &notify);
    wait_for("READY=1", 30, || notify.has("READY=1")).await;
    wait_for("a completed run", 30, || {
        runs(&agent, "d", "completed") >= 1
    })
    .await;

    // The closing quote is lost: the line with the secret no longer parses.
    let good = std::fs::read_to_string(&agent.config).expect("config");
    let broken = good.replace(&format!("\"{SECRET}\""), &format!("\"{SECRET}"));
    assert_ne!(good, broken);
    std::fs::write(&agent.config, &broken).expect("write");
    let validate = agent.run(&["validate"]).await;
    assert_eq!(validate.code, 2);
    assert!(
        validate.stderr.contains("line ") && validate.stderr.contains("sources.src.credentials"),
        "{}",
        validate.stderr
    );
    signal(&child, "HUP");
    wait_for("the refused reload in the evidence", 20, || {
        read_jsonl(&agent.path("log/evidence.jsonl"))
            .iter()
            .any(|e| e["kind"] == "config_reloaded" && e["outcome"] == "refused")
    })
    .await;
    // The refusal is shipped too.
    wait_for("the refusal at the sink", 20, || {
        std::fs::read_to_string(agent.path("siem/events.jsonl"))
            .unwrap_or_default()
            .contains("config_reloaded")
    })
    .await;
    signal(&child, "TERM");
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stopped")
        .expect("wait");

    let mut places = vec![
        ("validate stderr", validate.stderr.into_bytes()),
        ("validate stdout", validate.stdout.into_bytes()),
        ("daemon log", log(&agent).into_bytes()),
    ];
    for f in [
        "log/evidence.jsonl",
        "siem/events.jsonl",
        "state/ledger.sqlite3",
        "state/ledger.sqlite3-wal",
    ] {
        places.push((f, std::fs::read(agent.path(f)).unwrap_or_default()));
    }
    for (what, bytes) in &places {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret leaked into {what}"
        );
    }
    let refused = read_jsonl(&agent.path("log/evidence.jsonl"))
        .into_iter()
        .find(|e| e["kind"] == "config_reloaded")
        .expect("refusal");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("line "),
        "{refused}"
    );
}

/// The `gate_changed` events of the evidence file, as (ok, previous).
fn gate_events(agent: &Agent) -> Vec<(Value, Value)> {
    agent
        .evidence()
        .into_iter()
        .filter(|e| e["kind"] == "gate_changed")
        .map(|e| (e["ok"].clone(), e["previous"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_records_each_gate_change_once_and_exposes_the_gate() {
    let b = Bucket::new("daemon-gate").await;
    for i in 0..3u8 {
        b.put(&format!("obj-{i}"), &data(i, 1000), None).await;
    }
    // Runs every 2 s; the gate wants a passed run within 5 s.
    let drill = format!(
        "sample = 3\nschedule = \"*/2 * * * * *\"\n[drills.d.gate]\nmax_age = \"5s\"\n{DAEMON}"
    );
    let agent = Agent::new(&b.proxy.url(), &b.name, &drill);
    let notify = Notifications::listen(agent.dir.path());
    let mut child = start(&agent, &notify);

    // Before any run: red (the drill has no evidence yet).
    wait_for("the first judgement (red)", 30, || {
        !gate_events(&agent).is_empty()
    })
    .await;
    // A passed run turns it green.
    wait_for("green", 30, || gate_events(&agent).len() >= 2).await;
    // Every restore now fails: after 5 s without a passed run it turns red.
    b.proxy.add(Rule::get("obj-", Fault::FlipByte(3)));
    wait_for("red again", 40, || gate_events(&agent).len() >= 3).await;
    let m = agent.run(&["status", "--prometheus"]).await;
    assert!(
        m.stdout.contains("restoreproof_gate_ok{drill=\"d\"} 0"),
        "{}",
        m.stdout
    );
    let status = agent.run(&["status"]).await;
    assert!(
        status
            .stdout
            .contains("d: GATE RED: no passed run within 5s"),
        "{}",
        status.stdout
    );
    // Restores pass again: green once more.
    b.proxy.clear();
    wait_for("green again", 40, || gate_events(&agent).len() >= 4).await;
    // Several heartbeats later, nothing more was recorded: once per change.
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal(&child, "TERM");
    let _ = child.wait().await;
    let events = gate_events(&agent);
    assert_eq!(
        events,
        vec![
            (Value::Bool(false), Value::Null),
            (Value::Bool(true), Value::Bool(false)),
            (Value::Bool(false), Value::Bool(true)),
            (Value::Bool(true), Value::Bool(false)),
        ],
        "{}",
        log(&agent)
    );
    let m = agent.run(&["status", "--prometheus"]).await;
    assert!(
        m.stdout.contains("restoreproof_gate_ok{drill=\"d\"} 1"),
        "{}",
        m.stdout
    );
    // Each change reads as a Compliance Finding in OCSF 1.3.0.
    let records: Vec<Value> = agent
        .evidence()
        .into_iter()
        .filter(|e| e["kind"] == "gate_changed")
        .collect();
    crate::util::assert_ocsf_conforms(&records);
    // And matches the published schema of the native record.
    let docs: Vec<(&str, Value)> = records.into_iter().map(|e| ("evidence", e)).collect();
    crate::schemas::assert_valid(&docs);
}

/// The service over an Azurite container, its SAS read from `sas.txt`
/// beside the config, a drill every 2 s; returns once a run completed.
async fn azure_service_with_a_sas_file(
    test: &str,
) -> (
    crate::azure::Container,
    Agent,
    Notifications,
    tokio::process::Child,
) {
    let c = crate::azure::Container::new(test).await;
    c.put("x.bin", &data(1, 1000)).await;
    let source = c
        .source_toml("az")
        .replace("sas_env = \"RP_TEST_AZURE_SAS\"", "sas_file = \"sas.txt\"");
    let agent = Agent::from_toml(&format!(
        "{source}[drills.d]\nsource = \"az\"\nschedule = \"*/2 * * * * *\"\n{DAEMON}"
    ));
    std::fs::write(agent.path("sas.txt"), crate::azure::account_sas()).expect("sas");
    let notify = Notifications::listen(agent.dir.path());
    let child = start(&agent, &notify);
    wait_for("a completed run", 30, || {
        runs(&agent, "d", "completed") >= 1
    })
    .await;
    (c, agent, notify, child)
}

/// A scheduled fire whose source cannot be set up (here the SAS file was
/// removed after the service started) is a run of its own with status
/// `error` and the reason — in the ledger, the evidence chain and
/// `status` (exit 1) — never a silent skip that status, the gate and the
/// metrics would not see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_whose_source_cannot_be_set_up_is_a_run_with_status_error() {
    let (_c, agent, _notify, mut child) = azure_service_with_a_sas_file("unrunnable").await;
    std::fs::remove_file(agent.path("sas.txt")).expect("remove the SAS file");
    wait_for("a run with status error", 30, || {
        runs(&agent, "d", "error") >= 1
    })
    .await;
    signal(&child, "TERM");
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;

    let summary: String = agent
        .ledger()
        .query_row(
            "SELECT summary FROM runs WHERE drill = 'd' AND status = 'error' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("the error run's summary");
    let summary: Value = serde_json::from_str(&summary).expect("json");
    let error = summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("cannot set up the source `az`") && error.contains("sas.txt"),
        "{summary}"
    );
    assert_eq!(summary["outcome"], "error", "{summary}");
    // In the hash-chained evidence, and the chain is intact.
    let recorded = agent.evidence().into_iter().any(|e| {
        e["kind"] == "run_summary"
            && e["status"] == "error"
            && e["error"]
                .as_str()
                .is_some_and(|m| m.contains("cannot set up the source"))
    });
    assert!(recorded, "{:?}", agent.evidence());
    let verify = agent.run(&["evidence", "verify"]).await;
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let status = agent.run(&["status"]).await;
    assert_eq!(status.code, 1, "{}", status.stdout);
    assert!(status.stdout.contains("error"), "{}", status.stdout);
    // Exit 1 comes with a line saying why.
    assert!(
        status.stderr.contains("status: unhealthy: drill")
            && status.stderr.contains("last run ended error"),
        "{}",
        status.stderr
    );
    // No secret in the reason or the log.
    let sig = crate::azure::account_sas();
    let sig = sig.split("sig=").nth(1).unwrap_or_default();
    assert!(!log(&agent).contains(sig) && !error.contains(sig));
}

/// Reload takes the path `validate` takes: a SAS file that cannot be read
/// is refused (recorded `config_reloaded` with outcome `refused` and the
/// problem) and the running configuration keeps running; before, the
/// reload was applied and every later fire was skipped without a record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_validate_refuses_is_refused_and_the_running_config_kept() {
    let (_c, agent, _notify, mut child) = azure_service_with_a_sas_file("reload-refused").await;
    let config = std::fs::read_to_string(&agent.config).expect("config");
    std::fs::write(&agent.config, config.replace("sas.txt", "missing-sas.txt")).expect("edit");
    let validate = agent.run(&["validate"]).await;
    assert_eq!(validate.code, 2, "{}", validate.stdout);
    signal(&child, "HUP");
    let refused = refused_reload(&agent).await;
    let why = refused["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("sources.az.auth.sas_file") && why.contains("missing-sas.txt"),
        "{refused}"
    );
    // The running configuration goes on: more completed runs, no error run.
    let before = runs(&agent, "d", "completed");
    wait_for("two more completed runs", 30, || {
        runs(&agent, "d", "completed") >= before + 2
    })
    .await;
    assert_eq!(runs(&agent, "d", "error"), 0);
    signal(&child, "TERM");
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
}

/// A token pasted into a setting of a reloaded config is never repeated in
/// the refused reload's record (hash-chained and shipped) nor in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reload_never_repeats_a_token_from_the_config() {
    let b = Bucket::new("reload-token").await;
    b.put("k", b"x", None).await;
    let drill = format!("sample = 1\nschedule = \"*/2 * * * * *\"\n{DAEMON}");
    let agent = Agent::new(&b.proxy.url(), &b.name, &drill);
    let notify = Notifications::listen(agent.dir.path());
    let mut child = start(&agent, &notify);
    wait_for("READY=1", 30, || notify.has("READY=1")).await;
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVlLWhlcmU";
    let config = std::fs::read_to_string(&agent.config).expect("config");
    std::fs::write(
        &agent.config,
        config.replace("sample = 1", &format!("sample = \"{jwt}\"")),
    )
    .expect("edit");
    signal(&child, "HUP");
    let refused = refused_reload(&agent).await;
    signal(&child, "TERM");
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    let why = refused["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("drills.d.sample") && why.contains("not shown"),
        "{refused}"
    );
    let evidence = std::fs::read_to_string(agent.path("log/evidence.jsonl")).expect("evidence");
    assert!(!evidence.contains(jwt), "the token is in the evidence");
    assert!(!log(&agent).contains(jwt), "the token is in the log");
}

/// Waits for the service's first refused reload and returns its record.
async fn refused_reload(agent: &Agent) -> Value {
    let find = || {
        agent
            .evidence()
            .into_iter()
            .find(|e| e["kind"] == "config_reloaded" && e["outcome"] == "refused")
    };
    wait_for("a refused reload", 20, || find().is_some()).await;
    find().expect("refused")
}

/// The alerting rules shipped in packaging/prometheus pass `promtool check
/// rules` and their unit tests (`promtool test rules`), and name only
/// metric families the agent exports.
#[test]
fn the_alerting_rules_check_and_pass_their_unit_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts-test.yml"],
    ] {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool (Debian's prometheus package; scripts/test installs it)");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).expect("alerts.yml");
    let exported = include_str!("../agent/src/daemon/status/prometheus.rs");
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("restoreproof_") {
            named += 1;
            assert!(
                exported.contains(&format!("\"{word}\"")),
                "{word} is not a metric restoreproof exports"
            );
        }
    }
    assert!(named >= 7, "{named}");
}

/// `GET` over a fresh connection: (status code, body).
async fn http_get(addr: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).await.expect("read");
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// `[daemon] metrics_listen`: the service answers /metrics with the same
/// families as the metrics file (Prometheus's linter finds nothing wrong)
/// and /healthz with 200; anything else is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_serves_metrics_and_health_over_http() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let b = Bucket::new("metrics-http").await;
    b.put("k", &crate::util::data(1, 100), None).await;
    let agent = Agent::new(
        &b.proxy.url(),
        &b.name,
        &format!("schedule = \"0 0 3 * * *\"\n[daemon]\nmetrics_listen = \"{addr}\"\nheartbeat_interval = \"1s\""),
    );
    let drill = agent.drill(&[]).await;
    assert_eq!(drill.code, 0, "{}", drill.stderr);
    let mut child = agent.spawn_service();
    let mut metrics = (0, String::new());
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            metrics = http_get(&addr, "/metrics").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metrics.0, 200, "{}", metrics.1);
    assert!(
        metrics
            .1
            .contains("restoreproof_drill_last_run_success{drill=\"d\"} 1"),
        "{}",
        metrics.1
    );
    crate::util::assert_promtool_clean(metrics.1.as_bytes());
    assert_eq!(http_get(&addr, "/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(http_get(&addr, "/other").await.0, 404);
    signal(&child, "TERM");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stopped within 30 s")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
}

/// The Grafana dashboard queries only metric families the agent exports,
/// with label names they carry, in PromQL that promtool accepts.
#[test]
fn the_grafana_dashboard_queries_exported_families_in_valid_promql() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("packaging/grafana/restoreproof.json"))
        .expect("packaging/grafana/restoreproof.json");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dash["uid"], "restoreproof");
    let exported = include_str!("../agent/src/daemon/status/prometheus.rs");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut exprs = 0;
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("restoreproof_") {
                    assert!(
                        exported.contains(&format!("\"{word}\"")),
                        "{word} is not exported"
                    );
                }
            }
            exprs += 1;
            rules.push_str(&format!(
                "      - record: dashboard:panel{exprs}\n        expr: '{}'\n",
                expr.replace("$drill", ".*").replace('\'', "''")
            ));
        }
    }
    assert!(exprs >= 10, "{exprs}");
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("dashboard-rules.yml"), rules).expect("write");
    let out = std::process::Command::new("promtool")
        .args(["check", "rules", "dashboard-rules.yml"])
        .current_dir(tmp.path())
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Under journald (stderr is the stream `JOURNAL_STREAM` names) each log
/// line starts with its sd-daemon priority and carries no timestamp of its
/// own; with stderr elsewhere the variable is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_journald_priorities_when_stderr_is_the_journal() {
    use std::os::unix::fs::MetadataExt as _;
    let agent = Agent::from_toml(
        "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\nendpoint = \"http://127.0.0.1:9\"\nregion = \"us-east-1\"\n[drills.d]\nsource = \"s\"\nschedule = \"0 0 3 1 1 *\"\n",
    );
    let log = agent.path("stderr.log");
    let file = std::fs::File::create(&log).expect("log file");
    let meta = file.metadata().expect("metadata");
    let mut child = agent
        .command(&["run"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("spawn");
    wait_for("the service's first log lines", 20, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("<6>"))
    })
    .await;
    signal(&child, "TERM");
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    let text = std::fs::read_to_string(&log).expect("log");
    for line in text.lines().filter(|l| !l.is_empty()) {
        assert!(
            ["<3>", "<4>", "<6>", "<7>"]
                .iter()
                .any(|p| line.starts_with(p)),
            "a line without a priority: {line}"
        );
        assert!(!line.contains("\u{1b}["), "colour codes: {line}");
        // No timestamp of its own: the journal stamps it.
        assert!(!line[3..].trim_start().starts_with("20"), "{line}");
    }
    // Elsewhere (a stream the variable does not name) lines keep their time.
    let other = agent.path("other.log");
    let mut child = agent
        .command(&["run"])
        .env("JOURNAL_STREAM", "1:2")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&other).expect("file"))
        .spawn()
        .expect("spawn");
    wait_for("log lines", 20, || {
        std::fs::read_to_string(&other).is_ok_and(|t| t.contains("INFO"))
    })
    .await;
    signal(&child, "TERM");
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    let text = std::fs::read_to_string(&other).expect("log");
    assert!(
        text.lines().next().is_some_and(|l| l.starts_with("20")),
        "{text}"
    );
}

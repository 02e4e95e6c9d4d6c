//! Shipping evidence: to a real rsyslog (started by `scripts/test`) over
//! TCP, TLS and mutual TLS, and to a local receiver that speaks the Splunk
//! HEC and Elasticsearch `_bulk` contracts (testkit's `SiemReceiver`: no
//! real Splunk or Elasticsearch can be installed here). Outages, partial
//! bulk failures, 429/503, dropped connections and a SIGKILLed agent must
//! lose nothing: every event id arrives at least once.

use crate::util::{data, poll, wait_for, Agent, Bucket};
use restoreproof_testkit::siem::{SiemFault, SiemReceiver};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with `scripts/test`, which starts rsyslog")
    })
}

fn tls_dir() -> PathBuf {
    PathBuf::from(env("RESTOREPROOF_TEST_TLS_DIR"))
}

/// Every event id in the agent's ledger.
fn ledger_ids(agent: &Agent) -> BTreeSet<String> {
    if !agent.path("state/ledger.sqlite3").exists() {
        return BTreeSet::new();
    }
    let l = agent.ledger();
    let mut stmt = l.prepare("SELECT event_id FROM events").expect("prepare");
    let rows = stmt.query_map([], |r| r.get(0)).expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

async fn seeded(name: &str, n: u8) -> Bucket {
    let b = Bucket::new(name).await;
    for i in 0..n {
        b.put(&format!("obj-{i}"), &data(i, 20_000), None).await;
    }
    b
}

/// One RFC 5424 line as rsyslog's RSYSLOG_SyslogProtocol23Format writes it.
#[derive(Debug)]
struct Syslog {
    pri: u16,
    app: String,
    msgid: String,
    sd: BTreeMap<String, String>,
    msg: Value,
}

fn parse_5424(line: &str) -> Option<Syslog> {
    let rest = line.strip_prefix('<')?;
    let (pri, rest) = rest.split_once(">1 ")?;
    let mut parts = rest.splitn(5, ' ');
    let _time = parts.next()?;
    let _host = parts.next()?;
    let app = parts.next()?.to_owned();
    let _procid = parts.next()?;
    let rest = parts.next()?;
    let (msgid, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix('[')?;
    // Structured data up to the first unescaped `]`.
    let mut sd_text = String::new();
    let mut chars = rest.char_indices();
    let mut end = None;
    let mut escaped = false;
    for (i, c) in chars.by_ref() {
        if escaped {
            sd_text.push(c);
            escaped = false;
        } else if c == '\\' {
            sd_text.push(c);
            escaped = true;
        } else if c == ']' {
            end = Some(i);
            break;
        } else {
            sd_text.push(c);
        }
    }
    let msg = rest[end? + 1..].trim_start();
    let (id, params) = sd_text.split_once(' ')?;
    let mut sd = BTreeMap::new();
    sd.insert("@id".to_owned(), id.to_owned());
    for p in params.split("\" ") {
        let (k, v) = p.split_once("=\"")?;
        sd.insert(
            k.to_owned(),
            v.trim_end_matches('"')
                .replace("\\\"", "\"")
                .replace("\\]", "]"),
        );
    }
    Some(Syslog {
        pri: pri.parse().ok()?,
        app,
        msgid: msgid.to_owned(),
        sd,
        msg: serde_json::from_str(msg).ok()?,
    })
}

/// The end of the receiver's own log, for a failure message.
fn rsyslog_said() -> String {
    let log = std::fs::read_to_string(tls_dir().join("rsyslog.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// How long an rsyslog output file may take to show what rsyslog
/// acknowledged: it writes from its main queue, asynchronously, and on a
/// loaded 2-core CI machine (deb/rpm builds beside it) that has been seen
/// to take more than 20 s. A miss prints what is missing and rsyslog's log.
const RSYSLOG_WRITE_WAIT: u64 = 60;

/// The lines of an rsyslog output file that carry one of `ids`, waiting
/// until all have arrived (rsyslog writes asynchronously).
async fn wait_syslog(file: &str, ids: &BTreeSet<String>) -> Vec<Syslog> {
    let path = tls_dir().join(file);
    poll(RSYSLOG_WRITE_WAIT, || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<Syslog> = text
            .lines()
            .filter_map(parse_5424)
            .filter(|s| s.sd.get("eventId").is_some_and(|id| ids.contains(id)))
            .collect();
        let got: BTreeSet<String> = lines
            .iter()
            .filter_map(|s| s.sd.get("eventId").cloned())
            .collect();
        if &got == ids {
            Ok(lines)
        } else {
            Err(format!(
                "{file}: {} of {} events arrived; missing {:?}; rsyslog said: {}",
                got.len(),
                ids.len(),
                ids.difference(&got).collect::<Vec<_>>(),
                rsyslog_said()
            ))
        }
    })
    .await
}

/// The MSG parts of an rsyslog output file's lines carrying one of `ids`
/// (for text formats), waiting until all have arrived.
async fn wait_syslog_text(file: &str, ids: &BTreeSet<String>) -> Vec<String> {
    let path = tls_dir().join(file);
    poll(RSYSLOG_WRITE_WAIT, || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut got = BTreeSet::new();
        let mut msgs = Vec::new();
        for line in text.lines() {
            let Some(id) = line
                .split("eventId=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            if ids.contains(id) {
                got.insert(id.to_owned());
                if let Some(i) = line.find("] CEF:") {
                    msgs.push(line[i + 2..].to_owned());
                }
            }
        }
        if &got == ids {
            Ok(msgs)
        } else {
            Err(format!(
                "{file}: {} of {} events arrived; missing {:?}; the file has {} line(s); rsyslog said: {}",
                got.len(),
                ids.len(),
                ids.difference(&got).collect::<Vec<_>>(),
                text.lines().count(),
                rsyslog_said()
            ))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tcp_tls_mutual_tls_and_relp_arrives_as_rfc5424_with_structured_data() {
    let b = seeded("sink-syslog", 5).await;
    let d = tls_dir();
    let sinks = format!(
        "[sinks.plain]\nkind = \"syslog\"\naddress = \"{tcp}\"\nbatch_events = 2\n\
         [sinks.tls]\nkind = \"syslog\"\ntransport = \"tls\"\naddress = \"{tls}\"\nca_file = \"{ca}\"\nbatch_events = 2\nformat = \"ecs\"\n\
         [sinks.mtls]\nkind = \"syslog\"\ntransport = \"tls\"\naddress = \"{mtls}\"\nca_file = \"{ca}\"\n\
         client_cert_file = \"{d}/client.pem\"\nclient_key_file = \"{d}/client.key\"\nfacility = \"local3\"\napp_name = \"rp-test\"\n\
         [sinks.relp]\nkind = \"syslog\"\ntransport = \"relp\"\naddress = \"{relp}\"\nbatch_events = 4\nformat = \"cef\"\n\
         [sinks.relptls]\nkind = \"syslog\"\ntransport = \"relp_tls\"\naddress = \"{relp_tls}\"\nca_file = \"{ca}\"\n\
         client_cert_file = \"{d}/client.pem\"\nclient_key_file = \"{d}/client.key\"\n\
         [sinks.udp]\nkind = \"syslog\"\ntransport = \"udp\"\naddress = \"{udp}\"\nbatch_interval = \"1s\"\n",
        udp = env("RESTOREPROOF_TEST_SYSLOG_UDP"),
        tcp = env("RESTOREPROOF_TEST_SYSLOG_TCP"),
        tls = env("RESTOREPROOF_TEST_SYSLOG_TLS"),
        mtls = env("RESTOREPROOF_TEST_SYSLOG_MTLS"),
        relp = env("RESTOREPROOF_TEST_SYSLOG_RELP"),
        relp_tls = env("RESTOREPROOF_TEST_SYSLOG_RELP_TLS"),
        ca = d.join("ca.pem").display(),
        d = d.display(),
    );
    let agent = Agent::new(&b.proxy.url(), &b.name, &format!("sample = 5\n{sinks}"));
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let shipping = run.json()["shipping"].clone();
    assert_eq!(shipping.as_array().map(Vec::len), Some(6), "{shipping}");
    for r in shipping.as_array().expect("reports") {
        assert!(r["error"].is_null(), "{r}");
        assert_eq!(r["backlog"], 0, "{r}");
    }
    let ids = ledger_ids(&agent);
    assert_eq!(ids.len(), 7, "5 verdicts, a run summary and its checkpoint");

    // Plain TCP, OCSF: three connections of two events each.
    for s in wait_syslog("syslog-tcp.log", &ids).await {
        assert_eq!(s.sd["@id"], "restoreproof@32473");
        assert_eq!(s.app, "restoreproof");
        assert_eq!(
            s.msg["metadata"]["uid"].as_str(),
            s.sd.get("eventId").map(String::as_str)
        );
        assert_eq!(s.sd["format"], "ocsf");
        match s.msgid.as_str() {
            "sample_verdict" => {
                assert_eq!(s.msg["class_uid"], 2003);
                assert_eq!(s.msg["compliance"]["status"], "Pass");
                assert_eq!(s.sd["verdict"], "verified");
                assert_eq!(s.pri, 16 * 8 + 6);
            }
            "run_summary" => assert_eq!(s.msg["class_uid"], 6007),
            "checkpoint" => assert!(s.msg["unmapped"]["restoreproof"]["note"].is_string()),
            other => panic!("unexpected MSGID {other}"),
        }
    }
    // TLS (each connection closed with close_notify: none of the three
    // connections' last message may be lost), ECS.
    for s in wait_syslog("syslog-tls.log", &ids).await {
        assert_eq!(
            s.msg["event"]["id"].as_str(),
            s.sd.get("eventId").map(String::as_str)
        );
        assert_eq!(s.msg["ecs"]["version"], "8.11.0");
    }
    // Mutual TLS with a client certificate.
    for s in wait_syslog("syslog-mtls.log", &ids).await {
        assert_eq!(s.app, "rp-test");
        assert_eq!(s.pri / 8, 19, "local3");
    }

    // RELP: the receiver acknowledged each message; CEF text here.
    for s in wait_syslog_text("syslog-relp.log", &ids).await {
        assert!(s.starts_with("CEF:0|restoreproof|restoreproof|"), "{s}");
    }
    wait_syslog("syslog-relp-tls.log", &ids).await;
    // UDP confirms nothing, but on the loopback everything arrives.
    wait_syslog("syslog-udp.log", &ids).await;

    // Nothing left to ship; validate --connect reaches all six.
    let ship = agent.run(&["ship", "--once", "--json"]).await;
    assert_eq!(ship.code, 0, "{}{}", ship.stdout, ship.stderr);
    let reports: Value = serde_json::from_str(&ship.stdout).expect("json");
    assert_eq!(reports["schema"], "restoreproof.ship/v1");
    let reports = reports["sinks"].as_array().expect("reports");
    assert_eq!(reports.len(), 6, "one report per sink: {reports:?}");
    assert!(reports.iter().all(|r| r["delivered"] == 0));
    let check = agent.run(&["validate", "--connect"]).await;
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("completed the TLS handshake"),
        "{}",
        check.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_with_indexer_ack_bulk_and_webhook_receive_every_event() {
    let b = seeded("sink-http", 3).await;
    let siem = SiemReceiver::start(Some("hec-token-123"))
        .await
        .expect("receiver");
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 3");
    std::fs::write(agent.path("hec.token"), "hec-token-123\n").expect("token");
    let sinks = format!(
        "[sinks.splunk]\nkind = \"http\"\nprotocol = \"splunk_hec\"\nurl = \"{u}/services/collector/event\"\n\
         token_file = \"hec.token\"\nack = true\ngzip = true\nindex = \"audit\"\n\
         [sinks.elastic]\nkind = \"http\"\nprotocol = \"elasticsearch_bulk\"\nurl = \"{u}\"\nformat = \"ecs\"\n\
         token_file = \"hec.token\"\n\
         [sinks.hook]\nkind = \"http\"\nprotocol = \"webhook\"\nurl = \"{u}/hook\"\ntoken_file = \"hec.token\"\n",
        u = siem.url()
    );
    let text = std::fs::read_to_string(&agent.config).expect("config");
    std::fs::write(&agent.config, format!("{text}\n{sinks}")).expect("config");

    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ids = ledger_ids(&agent);
    let records = siem.records();
    for path in ["/services/collector/event", "/_bulk", "/hook"] {
        let got: BTreeSet<String> = records
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| {
                r["fields"]["event_id"]
                    .as_str()
                    .or(r["event"]["id"].as_str())
                    .or(r["metadata"]["uid"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(got, ids, "{path}");
    }
    let hec = records
        .iter()
        .find(|(p, _)| p == "/services/collector/event")
        .map(|(_, r)| r.clone())
        .expect("a HEC event");
    assert_eq!(hec["index"], "audit");
    // The webhook's wire format, as docs/sinks.md states it.
    let hook = siem
        .seen()
        .into_iter()
        .find(|s| s.0 == "/hook")
        .expect("a webhook request");
    assert_eq!(
        (hook.1.as_str(), hook.2.as_str()),
        ("Bearer", "application/x-ndjson")
    );
    assert_eq!(hec["sourcetype"], "restoreproof:ocsf");
    assert!(hec["event"]["class_uid"].is_number(), "{hec}");

    // A wrong token is named, and nothing is lost.
    std::fs::write(agent.path("hec.token"), "wrong\n").expect("token");
    let again = agent.drill(&["--sample", "1"]).await;
    assert_eq!(
        again.code, 0,
        "a sink failure does not fail the drill: {}",
        again.stderr
    );
    assert!(again.stderr.contains("HTTP 401"), "{}", again.stderr);
    assert!(
        again.stderr.contains("check the sink's token"),
        "{}",
        again.stderr
    );
    let status = agent.run(&["status", "--json"]).await;
    assert_eq!(
        status.code, 1,
        "a failing sink makes status exit 1: {}",
        status.stdout
    );
    let s: Value = serde_json::from_str(&status.stdout).expect("json");
    let splunk = s["sinks"]
        .as_array()
        .expect("sinks")
        .iter()
        .find(|x| x["sink"] == "splunk")
        .expect("splunk")
        .clone();
    assert_eq!(
        splunk["backlog"], 3,
        "a verdict, a summary, a checkpoint: {splunk}"
    );
    assert!(
        splunk["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("401"),
        "{splunk}"
    );
    // A refused token is a permanent failure (the configuration must
    // change), said as such to machines.
    let refused = agent.run(&["ship", "--once", "--json"]).await;
    let reports: Value = serde_json::from_str(&refused.stdout).expect("ship json");
    let splunk = reports["sinks"]
        .as_array()
        .expect("reports")
        .iter()
        .find(|r| r["sink"] == "splunk")
        .expect("splunk report")
        .clone();
    assert_eq!(splunk["permanent"], true, "{splunk}");
    std::fs::write(agent.path("hec.token"), "hec-token-123\n").expect("token");
    let ship = agent.run(&["ship", "--once"]).await;
    assert_eq!(ship.code, 0, "{}{}", ship.stdout, ship.stderr);
    assert_eq!(
        siem.arrivals().iter().collect::<BTreeSet<_>>().len(),
        ledger_ids(&agent).len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_bulk_failures_busy_answers_and_dropped_connections_lose_nothing() {
    let b = seeded("sink-faults", 6).await;
    let siem = SiemReceiver::start(None).await.expect("receiver");
    let sinks = format!(
        "[sinks.elastic]\nkind = \"http\"\nprotocol = \"elasticsearch_bulk\"\nurl = \"{u}\"\nbatch_events = 4\n",
        u = siem.url()
    );
    let agent = Agent::new(&b.proxy.url(), &b.name, &format!("sample = 6\n{sinks}"));
    let run = agent.drill(&["--no-ship"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ids = ledger_ids(&agent);
    assert_eq!(ids.len(), 8);

    // Items 3 and 4 of the first batch are rejected with 429; then the
    // receiver is busy, then drops the connection.
    siem.fail_next(SiemFault::BulkItemsFrom(2, 429), 1);
    siem.fail_next(SiemFault::Status(503), 1);
    siem.fail_next(SiemFault::Drop, 1);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let ship = agent.run(&["ship", "--once", "--json"]).await;
        let r: Value = serde_json::from_str(&ship.stdout).expect("json");
        let r = &r["sinks"];
        if ship.code == 0 {
            assert_eq!(r[0]["backlog"], 0);
            break;
        }
        assert!(r[0]["error"].is_string(), "{r}");
        // 429 items, a 503 and a dropped connection all pass with time.
        assert!(r[0].get("permanent").is_none(), "{r}");
        assert!(attempts < 6, "still failing after {attempts} passes: {r}");
    }
    // A pass tries a failure that may pass twice more before it leaves the
    // rest in the outbox: the three faults take the first pass.
    assert_eq!(attempts, 2, "one pass absorbs three faults, then success");
    let arrivals = siem.arrivals();
    let unique: BTreeSet<String> = arrivals.iter().cloned().collect();
    assert_eq!(unique, ids, "every event, none missing");
    assert_eq!(
        arrivals.len(),
        ids.len(),
        "_id makes repeats 409s: exactly once in the index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_sigkill_lose_no_evidence() {
    let b = seeded("sink-outage", 2).await;
    let siem = SiemReceiver::start(None).await.expect("receiver");
    siem.stop();
    let config = format!(
        "sample = 2\nschedule = \"* * * * * *\"\n\
         [sinks.hook]\nkind = \"http\"\nprotocol = \"webhook\"\nurl = \"{u}/hook\"\nbatch_events = 3\n\
         [daemon]\nheartbeat_interval = \"1s\"\n",
        u = siem.url()
    );
    let agent = Agent::new(&b.proxy.url(), &b.name, &config);
    let mut child = agent
        .command(&["run"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run");
    // The receiver is down while drills record evidence.
    wait_for("ten evidence events", 30, || ledger_ids(&agent).len() >= 10).await;
    // The agent tried to deliver while the receiver was down, and knows it
    // failed: nothing counted as delivered.
    let (delivered, failures) = poll(30, || {
        let state: Option<(i64, i64)> = agent
            .ledger()
            .query_row(
                "SELECT delivered_total, failures_total FROM sink_state WHERE sink = 'hook'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        match state {
            Some((d, f)) if f > 0 => Ok((d, f)),
            other => Err(format!("no failed delivery recorded yet: {other:?}")),
        }
    })
    .await;
    assert_eq!(delivered, 0, "{failures} failures");
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    let recorded = ledger_ids(&agent);

    // Back up; the restarted agent delivers the backlog.
    siem.restart().await.expect("restart receiver");
    siem.fail_next(SiemFault::Drop, 1);
    let mut child = agent
        .command(&["run"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run again");
    poll(60, || {
        let got: BTreeSet<String> = siem.arrivals().into_iter().collect();
        if recorded.is_subset(&got) {
            Ok(())
        } else {
            Err(format!(
                "{} of {} recorded events delivered",
                recorded.intersection(&got).count(),
                recorded.len()
            ))
        }
    })
    .await;
    crate::daemon::signal(&child, "TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stopped")
        .expect("wait");
    assert!(status.success());
    // After the stop, everything the ledger holds reached the receiver
    // (including the stop event, flushed at shutdown).
    let all = ledger_ids(&agent);
    let arrivals = siem.arrivals();
    let got: BTreeSet<String> = arrivals.iter().cloned().collect();
    assert_eq!(got, all, "every event id arrived");
    assert!(arrivals.len() >= all.len());
}

#[test]
fn an_evidence_dropped_record_conforms_as_ocsf() {
    // The outbox's bounds (at least 1 hour, 1 MiB) are too large to reach
    // in a test run; this is the record `sink::outbox::prune` writes (its
    // unit test checks the fields), with the envelope the ledger adds.
    let dropped = serde_json::json!({
        "schema": "restoreproof.evidence/v1", "seq": 42, "event_id": "01a2-dropped",
        "kind": "evidence_dropped", "time": "2026-12-02T10:00:00.000Z",
        "prev_hash": "00", "hash": "11",
        "agent": {"name": "restoreproof", "version": "0.1.0", "host": "vm1"},
        "sink": "siem", "count": 12, "first_seq": 3, "last_seq": 14,
        "reason": "the outbox is bounded by outbox.max_bytes; the sink had not acknowledged these",
    });
    crate::util::assert_ocsf_conforms(std::slice::from_ref(&dropped));

    // The checker itself refuses what OCSF 1.3.0 does not define.
    let mut ocsf = restoreproof::sink::format::render(
        restoreproof::sink::config::Format::Ocsf,
        &restoreproof::evidence::record::Record::read(dropped.clone()),
    );
    ocsf["evidences"] = serde_json::json!([{"data": {}}]);
    ocsf["metadata"]["version"] = serde_json::json!("1.4.0");
    ocsf["severity_id"] = serde_json::json!(42);
    let problems = crate::util::ocsf_check(&[ocsf]).expect_err("not OCSF 1.3.0");
    for want in [
        "evidences: not an attribute of event_log",
        "metadata.version: '1.4.0' is not 1.3.0",
        "severity_id: 42 is not in its enum",
    ] {
        assert!(problems.contains(want), "{want} in {problems}");
    }
}

/// `verdicts = "failures"`: that sink gets the failed verdicts, the run
/// summary (with every count) and every other record, but no verified
/// sample; a sink with the default gets every verdict; both cursors end at
/// the head (nothing left in the outbox).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_can_take_only_failures_and_summaries() {
    let b = crate::util::Bucket::new("sink-filter").await;
    for i in 0..6u8 {
        b.put(&format!("k{i}"), &crate::util::data(i, 1000), None)
            .await;
    }
    b.proxy.add(restoreproof_testkit::Rule::get(
        "/k3",
        restoreproof_testkit::Fault::FlipByte(10),
    ));
    let agent = crate::util::Agent::new(
        &b.proxy.url(),
        &b.name,
        "sample = 6\n[drills.batched]\nsource = \"src\"\nscratch_dir = \"scratch\"\nsample = 6\nrecord_verified = \"batched\"\n\
         [sinks.lean]\nkind = \"file\"\nformat = \"native\"\npath = \"log/lean.jsonl\"\nverdicts = \"failures\"\n\
         [sinks.full]\nkind = \"file\"\nformat = \"native\"\npath = \"log/full.jsonl\"\n",
    );
    let run = agent.drill(&[]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let read = |p: &str| crate::util::read_jsonl(&agent.path(p));
    let (lean, full) = (read("log/lean.jsonl"), read("log/full.jsonl"));
    let verdicts = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .filter(|e| e["kind"] == "sample_verdict")
            .map(|e| e["verdict"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(verdicts(&lean), ["mismatch"], "{lean:?}");
    assert_eq!(verdicts(&full).len(), 6);
    let summary = lean
        .iter()
        .find(|e| e["kind"] == "run_summary")
        .expect("the run summary reaches the lean sink");
    assert_eq!(summary["counts"]["verified"], 5);
    assert!(lean.iter().any(|e| e["kind"] == "checkpoint"));
    // A drill that batches its verified samples: the full sink gets the
    // batch (count and root), the lean one only the failure and summary.
    let run = agent.run(&["drill", "batched"]).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let (lean, full) = (read("log/lean.jsonl"), read("log/full.jsonl"));
    assert_eq!(verdicts(&lean), ["mismatch", "mismatch"], "{lean:?}");
    assert!(
        !lean.iter().any(|e| e["kind"] == "sample_batch"),
        "{lean:?}"
    );
    let batches: Vec<&serde_json::Value> = full
        .iter()
        .filter(|e| e["kind"] == "sample_batch")
        .collect();
    assert_eq!(
        batches
            .iter()
            .map(|b| b["count"].as_u64().unwrap_or(0))
            .sum::<u64>(),
        5,
        "{batches:?}"
    );
    assert_eq!(verdicts(&full).len(), 7, "6 + the batched drill's failure");
    crate::util::assert_ocsf_conforms(&full);
    let status = agent.run(&["status", "--json"]).await;
    let st: serde_json::Value = serde_json::from_str(&status.stdout).expect("status json");
    for s in st["sinks"].as_array().expect("sinks") {
        assert_eq!(s["backlog"], 0, "{s}");
    }
}

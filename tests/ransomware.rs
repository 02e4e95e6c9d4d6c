//! Ransomware signals between versions, against moto: entropy and content
//! type measured in the hashing pass and compared with the nearest older
//! version the ledger knows; bursts of delete markers across keys from the
//! listing. Findings are `suspicious_change` evidence, never byte verdicts.

use crate::util::{data, Agent, Bucket};
use serde_json::Value;
use std::io::Write;

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text).expect("gzip");
    e.finish().expect("gzip")
}

/// Bytes as encryption leaves them (a keyed stream, not compressible).
fn encrypted(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn dump(day: u32) -> Vec<u8> {
    (0..3000)
        .map(|i| {
            format!(
                "INSERT INTO orders VALUES ({i}, 'customer-{}', {day});\n",
                i * 7 % 311
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// A zip file as a document editor writes it (stored entries are fine for
/// the type; the body is compressed data).
fn docx(seed: u64) -> Vec<u8> {
    let mut z = b"PK\x03\x04\x14\x00\x06\x00\x08\x00".to_vec();
    z.extend(gzip(&dump(seed as u32)));
    z
}

fn suspicious(agent: &Agent) -> Vec<Value> {
    agent
        .evidence()
        .into_iter()
        .filter(|e| e["kind"] == "suspicious_change")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_over_earlier_versions_is_flagged_and_ordinary_backups_are_not() {
    let b = Bucket::new("ransomware").await;
    // Attacked: text replaced by random bytes; a .sql.gz and a .docx whose
    // new versions are no longer gzip / zip.
    // Versions are ordered by their listing time, which has one-second
    // resolution on some stores: each round of writes lands a second later.
    let next_second = || tokio::time::sleep(std::time::Duration::from_millis(1100));
    b.put("db/orders.sql", &dump(1), None).await;
    b.put("db/nightly.sql.gz", &gzip(&dump(2)), None).await;
    b.put("hr/contract.docx", &docx(3), None).await;
    next_second().await;
    b.put("db/orders.sql", &encrypted(1, 120_000), None).await;
    b.put("db/nightly.sql.gz", &encrypted(2, 60_000), None)
        .await;
    b.put("hr/contract.docx", &encrypted(3, 60_000), None).await;
    // A realistic mix that must stay quiet: gzip dumps every night (always
    // high entropy), zip documents edited, text logs growing, images
    // replaced, opaque binaries rewritten.
    for day in 0..3 {
        next_second().await;
        b.put("db/daily.sql.gz", &gzip(&dump(10 + day)), None).await;
        b.put("docs/plan.docx", &docx(20 + u64::from(day)), None)
            .await;
        b.put(
            "logs/app.log",
            &dump(30 + day)[..40_000 + day as usize * 1000],
            None,
        )
        .await;
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(encrypted(40 + u64::from(day), 30_000));
        b.put("img/logo.png", &png, None).await;
        b.put("vm/disk.bin", &encrypted(50 + u64::from(day), 50_000), None)
            .await;
        b.put("small/readme.txt", &data(day as u8, 300), None).await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 100");
    let run = agent.drill(&[]).await;
    // Signals are not byte verdicts: every version restores intact.
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["summary"]["suspicious_changes"],
        3,
        "{}",
        run.json()["summary"]
    );
    let found = suspicious(&agent);
    let keys: Vec<&str> = found
        .iter()
        .filter_map(|e| e["recovery_point"]["key"].as_str())
        .collect();
    assert_eq!(keys.len(), 3, "{found:#?}");
    for k in ["db/orders.sql", "db/nightly.sql.gz", "hr/contract.docx"] {
        assert!(keys.contains(&k), "{k} not flagged: {found:#?}");
    }
    let signals = |key: &str| {
        found
            .iter()
            .find(|e| e["recovery_point"]["key"] == key)
            .map(|e| e["signals"].to_string())
            .unwrap_or_default()
    };
    assert!(
        signals("db/orders.sql").contains("entropy jumped"),
        "{found:#?}"
    );
    assert!(signals("db/nightly.sql.gz").contains("no longer gzip"));
    assert!(signals("hr/contract.docx").contains("no longer zip"));
    let orders = found
        .iter()
        .find(|e| e["recovery_point"]["key"] == "db/orders.sql")
        .cloned()
        .unwrap_or_default();
    assert_eq!(orders["previous"]["content_type"], "text");
    assert!(orders["content"]["entropy"].as_f64().unwrap_or(0.0) > 7.9);
    // Each restore's entropy and type are in its evidence and the ledger.
    let sample = run.sample("db/daily.sql.gz");
    assert_eq!(sample["content"]["content_type"], "gzip", "{sample}");
    let known: i64 = agent
        .ledger()
        .query_row(
            "SELECT COUNT(*) FROM points WHERE entropy IS NOT NULL AND content_type IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(
        known,
        run.json()["summary"]["sampled"].as_i64().unwrap_or(-1)
    );
    // The findings read as OCSF Detection Findings and match the schema.
    crate::util::assert_ocsf_conforms(&found);
    let docs: Vec<(&str, Value)> = found.iter().cloned().map(|e| ("evidence", e)).collect();
    crate::schemas::assert_valid(&docs);
    // Reports and status list them.
    let report = agent.run(&["report"]).await;
    assert!(
        report.stdout.contains("Ransomware signals") && report.stdout.contains("hr/contract.docx"),
        "{}",
        report.stdout
    );
    let status = agent.run(&["status"]).await;
    assert!(
        status
            .stdout
            .contains("d: 3 suspicious change(s) in the last run"),
        "{}",
        status.stdout
    );
    // A second run finds the same versions again and says so again; the
    // quiet keys stay quiet.
    let again = agent.drill(&[]).await;
    assert_eq!(again.json()["summary"]["suspicious_changes"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_delete_markers_over_half_the_keys_is_flagged() {
    let b = Bucket::new("burst").await;
    for k in 0..20u8 {
        b.put(&format!("share/file-{k:02}.xlsx"), &data(k, 200), None)
            .await;
    }
    let agent = Agent::new(&b.proxy.url(), &b.name, "sample = 5");
    // The first listing is the baseline: nothing to compare with, nothing
    // claimed (every key is new within the day).
    let first = agent.drill(&[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        first.json()["summary"]["activity"]["keys_with_new_versions"],
        20
    );
    assert!(suspicious(&agent).is_empty());
    // An ordinary day: still quiet.
    let quiet = agent.drill(&[]).await;
    assert!(
        quiet.json()["summary"].get("suspicious_changes").is_none(),
        "{}",
        quiet.json()["summary"]
    );
    for k in 0..10u8 {
        b.delete(&format!("share/file-{k:02}.xlsx")).await;
    }
    let run = agent.drill(&[]).await;
    let a = &run.json()["summary"]["activity"];
    assert_eq!(
        (a["keys"].as_u64(), a["recent_delete_markers"].as_u64()),
        (Some(20), Some(10)),
        "{a}"
    );
    let found = suspicious(&agent);
    assert_eq!(found.len(), 1, "{found:#?}");
    let signal = found[0]["signals"][0].as_str().unwrap_or_default();
    assert!(
        signal.starts_with("delete markers on 50 % of the keys (10 of 20) within 1d"),
        "{signal}"
    );
    assert!(found[0]["recovery_point"].is_null());
    assert_eq!(run.json()["summary"]["suspicious_changes"], 1);
    crate::util::assert_ocsf_conforms(&found);
}

/// The agent's own canaries (written and deleted under their prefix) are no
/// activity of the backups: they never count towards the delete-marker or
/// new-version burst, as they never are sampled. Before, six canaries over
/// four backup keys raised "delete markers on 60 % of the keys".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_own_canaries_raise_no_burst_signal() {
    let b = Bucket::new("canary-burst").await;
    for k in 0..4u8 {
        b.put(&format!("db/dump-{k}.sql"), &data(k, 200), None)
            .await;
    }
    let canary = "[canaries.retention]\nsource = \"src\"\nretention = \"30d\"\nages = [\"1d\"]\n";
    let agent = Agent::new(&b.proxy.url(), &b.name, &format!("sample = 2\n{canary}"));
    let first = agent.drill(&[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    for _ in 0..6 {
        let run = agent.run(&["canary", "retention"]).await;
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    }
    let run = agent.drill(&[]).await;
    let a = &run.json()["summary"]["activity"];
    assert_eq!(
        (a["keys"].as_u64(), a["recent_delete_markers"].as_u64()),
        (Some(4), Some(0)),
        "only the backups' keys count: {a}"
    );
    assert!(suspicious(&agent).is_empty(), "{:#?}", suspicious(&agent));
    // The canaries are still there, behind their delete markers.
    assert_eq!(run.json()["summary"]["population"]["delete_markers"], 6);
}

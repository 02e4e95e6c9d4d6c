//! What the record of a verified sample costs: one drill restoring every
//! version of an in-memory store shaped as AWS stores objects today (an MD5
//! ETag and a full-object CRC64NVME, 32-character version ids, keys as
//! backups name them), recorded through the real recorder into a fresh
//! ledger and evidence file; then a second run over the same versions (the
//! steady state of rotating coverage: points and baselines already known).
//! Prints, as JSON, the ledger's and the evidence file's growth per
//! verified sample for each run. Run by `scripts/bench-records`:
//!
//! ```text
//! record_size DIR SAMPLES each|batched
//! ```

use restoreproof::drill::{Drill, Quiet, Trigger};
use restoreproof::ledger::recorder::Recorder;
use restoreproof::shutdown::Stop;
use restoreproof::source::memory::MemoryStore;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The ledger's size once its write-ahead log is folded in.
fn ledger_bytes(dir: &Path) -> anyhow::Result<u64> {
    let path = dir.join("ledger.sqlite3");
    if !path.exists() {
        return Ok(0);
    }
    let conn = rusqlite::Connection::open(&path)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let pages: u64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(pages * size)
}

fn evidence_bytes(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("evidence.jsonl")).map_or(0, |m| m.len())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, samples, form] = args.as_slice() else {
        anyhow::bail!("usage: record_size DIR SAMPLES each|batched");
    };
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir)?;
    let samples: u64 = samples.parse()?;
    let config = restoreproof::config::Config::from_toml(
        &format!(
            "[sources.backups]\nkind = \"s3\"\nbucket = \"bkt\"\n\
             [drills.nightly]\nsource = \"backups\"\nscratch_dir = \"scratch\"\n\
             sample = \"100%\"\nconcurrency = 32\n{}",
            if form == "each" {
                String::new()
            } else {
                format!("record_verified = \"{form}\"\n")
            }
        ),
        dir,
    )
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let store = Arc::new(MemoryStore::new("backups"));
    for i in 0..samples {
        let key = format!("backups/host-{:03}/db-{i:08}.dump.gz", i % 100);
        // As long as S3's version ids (32 characters).
        let version = format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15);
        store.put_as(&key, &version[..32], format!("backup {i}").into_bytes());
    }
    let recorder = Mutex::new(Recorder::open(
        &dir.join("ledger.sqlite3"),
        &dir.join("evidence.jsonl"),
    )?);
    let mut runs = Vec::new();
    for run in ["first", "second"] {
        let (ledger0, evidence0) = (ledger_bytes(dir)?, evidence_bytes(dir));
        let started = Instant::now();
        let mut drill = Drill {
            config: &config.drills["nightly"],
            recorder: &recorder,
            stop: Stop::new(),
            trigger: Trigger::Manual,
        };
        let s = drill.run(store.clone(), Arc::new(Quiet)).await?;
        let verified = s.counts.verified.max(1);
        let (ledger1, evidence1) = (ledger_bytes(dir)?, evidence_bytes(dir));
        runs.push(serde_json::json!({
            "run": run,
            "verified": s.counts.verified,
            "secs": started.elapsed().as_secs_f64(),
            "ledger_bytes_per_sample": (ledger1 - ledger0) as f64 / verified as f64,
            "evidence_bytes_per_sample": (evidence1 - evidence0) as f64 / verified as f64,
        }));
    }
    println!(
        "{}",
        serde_json::json!({ "form": form, "samples": samples, "runs": runs })
    );
    Ok(())
}

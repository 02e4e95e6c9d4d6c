//! Scale check of rotating coverage: the drill's real draw (listing joined
//! with the ledger's `points`, then sampled) over a synthetic listing of
//! 1,000,000 versions whose ledger already knows 500,000 of them. Run by
//! `scripts/bench-coverage`:
//!
//! ```text
//! coverage_scale seed LEDGER      # writes the 500,000 known points
//! coverage_scale join LEDGER      # draws with coverage, prints time and peak RSS
//! coverage_scale list LEDGER      # the same listing without coverage
//! coverage_scale shuffled LEDGER  # with coverage, keys in no order (an
//!                                 # inventory report's rows): the join
//!                                 # looks each version up
//! ```
//!
//! Each measurement runs in a process of its own, so its peak RSS is its
//! own. The listing is generated in key order as a stream (nothing of it is
//! held), as a store's paged listing arrives.

use futures::stream::BoxStream;
use restoreproof::drill::{plan, Quiet};
use restoreproof::source::{Candidate, ListItem, Lister, SourceError, SourceInfo};
use std::path::Path;
use std::time::Instant;

const KEYS: u64 = 250_000;
const VERSIONS_PER_KEY: u64 = 4;
const SOURCE: &str = "bench";

/// The listing; `shuffled`: keys in no order (versions of a key together).
#[derive(Debug)]
struct Synthetic {
    shuffled: bool,
}

fn key(k: u64) -> String {
    format!("backups/db-{k:08}.dump")
}

impl Lister for Synthetic {
    fn describe(&self) -> SourceInfo {
        SourceInfo {
            name: SOURCE.into(),
            kind: restoreproof::config::Provider::S3,
            bucket: "synthetic".into(),
            prefix: String::new(),
            endpoint: None,
        }
    }

    fn list(&self) -> BoxStream<'_, Result<ListItem, SourceError>> {
        let base = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let shuffled = self.shuffled;
        Box::pin(futures::stream::iter((0..KEYS * VERSIONS_PER_KEY).map(
            move |i| {
                let (k, v) = (
                    i / VERSIONS_PER_KEY,
                    VERSIONS_PER_KEY - 1 - i % VERSIONS_PER_KEY,
                );
                // 7919 is prime and does not divide KEYS: a permutation.
                let k = if shuffled { k * 7919 % KEYS } else { k };
                Ok(ListItem::Version(Candidate {
                    key: key(k),
                    version_id: Some(format!("v{v}")),
                    size: 1 << 20,
                    last_modified: base + chrono::Duration::seconds((k * 10 + v) as i64),
                    is_latest: v == VERSIONS_PER_KEY - 1,
                    ..Candidate::default()
                }))
            },
        )))
    }
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Versions 0 and 1 of every key (500,000 points): half verified 10 days
/// ago, half 40 days ago (outside a 30-day period), and every 1000th key's
/// version 1 failing.
fn seed(ledger: &Path) -> anyhow::Result<()> {
    drop(restoreproof::ledger::Ledger::open(ledger)?);
    let mut conn = rusqlite::Connection::open(ledger)?;
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare(
            "INSERT INTO points (source, key, version_id, last_checked_at, last_verdict, last_verified_at, last_run_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'seed')",
        )?;
        let now = chrono::Utc::now();
        for k in 0..KEYS {
            for v in 0..2u64 {
                let days = if (k + v) % 2 == 0 { 10 } else { 40 };
                let at = (now - chrono::Duration::days(days))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let failing = v == 1 && k % 1000 == 0;
                put.execute(rusqlite::params![
                    SOURCE,
                    key(k),
                    format!("v{v}"),
                    at,
                    if failing { "mismatch" } else { "verified" },
                    at,
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn config(coverage: bool) -> anyhow::Result<restoreproof::config::DrillConfig> {
    let text = format!(
        "[sources.{SOURCE}]\nkind = \"s3\"\nbucket = \"synthetic\"\nendpoint = \"http://127.0.0.1:9\"\n\
         [drills.d]\nsource = \"{SOURCE}\"\nsample = 1000\nschedule = \"0 3 * * *\"\n{}",
        if coverage { "coverage = \"30d\"\n" } else { "" }
    );
    let c = restoreproof::config::Config::from_toml(&text, Path::new("/tmp"))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    c.drills
        .get("d")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no drill"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(ledger)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: coverage_scale seed|join|list|shuffled LEDGER");
    };
    let ledger = Path::new(ledger);
    if mode == "seed" {
        return seed(ledger);
    }
    let cfg = config(mode == "join" || mode == "shuffled")?;
    let points = std::sync::Mutex::new(restoreproof::ledger::Ledger::open(ledger)?);
    let started = Instant::now();
    let listing = Synthetic {
        shuffled: mode == "shuffled",
    };
    let p = plan(&cfg, &listing, &Quiet, &points).await?;
    let secs = started.elapsed().as_secs_f64();
    let c = p.coverage.as_ref();
    println!(
        "{{\"mode\":\"{mode}\",\"listed\":{},\"sampled\":{},\"coverage_picks\":{},\"known_covered\":{},\"failing\":{},\"never_checked\":{},\"secs\":{secs:.3},\"peak_rss_kib\":{}}}",
        p.population.versions_listed,
        p.sampled,
        c.map_or(0, |c| c.coverage_picks),
        c.map_or(0, |c| c.verified_within_period),
        c.map_or(0, |c| c.failing),
        c.map_or(0, |c| c.never_checked),
        peak_rss_kib()
    );
    Ok(())
}

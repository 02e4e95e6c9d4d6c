//! `restoreproof drill --plan`.

use super::output::{truncate, Progress, TABLE_ROWS_PLAN};
use super::EXIT_OK;
use crate::cli::DrillArgs;
use crate::config::{human_bytes, Config, DrillConfig};
use crate::drill::{Observer, Quiet};
use anyhow::anyhow;
use std::io::IsTerminal;
use std::process::ExitCode;

/// `drill --plan`: what a run would restore, without restoring or recording.
pub(super) async fn plan(
    config: &Config,
    drill: &DrillConfig,
    source: &dyn crate::source::RecoverySource,
    args: &DrillArgs,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let show_progress = !args.json && !quiet && std::io::stderr().is_terminal();
    let progress: Box<dyn Observer> = if show_progress {
        Box::new(Progress::new())
    } else {
        Box::new(Quiet)
    };
    let ledger = config
        .ledger_path
        .exists()
        .then(|| crate::ledger::Ledger::open_read_only(&config.ledger_path).ok())
        .flatten()
        .map(std::sync::Mutex::new);
    // Rotating coverage ranks by what the ledger knows; without a ledger,
    // nothing was verified yet.
    let points: &dyn crate::drill::Points = match &ledger {
        Some(l) => l,
        None => &crate::drill::NoPoints,
    };
    let p = crate::drill::plan(drill, source, &*progress, points)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    drop(progress);
    // The time is estimated from the last finished run's throughput, when
    // the ledger has one.
    let throughput = ledger
        .and_then(|l| l.into_inner().ok())
        .and_then(|l| l.last_finished_runs().ok())
        .and_then(|mut runs| runs.remove(&drill.name))
        .and_then(|r| r.throughput_bytes_per_sec)
        .filter(|t| *t > 0);
    let estimated_secs = throughput.map(|t| p.sampled_bytes.div_ceil(t));
    let cost = provider_cost(drill, p.sampled, p.sampled_bytes);
    if args.json {
        let mut doc = serde_json::json!({
            "schema": crate::commands::out::schema::DRILL_PLAN,
            "plan": p,
            "estimated_secs": estimated_secs,
            "estimated_from_bytes_per_sec": throughput,
        });
        if let (Some(c), serde_json::Value::Object(m)) = (&cost, &mut doc) {
            m.insert("estimated_cost_usd".into(), serde_json::json!(c));
        }
        crate::commands::out::json(&doc);
        return Ok(ExitCode::from(EXIT_OK));
    }
    let pop = &p.population;
    crate::outln!(
        "Plan for drill {} (source {}, strategy {}{}), nothing restored:",
        p.drill,
        p.source.name,
        p.strategy,
        p.seed.map(|s| format!(", seed {s}")).unwrap_or_default()
    );
    crate::outln!(
        "  population: {} version(s) listed, {} delete marker(s), {} filtered out, {} candidate(s) ({})",
        pop.versions_listed,
        pop.delete_markers,
        pop.filtered_out,
        pop.candidates,
        human_bytes(pop.candidate_bytes)
    );
    if let Some(t) = &p.population_as_of {
        crate::outln!("  population as of {t}: the source's inventory report (versions written since are not in it)");
    }
    crate::outln!(
        "  sample: {} recovery point(s), {} ({} mode)",
        p.sampled,
        human_bytes(p.sampled_bytes),
        p.mode
    );
    if let Some(c) = &p.coverage {
        super::output::coverage_lines(c);
    }
    if let Some(c) = &cost {
        crate::outln!(
            "  estimated S3 Batch Operations cost: ${:.2} (one job) to ${:.2} (three jobs: the algorithms depend on each version's reference, read when the run starts); max_cost ${:.2}",
            c.min,
            c.max,
            c.max_cost
        );
    }
    match (estimated_secs, throughput) {
        (Some(s), Some(t)) => crate::outln!(
            "  estimated restore time: {s} s at the last run's {}/s",
            human_bytes(t)
        ),
        _ => crate::outln!(
            "  estimated restore time: unknown until a run of this drill has finished"
        ),
    }
    sample_table(&p.sample);
    if let Some(seed) = p.seed {
        crate::outln!(
            "Run `restoreproof drill {} --seed {seed}` to restore exactly this sample.",
            p.drill
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// The first rows of the sample.
fn sample_table(sample: &[crate::drill::PlannedPoint]) {
    for s in sample.iter().take(TABLE_ROWS_PLAN) {
        let c = &s.candidate;
        crate::outln!(
            "  {:<60}  {:<38}  {:>10}  {}",
            truncate(&c.key, 60),
            truncate(&c.point_id(), 38),
            human_bytes(c.size),
            super::output::pick_text(s.pick)
        );
    }
    if sample.len() > TABLE_ROWS_PLAN {
        crate::outln!(
            "  … and {} more (`--json` lists them all)",
            sample.len() - TABLE_ROWS_PLAN
        );
    }
}

/// A `provider_checksum` drill's cost: one job per algorithm the versions'
/// references need (at most three: SHA-256, a stored checksum's, MD5).
#[derive(Debug, serde::Serialize)]
struct Cost {
    min: f64,
    max: f64,
    max_cost: f64,
}

fn provider_cost(drill: &DrillConfig, objects: u64, bytes: u64) -> Option<Cost> {
    let pc = drill.provider_checksum.as_ref()?;
    let jobs = |n| crate::drill::provider::estimate(n, objects, bytes);
    Some(Cost {
        min: jobs(1),
        max: jobs(3),
        max_cost: pc.max_cost,
    })
}

//! `restoreproof collect`: finishes the `provider_checksum` runs whose S3
//! Batch Operations jobs ended (see [`crate::drill::provider`]).

use super::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, CollectArgs};
use crate::config::Config;
use crate::drill::{RunSummary, Stop};
use crate::ledger::recorder::Recorder;
use crate::outcome::RunOutcome;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

/// Runs `collect`.
///
/// # Errors
/// The configuration or the ledger cannot be read or written.
pub async fn run(cli: &Cli, args: &CollectArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    let recorder = Mutex::new(super::drill::open_recorder(&config)?);
    let (collected, waiting) =
        until_collected(&config, &recorder, &Stop::default(), args.wait, None).await?;
    if !config.sinks.is_empty() && !collected.is_empty() {
        super::drill::ship_evidence(&config, &recorder).await;
    }
    if args.json {
        super::out::json_doc(
            super::out::schema::COLLECT,
            &serde_json::json!({ "runs": collected, "waiting": waiting }),
        );
    } else {
        for s in &collected {
            crate::outln!("{}", line(s));
        }
        if collected.is_empty() && waiting == 0 {
            crate::outln!("No run waits for an S3 Batch Operations job.");
        } else if waiting > 0 {
            crate::outln!(
                "{waiting} run(s) still wait for their jobs: the service collects them, or run `restoreproof collect --wait`."
            );
        }
    }
    let worst = collected.iter().map(|s| match s.outcome {
        Some(RunOutcome::Passed) => EXIT_OK,
        Some(RunOutcome::Failed) => EXIT_FAILED,
        _ => EXIT_ERROR,
    });
    Ok(ExitCode::from(worst.max().unwrap_or(EXIT_OK)))
}

/// One collected run, in a line.
pub(crate) fn line(s: &RunSummary) -> String {
    let jobs = s
        .provider_checksum
        .as_ref()
        .map(|p| {
            p.jobs
                .iter()
                .map(|j| format!("{} {} {}", j.job_id, j.algorithm, j.status))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let c = &s.counts;
    format!(
        "drill {} run {}: {} — {} of {} recovery point(s) verified at rest, {} mismatch, {} unrecoverable, {} no reference, {} not judged (jobs: {jobs}){}",
        s.drill,
        s.run_id,
        s.outcome.map_or("waiting", RunOutcome::as_str),
        c.verified,
        s.sampled,
        c.mismatch,
        c.unrecoverable,
        c.no_reference,
        c.aborted,
        s.error
            .as_deref()
            .or(s.reason.as_deref())
            .map(|e| format!("; {e}"))
            .unwrap_or_default()
    )
}

/// Collects what has ended; with `wait`, again (every 2 s at first, then
/// at most every minute) until no run waits — or until the run `run_id` is
/// collected. Returns the runs collected and how many still wait.
///
/// # Errors
/// The ledger cannot be read or written.
pub(crate) async fn until_collected(
    config: &Config,
    recorder: &Mutex<Recorder>,
    stop: &Stop,
    wait: bool,
    run_id: Option<&str>,
) -> anyhow::Result<(Vec<RunSummary>, usize)> {
    let mut collected = Vec::new();
    let mut pause = Duration::from_secs(2);
    loop {
        collected.extend(crate::drill::provider::collect(config, recorder, stop).await?);
        let waiting = crate::ledger::recorder::lock(recorder)
            .ledger
            .waiting_runs()?;
        let done = match run_id {
            Some(id) => !waiting.iter().any(|w| w.0 == id),
            None => waiting.is_empty(),
        };
        if !wait || done || stop.is_finishing() {
            return Ok((collected, waiting.len()));
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stop.finishing() => return Ok((collected, waiting.len())),
        }
        pause = (pause * 2).min(Duration::from_secs(60));
    }
}

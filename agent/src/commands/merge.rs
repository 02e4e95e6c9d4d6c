//! `restoreproof merge`: one run from the shards of a sharded drill run
//! (`drill --shard … --shard-dir DIR --run-id ID`), recorded in the main
//! ledger and evidence and shipped like a drill's.

use super::{EXIT_ERROR, EXIT_OK};
use crate::cli::{Cli, MergeArgs};
use crate::config::Config;
use crate::drill::merge::{read_shards, run_id};
use crate::drill::{Drill, Stop, Trigger};
use anyhow::{anyhow, Context as _};
use std::process::ExitCode;

/// Merges the shards of one run of a drill.
///
/// # Errors
/// An invalid config, an unknown drill, no shard at all, or a ledger or
/// evidence file that cannot be written.
pub async fn run(cli: &Cli, args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    let run = run_id(args.run_id.as_deref(), |v| std::env::var(v).ok()).map_err(|e| anyhow!(e))?;
    let (text, summary, code) = merge(
        &config,
        &args.name,
        &args.shard_dir,
        &run,
        args.shards,
        args.if_complete,
    )
    .await?;
    say(args, &text, summary.as_ref(), code)
}

/// Merges run `run` of drill `name` from the shards under `shard_dir`
/// (all of them, or only when all have finished): what happened, the
/// merged run when one was recorded, and the exit code.
///
/// # Errors
/// An unknown drill, no shard at all, or a ledger or evidence file that
/// cannot be written.
pub async fn merge(
    config: &Config,
    name: &str,
    shard_dir: &std::path::Path,
    run: &str,
    shards: Option<u32>,
    if_complete: bool,
) -> anyhow::Result<(String, Option<crate::drill::RunSummary>, u8)> {
    let drill = config.drills.get(name).cloned().ok_or_else(|| {
        anyhow!(
            "no drill named `{name}` in the config; configured drills: {}",
            config.drills.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let signer = crate::evidence::chain::load_signer(&config.signing_key).map_err(|e| {
        anyhow!("{e}; the merge verifies the shards' checkpoints with the agent's signing key")
    })?;
    let key = crate::evidence::chain::NoteVerifier::parse(&signer.vkey())
        .map_err(|e| anyhow!("the signing key's public half: {e}"))?;
    let run_dir = shard_dir.join(run);
    let merged_marker = run_dir.join("merged.json");
    // One merge at a time: the shards of an Indexed Job may finish together.
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let lock_file = std::fs::File::create(run_dir.join(".merge.lock"))
        .with_context(|| format!("cannot create the merge lock in {}", run_dir.display()))?;
    if rustix::fs::flock(
        &lock_file,
        rustix::fs::FlockOperation::NonBlockingLockExclusive,
    )
    .is_err()
    {
        return Ok((
            "another merge of this run is in progress".into(),
            None,
            EXIT_OK,
        ));
    }
    if let Ok(done) = std::fs::read_to_string(&merged_marker) {
        return Ok((
            format!("the run `{run}` is already merged: {}", done.trim()),
            None,
            EXIT_OK,
        ));
    }
    let shards = read_shards(shard_dir, run, shards, &drill.name, &key).map_err(|e| anyhow!(e))?;
    let waiting: Vec<String> = shards
        .iter()
        .filter(|s| s.pending())
        .map(|s| format!("{}/{}", s.outcome().index, s.outcome().count))
        .collect();
    if if_complete && !waiting.is_empty() {
        return Ok((
            format!(
                "shards {} of run `{run}` have not finished; the last shard to finish merges (or run `restoreproof merge` without --if-complete to record the run as incomplete)",
                waiting.join(", ")
            ),
            None,
            EXIT_OK,
        ));
    }
    let recorder = std::sync::Mutex::new(super::drill::open_recorder(config)?);
    let summary = Drill {
        config: &drill,
        recorder: &recorder,
        stop: Stop::default(),
        trigger: Trigger::Shards,
    }
    .record_merge(run, shards)?;
    std::fs::write(
        &merged_marker,
        serde_json::json!({ "merged_run_id": summary.run_id, "at": summary.finished_at })
            .to_string(),
    )
    .with_context(|| format!("cannot write {}", merged_marker.display()))?;
    drop(lock_file);
    if !config.sinks.is_empty() {
        super::drill::ship_evidence(config, &recorder).await;
    }
    if let Some(anchor) = config.anchor.as_ref() {
        if let Err(e) = crate::providers::s3::anchor::sync(anchor, &recorder).await {
            tracing::warn!(error = %e, "Cannot anchor the checkpoint; the next run or the service tries again.");
        }
    }
    let code = super::drill::exit_code(&summary);
    let outcome = summary
        .outcome
        .map_or_else(|| "error".to_owned(), |o| o.to_string());
    let text = match &summary.error {
        Some(e) => format!("merged run {} of `{run}`: {outcome}: {e}", summary.run_id),
        None => format!(
            "merged run {} of `{run}`: {outcome}: {} sampled, {} verified, {} mismatch, {} unrecoverable",
            summary.run_id,
            summary.sampled,
            summary.counts.verified,
            summary.counts.mismatch,
            summary.counts.unrecoverable
        ),
    };
    Ok((text, Some(summary), code))
}

/// Prints the result (a line, or the JSON document) and gives the exit code.
fn say(
    args: &MergeArgs,
    text: &str,
    summary: Option<&crate::drill::RunSummary>,
    code: u8,
) -> anyhow::Result<ExitCode> {
    if args.json {
        super::out::json(&serde_json::json!({
            "schema": super::out::schema::MERGE,
            "merged": summary.is_some(),
            "message": text,
            "summary": summary,
        }));
    } else {
        super::out::write(&format!("{text}\n"));
    }
    Ok(ExitCode::from(if summary.is_none() && code != EXIT_OK {
        EXIT_ERROR
    } else {
        code
    }))
}

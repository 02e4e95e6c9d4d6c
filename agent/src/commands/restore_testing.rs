//! `restoreproof restore-testing --once`: validates the AWS Backup restore
//! tests whose events wait on the queue (see [`crate::restore_testing`]).

use super::{EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, RestoreTestingArgs};
use crate::config::Config;
use crate::restore_testing::Validator;
use anyhow::anyhow;
use std::process::ExitCode;

/// Runs `restore-testing --once`.
///
/// # Errors
/// No `[aws_backup]`, the queue cannot be read, or the ledger cannot be
/// written.
pub async fn run(cli: &Cli, args: &RestoreTestingArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    let validator = Validator::new(&config).await.ok_or_else(|| {
        anyhow!(
            "{} has no [aws_backup] section: set queue_url and source (docs/aws.md) to validate AWS Backup restore tests",
            cli.config.display()
        )
    })?;
    let recorder = std::sync::Mutex::new(super::drill::open_recorder(&config)?);
    let handled = validator
        .once(&recorder, &crate::shutdown::Stop::default(), args.wait)
        .await
        .map_err(|e| anyhow!(e))?;
    if !config.sinks.is_empty() {
        super::drill::ship_evidence(&config, &recorder).await;
    }
    let ok = handled
        .iter()
        .all(|h| matches!(h.posted, Some("SUCCESSFUL")) || h.outcome == "already_validated");
    if args.json {
        super::out::json_doc(
            super::out::schema::RESTORE_TESTING,
            &serde_json::json!({ "messages": handled }),
        );
    } else if handled.is_empty() {
        crate::outln!(
            "No restore-testing event waiting on {}.",
            validator_queue(&config)
        );
    } else {
        for h in &handled {
            let job = h.restore_job_id.as_deref().unwrap_or("(no job)");
            match (&h.posted, &h.summary, &h.reason) {
                (Some(p), Some(s), _) => crate::outln!(
                    "restore job {job}: {p} — {} of {} object(s) verified, {} mismatch, {} unrecoverable (run {})",
                    s.counts.verified, s.sampled, s.counts.mismatch, s.counts.unrecoverable, s.run_id
                ),
                (Some(p), None, Some(r)) => crate::outln!("restore job {job}: {p} — {r}"),
                (_, _, r) => crate::outln!(
                    "message {} ({job}): {} — {}",
                    h.message_id,
                    h.outcome.replace('_', " "),
                    r.as_deref().unwrap_or("")
                ),
            }
        }
    }
    Ok(ExitCode::from(if ok { EXIT_OK } else { EXIT_FAILED }))
}

fn validator_queue(config: &Config) -> &str {
    config
        .aws_backup
        .as_ref()
        .map_or("the queue", |a| a.queue_url.as_str())
}

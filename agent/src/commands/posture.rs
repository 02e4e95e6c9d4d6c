//! `restoreproof posture`: checks each source's settings against its
//! policy and records every finding as evidence. Exit 0 when nothing
//! required fails, 1 when something does, 2 when it could not run.

use super::{EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, PostureArgs};
use crate::config::Config;
use crate::ledger::recorder::Recorder;
use crate::posture::Status;
use anyhow::anyhow;
use serde_json::json;
use std::process::ExitCode;

/// Runs the checks.
///
/// # Errors
/// An invalid config, an unknown source, or a ledger that cannot be written.
pub async fn run(cli: &Cli, a: &PostureArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    if let Some(s) = &a.source {
        super::known_source(&config, s)?;
    }
    let (findings, skipped) = crate::providers::check_posture(&config, a.source.as_deref()).await;
    let mut recorder = Recorder::open(&config.ledger_path, &config.evidence_path)?;
    recorder.signer = Some(
        crate::evidence::chain::load_signer(&config.signing_key).map_err(|e| {
            anyhow!("{e}; set evidence.signing_key or evidence.signing_key_credential")
        })?,
    );
    let ids = crate::posture::record(&mut recorder, &findings)?;
    let failed = findings.iter().any(|f| f.status == Status::Fail);
    if a.json {
        let doc: Vec<_> = findings
            .iter()
            .zip(&ids)
            .map(|(f, id)| {
                let mut v = serde_json::to_value(f).unwrap_or_default();
                v["event_id"] = json!(id);
                v
            })
            .collect();
        super::out::json_doc(
            super::out::schema::POSTURE,
            &json!({ "findings": doc, "not_checked": skipped }),
        );
    } else {
        crate::outln!(
            "{:<16} {:<22} {:<8} {:<50} REQUIRED",
            "SOURCE",
            "CHECK",
            "STATUS",
            "OBSERVED"
        );
        for f in &findings {
            crate::outln!(
                "{:<16} {:<22} {:<8} {:<50} {}",
                f.source,
                f.check,
                f.status.as_str(),
                f.observed,
                f.required
            );
            if let Some(r) = &f.reason {
                crate::outln!("{:<16} {:<22} {:<8} {r}", "", "", "");
            }
        }
        for s in &skipped {
            crate::outln!("{s}: Azure posture checks are not part of this version");
        }
        crate::outln!(
            "\n{}: {} pass, {} fail, {} unknown",
            if failed {
                "RESULT: FAILED"
            } else {
                "RESULT: OK"
            },
            findings.iter().filter(|f| f.status == Status::Pass).count(),
            findings.iter().filter(|f| f.status == Status::Fail).count(),
            findings
                .iter()
                .filter(|f| f.status == Status::Unknown)
                .count()
        );
    }
    Ok(ExitCode::from(if failed { EXIT_FAILED } else { EXIT_OK }))
}

//! `restoreproof patch`: this host's patch state, judged and recorded.

use super::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, PatchArgs};
use crate::config::Config;
use crate::ledger::recorder::Recorder;
use crate::posture::Status;
use std::process::ExitCode;

/// Records the host's patch state; exit 0 compliant, 1 a requirement
/// fails, 2 could not check.
///
/// # Errors
/// When the config, ledger or evidence file cannot be used.
pub async fn run(cli: &Cli, args: &PatchArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    let cloud = crate::providers::patch::view(&config).await;
    let mut recorder = Recorder::open(&config.ledger_path, &config.evidence_path)?;
    if let Ok(k) = crate::evidence::chain::load_signer(&config.signing_key) {
        recorder.signer = Some(k);
    }
    let (state, findings) =
        crate::patch::check_and_record(&mut recorder, &config.patch_policy, cloud)?;
    let unknown = findings.iter().any(|f| f.status == Status::Unknown);
    let failed = findings.iter().any(|f| f.status == Status::Fail);
    if args.json {
        super::out::json_doc(
            super::out::schema::PATCH,
            &serde_json::json!({ "host": state, "findings": findings, "compliant": !failed && !unknown }),
        );
    } else {
        crate::outln!(
            "{} (kernel {}), package manager {}",
            state.os,
            state.kernel,
            state.package_manager
        );
        crate::outln!(
            "pending: {} security, {} other update(s){}",
            state.pending_security,
            state.pending_other,
            if state.held.is_empty() {
                String::new()
            } else {
                format!(", {} held back", state.held.len())
            }
        );
        for f in &findings {
            crate::outln!(
                "{:<8} {:<24} {} (required: {}){}",
                f.status.as_str().to_uppercase(),
                f.check,
                f.observed,
                f.required,
                f.reason
                    .as_deref()
                    .map(|r| format!("\n         {r}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::from(if unknown {
        EXIT_ERROR
    } else if failed {
        EXIT_FAILED
    } else {
        EXIT_OK
    }))
}

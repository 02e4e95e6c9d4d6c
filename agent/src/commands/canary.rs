//! `restoreproof canary NAME`: write (and delete) one canary now.

use super::EXIT_OK;
use crate::cli::{CanaryArgs, Cli};
use crate::config::Config;
use crate::ledger::recorder::Recorder;
use crate::source::BuildOptions;
use anyhow::anyhow;
use std::process::ExitCode;

/// Writes one canary of the named `[canaries.NAME]` and deletes it.
///
/// # Errors
/// When the config, source, ledger or evidence file cannot be used, or the
/// store refused the write or delete (recorded as a failed step).
pub async fn run(cli: &Cli, args: &CanaryArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    let cfg = config.canaries.get(&args.name).ok_or_else(|| {
        anyhow!(
            "no canary `{}` in the configuration; the canaries are: {} (add one under [canaries.NAME])",
            args.name,
            if config.canaries.is_empty() {
                "none".to_owned()
            } else {
                config.canaries.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        )
    })?;
    let source_config = config.sources.get(&cfg.source).ok_or_else(|| {
        anyhow!(
            "the canary names source `{}`, which is not configured",
            cfg.source
        )
    })?;
    let options = BuildOptions {
        attempts: crate::config::defaults::ATTEMPTS,
        timeout: std::time::Duration::from_secs(300),
    };
    let source = crate::providers::build(&cfg.source, source_config, options)
        .await
        .map_err(|e| anyhow!("cannot set up source `{}`: {e}", cfg.source))?;
    let recorder =
        std::sync::Mutex::new(Recorder::open(&config.ledger_path, &config.evidence_path)?);
    let written = crate::canary::write(cfg, &*source, &recorder).await?;
    if args.json {
        super::out::json_doc(super::out::schema::CANARY, &written);
    } else {
        crate::outln!(
            "Canary {} written and deleted: {} (version {}, {} bytes, SHA-256 {}); drills of source {} restore it at {}.",
            written.canary,
            written.key,
            written.version_id,
            written.size,
            written.sha256,
            cfg.source,
            cfg.ages
                .iter()
                .map(|a| crate::config::age_text(*a))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

//! `restoreproof report`: runs, verdicts, coverage, RTO/RPO indicators and
//! the ISO/IEC 27001 control matrix over a period.

use super::EXIT_OK;
use crate::cli::{Cli, ReportArgs, ReportFormat};
use crate::config::Config;
use crate::ledger::Ledger;
use crate::report::{render, Report};
use anyhow::{anyhow, Context};
use std::process::ExitCode;

/// Writes the report.
///
/// # Errors
/// An invalid config, unknown source, missing ledger or unwritable output.
pub fn run(cli: &Cli, a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    if let Some(s) = &a.source {
        super::known_source(&config, s)?;
    }
    if !config.ledger_path.exists() {
        return Err(anyhow!(
            "no ledger at {}: nothing has been recorded with this configuration yet",
            config.ledger_path.display()
        ));
    }
    let ledger = Ledger::open(&config.ledger_path)?;
    let now = chrono::Utc::now();
    let since =
        now - chrono::Duration::from_std(a.since.0).map_err(|_| anyhow!("--since is too long"))?;
    let report = Report::build(&config, &ledger, since, now, a.source.as_deref())?;
    let text = match a.format {
        ReportFormat::Text => render::text(&report),
        ReportFormat::Md => render::markdown(&report),
        ReportFormat::Html => render::html(&report),
        ReportFormat::Csv => render::csv(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    match &a.output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("Wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::from(EXIT_OK))
}

//! `restoreproof report`: runs, verdicts, coverage, RTO/RPO indicators and
//! the ISO/IEC 27001 control matrix over a period.

use super::EXIT_OK;
use crate::cli::{Cli, ReportArgs, ReportFormat};
use crate::config::Config;
use crate::ledger::Ledger;
use crate::report::{render, Report};
use anyhow::{anyhow, Context};
use std::process::ExitCode;

/// Writes `text` to `p` through a temporary file renamed into place, never
/// over one of the agent's own files, and over an existing file only with
/// `--force`.
fn write_output(
    config: &Config,
    p: &std::path::Path,
    text: &str,
    force: bool,
) -> anyhow::Result<()> {
    if let Some(key) = config.agent_file_key(p) {
        return Err(anyhow!(
            "refusing to write the report to {}: it is the agent's own file ({key}); choose another -o path",
            p.display()
        ));
    }
    if p.exists() && !force {
        return Err(anyhow!(
            "{} exists; pass --force to replace it, or choose another -o path",
            p.display()
        ));
    }
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .with_context(|| format!("cannot write {}", p.display()))?;
    tmp.persist(p)
        .with_context(|| format!("cannot write {}", p.display()))?;
    Ok(())
}

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
    let ledger = Ledger::open_read_only(&config.ledger_path)?;
    // The report reads the ledger's rows; they must say what the hash
    // chain says, or nothing is reported.
    let disagreements = ledger.rows_disagreeing_with_chain()?;
    if !disagreements.is_empty() {
        let shown: Vec<String> = disagreements
            .iter()
            .take(10)
            .map(|d| format!("  {} row ({}): {}", d.table, d.row, d.message))
            .collect();
        return Err(anyhow!(
            "the ledger's rows disagree with its hash-chained evidence in {} place(s), so no report is made from them:\n{}\nthe rows were changed after they were recorded; `restoreproof evidence verify` lists every one",
            disagreements.len(),
            shown.join("\n")
        ));
    }
    let now = chrono::Utc::now();
    let since =
        now - chrono::Duration::from_std(a.since.0).map_err(|_| anyhow!("--since is too long"))?;
    let mut report = Report::build(&config, &ledger, since, now, a.source.as_deref())?;
    if let Some(frameworks) = &a.framework {
        report.select_frameworks(&frameworks.0);
    }
    // Ties a printed report to the configuration it was made with.
    report.config_sha256 = std::fs::read(&cli.config)
        .ok()
        .map(|b| crate::evidence::sha256_hex(&b));
    let text = match a.format {
        ReportFormat::Text => render::text(&report),
        ReportFormat::Md => render::markdown(&report),
        ReportFormat::Html => crate::report::html::html(&report),
        ReportFormat::Csv => render::csv(
            &report,
            a.table.ok_or_else(|| {
                anyhow!("a CSV file holds one table: give --table drills, --table failures or --table controls (one file each)")
            })?,
        ),
        ReportFormat::Oscal => crate::report::oscal::render(&report),
        ReportFormat::Json => {
            let mut doc = serde_json::Map::new();
            doc.insert("schema".into(), super::out::schema::REPORT.into());
            if let serde_json::Value::Object(m) = serde_json::to_value(&report)? {
                doc.extend(m);
            }
            serde_json::to_string_pretty(&doc)? + "\n"
        }
    };
    match &a.output {
        Some(p) => {
            write_output(&config, p, &text, a.force)?;
            eprintln!("Wrote {}", p.display());
        }
        None => crate::out!("{text}"),
    }
    Ok(ExitCode::from(EXIT_OK))
}

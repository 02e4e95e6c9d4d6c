//! `restoreproof status`: each drill's last run, verdict counts and next
//! run, and whether the daemon's heartbeat is fresh. Reads the ledger only.
//!
//! Exit codes: 0 healthy; 1 the daemon's heartbeat is stale, a drill's
//! last run failed or ended in error, an evidence sink is failing, or a
//! last run's summary disagrees with the hash chain; 2 could not read.
//! `--prometheus` exits 0 whenever it printed the metrics (they carry the
//! health), so `status --prometheus > f.tmp && mv f.tmp f` keeps updating
//! exactly when things fail.

use super::{EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, StatusArgs};
use crate::config::Config;
use crate::daemon::status::StatusReport;
use crate::ledger::Ledger;
use anyhow::anyhow;
use std::process::ExitCode;

/// Prints the status.
///
/// # Errors
/// When the config is invalid or the ledger cannot be read.
pub fn run(cli: &Cli, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    if !config.ledger_path.exists() {
        return Err(anyhow!(
            "no ledger at {}: no drill has run with this configuration yet (run `restoreproof drill NAME` or start the service)",
            config.ledger_path.display()
        ));
    }
    let ledger = Ledger::open_read_only(&config.ledger_path)?;
    let report = StatusReport::build(&config, &ledger, chrono::Utc::now())?;
    if args.heartbeat {
        return Ok(ExitCode::from(heartbeat(&report)));
    }
    if args.json {
        super::out::json_doc(super::out::schema::STATUS, &report);
    } else if args.prometheus {
        crate::out!("{}", report.to_prometheus());
        return Ok(ExitCode::from(EXIT_OK));
    } else {
        crate::out!("{}", report.to_text());
    }
    let why = unhealthy(&report);
    if why.is_empty() {
        return Ok(ExitCode::from(EXIT_OK));
    }
    eprintln!("status: unhealthy: {}", why.join("; "));
    Ok(ExitCode::from(EXIT_FAILED))
}

/// Why `status` exits 1, one reason each: empty when healthy.
fn unhealthy(report: &StatusReport) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(d) = report
        .daemon
        .as_ref()
        .filter(|d| !d.fresh && d.state.state != "stopped")
    {
        why.push(format!(
            "the service's heartbeat is stale ({} s old)",
            d.heartbeat_age_secs
        ));
    }
    // Judged by each drill's last run that ended, as the metrics are.
    for d in &report.drills {
        if let Some(o) = d.last_outcome.filter(|o| !o.passed()) {
            why.push(format!("drill {}'s last run ended {o}", d.name));
        }
    }
    if report.sinks_failing() {
        why.push("an evidence sink is failing or falling behind (see SINKS)".into());
    }
    if report.daemon_problems() {
        let said = report
            .daemon
            .as_ref()
            .map(|d| d.state.problems.join("; "))
            .unwrap_or_default();
        why.push(format!("the service reports: {said}"));
    }
    if !report.tampered.is_empty() {
        why.push(format!(
            "{} ledger row(s) disagree with the evidence chain",
            report.tampered.len()
        ));
    }
    why
}

/// `status --heartbeat`: one line, and whether the service is alive.
fn heartbeat(report: &StatusReport) -> u8 {
    match &report.daemon {
        Some(d) if d.fresh => {
            crate::outln!(
                "alive: the service's last heartbeat was {} s ago (state {})",
                d.heartbeat_age_secs,
                d.state.state
            );
            EXIT_OK
        }
        Some(d) => {
            crate::outln!(
                "not alive: the service's last heartbeat was {} s ago (state {})",
                d.heartbeat_age_secs,
                d.state.state
            );
            EXIT_FAILED
        }
        None => {
            crate::outln!("not alive: the service has not run with this configuration");
            EXIT_FAILED
        }
    }
}

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
    let stale = report
        .daemon
        .as_ref()
        .is_some_and(|d| !d.fresh && d.state.state != "stopped");
    // Judged by each drill's last run that ended, as the metrics are.
    let failed = report
        .drills
        .iter()
        .any(|d| d.last_outcome.is_some_and(|o| !o.passed()));
    Ok(ExitCode::from(
        if stale
            || failed
            || report.sinks_failing()
            || report.daemon_problems()
            || !report.tampered.is_empty()
        {
            EXIT_FAILED
        } else {
            EXIT_OK
        },
    ))
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

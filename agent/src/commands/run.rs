//! `restoreproof run`: the daemon. Signals become [`Control`]s: SIGHUP
//! reloads, SIGTERM and SIGINT stop (a second one cancels restores in
//! flight at once).

use super::EXIT_OK;
use crate::cli::Cli;
use crate::daemon::{self, Control};
use anyhow::Context;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// Runs the daemon until it is stopped.
///
/// # Errors
/// When the daemon cannot start (invalid config, no scheduled drill, ledger
/// or evidence file not writable) or cannot record that it stopped.
pub async fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let control = tokio::select! {
                _ = term.recv() => Control::Stop,
                _ = int.recv() => Control::Stop,
                _ = hup.recv() => Control::Reload,
            };
            if tx.send(control).await.is_err() {
                return;
            }
        }
    });
    daemon::run(&cli.config, rx).await?;
    Ok(ExitCode::from(EXIT_OK))
}

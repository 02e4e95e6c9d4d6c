//! `restoreproof ship`: delivers the outbox to the configured sinks.
//! `--once` delivers what is pending and reports per sink (exit 0 when
//! every sink is caught up, 1 when one is not); without it, ships until
//! SIGINT/SIGTERM (for hosts that run drills from timers, not the daemon).

use super::{EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, ShipArgs};
use crate::config::Config;
use crate::sink::shipper::{ShipReport, Shipper};
use anyhow::{anyhow, Context};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Runs `ship`.
///
/// # Errors
/// An invalid config, an unknown sink, or a sink that cannot be set up.
pub async fn run(cli: &Cli, args: &ShipArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    let shippers = open(&config, args.sink.as_deref())?;
    if !args.once {
        let stop = CancellationToken::new();
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut tasks = tokio::task::JoinSet::new();
        let wake = Arc::new(tokio::sync::Notify::new());
        for s in shippers {
            tasks.spawn(s.run(stop.clone(), wake.clone(), Duration::from_secs(10)));
        }
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        stop.cancel();
        while tasks.join_next().await.is_some() {}
        return Ok(ExitCode::from(EXIT_OK));
    }
    let reports = drain_all(shippers).await;
    if args.json {
        super::out::json_doc(
            super::out::schema::SHIP,
            &serde_json::json!({ "sinks": reports }),
        );
    } else {
        for r in &reports {
            match &r.error {
                None => crate::outln!(
                    "{}: delivered {} event(s) to {} in {} ms; backlog {}",
                    r.sink, r.delivered, r.target, r.duration_ms, r.backlog
                ),
                Some(e) => crate::outln!(
                    "{}: delivered {} event(s) to {}, then FAILED: {e}; backlog {} (kept in the ledger, delivered later)",
                    r.sink, r.delivered, r.target, r.backlog
                ),
            }
        }
    }
    let behind = reports.iter().any(|r| r.error.is_some() || r.backlog > 0);
    Ok(ExitCode::from(if behind { EXIT_FAILED } else { EXIT_OK }))
}

/// Shippers for every sink, or only `only`.
///
/// # Errors
/// No sinks, an unknown sink name, or a sink that cannot be set up.
pub fn open(config: &Config, only: Option<&str>) -> anyhow::Result<Vec<Shipper>> {
    if config.sinks.is_empty() {
        return Err(anyhow!(
            "no evidence sinks are configured; add one under [sinks.NAME] (see docs/sinks.md)"
        ));
    }
    if let Some(name) = only {
        if !config.sinks.contains_key(name) {
            return Err(anyhow!(
                "no sink named `{name}`; configured sinks: {}",
                config.sinks.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    config
        .sinks
        .values()
        .filter(|s| only.is_none_or(|n| n == s.name))
        .map(|s| Shipper::open(s, &config.ledger_path).map_err(anyhow::Error::from))
        .collect()
}

/// Drains every shipper at once.
pub async fn drain_all(shippers: Vec<Shipper>) -> Vec<ShipReport> {
    let tasks: Vec<_> = shippers
        .into_iter()
        .map(|mut s| tokio::spawn(async move { s.drain().await }))
        .collect();
    let mut reports = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            reports.push(r);
        }
    }
    reports
}

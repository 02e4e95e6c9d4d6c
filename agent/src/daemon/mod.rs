//! The agent as a service (`restoreproof run`): every drill with a schedule
//! runs on it until the process is stopped.
//!
//! - [`schedule`]: when a drill fires (cron in a time zone, jitter, missed runs);
//! - [`scheduler`]: one loop per drill, a global limit, reload;
//! - [`status`]: what `restoreproof status` and the metrics file show.
//!
//! Lifecycle: READY=1 once the drills are scheduled; a heartbeat (ledger row,
//! metrics file, then WATCHDOG=1) every `daemon.heartbeat_interval`, so a
//! daemon that cannot write its ledger stops petting the watchdog; SIGHUP
//! reloads the config and keeps the running one when the new one is
//! invalid; SIGTERM/SIGINT start no new restore, give those in flight
//! `daemon.shutdown_timeout`, then cancel them (recorded as `aborted`). A
//! second SIGTERM/SIGINT cancels at once.

pub use crate::config::schedule;
mod events;
pub mod scheduler;
pub mod status;

use events::{
    drill_plans, ConfigReloaded, DaemonStarted, DaemonStopped, GateChanged, ReloadOutcome,
    SourceName,
};

use crate::config::{Config, DrillConfig};
use crate::drill::{Drill, Quiet, Stop};
use crate::evidence::{now_rfc3339, AgentInfo, Body, Event};
use crate::ledger::evidence_file::EvidenceFile;
use crate::ledger::recorder::{lock, Recorder, SharedRecorder};
use crate::ledger::DaemonState;
use crate::sink::shipper::{Shipper, ShipperError};
use crate::source::{self, BuildOptions};
use chrono::{DateTime, SecondsFormat, Utc};
use scheduler::{Clock, Runner, Scheduler, SystemClock};
use sd_notify::NotifyState;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod loops;
mod metrics_http;
mod runner;
use loops::{
    anchor_loop, canary_loop, chain_loop, patch_loop, posture_loop, provider_jobs_loop,
    restore_testing_loop,
};

mod shipping;
use shipping::{open_shippers, Shipping};

/// What the process is asked to do (from signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGHUP: reload the config (and reopen the evidence file).
    Reload,
    /// SIGTERM/SIGINT: stop.
    Stop,
}

/// Why the service stopped or could not start (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{}: nothing has a schedule (no drill, [posture], [patch] or canary), so `restoreproof run` would do nothing; add e.g. `schedule = \"0 3 * * *\"` to a drill under [drills]", .0.display())]
    NothingScheduled(std::path::PathBuf),
    #[error("{0}; set evidence.signing_key or evidence.signing_key_credential")]
    SigningKey(#[from] crate::evidence::chain::NoteError),
    #[error("cannot open or write the ledger and evidence file: {0}")]
    Evidence(#[from] crate::ledger::evidence_file::EvidenceFileError),
    #[error("ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Sink(#[from] ShipperError),
}

/// Runs the daemon until a [`Control::Stop`] arrives (or the sender is
/// dropped).
///
/// # Errors
/// When the config is invalid or schedules no drill, or the ledger or
/// evidence file cannot be opened.
pub async fn run(
    config_path: &Path,
    mut controls: mpsc::Receiver<Control>,
) -> Result<(), DaemonError> {
    let mut service = Service::start(config_path)?;
    let config = service.agent.config();
    service.agent.record(&DaemonStarted {
        agent: AgentInfo::current(),
        config_path,
        drills: drill_plans(&config.drills),
        max_concurrent_drills: config.daemon.max_concurrent_drills,
        shutdown_timeout_secs: config.daemon.shutdown_timeout.as_secs(),
    })?;
    // Let the drill loops compute their first fire times before the first
    // heartbeat reports them.
    tokio::task::yield_now().await;
    service.agent.heartbeat("running")?;
    let watchdog = sd_notify::watchdog_enabled();
    let every = announce(&config, config_path, watchdog);
    service
        .serve(&mut controls, every, watchdog.is_some())
        .await;
    service.shut_down(&mut controls).await
}

/// The running service: its shared state, the drills' scheduler, the
/// shippers and the other loops.
struct Service {
    agent: Arc<Agent>,
    scheduler: Scheduler,
    shipping: Shipping,
    wake: Arc<tokio::sync::Notify>,
    stop: Stop,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// Loads what `validate` (systemd's ExecStartPre=) accepts, and nothing
    /// else; opens the ledger; starts the shippers, the scheduler and the
    /// posture, canary, anchor and patch loops.
    fn start(config_path: &Path) -> Result<Self, DaemonError> {
        let config = crate::host::load_usable(config_path)?;
        if !config.drills.values().any(|d| d.schedule.is_some())
            && config.posture_schedule.is_none()
            && config.patch_schedule.is_none()
            && !config.canaries.values().any(|c| c.schedule.is_some())
            && config.aws_backup.is_none()
        {
            return Err(DaemonError::NothingScheduled(config_path.to_owned()));
        }
        let recorder = Recorder::shared(&config.ledger_path, &config.evidence_path)?;
        lock(&recorder).signer = Some(
            crate::evidence::chain::load_signer(&config.signing_key)
                .map_err(DaemonError::SigningKey)?,
        );
        let wake = lock(&recorder).wake.clone();
        let shipping = Shipping::spawn(open_shippers(&config)?, wake.clone());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let agent = Arc::new(Agent {
            config: RwLock::new(Arc::new(config.clone())),
            config_path: config_path.to_owned(),
            recorder,
            next_runs: Mutex::new(BTreeMap::new()),
            started_at: now_rfc3339(),
            clock: clock.clone(),
            metrics_error: Mutex::new(None),
            chain_problem: Mutex::new(None),
            last_checkpoint: Mutex::new(std::time::Instant::now()),
        });
        let stop = Stop::new();
        let mut scheduler = Scheduler::new(
            agent.clone(),
            clock,
            config.daemon.max_concurrent_drills,
            stop.clone(),
        );
        scheduler.apply(&config.drills);
        let loops = vec![
            tokio::spawn(posture_loop(agent.clone(), stop.clone())),
            tokio::spawn(canary_loop(agent.clone(), stop.clone())),
            tokio::spawn(anchor_loop(agent.clone(), stop.clone())),
            tokio::spawn(patch_loop(agent.clone(), stop.clone())),
            tokio::spawn(restore_testing_loop(agent.clone(), stop.clone())),
            tokio::spawn(provider_jobs_loop(agent.clone(), stop.clone())),
            tokio::spawn(chain_loop(agent.clone(), stop.clone())),
        ];
        let mut loops = loops;
        if let Some(addr) = config.daemon.metrics_listen {
            loops.push(tokio::spawn(metrics_http::serve(
                agent.clone(),
                addr,
                stop.clone(),
            )));
        }
        Ok(Self {
            agent,
            scheduler,
            shipping,
            wake,
            stop,
            loops,
        })
    }

    /// Heartbeats (petting systemd's watchdog when it watches) and reloads
    /// until asked to stop.
    async fn serve(
        &mut self,
        controls: &mut mpsc::Receiver<Control>,
        every: Duration,
        watchdog: bool,
    ) {
        let mut beat = tokio::time::interval(every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = beat.tick() => match self.agent.heartbeat("running") {
                    Ok(()) => {
                        if watchdog {
                            notify(&[NotifyState::Watchdog]);
                        }
                    }
                    // No watchdog ping: systemd restarts a daemon that cannot
                    // record.
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "Heartbeat failed; the watchdog is not petted."),
                },
                control = controls.recv() => match control {
                    Some(Control::Reload) => {
                        let mut states = vec![NotifyState::Reloading];
                        states.extend(NotifyState::monotonic_usec_now().ok());
                        notify(&states);
                        if let Some(shippers) = self.agent.reload(&mut self.scheduler) {
                            self.shipping.stop().await;
                            self.shipping = Shipping::spawn(shippers, self.wake.clone());
                        }
                        notify(&[NotifyState::Ready]);
                    }
                    Some(Control::Stop) | None => break,
                },
            }
        }
    }

    /// No new restore starts; restores in flight finish within the
    /// shutdown timeout or are cancelled (recorded as aborted, as they are
    /// at a second stop); then the stop is recorded, checkpointed and
    /// shipped.
    async fn shut_down(self, controls: &mut mpsc::Receiver<Control>) -> Result<(), DaemonError> {
        let Self {
            agent,
            mut scheduler,
            mut shipping,
            stop,
            loops,
            ..
        } = self;
        let timeout = agent.config().daemon.shutdown_timeout;
        notify(&[
            NotifyState::Stopping,
            NotifyState::Status("stopping: waiting for restores in flight"),
        ]);
        tracing::info!(
            shutdown_timeout_secs = timeout.as_secs(),
            "Stopping: no new restore starts; restores in flight may finish within the shutdown timeout."
        );
        let _ = agent.heartbeat("stopping");
        stop.finish();
        let cancelled = {
            let join = scheduler.join();
            tokio::pin!(join);
            tokio::select! {
                () = &mut join => false,
                () = tokio::time::sleep(timeout) => {
                    tracing::warn!("Shutdown timeout passed; cancelling restores in flight (recorded as aborted).");
                    stop.cancel();
                    join.await;
                    true
                }
                Some(Control::Stop) = controls.recv() => {
                    tracing::warn!("Asked to stop again; cancelling restores in flight now (recorded as aborted).");
                    stop.cancel();
                    join.await;
                    true
                }
            }
        };
        for l in loops {
            let _ = l.await;
        }
        agent.record(&DaemonStopped {
            agent: AgentInfo::current(),
            restores_cancelled: cancelled,
        })?;
        lock(&agent.recorder).checkpoint("stop")?;
        // Last, so the sinks get the stop event too.
        shipping.stop().await;
        agent.heartbeat("stopped")?;
        tracing::info!("Stopped.");
        Ok(())
    }
}

/// Tells systemd the service is ready and logs where it writes; the
/// heartbeat interval (at most half the watchdog's, when one is set).
fn announce(config: &Config, config_path: &Path, watchdog: Option<Duration>) -> Duration {
    let mut every = config.daemon.heartbeat_interval;
    if let Some(w) = watchdog {
        every = every.min(w / 2).max(Duration::from_millis(100));
    }
    notify(&[
        NotifyState::Ready,
        NotifyState::Status(&format!(
            "{} scheduled drill(s)",
            config
                .drills
                .values()
                .filter(|d| d.schedule.is_some())
                .count()
        )),
    ]);
    tracing::info!(
        config = %config_path.display(),
        ledger = %config.ledger_path.display(),
        evidence = %config.evidence_path.display(),
        heartbeat_secs = every.as_secs_f64(),
        watchdog = watchdog.is_some(),
        "restoreproof is running."
    );
    every
}

/// Sends a state to systemd when it is listening (`NOTIFY_SOCKET`).
fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "Cannot notify systemd.");
    }
}

/// The daemon's state shared with the drill loops.
struct Agent {
    config: RwLock<Arc<Config>>,
    config_path: PathBuf,
    recorder: SharedRecorder,
    next_runs: Mutex<BTreeMap<String, Option<DateTime<Utc>>>>,
    started_at: String,
    clock: Arc<dyn Clock>,
    metrics_error: Mutex<Option<String>>,
    /// Why the evidence chain did not verify at its last check (`None`:
    /// intact, or not checked yet).
    chain_problem: Mutex<Option<String>>,
    last_checkpoint: Mutex<std::time::Instant>,
}

impl Agent {
    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records an event about the daemon itself.
    fn record(&self, body: &impl Body) -> Result<(), DaemonError> {
        let mut event = Event::new(None, body);
        lock(&self.recorder).commit(&mut event, |l, e| l.record_event(e))?;
        Ok(())
    }

    /// Judges every drill's staleness gate and records each change (red, or
    /// green again) as a `gate_changed` event, once: the state is kept in
    /// the ledger, so a restart does not repeat it. A drill's first
    /// judgement is an event only when it is red.
    fn judge_gates(&self, config: &Config) -> Result<(), DaemonError> {
        let mut r = lock(&self.recorder);
        let facts = r.ledger.gate_facts()?;
        let states = r.ledger.gate_states()?;
        let gates = crate::gate::evaluate(
            config.drills.values(),
            &facts,
            Default::default(),
            Utc::now(),
        );
        for g in gates {
            let previous = states.get(&g.drill).map(|(ok, _)| *ok);
            if previous == Some(g.ok) {
                continue;
            }
            if previous.is_none() && g.ok {
                r.ledger.record_gate(&g.drill, true, &[], None)?;
                continue;
            }
            let mut event = Event::new(
                None,
                &GateChanged {
                    agent: AgentInfo::current(),
                    drill: &g.drill,
                    source: SourceName { name: &g.source },
                    ok: g.ok,
                    previous,
                    max_age: &g.max_age,
                    max_age_secs: g.max_age_secs,
                    min_coverage: g.min_coverage,
                    last_passed_at: g.last_passed_at.as_deref(),
                    coverage_percent: g.coverage_percent,
                    reasons: &g.reasons,
                },
            );
            r.commit(&mut event, |l, e| {
                l.record_gate(&g.drill, g.ok, &g.reasons, Some(e))
                    .map(Option::unwrap_or_default)
            })?;
            if g.ok {
                tracing::info!(drill = %g.drill, "The drill's staleness gate is green again.");
            } else {
                tracing::warn!(drill = %g.drill, reasons = %g.reasons.join("; "), "The drill's staleness gate turned red.");
            }
        }
        Ok(())
    }

    /// Records the heartbeat, then rewrites the metrics file.
    fn heartbeat(&self, state: &str) -> Result<(), DaemonError> {
        let config = self.config();
        let next_runs = self
            .next_runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| {
                let v = v.map_or(serde_json::Value::Null, |t| {
                    json!(t.to_rfc3339_opts(SecondsFormat::Secs, true))
                });
                (k.clone(), v)
            })
            .collect();
        let agent = AgentInfo::current();
        lock(&self.recorder).ledger.heartbeat(&DaemonState {
            host: agent.host,
            pid: i64::from(std::process::id()),
            started_at: self.started_at.clone(),
            heartbeat_at: now_rfc3339(),
            heartbeat_secs: config.daemon.heartbeat_interval.as_secs().max(1),
            state: state.to_owned(),
            next_runs,
            config_path: self.config_path.display().to_string(),
            problems: self
                .metrics_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .map(|e| {
                    format!(
                        "cannot write the metrics file {}: {e}; under the packaged unit (ProtectSystem=strict) add its directory with ReadWritePaths= in a drop-in (systemctl edit restoreproof)",
                        config.daemon.metrics_file.as_deref().unwrap_or(Path::new("")).display()
                    )
                })
                .chain(
                    self.chain_problem
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .iter()
                        .map(|p| format!("{}{p}; run `restoreproof evidence verify --ledger`", status::CHAIN_PROBLEM)),
                )
                .collect(),
        })?;
        self.daily_checkpoint()?;
        if let Err(e) = self.judge_gates(&config) {
            tracing::error!(error = %e, "Cannot judge the staleness gates.");
        }
        if let Err(e) = crate::sink::outbox::prune(&self.recorder, &config) {
            tracing::error!(error = %e, "Cannot apply the outbox bounds.");
        }
        self.write_metrics(&config);
        Ok(())
    }

    /// A checkpoint at least once a day, even when no drill runs.
    fn daily_checkpoint(&self) -> Result<(), DaemonError> {
        let mut last = self
            .last_checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= Duration::from_secs(86_400) {
            lock(&self.recorder).checkpoint("daily")?;
            *last = std::time::Instant::now();
        }
        Ok(())
    }

    fn write_metrics(&self, config: &Config) {
        let Some(path) = &config.daemon.metrics_file else {
            return;
        };
        let report = {
            let r = lock(&self.recorder);
            status::StatusReport::build(config, &r.ledger, self.clock.now())
        };
        let written = report.map_err(|e| e.to_string()).and_then(|r| {
            status::write_atomically(path, &r.to_prometheus()).map_err(|e| e.to_string())
        });
        // Said once per distinct problem, not at every heartbeat.
        let mut last = self
            .metrics_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match written {
            Err(e) if last.as_deref() != Some(e.as_str()) => {
                tracing::warn!(path = %path.display(), error = %e, "Cannot write the metrics file; check daemon.metrics_file and its directory's permissions.");
                *last = Some(e);
            }
            Err(_) => {}
            Ok(()) => {
                if last.take().is_some() {
                    tracing::info!(path = %path.display(), "The metrics file is written again.");
                }
            }
        }
    }

    /// SIGHUP: reads the config again. An invalid config (or one that moves
    /// the ledger or evidence file) is refused and the running one kept.
    fn reload(&self, scheduler: &mut Scheduler) -> Option<Vec<Shipper>> {
        let old = self.config();
        let refused = |why: String| {
            tracing::error!("Reload refused; keeping the running configuration. {why}");
            let _ = self.record(&ConfigReloaded {
                agent: AgentInfo::current(),
                config_path: &self.config_path,
                outcome: ReloadOutcome::Refused,
                error: Some(why),
                drills: None,
            });
        };
        let new = match crate::host::load_usable(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                refused(e.to_string());
                return None;
            }
        };
        if new.ledger_path != old.ledger_path || new.evidence_path != old.evidence_path {
            refused(
                "ledger.path or evidence.path changed; restart the service to move them".into(),
            );
            return None;
        }
        // New sinks are set up before anything changes, so a sink that
        // cannot be set up keeps the running configuration.
        let shippers = if new.sinks == old.sinks {
            None
        } else {
            match open_shippers(&new) {
                Ok(s) => Some(s),
                Err(e) => {
                    refused(format!("{e:#}"));
                    return None;
                }
            }
        };
        if new.daemon.max_concurrent_drills != old.daemon.max_concurrent_drills {
            tracing::warn!("daemon.max_concurrent_drills changes at the next restart.");
        }
        // Reopen the evidence file, so a rotated file is followed.
        {
            let mut r = lock(&self.recorder);
            let Recorder {
                ledger, evidence, ..
            } = &mut *r;
            match EvidenceFile::open(&new.evidence_path, ledger) {
                Ok(f) => *evidence = f,
                Err(e) => {
                    tracing::error!(error = %e, "Cannot reopen the evidence file; still writing the one open.")
                }
            }
        }
        scheduler.apply(&new.drills);
        let _ = self.record(&ConfigReloaded {
            agent: AgentInfo::current(),
            config_path: &self.config_path,
            outcome: ReloadOutcome::Applied,
            error: None,
            drills: Some(drill_plans(&new.drills)),
        });
        tracing::info!(
            drills = new.drills.len(),
            "Configuration reloaded; drills running now finish with the configuration they started with."
        );
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new);
        shippers
    }
}

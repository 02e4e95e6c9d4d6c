//! What `restoreproof status` prints and the metrics file holds: each
//! drill's last run (from the ledger), its next run and whether the
//! daemon's heartbeat is fresh. One report feeds both, so they never
//! disagree.

use crate::config::Config;
use crate::ledger::{DaemonState, DrillHistory, LastRun, Ledger, LedgerError, SinkState};
use crate::outcome::RunOutcome;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::fmt::Write as _;

mod prometheus;
mod text;

/// Every verdict, as metrics label them.
const VERDICTS: [&str; 6] = [
    "verified",
    "mismatch",
    "unrecoverable",
    "no_reference",
    "skipped",
    "aborted",
];

/// The run a drill's health is judged by: the last run when it ended (a
/// dead process's run counts as aborted), else the last one that ended.
fn ended_run(last: Option<&LastRun>, finished: Option<LastRun>) -> Option<LastRun> {
    match last {
        Some(r) if r.outcome.is_some() => Some(r.clone()),
        _ => finished,
    }
}

/// The daemon as its heartbeat shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonStatus {
    #[serde(flatten)]
    pub state: DaemonState,
    /// Seconds since the last heartbeat.
    pub heartbeat_age_secs: i64,
    /// The heartbeat is recent enough (within three intervals) and the
    /// daemon did not say it stopped.
    pub fresh: bool,
}

/// One drill's health.
#[derive(Debug, Clone, Serialize)]
pub struct DrillStatus {
    pub name: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// When the running daemon will run it next (jitter included), or, with
    /// no daemon running, the schedule's next fire time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    /// A run of this drill is in progress.
    pub running: bool,
    /// The most recent run, finished or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
    /// The outcome of the most recent run that ended: what the drill's
    /// health is judged by, also while another run is in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<RunOutcome>,
    /// When the most recent run that ended finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_outcome_at: Option<String>,
    /// When a run last passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    /// Every finished run by outcome and every verdict, over the ledger's
    /// history.
    pub history: DrillHistory,
    /// The staleness gate (configured drills only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<crate::gate::DrillGate>,
    /// Rotating coverage as the last run that ended left it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::evidence::record::Coverage>,
}

/// How the heartbeat's problems name an evidence chain that does not verify.
pub const CHAIN_PROBLEM: &str = "the evidence chain does not verify: ";

/// Everything `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub generated_at: String,
    pub ledger: String,
    /// `None`: no daemon ever recorded a heartbeat in this ledger.
    pub daemon: Option<DaemonStatus>,
    pub drills: Vec<DrillStatus>,
    /// Each configured evidence sink's backlog and last error.
    pub sinks: Vec<SinkState>,
    /// The latest patch check, when one was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchStatus>,
    /// Drills' run summaries that disagree with their hash-chained events:
    /// the rows were changed after they were recorded, so what they say is
    /// not to be trusted (`evidence verify` lists every row).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tampered: Vec<String>,
    /// Each canary's latest check (canaries prove that old recovery points
    /// are retained: `gone` means retention failed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<CanaryCheck>,
}

/// A canary's latest check.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryCheck {
    pub canary: String,
    pub source: String,
    /// `restored`, `pending` (not yet at its age), `gone`, `mismatch` or
    /// `error`.
    pub outcome: String,
    pub checked_at: String,
}

impl CanaryCheck {
    /// Each canary's latest check in `ledger`.
    fn all(ledger: &Ledger) -> Result<Vec<Self>, LedgerError> {
        Ok(ledger
            .canary_checks()?
            .into_iter()
            .map(|(canary, source, outcome, checked_at)| Self {
                canary,
                source,
                outcome,
                checked_at,
            })
            .collect())
    }

    /// The canary proved what it should (or is not yet due).
    pub fn ok(&self) -> bool {
        matches!(self.outcome.as_str(), "restored" | "pending")
    }
}

/// The latest patch check's findings.
#[derive(Debug, Clone, Serialize)]
pub struct PatchStatus {
    pub checked_at: String,
    /// No finding failed or was unknown.
    pub compliant: bool,
    pub findings: Vec<PatchCheck>,
}

/// One finding of the latest patch check.
#[derive(Debug, Clone, Serialize)]
pub struct PatchCheck {
    pub check: String,
    /// `pass`, `fail` or `unknown`.
    pub status: String,
    pub observed: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PatchStatus {
    fn from_findings(findings: Vec<crate::evidence::record::Record>) -> Option<Self> {
        let checked_at = findings.last()?.time.clone();
        let findings: Vec<PatchCheck> = findings
            .into_iter()
            .filter_map(|r| match r.body {
                crate::evidence::record::Body::PostureFinding(f) => Some(PatchCheck {
                    check: f.check,
                    status: f.status,
                    observed: f.observed,
                    reason: f.reason,
                }),
                _ => None,
            })
            .collect();
        Some(Self {
            checked_at,
            compliant: findings.iter().all(|f| f.status == "pass"),
            findings,
        })
    }
}

impl StatusReport {
    /// Builds the report for the drills of `config` (plus drills the ledger
    /// knows that the config no longer names).
    ///
    /// # Errors
    /// When the ledger cannot be read.
    pub fn build(
        config: &Config,
        ledger: &Ledger,
        now: DateTime<Utc>,
    ) -> Result<Self, LedgerError> {
        let mut last = ledger.last_runs()?;
        let mut finished = ledger.last_finished_runs()?;
        let mut histories = ledger.drill_histories()?;
        let facts = ledger.gate_facts()?;
        // A run still marked running whose process is gone (killed, crashed,
        // host restarted) is over: shown as aborted, as the next drill
        // would record it.
        let dead: std::collections::HashSet<String> = ledger
            .orphaned_runs()?
            .into_iter()
            .map(|(run_id, ..)| run_id)
            .collect();
        for r in last.values_mut() {
            if r.status == "running" && dead.contains(&r.run_id) {
                r.status = "aborted".into();
                r.outcome = Some(RunOutcome::Aborted);
            }
        }
        let daemon = ledger.daemon_state()?.map(|state| {
            let age = DateTime::parse_from_rfc3339(&state.heartbeat_at)
                .map(|t| (now - t.with_timezone(&Utc)).num_seconds())
                .unwrap_or(i64::MAX);
            let fresh = state.state != "stopped" && age <= 3 * state.heartbeat_secs as i64 + 5;
            DaemonStatus {
                state,
                heartbeat_age_secs: age,
                fresh,
            }
        });
        let live = daemon.as_ref().filter(|d| d.fresh);
        let mut drills = Vec::new();
        let mut tampered = Vec::new();
        for (name, d) in &config.drills {
            let last_run = last.remove(name);
            let running = last_run
                .as_ref()
                .is_some_and(|r| r.status == "running" || r.status == "waiting");
            // The running daemon's next run (jitter included); while the
            // drill runs, or with no daemon, the schedule's next fire time.
            let next_run = live
                .and_then(|l| l.state.next_runs.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .or_else(|| {
                    d.schedule
                        .as_ref()
                        .and_then(|s| s.next_after(now))
                        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                });
            let ended = ended_run(last_run.as_ref(), finished.remove(name));
            // Every run summary of the drill that disagrees with its event
            // (the gate's facts hold them to the chain).
            if let Some(f) = facts.get(name) {
                tampered.extend(f.tampered.iter().map(|t| format!("drill {name}: {t}")));
            }
            let history = histories.remove(name).unwrap_or_default();
            let gate = crate::gate::evaluate([d], &facts, Default::default(), now).pop();
            drills.push(DrillStatus {
                gate,
                coverage: ended.as_ref().and_then(|r| r.coverage.clone()),
                name: name.clone(),
                source: d.source.clone(),
                schedule: d.schedule.as_ref().map(|s| s.expr().to_owned()),
                timezone: d.schedule.as_ref().map(|s| s.timezone().to_owned()),
                next_run,
                running,
                last_run,
                last_outcome: ended.as_ref().and_then(|r| r.outcome),
                last_outcome_at: ended.and_then(|r| r.finished_at),
                last_success_at: history.last_at.get(&RunOutcome::Passed).cloned().flatten(),
                history,
            });
        }
        // Drills removed from the config still show their last run.
        for (name, run) in last {
            let ended = ended_run(Some(&run), finished.remove(&name));
            let history = histories.remove(&name).unwrap_or_default();
            drills.push(DrillStatus {
                gate: None,
                coverage: ended.as_ref().and_then(|r| r.coverage.clone()),
                name,
                source: run.source.clone(),
                schedule: None,
                timezone: None,
                next_run: None,
                running: run.status == "running" || run.status == "waiting",
                last_run: Some(run),
                last_outcome: ended.as_ref().and_then(|r| r.outcome),
                last_outcome_at: ended.and_then(|r| r.finished_at),
                last_success_at: history.last_at.get(&RunOutcome::Passed).cloned().flatten(),
                history,
            });
        }
        let sinks = ledger.sink_states(&config.sinks.keys().cloned().collect::<Vec<_>>())?;
        let patch = PatchStatus::from_findings(ledger.latest_patch_findings()?);
        let canaries = CanaryCheck::all(ledger)?;
        Ok(Self {
            patch,
            canaries,
            generated_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            ledger: ledger.path().display().to_string(),
            daemon,
            drills,
            sinks,
            tampered,
        })
    }

    /// Whether a sink is failing or behind by more than its deliveries can
    /// explain.
    pub fn sinks_failing(&self) -> bool {
        self.sinks.iter().any(|s| s.last_error.is_some())
    }

    /// The running daemon reports something it cannot do (e.g. write its
    /// metrics file).
    pub fn daemon_problems(&self) -> bool {
        self.daemon
            .as_ref()
            .is_some_and(|d| d.fresh && !d.state.problems.is_empty())
    }
}

/// Writes `text` to `path` atomically (a temporary file in the same
/// directory, fsynced, then renamed), so a collector never reads half a file.
///
/// # Errors
/// When the directory is not writable.
pub fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_data()?;
    let mut perms = tmp.as_file().metadata()?.permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    tmp.as_file().set_permissions(perms)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

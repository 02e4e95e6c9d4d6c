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
    pub coverage: Option<serde_json::Value>,
}

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
    fn from_findings(findings: Vec<serde_json::Value>) -> Option<Self> {
        let checked_at = findings.last()?["time"].as_str()?.to_owned();
        let findings: Vec<PatchCheck> = findings
            .iter()
            .map(|f| {
                let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
                PatchCheck {
                    check: text("check"),
                    status: text("status"),
                    observed: text("observed"),
                    reason: f["reason"].as_str().map(str::to_owned),
                }
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
            let running = last_run.as_ref().is_some_and(|r| r.status == "running");
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
                running: run.status == "running",
                last_run: Some(run),
                last_outcome: ended.as_ref().and_then(|r| r.outcome),
                last_outcome_at: ended.and_then(|r| r.finished_at),
                last_success_at: history.last_at.get(&RunOutcome::Passed).cloned().flatten(),
                history,
            });
        }
        let sinks = ledger.sink_states(&config.sinks.keys().cloned().collect::<Vec<_>>())?;
        let patch = PatchStatus::from_findings(ledger.latest_patch_findings()?);
        Ok(Self {
            patch,
            generated_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            ledger: ledger.path().display().to_string(),
            daemon,
            drills,
            sinks,
            tampered,
        })
    }

    /// The report in Prometheus text format (node_exporter's textfile
    /// collector reads it).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let ts = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis() as f64 / 1000.0)
                .ok()
        };
        let label = |drill: &str| format!("{{drill=\"{}\"}}", escape(drill));
        let fresh = self.daemon.as_ref().is_some_and(|d| d.fresh);
        family(
            "restoreproof_build_info",
            "gauge",
            "Always 1; the labels say which restoreproof wrote the metrics.",
            vec![(
                format!("{{version=\"{}\"}}", escape(env!("CARGO_PKG_VERSION"))),
                1.0,
            )],
        );
        family(
            "restoreproof_ledger_rows_disagreeing",
            "gauge",
            "Run summaries that disagree with their hash-chained events (rows changed after they were recorded); 0 when the ledger matches its chain.",
            vec![(String::new(), self.tampered.len() as f64)],
        );
        family(
            "restoreproof_daemon_up",
            "gauge",
            "1 while the daemon's heartbeat is fresh.",
            vec![(String::new(), f64::from(u8::from(fresh)))],
        );
        family(
            "restoreproof_daemon_heartbeat_timestamp_seconds",
            "gauge",
            "Time of the daemon's last heartbeat.",
            self.daemon
                .iter()
                .filter_map(|d| ts(&d.state.heartbeat_at).map(|t| (String::new(), t)))
                .collect(),
        );
        let runs: Vec<(&DrillStatus, &LastRun)> = self
            .drills
            .iter()
            .filter_map(|d| d.last_run.as_ref().map(|r| (d, r)))
            .collect();
        family(
            "restoreproof_drill_last_run_timestamp_seconds",
            "gauge",
            "When the drill's last run started.",
            runs.iter()
                .filter_map(|(d, r)| ts(&r.started_at).map(|t| (label(&d.name), t)))
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_finished_timestamp_seconds",
            "gauge",
            "When the drill's last finished run ended.",
            runs.iter()
                .filter_map(|(d, r)| {
                    r.finished_at
                        .as_deref()
                        .and_then(ts)
                        .map(|t| (label(&d.name), t))
                })
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_success",
            "gauge",
            "1 if the last run that ended passed: it restored at least one recovery point and none failed (mismatch or unrecoverable). A run in progress does not change it.",
            self.drills
                .iter()
                .filter_map(|d| {
                    d.last_outcome
                        .map(|o| (label(&d.name), f64::from(u8::from(o.passed()))))
                })
                .collect(),
        );
        family(
            "restoreproof_drill_last_success_timestamp_seconds",
            "gauge",
            "When a run of the drill last passed.",
            self.drills
                .iter()
                .filter_map(|d| {
                    d.last_success_at
                        .as_deref()
                        .and_then(ts)
                        .map(|t| (label(&d.name), t))
                })
                .collect(),
        );
        family(
            "restoreproof_gate_ok",
            "gauge",
            "1 while the drill's staleness gate is green: a run that verified a recovery point without a failure finished within gate.max_age, and rotating coverage is at least gate.min_coverage.",
            self.drills
                .iter()
                .filter_map(|d| {
                    d.gate
                        .as_ref()
                        .map(|g| (label(&d.name), f64::from(u8::from(g.ok))))
                })
                .collect(),
        );
        family(
            "restoreproof_patch_check_passing",
            "gauge",
            "1 while the latest patch check's finding passes (0: fail or unknown), per check (patch.security_updates, patch.automatic_updates, patch.reboot, patch.cloud, ...).",
            self.patch
                .iter()
                .flat_map(|p| &p.findings)
                .map(|f| {
                    (
                        format!("{{check=\"{}\"}}", escape(&f.check)),
                        f64::from(u8::from(f.status == "pass")),
                    )
                })
                .collect(),
        );
        family(
            "restoreproof_patch_last_check_timestamp_seconds",
            "gauge",
            "When the host's patch state was last recorded.",
            self.patch
                .iter()
                .filter_map(|p| ts(&p.checked_at).map(|t| (String::new(), t)))
                .collect(),
        );
        let coverage = |field: &str, scale: f64| -> Vec<(String, f64)> {
            self.drills
                .iter()
                .filter_map(|d| {
                    d.coverage
                        .as_ref()
                        .and_then(|c| c[field].as_f64())
                        .map(|v| (label(&d.name), v * scale))
                })
                .collect()
        };
        family(
            "restoreproof_drill_coverage_ratio",
            "gauge",
            "Share (0 to 1) of the drill's recovery points verified within its coverage period, as its last run left it.",
            coverage("percent", 0.01),
        );
        family(
            "restoreproof_drill_coverage_population",
            "gauge",
            "Recovery points (candidates after filters) the drill's last run listed.",
            coverage("population", 1.0),
        );
        family(
            "restoreproof_drill_coverage_verified",
            "gauge",
            "Of them, verified within the coverage period.",
            coverage("verified_within_period", 1.0),
        );
        family(
            "restoreproof_drill_runs_total",
            "counter",
            "Runs of the drill that ended, by outcome (passed, failed, aborted, error).",
            self.drills
                .iter()
                .flat_map(|d| {
                    RunOutcome::ALL.into_iter().map(move |o| {
                        (
                            format!("{{drill=\"{}\",outcome=\"{o}\"}}", escape(&d.name)),
                            d.history.runs.get(&o).copied().unwrap_or(0) as f64,
                        )
                    })
                })
                .collect(),
        );
        family(
            "restoreproof_drill_samples_total",
            "counter",
            "Recovery points the drill restored, by verdict, over all its runs.",
            self.drills
                .iter()
                .flat_map(|d| {
                    VERDICTS.into_iter().map(move |v| {
                        (
                            format!("{{drill=\"{}\",verdict=\"{v}\"}}", escape(&d.name)),
                            d.history.samples.get(v).copied().unwrap_or(0) as f64,
                        )
                    })
                })
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_running",
            "gauge",
            "1 while a run of the drill is in progress.",
            self.drills
                .iter()
                .map(|d| (label(&d.name), f64::from(u8::from(d.running))))
                .collect(),
        );
        let mut verdicts = Vec::new();
        for (d, r) in &runs {
            for v in VERDICTS {
                verdicts.push((
                    format!("{{drill=\"{}\",verdict=\"{v}\"}}", escape(&d.name)),
                    r.verdicts.get(v).copied().unwrap_or(0) as f64,
                ));
            }
        }
        family(
            "restoreproof_drill_last_run_samples",
            "gauge",
            "Recovery points of the last run by verdict.",
            verdicts,
        );
        family(
            "restoreproof_drill_last_run_bytes",
            "gauge",
            "Bytes restored by the last run.",
            runs.iter()
                .map(|(d, r)| (label(&d.name), r.bytes_restored as f64))
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_duration_seconds",
            "gauge",
            "Duration of the last finished run.",
            runs.iter()
                .filter_map(|(d, r)| r.duration_ms.map(|ms| (label(&d.name), ms as f64 / 1000.0)))
                .collect(),
        );
        family(
            "restoreproof_drill_last_run_throughput_bytes_per_second",
            "gauge",
            "Restore throughput of the last finished run.",
            runs.iter()
                .filter_map(|(d, r)| {
                    r.throughput_bytes_per_sec
                        .map(|b| (label(&d.name), b as f64))
                })
                .collect(),
        );
        let sink = |s: &SinkState| format!("{{sink=\"{}\"}}", escape(&s.sink));
        family(
            "restoreproof_sink_backlog_events",
            "gauge",
            "Evidence events recorded and not yet acknowledged by the sink.",
            self.sinks
                .iter()
                .map(|s| (sink(s), s.backlog as f64))
                .collect(),
        );
        family(
            "restoreproof_sink_delivered_events_total",
            "counter",
            "Evidence events the sink acknowledged.",
            self.sinks
                .iter()
                .map(|s| (sink(s), s.delivered_total as f64))
                .collect(),
        );
        family(
            "restoreproof_sink_delivery_failures_total",
            "counter",
            "Failed delivery attempts.",
            self.sinks
                .iter()
                .map(|s| (sink(s), s.failures_total as f64))
                .collect(),
        );
        family(
            "restoreproof_sink_failing",
            "gauge",
            "1 while the sink's last delivery attempt failed.",
            self.sinks
                .iter()
                .map(|s| (sink(s), f64::from(u8::from(s.last_error.is_some()))))
                .collect(),
        );
        family(
            "restoreproof_sink_last_success_timestamp_seconds",
            "gauge",
            "When the sink last acknowledged evidence.",
            self.sinks
                .iter()
                .filter_map(|s| {
                    s.last_success_at
                        .as_deref()
                        .and_then(ts)
                        .map(|t| (sink(s), t))
                })
                .collect(),
        );
        family(
            "restoreproof_drill_next_run_timestamp_seconds",
            "gauge",
            "When the drill runs next.",
            self.drills
                .iter()
                .filter_map(|d| {
                    d.next_run
                        .as_deref()
                        .and_then(ts)
                        .map(|t| (label(&d.name), t))
                })
                .collect(),
        );
        out
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

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for t in &self.tampered {
            let _ = writeln!(
                out,
                "TAMPERED: {t}; the ledger row was changed after it was recorded, run `restoreproof evidence verify`"
            );
        }
        match &self.daemon {
            Some(d) if d.fresh => {
                let _ = writeln!(
                    out,
                    "daemon: running on {} (pid {}), heartbeat {}s ago, up since {}",
                    d.state.host, d.state.pid, d.heartbeat_age_secs, d.state.started_at
                );
                for p in &d.state.problems {
                    let _ = writeln!(out, "daemon: PROBLEM: {p}");
                }
            }
            Some(d) if d.state.state == "stopped" => {
                let _ = writeln!(
                    out,
                    "daemon: stopped (last heartbeat {} on {})",
                    d.state.heartbeat_at, d.state.host
                );
            }
            Some(d) => {
                let _ = writeln!(
                    out,
                    "daemon: NOT RESPONDING: last heartbeat {}s ago ({} on {}, pid {}); expected every {}s",
                    d.heartbeat_age_secs, d.state.heartbeat_at, d.state.host, d.state.pid, d.state.heartbeat_secs
                );
            }
            None => {
                let _ = writeln!(out, "daemon: has never run with this ledger");
            }
        }
        let _ = writeln!(out, "ledger: {}\n", self.ledger);
        let _ = writeln!(
            out,
            "{:<20} {:<10} {:<21} {:>8} {:>8} {:>8} {:>6} {:>8}  NEXT RUN",
            "DRILL", "LAST", "STARTED", "VERIFIED", "MISMATCH", "UNRECOV", "OTHER", "BYTES",
        );
        for d in &self.drills {
            let (status, started, v, m, u, o, b) = match &d.last_run {
                Some(r) => {
                    let get = |k: &str| r.verdicts.get(k).copied().unwrap_or(0);
                    let other = r.verdicts.values().sum::<u64>()
                        - get("verified")
                        - get("mismatch")
                        - get("unrecoverable");
                    (
                        if d.running {
                            "running"
                        } else {
                            r.outcome.map_or(r.status.as_str(), |o| o.as_str())
                        },
                        r.started_at.chars().take(19).collect::<String>() + "Z",
                        get("verified").to_string(),
                        get("mismatch").to_string(),
                        get("unrecoverable").to_string(),
                        other.to_string(),
                        crate::config::human_bytes(r.bytes_restored),
                    )
                }
                None => (
                    "never",
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ),
            };
            let next = match (&d.next_run, &d.schedule) {
                (Some(n), _) => n.clone(),
                (None, Some(_)) if d.running => "(running)".into(),
                (None, Some(_)) => "-".into(),
                (None, None) => "(no schedule)".into(),
            };
            let _ = writeln!(
                out,
                "{:<20} {:<10} {:<21} {:>8} {:>8} {:>8} {:>6} {:>8}  {}",
                d.name, status, started, v, m, u, o, b, next
            );
        }
        for d in &self.drills {
            if let Some(c) = &d.coverage {
                let _ = writeln!(
                    out,
                    "{}: coverage {:.1} % ({} of {} recovery points verified within {}){}",
                    d.name,
                    c["percent"].as_f64().unwrap_or(0.0),
                    c["verified_within_period"].as_u64().unwrap_or(0),
                    c["population"].as_u64().unwrap_or(0),
                    c["period"].as_str().unwrap_or("?"),
                    match (c["warning"].as_str(), c["full_coverage_at"].as_str()) {
                        (Some(w), _) => format!("; WARNING: {w}"),
                        (None, Some(at)) => format!("; full at {at}"),
                        _ => String::new(),
                    }
                );
            }
            if let Some(n) = d.last_run.as_ref().and_then(|r| r.suspicious_changes) {
                let _ = writeln!(
                    out,
                    "{}: {n} suspicious change(s) in the last run (ransomware signals; see `restoreproof report`)",
                    d.name
                );
            }
            if let Some(g) = d.gate.as_ref().filter(|g| !g.ok) {
                let _ = writeln!(out, "{}: GATE RED: {}", d.name, g.reasons.join("; "));
            }
        }
        if let Some(p) = &self.patch {
            let failing: Vec<String> = p
                .findings
                .iter()
                .filter(|f| f.status != "pass")
                .map(|f| format!("{} {} ({})", f.check, f.status.to_uppercase(), f.observed))
                .collect();
            let _ = writeln!(
                out,
                "patch: checked {}: {}",
                p.checked_at,
                if failing.is_empty() {
                    format!("all {} check(s) pass", p.findings.len())
                } else {
                    format!(
                        "{} of {} check(s) not passing: {}",
                        failing.len(),
                        p.findings.len(),
                        failing.join("; ")
                    )
                }
            );
        }
        if !self.sinks.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<20} {:>8} {:>10}  STATE",
                "SINK", "BACKLOG", "DELIVERED"
            );
            for s in &self.sinks {
                let state = match (&s.last_error, &s.last_success_at) {
                    (Some(e), _) => format!(
                        "FAILING since {}: {e}",
                        s.last_error_at.as_deref().unwrap_or("?")
                    ),
                    (None, Some(t)) => format!("ok, last delivery {t}"),
                    (None, None) => "nothing delivered yet".into(),
                };
                let _ = writeln!(
                    out,
                    "{:<20} {:>8} {:>10}  {}",
                    s.sink, s.backlog, s.delivered_total, state
                );
            }
        }
        out
    }
}

/// Escapes a Prometheus label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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

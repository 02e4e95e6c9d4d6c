//! `restoreproof report`: what the ledger proves over a period, per source
//! and drill, ending with the ISO/IEC 27001 controls the evidence supports
//! (2013 Annex A and 2022 Annex A).
//!
//! Definitions (also in docs/reports.md):
//! - success rate: verified / (verified + mismatch + unrecoverable); verdicts
//!   that say nothing about the bytes (`no_reference`, `skipped`, `aborted`)
//!   are left out;
//! - coverage: distinct recovery points verified at least once in the
//!   period / candidates the drill's latest run counted;
//! - throughput: bytes restored / wall time, over the period's finished runs;
//! - projected full restore (an RTO estimate): the latest run's candidate
//!   bytes at that throughput;
//! - newest verified recovery point age (an RPO indicator): now minus the
//!   last-modified time of the newest recovery point verified in the period.

pub mod confidence;
mod drills;
pub mod html;
pub mod oscal;
use drills::drill_reports;
pub mod render;
mod table;

mod controls;

use crate::config::Config;
use crate::evidence::chain::verify_lines;
use crate::evidence::record::Body;
use crate::evidence::EventKind;
use crate::ledger::{Ledger, LedgerError, RunRecord, SampleRecord};
use crate::outcome::RunOutcome;
use chrono::{DateTime, SecondsFormat, Utc};
use controls::controls;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

mod protection;
use protection::protection;
pub use protection::{ProtectionFailure, SourceProtection};

mod chain;
use chain::chain_summary;
pub use chain::ChainSummary;

/// One drill over the period.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub drill: String,
    pub source: String,
    pub runs: u64,
    pub runs_completed: u64,
    pub runs_error: u64,
    pub runs_aborted: u64,
    /// Finished runs by outcome (`passed`, `failed`, `aborted`, `error`;
    /// see [`crate::outcome`]).
    pub outcomes: BTreeMap<RunOutcome, u64>,
    pub samples: u64,
    pub verdicts: BTreeMap<String, u64>,
    pub success_rate: Option<f64>,
    pub distinct_verified: u64,
    pub candidates: Option<u64>,
    pub coverage: Option<f64>,
    pub bytes_restored: u64,
    pub throughput_bytes_per_sec: Option<u64>,
    pub candidate_bytes: Option<u64>,
    pub projected_full_restore_secs: Option<u64>,
    pub newest_verified_last_modified: Option<String>,
    pub newest_verified_age_secs: Option<i64>,
    pub last_run: Option<String>,
    /// Where the source's recovery points are, as the last run saw them:
    /// `s3://bucket/prefix` or `azure://container/prefix` (plus the
    /// endpoint, when one is configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Rotating coverage as the drill's last run in the period left it (for
    /// drills that set `coverage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotating_coverage: Option<crate::drill::Coverage>,
    /// When the inventory report the drill's last run drew from was taken
    /// (drills whose source takes its population from inventory reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub population_as_of: Option<String>,
    /// What its runs proved: `restored` (sampled restores), `at_rest`
    /// (checksums S3 Batch Operations computed over the bytes at rest,
    /// nothing restored) or `aws_backup_restore_test` (restores AWS Backup
    /// made, validated).
    pub checked: &'static str,
}

impl Report {
    /// Crosses the control matrix with `frameworks` (ISO/IEC 27001's own
    /// columns are always there).
    pub fn select_frameworks(&mut self, frameworks: &[crate::controls::Framework]) {
        self.frameworks = frameworks.to_vec();
        for row in &mut self.controls {
            row.crosswalk = crate::controls::crosswalk_text(row.iso_2022, frameworks);
        }
    }

    /// Rotating coverage, one sentence per drill that tracks it.
    pub fn coverage_statements(&self) -> Vec<String> {
        self.drills
            .iter()
            .filter_map(DrillReport::coverage_statement)
            .collect()
    }
}

impl DrillReport {
    /// What the drill's runs proved, in words.
    pub fn checked_text(&self) -> &'static str {
        match self.checked {
            "at_rest" => "bytes at rest checked by S3 Batch Operations (nothing restored)",
            "aws_backup_restore_test" => "AWS Backup restore tests validated",
            _ => "sampled recovery points restored",
        }
    }

    /// Rotating coverage in one sentence, for drills that track it.
    pub fn coverage_statement(&self) -> Option<String> {
        let c = self.rotating_coverage.as_ref()?;
        let outlook = match (&c.warning, c.runs_to_full, &c.full_coverage_at) {
            (Some(w), _, _) => format!("WARNING: {w}"),
            (None, 0, _) => "every recovery point was verified within the period".into(),
            (None, n, Some(at)) => format!("full coverage after {n} more run(s), at {at}"),
            (None, n, None) => format!("full coverage after {n} more run(s) at this budget"),
        };
        Some(format!(
            "drill {} (source {}): {} of {} recovery points verified within {} ({:.1} %, {} of {}); {outlook}",
            self.drill,
            self.source,
            c.verified_within_period,
            c.population,
            c.period,
            c.percent,
            crate::config::human_bytes(c.verified_within_period_bytes),
            crate::config::human_bytes(c.population_bytes),
        ))
    }
}

/// A verdict that failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub time: String,
    pub drill: String,
    pub source: String,
    pub key: String,
    pub version_id: String,
    pub verdict: String,
    pub reason: Option<String>,
    pub event_id: String,
}

/// Verdicts recorded on one day (UTC).
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub date: String,
    pub verdicts: BTreeMap<String, u64>,
}

/// One finished run: its throughput (for the chart) and what an auditor
/// needs to reproduce it (the seed).
#[derive(Debug, Clone, Serialize)]
pub struct RunPoint {
    pub started_at: String,
    pub drill: String,
    pub throughput_bytes_per_sec: u64,
    pub run_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    pub sampled: u64,
    pub verified: u64,
    pub failed: u64,
    /// The uniform strategy's seed: `drill --seed` restores the same sample
    /// of the same listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Why a run that did not pass ended as it did (its error, or the
    /// reason it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `evidenced`, `partly` or `no evidence`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    Evidenced,
    Partly,
    NoEvidence,
}

impl ControlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Evidenced => "evidenced",
            ControlStatus::Partly => "partly",
            ControlStatus::NoEvidence => "no evidence in period",
        }
    }
}

/// One row of the control matrix.
#[derive(Debug, Clone, Serialize)]
pub struct ControlRow {
    pub iso_2013: &'static str,
    pub iso_2022: &'static str,
    pub title: &'static str,
    pub status: ControlStatus,
    pub explanation: String,
    /// Up to 20 evidence ids (event ids or run ids).
    pub evidence: Vec<String>,
    /// Requirements of the selected frameworks beyond ISO/IEC 27001 this
    /// row's evidence serves (`--framework`; see docs/crosswalk.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub crosswalk: Vec<String>,
}

/// The latest posture finding of a source's check in the period.
#[derive(Debug, Clone, Serialize)]
pub struct PostureRow {
    pub source: String,
    pub check: String,
    pub status: String,
    pub observed: String,
    pub required: String,
    pub time: String,
    pub event_id: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub since: String,
    pub until: String,
    pub host: String,
    pub ledger: String,
    pub source_filter: Option<String>,
    pub drills: Vec<DrillReport>,
    pub failures: Vec<Failure>,
    pub days: Vec<Day>,
    pub runs: Vec<RunPoint>,
    pub chain: ChainSummary,
    /// The latest posture finding per source and check.
    pub posture: Vec<PostureRow>,
    pub sinks: Vec<String>,
    pub controls: Vec<ControlRow>,
    /// Per source, what the period's uniform samples bound (see
    /// [`confidence`]).
    pub confidence: Vec<confidence::SourceConfidence>,
    /// Per source with a protection policy (or stated lock state), how the
    /// sampled recovery points' immutability measured up.
    pub protection: Vec<SourceProtection>,
    /// Ransomware signals recorded in the period (`suspicious_change`).
    pub signals: Vec<SignalRow>,
    /// Frameworks the control matrix is crossed with (`--framework`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frameworks: Vec<crate::controls::Framework>,
    /// The agent that wrote the report.
    pub agent_version: String,
    /// SHA-256 of the configuration file the report was made with, set by
    /// the command that read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
}

/// One ransomware signal: a version against its predecessor (`key` set),
/// or a burst across a listing.
#[derive(Debug, Clone, Serialize)]
pub struct SignalRow {
    pub time: String,
    pub drill: String,
    pub source: String,
    pub key: Option<String>,
    pub version_id: Option<String>,
    pub signals: Vec<String>,
    pub event_id: String,
}

impl SignalRow {
    /// The signal in one sentence.
    pub fn statement(&self) -> String {
        let at = match (&self.key, &self.version_id) {
            (Some(k), Some(v)) => format!("{k} ({v})"),
            (Some(k), None) => k.clone(),
            _ => "the listing".into(),
        };
        format!(
            "{} source {} drill {}: {at}: {}",
            self.time,
            self.source,
            self.drill,
            self.signals.join("; ")
        )
    }
}

/// A drill's runs and verdicts in the period.
type DrillRows<'a> = (Vec<&'a RunRecord>, Vec<&'a SampleRecord>);

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl Report {
    /// Builds the report for runs and verdicts since `since`.
    ///
    /// # Errors
    /// When the ledger cannot be read.
    pub fn build(
        config: &Config,
        ledger: &Ledger,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        source: Option<&str>,
    ) -> Result<Self, LedgerError> {
        let since_s = since.to_rfc3339_opts(SecondsFormat::Millis, true);
        let keep = |s: &str| source.is_none_or(|f| f == s);
        let runs: Vec<RunRecord> = ledger
            .runs_since(&since_s)?
            .into_iter()
            .filter(|r| keep(&r.source))
            .collect();
        let samples: Vec<SampleRecord> = ledger
            .samples_since(&since_s)?
            .into_iter()
            .filter(|s| keep(&s.source))
            .collect();
        let mut report = Self {
            frameworks: Vec::new(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            config_sha256: None,
            signals: signal_rows(ledger, &since_s, &keep)?,
            generated_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            since: since.to_rfc3339_opts(SecondsFormat::Secs, true),
            until: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            host: crate::evidence::AgentInfo::current().host,
            ledger: ledger.path().display().to_string(),
            source_filter: source.map(str::to_owned),
            drills: drill_reports(&runs, &samples, now),
            failures: failures(&samples),
            days: days(&samples),
            runs: run_points(&runs),
            chain: chain_summary(ledger, &since_s)?,
            posture: posture_rows(ledger, &since_s, &keep)?,
            sinks: config.sinks.keys().cloned().collect(),
            controls: Vec::new(),
            confidence: uniform_confidence(&runs, &samples),
            protection: protection(&samples),
        };
        report.controls = controls(config, &report, &runs, &samples);
        Ok(report)
    }
}

/// The verdicts that failed.
fn failures(samples: &[SampleRecord]) -> Vec<Failure> {
    samples
        .iter()
        .filter(|s| s.verdict == "mismatch" || s.verdict == "unrecoverable")
        .map(|s| Failure {
            time: s.recorded_at.clone(),
            drill: s.drill.clone(),
            source: s.source.clone(),
            key: s.key.clone(),
            version_id: s.version_id.clone(),
            verdict: s.verdict.clone(),
            reason: s.reason.clone(),
            event_id: s.event_id.clone(),
        })
        .collect()
}

/// Verdicts per day (UTC).
fn days(samples: &[SampleRecord]) -> Vec<Day> {
    let mut days: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for s in samples {
        let date: String = s.recorded_at.chars().take(10).collect();
        *days
            .entry(date)
            .or_default()
            .entry(s.verdict.clone())
            .or_insert(0) += 1;
    }
    days.into_iter()
        .map(|(date, verdicts)| Day { date, verdicts })
        .collect()
}

/// The finished runs with a throughput.
fn run_points(runs: &[RunRecord]) -> Vec<RunPoint> {
    runs.iter()
        .filter_map(|r| {
            let s = r.summary.as_ref()?;
            Some(RunPoint {
                started_at: r.started_at.clone(),
                drill: r.drill.clone(),
                throughput_bytes_per_sec: s.throughput_bytes_per_sec?,
                run_id: r.run_id.clone(),
                outcome: s.outcome(),
                sampled: s.sampled,
                verified: s.counts.verified,
                failed: s.counts.failures(),
                seed: s.seed,
                reason: s.error.clone().or_else(|| s.reason.clone()),
            })
        })
        .collect()
}

/// The latest posture finding per source and check in the period.
fn posture_rows(
    ledger: &Ledger,
    since: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<PostureRow>, LedgerError> {
    let mut latest: BTreeMap<(String, String), PostureRow> = BTreeMap::new();
    for r in ledger.events_since(EventKind::PostureFinding, since)? {
        let Body::PostureFinding(f) = r.body else {
            continue;
        };
        if !keep(&r.source.name) {
            continue;
        }
        latest.insert(
            (r.source.name.clone(), f.check.clone()),
            PostureRow {
                source: r.source.name,
                check: f.check,
                status: f.status,
                observed: f.observed,
                required: f.required,
                time: r.time,
                event_id: r.event_id,
            },
        );
    }
    Ok(latest.into_values().collect())
}

/// The ransomware signals recorded in the period.
fn signal_rows(
    ledger: &Ledger,
    since: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<SignalRow>, LedgerError> {
    let mut signals = Vec::new();
    for r in ledger.events_since(EventKind::SuspiciousChange, since)? {
        let Body::SuspiciousChange(s) = r.body else {
            continue;
        };
        if !keep(&r.source.name) {
            continue;
        }
        let point = s.recovery_point;
        signals.push(SignalRow {
            time: r.time,
            drill: r.drill,
            source: r.source.name,
            key: point.as_ref().map(|p| p.key.clone()),
            version_id: point.and_then(|p| p.version_id),
            signals: s.signals,
            event_id: r.event_id,
        });
    }
    Ok(signals)
}

/// Per source, the bound the period's uniform samples give: only uniform
/// picks (a sample's `pick`; for evidence without one, samples of runs whose
/// strategy was `uniform` without rotating coverage), and only verdicts
/// about the bytes.
fn uniform_confidence(
    runs: &[RunRecord],
    samples: &[SampleRecord],
) -> Vec<confidence::SourceConfidence> {
    let uniform: BTreeSet<&str> = runs
        .iter()
        .filter(|r| {
            r.summary
                .as_ref()
                .is_some_and(|s| s.strategy == "uniform" && s.coverage.is_none())
        })
        .map(|r| r.run_id.as_str())
        .collect();
    let mut by_source: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in samples {
        let counted = by_source.entry(s.source.as_str()).or_default();
        let random = match s.pick.as_deref() {
            Some(p) => p == "uniform" || p == "coverage_uniform",
            None => uniform.contains(s.run_id.as_str()),
        };
        if !random {
            continue;
        }
        match s.verdict.as_str() {
            "verified" => counted.0 += 1,
            "mismatch" | "unrecoverable" => {
                counted.0 += 1;
                counted.1 += 1;
            }
            _ => {}
        }
    }
    by_source
        .into_iter()
        .map(|(source, (n, k))| confidence::SourceConfidence::new(source, n, k))
        .collect()
}

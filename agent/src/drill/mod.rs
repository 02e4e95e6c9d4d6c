//! One drill: list → sample → restore → verify → record.
//!
//! Invariants:
//! - verdicts are committed to the ledger (each with its evidence event and,
//!   when earned, its baseline) in group commits — every
//!   [`GROUP_COMMIT_SAMPLES`] verdicts or [`GROUP_COMMIT_WAIT`] after the
//!   first one waiting, whichever comes first, and before any change to the
//!   live container — each group in one transaction, so a crash keeps every
//!   committed verdict and never half of one;
//! - a sample's baseline is read before its restore starts, so a drill never
//!   compares a recovery point with a baseline it recorded itself;
//! - a baseline is recorded only from bytes that disagreed with no reference;
//! - provider errors are retried (transient classes only) before a verdict of
//!   `unrecoverable` names the class; archive tiers are `skipped` with why;
//! - a drill that cannot list its source is recorded as a failed run and
//!   reported as an error (exit 2), not as a drill with failed samples.

use crate::config::{DrillConfig, RestoreMode, SampleSize, Strategy, VerifyPolicy};
use crate::evidence::{now_rfc3339, AgentInfo, Body, Event, EventKind};
use crate::ledger::evidence_file::EvidenceFileError;
use crate::ledger::recorder::{lock, Recorder};
use crate::ledger::{LedgerError, RunRow, SampleRow};
use crate::outcome::RunOutcome;
use crate::sample::{CoverageCount, Drawn, Limits, Pick, Population, Sampler};
use crate::source::retry::{bounded, with_retries};
use crate::source::{
    Candidate, ErrorClass, Lister, RecoverySource, SourceError, SourceInfo, StoreCapability,
    StoredAttributes,
};
use crate::verify::{
    compare, verdict, Baseline, Check, Hasher, Outcome, Plan, ReferenceKind, Verdict,
};
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

mod coverage;
mod record;
mod restore;
mod summary;
mod undelete;

pub use crate::config::age_text;
pub use crate::shutdown::Stop;
pub use coverage::{Coverage, NeededPerRun, NoPoints, Points};
use restore::RestoreEnv;
pub use summary::{CopyRecord, Counts, RunStatus, RunSummary, SampleResult, Trigger};
use undelete::MutationRequest;

/// Verdicts committed together at most.
pub const GROUP_COMMIT_SAMPLES: usize = 64;
/// How long a finished verdict waits for others to commit with.
pub const GROUP_COMMIT_WAIT: Duration = Duration::from_millis(200);

/// Why a drill could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("cannot list the source `{source_name}`: {error}")]
    Listing {
        source_name: String,
        error: SourceError,
    },
    /// The agent's own host failed (scratch disk full or not writable):
    /// the run is recorded as `error`, restores in flight as `aborted`.
    #[error("{0}")]
    Host(String),
    /// The drill could not run at all (its source could not be set up) or
    /// ended in an internal error: recorded as a run with status `error`.
    #[error("{0}")]
    Unrunnable(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Evidence(#[from] EvidenceFileError),
}

/// Hooks for showing progress; every method has a no-op default.
pub trait Observer: Send + Sync {
    /// Listing progress: versions and delete markers seen so far.
    fn listed(&self, _items: u64) {}
    /// The sample is drawn.
    fn sampled(&self, _count: u64, _bytes: u64) {}
    /// Bytes restored (called per chunk).
    fn bytes(&self, _n: u64) {}
    /// One sample finished and was committed to the ledger.
    fn finished(&self, _result: &SampleResult) {}
}

/// An observer that shows nothing.
#[derive(Debug, Default)]
pub struct Quiet;
impl Observer for Quiet {}

/// A spawned task that is aborted when its handle is dropped (a drill that is
/// itself dropped, e.g. at shutdown, stops its restores).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Everything one drill needs besides the source.
#[derive(Debug)]
pub struct Drill<'a> {
    pub config: &'a DrillConfig,
    /// Shared with the other drills of this process.
    pub recorder: &'a Mutex<Recorder>,
    pub stop: Stop,
    /// Who started the run (recorded in its summary).
    pub trigger: Trigger,
}

impl Drill<'_> {
    /// Runs the drill to the end and returns its summary. Each result goes
    /// to `observer` as it finishes and is not kept: memory stays bounded by
    /// the restores in flight and the group waiting for its commit, however
    /// large the sample.
    ///
    /// # Errors
    /// [`DrillError`] when the source cannot be listed or a record cannot be
    /// written; verdicts recorded before that stay recorded.
    // The spans are at ERROR level so that they exist (and give context)
    // whenever any event is logged, whatever the verbosity.
    ///
    /// A panic inside the run (a bug of the agent) is caught: the run is
    /// recorded with status `error` and the reason, its verdicts so far
    /// stand, and [`DrillError::Unrunnable`] is returned — never a run left
    /// `running`.
    pub async fn run(
        &mut self,
        source: Arc<dyn RecoverySource>,
        observer: Arc<dyn Observer>,
    ) -> Result<RunSummary, DrillError> {
        use futures::FutureExt as _;
        let run_id = uuid::Uuid::now_v7().to_string();
        let info = source.describe();
        let caught = std::panic::AssertUnwindSafe(self.run_as(&run_id, source, observer))
            .catch_unwind()
            .await;
        match caught {
            Ok(done) => done,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                let reason = format!(
                    "the agent hit an internal error, not a fault of the backup: {what}; the verdicts recorded before it stand; report this as a bug"
                );
                tracing::error!(run_id, reason, "The drill ended in an internal error.");
                self.record_error(Some(&run_id), info, &reason)?;
                Err(DrillError::Unrunnable(reason))
            }
        }
    }

    /// Records a run of this drill that could not run at all (`run_id`
    /// `None`: e.g. its source could not be set up), or that ended in an
    /// internal error (`run_id` of the run it started): a run with status
    /// `error` and `reason`, its summary in the evidence chain, so that
    /// `status`, the gate and the metrics see it.
    ///
    /// # Errors
    /// When the ledger or the evidence file cannot be written.
    pub fn record_error(
        &mut self,
        run_id: Option<&str>,
        info: SourceInfo,
        reason: &str,
    ) -> Result<RunSummary, DrillError> {
        let agent = AgentInfo::current();
        let started = Instant::now();
        let (run_id, started_at) = match run_id {
            Some(id) => (id.to_owned(), now_rfc3339()),
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                let at = now_rfc3339();
                self.start_run_row(&id, &info, &at, self.config.seed)?;
                (id, at)
            }
        };
        if lock(self.recorder).ledger.run_status(&run_id)?.is_none() {
            self.start_run_row(&run_id, &info, &started_at, self.config.seed)?;
        }
        let mut summary = self.new_summary(&run_id, info, started_at, self.config.seed);
        for (verdict, n) in lock(self.recorder).ledger.verdict_counts(&run_id)? {
            if let Some(v) = Verdict::parse(&verdict) {
                for _ in 0..n {
                    summary.counts.add(v);
                }
            }
        }
        summary.status = RunStatus::Error;
        summary.error = Some(reason.to_owned());
        self.finish(&mut summary, &agent, started)?;
        Ok(summary)
    }

    fn start_run_row(
        &self,
        run_id: &str,
        info: &SourceInfo,
        started_at: &str,
        seed: Option<u64>,
    ) -> Result<(), DrillError> {
        let cfg = self.config;
        lock(self.recorder).ledger.start_run(&RunRow {
            run_id,
            drill: &cfg.name,
            source: &info.name,
            started_at,
            strategy: &cfg.strategy.to_string(),
            seed,
            mode: &cfg.mode.to_string(),
            sample_spec: &cfg.sample.to_string(),
        })?;
        Ok(())
    }

    /// A run summary before anything happened.
    fn new_summary(
        &self,
        run_id: &str,
        info: SourceInfo,
        started_at: String,
        seed: Option<u64>,
    ) -> RunSummary {
        let cfg = self.config;
        RunSummary {
            run_id: run_id.to_owned(),
            drill: cfg.name.clone(),
            source: info,
            status: RunStatus::Completed,
            trigger: self.trigger,
            outcome: None,
            reason: None,
            error: None,
            strategy: cfg.strategy,
            seed,
            mode: cfg.mode,
            verify: cfg.verify,
            sample_size: cfg.sample,
            started_at,
            finished_at: String::new(),
            duration_ms: 0,
            population: Population::default(),
            sampled: 0,
            sampled_bytes: 0,
            counts: Counts::default(),
            not_started: 0,
            bytes_restored: 0,
            throughput_bytes_per_sec: 0,
            clock: crate::host::clock_status(),
            store: Vec::new(),
            coverage: None,
            suspicious_changes: 0,
            activity: None,
            canaries: Vec::new(),
        }
    }

    #[tracing::instrument(level = "error", skip_all, fields(drill = %self.config.name, source = %self.config.source, run_id = %run_id))]
    async fn run_as(
        &mut self,
        run_id: &str,
        source: Arc<dyn RecoverySource>,
        observer: Arc<dyn Observer>,
    ) -> Result<RunSummary, DrillError> {
        let cfg = self.config;
        let info = source.describe();
        let agent = AgentInfo::current();
        let run_id = run_id.to_owned();
        let started = Instant::now();
        let started_at = now_rfc3339();
        self.close_orphaned_runs(&agent)?;
        self.remove_dead_scratch();
        let seed = seed_for(cfg);
        let sample_spec = cfg.sample.to_string();
        self.start_run_row(&run_id, &info, &started_at, seed)?;
        tracing::info!(run_id, seed, strategy = %cfg.strategy, sample = %sample_spec, "Drill started.");

        let mut summary = self.new_summary(&run_id, info.clone(), started_at, seed);

        let stop = self.stop.clone();
        let drawn = tokio::select! {
            drawn = self.draw(&*source, seed.unwrap_or(0), &*observer) => Some(drawn),
            () = stop.finishing() => None,
        };
        let Some(drawn) = drawn else {
            summary.status = RunStatus::Aborted;
            summary.error = Some("the agent was stopping before the sample was drawn".into());
            self.finish(&mut summary, &agent, started)?;
            return Ok(summary);
        };
        let (sample, coverage_count) = match drawn {
            Ok(d) => {
                summary.population = d.population;
                summary.activity = Some(d.activity);
                (d.sample, d.coverage)
            }
            Err(DrawError::Source(error)) => {
                summary.status = RunStatus::Error;
                summary.error = Some(error.to_string());
                self.finish(&mut summary, &agent, started)?;
                return Err(DrillError::Listing {
                    source_name: info.name.clone(),
                    error,
                });
            }
            Err(DrawError::Ledger(error)) => {
                summary.status = RunStatus::Error;
                summary.error = Some(format!(
                    "cannot read what the ledger knows of the recovery points: {error}"
                ));
                self.finish(&mut summary, &agent, started)?;
                return Err(DrillError::Ledger(error));
            }
        };
        summary.sampled = sample.len() as u64;
        summary.sampled_bytes = sample.iter().map(|d| d.candidate.size).sum();
        // Why each sampled point was picked and whether it was covered, by
        // its place in the sample.
        let picks: Vec<(Pick, bool)> = sample.iter().map(|d| (d.pick, d.covered)).collect();
        let coverage_picks = sample
            .iter()
            .filter(|d| matches!(d.pick, Pick::Coverage | Pick::CoverageUniform))
            .count() as u64;
        // Recovery points (and bytes) this run verified that were not
        // covered, and covered ones it saw fail.
        let mut newly = (0u64, 0u64);
        let mut lost = (0u64, 0u64);
        // Restored versions and what their bytes looked like, compared with
        // their predecessors once the run's verdicts are committed.
        let mut restored_content: Vec<(Candidate, crate::verify::content::ContentFacts)> =
            Vec::new();
        observer.sampled(summary.sampled, summary.sampled_bytes);
        tracing::info!(
            candidates = summary.population.candidates,
            delete_markers = summary.population.delete_markers,
            sampled = summary.sampled,
            sampled_bytes = summary.sampled_bytes,
            "Sample drawn."
        );

        // Baselines are read before any restore of this run starts.
        let mut jobs = Vec::with_capacity(sample.len());
        {
            let r = lock(self.recorder);
            for d in sample {
                let c = d.candidate;
                let b = r.ledger.baseline(&info.name, &c.key, &c.point_id())?;
                jobs.push((c, b));
            }
        }

        // `local` restores write to scratch_dir: a disk that cannot hold the
        // largest restores in flight would fail them for the host's sake.
        if cfg.mode == RestoreMode::Local {
            let mut sizes: Vec<u64> = jobs.iter().map(|(c, _)| c.size).collect();
            sizes.sort_unstable_by(|a, b| b.cmp(a));
            let needed: u64 = sizes.iter().take(cfg.concurrency).sum();
            if let Some(free) = restore::free_bytes(&cfg.scratch_dir).filter(|f| *f < needed) {
                let why = format!(
                    "scratch_dir {} has {} free, but the {} largest sampled recovery points restored at once need {}; free space there, point scratch_dir at a larger disk, or lower concurrency",
                    cfg.scratch_dir.display(),
                    crate::config::human_bytes(free),
                    cfg.concurrency.min(sizes.len()),
                    crate::config::human_bytes(needed)
                );
                summary.status = RunStatus::Error;
                summary.not_started = summary.sampled;
                summary.error = Some(why.clone());
                self.finish(&mut summary, &agent, started)?;
                return Err(DrillError::Host(why));
            }
        }

        // Restores that change the live container (undelete) ask this loop to
        // record each step durably *before* they take it.
        let (mutation_tx, mut mutation_rx) =
            tokio::sync::mpsc::unbounded_channel::<MutationRequest>();
        let env = Arc::new(RestoreEnv {
            source,
            mode: cfg.mode,
            verify: cfg.verify,
            attempts: cfg.attempts,
            timeout: cfg.restore_timeout,
            scratch: cfg.scratch_dir.join(&run_id),
            copy_base: format!("{}{run_id}/", cfg.copy_prefix),
            observer: observer.clone(),
            mutations: mutation_tx,
            protection: cfg.protection,
            served_other: Mutex::default(),
        });
        // Restores started and not yet recorded, so a cancelled one is
        // recorded as `aborted` rather than forgotten.
        let in_flight: Arc<Mutex<HashMap<usize, Candidate>>> = Arc::default();
        let started_count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        // Each restore runs as its own task, so restores keep streaming and
        // hashing on other workers while this loop commits a verdict. Once
        // the agent is stopping, no new restore starts.
        let finishing = self.stop.finishing_token();
        // Set when the agent's host fails a restore: no new restore starts.
        let host_failed = CancellationToken::new();
        let stop_starting = {
            let host_failed = host_failed.clone();
            async move {
                tokio::select! {
                    () = finishing.cancelled_owned() => {}
                    () = host_failed.cancelled_owned() => {}
                }
            }
        };
        let mut host_error: Option<String> = None;
        let mut restores = futures::stream::iter(jobs.into_iter().enumerate())
            .take_until(Box::pin(stop_starting))
            .map(|(i, (c, b))| {
                let env = env.clone();
                let candidate = c.clone();
                started_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                in_flight
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(i, c.clone());
                // The drill's span (drill, source, run id) and one per
                // sample follow the restore onto its task.
                let span = tracing::error_span!("sample", key = %c.key, version = %c.point_id());
                let task = AbortOnDrop(tokio::spawn(
                    async move { env.restore_and_verify(i, c, b).await }.instrument(span),
                ));
                async move {
                    let done = match task.await {
                        Ok(done) => done,
                        Err(e) => (
                            SampleResult::internal_error(candidate, &e.to_string()),
                            false,
                        ),
                    };
                    (i, done)
                }
            })
            .buffer_unordered(cfg.concurrency);
        let cancel = self.stop.clone();
        let mut cancelled = false;
        // Finished verdicts waiting for their group commit.
        let mut pending: Vec<(SampleResult, bool)> = Vec::new();
        let mut commit_by: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                biased;
                Some((step, ack)) = mutation_rx.recv() => {
                    // Verdicts before a change to the live container are
                    // durable before it is made.
                    self.record_batch(&run_id, &info, &agent, cfg, &mut pending, &*observer)?;
                    commit_by = None;
                    let recorded = self.record_mutation(&run_id, &info, &agent, cfg, step);
                    let _ = ack.send(recorded.as_ref().map(|_| ()).map_err(ToString::to_string));
                    recorded?;
                }
                () = sleep_until(commit_by), if commit_by.is_some() => {
                    self.record_batch(&run_id, &info, &agent, cfg, &mut pending, &*observer)?;
                    commit_by = None;
                }
                next = restores.next() => {
                    let Some((i, (mut result, new_baseline))) = next else { break };
                    if let Some(&(pick, covered)) = picks.get(i) {
                        result.pick = Some(pick);
                        let size = result.recovery_point.size;
                        if result.verdict == Verdict::Verified && !covered {
                            newly = (newly.0 + 1, newly.1 + size);
                        } else if result.verdict.is_failure() && covered {
                            lost = (lost.0 + 1, lost.1 + size);
                        }
                    }
                    in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&i);
                    if matches!(result.error_class, Some(ErrorClass::Host | ErrorClass::Credentials)) && host_error.is_none() {
                        let who = if result.error_class == Some(ErrorClass::Host) {
                            "the agent's host failed"
                        } else {
                            "the store refused the agent's credentials"
                        };
                        host_error = Some(format!("{who}, not the backup: {}", result.reason.as_deref().unwrap_or("")));
                        host_failed.cancel();
                        tracing::error!(reason = result.reason.as_deref().unwrap_or(""), "{who}; the run stops.");
                    }
                    summary.counts.add(result.verdict);
                    summary.bytes_restored += result.bytes;
                    if let Some(content) = &result.content {
                        restored_content.push((result.recovery_point.clone(), content.clone()));
                    }
                    pending.push((result, new_baseline));
                    if pending.len() >= GROUP_COMMIT_SAMPLES {
                        self.record_batch(&run_id, &info, &agent, cfg, &mut pending, &*observer)?;
                        commit_by = None;
                    } else if commit_by.is_none() {
                        commit_by = Some(tokio::time::Instant::now() + GROUP_COMMIT_WAIT);
                    }
                }
                () = cancel.cancelled() => {
                    cancelled = true;
                    break;
                }
            }
        }
        self.record_batch(&run_id, &info, &agent, cfg, &mut pending, &*observer)?;
        // Dropping the stream cancels every restore still in flight.
        drop(restores);
        if cancelled {
            let mut left: Vec<(usize, Candidate)> = in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .drain()
                .collect();
            left.sort_by_key(|(i, _)| *i);
            for (i, c) in left {
                let mut r = SampleResult::unrecoverable(c);
                r.pick = picks.get(i).map(|p| p.0);
                r.verdict = Verdict::Aborted;
                r.reason = Some("the restore was cancelled: the agent was stopping and the shutdown deadline passed before it finished".into());
                summary.counts.add(r.verdict);
                pending.push((r, false));
            }
            self.record_batch(&run_id, &info, &agent, cfg, &mut pending, &*observer)?;
        }
        let started_restores = started_count.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(why) = &host_error {
            summary.status = RunStatus::Error;
            summary.not_started = summary.sampled - started_restores;
            summary.error = Some(format!(
                "{why}; {} of {} sampled recovery points were not restored",
                summary.not_started, summary.sampled
            ));
        } else if self.stop.is_finishing() && started_restores < summary.sampled {
            summary.status = RunStatus::Aborted;
            summary.not_started = summary.sampled - started_restores;
            summary.error = Some(format!(
                "the agent was stopping; {} of {} sampled recovery points were not restored",
                summary.not_started, summary.sampled
            ));
        } else if cancelled {
            summary.status = RunStatus::Aborted;
            summary.error = Some("the agent was stopping; restores in flight at the shutdown deadline were cancelled".into());
        }
        if cfg.mode == RestoreMode::Local {
            let _ = std::fs::remove_dir(&env.scratch);
        }
        summary.store = env.source.learned();
        summary.store.extend(
            env.served_other
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .capability(),
        );
        summary.suspicious_changes =
            self.record_suspicious_changes(&run_id, &info, &agent, &restored_content)?;
        if let Some(activity) = summary.activity {
            summary.suspicious_changes += self.record_burst(&run_id, &info, &agent, &activity)?;
        }
        if !cancelled && host_error.is_none() {
            for c in &cfg.canaries {
                let checks = crate::canary::check(
                    c,
                    &*env.source,
                    self.recorder,
                    &agent,
                    chrono::Utc::now(),
                )
                .await
                .map_err(|e| match e {
                    crate::canary::CanaryError::Ledger(e) => DrillError::Ledger(e),
                    crate::canary::CanaryError::Evidence(e) => DrillError::Evidence(e),
                    other => DrillError::Host(other.to_string()),
                })?;
                summary.canaries.extend(checks);
            }
        }
        if let (Some(period), Some(count)) = (cfg.coverage, coverage_count) {
            let c = Coverage::new(
                cfg,
                period,
                &count,
                coverage_picks,
                newly,
                lost,
                chrono::Utc::now(),
            );
            if let Some(warning) = &c.warning {
                tracing::warn!(warning, "Rotating coverage cannot keep up.");
                self.record_coverage_finding(&info, &agent, &c)?;
            }
            summary.coverage = Some(c);
        }
        self.finish(&mut summary, &agent, started)?;
        if let Some(why) = summary.error.clone().filter(|_| host_error.is_some()) {
            return Err(DrillError::Host(why));
        }
        Ok(summary)
    }

    /// Lists the source (twice for a percentage: once to count) and draws the
    /// sample.
    async fn draw(
        &self,
        source: &dyn Lister,
        seed: u64,
        observer: &dyn Observer,
    ) -> Result<Drawing, DrawError> {
        draw(self.config, source, seed, observer, self.recorder).await
    }
}

/// A drawn sample and what it was drawn from.
struct Drawing {
    sample: Vec<Drawn>,
    population: Population,
    /// With rotating coverage: how covered the candidates were.
    coverage: Option<CoverageCount>,
    /// How much of the listing changed recently.
    activity: crate::sample::Activity,
}

/// Why a sample could not be drawn.
#[derive(Debug, thiserror::Error)]
enum DrawError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The seed a run of `cfg` uses: the configured one, or a fresh random one
/// (53 bits, so it survives JSON parsers that read numbers as doubles);
/// `None` for strategies without one.
fn seed_for(cfg: &DrillConfig) -> Option<u64> {
    match cfg.strategy {
        Strategy::Uniform => Some(cfg.seed.unwrap_or_else(|| rand::random::<u64>() >> 11)),
        _ => None,
    }
}

/// What a run of a drill would restore, drawn as the run draws it.
#[derive(Debug, Clone, Serialize)]
pub struct DrillPlan {
    pub drill: String,
    pub source: SourceInfo,
    pub strategy: Strategy,
    /// Run with `--seed` set to this to restore exactly this sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub mode: RestoreMode,
    pub sample_size: SampleSize,
    pub population: Population,
    pub sampled: u64,
    pub sampled_bytes: u64,
    pub sample: Vec<PlannedPoint>,
    /// With rotating coverage: the figures as they stand before the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

/// One recovery point of a plan, and why it would be restored.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedPoint {
    #[serde(flatten)]
    pub candidate: Candidate,
    pub pick: Pick,
}

/// Lists the source and draws the sample a run of `cfg` would restore,
/// without restoring or recording anything; `points` is what the ledger
/// knows of the recovery points.
///
/// # Errors
/// When the source cannot be listed or the ledger read.
pub async fn plan(
    cfg: &DrillConfig,
    source: &dyn Lister,
    observer: &dyn Observer,
    points: &dyn Points,
) -> Result<DrillPlan, DrillError> {
    let seed = seed_for(cfg);
    let d = draw(cfg, source, seed.unwrap_or(0), observer, points)
        .await
        .map_err(|e| match e {
            DrawError::Source(error) => DrillError::Listing {
                source_name: cfg.source.clone(),
                error,
            },
            DrawError::Ledger(e) => DrillError::Ledger(e),
        })?;
    let coverage = cfg.coverage.zip(d.coverage).map(|(period, count)| {
        let picks = d
            .sample
            .iter()
            .filter(|s| matches!(s.pick, Pick::Coverage | Pick::CoverageUniform))
            .count() as u64;
        Coverage::new(
            cfg,
            period,
            &count,
            picks,
            (0, 0),
            (0, 0),
            chrono::Utc::now(),
        )
    });
    Ok(DrillPlan {
        drill: cfg.name.clone(),
        source: source.describe(),
        strategy: cfg.strategy,
        seed,
        mode: cfg.mode,
        sample_size: cfg.sample,
        population: d.population,
        sampled: d.sample.len() as u64,
        sampled_bytes: d.sample.iter().map(|s| s.candidate.size).sum(),
        sample: d
            .sample
            .into_iter()
            .map(|s| PlannedPoint {
                candidate: s.candidate,
                pick: s.pick,
            })
            .collect(),
        coverage,
    })
}

/// Draws the sample of `cfg` from the listing of `source`, joined (with
/// rotating coverage) with what `points` knows of each recovery point.
async fn draw(
    cfg: &DrillConfig,
    source: &dyn Lister,
    seed: u64,
    observer: &dyn Observer,
    points: &dyn Points,
) -> Result<Drawing, DrawError> {
    let now = chrono::Utc::now();
    // The drill's own copies are never candidates, even when a failed
    // clean-up left one behind.
    let mut filter = cfg.filter.clone();
    // Nor are canaries, which the run checks on their own.
    filter.exclude_prefixes = std::iter::once(cfg.copy_prefix.clone())
        .chain(cfg.canaries.iter().map(|c| c.key_prefix.clone()))
        .collect();
    filter.deleted_only = cfg.mode == RestoreMode::Undelete;
    let (count, bytes) = match cfg.sample {
        SampleSize::Count(k) => (Some(k), None),
        SampleSize::Bytes(b) => (None, Some(b)),
        SampleSize::Percent(p) => {
            let mut n = 0u64;
            let mut seen = 0u64;
            let mut list = source.list();
            while let Some(item) = list.next().await {
                seen += 1;
                if let crate::source::ListItem::Version(c) = item? {
                    if Sampler::admits(&filter, &c, now) {
                        n += 1;
                    }
                }
                if seen.is_multiple_of(1000) {
                    observer.listed(seen);
                }
            }
            (Some(((n as f64) * p / 100.0).ceil() as u64), None)
        }
    };
    let limits = Limits {
        count,
        bytes,
        max_samples: cfg.max_samples,
    };
    let info = source.describe();
    let source_name = info.name.as_str();
    let mut sampler = Sampler::new(cfg.strategy, seed, limits, filter, now);
    let mut join = None;
    if let Some(period) = cfg.coverage {
        sampler = sampler.with_coverage(period);
        join = Some(coverage::Join::new(points, source_name));
    }
    let mut list = source.list();
    let mut seen = 0u64;
    while let Some(item) = list.next().await {
        let item = item?;
        let known = match (&mut join, &item) {
            (Some(j), crate::source::ListItem::Version(c)) => j.state(&c.key, &c.point_id())?,
            _ => None,
        };
        sampler.offer_known(item, known.as_ref());
        seen += 1;
        if seen.is_multiple_of(1000) {
            observer.listed(seen);
        }
    }
    observer.listed(seen);
    let activity = sampler.activity();
    let (sample, population, coverage) = sampler.finish();
    let coverage = match (coverage, join) {
        (Some(mut count), Some(join)) => {
            count.departed = join.departed()?;
            Some(count)
        }
        (c, _) => c,
    };
    Ok(Drawing {
        sample,
        population,
        coverage,
        activity,
    })
}

/// Sleeps until `at`; never resolves for `None`.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn per_second(bytes: u64, ms: u64) -> u64 {
    let scaled = bytes.saturating_mul(1000);
    scaled.checked_div(ms).unwrap_or(scaled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::memory::{Fault, MemoryStore};

    /// A panic inside a run is caught: the run is recorded `error` with the
    /// panic's message, in the ledger and the evidence chain, and never left
    /// `running` (before, a scheduled drill that panicked stayed `running`
    /// forever and was never scheduled again).
    #[tokio::test]
    async fn a_panic_inside_a_run_is_recorded_as_an_error_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::config::Config::from_toml(
            "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n[drills.d]\nsource = \"s\"\nscratch_dir = \"scratch\"\n",
            dir.path(),
        )
        .expect("config");
        let recorder = Mutex::new(
            Recorder::open(
                &dir.path().join("ledger"),
                &dir.path().join("evidence.jsonl"),
            )
            .expect("recorder"),
        );
        let mut drill = Drill {
            config: &config.drills["d"],
            recorder: &recorder,
            stop: Stop::new(),
            trigger: Trigger::Schedule,
        };
        let store = MemoryStore::new("s");
        store.fault_listing(Fault::Panic);
        let ran = drill.run(Arc::new(store), Arc::new(Quiet)).await;
        let Err(DrillError::Unrunnable(why)) = ran else {
            panic!("an internal error: {ran:?}");
        };
        assert!(why.contains("an internal error while listing"), "{why}");
        let runs = lock(&recorder).ledger.last_runs().expect("runs");
        let run = &runs["d"];
        assert_eq!(run.status, "error", "{run:?}");
        let evidence =
            std::fs::read_to_string(dir.path().join("evidence.jsonl")).expect("evidence");
        assert!(
            evidence.lines().any(|l| l.contains("\"run_summary\"")
                && l.contains("\"status\":\"error\"")
                && l.contains("an internal error while listing")),
            "{evidence}"
        );
    }

    /// Runs drill `d` of a config with `mode` over `store` in a fresh
    /// ledger; the summary and the evidence file's text.
    async fn drill_over(store: MemoryStore, mode: &str) -> (RunSummary, String) {
        let (ran, evidence) = try_drill_over(store, mode).await;
        (ran.expect("the drill runs"), evidence)
    }

    async fn try_drill_over(
        store: MemoryStore,
        mode: &str,
    ) -> (Result<RunSummary, DrillError>, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::config::Config::from_toml(
            &format!("[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n[drills.d]\nsource = \"s\"\nscratch_dir = \"scratch\"\nsample = \"100%\"\nmode = \"{mode}\"\n"),
            dir.path(),
        )
        .expect("config");
        let recorder = Mutex::new(
            Recorder::open(
                &dir.path().join("ledger"),
                &dir.path().join("evidence.jsonl"),
            )
            .expect("recorder"),
        );
        let mut drill = Drill {
            config: &config.drills["d"],
            recorder: &recorder,
            stop: Stop::new(),
            trigger: Trigger::Manual,
        };
        let ran = drill.run(Arc::new(store), Arc::new(Quiet)).await;
        let evidence =
            std::fs::read_to_string(dir.path().join("evidence.jsonl")).expect("evidence");
        (ran, evidence)
    }

    fn seeded() -> (MemoryStore, Vec<String>) {
        let store = MemoryStore::new("s");
        let ids = vec![
            store.put("a.bin", vec![7u8; 200_000]),
            store.put("a.bin", b"second version".to_vec()),
            store.put("b.txt", b"b".to_vec()),
        ];
        store.delete("b.txt");
        (store, ids)
    }

    /// Every version of a sound store is `verified` in every mode that
    /// reads bytes; the delete marker is counted, never restored.
    #[tokio::test]
    async fn a_sound_store_is_verified_in_stream_local_and_copy_modes() {
        for mode in ["stream", "local", "copy"] {
            let (store, _) = seeded();
            let (s, _) = drill_over(store, mode).await;
            assert_eq!(s.counts.verified, 3, "{mode}: {:?}", s.counts);
            assert_eq!(s.sampled, 3, "{mode}");
        }
    }

    /// A flipped bit is a mismatch against the CRC64NVME checksum and the
    /// MD5 ETag, whatever else is sound.
    #[tokio::test]
    async fn a_corrupted_version_is_a_mismatch() {
        let (store, ids) = seeded();
        store.fault(&ids[0], Fault::Corrupt { offset: 199_999 });
        let (s, evidence) = drill_over(store, "stream").await;
        assert_eq!(
            (s.counts.verified, s.counts.mismatch),
            (2, 1),
            "{:?}",
            s.counts
        );
        assert!(evidence.contains("s3.checksum.crc64nvme"), "{evidence}");
    }

    /// A store that serves another version with that version's own headers
    /// is a mismatch by identity: its checksums never make `verified`.
    #[tokio::test]
    async fn a_store_serving_another_version_is_a_mismatch_by_identity() {
        let (store, ids) = seeded();
        store.fault(
            &ids[1],
            Fault::ServeOther {
                version_id: ids[0].clone(),
            },
        );
        let (s, evidence) = drill_over(store, "stream").await;
        assert_eq!(
            (s.counts.verified, s.counts.mismatch),
            (2, 1),
            "{:?}",
            s.counts
        );
        assert!(
            evidence.contains("the store served a different object than it listed"),
            "{evidence}"
        );
        assert!(
            s.store.iter().any(|c| c.call == "restore by version"),
            "{:?}",
            s.store
        );
    }

    /// A refusal is `unrecoverable` for that point; the agent's own
    /// credentials refused abort the run instead of judging the backup.
    #[tokio::test]
    async fn a_refused_read_is_unrecoverable_and_refused_credentials_abort() {
        let (store, ids) = seeded();
        store.fault(&ids[2], Fault::Fail(ErrorClass::AccessDenied));
        let (s, evidence) = drill_over(store, "stream").await;
        assert_eq!(
            (s.counts.verified, s.counts.unrecoverable),
            (2, 1),
            "{:?}",
            s.counts
        );
        assert!(
            evidence.contains("\"verdict\":\"unrecoverable\""),
            "{evidence}"
        );

        let (store, ids) = seeded();
        store.fault(&ids[0], Fault::Fail(ErrorClass::Credentials));
        let (ran, evidence) = try_drill_over(store, "stream").await;
        let Err(DrillError::Host(why)) = ran else {
            panic!("refused credentials stop the run: {ran:?}");
        };
        assert!(why.contains("credentials, not the backup"), "{why}");
        assert!(
            !evidence.contains("\"verdict\":\"unrecoverable\""),
            "{evidence}"
        );
        assert!(!evidence.contains("\"verdict\":\"mismatch\""), "{evidence}");
    }

    /// `copy` mode leaves no copy behind.
    #[tokio::test]
    async fn copy_mode_removes_its_copies() {
        let (store, _) = seeded();
        let store = Arc::new(store);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = crate::config::Config::from_toml(
            "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n[drills.d]\nsource = \"s\"\nscratch_dir = \"scratch\"\nsample = \"100%\"\nmode = \"copy\"\n",
            dir.path(),
        )
        .expect("config");
        let recorder = Mutex::new(
            Recorder::open(
                &dir.path().join("ledger"),
                &dir.path().join("evidence.jsonl"),
            )
            .expect("recorder"),
        );
        let mut drill = Drill {
            config: &config.drills["d"],
            recorder: &recorder,
            stop: Stop::new(),
            trigger: Trigger::Manual,
        };
        let before = store.live_versions();
        drill
            .run(store.clone(), Arc::new(Quiet))
            .await
            .expect("runs");
        assert_eq!(store.live_versions(), before);
    }
}

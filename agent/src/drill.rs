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
use crate::evidence::{now_rfc3339, AgentInfo, Event};
use crate::ledger::evidence_file::EvidenceFileError;
use crate::ledger::recorder::{lock, Recorder};
use crate::ledger::{LedgerError, RunRow, SampleRow};
use crate::sample::{Limits, Population, Sampler};
use crate::source::retry::{bounded, with_retries};
use crate::source::{
    Candidate, ErrorClass, RecoverySource, SourceError, SourceInfo, StoreCapability,
    StoredAttributes,
};
use crate::verify::{compare, verdict, Baseline, Check, Hasher, Outcome, Plan, Verdict};
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

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

/// The outcome of restoring one recovery point.
#[derive(Debug, Clone, Serialize)]
pub struct SampleResult {
    pub event_id: String,
    pub recovery_point: Candidate,
    pub verdict: Verdict,
    /// Why, for anything but `verified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub bytes: u64,
    pub duration_ms: u64,
    /// Attempts of the restore (or of reading the attributes, when that
    /// already failed).
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<String>,
    /// `copy` mode: where the copy was made and whether it was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy: Option<CopyRecord>,
}

/// The server-side copy a `copy`-mode restore made and verified.
#[derive(Debug, Clone, Serialize)]
pub struct CopyRecord {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The copy was deleted after verification.
    pub removed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal_error: Option<String>,
}

impl SampleResult {
    /// A verdict for a restore whose task died (a bug): recorded as
    /// `unrecoverable`, so nothing is silently lost.
    fn internal_error(c: Candidate, why: &str) -> Self {
        let mut r = Self::unrecoverable(c);
        r.reason = Some(format!("internal error in the restore task: {why}"));
        r
    }

    /// A result that is `unrecoverable` until the restore proves otherwise.
    fn unrecoverable(c: Candidate) -> Self {
        Self {
            event_id: uuid::Uuid::now_v7().to_string(),
            recovery_point: c,
            verdict: Verdict::Unrecoverable,
            reason: None,
            error_class: None,
            checks: Vec::new(),
            sha256: None,
            bytes: 0,
            duration_ms: 0,
            attempts: 0,
            server_side_encryption: None,
            copy: None,
        }
    }
}

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

/// Verdict counts of one run.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub verified: u64,
    pub mismatch: u64,
    pub unrecoverable: u64,
    pub no_reference: u64,
    pub skipped: u64,
    pub aborted: u64,
}

impl Counts {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Verified => self.verified += 1,
            Verdict::Mismatch => self.mismatch += 1,
            Verdict::Unrecoverable => self.unrecoverable += 1,
            Verdict::NoReference => self.no_reference += 1,
            Verdict::Skipped => self.skipped += 1,
            Verdict::Aborted => self.aborted += 1,
        }
    }

    /// Whether any verdict makes the drill fail.
    pub fn any_failure(&self) -> bool {
        self.mismatch + self.unrecoverable > 0
    }
}

/// The run summary, recorded as the run's last evidence event.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub drill: String,
    pub source: SourceInfo,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub strategy: Strategy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub mode: RestoreMode,
    /// Which references were hashed.
    pub verify: VerifyPolicy,
    pub sample_size: SampleSize,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub population: Population,
    pub sampled: u64,
    pub sampled_bytes: u64,
    pub counts: Counts,
    /// Sampled recovery points never restored because the agent stopped.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_started: u64,
    pub bytes_restored: u64,
    pub throughput_bytes_per_sec: u64,
    /// Whether the host clock was synchronised when the run started.
    pub clock: crate::evidence::clock::ClockStatus,
    /// Calls the store turned out to lack during the run, and what the
    /// drill did instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub store: Vec<StoreCapability>,
}

/// Asks running drills to stop, in two steps: `finish` (start no new
/// restore, let those in flight end) and `cancel` (cancel those in flight;
/// each is recorded as `aborted`). The run is then recorded as `aborted`.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    finish: CancellationToken,
    cancel: CancellationToken,
}

impl Stop {
    /// A stop that has not been asked for.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start no new restore; those in flight go on.
    pub fn finish(&self) {
        self.finish.cancel();
    }

    /// Cancel the restores in flight too.
    pub fn cancel(&self) {
        self.finish.cancel();
        self.cancel.cancel();
    }

    /// Whether [`Stop::finish`] (or [`Stop::cancel`]) was called.
    pub fn is_finishing(&self) -> bool {
        self.finish.is_cancelled()
    }

    /// Resolves when [`Stop::finish`] is called.
    pub async fn finishing(&self) {
        self.finish.cancelled().await;
    }

    /// Resolves when [`Stop::cancel`] is called.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }
}

/// Everything one drill needs besides the source.
#[derive(Debug)]
pub struct Drill<'a> {
    pub config: &'a DrillConfig,
    /// Shared with the other drills of this process.
    pub recorder: &'a Mutex<Recorder>,
    pub stop: Stop,
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
    #[tracing::instrument(skip_all, fields(drill = %self.config.name, source = %self.config.source))]
    pub async fn run(
        &mut self,
        source: Arc<dyn RecoverySource>,
        observer: Arc<dyn Observer>,
    ) -> Result<RunSummary, DrillError> {
        let cfg = self.config;
        let info = source.describe();
        let agent = AgentInfo::current();
        let run_id = uuid::Uuid::now_v7().to_string();
        let started = Instant::now();
        let started_at = now_rfc3339();
        self.close_orphaned_runs(&agent)?;
        self.remove_dead_scratch();
        let seed = match cfg.strategy {
            // Random seeds use 53 bits so they survive JSON parsers that read
            // numbers as doubles.
            Strategy::Uniform => Some(cfg.seed.unwrap_or_else(|| rand::random::<u64>() >> 11)),
            _ => None,
        };
        let sample_spec = cfg.sample.to_string();
        lock(self.recorder).ledger.start_run(&RunRow {
            run_id: &run_id,
            drill: &cfg.name,
            source: &info.name,
            started_at: &started_at,
            strategy: &cfg.strategy.to_string(),
            seed,
            mode: &cfg.mode.to_string(),
            sample_spec: &sample_spec,
        })?;
        tracing::info!(run_id, seed, strategy = %cfg.strategy, sample = %sample_spec, "Drill started.");

        let mut summary = RunSummary {
            run_id: run_id.clone(),
            drill: cfg.name.clone(),
            source: info.clone(),
            status: "completed",
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
            clock: crate::evidence::clock::status(),
            store: Vec::new(),
        };

        let stop = self.stop.clone();
        let drawn = tokio::select! {
            drawn = self.draw(&*source, seed.unwrap_or(0), &*observer) => Some(drawn),
            () = stop.finishing() => None,
        };
        let Some(drawn) = drawn else {
            summary.status = "aborted";
            summary.error = Some("the agent was stopping before the sample was drawn".into());
            self.finish(&mut summary, &agent, started)?;
            return Ok(summary);
        };
        let sample = match drawn {
            Ok((sample, population)) => {
                summary.population = population;
                sample
            }
            Err(error) => {
                summary.status = "error";
                summary.error = Some(error.to_string());
                self.finish(&mut summary, &agent, started)?;
                return Err(DrillError::Listing {
                    source_name: info.name.clone(),
                    error,
                });
            }
        };
        summary.sampled = sample.len() as u64;
        summary.sampled_bytes = sample.iter().map(|c| c.size).sum();
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
            for c in sample {
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
            if let Some(free) = free_bytes(&cfg.scratch_dir).filter(|f| *f < needed) {
                let why = format!(
                    "scratch_dir {} has {} free, but the {} largest sampled recovery points restored at once need {}; free space there, point scratch_dir at a larger disk, or lower concurrency",
                    cfg.scratch_dir.display(),
                    crate::config::human_bytes(free),
                    cfg.concurrency.min(sizes.len()),
                    crate::config::human_bytes(needed)
                );
                summary.status = "error";
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
        });
        // Restores started and not yet recorded, so a cancelled one is
        // recorded as `aborted` rather than forgotten.
        let in_flight: Arc<Mutex<HashMap<usize, Candidate>>> = Arc::default();
        let started_count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        // Each restore runs as its own task, so restores keep streaming and
        // hashing on other workers while this loop commits a verdict. Once
        // the agent is stopping, no new restore starts.
        let finishing = self.stop.finish.clone();
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
                let task = AbortOnDrop(tokio::spawn(async move {
                    env.restore_and_verify(i, c, b).await
                }));
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
                    let Some((i, (result, new_baseline))) = next else { break };
                    in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&i);
                    if result.error_class == Some(ErrorClass::Host) && host_error.is_none() {
                        host_error.clone_from(&result.reason);
                        host_failed.cancel();
                        tracing::error!(reason = result.reason.as_deref().unwrap_or(""), "The agent's host failed a restore; the run stops.");
                    }
                    summary.counts.add(result.verdict);
                    summary.bytes_restored += result.bytes;
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
            for (_, c) in left {
                let mut r = SampleResult::unrecoverable(c);
                r.verdict = Verdict::Aborted;
                r.reason = Some("the restore was cancelled: the agent was stopping and the shutdown deadline passed before it finished".into());
                summary.counts.add(r.verdict);
                pending.push((r, false));
            }
            self.record_batch(&run_id, &info, &agent, cfg, &mut pending, &*observer)?;
        }
        let started_restores = started_count.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(why) = &host_error {
            summary.status = "error";
            summary.not_started = summary.sampled - started_restores;
            summary.error = Some(format!(
                "the agent's host failed, not the backup: {why}; {} of {} sampled recovery points were not restored",
                summary.not_started, summary.sampled
            ));
        } else if self.stop.is_finishing() && started_restores < summary.sampled {
            summary.status = "aborted";
            summary.not_started = summary.sampled - started_restores;
            summary.error = Some(format!(
                "the agent was stopping; {} of {} sampled recovery points were not restored",
                summary.not_started, summary.sampled
            ));
        } else if cancelled {
            summary.status = "aborted";
            summary.error = Some("the agent was stopping; restores in flight at the shutdown deadline were cancelled".into());
        }
        if cfg.mode == RestoreMode::Local {
            let _ = std::fs::remove_dir(&env.scratch);
        }
        summary.store = env.source.capabilities();
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
        source: &dyn RecoverySource,
        seed: u64,
        observer: &dyn Observer,
    ) -> Result<(Vec<Candidate>, Population), SourceError> {
        let cfg = self.config;
        let now = chrono::Utc::now();
        // The drill's own copies are never candidates, even when a failed
        // clean-up left one behind.
        let mut filter = cfg.filter.clone();
        filter.exclude_prefix = Some(cfg.copy_prefix.clone());
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
        let mut sampler = Sampler::new(cfg.strategy, seed, limits, filter, now);
        let mut list = source.list();
        let mut seen = 0u64;
        while let Some(item) = list.next().await {
            sampler.offer(item?);
            seen += 1;
            if seen.is_multiple_of(1000) {
                observer.listed(seen);
            }
        }
        observer.listed(seen);
        Ok(sampler.finish())
    }

    /// Commits finished verdicts in one transaction (each with its evidence
    /// event and, when earned, its baseline), appends them to the evidence
    /// file, and only then hands them to `observer`: what is shown or
    /// printed is recorded.
    fn record_batch(
        &mut self,
        run_id: &str,
        info: &SourceInfo,
        agent: &AgentInfo,
        cfg: &DrillConfig,
        pending: &mut Vec<(SampleResult, bool)>,
        observer: &dyn Observer,
    ) -> Result<(), DrillError> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut events: Vec<Event> = pending
            .iter()
            .map(|(r, _)| sample_event(run_id, info, agent, cfg, r))
            .collect();
        let owned: Vec<(String, String)> = pending
            .iter()
            .map(|(r, _)| {
                (
                    serde_json::to_string(&r.checks).unwrap_or_else(|_| "[]".into()),
                    r.recovery_point.point_id(),
                )
            })
            .collect();
        let rows: Vec<SampleRow<'_>> = pending
            .iter()
            .zip(&owned)
            .map(|((r, new_baseline), (checks_json, point_id))| SampleRow {
                run_id,
                source: &info.name,
                key: &r.recovery_point.key,
                version_id: point_id,
                size: r.recovery_point.size,
                verdict: r.verdict.as_str(),
                reason: r.reason.as_deref(),
                sha256: r.sha256.as_deref(),
                bytes: r.bytes,
                duration_ms: r.duration_ms,
                checks_json,
                new_baseline: *new_baseline,
            })
            .collect();
        lock(self.recorder).commit_many(&mut events, |ledger, events| {
            ledger.record_samples(&rows, events)
        })?;
        drop(rows);
        for (r, _) in pending.drain(..) {
            if r.verdict.is_failure() {
                tracing::warn!(key = %r.recovery_point.key, version = %r.recovery_point.point_id(), verdict = %r.verdict, reason = r.reason.as_deref().unwrap_or(""), "Recovery point failed verification.");
            } else {
                tracing::debug!(key = %r.recovery_point.key, verdict = %r.verdict, "Recovery point recorded.");
            }
            observer.finished(&r);
        }
        Ok(())
    }

    /// Marks runs whose process died (killed, crashed, host rebooted) as
    /// `aborted`, each with a `run_aborted` evidence event, so an unfinished
    /// run never looks like one still in progress.
    fn close_orphaned_runs(&mut self, agent: &AgentInfo) -> Result<(), DrillError> {
        let orphans = lock(self.recorder).ledger.orphaned_runs()?;
        for (run_id, drill, started_at, verdicts) in orphans {
            let mut event = Event::new(
                "run_aborted",
                Some(run_id.clone()),
                json!({
                    "agent": agent,
                    "drill": drill,
                    "started_at": started_at,
                    "verdicts_recorded": verdicts,
                    "reason": "the process ended before the run finished (killed, crashed or the host restarted); the verdicts it recorded stand",
                }),
            );
            lock(self.recorder).commit(&mut event, |l, e| l.abort_run(&run_id, e))?;
            tracing::warn!(
                run_id,
                drill,
                verdicts,
                "An earlier run ended without finishing; it is now recorded as aborted."
            );
        }
        Ok(())
    }

    /// Removes the scratch directories (`scratch_dir/RUN_ID`) of runs the
    /// ledger knows are over — a run killed mid-restore leaves its files —
    /// and only those: a directory of a running drill, or one the ledger
    /// does not know, stays.
    fn remove_dead_scratch(&self) {
        let Ok(entries) = std::fs::read_dir(&self.config.scratch_dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(run_id) = name.to_str().filter(|n| uuid::Uuid::parse_str(n).is_ok()) else {
                continue;
            };
            let status = lock(self.recorder).ledger.run_status(run_id);
            if matches!(status, Ok(Some(s)) if s != "running") {
                match std::fs::remove_dir_all(e.path()) {
                    Ok(()) => tracing::info!(
                        run_id,
                        "Removed the scratch files an ended run left behind."
                    ),
                    Err(err) => {
                        tracing::warn!(run_id, error = %err, "Cannot remove the scratch files an ended run left behind.")
                    }
                }
            }
        }
    }

    /// Records one step of a change to the live container as its own
    /// evidence event.
    fn record_mutation(
        &mut self,
        run_id: &str,
        info: &SourceInfo,
        agent: &AgentInfo,
        cfg: &DrillConfig,
        step: MutationStep,
    ) -> Result<(), DrillError> {
        let mut event = Event::new(
            "restore_mutation",
            Some(run_id.to_owned()),
            json!({
                "agent": agent,
                "drill": cfg.name,
                "source": info,
                "recovery_point": step.recovery_point,
                "action": step.action,
                "phase": step.phase,
                "prior_state": step.prior_state,
                "error": step.error,
            }),
        );
        lock(self.recorder).commit(&mut event, |l, e| l.record_event(e))?;
        tracing::info!(key = %step.recovery_point.key, action = step.action, phase = step.phase, "Recorded a change to the live container.");
        Ok(())
    }

    fn finish(
        &mut self,
        s: &mut RunSummary,
        agent: &AgentInfo,
        started: Instant,
    ) -> Result<(), DrillError> {
        s.finished_at = now_rfc3339();
        s.duration_ms = started.elapsed().as_millis() as u64;
        s.throughput_bytes_per_sec = per_second(s.bytes_restored, s.duration_ms);
        let mut body = serde_json::to_value(&*s).unwrap_or_default();
        if let Some(o) = body.as_object_mut() {
            o.insert("agent".into(), json!(agent));
        }
        let summary_json = body.to_string();
        let mut event = Event::new("run_summary", Some(s.run_id.clone()), body);
        {
            let mut r = lock(self.recorder);
            r.commit(&mut event, |l, e| {
                l.finish_run(&s.run_id, s.status, &summary_json, e)
            })?;
            // Every run ends with a checkpoint of the chain.
            r.checkpoint("run")?;
        }
        tracing::info!(
            run_id = %s.run_id,
            verified = s.counts.verified,
            mismatch = s.counts.mismatch,
            unrecoverable = s.counts.unrecoverable,
            no_reference = s.counts.no_reference,
            skipped = s.counts.skipped,
            "Drill finished."
        );
        Ok(())
    }
}

/// The evidence event of one verdict.
fn sample_event(
    run_id: &str,
    info: &SourceInfo,
    agent: &AgentInfo,
    cfg: &DrillConfig,
    r: &SampleResult,
) -> Event {
    let throughput = per_second(r.bytes, r.duration_ms);
    let mut event = Event::new(
        "sample_verdict",
        Some(run_id.to_owned()),
        json!({
            "agent": agent,
            "drill": cfg.name,
            "source": info,
            "recovery_point": r.recovery_point,
            "verdict": r.verdict,
            "reason": r.reason,
            "error_class": r.error_class,
            "checks": r.checks,
            "restore": {
                "mode": cfg.mode,
                "bytes": r.bytes,
                "duration_ms": r.duration_ms,
                "throughput_bytes_per_sec": throughput,
                "attempts": r.attempts,
                "sha256": r.sha256,
                "server_side_encryption": r.server_side_encryption,
                "copy": r.copy,
            },
        }),
    );
    event.id.clone_from(&r.event_id);
    event
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

/// One step of a change an `undelete` restore makes to the live container.
#[derive(Debug, Clone)]
struct MutationStep {
    recovery_point: Candidate,
    /// `undelete` or `redelete`.
    action: &'static str,
    /// `intent` (recorded before acting), `done` or `failed`.
    phase: &'static str,
    prior_state: &'static str,
    error: Option<String>,
}

/// A step to record, and where to say whether it was recorded.
type MutationRequest = (
    MutationStep,
    tokio::sync::oneshot::Sender<Result<(), String>>,
);

/// What every restore of one drill shares.
struct RestoreEnv {
    source: Arc<dyn RecoverySource>,
    mode: RestoreMode,
    verify: VerifyPolicy,
    attempts: u32,
    timeout: Duration,
    scratch: PathBuf,
    /// `copy` mode: where this run's copies go.
    copy_base: String,
    observer: Arc<dyn Observer>,
    /// Records changes to the live container before they are made.
    mutations: tokio::sync::mpsc::UnboundedSender<MutationRequest>,
}

/// The bytes of one successful restore attempt, and the references they
/// are compared with.
struct Restored {
    digests: crate::verify::Digests,
    attrs: StoredAttributes,
    content_length: Option<u64>,
    sse: Option<String>,
    copy: Option<CopyRecord>,
}

impl RestoreEnv {
    /// Restores and verifies one recovery point; never fails, every problem
    /// becomes a verdict. Also says whether to record a new baseline.
    async fn restore_and_verify(
        &self,
        index: usize,
        c: Candidate,
        baseline: Option<Baseline>,
    ) -> (SampleResult, bool) {
        let started = Instant::now();
        let mut result = SampleResult::unrecoverable(c.clone());
        if self.mode == RestoreMode::Undelete && c.deleted.is_some() && c.version_id.is_none() {
            return self
                .undelete_and_verify(index, c, baseline, started, result)
                .await;
        }
        // References that cannot come with the body (a source whose
        // responses carry none, a version that may need rehydration, or the
        // original of a `copy`) are read first; every call is bounded by the
        // restore timeout.
        let pre = if self.mode == RestoreMode::Copy || self.source.attributes_before_restore(&c) {
            let (attrs, attempts) = with_retries(self.attempts, "attributes", || {
                bounded(
                    self.timeout,
                    "reading the stored attributes",
                    self.source.attributes(&c),
                )
            })
            .await;
            result.attempts = attempts;
            match attrs {
                Ok(a) => Some(a),
                Err(e) => return (self.failed(result, e, started), false),
            }
        } else {
            None
        };
        if let Some(why) = pre.as_ref().and_then(|a| a.archived.as_ref()) {
            result.verdict = Verdict::Skipped;
            result.reason = Some(why.clone());
            result.duration_ms = started.elapsed().as_millis() as u64;
            return (result, false);
        }
        let scratch = self.scratch.join(format!("{index}.restore"));
        let copy_key = format!("{}{index}/{}", self.copy_base, c.key);
        let (restored, attempts) = with_retries(self.attempts, "restore", || {
            bounded(
                self.timeout,
                "the restore",
                self.attempt(&c, pre.as_ref(), &scratch, &copy_key),
            )
        })
        .await;
        result.attempts += attempts;
        let mut restored = match restored {
            Ok(r) => r,
            Err(e) => return (self.failed(result, e, started), false),
        };
        let sse = restored.sse.clone();
        let judge = |r: &Restored| {
            compare(
                &c,
                &r.attrs,
                sse.as_deref(),
                r.content_length,
                &r.digests,
                baseline.as_ref(),
            )
        };
        result.checks = judge(&restored);
        if let Some(note) = self.confirm_layout(&c, &mut restored, &result.checks).await {
            result.checks = judge(&restored);
            for ch in &mut result.checks {
                if ch.outcome == Outcome::NotComparable && !note.is_empty() {
                    ch.note = Some(match ch.note.take() {
                        Some(n) => format!("{n}; {note}"),
                        None => note.clone(),
                    });
                }
            }
        }
        let d = &restored.digests;
        result.verdict = verdict(&result.checks);
        result.bytes = d.bytes;
        result.sha256 = Some(d.sha256_hex.clone());
        result.server_side_encryption = restored.sse.clone();
        result.copy = restored.copy.take();
        result.duration_ms = started.elapsed().as_millis() as u64;
        result.reason = match result.verdict {
            Verdict::Mismatch => Some(
                result
                    .checks
                    .iter()
                    .filter(|c| c.outcome == crate::verify::Outcome::Mismatch)
                    .map(|c| format!("{}: expected {}, got {}", c.name, c.expected, c.actual))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Verdict::NoReference => Some(if baseline.is_none() {
                "no stored checksum or comparable ETag; first-seen SHA-256 baseline recorded".into()
            } else {
                "no reference could be compared".into()
            }),
            _ => None,
        };
        let new_baseline = baseline.is_none()
            && matches!(result.verdict, Verdict::Verified | Verdict::NoReference);
        (result, new_baseline)
    }

    /// A composite value that did not reproduce over part sizes taken from
    /// the first and last parts is judged only once every part's size is
    /// known: the sizes are asked part by part (at most
    /// [`crate::source::MAX_PROBED_PARTS`] requests, only on this rare path)
    /// and, when they are the ones hashed, the layout counts as reported.
    /// Returns a note for the checks that stay not comparable, or `None`
    /// when nothing needed confirming.
    async fn confirm_layout(
        &self,
        c: &Candidate,
        restored: &mut Restored,
        checks: &[Check],
    ) -> Option<String> {
        if !checks.iter().any(|ch| ch.outcome == Outcome::NotComparable) {
            return None;
        }
        let sizes = restored.digests.unconfirmed_layout()?.to_vec();
        let parts = sizes.len() as u32;
        let (probed, _) = with_retries(self.attempts, "part sizes", || {
            bounded(
                self.timeout,
                "asking every part's size",
                self.source.probe_every_part(c, parts),
            )
        })
        .await;
        Some(match probed {
            Ok(Some(p)) if restored.digests.confirm_layout(&p) => return Some(String::new()),
            Ok(Some(p)) => format!(
                "the parts are not evenly sized ({} bytes in parts of {})",
                p.iter().sum::<u64>(),
                p.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
            Ok(None) => format!(
                "the store cannot confirm the size of each of its {parts} parts (at most {} are asked)",
                crate::source::MAX_PROBED_PARTS
            ),
            Err(e) => format!("the part sizes could not be confirmed: {e}"),
        })
    }

    /// Records and takes one step; the step is taken only once its intent is
    /// durably recorded.
    async fn step(
        &self,
        c: &Candidate,
        action: &'static str,
        prior_state: &'static str,
    ) -> Result<(), SourceError> {
        let record = |phase: &'static str, error: Option<String>| {
            let (ack, done) = tokio::sync::oneshot::channel();
            let step = MutationStep {
                recovery_point: c.clone(),
                action,
                phase,
                prior_state,
                error,
            };
            let sent = self.mutations.send((step, ack));
            async move {
                sent.map_err(|_| "the drill stopped recording".to_owned())?;
                done.await
                    .map_err(|_| "the drill stopped recording".to_owned())?
            }
        };
        record("intent", None).await.map_err(|e| {
            SourceError::new(
                ErrorClass::Config,
                format!("not attempting {action}: its intent could not be recorded: {e}"),
            )
        })?;
        let (outcome, _) = with_retries(self.attempts, action, || async {
            match action {
                "undelete" => self.source.undelete(c).await,
                _ => self.source.redelete(c).await,
            }
        })
        .await;
        let _ = match &outcome {
            Ok(()) => record("done", None).await,
            Err(e) => record("failed", Some(e.to_string())).await,
        };
        outcome
    }

    /// `undelete` mode for a soft-deleted blob: undelete it, verify it like
    /// any recovery point, and put the soft-deleted state back. Each step is
    /// an evidence event recorded before it is taken.
    async fn undelete_and_verify(
        &self,
        index: usize,
        c: Candidate,
        baseline: Option<Baseline>,
        started: Instant,
        result: SampleResult,
    ) -> (SampleResult, bool) {
        if c.snapshot.is_some() {
            let mut r = result;
            r.verdict = Verdict::Skipped;
            r.reason = Some(
                "a soft-deleted snapshot of a live blob: Undelete Blob would restore every soft-deleted snapshot of that blob, so it is not undeleted"
                    .into(),
            );
            r.duration_ms = started.elapsed().as_millis() as u64;
            return (r, false);
        }
        if let Err(e) = self.step(&c, "undelete", "soft-deleted").await {
            return (self.failed(result, e, started), false);
        }
        let live = Candidate {
            deleted: None,
            ..c.clone()
        };
        let (mut verified, new_baseline) =
            Box::pin(self.restore_and_verify(index, live, baseline)).await;
        verified.recovery_point = c.clone();
        if let Err(e) = self
            .step(&c, "redelete", "live (undeleted by this drill)")
            .await
        {
            tracing::error!(key = %c.key, error = %e, "An undeleted blob could not be deleted again; delete it by hand to restore the soft-deleted state.");
            let note = format!("the blob could not be put back into its soft-deleted state: {e}");
            verified.reason = Some(match verified.reason.take() {
                Some(r) => format!("{r}; {note}"),
                None => note,
            });
        }
        verified.duration_ms = started.elapsed().as_millis() as u64;
        (verified, new_baseline)
    }

    fn failed(&self, mut r: SampleResult, e: SourceError, started: Instant) -> SampleResult {
        r.verdict = match e.class {
            ErrorClass::Archived => Verdict::Skipped,
            // Not a verdict about the backup: the agent's host failed.
            ErrorClass::Host => Verdict::Aborted,
            _ => Verdict::Unrecoverable,
        };
        r.error_class = Some(e.class);
        r.reason = Some(format!("{}: {}", e.class, e.message));
        r.duration_ms = started.elapsed().as_millis() as u64;
        r
    }

    /// One attempt. `stream`: GET the exact recovery point and hash it;
    /// `local`: write it to scratch, fsync, re-read and hash; `copy`: copy it
    /// server-side, stream-hash the copy, then remove the copy.
    async fn attempt(
        &self,
        c: &Candidate,
        pre: Option<&StoredAttributes>,
        scratch: &Path,
        copy_key: &str,
    ) -> Result<Restored, SourceError> {
        if self.mode != RestoreMode::Copy {
            return self.read(c, c, pre, scratch).await;
        }
        let copy = self.source.copy(c, copy_key).await?;
        let read = self.read(c, &copy, pre, scratch).await;
        let removed = self.source.remove_copy(&copy).await;
        if let Err(e) = &removed {
            tracing::warn!(key = %copy.key, error = %e, "Could not remove a drill copy; remove it by hand.");
        }
        let mut restored = read?;
        restored.copy = Some(CopyRecord {
            key: copy.key,
            version_id: copy.version_id,
            removed: removed.is_ok(),
            removal_error: removed.err().map(|e| e.to_string()),
        });
        Ok(restored)
    }

    /// Reads `target` (the recovery point `c`, or its copy) and hashes it:
    /// through a scratch file in `local` mode, straight from the stream
    /// otherwise. The references are `pre` when they were read first, else
    /// what the response carried; part sizes are asked for only when a
    /// planned reference needs them, after the response headers and before
    /// the body.
    async fn read(
        &self,
        c: &Candidate,
        target: &Candidate,
        pre: Option<&StoredAttributes>,
        scratch: &Path,
    ) -> Result<Restored, SourceError> {
        let mut body = self.source.restore(target).await?;
        let mut attrs = match pre {
            Some(a) => a.clone(),
            None => body.attributes.take().unwrap_or_default(),
        };
        let sse = body
            .server_side_encryption
            .clone()
            .or_else(|| attrs.server_side_encryption.clone());
        if Plan::new(&attrs, sse.as_deref(), self.verify).needs_part_sizes() {
            self.source.part_sizes(c, &mut attrs).await?;
        }
        let mut hasher = Hasher::plan(&attrs, sse.as_deref(), self.verify);
        if self.mode == RestoreMode::Local {
            let _guard = ScratchFile(scratch.to_owned());
            local_restore(&mut body.body, scratch, &mut hasher, &*self.observer).await?;
        } else {
            while let Some(chunk) = body.body.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                self.observer.bytes(chunk.len() as u64);
            }
        }
        Ok(Restored {
            digests: hasher.finish(),
            attrs,
            content_length: body.content_length,
            sse,
            copy: None,
        })
    }
}

/// Creates `dir` (and its parents) with mode 0700 where it creates it.
async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Bytes free for the agent in `dir` (or its nearest existing parent).
fn free_bytes(dir: &Path) -> Option<u64> {
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Ok(s) = rustix::fs::statvfs(d) {
            return Some(s.f_bavail.saturating_mul(s.f_frsize));
        }
        at = d.parent();
    }
    None
}

/// Removes the scratch file however the restore ends.
struct ScratchFile(PathBuf);
impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn local_restore(
    body: &mut futures::stream::BoxStream<'static, Result<bytes::Bytes, SourceError>>,
    path: &Path,
    hasher: &mut Hasher,
    observer: &dyn Observer,
) -> Result<(), SourceError> {
    let io = |what: &str, e: std::io::Error| {
        SourceError::new(
            ErrorClass::Host,
            format!(
                "{what} {}: {e}; free space in scratch_dir, make it writable by the agent, or point it elsewhere",
                path.display()
            ),
        )
    };
    if let Some(dir) = path.parent() {
        create_private_dir(dir)
            .await
            .map_err(|e| io("cannot create scratch directory for", e))?;
    }
    // Restored bytes are the organisation's data: readable by the agent only.
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(|e| io("cannot create", e))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        f.write_all(&chunk)
            .await
            .map_err(|e| io("cannot write", e))?;
        observer.bytes(chunk.len() as u64);
    }
    f.sync_all().await.map_err(|e| io("cannot fsync", e))?;
    drop(f);
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| io("cannot re-open", e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| io("cannot re-read", e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Restored bytes are the organisation's data: the run directory is
    /// created 0700 and the scratch file 0600, whatever the umask.
    #[tokio::test]
    async fn scratch_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run-1").join("0.restore");
        let seen = Arc::new(Mutex::new(None));
        let body = {
            let path = path.clone();
            let seen = seen.clone();
            futures::stream::iter(0..2)
                .map(move |i| {
                    if i == 1 {
                        // Mid-restore: the file and its directory exist.
                        let mode = |p: &Path| {
                            std::fs::metadata(p)
                                .map(|m| m.permissions().mode() & 0o777)
                                .ok()
                        };
                        *seen.lock().expect("lock") =
                            Some((path.parent().and_then(mode), mode(&path)));
                    }
                    Ok(bytes::Bytes::from_static(b"restored"))
                })
                .boxed()
        };
        let mut body = body;
        let mut hasher = Hasher::plan(&StoredAttributes::default(), None, VerifyPolicy::Efficient);
        local_restore(&mut body, &path, &mut hasher, &Quiet)
            .await
            .expect("restore");
        assert_eq!(
            *seen.lock().expect("lock"),
            Some((Some(0o700), Some(0o600)))
        );
        assert_eq!(hasher.bytes(), 16);
    }
}

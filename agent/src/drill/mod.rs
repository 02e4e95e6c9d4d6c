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

use crate::config::{DrillConfig, RecordVerified, RestoreMode, SampleSize, Strategy, VerifyPolicy};
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
pub mod merge;
pub mod provider;
mod record;
mod restore;
pub mod restored;
mod run;
mod summary;
mod undelete;

pub use crate::config::age_text;
pub use crate::shutdown::Stop;
pub use coverage::{Coverage, NeededPerRun, NoPoints, Points};
use restore::RestoreEnv;
pub use summary::{
    AwsBackupRun, CopyRecord, Counts, ProviderCheck, ProviderJob, ProviderRun, RunStatus,
    RunSummary, SampleResult, Trigger,
};
use undelete::MutationRequest;

/// Verdicts committed together at most.
pub const GROUP_COMMIT_SAMPLES: usize = 64;
/// The same for a drill that batches its verified samples: each group
/// commit is one Merkle tree, so a larger group makes fewer batch events.
pub const GROUP_COMMIT_BATCHED: usize = 1024;
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
            population_from: "listing",
            population_as_of: None,
            shard: cfg.shard,
            shards: None,
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
            aws_backup: None,
            provider_checksum: None,
            activity: None,
            canaries: Vec::new(),
        }
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
    /// How the population was obtained: `listing`, or `inventory` (a
    /// report taken at `population_as_of`).
    pub population_from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub population_as_of: Option<String>,
    /// The shard this plan is (`drill --shard`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::config::Shard>,
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
        population_from: population_origin(source).0,
        population_as_of: population_origin(source).1,
        shard: cfg.shard,
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

/// How the population `source` last gave was obtained (`listing` or
/// `inventory`) and, for a report, when it was taken.
pub(crate) fn population_origin(source: &dyn Lister) -> (&'static str, Option<String>) {
    (
        source.population_from(),
        source
            .population_as_of()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    )
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
    let mut sample = sample;
    if let Some(shard) = cfg.shard {
        sample.retain(|d| shard.keeps(&d.candidate.key, &d.candidate.point_id()));
    }
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

    mod batched;
    mod restored;

    /// A drill `d` over source `s` in a fresh ledger, in `mode`.
    struct Harness {
        dir: tempfile::TempDir,
        config: crate::config::Config,
        recorder: Mutex<Recorder>,
    }

    impl Harness {
        fn new(mode: &str) -> Self {
            Self::with(&format!("mode = \"{mode}\""))
        }

        /// Drill `d` with `extra` lines of its own.
        fn with(extra: &str) -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let config = crate::config::Config::from_toml(
                &format!("[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n[drills.d]\nsource = \"s\"\nscratch_dir = \"scratch\"\nsample = \"100%\"\n{extra}\n"),
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
            Self {
                dir,
                config,
                recorder,
            }
        }

        async fn run(
            &self,
            source: Arc<dyn RecoverySource>,
            trigger: Trigger,
        ) -> Result<RunSummary, DrillError> {
            let mut drill = Drill {
                config: &self.config.drills["d"],
                recorder: &self.recorder,
                stop: Stop::new(),
                trigger,
            };
            drill.run(source, Arc::new(Quiet)).await
        }

        fn evidence(&self) -> String {
            std::fs::read_to_string(self.dir.path().join("evidence.jsonl")).expect("evidence")
        }
    }

    /// A panic inside a run is caught: the run is recorded `error` with the
    /// panic's message, in the ledger and the evidence chain, and never left
    /// `running` (before, a scheduled drill that panicked stayed `running`
    /// forever and was never scheduled again).
    #[tokio::test]
    async fn a_panic_inside_a_run_is_recorded_as_an_error_run() {
        let h = Harness::new("stream");
        let store = MemoryStore::new("s");
        store.fault_listing(Fault::Panic);
        let ran = h.run(Arc::new(store), Trigger::Schedule).await;
        let Err(DrillError::Unrunnable(why)) = ran else {
            panic!("an internal error: {ran:?}");
        };
        assert!(why.contains("an internal error while listing"), "{why}");
        let runs = lock(&h.recorder).ledger.last_runs().expect("runs");
        let run = &runs["d"];
        assert_eq!(run.status, "error", "{run:?}");
        let evidence = h.evidence();
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
        let h = Harness::new(mode);
        let ran = h.run(Arc::new(store), Trigger::Manual).await;
        (ran, h.evidence())
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

    /// What a drill writes reads back as types, member by member: the
    /// writers' bodies and the read side (`evidence::record`) agree on
    /// every name the sinks, reports and status read.
    #[tokio::test]
    async fn a_drills_evidence_reads_back_as_types() {
        use crate::evidence::record::{Body, Record};
        let (store, ids) = seeded();
        store.fault(&ids[2], Fault::Corrupt { offset: 0 });
        let (summary, evidence) = drill_over(store, "stream").await;
        let records: Vec<Record> = evidence.lines().map(Record::parse).collect();
        assert!(records.len() >= 5, "{evidence}");
        let mut seen = std::collections::BTreeSet::new();
        for r in &records {
            assert!(
                r.seq > 0 && !r.event_id.is_empty() && r.epoch_ms().is_some(),
                "{r:?}"
            );
            assert_eq!(r.agent.name, "restoreproof");
            assert!(!r.agent.version.is_empty() && !r.agent.host.is_empty());
            seen.insert(r.kind_name.clone());
            match &r.body {
                Body::SampleVerdict(v) => {
                    assert_eq!((r.drill.as_str(), r.source.name.as_str()), ("d", "s"));
                    assert_eq!(r.source.kind, "s3");
                    assert_eq!(r.source.bucket, "memory");
                    assert!(v.verdict().is_some(), "{v:?}");
                    assert!(ids.contains(&v.recovery_point.version_id.clone().unwrap()));
                    assert!(
                        v.recovery_point.size.is_some() && v.recovery_point.last_modified.is_some()
                    );
                    assert!(r.resource_url().starts_with("s3://memory/"));
                    if v.verdict() == Some(crate::verify::Verdict::Verified) {
                        assert!(v.restore.sha256.is_some(), "{v:?}");
                        assert!(v.reason.is_none());
                    } else {
                        assert!(v.reason.is_some(), "{v:?}");
                    }
                    assert!(v.pick.is_some());
                }
                Body::RunSummary(s) => {
                    assert_eq!(s.stated_outcome, summary.outcome);
                    assert_eq!(s.outcome(), Some(crate::outcome::RunOutcome::Failed));
                    assert_eq!(s.counts, summary.counts);
                    assert_eq!((s.sampled, s.status.as_str()), (3, "completed"));
                    assert_eq!(s.trigger, "manual");
                    assert_eq!(s.strategy, "uniform");
                    assert_eq!(s.seed, summary.seed);
                    assert_eq!(s.population.map(|p| p.candidates), Some(3));
                    assert_eq!(s.bytes_restored, summary.bytes_restored);
                    assert!(!s.started_at.is_empty() && !s.finished_at.is_empty());
                    assert!(s.duration_ms.is_some() && s.reason.is_some());
                    assert_eq!(s.source.location(), "s3://memory/");
                }
                Body::Checkpoint(c) => {
                    assert!(
                        c.size > 0 && !c.head.is_empty() && !c.note.is_empty(),
                        "{c:?}"
                    );
                    assert_eq!(c.reason, "run");
                }
                other => panic!("a drill wrote {other:?}"),
            }
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            ["checkpoint", "run_summary", "sample_verdict"]
        );
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
        let h = Harness::new("copy");
        let before = store.live_versions();
        h.run(store.clone(), Trigger::Manual).await.expect("runs");
        assert_eq!(store.live_versions(), before);
    }
}

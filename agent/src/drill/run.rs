//! The phases of one run, each a step on the run's state ([`Run`]): begin
//! (close orphaned runs, open the run row), draw the sample, read the
//! baselines, check the scratch disk, restore and record, settle the
//! status, then what follows the restores (suspicious changes, canaries,
//! coverage) and the summary. A phase that ends the run early records the
//! summary itself and returns `None` (the run ended in order) or an error.

use super::*;
use crate::verify::content::ContentFacts;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::task::AbortOnDropHandle;

/// What one run carries from phase to phase.
pub(super) struct Run {
    pub(super) id: String,
    pub(super) info: SourceInfo,
    pub(super) agent: AgentInfo,
    pub(super) started: Instant,
    pub(super) summary: RunSummary,
    /// Why each sampled point was picked and whether it was covered, by
    /// its place in the sample.
    picks: Vec<(Pick, bool)>,
    coverage_picks: u64,
    coverage_count: Option<CoverageCount>,
    /// Recovery points (and bytes) this run verified that were not
    /// covered, and covered ones it saw fail.
    newly: (u64, u64),
    lost: (u64, u64),
    /// Restored versions and what their bytes looked like, compared with
    /// their predecessors once the run's verdicts are committed.
    restored_content: Vec<(Candidate, ContentFacts)>,
    /// Finished verdicts waiting for their group commit.
    pending: Vec<(SampleResult, bool)>,
    /// Set when the agent's host (or its credentials) failed a restore.
    host_error: Option<String>,
    cancelled: bool,
    started_restores: u64,
}

/// Restores started and not yet recorded, so a cancelled one is recorded
/// as `aborted` rather than forgotten.
type InFlight = Arc<Mutex<HashMap<usize, Candidate>>>;

impl Drill<'_> {
    #[tracing::instrument(level = "error", skip_all, fields(drill = %self.config.name, source = %self.config.source, run_id = %run_id))]
    pub(super) async fn run_as(
        &mut self,
        run_id: &str,
        source: Arc<dyn RecoverySource>,
        observer: Arc<dyn Observer>,
    ) -> Result<RunSummary, DrillError> {
        if self.config.mode == RestoreMode::ProviderChecksum {
            return self.provider_submit(run_id, source, &*observer).await;
        }
        let mut run = self.begin(run_id, source.describe())?;
        let Some(sample) = self.draw_sample(&mut run, &*source, &*observer).await? else {
            return Ok(run.summary);
        };
        let jobs = self.with_baselines(&run, sample)?;
        self.check_scratch(&mut run, &jobs)?;
        let (mutation_tx, mutation_rx) = tokio::sync::mpsc::unbounded_channel::<MutationRequest>();
        let cfg = self.config;
        let env = Arc::new(RestoreEnv {
            source,
            mode: cfg.mode,
            verify: cfg.verify,
            attempts: cfg.attempts,
            timeout: cfg.restore_timeout,
            scratch: cfg.scratch_dir.join(&run.id),
            copy_base: format!("{}{}/", cfg.copy_prefix, run.id),
            observer: observer.clone(),
            mutations: mutation_tx,
            protection: cfg.protection,
            served_other: Mutex::default(),
        });
        self.restore_all(&mut run, &env, jobs, mutation_rx, &*observer)
            .await?;
        run.settle_status(self.stop.is_finishing());
        self.after_restores(&mut run, &env).await?;
        self.finish(&mut run.summary, &run.agent, run.started)?;
        if let Some(why) = run
            .summary
            .error
            .clone()
            .filter(|_| run.host_error.is_some())
        {
            return Err(DrillError::Host(why));
        }
        Ok(run.summary)
    }

    /// Closes what dead runs left, opens this run's row and its summary.
    pub(super) fn begin(&mut self, run_id: &str, info: SourceInfo) -> Result<Run, DrillError> {
        let cfg = self.config;
        let agent = AgentInfo::current();
        let started = Instant::now();
        let started_at = now_rfc3339();
        self.close_orphaned_runs(&agent)?;
        self.remove_dead_scratch();
        let seed = seed_for(cfg);
        self.start_run_row(run_id, &info, &started_at, seed)?;
        tracing::info!(run_id, seed, strategy = %cfg.strategy, sample = %cfg.sample, "Drill started.");
        let summary = self.new_summary(run_id, info.clone(), started_at, seed);
        Ok(Run {
            id: run_id.to_owned(),
            info,
            agent,
            started,
            summary,
            picks: Vec::new(),
            coverage_picks: 0,
            coverage_count: None,
            newly: (0, 0),
            lost: (0, 0),
            restored_content: Vec::new(),
            pending: Vec::new(),
            host_error: None,
            cancelled: false,
            started_restores: 0,
        })
    }

    /// Lists the source and draws the sample; `None` when the agent was
    /// stopping first (the run is recorded `aborted`).
    pub(super) async fn draw_sample(
        &mut self,
        run: &mut Run,
        source: &dyn Lister,
        observer: &dyn Observer,
    ) -> Result<Option<Vec<Drawn>>, DrillError> {
        let stop = self.stop.clone();
        let seed = run.summary.seed.unwrap_or(0);
        let drawn = tokio::select! {
            drawn = self.draw(source, seed, observer) => Some(drawn),
            () = stop.finishing() => None,
        };
        let s = &mut run.summary;
        let failed = match drawn {
            None => {
                s.status = RunStatus::Aborted;
                s.error = Some("the agent was stopping before the sample was drawn".into());
                self.finish(&mut run.summary, &run.agent, run.started)?;
                return Ok(None);
            }
            Some(Ok(d)) => {
                s.population = d.population;
                (s.population_from, s.population_as_of) = super::population_origin(source);
                s.activity = Some(d.activity);
                run.coverage_count = d.coverage;
                return Ok(Some(run.drawn(d.sample, observer)));
            }
            Some(Err(DrawError::Source(error))) => {
                s.error = Some(error.to_string());
                DrillError::Listing {
                    source_name: run.info.name.clone(),
                    error,
                }
            }
            Some(Err(DrawError::Ledger(error))) => {
                s.error = Some(format!(
                    "cannot read what the ledger knows of the recovery points: {error}"
                ));
                DrillError::Ledger(error)
            }
        };
        run.summary.status = RunStatus::Error;
        self.finish(&mut run.summary, &run.agent, run.started)?;
        Err(failed)
    }

    /// Reads every sampled point's baseline before any restore of this run
    /// starts.
    pub(super) fn with_baselines(
        &self,
        run: &Run,
        sample: Vec<Drawn>,
    ) -> Result<Vec<(Candidate, Option<Baseline>)>, DrillError> {
        let r = lock(self.recorder);
        let mut jobs = Vec::with_capacity(sample.len());
        for d in sample {
            let c = d.candidate;
            let b = r.baselines.as_ref().unwrap_or(&r.ledger).baseline(
                &run.info.name,
                &c.key,
                &c.point_id(),
            )?;
            jobs.push((c, b));
        }
        Ok(jobs)
    }

    /// `local` restores write to scratch_dir: a disk that cannot hold the
    /// largest restores in flight would fail them for the host's sake, so
    /// the run stops before it starts them.
    fn check_scratch(
        &mut self,
        run: &mut Run,
        jobs: &[(Candidate, Option<Baseline>)],
    ) -> Result<(), DrillError> {
        let cfg = self.config;
        if cfg.mode != RestoreMode::Local {
            return Ok(());
        }
        let mut sizes: Vec<u64> = jobs.iter().map(|(c, _)| c.size).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let needed: u64 = sizes.iter().take(cfg.concurrency).sum();
        let Some(free) = restore::free_bytes(&cfg.scratch_dir).filter(|f| *f < needed) else {
            return Ok(());
        };
        let why = format!(
            "scratch_dir {} has {} free, but the {} largest sampled recovery points restored at once need {}; free space there, point scratch_dir at a larger disk, or lower concurrency",
            cfg.scratch_dir.display(),
            crate::config::human_bytes(free),
            cfg.concurrency.min(sizes.len()),
            crate::config::human_bytes(needed)
        );
        let s = &mut run.summary;
        s.status = RunStatus::Error;
        s.not_started = s.sampled;
        s.error = Some(why.clone());
        self.finish(&mut run.summary, &run.agent, run.started)?;
        Err(DrillError::Host(why))
    }

    /// Restores every job, `concurrency` at a time, each as its own task
    /// (restores keep streaming and hashing on other workers while this
    /// loop commits a verdict), and records the verdicts in group commits.
    /// Once the agent is stopping, or its host failed, no new restore
    /// starts; restores that change the live container (undelete) ask this
    /// loop to record each step durably *before* they take it.
    async fn restore_all(
        &mut self,
        run: &mut Run,
        env: &Arc<RestoreEnv>,
        jobs: Vec<(Candidate, Option<Baseline>)>,
        mut mutations: tokio::sync::mpsc::UnboundedReceiver<MutationRequest>,
        observer: &dyn Observer,
    ) -> Result<(), DrillError> {
        let in_flight: InFlight = Arc::default();
        let started_count = Arc::new(AtomicU64::new(0));
        let host_failed = CancellationToken::new();
        let stop_starting = {
            let (finishing, host_failed) = (self.stop.finishing_token(), host_failed.clone());
            async move {
                tokio::select! {
                    () = finishing.cancelled_owned() => {}
                    () = host_failed.cancelled_owned() => {}
                }
            }
        };
        let mut restores = futures::stream::iter(jobs.into_iter().enumerate())
            .take_until(Box::pin(stop_starting))
            .map(|(i, (c, b))| {
                started_count.fetch_add(1, Ordering::Relaxed);
                in_flight
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(i, c.clone());
                spawn_restore(env.clone(), i, c, b)
            })
            .buffer_unordered(self.config.concurrency);
        let cancel = self.stop.clone();
        let mut commit_by: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                biased;
                Some((step, ack)) = mutations.recv() => {
                    // Verdicts before a change to the live container are
                    // durable before it is made.
                    self.commit(run, observer)?;
                    commit_by = None;
                    let recorded = self.record_mutation(&run.id, &run.info, &run.agent, self.config, step);
                    let _ = ack.send(recorded.as_ref().map(|_| ()).map_err(ToString::to_string));
                    recorded?;
                }
                () = sleep_until(commit_by), if commit_by.is_some() => {
                    self.commit(run, observer)?;
                    commit_by = None;
                }
                next = restores.next() => {
                    let Some((i, (result, new_baseline))) = next else { break };
                    in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&i);
                    if run.finished(i, result, new_baseline) {
                        host_failed.cancel();
                    }
                    let group = match self.config.record_verified {
                        RecordVerified::Each => GROUP_COMMIT_SAMPLES,
                        RecordVerified::Batched => GROUP_COMMIT_BATCHED,
                    };
                    if run.pending.len() >= group {
                        self.commit(run, observer)?;
                        commit_by = None;
                    } else if commit_by.is_none() {
                        commit_by = Some(tokio::time::Instant::now() + GROUP_COMMIT_WAIT);
                    }
                }
                () = cancel.cancelled() => {
                    run.cancelled = true;
                    break;
                }
            }
        }
        self.commit(run, observer)?;
        // Dropping the stream cancels every restore still in flight.
        drop(restores);
        if run.cancelled {
            run.cancelled_in_flight(&in_flight);
            self.commit(run, observer)?;
        }
        run.started_restores = started_count.load(Ordering::Relaxed);
        Ok(())
    }

    /// Commits the verdicts waiting for their group commit.
    fn commit(&mut self, run: &mut Run, observer: &dyn Observer) -> Result<(), DrillError> {
        self.record_batch(
            &run.id,
            &run.info,
            &run.agent,
            self.config,
            &mut run.pending,
            observer,
        )
    }

    /// What follows the restores: the store's capabilities learned, the
    /// suspicious changes and delete-marker bursts, the canaries (unless
    /// the run was cut short) and rotating coverage.
    async fn after_restores(&mut self, run: &mut Run, env: &RestoreEnv) -> Result<(), DrillError> {
        let cfg = self.config;
        if cfg.mode == RestoreMode::Local {
            let _ = std::fs::remove_dir(&env.scratch);
        }
        let s = &mut run.summary;
        s.store = env.source.learned();
        s.store.extend(
            env.served_other
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .capability(),
        );
        s.suspicious_changes =
            self.record_suspicious_changes(&run.id, &run.info, &run.agent, &run.restored_content)?;
        if let Some(activity) = run.summary.activity {
            run.summary.suspicious_changes +=
                self.record_burst(&run.id, &run.info, &run.agent, &activity)?;
        }
        if !run.cancelled && run.host_error.is_none() {
            for c in &cfg.canaries {
                let checks = crate::canary::check(
                    c,
                    &*env.source,
                    self.recorder,
                    &run.agent,
                    chrono::Utc::now(),
                )
                .await
                .map_err(|e| match e {
                    crate::canary::CanaryError::Ledger(e) => DrillError::Ledger(e),
                    crate::canary::CanaryError::Evidence(e) => DrillError::Evidence(e),
                    other => DrillError::Host(other.to_string()),
                })?;
                run.summary.canaries.extend(checks);
            }
        }
        if let (Some(period), Some(count)) = (cfg.coverage, &run.coverage_count) {
            let c = Coverage::new(
                cfg,
                period,
                count,
                run.coverage_picks,
                run.newly,
                run.lost,
                chrono::Utc::now(),
            );
            if let Some(warning) = &c.warning {
                tracing::warn!(warning, "Rotating coverage cannot keep up.");
                self.record_coverage_finding(&run.info, &run.agent, &c)?;
            }
            run.summary.coverage = Some(c);
        }
        Ok(())
    }
}

/// Starts one restore as a task of its own, aborted when dropped; the
/// drill's span (drill, source, run id) and one per sample follow it. A
/// task that died (a panic) is that sample's internal error.
fn spawn_restore(
    env: Arc<RestoreEnv>,
    i: usize,
    c: Candidate,
    b: Option<Baseline>,
) -> impl std::future::Future<Output = (usize, (SampleResult, bool))> {
    let candidate = c.clone();
    let span = tracing::error_span!("sample", key = %c.key, version = %c.point_id());
    let task = AbortOnDropHandle::new(tokio::spawn(
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
}

impl Run {
    /// Takes the drawn sample: its size, why each point was picked.
    fn drawn(&mut self, sample: Vec<Drawn>, observer: &dyn Observer) -> Vec<Drawn> {
        let s = &mut self.summary;
        s.sampled = sample.len() as u64;
        s.sampled_bytes = sample.iter().map(|d| d.candidate.size).sum();
        self.picks = sample.iter().map(|d| (d.pick, d.covered)).collect();
        self.coverage_picks = sample
            .iter()
            .filter(|d| matches!(d.pick, Pick::Coverage | Pick::CoverageUniform))
            .count() as u64;
        observer.sampled(s.sampled, s.sampled_bytes);
        tracing::info!(
            candidates = s.population.candidates,
            delete_markers = s.population.delete_markers,
            sampled = s.sampled,
            sampled_bytes = s.sampled_bytes,
            "Sample drawn."
        );
        sample
    }

    /// Takes one finished restore; whether it is the first failure of the
    /// agent's host or credentials (no new restore may start).
    fn finished(&mut self, i: usize, mut result: SampleResult, new_baseline: bool) -> bool {
        if let Some(&(pick, covered)) = self.picks.get(i) {
            result.pick = Some(pick);
            let size = result.recovery_point.size;
            if result.verdict == Verdict::Verified && !covered {
                self.newly = (self.newly.0 + 1, self.newly.1 + size);
            } else if result.verdict.is_failure() && covered {
                self.lost = (self.lost.0 + 1, self.lost.1 + size);
            }
        }
        let mut first_host_failure = false;
        if matches!(
            result.error_class,
            Some(ErrorClass::Host | ErrorClass::Credentials)
        ) && self.host_error.is_none()
        {
            let who = if result.error_class == Some(ErrorClass::Host) {
                "the agent's host failed"
            } else {
                "the store refused the agent's credentials"
            };
            let reason = result.reason.as_deref().unwrap_or("");
            self.host_error = Some(format!("{who}, not the backup: {reason}"));
            tracing::error!(reason, "{who}; the run stops.");
            first_host_failure = true;
        }
        self.summary.counts.add(result.verdict);
        self.summary.bytes_restored += result.bytes;
        if let Some(content) = &result.content {
            self.restored_content
                .push((result.recovery_point.clone(), content.clone()));
        }
        self.pending.push((result, new_baseline));
        first_host_failure
    }

    /// Restores cancelled at the shutdown deadline, recorded `aborted`.
    fn cancelled_in_flight(&mut self, in_flight: &InFlight) {
        let mut left: Vec<(usize, Candidate)> = in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .collect();
        left.sort_by_key(|(i, _)| *i);
        for (i, c) in left {
            let mut r = SampleResult::unrecoverable(c);
            r.pick = self.picks.get(i).map(|p| p.0);
            r.verdict = Verdict::Aborted;
            r.reason = Some("the restore was cancelled: the agent was stopping and the shutdown deadline passed before it finished".into());
            self.summary.counts.add(r.verdict);
            self.pending.push((r, false));
        }
    }

    /// The run's status once its restores are over.
    fn settle_status(&mut self, finishing: bool) {
        let s = &mut self.summary;
        if let Some(why) = &self.host_error {
            s.status = RunStatus::Error;
            s.not_started = s.sampled - self.started_restores;
            s.error = Some(format!(
                "{why}; {} of {} sampled recovery points were not restored",
                s.not_started, s.sampled
            ));
        } else if finishing && self.started_restores < s.sampled {
            s.status = RunStatus::Aborted;
            s.not_started = s.sampled - self.started_restores;
            s.error = Some(format!(
                "the agent was stopping; {} of {} sampled recovery points were not restored",
                s.not_started, s.sampled
            ));
        } else if self.cancelled {
            s.status = RunStatus::Aborted;
            s.error = Some(
                "the agent was stopping; restores in flight at the shutdown deadline were cancelled"
                    .into(),
            );
        }
    }
}

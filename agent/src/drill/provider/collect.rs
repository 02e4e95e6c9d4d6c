//! Collecting a waiting run: once every job of it ended, each point's
//! verdict from its job's report, recorded, and the run finished.

use super::*;

/// Collects every waiting run whose jobs all ended: their verdicts
/// recorded, each run finished. Runs whose jobs still run are left for
/// later; a run of a drill no longer configured as `provider_checksum` is
/// left too, and said.
///
/// # Errors
/// The ledger cannot be read or written (a job S3 Control cannot describe
/// is said and left for later).
pub async fn collect(
    config: &Config,
    recorder: &Mutex<Recorder>,
    stop: &Stop,
) -> Result<Vec<RunSummary>, DrillError> {
    let waiting = lock(recorder).ledger.waiting_runs()?;
    let mut out = Vec::new();
    for (run_id, drill, waiting) in waiting {
        let Some(cfg) = config.drills.get(&drill) else {
            tracing::warn!(run_id, drill, "A run waits for S3 Batch Operations jobs of a drill no longer configured; restore the drill to collect it.");
            continue;
        };
        let Ok((ops, pc)) = batch_for(cfg).await else {
            tracing::warn!(run_id, drill, "A run waits for S3 Batch Operations jobs, but the drill is no longer `provider_checksum`; restore its settings to collect it.");
            continue;
        };
        let Ok(w) = serde_json::from_str::<Waiting>(&waiting) else {
            tracing::error!(
                run_id,
                "The waiting run's record cannot be read; it is left as it is."
            );
            continue;
        };
        let jobs = lock(recorder).ledger.provider_jobs(&run_id)?;
        let mut states = Vec::new();
        for j in &jobs {
            match ops.describe(&j.job_id).await {
                Ok(s) => states.push(s),
                Err(e) => {
                    tracing::warn!(run_id, job_id = %j.job_id, error = %e, "Cannot describe the S3 Batch Operations job; trying again later.");
                    break;
                }
            }
        }
        if states.len() < jobs.len() || !states.iter().all(JobState::ended) {
            continue;
        }
        let mut d = Drill {
            config: cfg,
            recorder,
            stop: stop.clone(),
            trigger: w.trigger,
        };
        out.push(d.collected(&run_id, w, &ops, &pc, &jobs, states).await?);
    }
    Ok(out)
}

impl Drill<'_> {
    /// Records the verdicts of a run whose jobs all ended, and finishes it.
    async fn collected(
        &mut self,
        run_id: &str,
        w: Waiting,
        ops: &BatchOps,
        pc: &ProviderChecksumConfig,
        jobs: &[ProviderJobRow],
        states: Vec<JobState>,
    ) -> Result<RunSummary, DrillError> {
        let mut reports: HashMap<String, Result<Option<Vec<ReportRow>>, String>> = HashMap::new();
        for j in jobs {
            reports.insert(j.job_id.clone(), ops.report(&pc.reports, &j.job_id).await);
        }
        let state_of: HashMap<&str, &JobState> = jobs
            .iter()
            .map(|j| j.job_id.as_str())
            .zip(states.iter())
            .collect();
        let (points, judged) = {
            let r = lock(self.recorder);
            (
                r.ledger.provider_points(run_id)?,
                r.ledger.judged_points(run_id)?,
            )
        };
        let agent = AgentInfo::current();
        let mut pending = Vec::new();
        let mut agent_side = Vec::new();
        for (job, point) in points {
            let (Some(job), Ok(p)) = (job, serde_json::from_str::<Point>(&point)) else {
                continue;
            };
            let c = p.candidate();
            if judged.contains(&(c.key.clone(), c.point_id())) {
                continue;
            }
            let state = state_of
                .get(job.as_str())
                .copied()
                .cloned()
                .unwrap_or_default();
            let report = reports.get(&job).cloned().unwrap_or(Ok(None));
            let result = judge::judge(&p.expected, c, &job, &state, &report, &pc.reports);
            if result.verdict == Verdict::Aborted {
                agent_side.push(result.reason.clone().unwrap_or_default());
            }
            pending.push((result, false));
            if pending.len() >= GROUP_COMMIT_SAMPLES {
                self.record_batch(run_id, &w.source, &agent, self.config, &mut pending, &Quiet)?;
            }
        }
        self.record_batch(run_id, &w.source, &agent, self.config, &mut pending, &Quiet)?;
        let mut s = self.new_summary(run_id, w.source.clone(), w.started_at.clone(), w.seed);
        s.trigger = w.trigger;
        s.population = w.population;
        s.population_from = if w.population_from == "inventory" {
            "inventory"
        } else {
            "listing"
        };
        s.population_as_of = w.population_as_of.clone();
        s.sampled = w.sampled;
        s.sampled_bytes = w.sampled_bytes;
        s.counts = self.counts(run_id)?;
        let mut provider = w.provider.clone();
        for (job, state) in provider.jobs.iter_mut().zip(&states) {
            job.status.clone_from(&state.status);
            job.failures.clone_from(&state.failures);
        }
        s.provider_checksum = Some(provider);
        s.error = w.error.clone();
        if let Some(first) = agent_side.first() {
            s.error = Some(format!(
                "{} recovery point(s) could not be judged from the jobs' reports, e.g.: {first}",
                agent_side.len()
            ));
        }
        if s.error.is_some() {
            s.status = RunStatus::Error;
        }
        let started = DateTime::parse_from_rfc3339(&w.started_at)
            .ok()
            .and_then(|t| (Utc::now() - t.with_timezone(&Utc)).to_std().ok())
            .and_then(|age| Instant::now().checked_sub(age))
            .unwrap_or_else(Instant::now);
        self.finish(&mut s, &agent, started)?;
        Ok(s)
    }
}

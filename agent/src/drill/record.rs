//! Recording a drill: verdicts in group commits, changes to the live
//! container, orphaned runs and their scratch, and the run summary.

use super::undelete::MutationStep;
use super::*;

impl Drill<'_> {
    /// Commits finished verdicts in one transaction (each with its evidence
    /// event and, when earned, its baseline), appends them to the evidence
    /// file, and only then hands them to `observer`: what is shown or
    /// printed is recorded.
    pub(super) fn record_batch(
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
    pub(super) fn close_orphaned_runs(&mut self, agent: &AgentInfo) -> Result<(), DrillError> {
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
    pub(super) fn remove_dead_scratch(&self) {
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
    pub(super) fn record_mutation(
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

    pub(super) fn finish(
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
                l.finish_run(&s.run_id, s.status.as_str(), &summary_json, e)
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

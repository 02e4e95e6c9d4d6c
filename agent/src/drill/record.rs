//! Recording a drill: verdicts in group commits, changes to the live
//! container, orphaned runs and their scratch, and the run summary.

use super::undelete::MutationStep;
use super::*;

mod verdict;
use crate::verify::content::ContentFacts;
use verdict::sample_event;

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
        // Verified samples of a batched drill go last, under one root; the
        // rest have an event apiece, in the order they finished.
        let batched = |r: &SampleResult| {
            cfg.record_verified == RecordVerified::Batched && r.verdict == Verdict::Verified
        };
        pending.sort_by_key(|(r, _)| batched(r));
        let leaves: Vec<(String, String)> = pending
            .iter()
            .filter(|(r, _)| batched(r))
            .map(|(r, _)| leaf_rest(r))
            .collect();
        let mut events: Vec<Event> = pending
            .iter()
            .filter(|(r, _)| !batched(r))
            .map(|(r, _)| sample_event(run_id, info, agent, cfg, r))
            .collect();
        let owned: Vec<(String, String, String)> = pending
            .iter()
            .map(|(r, _)| {
                (
                    serde_json::to_string(&r.checks).unwrap_or_else(|_| "[]".into()),
                    r.recovery_point.point_id(),
                    r.recovery_point
                        .last_modified
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                )
            })
            .collect();
        let rows: Vec<SampleRow<'_>> = pending
            .iter()
            .zip(&owned)
            .map(
                |((r, new_baseline), (checks_json, point_id, last_modified))| SampleRow {
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
                    last_modified: Some(last_modified.clone()),
                    content: r.content.as_ref(),
                    batched: None,
                    at_rest: r.provider_checksum.is_some(),
                },
            )
            .collect();
        let mut rows = rows;
        let first_batched = rows.len() - leaves.len();
        for (row, ((r, _), (rest, _))) in rows[first_batched..]
            .iter_mut()
            .zip(pending[first_batched..].iter().zip(&leaves))
        {
            row.batched = Some(crate::ledger::Batched {
                event_id: &r.event_id,
                rest,
            });
        }
        if !leaves.is_empty() {
            let hashes: Vec<_> = leaves
                .iter()
                .map(|(_, leaf)| crate::evidence::merkle::leaf_hash(leaf.as_bytes()))
                .collect();
            let bytes = pending[first_batched..].iter().map(|(r, _)| r.bytes).sum();
            events.push(Event::new(
                Some(run_id.to_owned()),
                &SampleBatch {
                    agent,
                    drill: &cfg.name,
                    source: info,
                    verdict: Verdict::Verified,
                    count: leaves.len() as u64,
                    root: hex::encode(crate::evidence::merkle::root(&hashes)),
                    tree: crate::evidence::batch::TREE,
                    bytes,
                },
            ));
        }
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
                Some(run_id.clone()),
                &RunAborted {
                    agent,
                    drill: &drill,
                    started_at: &started_at,
                    verdicts_recorded: verdicts,
                    reason: "the process ended before the run finished (killed, crashed or the host restarted); the verdicts it recorded stand",
                },
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

    /// Records that rotating coverage cannot keep up with the population as
    /// a posture-style finding about the drill's source (check
    /// `coverage.budget`), before the run summary.
    pub(super) fn record_coverage_finding(
        &mut self,
        info: &SourceInfo,
        agent: &AgentInfo,
        c: &Coverage,
    ) -> Result<(), DrillError> {
        let finding = crate::posture::Finding {
            source: info.name.clone(),
            check: "coverage.budget",
            status: crate::posture::Status::Fail,
            observed: format!(
                "drill {}: sample = \"{}\" per run, {} runs in {}; {} of {} recovery points verified within the period ({:.1} %)",
                self.config.name,
                self.config.sample,
                c.runs_per_period.unwrap_or(0),
                c.period,
                c.verified_within_period,
                c.population,
                c.percent
            ),
            required: match c.needed_per_run {
                Some(n) if matches!(self.config.sample, crate::config::SampleSize::Bytes(_)) => {
                    format!("≥ {} per run", crate::config::human_bytes(n.bytes))
                }
                Some(n) => format!("≥ {} recovery points per run", n.recovery_points),
                None => "a schedule that fires within the coverage period".into(),
            },
            reason: c.warning.clone(),
            controls: vec![crate::controls::BACKUP],
        };
        crate::posture::record_one(&mut lock(self.recorder), agent, &finding)?;
        Ok(())
    }

    /// Compares each restored version with the nearest older version of the
    /// same key whose content the ledger knows (this run's included: its
    /// verdicts are committed by now) and records a `suspicious_change`
    /// finding for each that changed the way encryption changes bytes.
    /// Returns how many were found.
    pub(super) fn record_suspicious_changes(
        &mut self,
        run_id: &str,
        info: &SourceInfo,
        agent: &AgentInfo,
        restored: &[(Candidate, ContentFacts)],
    ) -> Result<u64, DrillError> {
        let mut found = 0;
        for (c, facts) in restored {
            let at = c
                .last_modified
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let previous = lock(self.recorder)
                .ledger
                .previous_content(&info.name, &c.key, &at)?;
            let Some((previous_version, before)) = previous else {
                continue;
            };
            let signals = crate::verify::content::suspicious(&c.key, facts, &before);
            if signals.is_empty() {
                continue;
            }
            let point_id = c.point_id();
            let mut event = Event::new(
                Some(run_id.to_owned()),
                &SuspiciousChange {
                    agent,
                    drill: &self.config.name,
                    source: info,
                    recovery_point: Some(PointRef {
                        key: &c.key,
                        version_id: &point_id,
                        last_modified: &at,
                    }),
                    content: Some(facts),
                    previous: Some(Previous {
                        version_id: &previous_version,
                        entropy: before.entropy,
                        content_type: before.content_type,
                    }),
                    activity: None,
                    signals: &signals,
                },
            );
            lock(self.recorder).commit(&mut event, |l, e| l.record_event(e))?;
            tracing::warn!(key = %c.key, version = %point_id, signals = %signals.join("; "), "Suspicious change between versions.");
            found += 1;
        }
        Ok(found)
    }

    /// Records a `suspicious_change` finding when the listing's recent
    /// changes are a burst against the source's previous listings; returns
    /// 1 when it did.
    pub(super) fn record_burst(
        &mut self,
        run_id: &str,
        info: &SourceInfo,
        agent: &AgentInfo,
        activity: &crate::sample::Activity,
    ) -> Result<u64, DrillError> {
        let previous = lock(self.recorder)
            .ledger
            .previous_activity(&info.name, 10)?;
        let signals = activity.burst(&previous);
        if signals.is_empty() {
            return Ok(0);
        }
        let mut event = Event::new(
            Some(run_id.to_owned()),
            &SuspiciousChange {
                agent,
                drill: &self.config.name,
                source: info,
                recovery_point: None,
                content: None,
                previous: None,
                activity: Some(activity),
                signals: &signals,
            },
        );
        lock(self.recorder).commit(&mut event, |l, e| l.record_event(e))?;
        tracing::warn!(signals = %signals.join("; "), "A burst of changes across the source's keys.");
        Ok(1)
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
            Some(run_id.to_owned()),
            &RestoreMutation {
                agent,
                drill: &cfg.name,
                source: info,
                step: &step,
            },
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
        let failures = s.counts.mismatch + s.counts.unrecoverable;
        s.outcome = RunOutcome::of(s.status.as_str(), s.sampled, failures);
        if s.outcome == Some(RunOutcome::Failed) {
            s.reason = Some(if failures > 0 {
                format!("{failures} recovery point(s) did not restore intact")
            } else {
                format!(
                    "nothing was restored: {} candidate(s) after filters ({} version(s) listed, {} filtered out); check the source's prefix and the drill's filter and sample size",
                    s.population.candidates, s.population.versions_listed, s.population.filtered_out
                )
            });
        }
        s.duration_ms = started.elapsed().as_millis() as u64;
        s.throughput_bytes_per_sec = per_second(s.bytes_restored, s.duration_ms);
        let body = RunSummaryBody { agent, summary: s };
        let summary_json = serde_json::to_string(&body).unwrap_or_default();
        let mut event = Event::new(Some(s.run_id.clone()), &body);
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

/// A verified sample's leaf beyond its row's columns (stored in the row)
/// and the whole leaf as hashed.
fn leaf_rest(r: &SampleResult) -> (String, String) {
    let references = r
        .checks
        .iter()
        .filter(|c| {
            c.outcome == crate::verify::Outcome::Match
                && !matches!(
                    c.kind,
                    crate::verify::ReferenceKind::Size | crate::verify::ReferenceKind::Identity
                )
        })
        .map(|c| (c.name.clone(), c.expected.clone()))
        .collect();
    let rest = crate::evidence::batch::LeafRest {
        last_modified: r
            .recovery_point
            .last_modified
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        pick: r
            .pick
            .and_then(|p| serde_json::to_value(p).ok())
            .and_then(|v| v.as_str().map(str::to_owned)),
        attempts: r.attempts,
        references,
        server_side_encryption: r.server_side_encryption.clone(),
        protection: r
            .protection
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok()),
        copy: r.copy.as_ref().and_then(|c| serde_json::to_value(c).ok()),
    };
    let rest = serde_json::to_value(&rest)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "{}".into());
    let point_id = r.recovery_point.point_id();
    let leaf = crate::evidence::batch::LeafColumns {
        event_id: &r.event_id,
        key: &r.recovery_point.key,
        version_id: &point_id,
        size: r.recovery_point.size,
        sha256: r.sha256.as_deref().unwrap_or(""),
        bytes: r.bytes,
        duration_ms: r.duration_ms,
        rest: &rest,
    }
    .leaf();
    (rest, leaf)
}

/// The body of a `sample_batch` event: the verified samples of one group
/// commit, committed by the Merkle root of their leaves (their rows are in
/// the ledger).
#[derive(Serialize)]
struct SampleBatch<'a> {
    agent: &'a AgentInfo,
    drill: &'a str,
    source: &'a SourceInfo,
    verdict: Verdict,
    count: u64,
    /// RFC 6962 Merkle Tree Hash of the leaves, in order (hex).
    root: String,
    tree: &'static str,
    /// Bytes restored, summed over the batch.
    bytes: u64,
}

impl Body for SampleBatch<'_> {
    const KIND: EventKind = EventKind::SampleBatch;
}

/// The body of a `run_summary` event: the summary and who wrote it.
#[derive(Serialize)]
struct RunSummaryBody<'a> {
    agent: &'a AgentInfo,
    #[serde(flatten)]
    summary: &'a RunSummary,
}

impl Body for RunSummaryBody<'_> {
    const KIND: EventKind = EventKind::RunSummary;
}

/// The body of a `run_aborted` event.
#[derive(Serialize)]
struct RunAborted<'a> {
    agent: &'a AgentInfo,
    drill: &'a str,
    started_at: &'a str,
    verdicts_recorded: u64,
    reason: &'a str,
}

impl Body for RunAborted<'_> {
    const KIND: EventKind = EventKind::RunAborted;
}

/// The body of a `restore_mutation` event: one step of a change to the
/// live container.
#[derive(Serialize)]
struct RestoreMutation<'a> {
    agent: &'a AgentInfo,
    drill: &'a str,
    source: &'a SourceInfo,
    #[serde(flatten)]
    step: &'a MutationStep,
}

impl Body for RestoreMutation<'_> {
    const KIND: EventKind = EventKind::RestoreMutation;
}

/// The body of a `suspicious_change` event: a ransomware signal, about one
/// version against its predecessor, or about a listing's burst of changes.
/// Never a byte verdict.
#[derive(Serialize)]
pub(super) struct SuspiciousChange<'a> {
    pub(super) agent: &'a AgentInfo,
    pub(super) drill: &'a str,
    pub(super) source: &'a SourceInfo,
    /// The version that changed; `null` for a listing burst.
    pub(super) recovery_point: Option<PointRef<'a>>,
    pub(super) content: Option<&'a ContentFacts>,
    /// The nearest older version it was compared with.
    pub(super) previous: Option<Previous<'a>>,
    /// The listing's activity, for a burst.
    pub(super) activity: Option<&'a crate::sample::Activity>,
    pub(super) signals: &'a [String],
}

impl Body for SuspiciousChange<'_> {
    const KIND: EventKind = EventKind::SuspiciousChange;
}

#[derive(Serialize)]
pub(super) struct PointRef<'a> {
    pub(super) key: &'a str,
    pub(super) version_id: &'a str,
    pub(super) last_modified: &'a str,
}

#[derive(Serialize)]
pub(super) struct Previous<'a> {
    pub(super) version_id: &'a str,
    pub(super) entropy: f64,
    pub(super) content_type: &'a str,
}

//! The `runs`, `samples` and `baselines` tables: runs and their verdicts,
//! orphaned runs, first-seen baselines, and the queries reports read.

use super::*;
use crate::evidence::record::{Body, Record, RunSummary, SampleVerdict};
use crate::outcome::RunOutcome;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// A run as it starts.
#[derive(Debug, Clone)]
pub struct RunRow<'a> {
    pub run_id: &'a str,
    pub drill: &'a str,
    pub source: &'a str,
    pub started_at: &'a str,
    pub strategy: &'a str,
    pub seed: Option<u64>,
    pub mode: &'a str,
    pub sample_spec: &'a str,
}

/// A sample verdict as the ledger stores it.
#[derive(Debug, Clone)]
pub struct SampleRow<'a> {
    pub run_id: &'a str,
    pub source: &'a str,
    pub key: &'a str,
    pub version_id: &'a str,
    pub size: u64,
    pub verdict: &'a str,
    pub reason: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub bytes: u64,
    pub duration_ms: u64,
    pub checks_json: &'a str,
    /// Record this SHA-256 as the first-seen baseline when none exists.
    pub new_baseline: bool,
    /// The version's time in the listing (RFC 3339, seconds).
    pub last_modified: Option<String>,
    /// What the restored bytes looked like.
    pub content: Option<&'a crate::verify::content::ContentFacts>,
    /// A verified sample committed under its batch's Merkle root instead
    /// of an event of its own: its id and its leaf's other members (stored
    /// in `checks`; see [`crate::evidence::batch`]).
    pub batched: Option<Batched<'a>>,
    /// Checked at rest by the provider (`provider_checksum`), not restored:
    /// it leaves the recovery point's restore coverage (`points`) as it is.
    pub at_rest: bool,
}

/// The leaf of a batched sample beyond its row's columns.
#[derive(Debug, Clone, Copy)]
pub struct Batched<'a> {
    pub event_id: &'a str,
    pub rest: &'a str,
}

/// A drill's most recent run, as the ledger has it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub drill: String,
    pub source: String,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// running | completed | error | aborted
    pub status: String,
    /// How the run ended; `None` while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
    /// Verdict counts recorded so far.
    pub verdicts: std::collections::BTreeMap<String, u64>,
    pub bytes_restored: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_bytes_per_sec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Rotating coverage as the run's summary states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::evidence::record::Coverage>,
    /// Ransomware signals the run recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspicious_changes: Option<u64>,
    /// When the inventory report the run's population came from was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub population_as_of: Option<String>,
}

/// A run as the report reads it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run_id: String,
    pub drill: String,
    pub source: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub summary: Option<RunSummary>,
}

/// A verdict as the report reads it.
#[derive(Debug, Clone)]
pub struct SampleRecord {
    pub event_id: String,
    pub run_id: String,
    pub drill: String,
    pub source: String,
    pub key: String,
    pub version_id: String,
    pub size: u64,
    pub verdict: String,
    pub reason: Option<String>,
    pub bytes: u64,
    pub duration_ms: u64,
    pub recorded_at: String,
    pub last_modified: Option<String>,
    pub server_side_encryption: Option<String>,
    /// Why it was sampled (`uniform`, `coverage`, ...), when its evidence
    /// event says (releases before rotating coverage did not).
    pub pick: Option<String>,
    /// Its protection as the evidence event recorded it.
    pub protection: Option<crate::evidence::record::ProtectionFacts>,
}

/// This process as the `runs` table records it.
struct Process {
    host: String,
    pid: i64,
    boot_id: String,
}

impl Process {
    fn current() -> Self {
        Self {
            host: crate::host::hostname().unwrap_or_default(),
            pid: i64::from(std::process::id()),
            boot_id: crate::host::boot_id(),
        }
    }
}

impl Ledger {
    /// Records that a run started.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn start_run(&mut self, r: &RunRow<'_>) -> Result<(), LedgerError> {
        let me = Process::current();
        self.conn
            .execute(
                "INSERT INTO runs (run_id, drill, source, started_at, status, strategy, seed, mode, sample_spec, host, pid, boot_id)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![r.run_id, r.drill, r.source, r.started_at, r.strategy, r.seed.map(|s| s as i64), r.mode, r.sample_spec, me.host, me.pid, me.boot_id],
            )
            .map_err(LedgerError::Write)?;
        Ok(())
    }

    /// Runs still marked `running` whose process on this host is gone (killed,
    /// crashed, or the host rebooted): (run id, drill, started at, verdicts
    /// recorded).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn orphaned_runs(&self) -> Result<Vec<(String, String, String, u64)>, LedgerError> {
        let me = Process::current();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.run_id, r.drill, r.started_at, r.pid, r.boot_id,
                        (SELECT COUNT(*) FROM samples s WHERE s.run_id = r.run_id)
                 FROM runs r WHERE r.status = 'running' AND r.host = ?1",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([&me.host], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)? as u64,
                ))
            })
            .map_err(LedgerError::Read)?;
        let mut out = Vec::new();
        for row in rows {
            let (run_id, drill, started, pid, boot_id, verdicts) =
                row.map_err(LedgerError::Read)?;
            let rebooted = boot_id.is_some_and(|b| !me.boot_id.is_empty() && b != me.boot_id);
            let gone = pid.is_some_and(|p| !crate::host::is_restoreproof(p));
            if rebooted || gone {
                out.push((run_id, drill, started, verdicts));
            }
        }
        Ok(out)
    }

    /// The status of a run the ledger knows (`running`, `completed`,
    /// `aborted`, `error`), or `None`.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn run_status(&self, run_id: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row("SELECT status FROM runs WHERE run_id = ?1", [run_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(LedgerError::Read)
    }

    /// Marks an orphaned run `aborted` and records why, in one transaction.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn abort_run(&mut self, run_id: &str, event: &mut Event) -> Result<String, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        tx.execute(
            "UPDATE runs SET status = 'aborted', finished_at = ?2 WHERE run_id = ?1 AND status = 'running'",
            params![run_id, event.time],
        )
        .map_err(LedgerError::Write)?;
        let line = append_event(&tx, event)?;
        tx.commit().map_err(LedgerError::Write)?;
        Ok(line)
    }

    /// The first-seen baseline of a recovery point, if any.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn baseline(
        &self,
        source: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<Baseline>, LedgerError> {
        self.conn
            .query_row(
                "SELECT sha256, size, first_seen_at FROM baselines WHERE source = ?1 AND key = ?2 AND version_id = ?3",
                params![source, key, version_id],
                |r| {
                    Ok(Baseline {
                        sha256: r.get(0)?,
                        size: r.get::<_, i64>(1)? as u64,
                        first_seen: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(LedgerError::Read)
    }

    /// Records sample verdicts, their evidence events and any new baselines
    /// in one transaction (a group commit): all of them or none. Returns
    /// each event's JSON line, in order.
    ///
    /// # Errors
    /// [`LedgerError::Write`]; nothing of the group is kept.
    pub fn record_samples(
        &mut self,
        rows: &[SampleRow<'_>],
        events: &mut [Event],
    ) -> Result<Vec<String>, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        let mut lines = Vec::with_capacity(events.len());
        let (single, batched): (Vec<&SampleRow<'_>>, Vec<&SampleRow<'_>>) =
            rows.iter().partition(|s| s.batched.is_none());
        let (single_events, batch_event) = events.split_at_mut(single.len());
        for (s, event) in single.iter().zip(single_events.iter_mut()) {
            super::samples::insert_sample(&tx, s, &event.id, &event.time, s.checks_json, None)?;
            lines.push(append_event(&tx, event)?);
        }
        if let Some(batch) = batch_event.first_mut() {
            // The batch event first: its sequence number is the rows' batch.
            lines.push(append_event(&tx, batch)?);
            for (i, s) in batched.iter().enumerate() {
                let b = s
                    .batched
                    .as_ref()
                    .map_or(("", ""), |b| (b.event_id, b.rest));
                super::samples::insert_sample(&tx, s, b.0, &batch.time, b.1, Some((batch.seq, i)))?;
            }
        }
        tx.commit().map_err(LedgerError::Write)?;
        Ok(lines)
    }

    /// Marks a run finished with its summary and records the summary event.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn finish_run(
        &mut self,
        run_id: &str,
        status: &str,
        summary_json: &str,
        event: &mut Event,
    ) -> Result<String, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        tx.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, summary = ?4 WHERE run_id = ?1",
            params![run_id, event.time, status, summary_json],
        )
        .map_err(LedgerError::Write)?;
        let line = append_event(&tx, event)?;
        tx.commit().map_err(LedgerError::Write)?;
        Ok(line)
    }

    /// Each drill's most recent run, by drill name.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn last_runs(&self) -> Result<std::collections::BTreeMap<String, LastRun>, LedgerError> {
        self.latest_runs("")
    }

    /// Each drill's most recent run that ended (the one its outcome is
    /// judged by while another runs), by drill name.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn last_finished_runs(
        &self,
    ) -> Result<std::collections::BTreeMap<String, LastRun>, LedgerError> {
        self.latest_runs("WHERE status NOT IN ('running', 'waiting')")
    }

    fn latest_runs(
        &self,
        filter: &str,
    ) -> Result<std::collections::BTreeMap<String, LastRun>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT r.run_id, r.drill, r.source, r.started_at, r.finished_at, r.status, r.summary,
                        (SELECT COALESCE(SUM(s.bytes), 0) FROM samples s WHERE s.run_id = r.run_id)
                 FROM runs r WHERE r.rowid IN (SELECT MAX(rowid) FROM runs {filter} GROUP BY drill)"
            ))
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    LastRun {
                        run_id: r.get(0)?,
                        drill: r.get(1)?,
                        source: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        status: r.get(5)?,
                        outcome: None,
                        verdicts: std::collections::BTreeMap::new(),
                        bytes_restored: r.get::<_, i64>(7)? as u64,
                        duration_ms: None,
                        throughput_bytes_per_sec: None,
                        error: None,
                        coverage: None,
                        suspicious_changes: None,
                        population_as_of: None,
                    },
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(LedgerError::Read)?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (mut run, summary) = row.map_err(LedgerError::Read)?;
            let summary = summary.as_deref().and_then(RunSummary::parse);
            if let Some(s) = &summary {
                run.duration_ms = s.duration_ms;
                run.throughput_bytes_per_sec = s.throughput_bytes_per_sec;
                run.error.clone_from(&s.error);
                run.coverage.clone_from(&s.coverage);
                run.suspicious_changes = Some(s.suspicious_changes).filter(|n| *n > 0);
                run.population_as_of.clone_from(&s.population_as_of);
            }
            run.verdicts = self.verdict_counts(&run.run_id)?.into_iter().collect();
            run.outcome = match &summary {
                Some(s) => s.outcome(),
                // Closed as aborted without a summary (its process died).
                None => RunOutcome::of(&run.status, 0, 0),
            };
            out.insert(run.drill.clone(), run);
        }
        Ok(out)
    }

    /// Runs started at or after `since` (RFC 3339), oldest first.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn runs_since(&self, since: &str) -> Result<Vec<RunRecord>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, drill, source, started_at, finished_at, status, summary FROM runs
                 WHERE started_at >= ?1 ORDER BY started_at",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([since], |r| {
                Ok(RunRecord {
                    run_id: r.get(0)?,
                    drill: r.get(1)?,
                    source: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    status: r.get(5)?,
                    summary: r
                        .get::<_, Option<String>>(6)?
                        .as_deref()
                        .and_then(RunSummary::parse),
                })
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// Verdicts recorded at or after `since`, oldest first, with the
    /// evidence event's recovery point when the outbox still holds it.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn samples_since(&self, since: &str) -> Result<Vec<SampleRecord>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                &format!("SELECT s.event_id, s.run_id, r.drill, s.source, s.key, s.version_id, s.size, s.verdict,
                        s.reason, s.bytes, s.duration_ms, s.recorded_at, e.body, {}
                 FROM samples s JOIN runs r ON r.run_id = s.run_id
                 LEFT JOIN events e ON e.event_id = s.event_id
                 WHERE s.recorded_at >= ?1 ORDER BY s.recorded_at",
                 // A batched row's leaf holds what an event would.
                 if self.has_batches() { "CASE WHEN s.batch_seq IS NULL THEN NULL ELSE s.checks END" } else { "NULL" }),
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([since], |r| {
                let verdict = match (
                    r.get::<_, Option<String>>(12)?
                        .map(|b| Record::parse(&b).body),
                    r.get::<_, Option<String>>(13)?,
                ) {
                    (Some(Body::SampleVerdict(v)), _) => *v,
                    (_, Some(rest)) => SampleVerdict::from_leaf(&rest),
                    _ => SampleVerdict::default(),
                };
                Ok(SampleRecord {
                    event_id: r.get(0)?,
                    run_id: r.get(1)?,
                    drill: r.get(2)?,
                    source: r.get(3)?,
                    key: r.get(4)?,
                    version_id: r.get(5)?,
                    size: r.get::<_, i64>(6)? as u64,
                    verdict: r.get(7)?,
                    reason: r.get(8)?,
                    bytes: r.get::<_, i64>(9)? as u64,
                    duration_ms: r.get::<_, i64>(10)? as u64,
                    recorded_at: r.get(11)?,
                    last_modified: verdict.recovery_point.last_modified,
                    server_side_encryption: verdict.restore.server_side_encryption,
                    pick: verdict.pick,
                    protection: verdict.protection,
                })
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// Counts of verdicts per run, for tests and status.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn verdict_counts(&self, run_id: &str) -> Result<Vec<(String, u64)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT verdict, COUNT(*) FROM samples WHERE run_id = ?1 GROUP BY verdict ORDER BY verdict")
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([run_id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// Each drill's history for counters: finished runs by outcome (and
    /// when each outcome last happened), and verdicts of every run.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn drill_histories(
        &self,
    ) -> Result<std::collections::BTreeMap<String, DrillHistory>, LedgerError> {
        let mut out: std::collections::BTreeMap<String, DrillHistory> = Default::default();
        // Grouped by what the outcome depends on, so the one definition
        // (`RunOutcome`) decides each group, and the ledger is never scanned
        // run by run.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT drill, status, json_extract(summary, '$.outcome'),
                        COALESCE(json_extract(summary, '$.sampled'), 0) > 0,
                        COALESCE(json_extract(summary, '$.counts.mismatch'), 0)
                          + COALESCE(json_extract(summary, '$.counts.unrecoverable'), 0) > 0,
                        COUNT(*), MAX(finished_at)
                 FROM runs WHERE status NOT IN ('running', 'waiting') GROUP BY 1, 2, 3, 4, 5",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, i64>(5)? as u64,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(LedgerError::Read)?;
        for row in rows {
            let (drill, status, stated, sampled, failed, count, last) =
                row.map_err(LedgerError::Read)?;
            let Some(outcome) = stated
                .as_deref()
                .and_then(RunOutcome::parse)
                .or_else(|| RunOutcome::of(&status, u64::from(sampled), u64::from(failed)))
            else {
                continue;
            };
            let h = out.entry(drill).or_default();
            *h.runs.entry(outcome).or_default() += count;
            let at = h.last_at.entry(outcome).or_default();
            if last > *at {
                *at = last;
            }
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.drill, s.verdict, COUNT(*) FROM samples s JOIN runs r USING (run_id)
                 GROUP BY 1, 2",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(LedgerError::Read)?;
        for row in rows {
            let (drill, verdict, count) = row.map_err(LedgerError::Read)?;
            out.entry(drill).or_default().samples.insert(verdict, count);
        }
        Ok(out)
    }
}

/// A drill's runs and verdicts over the ledger's whole history.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DrillHistory {
    /// Finished runs by outcome.
    pub runs: std::collections::BTreeMap<RunOutcome, u64>,
    /// When a run of each outcome last finished.
    pub last_at: std::collections::BTreeMap<RunOutcome, Option<String>>,
    /// Verdicts of every run, by verdict.
    pub samples: std::collections::BTreeMap<String, u64>,
}

//! What the staleness gate reads and writes: per drill, its last passing
//! and finished runs and its coverage (`gate_facts`), and the gate states
//! it recorded.

use super::*;
use crate::outcome::RunOutcome;
use rusqlite::params;

/// What the staleness gate judges a drill by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateFacts {
    /// When the drill's last run that verified at least one recovery point
    /// and had no failure finished.
    pub last_passed_at: Option<String>,
    /// The last finished run: when, and how it ended.
    pub last_finished_at: Option<String>,
    pub last_outcome: Option<RunOutcome>,
    /// Rotating coverage in percent as the last finished run that tracked
    /// it left it, and when that run finished.
    pub coverage_percent: Option<f64>,
    pub coverage_at: Option<String>,
    /// The drill's run summaries that disagree with their hash-chained
    /// events: the rows above are not to be trusted while any does.
    pub tampered: Vec<String>,
}

impl Ledger {
    /// Per drill, what the staleness gate judges it by.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn gate_facts(&self) -> Result<std::collections::BTreeMap<String, GateFacts>, LedgerError> {
        let mut out: std::collections::BTreeMap<String, GateFacts> = Default::default();
        // Judged by counts (which every release's summaries carry), not by
        // the stated outcome: the gate asks for a `verified`, not only for
        // no failure.
        let mut stmt = self
            .conn
            .prepare(
                "SELECT drill, MAX(finished_at) FROM runs
                 WHERE status = 'completed'
                   AND COALESCE(json_extract(summary, '$.counts.verified'), 0) > 0
                   AND COALESCE(json_extract(summary, '$.counts.mismatch'), 0)
                     + COALESCE(json_extract(summary, '$.counts.unrecoverable'), 0) = 0
                 GROUP BY drill",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .map_err(LedgerError::Read)?;
        for row in rows {
            let (drill, at) = row.map_err(LedgerError::Read)?;
            out.entry(drill).or_default().last_passed_at = at;
        }
        for (drill, run) in self.last_finished_runs()? {
            let f = out.entry(drill).or_default();
            f.last_finished_at = run.finished_at;
            f.last_outcome = run.outcome;
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT drill, json_extract(summary, '$.coverage.percent'), finished_at FROM runs
                 WHERE rowid IN (SELECT MAX(rowid) FROM runs
                                 WHERE status NOT IN ('running', 'waiting') AND json_extract(summary, '$.coverage') IS NOT NULL
                                 GROUP BY drill)",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<f64>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(LedgerError::Read)?;
        for row in rows {
            let (drill, percent, at) = row.map_err(LedgerError::Read)?;
            let f = out.entry(drill).or_default();
            f.coverage_percent = percent;
            f.coverage_at = at;
        }
        for d in self.runs_disagreeing_with_chain(None)? {
            if let Some(drill) = &d.drill {
                out.entry(drill.clone())
                    .or_default()
                    .tampered
                    .push(format!("{}: {}", d.row, d.message));
            }
        }
        Ok(out)
    }

    /// The gate as the service last recorded it, per drill: (ok, since).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn gate_states(
        &self,
    ) -> Result<std::collections::BTreeMap<String, (bool, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT drill, ok, since FROM gate_state")
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    (r.get::<_, bool>(1)?, r.get::<_, String>(2)?),
                ))
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// Records a drill's gate and, when it changed, its evidence event, in
    /// one transaction (`event` is `None` when only the state is new).
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn record_gate(
        &mut self,
        drill: &str,
        ok: bool,
        reasons: &[String],
        event: Option<&mut Event>,
    ) -> Result<Option<String>, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        tx.execute(
            "INSERT INTO gate_state (drill, ok, since, reasons) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (drill) DO UPDATE SET ok = excluded.ok, since = excluded.since, reasons = excluded.reasons",
            params![
                drill,
                ok,
                crate::evidence::now_rfc3339(),
                serde_json::to_string(reasons).unwrap_or_else(|_| "[]".into())
            ],
        )
        .map_err(LedgerError::Write)?;
        let line = match event {
            Some(e) => Some(append_event(&tx, e)?),
            None => None,
        };
        tx.commit().map_err(LedgerError::Write)?;
        Ok(line)
    }
}

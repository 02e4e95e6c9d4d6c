//! The `events` table and the hash chain: every evidence event is appended
//! here, linked to the head in the same transaction ([`append_event`]).

use super::*;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

impl Ledger {
    /// Every event the ledger holds, as lines for
    /// [`crate::evidence::chain::verify_lines`].
    ///
    /// # Errors
    /// When the ledger cannot be read.
    pub fn evidence_lines(&self) -> Result<Vec<crate::evidence::chain::Line>, LedgerError> {
        let mut lines = Vec::new();
        let mut after = 0;
        loop {
            let batch = self.events_after(after, 10_000)?;
            if batch.is_empty() {
                break;
            }
            for (seq, body) in batch {
                after = seq;
                lines.push(crate::evidence::chain::Line {
                    location: format!("ledger event {seq}"),
                    text: body,
                    first_in_file: false,
                    torn: false,
                });
            }
        }
        Ok(lines)
    }

    /// Records an evidence event on its own (e.g. a change to the live
    /// container), returning its JSON line.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn record_event(&mut self, event: &mut Event) -> Result<String, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        let line = append_event(&tx, event)?;
        tx.commit().map_err(LedgerError::Write)?;
        Ok(line)
    }

    /// Events with a sequence number above `after`, in order, as JSON lines.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn events_after(&self, after: u64, limit: u64) -> Result<Vec<(u64, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map(params![after as i64, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// The newest event's sequence number (0 when there is none).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn last_seq(&self) -> Result<u64, LedgerError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|v| v as u64)
            .map_err(LedgerError::Read)
    }

    /// The highest sequence number the outbox bounds would remove: events
    /// older than `max_age` (an RFC 3339 cut-off time), and the oldest ones
    /// beyond `max_bytes`. The newest event always stays, so sequence
    /// numbers never restart.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn outbox_cutoff(
        &self,
        older_than: Option<&str>,
        max_bytes: Option<u64>,
    ) -> Result<u64, LedgerError> {
        let last = self.last_seq()?;
        let mut cutoff = 0u64;
        if let Some(t) = older_than {
            let by_age: i64 = self
                .conn
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE recorded_at < ?1",
                    [t],
                    |r| r.get(0),
                )
                .map_err(LedgerError::Read)?;
            cutoff = cutoff.max(by_age as u64);
        }
        if let Some(max) = max_bytes {
            // The newest events that fit in max_bytes stay.
            let by_size: Option<i64> = self
                .conn
                .query_row(
                    "SELECT MAX(seq) FROM (SELECT seq, SUM(LENGTH(body)) OVER (ORDER BY seq DESC) AS total FROM events) WHERE total > ?1",
                    [max as i64],
                    |r| r.get(0),
                )
                .map_err(LedgerError::Read)?;
            cutoff = cutoff.max(by_size.unwrap_or(0) as u64);
        }
        Ok(cutoff.min(last.saturating_sub(1)))
    }

    /// How many events have a sequence number in `(after, through]`.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn events_between(&self, after: u64, through: u64) -> Result<u64, LedgerError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM events WHERE seq > ?1 AND seq <= ?2",
                params![after as i64, through as i64],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(LedgerError::Read)
    }

    /// Removes events up to `seq` from the outbox.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn remove_events_through(&mut self, seq: u64) -> Result<u64, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        // The chain goes on from the last removed event.
        let last_removed = tx
            .query_row(
                "SELECT seq, hash, body FROM events WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1",
                [seq as i64],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(LedgerError::Write)?;
        if let Some((s, hash, body)) = last_removed {
            tx.execute(
                "INSERT INTO chain_anchor (id, seq, hash) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                params![s, stored_hash(hash, &body)],
            )
            .map_err(LedgerError::Write)?;
        }
        let n = tx
            .execute("DELETE FROM events WHERE seq <= ?1", [seq as i64])
            .map_err(LedgerError::Write)?;
        tx.commit().map_err(LedgerError::Write)?;
        Ok(n as u64)
    }

    /// The chain head (last sequence number and its hash), for checkpoints.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn chain_head(&self) -> Result<(u64, String), LedgerError> {
        head(&self.conn).map_err(LedgerError::Read)
    }

    /// Where the ledger's chain starts: the anchor left by the outbox
    /// bounds, or (0, genesis).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn chain_anchor(&self) -> Result<(u64, String), LedgerError> {
        self.conn
            .query_row("SELECT seq, hash FROM chain_anchor WHERE id = 1", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .optional()
            .map(|a| a.unwrap_or((0, crate::evidence::GENESIS.to_owned())))
            .map_err(LedgerError::Read)
    }

    /// The evidence lines of one run, in order: (sequence number, line).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn events_of_run(&self, run_id: &str) -> Result<Vec<(u64, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, body FROM events WHERE run_id = ?1 ORDER BY seq")
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// Evidence events of `kind` after sequence number `after`, in order.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn events_of_kind_after(
        &self,
        kind: crate::evidence::EventKind,
        after: u64,
    ) -> Result<Vec<crate::evidence::record::Record>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, body FROM events WHERE kind = ?1 AND seq > ?2 ORDER BY seq")
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map(rusqlite::params![kind.as_str(), after as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(LedgerError::Read)?;
        let mut out = Vec::new();
        for row in rows {
            let (_, body) = row.map_err(LedgerError::Read)?;
            out.push(crate::evidence::record::Record::parse(&body));
        }
        Ok(out)
    }

    /// Evidence events of `kind` recorded at or after `since`.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn events_since(
        &self,
        kind: crate::evidence::EventKind,
        since: &str,
    ) -> Result<Vec<crate::evidence::record::Record>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, body FROM events WHERE kind = ?1 AND recorded_at >= ?2 ORDER BY seq",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([kind.as_str(), since], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(LedgerError::Read)?;
        let mut out = Vec::new();
        for row in rows {
            let (_, body) = row.map_err(LedgerError::Read)?;
            out.push(crate::evidence::record::Record::parse(&body));
        }
        Ok(out)
    }

    /// The findings of the latest patch check: the newest `patch.*`
    /// posture findings recorded together (one per check, newest first
    /// until a check repeats), oldest first.
    ///
    /// # Errors
    /// When the ledger cannot be read.
    pub fn latest_patch_findings(
        &self,
    ) -> Result<Vec<crate::evidence::record::Record>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT body FROM events WHERE kind = ?1 AND json_extract(body, '$.check') LIKE 'patch.%' ORDER BY seq DESC LIMIT 64",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([crate::evidence::EventKind::PostureFinding.as_str()], |r| {
                r.get::<_, String>(0)
            })
            .map_err(LedgerError::Read)?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for row in rows {
            let record = crate::evidence::record::Record::parse(&row.map_err(LedgerError::Read)?);
            let crate::evidence::record::Body::PostureFinding(f) = &record.body else {
                continue;
            };
            if !seen.insert(f.check.clone()) {
                break;
            }
            out.push(record);
        }
        out.reverse();
        Ok(out)
    }
}

/// The chain hash of a stored event: its `hash` column, or for an event
/// recorded before the chain existed, the SHA-256 of its line.
pub(super) fn stored_hash(hash: Option<String>, body: &str) -> String {
    hash.unwrap_or_else(|| crate::evidence::sha256_hex(body.as_bytes()))
}

/// The chain head: (last sequence number, its hash).
pub(super) fn head(conn: &Connection) -> Result<(u64, String), rusqlite::Error> {
    let last = conn
        .query_row(
            "SELECT seq, hash, body FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    if let Some((seq, hash, body)) = last {
        return Ok((seq as u64, stored_hash(hash, &body)));
    }
    let anchor = conn
        .query_row("SELECT seq, hash FROM chain_anchor WHERE id = 1", [], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })
        .optional()?;
    Ok(anchor.unwrap_or((0, crate::evidence::GENESIS.to_owned())))
}

/// Assigns the next sequence number, links the event to the chain head and
/// stores it in `tx`.
pub(super) fn append_event(
    tx: &rusqlite::Transaction<'_>,
    event: &mut Event,
) -> Result<String, LedgerError> {
    let (last, prev) = head(tx).map_err(LedgerError::Write)?;
    let next = last as i64 + 1;
    event.seq = next as u64;
    event.prev_hash = Some(prev);
    event.hash = Some(crate::evidence::sha256_hex(event.canonical().as_bytes()));
    let line = event.to_line();
    tx.execute(
        "INSERT INTO events (seq, event_id, kind, run_id, recorded_at, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![next, event.id, event.kind.as_str(), event.run_id, event.time, line, event.hash],
    )
    .map_err(LedgerError::Write)?;
    Ok(line)
}

/// A ledger row that says something its hash-chained event does not.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowDisagreement {
    /// `samples` or `runs`.
    pub table: &'static str,
    /// The row: run id, and key and version for a sample.
    pub row: String,
    /// What differs, the row's value and the event's.
    pub message: String,
    /// The run's drill, for a `runs` row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<String>,
}

impl Ledger {
    /// Rows of `samples` and `runs` that disagree with the hash-chained
    /// event recorded in the same transaction (a sample's verdict, key,
    /// version, reason and SHA-256; a run's status, outcome, reason and
    /// verdict counts). Reports, `status`, the gate and the metrics read
    /// these rows for speed: this is how they are held to the chain. A row
    /// whose event the outbox bounds removed is not compared.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn rows_disagreeing_with_chain(&self) -> Result<Vec<RowDisagreement>, LedgerError> {
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.run_id, s.key, s.version_id, s.event_id,
                        s.verdict, json_extract(e.body, '$.verdict'),
                        s.key, json_extract(e.body, '$.recovery_point.key'),
                        s.sha256, json_extract(e.body, '$.restore.sha256'),
                        s.reason, json_extract(e.body, '$.reason')
                 FROM samples s JOIN events e ON e.event_id = s.event_id
                 WHERE s.verdict IS NOT json_extract(e.body, '$.verdict')
                    OR s.key IS NOT json_extract(e.body, '$.recovery_point.key')
                    OR s.sha256 IS NOT json_extract(e.body, '$.restore.sha256')
                    OR s.reason IS NOT json_extract(e.body, '$.reason')",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                let mut fields = Vec::new();
                for (i, name) in [(4, "verdict"), (6, "key"), (8, "sha256"), (10, "reason")] {
                    let row: Option<String> = r.get(i)?;
                    let event: Option<String> = r.get(i + 1)?;
                    if row != event {
                        fields.push(format!(
                            "{name} is {} in the row but {} in its event",
                            row.as_deref().unwrap_or("null"),
                            event.as_deref().unwrap_or("null")
                        ));
                    }
                }
                Ok(RowDisagreement {
                    drill: None,
                    table: "samples",
                    row: format!(
                        "run {}, key {}, version {}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?
                    ),
                    message: format!("{} (event {})", fields.join("; "), r.get::<_, String>(3)?),
                })
            })
            .map_err(LedgerError::Read)?;
        for row in rows {
            out.push(row.map_err(LedgerError::Read)?);
        }
        out.extend(self.batches_disagreeing_with_chain()?);
        out.extend(self.runs_disagreeing_with_chain(None)?);
        Ok(out)
    }
    /// Run summaries (all, or the run `only`) that disagree with their
    /// hash-chained `run_summary` event: what `status`, the gate and the
    /// metrics would show from the row.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn runs_disagreeing_with_chain(
        &self,
        only: Option<&str>,
    ) -> Result<Vec<RowDisagreement>, LedgerError> {
        let mut out = Vec::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.run_id, e.event_id,
                        json_extract(r.summary, '$.status'), json_extract(e.body, '$.status'),
                        json_extract(r.summary, '$.outcome'), json_extract(e.body, '$.outcome'),
                        json_extract(r.summary, '$.reason'), json_extract(e.body, '$.reason'),
                        json_object('verified', json_extract(r.summary, '$.counts.verified'),
                                    'mismatch', json_extract(r.summary, '$.counts.mismatch'),
                                    'unrecoverable', json_extract(r.summary, '$.counts.unrecoverable'),
                                    'no_reference', json_extract(r.summary, '$.counts.no_reference'),
                                    'skipped', json_extract(r.summary, '$.counts.skipped'),
                                    'aborted', json_extract(r.summary, '$.counts.aborted')),
                        json_object('verified', json_extract(e.body, '$.counts.verified'),
                                    'mismatch', json_extract(e.body, '$.counts.mismatch'),
                                    'unrecoverable', json_extract(e.body, '$.counts.unrecoverable'),
                                    'no_reference', json_extract(e.body, '$.counts.no_reference'),
                                    'skipped', json_extract(e.body, '$.counts.skipped'),
                                    'aborted', json_extract(e.body, '$.counts.aborted')),
                        r.status, r.drill
                 FROM runs r JOIN events e ON e.kind = 'run_summary' AND e.run_id = r.run_id
                 WHERE r.summary IS NOT NULL AND (?1 IS NULL OR r.run_id = ?1)",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([only], |r| {
                let mut fields = Vec::new();
                for (i, name) in [(2, "status"), (4, "outcome"), (6, "reason"), (8, "counts")] {
                    let row: Option<String> = r.get(i)?;
                    let event: Option<String> = r.get(i + 1)?;
                    if row != event {
                        fields.push(format!(
                            "{name} is {} in the row's summary but {} in its event",
                            row.as_deref().unwrap_or("null"),
                            event.as_deref().unwrap_or("null")
                        ));
                    }
                }
                let status: String = r.get(10)?;
                let event_status: Option<String> = r.get(3)?;
                if event_status.as_deref() != Some(status.as_str()) {
                    fields.push(format!(
                        "status is {status} in the row but {} in its event",
                        event_status.as_deref().unwrap_or("null")
                    ));
                }
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    fields,
                    r.get::<_, String>(11)?,
                ))
            })
            .map_err(LedgerError::Read)?;
        for row in rows {
            let (run_id, event_id, fields, drill) = row.map_err(LedgerError::Read)?;
            if !fields.is_empty() {
                out.push(RowDisagreement {
                    drill: Some(drill),
                    table: "runs",
                    row: format!("run {run_id}"),
                    message: format!("{} (event {event_id})", fields.join("; ")),
                });
            }
        }
        Ok(out)
    }
}

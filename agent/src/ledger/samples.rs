//! Writing one `samples` row (with its `points` row and, when earned, its
//! first-seen baseline), and what the schema of an older ledger lacks.

use super::*;
use rusqlite::params;

/// One row of `samples`, with its points row and, when earned, its
/// baseline; `batch`: the batch event's sequence number and the row's place
/// among its leaves.
pub(super) fn insert_sample(
    tx: &rusqlite::Transaction<'_>,
    s: &SampleRow<'_>,
    event_id: &str,
    time: &str,
    checks: &str,
    batch: Option<(u64, usize)>,
) -> Result<(), LedgerError> {
    tx.prepare_cached(
        "INSERT INTO samples (event_id, run_id, source, key, version_id, size, verdict, reason, sha256, bytes, duration_ms, checks, recorded_at, batch_seq, leaf_index)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .and_then(|mut st| {
        st.execute(params![
            event_id, s.run_id, s.source, s.key, s.version_id, s.size as i64, s.verdict, s.reason, s.sha256,
            s.bytes as i64, s.duration_ms as i64, checks, time,
            batch.map(|b| b.0 as i64), batch.map(|b| b.1 as i64)
        ])
    })
    .map_err(LedgerError::Write)?;
    super::points::note_verdict(tx, s, time)?;
    if let (true, Some(sha)) = (s.new_baseline, s.sha256) {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO baselines (source, key, version_id, sha256, size, first_seen_at, first_run_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut st| {
            st.execute(params![s.source, s.key, s.version_id, sha, s.bytes as i64, time, s.run_id])
        })
        .map_err(LedgerError::Write)?;
    }
    Ok(())
}

impl Ledger {
    /// Whether this ledger's schema has batched samples (read-only commands
    /// read older ledgers as they are).
    pub(crate) fn has_batches(&self) -> bool {
        self.conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('samples') WHERE name = 'batch_seq'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(false)
    }
}

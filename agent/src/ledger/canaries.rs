//! The `canaries` table: canaries written, deleted and checked.

use super::*;
use rusqlite::{params, OptionalExtension};

/// One canary as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CanaryRow {
    pub canary: String,
    pub source: String,
    pub key: String,
    /// Empty when the store keeps no versions.
    pub version_id: String,
    /// Azure: the snapshot taken before the canary was deleted.
    pub snapshot: Option<String>,
    pub sha256: String,
    pub size: u64,
    pub written_at: String,
    pub deleted_at: Option<String>,
}

impl CanaryRow {
    /// A row selected as `canary, source, key, version_id, snapshot,
    /// sha256, size, written_at, deleted_at` (the first nine columns).
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            canary: r.get(0)?,
            source: r.get(1)?,
            key: r.get(2)?,
            version_id: r.get(3)?,
            snapshot: r.get(4)?,
            sha256: r.get(5)?,
            size: r.get::<_, i64>(6)? as u64,
            written_at: r.get(7)?,
            deleted_at: r.get(8)?,
        })
    }
}

/// The process that took a canary's last recorded step: its pid and boot
/// id, as the evidence says them.
pub type StepProcess = (Option<i64>, Option<String>);

/// A canary write recorded as intended only: (operation id, key), and its
/// writer.
pub type UnfinishedWrite = (String, String, Option<i64>, Option<String>);

impl Ledger {
    /// Records a canary that was written.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn add_canary(&mut self, c: &CanaryRow) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "INSERT INTO canaries (canary, source, key, version_id, snapshot, sha256, size, written_at, deleted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![c.canary, c.source, c.key, c.version_id, c.snapshot, c.sha256, c.size as i64, c.written_at, c.deleted_at],
            )
            .map_err(LedgerError::Write)?;
        Ok(())
    }

    /// Records a canary written and the evidence event saying so in one
    /// transaction, so no interruption leaves a confirmed write without its
    /// row (which the next run could not find to finish).
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn canary_written(
        &mut self,
        c: &CanaryRow,
        event: &mut Event,
    ) -> Result<String, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        tx.execute(
            "INSERT INTO canaries (canary, source, key, version_id, snapshot, sha256, size, written_at, deleted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![c.canary, c.source, c.key, c.version_id, c.snapshot, c.sha256, c.size as i64, c.written_at, c.deleted_at],
        )
        .map_err(LedgerError::Write)?;
        let line = append_event(&tx, event)?;
        tx.commit().map_err(LedgerError::Write)?;
        Ok(line)
    }

    /// Records that a canary was deleted (its version now behind a delete
    /// marker).
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn canary_deleted(&mut self, c: &CanaryRow, at: &str) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "UPDATE canaries SET deleted_at = ?4 WHERE source = ?1 AND key = ?2 AND version_id = ?3",
                params![c.source, c.key, c.version_id, at],
            )
            .map_err(LedgerError::Write)?;
        Ok(())
    }

    /// Canaries of `canary` on `source` whose deletion was never recorded
    /// (the agent stopped between writing and deleting one).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    /// With each, the process (pid, boot id) its last recorded step names.
    pub fn canaries_not_deleted(
        &self,
        canary: &str,
        source: &str,
    ) -> Result<Vec<(CanaryRow, StepProcess)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.canary, c.source, c.key, c.version_id, c.snapshot, c.sha256, c.size, c.written_at, c.deleted_at,
                        (SELECT json_extract(e.body, '$.pid') FROM events e WHERE e.kind = 'restore_mutation'
                           AND json_extract(e.body, '$.recovery_point.key') = c.key ORDER BY e.seq DESC LIMIT 1),
                        (SELECT json_extract(e.body, '$.boot_id') FROM events e WHERE e.kind = 'restore_mutation'
                           AND json_extract(e.body, '$.recovery_point.key') = c.key ORDER BY e.seq DESC LIMIT 1)
                 FROM canaries c
                 WHERE c.canary = ?1 AND c.source = ?2 AND c.deleted_at IS NULL ORDER BY c.written_at",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map(params![canary, source], |r| {
                Ok((CanaryRow::from_row(r)?, (r.get(9)?, r.get(10)?)))
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// Canary writes of `canary` on `source` recorded as intended and never
    /// as done, failed or recovered (the agent stopped during the write):
    /// (operation id, key, pid, boot id of the writer), from the evidence
    /// chain.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn canary_writes_unfinished(
        &self,
        canary: &str,
        source: &str,
    ) -> Result<Vec<UnfinishedWrite>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT i.run_id, json_extract(i.body, '$.recovery_point.key'), json_extract(i.body, '$.pid'),
                        json_extract(i.body, '$.boot_id') FROM events i
                 WHERE i.kind = 'restore_mutation'
                   AND json_extract(i.body, '$.action') = 'canary_write'
                   AND json_extract(i.body, '$.phase') = 'intent'
                   AND json_extract(i.body, '$.drill') = ?1
                   AND json_extract(i.body, '$.source.name') = ?2
                   AND NOT EXISTS (
                     SELECT 1 FROM events e WHERE e.kind = 'restore_mutation' AND e.run_id = i.run_id
                       AND json_extract(e.body, '$.action') = 'canary_write'
                       AND json_extract(e.body, '$.phase') IN ('done', 'failed', 'recovered'))
                 ORDER BY i.seq",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map(params![canary, source], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// The youngest deleted canary of `canary` written at or before
    /// `written_by` and not before `not_before` (RFC 3339).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn canary_at_age(
        &self,
        canary: &str,
        written_by: &str,
        not_before: &str,
    ) -> Result<Option<CanaryRow>, LedgerError> {
        self.conn
            .query_row(
                "SELECT canary, source, key, version_id, snapshot, sha256, size, written_at, deleted_at FROM canaries
                 WHERE canary = ?1 AND deleted_at IS NOT NULL AND written_at <= ?2 AND written_at >= ?3
                 ORDER BY written_at DESC LIMIT 1",
                params![canary, written_by, not_before],
                CanaryRow::from_row,
            )
            .optional()
            .map_err(LedgerError::Read)
    }

    /// Records a canary's check.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn canary_checked(
        &mut self,
        c: &CanaryRow,
        at: &str,
        outcome: &str,
    ) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "UPDATE canaries SET last_checked_at = ?4, last_outcome = ?5
                 WHERE source = ?1 AND key = ?2 AND version_id = ?3",
                params![c.source, c.key, c.version_id, at, outcome],
            )
            .map_err(LedgerError::Write)?;
        Ok(())
    }

    /// Each canary's latest check, per canary and source: (canary, source,
    /// outcome, checked at). A canary checks one version per configured
    /// age; its outcome is the first that is not `restored` or `pending`
    /// among the checks of its latest run (within an hour of the newest),
    /// else `restored` (or `pending`).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn canary_checks(&self) -> Result<Vec<(String, String, String, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT canary, source, last_outcome, last_checked_at FROM canaries
                 WHERE last_checked_at IS NOT NULL AND last_outcome IS NOT NULL
                 ORDER BY canary, source, last_checked_at DESC",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(LedgerError::Read)?;
        let mut out: Vec<(String, String, String, String)> = Vec::new();
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp())
                .unwrap_or(0)
        };
        for row in rows {
            let (canary, source, outcome, checked) = row.map_err(LedgerError::Read)?;
            match out.last_mut() {
                // The newest check of this canary opens its entry.
                Some(last) if last.0 == canary && last.1 == source => {
                    let same_run = at(&last.3) - at(&checked) <= 3600;
                    let ok = |o: &str| matches!(o, "restored" | "pending");
                    if same_run && ok(&last.2) && !ok(&outcome) {
                        last.2 = outcome;
                    }
                }
                _ => out.push((canary, source, outcome, checked)),
            }
        }
        Ok(out)
    }
}

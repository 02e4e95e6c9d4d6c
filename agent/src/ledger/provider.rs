//! The S3 Batch Operations jobs of `provider_checksum` runs: recorded with
//! the run's sampled points when submitted (the run then `waiting`), read
//! back by whichever process collects them — the service at a later
//! heartbeat, or `restoreproof collect` — after any restart.

use super::events::append_event;
use super::*;
use rusqlite::params;

/// One job as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderJobRow {
    pub job_id: String,
    pub algorithm: String,
    pub checksum_type: String,
    /// `s3://bucket/key` of its manifest.
    pub manifest: String,
    pub objects: u64,
    pub submitted_at: String,
}

impl Ledger {
    /// Records a run's jobs and points, marks the run `waiting` with its
    /// provisional summary, and appends `event`, in one transaction.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn submit_provider_jobs(
        &mut self,
        run_id: &str,
        jobs: &[ProviderJobRow],
        points: &[(Option<String>, String)],
        waiting: &str,
        event: &mut Event,
    ) -> Result<String, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        for j in jobs {
            tx.execute(
                "INSERT INTO provider_jobs (job_id, run_id, algorithm, checksum_type, manifest, objects, submitted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![j.job_id, run_id, j.algorithm, j.checksum_type, j.manifest, j.objects as i64, j.submitted_at],
            )
            .map_err(LedgerError::Write)?;
        }
        for (ord, (job, point)) in points.iter().enumerate() {
            tx.execute(
                "INSERT INTO provider_points (run_id, ord, job_id, point) VALUES (?1, ?2, ?3, ?4)",
                params![run_id, ord as i64, job, point],
            )
            .map_err(LedgerError::Write)?;
        }
        tx.execute(
            "UPDATE runs SET status = 'waiting', summary = ?2 WHERE run_id = ?1",
            params![run_id, waiting],
        )
        .map_err(LedgerError::Write)?;
        let line = append_event(&tx, event)?;
        tx.commit().map_err(LedgerError::Write)?;
        Ok(line)
    }

    /// Runs waiting for their jobs: (run id, drill, provisional summary).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn waiting_runs(&self) -> Result<Vec<(String, String, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, drill, COALESCE(summary, '{}') FROM runs WHERE status = 'waiting' ORDER BY started_at",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// A run's jobs, in the order submitted.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn provider_jobs(&self, run_id: &str) -> Result<Vec<ProviderJobRow>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT job_id, algorithm, checksum_type, manifest, objects, submitted_at FROM provider_jobs WHERE run_id = ?1 ORDER BY rowid",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(ProviderJobRow {
                    job_id: r.get(0)?,
                    algorithm: r.get(1)?,
                    checksum_type: r.get(2)?,
                    manifest: r.get(3)?,
                    objects: r.get::<_, i64>(4)? as u64,
                    submitted_at: r.get(5)?,
                })
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// A run's points: (job id, the point as recorded), in sample order.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn provider_points(
        &self,
        run_id: &str,
    ) -> Result<Vec<(Option<String>, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT job_id, point FROM provider_points WHERE run_id = ?1 ORDER BY ord")
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// The recovery points a run has a verdict for: (key, version id).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn judged_points(
        &self,
        run_id: &str,
    ) -> Result<std::collections::HashSet<(String, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, version_id FROM samples WHERE run_id = ?1")
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }
}

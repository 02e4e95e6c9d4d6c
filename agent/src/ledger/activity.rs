//! The listing activity each completed run recorded, read back to judge
//! the next run's against.

use super::*;
use rusqlite::params;

impl Ledger {
    /// The listing activity of the source's last `n` completed runs,
    /// newest first.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn previous_activity(
        &self,
        source: &str,
        n: usize,
    ) -> Result<Vec<crate::sample::Activity>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT json_extract(summary, '$.activity') FROM runs
                 WHERE source = ?1 AND status = 'completed' AND json_extract(summary, '$.activity') IS NOT NULL
                 ORDER BY rowid DESC LIMIT ?2",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map(params![source, n as i64], |r| r.get::<_, String>(0))
            .map_err(LedgerError::Read)?;
        let mut out = Vec::new();
        for row in rows {
            if let Ok(a) = serde_json::from_str(&row.map_err(LedgerError::Read)?) {
                out.push(a);
            }
        }
        Ok(out)
    }
}

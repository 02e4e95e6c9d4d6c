//! The `points` table: per recovery point, when its bytes were last checked,
//! with which verdict, and when they were last `verified` — what rotating
//! coverage ranks recovery points by.
//!
//! Rows are kept in key order (the table's primary key), the order listings
//! come in, so a drill reads them in pages beside its listing
//! ([`Ledger::points_after`]) and never holds more than a page.

use super::*;
use crate::sample::PointState;
use crate::verify::content::ContentFacts;
use crate::verify::Verdict;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// One row of `points`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointRow {
    pub key: String,
    pub version_id: String,
    pub state: PointState,
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn state(checked: &str, verdict: &str, verified: Option<&str>) -> PointState {
    PointState {
        last_checked: time(checked),
        // A word from a newer release says nothing this one can rank by.
        last_verdict: Verdict::parse(verdict).unwrap_or(Verdict::NoReference),
        last_verified: verified.map(time),
    }
}

impl Ledger {
    /// Up to `limit` rows of `source` after (`key`, `version_id`) in key
    /// order, or from the first when `after` is `None`.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn points_after(
        &self,
        source: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<PointRow>, LedgerError> {
        let (key, version) = after.unwrap_or(("", ""));
        // Row values compare (key, version_id) as the primary key orders
        // them; "" sorts first, and the first page includes an empty key.
        let cmp = if after.is_some() { ">" } else { ">=" };
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT key, version_id, last_checked_at, last_verdict, last_verified_at FROM points
                 WHERE source = ?1 AND (key, version_id) {cmp} (?2, ?3)
                 ORDER BY key, version_id LIMIT ?4"
            ))
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map(params![source, key, version, limit as i64], |r| {
                let checked: String = r.get(2)?;
                let verdict: String = r.get(3)?;
                let verified: Option<String> = r.get(4)?;
                Ok(PointRow {
                    key: r.get(0)?,
                    version_id: r.get(1)?,
                    state: state(&checked, &verdict, verified.as_deref()),
                })
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// The row of one recovery point.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    /// How many recovery points of `source` the ledger knows.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn points_count(&self, source: &str) -> Result<u64, LedgerError> {
        self.conn
            .prepare_cached("SELECT COUNT(*) FROM points WHERE source = ?1")
            .map_err(LedgerError::Read)?
            .query_row(params![source], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(LedgerError::Read)
    }

    pub fn point(
        &self,
        source: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<PointState>, LedgerError> {
        self.conn
            .prepare_cached(
                "SELECT last_checked_at, last_verdict, last_verified_at FROM points
                 WHERE source = ?1 AND key = ?2 AND version_id = ?3",
            )
            .map_err(LedgerError::Read)?
            .query_row(params![source, key, version_id], |r| {
                let checked: String = r.get(0)?;
                let verdict: String = r.get(1)?;
                let verified: Option<String> = r.get(2)?;
                Ok(state(&checked, &verdict, verified.as_deref()))
            })
            .optional()
            .map_err(LedgerError::Read)
    }

    /// The nearest version of `key` older than `before` (RFC 3339) whose
    /// restored content the ledger knows: (version id, its content).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn previous_content(
        &self,
        source: &str,
        key: &str,
        before: &str,
    ) -> Result<Option<(String, ContentFacts)>, LedgerError> {
        self.conn
            .prepare_cached(
                "SELECT version_id, entropy, content_type FROM points
                 WHERE source = ?1 AND key = ?2 AND last_modified < ?3 AND entropy IS NOT NULL
                 ORDER BY last_modified DESC LIMIT 1",
            )
            .map_err(LedgerError::Read)?
            .query_row(params![source, key, before], |r| {
                let kind: Option<String> = r.get(2)?;
                Ok((
                    r.get(0)?,
                    ContentFacts {
                        entropy: r.get(1)?,
                        // Stored only for analysed restores.
                        analysed_bytes: crate::verify::content::ANALYSED_BYTES,
                        content_type: crate::verify::content::known_type(kind.as_deref()),
                    },
                ))
            })
            .optional()
            .map_err(LedgerError::Read)
    }

    /// Rows of `source` after `key` (all of its versions excluded): what a
    /// listing that ended at `key` no longer holds.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn points_counted_after(&self, source: &str, key: &str) -> Result<u64, LedgerError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM points WHERE source = ?1 AND key > ?2",
                params![source, key],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(LedgerError::Read)
    }
}

/// Records a verdict in `points` within the caller's transaction; an
/// `aborted` restore says nothing about the bytes and changes nothing.
pub(super) fn note_verdict(
    tx: &rusqlite::Transaction<'_>,
    s: &SampleRow<'_>,
    at: &str,
) -> Result<(), LedgerError> {
    if s.verdict == Verdict::Aborted.as_str() || s.at_rest {
        return Ok(());
    }
    let verified = (s.verdict == Verdict::Verified.as_str()).then_some(at);
    tx.prepare_cached(
        "INSERT INTO points (source, key, version_id, last_checked_at, last_verdict, last_verified_at, last_run_id,
                             last_modified, entropy, content_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (source, key, version_id) DO UPDATE SET
           last_checked_at = excluded.last_checked_at, last_verdict = excluded.last_verdict,
           last_verified_at = COALESCE(excluded.last_verified_at, points.last_verified_at),
           last_run_id = excluded.last_run_id,
           last_modified = COALESCE(excluded.last_modified, points.last_modified),
           entropy = COALESCE(excluded.entropy, points.entropy),
           content_type = COALESCE(excluded.content_type, points.content_type)",
    )
    .map_err(LedgerError::Write)?
    .execute(params![
        s.source,
        s.key,
        s.version_id,
        at,
        s.verdict,
        verified,
        s.run_id,
        s.last_modified,
        s.content.map(|c| c.entropy),
        s.content.map(|c| c.content_type)
    ])
    .map_err(LedgerError::Write)?;
    Ok(())
}

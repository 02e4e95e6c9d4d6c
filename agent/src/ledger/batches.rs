//! Verified samples recorded in batches: their rows read back as leaves,
//! each batch's root recomputed and held to its `sample_batch` event, and
//! an inclusion proof of one of them (see [`crate::evidence::batch`]).

use super::events::RowDisagreement;
use super::*;
use crate::evidence::batch::{LeafColumns, Proof, PROOF_SCHEMA};
use crate::evidence::merkle::{self, Hash};
use rusqlite::{params, OptionalExtension};

/// One batched sample's row, as its leaf is made of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchedRow {
    pub event_id: String,
    pub key: String,
    pub version_id: String,
    pub size: u64,
    pub sha256: String,
    pub bytes: u64,
    pub duration_ms: u64,
    pub rest: String,
}

impl BatchedRow {
    /// The leaf's columns.
    pub fn columns(&self) -> LeafColumns<'_> {
        LeafColumns {
            event_id: &self.event_id,
            key: &self.key,
            version_id: &self.version_id,
            size: self.size,
            sha256: &self.sha256,
            bytes: self.bytes,
            duration_ms: self.duration_ms,
            rest: &self.rest,
        }
    }
}

/// What a `sample_batch` event states.
#[derive(Debug, Clone, serde::Deserialize, Default)]
#[serde(default)]
struct Stated {
    count: u64,
    root: String,
}

impl Ledger {
    /// The rows of batch `seq` in leaf order.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn batch_rows(&self, seq: u64) -> Result<Vec<BatchedRow>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT event_id, key, version_id, size, COALESCE(sha256, ''), bytes, duration_ms, checks
                 FROM samples WHERE batch_seq = ?1 ORDER BY leaf_index",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([seq as i64], |r| {
                Ok(BatchedRow {
                    event_id: r.get(0)?,
                    key: r.get(1)?,
                    version_id: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    sha256: r.get(4)?,
                    bytes: r.get::<_, i64>(5)? as u64,
                    duration_ms: r.get::<_, i64>(6)? as u64,
                    rest: r.get(7)?,
                })
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// The leaf hashes of batch `seq`, in order.
    fn batch_hashes(&self, seq: u64) -> Result<Vec<Hash>, LedgerError> {
        Ok(self
            .batch_rows(seq)?
            .iter()
            .map(|r| r.columns().hash())
            .collect())
    }

    /// The `sample_batch` events still in the ledger: (seq, run id, body).
    fn batch_events(&self) -> Result<Vec<(u64, Option<String>, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, run_id, body FROM events WHERE kind = 'sample_batch' ORDER BY seq",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// How many `sample_batch` events the ledger holds, and batched rows.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn batch_totals(&self) -> Result<(u64, u64), LedgerError> {
        if !self.has_batches() {
            return Ok((0, 0));
        }
        self.conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM events WHERE kind = 'sample_batch'),
                        (SELECT COUNT(*) FROM samples WHERE batch_seq IS NOT NULL)",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(LedgerError::Read)
    }

    /// Batches whose rows no longer hash to the root (or count) their
    /// hash-chained event states: a row edited, added or removed.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn batches_disagreeing_with_chain(&self) -> Result<Vec<RowDisagreement>, LedgerError> {
        if !self.has_batches() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (seq, run_id, body) in self.batch_events()? {
            let stated: Stated = serde_json::from_str(&body).unwrap_or_default();
            let hashes = self.batch_hashes(seq)?;
            let root = hex::encode(merkle::root(&hashes));
            if hashes.len() as u64 != stated.count || root != stated.root {
                out.push(RowDisagreement {
                    table: "samples",
                    row: format!("batch {seq} (run {})", run_id.unwrap_or_default()),
                    message: format!(
                        "its {} row(s) hash to root {root}, but its event states {} leaves with root {}: a batched verdict was edited, added or removed",
                        hashes.len(),
                        stated.count,
                        stated.root
                    ),
                    drill: None,
                });
            }
        }
        Ok(out)
    }

    /// An inclusion proof of the batched sample `event_id`: `Ok(None)` when
    /// no batched sample has that id.
    ///
    /// # Errors
    /// In words: the ledger cannot be read, or no checkpoint covers the
    /// batch yet.
    pub fn prove(&self, event_id: &str) -> Result<Option<Proof>, String> {
        let read = |e: rusqlite::Error| format!("cannot read the ledger: {e}");
        if !self.has_batches() {
            return Ok(None);
        }
        let found: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT batch_seq, leaf_index FROM samples WHERE event_id = ?1 AND batch_seq IS NOT NULL",
                [event_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(read)?;
        let Some((seq, index)) = found else {
            return Ok(None);
        };
        let rows = self.batch_rows(seq as u64).map_err(|e| e.to_string())?;
        let hashes: Vec<Hash> = rows.iter().map(|r| r.columns().hash()).collect();
        let index = index as usize;
        let leaf = rows
            .get(index)
            .map(|r| r.columns().leaf())
            .ok_or("the batch's rows are incomplete")?;
        let checkpoint: Option<i64> = self
            .conn
            .query_row(
                "SELECT MIN(seq) FROM events WHERE kind = 'checkpoint' AND seq > ?1",
                [seq],
                |r| r.get(0),
            )
            .map_err(read)?;
        let checkpoint = checkpoint.ok_or(
            "no checkpoint covers this batch yet (every run ends with one): prove it once its run has finished",
        )?;
        let mut stmt = self
            .conn
            .prepare("SELECT seq, body FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq")
            .map_err(read)?;
        let numbered = stmt
            .query_map(params![seq, checkpoint], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read)?;
        if numbered.first().map(|(s, _)| *s) != Some(seq) {
            return Err(format!(
                "the batch's event (seq {seq}) is no longer in the ledger (the outbox bounds removed it once every sink had it); the evidence file and the SIEM keep it"
            ));
        }
        let lines = numbered.into_iter().map(|(_, l)| l).collect();
        Ok(Some(Proof {
            schema: PROOF_SCHEMA.into(),
            leaf,
            index: index as u64,
            tree_size: hashes.len() as u64,
            path: merkle::path(&hashes, index)
                .iter()
                .map(hex::encode)
                .collect(),
            lines,
        }))
    }
}

impl Ledger {
    /// Whether a `restore_test_unhandled` event for this queue message and
    /// reason is already recorded (a message left on the queue comes back
    /// at every poll; it is recorded once).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn unhandled_recorded(&self, message_id: &str, reason: &str) -> Result<bool, LedgerError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM events WHERE kind = 'restore_test_unhandled'
                   AND json_extract(body, '$.message_id') = ?1 AND json_extract(body, '$.reason') = ?2",
                params![message_id, reason],
                |r| r.get(0),
            )
            .map_err(LedgerError::Read)
    }
}

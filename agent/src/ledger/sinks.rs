//! The `sink_cursors` and `sink_state` tables: how far each evidence sink
//! has durably received, and its delivery health.

use super::*;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// An evidence sink's delivery state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SinkState {
    pub sink: String,
    /// The last event sequence number the sink acknowledged.
    pub cursor: u64,
    /// Events recorded but not yet acknowledged.
    pub backlog: u64,
    pub delivered_total: u64,
    pub failures_total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    /// The last failure; cleared by the next success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<String>,
}

impl Ledger {
    /// The last event sequence number a sink has durably received.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn sink_cursor(&self, sink: &str) -> Result<u64, LedgerError> {
        self.conn
            .query_row(
                "SELECT last_seq FROM sink_cursors WHERE sink = ?1",
                [sink],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(LedgerError::Read)
    }

    /// Advances a sink's cursor (never backwards).
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn advance_sink_cursor(&mut self, sink: &str, seq: u64) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "INSERT INTO sink_cursors (sink, last_seq) VALUES (?1, ?2)
                 ON CONFLICT(sink) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
                params![sink, seq as i64],
            )
            .map_err(LedgerError::Write)?;
        Ok(())
    }

    /// Records a delivery attempt of a sink in one transaction: its cursor
    /// moves to `through` (the last event acknowledged, if any), `delivered`
    /// is added to its total and, when it stopped short, `error` says why.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn record_delivery(
        &mut self,
        sink: &str,
        through: Option<u64>,
        delivered: u64,
        error: Option<&str>,
    ) -> Result<(), LedgerError> {
        let now = crate::evidence::now_rfc3339();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        if let Some(seq) = through {
            tx.execute(
                "INSERT INTO sink_cursors (sink, last_seq) VALUES (?1, ?2)
                 ON CONFLICT(sink) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
                params![format!("sink:{sink}"), seq as i64],
            )
            .map_err(LedgerError::Write)?;
        }
        tx.execute(
            "INSERT INTO sink_state (sink, delivered_total, failures_total, last_success_at, last_error, last_error_at)
             VALUES (?1, ?2, ?3, CASE WHEN ?4 IS NULL THEN ?5 END, ?4, CASE WHEN ?4 IS NOT NULL THEN ?5 END)
             ON CONFLICT(sink) DO UPDATE SET
               delivered_total = delivered_total + excluded.delivered_total,
               failures_total = failures_total + excluded.failures_total,
               last_success_at = COALESCE(excluded.last_success_at, last_success_at),
               last_error = excluded.last_error,
               last_error_at = COALESCE(excluded.last_error_at, last_error_at)",
            params![sink, delivered as i64, i64::from(error.is_some()), error, now],
        )
        .map_err(LedgerError::Write)?;
        tx.commit().map_err(LedgerError::Write)
    }

    /// The delivery state of each named sink.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn sink_states(&self, sinks: &[String]) -> Result<Vec<SinkState>, LedgerError> {
        let last = self.last_seq()?;
        let mut out = Vec::new();
        for name in sinks {
            let cursor = self.sink_cursor(&format!("sink:{name}"))?;
            let mut st = self
                .conn
                .query_row(
                    "SELECT delivered_total, failures_total, last_success_at, last_error, last_error_at FROM sink_state WHERE sink = ?1",
                    [name],
                    |r| {
                        Ok(SinkState {
                            sink: name.clone(),
                            delivered_total: r.get::<_, i64>(0)? as u64,
                            failures_total: r.get::<_, i64>(1)? as u64,
                            last_success_at: r.get(2)?,
                            last_error: r.get(3)?,
                            last_error_at: r.get(4)?,
                            ..SinkState::default()
                        })
                    },
                )
                .optional()
                .map_err(LedgerError::Read)?
                .unwrap_or_else(|| SinkState {
                    sink: name.clone(),
                    ..SinkState::default()
                });
            st.cursor = cursor;
            st.backlog = last.saturating_sub(cursor);
            out.push(st);
        }
        Ok(out)
    }
}

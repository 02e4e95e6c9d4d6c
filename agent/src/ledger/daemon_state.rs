//! The `daemon_state` table: the service's heartbeat and next run times,
//! for `restoreproof status`.

use super::*;
use rusqlite::{params, OptionalExtension};

/// The daemon's last heartbeat.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DaemonState {
    pub host: String,
    pub pid: i64,
    pub started_at: String,
    pub heartbeat_at: String,
    pub heartbeat_secs: u64,
    pub state: String,
    pub next_runs: serde_json::Map<String, serde_json::Value>,
    pub config_path: String,
    /// What the daemon cannot do right now (e.g. write its metrics file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Ledger {
    /// Records the daemon's heartbeat (replacing this host's previous one).
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn heartbeat(&mut self, d: &DaemonState) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "INSERT INTO daemon_state (host, pid, started_at, heartbeat_at, heartbeat_secs, state, next_runs, config_path, problems)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(host) DO UPDATE SET pid = excluded.pid, started_at = excluded.started_at,
                   heartbeat_at = excluded.heartbeat_at, heartbeat_secs = excluded.heartbeat_secs,
                   state = excluded.state, next_runs = excluded.next_runs, config_path = excluded.config_path,
                   problems = excluded.problems",
                params![
                    d.host,
                    d.pid,
                    d.started_at,
                    d.heartbeat_at,
                    d.heartbeat_secs as i64,
                    d.state,
                    serde_json::Value::Object(d.next_runs.clone()).to_string(),
                    d.config_path,
                    serde_json::to_string(&d.problems).unwrap_or_else(|_| "[]".into())
                ],
            )
            .map_err(LedgerError::Write)?;
        Ok(())
    }

    /// The most recent daemon heartbeat (of any host sharing this ledger).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn daemon_state(&self) -> Result<Option<DaemonState>, LedgerError> {
        // A ledger not yet migrated to version 6 (read-only) has no
        // `problems`.
        let has_problems: bool = self
            .conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('daemon_state') WHERE name = 'problems'",
                [],
                |r| r.get(0),
            )
            .map_err(LedgerError::Read)?;
        let problems = if has_problems { "problems" } else { "'[]'" };
        self.conn
            .query_row(
                &format!(
                    "SELECT host, pid, started_at, heartbeat_at, heartbeat_secs, state, next_runs, config_path, {problems}
                     FROM daemon_state ORDER BY heartbeat_at DESC LIMIT 1"
                ),
                [],
                |r| {
                    let next: String = r.get(6)?;
                    Ok(DaemonState {
                        host: r.get(0)?,
                        pid: r.get(1)?,
                        started_at: r.get(2)?,
                        heartbeat_at: r.get(3)?,
                        heartbeat_secs: r.get::<_, i64>(4)? as u64,
                        state: r.get(5)?,
                        next_runs: serde_json::from_str(&next).unwrap_or_default(),
                        config_path: r.get(7)?,
                        problems: serde_json::from_str(&r.get::<_, String>(8)?)
                            .unwrap_or_default(),
                    })
                },
            )
            .optional()
            .map_err(LedgerError::Read)
    }
}

impl Ledger {
    /// Records the pending security updates (package, version) seen now and
    /// returns since when each has been seen pending; updates no longer
    /// pending are forgotten.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn patch_seen(
        &mut self,
        pending: &[(String, String)],
        now: &str,
    ) -> Result<std::collections::BTreeMap<(String, String), String>, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        let mut out = std::collections::BTreeMap::new();
        for (p, v) in pending {
            tx.execute(
                "INSERT OR IGNORE INTO patch_seen (package, version, first_seen_at) VALUES (?1, ?2, ?3)",
                params![p, v, now],
            )
            .map_err(LedgerError::Write)?;
            let at: String = tx
                .query_row(
                    "SELECT first_seen_at FROM patch_seen WHERE package = ?1 AND version = ?2",
                    params![p, v],
                    |r| r.get(0),
                )
                .map_err(LedgerError::Write)?;
            out.insert((p.clone(), v.clone()), at);
        }
        let keep: std::collections::BTreeSet<&(String, String)> = pending.iter().collect();
        let known: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare("SELECT package, version FROM patch_seen")
                .map_err(LedgerError::Write)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(LedgerError::Write)?;
            rows.collect::<Result<_, _>>().map_err(LedgerError::Write)?
        };
        for k in known.iter().filter(|k| !keep.contains(k)) {
            tx.execute(
                "DELETE FROM patch_seen WHERE package = ?1 AND version = ?2",
                params![k.0, k.1],
            )
            .map_err(LedgerError::Write)?;
        }
        tx.commit().map_err(LedgerError::Write)?;
        Ok(out)
    }
}

//! The ledger: a local SQLite database (bundled SQLite, WAL, `synchronous=FULL`)
//! holding runs, samples, first-seen baselines, the evidence outbox and sink
//! cursors.
//!
//! Invariants:
//! - a sample row, its evidence event and (when earned) its baseline are
//!   written in one transaction: after a crash either all three exist or none;
//! - a baseline is never overwritten: the first SHA-256 seen for a recovery
//!   point stays, and a trigger refuses updates;
//! - events get a gap-free sequence number in the order they were recorded;
//! - the schema moves forward only through numbered migrations
//!   (`PRAGMA user_version`).

pub mod evidence_file;
pub mod recorder;

use crate::evidence::Event;
use crate::verify::Baseline;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};

/// Migrations in order; index + 1 is the schema version after applying it.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY,
    drill           TEXT NOT NULL,
    source          TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL,          -- running | completed | failed
    strategy        TEXT NOT NULL,
    seed            INTEGER,
    mode            TEXT NOT NULL,
    sample_spec     TEXT NOT NULL,
    summary         TEXT                    -- JSON run summary when finished
);
CREATE TABLE samples (
    event_id        TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs(run_id),
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    version_id      TEXT NOT NULL,
    size            INTEGER NOT NULL,
    verdict         TEXT NOT NULL,
    reason          TEXT,
    sha256          TEXT,
    bytes           INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    checks          TEXT NOT NULL,          -- JSON array of every reference compared
    recorded_at     TEXT NOT NULL
);
CREATE INDEX samples_by_run ON samples(run_id);
CREATE INDEX samples_by_point ON samples(source, key, version_id);
CREATE TABLE baselines (
    source          TEXT NOT NULL,
    key             TEXT NOT NULL,
    version_id      TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size            INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    first_run_id    TEXT NOT NULL,
    PRIMARY KEY (source, key, version_id)
);
CREATE TRIGGER baselines_are_immutable BEFORE UPDATE ON baselines
BEGIN SELECT RAISE(ABORT, 'baselines are never overwritten'); END;
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    run_id          TEXT,
    recorded_at     TEXT NOT NULL,
    body            TEXT NOT NULL           -- the JSON line exactly as shipped
);
CREATE TRIGGER events_are_immutable BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'evidence events are never changed'); END;
CREATE TABLE sink_cursors (
    sink            TEXT PRIMARY KEY,
    last_seq        INTEGER NOT NULL
);
"#,
    r#"
-- Who ran a run, so a run whose process died can be told from one that is
-- still going.
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN boot_id TEXT;
"#,
    r#"
-- The daemon's heartbeat, one row per host, for `restoreproof status`.
CREATE TABLE daemon_state (
    host            TEXT PRIMARY KEY,
    pid             INTEGER NOT NULL,
    started_at      TEXT NOT NULL,
    heartbeat_at    TEXT NOT NULL,
    heartbeat_secs  INTEGER NOT NULL,
    state           TEXT NOT NULL,          -- running | stopping | stopped
    next_runs       TEXT NOT NULL,          -- JSON object: drill -> RFC 3339 time or null
    config_path     TEXT NOT NULL
);
CREATE INDEX runs_by_drill ON runs(drill);
"#,
    r#"
-- Delivery state of each evidence sink, for `restoreproof status`.
CREATE TABLE sink_state (
    sink            TEXT PRIMARY KEY,
    delivered_total INTEGER NOT NULL DEFAULT 0,
    failures_total  INTEGER NOT NULL DEFAULT 0,
    last_success_at TEXT,
    last_error      TEXT,
    last_error_at   TEXT
);
"#,
    r#"
-- The hash chain: each event's SHA-256 over its canonical form, which
-- includes the previous event's hash. Events recorded before this
-- migration have none; the chain links to them by the SHA-256 of their line.
ALTER TABLE events ADD COLUMN hash TEXT;
-- Where the chain continues after the outbox bounds removed its start.
CREATE TABLE chain_anchor (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    seq             INTEGER NOT NULL,
    hash            TEXT NOT NULL
);
"#,
];

/// Why the ledger could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot create the ledger directory {path}: {source}; create it or set ledger.path to a writable place")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the ledger {path}: {source}; check ledger.path and its permissions")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the ledger {path} has schema version {found}, newer than this restoreproof understands ({known}); upgrade restoreproof")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{path} is an SQLite database but not a restoreproof ledger (it holds tables such as {tables}); point ledger.path at the ledger, or at a new file")]
    Foreign { path: PathBuf, tables: String },
    #[error("the ledger {path} has schema version {found}; this restoreproof reads version {known}: open it once with a command that writes (e.g. a drill), or read it with the release that wrote it")]
    OldSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("ledger write failed: {0} (nothing of this record was kept; if the disk is full, free space and run again)")]
    Write(#[source] rusqlite::Error),
    #[error("ledger read failed: {0}")]
    Read(#[source] rusqlite::Error),
}

/// `file:` URI of `path` for SQLite, every byte but the plainest escaped.
fn url_path(path: &Path) -> String {
    let mut u = String::from("file:");
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'_' | b'-' | b'~' => {
                u.push(*b as char);
            }
            _ => u.push_str(&format!("%{b:02X}")),
        }
    }
    u
}

/// Refuses a database that already holds tables of something else (schema
/// version 0 but not empty), naming a few of them instead of failing on the
/// first migration statement.
fn foreign_tables(conn: &Connection, path: &Path) -> Result<(), LedgerError> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 4")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|source| LedgerError::Open {
            path: path.to_owned(),
            source,
        })?;
    if tables.is_empty() {
        Ok(())
    } else {
        Err(LedgerError::Foreign {
            path: path.to_owned(),
            tables: tables.join(", "),
        })
    }
}

/// A sample verdict as the ledger stores it.
#[derive(Debug, Clone)]
pub struct SampleRow<'a> {
    pub run_id: &'a str,
    pub source: &'a str,
    pub key: &'a str,
    pub version_id: &'a str,
    pub size: u64,
    pub verdict: &'a str,
    pub reason: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub bytes: u64,
    pub duration_ms: u64,
    pub checks_json: &'a str,
    /// Record this SHA-256 as the first-seen baseline when none exists.
    pub new_baseline: bool,
}

/// A run as it starts.
#[derive(Debug, Clone)]
pub struct RunRow<'a> {
    pub run_id: &'a str,
    pub drill: &'a str,
    pub source: &'a str,
    pub started_at: &'a str,
    pub strategy: &'a str,
    pub seed: Option<u64>,
    pub mode: &'a str,
    pub sample_spec: &'a str,
}

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
}

/// A drill's most recent run, as the ledger has it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub drill: String,
    pub source: String,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// running | completed | error | aborted
    pub status: String,
    /// Verdict counts recorded so far.
    pub verdicts: std::collections::BTreeMap<String, u64>,
    pub bytes_restored: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_bytes_per_sec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

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

/// A run as the report reads it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run_id: String,
    pub drill: String,
    pub source: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub summary: Option<serde_json::Value>,
}

/// A verdict as the report reads it.
#[derive(Debug, Clone)]
pub struct SampleRecord {
    pub event_id: String,
    pub run_id: String,
    pub drill: String,
    pub source: String,
    pub key: String,
    pub version_id: String,
    pub size: u64,
    pub verdict: String,
    pub reason: Option<String>,
    pub bytes: u64,
    pub duration_ms: u64,
    pub recorded_at: String,
    pub last_modified: Option<String>,
    pub server_side_encryption: Option<String>,
}

/// The ledger database.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path` and migrates it.
    ///
    /// # Errors
    /// When the directory or file cannot be created or opened, or the schema
    /// is newer than this build.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::Directory {
                path: dir.to_owned(),
                source,
            })?;
        }
        let open_err = |source| LedgerError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(open_err)?;
        // Before anything is written: another program's database stays as
        // it is.
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if found == 0 {
            foreign_tables(&conn, path)?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(LedgerError::TooNew {
                path: path.to_owned(),
                found: version,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Exclusive)
                .map_err(open_err)?;
            tx.execute_batch(sql).map_err(open_err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(open_err)?;
            tx.commit().map_err(open_err)?;
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens an existing ledger for reading only, changing nothing on disk:
    /// for commands that only read (`status`, `report`, `evidence verify`),
    /// so they work on a ledger the user may read but not write, a
    /// read-only mount or an auditor's copy. A copy without its `-wal`
    /// and `-shm` files in a read-only directory is opened as immutable.
    ///
    /// # Errors
    /// When the file cannot be opened or read, is not a ledger, or has
    /// another schema version.
    pub fn open_read_only(path: &Path) -> Result<Self, LedgerError> {
        use rusqlite::OpenFlags;
        let open_err = |source| LedgerError::Open {
            path: path.to_owned(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let uri = |extra: &str| {
            let mut u = url_path(path);
            u.push_str(extra);
            u
        };
        let version =
            |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0));
        let conn = match Connection::open_with_flags(uri("?mode=ro"), flags) {
            Ok(c) if version(&c).is_ok() => c,
            // WAL needs a writable -shm: without one, read the file as it is.
            _ => {
                Connection::open_with_flags(uri("?mode=ro&immutable=1"), flags).map_err(open_err)?
            }
        };
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(open_err)?;
        let found = version(&conn).map_err(open_err)?;
        let known = MIGRATIONS.len() as i64;
        if found == 0 {
            foreign_tables(&conn, path)?;
        }
        if found != known {
            return Err(LedgerError::OldSchema {
                path: path.to_owned(),
                found,
                known,
            });
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

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

    /// Where the ledger lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that a run started.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn start_run(&mut self, r: &RunRow<'_>) -> Result<(), LedgerError> {
        let me = Process::current();
        self.conn
            .execute(
                "INSERT INTO runs (run_id, drill, source, started_at, status, strategy, seed, mode, sample_spec, host, pid, boot_id)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![r.run_id, r.drill, r.source, r.started_at, r.strategy, r.seed.map(|s| s as i64), r.mode, r.sample_spec, me.host, me.pid, me.boot_id],
            )
            .map_err(LedgerError::Write)?;
        Ok(())
    }

    /// Runs still marked `running` whose process on this host is gone (killed,
    /// crashed, or the host rebooted): (run id, drill, started at, verdicts
    /// recorded).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn orphaned_runs(&self) -> Result<Vec<(String, String, String, u64)>, LedgerError> {
        let me = Process::current();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.run_id, r.drill, r.started_at, r.pid, r.boot_id,
                        (SELECT COUNT(*) FROM samples s WHERE s.run_id = r.run_id)
                 FROM runs r WHERE r.status = 'running' AND r.host = ?1",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([&me.host], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)? as u64,
                ))
            })
            .map_err(LedgerError::Read)?;
        let mut out = Vec::new();
        for row in rows {
            let (run_id, drill, started, pid, boot_id, verdicts) =
                row.map_err(LedgerError::Read)?;
            let rebooted = boot_id.is_some_and(|b| !me.boot_id.is_empty() && b != me.boot_id);
            let gone = pid.is_some_and(|p| !crate::host::is_restoreproof(p));
            if rebooted || gone {
                out.push((run_id, drill, started, verdicts));
            }
        }
        Ok(out)
    }

    /// The status of a run the ledger knows (`running`, `completed`,
    /// `aborted`, `error`), or `None`.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn run_status(&self, run_id: &str) -> Result<Option<String>, LedgerError> {
        self.conn
            .query_row("SELECT status FROM runs WHERE run_id = ?1", [run_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(LedgerError::Read)
    }

    /// Marks an orphaned run `aborted` and records why, in one transaction.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn abort_run(&mut self, run_id: &str, event: &mut Event) -> Result<String, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        tx.execute(
            "UPDATE runs SET status = 'aborted', finished_at = ?2 WHERE run_id = ?1 AND status = 'running'",
            params![run_id, event.time],
        )
        .map_err(LedgerError::Write)?;
        let line = append_event(&tx, event)?;
        tx.commit().map_err(LedgerError::Write)?;
        Ok(line)
    }

    /// The first-seen baseline of a recovery point, if any.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn baseline(
        &self,
        source: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<Baseline>, LedgerError> {
        self.conn
            .query_row(
                "SELECT sha256, size, first_seen_at FROM baselines WHERE source = ?1 AND key = ?2 AND version_id = ?3",
                params![source, key, version_id],
                |r| {
                    Ok(Baseline {
                        sha256: r.get(0)?,
                        size: r.get::<_, i64>(1)? as u64,
                        first_seen: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(LedgerError::Read)
    }

    /// Records sample verdicts, their evidence events and any new baselines
    /// in one transaction (a group commit): all of them or none. Returns
    /// each event's JSON line, in order.
    ///
    /// # Errors
    /// [`LedgerError::Write`]; nothing of the group is kept.
    pub fn record_samples(
        &mut self,
        rows: &[SampleRow<'_>],
        events: &mut [Event],
    ) -> Result<Vec<String>, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        let mut lines = Vec::with_capacity(rows.len());
        for (s, event) in rows.iter().zip(events.iter_mut()) {
            tx.execute(
                "INSERT INTO samples (event_id, run_id, source, key, version_id, size, verdict, reason, sha256, bytes, duration_ms, checks, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    event.id, s.run_id, s.source, s.key, s.version_id, s.size as i64, s.verdict, s.reason, s.sha256,
                    s.bytes as i64, s.duration_ms as i64, s.checks_json, event.time
                ],
            )
            .map_err(LedgerError::Write)?;
            if let (true, Some(sha)) = (s.new_baseline, s.sha256) {
                tx.execute(
                    "INSERT OR IGNORE INTO baselines (source, key, version_id, sha256, size, first_seen_at, first_run_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![s.source, s.key, s.version_id, sha, s.bytes as i64, event.time, s.run_id],
                )
                .map_err(LedgerError::Write)?;
            }
            lines.push(append_event(&tx, event)?);
        }
        tx.commit().map_err(LedgerError::Write)?;
        Ok(lines)
    }

    /// Marks a run finished with its summary and records the summary event.
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn finish_run(
        &mut self,
        run_id: &str,
        status: &str,
        summary_json: &str,
        event: &mut Event,
    ) -> Result<String, LedgerError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(LedgerError::Write)?;
        tx.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, summary = ?4 WHERE run_id = ?1",
            params![run_id, event.time, status, summary_json],
        )
        .map_err(LedgerError::Write)?;
        let line = append_event(&tx, event)?;
        tx.commit().map_err(LedgerError::Write)?;
        Ok(line)
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

    /// Records the daemon's heartbeat (replacing this host's previous one).
    ///
    /// # Errors
    /// [`LedgerError::Write`].
    pub fn heartbeat(&mut self, d: &DaemonState) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "INSERT INTO daemon_state (host, pid, started_at, heartbeat_at, heartbeat_secs, state, next_runs, config_path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(host) DO UPDATE SET pid = excluded.pid, started_at = excluded.started_at,
                   heartbeat_at = excluded.heartbeat_at, heartbeat_secs = excluded.heartbeat_secs,
                   state = excluded.state, next_runs = excluded.next_runs, config_path = excluded.config_path",
                params![
                    d.host,
                    d.pid,
                    d.started_at,
                    d.heartbeat_at,
                    d.heartbeat_secs as i64,
                    d.state,
                    serde_json::Value::Object(d.next_runs.clone()).to_string(),
                    d.config_path
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
        self.conn
            .query_row(
                "SELECT host, pid, started_at, heartbeat_at, heartbeat_secs, state, next_runs, config_path
                 FROM daemon_state ORDER BY heartbeat_at DESC LIMIT 1",
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
                    })
                },
            )
            .optional()
            .map_err(LedgerError::Read)
    }

    /// Each drill's most recent run, by drill name.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn last_runs(&self) -> Result<std::collections::BTreeMap<String, LastRun>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.run_id, r.drill, r.source, r.started_at, r.finished_at, r.status, r.summary,
                        (SELECT COALESCE(SUM(s.bytes), 0) FROM samples s WHERE s.run_id = r.run_id)
                 FROM runs r WHERE r.rowid IN (SELECT MAX(rowid) FROM runs GROUP BY drill)",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    LastRun {
                        run_id: r.get(0)?,
                        drill: r.get(1)?,
                        source: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        status: r.get(5)?,
                        verdicts: std::collections::BTreeMap::new(),
                        bytes_restored: r.get::<_, i64>(7)? as u64,
                        duration_ms: None,
                        throughput_bytes_per_sec: None,
                        error: None,
                    },
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(LedgerError::Read)?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (mut run, summary) = row.map_err(LedgerError::Read)?;
            if let Some(v) =
                summary.and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            {
                run.duration_ms = v["duration_ms"].as_u64();
                run.throughput_bytes_per_sec = v["throughput_bytes_per_sec"].as_u64();
                run.error = v["error"].as_str().map(str::to_owned);
            }
            run.verdicts = self.verdict_counts(&run.run_id)?.into_iter().collect();
            out.insert(run.drill.clone(), run);
        }
        Ok(out)
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

    /// Runs started at or after `since` (RFC 3339), oldest first.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn runs_since(&self, since: &str) -> Result<Vec<RunRecord>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, drill, source, started_at, finished_at, status, summary FROM runs
                 WHERE started_at >= ?1 ORDER BY started_at",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([since], |r| {
                Ok(RunRecord {
                    run_id: r.get(0)?,
                    drill: r.get(1)?,
                    source: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    status: r.get(5)?,
                    summary: r
                        .get::<_, Option<String>>(6)?
                        .and_then(|s| serde_json::from_str(&s).ok()),
                })
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// Verdicts recorded at or after `since`, oldest first, with the
    /// evidence event's recovery point when the outbox still holds it.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn samples_since(&self, since: &str) -> Result<Vec<SampleRecord>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.event_id, s.run_id, r.drill, s.source, s.key, s.version_id, s.size, s.verdict,
                        s.reason, s.bytes, s.duration_ms, s.recorded_at, e.body
                 FROM samples s JOIN runs r ON r.run_id = s.run_id
                 LEFT JOIN events e ON e.event_id = s.event_id
                 WHERE s.recorded_at >= ?1 ORDER BY s.recorded_at",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([since], |r| {
                let body: Option<serde_json::Value> = r
                    .get::<_, Option<String>>(12)?
                    .and_then(|b| serde_json::from_str(&b).ok());
                Ok(SampleRecord {
                    event_id: r.get(0)?,
                    run_id: r.get(1)?,
                    drill: r.get(2)?,
                    source: r.get(3)?,
                    key: r.get(4)?,
                    version_id: r.get(5)?,
                    size: r.get::<_, i64>(6)? as u64,
                    verdict: r.get(7)?,
                    reason: r.get(8)?,
                    bytes: r.get::<_, i64>(9)? as u64,
                    duration_ms: r.get::<_, i64>(10)? as u64,
                    recorded_at: r.get(11)?,
                    last_modified: body.as_ref().and_then(|b| {
                        b["recovery_point"]["last_modified"]
                            .as_str()
                            .map(str::to_owned)
                    }),
                    server_side_encryption: body.as_ref().and_then(|b| {
                        b["restore"]["server_side_encryption"]
                            .as_str()
                            .map(str::to_owned)
                    }),
                })
            })
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }

    /// Evidence events of `kind` recorded at or after `since`.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn events_since(
        &self,
        kind: &str,
        since: &str,
    ) -> Result<Vec<(u64, serde_json::Value)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, body FROM events WHERE kind = ?1 AND recorded_at >= ?2 ORDER BY seq",
            )
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([kind, since], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(LedgerError::Read)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body) = row.map_err(LedgerError::Read)?;
            out.push((seq, serde_json::from_str(&body).unwrap_or_default()));
        }
        Ok(out)
    }

    /// Counts of verdicts per run, for tests and status.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn verdict_counts(&self, run_id: &str) -> Result<Vec<(String, u64)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT verdict, COUNT(*) FROM samples WHERE run_id = ?1 GROUP BY verdict ORDER BY verdict")
            .map_err(LedgerError::Read)?;
        let rows = stmt
            .query_map([run_id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(LedgerError::Read)?;
        rows.collect::<Result<_, _>>().map_err(LedgerError::Read)
    }
}

/// This process as the `runs` table records it.
struct Process {
    host: String,
    pid: i64,
    boot_id: String,
}

impl Process {
    fn current() -> Self {
        Self {
            host: crate::host::hostname().unwrap_or_default(),
            pid: i64::from(std::process::id()),
            boot_id: crate::host::boot_id(),
        }
    }
}

/// The chain hash of a stored event: its `hash` column, or for an event
/// recorded before the chain existed, the SHA-256 of its line.
fn stored_hash(hash: Option<String>, body: &str) -> String {
    hash.unwrap_or_else(|| crate::evidence::sha256_hex(body.as_bytes()))
}

/// The chain head: (last sequence number, its hash).
fn head(conn: &Connection) -> Result<(u64, String), rusqlite::Error> {
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
fn append_event(tx: &rusqlite::Transaction<'_>, event: &mut Event) -> Result<String, LedgerError> {
    let (last, prev) = head(tx).map_err(LedgerError::Write)?;
    let next = last as i64 + 1;
    event.seq = next as u64;
    event.prev_hash = Some(prev);
    event.hash = Some(crate::evidence::sha256_hex(event.canonical().as_bytes()));
    let line = event.to_line();
    tx.execute(
        "INSERT INTO events (seq, event_id, kind, run_id, recorded_at, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![next, event.id, event.kind, event.run_id, event.time, line, event.hash],
    )
    .map_err(LedgerError::Write)?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_are_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut l = Ledger::open(&dir.path().join("l.db")).expect("open");
        l.start_run(&RunRow {
            run_id: "r1",
            drill: "d",
            source: "s",
            started_at: "t",
            strategy: "uniform",
            seed: Some(1),
            mode: "stream",
            sample_spec: "1",
        })
        .expect("run");
        for sha in ["aaa", "bbb"] {
            let mut ev = [Event::new(
                "sample_verdict",
                Some("r1".into()),
                serde_json::json!({}),
            )];
            l.record_samples(
                &[SampleRow {
                    run_id: "r1",
                    source: "s",
                    key: "k",
                    version_id: "v",
                    size: 1,
                    verdict: "verified",
                    reason: None,
                    sha256: Some(sha),
                    bytes: 1,
                    duration_ms: 1,
                    checks_json: "[]",
                    new_baseline: true,
                }],
                &mut ev,
            )
            .expect("record");
        }
        assert_eq!(
            l.baseline("s", "k", "v").expect("read").map(|b| b.sha256),
            Some("aaa".into())
        );
        let direct = l.conn.execute("UPDATE baselines SET sha256 = 'x'", []);
        assert!(direct.is_err(), "the trigger must refuse updates");
        let events = l.events_after(0, 10).expect("events");
        assert_eq!(events.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
        assert!(events[1].1.contains("\"seq\":2"));
    }

    /// Another program's database given as the ledger is named as such,
    /// untouched, instead of failing on the first migration statement.
    #[test]
    fn a_foreign_database_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("other.db");
        let c = Connection::open(&p).expect("raw");
        c.execute_batch("CREATE TABLE customers (id INTEGER); CREATE TABLE orders (id INTEGER);")
            .expect("schema");
        drop(c);
        for e in [
            Ledger::open(&p).expect_err("foreign"),
            Ledger::open_read_only(&p).expect_err("foreign"),
        ] {
            let m = e.to_string();
            assert!(
                m.contains("not a restoreproof ledger") && m.contains("customers"),
                "{m}"
            );
            assert!(!m.contains("CREATE"), "{m}");
        }
        let c = Connection::open(&p).expect("raw");
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, 0, "nothing migrated");
    }

    #[test]
    fn reopening_keeps_the_schema_and_rejects_newer_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub/l.db");
        drop(Ledger::open(&p).expect("create"));
        drop(Ledger::open(&p).expect("reopen"));
        let c = Connection::open(&p).expect("raw");
        c.pragma_update(None, "user_version", 99).expect("bump");
        drop(c);
        let e = Ledger::open(&p).expect_err("too new");
        assert!(e.to_string().contains("upgrade restoreproof"), "{e}");
    }
}

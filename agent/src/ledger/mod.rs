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

mod activity;
mod batches;
mod canaries;
mod daemon_state;
mod events;
mod gate;
pub use events::RowDisagreement;
pub mod evidence_file;
mod points;
pub mod provider;
pub mod recorder;
mod runs;
mod samples;
mod schema;
mod sinks;

pub use batches::BatchedRow;
pub use canaries::CanaryRow;
pub use daemon_state::DaemonState;
use events::append_event;
pub use gate::GateFacts;
pub use points::PointRow;
pub use runs::{Batched, DrillHistory, LastRun, RunRecord, RunRow, SampleRecord, SampleRow};
use schema::MIGRATIONS;
pub use sinks::SinkState;

use crate::evidence::Event;
use crate::verify::Baseline;
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};

/// Why the ledger could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot create the ledger directory {path}: {source}; create it or set ledger.path to a writable place")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the ledger {path}: permission denied; it belongs to the service's user: run the command with sudo (or as that user)")]
    NoPermission { path: PathBuf },
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

    /// A second connection to the ledger this process writes, for long
    /// reads that must not hold the recorder (the service's chain check):
    /// an ordinary connection with writes refused (`query_only`). Never
    /// [`Ledger::open_read_only`] in the writing process: its immutable
    /// fallback closes the file without SQLite's locking, which drops the
    /// process's locks on it, and another process could then remove the
    /// write-ahead log the writer still uses.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open_reader(path: &Path) -> Result<Self, LedgerError> {
        use rusqlite::OpenFlags;
        let open_err = |source| LedgerError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(open_err)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(open_err)?;
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
        // SQLite's own message for an unreadable file is about creating it.
        if let Err(e) = std::fs::File::open(path) {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                return Err(LedgerError::NoPermission {
                    path: path.to_owned(),
                });
            }
        }
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
        // A newer schema is refused (below, as too new or too old to read);
        // older versions from OLDEST_READABLE on are read as they are.
        if !(schema::OLDEST_READABLE..=known).contains(&found) {
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

    /// Where the ledger lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
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
            let mut ev = [Event::with_value(
                crate::evidence::EventKind::SampleVerdict,
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
                    last_modified: None,
                    content: None,
                    batched: None,
                    at_rest: false,
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

//! The JSON Lines evidence file: one event per line, appended and fsynced in
//! ledger order.

use crate::ledger::{Ledger, LedgerError};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The ledger cursor name of this sink.
const CURSOR: &str = "file:evidence";

/// Why the evidence file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceFileError {
    #[error("cannot write the evidence file {path}: {source}; check evidence.path, its directory and free space (the ledger keeps every event and the file catches up on the next run)")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a restoreproof evidence file ({what}); it is left untouched: point evidence.path at the evidence file (JSON Lines), not the ledger or another file")]
    NotEvidence { path: PathBuf, what: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// An open evidence file, caught up with the ledger.
#[derive(Debug)]
pub struct EvidenceFile {
    file: File,
    path: PathBuf,
    last_seq: u64,
}

impl EvidenceFile {
    /// Opens (creating) the file, cuts a torn last line left by a crash, and
    /// appends every ledger event it is missing.
    ///
    /// # Errors
    /// When the file cannot be created, read or written.
    pub fn open(path: &Path, ledger: &mut Ledger) -> Result<Self, EvidenceFileError> {
        let io = |source| EvidenceFileError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut me = Self {
            file,
            path: path.to_owned(),
            last_seq: 0,
        };
        me.locked(|me| me.catch_up(ledger))?;
        Ok(me)
    }

    /// Runs `f` holding an exclusive lock on the file, so processes sharing
    /// the ledger (the daemon and a one-shot drill) never interleave or
    /// duplicate lines.
    fn locked<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, EvidenceFileError>,
    ) -> Result<T, EvidenceFileError> {
        self.file.lock().map_err(|source| EvidenceFileError::Io {
            path: self.path.clone(),
            source,
        })?;
        let r = f(self);
        let _ = self.file.unlock();
        r
    }

    /// Under the lock: cuts a torn last line, then appends every ledger event
    /// after the last one the file (or the ledger's cursor, should the file
    /// have been rotated) holds.
    fn catch_up(&mut self, ledger: &mut Ledger) -> Result<(), EvidenceFileError> {
        self.locate(ledger)?;
        loop {
            let batch = ledger.events_after(self.last_seq, 1000)?;
            if batch.is_empty() {
                break;
            }
            for (seq, line) in batch {
                self.write_line(seq, &line)?;
            }
        }
        self.sync()?;
        ledger.advance_sink_cursor(CURSOR, self.last_seq)?;
        Ok(())
    }

    /// Under the lock: where the file ends, in event sequence numbers.
    fn locate(&mut self, ledger: &Ledger) -> Result<(), EvidenceFileError> {
        if let Some(what) =
            not_evidence(&mut self.file).map_err(|source| EvidenceFileError::Io {
                path: self.path.clone(),
                source,
            })?
        {
            return Err(EvidenceFileError::NotEvidence {
                path: self.path.clone(),
                what,
            });
        }
        let last_in_file = repair_tail(&mut self.file).map_err(|source| EvidenceFileError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.last_seq = ledger.sink_cursor(CURSOR)?.max(last_in_file);
        Ok(())
    }

    fn write_line(&mut self, seq: u64, line: &str) -> Result<(), EvidenceFileError> {
        if seq <= self.last_seq {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.file
            .write_all(&buf)
            .map_err(|source| EvidenceFileError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.last_seq = seq;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), EvidenceFileError> {
        self.file
            .sync_data()
            .map_err(|source| EvidenceFileError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Appends events already committed to the ledger (consecutive, in
    /// order), fsyncs once, and advances the file's cursor.
    ///
    /// # Errors
    /// When the write or fsync fails; the ledger still holds the events and
    /// the next open catches up.
    pub fn append(
        &mut self,
        ledger: &mut Ledger,
        lines: &[(u64, &str)],
    ) -> Result<(), EvidenceFileError> {
        self.locked(|me| {
            me.locate(ledger)?;
            match lines.first() {
                Some((first, _)) if *first == me.last_seq + 1 => {
                    for (seq, line) in lines {
                        me.write_line(*seq, line)?;
                    }
                    me.sync()?;
                    ledger.advance_sink_cursor(CURSOR, me.last_seq)?;
                    Ok(())
                }
                None => Ok(()),
                // Another writer's events came in between, or an earlier
                // write failed: take everything missing from the ledger.
                Some(_) => me.catch_up(ledger),
            }
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a non-empty file is not JSON Lines evidence (so that nothing in it is
/// cut as a "torn line"), or `None` when it starts like evidence.
fn not_evidence(file: &mut File) -> std::io::Result<Option<String>> {
    let mut head = [0u8; 16];
    file.seek(SeekFrom::Start(0))?;
    let n = file.read(&mut head)?;
    file.seek(SeekFrom::End(0))?;
    let head = &head[..n];
    Ok(if head.is_empty() || head.starts_with(b"{\"") {
        None
    } else if head.starts_with(b"SQLite format 3") {
        Some("it is an SQLite database".into())
    } else if head
        .iter()
        .any(|b| *b == 0 || (*b < 0x20 && !b"\t\r\n".contains(b)))
    {
        Some("it holds binary data".into())
    } else {
        Some("its first line is not a JSON object".into())
    })
}

/// Cuts an incomplete last line (a crash mid-write) and returns the `seq` of
/// the last complete line, or 0.
fn repair_tail(file: &mut File) -> std::io::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(0);
    }
    // Read backwards in blocks until two newlines (or the start) are found.
    let mut end = len;
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    loop {
        let step = pos.min(8 * 1024);
        pos -= step;
        let mut block = vec![0u8; step as usize];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&tail);
        tail = block;
        let newlines = tail.iter().filter(|b| **b == b'\n').count();
        if newlines >= 2 || pos == 0 {
            break;
        }
    }
    if tail.last() != Some(&b'\n') {
        // Torn line: keep everything up to the last newline.
        let keep = tail
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(0);
        end = pos + keep as u64;
        file.set_len(end)?;
        file.sync_data()?;
        tail.truncate(keep);
        tracing::warn!(bytes = len - end, "Cut a torn last line from the evidence file; the ledger still holds that event and it is written again.");
    }
    let _ = end;
    let last = tail
        .strip_suffix(b"\n")
        .unwrap_or(&tail)
        .rsplit(|b| *b == b'\n')
        .next()
        .unwrap_or_default();
    let seq = std::str::from_utf8(last)
        .map(|l| crate::evidence::record::Record::parse(l).seq)
        .unwrap_or(0);
    file.seek(SeekFrom::End(0))?;
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Event;
    use crate::ledger::RunRow;

    fn ledger_with_events(dir: &Path, n: usize) -> Ledger {
        let mut l = Ledger::open(&dir.join("l.db")).expect("ledger");
        l.start_run(&RunRow {
            run_id: "r",
            drill: "d",
            source: "s",
            started_at: "t",
            strategy: "uniform",
            seed: None,
            mode: "stream",
            sample_spec: "1",
        })
        .expect("run");
        for _ in 0..n {
            let mut e = Event::with_value(
                crate::evidence::EventKind::RunSummary,
                Some("r".into()),
                serde_json::json!({"x": 1}),
            );
            l.finish_run("r", "completed", "{}", &mut e).expect("event");
        }
        l
    }

    fn seqs(path: &Path) -> Vec<u64> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["seq"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .collect()
    }

    #[test]
    fn a_torn_last_line_is_cut_and_missing_events_are_caught_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut l = ledger_with_events(dir.path(), 3);
        let path = dir.path().join("ev/evidence.jsonl");
        drop(EvidenceFile::open(&path, &mut l).expect("open"));
        assert_eq!(seqs(&path), [1, 2, 3]);

        // A crash after the ledger commit but mid-way through the file write.
        let mut e = Event::with_value(
            crate::evidence::EventKind::RunSummary,
            Some("r".into()),
            serde_json::json!({}),
        );
        let line = l.finish_run("r", "completed", "{}", &mut e).expect("event");
        let mut f = OpenOptions::new().append(true).open(&path).expect("append");
        f.write_all(&line.as_bytes()[..10]).expect("torn");
        drop(f);

        drop(EvidenceFile::open(&path, &mut l).expect("reopen"));
        assert_eq!(seqs(&path), [1, 2, 3, 4]);
    }

    /// `evidence.path` pointing at the ledger (or any other file) must never
    /// cut its tail as a "torn line".
    #[test]
    fn a_file_that_is_not_evidence_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut l = ledger_with_events(dir.path(), 1);
        let db = std::fs::read(dir.path().join("l.db")).expect("ledger bytes");
        let path = dir.path().join("copy.db");
        std::fs::write(&path, &db).expect("write");
        let e = EvidenceFile::open(&path, &mut l).expect_err("refused");
        assert!(e.to_string().contains("SQLite database"), "{e}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            db,
            "not one byte changed"
        );
        std::fs::write(&path, "not json\n").expect("write");
        let e = EvidenceFile::open(&path, &mut l).expect_err("refused");
        assert!(e.to_string().contains("not a JSON object"), "{e}");
    }

    #[test]
    fn lines_that_reached_the_file_are_not_written_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut l = ledger_with_events(dir.path(), 2);
        let path = dir.path().join("evidence.jsonl");
        // The file got both lines but the cursor update was lost.
        let lines: Vec<String> = l
            .events_after(0, 10)
            .expect("events")
            .into_iter()
            .map(|e| e.1 + "\n")
            .collect();
        std::fs::write(&path, lines.concat()).expect("write");
        drop(EvidenceFile::open(&path, &mut l).expect("open"));
        assert_eq!(seqs(&path), [1, 2]);
    }
}

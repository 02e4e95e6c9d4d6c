//! A JSON Lines (or CEF) file with size-based rotation: before a batch would
//! take the file past `max_size`, `path` becomes `path.1` (`path.1`
//! becomes `path.2`, ...; the oldest beyond `keep` is removed). With
//! `fsync = "always"` each batch is fsynced before it counts as delivered.

use super::config::{Format, SinkConfig, SinkKind};
use super::{format, Delivery, Outgoing, Sink, SinkError};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct FileSink {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    fsync: bool,
    format: Format,
}

impl FileSink {
    pub fn new(cfg: &SinkConfig) -> Self {
        let SinkKind::File {
            path,
            max_size,
            keep,
            fsync,
        } = &cfg.kind
        else {
            unreachable!("built from a file sink config")
        };
        Self {
            path: path.clone(),
            max_size: *max_size,
            keep: *keep,
            fsync: *fsync,
            format: cfg.format,
        }
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&self) -> std::io::Result<()> {
        if self.keep == 0 {
            return std::fs::remove_file(&self.path);
        }
        let _ = std::fs::remove_file(self.numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.numbered(n);
            if from.exists() {
                std::fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.numbered(1))
    }

    fn write(&self, batch: &[Outgoing]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for e in batch {
            buf.extend_from_slice(format::render_line(self.format, &e.record).as_bytes());
            buf.push(b'\n');
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + buf.len() as u64 > self.max_size {
            self.rotate()?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&buf)?;
        if self.fsync {
            f.sync_data()?;
        }
        Ok(())
    }
}

fn describe(path: &Path, e: &std::io::Error) -> SinkError {
    SinkError::new(format!(
        "cannot write {}: {e}; check the directory's permissions and free space",
        path.display()
    ))
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn deliver(&mut self, batch: &[Outgoing]) -> Delivery {
        match self.write(batch) {
            Ok(()) => Delivery::all(batch.len()),
            Err(e) => Delivery::failed(describe(&self.path, &e)),
        }
    }

    async fn check(&mut self) -> Result<String, SinkError> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| describe(dir, &e))?;
        let probe = tempfile::NamedTempFile::new_in(dir).map_err(|e| describe(dir, &e))?;
        drop(probe);
        Ok(format!("{} is writable", dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::config::{Format, SinkConfig, SinkKind};
    use serde_json::json;

    fn events(from: u64, n: u64) -> Vec<Outgoing> {
        (from..from + n)
            .map(|seq| Outgoing {
                seq,
                event_id: format!("e{seq}"),
                record: crate::evidence::record::Record::read(json!({"kind": "note", "seq": seq, "event_id": format!("e{seq}"), "pad": "x".repeat(900)})),
            })
            .collect()
    }

    #[tokio::test]
    async fn the_file_rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out/ev.jsonl");
        let mut sink = FileSink::new(&SinkConfig {
            name: "f".into(),
            format: Format::Native,
            kind: SinkKind::File {
                path: path.clone(),
                max_size: 4096,
                keep: 2,
                fsync: true,
            },
            batch_events: 500,
            batch_bytes: 1 << 20,
            batch_interval: std::time::Duration::ZERO,
            verdicts: crate::config::sink::Verdicts::All,
        });
        for i in 0..6 {
            let d = sink.deliver(&events(i * 3 + 1, 3)).await;
            assert_eq!(d.acknowledged, 3);
            assert!(d.error.is_none());
        }
        let read = |p: &Path| -> Vec<u64> {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).expect("json")["seq"]
                        .as_u64()
                        .unwrap_or(0)
                })
                .collect()
        };
        // Each batch is ~2.8 KB, so each file holds one batch.
        assert_eq!(read(&path), vec![16, 17, 18]);
        assert_eq!(read(&dir.path().join("out/ev.jsonl.1")), vec![13, 14, 15]);
        assert_eq!(read(&dir.path().join("out/ev.jsonl.2")), vec![10, 11, 12]);
        assert!(!dir.path().join("out/ev.jsonl.3").exists(), "keep = 2");
        assert!(sink.check().await.is_ok());
    }
}

//! Evidence records as lines on stdout, for journald (under systemd a
//! service's stdout is the journal) or a container's log collector.

use super::config::{Format, SinkConfig};
use super::{format, Delivery, Outgoing, Sink, SinkError};
use std::io::Write;

pub struct StdoutSink {
    format: Format,
}

impl StdoutSink {
    pub fn new(cfg: &SinkConfig) -> Self {
        Self { format: cfg.format }
    }
}

#[async_trait::async_trait]
impl Sink for StdoutSink {
    async fn deliver(&mut self, batch: &[Outgoing]) -> Delivery {
        let mut out = std::io::stdout().lock();
        for (i, e) in batch.iter().enumerate() {
            let line = format::render_line(self.format, &e.record);
            if let Err(err) = writeln!(out, "{line}") {
                return Delivery {
                    acknowledged: i,
                    error: Some(SinkError::new(format!("cannot write to stdout: {err}"))),
                };
            }
        }
        match out.flush() {
            Ok(()) => Delivery::all(batch.len()),
            Err(e) => Delivery::failed(SinkError::new(format!("cannot flush stdout: {e}"))),
        }
    }

    async fn check(&mut self) -> Result<String, SinkError> {
        Ok("stdout is writable".into())
    }
}

//! Evidence sinks: where evidence events are shipped besides the ledger and
//! the evidence file (a SIEM over syslog or HTTP, another file, stdout).
//!
//! The ledger's `events` table is the outbox. Each sink has its own cursor
//! there (`sink:NAME`) and a [`shipper::Shipper`] that reads events after
//! it, renders them ([`mod@format`]), delivers them in order and advances the
//! cursor only over what the receiver acknowledged. Delivery is at least
//! once; every record carries the event's stable id for de-duplication.
//!
//! Each kind: `config` (validation, no I/O) in [`config`], and here an
//! implementation of [`Sink`] built from it.

pub use crate::config::sink as config;
mod file;
pub mod format;
mod http;
pub mod outbox;
pub mod shipper;
mod stdout;
mod syslog;
mod tls;

use config::{SinkConfig, SinkKind};
use std::time::Duration;

/// One event to deliver.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub seq: u64,
    pub event_id: String,
    /// The record as stored in the ledger, read back.
    pub record: crate::evidence::record::Record,
}

/// Why a delivery failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub message: String,
    /// The receiver asked to wait this long (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
    /// Retrying alone will not help (a refused token, a wrong URL, a sink
    /// that cannot be set up): the sink's configuration needs fixing. The
    /// events stay in the outbox either way.
    pub permanent: bool,
}

impl SinkError {
    /// A failure that may pass (network, a busy or failing receiver).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry_after: None,
            permanent: false,
        }
    }

    /// A failure only a change of configuration fixes.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            ..Self::new(message)
        }
    }
}

/// The outcome of one delivery: how many leading events of the batch the
/// receiver acknowledged, and the error that stopped the rest.
#[derive(Debug)]
pub struct Delivery {
    pub acknowledged: usize,
    pub error: Option<SinkError>,
}

impl Delivery {
    /// Everything acknowledged.
    pub fn all(n: usize) -> Self {
        Self {
            acknowledged: n,
            error: None,
        }
    }

    /// Nothing acknowledged.
    pub fn failed(e: SinkError) -> Self {
        Self {
            acknowledged: 0,
            error: Some(e),
        }
    }
}

/// A receiver of evidence.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Delivers `batch` in order.
    async fn deliver(&mut self, batch: &[Outgoing]) -> Delivery;
    /// Checks that the receiver is reachable and accepts this agent
    /// (`restoreproof validate --connect`), without sending evidence.
    async fn check(&mut self) -> Result<String, SinkError>;
}

/// Builds the sink a config describes.
///
/// # Errors
/// When a secret, CA or certificate file cannot be read.
pub fn build(cfg: &SinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    Ok(match &cfg.kind {
        SinkKind::Syslog { .. } => Box::new(syslog::SyslogSink::new(cfg)?),
        SinkKind::Http { .. } => Box::new(http::HttpSink::new(cfg)?),
        SinkKind::File { .. } => Box::new(file::FileSink::new(cfg)),
        SinkKind::Stdout => Box::new(stdout::StdoutSink::new(cfg)),
    })
}

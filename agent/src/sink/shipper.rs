//! Delivers one sink's backlog from the ledger's outbox, in order.
//!
//! The cursor (`sink:NAME` in `sink_cursors`) moves only over events the
//! receiver acknowledged, after it acknowledged them, so a crash, a kill or
//! a dead receiver at any point means "deliver again from the cursor": at
//! least once, never a gap. Failures back off exponentially (1 s doubling to
//! 5 min, with jitter, or longer when the receiver says `Retry-After`).

use super::config::SinkConfig;
use super::{build, Outgoing, Sink, SinkError};
use crate::evidence::record::Record;
use crate::ledger::{Ledger, LedgerError};
use crate::verify::Verdict;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often an idle shipper looks for events recorded by another process.
const POLL: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one `ship` pass did for a sink.
#[derive(Debug, Clone, Serialize)]
pub struct ShipReport {
    pub sink: String,
    pub target: String,
    pub delivered: u64,
    pub backlog: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error needs a change of the sink's configuration, not time.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub permanent: bool,
    pub duration_ms: u64,
}

/// One sink, its receiver and its own ledger connection.
pub struct Shipper {
    cfg: SinkConfig,
    sink: Box<dyn Sink>,
    ledger: Ledger,
    cursor_name: String,
    failures: u32,
    last_error: Option<String>,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper")
            .field("sink", &self.cfg.name)
            .finish_non_exhaustive()
    }
}

/// Why a shipper could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ShipperError {
    #[error("sink `{0}`: {1}")]
    Sink(String, SinkError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Shipper {
    /// Opens the sink and a ledger connection of its own.
    ///
    /// # Errors
    /// When the sink's secrets or certificates cannot be read, or the
    /// ledger cannot be opened.
    pub fn open(cfg: &SinkConfig, ledger: &Path) -> Result<Self, ShipperError> {
        let sink = build(cfg).map_err(|e| ShipperError::Sink(cfg.name.clone(), e))?;
        Ok(Self {
            cfg: cfg.clone(),
            sink,
            ledger: Ledger::open(ledger)?,
            cursor_name: format!("sink:{}", cfg.name),
            failures: 0,
            last_error: None,
        })
    }

    /// The sink's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Events recorded and not yet acknowledged.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn backlog(&self) -> Result<u64, LedgerError> {
        Ok(self
            .ledger
            .last_seq()?
            .saturating_sub(self.ledger.sink_cursor(&self.cursor_name)?))
    }

    /// The next batch after the cursor, within the sink's count and byte
    /// limits (at least one event), and the last event it passed over: one
    /// the sink does not receive (`verdicts = "failures"`), or the last of
    /// the batch.
    fn next_batch(&self) -> Result<(Vec<Outgoing>, Option<u64>), LedgerError> {
        let cursor = self.ledger.sink_cursor(&self.cursor_name)?;
        let rows = self
            .ledger
            .events_after(cursor, self.cfg.batch_events as u64)?;
        let mut batch = Vec::with_capacity(rows.len());
        let mut bytes = 0u64;
        let mut scanned = None;
        for (seq, line) in rows {
            let record = Record::parse(&line);
            if !self.receives(&record) {
                scanned = Some(seq);
                continue;
            }
            bytes += line.len() as u64;
            if !batch.is_empty() && bytes > self.cfg.batch_bytes {
                break;
            }
            scanned = Some(seq);
            batch.push(Outgoing {
                seq,
                event_id: record.event_id.clone(),
                record,
            });
        }
        Ok((batch, scanned))
    }

    /// Whether the sink receives `record` (all but the verdicts it asked
    /// not to).
    fn receives(&self, record: &Record) -> bool {
        match (&self.cfg.verdicts, &record.body) {
            (
                crate::config::sink::Verdicts::Failures,
                crate::evidence::record::Body::SampleVerdict(v),
            ) => v.verdict().is_some_and(Verdict::is_failure),
            // A batch holds verified samples only.
            (
                crate::config::sink::Verdicts::Failures,
                crate::evidence::record::Body::SampleBatch(_),
            ) => false,
            _ => true,
        }
    }

    /// Delivers one batch: `Ok(0)` when nothing is pending.
    ///
    /// # Errors
    /// The receiver's error; whatever it acknowledged before is recorded.
    pub async fn ship_batch(&mut self) -> Result<u64, SinkError> {
        let ledger_err = |e: LedgerError| SinkError::new(format!("ledger: {e}"));
        let (batch, scanned) = loop {
            let (batch, scanned) = self.next_batch().map_err(ledger_err)?;
            match (batch.is_empty(), scanned) {
                // Only records this sink does not receive: passed over.
                (true, Some(seq)) => self
                    .ledger
                    .record_delivery(&self.cfg.name, Some(seq), 0, None)
                    .map_err(ledger_err)?,
                (true, None) => return Ok(0),
                (false, _) => break (batch, scanned),
            }
        };
        let delivery = self.sink.deliver(&batch).await;
        let n = delivery.acknowledged.min(batch.len());
        let error = delivery.error.as_ref().map(|e| e.message.as_str());
        if n > 0 || error.is_some() {
            // The cursor and the delivery state move in one transaction;
            // records passed over after the last one delivered go with it
            // once the whole batch is acknowledged.
            let through = match n {
                0 => None,
                n if n == batch.len() => scanned,
                n => Some(batch[n - 1].seq),
            };
            self.ledger
                .record_delivery(&self.cfg.name, through, n as u64, error)
                .map_err(ledger_err)?;
        }
        match delivery.error {
            Some(e) => Err(e),
            None => Ok(n as u64),
        }
    }

    /// Delivers until nothing is pending or the receiver fails
    /// (`restoreproof ship --once`).
    pub async fn drain(&mut self) -> ShipReport {
        let started = std::time::Instant::now();
        let mut delivered = 0;
        let mut error = None;
        let mut permanent = false;
        // A failure that may pass (a reset, a busy receiver) is retried a
        // twice, a second and then two apart, before the rest is left
        // in the outbox; a permanent one is not.
        let mut retries = [1, 2].into_iter().map(Duration::from_secs);
        loop {
            match self.ship_batch().await {
                Ok(0) => break,
                Ok(n) => delivered += n,
                Err(e) => {
                    let wait = if e.permanent { None } else { retries.next() };
                    match wait {
                        Some(w) => {
                            tracing::debug!(sink = %self.cfg.name, error = %e.message, "Delivery failed; trying again.");
                            tokio::time::sleep(
                                e.retry_after.unwrap_or(w).min(Duration::from_secs(10)),
                            )
                            .await;
                        }
                        None => {
                            permanent = e.permanent;
                            error = Some(e.message);
                            break;
                        }
                    }
                }
            }
        }
        ShipReport {
            sink: self.cfg.name.clone(),
            target: self.cfg.target(),
            delivered,
            backlog: self.backlog().unwrap_or(0),
            error,
            permanent,
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }

    /// Checks the receiver (`restoreproof validate --connect`).
    ///
    /// # Errors
    /// What the receiver or the network said.
    pub async fn check(&mut self) -> Result<String, SinkError> {
        self.sink.check().await
    }

    /// Ships until `stop`, waking on `wake` (a new event) or every few
    /// seconds; at `stop`, one last pass of at most `flush` delivers what
    /// it can.
    pub async fn run(mut self, stop: CancellationToken, wake: Arc<Notify>, flush: Duration) {
        tracing::info!(sink = %self.cfg.name, target = %self.cfg.target(), "Shipping evidence.");
        loop {
            if stop.is_cancelled() {
                break;
            }
            match self.ship_batch().await {
                Ok(0) => {
                    self.recovered();
                    tokio::select! {
                        () = wake.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                        () = stop.cancelled() => break,
                    }
                    self.linger(&stop).await;
                }
                Ok(_) => self.recovered(),
                Err(e) => {
                    let wait = self.failed(&e);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => break,
                    }
                }
            }
        }
        match tokio::time::timeout(flush, self.drain()).await {
            Ok(r) if r.backlog == 0 => {}
            Ok(r) => {
                tracing::warn!(sink = %r.sink, backlog = r.backlog, "Stopping with evidence not yet delivered; it is delivered at the next start.")
            }
            Err(_) => {
                tracing::warn!(sink = %self.cfg.name, "Stopping with evidence not yet delivered; it is delivered at the next start.")
            }
        }
    }

    /// With `batch_interval`, lets a batch that is not full wait for more
    /// events (a full one, or a stop, sends at once).
    async fn linger(&mut self, stop: &CancellationToken) {
        let interval = self.cfg.batch_interval;
        if interval.is_zero() {
            return;
        }
        let deadline = tokio::time::Instant::now() + interval;
        while tokio::time::Instant::now() < deadline
            && self.backlog().unwrap_or(0) < self.cfg.batch_events as u64
        {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(100).min(interval)) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    fn recovered(&mut self) {
        if self.failures > 0 {
            tracing::info!(sink = %self.cfg.name, after_failures = self.failures, "Evidence delivery works again.");
        }
        self.failures = 0;
        self.last_error = None;
    }

    /// Logs a failure (once per distinct error) and returns the back-off.
    fn failed(&mut self, e: &SinkError) -> Duration {
        self.failures += 1;
        if self.last_error.as_deref() != Some(e.message.as_str()) {
            if e.permanent {
                tracing::error!(sink = %self.cfg.name, target = %self.cfg.target(), backlog = self.backlog().unwrap_or(0), error = %e, "The receiver refuses the evidence; fix the sink's configuration and reload. Nothing is lost: the ledger keeps every event, and delivery is tried again every few minutes.");
            } else {
                tracing::warn!(sink = %self.cfg.name, target = %self.cfg.target(), backlog = self.backlog().unwrap_or(0), error = %e, "Cannot deliver evidence; retrying with back-off. Nothing is lost: the ledger keeps every event.");
            }
            self.last_error = Some(e.message.clone());
        }
        if e.permanent {
            // Time does not fix it: try again rarely.
            return MAX_BACKOFF.max(e.retry_after.unwrap_or_default());
        }
        let exp = Duration::from_secs(1)
            .saturating_mul(2u32.saturating_pow(self.failures.saturating_sub(1).min(16)))
            .min(MAX_BACKOFF);
        let jitter = rand::random::<f64>() * 0.5 + 0.75;
        exp.mul_f64(jitter).max(e.retry_after.unwrap_or_default())
    }
}

//! Shipping evidence to the configured sinks from the service: one shipper
//! per sink, flushed at an interval and at the stop.

use super::*;

/// How long shippers get to deliver what is pending when the daemon stops
/// or the sinks change.
pub(super) const SHIP_FLUSH: Duration = Duration::from_secs(10);

/// Opens a shipper for every sink (reading its secrets and certificates).
///
/// # Errors
/// The first sink that cannot be set up.
pub(super) fn open_shippers(config: &Config) -> Result<Vec<Shipper>, ShipperError> {
    config
        .sinks
        .values()
        .map(|s| Shipper::open(s, &config.ledger_path))
        .collect()
}

/// The running shippers.
pub(super) struct Shipping {
    stop: CancellationToken,
    tasks: tokio::task::JoinSet<()>,
}

impl Shipping {
    pub(super) fn spawn(shippers: Vec<Shipper>, wake: Arc<tokio::sync::Notify>) -> Self {
        let stop = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();
        for s in shippers {
            tasks.spawn(s.run(stop.clone(), wake.clone(), SHIP_FLUSH));
        }
        Self { stop, tasks }
    }

    /// Stops every shipper after a last delivery attempt.
    pub(super) async fn stop(&mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

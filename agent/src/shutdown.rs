//! The two-step stop token shared by one-shot drills and the service:
//! `finish` (start no new restore) then `cancel` (cancel those in flight).

use tokio_util::sync::CancellationToken;

/// Asks running drills to stop, in two steps: `finish` (start no new
/// restore, let those in flight end) and `cancel` (cancel those in flight;
/// each is recorded as `aborted`). The run is then recorded as `aborted`.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    finish: CancellationToken,
    cancel: CancellationToken,
}

impl Stop {
    /// A stop that has not been asked for.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start no new restore; those in flight go on.
    pub fn finish(&self) {
        self.finish.cancel();
    }

    /// Cancel the restores in flight too.
    pub fn cancel(&self) {
        self.finish.cancel();
        self.cancel.cancel();
    }

    /// Whether [`Stop::finish`] (or [`Stop::cancel`]) was called.
    pub fn is_finishing(&self) -> bool {
        self.finish.is_cancelled()
    }

    /// A token cancelled when [`Stop::finish`] (or [`Stop::cancel`]) is
    /// called, for streams that stop taking work then.
    pub fn finishing_token(&self) -> CancellationToken {
        self.finish.clone()
    }

    /// Resolves when [`Stop::finish`] is called.
    pub async fn finishing(&self) {
        self.finish.cancelled().await;
    }

    /// Resolves when [`Stop::cancel`] is called.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }
}

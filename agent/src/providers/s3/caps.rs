//! What a run learns about its store: the calls it lacks (501/405 or
//! denied), remembered for the source's lifetime and recorded in the run
//! summary.

use super::*;

/// Calls the store turned out to lack; each is learned once and never
/// asked again by this source.
#[derive(Debug, Default)]
pub(super) struct Caps {
    pub(super) no_attributes: AtomicBool,
    /// Set once GetObjectAttributes answered (or proved missing); until
    /// then calls to it go one at a time, so that a store lacking it sees
    /// exactly one.
    pub(super) attributes_known: AtomicBool,
    pub(super) attributes_gate: tokio::sync::Mutex<()>,
    pub(super) no_part_head: AtomicBool,
    pub(super) learned: Mutex<Vec<StoreCapability>>,
    /// GetObjectRetention's answer about whether lock state is readable,
    /// asked once per run.
    pub(super) lock_readable: tokio::sync::OnceCell<LockReadable>,
}

impl Caps {
    /// Records that `call` is unusable (once), with what the store said.
    pub(super) fn lacks(
        &self,
        flag: &AtomicBool,
        call: &'static str,
        e: &SourceError,
        instead: &str,
    ) {
        if flag.swap(true, Ordering::SeqCst) {
            return;
        }
        let detail = format!("{} ({}); {instead}", e.message, e.class);
        tracing::warn!(call, detail, "The store does not answer this call; planning references without it for the rest of the run.");
        if let Ok(mut l) = self.learned.lock() {
            l.push(StoreCapability {
                call,
                supported: false,
                detail,
            });
        }
    }
}

//! The one writer of evidence in a process: every event is committed to the
//! ledger, then appended to the evidence file, under one lock. Drills running
//! at the same time (the daemon) share a [`Recorder`] behind a mutex, so the
//! file receives events in ledger order.

use super::file::{EvidenceFile, EvidenceFileError};
use super::Event;
use crate::ledger::{Ledger, LedgerError};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// The ledger and the evidence file, written together.
#[derive(Debug)]
pub struct Recorder {
    pub ledger: Ledger,
    pub evidence: EvidenceFile,
    /// Woken after every commit, so shippers deliver new evidence at once.
    pub wake: Arc<tokio::sync::Notify>,
}

/// A recorder shared by the drills of one process.
pub type SharedRecorder = Arc<Mutex<Recorder>>;

impl Recorder {
    /// Opens the ledger (migrating it) and the evidence file (catching it up
    /// with the ledger).
    ///
    /// # Errors
    /// When either cannot be opened or written.
    pub fn open(ledger: &Path, evidence: &Path) -> Result<Self, EvidenceFileError> {
        let mut ledger = Ledger::open(ledger)?;
        let evidence = EvidenceFile::open(evidence, &mut ledger)?;
        Ok(Self {
            ledger,
            evidence,
            wake: Arc::default(),
        })
    }

    /// Opens a recorder to share.
    ///
    /// # Errors
    /// As [`Recorder::open`].
    pub fn shared(ledger: &Path, evidence: &Path) -> Result<SharedRecorder, EvidenceFileError> {
        Ok(Arc::new(Mutex::new(Self::open(ledger, evidence)?)))
    }

    /// Commits `event` with `write` (a ledger method that records it, and
    /// whatever goes with it, in one transaction), then appends it to the
    /// evidence file.
    ///
    /// # Errors
    /// When the ledger write fails (nothing was kept) or the file write fails
    /// (the ledger keeps the event; the file catches up on its next write).
    pub fn commit(
        &mut self,
        event: &mut Event,
        write: impl FnOnce(&mut Ledger, &mut Event) -> Result<String, LedgerError>,
    ) -> Result<(), EvidenceFileError> {
        let line = write(&mut self.ledger, event)?;
        let appended = self.evidence.append(&mut self.ledger, event.seq, &line);
        self.wake.notify_waiters();
        appended
    }
}

/// Locks a shared recorder. A panic while it was held cannot leave it half
/// written (every write is one SQLite transaction, then an append that
/// catches up), so a poisoned lock is taken over.
pub fn lock(r: &Mutex<Recorder>) -> MutexGuard<'_, Recorder> {
    r.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

//! The one writer of evidence in a process: every event is committed to the
//! ledger, then appended to the evidence file, under one lock. Drills running
//! at the same time (the daemon) share a [`Recorder`] behind a mutex, so the
//! file receives events in ledger order.

use super::evidence_file::{EvidenceFile, EvidenceFileError};
use crate::evidence::chain::NoteKey;
use crate::evidence::{AgentInfo, Body, Event, EventKind};
use crate::ledger::{Ledger, LedgerError};
use base64::Engine as _;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// The ledger and the evidence file, written together.
#[derive(Debug)]
pub struct Recorder {
    pub ledger: Ledger,
    pub evidence: EvidenceFile,
    /// Woken after every commit, so shippers deliver new evidence at once.
    pub wake: Arc<tokio::sync::Notify>,
    /// Signs checkpoints; `None` records them unsigned.
    pub signer: Option<NoteKey>,
    /// Where first-seen baselines are read from when not this ledger: a
    /// shard of a drill records into a ledger of its own and reads the
    /// main ledger's baselines.
    pub baselines: Option<Ledger>,
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
            signer: None,
            baselines: None,
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
        let appended = self
            .evidence
            .append(&mut self.ledger, &[(event.seq, line.as_str())]);
        self.wake.notify_waiters();
        appended
    }

    /// [`Recorder::commit`] for a group of events written in one
    /// transaction by `write`, which returns their lines in order; the file
    /// gets them with one fsync.
    ///
    /// # Errors
    /// As [`Recorder::commit`].
    pub fn commit_many(
        &mut self,
        events: &mut [Event],
        write: impl FnOnce(&mut Ledger, &mut [Event]) -> Result<Vec<String>, LedgerError>,
    ) -> Result<(), EvidenceFileError> {
        let lines = write(&mut self.ledger, events)?;
        let numbered: Vec<(u64, &str)> = events
            .iter()
            .map(|e| e.seq)
            .zip(lines.iter().map(String::as_str))
            .collect();
        let appended = self.evidence.append(&mut self.ledger, &numbered);
        self.wake.notify_waiters();
        appended
    }
}

impl Recorder {
    /// Records a checkpoint of the chain head (signed when a key is set),
    /// unless the ledger has no events yet.
    ///
    /// # Errors
    /// When the checkpoint cannot be recorded.
    pub fn checkpoint(&mut self, reason: &str) -> Result<(), EvidenceFileError> {
        let (size, head) = self.ledger.chain_head()?;
        if size == 0 {
            return Ok(());
        }
        let agent = AgentInfo::current();
        let origin = format!("restoreproof.evidence/{}", agent.host);
        let note = match &self.signer {
            Some(k) => k.sign_note(&origin, size, &head),
            None => format!(
                "{origin}\n{size}\n{}\n\n",
                base64::engine::general_purpose::STANDARD
                    .encode(hex::decode(&head).unwrap_or_default())
            ),
        };
        let mut event = Event::new(
            None,
            &CheckpointBody {
                agent: &agent,
                origin: &origin,
                size,
                head: &head,
                note: &note,
                key: self.signer.as_ref().map(NoteKey::vkey),
                reason,
            },
        );
        self.commit(&mut event, |l, e| l.record_event(e))
    }
}

/// The body of a `checkpoint` event: the signed note and what it commits
/// to (`key` is `null` when no signing key is configured).
#[derive(serde::Serialize)]
struct CheckpointBody<'a> {
    agent: &'a AgentInfo,
    origin: &'a str,
    size: u64,
    head: &'a str,
    note: &'a str,
    key: Option<String>,
    reason: &'a str,
}

impl Body for CheckpointBody<'_> {
    const KIND: EventKind = EventKind::Checkpoint;
}

/// Locks a shared recorder. A panic while it was held cannot leave it half
/// written (every write is one SQLite transaction, then an append that
/// catches up), so a poisoned lock is taken over.
pub fn lock(r: &Mutex<Recorder>) -> MutexGuard<'_, Recorder> {
    r.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

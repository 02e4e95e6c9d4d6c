//! Tamper evidence: the hash chain over evidence events, signed checkpoints,
//! and verification of evidence files and the ledger.
//!
//! Every event carries `prev_hash` (the previous event's `hash`) and `hash`,
//! the SHA-256 of its canonical form ([`super::Event::canonical`]). A
//! checkpoint (`kind: checkpoint`, at the end of every run and daily in the
//! service) records the chain head — sequence number and hash — as a signed
//! note in the C2SP signed-note format: an origin line, the size (the last
//! sequence number covered), the base64 head hash, a blank line and one
//! Ed25519 signature line `— NAME BASE64(key hash ‖ signature)`.
//! Checkpoints are events too, so they reach the SIEM: a copy of every
//! checkpoint lives off the host, and a rewritten chain no longer matches it.

use super::sha256_hex;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

mod note;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
pub use note::{load_signer, write_private, NoteError, NoteKey, NoteVerifier};

/// A parsed checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub head: String,
    /// (key name, key hash ‖ signature) of each signature line.
    pub signatures: Vec<(String, Vec<u8>)>,
    text: String,
}

impl Checkpoint {
    /// Parses a signed note.
    ///
    /// # Errors
    /// When it is not a checkpoint note.
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        let (text, sigs) = note.split_once("\n\n").ok_or(NoteError::Form(
            "a checkpoint note has its text, a blank line and signature lines",
        ))?;
        let mut lines = text.lines();
        let origin = lines.next().unwrap_or_default().to_owned();
        let size = lines
            .next()
            .and_then(|l| l.parse().ok())
            .ok_or(NoteError::Form(
                "the second line of a checkpoint is its size",
            ))?;
        let head = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .map(hex::encode)
            .ok_or(NoteError::Form(
                "the third line of a checkpoint is the base64 head hash",
            ))?;
        let mut signatures = Vec::new();
        for line in sigs.lines().filter(|l| !l.is_empty()) {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or(NoteError::Form("a signature line starts with an em dash"))?;
            let (name, sig) = rest
                .split_once(' ')
                .ok_or(NoteError::Form("a signature line is `— NAME SIGNATURE`"))?;
            let sig = B64.decode(sig).map_err(|source| NoteError::Base64 {
                what: "a signature",
                source,
            })?;
            signatures.push((name.to_owned(), sig));
        }
        Ok(Self {
            origin,
            size,
            head,
            signatures,
            text: format!("{text}\n"),
        })
    }

    /// Whether `key` signed this note.
    pub fn signed_by(&self, key: &NoteVerifier) -> bool {
        self.signatures.iter().any(|(name, sig)| {
            name == &key.name
                && sig.len() == 68
                && sig[..4] == key.hash
                && ed25519_dalek::Signature::from_slice(&sig[4..])
                    .is_ok_and(|s| key.key.verify(self.text.as_bytes(), &s).is_ok())
        })
    }
}

/// One problem found by verification.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// `edited`, `deleted`, `reordered`, `truncated`, `bad_signature`,
    /// `gap_between_files`, `unreadable`, `broken_link`, `checkpoint_mismatch`.
    pub kind: &'static str,
    /// Where: file and line, or `ledger`.
    pub location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub message: String,
}

/// What verification found.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ChainReport {
    pub events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Events recorded before the chain existed (no `hash`): not verifiable.
    pub unchained: u64,
    pub checkpoints: u64,
    pub checkpoints_signed_by_key: u64,
    /// The ledger's batches of verified samples whose rows were hashed to
    /// the roots their events state, and the rows (leaves) in them.
    #[serde(skip_serializing_if = "is_zero")]
    pub batches: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub batched_samples: u64,
    pub findings: Vec<Finding>,
    /// (seq, hash) of every event verified, to compare copies.
    #[serde(skip)]
    pub hashes: Vec<(u64, String)>,
}

impl ChainReport {
    /// Whether nothing was found.
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// A line of evidence to verify, with where it came from.
#[derive(Debug, Clone)]
pub struct Line {
    pub location: String,
    pub text: String,
    /// The first line of a (rotated) file.
    pub first_in_file: bool,
    /// The file's last line had no newline (a write cut short).
    pub torn: bool,
}

/// Verifies lines in order. `anchor`: where the chain starts (sequence
/// number and hash of the event before the first line), when known.
pub fn verify_lines(
    lines: impl IntoIterator<Item = Line>,
    anchor: Option<(u64, String)>,
    key: Option<&NoteVerifier>,
) -> ChainReport {
    let lines: Vec<Line> = lines.into_iter().collect();
    let mut v = Verifier {
        // Every sequence number present, so a "gap" whose events come
        // later is reported as reordering rather than deletion.
        present: lines
            .iter()
            .map(|l| super::record::Record::parse(&l.text).seq)
            .filter(|seq| *seq > 0)
            .collect(),
        r: ChainReport::default(),
        prev: anchor,
        key,
    };
    for line in &lines {
        v.line(line);
    }
    let mut r = v.r;
    if let Some((seq, hash)) = v.prev {
        r.last_seq = Some(seq);
        r.head = Some(hash);
    }
    r
}

/// The state of a verification: what was found, the last event seen.
struct Verifier<'a> {
    present: std::collections::BTreeSet<u64>,
    r: ChainReport,
    prev: Option<(u64, String)>,
    key: Option<&'a NoteVerifier>,
}

impl Verifier<'_> {
    fn finding(&mut self, kind: &'static str, location: &str, seq: Option<u64>, message: String) {
        self.r.findings.push(Finding {
            kind,
            location: location.to_owned(),
            seq,
            message,
        });
    }

    /// One line: its own hash, its place after the one before, and, for a
    /// checkpoint, what it commits to.
    fn line(&mut self, line: &Line) {
        if line.torn {
            self.finding(
                "torn_line",
                &line.location,
                None,
                "torn last line, incomplete write (e.g. the disk filled up mid-append), not an edit: the agent cuts it at its next start and writes that event again from the ledger".into(),
            );
            return;
        }
        let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&line.text) else {
            self.finding(
                "unreadable",
                &line.location,
                None,
                "not a JSON evidence record".into(),
            );
            return;
        };
        // The chain is checked on the line as written, never on a typed
        // reading of it: the members its hashes cover are read from the
        // line's own map (here and below).
        let seq = m.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let stated = m.remove("hash").and_then(|h| h.as_str().map(str::to_owned));
        self.r.events += 1;
        self.r.first_seq.get_or_insert(seq);
        let (own, actual) = match &stated {
            Some(h) => {
                let canonical = Value::Object(m.clone()).to_string();
                let actual = sha256_hex(canonical.as_bytes());
                if &actual != h {
                    self.finding("edited", &line.location, Some(seq), format!("event {seq} was changed after it was recorded: its content hashes to {actual}, not to its recorded hash {h}"));
                }
                (h.clone(), actual)
            }
            None => {
                self.r.unchained += 1;
                let h = sha256_hex(line.text.as_bytes());
                (h.clone(), h)
            }
        };
        let link = m.get("prev_hash").and_then(Value::as_str);
        self.order(line, seq, link);
        if m.get("kind").and_then(Value::as_str) == Some(super::EventKind::Checkpoint.as_str()) {
            let note = m.get("note").and_then(Value::as_str).unwrap_or_default();
            self.checkpoint(line, seq, note);
        }
        self.r.hashes.push((seq, actual));
        if self.prev.as_ref().is_none_or(|(p, _)| seq > *p) {
            self.prev = Some((seq, own));
        }
    }

    /// The event follows the one before: the next number, linked to its
    /// hash.
    fn order(&mut self, line: &Line, seq: u64, link: Option<&str>) {
        let Some((pseq, phash)) = self.prev.clone() else {
            return;
        };
        if seq <= pseq {
            self.finding(
                "reordered",
                &line.location,
                Some(seq),
                format!(
                    "event {seq} comes after event {pseq}: events are out of order or repeated"
                ),
            );
        } else if seq > pseq + 1 && (pseq + 1..seq).all(|s| self.present.contains(&s)) {
            self.finding("reordered", &line.location, Some(seq), format!(
                "event {seq} comes before events {}..{}, which follow later: events are out of order",
                pseq + 1,
                seq - 1
            ));
        } else if seq > pseq + 1 {
            let (kind, what) = if line.first_in_file {
                (
                    "gap_between_files",
                    "between this file and the one before it",
                )
            } else {
                ("deleted", "here")
            };
            self.finding(
                kind,
                &line.location,
                Some(seq),
                format!(
                    "events {}..{} are missing {what} ({} event(s) deleted)",
                    pseq + 1,
                    seq - 1,
                    seq - 1 - pseq
                ),
            );
        } else if let Some(l) = link.filter(|l| *l != phash) {
            self.finding("broken_link", &line.location, Some(seq), format!("event {seq} does not follow event {pseq}: its prev_hash is {l}, event {pseq} hashes to {phash} (an event was replaced)"));
        }
    }

    /// A checkpoint commits to the head before it and, with a key, is
    /// signed by it.
    fn checkpoint(&mut self, line: &Line, seq: u64, note: &str) {
        self.r.checkpoints += 1;
        let c = match Checkpoint::parse(note) {
            Ok(c) => c,
            Err(e) => {
                self.finding(
                    "unreadable",
                    &line.location,
                    Some(seq),
                    format!("checkpoint {seq}: {e}"),
                );
                return;
            }
        };
        if let Some((pseq, phash)) = self.prev.clone() {
            if c.size == pseq && c.head != phash {
                self.finding("checkpoint_mismatch", &line.location, Some(seq), format!("checkpoint {seq} says the chain head at {} was {}, but the events before it hash to {phash}", c.size, c.head));
            }
        }
        if let Some(k) = self.key {
            if c.signed_by(k) {
                self.r.checkpoints_signed_by_key += 1;
            } else {
                self.finding(
                    "bad_signature",
                    &line.location,
                    Some(seq),
                    format!("checkpoint {seq} is not signed by key {}", k.name),
                );
            }
        }
    }
}

/// Checks the verified chain against a checkpoint anchored in write-once
/// storage: the events it covers must be present, and the chain's hash at
/// its size must be the head it commits to (a rewritten history is not).
pub fn check_anchored(
    r: &mut ChainReport,
    c: &Checkpoint,
    key: Option<&NoteVerifier>,
    location: &str,
) {
    let findings = r.findings.len();
    check_against(r, c, key, location);
    if r.findings.len() > findings {
        return;
    }
    if let Some((_, h)) = r.hashes.iter().find(|(seq, _)| *seq == c.size) {
        if *h != c.head {
            r.findings.push(Finding {
                kind: "rewritten",
                location: location.to_owned(),
                seq: Some(c.size),
                message: format!(
                    "the checkpoint anchored in write-once storage commits to head {} at event {}, but the evidence has {h} there: the history up to event {} was rewritten",
                    c.head, c.size, c.size
                ),
            });
        }
    }
}

/// Checks the end of the verified chain against a checkpoint kept
/// elsewhere (a note from the SIEM): events it covers must be present.
pub fn check_against(
    r: &mut ChainReport,
    c: &Checkpoint,
    key: Option<&NoteVerifier>,
    location: &str,
) {
    if let Some(k) = key {
        if !c.signed_by(k) {
            r.findings.push(Finding {
                kind: "bad_signature",
                location: location.to_owned(),
                seq: None,
                message: format!("the checkpoint is not signed by key {}", k.name),
            });
            return;
        }
    }
    let last = r.last_seq.unwrap_or(0);
    if c.size > last {
        r.findings.push(Finding {
            kind: "truncated",
            location: location.to_owned(),
            seq: Some(c.size),
            message: format!(
                "the checkpoint covers events up to {}, but the evidence ends at {last}: events {}..{} were removed from the end",
                c.size,
                last + 1,
                c.size
            ),
        });
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip_and_only_the_right_key_verifies_them() {
        let k = NoteKey::generate("restoreproof-vm1");
        let again = NoteKey::from_skey(&k.to_skey()).expect("skey");
        assert_eq!(again.vkey(), k.vkey());
        let head = sha256_hex(b"x");
        let note = k.sign_note("restoreproof.evidence/vm1", 42, &head);
        let c = Checkpoint::parse(&note).expect("note");
        assert_eq!(
            (c.origin.as_str(), c.size, c.head.as_str()),
            ("restoreproof.evidence/vm1", 42, head.as_str())
        );
        let v = NoteVerifier::parse(&k.vkey()).expect("vkey");
        assert!(c.signed_by(&v));
        let other =
            NoteVerifier::parse(&NoteKey::generate("restoreproof-vm1").vkey()).expect("vkey");
        assert!(!c.signed_by(&other));
        let forged = Checkpoint::parse(&note.replace("\n42\n", "\n43\n")).expect("note");
        assert!(!forged.signed_by(&v));
    }
}

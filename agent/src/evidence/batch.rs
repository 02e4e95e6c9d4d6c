//! Verified samples in batches (`record_verified = "batched"`): what one
//! verified sample is as a leaf of its batch's Merkle tree, and the
//! inclusion proof that shows one leaf is in the chain.
//!
//! A batch is the verified samples of one group commit. Each is a ledger
//! row whose columns and compact `rest` make its leaf: one canonical JSON
//! object (keys sorted, no whitespace) with its event id, recovery point,
//! size, SHA-256, the references that matched and how it was read. The
//! `sample_batch` event records the count and the RFC 6962 root of the
//! leaves in order; the event is in the hash chain like any other, so the
//! signed checkpoints cover every leaf. Failures and every other verdict
//! stay events of their own.
//!
//! An inclusion proof ([`Proof`]) is self-contained: the leaf, its audit
//! path, the batch event's line and the chain's lines from it up to the
//! first checkpoint after it. Checking one ([`Proof::check`]) needs no
//! ledger: the leaf's path leads to the root the batch event states, the
//! lines link by `prev_hash`, each hashes to its `hash`, and the checkpoint
//! commits to the last line's hash (signed by the agent's key, when one is
//! given to check it against).

use super::chain::{Checkpoint, NoteVerifier};
use super::merkle::{self, Hash};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The Merkle tree a batch's `tree` names.
pub const TREE: &str = "rfc6962-sha256";

/// The columns of a batched sample's row that are part of its leaf.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeafColumns<'a> {
    pub event_id: &'a str,
    pub key: &'a str,
    pub version_id: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    pub bytes: u64,
    pub duration_ms: u64,
    /// The leaf's other members, a JSON object as stored in the row.
    pub rest: &'a str,
}

impl LeafColumns<'_> {
    /// The leaf as hashed: one canonical JSON object. A `rest` that is not
    /// an object (an edited row) is kept as `rest`, so it still changes the
    /// hash.
    pub fn leaf(&self) -> String {
        let mut m = match serde_json::from_str::<Value>(self.rest) {
            Ok(Value::Object(m)) => m,
            _ => {
                let mut m = Map::new();
                m.insert("rest".into(), self.rest.into());
                m
            }
        };
        m.insert("event_id".into(), self.event_id.into());
        m.insert("key".into(), self.key.into());
        m.insert("version_id".into(), self.version_id.into());
        m.insert("size".into(), self.size.into());
        m.insert("sha256".into(), self.sha256.into());
        m.insert("bytes".into(), self.bytes.into());
        m.insert("duration_ms".into(), self.duration_ms.into());
        m.insert("verdict".into(), "verified".into());
        Value::Object(m).to_string()
    }

    /// The hash of [`LeafColumns::leaf`].
    pub fn hash(&self) -> Hash {
        merkle::leaf_hash(self.leaf().as_bytes())
    }
}

/// A leaf's members beyond its row's columns.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct LeafRest {
    /// The listing's time of the recovery point.
    pub last_modified: String,
    /// Why it was in the sample (`uniform`, `coverage`, ...).
    #[serde(default)]
    pub pick: Option<String>,
    /// Attempts, when more than one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub attempts: u32,
    /// The content references that matched, by name (`s3.etag`,
    /// `s3.checksum.crc64nvme`, `baseline.sha256`, ...), with their value.
    #[serde(default)]
    pub references: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<String>,
    /// The protection facts, when a policy asked or the store stated them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<Value>,
    /// Where `copy` mode's copy was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<Value>,
}

/// An inclusion proof of one verified sample (`evidence prove`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Proof {
    /// `restoreproof.inclusion-proof/v1`.
    pub schema: String,
    /// The leaf as hashed (one JSON object).
    pub leaf: String,
    /// Its place in the batch and the batch's size.
    pub index: u64,
    pub tree_size: u64,
    /// The audit path, nearest the leaf first (hex).
    pub path: Vec<String>,
    /// The `sample_batch` event's line, then every line after it up to and
    /// including the first checkpoint that covers it.
    pub lines: Vec<String>,
}

/// The schema identifier of a proof.
pub const PROOF_SCHEMA: &str = "restoreproof.inclusion-proof/v1";

/// What a checked proof shows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Proven {
    pub event_id: String,
    pub key: String,
    pub version_id: String,
    pub sha256: String,
    pub run_id: Option<String>,
    pub batch_seq: u64,
    pub root: String,
    /// The checkpoint's size (the last sequence number it covers) and head.
    pub checkpoint_size: u64,
    pub checkpoint_head: String,
    /// Whether the checkpoint is signed by the key it was checked against
    /// (`None`: no key given).
    pub signed_by_key: Option<bool>,
}

impl Proof {
    /// Checks the proof on its own, against `key` when given.
    ///
    /// # Errors
    /// What does not hold, in words.
    pub fn check(&self, key: Option<&NoteVerifier>) -> Result<Proven, String> {
        if self.schema != PROOF_SCHEMA {
            return Err(format!(
                "not an inclusion proof of this release ({:?}; expected {PROOF_SCHEMA})",
                self.schema
            ));
        }
        let leaf: ProvenLeaf = serde_json::from_str(&self.leaf)
            .map_err(|e| format!("the leaf is not a JSON object: {e}"))?;
        if serde_json::from_str::<Map<String, Value>>(&self.leaf)
            .ok()
            .and_then(|m| serde_json::to_string(&m).ok())
            .as_deref()
            != Some(self.leaf.as_str())
        {
            return Err("the leaf is not in canonical form (sorted keys, no whitespace)".into());
        }
        let mut path = Vec::with_capacity(self.path.len());
        for p in &self.path {
            path.push(
                hex::decode(p)
                    .ok()
                    .and_then(|b| Hash::try_from(b).ok())
                    .ok_or_else(|| format!("path element {p:?} is not a SHA-256 in hex"))?,
            );
        }
        let root = merkle::root_from_path(
            merkle::leaf_hash(self.leaf.as_bytes()),
            self.index,
            self.tree_size,
            &path,
        )
        .ok_or("the audit path does not fit a tree of that size")?;
        let lines = linked(&self.lines)?;
        let (batch, last) = match (lines.first(), lines.last()) {
            (Some(b), Some(l)) if lines.len() >= 2 => (b, l),
            _ => return Err("the proof has no checkpoint after its batch".into()),
        };
        if batch.kind != "sample_batch" {
            return Err("the first line is not a sample_batch event".into());
        }
        if batch.root != hex::encode(root) || batch.count != Some(self.tree_size) {
            return Err(format!(
                "the leaf's path leads to root {} of {} leaves; the batch event states {} of {}",
                hex::encode(root),
                self.tree_size,
                batch.root,
                batch.count.map_or_else(|| "?".into(), |c| c.to_string())
            ));
        }
        if last.kind != "checkpoint" {
            return Err("the proof's last line is not a checkpoint".into());
        }
        let note =
            Checkpoint::parse(&last.note).map_err(|e| format!("the checkpoint's note: {e}"))?;
        // A checkpoint commits to the event before it.
        let covered = &lines[lines.len() - 2];
        if note.size != covered.seq || note.head != covered.hash {
            return Err(format!(
                "the checkpoint commits to event {} with hash {}, not to the proof's line {} ({})",
                note.size, note.head, covered.seq, covered.hash
            ));
        }
        Ok(Proven {
            event_id: leaf.event_id,
            key: leaf.key,
            version_id: leaf.version_id,
            sha256: leaf.sha256,
            run_id: batch.run_id.clone(),
            batch_seq: batch.seq,
            root: hex::encode(root),
            checkpoint_size: note.size,
            checkpoint_head: note.head.clone(),
            signed_by_key: key.map(|k| note.signed_by(k)),
        })
    }
}

/// What a proof's leaf names.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ProvenLeaf {
    event_id: String,
    key: String,
    version_id: String,
    sha256: String,
}

/// The members of a proof's line that its check reads.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ProofLine {
    seq: u64,
    kind: String,
    run_id: Option<String>,
    hash: String,
    prev_hash: Option<String>,
    /// A batch's.
    root: String,
    count: Option<u64>,
    /// A checkpoint's.
    note: String,
}

/// The lines read, once they are shown to follow one another in the chain:
/// each hashes to its `hash` (over its canonical form, the line without
/// `hash`), links to the previous one's, with consecutive sequence numbers.
fn linked(lines: &[String]) -> Result<Vec<ProofLine>, String> {
    let mut out: Vec<ProofLine> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let mut m: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| format!("line {} is not JSON: {e}", i + 1))?;
        let read: ProofLine = serde_json::from_value(Value::Object(m.clone()))
            .map_err(|e| format!("line {} is not an evidence record: {e}", i + 1))?;
        m.remove("hash");
        if super::sha256_hex(Value::Object(m).to_string().as_bytes()) != read.hash {
            return Err(format!(
                "line {} (seq {}) does not hash to its hash: it was edited",
                i + 1,
                read.seq
            ));
        }
        if let Some(p) = out.last() {
            if read.seq != p.seq + 1 || read.prev_hash.as_deref() != Some(p.hash.as_str()) {
                return Err(format!(
                    "line {} (seq {}) does not follow seq {} in the chain",
                    i + 1,
                    read.seq,
                    p.seq
                ));
            }
        }
        out.push(read);
    }
    Ok(out)
}

fn one() -> u32 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_one(n: &u32) -> bool {
    *n == 1
}

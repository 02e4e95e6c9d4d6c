//! Evidence events: immutable records of what the agent did and found, and
//! the JSON Lines file they are appended to.
//!
//! An event is first committed to the ledger (which assigns its sequence
//! number), then appended to the evidence file. The file is a projection of
//! the ledger's `events` table: its writer keeps a cursor in the ledger and,
//! when opened, appends whatever a crash left out and cuts a torn last line.
//! So a kill at any point loses nothing that was committed, and duplicates
//! nothing that reached the file.

pub mod chain;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// The schema identifier carried by every event.
pub const SCHEMA: &str = "restoreproof.evidence/v1";

/// One evidence event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Ledger sequence number; 0 until the ledger records the event.
    pub seq: u64,
    /// Stable unique id (UUIDv7) receivers can de-duplicate on.
    pub id: String,
    /// `sample_verdict` or `run_summary`.
    pub kind: &'static str,
    /// RFC 3339 UTC time the event was created.
    pub time: String,
    pub run_id: Option<String>,
    /// Event-specific fields, merged into the top level of the record.
    pub body: Value,
    /// SHA-256 (hex) of the previous event in the ledger's chain; set by the
    /// ledger when it records the event.
    pub prev_hash: Option<String>,
    /// SHA-256 (hex) of this event's canonical form ([`Event::canonical`]);
    /// set by the ledger.
    pub hash: Option<String>,
}

/// The `prev_hash` of the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Who produced the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct AgentInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub host: String,
}

impl AgentInfo {
    /// This agent on this host.
    pub fn current() -> Self {
        Self {
            name: "restoreproof",
            version: env!("CARGO_PKG_VERSION"),
            host: crate::host::hostname().unwrap_or_else(|| "unknown".into()),
        }
    }
}

/// RFC 3339 UTC with milliseconds, the one time format of evidence.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Event {
    /// A new event of `kind`; `body` must be a JSON object.
    pub fn new(kind: &'static str, run_id: Option<String>, body: Value) -> Self {
        Self {
            seq: 0,
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            time: now_rfc3339(),
            run_id,
            body,
            prev_hash: None,
            hash: None,
        }
    }

    /// The canonical form the chain hashes: the JSON line without its `hash`
    /// member — UTF-8, object keys sorted by byte order, no whitespace
    /// between tokens, strings with JSON's minimal escaping. Parsing a line
    /// into a map with sorted keys, removing `hash` and serialising again
    /// gives the same bytes.
    pub fn canonical(&self) -> String {
        self.map(false)
    }

    /// The record as one JSON line (no trailing newline). Keys are sorted, so
    /// the same event always serialises to the same bytes.
    pub fn to_line(&self) -> String {
        self.map(true)
    }

    fn map(&self, with_hash: bool) -> String {
        let mut m = match &self.body {
            Value::Object(o) => o.clone(),
            other => {
                let mut m = Map::new();
                m.insert("body".into(), other.clone());
                m
            }
        };
        m.insert("schema".into(), SCHEMA.into());
        m.insert("seq".into(), self.seq.into());
        m.insert("event_id".into(), self.id.clone().into());
        m.insert("kind".into(), self.kind.into());
        m.insert("time".into(), self.time.clone().into());
        if let Some(r) = &self.run_id {
            m.insert("run_id".into(), r.clone().into());
        }
        if let Some(p) = &self.prev_hash {
            m.insert("prev_hash".into(), p.clone().into());
        }
        if with_hash {
            if let Some(h) = &self.hash {
                m.insert("hash".into(), h.clone().into());
            }
        }
        Value::Object(m).to_string()
    }
}

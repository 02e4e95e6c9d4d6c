//! Evidence events: immutable records of what the agent did and found, and
//! the JSON Lines file they are appended to.
//!
//! An event is first committed to the ledger (which assigns its sequence
//! number), then appended to the evidence file. The file is a projection of
//! the ledger's `events` table: its writer keeps a cursor in the ledger and,
//! when opened, appends whatever a crash left out and cuts a torn last line.
//! So a kill at any point loses nothing that was committed, and duplicates
//! nothing that reached the file.

pub mod attest;
pub mod batch;
pub mod chain;
pub mod merkle;
pub mod record;

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema identifier carried by every event.
pub const SCHEMA: &str = "restoreproof.evidence/v1";

/// What an evidence event records. The `kind` member of every record; a
/// reader that meets a kind it does not know (from a newer release) says so
/// instead of guessing ([`EventKind::parse`] gives `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum EventKind {
    /// One restored recovery point and its verdict.
    SampleVerdict,
    /// The end of a drill run: counts, status, timing.
    RunSummary,
    /// A run whose process ended before it finished.
    RunAborted,
    /// A step of a change to the live container (undelete/redelete).
    RestoreMutation,
    /// One posture check of a source's settings.
    PostureFinding,
    /// A signed checkpoint of the evidence chain.
    Checkpoint,
    /// Undelivered events a sink's outbox dropped by its bounds.
    EvidenceDropped,
    /// The service started.
    DaemonStarted,
    /// The service stopped.
    DaemonStopped,
    /// A configuration reload was applied or refused.
    ConfigReloaded,
    /// A drill's staleness gate turned red, or green again.
    GateChanged,
    /// A ransomware signal: a version whose bytes or type changed the way
    /// encryption changes them, or a burst of new versions or delete
    /// markers in a listing.
    SuspiciousChange,
    /// Verified samples committed as ledger rows under one Merkle root
    /// (`record_verified = "batched"`).
    SampleBatch,
    /// A message of the restore-testing queue the validator cannot handle
    /// (not a completed S3 restore job's event, a job of no configured
    /// source, ...): left on the queue for a person, recorded once.
    RestoreTestUnhandled,
    /// A `provider_checksum` run's S3 Batch Operations jobs were created:
    /// the run waits for them (its verdicts come when they are collected).
    ProviderJobSubmitted,
}

impl EventKind {
    /// Every kind, in the order above.
    pub const ALL: [EventKind; 15] = [
        Self::SampleVerdict,
        Self::RunSummary,
        Self::RunAborted,
        Self::RestoreMutation,
        Self::PostureFinding,
        Self::Checkpoint,
        Self::EvidenceDropped,
        Self::DaemonStarted,
        Self::DaemonStopped,
        Self::ConfigReloaded,
        Self::GateChanged,
        Self::SuspiciousChange,
        Self::SampleBatch,
        Self::RestoreTestUnhandled,
        Self::ProviderJobSubmitted,
    ];

    /// The `kind` string of the record.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind a record's `kind` string names, if this release knows it.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// The typed body of one kind of event. Each producer (drill, posture,
/// daemon, recorder, outbox) declares its body as a struct; its members are
/// merged into the top level of the record beside the envelope (`schema`,
/// `seq`, `event_id`, `kind`, `time`, `run_id`, `prev_hash`, `hash`), so a
/// body must not use those names.
pub trait Body: Serialize {
    const KIND: EventKind;
}

/// One evidence event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Ledger sequence number; 0 until the ledger records the event.
    pub seq: u64,
    /// Stable unique id (UUIDv7) receivers can de-duplicate on.
    pub id: String,
    pub kind: EventKind,
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

/// Who produced the evidence, and on which machine: its host name, and
/// where known its machine id, primary address and cloud region (SIEM
/// records name the device by them).
#[derive(Debug, Clone, Serialize)]
pub struct AgentInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl AgentInfo {
    /// This agent on this host (the machine facts read once per process).
    pub fn current() -> Self {
        static MACHINE: std::sync::OnceLock<crate::host::Machine> = std::sync::OnceLock::new();
        let m = MACHINE.get_or_init(crate::host::Machine::read);
        Self {
            name: "restoreproof",
            version: env!("CARGO_PKG_VERSION"),
            host: crate::host::hostname().unwrap_or_else(|| "unknown".into()),
            machine_id: m.machine_id.clone(),
            ip: m.ip.clone(),
            region: m.region.clone(),
        }
    }
}

/// RFC 3339 UTC with milliseconds, the one time format of evidence.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Event {
    /// A new event carrying `body`.
    pub fn new<B: Body>(run_id: Option<String>, body: &B) -> Self {
        // A body is a struct of strings, numbers and lists: serialising it
        // cannot fail (serde_json fails only on maps with non-string keys).
        let body = serde_json::to_value(body).unwrap_or_else(|e| {
            tracing::error!(kind = %B::KIND, error = %e, "Cannot serialise an evidence body (a bug); recording the error instead.");
            serde_json::json!({ "body_error": e.to_string() })
        });
        Self::with_value(B::KIND, run_id, body)
    }

    /// A new event of `kind` whose body is already JSON (an object).
    pub(crate) fn with_value(kind: EventKind, run_id: Option<String>, body: Value) -> Self {
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
        m.insert("kind".into(), self.kind.as_str().into());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_one_name_in_records_and_in_serde() {
        for k in EventKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("from_a_newer_release"), None);
    }

    #[derive(Serialize)]
    struct Probe {
        a: u32,
        b: Option<&'static str>,
    }

    impl Body for Probe {
        const KIND: EventKind = EventKind::Checkpoint;
    }

    #[test]
    fn a_typed_body_is_merged_into_the_record_with_its_kind() {
        let mut e = Event::new(Some("r1".into()), &Probe { a: 7, b: None });
        e.seq = 3;
        let v: Value = serde_json::from_str(&e.to_line()).unwrap();
        assert_eq!(v["kind"], "checkpoint");
        assert_eq!(v["a"], 7);
        assert!(v["b"].is_null() && v.as_object().unwrap().contains_key("b"));
        assert_eq!(v["run_id"], "r1");
        assert_eq!(v["schema"], SCHEMA);
    }
}

//! Evidence read back as types.
//!
//! Every reader of evidence — the sinks' record formats, reports, status,
//! attestations — reads a record through [`Record`]: the JSON as written
//! (kept whole, for the formats that carry the native record) and its typed
//! reading, one [`Body`] variant per [`EventKind`].
//!
//! The writers' bodies borrow what they record (a drill's candidate, its
//! source, its agent) and serialise it; the read side owns its strings. So
//! a body is declared twice, once each way, with the same member names; the
//! tests at the end write each kind with its writer and read it back.
//!
//! Reading is tolerant by construction: every member has a default, so a
//! record written by an earlier release (which lacked members added since)
//! reads with those members empty; a member whose value this release cannot
//! interpret reads as absent; a kind this release does not know (written by
//! a newer one) is [`Body::Other`] and keeps its own name in
//! [`Record::kind_name`].

use super::EventKind;
use crate::config::Provider;
use crate::outcome::RunOutcome;
use crate::verify::Verdict;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One evidence record: as written, and as types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// The record as written: the native format, and what OCSF's
    /// `unmapped.restoreproof` and ECS's `restoreproof` carry.
    pub raw: Value,
    pub seq: u64,
    pub event_id: String,
    /// The `kind` member as written (a kind this release does not know
    /// keeps its name here; [`Record::kind`] is `None` for it).
    pub kind_name: String,
    /// RFC 3339 UTC.
    pub time: String,
    pub run_id: Option<String>,
    pub agent: Agent,
    /// The drill the record is about (empty when none).
    pub drill: String,
    /// The source the record is about (empty when none).
    pub source: Source,
    pub body: Body,
}

/// What each kind of record says beyond the members every record has.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Body {
    SampleVerdict(Box<SampleVerdict>),
    RunSummary(Box<RunSummary>),
    RunAborted(RunAborted),
    RestoreMutation(RestoreMutation),
    PostureFinding(PostureFinding),
    Checkpoint(Checkpoint),
    EvidenceDropped(EvidenceDropped),
    DaemonStarted,
    DaemonStopped,
    ConfigReloaded(ConfigReloaded),
    GateChanged(GateChanged),
    SuspiciousChange(SuspiciousChange),
    SampleBatch(SampleBatch),
    RestoreTestUnhandled(RestoreTestUnhandled),
    ProviderJobSubmitted(ProviderJobSubmitted),
    /// A kind this release does not know, or a record that is not an
    /// object.
    #[default]
    Other,
}

/// The members every record has (most kinds name a drill and a source).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Common {
    seq: u64,
    event_id: String,
    kind: String,
    time: String,
    run_id: Option<String>,
    agent: Agent,
    drill: String,
    source: Source,
}

impl Record {
    /// Reads a record. Never fails: what cannot be read is left empty (and
    /// logged at debug level), and the record as written is kept whole.
    pub fn read(raw: Value) -> Self {
        let c: Common = lenient_value(&raw, "record");
        let body = match EventKind::parse(&c.kind) {
            Some(EventKind::SampleVerdict) => Body::SampleVerdict(lenient_value(&raw, &c.kind)),
            Some(EventKind::RunSummary) => Body::RunSummary(lenient_value(&raw, &c.kind)),
            Some(EventKind::RunAborted) => Body::RunAborted(lenient_value(&raw, &c.kind)),
            Some(EventKind::RestoreMutation) => Body::RestoreMutation(lenient_value(&raw, &c.kind)),
            Some(EventKind::PostureFinding) => Body::PostureFinding(lenient_value(&raw, &c.kind)),
            Some(EventKind::Checkpoint) => Body::Checkpoint(lenient_value(&raw, &c.kind)),
            Some(EventKind::EvidenceDropped) => Body::EvidenceDropped(lenient_value(&raw, &c.kind)),
            Some(EventKind::DaemonStarted) => Body::DaemonStarted,
            Some(EventKind::DaemonStopped) => Body::DaemonStopped,
            Some(EventKind::ConfigReloaded) => Body::ConfigReloaded(lenient_value(&raw, &c.kind)),
            Some(EventKind::GateChanged) => Body::GateChanged(lenient_value(&raw, &c.kind)),
            Some(EventKind::SuspiciousChange) => {
                Body::SuspiciousChange(lenient_value(&raw, &c.kind))
            }
            Some(EventKind::SampleBatch) => Body::SampleBatch(lenient_value(&raw, &c.kind)),
            Some(EventKind::RestoreTestUnhandled) => {
                Body::RestoreTestUnhandled(lenient_value(&raw, &c.kind))
            }
            Some(EventKind::ProviderJobSubmitted) => {
                Body::ProviderJobSubmitted(lenient_value(&raw, &c.kind))
            }
            None => Body::Other,
        };
        Self {
            raw,
            seq: c.seq,
            event_id: c.event_id,
            kind_name: c.kind,
            time: c.time,
            run_id: c.run_id,
            agent: c.agent,
            drill: c.drill,
            source: c.source,
            body,
        }
    }

    /// Reads one JSON line; a line that is not JSON is kept as a string.
    pub fn parse(line: &str) -> Self {
        Self::read(serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.to_owned())))
    }

    /// The kind, when this release knows it.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind_name)
    }

    /// Milliseconds since the epoch of the record's time.
    pub fn epoch_ms(&self) -> Option<i64> {
        epoch_ms(&self.time)
    }

    /// The recovery point the record is about, when it names one.
    pub fn point(&self) -> Option<&Point> {
        match &self.body {
            Body::SampleVerdict(v) => Some(&v.recovery_point),
            Body::RestoreMutation(m) => Some(&m.recovery_point),
            Body::SuspiciousChange(s) => s.recovery_point.as_ref(),
            _ => None,
        }
    }

    /// `s3://bucket/key` (or the provider's scheme) of the recovery point
    /// the record names (the key is empty when it names none).
    pub fn resource_url(&self) -> String {
        self.source.url(self.point().map_or("", |p| p.key.as_str()))
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn epoch_ms(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// `T` from `v`, or `T`'s default when `v` does not read as one.
fn lenient_value<T: DeserializeOwned + Default>(v: &Value, what: &str) -> T {
    T::deserialize(v).unwrap_or_else(|e| {
        tracing::debug!(what, error = %e, "An evidence record does not read as this release expects; its unreadable members are left empty.");
        T::default()
    })
}

/// A member that reads as absent when its value is not one this release
/// interprets (a newer release's enum value, an older release's shape).
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(T::deserialize(&v).ok())
}

/// Who wrote the record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Agent {
    pub name: String,
    pub version: String,
    pub host: String,
    pub machine_id: Option<String>,
    pub ip: Option<String>,
    pub region: Option<String>,
}

/// A source as records name it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Source {
    pub name: String,
    /// `s3`, `azure_blob`, or a kind this release does not know.
    pub kind: String,
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
}

impl Source {
    /// The provider, when this release knows the kind.
    pub fn provider(&self) -> Option<Provider> {
        self.kind.parse().ok()
    }

    /// The URL scheme (`s3`, `azure`); a kind this release does not know
    /// keeps its own name instead of being taken for S3.
    pub fn scheme(&self) -> &str {
        match self.provider() {
            Some(p) => p.url_scheme(),
            None => &self.kind,
        }
    }

    /// `scheme://bucket/path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}/{path}", self.scheme(), self.bucket)
    }

    /// `scheme://bucket/prefix`, and the endpoint when there is one.
    pub fn location(&self) -> String {
        let mut l = self.url(&self.prefix);
        if let Some(e) = &self.endpoint {
            l.push_str(&format!(" at {e}"));
        }
        l
    }

    /// The cloud, as OCSF and ECS name it.
    pub fn cloud(&self) -> Option<&'static str> {
        self.provider().map(Provider::cloud)
    }

    /// What a recovery point of this source is, for people.
    pub fn point_type(&self) -> &'static str {
        self.provider()
            .map_or("recovery point", Provider::point_type)
    }
}

/// A recovery point as records name it. Members this release does not
/// read are kept (`rest`), so the point serialises back whole.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct Point {
    pub key: String,
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    pub size: Option<u64>,
    pub last_modified: Option<String>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

impl Point {
    /// The version id, or the snapshot time of an Azure snapshot.
    pub fn version(&self) -> Option<&str> {
        self.version_id.as_deref().or(self.snapshot.as_deref())
    }
}

/// A `sample_verdict` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SampleVerdict {
    pub recovery_point: Point,
    /// As written; [`SampleVerdict::verdict`] interprets it.
    #[serde(rename = "verdict")]
    pub verdict_name: String,
    pub reason: Option<String>,
    /// Why it was in the sample (`uniform`, `coverage`, ...); absent in
    /// records written before rotating coverage.
    pub pick: Option<String>,
    pub protection: Option<ProtectionFacts>,
    pub restore: RestoreFacts,
}

impl SampleVerdict {
    /// The verdict, when this release knows it.
    pub fn verdict(&self) -> Option<Verdict> {
        self.verdict_name.parse().ok()
    }

    /// What a batched sample's leaf says beyond its row's columns, read as
    /// the members of a verdict record (see [`super::batch`]).
    pub fn from_leaf(rest: &str) -> Self {
        let r: super::batch::LeafRest = serde_json::from_str(rest).unwrap_or_default();
        Self {
            recovery_point: Point {
                last_modified: Some(r.last_modified),
                ..Point::default()
            },
            verdict_name: "verified".into(),
            reason: None,
            pick: r.pick,
            protection: r.protection.map(|p| lenient_value(&p, "protection")),
            restore: RestoreFacts {
                sha256: None,
                server_side_encryption: r.server_side_encryption,
            },
        }
    }
}

/// A `restore_test_unhandled` record: a queue message left for a person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RestoreTestUnhandled {
    pub message_id: String,
    pub restore_job_id: Option<String>,
    pub reason: String,
}

/// A `provider_job_submitted` record: the S3 Batch Operations jobs of a
/// `provider_checksum` run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProviderJobSubmitted {
    pub estimated_cost_usd: f64,
    pub jobs: Vec<SubmittedJob>,
}

/// One job of a `provider_job_submitted` record, as far as readers need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SubmittedJob {
    pub job_id: String,
    pub algorithm: String,
    pub objects: u64,
}

/// A `sample_batch` record: verified samples committed under one Merkle
/// root (their rows are in the ledger; `evidence prove` proves one).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SampleBatch {
    /// `verified`: a batch holds verified samples only.
    #[serde(rename = "verdict")]
    pub verdict_name: String,
    pub count: u64,
    pub root: String,
    pub tree: String,
    pub bytes: u64,
}

/// How a recovery point was restored, as far as readers need it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RestoreFacts {
    pub sha256: Option<String>,
    pub server_side_encryption: Option<String>,
}

/// A recovery point's immutability as recorded with its verdict.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProtectionFacts {
    /// `readable`, `not_readable` or `unknown`.
    pub visibility: Option<String>,
    pub meets_policy: Option<bool>,
    pub reason: Option<String>,
    pub policy: Option<String>,
}

impl ProtectionFacts {
    /// The store would not say, or could not, whether it is locked.
    pub fn unreadable(&self) -> bool {
        matches!(self.visibility.as_deref(), Some("not_readable" | "unknown"))
    }
}

/// Verdict counts of one run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Counts {
    pub verified: u64,
    pub mismatch: u64,
    pub unrecoverable: u64,
    pub no_reference: u64,
    pub skipped: u64,
    pub aborted: u64,
}

impl Counts {
    /// Verdicts that make a run fail: `mismatch` and `unrecoverable`.
    pub fn failures(&self) -> u64 {
        self.mismatch + self.unrecoverable
    }

    /// Whether any verdict makes the drill fail.
    pub fn any_failure(&self) -> bool {
        self.failures() > 0
    }

    /// Adds another run's counts (the shards of one run).
    pub fn add_all(&mut self, o: &Counts) {
        self.verified += o.verified;
        self.mismatch += o.mismatch;
        self.unrecoverable += o.unrecoverable;
        self.no_reference += o.no_reference;
        self.skipped += o.skipped;
        self.aborted += o.aborted;
    }
}

/// A `run_summary` record, or the ledger's copy of its body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    pub drill: String,
    pub source: Source,
    /// `completed`, `aborted` or `error`.
    pub status: String,
    /// `manual`, `schedule`, `shards` or `aws_backup`.
    pub trigger: String,
    /// How its recovery points were checked: `stream`, `local`, `copy`,
    /// `undelete`, or `provider_checksum` (at rest, nothing restored).
    pub mode: String,
    /// As recorded; absent in records written before outcomes were
    /// (see [`RunSummary::outcome`]).
    #[serde(rename = "outcome", deserialize_with = "lenient")]
    pub stated_outcome: Option<RunOutcome>,
    pub reason: Option<String>,
    pub error: Option<String>,
    pub strategy: String,
    pub seed: Option<u64>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub population: Option<PopulationFacts>,
    /// When the inventory report the population came from was taken;
    /// `None` for a listing (and in summaries written before inventories).
    pub population_as_of: Option<String>,
    pub sampled: u64,
    pub counts: Counts,
    pub bytes_restored: u64,
    pub throughput_bytes_per_sec: Option<u64>,
    pub clock: ClockFacts,
    #[serde(deserialize_with = "lenient")]
    pub coverage: Option<Coverage>,
    pub suspicious_changes: u64,
}

impl RunSummary {
    /// Reads the ledger's copy of a run summary's body.
    pub fn parse(json: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(json).ok()?;
        Some(lenient_value(&v, "run summary"))
    }

    /// The outcome the summary states, or, for summaries written before
    /// outcomes were recorded, the one its status and counts give.
    pub fn outcome(&self) -> Option<RunOutcome> {
        self.stated_outcome.or_else(|| {
            let status = if self.status.is_empty() {
                "error"
            } else {
                &self.status
            };
            RunOutcome::of(status, self.sampled, self.counts.failures())
        })
    }

    /// The outcome is `passed`.
    pub fn passed(&self) -> bool {
        self.outcome().is_some_and(RunOutcome::passed)
    }
}

/// What a run's listing counted, as far as readers need it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PopulationFacts {
    pub versions_listed: u64,
    pub filtered_out: u64,
    pub candidates: u64,
    pub candidate_bytes: u64,
}

/// The host clock's synchronisation when the run started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ClockFacts {
    pub synchronized: Option<bool>,
}

/// Rotating coverage as a run summary states it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Coverage {
    /// The period, as configured (e.g. `30d`), and in seconds.
    pub period: String,
    pub period_secs: u64,
    /// Candidates (after filters) in the listing, and their bytes.
    pub population: u64,
    pub population_bytes: u64,
    /// Of them, verified within the period (and not failing since), after
    /// this run.
    pub verified_within_period: u64,
    pub verified_within_period_bytes: u64,
    /// `verified_within_period` as a share of `population`, in percent.
    pub percent: f64,
    /// Recovery points this run took for coverage (the rest of the sample
    /// is the strategy's).
    pub coverage_picks: u64,
    /// When the sample was drawn: never given a verdict, and last verdict
    /// `mismatch`/`unrecoverable` (retried first).
    pub never_checked: u64,
    pub failing: u64,
    /// Points verified before that the listing no longer holds (expired or
    /// deleted versions); absent when the store listed out of key order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub departed: Option<u64>,
    /// Scheduled runs in one period, from the drill's schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_per_period: Option<u64>,
    /// Runs of this budget until every recovery point is verified within
    /// the period (0: reached).
    pub runs_to_full: u64,
    /// When the scheduled run that reaches full coverage starts; absent
    /// without a schedule, or when the budget cannot reach it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_coverage_at: Option<String>,
    /// What each run must restore to cover the population once per period,
    /// when the budget is smaller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needed_per_run: Option<NeededPerRun>,
    /// Why full coverage cannot be reached within the period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The budget a run needs to cover the population once per period.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct NeededPerRun {
    pub recovery_points: u64,
    pub bytes: u64,
}

/// A `run_aborted` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RunAborted {
    pub started_at: String,
    pub verdicts_recorded: u64,
    pub reason: String,
}

/// A `restore_mutation` record: one step of a change to the live
/// container (an undelete, a canary write).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RestoreMutation {
    pub recovery_point: Point,
    pub action: String,
    /// `intent`, `done` or `failed`.
    pub phase: String,
    pub error: Option<String>,
}

/// A `posture_finding` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PostureFinding {
    pub check: String,
    /// `pass`, `fail` or `unknown`.
    pub status: String,
    pub observed: String,
    pub required: String,
    pub reason: Option<String>,
    pub controls: Vec<ControlRef>,
}

/// A control a finding serves, in both editions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ControlRef {
    pub iso_2013: String,
    pub iso_2022: String,
}

/// A `checkpoint` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Checkpoint {
    pub size: u64,
    pub head: String,
    /// The checkpoint note, with its signature lines when signed.
    pub note: String,
    /// The signer's public key; `None` when no signing key was configured.
    pub key: Option<String>,
    pub reason: String,
}

impl Checkpoint {
    /// The note carries a signature line.
    pub fn signed(&self) -> bool {
        self.note.contains("\n\u{2014} ")
    }
}

/// An `evidence_dropped` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct EvidenceDropped {
    pub sink: String,
    pub count: u64,
    pub reason: String,
}

/// A `config_reloaded` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConfigReloaded {
    /// `applied` or `refused`.
    pub outcome: String,
    pub error: Option<String>,
}

impl ConfigReloaded {
    pub fn refused(&self) -> bool {
        self.outcome == "refused"
    }
}

/// A `gate_changed` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GateChanged {
    pub ok: bool,
    pub max_age: String,
    pub reasons: Vec<String>,
}

/// A `suspicious_change` record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SuspiciousChange {
    /// `None` for a burst across a listing.
    pub recovery_point: Option<Point>,
    pub signals: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Evidence an earlier release wrote (tests/fixtures/release-2e25915:
    /// no outcome, no pick, no trigger in its records) reads as types, and
    /// the outcome it did not record follows from its status and counts.
    #[test]
    fn records_of_an_earlier_release_read_as_types() {
        let text = include_str!("../../../tests/fixtures/release-2e25915/evidence.jsonl");
        let records: Vec<Record> = text.lines().map(Record::parse).collect();
        assert_eq!(records.len(), 10);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1);
            assert_eq!(r.agent.host, "vm");
            match &r.body {
                Body::SampleVerdict(v) => {
                    assert_eq!(v.verdict(), Some(Verdict::Verified));
                    assert!(!v.recovery_point.key.is_empty());
                    assert!(v.recovery_point.version_id.is_some());
                    assert!(v.restore.sha256.is_some());
                    assert_eq!(v.pick, None);
                    assert_eq!(r.source.provider(), Some(Provider::S3));
                }
                Body::RunSummary(s) => {
                    assert_eq!(s.stated_outcome, None);
                    assert_eq!(s.outcome(), Some(RunOutcome::Passed));
                    assert_eq!((s.sampled, s.counts.verified), (3, 3));
                    assert!(s.population.is_some_and(|p| p.candidates >= 3));
                    assert!(s.throughput_bytes_per_sec.is_some());
                }
                Body::Checkpoint(c) => {
                    assert!(c.signed() && c.key.is_some(), "{c:?}");
                }
                other => panic!("record {i}: {other:?}"),
            }
        }
    }

    /// A record from a newer release keeps its kind's name; members of an
    /// unexpected shape read as absent, the rest of the record stands; a
    /// line that is not JSON is kept as written.
    #[test]
    fn reading_never_fails() {
        let r = Record::read(json!({"kind": "from_a_newer_release", "seq": 4, "drill": "d"}));
        assert_eq!(
            (r.kind(), r.kind_name.as_str(), r.seq),
            (None, "from_a_newer_release", 4)
        );
        assert_eq!(r.body, Body::Other);
        let r = Record::read(json!({
            "kind": "run_summary", "seq": 5, "status": "completed", "sampled": 2,
            "counts": {"verified": 2}, "outcome": "a_newer_outcome", "coverage": {"period": 3},
            "source": {"kind": "gcs", "bucket": "b", "prefix": "p/"},
        }));
        let Body::RunSummary(s) = &r.body else {
            panic!("{r:?}")
        };
        assert_eq!((s.stated_outcome, s.coverage.as_ref()), (None, None));
        assert_eq!(s.outcome(), Some(RunOutcome::Passed));
        // A kind of source this release does not know keeps its own name.
        assert_eq!(r.source.location(), "gcs://b/p/");
        let r = Record::parse("not json {");
        assert_eq!(r.raw, Value::String("not json {".into()));
        assert_eq!(r.body, Body::Other);
    }

    /// A summary that says its outcome is taken at its word; one that
    /// does not gets it from its status and counts.
    #[test]
    fn a_summary_says_its_outcome_or_gives_it_by_its_counts() {
        let read = |v: Value| RunSummary::parse(&v.to_string()).expect("summary");
        let old = read(json!({"status": "completed", "sampled": 0, "counts": {"verified": 0}}));
        assert_eq!(old.outcome(), Some(RunOutcome::Failed));
        let old = read(json!({"status": "completed", "sampled": 2, "counts": {"verified": 2}}));
        assert_eq!(old.outcome(), Some(RunOutcome::Passed));
        let new = read(json!({"status": "completed", "outcome": "failed", "sampled": 2}));
        assert_eq!(new.outcome(), Some(RunOutcome::Failed));
        assert_eq!(read(json!({})).outcome(), Some(RunOutcome::Error));
    }

    /// A recovery point serialises back with the members this release does
    /// not read.
    #[test]
    fn a_point_keeps_what_it_does_not_read() {
        let v = json!({"key": "k", "version_id": "v", "size": 3, "last_modified": "t", "etag": "e", "is_latest": true});
        let p: Point = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap(), v);
    }
}

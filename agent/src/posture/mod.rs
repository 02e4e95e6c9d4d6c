//! Posture checks: is each source configured so that its recovery points
//! can exist at all? Each finding is `pass`, `fail` or `unknown` (with
//! why), with the observed and the required value and the ISO/IEC 27001
//! controls it evidences, and is recorded as a `posture_finding` evidence
//! event.

use crate::evidence::{AgentInfo, Body, Event, EventKind};
use crate::ledger::evidence_file::EvidenceFileError;
use crate::ledger::recorder::Recorder;
use serde::Serialize;

/// `pass`, `fail` or `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

pub use crate::controls::{
    Control, ACCESS_RESTRICTION as ACCESS, BACKUP, CRYPTO, LOGGING, NETWORK, REDUNDANCY,
};

/// One posture finding.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub source: String,
    pub check: &'static str,
    pub status: Status,
    pub observed: String,
    pub required: String,
    /// Why, for `unknown` (and detail for `fail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub controls: Vec<Control>,
}

/// Collects one source's findings.
pub(crate) struct Out<'a> {
    source: &'a str,
    pub(crate) findings: Vec<Finding>,
}

impl<'a> Out<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        Self {
            source,
            findings: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        check: &'static str,
        status: Status,
        observed: impl Into<String>,
        required: impl Into<String>,
        reason: Option<String>,
        controls: &[Control],
    ) {
        self.findings.push(Finding {
            source: self.source.to_owned(),
            check,
            status,
            observed: observed.into(),
            required: required.into(),
            reason,
            controls: controls.to_vec(),
        });
    }

    pub(crate) fn unknown(
        &mut self,
        check: &'static str,
        required: impl Into<String>,
        why: String,
        controls: &[Control],
    ) {
        self.push(
            check,
            Status::Unknown,
            "unknown",
            required,
            Some(why),
            controls,
        );
    }
}

pub use crate::config::posture::{Encryption, Policy, RawPosture};

/// The body of a `posture_finding` event. `reason` is `null` when there is
/// none (every finding record has the same members).
#[derive(Serialize)]
struct FindingBody<'a> {
    agent: &'a AgentInfo,
    source: SourceName<'a>,
    check: &'a str,
    status: Status,
    observed: &'a str,
    required: &'a str,
    reason: Option<&'a str>,
    controls: &'a [Control],
}

#[derive(Serialize)]
struct SourceName<'a> {
    name: &'a str,
}

impl<'a> FindingBody<'a> {
    fn new(agent: &'a AgentInfo, f: &'a Finding) -> Self {
        Self {
            agent,
            source: SourceName { name: &f.source },
            check: f.check,
            status: f.status,
            observed: &f.observed,
            required: &f.required,
            reason: f.reason.as_deref(),
            controls: &f.controls,
        }
    }
}

impl Body for FindingBody<'_> {
    const KIND: EventKind = EventKind::PostureFinding;
}

/// Records each finding as a `posture_finding` event, then a checkpoint;
/// returns the event ids.
///
/// # Errors
/// When the ledger or evidence file cannot be written.
pub fn record(
    recorder: &mut Recorder,
    findings: &[Finding],
) -> Result<Vec<String>, EvidenceFileError> {
    let agent = AgentInfo::current();
    let mut ids = Vec::new();
    for f in findings {
        ids.push(record_one(recorder, &agent, f)?);
    }
    recorder.checkpoint("posture")?;
    Ok(ids)
}

/// Records one finding as a `posture_finding` event (no checkpoint: the
/// caller's next one covers it); returns the event id.
///
/// # Errors
/// When the ledger or evidence file cannot be written.
pub fn record_one(
    recorder: &mut Recorder,
    agent: &AgentInfo,
    f: &Finding,
) -> Result<String, EvidenceFileError> {
    let mut event = Event::new(None, &FindingBody::new(agent, f));
    let id = event.id.clone();
    recorder.commit(&mut event, |l, e| l.record_event(e))?;
    Ok(id)
}

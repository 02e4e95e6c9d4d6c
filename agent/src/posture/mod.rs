//! Posture checks: is each source configured so that its recovery points
//! can exist at all? Each finding is `pass`, `fail` or `unknown` (with
//! why), with the observed and the required value and the ISO/IEC 27001
//! controls it evidences, and is recorded as a `posture_finding` evidence
//! event.

pub mod azure;
pub mod s3;

use crate::config::{Config, SourceConfig};
use crate::evidence::file::EvidenceFileError;
use crate::evidence::recorder::Recorder;
use crate::evidence::{AgentInfo, Event};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `pass`, `fail` or `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// A control in both editions.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Control {
    pub iso_2013: &'static str,
    pub iso_2022: &'static str,
}

pub const BACKUP: Control = Control {
    iso_2013: "A.12.3.1",
    iso_2022: "8.13",
};
pub const CRYPTO: Control = Control {
    iso_2013: "A.10.1.1",
    iso_2022: "8.24",
};
pub const REDUNDANCY: Control = Control {
    iso_2013: "A.17.2.1",
    iso_2022: "8.14",
};
pub const ACCESS: Control = Control {
    iso_2013: "A.9.4.1",
    iso_2022: "8.3",
};
pub const NETWORK: Control = Control {
    iso_2013: "A.13.1.1",
    iso_2022: "8.20",
};
pub const LOGGING: Control = Control {
    iso_2013: "A.12.4.1",
    iso_2022: "8.15",
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

/// `[sources.NAME.posture]` as written.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPosture {
    /// `enabled` (default) or `any`.
    pub versioning: Option<String>,
    pub mfa_delete: Option<bool>,
    pub object_lock: Option<bool>,
    /// `any` (default: some encryption at rest), `kms` or `none`.
    pub encryption: Option<String>,
    pub replication: Option<bool>,
    pub min_noncurrent_retention_days: Option<u32>,
    pub public_access_block: Option<bool>,
    pub secure_transport: Option<bool>,
    pub access_logging: Option<bool>,
    /// Azure: blob soft delete must keep deleted blobs at least this long.
    pub min_soft_delete_days: Option<u32>,
    /// Azure: accepted redundancy SKUs, e.g. `["GRS", "GZRS", "RAGRS"]`.
    pub redundancy: Option<Vec<String>>,
    /// Azure: the account URL must be https.
    pub https_only: Option<bool>,
}

/// What a source must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub versioning: bool,
    pub mfa_delete: bool,
    pub object_lock: bool,
    pub encryption: Encryption,
    pub replication: bool,
    pub min_noncurrent_retention_days: u32,
    pub public_access_block: bool,
    pub secure_transport: bool,
    pub access_logging: bool,
    pub min_soft_delete_days: u32,
    /// Empty: any.
    pub redundancy: Vec<String>,
    pub https_only: bool,
}

/// Required encryption at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    None,
    Any,
    Kms,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            versioning: true,
            mfa_delete: false,
            object_lock: false,
            encryption: Encryption::Any,
            replication: false,
            min_noncurrent_retention_days: 7,
            public_access_block: true,
            secure_transport: true,
            access_logging: false,
            min_soft_delete_days: 7,
            redundancy: Vec::new(),
            https_only: true,
        }
    }
}

impl RawPosture {
    /// Validates for a source of `kind` (`s3` or `azure_blob`); problems go
    /// to `problem` with their key paths under `at`.
    pub fn validate(&self, at: &str, kind: &str, problem: &mut dyn FnMut(String, &str)) -> Policy {
        let s3_only = [
            ("mfa_delete", self.mfa_delete.is_some()),
            ("object_lock", self.object_lock.is_some()),
            ("replication", self.replication.is_some()),
            (
                "min_noncurrent_retention_days",
                self.min_noncurrent_retention_days.is_some(),
            ),
            ("public_access_block", self.public_access_block.is_some()),
            ("secure_transport", self.secure_transport.is_some()),
            ("access_logging", self.access_logging.is_some()),
        ];
        let azure_only = [
            ("min_soft_delete_days", self.min_soft_delete_days.is_some()),
            ("redundancy", self.redundancy.is_some()),
            ("https_only", self.https_only.is_some()),
        ];
        let (other, keys): (&str, &[(&str, bool)]) = if kind == "s3" {
            ("azure_blob", &azure_only)
        } else {
            ("s3", &s3_only)
        };
        for (k, set) in keys {
            if *set {
                problem(
                    format!("{at}.{k}"),
                    &format!("applies to {other} sources only"),
                );
            }
        }
        if let Some(r) = &self.redundancy {
            const KNOWN: &[&str] = &["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"];
            for v in r {
                if !KNOWN.contains(&v.as_str()) {
                    problem(
                        format!("{at}.redundancy"),
                        &format!(
                            "`{v}` is not a redundancy; write some of {}",
                            KNOWN.join(", ")
                        ),
                    );
                }
            }
        }
        let d = Policy::default();
        let versioning = match self.versioning.as_deref() {
            None | Some("enabled") => true,
            Some("any") => false,
            Some(other) => {
                problem(
                    format!("{at}.versioning"),
                    &format!("`{other}` is not a requirement; write `enabled` or `any`"),
                );
                true
            }
        };
        let encryption = match self.encryption.as_deref() {
            None | Some("any") => Encryption::Any,
            Some("kms") => Encryption::Kms,
            Some("none") => Encryption::None,
            Some(other) => {
                problem(
                    format!("{at}.encryption"),
                    &format!("`{other}` is not a requirement; write `any`, `kms` or `none`"),
                );
                Encryption::Any
            }
        };
        Policy {
            versioning,
            mfa_delete: self.mfa_delete.unwrap_or(d.mfa_delete),
            object_lock: self.object_lock.unwrap_or(d.object_lock),
            encryption,
            replication: self.replication.unwrap_or(d.replication),
            min_noncurrent_retention_days: self
                .min_noncurrent_retention_days
                .unwrap_or(d.min_noncurrent_retention_days),
            public_access_block: self.public_access_block.unwrap_or(d.public_access_block),
            secure_transport: self.secure_transport.unwrap_or(d.secure_transport),
            access_logging: self.access_logging.unwrap_or(d.access_logging),
            min_soft_delete_days: self.min_soft_delete_days.unwrap_or(d.min_soft_delete_days),
            redundancy: self.redundancy.clone().unwrap_or_default(),
            https_only: self.https_only.unwrap_or(d.https_only),
        }
    }
}

/// Checks every source (or only `only`): the findings, and the sources
/// that could not be checked.
pub async fn check_sources(config: &Config, only: Option<&str>) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let not_checked = Vec::new();
    for (name, source) in &config.sources {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        match source {
            SourceConfig::S3(c) => findings.extend(s3::check(name, c, &c.posture).await),
            SourceConfig::AzureBlob(c) => findings.extend(azure::check(name, c, &c.posture).await),
        }
    }
    (findings, not_checked)
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
        let mut event = Event::new(
            "posture_finding",
            None,
            json!({
                "agent": agent,
                "source": { "name": f.source },
                "check": f.check,
                "status": f.status,
                "observed": f.observed,
                "required": f.required,
                "reason": f.reason,
                "controls": f.controls,
            }),
        );
        ids.push(event.id.clone());
        recorder.commit(&mut event, |l, e| l.record_event(e))?;
    }
    recorder.checkpoint("posture")?;
    Ok(ids)
}

//! Canaries: recovery points the agent writes and deletes itself, then
//! restores at increasing ages, to prove end to end that deleted data stays
//! restorable as long as the policy claims.
//!
//! A canary is random content (its SHA-256 in the ledger and the evidence)
//! written under the canary prefix and then deleted the way an accidental
//! deletion or an attacker would (S3: a delete marker; the version stays
//! behind it). Every write and delete is recorded before it is made and
//! after (`restore_mutation`, `action` `canary_write`/`canary_delete`, the
//! canary's name in `drill`). Drills of the source restore, for each
//! configured age (1 day, 7 days, …, the claimed retention), the youngest
//! canary at least that old, by its version id from behind its delete
//! marker; a canary that cannot be restored before the claimed retention
//! has passed is a failed requirement with its age (`posture_finding`,
//! check `canary.retention`). Writes go only under the canary prefix.

use crate::config::{age_text, CanaryConfig};
use crate::evidence::{now_rfc3339, AgentInfo, Body, Event, EventKind};
use crate::ledger::evidence_file::EvidenceFileError;
use crate::ledger::recorder::{lock, Recorder};
use crate::ledger::{CanaryRow, LedgerError};
use crate::posture::{Finding, Status};
use crate::source::{Candidate, ErrorClass, RecoverySource, SourceError, SourceInfo};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

mod interrupted;
pub use interrupted::finish_interrupted;

/// Why a canary could not be written or checked.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("canary {canary}: {error}")]
    Source { canary: String, error: SourceError },
    #[error("canary {0}: the key {1} is not under the canary prefix; nothing was written")]
    OutsidePrefix(String, String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Evidence(#[from] EvidenceFileError),
}

/// The body of a canary's `restore_mutation` event.
#[derive(Serialize)]
struct CanaryMutation<'a> {
    agent: &'a AgentInfo,
    /// The canary's name.
    drill: &'a str,
    source: &'a SourceInfo,
    recovery_point: &'a Candidate,
    /// `canary_write` or `canary_delete`.
    action: &'static str,
    /// `intent` (recorded before acting), `done` or `failed`.
    phase: &'static str,
    prior_state: &'static str,
    error: Option<String>,
    /// The canary content's SHA-256.
    sha256: &'a str,
    /// The process that took the step and its boot: an intent whose
    /// process still runs is in flight, not interrupted.
    pid: u32,
    boot_id: &'a str,
}

impl Body for CanaryMutation<'_> {
    const KIND: EventKind = EventKind::RestoreMutation;
}

/// A canary written and deleted.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub canary: String,
    pub key: String,
    /// Empty when the store keeps no versions (then `snapshot` is set).
    pub version_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    pub sha256: String,
    pub size: u64,
    pub written_at: String,
    pub deleted_at: String,
}

/// Writes one canary of `cfg` to `source` and deletes it, each step
/// recorded before and after it is taken.
///
/// # Errors
/// [`CanaryError`]; a step that failed is recorded as `failed`.
pub async fn write(
    cfg: &CanaryConfig,
    source: &dyn RecoverySource,
    recorder: &Mutex<Recorder>,
) -> Result<Written, CanaryError> {
    finish_interrupted(cfg, source, recorder).await?;
    let mut body = vec![0u8; cfg.size as usize];
    rand::Rng::fill(&mut rand::rng(), body.as_mut_slice());
    let now = Utc::now();
    let key = format!(
        "{}canary-{}-{}",
        cfg.key_prefix,
        now.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    if !key.starts_with(&cfg.key_prefix) || cfg.key_prefix.is_empty() {
        return Err(CanaryError::OutsidePrefix(cfg.name.clone(), key));
    }
    let steps = Steps {
        cfg,
        recorder,
        agent: AgentInfo::current(),
        info: source.describe(),
        boot_id: crate::host::boot_id(),
        sha256: hex::encode(Sha256::digest(&body)),
        // One id correlates the four steps (as a run id does a drill's events).
        operation: uuid::Uuid::now_v7().to_string(),
    };
    let mut point = Candidate {
        key: key.clone(),
        size: cfg.size,
        last_modified: now,
        is_latest: true,
        ..Candidate::default()
    };
    let written = steps.put(source, &point, body).await?;
    point.version_id.clone_from(&written.version_id);
    point.snapshot.clone_from(&written.snapshot);
    let version = written.version_id.clone().unwrap_or_default();
    let mut row = CanaryRow {
        canary: cfg.name.clone(),
        source: steps.info.name.clone(),
        key: key.clone(),
        version_id: version.clone(),
        snapshot: written.snapshot.clone(),
        sha256: steps.sha256.clone(),
        size: cfg.size,
        written_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        deleted_at: None,
    };
    // The row and the write's `done` in one transaction.
    let mut done = steps.event(&point, "canary_write", "done", "absent", None);
    lock(recorder).commit(&mut done, |l, e| l.canary_written(&row, e))?;
    steps.delete(source, &point).await?;
    let deleted_at = now_rfc3339();
    lock(recorder).ledger.canary_deleted(&row, &deleted_at)?;
    row.deleted_at = Some(deleted_at.clone());
    tracing::info!(canary = %cfg.name, key, version, "Canary written and deleted.");
    Ok(Written {
        canary: row.canary,
        snapshot: row.snapshot,
        key,
        version_id: version,
        sha256: steps.sha256,
        size: cfg.size,
        written_at: row.written_at,
        deleted_at,
    })
}

/// The steps of one canary's write and delete, each recorded (intent
/// first) as a `restore_mutation` event.
struct Steps<'a> {
    cfg: &'a CanaryConfig,
    recorder: &'a Mutex<Recorder>,
    agent: AgentInfo,
    info: SourceInfo,
    boot_id: String,
    sha256: String,
    /// One id correlates the steps of a canary's write and delete.
    operation: String,
}

impl Steps<'_> {
    fn event(
        &self,
        point: &Candidate,
        action: &'static str,
        phase: &'static str,
        prior: &'static str,
        error: Option<String>,
    ) -> Event {
        Event::new(
            Some(self.operation.clone()),
            &CanaryMutation {
                agent: &self.agent,
                drill: &self.cfg.name,
                source: &self.info,
                recovery_point: point,
                action,
                phase,
                prior_state: prior,
                error,
                sha256: &self.sha256,
                pid: std::process::id(),
                boot_id: &self.boot_id,
            },
        )
    }

    fn record(
        &self,
        point: &Candidate,
        action: &'static str,
        phase: &'static str,
        prior: &'static str,
        error: Option<String>,
    ) -> Result<(), CanaryError> {
        let mut e = self.event(point, action, phase, prior, error);
        lock(self.recorder).commit(&mut e, |l, e| l.record_event(e))?;
        Ok(())
    }

    fn failed(&self, error: SourceError) -> CanaryError {
        CanaryError::Source {
            canary: self.cfg.name.clone(),
            error,
        }
    }

    /// Writes the canary; the store must keep a version or snapshot of it.
    async fn put(
        &self,
        source: &dyn RecoverySource,
        point: &Candidate,
        body: Vec<u8>,
    ) -> Result<Candidate, CanaryError> {
        self.record(point, "canary_write", "intent", "absent", None)?;
        let written = source
            .put_canary(&point.key, bytes::Bytes::from(body))
            .await
            .and_then(|w| {
                if w.version_id.is_some() || w.snapshot.is_some() {
                    Ok(w)
                } else {
                    Err(SourceError::new(
                        ErrorClass::Config,
                        "the store kept neither a version nor a snapshot of the canary: enable versioning on the bucket (or soft delete and snapshots on the container)",
                    ))
                }
            });
        written.or_else(|e| {
            self.record(
                point,
                "canary_write",
                "failed",
                "absent",
                Some(e.to_string()),
            )?;
            Err(self.failed(e))
        })
    }

    /// Deletes the live canary: its version (or snapshot) stays behind.
    async fn delete(
        &self,
        source: &dyn RecoverySource,
        point: &Candidate,
    ) -> Result<(), CanaryError> {
        self.record(point, "canary_delete", "intent", "live", None)?;
        if let Err(e) = source.delete_canary(&point.key).await {
            self.record(
                point,
                "canary_delete",
                "failed",
                "live",
                Some(e.to_string()),
            )?;
            return Err(self.failed(e));
        }
        self.record(point, "canary_delete", "done", "live", None)
    }
}

/// One canary age checked by a drill.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub canary: String,
    /// The age checked, e.g. `7d`.
    pub target: String,
    /// `restored`, `gone`, `mismatch`, `error`, or `pending` (no canary that
    /// old yet).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_at: Option<String>,
    pub detail: String,
}

/// Restores, for each age of `cfg`, the youngest canary at least that old
/// and records each result as a `canary.retention` finding.
///
/// # Errors
/// When the ledger or evidence file cannot be written; store errors are
/// results (`error`), said as the agent's, not the backup's.
pub async fn check(
    cfg: &CanaryConfig,
    source: &dyn RecoverySource,
    recorder: &Mutex<Recorder>,
    agent: &AgentInfo,
    now: DateTime<Utc>,
) -> Result<Vec<Check>, CanaryError> {
    finish_interrupted(cfg, source, recorder).await?;
    let info = source.describe();
    let mut out = Vec::new();
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // A day beyond the claimed retention is still worth restoring (the
    // schedule may have written the canary a little earlier).
    let oldest =
        chrono::Duration::from_std(cfg.retention).unwrap_or_default() + chrono::Duration::days(1);
    for age in &cfg.ages {
        let target = age_text(*age);
        let by = now - chrono::Duration::from_std(*age).unwrap_or_default();
        let row = lock(recorder)
            .ledger
            .canary_at_age(&cfg.name, &ts(by), &ts(now - oldest))?;
        let Some(row) = row else {
            out.push(Check {
                canary: cfg.name.clone(),
                target: target.clone(),
                outcome: "pending".into(),
                key: None,
                version_id: None,
                written_at: None,
                detail: format!("no deleted canary is {target} old yet"),
            });
            continue;
        };
        let written = DateTime::parse_from_rfc3339(&row.written_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let canary_age = (now - written).to_std().unwrap_or_default();
        let age_said = age_text(std::time::Duration::from_secs(
            canary_age.as_secs() - canary_age.as_secs() % 3600,
        ));
        let (outcome, detail, status) = match restore_canary(cfg, source, recorder, agent, &row).await? {
            Ok(sha) if sha == row.sha256 => (
                "restored",
                format!(
                    "the canary written {age_said} ago and deleted since was restored intact from behind its delete marker (SHA-256 matches)"
                ),
                Status::Pass,
            ),
            Ok(sha) => (
                "mismatch",
                format!(
                    "the canary written {age_said} ago restored with SHA-256 {sha}, not the {} it was written with",
                    row.sha256
                ),
                Status::Fail,
            ),
            Err(e) if e.class == ErrorClass::NotFound => (
                "gone",
                format!(
                    "the canary written {age_said} ago (deleted since) is gone: deleted recovery points are kept less than {age_said}; the policy claims {}",
                    age_text(cfg.retention)
                ),
                Status::Fail,
            ),
            Err(e) => (
                "error",
                format!("the canary written {age_said} ago could not be checked (the agent's problem, not a finding about retention): {e}"),
                Status::Unknown,
            ),
        };
        let finding = Finding {
            source: info.name.clone(),
            check: "canary.retention",
            status,
            observed: detail.clone(),
            required: format!(
                "deleted recovery points restorable for {} (canary {}, age {target})",
                age_text(cfg.retention),
                cfg.name
            ),
            reason: (status != Status::Pass).then(|| detail.clone()),
            controls: vec![crate::controls::BACKUP],
        };
        {
            let mut r = lock(recorder);
            crate::posture::record_one(&mut r, agent, &finding)?;
            r.ledger.canary_checked(&row, &now_rfc3339(), outcome)?;
        }
        if status == Status::Fail {
            tracing::warn!(canary = %cfg.name, target, detail, "A canary failed the claimed retention.");
        }
        out.push(Check {
            canary: cfg.name.clone(),
            target,
            outcome: outcome.into(),
            key: Some(row.key.clone()),
            version_id: Some(row.version_id.clone()),
            written_at: Some(row.written_at.clone()),
            detail,
        });
    }
    Ok(out)
}

/// Restores a canary and hashes it: by its version id from behind its
/// delete marker (S3, versioned Azure containers), or — for a soft-deleted
/// Azure canary without versions — by undeleting it, reading its snapshot
/// and deleting it again, each step recorded before and after it is taken.
/// The outer error is the agent's (recording failed); the inner is the
/// store's answer.
async fn restore_canary(
    cfg: &CanaryConfig,
    source: &dyn RecoverySource,
    recorder: &Mutex<Recorder>,
    agent: &AgentInfo,
    row: &CanaryRow,
) -> Result<Result<String, SourceError>, CanaryError> {
    let point = Candidate {
        key: row.key.clone(),
        version_id: Some(row.version_id.clone()).filter(|v| !v.is_empty()),
        snapshot: row.snapshot.clone(),
        size: row.size,
        ..Candidate::default()
    };
    if point.version_id.is_some() || point.snapshot.is_none() {
        let by_version = Candidate {
            snapshot: None,
            ..point
        };
        return Ok(restore_sha256(source, &by_version).await);
    }
    if !row.key.starts_with(&cfg.key_prefix) {
        return Err(CanaryError::OutsidePrefix(
            cfg.name.clone(),
            row.key.clone(),
        ));
    }
    let info = source.describe();
    let operation = uuid::Uuid::now_v7().to_string();
    let boot_id = crate::host::boot_id();
    let record = |action, phase, prior, error: Option<String>| {
        let mut event = Event::new(
            Some(operation.clone()),
            &CanaryMutation {
                agent,
                drill: &cfg.name,
                source: &info,
                recovery_point: &point,
                action,
                phase,
                prior_state: prior,
                error,
                sha256: &row.sha256,
                pid: std::process::id(),
                boot_id: &boot_id,
            },
        );
        lock(recorder).commit(&mut event, |l, e| l.record_event(e))
    };
    record("canary_undelete", "intent", "soft_deleted", None)?;
    if let Err(e) = source.undelete_canary(&point).await {
        record(
            "canary_undelete",
            "failed",
            "soft_deleted",
            Some(e.to_string()),
        )?;
        return Ok(Err(e));
    }
    record("canary_undelete", "done", "soft_deleted", None)?;
    let read = restore_sha256(source, &point).await;
    record("canary_redelete", "intent", "live", None)?;
    match source.delete_canary(&row.key).await {
        Ok(()) => record("canary_redelete", "done", "live", None)?,
        Err(e) => record("canary_redelete", "failed", "live", Some(e.to_string()))?,
    }
    Ok(read)
}

/// Restores a canary's recovery point and hashes it.
async fn restore_sha256(
    source: &dyn RecoverySource,
    point: &Candidate,
) -> Result<String, SourceError> {
    let mut body = source.restore(point).await?;
    let mut h = Sha256::new();
    while let Some(chunk) = body.body.next().await {
        h.update(&chunk?);
    }
    Ok(hex::encode(h.finalize()))
}

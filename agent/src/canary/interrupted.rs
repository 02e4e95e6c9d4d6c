//! Finishing what an interrupted canary run left (killed, crashed, the
//! host restarted): the evidence chain says which steps were intended and
//! never confirmed; the store says what is live now.

use super::CanaryError;
use crate::config::CanaryConfig;
use crate::evidence::{now_rfc3339, AgentInfo};
use crate::ledger::recorder::{lock, Recorder};
use crate::ledger::CanaryRow;
use crate::source::{Candidate, ErrorClass, RecoverySource, SourceInfo};
use std::sync::Mutex;

/// What every step of finishing one canary's leftovers shares.
struct Finisher<'a> {
    cfg: &'a CanaryConfig,
    source: &'a dyn RecoverySource,
    recorder: &'a Mutex<Recorder>,
    info: SourceInfo,
    agent: AgentInfo,
    boot_id: String,
}

impl Finisher<'_> {
    /// Records one step of `operation` (`note` in `error`).
    #[allow(clippy::too_many_arguments, reason = "the fields of one canary step")]
    fn record(
        &self,
        operation: &str,
        point: &Candidate,
        action: &'static str,
        phase: &'static str,
        prior: &'static str,
        note: Option<String>,
        sha256: &str,
    ) -> Result<(), CanaryError> {
        super::Steps {
            cfg: self.cfg,
            recorder: self.recorder,
            agent: self.agent.clone(),
            info: self.info.clone(),
            boot_id: self.boot_id.clone(),
            sha256: sha256.to_owned(),
            operation: operation.to_owned(),
        }
        .record(point, action, phase, prior, note)
    }

    /// A step whose process still runs on this boot is in flight (the
    /// service and a command may share the ledger), not interrupted.
    fn in_flight(&self, pid: Option<i64>, boot: Option<&str>) -> bool {
        pid.is_some_and(|p| {
            boot.is_none_or(|b| b == self.boot_id) && crate::host::is_restoreproof(p)
        })
    }

    /// The key's current state: live, or gone (a delete marker, soft
    /// deleted, never written); `None` when the store cannot say now.
    async fn live(&self, key: &str) -> Option<bool> {
        let current = Candidate {
            key: key.to_owned(),
            ..Candidate::default()
        };
        match self.source.attributes(&current).await {
            Ok(_) => Some(true),
            Err(e) if e.class == ErrorClass::NotFound => Some(false),
            Err(e) => {
                tracing::warn!(canary = %self.cfg.name, key, error = %e, "Cannot tell whether an interrupted canary is live; left for the next run.");
                None
            }
        }
    }

    /// Deletes a live canary, each step recorded; whether it was deleted.
    async fn delete(
        &self,
        operation: &str,
        point: &Candidate,
        sha256: &str,
    ) -> Result<bool, CanaryError> {
        self.record(
            operation,
            point,
            "canary_delete",
            "intent",
            "live",
            None,
            sha256,
        )?;
        if let Err(e) = self.source.delete_canary(&point.key).await {
            let why = Some(e.to_string());
            self.record(
                operation,
                point,
                "canary_delete",
                "failed",
                "live",
                why,
                sha256,
            )?;
            return Ok(false);
        }
        self.record(
            operation,
            point,
            "canary_delete",
            "done",
            "live",
            None,
            sha256,
        )?;
        Ok(true)
    }

    /// A write recorded only as intended: deleted when live, said absent
    /// otherwise. Whether it was finished.
    async fn finish_write(&self, operation: &str, key: &str) -> Result<bool, CanaryError> {
        let point = Candidate {
            key: key.to_owned(),
            ..Candidate::default()
        };
        let note = match self.live(key).await {
            None => return Ok(false),
            Some(true) => {
                if !self.delete(operation, &point, "").await? {
                    return Ok(false);
                }
                "the agent was interrupted during this write and the canary was live: it was deleted now and is not used for a retention check (its write was never confirmed)"
            }
            Some(false) => {
                "the agent was interrupted during this write; nothing is live under the key"
            }
        };
        self.record(
            operation,
            &point,
            "canary_write",
            "recovered",
            "absent",
            Some(note.into()),
            "",
        )?;
        tracing::warn!(canary = %self.cfg.name, key, "Finished a canary write an interrupted run left.");
        Ok(true)
    }

    /// A canary whose deletion was never recorded: deleted now, or found
    /// deleted. Whether it was finished.
    async fn finish_deletion(&self, row: &CanaryRow) -> Result<bool, CanaryError> {
        let point = Candidate {
            key: row.key.clone(),
            version_id: (!row.version_id.is_empty()).then(|| row.version_id.clone()),
            snapshot: row.snapshot.clone(),
            size: row.size,
            ..Candidate::default()
        };
        let operation = uuid::Uuid::now_v7().to_string();
        match self.live(&row.key).await {
            None => return Ok(false),
            Some(true) => {
                if !self.delete(&operation, &point, &row.sha256).await? {
                    return Ok(false);
                }
            }
            Some(false) => self.record(
                &operation,
                &point,
                "canary_delete",
                "recovered",
                "live",
                Some("the agent was interrupted after deleting this canary and before recording it: found deleted".into()),
                &row.sha256,
            )?,
        }
        lock(self.recorder)
            .ledger
            .canary_deleted(row, &now_rfc3339())?;
        tracing::warn!(canary = %self.cfg.name, key = %row.key, "Finished a canary deletion an interrupted run left.");
        Ok(true)
    }
}

/// Finishes what an interrupted canary run (killed, crashed, the host
/// restarted) left of `cfg`'s canaries on `source`, before anything else
/// touches them: a write recorded as intended but never as done — the
/// canary may be live, unconfirmed, so it is deleted and never used for a
/// retention check — and a canary written but whose deletion was never
/// recorded — deleted now, or found deleted. Every step is recorded
/// (`phase` `recovered`, or the usual `intent`/`done`), so no canary of the
/// agent stays live and the chain says what happened. Returns how many
/// were finished; a store that cannot answer now leaves them for the next
/// run.
///
/// # Errors
/// When the ledger or the evidence file cannot be written.
pub async fn finish_interrupted(
    cfg: &CanaryConfig,
    source: &dyn RecoverySource,
    recorder: &Mutex<Recorder>,
) -> Result<usize, CanaryError> {
    let f = Finisher {
        cfg,
        source,
        recorder,
        info: source.describe(),
        agent: AgentInfo::current(),
        boot_id: crate::host::boot_id(),
    };
    let (writes, rows) = {
        let r = lock(recorder);
        (
            r.ledger.canary_writes_unfinished(&cfg.name, &f.info.name)?,
            r.ledger.canaries_not_deleted(&cfg.name, &f.info.name)?,
        )
    };
    let mut finished = 0;
    for (operation, key, pid, boot) in writes {
        let ours = key.starts_with(&cfg.key_prefix) && !cfg.key_prefix.is_empty();
        if ours && !f.in_flight(pid, boot.as_deref()) && f.finish_write(&operation, &key).await? {
            finished += 1;
        }
    }
    for (row, (pid, boot)) in rows {
        if !f.in_flight(pid, boot.as_deref()) && f.finish_deletion(&row).await? {
            finished += 1;
        }
    }
    Ok(finished)
}

//! `undelete` mode: a soft-deleted blob is undeleted, verified and deleted
//! again, each step recorded as evidence before it is taken.

use super::restore::RestoreEnv;
use super::*;

/// One step of a change an `undelete` restore makes to the live container.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct MutationStep {
    pub(super) recovery_point: Candidate,
    /// `undelete` or `redelete`.
    pub(super) action: &'static str,
    /// `intent` (recorded before acting), `done` or `failed`.
    pub(super) phase: &'static str,
    pub(super) prior_state: &'static str,
    pub(super) error: Option<String>,
}

/// A step to record, and where to say whether it was recorded.
pub(super) type MutationRequest = (
    MutationStep,
    tokio::sync::oneshot::Sender<Result<(), String>>,
);

impl RestoreEnv {
    /// Records and takes one step; the step is taken only once its intent is
    /// durably recorded.
    async fn step(
        &self,
        c: &Candidate,
        action: &'static str,
        prior_state: &'static str,
    ) -> Result<(), SourceError> {
        let record = |phase: &'static str, error: Option<String>| {
            let (ack, done) = tokio::sync::oneshot::channel();
            let step = MutationStep {
                recovery_point: c.clone(),
                action,
                phase,
                prior_state,
                error,
            };
            let sent = self.mutations.send((step, ack));
            async move {
                sent.map_err(|_| "the drill stopped recording".to_owned())?;
                done.await
                    .map_err(|_| "the drill stopped recording".to_owned())?
            }
        };
        record("intent", None).await.map_err(|e| {
            SourceError::new(
                ErrorClass::Config,
                format!("not attempting {action}: its intent could not be recorded: {e}"),
            )
        })?;
        let (outcome, _) = with_retries(self.attempts, action, || async {
            match action {
                "undelete" => self.source.undelete(c).await,
                _ => self.source.redelete(c).await,
            }
        })
        .await;
        let _ = match &outcome {
            Ok(()) => record("done", None).await,
            Err(e) => record("failed", Some(e.to_string())).await,
        };
        outcome
    }

    /// `undelete` mode for a soft-deleted blob: undelete it, verify it like
    /// any recovery point, and put the soft-deleted state back. Each step is
    /// an evidence event recorded before it is taken.
    pub(super) async fn undelete_and_verify(
        &self,
        index: usize,
        c: Candidate,
        baseline: Option<Baseline>,
        started: Instant,
        result: SampleResult,
    ) -> (SampleResult, bool) {
        if c.snapshot.is_some() {
            let mut r = result;
            r.verdict = Verdict::Skipped;
            r.reason = Some(
                "a soft-deleted snapshot of a live blob: Undelete Blob would restore every soft-deleted snapshot of that blob, so it is not undeleted"
                    .into(),
            );
            r.duration_ms = started.elapsed().as_millis() as u64;
            return (r, false);
        }
        if let Err(e) = self.step(&c, "undelete", "soft-deleted").await {
            return (self.failed(result, e, started), false);
        }
        let live = Candidate {
            deleted: None,
            // Undelete Blob may give the blob a new ETag; its Content-MD5,
            // size and version stay and bind the response.
            etag: None,
            ..c.clone()
        };
        let (mut verified, new_baseline) =
            Box::pin(self.restore_and_verify(index, live, baseline)).await;
        verified.recovery_point = c.clone();
        if let Err(e) = self
            .step(&c, "redelete", "live (undeleted by this drill)")
            .await
        {
            tracing::error!(key = %c.key, error = %e, "An undeleted blob could not be deleted again; delete it by hand to restore the soft-deleted state.");
            let note = format!("the blob could not be put back into its soft-deleted state: {e}");
            verified.reason = Some(match verified.reason.take() {
                Some(r) => format!("{r}; {note}"),
                None => note,
            });
        }
        verified.duration_ms = started.elapsed().as_millis() as u64;
        (verified, new_baseline)
    }
}

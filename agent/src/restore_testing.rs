//! The validator AWS Backup restore testing leaves to its users
//! (`[aws_backup]`): for each event of a completed S3 restore job on the
//! queue, post `VALIDATING`, judge every key of the bucket the restore wrote
//! against the source bucket's versions current at the recovery point's
//! creation (their own references: stored checksums, MD5 ETags, first-seen
//! baselines), record the run in the chain like a drill (trigger
//! `aws_backup`), post `SUCCESSFUL` or `FAILED` with the counts and the run
//! id, and only then delete the message.
//!
//! A message it cannot handle is recorded once (`restore_test_unhandled`)
//! and left on the queue for a person (after the queue's
//! `maxReceiveCount`, in its dead-letter queue): never dropped. The
//! validation window is kept: a job whose window has passed gets
//! `TIMED_OUT` at once, and a run that would outlast it stops and posts
//! `TIMED_OUT` before it closes.

use crate::config::{AwsBackupConfig, Config, SourceConfig};
use crate::drill::{AwsBackupRun, Drill, RunSummary, Trigger};
use crate::evidence::{AgentInfo, Body, Event, EventKind};
use crate::ledger::recorder::{lock, Recorder};
use crate::outcome::RunOutcome;
use crate::providers::s3::backup::{Queued, RestoreJob, RestoreTesting, StateChange, Validation};
use crate::shutdown::Stop;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

/// How long before the validation window closes a run stops, to post its
/// result in time.
const MARGIN: Duration = Duration::from_secs(120);

/// What became of one message.
#[derive(Debug, Clone, Serialize)]
pub struct Handled {
    pub message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_job_id: Option<String>,
    /// `validated`, `timed_out`, `already_validated` (the message was a
    /// repeat), `left_for_a_person`, or `error` (it stays on the queue and
    /// comes back).
    pub outcome: &'static str,
    /// The validation posted last (`SUCCESSFUL`, `FAILED`, `TIMED_OUT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posted: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The recorded run, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<RunSummary>,
}

/// The validator: its configuration, the queue and AWS Backup.
#[derive(Debug)]
pub struct Validator<'a> {
    config: &'a Config,
    aws: &'a AwsBackupConfig,
    client: RestoreTesting,
}

impl<'a> Validator<'a> {
    /// The validator of `config`'s `[aws_backup]` (`None` without one).
    pub async fn new(config: &'a Config) -> Option<Self> {
        let aws = config.aws_backup.as_ref()?;
        let Some(SourceConfig::S3(s3)) = config.sources.get(&aws.source) else {
            return None;
        };
        let client = RestoreTesting::new(
            s3,
            &aws.queue_url,
            aws.sqs_endpoint.as_deref(),
            aws.backup_endpoint.as_deref(),
        )
        .await;
        Some(Self {
            config,
            aws,
            client,
        })
    }

    /// Takes the messages waiting (up to 10, waiting up to `wait_secs`
    /// for the first) and handles each. A message whose handling failed
    /// part-way (AWS Backup or the queue did not answer, the ledger could
    /// not be written) stays on the queue and comes back: its outcome is
    /// `error`, with the reason.
    ///
    /// # Errors
    /// The queue cannot be read.
    pub async fn once(
        &self,
        recorder: &Mutex<Recorder>,
        stop: &Stop,
        wait_secs: i32,
    ) -> Result<Vec<Handled>, String> {
        let messages = self.client.receive(10, wait_secs).await?;
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            let handled = self.handle(&m, recorder, stop).await;
            out.push(handled.unwrap_or_else(|reason| {
                tracing::error!(message_id = %m.message_id, reason, "A restore-testing event could not be handled; it stays on the queue and comes back.");
                Handled {
                    message_id: m.message_id.clone(),
                    restore_job_id: StateChange::completed_s3_restore(&m.body)
                        .ok()
                        .map(|e| e.detail.restore_job_id),
                    outcome: "error",
                    posted: None,
                    reason: Some(reason),
                    summary: None,
                }
            }));
        }
        Ok(out)
    }

    async fn handle(
        &self,
        m: &Queued,
        recorder: &Mutex<Recorder>,
        stop: &Stop,
    ) -> Result<Handled, String> {
        let event = match StateChange::completed_s3_restore(&m.body) {
            Ok(e) => e,
            Err(why) => return self.leave(m, None, why, recorder),
        };
        let id = event.detail.restore_job_id.clone();
        let job = match self.client.describe(&id).await {
            Ok(j) => j,
            Err(why) => return self.leave(m, Some(&id), why, recorder),
        };
        if job.restore_testing_plan_arn.is_none() {
            let why = format!("restore job {id} was not started by a restore testing plan: there is no validation to post");
            return self.leave(m, Some(&id), why, recorder);
        }
        if let Some(s @ ("SUCCESSFUL" | "FAILED" | "TIMED_OUT")) = job.validation_status.as_deref()
        {
            // A repeat of a message whose validation was posted.
            self.client.delete(m).await?;
            return Ok(Handled {
                message_id: m.message_id.clone(),
                restore_job_id: Some(id),
                outcome: "already_validated",
                posted: None,
                reason: Some(format!("its validation was already posted ({s})")),
                summary: None,
            });
        }
        let Some((name, source)) = self.source_of(&job) else {
            let why = format!(
                "restore job {id} restored bucket {}, which no S3 source under [sources] names: add it as a source",
                job.source_bucket.as_deref().unwrap_or("(unnamed)")
            );
            return self.leave(m, Some(&id), why, recorder);
        };
        let (Some(created), Some(at)) = (job.created_bucket.clone(), job.recovery_point_created)
        else {
            let why = format!("AWS Backup names no restored bucket or no recovery point time for restore job {id}");
            return self.leave(m, Some(&id), why, recorder);
        };
        let left = self.window_left(&job);
        if left <= MARGIN {
            let message = "restoreproof received this restore job's event too late to validate it within the validation window";
            self.client.post(&id, Validation::TimedOut, message).await?;
            self.client.delete(m).await?;
            return Ok(Handled {
                message_id: m.message_id.clone(),
                restore_job_id: Some(id),
                outcome: "timed_out",
                posted: Some("TIMED_OUT"),
                reason: Some(message.into()),
                summary: None,
            });
        }
        self.client
            .post(
                &id,
                Validation::Validating,
                "restoreproof is validating the restored bucket",
            )
            .await?;
        let summary = self
            .run(
                name,
                source,
                &created,
                at,
                &job,
                left - MARGIN,
                recorder,
                stop,
            )
            .await?;
        let (status, posted) = match (summary.status, summary.outcome) {
            (crate::drill::RunStatus::Aborted, _) => (Validation::TimedOut, "TIMED_OUT"),
            (_, Some(RunOutcome::Passed)) => (Validation::Successful, "SUCCESSFUL"),
            _ => (Validation::Failed, "FAILED"),
        };
        self.client.post(&id, status, &message(&summary)).await?;
        self.client.delete(m).await?;
        Ok(Handled {
            message_id: m.message_id.clone(),
            restore_job_id: Some(id),
            outcome: if posted == "TIMED_OUT" {
                "timed_out"
            } else {
                "validated"
            },
            posted: Some(posted),
            reason: None,
            summary: Some(summary),
        })
    }

    /// The configured S3 source whose bucket the job restored.
    fn source_of(&self, job: &RestoreJob) -> Option<(&'a str, &'a crate::config::S3SourceConfig)> {
        let bucket = job.source_bucket.as_deref()?;
        self.config.sources.iter().find_map(|(n, s)| match s {
            SourceConfig::S3(c) if c.bucket == bucket => Some((n.as_str(), c)),
            _ => None,
        })
    }

    /// What is left of the job's validation window.
    fn window_left(&self, job: &RestoreJob) -> Duration {
        let ends = job.completed.unwrap_or_else(chrono::Utc::now)
            + chrono::Duration::from_std(self.aws.validation_window).unwrap_or_default();
        (ends - chrono::Utc::now()).to_std().unwrap_or_default()
    }

    /// The run: the source and the restored bucket built with the source's
    /// settings, every key judged and recorded.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        name: &str,
        source: &crate::config::S3SourceConfig,
        created: &str,
        at: chrono::DateTime<chrono::Utc>,
        job: &RestoreJob,
        budget: Duration,
        recorder: &Mutex<Recorder>,
        stop: &Stop,
    ) -> Result<RunSummary, String> {
        let drill = &self.aws.drill;
        let options = crate::source::BuildOptions::for_drill(drill);
        let restored_config = crate::config::S3SourceConfig {
            bucket: created.to_owned(),
            prefix: String::new(),
            inventory: None,
            list_concurrency: 1,
            ..source.clone()
        };
        let build = |n: String, c: SourceConfig| async move {
            crate::providers::build(&n, &c, options)
                .await
                .map_err(|e| format!("cannot reach {n}: {e}"))
        };
        let src = build(name.to_owned(), SourceConfig::S3(source.clone())).await?;
        let restored = build(
            format!("{name} (restored)"),
            SourceConfig::S3(restored_config),
        )
        .await?;
        let mut d = Drill {
            config: drill,
            recorder,
            stop: stop.clone(),
            trigger: Trigger::AwsBackup,
        };
        let run = AwsBackupRun {
            restore_job_id: job.restore_job_id.clone(),
            recovery_point_arn: job.recovery_point_arn.clone(),
            recovery_point_created_at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            restored_bucket: created.to_owned(),
            restore_testing_plan_arn: job.restore_testing_plan_arn.clone(),
            failures: Vec::new(),
        };
        d.restore_test(src, restored, at, run, std::time::Instant::now() + budget)
            .await
            .map_err(|e| e.to_string())
    }

    /// Records (once per message and reason) a message the validator cannot
    /// handle, and leaves it on the queue.
    fn leave(
        &self,
        m: &Queued,
        job: Option<&str>,
        reason: String,
        recorder: &Mutex<Recorder>,
    ) -> Result<Handled, String> {
        let mut r = lock(recorder);
        if !r
            .ledger
            .unhandled_recorded(&m.message_id, &reason)
            .map_err(|e| e.to_string())?
        {
            let mut event = Event::new(
                None,
                &Unhandled {
                    agent: &AgentInfo::current(),
                    message_id: &m.message_id,
                    restore_job_id: job,
                    queue_url: &self.aws.queue_url,
                    reason: &reason,
                },
            );
            r.commit(&mut event, |l, e| l.record_event(e))
                .map_err(|e| e.to_string())?;
            tracing::warn!(message_id = %m.message_id, reason, "A restore-testing message is left on the queue for a person.");
        }
        Ok(Handled {
            message_id: m.message_id.clone(),
            restore_job_id: job.map(str::to_owned),
            outcome: "left_for_a_person",
            posted: None,
            reason: Some(reason),
            summary: None,
        })
    }
}

/// The validation message: counts, the run, the first failures.
fn message(s: &RunSummary) -> String {
    let c = &s.counts;
    let mut m = format!(
        "restoreproof run {}: {} of {} object(s) verified against the source's versions at the recovery point; {} mismatch, {} unrecoverable, {} without a reference",
        s.run_id, c.verified, s.sampled, c.mismatch, c.unrecoverable, c.no_reference
    );
    if let Some(e) = s.error.as_deref().or(s.reason.as_deref()) {
        m.push_str(". ");
        m.push_str(e);
    }
    if let Some(b) = &s.aws_backup {
        for f in &b.failures {
            m.push_str("; ");
            m.push_str(f);
        }
    }
    m.chars().take(1000).collect()
}

/// The body of a `restore_test_unhandled` event.
#[derive(Serialize)]
struct Unhandled<'a> {
    agent: &'a AgentInfo,
    message_id: &'a str,
    restore_job_id: Option<&'a str>,
    queue_url: &'a str,
    reason: &'a str,
}

impl Body for Unhandled<'_> {
    const KIND: EventKind = EventKind::RestoreTestUnhandled;
}

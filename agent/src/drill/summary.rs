//! What a drill produces: one result per sampled recovery point, verdict
//! counts, and the run summary recorded as the run's last evidence event.

use super::*;

/// The outcome of restoring one recovery point.
#[derive(Debug, Clone, Serialize)]
pub struct SampleResult {
    pub event_id: String,
    pub recovery_point: Candidate,
    pub verdict: Verdict,
    /// Why, for anything but `verified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<ErrorClass>,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub bytes: u64,
    pub duration_ms: u64,
    /// Attempts of the restore (or of reading the attributes, when that
    /// already failed).
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_side_encryption: Option<String>,
    /// `copy` mode: where the copy was made and whether it was removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy: Option<CopyRecord>,
    /// Why the recovery point was in the sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pick: Option<Pick>,
    /// Its immutability, judged against the source's protection policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection: Option<crate::verify::protection::Protection>,
    /// Entropy and content type of the restored bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<crate::verify::content::ContentFacts>,
    /// `provider_checksum`: the S3 Batch Operations job that computed the
    /// checksum at rest (nothing was restored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_checksum: Option<ProviderCheck>,
}

/// The job that checked a recovery point at rest, and how.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ProviderCheck {
    pub job_id: String,
    /// As S3 Control names it: `SHA256`, `MD5`, `CRC64NVME`, ...
    pub algorithm: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub checksum_type: String,
}

/// The server-side copy a `copy`-mode restore made and verified.
#[derive(Debug, Clone, Serialize)]
pub struct CopyRecord {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The copy was deleted after verification.
    pub removed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal_error: Option<String>,
}

impl SampleResult {
    /// A verdict for a restore whose task died (a bug): recorded as
    /// `unrecoverable`, so nothing is silently lost.
    pub(super) fn internal_error(c: Candidate, why: &str) -> Self {
        let mut r = Self::unrecoverable(c);
        r.reason = Some(format!("internal error in the restore task: {why}"));
        r
    }

    /// A result that is `unrecoverable` until the restore proves otherwise.
    pub(super) fn unrecoverable(c: Candidate) -> Self {
        Self {
            event_id: uuid::Uuid::now_v7().to_string(),
            recovery_point: c,
            verdict: Verdict::Unrecoverable,
            reason: None,
            error_class: None,
            checks: Vec::new(),
            sha256: None,
            bytes: 0,
            duration_ms: 0,
            attempts: 0,
            server_side_encryption: None,
            copy: None,
            pick: None,
            protection: None,
            content: None,
            provider_checksum: None,
        }
    }
}

pub use crate::evidence::record::Counts;

impl Counts {
    pub(super) fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Verified => self.verified += 1,
            Verdict::Mismatch => self.mismatch += 1,
            Verdict::Unrecoverable => self.unrecoverable += 1,
            Verdict::NoReference => self.no_reference += 1,
            Verdict::Skipped => self.skipped += 1,
            Verdict::Aborted => self.aborted += 1,
        }
    }
}

/// How a run ended, as the ledger's `runs.status` and every run summary
/// say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum RunStatus {
    /// Every sampled recovery point got its verdict.
    Completed,
    /// Stopped before it finished (the agent was stopping); the verdicts
    /// recorded stand.
    Aborted,
    /// Could not run: the source could not be listed, or the agent's host
    /// failed (exit 2).
    Error,
    /// `provider_checksum`: its jobs were submitted and the run waits for
    /// them; whoever collects them records the verdicts and finishes it.
    Waiting,
}

impl RunStatus {
    /// The word the ledger stores.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A person or script: `restoreproof drill`.
    Manual,
    /// The service, on the drill's schedule.
    Schedule,
    /// `restoreproof merge`: one run from the shards of a sharded run.
    Shards,
    /// An AWS Backup restore test: the bucket a restore job wrote, judged
    /// by the restore-testing validator.
    AwsBackup,
}

/// The run summary, recorded as the run's last evidence event.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub drill: String,
    pub source: SourceInfo,
    pub status: RunStatus,
    pub trigger: Trigger,
    /// How the run ended (see [`crate::outcome`]); set when it finishes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<crate::outcome::RunOutcome>,
    /// Why the outcome is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub strategy: Strategy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub mode: RestoreMode,
    /// Which references were hashed.
    pub verify: VerifyPolicy,
    pub sample_size: SampleSize,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub population: Population,
    /// How the population was obtained: `listing`, or `inventory` (a
    /// report taken at `population_as_of`).
    pub population_from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub population_as_of: Option<String>,
    /// The shard this run is (`drill --shard`): its sample is the shard's
    /// part of the drill's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::config::Shard>,
    /// A merged run (`restoreproof merge`): the shards it was made of and
    /// how each was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<super::merge::MergedShards>,
    pub sampled: u64,
    pub sampled_bytes: u64,
    pub counts: Counts,
    /// Sampled recovery points never restored because the agent stopped.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_started: u64,
    pub bytes_restored: u64,
    pub throughput_bytes_per_sec: u64,
    /// Whether the host clock was synchronised when the run started.
    pub clock: crate::host::ClockStatus,
    /// Calls the store turned out to lack during the run, and what the
    /// drill did instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub store: Vec<StoreCapability>,
    /// Rotating coverage, for a drill that sets `coverage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// Ransomware signals this run recorded (`suspicious_change` events).
    #[serde(skip_serializing_if = "is_zero")]
    pub suspicious_changes: u64,
    /// What the listing saw change recently, across keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<crate::sample::Activity>,
    /// The source's canaries this run restored, one per configured age.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<crate::canary::Check>,
    /// A restore test's run: which restore job, of which recovery point,
    /// wrote which bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_backup: Option<AwsBackupRun>,
    /// A `provider_checksum` run: its estimated cost and its jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_checksum: Option<ProviderRun>,
}

/// What a `provider_checksum` run submitted to S3 Batch Operations.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Default)]
pub struct ProviderRun {
    /// US dollars, at AWS's list price ([`crate::drill::provider::estimate`]).
    pub estimated_cost_usd: f64,
    pub max_cost_usd: f64,
    pub jobs: Vec<ProviderJob>,
}

/// One job of a `provider_checksum` run.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, Default)]
pub struct ProviderJob {
    pub job_id: String,
    pub algorithm: String,
    pub checksum_type: String,
    pub objects: u64,
    /// `s3://bucket/key` of its manifest.
    pub manifest: String,
    /// As `DescribeJob` last said (`Active`, `Complete`, `Failed`, ...).
    pub status: String,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// What an AWS Backup restore test's run judged.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AwsBackupRun {
    pub restore_job_id: String,
    pub recovery_point_arn: String,
    /// The versions current then are what the restore brings back.
    pub recovery_point_created_at: String,
    /// The bucket the restore wrote: the bytes judged are its.
    pub restored_bucket: String,
    pub restore_testing_plan_arn: Option<String>,
    /// The first keys that failed (up to 10), with their verdict and
    /// reason: what the validation message names.
    pub failures: Vec<String>,
}

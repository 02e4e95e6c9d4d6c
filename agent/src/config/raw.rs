//! The config file as written: serde types, unknown keys refused. Closed
//! sets (strategy, restore mode, verify policy) are enums here already.

use super::{posture, sink, Age, ByteSize, Missed, Percent, SampleSize, Secret};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The config file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `example = true` marks the example the packages install: it must be
    /// edited for the host (and the line removed) before it is used.
    #[serde(default)]
    pub example: bool,
    #[serde(default)]
    pub ledger: RawLedger,
    #[serde(default)]
    pub evidence: RawEvidence,
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub outbox: RawOutbox,
    #[serde(default)]
    pub posture: RawPostureRun,
    /// `[gate]`: the staleness gate's defaults for every drill.
    #[serde(default)]
    pub gate: RawGate,
    /// `[patch]`: the host's patch state, on a schedule and by policy.
    #[serde(default)]
    pub patch: RawPatch,
    #[serde(default)]
    pub sinks: BTreeMap<String, sink::RawSink>,
    #[serde(default)]
    pub sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    pub drills: BTreeMap<String, RawDrill>,
    #[serde(default)]
    pub canaries: BTreeMap<String, RawCanary>,
    /// `[aws_backup]`: the validator of AWS Backup restore testing.
    pub aws_backup: Option<RawAwsBackup>,
}

/// `[aws_backup]`: where the events of completed restore jobs arrive and
/// which source's AWS settings read them.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawAwsBackup {
    /// The SQS queue an EventBridge rule puts "Restore Job State Change"
    /// events on.
    pub queue_url: String,
    /// The S3 source whose AWS settings (profile, credentials, region) the
    /// validator uses; restore jobs are matched to the source whose bucket
    /// they restore.
    pub source: String,
    /// How long after a job completes its validation must be posted: at
    /// most the restore testing plan's validation window (default 1h).
    pub validation_window: Option<Age>,
    /// Which references are hashed (as a drill's `verify`).
    pub verify: Option<VerifyPolicy>,
    /// Endpoints other than AWS's own (a VPC endpoint, a local test server).
    pub sqs_endpoint: Option<String>,
    pub backup_endpoint: Option<String>,
}

/// `[canaries.NAME]`: canary recovery points that prove a source's
/// retention of deleted data end to end.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    /// An S3 or Azure Blob source.
    pub source: String,
    /// When the service writes (and deletes) a canary.
    pub schedule: Option<String>,
    /// IANA time zone of the schedule (default UTC).
    pub timezone: Option<String>,
    /// How long the policy claims deleted recovery points stay restorable.
    pub retention: Age,
    /// Canary ages each drill of the source restores (default 1d, 7d and
    /// `retention`).
    pub ages: Option<Vec<Age>>,
    /// Under the source's prefix; every write stays under it.
    pub prefix: Option<String>,
    /// Size of each canary's random content.
    pub size: Option<ByteSize>,
}

/// `[posture]`: when the service runs posture checks.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPostureRun {
    /// Cron expression (seconds optional).
    pub schedule: Option<String>,
    /// IANA time zone of the schedule (default UTC).
    pub timezone: Option<String>,
}

/// `[gate]` and `[drills.NAME.gate]`: when a drill's evidence is too old
/// or covers too little.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    /// A passed run (at least one `verified`, no failure) must have finished
    /// within this age.
    pub max_age: Option<Age>,
    /// Rotating coverage must be at least this share (drills with
    /// `coverage` only).
    pub min_coverage: Option<Percent>,
}

/// `[patch]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPatch {
    /// When the service records the host's patch state (cron).
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    /// The cloud's view beside the host's: `aws` (Systems Manager),
    /// `azure` (Update Manager) or `none` (the default).
    pub cloud: Option<String>,
    /// Where the instance metadata service and Systems Manager answer
    /// (defaults: the link-local IMDS and the region's endpoint).
    pub aws_imds_endpoint: Option<String>,
    pub aws_ssm_endpoint: Option<String>,
    /// Where Azure's instance metadata service and Resource Manager answer
    /// (defaults: the link-local IMDS and `https://management.azure.com`).
    pub azure_imds_endpoint: Option<String>,
    pub azure_management_endpoint: Option<String>,
    /// The user-assigned managed identity's client id (default: the one an
    /// Azure source's `managed_identity` auth names, else system-assigned).
    pub azure_client_id: Option<String>,
    #[serde(default)]
    pub policy: RawPatchPolicy,
}

/// `[patch.policy]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPatchPolicy {
    /// A security update pending longer than this fails (default 14d).
    pub max_security_age: Option<Age>,
    /// Automatic security updates must be enabled (default false).
    pub automatic_updates: Option<bool>,
    /// A reboot pending longer than this fails (default 7d).
    pub max_reboot_pending: Option<Age>,
    /// apt's package lists older than this fail the security check: updates
    /// published since are not seen (default 7d).
    pub max_package_lists_age: Option<Age>,
}

/// `[outbox]`: how long the ledger keeps evidence events for the sinks.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    /// Events older than this are removed from the outbox, delivered or not.
    pub max_age: Option<Age>,
    /// The outbox is trimmed, oldest first, to at most this size.
    pub max_bytes: Option<ByteSize>,
}

/// `[daemon]`: how `restoreproof run` behaves.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    /// Drills running at the same time (each drill never overlaps itself).
    pub max_concurrent_drills: Option<usize>,
    /// How long in-flight restores may finish after SIGTERM/SIGINT.
    pub shutdown_timeout: Option<Age>,
    /// How often the daemon records its heartbeat, rewrites the metrics
    /// file and (under systemd) pets the watchdog.
    pub heartbeat_interval: Option<Age>,
    /// Prometheus text-format file for node_exporter's textfile collector.
    pub metrics_file: Option<PathBuf>,
    /// Where the service answers `GET /metrics` (the same families as the
    /// file) and `GET /healthz` over HTTP, e.g. `0.0.0.0:9464`.
    pub metrics_listen: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLedger {
    /// SQLite file holding runs, samples, baselines and the evidence outbox.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawEvidence {
    /// JSON Lines file every evidence event is appended to.
    pub path: Option<PathBuf>,
    /// Ed25519 key (signed-note format) that signs checkpoints; created
    /// there on first use when missing.
    pub signing_key: Option<PathBuf>,
    /// A systemd credential holding the signing key instead.
    pub signing_key_credential: Option<String>,
    /// `[evidence.anchor]`: write-once storage every signed checkpoint is
    /// also written to.
    pub anchor: Option<RawAnchor>,
}

/// `[evidence.anchor]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawAnchor {
    /// An S3 source whose bucket has Object Lock enabled.
    pub source: String,
    /// How long each anchored checkpoint is locked (COMPLIANCE mode); at
    /// least as long as evidence is kept.
    pub retention: Option<Age>,
    /// Under the source's prefix.
    pub prefix: Option<String>,
}

/// A source, tagged by `kind`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawSource {
    S3(RawS3Source),
    AzureBlob(RawAzureSource),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAzureSource {
    /// `https://ACCOUNT.blob.core.windows.net` (or a custom endpoint).
    pub account_url: Option<String>,
    /// Storage account name, when `account_url` is not given.
    pub account: Option<String>,
    /// `public` (default), `china` or `usgovernment`: with `account`.
    pub cloud: Option<String>,
    pub container: String,
    pub prefix: Option<String>,
    /// Allow `undelete` drills, which change the live container (each
    /// undelete is put back and recorded as evidence).
    #[serde(default)]
    pub allow_undelete: bool,
    #[serde(default)]
    pub auth: RawAzureAuth,
    /// Required settings for `restoreproof posture`.
    #[serde(default)]
    pub posture: posture::RawPosture,
    /// What every sampled recovery point's immutability must be.
    pub protection: Option<super::protection::RawProtection>,
    /// Take the population from the account's Azure Blob Inventory reports
    /// instead of listing every blob.
    pub inventory: Option<RawInventory>,
}

/// How the agent signs in to Azure Storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ManagedIdentity,
    WorkloadIdentity,
    ServicePrincipal,
    AzureCli,
    Sas,
}

impl super::Choices for AuthMethod {
    const NOUN: &'static str = "an authentication method";
    const NAMES: &'static [&'static str] = &[
        "managed_identity",
        "workload_identity",
        "service_principal",
        "azure_cli",
        "sas",
    ];
}

impl AuthMethod {
    /// The name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ManagedIdentity => "managed_identity",
            AuthMethod::WorkloadIdentity => "workload_identity",
            AuthMethod::ServicePrincipal => "service_principal",
            AuthMethod::AzureCli => "azure_cli",
            AuthMethod::Sas => "sas",
        }
    }
}

/// How the agent authenticates to Azure Storage.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAzureAuth {
    /// `managed_identity` (default), `workload_identity`,
    /// `service_principal`, `azure_cli` or `sas`.
    pub method: Option<super::Choice<AuthMethod>>,
    /// User-assigned managed identity, service principal or workload
    /// identity client id.
    pub client_id: Option<String>,
    /// Service principal tenant.
    pub tenant_id: Option<String>,
    /// File holding the service principal's client secret.
    pub client_secret_file: Option<PathBuf>,
    /// PKCS#12 file holding the service principal's certificate and key
    /// (instead of a client secret).
    pub client_certificate_file: Option<PathBuf>,
    /// File holding the PKCS#12 password, if it has one.
    pub client_certificate_password_file: Option<PathBuf>,
    /// Name of a systemd credential (`LoadCredential=`) holding the client
    /// secret or the SAS token, read from `$CREDENTIALS_DIRECTORY`.
    pub credential: Option<String>,
    /// Environment variable holding a SAS token.
    pub sas_env: Option<String>,
    /// File holding a SAS token.
    pub sas_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawS3Source {
    pub bucket: String,
    pub prefix: Option<String>,
    pub region: Option<String>,
    /// S3-compatible endpoint, e.g. `https://minio.internal:9000`.
    pub endpoint: Option<String>,
    /// Accept an `http://` endpoint on another host (data unencrypted).
    pub allow_plain_http: Option<bool>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most
    /// S3-compatible stores. Defaults to true when `endpoint` is set.
    pub force_path_style: Option<bool>,
    /// A named profile from the shared AWS config/credentials files.
    pub profile: Option<String>,
    /// Static keys. Discouraged: prefer the environment, a profile, web
    /// identity or instance metadata. Redacted everywhere.
    pub credentials: Option<RawS3Credentials>,
    /// Required settings for `restoreproof posture`.
    #[serde(default)]
    pub posture: posture::RawPosture,
    /// What every sampled recovery point's immutability must be.
    pub protection: Option<super::protection::RawProtection>,
    /// Take the population from the bucket's S3 Inventory reports instead
    /// of listing every version.
    pub inventory: Option<RawInventory>,
    /// List this many key prefixes at once (1: one listing).
    pub list_concurrency: Option<u16>,
}

/// `[sources.NAME.inventory]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    /// The report destination: S3 `s3://BUCKET/PREFIX/SOURCE-BUCKET/CONFIG-ID/`
    /// as S3 writes it; Azure `https://ACCOUNT.blob.core.windows.net/CONTAINER/`.
    pub location: String,
    /// Azure: the inventory rule's name.
    pub rule: Option<String>,
    /// S3: read the reports with this shared-config profile instead of the
    /// source's credentials (a bucket in another account).
    pub profile: Option<String>,
    /// S3: read the reports with these keys instead of the source's.
    pub credentials: Option<RawS3Credentials>,
    /// S3: the reports' bucket's region, when not the source's.
    pub region: Option<String>,
    /// An older report fails the drill (default 8d).
    pub max_age: Option<Age>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawS3Credentials {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDrill {
    pub source: String,
    pub sample: Option<SampleSize>,
    pub strategy: Option<Strategy>,
    pub seed: Option<u64>,
    pub mode: Option<RestoreMode>,
    /// Which references to hash: `efficient` (default) or `thorough`.
    pub verify: Option<VerifyPolicy>,
    /// How verified samples are recorded: `each` (an event apiece, the
    /// default) or `batched` (under one Merkle root per group commit).
    pub record_verified: Option<RecordVerified>,
    pub concurrency: Option<usize>,
    pub attempts: Option<u32>,
    pub max_samples: Option<u64>,
    pub restore_timeout: Option<Age>,
    pub scratch_dir: Option<PathBuf>,
    /// Where `copy` mode puts its copies, inside the source's bucket or
    /// container; never sampled.
    pub copy_prefix: Option<String>,
    /// Cron expression for `restoreproof run` (seconds field optional).
    pub schedule: Option<String>,
    /// IANA time zone the schedule is read in (default UTC).
    pub timezone: Option<String>,
    /// Random delay of up to this much after each fire time.
    pub jitter: Option<Age>,
    /// Fire times missed while the agent was down: `skip` or `run_once`.
    pub missed: Option<Missed>,
    #[serde(default)]
    pub filter: RawFilter,
    /// Rotating coverage: every recovery point verified at least once per
    /// this period, as far as the budget allows.
    pub coverage: Option<Age>,
    /// This drill's staleness gate (over `[gate]`).
    pub gate: Option<RawGate>,
    /// `mode = "provider_checksum"`: the S3 Batch Operations job settings.
    pub provider_checksum: Option<RawProviderChecksum>,
}

/// `[drills.NAME.provider_checksum]`: where a `provider_checksum` drill's
/// S3 Batch Operations jobs take their manifest from and write their
/// completion report, the role they run as, and what a run may cost.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawProviderChecksum {
    /// The AWS account the jobs are created in (12 digits).
    pub account_id: Option<String>,
    /// The IAM role S3 Batch Operations assumes to run the job.
    pub role_arn: Option<String>,
    /// `s3://BUCKET/PREFIX/` where manifests are written.
    pub manifests: Option<String>,
    /// `s3://BUCKET/PREFIX/` where completion reports are written.
    pub reports: Option<String>,
    /// Refuse a run whose estimated cost (USD) is above this.
    pub max_cost: Option<f64>,
    /// S3 Control's endpoint, when not AWS's own (a VPC endpoint, tests).
    pub endpoint: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    pub min_size: Option<ByteSize>,
    pub max_size: Option<ByteSize>,
    pub max_age: Option<Age>,
    /// Whether current versions are candidates (`true` by default).
    pub include_current: Option<bool>,
    /// Whether noncurrent versions are candidates (`true` by default).
    pub include_noncurrent: Option<bool>,
}

/// How a drill picks its recovery points.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum Strategy {
    /// Uniformly at random, reproducible from the recorded seed.
    Uniform,
    /// The most recently written recovery points first.
    Newest,
    /// The oldest recovery points first.
    Oldest,
}

/// How a recovery point is restored (docs/drills.md).
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum RestoreMode {
    /// GET the exact version and hash the body as it streams; no side effects.
    Stream,
    /// Write to a scratch directory, fsync, re-read and hash, then remove.
    Local,
    /// Copy server-side into the drill prefix, restore and verify the copy,
    /// then delete it: exercises the provider's restore path and the
    /// agent's write permissions.
    Copy,
    /// Azure soft delete: undelete a soft-deleted blob, verify it, and delete
    /// it again. Only for sources with `allow_undelete = true`.
    Undelete,
    /// S3: nothing is restored; S3 Batch Operations computes each sampled
    /// version's checksum at rest and the drill compares it with the
    /// version's strongest independent reference (docs/aws.md).
    ProviderChecksum,
}

/// How a drill records its verified samples (`record_verified`).
/// Failures, `no_reference` and every other verdict are always an event of
/// their own.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum RecordVerified {
    /// One `sample_verdict` event per verified sample.
    #[default]
    Each,
    /// The verified samples of each group commit as compact ledger rows
    /// under one Merkle root, which a `sample_batch` event (in the chain,
    /// covered by the signed checkpoints) records; any one of them provable
    /// with an inclusion proof (`evidence prove`).
    Batched,
}

/// Which references a drill hashes (`verify` in a drill; see
/// [`crate::verify`]).
#[derive(
    Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum VerifyPolicy {
    /// SHA-256 (the baseline) plus the cheapest stored reference that proves
    /// the bytes; the others are listed as not computed.
    #[default]
    Efficient,
    /// Every reference that exists.
    Thorough,
}

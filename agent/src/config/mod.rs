//! Configuration: serde types that mirror the TOML file, a pure validation pass
//! that reports *every* problem at once with its key path, and the validated
//! [`Config`] the rest of the agent works with.
//!
//! Invariants:
//! - unknown keys are errors (`deny_unknown_fields`), so a typo never silently
//!   turns a setting off;
//! - defaults live in this module only ([`defaults`]);
//! - validation does no I/O: `restoreproof validate` is safe to run from
//!   systemd's `ExecStartPre=` and from tests; connecting happens when a source is
//!   built;
//! - relative paths are resolved against the directory of the config file;
//! - secrets are [`Secret`]s and never reach `Debug`, logs or evidence.

mod azure;
mod choice;
mod parse;
pub mod posture;
#[cfg(test)]
pub(crate) mod proptests;
pub mod protection;
pub mod provider_checksum;
mod raw;
pub mod schedule;
mod secret;
pub mod sink;
mod units;
mod validate;

pub use choice::{Choice, Choices};
pub use secret::{looks_like_credential, scrub, Secret};
pub use units::{age_text, human_bytes, Age, ByteSize, Percent, SampleSize};

pub use raw::*;
pub use schedule::{parse_schedule, Missed, Schedule, ScheduleError};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use validate::lexical;
pub use validate::validate;

/// Where `--config` points when it is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/restoreproof/config.toml";

/// Every default of the configuration, in one place.
pub mod defaults {
    /// The ledger under systemd's `StateDirectory=restoreproof`.
    pub const LEDGER_PATH: &str = "/var/lib/restoreproof/ledger.sqlite3";
    /// The evidence file under systemd's `LogsDirectory=restoreproof`.
    pub const EVIDENCE_PATH: &str = "/var/log/restoreproof/evidence.jsonl";
    /// Scratch space for `local` restores, under the state directory.
    /// Scratch space when the ledger's path has no directory (never, once
    /// resolved); otherwise `scratch/` beside the ledger.
    pub const SCRATCH_DIR: &str = "/var/lib/restoreproof/scratch";
    /// Recovery points restored by a drill that names no sample size.
    pub const SAMPLE: u64 = 10;
    /// Restores in flight at once within one drill.
    pub const CONCURRENCY: usize = 4;
    /// Attempts per restore (and per listing page) for transient errors.
    pub const ATTEMPTS: u32 = 4;
    /// Where `copy` mode writes its copies.
    pub const COPY_PREFIX: &str = "restoreproof-drill/";
    /// Where canaries live, under the source's prefix.
    pub const CANARY_PREFIX: &str = "restoreproof-canary/";
    /// Bytes of random content per canary.
    pub const CANARY_SIZE: u64 = 4096;
    /// Where anchored checkpoints live, under the anchor source's prefix.
    pub const ANCHOR_PREFIX: &str = "restoreproof-checkpoints/";
    /// How long an anchored checkpoint is locked by default.
    pub const ANCHOR_RETENTION_SECS: u64 = 400 * 86_400;
    /// How old the newest S3 Inventory report may be: 8 days (weekly reports
    /// and a day to deliver).
    pub const INVENTORY_MAX_AGE_SECS: u64 = 8 * 86_400;
    /// Hard cap on the recovery points one drill holds in its sample, whatever
    /// the sample size says: keeps memory bounded for byte budgets over many
    /// tiny objects.
    pub const MAX_SAMPLES: u64 = 100_000;
    /// Seconds one restore may take before it is abandoned as `timeout`.
    pub const RESTORE_TIMEOUT_SECS: u64 = 3600;
    /// AWS region when neither the config nor the environment names one.
    pub const S3_REGION: &str = "us-east-1";
    /// Drills the daemon runs at the same time.
    pub const MAX_CONCURRENT_DRILLS: usize = 2;
    /// Seconds in-flight restores get to finish after SIGTERM before they are
    /// cancelled and recorded as `aborted`.
    pub const SHUTDOWN_TIMEOUT_SECS: u64 = 30;
    /// Seconds between the daemon's heartbeats (ledger, metrics file,
    /// watchdog).
    pub const HEARTBEAT_SECS: u64 = 30;
    /// Time zone of drill schedules.
    pub const TIMEZONE: &str = "UTC";
    /// The staleness gate's maximum age of a drill's last passed run.
    pub const GATE_MAX_AGE_SECS: u64 = 7 * 86_400;

    /// `[sinks.NAME]`.
    pub mod sink {
        use std::time::Duration;

        /// Events per delivery.
        pub const BATCH_EVENTS: usize = 500;
        /// Bytes per delivery.
        pub const BATCH_BYTES: u64 = 1 << 20;
        /// Syslog facility.
        pub const FACILITY: &str = "local0";
        /// Syslog APP-NAME.
        pub const APP_NAME: &str = "restoreproof";
        /// Syslog SD-ID of the `restoreproof` structured-data element (32473
        /// is the IANA example enterprise number).
        pub const SD_ID: &str = "restoreproof@32473";
        /// HTTP request timeout.
        pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
        /// Elasticsearch index (or data stream).
        pub const ELASTICSEARCH_INDEX: &str = "restoreproof-evidence";
        /// A file sink's size before it rotates.
        pub const FILE_MAX_SIZE: u64 = 100 << 20;
        /// Rotated files a file sink keeps.
        pub const FILE_KEEP: u32 = 10;
    }
}

/// Whether `url` is plain `http://` to a host other than this machine
/// (anything but `localhost`, 127.0.0.0/8 and `::1`): what it carries, and
/// any token, crosses the network unencrypted.
pub(crate) fn plain_http_off_host(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    u.scheme() == "http"
        && !match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

/// AWS regions this release knows (commercial, GovCloud, China, European
/// Sovereign Cloud). A region added later works with `endpoint` set to its
/// S3 URL.
pub const AWS_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
];

/// One problem found by validation: where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `sources.prod.bucket`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A value pasted into the wrong setting may be a credential: it is
        // never repeated.
        write!(f, "{}: {}", self.path, secret::scrub(&self.message))
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; pass --config PATH or create the file")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a valid restoreproof config: {}",
        secret::scrub(message)
    )]
    Parse { path: PathBuf, message: String },
    #[error("{path} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// All problems, for `validate --json`.
    pub fn problems(&self) -> Vec<Problem> {
        let problems = match self {
            ConfigError::Read { source, .. } => vec![Problem {
                path: "(file)".into(),
                message: source.to_string(),
            }],
            ConfigError::Parse { message, .. } => vec![Problem {
                path: "(syntax)".into(),
                message: message.clone(),
            }],
            ConfigError::Invalid { problems, .. } => problems.clone(),
        };
        problems
            .into_iter()
            .map(|p| Problem {
                message: secret::scrub(&p.message),
                ..p
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// The validated configuration.

/// A configuration that passed validation. Paths are absolute or relative to
/// the working directory (already resolved against the config file's directory).
#[derive(Debug, Clone)]
pub struct Config {
    pub ledger_path: PathBuf,
    pub evidence_path: PathBuf,
    /// Where the checkpoint signing key comes from.
    pub signing_key: SecretSource,
    pub daemon: DaemonConfig,
    pub outbox: OutboxConfig,
    /// When the service runs posture checks; `None`: only on demand.
    pub posture_schedule: Option<Schedule>,
    /// Where evidence is shipped, by name.
    pub sinks: BTreeMap<String, sink::SinkConfig>,
    pub sources: BTreeMap<String, SourceConfig>,
    pub drills: BTreeMap<String, DrillConfig>,
    pub canaries: BTreeMap<String, CanaryConfig>,
    /// Write-once storage signed checkpoints are anchored in.
    pub anchor: Option<AnchorConfig>,
    /// When the service records the host's patch state; `None`: on demand.
    pub patch_schedule: Option<Schedule>,
    /// What the host's patch state must be.
    pub patch_policy: PatchPolicy,
    /// The cloud's view to ask for beside the host's.
    pub patch_cloud: Option<PatchCloud>,
    /// The validator of AWS Backup restore testing.
    pub aws_backup: Option<AwsBackupConfig>,
}

/// `[aws_backup]`, validated.
#[derive(Debug, Clone)]
pub struct AwsBackupConfig {
    pub queue_url: String,
    /// The S3 source whose AWS settings the validator uses.
    pub source: String,
    pub validation_window: std::time::Duration,
    pub sqs_endpoint: Option<String>,
    pub backup_endpoint: Option<String>,
    /// How each restore test is run and recorded: every key of the
    /// restored bucket, as the pseudo-drill `restore-testing`.
    pub drill: DrillConfig,
}

/// The drill name restore tests are recorded under.
pub const RESTORE_TESTING: &str = "restore-testing";

/// `[patch] cloud`, validated: where the cloud's view of this machine's
/// patch state is asked for (`None` endpoints: the cloud's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchCloud {
    /// AWS Systems Manager Patch Manager.
    Aws {
        imds: Option<String>,
        ssm: Option<String>,
    },
    /// Azure Update Manager.
    Azure {
        imds: Option<String>,
        management: Option<String>,
        /// A user-assigned managed identity's client id.
        client_id: Option<String>,
    },
}

/// `[patch.policy]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchPolicy {
    /// A pending security update older than this fails (by its release
    /// date where the package manager gives one, else since the agent
    /// first saw it pending).
    pub max_security_age: std::time::Duration,
    pub automatic_updates: bool,
    pub max_reboot_pending: std::time::Duration,
    /// apt's package lists must have been updated within this.
    pub max_package_lists_age: std::time::Duration,
}

impl Default for PatchPolicy {
    fn default() -> Self {
        Self {
            max_security_age: std::time::Duration::from_secs(14 * 86_400),
            automatic_updates: false,
            max_reboot_pending: std::time::Duration::from_secs(7 * 86_400),
            max_package_lists_age: std::time::Duration::from_secs(7 * 86_400),
        }
    }
}

/// `[evidence.anchor]`, validated.
#[derive(Debug, Clone)]
pub struct AnchorConfig {
    /// The S3 source whose bucket holds the anchored checkpoints.
    pub source: String,
    pub s3: S3SourceConfig,
    /// Each checkpoint's COMPLIANCE-mode retention.
    pub retention: std::time::Duration,
    /// Where checkpoints are written: the source's prefix, then this.
    pub key_prefix: String,
}

/// `[canaries.NAME]`, validated.
#[derive(Debug, Clone)]
pub struct CanaryConfig {
    pub name: String,
    pub source: String,
    pub schedule: Option<Schedule>,
    /// How long deleted recovery points must stay restorable.
    pub retention: std::time::Duration,
    /// Ages restored by each drill of the source, shortest first, each at
    /// most `retention`.
    pub ages: Vec<std::time::Duration>,
    /// Where canaries live: the source's prefix, then the canary prefix.
    pub key_prefix: String,
    pub size: u64,
}

/// `[outbox]`, validated: `None` keeps events for ever.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxConfig {
    pub max_age: Option<std::time::Duration>,
    pub max_bytes: Option<u64>,
}

/// `[daemon]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub max_concurrent_drills: usize,
    pub shutdown_timeout: std::time::Duration,
    pub heartbeat_interval: std::time::Duration,
    pub metrics_file: Option<PathBuf>,
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// One validated source.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    S3(S3SourceConfig),
    AzureBlob(AzureSourceConfig),
}

impl SourceConfig {
    /// The provider, as `kind` names it in the config.
    pub fn kind(&self) -> Provider {
        match self {
            SourceConfig::S3(_) => Provider::S3,
            SourceConfig::AzureBlob(_) => Provider::AzureBlob,
        }
    }
}

/// A kind of source: where recovery points live. Named as a source's
/// `kind` is in the config and in evidence (`source.kind`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Provider {
    /// Amazon S3 and S3-compatible stores.
    S3,
    /// Azure Blob Storage.
    AzureBlob,
}

/// What a kind of source can do, declared once: `validate` checks a
/// configuration against it, the conformance suite checks each provider's
/// source against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// Keeps older versions of an object (S3 versioning; Azure versions
    /// and snapshots).
    pub versions: bool,
    /// Keeps deleted objects for a retention period (Azure soft delete).
    pub soft_delete: bool,
    /// Makes a soft-deleted object live again: `mode = "undelete"`.
    pub undelete: bool,
    /// Write-once retention the agent can write and read back (S3 Object
    /// Lock): `[evidence.anchor]`.
    pub object_lock: bool,
    /// Checksums stored with each object and read without its bytes (S3
    /// additional checksums and ETags; Azure Content-MD5).
    pub stored_checksums: bool,
    /// Copies an object server-side: `mode = "copy"`.
    pub copy: bool,
    /// The agent can write and delete its own canaries.
    pub canaries: bool,
    /// A population read from the provider's inventory reports instead of
    /// a listing.
    pub inventory: bool,
    /// Checksums the provider computes over stored bytes without a
    /// download (not in this release).
    pub provider_checksums: bool,
}

impl Provider {
    /// What sources of this kind can do.
    pub const fn capabilities(self) -> Capabilities {
        match self {
            Provider::S3 => Capabilities {
                versions: true,
                soft_delete: false,
                undelete: false,
                object_lock: true,
                stored_checksums: true,
                copy: true,
                canaries: true,
                inventory: true,
                provider_checksums: false,
            },
            Provider::AzureBlob => Capabilities {
                versions: true,
                soft_delete: true,
                undelete: true,
                object_lock: false,
                stored_checksums: true,
                copy: true,
                canaries: true,
                inventory: true,
                provider_checksums: false,
            },
        }
    }

    /// The scheme of a recovery point's URL: `s3://bucket/key`,
    /// `azure://container/key`.
    pub fn url_scheme(self) -> &'static str {
        match self {
            Provider::S3 => "s3",
            Provider::AzureBlob => "azure",
        }
    }

    /// The cloud, as OCSF's `cloud.provider` and ECS's `cloud.provider` name it.
    pub fn cloud(self) -> &'static str {
        match self {
            Provider::S3 => "AWS",
            Provider::AzureBlob => "Azure",
        }
    }

    /// What a recovery point of this provider is, for people.
    pub fn point_type(self) -> &'static str {
        match self {
            Provider::S3 => "AWS S3 object version",
            Provider::AzureBlob => "Azure Blob",
        }
    }
}

/// A validated Azure Blob source.
#[derive(Debug, Clone)]
pub struct AzureSourceConfig {
    /// Service URL without a trailing slash or query.
    pub account_url: String,
    pub container: String,
    pub prefix: String,
    /// `undelete` drills may change this container.
    pub allow_undelete: bool,
    pub auth: AzureAuth,
    /// What `restoreproof posture` requires of the account and container.
    pub posture: posture::Policy,
    /// What every sampled recovery point's immutability must be.
    pub protection: Option<protection::ProtectionPolicy>,
    /// The population from Azure Blob Inventory reports instead of a listing.
    pub inventory: Option<InventoryConfig>,
}

/// Where a secret comes from; read when the source is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
    /// A systemd credential name under `$CREDENTIALS_DIRECTORY`.
    SystemdCredential(String),
}

impl SecretSource {
    /// Reads the secret (trimmed). `what` names it in the error.
    ///
    /// # Errors
    /// [`SecretError`], naming where the secret was expected and how to
    /// provide it.
    pub fn read(&self, what: &str) -> Result<Secret, SecretError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| SecretError::Read {
                what: what.to_owned(),
                path: p.to_owned(),
                source,
            })
        };
        let value = match self {
            SecretSource::File(p) => read(p)?,
            SecretSource::Env(v) => std::env::var(v).map_err(|_| SecretError::NoEnv {
                what: what.to_owned(),
                var: v.clone(),
            })?,
            SecretSource::SystemdCredential(n) => {
                let dir = std::env::var("CREDENTIALS_DIRECTORY").map_err(|_| {
                    SecretError::NoCredentials {
                        what: what.to_owned(),
                        name: n.clone(),
                    }
                })?;
                read(&Path::new(&dir).join(n))?
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError::Empty(what.to_owned()));
        }
        Ok(Secret::new(value))
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read {what} from {}: {source}", secret::scrub(&path.display().to_string()))]
    Read {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{what} is expected in the environment variable {}, which is not set",
        secret::scrub(var)
    )]
    NoEnv { what: String, var: String },
    #[error("{what} is expected in the systemd credential `{name}`, but CREDENTIALS_DIRECTORY is not set; add LoadCredential={name}:/path to the unit")]
    NoCredentials { what: String, name: String },
    #[error("{0} is empty")]
    Empty(String),
}

/// A validated Azure authentication method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureAuth {
    ManagedIdentity {
        client_id: Option<String>,
    },
    WorkloadIdentity {
        client_id: Option<String>,
    },
    ServicePrincipal {
        tenant_id: String,
        client_id: String,
        secret: SecretSource,
    },
    ServicePrincipalCertificate {
        tenant_id: String,
        client_id: String,
        certificate: PathBuf,
        password: Option<PathBuf>,
    },
    AzureCli,
    Sas(SecretSource),
}

#[derive(Debug, Clone)]
pub struct S3SourceConfig {
    pub bucket: String,
    /// Empty when the whole bucket is the source.
    pub prefix: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    pub profile: Option<String>,
    pub credentials: Option<S3StaticCredentials>,
    /// What `restoreproof posture` requires of the bucket.
    pub posture: posture::Policy,
    /// What every sampled recovery point's lock must be.
    pub protection: Option<protection::ProtectionPolicy>,
    /// The population from S3 Inventory reports instead of a listing.
    pub inventory: Option<InventoryConfig>,
    /// Key prefixes listed at once (1: one listing).
    pub list_concurrency: usize,
}

/// Shard `index` of `count` (0-based, as a Kubernetes Indexed Job's
/// `JOB_COMPLETION_INDEX` and an AWS Batch array's
/// `AWS_BATCH_JOB_ARRAY_INDEX` count): every shard draws the same sample
/// and keeps the recovery points whose stable hash falls to it, so the
/// shards are disjoint and together are the whole sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `I/N`, or `N` with the index from `JOB_COMPLETION_INDEX` or
    /// `AWS_BATCH_JOB_ARRAY_INDEX` (`env` looks a variable up).
    ///
    /// # Errors
    /// What is wrong with the value, and the fix.
    pub fn parse(spec: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let (index, count) = match spec.split_once('/') {
            Some((i, n)) => (i.trim().to_owned(), n.trim().to_owned()),
            None => {
                let var = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"]
                    .into_iter()
                    .find_map(|v| env(v).map(|i| (v, i)));
                let Some((_, i)) = var else {
                    return Err(format!(
                        "--shard {spec}: give the shard as INDEX/COUNT (e.g. 0/{spec}), or run where JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX is set"
                    ));
                };
                (i.trim().to_owned(), spec.trim().to_owned())
            }
        };
        let count: u32 = count.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            format!("--shard {spec}: the shard count must be a whole number above 0")
        })?;
        let index: u32 = index.parse().ok().filter(|i| *i < count).ok_or_else(|| {
            format!(
                "--shard {spec}: the shard index must be a whole number from 0 to {}",
                count - 1
            )
        })?;
        Ok(Self { index, count })
    }

    /// Whether the recovery point `key`/`point_id` falls to this shard: a
    /// stable hash (SHA-256), the same in every process and release.
    pub fn keeps(&self, key: &str, point_id: &str) -> bool {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(key.as_bytes());
        h.update([0]);
        h.update(point_id.as_bytes());
        let d = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index)
    }
}

/// Where a source's inventory reports are, and how old the newest may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryConfig {
    /// The bucket (S3) or container (Azure, in the source's account) the
    /// reports are delivered to.
    pub bucket: String,
    /// S3: `PREFIX/SOURCE-BUCKET/CONFIG-ID/` within it (ends with `/`);
    /// Azure: empty.
    pub prefix: String,
    /// Azure: the inventory rule whose reports are read.
    pub rule: Option<String>,
    pub max_age: std::time::Duration,
    /// S3: who reads the reports and where, when not the source's own
    /// credentials and region.
    pub access: InventoryAccess,
}

/// S3: the credentials and region an inventory bucket is read with, when
/// they are not the source's.
#[derive(Debug, Clone, Default)]
pub struct InventoryAccess {
    pub profile: Option<String>,
    pub credentials: Option<S3StaticCredentials>,
    pub region: Option<String>,
}

impl InventoryAccess {
    /// Nothing of its own: the source's client reads the reports.
    pub fn is_default(&self) -> bool {
        self.profile.is_none() && self.credentials.is_none() && self.region.is_none()
    }
}

impl PartialEq for InventoryAccess {
    fn eq(&self, o: &Self) -> bool {
        // Secrets compare by presence: configs are compared to see what a
        // reload changes, never to match keys.
        self.profile == o.profile
            && self.region == o.region
            && self.credentials.is_some() == o.credentials.is_some()
    }
}

impl Eq for InventoryAccess {}

#[derive(Debug, Clone)]
pub struct S3StaticCredentials {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// Which recovery points a drill considers, beyond the source's prefix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    pub max_age: Option<std::time::Duration>,
    pub include_current: bool,
    pub include_noncurrent: bool,
    /// Keys under this prefix are never candidates (the drill's own copies).
    pub exclude_prefixes: Vec<String>,
    /// Only soft-deleted recovery points (`undelete` drills).
    pub deleted_only: bool,
}

/// One validated drill.
#[derive(Debug, Clone)]
pub struct DrillConfig {
    /// One shard of the drill (`drill --shard`): never from the file.
    pub shard: Option<Shard>,
    pub name: String,
    pub source: String,
    pub sample: SampleSize,
    pub strategy: Strategy,
    /// `None`: a fresh random seed per run, recorded in the evidence.
    pub seed: Option<u64>,
    pub mode: RestoreMode,
    pub verify: VerifyPolicy,
    pub record_verified: RecordVerified,
    pub concurrency: usize,
    pub attempts: u32,
    pub max_samples: u64,
    pub restore_timeout: std::time::Duration,
    pub scratch_dir: PathBuf,
    /// Prefix (in the source's bucket or container) for `copy` mode.
    pub copy_prefix: String,
    /// When `restoreproof run` runs this drill; `None`: only on demand.
    pub schedule: Option<Schedule>,
    pub filter: Filter,
    /// Rotating coverage: the period every recovery point is verified in.
    pub coverage: Option<std::time::Duration>,
    /// The staleness gate of this drill.
    pub gate: GateConfig,
    /// The source's protection policy (`[sources.NAME.protection]`).
    pub protection: Option<protection::ProtectionPolicy>,
    /// Canaries of the source: checked by every run, never sampled.
    pub canaries: Vec<CanaryConfig>,
    /// `mode = "provider_checksum"`: its S3 Batch Operations settings.
    pub provider_checksum: Option<provider_checksum::ProviderChecksumConfig>,
}

/// The staleness gate of one drill, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// A passed run must have finished within this age.
    pub max_age: std::time::Duration,
    /// Minimum rotating coverage, in percent.
    pub min_coverage: Option<f64>,
}

impl Config {
    /// Reads, parses and validates the file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read, `Parse` for TOML
    /// syntax, unknown keys and wrongly typed values, `Invalid` with every
    /// problem found by validation.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_patched(path, |_| {})
    }

    /// Parses and validates TOML text; relative paths resolve against `base`.
    /// The error is `Err(syntax message)` or `Ok(problems)`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Config, Result<Vec<Problem>, String>> {
        Self::from_toml_patched(text, base, |_| {})
    }

    /// [`Config::load`] with `patch` applied to the raw configuration before
    /// validation, so that command-line overrides pass exactly the checks a
    /// config file's settings do.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_patched(
        path: &Path,
        patch: impl FnOnce(&mut RawConfig),
    ) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            ConfigError::Parse {
                path: path.to_owned(),
                message: format!(
                    "line {line}: the file is not UTF-8 text (byte {at}); save it as UTF-8"
                ),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml_patched(&text, base, patch).map_err(|e| match e {
            Err(message) => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            Ok(problems) => ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            },
        })
    }

    fn from_toml_patched(
        text: &str,
        base: &Path,
        patch: impl FnOnce(&mut RawConfig),
    ) -> Result<Config, Result<Vec<Problem>, String>> {
        let mut raw = parse::parse_raw(text)?;
        patch(&mut raw);
        validate(raw, base).map_err(Ok)
    }
}

/// `p`, or `p` under `base` when it is relative.
pub fn resolve_path(base: &Path, p: &Path) -> PathBuf {
    resolve(base, p)
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

impl Config {
    /// Every file and directory the agent writes, by the key that sets it:
    /// ledger, evidence file, signing key, metrics file, scratch directories
    /// and file sinks.
    pub fn agent_paths(&self) -> Vec<(String, PathBuf)> {
        let mut v = vec![
            ("ledger.path".to_owned(), self.ledger_path.clone()),
            ("evidence.path".to_owned(), self.evidence_path.clone()),
        ];
        if let SecretSource::File(p) = &self.signing_key {
            v.push(("evidence.signing_key".into(), p.clone()));
        }
        if let Some(p) = &self.daemon.metrics_file {
            v.push(("daemon.metrics_file".into(), p.clone()));
        }
        for (n, d) in &self.drills {
            v.push((format!("drills.{n}.scratch_dir"), d.scratch_dir.clone()));
        }
        for (n, s) in &self.sinks {
            if let sink::SinkKind::File { path, .. } = &s.kind {
                v.push((format!("sinks.{n}.path"), path.clone()));
            }
        }
        v
    }

    /// Every file the agent reads but never writes, by the key that names
    /// it: TLS CAs, client certificates and keys, token, password, secret
    /// and SAS files.
    pub fn read_paths(&self) -> Vec<(String, PathBuf)> {
        let mut v = Vec::new();
        for (n, s) in &self.sources {
            let SourceConfig::AzureBlob(a) = s else {
                continue;
            };
            let at = |k: &str| format!("sources.{n}.auth.{k}");
            match &a.auth {
                AzureAuth::ServicePrincipal {
                    secret: SecretSource::File(p),
                    ..
                } => v.push((at("client_secret_file"), p.clone())),
                AzureAuth::ServicePrincipalCertificate {
                    certificate,
                    password,
                    ..
                } => {
                    v.push((at("client_certificate_file"), certificate.clone()));
                    if let Some(p) = password {
                        v.push((at("client_certificate_password_file"), p.clone()));
                    }
                }
                AzureAuth::Sas(SecretSource::File(p)) => v.push((at("sas_file"), p.clone())),
                _ => {}
            }
        }
        for (n, s) in &self.sinks {
            let at = |k: &str| format!("sinks.{n}.{k}");
            let (tls, auth) = match &s.kind {
                sink::SinkKind::Syslog { tls, .. } => (Some(tls), None),
                sink::SinkKind::Http { tls, auth, .. } => (Some(tls), Some(auth)),
                _ => (None, None),
            };
            if let Some(t) = tls {
                for (k, p) in [
                    ("ca_file", &t.ca_file),
                    ("client_cert_file", &t.client_cert_file),
                    ("client_key_file", &t.client_key_file),
                ] {
                    if let Some(p) = p {
                        v.push((at(k), p.clone()));
                    }
                }
            }
            match auth {
                Some(sink::HttpAuth::Token(SecretSource::File(p))) => {
                    v.push((at("token_file"), p.clone()));
                }
                Some(sink::HttpAuth::Basic {
                    password: SecretSource::File(p),
                    ..
                }) => v.push((at("password_file"), p.clone())),
                _ => {}
            }
        }
        v
    }

    /// The key of the agent file `p` is (or belongs to: the ledger's WAL and
    /// shared-memory files, rotated evidence and sink files), if any.
    pub fn agent_file_key(&self, p: &Path) -> Option<String> {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| lexical(p));
        let target = canonical(p);
        self.agent_paths().into_iter().find_map(|(key, own)| {
            let own = canonical(&own);
            let rest = target
                .to_str()
                .zip(own.to_str())
                .and_then(|(t, o)| t.strip_prefix(o));
            let belongs = match rest {
                Some("") => true,
                Some(r) if key == "ledger.path" => matches!(r, "-wal" | "-shm" | "-journal"),
                Some(r) if key.ends_with(".scratch_dir") => r.starts_with('/'),
                // Rotated files: `.1`, `.2.gz` ...
                Some(r) => r
                    .strip_prefix('.')
                    .map(|r| r.strip_suffix(".gz").unwrap_or(r))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
                None => false,
            };
            belongs.then_some(key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_parsed_with_its_index_from_the_flag_or_the_job() {
        let none = |_: &str| None;
        assert_eq!(Shard::parse("2/5", none), Ok(Shard { index: 2, count: 5 }));
        let job = |v: &str| (v == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "3".to_owned());
        assert_eq!(Shard::parse("4", job), Ok(Shard { index: 3, count: 4 }));
        let both = |v: &str| {
            Some(
                if v == "JOB_COMPLETION_INDEX" {
                    "0"
                } else {
                    "1"
                }
                .to_owned(),
            )
        };
        assert_eq!(Shard::parse("2", both), Ok(Shard { index: 0, count: 2 }));
        for (bad, says) in [
            ("5/5", "from 0 to 4"),
            ("1/0", "above 0"),
            ("x/3", "from 0 to 2"),
            ("3", "JOB_COMPLETION_INDEX"),
        ] {
            let e = Shard::parse(bad, none).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    /// Every recovery point falls to exactly one shard, and the shares are
    /// about even.
    #[test]
    fn each_point_falls_to_exactly_one_shard() {
        for count in [1u32, 2, 3, 7] {
            let mut per = vec![0u32; count as usize];
            for i in 0..700 {
                let key = format!("k{i}");
                let owners: Vec<u32> = (0..count)
                    .filter(|&index| Shard { index, count }.keeps(&key, "v"))
                    .collect();
                assert_eq!(owners.len(), 1, "{key} of {count}");
                per[owners[0] as usize] += 1;
            }
            let even = 700 / count;
            assert!(per.iter().all(|n| *n > even / 2), "{count}: {per:?}");
        }
    }

    fn problems(text: &str) -> Vec<String> {
        match Config::from_toml(text, Path::new("/etc/restoreproof")) {
            Ok(_) => vec![],
            Err(Ok(p)) => p.iter().map(ToString::to_string).collect(),
            Err(Err(syntax)) => vec![syntax],
        }
    }

    #[test]
    fn the_patch_cloud_and_its_endpoints_are_checked() {
        let p = problems("[patch]\ncloud = \"gcp\"\n");
        assert!(
            p.iter().any(|m| m.contains("patch.cloud")
                && m.contains("`gcp` is not a cloud; write \"aws\", \"azure\" or \"none\"")),
            "{p:?}"
        );
        let p = problems("[patch]\ncloud = \"aws\"\nazure_client_id = \"x\"\n");
        assert!(
            p.iter().any(|m| m.contains("patch.azure_client_id")
                && m.contains("applies only with cloud = \"azure\"")),
            "{p:?}"
        );
        let p = problems(
            "[patch]\ncloud = \"azure\"\nazure_management_endpoint = \"management.azure.com\"\n",
        );
        assert!(
            p.iter()
                .any(|m| m.contains("patch.azure_management_endpoint")
                    && m.contains("must be a URL")),
            "{p:?}"
        );
        // The managed identity a Blob source already uses is the default.
        let c = Config::from_toml(
            "[sources.b]\nkind = \"azure_blob\"\naccount_url = \"https://acct.blob.core.windows.net\"\ncontainer = \"backups\"\n[sources.b.auth]\nmethod = \"managed_identity\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n[patch]\ncloud = \"azure\"\n",
            Path::new("/etc/restoreproof"),
        );
        assert_eq!(
            c.map_err(|e| format!("{e:?}")).map(|c| c.patch_cloud),
            Ok(Some(PatchCloud::Azure {
                imds: None,
                management: None,
                client_id: Some("11111111-2222-3333-4444-555555555555".into())
            }))
        );
    }

    #[test]
    fn coverage_and_the_gate_are_checked() {
        let base = "[sources.s]\nkind = \"s3\"\nbucket = \"backups\"\n[drills.d]\nsource = \"s\"\n";
        let p = problems(&format!("{base}coverage = \"30m\"\n"));
        assert!(
            p.iter()
                .any(|m| m.contains("drills.d.coverage") && m.contains("at least 1h")),
            "{p:?}"
        );
        let p = problems(&format!("{base}[drills.d.gate]\nmin_coverage = \"90%\"\n"));
        assert!(
            p.iter()
                .any(|m| m.contains("drills.d.gate.min_coverage") && m.contains("coverage = ")),
            "{p:?}"
        );
        let p = problems(&format!("{base}[drills.d.gate]\nmax_age = \"0s\"\n"));
        assert!(
            p.iter().any(|m| m.contains("drills.d.gate.max_age")),
            "{p:?}"
        );
        let p = problems(&format!(
            "{base}coverage = \"30d\"\n[drills.d.gate]\nmin_coverage = \"120%\"\n"
        ));
        assert!(p.iter().any(|m| m.contains("between 0% and 100%")), "{p:?}");
        let p = problems(&format!(
            "[gate]\nmin_coverage = \"80%\"\n{base}coverage = \"30d\"\n"
        ));
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn canaries_are_checked_and_live_under_their_source_prefix() {
        let base = "[sources.s]\nkind = \"s3\"\nbucket = \"backups\"\nprefix = \"pg/\"\n[drills.d]\nsource = \"s\"\n";
        let ok = Config::from_toml(
            &format!("{base}[canaries.c]\nsource = \"s\"\nretention = \"30d\"\n"),
            Path::new("/etc/restoreproof"),
        );
        let Ok(ok) = ok else { panic!("{ok:?}") };
        let c = &ok.canaries["c"];
        assert_eq!(c.key_prefix, "pg/restoreproof-canary/");
        let days: Vec<u64> = c.ages.iter().map(|a| a.as_secs() / 86_400).collect();
        assert_eq!(days, [1, 7, 30], "the default ages");
        assert_eq!(
            ok.drills["d"].canaries.len(),
            1,
            "drills of the source check it"
        );
        let p = problems(&format!(
            "{base}[canaries.c]\nsource = \"nope\"\nretention = \"12h\"\nages = [\"40d\"]\nprefix = \"x\"\n"
        ));
        for key in [
            "canaries.c.source",
            "canaries.c.retention",
            "canaries.c.ages",
            "canaries.c.prefix",
        ] {
            assert!(p.iter().any(|m| m.starts_with(key)), "{key}: {p:?}");
        }
    }

    #[test]
    fn parse_errors_quote_no_text_and_name_the_line_and_key() {
        let syntax = problems(
            "[sources.s]\nkind = \"s3\"\nbucket = \"b\"\n[sources.s.credentials]\naccess_key_id = \"AKIA\"\nsecret_access_key = \"TOPSECRET\n",
        );
        assert_eq!(syntax.len(), 1, "{syntax:?}");
        assert!(!syntax[0].contains("TOPSECRET"), "{syntax:?}");
        assert!(syntax[0].contains("line 6"), "{syntax:?}");
        assert!(
            syntax[0].contains("sources.s.credentials.secret_access_key"),
            "{syntax:?}"
        );
        // A wrongly typed value is named by its key, its value is not shown.
        let typed = problems(
            "[sources.s]\nkind = \"s3\"\nbucket = \"b\"\n[sources.s.credentials]\naccess_key_id = \"AKIA\"\nsecret_access_key = 918273645\n",
        );
        assert!(!typed.concat().contains("918273645"), "{typed:?}");
        assert!(
            typed
                .concat()
                .contains("sources.s.credentials.secret_access_key"),
            "{typed:?}"
        );
    }

    #[test]
    fn every_parse_level_problem_is_reported_at_once_with_its_key_path() {
        let p = problems(
            "[sources.s]\nkind = \"s3\"\nbucket = \"b\"\n[drills.a]\nsource = \"s\"\nsample = -5\n[drills.b]\nsource = \"s\"\nconcurrency = \"many\"\n[drills.c]\nsource = \"s\"\nsampel = 5\n[bogus]\nx = 1\n",
        );
        let all = p.join("\n");
        assert_eq!(p.len(), 4, "{all}");
        for want in [
            "drills.a.sample: -5 is negative",
            "drills.b.concurrency",
            "drills.c",
            "sampel",
            "bogus: is not a setting",
        ] {
            assert!(all.contains(want), "{want} in:\n{all}");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, b"[ledger]\npath = \"l\xff\"\n").expect("write");
        let e = Config::load(&path).expect_err("not UTF-8").to_string();
        assert!(e.contains("not UTF-8") && e.contains("line 2"), "{e}");
        assert!(!e.contains("create the file"), "{e}");
    }

    #[test]
    fn agent_files_each_need_their_own_path() {
        let p = problems(
            "[ledger]\npath = \"/var/lib/rp/ledger\"\n[evidence]\npath = \"/var/lib/rp/./ledger\"\n[daemon]\nmetrics_file = \"/var/lib/rp/x/../ledger\"\n",
        );
        let all = p.join("\n");
        assert!(
            all.contains("evidence.path: is /var/lib/rp/./ledger, the same path as ledger.path"),
            "{all}"
        );
        assert!(all.contains("daemon.metrics_file"), "{all}");
    }

    #[test]
    fn schedule_and_daemon_settings_are_checked() {
        let p = problems(
            r#"
            [daemon]
            max_concurrent_drills = 0
            heartbeat_interval = "0s"
            [sources.s]
            kind = "s3"
            bucket = "bkt"
            [drills.a]
            source = "s"
            schedule = "0 3 * * *"
            timezone = "Europe/Berln"
            [drills.b]
            source = "s"
            jitter = "5m"
            missed = "run_once"
            "#,
        );
        let joined = p.join("\n");
        for want in [
            "daemon.max_concurrent_drills: must be between 1 and 64",
            "daemon.heartbeat_interval: must be between 1s and 1h",
            "drills.a.timezone: `Europe/Berln` is not an IANA time zone",
            "drills.b.jitter: applies to a schedule",
            "drills.b.missed: applies to a schedule",
        ] {
            assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
        }
        assert_eq!(p.len(), 5, "{joined}");
        let bad_policy = problems(
            "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n[drills.a]\nsource = \"s\"\nschedule = \"0 3 * * *\"\nmissed = \"later\"\n",
        );
        assert!(
            bad_policy[0].contains("unknown variant `later`"),
            "{bad_policy:?}"
        );
    }

    #[test]
    fn a_schedule_must_have_5_or_6_fields_and_fire() {
        assert!(parse_schedule("0 0 30 2 *")
            .unwrap_err()
            .to_string()
            .contains("never fires"));
        assert!(parse_schedule("0 0 3 * * * 2030")
            .unwrap_err()
            .to_string()
            .contains("7 fields"));
        assert!(parse_schedule("0 3 * * *").is_ok());
        assert!(parse_schedule("*/2 * * * * *").is_ok());
    }

    #[test]
    fn an_endpoint_must_parse_as_a_url() {
        for bad in ["http://[::1", "https://"] {
            let p = problems(&format!(
                "[sources.s]\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"{bad}\"\n"
            ));
            assert!(p.concat().contains("sources.s.endpoint"), "{bad}: {p:?}");
        }
        let ok = problems(
            "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\nendpoint = \"http://[::1]:9000\"\n",
        );
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn plain_http_off_this_host_and_unknown_regions_are_refused() {
        let s3 = |extra: &str| {
            problems(&format!(
                "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n{extra}\n"
            ))
        };
        let p = s3("endpoint = \"http://minio.lan:9000\"");
        assert!(
            p.concat()
                .contains("sources.s.endpoint: is plain http to another host"),
            "{p:?}"
        );
        assert!(s3("endpoint = \"http://minio.lan:9000\"\nallow_plain_http = true").is_empty());
        // A name that only starts like the loopback address is another host.
        assert!(!s3("endpoint = \"http://127.0.0.1.example.com:9000\"").is_empty());
        assert!(s3("endpoint = \"http://127.0.0.1:9000\"").is_empty());
        assert!(s3("endpoint = \"http://localhost:9000\"").is_empty());
        let p = s3("region = \"us-east-7\"");
        assert!(
            p.concat()
                .contains("sources.s.region: is not an AWS region this release knows"),
            "{p:?}"
        );
        assert!(s3("region = \"eu-central-1\"").is_empty());
        // An S3-compatible store names its regions as it likes.
        assert!(s3("region = \"garage\"\nendpoint = \"https://s3.lan\"").is_empty());
        let sink = |url: &str| {
            problems(&format!(
                "[sinks.x]\nkind = \"http\"\nprotocol = \"webhook\"\nurl = \"{url}\"\n"
            ))
        };
        assert!(sink("http://siem.lan/hook")
            .concat()
            .contains("sinks.x.url: is plain http to another host"));
        assert!(sink("http://127.0.0.1:8080/hook").is_empty());
        assert!(sink("https://siem.lan/hook").is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_key_path() {
        let p = problems(
            r#"
            [sources.prod]
            kind = "s3"
            bucket = ""
            endpoint = "localhost:9000"
            [drills.nightly]
            source = "prdo"
            concurrency = 0
            schedule = "every night"
            [drills.nightly.filter]
            min_size = "2GiB"
            max_size = "1GiB"
            "#,
        );
        let joined = p.join("\n");
        for want in [
            "sources.prod.bucket: must not be empty",
            "sources.prod.endpoint: must be a URL",
            "drills.nightly.source: names `prdo`, which is not a configured source; configured: prod",
            "drills.nightly.concurrency: must be between 1 and 256",
            "drills.nightly.schedule: `every night` has 2 fields",
            "drills.nightly.filter.min_size: is larger than filter.max_size",
        ] {
            assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
        }
        assert_eq!(p.len(), 6, "{joined}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let p = problems("[sources.prod]\nkind = \"s3\"\nbucket = \"b-1\"\nbukket = \"x\"\n");
        assert!(p[0].contains("unknown field `bukket`"), "{p:?}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let c = Config::from_toml(
            "[ledger]\npath = \"state/ledger.db\"\n",
            Path::new("/etc/rp"),
        )
        .expect("valid");
        assert_eq!(c.ledger_path, Path::new("/etc/rp/state/ledger.db"));
        assert_eq!(c.evidence_path, Path::new(defaults::EVIDENCE_PATH));
    }

    #[test]
    fn static_credentials_never_reach_debug_output() {
        let c = Config::from_toml(
            "[sources.p]\nkind = \"s3\"\nbucket = \"bkt\"\n[sources.p.credentials]\naccess_key_id = \"AKIDSECRETVALUE\"\nsecret_access_key = \"wJalrXUtnFEMI\"\n",
            Path::new("."),
        )
        .expect("valid");
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("AKIDSECRETVALUE") && !dbg.contains("wJalrXUtnFEMI"),
            "{dbg}"
        );
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn azure_sources_validate_their_auth_method() {
        let ok = Config::from_toml(
            "[sources.a]\nkind = \"azure_blob\"\naccount = \"acme\"\ncontainer = \"backups\"\n",
            Path::new("/etc/rp"),
        )
        .expect("valid");
        match &ok.sources["a"] {
            SourceConfig::AzureBlob(a) => {
                assert_eq!(a.account_url, "https://acme.blob.core.windows.net");
                assert_eq!(a.auth, AzureAuth::ManagedIdentity { client_id: None });
            }
            other => panic!("{other:?}"),
        }
        let p = problems(
            r#"
            [sources.a]
            kind = "azure_blob"
            account_url = "https://acme.blob.core.windows.net/backups?sv=1"
            container = "Backups"
            [sources.a.auth]
            method = "service_principal"
            client_id = "x"
            sas_env = "SAS"
            [sources.b]
            kind = "azure_blob"
            account_url = "http://127.0.0.1:10000/devstoreaccount1"
            container = "ok-container"
            [sources.b.auth]
            method = "magic"
            "#,
        );
        let joined = p.join("\n");
        for want in [
            "sources.a.account_url: must be the blob service URL",
            "sources.a.container: is not a valid container name",
            "sources.a.auth.sas_env: does not apply to method `service_principal`",
            "sources.a.auth: service_principal needs tenant_id and client_id",
            "sources.a.auth: the client secret needs exactly one source",
            "sources.b.auth.method: `magic` is not an authentication method",
            "sources.b.account_url: plain http works only with a SAS token",
        ] {
            assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
        }
    }

    #[test]
    fn five_field_cron_gets_a_seconds_field() {
        assert!(parse_schedule("0 3 * * *").is_ok());
        assert!(parse_schedule("0 0 3 * * *").is_ok());
        assert!(parse_schedule("61 3 * * *").is_err());
    }
}

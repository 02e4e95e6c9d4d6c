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

pub mod posture;
pub mod schedule;
mod secret;
pub mod sink;
mod units;

pub use secret::Secret;
pub use units::{human_bytes, Age, ByteSize, SampleSize};

pub use schedule::{Missed, Schedule};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where `--config` points when it is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/restoreproof/config.toml";

/// Every default of the configuration, in one place.
pub mod defaults {
    /// The ledger under systemd's `StateDirectory=restoreproof`.
    pub const LEDGER_PATH: &str = "/var/lib/restoreproof/ledger.sqlite3";
    /// The evidence file under systemd's `LogsDirectory=restoreproof`.
    pub const EVIDENCE_PATH: &str = "/var/log/restoreproof/evidence.jsonl";
    /// Scratch space for `local` restores, under the state directory.
    pub const SCRATCH_DIR: &str = "/var/lib/restoreproof/scratch";
    /// Recovery points restored by a drill that names no sample size.
    pub const SAMPLE: u64 = 10;
    /// Restores in flight at once within one drill.
    pub const CONCURRENCY: usize = 4;
    /// Attempts per restore (and per listing page) for transient errors.
    pub const ATTEMPTS: u32 = 4;
    /// Where `copy` mode writes its copies.
    pub const COPY_PREFIX: &str = "restoreproof-drill/";
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
}

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
        write!(f, "{}: {}", self.path, self.message)
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
    #[error("{path} is not a valid restoreproof config: {message}")]
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
        match self {
            ConfigError::Read { source, .. } => vec![Problem {
                path: "(file)".into(),
                message: source.to_string(),
            }],
            ConfigError::Parse { message, .. } => vec![Problem {
                path: "(syntax)".into(),
                message: message.clone(),
            }],
            ConfigError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// The file as written.

/// The config file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
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
    #[serde(default)]
    pub sinks: BTreeMap<String, sink::RawSink>,
    #[serde(default)]
    pub sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    pub drills: BTreeMap<String, RawDrill>,
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
}

/// How the agent authenticates to Azure Storage.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAzureAuth {
    /// `managed_identity` (default), `workload_identity`,
    /// `service_principal`, `azure_cli` or `sas`.
    pub method: Option<String>,
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
pub enum Strategy {
    /// Uniformly at random, reproducible from the recorded seed.
    Uniform,
    /// The most recently written recovery points first.
    Newest,
    /// The oldest recovery points first.
    Oldest,
}

/// How a recovery point is restored (see DESIGN.md, "Restore modes").
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
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
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Uniform => "uniform",
            Strategy::Newest => "newest",
            Strategy::Oldest => "oldest",
        })
    }
}

/// Which references a drill hashes (`verify` in a drill; see
/// [`crate::verify`]).
#[derive(
    Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum VerifyPolicy {
    /// SHA-256 (the baseline) plus the cheapest stored reference that proves
    /// the bytes; the others are listed as not computed.
    #[default]
    Efficient,
    /// Every reference that exists.
    Thorough,
}

impl fmt::Display for VerifyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyPolicy::Efficient => "efficient",
            VerifyPolicy::Thorough => "thorough",
        })
    }
}

impl fmt::Display for RestoreMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestoreMode::Stream => "stream",
            RestoreMode::Local => "local",
            RestoreMode::Copy => "copy",
            RestoreMode::Undelete => "undelete",
        })
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
}

/// One validated source.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    S3(S3SourceConfig),
    AzureBlob(AzureSourceConfig),
}

impl SourceConfig {
    /// The `kind` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::S3(_) => "s3",
            SourceConfig::AzureBlob(_) => "azure_blob",
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
    /// A message naming where the secret was expected and how to provide it.
    pub fn read(&self, what: &str) -> Result<Secret, String> {
        let value = match self {
            SecretSource::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {what} from {}: {e}", p.display()))?,
            SecretSource::Env(v) => std::env::var(v).map_err(|_| {
                format!("{what} is expected in the environment variable {v}, which is not set")
            })?,
            SecretSource::SystemdCredential(n) => {
                let dir = std::env::var("CREDENTIALS_DIRECTORY").map_err(|_| {
                    format!(
                        "{what} is expected in the systemd credential `{n}`, but CREDENTIALS_DIRECTORY is not set; add LoadCredential={n}:/path to the unit"
                    )
                })?;
                let p = Path::new(&dir).join(n);
                std::fs::read_to_string(&p)
                    .map_err(|e| format!("cannot read {what} from {}: {e}", p.display()))?
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("{what} is empty"));
        }
        Ok(Secret::new(value))
    }
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
}

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
    pub exclude_prefix: Option<String>,
    /// Only soft-deleted recovery points (`undelete` drills).
    pub deleted_only: bool,
}

/// One validated drill.
#[derive(Debug, Clone)]
pub struct DrillConfig {
    pub name: String,
    pub source: String,
    pub sample: SampleSize,
    pub strategy: Strategy,
    /// `None`: a fresh random seed per run, recorded in the evidence.
    pub seed: Option<u64>,
    pub mode: RestoreMode,
    pub verify: VerifyPolicy,
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
        let mut raw = parse_raw(text)?;
        patch(&mut raw);
        validate(raw, base).map_err(Ok)
    }
}

/// Parses the config text into its raw form. A syntax error is the first
/// one, located by line, column and the key it sits under; wrongly typed
/// values and unknown keys are collected section by section, so every one
/// is reported at once with its key path. No message quotes the file's
/// text or a value (a broken line may hold a secret).
fn parse_raw(text: &str) -> Result<RawConfig, Result<Vec<Problem>, String>> {
    let table: toml::Table = toml::from_str(text).map_err(|e| Err(syntax_message(text, &e)))?;
    let mut problems = Vec::new();
    let mut raw = RawConfig::default();
    fn take<T: serde::de::DeserializeOwned + Default>(
        problems: &mut Vec<Problem>,
        at: &str,
        v: toml::Value,
    ) -> T {
        v.try_into().unwrap_or_else(|e| {
            problems.push(value_problem(at, &e));
            T::default()
        })
    }
    fn entries<T: serde::de::DeserializeOwned>(
        problems: &mut Vec<Problem>,
        at: &str,
        v: toml::Value,
    ) -> BTreeMap<String, T> {
        let mut out = BTreeMap::new();
        let toml::Value::Table(t) = v else {
            problems.push(Problem {
                path: at.to_owned(),
                message: format!("must be a table of named entries, e.g. [{at}.NAME]"),
            });
            return out;
        };
        for (name, v) in t {
            let here = format!("{at}.{name}");
            match v.try_into() {
                Ok(x) => {
                    out.insert(name, x);
                }
                Err(e) => problems.push(value_problem(&here, &e)),
            }
        }
        out
    }
    for (key, v) in table {
        match key.as_str() {
            "ledger" => raw.ledger = take(&mut problems, &key, v),
            "evidence" => raw.evidence = take(&mut problems, &key, v),
            "daemon" => raw.daemon = take(&mut problems, &key, v),
            "outbox" => raw.outbox = take(&mut problems, &key, v),
            "posture" => raw.posture = take(&mut problems, &key, v),
            "sinks" => raw.sinks = entries(&mut problems, &key, v),
            "sources" => {
                // By `kind` here rather than through serde's tagged enum,
                // which loses the key path of a problem inside the source.
                let mut tagged = BTreeMap::new();
                for (name, v) in entries::<toml::Value>(&mut problems, &key, v) {
                    let at = format!("sources.{name}");
                    let mut t = match v {
                        toml::Value::Table(t) => t,
                        _ => {
                            problems.push(Problem {
                                path: at,
                                message: "must be a table with `kind` = \"s3\" or \"azure_blob\"".into(),
                            });
                            continue;
                        }
                    };
                    let kind = t.remove("kind");
                    let source = match kind.as_ref().and_then(toml::Value::as_str) {
                        Some("s3") => toml::Value::Table(t)
                            .try_into()
                            .map(RawSource::S3),
                        Some("azure_blob") => toml::Value::Table(t)
                            .try_into()
                            .map(RawSource::AzureBlob),
                        other => {
                            problems.push(Problem {
                                path: format!("{at}.kind"),
                                message: match other {
                                    Some(k) => format!("`{k}` is not a source kind; write \"s3\" or \"azure_blob\""),
                                    None => "is missing; write kind = \"s3\" or \"azure_blob\"".into(),
                                },
                            });
                            continue;
                        }
                    };
                    match source {
                        Ok(s) => {
                            tagged.insert(name, s);
                        }
                        Err(e) => problems.push(value_problem(&at, &e)),
                    }
                }
                raw.sources = tagged;
            }
            "drills" => raw.drills = entries(&mut problems, &key, v),
            _ => problems.push(Problem {
                path: key.clone(),
                message: "is not a setting; known sections: ledger, evidence, daemon, outbox, posture, sinks, sources, drills".into(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(raw)
    } else {
        Err(Ok(problems))
    }
}

/// A problem from deserializing the value at key path `at`: the message
/// without the value it quotes, and the key path inside the value.
fn value_problem(at: &str, e: &toml::de::Error) -> Problem {
    // Without the input, the error renders as "message" and, when it knows
    // them, "in `inner.keys`".
    let mut e = e.clone();
    e.set_input(None);
    let shown = e.to_string();
    let mut inner = None;
    let mut message = Vec::new();
    for line in shown.lines() {
        match line.strip_prefix("in `").and_then(|l| l.strip_suffix('`')) {
            Some(k) => inner = Some(k.to_owned()),
            None if !line.trim().is_empty() => message.push(line.trim().to_owned()),
            None => {}
        }
    }
    Problem {
        path: match inner {
            Some(k) => format!("{at}.{k}"),
            None => at.to_owned(),
        },
        message: without_values(&message.join("; ")),
    }
}

/// serde's "invalid type: string \"VALUE\", expected …" and "invalid value:
/// …" quote the value they saw; a value may be a secret, so only its type
/// stays.
fn without_values(message: &str) -> String {
    for lead in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(lead) {
            let (seen, expected) = rest.split_once(", expected").unwrap_or((rest, ""));
            let kind = seen.split_whitespace().next().unwrap_or("value");
            return if expected.is_empty() {
                format!("{lead}{kind}")
            } else {
                format!("{lead}{kind}, expected{expected}")
            };
        }
    }
    message.to_owned()
}

/// A TOML syntax error as "line L, column C (under `key.path`): what", never
/// quoting the offending line.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return without_values(e.message());
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let mut table = String::new();
    for l in before.lines() {
        let l = l.trim();
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        }
    }
    let this_line = text.lines().nth(line - 1).unwrap_or_default();
    let key = this_line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
    let path = match (table.is_empty(), key) {
        (true, Some(k)) => format!(" (at `{k}`)"),
        (false, Some(k)) => format!(" (at `{table}.{k}`)"),
        (false, None) => format!(" (in [{table}])"),
        (true, None) => String::new(),
    };
    format!(
        "line {line}, column {column}{path}: {}",
        without_values(e.message())
    )
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

/// Checks a raw config and returns every problem, or the validated config.
/// Pure: no file, network or environment access.
pub fn validate(raw: RawConfig, base: &Path) -> Result<Config, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |path: String, message: &str| {
        problems.push(Problem {
            path,
            message: message.to_owned(),
        })
    };

    let ledger_path = resolve(
        base,
        raw.ledger
            .path
            .as_deref()
            .unwrap_or(Path::new(defaults::LEDGER_PATH)),
    );
    let evidence_path = resolve(
        base,
        raw.evidence
            .path
            .as_deref()
            .unwrap_or(Path::new(defaults::EVIDENCE_PATH)),
    );
    let signing_key = match (
        &raw.evidence.signing_key,
        &raw.evidence.signing_key_credential,
    ) {
        (Some(_), Some(_)) => {
            problem(
                "evidence.signing_key".into(),
                "give the signing key as a file or as a systemd credential, not both",
            );
            SecretSource::File(PathBuf::new())
        }
        (_, Some(c)) => SecretSource::SystemdCredential(c.clone()),
        (Some(p), None) => SecretSource::File(resolve(base, p)),
        (None, None) => SecretSource::File(
            ledger_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("evidence.key"),
        ),
    };
    if raw.ledger.path.as_deref() == Some(Path::new("")) {
        problem(
            "ledger.path".into(),
            "must not be empty; remove the key to use the default",
        );
    }
    if raw.evidence.path.as_deref() == Some(Path::new("")) {
        problem(
            "evidence.path".into(),
            "must not be empty; remove the key to use the default",
        );
    }

    let mut sources = BTreeMap::new();
    for (name, src) in raw.sources {
        let at = |k: &str| format!("sources.{name}.{k}");
        check_name(&mut problem, &format!("sources.{name}"), &name);
        match src {
            RawSource::S3(s) => {
                if s.bucket.trim().is_empty() {
                    problem(
                        at("bucket"),
                        "must not be empty; name the S3 bucket that holds the recovery points",
                    );
                } else if !valid_bucket_name(&s.bucket) {
                    problem(at("bucket"), "is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, `.` and `-`); give the bucket name only, without `s3://` or a path");
                }
                if let Some(r) = &s.region {
                    if r.trim().is_empty() || r.contains(char::is_whitespace) {
                        problem(at("region"), "must be an AWS region such as `eu-central-1`, or be left out to use the environment's");
                    }
                }
                if let Some(e) = &s.endpoint {
                    let parsed = azure_core::http::Url::parse(e);
                    if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() < 10 {
                        problem(at("endpoint"), "must be a URL starting with `https://` (or `http://` for a local test server)");
                    } else if let Err(why) = &parsed {
                        problem(
                            at("endpoint"),
                            &format!("is not a valid URL ({why}); write e.g. `https://minio.internal:9000` or `http://[::1]:9000`"),
                        );
                    } else if parsed
                        .as_ref()
                        .is_ok_and(|u| u.host_str().is_none_or(str::is_empty))
                    {
                        problem(
                            at("endpoint"),
                            "has no host; write e.g. `https://minio.internal:9000`",
                        );
                    }
                }
                if let Some(p) = &s.profile {
                    if p.trim().is_empty() {
                        problem(
                            at("profile"),
                            "must not be empty; remove it to use the default credential chain",
                        );
                    }
                }
                if let Some(c) = &s.credentials {
                    if c.access_key_id.expose().is_empty()
                        || c.secret_access_key.expose().is_empty()
                    {
                        problem(at("credentials"), "access_key_id and secret_access_key must both be set; better, remove the table and use the AWS credential chain (environment, profile, web identity, instance metadata)");
                    }
                    if s.profile.is_some() {
                        problem(
                            at("credentials"),
                            "conflicts with `profile`; keep one of them",
                        );
                    }
                }
                let prefix = s.prefix.unwrap_or_default();
                if prefix.starts_with('/') {
                    problem(
                        at("prefix"),
                        "must not start with `/`: S3 keys have no leading slash",
                    );
                }
                let posture = s.posture.validate(&at("posture"), "s3", &mut problem);
                sources.insert(
                    name.clone(),
                    SourceConfig::S3(S3SourceConfig {
                        posture,
                        force_path_style: s.force_path_style.unwrap_or(s.endpoint.is_some()),
                        bucket: s.bucket,
                        prefix,
                        region: s.region,
                        endpoint: s.endpoint,
                        profile: s.profile,
                        credentials: s.credentials.map(|c| S3StaticCredentials {
                            access_key_id: c.access_key_id,
                            secret_access_key: c.secret_access_key,
                            session_token: c.session_token,
                        }),
                    }),
                );
            }
            RawSource::AzureBlob(a) => {
                let c = validate_azure(&name, a, base, &mut problem);
                sources.insert(name, SourceConfig::AzureBlob(c));
            }
        }
    }

    let mut drills = BTreeMap::new();
    for (name, d) in raw.drills {
        let at = |k: &str| format!("drills.{name}.{k}");
        check_name(&mut problem, &format!("drills.{name}"), &name);
        if d.source.is_empty() {
            problem(at("source"), "must name a source from [sources]");
        } else if !sources.contains_key(&d.source) {
            let known: Vec<&str> = sources.keys().map(String::as_str).collect();
            problem(
                at("source"),
                &format!(
                    "names `{}`, which is not a configured source; configured: {}",
                    d.source,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        let concurrency = d.concurrency.unwrap_or(defaults::CONCURRENCY);
        if !(1..=256).contains(&concurrency) {
            problem(at("concurrency"), "must be between 1 and 256");
        }
        let attempts = d.attempts.unwrap_or(defaults::ATTEMPTS);
        if !(1..=20).contains(&attempts) {
            problem(at("attempts"), "must be between 1 and 20");
        }
        let max_samples = d.max_samples.unwrap_or(defaults::MAX_SAMPLES);
        if max_samples == 0 {
            problem(at("max_samples"), "must be at least 1");
        }
        let restore_timeout =
            d.restore_timeout
                .map(|a| a.0)
                .unwrap_or(std::time::Duration::from_secs(
                    defaults::RESTORE_TIMEOUT_SECS,
                ));
        if restore_timeout.is_zero() {
            problem(at("restore_timeout"), "must be longer than 0s");
        }
        if d.copy_prefix
            .as_deref()
            .is_some_and(|p| p.is_empty() || p.starts_with('/') || !p.ends_with('/'))
        {
            problem(at("copy_prefix"), "must be a non-empty prefix ending in `/` (copies go under it and are deleted after the drill)");
        }
        if d.mode == Some(RestoreMode::Undelete) {
            match sources.get(&d.source) {
                Some(SourceConfig::AzureBlob(a)) if a.allow_undelete => {}
                Some(SourceConfig::AzureBlob(_)) => problem(
                    at("mode"),
                    &format!("`undelete` changes the live container; allow it with sources.{}.allow_undelete = true", d.source),
                ),
                Some(other) => problem(
                    at("mode"),
                    &format!("`undelete` is for Azure soft delete; source `{}` is {}", d.source, other.kind()),
                ),
                None => {}
            }
        }
        let strategy = d.strategy.unwrap_or(Strategy::Uniform);
        if d.seed.is_some() && strategy != Strategy::Uniform {
            problem(
                at("seed"),
                "only the `uniform` strategy uses a seed; remove it or set strategy = \"uniform\"",
            );
        }
        let schedule = match &d.schedule {
            Some(expr) => {
                let tz = d.timezone.as_deref().unwrap_or(defaults::TIMEZONE);
                let jitter = d.jitter.map(|a| a.0).unwrap_or_default();
                if jitter > std::time::Duration::from_secs(86_400) {
                    problem(at("jitter"), "must be at most 1d");
                }
                match Schedule::new(expr, tz, jitter, d.missed.unwrap_or(Missed::Skip)) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        let key = if parse_schedule(expr).is_err() {
                            "schedule"
                        } else {
                            "timezone"
                        };
                        problem(at(key), &e);
                        None
                    }
                }
            }
            None => {
                for (key, set) in [
                    ("timezone", d.timezone.is_some()),
                    ("jitter", d.jitter.is_some()),
                    ("missed", d.missed.is_some()),
                ] {
                    if set {
                        problem(
                            at(key),
                            "applies to a schedule; add `schedule = \"...\"` (cron) or remove it",
                        );
                    }
                }
                None
            }
        };
        let f = &d.filter;
        if let (Some(min), Some(max)) = (f.min_size, f.max_size) {
            if min > max {
                problem(
                    at("filter.min_size"),
                    "is larger than filter.max_size, so nothing could be sampled",
                );
            }
        }
        let include_current = f.include_current.unwrap_or(true);
        let include_noncurrent = f.include_noncurrent.unwrap_or(true);
        if !include_current && !include_noncurrent {
            problem(at("filter"), "include_current and include_noncurrent are both false, so nothing could be sampled");
        }
        drills.insert(
            name.clone(),
            DrillConfig {
                name,
                source: d.source,
                sample: d.sample.unwrap_or(SampleSize::Count(defaults::SAMPLE)),
                strategy,
                seed: d.seed,
                mode: d.mode.unwrap_or(RestoreMode::Stream),
                verify: d.verify.unwrap_or_default(),
                concurrency,
                attempts,
                max_samples,
                restore_timeout,
                scratch_dir: resolve(
                    base,
                    d.scratch_dir
                        .as_deref()
                        .unwrap_or(Path::new(defaults::SCRATCH_DIR)),
                ),
                copy_prefix: d
                    .copy_prefix
                    .unwrap_or_else(|| defaults::COPY_PREFIX.into()),
                schedule,
                filter: Filter {
                    min_size: f.min_size.map(|b| b.0),
                    max_size: f.max_size.map(|b| b.0),
                    max_age: f.max_age.map(|a| a.0),
                    include_current,
                    include_noncurrent,
                    exclude_prefix: None,
                    deleted_only: false,
                },
            },
        );
    }

    let daemon = DaemonConfig {
        max_concurrent_drills: raw
            .daemon
            .max_concurrent_drills
            .unwrap_or(defaults::MAX_CONCURRENT_DRILLS),
        shutdown_timeout: raw.daemon.shutdown_timeout.map_or(
            std::time::Duration::from_secs(defaults::SHUTDOWN_TIMEOUT_SECS),
            |a| a.0,
        ),
        heartbeat_interval: raw.daemon.heartbeat_interval.map_or(
            std::time::Duration::from_secs(defaults::HEARTBEAT_SECS),
            |a| a.0,
        ),
        metrics_file: raw.daemon.metrics_file.as_deref().map(|p| resolve(base, p)),
    };
    if !(1..=64).contains(&daemon.max_concurrent_drills) {
        problems.push(Problem {
            path: "daemon.max_concurrent_drills".into(),
            message: "must be between 1 and 64".into(),
        });
    }
    if daemon.heartbeat_interval.is_zero()
        || daemon.heartbeat_interval > std::time::Duration::from_secs(3600)
    {
        problems.push(Problem {
            path: "daemon.heartbeat_interval".into(),
            message: "must be between 1s and 1h".into(),
        });
    }
    if raw.daemon.metrics_file.as_deref() == Some(Path::new("")) {
        problems.push(Problem {
            path: "daemon.metrics_file".into(),
            message: "must not be empty; remove it to write no metrics file".into(),
        });
    }

    let mut sinks = BTreeMap::new();
    for (name, raw_sink) in raw.sinks {
        let mut p = |path: String, message: &str| {
            problems.push(Problem {
                path,
                message: message.to_owned(),
            })
        };
        check_name(&mut p, &format!("sinks.{name}"), &name);
        if let Some(s) = sink::validate(&name, raw_sink, base, &mut p) {
            sinks.insert(name, s);
        }
    }
    let posture_schedule = match &raw.posture.schedule {
        Some(expr) => {
            let tz = raw
                .posture
                .timezone
                .as_deref()
                .unwrap_or(defaults::TIMEZONE);
            match Schedule::new(expr, tz, std::time::Duration::ZERO, Missed::Skip) {
                Ok(s) => Some(s),
                Err(e) => {
                    problems.push(Problem {
                        path: if parse_schedule(expr).is_err() {
                            "posture.schedule".into()
                        } else {
                            "posture.timezone".into()
                        },
                        message: e,
                    });
                    None
                }
            }
        }
        None => {
            if raw.posture.timezone.is_some() {
                problems.push(Problem {
                    path: "posture.timezone".into(),
                    message: "applies to a schedule; add `schedule = \"...\"` (cron) or remove it"
                        .into(),
                });
            }
            None
        }
    };
    let outbox = OutboxConfig {
        max_age: raw.outbox.max_age.map(|a| a.0),
        max_bytes: raw.outbox.max_bytes.map(|b| b.0),
    };
    if outbox
        .max_age
        .is_some_and(|a| a < std::time::Duration::from_secs(3600))
    {
        problems.push(Problem {
            path: "outbox.max_age".into(),
            message:
                "must be at least 1h (a sink that is down for a while must not lose events to it)"
                    .into(),
        });
    }
    if outbox.max_bytes.is_some_and(|b| b < 1 << 20) {
        problems.push(Problem {
            path: "outbox.max_bytes".into(),
            message: "must be at least 1MiB".into(),
        });
    }

    let config = Config {
        ledger_path,
        evidence_path,
        signing_key,
        daemon,
        outbox,
        posture_schedule,
        sinks,
        sources,
        drills,
    };
    distinct_paths(&mut problems, config.agent_paths().into_iter());
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
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

/// Files and directories the agent writes must each be its own: the same
/// path for two of them (after resolving against the config's directory)
/// would have one overwrite or "repair" the other. Drills may share a
/// scratch directory.
fn distinct_paths(problems: &mut Vec<Problem>, paths: impl Iterator<Item = (String, PathBuf)>) {
    let mut seen: Vec<(String, PathBuf)> = Vec::new();
    for (key, path) in paths {
        let normal = lexical(&path);
        let scratch = key.ends_with(".scratch_dir");
        match seen
            .iter()
            .find(|(k, p)| *p == normal && !(scratch && k.ends_with(".scratch_dir")))
        {
            Some((other, _)) => problems.push(Problem {
                path: key,
                message: format!(
                    "is {}, the same path as {other}; each of the ledger, evidence file, signing key, metrics file, scratch directory and file sinks needs its own path",
                    path.display()
                ),
            }),
            None => seen.push((key, normal)),
        }
    }
}

/// `p` with `.` and `..` components folded, without touching the file system.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Validates an Azure Blob source; problems go to `problem`, and the returned
/// config is only used when there were none.
fn validate_azure(
    name: &str,
    a: RawAzureSource,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> AzureSourceConfig {
    let at = |k: &str| format!("sources.{name}.{k}");
    let account_url = match (&a.account_url, &a.account) {
        (Some(_), Some(_)) => {
            problem(
                at("account"),
                "conflicts with account_url; keep one of them",
            );
            String::new()
        }
        (Some(u), None) => {
            let u = u.trim_end_matches('/');
            let local = u.starts_with("http://127.0.0.1")
                || u.starts_with("http://localhost")
                || u.starts_with("http://[::1]");
            if !(u.starts_with("https://") || local) || u.contains('?') || u.len() < 12 {
                problem(at("account_url"), "must be the blob service URL, e.g. `https://ACCOUNT.blob.core.windows.net` (plain http only on loopback), without a container, path or query; put a SAS token in auth.sas_env or auth.sas_file");
            }
            u.to_owned()
        }
        (None, Some(acct)) => {
            if !(3..=24).contains(&acct.len())
                || !acct
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                problem(
                    at("account"),
                    "is not a storage account name (3-24 lowercase letters and digits)",
                );
            }
            let suffix = match a.cloud.as_deref().unwrap_or("public") {
                "public" => "core.windows.net",
                "china" => "core.chinacloudapi.cn",
                "usgovernment" => "core.usgovcloudapi.net",
                _ => {
                    problem(at("cloud"), "must be `public`, `china` or `usgovernment`");
                    "core.windows.net"
                }
            };
            format!("https://{acct}.blob.{suffix}")
        }
        (None, None) => {
            problem(at("account_url"), "is missing; set account_url = \"https://ACCOUNT.blob.core.windows.net\" or account = \"ACCOUNT\"");
            String::new()
        }
    };
    if a.cloud.is_some() && a.account.is_none() {
        problem(
            at("cloud"),
            "only applies with `account`; account_url already names the endpoint",
        );
    }
    let c = &a.container;
    let valid_container = (3..=63).contains(&c.len())
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        && !c.starts_with('-')
        && !c.ends_with('-')
        && !c.contains("--");
    if !valid_container {
        problem(
            at("container"),
            "is not a valid container name (3-63 lowercase letters, digits and single hyphens)",
        );
    }
    let prefix = a.prefix.unwrap_or_default();
    if prefix.starts_with('/') {
        problem(
            at("prefix"),
            "must not start with `/`: blob names have no leading slash",
        );
    }
    let auth = &a.auth;
    let secret = |file: &Option<PathBuf>,
                  env: Option<&String>,
                  what: &str,
                  problem: &mut dyn FnMut(String, &str)|
     -> SecretSource {
        let given = [file.is_some(), env.is_some(), auth.credential.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if given != 1 {
            problem(at("auth"), &format!("{what} needs exactly one source: a file, an environment variable or `credential` (a systemd credential name)"));
        }
        if let Some(f) = file {
            SecretSource::File(resolve(base, f))
        } else if let Some(e) = env {
            SecretSource::Env(e.clone())
        } else {
            SecretSource::SystemdCredential(auth.credential.clone().unwrap_or_default())
        }
    };
    let method = auth.method.as_deref().unwrap_or("managed_identity");
    let unexpected = |keys: &[(&str, bool)], problem: &mut dyn FnMut(String, &str)| {
        for (k, set) in keys {
            if *set {
                problem(
                    at(&format!("auth.{k}")),
                    &format!("does not apply to method `{method}`"),
                );
            }
        }
    };
    let auth = match method {
        "managed_identity" | "workload_identity" => {
            unexpected(
                &[
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                    (
                        "client_certificate_file",
                        auth.client_certificate_file.is_some(),
                    ),
                    ("credential", auth.credential.is_some()),
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            if method == "managed_identity" {
                AzureAuth::ManagedIdentity {
                    client_id: auth.client_id.clone(),
                }
            } else {
                AzureAuth::WorkloadIdentity {
                    client_id: auth.client_id.clone(),
                }
            }
        }
        "service_principal" => {
            unexpected(
                &[
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            if auth.tenant_id.is_none() || auth.client_id.is_none() {
                problem(
                    at("auth"),
                    "service_principal needs tenant_id and client_id",
                );
            }
            let tenant_id = auth.tenant_id.clone().unwrap_or_default();
            let client_id = auth.client_id.clone().unwrap_or_default();
            match &auth.client_certificate_file {
                Some(cert) => {
                    if auth.client_secret_file.is_some() || auth.credential.is_some() {
                        problem(
                            at("auth"),
                            "give either a client secret or a client certificate, not both",
                        );
                    }
                    AzureAuth::ServicePrincipalCertificate {
                        tenant_id,
                        client_id,
                        certificate: resolve(base, cert),
                        password: auth
                            .client_certificate_password_file
                            .as_deref()
                            .map(|p| resolve(base, p)),
                    }
                }
                None => {
                    if auth.client_certificate_password_file.is_some() {
                        problem(
                            at("auth.client_certificate_password_file"),
                            "needs client_certificate_file",
                        );
                    }
                    AzureAuth::ServicePrincipal {
                        tenant_id,
                        client_id,
                        secret: secret(
                            &auth.client_secret_file,
                            None,
                            "the client secret",
                            problem,
                        ),
                    }
                }
            }
        }
        "azure_cli" => {
            unexpected(
                &[
                    ("client_id", auth.client_id.is_some()),
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                    (
                        "client_certificate_file",
                        auth.client_certificate_file.is_some(),
                    ),
                    ("credential", auth.credential.is_some()),
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            AzureAuth::AzureCli
        }
        "sas" => {
            unexpected(
                &[
                    ("client_id", auth.client_id.is_some()),
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                ],
                problem,
            );
            AzureAuth::Sas(secret(
                &auth.sas_file,
                auth.sas_env.as_ref(),
                "the SAS token",
                problem,
            ))
        }
        other => {
            problem(
                at("auth.method"),
                &format!("`{other}` is not an authentication method; use managed_identity, workload_identity, service_principal, azure_cli or sas"),
            );
            AzureAuth::AzureCli
        }
    };
    if account_url.starts_with("http://") && !matches!(auth, AzureAuth::Sas(_)) {
        problem(
            at("account_url"),
            "plain http works only with a SAS token: token credentials are sent over https only",
        );
    }
    let posture = a.posture.validate(&at("posture"), "azure_blob", problem);
    AzureSourceConfig {
        account_url,
        container: a.container,
        prefix,
        allow_undelete: a.allow_undelete,
        auth,
        posture,
    }
}

/// Parses a cron expression with an optional seconds field (`0 3 * * *` or
/// `0 0 3 * * *`), as `restoreproof run` will.
pub fn parse_schedule(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {expr}"),
        6 => expr.to_owned(),
        _ => {
            return Err(format!(
                "`{expr}` has {fields} fields; write a cron expression with 5 fields (`min hour day month weekday`, e.g. `0 3 * * *`) or 6 with seconds first"
            ))
        }
    };
    let schedule = full
        .parse::<cron::Schedule>()
        .map_err(|e| format!("`{expr}` is not a valid cron expression: {e}"))?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(format!(
            "`{expr}` never fires (no such date, e.g. 30 February); fix the day and month fields"
        ));
    }
    Ok(schedule)
}

fn check_name(problem: &mut impl FnMut(String, &str), path: &str, name: &str) {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        problem(
            path.to_owned(),
            "names may use letters, digits, `-`, `_` and `.` only (they appear in evidence and metric labels)",
        );
    }
}

fn valid_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match Config::from_toml(text, Path::new("/etc/restoreproof")) {
            Ok(_) => vec![],
            Err(Ok(p)) => p.iter().map(ToString::to_string).collect(),
            Err(Err(syntax)) => vec![syntax],
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
            .contains("never fires"));
        assert!(parse_schedule("0 0 3 * * * 2030")
            .unwrap_err()
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

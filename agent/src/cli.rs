//! Command-line interface (clap derive). One file per subcommand under
//! `commands/`; flags operators set in systemd units also read the
//! environment.

use crate::config::{RestoreMode, SampleSize, Strategy, DEFAULT_CONFIG_PATH};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub mod bar;
pub mod examples;
mod terminal;

pub use terminal::{colour, command, parse, stderr_is_journal};

/// restoreproof: restores sampled recovery points from versioned object
/// storage, verifies them against independent references and records
/// evidence of every attempt.
#[derive(Debug, Parser)]
#[command(name = "restoreproof", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, short = 'c', global = true, env = "RESTOREPROOF_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// Log format on stderr.
    #[arg(long, global = true, env = "RESTOREPROOF_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log detail (-v: debug, -vv: trace of restoreproof itself).
    /// RUST_LOG overrides, e.g. RUST_LOG=trace for the AWS SDK's internals
    /// (which show the access key id, never the secret key).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// No progress bars, and only errors in the logs (results and exit
    /// codes are unchanged).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one restore drill now and print its verdicts.
    ///
    /// Exit codes: 0 passed (at least one recovery point restored, none
    /// failed), 1 failed (a mismatch or unrecoverable, or nothing was
    /// restored), 2 the drill could not run or was stopped.
    Drill(DrillArgs),
    /// Merge the shards of one sharded drill run (`drill --shard`) into one
    /// run in the ledger and evidence: every shard's chain and signed
    /// checkpoint verified, its verdicts recorded, one run summary over all
    /// shards. A missing, unfinished, failed or tampered shard makes the
    /// run `error`, naming the shard: never a partial pass.
    ///
    /// Exit codes: 0 merged and passed (or, with --if-complete, shards
    /// still running), 1 merged and failed, 2 could not merge.
    Merge(MergeArgs),
    /// Run every drill with a schedule on it until stopped (the service).
    ///
    /// SIGHUP reloads the config (an invalid one is refused and the running
    /// one kept); SIGTERM/SIGINT stop: restores in flight get
    /// `daemon.shutdown_timeout`, then are cancelled and recorded as
    /// `aborted`. Logs go to stderr (`--log-format json` for machines).
    Run,
    /// Show each drill's last run, verdict counts and next run, and whether
    /// the daemon's heartbeat is fresh.
    ///
    /// Exit codes: 0 healthy, 1 stale heartbeat, a failing sink, or a drill
    /// whose last finished run did not pass, 2 the ledger could not be read.
    Status(StatusArgs),
    /// The staleness gate: is every drill's evidence recent and broad
    /// enough? For CI pipelines and monitors.
    ///
    /// A drill is red when no run that verified at least one recovery point
    /// without a failure finished within --max-age (default: its
    /// `gate.max_age`, else 7d), or when its rotating coverage is below
    /// --min-coverage (default: its `gate.min_coverage`). Exit codes: 0
    /// every drill judged is green, 1 one is red, 2 could not judge.
    Gate(GateArgs),
    /// Record this host's patch state (OS, kernel, pending security and
    /// other updates, automatic updates, pending reboot) as findings judged
    /// against `[patch.policy]`. Nothing is installed or changed.
    ///
    /// Exit codes: 0 compliant, 1 a requirement fails, 2 could not check.
    Patch(PatchArgs),
    /// Write one canary now: random content under the canary prefix, then
    /// deleted as an accidental deletion would be; drills of the source
    /// restore it at the configured ages. (The service writes canaries on
    /// their `schedule`.)
    ///
    /// Exit codes: 0 written and deleted, 2 could not.
    Canary(CanaryArgs),
    /// Evidence signing keys and tamper checks.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Check each source's settings (versioning, retention, encryption,
    /// replication, access) against its policy and record the findings.
    ///
    /// Exit codes: 0 nothing required fails, 1 something does, 2 could not run.
    Posture(PostureArgs),
    /// Report what the ledger proves over a period, per source and drill,
    /// with the ISO/IEC 27001 (2013 and 2022) control matrix.
    Report(ReportArgs),
    /// Validate AWS Backup restore tests (`[aws_backup]`): take the events
    /// of completed S3 restore jobs from the queue, judge each restored
    /// bucket against the source's versions at the recovery point, record
    /// the run and post SUCCESSFUL or FAILED to AWS Backup. Exit 0 when
    /// every job taken passed, 1 when one failed or a message was left for
    /// a person. The service does the same on every heartbeat.
    RestoreTesting(RestoreTestingArgs),
    /// Collect the S3 Batch Operations jobs of `provider_checksum` runs
    /// that ended: record each run's verdicts and finish it. Exit 0 when
    /// every run collected passed (or none was ready), 1 when one failed,
    /// 2 when one could not be judged. The service does the same on every
    /// heartbeat.
    Collect(CollectArgs),
    /// Deliver recorded evidence to the configured sinks (SIEM, files).
    ///
    /// With --once: deliver what is pending and report per sink (exit 0 every
    /// sink caught up, 1 one is not); without: keep shipping until stopped.
    Ship(ShipArgs),
    /// Check the configuration without touching the network; exit 2 with
    /// every problem when it is invalid. --connect also lists each source
    /// and reads one recovery point's attributes, and reaches each evidence
    /// sink, naming what fails and what to fix.
    Validate(ValidateArgs),
    /// Print a shell completion script, e.g.
    /// `restoreproof completions bash > /etc/bash_completion.d/restoreproof`.
    Completions(CompletionsArgs),
    /// Print the man page restoreproof(1) (roff); with --dir, write it and a
    /// page per subcommand there, as the packages install them.
    #[command(hide = true)]
    Manpage(ManpageArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The drill whose shards to merge.
    pub name: String,
    /// The directory the shards recorded into (their --shard-dir).
    #[arg(long, value_name = "DIR")]
    pub shard_dir: std::path::PathBuf,
    /// The sharded run's id (the shards' --run-id; default
    /// RESTOREPROOF_RUN_ID, else the array job's id from AWS_BATCH_JOB_ID).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// How many shards there are (default: what their directories say).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Merge only when every shard has finished; otherwise say which are
    /// still running and exit 0 (each shard of an Indexed Job can run this
    /// after its drill: the last to finish merges).
    #[arg(long)]
    pub if_complete: bool,
    /// Print the merged run as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Command {
    /// The command was asked for `--json` output.
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Drill(a) => a.json,
            Command::Merge(a) => a.json,
            Command::Status(a) => a.json,
            Command::Gate(a) => a.json,
            Command::Canary(a) => a.json,
            Command::Patch(a) => a.json,
            Command::Evidence(EvidenceCommand::Verify(a)) => a.json,
            Command::Evidence(
                EvidenceCommand::Keygen(_) | EvidenceCommand::Attest(_) | EvidenceCommand::Prove(_),
            ) => false,
            Command::Posture(a) => a.json,
            Command::Report(a) => a.format == ReportFormat::Json && a.output.is_none(),
            Command::Ship(a) => a.json,
            Command::RestoreTesting(a) => a.json,
            Command::Collect(a) => a.json,
            Command::Validate(a) => a.json,
            Command::Run | Command::Completions(_) | Command::Manpage(_) => false,
        }
    }
}

#[derive(Debug, Args)]
pub struct PostureArgs {
    /// Only this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The period: `90d`, `12w`, `24h` ...
    #[arg(long, default_value = "90d", value_parser = parse_age)]
    pub since: crate::config::Age,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Only this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Write to this file instead of stdout (never one of the agent's own
    /// files; an existing file only with --force).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Replace an existing output file.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// Cross the ISO/IEC 27001 control matrix with these frameworks
    /// (comma-separated: iso27001-2013, iso27001-2022, soc2, nist-800-53,
    /// c5, dora, nis2); see docs/crosswalk.md.
    #[arg(long, value_name = "LIST", value_parser = parse_frameworks)]
    pub framework: Option<Frameworks>,
    /// With --format csv, the table to write (one table, one header, per
    /// file): `drills`, `failures` or `controls`.
    #[arg(long, value_enum)]
    pub table: Option<CsvTable>,
}

/// The tables of a CSV report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CsvTable {
    /// One row per drill.
    Drills,
    /// One row per failed recovery point.
    Failures,
    /// One row per control of the matrix.
    Controls,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Md,
    Html,
    Json,
    Csv,
    /// OSCAL 1.0.4 assessment results (JSON), for GRC tools.
    Oscal,
}

/// A `--framework` list.
#[derive(Debug, Clone)]
pub struct Frameworks(pub Vec<crate::controls::Framework>);

fn parse_frameworks(s: &str) -> Result<Frameworks, String> {
    crate::controls::Framework::parse_list(s).map(Frameworks)
}

fn parse_age(s: &str) -> Result<crate::config::Age, String> {
    s.parse()
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Create the Ed25519 key that signs checkpoints and print its public
    /// key (keep that off this host).
    Keygen(KeygenArgs),
    /// Check the hash chain and checkpoint signatures of evidence files and
    /// the ledger. Exit 0 intact, 1 tampered, 2 unreadable.
    Verify(VerifyArgs),
    /// Print the inclusion proof of one verified sample recorded in a batch
    /// (`record_verified = "batched"`): the leaf, its Merkle audit path,
    /// the batch event and the chain up to the checkpoint that covers it.
    /// Check it anywhere with `evidence verify --proof FILE`.
    Prove(ProveArgs),
    /// Write in-toto attestations (Statement v1, SLSA Verification Summary
    /// predicate) of drill runs in DSSE envelopes signed with the evidence
    /// signing key, one JSON line per run, for tools that verify DSSE.
    Attest(AttestArgs),
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// Only this run.
    #[arg(long, conflicts_with = "since")]
    pub run: Option<String>,
    /// Runs that started within this age (default 30d).
    #[arg(long, value_name = "AGE")]
    pub since: Option<crate::config::Age>,
    /// Write the envelopes here (JSON Lines) instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The sample's event id (as reports, `drill --json` and the ledger
    /// give it).
    pub event_id: String,
    /// Write the proof here instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (default: evidence.signing_key).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The key's name in signatures (default: restoreproof-HOST).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Evidence files (JSON Lines, rotated copies, `.gz`); none: the
    /// configured evidence file, its rotations and the ledger.
    pub files: Vec<PathBuf>,
    /// The public key checkpoints must be signed with (as keygen printed it).
    #[arg(long, conflicts_with = "public_key_file")]
    pub public_key: Option<String>,
    /// A file holding that public key.
    #[arg(long)]
    pub public_key_file: Option<PathBuf>,
    /// Also verify the configured ledger and compare the files with it.
    #[arg(long)]
    pub ledger: bool,
    /// A checkpoint note kept off this host (e.g. from the SIEM): the
    /// evidence must reach at least as far.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Also check the evidence against every checkpoint anchored in
    /// write-once storage (`[evidence.anchor]`): a rewritten local history
    /// fails against what the host cannot change.
    #[arg(long)]
    pub anchor: bool,
    /// Check an inclusion proof (from `evidence prove`) on its own: no
    /// configuration, ledger or evidence file is read.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["files", "ledger", "checkpoint", "anchor"])]
    pub proof: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Write every page (restoreproof.1, restoreproof-drill.1, ...) here.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Wait until no run waits for a job any more (checking every 2 s at
    /// first, then at most every minute).
    #[arg(long)]
    pub wait: bool,
    /// Print the runs collected as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreTestingArgs {
    /// Handle what the queue holds now and exit (the service polls it on
    /// its own).
    #[arg(long, required = true)]
    pub once: bool,
    /// Seconds to wait for a first message (0–20, SQS long polling).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i32).range(0..=20))]
    pub wait: i32,
    /// Print what became of each message as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShipArgs {
    /// Deliver what is pending, report, and exit.
    #[arg(long)]
    pub once: bool,

    /// Only this sink.
    #[arg(long)]
    pub sink: Option<String>,

    /// Print the per-sink report as JSON (with --once).
    #[arg(long, requires = "once")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PatchArgs {
    /// Print the state and findings as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CanaryArgs {
    /// The canary, as named under `[canaries]` in the config.
    pub name: String,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// A passed run must have finished within this age (e.g. `7d`, `36h`),
    /// over each drill's `gate.max_age`.
    #[arg(long, value_name = "AGE")]
    pub max_age: Option<crate::config::Age>,
    /// Rotating coverage must be at least this share (e.g. `90%`), over each
    /// drill's `gate.min_coverage`; drills without `coverage` are not
    /// judged by it.
    #[arg(long, value_name = "PERCENT")]
    pub min_coverage: Option<crate::config::Percent>,
    /// Only this drill.
    #[arg(long, conflicts_with = "source")]
    pub drill: Option<String>,
    /// Only the drills of this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Print the judgement as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Print the metrics the service writes to its metrics file
    /// (Prometheus text format), e.g. for a textfile collector fed by cron.
    #[arg(long)]
    pub prometheus: bool,
    /// Only whether the service is alive, for container health checks and
    /// exec probes: exit 0 while its heartbeat is fresh, 1 when it is
    /// stale, stopped or the service never ran with this configuration.
    #[arg(long, conflicts_with_all = ["json", "prometheus"])]
    pub heartbeat: bool,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The drill to run, as named under `[drills]` in the config.
    #[arg(required_unless_present = "source", conflicts_with = "source")]
    pub name: Option<String>,

    /// Run an ad-hoc drill against this configured source instead.
    #[arg(long)]
    pub source: Option<String>,

    /// Sample size: a count (`50`), a percentage (`2%`) or a byte budget (`10GiB`).
    #[arg(long, value_parser = parse_sample)]
    pub sample: Option<SampleSize>,

    /// Sampling strategy.
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,

    /// Seed for the uniform strategy (recorded; the same seed and listing give
    /// the same sample).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Restore mode.
    #[arg(long, value_enum)]
    pub mode: Option<RestoreMode>,

    /// Which references to hash: `efficient` (SHA-256 plus the cheapest
    /// stored reference) or `thorough` (every reference that exists).
    #[arg(long, value_enum)]
    pub verify: Option<crate::config::VerifyPolicy>,

    /// Restores in flight at once.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: Option<u16>,

    /// Run one shard of the drill: `I/N` (0-based), or `N` with the index
    /// from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job) or
    /// `AWS_BATCH_JOB_ARRAY_INDEX` (an AWS Batch array job). Every shard
    /// draws the same sample (give `--seed`) and keeps its part.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// With --shard: the directory the shards and `restoreproof merge`
    /// share (a shared volume). The shard records into
    /// DIR/RUN/shard-I-of-N/ (its own ledger and evidence file, its
    /// checkpoints signed with the agent's key), reads first-seen baselines
    /// from the main ledger, and ships nothing: the merge does.
    #[arg(long, value_name = "DIR", requires = "shard")]
    pub shard_dir: Option<std::path::PathBuf>,
    /// With --shard: the id every shard of one sharded run shares (default:
    /// RESTOREPROOF_RUN_ID, else the array job's id from AWS_BATCH_JOB_ID).
    #[arg(long, value_name = "ID", requires = "shard")]
    pub run_id: Option<String>,
    /// With --shard: after this shard, merge the run if every shard has
    /// finished (as `restoreproof merge --if-complete`): the last shard of
    /// an Indexed Job or array job to finish records the merged run. The
    /// exit code stays this shard's.
    #[arg(long, requires = "shard_dir")]
    pub merge: bool,

    /// Print one JSON document (run summary and every verdict) on stdout.
    #[arg(long)]
    pub json: bool,

    /// List the source and show what a run would restore (population,
    /// sample, seed, bytes, estimated time) without restoring or recording
    /// anything. Run again with `--seed` to restore exactly that sample.
    #[arg(long)]
    pub plan: bool,

    /// In the table, show only the recovery points that did not verify.
    #[arg(long, conflicts_with = "json")]
    pub only_failures: bool,

    /// `provider_checksum` drills: wait for the S3 Batch Operations jobs
    /// and collect them (without it the run is left waiting, for the
    /// service or `restoreproof collect`).
    #[arg(long)]
    pub wait: bool,

    /// Do not deliver the evidence to the configured sinks at the end (it
    /// stays in the outbox for the service or `restoreproof ship`).
    #[arg(long)]
    pub no_ship: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,

    /// Also reach each source (list it, read one recovery point's
    /// attributes) and each evidence sink (TCP/TLS handshake, HTTP
    /// authentication) without sending evidence; exit 2 when one fails.
    #[arg(long)]
    pub connect: bool,
}

fn parse_sample(s: &str) -> Result<SampleSize, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Every subcommand with arbitrary values for its flags: clap and the
    /// value parsers answer with an error or a parse, never a panic.
    #[test]
    fn command_lines_never_panic(args in prop::collection::vec(prop_oneof![
        prop::sample::select(vec![
            "drill", "d", "--plan", "--json", "--sample", "--seed", "--verify", "--mode",
            "report", "--since", "--until", "--format", "--framework", "-o",
            "evidence", "verify", "attest", "--public-key", "gate", "--max-age",
            "--min-coverage", "--drill", "--source", "status", "--prometheus", "validate",
            "--connect", "ship", "--once", "patch", "posture", "canary", "run", "completions",
        ]).prop_map(str::to_owned),
        crate::config::proptests::operator_text(),
    ], 0..8)) {
        use clap::Parser as _;
        let argv = std::iter::once("restoreproof".to_owned()).chain(args);
        let _ = crate::cli::Cli::try_parse_from(argv);
    }
    }
}

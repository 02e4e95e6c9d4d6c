//! `restoreproof drill`: one restore drill now, with a progress bar on a
//! terminal, a summary table for people and `--json` for machines
//! (`output`), or with `--plan` what it would restore (`plan`).

mod output;
mod plan;

use output::{print_human, Both, Output, Progress};

use super::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, DrillArgs};
use crate::config::{Config, DrillConfig, RawDrill};
use crate::drill::{Drill, DrillError, Observer, Quiet, RunStatus, RunSummary, Stop};
use crate::ledger::recorder::Recorder;
use crate::outcome::RunOutcome;
use crate::source::BuildOptions;
use anyhow::{anyhow, Context};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::task::AbortOnDropHandle;

/// Runs one drill.
///
/// # Errors
/// When the config is invalid, the drill or source is unknown, or the drill
/// could not run (listing, ledger or evidence failures).
pub async fn run(cli: &Cli, args: &DrillArgs) -> anyhow::Result<ExitCode> {
    let (mut config, drill) = load(cli, args)?;
    let main_ledger = config.ledger_path.clone();
    let shard_place = shard_place(args, &mut config, &drill)?;
    let source_config = config.sources.get(&drill.source).ok_or_else(|| {
        anyhow!(
            "the drill names source `{}`, which is not configured",
            drill.source
        )
    })?;
    let source = crate::providers::build(
        &drill.source,
        source_config,
        BuildOptions::for_drill(&drill),
    )
    .await
    .map_err(|e| anyhow!("cannot set up source `{}`: {e}", drill.source))?;
    if args.plan {
        return plan::plan(&config, &drill, &*source, args, cli.quiet).await;
    }
    let mut opened = open_recorder(&config)?;
    if shard_place.is_some() && main_ledger.exists() {
        opened.baselines = Some(
            crate::ledger::Ledger::open_read_only(&main_ledger).with_context(|| {
                format!(
                    "cannot read first-seen baselines from {}",
                    main_ledger.display()
                )
            })?,
        );
    }
    let recorder = std::sync::Mutex::new(opened);
    let show_progress = !args.json && !cli.quiet && std::io::stderr().is_terminal();
    let progress: Arc<dyn Observer> = if show_progress {
        Arc::new(Progress::new())
    } else {
        Arc::new(Quiet)
    };
    // Results are written out (JSON) or kept for the table (bounded) as
    // they finish; the drill itself keeps none.
    let output = Arc::new(Output::new(args.json, args.only_failures));
    let observer: Arc<dyn Observer> = Arc::new(Both(progress, output.clone()));
    let (stop, signals) = stop_on_signals()?;
    let outcome = Drill {
        config: &drill,
        recorder: &recorder,
        stop: stop.clone(),
        trigger: crate::drill::Trigger::Manual,
    }
    .run(source, observer.clone())
    .await;
    let outcome = collect_if_waiting(outcome, &config, &recorder, &stop, args.wait).await?;
    drop(observer);
    drop(signals);
    let shipping = if args.no_ship || shard_place.is_some() || config.sinks.is_empty() {
        Vec::new()
    } else {
        ship_evidence(&config, &recorder).await
    };
    // The run's checkpoint goes to write-once storage too.
    if let Some(anchor) = config.anchor.as_ref().filter(|_| !args.no_ship) {
        if let Err(e) = crate::providers::s3::anchor::sync(anchor, &recorder).await {
            tracing::warn!(error = %e, "Cannot anchor the checkpoint; the next run or the service tries again.");
        }
    }
    let summary = summary_or_error(outcome, &output)?;
    if let (true, Some(s), Some(root)) = (args.merge, drill.shard, args.shard_dir.as_ref()) {
        let run = crate::drill::merge::run_id(args.run_id.as_deref(), |v| std::env::var(v).ok())
            .map_err(|e| anyhow!(e))?;
        let main = Config::load(&cli.config)?;
        match super::merge::merge(&main, &drill.name, root, &run, Some(s.count), true).await {
            Ok((text, _, _)) => eprintln!("{text}"),
            Err(e) => eprintln!("warning: cannot merge the run `{run}` yet: {e:#}; run `restoreproof merge {} --shard-dir {} --run-id {run}`", drill.name, root.display()),
        }
    }
    if args.json {
        output.end(serde_json::json!({
            "summary": summary,
            "ledger": config.ledger_path,
            "evidence": config.evidence_path,
            "shipping": shipping,
        }));
    } else {
        print_human(&summary, &output, &config);
    }
    if summary.status == RunStatus::Waiting {
        return Ok(ExitCode::from(EXIT_OK));
    }
    Ok(ExitCode::from(exit_code(&summary)))
}

/// A `provider_checksum` run that waits for its jobs: said, and with
/// `--wait` collected (Ctrl-C leaves it waiting).
async fn collect_if_waiting(
    mut outcome: Result<RunSummary, DrillError>,
    config: &Config,
    recorder: &std::sync::Mutex<Recorder>,
    stop: &Stop,
    wait: bool,
) -> anyhow::Result<Result<RunSummary, DrillError>> {
    if let Some(s) = outcome
        .as_ref()
        .ok()
        .filter(|s| s.status == RunStatus::Waiting)
    {
        let id = s.run_id.clone();
        eprintln!("{}", waiting_text(s, wait));
        if wait {
            let (done, _) =
                super::collect::until_collected(config, recorder, stop, true, Some(&id)).await?;
            if let Some(s) = done.into_iter().find(|s| s.run_id == id) {
                eprintln!("{}", super::collect::line(&s));
                outcome = Ok(s);
            }
        }
    }
    Ok(outcome)
}

/// What a `provider_checksum` run submitted, and what happens next.
fn waiting_text(s: &RunSummary, wait: bool) -> String {
    let Some(p) = &s.provider_checksum else {
        return String::new();
    };
    let jobs: Vec<String> = p
        .jobs
        .iter()
        .map(|j| {
            format!(
                "{} ({} {}, {} object(s))",
                j.job_id, j.algorithm, j.checksum_type, j.objects
            )
        })
        .collect();
    format!(
        "Submitted {} S3 Batch Operations job(s): {}; estimated cost ${:.2} (max_cost ${:.2}). {}",
        jobs.len(),
        jobs.join(", "),
        p.estimated_cost_usd,
        p.max_cost_usd,
        if wait {
            "Waiting for them (Ctrl-C leaves the run waiting for the service or `restoreproof collect`)."
        } else {
            "The run waits for them: the service collects them at a later heartbeat, or run `restoreproof collect --wait`."
        }
    )
}

/// The ledger and evidence file, with the signing key (created on first
/// use, its public key printed once).
pub(crate) fn open_recorder(config: &Config) -> anyhow::Result<Recorder> {
    let mut opened = Recorder::open(&config.ledger_path, &config.evidence_path)?;
    let creates_key =
        matches!(&config.signing_key, crate::config::SecretSource::File(p) if !p.exists());
    let signer = crate::evidence::chain::load_signer(&config.signing_key)
        .map_err(|e| anyhow!("{e}; set evidence.signing_key or evidence.signing_key_credential"))?;
    if creates_key {
        // Once, when it is created: the public key belongs off this host.
        eprintln!(
            "Created the evidence signing key. Keep its public key off this host (e.g. with your SIEM) to verify checkpoints with `restoreproof evidence verify --public-key KEY`:\n{}",
            signer.vkey()
        );
    }
    opened.signer = Some(signer);
    Ok(opened)
}

/// SIGINT/SIGTERM/SIGHUP (Ctrl-C, `systemctl stop`, a closed terminal):
/// cancel the restores in flight, record them as `aborted` and end the
/// run; a second signal exits at once. The watch ends when the handle is
/// dropped.
fn stop_on_signals() -> anyhow::Result<(Stop, AbortOnDropHandle<()>)> {
    let stop = Stop::new();
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let cancel = stop.clone();
    let watch = AbortOnDropHandle::new(tokio::spawn(async move {
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {}, _ = hup.recv() => {} }
        eprintln!(
            "\nStopping: restores in flight are recorded as aborted (again to quit at once)."
        );
        cancel.cancel();
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {}, _ = hup.recv() => {} }
        std::process::exit(130);
    }));
    Ok((stop, watch))
}

/// The run's summary, or the error that kept it from running (closing the
/// `--json` document with it).
fn summary_or_error(
    outcome: Result<RunSummary, DrillError>,
    output: &Output,
) -> anyhow::Result<RunSummary> {
    match outcome {
        Ok(r) => Ok(r),
        Err(DrillError::Listing { source_name, error }) => {
            output.error(serde_json::json!({"error": error.to_string(), "error_class": error.class, "source": source_name}));
            Err(anyhow!("cannot list the source `{source_name}`: {error}"))
        }
        Err(DrillError::Host(why)) => {
            output.error(serde_json::json!({"error": why, "error_class": "host"}));
            Err(anyhow!("the drill stopped: {why}"))
        }
        Err(e) => {
            output.error(serde_json::json!({"error": e.to_string()}));
            Err(e.into())
        }
    }
}

/// A shard records into its own place under --shard-dir (its ledger and
/// evidence file; no anchor) and reads the main ledger's baselines; the
/// merge ships. `None` when this is no shard's run.
fn shard_place(
    args: &DrillArgs,
    config: &mut Config,
    drill: &DrillConfig,
) -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(s) = drill.shard.filter(|_| !args.plan) else {
        return Ok(None);
    };
    let root = args.shard_dir.as_ref().ok_or_else(|| {
        anyhow!("a shard records into a ledger and evidence file of its own: give --shard-dir DIR, the directory the shards and `restoreproof merge` share")
    })?;
    let run = crate::drill::merge::run_id(args.run_id.as_deref(), |v| std::env::var(v).ok())
        .map_err(|e| anyhow!(e))?;
    let dir = crate::drill::merge::shard_dir(root, &run, s);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the shard's directory {}", dir.display()))?;
    config.ledger_path = dir.join("ledger.db");
    config.evidence_path = dir.join("evidence.jsonl");
    config.anchor = None;
    Ok(Some(dir))
}

/// The exit code of a run's outcome, saying why on stderr when it is not
/// in the table.
pub(crate) fn exit_code(summary: &RunSummary) -> u8 {
    match summary.outcome {
        Some(RunOutcome::Passed) => EXIT_OK,
        Some(RunOutcome::Failed) => {
            if summary.sampled == 0 {
                eprintln!("error: {}", summary.reason.as_deref().unwrap_or_default());
            }
            EXIT_FAILED
        }
        Some(RunOutcome::Aborted) => {
            eprintln!(
                "error: the drill was stopped before it finished; {} recovery point(s) were cancelled and {} not started",
                summary.counts.aborted, summary.not_started
            );
            EXIT_ERROR
        }
        Some(RunOutcome::Error) | None => EXIT_ERROR,
    }
}

/// Applies the outbox bounds and delivers the evidence to every sink, for
/// at most 30 s; what is not delivered stays in the outbox for the service
/// or `restoreproof ship`.
pub(crate) async fn ship_evidence(
    config: &Config,
    recorder: &std::sync::Mutex<Recorder>,
) -> Vec<crate::sink::shipper::ShipReport> {
    if let Err(e) = crate::sink::outbox::prune(recorder, config) {
        eprintln!("warning: cannot apply the outbox bounds: {e}");
    }
    let shippers = match super::ship::open(config, None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: evidence not shipped: {e:#}; it stays in the outbox");
            return Vec::new();
        }
    };
    let reports = match tokio::time::timeout(
        std::time::Duration::from_secs(30),
        super::ship::drain_all(shippers),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => {
            eprintln!("warning: shipping evidence took longer than 30 s; the rest stays in the outbox for `restoreproof ship`");
            return Vec::new();
        }
    };
    for r in &reports {
        if let Some(e) = &r.error {
            eprintln!(
                "warning: sink {}: {e}; {} event(s) wait in the outbox for `restoreproof ship` or the service",
                r.sink, r.backlog
            );
        }
    }
    reports
}

/// The config and the drill to run: a configured one with flag overrides,
/// or an ad-hoc one against a configured source. The flags are a patch on
/// the drill as written, which then passes the same validation as the file
/// (so `--mode undelete` needs `allow_undelete` exactly as `mode` does).
fn load(cli: &Cli, args: &DrillArgs) -> anyhow::Result<(Config, DrillConfig)> {
    let name = match (&args.name, &args.source) {
        (Some(name), _) => name.clone(),
        (None, Some(src)) => format!("adhoc-{src}"),
        (None, None) => {
            return Err(anyhow!(
                "name a drill, or use --source NAME for an ad-hoc drill"
            ))
        }
    };
    let listed = |keys: Vec<&String>| {
        if keys.is_empty() {
            "none".to_owned()
        } else {
            keys.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut unknown: Option<anyhow::Error> = None;
    let loaded = Config::load_patched(&cli.config, |raw| {
        let drill = match &args.source {
            Some(src) if args.name.is_none() => {
                if !raw.sources.contains_key(src) {
                    unknown = Some(anyhow!(
                        "no source named `{src}` in the config; configured sources: {}",
                        listed(raw.sources.keys().collect())
                    ));
                    return;
                }
                raw.drills.insert(
                    name.clone(),
                    RawDrill {
                        source: src.clone(),
                        ..RawDrill::default()
                    },
                );
                raw.drills.get_mut(&name)
            }
            _ => raw.drills.get_mut(&name),
        };
        let Some(d) = drill else {
            unknown = Some(anyhow!(
                "no drill named `{name}` in the config; configured drills: {} (or use --source NAME for an ad-hoc drill)",
                listed(raw.drills.keys().collect())
            ));
            return;
        };
        d.sample = args.sample.or(d.sample);
        d.strategy = args.strategy.or(d.strategy);
        d.seed = args.seed.or(d.seed);
        d.mode = args.mode.or(d.mode);
        d.verify = args.verify.or(d.verify);
        d.concurrency = args.concurrency.map(usize::from).or(d.concurrency);
    });
    if let Some(e) = unknown {
        return Err(e);
    }
    let config = loaded?;
    let mut drill = config
        .drills
        .get(&name)
        .cloned()
        .ok_or_else(|| anyhow!("no drill named `{name}` in the config"))?;
    if let Some(spec) = &args.shard {
        drill.shard = Some(shard(spec, &drill)?);
    }
    Ok((config, drill))
}

/// `--shard`: which shard, and only where every shard draws the same
/// sample.
fn shard(spec: &str, drill: &DrillConfig) -> anyhow::Result<crate::config::Shard> {
    let s = crate::config::Shard::parse(spec, |v| std::env::var(v).ok()).map_err(|e| anyhow!(e))?;
    if drill.strategy == crate::config::Strategy::Uniform && drill.seed.is_none() {
        return Err(anyhow!(
            "--shard needs a fixed seed so every shard draws the same sample: give --seed (the same for every shard) or set drills.{}.seed",
            drill.name
        ));
    }
    if drill.coverage.is_some() {
        return Err(anyhow!(
            "--shard does not combine with rotating coverage in this release (each shard's ledger knows different recovery points): run drills.{} without --shard, or a drill without coverage",
            drill.name
        ));
    }
    Ok(s)
}

//! `restoreproof drill`: one restore drill now, with a progress bar on a
//! terminal, a summary table for people and `--json` for machines.

use super::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, DrillArgs};
use crate::config::{human_bytes, Config, DrillConfig, RawDrill};
use crate::drill::{Drill, DrillError, Observer, Quiet, RunSummary, SampleResult, Stop};
use crate::ledger::recorder::Recorder;
use crate::outcome::RunOutcome;
use crate::source::{self, BuildOptions};
use crate::verify::{Outcome, Verdict};
use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

/// Runs one drill.
///
/// # Errors
/// When the config is invalid, the drill or source is unknown, or the drill
/// could not run (listing, ledger or evidence failures).
pub async fn run(cli: &Cli, args: &DrillArgs) -> anyhow::Result<ExitCode> {
    let (config, drill) = load(cli, args)?;
    let source_config = config.sources.get(&drill.source).ok_or_else(|| {
        anyhow!(
            "the drill names source `{}`, which is not configured",
            drill.source
        )
    })?;
    let source = source::build(
        &drill.source,
        source_config,
        BuildOptions::for_drill(&drill),
    )
    .await
    .map_err(|e| anyhow!("cannot set up source `{}`: {e}", drill.source))?;
    if args.plan {
        return plan(&config, &drill, &*source, args).await;
    }
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
    let recorder = std::sync::Mutex::new(opened);

    let show_progress = !args.json && !args.quiet && std::io::stderr().is_terminal();
    let progress: Arc<dyn Observer> = if show_progress {
        Arc::new(Progress::new())
    } else {
        Arc::new(Quiet)
    };
    // Results are written out (JSON) or kept for the table (bounded) as
    // they finish; the drill itself keeps none.
    let output = Arc::new(Output::new(args.json, args.only_failures));
    let observer: Arc<dyn Observer> = Arc::new(Both(progress, output.clone()));
    // SIGINT/SIGTERM/SIGHUP (Ctrl-C, `systemctl stop`, a closed terminal):
    // cancel the restores in flight, record them as `aborted` and end the
    // run; a second signal exits at once.
    let stop = Stop::new();
    let signals = {
        let stop = stop.clone();
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        AbortOnDrop(tokio::spawn(async move {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {}, _ = hup.recv() => {} }
            eprintln!(
                "\nStopping: restores in flight are recorded as aborted (again to quit at once)."
            );
            stop.cancel();
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {}, _ = hup.recv() => {} }
            std::process::exit(130);
        }))
    };
    let outcome = Drill {
        config: &drill,
        recorder: &recorder,
        stop,
        trigger: crate::drill::Trigger::Manual,
    }
    .run(source, observer.clone())
    .await;
    drop(observer);
    drop(signals);
    let shipping = if args.no_ship || config.sinks.is_empty() {
        Vec::new()
    } else {
        ship_evidence(&config, &recorder).await
    };
    let summary = match outcome {
        Ok(r) => r,
        Err(DrillError::Listing { source_name, error }) => {
            output.error(serde_json::json!({"error": error.to_string(), "error_class": error.class, "source": source_name}));
            return Err(anyhow!("cannot list the source `{source_name}`: {error}"));
        }
        Err(DrillError::Host(why)) => {
            output.error(serde_json::json!({"error": why, "error_class": "host"}));
            return Err(anyhow!("the drill stopped: {why}"));
        }
        Err(e) => {
            output.error(serde_json::json!({"error": e.to_string()}));
            return Err(e.into());
        }
    };
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
    Ok(ExitCode::from(match summary.outcome {
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
    }))
}

/// Applies the outbox bounds and delivers the evidence to every sink, for
/// at most 30 s; what is not delivered stays in the outbox for the service
/// or `restoreproof ship`.
async fn ship_evidence(
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

/// `drill --plan`: what a run would restore, without restoring or recording.
async fn plan(
    config: &Config,
    drill: &DrillConfig,
    source: &dyn crate::source::RecoverySource,
    args: &DrillArgs,
) -> anyhow::Result<ExitCode> {
    let show_progress = !args.json && !args.quiet && std::io::stderr().is_terminal();
    let progress: Box<dyn Observer> = if show_progress {
        Box::new(Progress::new())
    } else {
        Box::new(Quiet)
    };
    let p = crate::drill::plan(drill, source, &*progress)
        .await
        .map_err(|e| anyhow!("cannot list the source `{}`: {e}", drill.source))?;
    drop(progress);
    // The time is estimated from the last finished run's throughput, when
    // the ledger has one.
    let throughput = config
        .ledger_path
        .exists()
        .then(|| crate::ledger::Ledger::open_read_only(&config.ledger_path).ok())
        .flatten()
        .and_then(|l| l.last_finished_runs().ok())
        .and_then(|mut runs| runs.remove(&drill.name))
        .and_then(|r| r.throughput_bytes_per_sec)
        .filter(|t| *t > 0);
    let estimated_secs = throughput.map(|t| p.sampled_bytes.div_ceil(t));
    if args.json {
        super::out::json(&serde_json::json!({
            "schema": super::out::schema::DRILL_PLAN,
            "plan": p,
            "estimated_secs": estimated_secs,
            "estimated_from_bytes_per_sec": throughput,
        }));
        return Ok(ExitCode::from(EXIT_OK));
    }
    let pop = &p.population;
    crate::outln!(
        "Plan for drill {} (source {}, strategy {}{}), nothing restored:",
        p.drill,
        p.source.name,
        p.strategy,
        p.seed.map(|s| format!(", seed {s}")).unwrap_or_default()
    );
    crate::outln!(
        "  population: {} version(s) listed, {} delete marker(s), {} filtered out, {} candidate(s) ({})",
        pop.versions_listed,
        pop.delete_markers,
        pop.filtered_out,
        pop.candidates,
        human_bytes(pop.candidate_bytes)
    );
    crate::outln!(
        "  sample: {} recovery point(s), {} ({} mode)",
        p.sampled,
        human_bytes(p.sampled_bytes),
        p.mode
    );
    match (estimated_secs, throughput) {
        (Some(s), Some(t)) => crate::outln!(
            "  estimated restore time: {s} s at the last run's {}/s",
            human_bytes(t)
        ),
        _ => crate::outln!(
            "  estimated restore time: unknown until a run of this drill has finished"
        ),
    }
    for c in p.sample.iter().take(PLAN_ROWS) {
        crate::outln!(
            "  {:<60}  {:<38}  {:>10}",
            truncate(&c.key, 60),
            truncate(&c.point_id(), 38),
            human_bytes(c.size)
        );
    }
    if p.sample.len() > PLAN_ROWS {
        crate::outln!(
            "  … and {} more (`--json` lists them all)",
            p.sample.len() - PLAN_ROWS
        );
    }
    if let Some(seed) = p.seed {
        crate::outln!(
            "Run `restoreproof drill {} --seed {seed}` to restore exactly this sample.",
            p.drill
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// Sampled recovery points `--plan` lists (`--json` lists all).
const PLAN_ROWS: usize = 50;

/// A task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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
    let drill = config
        .drills
        .get(&name)
        .cloned()
        .ok_or_else(|| anyhow!("no drill named `{name}` in the config"))?;
    Ok((config, drill))
}

/// A progress bar on stderr: listing count, then bytes, rate and ETA.
struct Progress {
    bar: ProgressBar,
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} listing: {pos} versions seen")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self {
            bar,
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }
}

impl Observer for Progress {
    fn listed(&self, items: u64) {
        self.bar.set_position(items);
    }

    fn sampled(&self, count: u64, bytes: u64) {
        self.total.store(count, Ordering::Relaxed);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.bar.set_length(bytes);
        self.bar.set_position(0);
        self.bar.set_message(format!("0/{count} restored"));
    }

    fn bytes(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finished(&self, _r: &SampleResult) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.set_message(format!(
            "{done}/{} restored",
            self.total.load(Ordering::Relaxed)
        ));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// The verified rows the table shows at most; failures and other verdicts
/// are always shown.
const TABLE_VERIFIED_ROWS: usize = 1000;

/// Where each result goes as it finishes: `--json` writes it to stdout at
/// once (one document, `samples` first, closed by [`Output::end`] or
/// [`Output::error`]); the table keeps every result that is not
/// `verified`, and the first [`TABLE_VERIFIED_ROWS`] verified ones (none
/// with `--only-failures`).
struct Output {
    json: bool,
    verified_rows: usize,
    state: std::sync::Mutex<OutputState>,
}

#[derive(Default)]
struct OutputState {
    /// `--json`: the document was opened.
    opened: bool,
    rows: Vec<SampleResult>,
    verified_shown: usize,
    verified_omitted: u64,
}

impl Output {
    fn new(json: bool, only_failures: bool) -> Self {
        Self {
            json,
            verified_rows: if only_failures {
                0
            } else {
                TABLE_VERIFIED_ROWS
            },
            state: std::sync::Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutputState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the `--json` document with the fields of `tail` (an object).
    fn end(&self, tail: serde_json::Value) {
        if !self.json {
            return;
        }
        let mut st = self.lock();
        let mut text = String::from(if st.opened {
            "\n]"
        } else {
            "{\n\"schema\": \"restoreproof.drill/v1\",\n\"samples\": []"
        });
        st.opened = true;
        for (k, v) in tail.as_object().into_iter().flatten() {
            text.push_str(&format!(
                ",\n{}: {}",
                serde_json::Value::from(k.as_str()),
                serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
            ));
        }
        text.push_str("\n}\n");
        super::out::document_started();
        super::out::write(&text);
    }

    /// Closes the `--json` document with an error (or writes it alone).
    fn error(&self, e: serde_json::Value) {
        self.end(e);
    }
}

impl Observer for Output {
    fn finished(&self, r: &SampleResult) {
        let mut st = self.lock();
        if self.json {
            let sep = if st.opened {
                ",\n"
            } else {
                "{\n\"schema\": \"restoreproof.drill/v1\",\n\"samples\": [\n"
            };
            st.opened = true;
            super::out::document_started();
            super::out::write(&format!(
                "{sep}{}",
                serde_json::to_string_pretty(r).unwrap_or_else(|_| "null".into())
            ));
        } else if r.verdict != Verdict::Verified {
            st.rows.push(r.clone());
        } else if st.verified_shown < self.verified_rows {
            st.verified_shown += 1;
            st.rows.push(r.clone());
        } else {
            st.verified_omitted += 1;
        }
    }
}

/// Two observers as one.
struct Both(Arc<dyn Observer>, Arc<dyn Observer>);

impl Observer for Both {
    fn listed(&self, items: u64) {
        self.0.listed(items);
        self.1.listed(items);
    }
    fn sampled(&self, count: u64, bytes: u64) {
        self.0.sampled(count, bytes);
        self.1.sampled(count, bytes);
    }
    fn bytes(&self, n: u64) {
        self.0.bytes(n);
        self.1.bytes(n);
    }
    fn finished(&self, r: &SampleResult) {
        self.0.finished(r);
        self.1.finished(r);
    }
}

fn print_human(s: &RunSummary, output: &Output, config: &Config) {
    let st = output.lock();
    let results = &st.rows;
    let info = &s.source;
    let location = match (info.kind, info.endpoint.as_deref()) {
        ("azure_blob", Some(account)) => format!("{account}/{}/{}", info.bucket, info.prefix),
        _ => format!("s3://{}/{}", info.bucket, info.prefix),
    };
    let location = location.trim_end_matches('/').to_owned();
    crate::outln!(
        "Drill `{}` on {} (source `{}`), run {}",
        s.drill,
        location,
        s.source.name,
        s.run_id
    );
    let seed = s.seed.map(|x| format!(", seed {x}")).unwrap_or_default();
    crate::outln!(
        "Sampled {} of {} candidates ({} of {}) by {}{}, mode {}; {} recovery points listed, {} delete markers (not restorable), {} filtered out",
        s.sampled,
        s.population.candidates,
        human_bytes(s.sampled_bytes),
        human_bytes(s.population.candidate_bytes),
        s.strategy,
        seed,
        s.mode,
        s.population.versions_listed,
        s.population.delete_markers,
        s.population.filtered_out,
    );
    if s.population.larger_than_budget > 0 {
        crate::outln!(
            "{} candidates are larger than the whole byte budget and were not sampled",
            s.population.larger_than_budget
        );
    }
    crate::outln!();
    let mut rows: Vec<&SampleResult> = results.iter().collect();
    rows.sort_by(|a, b| {
        (a.recovery_point.key.as_str(), a.recovery_point.point_id())
            .cmp(&(b.recovery_point.key.as_str(), b.recovery_point.point_id()))
    });
    let key_w = rows
        .iter()
        .map(|r| r.recovery_point.key.chars().count())
        .max()
        .unwrap_or(3)
        .clamp(3, 48);
    crate::outln!(
        "{:<13}  {:<key_w$}  {:<38}  {:>10}  DETAIL",
        "VERDICT",
        "KEY",
        "VERSION",
        "SIZE"
    );
    for r in rows {
        let detail = match r.verdict {
            Verdict::Verified => {
                let refs: Vec<&str> = r
                    .checks
                    .iter()
                    .filter(|c| {
                        c.outcome == Outcome::Match && c.kind != crate::verify::ReferenceKind::Size
                    })
                    .map(|c| c.name.as_str())
                    .collect();
                format!("matched {}", refs.join(", "))
            }
            _ => r.reason.clone().unwrap_or_default(),
        };
        crate::outln!(
            "{:<13}  {:<key_w$}  {:<38}  {:>10}  {}",
            r.verdict.as_str(),
            truncate(&r.recovery_point.key, key_w),
            truncate(&r.recovery_point.point_id(), 38),
            human_bytes(r.recovery_point.size),
            detail
        );
    }
    if st.verified_omitted > 0 && st.verified_shown == 0 {
        crate::outln!(
            "… and {} verified, not shown (--only-failures; every verdict is in the evidence)",
            st.verified_omitted
        );
    } else if st.verified_omitted > 0 {
        crate::outln!(
            "… and {} more verified (the first {TABLE_VERIFIED_ROWS} are shown; every verdict is in the evidence, `--json` lists them all)",
            st.verified_omitted
        );
    }
    crate::outln!();
    let c = s.counts;
    crate::outln!(
        "verified {} · mismatch {} · unrecoverable {} · no_reference {} · skipped {}   {} restored in {:.1}s ({}/s)",
        c.verified,
        c.mismatch,
        c.unrecoverable,
        c.no_reference,
        c.skipped,
        human_bytes(s.bytes_restored),
        s.duration_ms as f64 / 1000.0,
        human_bytes(s.throughput_bytes_per_sec)
    );
    crate::outln!(
        "Evidence: {}  Ledger: {}",
        config.evidence_path.display(),
        config.ledger_path.display()
    );
    match (s.outcome, &s.reason) {
        (Some(RunOutcome::Passed), _) => crate::outln!("RESULT: PASSED"),
        (Some(RunOutcome::Failed), Some(why)) => crate::outln!("RESULT: FAILED — {why}"),
        (Some(o), _) => crate::outln!("RESULT: {}", o.as_str().to_uppercase()),
        (None, _) => {}
    }
}

fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

//! `restoreproof validate`: the check systemd's `ExecStartPre=` runs — the
//! config itself (pure, every problem at once), then whether this host, as
//! this user, can use it (files to read, places to write).

use super::{EXIT_ERROR, EXIT_OK};
use crate::cli::{Cli, ValidateArgs};
use serde::Serialize;
use serde_json::json;
use std::process::ExitCode;

/// Validates the config and prints the result.
///
/// # Errors
/// Never; problems (and unreachable sinks with `--connect`) are printed
/// and mapped to exit code 2.
pub async fn run(cli: &Cli, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    // The one validation path the service's start and reload take too.
    let loaded = crate::host::load_usable(&cli.config);
    match loaded {
        Ok(c) => {
            let schedules = schedules(&c);
            let connect = if args.connect {
                connect(&c).await
            } else {
                Vec::new()
            };
            let unreachable = connect.iter().any(|c| !c.ok);
            if args.json {
                super::out::json(&json!({
                    "schema": super::out::schema::VALIDATE,
                    "valid": true,
                    "connect": connect,
                    "config": cli.config,
                    "sources": c.sources.keys().collect::<Vec<_>>(),
                    "drills": c.drills.keys().collect::<Vec<_>>(),
                    "schedules": schedules,
                }));
            } else {
                print_valid(cli, &c, &schedules, &connect);
            }
            Ok(ExitCode::from(if unreachable {
                EXIT_ERROR
            } else {
                EXIT_OK
            }))
        }
        Err(e) => {
            if args.json {
                let problems: Vec<_> = e
                    .problems()
                    .into_iter()
                    .map(|p| json!({"path": p.path, "message": p.message}))
                    .collect();
                super::out::json(&json!({
                    "schema": super::out::schema::VALIDATE,
                    "valid": false,
                    "config": cli.config,
                    "problems": problems,
                }));
            } else {
                eprintln!("error: {e}");
            }
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}

/// A scheduled drill, its schedule and next run.
#[derive(Serialize)]
struct ScheduleRow<'a> {
    drill: &'a str,
    schedule: &'a str,
    timezone: &'a str,
    jitter_secs: u64,
    missed: crate::config::Missed,
    next_run: Option<String>,
}

/// A sink as `--connect` reached it.
#[derive(Serialize)]
struct ConnectRow<'a> {
    sink: &'a str,
    target: String,
    ok: bool,
    detail: String,
}

/// Each scheduled drill with its schedule and next run.
fn schedules(c: &crate::config::Config) -> Vec<ScheduleRow<'_>> {
    let now = chrono::Utc::now();
    c.drills
        .values()
        .filter_map(|d| d.schedule.as_ref().map(|s| (d, s)))
        .map(|(d, s)| {
            let next = s
                .next_after(now)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            ScheduleRow {
                drill: &d.name,
                schedule: s.expr(),
                timezone: s.timezone(),
                jitter_secs: s.jitter().as_secs(),
                missed: s.missed(),
                next_run: next,
            }
        })
        .collect()
}

/// `--connect`: each sink reached as its shipper would reach it.
async fn connect(c: &crate::config::Config) -> Vec<ConnectRow<'_>> {
    let mut connect = Vec::new();
    for sink in c.sinks.values() {
        let (ok, detail) = match check_sink(sink).await {
            Ok(detail) => (true, detail),
            Err(e) => (false, e.message),
        };
        connect.push(ConnectRow {
            sink: &sink.name,
            target: sink.target(),
            ok,
            detail,
        });
    }
    connect
}

/// A valid config, for people: its sources, drills, schedules and sinks.
fn print_valid(
    cli: &Cli,
    c: &crate::config::Config,
    schedules: &[ScheduleRow<'_>],
    connect: &[ConnectRow<'_>],
) {
    crate::outln!(
        "{}: valid ({} source(s): {}; {} drill(s): {})",
        cli.config.display(),
        c.sources.len(),
        c.sources.keys().cloned().collect::<Vec<_>>().join(", "),
        c.drills.len(),
        c.drills.keys().cloned().collect::<Vec<_>>().join(", "),
    );
    crate::outln!(
        "  writes the ledger to {} and the evidence to {}",
        c.ledger_path.display(),
        c.evidence_path.display()
    );
    for d in c
        .drills
        .values()
        .filter(|d| d.mode == crate::config::RestoreMode::Local)
    {
        crate::outln!(
            "  {}: `local` restores write to {}",
            d.name,
            d.scratch_dir.display()
        );
    }
    for s in schedules {
        crate::outln!(
            "  {}: `{}` in {}, next run {}",
            s.drill,
            s.schedule,
            s.timezone,
            s.next_run.as_deref().unwrap_or("never"),
        );
    }
    for c in connect {
        crate::outln!(
            "  sinks.{}: {} {}: {}",
            c.sink,
            c.target,
            if c.ok { "reachable" } else { "UNREACHABLE" },
            c.detail,
        );
    }
}

/// Connects to a sink as its shipper would. A failure that may pass (a
/// reset, a busy receiver closing a fresh connection) is tried again, up to
/// three attempts a second apart, as the shipper itself would retry; a
/// permanent one (a refused certificate or token) is reported at once.
async fn check_sink(
    sink: &crate::config::sink::SinkConfig,
) -> Result<String, crate::sink::SinkError> {
    const ATTEMPTS: u32 = 3;
    let mut first: Option<String> = None;
    let mut attempt = 1;
    loop {
        let result = match crate::sink::build(sink) {
            Ok(mut built) => built.check().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(detail) => {
                return Ok(match first {
                    Some(f) => format!("{detail} (attempt {attempt}; the first failed: {f})"),
                    None => detail,
                })
            }
            Err(e) if e.permanent || attempt == ATTEMPTS => return Err(e),
            Err(e) => {
                first.get_or_insert(e.message);
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

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
            let (connect, reached) = if args.connect {
                (connect(&c).await, reach_sources(&c).await)
            } else {
                (Vec::new(), Vec::new())
            };
            let unreachable = connect.iter().any(|c| !c.ok) || reached.iter().any(|s| !s.ok);
            if args.json {
                super::out::json(&json!({
                    "schema": super::out::schema::VALIDATE,
                    "valid": true,
                    "connect": connect,
                    "sources_reached": reached,
                    "config": cli.config,
                    "sources": c.sources.keys().collect::<Vec<_>>(),
                    "drills": c.drills.keys().collect::<Vec<_>>(),
                    "schedules": schedules,
                }));
            } else {
                print_valid(cli, &c, &schedules, &connect);
                for s in &reached {
                    crate::outln!(
                        "  sources.{}: {} {}: {}",
                        s.source,
                        s.target,
                        if s.ok { "reachable" } else { "UNREACHABLE" },
                        s.detail,
                    );
                }
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

/// A source as `--connect` reached it.
#[derive(Serialize)]
struct SourceRow<'a> {
    source: &'a str,
    target: String,
    ok: bool,
    detail: String,
}

/// `--connect`: each source listed (its first version or blob) and that
/// recovery point's attributes read, as a drill would; what fails is named
/// with what to fix.
async fn reach_sources(c: &crate::config::Config) -> Vec<SourceRow<'_>> {
    let mut out = Vec::new();
    for (name, cfg) in &c.sources {
        let info = crate::source::SourceInfo::of_config(name, cfg);
        let (ok, detail) = match tokio::time::timeout(
            std::time::Duration::from_secs(60),
            reach(name, cfg),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => (
                false,
                "no answer within 60 s: check the endpoint and the network".to_owned(),
            ),
        };
        out.push(SourceRow {
            source: name,
            target: format!(
                "{}://{}/{}",
                info.kind.url_scheme(),
                info.bucket,
                info.prefix
            ),
            ok,
            detail,
        });
    }
    out
}

async fn reach(name: &str, cfg: &crate::config::SourceConfig) -> (bool, String) {
    use crate::source::ListItem;
    use futures::StreamExt as _;
    let options = crate::source::BuildOptions {
        attempts: 1,
        timeout: std::time::Duration::from_secs(30),
    };
    let source = match crate::providers::build(name, cfg, options).await {
        Ok(s) => s,
        Err(e) => return (false, format!("cannot set up the source: {e}")),
    };
    let mut listing = source.list();
    let first = listing.next().await;
    drop(listing);
    match first {
        None => (true, "listed: nothing under its prefix yet".into()),
        Some(Err(e)) => (false, format!("cannot list it: {}", hint(&e))),
        Some(Ok(ListItem::DeleteMarker { .. })) => (true, "listed (a delete marker first)".into()),
        Some(Ok(ListItem::Version(v))) => match source.attributes(&v).await {
            Ok(_) => (
                true,
                format!(
                    "listed, and read the attributes of {}",
                    crate::text::shown(&v.key)
                ),
            ),
            Err(e) => (
                false,
                format!(
                    "listed, but cannot read a recovery point's attributes: {}",
                    hint(&e)
                ),
            ),
        },
    }
}

/// A source error with what to do about it.
fn hint(e: &crate::source::SourceError) -> String {
    use crate::source::ErrorClass as C;
    let fix = match e.class {
        C::Network | C::Timeout => "the endpoint cannot be reached: check endpoint, region and the network",
        C::Credentials => "the store refused the key or signature: check the credentials (and this host's clock)",
        C::AccessDenied => "the identity may not do this: grant the permissions in packaging/aws/iam-policy-drill.json (S3) or Storage Blob Data Reader (Azure)",
        C::NotFound => "not found: check the bucket or container name (and the account or region)",
        _ => "",
    };
    if fix.is_empty() {
        format!("{}: {}", e.class, e.message)
    } else {
        format!("{}: {}; {fix}", e.class, e.message)
    }
}

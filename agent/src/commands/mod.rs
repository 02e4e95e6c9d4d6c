//! Subcommands. Each returns the process exit code or an error that means
//! "could not run" (exit 2).

pub mod canary;
mod collect;
pub mod drill;
pub mod evidence;
pub mod gate;
mod manpage;
pub mod merge;
pub mod out;
pub mod patch;
pub mod posture;
pub mod report;
pub mod restore_testing;
pub mod run;
pub mod ship;
pub mod status;
pub mod validate;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

/// Exit code: every sampled recovery point verified (or had no reference).
pub const EXIT_OK: u8 = 0;
/// Exit code: the drill ran and something failed verification.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the command could not run.
pub const EXIT_ERROR: u8 = 2;

/// An error naming the configured sources when `name` is not one.
///
/// # Errors
/// When the config has no source `name`.
pub fn known_source(config: &crate::config::Config, name: &str) -> anyhow::Result<()> {
    if config.sources.contains_key(name) {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "no source named `{name}`; configured sources: {}",
        config
            .sources
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The man page's sections clap does not know: exit status, files, see also.
const MANPAGE_TAIL: &str = r#".SH "EXIT STATUS"
.TP
.B 0
The command did what it was asked; for \fBdrill\fR, the run passed: at least one recovery point was restored and none failed.
.TP
.B 1
A finding: a drill failed (a \fBmismatch\fR or \fBunrecoverable\fR recovery point, or nothing restored); \fBstatus\fR found a stale service, a failing sink or a last run that did not pass; \fBposture\fR found a required setting missing; \fBevidence verify\fR found tampering.
.TP
.B 2
The command could not run (invalid configuration, unknown drill, no credentials, unreadable ledger), or a drill was stopped before it finished. With \fB\-\-json\fR, stdout still carries a document with \fBerror\fR.
.SH FILES
.TP
.I /etc/restoreproof/config.toml
The configuration (\fBrestoreproof validate\fR checks it).
.TP
.I /var/lib/restoreproof/ledger.sqlite3
The ledger: runs, verdicts, baselines and the evidence outbox.
.TP
.I /var/log/restoreproof/evidence.jsonl
The hash-chained evidence, one JSON object per line.
.SH "SEE ALSO"
\fBrestoreproof help\fR \fISUBCOMMAND\fR, /usr/share/doc/restoreproof/README.md
"#;

/// Runs the parsed command.
///
/// # Errors
/// Anything that kept the command from running; `main` prints it and exits 2.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let result = dispatch(&cli).await;
    // With `--json`, a command that could not run still answers on stdout
    // with a document saying why (and still exits 2).
    if let Err(e) = &result {
        if cli.command.wants_json() && !out::document_written() {
            out::json(&serde_json::json!({
                "schema": out::schema::ERROR,
                "error": format!("{e:#}"),
                "exit_code": EXIT_ERROR,
            }));
        }
    }
    result
}

async fn dispatch(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Drill(args) => drill::run(cli, args).await,
        Command::Merge(args) => merge::run(cli, args).await,
        Command::Run => run::run(cli).await,
        Command::Evidence(cmd) => evidence::run(cli, cmd).await,
        Command::Posture(args) => posture::run(cli, args).await,
        Command::Report(args) => report::run(cli, args),
        Command::Ship(args) => ship::run(cli, args).await,
        Command::RestoreTesting(args) => restore_testing::run(cli, args).await,
        Command::Collect(args) => collect::run(cli, args).await,
        Command::Status(args) => status::run(cli, args),
        Command::Gate(args) => gate::run(cli, args),
        Command::Canary(args) => canary::run(cli, args).await,
        Command::Patch(args) => patch::run(cli, args).await,
        Command::Validate(args) => validate::run(cli, args).await,
        Command::Completions(args) => {
            let mut text = Vec::new();
            clap_complete::generate(
                args.shell,
                &mut crate::cli::command(),
                "restoreproof",
                &mut text,
            );
            out::write(&String::from_utf8_lossy(&text));
            Ok(ExitCode::from(EXIT_OK))
        }
        Command::Manpage(args) => {
            let pages = manpage::pages(MANPAGE_TAIL)?;
            match &args.dir {
                None => {
                    if let Some((_, main)) = pages.first() {
                        out::write(&String::from_utf8_lossy(main));
                    }
                }
                Some(dir) => {
                    std::fs::create_dir_all(dir)?;
                    for (name, text) in &pages {
                        std::fs::write(dir.join(name), text)?;
                    }
                    eprintln!("{} man page(s) written to {}", pages.len(), dir.display());
                }
            }
            Ok(ExitCode::from(EXIT_OK))
        }
    }
}

//! Thin entry point: parse arguments, set up logging, run, map to an exit code
//! (0 verified · 1 a drill found a failure · 2 could not run).

use restoreproof::cli::LogFormat;
use restoreproof::commands::{self, EXIT_ERROR};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = restoreproof::cli::parse();
    let default_level = match cli.verbose {
        _ if cli.quiet => "error",
        // The service says what it does; one-shot commands stay quiet.
        0 if matches!(cli.command, restoreproof::cli::Command::Run) => "info",
        0 => "warn",
        1 => "restoreproof=debug,info",
        // Our own trace only: the AWS SDK's trace output includes the access
        // key id (never the secret key). RUST_LOG=trace shows it on purpose.
        _ => "restoreproof=trace,info",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let stderr_id = {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self/fd/2")
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let journal = restoreproof::cli::stderr_is_journal(
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_id,
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Log lines suspend a progress bar while they are written.
        .with_writer(restoreproof::cli::bar::Stderr)
        // No colour codes in journald, files or for NO_COLOR.
        .with_ansi(restoreproof::cli::colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()) && !journal,
            std::env::var_os("NO_COLOR").as_deref(),
        ));
    match cli.log_format {
        // The journal stamps each line itself and reads its priority from
        // an sd-daemon `<N>` prefix (`journalctl -p err` then finds errors).
        LogFormat::Text if journal => builder
            .event_format(restoreproof::host::Journald::default())
            .init(),
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

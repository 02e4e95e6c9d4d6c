//! Thin entry point: parse arguments, set up logging, run, map to an exit code
//! (0 verified · 1 a drill found a failure · 2 could not run).

use clap::Parser;
use restoreproof::cli::{Cli, LogFormat};
use restoreproof::commands::{self, EXIT_ERROR};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.verbose {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No colour codes in journald or files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match cli.log_format {
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

//! `restoreproof validate`: the pure config check systemd's `ExecStartPre=`
//! runs.

use super::{EXIT_ERROR, EXIT_OK};
use crate::cli::{Cli, ValidateArgs};
use crate::config::Config;
use serde_json::json;
use std::process::ExitCode;

/// Validates the config and prints the result.
///
/// # Errors
/// Never; problems are printed and mapped to exit code 2.
pub fn run(cli: &Cli, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    match Config::load(&cli.config) {
        Ok(c) => {
            if args.json {
                println!(
                    "{}",
                    json!({
                        "valid": true,
                        "config": cli.config,
                        "sources": c.sources.keys().collect::<Vec<_>>(),
                        "drills": c.drills.keys().collect::<Vec<_>>(),
                    })
                );
            } else {
                println!(
                    "{}: valid ({} source(s): {}; {} drill(s): {})",
                    cli.config.display(),
                    c.sources.len(),
                    c.sources.keys().cloned().collect::<Vec<_>>().join(", "),
                    c.drills.len(),
                    c.drills.keys().cloned().collect::<Vec<_>>().join(", "),
                );
            }
            Ok(ExitCode::from(EXIT_OK))
        }
        Err(e) => {
            if args.json {
                let problems: Vec<_> = e
                    .problems()
                    .into_iter()
                    .map(|p| json!({"path": p.path, "message": p.message}))
                    .collect();
                println!(
                    "{}",
                    json!({"valid": false, "config": cli.config, "problems": problems})
                );
            } else {
                eprintln!("error: {e}");
            }
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}

//! `restoreproof gate`: the staleness gate, for CI pipelines and monitors.

use super::{EXIT_FAILED, EXIT_OK};
use crate::cli::{Cli, GateArgs};
use crate::config::{Config, DrillConfig};
use crate::gate::{evaluate, DrillGate, Overrides};
use crate::ledger::Ledger;
use anyhow::anyhow;
use std::process::ExitCode;

/// Judges the selected drills; exit 1 when one is red.
///
/// # Errors
/// When the config or ledger cannot be read, or the selection names no
/// drill.
pub fn run(cli: &Cli, args: &GateArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&cli.config)?;
    let drills = select(&config, args)?;
    let facts = if config.ledger_path.exists() {
        Ledger::open_read_only(&config.ledger_path)?.gate_facts()?
    } else {
        // No ledger: no drill has run with this configuration, so every
        // drill is red (said by each reason).
        Default::default()
    };
    let overrides = Overrides {
        max_age: args.max_age.map(|a| a.0),
        min_coverage: args.min_coverage.map(|p| p.0),
    };
    let gates = evaluate(drills, &facts, overrides, chrono::Utc::now());
    let ok = gates.iter().all(|g| g.ok);
    if args.json {
        super::out::json(&serde_json::json!({
            "schema": super::out::schema::GATE,
            "ok": ok,
            "drills": gates,
        }));
    } else {
        print_text(&gates);
    }
    Ok(ExitCode::from(if ok { EXIT_OK } else { EXIT_FAILED }))
}

/// The drills `--drill`/`--source` select (all by default).
fn select<'a>(config: &'a Config, args: &GateArgs) -> anyhow::Result<Vec<&'a DrillConfig>> {
    let names = || {
        config
            .drills
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let drills: Vec<&DrillConfig> = match (&args.drill, &args.source) {
        (Some(name), _) => vec![config.drills.get(name).ok_or_else(|| {
            anyhow!(
                "no drill `{name}` in the configuration; the drills are: {}",
                names()
            )
        })?],
        (None, Some(source)) => {
            super::known_source(config, source)?;
            config
                .drills
                .values()
                .filter(|d| &d.source == source)
                .collect()
        }
        (None, None) => config.drills.values().collect(),
    };
    if drills.is_empty() {
        return Err(anyhow!(
            "no drill to judge: {}; add a drill under [drills]",
            match &args.source {
                Some(s) => format!("no drill uses the source `{s}`"),
                None => "the configuration has no drill".into(),
            }
        ));
    }
    Ok(drills)
}

fn print_text(gates: &[DrillGate]) {
    crate::outln!(
        "{:<5} {:<20} {:<8} {:<26} COVERAGE",
        "GATE",
        "DRILL",
        "MAX AGE",
        "LAST PASSED RUN"
    );
    for g in gates {
        let passed = match (&g.last_passed_at, g.last_passed_age_secs) {
            (Some(at), Some(age)) => format!(
                "{} ({} ago)",
                at.chars().take(19).collect::<String>(),
                crate::drill::age_text(std::time::Duration::from_secs(rounded_age(age)))
            ),
            _ => "never".into(),
        };
        let coverage = match (g.coverage_percent, g.min_coverage) {
            (Some(p), Some(min)) => format!("{p:.1} % (min {min} %)"),
            (Some(p), None) => format!("{p:.1} %"),
            (None, Some(min)) => format!("unknown (min {min} %)"),
            (None, None) => "-".into(),
        };
        crate::outln!(
            "{:<5} {:<20} {:<8} {:<26} {}",
            if g.ok { "ok" } else { "RED" },
            g.drill,
            g.max_age,
            passed,
            coverage
        );
    }
    for g in gates.iter().filter(|g| !g.ok) {
        for r in &g.reasons {
            crate::outln!("{}: {r}", g.drill);
        }
    }
}

/// An age as the table shows it: seconds under a minute, whole minutes
/// under an hour, whole hours beyond (a 59-second-old run is "59s ago", not
/// "0s ago").
fn rounded_age(secs: u64) -> u64 {
    match secs {
        0..60 => secs,
        60..3600 => secs - secs % 60,
        _ => secs - secs % 3600,
    }
}

#[cfg(test)]
mod age_tests {
    #[test]
    fn ages_round_down_to_their_unit() {
        assert_eq!(super::rounded_age(59), 59);
        assert_eq!(super::rounded_age(61), 60);
        assert_eq!(super::rounded_age(3599), 3540);
        assert_eq!(super::rounded_age(7300), 7200);
    }
}

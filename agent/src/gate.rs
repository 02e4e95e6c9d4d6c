//! The staleness gate: is each drill's evidence recent and broad enough?
//!
//! A drill is red when it has no completed run with at least one `verified`
//! recovery point and no failure within `max_age`, or when its rotating
//! coverage (as its last run left it) is below `min_coverage`; green
//! otherwise. `restoreproof gate` exits 1 when any drill it judges is red;
//! the service judges the same gate on every heartbeat, exposes it in
//! metrics and `status`, and records an evidence event when a drill turns
//! red or green again.

use crate::config::DrillConfig;
use crate::drill::age_text;
use crate::ledger::GateFacts;
use crate::outcome::RunOutcome;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Limits given on the command line, over each drill's configured ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub max_age: Option<Duration>,
    pub min_coverage: Option<f64>,
}

/// One drill judged.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DrillGate {
    pub drill: String,
    pub source: String,
    pub ok: bool,
    /// The limits it was judged by.
    pub max_age: String,
    pub max_age_secs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_coverage: Option<f64>,
    /// When its last passed run (≥ 1 `verified`, no failure) finished, and
    /// how long ago.
    pub last_passed_at: Option<String>,
    pub last_passed_age_secs: Option<u64>,
    /// Its last finished run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<RunOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_finished_at: Option<String>,
    /// Rotating coverage in percent, as its last run that tracked it left it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage_percent: Option<f64>,
    /// Why it is red (empty when green).
    pub reasons: Vec<String>,
}

/// Judges `drills` by what the ledger says of them (`facts`) at `now`.
pub fn evaluate<'a>(
    drills: impl IntoIterator<Item = &'a DrillConfig>,
    facts: &BTreeMap<String, GateFacts>,
    overrides: Overrides,
    now: DateTime<Utc>,
) -> Vec<DrillGate> {
    drills
        .into_iter()
        .map(|d| judge(d, facts.get(&d.name), overrides, now))
        .collect()
}

fn judge(
    d: &DrillConfig,
    facts: Option<&GateFacts>,
    overrides: Overrides,
    now: DateTime<Utc>,
) -> DrillGate {
    let none = GateFacts::default();
    let f = facts.unwrap_or(&none);
    let max_age = overrides.max_age.unwrap_or(d.gate.max_age);
    let min_coverage = overrides
        .min_coverage
        .filter(|_| d.coverage.is_some())
        .or(d.gate.min_coverage);
    let age = f.last_passed_at.as_deref().and_then(|t| age_at(t, now));
    let mut reasons = Vec::new();
    if !f.tampered.is_empty() {
        reasons.push(format!(
            "the ledger's run summaries disagree with their hash-chained events ({}); no run of this drill is trusted until `restoreproof evidence verify` is clean",
            f.tampered.join("; ")
        ));
    }
    match (age, &f.last_passed_at) {
        (Some(a), _) if a <= max_age.as_secs() => {}
        (Some(a), Some(at)) => reasons.push(format!(
            "no passed run within {}: the last run that verified a recovery point without a failure finished at {at}, {} ago{}",
            age_text(max_age),
            age_text(Duration::from_secs(a)),
            last_run_text(f)
        )),
        _ => reasons.push(format!(
            "no passed run within {}: no run of this drill ever verified a recovery point without a failure{}",
            age_text(max_age),
            last_run_text(f)
        )),
    }
    if let Some(min) = min_coverage {
        match f.coverage_percent {
            Some(p) if p >= min => {}
            Some(p) => reasons.push(format!(
                "coverage {p:.1} % is below the minimum {min} % (as of the run that finished at {})",
                f.coverage_at.as_deref().unwrap_or("?")
            )),
            None => reasons.push(format!(
                "coverage is not known yet (minimum {min} %): no run has tracked it"
            )),
        }
    }
    if overrides.min_coverage.is_some() && d.coverage.is_none() {
        // Said, not judged: the drill does not track coverage.
        tracing::debug!(drill = %d.name, "The drill sets no `coverage`; --min-coverage does not apply to it.");
    }
    DrillGate {
        drill: d.name.clone(),
        source: d.source.clone(),
        ok: reasons.is_empty(),
        max_age: age_text(max_age),
        max_age_secs: max_age.as_secs(),
        min_coverage,
        last_passed_at: f.last_passed_at.clone(),
        last_passed_age_secs: age,
        last_outcome: f.last_outcome,
        last_finished_at: f.last_finished_at.clone(),
        coverage_percent: f.coverage_percent,
        reasons,
    }
}

fn last_run_text(f: &GateFacts) -> String {
    match (&f.last_finished_at, f.last_outcome) {
        (Some(at), Some(o)) => format!(" (last run {at}: {})", o.as_str()),
        _ => " (no finished run recorded)".into(),
    }
}

/// Seconds from `at` (RFC 3339) to `now`; a time in the future is 0 ago.
fn age_at(at: &str, now: DateTime<Utc>) -> Option<u64> {
    let t = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    Some((now - t).num_seconds().max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn drills(extra: &str) -> Config {
        let text = format!(
            r#"
[sources.s]
kind = "s3"
bucket = "backups"
endpoint = "http://127.0.0.1:9"
[drills.d]
source = "s"
{extra}
"#
        );
        match Config::from_toml(&text, std::path::Path::new("/tmp")) {
            Ok(c) => c,
            Err(e) => panic!("config: {e:?}"),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn facts(passed: Option<&str>, coverage: Option<f64>) -> BTreeMap<String, GateFacts> {
        BTreeMap::from([(
            "d".to_owned(),
            GateFacts {
                last_passed_at: passed.map(str::to_owned),
                last_finished_at: passed.map(str::to_owned),
                last_outcome: passed.map(|_| RunOutcome::Passed),
                coverage_percent: coverage,
                coverage_at: coverage.map(|_| "2026-12-06T11:00:00Z".to_owned()),
                tampered: Vec::new(),
            },
        )])
    }

    #[test]
    fn a_drill_is_red_without_a_passed_run_within_max_age() {
        let c = drills("");
        let judge = |f: &BTreeMap<String, GateFacts>, o: Overrides| {
            evaluate(c.drills.values(), f, o, now()).remove(0)
        };
        let fresh = judge(
            &facts(Some("2026-12-05T12:00:00.000Z"), None),
            Overrides::default(),
        );
        assert!(fresh.ok, "{fresh:?}");
        assert_eq!(fresh.max_age, "7d", "the default");
        let stale = judge(
            &facts(Some("2026-11-28T12:00:00.000Z"), None),
            Overrides::default(),
        );
        assert!(!stale.ok);
        assert!(stale.reasons[0].contains("8d ago"), "{:?}", stale.reasons);
        let tighter = judge(
            &facts(Some("2026-12-05T12:00:00.000Z"), None),
            Overrides {
                max_age: Some(Duration::from_secs(3600)),
                ..Overrides::default()
            },
        );
        assert!(!tighter.ok);
        let never = judge(&BTreeMap::new(), Overrides::default());
        assert!(!never.ok);
        assert!(
            never.reasons[0].contains("no run of this drill ever"),
            "{:?}",
            never.reasons
        );
    }

    #[test]
    fn coverage_below_the_minimum_is_red_and_only_drills_that_track_it_are_judged() {
        let c = drills("coverage = \"30d\"\ngate = { min_coverage = \"90%\" }");
        let judge = |cov| {
            evaluate(
                c.drills.values(),
                &facts(Some("2026-12-06T11:00:00Z"), cov),
                Overrides::default(),
                now(),
            )
            .remove(0)
        };
        assert!(judge(Some(95.0)).ok);
        let low = judge(Some(45.5));
        assert!(!low.ok);
        assert!(
            low.reasons[0].contains("45.5 % is below the minimum 90 %"),
            "{:?}",
            low.reasons
        );
        assert!(!judge(None).ok, "unknown coverage does not pass a minimum");

        let untracked = drills("");
        let g = evaluate(
            untracked.drills.values(),
            &facts(Some("2026-12-06T11:00:00Z"), None),
            Overrides {
                min_coverage: Some(90.0),
                ..Overrides::default()
            },
            now(),
        )
        .remove(0);
        assert!(g.ok && g.min_coverage.is_none(), "{g:?}");
    }
}

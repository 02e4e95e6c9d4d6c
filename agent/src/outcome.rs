//! A run's outcome: the one definition the CLI's exit code, the daemon's
//! logs, `status`, the metrics, reports and every record format use.
//!
//! | outcome   | when                                                         | exit |
//! |-----------|--------------------------------------------------------------|------|
//! | `passed`  | the run finished, restored at least one recovery point, and none failed (`mismatch`, `unrecoverable`) | 0 |
//! | `failed`  | the run finished and a recovery point failed, or it restored nothing (filters or budget left no candidate) | 1 |
//! | `aborted` | the run stopped before it finished (the agent stopped, was killed or the host restarted) | 2 |
//! | `error`   | the run could not run (the source could not be listed, the host failed) | 2 |
//!
//! A run still in progress has no outcome.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a drill run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::Display, strum::EnumString, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum RunOutcome {
    Passed,
    Failed,
    Aborted,
    Error,
}

impl RunOutcome {
    /// Every outcome, for metrics that list each.
    pub const ALL: [RunOutcome; 4] = [
        RunOutcome::Passed,
        RunOutcome::Failed,
        RunOutcome::Aborted,
        RunOutcome::Error,
    ];

    /// From what a run recorded: its status (`completed`, `aborted`,
    /// `error`; `running` has no outcome yet), the recovery points it
    /// sampled and how many of them failed.
    pub fn of(status: &str, sampled: u64, failures: u64) -> Option<Self> {
        match status {
            "running" => None,
            "aborted" => Some(RunOutcome::Aborted),
            "completed" if failures > 0 || sampled == 0 => Some(RunOutcome::Failed),
            "completed" => Some(RunOutcome::Passed),
            _ => Some(RunOutcome::Error),
        }
    }

    /// The outcome a run summary (native record, or the ledger's copy)
    /// states, or, for summaries written before outcomes were recorded,
    /// the one its status and counts give.
    pub fn of_summary(summary: &Value) -> Option<Self> {
        if let Some(o) = summary
            .get("outcome")
            .and_then(|o| RunOutcome::deserialize(o).ok())
        {
            return Some(o);
        }
        let counts = &summary["counts"];
        let failures = counts["mismatch"].as_u64().unwrap_or(0)
            + counts["unrecoverable"].as_u64().unwrap_or(0);
        Self::of(
            summary["status"].as_str().unwrap_or("error"),
            summary["sampled"].as_u64().unwrap_or(0),
            failures,
        )
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The word as written in the ledger.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    pub fn passed(self) -> bool {
        self == RunOutcome::Passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_definition_of_a_runs_outcome() {
        assert_eq!(RunOutcome::of("running", 3, 0), None);
        assert_eq!(RunOutcome::of("completed", 3, 0), Some(RunOutcome::Passed));
        assert_eq!(RunOutcome::of("completed", 3, 1), Some(RunOutcome::Failed));
        // A run that restored nothing proved nothing.
        assert_eq!(RunOutcome::of("completed", 0, 0), Some(RunOutcome::Failed));
        assert_eq!(RunOutcome::of("aborted", 3, 1), Some(RunOutcome::Aborted));
        assert_eq!(RunOutcome::of("error", 0, 0), Some(RunOutcome::Error));
    }

    #[test]
    fn a_summary_says_its_outcome_or_gives_it_by_its_counts() {
        let old = json!({"status": "completed", "sampled": 0, "counts": {"verified": 0}});
        assert_eq!(RunOutcome::of_summary(&old), Some(RunOutcome::Failed));
        let old = json!({"status": "completed", "sampled": 2, "counts": {"verified": 2}});
        assert_eq!(RunOutcome::of_summary(&old), Some(RunOutcome::Passed));
        let new = json!({"status": "completed", "outcome": "failed", "sampled": 2});
        assert_eq!(RunOutcome::of_summary(&new), Some(RunOutcome::Failed));
        for o in RunOutcome::ALL {
            assert_eq!(RunOutcome::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }
}

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
            "running" | "waiting" => None,
            "aborted" => Some(RunOutcome::Aborted),
            "completed" if failures > 0 || sampled == 0 => Some(RunOutcome::Failed),
            "completed" => Some(RunOutcome::Passed),
            _ => Some(RunOutcome::Error),
        }
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
    fn each_outcome_has_one_name() {
        for o in RunOutcome::ALL {
            assert_eq!(RunOutcome::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }
}

//! Protection policy per source (`[sources.NAME.protection]`): what the
//! immutability of every sampled recovery point must be.

use super::choice::{choose, Choice, Choices};
use super::Age;
use serde::Deserialize;
use std::time::Duration;

/// `[sources.NAME.protection]` as written.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawProtection {
    /// `compliance`, `governance`, `any` or `none` (the default).
    pub mode: Option<Choice<LockMode>>,
    /// Retention left on each recovery point, e.g. `"30d"`.
    pub min_retention: Option<Age>,
    /// Each recovery point must be under a legal hold.
    pub legal_hold: Option<bool>,
}

/// The least lock a recovery point must carry. S3 `COMPLIANCE` and Azure
/// `locked` policies cannot be shortened or removed by anyone; S3
/// `GOVERNANCE` and Azure `unlocked` ones can, by an identity allowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    Compliance,
    /// Governance or compliance.
    Governance,
    /// Any retention mode.
    Any,
    /// Nothing required (lock state is still recorded).
    None,
}

impl Choices for LockMode {
    const NOUN: &'static str = "a lock mode";
    const NAMES: &'static [&'static str] = &["compliance", "governance", "any", "none"];
}

/// What every sampled recovery point of a source must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProtectionPolicy {
    pub mode: LockMode,
    /// Retention left, at the moment the recovery point is restored.
    #[serde(with = "secs")]
    pub min_retention: Option<Duration>,
    pub legal_hold: bool,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::config::age_text(*d)),
            None => s.serialize_none(),
        }
    }
}

impl RawProtection {
    /// Validates; problems go to `problem` with their key paths under `at`.
    pub fn validate(&self, at: &str, problem: &mut dyn FnMut(String, &str)) -> ProtectionPolicy {
        let mode = choose(
            self.mode.as_ref(),
            LockMode::None,
            &format!("{at}.mode"),
            problem,
        )
        .unwrap_or(LockMode::None);
        let min_retention = self.min_retention.map(|a| a.0);
        if min_retention.is_some() && mode == LockMode::None {
            problem(
                format!("{at}.min_retention"),
                "needs a lock mode: set mode = \"compliance\", \"governance\" or \"any\"",
            );
        }
        ProtectionPolicy {
            mode,
            min_retention,
            legal_hold: self.legal_hold.unwrap_or(false),
        }
    }
}

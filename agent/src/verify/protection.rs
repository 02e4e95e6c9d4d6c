//! Protection of one recovery point: its immutability as the store stated
//! it, judged against the source's policy. No I/O; the byte verdict stays
//! about bytes, this is a field of its own.

use crate::config::protection::{LockMode, ProtectionPolicy};
use crate::source::{LockFacts, LockReadable};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How much the agent could see of a recovery point's lock state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// The response stated the lock state.
    Stated,
    /// The response stated nothing, and nothing is there (no retention, no
    /// hold).
    None,
    /// The identity may not read the lock state: never "unprotected".
    NotReadable,
    /// The store could not say.
    Unknown,
}

/// A recovery point's protection, as recorded with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Protection {
    #[serde(flatten)]
    pub lock: LockFacts,
    pub visibility: Visibility,
    /// Whole days of retention left when it was restored.
    pub retention_days_left: Option<i64>,
    /// Against `[sources.NAME.protection]`; `None` without a policy, or when
    /// the lock state could not be read.
    pub meets_policy: Option<bool>,
    /// Why it does not meet the policy, or why it could not be judged.
    pub reason: Option<String>,
    /// The policy it was judged against, in words (`compliance, ≥ 30d of
    /// retention left`); `None` without one.
    pub policy: Option<String>,
}

/// A policy in words, as reports quote it.
pub fn describe(p: &ProtectionPolicy) -> String {
    let mode = match p.mode {
        LockMode::Compliance => "compliance mode",
        LockMode::Governance => "governance or compliance mode",
        LockMode::Any => "any retention",
        LockMode::None => "no lock required",
    };
    let mut s = mode.to_owned();
    if let Some(min) = p.min_retention {
        s.push_str(&format!(
            ", ≥ {} of retention left",
            crate::config::age_text(min)
        ));
    }
    if p.legal_hold {
        s.push_str(", a legal hold");
    }
    s
}

/// `locked` Azure policies and S3 `COMPLIANCE` cannot be shortened by
/// anyone; `GOVERNANCE`, `unlocked` and `mutable` can.
fn strict(mode: &str) -> bool {
    mode.eq_ignore_ascii_case("COMPLIANCE") || mode.eq_ignore_ascii_case("locked")
}

/// Judges `lock` (with what the store said of its readability when the
/// response stated nothing) against `policy` at `now`.
pub fn judge(
    policy: Option<&ProtectionPolicy>,
    lock: &LockFacts,
    readable: Option<&LockReadable>,
    now: DateTime<Utc>,
) -> Protection {
    let visibility = if lock.stated() {
        Visibility::Stated
    } else {
        match readable {
            Some(LockReadable::Denied(_)) => Visibility::NotReadable,
            Some(LockReadable::Unknown(_)) => Visibility::Unknown,
            Some(LockReadable::Readable) | None => Visibility::None,
        }
    };
    let until = lock
        .retain_until
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let retention_days_left = until.map(|t| (t - now).num_days());
    let mut p = Protection {
        lock: lock.clone(),
        visibility,
        retention_days_left,
        meets_policy: None,
        reason: None,
        policy: policy.map(describe),
    };
    if let (
        Visibility::NotReadable | Visibility::Unknown,
        Some(LockReadable::Denied(why) | LockReadable::Unknown(why)),
    ) = (visibility, readable)
    {
        p.reason = Some(format!("not readable: {why}"));
        return p;
    }
    let Some(policy) = policy else {
        return p;
    };
    let mut problems = Vec::new();
    let mode = lock.mode.as_deref();
    // A retention that has passed protects nothing any more.
    let active = until.is_some_and(|t| t > now);
    match (policy.mode, mode) {
        (LockMode::None, _) => {}
        (_, None) => problems.push("no retention: the version can be deleted or overwritten by anyone allowed to".to_owned()),
        (_, Some(_)) if !active => problems.push(format!(
            "its retention ended at {}",
            lock.retain_until.as_deref().unwrap_or("?")
        )),
        (LockMode::Compliance, Some(m)) if !strict(m) => problems.push(format!(
            "mode {m} can be lifted by a privileged identity; the policy requires compliance (S3 COMPLIANCE, Azure locked)"
        )),
        _ => {}
    }
    if let (Some(min), true) = (policy.min_retention, active) {
        let left = until.map(|t| t - now).unwrap_or_default();
        if left.to_std().unwrap_or_default() < min {
            problems.push(format!(
                "{} day(s) of retention left; the policy requires {}",
                left.num_days(),
                crate::config::age_text(min)
            ));
        }
    }
    if policy.legal_hold && lock.legal_hold != Some(true) {
        problems.push("no legal hold; the policy requires one".to_owned());
    }
    p.meets_policy = Some(problems.is_empty());
    p.reason = (!problems.is_empty()).then(|| problems.join("; "));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy(mode: LockMode, days: u64) -> ProtectionPolicy {
        ProtectionPolicy {
            mode,
            min_retention: Some(Duration::from_secs(days * 86_400)),
            legal_hold: false,
        }
    }

    fn lock(mode: &str, days: i64, now: DateTime<Utc>) -> LockFacts {
        LockFacts {
            mode: Some(mode.into()),
            retain_until: Some(
                (now + chrono::Duration::days(days) + chrono::Duration::hours(1)).to_rfc3339(),
            ),
            legal_hold: None,
        }
    }

    #[test]
    fn retention_mode_and_time_left_are_judged_against_the_policy() {
        let now = Utc::now();
        let p = policy(LockMode::Compliance, 30);
        let ok = judge(Some(&p), &lock("COMPLIANCE", 40, now), None, now);
        assert_eq!(
            (ok.meets_policy, ok.retention_days_left),
            (Some(true), Some(40))
        );
        let short = judge(Some(&p), &lock("COMPLIANCE", 10, now), None, now);
        assert_eq!(short.meets_policy, Some(false));
        assert!(short
            .reason
            .unwrap_or_default()
            .contains("10 day(s) of retention left; the policy requires 30d"));
        let governance = judge(Some(&p), &lock("GOVERNANCE", 40, now), None, now);
        assert!(governance
            .reason
            .unwrap_or_default()
            .contains("mode GOVERNANCE can be lifted"));
        assert_eq!(
            judge(
                Some(&policy(LockMode::Governance, 30)),
                &lock("GOVERNANCE", 40, now),
                None,
                now
            )
            .meets_policy,
            Some(true)
        );
        // Azure's locked policy counts as compliance.
        assert_eq!(
            judge(Some(&p), &lock("locked", 40, now), None, now).meets_policy,
            Some(true)
        );
        let none = judge(
            Some(&p),
            &LockFacts::default(),
            Some(&LockReadable::Readable),
            now,
        );
        assert_eq!(
            (none.visibility, none.meets_policy),
            (Visibility::None, Some(false))
        );
        assert!(none.reason.unwrap_or_default().starts_with("no retention"));
    }

    #[test]
    fn a_lock_state_the_identity_may_not_read_is_never_unprotected() {
        let now = Utc::now();
        let denied = judge(
            Some(&policy(LockMode::Compliance, 30)),
            &LockFacts::default(),
            Some(&LockReadable::Denied("grant s3:GetObjectRetention".into())),
            now,
        );
        assert_eq!(denied.visibility, Visibility::NotReadable);
        assert_eq!(denied.meets_policy, None);
        assert!(denied
            .reason
            .unwrap_or_default()
            .starts_with("not readable: grant"));
    }

    #[test]
    fn a_required_legal_hold_and_an_ended_retention_fail() {
        let now = Utc::now();
        let mut p = policy(LockMode::Any, 1);
        p.legal_hold = true;
        let mut l = lock("GOVERNANCE", 5, now);
        assert_eq!(judge(Some(&p), &l, None, now).meets_policy, Some(false));
        l.legal_hold = Some(true);
        assert_eq!(judge(Some(&p), &l, None, now).meets_policy, Some(true));
        let ended = lock("COMPLIANCE", -3, now);
        let j = judge(Some(&policy(LockMode::Any, 0)), &ended, None, now);
        assert!(j.reason.unwrap_or_default().contains("retention ended"));
    }
}

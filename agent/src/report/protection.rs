//! Per source, how the sampled recovery points were protected (Object Lock,
//! immutability) and which fell short of the policy.

use super::*;

/// The immutability of a source's sampled recovery points in the period.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SourceProtection {
    pub source: String,
    /// Samples judged against the policy, or whose lock state could not be
    /// read.
    pub sampled: u64,
    pub meeting: u64,
    pub not_meeting: u64,
    /// The identity may not read the lock state, or the store could not say.
    pub not_readable: u64,
    /// Up to 20 that do not meet the policy: key, version, why.
    pub failures: Vec<ProtectionFailure>,
    /// The policy, in words, as the latest judged sample quoted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// A sampled recovery point that does not meet its source's protection
/// policy.
#[derive(Debug, Clone, Serialize)]
pub struct ProtectionFailure {
    pub key: String,
    pub version_id: String,
    pub reason: String,
    pub event_id: String,
}

impl SourceProtection {
    /// The source's protection in one sentence.
    pub fn statement(&self) -> String {
        let mut s = format!(
            "source {}: {} of {} sampled recovery points meet the protection policy{}",
            self.source,
            self.meeting,
            self.sampled,
            self.policy
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        );
        if self.not_readable > 0 {
            s.push_str(&format!(
                "; {} could not be read (see the samples' reasons)",
                self.not_readable
            ));
        }
        if !self.failures.is_empty() {
            let list: Vec<String> = self
                .failures
                .iter()
                .map(|f| format!("{} ({}): {}", f.key, f.version_id, f.reason))
                .collect();
            s.push_str(&format!("; not meeting it: {}", list.join("; ")));
        }
        s
    }
}

/// Per source, the period's sampled recovery points by protection.
pub(super) fn protection(samples: &[SampleRecord]) -> Vec<SourceProtection> {
    let mut by: BTreeMap<&str, SourceProtection> = BTreeMap::new();
    for s in samples {
        let Some(p) = &s.protection else { continue };
        let unreadable = p.unreadable();
        let meets = p.meets_policy;
        if meets.is_none() && !unreadable {
            continue;
        }
        let e = by
            .entry(s.source.as_str())
            .or_insert_with(|| SourceProtection {
                source: s.source.clone(),
                ..Default::default()
            });
        e.sampled += 1;
        if let Some(policy) = &p.policy {
            e.policy = Some(policy.clone());
        }
        match meets {
            Some(true) => e.meeting += 1,
            Some(false) => {
                e.not_meeting += 1;
                if e.failures.len() < 20 {
                    e.failures.push(ProtectionFailure {
                        key: s.key.clone(),
                        version_id: s.version_id.clone(),
                        reason: p.reason.clone().unwrap_or_default(),
                        event_id: s.event_id.clone(),
                    });
                }
            }
            None => e.not_readable += 1,
        }
    }
    by.into_values().collect()
}

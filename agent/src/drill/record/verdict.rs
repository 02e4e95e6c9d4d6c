//! A verdict as its `sample_verdict` evidence event states it.

use super::*;

/// The evidence event of one verdict.
pub(super) fn sample_event(
    run_id: &str,
    info: &SourceInfo,
    agent: &AgentInfo,
    cfg: &DrillConfig,
    r: &SampleResult,
) -> Event {
    let mut event = Event::new(
        Some(run_id.to_owned()),
        &SampleVerdict {
            agent,
            drill: &cfg.name,
            source: info,
            recovery_point: &r.recovery_point,
            verdict: r.verdict,
            reason: r.reason.as_deref(),
            error_class: r.error_class,
            pick: r.pick,
            protection: r.protection.as_ref(),
            checks: &r.checks,
            restore: RestoreFacts {
                mode: cfg.mode,
                bytes: r.bytes,
                duration_ms: r.duration_ms,
                throughput_bytes_per_sec: per_second(r.bytes, r.duration_ms),
                attempts: r.attempts,
                sha256: r.sha256.as_deref(),
                server_side_encryption: r.server_side_encryption.as_deref(),
                copy: r.copy.as_ref(),
                content: r.content.as_ref(),
                provider_checksum: r.provider_checksum.as_ref(),
            },
        },
    );
    event.id.clone_from(&r.event_id);
    event
}

/// The body of a `sample_verdict` event. Absent facts are `null`, not left
/// out: every verdict record has the same members.
#[derive(Serialize)]
struct SampleVerdict<'a> {
    agent: &'a AgentInfo,
    drill: &'a str,
    source: &'a SourceInfo,
    recovery_point: &'a Candidate,
    verdict: Verdict,
    reason: Option<&'a str>,
    error_class: Option<ErrorClass>,
    /// Why it was in the sample (`uniform`, `coverage`, ...): confidence
    /// bounds rest on uniform picks only.
    pick: Option<Pick>,
    /// Its immutability and whether it meets the source's protection
    /// policy; `null` when nothing was stated and no policy asks.
    protection: Option<&'a crate::verify::protection::Protection>,
    checks: &'a [Check],
    restore: RestoreFacts<'a>,
}

impl Body for SampleVerdict<'_> {
    const KIND: EventKind = EventKind::SampleVerdict;
}

/// How a recovery point was restored.
#[derive(Serialize)]
struct RestoreFacts<'a> {
    mode: RestoreMode,
    bytes: u64,
    duration_ms: u64,
    throughput_bytes_per_sec: u64,
    attempts: u32,
    sha256: Option<&'a str>,
    server_side_encryption: Option<&'a str>,
    copy: Option<&'a CopyRecord>,
    /// Entropy and content type of the restored bytes (`null` when nothing
    /// was restored).
    content: Option<&'a crate::verify::content::ContentFacts>,
    /// `provider_checksum`: the job that computed the checksum at rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_checksum: Option<&'a ProviderCheck>,
}

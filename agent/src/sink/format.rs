//! The records sinks send, rendered from the native evidence event stored in
//! the ledger: OCSF 1.3 (the default), an ECS 8 projection for Elastic, the
//! native record itself, and CEF for receivers that want a text line.
//!
//! The native record is what the ledger holds and the evidence file shows;
//! every rendering carries its `event_id` as the receiver's idempotency key
//! (`metadata.uid` in OCSF, `event.id` in ECS, `externalId` in CEF) and
//! keeps the whole native record (`unmapped.restoreproof`,
//! `restoreproof`), so nothing is lost in translation.

use super::config::Format;
use crate::evidence::record::epoch_ms;
use crate::evidence::record::{Body, Record};
use crate::outcome::RunOutcome;
use crate::verify::Verdict;
use serde_json::{json, Map, Value};

mod ocsf;
use ocsf::ocsf;

mod ecs;
use ecs::ecs;

mod cef;
use cef::cef;

/// OCSF schema version the records follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// ECS version the records follow.
pub const ECS_VERSION: &str = "8.11.0";

/// The ISO/IEC 27001 controls a restore drill is evidence for, in each
/// edition: (standard, control id, name), from the one control table.
const CONTROLS: &[(&str, &str, &str)] = &[
    (
        "ISO/IEC 27001:2013",
        crate::controls::BACKUP.iso_2013,
        crate::controls::BACKUP.title,
    ),
    (
        "ISO/IEC 27001:2022",
        crate::controls::BACKUP.iso_2022,
        crate::controls::BACKUP.title,
    ),
];

/// Syslog severity (RFC 5424) of an event: 3 error, 4 warning, 5 notice,
/// 6 informational.
pub fn syslog_severity(r: &Record) -> u8 {
    match &r.body {
        Body::SampleVerdict(v) => match v.verdict() {
            Some(Verdict::Mismatch | Verdict::Unrecoverable) => 3,
            Some(Verdict::NoReference | Verdict::Skipped | Verdict::Aborted) => 5,
            Some(Verdict::Verified) | None => 6,
        },
        Body::RunSummary(s) => match s.outcome() {
            Some(RunOutcome::Error) | None => 3,
            Some(RunOutcome::Aborted | RunOutcome::Failed) => 4,
            Some(RunOutcome::Passed) => 6,
        },
        Body::EvidenceDropped(_) => 3,
        Body::PostureFinding(f) => match f.status.as_str() {
            "fail" => 4,
            "unknown" => 5,
            _ => 6,
        },
        Body::GateChanged(g) if !g.ok => 4,
        Body::SuspiciousChange(_) | Body::RunAborted(_) => 4,
        Body::ConfigReloaded(c) if c.refused() => 4,
        Body::SampleBatch(_) => 6,
        Body::RestoreTestUnhandled(_) => 4,
        Body::ProviderJobSubmitted(_) => 6,
        Body::ConfigReloaded(_)
        | Body::RestoreMutation(_)
        | Body::Checkpoint(_)
        | Body::DaemonStarted
        | Body::DaemonStopped
        | Body::GateChanged(_)
        | Body::Other => 5,
    }
}

/// The record as JSON, for JSON sinks (`cef` gives a JSON string).
pub fn render(format: Format, r: &Record) -> Value {
    match format {
        Format::Native => r.raw.clone(),
        Format::Ocsf => ocsf(r),
        Format::Ecs => ecs(r),
        Format::Cef => Value::String(cef(r)),
    }
}

/// The record as one line of text (no newline): JSON, or CEF.
pub fn render_line(format: Format, r: &Record) -> String {
    match format {
        Format::Cef => cef(r),
        Format::Native => r.raw.to_string(),
        other => render(other, r).to_string(),
    }
}

/// A one-line description for people.
pub fn message(r: &Record) -> String {
    let drill = &r.drill;
    match &r.body {
        Body::SampleVerdict(v) => {
            let mut m = format!(
                "Restore drill {drill}: {} (version {}) {}",
                r.resource_url(),
                v.recovery_point.version().unwrap_or("current"),
                v.verdict_name
            );
            if let Some(why) = &v.reason {
                m.push_str(": ");
                m.push_str(why);
            }
            m
        }
        Body::RunSummary(s) => format!(
            "Restore drill {drill} {}: {} verified, {} mismatch, {} unrecoverable of {} sampled",
            s.outcome().map_or("ended", RunOutcome::as_str),
            s.counts.verified,
            s.counts.mismatch,
            s.counts.unrecoverable,
            s.sampled,
        ),
        Body::RunAborted(a) => format!("Restore drill {drill} run aborted: {}", a.reason),
        Body::RestoreMutation(m) => format!(
            "Restore drill {drill}: {} {} of {}",
            m.action,
            m.phase,
            r.resource_url()
        ),
        Body::DaemonStarted => "restoreproof service started".into(),
        Body::DaemonStopped => "restoreproof service stopped".into(),
        Body::ConfigReloaded(c) => format!("restoreproof configuration reload {}", c.outcome),
        Body::PostureFinding(f) => format!(
            "Posture of source {}: {} {} (observed {}; required {})",
            r.source.name, f.check, f.status, f.observed, f.required
        ),
        Body::SuspiciousChange(s) => format!(
            "Suspicious change in source {}{}: {}",
            r.source.name,
            match &s.recovery_point {
                Some(_) => format!(" at {}", r.resource_url()),
                None => String::new(),
            },
            s.signals.join("; ")
        ),
        Body::GateChanged(g) if g.ok => format!(
            "Staleness gate of drill {drill} is green again (max age {})",
            g.max_age
        ),
        Body::GateChanged(g) => format!(
            "Staleness gate of drill {drill} turned red: {}",
            g.reasons.join("; ")
        ),
        Body::EvidenceDropped(d) => format!(
            "{} undelivered evidence event(s) dropped for sink {}: {}",
            d.count, d.sink, d.reason
        ),
        Body::Checkpoint(c) => format!("Evidence checkpoint of {} events ({})", c.size, c.reason),
        Body::RestoreTestUnhandled(u) => format!(
            "AWS Backup restore test event {} left for a person: {}",
            u.restore_job_id.as_deref().unwrap_or(&u.message_id),
            u.reason
        ),
        Body::ProviderJobSubmitted(p) => format!(
            "Drill {drill}: {} S3 Batch Operations checksum job(s) over {} object(s) of {} submitted (estimated ${:.2})",
            p.jobs.len(),
            p.jobs.iter().map(|j| j.objects).sum::<u64>(),
            r.source.url(""),
            p.estimated_cost_usd
        ),
        Body::SampleBatch(b) => format!(
            "Restore drill {drill}: {} recovery points of {} verified (batch root {})",
            b.count,
            r.source.url(""),
            b.root
        ),
        Body::Other => format!("restoreproof {}", r.kind_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::EventKind;

    // The renderings of a record given as JSON, as the ledger holds it.
    fn ocsf(v: &Value) -> Value {
        super::ocsf(&Record::read(v.clone()))
    }

    fn ecs(v: &Value) -> Value {
        super::ecs(&Record::read(v.clone()))
    }

    fn cef(v: &Value) -> String {
        super::cef(&Record::read(v.clone()))
    }

    fn verdict(v: &str) -> Value {
        json!({
            "schema": "restoreproof.evidence/v1", "seq": 7, "event_id": "01a2-ev", "kind": "sample_verdict",
            "time": "2026-11-29T02:00:00.123Z", "run_id": "01a2-run",
            "agent": {"name": "restoreproof", "version": "0.1.0", "host": "vm1"},
            "drill": "nightly", "source": {"name": "prod", "kind": "s3", "bucket": "bkt", "prefix": ""},
            "recovery_point": {"key": "db/a=b.dump", "version_id": "v1", "size": 14},
            "verdict": v, "reason": if v == "verified" { Value::Null } else { json!("s3.checksum.sha256: expected x, got y") },
            "checks": [], "restore": {"sha256": "ab12", "mode": "stream"},
        })
    }

    #[test]
    fn a_sample_verdict_is_an_ocsf_compliance_finding() {
        let o = ocsf(&verdict("mismatch"));
        assert_eq!(o["class_uid"], 2003);
        assert_eq!(o["type_uid"], 200301);
        assert_eq!(o["metadata"]["uid"], "01a2-ev");
        assert_eq!(o["metadata"]["correlation_uid"], "01a2-run");
        assert_eq!(o["compliance"]["status_id"], 3);
        assert_eq!(o["compliance"]["status"], "Fail");
        assert_eq!(o["time"], 1_795_917_600_123_i64);
        assert_eq!(o["resources"][0]["uid"], "s3://bkt/db/a=b.dump#v1");
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["unmapped"]["restoreproof"]["seq"], 7);
        assert_eq!(ocsf(&verdict("verified"))["compliance"]["status_id"], 1);
        assert_eq!(ocsf(&verdict("no_reference"))["compliance"]["status_id"], 2);
    }

    #[test]
    fn a_run_summary_is_an_ocsf_scan_activity() {
        let run = json!({"kind": "run_summary", "event_id": "e", "time": "2026-11-29T02:00:00Z", "run_id": "r",
            "drill": "nightly", "status": "completed", "sampled": 3, "counts": {"verified": 2, "mismatch": 1, "unrecoverable": 0},
            "started_at": "2026-11-29T01:59:00Z", "finished_at": "2026-11-29T02:00:00Z", "duration_ms": 60000,
            "agent": {"version": "0.1.0", "host": "vm1"}, "source": {"kind": "s3"}});
        let o = ocsf(&run);
        assert_eq!(
            (o["class_uid"].as_i64(), o["activity_id"].as_i64()),
            (Some(6007), Some(2))
        );
        assert_eq!(o["scan"]["uid"], "r");
        assert_eq!(o["num_detections"], 1);
        assert_eq!(o["status"], "Failure");
        let mut aborted = run.clone();
        aborted["status"] = json!("aborted");
        assert_eq!(ocsf(&aborted)["activity_id"], 3);
    }

    #[test]
    fn the_ecs_projection_carries_id_outcome_hash_and_control() {
        let o = ecs(&verdict("verified"));
        assert_eq!(o["@timestamp"], "2026-11-29T02:00:00.123Z");
        assert_eq!(o["event"]["id"], "01a2-ev");
        assert_eq!(o["event"]["outcome"], "success");
        assert_eq!(o["file"]["hash"]["sha256"], "ab12");
        assert_eq!(o["rule"]["id"], "A.12.3.1");
        assert_eq!(o["labels"]["drill"], "nightly");
        assert_eq!(
            ecs(&verdict("unrecoverable"))["event"]["outcome"],
            "failure"
        );
    }

    #[test]
    fn cef_escapes_its_separators() {
        let line = cef(&verdict("mismatch"));
        assert!(
            line.starts_with("CEF:0|restoreproof|restoreproof|0.1.0|sample_verdict:mismatch|"),
            "{line}"
        );
        assert!(line.contains("|8|"), "{line}");
        assert!(line.contains("fname=db/a\\=b.dump"), "{line}");
        assert!(line.contains("externalId=01a2-ev"), "{line}");
        assert!(!line.contains('\n'));
        // A key with CR/LF and a pipe stays on one line, header included.
        let mut v = verdict("mismatch");
        v["recovery_point"]["key"] = json!("evil\r\nCEF:0|forged|x");
        let line = cef(&v);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        assert!(
            line.contains(
                "|Restore drill nightly: s3://bkt/evil\\r\\nCEF:0\\|forged\\|x (version v1)"
            ),
            "{line}"
        );
    }

    /// The category/type pairs ECS 8.11 allows, read from its own
    /// `schemas/event.yml` (vendored in tests/fixtures/ecs-8.11.0).
    fn ecs_allowed_pairs() -> std::collections::BTreeSet<(String, String)> {
        let yml = include_str!("../../../tests/fixtures/ecs-8.11.0/event.yml");
        let mut pairs = std::collections::BTreeSet::new();
        let (mut in_category, mut category, mut in_types) = (false, String::new(), false);
        for line in yml.lines() {
            if line.starts_with("    - name: ") {
                in_category = line.trim_end() == "    - name: category";
                continue;
            }
            if !in_category {
                continue;
            }
            if let Some(n) = line.strip_prefix("        - name: ") {
                category = n.trim().to_owned();
                in_types = false;
            } else if line.trim() == "expected_event_types:" {
                in_types = true;
            } else if let Some(t) = line.strip_prefix("            - ").filter(|_| in_types) {
                pairs.insert((category.clone(), t.trim().to_owned()));
            } else if !line.starts_with("            ") {
                in_types = false;
            }
        }
        pairs
    }

    #[test]
    fn every_ecs_record_uses_an_allowed_category_and_type() {
        let allowed = ecs_allowed_pairs();
        assert!(
            allowed.contains(&("file".into(), "info".into())),
            "{allowed:?}"
        );
        assert!(!allowed.contains(&("file".into(), "end".into())));
        for k in EventKind::ALL {
            let mut e = verdict("verified");
            e["kind"] = json!(k.as_str());
            let o = ecs(&e);
            let c = o["event"]["category"][0].as_str().unwrap().to_owned();
            let t = o["event"]["type"][0].as_str().unwrap().to_owned();
            assert!(allowed.contains(&(c.clone(), t.clone())), "{k}: {c}/{t}");
        }
        let o = ecs(&verdict("verified"));
        assert_eq!(o["file"]["name"], "a=b.dump");
        assert_eq!(o["file"]["path"], "s3://bkt/db/a=b.dump");
    }
}

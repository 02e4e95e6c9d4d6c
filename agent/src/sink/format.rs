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
use crate::config::Provider;
use crate::evidence::EventKind as K;
use crate::evidence::EventKind;
use crate::outcome::RunOutcome;
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
pub fn syslog_severity(e: &Value) -> u8 {
    match EventKind::of(e) {
        Some(K::SampleVerdict) => match str_of(e, "verdict") {
            "mismatch" | "unrecoverable" => 3,
            "no_reference" | "skipped" | "aborted" => 5,
            _ => 6,
        },
        Some(K::RunSummary) => match RunOutcome::of_summary(e) {
            Some(RunOutcome::Error) | None => 3,
            Some(RunOutcome::Aborted | RunOutcome::Failed) => 4,
            Some(RunOutcome::Passed) => 6,
        },
        Some(K::EvidenceDropped) => 3,
        Some(K::PostureFinding) => match str_of(e, "status") {
            "fail" => 4,
            "unknown" => 5,
            _ => 6,
        },
        Some(K::GateChanged) if e["ok"] == false => 4,
        Some(K::SuspiciousChange) => 4,
        Some(K::RunAborted | K::ConfigReloaded) if str_of(e, "outcome") == "refused" => 4,
        Some(K::RunAborted) => 4,
        Some(
            K::ConfigReloaded
            | K::RestoreMutation
            | K::Checkpoint
            | K::DaemonStarted
            | K::DaemonStopped
            | K::GateChanged,
        )
        | None => 5,
    }
}

/// The record as JSON, for JSON sinks (`cef` gives a JSON string).
pub fn render(format: Format, e: &Value) -> Value {
    match format {
        Format::Native => e.clone(),
        Format::Ocsf => ocsf(e),
        Format::Ecs => ecs(e),
        Format::Cef => Value::String(cef(e)),
    }
}

/// The record as one line of text (no newline): JSON, or CEF.
pub fn render_line(format: Format, e: &Value) -> String {
    match format {
        Format::Cef => cef(e),
        other => render(other, e).to_string(),
    }
}

fn str_of<'a>(e: &'a Value, k: &str) -> &'a str {
    e.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn failures(e: &Value) -> u64 {
    let c = &e["counts"];
    c["mismatch"].as_u64().unwrap_or(0) + c["unrecoverable"].as_u64().unwrap_or(0)
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn epoch_ms(t: &Value) -> Option<i64> {
    t.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.timestamp_millis())
}

/// `s3://bucket/key` or `azure://container/key`.
fn resource_url(e: &Value) -> String {
    let src = &e["source"];
    // A kind this release does not know keeps its own name.
    let scheme: &str = match Provider::of_record(src) {
        Some(p) => p.url_scheme(),
        None => str_of(src, "kind"),
    };
    format!(
        "{scheme}://{}/{}",
        src["bucket"].as_str().unwrap_or_default(),
        e["recovery_point"]["key"].as_str().unwrap_or_default()
    )
}

fn cloud_provider(e: &Value) -> Option<&'static str> {
    Provider::of_record(&e["source"]).map(Provider::cloud)
}

/// A one-line description for people.
#[expect(
    clippy::too_many_lines,
    reason = "to be split into named steps, as drill/run.rs is"
)]
pub fn message(e: &Value) -> String {
    match EventKind::of(e) {
        Some(K::SampleVerdict) => {
            let rp = &e["recovery_point"];
            let version = rp["version_id"]
                .as_str()
                .or(rp["snapshot"].as_str())
                .unwrap_or("current");
            let mut m = format!(
                "Restore drill {}: {} (version {version}) {}",
                str_of(e, "drill"),
                resource_url(e),
                str_of(e, "verdict")
            );
            if let Some(r) = e["reason"].as_str() {
                m.push_str(": ");
                m.push_str(r);
            }
            m
        }
        Some(K::RunSummary) => {
            let c = &e["counts"];
            format!(
                "Restore drill {} {}: {} verified, {} mismatch, {} unrecoverable of {} sampled",
                str_of(e, "drill"),
                RunOutcome::of_summary(e).map_or("ended", RunOutcome::as_str),
                c["verified"].as_u64().unwrap_or(0),
                c["mismatch"].as_u64().unwrap_or(0),
                c["unrecoverable"].as_u64().unwrap_or(0),
                e["sampled"].as_u64().unwrap_or(0),
            )
        }
        Some(K::RunAborted) => format!(
            "Restore drill {} run aborted: {}",
            str_of(e, "drill"),
            str_of(e, "reason")
        ),
        Some(K::RestoreMutation) => format!(
            "Restore drill {}: {} {} of {}",
            str_of(e, "drill"),
            str_of(e, "action"),
            str_of(e, "phase"),
            resource_url(e)
        ),
        Some(K::DaemonStarted) => "restoreproof service started".into(),
        Some(K::DaemonStopped) => "restoreproof service stopped".into(),
        Some(K::ConfigReloaded) => {
            format!("restoreproof configuration reload {}", str_of(e, "outcome"))
        }
        Some(K::PostureFinding) => format!(
            "Posture of source {}: {} {} (observed {}; required {})",
            str_of(&e["source"], "name"),
            str_of(e, "check"),
            str_of(e, "status"),
            str_of(e, "observed"),
            str_of(e, "required")
        ),
        Some(K::SuspiciousChange) => format!(
            "Suspicious change in source {}{}: {}",
            str_of(&e["source"], "name"),
            match e["recovery_point"]["key"].as_str() {
                Some(_) => format!(" at {}", resource_url(e)),
                None => String::new(),
            },
            e["signals"]
                .as_array()
                .map(|r| r
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; "))
                .unwrap_or_default()
        ),
        Some(K::GateChanged) => {
            let reasons: Vec<&str> = e["reasons"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if e["ok"] == true {
                format!(
                    "Staleness gate of drill {} is green again (max age {})",
                    str_of(e, "drill"),
                    str_of(e, "max_age")
                )
            } else {
                format!(
                    "Staleness gate of drill {} turned red: {}",
                    str_of(e, "drill"),
                    reasons.join("; ")
                )
            }
        }
        Some(K::EvidenceDropped) => format!(
            "{} undelivered evidence event(s) dropped for sink {}: {}",
            e["count"].as_u64().unwrap_or(0),
            str_of(e, "sink"),
            str_of(e, "reason")
        ),
        Some(K::Checkpoint) => format!(
            "Evidence checkpoint of {} events ({})",
            e["size"].as_u64().unwrap_or(0),
            str_of(e, "reason")
        ),
        None => format!("restoreproof {}", str_of(e, "kind")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

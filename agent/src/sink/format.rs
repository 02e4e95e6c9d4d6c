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
use crate::evidence::EventKind as K;
use crate::evidence::EventKind;
use crate::outcome::RunOutcome;
use serde_json::{json, Map, Value};

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
    let scheme = match src["kind"].as_str() {
        Some("azure_blob") => "azure",
        _ => "s3",
    };
    format!(
        "{scheme}://{}/{}",
        src["bucket"].as_str().unwrap_or_default(),
        e["recovery_point"]["key"].as_str().unwrap_or_default()
    )
}

fn cloud_provider(e: &Value) -> Option<&'static str> {
    match e["source"]["kind"].as_str() {
        Some("s3") => Some("AWS"),
        Some("azure_blob") => Some("Azure"),
        _ => None,
    }
}

/// A one-line description for people.
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

fn ocsf(e: &Value) -> Value {
    let time = epoch_ms(&e["time"]).unwrap_or(0);
    let agent = &e["agent"];
    let product = json!({
        "name": "restoreproof",
        "vendor_name": "restoreproof",
        "version": agent["version"],
    });
    let mut metadata = json!({
        "version": OCSF_VERSION,
        "uid": e["event_id"],
        "product": product,
        "log_name": "evidence",
        "sequence": e["seq"],
        "original_time": e["time"],
    });
    if let Some(run) = e["run_id"].as_str() {
        metadata["correlation_uid"] = json!(run);
    }
    let severity_id = match syslog_severity(e) {
        3 => 4, // High
        4 => 3, // Medium
        5 => 2, // Low
        _ => 1, // Informational
    };
    let severity = ["Unknown", "Informational", "Low", "Medium", "High"][severity_id];
    let (class_uid, class_name, category_uid, category_name, activity_id, activity_name) =
        match EventKind::of(e) {
            Some(K::SampleVerdict | K::PostureFinding) => {
                (2003, "Compliance Finding", 2, "Findings", 1, "Create")
            }
            // The gate's finding about a drill changes state.
            Some(K::GateChanged) => (2003, "Compliance Finding", 2, "Findings", 2, "Update"),
            Some(K::SuspiciousChange) => (2004, "Detection Finding", 2, "Findings", 1, "Create"),
            Some(K::RunSummary) => {
                let (id, name) = match str_of(e, "status") {
                    "completed" => (2, "Completed"),
                    "aborted" => (3, "Cancelled"),
                    _ => (6, "Error"),
                };
                (6007, "Scan Activity", 6, "Application Activity", id, name)
            }
            Some(K::RunAborted) => (
                6007,
                "Scan Activity",
                6,
                "Application Activity",
                3,
                "Cancelled",
            ),
            Some(K::DaemonStarted) => (
                6002,
                "Application Lifecycle",
                6,
                "Application Activity",
                3,
                "Start",
            ),
            Some(K::DaemonStopped) => (
                6002,
                "Application Lifecycle",
                6,
                "Application Activity",
                4,
                "Stop",
            ),
            Some(K::ConfigReloaded) => (
                6002,
                "Application Lifecycle",
                6,
                "Application Activity",
                99,
                "Reload",
            ),
            Some(K::RestoreMutation) => {
                (6003, "API Activity", 6, "Application Activity", 3, "Update")
            }
            Some(K::EvidenceDropped) => (
                1008,
                "Event Log Activity",
                1,
                "System Activity",
                2,
                "Delete",
            ),
            Some(K::Checkpoint) | None => (0, "Base Event", 0, "Uncategorized", 0, "Unknown"),
        };
    let mut o = json!({
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": format!("{class_name}: {activity_name}"),
        "time": time,
        "severity_id": severity_id,
        "severity": severity,
        "message": message(e),
        "metadata": metadata,
        "unmapped": { "restoreproof": e },
    });
    // Profiles: `host` (the agent's host as `device`) where the class
    // takes it (findings and application activity, not the Base Event),
    // `cloud` where the record names a provider. Each is declared in
    // metadata.profiles, as OCSF requires of profile attributes.
    let mut profiles = Vec::new();
    if matches!(class_uid, 2003 | 6002 | 6007 | 1008) {
        o["device"] = json!({ "hostname": agent["host"], "type_id": 0, "type": "Unknown" });
        profiles.push("host");
    }
    if let Some(p) = cloud_provider(e) {
        o["cloud"] = json!({ "provider": p });
        profiles.push("cloud");
    }
    if !profiles.is_empty() {
        o["metadata"]["profiles"] = json!(profiles);
    }
    match EventKind::of(e) {
        Some(K::SampleVerdict) => {
            let verdict = str_of(e, "verdict");
            let (status_id, status) = match verdict {
                "verified" => (1, "Pass"),
                "mismatch" | "unrecoverable" => (3, "Fail"),
                "no_reference" | "skipped" => (2, "Warning"),
                _ => (0, "Unknown"),
            };
            let rp = &e["recovery_point"];
            let mut compliance = json!({
                "status_id": status_id,
                "status": status,
                "control": crate::controls::BACKUP.iso_2013,
                "standards": CONTROLS.iter().map(|(s, _, _)| *s).collect::<Vec<_>>(),
                "requirements": CONTROLS
                    .iter()
                    .map(|(s, c, n)| format!("{s} {c} {n}"))
                    .chain(crate::controls::crosswalk_text(
                        crate::controls::BACKUP.iso_2022,
                        &crate::controls::CROSSWALK,
                    ))
                    .collect::<Vec<_>>(),
            });
            if let Some(r) = e["reason"].as_str() {
                compliance["status_detail"] = json!(r);
            }
            o["compliance"] = compliance;
            o["finding_info"] = json!({
                "uid": e["event_id"],
                "title": format!("Restore of {} {}", resource_url(e), verdict),
                "desc": message(e),
                "types": ["Backup Restore Verification"],
                "created_time": time,
                "data_sources": ["restoreproof"],
            });
            let version = rp["version_id"].as_str().or(rp["snapshot"].as_str());
            o["resources"] = json!([{
                "uid": match version {
                    Some(v) => format!("{}#{v}", resource_url(e)),
                    None => resource_url(e),
                },
                "name": rp["key"],
                "type": match e["source"]["kind"].as_str() {
                    Some("azure_blob") => "Azure Blob",
                    _ => "AWS S3 object version",
                },
                "data": rp,
            }]);
            o["status_id"] = json!(1);
            o["status"] = json!("New");
        }
        Some(K::PostureFinding) => {
            let (status_id, status) = match str_of(e, "status") {
                "pass" => (1, "Pass"),
                "fail" => (3, "Fail"),
                _ => (0, "Unknown"),
            };
            let controls = e["controls"].as_array().cloned().unwrap_or_default();
            o["compliance"] = json!({
                "status_id": status_id,
                "status": status,
                "control": str_of(e, "check"),
                "standards": ["ISO/IEC 27001:2013", "ISO/IEC 27001:2022"],
                "requirements": controls.iter().flat_map(|c| {
                    let iso_2022 = c["iso_2022"].as_str().unwrap_or_default();
                    std::iter::once(format!(
                        "ISO/IEC 27001:2013 {} / 2022 {iso_2022}",
                        c["iso_2013"].as_str().unwrap_or_default(),
                    ))
                    .chain(crate::controls::crosswalk_text(iso_2022, &crate::controls::CROSSWALK))
                }).collect::<Vec<_>>(),
                "status_detail": format!("observed: {}; required: {}{}", str_of(e, "observed"), str_of(e, "required"),
                    e["reason"].as_str().map(|r| format!("; {r}")).unwrap_or_default()),
            });
            o["finding_info"] = json!({
                "uid": e["event_id"],
                "title": format!("Posture {} of source {}: {}", str_of(e, "check"), str_of(&e["source"], "name"), str_of(e, "status")),
                "types": ["Backup Posture"],
                "data_sources": ["restoreproof"],
            });
            o["status_id"] = json!(1);
            o["status"] = json!("New");
        }
        Some(K::SuspiciousChange) => {
            o["finding_info"] = json!({
                "uid": e["event_id"],
                "title": message(e),
                "types": ["Ransomware Signal"],
                "data_sources": ["restoreproof"],
            });
            if let Some(key) = e["recovery_point"]["key"].as_str() {
                let version = e["recovery_point"]["version_id"].as_str();
                o["resources"] = json!([{
                    "uid": match version {
                        Some(v) => format!("{}#{v}", resource_url(e)),
                        None => resource_url(e),
                    },
                    "name": key,
                }]);
            }
            o["status_id"] = json!(1);
            o["status"] = json!("New");
        }
        Some(K::GateChanged) => {
            let ok = e["ok"] == true;
            let reasons: Vec<&str> = e["reasons"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            o["compliance"] = json!({
                "status_id": if ok { 1 } else { 3 },
                "status": if ok { "Pass" } else { "Fail" },
                "control": "gate",
                "standards": ["ISO/IEC 27001:2013", "ISO/IEC 27001:2022"],
                "requirements": [format!(
                    "ISO/IEC 27001:2013 {} / 2022 {}",
                    crate::controls::BACKUP.iso_2013,
                    crate::controls::BACKUP.iso_2022
                )],
                "status_detail": if ok {
                    format!("a passed run within {}", str_of(e, "max_age"))
                } else {
                    reasons.join("; ")
                },
            });
            o["finding_info"] = json!({
                "uid": format!("gate:{}", str_of(e, "drill")),
                "title": message(e),
                "types": ["Backup Staleness Gate"],
                "data_sources": ["restoreproof"],
            });
            o["status_id"] = json!(if ok { 4 } else { 1 });
            o["status"] = json!(if ok { "Resolved" } else { "New" });
        }
        Some(K::RunSummary | K::RunAborted) => {
            let ok = RunOutcome::of_summary(e).is_some_and(RunOutcome::passed);
            let (type_id, typ) = match str_of(e, "trigger") {
                "schedule" => (2, "Scheduled"),
                "manual" => (1, "Manual"),
                _ => (0, "Unknown"),
            };
            o["scan"] = json!({
                "uid": e["run_id"],
                "name": e["drill"],
                "type_id": type_id,
                "type": typ,
            });
            if let Some(t) = epoch_ms(&e["started_at"]) {
                o["start_time"] = json!(t);
            }
            if let Some(t) = epoch_ms(&e["finished_at"]) {
                o["end_time"] = json!(t);
            }
            if let Some(d) = e["duration_ms"].as_u64() {
                o["duration"] = json!(d);
            }
            o["num_files"] = e["sampled"].clone();
            o["num_detections"] = json!(failures(e));
            o["num_trusted_items"] = e["counts"]["verified"].clone();
            o["status_id"] = json!(if ok { 1 } else { 2 });
            o["status"] = json!(if ok { "Success" } else { "Failure" });
            if let Some(err) = e["error"].as_str().or(e["reason"].as_str()) {
                o["status_detail"] = json!(err);
            }
        }
        Some(K::DaemonStarted | K::DaemonStopped | K::ConfigReloaded) => {
            o["app"] = json!({ "name": "restoreproof", "vendor_name": "restoreproof", "version": agent["version"] });
            if str_of(e, "outcome") == "refused" {
                o["status_id"] = json!(2);
                o["status"] = json!("Failure");
                o["status_detail"] = e["error"].clone();
            }
        }
        Some(K::RestoreMutation) => {
            o["api"] =
                json!({ "operation": e["action"], "service": { "name": e["source"]["kind"] } });
            // The agent called the storage service from its host.
            o["actor"] = json!({ "app_name": "restoreproof" });
            o["src_endpoint"] = json!({ "hostname": agent["host"] });
            o["resources"] =
                json!([{ "uid": resource_url(e), "name": e["recovery_point"]["key"] }]);
            let failed = e["error"].is_string();
            o["status_id"] = json!(if failed { 2 } else { 1 });
            o["status"] = json!(if failed { "Failure" } else { "Success" });
        }
        Some(K::EvidenceDropped | K::Checkpoint) | None => {}
    }
    o
}

fn ecs(e: &Value) -> Value {
    let agent = &e["agent"];
    let k = EventKind::of(e);
    // Only the category/type pairs ECS 8.11 allows (its event.yml
    // `expected_event_types`; a test checks each against it).
    let (category, typ) = match k {
        // Restored files and what their checks found.
        Some(K::SampleVerdict | K::RunSummary | K::RunAborted | K::Checkpoint) => ("file", "info"),
        Some(K::RestoreMutation) => ("api", "change"),
        Some(K::EvidenceDropped) => ("configuration", "deletion"),
        // The service is a process that starts and ends.
        Some(K::DaemonStarted) => ("process", "start"),
        Some(K::DaemonStopped) => ("process", "end"),
        Some(K::ConfigReloaded) => ("configuration", "change"),
        Some(K::PostureFinding | K::GateChanged) | None => ("configuration", "info"),
        // Bytes of a file changed the way encryption changes them.
        Some(K::SuspiciousChange) => ("file", "change"),
    };
    let outcome = match k {
        Some(K::SampleVerdict) => match str_of(e, "verdict") {
            "verified" => "success",
            "mismatch" | "unrecoverable" => "failure",
            _ => "unknown",
        },
        Some(K::RunSummary) if RunOutcome::of_summary(e).is_some_and(RunOutcome::passed) => {
            "success"
        }
        Some(K::RunSummary | K::RunAborted | K::EvidenceDropped) => "failure",
        Some(K::ConfigReloaded) if str_of(e, "outcome") == "refused" => "failure",
        Some(K::RestoreMutation) if e["error"].is_string() => "failure",
        Some(K::PostureFinding) => match str_of(e, "status") {
            "pass" => "success",
            "fail" => "failure",
            _ => "unknown",
        },
        Some(K::GateChanged) if e["ok"] == false => "failure",
        Some(K::SuspiciousChange) => "unknown",
        Some(
            K::GateChanged
            | K::ConfigReloaded
            | K::RestoreMutation
            | K::Checkpoint
            | K::DaemonStarted
            | K::DaemonStopped,
        ) => "success",
        None => "unknown",
    };
    let mut event = json!({
        "id": e["event_id"],
        "kind": "event",
        "category": [category],
        "type": [typ],
        "action": e["kind"],
        "outcome": outcome,
        "dataset": "restoreproof.evidence",
        "module": "restoreproof",
        "provider": "restoreproof",
        "sequence": e["seq"],
        "severity": syslog_severity(e),
        "created": e["time"],
    });
    if k == Some(K::RunSummary) {
        event["start"] = e["started_at"].clone();
        event["end"] = e["finished_at"].clone();
        if let Some(ms) = e["duration_ms"].as_u64() {
            event["duration"] = json!(ms.saturating_mul(1_000_000));
        }
    }
    let mut o = json!({
        "@timestamp": e["time"],
        "ecs": { "version": ECS_VERSION },
        "message": message(e),
        "event": event,
        "host": { "name": agent["host"], "hostname": agent["host"] },
        "agent": { "name": "restoreproof", "type": "restoreproof", "version": agent["version"] },
        "restoreproof": e,
    });
    let mut labels = Map::new();
    for key in ["run_id", "drill"] {
        if let Some(v) = e[key].as_str() {
            labels.insert(key.into(), json!(v));
        }
    }
    if let Some(v) = e["source"]["name"].as_str() {
        labels.insert("source".into(), json!(v));
    }
    if !labels.is_empty() {
        o["labels"] = Value::Object(labels);
    }
    if let Some(p) = cloud_provider(e) {
        o["cloud"] = json!({ "provider": p.to_lowercase() });
    }
    if matches!(k, Some(K::SampleVerdict | K::RunSummary)) {
        let (ruleset, id, name) = CONTROLS[0];
        o["rule"] = json!({
            "id": id,
            "name": name,
            "ruleset": ruleset,
            "reference": CONTROLS.iter().map(|(s, c, _)| format!("{s} {c}")).collect::<Vec<_>>().join(", "),
            "category": "backup",
        });
    }
    if k == Some(K::SampleVerdict) {
        let rp = &e["recovery_point"];
        // `file.name` is the last segment of the key, `file.path` all of it.
        let key = rp["key"].as_str().unwrap_or_default();
        let mut file = json!({
            "name": key.rsplit('/').next().unwrap_or(key),
            "path": resource_url(e),
            "size": rp["size"],
        });
        if let Some(sha) = e["restore"]["sha256"].as_str() {
            file["hash"] = json!({ "sha256": sha });
        }
        o["file"] = file;
    }
    o
}

/// A CEF header field: `\` and `|` escaped, and CR/LF (a key may hold
/// them) written as `\r`/`\n` so a record stays one line.
fn cef_header(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

fn cef_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

fn cef(e: &Value) -> String {
    let k = EventKind::of(e);
    let signature = match k {
        Some(K::SampleVerdict) => format!("sample_verdict:{}", str_of(e, "verdict")),
        Some(K::RunSummary) => format!(
            "run_summary:{}",
            RunOutcome::of_summary(e).map_or("unknown", RunOutcome::as_str)
        ),
        Some(other) => other.as_str().to_owned(),
        None => str_of(e, "kind").to_owned(),
    };
    let severity = match syslog_severity(e) {
        3 => 8,
        4 => 6,
        5 => 3,
        _ => 1,
    };
    let mut ext: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            ext.push((k.to_owned(), v));
        }
    };
    put("rt", epoch_ms(&e["time"]).map(|t| t.to_string()));
    put("externalId", e["event_id"].as_str().map(str::to_owned));
    put("dvchost", e["agent"]["host"].as_str().map(str::to_owned));
    put("cs1Label", Some("drill".into()));
    put("cs1", e["drill"].as_str().map(str::to_owned));
    put("cs2Label", Some("runId".into()));
    put("cs2", e["run_id"].as_str().map(str::to_owned));
    if k == Some(K::SampleVerdict) {
        let rp = &e["recovery_point"];
        put("fname", rp["key"].as_str().map(str::to_owned));
        put("filePath", Some(resource_url(e)));
        put("fsize", rp["size"].as_u64().map(|s| s.to_string()));
        put(
            "fileHash",
            e["restore"]["sha256"].as_str().map(str::to_owned),
        );
        put("cs3Label", Some("versionId".into()));
        put(
            "cs3",
            rp["version_id"]
                .as_str()
                .or(rp["snapshot"].as_str())
                .map(str::to_owned),
        );
        put("outcome", Some(str_of(e, "verdict").to_owned()));
    }
    put("cn1Label", Some("seq".into()));
    put("cn1", e["seq"].as_u64().map(|s| s.to_string()));
    put("msg", Some(message(e)));
    let ext = ext
        .iter()
        .map(|(k, v)| format!("{k}={}", cef_value(v)))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "CEF:0|restoreproof|restoreproof|{}|{}|{}|{severity}|{ext}",
        cef_header(e["agent"]["version"].as_str().unwrap_or_default()),
        cef_header(&signature),
        cef_header(&message(e).chars().take(128).collect::<String>()),
    )
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

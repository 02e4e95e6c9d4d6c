//! OCSF 1.3 records: drill verdicts and run summaries as Application Activity
//! and findings, with the controls they evidence.

use super::*;

#[expect(
    clippy::too_many_lines,
    reason = "to be split into named steps, as drill/run.rs is"
)]
pub(super) fn ocsf(e: &Value) -> Value {
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
                "type": Provider::of_record(&e["source"]).map_or("recovery point", Provider::point_type),
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

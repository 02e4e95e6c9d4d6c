//! Elastic Common Schema 8.11 documents.

use super::*;

#[expect(
    clippy::too_many_lines,
    reason = "to be split into named steps, as drill/run.rs is"
)]
pub(super) fn ecs(e: &Value) -> Value {
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

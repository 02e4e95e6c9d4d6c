//! Elastic Common Schema 8.11 documents.

use super::*;

/// The ECS `event.category` and `event.type` of a record: only the pairs
/// ECS 8.11 allows (its event.yml `expected_event_types`; a test checks
/// each against it).
fn category(r: &Record) -> (&'static str, &'static str) {
    match &r.body {
        // Restored files and what their checks found.
        Body::SampleVerdict(_)
        | Body::RunSummary(_)
        | Body::RunAborted(_)
        | Body::SampleBatch(_)
        | Body::Checkpoint(_) => ("file", "info"),
        Body::RestoreMutation(_) => ("api", "change"),
        Body::EvidenceDropped(_) => ("configuration", "deletion"),
        // The service is a process that starts and ends.
        Body::DaemonStarted => ("process", "start"),
        Body::DaemonStopped => ("process", "end"),
        Body::ConfigReloaded(_) => ("configuration", "change"),
        Body::PostureFinding(_)
        | Body::GateChanged(_)
        | Body::RestoreTestUnhandled(_)
        | Body::Other => ("configuration", "info"),
        Body::ProviderJobSubmitted(_) => ("process", "start"),
        // Bytes of a file changed the way encryption changes them.
        Body::SuspiciousChange(_) => ("file", "change"),
    }
}

/// `success`, `failure` or `unknown`.
fn outcome(r: &Record) -> &'static str {
    match &r.body {
        Body::SampleVerdict(v) => match v.verdict() {
            Some(Verdict::Verified) => "success",
            Some(Verdict::Mismatch | Verdict::Unrecoverable) => "failure",
            _ => "unknown",
        },
        Body::RunSummary(s) if s.passed() => "success",
        Body::SampleBatch(_) => "success",
        Body::RestoreTestUnhandled(_) | Body::ProviderJobSubmitted(_) => "unknown",
        Body::RunSummary(_) | Body::RunAborted(_) | Body::EvidenceDropped(_) => "failure",
        Body::ConfigReloaded(c) if c.refused() => "failure",
        Body::RestoreMutation(m) if m.error.is_some() => "failure",
        Body::PostureFinding(f) => match f.status.as_str() {
            "pass" => "success",
            "fail" => "failure",
            _ => "unknown",
        },
        Body::GateChanged(g) if !g.ok => "failure",
        Body::SuspiciousChange(_) | Body::Other => "unknown",
        Body::GateChanged(_)
        | Body::ConfigReloaded(_)
        | Body::RestoreMutation(_)
        | Body::Checkpoint(_)
        | Body::DaemonStarted
        | Body::DaemonStopped => "success",
    }
}

/// The `event` object.
fn event(r: &Record) -> Value {
    let (category, typ) = category(r);
    let mut event = json!({
        "id": r.event_id,
        "kind": "event",
        "category": [category],
        "type": [typ],
        "action": r.kind_name,
        "outcome": outcome(r),
        "dataset": "restoreproof.evidence",
        "module": "restoreproof",
        "provider": "restoreproof",
        "sequence": r.seq,
        "severity": syslog_severity(r),
        "created": r.time,
    });
    if let Body::RunSummary(s) = &r.body {
        let mut times = json!({ "start": s.started_at, "end": s.finished_at });
        if let Some(ms) = s.duration_ms {
            times = json!({
                "start": s.started_at,
                "end": s.finished_at,
                "duration": ms.saturating_mul(1_000_000),
            });
        }
        merge(&mut event, times);
    }
    event
}

/// Adds the members of `extra` (an object) to `o`.
fn merge(o: &mut Value, extra: Value) {
    if let (Value::Object(o), Value::Object(extra)) = (o, extra) {
        o.extend(extra);
    }
}

pub(super) fn ecs(r: &Record) -> Value {
    let mut o = json!({
        "@timestamp": r.time,
        "ecs": { "version": ECS_VERSION },
        "message": message(r),
        "event": event(r),
        "host": { "name": r.agent.host, "hostname": r.agent.host },
        "agent": { "name": "restoreproof", "type": "restoreproof", "version": r.agent.version },
        "restoreproof": r.raw,
    });
    let mut labels = Map::new();
    for (key, v) in [
        ("run_id", r.run_id.as_deref().unwrap_or_default()),
        ("drill", &r.drill),
        ("source", &r.source.name),
    ] {
        if !v.is_empty() {
            labels.insert(key.into(), json!(v));
        }
    }
    if !labels.is_empty() {
        merge(&mut o, json!({ "labels": labels }));
    }
    if let Some(p) = r.source.cloud() {
        merge(&mut o, json!({ "cloud": { "provider": p.to_lowercase() } }));
    }
    if matches!(r.body, Body::SampleVerdict(_) | Body::RunSummary(_)) {
        let (ruleset, id, name) = CONTROLS[0];
        merge(
            &mut o,
            json!({ "rule": {
                "id": id,
                "name": name,
                "ruleset": ruleset,
                "reference": CONTROLS.iter().map(|(s, c, _)| format!("{s} {c}")).collect::<Vec<_>>().join(", "),
                "category": "backup",
            }}),
        );
    }
    if let Body::SampleVerdict(v) = &r.body {
        let key = &v.recovery_point.key;
        // `file.name` is the last segment of the key, `file.path` all of it.
        let mut file = json!({
            "name": key.rsplit('/').next().unwrap_or(key),
            "path": r.resource_url(),
            "size": v.recovery_point.size,
        });
        if let Some(sha) = &v.restore.sha256 {
            merge(&mut file, json!({ "hash": { "sha256": sha } }));
        }
        merge(&mut o, json!({ "file": file }));
    }
    o
}

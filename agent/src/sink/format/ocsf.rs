//! OCSF 1.3 records: drill verdicts and run summaries as Application Activity
//! and findings, with the controls they evidence.

use super::*;
use crate::evidence::record::{GateChanged, PostureFinding, RunSummary, SampleVerdict};

/// The OCSF class and activity of a record.
struct Class {
    uid: u32,
    name: &'static str,
    category_uid: u32,
    category_name: &'static str,
    activity_id: u32,
    activity_name: &'static str,
}

impl Class {
    const fn new(
        (uid, name, category_uid, category_name): (u32, &'static str, u32, &'static str),
        activity_id: u32,
        activity_name: &'static str,
    ) -> Self {
        Self {
            uid,
            name,
            category_uid,
            category_name,
            activity_id,
            activity_name,
        }
    }

    fn of(r: &Record) -> Self {
        const COMPLIANCE: (u32, &str, u32, &str) = (2003, "Compliance Finding", 2, "Findings");
        const DETECTION: (u32, &str, u32, &str) = (2004, "Detection Finding", 2, "Findings");
        const SCAN: (u32, &str, u32, &str) = (6007, "Scan Activity", 6, "Application Activity");
        const LIFECYCLE: (u32, &str, u32, &str) =
            (6002, "Application Lifecycle", 6, "Application Activity");
        const API: (u32, &str, u32, &str) = (6003, "API Activity", 6, "Application Activity");
        const EVENT_LOG: (u32, &str, u32, &str) =
            (1008, "Event Log Activity", 1, "System Activity");
        const BASE: (u32, &str, u32, &str) = (0, "Base Event", 0, "Uncategorized");
        match &r.body {
            Body::SampleVerdict(_) | Body::PostureFinding(_) => Self::new(COMPLIANCE, 1, "Create"),
            // The gate's finding about a drill changes state.
            Body::GateChanged(_) => Self::new(COMPLIANCE, 2, "Update"),
            Body::SuspiciousChange(_) => Self::new(DETECTION, 1, "Create"),
            Body::RunSummary(s) => match s.status.as_str() {
                "completed" => Self::new(SCAN, 2, "Completed"),
                "aborted" => Self::new(SCAN, 3, "Cancelled"),
                _ => Self::new(SCAN, 6, "Error"),
            },
            Body::RunAborted(_) => Self::new(SCAN, 3, "Cancelled"),
            Body::DaemonStarted => Self::new(LIFECYCLE, 3, "Start"),
            Body::DaemonStopped => Self::new(LIFECYCLE, 4, "Stop"),
            Body::ConfigReloaded(_) => Self::new(LIFECYCLE, 99, "Reload"),
            Body::RestoreMutation(_) => Self::new(API, 3, "Update"),
            Body::EvidenceDropped(_) => Self::new(EVENT_LOG, 2, "Delete"),
            // Many verified samples under one root: not one finding.
            Body::Checkpoint(_)
            | Body::SampleBatch(_)
            | Body::RestoreTestUnhandled(_)
            | Body::ProviderJobSubmitted(_)
            | Body::Other => Self::new(BASE, 0, "Unknown"),
        }
    }
}

/// Adds the members of `extra` (an object) to `o`.
fn merge(o: &mut Value, extra: Value) {
    if let (Value::Object(o), Value::Object(extra)) = (o, extra) {
        o.extend(extra);
    }
}

pub(super) fn ocsf(r: &Record) -> Value {
    let class = Class::of(r);
    let (with_profiles, names) = profiles(r, &class);
    let mut o = base(r, &class, &names);
    merge(&mut o, with_profiles);
    let extra = match &r.body {
        Body::SampleVerdict(v) => verdict(r, v),
        Body::PostureFinding(f) => posture(r, f),
        Body::SuspiciousChange(_) => suspicious(r),
        Body::GateChanged(g) => gate(r, g),
        Body::RunSummary(s) => scan(r, Some(s)),
        Body::RunAborted(_) => scan(r, None),
        Body::DaemonStarted | Body::DaemonStopped => app(r, None),
        Body::ConfigReloaded(c) => app(r, c.refused().then_some(&c.error)),
        Body::RestoreMutation(m) => mutation(r, m.error.is_some()),
        Body::EvidenceDropped(_)
        | Body::Checkpoint(_)
        | Body::SampleBatch(_)
        | Body::RestoreTestUnhandled(_)
        | Body::ProviderJobSubmitted(_)
        | Body::Other => json!({}),
    };
    merge(&mut o, extra);
    o
}

/// OCSF's severity names, by `severity_id`.
const SEVERITIES: [&str; 5] = ["Unknown", "Informational", "Low", "Medium", "High"];

/// What every OCSF record carries: class, time, severity, metadata (with
/// the `profiles` used), the native record.
fn base(r: &Record, c: &Class, profiles: &[&str]) -> Value {
    let severity_id = match syslog_severity(r) {
        3 => 4, // High
        4 => 3, // Medium
        5 => 2, // Low
        _ => 1, // Informational
    };
    let mut metadata = json!({
        "version": OCSF_VERSION,
        "uid": r.event_id,
        "product": { "name": "restoreproof", "vendor_name": "restoreproof", "version": r.agent.version },
        "log_name": "evidence",
        "sequence": r.seq,
        "original_time": r.time,
    });
    if let Some(run) = &r.run_id {
        merge(&mut metadata, json!({ "correlation_uid": run }));
    }
    if !profiles.is_empty() {
        merge(&mut metadata, json!({ "profiles": profiles }));
    }
    json!({
        "class_uid": c.uid,
        "class_name": c.name,
        "category_uid": c.category_uid,
        "category_name": c.category_name,
        "activity_id": c.activity_id,
        "activity_name": c.activity_name,
        "type_uid": c.uid * 100 + c.activity_id,
        "type_name": format!("{}: {}", c.name, c.activity_name),
        "time": r.epoch_ms().unwrap_or(0),
        "severity_id": severity_id,
        "severity": SEVERITIES[severity_id],
        "message": message(r),
        "metadata": metadata,
        "unmapped": { "restoreproof": r.raw },
    })
}

/// Profiles: `host` (the agent's host as `device`) where the class takes it
/// (findings and application activity, not the Base Event), `cloud` where
/// the record names a provider: their members, and their names for
/// `metadata.profiles` (OCSF requires profile attributes to be declared).
fn profiles(r: &Record, c: &Class) -> (Value, Vec<&'static str>) {
    let mut out = json!({});
    let mut profiles = Vec::new();
    if matches!(c.uid, 2003 | 6002 | 6007 | 1008) {
        // The device is the agent's host: named, and where the record
        // knows them, its machine id, address and region.
        let mut device = json!({
            "hostname": r.agent.host,
            "name": r.agent.host,
            "type_id": 0,
            "type": "Unknown",
        });
        for (k, v) in [
            ("uid", &r.agent.machine_id),
            ("ip", &r.agent.ip),
            ("region", &r.agent.region),
        ] {
            if let (Some(v), Value::Object(m)) = (v, &mut device) {
                m.insert(k.into(), json!(v));
            }
        }
        merge(&mut out, json!({ "device": device }));
        profiles.push("host");
    }
    if let Some(p) = r.source.cloud() {
        merge(&mut out, json!({ "cloud": { "provider": p } }));
        profiles.push("cloud");
    }
    (out, profiles)
}

/// The resource a record names: its URL, with `#version` when it has one.
fn resource_uid(r: &Record) -> String {
    match r.point().and_then(|p| p.version()) {
        Some(v) => format!("{}#{v}", r.resource_url()),
        None => r.resource_url(),
    }
}

/// A findings' `status` when it is new.
fn new_finding() -> Value {
    json!({ "status_id": 1, "status": "New" })
}

fn verdict(r: &Record, v: &SampleVerdict) -> Value {
    let (status_id, status) = match v.verdict() {
        Some(Verdict::Verified) => (1, "Pass"),
        Some(Verdict::Mismatch | Verdict::Unrecoverable) => (3, "Fail"),
        Some(Verdict::NoReference | Verdict::Skipped) => (2, "Warning"),
        Some(Verdict::Aborted) | None => (0, "Unknown"),
    };
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
    if let Some(why) = &v.reason {
        merge(&mut compliance, json!({ "status_detail": why }));
    }
    let mut o = json!({
        "compliance": compliance,
        "finding_info": {
            "uid": r.event_id,
            "title": format!("Restore of {} {}", r.resource_url(), v.verdict_name),
            "desc": message(r),
            "types": ["Backup Restore Verification"],
            "created_time": r.epoch_ms().unwrap_or(0),
            "data_sources": ["restoreproof"],
        },
        "resources": [{
            "uid": resource_uid(r),
            "name": v.recovery_point.key,
            "type": r.source.point_type(),
            "data": v.recovery_point,
        }],
    });
    merge(&mut o, new_finding());
    o
}

fn posture(r: &Record, f: &PostureFinding) -> Value {
    let (status_id, status) = match f.status.as_str() {
        "pass" => (1, "Pass"),
        "fail" => (3, "Fail"),
        _ => (0, "Unknown"),
    };
    let requirements: Vec<String> = f
        .controls
        .iter()
        .flat_map(|c| {
            std::iter::once(format!(
                "ISO/IEC 27001:2013 {} / 2022 {}",
                c.iso_2013, c.iso_2022
            ))
            .chain(crate::controls::crosswalk_text(
                &c.iso_2022,
                &crate::controls::CROSSWALK,
            ))
        })
        .collect();
    let mut o = json!({
        "compliance": {
            "status_id": status_id,
            "status": status,
            "control": f.check,
            "standards": ["ISO/IEC 27001:2013", "ISO/IEC 27001:2022"],
            "requirements": requirements,
            "status_detail": format!(
                "observed: {}; required: {}{}",
                f.observed,
                f.required,
                f.reason.as_ref().map(|why| format!("; {why}")).unwrap_or_default()
            ),
        },
        "finding_info": {
            "uid": r.event_id,
            "title": format!("Posture {} of source {}: {}", f.check, r.source.name, f.status),
            "types": ["Backup Posture"],
            "data_sources": ["restoreproof"],
        },
    });
    merge(&mut o, new_finding());
    o
}

fn suspicious(r: &Record) -> Value {
    let mut o = json!({
        "finding_info": {
            "uid": r.event_id,
            "title": message(r),
            "types": ["Ransomware Signal"],
            "data_sources": ["restoreproof"],
        },
    });
    if let Some(p) = r.point() {
        merge(
            &mut o,
            json!({ "resources": [{ "uid": resource_uid(r), "name": p.key }] }),
        );
    }
    merge(&mut o, new_finding());
    o
}

fn gate(r: &Record, g: &GateChanged) -> Value {
    json!({
        "compliance": {
            "status_id": if g.ok { 1 } else { 3 },
            "status": if g.ok { "Pass" } else { "Fail" },
            "control": "gate",
            "standards": ["ISO/IEC 27001:2013", "ISO/IEC 27001:2022"],
            "requirements": [format!(
                "ISO/IEC 27001:2013 {} / 2022 {}",
                crate::controls::BACKUP.iso_2013,
                crate::controls::BACKUP.iso_2022
            )],
            "status_detail": if g.ok {
                format!("a passed run within {}", g.max_age)
            } else {
                g.reasons.join("; ")
            },
        },
        "finding_info": {
            "uid": format!("gate:{}", r.drill),
            "title": message(r),
            "types": ["Backup Staleness Gate"],
            "data_sources": ["restoreproof"],
        },
        "status_id": if g.ok { 4 } else { 1 },
        "status": if g.ok { "Resolved" } else { "New" },
    })
}

/// A run (`summary` is `None` for a run whose process ended first).
fn scan(r: &Record, summary: Option<&RunSummary>) -> Value {
    let ok = summary.is_some_and(RunSummary::passed);
    let (type_id, typ) = match summary.map(|s| s.trigger.as_str()) {
        Some("schedule") => (2, "Scheduled"),
        Some("manual") => (1, "Manual"),
        _ => (0, "Unknown"),
    };
    let mut o = json!({
        "scan": { "uid": r.run_id, "name": r.drill, "type_id": type_id, "type": typ },
        "status_id": if ok { 1 } else { 2 },
        "status": if ok { "Success" } else { "Failure" },
    });
    let Some(s) = summary else {
        if let Body::RunAborted(a) = &r.body {
            merge(&mut o, json!({ "status_detail": a.reason }));
        }
        return o;
    };
    merge(
        &mut o,
        json!({
            "num_files": s.sampled,
            "num_detections": s.counts.failures(),
            "num_trusted_items": s.counts.verified,
        }),
    );
    for (name, t) in [("start_time", &s.started_at), ("end_time", &s.finished_at)] {
        if let Some(t) = epoch_ms(t) {
            merge(&mut o, json!({ name: t }));
        }
    }
    if let Some(d) = s.duration_ms {
        merge(&mut o, json!({ "duration": d }));
    }
    if let Some(why) = s.error.as_ref().or(s.reason.as_ref()) {
        merge(&mut o, json!({ "status_detail": why }));
    }
    o
}

/// The service's lifecycle; `refused` is a refused reload's error.
fn app(r: &Record, refused: Option<&Option<String>>) -> Value {
    let mut o = json!({
        "app": { "name": "restoreproof", "vendor_name": "restoreproof", "version": r.agent.version },
    });
    if let Some(error) = refused {
        merge(
            &mut o,
            json!({ "status_id": 2, "status": "Failure", "status_detail": error }),
        );
    }
    o
}

fn mutation(r: &Record, failed: bool) -> Value {
    let Body::RestoreMutation(m) = &r.body else {
        return json!({});
    };
    json!({
        "api": { "operation": m.action, "service": { "name": r.source.kind } },
        // The agent called the storage service from its host.
        "actor": { "app_name": "restoreproof" },
        "src_endpoint": { "hostname": r.agent.host },
        "resources": [{ "uid": r.resource_url(), "name": m.recovery_point.key }],
        "status_id": if failed { 2 } else { 1 },
        "status": if failed { "Failure" } else { "Success" },
    })
}

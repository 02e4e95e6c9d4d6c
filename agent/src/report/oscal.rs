//! The report as an OSCAL 1.0.4 `assessment-results` document (JSON), for
//! GRC tools: one result for the period, an observation per drill (the
//! restores, `TEST`) and per posture check (`EXAMINE`) with the evidence ids
//! as `relevant-evidence`, and a finding per row of the control matrix with
//! its objective status (`satisfied` only when the row is `evidenced`). The
//! assessment plan the results import is described in the document's
//! back-matter (the configured drills and checks).

use super::{ControlStatus, Report};
use serde_json::{json, Value};

/// The OSCAL version the document follows.
pub const OSCAL_VERSION: &str = "1.0.4";

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn evidence_href(id: &str) -> String {
    if uuid::Uuid::parse_str(id).is_ok() {
        format!("urn:uuid:{id}")
    } else {
        format!("urn:restoreproof:evidence:{id}")
    }
}

/// The control id of a matrix row: `iso27001-2022_8.13`.
fn control_id(iso_2022: &str) -> String {
    let first = iso_2022.split(',').next().unwrap_or(iso_2022).trim();
    format!("iso27001-2022_{first}")
}

/// The report as OSCAL assessment results.
pub fn render(r: &Report) -> String {
    let drills: Vec<(String, Value)> = r.drills.iter().map(|d| drill_observation(r, d)).collect();
    let drill_observations: Vec<String> = drills.iter().map(|(id, _)| id.clone()).collect();
    let observations: Vec<Value> = drills
        .into_iter()
        .map(|(_, o)| o)
        .chain(r.posture.iter().map(posture_observation))
        .collect();
    let findings: Vec<Value> = r
        .controls
        .iter()
        .map(|c| finding(c, &drill_observations))
        .collect();
    let plan = uuid();
    let doc = json!({
        "assessment-results": {
            "uuid": uuid(),
            "metadata": {
                "title": format!("restoreproof assessment results: {}", r.host),
                "last-modified": r.generated_at,
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": { "href": format!("#{plan}") },
            "results": [result(r, observations, findings)],
            "back-matter": {
                "resources": [{
                    "uuid": plan,
                    "title": "Assessment plan: the configured restore drills and posture checks",
                    "description": format!(
                        "Drills restore sampled recovery points and verify them against independent references on their schedules; posture checks examine each source's settings. Ledger: {}.",
                        r.ledger
                    ),
                }],
            },
        }
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Adds `key: value` to an object.
fn with(mut o: Value, key: &str, value: Value) -> Value {
    if let Value::Object(m) = &mut o {
        m.insert(key.to_owned(), value);
    }
    o
}

/// A drill's restores in the period (`TEST`), with its runs as evidence;
/// and the observation's uuid.
fn drill_observation(r: &Report, d: &super::DrillReport) -> (String, Value) {
    let id = uuid();
    let evidence: Vec<Value> = r
        .runs
        .iter()
        .filter(|run| run.drill == d.drill)
        .map(|run| {
            json!({
                "href": evidence_href(&run.run_id),
                "description": format!(
                    "restoreproof run {} of drill {} started {}: outcome {}, {} sampled, {} verified, {} failed",
                    run.run_id,
                    run.drill,
                    run.started_at,
                    run.outcome.map_or("unknown", |o| o.as_str()),
                    run.sampled,
                    run.verified,
                    run.failed
                ),
            })
        })
        .collect();
    let o = json!({
        "uuid": id,
        "title": match d.checked {
            "at_rest" => format!(
                "Checksums at rest of drill {} on source {} (S3 Batch Operations; nothing restored)",
                d.drill, d.source
            ),
            "aws_backup_restore_test" => format!(
                "AWS Backup restore tests of source {} validated (drill {})",
                d.source, d.drill
            ),
            _ => format!("Restore drill {} on source {}", d.drill, d.source),
        },
        "description": format!(
            "{} run(s) in the period; {} recovery point(s) sampled: {}",
            d.runs,
            d.samples,
            d.verdicts
                .iter()
                .map(|(v, n)| format!("{n} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "methods": ["TEST"],
        "collected": d.last_run.clone().unwrap_or_else(|| r.until.clone()),
    });
    let o = if evidence.is_empty() {
        o
    } else {
        with(o, "relevant-evidence", Value::Array(evidence))
    };
    (id, o)
}

/// A posture check (`EXAMINE`), with its finding as evidence.
fn posture_observation(p: &super::PostureRow) -> Value {
    json!({
        "uuid": uuid(),
        "title": format!("Posture check {} of source {}", p.check, p.source),
        "description": format!("{}: observed {}; required {}", p.status, p.observed, p.required),
        "methods": ["EXAMINE"],
        "collected": p.time,
        "relevant-evidence": [{
            "href": evidence_href(&p.event_id),
            "description": format!("restoreproof posture finding {}", p.event_id),
        }],
    })
}

/// A row of the control matrix as a finding: `satisfied` only when
/// evidenced.
fn finding(c: &super::ControlRow, drill_observations: &[String]) -> Value {
    let status = match c.status {
        ControlStatus::Evidenced => json!({ "state": "satisfied" }),
        ControlStatus::Partly => json!({ "state": "not-satisfied", "reason": "partly-evidenced" }),
        ControlStatus::NoEvidence => json!({ "state": "not-satisfied", "reason": "no-evidence" }),
    };
    let mut f = json!({
        "uuid": uuid(),
        "title": format!("ISO/IEC 27001:2022 {} (2013 {}) {}", c.iso_2022, c.iso_2013, c.title),
        "description": c.explanation,
        "target": {
            "type": "objective-id",
            "target-id": control_id(c.iso_2022),
            "status": status,
        },
    });
    if c.iso_2022 == crate::controls::BACKUP.iso_2022 && !drill_observations.is_empty() {
        let related = drill_observations
            .iter()
            .map(|o| json!({ "observation-uuid": o }))
            .collect();
        f = with(f, "related-observations", Value::Array(related));
    }
    if !c.crosswalk.is_empty() {
        f = with(
            f,
            "remarks",
            json!(format!("Also serves: {}", c.crosswalk.join("; "))),
        );
    }
    f
}

/// The period's one result.
fn result(r: &Report, observations: Vec<Value>, findings: Vec<Value>) -> Value {
    let mut result = json!({
        "uuid": uuid(),
        "title": format!("Backup restore verification, {} to {}", r.since, r.until),
        "description": format!(
            "What restoreproof's ledger on {} proves for the period: restore drills against independent references, posture checks, and the evidence chain ({} event(s), {}).",
            r.host,
            r.chain.events,
            if r.chain.intact { "intact" } else { "NOT intact" }
        ),
        "start": r.since,
        "end": r.until,
        "reviewed-controls": {
            "control-selections": [{
                "include-controls": r.controls.iter().map(|c| json!({ "control-id": control_id(c.iso_2022) })).collect::<Vec<_>>(),
            }],
        },
    });
    if !observations.is_empty() {
        result = with(result, "observations", Value::Array(observations));
    }
    if !findings.is_empty() {
        result = with(result, "findings", Value::Array(findings));
    }
    result
}

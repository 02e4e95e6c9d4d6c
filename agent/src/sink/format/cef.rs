//! ArcSight CEF lines, with CEF's escaping of header fields and extension values.

use super::*;

/// A CEF header field: `\` and `|` escaped, and CR/LF (a key may hold
/// them) written as `\r`/`\n` so a record stays one line.
pub(super) fn cef_header(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

pub(super) fn cef_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

pub(super) fn cef(r: &Record) -> String {
    let signature = match &r.body {
        Body::SampleVerdict(v) => format!("sample_verdict:{}", v.verdict_name),
        Body::RunSummary(s) => format!(
            "run_summary:{}",
            s.outcome().map_or("unknown", RunOutcome::as_str)
        ),
        _ => r.kind_name.clone(),
    };
    let severity = match syslog_severity(r) {
        3 => 8,
        4 => 6,
        5 => 3,
        _ => 1,
    };
    let text = |s: &str| Some(s.to_owned());
    let mut ext: Vec<(&str, Option<String>)> = vec![
        ("rt", r.epoch_ms().map(|t| t.to_string())),
        ("externalId", text(&r.event_id)),
        ("dvchost", text(&r.agent.host)),
        ("cs1Label", text("drill")),
        ("cs1", text(&r.drill)),
        ("cs2Label", text("runId")),
        ("cs2", r.run_id.clone()),
    ];
    if let Body::SampleVerdict(v) = &r.body {
        let rp = &v.recovery_point;
        ext.extend([
            ("fname", text(&rp.key)),
            ("filePath", Some(r.resource_url())),
            ("fsize", rp.size.map(|s| s.to_string())),
            ("fileHash", v.restore.sha256.clone()),
            ("cs3Label", text("versionId")),
            ("cs3", rp.version().map(str::to_owned)),
            ("outcome", text(&v.verdict_name)),
        ]);
    }
    ext.extend([
        ("cn1Label", text("seq")),
        ("cn1", Some(r.seq.to_string())),
        ("msg", Some(message(r))),
    ]);
    let ext = ext
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .map(|(k, v)| format!("{k}={}", cef_value(v)))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "CEF:0|restoreproof|restoreproof|{}|{}|{}|{severity}|{ext}",
        cef_header(&r.agent.version),
        cef_header(&signature),
        cef_header(&message(r).chars().take(128).collect::<String>()),
    )
}

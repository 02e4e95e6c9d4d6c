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

pub(super) fn cef(e: &Value) -> String {
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

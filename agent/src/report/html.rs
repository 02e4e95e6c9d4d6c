//! The HTML report: one self-contained page (no scripts, no external
//! resources) with inline SVG charts, meant to be printed or handed over.

use super::render::{duration, outcome, pct, rate};
use super::{ControlStatus, Report};
use crate::config::human_bytes;
use crate::outcome::RunOutcome;
use std::fmt::Write as _;

/// Untrusted text as HTML: markup escaped, control and format characters
/// (a bidi override could reorder a key on the page) shown as `\u{..}`.
fn esc(s: &str) -> String {
    crate::text::shown(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: &[(&str, &str)] = &[
    ("verified", "#2e7d32"),
    ("no_reference", "#9e9e9e"),
    ("skipped", "#bdbdbd"),
    ("aborted", "#795548"),
    ("unrecoverable", "#ef6c00"),
    ("mismatch", "#c62828"),
];

/// Series colours for the throughput chart, one per drill (cycled).
const SERIES: &[&str] = &[
    "#1565c0", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e",
];

/// The chart's frame: the x axis, and the y axis with ticks at 0, half and
/// the maximum, labelled by `label`.
fn axes(
    o: &mut String,
    w: f64,
    h: f64,
    pad: f64,
    left: f64,
    max: f64,
    label: &dyn Fn(f64) -> String,
) {
    let _ = write!(
        o,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#444\"/><line x1=\"{left}\" y1=\"{pad}\" x2=\"{left}\" y2=\"{}\" stroke=\"#444\"/>",
        h - pad,
        w - pad,
        h - pad,
        h - pad
    );
    for f in [0.0, 0.5, 1.0] {
        let y = h - pad - f * (h - 2.0 * pad);
        let _ = write!(
            o,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text class=\"tick\" x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            w - pad,
            left - 4.0,
            y + 3.0,
            esc(&label(f * max))
        );
    }
}

/// Stacked bars: verdicts per day, each day's total written above its bar
/// and its date below (every k-th date when there are many).
fn verdict_chart(r: &Report) -> String {
    let (w, h, pad, left) = (720.0, 230.0, 30.0, 50.0);
    let n = r.days.len().max(1) as f64;
    let max = r
        .days
        .iter()
        .map(|d| d.verdicts.values().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let slot = (w - pad - left) / n;
    let bw = (slot * 0.7).min(40.0);
    let every = (r.days.len() / 12).max(1);
    let mut o = format!("<svg id=\"chart-verdicts\" role=\"img\" aria-label=\"Verdicts per day\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"xMinYMin meet\">");
    axes(&mut o, w, h, pad, left, max, &|v| format!("{v:.0}"));
    for (i, d) in r.days.iter().enumerate() {
        let x = left + (i as f64 + 0.15) * slot;
        let mut y = h - pad;
        for (verdict, color) in COLORS {
            let c = d.verdicts.get(*verdict).copied().unwrap_or(0) as f64;
            if c == 0.0 {
                continue;
            }
            let bh = c / max * (h - 2.0 * pad);
            y -= bh;
            let _ = write!(
                o,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"{color}\"><title>{} {verdict}: {c}</title></rect>",
                esc(&d.date)
            );
        }
        let total: u64 = d.verdicts.values().sum();
        let _ = write!(
            o,
            "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{total}</text>",
            x + bw / 2.0,
            y - 3.0
        );
        if i % every == 0 {
            let _ = write!(
                o,
                "<text class=\"date\" x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                x + bw / 2.0,
                h - pad + 14.0,
                esc(&d.date)
            );
        }
    }
    o.push_str("</svg>");
    o
}

/// Throughput of each run over time: one series per drill (its own colour,
/// in the legend), points placed by start time, the last value of each
/// series written beside it, dates on the time axis.
fn throughput_chart(r: &Report) -> String {
    let (w, h, pad, left) = (720.0, 230.0, 30.0, 70.0);
    let max = r
        .runs
        .iter()
        .map(|p| p.throughput_bytes_per_sec)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let time = |p: &super::RunPoint| {
        chrono::DateTime::parse_from_rfc3339(&p.started_at)
            .map(|t| t.timestamp_millis() as f64)
            .unwrap_or(0.0)
    };
    let t0 = r.runs.iter().map(time).fold(f64::INFINITY, f64::min);
    let t1 = r.runs.iter().map(time).fold(f64::NEG_INFINITY, f64::max);
    let span = (t1 - t0).max(1.0);
    let x_of = |t: f64| {
        if r.runs.len() > 1 && t1 > t0 {
            left + (t - t0) / span * (w - pad - left)
        } else {
            left + (w - pad - left) / 2.0
        }
    };
    let y_of = |b: u64| h - pad - b as f64 / max * (h - 2.0 * pad);
    let mut o = format!("<svg id=\"chart-throughput\" role=\"img\" aria-label=\"Restore throughput per run, one series per drill\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"xMinYMin meet\">");
    axes(&mut o, w, h, pad, left, max, &|v| {
        format!("{}/s", human_bytes(v as u64))
    });
    if let (Some(first), Some(last)) = (r.runs.first(), r.runs.last()) {
        for (p, anchor) in [(first, "start"), (last, "end")] {
            let x = if anchor == "start" { left } else { w - pad };
            let _ = write!(
                o,
                "<text class=\"date\" x=\"{x:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"{anchor}\">{}</text>",
                h - pad + 14.0,
                esc(&p.started_at.chars().take(16).collect::<String>().replace('T', " "))
            );
        }
    }
    let mut drills: Vec<&str> = r.runs.iter().map(|p| p.drill.as_str()).collect();
    drills.sort_unstable();
    drills.dedup();
    let mut legend = String::from("<div class=\"legend\">");
    for (k, drill) in drills.iter().enumerate() {
        let color = SERIES[k % SERIES.len()];
        let _ = write!(
            legend,
            "<span><i style=\"background:{color}\"></i>{}</span>",
            esc(drill)
        );
        let series: Vec<&super::RunPoint> = r.runs.iter().filter(|p| p.drill == *drill).collect();
        let pts: Vec<(f64, f64)> = series
            .iter()
            .map(|p| (x_of(time(p)), y_of(p.throughput_bytes_per_sec)))
            .collect();
        if pts.len() > 1 {
            let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = write!(
                o,
                "<polyline class=\"series\" data-drill=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                esc(drill),
                path.join(" ")
            );
        }
        for ((x, y), p) in pts.iter().zip(&series) {
            let _ = write!(
                o,
                "<circle class=\"point\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{color}\"><title>{} {}: {}/s</title></circle>",
                esc(&p.started_at),
                esc(&p.drill),
                human_bytes(p.throughput_bytes_per_sec)
            );
        }
        if let (Some((x, y)), Some(p)) = (pts.last(), series.last()) {
            // Beside the point, on the side with room.
            let (dx, anchor) = if *x < (left + w - pad) / 2.0 {
                (6.0, "start")
            } else {
                (-6.0, "end")
            };
            let _ = write!(
                o,
                "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"{anchor}\" fill=\"{color}\">{}/s</text>",
                x + dx,
                y - 6.0,
                human_bytes(p.throughput_bytes_per_sec)
            );
        }
    }
    legend.push_str("</div>");
    o.push_str("</svg>");
    legend + &o
}

/// One self-contained HTML page.
#[expect(
    clippy::too_many_lines,
    reason = "to be split into named steps, as drill/run.rs is"
)]
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>restoreproof report {}</title><style>\
body{{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}}\
table{{border-collapse:collapse;margin:1em 0;width:100%}}\
td,th{{border:1px solid #ccc;padding:4px 6px;font-size:13px;text-align:left;vertical-align:top;overflow-wrap:anywhere}}\
th{{background:#f3f3f3;font-size:12px;overflow-wrap:normal;hyphens:auto}}\
td.n{{text-align:right;white-space:nowrap}}svg{{width:100%;max-width:720px;height:auto;display:block}}\
.evidenced{{color:#2e7d32;font-weight:bold}}.partly{{color:#ef6c00;font-weight:bold}}.no_evidence{{color:#c62828;font-weight:bold}}\
.legend span{{display:inline-block;margin-right:1em;font-size:12px}}.legend i{{display:inline-block;width:10px;height:10px;margin-right:4px}}\
code{{font-size:12px;overflow-wrap:anywhere}}\
@media (max-width:900px){{body{{margin:1em}}td,th{{font-size:12px;padding:3px 4px}}}}\
@media print{{body{{margin:0;max-width:none;font-size:11px}}h2{{break-after:avoid}}table,svg,.legend{{break-inside:avoid}}\
td,th{{font-size:10px}}th{{background:#eee;-webkit-print-color-adjust:exact;print-color-adjust:exact}}\
rect,circle,i{{-webkit-print-color-adjust:exact;print-color-adjust:exact}}}}</style></head><body>",
        esc(&r.until)
    );
    let _ = write!(o, "<h1>restoreproof report</h1><p>{} to {} · host <code>{}</code> · ledger <code>{}</code></p>", esc(&r.since), esc(&r.until), esc(&r.host), esc(&r.ledger));
    o.push_str("<h2>Drills</h2><table id=\"drills\"><tr><th>drill</th><th>source</th><th>runs (passed / failed)</th><th>sam&shy;ples</th><th>veri&shy;fied</th><th>mis&shy;match</th><th>un&shy;recov&shy;er&shy;able</th><th>suc&shy;cess</th><th>cov&shy;er&shy;age</th><th>through&shy;put</th><th>full restore (RTO est.)</th><th>newest veri&shy;fied (RPO)</th></tr>");
    for d in &r.drills {
        let v = |k: &str| d.verdicts.get(k).copied().unwrap_or(0);
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}<br><code>{}</code></td><td class=\"n\">{} ({} / {})</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&d.drill),
            esc(&d.source),
            esc(d.location.as_deref().unwrap_or("")),
            d.runs,
            outcome(d, RunOutcome::Passed),
            outcome(d, RunOutcome::Failed),
            d.samples,
            v("verified"),
            v("mismatch"),
            v("unrecoverable"),
            pct(d.success_rate),
            pct(d.coverage),
            rate(d.throughput_bytes_per_sec),
            duration(d.projected_full_restore_secs.map(|s| s as i64)),
            duration(d.newest_verified_age_secs)
        );
    }
    o.push_str("</table><h2>Verdicts per day</h2><div class=\"legend\">");
    for (v, c) in COLORS {
        let _ = write!(o, "<span><i style=\"background:{c}\"></i>{v}</span>");
    }
    o.push_str("</div>");
    o.push_str(&verdict_chart(r));
    o.push_str("<h2>Restore throughput per run</h2>");
    o.push_str(&throughput_chart(r));
    let _ = write!(o, "<h2>Runs ({})</h2>", r.runs.len());
    if !r.runs.is_empty() {
        o.push_str("<table id=\"runs\"><tr><th>started</th><th>drill</th><th>out&shy;come</th><th>sam&shy;pled</th><th>veri&shy;fied</th><th>failed</th><th>through&shy;put</th><th>seed (<code>drill --seed</code> repeats the sample)</th><th>run</th></tr>");
        for p in &r.runs {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}/s</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&p.started_at),
                esc(&p.drill),
                p.outcome.map_or("", |o| o.as_str()),
                p.sampled,
                p.verified,
                p.failed,
                human_bytes(p.throughput_bytes_per_sec),
                p.seed.map(|s| s.to_string()).unwrap_or_default(),
                esc(&p.run_id)
            );
        }
        o.push_str("</table>");
    }
    let _ = write!(o, "<h2>Failures ({})</h2>", r.failures.len());
    if !r.failures.is_empty() {
        o.push_str("<table><tr><th>time</th><th>verdict</th><th>drill</th><th>recovery point</th><th>reason</th><th>evidence</th></tr>");
        for f in &r.failures {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code> @ <code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&f.time),
                esc(&f.verdict),
                esc(&f.drill),
                esc(&f.key),
                esc(&f.version_id),
                esc(f.reason.as_deref().unwrap_or("")),
                esc(&f.event_id)
            );
        }
        o.push_str("</table>");
    }
    let _ =
        write!(
        o,
        "<h2>Evidence chain</h2><p>{} — {} events; {} checkpoint(s) in the period, {} signed.</p>",
        if r.chain.intact { "Intact" } else { "<b>Does not verify</b>" },
        r.chain.events,
        r.chain.checkpoints_in_period,
        r.chain.signed_checkpoints_in_period
    );
    if !r.chain.signers.is_empty() {
        o.push_str("<p id=\"signers\">Checkpoints signed by (compare with the public key kept off this host): ");
        let keys: Vec<String> = r
            .chain
            .signers
            .iter()
            .map(|k| format!("<code>{}</code>", esc(k)))
            .collect();
        o.push_str(&keys.join(", "));
        o.push_str("</p>");
    }
    if !r.posture.is_empty() {
        o.push_str("<h2>Posture</h2><table id=\"posture\"><tr><th>source</th><th>check</th><th>status</th><th>observed</th><th>required</th></tr>");
        for p in &r.posture {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.source),
                esc(&p.check),
                esc(&p.status),
                esc(&p.observed),
                esc(&p.required)
            );
        }
        o.push_str("</table>");
    }
    if !r.signals.is_empty() {
        o.push_str("<h2>Ransomware signals</h2><p>Suspicious changes (not byte verdicts):</p><ul id=\"signals\">");
        for sig in &r.signals {
            let _ = write!(o, "<li>{}</li>", esc(&sig.statement()));
        }
        o.push_str("</ul>");
    }
    if !r.protection.is_empty() {
        o.push_str("<h2>Protection</h2><p>Immutability of the sampled recovery points against each source's policy:</p><ul id=\"protection\">");
        for p in &r.protection {
            let _ = write!(o, "<li>{}</li>", esc(&p.statement()));
        }
        o.push_str("</ul>");
    }
    let coverage = r.coverage_statements();
    if !coverage.is_empty() {
        o.push_str("<h2>Rotating coverage</h2><p>As each drill's last run in the period left it:</p><ul id=\"rotating-coverage\">");
        for c in &coverage {
            let _ = write!(o, "<li>{}</li>", esc(c));
        }
        o.push_str("</ul>");
    }
    if !r.confidence.is_empty() {
        o.push_str("<h2>Confidence</h2><p>From uniform samples only (one-sided exact Clopper–Pearson bound):</p><ul id=\"confidence\">");
        for c in &r.confidence {
            let _ = write!(o, "<li>{}</li>", esc(&c.statement()));
        }
        o.push_str("</ul>");
    }
    o.push_str("<h2>ISO/IEC 27001 controls</h2><table id=\"controls\"><tr><th>2013</th><th>2022</th><th>control</th><th>status</th><th>explanation</th><th>evidence</th></tr>");
    for c in &r.controls {
        let class = match c.status {
            ControlStatus::Evidenced => "evidenced",
            ControlStatus::Partly => "partly",
            ControlStatus::NoEvidence => "no_evidence",
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}{}</td><td><code>{}</code></td></tr>",
            c.iso_2013,
            c.iso_2022,
            c.title,
            c.status.as_str(),
            esc(&c.explanation),
            if c.crosswalk.is_empty() {
                String::new()
            } else {
                format!("<br><small>also serves: {}</small>", esc(&c.crosswalk.join("; ")))
            },
            esc(&c.evidence.join(" "))
        );
    }
    o.push_str("</table></body></html>\n");
    o
}

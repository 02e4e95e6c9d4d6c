//! The HTML report: one self-contained page (no scripts, no external
//! resources) with inline SVG charts, meant to be printed or handed over.
//! Written with maud: the markup is checked when the agent is compiled and
//! every interpolated value is escaped.

use super::table::{self, Cell, Part, Table};
use super::{ControlStatus, Report};
use crate::config::human_bytes;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// Untrusted text for the page: control and format characters (a bidi
/// override could reorder a key on the page) shown as `\u{..}`; maud
/// escapes the markup.
fn t(s: &str) -> String {
    crate::text::shown(s)
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

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\
table{border-collapse:collapse;margin:1em 0;width:100%}\
td,th{border:1px solid #ccc;padding:4px 6px;font-size:13px;text-align:left;vertical-align:top;overflow-wrap:break-word}\
th{background:#f3f3f3;font-size:12px;overflow-wrap:normal;hyphens:manual}\
details.id summary{cursor:pointer;font-family:monospace;font-size:12px}details.id code{display:block}\
#summary{border:2px solid #444;padding:0.5em 1em;margin:1em 0}#summary ul{margin:0.3em 0;padding-left:1.2em}#summary li{margin:0.1em 0}\
td.n{text-align:right;white-space:nowrap}svg{width:100%;max-width:720px;height:auto;display:block}\
.evidenced{color:#2e7d32;font-weight:bold}.partly{color:#ef6c00;font-weight:bold}.no_evidence{color:#c62828;font-weight:bold}\
.legend span{display:inline-block;margin-right:1em;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\
code{font-size:12px;overflow-wrap:anywhere}\
@media (max-width:900px){body{margin:1em}td,th{font-size:12px;padding:3px 4px}}\
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}table,svg,.legend{break-inside:avoid}\
td,th{font-size:10px}th{background:#eee;-webkit-print-color-adjust:exact;print-color-adjust:exact}\
rect,circle,i{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/// The chart's frame: the x axis, and the y axis with ticks at 0, half and
/// the maximum, labelled by `label`.
fn axes(w: f64, h: f64, pad: f64, left: f64, max: f64, label: &dyn Fn(f64) -> String) -> Markup {
    let f1 = |v: f64| format!("{v:.1}");
    html! {
        line x1=(left) y1=(h - pad) x2=(w - pad) y2=(h - pad) stroke="#444" {}
        line x1=(left) y1=(pad) x2=(left) y2=(h - pad) stroke="#444" {}
        @for f in [0.0, 0.5, 1.0] {
            @let y = h - pad - f * (h - 2.0 * pad);
            line x1=(left) y1=(f1(y)) x2=(w - pad) y2=(f1(y)) stroke="#ddd" {}
            text class="tick" x=(left - 4.0) y=(f1(y + 3.0)) font-size="10" text-anchor="end" { (label(f * max)) }
        }
    }
}

/// Stacked bars: verdicts per day, each day's total written above its bar
/// and its date below (every k-th date when there are many).
fn verdict_chart(r: &Report) -> Markup {
    let (w, h, pad, left) = (720.0, 230.0, 30.0, 50.0);
    let max = r
        .days
        .iter()
        .map(|d| d.verdicts.values().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let slot = (w - pad - left) / r.days.len().max(1) as f64;
    let bw = (slot * 0.7).min(40.0);
    let every = (r.days.len() / 12).max(1);
    let f1 = |v: f64| format!("{v:.1}");
    html! {
        svg id="chart-verdicts" role="img" aria-label="Verdicts per day" viewBox=(format!("0 0 {w} {h}")) preserveAspectRatio="xMinYMin meet" {
            (axes(w, h, pad, left, max, &|v| format!("{v:.0}")))
            @for (i, d) in r.days.iter().enumerate() {
                @let x = left + (i as f64 + 0.15) * slot;
                @let bars = stack(d, max, h - pad, h - 2.0 * pad);
                @let top = bars.last().map_or(h - pad, |b| b.1);
                @for (verdict, y, bh, color, c) in &bars {
                    rect class="bar" x=(f1(x)) y=(f1(*y)) width=(f1(bw)) height=(f1(*bh)) fill=(color) {
                        title { (t(&d.date)) " " (verdict) ": " (c) }
                    }
                }
                text class="value" x=(f1(x + bw / 2.0)) y=(f1(top - 3.0)) font-size="10" text-anchor="middle" {
                    (d.verdicts.values().sum::<u64>())
                }
                @if i % every == 0 {
                    text class="date" x=(f1(x + bw / 2.0)) y=(h - pad + 14.0) font-size="10" text-anchor="middle" { (t(&d.date)) }
                }
            }
        }
    }
}

/// A day's bars, bottom up: (verdict, top, height, colour, count).
fn stack(
    d: &super::Day,
    max: f64,
    bottom: f64,
    height: f64,
) -> Vec<(&'static str, f64, f64, &'static str, f64)> {
    let mut y = bottom;
    COLORS
        .iter()
        .filter_map(|(verdict, color)| {
            let c = d.verdicts.get(*verdict).copied().unwrap_or(0) as f64;
            (c > 0.0).then(|| {
                let bh = c / max * height;
                y -= bh;
                (*verdict, y, bh, *color, c)
            })
        })
        .collect()
}

/// A drill's runs on the throughput chart: its name, its colour, its
/// points (x, y, run).
type Series<'a> = (&'a str, &'static str, Vec<(f64, f64, &'a super::RunPoint)>);

/// Throughput of each run over time: one series per drill (its own colour,
/// in the legend), points placed by start time, the last value of each
/// series written beside it, dates on the time axis.
fn throughput_chart(r: &Report) -> Markup {
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
    let mut drills: Vec<&str> = r.runs.iter().map(|p| p.drill.as_str()).collect();
    drills.sort_unstable();
    drills.dedup();
    let series: Vec<Series<'_>> = drills
        .iter()
        .enumerate()
        .map(|(k, drill)| {
            let pts = r
                .runs
                .iter()
                .filter(|p| p.drill == *drill)
                .map(|p| (x_of(time(p)), y_of(p.throughput_bytes_per_sec), p))
                .collect();
            (*drill, SERIES[k % SERIES.len()], pts)
        })
        .collect();
    let f1 = |v: f64| format!("{v:.1}");
    let ends = [
        (r.runs.first(), left, "start"),
        (r.runs.last(), w - pad, "end"),
    ];
    html! {
        div class="legend" {
            @for (drill, color, _) in &series {
                span { i style=(format!("background:{color}")) {} (t(drill)) }
            }
        }
        svg id="chart-throughput" role="img" aria-label="Restore throughput per run, one series per drill" viewBox=(format!("0 0 {w} {h}")) preserveAspectRatio="xMinYMin meet" {
            (axes(w, h, pad, left, max, &|v| format!("{}/s", human_bytes(v as u64))))
            @for (p, x, anchor) in ends {
                @if let Some(p) = p {
                    text class="date" x=(f1(x)) y=(h - pad + 14.0) font-size="10" text-anchor=(anchor) {
                        (t(&p.started_at.chars().take(16).collect::<String>().replace('T', " ")))
                    }
                }
            }
            @for (drill, color, pts) in &series {
                @if pts.len() > 1 {
                    polyline class="series" data-drill=(t(drill)) fill="none" stroke=(color) stroke-width="2"
                        points=(pts.iter().map(|(x, y, _)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")) {}
                }
                @for (x, y, p) in pts {
                    circle class="point" cx=(f1(*x)) cy=(f1(*y)) r="4" fill=(color) {
                        title { (t(&p.started_at)) " " (t(&p.drill)) ": " (human_bytes(p.throughput_bytes_per_sec)) "/s" }
                    }
                }
                @if let Some((x, y, p)) = pts.last() {
                    // Beside the point, on the side with room.
                    @let (dx, anchor) = if *x < (left + w - pad) / 2.0 { (6.0, "start") } else { (-6.0, "end") };
                    text class="value" x=(f1(x + dx)) y=(f1(y - 6.0)) font-size="10" text-anchor=(anchor) fill=(color) {
                        (human_bytes(p.throughput_bytes_per_sec)) "/s"
                    }
                }
            }
        }
    }
}

/// A table of the report, as HTML.
fn table_html(t_: &Table) -> Markup {
    html! {
        table id=(t_.id) {
            tr { @for h in t_.head { th { (h) } } }
            @for row in &t_.rows {
                tr { @for c in row { (cell_html(c)) } }
            }
        }
    }
}

fn cell_html(c: &Cell) -> Markup {
    let parts = html! {
        @for p in &c.parts {
            @match p {
                Part::Text(s) => (t(s)),
                // Ids (UUIDs) folded to their first characters, so they do
                // not take the table's width; opened, the whole id.
                Part::Code(s) if uuid::Uuid::parse_str(s).is_ok() => details class="id" {
                    summary { (t(&s[..8])) "…" }
                    code { (t(s)) }
                },
                Part::Code(s) => code { (t(s)) },
                Part::Break => br;,
            }
        }
    };
    html! {
        @if c.number { td class="n" { (parts) } } @else { td { (parts) } }
    }
}

/// A list of statements under a heading, when there are any.
fn statements(title: &str, intro: &str, id: &str, items: &[String]) -> Markup {
    html! {
        @if !items.is_empty() {
            h2 { (title) }
            p { (intro) }
            ul id=(id) { @for s in items { li { (t(s)) } } }
        }
    }
}

fn controls(r: &Report) -> Markup {
    html! {
        h2 { "ISO/IEC 27001 controls" }
        table id="controls" {
            tr { th { "2013" } th { "2022" } th { "control" } th { "status" } th { "explanation" } th { "evidence" } }
            @for c in &r.controls {
                @let class = match c.status {
                    ControlStatus::Evidenced => "evidenced",
                    ControlStatus::Partly => "partly",
                    ControlStatus::NoEvidence => "no_evidence",
                };
                tr {
                    td { (c.iso_2013) } td { (c.iso_2022) } td { (c.title) }
                    td class=(class) { (c.status.as_str()) }
                    td {
                        (t(&c.explanation))
                        @if !c.crosswalk.is_empty() { br; small { "also serves: " (t(&c.crosswalk.join("; "))) } }
                    }
                    td { code { (t(&c.evidence.join(" "))) } }
                }
            }
        }
    }
}

/// The report's conclusion, first: each control in one line, the scope,
/// the period, the agent and configuration, and the chain head and its
/// checkpoint, so that a printed page can be tied to the evidence.
fn summary(r: &Report) -> Markup {
    let c = &r.chain;
    let sources: std::collections::BTreeSet<&str> =
        r.drills.iter().map(|d| d.source.as_str()).collect();
    html! {
        section id="summary" {
            h2 { "Summary" }
            ul {
                @for row in &r.controls {
                    @let class = match row.status {
                        ControlStatus::Evidenced => "evidenced",
                        ControlStatus::Partly => "partly",
                        ControlStatus::NoEvidence => "no_evidence",
                    };
                    li { (row.iso_2013) " / " (row.iso_2022) " " (row.title) ": " span class=(class) { (row.status.as_str()) } }
                }
            }
            p {
                "Scope: " (sources.len()) " source(s) (" (t(&sources.into_iter().collect::<Vec<_>>().join(", "))) "), "
                (r.drills.len()) " drill(s) (" (t(&r.drills.iter().map(|d| d.drill.as_str()).collect::<Vec<_>>().join(", "))) "). "
                "Period: " (t(&r.since)) " to " (t(&r.until)) ". "
                "restoreproof " (t(&r.agent_version)) " on " code { (t(&r.host)) } "."
                @if let Some(h) = &r.config_sha256 { " Configuration SHA-256 " code { (t(h)) } "." }
            }
            p {
                "Evidence chain: " @if c.intact { "intact" } @else { b { "does not verify" } } ", "
                (c.events) " events"
                @if let (Some(seq), Some(h)) = (c.head_seq, &c.head_hash) { ", head #" (seq) " " code { (t(h)) } }
                "."
                @if let Some(cp) = &c.last_checkpoint {
                    " Latest checkpoint: size " (cp.size) ", head " code { (t(&cp.head)) } ", "
                    @match &cp.signed_by { Some(k) => { "signed by " code { (t(k)) } } None => { "unsigned" } }
                    "."
                } @else { " No checkpoint in the period." }
            }
        }
    }
}

fn chain(r: &Report) -> Markup {
    html! {
        h2 { "Evidence chain" }
        p {
            @if r.chain.intact { "Intact" } @else { b { "Does not verify" } }
            " — " (r.chain.events) " events; " (r.chain.checkpoints_in_period) " checkpoint(s) in the period, "
            (r.chain.signed_checkpoints_in_period) " signed."
        }
        @if !r.chain.signers.is_empty() {
            p id="signers" {
                "Checkpoints signed by (compare with the public key kept off this host): "
                @for (i, k) in r.chain.signers.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (t(k)) }
                }
            }
        }
    }
}

/// One self-contained HTML page.
pub fn html(r: &Report) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "restoreproof report " (t(&r.until)) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "restoreproof report" }
                p { (t(&r.since)) " to " (t(&r.until)) " · host " code { (t(&r.host)) } " · ledger " code { (t(&r.ledger)) } }
                (summary(r))
                h2 { "Drills" }
                (table_html(&table::drills(r)))
                h2 { "Verdicts per day" }
                div class="legend" {
                    @for (v, c) in COLORS { span { i style=(format!("background:{c}")) {} (v) } }
                }
                (verdict_chart(r))
                h2 { "Restore throughput per run" }
                (throughput_chart(r))
                h2 { "Runs (" (r.runs.len()) ")" }
                @if !r.runs.is_empty() { (table_html(&table::runs(r))) }
                h2 { "Failures (" (r.failures.len()) ")" }
                @if !r.failures.is_empty() { (table_html(&table::failures(r))) }
                (chain(r))
                @if !r.posture.is_empty() { h2 { "Posture" } (table_html(&table::posture(r))) }
                (statements("Ransomware signals", "Suspicious changes (not byte verdicts):", "signals",
                    &r.signals.iter().map(super::SignalRow::statement).collect::<Vec<_>>()))
                (statements("Protection", "Immutability of the sampled recovery points against each source's policy:", "protection",
                    &r.protection.iter().map(super::SourceProtection::statement).collect::<Vec<_>>()))
                (statements("Rotating coverage", "As each drill's last run in the period left it:", "rotating-coverage",
                    &r.coverage_statements()))
                (statements("Confidence", "From uniform samples only (one-sided exact Clopper–Pearson bound):", "confidence",
                    &r.confidence.iter().map(super::confidence::SourceConfidence::statement).collect::<Vec<_>>()))
                (controls(r))
            }
        }
    }
    .into_string()
        + "\n"
}

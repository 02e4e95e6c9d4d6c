//! The report as text, Markdown, JSON, CSV, or one self-contained HTML file
//! with inline SVG charts (no scripts, no external resources: it opens
//! offline).

use super::Report;
use crate::config::human_bytes;
use crate::outcome::RunOutcome;
use std::fmt::Write as _;

pub(super) fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

pub(super) fn duration(secs: Option<i64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{:.1}h", s as f64 / 3600.0),
        Some(s) => format!("{:.1}d", s as f64 / 86_400.0),
    }
}

pub(super) fn rate(v: Option<u64>) -> String {
    v.map_or("-".into(), |b| format!("{}/s", human_bytes(b)))
}

/// Plain text.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "restoreproof report — {} to {} — host {}",
        r.since, r.until, r.host
    );
    if let Some(s) = &r.source_filter {
        let _ = writeln!(o, "source: {s}");
    }
    let _ = writeln!(o, "ledger: {}\n", r.ledger);
    text_drills(&mut o, r);
    let _ = writeln!(o, "\nFailures: {}", r.failures.len());
    for f in &r.failures {
        let _ = writeln!(
            o,
            "  {} {} {} {}@{} — {} (evidence {})",
            f.time,
            f.verdict,
            f.drill,
            visible(&f.key),
            visible(&f.version_id),
            visible(f.reason.as_deref().unwrap_or("")),
            f.event_id
        );
    }
    let _ = writeln!(
        o,
        "\nEvidence chain: {} ({} events; {} checkpoint(s) in the period, {} signed)",
        if r.chain.intact {
            "intact"
        } else {
            "DOES NOT VERIFY"
        },
        r.chain.events,
        r.chain.checkpoints_in_period,
        r.chain.signed_checkpoints_in_period
    );
    if !r.posture.is_empty() {
        let _ = writeln!(o, "\nPosture (latest finding per check):");
        for p in &r.posture {
            let _ = writeln!(
                o,
                "  {:<14} {:<22} {:<8} {} (required: {})",
                p.source, p.check, p.status, p.observed, p.required
            );
        }
    }
    text_list(
        &mut o,
        "Ransomware signals (suspicious changes; not byte verdicts):",
        r.signals.iter().map(super::SignalRow::statement),
    );
    text_list(
        &mut o,
        "Protection (immutability of the sampled recovery points):",
        r.protection.iter().map(super::SourceProtection::statement),
    );
    text_list(
        &mut o,
        "Rotating coverage (as each drill's last run left it):",
        r.coverage_statements().into_iter(),
    );
    text_list(
        &mut o,
        "Confidence (from uniform samples, one-sided Clopper–Pearson):",
        r.confidence
            .iter()
            .map(super::confidence::SourceConfidence::statement),
    );
    text_controls(&mut o, r);
    o
}

fn text_drills(o: &mut String, r: &Report) {
    for d in &r.drills {
        let _ = writeln!(o, "{} (source {}): {}", d.drill, d.source, d.checked_text());
        if let Some(t) = &d.population_as_of {
            let _ = writeln!(o, "  population as of {t} (the source's inventory report)");
        }
        let _ = writeln!(
            o,
            "  runs {} ({} passed, {} failed, {} aborted, {} error); samples {}; verdicts {}",
            d.runs,
            outcome(d, RunOutcome::Passed),
            outcome(d, RunOutcome::Failed),
            outcome(d, RunOutcome::Aborted),
            outcome(d, RunOutcome::Error),
            d.samples,
            d.verdicts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            o,
            "  success rate {}; coverage {} ({} of {} recovery points verified)",
            pct(d.success_rate),
            pct(d.coverage),
            d.distinct_verified,
            d.candidates.map_or("?".into(), |c| c.to_string())
        );
        let _ = writeln!(
            o,
            "  restored {} at {}; whole source ({}) in about {} (RTO estimate); newest verified recovery point {} old (RPO indicator)",
            human_bytes(d.bytes_restored),
            rate(d.throughput_bytes_per_sec),
            d.candidate_bytes.map_or("?".into(), human_bytes),
            duration(d.projected_full_restore_secs.map(|s| s as i64)),
            duration(d.newest_verified_age_secs)
        );
    }
    if r.drills.is_empty() {
        let _ = writeln!(o, "No drill ran in the period.");
    }
}

/// A section of statements, when there are any.
fn text_list(o: &mut String, title: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{title}");
    for s in &items {
        let _ = writeln!(o, "  {}", visible(s));
    }
}

fn text_controls(o: &mut String, r: &Report) {
    let _ = writeln!(o, "\nISO/IEC 27001 controls (2013 / 2022):");
    for c in &r.controls {
        let _ = writeln!(
            o,
            "  {:<11} {:<16} {:<46} {}",
            c.iso_2013,
            c.iso_2022,
            c.title,
            c.status.as_str()
        );
        let _ = writeln!(o, "      {}", c.explanation);
        if !c.crosswalk.is_empty() {
            let _ = writeln!(o, "      also serves: {}", c.crosswalk.join("; "));
        }
        if !c.evidence.is_empty() {
            let _ = writeln!(o, "      evidence: {}", c.evidence.join(", "));
        }
    }
}

/// Markdown.
pub fn markdown(r: &Report) -> String {
    let mut o = format!(
        "# restoreproof report\n\n{} to {} · host {} · ledger {}\n\n",
        r.since,
        r.until,
        md_cell(&r.host),
        md_cell(&r.ledger)
    );
    o.push_str("## Drills\n\n");
    o.push_str(&md_table(&super::table::drills(r)));
    o.push_str("\n## Failures\n\n");
    if r.failures.is_empty() {
        o.push_str("None.\n");
    } else {
        o.push_str(&md_table(&super::table::failures(r)));
    }
    let _ = writeln!(
        o,
        "\n## Evidence chain\n\n{} — {} events; {} checkpoint(s) in the period, {} signed.\n",
        if r.chain.intact {
            "Intact"
        } else {
            "**Does not verify**"
        },
        r.chain.events,
        r.chain.checkpoints_in_period,
        r.chain.signed_checkpoints_in_period
    );
    if !r.posture.is_empty() {
        o.push_str("## Posture\n\n");
        o.push_str(&md_table(&super::table::posture(r)));
        o.push('\n');
    }
    md_list(
        &mut o,
        "Ransomware signals",
        "Suspicious changes (not byte verdicts):",
        r.signals.iter().map(super::SignalRow::statement),
    );
    md_list(
        &mut o,
        "Protection",
        "Immutability of the sampled recovery points against each source's policy:",
        r.protection.iter().map(super::SourceProtection::statement),
    );
    md_list(
        &mut o,
        "Rotating coverage",
        "As each drill's last run in the period left it:",
        r.coverage_statements().into_iter(),
    );
    md_list(
        &mut o,
        "Confidence",
        "From uniform samples only (one-sided exact Clopper–Pearson bound):",
        r.confidence
            .iter()
            .map(super::confidence::SourceConfidence::statement),
    );
    let _ = writeln!(o, "## ISO/IEC 27001 controls\n\n| 2013 | 2022 | control | status | explanation | also serves |\n|---|---|---|---|---|---|");
    for c in &r.controls {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            c.iso_2013,
            c.iso_2022,
            md_cell(c.title),
            c.status.as_str(),
            md_cell(&c.explanation),
            md_cell(&c.crosswalk.join("; "))
        );
    }
    o
}

/// A table of the report as Markdown: the same rows and columns as the
/// HTML page's.
fn md_table(t: &super::table::Table) -> String {
    use super::table::Part;
    let head: Vec<String> = t.head.iter().map(|h| h.replace('\u{ad}', "")).collect();
    let mut o = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
    for row in &t.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| {
                c.parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(s) | Part::Code(s) => md_cell(s),
                        Part::Break => " ".into(),
                    })
                    .collect()
            })
            .collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o
}

/// A section of statements, when there are any.
fn md_list(o: &mut String, title: &str, intro: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        return;
    }
    let _ = writeln!(o, "## {title}\n\n{intro}\n");
    for s in &items {
        let _ = writeln!(o, "- {}", md(s));
    }
    let _ = writeln!(o);
}

/// Runs of the drill with outcome `o` in the period.
pub(super) fn outcome(d: &super::DrillReport, o: RunOutcome) -> u64 {
    d.outcomes.get(&o).copied().unwrap_or(0)
}

/// One table as CSV (RFC 4180: one header row, then the rows): one row per
/// drill, per failed recovery point, or per control of the matrix.
pub fn csv(r: &Report, table: crate::cli::CsvTable) -> String {
    // Quoted; a value a spreadsheet would run as a formula (keys are
    // written by whoever writes the backups) starts with `'`.
    let q = |s: &str| {
        let s = &crate::text::shown(s);
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_owned()
        };
        format!("\"{}\"", s.replace('"', "\"\""))
    };
    let mut o = String::new();
    match table {
        crate::cli::CsvTable::Drills => csv_drills(&mut o, r, &q),
        crate::cli::CsvTable::Failures => csv_failures(&mut o, r, &q),
        crate::cli::CsvTable::Controls => csv_controls(&mut o, r, &q),
    }
    o
}

fn csv_drills(o: &mut String, r: &Report, q: &dyn Fn(&str) -> String) {
    o.push_str("drill,source,runs,runs_completed,runs_error,runs_aborted,samples,verified,mismatch,unrecoverable,no_reference,skipped,aborted,success_rate,distinct_verified,candidates,coverage,bytes_restored,throughput_bytes_per_sec,candidate_bytes,projected_full_restore_secs,newest_verified_age_secs,runs_passed,runs_failed\n");
    for d in &r.drills {
        let v = |k: &str| d.verdicts.get(k).copied().unwrap_or(0).to_string();
        let opt = |x: Option<u64>| x.map(|v| v.to_string()).unwrap_or_default();
        let f = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_default();
        let _ = writeln!(
            o,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            q(&d.drill),
            q(&d.source),
            d.runs,
            d.runs_completed,
            d.runs_error,
            d.runs_aborted,
            d.samples,
            v("verified"),
            v("mismatch"),
            v("unrecoverable"),
            v("no_reference"),
            v("skipped"),
            v("aborted"),
            f(d.success_rate),
            d.distinct_verified,
            opt(d.candidates),
            f(d.coverage),
            d.bytes_restored,
            opt(d.throughput_bytes_per_sec),
            opt(d.candidate_bytes),
            opt(d.projected_full_restore_secs),
            d.newest_verified_age_secs
                .map(|v| v.to_string())
                .unwrap_or_default(),
            outcome(d, RunOutcome::Passed),
            outcome(d, RunOutcome::Failed),
        );
    }
}

fn csv_failures(o: &mut String, r: &Report, q: &dyn Fn(&str) -> String) {
    o.push_str("failure_time,drill,source,key,version_id,verdict,reason,event_id\n");
    for f in &r.failures {
        let _ = writeln!(
            o,
            "{},{},{},{},{},{},{},{}",
            q(&f.time),
            q(&f.drill),
            q(&f.source),
            q(&f.key),
            q(&f.version_id),
            q(&f.verdict),
            q(f.reason.as_deref().unwrap_or_default()),
            q(&f.event_id)
        );
    }
}

fn csv_controls(o: &mut String, r: &Report, q: &dyn Fn(&str) -> String) {
    o.push_str("control_2013,control_2022,title,status,explanation,evidence,also_serves\n");
    for c in &r.controls {
        let _ = writeln!(
            o,
            "{},{},{},{},{},{},{}",
            q(c.iso_2013),
            q(c.iso_2022),
            q(c.title),
            q(c.status.as_str()),
            q(&c.explanation),
            q(&c.evidence.join(" ")),
            q(&c.crosswalk.join("; "))
        );
    }
}

/// Untrusted text (keys, reasons, names) as Markdown that renders as that
/// text: the characters inline Markdown (with GitHub's tables and
/// strikethrough) acts on are backslash-escaped anywhere — `\` `` ` `` `*`
/// `_` `[` `]` `<` `>` `|` (which keeps a table cell whole) `~` `&` `!`;
/// parentheses are inert once brackets are escaped — and with `block`
/// those that start a block at the start of a line (`#`, `+`, `-`, `=`,
/// and the `.` or `)` after leading digits); line breaks as spaces,
/// other control characters as `\u{..}`. Times and numbers
/// (`2026-12-07T03:10`, `13.29 %`) stay as they are.
fn md(s: &str) -> String {
    md_text(s, true)
}

/// A table cell: no block starts there, so only the inline characters.
fn md_cell(s: &str) -> String {
    md_text(s, false)
}

fn md_text(s: &str, block: bool) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    // `1. ` or `1) ` starts an ordered list; `13.29` does not.
    let listed = s.chars().nth(digits + 1).is_none_or(char::is_whitespace);
    for (i, c) in s.chars().enumerate() {
        let block_start = block
            && ((i == 0 && matches!(c, '#' | '+' | '-' | '='))
                || (i == digits && i > 0 && listed && matches!(c, '.' | ')')));
        match c {
            '\n' | '\r' => o.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '!' => {
                o.push('\\');
                o.push(c);
            }
            c if block_start => {
                o.push('\\');
                o.push(c);
            }
            c if crate::text::hidden(c) => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// Untrusted text for a terminal: control and format characters (which
/// could move the cursor, recolour the screen or reorder the line) shown as
/// `\u{..}`.
fn visible(s: &str) -> String {
    crate::text::shown(s)
}

#[cfg(test)]
mod md_tests {
    use super::md;

    #[test]
    fn markdown_escapes_what_markdown_reads_and_nothing_else() {
        assert_eq!(md("2026-12-07T03:10:00Z"), "2026-12-07T03:10:00Z");
        assert_eq!(md("13.29 %"), "13.29 %");
        assert_eq!(md("a|b"), "a\\|b");
        assert_eq!(
            md("*x* _y_ [l](u) <b> `c` ~s~ &amp; !"),
            "\\*x\\* \\_y\\_ \\[l\\](u) \\<b\\> \\`c\\` \\~s\\~ \\&amp; \\!"
        );
        assert_eq!(super::md_cell("-"), "-");
        assert_eq!(md("# not a heading"), "\\# not a heading");
        assert_eq!(md("- not a list"), "\\- not a list");
        assert_eq!(md("1. not a list"), "1\\. not a list");
        assert_eq!(md("a\nb"), "a b");
    }
}

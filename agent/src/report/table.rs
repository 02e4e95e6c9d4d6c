//! The report's tables, built once and drawn by both the HTML and the
//! Markdown renderer: the same rows and columns in both, each format only
//! escaping and marking up its own way.

use super::render::{duration, outcome, pct, rate};
use super::Report;
use crate::config::human_bytes;
use crate::outcome::RunOutcome;

/// A table: its HTML id, its column heads (`\u{ad}` marks where a narrow
/// column may hyphenate a head), its rows.
pub(super) struct Table {
    pub id: &'static str,
    pub head: &'static [&'static str],
    pub rows: Vec<Vec<Cell>>,
}

/// One cell: its parts in order, and whether it holds a number (set
/// right, never wrapped).
#[derive(Default)]
pub(super) struct Cell {
    pub parts: Vec<Part>,
    pub number: bool,
}

/// A piece of a cell.
pub(super) enum Part {
    /// Text for people.
    Text(String),
    /// An identifier to copy as it is (a key, a version, an event id).
    Code(String),
    /// A line break (a space in Markdown).
    Break,
}

impl Cell {
    fn text(s: impl Into<String>) -> Self {
        Self {
            parts: vec![Part::Text(s.into())],
            number: false,
        }
    }

    fn code(s: impl Into<String>) -> Self {
        Self {
            parts: vec![Part::Code(s.into())],
            number: false,
        }
    }

    fn number(s: impl ToString) -> Self {
        Self {
            parts: vec![Part::Text(s.to_string())],
            number: true,
        }
    }

    fn of(parts: Vec<Part>) -> Self {
        Self {
            parts,
            number: false,
        }
    }
}

/// One row per drill: its runs, verdicts and the figures an auditor asks
/// for (success, coverage, RTO estimate, RPO indicator).
pub(super) fn drills(r: &Report) -> Table {
    let rows = r
        .drills
        .iter()
        .map(|d| {
            let v = |k: &str| Cell::number(d.verdicts.get(k).copied().unwrap_or(0));
            let mut source = vec![Part::Text(d.source.clone())];
            if let Some(l) = &d.location {
                source.extend([Part::Break, Part::Code(l.clone())]);
            }
            vec![
                Cell::of(vec![
                    Part::Text(d.drill.clone()),
                    Part::Break,
                    Part::Text(d.checked_text().to_owned()),
                ]),
                Cell::of(source),
                Cell::number(format!(
                    "{} ({} / {})",
                    d.runs,
                    outcome(d, RunOutcome::Passed),
                    outcome(d, RunOutcome::Failed)
                )),
                Cell::number(d.samples),
                v("verified"),
                v("mismatch"),
                v("unrecoverable"),
                Cell::number(pct(d.success_rate)),
                Cell::number(pct(d.coverage)),
                Cell::number(rate(d.throughput_bytes_per_sec)),
                Cell::number(duration(d.projected_full_restore_secs.map(|s| s as i64))),
                Cell::number(duration(d.newest_verified_age_secs)),
            ]
        })
        .collect();
    Table {
        id: "drills",
        head: &[
            "drill",
            "source",
            "runs (passed / failed)",
            "sam\u{ad}ples",
            "veri\u{ad}fied",
            "mis\u{ad}match",
            "un\u{ad}recov\u{ad}er\u{ad}able",
            "suc\u{ad}cess",
            "cov\u{ad}er\u{ad}age",
            "through\u{ad}put",
            "full restore (RTO est.)",
            "newest veri\u{ad}fied (RPO)",
        ],
        rows,
    }
}

/// One row per finished run, with the seed that repeats its sample.
pub(super) fn runs(r: &Report) -> Table {
    let rows = r
        .runs
        .iter()
        .map(|p| {
            vec![
                Cell::text(&p.started_at),
                Cell::text(&p.drill),
                // A run that did not pass says why beside its outcome.
                Cell::of(match &p.reason {
                    Some(why) => vec![
                        Part::Text(p.outcome.map_or("", RunOutcome::as_str).to_owned()),
                        Part::Break,
                        Part::Text(why.clone()),
                    ],
                    None => vec![Part::Text(
                        p.outcome.map_or("", RunOutcome::as_str).to_owned(),
                    )],
                }),
                Cell::number(p.sampled),
                Cell::number(p.verified),
                Cell::number(p.failed),
                Cell::number(
                    if p.throughput_bytes_per_sec == 0 && p.sampled == p.failed {
                        "—".to_owned()
                    } else {
                        format!("{}/s", human_bytes(p.throughput_bytes_per_sec))
                    },
                ),
                Cell::code(p.seed.map(|s| s.to_string()).unwrap_or_default()),
                Cell::code(&p.run_id),
            ]
        })
        .collect();
    Table {
        id: "runs",
        head: &[
            "started",
            "drill",
            "out\u{ad}come",
            "sam\u{ad}pled",
            "veri\u{ad}fied",
            "failed",
            "through\u{ad}put",
            "seed (drill --seed repeats the sample)",
            "run",
        ],
        rows,
    }
}

/// One row per recovery point that failed.
pub(super) fn failures(r: &Report) -> Table {
    let rows = r
        .failures
        .iter()
        .map(|f| {
            vec![
                Cell::text(&f.time),
                Cell::text(&f.verdict),
                Cell::text(&f.drill),
                Cell::of(vec![
                    Part::Code(f.key.clone()),
                    Part::Text(" @ ".into()),
                    Part::Code(f.version_id.clone()),
                ]),
                Cell::text(f.reason.as_deref().unwrap_or("")),
                Cell::code(&f.event_id),
            ]
        })
        .collect();
    Table {
        id: "failures",
        head: &[
            "time",
            "verdict",
            "drill",
            "recovery point",
            "reason",
            "evidence",
        ],
        rows,
    }
}

/// The latest posture finding per source and check.
pub(super) fn posture(r: &Report) -> Table {
    let rows = r
        .posture
        .iter()
        .map(|p| {
            vec![
                Cell::text(&p.source),
                Cell::text(&p.check),
                Cell::text(&p.status),
                Cell::text(&p.observed),
                Cell::text(&p.required),
            ]
        })
        .collect();
    Table {
        id: "posture",
        head: &["source", "check", "status", "observed", "required"],
        rows,
    }
}

//! What `restoreproof drill` shows while and after it runs: the progress
//! bar, the streamed `--json` document, the table of verdicts.

use crate::config::{human_bytes, Config, Provider};
use crate::drill::{Observer, RunSummary, SampleResult};
use crate::outcome::RunOutcome;
use crate::verify::{Outcome, Verdict};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Sampled recovery points `--plan` lists (`--json` lists all).
pub(super) const TABLE_ROWS_PLAN: usize = 50;

/// A progress bar on stderr: listing count, then bytes, rate and ETA.
pub(super) struct Progress {
    bar: ProgressBar,
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    pub(super) fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} listing: {pos} versions seen")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        crate::cli::bar::show(Some(bar.clone()));
        Self {
            bar,
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }
}

impl Observer for Progress {
    fn listed(&self, items: u64) {
        self.bar.set_position(items);
    }

    fn sampled(&self, count: u64, bytes: u64) {
        self.total.store(count, Ordering::Relaxed);
        self.bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {steady_eta} {msg}",
            )
            .map(|s| s.with_key("steady_eta", crate::cli::bar::eta))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.bar.set_length(bytes);
        self.bar.set_position(0);
        self.bar.set_message(format!("0/{count} restored"));
    }

    fn bytes(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finished(&self, _r: &SampleResult) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.set_message(format!(
            "{done}/{} restored",
            self.total.load(Ordering::Relaxed)
        ));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        crate::cli::bar::show(None);
        self.bar.finish_and_clear();
    }
}

/// The verified rows the table shows at most; failures and other verdicts
/// are always shown.
const TABLE_VERIFIED_ROWS: usize = 1000;

/// Where each result goes as it finishes: `--json` writes it to stdout at
/// once (one document, `samples` first, closed by [`Output::end`] or
/// [`Output::error`]); the table keeps every result that is not
/// `verified`, and the first [`TABLE_VERIFIED_ROWS`] verified ones (none
/// with `--only-failures`).
pub(super) struct Output {
    json: bool,
    verified_rows: usize,
    state: std::sync::Mutex<OutputState>,
}

#[derive(Default)]
pub(super) struct OutputState {
    /// `--json`: the document was opened.
    opened: bool,
    rows: Vec<SampleResult>,
    verified_shown: usize,
    verified_omitted: u64,
}

impl Output {
    pub(super) fn new(json: bool, only_failures: bool) -> Self {
        Self {
            json,
            verified_rows: if only_failures {
                0
            } else {
                TABLE_VERIFIED_ROWS
            },
            state: std::sync::Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutputState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the `--json` document with the fields of `tail` (an object).
    pub(super) fn end(&self, tail: serde_json::Value) {
        if !self.json {
            return;
        }
        let mut st = self.lock();
        let mut text = String::from(if st.opened {
            "\n]"
        } else {
            "{\n\"schema\": \"restoreproof.drill/v1\",\n\"samples\": []"
        });
        st.opened = true;
        for (k, v) in tail.as_object().into_iter().flatten() {
            text.push_str(&format!(
                ",\n{}: {}",
                serde_json::Value::from(k.as_str()),
                serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
            ));
        }
        text.push_str("\n}\n");
        crate::commands::out::document_started();
        crate::commands::out::write(&text);
    }

    /// Closes the `--json` document with an error (or writes it alone).
    pub(super) fn error(&self, e: serde_json::Value) {
        self.end(e);
    }
}

impl Observer for Output {
    fn finished(&self, r: &SampleResult) {
        let mut st = self.lock();
        if self.json {
            let sep = if st.opened {
                ",\n"
            } else {
                "{\n\"schema\": \"restoreproof.drill/v1\",\n\"samples\": [\n"
            };
            st.opened = true;
            crate::commands::out::document_started();
            crate::commands::out::write(&format!(
                "{sep}{}",
                serde_json::to_string_pretty(r).unwrap_or_else(|_| "null".into())
            ));
        } else if r.verdict != Verdict::Verified {
            st.rows.push(r.clone());
        } else if st.verified_shown < self.verified_rows {
            st.verified_shown += 1;
            st.rows.push(r.clone());
        } else {
            st.verified_omitted += 1;
        }
    }
}

/// Two observers as one.
pub(super) struct Both(pub(super) Arc<dyn Observer>, pub(super) Arc<dyn Observer>);

impl Observer for Both {
    fn listed(&self, items: u64) {
        self.0.listed(items);
        self.1.listed(items);
    }
    fn sampled(&self, count: u64, bytes: u64) {
        self.0.sampled(count, bytes);
        self.1.sampled(count, bytes);
    }
    fn bytes(&self, n: u64) {
        self.0.bytes(n);
        self.1.bytes(n);
    }
    fn finished(&self, r: &SampleResult) {
        self.0.finished(r);
        self.1.finished(r);
    }
}

/// The run for people: what was sampled, a table of verdicts, the counts
/// and the result.
pub(super) fn print_human(s: &RunSummary, output: &Output, config: &Config) {
    let st = output.lock();
    print_header(s);
    print_table(&st);
    print_footer(s, config);
}

/// Where the drill ran and what it sampled.
fn print_header(s: &RunSummary) {
    let info = &s.source;
    let location = match (info.kind, info.endpoint.as_deref()) {
        (Provider::AzureBlob, Some(account)) => {
            format!("{account}/{}/{}", info.bucket, info.prefix)
        }
        (kind, _) => format!("{}://{}/{}", kind.url_scheme(), info.bucket, info.prefix),
    };
    let location = location.trim_end_matches('/').to_owned();
    crate::outln!(
        "Drill `{}` on {} (source `{}`), run {}",
        s.drill,
        location,
        s.source.name,
        s.run_id
    );
    let seed = s.seed.map(|x| format!(", seed {x}")).unwrap_or_default();
    // Delete markers are S3's; an Azure listing has none to report.
    let markers = if s.source.kind == crate::config::Provider::S3 {
        format!(
            ", {} (not restorable)",
            crate::text::count(s.population.delete_markers, "delete marker")
        )
    } else {
        String::new()
    };
    crate::outln!(
        "Sampled {} of {} ({} of {}) by {}{}, mode {}; {} listed{markers}, {} filtered out",
        s.sampled,
        crate::text::count(s.population.candidates, "candidate"),
        human_bytes(s.sampled_bytes),
        human_bytes(s.population.candidate_bytes),
        s.strategy,
        seed,
        s.mode,
        crate::text::count(s.population.versions_listed, "recovery point"),
        s.population.filtered_out,
    );
    if let Some(t) = &s.population_as_of {
        crate::outln!(
            "Population as of {t}: the source's inventory report (versions written since are not in it)"
        );
    }
    if s.population.larger_than_budget > 0 {
        crate::outln!(
            "{} candidates are larger than the whole byte budget and were not sampled",
            s.population.larger_than_budget
        );
    }
    crate::outln!();
}

/// One line per verdict shown, failures always among them.
fn print_table(st: &OutputState) {
    let mut rows: Vec<&SampleResult> = st.rows.iter().collect();
    rows.sort_by(|a, b| {
        (a.recovery_point.key.as_str(), a.recovery_point.point_id())
            .cmp(&(b.recovery_point.key.as_str(), b.recovery_point.point_id()))
    });
    let key_w = rows
        .iter()
        .map(|r| crate::text::shown(&r.recovery_point.key).chars().count())
        .max()
        .unwrap_or(3)
        .clamp(3, 48);
    crate::outln!(
        "{:<13}  {:<key_w$}  {:<38}  {:>10}  DETAIL",
        "VERDICT",
        "KEY",
        "VERSION",
        "SIZE"
    );
    for r in rows {
        let detail = match r.verdict {
            Verdict::Verified => {
                let refs: Vec<&str> = r
                    .checks
                    .iter()
                    .filter(|c| c.outcome == Outcome::Match && c.kind.proves_content())
                    .map(|c| c.name.as_str())
                    .collect();
                format!("matched {}", refs.join(", "))
            }
            _ => crate::text::shown(r.reason.as_deref().unwrap_or_default()),
        };
        crate::outln!(
            "{:<13}  {:<key_w$}  {:<38}  {:>10}  {}",
            r.verdict.as_str(),
            truncate(&r.recovery_point.key, key_w),
            truncate(&r.recovery_point.point_id(), 38),
            human_bytes(r.recovery_point.size),
            detail
        );
    }
    if st.verified_omitted > 0 && st.verified_shown == 0 {
        crate::outln!(
            "… and {} verified, not shown (--only-failures; every verdict is in the evidence)",
            st.verified_omitted
        );
    } else if st.verified_omitted > 0 {
        crate::outln!(
            "… and {} more verified (the first {TABLE_VERIFIED_ROWS} are shown; every verdict is in the evidence, `--json` lists them all)",
            st.verified_omitted
        );
    }
    crate::outln!();
}

/// The counts, coverage, where the evidence is, and the result.
fn print_footer(s: &RunSummary, config: &Config) {
    let c = s.counts;
    crate::outln!(
        "verified {} · mismatch {} · unrecoverable {} · no_reference {} · skipped {}   {} restored in {:.1}s ({}/s)",
        c.verified,
        c.mismatch,
        c.unrecoverable,
        c.no_reference,
        c.skipped,
        human_bytes(s.bytes_restored),
        s.duration_ms as f64 / 1000.0,
        human_bytes(s.throughput_bytes_per_sec)
    );
    if let Some(cov) = &s.coverage {
        coverage_lines(cov);
    }
    crate::outln!(
        "Evidence: {}  Ledger: {}",
        config.evidence_path.display(),
        config.ledger_path.display()
    );
    match (s.outcome, &s.reason) {
        (Some(RunOutcome::Passed), _) => crate::outln!("RESULT: PASSED"),
        (Some(RunOutcome::Failed), Some(why)) => crate::outln!("RESULT: FAILED — {why}"),
        (Some(o), _) => crate::outln!("RESULT: {}", o.as_str().to_uppercase()),
        (None, _) => {}
    }
}

/// Rotating coverage in a few lines: where it stands, when it is full, and
/// the warning when the budget cannot keep it.
pub(super) fn coverage_lines(c: &crate::drill::Coverage) {
    crate::outln!(
        "Coverage ({}): {} of {} recovery points verified within the period ({:.1} %, {} of {}); {} coverage pick(s) this run{}",
        c.period,
        c.verified_within_period,
        c.population,
        c.percent,
        human_bytes(c.verified_within_period_bytes),
        human_bytes(c.population_bytes),
        c.coverage_picks,
        c.departed
            .filter(|d| *d > 0)
            .map(|d| format!("; {d} recovery point(s) verified before have left the population"))
            .unwrap_or_default()
    );
    match (&c.warning, c.runs_to_full, &c.full_coverage_at) {
        (Some(w), _, _) => crate::outln!("WARNING: coverage: {w}"),
        (None, 0, _) => crate::outln!("  every recovery point is verified within the period"),
        (None, n, Some(at)) => {
            crate::outln!("  full coverage after {n} more run(s) at this budget: the scheduled run at {at}")
        }
        (None, n, None) => crate::outln!(
            "  full coverage after {n} more run(s) at this budget (no schedule: run them within {})",
            c.period
        ),
    }
}

/// Why a planned recovery point would be restored, for the plan's table.
pub(super) fn pick_text(p: crate::sample::Pick) -> &'static str {
    use crate::sample::Pick;
    match p {
        Pick::Uniform => "uniform",
        Pick::Newest => "newest",
        Pick::Oldest => "oldest",
        Pick::Coverage => "coverage",
        Pick::CoverageUniform => "coverage+uniform",
    }
}

/// Untrusted text for a table column of width `w`: control and format
/// characters shown as `\u{..}` (a key cannot disguise its line), then
/// cut with `…`.
pub(super) fn truncate(s: &str, w: usize) -> String {
    let s = &crate::text::shown(s);
    if s.chars().count() <= w {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

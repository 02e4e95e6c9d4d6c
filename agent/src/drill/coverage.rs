//! Rotating coverage: the listing joined with the ledger's `points`, and
//! what a run's coverage figures say.
//!
//! The join is a merge of two streams in key order — listings come in key
//! order (S3: UTF-8 binary order; Azure: by name), and `points` is stored
//! in that order — reading the ledger a page at a time. It holds one page
//! and the rows of the key being listed, never the population: memory is
//! O(page + versions of one key), whatever the bucket holds. A listing out
//! of order (an inventory report, whose rows need not be sorted) is still
//! joined correctly, by one indexed lookup per version from then on, and
//! the points that left the population are the ledger's rows less those
//! matched — memory stays flat either way.

use crate::config::{age_text, DrillConfig, SampleSize};
use crate::ledger::recorder::{lock, Recorder};
use crate::ledger::{Ledger, LedgerError, PointRow};
use crate::sample::{CoverageCount, PointState};
use chrono::{DateTime, Utc};

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Rows read from the ledger at a time.
pub const PAGE: usize = 1024;

/// Where the join reads `points` from.
pub trait Points: Send + Sync {
    /// Rows of `source` after (`key`, `version_id`), in key order.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    fn after(
        &self,
        source: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<PointRow>, LedgerError>;

    /// The row of one recovery point.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    fn one(
        &self,
        source: &str,
        key: &str,
        version: &str,
    ) -> Result<Option<PointState>, LedgerError>;

    /// How many rows `source` has.
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    fn count(&self, source: &str) -> Result<u64, LedgerError>;
}

/// Lends its ledger for one read (locked for that read only, so other
/// drills of the process commit in between).
pub trait LendsLedger: Send + Sync {
    fn with_ledger<R>(&self, read: impl FnOnce(&Ledger) -> R) -> R;
}

/// A ledger of its own (`drill --plan` reads one read-only).
impl LendsLedger for Mutex<Ledger> {
    fn with_ledger<R>(&self, read: impl FnOnce(&Ledger) -> R) -> R {
        read(
            &self
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// The recorder's ledger, as drills and the service share it.
impl LendsLedger for Mutex<Recorder> {
    fn with_ledger<R>(&self, read: impl FnOnce(&Ledger) -> R) -> R {
        read(&lock(self).ledger)
    }
}

impl<T: LendsLedger> Points for T {
    fn after(
        &self,
        source: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<PointRow>, LedgerError> {
        self.with_ledger(|l| l.points_after(source, after, limit))
    }

    fn one(
        &self,
        source: &str,
        key: &str,
        version: &str,
    ) -> Result<Option<PointState>, LedgerError> {
        self.with_ledger(|l| l.point(source, key, version))
    }

    fn count(&self, source: &str) -> Result<u64, LedgerError> {
        self.with_ledger(|l| l.points_count(source))
    }
}

/// No ledger yet: nothing was ever verified.
#[derive(Debug, Default)]
pub struct NoPoints;

impl Points for NoPoints {
    fn after(
        &self,
        _: &str,
        _: Option<(&str, &str)>,
        _: usize,
    ) -> Result<Vec<PointRow>, LedgerError> {
        Ok(Vec::new())
    }

    fn one(&self, _: &str, _: &str, _: &str) -> Result<Option<PointState>, LedgerError> {
        Ok(None)
    }

    fn count(&self, _: &str) -> Result<u64, LedgerError> {
        Ok(0)
    }
}

/// The listing joined with `points`, one listed version at a time.
pub struct Join<'a> {
    points: &'a dyn Points,
    source: &'a str,
    page: VecDeque<PointRow>,
    /// The last row read, where the next page starts.
    read_to: Option<(String, String)>,
    exhausted: bool,
    /// The key being listed and its rows not yet matched.
    key: Option<String>,
    rows: HashMap<String, PointState>,
    departed: u64,
    in_order: bool,
    /// Listed versions the ledger knew.
    matched: u64,
}

impl<'a> Join<'a> {
    pub fn new(points: &'a dyn Points, source: &'a str) -> Self {
        Self {
            points,
            source,
            page: VecDeque::new(),
            read_to: None,
            exhausted: false,
            key: None,
            rows: HashMap::new(),
            departed: 0,
            in_order: true,
            matched: 0,
        }
    }

    /// What the ledger knows of the listed version (`key`, `version`).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn state(&mut self, key: &str, version: &str) -> Result<Option<PointState>, LedgerError> {
        let known = self.joined(key, version)?;
        self.matched += u64::from(known.is_some());
        Ok(known)
    }

    fn joined(&mut self, key: &str, version: &str) -> Result<Option<PointState>, LedgerError> {
        if !self.in_order {
            return self.points.one(self.source, key, version);
        }
        match self.key.as_deref() {
            Some(k) if k == key => {}
            Some(k) if key < k => {
                tracing::warn!(
                    key,
                    after = k,
                    "The store lists out of key order; coverage looks up each version from here on."
                );
                self.in_order = false;
                return self.points.one(self.source, key, version);
            }
            _ => self.advance_to(key)?,
        }
        Ok(self.rows.remove(version))
    }

    /// Moves to `key`: rows of earlier keys were not listed (they left the
    /// population); the rows of `key` are kept for its versions.
    fn advance_to(&mut self, key: &str) -> Result<(), LedgerError> {
        self.departed += self.rows.len() as u64;
        self.rows.clear();
        loop {
            if self.page.is_empty() && !self.fill()? {
                break;
            }
            let Some(front) = self.page.front() else {
                break;
            };
            match front.key.as_str().cmp(key) {
                std::cmp::Ordering::Less => {
                    self.page.pop_front();
                    self.departed += 1;
                }
                std::cmp::Ordering::Equal => {
                    if let Some(row) = self.page.pop_front() {
                        self.rows.insert(row.version_id, row.state);
                    }
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        self.key = Some(key.to_owned());
        Ok(())
    }

    /// Reads the next page; `false` when there is none.
    fn fill(&mut self) -> Result<bool, LedgerError> {
        if self.exhausted {
            return Ok(false);
        }
        let after = self.read_to.as_ref().map(|(k, v)| (k.as_str(), v.as_str()));
        let rows = self.points.after(self.source, after, PAGE)?;
        if rows.len() < PAGE {
            self.exhausted = true;
        }
        if let Some(last) = rows.last() {
            self.read_to = Some((last.key.clone(), last.version_id.clone()));
        }
        let got = !rows.is_empty();
        self.page.extend(rows);
        Ok(got)
    }

    /// Points the ledger knows that the listing did not hold. Out of
    /// order (an inventory report's rows), it is what the ledger holds less
    /// what the listing matched: each listed version matches one row at
    /// most, a repeated row once more (a report may repeat one; the count
    /// then errs low, never high).
    ///
    /// # Errors
    /// [`LedgerError::Read`].
    pub fn departed(mut self) -> Result<Option<u64>, LedgerError> {
        if !self.in_order {
            let known = self.points.count(self.source)?;
            return Ok(Some(known.saturating_sub(self.matched)));
        }
        let mut n = self.departed + self.rows.len() as u64 + self.page.len() as u64;
        while self.fill()? {
            n += self.page.len() as u64;
            self.page.clear();
        }
        Ok(Some(n))
    }
}

pub use crate::evidence::record::{Coverage, NeededPerRun};

/// The most fire times counted within one period.
const MAX_COUNTED_RUNS: u64 = 1_000_000;

impl Coverage {
    /// The figures of a run of `cfg` that drew with `count` and then
    /// verified `newly` recovery points (bytes) that were not covered, and
    /// saw `lost` (bytes) covered ones fail.
    pub fn new(
        cfg: &DrillConfig,
        period: std::time::Duration,
        count: &CoverageCount,
        coverage_picks: u64,
        newly: (u64, u64),
        lost: (u64, u64),
        now: DateTime<Utc>,
    ) -> Self {
        let verified = (count.covered + newly.0).saturating_sub(lost.0);
        let verified_bytes = (count.covered_bytes + newly.1).saturating_sub(lost.1);
        let percent = if count.population == 0 {
            100.0
        } else {
            verified as f64 * 100.0 / count.population as f64
        };
        let fires = fire_times(cfg, now, period);
        let runs_per_period = fires.as_ref().map(|f| f.len() as u64);
        let left = (
            count.population - verified.min(count.population),
            count.population_bytes.saturating_sub(verified_bytes),
        );
        let (per_run_points, per_run_bytes) = budget(cfg, count.population);
        let runs_to_full = match (left, per_run_bytes) {
            ((0, _), _) => 0,
            ((_, bytes), Some(b)) => bytes
                .div_ceil(b.max(1))
                .max(left.0.div_ceil(per_run_points.max(1))),
            ((points, _), None) => points.div_ceil(per_run_points.max(1)),
        };
        let mut needed_per_run = None;
        let mut warning = None;
        if let Some(runs) = runs_per_period.filter(|r| *r > 0) {
            let points = count.population.div_ceil(runs);
            let bytes = count.population_bytes.div_ceil(runs);
            let short_points = points > per_run_points;
            let short_bytes = per_run_bytes.is_some_and(|b| bytes > b);
            if short_points || short_bytes {
                needed_per_run = Some(NeededPerRun {
                    recovery_points: points,
                    bytes,
                });
                let need = if per_run_bytes.is_some() {
                    format!("≥ {} per run", crate::config::human_bytes(bytes))
                } else {
                    format!("≥ {points} recovery points per run")
                };
                warning = Some(format!(
                    "the budget cannot verify all {} recovery points ({}) within {}: {} runs in the period at {} each cover at most {}; it needs {need} (sample = \"{}\"), a longer coverage period, or a more frequent schedule",
                    count.population,
                    crate::config::human_bytes(count.population_bytes),
                    age_text(period),
                    runs,
                    cfg.sample,
                    match per_run_bytes {
                        Some(b) => crate::config::human_bytes(b.saturating_mul(runs)),
                        None => format!("{} recovery points", per_run_points.saturating_mul(runs)),
                    },
                    match per_run_bytes {
                        Some(_) => crate::config::human_bytes(bytes),
                        None => points.to_string(),
                    },
                ));
            }
        } else if runs_per_period == Some(0) {
            warning = Some(format!(
                "the schedule `{}` does not fire within the coverage period {}: coverage cannot be kept",
                cfg.schedule.as_ref().map(|s| s.expr()).unwrap_or_default(),
                age_text(period)
            ));
        }
        let full_coverage_at = match (&fires, runs_to_full, &warning) {
            (Some(f), n, None) if n > 0 => f
                .get(n as usize - 1)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            _ => None,
        };
        Self {
            period: age_text(period),
            period_secs: period.as_secs(),
            population: count.population,
            population_bytes: count.population_bytes,
            verified_within_period: verified,
            verified_within_period_bytes: verified_bytes,
            percent,
            coverage_picks,
            never_checked: count.never_checked,
            failing: count.failing,
            departed: count.departed,
            runs_per_period,
            runs_to_full,
            full_coverage_at,
            needed_per_run,
            warning,
        }
    }
}

/// The recovery points (and bytes, for a byte budget) one run restores at
/// most.
fn budget(cfg: &DrillConfig, population: u64) -> (u64, Option<u64>) {
    match cfg.sample {
        SampleSize::Count(k) => (k.min(cfg.max_samples), None),
        SampleSize::Percent(p) => (
            (((population as f64) * p / 100.0).ceil() as u64).min(cfg.max_samples),
            None,
        ),
        SampleSize::Bytes(b) => (cfg.max_samples, Some(b)),
    }
}

/// The drill's scheduled fire times within `period` from `now`; `None`
/// without a schedule.
fn fire_times(
    cfg: &DrillConfig,
    now: DateTime<Utc>,
    period: std::time::Duration,
) -> Option<Vec<DateTime<Utc>>> {
    let schedule = cfg.schedule.as_ref()?;
    let end = now + chrono::Duration::from_std(period).ok()?;
    let mut out = Vec::new();
    let mut at = now;
    while let Some(next) = schedule.next_after(at).filter(|t| *t <= end) {
        out.push(next);
        if out.len() as u64 >= MAX_COUNTED_RUNS {
            break;
        }
        at = next;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Verdict;

    /// An in-memory `points` table (the join's contract, without SQLite).
    struct Rows(Vec<PointRow>);

    impl Points for Rows {
        fn after(
            &self,
            _: &str,
            after: Option<(&str, &str)>,
            limit: usize,
        ) -> Result<Vec<PointRow>, LedgerError> {
            Ok(self
                .0
                .iter()
                .filter(|r| {
                    after.is_none_or(|(k, v)| (r.key.as_str(), r.version_id.as_str()) > (k, v))
                })
                .take(limit)
                .cloned()
                .collect())
        }

        fn one(
            &self,
            _: &str,
            key: &str,
            version: &str,
        ) -> Result<Option<PointState>, LedgerError> {
            Ok(self
                .0
                .iter()
                .find(|r| r.key == key && r.version_id == version)
                .map(|r| r.state))
        }

        fn count(&self, _: &str) -> Result<u64, LedgerError> {
            Ok(self.0.len() as u64)
        }
    }

    fn row(key: &str, version: &str) -> PointRow {
        PointRow {
            key: key.into(),
            version_id: version.into(),
            state: PointState {
                last_checked: DateTime::from_timestamp(1, 0).unwrap_or_default(),
                last_verdict: Verdict::Verified,
                last_verified: None,
            },
        }
    }

    #[test]
    fn the_join_matches_versions_in_key_order_across_pages_and_counts_the_departed() {
        // More rows than a page, with gaps the listing does not hold.
        let mut rows: Vec<PointRow> = (0..3000).map(|i| row(&format!("k{i:05}"), "v1")).collect();
        rows.push(row("k00999", "v0"));
        rows.sort_by(|a, b| (&a.key, &a.version_id).cmp(&(&b.key, &b.version_id)));
        let points = Rows(rows);
        let mut join = Join::new(&points, "s");
        let mut found = 0;
        // The listing holds every third key (k00999 with a version the
        // ledger does not know, but not its known v0), and a key past the
        // ledger's end.
        for i in (0..3000).step_by(3) {
            let key = format!("k{i:05}");
            if join.state(&key, "v1").ok().flatten().is_some() {
                found += 1;
            }
            if i == 999 {
                assert!(join.state("k00999", "new").ok().flatten().is_none());
            }
        }
        assert!(join.state("zzz", "v1").ok().flatten().is_none());
        assert_eq!(found, 1000);
        // 2000 keys not listed, and k00999's v0.
        assert_eq!(join.departed().ok().flatten(), Some(2001));
    }

    #[test]
    fn an_out_of_order_listing_is_still_joined_and_the_departed_counted() {
        let points = Rows(vec![
            row("a", "1"),
            row("b", "1"),
            row("c", "1"),
            row("d", "1"),
        ]);
        let mut join = Join::new(&points, "s");
        assert!(join.state("b", "1").ok().flatten().is_some());
        assert!(
            join.state("a", "1").ok().flatten().is_some(),
            "looked up despite the order"
        );
        assert!(join.state("new", "1").ok().flatten().is_none());
        assert!(join.state("c", "1").ok().flatten().is_some());
        // `d` was not listed.
        assert_eq!(join.departed().ok(), Some(Some(1)));
    }
}

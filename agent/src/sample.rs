//! Sampling: which candidates a drill restores.
//!
//! Every strategy is the same mechanism: each candidate gets a priority, and
//! the sample is the *prefix* of all candidates in priority order that fits
//! the limits (a count and/or a byte budget, always capped by `max_samples`).
//! A bounded max-heap keeps that prefix while the listing streams, so memory
//! is bounded by the sample, never by the listing.
//!
//! - `uniform`: the priority is a keyed hash of (seed, key, version id), so
//!   the same seed and listing give the same sample whatever the listing order
//!   ("bottom-k" sampling, uniform without replacement);
//! - `newest` / `oldest`: the priority is the version's time, ties broken by
//!   key and version id.
//!
//! With a byte budget the sample stops *before* the first candidate (in
//! priority order) that would exceed it; candidates larger than the whole
//! budget can never fit and are counted apart.
//!
//! With rotating coverage (`coverage = "30d"`), what the ledger knows of
//! each candidate ([`PointState`], joined by the drill as the listing
//! streams) ranks a second prefix first: recovery points whose last verdict
//! was `mismatch`/`unrecoverable` (retried first), then those not verified
//! within the period, never-verified before verified-longest-ago. The
//! strategy's own prefix fills what budget is left. Both prefixes are
//! bounded by the budget, so memory stays O(sample).

use crate::config::{Filter, Strategy};
use crate::source::{Candidate, ListItem};
use crate::verify::Verdict;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

mod activity;
pub use activity::{Activity, ACTIVITY_WINDOW, BURST_FACTOR, BURST_SHARE};

/// Limits of one sample. A percentage has already been turned into `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub count: Option<u64>,
    pub bytes: Option<u64>,
    /// Hard cap whatever the limits say.
    pub max_samples: u64,
}

/// What the sample was drawn from: recorded with every run so coverage can be
/// computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Population {
    /// Versions seen in the listing (before filters).
    pub versions_listed: u64,
    /// Delete markers seen: counted, never restored.
    pub delete_markers: u64,
    /// Versions the filters excluded.
    pub filtered_out: u64,
    /// Candidates the sample was drawn from.
    pub candidates: u64,
    /// Their total size.
    pub candidate_bytes: u64,
    /// Candidates larger than the whole byte budget.
    pub larger_than_budget: u64,
}

/// What the ledger knows of one recovery point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointState {
    /// When its bytes last got a verdict (other than `aborted`).
    pub last_checked: DateTime<Utc>,
    pub last_verdict: Verdict,
    /// When it was last `verified`.
    pub last_verified: Option<DateTime<Utc>>,
}

/// Why a recovery point is in the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// The seeded uniform draw.
    Uniform,
    Newest,
    Oldest,
    /// Rotating coverage: due (not verified within the period, or failing).
    Coverage,
    /// A coverage pick the uniform draw took too: it counts as a uniform
    /// sample as well.
    CoverageUniform,
}

impl Pick {
    /// Whether the pick belongs to the uniform random draw (what confidence
    /// bounds may rest on).
    pub fn is_uniform(self) -> bool {
        matches!(self, Pick::Uniform | Pick::CoverageUniform)
    }

    fn of(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Uniform => Pick::Uniform,
            Strategy::Newest => Pick::Newest,
            Strategy::Oldest => Pick::Oldest,
        }
    }
}

/// One recovery point of the sample.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub candidate: Candidate,
    pub pick: Pick,
    /// It had been verified within the coverage period before this run.
    pub covered: bool,
}

/// The candidates as rotating coverage sees them when the sample is drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CoverageCount {
    /// Candidates (after filters), and their bytes.
    pub population: u64,
    pub population_bytes: u64,
    /// Of them, verified within the period (and not failing since).
    pub covered: u64,
    pub covered_bytes: u64,
    /// Never given a verdict about their bytes.
    pub never_checked: u64,
    /// Last verdict `mismatch` or `unrecoverable`: retried first.
    pub failing: u64,
    /// Points the ledger knew that the listing no longer holds (expired or
    /// deleted versions); `None` when the listing was not in key order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub departed: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    primary: i128,
    secondary: u64,
    key: String,
    version: String,
}

#[derive(Debug)]
struct Entry {
    priority: Priority,
    candidate: Candidate,
    covered: bool,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority.cmp(&other.priority)
    }
}

/// The prefix, in priority order, of everything offered that fits the
/// limits: a bounded max-heap.
#[derive(Debug)]
struct Prefix {
    limits: Limits,
    heap: BinaryHeap<Entry>,
    bytes: u64,
    /// Lowest priority evicted so far: nothing at or above it is in the prefix.
    cutoff: Option<Priority>,
}

impl Prefix {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            heap: BinaryHeap::new(),
            bytes: 0,
            cutoff: None,
        }
    }

    fn over_limits(&self) -> bool {
        let n = self.heap.len() as u64;
        n > self.limits.max_samples
            || self.limits.count.is_some_and(|k| n > k)
            || self.limits.bytes.is_some_and(|b| self.bytes > b)
    }

    fn offer(&mut self, entry: Entry) {
        if self
            .cutoff
            .as_ref()
            .is_some_and(|cut| entry.priority >= *cut)
        {
            return;
        }
        self.bytes += entry.candidate.size;
        self.heap.push(entry);
        while self.over_limits() {
            let Some(evicted) = self.heap.pop() else {
                break;
            };
            self.bytes -= evicted.candidate.size;
            if self
                .cutoff
                .as_ref()
                .is_none_or(|cut| evicted.priority < *cut)
            {
                self.cutoff = Some(evicted.priority);
            }
        }
    }

    fn finish(self) -> Vec<Entry> {
        self.heap.into_sorted_vec()
    }
}

/// Draws one sample from a streamed listing.
#[derive(Debug)]
pub struct Sampler {
    strategy: Strategy,
    seed: u64,
    limits: Limits,
    filter: Filter,
    now: DateTime<Utc>,
    main: Prefix,
    /// Rotating coverage: the period and the prefix of due points.
    coverage: Option<(std::time::Duration, Prefix)>,
    count: CoverageCount,
    population: Population,
    activity: Activity,
    /// The key the listing is at, and whether it had a recent version.
    activity_key: Option<(String, bool)>,
}

impl Sampler {
    pub fn new(
        strategy: Strategy,
        seed: u64,
        limits: Limits,
        filter: Filter,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            strategy,
            seed,
            limits,
            filter,
            now,
            main: Prefix::new(limits),
            coverage: None,
            count: CoverageCount::default(),
            population: Population::default(),
            activity: Activity {
                window_secs: ACTIVITY_WINDOW.as_secs(),
                ..Activity::default()
            },
            activity_key: None,
        }
    }

    /// Turns on rotating coverage over `period`: candidates are then offered
    /// with what the ledger knows of them ([`Sampler::offer_known`]).
    #[must_use]
    pub fn with_coverage(mut self, period: std::time::Duration) -> Self {
        self.coverage = Some((period, Prefix::new(self.limits)));
        self
    }

    /// Whether the drill's filters admit a candidate.
    pub fn admits(filter: &Filter, c: &Candidate, now: DateTime<Utc>) -> bool {
        if c.is_latest && !filter.include_current || !c.is_latest && !filter.include_noncurrent {
            return false;
        }
        if filter.exclude_prefixes.iter().any(|p| c.key.starts_with(p)) {
            return false;
        }
        if filter.deleted_only && c.deleted.is_none() {
            return false;
        }
        if filter.min_size.is_some_and(|m| c.size < m)
            || filter.max_size.is_some_and(|m| c.size > m)
        {
            return false;
        }
        if let Some(age) = filter.max_age {
            let oldest = now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
            if c.last_modified < oldest {
                return false;
            }
        }
        true
    }

    fn hash(&self, c: &Candidate, version: &str) -> u64 {
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(c.key.as_bytes());
        h.update([0]);
        h.update(version.as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_be_bytes(b)
    }

    fn priority(&self, c: &Candidate, version: String) -> Priority {
        let nanos = nanos(c.last_modified);
        let primary = match self.strategy {
            Strategy::Uniform => i128::from(self.hash(c, &version)),
            Strategy::Newest => -nanos,
            Strategy::Oldest => nanos,
        };
        Priority {
            primary,
            secondary: 0,
            key: c.key.clone(),
            version,
        }
    }

    /// Whether `key` is one of the agent's own objects (a drill copy or a
    /// canary: the filter's excluded prefixes).
    fn agents_own(&self, key: &str) -> bool {
        self.filter
            .exclude_prefixes
            .iter()
            .any(|p| !p.is_empty() && key.starts_with(p.as_str()))
    }

    /// Offers one listed item the ledger knows nothing of.
    pub fn offer(&mut self, item: ListItem) {
        self.offer_known(item, None);
    }

    /// Offers one listed item with what the ledger knows of it.
    pub fn offer_known(&mut self, item: ListItem, known: Option<&PointState>) {
        let recent = period_start(self.now, ACTIVITY_WINDOW);
        let c = match item {
            ListItem::DeleteMarker { last_modified, key } => {
                self.population.delete_markers += 1;
                if last_modified >= recent && !self.agents_own(&key) {
                    self.activity.recent_delete_markers += 1;
                }
                return;
            }
            ListItem::Version(c) => c,
        };
        self.population.versions_listed += 1;
        if self.agents_own(&c.key) {
            // The agent's own copies and canaries: no activity of the
            // backups, and never candidates.
            self.population.filtered_out += 1;
            return;
        }
        // Versions come in key order: a key is counted when the listing
        // moves past it.
        let fresh = c.last_modified >= recent;
        match &mut self.activity_key {
            Some((k, any)) if *k == c.key => *any |= fresh,
            slot => {
                if let Some((_, any)) = slot.take() {
                    self.activity.keys += 1;
                    self.activity.keys_with_new_versions += u64::from(any);
                }
                *slot = Some((c.key.clone(), fresh));
            }
        }
        if !Self::admits(&self.filter, &c, self.now) {
            self.population.filtered_out += 1;
            return;
        }
        self.population.candidates += 1;
        self.population.candidate_bytes += c.size;
        let (due, covered) = match &self.coverage {
            Some((period, _)) => (
                due(known, self.now, *period),
                is_covered(known, self.now, *period),
            ),
            None => (None, false),
        };
        if self.coverage.is_some() {
            self.count.population += 1;
            self.count.population_bytes += c.size;
            match known {
                None => self.count.never_checked += 1,
                Some(k) if k.last_verdict.is_failure() => self.count.failing += 1,
                Some(_) => {}
            }
            if covered {
                self.count.covered += 1;
                self.count.covered_bytes += c.size;
            }
        }
        if self.limits.bytes.is_some_and(|b| c.size > b) {
            self.population.larger_than_budget += 1;
            return;
        }
        let version = c.point_id();
        if let Some((rank, at)) = due {
            let hash = self.hash(&c, &version);
            // Never (`None`) ranks before any time.
            let at = at.map_or(0, |t| nanos(t) + (1i128 << 63) + 1);
            let priority = Priority {
                primary: (i128::from(rank) << 65) | at,
                secondary: hash,
                key: c.key.clone(),
                version: version.clone(),
            };
            if let Some((_, prefix)) = &mut self.coverage {
                prefix.offer(Entry {
                    priority,
                    candidate: c.clone(),
                    covered,
                });
            }
        }
        let priority = self.priority(&c, version);
        self.main.offer(Entry {
            priority,
            candidate: c,
            covered,
        });
    }

    /// What the sample was drawn from so far.
    pub fn population(&self) -> Population {
        self.population
    }

    /// The sample, in the order restores start in (coverage picks first,
    /// then the strategy's), what it was drawn from and, with rotating
    /// coverage, how covered the candidates were.
    /// How much of the listing changed within [`ACTIVITY_WINDOW`].
    pub fn activity(&self) -> Activity {
        let mut a = self.activity;
        if let Some((_, any)) = &self.activity_key {
            a.keys += 1;
            a.keys_with_new_versions += u64::from(*any);
        }
        a
    }

    pub fn finish(self) -> (Vec<Drawn>, Population, Option<CoverageCount>) {
        let own = Pick::of(self.strategy);
        let Some((_, prefix)) = self.coverage else {
            let sample = self
                .main
                .finish()
                .into_iter()
                .map(|e| Drawn {
                    candidate: e.candidate,
                    pick: own,
                    covered: e.covered,
                })
                .collect();
            return (sample, self.population, None);
        };
        let mut sample: Vec<Drawn> = prefix
            .finish()
            .into_iter()
            .map(|e| Drawn {
                candidate: e.candidate,
                pick: Pick::Coverage,
                covered: e.covered,
            })
            .collect();
        let taken: std::collections::HashMap<(String, String), usize> = sample
            .iter()
            .enumerate()
            .map(|(i, d)| ((d.candidate.key.clone(), d.candidate.point_id()), i))
            .collect();
        // The strategy's own prefix fills what is left of the budget; a
        // point it shares with the coverage picks costs nothing more (and,
        // for `uniform`, counts as a uniform sample too), so the uniform
        // picks stay a prefix of the seeded random order.
        let mut count = taken.len() as u64;
        let mut bytes: u64 = sample.iter().map(|d| d.candidate.size).sum();
        let mut fill = Vec::new();
        for e in self.main.finish() {
            if let Some(&i) = taken.get(&(e.priority.key.clone(), e.priority.version.clone())) {
                if own == Pick::Uniform {
                    sample[i].pick = Pick::CoverageUniform;
                }
                continue;
            }
            let n = count + 1;
            let b = bytes + e.candidate.size;
            if n > self.limits.max_samples
                || self.limits.count.is_some_and(|k| n > k)
                || self.limits.bytes.is_some_and(|l| b > l)
            {
                break;
            }
            (count, bytes) = (n, b);
            fill.push(Drawn {
                candidate: e.candidate,
                pick: own,
                covered: e.covered,
            });
        }
        sample.extend(fill);
        (sample, self.population, Some(self.count))
    }
}

fn nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp_nanos_opt().unwrap_or(i64::MAX))
}

/// Whether rotating coverage takes a recovery point this run, and ranked how
/// (lower first): `Some((0, last checked))` when its last verdict was a
/// failure, `Some((1, last verified))` when it was not verified within the
/// period (`None` inside: never, first of all), `None` when it is not due.
/// An archived point (`skipped`) checked within the period waits for the
/// next.
fn due(
    known: Option<&PointState>,
    now: DateTime<Utc>,
    period: std::time::Duration,
) -> Option<(u8, Option<DateTime<Utc>>)> {
    let Some(k) = known else {
        return Some((1, None));
    };
    if k.last_verdict.is_failure() {
        return Some((0, Some(k.last_checked)));
    }
    let recent = |t: DateTime<Utc>| t >= period_start(now, period);
    if k.last_verified.is_some_and(recent)
        || k.last_verdict == Verdict::Skipped && recent(k.last_checked)
    {
        return None;
    }
    Some((1, k.last_verified))
}

/// Whether a recovery point counts as covered: verified within the period
/// and not failing since.
fn is_covered(known: Option<&PointState>, now: DateTime<Utc>, period: std::time::Duration) -> bool {
    known.is_some_and(|k| {
        !k.last_verdict.is_failure()
            && k.last_verified
                .is_some_and(|t| t >= period_start(now, period))
    })
}

/// The start of the coverage period that ends `now`.
pub fn period_start(now: DateTime<Utc>, period: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(period)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(key: &str, size: u64, secs: i64, latest: bool) -> ListItem {
        ListItem::Version(Candidate {
            key: key.into(),
            version_id: Some(format!("v-{key}")),
            size,
            last_modified: DateTime::from_timestamp(secs, 0).unwrap_or_default(),
            is_latest: latest,
            behind_delete_marker: false,
            ..Candidate::default()
        })
    }

    fn filter() -> Filter {
        Filter {
            include_current: true,
            include_noncurrent: true,
            ..Default::default()
        }
    }

    fn draw(strategy: Strategy, seed: u64, limits: Limits, items: Vec<ListItem>) -> Vec<String> {
        let mut s = Sampler::new(strategy, seed, limits, filter(), Utc::now());
        for i in items {
            s.offer(i);
        }
        s.finish().0.into_iter().map(|d| d.candidate.key).collect()
    }

    fn count_limits(k: u64) -> Limits {
        count(k)
    }

    fn count(k: u64) -> Limits {
        Limits {
            count: Some(k),
            bytes: None,
            max_samples: 1000,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_sample_whatever_the_listing_order() {
        let items: Vec<ListItem> = (0..200)
            .map(|i| c(&format!("k{i:03}"), 10, i, true))
            .collect();
        let mut reversed = items.clone();
        reversed.reverse();
        let a = draw(Strategy::Uniform, 7, count(20), items.clone());
        let b = draw(Strategy::Uniform, 7, count(20), reversed);
        let other = draw(Strategy::Uniform, 8, count(20), items);
        assert_eq!(a.len(), 20);
        assert_eq!(a, b);
        assert_ne!(a, other);
    }

    #[test]
    fn uniform_sampling_is_roughly_uniform() {
        // Each of 100 keys sampled 10 at a time over 400 seeds: expected 40 hits.
        let mut hits = [0u32; 100];
        for seed in 0..400 {
            let items = (0..100).map(|i| c(&format!("{i}"), 1, 0, true)).collect();
            for k in draw(Strategy::Uniform, seed, count(10), items) {
                hits[k.parse::<usize>().unwrap_or(0)] += 1;
            }
        }
        let (min, max) = (hits.iter().min().copied(), hits.iter().max().copied());
        assert!(
            min.unwrap_or(0) >= 15 && max.unwrap_or(99) <= 70,
            "{hits:?}"
        );
    }

    #[test]
    fn newest_and_oldest_order_by_time() {
        let items = vec![
            c("a", 1, 30, true),
            c("b", 1, 10, true),
            c("c", 1, 20, true),
        ];
        assert_eq!(
            draw(Strategy::Newest, 0, count(2), items.clone()),
            ["a", "c"]
        );
        assert_eq!(draw(Strategy::Oldest, 0, count(2), items), ["b", "c"]);
    }

    #[test]
    fn a_byte_budget_stops_before_it_is_exceeded() {
        let items = vec![
            c("a", 40, 50, true),
            c("b", 40, 40, true),
            c("c", 40, 30, true),
            c("huge", 500, 60, true),
            c("d", 10, 20, true),
        ];
        let limits = Limits {
            count: None,
            bytes: Some(100),
            max_samples: 1000,
        };
        let mut s = Sampler::new(Strategy::Newest, 0, limits, filter(), Utc::now());
        for i in items {
            s.offer(i);
        }
        let (sample, pop, _) = s.finish();
        let keys: Vec<&str> = sample.iter().map(|d| d.candidate.key.as_str()).collect();
        // a + b = 80; c would make 120 > 100, so the prefix stops there (d is
        // after c in priority order and is not taken either).
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(pop.larger_than_budget, 1);
        assert_eq!(pop.candidates, 5);
        assert_eq!(pop.candidate_bytes, 630);
    }

    #[test]
    fn delete_markers_are_counted_not_sampled_and_filters_apply() {
        let mut f = filter();
        f.include_current = false;
        f.min_size = Some(5);
        let mut s = Sampler::new(Strategy::Uniform, 1, count(10), f, Utc::now());
        s.offer(ListItem::DeleteMarker {
            key: "x".into(),
            last_modified: Utc::now(),
        });
        s.offer(c("current", 10, 0, true));
        s.offer(c("tiny", 1, 0, false));
        s.offer(c("old", 10, 0, false));
        let (sample, pop, _) = s.finish();
        assert_eq!(sample.len(), 1);
        assert_eq!(sample[0].candidate.key, "old");
        assert_eq!(
            (
                pop.delete_markers,
                pop.versions_listed,
                pop.filtered_out,
                pop.candidates
            ),
            (1, 3, 2, 1)
        );
    }

    #[test]
    fn max_age_and_max_size_exclude_candidates() {
        let now = DateTime::from_timestamp(100 * 86_400, 0).unwrap_or_default();
        let f = Filter {
            max_age: Some(std::time::Duration::from_secs(10 * 86_400)),
            max_size: Some(100),
            include_current: true,
            include_noncurrent: true,
            ..Default::default()
        };
        let at = |days: i64, size: u64| match c("k", size, days * 86_400, true) {
            ListItem::Version(c) => c,
            ListItem::DeleteMarker { .. } => unreachable!(),
        };
        assert!(Sampler::admits(&f, &at(95, 10), now));
        assert!(!Sampler::admits(&f, &at(85, 10), now), "older than 10 days");
        assert!(
            !Sampler::admits(&f, &at(95, 101), now),
            "larger than max_size"
        );
    }

    #[test]
    fn max_samples_caps_any_budget() {
        let items = (0..50).map(|i| c(&format!("{i}"), 0, i, true)).collect();
        let limits = Limits {
            count: None,
            bytes: Some(1 << 30),
            max_samples: 7,
        };
        assert_eq!(draw(Strategy::Uniform, 3, limits, items).len(), 7);
    }

    fn known(verdict: Verdict, checked: i64, verified: Option<i64>) -> PointState {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap_or_default();
        PointState {
            last_checked: t(checked),
            last_verdict: verdict,
            last_verified: verified.map(t),
        }
    }

    #[test]
    fn coverage_takes_failing_then_never_verified_then_oldest_verified_and_the_strategy_fills_the_rest(
    ) {
        let now = DateTime::from_timestamp(100 * 86_400, 0).unwrap_or_default();
        let day = 86_400;
        let period = std::time::Duration::from_secs(30 * day as u64);
        let mut s =
            Sampler::new(Strategy::Uniform, 1, count(4), filter(), now).with_coverage(period);
        let states = [
            (
                "covered-a",
                Some(known(Verdict::Verified, 95 * day, Some(95 * day))),
            ),
            (
                "covered-b",
                Some(known(Verdict::Verified, 90 * day, Some(90 * day))),
            ),
            (
                "stale-40d",
                Some(known(Verdict::Verified, 60 * day, Some(60 * day))),
            ),
            (
                "stale-50d",
                Some(known(Verdict::Verified, 50 * day, Some(50 * day))),
            ),
            ("never", None),
            (
                "failing",
                Some(known(Verdict::Mismatch, 99 * day, Some(98 * day))),
            ),
            ("archived", Some(known(Verdict::Skipped, 99 * day, None))),
        ];
        for (key, st) in &states {
            s.offer_known(c(key, 10, 0, true), st.as_ref());
        }
        let (sample, pop, count) = s.finish();
        let picked: Vec<(&str, Pick)> = sample
            .iter()
            .map(|d| (d.candidate.key.as_str(), d.pick))
            .collect();
        // Failing first (retried), then never verified, then verified
        // longest ago; the fourth place is the uniform draw's.
        assert_eq!(picked.len(), 4, "{picked:?}");
        assert_eq!(picked[0].0, "failing");
        assert_eq!(picked[1].0, "never");
        assert_eq!(picked[2].0, "stale-50d");
        assert_eq!(picked[3].0, "stale-40d");
        assert!(picked
            .iter()
            .all(|(_, p)| matches!(p, Pick::Coverage | Pick::CoverageUniform)));
        let count = count.unwrap_or_default();
        assert_eq!(pop.candidates, 7);
        assert_eq!(
            (
                count.population,
                count.covered,
                count.never_checked,
                count.failing
            ),
            (7, 2, 1, 1)
        );

        // With fewer due points than the budget, the uniform draw fills it.
        let mut s = Sampler::new(Strategy::Uniform, 1, count_limits(5), filter(), now)
            .with_coverage(period);
        for (key, st) in &states[..2] {
            s.offer_known(c(key, 10, 0, true), st.as_ref());
        }
        for i in 0..20 {
            let st = known(Verdict::Verified, 99 * day, Some(99 * day));
            s.offer_known(c(&format!("fresh-{i:02}"), 10, 0, true), Some(&st));
        }
        s.offer_known(c("never", 10, 0, true), None);
        let (sample, _, _) = s.finish();
        assert_eq!(sample.len(), 5);
        assert_eq!(sample[0].candidate.key, "never");
        assert!(matches!(
            sample[0].pick,
            Pick::Coverage | Pick::CoverageUniform
        ));
        assert!(
            sample[1..]
                .iter()
                .all(|d| d.pick == Pick::Uniform && d.covered),
            "{sample:?}"
        );
    }

    #[test]
    fn coverage_with_a_byte_budget_stops_before_it_is_exceeded() {
        let now = DateTime::from_timestamp(100 * 86_400, 0).unwrap_or_default();
        let limits = Limits {
            count: None,
            bytes: Some(25),
            max_samples: 1000,
        };
        let mut s = Sampler::new(Strategy::Uniform, 1, limits, filter(), now)
            .with_coverage(std::time::Duration::from_secs(86_400));
        for i in 0..10 {
            s.offer_known(c(&format!("k{i}"), 10, 0, true), None);
        }
        let (sample, _, _) = s.finish();
        assert_eq!(sample.len(), 2, "two of 10 bytes fit in 25");
        assert!(sample.iter().map(|d| d.candidate.size).sum::<u64>() <= 25);
    }
}

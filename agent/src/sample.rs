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

use crate::config::{Filter, Strategy};
use crate::source::{Candidate, ListItem};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    primary: i128,
    key: String,
    version: String,
}

#[derive(Debug)]
struct Entry {
    priority: Priority,
    candidate: Candidate,
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

/// Draws one sample from a streamed listing.
#[derive(Debug)]
pub struct Sampler {
    strategy: Strategy,
    seed: u64,
    limits: Limits,
    filter: Filter,
    now: DateTime<Utc>,
    heap: BinaryHeap<Entry>,
    heap_bytes: u64,
    /// Lowest priority evicted so far: nothing at or above it is in the prefix.
    cutoff: Option<Priority>,
    population: Population,
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
            heap: BinaryHeap::new(),
            heap_bytes: 0,
            cutoff: None,
            population: Population::default(),
        }
    }

    /// Whether the drill's filters admit a candidate.
    pub fn admits(filter: &Filter, c: &Candidate, now: DateTime<Utc>) -> bool {
        if c.is_latest && !filter.include_current || !c.is_latest && !filter.include_noncurrent {
            return false;
        }
        if filter
            .exclude_prefix
            .as_deref()
            .is_some_and(|p| c.key.starts_with(p))
        {
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

    fn priority(&self, c: &Candidate) -> Priority {
        let version = c.point_id();
        let nanos = c.last_modified.timestamp_nanos_opt().unwrap_or(i64::MAX) as i128;
        let primary = match self.strategy {
            Strategy::Uniform => {
                let mut h = Sha256::new();
                h.update(self.seed.to_le_bytes());
                h.update(c.key.as_bytes());
                h.update([0]);
                h.update(version.as_bytes());
                let d = h.finalize();
                let mut b = [0u8; 8];
                b.copy_from_slice(&d[..8]);
                i128::from(u64::from_be_bytes(b))
            }
            Strategy::Newest => -nanos,
            Strategy::Oldest => nanos,
        };
        Priority {
            primary,
            key: c.key.clone(),
            version,
        }
    }

    fn over_limits(&self) -> bool {
        let n = self.heap.len() as u64;
        n > self.limits.max_samples
            || self.limits.count.is_some_and(|k| n > k)
            || self.limits.bytes.is_some_and(|b| self.heap_bytes > b)
    }

    /// Offers one listed item.
    pub fn offer(&mut self, item: ListItem) {
        let c = match item {
            ListItem::DeleteMarker { .. } => {
                self.population.delete_markers += 1;
                return;
            }
            ListItem::Version(c) => c,
        };
        self.population.versions_listed += 1;
        if !Self::admits(&self.filter, &c, self.now) {
            self.population.filtered_out += 1;
            return;
        }
        self.population.candidates += 1;
        self.population.candidate_bytes += c.size;
        if self.limits.bytes.is_some_and(|b| c.size > b) {
            self.population.larger_than_budget += 1;
            return;
        }
        let priority = self.priority(&c);
        if self.cutoff.as_ref().is_some_and(|cut| priority >= *cut) {
            return;
        }
        self.heap_bytes += c.size;
        self.heap.push(Entry {
            priority,
            candidate: c,
        });
        while self.over_limits() {
            let Some(evicted) = self.heap.pop() else {
                break;
            };
            self.heap_bytes -= evicted.candidate.size;
            if self
                .cutoff
                .as_ref()
                .is_none_or(|cut| evicted.priority < *cut)
            {
                self.cutoff = Some(evicted.priority);
            }
        }
    }

    /// What the sample was drawn from so far.
    pub fn population(&self) -> Population {
        self.population
    }

    /// The sample, in priority order (the order restores start in).
    pub fn finish(self) -> (Vec<Candidate>, Population) {
        let sample = self
            .heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| e.candidate)
            .collect();
        (sample, self.population)
    }
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
        s.finish().0.into_iter().map(|c| c.key).collect()
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
        let (sample, pop) = s.finish();
        let keys: Vec<&str> = sample.iter().map(|c| c.key.as_str()).collect();
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
        s.offer(ListItem::DeleteMarker { key: "x".into() });
        s.offer(c("current", 10, 0, true));
        s.offer(c("tiny", 1, 0, false));
        s.offer(c("old", 10, 0, false));
        let (sample, pop) = s.finish();
        assert_eq!(sample.len(), 1);
        assert_eq!(sample[0].key, "old");
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
}

//! A versioned bucket as it stood at a moment: for each key, the version
//! that was current then — the newest version written at or before that
//! time, unless a delete marker written after it (and at or before that
//! time) hid it. This is what a restore of a recovery point brings back
//! (an AWS Backup S3 restore restores the versions current at the recovery
//! point's creation time), so it is what a restored bucket is compared with.
//!
//! Items may come in any order across keys (a parallel listing interleaves
//! prefixes, an inventory has no key order); among items of one key with
//! the same time, the one listed first is taken as the newer, as a listing
//! gives a key's versions newest first.

use super::{Candidate, ListItem};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The versions current at one moment, gathered from a listing.
#[derive(Debug)]
pub struct AsOf {
    at: DateTime<Utc>,
    /// Per key: the time of the newest item at or before `at`, and the
    /// version it is (`None`: a delete marker).
    newest: HashMap<String, (DateTime<Utc>, Option<Candidate>)>,
    /// Items written after `at`: not in that state of the bucket.
    pub later: u64,
}

impl AsOf {
    /// An empty gathering for the moment `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            at,
            newest: HashMap::new(),
            later: 0,
        }
    }

    /// Takes one listed item into account.
    pub fn add(&mut self, item: ListItem) {
        let (key, time, version) = match item {
            ListItem::Version(c) => (c.key.clone(), c.last_modified, Some(c)),
            ListItem::DeleteMarker { key, last_modified } => (key, last_modified, None),
        };
        if time > self.at {
            self.later += 1;
            return;
        }
        match self.newest.get(&key) {
            Some((seen, _)) if *seen >= time => {}
            _ => {
                self.newest.insert(key, (time, version));
            }
        }
    }

    /// The versions current at the moment, by key (keys whose newest item
    /// then was a delete marker, or that did not exist yet, are absent).
    pub fn current(self) -> HashMap<String, Candidate> {
        self.newest
            .into_iter()
            .filter_map(|(k, (_, v))| v.map(|v| (k, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    fn version(key: &str, id: &str, s: i64) -> ListItem {
        ListItem::Version(Candidate {
            key: key.into(),
            version_id: Some(id.into()),
            last_modified: at(s),
            ..Candidate::default()
        })
    }

    fn marker(key: &str, s: i64) -> ListItem {
        ListItem::DeleteMarker {
            key: key.into(),
            last_modified: at(s),
        }
    }

    fn current_at(t: i64, items: Vec<ListItem>) -> Vec<(String, String)> {
        let mut a = AsOf::new(at(t));
        for i in items {
            a.add(i);
        }
        let mut v: Vec<(String, String)> = a
            .current()
            .into_iter()
            .map(|(k, c)| (k, c.version_id.unwrap_or_default()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn each_key_is_its_newest_version_at_the_moment_unless_a_marker_hid_it() {
        let listing = || {
            vec![
                // a: v3 written after the moment, v2 current then.
                version("a", "a3", 30),
                version("a", "a2", 20),
                version("a", "a1", 10),
                // b: deleted before the moment, rewritten after it.
                version("b", "b2", 25),
                marker("b", 15),
                version("b", "b1", 5),
                // c: deleted after the moment: still there then.
                marker("c", 40),
                version("c", "c1", 1),
                // d: written after the moment.
                version("d", "d1", 50),
            ]
        };
        assert_eq!(
            current_at(22, listing()),
            [("a".into(), "a2".into()), ("c".into(), "c1".into())]
        );
        // In another order (an inventory's), the same.
        let mut shuffled = listing();
        shuffled.reverse();
        assert_eq!(current_at(22, shuffled), current_at(22, listing()));
        // At the exact time of a write, that write counts.
        assert_eq!(
            current_at(15, listing()),
            [("a".into(), "a1".into()), ("c".into(), "c1".into())]
        );
        assert_eq!(current_at(0, listing()), Vec::<(String, String)>::new());
    }

    #[test]
    fn of_two_items_of_one_key_at_the_same_time_the_one_listed_first_is_newer() {
        let listed = vec![marker("k", 10), version("k", "v1", 10)];
        assert_eq!(current_at(10, listed), Vec::<(String, String)>::new());
        let listed = vec![version("k", "v2", 10), version("k", "v1", 10)];
        assert_eq!(current_at(10, listed), [("k".into(), "v2".into())]);
    }
}

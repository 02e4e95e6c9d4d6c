//! How much of a listing changed recently, and when that is a burst of
//! deletions worth flagging.

use super::*;

/// How much of a listing changed recently: the raw material of the burst
/// signal (ransomware rewrites or deletes many keys at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Activity {
    /// The window "recently" means, ending when the listing was taken.
    pub window_secs: u64,
    /// Keys with at least one version.
    pub keys: u64,
    /// Keys with a version written within the window.
    pub keys_with_new_versions: u64,
    /// Delete markers written within the window.
    pub recent_delete_markers: u64,
}

impl Activity {
    fn shares(&self) -> Option<(f64, f64)> {
        (self.keys > 0).then(|| {
            let k = self.keys as f64;
            (
                self.recent_delete_markers as f64 / k,
                self.keys_with_new_versions as f64 / k,
            )
        })
    }

    /// Why this listing's changes look like a burst against the same
    /// source's `previous` listings (newest first): a share of keys of at
    /// least [`BURST_SHARE`] that is also at least [`BURST_FACTOR`] times
    /// their median. Without a previous listing nothing is claimed (a first
    /// listing has nothing to be compared with).
    pub fn burst(&self, previous: &[Activity]) -> Vec<String> {
        let Some((markers, versions)) = self.shares() else {
            return Vec::new();
        };
        let before: Vec<(f64, f64)> = previous.iter().filter_map(Activity::shares).collect();
        if before.is_empty() {
            return Vec::new();
        }
        let median = |pick: fn(&(f64, f64)) -> f64| {
            let mut v: Vec<f64> = before.iter().map(pick).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mut why = Vec::new();
        for (share, usual, what) in [
            (markers, median(|s| s.0), "delete markers"),
            (versions, median(|s| s.1), "new versions"),
        ] {
            if share >= BURST_SHARE && share >= BURST_FACTOR * usual {
                why.push(format!(
                    "{what} on {:.0} % of the keys ({} of {}) within {}; the previous {} listing(s) of this source had a median of {:.0} %",
                    share * 100.0,
                    if what == "delete markers" { self.recent_delete_markers } else { self.keys_with_new_versions },
                    self.keys,
                    crate::config::age_text(std::time::Duration::from_secs(self.window_secs)),
                    before.len(),
                    usual * 100.0
                ));
            }
        }
        why
    }
}

/// The share of keys a burst reaches at least.
pub const BURST_SHARE: f64 = 0.3;

/// How many times the usual share a burst is at least.
pub const BURST_FACTOR: f64 = 3.0;

/// The window of [`Activity`].
pub const ACTIVITY_WINDOW: std::time::Duration = std::time::Duration::from_secs(86_400);

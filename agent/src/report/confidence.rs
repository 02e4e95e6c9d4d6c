//! How sure the uniform samples of a period make us: an upper bound on the
//! share of a source's recovery points that would not restore intact.
//!
//! A uniform sample of `n` recovery points with `k` failures (`mismatch`
//! or `unrecoverable`) bounds the failing share `p` from above: the
//! one-sided exact (Clopper–Pearson) bound at confidence `c` is the `p` at
//! which seeing `k` or fewer failures has probability `1 − c`, the `c`
//! quantile of Beta(k + 1, n − k). Only uniform picks count: `newest`,
//! `oldest` and coverage picks are not random. Verdicts that say nothing
//! about the bytes (`no_reference`, `skipped`, `aborted`) are left out.

use serde::Serialize;
use statrs::distribution::{Beta, ContinuousCDF};

/// The confidence reports state bounds at.
pub const CONFIDENCE: f64 = 0.95;

/// The failing share reports say how many samples it takes to bound.
pub const TARGET: f64 = 0.01;

/// The one-sided upper bound on the failing share, at `confidence`, from
/// `n` uniform samples with `k` failures (1 when nothing was sampled).
pub fn upper_bound(n: u64, k: u64, confidence: f64) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    Beta::new((k + 1) as f64, (n - k) as f64)
        .map(|b| b.inverse_cdf(confidence))
        .unwrap_or(1.0)
}

/// The uniform samples without a failure it takes to bound the failing
/// share below `target` at `confidence`: the least `n` with
/// (1 − target)^n ≤ 1 − confidence.
pub fn samples_needed(target: f64, confidence: f64) -> u64 {
    ((1.0 - confidence).ln() / (1.0 - target).ln()).ceil() as u64
}

/// What a period's uniform samples of one source prove.
#[derive(Debug, Clone, Serialize)]
pub struct SourceConfidence {
    pub source: String,
    /// Uniform samples whose verdict speaks about the bytes.
    pub samples: u64,
    /// Of them, `mismatch` or `unrecoverable`.
    pub failures: u64,
    pub confidence: f64,
    /// At most this share of the recovery points fails, at `confidence`.
    pub upper_bound: f64,
    /// Uniform samples without a failure that bound the share below
    /// [`TARGET`] at [`CONFIDENCE`].
    pub samples_for_target: u64,
    pub target: f64,
}

impl SourceConfidence {
    pub fn new(source: &str, samples: u64, failures: u64) -> Self {
        Self {
            source: source.to_owned(),
            samples,
            failures,
            confidence: CONFIDENCE,
            upper_bound: upper_bound(samples, failures, CONFIDENCE),
            samples_for_target: samples_needed(TARGET, CONFIDENCE),
            target: TARGET,
        }
    }

    /// The statement, for people.
    pub fn statement(&self) -> String {
        if self.samples == 0 {
            return format!(
                "source {}: no uniform samples in the period, so no bound; {} uniform samples without a failure bound the failing share below {:.0} % at {:.0} % confidence",
                self.source,
                self.samples_for_target,
                self.target * 100.0,
                self.confidence * 100.0
            );
        }
        format!(
            "source {}: with {:.0} % confidence, at most {:.2} % of the recovery points are corrupt or unrecoverable ({} uniform samples, {} failure(s)); {} uniform samples without a failure bound it below {:.0} %",
            self.source,
            self.confidence * 100.0,
            self.upper_bound * 100.0,
            self.samples,
            self.failures,
            self.samples_for_target,
            self.target * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(n: u64, k: u64) -> f64 {
        (upper_bound(n, k, 0.95) * 10_000.0).round() / 100.0
    }

    #[test]
    fn bounds_match_known_clopper_pearson_values() {
        assert_eq!(pct(100, 0), 2.95);
        assert_eq!(pct(300, 1), 1.57);
        assert_eq!(pct(50, 2), 12.06);
        assert_eq!(upper_bound(0, 0, 0.95), 1.0);
        assert_eq!(upper_bound(5, 5, 0.95), 1.0);
        // More samples, a tighter bound; more failures, a looser one.
        assert!(upper_bound(1000, 0, 0.95) < upper_bound(100, 0, 0.95));
        assert!(upper_bound(100, 3, 0.95) > upper_bound(100, 1, 0.95));
    }

    #[test]
    fn the_samples_needed_for_a_bound_are_the_least_that_reach_it() {
        let n = samples_needed(0.01, 0.95);
        assert_eq!(n, 299);
        assert!(upper_bound(n, 0, 0.95) <= 0.01);
        assert!(upper_bound(n - 1, 0, 0.95) > 0.01);
    }
}

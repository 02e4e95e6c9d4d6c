//! Each drill's runs and verdicts in the period, summed up.

use super::*;

/// One report per drill (and source) with runs or verdicts in the period.
pub(super) fn drill_reports(
    runs: &[RunRecord],
    samples: &[SampleRecord],
    now: DateTime<Utc>,
) -> Vec<DrillReport> {
    let mut by_drill: BTreeMap<(String, String), DrillRows<'_>> = BTreeMap::new();
    for r in runs {
        by_drill
            .entry((r.drill.clone(), r.source.clone()))
            .or_default()
            .0
            .push(r);
    }
    for s in samples {
        by_drill
            .entry((s.drill.clone(), s.source.clone()))
            .or_default()
            .1
            .push(s);
    }
    by_drill
        .into_iter()
        .map(|((drill, src), (rs, ss))| DrillReport::of(drill, src, &rs, &ss, now))
        .collect()
}

impl DrillReport {
    /// A drill's runs `rs` and verdicts `ss` in the period.
    pub(super) fn of(
        drill: String,
        source: String,
        rs: &[&RunRecord],
        ss: &[&SampleRecord],
        now: DateTime<Utc>,
    ) -> Self {
        let mut verdicts = BTreeMap::new();
        for s in ss {
            *verdicts.entry(s.verdict.clone()).or_insert(0u64) += 1;
        }
        let v = |k: &str| verdicts.get(k).copied().unwrap_or(0);
        let verified: BTreeSet<(&str, &str)> = ss
            .iter()
            .filter(|s| s.verdict == "verified")
            .map(|s| (s.key.as_str(), s.version_id.as_str()))
            .collect();
        let summaries = || rs.iter().filter_map(|r| r.summary.as_ref());
        let latest = summaries().next_back().and_then(|s| s.population);
        let candidates = latest.map(|p| p.candidates);
        let candidate_bytes = latest.map(|p| p.candidate_bytes);
        let (bytes, ms) = summaries().fold((0u64, 0u64), |(b, m), s| {
            (b + s.bytes_restored, m + s.duration_ms.unwrap_or(0))
        });
        let throughput = (ms > 0 && bytes > 0).then(|| bytes * 1000 / ms);
        let newest = ss
            .iter()
            .filter(|s| s.verdict == "verified")
            .filter_map(|s| s.last_modified.as_deref().and_then(parse_time))
            .max();
        let runs_with = |status: &str| rs.iter().filter(|r| r.status == status).count() as u64;
        Self {
            drill,
            source,
            runs: rs.len() as u64,
            runs_completed: runs_with("completed"),
            runs_error: runs_with("error"),
            runs_aborted: runs_with("aborted"),
            outcomes: rs
                .iter()
                .filter_map(|r| match &r.summary {
                    Some(s) => s.outcome(),
                    None => RunOutcome::of(&r.status, 0, 0),
                })
                .fold(BTreeMap::new(), |mut m, o| {
                    *m.entry(o).or_default() += 1;
                    m
                }),
            samples: ss.len() as u64,
            success_rate: ratio(
                v("verified"),
                v("verified") + v("mismatch") + v("unrecoverable"),
            ),
            distinct_verified: verified.len() as u64,
            candidates,
            coverage: candidates
                .and_then(|c| ratio(verified.len() as u64, c))
                .map(|c| c.min(1.0)),
            bytes_restored: ss.iter().map(|s| s.bytes).sum(),
            throughput_bytes_per_sec: throughput,
            candidate_bytes,
            projected_full_restore_secs: match (candidate_bytes, throughput) {
                (Some(b), Some(t)) if t > 0 => Some(b.div_ceil(t)),
                _ => None,
            },
            newest_verified_last_modified: newest
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            newest_verified_age_secs: newest.map(|t| (now - t).num_seconds()),
            last_run: rs.last().map(|r| r.started_at.clone()),
            location: summaries().next_back().map(|s| s.source.location()),
            rotating_coverage: summaries().rev().find_map(|s| s.coverage.clone()),
            population_as_of: summaries()
                .next_back()
                .and_then(|s| s.population_as_of.clone()),
            checked: match summaries().next_back() {
                Some(s) if s.mode == "provider_checksum" => "at_rest",
                Some(s) if s.trigger == "aws_backup" => "aws_backup_restore_test",
                _ => "restored",
            },
            verdicts,
        }
    }
}

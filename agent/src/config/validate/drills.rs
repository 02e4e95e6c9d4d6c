//! Validation of `[drills.*]`: each drill's source, limits, schedule and gate.

use super::*;

/// `[drills.*]`.
pub(super) fn drills(
    raw: BTreeMap<String, RawDrill>,
    raw_gate: &RawGate,
    sources: &BTreeMap<String, SourceConfig>,
    canaries: &BTreeMap<String, CanaryConfig>,
    paths: (&Path, &Path),
    problem: &mut impl FnMut(String, &str),
) -> BTreeMap<String, DrillConfig> {
    let mut drills = BTreeMap::new();
    for (name, d) in raw {
        check_name(&mut *problem, &format!("drills.{name}"), &name);
        let drill = drill(&name, d, raw_gate, sources, canaries, paths, &mut *problem);
        drills.insert(name, drill);
    }
    drills
}

/// One `[drills.NAME]`; `paths`: the config file's directory (relative
/// paths resolve against it) and the default scratch directory (beside the
/// ledger).
pub(super) fn drill(
    name: &str,
    d: RawDrill,
    raw_gate: &RawGate,
    sources: &BTreeMap<String, SourceConfig>,
    canaries: &BTreeMap<String, CanaryConfig>,
    paths: (&Path, &Path),
    problem: &mut impl FnMut(String, &str),
) -> DrillConfig {
    let (base, scratch) = paths;
    let at = |k: &str| format!("drills.{name}.{k}");
    drill_source(&d, &at, sources, &mut *problem);
    let (concurrency, attempts, max_samples, restore_timeout) =
        drill_limits(&d, &at, &mut *problem);
    if d.copy_prefix
        .as_deref()
        .is_some_and(|p| p.is_empty() || p.starts_with('/') || !p.ends_with('/'))
    {
        problem(at("copy_prefix"), "must be a non-empty prefix ending in `/` (copies go under it and are deleted after the drill)");
    }
    let strategy = d.strategy.unwrap_or(Strategy::Uniform);
    if d.seed.is_some() && strategy != Strategy::Uniform {
        problem(
            at("seed"),
            "only the `uniform` strategy uses a seed; remove it or set strategy = \"uniform\"",
        );
    }
    let schedule = drill_schedule(&d, &at, &mut *problem);
    let f = &d.filter;
    if let (Some(min), Some(max)) = (f.min_size, f.max_size) {
        if min > max {
            problem(
                at("filter.min_size"),
                "is larger than filter.max_size, so nothing could be sampled",
            );
        }
    }
    let coverage = d.coverage.map(|a| a.0);
    if coverage.is_some_and(|c| c < std::time::Duration::from_secs(3600)) {
        problem(
            at("coverage"),
            "must be at least 1h: it is the period every recovery point is verified in, e.g. \"30d\"",
        );
    }
    let gate = drill_gate(&d, raw_gate, coverage, &at, &mut *problem);
    let protection = match sources.get(&d.source) {
        Some(SourceConfig::S3(s)) => s.protection,
        Some(SourceConfig::AzureBlob(a)) => a.protection,
        None => None,
    };
    let source_canaries: Vec<CanaryConfig> = canaries
        .values()
        .filter(|c| c.source == d.source)
        .cloned()
        .collect();
    let include_current = f.include_current.unwrap_or(true);
    let include_noncurrent = f.include_noncurrent.unwrap_or(true);
    if !include_current && !include_noncurrent {
        problem(
            at("filter"),
            "include_current and include_noncurrent are both false, so nothing could be sampled",
        );
    }
    let provider_checksum = provider_checksum(&d, &at, sources, &mut *problem);
    DrillConfig {
        shard: None,
        name: name.to_owned(),
        source: d.source,
        sample: d.sample.unwrap_or(SampleSize::Count(defaults::SAMPLE)),
        strategy,
        seed: d.seed,
        mode: d.mode.unwrap_or(RestoreMode::Stream),
        verify: d.verify.unwrap_or_default(),
        record_verified: d.record_verified.unwrap_or_default(),
        concurrency,
        attempts,
        max_samples,
        restore_timeout,
        scratch_dir: d
            .scratch_dir
            .as_deref()
            .map_or_else(|| scratch.to_path_buf(), |p| resolve(base, p)),
        copy_prefix: d
            .copy_prefix
            .unwrap_or_else(|| defaults::COPY_PREFIX.into()),
        schedule,
        filter: Filter {
            min_size: f.min_size.map(|b| b.0),
            max_size: f.max_size.map(|b| b.0),
            max_age: f.max_age.map(|a| a.0),
            include_current,
            include_noncurrent,
            exclude_prefixes: Vec::new(),
            deleted_only: false,
        },
        coverage,
        gate,
        protection,
        canaries: source_canaries,
        provider_checksum,
    }
}

/// `mode = "provider_checksum"` and its table go together, on S3 sources.
fn provider_checksum(
    d: &RawDrill,
    at: &impl Fn(&str) -> String,
    sources: &BTreeMap<String, SourceConfig>,
    problem: &mut impl FnMut(String, &str),
) -> Option<crate::config::provider_checksum::ProviderChecksumConfig> {
    let wanted = d.mode == Some(RestoreMode::ProviderChecksum);
    match (&d.provider_checksum, wanted) {
        (None, false) => None,
        (Some(_), false) => {
            problem(
                at("provider_checksum"),
                "is read only by a drill with mode = \"provider_checksum\": set that mode or remove the table",
            );
            None
        }
        (None, true) => {
            problem(
                at("provider_checksum"),
                "is required by mode = \"provider_checksum\": give account_id, role_arn, manifests and reports (docs/aws.md)",
            );
            None
        }
        (Some(raw), true) => {
            if let Some(s) = sources
                .get(&d.source)
                .filter(|s| !matches!(s, SourceConfig::S3(_)))
            {
                problem(
                    at("mode"),
                    &format!(
                        "`provider_checksum` uses S3 Batch Operations; source `{}` is {}: use `stream`, `local` or `copy`",
                        d.source,
                        s.kind()
                    ),
                );
            }
            let s3 = match sources.get(&d.source) {
                Some(SourceConfig::S3(s)) => Some(s),
                _ => None,
            };
            crate::config::provider_checksum::validate(raw, s3, at, problem)
        }
    }
}

/// A drill's `concurrency`, `attempts`, `max_samples` and `restore_timeout`.
pub(super) fn drill_limits(
    d: &RawDrill,
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, &str),
) -> (usize, u32, u64, std::time::Duration) {
    let concurrency = d.concurrency.unwrap_or(defaults::CONCURRENCY);
    if !(1..=256).contains(&concurrency) {
        problem(at("concurrency"), "must be between 1 and 256");
    }
    let attempts = d.attempts.unwrap_or(defaults::ATTEMPTS);
    if !(1..=20).contains(&attempts) {
        problem(at("attempts"), "must be between 1 and 20");
    }
    let max_samples = d.max_samples.unwrap_or(defaults::MAX_SAMPLES);
    if max_samples == 0 {
        problem(at("max_samples"), "must be at least 1");
    }
    let restore_timeout = d
        .restore_timeout
        .map(|a| a.0)
        .unwrap_or(std::time::Duration::from_secs(
            defaults::RESTORE_TIMEOUT_SECS,
        ));
    if restore_timeout.is_zero() {
        problem(at("restore_timeout"), "must be longer than 0s");
    }
    (concurrency, attempts, max_samples, restore_timeout)
}

/// A drill's source: configured, and able to do what its mode asks.
pub(super) fn drill_source(
    d: &RawDrill,
    at: &impl Fn(&str) -> String,
    sources: &BTreeMap<String, SourceConfig>,
    problem: &mut impl FnMut(String, &str),
) {
    if d.source.is_empty() {
        problem(at("source"), "must name a source from [sources]");
    } else if !sources.contains_key(&d.source) {
        let known: Vec<&str> = sources.keys().map(String::as_str).collect();
        problem(
            at("source"),
            &format!(
                "names `{}`, which is not a configured source; configured: {}",
                d.source,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        );
    }
    let Some(source) = sources.get(&d.source) else {
        return;
    };
    let can = source.kind().capabilities();
    match d.mode {
        Some(RestoreMode::Undelete) if !can.undelete => problem(
            at("mode"),
            &format!(
                "`undelete` needs a store with soft delete that can undelete (Azure Blob); source `{}` is {}",
                d.source,
                source.kind()
            ),
        ),
        Some(RestoreMode::Undelete) => {
            if let SourceConfig::AzureBlob(a) = source {
                if !a.allow_undelete {
                    problem(
                        at("mode"),
                        &format!("`undelete` changes the live container; allow it with sources.{}.allow_undelete = true", d.source),
                    );
                }
            }
        }
        Some(RestoreMode::Copy) if !can.copy => problem(
            at("mode"),
            &format!(
                "`copy` needs a store that copies server-side; source `{}` is {}: use `stream` or `local`",
                d.source,
                source.kind()
            ),
        ),
        _ => {}
    }
}

/// A drill's `schedule`, `timezone`, `jitter` and `missed`.
pub(super) fn drill_schedule(
    d: &RawDrill,
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, &str),
) -> Option<Schedule> {
    match &d.schedule {
        Some(expr) => {
            let tz = d.timezone.as_deref().unwrap_or(defaults::TIMEZONE);
            let jitter = d.jitter.map(|a| a.0).unwrap_or_default();
            if jitter > std::time::Duration::from_secs(86_400) {
                problem(at("jitter"), "must be at most 1d");
            }
            match Schedule::new(expr, tz, jitter, d.missed.unwrap_or(Missed::Skip)) {
                Ok(s) => Some(s),
                Err(e) => {
                    let key = match e {
                        ScheduleError::TimeZone(_) => "timezone",
                        _ => "schedule",
                    };
                    problem(at(key), &e.to_string());
                    None
                }
            }
        }
        None => {
            for (key, set) in [
                ("timezone", d.timezone.is_some()),
                ("jitter", d.jitter.is_some()),
                ("missed", d.missed.is_some()),
            ] {
                if set {
                    problem(
                        at(key),
                        "applies to a schedule; add `schedule = \"...\"` (cron) or remove it",
                    );
                }
            }
            None
        }
    }
}

/// A drill's `[gate]`, over the global one.
pub(super) fn drill_gate(
    d: &RawDrill,
    raw_gate: &RawGate,
    coverage: Option<std::time::Duration>,
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, &str),
) -> GateConfig {
    let own = d.gate.clone().unwrap_or_default();
    let max_age = own.max_age.or(raw_gate.max_age).map_or(
        std::time::Duration::from_secs(defaults::GATE_MAX_AGE_SECS),
        |a| a.0,
    );
    if max_age.is_zero() {
        problem(at("gate.max_age"), "must be longer than 0s");
    }
    if own.min_coverage.is_some() && coverage.is_none() {
        problem(
            at("gate.min_coverage"),
            "needs rotating coverage: set `coverage = \"30d\"` on the drill, or remove it",
        );
    }
    GateConfig {
        max_age,
        // `[gate] min_coverage` applies to the drills that track it.
        min_coverage: own
            .min_coverage
            .or(raw_gate.min_coverage.filter(|_| coverage.is_some()))
            .map(|p| p.0),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    /// A trial config in a home directory writes its scratch files beside
    /// its ledger, not under /var/lib.
    #[test]
    fn scratch_space_defaults_to_beside_the_ledger() {
        let text = "[ledger]\npath = \"state/ledger.db\"\n[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n\
                    [drills.d]\nsource = \"s\"\n[drills.e]\nsource = \"s\"\nscratch_dir = \"/srv/scratch\"\n";
        let c = Config::from_toml(text, Path::new("/home/me/trial")).expect("valid");
        assert_eq!(
            c.drills["d"].scratch_dir,
            Path::new("/home/me/trial/state/scratch")
        );
        assert_eq!(c.drills["e"].scratch_dir, Path::new("/srv/scratch"));
        let default = Config::from_toml(
            "[sources.s]\nkind = \"s3\"\nbucket = \"bkt\"\n[drills.d]\nsource = \"s\"\n",
            Path::new("/etc/restoreproof"),
        )
        .expect("valid");
        assert_eq!(
            default.drills["d"].scratch_dir,
            Path::new("/var/lib/restoreproof/scratch")
        );
    }
}

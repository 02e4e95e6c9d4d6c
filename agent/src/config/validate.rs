//! Validation: the raw configuration to a [`Config`], pure (no I/O), every
//! problem reported at once with its key path.

use super::azure::validate_azure;
use super::*;

/// Checks a raw config and returns every problem, or the validated config.
/// Pure: no file, network or environment access.
pub fn validate(raw: RawConfig, base: &Path) -> Result<Config, Vec<Problem>> {
    let mut problems = Vec::new();
    let (ledger_path, evidence_path, signing_key) =
        storage(&raw, base, &mut reporter(&mut problems));
    let sources = sources(raw.sources, base, &mut reporter(&mut problems));
    let anchor = anchor(
        raw.evidence.anchor.as_ref(),
        raw.outbox.max_age,
        &sources,
        &mut reporter(&mut problems),
    );
    let canaries = canaries(raw.canaries, &sources, &mut reporter(&mut problems));
    let drills = drills(
        raw.drills,
        &raw.gate,
        &sources,
        &canaries,
        base,
        &mut reporter(&mut problems),
    );
    let daemon = daemon(&raw.daemon, base, &mut problems);
    let sinks = sinks(raw.sinks, base, &mut problems);
    let posture_schedule = posture_schedule(&raw.posture, &mut problems);
    let outbox = outbox(&raw.outbox, &mut problems);
    let (patch_schedule, patch_policy) = patch(&raw.patch, &mut problems);
    let patch_cloud = patch_cloud(&raw.patch, &sources, &mut problems);
    let config = Config {
        patch_cloud,
        patch_schedule,
        patch_policy,
        ledger_path,
        evidence_path,
        signing_key,
        daemon,
        outbox,
        posture_schedule,
        sinks,
        sources,
        drills,
        canaries,
        anchor,
    };
    distinct_paths(&mut problems, config.agent_paths().into_iter());
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// Reports problems into `problems`, for the sections that take a
/// reporting function.
fn reporter(problems: &mut Vec<Problem>) -> impl FnMut(String, &str) + '_ {
    move |path, message| {
        problems.push(Problem {
            path,
            message: message.to_owned(),
        });
    }
}

/// `example`, `[ledger]` and `[evidence]`: where the ledger, the evidence
/// file and the signing key live.
fn storage(
    raw: &RawConfig,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> (PathBuf, PathBuf, SecretSource) {
    if raw.example {
        problem(
            "example".into(),
            "this is the example configuration the package installed: set its sources, drills and sinks for this host, then delete the line `example = true` (`restoreproof validate` checks the result)",
        );
    }
    let ledger_path = resolve(
        base,
        raw.ledger
            .path
            .as_deref()
            .unwrap_or(Path::new(defaults::LEDGER_PATH)),
    );
    let evidence_path = resolve(
        base,
        raw.evidence
            .path
            .as_deref()
            .unwrap_or(Path::new(defaults::EVIDENCE_PATH)),
    );
    let signing_key = match (
        &raw.evidence.signing_key,
        &raw.evidence.signing_key_credential,
    ) {
        (Some(_), Some(_)) => {
            problem(
                "evidence.signing_key".into(),
                "give the signing key as a file or as a systemd credential, not both",
            );
            SecretSource::File(PathBuf::new())
        }
        (_, Some(c)) => SecretSource::SystemdCredential(c.clone()),
        (Some(p), None) => SecretSource::File(resolve(base, p)),
        (None, None) => SecretSource::File(
            ledger_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("evidence.key"),
        ),
    };
    if raw.ledger.path.as_deref() == Some(Path::new("")) {
        problem(
            "ledger.path".into(),
            "must not be empty; remove the key to use the default",
        );
    }
    if raw.evidence.path.as_deref() == Some(Path::new("")) {
        problem(
            "evidence.path".into(),
            "must not be empty; remove the key to use the default",
        );
    }
    (ledger_path, evidence_path, signing_key)
}

/// `[sources.*]`.
fn sources(
    raw: BTreeMap<String, RawSource>,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> BTreeMap<String, SourceConfig> {
    let mut sources = BTreeMap::new();
    for (name, src) in raw {
        check_name(&mut *problem, &format!("sources.{name}"), &name);
        let source = match src {
            RawSource::S3(s) => SourceConfig::S3(s3_source(&name, s, &mut *problem)),
            RawSource::AzureBlob(a) => {
                SourceConfig::AzureBlob(validate_azure(&name, a, base, &mut *problem))
            }
        };
        sources.insert(name, source);
    }
    sources
}

/// One `[sources.NAME]` of kind `s3`.
fn s3_source(name: &str, s: RawS3Source, problem: &mut impl FnMut(String, &str)) -> S3SourceConfig {
    let at = |k: &str| format!("sources.{name}.{k}");
    if s.bucket.trim().is_empty() {
        problem(
            at("bucket"),
            "must not be empty; name the S3 bucket that holds the recovery points",
        );
    } else if !valid_bucket_name(&s.bucket) {
        problem(at("bucket"), "is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, `.` and `-`); give the bucket name only, without `s3://` or a path");
    }
    if let Some(r) = &s.region {
        if r.trim().is_empty() || r.contains(char::is_whitespace) {
            problem(at("region"), "must be an AWS region such as `eu-central-1`, or be left out to use the environment's");
        } else if s.endpoint.is_none() && !super::AWS_REGIONS.contains(&r.as_str()) {
            // An S3-compatible store (endpoint set) names its
            // regions as it likes.
            problem(at("region"), "is not an AWS region this release knows; check the spelling (e.g. `eu-central-1`), or, for a region newer than this release, also set endpoint = \"https://s3.REGION.amazonaws.com\"");
        }
    }
    if let Some(e) = &s.endpoint {
        let parsed = url::Url::parse(e);
        if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() < 10 {
            problem(
                at("endpoint"),
                "must be a URL starting with `https://` (or `http://` for a local test server)",
            );
        } else if let Err(why) = &parsed {
            problem(
                    at("endpoint"),
                    &format!("is not a valid URL ({why}); write e.g. `https://minio.internal:9000` or `http://[::1]:9000`"),
                );
        } else if parsed
            .as_ref()
            .is_ok_and(|u| u.host_str().is_none_or(str::is_empty))
        {
            problem(
                at("endpoint"),
                "has no host; write e.g. `https://minio.internal:9000`",
            );
        } else if super::plain_http_off_host(e) && s.allow_plain_http != Some(true) {
            problem(
                    at("endpoint"),
                    "is plain http to another host: restored data crosses the network unencrypted; use https://, or set allow_plain_http = true for a store on a trusted network",
                );
        }
    }
    if let Some(p) = &s.profile {
        if p.trim().is_empty() {
            problem(
                at("profile"),
                "must not be empty; remove it to use the default credential chain",
            );
        }
    }
    if let Some(c) = &s.credentials {
        if c.access_key_id.expose().is_empty() || c.secret_access_key.expose().is_empty() {
            problem(at("credentials"), "access_key_id and secret_access_key must both be set; better, remove the table and use the AWS credential chain (environment, profile, web identity, instance metadata)");
        }
        if s.profile.is_some() {
            problem(
                at("credentials"),
                "conflicts with `profile`; keep one of them",
            );
        }
    }
    let prefix = s.prefix.unwrap_or_default();
    if prefix.starts_with('/') {
        problem(
            at("prefix"),
            "must not start with `/`: S3 keys have no leading slash",
        );
    }
    let posture = s.posture.validate(&at("posture"), "s3", &mut *problem);
    let protection = s
        .protection
        .as_ref()
        .map(|p| p.validate(&at("protection"), &mut *problem));
    S3SourceConfig {
        posture,
        protection,
        force_path_style: s.force_path_style.unwrap_or(s.endpoint.is_some()),
        bucket: s.bucket,
        prefix,
        region: s.region,
        endpoint: s.endpoint,
        profile: s.profile,
        credentials: s.credentials.map(|c| S3StaticCredentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.session_token,
        }),
    }
}

/// `[evidence.anchor]`: an S3 source with Object Lock.
fn anchor(
    raw: Option<&RawAnchor>,
    outbox_max_age: Option<Age>,
    sources: &BTreeMap<String, SourceConfig>,
    problem: &mut impl FnMut(String, &str),
) -> Option<AnchorConfig> {
    raw.and_then(|a| {
        let retention = a
            .retention
            .map_or(std::time::Duration::from_secs(defaults::ANCHOR_RETENTION_SECS), |r| r.0);
        if retention < std::time::Duration::from_secs(86_400) {
            problem(
                "evidence.anchor.retention".into(),
                "must be at least 1d (and as long as evidence is kept)",
            );
        }
        if let Some(keep) = outbox_max_age.map(|a| a.0).filter(|k| *k > retention) {
            problem(
                "evidence.anchor.retention".into(),
                &format!(
                    "is shorter than outbox.max_age ({}): an anchored checkpoint must stay locked as long as the evidence it covers is kept",
                    age_text(keep)
                ),
            );
        }
        let prefix = a.prefix.clone().unwrap_or_else(|| defaults::ANCHOR_PREFIX.into());
        if prefix.is_empty() || prefix.starts_with('/') || !prefix.ends_with('/') {
            problem("evidence.anchor.prefix".into(), "must be a non-empty prefix ending in `/`");
        }
        match sources.get(&a.source) {
            Some(SourceConfig::S3(s)) => Some(AnchorConfig {
                source: a.source.clone(),
                key_prefix: format!("{}{prefix}", s.prefix),
                s3: s.clone(),
                retention,
            }),
            Some(SourceConfig::AzureBlob(_)) => {
                problem(
                    "evidence.anchor.source".into(),
                    "must be an S3 source with Object Lock in this release",
                );
                None
            }
            None => {
                problem(
                    "evidence.anchor.source".into(),
                    &format!(
                        "`{}` is not a configured source; add it under [sources] (an S3 bucket with Object Lock)",
                        a.source
                    ),
                );
                None
            }
        }
    })
}

/// `[canaries.*]`.
fn canaries(
    raw: BTreeMap<String, RawCanary>,
    sources: &BTreeMap<String, SourceConfig>,
    problem: &mut impl FnMut(String, &str),
) -> BTreeMap<String, CanaryConfig> {
    let mut canaries: BTreeMap<String, CanaryConfig> = BTreeMap::new();
    for (name, c) in raw {
        let at = |k: &str| format!("canaries.{name}.{k}");
        let source_prefix = match sources.get(&c.source) {
            Some(SourceConfig::S3(s)) => Some(s.prefix.clone()),
            Some(SourceConfig::AzureBlob(a)) => Some(a.prefix.clone()),
            None => {
                problem(
                    at("source"),
                    &format!(
                        "`{}` is not a configured source; configured sources: {}",
                        c.source,
                        sources.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
                None
            }
        };
        let retention = c.retention.0;
        if retention < std::time::Duration::from_secs(86_400) {
            problem(
                at("retention"),
                "must be at least 1d: it is how long deleted recovery points must stay restorable",
            );
        }
        let mut ages: Vec<std::time::Duration> = match &c.ages {
            Some(a) => a.iter().map(|a| a.0).collect(),
            None => [86_400, 7 * 86_400]
                .into_iter()
                .map(std::time::Duration::from_secs)
                .filter(|a| *a < retention)
                .chain([retention])
                .collect(),
        };
        ages.sort();
        ages.dedup();
        if ages.iter().any(|a| *a > retention || a.is_zero()) {
            problem(at("ages"), "each age must be above 0 and at most `retention`: a canary older than the claimed retention proves nothing");
        }
        let prefix = c
            .prefix
            .clone()
            .unwrap_or_else(|| defaults::CANARY_PREFIX.into());
        if prefix.is_empty() || prefix.starts_with('/') || !prefix.ends_with('/') {
            problem(
                at("prefix"),
                "must be a non-empty prefix ending in `/` (every canary write stays under it)",
            );
        }
        let size = c.size.map_or(defaults::CANARY_SIZE, |b| b.0);
        if !(1..=(16 << 20)).contains(&size) {
            problem(at("size"), "must be between 1B and 16MiB");
        }
        let schedule = match &c.schedule {
            Some(expr) => {
                let tz = c.timezone.as_deref().unwrap_or(defaults::TIMEZONE);
                match Schedule::new(expr, tz, std::time::Duration::ZERO, Missed::Skip) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        problem(at("schedule"), &e.to_string());
                        None
                    }
                }
            }
            None => None,
        };
        canaries.insert(
            name.clone(),
            CanaryConfig {
                name,
                source: c.source,
                schedule,
                retention,
                ages,
                key_prefix: format!("{}{prefix}", source_prefix.unwrap_or_default()),
                size,
            },
        );
    }
    canaries
}

/// `[drills.*]`.
fn drills(
    raw: BTreeMap<String, RawDrill>,
    raw_gate: &RawGate,
    sources: &BTreeMap<String, SourceConfig>,
    canaries: &BTreeMap<String, CanaryConfig>,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> BTreeMap<String, DrillConfig> {
    let mut drills = BTreeMap::new();
    for (name, d) in raw {
        check_name(&mut *problem, &format!("drills.{name}"), &name);
        let drill = drill(&name, d, raw_gate, sources, canaries, base, &mut *problem);
        drills.insert(name, drill);
    }
    drills
}

/// One `[drills.NAME]`.
fn drill(
    name: &str,
    d: RawDrill,
    raw_gate: &RawGate,
    sources: &BTreeMap<String, SourceConfig>,
    canaries: &BTreeMap<String, CanaryConfig>,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> DrillConfig {
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
    DrillConfig {
        name: name.to_owned(),
        source: d.source,
        sample: d.sample.unwrap_or(SampleSize::Count(defaults::SAMPLE)),
        strategy,
        seed: d.seed,
        mode: d.mode.unwrap_or(RestoreMode::Stream),
        verify: d.verify.unwrap_or_default(),
        concurrency,
        attempts,
        max_samples,
        restore_timeout,
        scratch_dir: resolve(
            base,
            d.scratch_dir
                .as_deref()
                .unwrap_or(Path::new(defaults::SCRATCH_DIR)),
        ),
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
    }
}

/// A drill's `concurrency`, `attempts`, `max_samples` and `restore_timeout`.
fn drill_limits(
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
fn drill_source(
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
    if d.mode == Some(RestoreMode::Undelete) {
        match sources.get(&d.source) {
            Some(SourceConfig::AzureBlob(a)) if a.allow_undelete => {}
            Some(SourceConfig::AzureBlob(_)) => problem(
                at("mode"),
                &format!("`undelete` changes the live container; allow it with sources.{}.allow_undelete = true", d.source),
            ),
            Some(other) => problem(
                at("mode"),
                &format!("`undelete` is for Azure soft delete; source `{}` is {}", d.source, other.kind()),
            ),
            None => {}
        }
    }
}

/// A drill's `schedule`, `timezone`, `jitter` and `missed`.
fn drill_schedule(
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
fn drill_gate(
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

/// `[daemon]`.
fn daemon(raw: &RawDaemon, base: &Path, problems: &mut Vec<Problem>) -> DaemonConfig {
    let daemon = DaemonConfig {
        max_concurrent_drills: raw
            .max_concurrent_drills
            .unwrap_or(defaults::MAX_CONCURRENT_DRILLS),
        shutdown_timeout: raw.shutdown_timeout.map_or(
            std::time::Duration::from_secs(defaults::SHUTDOWN_TIMEOUT_SECS),
            |a| a.0,
        ),
        heartbeat_interval: raw.heartbeat_interval.map_or(
            std::time::Duration::from_secs(defaults::HEARTBEAT_SECS),
            |a| a.0,
        ),
        metrics_file: raw.metrics_file.as_deref().map(|p| resolve(base, p)),
    };
    if !(1..=64).contains(&daemon.max_concurrent_drills) {
        problems.push(Problem {
            path: "daemon.max_concurrent_drills".into(),
            message: "must be between 1 and 64".into(),
        });
    }
    if daemon.heartbeat_interval.is_zero()
        || daemon.heartbeat_interval > std::time::Duration::from_secs(3600)
    {
        problems.push(Problem {
            path: "daemon.heartbeat_interval".into(),
            message: "must be between 1s and 1h".into(),
        });
    }
    if raw.metrics_file.as_deref() == Some(Path::new("")) {
        problems.push(Problem {
            path: "daemon.metrics_file".into(),
            message: "must not be empty; remove it to write no metrics file".into(),
        });
    }
    daemon
}

/// `[sinks.*]`.
fn sinks(
    raw: BTreeMap<String, sink::RawSink>,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, sink::SinkConfig> {
    let mut sinks = BTreeMap::new();
    for (name, raw_sink) in raw {
        let mut p = |path: String, message: &str| {
            problems.push(Problem {
                path,
                message: message.to_owned(),
            })
        };
        check_name(&mut p, &format!("sinks.{name}"), &name);
        if let Some(s) = sink::validate(&name, raw_sink, base, &mut p) {
            sinks.insert(name, s);
        }
    }
    sinks
}

/// `[posture]`: when posture checks run.
fn posture_schedule(raw: &RawPostureRun, problems: &mut Vec<Problem>) -> Option<Schedule> {
    match &raw.schedule {
        Some(expr) => {
            let tz = raw.timezone.as_deref().unwrap_or(defaults::TIMEZONE);
            match Schedule::new(expr, tz, std::time::Duration::ZERO, Missed::Skip) {
                Ok(s) => Some(s),
                Err(e) => {
                    problems.push(Problem {
                        path: match e {
                            ScheduleError::TimeZone(_) => "posture.timezone".into(),
                            _ => "posture.schedule".into(),
                        },
                        message: e.to_string(),
                    });
                    None
                }
            }
        }
        None => {
            if raw.timezone.is_some() {
                problems.push(Problem {
                    path: "posture.timezone".into(),
                    message: "applies to a schedule; add `schedule = \"...\"` (cron) or remove it"
                        .into(),
                });
            }
            None
        }
    }
}

/// `[outbox]`: how long and how much the outbox keeps for a sink that is down.
fn outbox(raw: &RawOutbox, problems: &mut Vec<Problem>) -> OutboxConfig {
    let outbox = OutboxConfig {
        max_age: raw.max_age.map(|a| a.0),
        max_bytes: raw.max_bytes.map(|b| b.0),
    };
    if outbox
        .max_age
        .is_some_and(|a| a < std::time::Duration::from_secs(3600))
    {
        problems.push(Problem {
            path: "outbox.max_age".into(),
            message:
                "must be at least 1h (a sink that is down for a while must not lose events to it)"
                    .into(),
        });
    }
    if outbox.max_bytes.is_some_and(|b| b < 1 << 20) {
        problems.push(Problem {
            path: "outbox.max_bytes".into(),
            message: "must be at least 1MiB".into(),
        });
    }
    outbox
}

/// `[patch]`: when the patch check runs and its policy.
fn patch(raw: &RawPatch, problems: &mut Vec<Problem>) -> (Option<Schedule>, PatchPolicy) {
    let patch_schedule = raw.schedule.as_ref().and_then(|expr| {
        let tz = raw.timezone.as_deref().unwrap_or(defaults::TIMEZONE);
        Schedule::new(expr, tz, std::time::Duration::ZERO, Missed::Skip)
            .map_err(|e| {
                problems.push(Problem {
                    path: "patch.schedule".into(),
                    message: e.to_string(),
                })
            })
            .ok()
    });
    let pp = &raw.policy;
    let d = PatchPolicy::default();
    let patch_policy = PatchPolicy {
        max_security_age: pp.max_security_age.map_or(d.max_security_age, |a| a.0),
        automatic_updates: pp.automatic_updates.unwrap_or(d.automatic_updates),
        max_reboot_pending: pp.max_reboot_pending.map_or(d.max_reboot_pending, |a| a.0),
        max_package_lists_age: pp
            .max_package_lists_age
            .map_or(d.max_package_lists_age, |a| a.0),
    };
    (patch_schedule, patch_policy)
}

/// Files and directories the agent writes must each be its own: the same
/// path for two of them (after resolving against the config's directory)
/// would have one overwrite or "repair" the other. Drills may share a
/// scratch directory.
fn distinct_paths(problems: &mut Vec<Problem>, paths: impl Iterator<Item = (String, PathBuf)>) {
    let mut seen: Vec<(String, PathBuf)> = Vec::new();
    for (key, path) in paths {
        let normal = lexical(&path);
        let scratch = key.ends_with(".scratch_dir");
        match seen
            .iter()
            .find(|(k, p)| *p == normal && !(scratch && k.ends_with(".scratch_dir")))
        {
            Some((other, _)) => problems.push(Problem {
                path: key,
                message: format!(
                    "is {}, the same path as {other}; each of the ledger, evidence file, signing key, metrics file, scratch directory and file sinks needs its own path",
                    path.display()
                ),
            }),
            None => seen.push((key, normal)),
        }
    }
}

/// `p` with `.` and `..` components folded, without touching the file system.
pub(super) fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn check_name(problem: &mut impl FnMut(String, &str), path: &str, name: &str) {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        problem(
            path.to_owned(),
            "names may use letters, digits, `-`, `_` and `.` only (they appear in evidence and metric labels)",
        );
    }
}

fn valid_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// `[patch] cloud` and the endpoints and identity that go with it.
fn patch_cloud(
    p: &super::raw::RawPatch,
    sources: &BTreeMap<String, SourceConfig>,
    problems: &mut Vec<Problem>,
) -> Option<super::PatchCloud> {
    let mut problem = |key: &str, message: String| {
        problems.push(Problem {
            path: format!("patch.{key}"),
            message,
        })
    };
    let cloud = p.cloud.as_deref().unwrap_or("none");
    let endpoints = [
        ("aws_imds_endpoint", &p.aws_imds_endpoint, "aws"),
        ("aws_ssm_endpoint", &p.aws_ssm_endpoint, "aws"),
        ("azure_imds_endpoint", &p.azure_imds_endpoint, "azure"),
        (
            "azure_management_endpoint",
            &p.azure_management_endpoint,
            "azure",
        ),
        ("azure_client_id", &p.azure_client_id, "azure"),
    ];
    for (key, value, applies) in endpoints {
        let Some(v) = value else { continue };
        if cloud != applies {
            problem(
                key,
                format!("applies only with cloud = \"{applies}\"; set that, or remove {key}"),
            );
        } else if key.ends_with("_endpoint")
            && !(url::Url::parse(v).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            }))
        {
            problem(
                key,
                "must be a URL such as `https://management.azure.com` (or `http://127.0.0.1:PORT` for a local test server)".into(),
            );
        }
    }
    match cloud {
        "none" => None,
        "aws" => Some(super::PatchCloud::Aws {
            imds: p.aws_imds_endpoint.clone(),
            ssm: p.aws_ssm_endpoint.clone(),
        }),
        "azure" => Some(super::PatchCloud::Azure {
            imds: p.azure_imds_endpoint.clone(),
            management: p
                .azure_management_endpoint
                .as_ref()
                .map(|m| m.trim_end_matches('/').to_owned()),
            // The managed identity the agent already uses for Blob.
            client_id: p.azure_client_id.clone().or_else(|| {
                sources.values().find_map(|s| match s {
                    SourceConfig::AzureBlob(a) => match &a.auth {
                        super::AzureAuth::ManagedIdentity { client_id } => client_id.clone(),
                        _ => None,
                    },
                    SourceConfig::S3(_) => None,
                })
            }),
        }),
        other => {
            let shown = if other.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                format!("`{other}` is not a cloud; ")
            } else {
                String::new()
            };
            problem(
                "cloud",
                format!("{shown}write \"aws\", \"azure\" or \"none\""),
            );
            None
        }
    }
}

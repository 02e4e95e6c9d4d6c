//! Validation: the raw configuration to a [`Config`], pure (no I/O), every
//! problem reported at once with its key path.

use super::azure::validate_azure;
use super::*;

mod drills;
use drills::drills;

pub(super) mod sources;
use sources::{anchor, canaries, sources};

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
    // Scratch space sits beside the ledger unless a drill says otherwise.
    let scratch = ledger_path.parent().map_or_else(
        || PathBuf::from(defaults::SCRATCH_DIR),
        |d| d.join("scratch"),
    );
    let drills = drills(
        raw.drills,
        &raw.gate,
        &sources,
        &canaries,
        (base, &scratch),
        &mut reporter(&mut problems),
    );
    let daemon = daemon(&raw.daemon, base, &mut problems);
    let sinks = sinks(raw.sinks, base, &mut problems);
    let posture_schedule = posture_schedule(&raw.posture, &mut problems);
    let outbox = outbox(&raw.outbox, &mut problems);
    let (patch_schedule, patch_policy) = patch(&raw.patch, &mut problems);
    let patch_cloud = patch_cloud(&raw.patch, &sources, &mut problems);
    let aws_backup = raw.aws_backup.map(|a| {
        aws_backup(
            a,
            &raw.gate,
            &sources,
            &drills,
            &canaries,
            (base, &scratch),
            &mut reporter(&mut problems),
        )
    });
    let config = Config {
        aws_backup,
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
        metrics_listen: raw.metrics_listen.as_deref().and_then(|a| a.parse().ok()),
    };
    if raw
        .metrics_listen
        .as_deref()
        .is_some_and(|a| a.parse::<std::net::SocketAddr>().is_err())
    {
        problems.push(Problem {
            path: "daemon.metrics_listen".into(),
            message: "must be an address and port, such as `0.0.0.0:9464` (every interface) or `127.0.0.1:9464`".into(),
        });
    }
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

/// `[patch] cloud` and the endpoints and identity that go with it.
/// `[aws_backup]`: its source must be an S3 source; its runs are recorded
/// as the drill `restore-testing` (a name no configured drill may take).
fn aws_backup(
    a: super::raw::RawAwsBackup,
    gate: &super::raw::RawGate,
    sources: &BTreeMap<String, SourceConfig>,
    drills: &BTreeMap<String, DrillConfig>,
    canaries: &BTreeMap<String, CanaryConfig>,
    paths: (&Path, &Path),
    problem: &mut impl FnMut(String, &str),
) -> super::AwsBackupConfig {
    let at = |k: &str| format!("aws_backup.{k}");
    let url_ok = |v: &str| {
        url::Url::parse(v).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        })
    };
    if !url_ok(&a.queue_url) {
        problem(at("queue_url"), "must be the queue's URL, such as `https://sqs.us-east-1.amazonaws.com/123456789012/restoreproof-restore-tests` (the EventBridge rule's target)");
    }
    for (k, v) in [
        ("sqs_endpoint", &a.sqs_endpoint),
        ("backup_endpoint", &a.backup_endpoint),
    ] {
        if v.as_deref().is_some_and(|v| !url_ok(v)) {
            problem(at(k), "must be a URL such as `https://vpce-…` (or `http://127.0.0.1:PORT` for a local test server)");
        }
    }
    match sources.get(&a.source) {
        Some(SourceConfig::S3(_)) => {}
        Some(_) => problem(
            at("source"),
            "must name an S3 source: AWS Backup restore testing restores S3 buckets",
        ),
        None => problem(at("source"), "names no source under [sources]"),
    }
    if drills.contains_key(super::RESTORE_TESTING) {
        problem(
            format!("drills.{}", super::RESTORE_TESTING),
            "this name is where restore tests are recorded when [aws_backup] is set: rename the drill",
        );
    }
    let window = a
        .validation_window
        .map_or(std::time::Duration::from_secs(3600), |w| w.0);
    if window < std::time::Duration::from_secs(600)
        || window > std::time::Duration::from_secs(168 * 3600)
    {
        problem(
            at("validation_window"),
            "must be between 10m and 168h (AWS Backup's validation window is 1–168 hours); set it to at most the restore testing plan's",
        );
    }
    let raw = super::raw::RawDrill {
        source: a.source.clone(),
        verify: a.verify,
        sample: Some(super::SampleSize::Percent(100.0)),
        ..super::raw::RawDrill::default()
    };
    let drill = drills::drill(
        super::RESTORE_TESTING,
        raw,
        gate,
        sources,
        canaries,
        paths,
        &mut |_, _| {},
    );
    super::AwsBackupConfig {
        queue_url: a.queue_url,
        source: a.source,
        validation_window: window,
        sqs_endpoint: a.sqs_endpoint,
        backup_endpoint: a.backup_endpoint,
        drill,
    }
}

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

//! Validation: the raw configuration to a [`Config`], pure (no I/O), every
//! problem reported at once with its key path.

use super::*;

/// Checks a raw config and returns every problem, or the validated config.
/// Pure: no file, network or environment access.
pub fn validate(raw: RawConfig, base: &Path) -> Result<Config, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |path: String, message: &str| {
        problems.push(Problem {
            path,
            message: message.to_owned(),
        })
    };

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

    let mut sources = BTreeMap::new();
    for (name, src) in raw.sources {
        let at = |k: &str| format!("sources.{name}.{k}");
        check_name(&mut problem, &format!("sources.{name}"), &name);
        match src {
            RawSource::S3(s) => {
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
                    }
                }
                if let Some(e) = &s.endpoint {
                    let parsed = azure_core::http::Url::parse(e);
                    if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() < 10 {
                        problem(at("endpoint"), "must be a URL starting with `https://` (or `http://` for a local test server)");
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
                    if c.access_key_id.expose().is_empty()
                        || c.secret_access_key.expose().is_empty()
                    {
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
                let posture = s.posture.validate(&at("posture"), "s3", &mut problem);
                sources.insert(
                    name.clone(),
                    SourceConfig::S3(S3SourceConfig {
                        posture,
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
                    }),
                );
            }
            RawSource::AzureBlob(a) => {
                let c = validate_azure(&name, a, base, &mut problem);
                sources.insert(name, SourceConfig::AzureBlob(c));
            }
        }
    }

    let mut drills = BTreeMap::new();
    for (name, d) in raw.drills {
        let at = |k: &str| format!("drills.{name}.{k}");
        check_name(&mut problem, &format!("drills.{name}"), &name);
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
        let restore_timeout =
            d.restore_timeout
                .map(|a| a.0)
                .unwrap_or(std::time::Duration::from_secs(
                    defaults::RESTORE_TIMEOUT_SECS,
                ));
        if restore_timeout.is_zero() {
            problem(at("restore_timeout"), "must be longer than 0s");
        }
        if d.copy_prefix
            .as_deref()
            .is_some_and(|p| p.is_empty() || p.starts_with('/') || !p.ends_with('/'))
        {
            problem(at("copy_prefix"), "must be a non-empty prefix ending in `/` (copies go under it and are deleted after the drill)");
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
        let strategy = d.strategy.unwrap_or(Strategy::Uniform);
        if d.seed.is_some() && strategy != Strategy::Uniform {
            problem(
                at("seed"),
                "only the `uniform` strategy uses a seed; remove it or set strategy = \"uniform\"",
            );
        }
        let schedule = match &d.schedule {
            Some(expr) => {
                let tz = d.timezone.as_deref().unwrap_or(defaults::TIMEZONE);
                let jitter = d.jitter.map(|a| a.0).unwrap_or_default();
                if jitter > std::time::Duration::from_secs(86_400) {
                    problem(at("jitter"), "must be at most 1d");
                }
                match Schedule::new(expr, tz, jitter, d.missed.unwrap_or(Missed::Skip)) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        let key = if parse_schedule(expr).is_err() {
                            "schedule"
                        } else {
                            "timezone"
                        };
                        problem(at(key), &e);
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
        };
        let f = &d.filter;
        if let (Some(min), Some(max)) = (f.min_size, f.max_size) {
            if min > max {
                problem(
                    at("filter.min_size"),
                    "is larger than filter.max_size, so nothing could be sampled",
                );
            }
        }
        let include_current = f.include_current.unwrap_or(true);
        let include_noncurrent = f.include_noncurrent.unwrap_or(true);
        if !include_current && !include_noncurrent {
            problem(at("filter"), "include_current and include_noncurrent are both false, so nothing could be sampled");
        }
        drills.insert(
            name.clone(),
            DrillConfig {
                name,
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
                    exclude_prefix: None,
                    deleted_only: false,
                },
            },
        );
    }

    let daemon = DaemonConfig {
        max_concurrent_drills: raw
            .daemon
            .max_concurrent_drills
            .unwrap_or(defaults::MAX_CONCURRENT_DRILLS),
        shutdown_timeout: raw.daemon.shutdown_timeout.map_or(
            std::time::Duration::from_secs(defaults::SHUTDOWN_TIMEOUT_SECS),
            |a| a.0,
        ),
        heartbeat_interval: raw.daemon.heartbeat_interval.map_or(
            std::time::Duration::from_secs(defaults::HEARTBEAT_SECS),
            |a| a.0,
        ),
        metrics_file: raw.daemon.metrics_file.as_deref().map(|p| resolve(base, p)),
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
    if raw.daemon.metrics_file.as_deref() == Some(Path::new("")) {
        problems.push(Problem {
            path: "daemon.metrics_file".into(),
            message: "must not be empty; remove it to write no metrics file".into(),
        });
    }

    let mut sinks = BTreeMap::new();
    for (name, raw_sink) in raw.sinks {
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
    let posture_schedule = match &raw.posture.schedule {
        Some(expr) => {
            let tz = raw
                .posture
                .timezone
                .as_deref()
                .unwrap_or(defaults::TIMEZONE);
            match Schedule::new(expr, tz, std::time::Duration::ZERO, Missed::Skip) {
                Ok(s) => Some(s),
                Err(e) => {
                    problems.push(Problem {
                        path: if parse_schedule(expr).is_err() {
                            "posture.schedule".into()
                        } else {
                            "posture.timezone".into()
                        },
                        message: e,
                    });
                    None
                }
            }
        }
        None => {
            if raw.posture.timezone.is_some() {
                problems.push(Problem {
                    path: "posture.timezone".into(),
                    message: "applies to a schedule; add `schedule = \"...\"` (cron) or remove it"
                        .into(),
                });
            }
            None
        }
    };
    let outbox = OutboxConfig {
        max_age: raw.outbox.max_age.map(|a| a.0),
        max_bytes: raw.outbox.max_bytes.map(|b| b.0),
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

    let config = Config {
        ledger_path,
        evidence_path,
        signing_key,
        daemon,
        outbox,
        posture_schedule,
        sinks,
        sources,
        drills,
    };
    distinct_paths(&mut problems, config.agent_paths().into_iter());
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
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

/// Validates an Azure Blob source; problems go to `problem`, and the returned
/// config is only used when there were none.
fn validate_azure(
    name: &str,
    a: RawAzureSource,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> AzureSourceConfig {
    let at = |k: &str| format!("sources.{name}.{k}");
    let account_url = match (&a.account_url, &a.account) {
        (Some(_), Some(_)) => {
            problem(
                at("account"),
                "conflicts with account_url; keep one of them",
            );
            String::new()
        }
        (Some(u), None) => {
            let u = u.trim_end_matches('/');
            let local = u.starts_with("http://127.0.0.1")
                || u.starts_with("http://localhost")
                || u.starts_with("http://[::1]");
            if !(u.starts_with("https://") || local) || u.contains('?') || u.len() < 12 {
                problem(at("account_url"), "must be the blob service URL, e.g. `https://ACCOUNT.blob.core.windows.net` (plain http only on loopback), without a container, path or query; put a SAS token in auth.sas_env or auth.sas_file");
            }
            u.to_owned()
        }
        (None, Some(acct)) => {
            if !(3..=24).contains(&acct.len())
                || !acct
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                problem(
                    at("account"),
                    "is not a storage account name (3-24 lowercase letters and digits)",
                );
            }
            let suffix = match a.cloud.as_deref().unwrap_or("public") {
                "public" => "core.windows.net",
                "china" => "core.chinacloudapi.cn",
                "usgovernment" => "core.usgovcloudapi.net",
                _ => {
                    problem(at("cloud"), "must be `public`, `china` or `usgovernment`");
                    "core.windows.net"
                }
            };
            format!("https://{acct}.blob.{suffix}")
        }
        (None, None) => {
            problem(at("account_url"), "is missing; set account_url = \"https://ACCOUNT.blob.core.windows.net\" or account = \"ACCOUNT\"");
            String::new()
        }
    };
    if a.cloud.is_some() && a.account.is_none() {
        problem(
            at("cloud"),
            "only applies with `account`; account_url already names the endpoint",
        );
    }
    let c = &a.container;
    let valid_container = (3..=63).contains(&c.len())
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        && !c.starts_with('-')
        && !c.ends_with('-')
        && !c.contains("--");
    if !valid_container {
        problem(
            at("container"),
            "is not a valid container name (3-63 lowercase letters, digits and single hyphens)",
        );
    }
    let prefix = a.prefix.unwrap_or_default();
    if prefix.starts_with('/') {
        problem(
            at("prefix"),
            "must not start with `/`: blob names have no leading slash",
        );
    }
    let auth = &a.auth;
    let secret = |file: &Option<PathBuf>,
                  env: Option<&String>,
                  what: &str,
                  problem: &mut dyn FnMut(String, &str)|
     -> SecretSource {
        let given = [file.is_some(), env.is_some(), auth.credential.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if given != 1 {
            problem(at("auth"), &format!("{what} needs exactly one source: a file, an environment variable or `credential` (a systemd credential name)"));
        }
        if let Some(f) = file {
            SecretSource::File(resolve(base, f))
        } else if let Some(e) = env {
            SecretSource::Env(e.clone())
        } else {
            SecretSource::SystemdCredential(auth.credential.clone().unwrap_or_default())
        }
    };
    let method = auth.method.as_deref().unwrap_or("managed_identity");
    let unexpected = |keys: &[(&str, bool)], problem: &mut dyn FnMut(String, &str)| {
        for (k, set) in keys {
            if *set {
                problem(
                    at(&format!("auth.{k}")),
                    &format!("does not apply to method `{method}`"),
                );
            }
        }
    };
    let auth = match method {
        "managed_identity" | "workload_identity" => {
            unexpected(
                &[
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                    (
                        "client_certificate_file",
                        auth.client_certificate_file.is_some(),
                    ),
                    ("credential", auth.credential.is_some()),
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            if method == "managed_identity" {
                AzureAuth::ManagedIdentity {
                    client_id: auth.client_id.clone(),
                }
            } else {
                AzureAuth::WorkloadIdentity {
                    client_id: auth.client_id.clone(),
                }
            }
        }
        "service_principal" => {
            unexpected(
                &[
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            if auth.tenant_id.is_none() || auth.client_id.is_none() {
                problem(
                    at("auth"),
                    "service_principal needs tenant_id and client_id",
                );
            }
            let tenant_id = auth.tenant_id.clone().unwrap_or_default();
            let client_id = auth.client_id.clone().unwrap_or_default();
            match &auth.client_certificate_file {
                Some(cert) => {
                    if auth.client_secret_file.is_some() || auth.credential.is_some() {
                        problem(
                            at("auth"),
                            "give either a client secret or a client certificate, not both",
                        );
                    }
                    AzureAuth::ServicePrincipalCertificate {
                        tenant_id,
                        client_id,
                        certificate: resolve(base, cert),
                        password: auth
                            .client_certificate_password_file
                            .as_deref()
                            .map(|p| resolve(base, p)),
                    }
                }
                None => {
                    if auth.client_certificate_password_file.is_some() {
                        problem(
                            at("auth.client_certificate_password_file"),
                            "needs client_certificate_file",
                        );
                    }
                    AzureAuth::ServicePrincipal {
                        tenant_id,
                        client_id,
                        secret: secret(
                            &auth.client_secret_file,
                            None,
                            "the client secret",
                            problem,
                        ),
                    }
                }
            }
        }
        "azure_cli" => {
            unexpected(
                &[
                    ("client_id", auth.client_id.is_some()),
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                    (
                        "client_certificate_file",
                        auth.client_certificate_file.is_some(),
                    ),
                    ("credential", auth.credential.is_some()),
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            AzureAuth::AzureCli
        }
        "sas" => {
            unexpected(
                &[
                    ("client_id", auth.client_id.is_some()),
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                ],
                problem,
            );
            AzureAuth::Sas(secret(
                &auth.sas_file,
                auth.sas_env.as_ref(),
                "the SAS token",
                problem,
            ))
        }
        other => {
            problem(
                at("auth.method"),
                &format!("`{other}` is not an authentication method; use managed_identity, workload_identity, service_principal, azure_cli or sas"),
            );
            AzureAuth::AzureCli
        }
    };
    if account_url.starts_with("http://") && !matches!(auth, AzureAuth::Sas(_)) {
        problem(
            at("account_url"),
            "plain http works only with a SAS token: token credentials are sent over https only",
        );
    }
    let posture = a.posture.validate(&at("posture"), "azure_blob", problem);
    AzureSourceConfig {
        account_url,
        container: a.container,
        prefix,
        allow_undelete: a.allow_undelete,
        auth,
        posture,
    }
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

//! Validation of `[sources.*]`, `[evidence.anchor]` and `[canaries.*]`.

use super::*;

/// `[sources.*]`.
pub(super) fn sources(
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
pub(super) fn s3_source(
    name: &str,
    s: RawS3Source,
    problem: &mut impl FnMut(String, &str),
) -> S3SourceConfig {
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
    let posture = s
        .posture
        .validate(&at("posture"), Provider::S3, &mut *problem);
    let protection = s
        .protection
        .as_ref()
        .map(|p| p.validate(&at("protection"), &mut *problem));
    let inventory = s
        .inventory
        .as_ref()
        .and_then(|i| inventory(i, &at, &mut *problem, None));
    let list_concurrency = list_concurrency(s.list_concurrency, &at, &mut *problem);
    S3SourceConfig {
        posture,
        protection,
        inventory,
        list_concurrency,
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

/// `list_concurrency`: 1 to 64 key prefixes listed at once (default 1).
fn list_concurrency(
    n: Option<u16>,
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, &str),
) -> usize {
    match n {
        None => 1,
        Some(n @ 1..=64) => usize::from(n),
        Some(_) => {
            problem(
                at("list_concurrency"),
                "must be 1 to 64 (key prefixes listed at once; 1 lists the bucket in one listing)",
            );
            1
        }
    }
}

/// `[sources.NAME.inventory]`: `location` an `s3://` URL of the report
/// destination, `max_age` at least an hour (default 8d).
pub(crate) fn inventory(
    raw: &crate::config::raw::RawInventory,
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, &str),
    azure_account_url: Option<&str>,
) -> Option<crate::config::InventoryConfig> {
    let max_age = raw.max_age.map_or(
        std::time::Duration::from_secs(defaults::INVENTORY_MAX_AGE_SECS),
        |a| a.0,
    );
    if max_age < std::time::Duration::from_secs(3600) {
        problem(
            at("inventory.max_age"),
            "must be at least 1h (S3 delivers reports daily or weekly)",
        );
    }
    if let Some(account_url) = azure_account_url {
        return azure_inventory(raw, account_url, max_age, at, problem);
    }
    if raw.rule.is_some() {
        problem(
            at("inventory.rule"),
            "is for Azure Blob Inventory: an S3 Inventory report is found by its location alone",
        );
    }
    if raw.profile.is_some() && raw.credentials.is_some() {
        problem(
            at("inventory.profile"),
            "and inventory.credentials both name who reads the reports: keep one",
        );
    }
    let access = crate::config::InventoryAccess {
        profile: raw.profile.clone(),
        credentials: raw
            .credentials
            .as_ref()
            .map(|c| crate::config::S3StaticCredentials {
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret_access_key.clone(),
                session_token: c.session_token.clone(),
            }),
        region: raw.region.clone(),
    };
    let Some((bucket, prefix)) = raw
        .location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(b, p)| valid_bucket_name(b) && p.ends_with('/') && !p.starts_with('/'))
    else {
        problem(
            at("inventory.location"),
            "must be the report destination as S3 writes it: s3://BUCKET/PREFIX/SOURCE-BUCKET/CONFIG-ID/ (ending with `/`)",
        );
        return None;
    };
    Some(crate::config::InventoryConfig {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        rule: None,
        max_age,
        access,
    })
}

/// Azure: `location` the destination container's URL in the source's own
/// account (Azure writes reports only there), `rule` the rule's name.
fn azure_inventory(
    raw: &crate::config::raw::RawInventory,
    account_url: &str,
    max_age: std::time::Duration,
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, &str),
) -> Option<crate::config::InventoryConfig> {
    let container = raw
        .location
        .strip_prefix(account_url.trim_end_matches('/'))
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.strip_suffix('/'))
        .filter(|c| !c.is_empty() && !c.contains('/'));
    let Some(container) = container else {
        problem(
            at("inventory.location"),
            &format!(
                "must be the inventory rule's destination container in the source's account: {}/CONTAINER/ (Azure writes reports only to a container of the same account)",
                account_url.trim_end_matches('/')
            ),
        );
        return None;
    };
    let rule = raw.rule.clone().filter(|r| {
        !r.is_empty()
            && r.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    if raw.profile.is_some() || raw.credentials.is_some() || raw.region.is_some() {
        problem(
            at("inventory"),
            "profile, credentials and region are for S3 inventory buckets: an Azure report is read with the source's own sign-in, in its own account",
        );
    }
    if rule.is_none() {
        problem(
            at("inventory.rule"),
            "must name the blob inventory rule whose reports are read (letters, digits, `-` and `_`, as Azure allows)",
        );
    }
    Some(crate::config::InventoryConfig {
        bucket: container.to_owned(),
        prefix: String::new(),
        rule,
        max_age,
        access: crate::config::InventoryAccess::default(),
    })
}

/// S3 is the kind whose write-once retention anchors are written with.
const fn s3_can_lock() -> bool {
    crate::config::Provider::S3.capabilities().object_lock
}

/// `[evidence.anchor]`: an S3 source with Object Lock.
pub(super) fn anchor(
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
            Some(SourceConfig::S3(s)) if s3_can_lock() => Some(AnchorConfig {
                source: a.source.clone(),
                key_prefix: format!("{}{prefix}", s.prefix),
                s3: s.clone(),
                retention,
            }),
            Some(other) => {
                problem(
                    "evidence.anchor.source".into(),
                    &format!(
                        "`{}` is {}, which has no write-once retention the agent writes: name an S3 source with Object Lock",
                        a.source,
                        other.kind()
                    ),
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
pub(super) fn canaries(
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

pub(super) fn valid_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

//! `[drills.NAME.provider_checksum]`: a `provider_checksum` drill's S3
//! Batch Operations settings, validated.

use super::raw::RawProviderChecksum;
use super::S3SourceConfig;

/// An S3 location, `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub bucket: String,
    /// Empty or ending in `/`.
    pub prefix: String,
}

impl Location {
    /// Reads `s3://bucket[/prefix]`.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{s}` is not an S3 location: write s3://BUCKET/PREFIX/"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{s}` names no bucket: write s3://BUCKET/PREFIX/"));
        }
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The default ceiling of a run's estimated cost, in US dollars.
pub const DEFAULT_MAX_COST: f64 = 10.0;

/// Where a drill's jobs read their manifest and write their report, the
/// role they run as, and the most a run may cost.
#[derive(Debug, Clone)]
pub struct ProviderChecksumConfig {
    pub account_id: String,
    pub role_arn: String,
    pub manifests: Location,
    pub reports: Location,
    /// US dollars; a run estimated above it is refused before any job.
    pub max_cost: f64,
    pub endpoint: Option<String>,
    /// The drill's source: the jobs act with its AWS settings.
    pub s3: S3SourceConfig,
}

/// Validates the table; `None` (with problems named) when it is unusable.
pub(super) fn validate(
    raw: &RawProviderChecksum,
    source: Option<&S3SourceConfig>,
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, &str),
) -> Option<ProviderChecksumConfig> {
    let mut ok = true;
    let mut need = |key: &str, v: &Option<String>, what: &str| -> String {
        match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => {
                problem(at(key), &format!("is required: {what}"));
                ok = false;
                String::new()
            }
        }
    };
    let account_id = need(
        "provider_checksum.account_id",
        &raw.account_id,
        "the 12-digit AWS account the jobs are created in",
    );
    let role_arn = need(
        "provider_checksum.role_arn",
        &raw.role_arn,
        "the IAM role S3 Batch Operations runs the jobs as (packaging/aws/iam-role-batch-checksum.json)",
    );
    let manifests = need(
        "provider_checksum.manifests",
        &raw.manifests,
        "s3://BUCKET/PREFIX/ where the jobs' manifests are written",
    );
    let reports = need(
        "provider_checksum.reports",
        &raw.reports,
        "s3://BUCKET/PREFIX/ where the jobs' completion reports are written",
    );
    let digits = account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit());
    if !(account_id.is_empty() || digits) {
        problem(
            at("provider_checksum.account_id"),
            "must be a 12-digit AWS account id",
        );
        ok = false;
    }
    let role = role_arn.starts_with("arn:aws") && role_arn.contains(":role/");
    if !(role_arn.is_empty() || role) {
        problem(
            at("provider_checksum.role_arn"),
            "must be an IAM role ARN, arn:aws:iam::ACCOUNT:role/NAME",
        );
        ok = false;
    }
    let mut location = |key: &str, v: &str| -> Option<Location> {
        if v.is_empty() {
            return None;
        }
        Location::parse(v).map_err(|e| problem(at(key), &e)).ok()
    };
    let manifests = location("provider_checksum.manifests", &manifests);
    let reports = location("provider_checksum.reports", &reports);
    let max_cost = raw.max_cost.unwrap_or(DEFAULT_MAX_COST);
    if !(max_cost.is_finite() && max_cost > 0.0) {
        problem(
            at("provider_checksum.max_cost"),
            "must be a positive amount of US dollars, e.g. 25.0",
        );
        ok = false;
    }
    Some(ProviderChecksumConfig {
        account_id,
        role_arn,
        manifests: manifests?,
        reports: reports?,
        max_cost,
        endpoint: raw.endpoint.clone().filter(|e| !e.is_empty()),
        s3: source?.clone(),
    })
    .filter(|_| ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_with_their_errors() {
        let l = Location::parse("s3://ops/restoreproof/reports").unwrap();
        assert_eq!(l.prefix, "restoreproof/reports/");
        assert!(Location::parse("ops/x").unwrap_err().contains("s3://"));
        assert!(Location::parse("s3:///x")
            .unwrap_err()
            .contains("no bucket"));
    }
}

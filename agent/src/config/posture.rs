//! Posture policy per source (`[sources.NAME.posture]`): the raw form, its
//! validation for each source kind, and the validated [`Policy`] the
//! posture checks judge a bucket or account against.

use super::choice::{choose, Choice, Choices};
use serde::Deserialize;

/// `[sources.NAME.posture]` as written.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPosture {
    /// `enabled` (default) or `any`.
    pub versioning: Option<Choice<Versioning>>,
    pub mfa_delete: Option<bool>,
    pub object_lock: Option<bool>,
    /// `any` (default: some encryption at rest), `kms` or `none`.
    pub encryption: Option<Choice<Encryption>>,
    pub replication: Option<bool>,
    pub min_noncurrent_retention_days: Option<u32>,
    pub public_access_block: Option<bool>,
    pub secure_transport: Option<bool>,
    pub access_logging: Option<bool>,
    /// Azure: blob soft delete must keep deleted blobs at least this long.
    pub min_soft_delete_days: Option<u32>,
    /// Azure: accepted redundancy SKUs, e.g. `["GRS", "GZRS", "RAGRS"]`.
    pub redundancy: Option<Vec<String>>,
    /// Azure: the account URL must be https.
    pub https_only: Option<bool>,
}

/// What a source must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub versioning: bool,
    pub mfa_delete: bool,
    pub object_lock: bool,
    pub encryption: Encryption,
    pub replication: bool,
    pub min_noncurrent_retention_days: u32,
    pub public_access_block: bool,
    pub secure_transport: bool,
    pub access_logging: bool,
    pub min_soft_delete_days: u32,
    /// Empty: any.
    pub redundancy: Vec<String>,
    pub https_only: bool,
}

/// Required encryption at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encryption {
    None,
    Any,
    Kms,
}

impl Choices for Encryption {
    const NOUN: &'static str = "a requirement";
    const NAMES: &'static [&'static str] = &["any", "kms", "none"];
}

/// Required versioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    /// Versioning must be enabled.
    Enabled,
    /// Not checked.
    Any,
}

impl Choices for Versioning {
    const NOUN: &'static str = "a requirement";
    const NAMES: &'static [&'static str] = &["enabled", "any"];
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            versioning: true,
            mfa_delete: false,
            object_lock: false,
            encryption: Encryption::Any,
            replication: false,
            min_noncurrent_retention_days: 7,
            public_access_block: true,
            secure_transport: true,
            access_logging: false,
            min_soft_delete_days: 7,
            redundancy: Vec::new(),
            https_only: true,
        }
    }
}

impl RawPosture {
    /// Validates for a source of `kind` (`s3` or `azure_blob`); problems go
    /// to `problem` with their key paths under `at`.
    pub fn validate(
        &self,
        at: &str,
        kind: super::Provider,
        problem: &mut dyn FnMut(String, &str),
    ) -> Policy {
        let s3_only = [
            ("mfa_delete", self.mfa_delete.is_some()),
            ("object_lock", self.object_lock.is_some()),
            ("replication", self.replication.is_some()),
            (
                "min_noncurrent_retention_days",
                self.min_noncurrent_retention_days.is_some(),
            ),
            ("public_access_block", self.public_access_block.is_some()),
            ("secure_transport", self.secure_transport.is_some()),
            ("access_logging", self.access_logging.is_some()),
        ];
        let azure_only = [
            ("min_soft_delete_days", self.min_soft_delete_days.is_some()),
            ("redundancy", self.redundancy.is_some()),
            ("https_only", self.https_only.is_some()),
        ];
        let (other, keys): (&str, &[(&str, bool)]) = match kind {
            super::Provider::S3 => ("azure_blob", &azure_only),
            super::Provider::AzureBlob => ("s3", &s3_only),
        };
        for (k, set) in keys {
            if *set {
                problem(
                    format!("{at}.{k}"),
                    &format!("applies to {other} sources only"),
                );
            }
        }
        if let Some(r) = &self.redundancy {
            const KNOWN: &[&str] = &["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"];
            for v in r {
                if !KNOWN.contains(&v.as_str()) {
                    problem(
                        format!("{at}.redundancy"),
                        &format!(
                            "`{v}` is not a redundancy; write some of {}",
                            KNOWN.join(", ")
                        ),
                    );
                }
            }
        }
        let d = Policy::default();
        // A name that is not known is reported; the default stands in for
        // it (the config is refused anyway).
        let versioning = choose(
            self.versioning.as_ref(),
            Versioning::Enabled,
            &format!("{at}.versioning"),
            problem,
        ) != Some(Versioning::Any);
        let encryption = choose(
            self.encryption.as_ref(),
            d.encryption,
            &format!("{at}.encryption"),
            problem,
        )
        .unwrap_or(d.encryption);
        Policy {
            versioning,
            mfa_delete: self.mfa_delete.unwrap_or(d.mfa_delete),
            object_lock: self.object_lock.unwrap_or(d.object_lock),
            encryption,
            replication: self.replication.unwrap_or(d.replication),
            min_noncurrent_retention_days: self
                .min_noncurrent_retention_days
                .unwrap_or(d.min_noncurrent_retention_days),
            public_access_block: self.public_access_block.unwrap_or(d.public_access_block),
            secure_transport: self.secure_transport.unwrap_or(d.secure_transport),
            access_logging: self.access_logging.unwrap_or(d.access_logging),
            min_soft_delete_days: self.min_soft_delete_days.unwrap_or(d.min_soft_delete_days),
            redundancy: self.redundancy.clone().unwrap_or_default(),
            https_only: self.https_only.unwrap_or(d.https_only),
        }
    }
}

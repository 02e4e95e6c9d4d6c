//! S3 bucket posture: read-only `GetBucket*` calls, each turned into a
//! finding. A call that is denied or that the endpoint does not implement
//! gives `unknown` with the reason, never `pass`.

use crate::config::S3SourceConfig;
use crate::posture::{
    Encryption, Finding, Out, Policy, Status, ACCESS, BACKUP, CRYPTO, LOGGING, NETWORK, REDUNDANCY,
};
use crate::source::ErrorClass;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::Client;

/// What a failed call means for a finding: the "not configured" code of
/// that call, or a reason to report `unknown`.
enum Failed {
    NotConfigured,
    Unknown(String),
}

fn failed<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    not_configured: &[&str],
    permission: &str,
) -> Failed {
    if not_configured.contains(&e.code().unwrap_or_default()) {
        return Failed::NotConfigured;
    }
    // The one classifier of S3 errors, shared with the source.
    let c = super::classify(e, "the call", None);
    Failed::Unknown(match c.class {
        ErrorClass::AccessDenied => format!("access denied: the identity needs {permission}"),
        ErrorClass::NotImplemented => "not supported by this endpoint".into(),
        _ => c.message,
    })
}

fn verdict(ok: bool) -> Status {
    if ok {
        Status::Pass
    } else {
        Status::Fail
    }
}

/// Checks one bucket against `p`.
pub async fn check(source: &str, c: &S3SourceConfig, p: &Policy) -> Vec<Finding> {
    let client: Client = super::client(c).await;
    let b = c.bucket.as_str();
    let mut o = Out::new(source);

    versioning(&client, b, p, &mut o).await;
    object_lock(&client, b, p, &mut o).await;
    encryption(&client, b, p, &mut o).await;
    replication(&client, b, p, &mut o).await;
    lifecycle(&client, b, p, &mut o).await;
    public_access_block(&client, b, p, &mut o).await;
    secure_transport(&client, b, p, &mut o).await;
    access_logging(&client, b, p, &mut o).await;
    o.findings
}

/// Versioning and MFA delete.
async fn versioning(client: &Client, b: &str, p: &Policy, o: &mut Out<'_>) {
    let req_v = if p.versioning { "enabled" } else { "any" };
    let req_mfa = if p.mfa_delete { "enabled" } else { "any" };
    match client.get_bucket_versioning().bucket(b).send().await {
        Ok(v) => {
            let status = v
                .status()
                .map_or("never enabled", |s| s.as_str())
                .to_owned();
            o.push("versioning", verdict(!p.versioning || status == "Enabled"), &status, req_v,
                (p.versioning && status != "Enabled").then(|| "without versioning, overwritten and deleted objects leave no recovery point".to_owned()),
                &[BACKUP]);
            let mfa = v.mfa_delete().map_or("Disabled", |m| m.as_str()).to_owned();
            o.push(
                "mfa_delete",
                verdict(!p.mfa_delete || mfa == "Enabled"),
                mfa,
                req_mfa,
                None,
                &[BACKUP, ACCESS],
            );
        }
        Err(e) => {
            let why = match failed(&e, &[], "s3:GetBucketVersioning") {
                Failed::Unknown(w) => w,
                Failed::NotConfigured => "no answer".into(),
            };
            o.unknown("versioning", req_v, why.clone(), &[BACKUP]);
            o.unknown("mfa_delete", req_mfa, why, &[BACKUP, ACCESS]);
        }
    }
}

/// Object Lock.
async fn object_lock(client: &Client, b: &str, p: &Policy, o: &mut Out<'_>) {
    let req = if p.object_lock { "enabled" } else { "any" };
    match client
        .get_object_lock_configuration()
        .bucket(b)
        .send()
        .await
    {
        Ok(l) => {
            let cfg = l.object_lock_configuration();
            let enabled = cfg
                .and_then(|c| c.object_lock_enabled())
                .is_some_and(|e| e.as_str() == "Enabled");
            let retention = cfg
                .and_then(|c| c.rule())
                .and_then(|r| r.default_retention())
                .map(|d| {
                    format!(
                        "; default retention {} {}",
                        d.mode().map_or("", |m| m.as_str()),
                        match (d.days(), d.years()) {
                            (Some(days), _) => format!("{days} days"),
                            (_, Some(y)) => format!("{y} years"),
                            _ => String::new(),
                        }
                    )
                })
                .unwrap_or_default();
            let observed = if enabled {
                format!("enabled{retention}")
            } else {
                "disabled".into()
            };
            o.push(
                "object_lock",
                verdict(!p.object_lock || enabled),
                observed,
                req,
                None,
                &[BACKUP],
            );
        }
        Err(e) => match failed(
            &e,
            &["ObjectLockConfigurationNotFoundError"],
            "s3:GetBucketObjectLockConfiguration",
        ) {
            Failed::NotConfigured => o.push(
                "object_lock",
                verdict(!p.object_lock),
                "not configured",
                req,
                None,
                &[BACKUP],
            ),
            Failed::Unknown(w) => o.unknown("object_lock", req, w, &[BACKUP]),
        },
    }
}

/// Default encryption.
async fn encryption(client: &Client, b: &str, p: &Policy, o: &mut Out<'_>) {
    let req = match p.encryption {
        Encryption::None => "any",
        Encryption::Any => "SSE-S3, SSE-KMS or DSSE-KMS",
        Encryption::Kms => "SSE-KMS or DSSE-KMS",
    };
    match client.get_bucket_encryption().bucket(b).send().await {
        Ok(enc) => {
            let rule = enc
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first());
            let alg = rule
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str().to_owned())
                .unwrap_or_default();
            let bucket_key = rule.and_then(|r| r.bucket_key_enabled()).unwrap_or(false);
            let name = match alg.as_str() {
                "AES256" => "SSE-S3",
                "aws:kms" => "SSE-KMS",
                "aws:kms:dsse" => "DSSE-KMS",
                "" => "none",
                other => other,
            };
            let ok = match p.encryption {
                Encryption::None => true,
                Encryption::Any => name != "none",
                Encryption::Kms => name == "SSE-KMS" || name == "DSSE-KMS",
            };
            o.push(
                "default_encryption",
                verdict(ok),
                format!("{name}{}", if bucket_key { " (bucket key)" } else { "" }),
                req,
                None,
                &[CRYPTO],
            );
        }
        Err(e) => match failed(
            &e,
            &["ServerSideEncryptionConfigurationNotFoundError"],
            "s3:GetEncryptionConfiguration",
        ) {
            Failed::NotConfigured => o.push(
                "default_encryption",
                verdict(p.encryption == Encryption::None),
                "none",
                req,
                None,
                &[CRYPTO],
            ),
            Failed::Unknown(w) => o.unknown("default_encryption", req, w, &[CRYPTO]),
        },
    }
}

/// Replication.
async fn replication(client: &Client, b: &str, p: &Policy, o: &mut Out<'_>) {
    let req = if p.replication {
        "at least one enabled rule"
    } else {
        "any"
    };
    match client.get_bucket_replication().bucket(b).send().await {
        Ok(r) => {
            let rules: Vec<String> = r
                .replication_configuration()
                .map(|c| c.rules())
                .unwrap_or_default()
                .iter()
                .filter(|rule| rule.status().as_str() == "Enabled")
                .map(|rule| {
                    format!(
                        "to {} (delete markers {}, existing objects {})",
                        rule.destination().map_or("?", |d| d.bucket()),
                        rule.delete_marker_replication()
                            .and_then(|d| d.status())
                            .map_or("not replicated", |s| s.as_str()),
                        rule.existing_object_replication()
                            .map_or("not replicated", |s| s.status().as_str()),
                    )
                })
                .collect();
            let observed = if rules.is_empty() {
                "no enabled rule".into()
            } else {
                rules.join("; ")
            };
            o.push(
                "replication",
                verdict(!p.replication || !rules.is_empty()),
                observed,
                req,
                None,
                &[REDUNDANCY],
            );
        }
        Err(e) => match failed(
            &e,
            &["ReplicationConfigurationNotFoundError"],
            "s3:GetReplicationConfiguration",
        ) {
            Failed::NotConfigured => o.push(
                "replication",
                verdict(!p.replication),
                "not configured",
                req,
                None,
                &[REDUNDANCY],
            ),
            Failed::Unknown(w) => o.unknown("replication", req, w, &[REDUNDANCY]),
        },
    }
}

/// Lifecycle: noncurrent versions must live long enough.
async fn lifecycle(client: &Client, b: &str, p: &Policy, o: &mut Out<'_>) {
    let req = format!(
        "noncurrent versions kept at least {} days",
        p.min_noncurrent_retention_days
    );
    match client
        .get_bucket_lifecycle_configuration()
        .bucket(b)
        .send()
        .await
    {
        Ok(l) => {
            let mut shortest: Option<i32> = None;
            let mut markers = false;
            for rule in l.rules() {
                if rule.status().as_str() != "Enabled" {
                    continue;
                }
                if let Some(d) = rule
                    .noncurrent_version_expiration()
                    .and_then(|n| n.noncurrent_days())
                {
                    shortest = Some(shortest.map_or(d, |s| s.min(d)));
                }
                markers |= rule
                    .expiration()
                    .and_then(|e| e.expired_object_delete_marker())
                    .unwrap_or(false);
            }
            let observed = format!(
                "{}{}",
                shortest.map_or("noncurrent versions never expire".to_owned(), |d| format!(
                    "noncurrent versions expire after {d} days"
                )),
                if markers {
                    "; expired delete markers are removed"
                } else {
                    ""
                }
            );
            let ok = shortest.is_none_or(|d| d >= 0 && d as u32 >= p.min_noncurrent_retention_days);
            o.push(
                "noncurrent_retention",
                verdict(ok),
                observed,
                req,
                (!ok).then(|| {
                    "recovery points are deleted before the required retention".to_owned()
                }),
                &[BACKUP],
            );
        }
        Err(e) => match failed(
            &e,
            &["NoSuchLifecycleConfiguration"],
            "s3:GetLifecycleConfiguration",
        ) {
            Failed::NotConfigured => o.push(
                "noncurrent_retention",
                Status::Pass,
                "no lifecycle rules: noncurrent versions never expire",
                req,
                None,
                &[BACKUP],
            ),
            Failed::Unknown(w) => o.unknown("noncurrent_retention", req, w, &[BACKUP]),
        },
    }
}

/// Public access block.
async fn public_access_block(client: &Client, b: &str, p: &Policy, o: &mut Out<'_>) {
    let req = if p.public_access_block {
        "all four settings on"
    } else {
        "any"
    };
    match client.get_public_access_block().bucket(b).send().await {
        Ok(pab) => {
            let c = pab.public_access_block_configuration();
            let all = c.is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            });
            o.push(
                "public_access_block",
                verdict(!p.public_access_block || all),
                if all { "all on" } else { "partly on" },
                req,
                None,
                &[ACCESS],
            );
        }
        Err(e) => match failed(
            &e,
            &["NoSuchPublicAccessBlockConfiguration"],
            "s3:GetBucketPublicAccessBlock",
        ) {
            Failed::NotConfigured => o.push(
                "public_access_block",
                verdict(!p.public_access_block),
                "not configured",
                req,
                None,
                &[ACCESS],
            ),
            Failed::Unknown(w) => o.unknown("public_access_block", req, w, &[ACCESS]),
        },
    }
}

/// A bucket policy that denies requests without TLS.
async fn secure_transport(client: &Client, b: &str, p: &Policy, o: &mut Out<'_>) {
    let req = if p.secure_transport {
        "a Deny on aws:SecureTransport = false"
    } else {
        "any"
    };
    match client.get_bucket_policy().bucket(b).send().await {
        Ok(pol) => {
            let denies = denies_plain_http(pol.policy().unwrap_or_default());
            o.push(
                "secure_transport",
                verdict(!p.secure_transport || denies),
                if denies {
                    "the bucket policy denies non-TLS requests"
                } else {
                    "the bucket policy does not deny non-TLS requests"
                },
                req,
                None,
                &[NETWORK, CRYPTO],
            );
        }
        Err(e) => match failed(&e, &["NoSuchBucketPolicy"], "s3:GetBucketPolicy") {
            Failed::NotConfigured => o.push(
                "secure_transport",
                verdict(!p.secure_transport),
                "no bucket policy",
                req,
                None,
                &[NETWORK, CRYPTO],
            ),
            Failed::Unknown(w) => o.unknown("secure_transport", req, w, &[NETWORK, CRYPTO]),
        },
    }
}

/// Server access logging.
async fn access_logging(client: &Client, b: &str, p: &Policy, o: &mut Out<'_>) {
    let req = if p.access_logging { "enabled" } else { "any" };
    match client.get_bucket_logging().bucket(b).send().await {
        Ok(l) => {
            let target = l
                .logging_enabled()
                .map(|e| format!("to s3://{}/{}", e.target_bucket(), e.target_prefix()));
            o.push(
                "access_logging",
                verdict(!p.access_logging || target.is_some()),
                target.unwrap_or_else(|| "disabled".into()),
                req,
                None,
                &[LOGGING],
            );
        }
        Err(e) => match failed(&e, &[], "s3:GetBucketLogging") {
            Failed::NotConfigured => o.push(
                "access_logging",
                verdict(!p.access_logging),
                "disabled",
                req,
                None,
                &[LOGGING],
            ),
            Failed::Unknown(w) => o.unknown("access_logging", req, w, &[LOGGING]),
        },
    }
}

/// A bucket policy, as far as `denies_plain_http` reads it.
#[derive(serde::Deserialize)]
struct BucketPolicy {
    #[serde(rename = "Statement", default)]
    statement: OneOrMany<PolicyStatement>,
}

/// IAM's "a value or a list of values".
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            Self::One(t) => std::slice::from_ref(t).iter(),
            Self::Many(v) => v.iter(),
        }
    }
}

#[derive(serde::Deserialize)]
struct PolicyStatement {
    #[serde(rename = "Effect", default)]
    effect: String,
    /// Condition operator → condition key → value(s).
    #[serde(rename = "Condition", default)]
    condition: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, OneOrMany<serde_json::Value>>,
    >,
}

/// Whether a bucket policy has a Deny statement conditioned on
/// `aws:SecureTransport` being false.
pub fn denies_plain_http(policy: &str) -> bool {
    let Ok(p) = serde_json::from_str::<BucketPolicy>(policy) else {
        return false;
    };
    let is_false = |v: &serde_json::Value| v == "false" || v == false;
    p.statement.iter().any(|s| {
        s.effect == "Deny"
            && ["Bool", "BoolIfExists"].iter().any(|op| {
                // Condition keys are IAM's data, not a schema: a map.
                s.condition
                    .get(*op)
                    .and_then(|c| c.get("aws:SecureTransport"))
                    .is_some_and(|v| v.iter().any(is_false))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secure_transport_deny_is_recognised_in_its_usual_shapes() {
        let deny = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TLS","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        assert!(denies_plain_http(deny));
        assert!(denies_plain_http(&deny.replace("\"false\"", "false")));
        assert!(!denies_plain_http(&deny.replace("Deny", "Allow")));
        assert!(!denies_plain_http(
            r#"{"Statement":{"Effect":"Deny","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}}"#
        ));
        assert!(!denies_plain_http("not json"));
    }
}

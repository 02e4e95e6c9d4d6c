//! Azure Blob posture: data-plane, read-only calls. Versioning, container
//! soft delete and customer-managed keys live in the management plane
//! (Azure Resource Manager), which the agent's data-plane identity does not
//! read: versioning is inferred from the listing, and the others are
//! `unknown` with that reason.

use super::{classify, service_client, AzureBlobSource};
use crate::config::AzureSourceConfig;
use crate::posture::{
    Encryption, Finding, Out, Policy, Status, ACCESS, BACKUP, CRYPTO, NETWORK, REDUNDANCY,
};
use crate::source::{BuildOptions, ErrorClass, ListItem, Lister, SourceError};
use azure_storage_blob::models::BlobServiceClientGetAccountInfoResultHeaders;
use futures::StreamExt;

fn verdict(ok: bool) -> Status {
    if ok {
        Status::Pass
    } else {
        Status::Fail
    }
}

fn why(e: &SourceError, permission: &str) -> String {
    match e.class {
        ErrorClass::AccessDenied => format!("access denied: the identity needs {permission}"),
        _ => e.to_string(),
    }
}

/// Checks one container and its account against `p`.
pub async fn check(source: &str, c: &AzureSourceConfig, p: &Policy) -> Vec<Finding> {
    let mut o = Out::new(source);
    let mut probes: Vec<String> = Vec::new();
    https_only(c, p, &mut o);
    soft_delete(source, c, p, &mut o, &mut probes).await;
    versions_and_encryption(source, c, p, &mut o, &mut probes).await;
    // What the identity could do, from the read-only probes above.
    o.push(
        "permissions",
        Status::Pass,
        probes.join("; "),
        "read-only probes",
        Some("only read calls were made; write and delete rights are not probed".into()),
        &[ACCESS],
    );
    o.findings
}

/// HTTPS only.
fn https_only(c: &AzureSourceConfig, p: &Policy, o: &mut Out<'_>) {
    let https = c.account_url.starts_with("https://");
    o.push(
        "https_only",
        verdict(!p.https_only || https),
        if https {
            "https".into()
        } else {
            format!("plain http ({})", c.account_url)
        },
        if p.https_only { "https" } else { "any" },
        None,
        &[NETWORK, CRYPTO],
    );
}

/// Blob soft delete, from the Blob service properties.
async fn soft_delete(
    source: &str,
    c: &AzureSourceConfig,
    p: &Policy,
    o: &mut Out<'_>,
    probes: &mut Vec<String>,
) {
    let req = format!("enabled, at least {} days", p.min_soft_delete_days);
    match service_client(source, c) {
        Ok(service) => {
            match service.get_properties(None).await {
                Ok(r) => match r.into_model() {
                    Ok(props) => {
                        probes.push("Blob service properties: allowed".into());
                        let policy = props.delete_retention_policy.unwrap_or_default();
                        let enabled = policy.enabled.unwrap_or(false);
                        let days = policy.days.unwrap_or(0).max(0) as u32;
                        let observed = if enabled {
                            format!("enabled, {days} days")
                        } else {
                            "disabled".into()
                        };
                        o.push(
                            "blob_soft_delete",
                            verdict(enabled && days >= p.min_soft_delete_days),
                            observed,
                            req,
                            None,
                            &[BACKUP],
                        );
                    }
                    Err(e) => o.unknown(
                        "blob_soft_delete",
                        req,
                        format!("unreadable answer: {e}"),
                        &[BACKUP],
                    ),
                },
                Err(e) => {
                    let e = classify(e, "Get Blob Service Properties");
                    probes.push(format!("Blob service properties: {}", e.class));
                    o.unknown("blob_soft_delete", req, why(&e, "read access to the Blob service properties (e.g. Storage Account Contributor, or an account SAS with srt=s)"), &[BACKUP]);
                }
            }
            // Redundancy, from Get Account Info.
            let req = if p.redundancy.is_empty() {
                "any".to_owned()
            } else {
                p.redundancy.join(" or ")
            };
            match service.get_account_info(None).await {
                Ok(info) => {
                    probes.push("account information: allowed".into());
                    let sku = info
                        .sku_name()
                        .ok()
                        .flatten()
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    let tier = sku.split('_').nth(1).unwrap_or_default().to_uppercase();
                    let ok = p.redundancy.is_empty()
                        || p.redundancy.iter().any(|r| r.eq_ignore_ascii_case(&tier));
                    o.push(
                        "redundancy",
                        verdict(ok),
                        if sku.is_empty() {
                            "not reported".into()
                        } else {
                            sku
                        },
                        req,
                        None,
                        &[REDUNDANCY],
                    );
                }
                Err(e) => {
                    let e = classify(e, "Get Account Info");
                    probes.push(format!("account information: {}", e.class));
                    o.unknown(
                        "redundancy",
                        req,
                        why(&e, "read access to the account information"),
                        &[REDUNDANCY],
                    );
                }
            }
        }
        Err(e) => {
            o.unknown("blob_soft_delete", req, e.to_string(), &[BACKUP]);
        }
    }
    o.unknown("container_soft_delete", "enabled", "set in the management plane (Azure Resource Manager), which the agent's data-plane identity does not read".into(), &[BACKUP]);
}

/// Versions, inferred from the listing; encryption at rest, from a blob.
async fn versions_and_encryption(
    source: &str,
    c: &AzureSourceConfig,
    p: &Policy,
    o: &mut Out<'_>,
    probes: &mut Vec<String>,
) {
    let req_v = if p.versioning {
        "versions exist"
    } else {
        "any"
    }
    .to_owned();
    let req_e = match p.encryption {
        Encryption::None => "any",
        Encryption::Any => "server-side encrypted",
        Encryption::Kms => "an encryption scope or customer-provided key",
    }
    .to_owned();
    match AzureBlobSource::build(
        source,
        c,
        BuildOptions {
            attempts: 1,
            timeout: std::time::Duration::from_secs(crate::config::defaults::RESTORE_TIMEOUT_SECS),
        },
    )
    .await
    {
        Ok(src) => {
            let (listed, versions, current, failed) = sample_listing(&src).await;
            match failed {
                Some(e) => {
                    probes.push(format!("list blobs: {}", e.class));
                    o.unknown(
                        "versioning",
                        req_v,
                        why(&e, "list access to the container"),
                        &[BACKUP],
                    );
                    o.unknown(
                        "encryption_at_rest",
                        req_e,
                        why(&e, "list access to the container"),
                        &[CRYPTO],
                    );
                }
                None => {
                    probes.push("list blobs: allowed".into());
                    let observed = format!("{versions} blob version(s) among {listed} listed item(s) (inferred from the listing: the versioning flag is in the management plane)");
                    o.push("versioning", verdict(!p.versioning || versions > 0), observed, req_v,
                        (p.versioning && versions == 0).then(|| "no blob versions were listed, so versioning is off or has never applied".into()), &[BACKUP]);
                    match current {
                        None => o.unknown(
                            "encryption_at_rest",
                            req_e,
                            "no current blob to read the properties of".into(),
                            &[CRYPTO],
                        ),
                        Some(cand) => encryption(&src, &cand, p, req_e, o, probes).await,
                    }
                }
            }
        }
        Err(e) => {
            o.unknown("versioning", req_v, e.to_string(), &[BACKUP]);
            o.unknown("encryption_at_rest", req_e, e.to_string(), &[CRYPTO]);
        }
    }
}

/// Lists at most 5,000 items: how many, how many are versions, the first
/// current base blob, and the error that ended the listing early.
async fn sample_listing(
    src: &AzureBlobSource,
) -> (
    u64,
    u64,
    Option<crate::source::Candidate>,
    Option<SourceError>,
) {
    let mut listed = 0u64;
    let mut versions = 0u64;
    let mut current = None;
    let mut list = src.list();
    let mut failed = None;
    while let Some(item) = list.next().await {
        match item {
            Ok(ListItem::Version(cand)) => {
                listed += 1;
                if cand.version_id.is_some() {
                    versions += 1;
                }
                if current.is_none()
                    && cand.is_latest
                    && cand.snapshot.is_none()
                    && cand.deleted.is_none()
                {
                    current = Some(cand);
                }
            }
            Ok(_) => listed += 1,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        if listed >= 5000 {
            break;
        }
    }
    drop(list);
    (listed, versions, current, failed)
}

/// Encryption at rest, from one current blob's properties.
async fn encryption(
    src: &AzureBlobSource,
    cand: &crate::source::Candidate,
    p: &Policy,
    req_e: String,
    o: &mut Out<'_>,
    probes: &mut Vec<String>,
) {
    match src.encryption(cand).await {
        Ok((encrypted, scope, cpk)) => {
            probes.push("read blob properties: allowed".into());
            let observed = format!(
                "{}{}{} (blob {})",
                if encrypted {
                    "server-side encrypted"
                } else {
                    "not encrypted"
                },
                scope
                    .as_deref()
                    .map(|s| format!(", encryption scope {s}"))
                    .unwrap_or_default(),
                if cpk { ", customer-provided key" } else { "" },
                cand.key
            );
            let ok = match p.encryption {
                Encryption::None => true,
                Encryption::Any => encrypted,
                Encryption::Kms => scope.is_some() || cpk,
            };
            o.push(
                "encryption_at_rest",
                verdict(ok),
                observed,
                req_e,
                None,
                &[CRYPTO],
            );
        }
        Err(e) => o.unknown(
            "encryption_at_rest",
            req_e,
            why(&e, "read access to blobs"),
            &[CRYPTO],
        ),
    }
}

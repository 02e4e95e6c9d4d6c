//! The ISO/IEC 27001 control matrix of a report (2013 and 2022 editions):
//! which controls the evidence of the period supports, and how far.

use super::*;
use crate::controls;

fn first_ids<'a>(ids: impl Iterator<Item = &'a String>) -> Vec<String> {
    ids.take(20).cloned().collect()
}

pub(super) fn controls(
    config: &Config,
    r: &Report,
    runs: &[RunRecord],
    samples: &[SampleRecord],
) -> Vec<ControlRow> {
    let mut rows = Vec::new();
    backup(config, r, runs, samples, &mut rows);
    logging(r, &mut rows);
    clock(runs, &mut rows);
    redundancy(r, &mut rows);
    crypto(samples, &mut rows);
    access(config, r, runs, &mut rows);
    patch(r, &mut rows);
    rows
}

/// Backup (restores tested).
fn backup(
    config: &Config,
    r: &Report,
    runs: &[RunRecord],
    samples: &[SampleRecord],
    rows: &mut Vec<ControlRow>,
) {
    let verified = samples.iter().filter(|s| s.verdict == "verified").count();
    let failed = r.failures.len();
    let configured: BTreeSet<&str> = config
        .drills
        .values()
        .filter(|d| r.source_filter.as_deref().is_none_or(|f| f == d.source))
        .map(|d| d.name.as_str())
        .collect();
    let ran: BTreeSet<&str> = runs.iter().map(|x| x.drill.as_str()).collect();
    let never: Vec<&str> = configured.difference(&ran).copied().collect();
    let (status, explanation) = if verified == 0 {
        (
            ControlStatus::NoEvidence,
            "no recovery point was restored and verified in the period".to_owned(),
        )
    } else if failed > 0 || !never.is_empty() {
        (
            ControlStatus::Partly,
            format!(
                "{verified} recovery point(s) restored and verified; {failed} failed{}",
                if never.is_empty() {
                    String::new()
                } else {
                    format!("; drills that never ran: {}", never.join(", "))
                }
            ),
        )
    } else {
        (
            ControlStatus::Evidenced,
            format!(
                "{verified} recovery point(s) restored and verified in {} run(s); none failed",
                runs.len()
            ),
        )
    };
    rows.push(ControlRow {
        iso_2013: controls::BACKUP.iso_2013,
        iso_2022: controls::BACKUP.iso_2022,
        title: controls::BACKUP.title,
        status,
        explanation,
        crosswalk: Vec::new(),
        evidence: first_ids(runs.iter().map(|x| &x.run_id)),
    });
}

/// Logging and protection of log information.
fn logging(r: &Report, rows: &mut Vec<ControlRow>) {
    let c = &r.chain;
    let (status, explanation) = if c.events == 0 {
        (ControlStatus::NoEvidence, "no evidence events".to_owned())
    } else if !c.intact {
        (
            ControlStatus::Partly,
            format!(
                "the evidence chain does NOT verify: {}",
                c.problems.join("; ")
            ),
        )
    } else if c.signed_checkpoints_in_period > 0 && !r.sinks.is_empty() {
        (ControlStatus::Evidenced, format!(
            "{} events in an intact hash chain; {} signed checkpoint(s) in the period; shipped to {}",
            c.events, c.signed_checkpoints_in_period, r.sinks.join(", ")
        ))
    } else {
        (
            ControlStatus::Partly,
            format!(
                "{} events in an intact hash chain; {} signed checkpoint(s); {}",
                c.events,
                c.signed_checkpoints_in_period,
                if r.sinks.is_empty() {
                    "no sink ships a copy off the host"
                } else {
                    "shipped off the host"
                }
            ),
        )
    };
    rows.push(ControlRow {
        iso_2013: controls::LOGGING_AND_PROTECTION.iso_2013,
        iso_2022: controls::LOGGING_AND_PROTECTION.iso_2022,
        title: controls::LOGGING_AND_PROTECTION.title,
        status,
        explanation,
        evidence: Vec::new(),
        crosswalk: Vec::new(),
    });
}

/// Clock synchronisation.
fn clock(runs: &[RunRecord], rows: &mut Vec<ControlRow>) {
    let clocks: Vec<Option<bool>> = runs
        .iter()
        .filter_map(|x| x.summary.as_ref())
        .map(|s| s.clock.synchronized)
        .collect();
    let synced = clocks.iter().filter(|c| **c == Some(true)).count();
    let (status, explanation) = if clocks.is_empty() {
        (
            ControlStatus::NoEvidence,
            "no run recorded the clock state".to_owned(),
        )
    } else if clocks.iter().all(Option::is_none) {
        (ControlStatus::NoEvidence, format!(
            "in all {} run(s) the host could not tell whether its clock is synchronised (no systemd-timesyncd, timedatectl or chronyc answered)",
            clocks.len()
        ))
    } else if synced == clocks.len() {
        (
            ControlStatus::Evidenced,
            format!(
                "the host clock was NTP-synchronised in all {} run(s)",
                clocks.len()
            ),
        )
    } else {
        (ControlStatus::Partly, format!(
            "the host clock was synchronised in {synced} of {} run(s); the others could not tell or were not",
            clocks.len()
        ))
    };
    rows.push(ControlRow {
        iso_2013: controls::CLOCK.iso_2013,
        iso_2022: controls::CLOCK.iso_2022,
        title: controls::CLOCK.title,
        status,
        explanation,
        evidence: Vec::new(),
        crosswalk: Vec::new(),
    });
}

/// Redundancy, from the latest posture findings: S3 replication rules,
/// Azure redundancy SKUs (anything but locally redundant).
fn redundancy(r: &Report, rows: &mut Vec<ControlRow>) {
    let replication: Vec<&PostureRow> = r
        .posture
        .iter()
        .filter(|p| p.check == "replication" || p.check == "redundancy")
        .collect();
    let replicated: Vec<&&PostureRow> = replication
        .iter()
        .filter(|p| {
            p.observed.starts_with("to ")
                || (p.check == "redundancy"
                    && p.observed.starts_with("Standard_")
                    && !p.observed.ends_with("LRS"))
                || (p.check == "redundancy" && p.observed.starts_with("Premium_ZRS"))
        })
        .collect();
    let (status, explanation) = if replication.is_empty() {
        (
            ControlStatus::NoEvidence,
            "posture checks (replication, redundancy SKU) did not run in the period".to_owned(),
        )
    } else if replicated.len() == replication.len() {
        (
            ControlStatus::Evidenced,
            format!(
                "every checked source replicates: {}",
                replicated
                    .iter()
                    .map(|p| format!("{} {}", p.source, p.observed))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else if replicated.is_empty() {
        (
            ControlStatus::NoEvidence,
            format!(
                "no checked source has a replication rule or a geo/zone-redundant SKU ({})",
                replication
                    .iter()
                    .map(|p| p.source.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else {
        (
            ControlStatus::Partly,
            format!(
                "{} of {} checked sources replicate",
                replicated.len(),
                replication.len()
            ),
        )
    };
    rows.push(ControlRow {
        iso_2013: controls::REDUNDANCY.iso_2013,
        iso_2022: controls::REDUNDANCY.iso_2022,
        title: controls::REDUNDANCY.title,
        status,
        explanation,
        crosswalk: Vec::new(),
        evidence: first_ids(replication.iter().map(|p| &p.event_id)),
    });
}

/// Cryptography: encryption at rest reported per restored object.
fn crypto(samples: &[SampleRecord], rows: &mut Vec<ControlRow>) {
    let restored: Vec<&SampleRecord> = samples.iter().filter(|s| s.bytes > 0).collect();
    let encrypted: Vec<&&SampleRecord> = restored
        .iter()
        .filter(|s| s.server_side_encryption.is_some())
        .collect();
    let (status, explanation) = if restored.is_empty() {
        (
            ControlStatus::NoEvidence,
            "no object was restored".to_owned(),
        )
    } else if encrypted.len() == restored.len() {
        (
            ControlStatus::Evidenced,
            format!(
                "the provider reported encryption at rest for all {} restored object(s)",
                restored.len()
            ),
        )
    } else if encrypted.is_empty() {
        (
            ControlStatus::NoEvidence,
            format!(
                "the provider reported no encryption at rest for the {} restored object(s)",
                restored.len()
            ),
        )
    } else {
        (
            ControlStatus::Partly,
            format!(
                "the provider reported encryption at rest for {} of {} restored object(s)",
                encrypted.len(),
                restored.len()
            ),
        )
    };
    rows.push(ControlRow {
        iso_2013: controls::CRYPTO.iso_2013,
        iso_2022: controls::CRYPTO.iso_2022,
        title: controls::CRYPTO.title,
        status,
        explanation,
        crosswalk: Vec::new(),
        evidence: first_ids(encrypted.iter().map(|s| &s.event_id)),
    });
}

/// Access: the identity used and the permissions exercised.
fn access(config: &Config, r: &Report, runs: &[RunRecord], rows: &mut Vec<ControlRow>) {
    let methods: Vec<String> = config
        .sources
        .iter()
        .filter(|(n, _)| r.source_filter.as_deref().is_none_or(|f| f == n.as_str()))
        .map(|(n, s)| format!("{n}: {}", auth_of(s)))
        .collect();
    rows.push(ControlRow {
        iso_2013: controls::ACCESS_CONTROL.iso_2013,
        iso_2022: controls::ACCESS_CONTROL.iso_2022,
        title: controls::ACCESS_CONTROL.title,
        status: if runs.is_empty() { ControlStatus::NoEvidence } else { ControlStatus::Partly },
        explanation: format!(
            "identities: {}; permissions exercised: list versions, read object versions and their attributes (packaging/aws/iam-policy-drill.json is the least-privilege policy); the identity's other rights are not checked",
            if methods.is_empty() { "none configured".into() } else { methods.join("; ") }
        ),
        evidence: Vec::new(),
        crosswalk: Vec::new(),
    });
}

/// Patch state of the agent's host: technical vulnerabilities and
/// software on operational systems.
fn patch(r: &Report, rows: &mut Vec<ControlRow>) {
    let patch: Vec<&super::PostureRow> = r
        .posture
        .iter()
        .filter(|p| p.check.starts_with("patch."))
        .collect();
    for (control, checks) in [
        (
            crate::patch::VULNERABILITIES,
            &["patch.security_updates", "patch.reboot"][..],
        ),
        (
            crate::patch::SOFTWARE,
            &["patch.security_updates", "patch.automatic_updates"][..],
        ),
    ] {
        let mine: Vec<&&super::PostureRow> = patch
            .iter()
            .filter(|p| checks.contains(&p.check.as_str()))
            .collect();
        let (status, explanation) = if mine.is_empty() {
            (
                ControlStatus::NoEvidence,
                "no patch check ran in the period (`restoreproof patch`, or [patch] schedule in the service)".to_owned(),
            )
        } else {
            let text = mine
                .iter()
                .map(|p| format!("{} {} on {}: {}", p.check, p.status, p.source, p.observed))
                .collect::<Vec<_>>()
                .join("; ");
            if mine.iter().all(|p| p.status == "pass") {
                (ControlStatus::Evidenced, text)
            } else {
                (ControlStatus::Partly, text)
            }
        };
        rows.push(ControlRow {
            iso_2013: control.iso_2013,
            iso_2022: control.iso_2022,
            title: control.title,
            status,
            explanation,
            evidence: mine.iter().map(|p| p.event_id.clone()).take(20).collect(),
            crosswalk: Vec::new(),
        });
    }
}

fn auth_of(s: &crate::config::SourceConfig) -> String {
    use crate::config::{AzureAuth, SourceConfig};
    match s {
        SourceConfig::S3(c) => match (&c.credentials, &c.profile) {
            (Some(_), _) => "S3 with static keys from the config's secret sources".into(),
            (None, Some(p)) => format!("S3 with AWS profile `{p}`"),
            (None, None) => "S3 with the AWS default credential chain (instance role, web identity, environment)".into(),
        },
        SourceConfig::AzureBlob(a) => match &a.auth {
            AzureAuth::ManagedIdentity { .. } => "Azure managed identity".into(),
            AzureAuth::WorkloadIdentity { .. } => "Azure workload identity".into(),
            AzureAuth::ServicePrincipal { client_id, .. }
            | AzureAuth::ServicePrincipalCertificate { client_id, .. } => {
                format!("Azure service principal {client_id}")
            }
            AzureAuth::AzureCli => "Azure CLI sign-in".into(),
            AzureAuth::Sas(_) => "Azure SAS token".into(),
        },
    }
}

//! The cloud's findings beside the host's: `patch.cloud`, `patch.cloud_patch_mode`
//! and `patch.agreement`.

use super::*;

/// The cloud's findings: `patch.cloud` (the cloud's own verdict),
/// `patch.cloud_patch_mode` (Azure: who patches the VM) and
/// `patch.agreement` (the host's and the cloud's views agree).
pub(super) fn judge_cloud(
    state: &HostState,
    view: &cloud::CloudView,
    policy: &Policy,
    finding: MakeFinding<'_>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let (service, required) = match view.provider {
        "azure" => (
            "Azure Update Manager",
            "Update Manager's latest assessment finds no security or critical update",
        ),
        _ => (
            "Systems Manager",
            "Systems Manager reports no missing or failed patches",
        ),
    };
    let unknown = |why: &str| {
        finding(
            "patch.cloud",
            Status::Unknown,
            "not readable".into(),
            required.into(),
            Some(why.to_owned()),
        )
    };
    // Whether the cloud sees security patches missing, when it says.
    let mut cloud_missing: Option<u64> = None;
    if let Some(why) = &view.unknown {
        out.push(unknown(why));
    }
    if let Some(c) = &view.aws {
        cloud_missing = Some(c.missing);
        out.push(systems_manager(c, required, finding));
    }
    if let Some(z) = &view.azure {
        let (verdict, missing) = update_manager(z, required, finding, &unknown);
        cloud_missing = missing;
        out.push(verdict);
        out.push(azure_patch_mode(state, z, policy, finding));
    }
    if let Some(missing) = cloud_missing {
        out.push(agreement(state, missing, service, finding));
    }
    out
}

/// `patch.cloud` from Systems Manager's patch state.
fn systems_manager(c: &cloud::AwsPatchState, required: &str, finding: MakeFinding<'_>) -> Finding {
    finding(
        "patch.cloud",
        if c.missing == 0 && c.failed == 0 { Status::Pass } else { Status::Fail },
        format!(
            "Systems Manager ({} in {}, baseline {}): {} missing, {} failed, {} installed pending reboot; last {} ended {}",
            c.instance_id,
            c.region,
            c.baseline_id.as_deref().unwrap_or("?"),
            c.missing,
            c.failed,
            c.installed_pending_reboot,
            c.operation.as_deref().unwrap_or("operation"),
            c.operation_end.as_deref().unwrap_or("?")
        ),
        required.into(),
        None,
    )
}

/// `patch.cloud` from Update Manager's latest assessment, and the security
/// updates it finds missing when it completed.
fn update_manager(
    z: &cloud::AzurePatchState,
    required: &str,
    finding: MakeFinding<'_>,
    unknown: &dyn Fn(&str) -> Finding,
) -> (Finding, Option<u64>) {
    match (&z.assessment, &z.assessment_unknown) {
        (Some(a), _) if matches!(a.status.as_str(), "Succeeded" | "CompletedWithWarnings") => (
            finding(
                "patch.cloud",
                if a.security == 0 { Status::Pass } else { Status::Fail },
                format!(
                    "Azure Update Manager ({}): {} security/critical and {} other update(s) available{}; assessed {} ({})",
                    z.vm.rsplit('/').next().unwrap_or(&z.vm),
                    a.security,
                    a.other,
                    if a.reboot_pending == Some(true) { ", reboot pending" } else { "" },
                    a.assessed_at.as_deref().unwrap_or("?"),
                    a.status
                ),
                required.into(),
                None,
            ),
            Some(a.security),
        ),
        (Some(a), _) => (
            unknown(&format!(
                "Update Manager's latest assessment did not complete (status {}){}",
                a.status,
                a.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )),
            None,
        ),
        (None, why) => (unknown(why.as_deref().unwrap_or("no assessment")), None),
    }
}

/// `patch.cloud_patch_mode`: who installs the VM's updates.
fn azure_patch_mode(
    state: &HostState,
    z: &cloud::AzurePatchState,
    policy: &Policy,
    finding: MakeFinding<'_>,
) -> Finding {
    let automatic = matches!(
        z.patch_mode.as_deref(),
        Some("AutomaticByPlatform" | "AutomaticByOS")
    );
    let host_automatic = state.automatic_updates.as_ref().is_some_and(|a| a.enabled);
    let required = if policy.automatic_updates {
        "security updates installed automatically (patchMode AutomaticByPlatform, or the host's own tool)"
    } else {
        "recorded (not required by the policy)"
    };
    match (&z.patch_mode, &z.patch_mode_unknown) {
        (Some(mode), _) => finding(
            "patch.cloud_patch_mode",
            if automatic || host_automatic || !policy.automatic_updates {
                Status::Pass
            } else {
                Status::Fail
            },
            format!(
                "patchMode {mode}{}, assessmentMode {}",
                match mode.as_str() {
                    "AutomaticByPlatform" =>
                        " (Azure installs updates in the VM's maintenance window)",
                    "AutomaticByOS" => " (Windows Automatic Updates)",
                    "Manual" => " (nobody installs updates automatically)",
                    _ => " (the image's own configuration decides)",
                },
                z.assessment_mode.as_deref().unwrap_or("ImageDefault")
            ),
            required.into(),
            (!automatic && host_automatic && policy.automatic_updates).then(|| {
                "Azure does not patch this VM, but the host's own automatic updates do".to_owned()
            }),
        ),
        (None, why) => finding(
            "patch.cloud_patch_mode",
            Status::Unknown,
            "not readable".into(),
            required.into(),
            why.clone(),
        ),
    }
}

/// `patch.agreement`: the host and the cloud both see security updates
/// pending, or neither does.
fn agreement(state: &HostState, missing: u64, service: &str, finding: MakeFinding<'_>) -> Finding {
    let host_clean = state.pending_security == 0;
    let cloud_clean = missing == 0;
    finding(
        "patch.agreement",
        if host_clean == cloud_clean { Status::Pass } else { Status::Fail },
        format!(
            "the host sees {} pending security update(s), {service} {missing} missing",
            state.pending_security
        ),
        "the host's and the cloud's views agree".into(),
        (host_clean != cloud_clean).then(|| {
            format!("the host and {service} disagree: check the patch baseline or classification and the host's package sources")
        }),
    )
}

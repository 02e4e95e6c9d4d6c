//! Azure Update Manager's view of this VM, beside the host's own: the VM
//! from Azure's instance metadata service, its latest patch assessment from
//! Azure Resource Graph (`patchassessmentresources`, the summary Update
//! Manager keeps for 7 days) and its `patchMode` from Resource Manager, with
//! the managed identity the agent already uses for Blob. Read-only: the
//! agent never starts an assessment (`assessPatches` is an action).
//!
//! Resource Manager and Resource Graph are two REST calls with a bearer
//! token from `azure_identity`; the official Rust SDK has no client for
//! either, so they go through the HTTP client the sinks already use.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What Update Manager and Resource Manager say of the VM.
#[derive(Debug, Clone, Serialize)]
pub struct AzurePatchState {
    /// The VM's resource id.
    pub vm: String,
    pub location: String,
    /// `properties.osProfile.*Configuration.patchSettings`:
    /// `AutomaticByPlatform`, `ImageDefault` (Linux), `AutomaticByOS`,
    /// `Manual` (Windows).
    pub patch_mode: Option<String>,
    /// `AutomaticByPlatform` (periodic assessment) or `ImageDefault`.
    pub assessment_mode: Option<String>,
    /// Why the patch mode could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_mode_unknown: Option<String>,
    pub assessment: Option<Assessment>,
    /// Why there is no assessment to judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment_unknown: Option<String>,
}

/// The latest patch assessment's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// `Succeeded`, `CompletedWithWarnings`, `Failed`, `InProgress`, …
    pub status: String,
    pub assessed_at: Option<String>,
    /// Security and critical updates available.
    pub security: u64,
    /// Every other classification.
    pub other: u64,
    pub reboot_pending: Option<bool>,
    /// `APT`, `YUM`, `Zypper`, `WU`, …
    pub patch_service: Option<String>,
    /// The assessment's own error, when it failed.
    pub error: Option<String>,
}

/// Where to ask (defaults: the link-local IMDS, Azure's public cloud) and
/// which managed identity to ask as.
#[derive(Debug, Clone, Default)]
pub struct AzureEndpoints {
    pub imds: Option<String>,
    pub management: Option<String>,
    pub client_id: Option<String>,
}

/// Reading the VM (its `patchMode`).
pub const VM_READ: &str = "Microsoft.Compute/virtualMachines/read";
/// Reading the latest patch assessment.
pub const ASSESSMENT_READ: &str =
    "Microsoft.Compute/virtualMachines/patchAssessmentResults/latest/read";
/// Querying Azure Resource Graph.
pub const GRAPH_READ: &str = "Microsoft.ResourceGraph/resources/read";
/// The least-privilege role that grants all three.
pub const ROLE_FILE: &str = "packaging/azure/role-patch.json";

const IMDS: &str = "http://169.254.169.254";
const MANAGEMENT: &str = "https://management.azure.com";
const IMDS_API: &str = "2021-02-01";
const COMPUTE_API: &str = "2024-07-01";
const GRAPH_API: &str = "2022-10-01";

/// Asks for the VM, a token, its patch mode and its latest assessment.
/// `Err` says why the whole view is unknown; a part that could not be read
/// is stated in the state (`patch_mode_unknown`, `assessment_unknown`).
///
/// # Errors
/// A message for the `unknown` finding.
pub async fn view(endpoints: &AzureEndpoints) -> Result<AzurePatchState, String> {
    let management = endpoints
        .management
        .as_deref()
        .unwrap_or(MANAGEMENT)
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("restoreproof/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    let vm = this_vm(endpoints).await?;
    let bearer = format!("Bearer {}", token(endpoints, &management).await?);
    let mut state = AzurePatchState {
        vm: vm.resource_id.clone(),
        location: vm.location.clone(),
        patch_mode: None,
        assessment_mode: None,
        patch_mode_unknown: None,
        assessment: None,
        assessment_unknown: None,
    };
    match patch_settings(&http, &management, &bearer, &vm.resource_id).await {
        Ok(settings) => {
            // Resource Manager leaves patchSettings out when nothing was
            // set: the image's default.
            state.patch_mode = Some(settings.patch_mode.unwrap_or_else(|| "ImageDefault".into()));
            state.assessment_mode = settings.assessment_mode;
        }
        Err(e) => state.patch_mode_unknown = Some(e),
    }
    match latest_assessment(&http, &management, &bearer, &vm).await {
        Ok(Some(a)) => state.assessment = Some(a),
        Ok(None) => {
            state.assessment_unknown = Some(format!(
                "Azure Resource Graph holds no patch assessment of this VM from the last 7 days: turn on periodic assessment (assessmentMode AutomaticByPlatform), or grant {ASSESSMENT_READ} to the managed identity ({ROLE_FILE})"
            ));
        }
        Err(e) => state.assessment_unknown = Some(e),
    }
    Ok(state)
}

/// The VM this agent runs on, as Azure's instance metadata service says
/// (`/metadata/instance/compute`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ThisVm {
    resource_id: String,
    subscription_id: String,
    location: String,
}

/// Asks IMDS which VM this is. IMDS is link-local: never through a proxy.
async fn this_vm(endpoints: &AzureEndpoints) -> Result<ThisVm, String> {
    let imds_http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    let imds = endpoints
        .imds
        .as_deref()
        .unwrap_or(IMDS)
        .trim_end_matches('/');
    let vm: ThisVm = imds_http
        .get(format!(
            "{imds}/metadata/instance/compute?api-version={IMDS_API}&format=json"
        ))
        .header("Metadata", "true")
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| {
            format!("Azure's instance metadata service did not answer (is this an Azure VM?): {e}")
        })?
        .bytes()
        .await
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("Azure's instance metadata service gave no compute metadata: {e}"))?;
    // The id goes into a Resource Graph query: only the characters Azure
    // resource ids consist of.
    if !vm.resource_id.starts_with("/subscriptions/")
        || vm.subscription_id.is_empty()
        || !vm
            .resource_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-()".contains(c))
    {
        return Err(format!(
            "Azure's instance metadata service gave no usable VM resource id ({:?})",
            vm.resource_id
        ));
    }
    Ok(vm)
}

/// A token for Resource Manager from the VM's managed identity.
async fn token(endpoints: &AzureEndpoints, management: &str) -> Result<String, String> {
    let options = azure_identity::ManagedIdentityCredentialOptions {
        user_assigned_id: endpoints
            .client_id
            .clone()
            .map(azure_identity::UserAssignedId::ClientId),
        ..Default::default()
    };
    let scope = format!("{management}/.default");
    let token = async {
        use azure_core::credentials::TokenCredential as _;
        let credential = azure_identity::ManagedIdentityCredential::new(Some(options))?;
        credential.get_token(&[scope.as_str()], None).await
    }
    .await
    .map_err(|e| {
        format!(
            "the managed identity gave no token for Azure Resource Manager ({e}): assign a managed identity to the VM{}",
            if endpoints.client_id.is_some() {
                " and check patch.azure_client_id"
            } else {
                " (or set patch.azure_client_id for a user-assigned one)"
            }
        )
    })?;
    Ok(token.token.secret().to_owned())
}

/// A VM as Resource Manager describes it, as far as patching goes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VmResource {
    properties: VmProperties,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VmProperties {
    os_profile: OsProfile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OsProfile {
    linux_configuration: Option<OsConfiguration>,
    windows_configuration: Option<OsConfiguration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OsConfiguration {
    patch_settings: PatchSettings,
}

/// `properties.osProfile.*Configuration.patchSettings`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PatchSettings {
    patch_mode: Option<String>,
    assessment_mode: Option<String>,
}

/// The VM's patch settings from Resource Manager.
async fn patch_settings(
    http: &reqwest::Client,
    management: &str,
    bearer: &str,
    vm: &str,
) -> Result<PatchSettings, String> {
    let r = http
        .get(format!("{management}{vm}?api-version={COMPUTE_API}"))
        .header("Authorization", bearer)
        .send()
        .await;
    let body: VmResource = answer(r, VM_READ, "Resource Manager").await?;
    let os = body.properties.os_profile;
    Ok(os
        .linux_configuration
        .or(os.windows_configuration)
        .map(|c| c.patch_settings)
        .unwrap_or_default())
}

/// A Resource Graph answer: one row per resource found.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GraphAnswer {
    data: Vec<GraphRow>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GraphRow {
    properties: AssessmentResult,
}

/// A `patchassessmentresults` resource's properties.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AssessmentResult {
    status: Option<String>,
    last_modified_date_time: Option<String>,
    reboot_pending: Option<bool>,
    patch_service_used: Option<String>,
    available_patch_count_by_classification: std::collections::BTreeMap<String, u64>,
    error_details: Option<ErrorDetails>,
}

/// An Azure error: a message, or one in its details.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorDetails {
    code: String,
    message: Option<String>,
    details: Vec<ErrorDetails>,
}

impl ErrorDetails {
    fn text(&self) -> Option<&str> {
        self.message
            .as_deref()
            .or_else(|| self.details.first().and_then(|d| d.message.as_deref()))
    }
}

/// The latest assessment's summary from Resource Graph; `None` when it
/// holds none.
async fn latest_assessment(
    http: &reqwest::Client,
    management: &str,
    bearer: &str,
    vm: &ThisVm,
) -> Result<Option<Assessment>, String> {
    let query = format!(
        "patchassessmentresources | where type =~ 'microsoft.compute/virtualmachines/patchassessmentresults' | where id startswith '{}/' | project id, properties",
        vm.resource_id
    );
    let r = http
        .post(format!(
            "{management}/providers/Microsoft.ResourceGraph/resources?api-version={GRAPH_API}"
        ))
        .header("Authorization", bearer)
        .header("Content-Type", "application/json")
        .body(
            serde_json::json!({ "subscriptions": [vm.subscription_id], "query": query })
                .to_string(),
        )
        .send()
        .await;
    let body: GraphAnswer = answer(r, GRAPH_READ, "Azure Resource Graph").await?;
    Ok(body
        .data
        .into_iter()
        .next()
        .map(|row| assessment(row.properties)))
}

/// An Azure error answer (`{"error": {"code", "message"}}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorAnswer {
    error: ErrorDetails,
}

/// A JSON body, or why not: a refusal names the permission to grant.
async fn answer<T: DeserializeOwned + Default>(
    r: Result<reqwest::Response, reqwest::Error>,
    permission: &str,
    service: &str,
) -> Result<T, String> {
    let r = r.map_err(|e| format!("{service} did not answer: {e}"))?;
    let status = r.status();
    let body = r.bytes().await.unwrap_or_default();
    if status.is_success() {
        return Ok(serde_json::from_slice(&body).unwrap_or_default());
    }
    let e = serde_json::from_slice::<ErrorAnswer>(&body)
        .unwrap_or_default()
        .error;
    if status == reqwest::StatusCode::FORBIDDEN || e.code == "AuthorizationFailed" {
        Err(format!(
            "{service} refused {permission}: grant it to the VM's managed identity ({ROLE_FILE})"
        ))
    } else {
        Err(format!(
            "{service} answered {status}{}",
            e.message
                .map(|m| format!(": {} {m}", e.code))
                .unwrap_or_default()
        ))
    }
}

fn assessment(p: AssessmentResult) -> Assessment {
    let counts = &p.available_patch_count_by_classification;
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    let security = n("security") + n("critical");
    let all: u64 = counts.values().sum();
    Assessment {
        status: p.status.unwrap_or_else(|| "Unknown".into()),
        assessed_at: p.last_modified_date_time,
        security,
        other: all - security,
        reboot_pending: p.reboot_pending,
        patch_service: p.patch_service_used,
        error: p
            .error_details
            .as_ref()
            .and_then(ErrorDetails::text)
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> AssessmentResult {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn an_assessment_counts_security_and_critical_apart_from_the_rest() {
        let a = assessment(parse(serde_json::json!({
            "status": "Succeeded",
            "lastModifiedDateTime": "2026-12-05T04:12:09.83Z",
            "rebootPending": false,
            "patchServiceUsed": "APT",
            "osType": "Linux",
            "availablePatchCountByClassification": { "security": 2, "critical": 1, "other": 7 }
        })));
        assert_eq!((a.security, a.other), (3, 7));
        assert_eq!(a.patch_service.as_deref(), Some("APT"));
        assert_eq!(a.reboot_pending, Some(false));
        let windows = assessment(parse(serde_json::json!({
            "status": "Failed",
            "errorDetails": { "code": "1", "message": "Windows Update is disabled" },
            "availablePatchCountByClassification": { "security": 0, "critical": 0, "definition": 4, "updateRollup": 1 }
        })));
        assert_eq!((windows.security, windows.other), (0, 5));
        assert_eq!(windows.error.as_deref(), Some("Windows Update is disabled"));
    }
}

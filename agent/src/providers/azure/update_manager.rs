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

use serde::Serialize;
use serde_json::Value;
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
#[expect(
    clippy::too_many_lines,
    reason = "to be split into named steps, as drill/run.rs is"
)]
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

    // The VM this agent runs on. IMDS is link-local: never through a proxy.
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
    let compute: Value = imds_http
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
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let vm = text(&compute, "resourceId");
    let subscription = text(&compute, "subscriptionId");
    // The id goes into a Resource Graph query: only the characters Azure
    // resource ids consist of.
    if !vm.starts_with("/subscriptions/")
        || subscription.is_empty()
        || !vm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-()".contains(c))
    {
        return Err(format!(
            "Azure's instance metadata service gave no usable VM resource id ({vm:?})"
        ));
    }

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
    let bearer = format!("Bearer {}", token.token.secret());

    let mut state = AzurePatchState {
        vm: vm.clone(),
        location: text(&compute, "location"),
        patch_mode: None,
        assessment_mode: None,
        patch_mode_unknown: None,
        assessment: None,
        assessment_unknown: None,
    };

    // The VM's patch settings.
    let r = http
        .get(format!("{management}{vm}?api-version={COMPUTE_API}"))
        .header("Authorization", &bearer)
        .send()
        .await;
    match answer(r, VM_READ, "Resource Manager").await {
        Ok(body) => {
            let os = &body["properties"]["osProfile"];
            let settings = if os["linuxConfiguration"].is_object() {
                &os["linuxConfiguration"]["patchSettings"]
            } else {
                &os["windowsConfiguration"]["patchSettings"]
            };
            state.patch_mode = settings["patchMode"].as_str().map(str::to_owned);
            state.assessment_mode = settings["assessmentMode"].as_str().map(str::to_owned);
            if state.patch_mode.is_none() {
                // Resource Manager leaves patchSettings out when nothing was
                // set: the image's default.
                state.patch_mode = Some("ImageDefault".into());
            }
        }
        Err(e) => state.patch_mode_unknown = Some(e),
    }

    // The latest assessment's summary.
    let query = format!(
        "patchassessmentresources | where type =~ 'microsoft.compute/virtualmachines/patchassessmentresults' | where id startswith '{vm}/' | project id, properties"
    );
    let r = http
        .post(format!(
            "{management}/providers/Microsoft.ResourceGraph/resources?api-version={GRAPH_API}"
        ))
        .header("Authorization", &bearer)
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ "subscriptions": [subscription], "query": query }).to_string())
        .send()
        .await;
    match answer(r, GRAPH_READ, "Azure Resource Graph").await {
        Ok(body) => match body["data"].as_array().and_then(|d| d.first()) {
            Some(row) => state.assessment = Some(assessment(&row["properties"])),
            None => {
                state.assessment_unknown = Some(format!(
                    "Azure Resource Graph holds no patch assessment of this VM from the last 7 days: turn on periodic assessment (assessmentMode AutomaticByPlatform), or grant {ASSESSMENT_READ} to the managed identity ({ROLE_FILE})"
                ))
            }
        },
        Err(e) => state.assessment_unknown = Some(e),
    }
    Ok(state)
}

/// A JSON body, or why not: a refusal names the permission to grant.
async fn answer(
    r: Result<reqwest::Response, reqwest::Error>,
    permission: &str,
    service: &str,
) -> Result<Value, String> {
    let r = r.map_err(|e| format!("{service} did not answer: {e}"))?;
    let status = r.status();
    let body: Value = r
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let code = body["error"]["code"].as_str().unwrap_or_default();
    if status == reqwest::StatusCode::FORBIDDEN || code == "AuthorizationFailed" {
        Err(format!(
            "{service} refused {permission}: grant it to the VM's managed identity ({ROLE_FILE})"
        ))
    } else {
        Err(format!(
            "{service} answered {status}{}",
            body["error"]["message"]
                .as_str()
                .map(|m| format!(": {code} {m}"))
                .unwrap_or_default()
        ))
    }
}

fn assessment(p: &Value) -> Assessment {
    let counts = &p["availablePatchCountByClassification"];
    let n = |k: &str| counts[k].as_u64().unwrap_or(0);
    let security = n("security") + n("critical");
    let all: u64 = counts
        .as_object()
        .map(|o| o.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let error = &p["errorDetails"];
    Assessment {
        status: p["status"].as_str().unwrap_or("Unknown").to_owned(),
        assessed_at: p["lastModifiedDateTime"].as_str().map(str::to_owned),
        security,
        other: all - security,
        reboot_pending: p["rebootPending"].as_bool(),
        patch_service: p["patchServiceUsed"].as_str().map(str::to_owned),
        error: error["message"]
            .as_str()
            .or_else(|| error["details"][0]["message"].as_str())
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assessment_counts_security_and_critical_apart_from_the_rest() {
        let a = assessment(&serde_json::json!({
            "status": "Succeeded",
            "lastModifiedDateTime": "2026-12-05T04:12:09.83Z",
            "rebootPending": false,
            "patchServiceUsed": "APT",
            "osType": "Linux",
            "availablePatchCountByClassification": { "security": 2, "critical": 1, "other": 7 }
        }));
        assert_eq!((a.security, a.other), (3, 7));
        assert_eq!(a.patch_service.as_deref(), Some("APT"));
        assert_eq!(a.reboot_pending, Some(false));
        let windows = assessment(&serde_json::json!({
            "status": "Failed",
            "errorDetails": { "code": "1", "message": "Windows Update is disabled" },
            "availablePatchCountByClassification": { "security": 0, "critical": 0, "definition": 4, "updateRollup": 1 }
        }));
        assert_eq!((windows.security, windows.other), (0, 5));
        assert_eq!(windows.error.as_deref(), Some("Windows Update is disabled"));
    }
}

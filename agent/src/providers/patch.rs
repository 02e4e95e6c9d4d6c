//! The cloud's view of this instance's patch state, beside the host's own:
//! AWS Systems Manager Patch Manager in [`super::s3::ssm`], Azure Update
//! Manager in [`super::azure::update_manager`]; [`view`] asks the one the
//! configuration names.

pub use super::azure::update_manager::AzurePatchState;
use super::azure::update_manager::{self, AzureEndpoints};
use crate::config::PatchCloud;
use serde::Serialize;

/// What a cloud says of this machine, or why it could not be asked.
#[derive(Debug, Clone, Serialize)]
pub struct CloudView {
    /// `aws` or `azure`.
    pub provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsPatchState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzurePatchState>,
    /// Why the cloud's view is unknown, with what to grant or fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

impl CloudView {
    fn new(provider: &'static str) -> Self {
        Self {
            provider,
            aws: None,
            azure: None,
            unknown: None,
        }
    }

    /// AWS's answer.
    pub fn aws(r: Result<AwsPatchState, String>) -> Self {
        let mut v = Self::new("aws");
        match r {
            Ok(s) => v.aws = Some(s),
            Err(e) => v.unknown = Some(e),
        }
        v
    }

    /// Azure's answer.
    pub fn azure(r: Result<AzurePatchState, String>) -> Self {
        let mut v = Self::new("azure");
        match r {
            Ok(s) => v.azure = Some(s),
            Err(e) => v.unknown = Some(e),
        }
        v
    }
}

/// What Systems Manager says of the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsPatchState {
    pub instance_id: String,
    pub region: String,
    pub baseline_id: Option<String>,
    pub missing: u64,
    pub failed: u64,
    pub installed_pending_reboot: u64,
    /// The last patch operation (`Scan` or `Install`) and when it ended.
    pub operation: Option<String>,
    pub operation_end: Option<String>,
}

/// Where to ask (defaults: the link-local IMDS and the region's endpoint).
#[derive(Debug, Clone, Default)]
pub struct AwsEndpoints {
    pub imds: Option<String>,
    pub ssm: Option<String>,
}

/// The cloud's view `config` asks for (`[patch] cloud`), or `None`.
pub async fn view(config: &crate::config::Config) -> Option<CloudView> {
    Some(match config.patch_cloud.clone()? {
        PatchCloud::Aws { imds, ssm } => {
            CloudView::aws(super::s3::ssm::aws(&AwsEndpoints { imds, ssm }).await)
        }
        PatchCloud::Azure {
            imds,
            management,
            client_id,
        } => CloudView::azure(
            update_manager::view(&AzureEndpoints {
                imds,
                management,
                client_id,
            })
            .await,
        ),
    })
}

//! AWS Systems Manager Patch Manager: the cloud's view of this instance's
//! patch state (`DescribeInstancePatchStates` for the instance id from the
//! instance metadata service, IMDSv2), with the AWS credential chain the
//! agent already uses.

use crate::providers::patch::{AwsEndpoints, AwsPatchState};

/// The permission a denied call needs.
pub const SSM_PERMISSION: &str = "ssm:DescribeInstancePatchStates";

/// Asks IMDS for the instance, then Systems Manager for its patch state.
/// `Err` says why the cloud's view is unknown (and what to grant).
///
/// # Errors
/// A message for the `unknown` finding.
pub async fn aws(endpoints: &AwsEndpoints) -> Result<AwsPatchState, String> {
    use aws_sdk_ssm::error::ProvideErrorMetadata as _;
    let mut imds = aws_config::imds::Client::builder();
    if let Some(e) = &endpoints.imds {
        imds = imds
            .endpoint(e)
            .map_err(|e| format!("the instance metadata endpoint is not a URL: {e}"))?;
    }
    let imds = imds.build();
    let instance_id = imds
        .get("/latest/meta-data/instance-id")
        .await
        .map_err(|e| {
            format!("the instance metadata service did not answer (is this an EC2 instance?): {e}")
        })?
        .as_ref()
        .to_owned();
    let region = imds
        .get("/latest/meta-data/placement/region")
        .await
        .map_err(|e| format!("the instance metadata service gave no region: {e}"))?
        .as_ref()
        .to_owned();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.clone()))
        .load()
        .await;
    let mut conf = aws_sdk_ssm::config::Builder::from(&shared);
    if let Some(e) = &endpoints.ssm {
        conf = conf.endpoint_url(e);
    }
    let ssm = aws_sdk_ssm::Client::from_conf(conf.build());
    let out = ssm
        .describe_instance_patch_states()
        .instance_ids(&instance_id)
        .send()
        .await
        .map_err(|e| match e.code() {
            Some("AccessDeniedException") => format!(
                "Systems Manager refused {SSM_PERMISSION}: grant it to the instance's role (packaging/aws/iam-policy-patch.json)"
            ),
            _ => format!(
                "Systems Manager did not answer DescribeInstancePatchStates: {}",
                aws_sdk_ssm::error::DisplayErrorContext(&e)
            ),
        })?;
    let Some(s) = out.instance_patch_states().first() else {
        return Err(format!(
            "Systems Manager has no patch state for {instance_id}: the instance is not managed by Patch Manager, or no scan ran"
        ));
    };
    let time = |t: Option<&aws_sdk_ssm::primitives::DateTime>| {
        t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
    };
    Ok(AwsPatchState {
        instance_id,
        region,
        baseline_id: Some(s.baseline_id().to_owned()),
        missing: s.missing_count().max(0) as u64,
        failed: s.failed_count().max(0) as u64,
        installed_pending_reboot: s.installed_pending_reboot_count().unwrap_or(0).max(0) as u64,
        operation: Some(s.operation().as_str().to_owned()),
        operation_end: time(Some(s.operation_end_time())),
    })
}

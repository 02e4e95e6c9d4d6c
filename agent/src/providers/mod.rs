//! Each cloud in one place. A provider module holds everything that speaks
//! to one cloud: its [`crate::source`] implementation (listing and
//! restoring recovery points), the classification of its errors, its
//! posture checks, and the other calls the agent makes to it (S3: anchors
//! in Object Lock, Systems Manager's patch view; Azure: Update Manager's
//! patch view). Nothing outside `providers/` imports a cloud SDK crate
//! (`scripts/module-graph` checks it), and nothing here is imported by the
//! provider-neutral layers it implements (`source`, `posture`, `patch`):
//! callers pick a provider through the functions below.

pub mod azure;
pub mod patch;
pub mod s3;

use crate::config::{Config, SourceConfig};
use crate::posture::Finding;
use crate::source::{BuildOptions, RecoverySource, SourceError};
use std::sync::Arc;

/// Builds the source named `name` from its configuration.
///
/// # Errors
/// A `Config`-class error when credentials or settings cannot be loaded.
pub async fn build(
    name: &str,
    config: &SourceConfig,
    options: BuildOptions,
) -> Result<Arc<dyn RecoverySource>, SourceError> {
    match config {
        SourceConfig::S3(c) => Ok(Arc::new(s3::S3Source::build(name, c, options).await?)),
        SourceConfig::AzureBlob(c) => Ok(Arc::new(
            azure::AzureBlobSource::build(name, c, options).await?,
        )),
    }
}

/// Checks the posture of every source (or only `only`): the findings, and
/// the sources that could not be checked.
pub async fn check_posture(config: &Config, only: Option<&str>) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let not_checked = Vec::new();
    for (name, source) in &config.sources {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        match source {
            SourceConfig::S3(c) => findings.extend(s3::posture::check(name, c, &c.posture).await),
            SourceConfig::AzureBlob(c) => {
                findings.extend(azure::posture::check(name, c, &c.posture).await);
            }
        }
    }
    (findings, not_checked)
}

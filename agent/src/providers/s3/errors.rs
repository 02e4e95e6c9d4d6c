//! S3 errors classified once, where they enter: retryable or not, and for
//! the verdict (not found, access denied, throttled, network, timeout, a
//! call the store lacks ...), with the whole cause and what to do.

use super::*;

/// Classifies an SDK error once, where it enters. `bucket` adds a hint to
/// bucket-level failures.
pub(crate) fn classify<E>(
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    what: &str,
    bucket: Option<&str>,
) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let detail = error_chain(err);
    let (class, hint) = match err {
        SdkError::TimeoutError(_) => (ErrorClass::Timeout, String::new()),
        SdkError::DispatchFailure(d) if d.is_timeout() => (ErrorClass::Timeout, String::new()),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
            if detail.contains("credential") || detail.contains("identity") =>
        {
            return SourceError::new(
                ErrorClass::Config,
                format!(
                    "{what} failed: no usable AWS credentials in the chain (environment, shared profile, web identity, container, instance metadata); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or `profile` in the source, use web identity, or run on an instance with a role"
                ),
            );
        }
        SdkError::DispatchFailure(d) if d.is_io() || d.is_other() => (ErrorClass::Network, String::new()),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => (ErrorClass::Config, String::new()),
        _ => match (code.as_deref(), status) {
            (Some("NoSuchBucket"), _) => (
                ErrorClass::Config,
                format!("; the bucket `{}` does not exist: check `bucket` (and `endpoint`/`region`) in the source", bucket.unwrap_or("?")),
            ),
            (Some("NoSuchKey" | "NoSuchVersion" | "NotFound"), _) | (_, Some(404)) => (ErrorClass::NotFound, String::new()),
            (Some("InvalidObjectState"), _) => (
                ErrorClass::Archived,
                "; the version is in an archive storage class and needs a restore request first".to_owned(),
            ),
            (Some("SignatureDoesNotMatch"), _) => (
                ErrorClass::Credentials,
                "; the store refused the request's signature: check the secret access key the agent uses (source `credentials`, AWS_SECRET_ACCESS_KEY or the profile) and this host's clock (signatures older than 15 minutes are refused; run chrony or systemd-timesyncd)".to_owned(),
            ),
            (Some("InvalidAccessKeyId"), _) => (
                ErrorClass::Credentials,
                "; the store does not know the access key id: check the access key the agent uses (source `credentials`, AWS_ACCESS_KEY_ID or the profile) and, for temporary credentials, this host's clock".to_owned(),
            ),
            (Some("RequestTimeTooSkewed"), _) => (
                ErrorClass::Credentials,
                "; this host's clock differs from the store's by more than 15 minutes: synchronise it (chrony or systemd-timesyncd)".to_owned(),
            ),
            (Some("ExpiredToken" | "TokenRefreshRequired"), _) => (
                ErrorClass::Credentials,
                "; the session token has expired: renew the temporary credentials, and check this host's clock".to_owned(),
            ),
            (Some("AccessDenied" | "AllAccessDisabled"), _) | (_, Some(401 | 403)) => (
                ErrorClass::AccessDenied,
                "; the agent's identity needs s3:ListBucketVersions, s3:GetObjectVersion and s3:GetObjectVersionAttributes on this bucket".to_owned(),
            ),
            (Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequests"), _) | (_, Some(429 | 503)) => {
                (ErrorClass::Throttled, String::new())
            }
            (Some("RequestTimeout"), _) => (ErrorClass::Timeout, String::new()),
            (Some("NotImplemented" | "MethodNotAllowed"), _) | (_, Some(501 | 405)) => (
                ErrorClass::NotImplemented,
                "; the store does not implement this call".to_owned(),
            ),
            (_, Some(s)) if s >= 500 => (ErrorClass::Server, String::new()),
            // A success status that still failed: the response could not be
            // understood, and asking again gets the same answer.
            (_, Some(200..=299)) => (ErrorClass::Protocol, String::new()),
            (_, Some(301 | 307)) => (
                ErrorClass::Config,
                "; the bucket lives in another region: set `region` in the source".to_owned(),
            ),
            _ if matches!(err, SdkError::ResponseError(_)) => (ErrorClass::Protocol, String::new()),
            _ => (ErrorClass::Server, String::new()),
        },
    };
    let status_text = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    SourceError::new(class, format!("{what} failed{status_text}: {detail}{hint}"))
}

/// The messages of an error and its sources, joined with ": ", skipping a
/// source whose message the previous one already contains.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let m = e.to_string();
        if !m.is_empty() && !parts.last().is_some_and(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = e.source();
    }
    parts.join(": ")
}

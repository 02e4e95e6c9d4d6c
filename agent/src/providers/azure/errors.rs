//! Azure errors classified once, where they enter: the HTTP status and
//! Azure's error code to an `ErrorClass` with a message for people.

use super::*;

pub(crate) fn classify(err: azure_core::Error, what: &str) -> SourceError {
    let (class, hint) = match err.kind() {
        ErrorKind::HttpResponse { status, error_code, .. } => {
            let code = error_code.as_deref().unwrap_or_default();
            let status = u16::from(*status);
            match (code, status) {
                ("ContainerNotFound", _) => (
                    ErrorClass::Config,
                    "; the container does not exist: check `container` and `account_url` in the source",
                ),
                ("ResourceNotFound", _) if what.starts_with("List Blobs") => (
                    ErrorClass::Config,
                    "; the account or container does not exist: check `account_url` and `container`",
                ),
                ("BlobArchived", _) => (ErrorClass::Archived, "; the blob is in the Archive tier and needs rehydration"),
                (_, 404) => (ErrorClass::NotFound, ""),
                ("AuthenticationFailed", _) => (
                    ErrorClass::Credentials,
                    "; the service could not authenticate the request: check the SAS token (its signature, start and expiry) or the credential, and this host's clock",
                ),
                (_, 401 | 403) => (
                    ErrorClass::AccessDenied,
                    "; the agent's identity needs the Storage Blob Data Reader role on this container (Storage Blob Data Contributor for copy and undelete drills), or a SAS with read and list permissions",
                ),
                ("ServerBusy", _) | (_, 429 | 503) => (ErrorClass::Throttled, ""),
                ("OperationTimedOut", _) | (_, 408) => (ErrorClass::Timeout, ""),
                (_, s) if s >= 500 => (ErrorClass::Server, ""),
                _ => (ErrorClass::Protocol, ""),
            }
        }
        ErrorKind::Connection => (
            ErrorClass::Network,
            "; check `account_url` (the account name) and the network",
        ),
        ErrorKind::Io => (ErrorClass::Network, ""),
        ErrorKind::Credential => (
            ErrorClass::Config,
            "; no usable Azure credential: check the source's auth settings (managed identity on this host, workload identity variables, the service principal secret, `az login`, or the SAS token)",
        ),
        ErrorKind::DataConversion => (ErrorClass::Protocol, ""),
        _ => (ErrorClass::Server, ""),
    };
    let status = err
        .http_status()
        .map(|s| format!(" (HTTP {})", u16::from(s)))
        .unwrap_or_default();
    // The whole cause, its lines joined: the first line alone often says
    // only "HttpResponse(...)" and drops the service's error code.
    let mut cause: Vec<String> = Vec::new();
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = at {
        let m = e.to_string();
        let m = m
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        if !m.is_empty() && !cause.iter().any(|c| c.contains(&m)) {
            cause.push(m);
        }
        at = e.source();
    }
    SourceError::new(
        class,
        format!("{what} failed{status}: {}{hint}", cause.join(": ")),
    )
}

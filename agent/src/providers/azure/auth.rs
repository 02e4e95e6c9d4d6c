//! Authentication to Azure Blob: managed identity, workload identity,
//! service principal (secret or certificate), Azure CLI, or a SAS token;
//! and the account's service client the posture checks use.

use super::*;

/// Reads a secret from where the config says it lives.
pub(super) fn read_secret(s: &SecretSource, what: &str) -> Result<String, SourceError> {
    s.read(what)
        .map(|v| v.expose().to_owned())
        .map_err(|m| SourceError::new(ErrorClass::Config, m.to_string()))
}

/// Classifies an Azure SDK error once, where it enters.
/// The credential a source's auth names; a SAS goes into `url`'s query.
pub(super) fn credential(
    name: &str,
    c: &AzureSourceConfig,
    url: &mut Url,
) -> Result<Option<Arc<dyn TokenCredential>>, SourceError> {
    let config = |m: String| SourceError::new(ErrorClass::Config, m);
    let sdk = |e: azure_core::Error| {
        config(format!(
            "cannot set up the Azure credential for source `{name}`: {e}"
        ))
    };
    let credential: Option<Arc<dyn TokenCredential>> = match &c.auth {
        AzureAuth::Sas(secret) => {
            let sas = read_secret(secret, "the SAS token")?;
            url.set_query(Some(sas.trim_start_matches('?')));
            None
        }
        AzureAuth::ManagedIdentity { client_id } => {
            let options = azure_identity::ManagedIdentityCredentialOptions {
                user_assigned_id: client_id
                    .clone()
                    .map(azure_identity::UserAssignedId::ClientId),
                client_options: no_retries(),
            };
            Some(azure_identity::ManagedIdentityCredential::new(Some(options)).map_err(sdk)?)
        }
        AzureAuth::WorkloadIdentity { client_id } => {
            let options = azure_identity::WorkloadIdentityCredentialOptions {
                client_id: client_id.clone(),
                credential_options: azure_identity::ClientAssertionCredentialOptions {
                    client_options: no_retries(),
                },
                ..Default::default()
            };
            Some(azure_identity::WorkloadIdentityCredential::new(Some(options)).map_err(sdk)?)
        }
        AzureAuth::ServicePrincipal {
            tenant_id,
            client_id,
            secret,
        } => {
            let value = read_secret(secret, "the client secret")?;
            Some(
                azure_identity::ClientSecretCredential::new(
                    tenant_id,
                    client_id.clone(),
                    value.into(),
                    Some(azure_identity::ClientSecretCredentialOptions {
                        client_options: no_retries(),
                    }),
                )
                .map_err(sdk)?,
            )
        }
        AzureAuth::ServicePrincipalCertificate {
            tenant_id,
            client_id,
            certificate,
            password,
        } => {
            let bytes = std::fs::read(certificate).map_err(|e| {
                config(format!(
                    "cannot read the client certificate from {}: {e}",
                    certificate.display()
                ))
            })?;
            let password = match password {
                Some(p) => Some(
                    read_secret(&SecretSource::File(p.clone()), "the certificate password")?.into(),
                ),
                None => None,
            };
            let options = azure_identity::ClientCertificateCredentialOptions {
                password,
                client_options: no_retries(),
            };
            Some(
                    azure_identity::ClientCertificateCredential::new(
                        tenant_id.clone(),
                        client_id.clone(),
                        bytes.into(),
                        Some(options),
                    )
                    .map_err(|e| {
                        config(format!(
                            "the client certificate {} cannot be used: {e}; it must be a PKCS#12 (.pfx) file with the private key",
                            certificate.display()
                        ))
                    })?,
                )
        }
        AzureAuth::AzureCli => Some(azure_identity::AzureCliCredential::new(None).map_err(sdk)?),
    };
    Ok(credential)
}

/// A client for the account's Blob service (service properties, account
/// information), with the source's credential.
///
/// # Errors
/// As [`AzureBlobSource::build`].
pub fn service_client(
    name: &str,
    c: &AzureSourceConfig,
) -> Result<azure_storage_blob::BlobServiceClient, SourceError> {
    let config = |m: String| SourceError::new(ErrorClass::Config, m);
    let mut url = Url::parse(&format!("{}/", c.account_url.trim_end_matches('/')))
        .map_err(|e| config(format!("sources.{name}.account_url is not a URL: {e}")))?;
    let credential = credential(name, c, &mut url)?;
    let options = azure_storage_blob::BlobServiceClientOptions {
        client_options: no_retries(),
        ..Default::default()
    };
    azure_storage_blob::BlobServiceClient::new(url, credential, Some(options)).map_err(|e| {
        config(format!(
            "cannot create the Azure client for source `{name}`: {e}"
        ))
    })
}

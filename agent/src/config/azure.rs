//! Validation of an Azure Blob source: account URL, container and the
//! sign-in method with what each needs.

use super::*;

/// Validates an Azure Blob source; problems go to `problem`, and the returned
/// config is only used when there were none.
pub(super) fn validate_azure(
    name: &str,
    a: RawAzureSource,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> AzureSourceConfig {
    let at = |k: &str| format!("sources.{name}.{k}");
    let account_url = account_url(&a, &at, problem);
    let c = &a.container;
    let valid_container = (3..=63).contains(&c.len())
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        && !c.starts_with('-')
        && !c.ends_with('-')
        && !c.contains("--");
    if !valid_container {
        problem(
            at("container"),
            "is not a valid container name (3-63 lowercase letters, digits and single hyphens)",
        );
    }
    let prefix = a.prefix.unwrap_or_default();
    if prefix.starts_with('/') {
        problem(
            at("prefix"),
            "must not start with `/`: blob names have no leading slash",
        );
    }
    let auth = auth(&a.auth, &at, base, problem);
    if account_url.starts_with("http://") && !matches!(auth, AzureAuth::Sas(_)) {
        problem(
            at("account_url"),
            "plain http works only with a SAS token: token credentials are sent over https only",
        );
    }
    let posture = a
        .posture
        .validate(&at("posture"), Provider::AzureBlob, problem);
    let protection = a
        .protection
        .as_ref()
        .map(|p| p.validate(&at("protection"), problem));
    let inventory = a.inventory.as_ref().and_then(|i| {
        super::validate::sources::inventory(i, &at, &mut *problem, Some(&account_url))
    });
    AzureSourceConfig {
        inventory,
        protection,
        account_url,
        container: a.container,
        prefix,
        allow_undelete: a.allow_undelete,
        auth,
        posture,
    }
}

/// `account_url`, or `account` (with `cloud`) to make it from.
fn account_url(
    a: &RawAzureSource,
    at: &impl Fn(&str) -> String,
    problem: &mut impl FnMut(String, &str),
) -> String {
    let url = match (&a.account_url, &a.account) {
        (Some(_), Some(_)) => {
            problem(
                at("account"),
                "conflicts with account_url; keep one of them",
            );
            String::new()
        }
        (Some(u), None) => {
            let u = u.trim_end_matches('/');
            let local = u.starts_with("http://") && !super::plain_http_off_host(u);
            if !(u.starts_with("https://") || local) || u.contains('?') || u.len() < 12 {
                problem(at("account_url"), "must be the blob service URL, e.g. `https://ACCOUNT.blob.core.windows.net` (plain http only on loopback), without a container, path or query; put a SAS token in auth.sas_env or auth.sas_file");
            }
            u.to_owned()
        }
        (None, Some(acct)) => {
            if !(3..=24).contains(&acct.len())
                || !acct
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                problem(
                    at("account"),
                    "is not a storage account name (3-24 lowercase letters and digits)",
                );
            }
            let suffix = match a.cloud.as_deref().unwrap_or("public") {
                "public" => "core.windows.net",
                "china" => "core.chinacloudapi.cn",
                "usgovernment" => "core.usgovcloudapi.net",
                _ => {
                    problem(at("cloud"), "must be `public`, `china` or `usgovernment`");
                    "core.windows.net"
                }
            };
            format!("https://{acct}.blob.{suffix}")
        }
        (None, None) => {
            problem(at("account_url"), "is missing; set account_url = \"https://ACCOUNT.blob.core.windows.net\" or account = \"ACCOUNT\"");
            String::new()
        }
    };
    if a.cloud.is_some() && a.account.is_none() {
        problem(
            at("cloud"),
            "only applies with `account`; account_url already names the endpoint",
        );
    }
    url
}

/// `[sources.NAME.auth]`: the sign-in method and what it needs, nothing
/// that another method would use.
fn auth(
    auth: &RawAzureAuth,
    at: &impl Fn(&str) -> String,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> AzureAuth {
    let method = super::choice::choose(
        auth.method.as_ref(),
        AuthMethod::ManagedIdentity,
        &at("auth.method"),
        problem,
    );
    let method_name = method.map_or("", AuthMethod::name);
    let unexpected = |keys: &[(&str, bool)], problem: &mut dyn FnMut(String, &str)| {
        for (k, set) in keys {
            if *set {
                problem(
                    at(&format!("auth.{k}")),
                    &format!("does not apply to method `{method_name}`"),
                );
            }
        }
    };
    match method {
        Some(method @ (AuthMethod::ManagedIdentity | AuthMethod::WorkloadIdentity)) => {
            unexpected(
                &[
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                    (
                        "client_certificate_file",
                        auth.client_certificate_file.is_some(),
                    ),
                    ("credential", auth.credential.is_some()),
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            if method == AuthMethod::ManagedIdentity {
                AzureAuth::ManagedIdentity {
                    client_id: auth.client_id.clone(),
                }
            } else {
                AzureAuth::WorkloadIdentity {
                    client_id: auth.client_id.clone(),
                }
            }
        }
        Some(AuthMethod::ServicePrincipal) => {
            unexpected(
                &[
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            service_principal(auth, at, base, problem)
        }
        Some(AuthMethod::AzureCli) => {
            unexpected(
                &[
                    ("client_id", auth.client_id.is_some()),
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                    (
                        "client_certificate_file",
                        auth.client_certificate_file.is_some(),
                    ),
                    ("credential", auth.credential.is_some()),
                    ("sas_env", auth.sas_env.is_some()),
                    ("sas_file", auth.sas_file.is_some()),
                ],
                problem,
            );
            AzureAuth::AzureCli
        }
        Some(AuthMethod::Sas) => {
            unexpected(
                &[
                    ("client_id", auth.client_id.is_some()),
                    ("tenant_id", auth.tenant_id.is_some()),
                    ("client_secret_file", auth.client_secret_file.is_some()),
                ],
                problem,
            );
            AzureAuth::Sas(secret(
                auth,
                &auth.sas_file,
                auth.sas_env.as_ref(),
                "the SAS token",
                (at, base),
                problem,
            ))
        }
        // Already reported; any placeholder will do, the config is refused.
        None => AzureAuth::AzureCli,
    }
}

/// A service principal with a client secret or a client certificate.
fn service_principal(
    auth: &RawAzureAuth,
    at: &impl Fn(&str) -> String,
    base: &Path,
    problem: &mut impl FnMut(String, &str),
) -> AzureAuth {
    if auth.tenant_id.is_none() || auth.client_id.is_none() {
        problem(
            at("auth"),
            "service_principal needs tenant_id and client_id",
        );
    }
    let tenant_id = auth.tenant_id.clone().unwrap_or_default();
    let client_id = auth.client_id.clone().unwrap_or_default();
    match &auth.client_certificate_file {
        Some(cert) => {
            if auth.client_secret_file.is_some() || auth.credential.is_some() {
                problem(
                    at("auth"),
                    "give either a client secret or a client certificate, not both",
                );
            }
            AzureAuth::ServicePrincipalCertificate {
                tenant_id,
                client_id,
                certificate: resolve(base, cert),
                password: auth
                    .client_certificate_password_file
                    .as_deref()
                    .map(|p| resolve(base, p)),
            }
        }
        None => {
            if auth.client_certificate_password_file.is_some() {
                problem(
                    at("auth.client_certificate_password_file"),
                    "needs client_certificate_file",
                );
            }
            AzureAuth::ServicePrincipal {
                tenant_id,
                client_id,
                secret: secret(
                    auth,
                    &auth.client_secret_file,
                    None,
                    "the client secret",
                    (at, base),
                    problem,
                ),
            }
        }
    }
}

/// Where a secret lives: exactly one of a file, an environment variable or
/// a systemd credential, none holding the secret itself.
fn secret(
    auth: &RawAzureAuth,
    file: &Option<PathBuf>,
    env: Option<&String>,
    what: &str,
    (at, base): (&impl Fn(&str) -> String, &Path),
    problem: &mut dyn FnMut(String, &str),
) -> SecretSource {
    let given = [file.is_some(), env.is_some(), auth.credential.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if given != 1 {
        problem(at("auth"), &format!("{what} needs exactly one source: a file, an environment variable or `credential` (a systemd credential name)"));
    }
    // A setting that names where the secret lives, holding the secret
    // itself: refused without repeating it.
    let named = [
        file.as_ref().map(|f| f.to_string_lossy().into_owned()),
        env.cloned(),
        auth.credential.clone(),
    ];
    if named
        .iter()
        .flatten()
        .any(|v| super::secret::looks_like_credential(v))
    {
        problem(at("auth"), &format!("the setting that names where {what} lives holds what looks like {what} itself (not shown): put it in a file readable only by the agent, or in an environment variable or a systemd credential, and name that here"));
    }
    if let Some(f) = file {
        SecretSource::File(resolve(base, f))
    } else if let Some(e) = env {
        SecretSource::Env(e.clone())
    } else {
        SecretSource::SystemdCredential(auth.credential.clone().unwrap_or_default())
    }
}

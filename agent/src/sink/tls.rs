//! rustls client configuration from a sink's TLS settings: the CA file (or
//! the system's roots, honouring `SSL_CERT_FILE`) and an optional client
//! certificate for mutual TLS.

use super::config::Tls;
use super::SinkError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// A client config for `tls`.
///
/// # Errors
/// When a file cannot be read or holds no usable certificate or key.
pub fn client_config(tls: &Tls) -> Result<rustls::ClientConfig, SinkError> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(ca) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                .and_then(Iterator::collect)
                .map_err(|e| {
                    SinkError::new(format!("cannot read the CA file {}: {e}", ca.display()))
                })?;
            if certs.is_empty() {
                return Err(SinkError::new(format!(
                    "the CA file {} holds no PEM certificate",
                    ca.display()
                )));
            }
            for c in certs {
                roots.add(c).map_err(|e| {
                    SinkError::new(format!(
                        "a certificate in {} is not usable: {e}",
                        ca.display()
                    ))
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for c in native.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(SinkError::new(
                    "no trusted CA certificates on this system; set ca_file",
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SinkError::new(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect)
                .map_err(|e| {
                    SinkError::new(format!(
                        "cannot read the client certificate {}: {e}",
                        cert.display()
                    ))
                })?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                SinkError::new(format!("cannot read the client key {}: {e}", key.display()))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                SinkError::new(format!("the client certificate and key do not fit: {e}"))
            })
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(SinkError::new(
            "a client certificate needs both client_cert_file and client_key_file",
        )),
    }
}

//! The HTTP client of one Alertmanager set: rustls on the ring provider with the roots Go would
//! use (the `ca_file` alone when given, else the system bundle), an optional client
//! certificate, and `insecure_skip_verify`.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::NotifierError;
use super::config::{AlertmanagerConfig, Scheme};

/// Builds the client for one `alerting.alertmanagers` entry (`key` is its YAML path). Redirects
/// are followed as Prometheus's default `follow_redirects: true` does; the per-request timeout is
/// set on each request.
pub(crate) fn build_client(cfg: &AlertmanagerConfig, key: &str) -> Result<reqwest::Client, NotifierError> {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(10));
    let builder = if cfg.scheme == Scheme::Https {
        builder.use_preconfigured_tls(client_config(cfg, key)?)
    } else {
        builder
    };
    builder
        .build()
        .map_err(|err| NotifierError::config(key, format!("cannot build the HTTP client: {err}")))
}

fn read_certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, NotifierError> {
    crate::tls::read_certs(path).map_err(|why| NotifierError::config(key, why))
}

fn client_config(cfg: &AlertmanagerConfig, key: &str) -> Result<rustls::ClientConfig, NotifierError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| NotifierError::config(format!("{key}.tls_config"), err.to_string()))?;
    let builder = if cfg.tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::AcceptAnyCertificate(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        let (file, ca_key) = match &cfg.tls.ca_file {
            Some(file) => (Some(file.clone()), format!("{key}.tls_config.ca_file")),
            None => (
                crate::tls::system_ca_file(),
                format!("{key}.tls_config (system CA bundle)"),
            ),
        };
        let file = file.ok_or_else(|| {
            NotifierError::config(
                format!("{key}.tls_config"),
                "no ca_file and no system CA bundle found (install ca-certificates or set ca_file)",
            )
        })?;
        let (added, _ignored) = roots.add_parsable_certificates(read_certs(&file, &ca_key)?);
        if added == 0 {
            return Err(NotifierError::config(
                ca_key,
                format!("{} holds no usable CA certificate", file.display()),
            ));
        }
        builder.with_root_certificates(roots)
    };
    match (&cfg.tls.cert_file, &cfg.tls.key_file) {
        (Some(cert), Some(private)) => {
            let certs = read_certs(cert, &format!("{key}.tls_config.cert_file"))?;
            let private_key = PrivateKeyDer::from_pem_file(private).map_err(|err| {
                NotifierError::config(
                    format!("{key}.tls_config.key_file"),
                    format!("cannot read {}: {err}", private.display()),
                )
            })?;
            builder.with_client_auth_cert(certs, private_key).map_err(|err| {
                NotifierError::config(
                    format!("{key}.tls_config"),
                    format!("invalid client certificate or key: {err}"),
                )
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

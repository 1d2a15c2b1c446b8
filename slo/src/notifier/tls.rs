//! The HTTP client of one Alertmanager set: rustls on the ring provider with the roots Go would
//! use (the `ca_file` alone when given, else the system bundle), an optional client
//! certificate, and `insecure_skip_verify`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::NotifierError;
use super::config::{AlertmanagerConfig, Scheme};

/// Where Go's crypto/x509 looks for the system's CA bundle on Linux (`root_linux.go`), in order;
/// `SSL_CERT_FILE` overrides them, as in Go.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

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
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| NotifierError::config(key, format!("cannot read {}: {err}", path.display())))?;
    if certs.is_empty() {
        return Err(NotifierError::config(
            key,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

fn system_ca_file() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Some(PathBuf::from(file));
    }
    SYSTEM_CA_FILES.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn client_config(cfg: &AlertmanagerConfig, key: &str) -> Result<rustls::ClientConfig, NotifierError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| NotifierError::config(format!("{key}.tls_config"), err.to_string()))?;
    let builder = if cfg.tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        let (file, ca_key) = match &cfg.tls.ca_file {
            Some(file) => (Some(file.clone()), format!("{key}.tls_config.ca_file")),
            None => (system_ca_file(), format!("{key}.tls_config (system CA bundle)")),
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

/// `insecure_skip_verify: true`: any certificate is accepted, but handshake signatures are still
/// checked (the connection is encrypted, only the peer is not authenticated), as Go does.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

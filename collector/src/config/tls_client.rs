//! `tls` of an outgoing connection, in the shape of the OTel Collector's
//! `configtls.ClientConfig`, built into a rustls [`ClientConfig`] on the ring provider.
//!
//! ```yaml
//! exporters:
//!   otlp:
//!     endpoint: collector.example:4317
//!     tls:
//!       ca_file: /etc/ssl/private-ca.pem      # or ca_pem: "-----BEGIN CERTIFICATE-----..."
//!       cert_file: /etc/ssl/client.pem        # mTLS: the client certificate ...
//!       key_file: /etc/ssl/client-key.pem     # ... and its key (both or neither)
//!       server_name_override: collector.internal
//!       min_version: "1.2"
//! ```
//!
//! Any component that opens a TLS connection (the OTLP exporters, the remote-write exporter)
//! embeds [`TlsClientConfig`] under its `tls` key, calls [`TlsClientConfig::validate`] from its
//! own `validate`, and [`TlsClientConfig::build`] when it is built (which reads the files; `burnwatch
//! collector validate` calls it too, so a missing or broken file fails validation).
//!
//! ```
//! use burnwatch_collector::config::tls_client::TlsClientConfig;
//!
//! let tls: TlsClientConfig = serde_norway::from_str("insecure_skip_verify: true").unwrap();
//! tls.validate("exporters.otlp.tls").unwrap();
//! assert!(!tls.plain_text());
//! let built = tls.build("exporters.otlp.tls", &[b"h2"]).unwrap();
//! assert_eq!(built.config.alpn_protocols, vec![b"h2".to_vec()]);
//! ```
//!
//! Semantics, as otelcol's `configtls`:
//! - `insecure: true` without a CA means no TLS at all ([`TlsClientConfig::plain_text`]); for
//!   OTLP/HTTP and remote write the URL's scheme decides instead (`http://` is plain text,
//!   `https://` uses this configuration).
//! - Without `ca_file`/`ca_pem` the system's trusted roots are used; with one, only that CA
//!   (plus the system roots when `include_system_ca_certs_pool` is true).
//! - `insecure_skip_verify` accepts any server certificate, but the handshake's signatures are
//!   still checked, as Go's `InsecureSkipVerify` does.
//! - `min_version` defaults to `1.2`; `max_version` to the newest.
//!
//! Divergences, because rustls implements TLS 1.2 and 1.3 only: `min_version: "1.0"` or `"1.1"`
//! is accepted and negotiates 1.2 or newer; `max_version` below `1.2` is an error. The otelcol keys
//! `cipher_suites`, `curve_preferences` and `reload_interval` are not supported and, as every
//! unknown key, are refused by name.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::ConfigError;

/// `tls` for an outgoing connection (otelcol's `configtls.ClientConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// Disable transport security. For gRPC this means plain text unless a CA is set (as in
    /// otelcol); for HTTP the URL's scheme decides.
    #[serde(default)]
    pub insecure: bool,
    /// Accept any server certificate (name and chain are not checked). For tests only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// PEM file with the CA certificate(s) that sign the server's certificate. Default: the
    /// system's trusted roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The same CA certificate(s) inline, as PEM text. Exclusive with `ca_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// Trust the system's roots as well as `ca_file`/`ca_pem` (default false).
    #[serde(default)]
    pub include_system_ca_certs_pool: bool,
    /// PEM file with the client certificate (and chain) for mutual TLS; needs a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// The client certificate inline, as PEM text. Exclusive with `cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_pem: Option<String>,
    /// PEM file with the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// The private key inline, as PEM text. Exclusive with `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pem: Option<String>,
    /// The name the server's certificate is checked against (and sent in SNI) instead of the
    /// endpoint's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name_override: Option<String>,
    /// The oldest TLS version to negotiate: `"1.0"`, `"1.1"`, `"1.2"` (default) or `"1.3"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// The newest TLS version to negotiate: `"1.2"` or `"1.3"` (default: the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

/// A [`TlsClientConfig`] built: the rustls configuration and the name to verify and send.
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// The rustls client configuration (ring provider, roots, client certificate, ALPN).
    pub config: Arc<ClientConfig>,
    /// `server_name_override`, parsed; `None` means the endpoint's host.
    pub server_name: Option<ServerName<'static>>,
}

impl TlsClient {
    /// The name to send in SNI and verify the certificate against when connecting to `host`
    /// (a DNS name or an IP address, brackets allowed).
    pub fn server_name_for(
        &self,
        host: &str,
    ) -> Result<ServerName<'static>, rustls::pki_types::InvalidDnsNameError> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_string())
    }
}

/// A TLS protocol version as otelcol writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    V10,
    V11,
    V12,
    V13,
}

fn parse_version(value: &str, path: &str) -> Result<Version, ConfigError> {
    match value {
        "1.0" => Ok(Version::V10),
        "1.1" => Ok(Version::V11),
        "1.2" => Ok(Version::V12),
        "1.3" => Ok(Version::V13),
        other => Err(ConfigError::at(
            path,
            format!("unsupported TLS version {other:?}; expected \"1.0\", \"1.1\", \"1.2\" or \"1.3\""),
        )),
    }
}

impl TlsClientConfig {
    /// True when the connection is plain text: `insecure: true` and no CA, as otelcol's
    /// `LoadTLSConfig` returns no TLS configuration then. Used by gRPC clients; HTTP clients
    /// follow the URL's scheme.
    pub fn plain_text(&self) -> bool {
        self.insecure && self.ca_file.is_none() && self.ca_pem.is_none()
    }

    /// True when any certificate, key or CA is configured (not just flags).
    pub fn has_material(&self) -> bool {
        [
            &self.ca_file,
            &self.ca_pem,
            &self.cert_file,
            &self.cert_pem,
            &self.key_file,
            &self.key_pem,
        ]
        .iter()
        .any(|v| v.is_some())
    }

    /// True when a client certificate is configured (mutual TLS).
    pub fn has_client_cert(&self) -> bool {
        self.cert_file.is_some() || self.cert_pem.is_some()
    }

    /// Checks the settings without reading any file; `path` is the `tls` key's YAML path
    /// (`exporters.otlp.tls`). Errors name the offending key.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let pairs = [
            ("ca_file", "ca_pem", &self.ca_file, &self.ca_pem),
            ("cert_file", "cert_pem", &self.cert_file, &self.cert_pem),
            ("key_file", "key_pem", &self.key_file, &self.key_pem),
        ];
        for (file_key, pem_key, file, pem) in pairs {
            if file.is_some() && pem.is_some() {
                return Err(ConfigError::at(
                    format!("{path}.{file_key}"),
                    format!("set either {file_key} or {pem_key}, not both"),
                ));
            }
            if file.as_deref() == Some("") {
                return Err(ConfigError::at(format!("{path}.{file_key}"), "must not be empty"));
            }
        }
        let cert = self.has_client_cert();
        let key = self.key_file.is_some() || self.key_pem.is_some();
        if cert != key {
            let (missing, set) = if cert {
                ("key_file", "cert_file")
            } else {
                ("cert_file", "key_file")
            };
            return Err(ConfigError::at(
                format!("{path}.{missing}"),
                format!("is required when {set} is set: a client certificate needs both certificate and key"),
            ));
        }
        self.versions(path)?;
        if let Some(name) = &self.server_name_override
            && ServerName::try_from(name.as_str()).is_err()
        {
            return Err(ConfigError::at(
                format!("{path}.server_name_override"),
                format!("{name:?} is not a valid DNS name or IP address"),
            ));
        }
        Ok(())
    }

    /// The protocol versions to offer, from `min_version` and `max_version`.
    fn versions(&self, path: &str) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ConfigError> {
        let min = match &self.min_version {
            Some(v) if !v.is_empty() => parse_version(v, &format!("{path}.min_version"))?,
            _ => Version::V12,
        };
        let max = match &self.max_version {
            Some(v) if !v.is_empty() => parse_version(v, &format!("{path}.max_version"))?,
            _ => Version::V13,
        };
        if max < Version::V12 {
            return Err(ConfigError::at(
                format!("{path}.max_version"),
                "must be \"1.2\" or newer: burnwatch's TLS (rustls) implements TLS 1.2 and 1.3 only",
            ));
        }
        if min > max {
            return Err(ConfigError::at(
                format!("{path}.min_version"),
                format!(
                    "must not be newer than max_version ({})",
                    self.max_version.as_deref().unwrap_or_default()
                ),
            ));
        }
        // 1.0 and 1.1 do not exist in rustls; a minimum below 1.2 allows 1.2.
        let mut versions = Vec::new();
        if min <= Version::V12 {
            versions.push(&rustls::version::TLS12);
        }
        versions.push(&rustls::version::TLS13);
        if max == Version::V12 {
            versions.retain(|v| v.version != rustls::ProtocolVersion::TLSv1_3);
        }
        Ok(versions)
    }

    /// Validates, reads the CA, certificate and key (files or inline PEM) and builds the
    /// rustls configuration offering `alpn` (`h2` for gRPC; empty for HTTP clients, which set
    /// their own). `path` is the `tls` key's YAML path; errors name the key and the file.
    pub fn build(&self, path: &str, alpn: &[&[u8]]) -> Result<TlsClient, ConfigError> {
        self.validate(path)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.versions(path)?)
            .map_err(|err| ConfigError::at(path, format!("cannot use these TLS versions: {err}")))?;

        let roots = Arc::new(self.roots(path)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
            .build()
            .map_err(|err| {
                ConfigError::at(
                    self.ca_key(path),
                    format!("cannot use the CA certificates: {err}"),
                )
            })?;
        let verifier: Arc<dyn ServerCertVerifier> = if self.insecure_skip_verify {
            Arc::new(SkipVerify {
                provider: Arc::clone(&provider),
            })
        } else {
            webpki
        };
        let server_name = match &self.server_name_override {
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| {
                ConfigError::at(
                    format!("{path}.server_name_override"),
                    format!("{name:?} is not a valid DNS name or IP address"),
                )
            })?),
            None => None,
        };
        // Clients that cannot set the SNI name themselves (reqwest) still verify against
        // the override.
        let verifier: Arc<dyn ServerCertVerifier> = match &server_name {
            Some(name) => Arc::new(OverrideName {
                inner: verifier,
                name: name.clone(),
            }),
            None => verifier,
        };
        let builder = builder.dangerous().with_custom_certificate_verifier(verifier);

        let mut config = match self.client_identity(path)? {
            Some((certs, key)) => builder.with_client_auth_cert(certs, key).map_err(|err| {
                ConfigError::at(
                    self.key_key(path),
                    format!("the client certificate and key cannot be used together: {err}"),
                )
            })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }

    fn ca_key(&self, path: &str) -> String {
        let key = if self.ca_pem.is_some() {
            "ca_pem"
        } else {
            "ca_file"
        };
        format!("{path}.{key}")
    }

    fn key_key(&self, path: &str) -> String {
        let key = if self.key_pem.is_some() {
            "key_pem"
        } else {
            "key_file"
        };
        format!("{path}.{key}")
    }

    /// The trusted roots: the configured CA, the system's, or both.
    fn roots(&self, path: &str) -> Result<RootCertStore, ConfigError> {
        let mut roots = RootCertStore::empty();
        let ca = read_certs(self.ca_file.as_deref(), self.ca_pem.as_deref(), path, "ca")?;
        let use_system = ca.is_none() || self.include_system_ca_certs_pool;
        if let Some((certs, source)) = ca {
            for cert in certs {
                roots.add(cert).map_err(|err| {
                    ConfigError::at(
                        self.ca_key(path),
                        format!("{source} holds an unusable CA certificate: {err}"),
                    )
                })?;
            }
        }
        if use_system {
            // Certificates the platform cannot parse are skipped, as Go's SystemCertPool does.
            let system = rustls_native_certs::load_native_certs();
            let (_added, _ignored) = roots.add_parsable_certificates(system.certs);
            if roots.is_empty() && !self.insecure_skip_verify {
                let detail = system
                    .errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                return Err(ConfigError::at(
                    format!("{path}.ca_file"),
                    format!("is required: no system CA certificates were found{detail}"),
                ));
            }
        }
        Ok(roots)
    }

    /// The client certificate chain and key, when configured.
    #[allow(clippy::type_complexity)]
    fn client_identity(
        &self,
        path: &str,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ConfigError> {
        let Some((certs, _)) = read_certs(self.cert_file.as_deref(), self.cert_pem.as_deref(), path, "cert")?
        else {
            return Ok(None);
        };
        let key = match (&self.key_file, &self.key_pem) {
            (Some(file), _) => PrivateKeyDer::from_pem_file(file).map_err(|err| {
                ConfigError::at(
                    format!("{path}.key_file"),
                    format!("cannot read a private key from {file}: {err}"),
                )
            })?,
            (None, Some(pem)) => PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|err| {
                ConfigError::at(
                    format!("{path}.key_pem"),
                    format!("holds no usable PEM private key: {err}"),
                )
            })?,
            (None, None) => {
                return Err(ConfigError::at(
                    format!("{path}.key_file"),
                    "is required when cert_file is set: a client certificate needs both certificate and key",
                ));
            }
        };
        Ok(Some((certs, key)))
    }
}

/// Reads PEM certificates from `<prefix>_file` or `<prefix>_pem`; `None` when neither is set.
/// Returns the certificates and a description of where they came from, for errors.
fn read_certs(
    file: Option<&str>,
    pem: Option<&str>,
    path: &str,
    prefix: &str,
) -> Result<Option<(Vec<CertificateDer<'static>>, String)>, ConfigError> {
    let (certs, key, source) = match (file, pem) {
        (Some(file), _) => {
            let key = format!("{path}.{prefix}_file");
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|err| ConfigError::at(&key, format!("cannot read {file}: {err}")))?;
            (certs, key, file.to_string())
        }
        (None, Some(pem)) => {
            let key = format!("{path}.{prefix}_pem");
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| ConfigError::at(&key, format!("is not valid PEM: {err}")))?;
            (certs, key, format!("{prefix}_pem"))
        }
        (None, None) => return Ok(None),
    };
    if certs.is_empty() {
        return Err(ConfigError::at(key, format!("{source} holds no PEM certificate")));
    }
    Ok(Some((certs, source)))
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake signatures are
/// verified with the certificate's key (so the peer must hold the key it presents), as Go's
/// `InsecureSkipVerify` does.
#[derive(Debug)]
struct SkipVerify {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SkipVerify {
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `server_name_override`: the certificate is checked against the configured name, whatever
/// host the client connected to.
#[derive(Debug)]
struct OverrideName {
    inner: Arc<dyn ServerCertVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for OverrideName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "exporters.otlp.tls";

    fn parse(yaml: &str) -> TlsClientConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn otelcol_keys_round_trip() {
        let yaml = "insecure: false\ninsecure_skip_verify: false\nca_file: /ca.pem\n\
                    include_system_ca_certs_pool: true\ncert_file: /c.pem\nkey_file: /k.pem\n\
                    server_name_override: collector.internal\nmin_version: '1.3'\nmax_version: '1.3'\n";
        let tls = parse(yaml);
        assert_eq!(tls.ca_file.as_deref(), Some("/ca.pem"));
        assert_eq!(tls.min_version.as_deref(), Some("1.3"));
        tls.validate(PATH).unwrap();
        let back: TlsClientConfig = serde_norway::from_str(&serde_norway::to_string(&tls).unwrap()).unwrap();
        assert_eq!(back, tls);
        // Unknown keys (otelcol's cipher_suites, say) are refused by name.
        let err = serde_norway::from_str::<TlsClientConfig>("cipher_suites: [x]").unwrap_err();
        assert!(err.to_string().contains("cipher_suites"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        let err = parse("ca_file: /a\nca_pem: x").validate(PATH).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exporters.otlp.tls.ca_file: set either ca_file or ca_pem, not both"
        );
        let err = parse("cert_file: /a").validate(PATH).unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.key_file");
        let err = parse("key_pem: x").validate(PATH).unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.cert_file");
        let err = parse("min_version: '1.4'").validate(PATH).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exporters.otlp.tls.min_version: unsupported TLS version \"1.4\"; expected \"1.0\", \"1.1\", \"1.2\" or \"1.3\""
        );
        let err = parse("max_version: '1.1'").validate(PATH).unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.max_version");
        let err = parse("min_version: '1.3'\nmax_version: '1.2'")
            .validate(PATH)
            .unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.min_version");
        let err = parse("server_name_override: 'a b'").validate(PATH).unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.server_name_override");
        // A minimum below rustls's 1.2 is allowed (and negotiates 1.2 or newer).
        parse("min_version: '1.0'").validate(PATH).unwrap();
    }

    #[test]
    fn plain_text_only_when_insecure_without_a_ca() {
        assert!(parse("insecure: true").plain_text());
        assert!(!parse("insecure: true\nca_file: /ca.pem").plain_text());
        assert!(!parse("{}").plain_text());
    }

    #[test]
    fn versions_follow_min_and_max() {
        let v = |yaml: &str| {
            parse(yaml)
                .versions(PATH)
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect::<Vec<_>>()
        };
        use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
        assert_eq!(v("{}"), vec![TLSv1_2, TLSv1_3]);
        assert_eq!(v("min_version: '1.3'"), vec![TLSv1_3]);
        assert_eq!(v("max_version: '1.2'"), vec![TLSv1_2]);
        assert_eq!(v("min_version: '1.1'"), vec![TLSv1_2, TLSv1_3]);
    }

    #[test]
    fn unreadable_files_are_errors_naming_the_key_and_file() {
        let err = parse("ca_file: /nonexistent/ca.pem")
            .build(PATH, &[])
            .unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.ca_file");
        assert!(err.message.contains("/nonexistent/ca.pem"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let err = parse(&format!("ca_file: {}", ca.display()))
            .build(PATH, &[])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "exporters.otlp.tls.ca_file: {} holds no PEM certificate",
                ca.display()
            )
        );
        let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        std::fs::write(&ca, bogus).unwrap();
        let err = parse(&format!("ca_file: {}", ca.display()))
            .build(PATH, &[])
            .unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.ca_file");

        let err = parse("ca_pem: 'garbage'").build(PATH, &[]).unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.ca_pem");

        let err =
            parse("insecure_skip_verify: true\ncert_file: /nonexistent/c.pem\nkey_file: /nonexistent/k.pem")
                .build(PATH, &[])
                .unwrap_err();
        assert_eq!(err.path, "exporters.otlp.tls.cert_file");
    }

    #[test]
    fn server_name_override_replaces_the_host() {
        let built = parse("insecure_skip_verify: true\nserver_name_override: collector.internal")
            .build(PATH, &[])
            .unwrap();
        assert_eq!(
            built.server_name_for("10.0.0.1").unwrap(),
            ServerName::try_from("collector.internal").unwrap()
        );
        let plain = parse("insecure_skip_verify: true").build(PATH, &[]).unwrap();
        assert_eq!(
            plain.server_name_for("[::1]").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
    }
}

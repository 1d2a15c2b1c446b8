//! The HTTP client settings Prometheus's `common/config.HTTPClientConfig` reads, shared by scrape
//! jobs, Alertmanagers and remote write: `basic_auth`, `authorization` (and the deprecated
//! `bearer_token`/`bearer_token_file`), `tls_config`, `follow_redirects`, `enable_http2`.
//!
//! Secrets read from files (`password_file`, `credentials_file`, `bearer_token_file`) are read
//! again for each request, as Prometheus does, so a rotated token is picked up without a reload.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

use super::{ConfigError, PrometheusConfig};

/// A secret string: never printed (`<secret>`), as Prometheus's `config.Secret`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// `basic_auth`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (read for each request).
    #[serde(default)]
    pub password_file: Option<String>,
}

/// `authorization`: an `Authorization: <type> <credentials>` header.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme (default `Bearer`); `Basic` is refused (use `basic_auth`).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The credentials.
    #[serde(default)]
    pub credentials: Option<Secret>,
    /// A file holding the credentials (read for each request).
    #[serde(default)]
    pub credentials_file: Option<String>,
}

/// `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificates (PEM) that verify the server; default: the system bundle.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Client certificate (PEM), with `key_file`.
    #[serde(default)]
    pub cert_file: Option<String>,
    /// Client private key (PEM), with `cert_file`.
    #[serde(default)]
    pub key_file: Option<String>,
    /// The name the server's certificate must carry (default: the URL's host).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Skip verifying the server's certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// The HTTP client settings of one scrape job, Alertmanager set or remote-write destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpClientConfig {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`.
    pub authorization: Option<Authorization>,
    /// Deprecated `bearer_token`.
    pub bearer_token: Option<Secret>,
    /// Deprecated `bearer_token_file`.
    pub bearer_token_file: Option<String>,
    /// `tls_config`.
    pub tls_config: TlsConfig,
    /// `follow_redirects`.
    pub follow_redirects: bool,
    /// `enable_http2` (accepted; requests use HTTP/1.1).
    pub enable_http2: bool,
}

/// Everything a request of a client built by [`HttpClientConfig::build`] needs: the client and
/// how to authenticate.
#[derive(Clone, Debug)]
pub struct HttpClient {
    /// The configured client (TLS, redirects).
    pub client: reqwest::Client,
    auth: AuthSource,
    key: String,
}

#[derive(Clone, Debug)]
enum AuthSource {
    None,
    Basic { user: String, password: SecretSource },
    Header { kind: String, credentials: SecretSource },
}

/// Credentials read from a config ([`HttpClientConfig::read_credentials`]).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// `basic_auth`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// `authorization` or `bearer_token(_file)`: `Authorization: <kind> <credentials>`.
    Header {
        /// The scheme (`Bearer` by default).
        kind: String,
        /// The credentials.
        credentials: String,
    },
}

#[derive(Clone, Debug)]
enum SecretSource {
    Inline(Secret),
    File(PathBuf),
}

impl SecretSource {
    fn read(&self) -> Result<String, String> {
        match self {
            SecretSource::Inline(s) => Ok(s.0.clone()),
            SecretSource::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("cannot read {}: {e}", p.display())),
        }
    }
}

impl HttpClient {
    /// `req` with the authentication header; an error when a secret file cannot be read.
    pub fn authorize(&self, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, String> {
        Ok(match &self.auth {
            AuthSource::None => req,
            AuthSource::Basic { user, password } => {
                let pw = password
                    .read()
                    .map_err(|e| format!("{}.basic_auth: {e}", self.key))?;
                req.basic_auth(user, Some(pw))
            }
            AuthSource::Header { kind, credentials } => {
                let c = credentials
                    .read()
                    .map_err(|e| format!("{}.authorization: {e}", self.key))?;
                req.header(reqwest::header::AUTHORIZATION, format!("{kind} {c}"))
            }
        })
    }
}

fn exists(cfg: &PrometheusConfig, file: &str, path: String) -> Result<PathBuf, ConfigError> {
    let p = cfg.resolve(file);
    if p.is_file() {
        Ok(p)
    } else {
        Err(ConfigError::at(
            path,
            format!("file {} does not exist or is not a file", p.display()),
        ))
    }
}

impl HttpClientConfig {
    /// Prometheus's `HTTPClientConfig.Validate`, plus a check that every file named exists.
    pub fn validate(&self, p: &str, cfg: &PrometheusConfig) -> Result<(), ConfigError> {
        let mut auths = 0;
        if let Some(b) = &self.basic_auth {
            auths += 1;
            if b.password.is_some() && b.password_file.is_some() {
                return Err(ConfigError::at(
                    format!("{p}.basic_auth"),
                    "at most one of basic_auth password & password_file must be configured",
                ));
            }
            if let Some(f) = &b.password_file {
                exists(cfg, f, format!("{p}.basic_auth.password_file"))?;
            }
        }
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err(ConfigError::at(
                format!("{p}.bearer_token"),
                "at most one of bearer_token & bearer_token_file must be configured",
            ));
        }
        if self.bearer_token.is_some() || self.bearer_token_file.is_some() {
            auths += 1;
        }
        if let Some(f) = &self.bearer_token_file {
            exists(cfg, f, format!("{p}.bearer_token_file"))?;
        }
        if let Some(a) = &self.authorization {
            if self.bearer_token.is_some() || self.bearer_token_file.is_some() {
                return Err(ConfigError::at(
                    format!("{p}.authorization"),
                    "authorization is not compatible with bearer_token & bearer_token_file",
                ));
            }
            auths += 1;
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err(ConfigError::at(
                    format!("{p}.authorization"),
                    "at most one of authorization credentials & credentials_file must be configured",
                ));
            }
            if a.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("basic")) {
                return Err(ConfigError::at(
                    format!("{p}.authorization.type"),
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                ));
            }
            if let Some(f) = &a.credentials_file {
                exists(cfg, f, format!("{p}.authorization.credentials_file"))?;
            }
        }
        if auths > 1 {
            return Err(ConfigError::at(
                p.to_string(),
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            ));
        }
        let tls = &self.tls_config;
        match (&tls.cert_file, &tls.key_file) {
            (Some(_), None) => {
                return Err(ConfigError::at(
                    format!("{p}.tls_config.key_file"),
                    "exactly one of key or key_file must be configured when a client certificate is configured",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::at(
                    format!("{p}.tls_config.cert_file"),
                    "exactly one of cert or cert_file must be configured when a client key is configured",
                ));
            }
            _ => {}
        }
        for (name, f) in [
            ("ca_file", &tls.ca_file),
            ("cert_file", &tls.cert_file),
            ("key_file", &tls.key_file),
        ] {
            if let Some(f) = f {
                exists(cfg, f, format!("{p}.tls_config.{name}"))?;
            }
        }
        Ok(())
    }

    /// Builds the client; `p` is the YAML path used in errors (certificates that do not parse).
    pub fn build(
        &self,
        p: &str,
        cfg: &PrometheusConfig,
        user_agent: &str,
    ) -> Result<HttpClient, ConfigError> {
        let redirect = if self.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let tls = self.tls_client(p, cfg)?;
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .redirect(redirect)
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| ConfigError::at(p.to_string(), format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            auth: self.auth_source(cfg),
            key: p.to_string(),
        })
    }

    /// Where the credentials come from: inline, or a file resolved against the config's
    /// directory.
    fn auth_source(&self, cfg: &PrometheusConfig) -> AuthSource {
        if let Some(b) = &self.basic_auth {
            AuthSource::Basic {
                user: b.username.clone(),
                password: match (&b.password, &b.password_file) {
                    (_, Some(f)) => SecretSource::File(cfg.resolve(f)),
                    (Some(s), None) => SecretSource::Inline(s.clone()),
                    (None, None) => SecretSource::Inline(Secret(String::new())),
                },
            }
        } else if let Some(a) = &self.authorization {
            AuthSource::Header {
                kind: a.kind.clone().unwrap_or_else(|| "Bearer".into()),
                credentials: match (&a.credentials, &a.credentials_file) {
                    (_, Some(f)) => SecretSource::File(cfg.resolve(f)),
                    (Some(s), None) => SecretSource::Inline(s.clone()),
                    (None, None) => SecretSource::Inline(Secret(String::new())),
                },
            }
        } else if let Some(t) = &self.bearer_token {
            AuthSource::Header {
                kind: "Bearer".into(),
                credentials: SecretSource::Inline(t.clone()),
            }
        } else if let Some(f) = &self.bearer_token_file {
            AuthSource::Header {
                kind: "Bearer".into(),
                credentials: SecretSource::File(cfg.resolve(f)),
            }
        } else {
            AuthSource::None
        }
    }

    /// The credentials read now, for a client that sets its own `Authorization` header (remote
    /// write); `p` is the YAML path an unreadable file is reported under
    /// (`{p}.basic_auth.password_file`, `{p}.authorization.credentials_file`,
    /// `{p}.bearer_token_file`). Files are trimmed as for [`HttpClient::authorize`].
    pub(crate) fn read_credentials(
        &self,
        p: &str,
        cfg: &PrometheusConfig,
    ) -> Result<Option<Credentials>, ConfigError> {
        let key = if self.basic_auth.is_some() {
            "basic_auth.password_file"
        } else if self.authorization.is_some() {
            "authorization.credentials_file"
        } else {
            "bearer_token_file"
        };
        let read = |s: &SecretSource| s.read().map_err(|e| ConfigError::at(format!("{p}.{key}"), e));
        Ok(match self.auth_source(cfg) {
            AuthSource::None => None,
            AuthSource::Basic { user, password } => Some(Credentials::Basic {
                username: user,
                password: read(&password)?,
            }),
            AuthSource::Header { kind, credentials } => Some(Credentials::Header {
                kind,
                credentials: read(&credentials)?,
            }),
        })
    }

    pub(crate) fn tls_client(
        &self,
        p: &str,
        cfg: &PrometheusConfig,
    ) -> Result<rustls::ClientConfig, ConfigError> {
        let tls = &self.tls_config;
        let err = |key: &str, e: String| ConfigError::at(format!("{p}.tls_config{key}"), e);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| err("", e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
            Arc::new(crate::tls::AcceptAnyCertificate(provider))
        } else {
            let mut roots = RootCertStore::empty();
            let ca = match &tls.ca_file {
                Some(f) => Some(cfg.resolve(f)),
                None => crate::tls::system_ca_file(),
            };
            if let Some(file) = ca {
                for c in crate::tls::read_certs(&file).map_err(|e| err(".ca_file", e))? {
                    roots
                        .add(c)
                        .map_err(|e| err(".ca_file", format!("{}: {e}", file.display())))?;
                }
            }
            let inner =
                rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| err(".ca_file", e.to_string()))?;
            match &tls.server_name {
                Some(name) => {
                    let name = ServerName::try_from(name.clone())
                        .map_err(|e| err(".server_name", format!("{name:?}: {e}")))?;
                    Arc::new(FixedName { inner, name })
                }
                None => inner,
            }
        };
        let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
        match (&tls.cert_file, &tls.key_file) {
            (Some(c), Some(k)) => {
                let certs = crate::tls::read_certs(&cfg.resolve(c)).map_err(|e| err(".cert_file", e))?;
                let key_path = cfg.resolve(k);
                let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
                    err(
                        ".key_file",
                        format!("cannot read a private key from {}: {e}", key_path.display()),
                    )
                })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| err(".cert_file", e.to_string()))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

/// `server_name`: the certificate is verified against this name instead of the URL's host.
/// (The SNI sent is still the URL's host: reqwest sets it from the URL.)
#[derive(Debug)]
struct FixedName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
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

/// An error with every cause behind it, `outer: cause: root cause`, as Go's wrapped errors
/// read in Prometheus's `lastError` (`Get "…": tls: failed to verify certificate: x509:
/// certificate signed by unknown authority`). reqwest's own message is only "error sending
/// request for url (…)"; what went wrong (an unknown issuer, a name the certificate does not
/// hold, a refused connection) is in its sources. A cause whose text is already shown is skipped.
/// Reached as [`HttpClient::error_text`] outside this module.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

impl HttpClient {
    /// A failed request's error with its causes (see [`error_chain`]), for a target's
    /// `lastError` and logs.
    pub fn error_text(e: &reqwest::Error) -> String {
        error_chain(e)
    }
}

#[cfg(test)]
mod error_chain_tests {
    use super::error_chain;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    /// Regression: a TLS scrape failure's `lastError` was reqwest's "error sending request for
    /// url (…)" alone, without the certificate problem behind it.
    #[test]
    fn scrape_errors_name_their_root_cause() {
        let e = Layer(
            "error sending request for url (https://127.0.0.1:1/metrics)",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(Layer(
                    "invalid peer certificate: UnknownIssuer",
                    Some(Box::new(Layer("invalid peer certificate: UnknownIssuer", None))),
                ))),
            ))),
        );
        assert_eq!(
            error_chain(&e),
            "error sending request for url (https://127.0.0.1:1/metrics): client error (Connect): \
             invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}

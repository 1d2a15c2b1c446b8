//! A client of the Prometheus HTTP API (a real Prometheus or `burnwatch serve`), reading query
//! results back into [`Value`]s so callers print remote and local results the same way.
//!
//! An [`Endpoint`] is the API's URL with what it takes to get in: basic-auth credentials and the
//! TLS trust ([`ClientOptions`]), as Prometheus's own HTTP client configuration has them
//! (`basic_auth`, `tls_config.ca_file`, `tls_config.insecure_skip_verify`). Without a CA file the
//! system's trusted roots are used (the bundle Go reads on Linux, or `SSL_CERT_FILE`).
//!
//! ```
//! use burnwatch_slo::api::client::{ClientOptions, Endpoint};
//!
//! let plain = Endpoint::plain("http://127.0.0.1:9090/");
//! assert_eq!(plain.base_url(), "http://127.0.0.1:9090");
//! let options = ClientOptions {
//!     username: Some("alice".into()),
//!     password: Some("secret".into()),
//!     insecure_skip_verify: true,
//!     ..ClientOptions::default()
//! };
//! let secured = Endpoint::new("https://127.0.0.1:9090", &options).unwrap();
//! assert!(!format!("{secured:?}").contains("secret"));
//! ```

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::promql::{Annotations, InstantSample, RangeSeries, Value};
use crate::tsdb::histogram::{CUSTOM_BUCKETS_SCHEMA, FloatHistogram};
use crate::tsdb::{HSample, Labels, Sample};

/// Why a remote query gave no result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or did not answer in time.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// The request URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an API error.
    #[error("{error_type}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// `errorType`, such as `bad_data`.
        error_type: String,
        /// `error`.
        message: String,
        /// The response body as the server sent it.
        body: String,
    },
    /// The server refused the request with 401: no credentials, or wrong ones.
    #[error(
        "{url} answered 401 Unauthorized: {}",
        if *with_credentials {
            "it refused the credentials given (check the user name and the password)"
        } else {
            "it needs credentials (basic auth: a user name and a password)"
        }
    )]
    Unauthorized {
        /// The request URL.
        url: String,
        /// Whether credentials were sent.
        with_credentials: bool,
    },
    /// The client could not be set up: an unreadable CA or password file, a CA file without
    /// certificates.
    #[error("{0}")]
    Setup(String),
    /// The answer is not the API's JSON.
    #[error("unexpected answer from {url} (HTTP {status}): {reason}")]
    Malformed {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
    },
}

/// A query result as read from the API.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteResult {
    /// The value.
    pub value: Value,
    /// `warnings` and `infos`.
    pub annotations: Annotations,
    /// The response body as the server sent it.
    pub body: String,
}

/// What to ask.
#[derive(Clone, Debug)]
pub enum QueryKind {
    /// `/api/v1/query` at a time (ms).
    Instant {
        /// Evaluation time.
        time: i64,
    },
    /// `/api/v1/query_range`.
    Range {
        /// Start (ms).
        start: i64,
        /// End (ms).
        end: i64,
        /// Step (ms).
        step: i64,
    },
}

fn seconds(ms: i64) -> String {
    let mut s = String::new();
    super::json::write_timestamp(&mut s, ms);
    s
}

/// What it takes to reach a secured API, as Prometheus's HTTP client configuration says it:
/// `basic_auth` and `tls_config`.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Basic-auth user name (sent with [`Self::password`], an empty one if that is unset).
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
    /// PEM certificates to trust instead of the system's roots (`tls_config.ca_file`). A server
    /// certificate byte-equal to one of them is trusted as it is: a self-signed certificate
    /// handed to the client, as Go's verifier accepts a leaf that is itself in the root pool
    /// (divergence: its names are not checked then; the client was given that very
    /// certificate).
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any server certificate (`tls_config.insecure_skip_verify`); the handshake's
    /// signatures are still checked.
    pub insecure_skip_verify: bool,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

impl ClientOptions {
    /// Options from command-line flags: the password is the first line of `password_file`
    /// (trailing newline removed, as Prometheus's `password_file`), the CA certificates the
    /// contents of `ca_file`. Errors name the flag and the file.
    pub fn from_files(
        username: Option<String>,
        password_file: Option<&Path>,
        ca_file: Option<&Path>,
        insecure_skip_verify: bool,
    ) -> Result<Self, ClientError> {
        let password = match password_file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ClientError::Setup(format!("cannot read --password-file {}: {e}", p.display()))
                })?;
                Some(text.trim_end_matches(['\n', '\r']).to_string())
            }
            None => None,
        };
        if password.is_some() && username.is_none() {
            return Err(ClientError::Setup(
                "--password-file needs --username (basic auth sends both)".into(),
            ));
        }
        let ca_pem = match ca_file {
            Some(p) => {
                let pem = std::fs::read(p)
                    .map_err(|e| ClientError::Setup(format!("cannot read --ca-file {}: {e}", p.display())))?;
                certificates(&pem)
                    .map_err(|e| ClientError::Setup(format!("--ca-file {}: {e}", p.display())))?;
                Some(pem)
            }
            None => None,
        };
        Ok(ClientOptions {
            username,
            password,
            ca_pem,
            insecure_skip_verify,
        })
    }
}

/// The certificates in a PEM text; an error when there are none.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// The system's trusted roots, read once: `SSL_CERT_FILE`, else the first bundle found where
/// Go's `crypto/x509` looks on Linux. Empty when there is none (then only a CA file or
/// `insecure_skip_verify` gets a TLS connection through).
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
            let known = [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/ca-bundle.pem",
                "/etc/pki/tls/cacert.pem",
                "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                "/etc/ssl/cert.pem",
            ];
            let bundle = env
                .into_iter()
                .chain(known.iter().map(std::path::PathBuf::from))
                .find_map(|p| std::fs::read(p).ok());
            if let Some(pem) = bundle {
                let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
                roots.add_parsable_certificates(certs);
            }
            Arc::new(roots)
        })
        .clone()
}

/// Server certificate checks: a pinned certificate (one of the CA file's, byte-equal) is trusted
/// as it is; anything else goes through webpki against the roots; `insecure_skip_verify` trusts
/// every certificate. Handshake signatures are always checked.
#[derive(Debug)]
struct Verifier {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    skip: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.skip || self.pinned.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls client configuration for `options` (ring provider, TLS 1.2 and 1.3).
fn tls_config(options: &ClientOptions) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (roots, pinned) = match &options.ca_pem {
        Some(pem) => {
            let certs = certificates(pem).map_err(|e| ClientError::Setup(format!("CA certificates: {e}")))?;
            let mut roots = RootCertStore::empty();
            // A self-signed leaf is not a usable anchor for webpki; it is pinned instead.
            roots.add_parsable_certificates(certs.iter().cloned());
            (Arc::new(roots), certs)
        }
        None => (system_roots(), Vec::new()),
    };
    let webpki = if roots.is_empty() {
        None
    } else {
        Some(
            WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| ClientError::Setup(format!("cannot use the CA certificates: {e}")))?,
        )
    };
    let verifier = Verifier {
        pinned,
        webpki,
        skip: options.insecure_skip_verify,
        algorithms: provider.signature_verification_algorithms,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider.clone() as Arc<CryptoProvider>)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Setup(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// A Prometheus-compatible API and how to get in: its URL, basic-auth credentials, and an HTTP
/// client (kept, so connections are reused) trusting what [`ClientOptions`] says.
#[derive(Clone)]
pub struct Endpoint {
    base_url: String,
    auth: Option<(String, String)>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("username", &self.auth.as_ref().map(|a| &a.0))
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The API at `base_url` (`https://prometheus.example:9090`), reached with `options`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Setup`] when the CA certificates cannot be used.
    pub fn new(base_url: &str, options: &ClientOptions) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(options)?)
            .build()
            .map_err(|e| ClientError::Setup(format!("cannot set up the HTTP client: {e}")))?;
        let auth = options
            .username
            .clone()
            .map(|u| (u, options.password.clone().unwrap_or_default()));
        Ok(Endpoint {
            base_url: base_url.trim_end_matches('/').to_string(),
            auth,
            http,
        })
    }

    /// The API at `base_url` without credentials, trusting the system's roots over HTTPS.
    pub fn plain(base_url: &str) -> Self {
        Self::new(base_url, &ClientOptions::default()).unwrap_or_else(|_| Endpoint {
            // The default options read no file; should the TLS setup still fail, plain HTTP
            // keeps working and an https URL fails on its first request, naming the reason.
            base_url: base_url.trim_end_matches('/').to_string(),
            auth: None,
            http: reqwest::Client::new(),
        })
    }

    /// The URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// GETs `path` (`/api/v1/rules?type=alert`) and returns the `data` of the API's JSON
    /// envelope.
    ///
    /// # Errors
    ///
    /// As [`query`]: transport, 401, an API error, or a body that is not the API's JSON.
    pub async fn get_data(&self, path: &str, timeout: Duration) -> Result<serde_json::Value, ClientError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self.http.get(&url).timeout(timeout);
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let resp = request.send().await.map_err(|e| transport_error(&url, e))?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(ClientError::Unauthorized {
                url,
                with_credentials: self.auth.is_some(),
            });
        }
        let text = resp.text().await.map_err(|e| transport_error(&url, e))?;
        let malformed = |reason: String| ClientError::Malformed {
            url: url.clone(),
            status,
            reason,
        };
        let mut root: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| malformed(format!("not JSON: {e}")))?;
        match root.get("status").and_then(|s| s.as_str()) {
            Some("success") => Ok(root
                .get_mut("data")
                .map(serde_json::Value::take)
                .unwrap_or_default()),
            Some("error") => Err(ClientError::Api {
                status,
                error_type: root["errorType"].as_str().unwrap_or_default().to_string(),
                message: root["error"].as_str().unwrap_or_default().to_string(),
                body: text,
            }),
            _ => Err(malformed("no \"status\" of success or error".to_string())),
        }
    }

    /// Runs `query`; see [`query`].
    pub async fn query(
        &self,
        query: &str,
        kind: &QueryKind,
        timeout: Duration,
    ) -> Result<RemoteResult, ClientError> {
        run_query(self, query, kind, timeout).await
    }
}

impl From<&str> for Endpoint {
    fn from(base_url: &str) -> Self {
        Endpoint::plain(base_url)
    }
}

impl From<&String> for Endpoint {
    fn from(base_url: &String) -> Self {
        Endpoint::plain(base_url)
    }
}

impl From<String> for Endpoint {
    fn from(base_url: String) -> Self {
        Endpoint::plain(&base_url)
    }
}

impl From<&Endpoint> for Endpoint {
    fn from(endpoint: &Endpoint) -> Self {
        endpoint.clone()
    }
}

/// Runs `query` against `endpoint`: a URL (such as `http://localhost:9090`, no credentials) or
/// an [`Endpoint`].
///
/// The raw body is kept, in [`RemoteResult::body`] or [`ClientError::Api`], for callers that print
/// the server's JSON.
pub async fn query(
    endpoint: impl Into<Endpoint>,
    query: &str,
    kind: &QueryKind,
    timeout: Duration,
) -> Result<RemoteResult, ClientError> {
    run_query(&endpoint.into(), query, kind, timeout).await
}

async fn run_query(
    endpoint: &Endpoint,
    query: &str,
    kind: &QueryKind,
    timeout: Duration,
) -> Result<RemoteResult, ClientError> {
    let base = endpoint.base_url();
    let (url, form): (String, Vec<(&str, String)>) = match kind {
        QueryKind::Instant { time } => (
            format!("{base}/api/v1/query"),
            vec![("query", query.to_string()), ("time", seconds(*time))],
        ),
        QueryKind::Range { start, end, step } => (
            format!("{base}/api/v1/query_range"),
            vec![
                ("query", query.to_string()),
                ("start", seconds(*start)),
                ("end", seconds(*end)),
                ("step", seconds(*step)),
            ],
        ),
    };
    let transport = |e: reqwest::Error| transport_error(&url, e);
    let body = encode_form(&form);
    let mut request = endpoint
        .http
        .post(&url)
        .timeout(timeout)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((user, password)) = &endpoint.auth {
        request = request.basic_auth(user, Some(password));
    }
    let resp = request.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    if status == 401 {
        return Err(ClientError::Unauthorized {
            url,
            with_credentials: endpoint.auth.is_some(),
        });
    }
    let text = resp.text().await.map_err(transport)?;
    match decode_response(&text) {
        Ok((value, annotations)) => Ok(RemoteResult {
            value,
            annotations,
            body: text,
        }),
        Err(Decoded::Api { error_type, message }) => Err(ClientError::Api {
            status,
            error_type,
            message,
            body: text,
        }),
        Err(Decoded::Malformed(reason)) => Err(ClientError::Malformed { url, status, reason }),
    }
}

/// A transport failure on `url`, with the chain of causes: reqwest's Display stops at the
/// outermost error, and the sources name the cause (a refused connection, a certificate the
/// client does not trust).
fn transport_error(url: &str, e: reqwest::Error) -> ClientError {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = cause.source();
    }
    ClientError::Transport {
        url: url.to_string(),
        reason,
    }
}

/// `application/x-www-form-urlencoded` encoding.
fn encode_form(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        for b in v.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    out
}

/// Why a body did not decode into a value.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// An API error response.
    Api {
        /// `errorType`.
        error_type: String,
        /// `error`.
        message: String,
    },
    /// Not the API's JSON.
    Malformed(String),
}

/// Decodes an API query response body into its value and annotations.
pub fn decode_response(body: &str) -> Result<(Value, Annotations), Decoded> {
    use serde_json::Value as J;
    let bad = |m: &str| Decoded::Malformed(m.to_string());
    let root: J = serde_json::from_str(body).map_err(|e| Decoded::Malformed(format!("not JSON: {e}")))?;
    let strings = |key: &str| -> Vec<String> {
        root.get(key)
            .and_then(J::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let annotations = Annotations {
        warnings: strings("warnings"),
        infos: strings("infos"),
    };
    match root.get("status").and_then(J::as_str) {
        Some("success") => {}
        Some("error") => {
            return Err(Decoded::Api {
                error_type: root
                    .get("errorType")
                    .and_then(J::as_str)
                    .unwrap_or("")
                    .to_string(),
                message: root.get("error").and_then(J::as_str).unwrap_or("").to_string(),
            });
        }
        _ => return Err(bad("no \"status\" of success or error")),
    }
    let data = root.get("data").ok_or_else(|| bad("no \"data\""))?;
    let result = data.get("result").ok_or_else(|| bad("no \"data.result\""))?;
    let point = |p: &J| -> Result<(i64, String), Decoded> {
        let a = p
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or_else(|| bad("a point is not [time, value]"))?;
        let t = a[0]
            .as_f64()
            .ok_or_else(|| bad("a point's time is not a number"))?;
        let v = a[1]
            .as_str()
            .ok_or_else(|| bad("a point's value is not a string"))?;
        Ok(((t * 1000.0).round() as i64, v.to_string()))
    };
    let float = |s: &str| -> Result<f64, Decoded> {
        match s {
            "+Inf" | "Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => s
                .parse()
                .map_err(|_| Decoded::Malformed(format!("sample value {s:?} is not a number"))),
        }
    };
    let labels = |m: Option<&J>| -> Labels {
        let pairs: Vec<(String, String)> = m
            .and_then(J::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Labels::from_pairs(pairs)
    };
    let value = match data.get("resultType").and_then(J::as_str) {
        Some("scalar") => {
            let (t, v) = point(result)?;
            Value::Scalar { t, v: float(&v)? }
        }
        Some("string") => {
            let (t, s) = point(result)?;
            Value::String { t, s }
        }
        Some("vector") => {
            let mut out = Vec::new();
            for s in result
                .as_array()
                .ok_or_else(|| bad("vector result is not an array"))?
            {
                if let Some(p) = s.get("histogram") {
                    let (t, h) = histogram_point(p)?;
                    out.push(InstantSample {
                        labels: labels(s.get("metric")),
                        t,
                        v: 0.0,
                        h: Some(Arc::new(h)),
                        drop_name: false,
                    });
                    continue;
                }
                let (t, v) = point(
                    s.get("value")
                        .ok_or_else(|| bad("vector sample without \"value\" or \"histogram\""))?,
                )?;
                out.push(InstantSample {
                    labels: labels(s.get("metric")),
                    t,
                    v: float(&v)?,
                    h: None,
                    drop_name: false,
                });
            }
            Value::Vector(out)
        }
        Some("matrix") => {
            let mut out = Vec::new();
            for s in result
                .as_array()
                .ok_or_else(|| bad("matrix result is not an array"))?
            {
                let values = s.get("values").and_then(J::as_array);
                let hists = s.get("histograms").and_then(J::as_array);
                if values.is_none() && hists.is_none() {
                    return Err(bad("matrix series without \"values\" or \"histograms\""));
                }
                let mut samples = Vec::new();
                for p in values.into_iter().flatten() {
                    let (t, v) = point(p)?;
                    samples.push(Sample { t, v: float(&v)? });
                }
                let mut histograms = Vec::new();
                for p in hists.into_iter().flatten() {
                    let (t, h) = histogram_point(p)?;
                    histograms.push(HSample { t, h: Arc::new(h) });
                }
                out.push(RangeSeries {
                    labels: labels(s.get("metric")),
                    samples: samples.into(),
                    histograms,
                    drop_name: false,
                });
            }
            Value::Matrix(out)
        }
        other => return Err(Decoded::Malformed(format!("unknown resultType {other:?}"))),
    };
    Ok((value, annotations))
}

/// Reads `[time, {"count", "sum", "buckets"}]`, a native histogram as the API writes it
/// (`api::json`), back into a histogram.
///
/// The JSON lists only non-empty buckets by their bounds, so the layout is recovered from them:
/// exponential buckets when one schema (-4..=8) reproduces every bound exactly, custom bounds
/// otherwise (their `custom_values` are then the bounds that appear). The zero bucket is the one
/// straddling 0; without one the zero threshold reads as 0. Counts, sum and every listed bucket's
/// bounds and count come back exactly, which is what printing and comparing results need.
fn histogram_point(p: &serde_json::Value) -> Result<(i64, FloatHistogram), Decoded> {
    use serde_json::Value as J;
    let bad = |m: String| Decoded::Malformed(m);
    let a = p
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| bad("a histogram point is not [time, histogram]".into()))?;
    let t = a[0]
        .as_f64()
        .ok_or_else(|| bad("a histogram point's time is not a number".into()))?;
    let obj = &a[1];
    let num = |v: Option<&J>, what: &str| -> Result<f64, Decoded> {
        let s = v
            .and_then(J::as_str)
            .ok_or_else(|| bad(format!("histogram {what} is not a string")))?;
        match s {
            "+Inf" | "Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => s
                .parse()
                .map_err(|_| bad(format!("histogram {what} {s:?} is not a number"))),
        }
    };
    let mut h = FloatHistogram {
        count: num(obj.get("count"), "count")?,
        sum: num(obj.get("sum"), "sum")?,
        ..FloatHistogram::default()
    };
    let mut buckets = Vec::new();
    for b in obj.get("buckets").and_then(J::as_array).into_iter().flatten() {
        let b = b
            .as_array()
            .filter(|b| b.len() == 4)
            .ok_or_else(|| bad("a histogram bucket is not [rule, lower, upper, count]".into()))?;
        let (lo, hi, c) = (
            num(b.get(1), "bucket bound")?,
            num(b.get(2), "bucket bound")?,
            num(b.get(3), "bucket count")?,
        );
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(bad(format!("histogram bucket [{lo}, {hi}] has no valid bounds")));
        }
        buckets.push((lo, hi, c));
    }
    // The zero bucket straddles 0 symmetrically; other buckets lie on one side.
    let mut sided = Vec::new();
    for (lo, hi, c) in buckets {
        if lo < 0.0 && hi > 0.0 && lo == -hi && hi.is_finite() {
            h.zero_threshold = hi;
            h.zero_count = c;
        } else {
            sided.push((lo, hi, c));
        }
    }
    match exponential_schema(&sided) {
        Some(schema) => {
            h.schema = schema;
            let scale = 2f64.powi(schema);
            let index = |upper: f64| (upper.log2() * scale).round() as i32;
            for &(lo, hi, c) in &sided {
                if hi <= 0.0 {
                    h.negative.push((index(-lo), c));
                } else {
                    h.positive.push((index(hi), c));
                }
            }
            h.negative.sort_by_key(|b| b.0);
            h.positive.sort_by_key(|b| b.0);
        }
        None => {
            h.schema = CUSTOM_BUCKETS_SCHEMA;
            let mut bounds: Vec<f64> = sided
                .iter()
                .flat_map(|&(lo, hi, _)| [lo, hi])
                .filter(|b| b.is_finite())
                .collect();
            bounds.sort_by(f64::total_cmp);
            bounds.dedup();
            for &(_, hi, c) in &sided {
                // Bucket i is (bounds[i-1], bounds[i]]; the last, (bounds[n-1], +Inf], is n.
                let i = bounds.iter().position(|b| *b == hi).unwrap_or(bounds.len());
                h.positive.push((i32::try_from(i).unwrap_or(i32::MAX), c));
            }
            h.positive.sort_by_key(|b| b.0);
            h.custom_values = bounds;
        }
    }
    Ok(((t * 1000.0).round() as i64, h))
}

/// The exponential schema whose bucket bounds are exactly these buckets' (all on one side of 0,
/// finite and non-zero), if there is one.
fn exponential_schema(buckets: &[(f64, f64, f64)]) -> Option<i32> {
    let abs: Vec<(f64, f64)> = buckets
        .iter()
        .map(|&(lo, hi, _)| if hi <= 0.0 { (-hi, -lo) } else { (lo, hi) })
        .collect();
    if abs
        .iter()
        .any(|&(lo, hi)| !(lo > 0.0 && hi.is_finite() && hi > lo))
    {
        return None;
    }
    let Some(&(lo, hi)) = abs.first() else {
        // Only a zero bucket (or nothing): any schema describes it; Prometheus's default is 0.
        return Some(0);
    };
    let schema = (-(hi / lo).log2().log2()).round();
    if !(-4.0..=8.0).contains(&schema) {
        return None;
    }
    let schema = schema as i32;
    let probe = FloatHistogram {
        schema,
        ..FloatHistogram::default()
    };
    let scale = 2f64.powi(schema);
    let exact = |want: f64, got: f64| (want - got).abs() <= 1e-12 * want.abs();
    abs.iter()
        .all(|&(lo, hi)| {
            let (l, u) = probe.bucket_bounds((hi.log2() * scale).round() as i32);
            exact(lo, l) && exact(hi, u)
        })
        .then_some(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::json::write_query_data;

    fn response(value: &Value) -> String {
        let mut data = String::new();
        write_query_data(&mut data, value);
        format!("{{\"status\":\"success\",\"data\":{data}}}")
    }

    fn hist(schema: i32, positive: &[(i32, f64)], negative: &[(i32, f64)]) -> FloatHistogram {
        let count = positive.iter().chain(negative).map(|b| b.1).sum();
        FloatHistogram {
            schema,
            count,
            sum: 12.5,
            positive: positive.to_vec(),
            negative: negative.to_vec(),
            ..FloatHistogram::default()
        }
    }

    /// What the API writes for a histogram reads back into a histogram the API writes the same
    /// way: every listed bucket's bounds and count, the count and the sum.
    /// The flags' files: errors name the flag and the file; the password's trailing newline
    /// is dropped, as Prometheus's `password_file`.
    #[test]
    fn client_options_name_the_flag_and_file_they_cannot_use() {
        let dir = std::env::temp_dir().join(format!("burnwatch-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let password = dir.join("password");
        std::fs::write(&password, "s3cret\n").unwrap();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let missing = dir.join("missing");
        let o = ClientOptions::from_files(Some("alice".into()), Some(&password), None, false).unwrap();
        assert_eq!(o.password.as_deref(), Some("s3cret"));
        assert!(!format!("{o:?}").contains("s3cret"));
        let err = |r: Result<ClientOptions, ClientError>| r.unwrap_err().to_string();
        let e = err(ClientOptions::from_files(
            Some("a".into()),
            Some(&missing),
            None,
            false,
        ));
        assert!(
            e.starts_with("cannot read --password-file") && e.contains("missing"),
            "{e}"
        );
        let e = err(ClientOptions::from_files(None, None, Some(&missing), false));
        assert!(e.starts_with("cannot read --ca-file"), "{e}");
        let e = err(ClientOptions::from_files(None, None, Some(&not_pem), false));
        assert!(
            e.contains("--ca-file") && e.contains("holds no PEM certificate"),
            "{e}"
        );
        let e = err(ClientOptions::from_files(None, Some(&password), None, false));
        assert!(e.contains("--password-file needs --username"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Refused credentials are named as such, not as a malformed answer.
    #[test]
    fn a_401_says_whether_credentials_were_sent() {
        let sent = ClientError::Unauthorized {
            url: "https://x/api/v1/query".into(),
            with_credentials: true,
        };
        assert!(
            sent.to_string()
                .contains("401 Unauthorized: it refused the credentials")
        );
        let none = ClientError::Unauthorized {
            url: "https://x/api/v1/query".into(),
            with_credentials: false,
        };
        assert!(
            none.to_string()
                .contains("401 Unauthorized: it needs credentials")
        );
    }

    #[test]
    fn native_histograms_read_back_as_written() {
        let mut with_zero = hist(0, &[(1, 3.0), (2, 0.0), (4, 5.0)], &[(0, 2.0), (3, 1.0)]);
        with_zero.zero_threshold = 0.001;
        with_zero.zero_count = 1.0;
        let custom = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![0.1, 0.5, 1.0],
            ..hist(0, &[(0, 2.0), (2, 1.0), (3, 4.0)], &[])
        };
        // Custom bounds that happen to be powers of two read as schema 0: the same buckets.
        let custom_pow2 = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![1.0, 2.0, 4.0],
            ..hist(0, &[(1, 1.0), (2, 1.0)], &[])
        };
        let cases = [
            with_zero,
            hist(3, &[(-5, 1.0), (10, 2.0)], &[]),
            hist(-2, &[(1, 1.0)], &[(2, 4.0)]),
            hist(8, &[(700, 1.5)], &[]),
            custom,
            custom_pow2,
            hist(0, &[], &[]),
        ];
        for h in cases {
            let vector = Value::Vector(vec![InstantSample {
                labels: Labels::from_pairs([("__name__", "req_seconds")]),
                t: 1_500,
                v: 0.0,
                h: Some(Arc::new(h.clone())),
                drop_name: false,
            }]);
            let body = response(&vector);
            let (back, _) = decode_response(&body).unwrap_or_else(|e| panic!("{e:?}\n{body}"));
            assert_eq!(response(&back), body, "{h:?}");
            let Value::Vector(v) = &back else {
                panic!("{back:?}")
            };
            let got = v[0].h.as_deref().unwrap();
            assert_eq!((got.count, got.sum), (h.count, h.sum));

            let matrix = Value::Matrix(vec![RangeSeries {
                labels: Labels::from_pairs([("__name__", "req_seconds")]),
                samples: Vec::new().into(),
                histograms: vec![
                    HSample {
                        t: 1_000,
                        h: Arc::new(h.clone()),
                    },
                    HSample {
                        t: 2_000,
                        h: Arc::new(h),
                    },
                ],
                drop_name: false,
            }]);
            let body = response(&matrix);
            let (back, _) = decode_response(&body).unwrap_or_else(|e| panic!("{e:?}\n{body}"));
            assert_eq!(response(&back), body);
        }
    }

    #[test]
    fn a_broken_histogram_names_what_is_wrong() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"x","sum":"1"}]}]}}"#;
        match decode_response(body) {
            Err(Decoded::Malformed(m)) => assert!(m.contains("count") && m.contains("\"x\""), "{m}"),
            other => panic!("{other:?}"),
        }
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"1","sum":"1","buckets":[[0,"2","1","1"]]}]}]}}"#;
        assert!(matches!(decode_response(body), Err(Decoded::Malformed(m)) if m.contains("no valid bounds")));
    }
}

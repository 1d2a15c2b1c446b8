//! `--web.config.file`: Prometheus's web configuration (the exporter-toolkit format) for the API.
//!
//! ```yaml
//! basic_auth_users:
//!   alice: $2y$10$...   # a bcrypt hash, as `htpasswd -nBC 10 alice` prints it
//! ```
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt   # PEM; relative paths are read from the config file's folder
//!   key_file: server.key
//! ```
//!
//! Supported keys are `basic_auth_users` and `tls_server_config` (`cert_file`, `key_file`); any
//! other key (including the exporter-toolkit keys burnwatch does not implement yet, such as
//! `http_server_config` or `tls_server_config.client_ca_file`) is an error that names it, so a
//! setting the user relies on is never silently ignored.
//!
//! Behaviour follows the exporter-toolkit (`web/handler.go`): the check covers every endpoint,
//! `/-/healthy` and `/-/ready` included; a missing or wrong credential gets `401 Unauthorized`
//! with `WWW-Authenticate: Basic`; an unknown user is checked against a dummy hash (made at
//! start with the users' highest cost) so that the response time does not tell which user names
//! exist; bcrypt checks run one at a time, so a flood of guesses takes one core, not all.
//! As there, the outcome of each check is cached (up to [`CACHE_ENTRIES`] entries), so a client
//! sending the same credentials on every request (remote write) costs one bcrypt, not one per
//! request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

/// The web configuration file, as Prometheus's `--web.config.file` reads it.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Users allowed in with HTTP basic authentication, each mapped to a bcrypt hash of their
    /// password. Empty or absent: no authentication (Prometheus's default).
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    /// Serve HTTPS with this certificate and key. Absent: plain HTTP (Prometheus's default).
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// The TLS acceptor built from `tls_server_config` when the file is loaded.
    #[serde(skip)]
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// A bcrypt hash checked for unknown users, with the users' highest cost.
    #[serde(skip)]
    dummy_hash: String,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field(
                "basic_auth_users",
                &self.basic_auth_users.keys().collect::<Vec<_>>(),
            )
            .field("tls_server_config", &self.tls_server_config)
            .finish()
    }
}

/// `tls_server_config`: the server's certificate chain and private key, both PEM files.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// The certificate chain (PEM), the server's certificate first.
    pub cert_file: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// Why a web configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file cannot be read.
    #[error("cannot read web config file {path}: {source}")]
    Read {
        /// The file named by `--web.config.file`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML for this format, or has a key burnwatch does not support.
    #[error(
        "web config file {path}: {message} (supported keys: basic_auth_users, \
         tls_server_config.cert_file, tls_server_config.key_file)"
    )]
    Parse {
        /// The file named by `--web.config.file`.
        path: PathBuf,
        /// What the YAML parser said, with the key's path.
        message: String,
    },
    /// A user's password is not a bcrypt hash.
    #[error("web config file {path}: basic_auth_users.{user} is not a bcrypt hash: {reason}")]
    BadHash {
        /// The file named by `--web.config.file`.
        path: PathBuf,
        /// The user whose entry is wrong.
        user: String,
        /// What bcrypt said.
        reason: String,
    },
    /// The TLS certificate or key cannot be used.
    #[error("web config file {path}: tls_server_config: {reason}")]
    Tls {
        /// The file named by `--web.config.file`.
        path: PathBuf,
        /// Which file failed and why.
        reason: String,
    },
}

impl WebConfig {
    /// Reads and validates a web configuration file.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates the text of a web configuration file; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, WebConfigError> {
        // An empty file is an empty config, as in Prometheus.
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let de = serde_norway::Deserializer::from_str(text);
        let config: WebConfig = serde_path_to_error::deserialize(de).map_err(|e| WebConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        for (user, hash) in &config.basic_auth_users {
            // The exporter-toolkit refuses a non-bcrypt entry at start-up (bcrypt.Cost fails);
            // do the same rather than answer 401 to every request later.
            hash.parse::<bcrypt::HashParts>()
                .map_err(|e| WebConfigError::BadHash {
                    path: path.to_owned(),
                    user: user.clone(),
                    reason: e.to_string(),
                })?;
        }
        let mut config = config;
        let max_cost = config
            .basic_auth_users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max();
        if let Some(cost) = max_cost {
            // The password does not matter: an unknown user is refused whatever the outcome.
            config.dummy_hash =
                bcrypt::hash("burnwatch: not a user", cost).map_err(|e| WebConfigError::BadHash {
                    path: path.to_owned(),
                    user: "(dummy)".into(),
                    reason: e.to_string(),
                })?;
        }
        if let Some(tls) = &config.tls_server_config {
            // The exporter-toolkit reads relative paths from the config file's folder.
            let dir = path.parent().unwrap_or(Path::new("."));
            let acceptor =
                tls_acceptor(&dir.join(&tls.cert_file), &dir.join(&tls.key_file)).map_err(|reason| {
                    WebConfigError::Tls {
                        path: path.to_owned(),
                        reason,
                    }
                })?;
            config.tls = Some(acceptor);
        }
        Ok(config)
    }

    /// The TLS acceptor when `tls_server_config` is set.
    pub fn tls(&self) -> Option<&tokio_rustls::TlsAcceptor> {
        self.tls.as_ref()
    }

    /// Whether requests must carry basic-auth credentials.
    pub fn requires_auth(&self) -> bool {
        !self.basic_auth_users.is_empty()
    }

    /// For a client inside this process (`up`'s dashboard) when the API requires credentials:
    /// adds a user only this process knows, a random name with a random 256-bit password, and
    /// returns `Some((user, password))`. Without `basic_auth_users` nothing is added (`None`): a
    /// config without users stays open to everyone.
    ///
    /// The hash has bcrypt's lowest cost: the cost slows guessing a chosen password, and this
    /// one is random, so it would add no strength and only delay the dashboard's first query.
    ///
    /// # Errors
    ///
    /// The system's random source failed.
    pub fn add_process_credential(&mut self) -> Result<Option<(String, String)>, WebConfigError> {
        if !self.requires_auth() {
            return Ok(None);
        }
        let random_hex = |len: usize| -> Result<String, WebConfigError> {
            let mut bytes = vec![0u8; len];
            rustls::crypto::ring::default_provider()
                .secure_random
                .fill(&mut bytes)
                .map_err(|_| WebConfigError::Parse {
                    path: PathBuf::from("(process credential)"),
                    message: "the system's random source failed".into(),
                })?;
            Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
        };
        let mut user = format!("burnwatch-up-{}", random_hex(8)?);
        while self.basic_auth_users.contains_key(&user) {
            user = format!("burnwatch-up-{}", random_hex(8)?);
        }
        let password = random_hex(32)?;
        let hash = bcrypt::hash(&password, 4).map_err(|e| WebConfigError::BadHash {
            path: PathBuf::from("(process credential)"),
            user: user.clone(),
            reason: e.to_string(),
        })?;
        self.basic_auth_users.insert(user.clone(), hash);
        Ok(Some((user, password)))
    }
}

/// Builds a rustls server (ring provider, TLS 1.2 and 1.3) from PEM files.
fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read cert_file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("cert_file {} holds no certificate", cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("cannot read key_file {}: {e}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("cert_file and key_file do not make a server identity: {e}"))?;
    // HTTP/1.1 only: the lenient request-line reader (see `lenient`) follows HTTP/1 streams.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// How long a client may take over the TLS handshake before its connection is dropped.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A listener that serves TLS: TCP connections are accepted at once and their handshakes run as
/// tasks of their own, so a slow or silent client cannot hold up the next connection.
pub(crate) struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handshakes: tokio::task::JoinSet<
        Option<(
            tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
            std::net::SocketAddr,
        )>,
    >,
}

impl TlsListener {
    pub(crate) fn new(tcp: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor) -> Self {
        Self {
            tcp,
            acceptor,
            handshakes: tokio::task::JoinSet::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, addr)) => {
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => Some((tls, addr)),
                                Ok(Err(e)) => {
                                    tracing::debug!(peer = %addr, error = %e, "TLS handshake failed.");
                                    None
                                }
                                Err(_) => {
                                    tracing::debug!(peer = %addr, "TLS handshake timed out.");
                                    None
                                }
                            }
                        });
                    }
                    Err(e) => {
                        // As axum's own TCP listener does: a per-connection error is skipped,
                        // anything else (out of file descriptors) waits a moment before retrying.
                        use std::io::ErrorKind::*;
                        if !matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
                            tracing::error!(error = %e, "Accepting a connection failed.");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(conn)) = done {
                        return conn;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// What the basic-auth middleware needs: the users, the dummy hash, and a lock that runs one
/// bcrypt check at a time.
pub(crate) struct BasicAuth {
    users: BTreeMap<String, String>,
    dummy_hash: String,
    one_at_a_time: tokio::sync::Mutex<()>,
    /// Outcomes of bcrypt checks, by (user, hash, password).
    cache: std::sync::Mutex<std::collections::HashMap<(String, String, String), bool>>,
}

/// How many check outcomes [`BasicAuth`] keeps; when full it starts again empty (the
/// exporter-toolkit keeps 100 and evicts at random).
pub const CACHE_ENTRIES: usize = 100;

impl BasicAuth {
    pub(crate) fn new(web: &WebConfig) -> Self {
        Self {
            users: web.basic_auth_users.clone(),
            dummy_hash: web.dummy_hash.clone(),
            one_at_a_time: tokio::sync::Mutex::new(()),
            cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

/// The middleware that enforces `basic_auth_users` on every request.
pub(crate) async fn basic_auth(auth: Arc<BasicAuth>, request: Request, next: Next) -> Response {
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic);
    let Some((user, password)) = credentials else {
        return unauthorized();
    };
    let (known, hash) = match auth.users.get(&user) {
        Some(h) => (true, h.clone()),
        None => (false, auth.dummy_hash.clone()),
    };
    let key = (user, hash, password);
    let cached = auth
        .cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .copied();
    let verified = match cached {
        Some(v) => v,
        None => {
            let _turn = auth.one_at_a_time.lock().await;
            let (password, hash) = (key.2.clone(), key.1.clone());
            let v = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or(false);
            let mut cache = auth.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, v);
            v
        }
    };
    if known && verified {
        next.run(request).await
    } else {
        unauthorized()
    }
}

/// `Basic base64(user:password)` → `(user, password)`; `None` for anything else.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn unauthorized() -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, Body::from("Unauthorized\n")).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, WebConfigError> {
        WebConfig::parse(text, Path::new("web.yml"))
    }

    #[test]
    fn basic_auth_users_round_trip() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let config = parse(&format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
        assert_eq!(config.basic_auth_users.get("alice"), Some(&hash));
        assert!(config.requires_auth());
        assert!(!parse("").unwrap().requires_auth());
    }

    #[test]
    fn unknown_key_is_named_with_the_supported_ones() {
        let err = parse("basic_auth_user:\n  alice: x\n").unwrap_err().to_string();
        assert!(err.contains("basic_auth_user"), "{err}");
        assert!(err.contains("supported keys: basic_auth_users"), "{err}");
        let err = parse("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("client_ca_file"), "{err}");
        assert!(err.contains("tls_server_config.cert_file"), "{err}");
        let err = parse("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: b\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read cert_file /nonexistent.crt"), "{err}");
    }

    #[test]
    fn a_plain_text_password_is_refused_naming_the_user() {
        let err = parse("basic_auth_users:\n  bob: hunter2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("basic_auth_users.bob"), "{err}");
    }

    #[test]
    fn dummy_hash_has_the_users_highest_cost() {
        let (low, high) = (bcrypt::hash("a", 4).unwrap(), bcrypt::hash("b", 5).unwrap());
        let config = parse(&format!("basic_auth_users:\n  a: '{low}'\n  b: '{high}'\n")).unwrap();
        let dummy: bcrypt::HashParts = config.dummy_hash.parse().unwrap();
        assert_eq!(dummy.get_cost(), 5);
    }

    #[tokio::test]
    async fn repeated_credentials_are_checked_once_and_wrong_ones_refused() {
        use tower::ServiceExt as _;
        let hash = bcrypt::hash("pw", 4).unwrap();
        let config = parse(&format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
        let auth = Arc::new(BasicAuth::new(&config));
        let layer_auth = auth.clone();
        let app = axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(move |req, next| {
                basic_auth(layer_auth.clone(), req, next)
            }));
        let send = |user: &str, pw: &str| {
            let value = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
            let req = Request::builder()
                .uri("/")
                .header(header::AUTHORIZATION, format!("Basic {value}"))
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(req)
        };
        assert_eq!(send("alice", "pw").await.unwrap().status(), StatusCode::OK);
        assert_eq!(send("alice", "pw").await.unwrap().status(), StatusCode::OK);
        assert_eq!(auth.cache.lock().unwrap().len(), 1);
        let r = send("alice", "nope").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Basic");
        // A cached refusal stays a refusal, and an unknown user with a known password is refused.
        assert_eq!(
            send("alice", "nope").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send("bob", "pw").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(auth.cache.lock().unwrap().len(), 3);
    }

    /// `up`'s dashboard gets in with a credential only its process knows, added only when the
    /// file requires basic auth (a TLS-only config stays open to everyone).
    #[test]
    fn a_process_credential_is_added_only_where_auth_is_required() {
        let mut open = WebConfig::default();
        assert_eq!(open.add_process_credential().unwrap(), None);
        assert!(!open.requires_auth());
        let hash = bcrypt::hash("pw", 4).unwrap();
        let mut secured = WebConfig::parse(
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
            Path::new("web.yml"),
        )
        .unwrap();
        let (user, password) = secured.add_process_credential().unwrap().unwrap();
        assert!(
            user.starts_with("burnwatch-up-") && password.len() == 64,
            "{user}"
        );
        assert!(bcrypt::verify(&password, &secured.basic_auth_users[&user]).unwrap());
        assert_eq!(secured.basic_auth_users.len(), 2);
        // Another process (or call) gets another credential.
        let (other, other_password) = secured.add_process_credential().unwrap().unwrap();
        assert_ne!((&user, &password), (&other, &other_password));
    }

    #[test]
    fn basic_header_parsing() {
        let enc = base64::engine::general_purpose::STANDARD.encode("al:ice:pw");
        assert_eq!(
            parse_basic(&format!("Basic {enc}")),
            Some(("al".into(), "ice:pw".into()))
        );
        assert_eq!(parse_basic(&format!("Bearer {enc}")), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}

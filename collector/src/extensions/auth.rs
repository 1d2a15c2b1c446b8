//! `extensions: bearertokenauth` and `extensions: basicauth` — server authenticators for
//! the OTLP receivers, with the config shapes of the OTel Collector contrib extensions
//! of those names. A receiver protocol names one in `auth: {authenticator: <id>}`
//! (otelcol's `configauth`); requests without valid credentials are refused before their
//! body is read (HTTP 401, gRPC `UNAUTHENTICATED`).
//!
//! `bearertokenauth.filename` is re-read when the file changes (contrib watches it with
//! fsnotify), so a rotated token takes effect without a restart: the file's identity (inode,
//! size, modification time) is checked at most once a second, on the next request. A rotated
//! file that cannot be read or holds no token keeps the previous token and logs a warning.
//!
//! `basicauth.htpasswd` reads the formats go-htpasswd (contrib's library) reads: bcrypt,
//! `{SHA}`, `{SSHA}`, MD5 (`$apr1$`, `$1$`), SHA-crypt (`$5$`, `$6$`) and plain text; see
//! [`super::htpasswd`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderMap;
use serde::{Deserialize, Serialize};

pub use super::htpasswd::Password;
use super::htpasswd::constant_time_eq;
use crate::config::ConfigError;

/// `extensions.bearertokenauth`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BearerTokenAuthConfig {
    /// The request header that carries the token (default `Authorization`).
    #[serde(default = "default_header")]
    pub header: String,
    /// The scheme written before the token (default `Bearer`; empty for the bare token).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// The accepted token.
    #[serde(default)]
    pub token: Option<String>,
    /// Several accepted tokens (any one of them is accepted).
    #[serde(default)]
    pub tokens: Vec<String>,
    /// A file holding the token (surrounding whitespace is trimmed); takes precedence
    /// over `token` and `tokens`, as in contrib.
    #[serde(default)]
    pub filename: Option<String>,
}

fn default_header() -> String {
    "Authorization".into()
}
fn default_scheme() -> String {
    "Bearer".into()
}

/// `extensions.basicauth.htpasswd`: where the `user:password` lines come from.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HtpasswdConfig {
    /// A file of `user:password` lines.
    #[serde(default)]
    pub file: Option<String>,
    /// `user:password` lines written in the configuration; they are added after the
    /// file's, so an inline entry wins over the file's for the same user (as contrib).
    #[serde(default)]
    pub inline: Option<String>,
}

/// `extensions.basicauth`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// The accepted users (server side).
    #[serde(default)]
    pub htpasswd: Option<HtpasswdConfig>,
    /// Accepted for compatibility: contrib's client-side credentials, used by exporters;
    /// no exporter here authenticates, so a `basicauth` with only this key accepts no
    /// request when named by a receiver.
    #[serde(default)]
    pub client_auth: Option<serde_norway::Value>,
}

/// A server authenticator built from its extension's configuration.
#[derive(Debug, Clone)]
pub enum Authenticator {
    /// Accepts a request whose `header` equals one of the expected values (scheme included).
    Bearer {
        /// The header to read.
        header: String,
        /// The accepted header values, e.g. `Bearer s3cret`.
        expected: BearerTokens,
    },
    /// Accepts HTTP Basic credentials matching one `(user, password)` pair.
    Basic {
        /// The accepted users and their passwords.
        users: Vec<(String, Password)>,
    },
}

/// The header values a bearer authenticator accepts: fixed, or read from `filename` and
/// re-read when the file changes.
#[derive(Debug, Clone)]
pub struct BearerTokens {
    scheme: String,
    source: TokenSource,
}

#[derive(Debug, Clone)]
enum TokenSource {
    Fixed(Vec<String>),
    File(Arc<TokenFile>),
}

/// A token file and what was last read from it.
#[derive(Debug)]
struct TokenFile {
    path: PathBuf,
    state: Mutex<TokenFileState>,
}

#[derive(Debug)]
struct TokenFileState {
    /// The accepted header value.
    expected: String,
    /// The file's identity when it was read.
    stamp: Option<FileStamp>,
    /// When the file was last looked at.
    checked: Instant,
}

/// What tells a changed file: a rename over it (Kubernetes' secret volumes swap a
/// symlink) changes the inode; an edit in place the size or modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

/// How often a token file is looked at for changes.
const TOKEN_FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

fn file_stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        inode: meta.ino(),
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// Reads a token file: its content without surrounding whitespace, never empty.
fn read_token(path: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{} holds no token", path.display()));
    }
    Ok(token.to_string())
}

impl BearerTokens {
    fn with_scheme(&self, token: &str) -> String {
        if self.scheme.is_empty() {
            token.to_string()
        } else {
            format!("{} {}", self.scheme, token)
        }
    }

    /// Whether `value` is an accepted header value. Every candidate is compared, so timing
    /// does not reveal which one matched.
    fn accepts(&self, value: &[u8]) -> bool {
        match &self.source {
            TokenSource::Fixed(expected) => expected
                .iter()
                .fold(false, |ok, e| constant_time_eq(e.as_bytes(), value) | ok),
            TokenSource::File(file) => {
                let Ok(mut state) = file.state.lock() else {
                    return false;
                };
                if state.checked.elapsed() >= TOKEN_FILE_CHECK_INTERVAL {
                    state.checked = Instant::now();
                    let stamp = file_stamp(&file.path);
                    if stamp.is_some() && stamp != state.stamp {
                        match read_token(&file.path) {
                            Ok(token) => {
                                state.expected = self.with_scheme(&token);
                                state.stamp = stamp;
                                tracing::info!(
                                    file = %file.path.display(),
                                    "bearertokenauth: the token file changed; its new token is in use."
                                );
                            }
                            Err(err) => {
                                // Mid-rotation (truncated, not yet written): keep the old token
                                // and look again next time.
                                tracing::warn!(
                                    error = %err,
                                    "bearertokenauth: the changed token file cannot be used; keeping the previous token."
                                );
                            }
                        }
                    }
                }
                constant_time_eq(state.expected.as_bytes(), value)
            }
        }
    }
}

/// How many outcomes of slow hash checks are remembered before the memory is cleared.
const SLOW_HASH_CACHE_ENTRIES: usize = 100;

/// Outcomes of slow hash checks (bcrypt, SHA-crypt) by (hash, password given), as
/// Prometheus's exporter-toolkit keeps them: an exporter sends the same credentials on every
/// request, and without it each request would cost a full bcrypt (tens of milliseconds of a
/// worker thread at the usual cost 10).
static SLOW_HASH_OUTCOMES: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<(String, String), bool>>,
> = std::sync::LazyLock::new(Default::default);

/// Whether `given` is `password`, from the cache for slow hashes seen before.
fn password_matches(password: &Password, given: &str) -> bool {
    let hash = match password {
        Password::Bcrypt(hash) | Password::ShaCrypt(hash) => hash,
        fast => return fast.verify(given),
    };
    let key = (hash.clone(), given.to_string());
    if let Some(&ok) = SLOW_HASH_OUTCOMES.lock().ok().as_ref().and_then(|m| m.get(&key)) {
        return ok;
    }
    let ok = password.verify(given);
    if let Ok(mut cache) = SLOW_HASH_OUTCOMES.lock() {
        if cache.len() >= SLOW_HASH_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, ok);
    }
    ok
}

/// Why a request was not authenticated; the text is sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

impl BearerTokenAuthConfig {
    /// Checks the configuration; `path` is this extension's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            return Err(ConfigError::at(
                format!("{path}.header"),
                format!("{:?} is not a valid HTTP header name", self.header),
            ));
        }
        if self.filename.is_none() && self.token.is_none() && self.tokens.is_empty() {
            return Err(ConfigError::at(path, "must set one of token, tokens or filename"));
        }
        if self.token.is_some() && !self.tokens.is_empty() {
            return Err(ConfigError::at(path, "must not set both token and tokens"));
        }
        if let Some(token) = &self.token
            && token.is_empty()
        {
            return Err(ConfigError::at(format!("{path}.token"), "must not be empty"));
        }
        if let Some(i) = self.tokens.iter().position(String::is_empty) {
            return Err(ConfigError::at(
                format!("{path}.tokens[{i}]"),
                "must not be empty",
            ));
        }
        Ok(())
    }

    /// Reads the token file (if any) and builds the authenticator.
    pub fn build(&self, path: &str) -> Result<Authenticator, ConfigError> {
        self.validate(path)?;
        let mut expected = BearerTokens {
            scheme: self.scheme.clone(),
            source: TokenSource::Fixed(Vec::new()),
        };
        expected.source = match &self.filename {
            Some(file) => {
                let file = PathBuf::from(file);
                let stamp = file_stamp(&file);
                let token = read_token(&file)
                    .map_err(|message| ConfigError::at(format!("{path}.filename"), message))?;
                TokenSource::File(Arc::new(TokenFile {
                    path: file,
                    state: Mutex::new(TokenFileState {
                        expected: expected.with_scheme(&token),
                        stamp,
                        checked: Instant::now(),
                    }),
                }))
            }
            None => TokenSource::Fixed(
                self.token
                    .iter()
                    .chain(&self.tokens)
                    .map(|t| expected.with_scheme(t))
                    .collect(),
            ),
        };
        Ok(Authenticator::Bearer {
            header: self.header.clone(),
            expected,
        })
    }
}

/// Parses `user:password` lines; `source` names them in errors.
fn parse_htpasswd(text: &str, path: &str, source: &str) -> Result<Vec<(String, Password)>, ConfigError> {
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((user, password)) = line.split_once(':') else {
            return Err(ConfigError::at(
                path,
                format!("{source} line {}: expected user:password", i + 1),
            ));
        };
        let password = Password::parse(password)
            .map_err(|reason| ConfigError::at(path, format!("{source} line {}: {reason}", i + 1)))?;
        users.push((user.to_string(), password));
    }
    Ok(users)
}

impl BasicAuthConfig {
    /// Checks the configuration; `path` is this extension's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if let Some(htpasswd) = &self.htpasswd {
            if htpasswd.file.is_none() && htpasswd.inline.is_none() {
                return Err(ConfigError::at(
                    format!("{path}.htpasswd"),
                    "must set file or inline",
                ));
            }
            if let Some(inline) = &htpasswd.inline {
                parse_htpasswd(inline, &format!("{path}.htpasswd.inline"), "inline")?;
            }
        } else if self.client_auth.is_none() {
            return Err(ConfigError::at(path, "must set htpasswd or client_auth"));
        }
        Ok(())
    }

    /// Reads the htpasswd file (if any) and builds the authenticator.
    pub fn build(&self, path: &str) -> Result<Authenticator, ConfigError> {
        self.validate(path)?;
        let mut users = Vec::new();
        if let Some(htpasswd) = &self.htpasswd {
            if let Some(file) = &htpasswd.file {
                let text = std::fs::read_to_string(Path::new(file)).map_err(|err| {
                    ConfigError::at(
                        format!("{path}.htpasswd.file"),
                        format!("cannot read {file}: {err}"),
                    )
                })?;
                users.extend(parse_htpasswd(&text, &format!("{path}.htpasswd.file"), file)?);
            }
            if let Some(inline) = &htpasswd.inline {
                let inline = parse_htpasswd(inline, &format!("{path}.htpasswd.inline"), "inline")?;
                users.retain(|(user, _)| !inline.iter().any(|(u, _)| u == user));
                users.extend(inline);
            }
        }
        Ok(Authenticator::Basic { users })
    }
}

/// Standard base64 with padding, as Go's `base64.StdEncoding.DecodeString` (what the contrib
/// extension uses) reads Basic credentials.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

impl Authenticator {
    /// Checks a request's headers (HTTP headers or gRPC metadata, which arrive as
    /// HTTP/2 headers).
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        match self {
            Authenticator::Bearer { header, expected } => {
                let value = headers
                    .get(header.as_str())
                    .map(|v| v.as_bytes())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| AuthError(format!("missing or empty {header} header")))?;
                let ok = expected.accepts(value);
                if ok {
                    Ok(())
                } else {
                    Err(AuthError(format!("invalid credentials in the {header} header")))
                }
            }
            Authenticator::Basic { users } => {
                let value = headers
                    .get(http::header::AUTHORIZATION)
                    .ok_or_else(|| AuthError("missing Authorization header".into()))?;
                let value = value
                    .to_str()
                    .map_err(|_| AuthError("invalid Authorization header".into()))?;
                let encoded = value
                    .strip_prefix("Basic ")
                    .ok_or_else(|| AuthError("the Authorization header is not Basic".into()))?;
                let decoded = decode_base64(encoded.trim())
                    .ok_or_else(|| AuthError("the Basic credentials are not valid base64".into()))?;
                let decoded = String::from_utf8(decoded)
                    .map_err(|_| AuthError("the Basic credentials are not UTF-8".into()))?;
                let (user, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| AuthError("the Basic credentials have no ':'".into()))?;
                let ok = match users.iter().find(|(u, _)| u == user) {
                    Some((_, p)) => password_matches(p, password),
                    None => {
                        // An unknown user costs what a known one does (a slow hash check
                        // against one of the file's hashes), so timing does not tell which
                        // names exist.
                        if let Some((_, p)) = users.iter().find(|(_, p)| p.is_slow()) {
                            let _ = password_matches(p, password);
                        }
                        false
                    }
                };
                if ok {
                    Ok(())
                } else {
                    Err(AuthError("invalid username or password".into()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn bearer_token_accepts_scheme_and_token_only() {
        let c: BearerTokenAuthConfig = serde_norway::from_str("token: s3cret").unwrap();
        let auth = c.build("extensions.bearertokenauth").unwrap();
        assert!(
            auth.authenticate(&headers("authorization", "Bearer s3cret"))
                .is_ok()
        );
        assert!(
            auth.authenticate(&headers("authorization", "Bearer wrong"))
                .is_err()
        );
        assert!(auth.authenticate(&headers("authorization", "s3cret")).is_err());
        let err = auth.authenticate(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.0, "missing or empty Authorization header");
    }

    #[test]
    fn bearer_token_custom_header_and_empty_scheme() {
        let c: BearerTokenAuthConfig =
            serde_norway::from_str("header: X-Api-Key\nscheme: \"\"\ntokens: [a1, b2]").unwrap();
        let auth = c.build("extensions.bearertokenauth").unwrap();
        assert!(auth.authenticate(&headers("x-api-key", "b2")).is_ok());
        assert!(auth.authenticate(&headers("x-api-key", "Bearer b2")).is_err());
        assert!(auth.authenticate(&headers("authorization", "b2")).is_err());
    }

    #[test]
    fn bearer_token_from_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "filetoken\n").unwrap();
        let c = BearerTokenAuthConfig {
            filename: Some(file.display().to_string()),
            ..serde_norway::from_str("{}").unwrap()
        };
        let auth = c.build("extensions.bearertokenauth").unwrap();
        assert!(
            auth.authenticate(&headers("authorization", "Bearer filetoken"))
                .is_ok()
        );
    }

    #[test]
    fn bearer_token_config_errors_name_the_path() {
        let c: BearerTokenAuthConfig = serde_norway::from_str("{}").unwrap();
        assert_eq!(
            c.validate("extensions.bearertokenauth/x")
                .unwrap_err()
                .to_string(),
            "extensions.bearertokenauth/x must set one of token, tokens or filename"
        );
        let c: BearerTokenAuthConfig = serde_norway::from_str("filename: /nonexistent/token").unwrap();
        let err = c.build("extensions.bearertokenauth").unwrap_err();
        assert_eq!(err.path, "extensions.bearertokenauth.filename");
    }

    #[test]
    fn basic_auth_plain_inline_passwords() {
        let c: BasicAuthConfig =
            serde_norway::from_str("htpasswd:\n  inline: |\n    alice:wonder:land\n    bob:pw\n").unwrap();
        let auth = c.build("extensions.basicauth").unwrap();
        // alice's password contains ':'; only the first ':' separates the user.
        let ok = headers("authorization", "Basic YWxpY2U6d29uZGVyOmxhbmQ=");
        assert!(auth.authenticate(&ok).is_ok());
        // bob:pw
        assert!(
            auth.authenticate(&headers("authorization", "Basic Ym9iOnB3"))
                .is_ok()
        );
        // bob:px
        assert!(
            auth.authenticate(&headers("authorization", "Basic Ym9iOnB4"))
                .is_err()
        );
        assert!(
            auth.authenticate(&headers("authorization", "Bearer Ym9iOnB3"))
                .is_err()
        );
        assert!(auth.authenticate(&headers("authorization", "Basic !!!")).is_err());
        assert!(auth.authenticate(&HeaderMap::new()).is_err());
    }

    #[test]
    fn basic_auth_inline_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("htpasswd");
        std::fs::write(&file, "bob:old\ncarol:c\n").unwrap();
        let c = BasicAuthConfig {
            htpasswd: Some(HtpasswdConfig {
                file: Some(file.display().to_string()),
                inline: Some("bob:pw\n".into()),
            }),
            client_auth: None,
        };
        let auth = c.build("extensions.basicauth").unwrap();
        assert!(
            auth.authenticate(&headers("authorization", "Basic Ym9iOnB3"))
                .is_ok()
        );
        // bob:old
        assert!(
            auth.authenticate(&headers("authorization", "Basic Ym9iOm9sZA=="))
                .is_err()
        );
        // carol:c
        assert!(
            auth.authenticate(&headers("authorization", "Basic Y2Fyb2w6Yw=="))
                .is_ok()
        );
    }

    /// Regression: `{SHA}` and `$apr1$` entries (what `htpasswd -s` and `htpasswd -m`, its
    /// default, write) were refused at load; go-htpasswd reads them, and so must we.
    #[test]
    fn basic_auth_sha_md5_and_sha_crypt_htpasswd_entries_are_accepted() {
        // Hashes of "password" made by `openssl passwd` (-apr1, -1, -5, -6) and SHA-1/base64.
        let inline = "\
            apr:$apr1$xxxxxxxx$dxHfLAsjHkDRmG83UXe8K0\n\
            md5:$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/\n\
            sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n\
            s256:$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC.\n\
            s512:$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/\n";
        let c = BasicAuthConfig {
            htpasswd: Some(HtpasswdConfig {
                file: None,
                inline: Some(inline.into()),
            }),
            client_auth: None,
        };
        let auth = c.build("extensions.basicauth").unwrap();
        use base64::Engine as _;
        let basic = |user: &str, password: &str| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            headers("authorization", &format!("Basic {encoded}"))
        };
        for user in ["apr", "md5", "sha", "s256", "s512"] {
            assert!(auth.authenticate(&basic(user, "password")).is_ok(), "{user}");
            assert!(auth.authenticate(&basic(user, "Password")).is_err(), "{user}");
        }
    }

    #[test]
    fn basic_auth_malformed_hashes_are_refused_with_their_line() {
        let c: BasicAuthConfig =
            serde_norway::from_str("htpasswd:\n  inline: \"a:b\\nbob:{SHA}qUqP5cyxm6\"\n").unwrap();
        let err = c.validate("extensions.basicauth").unwrap_err().to_string();
        assert_eq!(
            err,
            "extensions.basicauth.htpasswd.inline: inline line 2: invalid {SHA} hash: expected the base64 of a 20-byte SHA-1 digest"
        );
        let c: BasicAuthConfig =
            serde_norway::from_str("htpasswd:\n  inline: \"bob:$2y$05$short\"\n").unwrap();
        let err = c.validate("extensions.basicauth").unwrap_err().to_string();
        assert!(
            err.starts_with("extensions.basicauth.htpasswd.inline: inline line 1: invalid bcrypt hash"),
            "{err}"
        );
    }

    /// Regression: a `filename` token was read once at start-up, so a rotated token was
    /// refused until a restart (contrib watches the file).
    #[test]
    fn bearer_token_file_rotation_takes_effect_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "first\n").unwrap();
        let c: BearerTokenAuthConfig =
            serde_norway::from_str(&format!("filename: {}", file.display())).unwrap();
        let auth = c.build("extensions.bearertokenauth").unwrap();
        assert!(
            auth.authenticate(&headers("authorization", "Bearer first"))
                .is_ok()
        );

        // Rotated by a rename over the file, as Kubernetes updates a mounted secret.
        let next = dir.path().join("token.new");
        std::fs::write(&next, "second").unwrap();
        std::fs::rename(&next, &file).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while auth
            .authenticate(&headers("authorization", "Bearer second"))
            .is_err()
        {
            assert!(Instant::now() < deadline, "the rotated token was never accepted");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            auth.authenticate(&headers("authorization", "Bearer first"))
                .is_err()
        );

        // Emptied mid-rotation: the previous token stays; then rewritten in place.
        std::fs::write(&file, "").unwrap();
        std::thread::sleep(TOKEN_FILE_CHECK_INTERVAL);
        assert!(
            auth.authenticate(&headers("authorization", "Bearer second"))
                .is_ok()
        );
        std::fs::write(&file, "third-token\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while auth
            .authenticate(&headers("authorization", "Bearer third-token"))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the token rewritten in place was never accepted"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn basic_auth_bcrypt_entries_verify() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let c = BasicAuthConfig {
            htpasswd: Some(HtpasswdConfig {
                file: None,
                inline: Some(format!("bob:{hash}\n")),
            }),
            client_auth: None,
        };
        let auth = c.build("extensions.basicauth").unwrap();
        // bob:pw
        assert!(
            auth.authenticate(&headers("authorization", "Basic Ym9iOnB3"))
                .is_ok()
        );
        // bob:px
        assert!(
            auth.authenticate(&headers("authorization", "Basic Ym9iOnB4"))
                .is_err()
        );
    }

    #[test]
    fn an_unknown_user_costs_a_bcrypt_check_and_repeated_credentials_are_checked_once() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let c = BasicAuthConfig {
            htpasswd: Some(HtpasswdConfig {
                file: None,
                inline: Some(format!("bob:{hash}\n")),
            }),
            client_auth: None,
        };
        let auth = c.build("extensions.basicauth").unwrap();
        let outcome = |password: &str| {
            SLOW_HASH_OUTCOMES
                .lock()
                .unwrap()
                .get(&(hash.clone(), password.to_string()))
                .copied()
        };
        // eve:unknown-user-pw — eve is not in the file, yet bob's hash was checked.
        let eve = "Basic ZXZlOnVua25vd24tdXNlci1wdw==";
        assert!(auth.authenticate(&headers("authorization", eve)).is_err());
        assert_eq!(outcome("unknown-user-pw"), Some(false));
        // bob:pw is verified once, then answered from the cache.
        assert!(
            auth.authenticate(&headers("authorization", "Basic Ym9iOnB3"))
                .is_ok()
        );
        assert_eq!(outcome("pw"), Some(true));
        assert!(
            auth.authenticate(&headers("authorization", "Basic Ym9iOnB3"))
                .is_ok()
        );
    }

    #[test]
    fn base64_decoding() {
        assert_eq!(decode_base64("Ym9iOnB3").unwrap(), b"bob:pw");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        // Go's StdEncoding wants the padding.
        assert!(decode_base64("YWI").is_none());
        assert!(decode_base64("Y").is_none());
        assert!(decode_base64("Y===").is_none());
        assert!(decode_base64("a-b_").is_none());
    }
}

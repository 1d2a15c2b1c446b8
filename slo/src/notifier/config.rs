//! What the notifier is told: the options every Alertmanager shares (Prometheus's
//! `--alertmanager.*` flags and `global.external_labels`) and one [`AlertmanagerConfig`] per
//! entry of `alerting.alertmanagers` in prometheus.yml.
//!
//! The structs are plain data: the prometheus.yml parser (or `up --alertmanager URL`, through
//! [`AlertmanagerConfig::from_url`]) fills them in, [`super::Notifier::new`] checks them and
//! names the key at fault.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::NotifierError;

/// A relabelling step applied to an alert's labels before it is queued: it edits the labels in
/// place and returns `false` to drop the alert (Prometheus's `alert_relabel_configs`, as
/// `relabel::ProcessBuilder` applies them).
pub type RelabelHook = Arc<dyn Fn(&mut BTreeMap<String, String>) -> bool + Send + Sync>;

/// The default `--alertmanager.notification-queue-capacity`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// The default `--alertmanager.notification-batch-size` (Prometheus 3.x; 2.x sent at most 64).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 256;
/// The default `alertmanager_config.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options shared by every Alertmanager the notifier sends to.
#[derive(Clone)]
pub struct NotifierOptions {
    /// Alerts each Alertmanager's queue holds before the oldest are dropped
    /// (`--alertmanager.notification-queue-capacity`, default 10000).
    pub queue_capacity: usize,
    /// Alerts per `POST` (`--alertmanager.notification-batch-size`, default 256).
    pub max_batch_size: usize,
    /// On [`super::Notifier::stop`], send what is queued before returning
    /// (`--alertmanager.drain-notification-queue-on-shutdown`, default true); otherwise it is
    /// dropped and counted.
    pub drain_on_shutdown: bool,
    /// `global.external_labels`: added to every alert that does not have the label already.
    pub external_labels: BTreeMap<String, String>,
    /// `alerting.alert_relabel_configs`, applied after the external labels are added.
    pub alert_relabel: Option<RelabelHook>,
    /// The `User-Agent` header (Prometheus sends `Prometheus/<version>`).
    pub user_agent: String,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            drain_on_shutdown: true,
            external_labels: BTreeMap::new(),
            alert_relabel: None,
            user_agent: concat!("burnwatch/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

impl fmt::Debug for NotifierOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifierOptions")
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch_size", &self.max_batch_size)
            .field("drain_on_shutdown", &self.drain_on_shutdown)
            .field("external_labels", &self.external_labels)
            .field("alert_relabel", &self.alert_relabel.as_ref().map(|_| "<hook>"))
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// `http` or `https` (`alertmanager_config.scheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scheme {
    /// Plain HTTP, the default.
    #[default]
    Http,
    /// HTTPS with the [`TlsConfig`].
    Https,
}

impl Scheme {
    /// The scheme as it appears in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A credential given in the config or read from a file on every request (Prometheus re-reads
/// `password_file` and `credentials_file` each time, so a rotated secret is picked up).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The value itself (`password`, `credentials`).
    Inline(String),
    /// A file holding it (`password_file`, `credentials_file`); surrounding whitespace is trimmed.
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Inline(<secret>)"),
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl Secret {
    /// The secret's value; `key` names it in the error when its file cannot be read.
    pub fn read(&self, key: &str) -> Result<String, NotifierError> {
        match self {
            Secret::Inline(value) => Ok(value.clone()),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|err| NotifierError::config(key, format!("cannot read {}: {err}", path.display()))),
        }
    }
}

/// How requests authenticate (`basic_auth` or `authorization` in `alertmanager_config`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `basic_auth: {username, password | password_file}`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// `authorization: {type, credentials | credentials_file}`: the header
    /// `Authorization: <kind> <credentials>`.
    Authorization {
        /// The scheme word, `Bearer` by default in Prometheus.
        kind: String,
        /// The token.
        credentials: Secret,
    },
}

/// `tls_config` of an Alertmanager (the fields of Prometheus's `TLSConfig` burnwatch supports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file of the CAs to trust instead of the system's (`ca_file`).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (`cert_file`); needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (`key_file`).
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate (`insecure_skip_verify`).
    pub insecure_skip_verify: bool,
}

/// One `alerting.alertmanagers` entry: a set of Alertmanagers sharing scheme, path, timeout,
/// credentials and TLS. Each target gets its own queue and sender (Prometheus 3.x's
/// independent send loops), so a slow or down Alertmanager does not hold up the others.
#[derive(Clone)]
pub struct AlertmanagerConfig {
    /// `host:port` of each Alertmanager (`static_configs[].targets`).
    pub targets: Vec<String>,
    /// `scheme`, default `http`.
    pub scheme: Scheme,
    /// `path_prefix`, put in front of `/api/v2/alerts` (for an Alertmanager behind a prefix).
    pub path_prefix: String,
    /// `timeout` of one `POST`, default 10s.
    pub timeout: Duration,
    /// `basic_auth` or `authorization`.
    pub auth: Option<Auth>,
    /// `tls_config`.
    pub tls: TlsConfig,
    /// `alert_relabel_configs` of this entry, applied after the global ones.
    pub alert_relabel: Option<RelabelHook>,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            targets: Vec::new(),
            scheme: Scheme::Http,
            path_prefix: String::new(),
            timeout: DEFAULT_TIMEOUT,
            auth: None,
            tls: TlsConfig::default(),
            alert_relabel: None,
        }
    }
}

impl fmt::Debug for AlertmanagerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertmanagerConfig")
            .field("targets", &self.targets)
            .field("scheme", &self.scheme)
            .field("path_prefix", &self.path_prefix)
            .field("timeout", &self.timeout)
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field("alert_relabel", &self.alert_relabel.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

impl AlertmanagerConfig {
    /// One Alertmanager from its base URL, as `up --alertmanager URL` takes it:
    /// `http://am:9093` or `https://host/prefix` (the path becomes `path_prefix`). User info in
    /// the URL becomes basic auth.
    pub fn from_url(url: &str) -> Result<AlertmanagerConfig, NotifierError> {
        let bad = |why: &str| NotifierError::config("alertmanager URL", format!("{url:?}: {why}"));
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(bad("must start with http:// or https://"));
        };
        if rest.contains(['?', '#']) {
            return Err(bad("must not have a query or fragment"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (auth, host) = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let auth = Auth::Basic {
                    username: user.to_string(),
                    password: Secret::Inline(password.to_string()),
                };
                (Some(auth), host)
            }
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        Ok(AlertmanagerConfig {
            targets: vec![host.to_string()],
            scheme,
            path_prefix: path.trim_end_matches('/').to_string(),
            auth,
            ..AlertmanagerConfig::default()
        })
    }

    /// The URL alerts are posted to for `target`: Prometheus's `postPath`, which joins
    /// `/`, the prefix and `/api/v2/alerts` and cleans the result.
    pub fn post_url(&self, target: &str) -> String {
        let joined = format!("/{}/api/v2/alerts", self.path_prefix);
        let mut clean = String::with_capacity(joined.len());
        for segment in joined.split('/').filter(|s| !s.is_empty() && *s != ".") {
            clean.push('/');
            clean.push_str(segment);
        }
        format!("{}://{}{}", self.scheme.as_str(), target, clean)
    }

    /// Checks the targets and option values; `key` is the YAML path of this entry
    /// (`alerting.alertmanagers[0]`).
    pub(crate) fn validate(&self, key: &str) -> Result<(), NotifierError> {
        for (i, target) in self.targets.iter().enumerate() {
            // Prometheus's config.CheckTargetAddress: a target is host[:port], nothing more.
            let bad = target.is_empty() || target.contains(['/', '?', '#', ' ']) || target.contains("://");
            if bad {
                return Err(NotifierError::config(
                    format!("{key}.static_configs[0].targets[{i}]"),
                    format!("{target:?} is not a valid host:port"),
                ));
            }
        }
        if self.timeout.is_zero() {
            return Err(NotifierError::config(
                format!("{key}.timeout"),
                "must be greater than 0",
            ));
        }
        if let Some(Auth::Authorization { kind, .. }) = &self.auth
            && (kind.is_empty() || kind.contains(char::is_whitespace))
        {
            return Err(NotifierError::config(
                format!("{key}.authorization.type"),
                format!("{kind:?} is not a single word"),
            ));
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(NotifierError::config(
                format!("{key}.tls_config"),
                "cert_file and key_file must be given together",
            ));
        }
        Ok(())
    }
}

//! `alerting` and `remote_write`: parsed and validated here, run by the notifier and the
//! remote-write client.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::http::{Authorization, BasicAuth, HttpClientConfig, Secret, TlsConfig};
use super::scrape::StaticConfig;
use super::{ConfigError, PromDuration, PrometheusConfig, validate_relabel};
use crate::relabel::RelabelConfig;

fn default_true() -> bool {
    true
}

fn default_scheme() -> String {
    "http".into()
}

fn default_am_timeout() -> PromDuration {
    PromDuration::secs(10)
}

fn default_api_version() -> String {
    "v2".into()
}

/// The `alerting` section.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Relabelling of every alert before it is sent (after external labels are added).
    #[serde(default)]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// The Alertmanagers.
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

impl AlertingConfig {
    pub(super) fn validate(&self, cfg: &PrometheusConfig) -> Result<(), ConfigError> {
        validate_relabel(&self.alert_relabel_configs, "alerting.alert_relabel_configs")?;
        for (i, am) in self.alertmanagers.iter().enumerate() {
            am.validate(&format!("alerting.alertmanagers[{i}]"), cfg)?;
        }
        Ok(())
    }
}

/// One `alerting.alertmanagers` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// The Alertmanagers' addresses.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// Relabelling of the discovered Alertmanagers (`__address__`, `__scheme__`,
    /// `__alerts_path__`).
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// A prefix of the API path (`/alertmanager` gives `/alertmanager/api/v2/alerts`).
    #[serde(default)]
    pub path_prefix: String,
    /// `http` (default) or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Per-request timeout (default 10s).
    #[serde(default = "default_am_timeout")]
    pub timeout: PromDuration,
    /// The Alertmanager API version: only `v2` (the default; Prometheus 3.x dropped `v1`).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// Deprecated spelling of `authorization.credentials`.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// Deprecated spelling of `authorization.credentials_file`.
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Whether redirects are followed (default true).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Accepted for compatibility (requests use HTTP/1.1).
    #[serde(default = "default_true")]
    pub enable_http2: bool,
}

impl AlertmanagerConfig {
    /// The HTTP client settings.
    pub fn http(&self) -> HttpClientConfig {
        HttpClientConfig {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
            tls_config: self.tls_config.clone(),
            follow_redirects: self.follow_redirects,
            enable_http2: self.enable_http2,
        }
    }

    fn validate(&self, p: &str, cfg: &PrometheusConfig) -> Result<(), ConfigError> {
        if self.api_version != "v2" {
            return Err(ConfigError::at(
                format!("{p}.api_version"),
                format!(
                    "Alertmanager API version {:?} is not supported: only \"v2\" (Prometheus 3.x dropped v1)",
                    self.api_version
                ),
            ));
        }
        if self.scheme != "http" && self.scheme != "https" {
            return Err(ConfigError::at(
                format!("{p}.scheme"),
                format!("invalid scheme {:?}: \"http\" or \"https\"", self.scheme),
            ));
        }
        if self.timeout.0.is_zero() {
            return Err(ConfigError::at(format!("{p}.timeout"), "must be greater than 0"));
        }
        for (j, sc) in self.static_configs.iter().enumerate() {
            for (k, t) in sc.targets.iter().enumerate() {
                if t.is_empty() || t.contains('/') {
                    return Err(ConfigError::at(
                        format!("{p}.static_configs[{j}].targets[{k}]"),
                        format!("{t:?} is not a valid hostname (host:port; the path goes in path_prefix)"),
                    ));
                }
            }
        }
        validate_relabel(&self.relabel_configs, &format!("{p}.relabel_configs"))?;
        self.http().validate(p, cfg)
    }

    /// The alert endpoints of the static targets after `relabel_configs`
    /// (`<scheme>://<address><path_prefix>/api/v2/alerts`), as Prometheus's notifier builds them.
    pub fn urls(&self) -> Vec<String> {
        let steps = crate::relabel::compile_all(&self.relabel_configs).unwrap_or_default();
        let path = format!("{}/api/v2/alerts", self.path_prefix.trim_end_matches('/'));
        let mut out = Vec::new();
        for sc in &self.static_configs {
            for t in &sc.targets {
                let mut pairs: Vec<(String, String)> = sc.labels.clone().into_iter().collect();
                pairs.push(("__address__".into(), t.clone()));
                pairs.push(("__scheme__".into(), self.scheme.clone()));
                pairs.push(("__alerts_path__".into(), path.clone()));
                let labels = crate::tsdb::Labels::from_pairs(pairs);
                let Some(l) = crate::relabel::process(&labels, &steps) else {
                    continue;
                };
                let (Some(addr), Some(scheme)) = (l.get("__address__"), l.get("__scheme__")) else {
                    continue;
                };
                out.push(format!(
                    "{scheme}://{addr}{}",
                    l.get("__alerts_path__").unwrap_or(&path)
                ));
            }
        }
        out
    }
}

/// `remote_write[].queue_config`, with Prometheus 3.x's defaults (2.x had capacity 2500,
/// max_shards 200, max_samples_per_send 500).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Samples buffered per shard (10000).
    pub capacity: usize,
    /// Most shards (50).
    pub max_shards: usize,
    /// Fewest shards (1).
    pub min_shards: usize,
    /// Samples per request (2000).
    pub max_samples_per_send: usize,
    /// Longest a sample waits in a shard before a partial batch is sent (5s).
    pub batch_send_deadline: PromDuration,
    /// First retry delay (30ms).
    pub min_backoff: PromDuration,
    /// Longest retry delay (5s).
    pub max_backoff: PromDuration,
    /// Whether 429 answers are retried (false).
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: PromDuration::secs(5),
            min_backoff: PromDuration(std::time::Duration::from_millis(30)),
            max_backoff: PromDuration::secs(5),
            retry_on_http_429: false,
        }
    }
}

fn default_remote_timeout() -> PromDuration {
    PromDuration::secs(30)
}

/// One `remote_write` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The receiver's URL.
    pub url: String,
    /// Per-request timeout (default 30s).
    #[serde(default = "default_remote_timeout")]
    pub remote_timeout: PromDuration,
    /// Extra request headers (the protocol's own headers cannot be overridden).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A name for logs and metrics; unique.
    #[serde(default)]
    pub name: Option<String>,
    /// Relabelling of every series before it is sent.
    #[serde(default)]
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// The sending queue.
    #[serde(default)]
    pub queue_config: QueueConfig,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// Deprecated spelling of `authorization.credentials`.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// Deprecated spelling of `authorization.credentials_file`.
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Whether redirects are followed (default true).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Accepted for compatibility (requests use HTTP/1.1).
    #[serde(default = "default_true")]
    pub enable_http2: bool,
}

/// Headers remote write sets itself (Prometheus's `reservedHeaders`).
const RESERVED_HEADERS: [&str; 6] = [
    "authorization",
    "content-encoding",
    "content-type",
    "user-agent",
    "x-prometheus-remote-write-version",
    "host",
];

impl RemoteWriteConfig {
    /// The HTTP client settings.
    pub fn http(&self) -> HttpClientConfig {
        HttpClientConfig {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
            tls_config: self.tls_config.clone(),
            follow_redirects: self.follow_redirects,
            enable_http2: self.enable_http2,
        }
    }

    pub(super) fn validate(&self, p: &str, cfg: &PrometheusConfig) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| ConfigError::at(format!("{p}.url"), format!("{:?} is not a URL: {e}", self.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::at(
                format!("{p}.url"),
                format!("{:?} is not an http or https URL with a host", self.url),
            ));
        }
        for name in self.headers.keys() {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(ConfigError::at(
                    format!("{p}.headers.{name}"),
                    format!("{name} is a reserved header. It must not be changed"),
                ));
            }
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::at(
                    format!("{p}.headers.{name}"),
                    "not a valid HTTP header name",
                ));
            }
        }
        for (name, value) in &self.headers {
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(ConfigError::at(
                    format!("{p}.headers.{name}"),
                    "not a valid HTTP header value",
                ));
            }
        }
        if self.remote_timeout.0.is_zero() {
            return Err(ConfigError::at(
                format!("{p}.remote_timeout"),
                "must be greater than 0",
            ));
        }
        let q = &self.queue_config;
        if q.max_samples_per_send == 0 || q.capacity == 0 || q.max_shards == 0 || q.min_shards == 0 {
            return Err(ConfigError::at(
                format!("{p}.queue_config"),
                "capacity, max_shards, min_shards and max_samples_per_send must be greater than 0",
            ));
        }
        if q.min_shards > q.max_shards {
            return Err(ConfigError::at(
                format!("{p}.queue_config.min_shards"),
                format!(
                    "min_shards {} is greater than max_shards {}",
                    q.min_shards, q.max_shards
                ),
            ));
        }
        if q.min_backoff > q.max_backoff {
            return Err(ConfigError::at(
                format!("{p}.queue_config.min_backoff"),
                format!(
                    "min_backoff {} is greater than max_backoff {}",
                    q.min_backoff, q.max_backoff
                ),
            ));
        }
        validate_relabel(&self.write_relabel_configs, &format!("{p}.write_relabel_configs"))?;
        self.http().validate(p, cfg)
    }
}

impl AlertingConfig {
    /// The notifier's configuration for `alerting`: one [`crate::notifier::AlertmanagerConfig`]
    /// per `alertmanagers` entry (its static targets after its `relabel_configs`, with that
    /// entry's scheme, path prefix, timeout, authentication and TLS), and the
    /// `alert_relabel_configs` as the notifier's global relabel hook.
    ///
    /// An entry's `relabel_configs` may rewrite or drop `__address__`; a rewritten `__scheme__`
    /// or `__alerts_path__`, and `tls_config.server_name`, are refused naming the key (the
    /// notifier builds one URL shape per entry and verifies against the URL's host).
    pub fn notifier_configs(
        &self,
        cfg: &PrometheusConfig,
    ) -> Result<
        (
            Vec<crate::notifier::AlertmanagerConfig>,
            Option<crate::notifier::RelabelHook>,
        ),
        ConfigError,
    > {
        use crate::notifier::{AlertmanagerConfig as Am, Auth, Scheme, Secret as NSecret, TlsConfig as NTls};
        let secret = |inline: &Option<Secret>, file: &Option<String>| match (inline, file) {
            (_, Some(f)) => NSecret::File(cfg.resolve(f)),
            (Some(s), None) => NSecret::Inline(s.0.clone()),
            (None, None) => NSecret::Inline(String::new()),
        };
        let mut out = Vec::with_capacity(self.alertmanagers.len());
        for (i, am) in self.alertmanagers.iter().enumerate() {
            let p = format!("alerting.alertmanagers[{i}]");
            if am.tls_config.server_name.is_some() {
                return Err(ConfigError::at(
                    format!("{p}.tls_config.server_name"),
                    "not supported for Alertmanagers (the certificate is checked against the target's host); \
                     supported here: ca_file, cert_file, key_file, insecure_skip_verify",
                ));
            }
            let steps = crate::relabel::compile_all(&am.relabel_configs)
                .map_err(|(j, e)| ConfigError::at(format!("{p}.relabel_configs[{j}]"), e))?;
            let path = format!("{}/api/v2/alerts", am.path_prefix.trim_end_matches('/'));
            let mut targets = Vec::new();
            for sc in &am.static_configs {
                for t in &sc.targets {
                    let mut pairs: Vec<(String, String)> = sc.labels.clone().into_iter().collect();
                    pairs.push(("__address__".into(), t.clone()));
                    pairs.push(("__scheme__".into(), am.scheme.clone()));
                    pairs.push(("__alerts_path__".into(), path.clone()));
                    let Some(l) = crate::relabel::process(&crate::tsdb::Labels::from_pairs(pairs), &steps)
                    else {
                        continue;
                    };
                    if l.get("__scheme__") != Some(am.scheme.as_str())
                        || l.get("__alerts_path__") != Some(path.as_str())
                    {
                        return Err(ConfigError::at(
                            format!("{p}.relabel_configs"),
                            "rewriting __scheme__ or __alerts_path__ is not supported; set scheme and path_prefix instead",
                        ));
                    }
                    match l.get("__address__") {
                        Some(a) if !a.is_empty() => targets.push(a.to_string()),
                        _ => {}
                    }
                }
            }
            let http = am.http();
            let auth = if let Some(b) = &http.basic_auth {
                Some(Auth::Basic {
                    username: b.username.clone(),
                    password: secret(&b.password, &b.password_file),
                })
            } else if let Some(a) = &http.authorization {
                Some(Auth::Authorization {
                    kind: a.kind.clone().unwrap_or_else(|| "Bearer".into()),
                    credentials: secret(&a.credentials, &a.credentials_file),
                })
            } else if http.bearer_token.is_some() || http.bearer_token_file.is_some() {
                Some(Auth::Authorization {
                    kind: "Bearer".into(),
                    credentials: secret(&http.bearer_token, &http.bearer_token_file),
                })
            } else {
                None
            };
            out.push(Am {
                targets,
                scheme: if am.scheme == "https" {
                    Scheme::Https
                } else {
                    Scheme::Http
                },
                path_prefix: am.path_prefix.clone(),
                timeout: am.timeout.0,
                auth,
                tls: NTls {
                    ca_file: am.tls_config.ca_file.as_deref().map(|f| cfg.resolve(f)),
                    cert_file: am.tls_config.cert_file.as_deref().map(|f| cfg.resolve(f)),
                    key_file: am.tls_config.key_file.as_deref().map(|f| cfg.resolve(f)),
                    insecure_skip_verify: am.tls_config.insecure_skip_verify,
                },
                alert_relabel: None,
            });
        }
        let hook = if self.alert_relabel_configs.is_empty() {
            None
        } else {
            let steps = crate::relabel::compile_all(&self.alert_relabel_configs)
                .map_err(|(j, e)| ConfigError::at(format!("alerting.alert_relabel_configs[{j}]"), e))?;
            Some(crate::notifier::relabel_hook(steps))
        };
        Ok((out, hook))
    }
}

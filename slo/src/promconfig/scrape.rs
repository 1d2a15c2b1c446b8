//! `scrape_configs` entries.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::http::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};
use super::{ConfigError, PromDuration, PrometheusConfig, validate_relabel};
use crate::relabel::{RelabelConfig, is_valid_label_name};

/// A size in bytes written as Prometheus's `units.Base2Bytes` (`0`, `512`, `10KB`, `100MiB`,
/// `1GB`: powers of 1024).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `s`; a bare number is bytes.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let t = s.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let bad = || format!("invalid size {s:?} (expected e.g. 0, 512KB, 10MB, 1GiB)");
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = t[..digits].parse().map_err(|_| bad())?;
        let mult: u64 = match t[digits..].trim() {
            "" | "B" => 1,
            "KB" | "KiB" => 1 << 10,
            "MB" | "MiB" => 1 << 20,
            "GB" | "GiB" => 1 << 30,
            "TB" | "TiB" => 1 << 40,
            "PB" | "PiB" => 1 << 50,
            "EB" | "EiB" => 1 << 60,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(bad)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// One `static_configs` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// Addresses to scrape (`host:port`; each becomes a target's `__address__`).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels added to every target of this group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `file_sd_configs` entry: files (globs allowed in the last path element) holding target
/// groups in JSON or YAML, re-read when they change and every `refresh_interval`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths or globs ending in `.json`, `.yml` or `.yaml`.
    pub files: Vec<String>,
    /// How often the files are re-read even without a change (default 5m).
    #[serde(default = "default_refresh")]
    pub refresh_interval: PromDuration,
}

fn default_refresh() -> PromDuration {
    PromDuration::secs(300)
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_scheme() -> String {
    "http".to_string()
}

fn default_true() -> bool {
    true
}

/// One `scrape_configs` entry (Prometheus's `config.ScrapeConfig`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The `job` label of the targets; unique within the file.
    pub job_name: String,
    /// How often to scrape (default: `global.scrape_interval`).
    #[serde(default)]
    pub scrape_interval: Option<PromDuration>,
    /// How long a scrape may take (default: `global.scrape_timeout`, capped at the interval).
    #[serde(default)]
    pub scrape_timeout: Option<PromDuration>,
    /// The HTTP path (default `/metrics`); a target's `__metrics_path__`.
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// `http` (default) or `https`; a target's `__scheme__`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// URL query parameters of every scrape; a target's `__param_<name>` overrides the first
    /// value.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Whether scraped labels win over target labels (default false: they are renamed
    /// `exported_<name>`).
    #[serde(default)]
    pub honor_labels: bool,
    /// Whether timestamps in the body are kept (default true); otherwise the scrape time is used.
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    /// Fixed targets.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// Targets read from files.
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Relabelling of discovered targets, before scraping.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Relabelling of each scraped series, before it is stored.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// Most samples a scrape may keep after metric relabelling; more fails the scrape (0: no
    /// limit).
    #[serde(default)]
    pub sample_limit: u64,
    /// Most labels a series may have after relabelling; more fails the scrape (0: no limit).
    #[serde(default)]
    pub label_limit: u64,
    /// Longest label name after relabelling (0: no limit).
    #[serde(default)]
    pub label_name_length_limit: u64,
    /// Longest label value after relabelling (0: no limit).
    #[serde(default)]
    pub label_value_length_limit: u64,
    /// Largest uncompressed body; a larger one fails the scrape (0: no limit).
    #[serde(default)]
    pub body_size_limit: ByteSize,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// An `Authorization` header (`type` default `Bearer`).
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// Deprecated spelling of `authorization: {credentials: ...}`.
    #[serde(default)]
    pub bearer_token: Option<super::Secret>,
    /// Deprecated spelling of `authorization: {credentials_file: ...}`.
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// TLS settings for `https` targets.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Whether redirects are followed (default true).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Accepted for compatibility: scrapes use HTTP/1.1 (a target serving HTTP/2 only over TLS
    /// negotiates HTTP/1.1 too), which is what the setting's `false` gives in Prometheus.
    #[serde(default = "default_true")]
    pub enable_http2: bool,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            job_name: String::new(),
            scrape_interval: None,
            scrape_timeout: None,
            metrics_path: default_metrics_path(),
            scheme: default_scheme(),
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            static_configs: Vec::new(),
            file_sd_configs: Vec::new(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            sample_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            body_size_limit: ByteSize(0),
            basic_auth: None,
            authorization: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

impl ScrapeConfig {
    /// The HTTP client settings of this job.
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
        if self.job_name.is_empty() {
            return Err(ConfigError::at(format!("{p}.job_name"), "job_name is empty"));
        }
        if self.scheme != "http" && self.scheme != "https" {
            return Err(ConfigError::at(
                format!("{p}.scheme"),
                format!("invalid scheme {:?}: \"http\" or \"https\"", self.scheme),
            ));
        }
        if !self.metrics_path.starts_with('/') {
            return Err(ConfigError::at(
                format!("{p}.metrics_path"),
                format!("{:?} must start with '/'", self.metrics_path),
            ));
        }
        let (interval, timeout) = cfg.interval_and_timeout(self);
        if interval.is_zero() {
            return Err(ConfigError::at(
                format!("{p}.scrape_interval"),
                "must be greater than 0",
            ));
        }
        if timeout.is_zero() {
            return Err(ConfigError::at(
                format!("{p}.scrape_timeout"),
                "must be greater than 0",
            ));
        }
        if timeout > interval {
            return Err(ConfigError::at(
                format!("{p}.scrape_timeout"),
                format!(
                    "scrape timeout {} is greater than the scrape interval {}",
                    PromDuration(timeout),
                    PromDuration(interval)
                ),
            ));
        }
        for (j, sc) in self.static_configs.iter().enumerate() {
            for (k, t) in sc.targets.iter().enumerate() {
                // Prometheus's `CheckTargetAddress`: a target is a host with an optional port;
                // a scheme or path belongs in `scheme` / `metrics_path`.
                if t.is_empty() || t.contains('/') {
                    return Err(ConfigError::at(
                        format!("{p}.static_configs[{j}].targets[{k}]"),
                        format!(
                            "{t:?} is not a valid hostname (a target is host:port, with no scheme or path)"
                        ),
                    ));
                }
            }
            for name in sc.labels.keys() {
                if !is_valid_label_name(name) {
                    return Err(ConfigError::at(
                        format!("{p}.static_configs[{j}].labels.{name}"),
                        format!("{name:?} is not a valid label name"),
                    ));
                }
            }
        }
        for (j, fsd) in self.file_sd_configs.iter().enumerate() {
            for (k, f) in fsd.files.iter().enumerate() {
                if !file_sd_pattern_ok(f) {
                    return Err(ConfigError::at(
                        format!("{p}.file_sd_configs[{j}].files[{k}]"),
                        format!(
                            "path name {f:?} is not valid for file discovery (a path or a glob in its \
                             last element, ending in .json, .yml or .yaml)"
                        ),
                    ));
                }
            }
            if fsd.refresh_interval.0.is_zero() {
                return Err(ConfigError::at(
                    format!("{p}.file_sd_configs[{j}].refresh_interval"),
                    "must be greater than 0",
                ));
            }
        }
        for name in self.params.keys() {
            if name.is_empty() {
                return Err(ConfigError::at(
                    format!("{p}.params"),
                    "a parameter name is empty",
                ));
            }
        }
        validate_relabel(&self.relabel_configs, &format!("{p}.relabel_configs"))?;
        validate_relabel(
            &self.metric_relabel_configs,
            &format!("{p}.metric_relabel_configs"),
        )?;
        self.http().validate(p, cfg)?;
        Ok(())
    }
}

/// Prometheus's `fileSDPatterns`: `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn file_sd_pattern_ok(f: &str) -> bool {
    let Some((stem, ext)) = f.rsplit_once('.') else {
        return false;
    };
    if !matches!(ext, "json" | "yml" | "yaml" | "JSON" | "YML" | "YAML") {
        return false;
    }
    match stem.find('*') {
        None => true,
        Some(i) => !stem[i + 1..].contains(['*', '/']),
    }
}

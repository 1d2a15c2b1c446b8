//! A Prometheus configuration file (`prometheus.yml`), as Prometheus 2.x/3.x's `config` package
//! reads it, for `burnwatch serve --config` and `burnwatch up --prometheus-config`.
//!
//! [`PrometheusConfig::load`] reads and validates a file; every section burnwatch runs is modelled:
//!
//! - `global`: `scrape_interval`, `scrape_timeout`, `evaluation_interval`, `external_labels`;
//! - `scrape_configs` ([`ScrapeConfig`]): `static_configs`, `file_sd_configs`, `relabel_configs`,
//!   `metric_relabel_configs`, `params`, the HTTP client settings ([`HttpClientConfig`]: basic
//!   auth, authorization, TLS), the sample and label limits, `body_size_limit`;
//! - `rule_files` (globs), `alerting` ([`AlertingConfig`]), `remote_write`
//!   ([`RemoteWriteConfig`]).
//!
//! The contract (issue 13 §2): a file `promtool check config` accepts either runs, or fails naming
//! the key burnwatch does not support and listing the keys it does. A key Prometheus knows but
//! burnwatch does not run (`kubernetes_sd_configs`, `proxy_url`, `remote_read`, ...) is such an
//! error ([`ConfigError`] with the YAML path); nothing is ignored silently. A key neither knows is
//! refused as Prometheus refuses it ("unknown field").
//!
//! Relative file paths (`rule_files`, `file_sd_configs.files`, `password_file`, `ca_file`, ...)
//! are relative to the config file's directory, as in Prometheus.
//!
//! ```
//! use burnwatch_slo::promconfig::PrometheusConfig;
//!
//! let cfg = PrometheusConfig::parse(
//!     "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n",
//! ).unwrap();
//! assert_eq!(cfg.scrape_configs[0].job_name, "node");
//! let err = PrometheusConfig::parse("scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: [{role: pod}]\n").unwrap_err();
//! assert!(err.to_string().contains("kubernetes_sd_configs"));
//! ```

mod alerting;
mod http;
mod keys;
pub mod reload;
pub mod remote;
mod scrape;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use alerting::{AlertingConfig, AlertmanagerConfig, QueueConfig, RemoteWriteConfig};
pub use http::{Authorization, BasicAuth, HttpClient, HttpClientConfig, Secret, TlsConfig};
pub use scrape::{ByteSize, FileSdConfig, ScrapeConfig, StaticConfig};

/// A configuration problem: the YAML path of the key at fault and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key is invalid or not supported; `path` is its YAML path (`scrape_configs[0].scheme`).
    #[error("{path}: {reason}")]
    Invalid {
        /// The YAML path, such as `scrape_configs[0].scrape_timeout`.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] at `path`.
    pub fn at(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The YAML path of an invalid key (empty for an I/O error).
    pub fn path(&self) -> &str {
        match self {
            ConfigError::Invalid { path, .. } => path,
            ConfigError::Io { .. } => "",
        }
    }
}

/// A Prometheus duration (`15s`, `1m30s`, `100ms`, `1h`, `2d`), as `model.ParseDuration` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// Parses `s`: units `y w d h m s ms` in that order, each at most once, or `0`.
    pub fn parse(s: &str) -> Result<PromDuration, String> {
        crate::duration::parse_prometheus_duration_ms(s)
            .and_then(|ms| u64::try_from(ms).ok())
            .map(|ms| PromDuration(Duration::from_millis(ms)))
            .ok_or_else(|| format!("invalid duration {s:?} (expected e.g. 15s, 1m30s, 500ms)"))
    }

    /// A duration from seconds.
    pub const fn secs(s: u64) -> PromDuration {
        PromDuration(Duration::from_secs(s))
    }
}

impl std::fmt::Display for PromDuration {
    /// Go's `model.Duration.String()`: `1m30s`, `90d` (years and weeks only when exact), `0s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        const DAY: u64 = 86_400_000;
        let units = [
            ("y", 365 * DAY, true),
            ("w", 7 * DAY, true),
            ("d", DAY, false),
            ("h", 3_600_000, false),
            ("m", 60_000, false),
            ("s", 1000, false),
            ("ms", 1, false),
        ];
        for (unit, mult, exact) in units {
            if exact && !ms.is_multiple_of(mult) {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The `global` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// How often to scrape targets by default (`1m`).
    #[serde(default = "default_interval")]
    pub scrape_interval: PromDuration,
    /// How long a scrape may take by default. Unset, it is 10s, or the global interval when that
    /// is shorter, as Prometheus does; only an explicit value larger than the interval is an
    /// error.
    #[serde(default)]
    pub scrape_timeout: Option<PromDuration>,
    /// How often rule groups are evaluated by default (`1m`).
    #[serde(default = "default_interval")]
    pub evaluation_interval: PromDuration,
    /// Labels added to alerts and remote-written series that do not have them (not to the
    /// local store, as in Prometheus).
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
}

fn default_interval() -> PromDuration {
    PromDuration::secs(60)
}

impl GlobalConfig {
    /// The effective default scrape timeout.
    pub fn timeout(&self) -> Duration {
        self.scrape_timeout
            .map_or_else(|| Duration::from_secs(10).min(self.scrape_interval.0), |t| t.0)
    }
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: default_interval(),
            scrape_timeout: None,
            evaluation_interval: default_interval(),
            external_labels: BTreeMap::new(),
        }
    }
}

/// A whole `prometheus.yml`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Defaults for every job and rule group.
    #[serde(default)]
    pub global: GlobalConfig,
    /// The scrape jobs.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Rule files: paths or globs (`rules/*.yml`), relative to the config file.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Where alerts go.
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// Remote-write destinations.
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,
    /// The directory relative paths are resolved against (the config file's); `None`: the
    /// working directory.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

impl PrometheusConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse_in(&text, Some(base))
    }

    /// Parses and validates YAML text, relative paths against the working directory.
    pub fn parse(yaml: &str) -> Result<Self, ConfigError> {
        Self::parse_in(yaml, None)
    }

    /// Parses and validates YAML text, relative paths against `base_dir`.
    pub fn parse_in(yaml: &str, base_dir: Option<PathBuf>) -> Result<Self, ConfigError> {
        // An empty file is a valid, empty config (Prometheus accepts it).
        let mut cfg: PrometheusConfig = if yaml.trim().is_empty() {
            PrometheusConfig::default()
        } else {
            let de = serde_norway::Deserializer::from_str(yaml);
            serde_path_to_error::deserialize(de)
                .map_err(|e| keys::explain(&e.path().to_string(), &e.inner().to_string()))?
        };
        cfg.base_dir = base_dir.filter(|p| !p.as_os_str().is_empty());
        cfg.validate()?;
        Ok(cfg)
    }

    /// `p` resolved against the config file's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        resolve_in(self.base_dir.as_deref(), p)
    }

    /// A job's interval and timeout after defaults: Prometheus caps an inherited timeout at the
    /// job's interval.
    pub fn interval_and_timeout(&self, job: &ScrapeConfig) -> (Duration, Duration) {
        let interval = job.scrape_interval.unwrap_or(self.global.scrape_interval).0;
        let timeout = match job.scrape_timeout {
            Some(t) => t.0,
            None => self.global.timeout().min(interval),
        };
        (interval, timeout)
    }

    /// The `rule_files` globs expanded (sorted within each pattern, as Go's `filepath.Glob`),
    /// without duplicates.
    pub fn rule_file_paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut out = Vec::new();
        for (i, pat) in self.rule_files.iter().enumerate() {
            let full = self.resolve(pat);
            let paths = glob::glob(&full.to_string_lossy()).map_err(|e| {
                ConfigError::at(
                    format!("rule_files[{i}]"),
                    format!("invalid rule file path {pat:?}: {e}"),
                )
            })?;
            let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            found.sort();
            for p in found {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(t) = self.global.scrape_timeout
            && t > self.global.scrape_interval
        {
            return Err(ConfigError::at(
                "global.scrape_timeout",
                format!(
                    "global scrape timeout {t} is greater than the scrape interval {}",
                    self.global.scrape_interval
                ),
            ));
        }
        if self.global.scrape_interval.0.is_zero() {
            return Err(ConfigError::at(
                "global.scrape_interval",
                "must be greater than 0",
            ));
        }
        if self.global.evaluation_interval.0.is_zero() {
            return Err(ConfigError::at(
                "global.evaluation_interval",
                "must be greater than 0",
            ));
        }
        for name in self.global.external_labels.keys() {
            if !crate::relabel::is_valid_label_name(name) {
                return Err(ConfigError::at(
                    format!("global.external_labels.{name}"),
                    format!("{name:?} is not a valid label name"),
                ));
            }
        }
        let mut jobs = HashSet::new();
        for (i, job) in self.scrape_configs.iter().enumerate() {
            let p = format!("scrape_configs[{i}]");
            if !jobs.insert(job.job_name.as_str()) {
                return Err(ConfigError::at(
                    format!("{p}.job_name"),
                    format!(
                        "found multiple scrape configs with job name {:?} (a job name is used twice)",
                        job.job_name
                    ),
                ));
            }
            job.validate(&p, self)?;
        }
        for (i, pat) in self.rule_files.iter().enumerate() {
            if let Err(e) = glob::Pattern::new(pat) {
                return Err(ConfigError::at(
                    format!("rule_files[{i}]"),
                    format!("invalid rule file path {pat:?}: {e}"),
                ));
            }
        }
        self.alerting.validate(self)?;
        let mut names = HashSet::new();
        for (i, rw) in self.remote_write.iter().enumerate() {
            let p = format!("remote_write[{i}]");
            rw.validate(&p, self)?;
            if let Some(n) = &rw.name
                && !names.insert(n.as_str())
            {
                return Err(ConfigError::at(
                    format!("{p}.name"),
                    format!("found multiple remote write configs with job name {n:?}"),
                ));
            }
        }
        Ok(())
    }
}

fn resolve_in(base: Option<&Path>, p: &str) -> PathBuf {
    let path = Path::new(p);
    match base {
        Some(b) if path.is_relative() => b.join(path),
        _ => path.to_path_buf(),
    }
}

/// Validates a relabel list, naming the step at fault.
fn validate_relabel(configs: &[crate::relabel::RelabelConfig], path: &str) -> Result<(), ConfigError> {
    crate::relabel::compile_all(configs)
        .map(|_| ())
        .map_err(|(i, e)| ConfigError::at(format!("{path}[{i}]"), e))
}

//! `exporters: prometheusremotewrite` — user configuration, with the OTel Collector
//! contrib exporter's keys and defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::tls_client::TlsClientConfig;
use crate::config::{ConfigError, GoDuration};
use crate::exporters::helper::{HeaderTransport, Headers, validate_headers};
use crate::exporters::prometheus::config::ResourceToTelemetry;

/// `exporters.prometheusremotewrite`: sends metrics to a Prometheus remote-write 1.0
/// receiver (Prometheus, Mimir, Thanos, Cortex, VictoriaMetrics, `burnwatch serve`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusRemoteWriteConfig {
    /// The receiver's URL, such as `http://prometheus:9090/api/v1/write` (required).
    pub endpoint: String,
    /// Extra HTTP headers on every request (`X-Scope-OrgID` for Mimir tenants, say).
    #[serde(default)]
    pub headers: Headers,
    /// Per-request timeout (default 5s).
    #[serde(default = "default_timeout")]
    pub timeout: GoDuration,
    /// TLS for `https://` endpoints (otelcol's `configtls` client settings).
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// Prefix for every metric name, joined with `_`.
    #[serde(default)]
    pub namespace: String,
    /// Labels added to every series; a data point attribute of the same name wins.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Copies the resource attributes onto every series as labels.
    #[serde(default)]
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Add unit and `_total` suffixes to metric names (default true).
    #[serde(default = "default_true")]
    pub add_metric_suffixes: bool,
    /// Send each metric family's type and help as remote-write metadata (default false).
    #[serde(default)]
    pub send_metadata: bool,
    /// `target_info`: one series per resource carrying its attributes.
    #[serde(default)]
    pub target_info: TargetInfo,
    /// The largest uncompressed request in bytes (default 3000000).
    #[serde(default = "default_max_batch_size_bytes")]
    pub max_batch_size_bytes: usize,
    /// The sending queue.
    #[serde(default)]
    pub remote_write_queue: RemoteWriteQueue,
    /// Retries of failed requests (5xx, 429, network errors).
    #[serde(default)]
    pub retry_on_failure: RetryOnFailure,
    /// An on-disk write-ahead log, so queued data survives a restart.
    #[serde(default)]
    pub wal: Option<WalSettings>,
}

/// `target_info`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    /// Send `target_info` (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for TargetInfo {
    fn default() -> Self {
        TargetInfo { enabled: true }
    }
}

/// `remote_write_queue`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteQueue {
    /// Queue requests and send them in the background (default true; `false` is not
    /// supported, see the module docs).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How many requests of `max_batch_size_bytes` the queue may hold (default 10000);
    /// the queue is bounded by `queue_size × max_batch_size_bytes` bytes of compressed
    /// data, at most 256 MiB.
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// Concurrent senders (default 5). Series are spread over them by their labels, so
    /// each series' samples still arrive in order.
    #[serde(default = "default_num_consumers")]
    pub num_consumers: usize,
}

impl Default for RemoteWriteQueue {
    fn default() -> Self {
        RemoteWriteQueue {
            enabled: true,
            queue_size: default_queue_size(),
            num_consumers: default_num_consumers(),
        }
    }
}

/// `retry_on_failure`, with this exporter's defaults (50ms growing to 200ms, for a
/// minute), which differ from the other exporters'.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryOnFailure {
    /// Retry at all (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Wait before the first retry (default 50ms).
    #[serde(default = "default_initial_interval")]
    pub initial_interval: GoDuration,
    /// Random jitter as a fraction of each interval (default 0.5).
    #[serde(default = "default_randomization_factor")]
    pub randomization_factor: f64,
    /// Growth of the interval after each attempt (default 1.5).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Upper bound of the interval between retries (default 200ms).
    #[serde(default = "default_max_interval")]
    pub max_interval: GoDuration,
    /// Give a request up after this long in total (default 1m; 0 = never).
    #[serde(default = "default_max_elapsed_time")]
    pub max_elapsed_time: GoDuration,
}

impl Default for RetryOnFailure {
    fn default() -> Self {
        RetryOnFailure {
            enabled: true,
            initial_interval: default_initial_interval(),
            randomization_factor: default_randomization_factor(),
            multiplier: default_multiplier(),
            max_interval: default_max_interval(),
            max_elapsed_time: default_max_elapsed_time(),
        }
    }
}

/// `wal`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WalSettings {
    /// The directory of the log (required).
    pub directory: String,
    /// The most undelivered requests the log holds (default 300); beyond it data is
    /// refused (retryably) until the receiver catches up.
    #[serde(default = "default_wal_buffer_size")]
    pub buffer_size: usize,
    /// How often the files of delivered requests are deleted (default 1m).
    #[serde(default = "default_truncate_frequency")]
    pub truncate_frequency: GoDuration,
}

fn default_true() -> bool {
    true
}
fn default_timeout() -> GoDuration {
    GoDuration::from_secs(5)
}
fn default_max_batch_size_bytes() -> usize {
    3_000_000
}
fn default_queue_size() -> usize {
    10_000
}
fn default_num_consumers() -> usize {
    5
}
fn default_initial_interval() -> GoDuration {
    GoDuration::from_millis(50)
}
fn default_randomization_factor() -> f64 {
    0.5
}
fn default_multiplier() -> f64 {
    1.5
}
fn default_max_interval() -> GoDuration {
    GoDuration::from_millis(200)
}
fn default_max_elapsed_time() -> GoDuration {
    GoDuration::from_secs(60)
}
fn default_wal_buffer_size() -> usize {
    300
}
fn default_truncate_frequency() -> GoDuration {
    GoDuration::from_secs(60)
}

/// The largest in-memory queue, whatever `queue_size` says.
pub(crate) const MAX_QUEUE_BYTES: usize = 256 << 20;

impl PrometheusRemoteWriteConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let at = |key: &str| format!("{path}.{key}");
        let endpoint = self.endpoint.trim();
        if endpoint.is_empty() {
            return Err(ConfigError::at(
                at("endpoint"),
                "is required (the receiver's URL, such as http://prometheus:9090/api/v1/write)",
            ));
        }
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| ConfigError::at(at("endpoint"), format!("{endpoint:?} is not a valid URL: {e}")))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => {
                return Err(ConfigError::at(
                    at("endpoint"),
                    format!("{endpoint:?} must start with http:// or https://"),
                ));
            }
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(ConfigError::at(
                at("endpoint"),
                format!("{endpoint:?} has no host"),
            ));
        }
        validate_headers(&self.headers, path, HeaderTransport::Http)?;
        for name in self.headers.keys() {
            let lower = name.to_ascii_lowercase();
            if [
                "content-encoding",
                "content-type",
                "x-prometheus-remote-write-version",
                "content-length",
                "host",
            ]
            .contains(&lower.as_str())
            {
                return Err(ConfigError::at(
                    format!("{path}.headers.{name}"),
                    "is set by the remote-write protocol and cannot be overridden",
                ));
            }
        }
        if self.timeout.0.is_zero() {
            return Err(ConfigError::at(at("timeout"), "must be greater than zero"));
        }
        self.tls.validate(&at("tls"))?;
        for (name, value) in &self.external_labels {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ConfigError::at(
                    format!("{path}.external_labels.{name}"),
                    "is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                ));
            }
            if name.starts_with("__") {
                return Err(ConfigError::at(
                    format!("{path}.external_labels.{name}"),
                    "is a label name reserved by Prometheus (`__` prefix)",
                ));
            }
            // The contrib exporter refuses empty values too: an empty label is no label.
            if value.is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.external_labels.{name}"),
                    "must not be empty",
                ));
            }
        }
        if self.max_batch_size_bytes == 0 {
            return Err(ConfigError::at(
                at("max_batch_size_bytes"),
                "must be greater than 0",
            ));
        }
        let q = &self.remote_write_queue;
        if !q.enabled {
            return Err(ConfigError::at(
                at("remote_write_queue.enabled"),
                "false is not supported: burnwatch always sends from a queue (configure wal for durability)",
            ));
        }
        if q.queue_size == 0 {
            return Err(ConfigError::at(
                at("remote_write_queue.queue_size"),
                "must be greater than 0",
            ));
        }
        if q.num_consumers == 0 {
            return Err(ConfigError::at(
                at("remote_write_queue.num_consumers"),
                "must be greater than 0",
            ));
        }
        let r = &self.retry_on_failure;
        if !(0.0..=1.0).contains(&r.randomization_factor) {
            return Err(ConfigError::at(
                at("retry_on_failure.randomization_factor"),
                "must be between 0 and 1",
            ));
        }
        if r.multiplier < 1.0 {
            return Err(ConfigError::at(at("retry_on_failure.multiplier"), "must be >= 1"));
        }
        if r.enabled && r.initial_interval.0.is_zero() {
            return Err(ConfigError::at(
                at("retry_on_failure.initial_interval"),
                "must be greater than zero",
            ));
        }
        if r.max_interval < r.initial_interval {
            return Err(ConfigError::at(
                at("retry_on_failure.max_interval"),
                format!("must be >= initial_interval ({})", r.initial_interval),
            ));
        }
        if let Some(wal) = &self.wal {
            if wal.directory.trim().is_empty() {
                return Err(ConfigError::at(
                    at("wal.directory"),
                    "is required when wal is set",
                ));
            }
            if wal.buffer_size == 0 {
                return Err(ConfigError::at(at("wal.buffer_size"), "must be greater than 0"));
            }
            if wal.truncate_frequency.0.is_zero() {
                return Err(ConfigError::at(
                    at("wal.truncate_frequency"),
                    "must be greater than zero",
                ));
            }
        }
        Ok(())
    }

    /// The queue's capacity in bytes.
    pub(crate) fn queue_bytes(&self) -> usize {
        self.remote_write_queue
            .queue_size
            .saturating_mul(self.max_batch_size_bytes)
            .min(MAX_QUEUE_BYTES)
    }

    /// The client's retry policy.
    pub(crate) fn retry_policy(&self) -> burnwatch_remote::RetryPolicy {
        let r = &self.retry_on_failure;
        burnwatch_remote::RetryPolicy {
            enabled: r.enabled,
            initial_interval: r.initial_interval.0,
            max_interval: r.max_interval.0,
            multiplier: r.multiplier,
            randomization_factor: r.randomization_factor,
            max_elapsed_time: (!r.max_elapsed_time.0.is_zero()).then_some(r.max_elapsed_time.0),
        }
    }

    /// The client's WAL settings.
    pub(crate) fn wal_config(&self) -> Option<burnwatch_remote::WalConfig> {
        self.wal.as_ref().map(|w| burnwatch_remote::WalConfig {
            directory: w.directory.clone().into(),
            buffer_size: w.buffer_size,
            truncate_frequency: w.truncate_frequency.0.max(Duration::from_millis(10)),
        })
    }
}

//! `service.telemetry`: where the collector's own metrics are served and how it logs.

use serde::Deserialize;

/// `service.telemetry`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's own metrics.
    #[serde(default)]
    pub metrics: TelemetryMetricsConfig,
    /// The collector's own logs.
    #[serde(default)]
    pub logs: TelemetryLogsConfig,
}

/// `service.telemetry.metrics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryMetricsConfig {
    /// `none` turns self-metrics off; `basic`, `normal` and `detailed` all serve them.
    #[serde(default = "default_metrics_level")]
    pub level: String,
    /// `host:port` for `/metrics` (the OTel Collector's older form; default
    /// `localhost:8888`).
    #[serde(default)]
    pub address: Option<String>,
    /// The OTel Collector's newer form: `readers: [{pull: {exporter: {prometheus: {host,
    /// port}}}}]`. The first pull reader's host and port are used.
    #[serde(default)]
    pub readers: Vec<MetricReaderConfig>,
}

impl Default for TelemetryMetricsConfig {
    fn default() -> Self {
        TelemetryMetricsConfig {
            level: default_metrics_level(),
            address: None,
            readers: Vec::new(),
        }
    }
}

fn default_metrics_level() -> String {
    "normal".into()
}

/// One entry of `service.telemetry.metrics.readers`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricReaderConfig {
    /// A pull (scrape) reader.
    #[serde(default)]
    pub pull: Option<PullReaderConfig>,
}

/// `readers[].pull`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullReaderConfig {
    /// The exporter serving the pull endpoint.
    pub exporter: PullExporterConfig,
}

/// `readers[].pull.exporter`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullExporterConfig {
    /// A Prometheus endpoint.
    pub prometheus: PrometheusPullConfig,
}

/// `readers[].pull.exporter.prometheus`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusPullConfig {
    /// Host to bind (default `localhost`).
    #[serde(default = "default_telemetry_host")]
    pub host: String,
    /// Port to bind (default 8888).
    #[serde(default = "default_telemetry_port")]
    pub port: u16,
    /// Accepted for compatibility.
    #[serde(default)]
    pub without_units: bool,
    /// Accepted for compatibility.
    #[serde(default)]
    pub without_type_suffix: bool,
    /// Accepted for compatibility.
    #[serde(default)]
    pub without_scope_info: bool,
}

fn default_telemetry_host() -> String {
    "localhost".into()
}
fn default_telemetry_port() -> u16 {
    8888
}

/// `service.telemetry.logs`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryLogsConfig {
    /// Minimum log level (`debug`, `info`, `warn`, `error`; default `info`). `RUST_LOG`,
    /// when set, takes precedence.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// Accepted for compatibility; logs always go to stderr.
    #[serde(default)]
    pub encoding: Option<String>,
}

impl Default for TelemetryLogsConfig {
    fn default() -> Self {
        TelemetryLogsConfig {
            level: default_log_level(),
            encoding: None,
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

impl TelemetryConfig {
    /// Where the self-telemetry `/metrics` is served, or `None` when turned off.
    pub fn metrics_endpoint(&self) -> Option<String> {
        if self.metrics.level == "none" {
            return None;
        }
        if let Some(reader) = self.metrics.readers.iter().find_map(|r| r.pull.as_ref()) {
            let p = &reader.exporter.prometheus;
            return Some(format!("{}:{}", p.host, p.port));
        }
        Some(
            self.metrics
                .address
                .clone()
                .unwrap_or_else(|| "localhost:8888".into()),
        )
    }
}

//! `exporters: prometheus` — user configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, GoDuration};

/// `exporters.prometheus`: serves the metrics it receives for Prometheus to scrape.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusExporterConfig {
    /// `host:port` where `/metrics` is served (default `localhost:8889`).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Prefix added to every metric name, joined with `_`.
    #[serde(default)]
    pub namespace: String,
    /// Labels added to every exported series.
    #[serde(default)]
    pub const_labels: BTreeMap<String, String>,
    /// Write each sample's timestamp into the exposition (default false).
    #[serde(default)]
    pub send_timestamps: bool,
    /// Series not updated for this long are no longer exported (default 5m).
    #[serde(default = "default_metric_expiration")]
    pub metric_expiration: GoDuration,
    /// Copies all resource attributes onto every series as labels.
    #[serde(default)]
    pub resource_to_telemetry_conversion: ResourceToTelemetry,
    /// Serve OpenMetrics text when the scraper asks for it in `Accept` (default false).
    #[serde(default)]
    pub enable_open_metrics: bool,
    /// Add unit and `_total` suffixes to metric names (default true).
    #[serde(default = "default_true")]
    pub add_metric_suffixes: bool,
    /// Leave out the `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url`
    /// and `otel_scope_<attribute>` labels (default false).
    #[serde(default)]
    pub without_scope_info: bool,
}

/// `exporters.prometheus.resource_to_telemetry_conversion`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceToTelemetry {
    /// When true, every resource attribute becomes a label on every series.
    #[serde(default)]
    pub enabled: bool,
    /// With `enabled`, leave out `service.name`, `service.namespace` and
    /// `service.instance.id`, which already become `job` and `instance` (default false).
    #[serde(default)]
    pub exclude_service_attributes: bool,
}

fn default_endpoint() -> String {
    "localhost:8889".into()
}
fn default_metric_expiration() -> GoDuration {
    GoDuration::from_secs(300)
}
fn default_true() -> bool {
    true
}

impl Default for PrometheusExporterConfig {
    fn default() -> Self {
        PrometheusExporterConfig {
            endpoint: default_endpoint(),
            namespace: String::new(),
            const_labels: BTreeMap::new(),
            send_timestamps: false,
            metric_expiration: default_metric_expiration(),
            resource_to_telemetry_conversion: ResourceToTelemetry::default(),
            enable_open_metrics: false,
            add_metric_suffixes: true,
            without_scope_info: false,
        }
    }
}

impl PrometheusExporterConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        crate::config::check_endpoint(&self.endpoint, &format!("{path}.endpoint"))?;
        if self.metric_expiration.0.is_zero() {
            return Err(ConfigError::at(
                format!("{path}.metric_expiration"),
                "must be greater than zero",
            ));
        }
        for name in self.const_labels.keys() {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ConfigError::at(
                    format!("{path}.const_labels.{name}"),
                    "is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                ));
            }
            // `client_golang` rejects `__`-prefixed names (reserved for Prometheus),
            // and `le`/`quantile` would clash with histogram buckets and summary
            // quantiles on every such series.
            if name.starts_with("__") || name == "le" || name == "quantile" {
                return Err(ConfigError::at(
                    format!("{path}.const_labels.{name}"),
                    "is a label name reserved by Prometheus (`__` prefix, `le`, `quantile`)",
                ));
            }
        }
        Ok(())
    }
}

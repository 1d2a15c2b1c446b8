//! `connectors.spanmetrics`: the user configuration, with otelcol-contrib's keys, defaults
//! and checks (`connector/spanmetricsconnector/config.go`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::config::{ConfigError, GoDuration};

/// `aggregation_temporality` for cumulative sums and histograms (the default).
pub const CUMULATIVE: &str = "AGGREGATION_TEMPORALITY_CUMULATIVE";
/// `aggregation_temporality` for delta sums and histograms.
pub const DELTA: &str = "AGGREGATION_TEMPORALITY_DELTA";

/// The dimensions every series has, in this order; `exclude_dimensions` may drop them and
/// `dimensions` may not repeat them.
pub const DEFAULT_DIMENSIONS: [&str; 4] = ["service.name", "span.name", "span.kind", "status.code"];

/// otelcol's default explicit bucket bounds, in milliseconds.
pub const DEFAULT_BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0, 10_000.0,
    15_000.0,
];

/// `connectors.spanmetrics`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpanMetricsConfig {
    /// The duration histogram: its unit and buckets, or `disable: true`.
    #[serde(default, deserialize_with = "null_default")]
    pub histogram: HistogramConfig,
    /// Span (or, failing that, resource) attributes added to every series beside
    /// service.name, span.name, span.kind and status.code; `default` is used when neither
    /// has the attribute, else the dimension is left out.
    #[serde(default, deserialize_with = "null_default")]
    pub dimensions: Vec<Dimension>,
    /// Default dimensions (`service.name`, `span.name`, `span.kind`, `status.code`) to
    /// leave out of every series.
    #[serde(default, deserialize_with = "null_default")]
    pub exclude_dimensions: Vec<String>,
    /// How many series (distinct resource and dimension values) are kept (default 1000);
    /// past it, the least recently updated series is dropped.
    #[serde(default = "default_cache_size")]
    pub dimensions_cache_size: i64,
    /// How many distinct resources are kept (default 1000); past it, the least recently
    /// seen resource and its series are dropped.
    #[serde(default = "default_cache_size")]
    pub resource_metrics_cache_size: i64,
    /// Resource attributes that tell resources apart (default: all of them).
    #[serde(default, deserialize_with = "null_default")]
    pub resource_metrics_key_attributes: Vec<String>,
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE` (default) or `AGGREGATION_TEMPORALITY_DELTA`.
    #[serde(default = "default_temporality")]
    pub aggregation_temporality: String,
    /// How often the metrics are sent on (default 60s, as otelcol-contrib since v0.107).
    #[serde(default = "default_flush_interval")]
    pub metrics_flush_interval: GoDuration,
    /// A series not updated for this long is no longer exported (default 0: never).
    #[serde(default)]
    pub metrics_expiration: GoDuration,
    /// Trace exemplars on the duration histogram and the calls sum.
    #[serde(default, deserialize_with = "null_default")]
    pub exemplars: ExemplarsConfig,
    /// The prefix of the metric names (default `traces.span.metrics`: the metrics are
    /// `traces.span.metrics.calls` and `traces.span.metrics.duration`).
    #[serde(default = "default_namespace")]
    pub namespace: String,
}

/// `connectors.spanmetrics.histogram`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramConfig {
    /// No duration histogram (nor its quantile summary), only calls.
    #[serde(default)]
    pub disable: bool,
    /// The duration unit: `ms` (default) or `s`.
    #[serde(default)]
    pub unit: Unit,
    /// Explicit bucket bounds (the default kind).
    #[serde(
        default,
        deserialize_with = "crate::config::empty_section",
        skip_serializing_if = "Option::is_none"
    )]
    pub explicit: Option<ExplicitConfig>,
    /// An exponential histogram instead of explicit buckets.
    #[serde(
        default,
        deserialize_with = "crate::config::empty_section",
        skip_serializing_if = "Option::is_none"
    )]
    pub exponential: Option<ExponentialConfig>,
}

impl Default for HistogramConfig {
    fn default() -> Self {
        HistogramConfig {
            disable: false,
            unit: Unit::Milliseconds,
            explicit: None,
            exponential: None,
        }
    }
}

/// The unit durations are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum Unit {
    /// `ms`.
    #[default]
    #[serde(rename = "ms")]
    Milliseconds,
    /// `s`.
    #[serde(rename = "s")]
    Seconds,
}

impl Unit {
    /// The UCUM unit written on the metrics (`ms`, `s`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
        }
    }

    /// Nanoseconds per unit.
    pub fn nanos(self) -> f64 {
        match self {
            Unit::Milliseconds => 1e6,
            Unit::Seconds => 1e9,
        }
    }
}

/// `connectors.spanmetrics.histogram.explicit`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitConfig {
    /// Bucket upper bounds as durations (`2ms`, `1s`); default otelcol's 16 bounds from
    /// 2ms to 15s.
    #[serde(default)]
    pub buckets: Option<Vec<GoDuration>>,
}

/// `connectors.spanmetrics.histogram.exponential`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialConfig {
    /// The most buckets a data point holds (default 160); the scale drops to fit.
    #[serde(default)]
    pub max_size: i32,
}

/// One entry of `connectors.spanmetrics.dimensions`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// The attribute name, looked up on the span, then on its resource.
    pub name: String,
    /// The value used when neither has it; without one, the dimension is left out.
    #[serde(default)]
    pub default: Option<String>,
}

/// `connectors.spanmetrics.exemplars`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExemplarsConfig {
    /// Attach the trace and span ids of some spans to the data points (default false).
    #[serde(default)]
    pub enabled: bool,
    /// The most exemplars per data point per flush (default 5).
    #[serde(default = "default_max_exemplars")]
    pub max_per_data_point: i64,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig {
            enabled: false,
            max_per_data_point: default_max_exemplars(),
        }
    }
}

fn default_cache_size() -> i64 {
    1000
}
fn default_temporality() -> String {
    CUMULATIVE.to_string()
}
fn default_flush_interval() -> GoDuration {
    GoDuration::from_secs(60)
}
fn default_namespace() -> String {
    "traces.span.metrics".to_string()
}
fn default_max_exemplars() -> i64 {
    5
}

/// Reads an explicitly empty key (`histogram:` with nothing under it, which YAML reads as
/// null) as its default, as otelcol's decoder does.
fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            histogram: HistogramConfig::default(),
            dimensions: Vec::new(),
            exclude_dimensions: Vec::new(),
            dimensions_cache_size: default_cache_size(),
            resource_metrics_cache_size: default_cache_size(),
            resource_metrics_key_attributes: Vec::new(),
            aggregation_temporality: default_temporality(),
            metrics_flush_interval: default_flush_interval(),
            metrics_expiration: GoDuration::default(),
            exemplars: ExemplarsConfig::default(),
            namespace: default_namespace(),
        }
    }
}

impl SpanMetricsConfig {
    /// Checks the configuration as otelcol-contrib's `Config.Validate` does; `path` is this
    /// component's YAML path (`connectors.spanmetrics`).
    ///
    /// One divergence: otelcol reads any `aggregation_temporality` other than
    /// `AGGREGATION_TEMPORALITY_DELTA` as cumulative, so a typo silently changes the
    /// output; here anything but the two names is refused.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let mut seen: Vec<&str> = DEFAULT_DIMENSIONS.to_vec();
        for (i, d) in self.dimensions.iter().enumerate() {
            if d.name.is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.dimensions[{i}].name"),
                    "must not be empty",
                ));
            }
            if seen.contains(&d.name.as_str()) {
                return Err(ConfigError::at(
                    format!("{path}.dimensions[{i}]"),
                    format!("duplicate dimension name {}", d.name),
                ));
            }
            seen.push(&d.name);
        }
        for (i, name) in self.exclude_dimensions.iter().enumerate() {
            if !DEFAULT_DIMENSIONS.contains(&name.as_str()) {
                return Err(ConfigError::at(
                    format!("{path}.exclude_dimensions[{i}]"),
                    format!(
                        "names {name:?}, which is not a default dimension (one of {})",
                        DEFAULT_DIMENSIONS.join(", ")
                    ),
                ));
            }
        }
        for (key, size) in [
            ("dimensions_cache_size", self.dimensions_cache_size),
            ("resource_metrics_cache_size", self.resource_metrics_cache_size),
        ] {
            if size <= 0 {
                return Err(ConfigError::at(
                    format!("{path}.{key}"),
                    format!(
                        "invalid cache size: {size}, the maximum number of the items in the cache should be positive"
                    ),
                ));
            }
        }
        if self.histogram.explicit.is_some() && self.histogram.exponential.is_some() {
            return Err(ConfigError::at(
                format!("{path}.histogram"),
                "use either `explicit` or `exponential` buckets histogram",
            ));
        }
        if let Some(buckets) = self.histogram.explicit.as_ref().and_then(|e| e.buckets.as_ref())
            && buckets.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(ConfigError::at(
                format!("{path}.histogram.explicit.buckets"),
                "must be strictly increasing",
            ));
        }
        if let Some(e) = &self.histogram.exponential
            && e.max_size < 0
        {
            return Err(ConfigError::at(
                format!("{path}.histogram.exponential.max_size"),
                format!("must not be negative, got {}", e.max_size),
            ));
        }
        if self.aggregation_temporality != CUMULATIVE && self.aggregation_temporality != DELTA {
            return Err(ConfigError::at(
                format!("{path}.aggregation_temporality"),
                format!(
                    "must be {CUMULATIVE} or {DELTA}, got {:?}",
                    self.aggregation_temporality
                ),
            ));
        }
        if self.metrics_flush_interval.0 == Duration::ZERO {
            return Err(ConfigError::at(
                format!("{path}.metrics_flush_interval"),
                "invalid metrics_flush_interval: 0s, the duration should be positive",
            ));
        }
        if self.exemplars.max_per_data_point < 0 {
            return Err(ConfigError::at(
                format!("{path}.exemplars.max_per_data_point"),
                format!("must not be negative, got {}", self.exemplars.max_per_data_point),
            ));
        }
        Ok(())
    }

    /// Whether sums and histograms are delta.
    pub fn is_delta(&self) -> bool {
        self.aggregation_temporality == DELTA
    }

    /// The explicit bucket bounds in the configured unit.
    pub fn bounds(&self) -> Vec<f64> {
        let unit = self.histogram.unit;
        match self.histogram.explicit.as_ref().and_then(|e| e.buckets.as_ref()) {
            Some(buckets) => buckets
                .iter()
                .map(|d| d.0.as_nanos() as f64 / unit.nanos())
                .collect(),
            None => DEFAULT_BUCKETS_MS
                .iter()
                .map(|ms| ms * 1e6 / unit.nanos())
                .collect(),
        }
    }
}

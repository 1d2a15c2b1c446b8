//! Options shared by the network exporters, as the OTel Collector's `exporterhelper`,
//! `configgrpc` and `confighttp` define them: TLS, compression, retries and the
//! sending queue.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, GoDuration};

/// `tls` for an outgoing connection.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsConfig {
    /// Use plain-text transport. burnwatch speaks plain text only, so for gRPC exporters
    /// this must be `true`, or the endpoint must use the `http://` scheme.
    #[serde(default)]
    pub insecure: bool,
    /// Accepted for compatibility; ignored with plain-text transport.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// A CA file for TLS; TLS is not supported, so setting it is an error.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// A client certificate; TLS is not supported, so setting it is an error.
    #[serde(default)]
    pub cert_file: Option<String>,
    /// A client key; TLS is not supported, so setting it is an error.
    #[serde(default)]
    pub key_file: Option<String>,
}

/// Request compression for an outgoing connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip, the OTel Collector's default for OTLP exporters.
    #[default]
    Gzip,
    /// zstd (OTLP/HTTP only here).
    Zstd,
    /// No compression.
    None,
}

/// `retry_on_failure`: exponential backoff for retryable export failures.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retry failed exports at all (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Wait before the first retry (default 5s).
    #[serde(default = "default_initial_interval")]
    pub initial_interval: GoDuration,
    /// Random jitter as a fraction of each interval (default 0.5).
    #[serde(default = "default_randomization_factor")]
    pub randomization_factor: f64,
    /// Growth of the interval after each attempt (default 1.5).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Upper bound of the interval between retries (default 30s).
    #[serde(default = "default_max_interval")]
    pub max_interval: GoDuration,
    /// Give up on a request after this long in total (default 300s; 0 = never).
    #[serde(default = "default_max_elapsed_time")]
    pub max_elapsed_time: GoDuration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: default_initial_interval(),
            randomization_factor: default_randomization_factor(),
            multiplier: default_multiplier(),
            max_interval: default_max_interval(),
            max_elapsed_time: default_max_elapsed_time(),
        }
    }
}

/// `sending_queue`: an in-memory queue between the pipeline and the senders.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue requests and send them from background consumers (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How many requests may wait in the queue (default 1000).
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// How many requests are sent concurrently (default 10).
    #[serde(default = "default_num_consumers")]
    pub num_consumers: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            queue_size: default_queue_size(),
            num_consumers: default_num_consumers(),
        }
    }
}

/// Extra request headers (`headers:` in the OTel Collector's client configs).
pub type Headers = BTreeMap<String, String>;

/// How an exporter sends `headers:`, which decides what is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderTransport {
    /// gRPC metadata: names are lowercased; names ending in `-bin` carry any bytes.
    Grpc,
    /// HTTP headers.
    Http,
}

/// Checks `headers:` with the same rules the exporter applies when it is built, so that
/// `collector validate` refuses a configuration that could not start (a value with a
/// newline or other control character, a name with a space). `path` is the component's
/// YAML path.
pub fn validate_headers(
    headers: &Headers,
    path: &str,
    transport: HeaderTransport,
) -> Result<(), ConfigError> {
    use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey};
    for (name, value) in headers {
        let at = || format!("{path}.headers.{name}");
        let (name_ok, value_ok) = match transport {
            HeaderTransport::Grpc => {
                let lower = name.to_ascii_lowercase();
                if lower.ends_with("-bin") {
                    (BinaryMetadataKey::from_bytes(lower.as_bytes()).is_ok(), true)
                } else {
                    (
                        AsciiMetadataKey::from_bytes(lower.as_bytes()).is_ok(),
                        AsciiMetadataValue::try_from(value.as_str()).is_ok(),
                    )
                }
            }
            HeaderTransport::Http => (
                http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
                http::HeaderValue::from_str(value).is_ok(),
            ),
        };
        if !name_ok {
            return Err(ConfigError::at(
                at(),
                "the name is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
            ));
        }
        if !value_ok {
            return Err(ConfigError::at(
                at(),
                "the value is not a valid header value (printable ASCII and tabs only; no newlines or other control characters)",
            ));
        }
    }
    Ok(())
}

fn default_true() -> bool {
    true
}
fn default_initial_interval() -> GoDuration {
    GoDuration::from_secs(5)
}
fn default_randomization_factor() -> f64 {
    0.5
}
fn default_multiplier() -> f64 {
    1.5
}
fn default_max_interval() -> GoDuration {
    GoDuration::from_secs(30)
}
fn default_max_elapsed_time() -> GoDuration {
    GoDuration::from_secs(300)
}
fn default_queue_size() -> usize {
    1000
}
fn default_num_consumers() -> usize {
    10
}

impl ClientTlsConfig {
    /// Checks that no TLS material is configured; `path` is the `tls` key's path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        for (key, value) in [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ] {
            if value.is_some() {
                return Err(ConfigError::at(
                    format!("{path}.{key}"),
                    "TLS is not supported by burnwatch yet; use a plain-text endpoint with tls.insecure: true",
                ));
            }
        }
        Ok(())
    }
}

impl RetryConfig {
    /// Checks the configuration; `path` is the `retry_on_failure` key's path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            return Err(ConfigError::at(
                format!("{path}.randomization_factor"),
                "must be between 0 and 1",
            ));
        }
        if self.multiplier < 1.0 {
            return Err(ConfigError::at(format!("{path}.multiplier"), "must be >= 1"));
        }
        if self.enabled && self.initial_interval.0.is_zero() {
            return Err(ConfigError::at(
                format!("{path}.initial_interval"),
                "must be greater than zero",
            ));
        }
        if self.max_interval < self.initial_interval {
            return Err(ConfigError::at(
                format!("{path}.max_interval"),
                format!("must be >= initial_interval ({})", self.initial_interval),
            ));
        }
        Ok(())
    }
}

impl QueueConfig {
    /// Checks the configuration; `path` is the `sending_queue` key's path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.enabled && self.queue_size == 0 {
            return Err(ConfigError::at(
                format!("{path}.queue_size"),
                "must be greater than 0",
            ));
        }
        if self.enabled && self.num_consumers == 0 {
            return Err(ConfigError::at(
                format!("{path}.num_consumers"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

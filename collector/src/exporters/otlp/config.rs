//! `exporters: otlp` and `exporters: otlphttp` — user configuration.

use serde::{Deserialize, Serialize};

use crate::config::tls_client::{TlsClient, TlsClientConfig};
use crate::config::{ConfigError, GoDuration};
use crate::exporters::helper::{
    Compression, HeaderTransport, Headers, QueueConfig, RetryConfig, validate_headers,
};

/// `exporters.otlp`: OTLP over gRPC.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpExporterConfig {
    /// `host:port` or `http://host:port` of the receiving OTLP/gRPC server. Required.
    #[serde(default)]
    pub endpoint: String,
    /// Transport security (otelcol's `configtls` client settings). TLS unless `insecure: true`
    /// (without a CA) or the endpoint's scheme is `http://`.
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// Request compression (default gzip).
    #[serde(default)]
    pub compression: Compression,
    /// Deadline for one export request (default 5s).
    #[serde(default = "default_grpc_timeout")]
    pub timeout: GoDuration,
    /// Extra gRPC metadata sent with every request.
    #[serde(default)]
    pub headers: Headers,
    /// Retries with exponential backoff.
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    /// The queue between the pipeline and the senders.
    #[serde(default)]
    pub sending_queue: QueueConfig,
}

/// `exporters.otlphttp`: OTLP over HTTP with protobuf or JSON bodies.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpHttpExporterConfig {
    /// Base URL; `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended per signal.
    #[serde(default)]
    pub endpoint: String,
    /// Full URL for traces, overriding `endpoint`.
    #[serde(default)]
    pub traces_endpoint: Option<String>,
    /// Full URL for metrics, overriding `endpoint`.
    #[serde(default)]
    pub metrics_endpoint: Option<String>,
    /// Full URL for logs, overriding `endpoint`.
    #[serde(default)]
    pub logs_endpoint: Option<String>,
    /// Transport security for `https://` URLs (otelcol's `configtls` client settings);
    /// `http://` URLs are plain text.
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// Request compression (default gzip).
    #[serde(default)]
    pub compression: Compression,
    /// Body encoding: `proto` (default) or `json`.
    #[serde(default)]
    pub encoding: HttpEncoding,
    /// Deadline for one export request (default 30s, as the OTel Collector's otlphttp).
    #[serde(default = "default_http_timeout")]
    pub timeout: GoDuration,
    /// Extra HTTP headers sent with every request.
    #[serde(default)]
    pub headers: Headers,
    /// Retries with exponential backoff.
    #[serde(default)]
    pub retry_on_failure: RetryConfig,
    /// The queue between the pipeline and the senders.
    #[serde(default)]
    pub sending_queue: QueueConfig,
}

/// `exporters.otlphttp.encoding`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpEncoding {
    /// `application/x-protobuf`.
    #[default]
    Proto,
    /// `application/json` in the OTLP/JSON mapping.
    Json,
}

fn default_grpc_timeout() -> GoDuration {
    GoDuration::from_secs(5)
}
fn default_http_timeout() -> GoDuration {
    GoDuration::from_secs(30)
}

impl OtlpExporterConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.endpoint.is_empty() {
            return Err(ConfigError::at(format!("{path}.endpoint"), "is required"));
        }
        if self.endpoint.trim().starts_with("http://") && self.tls.has_material() {
            // otelcol would dial TLS here; burnwatch reads http:// as plain text (as gRPC's
            // own URI scheme says), so TLS settings with it are a contradiction, not ignored.
            return Err(ConfigError::at(
                format!("{path}.tls"),
                "sets certificates, but the endpoint's http:// scheme means plain text; use https:// or host:port",
            ));
        }
        if self.compression == Compression::Zstd {
            return Err(ConfigError::at(
                format!("{path}.compression"),
                "zstd is not supported for OTLP/gRPC; use gzip or none",
            ));
        }
        let uri = super::grpc::endpoint_uri(&self.endpoint);
        if let Err(err) = tonic::transport::Endpoint::from_shared(uri) {
            return Err(ConfigError::at(
                format!("{path}.endpoint"),
                format!("{:?} is not a valid URI: {err}", self.endpoint),
            ));
        }
        validate_headers(&self.headers, path, HeaderTransport::Grpc)?;
        self.tls.validate(&format!("{path}.tls"))?;
        self.retry_on_failure
            .validate(&format!("{path}.retry_on_failure"))?;
        self.sending_queue.validate(&format!("{path}.sending_queue"))
    }
}

impl OtlpExporterConfig {
    /// The TLS settings to dial with, or `None` for plain text: an `http://` endpoint, or
    /// `tls.insecure: true` without a CA (otelcol's rule); `https://` and bare `host:port`
    /// endpoints use TLS. Reads the CA, certificate and key; `path` is this component's
    /// YAML path.
    pub fn tls_client(&self, path: &str) -> Result<Option<TlsClient>, ConfigError> {
        let endpoint = self.endpoint.trim();
        let https = endpoint.starts_with("https://");
        if endpoint.starts_with("http://") || (!https && self.tls.plain_text()) {
            return Ok(None);
        }
        self.tls.build(&format!("{path}.tls"), &[b"h2"]).map(Some)
    }
}

impl OtlpHttpExporterConfig {
    /// The TLS settings for `https://` URLs (otelcol's confighttp: the URL's scheme decides),
    /// or `None` when every URL is `http://`. Reads the CA, certificate and key; `path` is
    /// this component's YAML path.
    pub fn tls_client(&self, path: &str) -> Result<Option<TlsClient>, ConfigError> {
        let https = [
            Some(&self.endpoint),
            self.traces_endpoint.as_ref(),
            self.metrics_endpoint.as_ref(),
            self.logs_endpoint.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|url| url.trim().starts_with("https://"));
        if !https {
            return Ok(None);
        }
        // reqwest is built without HTTP/2 here, so only http/1.1 is offered.
        self.tls.build(&format!("{path}.tls"), &[b"http/1.1"]).map(Some)
    }
}

impl OtlpHttpExporterConfig {
    /// Checks the configuration; `path` is this component's YAML path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let any_signal =
            self.traces_endpoint.is_some() || self.metrics_endpoint.is_some() || self.logs_endpoint.is_some();
        if self.endpoint.is_empty() && !any_signal {
            return Err(ConfigError::at(
                format!("{path}.endpoint"),
                "is required (or set traces_endpoint, metrics_endpoint, logs_endpoint)",
            ));
        }
        let urls = [
            ("endpoint", Some(&self.endpoint)),
            ("traces_endpoint", self.traces_endpoint.as_ref()),
            ("metrics_endpoint", self.metrics_endpoint.as_ref()),
            ("logs_endpoint", self.logs_endpoint.as_ref()),
        ];
        for (key, url) in urls {
            let Some(url) = url.filter(|u| !u.is_empty()) else {
                continue;
            };
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(ConfigError::at(
                    format!("{path}.{key}"),
                    format!("must be an http:// or https:// URL, got {url:?}"),
                ));
            }
            if let Err(err) = reqwest::Url::parse(url) {
                return Err(ConfigError::at(
                    format!("{path}.{key}"),
                    format!("{url:?} is not a valid URL: {err}"),
                ));
            }
        }
        validate_headers(&self.headers, path, HeaderTransport::Http)?;
        self.tls.validate(&format!("{path}.tls"))?;
        self.retry_on_failure
            .validate(&format!("{path}.retry_on_failure"))?;
        self.sending_queue.validate(&format!("{path}.sending_queue"))
    }
}

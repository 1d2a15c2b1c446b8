//! `receivers: otlp` — user configuration.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, GoDuration};

/// `receivers.otlp`: OTLP over gRPC and HTTP, as the OTel Collector's `otlp` receiver.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpReceiverConfig {
    /// The transports to serve. A protocol that is absent is not served; an empty
    /// protocol (`grpc:` with no keys) is served on its default endpoint.
    #[serde(default)]
    pub protocols: Protocols,
}

/// `receivers.otlp.protocols`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC, default `localhost:4317`.
    #[serde(default, deserialize_with = "crate::config::empty_section")]
    pub grpc: Option<GrpcServerConfig>,
    /// OTLP/HTTP, default `localhost:4318`.
    #[serde(default, deserialize_with = "crate::config::empty_section")]
    pub http: Option<HttpServerConfig>,
}

/// `receivers.otlp.protocols.grpc`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcServerConfig {
    /// `host:port` to listen on. The default binds localhost only, as the OTel Collector
    /// does since v0.104; write `0.0.0.0:4317` to listen on every interface.
    #[serde(default = "default_grpc_endpoint")]
    pub endpoint: String,
    /// Network transport; only `tcp` is supported.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// The largest request message accepted, in MiB (default 4, as gRPC's default).
    #[serde(default = "default_max_recv_msg_size_mib")]
    pub max_recv_msg_size_mib: u64,
    /// The largest number of concurrent HTTP/2 streams per connection (0 = no limit).
    #[serde(default)]
    pub max_concurrent_streams: u32,
    /// Accepted for compatibility; client metadata is not propagated.
    #[serde(default)]
    pub include_metadata: bool,
    /// Authentication of every call (otelcol's `configauth`).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// TLS (otelcol's `configtls`); absent: plain text.
    #[serde(default)]
    pub tls: Option<super::tls::TlsServerConfig>,
}

/// `receivers.otlp.protocols.{grpc,http}.auth`, as otelcol's `configauth`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The id of the authenticator extension (`bearertokenauth`, `basicauth/users`); it
    /// must be defined under `extensions` and listed in `service.extensions`.
    pub authenticator: String,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            endpoint: default_grpc_endpoint(),
            transport: default_transport(),
            max_recv_msg_size_mib: default_max_recv_msg_size_mib(),
            max_concurrent_streams: 0,
            include_metadata: false,
            auth: None,
            tls: None,
        }
    }
}

/// `receivers.otlp.protocols.http`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// `host:port` to listen on (default `localhost:4318`).
    #[serde(default = "default_http_endpoint")]
    pub endpoint: String,
    /// The largest request body accepted, in bytes, checked on the wire and again after
    /// decompression (default 20 MiB, as the OTel Collector's `confighttp`).
    #[serde(default = "default_max_request_body_size")]
    pub max_request_body_size: u64,
    /// URL path for traces (default `/v1/traces`).
    #[serde(default = "default_traces_url_path")]
    pub traces_url_path: String,
    /// URL path for metrics (default `/v1/metrics`).
    #[serde(default = "default_metrics_url_path")]
    pub metrics_url_path: String,
    /// URL path for logs (default `/v1/logs`).
    #[serde(default = "default_logs_url_path")]
    pub logs_url_path: String,
    /// Accepted for compatibility; client metadata is not propagated.
    #[serde(default)]
    pub include_metadata: bool,
    /// How long a new connection may take to send its request headers (default 1m, as
    /// `confighttp`; 0 = no limit). Enforced as an inactivity timeout, see
    /// `receivers/otlp/idle.rs`.
    #[serde(default = "default_connection_timeout")]
    pub read_header_timeout: GoDuration,
    /// How long a keep-alive connection may stay idle between requests (default 1m, as
    /// `confighttp`; 0 = no limit).
    #[serde(default = "default_connection_timeout")]
    pub idle_timeout: GoDuration,
    /// Authentication of every request (otelcol's `configauth`).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// TLS (otelcol's `configtls`); absent: plain text.
    #[serde(default)]
    pub tls: Option<super::tls::TlsServerConfig>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            endpoint: default_http_endpoint(),
            max_request_body_size: default_max_request_body_size(),
            traces_url_path: default_traces_url_path(),
            metrics_url_path: default_metrics_url_path(),
            logs_url_path: default_logs_url_path(),
            include_metadata: false,
            read_header_timeout: default_connection_timeout(),
            idle_timeout: default_connection_timeout(),
            auth: None,
            tls: None,
        }
    }
}

impl HttpServerConfig {
    /// The inactivity after which a connection is closed: the smaller of the non-zero
    /// `read_header_timeout` and `idle_timeout`, or `None` when both are 0.
    pub fn inactivity_timeout(&self) -> Option<std::time::Duration> {
        [self.read_header_timeout.0, self.idle_timeout.0]
            .into_iter()
            .filter(|d| !d.is_zero())
            .min()
    }
}

fn default_connection_timeout() -> GoDuration {
    GoDuration::from_secs(60)
}

fn default_grpc_endpoint() -> String {
    "localhost:4317".into()
}
fn default_http_endpoint() -> String {
    "localhost:4318".into()
}
fn default_transport() -> String {
    "tcp".into()
}
fn default_max_recv_msg_size_mib() -> u64 {
    4
}
fn default_max_request_body_size() -> u64 {
    20 * 1024 * 1024
}
fn default_traces_url_path() -> String {
    "/v1/traces".into()
}
fn default_metrics_url_path() -> String {
    "/v1/metrics".into()
}
fn default_logs_url_path() -> String {
    "/v1/logs".into()
}

impl OtlpReceiverConfig {
    /// Checks the configuration; `path` is this component's YAML path (`receivers.otlp`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.protocols.grpc.is_none() && self.protocols.http.is_none() {
            return Err(ConfigError::at(
                format!("{path}.protocols"),
                "must enable at least one protocol (grpc or http)",
            ));
        }
        if let Some(grpc) = &self.protocols.grpc {
            crate::config::check_endpoint(&grpc.endpoint, &format!("{path}.protocols.grpc.endpoint"))?;
            if grpc.transport != "tcp" {
                return Err(ConfigError::at(
                    format!("{path}.protocols.grpc.transport"),
                    format!(
                        "unsupported transport {:?}; only \"tcp\" is supported",
                        grpc.transport
                    ),
                ));
            }
            if grpc.max_recv_msg_size_mib == 0 {
                return Err(ConfigError::at(
                    format!("{path}.protocols.grpc.max_recv_msg_size_mib"),
                    "must be greater than 0",
                ));
            }
        }
        if let Some(http) = &self.protocols.http {
            crate::config::check_endpoint(&http.endpoint, &format!("{path}.protocols.http.endpoint"))?;
            if http.max_request_body_size == 0 {
                return Err(ConfigError::at(
                    format!("{path}.protocols.http.max_request_body_size"),
                    "must be greater than 0",
                ));
            }
            for (key, value) in [
                ("traces_url_path", &http.traces_url_path),
                ("metrics_url_path", &http.metrics_url_path),
                ("logs_url_path", &http.logs_url_path),
            ] {
                if !value.starts_with('/') {
                    return Err(ConfigError::at(
                        format!("{path}.protocols.http.{key}"),
                        format!("must start with '/', got {value:?}"),
                    ));
                }
            }
            // One path cannot carry two signals: the body's message type follows from it.
            let paths = [
                ("traces_url_path", &http.traces_url_path),
                ("metrics_url_path", &http.metrics_url_path),
                ("logs_url_path", &http.logs_url_path),
            ];
            for (i, (key, value)) in paths.iter().enumerate() {
                if let Some((other, _)) = paths[..i].iter().find(|(_, v)| v == value) {
                    return Err(ConfigError::at(
                        format!("{path}.protocols.http.{key}"),
                        format!("must differ from {other}, both are {value:?}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

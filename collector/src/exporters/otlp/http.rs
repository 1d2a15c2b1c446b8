//! `exporters: otlphttp`: one attempt to deliver a request over OTLP/HTTP.
//!
//! Requests are `POST`ed as protobuf (`application/x-protobuf`) or OTLP/JSON
//! (`application/json`) to `endpoint` + `/v1/traces` (`/v1/metrics`, `/v1/logs`), or to
//! the per-signal URL when one is configured, as the OTLP specification's "OTLP/HTTP
//! Request" section describes.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::config::{HttpEncoding, OtlpHttpExporterConfig};
use crate::component::BuildError;
use crate::config::ComponentId;
use crate::consumer::{Signal, Telemetry};
use crate::exporters::helper::Compression;
use crate::exporters::queue::{RequestSender, SendError, SendOutcome};

/// Response bodies are read up to this size: a `partial_success` or a `google.rpc.Status`
/// is small, and a misbehaving server must not make the exporter buffer without bound.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Sends OTLP export requests over HTTP.
pub(super) struct HttpSender {
    client: reqwest::Client,
    /// Per signal, in [`signal_index`] order; `None` when neither `endpoint` nor the
    /// signal's own URL is configured.
    urls: [Option<String>; 3],
    encoding: HttpEncoding,
    compression: Compression,
    headers: HeaderMap,
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// The URL for one signal: its own `<signal>_endpoint` as written, else `endpoint` with
/// the signal's path appended (without doubling a trailing `/`).
pub(super) fn signal_url(base: &str, own: Option<&String>, path: &str) -> Option<String> {
    if let Some(own) = own.filter(|u| !u.trim().is_empty()) {
        return Some(own.trim().to_string());
    }
    let base = base.trim();
    if base.is_empty() {
        return None;
    }
    Some(format!("{}/{path}", base.trim_end_matches('/')))
}

impl HttpSender {
    /// Prepares the HTTP client; fails on a malformed URL or header.
    pub(super) fn new(config: &OtlpHttpExporterConfig, id: &ComponentId) -> Result<Self, BuildError> {
        let invalid = |message: String| BuildError::Invalid {
            id: id.clone(),
            message,
        };
        let urls = [
            signal_url(&config.endpoint, config.traces_endpoint.as_ref(), "v1/traces"),
            signal_url(&config.endpoint, config.metrics_endpoint.as_ref(), "v1/metrics"),
            signal_url(&config.endpoint, config.logs_endpoint.as_ref(), "v1/logs"),
        ];
        for url in urls.iter().flatten() {
            reqwest::Url::parse(url).map_err(|e| invalid(format!("{url:?} is not a valid URL: {e}")))?;
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                invalid(format!(
                    "headers.{name}: the name is not a valid HTTP header name"
                ))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                invalid(format!(
                    "headers.{name}: the value is not a valid HTTP header value"
                ))
            })?;
            headers.append(header, value);
        }
        let mut builder =
            reqwest::Client::builder().user_agent(concat!("burnwatch/", env!("CARGO_PKG_VERSION")));
        if !config.timeout.0.is_zero() {
            // Covers connecting, sending and reading the response body.
            builder = builder.timeout(config.timeout.0);
        }
        // otelcol's confighttp: the URL's scheme decides; an https:// URL uses `tls` (the
        // system roots when no CA is given).
        if let Some(tls) = config
            .tls_client(&format!("exporters.{id}"))
            .map_err(|err| invalid(err.to_string()))?
        {
            builder = builder.use_preconfigured_tls((*tls.config).clone());
        }
        let client = builder
            .build()
            .map_err(|e| invalid(format!("cannot create the HTTP client: {e}")))?;
        Ok(HttpSender {
            client,
            urls,
            encoding: config.encoding,
            compression: config.compression,
            headers,
        })
    }

    fn url(&self, signal: Signal) -> Result<&str, SendError> {
        self.urls[signal_index(signal)].as_deref().ok_or_else(|| {
            SendError::permanent(format!(
                "no URL for {signal}: set endpoint or {signal}_endpoint in the otlphttp exporter"
            ))
        })
    }
}

/// Encodes a request as the configured body format. Raw traces and logs are their own
/// protobuf body; OTLP/JSON needs them decoded.
fn encode(data: &Telemetry, encoding: HttpEncoding) -> Result<Bytes, SendError> {
    match encoding {
        HttpEncoding::Proto => Ok(match data {
            Telemetry::Traces(p) => p.encode(),
            Telemetry::Metrics(r) => Bytes::from(r.encode_to_vec()),
            Telemetry::Logs(p) => p.encode(),
        }),
        HttpEncoding::Json => {
            let undecodable = |e: crate::pdata::PayloadError| SendError::permanent(e.to_string());
            match data {
                Telemetry::Traces(p) => serde_json::to_vec(&*p.decoded().map_err(undecodable)?),
                Telemetry::Metrics(r) => serde_json::to_vec(r),
                Telemetry::Logs(p) => serde_json::to_vec(&*p.decoded().map_err(undecodable)?),
            }
            .map(Bytes::from)
            .map_err(|e| SendError::permanent(format!("cannot encode the request as OTLP/JSON: {e}")))
        }
    }
}

/// Compresses a body, returning the `Content-Encoding` to announce.
fn compress(body: Bytes, compression: Compression) -> Result<(Bytes, Option<&'static str>), SendError> {
    let failed = |e: std::io::Error| SendError::permanent(format!("cannot compress the request body: {e}"));
    match compression {
        Compression::None => Ok((body, None)),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::default(),
            );
            encoder.write_all(&body).map_err(failed)?;
            Ok((Bytes::from(encoder.finish().map_err(failed)?), Some("gzip")))
        }
        Compression::Zstd => Ok((
            Bytes::from(zstd::bulk::compress(&body, 0).map_err(failed)?),
            Some("zstd"),
        )),
    }
}

/// Parses `Retry-After`: a number of seconds or an HTTP date (RFC 9110 §10.2.3). A date in
/// the past means "now".
pub(super) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Reads at most `limit` bytes of a response body.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}

/// How a response body is encoded, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Proto,
    /// Text or HTML from a proxy, or anything else: shown, never decoded.
    Other,
}

impl BodyKind {
    /// With no `Content-Type`, the server is assumed to answer in the encoding it was sent
    /// (OTLP spec: the response uses the request's Content-Type).
    fn of(content_type: &str, sent: HttpEncoding) -> Self {
        let content_type = content_type.to_ascii_lowercase();
        if content_type.is_empty() {
            match sent {
                HttpEncoding::Json => BodyKind::Json,
                HttpEncoding::Proto => BodyKind::Proto,
            }
        } else if content_type.contains("json") {
            BodyKind::Json
        } else if content_type.contains("protobuf") {
            BodyKind::Proto
        } else {
            BodyKind::Other
        }
    }
}

/// Reads a `partial_success` from a 2xx body (OTLP spec, "Partial Success"). An empty or
/// undecodable body is a full success: the server accepted the request.
fn partial_success(signal: Signal, kind: BodyKind, body: &[u8]) -> Option<SendOutcome> {
    if body.is_empty() || kind == BodyKind::Other {
        return None;
    }
    if kind == BodyKind::Json {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let partial = value
            .get("partialSuccess")
            .or_else(|| value.get("partial_success"))?;
        let (camel, snake) = match signal {
            Signal::Traces => ("rejectedSpans", "rejected_spans"),
            Signal::Metrics => ("rejectedDataPoints", "rejected_data_points"),
            Signal::Logs => ("rejectedLogRecords", "rejected_log_records"),
        };
        // OTLP/JSON writes 64-bit integers as strings, but numbers are accepted too.
        let rejected = partial
            .get(camel)
            .or_else(|| partial.get(snake))
            .and_then(|v| match v {
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) => s.parse().ok(),
                _ => None,
            });
        let message = partial
            .get("errorMessage")
            .or_else(|| partial.get("error_message"))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        return Some(SendOutcome::partial(rejected.unwrap_or(0), message.to_string()));
    }
    match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| SendOutcome::partial(p.rejected_spans, p.error_message)),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| SendOutcome::partial(p.rejected_data_points, p.error_message)),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| SendOutcome::partial(p.rejected_log_records, p.error_message)),
    }
}

/// The server's explanation in an error body: a `google.rpc.Status` (OTLP spec,
/// "Failures"), or the first part of whatever text it sent.
fn error_detail(kind: BodyKind, body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let status_message = match kind {
        BodyKind::Json => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string)),
        BodyKind::Proto => tonic_types::pb::Status::decode(body).ok().map(|s| s.message),
        BodyKind::Other => None,
    };
    let text = match status_message.filter(|m| !m.is_empty()) {
        Some(message) => message,
        // An undecodable protobuf body is binary: say how long it was, not what it held.
        None if kind == BodyKind::Proto => format!("({} bytes of undecodable protobuf)", body.len()),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    let text = text.trim();
    const MAX_CHARS: usize = 300;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!(": {}…", &text[..cut]),
        None if text.is_empty() => String::new(),
        None => format!(": {text}"),
    }
}

/// The error text of a failed request, with the causes reqwest keeps in its source chain
/// (the DNS failure behind "error sending request").
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl RequestSender for HttpSender {
    async fn send(&self, data: &Telemetry) -> Result<SendOutcome, SendError> {
        let signal = data.signal();
        let url = self.url(signal)?;
        let (body, content_encoding) = compress(encode(data, self.encoding)?, self.compression)?;
        let content_type = match self.encoding {
            HttpEncoding::Proto => "application/x-protobuf",
            HttpEncoding::Json => "application/json",
        };
        let mut request = self
            .client
            .post(url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, content_type)
            .body(body);
        if let Some(encoding) = content_encoding {
            request = request.header(CONTENT_ENCODING, encoding);
        }
        // A request that never got a response (refused connection, DNS failure, timeout)
        // is retryable: the OTLP spec treats it like 503.
        let response = request
            .send()
            .await
            .map_err(|e| SendError::retryable(format!("POST {url} failed: {}", error_chain(&e))))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let kind = BodyKind::of(
            response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
            self.encoding,
        );
        let body = read_limited(response, MAX_RESPONSE_BYTES).await;
        if status.is_success() {
            return Ok(match body {
                Ok(body) => partial_success(signal, kind, &body).unwrap_or_default(),
                Err(err) => {
                    // The server accepted the request; only its details were lost.
                    tracing::debug!(url, error = %err, "Could not read the body of a successful export response.");
                    SendOutcome::default()
                }
            });
        }
        let detail = body.map(|b| error_detail(kind, &b)).unwrap_or_default();
        let message = format!("POST {url} answered HTTP {status}{detail}");
        // OTLP spec, "Retryable Response Codes": 429, 502, 503 and 504.
        if matches!(status.as_u16(), 429 | 502 | 503 | 504) {
            Err(SendError::Retryable { message, retry_after })
        } else {
            Err(SendError::permanent(message))
        }
    }

    fn destination(&self, signal: Signal) -> String {
        self.urls[signal_index(signal)]
            .clone()
            .unwrap_or_else(|| "(no URL configured)".to_string())
    }
}

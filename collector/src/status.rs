//! The one place that maps failures to gRPC status codes and HTTP responses.
//!
//! Every way an OTLP export can fail on the receiving side — a pipeline refusing data
//! ([`ConsumeError`]), a body that cannot be read, decompressed or decoded, a request the
//! server does not serve — is a [`ReceiveError`]. Both front-ends ask it for their answer:
//! the tonic service calls [`ReceiveError::to_grpc`], the axum router calls
//! [`ReceiveError::to_http`]. The table follows the OTLP specification
//! (<https://opentelemetry.io/docs/specs/otlp/#failures>, `#otlphttp-throttling`,
//! `#bad-data`) and the OTel Collector's `otlpreceiver`:
//!
//! | error                    | HTTP | gRPC                 | retryable             |
//! |--------------------------|------|----------------------|-----------------------|
//! | `Consume(Refused)`       | 429 + `Retry-After` | `RESOURCE_EXHAUSTED` + `RetryInfo` | yes, after the delay |
//! | `Consume(Unavailable)`   | 503  | `UNAVAILABLE`        | yes                   |
//! | `Consume(Permanent)`     | 400  | `INVALID_ARGUMENT`   | no                    |
//! | `Decode`, `BadEncoding`, `UnsupportedEncoding`, `ReadBody` | 400 | `INVALID_ARGUMENT` | no |
//! | `TooLarge`               | 413  | `RESOURCE_EXHAUSTED` (no `RetryInfo`) | no     |
//! | `UnsupportedMediaType`   | 415  | `INVALID_ARGUMENT`   | no                    |
//! | `MethodNotAllowed`       | 405 + `Allow: POST` | `UNIMPLEMENTED` | no          |
//! | `NotFound`, `NoPipeline` | 404  | `UNIMPLEMENTED`      | no                    |
//!
//! A signal whose pipeline does not list the receiver is not served at all, as in the
//! OTel Collector (which registers neither the gRPC service nor the HTTP path): gRPC
//! clients get `UNIMPLEMENTED`, HTTP clients a plain 404.
//!
//! HTTP error bodies are a `google.rpc.Status` message in the request's encoding
//! (binary protobuf or the proto3 JSON mapping), as the OTLP/HTTP spec requires for
//! every 4xx/5xx response. The exceptions are 404, 405 and 415, which are answered
//! before the request's encoding is known (or when it is not one OTLP defines), so
//! they carry a `text/plain` message as the OTel Collector's do.

use std::time::Duration;

use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use tonic::Code;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::consumer::{ConsumeError, Signal};

/// The encodings an OTLP/HTTP body can use; responses use the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/x-protobuf`: binary protobuf.
    Protobuf,
    /// `application/json`: the OTLP/JSON mapping of protobuf.
    Json,
}

impl BodyFormat {
    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyFormat::Protobuf => "application/x-protobuf",
            BodyFormat::Json => "application/json",
        }
    }

    /// A short name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            BodyFormat::Protobuf => "protobuf",
            BodyFormat::Json => "JSON",
        }
    }
}

/// Where a body was found to exceed the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeStage {
    /// As sent, before decompression.
    Wire,
    /// After decompression (a small compressed body that inflates past the limit).
    Decompressed,
}

impl std::fmt::Display for SizeStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SizeStage::Wire => "as sent",
            SizeStage::Decompressed => "after decompression",
        })
    }
}

/// Why an OTLP export request was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReceiveError {
    /// The pipeline did not take the data.
    #[error(transparent)]
    Consume(#[from] ConsumeError),
    /// The body is not a valid message in its declared format.
    #[error("cannot decode the {} request body: {reason}", format.name())]
    Decode {
        /// The declared format.
        format: BodyFormat,
        /// Where in the message and why, as the decoder reported it.
        reason: String,
        /// The field path the decoder stopped at (JSON), if known.
        field: Option<String>,
    },
    /// The body is larger than the configured limit.
    #[error("request body exceeds the limit of {limit} bytes {stage}")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
        /// Whether the compressed or the decompressed size was over.
        stage: SizeStage,
    },
    /// The `Content-Type` is not one OTLP/HTTP defines.
    #[error("unsupported media type {content_type:?}; supported: [application/json, application/x-protobuf]")]
    UnsupportedMediaType {
        /// The request's `Content-Type` (empty when absent).
        content_type: String,
    },
    /// The `Content-Encoding` is not one the receiver can decompress.
    #[error("unsupported Content-Encoding {encoding:?}; supported: gzip, zstd, deflate, identity")]
    UnsupportedEncoding {
        /// The request's `Content-Encoding`.
        encoding: String,
    },
    /// The body is not valid data in its declared `Content-Encoding` (a corrupt gzip
    /// stream).
    #[error("request body is not valid {encoding} data: {reason}")]
    BadEncoding {
        /// The declared content coding.
        encoding: &'static str,
        /// The decompressor's error.
        reason: String,
    },
    /// The body could not be read from the connection.
    #[error("cannot read the request body: {0}")]
    ReadBody(String),
    /// An HTTP method other than POST.
    #[error("{method} method not allowed, supported: [POST]")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
    },
    /// The request carries no valid credentials for the receiver's authenticator.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// A URL path the receiver does not serve.
    #[error("404 page not found: {path}")]
    NotFound {
        /// The request's path.
        path: String,
    },
    /// The receiver is not part of any pipeline of this signal.
    #[error("the receiver is not in any {signal} pipeline")]
    NoPipeline {
        /// The signal the request carried.
        signal: Signal,
    },
}

impl ReceiveError {
    /// The HTTP status code for this error.
    pub fn http_status(&self) -> StatusCode {
        match self {
            ReceiveError::Consume(ConsumeError::Refused { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ReceiveError::Consume(ConsumeError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ReceiveError::Consume(ConsumeError::Permanent(_)) => StatusCode::BAD_REQUEST,
            ReceiveError::Decode { .. }
            | ReceiveError::UnsupportedEncoding { .. }
            | ReceiveError::BadEncoding { .. }
            | ReceiveError::ReadBody(_) => StatusCode::BAD_REQUEST,
            ReceiveError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ReceiveError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ReceiveError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ReceiveError::NotFound { .. } | ReceiveError::NoPipeline { .. } => StatusCode::NOT_FOUND,
            ReceiveError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        }
    }

    /// The gRPC status code for this error (also the `code` of HTTP error bodies).
    pub fn grpc_code(&self) -> Code {
        match self {
            ReceiveError::Consume(ConsumeError::Refused { .. }) => Code::ResourceExhausted,
            ReceiveError::Consume(ConsumeError::Unavailable(_)) => Code::Unavailable,
            ReceiveError::Consume(ConsumeError::Permanent(_)) => Code::InvalidArgument,
            ReceiveError::Decode { .. }
            | ReceiveError::UnsupportedEncoding { .. }
            | ReceiveError::BadEncoding { .. }
            | ReceiveError::ReadBody(_)
            | ReceiveError::UnsupportedMediaType { .. } => Code::InvalidArgument,
            // grpc-go answers an over-size message with RESOURCE_EXHAUSTED; without a
            // RetryInfo detail OTLP clients treat it as not retryable (spec, "Failures").
            ReceiveError::TooLarge { .. } => Code::ResourceExhausted,
            ReceiveError::MethodNotAllowed { .. }
            | ReceiveError::NotFound { .. }
            | ReceiveError::NoPipeline { .. } => Code::Unimplemented,
            ReceiveError::Unauthenticated(_) => Code::Unauthenticated,
        }
    }

    /// How long the client should wait before retrying, when the server asks for a
    /// delay (only for data refused under memory pressure).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ReceiveError::Consume(ConsumeError::Refused { retry_after, .. }) => Some(*retry_after),
            _ => None,
        }
    }

    /// The `google.rpc` error details: `RetryInfo` for refused data (OTLP spec,
    /// "OTLP/gRPC Throttling"), `BadRequest` for undecodable bodies ("Bad Data").
    fn details(&self) -> ErrorDetails {
        match self {
            ReceiveError::Consume(ConsumeError::Refused { retry_after, .. }) => {
                ErrorDetails::with_retry_info(Some(*retry_after))
            }
            ReceiveError::Decode { reason, field, .. } => {
                ErrorDetails::with_bad_request(vec![FieldViolation::new(
                    field.clone().unwrap_or_default(),
                    reason.clone(),
                )])
            }
            _ => ErrorDetails::new(),
        }
    }

    /// The gRPC status, with `RetryInfo` or `BadRequest` details where they apply.
    pub fn to_grpc(&self) -> tonic::Status {
        tonic::Status::with_error_details(self.grpc_code(), self.to_string(), self.details())
    }

    /// The HTTP response: status code, `Retry-After` (whole seconds, rounded up so the
    /// client never retries early) or `Allow`, and a body. `format` is the request's
    /// body encoding when it is known and supported; the body is then a
    /// `google.rpc.Status` in that encoding, else plain text.
    pub fn to_http(&self, format: Option<BodyFormat>) -> http::Response<Vec<u8>> {
        let plain_text = matches!(
            self,
            ReceiveError::MethodNotAllowed { .. }
                | ReceiveError::NotFound { .. }
                | ReceiveError::NoPipeline { .. }
                | ReceiveError::UnsupportedMediaType { .. }
                | ReceiveError::Unauthenticated(_)
        );
        let (content_type, body) = match format {
            Some(format) if !plain_text => (format.content_type(), self.status_body(format)),
            _ => ("text/plain; charset=utf-8", format!("{}\n", self).into_bytes()),
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = self.http_status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(delay) = self.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds(delay)));
        }
        if let ReceiveError::MethodNotAllowed { .. } = self {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }

    /// The `google.rpc.Status` message for this error, encoded in `format`.
    pub fn status_body(&self, format: BodyFormat) -> Vec<u8> {
        match format {
            // StatusExt encodes exactly this message (code, message, Any details) as the
            // gRPC `grpc-status-details-bin` payload; OTLP/HTTP sends the same bytes.
            BodyFormat::Protobuf => self.to_grpc().details().to_vec(),
            BodyFormat::Json => self.status_json().to_string().into_bytes(),
        }
    }

    /// The proto3 JSON mapping of the `google.rpc.Status`: `Any` details carry their
    /// `@type` inline and a `Duration` is a decimal string of seconds ending in `s`.
    fn status_json(&self) -> serde_json::Value {
        let mut details = Vec::new();
        match self {
            ReceiveError::Consume(ConsumeError::Refused { retry_after, .. }) => {
                details.push(serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": json_duration(*retry_after),
                }));
            }
            ReceiveError::Decode { reason, field, .. } => {
                details.push(serde_json::json!({
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{
                        "field": field.clone().unwrap_or_default(),
                        "description": reason,
                    }],
                }));
            }
            _ => {}
        }
        let mut status = serde_json::json!({
            "code": self.grpc_code() as i32,
            "message": self.to_string(),
        });
        if !details.is_empty() {
            status["details"] = serde_json::Value::Array(details);
        }
        status
    }
}

/// `Retry-After` takes whole seconds (RFC 9110 §10.2.3); round up so a client honouring
/// it never comes back before the collector asked.
fn retry_after_seconds(delay: Duration) -> u64 {
    delay.as_secs() + u64::from(delay.subsec_nanos() > 0)
}

/// A `google.protobuf.Duration` in the proto3 JSON mapping: `"1.500s"`, `"5s"`.
fn json_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{}s", d.as_secs())
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}.{:03}s", d.as_secs(), nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}.{:06}s", d.as_secs(), nanos / 1_000)
    } else {
        format!("{}.{:09}s", d.as_secs(), nanos)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn refused_maps_to_429_with_rounded_up_retry_after_and_retry_info() {
        let err = ReceiveError::from(ConsumeError::Refused {
            reason: "memory limit".into(),
            retry_after: Duration::from_millis(1500),
        });
        let response = err.to_http(Some(BodyFormat::Protobuf));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        let status = tonic_types::pb::Status::decode(response.body().as_slice()).unwrap();
        assert_eq!(status.code, Code::ResourceExhausted as i32);
        assert!(status.message.contains("memory limit"), "{}", status.message);
        assert_eq!(status.details.len(), 1);
        assert_eq!(
            status.details[0].type_url,
            "type.googleapis.com/google.rpc.RetryInfo"
        );
        let info = tonic_types::pb::RetryInfo::decode(status.details[0].value.as_slice()).unwrap();
        let delay = info.retry_delay.unwrap();
        assert_eq!((delay.seconds, delay.nanos), (1, 500_000_000));

        let grpc = err.to_grpc();
        assert_eq!(grpc.code(), Code::ResourceExhausted);
        assert_eq!(
            grpc.get_details_retry_info().unwrap().retry_delay,
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn refused_json_body_uses_proto3_json_for_any_and_duration() {
        let err = ReceiveError::from(ConsumeError::Refused {
            reason: "memory limit".into(),
            retry_after: Duration::from_secs(5),
        });
        let body: serde_json::Value = serde_json::from_slice(&err.status_body(BodyFormat::Json)).unwrap();
        assert_eq!(body["code"], 8);
        assert_eq!(
            body["details"][0]["@type"],
            "type.googleapis.com/google.rpc.RetryInfo"
        );
        assert_eq!(body["details"][0]["retryDelay"], "5s");
    }

    #[test]
    fn every_error_has_the_documented_codes() {
        let cases: Vec<(ReceiveError, u16, Code)> = vec![
            (
                ConsumeError::Unavailable("queue full".into()).into(),
                503,
                Code::Unavailable,
            ),
            (
                ConsumeError::Permanent("bad".into()).into(),
                400,
                Code::InvalidArgument,
            ),
            (
                ReceiveError::Decode {
                    format: BodyFormat::Json,
                    reason: "x".into(),
                    field: None,
                },
                400,
                Code::InvalidArgument,
            ),
            (
                ReceiveError::TooLarge {
                    limit: 1,
                    stage: SizeStage::Wire,
                },
                413,
                Code::ResourceExhausted,
            ),
            (
                ReceiveError::UnsupportedMediaType {
                    content_type: "text/xml".into(),
                },
                415,
                Code::InvalidArgument,
            ),
            (
                ReceiveError::UnsupportedEncoding {
                    encoding: "br".into(),
                },
                400,
                Code::InvalidArgument,
            ),
            (
                ReceiveError::MethodNotAllowed { method: "GET".into() },
                405,
                Code::Unimplemented,
            ),
            (
                ReceiveError::NoPipeline { signal: Signal::Logs },
                404,
                Code::Unimplemented,
            ),
        ];
        for (err, http, grpc) in cases {
            assert_eq!(err.http_status().as_u16(), http, "{err}");
            assert_eq!(err.to_grpc().code(), grpc, "{err}");
            assert!(err.retry_after().is_none());
            assert!(
                err.to_http(Some(BodyFormat::Json))
                    .headers()
                    .get(RETRY_AFTER)
                    .is_none()
            );
        }
    }

    #[test]
    fn json_durations_use_3_6_or_9_fraction_digits() {
        assert_eq!(json_duration(Duration::from_secs(3)), "3s");
        assert_eq!(json_duration(Duration::from_millis(250)), "0.250s");
        assert_eq!(json_duration(Duration::from_micros(1_000_001)), "1.000001s");
        assert_eq!(json_duration(Duration::from_nanos(7)), "0.000000007s");
    }
}

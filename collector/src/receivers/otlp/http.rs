//! OTLP/HTTP front-end: an axum router over [`ReceiverCore`].
//!
//! A request is checked in the order the OTel Collector checks it — method (405), media
//! type (415), content coding (400), size on the wire (413), size after decompression
//! (413), decoding (400) — then handed to the core; the answer of any failure comes from
//! [`crate::status`]. Paths are matched exactly, by the handler rather than by axum's
//! route table, so no configured path (braces, duplicates) can make router construction
//! panic.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::ReceiverCore;
use super::body::{self, ContentCoding};
use super::budget::{DecodeBudget, INLINE_DECODE_MAX};
use super::config::HttpServerConfig;
use crate::component::BuildContext;
use crate::consumer::{Signal, Telemetry};
use crate::status::{BodyFormat, ReceiveError, SizeStage};

/// How much more memory decoding takes than the body's bytes, as a budget weight: OTLP/
/// JSON becomes owned strings and vectors (and, on the exact path, a JSON value tree), a
/// few times its size; protobuf about its size.
const JSON_DECODE_WEIGHT: u64 = 2;

struct HttpState {
    core: ReceiverCore,
    /// Configured URL path of each signal, in the order traces, metrics, logs.
    paths: [(String, Signal); 3],
    max_body: u64,
    budget: DecodeBudget,
}

/// The OTLP/HTTP router: `POST` on the configured traces, metrics and logs paths. Built
/// without a socket, so tests can drive it with `tower::ServiceExt::oneshot`.
pub fn http_router(core: ReceiverCore, config: &HttpServerConfig) -> Router {
    let state = Arc::new(HttpState {
        core,
        paths: [
            (config.traces_url_path.clone(), Signal::Traces),
            (config.metrics_url_path.clone(), Signal::Metrics),
            (config.logs_url_path.clone(), Signal::Logs),
        ],
        max_body: config.max_request_body_size,
        budget: DecodeBudget::new(config.max_request_body_size),
    });
    Router::new().fallback(dispatch).with_state(state)
}

/// Serves `router` on `listener` until `ctx.shutdown` is cancelled, then lets in-flight
/// requests finish.
pub(super) fn serve(
    config: &HttpServerConfig,
    core: ReceiverCore,
    listener: TcpListener,
    ctx: &BuildContext,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> JoinHandle<()> {
    let router = http_router(core, config);
    let listener = super::idle::IdleListener::new(listener, config.inactivity_timeout());
    let shutdown = ctx.shutdown.clone();
    let id = ctx.id.clone();
    tokio::spawn(async move {
        let served = match tls {
            None => {
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            }
            Some(tls) => match super::tls::TlsListener::new(listener, tls, shutdown.clone()) {
                Ok(listener) => {
                    axum::serve(listener, router)
                        .with_graceful_shutdown(shutdown.cancelled_owned())
                        .await
                }
                Err(err) => Err(err),
            },
        };
        match served {
            Ok(()) => tracing::debug!(component = %id, "OTLP/HTTP server stopped."),
            Err(err) => tracing::error!(component = %id, error = %err, "OTLP/HTTP server failed."),
        }
    })
}

async fn dispatch(State(state): State<Arc<HttpState>>, request: Request) -> Response {
    // The authenticator guards every path, as otelcol's confighttp wraps the whole
    // handler: an unauthenticated client learns nothing, not even which paths exist.
    if let Err(err) = state.core.authenticate(request.headers()) {
        let mut response = err.to_http(None).map(Body::from);
        // RFC 9110 §11.6.1: a 401 names the scheme it wants.
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(state.core.auth_scheme()),
        );
        return response;
    }
    let path = request.uri().path();
    let signal = state
        .paths
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, signal)| *signal);
    let result = match signal {
        None => Err((
            ReceiveError::NotFound {
                path: path.to_string(),
            },
            None,
        )),
        Some(signal) if !state.core.serves(signal) => Err((ReceiveError::NoPipeline { signal }, None)),
        Some(signal) => export(&state, signal, request).await,
    };
    result.unwrap_or_else(|(err, format)| err.to_http(format).map(Body::from))
}

type Failure = (ReceiveError, Option<BodyFormat>);

async fn export(state: &HttpState, signal: Signal, request: Request) -> Result<Response, Failure> {
    if request.method() != Method::POST {
        return Err((
            ReceiveError::MethodNotAllowed {
                method: request.method().to_string(),
            },
            None,
        ));
    }
    let headers = request.headers();
    let content_type = header_text(headers.get(CONTENT_TYPE));
    let format = body::parse_content_type(&content_type).map_err(|err| (err, None))?;
    let fail = |err: ReceiveError| (err, Some(format));

    let encoding = header_text(headers.get(CONTENT_ENCODING));
    let coding = ContentCoding::parse(&encoding).ok_or_else(|| {
        fail(ReceiveError::UnsupportedEncoding {
            encoding: encoding.clone(),
        })
    })?;

    let limit = state.max_body;
    let too_large = ReceiveError::TooLarge {
        limit,
        stage: SizeStage::Wire,
    };
    // A declared length over the limit is refused before reading a byte of it.
    let declared = header_text(headers.get(CONTENT_LENGTH)).parse::<u64>().ok();
    if declared.is_some_and(|len| len > limit) {
        state.core.count_too_large();
        return Err(fail(too_large));
    }
    // Take a share of the decode budget before reading the body (see [`DecodeBudget`]).
    let small =
        coding == ContentCoding::Identity && declared.is_some_and(|len| len <= INLINE_DECODE_MAX as u64);
    let permit = if small {
        None
    } else {
        let bytes = match declared {
            Some(len) if coding == ContentCoding::Identity => len,
            _ => limit,
        };
        let weight = if format == BodyFormat::Json {
            JSON_DECODE_WEIGHT
        } else {
            1
        };
        state.budget.acquire(bytes.saturating_mul(weight)).await
    };
    // Chunked bodies carry no length: count while reading and stop at the limit.
    let wire_limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let wire = match Limited::new(request.into_body(), wire_limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            state.core.count_too_large();
            return Err(fail(too_large));
        }
        Err(err) => return Err(fail(ReceiveError::ReadBody(err.to_string()))),
    };

    // A compressed body may inflate up to the limit whatever its wire size, so only small
    // uncompressed bodies stay on the async worker.
    let data = if coding == ContentCoding::Identity && wire.len() <= INLINE_DECODE_MAX {
        decode_request(signal, format, coding, wire, limit)
    } else {
        tokio::task::spawn_blocking(move || decode_request(signal, format, coding, wire, limit))
            .await
            .map_err(|err| fail(ReceiveError::ReadBody(format!("decoding task failed: {err}"))))?
    }
    .map_err(|err| {
        if matches!(err, ReceiveError::TooLarge { .. }) {
            state.core.count_too_large();
        }
        fail(err)
    })?;
    // Decoded: the pipeline (and its memory_limiter) takes it from here.
    drop(permit);

    state.core.consume(data).await.map_err(fail)?;
    Ok(success(signal, format))
}

/// Decompresses (capped at `limit`) and decodes one export request (protobuf traces and
/// logs: validates it with the wire walker and keeps the bytes).
fn decode_request(
    signal: Signal,
    format: BodyFormat,
    coding: ContentCoding,
    wire: Bytes,
    limit: u64,
) -> Result<Telemetry, ReceiveError> {
    let raw = body::decompress(coding, wire, limit)?;
    Ok(match (signal, format) {
        // Protobuf traces and logs are walked, not decoded: they travel on as their bytes.
        (Signal::Traces, BodyFormat::Protobuf) => Telemetry::Traces(body::walk(raw)?),
        (Signal::Logs, BodyFormat::Protobuf) => Telemetry::Logs(body::walk(raw)?),
        (Signal::Traces, _) => {
            Telemetry::Traces(body::decode::<ExportTraceServiceRequest>(format, &raw)?.into())
        }
        (Signal::Logs, _) => Telemetry::Logs(body::decode::<ExportLogsServiceRequest>(format, &raw)?.into()),
        (Signal::Metrics, _) => Telemetry::Metrics(body::decode(format, &raw)?),
    })
}

/// `200 OK` with the signal's `Export*ServiceResponse` in the request's encoding, with
/// `partial_success` unset (OTLP spec, "Full Success").
fn success(signal: Signal, format: BodyFormat) -> Response {
    let body = match format {
        BodyFormat::Protobuf => match signal {
            Signal::Traces => ExportTraceServiceResponse::default().encode_to_vec(),
            Signal::Metrics => ExportMetricsServiceResponse::default().encode_to_vec(),
            Signal::Logs => ExportLogsServiceResponse::default().encode_to_vec(),
        },
        // The derived Serialize writes an unset `partialSuccess` as `null`; the
        // proto3 JSON of a message with no field set is the empty object.
        BodyFormat::Json => b"{}".to_vec(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    response
}

/// A header's value as text; absent or non-ASCII values read as empty or lossy text,
/// which the parsers then reject with the value in the message.
fn header_text(value: Option<&HeaderValue>) -> String {
    value
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

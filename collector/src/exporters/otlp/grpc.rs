//! `exporters: otlp`: one attempt to deliver a request over OTLP/gRPC.
//!
//! The channel connects lazily, so an endpoint that does not resolve or listen yet (a
//! `jaeger-collector:4317` that starts after burnwatch) does not fail start-up: each
//! attempt reconnects, and failures go through the retry sender like any other.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Buf as _, BufMut as _, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{
    AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey, BinaryMetadataValue, MetadataMap,
};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::config::OtlpExporterConfig;
use crate::component::BuildError;
use crate::config::ComponentId;
use crate::config::tls_client::TlsClient;
use crate::consumer::{Signal, Telemetry};
use crate::exporters::helper::Compression;
use crate::exporters::queue::{RequestSender, SendError, SendOutcome};

/// Sends OTLP export requests to one gRPC endpoint.
pub(super) struct GrpcSender {
    channel: Channel,
    encoding: Option<CompressionEncoding>,
    metadata: MetadataMap,
    timeout: Duration,
    endpoint: String,
}

/// The URI tonic needs from the OTel Collector's endpoint forms: `host:port`,
/// `http://host:port`, or gRPC's `dns:///host:port` target syntax.
pub(super) fn endpoint_uri(endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    let endpoint = endpoint.strip_prefix("dns:///").unwrap_or(endpoint);
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    }
}

impl GrpcSender {
    /// Prepares the (lazy) channel and clients; fails only on a malformed endpoint or
    /// header, never because the endpoint is unreachable.
    pub(super) fn new(config: &OtlpExporterConfig, id: &ComponentId) -> Result<Self, BuildError> {
        let invalid = |message: String| BuildError::Invalid {
            id: id.clone(),
            message,
        };
        let uri = endpoint_uri(&config.endpoint);
        let timeout = config.timeout.0;
        // TLS is done by our connector; tonic is handed the plain scheme so that it does not
        // look for TLS of its own (the h2 `:scheme` says http, which gRPC servers ignore).
        let dial = match uri.strip_prefix("https://") {
            Some(rest) => format!("http://{rest}"),
            None => uri.clone(),
        };
        let endpoint = Endpoint::from_shared(dial)
            .map_err(|e| invalid(format!("endpoint {:?} is not a valid URI: {e}", config.endpoint)))?
            .user_agent(concat!("burnwatch/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| invalid(format!("cannot set the user agent: {e}")))?
            .tcp_nodelay(true);
        // A zero timeout would fail every connection attempt at once.
        let endpoint = if timeout.is_zero() {
            endpoint
        } else {
            endpoint.connect_timeout(timeout)
        };
        let channel = match tls_client(config, id)? {
            None => endpoint.connect_lazy(),
            Some(tls) => endpoint.connect_with_connector_lazy(TlsConnector {
                tls: Arc::new(tls),
                default_port: 443,
            }),
        };
        let encoding = match config.compression {
            Compression::Gzip => Some(CompressionEncoding::Gzip),
            Compression::None => None,
            Compression::Zstd => {
                return Err(invalid(
                    "compression zstd is not supported for OTLP/gRPC; use gzip or none".into(),
                ));
            }
        };
        Ok(GrpcSender {
            channel,
            encoding,
            metadata: metadata_from_headers(config, id)?,
            timeout,
            endpoint: uri,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        if !self.timeout.is_zero() {
            // Sends `grpc-timeout`, so the server can stop working on an abandoned request.
            request.set_timeout(self.timeout);
        }
        request
    }

    /// Awaits one call within the request timeout and classifies its failure.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, SendError> {
        let outcome = if self.timeout.is_zero() {
            Ok(call.await)
        } else {
            tokio::time::timeout(self.timeout, call).await
        };
        match outcome {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(classify(&status)),
            Err(_) => Err(SendError::retryable(format!(
                "DEADLINE_EXCEEDED: no response within the {:?} timeout",
                self.timeout
            ))),
        }
    }
}

/// [`OtlpExporterConfig::tls_client`] as a build error.
fn tls_client(config: &OtlpExporterConfig, id: &ComponentId) -> Result<Option<TlsClient>, BuildError> {
    config
        .tls_client(&format!("exporters.{id}"))
        .map_err(|err| BuildError::Invalid {
            id: id.clone(),
            message: err.to_string(),
        })
}

/// Opens TCP connections and runs the TLS handshake on them, for tonic's channel.
#[derive(Clone)]
struct TlsConnector {
    tls: Arc<TlsClient>,
    /// The port when the endpoint names none.
    default_port: u16,
}

impl tower::Service<http::Uri> for TlsConnector {
    type Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = Arc::clone(&self.tls);
        let port = uri.port_u16().unwrap_or(self.default_port);
        let host = uri.host().unwrap_or_default().to_string();
        Box::pin(async move {
            let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
            let name = tls
                .server_name_for(&host)
                .map_err(|err| invalid(format!("{host:?} is not a valid TLS server name: {err}")))?;
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let tcp = tokio::net::TcpStream::connect((bare, port)).await?;
            tcp.set_nodelay(true)?;
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(&tls.config))
                .connect(name, tcp)
                .await
                .map_err(|err| {
                    // rustls's error names the certificate problem (UnknownIssuer,
                    // NotValidForName, Expired); keep it in the message tonic reports.
                    std::io::Error::new(
                        err.kind(),
                        format!("TLS handshake with {host}:{port} failed: {err}"),
                    )
                })?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}

/// Turns `headers:` into gRPC metadata. Names ending in `-bin` are binary metadata,
/// as gRPC defines them; the value's bytes are sent as they are.
fn metadata_from_headers(config: &OtlpExporterConfig, id: &ComponentId) -> Result<MetadataMap, BuildError> {
    let mut metadata = MetadataMap::new();
    for (name, value) in &config.headers {
        let lower = name.to_ascii_lowercase();
        let bad = |what: &str| BuildError::Invalid {
            id: id.clone(),
            message: format!("headers.{name}: {what} is not valid gRPC metadata"),
        };
        if lower.ends_with("-bin") {
            let key = BinaryMetadataKey::from_bytes(lower.as_bytes()).map_err(|_| bad("the name"))?;
            metadata.append_bin(key, BinaryMetadataValue::from_bytes(value.as_bytes()));
        } else {
            let key = AsciiMetadataKey::from_bytes(lower.as_bytes()).map_err(|_| bad("the name"))?;
            let value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| bad("the value"))?;
            metadata.append(key, value);
        }
    }
    Ok(metadata)
}

/// Classifies a gRPC status by the OTLP specification's rules ("OTLP/gRPC Response",
/// "Failures"): the listed transient codes are retryable, honouring a `RetryInfo` delay;
/// `RESOURCE_EXHAUSTED` is retryable only when the server sends a `RetryInfo` (otherwise
/// the limit it hit will not go away); every other code is permanent.
pub(super) fn classify(status: &Status) -> SendError {
    // A status tonic made from a local error (the connection failed or broke) carries it as
    // its source and says UNKNOWN "transport error"; grpc-go reports such failures as
    // UNAVAILABLE, which is retryable. The causes (a TLS alert, a reset) go in the message.
    let causes = error_chain(std::error::Error::source(status));
    let code = match status.code() {
        Code::Unknown if !causes.is_empty() => Code::Unavailable,
        code => code,
    };
    let mut message = if status.message().is_empty() {
        format!("{code:?}")
    } else {
        format!("{code:?}: {}", status.message())
    };
    for cause in causes {
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    let retry_info = status.get_details_retry_info();
    match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => SendError::Retryable {
            message,
            retry_after: retry_info.and_then(|info| info.retry_delay),
        },
        Code::ResourceExhausted => match retry_info {
            Some(info) => SendError::Retryable {
                message,
                retry_after: info.retry_delay,
            },
            None => SendError::permanent(format!("{message} (no RetryInfo, so not retried)")),
        },
        _ => SendError::permanent(message),
    }
}

/// The messages of `error` and its sources, outermost first.
fn error_chain(mut error: Option<&(dyn std::error::Error + 'static)>) -> Vec<String> {
    let mut chain = Vec::new();
    while let Some(err) = error {
        chain.push(err.to_string());
        error = err.source();
    }
    chain
}

impl GrpcSender {
    /// One unary OTLP call with a body already encoded as protobuf, in parts whose
    /// concatenation is the message.
    async fn unary<R: prost::Message + Default + Send + 'static>(
        &self,
        path: &'static str,
        body: Vec<Bytes>,
    ) -> Result<R, SendError> {
        let path = http::uri::PathAndQuery::from_static(path);
        if let Some(encoding) = self.encoding {
            // Compression needs the message in one buffer anyway: tonic's encoder.
            let mut grpc = tonic::client::Grpc::new(self.channel.clone())
                .send_compressed(encoding)
                .accept_compressed(encoding);
            ready(&mut grpc).await?;
            return self
                .call(grpc.unary(self.request(body), path, EncodedCodec::<R>(PhantomData)))
                .await;
        }
        let len = body.iter().map(Bytes::len).sum::<usize>();
        let Ok(len) = u32::try_from(len) else {
            return Err(SendError::permanent(format!(
                "a request of {len} bytes is over gRPC's 4 GiB message limit"
            )));
        };
        let mut grpc = tonic::client::Grpc::new(PartsChannel(self.channel.clone()));
        ready(&mut grpc).await?;
        let mut request = self.request(());
        request.extensions_mut().insert(Parts { len, parts: body });
        self.call(grpc.unary(request, path, PartsCodec::<R>(PhantomData)))
            .await
    }
}

async fn ready<T>(grpc: &mut tonic::client::Grpc<T>) -> Result<(), SendError>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
{
    grpc.ready()
        .await
        .map_err(|err| SendError::retryable(format!("UNAVAILABLE: cannot connect: {}", err.into())))
}

/// A message already encoded, in parts: sent as the request body by [`PartsChannel`].
#[derive(Clone)]
struct Parts {
    len: u32,
    parts: Vec<Bytes>,
}

/// The channel, letting a request that carries [`Parts`] send them as its body: the
/// gRPC length prefix, then each part as it is. tonic's client encodes every message
/// into its own buffer, which for a batch of raw requests was a copy of every byte
/// (and fresh pages for each batch); h2 writes the parts to the socket as they are.
/// Everything else (headers, metadata, the deadline, reading the response and its
/// status) stays tonic's: the request tonic prepared carries an empty message, whose
/// body is replaced here.
#[derive(Clone)]
struct PartsChannel(Channel);

impl tower::Service<http::Request<tonic::body::Body>> for PartsChannel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = tonic::transport::channel::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        if let Some(Parts { len, parts }) = request.extensions_mut().remove::<Parts>() {
            // gRPC's length-prefixed message: not compressed (0), length, message.
            let mut prefix = [0u8; 5];
            prefix[1..].copy_from_slice(&len.to_be_bytes());
            let frames = std::iter::once(Bytes::copy_from_slice(&prefix))
                .chain(parts)
                .map(|data| Ok::<_, Infallible>(hyper::body::Frame::data(data)));
            *request.body_mut() =
                tonic::body::Body::new(http_body_util::StreamBody::new(futures::stream::iter(frames)));
        }
        self.0.call(request)
    }
}

/// The codec of calls through [`PartsChannel`]: the message tonic encodes is empty (the
/// channel sends the parts instead), and responses decode as `R`.
struct PartsCodec<R>(PhantomData<R>);

impl<R: prost::Message + Default + Send + 'static> Codec for PartsCodec<R> {
    type Encode = ();
    type Decode = R;
    type Encoder = EmptyEncoder;
    type Decoder = MessageDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        EmptyEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        MessageDecoder(PhantomData)
    }
}

struct EmptyEncoder;

impl Encoder for EmptyEncoder {
    type Item = ();
    type Error = Status;

    fn encode(&mut self, (): (), _dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

/// A gRPC codec whose requests are protobuf bytes encoded by the caller and whose
/// responses decode as `R`, for compressed calls. The generated clients take the request
/// message by value, so each attempt used to clone the whole request (a deep copy of
/// every span); encoding from a borrow avoids that copy.
struct EncodedCodec<R>(PhantomData<R>);

impl<R: prost::Message + Default + Send + 'static> Codec for EncodedCodec<R> {
    type Encode = Vec<Bytes>;
    type Decode = R;
    type Encoder = BytesEncoder;
    type Decoder = MessageDecoder<R>;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        MessageDecoder(PhantomData)
    }
}

/// Writes pre-encoded parts one after the other as the gRPC message, for tonic to
/// compress.
struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Vec<Bytes>;
    type Error = Status;

    fn encode(&mut self, item: Vec<Bytes>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // One allocation for the whole message rather than a doubling per part.
        dst.reserve(item.iter().map(Bytes::len).sum());
        for part in &item {
            dst.put_slice(part);
        }
        Ok(())
    }
}

/// Decodes the response message.
struct MessageDecoder<R>(PhantomData<R>);

impl<R: prost::Message + Default + Send + 'static> Decoder for MessageDecoder<R> {
    type Item = R;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        let message = R::decode(&mut *src)
            .map_err(|e| Status::internal(format!("cannot decode the export response: {e}")))?;
        // Whatever the decoder left is not part of the message.
        let rest = src.remaining();
        src.advance(rest);
        Ok(Some(message))
    }
}

#[async_trait]
impl RequestSender for GrpcSender {
    async fn send(&self, data: &Telemetry) -> Result<SendOutcome, SendError> {
        match data {
            // Raw payloads are sent as the bytes they arrived as: no copy, no encode.
            Telemetry::Traces(payload) => {
                let response: ExportTraceServiceResponse = self
                    .unary(
                        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                        payload.encode_parts(),
                    )
                    .await?;
                Ok(response
                    .partial_success
                    .map(|p| SendOutcome::partial(p.rejected_spans, p.error_message))
                    .unwrap_or_default())
            }
            Telemetry::Metrics(request) => {
                let response: ExportMetricsServiceResponse = self
                    .unary(
                        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                        vec![Bytes::from(request.encode_to_vec())],
                    )
                    .await?;
                Ok(response
                    .partial_success
                    .map(|p| SendOutcome::partial(p.rejected_data_points, p.error_message))
                    .unwrap_or_default())
            }
            Telemetry::Logs(payload) => {
                let response: ExportLogsServiceResponse = self
                    .unary(
                        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                        payload.encode_parts(),
                    )
                    .await?;
                Ok(response
                    .partial_success
                    .map(|p| SendOutcome::partial(p.rejected_log_records, p.error_message))
                    .unwrap_or_default())
            }
        }
    }

    fn destination(&self, _signal: Signal) -> String {
        self.endpoint.clone()
    }
}

//! OTLP/gRPC front-end over [`ReceiverCore`].
//!
//! Traces and logs are served by [`RawExportServer`], a hand-built service in the shape of
//! the generated ones whose codec takes the message as the bytes tonic already holds (no
//! copy, no decode): the wire walker ([`crate::pdata::wire`]) validates and counts them,
//! and they travel on raw. Metrics use the generated `MetricsServiceServer`, since their
//! pipeline needs them decoded.
//!
//! Only signals with a pipeline get a service, so a client exporting another signal gets
//! `UNIMPLEMENTED` from tonic's router, as from the OTel Collector (which registers the
//! service per configured pipeline). Requests may be gzip-compressed (OTLP spec: servers
//! MUST support `none` and `gzip`); `max_recv_msg_size_mib` bounds the message after
//! decompression, which tonic enforces while inflating.
//!
//! A message over the limit is answered `RESOURCE_EXHAUSTED`, as grpc-go (and so the
//! OTel Collector) answers it, and counted in `otelcol_receiver_refused_requests`. tonic
//! answers `OUT_OF_RANGE` when the declared length is over the limit, which OTLP
//! exporters treat as retryable and send again forever; [`OversizeGuard`] rewrites it.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::BoxFuture;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::ReceiverCore;
use super::budget::DecodeBudget;
use super::config::GrpcServerConfig;
use crate::component::BuildContext;
use crate::consumer::{LogsPayload, Signal, Telemetry, TracesPayload};
use crate::status::{BodyFormat, ReceiveError};

/// The metrics service implementation (generated server, decoded messages).
#[derive(Clone)]
struct OtlpGrpc(ReceiverCore);

#[tonic::async_trait]
impl MetricsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let request = request.into_inner();
        super::body::check_ids(&request, BodyFormat::Protobuf).map_err(|err| err.to_grpc())?;
        match self.0.consume(Telemetry::Metrics(request)).await {
            Ok(()) => Ok(Response::new(ExportMetricsServiceResponse::default())),
            Err(err) => Err(err.to_grpc()),
        }
    }
}

/// A signal served raw: its gRPC names, response type, and how its bytes become a
/// [`Telemetry`].
trait RawSignal: Send + Sync + 'static {
    /// The fully qualified service name.
    const SERVICE: &'static str;
    /// The `Export` method's path.
    const PATH: &'static str;
    /// `Export*ServiceResponse`.
    type Response: prost::Message + Default + Send + 'static;
    /// Walks `bytes` and wraps them.
    fn payload(bytes: Bytes) -> Result<Telemetry, crate::pdata::WireError>;
}

struct TracesSignal;

impl RawSignal for TracesSignal {
    const SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    type Response = ExportTraceServiceResponse;
    fn payload(bytes: Bytes) -> Result<Telemetry, crate::pdata::WireError> {
        TracesPayload::from_wire(bytes).map(Telemetry::Traces)
    }
}

struct LogsSignal;

impl RawSignal for LogsSignal {
    const SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    type Response = ExportLogsServiceResponse;
    fn payload(bytes: Bytes) -> Result<Telemetry, crate::pdata::WireError> {
        LogsPayload::from_wire(bytes).map(Telemetry::Logs)
    }
}

/// A gRPC codec whose requests are taken as raw bytes and whose responses are prost
/// messages.
struct RawRequestCodec<Resp>(PhantomData<Resp>);

impl<Resp: prost::Message + Default + Send + 'static> Codec for RawRequestCodec<Resp> {
    type Encode = Resp;
    type Decode = Bytes;
    type Encoder = ResponseEncoder<Resp>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

/// Takes the whole message out of tonic's buffer. `DecodeBuf::copy_to_bytes` hands on
/// the buffer's own allocation (a `BytesMut` split), so nothing is copied.
struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

/// Encodes the (small) response message.
struct ResponseEncoder<Resp>(PhantomData<Resp>);

impl<Resp: prost::Message> Encoder for ResponseEncoder<Resp> {
    type Item = Resp;
    type Error = Status;

    fn encode(&mut self, item: Resp, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|err| Status::internal(format!("cannot encode the export response: {err}")))
    }
}

/// The OTLP/gRPC export service of one signal over raw bytes, built as the generated
/// `TraceServiceServer` is: one path, tonic's unary handling with gzip and the message
/// size limit, `UNIMPLEMENTED` for other methods of the service.
struct RawExportServer<S> {
    core: ReceiverCore,
    max_recv_msg_bytes: usize,
    signal: PhantomData<fn() -> S>,
}

impl<S> Clone for RawExportServer<S> {
    fn clone(&self) -> Self {
        RawExportServer {
            core: self.core.clone(),
            max_recv_msg_bytes: self.max_recv_msg_bytes,
            signal: PhantomData,
        }
    }
}

impl<S: RawSignal> NamedService for RawExportServer<S> {
    const NAME: &'static str = S::SERVICE;
}

/// One `Export` call: walk, consume, answer.
struct ExportCall<S> {
    core: ReceiverCore,
    signal: PhantomData<fn() -> S>,
}

impl<S: RawSignal> tonic::server::UnaryService<Bytes> for ExportCall<S> {
    type Response = S::Response;
    type Future = BoxFuture<Response<S::Response>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let core = self.core.clone();
        Box::pin(async move {
            let data = S::payload(request.into_inner()).map_err(|err| {
                ReceiveError::Decode {
                    format: BodyFormat::Protobuf,
                    field: Some(err.field_path()),
                    reason: err.to_string(),
                }
                .to_grpc()
            })?;
            match core.consume(data).await {
                Ok(()) => Ok(Response::new(S::Response::default())),
                Err(err) => Err(err.to_grpc()),
            }
        })
    }
}

impl<S: RawSignal> tower::Service<http::Request<tonic::body::Body>> for RawExportServer<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != S::PATH {
            return Box::pin(async move { Ok(Status::unimplemented("").into_http()) });
        }
        let call = ExportCall::<S> {
            core: self.core.clone(),
            signal: PhantomData,
        };
        let max = self.max_recv_msg_bytes;
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawRequestCodec::<S::Response>(PhantomData))
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max);
            Ok(grpc.unary(call, request).await)
        })
    }
}

/// Wraps an export service so that a message over the size limit is answered
/// `RESOURCE_EXHAUSTED` (not tonic's `OUT_OF_RANGE`) and counted.
///
/// tonic fails such a call before the service sees it, with a trailers-only response
/// whose `grpc-status` header holds the code. `OUT_OF_RANGE` (11) comes from nothing
/// else here: the only limit these services set is the decoding one, and their responses
/// are tiny. tonic's own `RESOURCE_EXHAUSTED` for a compressed message that inflates past
/// the limit is counted too.
#[derive(Clone)]
struct OversizeGuard<S> {
    inner: S,
    core: ReceiverCore,
    max_recv_msg_bytes: usize,
    /// Shared by every service of this server, as the HTTP receiver's is by its routes.
    budget: DecodeBudget,
}

impl<S: NamedService> NamedService for OversizeGuard<S> {
    const NAME: &'static str = S::NAME;
}

/// `grpc-status` of a trailers-only response, if it is one.
fn header_status(response: &http::Response<tonic::body::Body>) -> Option<tonic::Code> {
    let value = response.headers().get("grpc-status")?.to_str().ok()?;
    Some(tonic::Code::from_i32(value.parse().ok()?))
}

impl<S> tower::Service<http::Request<tonic::body::Body>> for OversizeGuard<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let core = self.core.clone();
        let max = self.max_recv_msg_bytes;
        // Credentials come first (otelcol's configgrpc runs the authenticator as an
        // interceptor): an unauthenticated call is answered UNAUTHENTICATED before its
        // message is read.
        if let Err(err) = core.authenticate(request.headers()) {
            return Box::pin(async move { Ok(err.to_grpc().into_http()) });
        }
        // The service that poll_ready readied goes into the future; a clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let budget = self.budget.clone();
        Box::pin(async move {
            // Take a share of the decode budget before tonic reads (and inflates) the
            // message, as the HTTP receiver does before reading a body: the length comes
            // from the message's 5-byte prefix. Held until the call has been answered.
            let (parts, body) = request.into_parts();
            let (prefix, body) = super::budget::peek_grpc_prefix(body).await;
            let _permit = match prefix.and_then(|p| p.budget_bytes(max as u64)) {
                Some(bytes) => budget.acquire(bytes).await,
                None => None,
            };
            let response = inner.call(http::Request::from_parts(parts, body)).await?;
            match header_status(&response) {
                Some(tonic::Code::OutOfRange) => {
                    core.count_too_large();
                    Ok(ReceiveError::TooLarge {
                        limit: max as u64,
                        stage: crate::status::SizeStage::Wire,
                    }
                    .to_grpc()
                    .into_http())
                }
                Some(tonic::Code::ResourceExhausted) => {
                    core.count_too_large();
                    Ok(response)
                }
                _ => Ok(response),
            }
        })
    }
}

/// The OTLP/gRPC services for the signals `core` serves, each accepting gzip and
/// decoding messages of at most `max_recv_msg_bytes`.
pub fn grpc_routes(core: &ReceiverCore, max_recv_msg_bytes: usize) -> Routes {
    fn guard<S>(
        inner: S,
        core: &ReceiverCore,
        max_recv_msg_bytes: usize,
        budget: &DecodeBudget,
    ) -> OversizeGuard<S> {
        OversizeGuard {
            inner,
            core: core.clone(),
            max_recv_msg_bytes,
            budget: budget.clone(),
        }
    }
    let budget = DecodeBudget::new(max_recv_msg_bytes as u64);
    fn raw<S>(core: &ReceiverCore, max_recv_msg_bytes: usize) -> RawExportServer<S> {
        RawExportServer {
            core: core.clone(),
            max_recv_msg_bytes,
            signal: PhantomData,
        }
    }
    let max = max_recv_msg_bytes;
    let mut routes = Routes::builder();
    if core.serves(Signal::Traces) {
        routes.add_service(guard(raw::<TracesSignal>(core, max), core, max, &budget));
    }
    if core.serves(Signal::Metrics) {
        let metrics = MetricsServiceServer::new(OtlpGrpc(core.clone()))
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max);
        routes.add_service(guard(metrics, core, max, &budget));
    }
    if core.serves(Signal::Logs) {
        routes.add_service(guard(raw::<LogsSignal>(core, max), core, max, &budget));
    }
    routes.routes()
}

/// grpc-go's default `ConnectionTimeout`: how long a new connection has to begin its
/// HTTP/2 handshake.
const GRPC_CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// grpc-go's default `keepalive.ServerParameters.Time`.
const GRPC_KEEPALIVE_TIME: std::time::Duration = std::time::Duration::from_secs(2 * 3600);
/// grpc-go's default `keepalive.ServerParameters.Timeout`.
const GRPC_KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The accepted connections of `listener`, each closed if it sends nothing within
/// `handshake` (a connection that never starts HTTP/2 used to be kept forever).
fn incoming(
    listener: TcpListener,
    handshake: std::time::Duration,
) -> impl futures::Stream<Item = std::io::Result<super::idle::IdleStream>> {
    use futures::StreamExt as _;
    TcpIncoming::from(listener).map(move |accepted| {
        accepted.map(|stream| super::idle::IdleStream::until_first_byte(stream, handshake))
    })
}

/// Serves the OTLP/gRPC services on `listener` until `ctx.shutdown` is cancelled, then
/// lets in-flight calls finish.
pub(super) fn serve(
    config: &GrpcServerConfig,
    core: ReceiverCore,
    listener: TcpListener,
    ctx: &BuildContext,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
) -> JoinHandle<()> {
    let max_recv =
        usize::try_from(config.max_recv_msg_size_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let routes = grpc_routes(&core, max_recv);
    // 0 means "no limit" in the OTel Collector's configgrpc.
    let max_streams = Some(config.max_concurrent_streams).filter(|&n| n > 0);
    let shutdown = ctx.shutdown.clone();
    let id = ctx.id.clone();
    tokio::spawn(async move {
        let builder = Server::builder()
            .max_concurrent_streams(max_streams)
            // grpc-go's server defaults, which the OTel Collector's configgrpc keeps: ping
            // a connection idle for 2h and close it when the ping goes unanswered for
            // 20s, so half-open connections (a peer gone without a FIN) are closed.
            // Divergence: grpc-go also enforces a minimum client ping interval (5m) and
            // answers faster pings with GOAWAY; hyper's HTTP/2 server has no such policy.
            .http2_keepalive_interval(Some(GRPC_KEEPALIVE_TIME))
            .http2_keepalive_timeout(Some(GRPC_KEEPALIVE_TIMEOUT))
            .add_routes(routes);
        let served = match tls {
            None => {
                builder
                    .serve_with_incoming_shutdown(
                        incoming(listener, GRPC_CONNECTION_TIMEOUT),
                        shutdown.cancelled_owned(),
                    )
                    .await
            }
            Some(tls) => {
                let incoming =
                    super::tls::grpc_incoming(listener, GRPC_CONNECTION_TIMEOUT, tls, shutdown.clone());
                builder
                    .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
                    .await
            }
        };
        match served {
            Ok(()) => tracing::debug!(component = %id, "OTLP/gRPC server stopped."),
            Err(err) => tracing::error!(component = %id, error = %err, "OTLP/gRPC server failed."),
        }
    })
}

#[cfg(test)]
mod budget_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Semaphore;
    use tower::Service as _;

    use super::*;
    use crate::config::ComponentId;
    use crate::receivers::ReceiverOutputs;
    use crate::receivers::otlp::Transport;
    use crate::telemetry::SelfTelemetry;

    /// An inner service that counts the calls reaching it and answers each only when the
    /// test releases one.
    #[derive(Clone)]
    struct Held {
        entered: Arc<AtomicUsize>,
        release: Arc<Semaphore>,
    }

    impl tower::Service<http::Request<tonic::body::Body>> for Held {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<Self::Response, Infallible>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _request: http::Request<tonic::body::Body>) -> Self::Future {
            let held = self.clone();
            Box::pin(async move {
                held.entered.fetch_add(1, Ordering::SeqCst);
                held.release.acquire().await.unwrap().forget();
                Ok(Status::ok("").into_http())
            })
        }
    }

    /// A request whose message prefix declares `len` bytes (the body holds only the prefix:
    /// what matters is what is declared before tonic reads on).
    fn request(len: u32) -> http::Request<tonic::body::Body> {
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(&len.to_be_bytes());
        http::Request::new(tonic::body::Body::new(http_body_util::Full::new(Bytes::from(
            prefix,
        ))))
    }

    async fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !cond() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Regression: the gRPC receiver had no decode budget, so any number of concurrent
    /// maximal messages were read and decoded at once (the HTTP receiver bounds them). Two
    /// maximal messages fill the budget; a third waits until one is answered; small ones
    /// never wait.
    #[tokio::test]
    async fn concurrent_large_grpc_messages_share_the_decode_budget() {
        let max = 4 << 20;
        let telemetry = SelfTelemetry::new();
        let id = ComponentId::parse("otlp").unwrap();
        let core = ReceiverCore::new(&id, Transport::Grpc, &ReceiverOutputs::default(), &telemetry);
        let held = Held {
            entered: Arc::new(AtomicUsize::new(0)),
            release: Arc::new(Semaphore::new(0)),
        };
        let budget = DecodeBudget::new(max as u64);
        let full = budget.available();
        let mut guard = OversizeGuard {
            inner: held.clone(),
            core,
            max_recv_msg_bytes: max,
            budget: budget.clone(),
        };
        let first = tokio::spawn(guard.call(request(max as u32)));
        let second = tokio::spawn(guard.call(request(max as u32)));
        wait_until("two large calls in", || held.entered.load(Ordering::SeqCst) == 2).await;
        assert_eq!(
            budget.available(),
            0,
            "two maximal messages hold the whole budget"
        );

        let mut third = guard.call(request(max as u32));
        assert!(
            futures::poll!(&mut third).is_pending(),
            "a third maximal message went ahead with the budget spent"
        );
        // A small message is not held up by the spent budget.
        let small = tokio::spawn(guard.call(request(100)));
        wait_until("the small call in", || held.entered.load(Ordering::SeqCst) == 3).await;

        // The semaphore wakes waiters in order: this answers the first call.
        held.release.add_permits(1);
        let third = tokio::spawn(third);
        wait_until("the third large call in", || {
            held.entered.load(Ordering::SeqCst) == 4
        })
        .await;
        held.release.add_permits(3);
        for call in [first, second, small, third] {
            call.await.unwrap().unwrap();
        }
        assert_eq!(budget.available(), full, "every share was given back");
    }
}

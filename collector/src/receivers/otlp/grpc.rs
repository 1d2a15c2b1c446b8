//! OTLP/gRPC front-end: the `opentelemetry-proto` generated tonic services over
//! [`ReceiverCore`].
//!
//! Only signals with a pipeline get a service, so a client exporting another signal gets
//! `UNIMPLEMENTED` from tonic's router, as from the OTel Collector (which registers the
//! service per configured pipeline). Requests may be gzip-compressed (OTLP spec: servers
//! MUST support `none` and `gzip`); `max_recv_msg_size_mib` bounds the message after
//! decompression, which tonic enforces while inflating.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::ReceiverCore;
use super::config::GrpcServerConfig;
use crate::component::BuildContext;
use crate::consumer::{Signal, Telemetry};

/// The tonic service implementations; one type serves all three signals.
#[derive(Clone)]
struct OtlpGrpc(ReceiverCore);

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self.0.consume(Telemetry::Traces(request.into_inner())).await {
            Ok(()) => Ok(Response::new(ExportTraceServiceResponse::default())),
            Err(err) => Err(err.to_grpc()),
        }
    }
}

#[tonic::async_trait]
impl MetricsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        match self.0.consume(Telemetry::Metrics(request.into_inner())).await {
            Ok(()) => Ok(Response::new(ExportMetricsServiceResponse::default())),
            Err(err) => Err(err.to_grpc()),
        }
    }
}

#[tonic::async_trait]
impl LogsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        match self.0.consume(Telemetry::Logs(request.into_inner())).await {
            Ok(()) => Ok(Response::new(ExportLogsServiceResponse::default())),
            Err(err) => Err(err.to_grpc()),
        }
    }
}

/// The OTLP/gRPC services for the signals `core` serves, each accepting gzip and
/// decoding messages of at most `max_recv_msg_bytes`.
pub fn grpc_routes(core: &ReceiverCore, max_recv_msg_bytes: usize) -> Routes {
    let service = OtlpGrpc(core.clone());
    let mut routes = Routes::builder();
    // Each generated server takes the same settings; a macro would hide less than it saves.
    if core.serves(Signal::Traces) {
        routes.add_service(
            TraceServiceServer::new(service.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_recv_msg_bytes),
        );
    }
    if core.serves(Signal::Metrics) {
        routes.add_service(
            MetricsServiceServer::new(service.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_recv_msg_bytes),
        );
    }
    if core.serves(Signal::Logs) {
        routes.add_service(
            LogsServiceServer::new(service)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_recv_msg_bytes),
        );
    }
    routes.routes()
}

/// Serves the OTLP/gRPC services on `listener` until `ctx.shutdown` is cancelled, then
/// lets in-flight calls finish.
pub(super) fn serve(
    config: &GrpcServerConfig,
    core: ReceiverCore,
    listener: TcpListener,
    ctx: &BuildContext,
) -> JoinHandle<()> {
    let max_recv =
        usize::try_from(config.max_recv_msg_size_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let routes = grpc_routes(&core, max_recv);
    // 0 means "no limit" in the OTel Collector's configgrpc.
    let max_streams = Some(config.max_concurrent_streams).filter(|&n| n > 0);
    let shutdown = ctx.shutdown.clone();
    let id = ctx.id.clone();
    tokio::spawn(async move {
        let served = Server::builder()
            .max_concurrent_streams(max_streams)
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown.cancelled_owned())
            .await;
        match served {
            Ok(()) => tracing::debug!(component = %id, "OTLP/gRPC server stopped."),
            Err(err) => tracing::error!(component = %id, error = %err, "OTLP/gRPC server failed."),
        }
    })
}

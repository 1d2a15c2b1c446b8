//! `exporters: otlp` (OTLP/gRPC) and `exporters: otlphttp` (OTLP/HTTP): send the pipeline's
//! data to another OTLP receiver (an OTel Collector, Jaeger, Tempo, …).
//!
//! Both are a request sender (`grpc.rs`, `http.rs`) behind the shared sending
//! queue and retry sender ([`crate::exporters::queue::QueuedExporter`]). Building never
//! contacts the endpoint: the gRPC channel connects lazily and the HTTP client connects
//! per request, so an endpoint that is down or not yet resolvable at start-up does not
//! stop the collector; its failures are retried, logged and counted instead.

pub mod config;
mod grpc;
mod http;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use self::config::{OtlpExporterConfig, OtlpHttpExporterConfig};
use crate::component::{BuildContext, BuildError};
use crate::consumer::Consumer;
use crate::exporters::helper::{QueueConfig, RetryConfig};
use crate::exporters::queue::{QueueSettings, QueuedExporter, RequestSender};

/// Builds `exporters: otlp`. Must be called inside a Tokio runtime.
pub fn build_grpc(config: &OtlpExporterConfig, ctx: &BuildContext) -> Result<Arc<dyn Consumer>, BuildError> {
    let sender = grpc::GrpcSender::new(config, &ctx.id)?;
    tracing::info!(
        exporter = %ctx.id,
        endpoint = %grpc::endpoint_uri(&config.endpoint),
        compression = ?config.compression,
        "OTLP/gRPC exporter ready; it connects on the first export."
    );
    Ok(queued(
        ctx,
        &config.retry_on_failure,
        &config.sending_queue,
        config.timeout.0,
        Arc::new(sender),
    ))
}

/// Builds `exporters: otlphttp`. Must be called inside a Tokio runtime.
pub fn build_http(
    config: &OtlpHttpExporterConfig,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    let sender = self::http::HttpSender::new(config, &ctx.id)?;
    tracing::info!(
        exporter = %ctx.id,
        endpoint = %config.endpoint,
        encoding = ?config.encoding,
        compression = ?config.compression,
        "OTLP/HTTP exporter ready."
    );
    Ok(queued(
        ctx,
        &config.retry_on_failure,
        &config.sending_queue,
        config.timeout.0,
        Arc::new(sender),
    ))
}

/// Puts `sender` behind the sending queue and retry logic both OTLP exporters share.
fn queued(
    ctx: &BuildContext,
    retry: &RetryConfig,
    queue: &QueueConfig,
    request_timeout: Duration,
    sender: Arc<dyn RequestSender>,
) -> Arc<dyn Consumer> {
    let settings = QueueSettings {
        id: ctx.id.clone(),
        telemetry: Arc::clone(&ctx.telemetry),
        retry: retry.clone(),
        queue: queue.clone(),
        drain_timeout: drain_timeout(request_timeout),
    };
    Arc::new(QueuedExporter::new(settings, sender))
}

/// How long shutdown keeps draining the sending queue: one request timeout, so a healthy
/// endpoint gets everything and a dead one delays shutdown by about two timeouts at most
/// (the drain, then the requests still in flight). A zero timeout means "none", so the
/// drain gets a second.
fn drain_timeout(request_timeout: Duration) -> Duration {
    request_timeout.max(Duration::from_secs(1))
}

//! The OTLP exporters against real peers started by each test: a tonic OTLP/gRPC server
//! built on opentelemetry-proto's service traits, and an axum OTLP/HTTP server, both on
//! port 0. Retry settings are shortened so the backoff runs in milliseconds.

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
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
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::config::{OtlpExporterConfig, OtlpHttpExporterConfig};
use super::http::parse_retry_after;
use super::{build_grpc, build_http};
use crate::component::{BoundAddrs, BuildContext, BuildError};
use crate::config::ComponentId;
use crate::consumer::{ConsumeError, Signal, Telemetry};
use crate::telemetry::{ExporterMetrics, SelfTelemetry};

// ---------------------------------------------------------------------------------------
// Test data and helpers
// ---------------------------------------------------------------------------------------

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A traces request with `n` spans named `<tag>-<i>`.
fn spans(n: usize, tag: &str) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![i as u8 + 1; 16],
            span_id: vec![0xab; 8],
            name: format!("{tag}-{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            end_time_unix_nano: 1_700_000_000_250_000_000 + i as u64,
            attributes: vec![
                kv("http.route", "/checkout"),
                kv("http.response.status_code", "500"),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn traces(n: usize, tag: &str) -> Telemetry {
    Telemetry::traces(spans(n, tag))
}

/// A metrics request with three data points: a gauge with two, a sum with one.
fn metric_points() -> ExportMetricsServiceRequest {
    let point = |v: f64| NumberDataPoint {
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "queue_depth".into(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![point(1.0), point(2.0)],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "requests".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: vec![point(42.0)],
                            is_monotonic: true,
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A logs request with two records.
fn log_records() -> ExportLogsServiceRequest {
    let record = |body: &str| LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        severity_text: "ERROR".into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout")],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![record("payment declined"), record("retrying")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn ctx(name: &str) -> BuildContext {
    BuildContext {
        id: ComponentId::parse(name).unwrap(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    }
}

fn metrics(ctx: &BuildContext, signal: Signal) -> ExporterMetrics {
    ExporterMetrics::new(&ctx.telemetry, &ctx.id, signal)
}

/// Polls `cond` until it holds, failing the test after a generous deadline.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Retries in milliseconds instead of seconds.
const FAST_RETRY: &str = "retry_on_failure:
  initial_interval: 20ms
  randomization_factor: 0
  max_interval: 100ms
  max_elapsed_time: 10s";

fn grpc_config(yaml: &str) -> OtlpExporterConfig {
    let config: OtlpExporterConfig = serde_norway::from_str(yaml).unwrap();
    config.validate("exporters.otlp").unwrap();
    config
}

fn http_config(yaml: &str) -> OtlpHttpExporterConfig {
    let config: OtlpHttpExporterConfig = serde_norway::from_str(yaml).unwrap();
    config.validate("exporters.otlphttp").unwrap();
    config
}

// ---------------------------------------------------------------------------------------
// The OTLP/gRPC test server
// ---------------------------------------------------------------------------------------

/// What the gRPC test server answers to one call; after the script runs out it answers OK.
#[derive(Debug, Clone)]
enum Reply {
    /// A status, with a `RetryInfo` delay when given.
    Fail(Code, Option<Duration>),
    /// OK with a `partial_success` rejecting this many items.
    Reject(i64, &'static str),
}

#[derive(Default)]
struct GrpcState {
    script: VecDeque<Reply>,
    /// When each call arrived, accepted or not.
    calls: Vec<Instant>,
    traces: Vec<(MetadataMap, ExportTraceServiceRequest)>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
}

#[derive(Clone, Default)]
struct Backend {
    state: Arc<Mutex<GrpcState>>,
    /// When set, each call waits for a permit before it is answered.
    gate: Option<Arc<Semaphore>>,
}

impl Backend {
    fn scripted(replies: impl IntoIterator<Item = Reply>) -> Self {
        let backend = Backend::default();
        backend.state.lock().unwrap().script.extend(replies);
        backend
    }

    fn gated() -> (Self, Arc<Semaphore>) {
        let gate = Arc::new(Semaphore::new(0));
        (
            Backend {
                gate: Some(Arc::clone(&gate)),
                ..Backend::default()
            },
            gate,
        )
    }

    fn calls(&self) -> usize {
        self.state.lock().unwrap().calls.len()
    }

    fn call_times(&self) -> Vec<Instant> {
        self.state.lock().unwrap().calls.clone()
    }

    fn traces(&self) -> Vec<(MetadataMap, ExportTraceServiceRequest)> {
        self.state.lock().unwrap().traces.clone()
    }

    /// Records the call, waits at the gate, and plays the next scripted reply: `Ok(n)`
    /// to accept with `n` rejected items.
    async fn answer(&self) -> Result<Option<(i64, String)>, Status> {
        self.state.lock().unwrap().calls.push(Instant::now());
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        let reply = self.state.lock().unwrap().script.pop_front();
        match reply {
            None => Ok(None),
            Some(Reply::Reject(n, message)) => Ok(Some((n, message.to_string()))),
            Some(Reply::Fail(code, None)) => Err(Status::new(code, "scripted failure")),
            Some(Reply::Fail(code, Some(delay))) => Err(Status::with_error_details(
                code,
                "scripted failure",
                ErrorDetails::with_retry_info(Some(delay)),
            )),
        }
    }
}

#[tonic::async_trait]
impl TraceService for Backend {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let partial = self.answer().await?;
        let (metadata, _, message) = request.into_parts();
        self.state.lock().unwrap().traces.push((metadata, message));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: partial.map(|(rejected_spans, error_message)| ExportTracePartialSuccess {
                rejected_spans,
                error_message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Backend {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, Status> {
        self.answer().await?;
        self.state.lock().unwrap().metrics.push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Backend {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, Status> {
        self.answer().await?;
        self.state.lock().unwrap().logs.push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Serves `backend` on a port-0 listener; with `gzip`, the server accepts gzip requests
/// (without it, a gzip request fails with UNIMPLEMENTED, as in any gRPC server).
async fn serve_grpc(backend: &Backend, gzip: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut traces = TraceServiceServer::new(backend.clone());
    let mut metrics = MetricsServiceServer::new(backend.clone());
    let mut logs = LogsServiceServer::new(backend.clone());
    if gzip {
        traces = traces.accept_compressed(CompressionEncoding::Gzip);
        metrics = metrics.accept_compressed(CompressionEncoding::Gzip);
        logs = logs.accept_compressed(CompressionEncoding::Gzip);
    }
    let server = tonic::transport::Server::builder()
        .add_service(traces)
        .add_service(metrics)
        .add_service(logs)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    addr
}

/// A gRPC exporter config for `addr` with fast retries and extra YAML lines.
fn grpc_yaml(addr: impl std::fmt::Display, extra: &str) -> OtlpExporterConfig {
    grpc_config(&format!(
        "endpoint: {addr}\ntls:\n  insecure: true\n{FAST_RETRY}\n{extra}"
    ))
}

const SYNC: &str = "sending_queue:\n  enabled: false";

fn sorted_by_first_span(mut requests: Vec<ExportTraceServiceRequest>) -> Vec<ExportTraceServiceRequest> {
    requests.sort_by_key(|r| r.resource_spans[0].scope_spans[0].spans[0].name.clone());
    requests
}

// ---------------------------------------------------------------------------------------
// OTLP/gRPC
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn grpc_spans_arrive_intact_with_headers_and_are_counted_sent() {
    let backend = Backend::default();
    let addr = serve_grpc(&backend, false).await;
    let ctx = ctx("otlp/jaeger");
    let config = grpc_yaml(addr, "compression: none\nheaders:\n  X-Tenant: team-a");
    let exporter = build_grpc(&config, &ctx).unwrap();

    exporter.consume(traces(3, "a")).await.unwrap();
    exporter.consume(traces(2, "b")).await.unwrap();
    exporter.shutdown().await;

    let received = backend.traces();
    let requests = sorted_by_first_span(received.iter().map(|(_, r)| r.clone()).collect());
    assert_eq!(requests, vec![spans(3, "a"), spans(2, "b")]);
    let (metadata, _) = &received[0];
    assert_eq!(metadata.get("x-tenant").unwrap(), "team-a");
    assert!(
        metadata.get("grpc-timeout").is_some(),
        "the request timeout is sent as grpc-timeout"
    );
    assert!(
        metadata
            .get("user-agent")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("burnwatch/")
    );
    assert!(
        metadata.get("grpc-encoding").is_none(),
        "compression: none sends plain messages"
    );

    let m = metrics(&ctx, Signal::Traces);
    assert_eq!(
        (m.sent.get(), m.send_failed.get(), m.enqueue_failed.get()),
        (5, 0, 0)
    );
    assert_eq!((m.queue_size.get(), m.queue_capacity.get()), (0, 1000));
    let text = ctx.telemetry.render();
    assert!(
        text.contains("otelcol_exporter_sent_spans_total{exporter=\"otlp/jaeger\"} 5\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "otelcol_exporter_queue_capacity{data_type=\"traces\",exporter=\"otlp/jaeger\"} 1000\n"
        )
    );
}

#[tokio::test]
async fn grpc_gzip_is_the_default_compression() {
    let backend = Backend::default();
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let exporter = build_grpc(&grpc_yaml(addr, SYNC), &ctx).unwrap();

    exporter.consume(traces(4, "gz")).await.unwrap();

    let received = backend.traces();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0.get("grpc-encoding").unwrap(), "gzip");
    assert_eq!(received[0].1, spans(4, "gz"));
    assert_eq!(metrics(&ctx, Signal::Traces).sent.get(), 4);
}

/// `spans(n, tag)` as the receivers hand it on: its validated encoding.
fn raw_traces(n: usize, tag: &str) -> Telemetry {
    Telemetry::Traces(crate::pdata::TracesPayload::from_wire(spans(n, tag).encode_to_vec().into()).unwrap())
}

fn raw_logs() -> Telemetry {
    Telemetry::Logs(crate::pdata::LogsPayload::from_wire(log_records().encode_to_vec().into()).unwrap())
}

#[tokio::test]
async fn grpc_raw_traces_and_logs_are_sent_as_they_arrived_plain_and_gzip() {
    for gzip in [false, true] {
        let backend = Backend::default();
        let addr = serve_grpc(&backend, gzip).await;
        let ctx = ctx("otlp");
        let compression = if gzip { "gzip" } else { "none" };
        let config = grpc_yaml(
            addr,
            &format!(
                "{SYNC}
compression: {compression}
headers:
  x-tenant: acme"
            ),
        );
        let exporter = build_grpc(&config, &ctx).unwrap();

        exporter.consume(raw_traces(3, "raw")).await.unwrap();
        exporter.consume(raw_logs()).await.unwrap();
        // A batch of raw requests and a decoded one travels as parts, written one after
        // the other: the server decodes their concatenation.
        let parts = [raw_traces(2, "a"), traces(1, "b"), raw_traces(4, "c")].map(|t| match t {
            Telemetry::Traces(p) => p,
            _ => unreachable!(),
        });
        let batch = crate::pdata::concat(&parts);
        assert_eq!(batch.raw_parts().map(<[_]>::len), Some(3));
        exporter.consume(Telemetry::Traces(batch)).await.unwrap();

        let received = backend.traces();
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].1, spans(3, "raw"));
        let mut merged = spans(2, "a");
        for more in [spans(1, "b"), spans(4, "c")] {
            merged.resource_spans.extend(more.resource_spans);
        }
        assert_eq!(received[1].1, merged);
        for (headers, _) in &received {
            assert_eq!(
                headers
                    .get("grpc-encoding")
                    .map(|v| v.to_str().unwrap().to_string()),
                gzip.then(|| "gzip".to_string())
            );
            assert_eq!(headers.get("x-tenant").unwrap(), "acme");
            assert!(headers.get("grpc-timeout").is_some(), "the deadline is sent");
        }
        assert_eq!(backend.state.lock().unwrap().logs, vec![log_records()]);
        assert_eq!(metrics(&ctx, Signal::Traces).sent.get(), 10);
        assert_eq!(metrics(&ctx, Signal::Logs).sent.get(), 2);
    }
}

#[tokio::test]
async fn grpc_metrics_and_logs_are_exported_and_counted_per_signal() {
    let backend = Backend::default();
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let exporter = build_grpc(&grpc_yaml(addr, SYNC), &ctx).unwrap();

    exporter
        .consume(Telemetry::Metrics(metric_points()))
        .await
        .unwrap();
    exporter.consume(Telemetry::logs(log_records())).await.unwrap();

    let state = backend.state.lock().unwrap();
    assert_eq!(state.metrics, vec![metric_points()]);
    assert_eq!(state.logs, vec![log_records()]);
    assert_eq!(metrics(&ctx, Signal::Metrics).sent.get(), 3);
    assert_eq!(metrics(&ctx, Signal::Logs).sent.get(), 2);
}

#[tokio::test]
async fn grpc_unavailable_is_retried_until_the_server_recovers() {
    let backend = Backend::scripted([
        Reply::Fail(Code::Unavailable, None),
        Reply::Fail(Code::Unavailable, None),
    ]);
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let exporter = build_grpc(&grpc_yaml(addr, SYNC), &ctx).unwrap();

    exporter.consume(traces(3, "r")).await.unwrap();

    assert_eq!(backend.calls(), 3);
    assert_eq!(backend.traces().len(), 1);
    let m = metrics(&ctx, Signal::Traces);
    assert_eq!((m.sent.get(), m.send_failed.get()), (3, 0));
}

#[tokio::test]
async fn grpc_resource_exhausted_with_retry_info_waits_the_server_delay() {
    let backend = Backend::scripted([Reply::Fail(
        Code::ResourceExhausted,
        Some(Duration::from_millis(600)),
    )]);
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    // Our own backoff would retry after 20ms; the server asked for 600ms.
    let exporter = build_grpc(&grpc_yaml(addr, SYNC), &ctx).unwrap();

    exporter.consume(traces(2, "slow")).await.unwrap();

    let calls = backend.call_times();
    assert_eq!(calls.len(), 2);
    let gap = calls[1] - calls[0];
    assert!(
        gap >= Duration::from_millis(600),
        "retried after {gap:?}, before the server's RetryInfo delay"
    );
    assert_eq!(metrics(&ctx, Signal::Traces).sent.get(), 2);
}

#[tokio::test]
async fn grpc_resource_exhausted_without_retry_info_is_permanent() {
    let backend = Backend::scripted([Reply::Fail(Code::ResourceExhausted, None)]);
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let exporter = build_grpc(&grpc_yaml(addr, SYNC), &ctx).unwrap();

    let err = exporter.consume(traces(2, "x")).await.unwrap_err();

    assert!(matches!(err, ConsumeError::Permanent(_)), "{err:?}");
    assert_eq!(backend.calls(), 1);
    assert_eq!(metrics(&ctx, Signal::Traces).send_failed.get(), 2);
}

#[tokio::test]
async fn grpc_invalid_argument_is_permanent_and_never_retried() {
    let backend = Backend::scripted([Reply::Fail(Code::InvalidArgument, None)]);
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let exporter = build_grpc(&grpc_yaml(addr, ""), &ctx).unwrap();
    let m = metrics(&ctx, Signal::Traces);

    // Queued: consume() succeeds, the failure is counted by the sender.
    exporter.consume(traces(5, "bad")).await.unwrap();
    wait_until("the failure is counted", || m.send_failed.get() == 5).await;
    // Several retry intervals (20ms) later, still one call.
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(backend.calls(), 1);
    assert_eq!(m.sent.get(), 0);
    assert!(backend.traces().is_empty());
}

#[tokio::test]
async fn grpc_partial_success_counts_rejected_spans_as_failed() {
    let backend = Backend::scripted([Reply::Reject(2, "span attributes too long")]);
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let exporter = build_grpc(&grpc_yaml(addr, SYNC), &ctx).unwrap();

    exporter.consume(traces(5, "p")).await.unwrap();

    let m = metrics(&ctx, Signal::Traces);
    assert_eq!((m.sent.get(), m.send_failed.get()), (3, 2));
    assert_eq!(backend.calls(), 1, "rejected items are not retried");
}

#[tokio::test]
async fn grpc_unresolvable_endpoint_builds_and_counts_failures_after_max_elapsed_time() {
    let ctx = ctx("otlp/jaeger");
    let yaml = "endpoint: jaeger-collector.invalid:4317\ntls:\n  insecure: true\nretry_on_failure:\n  \
                initial_interval: 20ms\n  max_interval: 50ms\n  max_elapsed_time: 300ms";
    let exporter =
        build_grpc(&grpc_config(yaml), &ctx).expect("an unreachable endpoint must not fail the build");
    let m = metrics(&ctx, Signal::Traces);

    exporter.consume(traces(4, "lost")).await.unwrap();
    wait_until("the request is given up", || m.send_failed.get() == 4).await;
    assert_eq!(m.sent.get(), 0);

    // The exporter keeps taking data; the synchronous form reports the reason.
    exporter.consume(traces(1, "later")).await.unwrap();
    let sync_ctx = self::ctx("otlp/sync");
    let sync = build_grpc(&grpc_config(&format!("{yaml}\n{SYNC}")), &sync_ctx).unwrap();
    let err = sync.consume(traces(1, "sync")).await.unwrap_err();
    match err {
        ConsumeError::Unavailable(message) => {
            assert!(message.contains("max_elapsed_time"), "{message}");
            assert!(message.contains("jaeger-collector.invalid:4317"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(metrics(&sync_ctx, Signal::Traces).send_failed.get(), 1);
}

#[tokio::test]
async fn grpc_full_queue_blocks_consume_until_there_is_room() {
    let (backend, gate) = Backend::gated();
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let config = grpc_yaml(addr, "sending_queue:\n  queue_size: 1\n  num_consumers: 1");
    let exporter = build_grpc(&config, &ctx).unwrap();
    let m = metrics(&ctx, Signal::Traces);

    exporter.consume(traces(1, "a")).await.unwrap();
    wait_until("the first request is in flight", || backend.calls() == 1).await;
    exporter.consume(traces(1, "b")).await.unwrap();
    assert_eq!(m.queue_size.get(), 1);

    let blocked = tokio::spawn({
        let exporter = Arc::clone(&exporter);
        async move { exporter.consume(traces(1, "c")).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !blocked.is_finished(),
        "consume() must wait for room, not drop or fail"
    );

    gate.add_permits(10);
    blocked.await.unwrap().unwrap();
    wait_until("all three requests are sent", || m.sent.get() == 3).await;
    let requests = sorted_by_first_span(backend.traces().into_iter().map(|(_, r)| r).collect());
    assert_eq!(requests, vec![spans(1, "a"), spans(1, "b"), spans(1, "c")]);
    assert_eq!(
        (m.sent.get(), m.enqueue_failed.get(), m.send_failed.get()),
        (3, 0, 0)
    );
}

#[tokio::test]
async fn grpc_shutdown_drains_the_queue() {
    let (backend, gate) = Backend::gated();
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let config = grpc_yaml(addr, "sending_queue:\n  queue_size: 100\n  num_consumers: 2");
    let exporter = build_grpc(&config, &ctx).unwrap();
    let m = metrics(&ctx, Signal::Traces);

    for i in 0..20 {
        exporter.consume(traces(2, &format!("req{i:02}"))).await.unwrap();
    }
    wait_until("two requests are in flight", || backend.calls() == 2).await;
    assert_eq!(m.queue_size.get(), 18);
    // The backend frees up shortly after shutdown begins.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        gate.add_permits(100);
    });
    exporter.shutdown().await;

    assert_eq!(
        backend.traces().len(),
        20,
        "every queued request is sent before shutdown returns"
    );
    assert_eq!(
        (m.sent.get(), m.send_failed.get(), m.queue_size.get()),
        (40, 0, 0)
    );
}

/// Regression (issue #12, item 6): the drain is bounded by the deadline the service
/// passes (the end of `--shutdown-timeout`), not by the request timeout. With a backend
/// that never answers, shutdown returns by the deadline and counts the abandoned
/// in-flight requests and the rest of the queue as failed.
#[tokio::test]
async fn grpc_shutdown_by_abandons_in_flight_requests_at_the_deadline_and_counts_them() {
    let (backend, _gate) = Backend::gated();
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    // A request timeout far longer than the test: only the deadline can end the drain.
    let config = grpc_yaml(
        addr,
        "timeout: 1h\nsending_queue:\n  queue_size: 10\n  num_consumers: 2",
    );
    let exporter = build_grpc(&config, &ctx).unwrap();
    let m = metrics(&ctx, Signal::Traces);
    for i in 0..5 {
        exporter.consume(traces(3, &format!("req{i}"))).await.unwrap();
    }
    wait_until("two requests are in flight", || backend.calls() == 2).await;

    let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
    tokio::time::timeout(Duration::from_secs(60), exporter.shutdown_by(deadline))
        .await
        .expect("shutdown_by returns once its deadline has passed");
    assert_eq!(
        (m.sent.get(), m.send_failed.get(), m.queue_size.get()),
        (0, 15, 0),
        "two abandoned in-flight requests and three queued ones, all counted as failed"
    );
}

#[tokio::test]
async fn grpc_shutdown_refuses_new_data_and_bounds_the_drain() {
    // The backend never answers; each request times out after 300ms.
    let (backend, _gate) = Backend::gated();
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let config = grpc_yaml(
        addr,
        "timeout: 300ms\nsending_queue:\n  queue_size: 1\n  num_consumers: 1",
    );
    let exporter = build_grpc(&config, &ctx).unwrap();
    let m = metrics(&ctx, Signal::Traces);

    exporter.consume(traces(1, "in-flight")).await.unwrap();
    wait_until("the first request is in flight", || backend.calls() == 1).await;
    exporter.consume(traces(2, "queued")).await.unwrap();
    let blocked = tokio::spawn({
        let exporter = Arc::clone(&exporter);
        async move { exporter.consume(traces(4, "waiting")).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;

    exporter.shutdown().await;

    let err = blocked.await.unwrap().unwrap_err();
    assert!(matches!(err, ConsumeError::Unavailable(_)), "{err:?}");
    assert_eq!(m.enqueue_failed.get(), 4);
    // The in-flight request timed out and was not retried; the queued one timed out or was
    // dropped at the drain deadline. Either way, counted.
    assert_eq!((m.sent.get(), m.send_failed.get()), (0, 3));

    let err = exporter.consume(traces(8, "late")).await.unwrap_err();
    assert!(matches!(err, ConsumeError::Unavailable(_)), "{err:?}");
    assert_eq!(m.enqueue_failed.get(), 12);
}

#[tokio::test]
async fn grpc_shutdown_stops_retrying_and_counts_the_request_failed() {
    let backend = Backend::scripted(vec![Reply::Fail(Code::Unavailable, None); 100]);
    let addr = serve_grpc(&backend, true).await;
    let ctx = ctx("otlp");
    let config = grpc_config(&format!(
        "endpoint: {addr}\ntls:\n  insecure: true\nretry_on_failure:\n  initial_interval: 1h\n  max_interval: 1h"
    ));
    let exporter = build_grpc(&config, &ctx).unwrap();
    let m = metrics(&ctx, Signal::Traces);

    exporter.consume(traces(3, "retrying")).await.unwrap();
    wait_until("the first attempt failed", || backend.calls() == 1).await;
    // Waiting an hour for the retry would hang the test; shutdown cuts the wait short.
    exporter.shutdown().await;

    assert_eq!(backend.calls(), 1);
    assert_eq!((m.sent.get(), m.send_failed.get()), (0, 3));
}

#[tokio::test]
async fn grpc_build_rejects_a_malformed_header() {
    let ctx = ctx("otlp");
    let config: OtlpExporterConfig =
        serde_norway::from_str("endpoint: http://localhost:4317\nheaders:\n  \"bad header\": x").unwrap();
    // Validation refuses it first (so `collector validate` does), and a config built in
    // code without validating is still refused by the build.
    let err = config.validate("exporters.otlp").unwrap_err();
    assert_eq!(err.path, "exporters.otlp.headers.bad header");
    match build_grpc(&config, &ctx) {
        Err(BuildError::Invalid { message, .. }) => assert!(message.contains("bad header"), "{message}"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a header name with a space must be rejected"),
    }
}

// ---------------------------------------------------------------------------------------
// The OTLP/HTTP test server
// ---------------------------------------------------------------------------------------

/// One scripted HTTP answer; after the script runs out the server answers 200 with no body.
#[derive(Debug, Clone)]
struct HttpReply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl HttpReply {
    fn status(status: u16) -> Self {
        HttpReply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct HttpReceived {
    path: String,
    headers: HeaderMap,
    /// The body after undoing `Content-Encoding`.
    body: Vec<u8>,
}

#[derive(Default)]
struct HttpState {
    script: VecDeque<HttpReply>,
    calls: Vec<Instant>,
    received: Vec<HttpReceived>,
}

type SharedHttp = Arc<Mutex<HttpState>>;

async fn http_handler(
    State(state): State<SharedHttp>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let encoding = headers
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_string());
    let body = match encoding.as_deref() {
        None => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Some("zstd") => zstd::decode_all(&body[..]).unwrap(),
        Some(other) => panic!("unexpected content-encoding {other}"),
    };
    let mut state = state.lock().unwrap();
    state.calls.push(Instant::now());
    state.received.push(HttpReceived {
        path: uri.path().to_string(),
        headers,
        body,
    });
    let reply = state.script.pop_front().unwrap_or(HttpReply::status(200));
    let mut response = (
        axum::http::StatusCode::from_u16(reply.status).unwrap(),
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

async fn serve_http(replies: impl IntoIterator<Item = HttpReply>) -> (SocketAddr, SharedHttp) {
    let state = SharedHttp::default();
    state.lock().unwrap().script.extend(replies);
    let app = axum::Router::new()
        .fallback(http_handler)
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, state)
}

fn http_yaml(addr: SocketAddr, extra: &str) -> OtlpHttpExporterConfig {
    http_config(&format!("endpoint: http://{addr}\n{FAST_RETRY}\n{extra}"))
}

// ---------------------------------------------------------------------------------------
// OTLP/HTTP
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn http_posts_gzip_protobuf_to_v1_traces_by_default() {
    let (addr, state) = serve_http([]).await;
    let ctx = ctx("otlphttp");
    let exporter = build_http(&http_yaml(addr, "headers:\n  X-Tenant: team-a"), &ctx).unwrap();

    exporter.consume(traces(3, "h")).await.unwrap();
    exporter.shutdown().await;

    let received = state.lock().unwrap().received.clone();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.path, "/v1/traces");
    assert_eq!(r.headers["content-type"], "application/x-protobuf");
    assert_eq!(r.headers["content-encoding"], "gzip");
    assert_eq!(r.headers["x-tenant"], "team-a");
    assert_eq!(
        ExportTraceServiceRequest::decode(&r.body[..]).unwrap(),
        spans(3, "h")
    );
    let m = metrics(&ctx, Signal::Traces);
    assert_eq!((m.sent.get(), m.send_failed.get()), (3, 0));
}

#[tokio::test]
async fn http_json_with_zstd_uses_the_otlp_json_mapping_and_per_signal_urls() {
    let (addr, state) = serve_http([]).await;
    let ctx = ctx("otlphttp");
    let extra =
        format!("encoding: json\ncompression: zstd\ntraces_endpoint: http://{addr}/custom/traces\n{SYNC}");
    let exporter = build_http(&http_yaml(addr, &extra), &ctx).unwrap();

    exporter.consume(traces(2, "j")).await.unwrap();
    exporter.consume(Telemetry::logs(log_records())).await.unwrap();

    let received = state.lock().unwrap().received.clone();
    assert_eq!(received[0].path, "/custom/traces");
    assert_eq!(received[0].headers["content-type"], "application/json");
    assert_eq!(received[0].headers["content-encoding"], "zstd");
    let json: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    // OTLP/JSON: lowerCamelCase field names and hex-encoded ids.
    let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["traceId"], "01010101010101010101010101010101");
    assert_eq!(span["name"], "j-0");
    let decoded: ExportTraceServiceRequest = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(decoded, spans(2, "j"));

    assert_eq!(received[1].path, "/v1/logs");
    let decoded: ExportLogsServiceRequest = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(decoded, log_records());
    assert_eq!(metrics(&ctx, Signal::Logs).sent.get(), 2);
}

#[tokio::test]
async fn http_raw_payloads_are_posted_as_their_bytes_or_decoded_for_json() {
    let (addr, state) = serve_http([]).await;
    let ctx = ctx("otlphttp");
    let proto = build_http(
        &http_yaml(
            addr,
            &format!(
                "compression: none
{SYNC}"
            ),
        ),
        &ctx,
    )
    .unwrap();
    proto.consume(raw_traces(2, "p")).await.unwrap();
    let json = build_http(
        &http_yaml(
            addr,
            &format!(
                "encoding: json
{SYNC}"
            ),
        ),
        &ctx,
    )
    .unwrap();
    json.consume(raw_logs()).await.unwrap();

    let received = state.lock().unwrap().received.clone();
    assert_eq!(
        received[0].body,
        spans(2, "p").encode_to_vec(),
        "the raw bytes, unchanged"
    );
    assert_eq!(received[1].headers["content-type"], "application/json");
    let decoded: ExportLogsServiceRequest = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(decoded, log_records());
}

#[tokio::test]
async fn http_compression_none_sends_a_plain_body() {
    let (addr, state) = serve_http([]).await;
    let ctx = ctx("otlphttp");
    // A trailing slash on the endpoint does not double the path separator.
    let config = http_config(&format!("endpoint: http://{addr}/\ncompression: none\n{SYNC}"));
    let exporter = build_http(&config, &ctx).unwrap();

    exporter
        .consume(Telemetry::Metrics(metric_points()))
        .await
        .unwrap();

    let received = state.lock().unwrap().received.clone();
    assert_eq!(received[0].path, "/v1/metrics");
    assert!(received[0].headers.get("content-encoding").is_none());
    assert_eq!(
        ExportMetricsServiceRequest::decode(&received[0].body[..]).unwrap(),
        metric_points()
    );
    assert_eq!(metrics(&ctx, Signal::Metrics).sent.get(), 3);
}

#[tokio::test]
async fn http_503_is_retried_until_200() {
    let (addr, state) = serve_http([HttpReply::status(503), HttpReply::status(502)]).await;
    let ctx = ctx("otlphttp");
    let exporter = build_http(&http_yaml(addr, SYNC), &ctx).unwrap();

    exporter.consume(traces(2, "r")).await.unwrap();

    assert_eq!(state.lock().unwrap().calls.len(), 3);
    let m = metrics(&ctx, Signal::Traces);
    assert_eq!((m.sent.get(), m.send_failed.get()), (2, 0));
}

#[tokio::test]
async fn http_retry_after_is_honoured() {
    let throttled = HttpReply {
        headers: vec![("retry-after", "1".into())],
        ..HttpReply::status(429)
    };
    let (addr, state) = serve_http([throttled]).await;
    let ctx = ctx("otlphttp");
    let exporter = build_http(&http_yaml(addr, SYNC), &ctx).unwrap();

    exporter.consume(traces(1, "t")).await.unwrap();

    let calls = state.lock().unwrap().calls.clone();
    assert_eq!(calls.len(), 2);
    let gap = calls[1] - calls[0];
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before Retry-After: 1"
    );
    assert_eq!(metrics(&ctx, Signal::Traces).sent.get(), 1);
}

#[tokio::test]
async fn http_400_is_permanent_and_reports_the_servers_status_message() {
    let status = tonic_types::pb::Status {
        code: 3,
        message: "span name is empty".into(),
        details: vec![],
    };
    let bad = HttpReply {
        headers: vec![("content-type", "application/x-protobuf".into())],
        body: status.encode_to_vec(),
        ..HttpReply::status(400)
    };
    let (addr, state) = serve_http([bad]).await;
    let ctx = ctx("otlphttp");
    let exporter = build_http(&http_yaml(addr, SYNC), &ctx).unwrap();

    let err = exporter.consume(traces(2, "bad")).await.unwrap_err();

    match err {
        ConsumeError::Permanent(message) => {
            assert!(message.contains("400"), "{message}");
            assert!(message.contains("span name is empty"), "{message}");
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert_eq!(state.lock().unwrap().calls.len(), 1);
    assert_eq!(metrics(&ctx, Signal::Traces).send_failed.get(), 2);

    // A proxy's plain-text answer is quoted as text, not decoded as protobuf.
    let too_large = HttpReply {
        headers: vec![("content-type", "text/plain".into())],
        body: b"request entity too large\n".to_vec(),
        ..HttpReply::status(413)
    };
    state.lock().unwrap().script.push_back(too_large);
    match exporter.consume(traces(1, "big")).await.unwrap_err() {
        ConsumeError::Permanent(message) => {
            assert!(
                message.contains("413") && message.contains(": request entity too large"),
                "{message}"
            )
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn http_partial_success_counts_rejected_items_as_failed() {
    let proto = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "too old".into(),
        }),
    };
    let proto_reply = HttpReply {
        headers: vec![("content-type", "application/x-protobuf".into())],
        body: proto.encode_to_vec(),
        ..HttpReply::status(200)
    };
    // OTLP/JSON writes int64 as a string.
    let json_reply = HttpReply {
        headers: vec![("content-type", "application/json".into())],
        body: br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#.to_vec(),
        ..HttpReply::status(200)
    };
    let (addr, _state) = serve_http([proto_reply, json_reply]).await;
    let ctx = ctx("otlphttp");
    let exporter = build_http(&http_yaml(addr, SYNC), &ctx).unwrap();

    exporter.consume(traces(5, "p")).await.unwrap();
    exporter.consume(traces(5, "q")).await.unwrap();

    let m = metrics(&ctx, Signal::Traces);
    assert_eq!((m.sent.get(), m.send_failed.get()), (7, 3));
}

#[tokio::test]
async fn http_refused_connection_is_retried_then_counted_failed() {
    // A port that was just free: nothing listens there.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let ctx = ctx("otlphttp");
    let config = http_config(&format!(
        "endpoint: http://{addr}\nretry_on_failure:\n  initial_interval: 20ms\n  max_interval: 50ms\n  \
         max_elapsed_time: 200ms\n{SYNC}"
    ));
    let exporter = build_http(&config, &ctx).unwrap();

    let err = exporter.consume(traces(2, "x")).await.unwrap_err();

    assert!(matches!(err, ConsumeError::Unavailable(_)), "{err:?}");
    assert_eq!(metrics(&ctx, Signal::Traces).send_failed.get(), 2);
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
    // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
    assert_eq!(
        parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-5", now), None);
}

/// Regression: a TLS alert from the server after the handshake (a client certificate
/// required and not sent) surfaced as permanent `Unknown: transport error`, naming nothing;
/// a failed connection is UNAVAILABLE (retryable, as grpc-go says) and names its cause.
#[test]
fn grpc_transport_failures_are_unavailable_and_name_their_cause() {
    let alert = std::io::Error::other("received fatal alert: CertificateRequired");
    let status = Status::from_error(Box::new(alert));
    match super::grpc::classify(&status) {
        crate::exporters::queue::SendError::Retryable { message, .. } => {
            assert!(message.starts_with("Unavailable"), "{message}");
            assert!(message.contains("CertificateRequired"), "{message}");
        }
        other => panic!("not retryable: {other:?}"),
    }
    // A status the server sent keeps its code.
    let sent = Status::new(Code::Unknown, "boom");
    assert!(matches!(
        super::grpc::classify(&sent),
        crate::exporters::queue::SendError::Permanent { .. }
    ));
}

/// `exporters.otlp.tls` settings that contradict the endpoint, or name missing files, are
/// refused naming the key.
#[test]
fn grpc_tls_config_errors_name_the_key() {
    let c: OtlpExporterConfig =
        serde_norway::from_str("endpoint: http://collector:4317\ntls:\n  ca_file: /ca.pem").unwrap();
    let err = c.validate("exporters.otlp").unwrap_err();
    assert_eq!(err.path, "exporters.otlp.tls");
    let c = grpc_config("endpoint: collector:4317\ntls:\n  ca_file: /nonexistent/ca.pem");
    c.validate("exporters.otlp").unwrap();
    let err = c.tls.build("exporters.otlp.tls", &[]).unwrap_err();
    assert_eq!(err.path, "exporters.otlp.tls.ca_file");
}

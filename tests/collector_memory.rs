//! The memory limit holds under overload, and nothing accepted is lost.
//!
//! A load generator pushes spans over gRPC far faster than a deliberately slow OTLP sink
//! (one request at a time, 100 ms each, and batches of 1000 spans: 10k spans/s) can take
//! them from the collector's `otlp` exporter. Spans travel as their protobuf bytes (about
//! 250 bytes each), so the sink must be this slow for the queue to reach the limit. With `memory_limiter.limit_mib: 64`, the collector must keep its resident
//! memory under 64 MiB + 10%, refuse the excess with `RESOURCE_EXHAUSTED` (which the
//! load generator counts), and, once the load stops, export every span it accepted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// An OTLP trace sink that takes one request at a time and sleeps on each, so the
/// collector's exporter is the bottleneck.
#[derive(Clone, Default)]
struct SlowSink {
    spans: Arc<AtomicU64>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

#[tonic::async_trait]
impl TraceService for SlowSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _one_at_a_time = self.lock.lock().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.spans.fetch_add(n as u64, Ordering::SeqCst);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn request(spans_per_request: usize, seq: u64) -> ExportTraceServiceRequest {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let spans = (0..spans_per_request)
        .map(|i| Span {
            trace_id: (seq * 1_000_000 + i as u64).to_be_bytes().repeat(2),
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: "GET /api/checkout".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_050_000_000,
            attributes: vec![
                attr("http.request.method", "GET"),
                attr("http.route", "/api/checkout"),
                attr("server.address", "checkout.shop.svc"),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr("service.name", "loadgen")],
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

#[test]
fn memory_limit_holds_under_overload_and_accepted_equals_exported() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sink = SlowSink::default();
        let sink_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink_addr = sink_listener.local_addr().unwrap();
        let sink_service = sink.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(sink_service))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(sink_listener))
                .await
                .unwrap();
        });

        let dir = tempfile::tempdir().unwrap();
        let (grpc, tel) = (free_port(), free_port());
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n\
             processors:\n  memory_limiter:\n    check_interval: 100ms\n    limit_mib: 64\n  batch:\n    send_batch_size: 1000\n    send_batch_max_size: 1000\n\
             exporters:\n  otlp:\n    endpoint: http://{sink_addr}\n    tls:\n      insecure: true\n    compression: none\n\
             service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{tel}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [memory_limiter, batch]\n      exporters: [otlp]\n"
        );
        let cfg = write_file(dir.path(), "c.yaml", &yaml);
        let collector =
            spawn("collector", &burnwatch_bin(), &["collector", "--config", cfg.to_str().unwrap()], dir.path(), &[]);
        let endpoint = format!("http://127.0.0.1:{grpc}");
        let mut client = None;
        for _ in 0..100 {
            if let Ok(c) = TraceServiceClient::connect(endpoint.clone()).await {
                client = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let client = client.unwrap_or_else(|| panic!("collector did not start:\n{}", collector.output()));

        // Load: 4 concurrent senders of 1000-span requests for 15 seconds.
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for worker in 0..4u64 {
            let mut client = client.clone().max_decoding_message_size(64 << 20);
            let (accepted, refused, stop) = (accepted.clone(), refused.clone(), stop.clone());
            senders.push(tokio::spawn(async move {
                let mut seq = worker * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    match client.export(request(1000, seq)).await {
                        Ok(_) => {
                            accepted.fetch_add(1000, Ordering::Relaxed);
                        }
                        Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                            refused.fetch_add(1000, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(status) => panic!("unexpected status {status:?}"),
                    }
                }
            }));
        }
        let mut peak_rss = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            peak_rss = peak_rss.max(collector.rss_bytes().unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            s.await.unwrap();
        }
        let accepted = accepted.load(Ordering::SeqCst);
        let refused = refused.load(Ordering::SeqCst);
        eprintln!(
            "accepted {accepted} spans, refused {refused}, peak RSS {:.1} MiB",
            peak_rss as f64 / (1 << 20) as f64
        );
        let limit = 64.0 * 1.1 * (1 << 20) as f64;
        assert!((peak_rss as f64) < limit, "peak RSS {peak_rss} bytes is over 64 MiB + 10%:\n{}", collector.output());
        assert!(refused > 0, "the load never pushed the collector to refuse data");
        assert!(accepted > 0, "nothing was accepted");

        // Drain: every accepted span reaches the sink.
        let deadline = Instant::now() + Duration::from_secs(240);
        while sink.spans.load(Ordering::SeqCst) < accepted && Instant::now() < deadline {
            peak_rss = peak_rss.max(collector.rss_bytes().unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!((peak_rss as f64) < limit, "peak RSS {peak_rss} while draining");
        let exported = sink.spans.load(Ordering::SeqCst);
        assert_eq!(exported, accepted, "spans accepted by the collector vs spans the sink received");
        let (_, telemetry) = http_get(&format!("http://127.0.0.1:{tel}/metrics")).unwrap();
        assert_eq!(
            sample_value(&telemetry, "otelcol_receiver_accepted_spans_total", &[("transport", "grpc")]),
            Some(accepted as f64)
        );
        assert_eq!(
            sample_value(&telemetry, "otelcol_exporter_sent_spans_total", &[("exporter", "otlp")]),
            Some(accepted as f64)
        );
        assert_eq!(
            sample_value(&telemetry, "otelcol_receiver_refused_spans_total", &[("transport", "grpc")]),
            Some(refused as f64)
        );
    });
}

//! An OTLP/gRPC trace sink slower than the collector, and the trace requests the collector
//! tests send it through the collector.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// An OTLP trace sink that takes one request at a time and sleeps `delay` on each, so the
/// collector's exporter is the bottleneck. `spans` counts what it received.
#[derive(Clone)]
pub struct SlowSink {
    pub spans: Arc<AtomicU64>,
    lock: Arc<tokio::sync::Mutex<()>>,
    delay: Duration,
}

impl SlowSink {
    /// A sink spending `delay` on each request.
    pub fn new(delay: Duration) -> SlowSink {
        SlowSink {
            spans: Arc::default(),
            lock: Arc::default(),
            delay,
        }
    }
}

#[tonic::async_trait]
impl TraceService for SlowSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _one_at_a_time = self.lock.lock().await;
        tokio::time::sleep(self.delay).await;
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

/// A trace request of `spans` server spans of about 250 bytes (HTTP attributes), with ids
/// unique across `seq`.
pub fn trace_request(spans: usize, seq: u64) -> ExportTraceServiceRequest {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let spans = (0..spans as u64)
        .map(|i| Span {
            trace_id: (seq * 1_000_000 + i + 1).to_be_bytes().repeat(2),
            span_id: (i + 1).to_be_bytes().to_vec(),
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
                attributes: vec![attr("service.name", "checkout")],
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

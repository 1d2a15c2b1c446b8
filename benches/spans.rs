//! Pre-encoded OTLP trace requests shared by the benches: spans of about 250 bytes on the
//! wire, the size the targets are stated for.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

fn attr(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// A request of `n` spans, each about 250 bytes encoded.
pub fn trace_request(n: usize, seed: u64) -> ExportTraceServiceRequest {
    let spans = (0..n as u64)
        .map(|i| Span {
            trace_id: [(seed << 32 | i).to_be_bytes(), i.to_le_bytes()].concat(),
            span_id: (seed ^ (i + 1)).to_be_bytes().to_vec(),
            parent_span_id: (i + 7).to_be_bytes().to_vec(),
            name: "POST /api/checkout".into(),
            kind: 2,
            start_time_unix_nano: 1_764_000_000_000_000_000 + i * 1_000,
            end_time_unix_nano: 1_764_000_000_050_000_000 + i * 1_000,
            attributes: vec![
                attr("http.request.method", "POST"),
                attr("http.route", "/api/checkout"),
                attr("server.address", "checkout.svc"),
                attr("user_agent.original", "loadgen/1.0"),
                KeyValue {
                    key: "http.response.status_code".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(200)),
                    }),
                    ..Default::default()
                },
            ],
            status: Some(Status {
                code: 1,
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    attr("service.name", "checkout"),
                    attr("service.namespace", "shop"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "loadgen".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

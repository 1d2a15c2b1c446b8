//! Tests for the OTLP receiver: every HTTP status through the router without a socket,
//! OTLP/JSON against the spec's rules, and gRPC end to end with the generated tonic
//! clients against servers bound on port 0.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic_types::StatusExt;
use tower::ServiceExt;

use super::body::{self, CappedReadError, ContentCoding};
use super::config::{GrpcServerConfig, HttpServerConfig, OtlpReceiverConfig, Protocols};
use super::json;
use super::{ReceiverCore, Transport, http_router, start};
use crate::component::{BoundAddrs, BuildContext};
use crate::config::ComponentId;
use crate::consumer::{ConsumeError, Consumer, Signal, Telemetry};
use crate::receivers::ReceiverOutputs;
use crate::status::BodyFormat;
use crate::telemetry::{ReceiverMetrics, SelfTelemetry};

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A consumer that records what it is given and answers with a configurable error.
#[derive(Default)]
struct Recording {
    received: Mutex<Vec<Telemetry>>,
    answer: Mutex<Option<ConsumeError>>,
}

impl Recording {
    fn new() -> Arc<Recording> {
        Arc::new(Recording::default())
    }

    fn refusing(err: ConsumeError) -> Arc<Recording> {
        let r = Recording::new();
        *r.answer.lock().unwrap() = Some(err);
        r
    }

    fn received(&self) -> Vec<Telemetry> {
        self.received.lock().unwrap().clone()
    }
}

#[async_trait]
impl Consumer for Recording {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        match self.answer.lock().unwrap().clone() {
            Some(err) => Err(err),
            None => {
                self.received.lock().unwrap().push(data);
                Ok(())
            }
        }
    }
}

fn id() -> ComponentId {
    ComponentId::parse("otlp").unwrap()
}

/// Outputs feeding `consumer` for each of `signals`.
fn outputs(consumer: &Arc<Recording>, signals: &[Signal]) -> ReceiverOutputs {
    let mut out = ReceiverOutputs::default();
    for signal in signals {
        let c: Arc<dyn Consumer> = consumer.clone();
        match signal {
            Signal::Traces => out.traces = Some(c),
            Signal::Metrics => out.metrics = Some(c),
            Signal::Logs => out.logs = Some(c),
        }
    }
    out
}

struct HttpFixture {
    router: axum::Router,
    consumer: Arc<Recording>,
    telemetry: Arc<SelfTelemetry>,
}

impl HttpFixture {
    fn with(consumer: Arc<Recording>, signals: &[Signal], config: HttpServerConfig) -> HttpFixture {
        let telemetry = SelfTelemetry::new();
        let core = ReceiverCore::new(&id(), Transport::Http, &outputs(&consumer, signals), &telemetry);
        HttpFixture {
            router: http_router(core, &config),
            consumer,
            telemetry,
        }
    }

    fn new() -> HttpFixture {
        HttpFixture::with(Recording::new(), &Signal::ALL, HttpServerConfig::default())
    }

    fn counters(&self, signal: Signal) -> (u64, u64) {
        let m = ReceiverMetrics::new(&self.telemetry, &id(), "http", signal);
        (m.accepted.get(), m.refused.get())
    }

    /// `otelcol_receiver_refused_requests{reason="too_large"}`.
    fn too_large(&self) -> u64 {
        self.telemetry
            .counter(
                "otelcol_receiver_refused_requests",
                "",
                &[
                    ("reason", "too_large"),
                    ("receiver", "otlp"),
                    ("transport", "http"),
                ],
            )
            .get()
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, path: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> Reply {
        let mut builder = Request::post(path).header(CONTENT_TYPE, content_type);
        if let Some(encoding) = encoding {
            builder = builder.header(CONTENT_ENCODING, encoding);
        }
        self.send(builder.body(Body::from(body)).unwrap()).await
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `google.rpc.Status` of a protobuf error body.
    fn rpc_status(&self) -> tonic_types::pb::Status {
        assert_eq!(self.content_type(), "application/x-protobuf");
        tonic_types::pb::Status::decode(self.body.as_ref()).unwrap()
    }

    fn json(&self) -> serde_json::Value {
        assert_eq!(self.content_type(), "application/json");
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn kv(key: &str, value: AnyValueKind) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Two spans with attributes, as an SDK would send them.
fn traces() -> ExportTraceServiceRequest {
    let span = |n: u8| Span {
        trace_id: vec![0x5b; 16],
        span_id: vec![n; 8],
        name: format!("span-{n}"),
        kind: 2,
        start_time_unix_nano: 1_544_712_660_000_000_000,
        end_time_unix_nano: 1_544_712_661_000_000_000,
        attributes: vec![kv("http.route", AnyValueKind::StringValue("/checkout".into()))],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(1), span(2)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics() -> ExportMetricsServiceRequest {
    let point = |v: i64| NumberDataPoint {
        time_unix_nano: 1_544_712_660_000_000_000,
        value: Some(NumberValue::AsInt(v)),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "queue.depth".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![point(3), point(4), point(5)],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    severity_number: 9,
                    body: Some(AnyValue {
                        value: Some(AnyValueKind::StringValue("hello".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

const PB: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn only_traces(received: &[Telemetry]) -> Vec<ExportTraceServiceRequest> {
    received
        .iter()
        .map(|t| match t {
            Telemetry::Traces(r) => r.decoded().unwrap().into_owned(),
            other => panic!("expected traces, got {other:?}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// OTLP/HTTP: success
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn http_protobuf_traces_reach_the_pipeline_and_are_counted() {
    let fx = HttpFixture::new();
    let reply = fx.post("/v1/traces", PB, None, traces().encode_to_vec()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), PB);
    let response = ExportTraceServiceResponse::decode(reply.body.as_ref()).unwrap();
    assert_eq!(
        response.partial_success, None,
        "full success leaves partial_success unset"
    );
    assert_eq!(only_traces(&fx.consumer.received()), vec![traces()]);
    assert_eq!(fx.counters(Signal::Traces), (2, 0));
    let Telemetry::Traces(payload) = &fx.consumer.received()[0] else {
        panic!("traces expected")
    };
    assert_eq!(
        payload.raw().map(|b| b.to_vec()),
        Some(traces().encode_to_vec()),
        "protobuf bodies are walked, not decoded, and travel on as bytes"
    );
}

#[tokio::test]
async fn http_metrics_and_logs_reach_the_pipeline() {
    let fx = HttpFixture::new();
    assert_eq!(
        fx.post("/v1/metrics", PB, None, metrics().encode_to_vec())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        fx.post("/v1/logs", PB, None, logs().encode_to_vec()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        fx.consumer.received(),
        vec![Telemetry::Metrics(metrics()), Telemetry::logs(logs())]
    );
    assert_eq!(fx.counters(Signal::Metrics), (3, 0));
    assert_eq!(fx.counters(Signal::Logs), (1, 0));
}

#[tokio::test]
async fn http_empty_request_succeeds_without_reaching_the_pipeline() {
    let fx = HttpFixture::new();
    let reply = fx.post("/v1/traces", PB, None, Vec::new()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = fx.post("/v1/logs", JSON, None, b"{}".to_vec()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(fx.consumer.received().is_empty());
    assert_eq!(fx.counters(Signal::Traces), (0, 0));
}

#[tokio::test]
async fn http_gzip_zstd_and_deflate_bodies_are_accepted() {
    let fx = HttpFixture::new();
    let raw = traces().encode_to_vec();
    let zstd = zstd::encode_all(raw.as_slice(), 3).unwrap();
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&raw).unwrap();
    let deflate = zlib.finish().unwrap();
    for (encoding, body) in [
        ("gzip", gzip(&raw)),
        ("zstd", zstd),
        ("deflate", deflate),
        ("identity", raw.clone()),
        ("none", raw),
    ] {
        let reply = fx.post("/v1/traces", PB, Some(encoding), body).await;
        assert_eq!(reply.status, StatusCode::OK, "{encoding}: {:?}", reply.body);
    }
    assert_eq!(only_traces(&fx.consumer.received()), vec![traces(); 5]);
}

#[tokio::test]
async fn http_gzip_json_body_is_accepted() {
    let fx = HttpFixture::new();
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x"}]}]}]}"#;
    let reply = fx.post("/v1/traces", JSON, Some("gzip"), gzip(json)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), serde_json::json!({}));
    assert_eq!(fx.counters(Signal::Traces), (1, 0));
}

#[tokio::test]
async fn http_custom_url_paths_are_served_and_defaults_are_not() {
    let config = HttpServerConfig {
        traces_url_path: "/otlp/spans".into(),
        ..HttpServerConfig::default()
    };
    let fx = HttpFixture::with(Recording::new(), &Signal::ALL, config);
    assert_eq!(
        fx.post("/otlp/spans", PB, None, traces().encode_to_vec())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        fx.post("/v1/traces", PB, None, traces().encode_to_vec())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn http_content_type_parameters_and_case_are_ignored() {
    let fx = HttpFixture::new();
    let reply = fx
        .post(
            "/v1/logs",
            "Application/JSON; charset=utf-8",
            None,
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), JSON);
}

// ---------------------------------------------------------------------------------------
// OTLP/JSON mapping
// ---------------------------------------------------------------------------------------

/// The spec's trace example, with what the spec says a receiver must also take:
/// upper- and lower-case hex ids, 64-bit integers as strings and as numbers, an
/// `intValue` both ways, `kind` as an integer, and unknown fields at every level.
#[tokio::test]
async fn http_json_follows_the_otlp_json_mapping() {
    let fx = HttpFixture::new();
    let json = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}],
                     "futureResourceField": {"nested": [1, 2]}},
        "scopeSpans": [{
          "scope": {"name": "my.library", "version": "1.0.0"},
          "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "EEE19B7EC3C1B173",
            "name": "I'm a server span",
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": 1544712661000000000,
            "kind": 2,
            "attributes": [
              {"key": "as.string", "value": {"intValue": "-9007199254740993"}},
              {"key": "as.number", "value": {"intValue": 42}},
              {"key": "as.double", "value": {"doubleValue": 1.5}},
              {"key": "as.bytes", "value": {"bytesValue": "aGk="}},
              {"key": "as.array", "value": {"arrayValue": {"values": [{"boolValue": true}]}}},
              {"key": "unknown.kind", "value": {"someFutureValue": 1}}
            ],
            "status": {"code": 2, "message": "boom"},
            "aFieldFromTheFuture": "ignored"
          }]
        }]
      }],
      "topLevelUnknown": true
    }"#;
    let reply = fx.post("/v1/traces", JSON, None, json.as_bytes().to_vec()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.json(), serde_json::json!({}));

    let received = only_traces(&fx.consumer.received());
    let resource_spans = &received[0].resource_spans[0];
    let span = &resource_spans.scope_spans[0].spans[0];
    assert_eq!(span.trace_id, hex("5b8efff798038103d269b633813fc60c"));
    assert_eq!(span.span_id, hex("eee19b7ec3c1b174"));
    assert_eq!(span.parent_span_id, hex("eee19b7ec3c1b173"));
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(span.kind, 2);
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
    let value = |i: usize| span.attributes[i].value.as_ref().and_then(|v| v.value.clone());
    assert_eq!(value(0), Some(AnyValueKind::IntValue(-9_007_199_254_740_993)));
    assert_eq!(value(1), Some(AnyValueKind::IntValue(42)));
    assert_eq!(value(2), Some(AnyValueKind::DoubleValue(1.5)));
    assert_eq!(value(3), Some(AnyValueKind::BytesValue(b"hi".to_vec())));
    assert!(matches!(value(4), Some(AnyValueKind::ArrayValue(a)) if a.values.len() == 1));
    assert_eq!(value(5), None, "an AnyValue with only unknown fields is empty");
    assert_eq!(
        resource_spans.resource.as_ref().unwrap().attributes[0]
            .value
            .as_ref()
            .unwrap()
            .value,
        Some(AnyValueKind::StringValue("my.service".into()))
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn http_json_metrics_take_64_bit_values_as_strings_or_numbers() {
    let fx = HttpFixture::new();
    let json = r#"{"resourceMetrics": [{"scopeMetrics": [{"metrics": [
      {"name": "g", "gauge": {"dataPoints": [
        {"asInt": "9223372036854775807", "timeUnixNano": "1544712660300000000"},
        {"asInt": 7, "timeUnixNano": 1544712660300000000},
        {"asDouble": 0.5}
      ]}},
      {"name": "s", "sum": {"aggregationTemporality": 2, "isMonotonic": true,
        "dataPoints": [{"asDouble": 10, "startTimeUnixNano": "1", "unknown": 1}]}},
      {"name": "h", "unit": "s", "histogram": {"aggregationTemporality": 1, "dataPoints": [
        {"count": "3", "sum": 1.5, "bucketCounts": ["1", 2], "explicitBounds": [1.0],
         "exemplars": [{"asInt": "5", "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174"}]}
      ]}}
    ]}]}]}"#;
    let reply = fx.post("/v1/metrics", JSON, None, json.as_bytes().to_vec()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let Telemetry::Metrics(request) = &fx.consumer.received()[0] else {
        panic!("metrics expected")
    };
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Gauge(gauge)) = &metrics[0].data else {
        panic!("gauge expected")
    };
    assert_eq!(gauge.data_points[0].value, Some(NumberValue::AsInt(i64::MAX)));
    assert_eq!(gauge.data_points[0].time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(gauge.data_points[1].value, Some(NumberValue::AsInt(7)));
    assert_eq!(gauge.data_points[1].time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(gauge.data_points[2].value, Some(NumberValue::AsDouble(0.5)));
    let Some(Data::Sum(sum)) = &metrics[1].data else {
        panic!("sum expected")
    };
    assert_eq!((sum.aggregation_temporality, sum.is_monotonic), (2, true));
    assert_eq!(sum.data_points[0].value, Some(NumberValue::AsDouble(10.0)));
    let Some(Data::Histogram(histogram)) = &metrics[2].data else {
        panic!("histogram expected")
    };
    let point = &histogram.data_points[0];
    assert_eq!(
        (point.count, point.sum, point.bucket_counts.clone()),
        (3, Some(1.5), vec![1, 2])
    );
    assert_eq!(
        point.exemplars[0].trace_id,
        hex("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(fx.counters(Signal::Metrics), (5, 0));
}

#[tokio::test]
async fn http_json_logs_decode_severity_body_and_ids() {
    let fx = HttpFixture::new();
    let json = r#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{
      "timeUnixNano": "1544712660300000000", "observedTimeUnixNano": 1544712660300000000,
      "severityNumber": 10, "severityText": "Information",
      "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
      "body": {"stringValue": "Example log record"},
      "attributes": [{"key": "int.attribute", "value": {"intValue": "10"}}]
    }]}]}]}"#;
    let reply = fx.post("/v1/logs", JSON, None, json.as_bytes().to_vec()).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let Telemetry::Logs(payload) = &fx.consumer.received()[0] else {
        panic!("logs expected")
    };
    let request = payload.decoded().unwrap();
    let record = &request.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.severity_number, 10);
    assert_eq!(record.time_unix_nano, record.observed_time_unix_nano);
    assert_eq!(record.span_id, hex("eee19b7ec3c1b174"));
    assert_eq!(
        record.body.as_ref().and_then(|b| b.value.clone()),
        Some(AnyValueKind::StringValue("Example log record".into()))
    );
}

/// What proto3 JSON allows and the serde derives alone reject (see `json` docs).
#[test]
fn json_gaps_in_the_serde_derives_are_worked_around() {
    let json = r#"{"resourceSpans": [{"resource": null, "schemaUrl": null, "scopeSpans": [{"spans": [{
        "name": null,
        "kind": "2",
        "droppedAttributesCount": "3",
        "links": null,
        "status": {"code": "STATUS_CODE_ERROR"},
        "attributes": [
          {"key": "empty.array", "value": {"arrayValue": {}}},
          {"key": "empty.kvlist", "value": {"kvlistValue": {"values": null}}},
          {"value": {"stringValue": "no key"}}
        ]
      }, {"kind": "SPAN_KIND_CLIENT"}]}]}]}"#;
    let request: ExportTraceServiceRequest = json::decode_json(json.as_bytes()).unwrap();
    let spans = &request.resource_spans[0].scope_spans[0].spans;
    assert_eq!(
        (
            spans[0].kind,
            spans[0].dropped_attributes_count,
            spans[0].name.as_str()
        ),
        (2, 3, "")
    );
    assert_eq!(spans[0].status.as_ref().unwrap().code, 2);
    assert_eq!(spans[1].kind, 3);
    let attrs = &spans[0].attributes;
    assert!(
        matches!(&attrs[0].value.as_ref().unwrap().value, Some(AnyValueKind::ArrayValue(a)) if a.values.is_empty())
    );
    assert!(
        matches!(&attrs[1].value.as_ref().unwrap().value, Some(AnyValueKind::KvlistValue(k)) if k.values.is_empty())
    );
    assert_eq!(attrs[2].key, "");

    let logs: ExportLogsServiceRequest = json::decode_json(
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN"}]}]}]}"#,
    )
    .unwrap();
    assert_eq!(
        logs.resource_logs[0].scope_logs[0].log_records[0].severity_number,
        13
    );
}

#[tokio::test]
async fn http_invalid_json_is_400_with_a_json_status_naming_the_field() {
    let fx = HttpFixture::new();
    let json = r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not-hex"}]}]}]}"#;
    let reply = fx.post("/v1/traces", JSON, None, json.as_bytes().to_vec()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let status = reply.json();
    assert_eq!(status["code"], 3);
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
        "{message}"
    );
    assert_eq!(
        status["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(
        status["details"][0]["fieldViolations"][0]["field"],
        "resourceSpans[0].scopeSpans[0].spans[0].traceId"
    );
    assert!(fx.consumer.received().is_empty());

    let reply = fx
        .post("/v1/traces", JSON, None, b"{\"resourceSpans\": [".to_vec())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.json()["message"].as_str().unwrap().contains("line 1"),
        "syntax errors name the position"
    );
}

#[tokio::test]
async fn http_invalid_protobuf_is_400_with_a_protobuf_status() {
    let fx = HttpFixture::new();
    let reply = fx
        .post("/v1/traces", PB, None, vec![0x0a, 0xff, 0xff, 0xff, 0x01, 0x02])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let status = reply.rpc_status();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(
        status.message.contains("cannot decode the protobuf request body"),
        "{}",
        status.message
    );
    assert!(
        status.message.contains("field 1 (resource_spans) at byte 1"),
        "names the field and the byte: {}",
        status.message
    );
    assert!(fx.consumer.received().is_empty());
}

// ---------------------------------------------------------------------------------------
// OTLP/HTTP: request errors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn http_non_post_is_405_with_allow() {
    let fx = HttpFixture::new();
    for method in ["GET", "PUT", "DELETE"] {
        let request = Request::builder()
            .method(method)
            .uri("/v1/traces")
            .body(Body::empty())
            .unwrap();
        let reply = fx.send(request).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.headers[ALLOW], "POST");
    }
}

#[tokio::test]
async fn http_other_content_types_are_415() {
    let fx = HttpFixture::new();
    for content_type in ["text/plain", "application/protobuf", ""] {
        let reply = fx
            .post("/v1/traces", content_type, None, traces().encode_to_vec())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        let text = String::from_utf8_lossy(&reply.body);
        assert!(text.contains("application/x-protobuf"), "{text}");
    }
    assert!(fx.consumer.received().is_empty());
}

#[tokio::test]
async fn http_unknown_content_encoding_is_400() {
    let fx = HttpFixture::new();
    let reply = fx
        .post("/v1/traces", PB, Some("br"), traces().encode_to_vec())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.rpc_status().message.contains("\"br\""));
}

#[tokio::test]
async fn http_corrupt_gzip_is_400() {
    let fx = HttpFixture::new();
    let mut body = gzip(&traces().encode_to_vec());
    let mid = body.len() / 2;
    body[mid] ^= 0xff;
    body.truncate(body.len() - 4);
    let reply = fx.post("/v1/traces", JSON, Some("gzip"), body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("not valid gzip data")
    );
}

#[tokio::test]
async fn http_body_over_the_limit_on_the_wire_is_413() {
    let config = HttpServerConfig {
        max_request_body_size: 1024,
        ..HttpServerConfig::default()
    };
    let fx = HttpFixture::with(Recording::new(), &Signal::ALL, config);
    // With a Content-Length.
    let reply = fx.post("/v1/traces", PB, None, vec![0u8; 2048]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.rpc_status().message.contains("1024 bytes as sent"));
    // Streamed without a length: counted while read.
    let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 512])));
    let request = Request::post("/v1/traces")
        .header(CONTENT_TYPE, PB)
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    assert_eq!(fx.send(request).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(fx.consumer.received().is_empty());
    assert_eq!(fx.too_large(), 2, "both refusals are counted");
}

#[tokio::test]
async fn http_gzip_bomb_of_10_mib_is_413_after_decompression() {
    let config = HttpServerConfig {
        max_request_body_size: 1024 * 1024,
        ..HttpServerConfig::default()
    };
    let fx = HttpFixture::with(Recording::new(), &Signal::ALL, config);
    let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
    assert!(
        bomb.len() < 64 * 1024,
        "a bomb is small on the wire ({} bytes)",
        bomb.len()
    );
    let reply = fx.post("/v1/traces", PB, Some("gzip"), bomb).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.rpc_status().message.contains("after decompression"));
    assert!(fx.consumer.received().is_empty());
    assert_eq!(fx.too_large(), 1);
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// 1 GiB of zeros as 64 concatenated gzip members (Go's reader and ours read them as one
/// stream), and as 64 zstd frames: about 1 MiB and 32 KiB on the wire. The default
/// 20 MiB limit answers 413, and the process never comes near holding 1 GiB.
#[tokio::test]
async fn http_one_gib_bombs_are_413_without_inflating() {
    let fx = HttpFixture::new();
    let sixteen_mib = vec![0u8; 16 * 1024 * 1024];
    let gzip_member = gzip(&sixteen_mib);
    let zstd_frame = zstd::encode_all(sixteen_mib.as_slice(), 1).unwrap();
    drop(sixteen_mib);
    for (encoding, unit) in [("gzip", gzip_member), ("zstd", zstd_frame)] {
        let bomb: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * 64).collect();
        assert!(
            bomb.len() < 20 * 1024 * 1024,
            "{encoding} bomb fits under the wire limit"
        );
        let reply = fx.post("/v1/traces", PB, Some(encoding), bomb).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{encoding}");
        assert!(reply.rpc_status().message.contains("after decompression"));
    }
    if let Some(peak) = peak_rss_bytes() {
        assert!(
            peak < 512 * 1024 * 1024,
            "peak RSS {peak} bytes: a bomb was inflated"
        );
    }
}

#[test]
fn read_capped_stops_an_endless_source_at_limit_plus_one() {
    // std::io::repeat never ends: without the cap this test would not return.
    let err = body::read_capped(std::io::repeat(0), 1000).unwrap_err();
    assert!(matches!(err, CappedReadError::TooLarge));
    let exact = body::read_capped(&[7u8; 1000][..], 1000).unwrap();
    assert_eq!(exact.len(), 1000);
    assert!(exact.capacity() <= 1001, "the buffer never grows past the cap");
}

#[test]
fn zstd_frames_demanding_a_huge_window_are_refused() {
    // A frame compressed with a 2^27 window (long-distance matching) needs 128 MiB of
    // decoder memory; with a 1 MiB limit the decoder refuses it instead.
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    encoder.long_distance_matching(true).unwrap();
    encoder.window_log(27).unwrap();
    encoder.write_all(&vec![1u8; 4 * 1024 * 1024]).unwrap();
    let frame = encoder.finish().unwrap();
    let err = body::decompress(ContentCoding::Zstd, Bytes::from(frame), 1024 * 1024).unwrap_err();
    assert!(err.to_string().contains("zstd"), "{err}");
}

// ---------------------------------------------------------------------------------------
// OTLP/HTTP: pipeline errors and missing pipelines
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn http_refused_data_is_429_with_retry_after_and_counted() {
    let refusing = Recording::refusing(ConsumeError::Refused {
        reason: "memory usage is above the hard limit".into(),
        retry_after: Duration::from_secs(3),
    });
    let fx = HttpFixture::with(refusing, &Signal::ALL, HttpServerConfig::default());
    let reply = fx.post("/v1/traces", PB, None, traces().encode_to_vec()).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.headers[RETRY_AFTER], "3");
    let status = reply.rpc_status();
    assert_eq!(status.code, Code::ResourceExhausted as i32);
    assert_eq!(
        status.details[0].type_url,
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    assert_eq!(fx.counters(Signal::Traces), (0, 2));

    let reply = fx
        .post(
            "/v1/traces",
            JSON,
            None,
            b"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{}]}]}]}".to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.json()["details"][0]["retryDelay"], "3s");
    assert_eq!(fx.counters(Signal::Traces), (0, 3));
}

#[tokio::test]
async fn http_unavailable_is_503_and_permanent_is_400() {
    for (err, expected) in [
        (
            ConsumeError::Unavailable("sending queue is full".into()),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            ConsumeError::Permanent("spans have no name".into()),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let fx = HttpFixture::with(
            Recording::refusing(err),
            &Signal::ALL,
            HttpServerConfig::default(),
        );
        let reply = fx.post("/v1/traces", PB, None, traces().encode_to_vec()).await;
        assert_eq!(reply.status, expected);
        assert!(reply.headers.get(RETRY_AFTER).is_none());
        assert_eq!(fx.counters(Signal::Traces), (0, 2));
    }
}

#[tokio::test]
async fn http_signal_without_pipeline_and_unknown_paths_are_404() {
    let fx = HttpFixture::with(Recording::new(), &[Signal::Traces], HttpServerConfig::default());
    let reply = fx.post("/v1/logs", PB, None, logs().encode_to_vec()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&reply.body).contains("logs pipeline"));
    assert_eq!(
        fx.post("/v1/other", PB, None, Vec::new()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fx.post("/v1/traces", PB, None, traces().encode_to_vec())
            .await
            .status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------------------
// End to end over sockets: start(), gRPC clients, reqwest
// ---------------------------------------------------------------------------------------

struct Running {
    ctx: BuildContext,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    consumer: Arc<Recording>,
}

impl Running {
    async fn start(consumer: Arc<Recording>, signals: &[Signal], grpc: GrpcServerConfig) -> Running {
        let ctx = BuildContext {
            id: id(),
            telemetry: SelfTelemetry::new(),
            shutdown: CancellationToken::new(),
            bound: BoundAddrs::default(),
        };
        let config = OtlpReceiverConfig {
            protocols: Protocols {
                grpc: Some(GrpcServerConfig {
                    endpoint: "127.0.0.1:0".into(),
                    ..grpc
                }),
                http: Some(HttpServerConfig {
                    endpoint: "127.0.0.1:0".into(),
                    ..HttpServerConfig::default()
                }),
            },
        };
        let tasks = start(&config, outputs(&consumer, signals), &ctx, &Default::default())
            .await
            .unwrap();
        Running { ctx, tasks, consumer }
    }

    fn grpc_url(&self) -> String {
        format!("http://{}", self.ctx.bound.get("receivers.otlp.grpc").unwrap())
    }

    fn counters(&self, transport: &str, signal: Signal) -> (u64, u64) {
        let m = ReceiverMetrics::new(&self.ctx.telemetry, &id(), transport, signal);
        (m.accepted.get(), m.refused.get())
    }

    async fn stop(self) {
        self.ctx.shutdown.cancel();
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

#[tokio::test]
async fn grpc_end_to_end_plain_and_gzip() {
    let running = Running::start(Recording::new(), &Signal::ALL, GrpcServerConfig::default()).await;
    let mut client = TraceServiceClient::connect(running.grpc_url()).await.unwrap();
    let response = client.export(traces()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);

    let mut gzip_client = TraceServiceClient::connect(running.grpc_url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    gzip_client.export(traces()).await.unwrap();

    let mut metrics_client = MetricsServiceClient::connect(running.grpc_url()).await.unwrap();
    metrics_client.export(metrics()).await.unwrap();
    let mut logs_client = LogsServiceClient::connect(running.grpc_url()).await.unwrap();
    logs_client.export(logs()).await.unwrap();

    assert_eq!(
        running.consumer.received(),
        vec![
            Telemetry::traces(traces()),
            Telemetry::traces(traces()),
            Telemetry::Metrics(metrics()),
            Telemetry::logs(logs())
        ]
    );
    assert_eq!(running.counters("grpc", Signal::Traces), (4, 0));
    assert_eq!(running.counters("grpc", Signal::Metrics), (3, 0));
    assert_eq!(running.counters("grpc", Signal::Logs), (1, 0));
    assert_eq!(running.counters("http", Signal::Traces), (0, 0));
    running.stop().await;
}

/// Sends `body` as the message of a unary call to `path`, as a client with its own
/// encoder would (malformed bytes included), and returns the status.
async fn grpc_raw_call(url: String, path: &'static str, body: Vec<u8>) -> Result<(), tonic::Status> {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Clone, Copy)]
    struct RawCodec;
    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = ();
        type Encoder = RawCodec;
        type Decoder = RawCodec;
        fn encoder(&mut self) -> RawCodec {
            RawCodec
        }
        fn decoder(&mut self) -> RawCodec {
            RawCodec
        }
    }
    impl Encoder for RawCodec {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            use bytes::BufMut as _;
            dst.put_slice(&item);
            Ok(())
        }
    }
    impl Decoder for RawCodec {
        type Item = ();
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
            use bytes::Buf as _;
            let n = src.remaining();
            src.advance(n);
            Ok(Some(()))
        }
    }
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .map(|_| ())
}

const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

#[tokio::test]
async fn grpc_traces_and_logs_reach_the_pipeline_raw_as_sent() {
    let running = Running::start(Recording::new(), &Signal::ALL, GrpcServerConfig::default()).await;
    let mut client = TraceServiceClient::connect(running.grpc_url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip);
    client.export(traces()).await.unwrap();
    let mut logs_client = LogsServiceClient::connect(running.grpc_url()).await.unwrap();
    logs_client.export(logs()).await.unwrap();
    let received = running.consumer.received();
    match &received[..] {
        [Telemetry::Traces(t), Telemetry::Logs(l)] => {
            assert_eq!(
                t.raw().map(|b| b.to_vec()),
                Some(traces().encode_to_vec()),
                "the bytes travel on as they arrived (after gzip)"
            );
            assert_eq!(l.raw().map(|b| b.to_vec()), Some(logs().encode_to_vec()));
        }
        other => panic!("expected raw traces then logs, got {other:?}"),
    }
    running.stop().await;
}

#[tokio::test]
async fn grpc_malformed_protobuf_is_invalid_argument_naming_the_field() {
    let running = Running::start(Recording::new(), &Signal::ALL, GrpcServerConfig::default()).await;
    // The first span's name is not UTF-8.
    let mut bytes = traces().encode_to_vec();
    let name = traces().resource_spans[0].scope_spans[0].spans[0].name.clone();
    let at = bytes
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .unwrap();
    bytes[at] = 0xff;
    for path in [TRACES_PATH, LOGS_PATH] {
        let body = if path == TRACES_PATH {
            bytes.clone()
        } else {
            vec![0x0a, 0xff, 0xff, 0xff, 0x01, 0x02]
        };
        let status = grpc_raw_call(running.grpc_url(), path, body).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status
                .message()
                .contains("cannot decode the protobuf request body"),
            "{}",
            status.message()
        );
        if path == TRACES_PATH {
            assert!(
                status
                    .message()
                    .contains(&format!("span 0: field 5 (name) at byte {at}: invalid UTF-8")),
                "{}",
                status.message()
            );
            let violations = status.get_details_bad_request().unwrap().field_violations;
            assert_eq!(
                violations[0].field,
                "resource_spans[0].scope_spans[0].spans[0].name"
            );
        }
    }
    assert!(running.consumer.received().is_empty());
    assert_eq!(running.counters("grpc", Signal::Traces), (0, 0));
    // The connection and service still work.
    grpc_raw_call(running.grpc_url(), TRACES_PATH, traces().encode_to_vec())
        .await
        .unwrap();
    assert_eq!(running.counters("grpc", Signal::Traces), (2, 0));
    running.stop().await;
}

#[tokio::test]
async fn grpc_unknown_method_of_a_served_service_is_unimplemented() {
    let running = Running::start(Recording::new(), &Signal::ALL, GrpcServerConfig::default()).await;
    let status = grpc_raw_call(
        running.grpc_url(),
        "/opentelemetry.proto.collector.trace.v1.TraceService/Other",
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    running.stop().await;
}

#[tokio::test]
async fn grpc_refused_is_resource_exhausted_with_retry_info() {
    let refusing = Recording::refusing(ConsumeError::Refused {
        reason: "memory usage is above the hard limit".into(),
        retry_after: Duration::from_millis(2500),
    });
    let running = Running::start(refusing, &Signal::ALL, GrpcServerConfig::default()).await;
    let mut client = TraceServiceClient::connect(running.grpc_url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip);
    let status = client.export(traces()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("memory usage"), "{}", status.message());
    let retry = status.get_details_retry_info().expect("RetryInfo detail");
    assert_eq!(retry.retry_delay, Some(Duration::from_millis(2500)));
    assert_eq!(running.counters("grpc", Signal::Traces), (0, 2));
    running.stop().await;
}

#[tokio::test]
async fn grpc_unavailable_and_permanent_codes() {
    for (err, code) in [
        (ConsumeError::Unavailable("queue full".into()), Code::Unavailable),
        (ConsumeError::Permanent("bad data".into()), Code::InvalidArgument),
    ] {
        let running = Running::start(
            Recording::refusing(err),
            &Signal::ALL,
            GrpcServerConfig::default(),
        )
        .await;
        let mut client = LogsServiceClient::connect(running.grpc_url()).await.unwrap();
        let status = client.export(logs()).await.unwrap_err();
        assert_eq!(status.code(), code);
        assert!(status.get_details_retry_info().is_none());
        running.stop().await;
    }
}

#[tokio::test]
async fn grpc_signal_without_pipeline_is_unimplemented() {
    let running = Running::start(Recording::new(), &[Signal::Traces], GrpcServerConfig::default()).await;
    let mut client = LogsServiceClient::connect(running.grpc_url()).await.unwrap();
    let status = client.export(logs()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let mut traces_client = TraceServiceClient::connect(running.grpc_url()).await.unwrap();
    traces_client.export(traces()).await.unwrap();
    running.stop().await;
}

/// Regression (issue #12, item 11): a message over `max_recv_msg_size_mib` is
/// `RESOURCE_EXHAUSTED` (tonic said `OUT_OF_RANGE` for an uncompressed one, which SDKs
/// retry), on every signal, compressed or not, and counted as refused.
#[tokio::test]
async fn grpc_message_over_max_recv_msg_size_is_resource_exhausted_and_counted() {
    let grpc = GrpcServerConfig {
        max_recv_msg_size_mib: 1,
        ..GrpcServerConfig::default()
    };
    let running = Running::start(Recording::new(), &Signal::ALL, grpc).await;
    let mut big = traces();
    big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(2 * 1024 * 1024);
    let refused_requests = || {
        running.ctx.telemetry.counter(
            "otelcol_receiver_refused_requests",
            "",
            &[
                ("reason", "too_large"),
                ("receiver", "otlp"),
                ("transport", "grpc"),
            ],
        )
    };
    // Compressed it is tiny; the limit applies to the inflated message.
    let mut gzipped = TraceServiceClient::connect(running.grpc_url())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip);
    let status = gzipped.export(big.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("limit"), "{status:?}");
    // Uncompressed, tonic refuses the declared length before reading it.
    let mut plain = TraceServiceClient::connect(running.grpc_url()).await.unwrap();
    let status = plain.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("limit"), "{status:?}");
    let mut big_metrics = metrics();
    if let Some(Data::Gauge(g)) = &mut big_metrics.resource_metrics[0].scope_metrics[0].metrics[0].data {
        g.data_points[0].attributes.push(KeyValue {
            key: "big".into(),
            value: Some(AnyValue {
                value: Some(AnyValueKind::StringValue("y".repeat(2 * 1024 * 1024))),
            }),
            ..Default::default()
        });
    }
    let status = MetricsServiceClient::connect(running.grpc_url())
        .await
        .unwrap()
        .export(big_metrics)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(refused_requests().get(), 3);
    assert!(running.consumer.received().is_empty());
    // The connection still serves requests within the limit.
    plain.export(traces()).await.unwrap();
    running.stop().await;
}

#[tokio::test]
async fn http_over_a_socket_and_graceful_shutdown() {
    let running = Running::start(Recording::new(), &Signal::ALL, GrpcServerConfig::default()).await;
    let addr = running.ctx.bound.get("receivers.otlp.http").unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/traces"))
        .header(CONTENT_TYPE, PB)
        .body(traces().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], PB);
    assert_eq!(running.counters("http", Signal::Traces), (2, 0));
    let grpc_addr = running.ctx.bound.get("receivers.otlp.grpc").unwrap();
    running.stop().await;
    // Both listeners are closed once the tasks have finished.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(tokio::net::TcpStream::connect(grpc_addr).await.is_err());
}

#[tokio::test]
async fn start_fails_naming_the_component_when_the_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = taken.local_addr().unwrap().to_string();
    let ctx = BuildContext {
        id: id(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    };
    let config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcServerConfig {
                endpoint: "127.0.0.1:0".into(),
                ..GrpcServerConfig::default()
            }),
            http: Some(HttpServerConfig {
                endpoint: endpoint.clone(),
                ..HttpServerConfig::default()
            }),
        },
    };
    let err = start(&config, ReceiverOutputs::default(), &ctx, &Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("otlp") && err.contains(&endpoint), "{err}");
    // The gRPC listener bound first was released, not left serving.
    let grpc = ctx.bound.get("receivers.otlp.grpc").unwrap();
    assert!(tokio::net::TcpStream::connect(grpc).await.is_err());
}

#[test]
fn body_format_content_types() {
    assert_eq!(BodyFormat::Protobuf.content_type(), PB);
    assert_eq!(BodyFormat::Json.content_type(), JSON);
    assert_eq!(ContentCoding::parse(" GZIP "), Some(ContentCoding::Gzip));
    assert_eq!(ContentCoding::parse("br"), None);
}

#[test]
fn config_rejects_two_signals_on_one_path() {
    let config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: None,
            http: Some(HttpServerConfig {
                logs_url_path: "/v1/traces".into(),
                ..HttpServerConfig::default()
            }),
        },
    };
    let err = config.validate("receivers.otlp").unwrap_err().to_string();
    assert_eq!(
        err,
        "receivers.otlp.protocols.http.logs_url_path must differ from traces_url_path, both are \"/v1/traces\""
    );
}

/// Metrics whose data or value holds one field the derives reject must not decode as
/// "no data" (serde turns errors inside a flattened oneof into `None`).
#[test]
fn json_metrics_never_lose_data_silently() {
    let wrap =
        |metric: &str| format!(r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{metric}]}}]}}]}}"#);

    // Fixable by normalization: the data survives.
    let fixable = wrap(
        r#"{"name":"g","gauge":{"dataPoints":[{"asInt":"5","flags":"1","attributes":null}]}},
           {"name":"s","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","dataPoints":[{"asDouble":2.5}]}}"#,
    );
    let request: ExportMetricsServiceRequest = json::decode_json(fixable.as_bytes()).unwrap();
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Gauge(gauge)) = &metrics[0].data else {
        panic!("gauge lost: {:?}", metrics[0])
    };
    assert_eq!(
        (gauge.data_points[0].value, gauge.data_points[0].flags),
        (Some(NumberValue::AsInt(5)), 1)
    );
    let Some(Data::Sum(sum)) = &metrics[1].data else {
        panic!("sum lost: {:?}", metrics[1])
    };
    assert_eq!(sum.aggregation_temporality, 2);
    assert_eq!(sum.data_points[0].value, Some(NumberValue::AsDouble(2.5)));

    // Not fixable: a 400 naming the field, never a silent success.
    let cases = [
        (
            r#"{"name":"g","gauge":{"dataPoints":[{"asInt":"abc"}]}}"#,
            "metrics[0].gauge.dataPoints[0].asInt",
        ),
        (
            r#"{"name":"g","gauge":{"dataPoints":[{"asDouble":"NaN"}]}}"#,
            "metrics[0].gauge.dataPoints[0].asDouble",
        ),
        (
            r#"{"name":"h","histogram":{"dataPoints":[{"count":"zz"}]}}"#,
            "metrics[0].histogram.dataPoints[0].count",
        ),
        (
            r#"{"name":"h","histogram":{"dataPoints":[{"count":"1","exemplars":[{"asInt":"zz"}]}]}}"#,
            "metrics[0].histogram.dataPoints[0].exemplars[0].asInt",
        ),
        (r#"{"name":"g","gauge":5}"#, "metrics[0].gauge"),
    ];
    for (metric, path) in cases {
        let err = json::decode_json::<ExportMetricsServiceRequest>(wrap(metric).as_bytes()).unwrap_err();
        let crate::status::ReceiveError::Decode {
            field: Some(field),
            reason,
            ..
        } = &err
        else {
            panic!("{metric}: expected a decode error with a field, got {err:?}")
        };
        assert!(
            field.contains(path),
            "{metric}: field {field} should name {path} ({reason})"
        );
    }
}

#[tokio::test]
async fn http_json_metric_with_a_bad_value_is_400_not_a_silent_success() {
    let fx = HttpFixture::new();
    let json = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asInt":"12x"}]}}]}]}]}"#;
    let reply = fx.post("/v1/metrics", JSON, None, json.to_vec()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let message = reply.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("gauge.dataPoints[0].asInt"), "{message}");
    assert!(fx.consumer.received().is_empty());
}

/// Regression (issue #12, item 11): trace and span ids of the wrong length were
/// acknowledged and forwarded; they are refused with 400 / `INVALID_ARGUMENT` naming the
/// field, as the OTel Collector's pdata refuses them, on every path a request takes (raw
/// protobuf walk, decoded protobuf, OTLP/JSON hex).
#[tokio::test]
async fn ids_of_the_wrong_length_are_400_and_invalid_argument_and_not_forwarded() {
    let fx = HttpFixture::new();

    // Protobuf traces, walked raw: a 5-byte trace id on the second span.
    let mut bad = traces();
    bad.resource_spans[0].scope_spans[0].spans[1].trace_id = vec![1; 5];
    let reply = fx.post("/v1/traces", PB, None, bad.encode_to_vec()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let message = reply.rpc_status().message;
    assert!(
        message.contains("a trace id must be 16 bytes or empty, not 5 bytes"),
        "{message}"
    );
    assert!(message.contains("span 1"), "{message}");

    // Protobuf logs: a 7-byte span id.
    let mut bad = logs();
    bad.resource_logs[0].scope_logs[0].log_records[0].span_id = vec![1; 7];
    let reply = fx.post("/v1/logs", PB, None, bad.encode_to_vec()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.rpc_status().message.contains("a span id must be 8 bytes"));

    // OTLP/JSON: 30 hex digits decode to 15 bytes; a 9-byte parent span id.
    let json = |trace_id: &str, parent: &str| {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{trace_id}","spanId":"0102030405060708","parentSpanId":"{parent}","name":"x"}}]}}]}}]}}"#
        )
        .into_bytes()
    };
    let reply = fx
        .post("/v1/traces", JSON, None, json(&"ab".repeat(15), ""))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let message = reply.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("a trace id must be 16 bytes (32 hex digits"),
        "{message}"
    );
    assert!(message.contains("spans[0].trace_id"), "{message}");
    let reply = fx
        .post("/v1/traces", JSON, None, json(&"ab".repeat(16), &"cd".repeat(9)))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let message = reply.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("spans[0].parent_span_id"), "{message}");
    // Well-formed ids, and absent ones, pass.
    let reply = fx
        .post("/v1/traces", JSON, None, json(&"ab".repeat(16), ""))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        fx.consumer.received().len(),
        1,
        "only the valid request is forwarded"
    );

    // gRPC: raw traces and decoded metrics (an exemplar's trace id).
    let running = Running::start(Recording::new(), &Signal::ALL, GrpcServerConfig::default()).await;
    let mut bad = traces();
    bad.resource_spans[0].scope_spans[0].spans[0].span_id = vec![1; 16];
    let status = TraceServiceClient::connect(running.grpc_url())
        .await
        .unwrap()
        .export(bad)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("a span id must be 8 bytes"),
        "{status:?}"
    );
    let mut bad = metrics();
    if let Some(Data::Gauge(g)) = &mut bad.resource_metrics[0].scope_metrics[0].metrics[0].data {
        g.data_points[0]
            .exemplars
            .push(opentelemetry_proto::tonic::metrics::v1::Exemplar {
                trace_id: vec![1; 17],
                ..Default::default()
            });
    }
    let status = MetricsServiceClient::connect(running.grpc_url())
        .await
        .unwrap()
        .export(bad)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("exemplars[0].trace_id"), "{status:?}");
    assert!(running.consumer.received().is_empty());
    running.stop().await;
}

/// Regression (issue #12, item 11): idle and half-open OTLP/HTTP connections were kept
/// forever; they are closed after `read_header_timeout` / `idle_timeout` (1m by default,
/// as `confighttp`), while a connection that keeps talking is served.
#[tokio::test]
async fn http_connections_silent_past_the_timeouts_are_closed() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    assert_eq!(
        HttpServerConfig::default().inactivity_timeout(),
        Some(Duration::from_secs(60))
    );
    let ctx = BuildContext {
        id: id(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    };
    let consumer = Recording::new();
    let config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: None,
            http: Some(HttpServerConfig {
                endpoint: "127.0.0.1:0".into(),
                read_header_timeout: crate::config::GoDuration(Duration::from_millis(300)),
                idle_timeout: crate::config::GoDuration(Duration::from_millis(600)),
                ..HttpServerConfig::default()
            }),
        },
    };
    let tasks = start(
        &config,
        outputs(&consumer, &Signal::ALL),
        &ctx,
        &Default::default(),
    )
    .await
    .unwrap();
    let addr = ctx.bound.get("receivers.otlp.http").unwrap();

    /// Reads until the server closes the connection (EOF or reset), within a generous
    /// deadline; returns what was read.
    async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(30), async {
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the server kept a silent connection open");
        got
    }

    // Connected, never sends a byte (a half-open or abandoned connection).
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(read_until_closed(&mut silent).await.is_empty());

    // Part of the headers, then silence.
    let mut partial = tokio::net::TcpStream::connect(addr).await.unwrap();
    partial
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    read_until_closed(&mut partial).await;

    // A complete keep-alive request is answered, then the idle connection is closed.
    let mut keep_alive = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = traces().encode_to_vec();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PB}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    keep_alive.write_all(head.as_bytes()).await.unwrap();
    keep_alive.write_all(&body).await.unwrap();
    let answer = read_until_closed(&mut keep_alive).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(consumer.received().len(), 1);

    ctx.shutdown.cancel();
    for task in tasks {
        task.await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// auth: bearertokenauth and basicauth on both transports (issue #12 item 10)
// ---------------------------------------------------------------------------------------

/// A receiver whose gRPC side requires `Bearer s3cret` and whose HTTP side requires
/// Basic `bob:pw`, both over sockets.
async fn start_with_auth(consumer: &Arc<Recording>) -> (BuildContext, Vec<tokio::task::JoinHandle<()>>) {
    use super::config::AuthConfig;
    use crate::extensions::ExtensionConfig;
    use crate::extensions::auth::{BasicAuthConfig, BearerTokenAuthConfig};
    let ctx = BuildContext {
        id: id(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    };
    let mut extensions = std::collections::BTreeMap::new();
    let bearer: BearerTokenAuthConfig = serde_norway::from_str("token: s3cret").unwrap();
    extensions.insert(
        ComponentId::parse("bearertokenauth").unwrap(),
        ExtensionConfig::BearerTokenAuth(bearer),
    );
    let basic: BasicAuthConfig = serde_norway::from_str("htpasswd: {inline: \"bob:pw\"}").unwrap();
    extensions.insert(
        ComponentId::parse("basicauth/users").unwrap(),
        ExtensionConfig::BasicAuth(basic),
    );
    let config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcServerConfig {
                endpoint: "127.0.0.1:0".into(),
                auth: Some(AuthConfig {
                    authenticator: "bearertokenauth".into(),
                }),
                ..GrpcServerConfig::default()
            }),
            http: Some(HttpServerConfig {
                endpoint: "127.0.0.1:0".into(),
                auth: Some(AuthConfig {
                    authenticator: "basicauth/users".into(),
                }),
                ..HttpServerConfig::default()
            }),
        },
    };
    let tasks = start(&config, outputs(consumer, &Signal::ALL), &ctx, &extensions)
        .await
        .unwrap();
    (ctx, tasks)
}

fn unauthenticated_count(telemetry: &SelfTelemetry, transport: &str) -> u64 {
    telemetry
        .counter(
            "otelcol_receiver_refused_requests",
            "",
            &[
                ("reason", "unauthenticated"),
                ("receiver", "otlp"),
                ("transport", transport),
            ],
        )
        .get()
}

#[tokio::test]
async fn grpc_bearer_auth_refuses_unauthenticated_calls_with_unauthenticated() {
    let consumer = Recording::new();
    let (ctx, tasks) = start_with_auth(&consumer).await;
    let url = format!("http://{}", ctx.bound.get("receivers.otlp.grpc").unwrap());
    let mut client = TraceServiceClient::connect(url).await.unwrap();

    let status = client.export(traces()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("missing or empty Authorization header"),
        "{}",
        status.message()
    );

    let mut wrong = tonic::Request::new(traces());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(
        client.export(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert!(
        consumer.received().is_empty(),
        "nothing unauthenticated is forwarded"
    );
    assert_eq!(unauthenticated_count(&ctx.telemetry, "grpc"), 2);

    let mut ok = tonic::Request::new(traces());
    ok.metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    client.export(ok).await.unwrap();
    let mut metrics_client = MetricsServiceClient::new(client_channel(&ctx).await);
    let mut ok = tonic::Request::new(metrics());
    ok.metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    metrics_client.export(ok).await.unwrap();
    assert_eq!(
        consumer.received(),
        vec![Telemetry::traces(traces()), Telemetry::Metrics(metrics())]
    );
    ctx.shutdown.cancel();
    for task in tasks {
        task.await.unwrap();
    }
}

async fn client_channel(ctx: &BuildContext) -> tonic::transport::Channel {
    let url = format!("http://{}", ctx.bound.get("receivers.otlp.grpc").unwrap());
    tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn http_basic_auth_refuses_unauthenticated_requests_with_401() {
    let consumer = Recording::new();
    let (ctx, tasks) = start_with_auth(&consumer).await;
    let base = format!("http://{}", ctx.bound.get("receivers.otlp.http").unwrap());
    let client = reqwest::Client::new();
    let post = |auth: Option<&'static str>, path: &str| {
        let mut request = client
            .post(format!("{base}{path}"))
            .header(CONTENT_TYPE, PB)
            .body(traces().encode_to_vec());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };

    let response = post(None, "/v1/traces").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"otlp\"");
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("missing Authorization header")
    );
    // bob:px — wrong password.
    let response = post(Some("Basic Ym9iOnB4"), "/v1/traces").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Unknown paths are guarded too: no 404 before credentials.
    let response = post(None, "/nope").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        consumer.received().is_empty(),
        "nothing unauthenticated is forwarded"
    );
    assert_eq!(unauthenticated_count(&ctx.telemetry, "http"), 3);

    // bob:pw
    let response = post(Some("Basic Ym9iOnB3"), "/v1/traces").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(consumer.received(), vec![Telemetry::traces(traces())]);
    ctx.shutdown.cancel();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn start_fails_when_the_token_file_is_missing() {
    use super::config::AuthConfig;
    use crate::extensions::ExtensionConfig;
    use crate::extensions::auth::BearerTokenAuthConfig;
    let ctx = BuildContext {
        id: id(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    };
    let mut extensions = std::collections::BTreeMap::new();
    let bearer: BearerTokenAuthConfig =
        serde_norway::from_str("filename: /nonexistent/burnwatch-token").unwrap();
    extensions.insert(
        ComponentId::parse("bearertokenauth").unwrap(),
        ExtensionConfig::BearerTokenAuth(bearer),
    );
    let config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcServerConfig {
                endpoint: "127.0.0.1:0".into(),
                auth: Some(AuthConfig {
                    authenticator: "bearertokenauth".into(),
                }),
                ..GrpcServerConfig::default()
            }),
            http: None,
        },
    };
    let err = start(&config, ReceiverOutputs::default(), &ctx, &extensions)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("extensions.bearertokenauth.filename") && err.contains("/nonexistent/burnwatch-token"),
        "{err}"
    );
    assert!(
        ctx.bound.get("receivers.otlp.grpc").is_none(),
        "nothing was bound"
    );
}

//! Test helpers shared by the attribute and filter processors' unit tests: a recording
//! sink and small builders of OTLP requests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

use crate::consumer::{ConsumeError, Consumer, Telemetry, TracesPayload};

/// Records what reaches it.
#[derive(Default)]
pub struct Sink {
    pub received: Mutex<Vec<Telemetry>>,
}

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        self.received.lock().unwrap().push(data);
        Ok(())
    }
}

impl Sink {
    pub fn new() -> Arc<Sink> {
        Arc::new(Sink::default())
    }

    /// The one traces request received.
    pub fn traces(&self) -> ExportTraceServiceRequest {
        match self.received.lock().unwrap().as_slice() {
            [Telemetry::Traces(p)] => p.decoded().unwrap().into_owned(),
            other => panic!("expected one traces payload, got {other:?}"),
        }
    }

    /// The one metrics request received.
    pub fn metrics(&self) -> ExportMetricsServiceRequest {
        match self.received.lock().unwrap().as_slice() {
            [Telemetry::Metrics(r)] => r.clone(),
            other => panic!("expected one metrics payload, got {other:?}"),
        }
    }

    /// The one logs request received.
    pub fn logs(&self) -> ExportLogsServiceRequest {
        match self.received.lock().unwrap().as_slice() {
            [Telemetry::Logs(p)] => p.decoded().unwrap().into_owned(),
            other => panic!("expected one logs payload, got {other:?}"),
        }
    }
}

pub fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(Av::StringValue(v.to_string())),
    }
}

pub fn i(v: i64) -> AnyValue {
    AnyValue {
        value: Some(Av::IntValue(v)),
    }
}

pub fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(v),
        ..Default::default()
    }
}

pub fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes: attrs,
        ..Default::default()
    })
}

pub fn span(name: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.to_string(),
        attributes: attrs,
        ..Default::default()
    }
}

/// One resource, one scope named `scope`, the spans.
pub fn traces(res: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(res),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "scope".to_string(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The request as the receivers hand it on: raw bytes.
pub fn raw_traces(request: &ExportTraceServiceRequest) -> Telemetry {
    Telemetry::Traces(TracesPayload::from_wire(request.encode_to_vec().into()).unwrap())
}

pub fn log(body: &str, attrs: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        body: Some(s(body)),
        attributes: attrs,
        ..Default::default()
    }
}

pub fn logs(res: Vec<KeyValue>, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(res),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn point(value: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

pub fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.to_string(),
        data: Some(Data::Gauge(Gauge { data_points: points })),
        ..Default::default()
    }
}

pub fn metrics(res: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(res),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

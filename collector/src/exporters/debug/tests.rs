use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::component::BoundAddrs;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", s("checkout"))],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "lib".into(),
        version: "1.0".into(),
        ..Default::default()
    })
}

fn traces() -> Telemetry {
    let span = |name: &str, id: u8| Span {
        name: name.into(),
        trace_id: (1..=16).collect(),
        span_id: vec![id; 8],
        kind: 2,
        attributes: vec![
            kv("http.method", s("GET")),
            kv("http.status_code", any_value::Value::IntValue(200)),
        ],
        ..Default::default()
    };
    Telemetry::traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![span("GET /a", 0xab), span("GET /b", 0xcd)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn metrics() -> Telemetry {
    let number = |v: number_data_point::Value, core: &str| NumberDataPoint {
        attributes: vec![kv("core", s(core))],
        value: Some(v),
        ..Default::default()
    };
    Telemetry::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![
                    Metric {
                        name: "cpu".into(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![
                                number(number_data_point::Value::AsDouble(1.5), "0"),
                                number(number_data_point::Value::AsInt(2), "1"),
                            ],
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "requests".into(),
                        unit: "1".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![number(number_data_point::Value::AsInt(7), "0")],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "latency".into(),
                        data: Some(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                count: 3,
                                sum: Some(2.5),
                                bucket_counts: vec![2, 1],
                                explicit_bounds: vec![1.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        })),
                        ..Default::default()
                    },
                    Metric {
                        name: "rtt".into(),
                        data: Some(Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                count: 4,
                                sum: 10.0,
                                quantile_values: vec![ValueAtQuantile {
                                    quantile: 0.5,
                                    value: 2.0,
                                }],
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn logs() -> Telemetry {
    Telemetry::logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    severity_text: "ERROR".into(),
                    severity_number: 17,
                    body: Some(AnyValue {
                        value: Some(s("payment failed")),
                    }),
                    attributes: vec![kv("order", any_value::Value::IntValue(42))],
                    trace_id: vec![0xff; 16],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn ctx() -> BuildContext {
    BuildContext {
        id: ComponentId::parse("debug").unwrap(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    }
}

/// Runs `requests` through an exporter with `config` and returns what it wrote.
fn logged(config: &DebugExporterConfig, ctx: &BuildContext, requests: Vec<Telemetry>) -> Vec<String> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let exporter = DebugExporter {
        output: Output::Buffer(buffer.clone()),
        ..DebugExporter::new(config, ctx)
    };
    for request in requests {
        futures::executor::block_on(exporter.consume(request)).unwrap();
    }
    buffer.lock().unwrap().clone()
}

fn verbosity(v: Verbosity) -> DebugExporterConfig {
    DebugExporterConfig {
        verbosity: v,
        sampling_initial: 100,
        ..DebugExporterConfig::default()
    }
}

fn sent(ctx: &BuildContext, noun: &str) -> u64 {
    ctx.telemetry
        .counter(
            &format!("otelcol_exporter_sent_{noun}"),
            "",
            &[("exporter", "debug")],
        )
        .get()
}

#[test]
fn basic_writes_one_summary_line_per_request() {
    let ctx = ctx();
    let lines = logged(
        &verbosity(Verbosity::Basic),
        &ctx,
        vec![traces(), metrics(), logs()],
    );
    assert_eq!(
        lines,
        vec![
            "Traces resource_spans=1 spans=2",
            "Metrics resource_metrics=1 metrics=4 data_points=5",
            "Logs resource_logs=1 log_records=1",
        ]
    );
    assert_eq!(
        (
            sent(&ctx, "spans"),
            sent(&ctx, "metric_points"),
            sent(&ctx, "log_records")
        ),
        (2, 5, 1)
    );
}

/// `data` as the receivers hand it on: its validated encoding.
fn raw(data: Telemetry) -> Telemetry {
    match data {
        Telemetry::Traces(p) => {
            Telemetry::Traces(crate::pdata::TracesPayload::from_wire(p.encode()).unwrap())
        }
        Telemetry::Logs(p) => Telemetry::Logs(crate::pdata::LogsPayload::from_wire(p.encode()).unwrap()),
        other => other,
    }
}

#[test]
fn raw_payloads_are_decoded_only_for_the_verbosities_that_show_items() {
    for v in [Verbosity::Basic, Verbosity::Normal, Verbosity::Detailed] {
        let decoded = logged(&verbosity(v), &ctx(), vec![traces(), logs()]);
        let from_raw = logged(&verbosity(v), &ctx(), vec![raw(traces()), raw(logs())]);
        assert_eq!(from_raw, decoded, "{v:?}");
    }
}

#[test]
fn normal_writes_one_line_per_item() {
    let ctx = ctx();
    let lines = logged(
        &verbosity(Verbosity::Normal),
        &ctx,
        vec![traces(), metrics(), logs()],
    );
    let expected = [
        "Traces resource_spans=1 spans=2",
        "ResourceSpans #0 service.name=checkout",
        "ScopeSpans #0 lib@1.0",
        "GET /a 0102030405060708090a0b0c0d0e0f10 abababababababab http.method=GET http.status_code=200",
        "GET /b 0102030405060708090a0b0c0d0e0f10 cdcdcdcdcdcdcdcd http.method=GET http.status_code=200",
        "Metrics resource_metrics=1 metrics=4 data_points=5",
        "ResourceMetrics #0 service.name=checkout",
        "ScopeMetrics #0 lib@1.0",
        "cpu{core=0} 1.5",
        "cpu{core=1} 2",
        "requests{core=0} 7",
        "latency count=3 sum=2.5 le1=2 le+Inf=1",
        "rtt count=4 sum=10 q0.5=2",
        "Logs resource_logs=1 log_records=1",
        "ResourceLog #0 service.name=checkout",
        "ScopeLog #0 lib@1.0",
        "ERROR payment failed order=42",
    ];
    assert_eq!(lines, expected);
}

#[test]
fn detailed_writes_every_field() {
    let ctx = ctx();
    let lines = logged(
        &verbosity(Verbosity::Detailed),
        &ctx,
        vec![traces(), metrics(), logs()],
    );
    let span = lines
        .iter()
        .find(|l| l.starts_with("Span #0 "))
        .expect("a span line");
    assert!(
        span.contains("\"traceId\":\"0102030405060708090a0b0c0d0e0f10\""),
        "{span}"
    );
    assert!(span.contains("\"spanId\":\"abababababababab\""), "{span}");
    assert!(span.contains("\"kind\":2"), "{span}");
    assert!(span.contains("http.status_code"), "{span}");
    assert!(lines.iter().any(|l| l.starts_with("Metric #1 name=\"requests\" description=\"\" unit=\"1\" type=Sum temporality=Cumulative monotonic=true points=1")), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Metric #2 name=\"latency\"")
                && l.contains("type=Histogram temporality=Delta")),
        "{lines:#?}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("DataPoint #")).count(), 5);
    let log = lines
        .iter()
        .find(|l| l.starts_with("LogRecord #0 "))
        .expect("a log line");
    assert!(
        log.contains("payment failed") && log.contains("\"severityNumber\":17"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ResourceSpans #0 schema_url=\"\" resource=") && l.contains("checkout"))
    );
    assert_eq!(
        (
            sent(&ctx, "spans"),
            sent(&ctx, "metric_points"),
            sent(&ctx, "log_records")
        ),
        (2, 5, 1)
    );
}

#[test]
fn sampling_logs_the_first_requests_each_second_then_every_nth() {
    let config = DebugExporterConfig {
        sampling_initial: 2,
        sampling_thereafter: 3,
        ..DebugExporterConfig::default()
    };
    let ctx = ctx();
    let lines = logged(&config, &ctx, (0..10).map(|_| traces()).collect());
    // Requests 1 and 2, then the 5th and 8th (every 3rd after the first 2), all within
    // one second.
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(sent(&ctx, "spans"), 20, "sampled-out requests are still exported");

    let sampler = Sampler::new(2, 3);
    let t0 = Instant::now();
    let admitted: Vec<bool> = (0..8).map(|_| sampler.admit(Signal::Logs, t0)).collect();
    assert_eq!(admitted, [true, true, false, false, true, false, false, true]);
    // Signals are sampled separately, and a new second starts afresh.
    assert!(sampler.admit(Signal::Traces, t0));
    assert!(sampler.admit(Signal::Logs, t0 + Duration::from_millis(1000)));
    assert!(sampler.admit(Signal::Logs, t0 + Duration::from_millis(1001)));
    assert!(!sampler.admit(Signal::Logs, t0 + Duration::from_millis(1002)));
}

#[tokio::test]
async fn consumes_every_signal_at_every_verbosity() {
    for v in [Verbosity::Basic, Verbosity::Normal, Verbosity::Detailed] {
        let ctx = ctx();
        let exporter = build(&verbosity(v), &ctx);
        for data in [traces(), metrics(), logs(), Telemetry::empty(Signal::Traces)] {
            exporter.consume(data).await.unwrap();
        }
        exporter.shutdown().await;
        assert_eq!(
            (
                sent(&ctx, "spans"),
                sent(&ctx, "metric_points"),
                sent(&ctx, "log_records")
            ),
            (2, 5, 1)
        );
    }
}

#[test]
fn yaml_a_user_would_write() {
    let cfg: DebugExporterConfig =
        serde_norway::from_str("verbosity: detailed\nsampling_initial: 5\nsampling_thereafter: 200\n")
            .unwrap();
    assert_eq!(
        cfg,
        DebugExporterConfig {
            verbosity: Verbosity::Detailed,
            sampling_initial: 5,
            sampling_thereafter: 200
        }
    );
    cfg.validate("exporters.debug").unwrap();
    let bad = DebugExporterConfig {
        sampling_thereafter: 0,
        ..cfg
    };
    assert_eq!(
        bad.validate("exporters.debug").unwrap_err().to_string(),
        "exporters.debug.sampling_thereafter must be greater than 0"
    );
    assert!(serde_norway::from_str::<DebugExporterConfig>("verbosity: loud\n").is_err());
}

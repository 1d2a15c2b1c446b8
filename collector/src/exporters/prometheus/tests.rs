use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue as ProtoArray, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar as OtlpExemplar, ExponentialHistogram, ExponentialHistogramDataPoint,
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, exemplar, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio_util::sync::CancellationToken;

use super::config::PrometheusExporterConfig;
use super::render::{Format, RenderOptions, push_go_float, push_om_float};
use super::store::Store;
use super::translate::{NameType, Translator, label_name, metric_name, value_string};
use super::{accepts_gzip, negotiate};
use crate::component::{BoundAddrs, BuildContext};
use crate::config::{ComponentId, GoDuration};
use crate::consumer::{ConsumeError, Telemetry};
use crate::telemetry::SelfTelemetry;

// ---------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------

const DELTA: i32 = AggregationTemporality::Delta as i32;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const SECOND: u64 = 1_000_000_000;

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    })
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: s(v),
        ..Default::default()
    }
}

fn kv_any(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn service_resource() -> Vec<KeyValue> {
    vec![
        kv("service.name", "checkout"),
        kv("service.namespace", "shop"),
        kv("service.instance.id", "i-1"),
        kv("host.name", "h1"),
    ]
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "io.test".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn metric(name: &str, unit: &str, help: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: help.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn num(attrs: Vec<KeyValue>, start: u64, time: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn int(attrs: Vec<KeyValue>, start: u64, time: u64, v: i64) -> NumberDataPoint {
    NumberDataPoint {
        value: Some(number_data_point::Value::AsInt(v)),
        ..num(attrs, start, time, 0.0)
    }
}

fn gauge(name: &str, unit: &str, help: &str, points: Vec<NumberDataPoint>) -> Metric {
    metric(name, unit, help, Data::Gauge(Gauge { data_points: points }))
}

fn sum(name: &str, unit: &str, monotonic: bool, temporality: i32, points: Vec<NumberDataPoint>) -> Metric {
    metric(
        name,
        unit,
        "",
        Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality,
            is_monotonic: monotonic,
        }),
    )
}

fn hist_point(start: u64, time: u64, bounds: &[f64], counts: &[u64], sum: f64) -> HistogramDataPoint {
    HistogramDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: counts.iter().sum(),
        sum: Some(sum),
        bucket_counts: counts.to_vec(),
        explicit_bounds: bounds.to_vec(),
        ..Default::default()
    }
}

fn histogram(name: &str, unit: &str, temporality: i32, points: Vec<HistogramDataPoint>) -> Metric {
    metric(
        name,
        unit,
        "Request latency.",
        Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: temporality,
        }),
    )
}

fn exp_point(
    start: u64,
    time: u64,
    scale: i32,
    zero: u64,
    pos: (i32, &[u64]),
    neg: (i32, &[u64]),
) -> ExponentialHistogramDataPoint {
    let count = zero + pos.1.iter().sum::<u64>() + neg.1.iter().sum::<u64>();
    ExponentialHistogramDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: time,
        count,
        sum: Some(3.0),
        scale,
        zero_count: zero,
        positive: Some(Buckets {
            offset: pos.0,
            bucket_counts: pos.1.to_vec(),
        }),
        negative: Some(Buckets {
            offset: neg.0,
            bucket_counts: neg.1.to_vec(),
        }),
        ..Default::default()
    }
}

fn exp_histogram(name: &str, temporality: i32, points: Vec<ExponentialHistogramDataPoint>) -> Metric {
    metric(
        name,
        "s",
        "Latency.",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: points,
            aggregation_temporality: temporality,
        }),
    )
}

/// A translator and store driven by an explicit clock, so expiry is deterministic.
struct Harness {
    translator: Translator,
    store: Store,
    expiration_ms: u64,
    send_timestamps: bool,
}

impl Harness {
    fn new(config: PrometheusExporterConfig) -> Self {
        let translator = Translator::new(&config);
        let store = Store::new(translator.target_family());
        Harness {
            translator,
            store,
            expiration_ms: config.metric_expiration.0.as_millis() as u64,
            send_timestamps: config.send_timestamps,
        }
    }

    fn default() -> Self {
        Harness::new(PrometheusExporterConfig::default())
    }

    fn ingest(&mut self, req: &ExportMetricsServiceRequest, now_ms: u64) -> usize {
        let batch = self.translator.translate(req);
        self.store.apply(batch, now_ms)
    }

    fn render(&self, format: Format, now_ms: u64) -> String {
        let opts = RenderOptions {
            format,
            send_timestamps: self.send_timestamps,
            cutoff_ms: now_ms.saturating_sub(self.expiration_ms),
        };
        let mut out = Vec::new();
        super::render::render(&self.store, &opts, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn text(&self) -> String {
        self.render(Format::Text, 0)
    }

    fn om(&self) -> String {
        self.render(Format::OpenMetrics, 0)
    }
}

/// The labels every series of [`service_resource`] and scope `io.test` 1.0 carries.
const BASE: &str = r#"instance="i-1",job="shop/checkout",otel_scope_name="io.test",otel_scope_schema_url="",otel_scope_version="1.0""#;
const TARGET: &str = "# HELP target_info Target metadata\n# TYPE target_info gauge\n\
                      target_info{host_name=\"h1\",instance=\"i-1\",job=\"shop/checkout\"} 1\n";

fn go(f: f64) -> String {
    let mut out = Vec::new();
    push_go_float(&mut out, f);
    String::from_utf8(out).unwrap()
}

fn om(f: f64) -> String {
    let mut out = Vec::new();
    push_om_float(&mut out, f);
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------------
// Names, units, suffixes
// ---------------------------------------------------------------------------------

#[test]
fn unit_suffixes_follow_the_translator_table() {
    use NameType::*;
    let cases: &[(&str, &str, NameType, &str)] = &[
        (
            "http.server.duration",
            "s",
            Histogram,
            "http_server_duration_seconds",
        ),
        ("rpc.latency", "ms", Histogram, "rpc_latency_milliseconds"),
        ("gc.pause", "us", Gauge, "gc_pause_microseconds"),
        ("tick", "ns", Gauge, "tick_nanoseconds"),
        ("memory.usage", "By", Gauge, "memory_usage_bytes"),
        ("heap", "KiBy", Gauge, "heap_kibibytes"),
        ("heap", "MiBy", Gauge, "heap_mebibytes"),
        ("disk", "GBy", Gauge, "disk_gigabytes"),
        ("uptime", "min", Gauge, "uptime_minutes"),
        ("uptime", "h", Gauge, "uptime_hours"),
        ("retention", "d", Gauge, "retention_days"),
        ("cpu.util", "%", Gauge, "cpu_util_percent"),
        ("temp", "Cel", Gauge, "temp_celsius"),
        ("network.io", "By/s", Gauge, "network_io_bytes_per_second"),
        ("throughput", "{requests}/s", Gauge, "throughput_per_second"),
        ("rate", "1/h", Gauge, "rate_per_hour"),
        ("odd", "widgets", Gauge, "odd_widgets"),
        ("odd", "a b/c.d", Gauge, "odd_a_b_per_c_d"),
        ("requests", "{requests}", MonotonicCounter, "requests_total"),
        ("duration.seconds", "s", Histogram, "duration_seconds"),
        (
            "transfer",
            "By/s",
            MonotonicCounter,
            "transfer_bytes_per_second_total",
        ),
    ];
    for (name, unit, ty, want) in cases {
        assert_eq!(
            metric_name(name, unit, *ty, "", true).as_deref(),
            Some(*want),
            "{name} [{unit}]"
        );
    }
}

#[test]
fn ratio_only_for_gauges_with_unit_one_and_total_only_for_counters() {
    use NameType::*;
    assert_eq!(
        metric_name("cpu.utilization", "1", Gauge, "", true).unwrap(),
        "cpu_utilization_ratio"
    );
    assert_eq!(
        metric_name("hit.ratio", "1", Gauge, "", true).unwrap(),
        "hit_ratio"
    );
    assert_eq!(
        metric_name("errors", "1", MonotonicCounter, "", true).unwrap(),
        "errors_total"
    );
    assert_eq!(
        metric_name("queue.size", "1", NonMonotonicCounter, "", true).unwrap(),
        "queue_size"
    );
    assert_eq!(
        metric_name("queue.size", "", NonMonotonicCounter, "", true).unwrap(),
        "queue_size"
    );
    assert_eq!(
        metric_name("http.requests.total", "", MonotonicCounter, "", true).unwrap(),
        "http_requests_total"
    );
    assert_eq!(
        metric_name("total.requests", "", MonotonicCounter, "", true).unwrap(),
        "requests_total"
    );
    assert_eq!(
        metric_name("latency", "s", Summary, "", true).unwrap(),
        "latency_seconds"
    );
}

#[test]
fn invalid_characters_collapse_and_leading_digits_get_an_underscore() {
    use NameType::*;
    assert_eq!(
        metric_name("foo--bar__baz..qux", "", Gauge, "", true).unwrap(),
        "foo_bar_baz_qux"
    );
    assert_eq!(
        metric_name("_leading.trailing_", "", Gauge, "", true).unwrap(),
        "leading_trailing"
    );
    assert_eq!(
        metric_name("2xx.responses", "", Gauge, "", true).unwrap(),
        "_2xx_responses"
    );
    assert_eq!(metric_name("ns:name", "", Gauge, "", true).unwrap(), "ns:name");
    assert_eq!(metric_name("héllo", "", Gauge, "", true).unwrap(), "h_llo");
    assert_eq!(metric_name("...", "", Gauge, "", true), None);
    assert_eq!(metric_name("", "", Gauge, "", true), None);
}

#[test]
fn namespace_is_prefixed_and_sanitised() {
    use NameType::*;
    assert_eq!(
        metric_name("requests", "", MonotonicCounter, "my-app", true).unwrap(),
        "my_app_requests_total"
    );
    assert_eq!(metric_name("2xx", "", Gauge, "app", true).unwrap(), "app_2xx");
    assert_eq!(
        metric_name("x.y", "", Gauge, "my-app", false).unwrap(),
        "my_app_x_y"
    );
}

#[test]
fn without_suffixes_only_invalid_characters_change() {
    use NameType::*;
    assert_eq!(
        metric_name("http.server.duration", "s", Histogram, "", false).unwrap(),
        "http_server_duration"
    );
    assert_eq!(
        metric_name("requests", "", MonotonicCounter, "", false).unwrap(),
        "requests"
    );
    assert_eq!(
        metric_name("cpu.utilization", "1", Gauge, "", false).unwrap(),
        "cpu_utilization"
    );
    // Underscores are kept as they are; only runs of invalid characters collapse.
    assert_eq!(metric_name("a__b..c", "", Gauge, "", false).unwrap(), "a__b_c");
    assert_eq!(metric_name("2xx", "", Gauge, "", false).unwrap(), "_2xx");
}

#[test]
fn label_names_are_sanitised_like_the_translator() {
    assert_eq!(label_name("http.method").unwrap(), "http_method");
    assert_eq!(label_name("a-b/c").unwrap(), "a_b_c");
    assert_eq!(label_name("123abc").unwrap(), "key_123abc");
    assert_eq!(label_name("_private").unwrap(), "key_private");
    assert_eq!(label_name("__reserved").unwrap(), "__reserved");
    assert_eq!(label_name("ok_name").unwrap(), "ok_name");
    assert_eq!(label_name("ñ").unwrap(), "key_");
    assert_eq!(label_name("ñ."), None);
    assert_eq!(label_name(""), None);
}

#[test]
fn attribute_values_are_written_like_pdata_as_string() {
    let v = |v: any_value::Value| value_string(Some(&AnyValue { value: Some(v) }));
    use any_value::Value::*;
    assert_eq!(v(StringValue("x".into())), "x");
    assert_eq!(v(BoolValue(true)), "true");
    assert_eq!(v(IntValue(-42)), "-42");
    assert_eq!(v(DoubleValue(1.5)), "1.5");
    assert_eq!(v(DoubleValue(100.0)), "100");
    assert_eq!(v(DoubleValue(1e21)), "1e+21");
    assert_eq!(v(DoubleValue(1e-7)), "1e-7");
    assert_eq!(v(BytesValue(vec![1, 2, 3, 4])), "AQIDBA==");
    assert_eq!(
        v(ArrayValue(ProtoArray {
            values: vec![
                s("a").unwrap(),
                AnyValue {
                    value: Some(IntValue(1))
                }
            ]
        })),
        r#"["a",1]"#
    );
    let map = KeyValueList {
        values: vec![kv_any("b", BoolValue(true)), kv("a", "<x>")],
    };
    assert_eq!(v(KvlistValue(map)), r#"{"a":"\u003cx\u003e","b":true}"#);
    assert_eq!(value_string(None), "");
}

// ---------------------------------------------------------------------------------
// Number formatting
// ---------------------------------------------------------------------------------

#[test]
fn floats_are_formatted_like_go_strconv_g() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (42.0, "42"),
        (100000.0, "100000"),
        (999999.0, "999999"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (-1234567.0, "-1.234567e+06"),
        (1234567.8, "1.2345678e+06"),
        (123456.7, "123456.7"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.00012, "0.00012"),
        (1.5, "1.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e15, "1e+15"),
        (1e21, "1e+21"),
        (1e100, "1e+100"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (f, want) in cases {
        assert_eq!(go(*f), *want, "{f:e}");
    }
}

#[test]
fn openmetrics_floats_always_look_like_floats() {
    assert_eq!(om(0.0), "0.0");
    assert_eq!(om(1.0), "1.0");
    assert_eq!(om(-1.0), "-1.0");
    assert_eq!(om(42.0), "42.0");
    assert_eq!(om(0.5), "0.5");
    assert_eq!(om(1e6), "1e+06");
    assert_eq!(om(f64::NAN), "NaN");
    assert_eq!(om(f64::INFINITY), "+Inf");
}

// ---------------------------------------------------------------------------------
// Series: labels, job/instance, target_info, types
// ---------------------------------------------------------------------------------

#[test]
fn gauge_and_counter_with_job_instance_scope_labels_and_target_info() {
    let mut h = Harness::default();
    let req = request(
        service_resource(),
        vec![
            gauge(
                "memory.usage",
                "By",
                "Memory in use.",
                vec![int(vec![kv("pool", "heap")], 0, 10 * SECOND, 2048)],
            ),
            sum(
                "http.server.requests",
                "{requests}",
                true,
                CUMULATIVE,
                vec![num(vec![kv("http.method", "GET")], SECOND, 10 * SECOND, 7.0)],
            ),
        ],
    );
    assert_eq!(h.ingest(&req, 0), 2);
    let want = format!(
        "# HELP http_server_requests_total \n\
         # TYPE http_server_requests_total counter\n\
         http_server_requests_total{{http_method=\"GET\",{BASE}}} 7\n\
         # HELP memory_usage_bytes Memory in use.\n\
         # TYPE memory_usage_bytes gauge\n\
         memory_usage_bytes{{{BASE},pool=\"heap\"}} 2048\n\
         {TARGET}"
    );
    assert_eq!(h.text(), want);
}

#[test]
fn job_is_service_name_alone_without_a_namespace_and_target_info_needs_an_instance() {
    let mut h = Harness::default();
    let req = request(
        vec![kv("service.name", "api")],
        vec![gauge("up", "", "", vec![num(vec![], 0, 1, 1.0)])],
    );
    h.ingest(&req, 0);
    assert_eq!(
        h.text(),
        "# HELP up \n# TYPE up gauge\n\
         up{job=\"api\",otel_scope_name=\"io.test\",otel_scope_schema_url=\"\",otel_scope_version=\"1.0\"} 1\n"
    );
}

#[test]
fn a_resource_without_service_attributes_has_no_job_instance_or_target_info() {
    let mut h = Harness::default();
    let req = request(
        vec![kv("host.name", "h1")],
        vec![gauge("up", "", "", vec![num(vec![], 0, 1, 1.0)])],
    );
    h.ingest(&req, 0);
    let text = h.text();
    assert!(text.contains(
        "up{otel_scope_name=\"io.test\",otel_scope_schema_url=\"\",otel_scope_version=\"1.0\"} 1\n"
    ));
    assert!(!text.contains("target_info"), "{text}");
}

#[test]
fn scope_attributes_become_otel_scope_labels() {
    let mut h = Harness::default();
    let mut req = request(vec![], vec![gauge("up", "", "", vec![num(vec![], 0, 1, 1.0)])]);
    let sm = &mut req.resource_metrics[0].scope_metrics[0];
    sm.schema_url = "https://opentelemetry.io/schemas/1.26.0".into();
    sm.scope.as_mut().unwrap().attributes = vec![kv("library.mode", "fast")];
    h.ingest(&req, 0);
    assert!(h.text().contains(
        "up{otel_scope_library_mode=\"fast\",otel_scope_name=\"io.test\",\
         otel_scope_schema_url=\"https://opentelemetry.io/schemas/1.26.0\",otel_scope_version=\"1.0\"} 1\n"
    ));
}

#[test]
fn without_scope_info_drops_the_scope_labels() {
    let mut h = Harness::new(PrometheusExporterConfig {
        without_scope_info: true,
        ..Default::default()
    });
    let req = request(
        service_resource(),
        vec![gauge("up", "", "", vec![num(vec![], 0, 1, 1.0)])],
    );
    h.ingest(&req, 0);
    assert!(
        h.text()
            .contains("up{instance=\"i-1\",job=\"shop/checkout\"} 1\n")
    );
}

#[test]
fn const_labels_namespace_and_target_info_name() {
    let config = PrometheusExporterConfig {
        namespace: "burn".into(),
        const_labels: [("region".to_string(), "eu".to_string())].into_iter().collect(),
        ..Default::default()
    };
    let mut h = Harness::new(config);
    let req = request(
        service_resource(),
        vec![gauge("up", "", "", vec![num(vec![], 0, 1, 1.0)])],
    );
    h.ingest(&req, 0);
    let text = h.text();
    assert!(
        text.contains(&format!("burn_up{{{BASE},region=\"eu\"}} 1\n")),
        "{text}"
    );
    // target_info carries no const labels, as in the Collector.
    assert!(
        text.contains("burn_target_info{host_name=\"h1\",instance=\"i-1\",job=\"shop/checkout\"} 1\n"),
        "{text}"
    );
}

#[test]
fn resource_to_telemetry_copies_resource_attributes_over_point_attributes() {
    let mut config = PrometheusExporterConfig::default();
    config.resource_to_telemetry_conversion.enabled = true;
    let mut h = Harness::new(config.clone());
    let req = request(
        service_resource(),
        vec![gauge(
            "up",
            "",
            "",
            vec![num(vec![kv("host.name", "point")], 0, 1, 1.0)],
        )],
    );
    h.ingest(&req, 0);
    assert!(h.text().contains(&format!(
        "up{{host_name=\"h1\",{BASE},service_instance_id=\"i-1\",service_name=\"checkout\",service_namespace=\"shop\"}} 1\n"
    )));

    config.resource_to_telemetry_conversion.exclude_service_attributes = true;
    let mut h = Harness::new(config);
    h.ingest(&req, 0);
    assert!(h.text().contains(&format!("up{{host_name=\"h1\",{BASE}}} 1\n")));
}

#[test]
fn colliding_label_names_are_joined_and_reserved_labels_win() {
    let mut h = Harness::default();
    let attrs = vec![kv("a_b", "2"), kv("a.b", "1"), kv("job", "spoofed")];
    let req = request(
        service_resource(),
        vec![gauge("up", "", "", vec![num(attrs, 0, 1, 1.0)])],
    );
    h.ingest(&req, 0);
    assert!(
        h.text().contains(&format!("up{{a_b=\"1;2\",{BASE}}} 1\n")),
        "{}",
        h.text()
    );
}

#[test]
fn label_values_and_help_are_escaped() {
    let mut h = Harness::default();
    let req = request(
        vec![],
        vec![gauge(
            "up",
            "",
            "Line one\nback\\slash \"q\"",
            vec![num(vec![kv("path", "a\"b\\c\nd")], 0, 1, 1.0)],
        )],
    );
    h.ingest(&req, 0);
    let text = h.text();
    assert!(
        text.starts_with("# HELP up Line one\\nback\\\\slash \"q\"\n"),
        "{text}"
    );
    assert!(text.contains(r#"up{otel_scope_name="io.test",otel_scope_schema_url="",otel_scope_version="1.0",path="a\"b\\c\nd"} 1"#));
    assert!(
        h.om()
            .starts_with("# HELP up Line one\\nback\\\\slash \\\"q\\\"\n")
    );
}

#[test]
fn nan_and_infinities_are_written_as_prometheus_does() {
    let mut h = Harness::default();
    let points = vec![
        num(vec![kv("v", "nan")], 0, 1, f64::NAN),
        num(vec![kv("v", "pinf")], 0, 1, f64::INFINITY),
        num(vec![kv("v", "ninf")], 0, 1, f64::NEG_INFINITY),
    ];
    h.ingest(&request(vec![], vec![gauge("g", "", "", points)]), 0);
    let text = h.text();
    assert!(text.contains("v=\"nan\"} NaN\n"));
    assert!(text.contains("v=\"pinf\"} +Inf\n"));
    assert!(text.contains("v=\"ninf\"} -Inf\n"));
}

#[test]
fn non_monotonic_sums_are_gauges_and_unexposable_sums_are_dropped() {
    let mut h = Harness::default();
    let req = request(
        vec![],
        vec![
            sum(
                "queue.size",
                "{items}",
                false,
                CUMULATIVE,
                vec![int(vec![], 0, 1, -3)],
            ),
            sum("delta.updown", "", false, DELTA, vec![int(vec![], 0, 1, 1)]),
            sum("no.temporality", "", true, 0, vec![int(vec![], 0, 1, 1)]),
        ],
    );
    assert_eq!(h.ingest(&req, 0), 1);
    let text = h.text();
    assert!(text.contains("# TYPE queue_size gauge\n"));
    assert!(text.contains("} -3\n"));
    assert!(
        !text.contains("delta_updown") && !text.contains("no_temporality"),
        "{text}"
    );
}

#[test]
fn gauges_marked_unknown_by_the_prometheus_receiver_are_untyped() {
    let mut h = Harness::default();
    let mut m = gauge("legacy", "", "", vec![num(vec![], 0, 1, 1.0)]);
    m.metadata = vec![kv("prometheus.type", "unknown")];
    h.ingest(&request(vec![], vec![m]), 0);
    assert!(h.text().contains("# TYPE legacy untyped\n"));
    assert!(h.om().contains("# TYPE legacy unknown\n"));
}

#[test]
fn a_family_keeps_its_first_type_and_points_of_another_type_are_dropped() {
    let mut h = Harness::default();
    h.ingest(
        &request(
            vec![],
            vec![gauge("requests.total", "", "", vec![num(vec![], 0, 1, 5.0)])],
        ),
        0,
    );
    let accepted = h.ingest(
        &request(
            vec![],
            vec![sum(
                "requests",
                "",
                true,
                CUMULATIVE,
                vec![num(vec![], 0, 2, 9.0)],
            )],
        ),
        0,
    );
    assert_eq!(accepted, 0);
    let text = h.text();
    assert!(
        text.contains("# TYPE requests_total gauge\n") && text.contains("} 5\n"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------
// Accumulation
// ---------------------------------------------------------------------------------

fn counter_value(h: &Harness) -> String {
    let text = h.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("c_total{"))
        .unwrap_or_else(|| panic!("no counter in {text}"));
    line.rsplit(' ').next().unwrap().to_string()
}

#[test]
fn delta_sums_accumulate_into_a_counter_and_a_gap_resets() {
    let mut h = Harness::default();
    let delta = |start, time, v| {
        request(
            vec![],
            vec![sum("c", "", true, DELTA, vec![int(vec![], start, time, v)])],
        )
    };
    h.ingest(&delta(0, 10, 5), 0);
    h.ingest(&delta(10, 20, 3), 0);
    assert_eq!(counter_value(&h), "8");
    h.ingest(&delta(20, 30, 1), 0);
    assert_eq!(counter_value(&h), "9");
    // Older than what is stored: ignored.
    assert_eq!(h.ingest(&delta(0, 5, 100), 0), 0);
    assert_eq!(counter_value(&h), "9");
    // Not contiguous with the stored point: a restart.
    h.ingest(&delta(50, 60, 2), 0);
    assert_eq!(counter_value(&h), "2");
}

#[test]
fn cumulative_points_older_than_the_stored_one_are_ignored() {
    let mut h = Harness::default();
    let cumulative = |time, v| {
        request(
            vec![],
            vec![sum("c", "", true, CUMULATIVE, vec![num(vec![], 1, time, v)])],
        )
    };
    h.ingest(&cumulative(20, 10.0), 0);
    assert_eq!(h.ingest(&cumulative(10, 5.0), 0), 0);
    assert_eq!(counter_value(&h), "10");
    h.ingest(&cumulative(20, 11.0), 0);
    assert_eq!(counter_value(&h), "11");

    let mut g = Harness::default();
    g.ingest(
        &request(vec![], vec![gauge("g", "", "", vec![num(vec![], 0, 20, 1.0)])]),
        0,
    );
    g.ingest(
        &request(vec![], vec![gauge("g", "", "", vec![num(vec![], 0, 10, 2.0)])]),
        0,
    );
    assert!(g.text().contains("} 1\n"));
}

#[test]
fn a_point_with_no_recorded_value_removes_its_series() {
    let mut h = Harness::default();
    h.ingest(
        &request(vec![], vec![gauge("g", "", "", vec![num(vec![], 0, 1, 1.0)])]),
        0,
    );
    let mut stale = num(vec![], 0, 2, 0.0);
    stale.flags = 1;
    h.ingest(&request(vec![], vec![gauge("g", "", "", vec![stale])]), 0);
    assert_eq!(h.text(), "");
}

#[test]
fn explicit_histograms_render_cumulative_buckets_with_inf_sum_and_count() {
    let mut h = Harness::default();
    let req = request(
        service_resource(),
        vec![histogram(
            "http.server.duration",
            "s",
            CUMULATIVE,
            vec![hist_point(0, 1, &[0.1, 0.5, 1.0], &[1, 2, 3, 4], 7.5)],
        )],
    );
    h.ingest(&req, 0);
    let want = format!(
        "# HELP http_server_duration_seconds Request latency.\n\
         # TYPE http_server_duration_seconds histogram\n\
         http_server_duration_seconds_bucket{{{BASE},le=\"0.1\"}} 1\n\
         http_server_duration_seconds_bucket{{{BASE},le=\"0.5\"}} 3\n\
         http_server_duration_seconds_bucket{{{BASE},le=\"1\"}} 6\n\
         http_server_duration_seconds_bucket{{{BASE},le=\"+Inf\"}} 10\n\
         http_server_duration_seconds_sum{{{BASE}}} 7.5\n\
         http_server_duration_seconds_count{{{BASE}}} 10\n\
         {TARGET}"
    );
    assert_eq!(h.text(), want);
}

#[test]
fn unsorted_histogram_bounds_are_sorted_with_their_counts() {
    let mut h = Harness::default();
    h.ingest(
        &request(
            vec![],
            vec![histogram(
                "d",
                "",
                CUMULATIVE,
                vec![hist_point(0, 1, &[1.0, 0.1, 0.5], &[3, 1, 2, 4], 1.0)],
            )],
        ),
        0,
    );
    let text = h.text();
    let buckets: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("d_bucket"))
        .map(|l| l.split("le=").nth(1).unwrap())
        .collect();
    assert_eq!(buckets, ["\"0.1\"} 1", "\"0.5\"} 3", "\"1\"} 6", "\"+Inf\"} 10"]);
}

#[test]
fn delta_histograms_accumulate_drop_overlaps_and_reset_after_gaps() {
    let mut h = Harness::default();
    let delta = |start, time, counts: &[u64]| {
        request(
            vec![],
            vec![histogram(
                "d",
                "",
                DELTA,
                vec![hist_point(start, time, &[1.0], counts, 1.0)],
            )],
        )
    };
    let count_line = |h: &Harness| {
        h.text()
            .lines()
            .find(|l| l.starts_with("d_count"))
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    h.ingest(&delta(0, 10, &[1, 2]), 0);
    h.ingest(&delta(10, 20, &[3, 4]), 0);
    let text = h.text();
    assert!(
        text.contains("le=\"1\"} 4\n") && text.contains("le=\"+Inf\"} 10\n") && text.contains("d_sum{"),
        "{text}"
    );
    assert!(text.contains(
        "_sum{otel_scope_name=\"io.test\",otel_scope_schema_url=\"\",otel_scope_version=\"1.0\"} 2\n"
    ));
    // Starts inside the interval already counted: dropped.
    assert_eq!(h.ingest(&delta(15, 25, &[100, 100]), 0), 0);
    assert_eq!(count_line(&h), "10");
    // Starts after the stored point: a restart.
    h.ingest(&delta(30, 40, &[1, 0]), 0);
    assert_eq!(count_line(&h), "1");
}

#[test]
fn summaries_render_sorted_quantiles_sum_and_count() {
    let mut h = Harness::default();
    let point = SummaryDataPoint {
        time_unix_nano: 1,
        count: 10,
        sum: 12.5,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.99,
                value: 5.0,
            },
            ValueAtQuantile {
                quantile: 0.5,
                value: 1.0,
            },
        ],
        ..Default::default()
    };
    h.ingest(
        &request(
            vec![],
            vec![metric(
                "rpc.duration",
                "s",
                "RPC time.",
                Data::Summary(Summary {
                    data_points: vec![point],
                }),
            )],
        ),
        0,
    );
    let l = r#"otel_scope_name="io.test",otel_scope_schema_url="",otel_scope_version="1.0""#;
    assert_eq!(
        h.text(),
        format!(
            "# HELP rpc_duration_seconds RPC time.\n# TYPE rpc_duration_seconds summary\n\
             rpc_duration_seconds{{{l},quantile=\"0.5\"}} 1\n\
             rpc_duration_seconds{{{l},quantile=\"0.99\"}} 5\n\
             rpc_duration_seconds_sum{{{l}}} 12.5\n\
             rpc_duration_seconds_count{{{l}}} 10\n"
        )
    );
}

fn bucket_lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| {
            let le = l.split("le=\"").nth(1).unwrap();
            let (bound, rest) = le.split_once('"').unwrap();
            format!("{bound} {}", rest.rsplit(' ').next().unwrap())
        })
        .collect()
}

#[test]
fn exponential_histograms_become_classic_buckets() {
    let mut h = Harness::default();
    // scale 0: base 2. Negative bucket 0 is [-2, -1); positive buckets 0 and 1 are
    // (1, 2] and (2, 4]; the zero bucket (1 value) folds into le=2.
    let point = exp_point(0, 1, 0, 1, (0, &[2, 3]), (0, &[4]));
    h.ingest(
        &request(vec![], vec![exp_histogram("latency", CUMULATIVE, vec![point])]),
        0,
    );
    let text = h.text();
    assert!(text.contains("# TYPE latency_seconds histogram\n"), "{text}");
    assert_eq!(
        bucket_lines(&text, "latency_seconds_bucket"),
        ["-1 4", "2 7", "4 10", "+Inf 10"]
    );
    assert!(text.contains("latency_seconds_sum{") && text.contains("} 3\n"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("latency_seconds_count{") && l.ends_with(" 10"))
    );
}

/// Regression (issue #12): a negative range holding only zeros (what SDKs send for a
/// histogram that never saw a negative value) added a spurious `le="-1"` bucket.
#[test]
fn an_empty_negative_range_adds_no_negative_bucket() {
    let mut h = Harness::default();
    let zeros = exp_point(0, 1, 0, 1, (0, &[2, 3]), (0, &[0]));
    let wide_zeros = exp_point(0, 1, 0, 0, (0, &[2]), (-3, &[0, 0, 0, 0]));
    // Zeros between populated negative buckets change no cumulative count either.
    let gap = exp_point(0, 1, 0, 0, (0, &[1]), (0, &[4, 0, 2]));
    let named = |name: &str, p| {
        let mut m = exp_histogram(name, CUMULATIVE, vec![p]);
        m.unit = String::new();
        m
    };
    h.ingest(
        &request(
            vec![],
            vec![
                named("zeros", zeros),
                named("wide", wide_zeros),
                named("gap", gap),
            ],
        ),
        0,
    );
    let text = h.text();
    assert_eq!(
        bucket_lines(&text, "zeros_bucket"),
        ["2 3", "4 6", "+Inf 6"],
        "{text}"
    );
    assert_eq!(bucket_lines(&text, "wide_bucket"), ["2 2", "+Inf 2"], "{text}");
    // Negative bucket 2 is [-8, -4): le=-4; bucket 0 is [-2, -1): le=-1.
    assert_eq!(
        bucket_lines(&text, "gap_bucket"),
        ["-4 2", "-1 6", "2 7", "+Inf 7"],
        "{text}"
    );
    promtool_check("an_empty_negative_range_adds_no_negative_bucket", &text);
}

#[test]
fn exponential_histogram_bounds_at_finer_scales_and_zero_only_data() {
    let mut h = Harness::default();
    // scale 1: base sqrt(2); positive bucket -1 is (2^-0.5, 1], bucket 0 is (1, sqrt 2].
    let fine = exp_point(0, 1, 1, 0, (-1, &[1, 1]), (0, &[]));
    let zero_only = exp_point(0, 1, 3, 5, (0, &[]), (0, &[]));
    let mut m = exp_histogram("fine", CUMULATIVE, vec![fine]);
    m.unit = String::new();
    let mut z = exp_histogram("zero", CUMULATIVE, vec![zero_only]);
    z.unit = String::new();
    h.ingest(&request(vec![], vec![m, z]), 0);
    let text = h.text();
    assert_eq!(
        bucket_lines(&text, "fine_bucket"),
        ["1 1", "1.4142135623730951 2", "+Inf 2"]
    );
    assert_eq!(bucket_lines(&text, "zero_bucket"), ["0 5", "+Inf 5"]);
}

#[test]
fn delta_exponential_histograms_merge_at_the_coarser_scale() {
    let mut h = Harness::default();
    // scale 1 buckets 0..=1 → at scale 0 both land in bucket 0 (1, 2].
    h.ingest(
        &request(
            vec![],
            vec![exp_histogram(
                "e",
                DELTA,
                vec![exp_point(0, 10, 1, 0, (0, &[1, 1]), (0, &[]))],
            )],
        ),
        0,
    );
    h.ingest(
        &request(
            vec![],
            vec![exp_histogram(
                "e",
                DELTA,
                vec![exp_point(10, 20, 0, 0, (0, &[3]), (0, &[]))],
            )],
        ),
        0,
    );
    assert_eq!(bucket_lines(&h.text(), "e_seconds_bucket"), ["2 5", "+Inf 5"]);
}

// ---------------------------------------------------------------------------------
// Expiration, timestamps, OpenMetrics
// ---------------------------------------------------------------------------------

#[test]
fn series_not_updated_within_metric_expiration_disappear() {
    let config = PrometheusExporterConfig {
        metric_expiration: GoDuration::from_millis(1000),
        ..Default::default()
    };
    let mut h = Harness::new(config);
    h.ingest(
        &request(
            service_resource(),
            vec![gauge("old", "", "", vec![num(vec![], 0, 1, 1.0)])],
        ),
        0,
    );
    h.ingest(
        &request(
            vec![kv("service.name", "b")],
            vec![gauge("new", "", "", vec![num(vec![], 0, 1, 1.0)])],
        ),
        900,
    );
    let at = |h: &Harness, now| h.render(Format::Text, now);
    assert!(at(&h, 999).contains("old{") && at(&h, 999).contains("target_info"));
    let later = at(&h, 1500);
    assert!(
        !later.contains("old{") && !later.contains("target_info") && later.contains("new{"),
        "{later}"
    );
    h.store.sweep(500);
    assert_eq!(h.store.series_count(), 1);
    assert!(at(&h, 2000).is_empty());
}

#[test]
fn send_timestamps_writes_milliseconds_in_text_and_seconds_in_openmetrics() {
    let config = PrometheusExporterConfig {
        send_timestamps: true,
        ..Default::default()
    };
    let mut h = Harness::new(config);
    h.ingest(
        &request(
            vec![],
            vec![gauge(
                "g",
                "",
                "",
                vec![num(vec![], 0, 1_700_000_000_123_000_000, 2.0)],
            )],
        ),
        0,
    );
    assert!(h.text().ends_with("} 2 1700000000123\n"), "{}", h.text());
    assert!(h.om().contains("} 2.0 1.700000000123e+09\n"), "{}", h.om());
}

#[test]
fn openmetrics_types_counters_without_total_and_ends_with_eof() {
    let mut h = Harness::default();
    let mut counter = num(vec![], 0, 1, 42.0);
    counter.exemplars = vec![OtlpExemplar {
        time_unix_nano: 1_700_000_000_000_000_000,
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
        value: Some(exemplar::Value::AsDouble(1.5)),
        ..Default::default()
    }];
    let mut hp = hist_point(0, 1, &[1.0], &[1, 1], 2.5);
    hp.exemplars = vec![OtlpExemplar {
        value: Some(exemplar::Value::AsInt(5)),
        ..Default::default()
    }];
    let req = request(
        vec![],
        vec![
            sum("jobs", "", true, CUMULATIVE, vec![counter]),
            histogram("wait", "s", CUMULATIVE, vec![hp]),
            gauge("temp", "Cel", "", vec![num(vec![], 0, 1, 21.0)]),
        ],
    );
    h.ingest(&req, 0);
    let l = r#"otel_scope_name="io.test",otel_scope_schema_url="",otel_scope_version="1.0""#;
    let trace = "ab".repeat(16);
    let span = "cd".repeat(8);
    assert_eq!(
        h.om(),
        format!(
            "# HELP jobs \n# TYPE jobs counter\n\
             jobs_total{{{l}}} 42.0 # {{span_id=\"{span}\",trace_id=\"{trace}\"}} 1.5 1.7e+09\n\
             # HELP temp_celsius \n# TYPE temp_celsius gauge\n\
             temp_celsius{{{l}}} 21.0\n\
             # HELP wait_seconds Request latency.\n# TYPE wait_seconds histogram\n\
             wait_seconds_bucket{{{l},le=\"1.0\"}} 1\n\
             wait_seconds_bucket{{{l},le=\"+Inf\"}} 2 # {{}} 5.0\n\
             wait_seconds_sum{{{l}}} 2.5\n\
             wait_seconds_count{{{l}}} 2\n\
             # EOF\n"
        )
    );
    // The text format has no exemplars.
    assert!(!h.text().contains(" # {"), "{}", h.text());
}

#[test]
fn content_negotiation_follows_accept_preferences() {
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                      text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(negotiate(Some(prometheus), true), Format::OpenMetrics);
    assert_eq!(negotiate(Some(prometheus), false), Format::Text);
    assert_eq!(negotiate(None, true), Format::Text);
    assert_eq!(negotiate(Some("*/*"), true), Format::Text);
    assert_eq!(
        negotiate(
            Some("text/plain;version=0.0.4,application/openmetrics-text;q=0.9"),
            true
        ),
        Format::Text
    );
    assert_eq!(
        negotiate(Some("text/plain;q=0.2,application/openmetrics-text;q=0.9"), true),
        Format::OpenMetrics
    );
    assert_eq!(
        negotiate(Some("application/openmetrics-text;version=9.9.9"), true),
        Format::Text
    );
    assert!(accepts_gzip("gzip, deflate"));
    assert!(!accepts_gzip("gzip;q=0, identity"));
    assert!(!accepts_gzip("br"));
}

// ---------------------------------------------------------------------------------
// End to end: a real server, a real HTTP client, promtool
// ---------------------------------------------------------------------------------

fn ctx(telemetry: Arc<SelfTelemetry>) -> BuildContext {
    BuildContext {
        id: ComponentId::parse("prometheus").unwrap(),
        telemetry,
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    }
}

fn local_config() -> PrometheusExporterConfig {
    PrometheusExporterConfig {
        endpoint: "127.0.0.1:0".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn serves_metrics_over_http_and_counts_sent_points() {
    let telemetry = SelfTelemetry::new();
    let ctx = ctx(Arc::clone(&telemetry));
    let exporter = super::build(&local_config(), &ctx).await.unwrap();
    let addr = ctx
        .bound
        .get("exporters.prometheus")
        .expect("bound address recorded");

    let req = request(
        service_resource(),
        vec![
            sum(
                "http.server.requests",
                "",
                true,
                CUMULATIVE,
                vec![int(vec![kv("code", "200")], 1, 2, 3)],
            ),
            gauge(
                "queue.depth",
                "{items}",
                "Items waiting.",
                vec![num(vec![], 0, 2, 4.5)],
            ),
        ],
    );
    exporter.consume(Telemetry::Metrics(req)).await.unwrap();

    let response = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    let want = format!(
        "# HELP http_server_requests_total \n\
         # TYPE http_server_requests_total counter\n\
         http_server_requests_total{{code=\"200\",{BASE}}} 3\n\
         # HELP queue_depth Items waiting.\n\
         # TYPE queue_depth gauge\n\
         queue_depth{{{BASE}}} 4.5\n\
         {TARGET}"
    );
    assert_eq!(body, want);
    assert!(
        telemetry
            .render()
            .contains("otelcol_exporter_sent_metric_points_total{exporter=\"prometheus\"} 2\n"),
        "{}",
        telemetry.render()
    );

    let missing = reqwest::get(format!("http://{addr}/other")).await.unwrap();
    assert_eq!(missing.status(), 404);

    let err = exporter
        .consume(Telemetry::empty(crate::consumer::Signal::Traces))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConsumeError::Permanent(ref m) if m.contains("traces")),
        "{err}"
    );

    exporter.shutdown().await;
    let mut stopped = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(stopped, "the server still accepts connections after shutdown");
}

#[tokio::test]
async fn openmetrics_is_served_when_enabled_and_asked_for() {
    let ctx = ctx(SelfTelemetry::new());
    let config = PrometheusExporterConfig {
        enable_open_metrics: true,
        ..local_config()
    };
    let exporter = super::build(&config, &ctx).await.unwrap();
    let addr = ctx.bound.get("exporters.prometheus").unwrap();
    let req = request(
        vec![],
        vec![sum("jobs", "", true, CUMULATIVE, vec![int(vec![], 1, 2, 3)])],
    );
    exporter.consume(Telemetry::Metrics(req)).await.unwrap();

    let client = reqwest::Client::new();
    let url = format!("http://{addr}/metrics");
    let response = client
        .get(&url)
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = response.text().await.unwrap();
    let l = r#"otel_scope_name="io.test",otel_scope_schema_url="",otel_scope_version="1.0""#;
    assert_eq!(
        body,
        format!("# HELP jobs \n# TYPE jobs counter\njobs_total{{{l}}} 3.0\n# EOF\n")
    );

    let plain = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        plain,
        format!("# HELP jobs_total \n# TYPE jobs_total counter\njobs_total{{{l}}} 3\n")
    );
    ctx.shutdown.cancel();
}

#[tokio::test]
async fn responses_are_gzipped_when_the_scraper_accepts_it() {
    use std::io::Read as _;
    let ctx = ctx(SelfTelemetry::new());
    let exporter = super::build(&local_config(), &ctx).await.unwrap();
    let addr = ctx.bound.get("exporters.prometheus").unwrap();
    exporter
        .consume(Telemetry::Metrics(request(
            vec![],
            vec![gauge("g", "", "", vec![num(vec![], 0, 1, 1.0)])],
        )))
        .await
        .unwrap();
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let response = client
        .get(format!("http://{addr}/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let bytes = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.starts_with("# HELP g \n# TYPE g gauge\ng{"), "{text}");
    ctx.shutdown.cancel();
}

fn described(mut m: Metric, help: &str) -> Metric {
    m.description = help.into();
    m
}

/// Every metric type the exporter can produce, with realistic names.
fn rich_request() -> ExportMetricsServiceRequest {
    let mut hp = hist_point(0, 1, &[0.005, 0.01, 0.1, 1.0], &[1, 2, 3, 4, 5], 3.25);
    hp.attributes = vec![kv("http.route", "/api/{id}"), kv("http.request.method", "GET")];
    let summary = SummaryDataPoint {
        time_unix_nano: 1,
        count: 3,
        sum: 1.5,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.5,
                value: 0.4,
            },
            ValueAtQuantile {
                quantile: 0.9,
                value: 0.9,
            },
        ],
        ..Default::default()
    };
    let mut exp = exp_point(0, 1, 2, 1, (-3, &[1, 0, 2, 5]), (1, &[1]));
    exp.attributes = vec![kv("peer", "db\"1\"\n")];
    request(
        service_resource(),
        vec![
            described(
                sum(
                    "http.server.requests",
                    "{request}",
                    true,
                    CUMULATIVE,
                    vec![int(vec![kv("code", "200")], 1, 2, 12)],
                ),
                "Requests served.",
            ),
            described(
                sum(
                    "process.cpu.time",
                    "s",
                    true,
                    DELTA,
                    vec![num(vec![kv("state", "user")], 1, 2, 0.25)],
                ),
                "CPU time.",
            ),
            gauge(
                "process.memory.usage",
                "By",
                "Resident memory.",
                vec![int(vec![], 0, 2, 123_456_789)],
            ),
            gauge(
                "system.cpu.utilization",
                "1",
                "CPU busy fraction.",
                vec![num(vec![kv("cpu", "0")], 0, 2, 0.42)],
            ),
            described(
                sum(
                    "db.connections",
                    "{connection}",
                    false,
                    CUMULATIVE,
                    vec![int(vec![kv("pool.name", "main")], 0, 2, 7)],
                ),
                "Open connections.",
            ),
            histogram("http.server.request.duration", "s", CUMULATIVE, vec![hp]),
            exp_histogram("rpc.client.duration", DELTA, vec![exp]),
            metric(
                "gc.pause",
                "s",
                "GC pauses.",
                Data::Summary(Summary {
                    data_points: vec![summary],
                }),
            ),
            gauge(
                "edge.values",
                "",
                "Special values.",
                vec![
                    num(vec![kv("kind", "nan")], 0, 2, f64::NAN),
                    num(vec![kv("kind", "inf")], 0, 2, f64::INFINITY),
                ],
            ),
        ],
    )
}

fn rich_text() -> String {
    let mut h = Harness::default();
    assert_eq!(h.ingest(&rich_request(), 0), 10);
    h.text()
}

/// Runs `promtool check metrics` over `text`; `None` when promtool is not installed
/// outside CI (in CI a missing promtool fails the test). Returns promtool's report;
/// the test fails when promtool rejects the page or reports any problem.
fn promtool_check(test: &str, text: &str) -> Option<()> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => {
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
                panic!("promtool is required in CI (apt-get install prometheus): {err}");
            }
            eprintln!(
                "SKIPPED {test}: `{promtool}` not runnable ({err}); install it with `apt-get install prometheus`"
            );
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check metrics failed ({}):\n{report}\n--- input ---\n{text}",
        output.status
    );
    assert!(
        report.trim().is_empty(),
        "promtool reported problems:\n{report}\n--- input ---\n{text}"
    );
    Some(())
}

#[test]
fn promtool_check_metrics_accepts_the_output() {
    promtool_check("promtool_check_metrics_accepts_the_output", &rich_text());
}

// ---------------------------------------------------------------------------------
// Hostile attributes (issue #12, item 5): one point must never make the page unscrapable
// ---------------------------------------------------------------------------------

/// Attribute keys and values chosen to break an exposition page: reserved names,
/// names that collide after sanitising, empty and all-invalid keys, leading digits and
/// underscores, and values with quotes, backslashes and newlines.
fn hostile_attributes() -> Vec<KeyValue> {
    vec![
        kv("__name__", "spoofed"),
        kv("le", "0.5"),
        kv("quantile", "0.9"),
        kv("a.b", "dot"),
        kv("a_b", "underscore"),
        kv("a-b", "dash"),
        kv("", "empty key"),
        kv("...", "only dots"),
        kv("1st", "digit"),
        kv("_x", "one underscore"),
        kv("__x", "two underscores"),
        kv("job", "spoofed job"),
        kv("instance", "spoofed instance"),
        kv("otel_scope_name", "spoofed scope"),
        kv("quote", "say \"hi\""),
        kv("backslash", "C:\\dir\\"),
        kv("newline", "one\ntwo\r\nthree"),
        kv("unicode", "ü → ✓ \u{2028}"),
        kv("ü", "non-ascii key"),
    ]
}

/// Every metric kind, each point carrying [`hostile_attributes`], from a resource that
/// also carries them.
fn hostile_request() -> ExportMetricsServiceRequest {
    let attrs = hostile_attributes();
    let mut hp = hist_point(0, 1, &[0.1, 1.0], &[1, 2, 3], 2.5);
    hp.attributes = attrs.clone();
    let mut ep = exp_point(0, 1, 0, 1, (0, &[2, 3]), (0, &[]));
    ep.attributes = attrs.clone();
    let summary = SummaryDataPoint {
        attributes: attrs.clone(),
        time_unix_nano: 1,
        count: 3,
        sum: 1.5,
        quantile_values: vec![ValueAtQuantile {
            quantile: 0.5,
            value: 0.4,
        }],
        ..Default::default()
    };
    let mut resource = service_resource();
    resource.extend(hostile_attributes());
    request(
        resource,
        vec![
            gauge(
                "hostile.temperature",
                "",
                "Gauge.",
                vec![num(attrs.clone(), 0, 1, 1.0)],
            ),
            described(
                sum(
                    "hostile.requests",
                    "",
                    true,
                    CUMULATIVE,
                    vec![int(attrs.clone(), 0, 1, 2)],
                ),
                "Counter.",
            ),
            histogram("hostile.latency", "s", CUMULATIVE, vec![hp]),
            exp_histogram("hostile.rpc", CUMULATIVE, vec![ep]),
            metric(
                "hostile.pause",
                "s",
                "Summary.",
                Data::Summary(Summary {
                    data_points: vec![summary],
                }),
            ),
        ],
    )
}

/// The label names of one sample line, in order.
fn label_names_of(line: &str) -> Vec<String> {
    let Some(open) = line.find('{') else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut rest = &line[open + 1..];
    while let Some(eq) = rest.find("=\"") {
        names.push(rest[..eq].trim_start_matches(',').to_string());
        // Skip the quoted value, honouring escapes.
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    end = Some(eq + 2 + i + 1);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        rest = &rest[end..];
        if rest.starts_with('}') {
            break;
        }
    }
    names
}

#[test]
fn reserved_attribute_names_are_dropped_and_the_point_stays() {
    let config = PrometheusExporterConfig {
        resource_to_telemetry_conversion: super::config::ResourceToTelemetry {
            enabled: true,
            exclude_service_attributes: true,
        },
        ..Default::default()
    };
    for (name, config) in [
        ("default", PrometheusExporterConfig::default()),
        ("resource_to_telemetry", config),
    ] {
        let mut h = Harness::new(config);
        let batch = h.translator.translate(&hostile_request());
        let dropped = batch.dropped;
        // Every point is kept.
        assert_eq!(h.store.apply(batch, 0), 5, "{name}");
        let text = h.text();
        for family in [
            "hostile_temperature",
            "hostile_requests_total",
            "hostile_latency_seconds",
            "hostile_rpc_seconds",
            "hostile_pause_seconds",
            "target_info",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{name}: {family} missing:\n{text}"
            );
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let names = label_names_of(line);
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{name}: duplicate label in {line}");
            assert!(!names.iter().any(|n| n == "__name__"), "{name}: {line}");
            // Only buckets carry `le` and only summary quantiles `quantile`: the
            // attributes of those names are gone, the exposition's own remain.
            let bucket = line.contains("_bucket{");
            let quantile_line = line.starts_with("hostile_pause_seconds{");
            assert_eq!(
                names.iter().filter(|n| *n == "le").count(),
                usize::from(bucket),
                "{name}: {line}"
            );
            assert_eq!(
                names.iter().filter(|n| *n == "quantile").count(),
                usize::from(quantile_line),
                "{name}: {line}"
            );
            for leaked in [",le=\"0.5\"", "{le=\"0.5\"", "quantile=\"0.9\""] {
                assert!(!line.contains(leaked), "{name}: {line}");
            }
        }
        // __name__, le and quantile on 5 points and on target_info (with
        // resource_to_telemetry the resource's copies replace the points' own).
        assert_eq!(dropped.reserved, 18, "{name}: {dropped:?}");
        assert!(dropped.invalid_name >= 6, "{name}: {dropped:?}");
        assert!(dropped.shadowed >= 5 * 3, "{name}: {dropped:?}");
    }
}

#[test]
fn promtool_accepts_a_page_built_from_hostile_attributes() {
    let config = PrometheusExporterConfig {
        resource_to_telemetry_conversion: super::config::ResourceToTelemetry {
            enabled: true,
            exclude_service_attributes: false,
        },
        ..Default::default()
    };
    for config in [PrometheusExporterConfig::default(), config] {
        let mut h = Harness::new(config);
        assert_eq!(h.ingest(&hostile_request(), 0), 5);
        promtool_check("promtool_accepts_a_page_built_from_hostile_attributes", &h.text());
    }
}

#[tokio::test]
async fn dropped_attributes_are_counted_in_a_self_metric() {
    let telemetry = SelfTelemetry::new();
    let ctx = ctx(Arc::clone(&telemetry));
    let exporter = super::build(&local_config(), &ctx).await.unwrap();
    let req = request(
        vec![],
        vec![gauge(
            "g",
            "",
            "",
            vec![num(
                vec![kv("__name__", "x"), kv("", "y"), kv("otel_scope_name", "z")],
                0,
                1,
                1.0,
            )],
        )],
    );
    exporter.consume(Telemetry::Metrics(req)).await.unwrap();
    let rendered = telemetry.render();
    for reason in ["reserved", "invalid_name", "shadowed"] {
        let line = format!(
            "otelcol_exporter_prometheus_dropped_labels_total{{exporter=\"prometheus\",reason=\"{reason}\"}} 1\n"
        );
        assert!(rendered.contains(&line), "{line} missing:\n{rendered}");
    }
    ctx.shutdown.cancel();
}

#[test]
fn reserved_const_labels_are_refused_by_validate() {
    for name in ["__name__", "__x", "le", "quantile"] {
        let config = PrometheusExporterConfig {
            const_labels: [(name.to_string(), "v".to_string())].into_iter().collect(),
            ..Default::default()
        };
        let err = config.validate("exporters.prometheus").unwrap_err().to_string();
        assert!(
            err.contains(&format!("exporters.prometheus.const_labels.{name}")) && err.contains("reserved"),
            "{err}"
        );
    }
    let ok = PrometheusExporterConfig {
        const_labels: [("region".to_string(), "eu".to_string())].into_iter().collect(),
        ..Default::default()
    };
    assert!(ok.validate("exporters.prometheus").is_ok());
}

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram as OtlpHistogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("service.instance.id", "i-1"),
                    kv("region", "eu"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn number(attrs: Vec<KeyValue>, start_s: u64, time_s: u64, v: i64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start_s * 1_000_000_000,
        time_unix_nano: time_s * 1_000_000_000,
        value: Some(number_data_point::Value::AsInt(v)),
        ..Default::default()
    }
}

fn counter(name: &str, temporality: AggregationTemporality, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        unit: "{request}".into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn config(yaml: &str) -> PrometheusRemoteWriteConfig {
    serde_norway::from_str(&format!("endpoint: http://localhost:9090/api/v1/write\n{yaml}")).unwrap()
}

fn find<'a>(out: &'a [TimeSeries], name: &str) -> Vec<&'a TimeSeries> {
    out.iter()
        .filter(|t| t.labels.iter().any(|l| l.name == "__name__" && l.value == name))
        .collect()
}

fn label<'a>(t: &'a TimeSeries, name: &str) -> Option<&'a str> {
    t.labels.iter().find(|l| l.name == name).map(|l| l.value.as_str())
}

#[test]
fn a_counter_becomes_one_sorted_series_with_job_instance_scope_and_external_labels() {
    let c = Converter::new(&config("external_labels: {cluster: eu-1, method: never}"));
    let out = c.convert(&request(vec![counter(
        "http.requests",
        AggregationTemporality::Cumulative,
        vec![number(vec![kv("method", "GET")], 10, 20, 7)],
    )]));
    assert_eq!(out.points, 1);
    let s = find(&out.series, "http_requests_total");
    assert_eq!(s.len(), 1);
    let names: Vec<&str> = s[0].labels.iter().map(|l| l.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "labels are sorted by name");
    assert_eq!(label(s[0], "job"), Some("checkout"));
    assert_eq!(label(s[0], "instance"), Some("i-1"));
    assert_eq!(label(s[0], "otel_scope_name"), Some("lib"));
    assert_eq!(label(s[0], "cluster"), Some("eu-1"));
    // A point attribute wins over an external label of the same name.
    assert_eq!(label(s[0], "method"), Some("GET"));
    assert_eq!(
        s[0].samples,
        vec![Sample {
            value: 7.0,
            timestamp: 20_000
        }]
    );
    let info = find(&out.series, "target_info");
    assert_eq!(info.len(), 1);
    assert_eq!(label(info[0], "region"), Some("eu"));
    assert_eq!(
        label(info[0], "cluster"),
        Some("eu-1"),
        "external labels go on target_info too"
    );
    assert_eq!(
        info[0].samples[0],
        Sample {
            value: 1.0,
            timestamp: 20_000
        }
    );
}

#[test]
fn target_info_can_be_turned_off() {
    let c = Converter::new(&config("target_info: {enabled: false}"));
    let out = c.convert(&request(vec![counter(
        "c",
        AggregationTemporality::Cumulative,
        vec![number(vec![], 1, 2, 1)],
    )]));
    assert!(find(&out.series, "target_info").is_empty());
}

#[test]
fn delta_sums_are_sent_as_running_totals() {
    let c = Converter::new(&config(""));
    let mut totals = Vec::new();
    for (start, end, v) in [(0, 10, 3), (10, 20, 4), (20, 30, 5)] {
        let out = c.convert(&request(vec![counter(
            "jobs",
            AggregationTemporality::Delta,
            vec![number(vec![], start, end, v)],
        )]));
        totals.extend(find(&out.series, "jobs_total").iter().map(|t| t.samples[0]));
    }
    assert_eq!(
        totals,
        vec![
            Sample {
                value: 3.0,
                timestamp: 10_000
            },
            Sample {
                value: 7.0,
                timestamp: 20_000
            },
            Sample {
                value: 12.0,
                timestamp: 30_000
            },
        ]
    );
}

#[test]
fn two_points_of_one_series_in_a_request_are_both_sent_in_order() {
    // The batch processor merges exports, so one request can hold a series twice; the
    // accumulator keeps one value, so each must be read back before the next is applied.
    let c = Converter::new(&config(""));
    let out = c.convert(&request(vec![counter(
        "jobs",
        AggregationTemporality::Delta,
        vec![number(vec![], 0, 10, 1), number(vec![], 10, 20, 2)],
    )]));
    let got: Vec<Sample> = find(&out.series, "jobs_total")
        .iter()
        .map(|t| t.samples[0])
        .collect();
    assert_eq!(
        got,
        vec![
            Sample {
                value: 1.0,
                timestamp: 10_000
            },
            Sample {
                value: 3.0,
                timestamp: 20_000
            }
        ]
    );
}

#[test]
fn an_out_of_order_point_is_not_sent_again() {
    let c = Converter::new(&config(""));
    let m = |t, v| {
        request(vec![counter(
            "c",
            AggregationTemporality::Cumulative,
            vec![number(vec![], 1, t, v)],
        )])
    };
    assert_eq!(find(&c.convert(&m(20, 5)).series, "c_total").len(), 1);
    assert!(find(&c.convert(&m(10, 4)).series, "c_total").is_empty());
}

#[test]
fn no_recorded_value_sends_a_staleness_marker() {
    let c = Converter::new(&config(""));
    c.convert(&request(vec![counter(
        "c",
        AggregationTemporality::Cumulative,
        vec![number(vec![], 1, 10, 5)],
    )]));
    let mut p = number(vec![], 1, 20, 0);
    p.flags = 1;
    let out = c.convert(&request(vec![counter(
        "c",
        AggregationTemporality::Cumulative,
        vec![p],
    )]));
    let s = find(&out.series, "c_total");
    assert_eq!(s.len(), 1);
    assert!(burnwatch_remote::proto::is_stale_nan(s[0].samples[0].value));
    assert_eq!(s[0].samples[0].timestamp, 20_000);
}

#[test]
fn explicit_histograms_become_cumulative_buckets_sum_and_count() {
    let c = Converter::new(&config(""));
    let m = Metric {
        name: "latency".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(OtlpHistogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: 1,
                time_unix_nano: 5_000_000_000,
                count: 6,
                sum: Some(2.5),
                explicit_bounds: vec![0.1, 1.0, 1e6],
                bucket_counts: vec![1, 2, 2, 1],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let out = c.convert(&request(vec![m]));
    let buckets: Vec<(String, f64)> = find(&out.series, "latency_seconds_bucket")
        .iter()
        .map(|t| (label(t, "le").unwrap().to_string(), t.samples[0].value))
        .collect();
    assert_eq!(
        buckets,
        vec![
            ("0.1".to_string(), 1.0),
            ("1".to_string(), 3.0),
            ("1000000".to_string(), 5.0),
            ("+Inf".to_string(), 6.0)
        ]
    );
    assert_eq!(find(&out.series, "latency_seconds_sum")[0].samples[0].value, 2.5);
    assert_eq!(
        find(&out.series, "latency_seconds_count")[0].samples[0].value,
        6.0
    );
}

#[test]
fn exponential_histograms_become_native_histograms() {
    let c = Converter::new(&config(""));
    let m = Metric {
        name: "size".into(),
        unit: "By".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                start_time_unix_nano: 1,
                time_unix_nano: 7_000_000_000,
                count: 10,
                sum: Some(100.0),
                scale: 2,
                zero_count: 1,
                // Buckets 3, 4 (empty), 5, then 9: a gap of three starts a new span.
                positive: Some(Buckets {
                    offset: 3,
                    bucket_counts: vec![2, 0, 3, 0, 0, 0, 4],
                }),
                negative: None,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let out = c.convert(&request(vec![m]));
    let s = find(&out.series, "size_bytes");
    assert_eq!(s.len(), 1);
    assert!(s[0].samples.is_empty());
    let h = &s[0].histograms[0];
    assert_eq!(h.schema, 2);
    assert_eq!(h.count, Some(histogram::Count::CountInt(10)));
    assert_eq!(h.zero_count, Some(histogram::ZeroCount::ZeroCountInt(1)));
    assert_eq!(h.sum, 100.0);
    assert_eq!(h.timestamp, 7_000);
    // OTLP index i is Prometheus index i + 1.
    assert_eq!(
        h.positive_spans,
        vec![
            BucketSpan { offset: 4, length: 3 },
            BucketSpan { offset: 3, length: 1 }
        ]
    );
    assert_eq!(h.positive_deltas, vec![2, -2, 3, 1]);
}

#[test]
fn fine_scales_are_merged_down_to_schema_8() {
    let e = ExpPoint {
        scale: 10,
        zero_count: 0,
        zero_threshold: 0.0,
        positive: ExpBuckets {
            offset: 0,
            counts: vec![1, 1, 1, 1, 1],
        },
        negative: ExpBuckets::default(),
        sum: Some(1.0),
        count: 5,
    };
    let h = native_histogram(&e, 0).unwrap();
    assert_eq!(h.schema, 8);
    assert_eq!(h.zero_threshold, DEFAULT_ZERO_THRESHOLD);
    // OTLP 0..=3 → bucket 0 at scale 8, OTLP 4 → bucket 1; then +1.
    assert_eq!(h.positive_spans, vec![BucketSpan { offset: 1, length: 2 }]);
    assert_eq!(h.positive_deltas, vec![4, -3]);
    let coarse = ExpPoint { scale: -5, ..e };
    assert!(native_histogram(&coarse, 0).is_none());
}

#[test]
fn rendered_label_sets_parse_back_with_escapes() {
    let got = labels(
        "m",
        r#"a="x\"y",b="back\\slash",c="new\nline",d="""#,
        Some(("le", "1")),
    );
    let want = vec![
        Label::new("__name__", "m"),
        Label::new("a", "x\"y"),
        Label::new("b", "back\\slash"),
        Label::new("c", "new\nline"),
        Label::new("d", ""),
        Label::new("le", "1"),
    ];
    assert_eq!(got, want);
    assert_eq!(labels("m", "", None), vec![Label::new("__name__", "m")]);
}

#[test]
fn gauges_and_metadata() {
    let c = Converter::new(&config("send_metadata: true\nnamespace: app"));
    let g = Metric {
        name: "temp".into(),
        description: "Temperature.".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: 3_000_000_000,
                value: Some(number_data_point::Value::AsDouble(21.5)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let out = c.convert(&request(vec![g]));
    assert_eq!(find(&out.series, "app_temp")[0].samples[0].value, 21.5);
    assert_eq!(out.metadata.len(), 1);
    assert_eq!(out.metadata[0].metric_family_name, "app_temp");
    assert_eq!(out.metadata[0].help, "Temperature.");
    assert_eq!(out.metadata[0].r#type, MetricType::Gauge as i32);
}

#[test]
fn target_info_never_goes_back_in_time() {
    // Regression: a request holding only an older point of another series used to send
    // target_info at that older time, which Prometheus refuses as out of order, failing
    // the whole request with a 400.
    let c = Converter::new(&config(""));
    let at = |name: &str, t| {
        request(vec![counter(
            name,
            AggregationTemporality::Cumulative,
            vec![number(vec![], 1, t, 1)],
        )])
    };
    assert_eq!(find(&c.convert(&at("a", 20)).series, "target_info").len(), 1);
    let out = c.convert(&at("b", 10));
    assert_eq!(find(&out.series, "b_total").len(), 1);
    assert!(find(&out.series, "target_info").is_empty());
    let out = c.convert(&at("b", 30));
    assert_eq!(find(&out.series, "target_info")[0].samples[0].timestamp, 30_000);
}

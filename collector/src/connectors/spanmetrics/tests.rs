use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data, number_data_point};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use super::aggregate::{Aggregator, Expo};
use super::config::SpanMetricsConfig;
use super::decode::Request;
use crate::component::{BoundAddrs, BuildContext};
use crate::config::{ComponentId, typed};
use crate::consumer::{ConsumeError, Consumer, Telemetry, TracesPayload};
use crate::telemetry::SelfTelemetry;

const MINUTE: u64 = 60_000_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

fn parse(yaml: &str) -> Result<SpanMetricsConfig, String> {
    let value: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
    let config: SpanMetricsConfig = typed(&value, "connectors.spanmetrics").map_err(|e| e.to_string())?;
    config
        .validate("connectors.spanmetrics")
        .map_err(|e| e.to_string())?;
    Ok(config)
}

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.to_string())),
    })
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: s(v),
        ..Default::default()
    }
}

/// A span of `name` lasting `ms` milliseconds.
fn span(name: &str, kind: i32, status: i32, ms: f64, attrs: Vec<KeyValue>) -> Span {
    let start = T0;
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.to_string(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + (ms * 1e6).round() as u64,
        attributes: attrs,
        status: Some(Status {
            code: status,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
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

fn lite(r: &ExportTraceServiceRequest) -> Request {
    Request::decode(r.encode_to_vec().as_slice()).unwrap()
}

fn checkout() -> Vec<KeyValue> {
    vec![kv("service.name", "checkout"), kv("host.name", "box")]
}

fn metric<'a>(out: &'a ExportMetricsServiceRequest, name: &str) -> Vec<&'a Metric> {
    out.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .filter(|m| m.name == name)
        .collect()
}

fn attrs(list: &[KeyValue]) -> Vec<(String, String)> {
    list.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// (attributes, calls) of every `calls` data point.
fn calls(out: &ExportMetricsServiceRequest) -> Vec<(Vec<(String, String)>, i64)> {
    let mut all = Vec::new();
    for m in metric(out, "traces.span.metrics.calls") {
        let Some(Data::Sum(sum)) = &m.data else {
            panic!("calls is not a sum")
        };
        assert!(sum.is_monotonic);
        for p in &sum.data_points {
            let Some(number_data_point::Value::AsInt(v)) = p.value else {
                panic!("not an int")
            };
            all.push((attrs(&p.attributes), v));
        }
    }
    all.sort();
    all
}

fn total_calls(out: &ExportMetricsServiceRequest) -> i64 {
    calls(out).iter().map(|(_, v)| v).sum()
}

#[test]
fn an_empty_section_takes_otelcols_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c, SpanMetricsConfig::default());
    assert_eq!(c.namespace, "traces.span.metrics");
    assert_eq!(c.metrics_flush_interval.0, std::time::Duration::from_secs(60));
    assert_eq!(c.dimensions_cache_size, 1000);
    assert!(!c.is_delta());
    assert_eq!(
        c.bounds(),
        vec![
            2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
            10000.0, 15000.0
        ]
    );
}

#[test]
fn a_full_config_round_trips() {
    let c = parse(
        r#"
histogram:
  unit: s
  explicit:
    buckets: [10ms, 100ms, 250ms]
dimensions:
  - name: http.method
    default: GET
  - name: http.status_code
exclude_dimensions: [status.code]
dimensions_cache_size: 500
aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA
metrics_flush_interval: 15s
metrics_expiration: 5m
exemplars:
  enabled: true
namespace: spans
"#,
    )
    .unwrap();
    assert_eq!(c.bounds(), vec![0.01, 0.1, 0.25]);
    assert!(c.is_delta());
    assert_eq!(c.dimensions[0].default.as_deref(), Some("GET"));
    assert_eq!(c.exemplars.max_per_data_point, 5);
    let again: SpanMetricsConfig =
        typed(&serde_norway::to_value(&c).unwrap(), "connectors.spanmetrics").unwrap();
    assert_eq!(again, c);
    // An explicitly empty `explicit:` means the default buckets, as in otelcol's testdata.
    assert_eq!(parse("histogram:\n  explicit:\n").unwrap().bounds().len(), 16);
}

#[test]
fn config_errors_name_the_key() {
    let cases = [
        (
            "flush_interval: 1s",
            "unknown key 'flush_interval' in connectors.spanmetrics",
        ),
        (
            "histogram:\n  buckets: [1ms]",
            "unknown key 'buckets' in connectors.spanmetrics.histogram",
        ),
        (
            "dimensions:\n  - name: span.kind",
            "connectors.spanmetrics.dimensions[0]: duplicate dimension name span.kind",
        ),
        (
            "dimensions:\n  - name: a\n  - name: a",
            "connectors.spanmetrics.dimensions[1]: duplicate dimension name a",
        ),
        (
            "dimensions_cache_size: 0",
            "connectors.spanmetrics.dimensions_cache_size: invalid cache size: 0, the maximum number of the items in the cache should be positive",
        ),
        (
            "histogram:\n  explicit: {}\n  exponential: {}",
            "connectors.spanmetrics.histogram: use either `explicit` or `exponential` buckets histogram",
        ),
        ("histogram:\n  unit: us", "connectors.spanmetrics.histogram.unit"),
        (
            "aggregation_temporality: DELTA",
            "connectors.spanmetrics.aggregation_temporality must be AGGREGATION_TEMPORALITY_CUMULATIVE or AGGREGATION_TEMPORALITY_DELTA",
        ),
        (
            "metrics_flush_interval: 0s",
            "connectors.spanmetrics.metrics_flush_interval",
        ),
        (
            "metrics_expiration: -1s",
            "connectors.spanmetrics.metrics_expiration",
        ),
        (
            "histogram:\n  explicit:\n    buckets: [10ms, 5ms]",
            "connectors.spanmetrics.histogram.explicit.buckets must be strictly increasing",
        ),
        (
            "exclude_dimensions: [http.method]",
            "connectors.spanmetrics.exclude_dimensions[0]",
        ),
    ];
    for (yaml, want) in cases {
        let err = parse(yaml).expect_err(yaml);
        assert!(err.contains(want), "{yaml}: {err}");
    }
}

#[test]
fn calls_and_buckets_are_counted_per_series_with_otelcols_attributes() {
    let mut agg = Aggregator::new(&SpanMetricsConfig::default());
    let spans = vec![
        span("POST /payment", 2, 0, 1.0, vec![]),
        span("POST /payment", 2, 0, 2.0, vec![]),
        span("POST /payment", 2, 0, 3.0, vec![]),
        span("POST /payment", 2, 2, 900.0, vec![]),
        span("SELECT", 3, 1, 20000.0, vec![]),
    ];
    agg.aggregate(&lite(&request(checkout(), spans)), T0);
    // No service.name: skipped, as otelcol does.
    agg.aggregate(
        &lite(&request(
            vec![kv("host.name", "x")],
            vec![span("x", 1, 0, 1.0, vec![])],
        )),
        T0,
    );
    let out = agg.collect(T0 + MINUTE).unwrap();
    let series = |name: &str, kind: &str, status: &str| {
        vec![
            ("service.name".to_string(), "checkout".to_string()),
            ("span.name".to_string(), name.to_string()),
            ("span.kind".to_string(), kind.to_string()),
            ("status.code".to_string(), status.to_string()),
        ]
    };
    assert_eq!(
        calls(&out),
        vec![
            (
                series("POST /payment", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"),
                1
            ),
            (
                series("POST /payment", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"),
                3
            ),
            (series("SELECT", "SPAN_KIND_CLIENT", "STATUS_CODE_OK"), 1),
        ]
    );
    assert_eq!(out.resource_metrics.len(), 1);
    let resource = out.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(attrs(&resource.attributes), attrs(&checkout()));
    let scope = &out.resource_metrics[0].scope_metrics[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, "spanmetricsconnector");

    let durations = metric(&out, "traces.span.metrics.duration");
    assert_eq!(durations[0].unit, "ms");
    let Some(Data::Histogram(h)) = &durations[0].data else {
        panic!("not a histogram")
    };
    let ok = h
        .data_points
        .iter()
        .find(|p| attrs(&p.attributes) == series("POST /payment", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"))
        .unwrap();
    // Upper-inclusive buckets: 1 and 2 in (…, 2], 3 in (2, 4].
    assert_eq!(&ok.bucket_counts[..3], &[2, 1, 0]);
    assert_eq!(ok.bucket_counts.iter().sum::<u64>(), 3);
    assert_eq!(ok.count, 3);
    assert_eq!(ok.sum, Some(6.0));
    let slow = h
        .data_points
        .iter()
        .find(|p| attrs(&p.attributes)[1].1 == "SELECT")
        .unwrap();
    // 20 s is past the last bound (15 s): the overflow bucket.
    assert_eq!(*slow.bucket_counts.last().unwrap(), 1);
}

#[test]
fn quantiles_are_within_hdrhistograms_precision_of_the_true_ones() {
    let mut agg = Aggregator::new(&SpanMetricsConfig::default());
    // 1000 distinct durations from 0.5 ms to about 5 s, microsecond-exact.
    let mut durations: Vec<f64> = (0..1000u64)
        .map(|i| (500 + (i * i * 4999) % 5_000_000) as f64 / 1000.0)
        .collect();
    let spans = durations
        .iter()
        .map(|ms| span("GET /", 2, 0, *ms, vec![]))
        .collect();
    agg.aggregate(&lite(&request(checkout(), spans)), T0);
    let out = agg.collect(T0 + MINUTE).unwrap();
    let summaries = metric(&out, "traces.span.metrics.duration.quantiles");
    assert_eq!(summaries[0].unit, "ms");
    let Some(Data::Summary(summary)) = &summaries[0].data else {
        panic!("not a summary")
    };
    let point = &summary.data_points[0];
    assert_eq!(point.count, 1000);
    durations.sort_by(f64::total_cmp);
    let total: f64 = durations.iter().sum();
    assert!((point.sum - total).abs() < 1e-6 * total);
    assert_eq!(point.quantile_values.len(), 4);
    for qv in &point.quantile_values {
        // Nearest rank, HdrHistogram's definition of a quantile.
        let rank = ((qv.quantile * 1000.0).ceil() as usize).max(1);
        let truth = durations[rank - 1];
        assert!(
            (qv.value - truth).abs() <= truth * 1e-3,
            "q{}: {} vs true {}",
            qv.quantile,
            qv.value,
            truth
        );
    }
}

#[test]
fn dimensions_come_from_the_span_then_the_resource_then_the_default() {
    let c = parse(
        "dimensions:\n  - name: http.method\n    default: GET\n  - name: host.name\n  - name: missing\nexclude_dimensions: [status.code]",
    )
    .unwrap();
    let mut agg = Aggregator::new(&c);
    let spans = vec![
        span(
            "a",
            2,
            2,
            1.0,
            vec![kv("http.method", "POST"), kv("host.name", "span-host")],
        ),
        span("a", 2, 0, 1.0, vec![]),
    ];
    agg.aggregate(&lite(&request(checkout(), spans)), T0);
    let out = agg.collect(T0 + 1).unwrap();
    let got: Vec<Vec<(String, String)>> = calls(&out).into_iter().map(|(a, _)| a).collect();
    let row = |method: &str, host: &str| {
        vec![
            ("service.name".to_string(), "checkout".to_string()),
            ("span.name".to_string(), "a".to_string()),
            ("span.kind".to_string(), "SPAN_KIND_SERVER".to_string()),
            ("http.method".to_string(), method.to_string()),
            ("host.name".to_string(), host.to_string()),
        ]
    };
    assert_eq!(got, vec![row("GET", "box"), row("POST", "span-host")]);
}

#[test]
fn the_dimensions_cache_evicts_the_least_recently_updated_series() {
    let c = parse("dimensions_cache_size: 2").unwrap();
    let mut agg = Aggregator::new(&c);
    let send = |agg: &mut Aggregator, name: &str| {
        agg.aggregate(
            &lite(&request(checkout(), vec![span(name, 2, 0, 1.0, vec![])])),
            T0,
        );
    };
    send(&mut agg, "a");
    send(&mut agg, "b");
    send(&mut agg, "a");
    send(&mut agg, "c"); // evicts b, the least recently updated
    assert_eq!(agg.series_len(), 2);
    let out = agg.collect(T0 + 1).unwrap();
    let names: Vec<(String, i64)> = calls(&out)
        .into_iter()
        .map(|(a, v)| (a[1].1.clone(), v))
        .collect();
    assert_eq!(names, vec![("a".to_string(), 2), ("c".to_string(), 1)]);
    // b comes back from zero, evicting a (c was updated after it).
    send(&mut agg, "b");
    let out = agg.collect(T0 + 2).unwrap();
    let names: Vec<(String, i64)> = calls(&out)
        .into_iter()
        .map(|(a, v)| (a[1].1.clone(), v))
        .collect();
    assert_eq!(names, vec![("b".to_string(), 1), ("c".to_string(), 1)]);
}

#[test]
fn the_resource_cache_evicts_a_resource_with_its_series() {
    let c = parse("resource_metrics_cache_size: 1").unwrap();
    let mut agg = Aggregator::new(&c);
    agg.aggregate(
        &lite(&request(checkout(), vec![span("a", 2, 0, 1.0, vec![])])),
        T0,
    );
    agg.aggregate(
        &lite(&request(
            vec![kv("service.name", "cart")],
            vec![span("b", 2, 0, 1.0, vec![])],
        )),
        T0,
    );
    let out = agg.collect(T0 + 1).unwrap();
    assert_eq!(out.resource_metrics.len(), 1);
    assert_eq!(calls(&out)[0].0[0].1, "cart");
}

#[test]
fn expired_series_stop_being_exported() {
    let c = parse("metrics_expiration: 2m").unwrap();
    let mut agg = Aggregator::new(&c);
    agg.aggregate(
        &lite(&request(checkout(), vec![span("old", 2, 0, 1.0, vec![])])),
        T0,
    );
    agg.aggregate(
        &lite(&request(checkout(), vec![span("new", 2, 0, 1.0, vec![])])),
        T0 + 2 * MINUTE,
    );
    let out = agg.collect(T0 + 3 * MINUTE).unwrap();
    let names: Vec<String> = calls(&out).into_iter().map(|(a, _)| a[1].1.clone()).collect();
    assert_eq!(names, vec!["new".to_string()]);
    // Once every series expired, nothing is sent.
    assert!(agg.collect(T0 + 10 * MINUTE).is_none());
    assert_eq!(agg.series_len(), 0);
}

#[test]
fn cumulative_accumulates_and_delta_restarts_each_interval() {
    let send = |agg: &mut Aggregator, n: usize, at: u64| {
        let spans = (0..n).map(|_| span("a", 2, 0, 1.0, vec![])).collect();
        agg.aggregate(&lite(&request(checkout(), spans)), at);
    };
    let point = |out: &ExportMetricsServiceRequest| {
        let m = metric(out, "traces.span.metrics.calls");
        let Some(Data::Sum(sum)) = &m[0].data else {
            panic!()
        };
        let p = &sum.data_points[0];
        let Some(number_data_point::Value::AsInt(v)) = p.value else {
            panic!()
        };
        (
            sum.aggregation_temporality,
            p.start_time_unix_nano,
            p.time_unix_nano,
            v,
        )
    };
    let mut cumulative = Aggregator::new(&SpanMetricsConfig::default());
    send(&mut cumulative, 3, T0);
    assert_eq!(
        point(&cumulative.collect(T0 + MINUTE).unwrap()),
        (2, T0, T0 + MINUTE, 3)
    );
    send(&mut cumulative, 2, T0 + MINUTE + 1);
    assert_eq!(
        point(&cumulative.collect(T0 + 2 * MINUTE).unwrap()),
        (2, T0, T0 + 2 * MINUTE, 5)
    );
    // Nothing new: the cumulative series is sent again unchanged.
    assert_eq!(
        point(&cumulative.collect(T0 + 3 * MINUTE).unwrap()),
        (2, T0, T0 + 3 * MINUTE, 5)
    );

    let mut delta =
        Aggregator::new(&parse("aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA").unwrap());
    send(&mut delta, 3, T0);
    assert_eq!(
        point(&delta.collect(T0 + MINUTE).unwrap()),
        (1, T0, T0 + MINUTE, 3)
    );
    send(&mut delta, 2, T0 + MINUTE + 1);
    // The next interval starts where the previous one ended.
    assert_eq!(
        point(&delta.collect(T0 + 2 * MINUTE).unwrap()),
        (1, T0 + MINUTE, T0 + 2 * MINUTE, 2)
    );
    // Nothing new: nothing sent.
    assert!(delta.collect(T0 + 3 * MINUTE).is_none());
    // The histogram is delta too.
    send(&mut delta, 1, T0 + 3 * MINUTE + 1);
    let out = delta.collect(T0 + 4 * MINUTE).unwrap();
    let Some(Data::Histogram(h)) = &metric(&out, "traces.span.metrics.duration")[0].data else {
        panic!()
    };
    assert_eq!((h.aggregation_temporality, h.data_points[0].count), (1, 1));
}

#[test]
fn exemplars_carry_the_spans_ids_and_are_cleared_after_a_flush() {
    let mut agg = Aggregator::new(&parse("exemplars:\n  enabled: true\n  max_per_data_point: 2").unwrap());
    let spans = (0..3).map(|_| span("a", 2, 0, 7.0, vec![])).collect();
    agg.aggregate(&lite(&request(checkout(), spans)), T0);
    let out = agg.collect(T0 + 1).unwrap();
    let Some(Data::Histogram(h)) = &metric(&out, "traces.span.metrics.duration")[0].data else {
        panic!()
    };
    let ex = &h.data_points[0].exemplars;
    assert_eq!(ex.len(), 2);
    assert_eq!(
        (ex[0].trace_id.clone(), ex[0].span_id.clone()),
        (vec![1; 16], vec![2; 8])
    );
    let out = agg.collect(T0 + 2).unwrap();
    let Some(Data::Histogram(h)) = &metric(&out, "traces.span.metrics.duration")[0].data else {
        panic!()
    };
    assert!(h.data_points[0].exemplars.is_empty());
}

#[test]
fn seconds_unit_and_a_namespace_name_the_metrics() {
    let mut agg = Aggregator::new(&parse("namespace: spans\nhistogram:\n  unit: s").unwrap());
    agg.aggregate(
        &lite(&request(checkout(), vec![span("a", 2, 0, 1500.0, vec![])])),
        T0,
    );
    let out = agg.collect(T0 + 1).unwrap();
    let names: Vec<&str> = out.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["spans.calls", "spans.duration", "spans.duration.quantiles"]
    );
    let Some(Data::Histogram(h)) = &metric(&out, "spans.duration")[0].data else {
        panic!()
    };
    assert_eq!(h.data_points[0].sum, Some(1.5));
    // 1.5 s: in (1.4, 2].
    assert_eq!(h.data_points[0].bucket_counts[12], 1);
    let Some(Data::Summary(q)) = &metric(&out, "spans.duration.quantiles")[0].data else {
        panic!()
    };
    assert!((q.data_points[0].quantile_values[0].value - 1.5).abs() <= 1.5e-3);
    // histogram.disable: calls only.
    let mut agg = Aggregator::new(&parse("histogram:\n  disable: true").unwrap());
    agg.aggregate(
        &lite(&request(checkout(), vec![span("a", 2, 0, 1.0, vec![])])),
        T0,
    );
    let out = agg.collect(T0 + 1).unwrap();
    assert_eq!(out.resource_metrics[0].scope_metrics[0].metrics.len(), 1);
}

#[test]
fn the_exponential_histogram_keeps_every_count_within_max_size() {
    let mut e = Expo::new(8);
    let values = [0.0, 1.0, 2.0, 3.0, 100.0, 1000.0, 0.01];
    for v in values {
        e.record(v);
    }
    assert!(e.counts.len() <= 8, "{} buckets", e.counts.len());
    assert_eq!(e.zero, 1);
    assert_eq!(e.counts.iter().sum::<u64>(), 6);
    // Every value lies in its bucket: (base^i, base^(i+1)].
    let base = 2f64.powf(2f64.powi(-e.scale));
    for v in values.iter().filter(|v| **v > 0.0) {
        let i = (v.log2() * 2f64.powi(e.scale)).ceil() as i32 - 1;
        assert!(i >= e.offset && i < e.offset + e.counts.len() as i32);
        assert!(base.powi(i) < *v * (1.0 + 1e-12) && *v <= base.powi(i + 1) * (1.0 + 1e-12));
    }
    // A power of two closes its bucket: 2 at scale 0 is in bucket 0, (1, 2].
    let mut e = Expo::new(160);
    e.record(1.0);
    assert_eq!((e.scale, e.offset), (20, -1));
    let c = parse("histogram:\n  exponential:\n    max_size: 10").unwrap();
    let mut agg = Aggregator::new(&c);
    let spans = (1..=50).map(|i| span("a", 2, 0, i as f64, vec![])).collect();
    agg.aggregate(&lite(&request(checkout(), spans)), T0);
    let out = agg.collect(T0 + 1).unwrap();
    let Some(Data::ExponentialHistogram(h)) = &metric(&out, "traces.span.metrics.duration")[0].data else {
        panic!("not exponential")
    };
    let p = &h.data_points[0];
    let buckets = p.positive.as_ref().unwrap();
    assert!(buckets.bucket_counts.len() <= 10);
    assert_eq!(buckets.bucket_counts.iter().sum::<u64>() + p.zero_count, 50);
    assert_eq!(p.count, 50);
}

/// Keeps what it is given.
#[derive(Default)]
struct Recording(Mutex<Vec<Telemetry>>);

#[async_trait]
impl Consumer for Recording {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        self.0.lock().unwrap().push(data);
        Ok(())
    }
}

fn ctx() -> BuildContext {
    BuildContext {
        id: ComponentId::parse("spanmetrics").unwrap(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    }
}

#[tokio::test]
async fn raw_spans_in_metrics_out_at_shutdown() {
    let next = Arc::new(Recording::default());
    let connector = super::build(&SpanMetricsConfig::default(), next.clone(), &ctx()).unwrap();
    let r = request(
        checkout(),
        vec![span("a", 2, 0, 5.0, vec![]), span("a", 2, 0, 6.0, vec![])],
    );
    let raw = TracesPayload::from_wire(r.encode_to_vec().into()).unwrap();
    assert!(raw.is_raw());
    connector.consume(Telemetry::Traces(raw)).await.unwrap();
    connector.consume(Telemetry::traces(r)).await.unwrap();
    let err = connector
        .consume(Telemetry::Metrics(Default::default()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConsumeError::Permanent("connector spanmetrics takes traces, not metrics".into())
    );
    // The flush interval is a minute: shutdown sends what is held.
    assert!(next.0.lock().unwrap().is_empty());
    connector.shutdown().await;
    let got = next.0.lock().unwrap();
    let [Telemetry::Metrics(out)] = &got[..] else {
        panic!("{got:?}")
    };
    assert_eq!(total_calls(out), 4);
}

#[tokio::test]
async fn the_flush_interval_sends_metrics_without_a_shutdown() {
    let next = Arc::new(Recording::default());
    let config = parse("metrics_flush_interval: 10ms").unwrap();
    let connector = super::build(&config, next.clone(), &ctx()).unwrap();
    let r = request(checkout(), vec![span("a", 2, 0, 5.0, vec![])]);
    connector.consume(Telemetry::traces(r)).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if !next.0.lock().unwrap().is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no flush within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    connector.shutdown().await;
}

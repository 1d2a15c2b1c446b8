use std::sync::atomic::{AtomicUsize, Ordering};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge as GaugeData, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::sync::Semaphore;

use super::*;
use crate::component::BoundAddrs;
use crate::config::ComponentId;
use crate::telemetry::SelfTelemetry;

// ---- test data -------------------------------------------------------------------

fn resource(name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(name.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        version: "1.0".into(),
        ..Default::default()
    })
}

fn service_name(r: &Option<Resource>) -> String {
    let r = r.as_ref().expect("every piece keeps its resource");
    match r.attributes[0].value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("unexpected resource attribute {other:?}"),
    }
}

fn scope_name(s: &Option<InstrumentationScope>) -> String {
    s.as_ref().expect("every piece keeps its scope").name.clone()
}

/// `shape[r][s]` spans under resource r, scope s.
fn traces(tag: &str, shape: &[&[usize]]) -> Telemetry {
    Telemetry::traces(ExportTraceServiceRequest {
        resource_spans: shape
            .iter()
            .enumerate()
            .map(|(r, scopes)| ResourceSpans {
                resource: resource(&format!("{tag}r{r}")),
                scope_spans: scopes
                    .iter()
                    .enumerate()
                    .map(|(s, &n)| ScopeSpans {
                        scope: scope(&format!("s{s}")),
                        spans: (0..n)
                            .map(|k| Span {
                                name: format!("{tag}r{r}s{s}k{k}"),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    })
}

/// Every metric type, `per_metric` points each, under two resources.
fn metrics(per_metric: usize) -> Telemetry {
    let mut t = 0u64;
    let mut next_t = || {
        t += 1;
        t
    };
    let mut metrics_for = |r: usize| -> Vec<Metric> {
        let number = |t: u64| NumberDataPoint {
            time_unix_nano: t,
            ..Default::default()
        };
        vec![
            Metric {
                name: format!("r{r}.gauge"),
                unit: "1".into(),
                data: Some(Data::Gauge(GaugeData {
                    data_points: (0..per_metric).map(|_| number(next_t())).collect(),
                })),
                ..Default::default()
            },
            Metric {
                name: format!("r{r}.sum"),
                data: Some(Data::Sum(Sum {
                    data_points: (0..per_metric).map(|_| number(next_t())).collect(),
                    aggregation_temporality: 2,
                    is_monotonic: true,
                })),
                ..Default::default()
            },
            Metric {
                name: format!("r{r}.empty"),
                data: None,
                ..Default::default()
            },
            Metric {
                name: format!("r{r}.histogram"),
                data: Some(Data::Histogram(Histogram {
                    data_points: (0..per_metric)
                        .map(|_| HistogramDataPoint {
                            time_unix_nano: next_t(),
                            ..Default::default()
                        })
                        .collect(),
                    aggregation_temporality: 1,
                })),
                ..Default::default()
            },
            Metric {
                name: format!("r{r}.exp"),
                data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: (0..per_metric)
                        .map(|_| ExponentialHistogramDataPoint {
                            time_unix_nano: next_t(),
                            ..Default::default()
                        })
                        .collect(),
                    aggregation_temporality: 2,
                })),
                ..Default::default()
            },
            Metric {
                name: format!("r{r}.summary"),
                data: Some(Data::Summary(Summary {
                    data_points: (0..per_metric)
                        .map(|_| SummaryDataPoint {
                            time_unix_nano: next_t(),
                            ..Default::default()
                        })
                        .collect(),
                })),
                ..Default::default()
            },
        ]
    };
    let resource_metrics = (0..2)
        .map(|r| ResourceMetrics {
            resource: resource(&format!("r{r}")),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("meter"),
                metrics: metrics_for(r),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    Telemetry::Metrics(ExportMetricsServiceRequest { resource_metrics })
}

fn logs(shape: &[&[usize]]) -> Telemetry {
    let mut t = 0u64;
    Telemetry::logs(ExportLogsServiceRequest {
        resource_logs: shape
            .iter()
            .enumerate()
            .map(|(r, scopes)| ResourceLogs {
                resource: resource(&format!("r{r}")),
                scope_logs: scopes
                    .iter()
                    .enumerate()
                    .map(|(s, &n)| ScopeLogs {
                        scope: scope(&format!("s{s}")),
                        log_records: (0..n)
                            .map(|_| {
                                t += 1;
                                LogRecord {
                                    time_unix_nano: t,
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    })
}

/// The same request carried raw: its encoding, validated by the wire walker, as the
/// receivers hand it on.
fn raw(data: Telemetry) -> Telemetry {
    match data {
        Telemetry::Traces(p) => {
            Telemetry::Traces(crate::pdata::TracesPayload::from_wire(p.encode()).unwrap())
        }
        Telemetry::Logs(p) => Telemetry::Logs(crate::pdata::LogsPayload::from_wire(p.encode()).unwrap()),
        other => other,
    }
}

fn is_raw(data: &Telemetry) -> bool {
    match data {
        Telemetry::Traces(p) => p.is_raw(),
        Telemetry::Logs(p) => p.is_raw(),
        Telemetry::Metrics(_) => false,
    }
}

/// Every item with the resource, scope (and metric description) it sits under, in order.
fn flatten(data: &Telemetry) -> Vec<String> {
    let mut out = Vec::new();
    match data {
        Telemetry::Traces(p) => {
            let r = p.decoded().expect("pieces decode");
            for rs in &r.resource_spans {
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        out.push(format!(
                            "{}|{}|{}",
                            service_name(&rs.resource),
                            scope_name(&ss.scope),
                            span.name
                        ));
                    }
                }
            }
        }
        Telemetry::Metrics(r) => {
            for rm in &r.resource_metrics {
                for sm in &rm.scope_metrics {
                    for m in &sm.metrics {
                        let prefix = format!(
                            "{}|{}|{}|{}",
                            service_name(&rm.resource),
                            scope_name(&sm.scope),
                            m.name,
                            m.unit
                        );
                        let points: Vec<String> = match &m.data {
                            Some(Data::Gauge(g)) => g
                                .data_points
                                .iter()
                                .map(|p| format!("gauge|{}", p.time_unix_nano))
                                .collect(),
                            Some(Data::Sum(s)) => s
                                .data_points
                                .iter()
                                .map(|p| {
                                    format!(
                                        "sum/{}/{}|{}",
                                        s.aggregation_temporality, s.is_monotonic, p.time_unix_nano
                                    )
                                })
                                .collect(),
                            Some(Data::Histogram(h)) => h
                                .data_points
                                .iter()
                                .map(|p| format!("hist/{}|{}", h.aggregation_temporality, p.time_unix_nano))
                                .collect(),
                            Some(Data::ExponentialHistogram(h)) => h
                                .data_points
                                .iter()
                                .map(|p| format!("exp/{}|{}", h.aggregation_temporality, p.time_unix_nano))
                                .collect(),
                            Some(Data::Summary(s)) => s
                                .data_points
                                .iter()
                                .map(|p| format!("summary|{}", p.time_unix_nano))
                                .collect(),
                            None => Vec::new(),
                        };
                        out.extend(points.into_iter().map(|p| format!("{prefix}|{p}")));
                    }
                }
            }
        }
        Telemetry::Logs(p) => {
            let r = p.decoded().expect("pieces decode");
            for rl in &r.resource_logs {
                for sl in &rl.scope_logs {
                    for rec in &sl.log_records {
                        out.push(format!(
                            "{}|{}|{}",
                            service_name(&rl.resource),
                            scope_name(&sl.scope),
                            rec.time_unix_nano
                        ));
                    }
                }
            }
        }
    }
    out
}

// ---- a consumer to send batches to ------------------------------------------------

/// Records what reaches it; optionally waits for a permit per request, or fails.
#[derive(Default)]
struct Sink {
    received: Mutex<Vec<Telemetry>>,
    gate: Option<Semaphore>,
    fail: bool,
}

#[async_trait]
impl Consumer for Sink {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        if self.fail {
            return Err(ConsumeError::Unavailable("downstream is down".into()));
        }
        self.received.lock().unwrap().push(data);
        Ok(())
    }
}

impl Sink {
    fn sizes(&self) -> Vec<usize> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(Telemetry::item_count)
            .collect()
    }
    fn items(&self) -> Vec<String> {
        self.received.lock().unwrap().iter().flat_map(flatten).collect()
    }
}

fn ctx() -> BuildContext {
    BuildContext {
        id: ComponentId::parse("batch/test").unwrap(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    }
}

fn config(timeout_ms: u64, size: u64, max: u64) -> BatchConfig {
    BatchConfig {
        timeout: GoDuration::from_millis(timeout_ms),
        send_batch_size: size,
        send_batch_max_size: max,
        ..BatchConfig::default()
    }
}

fn counter(ctx: &BuildContext, name: &str) -> u64 {
    ctx.telemetry
        .counter(name, "", &[("processor", "batch/test")])
        .get()
}

/// Lets the batching task run (time is paused in these tests, so this is instant).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

// ---- splitting ------------------------------------------------------------------

#[test]
fn chunks_keep_every_item_once_with_its_resource_and_scope() {
    let shapes: [&[&[usize]]; 4] = [
        &[&[7, 0, 3], &[1], &[]],
        &[&[12]],
        &[&[1, 1, 1], &[2, 5]],
        &[&[0], &[4, 0]],
    ];
    for shape in shapes {
        for max in 1..=14 {
            let cases = [
                traces("", shape),
                logs(shape),
                raw(traces("", shape)),
                raw(logs(shape)),
            ];
            for data in cases {
                let expected = flatten(&data);
                let was_raw = is_raw(&data);
                let pieces = split::chunk(data, max);
                assert!(
                    pieces.iter().all(|p| is_raw(p) == was_raw),
                    "raw requests are cut into raw pieces"
                );
                let got: Vec<String> = pieces.iter().flat_map(flatten).collect();
                assert_eq!(got, expected, "shape {shape:?}, max {max}");
                let sizes: Vec<usize> = pieces.iter().map(Telemetry::item_count).collect();
                let (last, full) = sizes.split_last().unwrap();
                assert!(
                    full.iter().all(|&n| n == max),
                    "every piece but the last is full: {sizes:?}, max {max}"
                );
                assert!(*last <= max && (*last > 0 || expected.is_empty()), "{sizes:?}");
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Cutting a raw request gives, piece for piece, the requests cutting it decoded
    /// gives: same resources, scopes (empty ones riding along as they do decoded) and
    /// spans, in order, each piece within `max` and all but the last full.
    #[test]
    fn raw_chunks_decode_to_the_decoded_chunks(
        req in crate::pdata::arb::traces(),
        logs_req in crate::pdata::arb::logs(),
        max in 1usize..12,
    ) {
        for data in [Telemetry::traces(req.clone()), Telemetry::logs(logs_req.clone())] {
            let items = data.item_count();
            let decoded_pieces = split::chunk(data.clone(), max);
            let raw_pieces = split::chunk(raw(data), max);
            proptest::prop_assert!(raw_pieces.iter().all(is_raw));
            proptest::prop_assert_eq!(&raw_pieces, &decoded_pieces);
            let sizes: Vec<usize> = raw_pieces.iter().map(Telemetry::item_count).collect();
            proptest::prop_assert_eq!(sizes.iter().sum::<usize>(), items);
            if let Some((_, full)) = sizes.split_last() {
                proptest::prop_assert!(full.iter().all(|&n| n == max), "{:?}", sizes);
            }
            proptest::prop_assert!(sizes.iter().all(|&n| n <= max));
        }
    }
}

#[test]
fn metric_chunks_cut_inside_metrics_by_data_point() {
    for per_metric in [1, 3, 10] {
        for max in 1..=25 {
            let data = metrics(per_metric);
            let expected = flatten(&data);
            assert_eq!(expected.len(), 2 * 5 * per_metric);
            let pieces = split::chunk(data, max);
            let got: Vec<String> = pieces.iter().flat_map(flatten).collect();
            assert_eq!(got, expected, "per_metric {per_metric}, max {max}");
            let sizes: Vec<usize> = pieces.iter().map(Telemetry::item_count).collect();
            let (_, full) = sizes.split_last().unwrap();
            assert!(full.iter().all(|&n| n == max), "{sizes:?}, max {max}");
            assert!(sizes.iter().all(|&n| n <= max));
        }
    }
}

// ---- the processor ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn sends_when_send_batch_size_is_reached() {
    let sink = Arc::new(Sink::default());
    let ctx = ctx();
    let batch = build(&config(60_000, 10, 0), sink.clone(), &ctx).unwrap();
    batch.consume(traces("a", &[&[4]])).await.unwrap();
    batch.consume(traces("b", &[&[4]])).await.unwrap();
    settle().await;
    assert!(sink.sizes().is_empty(), "8 < 10 spans: still batching");
    batch.consume(traces("c", &[&[4]])).await.unwrap();
    settle().await;
    assert_eq!(sink.sizes(), vec![12], "requests are merged into one batch");
    assert_eq!(
        sink.received.lock().unwrap()[0],
        split::merge(vec![
            traces("a", &[&[4]]),
            traces("b", &[&[4]]),
            traces("c", &[&[4]])
        ])
        .pop()
        .unwrap()
    );
    assert_eq!(
        counter(&ctx, "otelcol_processor_batch_batch_size_trigger_send"),
        1
    );
    assert_eq!(counter(&ctx, "otelcol_processor_batch_timeout_trigger_send"), 0);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn raw_requests_are_concatenated_and_cut_without_decoding() {
    let sink = Arc::new(Sink::default());
    let ctx = ctx();
    // 4 + 4 + 4 spans with a size of 10 and a maximum of 5: at 12, pieces of 5 go out
    // while 10 or more are pending (one), and the 7 left go at the timeout as 5 + 2.
    let batch = build(&config(200, 10, 5), sink.clone(), &ctx).unwrap();
    let sent = [
        raw(traces("a", &[&[1, 3]])),
        raw(traces("b", &[&[4]])),
        // A decoded request among raw ones is encoded into the merged batch.
        traces("c", &[&[2], &[2]]),
    ];
    let expected: Vec<String> = sent.iter().flat_map(flatten).collect();
    for data in sent {
        batch.consume(data).await.unwrap();
    }
    settle().await;
    assert_eq!(sink.sizes(), vec![5]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(sink.sizes(), vec![5, 5, 2]);
    assert!(sink.received.lock().unwrap().iter().all(is_raw));
    assert_eq!(
        sink.items(),
        expected,
        "every span once, in order, under its resource and scope"
    );
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn sends_a_partial_batch_when_the_timeout_expires() {
    let sink = Arc::new(Sink::default());
    let ctx = ctx();
    let batch = build(&config(200, 100, 0), sink.clone(), &ctx).unwrap();
    batch.consume(logs(&[&[3]])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    batch.consume(logs(&[&[2]])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(sink.sizes().is_empty());
    // 200ms after the first record arrived, not after the last.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(sink.sizes(), vec![5]);
    assert_eq!(counter(&ctx, "otelcol_processor_batch_timeout_trigger_send"), 1);
    // The timer is only armed while something is pending.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(counter(&ctx, "otelcol_processor_batch_timeout_trigger_send"), 1);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn zero_timeout_sends_each_request_at_once_only_splitting_it() {
    let sink = Arc::new(Sink::default());
    let batch = build(&config(0, 8192, 4), sink.clone(), &ctx()).unwrap();
    batch.consume(traces("a", &[&[2]])).await.unwrap();
    settle().await;
    batch.consume(traces("b", &[&[3, 3]])).await.unwrap();
    settle().await;
    assert_eq!(sink.sizes(), vec![2, 4, 2]);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn size_trigger_sends_full_pieces_and_keeps_the_rest_for_later() {
    let sink = Arc::new(Sink::default());
    let ctx = ctx();
    let batch = build(&config(60_000, 10, 15), sink.clone(), &ctx).unwrap();
    let request = traces("x", &[&[20, 17]]);
    let expected = flatten(&request);
    batch.consume(request).await.unwrap();
    settle().await;
    // 37 spans: 15 and 15 go out; 7 < 10 stay until the timeout or shutdown.
    assert_eq!(sink.sizes(), vec![15, 15]);
    batch.shutdown().await;
    assert_eq!(sink.sizes(), vec![15, 15, 7]);
    assert_eq!(
        sink.items(),
        expected,
        "every span once, in order, under its resource and scope"
    );
    assert_eq!(
        counter(&ctx, "otelcol_processor_batch_batch_size_trigger_send"),
        2
    );
    let text = ctx.telemetry.render();
    assert!(
        text.contains("otelcol_processor_batch_batch_send_size_sum{processor=\"batch/test\"} 37\n"),
        "{text}"
    );
    assert!(text.contains("otelcol_processor_batch_batch_send_size_count{processor=\"batch/test\"} 3\n"));
}

/// Regression (issue #12): `otelcol_processor_batch_batch_send_size` was two gauges
/// (`_sum`, `_count`); the OTel Collector exposes a histogram with fixed bucket bounds,
/// which `histogram_quantile` needs.
#[tokio::test(start_paused = true)]
async fn batch_send_size_is_a_histogram_with_the_collectors_buckets() {
    let sink = Arc::new(Sink::default());
    let ctx = ctx();
    let batch = build(&config(60_000, 10, 15), sink.clone(), &ctx).unwrap();
    batch.consume(traces("x", &[&[20, 17]])).await.unwrap();
    settle().await;
    batch.shutdown().await;
    // Batches of 15, 15 and 7.
    let text = ctx.telemetry.render();
    let family: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("otelcol_processor_batch_batch_send_size"))
        .collect();
    let l = "processor=\"batch/test\"";
    let want = [
        "# HELP otelcol_processor_batch_batch_send_size Number of units in the batch".to_string(),
        "# TYPE otelcol_processor_batch_batch_send_size histogram".to_string(),
        format!("otelcol_processor_batch_batch_send_size_bucket{{{l},le=\"10\"}} 1"),
        format!("otelcol_processor_batch_batch_send_size_bucket{{{l},le=\"25\"}} 3"),
    ];
    assert_eq!(&family[..4], &want[..], "{text}");
    assert!(text.contains(&format!(
        "otelcol_processor_batch_batch_send_size_bucket{{{l},le=\"100000\"}} 3\n"
    )));
    assert!(text.contains(&format!(
        "otelcol_processor_batch_batch_send_size_bucket{{{l},le=\"+Inf\"}} 3\n"
    )));
    // 22 bounds and +Inf, then _sum and _count: one family, no gauges.
    assert_eq!(family.len(), 2 + 23 + 2, "{text}");
    assert!(
        !text.contains("# TYPE otelcol_processor_batch_batch_send_size_sum"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn max_size_splits_metrics_and_logs_through_the_processor() {
    for data in [metrics(7), logs(&[&[5, 9], &[11]])] {
        let sink = Arc::new(Sink::default());
        let batch = build(&config(200, 6, 6), sink.clone(), &ctx()).unwrap();
        let expected = flatten(&data);
        batch.consume(data).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(sink.sizes().iter().all(|&n| n <= 6), "{:?}", sink.sizes());
        assert_eq!(sink.items(), expected);
        batch.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_what_is_pending_and_then_refuses() {
    let sink = Arc::new(Sink::default());
    let batch = build(&config(3_600_000, 1000, 0), sink.clone(), &ctx()).unwrap();
    batch.consume(traces("a", &[&[7]])).await.unwrap();
    batch.consume(metrics(2)).await.unwrap();
    settle().await;
    assert!(sink.sizes().is_empty());
    batch.shutdown().await;
    let mut sizes = sink.sizes();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![7, 20]);
    let err = batch.consume(traces("late", &[&[1]])).await.unwrap_err();
    assert!(
        matches!(&err, ConsumeError::Unavailable(m) if m.contains("batch/test")),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_next_makes_consume_wait_instead_of_buffering() {
    let sink = Arc::new(Sink {
        gate: Some(Semaphore::new(0)),
        ..Sink::default()
    });
    let batch = build(&config(0, 1, 0), sink.clone(), &ctx()).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (batch, accepted) = (batch.clone(), accepted.clone());
        tokio::spawn(async move {
            for i in 0..50 {
                batch.consume(traces(&format!("p{i}"), &[&[1]])).await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(10)).await;
    let capacity = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The hand-off's slots plus the one request the task holds while `next` blocks.
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        capacity + 1,
        "consume must wait for room"
    );
    assert!(sink.sizes().is_empty());

    sink.gate.as_ref().unwrap().add_permits(1000);
    producer.await.unwrap();
    batch.shutdown().await;
    assert_eq!(sink.sizes().len(), 50, "every accepted request reaches next");
}

#[tokio::test(start_paused = true)]
async fn errors_from_next_are_counted_not_returned_to_the_sender() {
    let sink = Arc::new(Sink {
        fail: true,
        ..Sink::default()
    });
    let ctx = ctx();
    let batch = build(&config(100, 5, 0), sink.clone(), &ctx).unwrap();
    batch.consume(traces("a", &[&[3]])).await.unwrap();
    batch.consume(logs(&[&[2]])).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(counter(&ctx, "otelcol_processor_batch_send_failed_spans"), 3);
    assert_eq!(
        counter(&ctx, "otelcol_processor_batch_send_failed_log_records"),
        2
    );
    assert_eq!(counter(&ctx, "otelcol_processor_batch_timeout_trigger_send"), 2);
    batch.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn requests_without_items_are_not_sent() {
    let sink = Arc::new(Sink::default());
    let batch = build(&config(0, 1, 0), sink.clone(), &ctx()).unwrap();
    batch.consume(traces("a", &[&[0]])).await.unwrap();
    batch.consume(Telemetry::empty(Signal::Logs)).await.unwrap();
    batch.shutdown().await;
    assert!(sink.sizes().is_empty());
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    let err = build(&BatchConfig::default(), Arc::new(Sink::default()), &ctx())
        .err()
        .unwrap();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

#[test]
fn yaml_a_user_would_write() {
    let cfg: BatchConfig =
        serde_norway::from_str("timeout: 5s\nsend_batch_size: 1000\nsend_batch_max_size: 1500\n").unwrap();
    assert_eq!(
        cfg,
        BatchConfig {
            timeout: GoDuration::from_secs(5),
            ..config(0, 1000, 1500)
        }
    );
    cfg.validate("processors.batch").unwrap();
    let defaults: BatchConfig = serde_norway::from_str("{}").unwrap();
    assert_eq!(defaults, config(200, 8192, 0));
    assert_eq!(
        config(200, 8192, 100)
            .validate("processors.batch")
            .unwrap_err()
            .to_string(),
        "processors.batch.send_batch_max_size must be >= send_batch_size (8192)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_beyond_the_clock_never_fires_and_does_not_panic() {
    let sink = Arc::new(Sink::default());
    let cfg = BatchConfig {
        timeout: GoDuration(Duration::MAX),
        ..config(0, 100, 0)
    };
    let batch = build(&cfg, sink.clone(), &ctx()).unwrap();
    batch.consume(traces("a", &[&[1]])).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(sink.sizes().is_empty());
    batch.shutdown().await;
    assert_eq!(sink.sizes(), vec![1]);
}

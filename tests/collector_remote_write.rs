//! The collector's `prometheusremotewrite` exporter against real receivers started by the
//! tests (issue #13 §1): Prometheus 2.42 (`--web.enable-remote-write-receiver`),
//! VictoriaMetrics (Debian's `victoria-metrics`) and `burnwatch serve`. OTLP requests go
//! into `burnwatch collector`; every receiver is queried back for the same series and
//! values. Then the failure modes: a receiver down for 30 s, SIGTERM with the WAL, and a
//! receiver that refuses with 400.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

const WAIT: Duration = Duration::from_secs(90);

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn number(attrs: Vec<KeyValue>, start: u64, time: u64, value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start * 1_000_000_000,
        time_unix_nano: time * 1_000_000_000,
        value: Some(value),
        ..Default::default()
    }
}

/// Step `i` (0, 1, 2, ...) of a test's traffic, stamped `t0 + 15 i` seconds: a
/// cumulative counter per method (GET: 10 + 15 i, POST: 1 + i), a delta counter (3 + i per
/// step), a gauge (20.5 + i), an explicit histogram and an exponential one (count 4 + i).
fn step(t0: u64, i: u64) -> ExportMetricsServiceRequest {
    let t = t0 + 15 * i;
    let int = number_data_point::Value::AsInt;
    let metrics = vec![
        Metric {
            name: "rw.requests".into(),
            unit: "{request}".into(),
            description: "Requests served.".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![
                    number(vec![kv("method", "GET")], t0 - 60, t, int(10 + 15 * i as i64)),
                    number(vec![kv("method", "POST")], t0 - 60, t, int(1 + i as i64)),
                ],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "rw.jobs".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![number(vec![], t - 15, t, int(3 + i as i64))],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "rw.temperature".into(),
            unit: "Cel".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![number(
                    vec![],
                    0,
                    t,
                    number_data_point::Value::AsDouble(20.5 + i as f64),
                )],
            })),
            ..Default::default()
        },
        Metric {
            name: "rw.latency".into(),
            unit: "s".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    start_time_unix_nano: (t0 - 60) * 1_000_000_000,
                    time_unix_nano: t * 1_000_000_000,
                    count: 10 + i,
                    sum: Some(4.0 + i as f64),
                    explicit_bounds: vec![0.1, 1.0],
                    bucket_counts: vec![5, 4 + i, 1],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        },
        Metric {
            name: "rw.size".into(),
            unit: "By".into(),
            data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    start_time_unix_nano: (t0 - 60) * 1_000_000_000,
                    time_unix_nano: t * 1_000_000_000,
                    count: 4 + i,
                    sum: Some(100.0),
                    scale: 1,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: 2,
                        bucket_counts: vec![1, 0, 2 + i],
                    }),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        },
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "rwtest"),
                    kv("service.instance.id", "i-1"),
                    kv("region", "eu"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "rw-scope".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// OTLP data points in one [`step`].
const POINTS_PER_STEP: u64 = 6;

/// A start time five minutes back, in whole seconds: old enough for VictoriaMetrics' 30 s
/// search latency, recent enough for Prometheus's head block.
fn t0() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 300
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An instant query's single value, or None (no answer yet, no series, or several).
fn query_value(base: &str, query: &str, time: u64) -> Option<f64> {
    let url = format!("{base}/api/v1/query?query={}&time={time}", percent_encode(query));
    let (status, body) = http_get(&url)?;
    if status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = json["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

/// Waits until `query` at `time` gives `want` on the receiver at `base`.
fn expect_value(name: &str, base: &str, query: &str, time: u64, want: f64) {
    let got = wait_for(WAIT, || query_value(base, query, time).filter(|v| *v == want));
    assert_eq!(
        got,
        Some(want),
        "{name}: {query} at {time}; last answer: {:?}",
        http_get(&format!(
            "{base}/api/v1/query?query={}&time={time}",
            percent_encode(query)
        ))
    );
}

/// The label sets of every series matching `matcher` between `start` and `end`.
fn series_set(base: &str, matcher: &str, start: u64, end: u64) -> Option<BTreeSet<String>> {
    let url = format!(
        "{base}/api/v1/series?match[]={}&start={start}&end={end}",
        percent_encode(matcher)
    );
    let (status, body) = http_get(&url)?;
    if status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some(
        json["data"]
            .as_array()?
            .iter()
            .map(|s| {
                let mut labels: Vec<String> = s
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect();
                labels.sort();
                labels.join(",")
            })
            .collect(),
    )
}

/// A running collector: its OTLP/HTTP endpoint and its self-metrics.
struct Collector {
    proc: Proc,
    otlp: String,
    telemetry: String,
}

impl Collector {
    /// Starts `burnwatch collector` with `exporters` (YAML under `exporters:`, two-space
    /// indented entries) all in one metrics pipeline.
    fn start(dir: &Path, name: &str, exporters: &str, ids: &[&str], extra: &[&str]) -> Collector {
        let (http, tel) = (free_port(), free_port());
        let yaml = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{http}\n\
             exporters:\n{exporters}\n\
             service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{tel}\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [{}]\n",
            ids.join(", ")
        );
        let cfg = write_file(dir, &format!("{name}.yaml"), &yaml);
        let mut args = vec!["collector", "--config", cfg.to_str().unwrap()];
        args.extend_from_slice(extra);
        let mut proc = spawn(name, &burnwatch_bin(), &args, dir, &[]);
        let otlp = format!("http://127.0.0.1:{http}/v1/metrics");
        let empty = ExportMetricsServiceRequest::default().encode_to_vec();
        let up = wait_for(WAIT, || {
            if matches!(proc.child.try_wait(), Ok(Some(_))) {
                return Some(false);
            }
            http_request(
                "POST",
                &otlp,
                &[("Content-Type", "application/x-protobuf")],
                &empty,
            )
            .filter(|r| r.status == 200)
            .map(|_| true)
        });
        assert_eq!(up, Some(true), "{name} did not start:\n{}", proc.output());
        Collector {
            proc,
            otlp,
            telemetry: format!("http://127.0.0.1:{tel}/metrics"),
        }
    }

    /// Sends one OTLP request; it must be acknowledged.
    fn send(&self, request: &ExportMetricsServiceRequest) {
        let r = http_request(
            "POST",
            &self.otlp,
            &[("Content-Type", "application/x-protobuf")],
            &request.encode_to_vec(),
        )
        .expect("the collector answers");
        assert_eq!(r.status, 200, "{}\n{}", r.text(), self.proc.output());
    }

    /// One of the collector's own counters for `exporter` (0 when not yet exposed).
    fn counter(&self, name: &str, exporter: &str) -> f64 {
        http_get(&self.telemetry)
            .and_then(|(_, text)| sample_value(&text, name, &[("exporter", exporter)]))
            .unwrap_or(0.0)
    }
}

fn remote_write_exporter(id: &str, url: &str, extra: &str) -> String {
    format!("  {id}:\n    endpoint: {url}\n    external_labels:\n      cluster: test\n{extra}")
}

struct Prometheus {
    _proc: Proc,
    base: String,
}

fn start_prometheus(dir: &Path) -> Option<Prometheus> {
    let bin = require_tool("prometheus", "apt-get install prometheus")?;
    let port = free_port();
    let cfg = write_file(dir, "prometheus.yml", "global:\n  scrape_interval: 1h\n");
    let data = dir.join("prom-data");
    let listen = format!("127.0.0.1:{port}");
    let proc = spawn(
        "prometheus",
        &bin,
        &[
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", data.display()),
            &format!("--web.listen-address={listen}"),
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
        dir,
        &[],
    );
    let base = format!("http://{listen}");
    let ready = wait_for(WAIT, || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "prometheus did not start:\n{}", proc.output());
    Some(Prometheus { _proc: proc, base })
}

fn start_victoria_metrics(dir: &Path) -> Option<(Proc, String)> {
    let bin = require_tool("victoria-metrics", "apt-get install victoria-metrics")?;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let proc = spawn(
        "victoria-metrics",
        &bin,
        &[
            &format!("-httpListenAddr={listen}"),
            &format!("-storageDataPath={}", dir.join("vm-data").display()),
        ],
        dir,
        &[],
    );
    let base = format!("http://{listen}");
    let ready = wait_for(WAIT, || {
        http_get(&format!("{base}/health")).filter(|(s, _)| *s == 200)
    });
    assert!(
        ready.is_some(),
        "victoria-metrics did not start:\n{}",
        proc.output()
    );
    Some((proc, base))
}

/// Starts `burnwatch serve` on `port` (chosen before, so an exporter can point at it while
/// it is down) and waits for it.
fn start_serve_on(dir: &Path, name: &str, port: u16) -> Proc {
    let listen = format!("127.0.0.1:{port}");
    let data = dir.join(format!("{name}-data"));
    let proc = spawn(
        name,
        &burnwatch_bin(),
        &["serve", "--listen", &listen, "--data-dir", data.to_str().unwrap()],
        dir,
        &[],
    );
    let ready = wait_for(WAIT, || {
        http_get(&format!("http://{listen}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "{name} did not start:\n{}", proc.output());
    proc
}

#[test]
fn the_same_series_and_values_arrive_in_prometheus_victoriametrics_and_burnwatch_serve() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prom) = start_prometheus(dir.path()) else {
        return;
    };
    let Some((_vm, vm)) = start_victoria_metrics(dir.path()) else {
        return;
    };
    let (_serve, serve) = start_serve_with_data("serve", dir.path(), &dir.path().join("serve-data"), &[]);
    let exporters = [
        remote_write_exporter(
            "prometheusremotewrite/prom",
            &format!("{}/api/v1/write", prom.base),
            "",
        ),
        remote_write_exporter("prometheusremotewrite/vm", &format!("{vm}/api/v1/write"), ""),
        remote_write_exporter("prometheusremotewrite/bw", &format!("{serve}/api/v1/write"), ""),
    ]
    .join("\n");
    let ids = [
        "prometheusremotewrite/prom",
        "prometheusremotewrite/vm",
        "prometheusremotewrite/bw",
    ];
    let mut collector = Collector::start(dir.path(), "collector", &exporters, &ids, &[]);
    let t0 = t0();
    for i in 0..3 {
        collector.send(&step(t0, i));
    }
    let receivers = [
        ("prometheus", prom.base.as_str()),
        ("victoria-metrics", vm.as_str()),
        ("serve", serve.as_str()),
    ];
    for (name, base) in receivers {
        for i in 0..3u64 {
            let t = t0 + 15 * i;
            expect_value(
                name,
                base,
                r#"rw_requests_total{method="GET",cluster="test"}"#,
                t,
                (10 + 15 * i) as f64,
            );
            expect_value(
                name,
                base,
                r#"rw_requests_total{method="POST"}"#,
                t,
                (1 + i) as f64,
            );
            // Deltas 3, 4, 5 arrive as a running total.
            expect_value(name, base, "rw_jobs_total", t, [3.0, 7.0, 12.0][i as usize]);
            expect_value(name, base, "rw_temperature_celsius", t, 20.5 + i as f64);
            expect_value(
                name,
                base,
                r#"rw_latency_seconds_bucket{le="1"}"#,
                t,
                (9 + i) as f64,
            );
            expect_value(
                name,
                base,
                r#"rw_latency_seconds_bucket{le="+Inf"}"#,
                t,
                (10 + i) as f64,
            );
            expect_value(name, base, "rw_latency_seconds_count", t, (10 + i) as f64);
        }
        expect_value(
            name,
            base,
            r#"target_info{job="rwtest",instance="i-1",region="eu"}"#,
            t0 + 30,
            1.0,
        );
    }
    // Native histograms: VictoriaMetrics 1.79 has none; the other two read them.
    for (name, base) in [("prometheus", prom.base.as_str()), ("serve", serve.as_str())] {
        expect_value(name, base, "histogram_count(rw_size_bytes)", t0 + 30, 6.0);
        expect_value(name, base, "histogram_sum(rw_size_bytes)", t0 + 30, 100.0);
    }
    // Exactly the same float series everywhere, labels included.
    let matcher = r#"{__name__=~"rw_.+|target_info",__name__!="rw_size_bytes"}"#;
    let sets: Vec<(&str, BTreeSet<String>)> = receivers
        .iter()
        .map(|(name, base)| {
            let set = wait_for(WAIT, || {
                series_set(base, matcher, t0 - 60, t0 + 60).filter(|s| s.len() == 10)
            });
            (
                *name,
                set.unwrap_or_else(|| panic!("{name}: {:?}", series_set(base, matcher, t0 - 60, t0 + 60))),
            )
        })
        .collect();
    assert!(
        sets[0].1.iter().any(|s| s.contains("otel_scope_name=rw-scope")),
        "{:?}",
        sets[0].1
    );
    assert_eq!(sets[0].1, sets[1].1, "prometheus vs victoria-metrics");
    assert_eq!(sets[0].1, sets[2].1, "prometheus vs serve");

    let sent = wait_for(WAIT, || {
        let all = ids
            .iter()
            .all(|id| collector.counter("otelcol_exporter_sent_metric_points_total", id) == 18.0);
        all.then_some(())
    });
    assert!(
        sent.is_some(),
        "sent points:\n{}",
        http_get(&collector.telemetry).unwrap().1
    );
    for id in ids {
        assert_eq!(
            collector.counter("otelcol_exporter_send_failed_metric_points_total", id),
            0.0
        );
    }
    let status = collector
        .proc
        .terminate(WAIT)
        .expect("the collector exits on SIGTERM");
    assert!(status.success(), "{}", collector.proc.output());
}

#[test]
fn a_receiver_down_for_30s_gets_everything_queued_once_it_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let exporter = remote_write_exporter(
        "prometheusremotewrite",
        &format!("http://127.0.0.1:{port}/api/v1/write"),
        "    retry_on_failure:\n      max_elapsed_time: 10m\n",
    );
    let collector = Collector::start(
        dir.path(),
        "collector",
        &exporter,
        &["prometheusremotewrite"],
        &[],
    );
    let t0 = t0();
    // Ten steps over thirty seconds, every one acknowledged while nothing listens.
    let started = std::time::Instant::now();
    for i in 0..10 {
        collector.send(&step(t0, i));
        std::thread::sleep(Duration::from_secs(3));
    }
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert_eq!(
        collector.counter(
            "otelcol_exporter_sent_metric_points_total",
            "prometheusremotewrite"
        ),
        0.0
    );
    let _serve = start_serve_on(dir.path(), "serve", port);
    let base = format!("http://127.0.0.1:{port}");
    for i in 0..10u64 {
        expect_value(
            "serve",
            &base,
            r#"rw_requests_total{method="GET"}"#,
            t0 + 15 * i,
            (10 + 15 * i) as f64,
        );
    }
    expect_value(
        "serve",
        &base,
        "rw_jobs_total",
        t0 + 135,
        (3..13).sum::<u64>() as f64,
    );
    let sent = wait_for(WAIT, || {
        (collector.counter(
            "otelcol_exporter_sent_metric_points_total",
            "prometheusremotewrite",
        ) == (10 * POINTS_PER_STEP) as f64)
            .then_some(())
    });
    assert!(sent.is_some(), "{}", http_get(&collector.telemetry).unwrap().1);
    assert_eq!(
        collector.counter(
            "otelcol_exporter_send_failed_metric_points_total",
            "prometheusremotewrite"
        ),
        0.0
    );
}

#[test]
fn sigterm_keeps_undelivered_data_in_the_wal_and_the_next_start_delivers_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let wal = dir.path().join("wal");
    let exporter = remote_write_exporter(
        "prometheusremotewrite",
        &format!("http://127.0.0.1:{port}/api/v1/write"),
        &format!(
            "    retry_on_failure:\n      max_elapsed_time: 0s\n    wal:\n      directory: {}\n      truncate_frequency: 1s\n",
            wal.display()
        ),
    );
    let mut first = Collector::start(
        dir.path(),
        "collector-1",
        &exporter,
        &["prometheusremotewrite"],
        &["--shutdown-timeout", "2s"],
    );
    let t0 = t0();
    for i in 0..3 {
        first.send(&step(t0, i));
    }
    let status = first
        .proc
        .terminate(WAIT)
        .expect("the collector exits on SIGTERM");
    assert!(status.success(), "{}", first.proc.output());
    let files = std::fs::read_dir(&wal).unwrap().count();
    assert!(
        files > 0,
        "the undelivered requests are in the WAL:\n{}",
        first.proc.output()
    );

    let _serve = start_serve_on(dir.path(), "serve", port);
    let second = Collector::start(
        dir.path(),
        "collector-2",
        &exporter,
        &["prometheusremotewrite"],
        &[],
    );
    let base = format!("http://127.0.0.1:{port}");
    for i in 0..3u64 {
        expect_value(
            "serve",
            &base,
            r#"rw_requests_total{method="GET"}"#,
            t0 + 15 * i,
            (10 + 15 * i) as f64,
        );
        expect_value(
            "serve",
            &base,
            "rw_jobs_total",
            t0 + 15 * i,
            [3.0, 7.0, 12.0][i as usize],
        );
    }
    let emptied = wait_for(WAIT, || {
        (std::fs::read_dir(&wal).unwrap().count() == 0).then_some(())
    });
    assert!(
        emptied.is_some(),
        "delivered requests are deleted from the WAL:\n{}",
        second.proc.output()
    );
    assert_eq!(
        second.counter(
            "otelcol_exporter_sent_metric_points_total",
            "prometheusremotewrite"
        ),
        (3 * POINTS_PER_STEP) as f64
    );
}

/// A receiver that refuses every request with 400 and counts them.
fn refusing_receiver() -> (String, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            seen.fetch_add(1, Ordering::SeqCst);
            let msg = "out of order sample";
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                msg.len()
            );
        }
    });
    (format!("http://{addr}/api/v1/write"), count)
}

#[test]
fn a_4xx_answer_is_counted_as_failed_logged_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (url, requests) = refusing_receiver();
    // One sender: each OTLP request is one remote-write request, in order, so a retry of
    // the first would reach the receiver before the second.
    let exporter = remote_write_exporter(
        "prometheusremotewrite",
        &url,
        "    remote_write_queue:\n      num_consumers: 1\n",
    );
    let collector = Collector::start(
        dir.path(),
        "collector",
        &exporter,
        &["prometheusremotewrite"],
        &[],
    );
    let t0 = t0();
    collector.send(&step(t0, 0));
    collector.send(&step(t0, 1));
    let failed = wait_for(WAIT, || {
        (collector.counter(
            "otelcol_exporter_send_failed_metric_points_total",
            "prometheusremotewrite",
        ) == (2 * POINTS_PER_STEP) as f64)
            .then_some(())
    });
    assert!(failed.is_some(), "{}", http_get(&collector.telemetry).unwrap().1);
    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "each refused request was sent once"
    );
    assert_eq!(
        collector.counter(
            "otelcol_exporter_sent_metric_points_total",
            "prometheusremotewrite"
        ),
        0.0
    );
    let logged = wait_for(WAIT, || {
        collector
            .proc
            .output()
            .contains("out of order sample")
            .then_some(())
    });
    assert!(
        logged.is_some(),
        "the receiver's message is logged:\n{}",
        collector.proc.output()
    );
}

/// Runs `openssl args` in `dir`, panicking with its output on failure.
fn openssl(bin: &Path, dir: &Path, args: &[&str]) {
    let out = std::process::Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA (`ca.pem`) and a server certificate it signed for 127.0.0.1
/// (`server.crt`, `server.key`); returns the CA's path.
fn private_ca_and_server_cert(bin: &Path, dir: &Path) -> std::path::PathBuf {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-days",
        "2",
        "-subj",
        "/CN=rw-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(bin, dir, &ca);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    openssl(bin, dir, &csr);
    openssl(
        bin,
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    dir.join("ca.pem")
}

#[test]
fn https_with_a_private_ca_and_credentials_is_delivered_and_a_401_is_not_retried() {
    let Some(openssl) = require_tool("openssl", "apt-get install openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = private_ca_and_server_cert(&openssl, dir.path());
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = write_file(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: '{hash}'\n"
        ),
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let serve = spawn(
        "serve",
        &burnwatch_bin(),
        &[
            "serve",
            "--listen",
            &listen,
            "--web.config.file",
            web.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    let url = format!("https://{listen}/api/v1/write");
    // "alice:s3cret" in base64.
    let with_auth = remote_write_exporter(
        "prometheusremotewrite/auth",
        &url,
        &format!(
            "    headers:\n      Authorization: Basic YWxpY2U6czNjcmV0\n    tls:\n      ca_file: {}\n    retry_on_failure:\n      max_elapsed_time: 10m\n",
            cert.display()
        ),
    );
    let without = remote_write_exporter(
        "prometheusremotewrite/anonymous",
        &url,
        &format!(
            "    remote_write_queue:\n      num_consumers: 1\n    tls:\n      ca_file: {}\n",
            cert.display()
        ),
    );
    let collector = Collector::start(
        dir.path(),
        "collector",
        &format!("{with_auth}\n{without}"),
        &["prometheusremotewrite/auth", "prometheusremotewrite/anonymous"],
        &[],
    );
    collector.send(&step(t0(), 0));
    let delivered = wait_for(WAIT, || {
        (collector.counter(
            "otelcol_exporter_sent_metric_points_total",
            "prometheusremotewrite/auth",
        ) == POINTS_PER_STEP as f64)
            .then_some(())
    });
    assert!(
        delivered.is_some(),
        "{}\n{}\n{}",
        http_get(&collector.telemetry).unwrap().1,
        collector.proc.output(),
        serve.output()
    );
    let refused = wait_for(WAIT, || {
        (collector.counter(
            "otelcol_exporter_send_failed_metric_points_total",
            "prometheusremotewrite/anonymous",
        ) == POINTS_PER_STEP as f64)
            .then_some(())
    });
    assert!(refused.is_some(), "{}", collector.proc.output());
    assert_eq!(
        collector.counter(
            "otelcol_exporter_sent_metric_points_total",
            "prometheusremotewrite/anonymous"
        ),
        0.0
    );
    let output = collector.proc.output();
    assert!(
        output.contains("401"),
        "the receiver's answer is logged:\n{output}"
    );
    assert!(
        !output.contains("retrying. client=prometheusremotewrite/anonymous"),
        "a 401 is not retried:\n{output}"
    );
}

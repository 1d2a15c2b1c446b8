//! The prometheus exporter's `/metrics` render, measured as a scraper sees it: 200k gauge
//! series (1000 per request, 200 requests) consumed by the exporter, then `GET /metrics`
//! over loopback HTTP, read to the end. Goal: ≥ 5M series/s.
//!
//! `cargo bench --bench render`

use std::io::{Read as _, Write as _};
use std::time::Duration;

use burnwatch_collector::component::{BoundAddrs, BuildContext};
use burnwatch_collector::config::ComponentId;
use burnwatch_collector::consumer::Telemetry;
use burnwatch_collector::exporters;
use burnwatch_collector::otelcol::Config;
use burnwatch_collector::telemetry::SelfTelemetry;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tokio_util::sync::CancellationToken;

const REQUESTS: usize = 200;
const SERIES_PER_REQUEST: usize = 1000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn request(r: usize) -> ExportMetricsServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let data_points = (0..SERIES_PER_REQUEST)
        .map(|i| NumberDataPoint {
            attributes: vec![kv("route", &format!("/r/{r}")), kv("id", &i.to_string())],
            time_unix_nano: now,
            value: Some(number_data_point::Value::AsDouble(i as f64 * 1.37)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "checkout"), kv("service.instance.id", "c-1")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "http.inflight".into(),
                    description: "In-flight requests.".into(),
                    data: Some(metric::Data::Gauge(Gauge { data_points })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn scrape(addr: std::net::SocketAddr, buf: &mut Vec<u8>) -> usize {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
        .unwrap();
    buf.clear();
    stream.read_to_end(buf).unwrap();
    buf.len()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config::from_yaml(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n\
         exporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n",
    )
    .expect("bench config is valid");
    let id = ComponentId::parse("prometheus").unwrap();
    let ctx = BuildContext {
        id: id.clone(),
        telemetry: SelfTelemetry::new(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    };
    let addr = runtime.block_on(async {
        let exporter = exporters::build(&config.exporters[&id], &ctx)
            .await
            .expect("prometheus exporter");
        for r in 0..REQUESTS {
            exporter
                .consume(Telemetry::Metrics(request(r)))
                .await
                .expect("accepted");
        }
        ctx.bound.get("exporters.prometheus").expect("bound address")
    });
    let mut buf = Vec::new();
    let size = scrape(addr, &mut buf);
    let series = REQUESTS * SERIES_PER_REQUEST;
    assert!(size > series * 50, "the scrape returned only {size} bytes");
    eprintln!("one scrape: {size} bytes for {series} series");

    let mut group = c.benchmark_group("prometheus_exporter");
    group.throughput(Throughput::Elements(series as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("scrape_200k_series", |b| b.iter(|| scrape(addr, &mut buf)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

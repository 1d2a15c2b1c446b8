//! Decoding a pre-encoded `ExportTraceServiceRequest` (1000 spans of about 250 bytes) with
//! prost alone, against pushing the same bytes through the whole pipeline as the receivers
//! do: the wire walk that validates and counts them (`TracesPayload::from_wire`, no decode)
//! → memory_limiter → batch (timeout 10ms so a short sample is not dominated by the last
//! partial batch) → exporter (`debug`, basic verbosity), waiting until the exporter
//! has taken every span. Goal: the pipeline reaches at least half the decode-only rate.
//! `walk_only` is the receivers' validation alone, for comparison with `decode_only`.
//!
//! `cargo bench --bench pipeline`

#[path = "spans.rs"]
mod spans;

use std::sync::Arc;
use std::time::{Duration, Instant};

use burnwatch_collector::component::{BoundAddrs, BuildContext};
use burnwatch_collector::config::ComponentId;
use burnwatch_collector::consumer::{Consumer, Telemetry, TracesPayload};
use burnwatch_collector::exporters;
use burnwatch_collector::otelcol::{Config, ExporterConfig, ProcessorConfig};
use burnwatch_collector::processors;
use burnwatch_collector::telemetry::SelfTelemetry;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

const SPANS: usize = 1000;

fn pipeline_config() -> Config {
    Config::from_yaml(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n\
         processors:\n  memory_limiter:\n    check_interval: 1s\n    limit_mib: 4096\n  batch:\n    timeout: 10ms\n\
         exporters:\n  debug:\n    verbosity: basic\n\
         service:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [memory_limiter, batch]\n      exporters: [debug]\n",
    )
    .expect("bench config is valid")
}

fn bench(c: &mut Criterion) {
    let encoded = spans::trace_request(SPANS, 1).encode_to_vec();
    let per_span = encoded.len() / SPANS;
    eprintln!("request: {} bytes, {per_span} bytes per span", encoded.len());

    let mut group = c.benchmark_group("traces_1000_spans");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.measurement_time(Duration::from_secs(8));

    group.bench_function("decode_only", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(encoded.as_slice()).expect("valid request"))
    });
    let bytes = Bytes::from(encoded.clone());
    group.bench_function("walk_only", |b| {
        b.iter(|| TracesPayload::from_wire(bytes.clone()).expect("valid request"))
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = pipeline_config();
    let telemetry = SelfTelemetry::new();
    let ctx = |id: &str| BuildContext {
        id: ComponentId::parse(id).unwrap(),
        telemetry: telemetry.clone(),
        shutdown: CancellationToken::new(),
        bound: BoundAddrs::default(),
    };
    let head: Arc<dyn Consumer> = runtime.block_on(async {
        let exporter = exporters::build(
            &config.exporters[&ComponentId::parse("debug").unwrap()],
            &ctx("debug"),
        )
        .await
        .expect("debug exporter");
        let mut next = exporter;
        for name in ["batch", "memory_limiter"] {
            let pc: &ProcessorConfig = &config.processors[&ComponentId::parse(name).unwrap()];
            next = processors::build(pc, next, &ctx(name)).expect("processor");
        }
        next
    });
    let sent = telemetry.counter("otelcol_exporter_sent_spans", "", &[("exporter", "debug")]);
    assert!(matches!(
        config.exporters.values().next(),
        Some(ExporterConfig::Debug(_))
    ));

    group.bench_function("walk_memory_limiter_batch_exporter", |b| {
        b.iter_custom(|iters| {
            let target = sent.get() + iters * SPANS as u64;
            let start = Instant::now();
            runtime.block_on(async {
                for _ in 0..iters {
                    // What the receivers do with a request's bytes: validate, count, keep.
                    let request = TracesPayload::from_wire(bytes.clone()).expect("valid request");
                    head.consume(Telemetry::Traces(request)).await.expect("accepted");
                }
                // The batch processor holds up to 200ms of data: the clock stops only when the
                // exporter has every span, so the figure is end to end.
                while sent.get() < target {
                    tokio::task::yield_now().await;
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

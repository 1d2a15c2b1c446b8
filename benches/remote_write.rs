//! Remote-write encoding: series split into requests, protobuf-encoded and
//! snappy-compressed, as the `prometheusremotewrite` exporter does for every batch. Goal:
//! ≥ 1M samples per CPU-second (issue #13 §1).
//!
//! The figure is measured on this thread's CPU time (`/proc/thread-self/schedstat`), so
//! other processes on the machine do not change it; the Criterion group below gives the
//! per-batch time as well.
//!
//! `cargo bench --bench remote_write`

use std::time::Duration;

use burnwatch_remote::encode::{self, BatchLimits};
use burnwatch_remote::proto::{Label, Sample, TimeSeries};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Series per batch: one sample each, the shape of one collector export of a busy service.
const SERIES: usize = 10_000;

/// Series labelled as the exporter labels them: name, job, instance, scope, two attributes.
fn series() -> Vec<TimeSeries> {
    let t = 1_700_000_000_000i64;
    (0..SERIES)
        .map(|i| TimeSeries {
            labels: vec![
                Label::new("__name__", "http_server_request_duration_seconds_bucket"),
                Label::new("http_request_method", ["GET", "POST", "PUT"][i % 3]),
                Label::new("http_route", format!("/api/v1/items/{}", i % 50)),
                Label::new("instance", "checkout-7d9f8-1"),
                Label::new("job", "shop/checkout"),
                Label::new("le", format!("{}", (i % 12) as f64 * 0.25)),
                Label::new("otel_scope_name", "checkout"),
            ],
            samples: vec![Sample {
                value: i as f64 * 1.37,
                timestamp: t + i as i64,
            }],
            ..Default::default()
        })
        .collect()
}

/// Encodes and compresses one batch with the exporter's default limits; returns the
/// compressed size.
fn encode_batch(series: Vec<TimeSeries>) -> usize {
    encode::split(series, Vec::new(), BatchLimits::default())
        .iter()
        .map(|r| encode::encode(r).body.len())
        .sum()
}

/// This thread's CPU time, from the scheduler's accounting.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Samples per CPU-second over at least two seconds of CPU time. The input is cloned
/// outside the measured span, as the exporter builds it before encoding.
fn samples_per_cpu_second() -> Option<(f64, usize)> {
    let input = series();
    let mut cpu = Duration::ZERO;
    let mut samples = 0usize;
    let mut bytes = 0usize;
    while cpu < Duration::from_secs(2) {
        let batch = input.clone();
        let before = thread_cpu()?;
        bytes = encode_batch(batch);
        cpu += thread_cpu()? - before;
        samples += SERIES;
    }
    Some((samples as f64 / cpu.as_secs_f64(), bytes))
}

fn bench(c: &mut Criterion) {
    match samples_per_cpu_second() {
        Some((rate, bytes)) => {
            println!(
                "remote write encode + snappy: {rate:.0} samples per CPU-second (goal >= 1000000), \
                 {SERIES} series -> {bytes} compressed bytes ({:.1} bytes/sample)",
                bytes as f64 / SERIES as f64
            );
        }
        None => {
            println!("remote write encode + snappy: no /proc/thread-self/schedstat; see the Criterion figure")
        }
    }
    let input = series();
    let mut group = c.benchmark_group("remote_write");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function("encode_snappy_10k_samples", |b| {
        b.iter_batched(|| input.clone(), encode_batch, criterion::BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

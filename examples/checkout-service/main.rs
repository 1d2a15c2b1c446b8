//! A small checkout service instrumented with the Rust `opentelemetry` and
//! `opentelemetry-otlp` crates, sending traces and metrics over OTLP/gRPC to a collector.
//!
//! It simulates HTTP requests to a few routes and records them the way the OpenTelemetry
//! HTTP semantic conventions describe: the `http.server.request.duration` histogram (unit
//! `s`) with `http.request.method`, `http.route` and `http.response.status_code`, and a
//! span per request. The error share and latency are arguments, so it can drive an SLO.
//!
//! ```sh
//! burnwatch collector &
//! cargo run --example checkout-service -- --endpoint http://127.0.0.1:4317 --requests 500
//! curl -s localhost:8889/metrics | grep http_server_request_duration
//! ```

use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Status, Tracer as _, TracerProvider as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;

struct Args {
    endpoint: String,
    requests: u64,
    error_rate: f64,
    instance: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        endpoint: "http://127.0.0.1:4317".into(),
        requests: 200,
        error_rate: 0.02,
        instance: "checkout-1".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoint" => args.endpoint = value()?,
            "--requests" => args.requests = value()?.parse().map_err(|e| format!("--requests: {e}"))?,
            "--error-rate" => args.error_rate = value()?.parse().map_err(|e| format!("--error-rate: {e}"))?,
            "--instance" => args.instance = value()?,
            "--help" | "-h" => {
                return Err("usage: checkout-service [--endpoint URL] [--requests N] [--error-rate F] [--instance ID]".into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(0.0..=1.0).contains(&args.error_rate) {
        return Err("--error-rate must be between 0 and 1".into());
    }
    Ok(args)
}

/// A deterministic pseudo-random sequence (xorshift), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let resource = Resource::builder()
        .with_service_name("checkout")
        .with_attributes([
            KeyValue::new("service.namespace", "shop"),
            KeyValue::new("service.instance.id", args.instance.clone()),
            KeyValue::new("deployment.environment.name", "demo"),
        ])
        .build();

    let span_exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&args.endpoint)
        .build()?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter)
        .with_resource(resource.clone())
        .build();
    global::set_tracer_provider(tracer_provider.clone());

    let metric_exporter = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(&args.endpoint)
        .build()?;
    let reader = PeriodicReader::builder(metric_exporter)
        .with_interval(Duration::from_secs(5))
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build();

    let meter = meter_provider.meter("checkout-service");
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_description("Duration of HTTP server requests.")
        .with_boundaries(vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])
        .build();
    let tracer = tracer_provider.tracer("checkout-service");

    let routes = [
        ("POST", "/api/checkout"),
        ("GET", "/api/cart"),
        ("GET", "/healthz"),
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut errors = 0u64;
    for i in 0..args.requests {
        let (method, route) = routes[(i % routes.len() as u64) as usize];
        let failed = rng.next_f64() < args.error_rate;
        // Latency: mostly tens of milliseconds, with a long tail.
        let seconds = 0.01 + rng.next_f64().powi(4) * 0.8;
        let code: i64 = if failed { 503 } else { 200 };
        errors += failed as u64;

        let mut span = tracer.start(format!("{method} {route}"));
        span.set_attribute(KeyValue::new("http.request.method", method));
        span.set_attribute(KeyValue::new("http.route", route));
        span.set_attribute(KeyValue::new("http.response.status_code", code));
        if failed {
            span.set_status(Status::error("upstream unavailable"));
        }
        span.end();

        let mut attributes = vec![
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", code),
        ];
        if failed {
            attributes.push(KeyValue::new("error.type", "503"));
        }
        duration.record(seconds, &attributes);
    }

    // Shutting the providers down exports everything still buffered.
    tracer_provider.shutdown()?;
    meter_provider.shutdown()?;
    eprintln!(
        "checkout-service: sent {} requests ({errors} errors) to {}",
        args.requests, args.endpoint
    );
    Ok(())
}

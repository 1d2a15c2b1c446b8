//! `burnwatch up --demo`: a fake checkout service that sends its telemetry to the collector.
//!
//! The service is simulated (no HTTP server): [`traffic`] draws requests from the
//! [`model::TrafficModel`] and records each one with the Rust OpenTelemetry SDK the way the
//! OpenTelemetry HTTP semantic conventions describe an HTTP server (the
//! `http.server.request.duration` histogram, a request counter and a server span), exported
//! over OTLP/gRPC. The error share and latency drift and spike on a fixed schedule, so the SLOs
//! of `examples/demo-slos/` burn visibly and a page alert fires within about two minutes.
//! [`dora`] sends deployment and incident events that match the spikes to the API.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let control = std::sync::Arc::new(DemoControl::default());
//! let handle = start(DemoOptions::default(), control.clone()).await?;
//! // ... the dashboard calls control.adjust(true) on a key press ...
//! handle.stop().await;
//! # Ok(())
//! # }
//! ```

pub mod dora;
pub mod history;
pub mod model;
pub mod traffic;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The knob's default base error share: 0.05% of requests answer 5xx outside spikes, half the
/// availability SLO's 0.1% budget, so between spikes no alert fires (at 0.3% the burn rate of 3
/// kept the ticket alerts firing all the time) and `+` shows what a slow burn looks like.
pub const DEFAULT_ERROR_RATE: f64 = 0.0005;

/// The values [`DemoControl::adjust`] steps through: small steps around the SLOs' budgets
/// (0.1% for 99.9%, 0.5% for 99.5%, 1% for 99%), larger ones to show an outage.
pub const ERROR_RATE_STEPS: [f64; 11] = [0.0, 0.0005, 0.001, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];

/// The dashboard's knob on the demo: the base error share, shared between the dashboard (which
/// raises and lowers it) and the traffic task (which reads it for every request).
#[derive(Debug)]
pub struct DemoControl {
    /// The base error share as `f64` bits: an atomic, so neither side ever waits on a lock.
    bits: AtomicU64,
}

impl DemoControl {
    /// A knob set to `error_rate`, clamped to `[0, 1]` (a non-finite value becomes the default).
    pub fn new(error_rate: f64) -> Self {
        DemoControl {
            bits: AtomicU64::new(clamp_rate(error_rate).to_bits()),
        }
    }
}

impl Default for DemoControl {
    fn default() -> Self {
        DemoControl::new(DEFAULT_ERROR_RATE)
    }
}

fn clamp_rate(rate: f64) -> f64 {
    if rate.is_finite() {
        rate.clamp(0.0, 1.0)
    } else {
        DEFAULT_ERROR_RATE
    }
}

/// The step of [`ERROR_RATE_STEPS`] above (`up`) or below `current`; a value between steps moves
/// to the neighbouring step, and the ends stay where they are.
fn step(current: f64, up: bool) -> f64 {
    // Tolerance so that a value read back from its bits still equals its step.
    const EPS: f64 = 1e-12;
    if up {
        ERROR_RATE_STEPS
            .iter()
            .copied()
            .find(|s| *s > current + EPS)
            .unwrap_or(ERROR_RATE_STEPS[ERROR_RATE_STEPS.len() - 1])
    } else {
        ERROR_RATE_STEPS
            .iter()
            .rev()
            .copied()
            .find(|s| *s < current - EPS)
            .unwrap_or(ERROR_RATE_STEPS[0])
    }
}

impl burnwatch_tui::model::DemoKnob for DemoControl {
    fn error_rate(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }

    fn adjust(&self, up: bool) -> f64 {
        // fetch_update retries if another key press changed the value in between.
        let previous = self
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(step(f64::from_bits(bits), up).to_bits())
            })
            .unwrap_or_else(|bits| bits);
        step(f64::from_bits(previous), up)
    }
}

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The collector's OTLP/gRPC endpoint (default `http://127.0.0.1:4317`).
    pub otlp_endpoint: String,
    /// The burnwatch API to send DORA events to (default `http://127.0.0.1:9090`); `None` sends
    /// none.
    pub api_url: Option<String>,
    /// How often metrics are exported (default 5 s, so a 15 s scrape always sees fresh data).
    pub export_interval: Duration,
    /// Seeds the random draws: the same seed replays the same requests and DORA history.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            otlp_endpoint: "http://127.0.0.1:4317".to_string(),
            api_url: Some("http://127.0.0.1:9090".to_string()),
            export_interval: Duration::from_secs(5),
            seed: 0x00C0_FFEE,
        }
    }
}

/// The time between the end of the traffic history and the demo's start: more than the page
/// alert's long window (1h).
const HISTORY_GAP_MS: i64 = 65 * 60_000;

/// How long one OTLP export may take before the SDK gives up on it. Short, so that a stop with
/// an unreachable collector does not hang for the SDK's default 10 s.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long [`DemoHandle::stop`] waits for the final export before giving up.
const STOP_DEADLINE: Duration = Duration::from_secs(8);

/// The running demo. Dropping it without [`DemoHandle::stop`] leaves the tasks running until the
/// runtime ends.
pub struct DemoHandle {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    meter_provider: SdkMeterProvider,
    tracer_provider: SdkTracerProvider,
}

/// The resource every signal carries. The collector's Prometheus exporter turns
/// `service.namespace`/`service.name` into `job="shop/checkout"` and `service.instance.id`
/// into `instance="demo-1"`.
fn resource() -> Resource {
    Resource::builder()
        .with_service_name("checkout")
        .with_attributes([
            KeyValue::new("service.namespace", "shop"),
            KeyValue::new("service.instance.id", "demo-1"),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("deployment.environment.name", "demo"),
        ])
        .build()
}

/// Starts the demo: the SDK providers, the traffic task and (with [`DemoOptions::api_url`]) the
/// DORA task.
///
/// Does not wait for the collector or the API: the OTLP exporters connect lazily and log failed
/// exports, and the DORA task retries. Fails only when an exporter cannot be built (an endpoint
/// that is not a URL).
pub async fn start(options: DemoOptions, control: Arc<DemoControl>) -> anyhow::Result<DemoHandle> {
    use anyhow::Context as _;
    let resource = resource();
    let span_exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&options.otlp_endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .with_context(|| {
            format!(
                "cannot build the demo's OTLP span exporter for {}",
                options.otlp_endpoint
            )
        })?;
    let metric_exporter = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(&options.otlp_endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .with_context(|| {
            format!(
                "cannot build the demo's OTLP metric exporter for {}",
                options.otlp_endpoint
            )
        })?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter)
        .with_resource(resource.clone())
        .build();
    let reader = PeriodicReader::builder(metric_exporter)
        .with_interval(options.export_interval.max(Duration::from_millis(100)))
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build();

    let stop = CancellationToken::new();
    let started = Instant::now();
    let started_wall = SystemTime::now();
    let mut tasks = Vec::new();
    let generator = traffic::Generator::new(&meter_provider, &tracer_provider, options.seed);
    tasks.push(tokio::spawn(generator.run(started, control, stop.clone())));
    if let Some(api_url) = &options.api_url {
        let sender = dora::Sender::new(api_url, options.seed, started_wall);
        tasks.push(tokio::spawn(sender.run(started, stop.clone())));
        tasks.push(tokio::spawn(send_history(
            api_url.clone(),
            options.seed,
            started_wall,
            stop.clone(),
        )));
    }
    tracing::info!(
        endpoint = %options.otlp_endpoint,
        api = options.api_url.as_deref().unwrap_or("none"),
        interval = ?options.export_interval,
        "The demo checkout service is sending traffic."
    );
    Ok(DemoHandle {
        stop,
        tasks,
        meter_provider,
        tracer_provider,
    })
}

/// Sends the month of traffic history ([`history`]) once the API answers: up to ten tries, two
/// seconds apart, with an outage at each incident of the DORA history.
///
/// It ends 65 minutes before the start, so the page alert's one-hour window holds live traffic
/// only: against an hour of calm history a two-minute spike would never page (which is what
/// multiwindow alerts are for), and the demo is meant to show an alert within minutes. The longer
/// windows and the period are the month's.
async fn send_history(api_url: String, seed: u64, started_wall: SystemTime, stop: CancellationToken) {
    let started_ms = started_wall
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let end_ms = started_ms - HISTORY_GAP_MS;
    // The DORA history ends ten minutes before the start (dora::Sender).
    let incidents = history::incident_spans(&dora::history(seed, started_ms - 10 * 60_000));
    let client = reqwest::Client::new();
    for attempt in 1..=10 {
        match history::backfill(&client, &api_url, end_ms, &incidents).await {
            Ok(history::Outcome::Sent(n)) => {
                tracing::info!(
                    series = n,
                    incidents = incidents.len(),
                    "Sent the demo's 30-day traffic history."
                );
                return;
            }
            Ok(history::Outcome::Skipped) => {
                tracing::info!("The store already has the demo's traffic; no history sent.");
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, error = %format!("{e:#}"), "Cannot send the demo's traffic history yet.")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

impl DemoHandle {
    /// Stops the traffic and the DORA events, then flushes and shuts down the SDK providers
    /// (the last metrics and spans are exported). Gives up after a few seconds if the collector
    /// does not answer, logging what was lost.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "A demo task ended abnormally.");
            }
        }
        let DemoHandle {
            meter_provider,
            tracer_provider,
            ..
        } = self;
        // The SDK's shutdown blocks until the final export is done, and that export runs on
        // this runtime's gRPC channel: block a separate thread, not this one.
        let shutdown = tokio::task::spawn_blocking(move || {
            if let Err(e) = meter_provider.shutdown() {
                tracing::warn!(error = %e, "The demo's final metric export failed.");
            }
            if let Err(e) = tracer_provider.shutdown() {
                tracing::warn!(error = %e, "The demo's final span export failed.");
            }
        });
        match tokio::time::timeout(STOP_DEADLINE, shutdown).await {
            Ok(Ok(())) => tracing::info!("The demo stopped; its telemetry is flushed."),
            Ok(Err(e)) => tracing::warn!(error = %e, "The demo's shutdown task failed."),
            Err(_) => tracing::warn!(
                deadline = ?STOP_DEADLINE,
                "The demo's final export did not finish in time; its last metrics may be lost."
            ),
        }
    }
}

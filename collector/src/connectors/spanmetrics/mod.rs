//! `connectors: spanmetrics` — request, error and duration metrics from spans, as
//! otelcol-contrib's spanmetrics connector computes them (traces in, metrics out).
//!
//! Every span is counted in a series keyed by its resource and its dimensions:
//! `service.name`, `span.name`, `span.kind` (`SPAN_KIND_SERVER`, …), `status.code`
//! (`STATUS_CODE_ERROR`, …), less `exclude_dimensions`, plus the configured `dimensions`
//! (a span attribute, else a resource attribute, else the dimension's default). Every
//! `metrics_flush_interval` the connector sends, per resource:
//!
//! - `{namespace}.calls`, a monotonic sum (Prometheus: `traces_span_metrics_calls_total`);
//! - `{namespace}.duration`, a histogram in `histogram.unit` with explicit bounds or
//!   exponential buckets (`traces_span_metrics_duration_milliseconds_bucket`);
//! - `{namespace}.duration.quantiles`, a summary with the quantiles 0.5, 0.9, 0.99 and
//!   0.999 of the same durations, in the same unit
//!   (`traces_span_metrics_duration_quantiles_milliseconds{quantile="0.99"}`).
//!
//! The summary is burnwatch's addition, not otelcol's. Histogram buckets only bound a
//! quantile to its bucket (a p99 "between 400 and 800 ms"), and `histogram_quantile`
//! interpolates inside it; each series also keeps an HdrHistogram at 3 significant digits,
//! so its quantiles are exact to 0.1% whatever the buckets. A summary is how OTLP and
//! Prometheus carry precomputed quantiles beside `_sum` and `_count`. Summaries cannot be
//! aggregated across series, which is why the buckets are still sent. With
//! `AGGREGATION_TEMPORALITY_DELTA` the summary covers one flush interval (its start time
//! says which), since OTLP summaries have no temporality of their own.
//!
//! Memory is bounded: at most `dimensions_cache_size` series and
//! `resource_metrics_cache_size` resources are held, the least recently updated evicted
//! first; an evicted series stops being exported and starts again from zero if its spans
//! return. (otelcol's dimension cache only bounds the cached attribute maps, and its
//! histograms grow without limit; here the cache is the series store itself.) With
//! `metrics_expiration`, a series not updated for that long stops being exported; otelcol
//! expires whole resources, here each series expires on its own. An HdrHistogram grows
//! with the largest duration it holds: about 48 KiB for spans up to a second.
//!
//! Spans arrive as raw protobuf; only the fields used are decoded ([`decode`]).

mod aggregate;
pub mod config;
mod decode;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use prost::Message as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::aggregate::Aggregator;
pub use self::aggregate::QUANTILES;
pub use self::config::SpanMetricsConfig;
use self::decode::Request;
use crate::component::{BuildContext, BuildError};
use crate::consumer::{ConsumeError, Consumer, Telemetry};

/// Builds a spanmetrics connector sending its metrics to `next`, and starts its flush
/// task, so it must run inside a Tokio runtime.
pub fn build(
    config: &SpanMetricsConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    Ok(Arc::new(SpanMetrics::start(config, next, ctx)?))
}

/// The running connector: a consumer of traces whose metrics go to `next` every
/// `metrics_flush_interval`, and once more at shutdown.
pub struct SpanMetrics {
    id: String,
    state: Arc<Mutex<Aggregator>>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SpanMetrics {
    /// Starts the connector in front of `next`.
    pub fn start(
        config: &SpanMetricsConfig,
        next: Arc<dyn Consumer>,
        ctx: &BuildContext,
    ) -> Result<SpanMetrics, BuildError> {
        let invalid = |message: String| BuildError::Invalid {
            id: ctx.id.clone(),
            message,
        };
        config
            .validate(&format!("connectors.{}", ctx.id))
            .map_err(|e| invalid(e.to_string()))?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            invalid("the spanmetrics connector must be started inside a Tokio runtime".to_string())
        })?;
        let id = ctx.id.to_string();
        let state = Arc::new(Mutex::new(Aggregator::new(config)));
        let stop = ctx.shutdown.child_token();
        let task = runtime.spawn(flush_loop(
            id.clone(),
            state.clone(),
            next,
            config.metrics_flush_interval.0,
            stop.clone(),
        ));
        Ok(SpanMetrics {
            id,
            state,
            stop,
            task: Mutex::new(Some(task)),
        })
    }
}

/// The wall clock in Unix nanoseconds.
fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

async fn flush_loop(
    id: String,
    state: Arc<Mutex<Aggregator>>,
    next: Arc<dyn Consumer>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = ticker.tick() => false,
            _ = stop.cancelled() => true,
        };
        let request = match state.lock() {
            Ok(mut state) => state.collect(unix_nanos()),
            Err(_) => None,
        };
        if let Some(request) = request
            && let Err(err) = next.consume(Telemetry::Metrics(request)).await
        {
            tracing::warn!(connector = %id, error = %err, "The spanmetrics connector could not send its metrics.");
        }
        if last {
            return;
        }
    }
}

#[async_trait]
impl Consumer for SpanMetrics {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let payload = match data {
            Telemetry::Traces(payload) => payload,
            other => {
                return Err(ConsumeError::Permanent(format!(
                    "connector {} takes traces, not {}",
                    self.id,
                    other.signal()
                )));
            }
        };
        // Decoded before taking the lock: the lock only covers the counting.
        let mut requests = Vec::new();
        for part in payload.encode_parts() {
            let request = Request::decode(part).map_err(|err| {
                ConsumeError::Permanent(format!("connector {}: spans do not decode: {err}", self.id))
            })?;
            requests.push(request);
        }
        let now = unix_nanos();
        let mut state = self
            .state
            .lock()
            .map_err(|_| ConsumeError::Unavailable(format!("connector {} has failed", self.id)))?;
        for request in &requests {
            state.aggregate(request, now);
        }
        Ok(())
    }

    async fn shutdown(&self) {
        // The task sends what the connector holds one last time and ends.
        self.stop.cancel();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task
            && let Err(err) = task.await
        {
            tracing::error!(connector = %self.id, error = %err, "The spanmetrics connector's task failed.");
        }
    }
}

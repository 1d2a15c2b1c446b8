//! The one small trait every component talks through.
//!
//! The OTel Collector wires receivers, processors and exporters with a single
//! synchronous-looking call per signal (`ConsumeTraces(ctx, data) error`). burnwatch
//! does the same with [`Consumer::consume`], carrying a [`Telemetry`] payload: the
//! OTLP export request itself, so a request received over gRPC or HTTP reaches the
//! exporters without conversion. Traces and logs travel as a [`Payload`]: usually the
//! request's validated protobuf bytes, decoded only by a component that needs the
//! structure (see [`crate::pdata`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

pub use crate::pdata::{LogsPayload, Payload, TracesPayload};

/// The three signals a pipeline can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All signals, in the order the configuration lists pipelines.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The pipeline type name used in `service.pipelines` (`traces`, `metrics`, `logs`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The item noun the OTel Collector uses in its self-telemetry names
    /// (`otelcol_receiver_accepted_spans`, `…_metric_points`, `…_log_records`).
    pub fn item_noun(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }

    /// Parses a pipeline type name.
    pub fn parse(s: &str) -> Option<Signal> {
        match s {
            "traces" => Some(Signal::Traces),
            "metrics" => Some(Signal::Metrics),
            "logs" => Some(Signal::Logs),
            _ => None,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One unit of data flowing through a pipeline: an OTLP export request.
///
/// Metrics stay decoded: the Prometheus exporter, their main consumer, needs every data
/// point anyway. Spans and log records usually travel as validated protobuf bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Telemetry {
    /// Spans.
    Traces(TracesPayload),
    /// Metrics.
    Metrics(ExportMetricsServiceRequest),
    /// Log records.
    Logs(LogsPayload),
}

impl Telemetry {
    /// Decoded spans.
    pub fn traces(request: ExportTraceServiceRequest) -> Telemetry {
        Telemetry::Traces(request.into())
    }

    /// Decoded log records.
    pub fn logs(request: ExportLogsServiceRequest) -> Telemetry {
        Telemetry::Logs(request.into())
    }

    /// Which signal this payload carries.
    pub fn signal(&self) -> Signal {
        match self {
            Telemetry::Traces(_) => Signal::Traces,
            Telemetry::Metrics(_) => Signal::Metrics,
            Telemetry::Logs(_) => Signal::Logs,
        }
    }

    /// The number of items the OTel Collector counts for this payload: spans, metric
    /// data points, or log records. O(1) for raw traces and logs.
    pub fn item_count(&self) -> usize {
        match self {
            Telemetry::Traces(p) => p.item_count(),
            Telemetry::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| data_point_count(m.data.as_ref()))
                .sum(),
            Telemetry::Logs(p) => p.item_count(),
        }
    }

    /// An empty payload of the given signal.
    pub fn empty(signal: Signal) -> Telemetry {
        match signal {
            Signal::Traces => Telemetry::Traces(Default::default()),
            Signal::Metrics => Telemetry::Metrics(Default::default()),
            Signal::Logs => Telemetry::Logs(Default::default()),
        }
    }
}

/// The number of data points in one metric, whatever its type.
pub fn data_point_count(data: Option<&Data>) -> usize {
    match data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Why a consumer did not take a payload.
///
/// The front-ends map this to gRPC and HTTP status codes in one place
/// ([`crate::status`]), following the OTLP specification's rules on which failures a
/// client may retry.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ConsumeError {
    /// The collector is over its memory limit; the client should retry later.
    /// gRPC `RESOURCE_EXHAUSTED` with `RetryInfo`, HTTP 429 with `Retry-After`.
    #[error("data refused: {reason}")]
    Refused {
        /// Why the data was refused, for logs and the error body.
        reason: String,
        /// How long the client should wait before retrying.
        retry_after: Duration,
    },
    /// A downstream component is temporarily unable to accept data (a full sending
    /// queue, a shut-down pipeline). gRPC `UNAVAILABLE`, HTTP 503.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// The data can never be accepted. gRPC `INVALID_ARGUMENT`, HTTP 400.
    #[error("permanent error: {0}")]
    Permanent(String),
}

impl ConsumeError {
    /// Whether sending the same data again could succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ConsumeError::Permanent(_))
    }
}

/// A component that accepts data: a processor, an exporter, or a fan-out to several.
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Takes one payload. Returning `Ok` means the data is now this consumer's
    /// responsibility: it will be exported, or counted as failed and logged.
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError>;

    /// Flushes whatever the consumer holds and releases its resources. Called once,
    /// after every component upstream has been shut down.
    async fn shutdown(&self) {}

    /// [`shutdown`](Consumer::shutdown), told how long the whole collector may take:
    /// a consumer with a sending queue keeps draining it until `deadline` (the service
    /// passes the end of `--shutdown-timeout`) rather than for a fixed time of its own,
    /// and must return by then. Called instead of `shutdown`, once. The default ignores
    /// the deadline.
    async fn shutdown_by(&self, deadline: tokio::time::Instant) {
        let _ = deadline;
        self.shutdown().await;
    }
}

/// Sends each payload to several consumers: one receiver feeding several pipelines,
/// or one pipeline feeding several exporters. The first error wins, but every
/// consumer is offered the data, so one failing exporter does not starve the others.
pub struct Fanout {
    consumers: Vec<Arc<dyn Consumer>>,
}

impl Fanout {
    /// A fan-out to `consumers`. With one consumer, prefer using it directly.
    pub fn new(consumers: Vec<Arc<dyn Consumer>>) -> Self {
        Fanout { consumers }
    }

    /// Returns the single consumer when there is only one, else a fan-out.
    pub fn of(mut consumers: Vec<Arc<dyn Consumer>>) -> Arc<dyn Consumer> {
        if consumers.len() == 1 {
            consumers.pop().expect("length checked")
        } else {
            Arc::new(Fanout::new(consumers))
        }
    }
}

#[async_trait]
impl Consumer for Fanout {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let mut first_error = None;
        let last = self.consumers.len().saturating_sub(1);
        let mut data = Some(data);
        for (i, consumer) in self.consumers.iter().enumerate() {
            // Clone for all but the last consumer, which takes the original.
            let payload = if i == last {
                data.take().expect("taken once")
            } else {
                data.as_ref().expect("present until last").clone()
            };
            if let Err(err) = consumer.consume(payload).await {
                first_error.get_or_insert(err);
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    // No `shutdown`: the consumers behind a fan-out are shared (one exporter serves
    // several pipelines), so the service shuts each of them down exactly once itself.
}

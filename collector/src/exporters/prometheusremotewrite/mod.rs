//! `exporters: prometheusremotewrite` — sends metrics to a Prometheus remote-write 1.0
//! receiver, as the OTel Collector contrib exporter of the same name does.
//!
//! ```yaml
//! exporters:
//!   prometheusremotewrite:
//!     endpoint: http://mimir:9009/api/v1/push
//!     headers: { X-Scope-OrgID: team-a }
//!     external_labels: { cluster: eu-1 }
//!     wal: { directory: /var/lib/burnwatch/prw-wal }
//! ```
//!
//! Data flows OTLP request → [`series::Converter`] (the `prometheus` exporter's translator
//! and accumulator, so names, labels, `target_info` and delta → cumulative are the same as
//! when scraped) → [`burnwatch_remote::Client`] (snappy protobuf, a byte-bounded queue
//! sharded by series, retries, the optional WAL).
//!
//! Counting, as the exporter helper counts: `otelcol_exporter_sent_metric_points` once
//! the receiver accepted a request, `otelcol_exporter_send_failed_metric_points` when it
//! refused one (4xx other than 429, logged with its message) or retries gave up,
//! `otelcol_exporter_enqueue_failed_metric_points` when the queue (or the WAL) was full
//! and the data was refused upstream (a retryable error, so SDKs resend it).
//!
//! # Where this differs from the contrib exporter
//!
//! - Delta sums and histograms are accumulated into cumulative series (contrib drops
//!   them and points at the deltatocumulative processor).
//! - Series carry the `otel_scope_*` labels the `prometheus` exporter writes, so pushed
//!   and scraped series are the same.
//! - Series no point updated for 5 minutes get a staleness marker (contrib keeps no
//!   state); `NO_RECORDED_VALUE` points get one as in contrib.
//! - The queue is bounded in bytes (`queue_size × max_batch_size_bytes`, at most
//!   256 MiB) and sharded by series so one series' samples are never reordered;
//!   `remote_write_queue.enabled: false` is refused.
//! - The WAL keeps one file per queued request (synced before the data is acknowledged
//!   upstream); `buffer_size` bounds the undelivered requests it holds.
//! - Exemplars and metadata units are not sent.

pub mod config;
mod series;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use burnwatch_remote::{Client, ClientConfig, Observer, OutcomeKind, Stats};

use self::config::PrometheusRemoteWriteConfig;
use self::series::Converter;
use crate::component::{BuildContext, BuildError};
use crate::consumer::{ConsumeError, Consumer, Signal, Telemetry};
use crate::telemetry::{Counter, ExporterMetrics};

/// Builds the exporter and starts its senders (and, with a WAL, queues what the log
/// still holds).
pub fn build(
    config: &PrometheusRemoteWriteConfig,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    let invalid = |message: String| BuildError::Invalid {
        id: ctx.id.clone(),
        message,
    };
    let path = format!("exporters.{}", ctx.id);
    let tls = if config.endpoint.trim_start().starts_with("https://") {
        let built = config
            .tls
            .build(&format!("{path}.tls"), &[])
            .map_err(|e| invalid(e.to_string()))?;
        Some(built)
    } else {
        None
    };
    let metrics = ExporterMetrics::new(&ctx.telemetry, &ctx.id, Signal::Metrics);
    let mut client_config = ClientConfig::new(config.endpoint.trim());
    client_config.name = ctx.id.to_string();
    client_config.headers = config
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    client_config.timeout = config.timeout.0;
    client_config.tls_server_name = tls
        .as_ref()
        .and_then(|t| t.server_name.as_ref())
        .map(|n| n.to_str().into_owned());
    client_config.tls = tls.map(|t| t.config);
    client_config.user_agent = format!("burnwatch-collector/{}", env!("CARGO_PKG_VERSION"));
    client_config.shards = config.remote_write_queue.num_consumers;
    client_config.limits.max_bytes = config.max_batch_size_bytes;
    client_config.queue_capacity_bytes = config.queue_bytes();
    client_config.retry = config.retry_policy();
    client_config.wal = config.wal_config();
    // The client's stats exist once it started; the observer (called as requests finish)
    // keeps otelcol_exporter_queue_size current between consume calls.
    let stats_cell: Arc<std::sync::OnceLock<Arc<Stats>>> = Arc::new(std::sync::OnceLock::new());
    let observer: Observer = {
        let sent = metrics.sent.clone();
        let failed = metrics.send_failed.clone();
        let queue_size = metrics.queue_size.clone();
        let stats_cell = Arc::clone(&stats_cell);
        Arc::new(move |o| {
            match o.kind {
                OutcomeKind::Sent => sent.add(o.items),
                OutcomeKind::Failed | OutcomeKind::Dropped => failed.add(o.items),
            }
            if let Some(stats) = stats_cell.get() {
                queue_size.set(i64::try_from(Stats::get(&stats.queued_requests)).unwrap_or(i64::MAX));
            }
        })
    };
    let client = Client::start(client_config, Some(observer)).map_err(|e| invalid(format!("{path}: {e}")))?;
    let _ = stats_cell.set(client.stats());
    metrics
        .queue_capacity
        .set(i64::try_from(config.remote_write_queue.queue_size).unwrap_or(i64::MAX));
    let telemetry = &ctx.telemetry;
    let id = ctx.id.to_string();
    let translated = telemetry.counter(
        "otelcol_exporter_prometheusremotewrite_translated_time_series",
        "Number of Prometheus time series that were translated from OTel metrics",
        &[("exporter", id.as_str())],
    );
    let failed_translations = telemetry.counter(
        "otelcol_exporter_prometheusremotewrite_failed_translations",
        "Number of OTel metrics that failed to translate to Prometheus",
        &[("exporter", id.as_str())],
    );
    let dropped_label = |reason: &str| {
        telemetry.counter(
            "otelcol_exporter_prometheusremotewrite_dropped_labels",
            "Number of data point attributes left out of the series' labels (the points are kept): reserved names, keys with no valid label name, and attributes shadowed by job, instance or otel_scope_* labels.",
            &[("exporter", id.as_str()), ("reason", reason)],
        )
    };
    let dropped_labels = [
        dropped_label("reserved"),
        dropped_label("invalid_name"),
        dropped_label("shadowed"),
    ];
    Ok(Arc::new(RemoteWriteExporter {
        converter: Converter::new(config),
        dropped_labels,
        stats: client.stats(),
        client,
        metrics,
        translated,
        failed_translations,
    }))
}

/// The exporter as pipelines see it.
struct RemoteWriteExporter {
    converter: Converter,
    client: Client,
    stats: Arc<Stats>,
    metrics: ExporterMetrics,
    translated: Counter,
    failed_translations: Counter,
    /// `reserved`, `invalid_name`, `shadowed`.
    dropped_labels: [Counter; 3],
}

impl RemoteWriteExporter {
    fn update_queue_gauge(&self) {
        let queued = Stats::get(&self.stats.queued_requests);
        self.metrics
            .queue_size
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
    }
}

#[async_trait]
impl Consumer for RemoteWriteExporter {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        let signal = data.signal();
        let Telemetry::Metrics(request) = data else {
            return Err(ConsumeError::Permanent(format!(
                "the prometheusremotewrite exporter accepts metrics, not {signal}"
            )));
        };
        let converted = self.converter.convert(&request);
        self.translated.add(converted.series.len() as u64);
        self.failed_translations.add(converted.unconvertible);
        let d = converted.dropped;
        for (counter, n) in self
            .dropped_labels
            .iter()
            .zip([d.reserved, d.invalid_name, d.shadowed])
        {
            counter.add(n);
        }
        if converted.series.is_empty() && converted.metadata.is_empty() {
            return Ok(());
        }
        let points = converted.points;
        let result = self.client.enqueue(converted.series, converted.metadata, points);
        self.update_queue_gauge();
        match result {
            Ok(()) => Ok(()),
            Err(err) => {
                self.metrics.enqueue_failed.add(points);
                tracing::warn!(error = %err, points, "Metrics refused: the remote-write queue cannot take them.");
                // Every refusal is temporary for the sender: a full queue drains, and a
                // collector shutting down is replaced by one that takes the data.
                Err(ConsumeError::Unavailable(err.to_string()))
            }
        }
    }

    async fn shutdown(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        self.shutdown_by(deadline).await;
    }

    async fn shutdown_by(&self, deadline: tokio::time::Instant) {
        let report = self.client.shutdown(deadline).await;
        self.update_queue_gauge();
        tracing::debug!(
            kept_in_wal = report.kept_in_wal,
            dropped = report.dropped,
            "The remote-write exporter stopped."
        );
    }
}

//! The numbers of the dashboard's Collector view that are computed from the collector's own
//! metrics, per exporter and per pipeline: the PromQL and the shaping of its answers, so the
//! screen and any script asking the same server get the same rows.
//!
//! Series, as the collector's `/metrics` serves them (`burnwatch up` scrapes them under the job
//! `burnwatch-collector`):
//! - per exporter: otelcol's `otelcol_exporter_sent_<items>_total`,
//!   `otelcol_exporter_send_failed_<items>_total` and `otelcol_exporter_enqueue_failed_<items>_total`
//!   (label `exporter`), and burnwatch's [`SEND_DURATION`] histogram (labels `exporter`,
//!   `otel_signal`; otelcol has no send-latency metric, see the collector's
//!   `telemetry::SEND_DURATION_BUCKETS_NS`);
//! - per pipeline: burnwatch's [`PIPELINE_INCOMING`], [`PIPELINE_OUTGOING`] and
//!   [`PIPELINE_REFUSED`] (labels `pipeline`, `otel_signal`; otelcol's pipeline-level counts
//!   exist only behind an alpha feature gate and lose the pipeline on its Prometheus endpoint).
//!
//! Rates are over [`WINDOW`] (four 15 s scrapes), as the rest of the view's. Latency quantiles
//! are `histogram_quantile` over the buckets of all of an exporter's signals, interpolated
//! within a bucket as Prometheus does, so they are estimates to a bucket's width.
//!
//! ```
//! use burnwatch_slo::collector_view;
//!
//! assert_eq!(
//!     collector_view::send_latency_quantile("burnwatch-collector", 0.99),
//!     "histogram_quantile(0.99, sum by (exporter, le) \
//!      (rate(burnwatch_exporter_send_duration_seconds_bucket{job=\"burnwatch-collector\"}[1m])))"
//! );
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::api::client::{ClientError, Endpoint, QueryKind};
use crate::promql::Value;
use crate::tsdb::Labels;
use crate::tsdb::labels::escape_label_value;

/// The rate window.
pub const WINDOW: &str = "1m";
/// The item nouns of otelcol's per-signal metric names.
pub const ITEM_NOUNS: [&str; 3] = ["spans", "metric_points", "log_records"];
/// burnwatch's send-latency histogram (seconds), without `_bucket`.
pub const SEND_DURATION: &str = "burnwatch_exporter_send_duration_seconds";
/// Items receivers and connectors offered to a pipeline.
pub const PIPELINE_INCOMING: &str = "burnwatch_pipeline_incoming_items_total";
/// Items a pipeline handed on and its exporters and connectors accepted.
pub const PIPELINE_OUTGOING: &str = "burnwatch_pipeline_outgoing_items_total";
/// Items a pipeline returned an error for.
pub const PIPELINE_REFUSED: &str = "burnwatch_pipeline_refused_items_total";

/// One exporter's row, all its signals together.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ExporterRates {
    /// The exporter (`otlp/jaeger`).
    pub exporter: String,
    /// Items sent, per second.
    pub sent_per_s: Option<f64>,
    /// Items that failed to send or to enqueue, per second.
    pub failed_per_s: Option<f64>,
    /// Median duration of one attempt to send a request, seconds; `None` without sends in the
    /// window or without the histogram (exporters that do not send: `prometheus`, `debug`).
    pub send_p50_s: Option<f64>,
    /// 99th percentile of the same, seconds.
    pub send_p99_s: Option<f64>,
}

/// One pipeline's row.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PipelineRates {
    /// The pipeline's id (`traces`, `metrics/spanmetrics`).
    pub pipeline: String,
    /// `traces`, `metrics` or `logs`.
    pub signal: String,
    /// Items offered to the pipeline, per second.
    pub incoming_per_s: Option<f64>,
    /// Items handed on and accepted downstream, per second.
    pub outgoing_per_s: Option<f64>,
    /// Items refused back to the sender, per second.
    pub refused_per_s: Option<f64>,
    /// Items taken and not handed on (a `filter` dropping, a `batch` holding or failing to hand
    /// over), per second: incoming − refused − outgoing, never below 0. Over a window a `batch`
    /// holding items shows as a small positive value that its next flush pays back.
    pub dropped_per_s: Option<f64>,
}

fn job_matcher(job: &str) -> String {
    format!("job=\"{}\"", escape_label_value(job))
}

/// Items of every exporter's `kind` (`sent`, `send_failed`, `enqueue_failed`) of one item noun
/// per second, by exporter.
pub fn exporter_rate(job: &str, kind: &str, noun: &str) -> String {
    format!(
        "sum by (exporter) (rate(otelcol_exporter_{kind}_{noun}_total{{{}}}[{WINDOW}]))",
        job_matcher(job)
    )
}

/// The `q` quantile of the send latency, seconds, by exporter.
pub fn send_latency_quantile(job: &str, q: f64) -> String {
    format!(
        "histogram_quantile({q}, sum by (exporter, le) (rate({SEND_DURATION}_bucket{{{}}}[{WINDOW}])))",
        job_matcher(job)
    )
}

/// One of the pipeline counters `metric` per second, by pipeline and signal.
pub fn pipeline_rate(job: &str, metric: &str) -> String {
    format!(
        "sum by (pipeline, otel_signal) (rate({metric}{{{}}}[{WINDOW}]))",
        job_matcher(job)
    )
}

async fn vector(
    endpoint: &Endpoint,
    expr: &str,
    at_ms: i64,
    timeout: Duration,
) -> Result<Vec<(Labels, f64)>, ClientError> {
    let res = endpoint
        .query(expr, &QueryKind::Instant { time: at_ms }, timeout)
        .await?;
    Ok(match res.value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
        _ => Vec::new(),
    })
}

/// Adds `v` to an optional sum (a missing sum is 0 once anything is added).
fn add(slot: &mut Option<f64>, v: f64) {
    *slot = Some(slot.unwrap_or(0.0) + v);
}

/// A finite quantile, or `None`: `histogram_quantile` is NaN without observations in the
/// window.
fn quantile(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Every exporter's row at `at_ms`, by exporter name, from the collector's metrics under `job`.
///
/// # Errors
///
/// The first query that failed (transport, status, PromQL).
pub async fn exporters(
    endpoint: &Endpoint,
    job: &str,
    at_ms: i64,
    timeout: Duration,
) -> Result<Vec<ExporterRates>, ClientError> {
    let mut rows: BTreeMap<String, ExporterRates> = BTreeMap::new();
    let row = |rows: &mut BTreeMap<String, ExporterRates>, labels: &Labels| -> String {
        let name = labels.get("exporter").unwrap_or_default().to_string();
        rows.entry(name.clone()).or_insert_with(|| ExporterRates {
            exporter: name.clone(),
            ..ExporterRates::default()
        });
        name
    };
    for (kind, sent) in [("sent", true), ("send_failed", false), ("enqueue_failed", false)] {
        for noun in ITEM_NOUNS {
            for (labels, v) in vector(endpoint, &exporter_rate(job, kind, noun), at_ms, timeout).await? {
                let name = row(&mut rows, &labels);
                let r = rows.get_mut(&name).expect("inserted above");
                add(
                    if sent {
                        &mut r.sent_per_s
                    } else {
                        &mut r.failed_per_s
                    },
                    v,
                );
            }
        }
    }
    for (q, p99) in [(0.5, false), (0.99, true)] {
        for (labels, v) in vector(endpoint, &send_latency_quantile(job, q), at_ms, timeout).await? {
            let name = row(&mut rows, &labels);
            let r = rows.get_mut(&name).expect("inserted above");
            *(if p99 { &mut r.send_p99_s } else { &mut r.send_p50_s }) = quantile(v);
        }
    }
    Ok(rows.into_values().collect())
}

/// Every pipeline's row at `at_ms`, by pipeline id, from the collector's metrics under `job`.
///
/// # Errors
///
/// The first query that failed (transport, status, PromQL).
pub async fn pipelines(
    endpoint: &Endpoint,
    job: &str,
    at_ms: i64,
    timeout: Duration,
) -> Result<Vec<PipelineRates>, ClientError> {
    let mut rows: BTreeMap<String, PipelineRates> = BTreeMap::new();
    for (i, metric) in [PIPELINE_INCOMING, PIPELINE_OUTGOING, PIPELINE_REFUSED]
        .into_iter()
        .enumerate()
    {
        for (labels, v) in vector(endpoint, &pipeline_rate(job, metric), at_ms, timeout).await? {
            let name = labels.get("pipeline").unwrap_or_default().to_string();
            let r = rows.entry(name.clone()).or_insert_with(|| PipelineRates {
                pipeline: name,
                signal: labels.get("otel_signal").unwrap_or_default().to_string(),
                ..PipelineRates::default()
            });
            let slot = match i {
                0 => &mut r.incoming_per_s,
                1 => &mut r.outgoing_per_s,
                _ => &mut r.refused_per_s,
            };
            add(slot, v);
        }
    }
    let mut rows: Vec<PipelineRates> = rows.into_values().collect();
    for r in &mut rows {
        r.dropped_per_s = dropped(r.incoming_per_s, r.outgoing_per_s, r.refused_per_s);
    }
    Ok(rows)
}

/// Incoming − refused − outgoing, at least 0; `None` without incoming items.
pub fn dropped(incoming: Option<f64>, outgoing: Option<f64>, refused: Option<f64>) -> Option<f64> {
    let incoming = incoming?;
    let d = incoming - outgoing.unwrap_or(0.0) - refused.unwrap_or(0.0);
    // Rates of counters scraped a moment apart differ by rounding: a few parts in 1e9 of the
    // rate are not drops.
    Some(if d <= incoming.abs() * 1e-9 { 0.0 } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_is_what_came_in_and_neither_went_out_nor_was_refused() {
        assert_eq!(dropped(Some(10.0), Some(7.0), Some(1.0)), Some(2.0));
        assert_eq!(dropped(Some(10.0), Some(10.0), None), Some(0.0));
        // A batch flushing what it held in the window before: more out than in, not negative.
        assert_eq!(dropped(Some(10.0), Some(12.0), None), Some(0.0));
        assert_eq!(dropped(None, Some(1.0), None), None);
    }

    #[test]
    fn queries_escape_the_job() {
        assert_eq!(
            pipeline_rate("a\"b", PIPELINE_INCOMING),
            "sum by (pipeline, otel_signal) (rate(burnwatch_pipeline_incoming_items_total{job=\"a\\\"b\"}[1m]))"
        );
        assert_eq!(
            exporter_rate("c", "send_failed", "spans"),
            "sum by (exporter) (rate(otelcol_exporter_send_failed_spans_total{job=\"c\"}[1m]))"
        );
    }
}

//! The Collector view's history and per-exporter rows: range queries over the last hour of the
//! collector's own metrics (`otelcol_*`, OTel Collector names, under the collector's scrape job),
//! one point a minute; each exporter's sent and failed items per second and send latency, and
//! each pipeline's item rates, now (computed by [`burnwatch_slo::collector_view`]).

use burnwatch_slo::api::client::QueryKind;
use burnwatch_slo::collector_view;

use super::{HttpBackend, range_points, short_error};
use crate::model::{ExporterRates, PipelineRates, SignalHistory};

/// How far back the charts look.
pub const HISTORY_RANGE_MS: i64 = 3_600_000;
/// One point a minute.
pub const HISTORY_STEP_MS: i64 = 60_000;
/// The signals, as otelcol names their items.
pub const SIGNALS: [&str; 3] = ["spans", "metric_points", "log_records"];

/// The per-second rate over the last minute of the metrics `names` under `job`, summed into one
/// series.
///
/// One sum per metric, added up: `rate({__name__=~"a|b"}[1m])` drops the names, and series of two
/// metrics with the same other labels (send_failed and enqueue_failed of one exporter) then
/// collide: "vector cannot contain metrics with the same labelset" in Prometheus (without its
/// experimental delayed name removal) and in burnwatch. A missing metric counts 0;
/// `and on() count(...)` keeps "no such metric at all" empty.
pub fn summed_rate(job: &str, names: &[String]) -> String {
    let terms: Vec<String> = names
        .iter()
        .map(|n| format!("(sum(rate({n}{{job=\"{job}\"}}[1m])) or vector(0))"))
        .collect();
    format!(
        "({}) and on() count({{__name__=~\"{}\",job=\"{job}\"}})",
        terms.join(" + "),
        names.join("|")
    )
}

/// The metrics counted as accepted, refused and failed items of `signal`.
pub fn signal_metrics(signal: &str) -> [Vec<String>; 3] {
    [
        vec![format!("otelcol_receiver_accepted_{signal}_total")],
        vec![
            format!("otelcol_receiver_refused_{signal}_total"),
            format!("otelcol_processor_refused_{signal}_total"),
        ],
        vec![
            format!("otelcol_exporter_send_failed_{signal}_total"),
            format!("otelcol_exporter_enqueue_failed_{signal}_total"),
            format!("otelcol_processor_batch_send_failed_{signal}_total"),
        ],
    ]
}

impl HttpBackend {
    /// One range query over the hour up to `at_ms`: its single series' points, a failure noted.
    async fn history(&self, expr: &str, at_ms: i64, errors: &mut Vec<String>) -> Vec<(i64, Option<f64>)> {
        let start = at_ms - HISTORY_RANGE_MS;
        let kind = QueryKind::Range {
            start,
            end: at_ms,
            step: HISTORY_STEP_MS,
        };
        match self.endpoint.query(expr, &kind, self.timeout).await {
            Ok(res) => range_points(&res.value, start, at_ms, HISTORY_STEP_MS),
            Err(e) => {
                errors.push(short_error(&e));
                Vec::new()
            }
        }
    }

    /// Accepted / refused / failed items per second of each signal over the last hour.
    pub(super) async fn signal_history(
        &self,
        job: &str,
        at_ms: i64,
        errors: &mut Vec<String>,
    ) -> Vec<SignalHistory> {
        let mut out = Vec::new();
        for signal in SIGNALS {
            let [accepted, refused, failed] = signal_metrics(signal);
            out.push(SignalHistory {
                signal: signal.to_string(),
                accepted: self.history(&summed_rate(job, &accepted), at_ms, errors).await,
                refused: self.history(&summed_rate(job, &refused), at_ms, errors).await,
                failed: self.history(&summed_rate(job, &failed), at_ms, errors).await,
            });
        }
        out
    }

    /// The collector's resident memory over the last hour, bytes.
    pub(super) async fn rss_history(
        &self,
        job: &str,
        at_ms: i64,
        errors: &mut Vec<String>,
    ) -> Vec<(i64, Option<f64>)> {
        self.history(
            &format!("max(otelcol_process_memory_rss{{job=\"{job}\"}})"),
            at_ms,
            errors,
        )
        .await
    }

    /// Each exporter's items sent and failed (send or enqueue) per second over the last minute,
    /// all signals together, and its send latency p50/p99; each pipeline's items in, out,
    /// refused and dropped per second. [`burnwatch_slo::collector_view`] computes them; a
    /// failure is noted in `errors` and leaves its rows empty.
    pub(super) async fn exporters_and_pipelines(
        &self,
        at_ms: i64,
        errors: &mut Vec<String>,
    ) -> (Vec<ExporterRates>, Vec<PipelineRates>) {
        let job = &self.collector_job;
        let exporters = collector_view::exporters(&self.endpoint, job, at_ms, self.timeout)
            .await
            .unwrap_or_else(|e| {
                errors.push(short_error(&e));
                Vec::new()
            });
        let pipelines = collector_view::pipelines(&self.endpoint, job, at_ms, self.timeout)
            .await
            .unwrap_or_else(|e| {
                errors.push(short_error(&e));
                Vec::new()
            });
        (exporters, pipelines)
    }
}

//! What the dashboard shows: one [`Snapshot`] of every view, fetched from a Prometheus-compatible
//! API by [`crate::fetch`] and drawn by the views. `--once --json` prints this structure.
//!
//! Every number that may be missing is an `Option` (`null` in JSON): no traffic and no data are
//! shown as `N/A`, never as 0% or 100%. Values may still be NaN, infinite or negative (an
//! overspent budget); the views must draw them without panicking.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// A DORA metric read from the `dora_*` series and its trend: computed by
/// [`burnwatch_slo::dora::query`], shown by the DORA view.
pub use burnwatch_slo::dora::query::{DoraMetric, Trend, WeekValue};
/// A deployment or incident as `GET /api/v1/dora/events` lists it, with its links.
pub use burnwatch_slo::dora::recent::{RecentEvent, RecentEvents};
/// A point of the error-budget burndown: computed by [`burnwatch_slo::slo::burndown`].
pub use burnwatch_slo::slo::burndown::BurndownPoint;
use burnwatch_slo::slo::status::SloStatus;
use burnwatch_slo::spanmetrics::{Operation, QuantileSource};
use serde::Serialize;

/// One refresh of everything the dashboard shows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    /// Where the data came from (`http://127.0.0.1:9090`).
    pub source: String,
    /// Evaluation time, milliseconds since the epoch.
    pub at_ms: i64,
    /// Every SLO's status, sorted by budget remaining (least first; SLOs without a number last).
    pub slos: Vec<SloStatus>,
    /// The time series of the SLO the detail view shows (the selected one), when fetched.
    pub detail: Option<SloDetail>,
    /// The error-budget burndown of each SLO, by id, for the SLO list's budget sparkline (the
    /// detail's burndown, fetched for every SLO a few at a time and reused for minutes: a
    /// 30-day budget moves slowly). An SLO not fetched yet has no entry.
    pub budget_trends: BTreeMap<String, Vec<BurndownPoint>>,
    /// The DORA view.
    pub dora: DoraView,
    /// The collector view.
    pub collector: CollectorView,
    /// The Traces view: operations from the spanmetrics connector's series.
    pub traces: TracesView,
    /// The latency over time of the operation the Traces view has open, when one is.
    pub operation: Option<OperationLatency>,
    /// Problems met while fetching (a query that failed, an unreachable server), for the status bar.
    pub errors: Vec<String>,
}

/// The series behind the SLO detail view.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SloDetail {
    /// The SLO's id (`checkout-requests-availability`), matching [`SloStatus::id`].
    pub id: String,
    /// The error-budget burndown over the period, oldest first.
    pub burndown: Vec<BurndownPoint>,
    /// SLI sparklines, one per span (5m, 1h, 6h), shortest first.
    pub sparklines: Vec<Sparkline>,
}

/// The SLI (good / valid, 1 = every event good) over a recent span.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sparkline {
    /// The span shown (`5m`, `1h`, `6h`).
    pub span: String,
    /// The rate window each point uses (`1m`).
    pub rate_window: String,
    /// `(t_ms, sli)`, oldest first; `None` where there was no traffic.
    pub points: Vec<(i64, Option<f64>)>,
}

/// The DORA view: the five metrics over a window, with the previous window for the trend.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DoraView {
    /// The window (`30d`).
    pub window: String,
    /// Whether any `dora_*` series exist.
    pub has_data: bool,
    /// Deployment frequency, lead time, change failure rate, recovery time, rework rate.
    pub metrics: Vec<DoraMetric>,
    /// The recent deployments and incidents with their links, newest first, when the server
    /// lists its events (`burnwatch serve` / `up`; a plain Prometheus has no such list).
    pub recent: Option<RecentEvents>,
}

/// The collector view, from the collector's own metrics (`otelcol_*`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CollectorView {
    /// Whether the self-telemetry target answered its last scrape (`up`); `None` when it is not
    /// scraped at all.
    pub up: Option<bool>,
    /// Per signal (`spans`, `metric_points`, `log_records`), per second over the last minute.
    pub signals: Vec<SignalRates>,
    /// Exporter sending queues.
    pub queues: Vec<QueueFill>,
    /// Resident memory of the collector process, bytes.
    pub rss_bytes: Option<f64>,
    /// The `memory_limiter` hard limit, bytes.
    pub memory_limit_bytes: Option<f64>,
    /// The `memory_limiter` soft limit (where it starts refusing), bytes.
    pub memory_soft_limit_bytes: Option<f64>,
    /// The last hour, one point a minute, per signal (same order as `signals`).
    pub history: Vec<SignalHistory>,
    /// Resident memory over the last hour, one point a minute, bytes.
    pub rss_history: Vec<(i64, Option<f64>)>,
    /// Items each exporter sent and failed to send, per second over the last minute, and its
    /// send latency.
    pub exporters: Vec<ExporterRates>,
    /// Items in, out, refused and dropped per pipeline, per second over the last minute.
    pub pipelines: Vec<PipelineRates>,
}

/// One signal's item rates over time: `(t_ms, per second)`, oldest first, `None` without data.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SignalHistory {
    /// `spans`, `metric_points` or `log_records`.
    pub signal: String,
    /// Accepted by receivers.
    pub accepted: Vec<(i64, Option<f64>)>,
    /// Refused by receivers or the memory limiter.
    pub refused: Vec<(i64, Option<f64>)>,
    /// Failed to export.
    pub failed: Vec<(i64, Option<f64>)>,
}

/// One exporter's throughput and send latency, and one pipeline's item rates, as
/// [`burnwatch_slo::collector_view`] computes them.
pub use burnwatch_slo::collector_view::{ExporterRates, PipelineRates};

/// Item rates of one signal.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SignalRates {
    /// `spans`, `metric_points` or `log_records`.
    pub signal: String,
    /// Accepted by receivers, per second.
    pub accepted_per_s: Option<f64>,
    /// Refused by receivers or the memory limiter, per second.
    pub refused_per_s: Option<f64>,
    /// Failed to export (send or enqueue), per second.
    pub failed_per_s: Option<f64>,
}

/// One exporter's queue.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueueFill {
    /// The exporter (`otlp/jaeger`).
    pub exporter: String,
    /// Items queued.
    pub size: f64,
    /// Capacity.
    pub capacity: f64,
}

/// The Traces view: every operation the spanmetrics connector counts, with its rate, error share
/// and latency quantiles (see [`burnwatch_slo::spanmetrics`] for the queries).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TracesView {
    /// The rate window (`1m`).
    pub window: String,
    /// Where the quantiles come from; `None` when neither the summary nor the buckets exist.
    pub source: Option<QuantileSource>,
    /// One row per operation, in no particular order (the view sorts).
    pub operations: Vec<OperationRow>,
}

/// One operation's row.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OperationRow {
    /// The operation.
    pub op: Operation,
    /// Calls per second.
    pub rate_per_s: Option<f64>,
    /// Failed calls over all calls (0 to 1); `None` without calls.
    pub error_ratio: Option<f64>,
    /// Median duration, milliseconds.
    pub p50_ms: Option<f64>,
    /// 90th percentile duration, milliseconds.
    pub p90_ms: Option<f64>,
    /// 99th percentile duration, milliseconds.
    pub p99_ms: Option<f64>,
}

/// One operation's latency quantiles over time (the Traces view's chart).
#[derive(Clone, Debug, Default, Serialize)]
pub struct OperationLatency {
    /// The operation.
    pub op: Operation,
    /// Where the quantiles come from; `None` when neither source exists.
    pub source: Option<QuantileSource>,
    /// `(quantile label, points)`: `p50`, `p90`, `p99`, each `(t_ms, ms)` oldest first, `None`
    /// where there is no value.
    pub lines: Vec<(String, TimeLine)>,
}

/// Values over time: `(t_ms, value)`, oldest first, `None` where there is no value.
pub type TimeLine = Vec<(i64, Option<f64>)>;

/// The answer to a query typed in the PromQL view.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueryOutcome {
    /// An instant vector or scalar: one row per series.
    Table {
        /// `(series as Prometheus shows it, `name{a="b"}`, value as Prometheus prints it)`, in the
        /// server's order; a native
        /// histogram's value reads `histogram count=N sum=S`.
        rows: Vec<(String, String)>,
    },
    /// A range query: one line per series.
    Lines {
        /// `(labels, [(t_ms, value)])`.
        series: Vec<(String, Vec<(i64, f64)>)>,
    },
    /// The query failed.
    Error {
        /// The server's message.
        message: String,
        /// The 0-based character position of a parse error, when the message names one.
        position: Option<usize>,
    },
}

/// A boxed future, so [`Backend`] stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the dashboard gets its data. [`crate::fetch::HttpBackend`] asks a Prometheus-compatible
/// API; tests use fixed data.
pub trait Backend: Send + Sync {
    /// Everything the views show, at the current time; `detail` names the SLO id whose detail
    /// series to fetch (the selected one), if any.
    fn snapshot<'a>(&'a self, detail: Option<&'a str>) -> BoxFuture<'a, Snapshot>;

    /// Runs a query typed in the PromQL view: an instant query, or a range query over the last
    /// `range_ms` milliseconds when given (the chart).
    fn query<'a>(&'a self, expr: &'a str, range_ms: Option<i64>) -> BoxFuture<'a, QueryOutcome>;

    /// The latency quantiles of `op` over the last hour (the Traces view's chart).
    fn operation_latency<'a>(&'a self, op: &'a Operation) -> BoxFuture<'a, OperationLatency>;
}

/// The demo traffic generator's error-rate knob (`burnwatch up --demo`), turned by keys in the
/// dashboard.
pub trait DemoKnob: Send + Sync {
    /// The base error share now (0.0 to 1.0).
    fn error_rate(&self) -> f64;
    /// Raises (`up`) or lowers the base error share by one step; returns the new value.
    fn adjust(&self, up: bool) -> f64;
}

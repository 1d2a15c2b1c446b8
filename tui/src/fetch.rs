//! The dashboard's data from a Prometheus-compatible HTTP API: a real Prometheus, a remote
//! `burnwatch serve`, or the API `burnwatch up` serves in the same process.
//!
//! Everything is PromQL over raw series, so no recording rules need to be installed:
//! - SLOs: [`status::evaluate`] runs the very expressions the generated rules record.
//!   Where the server evaluates the generated alerting rules, [`rule_alerts`] lays its alert
//!   states over the computed ones.
//! - Detail and the SLO list's budget sparklines: the burndown is [`burndown::burndown`], the
//!   SRE Workbook's (what `burnwatch slo status --json` prints), fetched for the selected SLO
//!   every refresh and for the others a few at a time, reused for minutes.
//! - DORA: [`dora_query::from_series`] (what `burnwatch dora report --prometheus-url` prints),
//!   and the server's recent events with their links ([`recent::fetch`]) where it lists them.
//! - Collector: the OTel Collector's own metric names (`otelcol_*`) under one scrape job.
//! - Traces: the spanmetrics connector's calls, error share and quantiles per operation
//!   ([`burnwatch_slo::spanmetrics`]'s queries, run by the `traces` module).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burnwatch_slo::api::client::{ClientError, Endpoint, QueryKind};
use burnwatch_slo::api::json::format_value;
use burnwatch_slo::dora::{query as dora_query, recent};
use burnwatch_slo::promql::Value;
use burnwatch_slo::slo::burndown;
use burnwatch_slo::slo::math::prometheus_duration;
use burnwatch_slo::slo::rule_alerts;
use burnwatch_slo::slo::status::{self, HttpSource, SliSource, SloStatus};
use burnwatch_slo::slo::{SloSpec, rules};
use burnwatch_slo::spanmetrics::Operation;
use burnwatch_slo::tsdb::Labels;

use crate::model::OperationLatency;
use crate::model::{
    Backend, BoxFuture, BurndownPoint, CollectorView, DoraView, QueryOutcome, QueueFill, SignalRates,
    SloDetail, Snapshot, Sparkline,
};

/// Points on the burndown chart (and on the SLO list's budget sparkline).
const BURNDOWN_POINTS: u32 = burndown::POINTS;
/// Points on each SLI sparkline.
const SPARK_POINTS: i64 = 60;
/// How long a fetched burndown is reused: it moves slowly and costs one query per point.
const DETAIL_REUSE_MS: i64 = 30_000;
/// The DORA window, as the report's default.
const DORA_WINDOW: Duration = Duration::from_secs(30 * 86_400);
/// How long the SLO list's budget sparkline of an SLO (its burndown) is reused: over a 30-day
/// period one point is a day apart, and the table's "Budget left" is fresh every refresh.
const BUDGET_TREND_REUSE_MS: i64 = 300_000;
/// How many SLOs' burndowns one refresh fetches for the list (31 queries each), so that 200 SLOs
/// fill in over refreshes instead of holding up the table.
const BUDGET_TRENDS_PER_FETCH: usize = 8;
/// How many recent DORA events the view asks for.
const RECENT_EVENTS: usize = 30;
/// The job the collector's own metrics are scraped under by `burnwatch up`.
pub const DEFAULT_COLLECTOR_JOB: &str = "burnwatch-collector";

/// The dashboard's data from a Prometheus-compatible API.
pub struct HttpBackend {
    endpoint: Endpoint,
    slos: Vec<SloSpec>,
    timeout: Duration,
    collector_job: String,
    detail_cache: Mutex<Option<SloDetail>>,
    /// The newest burndown of each SLO, by id.
    budget_cache: Mutex<BTreeMap<String, Vec<BurndownPoint>>>,
}

impl HttpBackend {
    /// Asks the API at `endpoint` (a URL such as `http://127.0.0.1:9090`, or an [`Endpoint`]
    /// with credentials and TLS trust) about `slos`; each query waits at most `timeout`. The
    /// collector's metrics are looked up under `collector_job`.
    pub fn new(
        endpoint: impl Into<Endpoint>,
        slos: Vec<SloSpec>,
        timeout: Duration,
        collector_job: &str,
    ) -> Self {
        HttpBackend {
            endpoint: endpoint.into(),
            slos,
            timeout,
            collector_job: collector_job.to_string(),
            detail_cache: Mutex::new(None),
            budget_cache: Mutex::new(BTreeMap::new()),
        }
    }

    /// The SLOs this backend evaluates.
    pub fn slos(&self) -> &[SloSpec] {
        &self.slos
    }

    /// One snapshot at `at_ms`, with the detail series of the SLO `detail` names.
    pub async fn fetch(&self, detail: Option<&str>, at_ms: i64) -> Snapshot {
        let mut errors = Vec::new();
        let source = HttpSource::new(&self.endpoint, self.timeout);
        let mut slos = status::evaluate(&self.slos, &source as &dyn SliSource, at_ms).await;
        // Where the server evaluates the SLOs' alerting rules (`up`, a Prometheus with them
        // loaded), the Firing column shows its alerts: exactly what Alertmanager receives.
        match rule_alerts::fetch(&self.endpoint, self.timeout).await {
            Ok(rules) => rules.apply(&mut slos),
            // An unreachable server is reported once, below, from the SLO queries.
            Err(ClientError::Transport { .. }) | Err(ClientError::Unauthorized { .. }) => {}
            Err(e) => errors.push(format!("alerting rules: {}", short_error(&e))),
        }
        sort_by_budget(&mut slos);
        // An unreachable server fails every query the same way: say it once.
        if !slos.is_empty()
            && slos
                .iter()
                .all(|s| s.error.as_deref().is_some_and(is_transport_message))
        {
            errors.push(format!("cannot reach {}", self.endpoint.base_url()));
        } else if let Some(refused) = slos
            .iter()
            .filter_map(|s| s.error.as_deref())
            .find(|e| e.contains("401 Unauthorized"))
        {
            // Wrong or missing credentials fail every query: the status bar says why once.
            errors.push(refused.lines().next().unwrap_or(refused).to_string());
        }
        let detail = match detail.and_then(|id| self.slos.iter().find(|s| s.id() == id)) {
            Some(slo) => Some(self.detail(slo, at_ms, &mut errors).await),
            None => None,
        };
        let budget_trends = self.budget_trends(at_ms, &mut errors).await;
        let dora = self.dora(at_ms, &mut errors).await;
        let collector = self.collector(at_ms, &mut errors).await;
        let traces = self.traces(at_ms, &mut errors).await;
        errors.dedup();
        Snapshot {
            source: self.endpoint.base_url().to_string(),
            at_ms,
            slos,
            detail,
            budget_trends,
            dora,
            collector,
            traces,
            operation: None,
            errors,
        }
    }

    /// One instant query; `Ok(None)` for an empty result, the first series' value otherwise.
    async fn scalar(&self, expr: &str, at_ms: i64) -> Result<Option<f64>, ClientError> {
        let res = self
            .endpoint
            .query(expr, &QueryKind::Instant { time: at_ms }, self.timeout)
            .await?;
        Ok(match res.value {
            Value::Scalar { v, .. } => Some(v),
            Value::Vector(v) => v.first().map(|s| s.v),
            _ => None,
        })
    }

    /// [`Self::scalar`], a failure noted in `errors` and read as no value.
    async fn scalar_or_note(&self, expr: &str, at_ms: i64, errors: &mut Vec<String>) -> Option<f64> {
        match self.scalar(expr, at_ms).await {
            Ok(v) => v.filter(|v| !v.is_nan()),
            Err(e) => {
                errors.push(short_error(&e));
                None
            }
        }
    }

    async fn detail(&self, slo: &SloSpec, at_ms: i64, errors: &mut Vec<String>) -> SloDetail {
        let id = slo.id();
        let cached = self.detail_cache.lock().ok().and_then(|cache| {
            cache
                .as_ref()
                .filter(|d| {
                    d.id == id
                        && d.burndown
                            .last()
                            .is_some_and(|p| at_ms >= p.t_ms && at_ms - p.t_ms < DETAIL_REUSE_MS)
                })
                .cloned()
        });
        if let Some(mut d) = cached {
            d.sparklines = self.sparklines(slo, at_ms, errors).await;
            return d;
        }
        let burndown = self.burndown(slo, at_ms, errors).await;
        let detail = SloDetail {
            id,
            burndown,
            sparklines: self.sparklines(slo, at_ms, errors).await,
        };
        if let Ok(mut cache) = self.detail_cache.lock() {
            *cache = Some(detail.clone());
        }
        detail
    }

    /// The burndown of `slo` ([`burndown::burndown`]), kept for the SLO list's sparkline too.
    async fn burndown(&self, slo: &SloSpec, at_ms: i64, errors: &mut Vec<String>) -> Vec<BurndownPoint> {
        let source = HttpSource::new(&self.endpoint, self.timeout);
        match burndown::burndown(slo, &source, at_ms, BURNDOWN_POINTS).await {
            Ok(points) => {
                if let Ok(mut cache) = self.budget_cache.lock() {
                    cache.insert(slo.id(), points.clone());
                }
                points
            }
            Err(e) => {
                errors.push(e.to_string().lines().next().unwrap_or_default().to_string());
                Vec::new()
            }
        }
    }

    /// The burndowns for the SLO list's sparklines: the cached ones, after fetching up to
    /// [`BUDGET_TRENDS_PER_FETCH`] of those missing or older than [`BUDGET_TREND_REUSE_MS`]
    /// (missing first, then oldest).
    async fn budget_trends(
        &self,
        at_ms: i64,
        errors: &mut Vec<String>,
    ) -> BTreeMap<String, Vec<BurndownPoint>> {
        let age = |cache: &BTreeMap<String, Vec<BurndownPoint>>, id: &str| {
            cache
                .get(id)
                .and_then(|p| p.last())
                .map_or(i64::MAX, |p| at_ms.saturating_sub(p.t_ms))
        };
        let mut stale: Vec<(i64, &SloSpec)> = match self.budget_cache.lock() {
            Ok(cache) => self
                .slos
                .iter()
                .map(|s| (age(&cache, &s.id()), s))
                .filter(|(a, _)| !(0..BUDGET_TREND_REUSE_MS).contains(a))
                .collect(),
            Err(_) => Vec::new(),
        };
        stale.sort_by_key(|(a, _)| std::cmp::Reverse(*a));
        for (_, slo) in stale.into_iter().take(BUDGET_TRENDS_PER_FETCH) {
            self.burndown(slo, at_ms, errors).await;
        }
        self.budget_cache.lock().map(|c| c.clone()).unwrap_or_default()
    }

    async fn sparklines(&self, slo: &SloSpec, at_ms: i64, errors: &mut Vec<String>) -> Vec<Sparkline> {
        let mut out = Vec::new();
        for span in [300_i64, 3_600, 21_600] {
            let span_ms = span * 1000;
            let step_ms = span_ms / SPARK_POINTS;
            // Each point's rate window covers its step (no gaps between points) and at least a
            // minute, four 15s scrapes.
            let rate_window = Duration::from_millis(step_ms.max(60_000) as u64);
            let expr = format!("1 - ({})", rules::sli_expr(slo, rate_window));
            let kind = QueryKind::Range {
                start: at_ms - span_ms + step_ms,
                end: at_ms,
                step: step_ms,
            };
            let points = match self.endpoint.query(&expr, &kind, self.timeout).await {
                Ok(res) => range_points(&res.value, at_ms - span_ms + step_ms, at_ms, step_ms),
                Err(e) => {
                    errors.push(short_error(&e));
                    Vec::new()
                }
            };
            out.push(Sparkline {
                span: prometheus_duration(Duration::from_secs(span as u64)),
                rate_window: prometheus_duration(rate_window),
                points,
            });
        }
        out
    }

    async fn dora(&self, at_ms: i64, errors: &mut Vec<String>) -> DoraView {
        let source = HttpSource::new(&self.endpoint, self.timeout);
        let (report, failed) = dora_query::from_series(&source, at_ms, DORA_WINDOW).await;
        errors.extend(
            failed
                .iter()
                .map(|e| e.to_string().lines().next().unwrap_or_default().to_string()),
        );
        let recent = if report.has_data {
            match recent::fetch(&self.endpoint, self.timeout, RECENT_EVENTS).await {
                Ok(list) => list,
                Err(e) => {
                    errors.push(format!("DORA events: {}", short_error(&e)));
                    None
                }
            }
        } else {
            None
        };
        DoraView {
            window: report.window,
            has_data: report.has_data,
            metrics: report.metrics,
            recent,
        }
    }

    async fn collector(&self, at_ms: i64, errors: &mut Vec<String>) -> CollectorView {
        let job = escape(&self.collector_job);
        let up = self
            .scalar_or_note(&format!("min(up{{job=\"{job}\"}})"), at_ms, errors)
            .await
            .map(|v| v >= 1.0);
        let mut signals = Vec::new();
        for signal in collector::SIGNALS {
            // See `collector::summed_rate` for why each metric is summed on its own.
            let [accepted, refused, failed] = collector::signal_metrics(signal);
            let accepted = self
                .scalar_or_note(&collector::summed_rate(&job, &accepted), at_ms, errors)
                .await;
            let refused = self
                .scalar_or_note(&collector::summed_rate(&job, &refused), at_ms, errors)
                .await;
            let failed = self
                .scalar_or_note(&collector::summed_rate(&job, &failed), at_ms, errors)
                .await;
            signals.push(SignalRates {
                signal: signal.to_string(),
                accepted_per_s: accepted,
                refused_per_s: refused,
                failed_per_s: failed,
            });
        }
        let queues = match self.queues(&job, at_ms).await {
            Ok(q) => q,
            Err(e) => {
                errors.push(short_error(&e));
                Vec::new()
            }
        };
        let rss_bytes = self
            .scalar_or_note(
                &format!("max(otelcol_process_memory_rss{{job=\"{job}\"}})"),
                at_ms,
                errors,
            )
            .await;
        let memory_limit_bytes = self
            .scalar_or_note(
                &format!("min(burnwatch_memory_limiter_limit_bytes{{job=\"{job}\"}})"),
                at_ms,
                errors,
            )
            .await;
        let memory_soft_limit_bytes = self
            .scalar_or_note(
                &format!("min(burnwatch_memory_limiter_soft_limit_bytes{{job=\"{job}\"}})"),
                at_ms,
                errors,
            )
            .await;
        let history = self.signal_history(&job, at_ms, errors).await;
        let rss_history = self.rss_history(&job, at_ms, errors).await;
        let (exporters, pipelines) = self.exporters_and_pipelines(at_ms, errors).await;
        CollectorView {
            up,
            signals,
            queues,
            rss_bytes,
            memory_limit_bytes,
            memory_soft_limit_bytes,
            history,
            rss_history,
            exporters,
            pipelines,
        }
    }

    async fn queues(&self, job: &str, at_ms: i64) -> Result<Vec<QueueFill>, ClientError> {
        let by_exporter = |name: &str| format!("sum by (exporter) ({name}{{job=\"{job}\"}})");
        let size = self
            .vector(&by_exporter("otelcol_exporter_queue_size"), at_ms)
            .await?;
        let capacity = self
            .vector(&by_exporter("otelcol_exporter_queue_capacity"), at_ms)
            .await?;
        // Exporters without a sending queue (prometheus, debug) report a capacity of 0.
        Ok(capacity
            .into_iter()
            .filter(|(_, capacity)| *capacity > 0.0)
            .map(|(labels, capacity)| {
                let exporter = labels.get("exporter").unwrap_or_default().to_string();
                let size = size
                    .iter()
                    .find(|(l, _)| l.get("exporter").unwrap_or_default() == exporter)
                    .map_or(0.0, |(_, v)| *v);
                QueueFill {
                    exporter,
                    size,
                    capacity,
                }
            })
            .collect())
    }

    async fn vector(&self, expr: &str, at_ms: i64) -> Result<Vec<(Labels, f64)>, ClientError> {
        let res = self
            .endpoint
            .query(expr, &QueryKind::Instant { time: at_ms }, self.timeout)
            .await?;
        Ok(match res.value {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            _ => Vec::new(),
        })
    }

    /// A query typed in the PromQL view, at `at_ms`.
    pub async fn run_query(&self, expr: &str, range_ms: Option<i64>, at_ms: i64) -> QueryOutcome {
        let kind = match range_ms {
            Some(range) => {
                let range = range.max(1_000);
                // About 240 points across the chart, whole milliseconds, at least 1s apart.
                let step = (range / 240).max(1_000);
                QueryKind::Range {
                    start: at_ms - range,
                    end: at_ms,
                    step,
                }
            }
            None => QueryKind::Instant { time: at_ms },
        };
        match self.endpoint.query(expr, &kind, self.timeout).await {
            Ok(res) => outcome(res.value),
            Err(ClientError::Api { message, .. }) => QueryOutcome::Error {
                position: parse_position(&message),
                message,
            },
            Err(e) => QueryOutcome::Error {
                message: e.to_string(),
                position: None,
            },
        }
    }
}

impl Backend for HttpBackend {
    fn snapshot<'a>(&'a self, detail: Option<&'a str>) -> BoxFuture<'a, Snapshot> {
        Box::pin(self.fetch(detail, now_ms()))
    }

    fn query<'a>(&'a self, expr: &'a str, range_ms: Option<i64>) -> BoxFuture<'a, QueryOutcome> {
        Box::pin(self.run_query(expr, range_ms, now_ms()))
    }

    fn operation_latency<'a>(&'a self, op: &'a Operation) -> BoxFuture<'a, OperationLatency> {
        Box::pin(self.operation_latency_at(op, now_ms()))
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Least budget left first; SLOs without a number (no traffic, an error) after all others, each
/// group in id order so the table does not jump between refreshes.
pub fn sort_by_budget(slos: &mut [SloStatus]) {
    slos.sort_by(|a, b| match (a.budget_remaining, b.budget_remaining) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.id.cmp(&b.id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.id.cmp(&b.id),
    });
}

fn is_transport_message(message: &str) -> bool {
    message.contains("cannot reach ")
}

/// The first line of an error: the status bar has one line.
fn short_error(e: &ClientError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Escapes a label value for a PromQL string literal.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The values of the single series of a range result at each step from `start` to `end`; `None`
/// where the series has no point (no traffic: 0/0 is dropped or NaN).
fn range_points(value: &Value, start: i64, end: i64, step: i64) -> Vec<(i64, Option<f64>)> {
    let series = match value {
        Value::Matrix(m) => m.first(),
        _ => None,
    };
    let mut out = Vec::new();
    let mut t = start;
    while t <= end && step > 0 {
        let v = series
            .and_then(|s| s.samples.iter().find(|p| p.t == t))
            .map(|p| p.v)
            .filter(|v| v.is_finite());
        out.push((t, v));
        t += step;
    }
    out
}

fn outcome(value: Value) -> QueryOutcome {
    match value {
        Value::Vector(v) => QueryOutcome::Table {
            rows: v
                .into_iter()
                .map(|s| {
                    let value = match &s.h {
                        // A native histogram: its count and sum, as a one-line summary.
                        Some(h) => format!(
                            "histogram count={} sum={}",
                            format_value(h.count),
                            format_value(h.sum)
                        ),
                        None => format_value(s.v),
                    };
                    (s.labels.series_name(), value)
                })
                .collect(),
        },
        Value::Scalar { v, .. } => QueryOutcome::Table {
            rows: vec![("scalar".to_string(), format_value(v))],
        },
        Value::String { s, .. } => QueryOutcome::Table {
            rows: vec![("string".to_string(), s)],
        },
        Value::Matrix(m) => QueryOutcome::Lines {
            series: m
                .into_iter()
                .map(|s| {
                    (
                        s.labels.series_name(),
                        s.samples.iter().map(|p| (p.t, p.v)).collect(),
                    )
                })
                .collect(),
        },
    }
}

/// The position in a Prometheus parse error (`invalid parameter "query": 1:7: parse error: ...`):
/// the 0-based column, for single-line queries.
fn parse_position(message: &str) -> Option<usize> {
    let before = &message[..message.find(": parse error")?];
    let place = before.rsplit([' ', '"']).next()?;
    let (line, col) = place.split_once(':')?;
    let line: usize = line.parse().ok()?;
    let col: usize = col.parse().ok()?;
    (line == 1 && col >= 1).then(|| col - 1)
}

mod collector;
#[cfg(test)]
mod tests;
mod traces;

//! The dashboard's data from a Prometheus-compatible HTTP API: a real Prometheus, a remote
//! `burnwatch serve`, or the API `burnwatch up` serves in the same process.
//!
//! Everything is PromQL over raw series, so no recording rules need to be installed:
//! - SLOs: [`status::evaluate`] runs the very expressions the generated rules record.
//!   Where the server evaluates the generated alerting rules, [`rule_alerts`] lays its alert
//!   states over the computed ones.
//! - Detail: the burndown is the budget spent from the period's start up to each point, as the
//!   SRE Workbook draws it (chapter 5, "Error budget burndown"): the error ratio over
//!   `[start, t]` times the elapsed share of the period, divided by the budget. The ideal line is a
//!   budget spent evenly, 1 at the start and 0 at the end.
//! - DORA: counts in a window are exact differences of the cumulative `dora_*` counters
//!   (`last_over_time` now minus the same a window ago), medians come from the histogram buckets
//!   (`histogram_quantile`, so they are interpolated within a bucket, unlike `burnwatch dora
//!   report`, which reads the events themselves).
//! - Collector: the OTel Collector's own metric names (`otelcol_*`) under one scrape job.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burnwatch_slo::api::client::{ClientError, Endpoint, QueryKind};
use burnwatch_slo::api::json::format_value;
use burnwatch_slo::dora::metrics::format_seconds;
use burnwatch_slo::dora::{self, tiers};
use burnwatch_slo::promql::Value;
use burnwatch_slo::slo::math::prometheus_duration;
use burnwatch_slo::slo::rule_alerts;
use burnwatch_slo::slo::status::{self, HttpSource, SliSource, SloStatus};
use burnwatch_slo::slo::{SloSpec, rules};
use burnwatch_slo::tsdb::Labels;

use crate::model::{
    Backend, BoxFuture, BurndownPoint, CollectorView, DoraMetric, DoraView, QueryOutcome, QueueFill,
    SignalRates, SloDetail, Snapshot, Sparkline, Trend,
};

/// Points on the burndown chart.
const BURNDOWN_POINTS: u32 = 30;
/// Points on each SLI sparkline.
const SPARK_POINTS: i64 = 60;
/// How long a fetched burndown is reused: it moves slowly and costs one query per point.
const DETAIL_REUSE_MS: i64 = 30_000;
/// The DORA window, as the report's default.
const DORA_WINDOW: Duration = Duration::from_secs(30 * 86_400);
/// How far back `last_over_time` looks for a DORA counter's value: the series are sparse.
const DORA_LOOKBACK: &str = "1y";
/// The job the collector's own metrics are scraped under by `burnwatch up`.
pub const DEFAULT_COLLECTOR_JOB: &str = "burnwatch-collector";

/// The dashboard's data from a Prometheus-compatible API.
pub struct HttpBackend {
    endpoint: Endpoint,
    slos: Vec<SloSpec>,
    timeout: Duration,
    collector_job: String,
    detail_cache: Mutex<Option<SloDetail>>,
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
        let dora = self.dora(at_ms, &mut errors).await;
        let collector = self.collector(at_ms, &mut errors).await;
        errors.dedup();
        Snapshot {
            source: self.endpoint.base_url().to_string(),
            at_ms,
            slos,
            detail,
            dora,
            collector,
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

    async fn burndown(&self, slo: &SloSpec, at_ms: i64, errors: &mut Vec<String>) -> Vec<BurndownPoint> {
        let period = slo.period.length();
        let period_ms = period.as_millis() as i64;
        let budget = slo.error_budget_ratio();
        let start = at_ms - period_ms;
        let mut points = Vec::with_capacity(BURNDOWN_POINTS as usize + 1);
        points.push(BurndownPoint {
            t_ms: start,
            remaining: Some(1.0),
            ideal: 1.0,
        });
        for i in 1..=BURNDOWN_POINTS {
            let elapsed = period / BURNDOWN_POINTS * i;
            // Whole seconds, so the window is a duration PromQL accepts.
            let elapsed = Duration::from_secs(elapsed.as_secs().max(1));
            let t = start + elapsed.as_millis() as i64;
            let share = elapsed.as_secs_f64() / period.as_secs_f64();
            let expr = rules::sli_expr(slo, elapsed);
            let remaining = match self.scalar(&expr, t).await {
                Ok(Some(ratio)) if ratio.is_finite() => Some(1.0 - ratio * share / budget),
                // No events since the period started: nothing spent yet.
                Ok(_) => Some(1.0),
                Err(e) => {
                    errors.push(short_error(&e));
                    None
                }
            };
            points.push(BurndownPoint {
                t_ms: t,
                remaining,
                ideal: 1.0 - share,
            });
        }
        points
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
        let window = prometheus_duration(DORA_WINDOW);
        let days = DORA_WINDOW.as_secs_f64() / 86_400.0;
        let has_data = self
            .scalar_or_note(
                &format!("count(last_over_time(dora_deployments_total[{DORA_LOOKBACK}]))"),
                at_ms,
                errors,
            )
            .await
            .is_some();
        let mut metrics = Vec::new();
        if !has_data {
            return DoraView {
                window,
                has_data,
                metrics,
            };
        }
        // [current, previous] window of each metric.
        let pair = async |make: &(dyn Fn(&str) -> String + Sync), errors: &mut Vec<String>| {
            let now = self.scalar_or_note(&make(""), at_ms, errors).await;
            let before = self.scalar_or_note(&make(&window), at_ms, errors).await;
            (now, before)
        };
        let deployments = |off: &str| count_in_window("dora_deployments_total", &window, off);
        let (freq_now, freq_before) = pair(&|off| format!("({}) / {days}", deployments(off)), errors).await;
        let (lead_now, lead_before) = pair(
            &|off| median_in_window("dora_lead_time_seconds_bucket", &window, off),
            errors,
        )
        .await;
        let (cfr_now, cfr_before) = pair(
            &|off| {
                format!(
                    "({}) / ({})",
                    count_in_window("dora_failed_deployments_total", &window, off),
                    deployments(off)
                )
            },
            errors,
        )
        .await;
        let (rec_now, rec_before) = pair(
            &|off| median_in_window("dora_recovery_time_seconds_bucket", &window, off),
            errors,
        )
        .await;
        let (rework_now, rework_before) = pair(
            &|off| {
                format!(
                    "({}) / ({})",
                    count_in_window("dora_rework_deployments_total", &window, off),
                    deployments(off)
                )
            },
            errors,
        )
        .await;
        // No deployments in a window: the frequency is a real 0, the ratios have no value.
        let freq_now = freq_now.or(Some(0.0));
        let tier = |t: dora::Tier| Some(t.as_str().to_string());
        metrics.push(dora_metric(
            "Deployment frequency",
            freq_now,
            freq_before,
            per_day,
            true,
            |v| {
                // No deployment at all has no tier, not the lowest.
                (v > 0.0).then(|| tiers::frequency_bucket(v).tier().as_str().to_string())
            },
        ));
        metrics.push(dora_metric(
            "Lead time for changes",
            lead_now,
            lead_before,
            format_seconds,
            false,
            |v| tier(tiers::lead_time_tier(v)),
        ));
        metrics.push(dora_metric(
            "Change failure rate",
            cfr_now,
            cfr_before,
            percent,
            false,
            |v| tier(tiers::change_fail_rate_tier(v)),
        ));
        metrics.push(dora_metric(
            "Failed deployment recovery time",
            rec_now,
            rec_before,
            format_seconds,
            false,
            |v| tier(tiers::recovery_time_tier(v)),
        ));
        // The DORA 2024 report has no levels for the rework rate.
        metrics.push(dora_metric(
            "Deployment rework rate",
            rework_now,
            rework_before,
            percent,
            false,
            |_| None,
        ));
        DoraView {
            window,
            has_data,
            metrics,
        }
    }

    async fn collector(&self, at_ms: i64, errors: &mut Vec<String>) -> CollectorView {
        let job = escape(&self.collector_job);
        let up = self
            .scalar_or_note(&format!("min(up{{job=\"{job}\"}})"), at_ms, errors)
            .await
            .map(|v| v >= 1.0);
        let mut signals = Vec::new();
        for signal in ["spans", "metric_points", "log_records"] {
            // One sum per metric, added up: `rate({__name__=~"a|b"}[1m])` drops the names, and
            // series of two metrics with the same other labels (send_failed and enqueue_failed of
            // one exporter) then collide: "vector cannot contain metrics with the same labelset"
            // in Prometheus (without its experimental delayed name removal) and in burnwatch. A
            // missing metric counts 0; `and on() count(...)` keeps "no such metric at all" empty.
            let rate = |names: &[String]| {
                let terms: Vec<String> = names
                    .iter()
                    .map(|n| format!("(sum(rate({n}{{job=\"{job}\"}}[1m])) or vector(0))"))
                    .collect();
                format!(
                    "({}) and on() count({{__name__=~\"{}\",job=\"{job}\"}})",
                    terms.join(" + "),
                    names.join("|")
                )
            };
            let accepted = self
                .scalar_or_note(
                    &rate(&[format!("otelcol_receiver_accepted_{signal}_total")]),
                    at_ms,
                    errors,
                )
                .await;
            let refused = self
                .scalar_or_note(
                    &rate(&[
                        format!("otelcol_receiver_refused_{signal}_total"),
                        format!("otelcol_processor_refused_{signal}_total"),
                    ]),
                    at_ms,
                    errors,
                )
                .await;
            let failed = self
                .scalar_or_note(
                    &rate(&[
                        format!("otelcol_exporter_send_failed_{signal}_total"),
                        format!("otelcol_exporter_enqueue_failed_{signal}_total"),
                        format!("otelcol_processor_batch_send_failed_{signal}_total"),
                    ]),
                    at_ms,
                    errors,
                )
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
        CollectorView {
            up,
            signals,
            queues,
            rss_bytes,
            memory_limit_bytes,
            memory_soft_limit_bytes,
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

/// The increase of a sparse cumulative counter over the window ending `off` ago: its total then,
/// minus its total a window before (0 for series that did not exist yet).
fn count_in_window(metric: &str, window: &str, off: &str) -> String {
    let end = offset_clause(off, None);
    let begin = offset_clause(off, Some(window));
    format!(
        "sum(last_over_time({metric}[{DORA_LOOKBACK}]{end})) - (sum(last_over_time({metric}[{DORA_LOOKBACK}]{begin})) or vector(0))"
    )
}

/// The median of the observations a sparse cumulative histogram gained over the window ending
/// `off` ago.
fn median_in_window(buckets: &str, window: &str, off: &str) -> String {
    let end = offset_clause(off, None);
    let begin = offset_clause(off, Some(window));
    let now = format!("sum by (le) (last_over_time({buckets}[{DORA_LOOKBACK}]{end}))");
    let then = format!("sum by (le) (last_over_time({buckets}[{DORA_LOOKBACK}]{begin}))");
    format!("histogram_quantile(0.5, {now} - ({then} or {now} * 0))")
}

/// ` offset X` for a window ending `off` ago (empty: now), moved back one more `window` when given.
fn offset_clause(off: &str, window: Option<&str>) -> String {
    let off_ms = burnwatch_slo::duration::parse_prometheus_duration_ms(off).unwrap_or(0);
    let extra_ms = window
        .and_then(burnwatch_slo::duration::parse_prometheus_duration_ms)
        .unwrap_or(0);
    let total = off_ms + extra_ms;
    if total <= 0 {
        String::new()
    } else {
        format!(
            " offset {}",
            prometheus_duration(Duration::from_millis(total as u64))
        )
    }
}

/// One DORA metric: its value and the window before's, both formatted by `show`, the tier of the
/// current value, and the trend.
fn dora_metric(
    name: &str,
    now: Option<f64>,
    before: Option<f64>,
    show: fn(f64) -> String,
    higher_is_better: bool,
    tier: impl Fn(f64) -> Option<String>,
) -> DoraMetric {
    let display = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or_else(|| "N/A".to_string(), show)
    };
    DoraMetric {
        name: name.to_string(),
        value: now,
        display: display(now),
        tier: now.and_then(tier),
        previous: before,
        previous_display: display(before),
        trend: trend(now, before, higher_is_better),
    }
}

fn trend(now: Option<f64>, before: Option<f64>, higher_is_better: bool) -> Trend {
    match (now, before) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => {
            let scale = a.abs().max(b.abs());
            if scale == 0.0 || (a - b).abs() <= 0.01 * scale {
                Trend::Same
            } else if (a > b) == higher_is_better {
                Trend::Better
            } else {
                Trend::Worse
            }
        }
        _ => Trend::Unknown,
    }
}

fn per_day(v: f64) -> String {
    if v >= 1.0 || v == 0.0 {
        format!("{v:.1}/day")
    } else {
        format!("{:.1}/week", v * 7.0)
    }
}

fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
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

#[cfg(test)]
mod tests;

//! Live SLO status: the values the generated rules ([`super::rules`]) record, computed at one
//! instant from the raw series.
//!
//! [`evaluate`] runs, for each SLO, the very expressions the SLI recording rules contain
//! ([`rules::sli_expr`]) through a [`SliSource`] (the embedded engine, [`EngineSource`], or a
//! Prometheus server, [`HttpSource`]), then derives what the meta and alert rules would: burn
//! rates divide by the same budget number the rules write, alert conditions compare against the
//! same `factor × budget` product, so a real Prometheus running the rules over the same samples
//! records the same values and fires the same alerts (tests/slo_prometheus.rs checks this with
//! `promtool test rules`).
//!
//! No traffic gives an error ratio of 0/0 = NaN: it is reported as "no traffic" (`null` in JSON),
//! never as 0% or 100%, and no alert fires on it (`NaN > x` is false in PromQL too).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::math::{self, format_duration, prometheus_duration};
use super::model::le_matches;
use super::rules::{self, WINDOW_LABEL};
use super::windows::Severity;
use super::{PolicyStatus, Sli, SloSpec};
use crate::api::client::{self, QueryKind};
use crate::promql::{Engine, Value};
use crate::shared::SharedStorage;
use crate::tsdb::{Labels, METRIC_NAME, Queryable};

/// One series of an instant query result.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesValue {
    /// The series labels (without a metric name for computed series).
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

/// Why a source could not answer a query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("query failed: {message}\n  query: {query}")]
pub struct SourceError {
    /// The query.
    pub query: String,
    /// Why it failed (the engine's or the server's message).
    pub message: String,
}

/// The future a [`SliSource`] returns.
pub type SourceFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<SeriesValue>, SourceError>> + Send + 'a>>;

/// Where SLI queries run: anything that answers a PromQL instant query.
///
/// The method returns a boxed future so the trait stays object safe (`&dyn SliSource`) for both
/// the synchronous engine and the asynchronous HTTP client; the dashboard awaits it on its runtime.
pub trait SliSource: Send + Sync {
    /// Evaluates `expr` at `at_ms` (milliseconds since the epoch), giving an instant vector (a
    /// scalar result is one series without labels).
    fn instant<'a>(&'a self, expr: &'a str, at_ms: i64) -> SourceFuture<'a>;

    /// What the source is, for messages (`the loaded data`, `http://localhost:9090`).
    fn describe(&self) -> String;
}

/// The embedded engine over a store held by reference (the `--load` files).
pub struct EngineSource<'s> {
    engine: Engine,
    store: &'s (dyn Queryable + Sync),
}

impl<'s> EngineSource<'s> {
    /// A source querying `store` with `engine`.
    pub fn new(engine: Engine, store: &'s (dyn Queryable + Sync)) -> Self {
        EngineSource { engine, store }
    }
}

fn run_engine(
    engine: &Engine,
    store: &(dyn Queryable + Sync),
    expr: &str,
    at_ms: i64,
) -> Result<Vec<SeriesValue>, SourceError> {
    let err = |message: String| SourceError {
        query: expr.to_string(),
        message,
    };
    let result = engine
        .instant_query(store, expr, at_ms)
        .map_err(|e| err(e.to_string()))?;
    to_series(result.value).map_err(err)
}

fn to_series(value: Value) -> Result<Vec<SeriesValue>, String> {
    match value {
        Value::Vector(v) => Ok(v
            .into_iter()
            .filter(|s| s.h.is_none())
            .map(|s| SeriesValue {
                labels: s.labels,
                value: s.v,
            })
            .collect()),
        Value::Scalar { v, .. } => Ok(vec![SeriesValue {
            labels: Labels::empty(),
            value: v,
        }]),
        other => Err(format!(
            "the result is a {}, not an instant vector",
            other.type_name()
        )),
    }
}

impl SliSource for EngineSource<'_> {
    fn instant<'a>(&'a self, expr: &'a str, at_ms: i64) -> SourceFuture<'a> {
        // The engine is synchronous: answer now and hand back a ready future.
        Box::pin(std::future::ready(run_engine(
            &self.engine,
            self.store,
            expr,
            at_ms,
        )))
    }

    fn describe(&self) -> String {
        "the loaded data".to_string()
    }
}

/// The embedded engine over the shared live store (`burnwatch serve`, the dashboard).
pub struct SharedEngineSource {
    engine: Engine,
    store: SharedStorage,
}

impl SharedEngineSource {
    /// A source querying the shared `store` with `engine`; each query takes the read lock.
    pub fn new(engine: Engine, store: SharedStorage) -> Self {
        SharedEngineSource { engine, store }
    }
}

impl SliSource for SharedEngineSource {
    fn instant<'a>(&'a self, expr: &'a str, at_ms: i64) -> SourceFuture<'a> {
        let result = match self.store.read() {
            Ok(guard) => run_engine(&self.engine, &*guard, expr, at_ms),
            Err(_) => Err(SourceError {
                query: expr.to_string(),
                message: "the store's lock is poisoned (a writer panicked)".to_string(),
            }),
        };
        Box::pin(std::future::ready(result))
    }

    fn describe(&self) -> String {
        "the embedded store".to_string()
    }
}

/// A Prometheus-compatible server, through [`client::query`].
pub struct HttpSource {
    endpoint: client::Endpoint,
    timeout: Duration,
}

impl HttpSource {
    /// A source asking the API at `endpoint` (a URL such as `http://localhost:9090`, or a
    /// [`client::Endpoint`] with credentials), each query waiting at most `timeout`.
    pub fn new(endpoint: impl Into<client::Endpoint>, timeout: Duration) -> Self {
        HttpSource {
            endpoint: endpoint.into(),
            timeout,
        }
    }
}

impl SliSource for HttpSource {
    fn instant<'a>(&'a self, expr: &'a str, at_ms: i64) -> SourceFuture<'a> {
        Box::pin(async move {
            let err = |message: String| SourceError {
                query: expr.to_string(),
                message,
            };
            let res = self
                .endpoint
                .query(expr, &QueryKind::Instant { time: at_ms }, self.timeout)
                .await
                .map_err(|e| err(e.to_string()))?;
            to_series(res.value).map_err(err)
        })
    }

    fn describe(&self) -> String {
        self.endpoint.base_url().to_string()
    }
}

/// Whether a window had a usable error ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataState {
    /// A number.
    Ok,
    /// The series exist but nothing happened in the window: 0/0 = NaN.
    NoTraffic,
    /// The query returned no series at all (the recording rule records nothing).
    NoData,
}

/// The SLI over one window.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WindowStatus {
    /// The window as a Prometheus duration (`5m`), the `sloth_window` label.
    pub window: String,
    /// The window in seconds.
    pub seconds: u64,
    /// Whether this is the compliance period.
    pub period: bool,
    /// The recording rule that holds this value (`slo:sli_error:ratio_rate5m`).
    pub record: String,
    /// The error ratio; `None` (JSON `null`) without traffic or data.
    pub error_ratio: Option<f64>,
    /// Error ratio ÷ budget.
    pub burn_rate: Option<f64>,
    /// Why there is no number.
    pub state: DataState,
    /// The labels of the recorded series (the rule's labels over the query result's).
    pub labels: BTreeMap<String, String>,
}

/// One row of the alert table, evaluated.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RowStatus {
    /// The long window (`1h`).
    pub long: String,
    /// The short window (`5m`).
    pub short: String,
    /// The burn-rate factor (14.4).
    pub burn_rate_threshold: f64,
    /// The error-ratio threshold, factor × budget, exactly as the rule compares.
    pub error_ratio_threshold: f64,
    /// The error ratio over the short window.
    pub short_error_ratio: Option<f64>,
    /// The error ratio over the long window.
    pub long_error_ratio: Option<f64>,
    /// Both windows above the threshold.
    pub firing: bool,
}

/// One of the two alerts.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AlertStatus {
    /// `page` or `ticket`.
    pub severity: Severity,
    /// The alert name (`alerting.name`).
    pub name: String,
    /// Whether the rules contain this alert (not disabled, and the SLO names its alerts).
    pub enabled: bool,
    /// Whether it fires at the evaluation time. When [`AlertStatus::rule_state`] is set, this is
    /// the rule evaluator's word (what Alertmanager receives); otherwise it is computed from the
    /// recorded SLIs, as the alerting rule would.
    pub firing: bool,
    /// The state the server's rule evaluator holds for this alert (`firing`, `pending` or
    /// `inactive`) when it evaluates the SLO's generated alerting rules (`up`, or Prometheus with
    /// the rules loaded); `None` when no evaluator there holds them. See
    /// [`super::rule_alerts`].
    pub rule_state: Option<String>,
    /// The rows of this severity.
    pub rows: Vec<RowStatus>,
    /// The firing alert's labels as Prometheus builds them (without `alertname`); empty when not
    /// firing.
    pub labels: BTreeMap<String, String>,
    /// The firing alert's annotations, `{{$labels.x}}` expanded; empty when not firing.
    pub annotations: BTreeMap<String, String>,
}

/// Time until the budget is gone at the current burn.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Exhaustion {
    /// The window whose burn rate is extrapolated: the long window of the first page row (1h),
    /// steadier than the 5m `slo:current_burn_rate:ratio` and what the fastest alert judges.
    pub burn_window: String,
    /// The burn rate over that window.
    pub burn_rate: Option<f64>,
    /// Seconds until the remaining budget is spent; `None` when it never is at this rate (or
    /// there is no data).
    pub seconds: Option<f64>,
    /// The same, for people (`3d4h`).
    pub human: Option<String>,
}

/// The status of one SLO at one instant.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SloStatus {
    /// `<service>-<name>`, the `sloth_id` label.
    pub id: String,
    /// The service.
    pub service: String,
    /// The SLO name.
    pub slo: String,
    /// The evaluation time (ms since the epoch).
    pub at_ms: i64,
    /// The objective as a ratio (`slo:objective:ratio`).
    pub objective: f64,
    /// The error budget as a ratio (`slo:error_budget:ratio`).
    pub error_budget: f64,
    /// The period (`30d`).
    pub period: String,
    /// The period in days (`slo:time_period:days`).
    pub period_days: f64,
    /// The SLI over every recorded window, shortest first, the period last.
    pub windows: Vec<WindowStatus>,
    /// `slo:current_burn_rate:ratio`: the burn over the first page row's short window (5m).
    pub current_burn_rate: Option<f64>,
    /// `slo:period_burn_rate:ratio`: the burn over the period, the share of the budget consumed.
    pub period_burn_rate: Option<f64>,
    /// `slo:period_error_budget_remaining:ratio`: 1 − period burn rate (negative when overspent).
    pub budget_remaining: Option<f64>,
    /// The error-budget policy band for the consumed share.
    pub policy: Option<PolicyStatus>,
    /// What the policy asks.
    pub policy_action: Option<String>,
    /// Time to exhaustion.
    pub exhaustion: Exhaustion,
    /// The page and ticket alerts.
    pub alerts: Vec<AlertStatus>,
    /// Why this SLO could not be evaluated (a query failed, a latency threshold is not a bucket
    /// boundary); the other fields are then empty.
    pub error: Option<String>,
}

fn finite(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// Evaluates every SLO at `at_ms`. An SLO that cannot be evaluated carries its reason in
/// [`SloStatus::error`]; the others are unaffected.
pub async fn evaluate(slos: &[SloSpec], source: &dyn SliSource, at_ms: i64) -> Vec<SloStatus> {
    let mut out = Vec::with_capacity(slos.len());
    for slo in slos {
        out.push(evaluate_one(slo, source, at_ms).await);
    }
    out
}

/// Evaluates one SLO at `at_ms`.
pub async fn evaluate_one(slo: &SloSpec, source: &dyn SliSource, at_ms: i64) -> SloStatus {
    let budget = slo.error_budget_ratio();
    let mut status = SloStatus {
        id: slo.id(),
        service: slo.service.clone(),
        slo: slo.name.clone(),
        at_ms,
        objective: rules::objective_ratio(slo),
        error_budget: budget,
        period: prometheus_duration(slo.period.length()),
        period_days: rules::period_days(slo),
        windows: Vec::new(),
        current_burn_rate: None,
        period_burn_rate: None,
        budget_remaining: None,
        policy: None,
        policy_action: None,
        exhaustion: Exhaustion {
            burn_window: prometheus_duration(exhaustion_window(slo)),
            burn_rate: None,
            seconds: None,
            human: None,
        },
        alerts: Vec::new(),
        error: None,
    };
    match compute(slo, source, at_ms, &mut status).await {
        Ok(()) => {}
        Err(e) => {
            status.windows.clear();
            status.error = Some(e);
        }
    }
    status
}

fn exhaustion_window(slo: &SloSpec) -> Duration {
    slo.windows
        .of(Severity::Page)
        .next()
        .or(slo.windows.windows.first())
        .map_or(Duration::from_secs(3_600), |w| w.long)
}

async fn compute(
    slo: &SloSpec,
    source: &dyn SliSource,
    at_ms: i64,
    status: &mut SloStatus,
) -> Result<(), String> {
    if let Sli::Latency { .. } = slo.sli {
        check_latency_boundary(slo, source, at_ms).await?;
    }
    let budget = slo.error_budget_ratio();
    let period = slo.period.length();
    for window in rules::recorded_windows(slo) {
        let expr = rules::sli_expr(slo, window);
        let result = source.instant(&expr, at_ms).await.map_err(|e| e.to_string())?;
        let name = prometheus_duration(window);
        if result.len() > 1 {
            return Err(format!(
                "the SLI over {name} gives {} series; `slo status` needs one per SLO (aggregate the \
                 queries, e.g. with sum())\n  query: {expr}",
                result.len()
            ));
        }
        let (ratio, state, mut labels) = match result.into_iter().next() {
            None => (None, DataState::NoData, BTreeMap::new()),
            Some(s) => {
                let labels: BTreeMap<String, String> = s
                    .labels
                    .iter()
                    .filter(|l| l.name != METRIC_NAME)
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                match finite(s.value) {
                    Some(v) => (Some(v), DataState::Ok, labels),
                    None => (None, DataState::NoTraffic, labels),
                }
            }
        };
        if state != DataState::NoData {
            labels.extend(rules::sli_rule_labels(slo, window));
        }
        status.windows.push(WindowStatus {
            window: name,
            seconds: window.as_secs(),
            period: window == period,
            record: rules::sli_metric(window),
            error_ratio: ratio,
            // The meta rules divide the recorded ratio by slo:error_budget:ratio, which records
            // exactly `budget`: the same f64 division.
            burn_rate: ratio.map(|r| r / budget),
            state,
            labels,
        });
    }
    let find = |d: Duration| {
        status
            .windows
            .iter()
            .find(|w| w.seconds == d.as_secs() && w.window == prometheus_duration(d))
    };
    status.current_burn_rate = find(rules::current_burn_window(slo)).and_then(|w| w.burn_rate);
    status.period_burn_rate = status.windows.iter().find(|w| w.period).and_then(|w| w.burn_rate);
    status.budget_remaining = status.period_burn_rate.map(|b| 1.0 - b);
    status.policy = status.period_burn_rate.and_then(PolicyStatus::from_consumed);
    status.policy_action = status.policy.map(|p| p.action().to_string());
    let burn = find(exhaustion_window(slo)).and_then(|w| w.burn_rate);
    status.exhaustion.burn_rate = burn;
    if let (Some(remaining), Some(rate)) = (status.budget_remaining, burn)
        && let Some(t) = math::time_to_exhaustion(remaining, rate, period)
    {
        status.exhaustion.seconds = Some(t.as_secs_f64());
        status.exhaustion.human = Some(format_duration(t));
    }

    for severity in [Severity::Page, Severity::Ticket] {
        let mut alert = AlertStatus {
            severity,
            name: slo.alerting.name.clone(),
            enabled: rules::alert_enabled(slo, severity),
            firing: false,
            rule_state: None,
            rows: Vec::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        };
        // The first firing row gives the alert its labels: `A or B` keeps A's series.
        let mut firing_labels: Option<BTreeMap<String, String>> = None;
        for row in slo.windows.of(severity) {
            let threshold = rules::row_threshold(slo, row);
            let short = find(row.short);
            let long = find(row.long);
            let short_ratio = short.and_then(|w| w.error_ratio);
            let long_ratio = long.and_then(|w| w.error_ratio);
            // `max(x > t)`: PromQL's `>` filter, false for NaN and for a missing series.
            let firing =
                short_ratio.is_some_and(|r| r > threshold) && long_ratio.is_some_and(|r| r > threshold);
            if firing && firing_labels.is_none() {
                firing_labels = short.map(|w| w.labels.clone());
            }
            alert.rows.push(RowStatus {
                long: prometheus_duration(row.long),
                short: prometheus_duration(row.short),
                burn_rate_threshold: row.burn_rate_threshold(period),
                error_ratio_threshold: threshold,
                short_error_ratio: short_ratio,
                long_error_ratio: long_ratio,
                firing,
            });
        }
        if alert.enabled
            && let Some(mut result_labels) = firing_labels
        {
            // `max(...) without (sloth_window)` drops the window (and the metric name).
            result_labels.remove(WINDOW_LABEL);
            let mut labels = result_labels.clone();
            for (k, v) in rules::alert_rule_labels(slo, severity) {
                labels.insert(k, expand_labels(&v, &result_labels));
            }
            alert.labels = labels;
            alert.annotations = rules::alert_rule_annotations(slo, severity)
                .into_iter()
                .map(|(k, v)| (k, expand_labels(&v, &result_labels)))
                .collect();
            alert.firing = true;
        }
        status.alerts.push(alert);
    }
    Ok(())
}

/// The statuses as pretty-printed JSON: an array with one object per SLO, `null` where there is
/// no number.
pub fn to_json(statuses: &[SloStatus]) -> String {
    // Serialising plain structs of strings, numbers and maps cannot fail; NaN never reaches the
    // serialiser (it is mapped to `None` first), which is the one input serde_json refuses.
    serde_json::to_string_pretty(statuses).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Expands `{{$labels.name}}` and `{{ $labels.name }}` as Prometheus's alert templates do (a
/// missing label gives an empty string). Other template actions (`$value`, functions) are left
/// as written: burnwatch does not run Go templates.
pub fn expand_labels(template: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + len].trim();
        out.push_str(&rest[..start]);
        match inner.strip_prefix("$labels.") {
            Some(name) if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                out.push_str(labels.get(name).map_or("", String::as_str));
            }
            _ => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Checks that a latency SLI's threshold is one of the histogram's `le` boundaries in the data:
/// the bucket selector `le="0.3"` matches nothing otherwise and the SLI would silently read as
/// "every request slow". Boundaries are collected over the whole period.
async fn check_latency_boundary(slo: &SloSpec, source: &dyn SliSource, at_ms: i64) -> Result<(), String> {
    let Sli::Latency {
        metric,
        matchers,
        threshold_seconds,
    } = &slo.sli
    else {
        return Ok(());
    };
    let window = prometheus_duration(slo.period.length());
    let selector = format!("{metric}_bucket{{{matchers}}}");
    let expr = format!("count by (le) (last_over_time({selector}[{window}]))");
    let result = source.instant(&expr, at_ms).await.map_err(|e| e.to_string())?;
    let mut les: Vec<(f64, String)> = result
        .iter()
        .filter_map(|s| s.labels.get("le"))
        .map(|le| (parse_le(le), le.to_string()))
        .collect();
    if les.is_empty() {
        // No histogram at all: the SLI reads as "no data", which `status` reports as such.
        return Ok(());
    }
    if les.iter().any(|(_, s)| le_matches(*threshold_seconds, s)) {
        return Ok(());
    }
    les.sort_by(|a, b| a.0.total_cmp(&b.0));
    let list: Vec<&str> = les.iter().map(|(_, s)| s.as_str()).collect();
    let close = les
        .iter()
        .find(|(v, _)| *v == *threshold_seconds)
        .map(|(_, s)| format!(" (le=\"{s}\" has the same value but is written differently; the selector needs the exact text)"))
        .unwrap_or_default();
    Err(format!(
        "latency threshold {threshold_seconds}s is not a bucket boundary of {selector}{close}; the data has le = {} \
         (in {}): set threshold_seconds to one of them",
        list.join(", "),
        source.describe()
    ))
}

fn parse_le(s: &str) -> f64 {
    match s {
        "+Inf" | "Inf" | "inf" => f64::INFINITY,
        _ => s.parse().unwrap_or(f64::NAN),
    }
}

/// A ratio as a percentage for people, `N/A` when there is none.
pub fn format_percent(v: Option<f64>) -> String {
    match v {
        None => "N/A".to_string(),
        Some(v) => {
            let p = v * 100.0;
            if p != 0.0 && p.abs() < 0.01 {
                format!("{p:.4}%")
            } else {
                format!("{p:.2}%")
            }
        }
    }
}

/// A burn rate for people (`14.4x`), `N/A` when there is none.
pub fn format_burn(v: Option<f64>) -> String {
    match v {
        None => "N/A".to_string(),
        Some(v) if v.is_infinite() => format!("{v}x"),
        Some(v) => {
            let s = format!("{v:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            format!("{s}x")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::spec::parse_str;
    use crate::tsdb::Storage;

    const SPEC: &str = r#"
version: "prometheus/v1"
service: "shop"
labels: {team: "payments"}
slos:
  - name: "availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(requests_total{job="shop",code="500"}[{{.window}}]))
        total_query: sum(rate(requests_total{job="shop"}[{{.window}}]))
    alerting:
      name: ShopErrors
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: "latency"
    objective: 99
    sli:
      latency:
        metric: req_seconds
        matchers: job="shop"
        threshold_seconds: 0.25
"#;

    /// Counters for 4h at 1m resolution: `total` +1000/min; `errors` +`err`/min from minute
    /// `from` on. Also a histogram with buckets 0.1, 0.3 and +Inf.
    fn store(err: u64, from: u64) -> Storage {
        let mut s = Storage::new();
        let total = Labels::from_pairs([("__name__", "requests_total"), ("job", "shop")]);
        let errors = Labels::from_pairs([("__name__", "requests_total"), ("job", "shop"), ("code", "500")]);
        let mut e = 0.0;
        for m in 0..=240u64 {
            let t = (m * 60_000) as i64;
            s.append(&total, t, (m * 1000) as f64).unwrap();
            if m > from {
                e += err as f64;
            }
            s.append(&errors, t, e).unwrap();
            for le in ["0.1", "0.3", "+Inf"] {
                let l = Labels::from_pairs([("__name__", "req_seconds_bucket"), ("job", "shop"), ("le", le)]);
                s.append(&l, t, (m * 10) as f64).unwrap();
            }
        }
        s
    }

    fn eval(s: &Storage, at_min: i64) -> Vec<SloStatus> {
        let slos = parse_str(SPEC, "t.yaml").unwrap();
        let src = EngineSource::new(Engine::default(), s);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(evaluate(&slos, &src, at_min * 60_000))
    }

    #[test]
    fn a_fast_burn_pages_and_names_the_row() {
        // 50 errors a minute from minute 120 (the total query matches the error series too: 50 of
        // 1050): at 4h the 5m and 1h ratios are 0.0476 > 14.4 × 0.001.
        let st = eval(&store(50, 120), 240);
        let a = &st[0];
        assert_eq!(a.error, None);
        let w5 = &a.windows[0];
        assert_eq!((w5.window.as_str(), w5.state), ("5m", DataState::Ok));
        assert!(
            (w5.error_ratio.unwrap() - 50.0 / 1050.0).abs() < 1e-9,
            "{:?}",
            w5.error_ratio
        );
        assert!((a.current_burn_rate.unwrap() - 50_000.0 / 1050.0).abs() < 1e-6);
        let page = &a.alerts[0];
        assert!(page.firing && page.rows[0].firing, "{page:?}");
        assert_eq!(page.labels["severity"], "critical");
        assert_eq!(page.labels["sloth_severity"], "page");
        assert_eq!(page.labels["team"], "payments");
        assert!(!page.labels.contains_key("sloth_window"));
        assert_eq!(
            page.annotations["title"],
            "(page) shop availability SLO error budget burn rate is too fast."
        );
        assert_eq!(a.windows.last().unwrap().window, "30d");
        assert!(a.windows.last().unwrap().period);
        assert!(a.budget_remaining.unwrap() < 0.0, "{:?}", a.budget_remaining);
        assert_eq!(a.policy, Some(PolicyStatus::Exhausted));
        assert_eq!(a.exhaustion.seconds, Some(0.0));
    }

    #[test]
    fn before_the_burn_nothing_fires() {
        let st = eval(&store(50, 120), 100);
        let a = &st[0];
        assert_eq!(a.windows[0].error_ratio, Some(0.0));
        assert!(a.alerts.iter().all(|x| !x.firing && x.labels.is_empty()));
        assert_eq!(a.policy, Some(PolicyStatus::Green));
        // Zero burn: the budget never runs out.
        assert_eq!(a.exhaustion.seconds, None);
    }

    #[test]
    fn zero_traffic_is_not_a_number_and_fires_nothing() {
        let mut s = Storage::new();
        for m in 0..=240u64 {
            let t = (m * 60_000) as i64;
            for code in [None, Some("500")] {
                let mut pairs = vec![("__name__", "requests_total"), ("job", "shop")];
                if let Some(c) = code {
                    pairs.push(("code", c));
                }
                s.append(&Labels::from_pairs(pairs), t, 7.0).unwrap();
            }
        }
        let st = eval(&s, 240);
        let a = &st[0];
        assert!(
            a.windows
                .iter()
                .all(|w| w.state == DataState::NoTraffic && w.error_ratio.is_none())
        );
        assert_eq!((a.budget_remaining, a.policy), (None, None));
        assert!(a.alerts.iter().all(|x| !x.firing));
        let json = serde_json::to_value(a).unwrap();
        assert!(json["windows"][0]["error_ratio"].is_null());
        assert!(json["budget_remaining"].is_null());
        assert_eq!(format_percent(a.budget_remaining), "N/A");
    }

    /// Issue #12: a whole-number threshold generated `le="1"`, while scraped data is stored
    /// `le="1.0"` (Prometheus 3, burnwatch) and Prometheus 2.x keeps the target's `le="1"`: one of
    /// the two always read as "every request slow". Here two instances hold one spelling each.
    #[test]
    fn whole_number_latency_thresholds_match_le_1_and_1_0() {
        const SPEC: &str = r#"
version: "prometheus/v1"
service: "shop"
slos:
  - name: "latency"
    objective: 99
    sli:
      latency:
        metric: req_seconds
        matchers: job="shop"
        threshold_seconds: 1
"#;
        let mut s = Storage::new();
        for m in 0..=240u64 {
            let t = (m * 60_000) as i64;
            for (instance, one) in [("a", "1"), ("b", "1.0")] {
                let series = |name: &str, le: Option<&str>| {
                    let mut pairs = vec![("__name__", name), ("job", "shop"), ("instance", instance)];
                    if let Some(le) = le {
                        pairs.push(("le", le));
                    }
                    Labels::from_pairs(pairs)
                };
                // 100 requests a minute, 90 of them within a second.
                s.append(&series("req_seconds_bucket", Some(one)), t, (m * 90) as f64)
                    .unwrap();
                s.append(&series("req_seconds_bucket", Some("+Inf")), t, (m * 100) as f64)
                    .unwrap();
                s.append(&series("req_seconds_count", None), t, (m * 100) as f64)
                    .unwrap();
            }
        }
        let slos = parse_str(SPEC, "t.yaml").unwrap();
        let (error, _) = slos[0].sli.latency_queries("5m").unwrap();
        assert!(error.contains(r#"le=~"1|1\\.0""#), "{error}");
        let src = EngineSource::new(Engine::default(), &s);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let st = rt.block_on(evaluate(&slos, &src, 240 * 60_000));
        assert_eq!(st[0].error, None);
        for w in &st[0].windows {
            let ratio = w.error_ratio.unwrap();
            assert!((ratio - 0.1).abs() < 1e-9, "{}: {ratio}", w.window);
        }
    }

    #[test]
    fn a_latency_threshold_off_the_buckets_lists_the_boundaries() {
        let st = eval(&store(0, 0), 240);
        let err = st[1].error.as_deref().unwrap();
        assert!(
            err.contains(
                "latency threshold 0.25s is not a bucket boundary of req_seconds_bucket{job=\"shop\"}"
            ),
            "{err}"
        );
        assert!(err.contains("the data has le = 0.1, 0.3, +Inf"), "{err}");
        // The first SLO is still evaluated.
        assert_eq!(st[0].error, None);
    }

    #[test]
    fn the_http_source_gives_what_the_engine_gives() {
        // The same store behind burnwatch's own Prometheus API, asked over a socket.
        let slos = parse_str(SPEC, "t.yaml").unwrap();
        let local = {
            let s = store(50, 120);
            let src = EngineSource::new(Engine::default(), &s);
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(evaluate(&slos, &src, 240 * 60_000))
        };
        let shared = crate::shared::new_shared();
        *shared.write().unwrap() = store(50, 120);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let remote = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let state = crate::api::ApiState::new(shared, crate::promql::EngineOptions::default());
            tokio::spawn(crate::api::serve(listener, state, std::future::pending()));
            let src = HttpSource::new(format!("http://{addr}"), Duration::from_secs(30));
            evaluate(&slos, &src, 240 * 60_000).await
        });
        assert_eq!(remote[0], local[0]);
        assert!(remote[0].alerts[0].firing);
        // The boundary check runs through the source too; its message says where it looked.
        let err = remote[1].error.as_deref().unwrap();
        assert!(
            err.contains("the data has le = 0.1, 0.3, +Inf (in http://127.0.0.1:"),
            "{err}"
        );
        // A server that is not there is an error on each SLO, naming the address.
        let gone = rt.block_on(async {
            let src = HttpSource::new("http://127.0.0.1:9", Duration::from_secs(5));
            evaluate(&slos[..1], &src, 0).await
        });
        assert!(
            gone[0]
                .error
                .as_deref()
                .unwrap()
                .contains("cannot reach http://127.0.0.1:9"),
            "{gone:?}"
        );
    }

    #[test]
    fn templates_expand_labels_only() {
        let labels = BTreeMap::from([("sloth_service".to_string(), "shop".to_string())]);
        assert_eq!(
            expand_labels("{{$labels.sloth_service}}/{{ $labels.x }}", &labels),
            "shop/"
        );
        assert_eq!(expand_labels("{{ $value }} {{", &labels), "{{ $value }} {{");
        assert_eq!(format_burn(Some(14.4)), "14.4x");
        assert_eq!(format_burn(Some(2.0)), "2x");
        assert_eq!(format_percent(Some(0.05)), "5.00%");
    }
}

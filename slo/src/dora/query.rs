//! The DORA metrics read back from the `dora_*` series (see [`super::series`]) with PromQL,
//! through a [`SliSource`]: a Prometheus-compatible server over HTTP (the dashboard, `burnwatch
//! dora report --prometheus-url`) or the embedded engine in process, with the same numbers.
//!
//! - Counts in a window are exact differences of the cumulative counters: `last_over_time` at
//!   the window's end minus the same at its start (the series are sparse, one sample per event,
//!   so `increase()` would extrapolate).
//! - Medians (lead time, recovery time) come from the histogram buckets gained in the window
//!   (`histogram_quantile(0.5, ...)`), so they are interpolated within a bucket, unlike `dora
//!   report --events`, which reads the events themselves.
//! - Each metric comes with the window before (for the trend) and with one value per week of
//!   the window, newest week last (the dashboard's bars).
//!
//! The tiers are [`super::tiers`]'s, as for the events report.

use std::time::Duration;

use serde::Serialize;

use super::metrics::format_seconds;
use super::tiers;
use crate::duration::parse_prometheus_duration_ms;
use crate::slo::math::prometheus_duration;
use crate::slo::status::{SliSource, SourceError};

/// How far back `last_over_time` looks for a DORA counter's value: the series are sparse.
pub const LOOKBACK: &str = "1y";

/// The window of the weekly bars.
pub const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// The direction of a DORA metric compared to the window before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Better than before.
    Better,
    /// Worse than before.
    Worse,
    /// Within 1% of before.
    Same,
    /// One of the two is missing.
    #[default]
    Unknown,
}

impl Trend {
    /// The trend from `before` to `now`: within 1% is the same; `higher_is_better` says which
    /// way is better.
    pub fn of(now: Option<f64>, before: Option<f64>, higher_is_better: bool) -> Trend {
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
}

/// One week's value of a metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WeekValue {
    /// The week's end (exclusive start is a week before), ms since the epoch.
    pub end_ms: i64,
    /// The metric over that week; `None` without events.
    pub value: Option<f64>,
}

/// One DORA metric from the series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DoraMetric {
    /// `Deployment frequency`.
    pub name: String,
    /// The value in the window; `None` without events.
    pub value: Option<f64>,
    /// The value for people (`2.4/day`, `3h 12m`, `12.5%`, `N/A`).
    pub display: String,
    /// The DORA 2024 tier (`elite`, `high`, `medium`, `low`); `None` without a value or a tier
    /// table (rework rate).
    pub tier: Option<String>,
    /// The same metric over the window before.
    pub previous: Option<f64>,
    /// That value for people, in the same unit as `display` (`N/A` without one).
    pub previous_display: String,
    /// Whether the change from `previous` is for the better.
    pub trend: Trend,
    /// The metric over each week of the window, oldest first (the last ends at the evaluation
    /// time).
    pub weekly: Vec<WeekValue>,
}

/// The five metrics over a window, from the series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeriesReport {
    /// The window (`30d`).
    pub window: String,
    /// The window's end, ms since the epoch.
    pub at_ms: i64,
    /// Whether any `dora_deployments_total` series exists.
    pub has_data: bool,
    /// Deployment frequency, lead time, change failure rate, recovery time, rework rate.
    pub metrics: Vec<DoraMetric>,
}

/// ` offset X` for a window ending `off_ms` ago (empty: now).
fn offset_clause(off_ms: i64) -> String {
    if off_ms <= 0 {
        String::new()
    } else {
        format!(
            " offset {}",
            prometheus_duration(Duration::from_millis(off_ms as u64))
        )
    }
}

/// The increase of a sparse cumulative counter over the window of `window_ms` ending `off_ms`
/// ago: its total then, minus its total a window before (0 for series that did not exist yet).
pub fn count_in_window(metric: &str, window_ms: i64, off_ms: i64) -> String {
    let end = offset_clause(off_ms);
    let begin = offset_clause(off_ms + window_ms);
    format!(
        "sum(last_over_time({metric}[{LOOKBACK}]{end})) - (sum(last_over_time({metric}[{LOOKBACK}]{begin})) or vector(0))"
    )
}

/// The median of the observations a sparse cumulative histogram gained over the window of
/// `window_ms` ending `off_ms` ago.
pub fn median_in_window(buckets: &str, window_ms: i64, off_ms: i64) -> String {
    let end = offset_clause(off_ms);
    let begin = offset_clause(off_ms + window_ms);
    let now = format!("sum by (le) (last_over_time({buckets}[{LOOKBACK}]{end}))");
    let then = format!("sum by (le) (last_over_time({buckets}[{LOOKBACK}]{begin}))");
    format!("histogram_quantile(0.5, {now} - ({then} or {now} * 0))")
}

/// The metrics this module reads: name, the query over a window (`window_ms`, `off_ms`, `days`),
/// how to show a value, whether higher is better, and the tier of a value.
struct Def {
    name: &'static str,
    expr: fn(i64, i64) -> String,
    show: fn(f64) -> String,
    higher_is_better: bool,
    tier: fn(f64) -> Option<String>,
    /// A window without deployments has a real 0 (frequency), not "no value".
    zero_when_empty: bool,
}

fn days(window_ms: i64) -> f64 {
    window_ms as f64 / 86_400_000.0
}

fn deployments(window_ms: i64, off_ms: i64) -> String {
    count_in_window("dora_deployments_total", window_ms, off_ms)
}

fn defs() -> [Def; 5] {
    [
        Def {
            name: "Deployment frequency",
            expr: |w, off| format!("({}) / {}", deployments(w, off), days(w)),
            show: per_day,
            higher_is_better: true,
            // No deployment at all has no tier, not the lowest.
            tier: |v| (v > 0.0).then(|| tiers::frequency_bucket(v).tier().as_str().to_string()),
            zero_when_empty: true,
        },
        Def {
            name: "Lead time for changes",
            expr: |w, off| median_in_window("dora_lead_time_seconds_bucket", w, off),
            show: format_seconds,
            higher_is_better: false,
            tier: |v| Some(tiers::lead_time_tier(v).as_str().to_string()),
            zero_when_empty: false,
        },
        Def {
            name: "Change failure rate",
            expr: |w, off| {
                // No failure counter yet with deployments in the window is a rate of 0.
                format!(
                    "(({}) or vector(0)) / ({})",
                    count_in_window("dora_failed_deployments_total", w, off),
                    deployments(w, off)
                )
            },
            show: percent,
            higher_is_better: false,
            tier: |v| Some(tiers::change_fail_rate_tier(v).as_str().to_string()),
            zero_when_empty: false,
        },
        Def {
            name: "Failed deployment recovery time",
            expr: |w, off| median_in_window("dora_recovery_time_seconds_bucket", w, off),
            show: format_seconds,
            higher_is_better: false,
            tier: |v| Some(tiers::recovery_time_tier(v).as_str().to_string()),
            zero_when_empty: false,
        },
        Def {
            name: "Deployment rework rate",
            expr: |w, off| {
                format!(
                    "(({}) or vector(0)) / ({})",
                    count_in_window("dora_rework_deployments_total", w, off),
                    deployments(w, off)
                )
            },
            show: percent,
            higher_is_better: false,
            // The DORA 2024 report has no levels for the rework rate.
            tier: |_| None,
            zero_when_empty: false,
        },
    ]
}

/// A deployment rate for people: per day from one a day, per week below.
pub fn per_day(v: f64) -> String {
    if v >= 1.0 || v == 0.0 {
        format!("{v:.1}/day")
    } else {
        format!("{:.1}/week", v * 7.0)
    }
}

/// A ratio as a percentage with one decimal.
pub fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// The first value of an instant query, `None` for no series or NaN.
async fn scalar(source: &dyn SliSource, expr: &str, at_ms: i64) -> Result<Option<f64>, SourceError> {
    let v = source.instant(expr, at_ms).await?;
    Ok(v.first().map(|s| s.value).filter(|v| !v.is_nan()))
}

/// The five DORA metrics over the `window` ending at `at_ms`, each with the window before and
/// its weekly values, read from the `dora_*` series through `source`. A query that fails leaves
/// its value `None` and its error in the second part of the answer; the others go on.
pub async fn from_series(
    source: &dyn SliSource,
    at_ms: i64,
    window: Duration,
) -> (SeriesReport, Vec<SourceError>) {
    let mut errors = Vec::new();
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
    let mut report = SeriesReport {
        window: prometheus_duration(window),
        at_ms,
        has_data: false,
        metrics: Vec::new(),
    };
    let ask = async |expr: String, errors: &mut Vec<SourceError>| match scalar(source, &expr, at_ms).await {
        Ok(v) => v,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    report.has_data = ask(
        format!("count(last_over_time(dora_deployments_total[{LOOKBACK}]))"),
        &mut errors,
    )
    .await
    .is_some();
    if !report.has_data {
        return (report, errors);
    }
    let week_ms = WEEK.as_millis() as i64;
    // Whole weeks covering the window: 30 days give 5 bars, the oldest reaching 5 days before
    // the window (a bar is always a whole week, so bars compare).
    let weeks = (window_ms + week_ms - 1) / week_ms;
    for def in defs() {
        let mut now = ask((def.expr)(window_ms, 0), &mut errors).await;
        let mut before = ask((def.expr)(window_ms, window_ms), &mut errors).await;
        if def.zero_when_empty {
            now = now.or(Some(0.0));
            before = before.or(Some(0.0));
        }
        let mut weekly = Vec::with_capacity(weeks as usize);
        for k in (0..weeks).rev() {
            let mut value = ask((def.expr)(week_ms, k * week_ms), &mut errors).await;
            if def.zero_when_empty {
                value = value.or(Some(0.0));
            }
            weekly.push(WeekValue {
                end_ms: at_ms - k * week_ms,
                value,
            });
        }
        let display = |v: Option<f64>| {
            v.filter(|v| v.is_finite())
                .map_or_else(|| "N/A".to_string(), def.show)
        };
        report.metrics.push(DoraMetric {
            name: def.name.to_string(),
            value: now,
            display: display(now),
            tier: now.filter(|v| v.is_finite()).and_then(def.tier),
            previous: before,
            previous_display: display(before),
            trend: Trend::of(now, before, def.higher_is_better),
            weekly,
        });
    }
    (report, errors)
}

/// A window flag (`30d`) as a duration, for callers that take one from people.
pub fn parse_window(text: &str) -> Option<Duration> {
    parse_prometheus_duration_ms(text)
        .filter(|ms| *ms > 0)
        .map(|ms| Duration::from_millis(ms as u64))
}

impl SeriesReport {
    /// The report as a table for people: one row per metric with its tier, the window before
    /// and the trend, then the weekly values.
    pub fn to_table(&self) -> String {
        let mut out = format!("DORA metrics from the dora_* series over {}\n", self.window);
        if !self.has_data {
            out.push_str("no dora_deployments_total series: no deployment events were sent\n");
            return out;
        }
        let mut rows = vec![[
            "METRIC".to_string(),
            "VALUE".to_string(),
            "TIER".to_string(),
            "PREVIOUS".to_string(),
            "TREND".to_string(),
            "WEEKLY".to_string(),
        ]];
        for m in &self.metrics {
            let show = |v: f64| match m.name.as_str() {
                "Deployment frequency" => per_day(v),
                n if n.ends_with("rate") => percent(v),
                _ => format_seconds(v),
            };
            let weekly: Vec<String> = m
                .weekly
                .iter()
                .map(|w| {
                    w.value
                        .filter(|v| v.is_finite())
                        .map_or_else(|| "-".to_string(), show)
                })
                .collect();
            rows.push([
                m.name.clone(),
                m.display.clone(),
                m.tier.clone().unwrap_or_else(|| "-".to_string()),
                m.previous_display.clone(),
                format!("{:?}", m.trend).to_lowercase(),
                weekly.join(" "),
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for r in &rows {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                if i + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dora::{SeriesWriter, append_events, parse_jsonl};
    use crate::promql::Engine;
    use crate::slo::status::EngineSource;
    use crate::tsdb::Storage;

    const DAY: i64 = 86_400_000;

    /// Deployments every day for 60 days (one a day, then two a day for the last 7 days), each
    /// with one commit 2 hours before; every tenth one fails and has a 30-minute incident.
    fn store() -> (Storage, i64) {
        let end = 1_700_000_000_000 - 1_700_000_000_000 % DAY;
        let start = end - 60 * DAY;
        let mut lines = String::new();
        let rfc = |ms: i64| crate::api::params::format_rfc3339(ms);
        let mut n = 0;
        for d in 0..60 {
            let per_day = if d >= 53 { 2 } else { 1 };
            for k in 0..per_day {
                n += 1;
                let t = start + d * DAY + 12 * 3_600_000 + k * 3_600_000;
                let failed = n % 10 == 0;
                lines.push_str(&format!(
                    r#"{{"type":"deployment","id":"d{n}","service":"api","time":"{}","status":"{}","commits":[{{"sha":"c{n}","time":"{}"}}]}}"#,
                    rfc(t),
                    if failed { "failure" } else { "success" },
                    rfc(t - 7_200_000)
                ));
                lines.push('\n');
                if failed {
                    lines.push_str(&format!(
                        r#"{{"type":"incident","id":"i{n}","service":"api","start":"{}","resolved":"{}","deployment":"d{n}"}}"#,
                        rfc(t + 60_000),
                        rfc(t + 60_000 + 1_800_000)
                    ));
                    lines.push('\n');
                }
            }
        }
        let (log, errors) = parse_jsonl(&lines);
        assert!(errors.is_empty(), "{errors:?}");
        let mut store = Storage::new();
        let mut writer = SeriesWriter::new();
        let out = append_events(&mut store, &mut writer, &log);
        assert!(out.batch.errors.is_empty());
        (store, end)
    }

    #[test]
    fn counts_per_window_and_per_week_are_exact() {
        let (store, end) = store();
        let src = EngineSource::new(Engine::default(), &store);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (report, errors) = rt.block_on(from_series(&src, end, Duration::from_secs(30 * 86_400)));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(report.has_data);
        assert_eq!(report.window, "30d");
        let freq = &report.metrics[0];
        // 23 days at one, 7 at two: 37 deployments in 30 days; the 30 before: one a day.
        assert!((freq.value.unwrap() - 37.0 / 30.0).abs() < 1e-9, "{freq:?}");
        assert!((freq.previous.unwrap() - 1.0).abs() < 1e-9, "{freq:?}");
        assert_eq!(freq.trend, Trend::Better);
        assert_eq!(freq.display, "1.2/day");
        assert_eq!(freq.weekly.len(), 5);
        assert_eq!(freq.weekly[4].end_ms, end);
        assert!((freq.weekly[4].value.unwrap() - 2.0).abs() < 1e-9, "{freq:?}");
        assert!((freq.weekly[3].value.unwrap() - 1.0).abs() < 1e-9, "{freq:?}");
        let cfr = &report.metrics[2];
        assert!(cfr.value.unwrap() > 0.0 && cfr.value.unwrap() < 0.2, "{cfr:?}");
        // Medians come from buckets: within the bucket holding 2h and 30m.
        let lead = report.metrics[1].value.unwrap();
        assert!(lead > 3_600.0 && lead <= 2.0 * 86_400.0, "{lead}");
        let rec = report.metrics[3].value.unwrap();
        assert!(rec > 0.0 && rec <= 3_600.0, "{rec}");
        // No rework: a rate of 0 with no tier.
        assert_eq!(report.metrics[4].value, Some(0.0));
        assert_eq!(report.metrics[4].tier, None);
        let table = report.to_table();
        assert!(table.contains("Deployment frequency"), "{table}");
    }

    #[test]
    fn no_series_is_no_data_not_zero() {
        let store = Storage::new();
        let src = EngineSource::new(Engine::default(), &store);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (report, errors) = rt.block_on(from_series(&src, DAY, Duration::from_secs(30 * 86_400)));
        assert!(errors.is_empty());
        assert!(!report.has_data);
        assert!(report.metrics.is_empty());
        assert!(report.to_table().contains("no dora_deployments_total"));
    }
}

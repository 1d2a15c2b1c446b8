//! The internal SLO model. Spec readers (Sloth, OpenSLO) produce [`SloSpec`]s; rule generation,
//! `slo status` and the dashboard consume them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::windows::WindowTable;

/// The template variable a query uses for the range of a rate, as in Sloth: `[{{.window}}]`.
pub const WINDOW_PLACEHOLDER: &str = "{{.window}}";

/// One service level objective.
#[derive(Clone, Debug, PartialEq)]
pub struct SloSpec {
    /// The service the objective belongs to (Sloth `service`, OpenSLO `spec.service`).
    pub service: String,
    /// The objective's name, unique within the service.
    pub name: String,
    /// A human description.
    pub description: String,
    /// The objective as a percentage in (0, 100): `99.9`.
    pub objective_percent: f64,
    /// Labels added to every generated series and alert (service labels merged with the SLO's).
    pub labels: BTreeMap<String, String>,
    /// What counts as an error.
    pub sli: Sli,
    /// The compliance period the budget is spent over.
    pub period: Period,
    /// Occurrences (count events) or timeslices (count good minutes).
    pub budgeting: BudgetingMethod,
    /// The page and ticket alerts.
    pub alerting: Alerting,
    /// The multiwindow table the alerts use.
    pub windows: WindowTable,
    /// Where the spec came from (`file` and a path inside it such as `slos[1]`), for messages.
    pub origin: String,
    /// The spec format it was read from, as Sloth's `sloth_spec` label names it:
    /// `prometheus/v1` or `openslo/v1`.
    pub spec_format: &'static str,
}

impl SloSpec {
    /// Sloth's SLO id: `<service>-<name>`, the value of the `sloth_id` label.
    pub fn id(&self) -> String {
        format!("{}-{}", self.service, self.name)
    }

    /// The objective as a ratio in (0, 1): `0.999`.
    ///
    /// Rounded to 12 decimals (objectives have at most 10 decimals as a percentage), because
    /// `99.9 / 100` is `0.9990000000000001` in binary.
    pub fn objective_ratio(&self) -> f64 {
        (self.objective_percent * 1e10).round() / 1e12
    }

    /// The error budget as a ratio: `1 - objective`.
    pub fn error_budget_ratio(&self) -> f64 {
        super::math::error_budget(self.objective_ratio())
    }
}

/// The service level indicator, always expressible as an error ratio over a window.
#[derive(Clone, Debug, PartialEq)]
pub enum Sli {
    /// Bad events over all events (Sloth `sli.events`, OpenSLO `ratioMetric`). Both queries are
    /// templates containing [`WINDOW_PLACEHOLDER`].
    Events {
        /// Rate of bad events over `{{.window}}`.
        error_query: String,
        /// Rate of all events over `{{.window}}`.
        total_query: String,
    },
    /// An error ratio written directly (Sloth `sli.raw.error_ratio_query`, OpenSLO
    /// `thresholdMetric` as good-timeslice ratio). A template containing [`WINDOW_PLACEHOLDER`].
    Raw {
        /// The error ratio over `{{.window}}`, between 0 and 1.
        error_ratio_query: String,
    },
    /// A latency SLI from a classic Prometheus histogram: the share of requests slower than
    /// `threshold_seconds` is the error ratio. The threshold must be one of the histogram's bucket
    /// boundaries (checked against the data by `slo status`).
    Latency {
        /// The histogram's metric name without the `_bucket`/`_count` suffix.
        metric: String,
        /// Extra label matchers inside the braces, such as `job="checkout"` (may be empty).
        matchers: String,
        /// The latency threshold in seconds: requests at or under it are good.
        threshold_seconds: f64,
    },
}

impl Sli {
    /// The error-ratio PromQL expression for one window, such as `5m` or `30d`.
    ///
    /// Events become `(error) / (total)`, as Sloth writes them; latency becomes
    /// `1 - bucket{le}/count` in its events form: `(count - bucket) / count`.
    pub fn error_ratio_expr(&self, window: &str) -> String {
        match self {
            Sli::Events {
                error_query,
                total_query,
            } => format!(
                "({})\n/\n({})",
                fill_window(error_query.trim(), window),
                fill_window(total_query.trim(), window)
            ),
            Sli::Raw { error_ratio_query } => format!("({})", fill_window(error_ratio_query.trim(), window)),
            Sli::Latency { .. } => {
                let (error, total) = self.latency_queries(window).unwrap_or_default();
                format!("({error})\n/\n({total})")
            }
        }
    }

    /// For a latency SLI, the error (slower than threshold) and total rate queries over `window`.
    pub fn latency_queries(&self, window: &str) -> Option<(String, String)> {
        let Sli::Latency {
            metric,
            matchers,
            threshold_seconds,
        } = self
        else {
            return None;
        };
        let sep = if matchers.trim().is_empty() { "" } else { "," };
        let le = le_matcher(*threshold_seconds);
        let total = format!("sum(rate({metric}_count{{{matchers}}}[{window}]))");
        let good = format!("sum(rate({metric}_bucket{{{matchers}{sep}{le}}}[{window}]))");
        Some((format!("{total} - {good}"), total))
    }
}

/// A bucket boundary's `le` label value as Prometheus 3 stores it from a scrape, and as
/// burnwatch's own scrape does: Prometheus's `FormatOpenMetricsFloat` (`1.0`, `0.25`, `1e+06`,
/// `+Inf`). Series written straight to a store (remote write, the demo's history) use it so they
/// join the scraped ones.
pub fn format_le(v: f64) -> String {
    burnwatch_gofmt::format_openmetrics(v)
}

/// The `le` matcher selecting the bucket at `threshold` seconds, under every spelling a store may
/// hold it in ([`burnwatch_gofmt::float_label_spellings`]).
///
/// Prometheus 2.x keeps `le` as the target wrote it (`le="1"` from client_golang's text format,
/// `le="1.0"` from OpenMetrics or protobuf), and Prometheus 3 normalises it to `1.0` on scrape (its
/// migration guide: references to whole-number `le` values such as `le="1"` stop matching). A
/// boundary with one spelling keeps the exact matcher (`le="0.25"`); a whole number gets a regex
/// over its spellings (`le=~"1|1\\.0"`), the form Sloth users write for the same reason, so the
/// rules match the data in burnwatch, Prometheus 2.x and 3.x, and across an upgrade (where the
/// two spellings are two series, summed like any other pair).
pub fn le_matcher(threshold: f64) -> String {
    let spellings = burnwatch_gofmt::float_label_spellings(threshold);
    match spellings.as_slice() {
        [one] => format!("le=\"{one}\""),
        all => {
            // Regex-escaped (`.` and `+`), then escaped again for a PromQL double-quoted string.
            let alternatives: Vec<String> = all
                .iter()
                .map(|s| s.replace('.', "\\\\.").replace('+', "\\\\+"))
                .collect();
            format!("le=~\"{}\"", alternatives.join("|"))
        }
    }
}

/// Whether a stored `le` label value is one [`le_matcher`]`(threshold)` selects.
pub fn le_matches(threshold: f64, le: &str) -> bool {
    burnwatch_gofmt::float_label_spellings(threshold)
        .iter()
        .any(|s| s == le)
}

/// Replaces every `{{.window}}` (spaces inside the braces tolerated, as Go templates do).
pub fn fill_window(template: &str, window: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + len].trim();
        out.push_str(&rest[..start]);
        if inner == ".window" {
            out.push_str(window);
        } else {
            out.push_str(&rest[start..start + len + 2]);
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Whether a template mentions the window variable.
pub fn has_window(template: &str) -> bool {
    fill_window(template, "\u{1}") != template
}

/// The compliance period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// A rolling window, such as the last 30 days.
    Rolling(Duration),
    /// A calendar period (OpenSLO `timeWindow.isRolling: false`): the budget resets at the start of
    /// each period. The length is the nominal one used for burn-rate scaling.
    Calendar {
        /// The calendar unit.
        unit: CalendarUnit,
        /// Nominal length, e.g. 30 days for a month.
        length: Duration,
    },
}

impl Period {
    /// The period's length.
    pub fn length(&self) -> Duration {
        match *self {
            Period::Rolling(d) => d,
            Period::Calendar { length, .. } => length,
        }
    }
}

/// The units an OpenSLO calendar window may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalendarUnit {
    /// A calendar day.
    Day,
    /// A calendar week.
    Week,
    /// A calendar month.
    Month,
    /// A calendar quarter.
    Quarter,
    /// A calendar year.
    Year,
}

/// How the budget is counted (OpenSLO `budgetingMethod`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BudgetingMethod {
    /// Bad events over all events.
    Occurrences,
    /// Bad time slices over all time slices: a slice is good when its own SLI meets
    /// `slice_target`.
    Timeslices {
        /// Length of a slice (OpenSLO `timeSliceWindow`).
        slice: Duration,
        /// The ratio a slice must reach to count as good (OpenSLO `timeSliceTarget`).
        slice_target: f64,
    },
}

/// The alerts of one SLO (Sloth `alerting`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alerting {
    /// The alert name; Sloth requires one when alerts are enabled.
    pub name: String,
    /// Labels on both alerts.
    pub labels: BTreeMap<String, String>,
    /// Annotations on both alerts.
    pub annotations: BTreeMap<String, String>,
    /// The page (fast burn) alert.
    pub page: AlertSpec,
    /// The ticket (slow burn) alert.
    pub ticket: AlertSpec,
}

/// One of the two alerts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertSpec {
    /// Do not generate or evaluate this alert.
    pub disable: bool,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations.
    pub annotations: BTreeMap<String, String>,
}

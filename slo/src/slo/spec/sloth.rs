//! Sloth's `prometheus/v1` spec (<https://sloth.dev/specs/default/>).
//!
//! ```yaml
//! version: "prometheus/v1"
//! service: "checkout"
//! labels: {owner: "payments"}
//! slos:
//!   - name: "requests-availability"
//!     objective: 99.9
//!     sli:
//!       events:
//!         error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
//!         total_query: sum(rate(http_requests_total[{{.window}}]))
//!     alerting:
//!       name: CheckoutHighErrorRate
//!       page_alert: {labels: {severity: page}}
//!       ticket_alert: {labels: {severity: ticket}}
//! ```
//!
//! Sloth's `sli.plugin` (Go plugins) cannot be run here and is refused by name. As an extension,
//! `sli.latency` (`metric`, `matchers`, `threshold_seconds`) describes a latency SLI over a classic
//! histogram. The period is 30 days unless the file sets `period` (Sloth takes it from a CLI flag,
//! `--default-slo-period`; burnwatch's `slo` commands have `--period` for the same purpose).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{SpecError, typed};
use crate::duration::parse_prometheus_duration_ms;
use crate::slo::model::has_window;
use crate::slo::{AlertSpec, Alerting, BudgetingMethod, Period, Sli, SloSpec, WindowTable};

/// The `version` value that marks a Sloth file.
pub const VERSION: &str = "prometheus/v1";

/// The period Sloth uses when none is given.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30 * 86_400);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    version: String,
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// burnwatch extension: the compliance period (Sloth: the `--default-slo-period` flag).
    #[serde(default)]
    period: Option<String>,
    slos: Vec<Slo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Slo {
    name: String,
    objective: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    sli: SliDoc,
    #[serde(default)]
    alerting: Option<AlertingDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SliDoc {
    #[serde(default)]
    events: Option<EventsDoc>,
    #[serde(default)]
    raw: Option<RawDoc>,
    #[serde(default)]
    plugin: Option<serde_norway::Value>,
    #[serde(default)]
    latency: Option<LatencyDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsDoc {
    error_query: String,
    total_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDoc {
    error_ratio_query: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyDoc {
    metric: String,
    #[serde(default)]
    matchers: String,
    threshold_seconds: f64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AlertingDoc {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page_alert: AlertDoc,
    #[serde(default)]
    ticket_alert: AlertDoc,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AlertDoc {
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads a Sloth document already parsed as YAML.
pub fn parse(doc: serde_norway::Value, file: &str) -> Result<Vec<SloSpec>, SpecError> {
    parse_with_period(doc, file, DEFAULT_PERIOD)
}

/// [`parse`] with the period to use when the file sets none (Sloth's `--default-slo-period`).
pub fn parse_with_period(
    doc: serde_norway::Value,
    file: &str,
    default_period: Duration,
) -> Result<Vec<SloSpec>, SpecError> {
    let f: File = typed(doc, file)?;
    if f.service.trim().is_empty() {
        return Err(SpecError::new(file, "service", "must not be empty"));
    }
    let period = match &f.period {
        None => default_period,
        Some(p) => match parse_prometheus_duration_ms(p) {
            Some(ms) if ms > 0 => Duration::from_millis(ms as u64),
            _ => {
                return Err(SpecError::new(
                    file,
                    "period",
                    format!("{p:?} is not a duration such as 30d"),
                ));
            }
        },
    };
    if f.slos.is_empty() {
        return Err(SpecError::new(file, "slos", "must list at least one SLO"));
    }
    let mut out: Vec<SloSpec> = Vec::with_capacity(f.slos.len());
    for (i, slo) in f.slos.into_iter().enumerate() {
        let at = |field: &str| format!("slos[{i}].{field}");
        if !valid_name(&slo.name) {
            return Err(SpecError::new(
                file,
                at("name"),
                format!(
                    "{:?} must be non-empty and use only letters, digits, '-' and '_'",
                    slo.name
                ),
            ));
        }
        if let Some(prev) = out.iter().position(|s| s.name == slo.name) {
            return Err(SpecError::new(
                file,
                at("name"),
                format!("{:?} is already used by slos[{prev}]", slo.name),
            ));
        }
        if !(slo.objective > 0.0 && slo.objective < 100.0) {
            return Err(SpecError::new(
                file,
                at("objective"),
                format!("must be in (0, 100), got {}", slo.objective),
            ));
        }
        let sli = read_sli(slo.sli, file, &at("sli"))?;
        let mut labels = f.labels.clone();
        labels.extend(slo.labels);
        let alerting = slo.alerting.unwrap_or_default();
        let enabled = !(alerting.page_alert.disable && alerting.ticket_alert.disable);
        if enabled
            && alerting.name.trim().is_empty()
            && !(alerting.labels.is_empty() && alerting.annotations.is_empty())
        {
            return Err(SpecError::new(
                file,
                at("alerting.name"),
                "is required when alerts are enabled",
            ));
        }
        out.push(SloSpec {
            service: f.service.clone(),
            name: slo.name,
            description: slo.description,
            objective_percent: slo.objective,
            labels,
            sli,
            period: Period::Rolling(period),
            budgeting: BudgetingMethod::Occurrences,
            alerting: Alerting {
                name: alerting.name,
                labels: alerting.labels,
                annotations: alerting.annotations,
                page: alert(alerting.page_alert),
                ticket: alert(alerting.ticket_alert),
            },
            windows: WindowTable::default(),
            origin: format!("{file}: slos[{i}]"),
            spec_format: VERSION,
        });
    }
    Ok(out)
}

fn alert(a: AlertDoc) -> AlertSpec {
    AlertSpec {
        disable: a.disable,
        labels: a.labels,
        annotations: a.annotations,
    }
}

fn read_sli(sli: SliDoc, file: &str, at: &str) -> Result<Sli, SpecError> {
    if sli.plugin.is_some() {
        return Err(SpecError::new(
            file,
            format!("{at}.plugin"),
            "is a Sloth Go plugin, which burnwatch cannot run; write the SLI as events or raw",
        ));
    }
    let given = [sli.events.is_some(), sli.raw.is_some(), sli.latency.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(SpecError::new(
            file,
            at,
            "must have exactly one of events, raw or latency",
        ));
    }
    let need_window = |q: &str, field: &str| -> Result<(), SpecError> {
        if q.trim().is_empty() {
            return Err(SpecError::new(file, format!("{at}.{field}"), "must not be empty"));
        }
        if !has_window(q) {
            return Err(SpecError::new(
                file,
                format!("{at}.{field}"),
                "must contain {{.window}} (the range of its rates, filled in per alert window)",
            ));
        }
        Ok(())
    };
    if let Some(e) = sli.events {
        need_window(&e.error_query, "events.error_query")?;
        need_window(&e.total_query, "events.total_query")?;
        return Ok(Sli::Events {
            error_query: e.error_query,
            total_query: e.total_query,
        });
    }
    if let Some(r) = sli.raw {
        need_window(&r.error_ratio_query, "raw.error_ratio_query")?;
        return Ok(Sli::Raw {
            error_ratio_query: r.error_ratio_query,
        });
    }
    let l = sli
        .latency
        .ok_or_else(|| SpecError::new(file, at, "has no SLI"))?;
    if !valid_metric(&l.metric) {
        return Err(SpecError::new(
            file,
            format!("{at}.latency.metric"),
            format!("{:?} is not a metric name", l.metric),
        ));
    }
    if !(l.threshold_seconds.is_finite() && l.threshold_seconds > 0.0) {
        return Err(SpecError::new(
            file,
            format!("{at}.latency.threshold_seconds"),
            format!(
                "must be a positive number of seconds, got {}",
                l.threshold_seconds
            ),
        ));
    }
    Ok(Sli::Latency {
        metric: l.metric,
        matchers: l.matchers,
        threshold_seconds: l.threshold_seconds,
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_metric(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use crate::slo::Sli;

    const GOOD: &str = r#"
version: "prometheus/v1"
service: "checkout"
labels:
  owner: "payments"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Checkout answers without server errors."
    sli:
      events:
        error_query: sum(rate(http_server_request_duration_seconds_count{job="checkout",http_response_status_code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_server_request_duration_seconds_count{job="checkout"}[{{ .window }}]))
    alerting:
      name: CheckoutHighErrorRate
      labels:
        category: availability
      page_alert:
        labels:
          severity: critical
      ticket_alert:
        labels:
          severity: warning
  - name: "requests-latency"
    objective: 99
    labels:
      tier: "1"
    sli:
      latency:
        metric: http_server_request_duration_seconds
        matchers: job="checkout"
        threshold_seconds: 0.3
"#;

    #[test]
    fn reads_a_sloth_file() {
        let slos = parse_str(GOOD, "slos.yaml").unwrap();
        assert_eq!(slos.len(), 2);
        assert_eq!(slos[0].id(), "checkout-requests-availability");
        assert_eq!(slos[0].objective_ratio(), 0.999);
        assert_eq!(slos[0].labels.get("owner").map(String::as_str), Some("payments"));
        assert_eq!(slos[0].alerting.page.labels["severity"], "critical");
        let expr = slos[0].sli.error_ratio_expr("5m");
        assert!(expr.contains("[5m])))\n/\n(sum(rate("), "{expr}");
        assert!(!expr.contains("window"), "{expr}");
        assert_eq!(slos[1].labels.get("tier").map(String::as_str), Some("1"));
        assert!(matches!(slos[1].sli, Sli::Latency { threshold_seconds, .. } if threshold_seconds == 0.3));
        let expr = slos[1].sli.error_ratio_expr("1h");
        assert!(
            expr.contains(r#"http_server_request_duration_seconds_bucket{job="checkout",le="0.3"}[1h]"#),
            "{expr}"
        );
    }

    fn err(text: &str) -> String {
        parse_str(text, "slos.yaml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_file_the_slo_and_the_field() {
        let bad = GOOD.replace("objective: 99\n", "objective: 100\n");
        assert_eq!(
            err(&bad),
            "slos.yaml: slos[1].objective must be in (0, 100), got 100"
        );
        let bad = GOOD.replace("[{{.window}}]", "[5m]");
        assert!(err(&bad).starts_with("slos.yaml: slos[0].sli.events.error_query must contain {{.window}}"));
        let bad = GOOD.replace("description:", "descripton:");
        assert!(
            err(&bad).contains("unknown key 'descripton' in slos[0]; expected one of"),
            "{}",
            err(&bad)
        );
        let bad = GOOD.replace("requests-latency", "requests-availability");
        assert!(err(&bad).contains("slos[1].name \"requests-availability\" is already used by slos[0]"));
        let bad = GOOD.replace("threshold_seconds: 0.3", "threshold_seconds: -1");
        assert!(err(&bad).contains("slos[1].sli.latency.threshold_seconds must be a positive"));
        assert!(err("version: v2\nservice: x\nslos: []").contains("version is \"v2\""));
        assert!(err("service: [").contains("is not valid YAML"));
    }
}

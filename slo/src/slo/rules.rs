//! Prometheus recording and alerting rules for SLOs, in the shape Sloth generates
//! (<https://sloth.dev/introduction/>, the `_gen` examples of the Sloth repository).
//!
//! Per SLO, three rule groups:
//!
//! * `sloth-slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<window>` for every window of the
//!   alert table and for the period, labelled `sloth_id`, `sloth_service`, `sloth_slo`,
//!   `sloth_window` plus the SLO's labels.
//! * `sloth-slo-meta-recordings-<id>`: `slo:objective:ratio`, `slo:error_budget:ratio`,
//!   `slo:time_period:days`, `slo:current_burn_rate:ratio` (the 5m, i.e. shortest page window,
//!   burn), `slo:period_burn_rate:ratio`, `slo:period_error_budget_remaining:ratio`,
//!   `sloth_slo_info`.
//! * `sloth-slo-alerts-<id>`: the page and the ticket alert, each the `or` of two multiwindow
//!   conditions, `max(short > (factor * budget)) without (sloth_window) and max(long > …) …`.
//!
//! Deliberate divergences from Sloth, so that `burnwatch slo status` computes *exactly* the values
//! these rules record (it evaluates the same expressions with the same numbers):
//!
//! * The period window (`slo:sli_error:ratio_rate30d`) is the SLI query with the period as its
//!   range, which is what Sloth generates with its `sli_rules` optimisation disabled. Sloth's
//!   default averages the 5m recording with `sum_over_time / count_over_time`, a value that
//!   depends on the rule history Prometheus happened to record and that no one can recompute from
//!   the raw series.
//! * The budget is written as a number (`vector(0.001)`, `(14.4 * 0.001)`), the spec's
//!   [`SloSpec::error_budget_ratio`], not as `1-0.999` (which is 0.0010000000000000009 in binary
//!   floating point): thresholds, burn rates and `slo status` all divide by the same number.
//! * `sloth_version` is `burnwatch-<version>`; the `sloth_*` identity labels always win over an
//!   SLO label of the same name, so a spec cannot detach a series from its SLO.

use std::collections::BTreeMap;
use std::time::Duration;

use super::SloSpec;
use super::math::prometheus_duration;
use super::windows::{AlertWindow, Severity};
use crate::tsdb::labels::escape_label_value;

/// The label holding the SLO id (`<service>-<name>`).
pub const ID_LABEL: &str = "sloth_id";
/// The label holding the service.
pub const SERVICE_LABEL: &str = "sloth_service";
/// The label holding the SLO name.
pub const SLO_LABEL: &str = "sloth_slo";
/// The label holding an SLI recording's window (`5m`).
pub const WINDOW_LABEL: &str = "sloth_window";
/// The label holding an alert's severity (`page`, `ticket`).
pub const SEVERITY_LABEL: &str = "sloth_severity";

/// Settings that do not come from the spec.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// The `sloth_version` label of `sloth_slo_info` (`burnwatch-0.1.0`).
    pub version: String,
    /// The `sloth_mode` label of `sloth_slo_info` (Sloth writes `cli-gen-prom`).
    pub mode: String,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            version: format!("burnwatch-{}", env!("CARGO_PKG_VERSION")),
            mode: "cli-gen-prom".to_string(),
        }
    }
}

/// A Prometheus rule file (`groups:`), serialised with serde.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RuleFile {
    /// The groups, three per SLO (two when its alerts are disabled).
    pub groups: Vec<RuleGroup>,
}

/// One rule group.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RuleGroup {
    /// `sloth-slo-sli-recordings-<id>` and so on.
    pub name: String,
    /// The rules, evaluated in order.
    pub rules: Vec<Rule>,
}

/// One recording or alerting rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rule {
    /// The recorded series name, for a recording rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The alert name, for an alerting rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The PromQL expression.
    pub expr: String,
    /// Labels added to the result.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Why rules could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The YAML serialiser failed.
    #[error("cannot write the rules as YAML: {0}")]
    Yaml(String),
    /// The JSON serialiser failed.
    #[error("cannot write the rules as JSON: {0}")]
    Json(String),
}

/// The name of the SLI error-ratio recording for `window`: `slo:sli_error:ratio_rate5m`.
pub fn sli_metric(window: Duration) -> String {
    format!("slo:sli_error:ratio_rate{}", prometheus_duration(window))
}

/// The objective as written in `slo:objective:ratio`: the percentage over 100, rounded to 12
/// decimals as [`super::math::error_budget`] rounds the budget (so 99.9 gives `0.999`, not
/// `0.9990000000000001`).
pub fn objective_ratio(slo: &SloSpec) -> f64 {
    (slo.objective_ratio() * 1e12).round() / 1e12
}

/// The period in days, the value of `slo:time_period:days`.
pub fn period_days(slo: &SloSpec) -> f64 {
    slo.period.length().as_secs_f64() / 86_400.0
}

/// The windows recorded for an SLO: every window of the alert table, shortest first, then the
/// period (once, even if the table already has a window of that length).
pub fn recorded_windows(slo: &SloSpec) -> Vec<Duration> {
    let mut all = slo.windows.all_windows();
    let period = slo.period.length();
    all.retain(|w| *w != period);
    all.push(period);
    all
}

/// The window of `slo:current_burn_rate:ratio`: the short window of the first page row (5m), as
/// Sloth uses its "page quick" short window.
pub fn current_burn_window(slo: &SloSpec) -> Duration {
    slo.windows
        .of(Severity::Page)
        .next()
        .or(slo.windows.windows.first())
        .map_or(Duration::from_secs(300), |w| w.short)
}

/// The error-ratio expression recorded for `window`, exactly as it appears in the rule.
pub fn sli_expr(slo: &SloSpec, window: Duration) -> String {
    slo.sli.error_ratio_expr(&prometheus_duration(window))
}

/// The `sloth_id`, `sloth_service`, `sloth_slo` labels.
pub fn id_labels(slo: &SloSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ID_LABEL.to_string(), slo.id()),
        (SERVICE_LABEL.to_string(), slo.service.clone()),
        (SLO_LABEL.to_string(), slo.name.clone()),
    ])
}

/// The labels of every meta recording: the SLO's labels, then the identity labels over them.
pub fn meta_labels(slo: &SloSpec) -> BTreeMap<String, String> {
    let mut labels = slo.labels.clone();
    labels.extend(id_labels(slo));
    labels
}

/// The labels the SLI recording rule for `window` sets.
pub fn sli_rule_labels(slo: &SloSpec, window: Duration) -> BTreeMap<String, String> {
    let mut labels = meta_labels(slo);
    labels.insert(WINDOW_LABEL.to_string(), prometheus_duration(window));
    labels
}

/// `{sloth_id="…", sloth_service="…", sloth_slo="…"}`, the selector of one SLO's recordings.
pub fn id_filter(slo: &SloSpec) -> String {
    let parts: Vec<String> = id_labels(slo)
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Whether the rules contain the alert of `severity`: it is not disabled and the SLO names its
/// alerts (Sloth requires `alerting.name` for enabled alerts).
pub fn alert_enabled(slo: &SloSpec, severity: Severity) -> bool {
    let spec = match severity {
        Severity::Page => &slo.alerting.page,
        Severity::Ticket => &slo.alerting.ticket,
    };
    !spec.disable && !slo.alerting.name.trim().is_empty() && slo.windows.of(severity).next().is_some()
}

/// The error-ratio threshold of one alert row: burn-rate factor × budget. The rule writes the two
/// factors (`(14.4 * 0.001)`) and PromQL multiplies them in `f64`; this is the same product.
pub fn row_threshold(slo: &SloSpec, row: &AlertWindow) -> f64 {
    row.burn_rate_threshold(slo.period.length()) * slo.error_budget_ratio()
}

/// The labels an alerting rule adds: `alerting.labels`, the severity's labels over them, then
/// `sloth_severity`.
pub fn alert_rule_labels(slo: &SloSpec, severity: Severity) -> BTreeMap<String, String> {
    let spec = match severity {
        Severity::Page => &slo.alerting.page,
        Severity::Ticket => &slo.alerting.ticket,
    };
    let mut labels = slo.alerting.labels.clone();
    labels.extend(spec.labels.clone());
    labels.insert(SEVERITY_LABEL.to_string(), severity.to_string());
    labels
}

/// The annotations of an alerting rule: Sloth's default `title` and `summary`, then
/// `alerting.annotations`, then the severity's annotations.
pub fn alert_rule_annotations(slo: &SloSpec, severity: Severity) -> BTreeMap<String, String> {
    let spec = match severity {
        Severity::Page => &slo.alerting.page,
        Severity::Ticket => &slo.alerting.ticket,
    };
    let mut out = BTreeMap::from([
        (
            "title".to_string(),
            format!(
                "({severity}) {{{{$labels.{SERVICE_LABEL}}}}} {{{{$labels.{SLO_LABEL}}}}} SLO error budget burn rate \
                 is too fast."
            ),
        ),
        (
            "summary".to_string(),
            format!(
                "{{{{$labels.{SERVICE_LABEL}}}}} {{{{$labels.{SLO_LABEL}}}}} SLO error budget burn rate is over \
                 expected."
            ),
        ),
    ]);
    out.extend(slo.alerting.annotations.clone());
    out.extend(spec.annotations.clone());
    out
}

/// A number as PromQL source: the shortest text that parses back to the same `f64` (Rust's
/// `Display`, never an exponent), so Prometheus and burnwatch hold bit-identical values.
pub fn promql_number(v: f64) -> String {
    format!("{v}")
}

/// The alert expression of one severity (Sloth's multiwindow, multi-burn-rate template): each row
/// is `max(short > (factor * budget)) without (sloth_window) and max(long > …) without (…)`, and
/// the rows are joined with `or`.
pub fn alert_expr(slo: &SloSpec, severity: Severity) -> String {
    let filter = id_filter(slo);
    let budget = promql_number(slo.error_budget_ratio());
    let rows: Vec<String> = slo
        .windows
        .of(severity)
        .map(|row| {
            let factor = promql_number(row.burn_rate_threshold(slo.period.length()));
            let cond = |w: Duration| {
                format!(
                    "    max({}{filter} > ({factor} * {budget})) without ({WINDOW_LABEL})",
                    sli_metric(w)
                )
            };
            format!("(\n{}\n    and\n{}\n)", cond(row.short), cond(row.long))
        })
        .collect();
    format!("{}\n", rows.join("\nor\n"))
}

/// The three rule groups of one SLO (two when both alerts are disabled).
pub fn slo_groups(slo: &SloSpec, opts: &GenerateOptions) -> Vec<RuleGroup> {
    let id = slo.id();
    let record = |name: &str, expr: String, labels: BTreeMap<String, String>| Rule {
        record: Some(name.to_string()),
        alert: None,
        expr,
        labels,
        annotations: BTreeMap::new(),
    };

    let sli_rules = recorded_windows(slo)
        .into_iter()
        .map(|w| {
            record(
                &sli_metric(w),
                format!("{}\n", sli_expr(slo, w)),
                sli_rule_labels(slo, w),
            )
        })
        .collect();

    let filter = id_filter(slo);
    let labels = meta_labels(slo);
    let burn = |window: Duration| {
        format!(
            "{}{filter}\n/ on({ID_LABEL}, {SLO_LABEL}, {SERVICE_LABEL}) group_left\nslo:error_budget:ratio{filter}\n",
            sli_metric(window)
        )
    };
    let mut info = labels.clone();
    info.extend([
        ("sloth_version".to_string(), opts.version.clone()),
        ("sloth_mode".to_string(), opts.mode.clone()),
        ("sloth_spec".to_string(), slo.spec_format.to_string()),
        (
            "sloth_objective".to_string(),
            promql_number(slo.objective_percent),
        ),
    ]);
    let meta_rules = vec![
        record(
            "slo:objective:ratio",
            format!("vector({})", promql_number(objective_ratio(slo))),
            labels.clone(),
        ),
        record(
            "slo:error_budget:ratio",
            format!("vector({})", promql_number(slo.error_budget_ratio())),
            labels.clone(),
        ),
        record(
            "slo:time_period:days",
            format!("vector({})", promql_number(period_days(slo))),
            labels.clone(),
        ),
        record(
            "slo:current_burn_rate:ratio",
            burn(current_burn_window(slo)),
            labels.clone(),
        ),
        record(
            "slo:period_burn_rate:ratio",
            burn(slo.period.length()),
            labels.clone(),
        ),
        record(
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{filter}"),
            labels.clone(),
        ),
        record("sloth_slo_info", "vector(1)".to_string(), info),
    ];

    let mut groups = vec![
        RuleGroup {
            name: format!("sloth-slo-sli-recordings-{id}"),
            rules: sli_rules,
        },
        RuleGroup {
            name: format!("sloth-slo-meta-recordings-{id}"),
            rules: meta_rules,
        },
    ];
    let alerts: Vec<Rule> = [Severity::Page, Severity::Ticket]
        .into_iter()
        .filter(|s| alert_enabled(slo, *s))
        .map(|s| Rule {
            record: None,
            alert: Some(slo.alerting.name.clone()),
            expr: alert_expr(slo, s),
            labels: alert_rule_labels(slo, s),
            annotations: alert_rule_annotations(slo, s),
        })
        .collect();
    if !alerts.is_empty() {
        groups.push(RuleGroup {
            name: format!("sloth-slo-alerts-{id}"),
            rules: alerts,
        });
    }
    groups
}

/// The rule file for `slos`.
pub fn rule_file(slos: &[SloSpec], opts: &GenerateOptions) -> RuleFile {
    RuleFile {
        groups: slos.iter().flat_map(|s| slo_groups(s, opts)).collect(),
    }
}

/// The rule file as YAML, with a header naming the generator.
pub fn to_yaml(slos: &[SloSpec], opts: &GenerateOptions) -> Result<String, RulesError> {
    let body =
        serde_norway::to_string(&rule_file(slos, opts)).map_err(|e| RulesError::Yaml(e.to_string()))?;
    Ok(format!(
        "# Code generated by burnwatch ({}) from Sloth-style SLO specs.\n# DO NOT EDIT.\n\n{body}",
        opts.version
    ))
}

/// The rule file as pretty-printed JSON (Prometheus reads JSON rule files too).
pub fn to_json(slos: &[SloSpec], opts: &GenerateOptions) -> Result<String, RulesError> {
    serde_json::to_string_pretty(&rule_file(slos, opts)).map_err(|e| RulesError::Json(e.to_string()))
}

/// The Prometheus Operator's `monitoring.coreos.com/v1` `PrometheusRule`: the rule file's groups
/// as its `spec`, so the operator loads them into the Prometheus it manages. Sloth's
/// `--kubernetes` output has the same shape (`spec.groups` is the rule file's `groups`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRule {
    /// Always `monitoring.coreos.com/v1`.
    pub api_version: String,
    /// Always `PrometheusRule`.
    pub kind: String,
    /// The object's name, namespace and labels.
    pub metadata: ObjectMeta,
    /// The rule groups, exactly as [`rule_file`] writes them.
    pub spec: RuleFile,
}

/// The part of Kubernetes' `ObjectMeta` a generated `PrometheusRule` sets.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ObjectMeta {
    /// A DNS-1123 subdomain (lower-case alphanumerics, `-` and `.`, at most 253 characters).
    pub name: String,
    /// The namespace; left out, `kubectl apply` uses the current context's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's labels: the Prometheus Operator picks rules by label (`ruleSelector`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Why a `PrometheusRule`'s metadata was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetadataError {
    /// The name or namespace is not a valid Kubernetes object name.
    #[error("{what} {value:?} is not a valid Kubernetes name: {reason}")]
    InvalidName {
        /// `name` or `namespace`.
        what: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Checks a DNS-1123 name: a subdomain (dots allowed, 253 characters) for object names, a label
/// (no dots, 63 characters) for namespaces, as the API server validates them.
fn check_dns1123(what: &'static str, value: &str, subdomain: bool) -> Result<(), MetadataError> {
    let invalid = |reason| MetadataError::InvalidName {
        what,
        value: value.to_string(),
        reason,
    };
    let max = if subdomain { 253 } else { 63 };
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.len() > max {
        return Err(invalid(if subdomain {
            "it is longer than 253 characters"
        } else {
            "it is longer than 63 characters"
        }));
    }
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (subdomain && c == '.');
    if !value.chars().all(allowed) {
        return Err(invalid(if subdomain {
            "use only lower-case letters, digits, '-' and '.'"
        } else {
            "use only lower-case letters, digits and '-'"
        }));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(value.chars().next()) || !alnum(value.chars().last()) {
        return Err(invalid("it must start and end with a letter or digit"));
    }
    if subdomain
        && value
            .split('.')
            .any(|part| !alnum(part.chars().next()) || !alnum(part.chars().last()))
    {
        return Err(invalid(
            "each dot-separated part must start and end with a letter or digit",
        ));
    }
    Ok(())
}

/// A default object name for `slos`: `burnwatch-slo-<service>` when they share one service (Sloth
/// names its output after the `PrometheusServiceLevel` it came from), else `burnwatch-slos`. The
/// service is lower-cased and every character a name cannot hold becomes `-`.
pub fn default_rule_name(slos: &[SloSpec]) -> String {
    let mut services = slos.iter().map(|s| s.service.as_str());
    let first = services.next();
    let Some(service) = first.filter(|f| services.all(|s| s == *f)) else {
        return "burnwatch-slos".to_string();
    };
    let mut name: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').to_string();
    if name.is_empty() {
        return "burnwatch-slos".to_string();
    }
    let name = format!("burnwatch-slo-{name}");
    // 253 is the limit; ASCII only here, so byte slicing is safe.
    name[..name.len().min(253)].trim_end_matches('-').to_string()
}

/// The labels every generated `PrometheusRule` carries (Sloth's `app.kubernetes.io/component:
/// SLO` and `app.kubernetes.io/managed-by`, naming burnwatch).
pub fn default_rule_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/component".to_string(), "SLO".to_string()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "burnwatch".to_string(),
        ),
    ])
}

/// The rules for `slos` as a `PrometheusRule` named `name` (default [`default_rule_name`]) in
/// `namespace`, labelled with [`default_rule_labels`] plus `labels` (which win on a clash).
pub fn prometheus_rule(
    slos: &[SloSpec],
    opts: &GenerateOptions,
    name: Option<&str>,
    namespace: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> Result<PrometheusRule, MetadataError> {
    let name = name.map_or_else(|| default_rule_name(slos), str::to_string);
    check_dns1123("name", &name, true)?;
    if let Some(ns) = namespace {
        check_dns1123("namespace", ns, false)?;
    }
    let mut all_labels = default_rule_labels();
    all_labels.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(PrometheusRule {
        api_version: "monitoring.coreos.com/v1".to_string(),
        kind: "PrometheusRule".to_string(),
        metadata: ObjectMeta {
            name,
            namespace: namespace.map(str::to_string),
            labels: all_labels,
        },
        spec: rule_file(slos, opts),
    })
}

/// A `PrometheusRule` as YAML, with the same header as [`to_yaml`].
pub fn prometheus_rule_yaml(rule: &PrometheusRule, opts: &GenerateOptions) -> Result<String, RulesError> {
    let body = serde_norway::to_string(rule).map_err(|e| RulesError::Yaml(e.to_string()))?;
    Ok(format!(
        "# Code generated by burnwatch ({}) from Sloth-style SLO specs.\n# DO NOT EDIT.\n\n{body}",
        opts.version
    ))
}

/// A `PrometheusRule` as pretty-printed JSON (`kubectl apply -f` reads JSON too).
pub fn prometheus_rule_json(rule: &PrometheusRule) -> Result<String, RulesError> {
    serde_json::to_string_pretty(rule).map_err(|e| RulesError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::spec::parse_str;

    const SPEC: &str = r##"
version: "prometheus/v1"
service: "myservice"
labels: {owner: "myteam", tier: "2"}
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels: {category: "availability"}
      annotations: {summary: "High error rate"}
      page_alert: {labels: {severity: pageteam}}
      ticket_alert: {labels: {severity: "slack", slack_channel: "#alerts"}}
  - name: "quiet"
    objective: 99
    sli:
      raw:
        error_ratio_query: 1 - avg_over_time(up[{{.window}}])
"##;

    fn groups() -> Vec<RuleGroup> {
        let slos = parse_str(SPEC, "t.yaml").unwrap();
        rule_file(&slos, &GenerateOptions::default()).groups
    }

    fn info_spec_label(slos: &[SloSpec]) -> String {
        let file = rule_file(slos, &GenerateOptions::default());
        let info = file
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .find(|r| r.record.as_deref() == Some("sloth_slo_info"))
            .expect("sloth_slo_info rule");
        info.labels["sloth_spec"].clone()
    }

    #[test]
    fn info_names_the_spec_format_it_came_from() {
        assert_eq!(
            info_spec_label(&parse_str(SPEC, "t.yaml").unwrap()),
            "prometheus/v1"
        );
        let openslo = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/slos/checkout-openslo.yaml"
        ))
        .unwrap();
        let slos = parse_str(&openslo, "checkout-openslo.yaml").unwrap();
        assert_eq!(info_spec_label(&slos), "openslo/v1");
    }

    #[test]
    fn groups_are_named_as_sloth_names_them() {
        let names: Vec<String> = groups().into_iter().map(|g| g.name).collect();
        assert_eq!(
            names,
            [
                "sloth-slo-sli-recordings-myservice-requests-availability",
                "sloth-slo-meta-recordings-myservice-requests-availability",
                "sloth-slo-alerts-myservice-requests-availability",
                "sloth-slo-sli-recordings-myservice-quiet",
                "sloth-slo-meta-recordings-myservice-quiet",
            ]
        );
    }

    #[test]
    fn sli_recordings_cover_every_window_and_the_period_from_the_raw_query() {
        let g = &groups()[0];
        let records: Vec<&str> = g.rules.iter().filter_map(|r| r.record.as_deref()).collect();
        assert_eq!(
            records,
            [
                "slo:sli_error:ratio_rate5m",
                "slo:sli_error:ratio_rate30m",
                "slo:sli_error:ratio_rate1h",
                "slo:sli_error:ratio_rate2h",
                "slo:sli_error:ratio_rate6h",
                "slo:sli_error:ratio_rate1d",
                "slo:sli_error:ratio_rate3d",
                "slo:sli_error:ratio_rate30d",
            ]
        );
        let period = g.rules.last().unwrap();
        // The divergence from Sloth's default: the period is the SLI query itself, not an average
        // of the 5m recording.
        assert!(
            period.expr.contains(r#"code=~"(5..|429)"}[30d]))"#),
            "{}",
            period.expr
        );
        assert!(!period.expr.contains("sum_over_time"));
        assert_eq!(period.labels["sloth_window"], "30d");
        assert_eq!(period.labels["sloth_id"], "myservice-requests-availability");
        assert_eq!(period.labels["owner"], "myteam");
    }

    #[test]
    fn meta_rules_use_the_budget_as_a_number() {
        let g = &groups()[1];
        let expr = |name: &str| {
            g.rules
                .iter()
                .find(|r| r.record.as_deref() == Some(name))
                .unwrap()
                .expr
                .clone()
        };
        assert_eq!(expr("slo:objective:ratio"), "vector(0.999)");
        assert_eq!(expr("slo:error_budget:ratio"), "vector(0.001)");
        assert_eq!(expr("slo:time_period:days"), "vector(30)");
        assert_eq!(
            expr("slo:current_burn_rate:ratio"),
            "slo:sli_error:ratio_rate5m{sloth_id=\"myservice-requests-availability\", sloth_service=\"myservice\", \
             sloth_slo=\"requests-availability\"}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\n\
             slo:error_budget:ratio{sloth_id=\"myservice-requests-availability\", sloth_service=\"myservice\", \
             sloth_slo=\"requests-availability\"}\n"
        );
        assert!(expr("slo:period_burn_rate:ratio").starts_with("slo:sli_error:ratio_rate30d{"));
        assert!(
            expr("slo:period_error_budget_remaining:ratio").starts_with("1 - slo:period_burn_rate:ratio{")
        );
        let info = g
            .rules
            .iter()
            .find(|r| r.record.as_deref() == Some("sloth_slo_info"))
            .unwrap();
        assert_eq!(info.labels["sloth_objective"], "99.9");
    }

    #[test]
    fn alerts_follow_the_multiwindow_template() {
        let g = &groups()[2];
        let page = &g.rules[0];
        assert_eq!(page.alert.as_deref(), Some("MyServiceHighErrorRate"));
        let f = r#"{sloth_id="myservice-requests-availability", sloth_service="myservice", sloth_slo="requests-availability"}"#;
        let want = format!(
            "(\n    max(slo:sli_error:ratio_rate5m{f} > (14.4 * 0.001)) without (sloth_window)\n    and\n    \
             max(slo:sli_error:ratio_rate1h{f} > (14.4 * 0.001)) without (sloth_window)\n)\nor\n(\n    \
             max(slo:sli_error:ratio_rate30m{f} > (6 * 0.001)) without (sloth_window)\n    and\n    \
             max(slo:sli_error:ratio_rate6h{f} > (6 * 0.001)) without (sloth_window)\n)\n"
        );
        assert_eq!(page.expr, want);
        assert_eq!(page.labels["sloth_severity"], "page");
        assert_eq!(page.labels["severity"], "pageteam");
        assert_eq!(page.labels["category"], "availability");
        assert_eq!(page.annotations["summary"], "High error rate");
        assert_eq!(
            page.annotations["title"],
            "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
        );
        let ticket = &g.rules[1];
        assert!(ticket.expr.contains("ratio_rate2h") && ticket.expr.contains("(1 * 0.001)"));
        assert_eq!(ticket.labels["slack_channel"], "#alerts");
    }

    #[test]
    fn yaml_has_a_header_and_block_expressions() {
        let slos = parse_str(SPEC, "t.yaml").unwrap();
        let yaml = to_yaml(&slos, &GenerateOptions::default()).unwrap();
        assert!(yaml.starts_with("# Code generated by burnwatch"), "{yaml}");
        let back: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
        let expr = back["groups"][2]["rules"][0]["expr"].as_str().unwrap();
        assert_eq!(expr, groups()[2].rules[0].expr);
    }

    #[test]
    fn prometheus_rule_wraps_the_same_groups_as_the_rule_file() {
        let slos = parse_str(SPEC, "t.yaml").unwrap();
        let opts = GenerateOptions::default();
        let extra = BTreeMap::from([("release".to_string(), "prometheus".to_string())]);
        let rule = prometheus_rule(&slos, &opts, None, Some("monitoring"), &extra).unwrap();
        let yaml = prometheus_rule_yaml(&rule, &opts).unwrap();
        assert!(yaml.starts_with("# Code generated by burnwatch"), "{yaml}");
        let back: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(back["apiVersion"].as_str(), Some("monitoring.coreos.com/v1"));
        assert_eq!(back["kind"].as_str(), Some("PrometheusRule"));
        assert_eq!(back["metadata"]["name"].as_str(), Some("burnwatch-slo-myservice"));
        assert_eq!(back["metadata"]["namespace"].as_str(), Some("monitoring"));
        assert_eq!(back["metadata"]["labels"]["release"].as_str(), Some("prometheus"));
        assert_eq!(
            back["metadata"]["labels"]["app.kubernetes.io/managed-by"].as_str(),
            Some("burnwatch")
        );
        let plain: serde_norway::Value = serde_norway::from_str(&to_yaml(&slos, &opts).unwrap()).unwrap();
        assert_eq!(back["spec"], plain);
        let json: serde_json::Value = serde_json::from_str(&prometheus_rule_json(&rule).unwrap()).unwrap();
        let plain_json: serde_json::Value = serde_json::from_str(&to_json(&slos, &opts).unwrap()).unwrap();
        assert_eq!(json["spec"], plain_json);
    }

    #[test]
    fn prometheus_rule_refuses_names_kubernetes_refuses() {
        let slos = parse_str(SPEC, "t.yaml").unwrap();
        let opts = GenerateOptions::default();
        let none = BTreeMap::new();
        for bad in [
            "",
            "Upper",
            "under_score",
            "-lead",
            "trail-",
            "a..b",
            &"x".repeat(254),
        ] {
            let err = prometheus_rule(&slos, &opts, Some(bad), None, &none).unwrap_err();
            assert!(err.to_string().starts_with("name "), "{bad:?}: {err}");
        }
        let err = prometheus_rule(&slos, &opts, Some("ok.name-1"), Some("a.b"), &none).unwrap_err();
        assert!(err.to_string().starts_with("namespace \"a.b\""), "{err}");
        assert!(prometheus_rule(&slos, &opts, Some("ok.name-1"), Some("mon-1"), &none).is_ok());
    }

    #[test]
    fn default_rule_name_is_a_valid_name_for_any_service() {
        let mut slos = parse_str(SPEC, "t.yaml").unwrap();
        slos[0].service = "My_Service ".to_string();
        slos[1].service = "My_Service ".to_string();
        assert_eq!(default_rule_name(&slos), "burnwatch-slo-my-service");
        slos[1].service = "other".to_string();
        assert_eq!(default_rule_name(&slos), "burnwatch-slos");
        assert_eq!(default_rule_name(&[]), "burnwatch-slos");
        slos.truncate(1);
        slos[0].service = "_".repeat(3);
        assert_eq!(default_rule_name(&slos), "burnwatch-slos");
        slos[0].service = "a".repeat(400);
        let long = default_rule_name(&slos);
        assert!(check_dns1123("name", &long, true).is_ok(), "{long}");
    }
}

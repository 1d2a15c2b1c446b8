//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON (`web/api/v1`'s `RuleDiscovery`
//! and `AlertDiscovery`).
//!
//! - `/api/v1/rules?type=alert|record&rule_name[]=…&rule_group[]=…&file[]=…`: groups with their
//!   rules, health, last error, evaluation time and, for alerting rules, their active alerts;
//!   groups left without rules by a filter are left out, as Prometheus leaves them out.
//! - `/api/v1/alerts`: every pending and firing alert with `value` written as Go's
//!   `strconv.FormatFloat(v, 'e', -1, 64)` (`1e+00`).
//!
//! Times are RFC 3339 with Go's zero time (`0001-01-01T00:00:00Z`) for never.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::manager::{ActiveAlert, GroupSnapshot, RuleManager};
use crate::api::json;
use crate::api::params::{Form, format_rfc3339};

/// Which rules `/api/v1/rules` lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RulesFilter {
    /// `type=alert` (Some(true)) or `type=record` (Some(false)).
    pub alerting: Option<bool>,
    /// `rule_name[]`: empty is all.
    pub names: Vec<String>,
    /// `rule_group[]`: empty is all.
    pub groups: Vec<String>,
    /// `file[]`: empty is all.
    pub files: Vec<String>,
}

impl RulesFilter {
    /// Reads the filter from a form; an unknown `type` is Prometheus's
    /// `invalid parameter "type": not supported value "x"`.
    pub fn from_form(form: &Form) -> Result<Self, String> {
        let alerting = match form.get("type").map(str::to_ascii_lowercase).as_deref() {
            None | Some("") => None,
            Some("alert") => Some(true),
            Some("record") => Some(false),
            Some(other) => {
                return Err(format!(
                    "invalid parameter \"type\": not supported value {other:?}"
                ));
            }
        };
        let all = |k: &str| form.all(k).into_iter().map(str::to_string).collect::<Vec<_>>();
        Ok(RulesFilter {
            alerting,
            names: all("rule_name[]"),
            groups: all("rule_group[]"),
            files: all("file[]"),
        })
    }
}

fn time(out: &mut String, t: Option<i64>) {
    match t {
        Some(t) => json::write_str(out, &format_rfc3339(t)),
        None => out.push_str("\"0001-01-01T00:00:00Z\""),
    }
}

fn map(out: &mut String, m: &std::collections::BTreeMap<String, String>) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_str(out, k);
        out.push(':');
        json::write_str(out, v);
    }
    out.push('}');
}

fn seconds(out: &mut String, s: f64) {
    out.push_str(&burnwatch_gofmt::format_json_float(s));
}

/// One alert as `/api/v1/alerts` and the rules' `alerts` list write it.
pub fn write_alert(out: &mut String, a: &ActiveAlert) {
    out.push_str("{\"labels\":");
    map(out, &a.labels);
    out.push_str(",\"annotations\":");
    map(out, &a.annotations);
    out.push_str(",\"state\":");
    json::write_str(out, a.state.as_str());
    out.push_str(",\"activeAt\":");
    time(out, Some(a.active_at_ms));
    if let Some(k) = a.keep_firing_since_ms {
        out.push_str(",\"keepFiringSince\":");
        time(out, Some(k));
    }
    out.push_str(",\"value\":");
    json::write_str(out, &burnwatch_gofmt::format_e(a.value));
    out.push('}');
}

/// The `data` of `/api/v1/alerts`.
pub fn alerts_data(alerts: &[ActiveAlert]) -> String {
    let mut out = String::from("{\"alerts\":[");
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_alert(&mut out, a);
    }
    out.push_str("]}");
    out
}

/// The `data` of `/api/v1/rules` for `groups` under `filter`.
pub fn rules_data(groups: &[GroupSnapshot], filter: &RulesFilter) -> String {
    let wanted = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
    let mut out = String::from("{\"groups\":[");
    let mut first_group = true;
    for g in groups {
        if !wanted(&filter.groups, &g.name) || !wanted(&filter.files, &g.file) {
            continue;
        }
        let rules: Vec<_> = g
            .rules
            .iter()
            .filter(|r| {
                filter.alerting.is_none_or(|a| a == r.alerting.is_some()) && wanted(&filter.names, &r.name)
            })
            .collect();
        // Prometheus drops groups a rule filter emptied, not groups that have no rules.
        let filtered = filter.alerting.is_some() || !filter.names.is_empty();
        if rules.is_empty() && filtered {
            continue;
        }
        if !first_group {
            out.push(',');
        }
        first_group = false;
        out.push_str("{\"name\":");
        json::write_str(&mut out, &g.name);
        out.push_str(",\"file\":");
        json::write_str(&mut out, &g.file);
        out.push_str(",\"rules\":[");
        for (i, r) in rules.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            if let Some(a) = &r.alerting {
                out.push_str("\"state\":");
                json::write_str(&mut out, a.state.as_str());
                out.push(',');
            }
            out.push_str("\"name\":");
            json::write_str(&mut out, &r.name);
            out.push_str(",\"query\":");
            json::write_str(&mut out, &r.query);
            match &r.alerting {
                Some(a) => {
                    out.push_str(",\"duration\":");
                    seconds(&mut out, a.for_ms as f64 / 1000.0);
                    out.push_str(",\"keepFiringFor\":");
                    seconds(&mut out, a.keep_firing_for_ms as f64 / 1000.0);
                    out.push_str(",\"labels\":");
                    map(&mut out, &r.labels);
                    out.push_str(",\"annotations\":");
                    map(&mut out, &a.annotations);
                    out.push_str(",\"alerts\":[");
                    for (j, al) in a.alerts.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_alert(&mut out, al);
                    }
                    out.push(']');
                }
                None if !r.labels.is_empty() => {
                    out.push_str(",\"labels\":");
                    map(&mut out, &r.labels);
                }
                None => {}
            }
            out.push_str(",\"health\":");
            json::write_str(&mut out, r.health.as_str());
            if let Some(e) = &r.last_error {
                out.push_str(",\"lastError\":");
                json::write_str(&mut out, e);
            }
            out.push_str(",\"evaluationTime\":");
            seconds(&mut out, r.eval_seconds);
            out.push_str(",\"lastEvaluation\":");
            time(&mut out, r.last_eval_ms);
            out.push_str(",\"type\":");
            json::write_str(
                &mut out,
                if r.alerting.is_some() {
                    "alerting"
                } else {
                    "recording"
                },
            );
            out.push('}');
        }
        out.push_str("],\"interval\":");
        seconds(&mut out, g.interval_ms as f64 / 1000.0);
        let _ = std::fmt::Write::write_fmt(&mut out, format_args!(",\"limit\":{}", g.limit));
        out.push_str(",\"evaluationTime\":");
        seconds(&mut out, g.eval_seconds);
        out.push_str(",\"lastEvaluation\":");
        time(&mut out, g.last_eval_ms);
        out.push('}');
    }
    out.push_str("]}");
    out
}

fn respond(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn rules(State(m): State<Option<RuleManager>>, RawQuery(raw): RawQuery) -> Response {
    let filter = Form::parse(raw.as_deref(), None)
        .map_err(|e| format!("error parsing form values: {e}"))
        .and_then(|f| RulesFilter::from_form(&f));
    let filter = match filter {
        Ok(f) => f,
        Err(e) => return respond(StatusCode::BAD_REQUEST, json::error("bad_data", &e, &[], &[])),
    };
    let groups = m.as_ref().map(RuleManager::groups).unwrap_or_default();
    respond(
        StatusCode::OK,
        json::success(&rules_data(&groups, &filter), &[], &[]),
    )
}

async fn alerts(State(m): State<Option<RuleManager>>) -> Response {
    let alerts = m.as_ref().map(RuleManager::alerts).unwrap_or_default();
    respond(StatusCode::OK, json::success(&alerts_data(&alerts), &[], &[]))
}

/// The routes over `manager` (none: no rules are loaded, both lists are empty, as Prometheus
/// answers without `rule_files`).
pub fn routes(manager: Option<RuleManager>) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules).post(rules))
        .route("/api/v1/alerts", get(alerts).post(alerts))
        .with_state(manager)
}

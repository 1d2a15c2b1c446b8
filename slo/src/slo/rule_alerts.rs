//! The SLO alerts as a rule evaluator holds them, laid over the computed status.
//!
//! [`super::status::evaluate`] computes from the recorded SLIs whether each multiwindow alert's
//! condition holds. What Alertmanager receives is something else: the alerting rule's state,
//! which lags the condition by `for` and keeps firing for `keep_firing_for`. Where a rule
//! evaluator holds the SLO's generated alerting rules (the group `sloth-slo-alerts-<id>` that
//! `slo generate` writes) — `burnwatch up`'s own rule manager, or a Prometheus with the rules
//! loaded — the dashboard's Firing column and `slo status` show that evaluator's state instead,
//! so they agree with the notifications. Elsewhere the computed condition stays.
//!
//! The evaluator's state comes from `/api/v1/rules?type=alert` over HTTP ([`fetch`]) or from a
//! [`RuleManager`](crate::rules::manager::RuleManager)'s groups in process
//! ([`RuleAlerts::from_groups`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::api::client::{ClientError, Endpoint};
use crate::rules::manager::GroupSnapshot;

use super::rules::{ID_LABEL, SEVERITY_LABEL};
use super::status::SloStatus;

/// The prefix of the group holding an SLO's alerting rules in `slo generate`'s output.
const ALERT_GROUP_PREFIX: &str = "sloth-slo-alerts-";

/// One pending or firing alert of an evaluator.
#[derive(Clone, Debug, PartialEq)]
pub struct EvaluatorAlert {
    /// The alert's labels, `alertname` included.
    pub labels: BTreeMap<String, String>,
    /// The expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// `pending` or `firing`.
    pub state: String,
}

/// What an evaluator holds: which SLOs' alert groups it evaluates and their active alerts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleAlerts {
    /// The `sloth_id`s whose `sloth-slo-alerts-<id>` group is loaded.
    pub loaded: BTreeSet<String>,
    /// The pending and firing alerts of those groups.
    pub alerts: Vec<EvaluatorAlert>,
}

impl RuleAlerts {
    /// From a rule manager's groups (in process).
    pub fn from_groups(groups: &[GroupSnapshot]) -> Self {
        let mut out = RuleAlerts::default();
        for group in groups {
            let Some(id) = group.name.strip_prefix(ALERT_GROUP_PREFIX) else {
                continue;
            };
            out.loaded.insert(id.to_string());
            for alerting in group.rules.iter().filter_map(|r| r.alerting.as_ref()) {
                out.alerts.extend(alerting.alerts.iter().map(|a| EvaluatorAlert {
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    state: a.state.as_str().to_string(),
                }));
            }
        }
        out
    }

    /// From the `data` of `/api/v1/rules` (Prometheus's JSON: `groups[].rules[].alerts[]`).
    ///
    /// # Errors
    ///
    /// A message naming what is missing when `data` is not that shape.
    pub fn from_api(data: &serde_json::Value) -> Result<Self, String> {
        let groups = data
            .get("groups")
            .and_then(|g| g.as_array())
            .ok_or("the rules response has no \"groups\" array")?;
        let mut out = RuleAlerts::default();
        for group in groups {
            let Some(id) = group
                .get("name")
                .and_then(|n| n.as_str())
                .and_then(|n| n.strip_prefix(ALERT_GROUP_PREFIX))
            else {
                continue;
            };
            out.loaded.insert(id.to_string());
            let rules = group
                .get("rules")
                .and_then(|r| r.as_array())
                .into_iter()
                .flatten();
            for alert in rules
                .filter(|r| r.get("type").and_then(|t| t.as_str()) == Some("alerting"))
                .filter_map(|r| r.get("alerts").and_then(|a| a.as_array()))
                .flatten()
            {
                out.alerts.push(EvaluatorAlert {
                    labels: string_map(alert.get("labels")),
                    annotations: string_map(alert.get("annotations")),
                    state: alert
                        .get("state")
                        .and_then(|s| s.as_str())
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Lays the evaluator's state over `statuses`: for each SLO whose alert group is loaded,
    /// every alert's `firing`, `rule_state`, labels and annotations become the evaluator's.
    /// SLOs it does not evaluate keep their computed alerts.
    pub fn apply(&self, statuses: &mut [SloStatus]) {
        for status in statuses.iter_mut().filter(|s| self.loaded.contains(&s.id)) {
            for alert in &mut status.alerts {
                let severity = alert.severity.to_string();
                let mine = self.alerts.iter().filter(|a| {
                    a.labels.get("alertname") == Some(&alert.name)
                        && a.labels.get(ID_LABEL) == Some(&status.id)
                        && a.labels.get(SEVERITY_LABEL) == Some(&severity)
                });
                // The highest state among the rule's alerts, as Prometheus reports a rule's state.
                let best = mine.max_by_key(|a| match a.state.as_str() {
                    "firing" => 2,
                    "pending" => 1,
                    _ => 0,
                });
                alert.firing = best.is_some_and(|a| a.state == "firing");
                alert.rule_state = Some(best.map_or("inactive".to_string(), |a| a.state.clone()));
                match best.filter(|a| a.state == "firing") {
                    Some(a) => {
                        alert.labels = a.labels.clone();
                        // The computed labels leave `alertname` out (it is the alert's name).
                        alert.labels.remove("alertname");
                        alert.annotations = a.annotations.clone();
                    }
                    None => {
                        alert.labels.clear();
                        alert.annotations.clear();
                    }
                }
            }
        }
    }
}

fn string_map(v: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    v.and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the evaluator's alerting rules from `endpoint`'s `/api/v1/rules?type=alert`. A server
/// without a rule API (404) holds no rules: that is an empty [`RuleAlerts`], not an error.
///
/// # Errors
///
/// The transport, credential and API errors of [`Endpoint::get_data`], and a body that is not
/// the rules API's JSON.
pub async fn fetch(endpoint: &Endpoint, timeout: Duration) -> Result<RuleAlerts, ClientError> {
    match endpoint.get_data("/api/v1/rules?type=alert", timeout).await {
        Ok(data) => RuleAlerts::from_api(&data).map_err(|reason| ClientError::Malformed {
            url: format!("{}/api/v1/rules?type=alert", endpoint.base_url()),
            status: 200,
            reason,
        }),
        Err(ClientError::Malformed { status: 404, .. }) | Err(ClientError::Api { status: 404, .. }) => {
            Ok(RuleAlerts::default())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::Severity;
    use crate::slo::status::{AlertStatus, Exhaustion};

    fn status(id: &str) -> SloStatus {
        let alert = |severity| AlertStatus {
            severity,
            name: "HighErrorRate".to_string(),
            enabled: true,
            firing: true,
            rule_state: None,
            rows: Vec::new(),
            labels: [("computed".to_string(), "yes".to_string())].into(),
            annotations: BTreeMap::new(),
        };
        SloStatus {
            id: id.to_string(),
            service: "svc".to_string(),
            slo: "slo".to_string(),
            at_ms: 0,
            objective: 0.999,
            error_budget: 0.001,
            period: "30d".to_string(),
            period_days: 30.0,
            windows: Vec::new(),
            current_burn_rate: None,
            period_burn_rate: None,
            budget_remaining: None,
            policy: None,
            policy_action: None,
            exhaustion: Exhaustion {
                burn_window: "1h".to_string(),
                burn_rate: None,
                seconds: None,
                human: None,
            },
            alerts: vec![alert(Severity::Page), alert(Severity::Ticket)],
            error: None,
        }
    }

    fn rules_json(state: &str) -> serde_json::Value {
        serde_json::json!({"groups": [
            {"name": "sloth-slo-sli-recordings-svc-slo", "rules": []},
            {"name": "sloth-slo-alerts-svc-slo", "rules": [
                {"type": "alerting", "name": "HighErrorRate", "alerts": [
                    {"state": state, "labels": {"alertname": "HighErrorRate", "sloth_id": "svc-slo",
                        "sloth_severity": "page", "team": "a"},
                     "annotations": {"summary": "burning"}}
                ]},
                {"type": "alerting", "name": "HighErrorRate", "alerts": []}
            ]}
        ]})
    }

    #[test]
    fn a_loaded_group_replaces_the_computed_condition_with_the_evaluators_state() {
        let rules = RuleAlerts::from_api(&rules_json("firing")).expect("parses");
        assert_eq!(rules.loaded, BTreeSet::from(["svc-slo".to_string()]));
        let mut statuses = vec![status("svc-slo"), status("other-slo")];
        rules.apply(&mut statuses);
        let page = &statuses[0].alerts[0];
        assert!(page.firing);
        assert_eq!(page.rule_state.as_deref(), Some("firing"));
        assert_eq!(page.labels.get("team").map(String::as_str), Some("a"));
        assert!(!page.labels.contains_key("alertname"));
        assert_eq!(
            page.annotations.get("summary").map(String::as_str),
            Some("burning")
        );
        // The ticket alert is computed as firing, but the evaluator holds nothing for it.
        let ticket = &statuses[0].alerts[1];
        assert!(!ticket.firing && ticket.labels.is_empty());
        assert_eq!(ticket.rule_state.as_deref(), Some("inactive"));
        // An SLO the evaluator does not hold keeps its computed alerts.
        assert!(
            statuses[1]
                .alerts
                .iter()
                .all(|a| a.firing && a.rule_state.is_none())
        );
    }

    #[test]
    fn a_pending_alert_is_not_firing_yet() {
        let rules = RuleAlerts::from_api(&rules_json("pending")).expect("parses");
        let mut statuses = vec![status("svc-slo")];
        rules.apply(&mut statuses);
        let page = &statuses[0].alerts[0];
        assert!(!page.firing && page.labels.is_empty());
        assert_eq!(page.rule_state.as_deref(), Some("pending"));
    }

    #[test]
    fn a_body_without_groups_is_an_error_naming_the_key() {
        let err = RuleAlerts::from_api(&serde_json::json!({"rules": []})).unwrap_err();
        assert!(err.contains("\"groups\""), "{err}");
    }
}

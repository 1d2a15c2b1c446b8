//! An alert as the rule manager hands it to notifiers: the fields of Alertmanager's API v2
//! `postableAlert`, with times in Unix milliseconds.
//!
//! The rule manager decides what to send and when (Prometheus's `sendAlerts`: firing alerts
//! are re-sent every resend delay with `endsAt` in the future, resolved ones are sent with their
//! resolution time as `endsAt`); notifiers only queue, batch and deliver.

use std::collections::BTreeMap;

/// One alert to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The identifying labels, `alertname` included, after external labels were added.
    pub labels: BTreeMap<String, String>,
    /// The templated annotations.
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing (Unix ms).
    pub starts_at_ms: i64,
    /// When the alert resolved, or until when a firing alert is valid if not re-sent (Unix ms).
    pub ends_at_ms: i64,
    /// A link back to the expression that produced it (Prometheus's `/graph?g0.expr=…`).
    pub generator_url: String,
}

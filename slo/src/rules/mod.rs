//! Rule evaluation and alerting, as Prometheus's rule manager (`rules/`) does it.
//!
//! - [`file`]: rule files in Prometheus's format, checked as `promtool check rules` checks them;
//! - [`template`]: the Go `text/template` subset alert labels and annotations are written in;
//! - [`manager`]: [`RuleManager`] evaluates groups on their intervals, writes recording rules'
//!   results and the `ALERTS` / `ALERTS_FOR_STATE` series into the store, moves alerts through
//!   pending → firing → resolved, restores `for` state after a restart and hands alerts to a sink
//!   when Prometheus's `sendAlerts` would;
//! - [`api`]: `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON.

pub mod file;
pub mod template;

pub use file::{GroupSpec, RuleFile, RuleFileError, RuleKind, RuleSpec, load_rule_files, parse_rule_file};
pub mod api;
pub mod manager;

pub use manager::{
    ActiveAlert, AlertSink, AlertState, AlertingSnapshot, GroupSnapshot, Health, ManagerOptions, RuleManager,
    RuleSnapshot,
};
#[cfg(test)]
mod tests;

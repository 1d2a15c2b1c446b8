//! Service level objectives: the spec model both spec formats map to, the error-budget math,
//! the multiwindow multi-burn-rate alert table and the error-budget policy.
//!
//! * [`model`] — one [`SloSpec`] per objective, whichever format it was written in (Sloth
//!   `prometheus/v1` or OpenSLO v1). Every SLI is reduced to an *error ratio* query with a
//!   `{{.window}}` variable, so rule generation and live evaluation treat them alike.
//! * [`math`] — pure functions: budget, allowed downtime, burn rate, time to exhaustion,
//!   detection time. Each documents its formula and where it comes from.
//! * [`windows`] — the alert window table of the SRE Workbook, chapter 5, scaled to any period.
//! * [`policy`] — the error-budget policy status (Green / Yellow / Red / Exhausted).
//! * [`rules`] — Prometheus recording and alerting rules in Sloth's shape (`slo generate`).
//! * [`status`] — the same values computed live from the raw series (`slo status`, the dashboard).
//! * [`burndown`] — the error-budget burndown over the period, through the same sources.

pub mod burndown;
pub mod math;
pub mod model;
pub mod policy;
pub mod rule_alerts;
pub mod rules;
pub mod spec;
pub mod status;
pub mod windows;

pub use model::{AlertSpec, Alerting, BudgetingMethod, Period, Sli, SloSpec, WINDOW_PLACEHOLDER};
pub use policy::PolicyStatus;
pub use windows::{AlertWindow, Severity, WindowTable};

//! DORA software-delivery metrics: deployment frequency, lead time for changes, change failure
//! rate, failed deployment recovery time and deployment rework rate, classified into the DORA
//! 2024 performance levels.
//!
//! The pieces: [`events`] reads deployments and incidents from JSON lines (a file, or the body of
//! `POST /api/v1/dora/events`), [`metrics::compute`] gives a [`DoraReport`] over a window,
//! [`tiers`] holds the 2024 level table and its classifier, and [`series`] turns events into
//! Prometheus series (`dora_deployments_total`, the `dora_lead_time_seconds` histogram, ...), and
//! [`query`] reads the metrics back from those series with PromQL (the dashboard, `dora report
//! --prometheus-url`).
//!
//! ```
//! use burnwatch_slo::dora::{Window, compute, parse_jsonl, Tier};
//!
//! let text = r#"{"type":"deployment","id":"d1","service":"api","time":"2024-05-02T12:00:00Z","status":"success","commits":[{"sha":"a1","time":"2024-05-02T10:00:00Z"}]}"#;
//! let (log, errors) = parse_jsonl(text);
//! assert!(errors.is_empty());
//! let end = burnwatch_slo::api::params::parse_rfc3339("2024-05-03T00:00:00Z").unwrap();
//! let report = compute(&log, Window::new(end, 86_400_000).unwrap(), None);
//! assert_eq!(report.lead_time.median_s, Some(7200.0));
//! assert_eq!(report.lead_time_tier(), Some(Tier::Elite));
//! ```
//!
//! # Event schema (JSON lines)
//!
//! One JSON object per line; blank lines are ignored. Timestamps are RFC 3339
//! (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.250+02:00`), read by the API's parser
//! ([`crate::api::params::parse_rfc3339`]); sub-millisecond digits are truncated.
//!
//! ```text
//! {"type":"deployment","id":"d-42","service":"checkout","time":"2024-05-01T12:00:00Z",
//!  "status":"success","commits":[{"sha":"9fceb02","time":"2024-05-01T09:30:00Z"}],
//!  "remediation":false}
//! {"type":"incident","id":"inc-7","service":"checkout","start":"2024-05-01T12:10:00Z",
//!  "resolved":"2024-05-01T13:00:00Z","deployment":"d-42"}
//! ```
//!
//! - deployment: `id`, `service`, `time` (when it finished), `status` (`"success"` or
//!   `"failure"`) are required; `commits` (default `[]`, each with `sha` and `time`) and
//!   `remediation` (default `false`: true marks an unplanned deployment made to fix production,
//!   i.e. rework) are optional.
//! - incident: `id`, `service`, `start` and `resolved` are required, `resolved` may be `null`
//!   for an open incident (a missing `resolved` is an error, so a forgotten field is not taken
//!   for an open incident); `deployment` (default `null`) names the deployment that caused it.
//!
//! A line is skipped, with its line number and the reason, when it is not JSON, has an unknown
//! `type` or an unknown field (so a typo such as `remediaton` cannot silently change a metric),
//! misses a required field, has a timestamp that is not RFC 3339 or lies outside 1970 to ten
//! minutes after the clock (year 0, 9999 or 2199 are clock or tool errors), an empty id/service/sha, a
//! commit newer than its deployment (a negative lead time), or `resolved` before `start`. An id
//! already used by an earlier event of the same type is skipped too; the first one is kept.
//! Deployment and incident ids are separate name spaces.
//!
//! # Metric definitions and choices
//!
//! The window is `(end - length, end]`: left-open like Prometheus 3.x range selectors, so
//! `increase(dora_deployments_total[30d])` at `end` counts the same deployments.
//!
//! - **Deployment frequency**: deployments in the window, either status, divided by the window
//!   length in days; the band is the 2024 table's (on demand / daily to weekly / weekly to
//!   monthly / monthly to every six months / fewer). It is an average: a team that deploys ten
//!   times on one day of a 30-day window counts as 0.33 a day.
//! - **Lead time for changes**: for each commit of a *successful* deployment in the window,
//!   deployment time minus commit time. A commit counts once, at the first successful deployment
//!   of its service that carried it (a retry after a failed deployment carries the same commits).
//!   Median and p90 by linear interpolation between closest ranks (as `quantile_over_time`);
//!   the median is classified.
//! - **Change failure rate**: deployments in the window that failed, over all deployments in
//!   the window. A deployment failed if its status is `failure` or any incident names it. The
//!   failure belongs to the deployment's time, even when the incident comes later.
//! - **Failed deployment recovery time**: for incidents that name a deployment (the 2024 report
//!   replaced "time to restore service" with recovery from a *failed deployment*), `resolved -
//!   start`, counted when `resolved` falls in the window; median. Open incidents are counted
//!   separately. A `failure` deployment without an incident has no recovery record: send an
//!   incident for it to measure its recovery.
//! - **Deployment rework rate**: deployments in the window with `remediation: true` over all
//!   deployments in the window. The 2024 report introduced it without performance levels, so
//!   it is reported without a tier.
//! - **Empty windows**: a ratio or a median without data is `None` ("n/a" in tables, `null` in
//!   JSON), never NaN and never a division by zero. With no deployment the frequency is 0 a day
//!   and has no band or tier: an empty log says nothing about how a team deploys.
//! - **Overall**: the lowest of the four classified metrics' tiers, when all four have a value.
//!
//! # Performance levels
//!
//! The DORA 2024 table and the classification rules are in [`tiers`], with the source. Its
//! change-fail-rate figures are not monotone (high 20%, medium 10%): the classifier reads each
//! figure as its level's upper limit and picks the best level the rate meets (<= 5% elite,
//! <= 20% high, otherwise low), so a lower rate never earns a worse level and the change fail
//! rate alone never yields medium. Recovery time: high and medium share "less than one day";
//! the better level (high) takes it.

pub mod events;
pub mod metrics;
pub mod query;
pub mod recent;
pub mod series;
#[cfg(test)]
mod tests;
pub mod tiers;

pub use events::{
    BodyError, Commit, DeployStatus, Deployment, Event, EventError, EventLog, Incident, Position, parse_body,
    parse_jsonl, parse_jsonl_bytes,
};
pub use metrics::{DoraReport, Window, WindowError, compute};
pub use series::{SeriesWriter, append_events, to_openmetrics};
pub use tiers::{FrequencyBucket, Tier};

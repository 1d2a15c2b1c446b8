//! The five DORA metrics over a time window, computed from an [`EventLog`], and their
//! renderings as a table for people and as JSON for scripts.
//!
//! Definitions (see the [module overview](super) for the reasoning):
//! - the window is `(end - length, end]`, left-open as Prometheus 3.x range selectors are;
//! - deployment frequency: deployments in the window (either status) per day of window;
//! - lead time for changes: for every commit of a successful deployment in the window, the
//!   time from commit to that deployment, counted only at the commit's first successful
//!   deployment of its service; median and 90th percentile (linear interpolation between the
//!   closest ranks, as PromQL's `quantile_over_time`);
//! - change failure rate: deployments in the window that failed (status `failure`, or named by
//!   an incident's `deployment`) over all deployments in the window;
//! - failed deployment recovery time: `resolved - start` of the incidents caused by a
//!   deployment that were resolved in the window; median;
//! - deployment rework rate: deployments in the window marked `remediation` over all deployments
//!   in the window.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::events::{DeployStatus, EventLog};
use super::tiers::{self, FrequencyBucket, Tier};

/// Milliseconds in a day.
const DAY_MS: f64 = 86_400_000.0;

/// The time range a report covers: `(end_ms - length_ms, end_ms]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The end (inclusive), milliseconds since the Unix epoch.
    pub end_ms: i64,
    /// The length in milliseconds, always positive.
    pub length_ms: i64,
}

/// A window that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the window must be longer than zero, got {0} ms")]
pub struct WindowError(pub i64);

impl Window {
    /// The window of `length_ms` ending at `end_ms`.
    pub fn new(end_ms: i64, length_ms: i64) -> Result<Self, WindowError> {
        if length_ms <= 0 {
            return Err(WindowError(length_ms));
        }
        Ok(Window { end_ms, length_ms })
    }

    /// The start (exclusive).
    pub fn start_ms(&self) -> i64 {
        self.end_ms.saturating_sub(self.length_ms)
    }

    /// Whether `t` lies in the window.
    pub fn contains(&self, t: i64) -> bool {
        t > self.start_ms() && t <= self.end_ms
    }

    /// The length in days.
    pub fn days(&self) -> f64 {
        self.length_ms as f64 / DAY_MS
    }
}

/// Deployment frequency.
#[derive(Clone, Debug, PartialEq)]
pub struct Frequency {
    /// Deployments in the window.
    pub deployments: usize,
    /// Deployments per day of window.
    pub per_day: f64,
    /// The 2024 band, `None` when there was no deployment (nothing to classify).
    pub bucket: Option<FrequencyBucket>,
}

/// Lead time for changes.
#[derive(Clone, Debug, PartialEq)]
pub struct LeadTime {
    /// Commits counted.
    pub changes: usize,
    /// Median lead time in seconds, `None` without changes.
    pub median_s: Option<f64>,
    /// 90th-percentile lead time in seconds, `None` without changes.
    pub p90_s: Option<f64>,
}

/// A count over the window's deployments (change failure rate, rework rate).
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    /// Deployments counted in the numerator.
    pub count: usize,
    /// All deployments in the window.
    pub deployments: usize,
}

impl Ratio {
    /// `count / deployments`, `None` without deployments.
    pub fn value(&self) -> Option<f64> {
        (self.deployments > 0).then(|| self.count as f64 / self.deployments as f64)
    }
}

/// Failed deployment recovery time.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// Recoveries counted (deployment-caused incidents resolved in the window).
    pub recoveries: usize,
    /// Deployment-caused incidents started by the window's end and not resolved.
    pub open: usize,
    /// Median recovery time in seconds, `None` without recoveries.
    pub median_s: Option<f64>,
}

/// The DORA metrics of one window.
#[derive(Clone, Debug, PartialEq)]
pub struct DoraReport {
    /// The window.
    pub window: Window,
    /// The service the report is restricted to, `None` for all.
    pub service: Option<String>,
    /// Deployment frequency.
    pub frequency: Frequency,
    /// Lead time for changes.
    pub lead_time: LeadTime,
    /// Change failure rate.
    pub change_failure: Ratio,
    /// Failed deployment recovery time.
    pub recovery: Recovery,
    /// Deployment rework rate.
    pub rework: Ratio,
    /// Incidents (caused by a deployment or not) that started in the window.
    pub incidents: usize,
}

/// The `q` quantile (0..=1) of `values`, interpolating linearly between the closest ranks;
/// `None` for no values. Sorts `values`.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (values[lo], values[hi]);
    Some(a + (b - a) * (rank - lo as f64))
}

/// Computes the report of `log` over `window`, for `service` only when given.
pub fn compute(log: &EventLog, window: Window, service: Option<&str>) -> DoraReport {
    let wanted = |s: &str| service.is_none_or(|w| w == s);
    let in_window: Vec<_> = log
        .deployments
        .iter()
        .map(|(_, d)| d)
        .filter(|d| wanted(&d.service) && window.contains(d.time_ms))
        .collect();
    let total = in_window.len();

    // A commit counts once, at the first successful deployment of its service that carried it
    // (a retried deployment carries the same commits again). Ties keep input order.
    let mut first_success: HashMap<(&str, &str), (i64, &str)> = HashMap::new();
    for (_, d) in &log.deployments {
        if d.status != DeployStatus::Success {
            continue;
        }
        for c in &d.commits {
            let key = (d.service.as_str(), c.sha.as_str());
            let entry = first_success.entry(key).or_insert((d.time_ms, &d.id));
            if d.time_ms < entry.0 {
                *entry = (d.time_ms, &d.id);
            }
        }
    }
    let mut lead_s = Vec::new();
    for d in in_window.iter().filter(|d| d.status == DeployStatus::Success) {
        for c in &d.commits {
            if first_success
                .get(&(d.service.as_str(), c.sha.as_str()))
                .map(|e| e.1)
                == Some(d.id.as_str())
            {
                lead_s.push((d.time_ms - c.time_ms) as f64 / 1000.0);
            }
        }
    }
    let median_s = quantile(&mut lead_s, 0.5);
    let p90_s = quantile(&mut lead_s, 0.9);

    let caused: HashSet<&str> = log
        .incidents
        .iter()
        .filter_map(|(_, i)| i.deployment.as_deref())
        .collect();
    let failed = in_window
        .iter()
        .filter(|d| d.status == DeployStatus::Failure || caused.contains(d.id.as_str()))
        .count();

    let mut recovery_s = Vec::new();
    let mut open = 0;
    for (_, i) in &log.incidents {
        if !wanted(&i.service) || i.deployment.is_none() {
            continue;
        }
        match i.resolved_ms {
            Some(r) if window.contains(r) => recovery_s.push((r - i.start_ms) as f64 / 1000.0),
            None if i.start_ms <= window.end_ms => open += 1,
            _ => {}
        }
    }
    let incidents = log
        .incidents
        .iter()
        .filter(|(_, i)| wanted(&i.service) && window.contains(i.start_ms))
        .count();
    let rework = in_window.iter().filter(|d| d.remediation).count();
    let per_day = total as f64 / window.days();
    DoraReport {
        window,
        service: service.map(str::to_string),
        frequency: Frequency {
            deployments: total,
            per_day,
            bucket: (total > 0).then(|| tiers::frequency_bucket(per_day)),
        },
        lead_time: LeadTime {
            changes: lead_s.len(),
            median_s,
            p90_s,
        },
        change_failure: Ratio {
            count: failed,
            deployments: total,
        },
        recovery: Recovery {
            recoveries: recovery_s.len(),
            open,
            median_s: quantile(&mut recovery_s, 0.5),
        },
        rework: Ratio {
            count: rework,
            deployments: total,
        },
        incidents,
    }
}

/// Why the rework rate has no tier.
pub const REWORK_NO_TIER: &str = "the DORA 2024 report publishes no levels for the rework rate";

impl DoraReport {
    /// The level the deployment frequency supports.
    pub fn frequency_tier(&self) -> Option<Tier> {
        self.frequency.bucket.map(FrequencyBucket::tier)
    }

    /// The level the median lead time supports.
    pub fn lead_time_tier(&self) -> Option<Tier> {
        self.lead_time.median_s.map(tiers::lead_time_tier)
    }

    /// The level the change failure rate supports.
    pub fn change_failure_tier(&self) -> Option<Tier> {
        self.change_failure.value().map(tiers::change_fail_rate_tier)
    }

    /// The level the median recovery time supports.
    pub fn recovery_tier(&self) -> Option<Tier> {
        self.recovery.median_s.map(tiers::recovery_time_tier)
    }

    /// The lowest level among the four classified metrics, when all four have a value: the
    /// level every metric supports at least.
    pub fn overall_tier(&self) -> Option<Tier> {
        let all = [
            self.frequency_tier()?,
            self.lead_time_tier()?,
            self.change_failure_tier()?,
            self.recovery_tier()?,
        ];
        all.into_iter().max()
    }

    /// The report as JSON. Values that cannot be computed (an empty window) are `null`, never
    /// NaN.
    pub fn to_json(&self) -> Value {
        let tier = |t: Option<Tier>| t.map(Tier::as_str);
        json!({
            "window": {
                "start": format_time(self.window.start_ms()),
                "end": format_time(self.window.end_ms),
                "seconds": self.window.length_ms as f64 / 1000.0,
            },
            "service": self.service,
            "deployments": self.frequency.deployments,
            "incidents": self.incidents,
            "metrics": {
                "deployment_frequency": {
                    "per_day": self.frequency.per_day,
                    "deployments": self.frequency.deployments,
                    "bucket": self.frequency.bucket.map(FrequencyBucket::key),
                    "tier": tier(self.frequency_tier()),
                },
                "lead_time": {
                    "changes": self.lead_time.changes,
                    "median_seconds": self.lead_time.median_s,
                    "p90_seconds": self.lead_time.p90_s,
                    "tier": tier(self.lead_time_tier()),
                },
                "change_failure_rate": {
                    "value": self.change_failure.value(),
                    "failed": self.change_failure.count,
                    "deployments": self.change_failure.deployments,
                    "tier": tier(self.change_failure_tier()),
                },
                "recovery_time": {
                    "recoveries": self.recovery.recoveries,
                    "open": self.recovery.open,
                    "median_seconds": self.recovery.median_s,
                    "tier": tier(self.recovery_tier()),
                },
                "rework_rate": {
                    "value": self.rework.value(),
                    "rework": self.rework.count,
                    "deployments": self.rework.deployments,
                    "tier": null,
                    "note": REWORK_NO_TIER,
                },
            },
            "overall_tier": tier(self.overall_tier()),
        })
    }

    /// The report as an aligned table for people. "n/a" marks values an empty window cannot
    /// give.
    pub fn to_table(&self) -> String {
        let na = "n/a".to_string();
        let tier = |t: Option<Tier>| t.map_or(na.clone(), |t| t.to_string());
        let n = self.frequency.deployments;
        let frequency = match self.frequency.bucket {
            Some(b) => format!(
                "{:.2}/day, {} ({n} deployments)",
                self.frequency.per_day,
                b.as_str()
            ),
            None => "0/day (no deployments)".to_string(),
        };
        let lead = match (self.lead_time.median_s, self.lead_time.p90_s) {
            (Some(m), Some(p)) => format!(
                "median {}, p90 {} ({} changes)",
                format_seconds(m),
                format_seconds(p),
                self.lead_time.changes
            ),
            _ => "n/a (no changes deployed)".to_string(),
        };
        let ratio = |r: &Ratio| match r.value() {
            Some(v) => format!("{:.1}% ({} of {})", v * 100.0, r.count, r.deployments),
            None => "n/a (no deployments)".to_string(),
        };
        let recovery = match self.recovery.median_s {
            Some(m) => format!(
                "median {} ({} recoveries, {} open)",
                format_seconds(m),
                self.recovery.recoveries,
                self.recovery.open
            ),
            None => format!("n/a (no recoveries, {} open)", self.recovery.open),
        };
        let rows = [
            ("METRIC".to_string(), "VALUE".to_string(), "TIER".to_string()),
            (
                "deployment frequency".into(),
                frequency,
                tier(self.frequency_tier()),
            ),
            ("lead time for changes".into(), lead, tier(self.lead_time_tier())),
            (
                "change failure rate".into(),
                ratio(&self.change_failure),
                tier(self.change_failure_tier()),
            ),
            (
                "failed deployment recovery time".into(),
                recovery,
                tier(self.recovery_tier()),
            ),
            (
                "deployment rework rate".into(),
                ratio(&self.rework),
                "none (no 2024 levels)".into(),
            ),
        ];
        let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "DORA metrics for {}, window {} ({} .. {}, start excluded)",
            self.service
                .as_deref()
                .map_or("all services".to_string(), |s| format!("service {s:?}")),
            format_seconds(self.window.length_ms as f64 / 1000.0),
            format_time(self.window.start_ms()),
            format_time(self.window.end_ms),
        );
        out.push('\n');
        for (a, b, c) in &rows {
            let _ = writeln!(out, "{a:<w0$}  {b:<w1$}  {c}");
        }
        out.push('\n');
        let _ = match self.overall_tier() {
            Some(t) => writeln!(
                out,
                "overall: {t} (the lowest tier among the four classified metrics)"
            ),
            None => writeln!(out, "overall: n/a (not every metric has a value in this window)"),
        };
        let _ = writeln!(out, "incidents started in the window: {}", self.incidents);
        out
    }
}

/// A duration in seconds as the two largest units (`2d 3h`, `5h 20m`, `45s`).
pub fn format_seconds(s: f64) -> String {
    let total = s.round().max(0.0) as u64;
    let units = [("d", 86_400u64), ("h", 3600), ("m", 60), ("s", 1)];
    let mut parts = Vec::new();
    let mut rest = total;
    for (name, size) in units {
        let n = rest / size;
        rest %= size;
        if n > 0 || !parts.is_empty() {
            parts.push(format!("{n}{name}"));
        }
        if parts.len() == 2 {
            break;
        }
    }
    // Drop a trailing zero unit ("2d 0h" reads as "2d").
    if parts.len() == 2 && parts[1].starts_with('0') {
        parts.pop();
    }
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}

/// A timestamp in milliseconds as RFC 3339 UTC, with milliseconds only when there are any.
pub fn format_time(ms: i64) -> String {
    crate::api::params::format_rfc3339(ms)
}

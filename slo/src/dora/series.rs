//! DORA events as Prometheus series, stamped at the events' own times.
//!
//! [`SeriesWriter`] turns events into cumulative samples of the series below, remembering what
//! it has counted so that later batches continue the counters (and never count an id, a commit
//! or a failed deployment twice):
//!
//! | series                                                     | added to at                                  |
//! |------------------------------------------------------------|----------------------------------------------|
//! | `dora_deployments_total{service,status}`                   | the deployment's `time`                      |
//! | `dora_failed_deployments_total{service}`                   | a failed deployment's `time`, or the `start` of the first incident naming a successful one |
//! | `dora_rework_deployments_total{service}`                   | a remediation deployment's `time`            |
//! | `dora_incidents_total{service}`                            | the incident's `start`                       |
//! | `dora_lead_time_seconds_bucket/_sum/_count{service,le}`    | a successful deployment's `time`, one observation per commit not yet deployed |
//! | `dora_recovery_time_seconds_bucket/_sum/_count{service,le}`| the `resolved` time of an incident caused by a deployment |
//!
//! The series are sparse: one sample per event, so a plain selector finds nothing once
//! the query's lookback (5 minutes) has passed. Read the running totals with
//! `last_over_time(dora_deployments_total[90d])`; over a window, `increase(...[30d])` works but
//! extrapolates as Prometheus does, so on sparse series it approximates the count (exact counts
//! per window come from `burnwatch dora report`). A series starts with a 0 sample one
//! millisecond before its first event, so `increase()` sees that first event too. For
//! dashboards: change failure rate `sum(increase(dora_failed_deployments_total[30d])) /
//! sum(increase(dora_deployments_total[30d]))`, median lead time `histogram_quantile(0.5, sum by
//! (le) (increase(dora_lead_time_seconds_bucket[30d])))`.
//!
//! Time order: the store refuses a sample older than the newest of its series. Within one batch
//! the writer sorts observations by time, so a batch may list events in any order. Across
//! batches, an event is refused (with its position and the series it conflicts with) when any
//! series it would add to already has a sample at or after the event's time; nothing of a
//! refused event is counted. Send history oldest batch first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use super::events::{DeployStatus, Event, EventError, EventLog, Position};
use crate::tsdb::{Labels, Matcher, Queryable, Storage};

/// Upper bounds (seconds) of the lead-time histogram: half an hour to six months, including
/// the 2024 level edges (one day, one week, 30 days, 182 days).
pub const LEAD_TIME_BUCKETS: [f64; 14] = [
    1800.0,
    3600.0,
    7200.0,
    14_400.0,
    28_800.0,
    43_200.0,
    86_400.0,
    172_800.0,
    345_600.0,
    604_800.0,
    1_209_600.0,
    2_592_000.0,
    7_776_000.0,
    15_724_800.0,
];

/// Upper bounds (seconds) of the recovery-time histogram: five minutes to 30 days, including
/// the 2024 level edges (one hour, one day, one week).
pub const RECOVERY_BUCKETS: [f64; 12] = [
    300.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14_400.0,
    28_800.0,
    43_200.0,
    86_400.0,
    172_800.0,
    604_800.0,
    2_592_000.0,
];

const DEPLOYMENTS: &str = "dora_deployments_total";
const FAILED: &str = "dora_failed_deployments_total";
const REWORK: &str = "dora_rework_deployments_total";
const INCIDENTS: &str = "dora_incidents_total";
const LEAD_TIME: &str = "dora_lead_time_seconds";
const RECOVERY: &str = "dora_recovery_time_seconds";

/// The metric families, in output order: (family name, type, help).
const FAMILIES: [(&str, &str, &str); 6] = [
    (
        "dora_deployments",
        "counter",
        "Deployments to production by service and status.",
    ),
    (
        "dora_failed_deployments",
        "counter",
        "Deployments that failed or caused an incident.",
    ),
    (
        "dora_rework_deployments",
        "counter",
        "Unplanned deployments made to remediate a production problem.",
    ),
    ("dora_incidents", "counter", "Production incidents by service."),
    (
        "dora_lead_time_seconds",
        "histogram",
        "Time from commit to its first successful deployment.",
    ),
    (
        "dora_recovery_time_seconds",
        "histogram",
        "Time to recover from an incident caused by a deployment.",
    ),
];

/// One sample of a DORA series.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSample {
    /// The series.
    pub labels: Labels,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The cumulative value.
    pub v: f64,
}

/// What one batch of events gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Samples to store, in time order per series.
    pub samples: Vec<SeriesSample>,
    /// Events counted.
    pub accepted: usize,
    /// Events refused by the time-order or duplicate rules.
    pub errors: Vec<EventError>,
}

/// What an observation adds to.
#[derive(Clone, Debug)]
enum Target {
    /// A counter series (full labels), plus one.
    Counter(Labels),
    /// A histogram (name, service), observing the value in seconds.
    Histogram(&'static str, String, f64),
}

#[derive(Clone, Debug)]
struct Observation {
    t: i64,
    target: Target,
}

/// Facts about a deployment kept across batches, for incidents that name it later.
#[derive(Clone, Debug)]
struct KnownDeployment {
    service: String,
    time_ms: i64,
}

/// Turns batches of events into DORA series samples; see the module docs for the rules.
#[derive(Debug, Default)]
pub struct SeriesWriter {
    /// Newest timestamp and value per series written (or found in the store).
    series: HashMap<Labels, (i64, f64)>,
    deployments: HashMap<String, KnownDeployment>,
    incident_ids: HashSet<String>,
    /// Deployments already counted in `dora_failed_deployments_total`.
    failed: HashSet<String>,
    /// (service, sha) of commits already observed in the lead-time histogram.
    commits: HashSet<(String, String)>,
}

fn counter(name: &str, pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(std::iter::once(("__name__", name)).chain(pairs.iter().copied()))
}

fn le_text(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".to_string()
    } else {
        format!("{le:?}")
    }
}

fn buckets_of(name: &str) -> &'static [f64] {
    if name == LEAD_TIME {
        &LEAD_TIME_BUCKETS
    } else {
        &RECOVERY_BUCKETS
    }
}

/// Every series of the histogram `name` for `service`, with the value an observation of `v`
/// adds to each: buckets (in bound order, `+Inf` last), `_count`, `_sum`.
fn histogram_parts(name: &str, service: &str, v: f64) -> Vec<(Labels, f64)> {
    let bucket = format!("{name}_bucket");
    let mut out: Vec<(Labels, f64)> = buckets_of(name)
        .iter()
        .copied()
        .chain(std::iter::once(f64::INFINITY))
        .map(|le| {
            let labels = counter(&bucket, &[("service", service), ("le", &le_text(le))]);
            (labels, if v <= le { 1.0 } else { 0.0 })
        })
        .collect();
    out.push((counter(&format!("{name}_count"), &[("service", service)]), 1.0));
    out.push((counter(&format!("{name}_sum"), &[("service", service)]), v));
    out
}

/// The newest sample of exactly `labels` in `store`.
pub fn newest_stored(store: &Storage, labels: &Labels) -> Option<(i64, f64)> {
    let matchers: Vec<Matcher> = labels.iter().map(|l| Matcher::equal(&l.name, &l.value)).collect();
    store
        .select(&matchers, i64::MIN, i64::MAX)
        .into_iter()
        .find(|s| s.labels == *labels)
        .and_then(|s| s.samples.last().map(|x| (x.t, x.v)))
}

impl SeriesWriter {
    /// A writer that has counted nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The newest (time, value) of `labels`: what this writer wrote, else what `stored` finds.
    fn last(
        &mut self,
        labels: &Labels,
        stored: &dyn Fn(&Labels) -> Option<(i64, f64)>,
    ) -> Option<(i64, f64)> {
        if let Some(x) = self.series.get(labels) {
            return Some(*x);
        }
        let found = stored(labels)?;
        self.series.insert(labels.clone(), found);
        Some(found)
    }

    /// Every series `event` could add to, with the time it would add at (for the time-order
    /// check, made before anything is counted).
    fn touched(&self, event: &Event, batch: &HashMap<&str, (&str, i64)>) -> Vec<(Labels, i64)> {
        let mut out = Vec::new();
        match event {
            Event::Deployment(d) => {
                let s = d.service.as_str();
                out.push((
                    counter(DEPLOYMENTS, &[("service", s), ("status", d.status.as_str())]),
                    d.time_ms,
                ));
                if d.remediation {
                    out.push((counter(REWORK, &[("service", s)]), d.time_ms));
                }
                if d.status == DeployStatus::Failure {
                    out.push((counter(FAILED, &[("service", s)]), d.time_ms));
                }
                if d.status == DeployStatus::Success && !d.commits.is_empty() {
                    out.push((
                        counter(&format!("{LEAD_TIME}_count"), &[("service", s)]),
                        d.time_ms,
                    ));
                }
            }
            Event::Incident(i) => {
                out.push((counter(INCIDENTS, &[("service", &i.service)]), i.start_ms));
                if let Some(dep) = &i.deployment {
                    let (service, t) = self.failure_stamp(dep, &i.service, i.start_ms, batch);
                    out.push((counter(FAILED, &[("service", &service)]), t));
                    if let Some(r) = i.resolved_ms {
                        out.push((
                            counter(&format!("{RECOVERY}_count"), &[("service", &i.service)]),
                            r,
                        ));
                    }
                }
            }
        }
        out
    }

    /// Where and when an incident naming deployment `dep` marks it failed: under the
    /// deployment's service, not before the deployment itself (an unknown deployment: the
    /// incident's service and start).
    fn failure_stamp(
        &self,
        dep: &str,
        incident_service: &str,
        start: i64,
        batch: &HashMap<&str, (&str, i64)>,
    ) -> (String, i64) {
        if let Some((service, t)) = batch.get(dep) {
            return (service.to_string(), start.max(*t));
        }
        match self.deployments.get(dep) {
            Some(k) => (k.service.clone(), start.max(k.time_ms)),
            None => (incident_service.to_string(), start),
        }
    }

    /// Counts the events of `log` (whose own parse errors the caller already has) and returns
    /// the samples to store. `stored` gives the newest stored sample of a series this writer has
    /// not written yet (use [`newest_stored`] over the target store, or `|_| None`).
    pub fn write(&mut self, log: &EventLog, stored: &dyn Fn(&Labels) -> Option<(i64, f64)>) -> Batch {
        let mut errors = Vec::new();
        let mut events: Vec<(Position, Event)> = Vec::new();
        for (p, d) in &log.deployments {
            if self.deployments.contains_key(&d.id) {
                errors.push(EventError {
                    position: *p,
                    reason: format!(
                        "duplicate deployment id {:?} (already received; not counted again)",
                        d.id
                    ),
                });
            } else {
                events.push((*p, Event::Deployment(d.clone())));
            }
        }
        for (p, i) in &log.incidents {
            if self.incident_ids.contains(&i.id) {
                errors.push(EventError {
                    position: *p,
                    reason: format!(
                        "duplicate incident id {:?} (already received; not counted again)",
                        i.id
                    ),
                });
            } else {
                events.push((*p, Event::Incident(i.clone())));
            }
        }
        let batch_deployments: HashMap<&str, (&str, i64)> = log
            .deployments
            .iter()
            .filter(|(_, d)| !self.deployments.contains_key(&d.id))
            .map(|(_, d)| (d.id.as_str(), (d.service.as_str(), d.time_ms)))
            .collect();

        // The time-order check, against what was stored before this batch only: within the
        // batch, observations are sorted before they are written.
        let mut accepted: Vec<(Position, Event)> = Vec::new();
        for (p, e) in events {
            let mut conflict = None;
            for (labels, t) in self.touched(&e, &batch_deployments) {
                if let Some((last, _)) = self.last(&labels, stored)
                    && t <= last
                {
                    conflict = Some((labels, t, last));
                    break;
                }
            }
            match conflict {
                Some((labels, t, last)) => errors.push(EventError {
                    position: p,
                    reason: format!(
                        "{} {:?} at {} is not newer than the last sample of {labels} at {}; DORA \
                         series only move forward, so send older events first",
                        e.kind(),
                        e.id(),
                        super::metrics::format_time(t),
                        super::metrics::format_time(last),
                    ),
                }),
                None => accepted.push((p, e)),
            }
        }
        // Deployments before incidents at equal times, so an incident can name a deployment
        // of the same instant; then by time, then input position.
        accepted.sort_by_key(|(p, e)| match e {
            Event::Deployment(d) => (d.time_ms, 0, *p),
            Event::Incident(i) => (i.start_ms, 1, *p),
        });
        for (_, e) in &accepted {
            if let Event::Deployment(d) = e {
                self.deployments.insert(
                    d.id.clone(),
                    KnownDeployment {
                        service: d.service.clone(),
                        time_ms: d.time_ms,
                    },
                );
            }
        }
        let mut obs = Vec::new();
        for (_, e) in &accepted {
            self.observe(e, &mut obs);
        }
        obs.sort_by_key(|o| o.t);
        errors.sort_by_key(|e| e.position);
        Batch {
            samples: self.apply(obs, stored),
            accepted: accepted.len(),
            errors,
        }
    }

    /// The observations of one accepted event, updating what has been counted.
    fn observe(&mut self, e: &Event, obs: &mut Vec<Observation>) {
        match e {
            Event::Deployment(d) => {
                let s = d.service.as_str();
                obs.push(Observation {
                    t: d.time_ms,
                    target: Target::Counter(counter(
                        DEPLOYMENTS,
                        &[("service", s), ("status", d.status.as_str())],
                    )),
                });
                if d.remediation {
                    obs.push(Observation {
                        t: d.time_ms,
                        target: Target::Counter(counter(REWORK, &[("service", s)])),
                    });
                }
                if d.status == DeployStatus::Failure && self.failed.insert(d.id.clone()) {
                    obs.push(Observation {
                        t: d.time_ms,
                        target: Target::Counter(counter(FAILED, &[("service", s)])),
                    });
                }
                if d.status == DeployStatus::Success {
                    for c in &d.commits {
                        if self.commits.insert((d.service.clone(), c.sha.clone())) {
                            let lead = (d.time_ms - c.time_ms) as f64 / 1000.0;
                            obs.push(Observation {
                                t: d.time_ms,
                                target: Target::Histogram(LEAD_TIME, d.service.clone(), lead),
                            });
                        }
                    }
                }
            }
            Event::Incident(i) => {
                self.incident_ids.insert(i.id.clone());
                obs.push(Observation {
                    t: i.start_ms,
                    target: Target::Counter(counter(INCIDENTS, &[("service", &i.service)])),
                });
                if let Some(dep) = &i.deployment {
                    if !self.failed.contains(dep) {
                        let (service, t) = self.failure_stamp(dep, &i.service, i.start_ms, &HashMap::new());
                        self.failed.insert(dep.clone());
                        obs.push(Observation {
                            t,
                            target: Target::Counter(counter(FAILED, &[("service", &service)])),
                        });
                    }
                    if let Some(r) = i.resolved_ms {
                        let secs = (r - i.start_ms) as f64 / 1000.0;
                        obs.push(Observation {
                            t: r,
                            target: Target::Histogram(RECOVERY, i.service.clone(), secs),
                        });
                    }
                }
            }
        }
    }

    /// Accumulates time-sorted observations into cumulative samples, one per series and
    /// timestamp, with a 0 sample before the first sample of a new series.
    fn apply(
        &mut self,
        obs: Vec<Observation>,
        stored: &dyn Fn(&Labels) -> Option<(i64, f64)>,
    ) -> Vec<SeriesSample> {
        // Per series: its samples in this batch, in time order.
        let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        for o in obs {
            let parts = match o.target {
                Target::Counter(labels) => vec![(labels, 1.0)],
                Target::Histogram(name, service, v) => histogram_parts(name, &service, v),
            };
            for (labels, add) in parts {
                let prev = self.last(&labels, stored);
                let samples = out.entry(labels.clone()).or_default();
                let value = match prev {
                    Some((_, v)) => v + add,
                    None => {
                        samples.push((o.t - 1, 0.0));
                        add
                    }
                };
                // Several observations at one instant make one sample with their total.
                match samples.last_mut() {
                    Some(last) if last.0 == o.t => last.1 = value,
                    _ => samples.push((o.t, value)),
                }
                self.series.insert(labels, (o.t, value));
            }
        }
        out.into_iter()
            .flat_map(|(labels, samples)| {
                samples.into_iter().map(move |(t, v)| SeriesSample {
                    labels: labels.clone(),
                    t,
                    v,
                })
            })
            .collect()
    }
}

/// What appending a batch to a store did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppendOutcome {
    /// The batch (its errors are the refused events).
    pub batch: Batch,
    /// Samples the store took.
    pub stored: usize,
    /// Refusals by the store itself (another writer added to a DORA series meanwhile).
    pub store_errors: Vec<String>,
}

/// Counts `log` with `writer` and appends the samples to `store`.
pub fn append_events(store: &mut Storage, writer: &mut SeriesWriter, log: &EventLog) -> AppendOutcome {
    let batch = {
        let view: &Storage = store;
        writer.write(log, &|l: &Labels| newest_stored(view, l))
    };
    let mut stored = 0;
    let mut store_errors = Vec::new();
    for s in &batch.samples {
        match store.append(&s.labels, s.t, s.v) {
            Ok(_) => stored += 1,
            Err(e) => store_errors.push(e.to_string()),
        }
    }
    AppendOutcome {
        batch,
        stored,
        store_errors,
    }
}

fn format_labels(out: &mut String, labels: &Labels) {
    let mut first = true;
    for l in labels.iter().filter(|l| l.name != "__name__") {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{}=\"{}\"", l.name, escape_openmetrics(&l.value));
    }
    if !first {
        out.push('}');
    }
}

/// OpenMetrics label-value escaping: backslash, double quote and line feed.
fn escape_openmetrics(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A sample value as the Prometheus exposition writes it (Go's `'g'`; whole counts as digits).
fn format_value(v: f64) -> String {
    burnwatch_gofmt::format_exposition(v)
}

/// Milliseconds as OpenMetrics seconds with three decimals.
fn format_ts(t: i64) -> String {
    let sign = if t < 0 { "-" } else { "" };
    let a = t.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// The samples as an OpenMetrics text with timestamps and the closing `# EOF`: the input of
/// `burnwatch serve --load` and `promtool tsdb create-blocks-from openmetrics`. Families come
/// in a fixed order; a histogram's buckets, `_count` and `_sum` of one instant are together.
pub fn to_openmetrics(samples: &[SeriesSample]) -> String {
    let mut out = String::new();
    for (family, kind, help) in FAMILIES {
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} {kind}");
        if kind == "counter" {
            let name = format!("{family}_total");
            let mut rows: Vec<&SeriesSample> = samples
                .iter()
                .filter(|s| s.labels.metric_name() == Some(name.as_str()))
                .collect();
            rows.sort_by(|a, b| a.labels.cmp(&b.labels).then(a.t.cmp(&b.t)));
            for s in rows {
                out.push_str(&name);
                format_labels(&mut out, &s.labels);
                let _ = writeln!(out, " {} {}", format_value(s.v), format_ts(s.t));
            }
            continue;
        }
        // Histogram: group by service, then timestamp; within an instant, buckets by bound,
        // then _count and _sum.
        let mut points: BTreeMap<(String, i64), Vec<&SeriesSample>> = BTreeMap::new();
        for s in samples {
            let Some(name) = s.labels.metric_name() else {
                continue;
            };
            let Some(rest) = name.strip_prefix(family) else {
                continue;
            };
            if !matches!(rest, "_bucket" | "_count" | "_sum") {
                continue;
            }
            let service = s.labels.get("service").unwrap_or("").to_string();
            points.entry((service, s.t)).or_default().push(s);
        }
        for (_, mut rows) in points {
            let rank = |s: &SeriesSample| -> (u8, f64) {
                match s.labels.metric_name().and_then(|n| n.strip_prefix(family)) {
                    Some("_bucket") => (
                        0,
                        s.labels
                            .get("le")
                            .and_then(|le| {
                                if le == "+Inf" {
                                    Some(f64::INFINITY)
                                } else {
                                    le.parse().ok()
                                }
                            })
                            .unwrap_or(f64::INFINITY),
                    ),
                    Some("_count") => (1, 0.0),
                    _ => (2, 0.0),
                }
            };
            rows.sort_by(|a, b| {
                let (ka, la) = rank(a);
                let (kb, lb) = rank(b);
                ka.cmp(&kb).then(la.total_cmp(&lb))
            });
            for s in rows {
                out.push_str(s.labels.metric_name().unwrap_or(""));
                format_labels(&mut out, &s.labels);
                let _ = writeln!(out, " {} {}", format_value(s.v), format_ts(s.t));
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

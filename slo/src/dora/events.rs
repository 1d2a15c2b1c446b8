//! DORA events (deployments and incidents) and their JSON-lines reader.
//!
//! The schema is documented in the [module overview](super). Reading never stops at a bad
//! event: each line (or array item) that does not parse or validate becomes an [`EventError`]
//! naming its position and the reason, and the good events are kept.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;

use crate::api::params::parse_rfc3339;

/// Whether a deployment reached production.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeployStatus {
    /// The deployment finished and the new version serves traffic.
    Success,
    /// The deployment itself failed (and needs a rollback or a fix).
    Failure,
}

impl DeployStatus {
    /// The schema's spelling, also the `status` label of `dora_deployments_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Success => "success",
            DeployStatus::Failure => "failure",
        }
    }
}

/// One commit a deployment carries to production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The commit id (any non-empty string; usually a git SHA).
    pub sha: String,
    /// When the change was committed, milliseconds since the Unix epoch.
    pub time_ms: i64,
}

/// A deployment to production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// Unique among deployments.
    pub id: String,
    /// The service deployed.
    pub service: String,
    /// When the deployment finished, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Whether it succeeded.
    pub status: DeployStatus,
    /// The commits it carried (may be empty: a configuration-only deployment).
    pub commits: Vec<Commit>,
    /// Whether it was an unplanned deployment made to fix a problem in production (rework).
    pub remediation: bool,
}

/// A production incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    /// Unique among incidents.
    pub id: String,
    /// The service affected.
    pub service: String,
    /// When the failure began, milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// When service was restored, or `None` while the incident is open.
    pub resolved_ms: Option<i64>,
    /// The id of the deployment that caused it, if one did.
    pub deployment: Option<String>,
}

/// One event of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A deployment.
    Deployment(Deployment),
    /// An incident.
    Incident(Incident),
}

impl Event {
    /// The event's id.
    pub fn id(&self) -> &str {
        match self {
            Event::Deployment(d) => &d.id,
            Event::Incident(i) => &i.id,
        }
    }

    /// The schema's `type` value.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Deployment(_) => "deployment",
            Event::Incident(_) => "incident",
        }
    }
}

impl Event {
    /// The event in the schema's JSON, as [`parse_event`] reads it back (times as RFC 3339 with
    /// millisecond precision, the precision events are kept in).
    pub fn to_json(&self) -> serde_json::Value {
        use crate::api::params::format_rfc3339 as t;
        match self {
            Event::Deployment(d) => serde_json::json!({
                "type": "deployment",
                "id": d.id,
                "service": d.service,
                "time": t(d.time_ms),
                "status": d.status.as_str(),
                "commits": d.commits.iter()
                    .map(|c| serde_json::json!({"sha": c.sha, "time": t(c.time_ms)}))
                    .collect::<Vec<_>>(),
                "remediation": d.remediation,
            }),
            Event::Incident(i) => serde_json::json!({
                "type": "incident",
                "id": i.id,
                "service": i.service,
                "start": t(i.start_ms),
                "resolved": i.resolved_ms.map(t),
                "deployment": i.deployment,
            }),
        }
    }
}

/// Where an event sat in its input: a line of a JSON-lines text or an item of a JSON array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Position {
    /// 1-based line number.
    Line(usize),
    /// 1-based index in a JSON array.
    Item(usize),
}

impl Position {
    /// The number, whichever kind it is.
    pub fn number(self) -> usize {
        match self {
            Position::Line(n) | Position::Item(n) => n,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Item(n) => write!(f, "item {n}"),
        }
    }
}

/// An event that was skipped, with where it was and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{position}: {reason}")]
pub struct EventError {
    /// Where the event was.
    pub position: Position,
    /// Why it was skipped.
    pub reason: String,
}

/// A body that is not events at all (as opposed to one bad event in it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is not UTF-8.
    #[error("the body is not UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// The body starts with `[` but is not a JSON array.
    #[error("the body starts with '[' but is not a JSON array: {0}")]
    BadArray(String),
}

/// The events read from one input, in input order, with their positions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventLog {
    /// The deployments with the position each came from.
    pub deployments: Vec<(Position, Deployment)>,
    /// The incidents with the position each came from.
    pub incidents: Vec<(Position, Incident)>,
    /// Where each id was first seen, by (type, id), for the duplicate check.
    seen: HashMap<(&'static str, String), Position>,
}

impl EventLog {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.deployments.len() + self.incidents.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `event`, refusing an id already used by an event of the same type (the first stays).
    pub fn push(&mut self, position: Position, event: Event) -> Result<(), EventError> {
        let key = (event.kind(), event.id().to_string());
        if let Some(first) = self.seen.get(&key) {
            return Err(EventError {
                position,
                reason: format!(
                    "duplicate {} id {:?} (first seen at {first}; the first is kept)",
                    event.kind(),
                    event.id()
                ),
            });
        }
        self.seen.insert(key, position);
        match event {
            Event::Deployment(d) => self.deployments.push((position, d)),
            Event::Incident(i) => self.incidents.push((position, i)),
        }
        Ok(())
    }
}

/// The wire form of an event, before validation. Unknown fields are refused so that a typo
/// (`remediaton`) fails loudly instead of silently changing a metric.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawEvent {
    Deployment {
        id: String,
        service: String,
        time: String,
        status: RawStatus,
        #[serde(default)]
        commits: Vec<RawCommit>,
        #[serde(default)]
        remediation: bool,
    },
    Incident {
        id: String,
        service: String,
        start: String,
        // Required but nullable: `"resolved": null` says "still open" explicitly, so a
        // forgotten field is reported rather than read as an open incident.
        resolved: Option<String>,
        #[serde(default)]
        deployment: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawStatus {
    Success,
    Failure,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommit {
    sha: String,
    time: String,
}

/// `resolved` is required even when null; serde treats a missing `Option` field as `None`, so
/// presence is checked on the JSON value first.
fn check_required_nullable(value: &serde_json::Value) -> Result<(), String> {
    if value.get("type").and_then(|t| t.as_str()) == Some("incident") && value.get("resolved").is_none() {
        return Err("missing field `resolved` (use null for an open incident)".to_string());
    }
    Ok(())
}

/// The oldest event time accepted: the Unix epoch. Year 0 or 1 is a default value leaking out
/// of a tool, not a deployment.
pub const MIN_EVENT_TIME_MS: i64 = 0;

fn timestamp(field: &str, s: &str) -> Result<i64, String> {
    let t = parse_rfc3339(s).ok_or_else(|| {
        format!("field `{field}`: {s:?} is not an RFC 3339 timestamp such as 2024-05-01T12:00:00Z")
    })?;
    // Events become samples at their own times, and the store's retention counts back from
    // the newest sample: one event stamped 2199 would age out every other series. The same
    // bound as every other ingest path (10 minutes after the clock, as Prometheus's scrape
    // loop), and nothing before 1970.
    let max = crate::tsdb::max_valid_time(crate::tsdb::wall_clock_ms());
    if !(MIN_EVENT_TIME_MS..=max).contains(&t) {
        return Err(format!(
            "field `{field}`: {s} is outside the accepted range, 1970-01-01T00:00:00Z to 10 minutes after \
             the server's clock ({})",
            crate::api::params::format_rfc3339(max)
        ));
    }
    Ok(t)
}

fn non_empty(field: &str, s: String) -> Result<String, String> {
    if s.trim().is_empty() {
        Err(format!("field `{field}` must not be empty"))
    } else {
        Ok(s)
    }
}

/// Validates one decoded event: timestamps parse, ids are non-empty, no commit is newer than
/// its deployment and no incident resolves before it starts.
fn validate(raw: RawEvent) -> Result<Event, String> {
    match raw {
        RawEvent::Deployment {
            id,
            service,
            time,
            status,
            commits,
            remediation,
        } => {
            let id = non_empty("id", id)?;
            let service = non_empty("service", service)?;
            let time_ms = timestamp("time", &time)?;
            let mut out = Vec::with_capacity(commits.len());
            for (i, c) in commits.into_iter().enumerate() {
                let sha = non_empty(&format!("commits[{i}].sha"), c.sha)?;
                let t = timestamp(&format!("commits[{i}].time"), &c.time)?;
                // A negative lead time means a clock or data error; counting it would pull the
                // median down silently.
                if t > time_ms {
                    return Err(format!(
                        "commits[{i}] ({sha}) time {} is after the deployment time {time}",
                        c.time
                    ));
                }
                out.push(Commit { sha, time_ms: t });
            }
            Ok(Event::Deployment(Deployment {
                id,
                service,
                time_ms,
                status: match status {
                    RawStatus::Success => DeployStatus::Success,
                    RawStatus::Failure => DeployStatus::Failure,
                },
                commits: out,
                remediation,
            }))
        }
        RawEvent::Incident {
            id,
            service,
            start,
            resolved,
            deployment,
        } => {
            let id = non_empty("id", id)?;
            let service = non_empty("service", service)?;
            let start_ms = timestamp("start", &start)?;
            let resolved_ms = match resolved {
                None => None,
                Some(r) => {
                    let t = timestamp("resolved", &r)?;
                    if t < start_ms {
                        return Err(format!("resolved {r} is before start {start}"));
                    }
                    Some(t)
                }
            };
            let deployment = match deployment {
                Some(d) => Some(non_empty("deployment", d)?),
                None => None,
            };
            Ok(Event::Incident(Incident {
                id,
                service,
                start_ms,
                resolved_ms,
                deployment,
            }))
        }
    }
}

/// Decodes and validates one event from its JSON value.
pub fn event_from_value(value: serde_json::Value) -> Result<Event, String> {
    if !value.is_object() {
        return Err("an event must be a JSON object".to_string());
    }
    if value.get("type").is_none() {
        return Err("missing field `type` (\"deployment\" or \"incident\")".to_string());
    }
    check_required_nullable(&value)?;
    let raw: RawEvent = serde_json::from_value(value).map_err(|e| e.to_string())?;
    validate(raw)
}

/// Decodes and validates one event from a line of JSON.
pub fn parse_event(line: &str) -> Result<Event, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    event_from_value(value)
}

/// Reads a JSON-lines text: one event per line, blank lines ignored. Bad lines and duplicate ids
/// come back as errors in line order; every good event is kept.
pub fn parse_jsonl(text: &str) -> (EventLog, Vec<EventError>) {
    parse_jsonl_bytes(text.as_bytes())
}

/// Like [`parse_jsonl`] over raw bytes: a line that is not UTF-8 is one bad line (reported
/// with its number and the byte column of the first invalid byte), not a reason to drop the
/// whole input.
pub fn parse_jsonl_bytes(bytes: &[u8]) -> (EventLog, Vec<EventError>) {
    let mut log = EventLog::default();
    let mut errors = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let position = Position::Line(i + 1);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = match std::str::from_utf8(raw) {
            Ok(l) => l,
            Err(e) => {
                errors.push(EventError {
                    position,
                    reason: format!(
                        "the line is not valid UTF-8 (invalid byte 0x{:02x} at column {})",
                        raw.get(e.valid_up_to()).copied().unwrap_or(0),
                        e.valid_up_to() + 1
                    ),
                });
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_event(line) {
            Ok(event) => {
                if let Err(e) = log.push(position, event) {
                    errors.push(e);
                }
            }
            Err(reason) => errors.push(EventError { position, reason }),
        }
    }
    (log, errors)
}

/// Reads a request body: a JSON array of events when it starts with `[`, JSON lines otherwise
/// (where a line that is not UTF-8 is one bad line, as in [`parse_jsonl_bytes`]).
pub fn parse_body(body: &[u8]) -> Result<(EventLog, Vec<EventError>), BodyError> {
    if !body.trim_ascii_start().starts_with(b"[") {
        return Ok(parse_jsonl_bytes(body));
    }
    let text = std::str::from_utf8(body).map_err(|e| BodyError::NotUtf8(e.valid_up_to()))?;
    let items: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| BodyError::BadArray(e.to_string()))?;
    let mut log = EventLog::default();
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let position = Position::Item(i + 1);
        match event_from_value(item) {
            Ok(event) => {
                if let Err(e) = log.push(position, event) {
                    errors.push(e);
                }
            }
            Err(reason) => errors.push(EventError { position, reason }),
        }
    }
    Ok((log, errors))
}

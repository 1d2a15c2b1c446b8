//! The recent DORA events a server was sent, read back with their links: a failed deployment
//! names the incidents it caused, an incident names the deployment that caused it and when
//! service was restored (failed deployment → incident → recovery).
//!
//! The `dora_*` series hold counts and histograms, not ids, so the list comes from a bounded
//! memory of the events themselves ([`RecentLog`], the newest [`KEEP`] by time), served as `GET
//! /api/v1/dora/events?limit=N` by `burnwatch serve` and `up` ([`crate::api::dora`]) and read
//! by [`fetch`]. A Prometheus server has no such endpoint: [`fetch`] then answers `Ok(None)`.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::events::{DeployStatus, Event};
use crate::api::client::{ClientError, Endpoint};

/// How many events a [`RecentLog`] keeps (the newest by time).
pub const KEEP: usize = 1_000;

/// How many events a list gives when the request does not say.
pub const DEFAULT_LIMIT: usize = 50;

/// One deployment or incident, with its links.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentEvent {
    /// `deployment` or `incident`.
    pub kind: String,
    /// The event's id.
    pub id: String,
    /// The service.
    pub service: String,
    /// The deployment's time or the incident's start, ms since the epoch.
    pub time_ms: i64,
    /// A deployment's status (`success` or `failure`).
    #[serde(default)]
    pub status: Option<String>,
    /// A deployment that failed: status `failure`, or named by an incident.
    #[serde(default)]
    pub failed: bool,
    /// A remediation (rework) deployment.
    #[serde(default)]
    pub remediation: bool,
    /// A deployment's incidents (those naming it), in start order.
    #[serde(default)]
    pub incidents: Vec<String>,
    /// An incident's cause, the deployment it names.
    #[serde(default)]
    pub deployment: Option<String>,
    /// When an incident was resolved (`None` while open), ms since the epoch.
    #[serde(default)]
    pub resolved_ms: Option<i64>,
    /// An incident's recovery time, seconds (`None` while open).
    #[serde(default)]
    pub recovery_s: Option<f64>,
}

/// A list of recent events, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentEvents {
    /// The events, newest first.
    pub events: Vec<RecentEvent>,
    /// How many events the server holds (the list may be shorter).
    pub total: usize,
}

/// A bounded memory of the newest events by time.
#[derive(Clone, Debug, Default)]
pub struct RecentLog {
    events: Vec<Event>,
}

fn time_of(e: &Event) -> i64 {
    match e {
        Event::Deployment(d) => d.time_ms,
        Event::Incident(i) => i.start_ms,
    }
}

impl RecentLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers `event`; past twice [`KEEP`], the oldest are forgotten down to [`KEEP`].
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
        if self.events.len() > 2 * KEEP {
            self.trim();
        }
    }

    fn trim(&mut self) {
        self.events.sort_by_key(|e| std::cmp::Reverse(time_of(e)));
        self.events.truncate(KEEP);
    }

    /// How many events are held (at most [`KEEP`] once listed).
    pub fn len(&self) -> usize {
        self.events.len().min(KEEP)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The newest `limit` events, newest first, linked: deployments with the incidents that
    /// name them (among the held events), incidents with their recovery.
    pub fn list(&mut self, limit: usize) -> RecentEvents {
        self.trim();
        let mut caused: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
        for e in &self.events {
            if let Event::Incident(i) = e
                && let Some(d) = &i.deployment
            {
                caused
                    .entry(d.as_str())
                    .or_default()
                    .push((i.start_ms, i.id.as_str()));
            }
        }
        let events = self
            .events
            .iter()
            .take(limit)
            .map(|e| match e {
                Event::Deployment(d) => {
                    let mut incidents = caused.get(d.id.as_str()).cloned().unwrap_or_default();
                    incidents.sort();
                    RecentEvent {
                        kind: "deployment".into(),
                        id: d.id.clone(),
                        service: d.service.clone(),
                        time_ms: d.time_ms,
                        status: Some(d.status.as_str().to_string()),
                        failed: d.status == DeployStatus::Failure || !incidents.is_empty(),
                        remediation: d.remediation,
                        incidents: incidents.into_iter().map(|(_, id)| id.to_string()).collect(),
                        ..RecentEvent::default()
                    }
                }
                Event::Incident(i) => RecentEvent {
                    kind: "incident".into(),
                    id: i.id.clone(),
                    service: i.service.clone(),
                    time_ms: i.start_ms,
                    deployment: i.deployment.clone(),
                    resolved_ms: i.resolved_ms,
                    recovery_s: i.resolved_ms.map(|r| (r - i.start_ms) as f64 / 1000.0),
                    ..RecentEvent::default()
                },
            })
            .collect();
        RecentEvents {
            events,
            total: self.events.len(),
        }
    }
}

/// Reads the newest `limit` events from the server at `endpoint` (`GET
/// /api/v1/dora/events?limit=N`); `Ok(None)` when the server has no such list (404: a
/// Prometheus server).
///
/// # Errors
///
/// A transport error, 401, or an answer that is not the list.
pub async fn fetch(
    endpoint: &Endpoint,
    timeout: Duration,
    limit: usize,
) -> Result<Option<RecentEvents>, ClientError> {
    let path = format!("/api/v1/dora/events?limit={limit}");
    match endpoint.get_data(&path, timeout).await {
        Ok(data) => serde_json::from_value(data)
            .map(Some)
            .map_err(|e| ClientError::Malformed {
                url: format!("{}{path}", endpoint.base_url()),
                status: 200,
                reason: format!("not a list of DORA events: {e}"),
            }),
        Err(ClientError::Malformed {
            status: 404 | 405, ..
        })
        | Err(ClientError::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dora::parse_jsonl;

    #[test]
    fn a_failed_deployment_links_to_its_incident_and_the_recovery() {
        let text = r#"{"type":"deployment","id":"d1","service":"api","time":"2024-05-01T10:00:00Z","status":"success"}
{"type":"deployment","id":"d2","service":"api","time":"2024-05-01T12:00:00Z","status":"success"}
{"type":"incident","id":"i1","service":"api","start":"2024-05-01T12:10:00Z","resolved":"2024-05-01T13:00:00Z","deployment":"d2"}
{"type":"deployment","id":"d3","service":"api","time":"2024-05-01T13:00:00Z","status":"failure","remediation":true}
{"type":"incident","id":"i2","service":"api","start":"2024-05-01T14:00:00Z","resolved":null}"#;
        let (log, errors) = parse_jsonl(text);
        assert!(errors.is_empty(), "{errors:?}");
        let mut recent = RecentLog::new();
        for (_, d) in &log.deployments {
            recent.push(Event::Deployment(d.clone()));
        }
        for (_, i) in &log.incidents {
            recent.push(Event::Incident(i.clone()));
        }
        let list = recent.list(4);
        assert_eq!(list.total, 5);
        let ids: Vec<&str> = list.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["i2", "d3", "i1", "d2"]);
        let d2 = &list.events[3];
        assert!(d2.failed && d2.incidents == ["i1"], "{d2:?}");
        let i1 = &list.events[2];
        assert_eq!(i1.deployment.as_deref(), Some("d2"));
        assert_eq!(i1.recovery_s, Some(3000.0));
        let d3 = &list.events[1];
        assert!(d3.failed && d3.remediation && d3.incidents.is_empty(), "{d3:?}");
        assert_eq!(
            (list.events[0].resolved_ms, list.events[0].recovery_s),
            (None, None)
        );
    }

    /// The list `burnwatch serve` gives back over HTTP is the one posted, linked; a server
    /// without the endpoint gives `None`; a bad limit is a 400 naming the parameter.
    #[test]
    fn posted_events_are_listed_back_over_http() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let state = crate::api::ApiState::new(crate::shared::new_shared(), crate::promql::EngineOptions::default());
            tokio::spawn(crate::api::serve(listener, state, std::future::pending()));
            let url = format!("http://{addr}");
            let body = r#"{"type":"deployment","id":"d2","service":"api","time":"2024-05-01T12:00:00Z","status":"success"}
{"type":"incident","id":"i1","service":"api","start":"2024-05-01T12:10:00Z","resolved":"2024-05-01T13:00:00Z","deployment":"d2"}"#;
            let http = reqwest::Client::new();
            let posted = http
                .post(format!("{url}/api/v1/dora/events"))
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(posted.status(), 200);
            let endpoint = Endpoint::plain(&url);
            let list = fetch(&endpoint, Duration::from_secs(30), 10).await.unwrap().unwrap();
            assert_eq!(list.total, 2);
            assert_eq!(list.events[0].id, "i1");
            assert_eq!(list.events[1].incidents, ["i1"]);
            assert!(list.events[1].failed);
            let bad = http.get(format!("{url}/api/v1/dora/events?limit=-1")).send().await.unwrap();
            assert_eq!(bad.status(), 400);
            let text = bad.text().await.unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["error"], "invalid parameter \"limit\": \"-1\" is not a positive number of events");
            // A server without the list (Prometheus answers 404 with a plain-text body).
            let app = axum::Router::new();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let other = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            let none = fetch(&Endpoint::plain(&format!("http://{other}")), Duration::from_secs(30), 10).await;
            assert!(matches!(none, Ok(None)), "{none:?}");
        });
    }

    #[test]
    fn only_the_newest_are_kept() {
        let mut recent = RecentLog::new();
        for n in 0..(3 * KEEP) {
            let line = format!(
                r#"{{"type":"deployment","id":"d{n}","service":"api","time":"{}","status":"success"}}"#,
                crate::api::params::format_rfc3339(1_700_000_000_000 + n as i64 * 1000)
            );
            let (log, _) = parse_jsonl(&line);
            recent.push(Event::Deployment(log.deployments[0].1.clone()));
        }
        let list = recent.list(2);
        assert_eq!(list.total, KEEP);
        assert_eq!(list.events[0].id, format!("d{}", 3 * KEEP - 1));
    }
}

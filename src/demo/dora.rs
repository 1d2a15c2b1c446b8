//! DORA events for the demo's checkout service, sent to `POST /api/v1/dora/events` (the schema
//! of `burnwatch_slo::dora::events`).
//!
//! - On start, a 30-day history ([`history`]): one to three deployments on a working day, at
//!   most one at a weekend, each carrying commits made hours to days before; about one in
//!   fifteen fails and is followed by a remediation deployment; one incident a week, caused by a
//!   deployment and resolved within hours. It is sent only when the store holds no checkout
//!   deployments yet ([`BACKFILL_CHECK`]), so restarting on the same data directory does not
//!   send it twice (the API would refuse events older than the series' newest sample).
//! - While running ([`live_schedule`]), around every spike of the traffic model: a deployment
//!   30 s before the spike starts (the spike's cause), an incident from the spike's start to its
//!   end naming that deployment (sent when the spike ends, once its resolution time is known),
//!   and a remediation deployment 30 s after it ends. No deployment falls inside a spike (a
//!   deploy freeze during the incident), which also keeps every event newer than the samples
//!   already written, as the API's time-order rule requires.
//!
//! Failures to reach the API are logged and never stop the demo.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use burnwatch_slo::api::params::format_rfc3339;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::model::{Rng, Spike, TrafficModel};

/// The service the events are about (the SLO specs' `service`).
pub const SERVICE: &str = "checkout";

/// The query that tells whether the store already holds deployments of [`SERVICE`]: an empty
/// result means the history has not been sent yet. `last_over_time` over 90 days, because the
/// DORA series are sparse (one sample per event).
pub const BACKFILL_CHECK: &str = "count(last_over_time(dora_deployments_total{service=\"checkout\"}[90d]))";

/// The length of the backfilled history.
pub const HISTORY_DAYS: i64 = 30;

/// How often to try the backfill while the API is not up yet, and the pause between tries.
const BACKFILL_ATTEMPTS: u32 = 10;
const BACKFILL_PAUSE: Duration = Duration::from_secs(2);

/// How long one request to the API may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// When, relative to its spike, the live events happen.
const DEPLOY_BEFORE_SPIKE: Duration = Duration::from_secs(30);
const REMEDIATE_AFTER_SPIKE: Duration = Duration::from_secs(30);

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// What a backfill did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackfillOutcome {
    /// The history was sent; the API counted `accepted` events and refused `rejected`.
    Sent {
        /// Events the API counted.
        accepted: u64,
        /// Events the API refused (each logged with its reason).
        rejected: u64,
    },
    /// The store already had checkout deployments: nothing was sent.
    Skipped,
}

/// One live event of the schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveEvent {
    /// The deployment that precedes (and causes) `spike`.
    Deploy {
        /// The spike it causes.
        spike: Spike,
    },
    /// The incident of `spike`, sent when it ends.
    Incident {
        /// The spike.
        spike: Spike,
    },
    /// The fix after `spike`.
    Remediate {
        /// The spike it fixes.
        spike: Spike,
    },
}

/// The three live events around spike `index`, with the time (since the demo's start) each is
/// sent at, in time order.
pub fn live_schedule(model: &TrafficModel, index: u64) -> [(Duration, LiveEvent); 3] {
    let spike = model.spike(index);
    [
        (
            spike.start.saturating_sub(DEPLOY_BEFORE_SPIKE),
            LiveEvent::Deploy { spike },
        ),
        (spike.end, LiveEvent::Incident { spike }),
        (spike.end + REMEDIATE_AFTER_SPIKE, LiveEvent::Remediate { spike }),
    ]
}

fn millis_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A commit id: twelve hex digits, like an abbreviated git SHA.
fn sha(rng: &mut Rng) -> String {
    format!("{:012x}", rng.next_u64() >> 16)
}

/// `n` commits made between `min_hours` and `max_hours` before `deployed_ms` (log-uniformly, so
/// short lead times are common and long ones happen), oldest first.
fn commits(rng: &mut Rng, n: u64, deployed_ms: i64, min_hours: f64, max_hours: f64) -> Vec<Value> {
    let mut times: Vec<i64> = (0..n)
        .map(|_| {
            let hours = (min_hours.ln() + rng.f64() * (max_hours / min_hours).ln()).exp();
            deployed_ms - (hours * HOUR_MS as f64) as i64
        })
        .collect();
    times.sort_unstable();
    times
        .into_iter()
        .map(|t| json!({"sha": sha(rng), "time": format_rfc3339(t)}))
        .collect()
}

fn deployment(id: &str, time_ms: i64, success: bool, commits: Vec<Value>, remediation: bool) -> Value {
    json!({
        "type": "deployment",
        "id": id,
        "service": SERVICE,
        "time": format_rfc3339(time_ms),
        "status": if success { "success" } else { "failure" },
        "commits": commits,
        "remediation": remediation,
    })
}

fn incident(id: &str, start_ms: i64, resolved_ms: i64, deployment: &str) -> Value {
    json!({
        "type": "incident",
        "id": id,
        "service": SERVICE,
        "start": format_rfc3339(start_ms),
        "resolved": format_rfc3339(resolved_ms),
        "deployment": deployment,
    })
}

/// The 30 days of history before `end_ms` (every event at or before it), in time order.
///
/// Deterministic for a seed and an end. The mix puts checkout in the High-to-Elite range of the
/// DORA report: daily deployments, lead times of hours, a change failure rate around 10%,
/// recovery within hours.
pub fn history(seed: u64, end_ms: i64) -> Vec<Value> {
    let mut rng = Rng::new(seed ^ 0xD07A_0000_0000_0001);
    let first_day = end_ms - HISTORY_DAYS * DAY_MS;
    let mut events: Vec<(i64, Value)> = Vec::new();
    let mut n = 0u64;
    let mut incident_due = false;
    for day in 0..HISTORY_DAYS {
        // One incident a week: due on the fifth day of each week of the window, caused by the
        // first successful deployment from then on.
        incident_due |= day % 7 == 4;
        let day_start = first_day + day * DAY_MS;
        // 1970-01-01 was a Thursday: day number + 4 modulo 7 is 0 on Sundays.
        let weekday = (day_start.div_euclid(DAY_MS) + 4).rem_euclid(7);
        let count = if weekday == 0 || weekday == 6 {
            rng.range(0, 1)
        } else {
            rng.range(1, 3)
        };
        // Working hours of the day (9:00 to 17:00 after the window's start), sorted.
        let mut times: Vec<i64> = (0..count)
            .map(|_| day_start + 9 * HOUR_MS + (rng.f64() * 8.0 * HOUR_MS as f64) as i64)
            .collect();
        times.sort_unstable();
        for time in times {
            n += 1;
            let id = format!("checkout-h{n}");
            let carried_count = rng.range(1, 4);
            let carried = commits(&mut rng, carried_count, time, 0.5, 72.0);
            let failed = rng.f64() < 0.07;
            events.push((time, deployment(&id, time, !failed, carried, false)));
            if failed {
                // The fix: a remediation deployment within the next one and a half hours.
                n += 1;
                let fix_time = time + (20 + rng.range(0, 70) as i64) * 60_000;
                let fix = commits(&mut rng, 1, fix_time, 0.2, 1.0);
                events.push((
                    fix_time,
                    deployment(&format!("checkout-h{n}"), fix_time, true, fix, true),
                ));
            } else if incident_due {
                incident_due = false;
                let start = time + (5 + rng.range(0, 55) as i64) * 60_000;
                let resolved = start + (15 + rng.range(0, 345) as i64) * 60_000;
                events.push((
                    start,
                    incident(&format!("checkout-i{day}"), start, resolved.min(end_ms), &id),
                ));
            }
        }
    }
    events.retain(|(t, _)| *t <= end_ms);
    events.sort_by_key(|(t, _)| *t);
    events.into_iter().map(|(_, e)| e).collect()
}

/// Sends the demo's DORA events to one API.
pub struct Sender {
    client: reqwest::Client,
    api_url: String,
    seed: u64,
    started_wall: SystemTime,
    model: TrafficModel,
}

impl Sender {
    /// A sender to `api_url` (such as `http://127.0.0.1:9090`) for a demo started at
    /// `started_wall`.
    pub fn new(api_url: &str, seed: u64, started_wall: SystemTime) -> Self {
        Sender {
            // Building a client fails only when the TLS backend cannot start; there is none.
            client: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap_or_default(),
            api_url: api_url.trim_end_matches('/').to_string(),
            seed,
            started_wall,
            model: TrafficModel::default(),
        }
    }

    /// Whether the store already holds checkout deployments.
    pub async fn has_history(&self) -> anyhow::Result<bool> {
        let url = format!("{}/api/v1/query", self.api_url);
        let response = self
            .client
            .get(&url)
            .query(&[("query", BACKFILL_CHECK)])
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
        if !status.is_success() {
            bail!("{url} answered {status}: {body}");
        }
        let Some(result) = body.pointer("/data/result").and_then(Value::as_array) else {
            bail!("{url} answered without data.result: {body}");
        };
        Ok(!result.is_empty())
    }

    /// Posts `events` as JSON lines; returns (accepted, rejected), logging each refusal.
    pub async fn post(&self, events: &[Value]) -> anyhow::Result<(u64, u64)> {
        let url = format!("{}/api/v1/dora/events", self.api_url);
        let mut body = String::new();
        for e in events {
            body.push_str(&e.to_string());
            body.push('\n');
        }
        let response = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
        let accepted = reply.get("accepted").and_then(Value::as_u64).unwrap_or(0);
        let rejected = reply.get("rejected").and_then(Value::as_u64).unwrap_or(0);
        if let Some(errors) = reply.get("errors").and_then(Value::as_array) {
            for e in errors {
                tracing::warn!(url = %url, error = %e, "The API refused a demo DORA event.");
            }
        }
        if !status.is_success() {
            bail!("{url} answered {status}: {reply}");
        }
        Ok((accepted, rejected))
    }

    /// Sends the 30-day history ending 10 minutes before the demo started, unless the store
    /// already has checkout deployments. One try.
    pub async fn backfill(&self) -> anyhow::Result<BackfillOutcome> {
        if self.has_history().await? {
            return Ok(BackfillOutcome::Skipped);
        }
        let end_ms = millis_since_epoch(self.started_wall) - 10 * 60_000;
        let events = history(self.seed, end_ms);
        let (accepted, rejected) = self.post(&events).await?;
        Ok(BackfillOutcome::Sent { accepted, rejected })
    }

    /// The JSON of a live event, stamped relative to the demo's start.
    pub fn live_json(&self, event: &LiveEvent, rng: &mut Rng) -> Value {
        let base = millis_since_epoch(self.started_wall);
        let at = |d: Duration| base + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2);
        // Ids carry the demo's start second, so a restart on the same data never reuses one.
        let run = base / 1000;
        match event {
            LiveEvent::Deploy { spike } => {
                let time = at(spike.start.saturating_sub(DEPLOY_BEFORE_SPIKE));
                let count = rng.range(1, 3);
                let carried = commits(rng, count, time, 0.3, 8.0);
                deployment(
                    &format!("checkout-{run}-{}", spike.index * 2),
                    time,
                    true,
                    carried,
                    false,
                )
            }
            LiveEvent::Incident { spike } => incident(
                &format!("checkout-{run}-inc-{}", spike.index),
                at(spike.start),
                at(spike.end),
                &format!("checkout-{run}-{}", spike.index * 2),
            ),
            LiveEvent::Remediate { spike } => {
                let time = at(spike.end + REMEDIATE_AFTER_SPIKE);
                let fix = commits(rng, 1, time, 0.1, 0.5);
                deployment(
                    &format!("checkout-{run}-{}", spike.index * 2 + 1),
                    time,
                    true,
                    fix,
                    true,
                )
            }
        }
    }

    /// The backfill (retried while the API comes up), then the live events until `stop` fires.
    pub async fn run(self, started: Instant, stop: CancellationToken) {
        for attempt in 1..=BACKFILL_ATTEMPTS {
            // A stop does not wait for a request in flight (up to REQUEST_TIMEOUT).
            let outcome = tokio::select! {
                () = stop.cancelled() => return,
                outcome = self.backfill() => outcome,
            };
            match outcome {
                Ok(BackfillOutcome::Sent { accepted, rejected }) => {
                    tracing::info!(accepted, rejected, "Sent the demo's 30-day DORA history.");
                    break;
                }
                Ok(BackfillOutcome::Skipped) => {
                    tracing::info!("The store already has checkout deployments; no DORA history sent.");
                    break;
                }
                Err(e) if attempt < BACKFILL_ATTEMPTS => {
                    tracing::debug!(attempt, error = %format!("{e:#}"), "The DORA backfill will be retried.");
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "Gave up sending the demo's DORA history.");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(BACKFILL_PAUSE) => {}
            }
        }
        let mut rng = Rng::new(self.seed ^ millis_since_epoch(self.started_wall) as u64);
        for index in 0.. {
            for (due, event) in live_schedule(&self.model, index) {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep_until((started + due).into()) => {}
                }
                let json = self.live_json(&event, &mut rng);
                let posted = tokio::select! {
                    () = stop.cancelled() => return,
                    posted = self.post(std::slice::from_ref(&json)) => posted,
                };
                if let Err(e) = posted {
                    tracing::warn!(error = %format!("{e:#}"), event = %json, "Could not send a demo DORA event.");
                }
            }
        }
    }
}

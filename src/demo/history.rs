//! Thirty days of the demo service's past traffic, sent once per store through Prometheus remote
//! write (`POST /api/v1/write`), so the SLOs' 30-day periods start out holding a month, not the
//! few minutes the demo has run.
//!
//! Without it, "budget left" (Sloth's `1 - period error ratio / budget`) is computed over minutes
//! of data: the first spike sends it to -2000%, which is right for those minutes and useless as a
//! demo. With it, the month carries the base error rate and an outage at each incident of the
//! demo's DORA history, so the budget starts partly spent, and live spikes visibly spend more.
//!
//! The history is a separate set of series (`instance="demo-history"`) with the labels the SLO
//! queries select on (`job="shop/checkout"`, `http_route`, `http_request_method`,
//! `http_response_status_code`), so it never collides with the live series and every `sum()` in
//! the SLOs adds the two. Counts are the model's expected values, accumulated and rounded, one
//! point every [`STEP_MS`]: a 5m rate over the history is not meaningful, a 30d one is.
//!
//! The payment route's requests are also written as the spanmetrics connector's series of their
//! server spans (`traces_span_metrics_calls_total`, `traces_span_metrics_duration_milliseconds_*`,
//! per `status_code`, the connector's default buckets), so the SLO defined on its traces alone
//! holds a month too.

use std::time::Duration;

use anyhow::{Context as _, bail};
use burnwatch_slo::ingest::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode_write_request};
use serde_json::Value;

use burnwatch_collector::connectors::spanmetrics::config::DEFAULT_BUCKETS_MS;

use super::model::{LogNormal, ROUTES, Route};
use super::traffic::DURATION_BOUNDARIES;

/// One point every five minutes: 8640 per series over 30 days.
pub const STEP_MS: i64 = 300_000;

/// The days of history.
const DAYS: i64 = 30;

/// The base 5xx share of the past month: below the live default, so the month leaves budget.
const BASE_ERROR_SHARE: f64 = 0.0003;

/// The extra 5xx share on every route during a past incident.
const INCIDENT_ERROR_SHARE: f64 = 0.015;

/// How much slower requests are during a past incident.
const INCIDENT_SLOWDOWN: f64 = 2.5;

/// Series per remote-write request: about 2 MB of protobuf each at 8640 points.
const SERIES_PER_REQUEST: usize = 20;

/// Whether the store already has the demo's traffic (live or history): then none is sent.
const CHECK: &str = "count(last_over_time(http_server_requests_total{job=\"shop/checkout\"}[31d]))";

/// The requests per second at `t_ms` over all routes: 35 on average, higher in the day (UTC).
fn request_rate(t_ms: i64) -> f64 {
    let day = std::f64::consts::TAU * (t_ms.rem_euclid(86_400_000) as f64) / 86_400_000.0;
    35.0 * (1.0 - 0.4 * (day).cos())
}

/// `P(Z <= z)` for a standard normal `Z` (Abramowitz and Stegun 7.1.26 for erf: error below
/// 1.5e-7, plenty for bucket shares).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The share of requests at or under `le` seconds.
fn share_within(latency: LogNormal, le: f64) -> f64 {
    if le.is_infinite() {
        return 1.0;
    }
    normal_cdf((le.ln() - latency.median_seconds.ln()) / latency.sigma)
}

/// The past incidents' `[start, resolved)` from the demo's DORA history events.
pub fn incident_spans(events: &[Value]) -> Vec<(i64, i64)> {
    let ms = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(burnwatch_slo::api::params::parse_rfc3339)
    };
    events
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("incident"))
        .filter_map(|e| Some((ms(e.get("start"))?, ms(e.get("resolved"))?)))
        .collect()
}

/// One point of a route-and-status: time, requests, seconds, bucket counts, and the span
/// duration histogram's bucket counts (spanmetrics' default bounds in ms, then `+Inf`).
type Point = (i64, f64, f64, Vec<f64>, Vec<f64>);

/// One route-and-status's cumulative counts.
struct Cumulative {
    route: &'static Route,
    status: u16,
    requests: f64,
    seconds: f64,
    /// Per boundary of [`DURATION_BOUNDARIES`], then `+Inf`.
    buckets: Vec<f64>,
    /// Per boundary of spanmetrics' [`DEFAULT_BUCKETS_MS`], then `+Inf`.
    span_buckets: Vec<f64>,
    points: Vec<Point>,
}

/// The history's series, ending at `end_ms`, with an outage over each of `incidents`.
pub fn series(end_ms: i64, incidents: &[(i64, i64)]) -> Vec<TimeSeries> {
    let start = end_ms - DAYS * 86_400_000;
    let bounds: Vec<f64> = DURATION_BOUNDARIES
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .collect();
    let span_bounds: Vec<f64> = DEFAULT_BUCKETS_MS
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .collect();
    let mut all: Vec<Cumulative> = Vec::new();
    for route in &ROUTES {
        for status in [route.ok_status, route.client_error_status, 500] {
            all.push(Cumulative {
                route,
                status,
                requests: 0.0,
                seconds: 0.0,
                buckets: vec![0.0; bounds.len()],
                span_buckets: vec![0.0; span_bounds.len()],
                points: Vec::new(),
            });
        }
    }
    let mut t = start;
    while t <= end_ms {
        let in_incident = incidents.iter().any(|(s, e)| t >= *s && t < *e);
        let step_requests = request_rate(t) * STEP_MS as f64 / 1000.0;
        for c in &mut all {
            let route = c.route;
            let server_errors = (BASE_ERROR_SHARE * route.error_weight
                + if in_incident { INCIDENT_ERROR_SHARE } else { 0.0 })
            .min(1.0);
            let share = if c.status == 500 {
                server_errors
            } else if c.status == route.client_error_status {
                route.client_error_share
            } else {
                (1.0 - server_errors - route.client_error_share).max(0.0)
            };
            let n = step_requests * route.traffic_share * share;
            let latency = LogNormal {
                median_seconds: route.median_seconds * if in_incident { INCIDENT_SLOWDOWN } else { 1.0 },
                sigma: route.sigma,
            };
            c.requests += n;
            // The log-normal's mean: median × e^(σ²/2).
            c.seconds += n * latency.median_seconds * (latency.sigma * latency.sigma / 2.0).exp();
            for (b, le) in c.buckets.iter_mut().zip(&bounds) {
                *b += n * share_within(latency, *le);
            }
            // Whole requests, as a counter has them; rounding the running totals keeps every
            // series monotone and the buckets ordered.
            for (b, le_ms) in c.span_buckets.iter_mut().zip(&span_bounds) {
                *b += n * share_within(latency, *le_ms / 1000.0);
            }
            let buckets = c.buckets.iter().map(|b| b.round()).collect();
            let span_buckets = c.span_buckets.iter().map(|b| b.round()).collect();
            c.points
                .push((t, c.requests.round(), c.seconds, buckets, span_buckets));
        }
        t += STEP_MS;
    }
    let spans = span_series(&all, &span_bounds);
    let mut out = Vec::new();
    for c in all {
        let labels = |name: &str, le: Option<&str>| {
            let mut l = vec![
                label("__name__", name),
                label("http_request_method", c.route.method),
                label("http_response_status_code", &c.status.to_string()),
                label("http_route", c.route.path),
                label("instance", "demo-history"),
                label("job", "shop/checkout"),
            ];
            if let Some(le) = le {
                l.push(label("le", le));
            }
            l.sort_by(|a, b| a.name.cmp(&b.name));
            l
        };
        let samples = |f: &dyn Fn(&Point) -> f64| -> Vec<Sample> {
            c.points
                .iter()
                .map(|p| Sample {
                    value: f(p),
                    timestamp: p.0,
                })
                .collect()
        };
        out.push(TimeSeries {
            labels: labels("http_server_requests_total", None),
            samples: samples(&|p| p.1),
            ..Default::default()
        });
        out.push(TimeSeries {
            labels: labels("http_server_request_duration_seconds_count", None),
            samples: samples(&|p| p.1),
            ..Default::default()
        });
        out.push(TimeSeries {
            labels: labels("http_server_request_duration_seconds_sum", None),
            samples: samples(&|p| p.2),
            ..Default::default()
        });
        for (i, le) in bounds.iter().enumerate() {
            // As burnwatch's (and Prometheus 3's) scrape stores the live series' boundaries
            // (`le="1.0"`), so the month and the live minutes are one histogram.
            let le = burnwatch_slo::slo::model::format_le(*le);
            out.push(TimeSeries {
                labels: labels("http_server_request_duration_seconds_bucket", Some(&le)),
                samples: samples(&|p| p.3[i]),
                ..Default::default()
            });
        }
    }
    // Last, so the metrics' history (which every other SLO reads) is in first.
    out.extend(spans);
    out
}

/// The spanmetrics connector's series of the payment route's server spans (the one route an SLO
/// reads them for, so the history stays small): one series per span status (a 5xx is
/// `STATUS_CODE_ERROR`, any other answer `STATUS_CODE_UNSET`, as the demo sets its spans'
/// status), labelled as the connector's metrics reach the store.
fn span_series(all: &[Cumulative], span_bounds: &[f64]) -> Vec<TimeSeries> {
    let mut out = Vec::new();
    for route in ROUTES.iter().filter(|r| r.path == "/api/payment") {
        for (status_code, errors) in [("STATUS_CODE_UNSET", false), ("STATUS_CODE_ERROR", true)] {
            let parts: Vec<&Cumulative> = all
                .iter()
                .filter(|c| std::ptr::eq(c.route, route) && (c.status == 500) == errors)
                .collect();
            let Some(first) = parts.first() else { continue };
            let span_name = format!("{} {}", route.method, route.path);
            let labels = |name: &str, le: Option<&str>| {
                let mut l = vec![
                    label("__name__", name),
                    label("instance", "demo-history"),
                    label("job", "shop/checkout"),
                    label("service_name", "checkout"),
                    label("span_kind", "SPAN_KIND_SERVER"),
                    label("span_name", &span_name),
                    label("status_code", status_code),
                ];
                if let Some(le) = le {
                    l.push(label("le", le));
                }
                l.sort_by(|a, b| a.name.cmp(&b.name));
                l
            };
            // The parts' points share their timestamps: summed point by point.
            let samples = |f: &dyn Fn(&Point) -> f64| -> Vec<Sample> {
                (0..first.points.len())
                    .map(|i| Sample {
                        value: parts.iter().map(|c| f(&c.points[i])).sum(),
                        timestamp: first.points[i].0,
                    })
                    .collect()
            };
            for name in [
                "traces_span_metrics_calls_total",
                "traces_span_metrics_duration_milliseconds_count",
            ] {
                out.push(TimeSeries {
                    labels: labels(name, None),
                    samples: samples(&|p| p.1),
                    ..Default::default()
                });
            }
            out.push(TimeSeries {
                labels: labels("traces_span_metrics_duration_milliseconds_sum", None),
                samples: samples(&|p| p.2 * 1000.0),
                ..Default::default()
            });
            for (i, le) in span_bounds.iter().enumerate() {
                let le = burnwatch_slo::slo::model::format_le(*le);
                out.push(TimeSeries {
                    labels: labels("traces_span_metrics_duration_milliseconds_bucket", Some(&le)),
                    samples: samples(&|p| p.4[i]),
                    ..Default::default()
                });
            }
        }
    }
    out
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// What [`backfill`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The store already had the demo's traffic.
    Skipped,
    /// Sent this many series.
    Sent(usize),
}

/// Sends the history ending at `end_ms` to `api_url` unless the store already has the demo's
/// traffic. Incidents come from the demo's DORA history, so the two views tell the same story.
pub async fn backfill(
    client: &reqwest::Client,
    api_url: &str,
    end_ms: i64,
    incidents: &[(i64, i64)],
) -> anyhow::Result<Outcome> {
    let api = api_url.trim_end_matches('/');
    let query = format!("{api}/api/v1/query");
    let body: Value = client
        .get(&query)
        .query(&[("query", CHECK)])
        .send()
        .await
        .with_context(|| format!("cannot reach {query}"))?
        .json()
        .await
        .with_context(|| format!("{query} did not answer JSON"))?;
    match body.pointer("/data/result").and_then(Value::as_array) {
        Some(r) if !r.is_empty() => return Ok(Outcome::Skipped),
        Some(_) => {}
        None => bail!("{query} answered without data.result: {body}"),
    }
    let all = series(end_ms, incidents);
    let write = format!("{api}/api/v1/write");
    for chunk in all.chunks(SERIES_PER_REQUEST) {
        let body = encode_write_request(&WriteRequest {
            timeseries: chunk.to_vec(),
            metadata: Vec::new(),
        });
        let response = client
            .post(&write)
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .timeout(Duration::from_secs(60))
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {write}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("{write} answered {status}: {text}");
        }
    }
    Ok(Outcome::Sent(all.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #12: the history wrote `le="1"` while the live series, scraped, are stored
    /// `le="1.0"`: the same bucket split in two spellings.
    #[test]
    fn history_buckets_are_spelled_as_the_scraped_live_ones() {
        let series = series(30 * 86_400_000, &[]);
        let named = |prefix: &str| -> Vec<&TimeSeries> {
            series
                .iter()
                .filter(|s| {
                    s.labels
                        .iter()
                        .any(|l| l.name == "__name__" && l.value.starts_with(prefix))
                })
                .collect()
        };
        let mut les: Vec<&str> = named("http_")
            .into_iter()
            .flat_map(|s| s.labels.iter())
            .filter(|l| l.name == "le")
            .map(|l| l.value.as_str())
            .collect();
        les.sort_unstable();
        les.dedup();
        let mut scraped: Vec<String> = DURATION_BOUNDARIES
            .iter()
            .chain(&[f64::INFINITY])
            .map(|b| burnwatch_slo::ingest::text::format_openmetrics_float(*b))
            .collect();
        scraped.sort_unstable();
        assert_eq!(les, scraped);
        assert!(les.contains(&"1.0") && les.contains(&"10.0") && les.contains(&"+Inf"));
        assert!(!les.contains(&"1"), "{les:?}");
        // The spanmetrics series: the connector's default bounds in milliseconds, spelled alike.
        let mut span_les: Vec<&str> = named("traces_span_metrics_duration_milliseconds_bucket")
            .into_iter()
            .flat_map(|s| s.labels.iter())
            .filter(|l| l.name == "le")
            .map(|l| l.value.as_str())
            .collect();
        span_les.sort_unstable();
        span_les.dedup();
        let mut want: Vec<String> = DEFAULT_BUCKETS_MS
            .iter()
            .chain(&[f64::INFINITY])
            .map(|b| burnwatch_slo::ingest::text::format_openmetrics_float(*b))
            .collect();
        want.sort_unstable();
        assert_eq!(span_les, want);
        assert!(span_les.contains(&"800.0"));
    }
}

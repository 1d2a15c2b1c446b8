//! The demo: its traffic model (schedule, knob, shares), its DORA events against the real
//! reader and API route, and the whole path SDK → collector → Prometheus exposition → store →
//! the bundled SLO specs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burnwatch_collector::otelcol::Config;
use burnwatch_collector::service::Collector;
use burnwatch_slo::api::{ApiState, serve};
use burnwatch_slo::dora::events::{Event, parse_event, parse_jsonl};
use burnwatch_slo::ingest::text::{self, Format};
use burnwatch_slo::promql::{Engine, EngineOptions};
use burnwatch_slo::shared::new_shared;
use burnwatch_slo::slo::SloSpec;
use burnwatch_slo::slo::spec;
use burnwatch_slo::slo::status::{self, DataState, EngineSource, SliSource};
use burnwatch_slo::tsdb::Storage;
use burnwatch_tui::model::DemoKnob as _;

use super::dora::{self, BackfillOutcome, LiveEvent, Sender};
use super::history;
use super::model::{LogNormal, ROUTES, Rng, SpikeKind, TrafficModel};
use super::traffic::{DURATION_BOUNDARIES, draw};
use super::{DEFAULT_ERROR_RATE, DemoControl, DemoOptions};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The standard normal upper tail `P(Z > z)`, by Simpson's rule over the density up to 10
/// (beyond it the tail is below 1e-23).
fn normal_tail(z: f64) -> f64 {
    if z < 0.0 {
        return 1.0 - normal_tail(-z);
    }
    if z >= 10.0 {
        return 0.0;
    }
    let density = |x: f64| (-0.5 * x * x).exp() / std::f64::consts::TAU.sqrt();
    let n = 2000;
    let h = (10.0 - z) / n as f64;
    let inner: f64 = (1..n)
        .map(|i| density(z + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
        .sum();
    (density(z) + inner + density(10.0)) * h / 3.0
}

/// The share of requests slower than `seconds` under `latency` (the normal tail of the log).
fn share_above(latency: LogNormal, seconds: f64) -> f64 {
    normal_tail((seconds / latency.median_seconds).ln() / latency.sigma)
}

#[test]
fn the_normal_tail_helper_is_right() {
    // Standard normal table values.
    assert!((normal_tail(0.0) - 0.5).abs() < 1e-9);
    assert!((normal_tail(1.0) - 0.158_655_25).abs() < 1e-7);
    assert!((normal_tail(2.0) - 0.022_750_13).abs() < 1e-7);
    assert!((normal_tail(-1.644_853_6) - 0.95).abs() < 1e-7);
}

/// The overall 5xx share and the share slower than 500 ms at `elapsed`, weighting the routes by
/// their traffic.
fn overall(model: &TrafficModel, elapsed: Duration, base: f64) -> (f64, f64) {
    let mut errors = 0.0;
    let mut slow = 0.0;
    for route in model.routes {
        let c = model.conditions(elapsed, route, base);
        errors += route.traffic_share * c.error_share;
        slow += route.traffic_share * share_above(c.latency, 0.5);
    }
    (errors, slow)
}

// ---- The traffic model ----

#[test]
fn spikes_start_at_75s_and_then_every_270s_with_fixed_lengths_and_kinds() {
    let m = TrafficModel::default();
    assert_eq!(m.spike_at(secs(74)), None);
    let first = m.spike_at(secs(75)).unwrap();
    assert_eq!((first.index, first.start, first.end), (0, secs(75), secs(195)));
    assert_eq!(first.kind, SpikeKind::PaymentOutage);
    assert_eq!(m.spike_at(secs(194)).map(|s| s.index), Some(0));
    assert_eq!(m.spike_at(secs(195)), None);
    assert_eq!(m.spike_at(secs(344)), None);
    let second = m.spike_at(secs(400)).unwrap();
    assert_eq!(
        (second.index, second.start, second.end),
        (1, secs(345), secs(435))
    );
    assert_eq!(second.kind, SpikeKind::CheckoutSlowdown);
    let third = m.spike_at(secs(700)).unwrap();
    assert_eq!(
        (third.start, third.end, third.kind),
        (secs(615), secs(720), SpikeKind::DatabaseBrownout)
    );
    assert_eq!(m.spike(3).kind, SpikeKind::PaymentOutage);
    for i in 0..1000 {
        let (a, b) = (m.spike(i), m.spike(i + 1));
        let length = a.end - a.start;
        assert!(
            length >= secs(60) && length <= secs(120),
            "spike {i} lasts {length:?}"
        );
        assert!(a.end < b.start, "spike {i} overlaps the next");
        // The whole schedule is a function of time: asking again gives the same spike.
        assert_eq!(m.spike_at(a.start + secs(1)), Some(a));
    }
}

#[test]
fn outside_spikes_the_error_share_is_the_knob_scaled_by_route_and_drift() {
    let m = TrafficModel::default();
    for t in [0u64, 30, 60, 200, 300, 500] {
        let elapsed = secs(t);
        assert!(m.spike_at(elapsed).is_none());
        for route in &ROUTES {
            assert_eq!(
                m.conditions(elapsed, route, 0.0).error_share,
                0.0,
                "{} at {t}s",
                route.path
            );
            let one = m.conditions(elapsed, route, DEFAULT_ERROR_RATE).error_share;
            let two = m.conditions(elapsed, route, 2.0 * DEFAULT_ERROR_RATE).error_share;
            assert!(
                (two - 2.0 * one).abs() < 1e-12,
                "doubling the knob doubles the share"
            );
            let nominal = DEFAULT_ERROR_RATE * route.error_weight;
            assert!(
                one >= 0.5 * nominal && one <= 1.5 * nominal,
                "{} at {t}s: {one} is not within the drift of {nominal}",
                route.path
            );
        }
        // The route weights average about 1, so the knob reads as the overall share.
        let (errors, slow) = overall(&m, elapsed, DEFAULT_ERROR_RATE);
        assert!(
            errors > 0.5 * DEFAULT_ERROR_RATE && errors < 1.5 * DEFAULT_ERROR_RATE,
            "overall 5xx share {errors} at {t}s"
        );
        assert!(
            slow < 0.002,
            "share over 500ms {slow} at {t}s is a fifth of the 1% budget or less"
        );
    }
}

#[test]
fn shares_stay_in_0_1_and_latencies_positive_for_any_knob() {
    let m = TrafficModel::default();
    for base in [0.0, 0.003, 0.2, 0.5, 1.0, 7.0, -1.0, f64::NAN, f64::INFINITY] {
        for t in (0..3000).step_by(5) {
            for route in &ROUTES {
                let c = m.conditions(secs(t), route, base);
                assert!(
                    (0.0..=1.0).contains(&c.error_share),
                    "{} at {t}s with knob {base}: {}",
                    route.path,
                    c.error_share
                );
                assert!(c.latency.median_seconds > 0.0 && c.latency.median_seconds.is_finite());
            }
        }
    }
    assert_eq!(
        m.conditions(secs(10), &ROUTES[0], 7.0).error_share,
        m.conditions(secs(10), &ROUTES[0], 1.0).error_share
    );
}

#[test]
fn the_first_spike_burns_fast_enough_to_page() {
    let m = TrafficModel::default();
    // Page for a 99.9% SLO: 14.4 × the 0.1% budget, over the 5m and the 1h windows. During
    // spike 0 the overall share is far above it; averaged over the demo's first three minutes
    // (all a 1h window holds then) still above.
    let threshold = 14.4 * 0.001;
    let (during, _) = overall(&m, secs(100), DEFAULT_ERROR_RATE);
    assert!(during > 2.0 * threshold, "5xx share during spike 0: {during}");
    let average: f64 = (0..180)
        .map(|t| overall(&m, secs(t), DEFAULT_ERROR_RATE).0)
        .sum::<f64>()
        / 180.0;
    assert!(
        average > threshold,
        "5xx share over the first 3 minutes: {average}"
    );
    // The payment route's 99.5% SLO: 14.4 × 0.5%.
    let payment = &ROUTES[3];
    assert_eq!(payment.path, "/api/payment");
    assert!(m.conditions(secs(100), payment, DEFAULT_ERROR_RATE).error_share > 14.4 * 0.005);
    // Every spike moves the latency SLI: at least ten times the steady share of slow requests.
    let (_, steady) = overall(&m, secs(30), DEFAULT_ERROR_RATE);
    for i in 0..3 {
        let s = m.spike(i);
        let (_, slow) = overall(&m, s.start + secs(10), DEFAULT_ERROR_RATE);
        assert!(
            slow > 10.0 * steady,
            "spike {i} ({:?}): slow share {slow}, steady {steady}",
            s.kind
        );
    }
}

#[test]
fn the_request_rate_stays_between_20_and_50_per_second() {
    let m = TrafficModel::default();
    let rates: Vec<f64> = (0..600).map(|t| m.request_rate(secs(t))).collect();
    let (lo, hi) = rates
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    assert!(
        lo >= 20.0 && hi <= 50.0 && hi - lo > 15.0,
        "rate between {lo} and {hi}"
    );
    let shares: f64 = ROUTES.iter().map(|r| r.traffic_share).sum();
    assert!((shares - 1.0).abs() < 1e-9, "traffic shares add up to {shares}");
}

#[test]
fn drawn_requests_replay_for_a_seed_and_follow_the_model() {
    let m = TrafficModel::default();
    let run = |seed| {
        let mut rng = Rng::new(seed);
        (0..20_000)
            .map(|_| draw(&m, &mut rng, secs(100), DEFAULT_ERROR_RATE))
            .collect::<Vec<_>>()
    };
    let a = run(7);
    assert_eq!(a, run(7), "the same seed replays the same requests");
    assert_ne!(a, run(8));
    // Spike 0 at 100s: the payment route's 5xx share is the model's, within sampling noise.
    let payment: Vec<_> = a.iter().filter(|r| r.route.path == "/api/payment").collect();
    let share = payment.iter().filter(|r| r.is_server_error()).count() as f64 / payment.len() as f64;
    let want = m
        .conditions(secs(100), &ROUTES[3], DEFAULT_ERROR_RATE)
        .error_share;
    assert!(
        (share - want).abs() < 0.03,
        "payment 5xx share {share}, model {want}"
    );
    let route_share = payment.len() as f64 / a.len() as f64;
    assert!(
        (route_share - 0.15).abs() < 0.02,
        "payment traffic share {route_share}"
    );
    // 4xx happen and are not server errors; every status is one a route answers.
    assert!(a.iter().any(|r| r.status == 402 && !r.is_server_error()));
    for r in &a {
        assert!(
            [r.route.ok_status, r.route.client_error_status, 500, 503, 504].contains(&r.status),
            "{} answered {}",
            r.route.path,
            r.status
        );
        assert!(r.seconds > 0.0 && r.seconds.is_finite());
    }
    // Gateway timeouts take the 3 s timeout: slow by the latency SLO too.
    assert!(a.iter().filter(|r| r.status == 504).all(|r| r.seconds >= 3.0));
    assert!(DURATION_BOUNDARIES.contains(&0.5));
}

#[test]
fn the_knob_steps_through_its_ladder_and_stays_in_range() {
    let knob = DemoControl::default();
    assert_eq!(knob.error_rate(), 0.0005);
    assert_eq!(knob.adjust(true), 0.001);
    assert_eq!(knob.adjust(true), 0.003);
    assert_eq!(knob.error_rate(), 0.003);
    assert_eq!(knob.adjust(false), 0.001);
    assert_eq!(knob.adjust(false), 0.0005);
    assert_eq!(knob.adjust(false), 0.0);
    assert_eq!(knob.adjust(false), 0.0, "the bottom stays");
    assert_eq!(DemoControl::new(0.5).adjust(true), 0.5, "the top stays");
    assert_eq!(
        DemoControl::new(0.004).adjust(true),
        0.005,
        "between steps goes to the next step up"
    );
    assert_eq!(
        DemoControl::new(0.004).adjust(false),
        0.003,
        "or the next step down"
    );
    let knob = DemoControl::new(3.0);
    assert_eq!(knob.error_rate(), 1.0);
    assert_eq!(knob.adjust(false), 0.5);
    assert_eq!(DemoControl::new(f64::NAN).error_rate(), DEFAULT_ERROR_RATE);
    assert_eq!(DemoControl::new(-0.2).error_rate(), 0.0);
}

// ---- DORA events ----

const END_MS: i64 = 1_760_000_000_000; // 2025-10-09T08:53:20Z

#[test]
fn the_history_is_valid_plausible_and_replays_for_a_seed() {
    let events = dora::history(42, END_MS);
    assert_eq!(events, dora::history(42, END_MS));
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    let (log, errors) = parse_jsonl(&text);
    assert!(errors.is_empty(), "the DORA reader refused: {errors:?}");
    let deployments: Vec<_> = log.deployments.iter().map(|(_, d)| d).collect();
    let incidents: Vec<_> = log.incidents.iter().map(|(_, i)| i).collect();
    assert!(
        (25..=90).contains(&deployments.len()),
        "{} deployments",
        deployments.len()
    );
    let failed = deployments
        .iter()
        .filter(|d| d.status.as_str() == "failure")
        .count();
    let rework = deployments.iter().filter(|d| d.remediation).count();
    assert!(
        failed >= 1 && failed == rework,
        "{failed} failed, {rework} remediations"
    );
    assert!(
        (3..=5).contains(&incidents.len()),
        "{} incidents",
        incidents.len()
    );
    let start = END_MS - 30 * 86_400_000;
    for d in &deployments {
        assert_eq!(d.service, "checkout");
        assert!(
            d.time_ms >= start && d.time_ms <= END_MS,
            "{} at {}",
            d.id,
            d.time_ms
        );
        assert!(!d.commits.is_empty());
    }
    for i in &incidents {
        let resolved = i.resolved_ms.unwrap();
        assert!(i.start_ms <= resolved && resolved <= END_MS);
        let cause = i.deployment.as_deref().unwrap();
        let d = deployments.iter().find(|d| d.id == cause).unwrap();
        assert!(
            d.time_ms < i.start_ms,
            "incident {} starts before its cause",
            i.id
        );
    }
    // Time order: the API wants history oldest first across batches; one batch is fine anyway,
    // but the list is sorted so it can be split.
    let times: Vec<&str> = events
        .iter()
        .map(|e| e.get("time").or(e.get("start")).and_then(|v| v.as_str()).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "events are in time order");
}

#[test]
fn live_events_bracket_each_spike_and_no_deployment_falls_inside_one() {
    let m = TrafficModel::default();
    let wall = UNIX_EPOCH + Duration::from_millis(END_MS as u64);
    let sender = Sender::new("http://127.0.0.1:1", 42, wall);
    let mut rng = Rng::new(1);
    let mut last = Duration::ZERO;
    for index in 0..20 {
        let spike = m.spike(index);
        let schedule = dora::live_schedule(&m, index);
        let (deploy_at, incident_at, fix_at) = (schedule[0].0, schedule[1].0, schedule[2].0);
        assert!(
            last <= deploy_at && deploy_at < spike.start,
            "spike {index}: deployment before the spike"
        );
        assert_eq!(incident_at, spike.end, "the incident is sent when the spike ends");
        assert!(fix_at > spike.end);
        for (at, _) in [&schedule[0], &schedule[2]] {
            assert!(
                m.spike_at(*at).is_none(),
                "a deployment at {at:?} falls inside a spike"
            );
        }
        last = fix_at;
        let events: Vec<Event> = schedule
            .iter()
            .map(|(_, e)| parse_event(&sender.live_json(e, &mut rng).to_string()).unwrap())
            .collect();
        let (Event::Deployment(cause), Event::Incident(incident), Event::Deployment(fix)) =
            (&events[0], &events[1], &events[2])
        else {
            panic!("spike {index}: expected deployment, incident, deployment: {events:?}");
        };
        let ms = |d: Duration| END_MS + d.as_millis() as i64;
        assert_eq!(
            (incident.start_ms, incident.resolved_ms),
            (ms(spike.start), Some(ms(spike.end)))
        );
        assert_eq!(incident.deployment.as_deref(), Some(cause.id.as_str()));
        assert!(cause.time_ms < incident.start_ms && !cause.remediation);
        assert!(fix.remediation && fix.time_ms > ms(spike.end));
        assert!(matches!(schedule[1].1, LiveEvent::Incident { .. }));
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn instant_value(url: &str, query: &str) -> Option<f64> {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/query"))
        .query(&[("query", query)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = body["data"]["result"].as_array().unwrap();
    result
        .first()
        .map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_takes_the_backfill_once_and_the_live_events_after_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let state = ApiState::new(new_shared(), EngineOptions::default());
    let server = tokio::spawn(serve(listener, state, stop.clone().cancelled_owned()));

    // A demo that started five minutes ago: its history ends 15 minutes ago, its first spike's
    // events are all in the past.
    let started = SystemTime::now() - Duration::from_secs(300);
    let sender = Sender::new(&url, 42, started);
    let expected = dora::history(42, now_ms() - 900_000);
    let first = sender.backfill().await.unwrap();
    assert_eq!(
        first,
        BackfillOutcome::Sent {
            accepted: expected.len() as u64,
            rejected: 0
        }
    );
    let deployments = expected.iter().filter(|e| e["type"] == "deployment").count() as f64;
    let incidents = expected.iter().filter(|e| e["type"] == "incident").count() as f64;
    let total = "sum(last_over_time(dora_deployments_total{service=\"checkout\"}[90d]))";
    assert_eq!(instant_value(&url, total).await, Some(deployments));

    // A restart on the same store: nothing sent again, nothing refused.
    let again = Sender::new(&url, 42, SystemTime::now());
    assert_eq!(again.backfill().await.unwrap(), BackfillOutcome::Skipped);
    assert_eq!(instant_value(&url, total).await, Some(deployments));

    // The live events of spike 0, one POST each as the running demo sends them.
    let mut rng = Rng::new(3);
    for (_, event) in dora::live_schedule(&TrafficModel::default(), 0) {
        let json = sender.live_json(&event, &mut rng);
        assert_eq!(sender.post(&[json]).await.unwrap(), (1, 0), "{event:?}");
    }
    assert_eq!(instant_value(&url, total).await, Some(deployments + 2.0));
    let incidents_total = "sum(last_over_time(dora_incidents_total{service=\"checkout\"}[90d]))";
    assert_eq!(instant_value(&url, incidents_total).await, Some(incidents + 1.0));

    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_unreachable_api_is_an_error_not_a_panic() {
    // Port 1 on loopback: nothing listens there.
    let sender = Sender::new("http://127.0.0.1:1/", 42, SystemTime::now());
    let err = sender.backfill().await.unwrap_err();
    assert!(
        format!("{err:#}").contains("cannot reach http://127.0.0.1:1/api/v1/query"),
        "{err:#}"
    );
}

// ---- The whole path: SDK → collector → exposition → store → SLO specs ----

/// The demo SLO specs exactly as `burnwatch up` embeds them.
fn demo_slos() -> Vec<SloSpec> {
    let mut slos = spec::parse_str(
        include_str!("../../examples/demo-slos/checkout-sloth.yaml"),
        "checkout-sloth.yaml",
    )
    .unwrap();
    slos.extend(
        spec::parse_str(
            include_str!("../../examples/demo-slos/payment-openslo.yaml"),
            "payment-openslo.yaml",
        )
        .unwrap(),
    );
    slos.extend(
        spec::parse_str(
            include_str!("../../examples/demo-slos/payment-latency-spanmetrics.yaml"),
            "payment-latency-spanmetrics.yaml",
        )
        .unwrap(),
    );
    slos
}

/// Appends one scrape of the exporter, stamped at `t_ms` (what a scraper does with a body
/// without timestamps).
fn import_scrape(store: &mut Storage, body: &str, t_ms: i64) {
    text::parse(body, Format::Prometheus, |s| {
        store.append(&s.labels, t_ms, s.value).unwrap();
    })
    .unwrap();
}

const COLLECTOR_CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
  debug:
    verbosity: basic
connectors:
  spanmetrics:
    metrics_flush_interval: 1s
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    metrics:
      receivers: [otlp, spanmetrics]
      exporters: [prometheus]
    traces:
      receivers: [otlp]
      exporters: [debug, spanmetrics]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_metrics_reach_the_collector_and_every_demo_slo_has_a_number() {
    let collector = Collector::start(Config::from_yaml(COLLECTOR_CONFIG).unwrap())
        .await
        .unwrap();
    let grpc = collector.bound().get("receivers.otlp.grpc").unwrap();
    let metrics_url = format!(
        "http://{}/metrics",
        collector.bound().get("exporters.prometheus").unwrap()
    );

    let options = DemoOptions {
        otlp_endpoint: format!("http://{grpc}"),
        api_url: None,
        export_interval: Duration::from_secs(1),
        seed: 7,
    };
    let demo = super::start(options, Arc::new(DemoControl::default()))
        .await
        .unwrap();

    let client = reqwest::Client::new();
    let scrape = || async {
        let body = client
            .get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (now_ms(), body)
    };
    // Wait for the first export (the SDK exports every second here), and for the spans'
    // (batched by the SDK) through the spanmetrics connector.
    let has_both = |body: &str| {
        body.contains("http_server_requests_total{")
            && body.contains("traces_span_metrics_duration_milliseconds_bucket{")
    };
    let mut first = scrape().await;
    for _ in 0..300 {
        if has_both(&first.1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        first = scrape().await;
    }
    assert!(
        has_both(&first.1),
        "no demo metrics and spans after 60s:\n{}",
        first.1
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The SDK sends spans in batches (every 5 s), so the payment spans' counts move less often
    // than the metrics: the second scrape is one where they moved, or the 5m rate would be 0.
    let payment_counts = |body: &str| -> Vec<String> {
        body.lines()
            .filter(|l| {
                l.starts_with("traces_span_metrics_duration_milliseconds_count{")
                    && l.contains("span_name=\"POST /api/payment\"")
            })
            .map(str::to_string)
            .collect()
    };
    let mut second = scrape().await;
    for _ in 0..300 {
        if payment_counts(&second.1) != payment_counts(&first.1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        second = scrape().await;
    }
    demo.stop().await;

    // The names and labels the specs rely on.
    let body = &second.1;
    for needle in [
        "# TYPE http_server_requests_total counter",
        "# TYPE http_server_request_duration_seconds histogram",
        "http_server_request_duration_seconds_bucket{",
        "le=\"0.5\"",
        "job=\"shop/checkout\"",
        "instance=\"demo-1\"",
        "http_route=\"/api/payment\"",
        "http_request_method=\"POST\"",
        "http_response_status_code=\"200\"",
        "url_scheme=\"http\"",
    ] {
        assert!(body.contains(needle), "the exposition lacks {needle}:\n{body}");
    }
    // Spans arrived too.
    let telemetry = collector.telemetry().render();
    let spans: u64 = telemetry
        .lines()
        .filter(|l| l.starts_with("otelcol_receiver_accepted_spans"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64;
    assert!(spans > 0, "the collector accepted no spans:\n{telemetry}");
    collector.shutdown(Duration::from_secs(5)).await;

    let mut store = Storage::new();
    import_scrape(&mut store, &first.1, first.0);
    import_scrape(&mut store, &second.1, second.0);
    let slos = demo_slos();
    let ids: Vec<String> = slos.iter().map(SloSpec::id).collect();
    assert_eq!(
        ids,
        [
            "checkout-requests-availability",
            "checkout-requests-latency",
            "checkout-payment-availability",
            "checkout-payment-latency"
        ]
    );
    let source = EngineSource::new(Engine::default(), &store);
    let statuses = status::evaluate(&slos, &source as &dyn SliSource, second.0).await;
    for s in &statuses {
        assert_eq!(s.error, None, "{} cannot be evaluated", s.id);
        let short = s.windows.first().unwrap();
        assert_eq!(short.window, "5m");
        assert_eq!(short.state, DataState::Ok, "{}: no number over 5m", s.id);
        let ratio = short.error_ratio.unwrap();
        assert!((0.0..=1.0).contains(&ratio), "{}: error ratio {ratio}", s.id);
        assert!(s.budget_remaining.is_some(), "{}: no budget figure", s.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_starts_and_stops_without_a_collector_or_an_api() {
    // Port 1 on loopback: nothing listens there. Exports fail and are logged; start and stop
    // still succeed, and stop returns (bounded by the export timeout and the stop deadline).
    let options = DemoOptions {
        otlp_endpoint: "http://127.0.0.1:1".to_string(),
        api_url: Some("http://127.0.0.1:1".to_string()),
        export_interval: Duration::from_millis(200),
        seed: 1,
    };
    let control = Arc::new(DemoControl::default());
    let demo = super::start(options, control.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The knob keeps working while the demo runs.
    assert_eq!(control.adjust(true), 0.001);
    demo.stop().await;
}

#[tokio::test]
async fn a_malformed_endpoint_is_refused_at_start_with_its_name() {
    let options = DemoOptions {
        otlp_endpoint: "not a url".to_string(),
        api_url: None,
        ..DemoOptions::default()
    };
    let err = super::start(options, Arc::new(DemoControl::default()))
        .await
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("not a url"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traffic_history_goes_in_once_and_leaves_the_slos_a_partly_spent_budget() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let store = new_shared();
    let state = ApiState::new(store.clone(), EngineOptions::default());
    let server = tokio::spawn(serve(listener, state, stop.clone().cancelled_owned()));

    let end = now_ms() - 600_000;
    let incidents = history::incident_spans(&dora::history(42, end));
    assert!(incidents.len() >= 3, "about one incident a week: {incidents:?}");
    let client = reqwest::Client::new();
    let sent = history::backfill(&client, &url, end, &incidents).await.unwrap();
    let series = history::series(end, &incidents);
    assert_eq!(sent, history::Outcome::Sent(series.len()));
    assert_eq!(
        history::backfill(&client, &url, end, &incidents).await.unwrap(),
        history::Outcome::Skipped,
        "a second start on the same store sends nothing"
    );

    // Counters only go up, and each bucket holds at most the next one's count.
    for s in &series {
        assert!(
            s.samples
                .windows(2)
                .all(|w| w[0].value <= w[1].value && w[0].timestamp < w[1].timestamp)
        );
    }
    let slos = demo_slos();
    let source = status::SharedEngineSource::new(Engine::default(), store.clone());
    let statuses = status::evaluate(&slos, &source as &dyn SliSource, end).await;
    for s in &statuses {
        assert_eq!(s.error, None, "{}", s.id);
        let left = s
            .budget_remaining
            .unwrap_or_else(|| panic!("{}: no budget figure", s.id));
        // The month spends some budget (the base rate and the incidents) but not all of it.
        assert!((0.1..0.97).contains(&left), "{}: budget left {left}", s.id);
        assert!(
            !s.alerts.iter().any(|a| a.firing),
            "{}: the month ends quiet",
            s.id
        );
    }
    stop.cancel();
    server.await.unwrap().unwrap();
}

#[test]
fn the_normal_cdf_of_the_history_matches_the_tests_tail() {
    for z in [-3.0, -1.0, 0.0, 0.5, 2.0] {
        let ours = history::normal_cdf(z);
        assert!((ours - (1.0 - normal_tail(z))).abs() < 1e-6, "{z}: {ours}");
    }
}

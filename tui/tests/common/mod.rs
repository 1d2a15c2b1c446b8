//! Fixtures for the dashboard tests and the frame bench: SLO statuses computed by the real SLO
//! engine over a small in-memory store, and hand-made detail, DORA and collector data; plus
//! helpers to render a frame and read it back as text and colours.

#![allow(dead_code)]

use std::collections::BTreeMap;

use burnwatch_slo::promql::Engine;
use burnwatch_slo::slo::burndown;
use burnwatch_slo::slo::spec::parse_str;
use burnwatch_slo::slo::status::{EngineSource, SloStatus, evaluate};
use burnwatch_slo::spanmetrics::{Operation, QuantileSource};
use burnwatch_slo::tsdb::{Labels, Storage};
use burnwatch_tui::app::App;
use burnwatch_tui::model::{
    BurndownPoint, CollectorView, DoraMetric, DoraView, QueueFill, RecentEvent, RecentEvents, SignalRates,
    SloDetail, Snapshot, Sparkline, Trend, WeekValue,
};
use burnwatch_tui::model::{
    ExporterRates, OperationLatency, OperationRow, PipelineRates, SignalHistory, TracesView,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;

/// The evaluation time: four hours of data at one sample a minute (1970-01-01T04:00:00Z).
pub const AT_MS: i64 = 240 * 60_000;

/// Requests per minute of every service with traffic.
const PER_MIN: u64 = 20_000;

/// One spec per service, each an availability SLO over `http_requests_total{service, code}`.
fn spec(service: &str, objective: &str) -> String {
    format!(
        r#"
version: "prometheus/v1"
service: "{service}"
labels: {{team: "shop"}}
slos:
  - name: "requests-availability"
    objective: {objective}
    sli:
      events:
        error_query: sum(rate(http_requests_total{{service="{service}",code="500"}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total{{service="{service}"}}[{{{{.window}}}}]))
    alerting:
      name: {alert}HighErrorRate
      page_alert: {{labels: {{severity: critical}}}}
      ticket_alert: {{labels: {{severity: warning}}}}
"#,
        alert = capitalise(service),
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Appends four hours of a service's request counters: `errors(minute)` of every `PER_MIN`
/// requests fail. `None` leaves the counters flat (zero traffic).
fn add_service(store: &mut Storage, service: &str, errors: Option<&dyn Fn(u64) -> u64>) {
    let ok = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("service", service),
        ("code", "200"),
    ]);
    let bad = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("service", service),
        ("code", "500"),
    ]);
    // Counters that move start at 0, as a fresh process's do (a non-zero start would make
    // Prometheus's extrapolation differ between the two series and skew the ratio); flat ones
    // sit at 7 so that they exist without traffic.
    let start = if errors.is_some() { 0.0 } else { 7.0 };
    let (mut ok_total, mut bad_total) = (start, start);
    for m in 0..=240u64 {
        let t = (m * 60_000) as i64;
        if m > 0
            && let Some(f) = errors
        {
            let e = f(m);
            bad_total += e as f64;
            ok_total += (PER_MIN - e) as f64;
        }
        store.append(&ok, t, ok_total).unwrap();
        store.append(&bad, t, bad_total).unwrap();
    }
}

/// Five SLOs evaluated by the SLO engine at [`AT_MS`], sorted as the backend sorts them (least
/// budget left first, no number last):
/// - `checkout`: 0.05% errors, then 3% for the last 40 minutes: Exhausted, page and ticket firing;
/// - `payments`: 0.09% (budget 10% left): Red;
/// - `search`: 0.06% (40% left): Yellow;
/// - `inventory`: 0.02% (80% left): Green;
/// - `catalog`: no traffic: every number N/A.
pub fn evaluated_slos() -> Vec<SloStatus> {
    let (store, specs) = fixture();
    let src = EngineSource::new(Engine::default(), &store);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut out = rt.block_on(evaluate(&specs, &src, AT_MS));
    sort(&mut out);
    out
}

/// The burndown of each of [`evaluated_slos`], by id, computed by the SLO engine over the same
/// store (the SLO list's budget sparklines). The store holds four hours of a 30-day period, so
/// each stays at 1 until its last point, the budget left.
pub fn budget_trends() -> BTreeMap<String, Vec<BurndownPoint>> {
    let (store, specs) = fixture();
    let src = EngineSource::new(Engine::default(), &store);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    specs
        .iter()
        .map(|slo| {
            let points = rt
                .block_on(burndown::burndown(slo, &src, AT_MS, burndown::POINTS))
                .unwrap();
            (slo.id(), points)
        })
        .collect()
}

/// The store and the specs behind [`evaluated_slos`].
fn fixture() -> (Storage, Vec<burnwatch_slo::slo::SloSpec>) {
    let mut store = Storage::new();
    add_service(&mut store, "checkout", Some(&|m| if m > 200 { 600 } else { 10 }));
    add_service(&mut store, "payments", Some(&|_| 18));
    add_service(&mut store, "search", Some(&|_| 12));
    add_service(&mut store, "inventory", Some(&|_| 4));
    add_service(&mut store, "catalog", None);
    let mut specs = Vec::new();
    for (service, objective) in [
        ("checkout", "99.9"),
        ("payments", "99.9"),
        ("search", "99.9"),
        ("inventory", "99.9"),
        ("catalog", "99.5"),
    ] {
        specs.extend(parse_str(&spec(service, objective), &format!("{service}.yaml")).unwrap());
    }
    (store, specs)
}

/// The backend's order: least budget left first, SLOs without a number last.
pub fn sort(slos: &mut [SloStatus]) {
    slos.sort_by(|a, b| {
        let key = |s: &SloStatus| s.budget_remaining.filter(|v| !v.is_nan());
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.id.cmp(&b.id),
        }
    });
}

/// An SLO that could not be evaluated (as `evaluate` reports one: no windows, the reason).
pub fn failed_slo() -> SloStatus {
    let mut s = evaluated_slos().pop().unwrap();
    s.id = "ledger-requests-availability".into();
    s.service = "ledger".into();
    s.windows.clear();
    s.alerts.clear();
    s.error = Some(
        "the SLI over 5m gives 2 series; `slo status` needs one per SLO (aggregate the queries, e.g. with sum())"
            .into(),
    );
    s
}

/// The burndown and sparklines of `checkout` (the first SLO): budget spent evenly for most of
/// the period, then the spike of the last hours; SLI series with a gap where a scrape was missed.
pub fn checkout_detail() -> SloDetail {
    let period_ms = 30 * 86_400_000i64;
    let start = AT_MS - period_ms;
    let burndown = (0..=60)
        .map(|i| {
            let t = start + i * period_ms / 60;
            let elapsed = i as f64 / 60.0;
            let remaining = if i < 8 {
                None
            } else if i < 58 {
                Some(1.0 - elapsed * 0.9)
            } else {
                Some(0.1 - (i - 57) as f64 * 1.5)
            };
            BurndownPoint {
                t_ms: t,
                remaining,
                ideal: 1.0 - elapsed,
            }
        })
        .collect();
    let series = |span: &str, step_ms: i64, n: i64, gap: i64| Sparkline {
        span: span.into(),
        rate_window: "1m".into(),
        points: (0..n)
            .map(|i| {
                let t = AT_MS - (n - 1 - i) * step_ms;
                let v = if i == gap {
                    None
                } else if i > n * 2 / 3 {
                    Some(0.97)
                } else {
                    Some(0.9995 - (i % 5) as f64 * 0.0002)
                };
                (t, v)
            })
            .collect(),
    };
    SloDetail {
        id: "checkout-requests-availability".into(),
        burndown,
        sparklines: vec![
            series("5m", 15_000, 20, 3),
            series("1h", 60_000, 60, 10),
            series("6h", 300_000, 72, 5),
        ],
    }
}

/// The five DORA metrics, one of each tier and trend, rework rate without a value.
pub fn dora() -> DoraView {
    let m =
        |name: &str, value: Option<f64>, display: &str, tier: Option<&str>, previous: Option<f64>, trend| {
            // The backend formats the previous value in the current one's unit.
            let previous_display = match previous {
                None => "N/A".to_string(),
                Some(p) if display.ends_with("/day") => format!("{p:.1}/day"),
                Some(p) if name.contains("rate") => format!("{:.1}%", p * 100.0),
                Some(p) => burnwatch_slo::dora::metrics::format_seconds(p),
            };
            DoraMetric {
                name: name.into(),
                value,
                display: display.into(),
                tier: tier.map(str::to_string),
                previous,
                previous_display,
                trend,
                weekly: weekly(name),
            }
        };
    DoraView {
        window: "30d".into(),
        has_data: true,
        metrics: vec![
            m(
                "Deployment frequency",
                Some(2.4),
                "2.4/day",
                Some("elite"),
                Some(1.9),
                Trend::Better,
            ),
            m(
                "Lead time for changes",
                Some(11_520.0),
                "3h 12m",
                Some("high"),
                Some(7_200.0),
                Trend::Worse,
            ),
            m(
                "Change failure rate",
                Some(0.125),
                "12.5%",
                Some("medium"),
                Some(0.125),
                Trend::Same,
            ),
            m(
                "Failed deployment recovery time",
                Some(90_000.0),
                "1d 1h",
                Some("low"),
                None,
                Trend::Unknown,
            ),
            m(
                "Deployment rework rate",
                None,
                "N/A",
                None,
                Some(0.05),
                Trend::Unknown,
            ),
        ],
        recent: Some(recent_events()),
    }
}

/// A healthy collector: three signals (one without log pipeline), two queues, RSS under the soft
/// limit.
pub fn collector() -> CollectorView {
    CollectorView {
        up: Some(true),
        signals: vec![
            SignalRates {
                signal: "spans".into(),
                accepted_per_s: Some(1234.5),
                refused_per_s: Some(0.0),
                failed_per_s: Some(0.0),
            },
            SignalRates {
                signal: "metric_points".into(),
                accepted_per_s: Some(56.25),
                refused_per_s: Some(3.5),
                failed_per_s: Some(0.25),
            },
            SignalRates {
                signal: "log_records".into(),
                accepted_per_s: None,
                refused_per_s: None,
                failed_per_s: None,
            },
        ],
        queues: vec![
            QueueFill {
                exporter: "otlp/jaeger".into(),
                size: 512.0,
                capacity: 1000.0,
            },
            QueueFill {
                exporter: "otlphttp/tempo".into(),
                size: 0.0,
                capacity: 0.0,
            },
        ],
        rss_bytes: Some(40.0 * 1_048_576.0),
        memory_limit_bytes: Some(64.0 * 1_048_576.0),
        memory_soft_limit_bytes: Some(51.2 * 1_048_576.0),
        history: ["spans", "metric_points", "log_records"]
            .iter()
            .enumerate()
            .map(|(i, signal)| {
                // Spans ramp up over the hour; metric points are flat with a refusal burst 20
                // minutes ago; no log pipeline.
                let line = |f: &dyn Fn(i64) -> f64| -> Vec<(i64, Option<f64>)> {
                    (0..=60)
                        .map(|m| (AT_MS - (60 - m) * 60_000, (i < 2).then(|| f(m))))
                        .collect()
                };
                SignalHistory {
                    signal: (*signal).into(),
                    accepted: line(&|m| if i == 0 { 600.0 + 10.0 * m as f64 } else { 56.25 }),
                    refused: line(&|m| {
                        if i == 1 && (38..=42).contains(&m) {
                            40.0
                        } else {
                            0.0
                        }
                    }),
                    failed: line(&|_| 0.0),
                }
            })
            .collect(),
        rss_history: (0..=60)
            .map(|m| {
                (
                    AT_MS - (60 - m) * 60_000,
                    Some((30.0 + m as f64 / 6.0) * 1_048_576.0),
                )
            })
            .collect(),
        exporters: vec![
            ExporterRates {
                exporter: "otlp/jaeger".into(),
                sent_per_s: Some(1234.5),
                failed_per_s: Some(0.0),
                send_p50_s: Some(0.0042),
                send_p99_s: Some(1.25),
            },
            ExporterRates {
                exporter: "prometheus".into(),
                sent_per_s: Some(56.25),
                failed_per_s: Some(0.25),
                send_p50_s: None,
                send_p99_s: None,
            },
        ],
        pipelines: vec![
            PipelineRates {
                pipeline: "traces".into(),
                signal: "traces".into(),
                incoming_per_s: Some(1234.5),
                outgoing_per_s: Some(1200.0),
                refused_per_s: Some(0.0),
                dropped_per_s: Some(34.5),
            },
            PipelineRates {
                pipeline: "metrics/spanmetrics".into(),
                signal: "metrics".into(),
                incoming_per_s: Some(56.25),
                outgoing_per_s: Some(52.75),
                refused_per_s: Some(3.5),
                dropped_per_s: Some(0.0),
            },
        ],
    }
}

/// `n` operations of three services with distinct rates, error shares and quantiles; the
/// summary is the quantile source.
pub fn traces(n: usize) -> TracesView {
    let services = ["checkout", "payments", "cart"];
    let operations = (0..n)
        .map(|i| {
            let f = i as f64;
            OperationRow {
                op: Operation::new(
                    services[i % services.len()],
                    &if i < 3 {
                        ["POST /checkout", "charge", "GET /cart"][i].to_string()
                    } else {
                        format!("GET /items/{i:03}")
                    },
                    if i % 4 == 1 {
                        "SPAN_KIND_CLIENT"
                    } else {
                        "SPAN_KIND_SERVER"
                    },
                ),
                rate_per_s: Some(120.0 / (f + 1.0)),
                // Every fifth operation has no failures; one has no calls at all.
                error_ratio: if i == 2 {
                    None
                } else {
                    Some(((i * 7) % 5) as f64 * 0.004)
                },
                p50_ms: Some(5.0 + f),
                p90_ms: Some(20.0 + 3.0 * f),
                p99_ms: if i == 2 {
                    None
                } else {
                    Some(80.0 + 17.0 * ((i * 13) % 11) as f64)
                },
            }
        })
        .collect();
    TracesView {
        window: "1m".into(),
        source: Some(QuantileSource::Summary),
        operations,
    }
}

/// The latency chart of `op` over the last hour: p50/p90/p99 with a spike 15 minutes ago.
pub fn operation_latency(op: Operation) -> OperationLatency {
    let line = |base: f64| -> Vec<(i64, Option<f64>)> {
        (0..=60)
            .map(|m| {
                let spike = if (44..=47).contains(&m) { 4.0 } else { 1.0 };
                // Ten minutes without data at the start: the operation began later.
                (AT_MS - (60 - m) * 60_000, (m >= 10).then_some(base * spike))
            })
            .collect()
    };
    OperationLatency {
        op,
        source: Some(QuantileSource::Summary),
        lines: vec![
            ("p50".into(), line(20.0)),
            ("p90".into(), line(80.0)),
            ("p99".into(), line(250.0)),
        ],
    }
}

/// Five weeks of a DORA metric, oldest first, the last ending at [`AT_MS`].
fn weekly(name: &str) -> Vec<WeekValue> {
    let values: [Option<f64>; 5] = match name {
        "Deployment frequency" => [Some(1.4), Some(2.0), Some(1.7), Some(2.6), Some(3.1)],
        "Lead time for changes" => [
            Some(9_000.0),
            Some(7_200.0),
            Some(10_800.0),
            Some(12_000.0),
            Some(11_520.0),
        ],
        "Change failure rate" => [Some(0.1), Some(0.15), Some(0.1), Some(0.125), Some(0.125)],
        "Failed deployment recovery time" => [None, None, None, None, Some(90_000.0)],
        _ => [Some(0.05), None, None, None, None],
    };
    let week = 7 * 86_400_000;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| WeekValue {
            end_ms: AT_MS - (4 - i as i64) * week,
            value: *v,
        })
        .collect()
}

/// A failed deployment, the incident it caused and its recovery, a remediation, and an open
/// incident, newest first (as `GET /api/v1/dora/events` lists them).
pub fn recent_events() -> RecentEvents {
    let min = 60_000;
    let ev = |kind: &str, id: &str, t: i64| RecentEvent {
        kind: kind.into(),
        id: id.into(),
        service: "checkout".into(),
        time_ms: AT_MS - t * min,
        ..RecentEvent::default()
    };
    RecentEvents {
        events: vec![
            RecentEvent {
                resolved_ms: None,
                ..ev("incident", "inc-9", 10)
            },
            RecentEvent {
                status: Some("success".into()),
                remediation: true,
                ..ev("deployment", "d-43", 60)
            },
            RecentEvent {
                deployment: Some("d-42".into()),
                resolved_ms: Some(AT_MS - 60 * min),
                recovery_s: Some(3_000.0),
                ..ev("incident", "inc-7", 110)
            },
            RecentEvent {
                status: Some("success".into()),
                failed: true,
                incidents: vec!["inc-7".into()],
                ..ev("deployment", "d-42", 120)
            },
        ],
        total: 4,
    }
}

/// Everything together: the evaluated SLOs, checkout's detail, DORA and the collector.
pub fn snapshot() -> Snapshot {
    Snapshot {
        source: "http://127.0.0.1:9090".into(),
        at_ms: AT_MS,
        slos: evaluated_slos(),
        detail: Some(checkout_detail()),
        budget_trends: budget_trends(),
        dora: dora(),
        collector: collector(),
        traces: traces(8),
        operation: None,
        errors: Vec::new(),
    }
}

/// `n` SLOs (the evaluated five, renamed round-robin) for the bench and scrolling tests.
pub fn many(n: usize) -> Snapshot {
    let base = evaluated_slos();
    let base_trends = budget_trends();
    let mut slos = Vec::with_capacity(n);
    let mut trends = BTreeMap::new();
    for i in 0..n {
        let mut s = base[i % base.len()].clone();
        let trend = base_trends.get(&s.id).cloned();
        s.service = format!("{}-{:03}", s.service, i);
        s.id = format!("{}-{}", s.service, s.slo);
        if let Some(t) = trend {
            trends.insert(s.id.clone(), t);
        }
        slos.push(s);
    }
    sort(&mut slos);
    Snapshot {
        slos,
        budget_trends: trends,
        ..snapshot()
    }
}

/// An app showing `snapshot`.
pub fn app_with(snapshot: Snapshot) -> App {
    let mut app = App::new("burnwatch");
    app.set_snapshot(snapshot);
    app
}

/// A key press without modifiers.
pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// A character key press.
pub fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

/// A Ctrl-`c` key press.
pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Renders one frame of `app` on a `w`×`h` test terminal.
pub fn render(app: &App, w: u16, h: u16, knob: Option<f64>) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| burnwatch_tui::ui::draw(f, app, knob)).unwrap();
    terminal.backend().buffer().clone()
}

/// The buffer as text, one line per row, trailing spaces cut.
pub fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The position of the first cell where `needle` starts (on one row), in cells.
pub fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    for y in 0..buf.area.height {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        for x in 0..cells.len() {
            let mut s = String::new();
            for c in &cells[x..] {
                s.push_str(c);
                if s.len() >= needle.len() {
                    break;
                }
            }
            if s.starts_with(needle) {
                return Some((x as u16, y));
            }
        }
    }
    None
}

/// The row (y) showing `needle` first.
pub fn row_of(buf: &Buffer, needle: &str) -> u16 {
    find(buf, needle)
        .unwrap_or_else(|| panic!("{needle:?} is not on screen:\n{}", text(buf)))
        .1
}

/// The foreground colour of the first cell of `needle` on row `y`.
pub fn fg_on_row(buf: &Buffer, y: u16, needle: &str) -> Color {
    let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
    for x in 0..cells.len() {
        let s: String = cells[x..].concat();
        if s.starts_with(needle) {
            return buf[(x as u16, y)].fg;
        }
    }
    panic!("{needle:?} is not on row {y}:\n{}", text(buf));
}

/// The foreground colour of the first cell of every occurrence of `needle` on row `y`.
pub fn fg_all_on_row(buf: &Buffer, y: u16, needle: &str) -> Vec<Color> {
    let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
    (0..cells.len())
        .filter(|&x| cells[x..].concat().starts_with(needle))
        .map(|x| buf[(x as u16, y)].fg)
        .collect()
}

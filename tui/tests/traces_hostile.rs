//! The Traces view's latency chart and table with hostile data: NaN, ±Inf, values near
//! ±f64::MAX, timestamps at i64::MIN and i64::MAX, empty and single-point series, absurdly long
//! names. Each case draws at sizes from 0×0 to 300 columns without panicking, and finishes: the
//! Collector charts once hung drawing a line near f64::MAX (ratatui's canvas counted a
//! usize::MAX-cell line, fixed in 296c57f by `widgets::chart_bounds`), so each drawing runs on a
//! thread the test waits for with a generous deadline.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use burnwatch_slo::spanmetrics::{Operation, QuantileSource};
use burnwatch_tui::app::{App, View};
use burnwatch_tui::model::{OperationLatency, OperationRow, Snapshot, TimeLine};
use common::*;
use crossterm::event::KeyCode;

const SIZES: [(u16, u16); 8] = [
    (0, 0),
    (1, 1),
    (20, 5),
    (2, 40),
    (300, 3),
    (80, 24),
    (160, 48),
    (300, 80),
];

/// Each hostile line, named after what it holds.
fn hostile_lines() -> Vec<(&'static str, TimeLine)> {
    vec![
        ("empty", Vec::new()),
        ("all gaps", vec![(0, None), (60_000, None)]),
        ("one point", vec![(AT_MS, Some(12.0))]),
        (
            "nan",
            vec![(AT_MS - 60_000, Some(f64::NAN)), (AT_MS, Some(f64::NAN))],
        ),
        (
            "infinities",
            vec![
                (AT_MS - 60_000, Some(f64::INFINITY)),
                (AT_MS, Some(f64::NEG_INFINITY)),
            ],
        ),
        (
            "near max",
            vec![(AT_MS - 60_000, Some(f64::MAX)), (AT_MS, Some(-f64::MAX))],
        ),
        (
            "max and tiny",
            vec![(AT_MS - 60_000, Some(f64::MAX)), (AT_MS, Some(f64::MIN_POSITIVE))],
        ),
        (
            "extreme timestamps",
            vec![(i64::MIN, Some(1.0)), (0, Some(2.0)), (i64::MAX, Some(3.0))],
        ),
        (
            "everything",
            vec![
                (i64::MIN, Some(f64::MAX)),
                (i64::MAX, Some(f64::NAN)),
                (i64::MAX, Some(f64::INFINITY)),
                (0, None),
                (i64::MIN, Some(-1e308)),
            ],
        ),
        // Out of order and duplicated times.
        (
            "unordered",
            vec![
                (AT_MS, Some(5.0)),
                (AT_MS - 120_000, Some(1.0)),
                (AT_MS, Some(7.0)),
            ],
        ),
    ]
}

fn long_op() -> Operation {
    let long = "y".repeat(400);
    Operation::new(
        &format!("{long}-svc"),
        &format!("GET /{long}"),
        "SPAN_KIND_\u{202e}odd",
    )
}

/// A snapshot whose first operation's chart is open with `lines`, and whose table rows hold
/// hostile numbers too.
fn chart_app(name: &str, lines: TimeLine) -> App {
    let mut s: Snapshot = snapshot();
    let op = long_op();
    s.traces.operations.insert(
        0,
        OperationRow {
            op: op.clone(),
            rate_per_s: Some(f64::MAX),
            error_ratio: Some(f64::INFINITY),
            p50_ms: Some(f64::NAN),
            p90_ms: Some(-f64::MAX),
            p99_ms: Some(f64::NEG_INFINITY),
        },
    );
    s.traces.source = Some(QuantileSource::Histogram);
    let mut app = app_with(s.clone());
    app.set_view(View::Traces);
    // The hostile row is the busiest (rate f64::MAX): selected first, Enter opens it.
    app.on_key(key(KeyCode::Enter));
    assert_eq!(
        app.operation_focus(),
        Some(&op),
        "{name}: Enter opens the hostile operation"
    );
    s.operation = Some(OperationLatency {
        op,
        source: Some(QuantileSource::Summary),
        lines: vec![
            ("p50".into(), lines.clone()),
            ("p90".into(), lines),
            ("p99".into(), Vec::new()),
        ],
    });
    app.set_snapshot(s);
    app
}

/// Draws `app` at every size on its own thread; fails if that panics or does not finish.
fn draws_and_finishes(name: &str, app: App) {
    let (tx, rx) = mpsc::channel();
    let name_owned = name.to_string();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for (w, h) in SIZES {
                render(&app, w, h, None);
            }
        }));
        let _ = tx.send(result.map_err(|_| name_owned));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => {}
        Ok(Err(name)) => panic!("drawing the chart with {name} panicked"),
        Err(_) => panic!("drawing the chart with {name} did not finish in two minutes"),
    }
}

#[test]
fn the_latency_chart_draws_hostile_series_without_panicking_or_hanging() {
    for (name, lines) in hostile_lines() {
        let app = chart_app(name, lines);
        assert!(app.operation_open(), "{name}: the chart is open");
        draws_and_finishes(name, app);
    }
}

#[test]
fn a_readable_chart_still_shows_its_figures_beside_hostile_ones() {
    // A line of ordinary values stays readable when another line holds f64::MAX: its newest
    // value is in the status line, and the chart frame is drawn.
    let mut app = chart_app("mixed", hostile_lines()[5].1.clone());
    let mut s = app.snapshot().cloned().unwrap();
    let chart = s.operation.as_mut().unwrap();
    chart.lines[2].1 = vec![(AT_MS - 60_000, Some(40.0)), (AT_MS, Some(42.5))];
    app.set_snapshot(s);
    let t = text(&render(&app, 160, 48, None));
    assert!(t.contains("p99 42.5ms"), "{t}");
    assert!(t.contains("Traces › "), "{t}");
}

#[test]
fn the_table_draws_hostile_rows_in_every_sort_order() {
    let mut app = chart_app("table", Vec::new());
    app.on_key(key(KeyCode::Esc));
    assert!(!app.operation_open());
    for _ in 0..6 {
        app.on_key(ch('s'));
        draws_and_finishes("table rows", app.clone());
        app.on_key(ch('S'));
        draws_and_finishes("table rows reversed", app.clone());
    }
}

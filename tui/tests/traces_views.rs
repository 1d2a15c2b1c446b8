//! The Traces view and the Collector view's charts on ratatui's TestBackend: snapshots with data
//! and without, the sort keys, Enter opening an operation's latency chart, and the selection
//! staying on screen among 200 operations.

mod common;

use burnwatch_slo::spanmetrics::{Operation, QuantileSource};
use burnwatch_tui::app::{Action, App, TraceColumn, View};
use burnwatch_tui::model::{CollectorView, Snapshot, TracesView};
use common::*;
use crossterm::event::KeyCode;
use ratatui::style::Color;

fn traces_app(snapshot: Snapshot) -> App {
    let mut app = app_with(snapshot);
    app.set_view(View::Traces);
    app
}

/// The span names in the order the table shows them.
fn order(app: &App) -> Vec<String> {
    app.operations().iter().map(|r| r.op.span_name.clone()).collect()
}

#[test]
fn traces_layout_with_operations() {
    let app = traces_app(snapshot());
    for (w, h) in [(80, 24), (160, 48)] {
        insta::assert_snapshot!(format!("traces_{w}x{h}"), text(&render(&app, w, h, None)));
    }
}

#[test]
fn traces_layout_without_spanmetrics() {
    let app = traces_app(Snapshot {
        traces: TracesView::default(),
        ..snapshot()
    });
    let t = text(&render(&app, 80, 24, None));
    insta::assert_snapshot!("traces_empty_80x24", t);
    assert!(t.contains("no traces_span_metrics_calls_total series"), "{t}");
    assert!(t.contains("quantiles N/A"), "{t}");
}

#[test]
fn the_table_shows_rate_errors_and_quantiles_and_says_where_they_come_from() {
    let app = traces_app(snapshot());
    let buf = render(&app, 160, 48, None);
    let t = text(&buf);
    assert!(t.contains("exact quantiles (HdrHistogram summary)"), "{t}");
    // The busiest operation first: 120 calls/s, 0% errors, p50 5ms, p90 20ms, p99 80ms.
    let y = row_of(&buf, "POST /checkout");
    let line = t.lines().nth(y as usize).unwrap();
    for cell in [
        "▶", "checkout", "server", "120/s", "0.00%", "5.00ms", "20.0ms", "80.0ms",
    ] {
        assert!(line.contains(cell), "{cell} missing in {line:?}");
    }
    // charge: 60 calls/s, 0.80% errors (amber), client.
    let y = row_of(&buf, "charge");
    let line = t.lines().nth(y as usize).unwrap();
    for cell in [
        "payments", "client", "60.0/s", "0.80%", "6.00ms", "23.0ms", "114ms",
    ] {
        assert!(line.contains(cell), "{cell} missing in {line:?}");
    }
    assert_eq!(fg_on_row(&buf, y, "0.80%"), Color::Yellow);
    // GET /cart has no calls: N/A, not 0%.
    let y = row_of(&buf, "GET /cart");
    let line = t.lines().nth(y as usize).unwrap();
    assert!(line.contains("N/A"), "{line:?}");
}

#[test]
fn s_steps_through_the_sort_columns_and_capital_s_reverses() {
    let mut app = traces_app(snapshot());
    assert_eq!(app.trace_sort().column, TraceColumn::Rate);
    assert_eq!(order(&app)[0], "POST /checkout");
    // Rate → errors → p50 → p90 → p99 → operation → rate.
    app.on_key(ch('s'));
    assert_eq!(app.trace_sort().column, TraceColumn::Errors);
    let errors: Vec<Option<f64>> = app.operations().iter().map(|r| r.error_ratio).collect();
    let known: Vec<f64> = errors.iter().flatten().copied().collect();
    assert!(
        known.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {errors:?}"
    );
    assert_eq!(errors.last(), Some(&None), "no calls sorts last");
    app.on_key(ch('s'));
    app.on_key(ch('s'));
    app.on_key(ch('s'));
    assert_eq!(app.trace_sort().column, TraceColumn::P99);
    let p99: Vec<Option<f64>> = app.operations().iter().map(|r| r.p99_ms).collect();
    assert_eq!(p99[0], Some(250.0));
    assert_eq!(p99.last(), Some(&None));
    let t = text(&render(&app, 160, 48, None));
    assert!(t.contains("sort: p99 ▼"), "{t}");
    app.on_key(ch('S'));
    let p99: Vec<Option<f64>> = app.operations().iter().map(|r| r.p99_ms).collect();
    assert_eq!(p99[0], Some(80.0), "smallest first after S");
    assert_eq!(p99.last(), Some(&None), "missing values stay last reversed too");
    app.on_key(ch('s'));
    assert_eq!(app.trace_sort().column, TraceColumn::Operation);
    assert!(!app.trace_sort().descending, "names read A to Z");
    let names: Vec<(String, String)> = app
        .operations()
        .iter()
        .map(|r| (r.op.service.clone(), r.op.span_name.clone()))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    app.on_key(ch('s'));
    assert_eq!(app.trace_sort().column, TraceColumn::Rate);
}

#[test]
fn the_selection_follows_its_operation_through_a_resort() {
    let mut app = traces_app(snapshot());
    app.on_key(ch('j'));
    let picked = app.selected_operation().unwrap().clone();
    assert_eq!(picked.span_name, "charge");
    app.on_key(ch('s'));
    assert_eq!(app.selected_operation(), Some(&picked));
    let buf = render(&app, 160, 48, None);
    let y = row_of(&buf, "charge");
    assert!(text(&buf).lines().nth(y as usize).unwrap().contains('▶'));
}

#[test]
fn enter_opens_the_operations_latency_chart_and_esc_goes_back() {
    let mut app = traces_app(snapshot());
    app.on_key(ch('j'));
    assert_eq!(app.operation_focus(), None, "nothing to fetch for the table");
    assert_eq!(app.on_key(key(KeyCode::Enter)), Action::SelectionChanged);
    let op = Operation::new("payments", "charge", "SPAN_KIND_CLIENT");
    assert_eq!(app.operation_focus(), Some(&op));
    // Until the chart's series arrive, it says so.
    let t = text(&render(&app, 80, 24, None));
    assert!(t.contains("fetching this operation's latency"), "{t}");
    let mut s = snapshot();
    s.operation = Some(operation_latency(op.clone()));
    app.set_snapshot(s);
    for (w, h) in [(80, 24), (160, 48)] {
        insta::assert_snapshot!(
            format!("traces_operation_{w}x{h}"),
            text(&render(&app, w, h, None))
        );
    }
    let buf = render(&app, 160, 48, None);
    let t = text(&buf);
    assert!(t.contains("Traces › payments charge (client)"), "{t}");
    // The newest values of each line and the source.
    assert!(t.contains("p50 20.0ms"), "{t}");
    assert!(t.contains("p99 250ms"), "{t}");
    assert!(t.contains("exact quantiles"), "{t}");
    // ↓ moves to the next operation and asks for its series.
    assert_eq!(app.on_key(ch('j')), Action::SelectionChanged);
    assert_eq!(app.operation_focus().unwrap().span_name, "GET /cart");
    assert!(text(&render(&app, 80, 24, None)).contains("fetching this operation's latency"));
    app.on_key(key(KeyCode::Esc));
    assert!(!app.operation_open());
    assert_eq!(app.view(), View::Traces);
    assert_eq!(app.operation_focus(), None);
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.view(), View::Slos);
}

#[test]
fn returning_to_an_open_chart_asks_for_its_series() {
    let mut app = traces_app(snapshot());
    app.on_key(key(KeyCode::Enter));
    app.on_key(ch('1'));
    assert_eq!(
        app.operation_focus(),
        None,
        "not fetched while another view is shown"
    );
    assert_eq!(app.on_key(ch('6')), Action::SelectionChanged);
}

#[test]
fn the_histogram_fallback_is_named_on_screen() {
    let mut s = snapshot();
    s.traces.source = Some(QuantileSource::Histogram);
    let t = text(&render(&traces_app(s), 160, 48, None));
    assert!(t.contains("quantiles interpolated from histogram buckets"), "{t}");
}

#[test]
fn the_selected_operation_stays_on_screen_among_200() {
    let mut app = traces_app(Snapshot {
        traces: traces(200),
        ..snapshot()
    });
    for _ in 0..150 {
        app.on_key(ch('j'));
    }
    let op = app.selected_operation().unwrap().clone();
    let buf = render(&app, 80, 24, None);
    let y = row_of(&buf, &op.span_name);
    assert!(text(&buf).lines().nth(y as usize).unwrap().contains('▶'));
    app.on_key(ch('G'));
    let last = app.operations().last().unwrap().op.span_name.clone();
    assert!(text(&render(&app, 80, 24, None)).contains(&last));
}

#[test]
fn the_collector_view_charts_the_last_hour_and_lists_exporters() {
    let mut app = app_with(snapshot());
    app.set_view(View::Collector);
    let buf = render(&app, 160, 48, None);
    let t = text(&buf);
    for want in [
        "Last hour",
        "accepted/s",
        "refused/s",
        "failed/s",
        "RSS · limit · soft",
    ] {
        assert!(t.contains(want), "{want} missing:\n{t}");
    }
    // Exporters with a queue and without (prometheus): sent and failed per second.
    let y = row_of(&buf, "otlp/jaeger");
    let line = t.lines().nth(y as usize).unwrap();
    assert!(line.contains("1234/s") && line.contains("512/1000"), "{line:?}");
    let y = row_of(&buf, "prometheus");
    let line = t.lines().nth(y as usize).unwrap();
    assert!(
        line.contains("56.2/s") && line.contains("no sending queue"),
        "{line:?}"
    );
    assert_eq!(fg_on_row(&buf, y, "0.2/s"), Color::Red);
    // The log pipeline has no data: its chart lines are absent, and a view without any history
    // says N/A in each chart.
    let mut s = snapshot();
    s.collector = CollectorView {
        history: Vec::new(),
        rss_history: Vec::new(),
        ..collector()
    };
    let t = text(&render(&app_with_view(s, View::Collector), 160, 48, None));
    assert!(t.matches("N/A").count() >= 4, "{t}");
}

#[test]
fn the_collector_view_shows_send_latency_and_pipeline_rows() {
    let buf = render(&app_with_view(snapshot(), View::Collector), 160, 48, None);
    let t = text(&buf);
    // Per exporter: p50 and p99 of the send latency; none for an exporter that does not send.
    let y = row_of(&buf, "otlp/jaeger");
    let line = t.lines().nth(y as usize).unwrap();
    assert!(line.contains("4.2ms") && line.contains("1.25s"), "{line:?}");
    let y = row_of(&buf, "prometheus");
    assert_eq!(
        t.lines().nth(y as usize).unwrap().matches("N/A").count(),
        2,
        "{t}"
    );
    // Per pipeline: in, out, refused, dropped; what was dropped or refused is red.
    let y = row_of(&buf, "metrics/spanmetrics");
    let line = t.lines().nth(y as usize).unwrap();
    assert!(
        line.contains("56.2/s") && line.contains("52.8/s") && line.contains("3.5/s"),
        "{line:?}"
    );
    assert_eq!(fg_on_row(&buf, y, "3.5/s"), Color::Red);
    let y = row_of(&buf, "traces   ");
    assert_eq!(fg_on_row(&buf, y, "34.5/s"), Color::Red);
    // No pipeline counts (a collector before them, or a plain otelcol): said so.
    let mut s = snapshot();
    s.collector.pipelines.clear();
    let t = text(&render(&app_with_view(s, View::Collector), 160, 48, None));
    assert!(t.contains("no pipeline counts reported: N/A"), "{t}");
}

fn app_with_view(s: Snapshot, view: View) -> App {
    let mut app = app_with(s);
    app.set_view(view);
    app
}

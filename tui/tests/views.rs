//! Every view rendered to ratatui's TestBackend: text snapshots for the layout at 80×24 and
//! 160×48, cell colours for the policy bands, and odd data (no traffic, an overspent budget, NaN,
//! an empty snapshot, tiny terminals) that must draw without panicking.

mod common;

use burnwatch_slo::slo::PolicyStatus;
use burnwatch_tui::app::{App, View};
use burnwatch_tui::model::{
    BurndownPoint, CollectorView, ExporterRates, PipelineRates, QueryOutcome, QueueFill, SignalHistory,
    SignalRates, SloDetail, Snapshot, Sparkline,
};
use common::*;
use crossterm::event::KeyCode;
use ratatui::style::Color;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn app_on(view: View) -> App {
    let mut app = app_with(snapshot());
    app.set_view(view);
    app
}

fn assert_view(name: &str, app: &App, knob: Option<f64>) {
    for (w, h) in SIZES {
        let buf = render(app, w, h, knob);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), text(&buf));
    }
}

#[test]
fn slo_table_layout() {
    assert_view("slos", &app_on(View::Slos), None);
}

#[test]
fn detail_layout() {
    assert_view("detail", &app_on(View::Detail), None);
}

#[test]
fn dora_layout() {
    assert_view("dora", &app_on(View::Dora), None);
}

#[test]
fn collector_layout() {
    assert_view("collector", &app_on(View::Collector), None);
}

#[test]
fn promql_layout_with_a_table() {
    let mut app = app_on(View::Promql);
    for c in "sum by (code) (rate(http_requests_total[5m]))".chars() {
        app.on_key(ch(c));
    }
    app.set_outcome(QueryOutcome::Table {
        rows: vec![
            ("{code=\"200\"}".into(), "19986".into()),
            ("{code=\"500\"}".into(), "14".into()),
        ],
    });
    assert_view("promql_table", &app, None);
}

#[test]
fn promql_layout_with_a_chart() {
    let mut app = app_on(View::Promql);
    for c in "rate(http_requests_total[5m])".chars() {
        app.on_key(ch(c));
    }
    app.on_key(ctrl('g'));
    let line = |f: fn(f64) -> f64| -> Vec<(i64, f64)> {
        (0..=60)
            .map(|i| (AT_MS - (60 - i) * 60_000, f(i as f64)))
            .collect()
    };
    app.set_outcome(QueryOutcome::Lines {
        series: vec![
            ("{code=\"200\"}".into(), line(|i| 300.0 + i)),
            (
                "{code=\"500\"}".into(),
                line(|i| if i > 40.0 { 60.0 } else { 5.0 }),
            ),
        ],
    });
    assert_view("promql_chart", &app, None);
}

#[test]
fn promql_error_puts_a_caret_under_the_position() {
    let mut app = app_on(View::Promql);
    for c in "sum(rate(x[5m])".chars() {
        app.on_key(ch(c));
    }
    app.set_outcome(QueryOutcome::Error {
        message: "1:16: parse error: unclosed left parenthesis".into(),
        position: Some(15),
    });
    let buf = render(&app, 80, 24, None);
    insta::assert_snapshot!("promql_error_80x24", text(&buf));
    // The input text starts after the border and the prompt (3 cells); the caret is under
    // character 15 of it.
    let (x, _) = find(&buf, "sum(rate(").unwrap();
    let (cx, cy) = find(&buf, "^ character 15").unwrap();
    assert_eq!(cx, x + 15);
    assert_eq!(buf[(cx, cy)].fg, Color::Red);
    assert!(text(&buf).contains("unclosed left parenthesis"));
}

#[test]
fn help_overlay_lists_the_keys() {
    let mut app = app_on(View::Slos);
    app.on_key(ch('?'));
    let buf = render(&app, 80, 24, Some(0.005));
    insta::assert_snapshot!("help_80x24", text(&buf));
    let t = text(&buf);
    for k in [
        "Tab Shift-Tab 1-6",
        "q, Ctrl-C",
        "Ctrl-G, F2",
        "Enter → l",
        "+ / -",
    ] {
        assert!(t.contains(k), "{k} missing from the help:\n{t}");
    }
}

#[test]
fn the_status_bar_shows_the_knob_and_errors() {
    let mut s = snapshot();
    s.errors = vec!["query dora failed: timeout".into(), "second".into()];
    let app = app_with(s);
    let buf = render(&app, 160, 48, Some(0.005));
    let t = text(&buf);
    let last = t.lines().nth(47).unwrap();
    assert!(last.contains("demo errors 0.50%  [+/-]"), "{last}");
    assert!(last.contains("2 errors: query dora failed: timeout"), "{last}");
    assert!(last.contains("http://127.0.0.1:9090"), "{last}");
    assert!(last.contains("04:00:00 UTC"), "{last}");
    let y = row_of(&buf, "2 errors");
    assert_eq!(fg_on_row(&buf, y, "2 errors"), Color::Red);
}

#[test]
fn budget_cells_take_the_policy_colour() {
    let app = app_on(View::Slos);
    let slos = &app.snapshot().unwrap().slos;
    let policy = |svc: &str| slos.iter().find(|s| s.service == svc).unwrap().policy;
    assert_eq!(policy("inventory"), Some(PolicyStatus::Green));
    assert_eq!(policy("search"), Some(PolicyStatus::Yellow));
    assert_eq!(policy("payments"), Some(PolicyStatus::Red));
    assert_eq!(policy("checkout"), Some(PolicyStatus::Exhausted));
    assert_eq!(policy("catalog"), None);
    for (w, h) in SIZES {
        let buf = render(&app, w, h, None);
        for (svc, pct, color) in [
            ("inventory", "80.00%", Color::Green),
            ("search", "40.00%", Color::Yellow),
            ("payments", "10.00%", Color::Red),
            ("checkout", "-441.67%", Color::Magenta),
            ("catalog", "N/A", Color::DarkGray),
        ] {
            let y = row_of(&buf, svc);
            assert_eq!(
                fg_on_row(&buf, y, pct),
                color,
                "{svc} at {w}x{h}:\n{}",
                text(&buf)
            );
        }
    }
}

#[test]
fn zero_traffic_reads_na_not_zero_or_full() {
    let app = app_on(View::Slos);
    let buf = render(&app, 160, 48, None);
    let t = text(&buf);
    let line = t.lines().find(|l| l.contains("catalog")).unwrap();
    assert!(line.contains("N/A"), "{line}");
    assert!(!line.contains("0.00%") && !line.contains("100.00%"), "{line}");
    // Its SLI, budget and burn columns are N/A, all in grey.
    let y = row_of(&buf, "catalog");
    let colours = fg_all_on_row(&buf, y, "N/A");
    assert!(colours.len() >= 5, "{line}");
    assert!(colours.iter().all(|c| *c == Color::DarkGray), "{colours:?}");
}

#[test]
fn firing_alerts_and_hot_burn_rates_are_red() {
    let app = app_on(View::Slos);
    let buf = render(&app, 160, 48, None);
    let y = row_of(&buf, "checkout");
    assert_eq!(fg_on_row(&buf, y, "page"), Color::Red);
    assert_eq!(fg_on_row(&buf, y, "ticket"), Color::Yellow);
    // The alert's name follows when the column has room for it.
    let wide = render(&app, 200, 48, None);
    let y = row_of(&wide, "checkout");
    assert_eq!(
        fg_on_row(&wide, y, "page ticket CheckoutHighErrorRate"),
        Color::Red
    );
    // 30x over 5m is past the page factor (14.4x).
    assert_eq!(fg_on_row(&buf, y, "30x"), Color::Red);
}

#[test]
fn eighty_columns_keep_the_essential_columns() {
    let app = app_on(View::Slos);
    let buf = render(&app, 80, 24, None);
    let t = text(&buf);
    let header = t.lines().find(|l| l.contains("Service")).unwrap();
    for col in ["Service", "SLO", "Budget left", "1h", "Firing"] {
        assert!(header.contains(col), "{col} missing: {header}");
    }
    assert!(t.lines().all(|l| l.chars().count() <= 80));
}

fn with_slo(f: impl FnOnce(&mut burnwatch_slo::slo::status::SloStatus)) -> App {
    let mut s = snapshot();
    f(&mut s.slos[0]);
    let mut app = app_with(s);
    app.set_view(View::Slos);
    app
}

#[test]
fn an_overspent_budget_shows_its_negative_share_over_an_empty_bar() {
    let app = with_slo(|s| {
        s.budget_remaining = Some(-0.35);
        s.policy = Some(PolicyStatus::Exhausted);
    });
    let buf = render(&app, 160, 48, None);
    let y = row_of(&buf, "-35.00%");
    assert_eq!(fg_on_row(&buf, y, "-35.00%"), Color::Magenta);
    let line = text(&buf).lines().nth(y as usize).unwrap().to_string();
    assert!(line.contains("░░░░░░░░░░  -35.00%"), "{line}");
    // Without a policy field the colour still follows the number.
    let app = with_slo(|s| {
        s.budget_remaining = Some(-0.35);
        s.policy = None;
    });
    let buf = render(&app, 80, 24, None);
    let y = row_of(&buf, "-35.00%");
    assert_eq!(fg_on_row(&buf, y, "-35.00%"), Color::Magenta);
}

#[test]
fn nan_everywhere_reads_na_and_never_nan() {
    let mut s = snapshot();
    for slo in &mut s.slos {
        slo.budget_remaining = Some(f64::NAN);
        slo.current_burn_rate = Some(f64::NAN);
        slo.period_burn_rate = Some(f64::NAN);
        slo.exhaustion.burn_rate = Some(f64::NAN);
        slo.objective = f64::NAN;
        slo.error_budget = f64::NAN;
        for w in &mut slo.windows {
            w.error_ratio = Some(f64::NAN);
            w.burn_rate = Some(f64::NAN);
        }
        for a in &mut slo.alerts {
            for r in &mut a.rows {
                r.long_error_ratio = Some(f64::NAN);
                r.short_error_ratio = Some(f64::NAN);
                r.burn_rate_threshold = f64::NAN;
            }
        }
    }
    if let Some(d) = &mut s.detail {
        for p in &mut d.burndown {
            p.remaining = Some(f64::NAN);
            p.ideal = f64::NAN;
        }
        for sp in &mut d.sparklines {
            for p in &mut sp.points {
                p.1 = Some(f64::NAN);
            }
        }
    }
    s.collector.rss_bytes = Some(f64::NAN);
    s.collector.signals[0].accepted_per_s = Some(f64::NAN);
    s.collector.queues[0].size = f64::NAN;
    s.dora.metrics[0].value = Some(f64::NAN);
    s.dora.metrics[0].previous = Some(f64::NAN);
    let mut app = app_with(s);
    for view in View::ALL {
        app.set_view(view);
        for (w, h) in SIZES {
            let t = text(&render(&app, w, h, Some(f64::NAN)));
            assert!(!t.contains("NaN"), "{view:?} {w}x{h}:\n{t}");
            assert!(t.contains("N/A"), "{view:?} {w}x{h}:\n{t}");
        }
    }
}

#[test]
fn an_empty_snapshot_and_no_snapshot_draw_every_view() {
    let empty = app_with(Snapshot::default());
    let none = App::new("burnwatch");
    for mut app in [empty, none] {
        for view in View::ALL {
            app.set_view(view);
            for (w, h) in SIZES {
                let t = text(&render(&app, w, h, None));
                assert!(t.contains("burnwatch"), "{t}");
            }
        }
    }
    let mut app = app_with(Snapshot::default());
    let t = text(&render(&app, 80, 24, None));
    assert!(t.contains("no SLOs"), "{t}");
    app.set_view(View::Dora);
    let t = text(&render(&app, 160, 48, None));
    assert!(
        t.contains("no dora_* series: POST events to /api/v1/dora/events"),
        "{t}"
    );
    app.set_view(View::Detail);
    let t = text(&render(&app, 80, 24, None));
    assert!(t.contains("no SLO selected"), "{t}");
}

/// Data built to trip every guard: out-of-range gauge ratios, infinite and reversed chart
/// ranges, single points, huge names.
fn hostile() -> Snapshot {
    let mut s = snapshot();
    let long = "x".repeat(500);
    s.slos[0].service = format!("{long}-service");
    s.slos[0].slo = format!("{long}-slo");
    s.slos[0].exhaustion.burn_window = "7y".into();
    s.slos[1].budget_remaining = Some(f64::INFINITY);
    s.slos[2].budget_remaining = Some(f64::NEG_INFINITY);
    s.slos[3].windows[0].burn_rate = Some(f64::INFINITY);
    s.slos.push(failed_slo());
    s.detail = Some(SloDetail {
        id: s.slos[0].id.clone(),
        burndown: vec![
            BurndownPoint {
                t_ms: i64::MAX,
                remaining: Some(f64::INFINITY),
                ideal: f64::NEG_INFINITY,
            },
            BurndownPoint {
                t_ms: i64::MIN,
                remaining: Some(-1e308),
                ideal: 1e308,
            },
        ],
        sparklines: vec![Sparkline {
            span: long.clone(),
            rate_window: long.clone(),
            points: vec![(0, Some(f64::INFINITY)), (1, Some(-5.0)), (2, None)],
        }],
    });
    s.collector = CollectorView {
        up: Some(false),
        signals: vec![SignalRates {
            signal: long.clone(),
            accepted_per_s: Some(f64::INFINITY),
            refused_per_s: Some(-1.0),
            failed_per_s: None,
        }],
        queues: vec![
            QueueFill {
                exporter: long.clone(),
                size: 5000.0,
                capacity: 10.0,
            },
            QueueFill {
                exporter: "neg".into(),
                size: -3.0,
                capacity: -1.0,
            },
        ],
        rss_bytes: Some(1e30),
        memory_limit_bytes: Some(1.0),
        memory_soft_limit_bytes: Some(1e40),
        history: vec![SignalHistory {
            signal: long.clone(),
            accepted: vec![(i64::MIN, Some(1e308)), (i64::MAX, Some(-1e308)), (0, None)],
            refused: vec![(i64::MAX, Some(f64::INFINITY)), (i64::MIN, Some(5.0))],
            failed: vec![(0, Some(f64::NAN))],
        }],
        rss_history: vec![(i64::MIN, Some(1e300)), (i64::MAX, Some(0.0))],
        exporters: vec![
            ExporterRates {
                exporter: long.clone(),
                sent_per_s: Some(f64::NAN),
                failed_per_s: Some(f64::INFINITY),
                send_p50_s: Some(f64::NEG_INFINITY),
                send_p99_s: Some(f64::MAX),
            },
            ExporterRates {
                exporter: "neg".into(),
                send_p50_s: Some(-0.5),
                send_p99_s: Some(f64::NAN),
                ..ExporterRates::default()
            },
        ],
        pipelines: vec![PipelineRates {
            pipeline: long.clone(),
            signal: long.clone(),
            incoming_per_s: Some(f64::INFINITY),
            outgoing_per_s: Some(f64::NAN),
            refused_per_s: Some(-1e308),
            dropped_per_s: Some(f64::MAX),
        }],
    };
    s.errors = vec![long.clone()];
    s
}

fn hostile_outcomes() -> Vec<QueryOutcome> {
    vec![
        QueryOutcome::Lines {
            series: vec![
                ("{a=\"1\"}".into(), vec![(0, f64::NAN), (1, f64::INFINITY)]),
                (String::new(), vec![(i64::MIN, 1e308), (i64::MAX, -1e308)]),
                ("{b=\"2\"}".into(), vec![(5, 3.0)]),
            ],
        },
        QueryOutcome::Lines { series: vec![] },
        QueryOutcome::Table { rows: vec![] },
        QueryOutcome::Table {
            rows: vec![("x".repeat(1000), "y".repeat(1000))],
        },
        QueryOutcome::Error {
            message: "line\n".repeat(50),
            position: Some(usize::MAX),
        },
    ]
}

#[test]
fn tiny_terminals_and_hostile_data_never_panic() {
    let mut apps = vec![app_with(snapshot()), app_with(hostile()), App::new("t")];
    let mut help = app_with(hostile());
    help.on_key(ch('?'));
    apps.push(help);
    for outcome in hostile_outcomes() {
        let mut a = app_with(hostile());
        a.set_view(View::Promql);
        for c in "a very long query that will not fit in a tiny terminal at all".chars() {
            a.on_key(ch(c));
        }
        a.set_outcome(outcome);
        apps.push(a);
    }
    for app in &mut apps {
        for view in View::ALL {
            if app.view() != View::Promql || app.outcome().is_none() {
                app.set_view(view);
            }
            for (w, h) in [(1, 1), (20, 5), (0, 0), (2, 40), (300, 3), (80, 24), (160, 48)] {
                render(app, w, h, Some(f64::INFINITY));
            }
        }
    }
}

#[test]
fn the_selected_row_stays_on_screen_when_scrolling_200_slos() {
    let mut app = app_with(many(200));
    for _ in 0..150 {
        app.on_key(ch('j'));
    }
    let id = app.selected_id().unwrap().to_string();
    let svc = app.selected().unwrap().service.clone();
    let buf = render(&app, 80, 24, None);
    assert!(text(&buf).contains(&svc), "{id} not shown");
    // Moving up one row does not jump the table: the row is still drawn, one line higher.
    let y = row_of(&buf, &svc);
    app.on_key(key(KeyCode::Up));
    let prev = app.selected().unwrap().service.clone();
    let buf2 = render(&app, 80, 24, None);
    assert_eq!(row_of(&buf2, &prev), y - 1);
}

#[test]
fn detail_waits_for_its_own_series() {
    let mut app = app_on(View::Slos);
    // Select the second SLO: the snapshot's detail is for the first.
    app.on_key(ch('j'));
    app.on_key(key(KeyCode::Enter));
    let t = text(&render(&app, 160, 48, None));
    assert!(t.contains("loading…"), "{t}");
    // The status part is there already.
    assert!(t.contains("payments"), "{t}");
    assert!(t.contains("burn-rate alerts"), "{t}");
}

#[test]
fn detail_shows_exhaustion_policy_and_the_alert_rows() {
    let app = app_on(View::Detail);
    let buf = render(&app, 160, 48, None);
    let t = text(&buf);
    assert!(
        t.contains("budget exhausted: feature freeze until it recovers"),
        "{t}"
    );
    assert!(t.contains("time to exhaustion: budget gone in 0s"), "{t}");
    for row in ["1h/5m", "6h/30m", "1d/2h", "3d/6h"] {
        assert!(t.contains(row), "{row}:\n{t}");
    }
    let y = row_of(&buf, "1h/5m");
    assert_eq!(fg_on_row(&buf, y, "FIRING"), Color::Red);
    assert!(t.contains("1 gap"), "{t}");
}

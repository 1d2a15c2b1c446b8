//! One frame of the dashboard's SLO view with 200 SLOs, rendered into ratatui's TestBackend at
//! 160×48 and 80×24: the UI work of a redraw (layout, building the visible rows, rendering the
//! widgets, diffing against the previous frame), without a real terminal's I/O. Goal: ≤ 5 ms a
//! frame. The detail view (a braille chart and sparklines) is measured next to it.
//!
//! `cargo bench --bench tui_frame`

#[path = "../tui/tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use burnwatch_tui::app::{App, View};
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// Renders frames of `app` on a `w`×`h` terminal. With `moving`, each frame first moves the
/// selection a row down or up, so every frame differs from the one before (a redraw after a key
/// press, not an unchanged buffer).
fn bench_view(c: &mut Criterion, name: &str, app: &mut App, (w, h): (u16, u16), moving: bool) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let down = common::ch('j');
    let up = common::ch('k');
    let mut flip = false;
    c.bench_function(name, |b| {
        b.iter(|| {
            if moving {
                flip = !flip;
                app.on_key(if flip { down } else { up });
            }
            terminal
                .draw(|f| burnwatch_tui::ui::draw(f, black_box(&*app), Some(0.005)))
                .unwrap();
        })
    });
}

fn frames(c: &mut Criterion) {
    let snapshot = common::many(200);
    assert_eq!(snapshot.slos.len(), 200);
    let mut app = common::app_with(snapshot);
    for (w, h) in [(160, 48), (80, 24)] {
        bench_view(c, &format!("slo_view_200_slos_{w}x{h}"), &mut app, (w, h), true);
    }
    let mut detail = common::app_with(common::snapshot());
    detail.set_view(View::Detail);
    bench_view(c, "detail_view_160x48", &mut detail, (160, 48), false);
    // The Traces view with 200 operations (sorted each frame), the selection moving; then one
    // operation's latency chart, and the Collector view's charts.
    let mut traces = common::app_with(burnwatch_tui::model::Snapshot {
        traces: common::traces(200),
        ..common::snapshot()
    });
    traces.set_view(View::Traces);
    for (w, h) in [(160, 48), (80, 24)] {
        bench_view(
            c,
            &format!("traces_view_200_operations_{w}x{h}"),
            &mut traces,
            (w, h),
            true,
        );
    }
    let mut chart = common::app_with(common::snapshot());
    chart.set_view(View::Traces);
    chart.on_key(common::key(ratatui::crossterm::event::KeyCode::Enter));
    let op = chart.operation_focus().cloned().unwrap();
    let mut s = common::snapshot();
    s.operation = Some(common::operation_latency(op));
    chart.set_snapshot(s);
    bench_view(c, "traces_operation_chart_160x48", &mut chart, (160, 48), false);
    let mut collector = common::app_with(common::snapshot());
    collector.set_view(View::Collector);
    bench_view(c, "collector_view_160x48", &mut collector, (160, 48), false);
}

/// The practice view (`burnwatch learn`) over the built-in curriculum: the list with the
/// selection moving, then an open PromQL exercise with its answer's preview table.
fn learn_frames(c: &mut Criterion) {
    use burnwatch_tui::learn::LearnApp;
    use burnwatch_tui::learn::session::Session;
    let curriculum = burnwatch_learn::Curriculum::builtin();
    let mut app = LearnApp::new(curriculum);
    let (down, up) = (common::ch('j'), common::ch('k'));
    for (w, h) in [(160, 48), (80, 24)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut flip = false;
        c.bench_function(&format!("learn_list_{w}x{h}"), |b| {
            b.iter(|| {
                flip = !flip;
                app.on_key(if flip { down } else { up });
                terminal
                    .draw(|f| burnwatch_tui::ui::learn::draw(f, black_box(&app)))
                    .unwrap();
            })
        });
    }
    // No progress file is written: only the preview runs, never a check.
    let session = Session::open(std::env::temp_dir().join("burnwatch-bench-learn-no-such-file.json"));
    app.on_key(common::key(ratatui::crossterm::event::KeyCode::Home));
    app.on_key(common::key(ratatui::crossterm::event::KeyCode::Enter));
    for ch in burnwatch_learn::grade::reveal(app.selected().1).chars() {
        app.on_key(common::ch(ch));
    }
    session.preview(&mut app);
    assert!(app.attempt().and_then(|a| a.preview.as_ref()).is_some());
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    c.bench_function("learn_exercise_with_preview_160x48", |b| {
        b.iter(|| {
            terminal
                .draw(|f| burnwatch_tui::ui::learn::draw(f, black_box(&app)))
                .unwrap();
        })
    });
}

criterion_group!(benches, frames, learn_frames);
criterion_main!(benches);

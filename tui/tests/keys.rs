//! Key handling: `App::on_key` drives the state and tells the loop what to do, without a
//! terminal. Each test presses keys as a user would and checks what they would see change.

mod common;

use burnwatch_tui::app::{Action, App, CHART_RANGE_MS, View};
use common::*;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

fn app() -> App {
    app_with(snapshot())
}

fn ids(app: &App) -> Vec<String> {
    app.visible_slos().iter().map(|s| s.id.clone()).collect()
}

#[test]
fn tab_cycles_through_every_view_and_back() {
    let mut app = app();
    let mut seen = vec![app.view()];
    for _ in 0..View::ALL.len() {
        if app.query_focused() {
            // The PromQL view takes the focus on entry: Tab is ignored there until Esc.
            app.on_key(key(KeyCode::Tab));
            assert_eq!(app.view(), View::Promql);
            app.on_key(key(KeyCode::Esc));
        }
        app.on_key(key(KeyCode::Tab));
        seen.push(app.view());
    }
    assert_eq!(
        seen,
        vec![
            View::Slos,
            View::Detail,
            View::Dora,
            View::Collector,
            View::Promql,
            View::Traces,
            View::Slos
        ]
    );
    app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.view(), View::Traces);
    app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.view(), View::Promql);
    app.on_key(key(KeyCode::Esc));
    app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.view(), View::Collector);
}

#[test]
fn number_keys_pick_views() {
    let mut app = app();
    for (k, view) in [
        ('3', View::Dora),
        ('4', View::Collector),
        ('2', View::Detail),
        ('1', View::Slos),
    ] {
        app.on_key(ch(k));
        assert_eq!(app.view(), view);
    }
    app.on_key(ch('5'));
    assert_eq!(app.view(), View::Promql);
    assert!(app.query_focused());
}

#[test]
fn enter_opens_the_detail_of_the_selected_row() {
    let mut app = app();
    let rows = ids(&app);
    assert_eq!(app.selected_id(), Some(rows[0].as_str()));
    app.on_key(ch('j'));
    app.on_key(key(KeyCode::Down));
    app.on_key(ch('k'));
    app.on_key(ch('j'));
    assert_eq!(app.selected_index(), Some(2));
    let action = app.on_key(key(KeyCode::Enter));
    assert_eq!(action, Action::SelectionChanged);
    assert_eq!(app.view(), View::Detail);
    assert_eq!(app.selected_id(), Some(rows[2].as_str()));
    assert_eq!(app.detail_id(), Some(rows[2].as_str()));
    let t = text(&render(&app, 80, 24, None));
    assert!(t.contains("search / requests-availability"), "{t}");
    // In the detail view j/k step through SLOs and ask for their series.
    assert_eq!(app.on_key(ch('j')), Action::SelectionChanged);
    assert_eq!(app.selected_id(), Some(rows[3].as_str()));
    // Esc goes back; the selection stays.
    assert_eq!(app.on_key(key(KeyCode::Esc)), Action::None);
    assert_eq!(app.view(), View::Slos);
    assert_eq!(app.selected_index(), Some(3));
    assert_eq!(app.detail_id(), None);
}

#[test]
fn selection_clamps_at_the_ends() {
    let mut app = app();
    app.on_key(ch('k'));
    assert_eq!(app.selected_index(), Some(0));
    app.on_key(ch('G'));
    assert_eq!(app.selected_index(), Some(4));
    app.on_key(key(KeyCode::PageDown));
    assert_eq!(app.selected_index(), Some(4));
    app.on_key(key(KeyCode::Home));
    assert_eq!(app.selected_index(), Some(0));
}

#[test]
fn the_filter_narrows_the_table_and_esc_clears_it() {
    let mut app = app();
    assert_eq!(app.on_key(ch('/')), Action::None);
    assert!(app.filter_editing());
    // Keys now type into the filter: `q` and digits are text, not commands.
    for c in "PAY".chars() {
        assert_eq!(app.on_key(ch(c)), Action::None);
    }
    assert_eq!(ids(&app), vec!["payments-requests-availability".to_string()]);
    assert_eq!(app.selected_id(), Some("payments-requests-availability"));
    let t = text(&render(&app, 80, 24, None));
    assert!(t.contains("SLOs (1 of 5) · filter: PAY"), "{t}");
    assert!(t.contains("/PAY"), "{t}");
    assert!(!t.contains("inventory"), "{t}");
    // Enter keeps it; the table stays narrowed and keys are commands again.
    app.on_key(key(KeyCode::Enter));
    assert!(!app.filter_editing());
    assert_eq!(ids(&app).len(), 1);
    // Esc in the table clears it.
    app.on_key(key(KeyCode::Esc));
    assert_eq!(ids(&app).len(), 5);
    assert_eq!(app.selected_id(), Some("payments-requests-availability"));
    // Esc in the prompt clears it too; a filter matching nothing says so.
    app.on_key(ch('/'));
    for c in "zzz".chars() {
        app.on_key(ch(c));
    }
    assert!(ids(&app).is_empty());
    assert_eq!(app.selected_id(), None);
    let t = text(&render(&app, 80, 24, None));
    assert!(t.contains("no SLO matches the filter \"zzz\""), "{t}");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(ids(&app).len(), 5);
    assert!(app.selected_id().is_some());
}

#[test]
fn q_quits_but_is_text_in_the_promql_input() {
    let mut app = app();
    app.on_key(ch('5'));
    for c in "sum(rate(x[5m])) by (q) > 1".chars() {
        assert_eq!(app.on_key(ch(c)), Action::None, "{c}");
    }
    assert_eq!(app.query().text(), "sum(rate(x[5m])) by (q) > 1");
    assert_eq!(app.view(), View::Promql);
    // Esc leaves the input; now q quits.
    app.on_key(key(KeyCode::Esc));
    assert!(!app.query_focused());
    assert_eq!(app.on_key(ch('q')), Action::Quit);
    // From anywhere else too.
    let mut app = self::app();
    assert_eq!(app.on_key(ch('q')), Action::Quit);
}

#[test]
fn ctrl_c_quits_even_while_typing() {
    let mut app = app();
    app.on_key(ch('5'));
    assert_eq!(app.on_key(ctrl('c')), Action::Quit);
    let mut app = self::app();
    app.on_key(ch('/'));
    assert_eq!(app.on_key(ctrl('c')), Action::Quit);
}

#[test]
fn enter_runs_the_query_and_ctrl_g_switches_to_the_chart() {
    let mut app = app();
    app.on_key(ch('5'));
    // Nothing typed: nothing to run.
    assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None);
    for c in "  up".chars() {
        app.on_key(ch(c));
    }
    // Editing at the cursor.
    app.on_key(key(KeyCode::Left));
    app.on_key(key(KeyCode::Left));
    app.on_key(ch('x'));
    app.on_key(key(KeyCode::Backspace));
    app.on_key(key(KeyCode::End));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        Action::RunQuery {
            expr: "  up".into(),
            range_ms: None
        }
    );
    assert!(app.query_running());
    assert_eq!(
        app.on_key(ctrl('g')),
        Action::RunQuery {
            expr: "  up".into(),
            range_ms: Some(CHART_RANGE_MS)
        }
    );
    assert!(app.chart());
    // F2 switches back, also from outside the input.
    app.on_key(key(KeyCode::Esc));
    assert_eq!(
        app.on_key(key(KeyCode::F(2))),
        Action::RunQuery {
            expr: "  up".into(),
            range_ms: None
        }
    );
    // Enter focuses the input again; Ctrl-U clears it.
    app.on_key(key(KeyCode::Enter));
    assert!(app.query_focused());
    app.on_key(ctrl('u'));
    assert_eq!(app.query().text(), "");
}

#[test]
fn help_opens_with_question_mark_and_any_key_closes_it() {
    let mut app = app();
    app.on_key(ch('?'));
    assert!(app.help());
    // A reflexive q closes the help instead of quitting.
    assert_eq!(app.on_key(ch('q')), Action::None);
    assert!(!app.help());
    assert_eq!(app.view(), View::Slos);
}

#[test]
fn refresh_and_demo_keys_ask_the_loop() {
    let mut app = app();
    assert_eq!(app.on_key(ch('r')), Action::Refresh);
    assert_eq!(app.on_key(key(KeyCode::F(5))), Action::Refresh);
    assert_eq!(app.on_key(ch('+')), Action::Demo { up: true });
    assert_eq!(app.on_key(ch('=')), Action::Demo { up: true });
    assert_eq!(app.on_key(ch('-')), Action::Demo { up: false });
}

#[test]
fn key_releases_are_ignored() {
    let mut app = app();
    let mut release = ch('q');
    release.kind = KeyEventKind::Release;
    assert_eq!(app.on_key(release), Action::None);
    let mut release = key(KeyCode::Tab);
    release.kind = KeyEventKind::Release;
    app.on_key(release);
    assert_eq!(app.view(), View::Slos);
}

#[test]
fn the_selection_follows_its_slo_across_refreshes() {
    let mut app = app();
    app.on_key(ch('j'));
    app.on_key(ch('j'));
    let id = app.selected_id().unwrap().to_string();
    // The next snapshot sorts differently: the selection stays on the same SLO.
    let mut s = snapshot();
    s.slos.reverse();
    assert!(!app.set_snapshot(s));
    assert_eq!(app.selected_id(), Some(id.as_str()));
    // The selected SLO disappears: the row at the same position is selected, and the loop is
    // told (the detail series are another SLO's now).
    let mut s = snapshot();
    s.slos.retain(|x| x.id != id);
    assert!(app.set_snapshot(s));
    assert_ne!(app.selected_id(), Some(id.as_str()));
    assert!(app.selected_id().is_some());
}

#[test]
fn scroll_keys_move_the_dora_and_collector_views_and_back_goes_home() {
    let mut app = app();
    app.on_key(ch('3'));
    app.on_key(ch('j'));
    app.on_key(ch('j'));
    assert_eq!(app.scroll(View::Dora), 2);
    app.on_key(ch('k'));
    assert_eq!(app.scroll(View::Dora), 1);
    // The list of recent events scrolls: one line down hides the newest event of the four.
    let events = |t: &str| t.lines().filter(|l| l.contains("│01-01 ")).count();
    let scrolled = text(&render(&app, 80, 24, None));
    assert_eq!(events(&scrolled), 3, "{scrolled}");
    app.on_key(ch('k'));
    let top = text(&render(&app, 80, 24, None));
    assert_eq!(events(&top), 4, "{top}");
    app.on_key(ch('h'));
    assert_eq!(app.view(), View::Slos);
}

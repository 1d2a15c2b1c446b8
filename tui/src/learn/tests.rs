//! The practice view driven by keys over a small fixed curriculum (so the curriculum's growth
//! does not move the snapshots): focus and key handling, grading and the progress file through
//! [`Session`], the config editor, the exam, and TestBackend snapshots of each screen.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use burnwatch_learn::exam::Exam;
use burnwatch_learn::progress::Progress;
use burnwatch_learn::{Curriculum, Topic};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use super::session::{Flow, Session};
use super::*;

const PROMQL: &str = r#"
- id: promql-request-rate
  topic: promql
  title: Request rate per second
  prompt: |
    Write a query for the per-second rate of requests of each series over 5 minutes.
  data: |
    load 1m
      http_requests_total{job="api", instance="a:8080"} 0+60x60
      http_requests_total{job="api", instance="b:8080"} 0+120x60
  hints:
    - Counters only go up; what you want is how fast they go up.
    - "`rate(counter[window])` gives the per-second increase over the window."
  explanation: |
    `rate()` is the per-second average increase over the window.
  answer:
    promql:
      reference: rate(http_requests_total[5m])
      at: [30m, 45m]
"#;

const SLO: &str = r#"
- id: slo-allowed-downtime
  topic: slo
  title: Allowed downtime for 99.9% over 30 days
  prompt: |
    How much downtime does a 99.9% objective allow over 30 days?
  hints:
    - The error budget is 0.1%.
  explanation: |
    0.001 × 30 days = 43.2 minutes.
  answer:
    number: {value: 2592, unit: duration}
- id: slo-policy-colour
  topic: slo
  title: Budget policy colour
  prompt: |
    65% of the error budget is consumed. Which colour is the budget policy?
  explanation: |
    50% to 80% consumed is Yellow.
  answer:
    choice: {options: [Green, Yellow, Red], correct: Yellow}
"#;

const DORA: &str = r#"
- id: dora-change-failure-rate
  topic: dora
  title: Change failure rate
  prompt: |
    What is the change failure rate of these deployments?
  data: |
    {"type":"deployment","id":"d1","service":"checkout","time":"2024-05-02T10:00:00Z","status":"success","commits":[{"sha":"a1","time":"2024-05-02T07:00:00Z"}]}
    {"type":"deployment","id":"d2","service":"checkout","time":"2024-05-03T10:00:00Z","status":"failure","commits":[{"sha":"a2","time":"2024-05-03T08:00:00Z"}]}
  explanation: |
    One of two deployments failed: 50%.
  answer:
    number: {value: 0.5, unit: ratio}
"#;

const COLLECTOR: &str = r#"
- id: collector-undefined-exporter
  topic: collector
  title: A pipeline names an undefined exporter
  prompt: |
    This configuration does not start. Fix it.
  hints:
    - Compare the exporter ids with those in the pipeline.
  explanation: |
    The pipeline lists `otlp/backend`; only `otlp` is defined.
  answer:
    config:
      broken: |
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: 127.0.0.1:4317
        exporters:
          otlp:
            endpoint: backend:4317
        service:
          pipelines:
            traces:
              receivers: [otlp]
              exporters: [otlp/backend]
      fixed: |
        receivers:
          otlp:
            protocols:
              grpc:
                endpoint: 127.0.0.1:4317
        exporters:
          otlp:
            endpoint: backend:4317
        service:
          pipelines:
            traces:
              receivers: [otlp]
              exporters: [otlp]
"#;

fn curriculum() -> &'static Curriculum {
    static C: OnceLock<Curriculum> = OnceLock::new();
    C.get_or_init(|| {
        Curriculum::parse(&[
            ("promql.yaml", Topic::Promql, PROMQL),
            ("slo.yaml", Topic::Slo, SLO),
            ("dora.yaml", Topic::Dora, DORA),
            ("collector.yaml", Topic::Collector, COLLECTOR),
        ])
        .unwrap_or_else(|e| panic!("{e}"))
    })
}

/// A fresh directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("burnwatch-learn-{name}-{:010}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// The view and a session saving to a fresh file in `dir`.
fn setup(dir: &TempDir) -> (LearnApp, Session) {
    let session = Session::open(dir.0.join("progress.json")).with_exam_seed(7);
    let mut app = LearnApp::new(curriculum());
    session.start(&mut app);
    (app, session)
}

/// Applies keys as the loop does, computing the preview after each (as when the keys pause).
fn press(app: &mut LearnApp, session: &mut Session, keys: &[KeyEvent]) -> Flow {
    let mut flow = Flow::Continue;
    for k in keys {
        let action = app.on_key(*k);
        flow = session.perform(app, action);
        session.preview(app);
    }
    flow
}

fn type_text(app: &mut LearnApp, session: &mut Session, text: &str) {
    let keys: Vec<KeyEvent> = text.chars().map(ch).collect();
    press(app, session, &keys);
}

fn render(app: &LearnApp, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| crate::ui::learn::draw(f, app)).unwrap();
    terminal.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
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

/// The foreground colour of the first cell of `needle` on the screen.
fn fg_of(buf: &Buffer, needle: &str) -> Option<Color> {
    let first = needle.chars().next()?.to_string();
    for y in 0..buf.area.height {
        let row: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if let Some(byte) = row.find(needle) {
            let x = row[..byte].chars().count() as u16;
            let cells: Vec<u16> = (0..buf.area.width).collect();
            // Symbols are one char a cell here, so the char index is the cell.
            let cell = cells.get(x as usize)?;
            assert_eq!(buf[(*cell, y)].symbol(), first);
            return Some(buf[(*cell, y)].fg);
        }
    }
    None
}

fn saved(dir: &TempDir) -> Progress {
    let p = Progress::load(&dir.0.join("progress.json"));
    assert!(p.load_error.is_none(), "{:?}", p.load_error);
    p
}

#[test]
fn the_list_moves_within_the_curriculum_and_enter_opens_the_input() {
    let dir = TempDir::new("keys");
    let (mut app, mut s) = setup(&dir);
    assert_eq!((app.selected().0, app.focus()), (1, Focus::List));
    press(&mut app, &mut s, &[key(KeyCode::Up), ch('k')]);
    assert_eq!(app.selected().0, 1, "clamped at the first");
    press(&mut app, &mut s, &[ch('j'), key(KeyCode::Down)]);
    assert_eq!(app.selected().0, 3);
    press(&mut app, &mut s, &[ch('G')]);
    assert_eq!(app.selected().0, 5);
    press(&mut app, &mut s, &[key(KeyCode::PageDown)]);
    assert_eq!(app.selected().0, 5, "clamped at the last");
    press(&mut app, &mut s, &[ch('g'), key(KeyCode::Enter)]);
    assert_eq!((app.selected().0, app.focus()), (1, Focus::Input));
}

#[test]
fn typing_goes_to_the_input_and_commands_need_the_focus_elsewhere() {
    let dir = TempDir::new("focus");
    let (mut app, mut s) = setup(&dir);
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    // `q`, `h`, `x`, `?` and digits are text while the input has the keys.
    assert_eq!(
        press(&mut app, &mut s, &[ch('q'), ch('h'), ch('x'), ch('?'), ch('1')]),
        Flow::Continue
    );
    let a = app.attempt().unwrap();
    assert_eq!((a.input.text().as_str(), a.hints), ("qhx?1", 0));
    assert!(a.explanation.is_none());
    // Editing keys are the PromQL prompt's.
    press(
        &mut app,
        &mut s,
        &[
            ctrl('a'),
            key(KeyCode::Delete),
            ctrl('e'),
            key(KeyCode::Backspace),
        ],
    );
    assert_eq!(app.attempt().unwrap().input.text(), "hx?");
    press(&mut app, &mut s, &[ctrl('u')]);
    // Enter on an empty answer checks nothing.
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    assert!(app.attempt().unwrap().checked.is_none());
    assert!(!dir.0.join("progress.json").exists());
    // Ctrl-T shows a hint from the input; Esc leaves it, and `h` shows the next hint, at most
    // as many as there are.
    press(&mut app, &mut s, &[ctrl('t'), key(KeyCode::Esc)]);
    assert_eq!((app.focus(), app.attempt().unwrap().hints), (Focus::Exercise, 1));
    press(&mut app, &mut s, &[ch('h'), ch('h'), ch('h')]);
    assert_eq!(app.attempt().unwrap().hints, 2);
    // `x` shows the explanation with the reference answer.
    press(&mut app, &mut s, &[ch('x')]);
    let explanation = app.attempt().unwrap().explanation.clone().unwrap();
    assert!(
        explanation.contains("rate(http_requests_total[5m])"),
        "{explanation}"
    );
    // `n` moves on; the first exercise's work is kept.
    press(&mut app, &mut s, &[ch('n')]);
    assert_eq!((app.selected().0, app.attempt().unwrap().hints), (2, 0));
    press(&mut app, &mut s, &[ch('p')]);
    assert_eq!(app.attempt().unwrap().hints, 2);
    // Now `q` quits; Ctrl-C quits from the input too.
    assert_eq!(press(&mut app, &mut s, &[ch('q')]), Flow::Quit);
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    assert_eq!(app.focus(), Focus::Input);
    assert_eq!(press(&mut app, &mut s, &[ctrl('c')]), Flow::Quit);
}

#[test]
fn a_wrong_promql_answer_gets_feedback_and_a_right_one_the_explanation_both_saved() {
    let dir = TempDir::new("promql");
    let (mut app, mut s) = setup(&dir);
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    type_text(&mut app, &mut s, "increase(http_requests_total[5m])");
    // The preview shows the typed query's result before any check.
    let preview = app.attempt().unwrap().preview.clone().unwrap();
    assert_eq!(preview.answer, "increase(http_requests_total[5m])");
    let table = preview.result.unwrap();
    assert!(table.contains("instance=\"a:8080\""), "{table}");
    assert_view("learn_promql_preview", &app, &dir);

    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    let checked = app.attempt().unwrap().checked.clone().unwrap();
    assert!(!checked.correct);
    assert!(!checked.feedback.is_empty());
    assert!(
        app.attempt().unwrap().explanation.is_none(),
        "no explanation for a wrong answer"
    );
    let p = saved(&dir);
    let r = p.get("promql-request-rate").unwrap();
    assert_eq!((r.attempts, r.solved), (1, false));
    let buf = render(&app, 100, 30);
    assert_eq!(fg_of(&buf, "✗ Not yet"), Some(Color::Red));
    assert_view("learn_promql_wrong", &app, &dir);

    press(&mut app, &mut s, &[ctrl('u')]);
    type_text(&mut app, &mut s, "rate(http_requests_total[5m])");
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    let a = app.attempt().unwrap();
    assert!(a.checked.as_ref().unwrap().correct);
    assert!(a.explanation.as_ref().unwrap().contains("per-second average"));
    let p = saved(&dir);
    let r = p.get("promql-request-rate").unwrap();
    assert_eq!((r.attempts, r.solved, r.attempts_to_solve), (2, true, 2));
    assert!(app.is_solved("promql-request-rate"));
    let buf = render(&app, 100, 30);
    assert_eq!(fg_of(&buf, "✓ Correct"), Some(Color::Green));
    assert!(text(&buf).contains("1/5 solved"), "{}", text(&buf));
    assert_view("learn_promql_correct", &app, &dir);
}

#[test]
fn progress_is_read_back_and_a_corrupt_file_is_reported_in_the_status_bar() {
    let dir = TempDir::new("progress");
    let mut p = Progress::new();
    p.record("slo-policy-colour", true, 0);
    p.save(&dir.0.join("progress.json")).unwrap();
    let (app, _) = setup(&dir);
    assert!(app.is_solved("slo-policy-colour"));
    assert_eq!(app.solved_count(), 1);
    assert_view("learn_list", &app, &dir);

    std::fs::write(dir.0.join("progress.json"), "{not json").unwrap();
    let (app, _) = setup(&dir);
    let (notice, problem) = app.notice().unwrap();
    assert!(problem && notice.contains("not a progress file"), "{notice}");
    let buf = render(&app, 160, 30);
    assert_eq!(
        fg_of(&buf, "progress.json is not"),
        Some(Color::Red),
        "{}",
        text(&buf)
    );
}

#[test]
fn numbers_and_choices_are_graded_with_what_people_write() {
    let dir = TempDir::new("numbers");
    let (mut app, mut s) = setup(&dir);
    press(&mut app, &mut s, &[ch('j'), key(KeyCode::Enter)]);
    type_text(&mut app, &mut s, "43 min");
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    assert!(!app.attempt().unwrap().checked.as_ref().unwrap().correct);
    press(&mut app, &mut s, &[ctrl('u')]);
    type_text(&mut app, &mut s, "43m12s");
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    assert!(app.attempt().unwrap().checked.as_ref().unwrap().correct);
    // No preview for a number.
    assert!(app.attempt().unwrap().preview.is_none());
    press(&mut app, &mut s, &[key(KeyCode::Esc), ch('n'), ch('i')]);
    type_text(&mut app, &mut s, "yellow");
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    assert!(app.attempt().unwrap().checked.as_ref().unwrap().correct);
    assert_eq!(
        saved(&dir).solved_count(["slo-allowed-downtime", "slo-policy-colour"]),
        2
    );
}

#[test]
fn a_configuration_is_fixed_in_the_editor_and_checked_with_ctrl_s() {
    let dir = TempDir::new("config");
    let (mut app, mut s) = setup(&dir);
    press(&mut app, &mut s, &[ch('G'), key(KeyCode::Enter)]);
    let AnswerInput::Area(area) = &app.attempt().unwrap().input else {
        panic!("a configuration answer is multi-line");
    };
    assert!(area.text().contains("exporters: [otlp/backend]"));
    // Enter is a new line here, not a check.
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    assert!(app.attempt().unwrap().checked.is_none());
    press(&mut app, &mut s, &[key(KeyCode::Backspace)]);
    press(&mut app, &mut s, &[ctrl('s')]);
    assert!(!app.attempt().unwrap().checked.as_ref().unwrap().correct);
    assert_view("learn_config_wrong", &app, &dir);
    // The last line: `      exporters: [otlp/backend]`; remove `/backend`.
    press(
        &mut app,
        &mut s,
        &[
            KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL),
            key(KeyCode::End),
        ],
    );
    press(&mut app, &mut s, &[key(KeyCode::Left)]);
    for _ in 0.."/backend".len() {
        press(&mut app, &mut s, &[key(KeyCode::Backspace)]);
    }
    assert!(
        app.attempt()
            .unwrap()
            .input
            .text()
            .ends_with("exporters: [otlp]\n")
    );
    press(&mut app, &mut s, &[ctrl('s')]);
    let a = app.attempt().unwrap();
    assert!(a.checked.as_ref().unwrap().correct, "{:?}", a.checked);
    assert!(saved(&dir).is_solved("collector-undefined-exporter"));
}

#[test]
fn the_exam_asks_every_question_then_scores_by_topic() {
    let dir = TempDir::new("exam");
    let (mut app, mut s) = setup(&dir);
    press(&mut app, &mut s, &[ch('e')]);
    let exam = app.exam().unwrap();
    assert_eq!(exam.exam().questions.len(), 5, "the whole small curriculum");
    assert_eq!(exam.limit(), exam::PER_QUESTION * 5);
    // Replace the clock's start so the screens are deterministic.
    let drawn = exam.exam().clone();
    let t0 = Instant::now();
    app.set_exam(Some(ExamState::new(drawn.clone(), t0)));
    s.tick(&mut app, t0 + Duration::from_secs(95));
    assert_view("learn_exam_question", &app, &dir);
    // Answer the SLO number right and the PromQL question wrong; leave the others.
    for q in &drawn.questions {
        match q.exercise.id.as_str() {
            "slo-allowed-downtime" => type_text(&mut app, &mut s, "43.2 min"),
            "promql-request-rate" => type_text(&mut app, &mut s, "http_requests_total"),
            _ => {}
        }
        if app.exam().unwrap().question().0 + 1 < drawn.questions.len() {
            press(&mut app, &mut s, &[ctrl('n')]);
        }
    }
    assert_eq!(
        app.exam().unwrap().answered(),
        2,
        "a configuration left as given is no answer"
    );
    press(&mut app, &mut s, &[ctrl('f')]);
    let result = app.exam().unwrap().result().unwrap().clone();
    assert_eq!((result.correct, result.total), (1, 5), "{result:#?}");
    let slo = result.by_topic.iter().find(|t| t.topic == Topic::Slo).unwrap();
    assert_eq!((slo.correct, slo.total), (1, 2));
    assert_view("learn_exam_result", &app, &dir);
    // The answered questions were recorded.
    let p = saved(&dir);
    assert!(p.is_solved("slo-allowed-downtime"));
    assert_eq!(
        p.get("promql-request-rate").map(|r| (r.attempts, r.solved)),
        Some((1, false))
    );
    assert!(
        p.get("slo-policy-colour").is_none(),
        "an unanswered question is no attempt"
    );
    // Esc goes back to practice.
    press(&mut app, &mut s, &[key(KeyCode::Esc)]);
    assert!(app.exam().is_none());
}

#[test]
fn the_exam_ends_when_time_is_up() {
    let dir = TempDir::new("timeup");
    let (mut app, mut s) = setup(&dir);
    let t0 = Instant::now();
    app.set_exam(Some(ExamState::new(Exam::draw(curriculum(), 3, 2), t0)));
    assert!(s.tick(&mut app, t0 + Duration::from_millis(1200)));
    assert!(
        !s.tick(&mut app, t0 + Duration::from_millis(1700)),
        "same second: no redraw"
    );
    assert!(app.exam().unwrap().result().is_none());
    assert!(s.tick(&mut app, t0 + exam::PER_QUESTION * 2));
    let result = app.exam().unwrap().result().unwrap();
    assert_eq!((result.correct, result.total), (0, 2));
}

#[test]
fn every_screen_draws_at_any_size() {
    let dir = TempDir::new("sizes");
    let (mut app, mut s) = setup(&dir);
    let mut screens: Vec<LearnApp> = Vec::new();
    press(&mut app, &mut s, &[key(KeyCode::Enter)]);
    type_text(&mut app, &mut s, "sum(rate(http_requests_total[5m])) by (job");
    press(&mut app, &mut s, &[key(KeyCode::Enter), ctrl('t'), ctrl('x')]);
    for (w, h) in [(1, 1), (2, 3), (10, 5), (30, 8), (80, 24), (200, 60)] {
        render(&app, w, h);
    }
    press(
        &mut app,
        &mut s,
        &[key(KeyCode::Esc), key(KeyCode::Esc), ch('G'), key(KeyCode::Enter)],
    );
    press(&mut app, &mut s, &[key(KeyCode::Esc), ch('?')]);
    for (w, h) in [(1, 1), (2, 3), (10, 5), (30, 8), (80, 24)] {
        render(&app, w, h);
    }
    press(&mut app, &mut s, &[key(KeyCode::Esc), key(KeyCode::Esc), ch('e')]);
    screens.push(app);
    for app in &screens {
        for (w, h) in [(1, 1), (2, 3), (10, 5), (30, 8), (80, 24)] {
            render(app, w, h);
        }
    }
}

/// Snapshots at 100×30 and 80×24. The progress path in the status bar holds the process id,
/// padded to a fixed width so the bar truncates it at the same place in every run; it is
/// replaced by `X`s.
fn assert_view(name: &str, app: &LearnApp, dir: &TempDir) {
    let pid = format!("{:010}", std::process::id());
    let tmp = std::env::temp_dir().display().to_string();
    assert!(dir.0.display().to_string().contains(&pid));
    for (w, h) in [(100, 30), (80, 24)] {
        let screen = text(&render(app, w, h))
            .replace(&pid, "XXXXXXXXXX")
            .replace(&tmp, "/tmp");
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen);
    }
}

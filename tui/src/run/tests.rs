//! The loop driven by scripted events on a TestBackend, against a backend that records what it
//! was asked: fetches on start, on `r` and on selection changes, queries, the knob, quitting,
//! and an outside shutdown.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use burnwatch_slo::slo::PolicyStatus;
use burnwatch_slo::slo::status::{Exhaustion, SloStatus};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;

use super::*;
use crate::model::{BoxFuture, OperationLatency, OperationRow, TracesView};
use burnwatch_slo::spanmetrics::{Operation, QuantileSource};

fn status(id: &str, budget: f64) -> SloStatus {
    SloStatus {
        id: id.into(),
        service: id.into(),
        slo: "availability".into(),
        at_ms: 0,
        objective: 0.999,
        error_budget: 0.001,
        period: "30d".into(),
        period_days: 30.0,
        windows: Vec::new(),
        current_burn_rate: None,
        period_burn_rate: Some(1.0 - budget),
        budget_remaining: Some(budget),
        policy: PolicyStatus::from_consumed(1.0 - budget),
        policy_action: None,
        exhaustion: Exhaustion {
            burn_window: "1h".into(),
            burn_rate: None,
            seconds: None,
            human: None,
        },
        alerts: Vec::new(),
        error: None,
    }
}

#[derive(Default)]
struct Recorder {
    snapshots: Mutex<Vec<Option<String>>>,
    queries: Mutex<Vec<(String, Option<i64>)>>,
    /// Panic in the next `n` snapshot fetches.
    panics: AtomicU64,
    /// The operations whose latency chart was asked for.
    operations: Mutex<Vec<Operation>>,
}

impl Backend for Recorder {
    fn snapshot<'a>(&'a self, detail: Option<&'a str>) -> BoxFuture<'a, Snapshot> {
        self.snapshots.lock().unwrap().push(detail.map(str::to_string));
        let panic = self
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Box::pin(async move {
            assert!(!panic, "a fetch that blows up");
            Snapshot {
                source: "test://recorder".into(),
                slos: vec![status("alpha", 0.2), status("beta", 0.9)],
                traces: TracesView {
                    window: "1m".into(),
                    source: Some(QuantileSource::Summary),
                    operations: ["GET /cart", "POST /pay"]
                        .iter()
                        .map(|span| OperationRow {
                            op: Operation::new("checkout", span, "SPAN_KIND_SERVER"),
                            rate_per_s: Some(if span.starts_with("POST") { 10.0 } else { 4.0 }),
                            ..OperationRow::default()
                        })
                        .collect(),
                },
                ..Snapshot::default()
            }
        })
    }

    fn query<'a>(&'a self, expr: &'a str, range_ms: Option<i64>) -> BoxFuture<'a, QueryOutcome> {
        self.queries.lock().unwrap().push((expr.to_string(), range_ms));
        Box::pin(async move {
            QueryOutcome::Table {
                rows: vec![(format!("{{answer=\"{expr}\"}}"), "42".into())],
            }
        })
    }

    fn operation_latency<'a>(&'a self, op: &'a Operation) -> BoxFuture<'a, OperationLatency> {
        self.operations.lock().unwrap().push(op.clone());
        Box::pin(async move {
            OperationLatency {
                op: op.clone(),
                source: Some(QuantileSource::Summary),
                lines: vec![("p99".into(), vec![(0, Some(123.0)), (60_000, Some(321.0))])],
            }
        })
    }
}

struct Knob(Mutex<f64>);

impl DemoKnob for Knob {
    fn error_rate(&self) -> f64 {
        *self.0.lock().unwrap()
    }
    fn adjust(&self, up: bool) -> f64 {
        let mut v = self.0.lock().unwrap();
        *v += if up { 0.01 } else { -0.01 };
        *v
    }
}

enum Step {
    Key(KeyEvent),
    /// Let background tasks finish (no event for this long).
    Idle(Duration),
    Resize(u16, u16),
    /// No event until the screen shows the text (or a generous deadline passes; the test's
    /// assertion then shows the screen): waits for a condition, not for a guessed time.
    Until(&'static str),
}

/// A TestBackend the script reads while the loop draws to it.
#[derive(Clone)]
struct Shared(Arc<Mutex<TestBackend>>);

impl Shared {
    fn screen(&self) -> String {
        let backend = self.0.lock().unwrap();
        let buf = backend.buffer();
        let mut screen = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                screen.push_str(buf[(x, y)].symbol());
            }
            screen.push('\n');
        }
        screen
    }
}

impl ratatui::backend::Backend for Shared {
    type Error = <TestBackend as ratatui::backend::Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a ratatui::buffer::Cell)>,
    {
        self.0.lock().unwrap().draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<ratatui::layout::Position, Self::Error> {
        self.0.lock().unwrap().get_cursor_position()
    }
    fn set_cursor_position<P: Into<ratatui::layout::Position>>(
        &mut self,
        position: P,
    ) -> Result<(), Self::Error> {
        self.0.lock().unwrap().set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().clear()
    }
    fn clear_region(&mut self, clear_type: ratatui::backend::ClearType) -> Result<(), Self::Error> {
        self.0.lock().unwrap().clear_region(clear_type)
    }
    fn size(&self) -> Result<ratatui::layout::Size, Self::Error> {
        self.0.lock().unwrap().size()
    }
    fn window_size(&mut self) -> Result<ratatui::backend::WindowSize, Self::Error> {
        self.0.lock().unwrap().window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().flush()
    }
}

struct Script(VecDeque<Step>, Option<Shared>, Option<Instant>);

impl EventSource for Script {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        if let Some(Step::Until(text)) = self.0.front() {
            let deadline = *self
                .2
                .get_or_insert_with(|| Instant::now() + Duration::from_secs(120));
            let shown = self.1.as_ref().is_some_and(|s| s.screen().contains(text));
            if shown || Instant::now() > deadline {
                self.0.pop_front();
                self.2 = None;
            } else {
                std::thread::sleep(timeout.min(Duration::from_millis(20)));
            }
            return Ok(None);
        }
        match self.0.pop_front() {
            Some(Step::Key(k)) => Ok(Some(Event::Key(k))),
            Some(Step::Resize(w, h)) => Ok(Some(Event::Resize(w, h))),
            Some(Step::Idle(d)) => {
                std::thread::sleep(d.min(timeout.max(Duration::from_millis(1))));
                // Keep idling until the whole duration has passed.
                if d > timeout {
                    self.0.push_front(Step::Idle(d - timeout));
                }
                Ok(None)
            }
            // Handled above, before popping.
            Some(Step::Until(_)) => Ok(None),
            // Out of script: wait as a quiet terminal would.
            None => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }
}

fn k(c: char) -> Step {
    Step::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Step {
    Step::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn idle() -> Step {
    Step::Idle(Duration::from_millis(300))
}

struct Run {
    exit: Exit,
    screen: String,
    recorder: Arc<Recorder>,
    shutdown: CancellationToken,
}

fn drive(steps: Vec<Step>, knob: Option<Arc<dyn DemoKnob>>, refresh: Duration, panics: u64) -> Run {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    recorder.panics.store(panics, Ordering::SeqCst);
    let shutdown = CancellationToken::new();
    let services = Services {
        backend: recorder.clone(),
        knob,
        options: RunOptions {
            refresh,
            title: "test".into(),
        },
        shutdown: shutdown.clone(),
        rt: rt.handle().clone(),
    };
    let shared = Shared(Arc::new(Mutex::new(TestBackend::new(100, 30))));
    let mut terminal = Terminal::new(shared.clone()).unwrap();
    let mut script = Script(steps.into(), Some(shared.clone()), None);
    let exit = run_loop(&mut terminal, &mut script, &services).unwrap();
    let screen = shared.screen();
    Run {
        exit,
        screen,
        recorder,
        shutdown,
    }
}

const SLOW: Duration = Duration::from_secs(3600);

#[test]
fn fetches_on_start_on_r_and_for_the_detail_then_quits_and_cancels() {
    let run = drive(
        vec![
            idle(),
            k('r'),
            idle(),
            code(KeyCode::Down),
            code(KeyCode::Enter),
            idle(),
            Step::Resize(60, 20),
            idle(),
            k('q'),
        ],
        None,
        SLOW,
        0,
    );
    assert_eq!(run.exit, Exit::Quit);
    assert!(run.shutdown.is_cancelled(), "quitting stops the caller's tasks");
    let asked = run.recorder.snapshots.lock().unwrap().clone();
    // Start, `r` (no detail: the table is shown), Enter on the second row (its detail).
    assert_eq!(asked, vec![None, None, Some("beta".to_string())]);
    assert!(run.screen.contains("beta / availability"), "{}", run.screen);
}

#[test]
fn the_refresh_timer_fetches_again() {
    let run = drive(
        vec![Step::Idle(Duration::from_millis(900)), k('q')],
        None,
        Duration::from_millis(200),
        0,
    );
    let n = run.recorder.snapshots.lock().unwrap().len();
    assert!(n >= 3, "{n} fetches in 900ms at a 200ms refresh");
}

#[test]
fn queries_run_on_enter_and_show_their_answer() {
    let run = drive(
        vec![
            idle(),
            k('5'),
            k('u'),
            k('p'),
            code(KeyCode::Enter),
            idle(),
            Step::Key(KeyEvent::new(KeyCode::Char('g'), KeyModifiers::CONTROL)),
            idle(),
            code(KeyCode::Esc),
            k('q'),
        ],
        None,
        SLOW,
        0,
    );
    assert_eq!(
        *run.recorder.queries.lock().unwrap(),
        vec![("up".to_string(), None), ("up".to_string(), Some(3_600_000))]
    );
    assert!(run.screen.contains("{answer=\"up\"}"), "{}", run.screen);
}

#[test]
fn the_knob_turns_and_the_status_bar_follows() {
    let knob = Arc::new(Knob(Mutex::new(0.005)));
    let run = drive(
        vec![idle(), k('+'), k('+'), k('-'), k('+'), idle(), k('q')],
        Some(knob.clone()),
        SLOW,
        0,
    );
    assert!((knob.error_rate() - 0.025).abs() < 1e-12);
    assert!(run.screen.contains("demo errors 2.50%  [+/-]"), "{}", run.screen);
}

#[test]
fn an_outside_shutdown_ends_the_loop() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let services = Services {
        backend: Arc::new(Recorder::default()),
        knob: None,
        options: RunOptions::default(),
        shutdown: shutdown.clone(),
        rt: rt.handle().clone(),
    };
    let canceller = shutdown.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        canceller.cancel();
    });
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    // An empty script: the terminal stays quiet until the shutdown.
    let exit = run_loop(&mut terminal, &mut Script(VecDeque::new(), None, None), &services).unwrap();
    assert_eq!(exit, Exit::Shutdown);
}

#[test]
fn a_fetch_that_panics_is_reported_and_the_next_one_works() {
    // Waits for the screens, not for guessed times: under load the panicking fetch took longer
    // than two 300 ms idles to be noticed, and the test failed.
    let run = drive(vec![Step::Until("snapshot fetch ended"), k('q')], None, SLOW, 1);
    assert!(
        run.screen.contains("1 error: the snapshot fetch ended"),
        "{}",
        run.screen
    );
    let run = drive(
        vec![
            Step::Until("snapshot fetch ended"),
            k('r'),
            Step::Until("alpha"),
            k('q'),
        ],
        None,
        SLOW,
        1,
    );
    assert!(run.screen.contains("alpha"), "{}", run.screen);
    assert!(!run.screen.contains("snapshot fetch ended"), "{}", run.screen);
}

#[test]
fn enter_in_the_traces_view_fetches_the_selected_operations_latency() {
    let run = drive(
        vec![
            Step::Until("alpha"),
            k('6'),
            Step::Until("POST /pay"),
            // Busiest first: POST /pay, then GET /cart; open the second.
            code(KeyCode::Down),
            code(KeyCode::Enter),
            Step::Until("p99 321ms"),
            k('q'),
        ],
        None,
        SLOW,
        0,
    );
    assert!(
        run.screen.contains("Traces › checkout GET /cart (server)"),
        "{}",
        run.screen
    );
    assert!(run.screen.contains("p99 321ms"), "{}", run.screen);
    let asked = run.recorder.operations.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![Operation::new("checkout", "GET /cart", "SPAN_KIND_SERVER")]
    );
}

//! The terminal loop: raw mode and the alternate screen, keys, background fetches, redraws, and
//! restoring the terminal however the loop ends.
//!
//! [`run`] blocks the calling thread (call it from a plain thread or `spawn_blocking`, not from
//! an async task). Fetches run on the given Tokio runtime and report back over a channel; the
//! loop polls terminal events with a short timeout so it also notices their results, the refresh
//! timer and an outside shutdown within [`POLL`]. At most one snapshot fetch and one query run
//! at a time: a request made while one is in flight is remembered and started when it ends.
//!
//! The terminal is restored on every way out: a normal return, an error, and a panic on the
//! loop's thread (a panic hook restores it before the panic message prints, so the message is
//! readable and the shell is usable).

use std::cell::Cell;
use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::{Action, App};
use crate::model::{Backend, DemoKnob, QueryOutcome, Snapshot};

/// The longest the loop waits for a terminal event before it looks at fetch results, the refresh
/// timer and the shutdown token again.
pub const POLL: Duration = Duration::from_millis(100);

/// How the dashboard runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Time between automatic snapshot fetches (default 5s).
    pub refresh: Duration,
    /// Shown at the left of the tab bar (`burnwatch · http://localhost:9090`).
    pub title: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            refresh: Duration::from_secs(5),
            title: "burnwatch".to_string(),
        }
    }
}

/// Why the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The user quit (`q`, Ctrl-C); the shutdown token has been cancelled.
    Quit,
    /// The shutdown token was cancelled from outside (SIGTERM, the pipeline stopping).
    Shutdown,
}

/// Where terminal events come from: the real terminal in [`run`], a script in tests.
pub trait EventSource {
    /// The next event, waiting at most `timeout`; `None` when none came.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>>;
}

/// crossterm's event queue (stdin of the real terminal).
pub(crate) struct TerminalEvents;

impl EventSource for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        if event::poll(timeout)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Runs the dashboard on the terminal until the user quits or `shutdown` is cancelled.
///
/// Snapshots come from `backend` every `options.refresh`, on `r`, and when the selected SLO
/// changes in the detail view; PromQL queries go to `backend` too. `knob`, when given (`up
/// --demo`), is turned by `+`/`-` and shown in the status bar. Fetches are spawned on `rt`.
///
/// When the user quits, `shutdown` is cancelled so the caller's other tasks stop too. The
/// terminal is restored before this returns, and on a panic in this thread.
///
/// # Errors
///
/// The terminal could not be set up, drawn to, or read from. `shutdown` is not cancelled then:
/// the caller decides whether the rest of the process goes on without a dashboard.
pub fn run(
    backend: Arc<dyn Backend>,
    knob: Option<Arc<dyn DemoKnob>>,
    options: RunOptions,
    shutdown: CancellationToken,
    rt: Handle,
) -> io::Result<()> {
    let mut guard = TerminalGuard::enter()?;
    let result = run_loop(
        &mut guard.terminal,
        &mut TerminalEvents,
        &Services {
            backend,
            knob,
            options,
            shutdown,
            rt,
        },
    );
    drop(guard);
    result.map(|_| ())
}

/// What the loop talks to besides the terminal.
pub struct Services {
    /// Where snapshots and query answers come from.
    pub backend: Arc<dyn Backend>,
    /// The demo traffic's error-rate knob, if any.
    pub knob: Option<Arc<dyn DemoKnob>>,
    /// Refresh period and title.
    pub options: RunOptions,
    /// Cancelled from outside to stop the loop; cancelled by the loop when the user quits.
    pub shutdown: CancellationToken,
    /// Where fetches run.
    pub rt: Handle,
}

/// A result coming back from a fetch task.
enum Msg {
    Snapshot(Snapshot),
    Query(QueryOutcome),
}

/// One kind of background request: at most one in flight, at most one waiting.
struct Slot<R> {
    in_flight: Option<JoinHandle<()>>,
    waiting: Option<R>,
}

impl<R> Slot<R> {
    fn new() -> Self {
        Slot {
            in_flight: None,
            waiting: None,
        }
    }

    /// Whether the task in flight ended without reporting (it panicked or was cancelled).
    fn lost(&self) -> bool {
        self.in_flight.as_ref().is_some_and(JoinHandle::is_finished)
    }
}

/// The dashboard loop over any terminal and event source: [`run`] with crossterm, the tests
/// with ratatui's `TestBackend` and scripted keys.
///
/// # Errors
///
/// Drawing to the terminal or reading an event failed.
pub fn run_loop<B: ratatui::backend::Backend>(
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    services: &Services,
) -> io::Result<Exit> {
    let Services {
        backend,
        knob,
        options,
        shutdown,
        rt,
    } = services;
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut app = App::new(options.title.clone());
    let mut snapshots: Slot<()> = Slot::new();
    let mut queries: Slot<(String, Option<i64>)> = Slot::new();
    // The first fetch starts at once.
    snapshots.waiting = Some(());
    let mut next_refresh = Instant::now() + options.refresh;
    let mut dirty = true;

    loop {
        if shutdown.is_cancelled() {
            return Ok(Exit::Shutdown);
        }

        // Results. A task found finished *before* draining whose result is not in the channel
        // ended without one.
        let snapshot_lost = snapshots.lost();
        let query_lost = queries.lost();
        while let Ok(msg) = rx.try_recv() {
            dirty = true;
            match msg {
                Msg::Snapshot(s) => {
                    snapshots.in_flight = None;
                    if app.set_snapshot(s) && app.detail_id().is_some() {
                        // The selected SLO vanished and the selection moved: its series next.
                        snapshots.waiting = Some(());
                    }
                }
                Msg::Query(o) => {
                    queries.in_flight = None;
                    app.set_outcome(o);
                }
            }
        }
        if snapshot_lost && snapshots.in_flight.is_some() {
            snapshots.in_flight = None;
            app.set_fetching(false);
            app.push_error("the snapshot fetch ended without a result (it panicked; see the log)".into());
            dirty = true;
        }
        if query_lost && queries.in_flight.is_some() {
            queries.in_flight = None;
            app.set_outcome(QueryOutcome::Error {
                message: "the query ended without an answer (it panicked; see the log)".into(),
                position: None,
            });
            dirty = true;
        }

        // New requests.
        let now = Instant::now();
        if now >= next_refresh {
            snapshots.waiting = Some(());
        }
        if snapshots.waiting.is_some() && snapshots.in_flight.is_none() {
            snapshots.waiting = None;
            next_refresh = now + options.refresh;
            let backend = Arc::clone(backend);
            let tx = tx.clone();
            let detail = app.detail_id().map(str::to_string);
            let operation = app.operation_focus().cloned();
            app.set_fetching(true);
            dirty = true;
            snapshots.in_flight = Some(rt.spawn(async move {
                let mut s = backend.snapshot(detail.as_deref()).await;
                if let Some(op) = &operation {
                    s.operation = Some(backend.operation_latency(op).await);
                }
                let _ = tx.send(Msg::Snapshot(s));
            }));
        }
        if queries.in_flight.is_none()
            && let Some((expr, range_ms)) = queries.waiting.take()
        {
            let backend = Arc::clone(backend);
            let tx = tx.clone();
            queries.in_flight = Some(rt.spawn(async move {
                let o = backend.query(&expr, range_ms).await;
                let _ = tx.send(Msg::Query(o));
            }));
        }

        if dirty {
            let knob_value = knob.as_ref().map(|k| k.error_rate());
            terminal
                .draw(|frame| crate::ui::draw(frame, &app, knob_value))
                .map_err(|e| io::Error::other(format!("cannot draw the dashboard: {e}")))?;
            dirty = false;
        }

        let timeout = POLL.min(next_refresh.saturating_duration_since(Instant::now()));
        match events.next(timeout)? {
            Some(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                dirty = true;
                match app.on_key(key) {
                    Action::None => {}
                    Action::Quit => {
                        shutdown.cancel();
                        return Ok(Exit::Quit);
                    }
                    Action::Refresh | Action::SelectionChanged => snapshots.waiting = Some(()),
                    Action::RunQuery { expr, range_ms } => queries.waiting = Some((expr, range_ms)),
                    Action::Demo { up } => {
                        if let Some(k) = knob {
                            k.adjust(up);
                        }
                    }
                }
            }
            // ratatui resizes its buffers on the next draw; the frame just has to be redrawn.
            Some(Event::Resize(..)) | Some(Event::FocusGained) => dirty = true,
            Some(_) | None => {}
        }
    }
}

/// Whether the terminal is in raw mode on the alternate screen because of us.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

thread_local! {
    /// Set on the thread that runs the loop: a panic there must restore the terminal; a panic in
    /// a fetch task on a runtime thread must not (the dashboard goes on and reports it).
    static UI_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether the dashboard has the terminal in raw mode on the alternate screen now: a panic hook
/// must then not write to standard error (the message would land over the screen).
pub fn terminal_active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        // Raw mode first: it has the wider effect if the rest fails.
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
    }
}

/// The real terminal, restored when dropped.
pub(crate) struct TerminalGuard {
    pub(crate) terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    pub(crate) fn enter() -> io::Result<Self> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if UI_THREAD.try_with(Cell::get).unwrap_or(false) {
                    restore_terminal();
                }
                previous(info);
            }));
        });
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        UI_THREAD.with(|c| c.set(true));
        let setup = execute!(io::stdout(), EnterAlternateScreen)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match setup {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                UI_THREAD.with(|c| c.set(false));
                restore_terminal();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        UI_THREAD.with(|c| c.set(false));
        restore_terminal();
    }
}

#[cfg(test)]
mod tests;

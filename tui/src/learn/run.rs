//! The practice view's terminal loop: the dashboard's terminal guard (raw mode, the alternate
//! screen, restored on every way out including a panic) around a loop that draws, reads a key,
//! and has the [`Session`] carry out what the key asks. There is no network and no runtime:
//! grading runs on this thread, fast enough for a keypress (the grader's goal is < 50 ms).
//!
//! The preview of a PromQL answer is computed when the keys pause ([`PREVIEW_PAUSE`]), not on
//! every key, so typing a long query does not evaluate every prefix of it.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use burnwatch_learn::Curriculum;
use crossterm::event::{Event, KeyEventKind};
use ratatui::Terminal;

use super::LearnApp;
use super::session::{Flow, Session};
use crate::run::{EventSource, POLL, TerminalEvents, TerminalGuard};

/// How long the keys must pause before a PromQL answer's preview is computed.
pub const PREVIEW_PAUSE: Duration = Duration::from_millis(150);

/// Runs the practice view on the terminal until the learner quits (`q`, Ctrl-C).
///
/// `progress_path` is where progress is read from and saved to after every check (normally
/// `burnwatch_learn::progress::default_path()`, which honours `BURNWATCH_LEARN_PROGRESS`). A
/// progress file that cannot be read or saved is reported in the view's status bar, not here:
/// practice goes on.
///
/// # Errors
///
/// The terminal could not be set up, drawn to, or read from. The terminal is restored before
/// this returns, and on a panic in this thread.
pub fn run(progress_path: PathBuf) -> io::Result<()> {
    let mut session = Session::open(progress_path);
    let mut app = LearnApp::new(Curriculum::builtin());
    session.start(&mut app);
    let mut guard = TerminalGuard::enter()?;
    let result = run_loop(&mut guard.terminal, &mut TerminalEvents, &mut app, &mut session);
    drop(guard);
    result
}

/// The loop over any terminal and event source: [`run`] with crossterm, tests with ratatui's
/// `TestBackend` and scripted keys. Returns when the learner quits.
///
/// # Errors
///
/// Drawing to the terminal or reading an event failed.
pub fn run_loop<B: ratatui::backend::Backend>(
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    app: &mut LearnApp,
    session: &mut Session,
) -> io::Result<()> {
    let mut dirty = true;
    loop {
        if session.tick(app, Instant::now()) {
            dirty = true;
        }
        if dirty {
            terminal
                .draw(|frame| crate::ui::learn::draw(frame, app))
                .map_err(|e| io::Error::other(format!("cannot draw the practice view: {e}")))?;
            dirty = false;
        }
        let timeout = if app.preview_wanted().is_some() {
            PREVIEW_PAUSE
        } else {
            POLL
        };
        match events.next(timeout)? {
            Some(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                dirty = true;
                let action = app.on_key(key);
                if session.perform(app, action) == Flow::Quit {
                    return Ok(());
                }
            }
            Some(Event::Resize(..)) | Some(Event::FocusGained) => dirty = true,
            Some(_) => {}
            // The keys paused: time for the preview.
            None => dirty |= session.preview(app),
        }
    }
}

//! Standard output for every subcommand, and what a closed pipe means.
//!
//! `burnwatch dora export | head` closes the pipe while burnwatch is still writing. Rust ignores
//! SIGPIPE, so the write fails with `EPIPE`, and `print!` turns that into a panic. A reader that
//! stopped reading has what it wanted, so, as ripgrep does, burnwatch then stops quietly with
//! status 0: subcommands write through [`print`], whose error `main` recognises with
//! [`is_broken_pipe`], and [`exit_quietly_on_broken_pipe_panics`] covers any `print!` left (the
//! interactive PromQL shell prints as it goes).
//!
//! Standard error is written through [`ewriteln!`] and [`ewrite!`], which ignore failure:
//! `eprintln!` panics when standard error is a pipe whose reader went away (`burnwatch ... 2>&1 |
//! head -1`), and a message about one problem must never become a crash. (A *closed* descriptor,
//! `2>&-`, is reopened on `/dev/null` by Rust's runtime before `main`, so writes to it succeed.)
//!
//! Panics go through [`install_panic_hook`]: their message is logged through `tracing` (the log
//! file while the dashboard owns the terminal), and written to standard error only when the
//! terminal is not the dashboard's and the log does not already go there.

use std::io::{ErrorKind, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

/// Writes `text` to standard output and flushes it, so a closed pipe is reported here rather
/// than ignored at exit.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

/// Writes `args` to standard error, ignoring failure (a pipe whose reader went away, a full
/// disk): see [`ewriteln!`].
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `eprintln!` that never panics: a failed write to standard error is ignored.
macro_rules! ewriteln {
    () => {
        $crate::output::write_stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics: a failed write to standard error is ignored.
macro_rules! ewrite {
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!($($arg)*))
    };
}

/// Set once the log goes to a file (the dashboard's `DATA_DIR/burnwatch.log`): a panic is then
/// also written to standard error, where a person sees it once the terminal is restored.
static LOGS_TO_FILE: AtomicBool = AtomicBool::new(false);

/// Records that the `tracing` subscriber writes to a file, not to standard error.
pub fn logs_go_to_a_file() {
    LOGS_TO_FILE.store(true, Ordering::SeqCst);
}

/// Whether `err` comes from writing to a reader that went away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == ErrorKind::BrokenPipe)
    })
}

/// Whether a panic message is the one `print!` raises on a closed standard output
/// (`failed printing to stdout: Broken pipe (os error 32)`).
fn is_broken_pipe_panic(message: &str) -> bool {
    message.starts_with("failed printing to stdout")
        && (message.contains("Broken pipe") || message.contains("os error 32"))
}

/// Where a panic's message goes.
#[derive(Debug, PartialEq, Eq)]
struct PanicRoute {
    /// Logged through `tracing` at error level (else at debug: a caught, expected panic).
    error: bool,
    /// Also written to standard error.
    stderr: bool,
}

/// Routes a panic: `caught` when it happened inside a guarded call into the PromQL parser crate
/// (the caller answers it as a parse error), `screen` while the dashboard owns the terminal,
/// `logging` when a `tracing` subscriber is set, `to_file` when that subscriber writes to a file.
fn route(caught: bool, screen: bool, logging: bool, to_file: bool) -> PanicRoute {
    PanicRoute {
        error: !caught,
        // Never over the dashboard's screen; not twice when the log is standard error already.
        stderr: !caught && !screen && (!logging || to_file),
    }
}

/// Installs the process's panic hook. When `quiet_on_broken_pipe`, a panic of `print!` failing on
/// a closed pipe ends the process with status 0 and no message (only for the commands that
/// print results: a server (`collector`, `serve`, `up`) must never end on a hook's exit(0), which
/// would skip its flushes and the store's snapshot).
///
/// Every other panic is logged through `tracing` with its message, location and thread. A panic
/// inside a guarded call into the PromQL parser crate (a hostile query; the caller reports it as
/// a parse error) is logged at debug level only. Otherwise the message is also written to
/// standard error unless the dashboard owns the terminal (its own hook, installed on top of this
/// one, restores the terminal first on a panic of the dashboard's thread, so a real crash is
/// readable) or the log already goes to standard error. A backtrace follows when
/// `RUST_BACKTRACE` asks for one, as with the default hook.
pub fn install_panic_hook(quiet_on_broken_pipe: bool) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("Box<dyn Any>");
        if quiet_on_broken_pipe && is_broken_pipe_panic(message) {
            std::process::exit(0);
        }
        let location = info.location().map_or_else(String::new, ToString::to_string);
        let current = std::thread::current();
        let thread = current.name().unwrap_or("<unnamed>");
        let how = route(
            burnwatch_slo::promql::engine::in_guarded_call(),
            burnwatch_tui::run::terminal_active(),
            tracing::dispatcher::has_been_set(),
            LOGS_TO_FILE.load(Ordering::SeqCst),
        );
        if how.error {
            tracing::error!(panic = %message, location = %location, thread = %thread, "A thread panicked.");
        } else {
            tracing::debug!(panic = %message, location = %location, thread = %thread,
                "The PromQL parser panicked on a query; it is answered as a parse error.");
        }
        if how.stderr {
            let backtrace = std::backtrace::Backtrace::capture();
            let trace = match backtrace.status() {
                std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
                _ => String::new(),
            };
            ewriteln!("thread '{thread}' panicked at {location}:\n{message}{trace}");
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_recognised_through_context() {
        let err = anyhow::Error::from(std::io::Error::from(ErrorKind::BrokenPipe))
            .context("cannot write to standard output")
            .context("dora export");
        assert!(is_broken_pipe(&err));
        let other = anyhow::Error::from(std::io::Error::from(ErrorKind::PermissionDenied))
            .context("cannot write to standard output");
        assert!(!is_broken_pipe(&other));
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
    }

    /// Issue #12: a panic caught from the PromQL parser printed over the dashboard's screen.
    #[test]
    fn panics_reach_stderr_only_when_nothing_else_shows_them() {
        // (logged as an error, written to stderr)
        let r = |caught, screen, logging, to_file| {
            let how = route(caught, screen, logging, to_file);
            (how.error, how.stderr)
        };
        // A query the parser crate panics on: logged at debug, never on the terminal.
        for (screen, logging, to_file) in [(true, true, true), (false, false, false), (false, true, true)] {
            assert_eq!(r(true, screen, logging, to_file), (false, false));
        }
        // While the dashboard owns the terminal: the log only.
        assert_eq!(r(false, true, true, true), (true, false));
        assert_eq!(r(false, true, false, false), (true, false));
        // No log, or a log in a file: standard error too; a log on standard error: once.
        assert_eq!(r(false, false, false, false), (true, true));
        assert_eq!(r(false, false, true, true), (true, true));
        assert_eq!(r(false, false, true, false), (true, false));
    }

    #[test]
    fn only_the_print_panic_on_a_closed_pipe_is_quiet() {
        assert!(is_broken_pipe_panic(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_pipe_panic(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_broken_pipe_panic("index out of bounds: Broken pipe"));
    }
}

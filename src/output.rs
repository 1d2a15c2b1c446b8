//! Standard output for every subcommand, and what a closed pipe means.
//!
//! `burnwatch dora export | head` closes the pipe while burnwatch is still writing. Rust ignores
//! SIGPIPE, so the write fails with `EPIPE`, and `print!` turns that into a panic. A reader that
//! stopped reading has what it wanted, so, as ripgrep does, burnwatch then stops quietly with
//! status 0: subcommands write through [`print`], whose error `main` recognises with
//! [`is_broken_pipe`], and [`exit_quietly_on_broken_pipe_panics`] covers any `print!` left (the
//! interactive PromQL shell prints as it goes).

use std::io::{ErrorKind, Write as _};

use anyhow::Context as _;

/// Writes `text` to standard output and flushes it, so a closed pipe is reported here rather
/// than ignored at exit.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
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

/// Installs a panic hook that ends the process with status 0, without a message, when the panic
/// is `print!` failing on a closed pipe; every other panic goes to the default hook.
pub fn exit_quietly_on_broken_pipe_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        if message.is_some_and(is_broken_pipe_panic) {
            std::process::exit(0);
        }
        default(info);
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

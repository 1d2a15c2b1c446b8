//! How the command line ends when its output has nowhere to go (issue #12): a reader that closed
//! the pipe (`burnwatch dora export | head`) ends each subcommand quietly with status 0, as
//! ripgrep does, instead of a `print!` panic; `burnwatch tui --once` against a server that does
//! not answer fails with an error naming it instead of printing a table of errors and exiting 0.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

/// Runs burnwatch with its standard output on a pipe whose reading end is already closed, so the
/// first write fails with `EPIPE` whatever the timing (what `| head` does after its lines).
fn run_into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(burnwatch_bin())
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

fn assert_quiet_success(args: &[&str]) {
    let out = run_into_closed_pipe(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "burnwatch {args:?} into a closed pipe: {:?}\n{stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "burnwatch {args:?} into a closed pipe must end quietly:\n{stderr}"
    );
}

#[test]
fn closed_pipe_ends_dora_export_quietly() {
    assert_quiet_success(&["dora", "export", "--events", "examples/dora/events.jsonl"]);
    assert_quiet_success(&[
        "dora",
        "report",
        "--events",
        "examples/dora/events.jsonl",
        "--at",
        "2024-05-31T00:00:00Z",
    ]);
}

#[test]
fn closed_pipe_ends_slo_commands_quietly() {
    assert_quiet_success(&["slo", "generate", "--spec", "examples/slos/checkout-sloth.yaml"]);
    assert_quiet_success(&["slo", "budget", "--objective", "99.9"]);
    assert_quiet_success(&["slo", "validate", "--spec", "examples/slos/checkout-sloth.yaml"]);
    assert_quiet_success(&["collector", "print-default-config"]);
}

/// `promql` prints as it goes (the shell answers query by query); the same rule holds there.
#[test]
fn closed_pipe_ends_promql_query_quietly() {
    assert_quiet_success(&[
        "promql",
        "query",
        "--load",
        "examples/metrics/checkout.om",
        "vector(1)",
    ]);
}

#[test]
fn tui_once_fails_when_the_server_is_unreachable() {
    // A server that takes each connection and closes it without a word: held by this test, so
    // no other test's server can take the port meanwhile.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    for extra in [&[][..], &["--json"][..]] {
        let out = Command::new(burnwatch_bin())
            .args(["tui", "--once", "--prometheus-url", &url, "--timeout", "10s"])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "tui --once {extra:?}: {stderr}");
        assert!(
            stderr.contains(&format!("--prometheus-url {url} does not answer queries"))
                && stderr.contains("cannot reach"),
            "the error names the server and the reason: {stderr}"
        );
        assert!(out.stdout.is_empty(), "no table of errors on stdout");
    }
}

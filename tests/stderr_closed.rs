//! Standard error that cannot be written (issue #12): a pipe whose reader went away
//! (`burnwatch ... 2>&1 | head -1` after `head` exits) turned every `eprintln!` into a panic, and
//! tracing-subscriber's own report of a failed log write into another. burnwatch must end with the
//! exit code and standard output it would have had.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A pipe's write end whose read end is already closed: every write to it fails with EPIPE.
fn broken_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// Issue #12: `eprintln!` of the error message panicked (exit code 101) on a broken stderr.
#[test]
fn a_command_failing_with_stderr_broken_exits_1_not_101() {
    let data = tempfile::tempdir().unwrap();
    let file = write_file(data.path(), "x.om", "x 1 0\n# EOF\n");
    // A parse error (printed with a caret on stderr) and an unreadable file (the error chain).
    for args in [
        vec!["promql", "query", "--load", file.to_str().unwrap(), "sum("],
        vec!["promql", "query", "--load", "/nonexistent/x.om", "x"],
    ] {
        let out = Command::new(burnwatch_bin())
            .args(&args)
            .stdin(Stdio::null())
            .stderr(broken_pipe())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    // A successful query still prints its answer on stdout, whatever stderr is.
    let out = Command::new(burnwatch_bin())
        .args(["promql", "query", "--load", file.to_str().unwrap(), "x"])
        .stdin(Stdio::null())
        .stderr(broken_pipe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains('x'), "{out:?}");
}

/// Issue #12: `up --headless` logs and prints its banner on stderr; with stderr broken it must
/// still serve, and stop on SIGTERM with status 0 after writing its snapshot.
#[test]
fn up_headless_with_stderr_broken_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "collector.yaml", EPHEMERAL_CONFIG);
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut child = Command::new(burnwatch_bin())
        .args(["up", "--headless", "--log-level", "debug", "--config"])
        .arg(&config)
        .args(["--listen", &listen, "--data-dir"])
        .arg(&data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(broken_pipe())
        .spawn()
        .unwrap();
    let ready = wait_for(Duration::from_secs(60), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("up exited before serving: {status}");
        }
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "up did not serve its API");
    // A request logs at debug level: more writes to the broken stderr.
    assert_eq!(
        http_get(&format!("{base}/api/v1/query?query=vector(1)")).map(|r| r.0),
        Some(200)
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("up did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "up ended with {status}");
    assert!(
        std::fs::read_dir(&data_dir).unwrap().next().is_some(),
        "nothing written to the data dir"
    );
}

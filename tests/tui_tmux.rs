//! The dashboard in a real terminal (tmux) in the situations issue #12 found broken: a query the
//! PromQL parser crate panics on, typed into the PromQL view, printed the panic over the screen;
//! and `up --web.config.file` with TLS and basic auth could not show its own data (the dashboard
//! was a plain-HTTP client without credentials).

mod common;

use std::time::Duration;

use common::tmux::{Tmux, pane_script};
use common::*;

/// A self-signed certificate for 127.0.0.1 made with the openssl CLI: (cert, key).
fn self_signed(openssl: &std::path::Path, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let out = std::process::Command::new(openssl)
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// Quits with `q` (after `Escape` when the PromQL input has the keys) and checks the exit code
/// and the restored terminal.
fn quit_cleanly(tmux: &Tmux, log: &dyn Fn() -> String) {
    tmux.keys(&["Escape", "q"]);
    let (ok, end) = tmux.wait_screen(Duration::from_secs(60), |s| {
        s.contains("EXIT=") && s.contains("speed")
    });
    assert!(ok, "burnwatch did not exit:\n{end}\n--- log:\n{}", log());
    assert!(end.contains("EXIT=0"), "{end}\n--- log:\n{}", log());
    let modes: Vec<&str> = end.split_whitespace().collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "terminal not restored:\n{end}"
    );
}

/// Issue #12: `x[1e308]` makes promql-parser panic (its `Duration::from_secs_f64` overflows).
/// The API turns that into a parse error, but the panic message went to stderr, over the
/// dashboard. Now the PromQL view shows the parse error and nothing else lands on the screen.
#[test]
fn a_query_that_panics_in_the_parser_shows_its_parse_error_and_keeps_the_screen_clean() {
    if require_tool("tmux", "apt-get install tmux").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "collector.yaml", EPHEMERAL_CONFIG);
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let script = pane_script(
        dir.path(),
        "run.sh",
        &format!(
            "'{bin}' up --config '{config}' --listen {listen} --data-dir '{data}' --refresh 1s",
            bin = burnwatch_bin().display(),
            config = config.display(),
            data = data_dir.display(),
        ),
    );
    let tmux = Tmux::start("panic", &script, 140, 40);
    let log = || std::fs::read_to_string(data_dir.join("burnwatch.log")).unwrap_or_default();
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(120), |s| s.contains("5 PromQL"));
    assert!(ok, "no dashboard:\n{screen}\n--- log:\n{}", log());
    tmux.keys(&["5"]);
    tmux.type_text("x[1e308]");
    tmux.keys(&["Enter"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(60), |s| s.contains("parse error"));
    assert!(ok, "no parse error shown:\n{screen}\n--- log:\n{}", log());
    // The next frames too: a message printed over the screen stays until ratatui redraws
    // those cells, so look again after a refresh.
    tmux.keys(&["Escape", "1"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(30), |s| s.contains("SLOs ("));
    assert!(ok, "the SLO view did not come back:\n{screen}");
    for s in [&screen, &tmux.screen()] {
        assert!(
            !s.contains("panicked") && !s.contains("RUST_BACKTRACE"),
            "a panic message on the screen:\n{s}"
        );
    }
    quit_cleanly(&tmux, &log);
}

/// Issue #12: `up --web.config.file` with `tls_server_config` and `basic_auth_users` refused to
/// start with the dashboard. Now the dashboard reaches its own API over HTTPS with a process
/// credential and shows the collector's self-telemetry scraped into the store.
#[test]
fn up_with_tls_and_basic_auth_shows_its_data_in_the_dashboard() {
    let (Some(_), Some(openssl)) = (
        require_tool("tmux", "apt-get install tmux"),
        require_tool("openssl", "apt-get install openssl"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    self_signed(&openssl, dir.path());
    let hash = bcrypt::hash("correct horse", 4).unwrap();
    let web = write_file(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  alice: '{hash}'\n"
        ),
    );
    let config = write_file(dir.path(), "collector.yaml", EPHEMERAL_CONFIG);
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let script = pane_script(
        dir.path(),
        "run.sh",
        &format!(
            "'{bin}' up --config '{config}' --listen {listen} --data-dir '{data}' \
             --web.config.file '{web}' --scrape-interval 1s --refresh 1s",
            bin = burnwatch_bin().display(),
            config = config.display(),
            data = data_dir.display(),
            web = web.display(),
        ),
    );
    let tmux = Tmux::start("tls", &script, 140, 40);
    let log = || std::fs::read_to_string(data_dir.join("burnwatch.log")).unwrap_or_default();
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(120), |s| s.contains("5 PromQL"));
    assert!(ok, "no dashboard:\n{screen}\n--- log:\n{}", log());
    assert!(
        screen.contains("https://"),
        "the title names the HTTPS API:\n{screen}"
    );
    // The Collector view: the self-telemetry target is up and its memory is read, both queried
    // from the store through the secured API. Each refresh queries again, so this waits for the
    // scrapes rather than racing them.
    tmux.keys(&["4"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(120), |s| {
        s.contains("self-telemetry target up") && s.contains("MiB")
    });
    assert!(
        ok,
        "no collector data over the secured API:\n{screen}\n--- log:\n{}",
        log()
    );
    assert!(
        !screen.contains("401") && !screen.contains("cannot reach"),
        "{screen}"
    );
    quit_cleanly(&tmux, &log);
}

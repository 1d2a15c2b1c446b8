//! `burnwatch up --demo` as a person runs it: in a real terminal (tmux), waiting for data, switching
//! views with keys, reading the screen with `tmux capture-pane`, turning the demo's error knob, and
//! quitting with `q`. The terminal must come back in its normal mode and the process exit 0.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A private tmux server (`-L`), so the test never touches a user's sessions.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = self.cmd(&["send-keys", "-t", &self.session, k]);
            assert!(
                out.status.success(),
                "send-keys {k}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Literal text (no key-name lookup).
    fn type_text(&self, text: &str) {
        let out = self.cmd(&["send-keys", "-t", &self.session, "-l", text]);
        assert!(out.status.success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", &self.session]).stdout).into_owned()
    }

    /// Polls the screen until `check` holds; the last screen either way.
    fn wait_screen(&self, timeout: Duration, check: impl Fn(&str) -> bool) -> (bool, String) {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return (true, screen);
            }
            if Instant::now() > deadline {
                return (false, screen);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The SLO table's rows: the lines naming an SLO, without the clock in the status bar.
fn slo_rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.contains("checkout ") && l.contains('%'))
        .map(str::to_string)
        .collect()
}

fn has_figure(line: &str, unit: char) -> bool {
    line.split_whitespace()
        .any(|w| w.ends_with(unit) && w.trim_end_matches(unit).parse::<f64>().is_ok())
}

fn has_percent_figure(line: &str) -> bool {
    has_figure(line, '%')
}

/// A burn rate such as `0.629x`.
fn has_burn_figure(line: &str) -> bool {
    has_figure(line, 'x')
}

#[test]
fn up_demo_in_a_terminal_shows_moving_burn_rates_and_quits_cleanly() {
    if require_tool("tmux", "apt-get install tmux").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "collector.yaml", EPHEMERAL_CONFIG);
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    // The shell script the pane runs: burnwatch, then the exit code and the terminal's modes, then
    // a pause so the pane stays readable.
    let script = format!(
        "#!/bin/sh\n'{bin}' up --demo --config '{config}' --listen {listen} --data-dir '{data}' \
         --scrape-interval 5s --refresh 1s\necho \"EXIT=$?\"\nstty -a\nsleep 600\n",
        bin = burnwatch_bin().display(),
        config = config.display(),
        data = data_dir.display(),
    );
    let script_path = write_file(dir.path(), "run.sh", &script);
    make_executable(&script_path);
    let tmux = Tmux {
        socket: format!("burnwatch-test-{}", std::process::id()),
        session: "up".to_string(),
    };
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        &tmux.session,
        "-x",
        "160",
        "-y",
        "48",
        script_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = || std::fs::read_to_string(data_dir.join("burnwatch.log")).unwrap_or_default();

    // 1. The SLO table fills with the four bundled SLOs and budget figures.
    let (ok, first) = tmux.wait_screen(Duration::from_secs(120), |s| {
        let rows = slo_rows(s);
        rows.len() == 4 && rows.iter().all(|r| has_percent_figure(r) && has_burn_figure(r))
    });
    assert!(ok, "no SLO table with numbers:\n{first}\n--- log:\n{}", log());
    for name in [
        "requests-availability",
        "requests-latency",
        "payment-availability",
        "payment-latency",
    ] {
        assert!(first.contains(name), "{name} missing:\n{first}");
    }
    assert!(
        first.contains("1 SLOs") && first.contains("5 PromQL"),
        "tab bar:\n{first}"
    );
    assert!(
        first.contains("demo errors"),
        "the demo knob in the status bar:\n{first}"
    );

    // 2. The numbers move: burn rates and budgets change as new scrapes arrive.
    let rows_before = slo_rows(&first);
    let (ok, moved) = tmux.wait_screen(Duration::from_secs(60), |s| {
        let rows = slo_rows(s);
        rows.len() == 4 && rows != rows_before
    });
    assert!(ok, "the SLO table did not change in a minute:\n{moved}");

    // 3. The demo's error knob: `+` raises the base error share shown in the status bar.
    let knob = |s: &str| {
        s.lines()
            .find(|l| l.contains("demo errors"))
            .map(|l| l.to_string())
            .unwrap_or_default()
    };
    let knob_before = knob(&tmux.screen());
    tmux.keys(&["+", "+"]);
    let (ok, after) = tmux.wait_screen(Duration::from_secs(30), |s| knob(s) != knob_before);
    assert!(ok, "`+` did not move the demo knob: {knob_before}\n{after}");

    // 4. Detail of the selected SLO: burndown, alert table, sparklines, time to exhaustion.
    tmux.keys(&["Enter"]);
    let (ok, detail) = tmux.wait_screen(Duration::from_secs(30), |s| {
        s.contains("burndown") && s.contains("14.4x") && s.contains("exhaustion")
    });
    assert!(ok, "detail view:\n{detail}");

    // 5. DORA: the demo's history, with tiers, weekly bars, and the recent deployments and
    //    incidents read back from the server with their links (an incident names its cause).
    tmux.keys(&["3"]);
    let (ok, dora) = tmux.wait_screen(Duration::from_secs(30), |s| {
        s.contains("Deployment frequency") && s.contains("/day") && s.contains("elite")
    });
    assert!(ok, "DORA view:\n{dora}");
    let (ok, dora) = tmux.wait_screen(Duration::from_secs(60), |s| {
        s.contains("Weekly, 5 weeks")
            && s.contains("Recent deployments and incidents")
            && s.contains("deployment ")
            && s.contains("caused by checkout-")
    });
    assert!(ok, "DORA view without weekly bars or linked events:\n{dora}");

    // 6. Collector: the pipeline's own rates and memory.
    tmux.keys(&["4"]);
    let (ok, collector) = tmux.wait_screen(Duration::from_secs(30), |s| {
        s.contains("metric_points") && s.contains("RSS") && s.contains("/s")
    });
    assert!(ok, "collector view:\n{collector}");

    // 7. PromQL: a query typed into the input (`q` is text there, not quit), then a broken one
    //    with its position marked. A rate needs two scrapes of the counter: wait until the API
    //    answers the query with the payment route before typing it, so the view shows data however
    //    fast steps 1-6 went (the view runs a query once, on Enter).
    let query = "sum by (http_route) (rate(http_server_requests_total[1m]))";
    let url = format!(
        "http://{listen}/api/v1/query?query={}",
        query
            .replace(' ', "%20")
            .replace('(', "%28")
            .replace(')', "%29")
            .replace('[', "%5B")
            .replace(']', "%5D")
    );
    let answered = wait_for(Duration::from_secs(120), || {
        http_get(&url).filter(|(status, body)| *status == 200 && body.contains("/api/payment"))
    });
    assert!(
        answered.is_some(),
        "the API never answered {query} with the payment route: {:?}\n--- log:\n{}",
        http_get(&url),
        log()
    );
    tmux.keys(&["5"]);
    tmux.type_text(query);
    tmux.keys(&["Enter"]);
    let (ok, result) = tmux.wait_screen(Duration::from_secs(30), |s| {
        s.contains("{http_route=\"/api/payment\"}")
    });
    assert!(ok, "query result:\n{result}");
    tmux.keys(&["C-u"]);
    tmux.type_text("sum(rate(x[5m])");
    tmux.keys(&["Enter"]);
    let (ok, error) = tmux.wait_screen(Duration::from_secs(30), |s| {
        s.contains("parse error") && s.contains('^')
    });
    assert!(ok, "positioned parse error:\n{error}");

    // 8. Quit: leave the input with Esc, then `q`.
    tmux.keys(&["Escape", "q"]);
    let (ok, end) = tmux.wait_screen(Duration::from_secs(60), |s| {
        s.contains("EXIT=") && s.contains("speed")
    });
    assert!(ok, "burnwatch did not exit:\n{end}\n--- log:\n{}", log());
    assert!(end.contains("EXIT=0"), "{end}\n--- log:\n{}", log());
    // The terminal is back in cooked mode with echo (raw mode turns both off).
    let modes: Vec<&str> = end.split_whitespace().collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "terminal not restored:\n{end}"
    );
    // The alternate screen is gone: the dashboard's frame is not on the screen any more.
    assert!(
        !end.contains("1 SLOs"),
        "the dashboard is still on screen:\n{end}"
    );
    assert!(log().contains("Wrote the shutdown snapshot"), "{}", log());
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

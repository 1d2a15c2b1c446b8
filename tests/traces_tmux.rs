//! The Traces view as a person uses it, in a real terminal (tmux): `burnwatch up --demo` sends
//! spans through the spanmetrics connector; `6` shows the demo's operations with rates and
//! quantiles; `s` steps the sort to the operation name (A to Z) and `S` reverses it, which the
//! rows' order on screen follows; Enter opens the selected operation's latency over the last hour
//! with its p50/p90/p99 figures; Esc goes back to the table.

mod common;

use std::time::Duration;

use common::tmux::{Tmux, pane_script};
use common::*;

/// The demo's routes, as its spans are named (`METHOD /path`).
const ROUTES: [&str; 4] = ["/api/cart", "/api/products/{id}", "/api/checkout", "/api/payment"];

/// The routes in the order their rows appear on `screen`.
fn route_order(screen: &str) -> Vec<&'static str> {
    screen
        .lines()
        .filter_map(|l| ROUTES.iter().copied().find(|r| l.contains(&format!(" {r} "))))
        .collect()
}

#[test]
fn traces_view_lists_operations_sorts_them_and_opens_a_latency_chart() {
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
            "'{bin}' up --demo --config '{config}' --listen {listen} --data-dir '{data}' \
             --scrape-interval 1s --refresh 1s",
            bin = burnwatch_bin().display(),
            config = config.display(),
            data = data_dir.display(),
        ),
    );
    let tmux = Tmux::start("traces", &script, 160, 48);
    let log = || std::fs::read_to_string(data_dir.join("burnwatch.log")).unwrap_or_default();
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(120), |s| s.contains("6 Traces"));
    assert!(
        ok,
        "no dashboard with a Traces tab:\n{screen}\n--- log:\n{}",
        log()
    );

    // 6: every demo route has a row once its calls have been counted and scraped, with a rate
    // and quantile figures.
    tmux.keys(&["6"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(120), |s| {
        route_order(s).len() == ROUTES.len()
            && s.lines()
                .filter(|l| ROUTES.iter().any(|r| l.contains(r)))
                .all(|l| l.contains("/s") && l.contains("ms"))
    });
    assert!(
        ok,
        "the demo's operations did not show:\n{screen}\n--- log:\n{}",
        log()
    );
    assert!(
        screen.contains("sort: rate ▼"),
        "busiest first by default:\n{screen}"
    );

    // s five times: rate → errors → p50 → p90 → p99 → operation, names A to Z.
    tmux.keys(&["s", "s", "s", "s", "s"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(30), |s| s.contains("sort: operation ▲"));
    assert!(ok, "the sort did not reach the operation column:\n{screen}");
    let order = route_order(&screen);
    let mut sorted = order.clone();
    sorted.sort_by_key(|r| {
        // The span name is `METHOD /path`: the method sorts first.
        let method = if *r == "/api/checkout" || *r == "/api/payment" {
            "POST"
        } else {
            "GET"
        };
        format!("{method} {r}")
    });
    assert_eq!(order, sorted, "rows not A to Z by operation:\n{screen}");
    // S reverses.
    tmux.keys(&["S"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(30), |s| s.contains("sort: operation ▼"));
    assert!(ok, "S did not reverse the sort:\n{screen}");
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_eq!(route_order(&screen), reversed, "rows not Z to A:\n{screen}");

    // Enter: the selected operation's latency over the last hour, with its quantiles' figures.
    tmux.keys(&["Enter"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(60), |s| {
        s.contains("Traces › ")
            && s.contains("latency, last hour")
            && s.lines()
                .any(|l| l.contains("p50 ") && l.contains("p99 ") && l.contains("ms"))
    });
    assert!(ok, "no latency chart:\n{screen}\n--- log:\n{}", log());
    assert!(
        !screen.contains("fetching this operation"),
        "the chart's series never arrived:\n{screen}"
    );
    tmux.keys(&["Escape"]);
    let (ok, screen) = tmux.wait_screen(Duration::from_secs(30), |s| {
        !s.contains("Traces › ") && route_order(s).len() == ROUTES.len()
    });
    assert!(ok, "Esc did not go back to the table:\n{screen}");

    tmux.keys(&["q"]);
    let (ok, end) = tmux.wait_screen(Duration::from_secs(60), |s| s.contains("EXIT="));
    assert!(ok, "burnwatch did not exit:\n{end}\n--- log:\n{}", log());
    assert!(end.contains("EXIT=0"), "{end}\n--- log:\n{}", log());
}

//! `burnwatch up --demo --headless`, the sidecar mode: after a minute of demo traffic through the
//! real OTLP path (the Rust OpenTelemetry SDK → the collector → its Prometheus exporter → the
//! store's scrape), `burnwatch slo status --prometheus-url` against its API has a number for every
//! bundled SLO, `burnwatch tui --once` shows every view's data, and SIGTERM stops it cleanly with
//! the store persisted.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const BUNDLED: [&str; 3] = [
    "examples/demo-slos/checkout-sloth.yaml",
    "examples/demo-slos/payment-openslo.yaml",
    "examples/demo-slos/payment-latency-spanmetrics.yaml",
];

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(burnwatch_bin())
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bundled_slo_count() -> usize {
    let (ok, out, err) = run(&{
        let mut a = vec!["slo", "validate"];
        for f in BUNDLED {
            a.extend(["--spec", f]);
        }
        a
    });
    assert!(ok, "{out}{err}");
    // One line per SLO, each naming its id.
    out.lines().filter(|l| l.contains("checkout")).count()
}

#[test]
fn headless_demo_feeds_every_bundled_slo_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "collector.yaml", EPHEMERAL_CONFIG);
    let data_dir = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut up = spawn(
        "up",
        &burnwatch_bin(),
        &[
            "up",
            "--demo",
            "--headless",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &listen,
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    let ready = wait_for(Duration::from_secs(60), || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "up did not serve its API:\n{}", up.output());
    let mut args = vec!["slo", "status", "--prometheus-url", &base, "--json"];
    for f in BUNDLED {
        args.extend(["--spec", f]);
    }
    // Live traffic: the 5m windows need two scrapes of the collector (15 s apart) after the SDK's
    // first export. Wait for that condition, however long this machine takes, rather than a fixed
    // minute.
    let every_window_has_a_number = |out: &str| {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(out) else {
            return false;
        };
        v.as_array().is_some_and(|a| {
            !a.is_empty()
                && a.iter().all(|s| {
                    s["windows"]
                        .as_array()
                        .is_some_and(|w| w.iter().any(|w| w["window"] == "5m" && w["error_ratio"].is_f64()))
                })
        })
    };
    let live = wait_for(Duration::from_secs(240), || {
        assert!(
            up.child.try_wait().unwrap().is_none(),
            "up exited early:\n{}",
            up.output()
        );
        let (ok, out, _) = run(&args);
        if ok && every_window_has_a_number(&out) {
            return Some(());
        }
        // A status run is a process and a dozen queries: ask every two seconds, not ten times.
        std::thread::sleep(Duration::from_secs(2));
        None
    });
    assert!(live.is_some(), "no 5m number for every SLO:\n{}", up.output());

    let (ok, out, err) = run(&args);
    assert!(ok, "slo status failed: {err}\n{}", up.output());
    let statuses: serde_json::Value = serde_json::from_str(&out).unwrap();
    let statuses = statuses.as_array().unwrap();
    assert_eq!(statuses.len(), bundled_slo_count(), "{out}");
    assert!(statuses.len() >= 3);
    for s in statuses {
        let id = s["id"].as_str().unwrap();
        assert!(s["error"].is_null(), "{id}: {}", s["error"]);
        let five = s["windows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["window"] == "5m")
            .unwrap_or_else(|| panic!("{id} has a 5m window"));
        assert!(five["error_ratio"].is_f64(), "{id}: no number over 5m: {five}");
        let left = s["budget_remaining"]
            .as_f64()
            .unwrap_or_else(|| panic!("{id}: no budget: {s}"));
        // The demo's month of history holds the period: before the first spike (75 s in) the
        // budget is partly spent, not the -2000% a store of one minute would give.
        assert!(left > 0.0 && left < 1.0, "{id}: budget left {left}");
    }

    // The dashboard's one-shot JSON: every view has data from the live pipeline.
    let (ok, out, err) = run(&["tui", "--prometheus-url", &base, "--once", "--json"]);
    assert!(ok, "{err}");
    let snap: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(snap["slos"].as_array().unwrap().len(), statuses.len());
    assert!(
        snap["errors"].as_array().unwrap().is_empty(),
        "{}",
        snap["errors"]
    );
    let first = snap["slos"][0]["id"].as_str().unwrap();
    assert_eq!(snap["detail"]["id"], first, "the detail is the first row's");
    assert_eq!(snap["detail"]["burndown"].as_array().unwrap().len(), 31);
    assert_eq!(snap["collector"]["up"], true, "{}", snap["collector"]);
    let metric_points = &snap["collector"]["signals"][1];
    assert_eq!(metric_points["signal"], "metric_points");
    assert!(
        metric_points["accepted_per_s"].as_f64().unwrap() > 0.0,
        "{}",
        snap["collector"]
    );
    assert!(snap["collector"]["rss_bytes"].as_f64().unwrap() > 1e6);
    assert_eq!(snap["collector"]["memory_limit_bytes"], 512.0 * 1024.0 * 1024.0);
    // The demo's DORA history arrived through POST /api/v1/dora/events.
    assert_eq!(snap["dora"]["has_data"], true, "{}", snap["dora"]);
    assert!(snap["dora"]["metrics"][0]["value"].as_f64().unwrap() > 0.0);

    // The text form: the SLO table.
    let (ok, out, _) = run(&["tui", "--prometheus-url", &base, "--once"]);
    assert!(ok);
    assert!(out.starts_with("SERVICE"), "{out}");
    for s in statuses {
        assert!(out.contains(s["slo"].as_str().unwrap()), "{out}");
    }

    let status = up.terminate(Duration::from_secs(30));
    let log = up.output();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{log}");
    assert!(log.contains("Wrote the shutdown snapshot"), "{log}");
    assert!(has_snapshot(&data_dir), "no snapshot in {}", data_dir.display());
}

fn has_snapshot(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains("snapshot"))
}

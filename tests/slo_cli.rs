//! `burnwatch slo` end to end: budget, burn and alert tables from the built binary (the SRE
//! Workbook's numbers), their `--json` output, spec validation of the shipped examples and of
//! broken specs, and the examples' queries evaluated against examples/metrics/checkout.om.

mod common;

use std::process::{Command, Output};

use common::*;

fn burnwatch(args: &[&str]) -> Output {
    Command::new(burnwatch_bin()).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let out = burnwatch(args);
    assert!(
        out.status.success(),
        "burnwatch {args:?} failed:\n{}",
        stderr(&out)
    );
    stdout(&out)
}

fn json(args: &[&str]) -> serde_json::Value {
    let text = ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn example(name: &str) -> String {
    repo_root()
        .join("examples/slos")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// The value column of a `key  value` line.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key:?} line in:\n{text}"))
        .trim()
        .to_string()
}

#[test]
fn budget_prints_the_workbook_downtimes() {
    for (window, downtime) in [("30d", "43m12s"), ("28d", "40m19s"), ("7d", "10m5s")] {
        let text = ok(&["slo", "budget", "--objective", "99.9", "--window", window]);
        assert_eq!(field(&text, "allowed downtime"), downtime, "{window}:\n{text}");
        assert!(
            field(&text, "error budget").starts_with("0.1% of events"),
            "{text}"
        );
    }
    let text = ok(&[
        "slo",
        "budget",
        "--objective",
        "99.9",
        "--total-events",
        "1000000",
    ]);
    assert_eq!(field(&text, "allowed bad events"), "1000 of 1000000");
}

#[test]
fn budget_json_has_the_fields() {
    let v = json(&[
        "slo",
        "budget",
        "--objective",
        "99.9",
        "--window",
        "30d",
        "--total-events",
        "2000",
        "--json",
    ]);
    assert_eq!(v["allowed_downtime"], "43m12s");
    assert_eq!(v["allowed_downtime_seconds"], 2592.0);
    assert_eq!(v["bad_event_fraction"], 0.001);
    assert_eq!(v["allowed_bad_events"], 2.0);
    assert_eq!(v["window"], "30d");
}

#[test]
fn alerts_scale_the_workbook_table_to_28_days() {
    let text = ok(&["slo", "alerts", "--objective", "99.9", "--window", "28d"]);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("page") || l.starts_with("ticket"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    let thresholds: Vec<&str> = rows.iter().map(|r| r[4]).collect();
    assert_eq!(thresholds, vec!["13.44×", "5.6×", "2.8×", "0.933×"], "{text}");
    assert_eq!(rows[0][..4], ["page", "1h", "5m", "2%"]);
    assert_eq!(rows[3][..4], ["ticket", "3d", "6h", "10%"]);
    // Error-ratio threshold = burn rate × budget; a total outage trips the 1h page in
    // 0.001 × 1h × 13.44 = 48.384s.
    assert_eq!(rows[0][5], "1.344%");
    assert_eq!(rows[0][6], "48.384s");

    let v = json(&[
        "slo",
        "alerts",
        "--objective",
        "99.9",
        "--window",
        "30d",
        "--json",
    ]);
    let alerts = v["alerts"].as_array().unwrap();
    let rates: Vec<f64> = alerts
        .iter()
        .map(|a| a["burn_rate_threshold"].as_f64().unwrap())
        .collect();
    assert_eq!(rates, vec![14.4, 6.0, 3.0, 1.0]);
    assert_eq!(alerts[0]["severity"], "page");
    assert_eq!(alerts[0]["long_window"], "1h");
    assert_eq!(alerts[0]["short_window"], "5m");
    assert_eq!(alerts[0]["error_ratio_threshold"], 0.0144);
    assert_eq!(alerts[0]["time_to_fire_at_100_percent"], "51.84s");
    assert_eq!(alerts[2]["budget_share"], 0.1);
}

#[test]
fn alerts_read_an_alert_windows_file() {
    let v = json(&[
        "slo",
        "alerts",
        "--objective",
        "99.9",
        "--windows",
        &example("windows-7d.yaml"),
        "--json",
    ]);
    assert_eq!(v["window"], "7d", "the table's sloPeriod is the default --window");
    let rates: Vec<f64> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["burn_rate_threshold"].as_f64().unwrap())
        .collect();
    assert_eq!(rates, vec![13.44, 3.5, 1.4, 0.98]);
    let out = burnwatch(&[
        "slo",
        "alerts",
        "--objective",
        "99.9",
        "--window",
        "30d",
        "--windows",
        &example("windows-7d.yaml"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is written for a 7d period (spec.sloPeriod) but --window is 30d"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn burn_reports_rate_exhaustion_policy_and_alerts() {
    let text = ok(&[
        "slo",
        "burn",
        "--objective",
        "99.9",
        "--error-ratio",
        "0.0144",
        "--consumed",
        "0.25",
    ]);
    assert_eq!(field(&text, "burn rate"), "14.4×");
    // 75% of a 30-day budget at 14.4×: 0.75 × 30d / 14.4 = 1d13h30m.
    assert!(
        field(&text, "budget exhausted").starts_with("in 1d13h30m"),
        "{text}"
    );
    assert!(field(&text, "policy").starts_with("Green"), "{text}");
    let page: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("page"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(page, vec!["page", "1h", "5m", "14.4×", "yes", "1h"]);

    let v = json(&[
        "slo",
        "burn",
        "--objective",
        "99.9",
        "--error-ratio",
        "0.006",
        "--consumed",
        "0.9",
        "--json",
    ]);
    assert_eq!(v["burn_rate"], 6.0);
    assert_eq!(v["policy_status"], "red");
    let alerts = v["alerts"].as_array().unwrap();
    let fires: Vec<bool> = alerts.iter().map(|a| a["fires"].as_bool().unwrap()).collect();
    assert_eq!(
        fires,
        vec![false, true, true, true],
        "6× trips every row but the 14.4× page"
    );
    assert_eq!(alerts[1]["time_to_fire"], "6h");
    assert_eq!(alerts[0]["time_to_fire"], serde_json::Value::Null);
    // 10% left at 6×: 0.1 × 30d / 6 = 12h.
    assert_eq!(v["time_to_exhaustion"], "12h");
}

#[test]
fn bad_flags_are_named() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["slo", "budget", "--objective", "100"],
            "--objective 100: must be in (0, 100)",
        ),
        (
            &["slo", "budget", "--objective", "99.9", "--window", "month"],
            "--window \"month\": not a positive duration",
        ),
        (
            &["slo", "burn", "--objective", "99.9", "--error-ratio", "1.5"],
            "--error-ratio 1.5: must be in [0, 1]",
        ),
        (
            &["slo", "alerts", "--objective", "0"],
            "--objective 0: must be in (0, 100)",
        ),
    ];
    for (args, want) in cases {
        let out = burnwatch(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&out).contains(want),
            "{args:?}: want {want:?} in {}",
            stderr(&out)
        );
    }
}

#[test]
fn validate_lists_the_example_slos() {
    let text = ok(&[
        "slo",
        "validate",
        "--spec",
        &example("checkout-sloth.yaml"),
        &example("checkout-openslo.yaml"),
    ]);
    for id in [
        "checkout-requests-availability",
        "checkout-requests-latency",
        "checkout-availability-internal",
        "checkout-availability-sla",
        "checkout-latency",
        "checkout-uptime",
        "checkout-p90-latency",
    ] {
        assert!(text.lines().any(|l| l.starts_with(id)), "no {id} in:\n{text}");
    }
    assert!(text.contains("7 SLO(s) in 2 file(s): valid"), "{text}");
    let v = json(&[
        "slo",
        "validate",
        "--spec",
        &example("checkout-openslo.yaml"),
        "--json",
    ]);
    assert_eq!(v["valid"], true);
    let uptime = v["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "checkout-uptime")
        .unwrap();
    assert_eq!(uptime["calendar"], true);
    assert_eq!(uptime["budgeting"], "timeslices 5m >= 99%");
}

#[test]
fn validate_names_file_slo_and_field_of_a_broken_spec() {
    let dir = tempfile::tempdir().unwrap();
    let openslo = std::fs::read_to_string(example("checkout-openslo.yaml")).unwrap();
    let broken = dir.path().join("slo.yaml");
    std::fs::write(&broken, openslo.replace("target: 0.999", "target: 1.5")).unwrap();
    let out = burnwatch(&["slo", "validate", "--spec", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!(
        "{}: SLO \"availability\" (document 4) spec.objectives[0].target must be in (0, 1), got 1.5",
        broken.display()
    );
    assert!(
        stderr(&out).contains(&want),
        "want {want:?} in:\n{}",
        stderr(&out)
    );

    let sloth = std::fs::read_to_string(example("checkout-sloth.yaml")).unwrap();
    let broken = dir.path().join("slos.yaml");
    std::fs::write(&broken, sloth.replace("objective: 99\n", "objective: 100\n")).unwrap();
    let v = {
        let out = burnwatch(&["slo", "validate", "--spec", broken.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(1));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["path"], "slos[1].objective");
    assert_eq!(v["errors"][0]["message"], "must be in (0, 100), got 100");

    // An AlertWindows file passed as a spec gets pointed at --windows.
    let out = burnwatch(&["slo", "validate", "--spec", &example("windows-7d.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is an AlertWindows file"),
        "{}",
        stderr(&out)
    );
}

/// Every example SLO's error-ratio query returns a number between 0 and 1 over the demo metrics.
#[test]
fn example_queries_return_data_for_the_demo_metrics() {
    let v = json(&[
        "slo",
        "validate",
        "--spec",
        &example("checkout-sloth.yaml"),
        &example("checkout-openslo.yaml"),
        "--json",
    ]);
    let metrics = repo_root().join("examples/metrics/checkout.om");
    for slo in v["slos"].as_array().unwrap() {
        for window in ["5m", "1h"] {
            let query = slo["error_ratio_query"]
                .as_str()
                .unwrap()
                .replace("{{.window}}", window);
            let out = ok(&[
                "promql",
                "query",
                &query,
                "--load",
                metrics.to_str().unwrap(),
                "--json",
            ]);
            let resp: serde_json::Value = serde_json::from_str(&out).unwrap();
            let result = resp["data"]["result"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: {out}", slo["id"]));
            assert_eq!(result.len(), 1, "{} over {window}: {out}", slo["id"]);
            let value: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
            assert!(
                (0.0..=1.0).contains(&value),
                "{} over {window}: {value}",
                slo["id"]
            );
        }
    }
}

/// The rule file shipped in dashboards/rules/ is exactly what `slo generate` writes for the
/// example specs today, and Prometheus's promtool accepts it.
#[test]
fn shipped_rule_file_is_current_and_passes_promtool() {
    let generated = ok(&[
        "slo",
        "generate",
        "--spec",
        &example("checkout-sloth.yaml"),
        &example("checkout-openslo.yaml"),
    ]);
    let path = repo_root().join("dashboards/rules/checkout-slos.yml");
    let shipped = std::fs::read_to_string(&path).unwrap();
    assert!(
        generated == shipped,
        "{} is stale; regenerate it with `burnwatch slo generate --spec \
         examples/slos/checkout-sloth.yaml examples/slos/checkout-openslo.yaml -o {}`",
        path.display(),
        path.display()
    );
    let Some(promtool) = require_tool("promtool", "apt-get install prometheus") else {
        return;
    };
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules {}:\n{}{}",
        path.display(),
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("SUCCESS: 119 rules found"),
        "{}",
        stdout(&out)
    );
}

/// Issue #14 §3 "the dashboard renders, slo computes": `slo status --json --prometheus-url`
/// carries each SLO's burndown, and it is the dashboard's (the tui's fetch over the same server):
/// the detail chart and the SLO list's sparkline, point for point; its last point is the budget
/// left both show.
#[test]
fn slo_status_json_burndown_is_the_dashboards() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = repo_root().join("examples/metrics/checkout.om");
    let listen = format!("127.0.0.1:{}", free_port());
    let serve = spawn(
        "burnwatch-serve",
        &burnwatch_bin(),
        &["serve", "--listen", &listen, "--load", metrics.to_str().unwrap()],
        dir.path(),
        &[],
    );
    let base = format!("http://{listen}");
    let ready = wait_for(std::time::Duration::from_secs(60), || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(
        ready.is_some(),
        "burnwatch serve did not start:\n{}",
        serve.output()
    );
    // The end of examples/metrics/checkout.om.
    let at = "2026-01-01T01:00:00Z";
    let spec = example("checkout-sloth.yaml");
    let v = json(&[
        "slo",
        "status",
        "--spec",
        &spec,
        "--prometheus-url",
        &base,
        "--at",
        at,
        "--json",
    ]);
    let statuses = v.as_array().unwrap();
    assert!(!statuses.is_empty());

    let specs = burnwatch_slo::slo::spec::load_file(std::path::Path::new(&spec)).unwrap();
    let at_ms = burnwatch_slo::api::params::parse_rfc3339(at).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let backend = burnwatch_tui::fetch::HttpBackend::new(
        base.as_str(),
        specs.clone(),
        std::time::Duration::from_secs(60),
        burnwatch_tui::fetch::DEFAULT_COLLECTOR_JOB,
    );
    for slo in &specs {
        let id = slo.id();
        let snap = rt.block_on(backend.fetch(Some(&id), at_ms));
        let status = statuses.iter().find(|s| s["id"] == id.as_str()).unwrap();
        let cli = &status["burndown"];
        assert_eq!(cli.as_array().map(Vec::len), Some(31), "{id}: {status:#}");
        // Through JSON text as the CLI's went (serde_json's float parsing is not correctly
        // rounded, so a value and its printed-and-parsed copy can differ in the last bit).
        let as_cli = |v: &Vec<burnwatch_tui::model::BurndownPoint>| -> serde_json::Value {
            serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()
        };
        let detail = as_cli(&snap.detail.as_ref().unwrap().burndown);
        assert_eq!(*cli, detail, "{id}: slo status and the detail chart differ");
        let list = as_cli(&snap.budget_trends[&id]);
        assert_eq!(*cli, list, "{id}: slo status and the list's sparkline differ");
        let last = cli[30]["remaining"].as_f64().unwrap();
        let left = status["budget_remaining"].as_f64().unwrap();
        assert!(
            (last - left).abs() < 1e-9,
            "{id}: burndown ends at {last}, budget left {left}"
        );
    }
}

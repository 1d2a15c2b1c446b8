//! The product's promise: the rules `burnwatch slo generate` writes record, in a real Prometheus
//! rule engine, exactly the values `burnwatch slo status` computes from the same samples, and the
//! same alerts fire.
//!
//! How: one data set (six SLOs on one service: healthy, fast burn, slow burn, zero traffic, a
//! latency SLI, no data) is written twice, as a Prometheus text file with timestamps for
//! `burnwatch slo status --load`, and as `input_series` of a `promtool test rules` file (explicit
//! values at a 1m interval from time 0, the same numbers). At several instants the test runs
//! `slo status --json --at T` and turns every number it reports into a `promql_expr_test` on the
//! recorded series, and every alert it says fires into an `alert_rule_test` with the full label
//! and annotation sets (an empty list where it says none fires). promtool passes only if
//! Prometheus agrees on all of them. NaN (no traffic) cannot be compared by value, so it is
//! checked as `count(x != x) == 1`; "no data" as `absent`.
//!
//! Float comparison: promtool 2.42 compares `exp_samples` exactly (`reflect.DeepEqual`), but its
//! `rate()` rounds differently from Prometheus 3.x, which burnwatch's engine follows (2.42
//! multiplies the increase by `extrapolated / sampled` and then divides by the range; 3.x folds
//! both into one factor first), so the two differ in the last bit or two. Each value is therefore
//! checked as `abs(recorded - reported) <= bool 1e-12 × |reported|` with the label set compared
//! exactly; the reported values are printed in the shortest form that parses back to the same
//! `f64`. Alert decisions are compared exactly.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use common::{burnwatch_bin, require_tool, write_file};
use serde_json::Value as J;

/// Minutes of data, one sample a minute from t = 0.
const MINUTES: usize = 300;

const SPEC: &str = r#"
version: "prometheus/v1"
service: "shop"
labels:
  owner: "shop-team"
slos:
  - name: "healthy"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="healthy",code="500"}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="healthy"}[{{.window}}]))
    alerting:
      name: ShopHealthyBurn
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: "fast"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="fast",code="500"}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="fast"}[{{.window}}]))
    alerting:
      name: ShopFastBurn
      labels: {category: availability}
      annotations: {runbook: "https://runbooks.example/{{$labels.sloth_slo}}"}
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: "slow"
    objective: 99.9
    sli:
      raw:
        error_ratio_query: sum(rate(http_requests_total{job="slow",code="500"}[{{.window}}])) / sum(rate(http_requests_total{job="slow"}[{{.window}}]))
    alerting:
      name: ShopSlowBurn
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: "idle"
    objective: 99.5
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="idle",code="500"}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="idle"}[{{.window}}]))
    alerting:
      name: ShopIdleBurn
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: "latency"
    objective: 99
    labels:
      kind: latency
    sli:
      latency:
        metric: rpc_duration_seconds
        matchers: job="rpc"
        threshold_seconds: 0.3
    alerting:
      name: ShopRpcSlow
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: "missing"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(nothing_total{code="500"}[{{.window}}]))
        total_query: sum(rate(nothing_total[{{.window}}]))
    alerting:
      name: ShopMissing
      page_alert: {disable: true}
      ticket_alert: {labels: {severity: warning}}
"#;

/// A series in PromQL notation and its value at each minute.
struct Series {
    name: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    values: Vec<f64>,
}

impl Series {
    fn selector(&self) -> String {
        let l: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{}{{{}}}", self.name, l.join(","))
    }
}

/// A counter growing by `per_min(minute)` each minute (the increase into minute m).
fn counter(
    name: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    per_min: impl Fn(usize) -> f64,
) -> Series {
    let mut v = 0.0;
    let values = (0..=MINUTES)
        .map(|m| {
            if m > 0 {
                v += per_min(m);
            }
            v
        })
        .collect();
    Series { name, labels, values }
}

fn data() -> Vec<Series> {
    let req = "http_requests_total";
    let mut s = vec![
        // The total queries match the error series too. 1 error in 2001: half the budget's
        // rate, nothing fires.
        counter(req, vec![("job", "healthy")], |_| 2000.0),
        counter(req, vec![("job", "healthy"), ("code", "500")], |_| 1.0),
        // Clean until minute 200, then 50 errors in 1050 (burn 47.6): the page fires ~18 minutes
        // later, when the 1h window passes 14.4x.
        counter(req, vec![("job", "fast")], |_| 1000.0),
        counter(req, vec![("job", "fast"), ("code", "500")], |m| {
            if m > 200 { 50.0 } else { 0.0 }
        }),
        // 4 errors in 1004 all along (burn 3.98): over the ticket's 3x and 1x, under the page's
        // 6x and 14.4x.
        counter(req, vec![("job", "slow")], |_| 1000.0),
        counter(req, vec![("job", "slow"), ("code", "500")], |_| 4.0),
        // Series that never move: zero traffic, 0/0.
        counter(req, vec![("job", "idle")], |_| 0.0),
        counter(req, vec![("job", "idle"), ("code", "500")], |_| 0.0),
    ];
    // A classic histogram: 100 requests a minute, 95 of them at or under 0.3s (5% slow, burn 5 of
    // a 1% budget: ticket only). The 0.1 bucket makes the boundary list realistic.
    let h = "rpc_duration_seconds_bucket";
    s.push(counter(h, vec![("job", "rpc"), ("le", "0.1")], |_| 60.0));
    s.push(counter(h, vec![("job", "rpc"), ("le", "0.3")], |_| 95.0));
    s.push(counter(h, vec![("job", "rpc"), ("le", "+Inf")], |_| 100.0));
    s.push(counter(
        "rpc_duration_seconds_count",
        vec![("job", "rpc")],
        |_| 100.0,
    ));
    s
}

/// The Prometheus text format with millisecond timestamps, for `--load`.
fn exposition(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        for (m, v) in s.values.iter().enumerate() {
            let _ = writeln!(out, "{} {v} {}", s.selector(), m * 60_000);
        }
    }
    out
}

/// A YAML double-quoted string (JSON's escaping is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// `name{a="1",b="2"}` from a JSON object of labels.
fn series_text(name: &str, labels: &serde_json::Map<String, J>) -> String {
    let l: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v.as_str().unwrap()).unwrap()))
        .collect();
    format!("{name}{{{}}}", l.join(","))
}

fn status_at(spec: &Path, data: &Path, minute: usize) -> Vec<J> {
    let out = Command::new(burnwatch_bin())
        .args([
            "slo",
            "status",
            "--json",
            "--at",
            &(minute * 60).to_string(),
            "--spec",
        ])
        .arg(spec)
        .arg("--load")
        .arg(data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "slo status failed at {minute}m:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: J = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
    v.as_array().unwrap().clone()
}

/// promql_expr_test entries for one reported value of the series `record` with `labels`.
/// `state` says why a number may be missing.
fn expect_value(
    out: &mut String,
    minute: usize,
    record: &str,
    id: &str,
    labels: &serde_json::Map<String, J>,
    value: &J,
    state: &str,
) {
    let sel = format!("{record}{{sloth_id=\"{id}\"}}");
    match state {
        "ok" => {
            let v = value
                .as_f64()
                .unwrap_or_else(|| panic!("{record} of {id} at {minute}m: {value}"));
            // Equal within a relative 1e-12 (see the module docs: Prometheus 2.42's rate() rounds
            // differently from 3.x, which burnwatch follows); the label set must match exactly.
            let tol = 1e-12 * v.abs();
            let _ = write!(
                out,
                "      - eval_time: {minute}m\n        expr: {}\n        exp_samples:\n          - labels: {}\n            value: 1\n",
                q(&format!("abs({sel} - ({v})) <= bool {tol}")),
                q(&series_text("", labels)),
            );
        }
        "no_traffic" => {
            assert!(
                value.is_null(),
                "{record} of {id}: no traffic must be null, got {value}"
            );
            // One series, and it is NaN (NaN != NaN keeps it).
            for expr in [format!("count({sel})"), format!("count({sel} != {sel})")] {
                let _ = write!(
                    out,
                    "      - eval_time: {minute}m\n        expr: {}\n        exp_samples:\n          - labels: '{{}}'\n            value: 1\n",
                    q(&expr)
                );
            }
        }
        "no_data" => {
            assert!(
                value.is_null(),
                "{record} of {id}: no data must be null, got {value}"
            );
            let _ = write!(
                out,
                "      - eval_time: {minute}m\n        expr: {}\n        exp_samples:\n          - labels: {}\n            value: 1\n",
                q(&format!("absent({sel})")),
                q(&format!("{{sloth_id=\"{id}\"}}"))
            );
        }
        other => panic!("unknown state {other}"),
    }
}

fn window<'a>(slo: &'a J, name: &str) -> &'a J {
    slo["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["window"] == name)
        .unwrap()
}

fn str_map(v: &J) -> serde_json::Map<String, J> {
    v.as_object().unwrap().clone()
}

#[test]
fn recording_rules_and_alerts_in_promtool_equal_slo_status() {
    let Some(promtool) = require_tool(
        "promtool",
        "apt-get install prometheus (Debian/Ubuntu), or the prometheus release tarball",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = write_file(dir.path(), "slos.yml", SPEC);
    let series = data();
    let data_file = write_file(dir.path(), "data.prom", &exposition(&series));

    // Generate the rules and have promtool check them.
    let rules = dir.path().join("rules.yml");
    let out = Command::new(burnwatch_bin())
        .args(["slo", "generate", "--spec"])
        .arg(&spec)
        .arg("-o")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check rules failed:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // The rule groups in dependency order: all SLI recordings, then meta, then alerts (promtool
    // evaluates groups in this order at each step; a real Prometheus runs them concurrently).
    let ids = ["healthy", "fast", "slow", "idle", "latency", "missing"].map(|n| format!("shop-{n}"));
    let mut order = Vec::new();
    for kind in ["sli-recordings", "meta-recordings", "alerts"] {
        for id in &ids {
            order.push(format!("sloth-slo-{kind}-{id}"));
        }
    }
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    order.retain(|g| rules_text.contains(&format!("name: {g}\n")));

    let mut exprs = String::new();
    let mut alerts = String::new();
    let mut fired: Vec<(usize, String, String)> = Vec::new();
    for minute in [60, 180, 225, 240, 300] {
        let statuses = status_at(&spec, &data_file, minute);
        assert_eq!(statuses.len(), ids.len());
        for slo in &statuses {
            let id = slo["id"].as_str().unwrap();
            assert!(slo["error"].is_null(), "{id} at {minute}m: {}", slo["error"]);
            for w in slo["windows"].as_array().unwrap() {
                expect_value(
                    &mut exprs,
                    minute,
                    w["record"].as_str().unwrap(),
                    id,
                    &str_map(&w["labels"]),
                    &w["error_ratio"],
                    w["state"].as_str().unwrap(),
                );
            }
            // Meta recordings carry the SLO labels and identity labels (the 5m window's labels
            // without sloth_window).
            let five = window(slo, "5m");
            let period = window(slo, slo["period"].as_str().unwrap());
            let mut meta = serde_json::Map::new();
            meta.insert("owner".into(), J::from("shop-team"));
            meta.insert("sloth_id".into(), J::from(id));
            meta.insert("sloth_service".into(), slo["service"].clone());
            meta.insert("sloth_slo".into(), slo["slo"].clone());
            if id == "shop-latency" {
                meta.insert("kind".into(), J::from("latency"));
            }
            // The burn rates divide the SLI recording `on(...) group_left`, so they keep its
            // sloth_window label (as Sloth's do).
            let with_window = |w: &J| {
                let mut m = meta.clone();
                m.insert("sloth_window".into(), w["window"].clone());
                m
            };
            for (record, value, state, labels) in [
                ("slo:objective:ratio", &slo["objective"], "ok", meta.clone()),
                ("slo:error_budget:ratio", &slo["error_budget"], "ok", meta.clone()),
                ("slo:time_period:days", &slo["period_days"], "ok", meta.clone()),
                (
                    "slo:current_burn_rate:ratio",
                    &slo["current_burn_rate"],
                    five["state"].as_str().unwrap(),
                    with_window(five),
                ),
                (
                    "slo:period_burn_rate:ratio",
                    &slo["period_burn_rate"],
                    period["state"].as_str().unwrap(),
                    with_window(period),
                ),
                (
                    "slo:period_error_budget_remaining:ratio",
                    &slo["budget_remaining"],
                    period["state"].as_str().unwrap(),
                    with_window(period),
                ),
            ] {
                expect_value(&mut exprs, minute, record, id, &labels, value, state);
            }
            // Alerts: page and ticket share the alert name, so one test per name lists both.
            let mut by_name: std::collections::BTreeMap<String, Vec<&J>> = Default::default();
            for a in slo["alerts"].as_array().unwrap() {
                if a["enabled"] == true {
                    by_name
                        .entry(a["name"].as_str().unwrap().to_string())
                        .or_default();
                }
                if a["firing"] == true {
                    fired.push((
                        minute,
                        id.to_string(),
                        a["severity"].as_str().unwrap().to_string(),
                    ));
                    by_name
                        .entry(a["name"].as_str().unwrap().to_string())
                        .or_default()
                        .push(a);
                }
            }
            for (name, firing) in by_name {
                let _ = write!(
                    alerts,
                    "      - eval_time: {minute}m\n        alertname: {}\n",
                    q(&name)
                );
                if firing.is_empty() {
                    alerts.push_str("        exp_alerts: []\n");
                    continue;
                }
                alerts.push_str("        exp_alerts:\n");
                for a in firing {
                    alerts.push_str("          - exp_labels:\n");
                    for (k, v) in a["labels"].as_object().unwrap() {
                        let _ = writeln!(alerts, "              {k}: {}", q(v.as_str().unwrap()));
                    }
                    alerts.push_str("            exp_annotations:\n");
                    for (k, v) in a["annotations"].as_object().unwrap() {
                        let _ = writeln!(alerts, "              {k}: {}", q(v.as_str().unwrap()));
                    }
                }
            }
        }
        if minute == 240 {
            let by_id = |id: &str| statuses.iter().find(|s| s["id"] == id).unwrap();
            // The zero-traffic SLO has no numbers at all, and says why.
            let idle = by_id("shop-idle");
            assert!(
                idle["windows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|w| w["state"] == "no_traffic")
            );
            assert!(idle["budget_remaining"].is_null() && idle["policy"].is_null());
            assert!(
                by_id("shop-missing")["windows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|w| w["state"] == "no_data")
            );
            // The latency SLI reads 5% slow requests.
            let lat = window(by_id("shop-latency"), "1h")["error_ratio"]
                .as_f64()
                .unwrap();
            assert!((lat - 0.05).abs() < 1e-9, "{lat}");
        }
    }
    // The scenarios do what their names say, so agreement is not agreement on nothing.
    let fires = |m: usize, id: &str, sev: &str| fired.iter().any(|f| f.0 == m && f.1 == id && f.2 == sev);
    for m in [60, 180, 240, 300] {
        assert!(
            !fires(m, "shop-healthy", "page") && !fires(m, "shop-healthy", "ticket"),
            "healthy fired at {m}m"
        );
        assert!(
            fires(m, "shop-slow", "ticket") && !fires(m, "shop-slow", "page"),
            "slow burn at {m}m: {fired:?}"
        );
        assert!(!fires(m, "shop-idle", "page") && !fires(m, "shop-idle", "ticket"));
    }
    assert!(!fires(180, "shop-fast", "page"), "{fired:?}");
    assert!(
        fires(225, "shop-fast", "page") && fires(240, "shop-fast", "page"),
        "{fired:?}"
    );
    assert!(
        fires(240, "shop-latency", "ticket") && !fires(240, "shop-latency", "page"),
        "{fired:?}"
    );

    // The same samples for promtool.
    let mut input = String::new();
    for s in &series {
        let values: Vec<String> = s.values.iter().map(|v| format!("{v}")).collect();
        let _ = write!(
            input,
            "      - series: {}\n        values: {}\n",
            q(&s.selector()),
            q(&values.join(" "))
        );
    }
    let mut test = String::from("rule_files:\n  - rules.yml\nevaluation_interval: 1m\ngroup_eval_order:\n");
    for g in &order {
        let _ = writeln!(test, "  - {g}");
    }
    let _ = write!(
        test,
        "tests:\n  - interval: 1m\n    input_series:\n{input}    promql_expr_test:\n{exprs}    alert_rule_test:\n{alerts}"
    );
    let test_file = write_file(dir.path(), "test.yml", &test);
    let run = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg(&test_file)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    if !run.status.success() {
        let keep = std::env::temp_dir().join("burnwatch-slo-prometheus-failure");
        let _ = std::fs::create_dir_all(&keep);
        for f in ["rules.yml", "test.yml", "slos.yml", "data.prom"] {
            let _ = std::fs::copy(dir.path().join(f), keep.join(f));
        }
        panic!(
            "promtool disagrees with `slo status` (files kept in {}):\n{}",
            keep.display(),
            report.chars().take(20_000).collect::<String>()
        );
    }
    assert!(report.contains("SUCCESS"), "{report}");
}

#[test]
fn status_reads_as_a_table_and_names_missing_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_file(
        dir.path(),
        "slos.yml",
        &SPEC.replace("threshold_seconds: 0.3", "threshold_seconds: 0.25"),
    );
    let data_file = write_file(dir.path(), "data.prom", &exposition(&data()));
    let out = Command::new(burnwatch_bin())
        .args(["slo", "status", "--at", "14400", "--spec"])
        .arg(&spec)
        .arg("--load")
        .arg(&data_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One SLO cannot be evaluated: the exit code says so, the others are still shown.
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains(
            "latency threshold 0.25s is not a bucket boundary of rpc_duration_seconds_bucket{job=\"rpc\"}"
        ) && stderr.contains("le = 0.1, 0.3, +Inf"),
        "{stderr}"
    );
    assert!(
        stdout.contains("shop-fast  objective 99.90%  period 30d  at 1970-01-01T04:00:00Z"),
        "{stdout}"
    );
    assert!(
        stdout.contains("firing: ShopFastBurn (page), ShopFastBurn (ticket)"),
        "{stdout}"
    );
    // Zero traffic reads N/A, never 0% or 100%.
    let idle = stdout.split("shop-idle").nth(1).unwrap();
    assert!(idle.contains("budget remaining    N/A"), "{idle}");
    assert!(
        idle.contains("5m      N/A          N/A        no traffic"),
        "{idle}"
    );
}

/// Issue #12: a latency SLO with a whole-number threshold generated `le="1"`, which matches
/// Prometheus 2.x's copy of a client_golang target (`le="1"`) but not Prometheus 3's or
/// burnwatch's (`le="1.0"`, normalised on scrape). The generated rules, run by promtool (the
/// Prometheus 2.42 rule engine), and `slo status` must both read 10% slow requests from either.
#[test]
fn whole_number_latency_thresholds_match_le_1_and_1_0_in_promtool() {
    let Some(promtool) = require_tool(
        "promtool",
        "apt-get install prometheus (Debian/Ubuntu), or the prometheus release tarball",
    ) else {
        return;
    };
    let spec_text = r#"
version: "prometheus/v1"
service: "shop"
slos:
  - name: "v2"
    objective: 99
    sli:
      latency: {metric: rpc_duration_seconds, matchers: job="v2", threshold_seconds: 1}
    alerting: {name: V2Slow, page_alert: {disable: true}, ticket_alert: {disable: true}}
  - name: "v3"
    objective: 99
    sli:
      latency: {metric: rpc_duration_seconds, matchers: job="v3", threshold_seconds: 1}
    alerting: {name: V3Slow, page_alert: {disable: true}, ticket_alert: {disable: true}}
"#;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_file(dir.path(), "slos.yml", spec_text);
    let h = "rpc_duration_seconds_bucket";
    let mut series = Vec::new();
    for (job, one) in [("v2", "1"), ("v3", "1.0")] {
        // 100 requests a minute, 90 of them within a second.
        series.push(counter(h, vec![("job", job), ("le", "0.5")], |_| 50.0));
        series.push(counter(h, vec![("job", job), ("le", one)], |_| 90.0));
        series.push(counter(h, vec![("job", job), ("le", "+Inf")], |_| 100.0));
        series.push(counter("rpc_duration_seconds_count", vec![("job", job)], |_| {
            100.0
        }));
    }
    let data_file = write_file(dir.path(), "data.prom", &exposition(&series));

    // burnwatch reads 10% slow for both.
    for slo in status_at(&spec, &data_file, 120) {
        assert!(slo["error"].is_null(), "{}: {}", slo["id"], slo["error"]);
        let ratio = window(&slo, "1h")["error_ratio"].as_f64().unwrap();
        assert!((ratio - 0.1).abs() < 1e-9, "{}: {ratio}", slo["id"]);
    }

    let rules = dir.path().join("rules.yml");
    let out = Command::new(burnwatch_bin())
        .args(["slo", "generate", "--spec"])
        .arg(&spec)
        .arg("-o")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    assert!(rules_text.contains(r#"le=~"1|1\\.0""#), "{rules_text}");
    let check = Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let mut input = String::new();
    for s in &series {
        let values: Vec<String> = s.values.iter().map(|v| format!("{v}")).collect();
        let _ = write!(
            input,
            "      - series: {}\n        values: {}\n",
            q(&s.selector()),
            q(&values.join(" "))
        );
    }
    let mut exprs = String::new();
    for id in ["shop-v2", "shop-v3"] {
        for record in ["slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate1h"] {
            let _ = write!(
                exprs,
                "      - expr: {}\n        eval_time: 120m\n        exp_samples:\n          - labels: '{{}}'\n            value: 1\n",
                q(&format!(
                    "count(abs({record}{{sloth_id=\"{id}\"}} - 0.1) <= 1e-9)"
                ))
            );
        }
    }
    let test = format!(
        "rule_files:\n  - rules.yml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    promql_expr_test:\n{exprs}"
    );
    let test_file = write_file(dir.path(), "test.yml", &test);
    let run = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg(&test_file)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success() && report.contains("SUCCESS"),
        "{report}\n{rules_text}"
    );
}

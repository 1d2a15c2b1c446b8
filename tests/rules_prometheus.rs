//! The rule manager against Prometheus 2.42.
//!
//! - `promtool test rules` is the deterministic peer: the same rule files (the rules `slo
//!   generate` writes for examples/slos/checkout-sloth.yaml, and rules of our own with `for`,
//!   `keep_firing_for` and templates) are evaluated by burnwatch's `RuleManager` over input
//!   series, every minute as promtool evaluates them; a promtool unit-test file is written whose
//!   expectations are burnwatch's own results (firing alerts with their labels and annotations at
//!   many evaluation times, recorded values at many times), and promtool must pass it. Any
//!   difference in a recorded value, an alert transition or an expanded template fails it.
//! - A live test: a real Prometheus and burnwatch's manager + API evaluate the same rule file
//!   over the same live data (both scrape the same test-served page); their `/api/v1/alerts`
//!   agree on every alert's state once both have evaluated.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use burnwatch_slo::promql::{Engine, Value};
use burnwatch_slo::rules::{AlertState, ManagerOptions, RuleManager, load_rule_files};
use burnwatch_slo::shared::{SharedStorage, new_shared};
use burnwatch_slo::tsdb::{Labels, Queryable};
use common::{require_tool, write_file};
use serde_json::{Value as Json, json};

const MIN: i64 = 60_000;
/// Minutes of input data and evaluation.
const MINUTES: i64 = 180;
/// The input series' sample interval: just under a minute, with no sample at 0, so no sample
/// ever sits exactly on the start of a range window or of the lookback (every window in these
/// rules is whole minutes and evaluations are on whole minutes). Prometheus 2.42 takes a sample
/// there into the window (left-closed), 3.x and burnwatch do not (left-open); this comparison
/// is about the rule manager, not that 2.x/3.x difference.
const STEP_MS: i64 = 59_999;

/// Our own rules: `for`, `keep_firing_for`, a group `limit`, label and annotation templates with
/// Prometheus's functions.
const OWN_RULES: &str = r#"
groups:
- name: own-recordings
  rules:
  - record: job_code:http_requests:rate5m
    expr: sum by (job, code) (rate(http_requests_total[5m]))
  - record: job:http_requests_errors:ratio_rate5m
    expr: |
      sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))
      / sum by (job) (rate(http_requests_total[5m]))
    labels:
      kind: ratio
- name: own-alerts
  limit: 10
  rules:
  - alert: HighErrorRatio
    expr: job:http_requests_errors:ratio_rate5m > 0.02
    for: 5m
    keep_firing_for: 10m
    labels:
      severity: '{{ if gt $value 0.05 }}page{{ else }}ticket{{ end }}'
      job_copy: '{{ $labels.job }}'
    annotations:
      summary: '{{ $labels.job }} errors at {{ $value | humanizePercentage }}'
      detail: 'value={{ $value }} printf={{ printf "%.4f" $value }} h={{ humanize $value }} d={{ humanizeDuration 3725 }} b={{ humanize1024 1048576 }} cluster={{ $externalLabels.cluster }}'
      ranged: '{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}'
      with: '{{ with $labels.kind }}kind {{ . | toUpper }}{{ end }}'
  - alert: ErrorsPresent
    expr: sum by (job, code) (rate(http_requests_total{code=~"5.."}[5m])) > 0.5
    for: 2m
    annotations:
      summary: '{{ $labels.code }} at {{ printf "%.2f" $value }}/s ({{ $value | humanize }})'
  - alert: SlowRequests
    expr: job:http_requests_errors:ratio_rate5m * 0 + on (job) group_left () (1 - sum by (job) (rate(http_request_duration_seconds_bucket{le="0.5"}[5m])) / sum by (job) (rate(http_request_duration_seconds_count[5m]))) > 0.05
    for: 3m
    labels:
      severity: ticket
    annotations:
      summary: '{{ $value | humanizePercentage }} slower than 500ms'
"#;

/// Counter increments per minute: requests, 5xx responses, requests under 500ms.
fn traffic(minute: i64) -> (i64, i64, i64) {
    let total = 600;
    let errors = match minute {
        60..=99 => 60,   // a 10% outage: both alerts of the availability SLO and ours fire
        130..=134 => 15, // a short 2.5% blip: pending only, or kept firing
        _ => 1,
    };
    let fast = match minute {
        110..=150 => 540, // 10% slow
        _ => 597,
    };
    (total, errors, fast)
}

struct Series {
    labels: Vec<(&'static str, &'static str)>,
    values: Vec<i64>,
}

fn input_series() -> Vec<Series> {
    let mut ok = Vec::new();
    let mut err = Vec::new();
    let mut fast = Vec::new();
    let mut count = Vec::new();
    // Counters start high, so `rate` never extrapolates a window's start down to a zero
    // crossing: Prometheus 2.42 clamps to the zero point before its extrapolation threshold
    // check and 3.x (and burnwatch) after it, which gives different rates over windows
    // reaching before the first sample; that 2.x/3.x difference is not the rule manager's.
    let (mut a, mut b, mut c) = (1_000_000, 1_000_000, 1_000_000);
    for m in 0..=MINUTES {
        let (t, e, f) = traffic(m);
        a += t - e;
        b += e;
        c += f;
        ok.push(a);
        err.push(b);
        fast.push(c);
        count.push(a + b - 1_000_000);
    }
    let base = |name, extra: Vec<(&'static str, &'static str)>, values| {
        let mut labels = vec![("__name__", name), ("job", "checkout"), ("instance", "a:80")];
        labels.extend(extra);
        Series { labels, values }
    };
    vec![
        base("http_requests_total", vec![("code", "200")], ok),
        base("http_requests_total", vec![("code", "500")], err),
        base("http_request_duration_seconds_bucket", vec![("le", "0.5")], fast),
        base(
            "http_request_duration_seconds_bucket",
            vec![("le", "+Inf")],
            count.clone(),
        ),
        base("http_request_duration_seconds_count", vec![], count),
    ]
}

fn series_text(labels: &[(&str, &str)]) -> String {
    let name = labels.iter().find(|l| l.0 == "__name__").map_or("", |l| l.1);
    let rest: Vec<String> = labels
        .iter()
        .filter(|l| l.0 != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

fn load(store: &SharedStorage, series: &[Series]) {
    let mut s = store.write().unwrap();
    for ser in series {
        let l = Labels::from_pairs(ser.labels.iter().copied());
        for (i, v) in ser.values.iter().enumerate().skip(1) {
            s.append(&l, i as i64 * STEP_MS, *v as f64).unwrap();
        }
    }
}

fn instant(store: &SharedStorage, q: &str, t: i64) -> Vec<(Labels, f64)> {
    let guard = store.read().unwrap();
    match Engine::default()
        .instant_query(&*guard as &(dyn Queryable + Sync), q, t)
        .unwrap()
        .value
    {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
        other => panic!("{q}: not a vector: {other:?}"),
    }
}

fn minutes(t: i64) -> String {
    format!("{}m", t / MIN)
}

/// Writes the rule files, runs burnwatch over them and writes a promtool test file holding
/// burnwatch's results; returns its path and how many expectations it holds.
fn build_promtool_test(dir: &Path) -> (std::path::PathBuf, usize, usize) {
    let slos =
        burnwatch_slo::slo::spec::load_file(&common::repo_root().join("examples/slos/checkout-sloth.yaml"))
            .expect("the example spec loads");
    let generated = burnwatch_slo::slo::rules::to_yaml(&slos, &Default::default()).unwrap();
    let gen_path = write_file(dir, "slo-rules.yml", &generated);
    let own_path = write_file(dir, "own-rules.yml", OWN_RULES);
    let files = load_rule_files(&[&gen_path, &own_path]).expect("both rule files load");
    let group_order: Vec<String> = files
        .iter()
        .flat_map(|f| f.groups.iter().map(|g| g.name.clone()))
        .collect();
    let alert_names: Vec<String> = {
        let mut v: Vec<String> = files
            .iter()
            .flat_map(|f| f.groups.iter().flat_map(|g| g.rules.iter()))
            .filter(|r| r.is_alerting())
            .map(|r| r.name.clone())
            .collect();
        v.dedup();
        v.sort();
        v.dedup();
        v
    };
    let record_names: Vec<String> = {
        let mut v: Vec<String> = files
            .iter()
            .flat_map(|f| f.groups.iter().flat_map(|g| g.rules.iter()))
            .filter(|r| !r.is_alerting())
            .map(|r| r.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };

    let store = new_shared();
    let series = input_series();
    load(&store, &series);
    let opts = ManagerOptions {
        external_labels: BTreeMap::from([("cluster".to_string(), "eu-1".to_string())]),
        ..ManagerOptions::default()
    };
    let manager = RuleManager::new(files, store.clone(), opts, None);
    manager.set_restored();

    // Every minute, as promtool evaluates (its evaluation_interval), all groups in file order
    // (group_eval_order below makes promtool use the same order).
    let check_every = 5;
    let mut alert_tests = Vec::new();
    let mut firing_seen = 0;
    for m in 0..=MINUTES {
        let ts = m * MIN;
        manager.evaluate_at(ts);
        if m % check_every != 0 && !(128..=150).contains(&m) {
            continue;
        }
        let alerts = manager.alerts();
        for name in &alert_names {
            let mut exp: Vec<Json> = alerts
                .iter()
                .filter(|a| a.state == AlertState::Firing && a.labels.get("alertname") == Some(name))
                .map(|a| {
                    let mut labels = a.labels.clone();
                    labels.remove("alertname");
                    json!({ "exp_labels": labels, "exp_annotations": a.annotations })
                })
                .collect();
            firing_seen += exp.len();
            exp.sort_by_key(|v| v.to_string());
            alert_tests.push(json!({ "eval_time": minutes(ts), "alertname": name, "exp_alerts": exp }));
        }
    }
    let mut expr_tests = Vec::new();
    for m in (0..=MINUTES).step_by(15) {
        let ts = m * MIN;
        for name in &record_names {
            let samples: Vec<Json> = instant(&store, name, ts)
                .into_iter()
                .map(|(l, v)| {
                    assert!(
                        v.is_finite(),
                        "{name} at {m}m is {v}: the data should keep every ratio finite"
                    );
                    json!({ "labels": l.to_string(), "value": v })
                })
                .collect();
            expr_tests.push(json!({ "expr": name, "eval_time": minutes(ts), "exp_samples": samples }));
        }
    }
    let input: Vec<Json> = series
        .iter()
        .map(|s| {
            // `_`: no sample at 0 (see STEP_MS).
            let values: Vec<String> = std::iter::once("_".to_string())
                .chain(s.values.iter().skip(1).map(i64::to_string))
                .collect();
            json!({ "series": series_text(&s.labels), "values": values.join(" ") })
        })
        .collect();
    let n_alert = alert_tests.len();
    let n_expr = expr_tests.len();
    let doc = json!({
        "rule_files": ["slo-rules.yml", "own-rules.yml"],
        "evaluation_interval": "1m",
        "group_eval_order": group_order,
        "tests": [{
            "interval": format!("{STEP_MS}ms"),
            "external_labels": { "cluster": "eu-1" },
            "input_series": input,
            "alert_rule_test": alert_tests,
            "promql_expr_test": expr_tests,
        }],
    });
    assert!(
        firing_seen > 20,
        "the data makes alerts fire ({firing_seen} firing alert expectations)"
    );
    // JSON is YAML: promtool reads it as it is.
    let path = write_file(dir, "tests.yml", &serde_json::to_string_pretty(&doc).unwrap());
    (path, n_alert, n_expr)
}

#[test]
fn promtool_test_rules_accepts_burnwatchs_alerts_and_recordings() {
    let Some(promtool) = require_tool("promtool", "apt-get install -y prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, n_alert, n_expr) = build_promtool_test(dir.path());
    assert!(
        n_alert > 100 && n_expr > 100,
        "{n_alert} alert tests, {n_expr} expression tests"
    );
    let out = std::process::Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        // Keep the files for a look when it fails.
        let kept = dir.keep();
        panic!(
            "promtool disagrees with burnwatch (files in {}):\n{}",
            kept.display(),
            text.chars().take(20_000).collect::<String>()
        );
    }
    assert!(text.contains("SUCCESS"), "{text}");
}

/// The promtool check above proves something only if promtool would notice a difference: the
/// same file with one firing alert's annotation changed must fail.
#[test]
fn promtool_test_rules_notices_a_wrong_expectation() {
    let Some(promtool) = require_tool("promtool", "apt-get install -y prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = build_promtool_test(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replacen("errors at ", "errors AT ", 1);
    assert_ne!(changed, text, "the test file holds a firing HighErrorRatio alert");
    std::fs::write(&path, changed).unwrap();
    let out = std::process::Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "promtool accepted a wrong annotation");
}

// ---- live: Prometheus and burnwatch evaluating the same rules over the same scraped data

/// A tiny exposition endpoint whose value the test sets.
struct Target {
    value: Arc<Mutex<f64>>,
    addr: String,
    _thread: std::thread::JoinHandle<()>,
}

impl Target {
    fn start() -> Target {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let value = Arc::new(Mutex::new(0.0));
        let v = value.clone();
        let thread = std::thread::spawn(move || {
            use std::io::{Read, Write};
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let body = format!(
                    "# TYPE queue_depth gauge\nqueue_depth{{queue=\"q1\"}} {}\n",
                    *v.lock().unwrap()
                );
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Target {
            value,
            addr,
            _thread: thread,
        }
    }
}

const LIVE_RULES: &str = r#"
groups:
- name: live
  interval: 1s
  rules:
  - alert: QueueBacklog
    expr: max by (queue) (queue_depth) > 10
    for: 4s
    labels:
      severity: page
    annotations:
      summary: '{{ $labels.queue }} holds {{ $value }} items'
"#;

/// The `(alertname, state)` pairs of an `/api/v1/alerts` answer.
fn alert_states(base: &str) -> Option<Vec<(String, String, String)>> {
    let (status, body) = common::http_get(&format!("{base}/api/v1/alerts"))?;
    if status != 200 {
        return None;
    }
    let v: Json = serde_json::from_str(&body).ok()?;
    let mut out: Vec<(String, String, String)> = v["data"]["alerts"]
        .as_array()?
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["state"].as_str().unwrap_or("").to_string(),
                a["annotations"]["summary"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    Some(out)
}

#[test]
fn live_prometheus_and_burnwatch_agree_on_alert_states() {
    let Some(prometheus) = require_tool("prometheus", "apt-get install -y prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = Target::start();
    let rules = write_file(dir.path(), "live.yml", LIVE_RULES);
    let config = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nscrape_configs:\n- job_name: t\n  static_configs:\n  - targets: ['{}']\n",
            rules.display(),
            target.addr
        ),
    );
    let pport = common::free_port();
    let _prom = common::spawn(
        "prometheus",
        &prometheus,
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            &format!("--web.listen-address=127.0.0.1:{pport}"),
        ],
        dir.path(),
        &[],
    );
    let prom_url = format!("http://127.0.0.1:{pport}");

    // burnwatch: its store (fed by this test with the value the target serves, every 500 ms, as
    // a scrape would), the rule manager and the API, in process.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = new_shared();
    let cancel = tokio_util::sync::CancellationToken::new();
    let files = load_rule_files(&[&rules]).unwrap();
    let manager = RuleManager::new(files, store.clone(), ManagerOptions::default(), None);
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let bw_url = format!("http://{}", listener.local_addr().unwrap());
    let mut state = burnwatch_slo::api::ApiState::new(store.clone(), Default::default());
    state.rules = Some(manager.clone());
    let feed = {
        let (store, value, cancel, instance) = (
            store.clone(),
            target.value.clone(),
            cancel.clone(),
            target.addr.clone(),
        );
        rt.spawn(async move {
            let labels = Labels::from_pairs([
                ("__name__", "queue_depth"),
                ("instance", instance.as_str()),
                ("job", "t"),
                ("queue", "q1"),
            ]);
            while !cancel.is_cancelled() {
                let v = *value.lock().unwrap();
                let t = burnwatch_slo::tsdb::wall_clock_ms();
                let _ = store.write().unwrap().append(&labels, t, v);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    rt.spawn(manager.clone().run(cancel.clone()));
    let c = cancel.clone();
    rt.spawn(burnwatch_slo::api::serve(listener, state, async move {
        c.cancelled().await
    }));

    let deadline = Duration::from_secs(90);
    // Both have evaluated the group (no alerts yet).
    common::wait_for(deadline, || {
        let (s, b) = common::http_get(&format!("{prom_url}/api/v1/rules"))?;
        (s == 200 && b.contains("\"health\":\"ok\"")).then_some(())
    })
    .expect("Prometheus evaluates the rules");
    common::wait_for(deadline, || {
        let (_, b) = common::http_get(&format!("{bw_url}/api/v1/rules"))?;
        b.contains("\"health\":\"ok\"").then_some(())
    })
    .expect("burnwatch evaluates the rules");
    assert_eq!(alert_states(&prom_url), Some(vec![]));
    assert_eq!(alert_states(&bw_url), Some(vec![]));

    // A backlog: both see it pending first, then firing.
    *target.value.lock().unwrap() = 25.0;
    let want_pending = vec![(
        "QueueBacklog".to_string(),
        "pending".to_string(),
        "q1 holds 25 items".to_string(),
    )];
    let want_firing = vec![(
        "QueueBacklog".to_string(),
        "firing".to_string(),
        "q1 holds 25 items".to_string(),
    )];
    for (who, url) in [("Prometheus", &prom_url), ("burnwatch", &bw_url)] {
        common::wait_for(deadline, || {
            let s = alert_states(url)?;
            (s == want_pending || s == want_firing).then_some(())
        })
        .unwrap_or_else(|| panic!("{who} has the alert active: {:?}", alert_states(url)));
    }
    for (who, url) in [("Prometheus", &prom_url), ("burnwatch", &bw_url)] {
        common::wait_for(deadline, || (alert_states(url)? == want_firing).then_some(()))
            .unwrap_or_else(|| panic!("{who} fires: {:?}", alert_states(url)));
    }
    // Resolved: gone from both.
    *target.value.lock().unwrap() = 0.0;
    for (who, url) in [("Prometheus", &prom_url), ("burnwatch", &bw_url)] {
        common::wait_for(deadline, || alert_states(url)?.is_empty().then_some(()))
            .unwrap_or_else(|| panic!("{who} resolves: {:?}", alert_states(url)));
    }
    // ALERTS was written by both while it fired.
    let q = "count_over_time(ALERTS{alertname=\"QueueBacklog\",alertstate=\"firing\"}[5m])";
    for url in [&prom_url, &bw_url] {
        let (_, body) = common::http_get(&format!("{url}/api/v1/query?query={}", url_escape(q))).unwrap();
        assert!(body.contains("QueueBacklog"), "{url}: {body}");
    }
    cancel.cancel();
    let _ = rt.block_on(feed);
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

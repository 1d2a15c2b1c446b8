//! Rule evaluation cost: every group of `dashboards/rules/checkout-slos.yml` evaluated by
//! burnwatch's `RuleManager` over a demo-sized store, in milliseconds per group evaluation.
//!
//! The store holds what `burnwatch up --demo` holds after its month of history: the checkout
//! service's `http_requests_total` (4 routes × 3 status codes) and
//! `http_request_duration_seconds` histogram (13 buckets) as 30 days at a 5-minute step plus the
//! last hour at the 15 s scrape interval: 180 series, 1.6M samples.
//!
//! With `prometheus` and `promtool` installed, the same data (as TSDB blocks) and the same rule
//! file go to a real Prometheus with a 15 s evaluation interval, and its
//! `prometheus_rule_group_last_duration_seconds` is printed beside burnwatch's time with the
//! ratio (the issue's target is burnwatch / Prometheus ≤ 0.5).
//!
//! ```sh
//! cargo bench --bench rules
//! BURNWATCH_BENCH_NO_PROMETHEUS=1 cargo bench --bench rules   # burnwatch's column only
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use burnwatch_slo::rules::{ManagerOptions, RuleManager, load_rule_files};
use burnwatch_slo::shared::new_shared;
use burnwatch_slo::tsdb::Labels;

const ROUTES: [&str; 4] = ["/cart", "/checkout", "/payment", "/health"];
const CODES: [&str; 3] = ["200", "404", "500"];
const BOUNDS: [&str; 13] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "7.5", "10", "+Inf",
];
const HISTORY_STEP_MS: i64 = 300_000;
const LIVE_STEP_MS: i64 = 15_000;
const DAYS: i64 = 30;

/// The sample times: 30 days at 5 minutes, then the last hour at 15 s, ending at `end`.
fn times(end: i64) -> Vec<i64> {
    let live_start = end - 3_600_000;
    let mut t = end - DAYS * 86_400_000;
    let mut out = Vec::new();
    while t < live_start {
        out.push(t);
        t += HISTORY_STEP_MS;
    }
    let mut t = live_start;
    while t <= end {
        out.push(t);
        t += LIVE_STEP_MS;
    }
    out
}

/// One series: its labels and its values at the sample times.
type SeriesValues = (Vec<(String, String)>, Vec<f64>);

/// Every series with its cumulative values at `times` (deterministic: a fixed traffic shape).
fn series(times: &[i64]) -> Vec<SeriesValues> {
    let mut out = Vec::new();
    for (ri, route) in ROUTES.iter().enumerate() {
        for (ci, code) in CODES.iter().enumerate() {
            let base = vec![
                ("job".to_string(), "checkout".to_string()),
                ("instance".to_string(), "demo".to_string()),
                ("http_route".to_string(), route.to_string()),
                ("code".to_string(), code.to_string()),
            ];
            let share = [0.97, 0.02, 0.01][ci] * (ri + 1) as f64 / 10.0;
            let mut count = Vec::with_capacity(times.len());
            let mut buckets: Vec<Vec<f64>> = vec![Vec::with_capacity(times.len()); BOUNDS.len()];
            // Each bucket holds a fixed share of the requests (a latency shape that does not drift).
            let mut total = 0.0;
            let mut prev = times[0];
            for t in times {
                // Requests per second with a daily wave; an outage every fifth day.
                let day = ((t / 86_400_000) % 7) as f64;
                let outage = ((t / 3_600_000) % 120) == 7;
                let rate = 40.0 * (1.0 + 0.5 * (day / 7.0)) * if outage && ci == 2 { 30.0 } else { 1.0 };
                total += (rate * share * (t - prev) as f64 / 1000.0).round();
                prev = *t;
                count.push(total);
                for (b, list) in buckets.iter_mut().enumerate() {
                    let within = ((b + 1) as f64 / BOUNDS.len() as f64).powf(0.3);
                    list.push((total * within).round());
                }
            }
            let mut req = base.clone();
            req.push(("__name__".to_string(), "http_requests_total".to_string()));
            out.push((req, count.clone()));
            let mut cnt = base.clone();
            cnt.push((
                "__name__".to_string(),
                "http_request_duration_seconds_count".to_string(),
            ));
            out.push((cnt, count));
            for (b, le) in BOUNDS.iter().enumerate() {
                let mut l = base.clone();
                l.push((
                    "__name__".to_string(),
                    "http_request_duration_seconds_bucket".to_string(),
                ));
                l.push(("le".to_string(), le.to_string()));
                out.push((l, buckets[b].clone()));
            }
        }
    }
    out
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules_path = root.join("dashboards/rules/checkout-slos.yml");
    let now = burnwatch_slo::tsdb::wall_clock_ms();
    let end = now - now % LIVE_STEP_MS;
    let times = times(end);
    let data = series(&times);
    let store = new_shared();
    {
        let mut s = store.write().unwrap();
        for (labels, values) in &data {
            let l = Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            for (t, v) in times.iter().zip(values) {
                s.append(&l, *t, *v).unwrap();
            }
        }
    }
    let samples: usize = data.iter().map(|d| d.1.len()).sum();
    eprintln!("store: {} series, {samples} samples", data.len());

    let files = load_rule_files(&[&rules_path]).expect("the dashboard rules load");
    let groups: Vec<String> = RuleManager::new(files, store.clone(), ManagerOptions::default(), None)
        .groups()
        .into_iter()
        .map(|g| g.name)
        .collect();
    let runs = 7;
    let ours = measure(&rules_path, &store, end, runs, false);
    // The same rules with the engine evaluating every step on its own (no whole-range
    // evaluation of subqueries' inner expressions): what the rule manager cost before that,
    // measured in the same run. Later evaluation times, so both append in time order.
    let stepwise = measure(&rules_path, &store, end + (runs + 1) * LIVE_STEP_MS, runs, true);
    // burnwatch's numbers first: the Prometheus run below takes minutes.
    let total: f64 = ours.values().sum();
    let total_stepwise: f64 = stepwise.values().sum();
    println!("burnwatch {:<60} {:>10} {:>13}", "group", "ms", "step-by-step");
    for g in &groups {
        println!("burnwatch {g:<60} {:>10.3} {:>10.3} ms", ours[g], stepwise[g]);
    }
    println!(
        "burnwatch {:<60} {total:>10.3} {total_stepwise:>10.3} ms",
        "all groups"
    );
    let theirs = if std::env::var_os("BURNWATCH_BENCH_NO_PROMETHEUS").is_some() {
        None
    } else {
        prometheus_durations(&data, &times, &rules_path, &groups)
    };
    let Some(theirs) = theirs else { return };
    let theirs = Some(theirs);

    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<60} {:>14} {:>16} {:>8} {:>14}",
        "group", "burnwatch ms", "Prometheus ms", "ratio", "step-by-step"
    );
    let (mut sum_ours, mut sum_stepwise, mut sum_theirs) = (0.0, 0.0, 0.0);
    for g in &groups {
        let (o, w) = (ours[g], stepwise[g]);
        sum_ours += o;
        sum_stepwise += w;
        match theirs.as_ref().and_then(|t| t.get(g)) {
            Some(p) => {
                sum_theirs += p;
                let _ = writeln!(
                    table,
                    "{g:<60} {o:>14.3} {p:>16.3} {:>8.2} {:>14.2}",
                    o / p,
                    w / p
                );
            }
            None => {
                let _ = writeln!(table, "{g:<60} {o:>14.3} {:>16} {:>8} {:>14}", "-", "-", "-");
            }
        }
    }
    if theirs.is_some() {
        let _ = writeln!(
            table,
            "{:<60} {sum_ours:>14.3} {sum_theirs:>16.3} {:>8.2} {:>14.2}",
            "all groups",
            sum_ours / sum_theirs,
            sum_stepwise / sum_theirs
        );
    } else {
        let _ = writeln!(table, "{:<60} {sum_ours:>14.3}", "all groups");
    }
    println!("{table}");
}

/// Median milliseconds per group evaluation of the rule file over `store`: one warm-up
/// evaluation, then `runs` more, each at its own later time from `start` so every evaluation
/// appends new samples as a running manager does. `step_by_step` turns off the engine's
/// whole-range evaluation (`EngineOptions::step_by_step`).
fn measure(
    rules_path: &std::path::Path,
    store: &burnwatch_slo::shared::SharedStorage,
    start: i64,
    runs: i64,
    step_by_step: bool,
) -> BTreeMap<String, f64> {
    let files = load_rule_files(&[rules_path]).expect("the dashboard rules load");
    let mut opts = ManagerOptions::default();
    opts.engine.step_by_step = step_by_step;
    let manager = RuleManager::new(files, store.clone(), opts, None);
    manager.set_restored();
    let groups: Vec<String> = manager.groups().into_iter().map(|g| g.name).collect();
    let mut per_group: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for i in 0..=runs {
        let ts = start + i * LIVE_STEP_MS;
        for g in &groups {
            let started = Instant::now();
            manager.evaluate_group_at(g, ts);
            if i > 0 {
                per_group
                    .entry(g.clone())
                    .or_default()
                    .push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    let failed: Vec<String> = manager
        .groups()
        .into_iter()
        .flat_map(|g| g.rules)
        .filter_map(|r| r.last_error.map(|e| format!("{}: {e}", r.name)))
        .collect();
    assert!(failed.is_empty(), "rules failed: {failed:?}");
    per_group
        .into_iter()
        .map(|(g, mut v)| {
            v.sort_by(f64::total_cmp);
            (g, v[v.len() / 2])
        })
        .collect()
}

/// Prometheus's `prometheus_rule_group_last_duration_seconds` (ms) per group over the same data
/// and rules; `None` without prometheus/promtool or when it does not evaluate every group.
fn prometheus_durations(
    data: &[SeriesValues],
    times: &[i64],
    rules: &std::path::Path,
    groups: &[String],
) -> Option<BTreeMap<String, f64>> {
    let which = |tool: &str| {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
    };
    let (Some(promtool), Some(prometheus)) = (which("promtool"), which("prometheus")) else {
        eprintln!("prometheus/promtool not installed: burnwatch's column only");
        return None;
    };
    let dir = tempfile::tempdir().ok()?;
    let mut om = String::new();
    for (labels, values) in data {
        let name = &labels.iter().find(|l| l.0 == "__name__")?.1;
        let rest: Vec<String> = labels
            .iter()
            .filter(|l| l.0 != "__name__")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        for (t, v) in times.iter().zip(values) {
            let _ = writeln!(
                om,
                "{name}{{{}}} {v} {}.{:03}",
                rest.join(","),
                t / 1000,
                t % 1000
            );
        }
    }
    // OpenMetrics wants each series' samples together and families in one block: sort by name.
    let mut lines: Vec<&str> = om.lines().collect();
    lines.sort_by_key(|l| l.split('{').next().unwrap_or(""));
    let mut om = lines.join("\n");
    om.push_str("\n# EOF\n");
    let om_path = dir.path().join("data.om");
    std::fs::write(&om_path, om).ok()?;
    let tsdb = dir.path().join("tsdb");
    let ok = std::process::Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_path)
        .arg(&tsdb)
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?
        .success();
    if !ok {
        eprintln!("promtool create-blocks-from failed: burnwatch's column only");
        return None;
    }
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  evaluation_interval: 15s\nrule_files: ['{}']\n",
            rules.display()
        ),
    )
    .ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut child = std::process::Command::new(&prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let client = reqwest::blocking::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    // Every group evaluated at least twice (the first evaluation warms the caches).
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut result = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let Ok(text) = client.get(&url).send().and_then(|r| r.text()) else {
            continue;
        };
        let mut durations = BTreeMap::new();
        let mut done = 0;
        for line in text.lines() {
            let value = |l: &str| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
            let group = |l: &str| {
                l.split(';')
                    .nth(1)
                    .and_then(|g| g.split('"').next())
                    .map(str::to_string)
            };
            if line.starts_with("prometheus_rule_group_last_duration_seconds{") {
                if let (Some(g), Some(v)) = (group(line), value(line)) {
                    durations.insert(g, v * 1000.0);
                }
            } else if line.starts_with("prometheus_rule_group_iterations_total{")
                && value(line).is_some_and(|v| v >= 2.0)
            {
                done += 1;
            }
        }
        if done >= groups.len() && groups.iter().all(|g| durations.contains_key(g)) {
            result = Some(durations);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if result.is_none() {
        eprintln!("Prometheus did not evaluate every group within 180 s: burnwatch's column only");
    }
    result
}

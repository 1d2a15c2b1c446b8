//! PromQL latency against a real Prometheus and a real VictoriaMetrics holding the same data.
//!
//! `cargo bench --bench promql_compare` writes one OpenMetrics file, imports it into Debian's
//! Prometheus (`promtool tsdb create-blocks-from openmetrics`, then `prometheus` over the blocks),
//! into Debian's VictoriaMetrics (the same samples in Prometheus text format, millisecond
//! timestamps, posted to `/api/v1/import/prometheus`) and into `burnwatch serve --load` (the
//! release binary), then runs a query set modelled on Prometheus's own engine benchmarks
//! (`promql/bench_test.go`: plain selectors, rate over many series, aggregations,
//! histogram_quantile, topk, binary joins, subqueries) as range queries of 1, 100 and 1000 steps
//! against all three over HTTP. It prints each query's median latency on each, the ratios
//! burnwatch / Prometheus and burnwatch / VictoriaMetrics, and whether each answer equals
//! Prometheus's (same series, same timestamps, values within 1e-9 relative). MetricsQL is not
//! PromQL (`rate` and `increase` do not extrapolate, some functions keep the metric name): where
//! VictoriaMetrics answers differently the row says how, so its latency is not read as the same
//! work. Then the median and worst ratios.
//!
//! VictoriaMetrics runs with `-search.disableCache`: its rollup result cache would answer the
//! repeated timed runs of one query from memory, which neither Prometheus nor burnwatch do, so
//! the column would measure a cache rather than the engine. `PROMQL_BENCH_NO_VM=1` leaves it out
//! (then the machine needs only Prometheus).
//!
//! Goal from the issue: median ratio to Prometheus ≤ 0.5, no query above 2.
//!
//! The data follows the benchmark's shape: counters `a_<n>` and `b_<n>` with n ∈ {one, ten,
//! hundred, thousand} series (label `l`), and classic histograms `h_<n>` with 11 buckets, every
//! 10 s for 3 hours. Env: `PROMQL_BENCH_RUNS` (timed runs per query, default 7).
//! Both servers answer each query once before timing, so neither pays for a cold cache.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INTERVAL_S: i64 = 10;
const POINTS: i64 = 3 * 3600 / INTERVAL_S;
/// The data's first timestamp (2026-01-01T00:00:00Z): old enough that Prometheus keeps the
/// imported blocks as they are.
const START_S: i64 = 1_767_225_600;

const SIZES: [(&str, usize); 4] = [("one", 1), ("ten", 10), ("hundred", 100), ("thousand", 1000)];
const BUCKETS: [&str; 11] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
];

/// The queries, after bench_test.go's cases.
const QUERIES: &[&str] = &[
    "a_hundred",
    "a_thousand",
    "rate(a_thousand[1m])",
    "rate(a_hundred[1h])",
    "increase(a_thousand[5m])",
    "changes(a_hundred[1h])",
    "sum(rate(a_thousand[5m]))",
    "sum by (l) (rate(a_thousand[5m]))",
    "count_over_time(a_thousand[5m])",
    "sum by (le) (rate(h_hundred[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(h_hundred[5m])))",
    "histogram_quantile(0.99, rate(h_hundred[5m]))",
    "topk(5, a_thousand)",
    "a_thousand + b_thousand",
    "a_hundred / on(l) group_left b_hundred",
    "a_thousand > 5000",
    "-a_thousand",
    "max_over_time(rate(a_hundred[1m])[10m:1m])",
    "sum(rate(a_thousand[1m])) / sum(rate(b_thousand[1m]))",
    "abs(a_hundred - b_hundred)",
];

const STEPS: [usize; 3] = [1, 100, 1000];

struct Server {
    name: &'static str,
    base: String,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let runs: usize = std::env::var("PROMQL_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let (Some(promtool), Some(prometheus)) = (which("promtool"), which("prometheus")) else {
        eprintln!("promql_compare needs Prometheus and promtool: apt-get install prometheus");
        std::process::exit(2);
    };
    let with_vm = std::env::var_os("PROMQL_BENCH_NO_VM").is_none();
    let victoria = which("victoria-metrics");
    if with_vm && victoria.is_none() {
        eprintln!(
            "promql_compare needs VictoriaMetrics: apt-get install victoria-metrics \
             (or PROMQL_BENCH_NO_VM=1 to compare with Prometheus only)"
        );
        std::process::exit(2);
    }
    // `PROMQL_BENCH_WRITE=FILE` only writes the data set (for profiling `serve --load FILE`).
    if let Ok(path) = std::env::var("PROMQL_BENCH_WRITE") {
        let samples = write_data(Path::new(&path), Format::OpenMetrics);
        eprintln!("wrote {samples} samples to {path}");
        return;
    }
    // `PROMQL_BENCH_FILTER=text` runs only the queries containing `text`.
    let filter = std::env::var("PROMQL_BENCH_FILTER").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bench.om");
    let samples = write_data(&data, Format::OpenMetrics);
    eprintln!(
        "wrote {} samples ({} MiB) to {}",
        samples,
        std::fs::metadata(&data).unwrap().len() >> 20,
        data.display()
    );

    let blocks = dir.path().join("tsdb");
    let t = Instant::now();
    let status = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&data)
        .arg(&blocks)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "promtool create-blocks-from failed");
    eprintln!("promtool create-blocks-from: {:.1}s", t.elapsed().as_secs_f64());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let prom = Server {
        name: "prometheus",
        base: format!("http://127.0.0.1:{port}"),
        child: Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", blocks.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    let port = free_port();
    let t = Instant::now();
    let bw = Server {
        name: "burnwatch",
        base: format!("http://127.0.0.1:{port}"),
        child: Command::new(env!("CARGO_BIN_EXE_burnwatch"))
            .args([
                "serve",
                "--log-level",
                "warn",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--load",
            ])
            .arg(&data)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let vm = victoria
        .filter(|_| with_vm)
        .map(|bin| start_victoria_metrics(&bin, dir.path(), &client));
    for s in [&prom, &bw] {
        wait_ready(&client, s);
    }
    eprintln!(
        "burnwatch serve --load ready after {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let mut servers = vec![&prom, &bw];
    servers.extend(vm.as_ref());
    let end = START_S + (POINTS - 1) * INTERVAL_S;
    let mut rows = Vec::new();
    for query in QUERIES.iter().filter(|q| q.contains(filter.as_str())) {
        for steps in STEPS {
            // Steps of 10 s ending at the last sample: 1000 steps span 2.8 of the 3 hours.
            let start = end - (steps as i64 - 1) * INTERVAL_S;
            let params = [
                ("query", query.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", INTERVAL_S.to_string()),
            ];
            let mut medians = Vec::new();
            let mut answers = Vec::new();
            for server in &servers {
                let (answer, first) = query_once(&client, server, &params);
                let mut times = vec![first];
                for _ in 0..runs {
                    times.push(query_once(&client, server, &params).1);
                }
                times.remove(0);
                times.sort();
                medians.push(times[times.len() / 2]);
                answers.push(answer);
            }
            rows.push(Row {
                query: query.to_string(),
                steps,
                // Each answer against Prometheus's: `None` when they agree.
                differs: answers[1..].iter().map(|a| compare(&answers[0], a)).collect(),
                medians,
            });
        }
    }
    print!("{}", table(&rows, vm.is_some()));
}

/// One query at one step count: the median latency on each server (Prometheus, burnwatch,
/// then VictoriaMetrics when it runs) and how each answer after Prometheus's differs from it.
struct Row {
    query: String,
    steps: usize,
    medians: Vec<Duration>,
    differs: Vec<Option<String>>,
}

impl Row {
    /// burnwatch's latency over server `i`'s.
    fn ratio(&self, i: usize) -> f64 {
        self.medians[1].as_secs_f64() / self.medians[i].as_secs_f64()
    }
}

fn table(rows: &[Row], with_vm: bool) -> String {
    let mut out = String::new();
    let ms = |d: Duration| format!("{:.2}ms", d.as_secs_f64() * 1e3);
    let same = |d: &Option<String>| d.clone().unwrap_or_else(|| "same".to_string());
    write!(
        out,
        "{:<58} {:>5} {:>11} {:>11} {:>8}",
        "query", "steps", "prometheus", "burnwatch", "bw/prom"
    )
    .unwrap();
    if with_vm {
        write!(out, " {:>11} {:>8}", "victoria", "bw/vm").unwrap();
    }
    write!(out, "  burnwatch vs prometheus").unwrap();
    if with_vm {
        write!(out, " | victoria vs prometheus").unwrap();
    }
    out.push('\n');
    for r in rows {
        write!(
            out,
            "{:<58} {:>5} {:>11} {:>11} {:>8.2}",
            r.query,
            r.steps,
            ms(r.medians[0]),
            ms(r.medians[1]),
            r.ratio(0)
        )
        .unwrap();
        if with_vm {
            write!(out, " {:>11} {:>8.2}", ms(r.medians[2]), r.ratio(2)).unwrap();
        }
        write!(out, "  {}", same(&r.differs[0])).unwrap();
        if with_vm {
            write!(out, " | {}", same(&r.differs[1])).unwrap();
        }
        out.push('\n');
    }
    let summary = |i: usize, name: &str, goal: &str| -> String {
        let mut ratios: Vec<f64> = rows.iter().map(|r| r.ratio(i)).collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        let worst = rows
            .iter()
            .max_by(|a, b| a.ratio(i).total_cmp(&b.ratio(i)))
            .unwrap();
        format!(
            "burnwatch / {name}: median ratio {median:.2}{goal}; worst {:.2} for {:?} at {} steps\n",
            worst.ratio(i),
            worst.query,
            worst.steps
        )
    };
    if rows.iter().any(|r| r.differs[0].is_some()) {
        // Known: the data's samples sit every 10 s and the windows are multiples of 10 s, so a
        // sample lands exactly on each window's left edge, where 2.x and 3.x disagree.
        out.push_str(
            "\nburnwatch rows marked DIFFERS: Prometheus 2.42 includes a sample exactly on a range's \
             left edge; burnwatch follows Prometheus 3.x's left-open windows (see README)\n",
        );
    }
    writeln!(out, "\n{} queries × steps", rows.len()).unwrap();
    out.push_str(&summary(0, "prometheus", " (goal ≤ 0.5, worst ≤ 2)"));
    if with_vm {
        // Rows where MetricsQL answered something else compare different work.
        let agreeing: Vec<&Row> = rows.iter().filter(|r| r.differs[1].is_none()).collect();
        out.push_str(&summary(2, "victoria-metrics", ""));
        let mut ratios: Vec<f64> = agreeing.iter().map(|r| r.ratio(2)).collect();
        ratios.sort_by(f64::total_cmp);
        if let Some(median) = ratios.get(ratios.len() / 2) {
            writeln!(
                out,
                "burnwatch / victoria-metrics over the {} rows where MetricsQL agrees with Prometheus: median ratio {median:.2}",
                ratios.len()
            )
            .unwrap();
        }
    }
    out
}

/// A range query's answer: each series (labels as sorted `name="value"` pairs) with its points.
type Answer = BTreeMap<String, Vec<(String, String)>>;

/// How `other` differs from Prometheus's answer `prom`, or `None` if it does not: the same
/// series, the same timestamps, values equal within 1e-9 relative (the engines sum in different
/// orders).
fn compare(prom: &Answer, other: &Answer) -> Option<String> {
    if prom.len() != other.len() || prom.keys().ne(other.keys()) {
        let missing = prom.keys().filter(|k| !other.contains_key(*k)).count();
        let extra = other.keys().filter(|k| !prom.contains_key(*k)).count();
        return Some(format!(
            "DIFFERS: series ({} vs {}; {missing} missing, {extra} extra{})",
            other.len(),
            prom.len(),
            other
                .keys()
                .find(|k| !prom.contains_key(*k))
                .map_or(String::new(), |k| format!(", e.g. {k}"))
        ));
    }
    let mut points = 0;
    let mut values = 0;
    for (k, p) in prom {
        let o = &other[k];
        if p.len() != o.len() || p.iter().zip(o).any(|(a, b)| a.0 != b.0) {
            points += 1;
        } else if p.iter().zip(o).any(|(a, b)| !same_value(&a.1, &b.1)) {
            values += 1;
        }
    }
    match (points, values) {
        (0, 0) => None,
        (0, v) => Some(format!("DIFFERS: values in {v} of {} series", prom.len())),
        (p, _) => Some(format!("DIFFERS: timestamps in {p} of {} series", prom.len())),
    }
}

fn same_value(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => false,
    }
}

/// Starts VictoriaMetrics on a fresh directory, imports the data set through
/// `/api/v1/import/prometheus`, and returns once every series is queryable.
fn start_victoria_metrics(bin: &Path, dir: &Path, client: &reqwest::blocking::Client) -> Server {
    let text = dir.join("bench.prom");
    let samples = write_data(&text, Format::PrometheusText);
    let port = free_port();
    let server = Server {
        name: "victoria-metrics",
        base: format!("http://127.0.0.1:{port}"),
        child: Command::new(bin)
            .arg(format!("-storageDataPath={}", dir.join("vm").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=100y")
            .arg("-search.disableCache")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    let t = Instant::now();
    wait_health(client, &server);
    let resp = client
        .post(format!("{}/api/v1/import/prometheus", server.base))
        .body(std::fs::File::open(&text).unwrap())
        .send()
        .unwrap_or_else(|e| panic!("victoria-metrics import: {e}"));
    assert!(
        resp.status().is_success(),
        "victoria-metrics import answered {}",
        resp.status()
    );
    // Imported rows sit in memory for about a second; flush them, then wait until the last
    // sample of every series answers.
    let expected = SIZES.iter().map(|s| 2 * s.1).sum::<usize>()
        + SIZES[..3].iter().map(|s| s.1 * BUCKETS.len()).sum::<usize>();
    let end = START_S + (POINTS - 1) * INTERVAL_S;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let _ = client.get(format!("{}/internal/force_flush", server.base)).send();
        let count = client
            .post(format!("{}/api/v1/query", server.base))
            .form(&[
                ("query", "count({__name__=~\"[abh]_.+\"})".to_string()),
                ("time", end.to_string()),
            ])
            .send()
            .ok()
            .and_then(|r| r.text().ok())
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|j| j["data"]["result"][0]["value"][1].as_str().map(str::to_string));
        if count.as_deref() == Some(expected.to_string().as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "victoria-metrics holds {count:?} series after the import, not {expected}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "victoria-metrics imported {samples} samples in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    server
}

fn wait_health(client: &reqwest::blocking::Client, server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{}/health", server.base)).send()
            && r.status().is_success()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{} did not become healthy", server.name);
}

/// Runs one range query; returns the answer and the wall time.
fn query_once(
    client: &reqwest::blocking::Client,
    server: &Server,
    params: &[(&str, String)],
) -> (Answer, Duration) {
    let t = Instant::now();
    let resp = client
        .post(format!("{}/api/v1/query_range", server.base))
        .form(params)
        .send()
        .unwrap_or_else(|e| panic!("{}: {e}", server.name));
    let status = resp.status();
    let body = resp.text().unwrap();
    let elapsed = t.elapsed();
    assert!(
        status.is_success(),
        "{} answered {status} for {params:?}: {body}",
        server.name
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut answer = Answer::new();
    for s in json["data"]["result"].as_array().cloned().unwrap_or_default() {
        let mut labels: Vec<String> = s["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        let points = s["values"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| (p[0].to_string(), p[1].as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        answer.insert(labels.join(","), points);
    }
    (answer, elapsed)
}

fn wait_ready(client: &reqwest::blocking::Client, server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{}/-/ready", server.base)).send()
            && r.status().is_success()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{} did not become ready", server.name);
}

/// The two shapes of the data set on disk.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    /// OpenMetrics: timestamps in seconds, `# EOF` at the end (promtool, `serve --load`).
    OpenMetrics,
    /// Prometheus text format: timestamps in milliseconds (VictoriaMetrics' import).
    PrometheusText,
}

/// Writes the benchmark data with timestamps in `format`; returns the number of samples.
fn write_data(path: &Path, format: Format) -> usize {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut n = 0;
    let unit = if format == Format::OpenMetrics { "" } else { "000" };
    for metric in ["a", "b"] {
        for (size, count) in SIZES {
            writeln!(f, "# TYPE {metric}_{size} gauge").unwrap();
            for l in 0..count {
                for p in 0..POINTS {
                    // A counter-like series that grows at a per-series pace.
                    let v = p * (l as i64 % 7 + 1) + if metric == "b" { 1 } else { 0 };
                    writeln!(
                        f,
                        "{metric}_{size}{{l=\"{l}\"}} {v} {}{unit}",
                        START_S + p * INTERVAL_S
                    )
                    .unwrap();
                    n += 1;
                }
            }
        }
    }
    for (size, count) in &SIZES[..3] {
        writeln!(f, "# TYPE h_{size} gauge").unwrap();
        for l in 0..*count {
            for (b, le) in BUCKETS.iter().enumerate() {
                for p in 0..POINTS {
                    // Cumulative bucket counts: bucket b holds (b + 1) observations per step.
                    let v = p * (b as i64 + 1) * (l as i64 % 3 + 1);
                    writeln!(
                        f,
                        "h_{size}{{l=\"{l}\",le=\"{le}\"}} {v} {}{unit}",
                        START_S + p * INTERVAL_S
                    )
                    .unwrap();
                    n += 1;
                }
            }
        }
    }
    if format == Format::OpenMetrics {
        writeln!(f, "# EOF").unwrap();
    }
    f.flush().unwrap();
    n
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

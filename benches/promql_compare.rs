//! PromQL latency against a real Prometheus holding the same data.
//!
//! `cargo bench --bench promql_compare` writes one OpenMetrics file, imports it into Debian's
//! Prometheus (`promtool tsdb create-blocks-from openmetrics`, then `prometheus` over the blocks)
//! and into `burnwatch serve --load` (the release binary), then runs a query set modelled on
//! Prometheus's own engine benchmarks (`promql/bench_test.go`: plain selectors, rate over many
//! series, aggregations, histogram_quantile, topk, binary joins, subqueries) as range queries of
//! 1, 100 and 1000 steps against both over HTTP. It prints each query's median latency on both
//! and the ratio burnwatch / Prometheus, then the median and worst ratio.
//!
//! Goal from the issue: median ratio ≤ 0.5, no query above 2.
//!
//! The data follows the benchmark's shape: counters `a_<n>` and `b_<n>` with n ∈ {one, ten,
//! hundred, thousand} series (label `l`), and classic histograms `h_<n>` with 11 buckets, every
//! 10 s for 3 hours. Env: `PROMQL_BENCH_RUNS` (timed runs per query, default 7).
//! Both servers answer each query once before timing, so neither pays for a cold cache.

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
    // `PROMQL_BENCH_WRITE=FILE` only writes the data set (for profiling `serve --load FILE`).
    if let Ok(path) = std::env::var("PROMQL_BENCH_WRITE") {
        let samples = write_data(Path::new(&path));
        eprintln!("wrote {samples} samples to {path}");
        return;
    }
    // `PROMQL_BENCH_FILTER=text` runs only the queries containing `text`.
    let filter = std::env::var("PROMQL_BENCH_FILTER").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bench.om");
    let samples = write_data(&data);
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
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    for s in [&prom, &bw] {
        wait_ready(&client, s);
    }
    eprintln!(
        "burnwatch serve --load ready after {:.1}s",
        t.elapsed().as_secs_f64()
    );

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
            let mut shapes = Vec::new();
            for server in [&prom, &bw] {
                let (shape, first) = query_once(&client, server, &params);
                let mut times = vec![first];
                for _ in 0..runs {
                    times.push(query_once(&client, server, &params).1);
                }
                times.remove(0);
                times.sort();
                medians.push(times[times.len() / 2]);
                shapes.push(shape);
            }
            let ratio = medians[1].as_secs_f64() / medians[0].as_secs_f64();
            rows.push((
                query.to_string(),
                steps,
                medians[0],
                medians[1],
                ratio,
                shapes[0] == shapes[1],
            ));
        }
    }

    let mut out = String::new();
    writeln!(
        out,
        "{:<58} {:>5} {:>12} {:>12} {:>7}  same result shape",
        "query", "steps", "prometheus", "burnwatch", "ratio"
    )
    .unwrap();
    for (q, steps, p, b, r, same) in &rows {
        writeln!(
            out,
            "{q:<58} {steps:>5} {:>10.2}ms {:>10.2}ms {r:>7.2}  {}",
            p.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            if *same { "yes" } else { "NO" }
        )
        .unwrap();
    }
    let mut ratios: Vec<f64> = rows.iter().map(|r| r.4).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let worst = rows.iter().max_by(|a, b| a.4.total_cmp(&b.4)).unwrap();
    writeln!(
        out,
        "\n{} queries × steps; median ratio {median:.2} (goal ≤ 0.5); worst {:.2} for {:?} at {} steps (goal ≤ 2)",
        rows.len(),
        worst.4,
        worst.0,
        worst.1
    )
    .unwrap();
    print!("{out}");
}

/// Runs one range query; returns (number of series, number of points) and the wall time.
fn query_once(
    client: &reqwest::blocking::Client,
    server: &Server,
    params: &[(&str, String)],
) -> ((usize, usize), Duration) {
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
    let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
    let points = result
        .iter()
        .map(|s| s["values"].as_array().map_or(0, Vec::len))
        .sum();
    ((result.len(), points), elapsed)
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

/// Writes the benchmark data as OpenMetrics with timestamps; returns the number of samples.
fn write_data(path: &Path) -> usize {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut n = 0;
    for metric in ["a", "b"] {
        for (size, count) in SIZES {
            writeln!(f, "# TYPE {metric}_{size} gauge").unwrap();
            for l in 0..count {
                for p in 0..POINTS {
                    // A counter-like series that grows at a per-series pace.
                    let v = p * (l as i64 % 7 + 1) + if metric == "b" { 1 } else { 0 };
                    writeln!(f, "{metric}_{size}{{l=\"{l}\"}} {v} {}", START_S + p * INTERVAL_S).unwrap();
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
                        "h_{size}{{l=\"{l}\",le=\"{le}\"}} {v} {}",
                        START_S + p * INTERVAL_S
                    )
                    .unwrap();
                    n += 1;
                }
            }
        }
    }
    writeln!(f, "# EOF").unwrap();
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

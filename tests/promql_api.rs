//! `burnwatch serve` against real Prometheus tools: `promtool query instant|range` prints the same
//! output for burnwatch as for a real Prometheus holding the same OpenMetrics file (imported into
//! it with `promtool tsdb create-blocks-from openmetrics`), a real Prometheus remote-writes into
//! burnwatch, and the `burnwatch promql` CLI gives tables, JSON, carets and test-script counts.
//!
//! Debian ships Prometheus 2.42, whose range windows and lookback are closed on the left
//! (`[t - range, t]`) where 3.x, burnwatch's target, is left-open (`(t - range, t]`). Every
//! evaluation time below is therefore 7s off the 15s sample grid (and off the 1m subquery grid),
//! so no sample sits on a window boundary and both versions must agree.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// First sample, Unix seconds.
const T0: i64 = 1_700_000_000;
/// Samples every 15s for an hour.
const STEPS: i64 = 240;

/// An OpenMetrics file with counters (one with a reset), a gauge and a classic histogram. Values
/// are multiples of 1/4, exact in binary, so sums do not depend on the order of addition.
fn openmetrics() -> String {
    let mut out = String::new();
    out.push_str("# TYPE http_requests counter\n");
    let counters = [
        (r#"code="200",instance="a",job="api""#, 7.0),
        (r#"code="500",instance="a",job="api""#, 0.75),
        (r#"code="200",instance="b",job="api""#, 5.5),
        (r#"code="200",instance="a",job="web""#, 2.25),
    ];
    for (labels, per_step) in counters {
        let mut v = 0.0;
        for i in 0..=STEPS {
            // The web job restarts halfway through: a counter reset.
            if labels.contains("web") && i == STEPS / 2 {
                v = 0.0;
            }
            v += per_step * ((i % 7) as f64 + 1.0);
            out.push_str(&format!("http_requests_total{{{labels}}} {v} {}\n", T0 + 15 * i));
        }
    }
    out.push_str("# TYPE temperature gauge\n");
    for room in ["lab", "office"] {
        for i in 0..=STEPS {
            let v = ((i * 37 + room.len() as i64 * 11) % 50) as f64 * 0.5 - 5.0;
            out.push_str(&format!("temperature{{room=\"{room}\"}} {v} {}\n", T0 + 15 * i));
        }
    }
    out.push_str("# TYPE request_duration_seconds histogram\n");
    let bounds = ["0.1", "0.5", "1.0", "+Inf"];
    let mut cum = [0.0f64; 4];
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); 6];
    let mut sum = 0.0;
    for i in 0..=STEPS {
        let adds = [(i % 5) as f64, (i % 3) as f64 + 1.0, 2.0, (i % 2) as f64];
        let mut running = 0.0;
        for (b, add) in adds.iter().enumerate() {
            running += add;
            cum[b] += running;
        }
        sum += running * 0.25;
        for (b, le) in bounds.iter().enumerate() {
            lines[b].push(format!(
                "request_duration_seconds_bucket{{le=\"{le}\"}} {} {}\n",
                cum[b],
                T0 + 15 * i
            ));
        }
        lines[4].push(format!(
            "request_duration_seconds_count {} {}\n",
            cum[3],
            T0 + 15 * i
        ));
        lines[5].push(format!("request_duration_seconds_sum {sum} {}\n", T0 + 15 * i));
    }
    for l in lines {
        out.extend(l);
    }
    out.push_str("# EOF\n");
    out
}

/// Queries whose instant and range results both servers must print identically.
const QUERIES: &[&str] = &[
    "http_requests_total",
    "http_requests_total{job=\"api\",code!=\"500\"}",
    "sum by (code) (rate(http_requests_total[5m]))",
    "increase(http_requests_total{job=\"web\"}[10m])",
    "sum without (instance) (irate(http_requests_total[1m]))",
    "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
    "avg_over_time(temperature[10m])",
    "max_over_time(temperature[10m]) - min_over_time(temperature[10m])",
    "quantile(0.5, temperature)",
    "temperature offset 5m",
    "count by (job) (http_requests_total > 1000)",
    "rate(http_requests_total{code=\"500\"}[5m]) / ignoring(code) rate(http_requests_total{code=\"200\",instance=\"a\"}[5m])",
    "max_over_time(sum(rate(http_requests_total[5m]))[10m:1m])",
    "temperature > bool 5",
    "label_replace(temperature, \"place\", \"$1\", \"room\", \"(.*)\")",
    "absent(nonexistent_metric)",
    "vector(1) + 2",
    "1 + 2",
];

/// Whether two promtool outputs agree: the same text, except that numbers may differ in the last
/// bits. Prometheus 3.x (and burnwatch) add with Kahan summation in `sum`, `avg` and the
/// `*_over_time` functions where 2.42 adds plainly, so a sum of rates can differ by an ulp or two.
fn same_output(want: &str, got: &str) -> bool {
    let (w, g): (Vec<&str>, Vec<&str>) = (
        want.split_whitespace().collect(),
        got.split_whitespace().collect(),
    );
    w.len() == g.len()
        && w.iter().zip(&g).all(|(a, b)| {
            a == b
                || match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(x), Ok(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                    _ => false,
                }
        })
}

fn wait_ready(base: &str, proc: &Proc) {
    let ok = wait_for(Duration::from_secs(60), || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(
        ok.is_some(),
        "{} did not become ready:\n{}",
        proc.name,
        proc.output()
    );
}

fn promtool(promtool: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Imports `file` into TSDB blocks with promtool and starts a Prometheus over them.
fn start_prometheus(dir: &Path, file: &Path, promtool_bin: &Path, prometheus_bin: &Path) -> (Proc, String) {
    let blocks = dir.join("tsdb");
    promtool(
        promtool_bin,
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            file.to_str().unwrap(),
            blocks.to_str().unwrap(),
        ],
    );
    let config = write_file(dir, "prometheus.yml", "global:\n  scrape_interval: 15s\n");
    let prom_port = free_port();
    let prom = spawn(
        "prometheus",
        prometheus_bin,
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", blocks.display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        dir,
        &[],
    );
    let base = format!("http://127.0.0.1:{prom_port}");
    wait_ready(&base, &prom);
    (prom, base)
}

/// Starts `burnwatch serve --load FILE` on a free port.
fn start_burnwatch(dir: &Path, file: &Path) -> (Proc, String) {
    start_burnwatch_with(dir, file, &[])
}

/// Starts `burnwatch serve --load FILE` with more flags on a free port.
fn start_burnwatch_with(dir: &Path, file: &Path, flags: &[&str]) -> (Proc, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--load", file.to_str().unwrap(), "--listen", &listen];
    args.extend_from_slice(flags);
    let proc = spawn("burnwatch", &burnwatch_bin(), &args, dir, &[]);
    let base = format!("http://{listen}");
    wait_ready(&base, &proc);
    (proc, base)
}

#[test]
fn promtool_prints_the_same_for_burnwatch_and_prometheus() {
    let (Some(promtool_bin), Some(prometheus_bin)) = (
        require_tool("promtool", "apt-get install prometheus"),
        require_tool("prometheus", "apt-get install prometheus"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let (_prom, prom_base) = start_prometheus(dir.path(), &file, &promtool_bin, &prometheus_bin);
    let (bw, bw_base) = start_burnwatch(dir.path(), &file);

    // 30m07s into the data: 7s past a sample.
    let at = (T0 + 1807).to_string();
    let (start, end) = ((T0 + 607).to_string(), (T0 + 3007).to_string());
    let mut mismatches = Vec::new();
    let mut non_empty = 0;
    for q in QUERIES {
        let instant = |base: &str| promtool(&promtool_bin, &["query", "instant", "--time", &at, base, q]);
        let range = |base: &str| {
            promtool(
                &promtool_bin,
                &[
                    "query", "range", "--start", &start, "--end", &end, "--step", "1m", base, q,
                ],
            )
        };
        for (kind, want, got) in [
            ("instant", instant(&prom_base), instant(&bw_base)),
            ("range", range(&prom_base), range(&bw_base)),
        ] {
            if !want.trim().is_empty() {
                non_empty += 1;
            }
            if !same_output(&want, &got) {
                mismatches.push(format!("{kind} {q}\n--- prometheus\n{want}--- burnwatch\n{got}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} outputs differ:\n{}\nburnwatch log:\n{}",
        mismatches.len(),
        QUERIES.len() * 2,
        mismatches.join("\n"),
        bw.output()
    );
    // The comparison is only worth something if the queries found data.
    assert!(
        non_empty >= QUERIES.len() * 2 - 2,
        "only {non_empty} outputs had data"
    );

    // Label metadata through the HTTP API agrees too (promtool's `query labels` prints values).
    let labels = |base: &str| promtool(&promtool_bin, &["query", "labels", base, "code"]);
    assert_eq!(labels(&prom_base), labels(&bw_base));
    let series = |base: &str| {
        promtool(
            &promtool_bin,
            &[
                "query",
                "series",
                "--match",
                "http_requests_total{job=\"api\"}",
                base,
            ],
        )
    };
    assert_eq!(series(&prom_base), series(&bw_base));

    // `burnwatch promql query --prometheus-url` reads either server's answer into the same table,
    // and --json passes the server's body through.
    let cli = |args: &[&str]| {
        let out = Command::new(burnwatch_bin()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let q = "sort_desc(sum by (job) (rate(http_requests_total[5m])))";
    let table = |base: &str| cli(&["promql", "query", q, "--time", &at, "--prometheus-url", base]);
    let from_prom = table(&prom_base);
    assert!(from_prom.contains("{job=\"api\"}"), "{from_prom}");
    assert_eq!(from_prom, table(&bw_base));
    let raw = cli(&[
        "promql",
        "query",
        "temperature",
        "--time",
        &at,
        "--prometheus-url",
        &prom_base,
        "--json",
    ]);
    let (_, direct) = http_get(&format!("{prom_base}/api/v1/query?query=temperature&time={at}")).unwrap();
    assert_eq!(raw.trim(), direct.trim());

    // SIGTERM stops the server cleanly.
    let mut bw = bw;
    let status = bw.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{}", bw.output());
}

#[test]
fn api_errors_match_prometheus_status_and_type() {
    let (Some(promtool_bin), Some(prometheus_bin)) = (
        require_tool("promtool", "apt-get install prometheus"),
        require_tool("prometheus", "apt-get install prometheus"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let (_prom, prom_base) = start_prometheus(dir.path(), &file, &promtool_bin, &prometheus_bin);
    let (_bw, bw_base) = start_burnwatch(dir.path(), &file);
    let kind = |body: &str| -> (String, String) {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        (
            v["status"].as_str().unwrap().to_string(),
            v["errorType"].as_str().unwrap_or("").to_string(),
        )
    };
    let cases = [
        "/api/v1/query?query=sum(&time=1",
        "/api/v1/query_range?query=sum(&start=0&end=10&step=1",
        "/api/v1/query?query=up&time=yesterday",
        "/api/v1/query_range?query=up&start=10&end=5&step=1",
        "/api/v1/query_range?query=up&start=0&end=100000&step=1",
        "/api/v1/query_range?query=up&start=0&end=10&step=0",
        "/api/v1/query_range?query=%22x%22&start=0&end=10&step=1",
        "/api/v1/series",
        "/api/v1/series?match[]=up&start=soon",
        "/api/v1/query_range?query=up&start=later&end=5&step=1",
        "/api/v1/query?query=up&time=1",
        "/api/v1/query?query=1%2B1&time=1.5",
        "/api/v1/query?query=%22a%3Cb%22&time=1.005",
        "/api/v1/query?query=vector(0.00000015)&time=1.5",
        "/api/v1/query?query=0.00000015&time=1.5",
        "/api/v1/query?query=vector(1e21)*-1&time=-1.05",
        "/api/v1/query?query=vector(1)%5B3s:1s%5D&time=2.5",
        "/api/v1/query?query=sort(temperature)&time=1700000100.25",
        "/api/v1/query_range?query=temperature&start=1700000000.5&end=1700000060&step=7.25",
    ];
    for path in cases {
        let (ps, pb) = http_get(&format!("{prom_base}{path}")).unwrap();
        let (bs, bb) = http_get(&format!("{bw_base}{path}")).unwrap();
        assert_eq!(
            (bs, kind(&bb)),
            (ps, kind(&pb)),
            "{path}\nprometheus: {pb}\nburnwatch: {bb}"
        );
        if ps == 200 {
            assert_eq!(bb, pb, "{path}");
        }
    }
    // Messages that do not depend on the parser are word for word the same.
    for path in &cases[2..10] {
        let (_, pb) = http_get(&format!("{prom_base}{path}")).unwrap();
        let (_, bb) = http_get(&format!("{bw_base}{path}")).unwrap();
        assert_eq!(bb, pb, "{path}");
    }
}

#[test]
fn prometheus_remote_writes_into_burnwatch() {
    let Some(prometheus_bin) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bw_port = free_port();
    let listen = format!("127.0.0.1:{bw_port}");
    let bw = spawn(
        "burnwatch",
        &burnwatch_bin(),
        &["serve", "--listen", &listen],
        dir.path(),
        &[],
    );
    let bw_base = format!("http://{listen}");
    wait_ready(&bw_base, &bw);

    let prom_port = free_port();
    let config = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\n\
             remote_write:\n  - url: {bw_base}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n"
        ),
    );
    let prom = spawn(
        "prometheus",
        &prometheus_bin,
        &[
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        dir.path(),
        &[],
    );
    let url = format!("{bw_base}/api/v1/query?query=up%7Bjob%3D%22self%22%7D");
    let got = wait_for(Duration::from_secs(90), || {
        http_get(&url).filter(|(s, b)| *s == 200 && b.contains(r#""value":["#))
    });
    let Some((_, body)) = got else {
        panic!(
            "no remote-written `up` arrived in burnwatch\nprometheus:\n{}\nburnwatch:\n{}",
            prom.output(),
            bw.output()
        );
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let sample = &v["data"]["result"][0];
    assert_eq!(sample["metric"]["instance"], format!("127.0.0.1:{prom_port}"));
    assert_eq!(sample["value"][1], "1");
    // Prometheus's own metrics came along, with their samples.
    let (_, names) = http_get(&format!("{bw_base}/api/v1/label/__name__/values")).unwrap();
    assert!(names.contains("\"prometheus_build_info\""), "{names}");
    let sent = format!("{bw_base}/api/v1/query?query=count_over_time(up%5B1h%5D)");
    let more = wait_for(Duration::from_secs(30), || {
        http_get(&sent).filter(|(_, b)| {
            serde_json::from_str::<serde_json::Value>(b)
                .ok()
                .and_then(|v| v["data"]["result"][0]["value"][1].as_str()?.parse::<f64>().ok())
                >= Some(3.0)
        })
    });
    assert!(more.is_some(), "fewer than 3 `up` samples arrived");

    // `serve --scrape-config` scrapes the same Prometheus itself. (scrape_timeout is explicit:
    // Prometheus would lower the 10s default to the 1s interval, burnwatch's loader refuses it.)
    let scrape = write_file(
        dir.path(),
        "scrape.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: scraped\n    static_configs:\n      \
             - targets: ['127.0.0.1:{prom_port}']\n"
        ),
    );
    let listen2 = format!("127.0.0.1:{}", free_port());
    let bw2 = spawn(
        "burnwatch-scrape",
        &burnwatch_bin(),
        &[
            "serve",
            "--listen",
            &listen2,
            "--scrape-config",
            scrape.to_str().unwrap(),
        ],
        dir.path(),
        &[],
    );
    let url = format!("http://{listen2}/api/v1/query?query=up%7Bjob%3D%22scraped%22%7D");
    let got = wait_for(Duration::from_secs(30), || {
        http_get(&url).filter(|(s, b)| *s == 200 && b.contains(r#""value":["#))
    });
    let Some((_, body)) = got else {
        panic!("the scrape gave no `up`:\n{}", bw2.output());
    };
    assert!(body.contains(r#""1"]"#), "{body}");
}

#[test]
fn promql_cli_prints_tables_json_and_carets() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let run = |args: &[&str]| {
        let out = Command::new(burnwatch_bin()).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let f = file.to_str().unwrap();
    // Without --time the query runs at the newest loaded sample.
    let (code, out, err) = run(&[
        "promql",
        "query",
        "sum by (job) (http_requests_total)",
        "--load",
        f,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("SERIES"), "{out}");
    assert!(out.contains("(at 2023-11-14T23:13:20Z)"), "{out}");
    assert!(
        out.contains("{job=\"api\"}") && out.contains("{job=\"web\"}"),
        "{out}"
    );

    let (code, out, _) = run(&[
        "promql",
        "query",
        "1+1",
        "--load",
        f,
        "--json",
        "--time",
        "1700000000.5",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.trim(),
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"2"]}}"#
    );

    let (code, _, err) = run(&["promql", "query", "sum(rate(x[5m])", "--load", f]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "error: 1:16: parse error: unclosed left parenthesis\n  sum(rate(x[5m])\n                 ^\n"
    );

    let (code, out, _) = run(&[
        "promql",
        "query",
        "temperature{room=\"lab\"}",
        "--load",
        f,
        "--start",
        "1700000000",
        "--end",
        "1700000030",
        "--step",
        "15s",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        "temperature{room=\"lab\"}\n  2023-11-14T22:13:20Z      11.5\n  2023-11-14T22:13:35Z      5\n  2023-11-14T22:13:50Z      -1.5\n"
    );
}

#[test]
fn promql_shell_reads_queries_from_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let mut child = Command::new(burnwatch_bin())
        .args(["promql", "--load", file.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b":time 1700000000\ncount(temperature)\nsum(\n!1\n:history\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout,
        "SERIES  VALUE   (at 2023-11-14T22:13:20Z)\n{}      2\nSERIES  VALUE   (at 2023-11-14T22:13:20Z)\n{}      2\n   1  count(temperature)\n   2  sum(\n   3  count(temperature)\n"
    );
    assert!(stderr.contains("parse error"), "{stderr}");
    // A piped session with a failed query exits 1, like a script.
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn promql_test_counts_passed_and_failed_evals() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_file(
        dir.path(),
        "good.test",
        "load 1m\n  up{job=\"a\"} 1 2 3\n\neval instant at 2m up\n  up{job=\"a\"} 3\n\neval instant at 1m sum(up)\n  {} 2\n",
    );
    let bad = write_file(
        dir.path(),
        "bad.test",
        "load 1m\n  up{job=\"a\"} 1 2 3\n\neval instant at 2m up\n  up{job=\"a\"} 4\n",
    );
    let run = |args: &[&str]| {
        let out = Command::new(burnwatch_bin()).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, out) = run(&["promql", "test", good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.lines().last(), Some("2 passed, 0 failed"), "{out}");

    let (code, out) = run(&[
        "promql",
        "test",
        "--verbose",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out.lines().last(), Some("2 passed, 1 failed"), "{out}");
    assert!(out.contains("bad.test: 0 passed, 1 failed"), "{out}");
    assert!(out.contains("expected:") && out.contains("got:"), "{out}");
}

/// Percent-encodes every byte but letters and digits, for a URL query or a form body.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Issue #12, crash 1: a query nested about 1 100 deep (`sum(` × 1100), a 2 500-term `1+1+…`, or
/// 14k parentheses, by GET or POST, overflowed the stack and aborted `serve`. Now the first two
/// are answered (as Prometheus answers them), queries past the depth limit get a 400 that names
/// the position, and the server goes on answering.
#[test]
fn deep_queries_neither_crash_the_server_nor_go_unanswered() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let (mut bw, base) = start_burnwatch(dir.path(), &file);
    let get = |path: &str, query: &str| {
        http_get(&format!(
            "{base}{path}?query={}&time=1700000100&start=1700000000&end=1700000100&step=50",
            form_encode(query)
        ))
    };
    let post = |path: &str, query: &str| {
        http_request(
            "POST",
            &format!("{base}{path}"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!(
                "query={}&time=1700000100&start=1700000000&end=1700000100&step=50",
                form_encode(query)
            )
            .as_bytes(),
        )
        .map(|r| (r.status, r.text()))
    };
    let sums = |n: usize| format!("{}vector(1){}", "sum(".repeat(n), ")".repeat(n));
    let ones = |n: usize| vec!["1"; n].join("+");
    let parens = |n: usize| format!("{}1{}", "(".repeat(n), ")".repeat(n));
    let answered = [
        (sums(1100), "\"1\""),
        (ones(2500), "\"2500\""),
        (parens(3000), "\"1\""),
    ];
    for (q, value) in &answered {
        for (how, res) in [
            ("GET", get("/api/v1/query", q)),
            ("POST", post("/api/v1/query", q)),
            ("POST range", post("/api/v1/query_range", q)),
        ] {
            let (status, body) =
                res.unwrap_or_else(|| panic!("{how} {}: no answer\n{}", &q[..12], bw.output()));
            assert_eq!(status, 200, "{how} {}: {body}", &q[..12]);
            assert!(body.contains(value), "{how} {}: {body}", &q[..12]);
        }
    }
    // Past the limit (4000 levels): refused as a parse error at the token that went too deep.
    // The 14k parentheses go by POST only: percent-encoded they make an 84 KB URL, past the
    // 64 KiB hyper (the `http` crate) takes in a request target, so a GET gets 414 before the API
    // sees it (Go's server takes 1 MB of headers; Prometheus would answer).
    let refused = [
        (sums(5000), 4 * 3999 + "sum(".len(), true),
        (ones(5000), 2 * 4000, true),
        (parens(5000), 4000, true),
        (parens(14_000), 4000, false),
    ];
    for (q, col, by_get) in &refused {
        let mut answers = vec![
            ("POST", post("/api/v1/query", q)),
            ("POST range", post("/api/v1/query_range", q)),
        ];
        if *by_get {
            answers.push(("GET", get("/api/v1/query", q)));
            answers.push(("GET range", get("/api/v1/query_range", q)));
        }
        for (how, res) in answers {
            let (status, body) =
                res.unwrap_or_else(|| panic!("{how} {}: no answer\n{}", &q[..12], bw.output()));
            assert_eq!(status, 400, "{how} {}: {body}", &q[..12]);
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["errorType"], "bad_data", "{body}");
            let want = format!("1:{col}: parse error: query is nested too deeply: more than 4000 levels");
            assert!(v["error"].as_str().unwrap().contains(&want), "{how}: {body}");
        }
    }
    // Still alive and answering.
    let (status, body) = get("/api/v1/query", "sum(temperature)").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"result\":[{"), "{body}");
    let status = bw.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{}", bw.output());
}

/// Issue #12, crash 9: `count_over_time(vector(1)[3y:1s])` took `serve` to 6.8 GiB of RSS:
/// `--query-max-samples` was checked only after the subquery had materialised all 94 million
/// points. With a small limit it is now refused with Prometheus's 422 while the process stays
/// small, by instant and range queries; and a query past its timeout gets Prometheus's 503.
#[test]
fn subquery_sample_limit_and_timeout_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let (mut bw, base) = start_burnwatch_with(dir.path(), &file, &["--query-max-samples", "100000"]);
    let rss_before = bw.rss_bytes().expect("RSS of burnwatch");
    let q = form_encode("count_over_time(vector(1)[3y:1s])");
    for path in [
        format!("/api/v1/query?query={q}&time=1700000100"),
        format!("/api/v1/query_range?query={q}&start=1700000000&end=1700000100&step=50"),
    ] {
        let (status, body) = http_get(&format!("{base}{path}")).expect("an answer");
        assert_eq!(status, 422, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["errorType"], "execution", "{body}");
        assert_eq!(
            v["error"], "query processing would load too many samples into memory in query execution",
            "{body}"
        );
    }
    // 100 000 points are a few MB; the whole subquery would be gigabytes.
    let rss_after = bw.rss_bytes().expect("RSS of burnwatch");
    assert!(
        rss_after < rss_before + (64 << 20),
        "RSS grew from {rss_before} to {rss_after} bytes"
    );
    // Below the limit it is answered.
    let small = form_encode("count_over_time(vector(1)[10m:1s])");
    let (status, body) = http_get(&format!("{base}/api/v1/query?query={small}&time=1700000100")).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"600\""), "{body}");
    // With the default limit (50 million points) only the deadline can stop the subquery early:
    // a millisecond cannot cover the 50 million inner steps it would take to reach the limit.
    bw.terminate(Duration::from_secs(10));
    let (mut bw, base) = start_burnwatch_with(dir.path(), &file, &["--query-timeout", "1ms"]);
    let (status, body) = http_get(&format!("{base}/api/v1/query?query={q}&time=1700000100")).unwrap();
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errorType"], "timeout", "{body}");
    assert_eq!(v["error"], "query timed out in expression evaluation", "{body}");
    let status = bw.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{}", bw.output());
}

/// Issue #12: a query of only `{__name__="up"}` sent unencoded (as `curl` sends what it is given)
/// got an empty 400: hyper refuses `"`, `<` and `>` in a request target before the API sees it,
/// where Go's server (Prometheus) takes them. Both servers must now give the same answers, over
/// keep-alive too (the second request on the connection is read the same way).
#[test]
fn raw_quotes_and_comparisons_in_the_url_are_answered_as_prometheus_does() {
    let (Some(promtool_bin), Some(prometheus_bin)) = (
        require_tool("promtool", "apt-get install prometheus"),
        require_tool("prometheus", "apt-get install prometheus"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let (_prom, prom_base) = start_prometheus(dir.path(), &file, &promtool_bin, &prometheus_bin);
    let (_bw, bw_base) = start_burnwatch(dir.path(), &file);
    let t = T0 + 607;
    let paths = [
        format!("/api/v1/query?query={{__name__=\"temperature\"}}&time={t}"),
        format!("/api/v1/query?query=temperature{{room=\"lab\"}}&time={t}"),
        format!("/api/v1/query?query=temperature>5&time={t}"),
        format!("/api/v1/query?query=temperature<5&time={t}"),
        format!(
            "/api/v1/query_range?query={{__name__=\"temperature\",room=\"office\"}}&start={t}&end={}&step=60",
            t + 120
        ),
    ];
    for path in &paths {
        let (ps, pb) = http_get(&format!("{prom_base}{path}")).unwrap();
        let (bs, bb) = http_get(&format!("{bw_base}{path}")).unwrap();
        assert_eq!(ps, 200, "{path}: Prometheus answered {pb}");
        assert_eq!((bs, bb), (ps, pb), "{path}");
    }
    // Two requests on one connection, the first with a body.
    use std::io::{Read as _, Write as _};
    let host = bw_base.strip_prefix("http://").unwrap();
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = format!("query=1&time={t}");
    let request = format!(
        "POST /api/v1/query?x=\"1\" HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}\
         GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        body.len(),
        paths[0]
    );
    conn.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    assert_eq!(raw.matches("HTTP/1.1 200 OK").count(), 2, "{raw}");
    assert!(raw.contains("\"room\":\"lab\""), "{raw}");
}

/// Parse-error positions agree with Prometheus 2.42's: for each broken query both APIs give
/// 400 bad_data and the same `line:column` (the messages' words come from two different parsers).
#[test]
fn parse_error_positions_match_prometheus() {
    let (Some(promtool_bin), Some(prometheus_bin)) = (
        require_tool("promtool", "apt-get install prometheus"),
        require_tool("prometheus", "apt-get install prometheus"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let (_prom, prom_base) = start_prometheus(dir.path(), &file, &promtool_bin, &prometheus_bin);
    let (_bw, bw_base) = start_burnwatch(dir.path(), &file);
    let broken = [
        "sum(",
        "rate(x[5m]",
        "1 + (2",
        "x{a=\"b\",",
        "x[5m:",
        "x offset",
        "x{a=\"b",
        ")",
        "sum(x))",
        "x{a!b}",
        "1 . 2",
        "x[5x]",
        "x{a=\"1\"} }",
        "1 +",
        "foo bar",
        "sum(x) by",
        "sum(rate(x[5m])\n  + 1",
    ];
    let position = |body: &str| -> (String, String) {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let error = v["error"].as_str().unwrap_or("");
        let rest = error
            .strip_prefix("invalid parameter \"query\": ")
            .unwrap_or(error);
        let pos = rest.split(": parse error").next().unwrap_or("").to_string();
        (v["errorType"].as_str().unwrap_or("").to_string(), pos)
    };
    for q in broken {
        let path = format!("/api/v1/query?query={}&time=1", form_encode(q));
        let (ps, pb) = http_get(&format!("{prom_base}{path}")).unwrap();
        let (bs, bb) = http_get(&format!("{bw_base}{path}")).unwrap();
        assert_eq!(
            (bs, position(&bb)),
            (ps, position(&pb)),
            "{q:?}\nprometheus: {pb}\nburnwatch: {bb}"
        );
    }
}

/// Sends `head` (a request without a body) on a new connection, writing from another thread so a
/// server that answers before reading it all is still heard; the status and body, `None` when the
/// connection closed without an answer.
fn raw_exchange(base: &str, head: Vec<u8>) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let addr = base.strip_prefix("http://").unwrap();
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&head);
    });
    let mut raw = Vec::new();
    let _ = (&stream).read_to_end(&mut raw);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    Some((status, body))
}

/// Regression: a GET query over 64 KiB got 414 from hyper; Go's `net/http` (Prometheus) reads up
/// to 1 MiB of request line and headers. A 200 KiB GET is answered; a 2 MiB one is refused with
/// 414 or 431, and the server goes on answering.
#[test]
fn long_get_queries_are_answered_up_to_go_header_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "data.om", &openmetrics());
    let (_bw, base) = start_burnwatch(dir.path(), &file);
    let value = "v".repeat(200 << 10);
    let query = format!("label_replace(vector(1), \"long\", \"{value}\", \"\", \"\")");
    let head = format!(
        "GET /api/v1/query?query={}&time={T0} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        form_encode(&query)
    );
    assert!(head.len() > 200 << 10);
    let (status, body) = raw_exchange(&base, head.into_bytes()).expect("an answer to the 200 KiB GET");
    assert_eq!(status, 200, "{}", &body[..body.len().min(300)]);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["data"]["result"][0]["metric"]["long"].as_str().map(str::len),
        Some(value.len())
    );

    let huge = format!(
        "GET /api/v1/query?query={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "x".repeat(2 << 20)
    );
    let (status, _) = raw_exchange(&base, huge.into_bytes()).expect("an answer to the 2 MiB GET");
    assert!(status == 414 || status == 431, "2 MiB GET answered {status}");
    assert_eq!(http_get(&format!("{base}/-/ready")).map(|r| r.0), Some(200));
}

//! Metadata and exemplars (issue 15 §2) side by side with a real Prometheus 2.42.
//!
//! One OpenMetrics target served by this test (HELP, TYPE, UNIT, a family with HELP only,
//! exemplars with and without timestamps) is scraped by `burnwatch serve --config` and by
//! Prometheus 2.42 (`--enable-feature=exemplar-storage`) with the same prometheus.yml; the same
//! Prometheus remote-writes to a second `burnwatch serve` with `send_exemplars: true` and metadata
//! sent every second. `/api/v1/metadata`, `/api/v1/targets/metadata` and
//! `/api/v1/query_exemplars` must answer the same on the scraping burnwatch as on Prometheus, and
//! the remote-written metadata and exemplars must arrive as Prometheus holds them. And `burnwatch
//! up` serves the metadata of the collector telemetry it scrapes.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use burnwatch_slo::ingest::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode_write_request};
use common::{
    EPHEMERAL_CONFIG, Proc, burnwatch_bin, free_port, http_get, post_remote_write, require_tool, spawn,
    start_serve_with_data, urlencode, wait_for, write_file,
};
use serde_json::Value;

/// The exposition: a counter with HELP (escaped quotes) and two exemplars, one without a
/// timestamp; a histogram with a UNIT and a timed exemplar on a bucket; a family with HELP only
/// (its type is then `unknown`); an info family.
const BODY: &str = "# TYPE app_requests counter\n\
# HELP app_requests Requests \\\"served\\\" by the app.\n\
app_requests_total{code=\"200\"} 10 # {trace_id=\"abc123\",span_id=\"01\"} 0.5 1700000000.5\n\
app_requests_total{code=\"500\"} 1 # {trace_id=\"untimed\"} 1\n\
# TYPE app_latency_seconds histogram\n\
# UNIT app_latency_seconds seconds\n\
# HELP app_latency_seconds Request latency.\n\
app_latency_seconds_bucket{le=\"0.25\"} 3 # {trace_id=\"fast\"} 0.125 1700000001.25\n\
app_latency_seconds_bucket{le=\"+Inf\"} 4\n\
app_latency_seconds_sum 1.5\n\
app_latency_seconds_count 4\n\
# HELP app_temperature Temperature of the room.\n\
app_temperature 21.5\n\
# TYPE build info\n\
# HELP build Build information.\n\
build_info{version=\"1.0\"} 1\n\
# EOF\n";

/// Serves [`BODY`] as OpenMetrics on every path; the address.
fn start_target() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
                let _ = s.write_all(resp.as_bytes());
            });
        }
    });
    addr
}

fn start_prometheus(prometheus: &Path, cfg: &Path, dir: &Path) -> (Proc, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let p = spawn(
        "prometheus",
        prometheus,
        &[
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            &format!("--web.listen-address={listen}"),
            "--enable-feature=exemplar-storage",
        ],
        dir,
        &[],
    );
    let base = format!("http://{listen}");
    let ready = wait_for(Duration::from_secs(60), || {
        http_get(&format!("{base}/-/ready")).filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some(), "Prometheus did not start:\n{}", p.output());
    (p, base)
}

/// Status and parsed body of a GET.
fn get(base: &str, path: &str) -> (u16, Value) {
    let (status, body) = http_get(&format!("{base}{path}")).unwrap_or_else(|| panic!("{base}{path} answers"));
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{base}{path}: {e}: {body}"));
    (status, v)
}

/// `/api/v1/metadata` with each family's entries sorted: Prometheus builds them from a Go map,
/// so their order is random there.
fn metadata(base: &str, query: &str) -> Value {
    let (status, mut v) = get(base, &format!("/api/v1/metadata{query}"));
    assert_eq!(status, 200, "{v}");
    if let Some(families) = v["data"].as_object_mut() {
        for list in families.values_mut() {
            if let Some(a) = list.as_array_mut() {
                a.sort_by_key(|e| e.to_string());
            }
        }
    }
    v
}

/// `/api/v1/targets/metadata` sorted by entry: Prometheus lists a target's families from a Go
/// map, in random order.
fn targets_metadata(base: &str, query: &str) -> Value {
    let (status, mut v) = get(base, &format!("/api/v1/targets/metadata{query}"));
    assert_eq!(status, 200, "{v}");
    if let Some(a) = v["data"].as_array_mut() {
        a.sort_by_key(|e| e.to_string());
    }
    v
}

/// `/api/v1/query_exemplars` for `query`, with the timestamp of the exemplar served without one
/// set to 0: each server stamps it with the time of its own first scrape.
fn exemplars(base: &str, query: &str) -> Value {
    let (status, mut v) = get(
        base,
        &format!("/api/v1/query_exemplars?query={}", urlencode(query)),
    );
    assert_eq!(status, 200, "{v}");
    for series in v["data"].as_array_mut().into_iter().flatten() {
        for e in series["exemplars"].as_array_mut().into_iter().flatten() {
            if e["labels"]["trace_id"] == "untimed" {
                e["timestamp"] = Value::from(0);
            }
        }
    }
    v
}

fn count_exemplars(v: &Value) -> usize {
    v["data"].as_array().map_or(0, |a| {
        a.iter()
            .map(|s| s["exemplars"].as_array().map_or(0, Vec::len))
            .sum()
    })
}

const FAMILIES: [&str; 4] = ["app_latency_seconds", "app_requests", "app_temperature", "build"];

fn has_all_families(v: &Value) -> bool {
    FAMILIES.iter().all(|f| v["data"].get(f).is_some())
}

#[test]
fn metadata_and_exemplars_match_prometheus_for_scrapes_and_remote_write() {
    let Some(prometheus) = require_tool("prometheus", "apt-get install -y prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let target = start_target();

    // The receiver of Prometheus's remote write: a plain `serve`.
    let (_receiver, receiver) =
        start_serve_with_data("receiver", dir.path(), &dir.path().join("rx-data"), &[]);
    let scrape = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: app\n    \
         static_configs:\n      - targets: [\"{target}\"]\n        labels:\n          env: test\n"
    );
    let burnwatch_cfg = write_file(dir.path(), "burnwatch.yml", &scrape);
    // Prometheus reads the same file plus its remote_write section (burnwatch serve's own
    // remote_write would forward, which is not what is compared here).
    let prom_cfg = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "{scrape}remote_write:\n  - url: {receiver}/api/v1/write\n    send_exemplars: true\n    \
             metadata_config:\n      send: true\n      send_interval: 1s\n    queue_config:\n      \
             batch_send_deadline: 1s\n"
        ),
    );
    let (mut prom, prom_base) = start_prometheus(&prometheus, &prom_cfg, dir.path());
    let (_bw, bw) = start_serve_with_data(
        "burnwatch",
        dir.path(),
        &dir.path().join("bw-data"),
        &["--config", burnwatch_cfg.to_str().unwrap()],
    );

    // Both have scraped (every family's metadata is there, and every exemplar).
    for base in [&prom_base, &bw] {
        let ready = wait_for(Duration::from_secs(90), || {
            let scraped = has_all_families(&metadata(base, ""))
                && count_exemplars(&exemplars(base, r#"{job="app"}"#)) == 3;
            scraped.then_some(())
        });
        assert!(
            ready.is_some(),
            "{base} did not scrape the target:\nmetadata {}\nexemplars {}\n{}",
            metadata(base, ""),
            exemplars(base, r#"{job="app"}"#),
            prom.output()
        );
    }

    // /api/v1/metadata: every family, filtered by metric, limited, unknown metric.
    for q in [
        "",
        "?metric=app_requests",
        "?metric=app_temperature",
        "?metric=nope",
        "?limit=0",
    ] {
        assert_eq!(metadata(&bw, q), metadata(&prom_base, q), "/api/v1/metadata{q}");
    }
    let all = metadata(&bw, "");
    assert_eq!(
        all["data"]["app_requests"],
        serde_json::json!([{"type": "counter", "help": "Requests \"served\" by the app.", "unit": ""}])
    );
    assert_eq!(all["data"]["app_latency_seconds"][0]["unit"], "seconds");
    assert_eq!(all["data"]["app_temperature"][0]["type"], "unknown");
    assert_eq!(all["data"]["build"][0]["type"], "info");

    // /api/v1/targets/metadata: by target selector, by metric (entries without "metric").
    for q in [
        "",
        "?match_target=%7Bjob%3D%22app%22%7D",
        "?match_target=%7Bjob%3D%22other%22%7D",
        "?metric=app_latency_seconds",
        "?match_target=%7Benv%3D%22test%22%7D&metric=build",
    ] {
        assert_eq!(
            targets_metadata(&bw, q),
            targets_metadata(&prom_base, q),
            "/api/v1/targets/metadata{q}"
        );
    }
    let by_metric = targets_metadata(&bw, "?metric=app_latency_seconds");
    assert_eq!(by_metric["data"][0]["target"]["env"], "test");
    assert!(by_metric["data"][0].get("metric").is_none(), "{by_metric}");

    // /api/v1/query_exemplars: selectors anywhere in the query pick the series.
    for q in [
        "app_requests_total",
        r#"sum by (le) (rate(app_latency_seconds_bucket{le!=""}[5m]))"#,
        r#"app_requests_total{code="200"} / on() group_left app_latency_seconds_count"#,
        "no_such_metric",
    ] {
        assert_eq!(exemplars(&bw, q), exemplars(&prom_base, q), "query_exemplars {q}");
    }
    // No selector: both answer 204 without a body.
    let no_selector = "/api/v1/query_exemplars?query=1%2B1";
    let status_of = |base: &str| http_get(&format!("{base}{no_selector}")).map(|(s, b)| (s, b.is_empty()));
    assert_eq!(status_of(&bw), Some((204, true)));
    assert_eq!(status_of(&bw), status_of(&prom_base));
    let ex = exemplars(&bw, "app_requests_total");
    assert_eq!(ex["data"][0]["exemplars"][0]["timestamp"], 1700000000.5);
    assert_eq!(ex["data"][0]["exemplars"][0]["value"], "0.5");

    // Errors: the same status and body.
    for path in [
        "/api/v1/metadata?limit=abc",
        "/api/v1/targets/metadata?limit=abc",
        "/api/v1/query_exemplars?query=up&start=10&end=5",
        "/api/v1/query_exemplars?query=up&start=yesterday",
    ] {
        assert_eq!(get(&bw, path), get(&prom_base, path), "{path}");
    }
    // `limit_per_metric` came after 2.42 (which ignores it); burnwatch answers as 3.x does.
    assert_eq!(
        get(&bw, "/api/v1/metadata?limit_per_metric=abc"),
        (
            400,
            serde_json::json!({"status": "error", "errorType": "bad_data", "error": "limit_per_metric must be a number"})
        )
    );
    // Parse errors: the same class (the parser's wording is compared in promql_errors.rs).
    for path in [
        "/api/v1/query_exemplars?query=rate(",
        "/api/v1/targets/metadata?match_target=%7Bjob%3D",
    ] {
        let (bs, bv) = get(&bw, path);
        let (ps, pv) = get(&prom_base, path);
        assert_eq!(
            (bs, &bv["errorType"]),
            (ps, &pv["errorType"]),
            "{path}: {bv} vs {pv}"
        );
    }

    // Remote write: the receiver gets the metadata Prometheus sends from its targets, and the
    // exemplars as Prometheus stored them (timestamps included: the untimed one carries
    // Prometheus's scrape time, so it is compared exactly here).
    let arrived = wait_for(Duration::from_secs(90), || {
        let v = get(&receiver, "/api/v1/query_exemplars?query=%7Bjob%3D%22app%22%7D").1;
        (has_all_families(&metadata(&receiver, "")) && count_exemplars(&v) == 3).then_some(())
    });
    assert!(
        arrived.is_some(),
        "the remote-written metadata and exemplars did not arrive:\n{}\n{}",
        metadata(&receiver, ""),
        prom.output()
    );
    assert_eq!(metadata(&receiver, ""), metadata(&prom_base, ""));
    let raw = "/api/v1/query_exemplars?query=%7Bjob%3D%22app%22%7D";
    assert_eq!(get(&receiver, raw), get(&prom_base, raw));
    // Remote write has no target.
    assert_eq!(targets_metadata(&receiver, "")["data"], serde_json::json!([]));

    prom.terminate(Duration::from_secs(30));
}

#[test]
fn up_serves_the_metadata_of_the_collector_it_scrapes() {
    let dir = tempfile::tempdir().unwrap();
    // The OTLP/gRPC receiver (the first endpoint of the config) on a port known here.
    let grpc = format!("127.0.0.1:{}", free_port());
    let config = write_file(
        dir.path(),
        "collector.yaml",
        &EPHEMERAL_CONFIG.replacen("127.0.0.1:0", &grpc, 1),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let mut up = spawn(
        "up",
        &burnwatch_bin(),
        &[
            "up",
            "--headless",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &listen,
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--scrape-interval",
            "1s",
        ],
        dir.path(),
        &[],
    );
    // The collector's own telemetry (`service.telemetry.metrics`), scraped as job
    // burnwatch-collector, declares `# HELP` and `# TYPE` for each family.
    let family = "otelcol_process_uptime_seconds_total";
    let got = wait_for(Duration::from_secs(120), || {
        assert!(
            up.child.try_wait().unwrap().is_none(),
            "up exited:\n{}",
            up.output()
        );
        let v = http_get(&format!("{base}/api/v1/metadata?metric={family}"))?.1;
        let v: Value = serde_json::from_str(&v).ok()?;
        v["data"].get(family).cloned()
    });
    assert_eq!(
        got,
        Some(
            serde_json::json!([{"type": "counter", "help": "Uptime of the process in seconds.", "unit": ""}])
        ),
        "{}",
        up.output()
    );
    let targets = targets_metadata(&base, &format!("?metric={family}"));
    assert_eq!(
        targets["data"][0]["target"]["job"], "burnwatch-collector",
        "{targets}"
    );
    assert_eq!(targets["data"][0]["type"], "counter");

    // OTLP metrics from the real Python SDK: their descriptions become the exporter's HELP,
    // scraped into up's store.
    if let Some(python) = common::require_python_sdk() {
        let script = common::repo_root().join("tests/python/send_otel.py");
        let out = std::process::Command::new(python)
            .arg(&script)
            .args(["--protocol", "grpc", "--endpoint", &grpc, "--instance", "meta"])
            .output()
            .expect("run the Python sender");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let want = serde_json::json!({
            "e2e_requests_total": [{"type": "counter", "help": "Requests served.", "unit": ""}],
            "e2e_latency_seconds": [{"type": "histogram", "help": "Request latency.", "unit": ""}],
        });
        let got = wait_for(Duration::from_secs(120), || {
            let v = metadata(&base, "");
            let both = ["e2e_requests_total", "e2e_latency_seconds"].map(|f| v["data"].get(f).cloned());
            match both {
                [Some(r), Some(l)] => {
                    Some(serde_json::json!({"e2e_requests_total": r, "e2e_latency_seconds": l}))
                }
                _ => None,
            }
        });
        assert_eq!(got, Some(want), "{}", up.output());
    }
    up.terminate(Duration::from_secs(30));
}

#[test]
fn the_exemplar_ring_keeps_the_newest_up_to_the_limit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, base) = start_serve_with_data(
        "serve",
        dir.path(),
        &dir.path().join("data"),
        &[
            "--storage.exemplars.exemplars-limit",
            "3",
            "--enable-feature=exemplar-storage",
        ],
    );
    let label = |n: &str, v: &str| Label {
        name: n.into(),
        value: v.into(),
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Five exemplars over two series, in two requests.
    let requests: [(&str, &[i64]); 2] = [("a", &[1_000, 2_000, 3_000]), ("b", &[4_000, 5_000])];
    for (series, times) in requests {
        let series = TimeSeries {
            labels: vec![label("__name__", "m_total"), label("s", series)],
            samples: vec![Sample {
                value: 1.0,
                timestamp: now_ms,
            }],
            exemplars: times
                .iter()
                .map(|t| burnwatch_remote::proto::Exemplar {
                    labels: vec![label("trace_id", &format!("t{t}"))],
                    value: 1.0,
                    timestamp: now_ms - 10_000 + t,
                })
                .collect(),
            ..Default::default()
        };
        let req = WriteRequest {
            timeseries: vec![series],
            ..Default::default()
        };
        assert_eq!(post_remote_write(&base, &encode_write_request(&req)).0, 204);
    }
    let v = exemplars(&base, "m_total");
    let traces: Vec<(&str, &str)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["exemplars"].as_array().unwrap().iter().map(move |e| {
                (
                    s["seriesLabels"]["s"].as_str().unwrap(),
                    e["labels"]["trace_id"].as_str().unwrap(),
                )
            })
        })
        .collect();
    // The two oldest of series a were overwritten.
    assert_eq!(traces, [("a", "t3000"), ("b", "t4000"), ("b", "t5000")], "{v}");
}

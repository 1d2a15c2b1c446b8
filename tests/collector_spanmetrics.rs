//! The spanmetrics connector end to end with real SDKs: the OpenTelemetry Python SDK and the
//! Node.js SDK send spans of known durations (explicit start and end times) over OTLP/gRPC to
//! `burnwatch collector`, whose traces pipeline exports to `spanmetrics` and whose metrics
//! pipeline receives from it and exports to `prometheus`. The exposition must hold exactly
//! the calls and bucket counts of the sent spans, and HdrHistogram quantiles within 0.1% (3
//! significant digits) of the true quantiles of the sent durations; a second, delta
//! connector instance must read the same after the exporter's delta-to-cumulative.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// The explicit bucket bounds configured, in milliseconds.
const BOUNDS_MS: [f64; 7] = [1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0];

/// One span the senders create.
struct SpanSpec {
    name: &'static str,
    kind: &'static str,
    error: bool,
    duration_us: u64,
}

/// The spans each SDK sends: payments (server spans, one in ten failing) spread from half a
/// millisecond to 1.2 s, and fast database calls (client spans).
fn spans() -> Vec<SpanSpec> {
    let mut out = Vec::new();
    for i in 0..300u64 {
        out.push(SpanSpec {
            name: "POST /payment",
            kind: "server",
            error: i % 10 == 3,
            duration_us: 500 + (i * i * 7919 + i * 104_729) % 1_200_000,
        });
    }
    for i in 0..50u64 {
        out.push(SpanSpec {
            name: "SELECT payments",
            kind: "client",
            error: false,
            duration_us: 200 + i * 37,
        });
    }
    out
}

fn spec_json(endpoint: &str, service: &str) -> String {
    let spans: Vec<String> = spans()
        .iter()
        .map(|s| {
            format!(
                r#"{{"name":"{}","kind":"{}","error":{},"duration_us":{}}}"#,
                s.name, s.kind, s.error, s.duration_us
            )
        })
        .collect();
    format!(
        r#"{{"endpoint":"{endpoint}","service":"{service}","spans":[{}]}}"#,
        spans.join(",")
    )
}

struct Ports {
    grpc: u16,
    prom: u16,
    telemetry: u16,
    health: u16,
}

fn config(p: &Ports) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
connectors:
  spanmetrics:
    histogram:
      explicit:
        buckets: [1ms, 5ms, 10ms, 50ms, 100ms, 500ms, 1s]
    metrics_flush_interval: 500ms
  spanmetrics/delta:
    namespace: delta.spans
    aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA
    histogram:
      explicit:
        buckets: [1ms, 5ms, 10ms, 50ms, 100ms, 500ms, 1s]
    metrics_flush_interval: 500ms
exporters:
  prometheus:
    endpoint: 127.0.0.1:{prom}
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spanmetrics, spanmetrics/delta]
    metrics:
      receivers: [spanmetrics, spanmetrics/delta]
      exporters: [prometheus]
"#,
        grpc = p.grpc,
        prom = p.prom,
        telemetry = p.telemetry,
        health = p.health,
    )
}

fn start_collector(dir: &Path, ports: &Ports) -> Proc {
    let cfg = write_file(dir, "collector.yaml", &config(ports));
    let proc = spawn(
        "collector",
        &burnwatch_bin(),
        &["collector", "--config", cfg.to_str().unwrap()],
        dir,
        &[],
    );
    let health = format!("http://127.0.0.1:{}/", ports.health);
    wait_for(Duration::from_secs(60), || {
        http_get(&health).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("collector did not become healthy:\n{}", proc.output()));
    proc
}

/// `node` and tests/node's installed packages (`npm ci` in tests/node, as tests/run-all.sh
/// does). In CI a missing one fails the test; locally the test is skipped.
fn require_node_sdk() -> Option<PathBuf> {
    let node = require_tool("node", "apt-get install nodejs (Node.js 20)")?;
    let modules = repo_root().join("tests/node/node_modules/@opentelemetry/exporter-trace-otlp-grpc");
    if !modules.is_dir() {
        let message = "the Node.js OpenTelemetry SDK is not installed; run `npm ci` in tests/node";
        if in_ci() {
            panic!("{message} (CI=true: a missing peer fails the test)");
        }
        eprintln!("\n!!! SKIPPING: {message}\n");
        return None;
    }
    Some(node)
}

fn run_sender(program: &Path, script: &str, spec: &Path, what: &str) {
    let out = Command::new(program)
        .arg(repo_root().join(script))
        .arg(spec)
        .output()
        .expect("run the SDK sender");
    assert!(
        out.status.success(),
        "the {what} sender failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the exposition must say about one series.
struct Expected {
    name: &'static str,
    kind: &'static str,
    status: &'static str,
    durations_ms: Vec<f64>,
}

fn expected() -> Vec<Expected> {
    let mut out: Vec<Expected> = Vec::new();
    for s in spans() {
        let kind = if s.kind == "server" {
            "SPAN_KIND_SERVER"
        } else {
            "SPAN_KIND_CLIENT"
        };
        let status = if s.error {
            "STATUS_CODE_ERROR"
        } else {
            "STATUS_CODE_UNSET"
        };
        let ms = s.duration_us as f64 / 1000.0;
        match out.iter_mut().find(|e| e.name == s.name && e.status == status) {
            Some(e) => e.durations_ms.push(ms),
            None => out.push(Expected {
                name: s.name,
                kind,
                status,
                durations_ms: vec![ms],
            }),
        }
    }
    for e in &mut out {
        e.durations_ms.sort_by(f64::total_cmp);
    }
    out
}

/// Checks every series of `service` in `body` under the metric prefix `prefix`; the first
/// difference found, or None.
fn differences(body: &str, prefix: &str, service: &str, quantiles: bool) -> Option<String> {
    for e in expected() {
        let labels = [
            ("job", service),
            ("service_name", service),
            ("span_name", e.name),
            ("span_kind", e.kind),
            ("status_code", e.status),
        ];
        let n = e.durations_ms.len() as f64;
        let calls = sample_value(body, &format!("{prefix}_calls_total"), &labels);
        if calls != Some(n) {
            return Some(format!("{prefix}_calls_total{labels:?} = {calls:?}, want {n}"));
        }
        let count = sample_value(body, &format!("{prefix}_duration_milliseconds_count"), &labels);
        if count != Some(n) {
            return Some(format!(
                "{prefix}_duration_milliseconds_count{labels:?} = {count:?}, want {n}"
            ));
        }
        let les: Vec<(String, f64)> = BOUNDS_MS
            .iter()
            .map(|b| {
                (
                    format!("{b}"),
                    e.durations_ms.iter().filter(|d| **d <= *b).count() as f64,
                )
            })
            .chain(std::iter::once(("+Inf".to_string(), n)))
            .collect();
        for (le, want) in les {
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            let got = sample_value(body, &format!("{prefix}_duration_milliseconds_bucket"), &with_le);
            if got != Some(want) {
                return Some(format!("bucket le={le} of {labels:?} = {got:?}, want {want}"));
            }
        }
        if !quantiles {
            continue;
        }
        for q in ["0.5", "0.9", "0.99", "0.999"] {
            let mut with_q = labels.to_vec();
            with_q.push(("quantile", q));
            let got = sample_value(
                body,
                &format!("{prefix}_duration_quantiles_milliseconds"),
                &with_q,
            );
            // Nearest rank, HdrHistogram's definition of a quantile.
            let qf: f64 = q.parse().unwrap();
            let rank = ((qf * n).ceil() as usize).max(1);
            let truth = e.durations_ms[rank - 1];
            // 3 significant digits: within 0.1% of the true value.
            let ok = got.is_some_and(|v| (v - truth).abs() <= truth * 1e-3 + 1e-9);
            if !ok {
                return Some(format!("quantile {q} of {labels:?} = {got:?}, true {truth}"));
            }
        }
        let q_count = sample_value(
            body,
            &format!("{prefix}_duration_quantiles_milliseconds_count"),
            &labels,
        );
        if q_count != Some(n) {
            return Some(format!("quantiles _count of {labels:?} = {q_count:?}, want {n}"));
        }
    }
    None
}

fn check_exposition(ports: &Ports, service: &str, collector: &Proc) {
    let url = format!("http://127.0.0.1:{}/metrics", ports.prom);
    let mut last = String::new();
    let done = wait_for(Duration::from_secs(120), || {
        let (_, body) = http_get(&url)?;
        let diff = differences(&body, "traces_span_metrics", service, true)
            .or_else(|| differences(&body, "delta_spans", service, false));
        match diff {
            None => Some(()),
            Some(d) => {
                last = format!("{d}\n--- exposition:\n{body}");
                None
            }
        }
    });
    assert!(
        done.is_some(),
        "{service}: {last}\n--- collector:\n{}",
        collector.output()
    );
}

#[test]
fn python_sdk_spans_become_exact_calls_buckets_and_quantiles() {
    let Some(python) = require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        grpc: free_port(),
        prom: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let collector = start_collector(dir.path(), &ports);
    let spec = write_file(
        dir.path(),
        "spec.json",
        &spec_json(&format!("127.0.0.1:{}", ports.grpc), "py-checkout"),
    );
    run_sender(&python, "tests/python/send_spans.py", &spec, "Python SDK");
    check_exposition(&ports, "py-checkout", &collector);
}

#[test]
fn node_sdk_spans_become_exact_calls_buckets_and_quantiles() {
    let Some(node) = require_node_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        grpc: free_port(),
        prom: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let collector = start_collector(dir.path(), &ports);
    let spec = write_file(
        dir.path(),
        "spec.json",
        &spec_json(&format!("127.0.0.1:{}", ports.grpc), "node-checkout"),
    );
    run_sender(&node, "tests/node/send_spans.js", &spec, "Node.js SDK");
    check_exposition(&ports, "node-checkout", &collector);
}

#[test]
fn a_bad_spanmetrics_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        grpc: free_port(),
        prom: free_port(),
        telemetry: free_port(),
        health: free_port(),
    };
    let cases = [
        (
            "    metrics_flush_interval: 500ms\n",
            "    metrics_flush_interval: 500ms\n    dimensions_cache_size: 0\n",
            "connectors.spanmetrics.dimensions_cache_size: invalid cache size: 0",
        ),
        (
            "    metrics_flush_interval: 500ms\n",
            "    metrics_flush_interval: 500ms\n    flush_every: 1s\n",
            "unknown key 'flush_every' in connectors.spanmetrics",
        ),
    ];
    for (from, to, want) in cases {
        let yaml = config(&ports).replacen(from, to, 1);
        let path = write_file(dir.path(), "bad.yaml", &yaml);
        let out = Command::new(burnwatch_bin())
            .args(["collector", "validate", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "accepted:\n{yaml}");
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
}

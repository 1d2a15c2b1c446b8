//! The collector's own per-exporter and per-pipeline metrics end to end: the real OpenTelemetry
//! Python SDK (tests/python/send_spans.py) sends spans over OTLP/gRPC to a first `burnwatch
//! collector`, whose `traces` pipeline filters some out, batches the rest and exports them over
//! OTLP to a second `burnwatch collector` (the real peer), and whose `traces/all` pipeline takes
//! the same spans straight to `debug`. Scraping the first collector's `/metrics`:
//! - per pipeline, `burnwatch_pipeline_{incoming,outgoing,refused}_items_total` are exactly the
//!   spans sent, kept and refused;
//! - per processor, otelcol's `otelcol_processor_{incoming,outgoing}_items_total` are exact;
//! - `otelcol_exporter_sent_spans_total` equals what the peer's receiver accepted;
//! - `burnwatch_exporter_send_duration_seconds_count` equals the number of requests sent (the
//!   batch processor's batch count: no request was retried) and its buckets are cumulative up to
//!   that count.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Spans the SDK sends: `POST /payment` server spans, and `SELECT payments` client spans that the
/// filter drops.
const KEPT: usize = 240;
const DROPPED: usize = 60;

fn spec_json(endpoint: &str) -> String {
    let spans: Vec<String> = (0..KEPT + DROPPED)
        .map(|i| {
            let (name, kind) = if i % 5 == 4 {
                ("SELECT payments", "client")
            } else {
                ("POST /payment", "server")
            };
            format!(
                r#"{{"name":"{name}","kind":"{kind}","error":false,"duration_us":{}}}"#,
                1000 + i
            )
        })
        .collect();
    format!(
        r#"{{"endpoint":"{endpoint}","service":"telemetry-test","spans":[{}]}}"#,
        spans.join(",")
    )
}

fn start(dir: &Path, name: &str, config: &str, health: u16) -> Proc {
    let cfg = write_file(dir, &format!("{name}.yaml"), config);
    let proc = spawn(
        name,
        &burnwatch_bin(),
        &["collector", "--config", cfg.to_str().unwrap()],
        dir,
        &[],
    );
    let url = format!("http://127.0.0.1:{health}/");
    wait_for(Duration::from_secs(60), || {
        http_get(&url).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("{name} did not become healthy:\n{}", proc.output()));
    proc
}

fn metrics(port: u16) -> String {
    http_get(&format!("http://127.0.0.1:{port}/metrics"))
        .filter(|(s, _)| *s == 200)
        .map(|(_, body)| body)
        .unwrap_or_default()
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample_value(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

#[test]
fn pipeline_processor_and_exporter_counts_are_exact_and_each_send_is_timed() {
    let Some(python) = require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (peer_grpc, peer_tel, peer_health) = (free_port(), free_port(), free_port());
    let peer = start(
        dir.path(),
        "peer",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{peer_grpc}
exporters:
  debug: {{}}
extensions:
  health_check:
    endpoint: 127.0.0.1:{peer_health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{peer_tel}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#
        ),
        peer_health,
    );
    let (grpc, tel, health) = (free_port(), free_port(), free_port());
    let front = start(
        dir.path(),
        "front",
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  filter:
    traces:
      span: ['name == "SELECT payments"']
  batch:
    send_batch_size: 50
    send_batch_max_size: 50
    timeout: 200ms
exporters:
  otlp/peer:
    endpoint: 127.0.0.1:{peer_grpc}
    tls:
      insecure: true
  debug: {{}}
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{tel}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [filter, batch]
      exporters: [otlp/peer]
    traces/all:
      receivers: [otlp]
      exporters: [debug]
"#
        ),
        health,
    );

    let spec = write_file(dir.path(), "spec.json", &spec_json(&format!("127.0.0.1:{grpc}")));
    let out = Command::new(&python)
        .arg(repo_root().join("tests/python/send_spans.py"))
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the SDK failed to send: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        front.output()
    );

    let total = (KEPT + DROPPED) as f64;
    let kept = KEPT as f64;
    // Everything kept has reached the peer once its receiver has accepted it all.
    let peer_text = wait_for(Duration::from_secs(60), || {
        let t = metrics(peer_tel);
        (sample_value(
            &t,
            "otelcol_receiver_accepted_spans_total",
            &[("receiver", "otlp")],
        ) == Some(kept))
        .then_some(t)
    })
    .unwrap_or_else(|| {
        panic!(
            "the peer did not receive {kept} spans:\n{}\n{}",
            metrics(peer_tel),
            peer.output()
        )
    });
    assert_eq!(
        value(
            &peer_text,
            "otelcol_receiver_accepted_spans_total",
            &[("receiver", "otlp")]
        ),
        kept
    );
    let t = wait_for(Duration::from_secs(30), || {
        let t = metrics(tel);
        (sample_value(
            &t,
            "otelcol_exporter_sent_spans_total",
            &[("exporter", "otlp/peer")],
        ) == Some(kept))
        .then_some(t)
    })
    .unwrap_or_else(|| panic!("the exporter did not count {kept} sent spans:\n{}", metrics(tel)));

    // Per pipeline: in, out and refused are exact.
    let pipe = |name: &str, p: &str| value(&t, name, &[("pipeline", p), ("otel_signal", "traces")]);
    assert_eq!(pipe("burnwatch_pipeline_incoming_items_total", "traces"), total);
    assert_eq!(pipe("burnwatch_pipeline_outgoing_items_total", "traces"), kept);
    assert_eq!(pipe("burnwatch_pipeline_refused_items_total", "traces"), 0.0);
    assert_eq!(
        pipe("burnwatch_pipeline_incoming_items_total", "traces/all"),
        total
    );
    assert_eq!(
        pipe("burnwatch_pipeline_outgoing_items_total", "traces/all"),
        total
    );

    // Per processor, otelcol's names and labels (plus the pipeline).
    let proc = |name: &str, p: &str| {
        value(
            &t,
            name,
            &[
                ("processor", p),
                ("pipeline", "traces"),
                ("otel_signal", "traces"),
            ],
        )
    };
    assert_eq!(proc("otelcol_processor_incoming_items_total", "filter"), total);
    assert_eq!(proc("otelcol_processor_outgoing_items_total", "filter"), kept);
    assert_eq!(proc("otelcol_processor_incoming_items_total", "batch"), kept);
    assert_eq!(proc("otelcol_processor_outgoing_items_total", "batch"), kept);

    // One timed attempt per request: as many as batches the batch processor sent, none failed.
    let exporter = [("exporter", "otlp/peer"), ("otel_signal", "traces")];
    let sends = value(&t, "burnwatch_exporter_send_duration_seconds_count", &exporter);
    let batches = value(
        &t,
        "otelcol_processor_batch_batch_send_size_count",
        &[("processor", "batch")],
    );
    assert!(
        sends >= (kept / 50.0).ceil(),
        "{sends} sends for {kept} spans in batches of at most 50 (the SDK sent them in one request)"
    );
    assert_eq!(sends, batches, "one send per batch:\n{t}");
    assert_eq!(
        sample_value(
            &t,
            "otelcol_exporter_send_failed_spans_total",
            &[("exporter", "otlp/peer")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &t,
            "burnwatch_exporter_send_duration_seconds_bucket",
            &[exporter[0], exporter[1], ("le", "+Inf")]
        ),
        sends
    );
    let sum = value(&t, "burnwatch_exporter_send_duration_seconds_sum", &exporter);
    assert!(sum > 0.0 && sum < sends * 30.0, "sum {sum} s over {sends} sends");
    let mut last = 0.0;
    for line in t
        .lines()
        .filter(|l| l.starts_with("burnwatch_exporter_send_duration_seconds_bucket{exporter=\"otlp/peer\""))
    {
        let v: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        assert!(v >= last, "buckets are cumulative: {line} after {last}");
        last = v;
    }
    assert_eq!(last, sends);
    // Exporters that do not send have no latency.
    assert!(
        !t.contains("burnwatch_exporter_send_duration_seconds_count{exporter=\"debug\""),
        "{t}"
    );
}

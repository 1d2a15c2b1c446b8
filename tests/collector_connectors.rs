//! Connectors end to end: the OpenTelemetry Python SDK sends spans to a running `burnwatch
//! collector` whose `traces/in` pipeline exports to the `forward` connector and whose
//! `traces/out` pipeline receives from it and exports to two exporters. The spans reach
//! both, the connector is counted as otelcol counts one, and at shutdown the spans held in
//! the upstream batch are flushed through the connector before the downstream pipeline
//! stops.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

struct Ports {
    grpc: u16,
    telemetry: u16,
    health: u16,
}

/// `batch` is the settings of the `batch` processors in `traces/in` and `traces/out`.
fn config(p: &Ports, batch: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
{batch}
  batch/out:
{batch}
exporters:
  debug/a:
    verbosity: normal
  debug/b:
    verbosity: normal
  debug/other:
    verbosity: basic
connectors:
  forward:
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:{telemetry}
  pipelines:
    traces/in:
      receivers: [otlp]
      processors: [batch]
      exporters: [forward]
    traces/out:
      receivers: [forward]
      processors: [batch/out]
      exporters: [debug/a, debug/b]
    metrics:
      receivers: [otlp]
      exporters: [debug/other]
    logs:
      receivers: [otlp]
      exporters: [debug/other]
"#,
        grpc = p.grpc,
        health = p.health,
        telemetry = p.telemetry,
    )
}

fn start_collector(dir: &Path, ports: &Ports, batch: &str) -> Proc {
    let cfg = write_file(dir, "collector.yaml", &config(ports, batch));
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

/// Sends tests/python/send_otel.py's set over gRPC: 3 spans (`checkout`, `reserve-stock`,
/// `charge-card`), one export each, plus metrics and logs.
fn send(python: &Path, ports: &Ports) {
    let script = repo_root().join("tests/python/send_otel.py");
    let out = Command::new(python)
        .arg(&script)
        .args([
            "--protocol",
            "grpc",
            "--endpoint",
            &format!("127.0.0.1:{}", ports.grpc),
            "--instance",
            "connectors",
        ])
        .output()
        .expect("run the Python sender");
    assert!(
        out.status.success(),
        "the Python SDK sender failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn telemetry_value(ports: &Ports, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (_, body) = http_get(&format!("http://127.0.0.1:{}/metrics", ports.telemetry))?;
    sample_value(&body, name, labels)
}

fn ports() -> Ports {
    Ports {
        grpc: free_port(),
        telemetry: free_port(),
        health: free_port(),
    }
}

#[test]
fn python_spans_pass_through_a_forward_connector_to_two_exporters() {
    let Some(python) = require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = ports();
    let mut collector = start_collector(dir.path(), &ports, "    timeout: 100ms");
    send(&python, &ports);

    // Both exporters of the downstream pipeline get every span, and the connector is
    // counted as an exporter upstream and a receiver downstream, as otelcol counts it.
    let expect: [(&str, &[(&str, &str)]); 5] = [
        ("otelcol_receiver_accepted_spans_total", &[("receiver", "otlp")]),
        ("otelcol_exporter_sent_spans_total", &[("exporter", "forward")]),
        (
            "otelcol_receiver_accepted_spans_total",
            &[("receiver", "forward")],
        ),
        ("otelcol_exporter_sent_spans_total", &[("exporter", "debug/a")]),
        ("otelcol_exporter_sent_spans_total", &[("exporter", "debug/b")]),
    ];
    for (name, labels) in expect {
        let got = wait_for(Duration::from_secs(60), || {
            telemetry_value(&ports, name, labels).filter(|v| *v == 3.0)
        });
        assert_eq!(got, Some(3.0), "{name}{labels:?}:\n{}", collector.output());
    }
    // The spans themselves, not only their count: each exporter wrote every span's
    // name (`verbosity: normal` writes one line per span).
    let output = collector.output();
    for span in ["checkout", "reserve-stock", "charge-card"] {
        let lines = output.lines().filter(|l| l.contains(&format!("{span} "))).count();
        assert!(
            lines >= 2,
            "span {span} should be written by both exporters:\n{output}"
        );
    }

    let status = collector.terminate(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "collector exit {status:?}:\n{}",
        collector.output()
    );
}

/// Shutdown flushes in data-flow order: the spans held in `traces/in`'s batch (a one-hour
/// timeout) go through the connector into `traces/out`, whose own batch is shut down only
/// after the connector (a shut-down batch refuses data), and on to its exporters.
#[test]
fn shutdown_flushes_the_upstream_batch_through_the_connector() {
    let Some(python) = require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = ports();
    let mut collector = start_collector(dir.path(), &ports, "    timeout: 1h\n    send_batch_size: 10000");
    send(&python, &ports);
    let accepted = wait_for(Duration::from_secs(60), || {
        telemetry_value(
            &ports,
            "otelcol_receiver_accepted_spans_total",
            &[("receiver", "otlp")],
        )
        .filter(|v| *v == 3.0)
    });
    assert_eq!(accepted, Some(3.0), "{}", collector.output());
    // Held in the batch: nothing has reached the connector yet.
    assert_eq!(
        telemetry_value(
            &ports,
            "otelcol_exporter_sent_spans_total",
            &[("exporter", "forward")]
        )
        .unwrap_or(0.0),
        0.0,
        "{}",
        collector.output()
    );

    let status = collector.terminate(Duration::from_secs(60));
    let output = collector.output();
    assert!(
        status.is_some_and(|s| s.success()),
        "collector exit {status:?}:\n{output}"
    );
    // The batch flushed as one request of 3 spans, which each downstream exporter wrote.
    for exporter in ["debug/a", "debug/b"] {
        assert!(
            output.lines().any(|l| l.contains("Traces")
                && l.contains(&format!("exporter={exporter}"))
                && l.contains("spans=3")),
            "{exporter} should have written the flushed batch of 3 spans:\n{output}"
        );
    }
    for span in ["checkout", "reserve-stock", "charge-card"] {
        let lines = output.lines().filter(|l| l.contains(&format!("{span} "))).count();
        assert!(
            lines >= 2,
            "span {span} should be written by both exporters:\n{output}"
        );
    }
}

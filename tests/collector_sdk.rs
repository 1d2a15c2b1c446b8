//! End to end with real peers: the OpenTelemetry Python SDK sends traces, metrics and logs
//! to a running `burnwatch collector` over gRPC, HTTP/protobuf and HTTP/JSON; the test reads
//! the collector's self-telemetry and its Prometheus exposition, and a real Prometheus
//! scrapes the exporter.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

struct Ports {
    grpc: u16,
    http: u16,
    prom: u16,
    telemetry: u16,
    health: u16,
}

impl Ports {
    fn new() -> Ports {
        Ports {
            grpc: free_port(),
            http: free_port(),
            prom: free_port(),
            telemetry: free_port(),
            health: free_port(),
        }
    }
}

fn config(p: &Ports) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
      http:
        endpoint: 127.0.0.1:{http}
processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
  batch:
    timeout: 100ms
exporters:
  prometheus:
    endpoint: 127.0.0.1:{prom}
    const_labels:
      collector: burnwatch
  debug:
    verbosity: basic
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
      processors: [memory_limiter, batch]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [prometheus]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [debug]
"#,
        grpc = p.grpc,
        http = p.http,
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
    wait_for(Duration::from_secs(30), || {
        http_get(&health).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("collector did not become healthy:\n{}", proc.output()));
    proc
}

fn send(python: &Path, protocol: &str, endpoint: &str, instance: &str) {
    let script = repo_root().join("tests/python/send_otel.py");
    let out = Command::new(python)
        .arg(&script)
        .args([
            "--protocol",
            protocol,
            "--endpoint",
            endpoint,
            "--instance",
            instance,
        ])
        .output()
        .expect("run the Python sender");
    assert!(
        out.status.success(),
        "the Python SDK sender failed over {protocol}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn telemetry_value(ports: &Ports, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (_, body) = http_get(&format!("http://127.0.0.1:{}/metrics", ports.telemetry))?;
    sample_value(&body, name, labels)
}

#[test]
fn python_sdk_over_grpc_http_and_json_reaches_the_exposition() {
    let Some(python) = require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let mut collector = start_collector(dir.path(), &ports);

    send(&python, "grpc", &format!("127.0.0.1:{}", ports.grpc), "via-grpc");
    send(&python, "http", &format!("127.0.0.1:{}", ports.http), "via-http");
    send(&python, "json", &format!("127.0.0.1:{}", ports.http), "via-json");

    // Self-telemetry: 3 spans and 2 log records per send; gRPC got one send, HTTP two.
    let expect = [
        ("otelcol_receiver_accepted_spans_total", "grpc", 3.0),
        ("otelcol_receiver_accepted_spans_total", "http", 6.0),
        ("otelcol_receiver_accepted_log_records_total", "grpc", 2.0),
        ("otelcol_receiver_accepted_log_records_total", "http", 4.0),
    ];
    for (name, transport, want) in expect {
        let got = wait_for(Duration::from_secs(10), || {
            telemetry_value(&ports, name, &[("receiver", "otlp"), ("transport", transport)])
                .filter(|v| *v == want)
        });
        assert_eq!(
            got,
            Some(want),
            "{name}{{transport={transport}}}:\n{}",
            collector.output()
        );
    }
    // Metric points: every send carries the same instruments, so both transports count
    // points, and HTTP twice as many as gRPC.
    let grpc_points = telemetry_value(
        &ports,
        "otelcol_receiver_accepted_metric_points_total",
        &[("transport", "grpc")],
    )
    .unwrap();
    let http_points = telemetry_value(
        &ports,
        "otelcol_receiver_accepted_metric_points_total",
        &[("transport", "http")],
    )
    .unwrap();
    assert!(grpc_points >= 6.0, "gRPC metric points: {grpc_points}");
    assert_eq!(http_points, 2.0 * grpc_points);
    // Traces and logs reach the debug exporter.
    let sent_spans = wait_for(Duration::from_secs(10), || {
        telemetry_value(
            &ports,
            "otelcol_exporter_sent_spans_total",
            &[("exporter", "debug")],
        )
        .filter(|v| *v == 9.0)
    });
    assert_eq!(
        sent_spans,
        Some(9.0),
        "spans exported by debug:\n{}",
        collector.output()
    );

    // The exposition: names, labels and values the SDK sent, for each transport.
    let url = format!("http://127.0.0.1:{}/metrics", ports.prom);
    for instance in ["via-grpc", "via-http", "via-json"] {
        let base = [
            ("job", "burnwatch-tests/sdk-e2e"),
            ("instance", instance),
            ("collector", "burnwatch"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut l = base.to_vec();
            l.extend_from_slice(extra);
            l
        };
        let body = wait_for(Duration::from_secs(10), || {
            let (_, body) = http_get(&url)?;
            sample_value(&body, "e2e_delta_jobs_total", &with(&[]))
                .filter(|v| *v == 7.0)
                .map(|_| body)
        })
        .unwrap_or_else(|| {
            panic!(
                "{instance}: e2e_delta_jobs_total never reached 7:\n{}",
                http_get(&url).unwrap().1
            )
        });
        let scope = [("otel_scope_name", "e2e.meter"), ("otel_scope_version", "1.2.3")];
        type Check<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);
        let checks: Vec<Check> = vec![
            (
                "e2e_requests_total",
                with(&[("route", "/checkout"), ("code", "200")]),
                5.0,
            ),
            ("e2e_queue_depth", with(&[]), 7.0),
            ("e2e_utilization_ratio", with(&[]), 0.75),
            ("e2e_latency_seconds_bucket", with(&[("le", "0.1")]), 1.0),
            ("e2e_latency_seconds_bucket", with(&[("le", "0.5")]), 2.0),
            ("e2e_latency_seconds_bucket", with(&[("le", "1")]), 2.0),
            ("e2e_latency_seconds_bucket", with(&[("le", "5")]), 3.0),
            ("e2e_latency_seconds_bucket", with(&[("le", "+Inf")]), 3.0),
            ("e2e_latency_seconds_count", with(&[("route", "/checkout")]), 3.0),
            ("e2e_latency_seconds_sum", with(&[]), 2.75),
            ("e2e_delta_jobs_total", with(&scope), 7.0),
            (
                "target_info",
                vec![
                    ("job", "burnwatch-tests/sdk-e2e"),
                    ("instance", instance),
                    ("deployment_environment", "test"),
                ],
                1.0,
            ),
        ];
        for (name, labels, want) in checks {
            let got = sample_value(&body, name, &labels);
            assert_eq!(got, Some(want), "{instance}: {name} {labels:?} in\n{body}");
        }
        assert!(body.contains("# TYPE e2e_requests_total counter"), "{body}");
        assert!(body.contains("# TYPE e2e_queue_depth gauge"), "{body}");
        assert!(body.contains("# TYPE e2e_latency_seconds histogram"), "{body}");
    }

    // promtool accepts the exposition.
    if let Some(promtool) = require_tool("promtool", "apt-get install prometheus") {
        let (_, body) = http_get(&url).unwrap();
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let problems =
            String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !problems.contains("error"),
            "promtool check metrics:\n{problems}\n{body}"
        );
    }

    let status = collector
        .terminate(Duration::from_secs(20))
        .expect("collector exits after SIGTERM");
    assert!(
        status.success(),
        "exit status {status:?}:\n{}",
        collector.output()
    );
}

#[test]
fn real_prometheus_scrapes_what_the_sdk_sent() {
    let Some(python) = require_python_sdk() else {
        return;
    };
    let Some(prometheus) = require_tool("prometheus", "apt-get install prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let _collector = start_collector(dir.path(), &ports);
    send(&python, "grpc", &format!("127.0.0.1:{}", ports.grpc), "scraped");

    let prom_port = free_port();
    let scrape = write_file(
        dir.path(),
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: burnwatch\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            ports.prom
        ),
    );
    let data = dir.path().join("prom-data");
    let listen = format!("--web.listen-address=127.0.0.1:{prom_port}");
    let config_arg = format!("--config.file={}", scrape.display());
    let data_arg = format!("--storage.tsdb.path={}", data.display());
    let prom = spawn(
        "prometheus",
        &prometheus,
        &[&config_arg, &data_arg, &listen],
        dir.path(),
        &[],
    );

    let query = |q: &str| -> Option<String> {
        let encoded: String = q
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = http_get(&format!(
            "http://127.0.0.1:{prom_port}/api/v1/query?query={encoded}"
        ))?;
        (status == 200).then_some(body)
    };
    let checks = [
        (
            r#"e2e_requests_total{job="burnwatch-tests/sdk-e2e",instance="scraped",route="/checkout"}"#,
            "5",
        ),
        (r#"e2e_queue_depth{instance="scraped"}"#, "7"),
        (r#"e2e_utilization_ratio{instance="scraped"}"#, "0.75"),
        (r#"e2e_delta_jobs_total{instance="scraped"}"#, "7"),
        (
            r#"sum(e2e_latency_seconds_bucket{instance="scraped",le="0.5"})"#,
            "2",
        ),
        (r#"e2e_latency_seconds_count{instance="scraped"}"#, "3"),
    ];
    for (q, want) in checks {
        let body = wait_for(Duration::from_secs(30), || {
            query(q).filter(|b| b.contains(&format!(",\"{want}\"]")))
        });
        assert!(
            body.is_some(),
            "Prometheus query {q} never returned {want}; last answer: {:?}\nprometheus log:\n{}",
            query(q),
            prom.output()
        );
    }
}

#[test]
fn rust_instrumented_example_app_reaches_the_exposition() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let collector = start_collector(dir.path(), &ports);
    // `cargo test` builds the example as a program (it has `test = false`) beside the test
    // binaries.
    let example = burnwatch_bin()
        .parent()
        .unwrap()
        .join("examples/checkout-service");
    assert!(
        example.exists(),
        "{} is missing: run the tests with `cargo test` (it builds examples) or `cargo build --example checkout-service`",
        example.display()
    );
    let out = Command::new(&example)
        .args([
            "--endpoint",
            &format!("http://127.0.0.1:{}", ports.grpc),
            "--requests",
            "300",
            "--error-rate",
            "0.1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let url = format!("http://127.0.0.1:{}/metrics", ports.prom);
    let total = wait_for(Duration::from_secs(15), || {
        let (_, body) = http_get(&url)?;
        let sum: f64 = body
            .lines()
            .filter(|l| {
                l.starts_with("http_server_request_duration_seconds_count{")
                    && l.contains("job=\"shop/checkout\"")
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum();
        (sum == 300.0).then_some(body)
    });
    let body = total.unwrap_or_else(|| {
        panic!(
            "300 requests never showed up:\n{}\n{}",
            http_get(&url).unwrap().1,
            collector.output()
        )
    });
    assert!(body.contains("http_response_status_code=\"503\""), "{body}");
    assert!(body.contains("http_route=\"/api/checkout\""), "{body}");
    let spans = wait_for(Duration::from_secs(15), || {
        telemetry_value(
            &ports,
            "otelcol_receiver_accepted_spans_total",
            &[("transport", "grpc")],
        )
        .filter(|v| *v == 300.0)
    });
    assert_eq!(spans, Some(300.0));
}

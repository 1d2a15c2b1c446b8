//! The `burnwatch collector` command as a user runs it: `validate` errors that name the YAML
//! path, the seed configuration running unchanged, HTTP error statuses, a gzip bomb, and a
//! clean exit on SIGTERM.

mod common;

use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use common::*;

fn validate(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "config.yaml", yaml);
    let out = Command::new(burnwatch_bin())
        .args(["collector", "validate", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn seed() -> String {
    std::fs::read_to_string(repo_root().join("examples/otelcol-seed.yaml")).unwrap()
}

#[test]
fn validate_accepts_the_seed_and_names_the_path_of_each_error() {
    let (ok, text) = validate(&seed());
    assert!(ok, "{text}");
    assert!(text.contains("is valid"), "{text}");

    let cases = [
        (
            seed().replace("timeout: 10s", "timeout: 10s\n    send_batch_max_size: 10"),
            "processors.batch.send_batch_max_size must be >= send_batch_size (8192)",
        ),
        (
            seed().replace("limit_mib: 2000", "limit_mb: 2000"),
            "unknown key 'limit_mb' in processors.memory_limiter; expected one of check_interval, limit_mib",
        ),
        (
            seed().replace("exporters: [otlp/jaeger]", "exporters: [otlp/tempo]"),
            "service.pipelines.traces.exporters[0]: references exporter 'otlp/tempo' which is not defined under exporters",
        ),
        (
            seed().replace("receivers: [otlp]\n      processors: [memory_limiter, batch]\n      exporters: [prometheus]", "receivers: [zipkin]\n      processors: [memory_limiter, batch]\n      exporters: [prometheus]"),
            "service.pipelines.metrics.receivers[0]: references receiver 'zipkin' which is not defined under receivers",
        ),
        (seed().replace("check_interval: 1s", "check_interval: soon"), "processors.memory_limiter.check_interval"),
    ];
    for (yaml, want) in cases {
        let (ok, text) = validate(&yaml);
        assert!(!ok, "expected a failure for {want}");
        assert!(text.contains(want), "expected {want:?} in:\n{text}");
        assert!(!text.contains("panicked"), "{text}");
    }
}

#[test]
fn print_default_config_round_trips_through_validate() {
    let out = Command::new(burnwatch_bin())
        .args(["collector", "print-default-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (ok, text) = validate(&String::from_utf8_lossy(&out.stdout));
    assert!(ok, "{text}");
}

/// The seed binds fixed ports (0.0.0.0:4317, 4318, 8889 and the default telemetry port
/// 8888); this is the only test that uses them.
#[test]
fn seed_config_runs_unchanged_with_an_unreachable_jaeger() {
    let dir = tempfile::tempdir().unwrap();
    let path = repo_root().join("examples/otelcol-seed.yaml");
    let mut collector = spawn(
        "collector",
        &burnwatch_bin(),
        &["collector", "--config", path.to_str().unwrap()],
        dir.path(),
        &[("RUST_LOG", "info")],
    );
    let up = wait_for(Duration::from_secs(30), || {
        http_get("http://127.0.0.1:8889/metrics").filter(|(s, _)| *s == 200)
    });
    assert!(
        up.is_some(),
        "the seed config did not start:\n{}",
        collector.output()
    );

    // A span to the unresolvable jaeger-collector: accepted, then retried and logged.
    let traces = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![opentelemetry_proto::tonic::trace::v1::ResourceSpans {
            scope_spans: vec![opentelemetry_proto::tonic::trace::v1::ScopeSpans {
                spans: vec![opentelemetry_proto::tonic::trace::v1::Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "seed".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let body = prost::Message::encode_to_vec(&traces);
    let resp = http_request(
        "POST",
        "http://127.0.0.1:4318/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &body,
    )
    .expect("the HTTP receiver answers");
    assert_eq!(resp.status, 200, "{}", resp.text());

    // The metrics pipeline keeps serving while the traces exporter cannot connect.
    let logged = wait_for(Duration::from_secs(30), || {
        let out = collector.output();
        out.contains("jaeger-collector").then_some(out)
    });
    assert!(
        logged.is_some(),
        "no log line about the unreachable jaeger-collector:\n{}",
        collector.output()
    );
    let (status, _) = http_get("http://127.0.0.1:8889/metrics").unwrap();
    assert_eq!(status, 200);
    let (status, telemetry) = http_get("http://127.0.0.1:8888/metrics").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        sample_value(
            &telemetry,
            "otelcol_receiver_accepted_spans_total",
            &[("transport", "http")]
        ),
        Some(1.0)
    );

    let status = collector
        .terminate(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", collector.output());
}

#[test]
fn http_receiver_error_statuses_and_gzip_bomb() {
    let dir = tempfile::tempdir().unwrap();
    let (http, prom, tel) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{http}\n        max_request_body_size: 1048576\n\
         exporters:\n  prometheus:\n    endpoint: 127.0.0.1:{prom}\n  debug: {{}}\n\
         service:\n  telemetry:\n    metrics:\n      address: 127.0.0.1:{tel}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n"
    );
    let cfg = write_file(dir.path(), "c.yaml", &yaml);
    let collector = spawn(
        "collector",
        &burnwatch_bin(),
        &["collector", "--config", cfg.to_str().unwrap()],
        dir.path(),
        &[],
    );
    let url = format!("http://127.0.0.1:{http}/v1/traces");
    wait_for(Duration::from_secs(30), || {
        http_request("POST", &url, &[("Content-Type", "application/x-protobuf")], b"")
    })
    .unwrap_or_else(|| panic!("receiver did not start:\n{}", collector.output()));

    let proto = [("Content-Type", "application/x-protobuf")];
    assert_eq!(http_request("GET", &url, &[], b"").unwrap().status, 405);
    assert_eq!(
        http_request("POST", &url, &[("Content-Type", "text/plain")], b"hi")
            .unwrap()
            .status,
        415
    );
    let bad = http_request("POST", &url, &proto, b"\xff\xff\xff\xff garbage").unwrap();
    assert_eq!(bad.status, 400);
    let status: tonic_types_status::Status =
        prost::Message::decode(bad.body.as_slice()).expect("a google.rpc.Status body");
    assert!(!status.message.is_empty());
    let json_bad = http_request(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        b"{not json",
    )
    .unwrap();
    assert_eq!(json_bad.status, 400);
    assert!(json_bad.text().contains("\"message\""), "{}", json_bad.text());
    assert_eq!(
        http_request(
            "POST",
            &url,
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "br")
            ],
            b"x"
        )
        .unwrap()
        .status,
        400
    );
    // Over the limit on the wire.
    assert_eq!(
        http_request("POST", &url, &proto, &vec![0u8; 2 * 1024 * 1024])
            .unwrap()
            .status,
        413
    );
    // A gzip bomb: 64 MiB of zeros in a ~64 KiB body, far under the wire limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024);
    let rss_before = collector.rss_bytes().unwrap();
    let resp = http_request(
        "POST",
        &url,
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
        &bomb,
    )
    .unwrap();
    assert_eq!(resp.status, 413, "{}", resp.text());
    let rss_after = collector.rss_bytes().unwrap();
    assert!(
        rss_after < rss_before + 32 * 1024 * 1024,
        "the bomb inflated memory: {rss_before} -> {rss_after} bytes"
    );
    // Still serving after all that.
    let ok = http_request("POST", &url, &proto, b"").unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
}

/// google.rpc.Status, decoded independently of the collector's own types.
mod tonic_types_status {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
    }
}

/// Regression (issue #12, item 11): `validate` said "is valid" for configurations the
/// collector then could not start with, and an unset `${env:…}` left only an empty value
/// behind.
#[test]
fn validate_fails_a_config_that_cannot_start_and_names_unset_variables() {
    let with_headers = |headers: &str| {
        seed().replace(
            "      insecure: true\n",
            &format!("      insecure: true\n    headers:\n{headers}"),
        )
    };
    // A header value with a newline cannot be sent as gRPC metadata.
    let (ok, text) = validate(&with_headers("      x-token: \"a\\nb\"\n"));
    assert!(!ok, "{text}");
    assert!(
        text.contains("exporters.otlp/jaeger.headers.x-token: the value is not a valid header value"),
        "{text}"
    );

    // An unset variable where a value is required: the error names it.
    let (ok, text) = validate(&seed().replace("jaeger-collector:4317", "${env:BURNWATCH_TEST_NOPE}"));
    assert!(!ok, "{text}");
    assert!(text.contains("${env:BURNWATCH_TEST_NOPE}"), "{text}");
    assert!(text.contains("exporters.otlp/jaeger.endpoint"), "{text}");

    // Where an empty value is valid, the config is valid and the warning names it.
    let (ok, text) = validate(&with_headers("      x-token: \"${env:BURNWATCH_TEST_NOPE}\"\n"));
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "warning: exporters.otlp/jaeger.headers.x-token: ${env:BURNWATCH_TEST_NOPE} is not set; it expands to an empty string"
        ),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

/// `connectors:`: `validate` refuses a cycle through connectors, naming it from a
/// connector as otelcol does, and a connector used on one side only.
#[test]
fn validate_refuses_a_connector_cycle_naming_it() {
    let base = "receivers:\n  otlp:\n    protocols:\n      grpc:\n\
                processors:\n  batch:\n\
                exporters:\n  debug:\n\
                connectors:\n  forward/1:\n  forward/2:\n\
                service:\n  pipelines:\n";
    let cycle = format!(
        "{base}    traces/a:\n      receivers: [otlp, forward/2]\n      exporters: [forward/1, debug]\n\
         \x20   traces/b:\n      receivers: [forward/1]\n      processors: [batch]\n      exporters: [forward/2]\n"
    );
    let (ok, text) = validate(&cycle);
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "service.pipelines: cycle detected: connector \"forward/1\" (traces to traces) -> processor \"batch\" \
             in pipeline \"traces/b\" -> connector \"forward/2\" (traces to traces) -> connector \"forward/1\" (traces to traces)"
        ),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");

    let one_sided = format!(
        "{base}    traces/a:\n      receivers: [otlp]\n      exporters: [forward/1, debug]\n\
         \x20   traces/b:\n      receivers: [forward/1]\n      exporters: [forward/2]\n"
    );
    let (ok, text) = validate(&one_sided);
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "connector \"forward/2\" used as exporter in [traces/b] pipeline but not used in any supported receiver pipeline"
        ),
        "{text}"
    );

    let joined = format!(
        "{base}    traces/a:\n      receivers: [otlp]\n      exporters: [forward/1]\n\
         \x20   traces/b:\n      receivers: [forward/1]\n      processors: [batch]\n      exporters: [debug]\n"
    );
    let (ok, text) = validate(&joined);
    assert!(ok, "{text}");
}

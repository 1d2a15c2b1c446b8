//! The resource, attributes, filter and resourcedetection processors end to end: the real
//! OpenTelemetry Python SDK (tests/python/send_for_processors.py) sends spans, metrics and
//! logs over OTLP/gRPC through `burnwatch collector`, and the debug exporter's lines show
//! what a user would see: attributes added, deleted, hashed and extracted, resources
//! detected, items filtered. Config errors are checked through `collector validate`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn config(grpc: u16, health: u16) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  resourcedetection:
    detectors: [env, k8sdownward]
  resource:
    attributes:
      - {{key: deployment.environment, value: prod, action: upsert}}
      - {{key: secret.token, action: delete}}
  attributes:
    actions:
      - {{key: password, action: delete}}
      - {{key: user.email, action: hash}}
      - {{key: http.url, pattern: '^https://(?P<http.host>[^/?]+)', action: extract}}
  filter:
    error_mode: ignore
    traces:
      span: ['attributes["http.route"] == "/health"']
    metrics:
      metric: ['name == "proc.dropped"']
      datapoint: ['attributes["env"] == "test"']
    logs:
      log_record: ['severity_number < SEVERITY_NUMBER_INFO']
exporters:
  debug:
    verbosity: normal
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [resourcedetection, resource, attributes, filter]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      processors: [resourcedetection, resource, attributes, filter]
      exporters: [debug]
    logs:
      receivers: [otlp]
      processors: [resourcedetection, resource, attributes, filter]
      exporters: [debug]
"#
    )
}

fn send(python: &Path, grpc: u16) {
    let out = Command::new(python)
        .arg(repo_root().join("tests/python/send_for_processors.py"))
        .args(["--endpoint", &format!("127.0.0.1:{grpc}")])
        .output()
        .expect("run the Python sender");
    assert!(
        out.status.success(),
        "the Python SDK sender failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_sdk_data_is_enriched_rewritten_and_filtered() {
    let Some(python) = require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (grpc, health) = (free_port(), free_port());
    let cfg = write_file(dir.path(), "collector.yaml", &config(grpc, health));
    let collector = spawn(
        "collector",
        &burnwatch_bin(),
        &["collector", "--config", cfg.to_str().unwrap()],
        dir.path(),
        &[
            // `env`: percent-decoded (%2C is a comma); `k8sdownward`: the downward API's variable.
            ("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=checkout-7d9f%2Ca"),
            ("K8S_NAMESPACE_NAME", "shop"),
        ],
    );
    wait_for(Duration::from_secs(60), || {
        http_get(&format!("http://127.0.0.1:{health}/")).filter(|(s, _)| *s == 200)
    })
    .unwrap_or_else(|| panic!("collector did not become healthy:\n{}", collector.output()));

    send(&python, grpc);

    // The SDK exported everything before it exited; wait for the last of it to be logged.
    let expected = [
        // One resource line per signal: detected and upserted attributes, the secret gone.
        "service.name=checkout k8s.pod.name=checkout-7d9f,a k8s.namespace.name=shop deployment.environment=prod",
        // The span that stays: password deleted, e-mail hashed (SHA-256), host extracted.
        "http.route=/orders user.email=71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476 http.url=https://shop.example.com/orders?id=7 http.host=shop.example.com",
        // The metric point that stays.
        "proc.requests{env=prod} 5",
        // The log record that stays.
        "INFO order placed order.id=7",
    ];
    let log = wait_for(Duration::from_secs(60), || {
        let log = collector.output();
        expected.iter().all(|line| log.contains(line)).then_some(log)
    })
    .unwrap_or_else(|| {
        panic!(
            "expected lines missing from the debug exporter's output:\n{}",
            collector.output()
        )
    });
    let resource_lines = log
        .lines()
        .filter(|l| l.contains("deployment.environment=prod"))
        .count();
    assert_eq!(resource_lines, 3, "one resource per signal:\n{log}");
    // What the processors removed appears nowhere: the health span, the test point, the
    // dropped metric, the debug log, the deleted attributes.
    for absent in [
        "GET /health",
        "env=test",
        "proc.dropped",
        "debug detail",
        "password",
        "hunter2",
        "secret.token",
    ] {
        assert!(
            !log.contains(absent),
            "{absent:?} should have been removed:\n{log}"
        );
    }
}

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

fn with_processor(processor: &str) -> String {
    format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:4317}}}}}}}}\n\
         processors:\n{processor}\n\
         exporters: {{debug: {{}}}}\n\
         service: {{pipelines: {{traces: {{receivers: [otlp], processors: [p], exporters: [debug]}}}}}}\n"
    )
}

#[test]
fn unsupported_ottl_and_actions_are_refused_by_name_at_load() {
    let cases = [
        (
            "  filter:\n    traces:\n      span: ['IsRootSpan()']",
            "filter",
            "processors.filter.traces.span[0]: at byte 0: unsupported function 'IsRootSpan'; supported functions: IsMatch",
        ),
        (
            "  filter:\n    logs:\n      log_record: ['body == \"x\" and links == 2']",
            "filter",
            "processors.filter.logs.log_record[0]: at byte 16: unsupported path 'links' in logs.log_record; supported paths: body,",
        ),
        (
            "  attributes:\n    actions: [{key: a, from_context: metadata.tenant, action: insert}]",
            "attributes",
            "processors.attributes.actions[0].from_context is not supported by burnwatch",
        ),
        (
            "  resourcedetection:\n    detectors: [ec2]",
            "resourcedetection",
            "processors.resourcedetection.detectors[0] is \"ec2\", which burnwatch does not support; supported detectors: env, system, k8snode, k8sdownward",
        ),
    ];
    for (processor, kind, message) in cases {
        let yaml = with_processor(processor).replace("processors: [p]", &format!("processors: [{kind}]"));
        let (ok, text) = validate(&yaml);
        assert!(!ok, "validate accepted:\n{yaml}");
        assert!(text.contains(message), "expected {message:?} in:\n{text}");
    }
}

//! Configuration: the YAML a user of the contrib exporter writes loads unchanged, and bad
//! values are refused naming their key.

use std::time::Duration;

use crate::config::ComponentId;
use crate::exporters::ExporterConfig;
use crate::otelcol::Config;

fn no_env(_: &str) -> Option<String> {
    None
}

fn yaml(exporter: &str) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n\
         exporters:\n  prometheusremotewrite:\n{exporter}\n\
         service:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheusremotewrite]\n"
    )
}

fn load(exporter: &str) -> Result<Config, String> {
    Config::from_yaml_with_env(&yaml(exporter), &no_env).map_err(|e| e.to_string())
}

#[test]
fn the_contrib_exporters_keys_load_with_their_values() {
    let config = load(
        "    endpoint: https://mimir.example:9009/api/v1/push
    headers:
      X-Scope-OrgID: team-a
    timeout: 10s
    tls:
      insecure_skip_verify: true
    namespace: app
    external_labels:
      cluster: eu-1
    resource_to_telemetry_conversion:
      enabled: true
    add_metric_suffixes: false
    send_metadata: true
    target_info:
      enabled: false
    max_batch_size_bytes: 1000000
    remote_write_queue:
      enabled: true
      queue_size: 2000
      num_consumers: 3
    retry_on_failure:
      enabled: true
      initial_interval: 100ms
      max_interval: 1s
      max_elapsed_time: 5m
    wal:
      directory: /tmp/prw-wal
      buffer_size: 50
      truncate_frequency: 30s",
    )
    .unwrap();
    let id = ComponentId::parse("prometheusremotewrite").unwrap();
    let ExporterConfig::PrometheusRemoteWrite(c) = &config.exporters[&id] else {
        panic!("expected prometheusremotewrite");
    };
    assert_eq!(c.endpoint, "https://mimir.example:9009/api/v1/push");
    assert_eq!(c.headers["X-Scope-OrgID"], "team-a");
    assert_eq!(c.timeout.0, Duration::from_secs(10));
    assert!(c.tls.insecure_skip_verify);
    assert_eq!(c.external_labels["cluster"], "eu-1");
    assert!(c.resource_to_telemetry_conversion.enabled);
    assert!(!c.add_metric_suffixes && c.send_metadata && !c.target_info.enabled);
    assert_eq!(c.max_batch_size_bytes, 1_000_000);
    assert_eq!(
        (
            c.remote_write_queue.queue_size,
            c.remote_write_queue.num_consumers
        ),
        (2000, 3)
    );
    assert_eq!(c.retry_policy().max_elapsed_time, Some(Duration::from_secs(300)));
    let wal = c.wal_config().unwrap();
    assert_eq!(
        (wal.buffer_size, wal.truncate_frequency),
        (50, Duration::from_secs(30))
    );
    assert_eq!(c.queue_bytes(), super::config::MAX_QUEUE_BYTES);
}

#[test]
fn defaults_are_the_contrib_exporters() {
    let config = load("    endpoint: http://localhost:9090/api/v1/write").unwrap();
    let id = ComponentId::parse("prometheusremotewrite").unwrap();
    let ExporterConfig::PrometheusRemoteWrite(c) = &config.exporters[&id] else {
        panic!("expected prometheusremotewrite");
    };
    assert_eq!(c.timeout.0, Duration::from_secs(5));
    assert_eq!(c.max_batch_size_bytes, 3_000_000);
    assert_eq!(
        (
            c.remote_write_queue.queue_size,
            c.remote_write_queue.num_consumers
        ),
        (10_000, 5)
    );
    assert!(c.add_metric_suffixes && !c.send_metadata && c.target_info.enabled);
    let retry = c.retry_policy();
    assert_eq!(
        (retry.initial_interval, retry.max_interval, retry.max_elapsed_time),
        (
            Duration::from_millis(50),
            Duration::from_millis(200),
            Some(Duration::from_secs(60))
        )
    );
    assert!(c.wal.is_none());
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    for (exporter, want) in [
        (
            "    endpoint: http://x/y\n    nope: 1",
            "exporters.prometheusremotewrite",
        ),
        (
            "    endpoint: http://x/y\n    wal:\n      directory: d\n      size: 3",
            "wal",
        ),
        (
            "    endpoint: http://x/y\n    remote_write_queue:\n      workers: 3",
            "remote_write_queue",
        ),
        (
            "    endpoint: localhost:9090",
            "exporters.prometheusremotewrite.endpoint",
        ),
        ("    headers: {}", "endpoint"),
        (
            "    endpoint: http://x/y\n    external_labels:\n      __x: y",
            "exporters.prometheusremotewrite.external_labels.__x",
        ),
        (
            "    endpoint: http://x/y\n    external_labels:\n      a: ''",
            "exporters.prometheusremotewrite.external_labels.a",
        ),
        (
            "    endpoint: http://x/y\n    headers:\n      Content-Type: text/plain",
            "exporters.prometheusremotewrite.headers.Content-Type",
        ),
        (
            "    endpoint: http://x/y\n    remote_write_queue:\n      num_consumers: 0",
            "exporters.prometheusremotewrite.remote_write_queue.num_consumers",
        ),
        (
            "    endpoint: http://x/y\n    remote_write_queue:\n      enabled: false",
            "exporters.prometheusremotewrite.remote_write_queue.enabled",
        ),
        (
            "    endpoint: http://x/y\n    wal:\n      directory: ''",
            "exporters.prometheusremotewrite.wal.directory",
        ),
        (
            "    endpoint: http://x/y\n    retry_on_failure:\n      multiplier: 0.5",
            "exporters.prometheusremotewrite.retry_on_failure.multiplier",
        ),
    ] {
        let err = load(exporter).unwrap_err();
        assert!(err.contains(want), "{exporter:?}: {err}");
    }
}

#[test]
fn the_exporter_takes_metrics_only() {
    let err = Config::from_yaml_with_env(
        &yaml("    endpoint: http://x/y").replace("metrics:", "traces:"),
        &no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("prometheusremotewrite"), "{err}");
}

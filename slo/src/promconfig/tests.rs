//! Tests of the prometheus.yml model: a round trip of the file a user would write, and errors
//! naming the key.

use std::time::Duration;

use super::*;

const FULL: &str = r#"
global:
  scrape_interval: 15s
  scrape_timeout: 5s
  evaluation_interval: 30s
  external_labels:
    cluster: eu-1
rule_files:
  - rules/*.yml
  - /etc/prometheus/extra.yml
scrape_configs:
  - job_name: node
    scrape_interval: 1m30s
    metrics_path: /custom
    scheme: https
    params:
      module: [http_2xx]
    honor_labels: true
    honor_timestamps: false
    sample_limit: 1000
    label_limit: 30
    label_name_length_limit: 100
    label_value_length_limit: 200
    body_size_limit: 10MB
    follow_redirects: false
    enable_http2: false
    basic_auth:
      username: scraper
      password: s3cret
    tls_config:
      insecure_skip_verify: true
      server_name: node.internal
    static_configs:
      - targets: ['localhost:9100', 'db']
        labels:
          env: prod
    file_sd_configs:
      - files: ['targets/*.json', 'more.yml']
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [__address__]
        modulus: 4
        target_label: __tmp_hash
        action: hashmod
      - source_labels: [__tmp_hash]
        regex: '0'
        action: keep
    metric_relabel_configs:
      - regex: 'go_.*'
        source_labels: [__name__]
        action: drop
  - job_name: api
    authorization:
      credentials: tok
alerting:
  alert_relabel_configs:
    - regex: replica
      action: labeldrop
  alertmanagers:
    - static_configs:
        - targets: ['am:9093']
      path_prefix: /alertmanager
      timeout: 5s
remote_write:
  - url: http://mimir:9009/api/v1/push
    name: mimir
    headers:
      X-Scope-OrgID: team-a
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'up'
        action: drop
    queue_config:
      max_samples_per_send: 1000
"#;

#[test]
fn prometheus_yml_round_trip_with_defaults() {
    let cfg = PrometheusConfig::parse_in(FULL, Some("/etc/prometheus".into())).unwrap();
    assert_eq!(cfg.global.scrape_interval, PromDuration::secs(15));
    assert_eq!(cfg.global.evaluation_interval, PromDuration::secs(30));
    assert_eq!(cfg.global.external_labels["cluster"], "eu-1");
    let node = &cfg.scrape_configs[0];
    assert_eq!(
        cfg.interval_and_timeout(node),
        (Duration::from_secs(90), Duration::from_secs(5))
    );
    assert_eq!(node.scheme, "https");
    assert_eq!(node.params["module"], vec!["http_2xx".to_string()]);
    assert_eq!((node.sample_limit, node.label_limit), (1000, 30));
    assert_eq!(node.body_size_limit, ByteSize(10 << 20));
    assert!(!node.follow_redirects && node.tls_config.insecure_skip_verify);
    assert_eq!(
        node.basic_auth.as_ref().unwrap().password,
        Some(Secret("s3cret".into()))
    );
    assert_eq!(node.file_sd_configs[0].refresh_interval, PromDuration::secs(60));
    assert_eq!(node.relabel_configs.len(), 2);
    let api = &cfg.scrape_configs[1];
    assert_eq!(api.metrics_path, "/metrics");
    assert!(api.honor_timestamps && !api.honor_labels && api.follow_redirects);
    assert_eq!(
        cfg.resolve("rules/a.yml"),
        std::path::PathBuf::from("/etc/prometheus/rules/a.yml")
    );
    assert_eq!(cfg.resolve("/abs.yml"), std::path::PathBuf::from("/abs.yml"));
    let am = &cfg.alerting.alertmanagers[0];
    assert_eq!(am.api_version, "v2");
    assert_eq!(
        am.urls(),
        vec!["http://am:9093/alertmanager/api/v2/alerts".to_string()]
    );
    let rw = &cfg.remote_write[0];
    assert_eq!(rw.remote_timeout, PromDuration::secs(30));
    assert_eq!(rw.queue_config.max_samples_per_send, 1000);
    assert_eq!(
        rw.queue_config.min_backoff,
        PromDuration(Duration::from_millis(30))
    );
    // Secrets never print.
    assert!(!format!("{cfg:?}").contains("s3cret"));
}

#[test]
fn rule_file_globs_expand_sorted_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    for f in ["b.yml", "a.yml", "c.txt"] {
        std::fs::write(dir.path().join("rules").join(f), "groups: []\n").unwrap();
    }
    let cfg = PrometheusConfig::parse_in(
        "rule_files: ['rules/*.yml', 'rules/a.yml']\n",
        Some(dir.path().to_path_buf()),
    )
    .unwrap();
    let got = cfg.rule_file_paths().unwrap();
    assert_eq!(
        got,
        vec![dir.path().join("rules/a.yml"), dir.path().join("rules/b.yml")]
    );
}

#[test]
fn go_duration_strings() {
    let s = |ms: u64| PromDuration(Duration::from_millis(ms)).to_string();
    assert_eq!(s(0), "0s");
    assert_eq!(s(15_000), "15s");
    assert_eq!(s(90_000), "1m30s");
    assert_eq!(s(1500), "1s500ms");
    assert_eq!(s(86_400_000 * 90), "90d");
    assert_eq!(s(86_400_000 * 14), "2w");
    assert_eq!(s(3_600_000 * 25), "1d1h");
}

#[test]
fn errors_name_the_key_and_what_is_supported() {
    let cases = [
        (
            "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: [{role: pod}]\n",
            "scrape_configs[0].kubernetes_sd_configs",
            &["does not support", "`static_configs`", "`file_sd_configs`"][..],
        ),
        (
            "scrape_configs:\n  - job_name: c\n    consul_sd_configs: [{server: 'localhost:8500'}]\n",
            "scrape_configs[0].consul_sd_configs",
            &["does not support", "`static_configs`"],
        ),
        (
            "remote_read: [{url: 'http://x'}]\n",
            "remote_read",
            &["does not support", "`remote_write`"],
        ),
        (
            "storage:\n  tsdb:\n    out_of_order_time_window: 1h\n",
            "storage",
            &["does not support"],
        ),
        (
            "global:\n  query_log_file: q.log\n",
            "global.query_log_file",
            &["does not support", "`evaluation_interval`"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    proxy_url: http://p:3128\n",
            "scrape_configs[0].proxy_url",
            &["does not support"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    tls_config:\n      min_version: TLS12\n",
            "scrape_configs[0].tls_config.min_version",
            &["does not support", "`ca_file`"],
        ),
        (
            "remote_write:\n  - url: http://x/\n    sigv4: {region: eu}\n",
            "remote_write[0].sigv4",
            &["does not support"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    bogus: 1\n",
            "scrape_configs[0].bogus",
            &["unknown field"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    scheme: ftp\n",
            "scrape_configs[0].scheme",
            &["\"http\" or \"https\""],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
            "scrape_configs[0].scrape_timeout",
            &["greater than"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    scrape_interval: 5 seconds\n",
            "scrape_configs[0].scrape_interval",
            &["invalid duration \"5 seconds\""],
        ),
        (
            "global:\n  scrape_timeout: soon\n",
            "global.scrape_timeout",
            &["invalid duration"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: ['http://a:1/m']\n",
            "scrape_configs[0].static_configs[0].targets[0]",
            &["host:port"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n  - job_name: x\n",
            "scrape_configs[1].job_name",
            &["twice"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: hashmod\n        target_label: t\n",
            "scrape_configs[0].relabel_configs[0]",
            &["requires non-zero modulus"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    metric_relabel_configs:\n      - action: Explode\n",
            "scrape_configs[0].metric_relabel_configs[0]",
            &["unknown relabel action \"Explode\""],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    file_sd_configs:\n      - files: ['targets.txt']\n",
            "scrape_configs[0].file_sd_configs[0].files[0]",
            &["not valid for file discovery"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    basic_auth: {username: u, password: p, password_file: f}\n",
            "scrape_configs[0].basic_auth",
            &["at most one of basic_auth password & password_file"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    authorization: {type: Basic, credentials: c}\n",
            "scrape_configs[0].authorization.type",
            &["use \"basic_auth\" instead"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    basic_auth: {username: u}\n    authorization: {credentials: c}\n",
            "scrape_configs[0]",
            &["at most one of basic_auth"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    tls_config: {cert_file: /etc/hostname}\n",
            "scrape_configs[0].tls_config.key_file",
            &["key_file must be configured"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    tls_config: {ca_file: /nonexistent/ca.pem}\n",
            "scrape_configs[0].tls_config.ca_file",
            &["/nonexistent/ca.pem"],
        ),
        (
            "scrape_configs:\n  - job_name: x\n    body_size_limit: lots\n",
            "scrape_configs[0].body_size_limit",
            &["invalid size"],
        ),
        (
            "alerting:\n  alertmanagers:\n    - api_version: v1\n",
            "alerting.alertmanagers[0].api_version",
            &["only \"v2\""],
        ),
        (
            "alerting:\n  alert_relabel_configs:\n    - action: labeldrop\n      regex: a\n      separator: ','\n",
            "alerting.alert_relabel_configs[0]",
            &["requires only 'regex'"],
        ),
        (
            "remote_write:\n  - url: http://x/\n    headers: {Content-Type: text/plain}\n",
            "remote_write[0].headers.Content-Type",
            &["reserved header"],
        ),
        (
            "remote_write:\n  - url: not a url\n",
            "remote_write[0].url",
            &["not a URL"],
        ),
        (
            "remote_write:\n  - url: http://a/\n    name: x\n  - url: http://b/\n    name: x\n",
            "remote_write[1].name",
            &["multiple remote write configs"],
        ),
        (
            "global:\n  external_labels: {'1a': x}\n",
            "global.external_labels.1a",
            &["not a valid label name"],
        ),
        (
            "rule_files: ['[']\n",
            "rule_files[0]",
            &["invalid rule file path"],
        ),
    ];
    for (yaml, path, words) in cases {
        let err = PrometheusConfig::parse(yaml).unwrap_err();
        assert_eq!(err.path(), path, "{yaml}: {err}");
        for w in words {
            assert!(err.to_string().contains(w), "{yaml}: {err} lacks {w}");
        }
    }
    let missing = PrometheusConfig::load(std::path::Path::new("/nonexistent/prometheus.yml")).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/prometheus.yml"),
        "{missing}"
    );
}

#[test]
fn byte_sizes_are_base_2() {
    assert_eq!(ByteSize::parse("0"), Ok(ByteSize(0)));
    assert_eq!(ByteSize::parse("512"), Ok(ByteSize(512)));
    assert_eq!(ByteSize::parse("1KB"), Ok(ByteSize(1024)));
    assert_eq!(ByteSize::parse("100MiB"), Ok(ByteSize(100 << 20)));
    assert!(ByteSize::parse("1XB").is_err() && ByteSize::parse("").is_err());
}

#[test]
fn alerting_becomes_the_notifiers_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "t").unwrap();
    let yaml = "alerting:\n  alert_relabel_configs:\n    - regex: replica\n      action: labeldrop\n  alertmanagers:\n    - static_configs:\n        - targets: ['am1:9093', 'skip:9093']\n      relabel_configs:\n        - source_labels: [__address__]\n          regex: 'skip:.*'\n          action: drop\n      path_prefix: /am\n      scheme: https\n      timeout: 3s\n      authorization:\n        credentials_file: token\n    - static_configs:\n        - targets: ['am2:9093']\n      basic_auth: {username: u, password: p}\n";
    let cfg = PrometheusConfig::parse_in(yaml, Some(dir.path().to_path_buf())).unwrap();
    let (ams, hook) = cfg.alerting.notifier_configs(&cfg).unwrap();
    assert_eq!(ams.len(), 2);
    assert_eq!(ams[0].targets, vec!["am1:9093".to_string()]);
    assert_eq!(ams[0].scheme, crate::notifier::Scheme::Https);
    assert_eq!(
        (ams[0].path_prefix.as_str(), ams[0].timeout),
        ("/am", Duration::from_secs(3))
    );
    assert_eq!(
        ams[0].auth,
        Some(crate::notifier::Auth::Authorization {
            kind: "Bearer".into(),
            credentials: crate::notifier::Secret::File(dir.path().join("token")),
        })
    );
    assert!(matches!(&ams[1].auth, Some(crate::notifier::Auth::Basic { username, .. }) if username == "u"));
    let hook = hook.unwrap();
    let mut labels: std::collections::BTreeMap<String, String> = [
        ("alertname".to_string(), "A".to_string()),
        ("replica".to_string(), "1".to_string()),
    ]
    .into();
    assert!(hook(&mut labels));
    assert_eq!(labels.len(), 1);

    let err = PrometheusConfig::parse(
        "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['a:1']}]\n      tls_config: {server_name: x}\n",
    )
    .unwrap();
    let e = err.alerting.notifier_configs(&err).err().unwrap();
    assert_eq!(e.path(), "alerting.alertmanagers[0].tls_config.server_name");
}

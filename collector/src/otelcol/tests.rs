use super::*;

const SEED: &str = include_str!("../../../examples/otelcol-seed.yaml");

fn no_env(_: &str) -> Option<String> {
    None
}

fn err(yaml: &str) -> String {
    Config::from_yaml_with_env(yaml, &no_env).unwrap_err().to_string()
}

#[test]
fn seed_config_loads_unchanged() {
    let config = Config::from_yaml_with_env(SEED, &no_env).unwrap();
    assert_eq!(config.pipelines.len(), 2);
    let jaeger = ComponentId::parse("otlp/jaeger").unwrap();
    match &config.exporters[&jaeger] {
        ExporterConfig::Otlp(c) => {
            assert_eq!(c.endpoint, "jaeger-collector:4317");
            assert!(c.tls.insecure);
        }
        other => panic!("expected an otlp exporter, got {other:?}"),
    }
    let ml = ComponentId::parse("memory_limiter").unwrap();
    match &config.processors[&ml] {
        ProcessorConfig::MemoryLimiter(c) => assert_eq!(c.limit_mib, 2000),
        other => panic!("expected memory_limiter, got {other:?}"),
    }
    let batch = ComponentId::parse("batch").unwrap();
    match &config.processors[&batch] {
        ProcessorConfig::Batch(c) => {
            assert_eq!(c.timeout.0, std::time::Duration::from_secs(10));
            assert_eq!(c.send_batch_size, 8192);
        }
        other => panic!("expected batch, got {other:?}"),
    }
    let otlp = ComponentId::parse("otlp").unwrap();
    let ReceiverConfig::Otlp(r) = &config.receivers[&otlp];
    assert_eq!(r.protocols.grpc.as_ref().unwrap().endpoint, "0.0.0.0:4317");
    assert_eq!(r.protocols.http.as_ref().unwrap().endpoint, "0.0.0.0:4318");
}

#[test]
fn default_config_is_valid_and_binds_localhost() {
    let config = Config::default_config();
    assert_eq!(config.pipelines.len(), 3);
    let ReceiverConfig::Otlp(r) = &config.receivers[&ComponentId::parse("otlp").unwrap()];
    assert_eq!(r.protocols.grpc.as_ref().unwrap().endpoint, "localhost:4317");
    assert_eq!(
        config.telemetry.metrics_endpoint().as_deref(),
        Some("localhost:8888")
    );
}

#[test]
fn batch_max_size_smaller_than_size_names_the_key() {
    let yaml = SEED.replace("timeout: 10s", "timeout: 10s\n    send_batch_max_size: 100");
    assert_eq!(
        err(&yaml),
        "processors.batch.send_batch_max_size must be >= send_batch_size (8192)"
    );
}

#[test]
fn unknown_key_lists_the_expected_ones() {
    let yaml = SEED.replace("limit_mib: 2000", "limit_mb: 2000");
    let message = err(&yaml);
    assert!(
        message.starts_with(
            "unknown key 'limit_mb' in processors.memory_limiter; expected one of check_interval, limit_mib"
        ),
        "{message}"
    );
}

#[test]
fn pipeline_naming_an_undefined_component_is_rejected() {
    let yaml = SEED.replace("exporters: [prometheus]", "exporters: [prometheus, otlp/tempo]");
    assert_eq!(
        err(&yaml),
        "service.pipelines.metrics.exporters[1]: references exporter 'otlp/tempo' which is not defined under exporters"
    );
}

#[test]
fn unknown_component_type_is_rejected() {
    // groupbytrace: an otelcol-contrib processor burnwatch does not have.
    let yaml = SEED.replace("  batch:\n", "  groupbytrace:\n    wait_duration: 1s\n  batch:\n");
    let message = err(&yaml);
    assert!(
        message.contains("processors.groupbytrace: unknown processor type 'groupbytrace'"),
        "{message}"
    );
}

#[test]
fn prometheus_exporter_in_a_traces_pipeline_is_rejected() {
    let yaml = SEED.replace("exporters: [otlp/jaeger]", "exporters: [prometheus]");
    assert!(err(&yaml).contains("exporter 'prometheus' does not support traces"));
}

#[test]
fn env_references_expand_with_defaults_and_types() {
    let yaml = SEED
        .replace("limit_mib: 2000", "limit_mib: ${env:LIMIT}")
        .replace(
            "jaeger-collector:4317",
            "${env:JAEGER_HOST:-jaeger}:${JAEGER_PORT}",
        );
    let lookup = |name: &str| match name {
        "LIMIT" => Some("128".to_string()),
        "JAEGER_PORT" => Some("14317".to_string()),
        _ => None,
    };
    let config = Config::from_yaml_with_env(&yaml, &lookup).unwrap();
    match &config.processors[&ComponentId::parse("memory_limiter").unwrap()] {
        ProcessorConfig::MemoryLimiter(c) => assert_eq!(c.limit_mib, 128),
        other => panic!("{other:?}"),
    }
    match &config.exporters[&ComponentId::parse("otlp/jaeger").unwrap()] {
        ExporterConfig::Otlp(c) => assert_eq!(c.endpoint, "jaeger:14317"),
        other => panic!("{other:?}"),
    }
}

/// Regression (issue #12, item 11): an unset `${env:NOPE}` expands to an empty string,
/// as the OTel Collector's env provider does, but the variable is named: in the error
/// when the empty value is invalid, and in the warnings kept for the caller otherwise.
#[test]
fn unset_env_variables_are_named_in_errors_and_warnings() {
    let unset = |_: &str| None;
    let yaml = SEED.replace("jaeger-collector:4317", "${env:NOPE}");
    let message = Config::from_yaml_with_env(&yaml, &unset).unwrap_err().to_string();
    assert!(message.contains("exporters.otlp/jaeger.endpoint"), "{message}");
    assert!(message.contains("${env:NOPE}"), "{message}");
    assert!(message.contains("not set"), "{message}");

    let yaml = SEED.replace("limit_mib: 2000", "limit_mib: ${env:LIMIT_MIB}");
    let message = Config::from_yaml_with_env(&yaml, &unset).unwrap_err().to_string();
    assert!(
        message.contains("processors.memory_limiter.limit_mib"),
        "{message}"
    );
    assert!(message.contains("${env:LIMIT_MIB}"), "{message}");

    // Valid with the empty value: the config loads and the reference is reported.
    let yaml = SEED.replace(
        "      insecure: true\n",
        "      insecure: true\n    headers:\n      x-token: \"Bearer ${env:TOKEN}\"\n",
    );
    let config = Config::from_yaml_with_env(&yaml, &unset).unwrap();
    assert_eq!(
        config.unset_env,
        vec![UnsetVariable {
            name: "TOKEN".into(),
            path: "exporters.otlp/jaeger.headers.x-token".into(),
        }]
    );
    assert_eq!(
        config.unset_env[0].to_string(),
        "exporters.otlp/jaeger.headers.x-token: ${env:TOKEN} is not set; it expands to an empty string"
    );
    // An unrelated error does not mention the variable.
    let yaml = yaml.replace("limit_mib: 2000", "limit_mib: lots");
    let message = Config::from_yaml_with_env(&yaml, &unset).unwrap_err().to_string();
    assert!(!message.contains("TOKEN"), "{message}");
}

/// Regression (issue #12, item 11): `collector validate` accepted exporter headers the
/// exporter then refused to build with, so the collector failed at start.
#[test]
fn exporter_headers_that_cannot_be_sent_fail_validation() {
    let with_header = |value: &str| {
        SEED.replace(
            "      insecure: true\n",
            &format!("      insecure: true\n    headers:\n      {value}\n"),
        )
    };
    let message = err(&with_header("x-token: \"a\\nb\""));
    assert!(
        message.starts_with("exporters.otlp/jaeger.headers.x-token: the value is not a valid header value"),
        "{message}"
    );
    let message = err(&with_header("\"bad name\": v"));
    assert!(
        message.contains("headers.bad name: the name is not a valid header name"),
        "{message}"
    );
    let otlphttp = SEED
        .replace(
            "  otlp/jaeger:\n    endpoint: jaeger-collector:4317\n    tls:\n      insecure: true\n",
            "  otlphttp:\n    endpoint: http://tempo:4318\n    headers:\n      authorization: \"x\\u0001y\"\n",
        )
        .replace("exporters: [otlp/jaeger]", "exporters: [otlphttp]");
    let message = err(&otlphttp);
    assert!(
        message
            .starts_with("exporters.otlphttp.headers.authorization: the value is not a valid header value"),
        "{message}"
    );
    assert!(Config::from_yaml(&with_header("x-token: \"fine value\"")).is_ok());
}

#[test]
fn unsupported_provider_names_the_path() {
    let yaml = SEED.replace("limit_mib: 2000", "limit_mib: ${file:/etc/limit}");
    assert!(
        err(&yaml).starts_with("processors.memory_limiter.limit_mib: unsupported config provider 'file'")
    );
}

#[test]
fn broken_yaml_reports_a_line() {
    let message = err("receivers:\n  otlp: [unclosed\n");
    assert!(message.contains("invalid YAML: line"), "{message}");
}

#[test]
fn wrong_type_names_the_key() {
    let yaml = SEED.replace("limit_mib: 2000", "limit_mib: lots");
    let message = err(&yaml);
    assert!(
        message.starts_with("processors.memory_limiter.limit_mib: invalid type"),
        "{message}"
    );
}

#[test]
fn bad_duration_names_the_key() {
    let yaml = SEED.replace("timeout: 10s", "timeout: 10 seconds");
    let message = err(&yaml);
    assert!(message.starts_with("processors.batch.timeout: "), "{message}");
}

#[test]
fn missing_service_is_an_error() {
    assert_eq!(
        err("receivers:\n  otlp:\n    protocols:\n      grpc:\n"),
        "service is required (it lists the pipelines to run)"
    );
}

#[test]
fn telemetry_readers_form_is_understood() {
    let yaml = format!(
        "{SEED}  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus:\n                host: 127.0.0.1\n                port: 9999\n"
    );
    let config = Config::from_yaml_with_env(&yaml, &no_env).unwrap();
    assert_eq!(
        config.telemetry.metrics_endpoint().as_deref(),
        Some("127.0.0.1:9999")
    );
}

/// A config with the OTLP receiver's gRPC side naming `authenticator`, `extensions` as
/// given and `service.extensions` listing `enabled`.
fn with_auth(authenticator: &str, extensions: &str, enabled: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        auth:
          authenticator: {authenticator}
      http:
exporters:
  debug:
extensions:
{extensions}
service:
  extensions: [{enabled}]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#
    )
}

#[test]
fn receiver_auth_round_trips_with_both_authenticators() {
    let yaml = with_auth(
        "basicauth/users",
        "  basicauth/users:\n    htpasswd:\n      inline: |\n        bob:pw\n  bearertokenauth:\n    scheme: Token\n    token: s3cret\n",
        "basicauth/users, bearertokenauth",
    );
    let config = Config::from_yaml_with_env(&yaml, &no_env).unwrap();
    let ReceiverConfig::Otlp(otlp) = &config.receivers[&ComponentId::parse("otlp").unwrap()];
    let auth = otlp.protocols.grpc.as_ref().unwrap().auth.as_ref().unwrap();
    assert_eq!(auth.authenticator, "basicauth/users");
    assert!(otlp.protocols.http.as_ref().unwrap().auth.is_none());
    match &config.extensions[&ComponentId::parse("bearertokenauth").unwrap()] {
        ExtensionConfig::BearerTokenAuth(c) => {
            assert_eq!((c.scheme.as_str(), c.token.as_deref()), ("Token", Some("s3cret")));
            assert_eq!(c.header, "Authorization");
        }
        other => panic!("expected bearertokenauth, got {other:?}"),
    }
}

#[test]
fn receiver_auth_naming_an_undefined_extension_names_the_path() {
    let yaml = with_auth(
        "basicauth/x",
        "  bearertokenauth:\n    token: t\n",
        "bearertokenauth",
    );
    assert_eq!(
        err(&yaml),
        "receivers.otlp.protocols.grpc.auth.authenticator: extension \"basicauth/x\" is not defined in extensions"
    );
}

#[test]
fn receiver_auth_naming_a_disabled_extension_names_the_path() {
    let yaml = with_auth(
        "bearertokenauth",
        "  bearertokenauth:\n    token: t\n  health_check:\n",
        "health_check",
    );
    assert_eq!(
        err(&yaml),
        "receivers.otlp.protocols.grpc.auth.authenticator: extension \"bearertokenauth\" is not listed in service.extensions"
    );
    let yaml = with_auth("health_check", "  health_check:\n", "health_check");
    assert!(err(&yaml).contains("is not an authenticator"), "{}", err(&yaml));
}

#[test]
fn auth_extension_config_errors_name_the_path() {
    let yaml = with_auth("bearertokenauth", "  bearertokenauth:\n", "bearertokenauth");
    assert_eq!(
        err(&yaml),
        "extensions.bearertokenauth must set one of token, tokens or filename"
    );
    let yaml = with_auth(
        "basicauth",
        "  basicauth:\n    htpasswd:\n      inline: \"nocolon\"\n",
        "basicauth",
    );
    assert_eq!(
        err(&yaml),
        "extensions.basicauth.htpasswd.inline: inline line 1: expected user:password"
    );
    let yaml = with_auth(
        "basicauth",
        "  basicauth:\n    htpasswd:\n      inlin: x\n",
        "basicauth",
    );
    assert!(
        err(&yaml).contains("extensions.basicauth.htpasswd"),
        "{}",
        err(&yaml)
    );
    let yaml = with_auth(
        "bearertokenauth",
        "  bearertokenauth:\n    token: t\n",
        "bearertokenauth",
    )
    .replace(
        "authenticator: bearertokenauth",
        "authenticator: bearertokenauth\n          extra: 1",
    );
    assert!(
        err(&yaml).contains("receivers.otlp.protocols.grpc.auth"),
        "{}",
        err(&yaml)
    );
}

/// The config loader as a fuzz target (a property test: the stable toolchain cannot run
/// `cargo fuzz`). The seed configuration with lines dropped, repeated or swapped, values replaced
/// by hostile YAML, and `${env:…}` references: every result is a config or an error that names
/// something, never a panic.
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Values a line's value may be replaced with.
    const VALUES: &[&str] = &[
        "",
        "~",
        "[]",
        "{}",
        "-1",
        "0",
        "1e400",
        "99999999999999999999",
        "\"\\u0000\"",
        "&a [*a]",
        "*nope",
        "!!binary aGk=",
        "${env:NOPE}",
        "${NOPE:-x}",
        "${env:",
        "10ns",
        "1h1h1h1h",
        "-5s",
        "\"héllo\\n\"",
        "[memory_limiter, batch, batch]",
        "{a: {b: {c: {d: []}}}}",
        "0.0.0.0:99999",
        "\t",
        ": :",
    ];

    #[derive(Debug, Clone)]
    enum Edit {
        Drop(usize),
        Repeat(usize),
        Swap(usize, usize),
        Value(usize, usize),
        Indent(usize, usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            any::<usize>().prop_map(Edit::Drop),
            any::<usize>().prop_map(Edit::Repeat),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Value(a, b)),
            (any::<usize>(), 0usize..5).prop_map(|(a, b)| Edit::Indent(a, b)),
        ]
    }

    fn apply(edits: &[Edit]) -> String {
        let mut lines: Vec<String> = SEED.lines().map(str::to_string).collect();
        for e in edits {
            let n = lines.len().max(1);
            match *e {
                Edit::Drop(i) if !lines.is_empty() => {
                    lines.remove(i % n);
                }
                Edit::Repeat(i) if !lines.is_empty() => {
                    let l = lines[i % n].clone();
                    lines.insert(i % n, l);
                }
                Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
                Edit::Value(i, v) if !lines.is_empty() => {
                    let line = &mut lines[i % n];
                    if let Some(colon) = line.find(':') {
                        line.truncate(colon + 1);
                        line.push(' ');
                        line.push_str(VALUES[v % VALUES.len()]);
                    }
                }
                Edit::Indent(i, k) if !lines.is_empty() => {
                    let line = &mut lines[i % n];
                    *line = format!("{}{}", " ".repeat(k), line.trim_start());
                }
                _ => {}
            }
        }
        lines.join("\n")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn damaged_configs_load_or_fail_with_a_message(edits in prop::collection::vec(edit(), 1..6)) {
            let yaml = apply(&edits);
            let env = |name: &str| (name == "SET").then(|| "x".to_string());
            if let Err(e) = Config::from_yaml_with_env(&yaml, &env) {
                prop_assert!(!e.to_string().trim().is_empty(), "an empty error for:\n{yaml}");
            }
        }
    }
}

/// `connectors:` as otelcol reads them: a connector is an exporter of one pipeline and a
/// receiver of another; misuse is refused with otelcol's wording, naming the connector
/// and the pipelines.
mod connectors {
    use super::*;

    /// A config with the otlp receiver, the batch processor, two debug exporters, the
    /// given `connectors:` body and `pipelines:` body.
    fn with(connectors: &str, pipelines: &str) -> String {
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n\
             processors:\n  batch:\n\
             exporters:\n  debug/a:\n  debug/b:\n\
             connectors:\n{connectors}\
             service:\n  pipelines:\n{pipelines}"
        )
    }

    const FORWARD: &str = "  forward:\n";
    const TRACES_IN_OUT: &str = "    traces/in:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [forward]\n\
                                 \x20   traces/out:\n      receivers: [forward]\n      exporters: [debug/a, debug/b]\n";

    fn id(s: &str) -> ComponentId {
        ComponentId::parse(s).unwrap()
    }

    #[test]
    fn a_forward_connector_joins_two_pipelines_in_data_flow_order() {
        let config = Config::from_yaml_with_env(&with(FORWARD, TRACES_IN_OUT), &no_env).unwrap();
        assert!(matches!(
            config.connectors[&id("forward")],
            ConnectorConfig::Forward(_)
        ));
        let input = config.pipelines.iter().position(|p| p.id == "traces/in").unwrap();
        let output = config
            .pipelines
            .iter()
            .position(|p| p.id == "traces/out")
            .unwrap();
        assert_eq!(config.pipelines[input].to_connectors, vec![id("forward")]);
        assert!(config.pipelines[input].exporters.is_empty());
        assert_eq!(config.pipelines[output].from_connectors, vec![id("forward")]);
        assert!(config.pipelines[output].receivers.is_empty());
        assert_eq!(
            config.flow,
            vec![
                FlowNode::Pipeline(input),
                FlowNode::Connector(ConnectorInstance {
                    id: id("forward"),
                    from: Signal::Traces,
                    to: Signal::Traces,
                }),
                FlowNode::Pipeline(output),
            ]
        );
    }

    #[test]
    fn one_forward_instance_per_signal_fans_out_to_every_receiving_pipeline() {
        let pipelines = "    traces:\n      receivers: [otlp]\n      exporters: [forward]\n\
                         \x20   traces/a:\n      receivers: [forward]\n      exporters: [debug/a]\n\
                         \x20   traces/b:\n      receivers: [forward]\n      exporters: [debug/b]\n\
                         \x20   logs:\n      receivers: [otlp]\n      exporters: [forward]\n\
                         \x20   logs/out:\n      receivers: [forward]\n      exporters: [debug/a]\n";
        let config = Config::from_yaml_with_env(&with(FORWARD, pipelines), &no_env).unwrap();
        let instances: Vec<(Signal, Signal)> = config
            .flow
            .iter()
            .filter_map(|n| match n {
                FlowNode::Connector(i) => Some((i.from, i.to)),
                FlowNode::Pipeline(_) => None,
            })
            .collect();
        assert_eq!(
            instances,
            vec![(Signal::Traces, Signal::Traces), (Signal::Logs, Signal::Logs)]
        );
        // Every node comes after what feeds it.
        let position = |node: &FlowNode| config.flow.iter().position(|n| n == node).unwrap();
        let pipeline =
            |name: &str| FlowNode::Pipeline(config.pipelines.iter().position(|p| p.id == name).unwrap());
        let traces = FlowNode::Connector(ConnectorInstance {
            id: id("forward"),
            from: Signal::Traces,
            to: Signal::Traces,
        });
        assert!(position(&pipeline("traces")) < position(&traces));
        assert!(position(&traces) < position(&pipeline("traces/a")));
        assert!(position(&traces) < position(&pipeline("traces/b")));
    }

    #[test]
    fn a_connector_used_only_as_an_exporter_is_refused() {
        let pipelines = "    traces/in:\n      receivers: [otlp]\n      exporters: [forward, debug/a]\n";
        assert_eq!(
            err(&with(FORWARD, pipelines)),
            "service.pipelines: connector \"forward\" used as exporter in [traces/in] pipeline but not used in any supported receiver pipeline"
        );
    }

    #[test]
    fn a_connector_used_only_as_a_receiver_is_refused() {
        let pipelines = "    traces/in:\n      receivers: [otlp]\n      exporters: [debug/a]\n\
                         \x20   traces/out:\n      receivers: [forward]\n      exporters: [debug/b]\n\
                         \x20   traces/out2:\n      receivers: [forward]\n      exporters: [debug/b]\n";
        assert_eq!(
            err(&with(FORWARD, pipelines)),
            "service.pipelines: connector \"forward\" used as receiver in [traces/out traces/out2] pipeline but not used in any supported exporter pipeline"
        );
    }

    #[test]
    fn an_unsupported_signal_pair_names_the_connector_and_the_pair() {
        let pipelines = "    traces:\n      receivers: [otlp]\n      exporters: [forward]\n\
                         \x20   metrics:\n      receivers: [forward]\n      exporters: [debug/a]\n";
        assert_eq!(
            err(&with(FORWARD, pipelines)),
            "service.pipelines: connector \"forward\" used as exporter in [traces] pipeline but not used in any supported receiver pipeline (the forward connector does not connect traces to metrics)"
        );
    }

    #[test]
    fn a_supported_pair_beside_an_unsupported_one_builds_only_the_supported_instance() {
        // otelcol: a pair the type cannot connect is skipped when each side has a
        // supported use elsewhere.
        let pipelines = "    traces:\n      receivers: [otlp]\n      exporters: [forward]\n\
                         \x20   traces/out:\n      receivers: [forward]\n      exporters: [debug/a]\n\
                         \x20   metrics:\n      receivers: [otlp]\n      exporters: [forward]\n\
                         \x20   metrics/out:\n      receivers: [forward]\n      exporters: [debug/a]\n";
        let config = Config::from_yaml_with_env(&with(FORWARD, pipelines), &no_env).unwrap();
        let pairs: Vec<(Signal, Signal)> = config
            .flow
            .iter()
            .filter_map(|n| match n {
                FlowNode::Connector(i) => Some((i.from, i.to)),
                FlowNode::Pipeline(_) => None,
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                (Signal::Traces, Signal::Traces),
                (Signal::Metrics, Signal::Metrics)
            ]
        );
    }

    #[test]
    fn a_cycle_through_connectors_is_refused_naming_it() {
        let connectors = "  forward/1:\n  forward/2:\n";
        let pipelines = "    traces/a:\n      receivers: [otlp, forward/2]\n      exporters: [forward/1, debug/a]\n\
                         \x20   traces/b:\n      receivers: [forward/1]\n      processors: [batch]\n      exporters: [forward/2]\n";
        assert_eq!(
            err(&with(connectors, pipelines)),
            "service.pipelines: cycle detected: connector \"forward/1\" (traces to traces) -> processor \"batch\" in pipeline \"traces/b\" -> connector \"forward/2\" (traces to traces) -> connector \"forward/1\" (traces to traces)"
        );
    }

    #[test]
    fn a_pipeline_feeding_itself_through_a_connector_is_a_cycle() {
        let pipelines = "    traces:\n      receivers: [otlp, forward]\n      processors: [batch]\n      exporters: [forward, debug/a]\n";
        assert_eq!(
            err(&with(FORWARD, pipelines)),
            "service.pipelines: cycle detected: connector \"forward\" (traces to traces) -> processor \"batch\" in pipeline \"traces\" -> connector \"forward\" (traces to traces)"
        );
    }

    #[test]
    fn a_defined_but_unused_connector_is_not_built() {
        // otelcol builds only the components pipelines name; burnwatch also logs it.
        let pipelines = "    traces:\n      receivers: [otlp]\n      exporters: [debug/a]\n";
        let config = Config::from_yaml_with_env(&with(FORWARD, pipelines), &no_env).unwrap();
        assert_eq!(config.flow, vec![FlowNode::Pipeline(0)]);
        assert_eq!(config.unused_connectors(), vec![&id("forward")]);
        let config = Config::from_yaml_with_env(&with(FORWARD, TRACES_IN_OUT), &no_env).unwrap();
        assert!(config.unused_connectors().is_empty());
    }

    #[test]
    fn connector_keys_and_types_are_checked() {
        assert_eq!(
            err(&with("  forward:\n    workers: 2\n", TRACES_IN_OUT)),
            "unknown key 'workers' in connectors.forward; expected no keys"
        );
        let message = err(&with("  count:\n", TRACES_IN_OUT));
        assert!(
            message
                .starts_with("connectors.count: unknown connector type 'count'; burnwatch supports: forward"),
            "{message}"
        );
        // A connector that is not defined reads as an undefined receiver or exporter, as
        // in otelcol ("references receiver ... which is not configured").
        assert_eq!(
            err(&with("  forward/x:\n", TRACES_IN_OUT)),
            "service.pipelines.traces/in.exporters[0]: references exporter 'forward' which is not defined under exporters"
        );
    }

    #[test]
    fn ambiguous_ids_between_connectors_and_other_kinds_are_refused() {
        let connectors = [id("forward"), id("spanmetrics")];
        assert_eq!(
            check_ambiguous_ids(&connectors, &[id("otlp")], &[id("debug")]),
            Ok(())
        );
        assert_eq!(
            check_ambiguous_ids(&connectors, &[], &[id("forward")])
                .unwrap_err()
                .to_string(),
            "connectors.forward: ambiguous ID: found both \"forward\" exporter and \"forward\" connector; change one of the components' IDs to eliminate ambiguity (e.g. rename the connector to \"forward/connector\")"
        );
        assert!(
            check_ambiguous_ids(&connectors, &[id("spanmetrics")], &[])
                .unwrap_err()
                .to_string()
                .contains("found both \"spanmetrics\" receiver and \"spanmetrics\" connector")
        );
    }
}

use std::collections::HashMap;

use super::*;
use crate::processors::testkit::{Sink, raw_traces, resource, s, span, traces};

fn config(yaml: &str) -> ResourceDetectionConfig {
    let c: ResourceDetectionConfig = serde_norway::from_str(yaml).unwrap();
    c.validate("processors.resourcedetection").unwrap();
    c
}

fn detect(c: &ResourceDetectionConfig, vars: &[(&str, &str)]) -> Result<Vec<KeyValue>, String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    c.detect(&Host {
        env: &|name| vars.get(name).cloned(),
        os_hostname: &|| Some("web-1".to_string()),
        etc_hosts: &|| {
            Some("127.0.0.1 localhost\n10.0.0.5 web-1.example.com web-1 # this host\n".to_string())
        },
    })
}

#[test]
fn env_detector_percent_decodes_otel_resource_attributes() {
    let c = config("detectors: [env]");
    let out = detect(
        &c,
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            " service.name = checkout ,deployment.environment=prod%2Ceu,note=a%3Db+c,",
        )],
    )
    .unwrap();
    assert_eq!(
        out,
        vec![
            kv("service.name", s("checkout")),
            kv("deployment.environment", s("prod,eu")),
            kv("note", s("a=b+c")),
        ]
    );
}

#[test]
fn env_detector_refuses_malformed_input_by_name() {
    let c = config("detectors: [env]");
    assert_eq!(
        detect(&c, &[("OTEL_RESOURCE_ATTRIBUTES", "a=1,broken")]).unwrap_err(),
        "OTEL_RESOURCE_ATTRIBUTES: \"broken\" is not key=value"
    );
    assert_eq!(
        detect(&c, &[("OTEL_RESOURCE_ATTRIBUTES", "a=%zz")]).unwrap_err(),
        "OTEL_RESOURCE_ATTRIBUTES: value of \"a\": invalid percent-escape at byte 0"
    );
}

#[test]
fn system_detector_hostname_sources() {
    let dns_first = config("detectors: [system]");
    assert_eq!(
        detect(&dns_first, &[]).unwrap(),
        vec![
            kv("host.name", s("web-1.example.com")),
            kv("os.type", s(go_os_type()))
        ]
    );
    let os = config("{detectors: [system], system: {hostname_sources: [os]}}");
    assert_eq!(detect(&os, &[]).unwrap()[0], kv("host.name", s("web-1")));
}

#[test]
fn kubernetes_attributes_from_downward_api_variables() {
    let c = config("detectors: [k8sdownward, k8snode]");
    let out = detect(
        &c,
        &[
            ("K8S_POD_NAME", "checkout-7d9f"),
            ("K8S_NAMESPACE_NAME", "shop"),
            ("K8S_POD_UID", "0b5c-11"),
            ("K8S_NODE_NAME", "node-a"),
        ],
    )
    .unwrap();
    assert_eq!(
        out,
        vec![
            kv("k8s.pod.name", s("checkout-7d9f")),
            kv("k8s.namespace.name", s("shop")),
            kv("k8s.pod.uid", s("0b5c-11")),
            kv("k8s.node.name", s("node-a")),
        ]
    );
    assert_eq!(
        detect(&config("detectors: [k8snode]"), &[]).unwrap_err(),
        "the k8snode detector needs the node name in the environment variable K8S_NODE_NAME (set it from spec.nodeName with the downward API)"
    );
}

#[test]
fn the_first_detector_wins() {
    let c = config("detectors: [env, system]");
    let out = detect(&c, &[("OTEL_RESOURCE_ATTRIBUTES", "host.name=from-env")]).unwrap();
    assert_eq!(out[0], kv("host.name", s("from-env")));
    assert_eq!(out.len(), 2);
}

#[tokio::test]
async fn override_true_replaces_and_false_keeps() {
    let detected = vec![kv("host.name", s("detected")), kv("os.type", s("linux"))];
    for (override_, expected) in [(true, "detected"), (false, "given")] {
        let sink = Sink::new();
        let p = ResourceDetectionProcessor::new(detected.clone(), override_, sink.clone());
        let request = traces(vec![kv("host.name", s("given"))], vec![span("a", vec![])]);
        p.consume(raw_traces(&request)).await.unwrap();
        assert_eq!(
            sink.traces().resource_spans[0].resource,
            resource(vec![kv("host.name", s(expected)), kv("os.type", s("linux"))])
        );
    }
}

#[test]
fn config_errors_name_the_key() {
    let err = |yaml: &str| {
        let c: ResourceDetectionConfig = serde_norway::from_str(yaml).unwrap();
        c.validate("processors.resourcedetection")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("detectors: [env, gcp]"),
        "processors.resourcedetection.detectors[1] is \"gcp\", which burnwatch does not support; supported detectors: env, system, k8snode, k8sdownward"
    );
    assert_eq!(
        err("{detectors: [system], system: {hostname_sources: [cname]}}"),
        "processors.resourcedetection.system.hostname_sources[0] is \"cname\", which needs DNS queries burnwatch does not make; use dns (/etc/hosts) or os"
    );
    assert_eq!(
        err("{}"),
        "processors.resourcedetection.detectors must list at least one detector (env, system, k8snode, k8sdownward)"
    );
}

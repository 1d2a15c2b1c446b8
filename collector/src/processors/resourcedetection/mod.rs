//! The `resourcedetection` processor: detects attributes of the host the collector runs
//! on once, at start, and adds them to the resource of every span, metric and log
//! record, as otelcol-contrib's resourcedetection processor.
//!
//! ```yaml
//! processors:
//!   resourcedetection:
//!     detectors: [env, system, k8snode, k8sdownward]
//!     override: false
//!     system:
//!       hostname_sources: [os]
//! ```
//!
//! Detectors (the first detector to set an attribute wins, as in otelcol):
//! - `env`: `OTEL_RESOURCE_ATTRIBUTES`, `key=value` pairs separated by commas, keys and
//!   values trimmed and percent-decoded (OpenTelemetry SDK environment variable spec);
//!   a malformed pair or escape stops the collector from starting, naming it.
//! - `system`: `host.name` from the first `hostname_sources` entry that answers (`dns`:
//!   the canonical name of the host's line in `/etc/hosts`, as go-fqdn reads it first;
//!   `os`: the kernel's host name) and `os.type` (Go's `GOOS` names: `linux`, `darwin`,
//!   `windows`). Divergence: `cname` and `lookup` need DNS queries burnwatch does not
//!   make; they are refused by name.
//! - `k8snode`: `k8s.node.name` from the environment variable `node_from_env_var`
//!   (default `K8S_NODE_NAME`), set with the downward API (`spec.nodeName`). Divergence:
//!   otelcol also asks the API server for `k8s.node.uid`; burnwatch makes no API calls.
//! - `k8sdownward` (burnwatch's own): the pod's identity from the downward-API
//!   environment variables `K8S_POD_NAME` (`metadata.name`) → `k8s.pod.name`,
//!   `K8S_NAMESPACE_NAME` (`metadata.namespace`) → `k8s.namespace.name`, `K8S_POD_UID`
//!   (`metadata.uid`) → `k8s.pod.uid`, `K8S_NODE_NAME` (`spec.nodeName`) →
//!   `k8s.node.name`; unset or empty variables add nothing. (otelcol users get the same
//!   from `env` with `OTEL_RESOURCE_ATTRIBUTES=k8s.pod.name=$(K8S_POD_NAME),…`, which
//!   works here too.)
//!
//! `override` (default `true`, as otelcol) replaces attributes the data already has;
//! `false` only adds missing ones.

use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;

use crate::component::{BuildContext, BuildError};
use crate::config::{ConfigError, GoDuration};
use crate::consumer::{ConsumeError, Consumer, Telemetry};
use crate::processors::attrs::{self, kv, string_value};
use crate::processors::decode;

/// `processors.resourcedetection`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDetectionConfig {
    /// The detectors to run, in order of precedence: `env`, `system`, `k8snode`,
    /// `k8sdownward`.
    #[serde(default)]
    pub detectors: Vec<String>,
    /// Whether detected attributes replace those already on the data (default true).
    #[serde(default = "default_override", rename = "override")]
    pub override_: bool,
    /// How long detection may take. Accepted for compatibility: every detector here
    /// reads local state.
    #[serde(default)]
    pub timeout: Option<GoDuration>,
    /// The `system` detector's settings.
    #[serde(default)]
    pub system: SystemConfig,
    /// The `k8snode` detector's settings.
    #[serde(default)]
    pub k8snode: K8sNodeConfig,
}

fn default_override() -> bool {
    true
}

/// `processors.resourcedetection.system`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// Where `host.name` comes from, first answer wins: `dns`, `os` (default both, in
    /// that order).
    #[serde(default = "default_hostname_sources")]
    pub hostname_sources: Vec<String>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            hostname_sources: default_hostname_sources(),
        }
    }
}

fn default_hostname_sources() -> Vec<String> {
    vec!["dns".to_string(), "os".to_string()]
}

/// `processors.resourcedetection.k8snode`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sNodeConfig {
    /// The environment variable holding the node's name (default `K8S_NODE_NAME`).
    #[serde(default = "default_node_env")]
    pub node_from_env_var: String,
}

impl Default for K8sNodeConfig {
    fn default() -> Self {
        K8sNodeConfig {
            node_from_env_var: default_node_env(),
        }
    }
}

fn default_node_env() -> String {
    "K8S_NODE_NAME".to_string()
}

const DETECTORS: &str = "env, system, k8snode, k8sdownward";

/// The machine state detectors read; replaced in tests.
pub struct Host<'a> {
    /// An environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The kernel's host name.
    pub os_hostname: &'a dyn Fn() -> Option<String>,
    /// The contents of `/etc/hosts`.
    pub etc_hosts: &'a dyn Fn() -> Option<String>,
}

impl ResourceDetectionConfig {
    /// Checks the detector names and their settings.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.detectors.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.detectors"),
                format!("must list at least one detector ({DETECTORS})"),
            ));
        }
        for (i, d) in self.detectors.iter().enumerate() {
            match d.as_str() {
                "env" | "system" | "k8snode" | "k8sdownward" => {}
                other => {
                    return Err(ConfigError::at(
                        format!("{path}.detectors[{i}]"),
                        format!(
                            "is {other:?}, which burnwatch does not support; supported detectors: {DETECTORS}"
                        ),
                    ));
                }
            }
        }
        for (i, s) in self.system.hostname_sources.iter().enumerate() {
            match s.as_str() {
                "dns" | "os" => {}
                "cname" | "lookup" => {
                    return Err(ConfigError::at(
                        format!("{path}.system.hostname_sources[{i}]"),
                        format!(
                            "is {s:?}, which needs DNS queries burnwatch does not make; use dns (/etc/hosts) or os"
                        ),
                    ));
                }
                other => {
                    return Err(ConfigError::at(
                        format!("{path}.system.hostname_sources[{i}]"),
                        format!("must be dns or os, got {other:?}"),
                    ));
                }
            }
        }
        if self.k8snode.node_from_env_var.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.k8snode.node_from_env_var"),
                "must not be empty",
            ));
        }
        Ok(())
    }

    /// Runs the detectors against `host`; the attributes, first detector first.
    pub fn detect(&self, host: &Host<'_>) -> Result<Vec<KeyValue>, String> {
        let mut out: Vec<KeyValue> = Vec::new();
        let mut add = |key: &str, value: String| {
            if attrs::position(&out, key).is_none() {
                out.push(kv(key, string_value(value)));
            }
        };
        let env = |name: &str| (host.env)(name).filter(|v| !v.is_empty());
        for detector in &self.detectors {
            match detector.as_str() {
                "env" => {
                    if let Some(text) = (host.env)("OTEL_RESOURCE_ATTRIBUTES") {
                        for (k, v) in parse_resource_attributes(&text)? {
                            add(&k, v);
                        }
                    }
                }
                "system" => {
                    let name = self
                        .system
                        .hostname_sources
                        .iter()
                        .find_map(|source| match source.as_str() {
                            "os" => (host.os_hostname)(),
                            _ => {
                                let short = (host.os_hostname)()?;
                                fqdn_from_hosts(&(host.etc_hosts)()?, &short)
                            }
                        });
                    match name {
                        Some(name) => add("host.name", name),
                        None => {
                            return Err(
                                "the system detector found no host name from any of hostname_sources"
                                    .to_string(),
                            );
                        }
                    }
                    add("os.type", go_os_type().to_string());
                }
                "k8snode" => match env(&self.k8snode.node_from_env_var) {
                    Some(node) => add("k8s.node.name", node),
                    None => {
                        // otelcol's k8snode fails when the variable is missing.
                        return Err(format!(
                            "the k8snode detector needs the node name in the environment variable {} (set it from spec.nodeName with the downward API)",
                            self.k8snode.node_from_env_var
                        ));
                    }
                },
                _ => {
                    for (var, key) in [
                        ("K8S_POD_NAME", "k8s.pod.name"),
                        ("K8S_NAMESPACE_NAME", "k8s.namespace.name"),
                        ("K8S_POD_UID", "k8s.pod.uid"),
                        ("K8S_NODE_NAME", "k8s.node.name"),
                    ] {
                        if let Some(v) = env(var) {
                            add(key, v);
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Go's `runtime.GOOS` for this build, which otelcol's `os.type` reports.
fn go_os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// The canonical (first) name on the `/etc/hosts` line listing `short`, as go-fqdn
/// reads it before trying DNS.
fn fqdn_from_hosts(hosts: &str, short: &str) -> Option<String> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let _address = fields.next()?;
        let names: Vec<&str> = fields.collect();
        names.contains(&short).then(|| names[0].to_string())
    })
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `k=v` pairs separated by commas, trimmed and
/// percent-decoded; empty pairs are skipped.
pub fn parse_resource_attributes(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in text.split(',') {
        if pair.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!(
                "OTEL_RESOURCE_ATTRIBUTES: {:?} is not key=value",
                pair.trim()
            ));
        };
        let key = percent_decode(k.trim())
            .map_err(|e| format!("OTEL_RESOURCE_ATTRIBUTES: key {:?}: {e}", k.trim()))?;
        if key.is_empty() {
            return Err(format!(
                "OTEL_RESOURCE_ATTRIBUTES: {:?} has an empty key",
                pair.trim()
            ));
        }
        let value = percent_decode(v.trim())
            .map_err(|e| format!("OTEL_RESOURCE_ATTRIBUTES: value of {key:?}: {e}"))?;
        out.push((key, value));
    }
    Ok(out)
}

/// `%XX` escapes to bytes (the result must be UTF-8); `+` stays a plus.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => return Err(format!("invalid percent-escape at byte {i}")),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-escapes do not decode to UTF-8".to_string())
}

fn os_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Builds the processor in front of `next`, running the detectors now.
pub fn build(
    config: &ResourceDetectionConfig,
    next: Arc<dyn Consumer>,
    ctx: &BuildContext,
) -> Result<Arc<dyn Consumer>, BuildError> {
    let host = Host {
        env: &|name| std::env::var(name).ok(),
        os_hostname: &os_hostname,
        etc_hosts: &|| std::fs::read_to_string("/etc/hosts").ok(),
    };
    let detected = config.detect(&host).map_err(|message| BuildError::Invalid {
        id: ctx.id.clone(),
        message,
    })?;
    tracing::info!(
        processor = %ctx.id,
        attributes = ?detected.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(),
        "Resource attributes detected."
    );
    Ok(Arc::new(ResourceDetectionProcessor {
        detected,
        override_: config.override_,
        next,
    }))
}

/// Adds the detected attributes to every resource.
pub struct ResourceDetectionProcessor {
    detected: Vec<KeyValue>,
    override_: bool,
    next: Arc<dyn Consumer>,
}

impl ResourceDetectionProcessor {
    /// The processor over already detected attributes (for tests).
    pub fn new(detected: Vec<KeyValue>, override_: bool, next: Arc<dyn Consumer>) -> Self {
        ResourceDetectionProcessor {
            detected,
            override_,
            next,
        }
    }

    fn apply(&self, resource: &mut Option<Resource>) {
        let attributes = &mut resource.get_or_insert_with(Resource::default).attributes;
        for a in &self.detected {
            let Some(value) = a.value.clone() else {
                continue;
            };
            match attrs::position(attributes, &a.key) {
                Some(i) if self.override_ => attributes[i].value = Some(value),
                Some(_) => {}
                None => attributes.push(kv(&a.key, value)),
            }
        }
    }
}

#[async_trait]
impl Consumer for ResourceDetectionProcessor {
    async fn consume(&self, data: Telemetry) -> Result<(), ConsumeError> {
        if self.detected.is_empty() {
            return self.next.consume(data).await;
        }
        let data = decode::each_resource(data, |resource| self.apply(resource))?;
        self.next.consume(data).await
    }
}

#[cfg(test)]
mod tests;

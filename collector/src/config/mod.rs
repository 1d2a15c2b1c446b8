//! The collector's configuration: the OTel Collector's YAML shape.
//!
//! A file has `receivers`, `processors`, `exporters`, `extensions` and `service`.
//! Components are keyed `type[/name]` (`otlp/jaeger`); `service.pipelines` wires them per
//! signal. Values may reference the environment with `${env:VAR}` or
//! `${env:VAR:-default}`, expanded before the typed configuration is read, as the OTel
//! Collector's confmap does. Every error names the YAML path it is about.

mod duration;
mod env;
mod files;
pub mod tls_client;
pub use env::UnsetVariable;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_norway::{Mapping, Value};

use crate::consumer::Signal;
use crate::exporters::debug::DebugExporterConfig;
use crate::exporters::otlp::config::{OtlpExporterConfig, OtlpHttpExporterConfig};
use crate::exporters::prometheus::config::PrometheusExporterConfig;
use crate::exporters::prometheusremotewrite::config::PrometheusRemoteWriteConfig;
use crate::extensions::auth::{BasicAuthConfig, BearerTokenAuthConfig};
use crate::extensions::health_check::HealthCheckConfig;
use crate::processors::batch::BatchConfig;
use crate::processors::memory_limiter::MemoryLimiterConfig;
use crate::receivers::otlp::config::OtlpReceiverConfig;

pub use duration::{GoDuration, parse_go_duration};

/// The configuration that runs when no `--config` is given: OTLP in on localhost,
/// `memory_limiter` and `batch`, Prometheus exposition for metrics and `debug` for traces
/// and logs.
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");

/// A configuration error, naming the YAML path it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The dotted YAML path (`processors.batch.send_batch_max_size`); empty for errors
    /// about the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The file the configuration was read from, when it came from one.
    pub file: Option<String>,
}

impl ConfigError {
    /// An error about the value at `path`.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
            file: None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        let predicate = ["must ", "is ", "are ", "should "]
            .iter()
            .any(|p| self.message.starts_with(p));
        match (self.path.is_empty(), predicate) {
            (true, _) => f.write_str(&self.message),
            (false, true) => write!(f, "{} {}", self.path, self.message),
            (false, false) => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// A component's identity: its type and an optional name (`otlp`, `otlp/jaeger`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    /// The component type, which selects the implementation (`otlp`, `batch`, …).
    pub kind: String,
    /// The instance name after the `/`, if any.
    pub name: Option<String>,
}

impl ComponentId {
    /// Parses `type[/name]`.
    pub fn parse(s: &str) -> Result<ComponentId, String> {
        let (kind, name) = match s.split_once('/') {
            Some((k, n)) => (k.trim(), Some(n.trim())),
            None => (s.trim(), None),
        };
        if kind.is_empty() {
            return Err(format!("component id {s:?} has an empty type"));
        }
        if !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("component type {kind:?} has invalid characters"));
        }
        if name == Some("") {
            return Err(format!("component id {s:?} has an empty name after '/'"));
        }
        Ok(ComponentId {
            kind: kind.to_string(),
            name: name.map(str::to_string),
        })
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.kind, name),
            None => f.write_str(&self.kind),
        }
    }
}

/// A configured receiver.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverConfig {
    /// `otlp`.
    Otlp(OtlpReceiverConfig),
}

/// A configured processor.
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessorConfig {
    /// `memory_limiter`.
    MemoryLimiter(MemoryLimiterConfig),
    /// `batch`.
    Batch(BatchConfig),
}

/// A configured exporter.
#[derive(Debug, Clone, PartialEq)]
pub enum ExporterConfig {
    /// `prometheus`.
    Prometheus(PrometheusExporterConfig),
    /// `prometheusremotewrite`.
    PrometheusRemoteWrite(PrometheusRemoteWriteConfig),
    /// `otlp` (gRPC).
    Otlp(OtlpExporterConfig),
    /// `otlphttp`.
    OtlpHttp(OtlpHttpExporterConfig),
    /// `debug`.
    Debug(DebugExporterConfig),
}

impl ExporterConfig {
    /// Whether this exporter can take the given signal.
    pub fn supports(&self, signal: Signal) -> bool {
        match self {
            ExporterConfig::Prometheus(_) | ExporterConfig::PrometheusRemoteWrite(_) => {
                signal == Signal::Metrics
            }
            _ => true,
        }
    }
}

/// A configured extension.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtensionConfig {
    /// `health_check`.
    HealthCheck(HealthCheckConfig),
    /// `bearertokenauth`: a server authenticator for receivers' `auth`.
    BearerTokenAuth(BearerTokenAuthConfig),
    /// `basicauth`: a server authenticator for receivers' `auth`.
    BasicAuth(BasicAuthConfig),
}

/// One `service.pipelines` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Receivers feeding this pipeline.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Processors, applied in order.
    #[serde(default)]
    pub processors: Vec<String>,
    /// Exporters receiving the processed data.
    #[serde(default)]
    pub exporters: Vec<String>,
}

/// A resolved pipeline: its signal, name and component ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// `traces`, `metrics/backend`, …
    pub id: String,
    /// The signal the pipeline carries.
    pub signal: Signal,
    /// Receivers feeding this pipeline.
    pub receivers: Vec<ComponentId>,
    /// Processors, applied in order.
    pub processors: Vec<ComponentId>,
    /// Exporters receiving the processed data.
    pub exporters: Vec<ComponentId>,
}

/// `service.telemetry`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's own metrics.
    #[serde(default)]
    pub metrics: TelemetryMetricsConfig,
    /// The collector's own logs.
    #[serde(default)]
    pub logs: TelemetryLogsConfig,
}

/// `service.telemetry.metrics`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryMetricsConfig {
    /// `none` turns self-metrics off; `basic`, `normal` and `detailed` all serve them.
    #[serde(default = "default_metrics_level")]
    pub level: String,
    /// `host:port` for `/metrics` (the OTel Collector's older form; default
    /// `localhost:8888`).
    #[serde(default)]
    pub address: Option<String>,
    /// The OTel Collector's newer form: `readers: [{pull: {exporter: {prometheus: {host,
    /// port}}}}]`. The first pull reader's host and port are used.
    #[serde(default)]
    pub readers: Vec<MetricReaderConfig>,
}

impl Default for TelemetryMetricsConfig {
    fn default() -> Self {
        TelemetryMetricsConfig {
            level: default_metrics_level(),
            address: None,
            readers: Vec::new(),
        }
    }
}

fn default_metrics_level() -> String {
    "normal".into()
}

/// One entry of `service.telemetry.metrics.readers`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricReaderConfig {
    /// A pull (scrape) reader.
    #[serde(default)]
    pub pull: Option<PullReaderConfig>,
}

/// `readers[].pull`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullReaderConfig {
    /// The exporter serving the pull endpoint.
    pub exporter: PullExporterConfig,
}

/// `readers[].pull.exporter`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullExporterConfig {
    /// A Prometheus endpoint.
    pub prometheus: PrometheusPullConfig,
}

/// `readers[].pull.exporter.prometheus`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusPullConfig {
    /// Host to bind (default `localhost`).
    #[serde(default = "default_telemetry_host")]
    pub host: String,
    /// Port to bind (default 8888).
    #[serde(default = "default_telemetry_port")]
    pub port: u16,
    /// Accepted for compatibility.
    #[serde(default)]
    pub without_units: bool,
    /// Accepted for compatibility.
    #[serde(default)]
    pub without_type_suffix: bool,
    /// Accepted for compatibility.
    #[serde(default)]
    pub without_scope_info: bool,
}

fn default_telemetry_host() -> String {
    "localhost".into()
}
fn default_telemetry_port() -> u16 {
    8888
}

/// `service.telemetry.logs`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryLogsConfig {
    /// Minimum log level (`debug`, `info`, `warn`, `error`; default `info`). `RUST_LOG`,
    /// when set, takes precedence.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// Accepted for compatibility; logs always go to stderr.
    #[serde(default)]
    pub encoding: Option<String>,
}

impl Default for TelemetryLogsConfig {
    fn default() -> Self {
        TelemetryLogsConfig {
            level: default_log_level(),
            encoding: None,
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

impl TelemetryConfig {
    /// Where the self-telemetry `/metrics` is served, or `None` when turned off.
    pub fn metrics_endpoint(&self) -> Option<String> {
        if self.metrics.level == "none" {
            return None;
        }
        if let Some(reader) = self.metrics.readers.iter().find_map(|r| r.pull.as_ref()) {
            let p = &reader.exporter.prometheus;
            return Some(format!("{}:{}", p.host, p.port));
        }
        Some(
            self.metrics
                .address
                .clone()
                .unwrap_or_else(|| "localhost:8888".into()),
        )
    }
}

/// The whole collector configuration, parsed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `receivers`.
    pub receivers: BTreeMap<ComponentId, ReceiverConfig>,
    /// `processors`.
    pub processors: BTreeMap<ComponentId, ProcessorConfig>,
    /// `exporters`.
    pub exporters: BTreeMap<ComponentId, ExporterConfig>,
    /// `extensions` (only those enabled in `service.extensions` run).
    pub extensions: BTreeMap<ComponentId, ExtensionConfig>,
    /// `service.extensions`.
    pub service_extensions: Vec<ComponentId>,
    /// `service.pipelines`, resolved.
    pub pipelines: Vec<Pipeline>,
    /// `service.telemetry`.
    pub telemetry: TelemetryConfig,
    /// `${env:…}` references to unset variables, which expanded to empty strings; the
    /// caller logs them once logging is set up ([`Config::log_warnings`]).
    pub unset_env: Vec<UnsetVariable>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "connectors",
    "service",
];
const RECEIVER_TYPES: &[&str] = &["otlp"];
const PROCESSOR_TYPES: &[&str] = &["memory_limiter", "batch"];
const EXPORTER_TYPES: &[&str] = &["prometheus", "prometheusremotewrite", "otlp", "otlphttp", "debug"];
const EXTENSION_TYPES: &[&str] = &["health_check", "bearertokenauth", "basicauth"];

impl Config {
    /// Reads, expands and validates a configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            ConfigError::at("", format!("cannot read config file {}: {err}", path.display()))
        })?;
        Config::from_yaml(&text).map_err(|mut err| {
            err.file = Some(path.display().to_string());
            err
        })
    }

    /// The embedded default configuration.
    pub fn default_config() -> Config {
        Config::from_yaml(DEFAULT_CONFIG).expect("the embedded default configuration is valid")
    }

    /// Parses, expands `${env:…}` references in, and validates YAML text.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_with_env(text, &|name| std::env::var(name).ok())
    }

    /// As [`Config::from_yaml`], reading environment variables through `lookup`.
    pub fn from_yaml_with_env(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut root: Value = serde_norway::from_str(text).map_err(|err| {
            let location = err
                .location()
                .map(|l| format!("line {} column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            ConfigError::at("", format!("invalid YAML: {location}{err}"))
        })?;
        let mut unset = Vec::new();
        env::expand(&mut root, "", lookup, &mut unset)?;
        let mut config = Config::from_expanded(root).map_err(|err| name_unset_variables(err, &unset))?;
        config.unset_env = unset;
        Ok(config)
    }

    /// Logs what the configuration does that a user may not have meant: references to
    /// unset environment variables. Call once logging is set up.
    pub fn log_warnings(&self) {
        for var in &self.unset_env {
            tracing::warn!(
                variable = %var.name,
                path = %var.path,
                "Configuration references an unset environment variable; it expands to an empty string."
            );
        }
    }

    /// Validates an expanded YAML tree.
    fn from_expanded(root: Value) -> Result<Config, ConfigError> {
        let root = match root {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m,
            _ => return Err(ConfigError::at("", "the configuration must be a YAML mapping")),
        };
        for key in root.keys() {
            let key = key_str(key, "")?;
            if !TOP_LEVEL_KEYS.contains(&key) {
                return Err(ConfigError::at(
                    "",
                    format!(
                        "unknown top-level key '{key}'; expected one of {}",
                        TOP_LEVEL_KEYS.join(", ")
                    ),
                ));
            }
        }
        if let Some(connectors) = root.get("connectors")
            && !matches!(connectors, Value::Null)
            && connectors.as_mapping().is_none_or(|m| !m.is_empty())
        {
            return Err(ConfigError::at(
                "connectors",
                "are not supported by burnwatch yet",
            ));
        }

        let receivers = section(
            &root,
            "receivers",
            RECEIVER_TYPES,
            |kind, value, path| match kind {
                "otlp" => {
                    let c: OtlpReceiverConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ReceiverConfig::Otlp(c))
                }
                _ => unreachable!("type checked by section()"),
            },
        )?;
        let processors = section(
            &root,
            "processors",
            PROCESSOR_TYPES,
            |kind, value, path| match kind {
                "memory_limiter" => {
                    let c: MemoryLimiterConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ProcessorConfig::MemoryLimiter(c))
                }
                "batch" => {
                    let c: BatchConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ProcessorConfig::Batch(c))
                }
                _ => unreachable!("type checked by section()"),
            },
        )?;
        let exporters = section(
            &root,
            "exporters",
            EXPORTER_TYPES,
            |kind, value, path| match kind {
                "prometheus" => {
                    let c: PrometheusExporterConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ExporterConfig::Prometheus(c))
                }
                "prometheusremotewrite" => {
                    let c: PrometheusRemoteWriteConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ExporterConfig::PrometheusRemoteWrite(c))
                }
                "otlp" => {
                    let c: OtlpExporterConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ExporterConfig::Otlp(c))
                }
                "otlphttp" => {
                    let c: OtlpHttpExporterConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ExporterConfig::OtlpHttp(c))
                }
                "debug" => {
                    let c: DebugExporterConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ExporterConfig::Debug(c))
                }
                _ => unreachable!("type checked by section()"),
            },
        )?;
        let extensions = section(
            &root,
            "extensions",
            EXTENSION_TYPES,
            |kind, value, path| match kind {
                "health_check" => {
                    let c: HealthCheckConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ExtensionConfig::HealthCheck(c))
                }
                "bearertokenauth" => {
                    let c: BearerTokenAuthConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ExtensionConfig::BearerTokenAuth(c))
                }
                "basicauth" => {
                    let c: BasicAuthConfig = typed(value, path)?;
                    c.validate(path)?;
                    Ok(ExtensionConfig::BasicAuth(c))
                }
                _ => unreachable!("type checked by section()"),
            },
        )?;

        let service: ServiceConfig = match root.get("service") {
            Some(value) => typed(value, "service")?,
            None => {
                return Err(ConfigError::at(
                    "service",
                    "is required (it lists the pipelines to run)",
                ));
            }
        };

        let mut service_extensions = Vec::new();
        for (i, name) in service.extensions.iter().enumerate() {
            let path = format!("service.extensions[{i}]");
            let id = ComponentId::parse(name).map_err(|e| ConfigError::at(&path, e))?;
            if !extensions.contains_key(&id) {
                return Err(ConfigError::at(
                    path,
                    format!("references extension '{id}' which is not defined under extensions"),
                ));
            }
            service_extensions.push(id);
        }
        for (id, receiver) in &receivers {
            let ReceiverConfig::Otlp(otlp) = receiver;
            for (protocol, auth) in [
                ("grpc", otlp.protocols.grpc.as_ref().and_then(|g| g.auth.as_ref())),
                ("http", otlp.protocols.http.as_ref().and_then(|h| h.auth.as_ref())),
            ] {
                if let Some(auth) = auth {
                    let path = format!("receivers.{id}.protocols.{protocol}.auth.authenticator");
                    check_authenticator(&auth.authenticator, &path, &extensions, &service_extensions)?;
                }
            }
        }

        let mut pipelines = Vec::new();
        if service.pipelines.is_empty() {
            return Err(ConfigError::at(
                "service.pipelines",
                "must define at least one pipeline",
            ));
        }
        for (pipeline_id, pc) in &service.pipelines {
            let path = format!("service.pipelines.{pipeline_id}");
            let signal_name = pipeline_id.split('/').next().unwrap_or_default();
            let signal = Signal::parse(signal_name).ok_or_else(|| {
                ConfigError::at(
                    &path,
                    format!("unknown pipeline type '{signal_name}'; expected traces, metrics or logs"),
                )
            })?;
            if pc.receivers.is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.receivers"),
                    "must list at least one receiver",
                ));
            }
            if pc.exporters.is_empty() {
                return Err(ConfigError::at(
                    format!("{path}.exporters"),
                    "must list at least one exporter",
                ));
            }
            let receivers = resolve(
                &pc.receivers,
                &format!("{path}.receivers"),
                "receiver",
                "receivers",
                &receivers,
            )?;
            let processors = resolve(
                &pc.processors,
                &format!("{path}.processors"),
                "processor",
                "processors",
                &processors,
            )?;
            let exporter_ids = resolve(
                &pc.exporters,
                &format!("{path}.exporters"),
                "exporter",
                "exporters",
                &exporters,
            )?;
            for (i, id) in exporter_ids.iter().enumerate() {
                if !exporters[id].supports(signal) {
                    return Err(ConfigError::at(
                        format!("{path}.exporters[{i}]"),
                        format!("exporter '{id}' does not support {signal}"),
                    ));
                }
            }
            pipelines.push(Pipeline {
                id: pipeline_id.clone(),
                signal,
                receivers,
                processors,
                exporters: exporter_ids,
            });
        }

        Ok(Config {
            receivers,
            processors,
            exporters,
            extensions,
            service_extensions,
            pipelines,
            telemetry: service.telemetry,
            unset_env: Vec::new(),
        })
    }
}

/// Adds to a validation error the unset variables referenced at (or under) its path: an
/// empty `endpoint` reads "is required" otherwise, which does not say why it is empty.
/// Checks that a receiver's `auth.authenticator` names a server authenticator that is
/// defined and enabled (the OTel Collector fails at start-up with "authenticator not
/// found" otherwise; here the error names the YAML path).
fn check_authenticator(
    name: &str,
    path: &str,
    extensions: &BTreeMap<ComponentId, ExtensionConfig>,
    enabled: &[ComponentId],
) -> Result<(), ConfigError> {
    let id = ComponentId::parse(name).map_err(|e| ConfigError::at(path, e))?;
    match extensions.get(&id) {
        None => Err(ConfigError::at(
            path,
            format!("extension \"{id}\" is not defined in extensions"),
        )),
        Some(ExtensionConfig::HealthCheck(_)) => Err(ConfigError::at(
            path,
            format!("extension \"{id}\" is not an authenticator (bearertokenauth or basicauth)"),
        )),
        Some(_) if !enabled.contains(&id) => Err(ConfigError::at(
            path,
            format!("extension \"{id}\" is not listed in service.extensions"),
        )),
        Some(_) => Ok(()),
    }
}

fn name_unset_variables(mut err: ConfigError, unset: &[UnsetVariable]) -> ConfigError {
    let related: Vec<&UnsetVariable> = unset
        .iter()
        .filter(|v| {
            v.path == err.path
                || v.path.starts_with(&format!("{}.", err.path))
                || err.path.starts_with(&format!("{}.", v.path))
        })
        .collect();
    if !related.is_empty() {
        let names: Vec<String> = related
            .iter()
            .map(|v| format!("${{env:{}}} at {}", v.name, v.path))
            .collect();
        err.message = format!(
            "{} (the environment variable reference {} is not set and expanded to an empty string)",
            err.message,
            names.join(", ")
        );
    }
    err
}

/// `service`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceConfig {
    #[serde(default)]
    extensions: Vec<String>,
    #[serde(default)]
    pipelines: BTreeMap<String, PipelineConfig>,
    #[serde(default)]
    telemetry: TelemetryConfig,
}

fn key_str<'a>(key: &'a Value, path: &str) -> Result<&'a str, ConfigError> {
    key.as_str()
        .ok_or_else(|| ConfigError::at(path, format!("keys must be strings, found {key:?}")))
}

/// Reads one component section (`receivers`, …), checking each key's type.
fn section<T>(
    root: &Mapping,
    name: &str,
    known: &[&str],
    build: impl Fn(&str, &Value, &str) -> Result<T, ConfigError>,
) -> Result<BTreeMap<ComponentId, T>, ConfigError> {
    let mut out = BTreeMap::new();
    let mapping = match root.get(name) {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            return Err(ConfigError::at(
                name,
                "must be a mapping of component ids to settings",
            ));
        }
    };
    for (key, value) in mapping {
        let key = key_str(key, name)?;
        let path = format!("{name}.{key}");
        let id = ComponentId::parse(key).map_err(|e| ConfigError::at(&path, e))?;
        if !known.contains(&id.kind.as_str()) {
            return Err(ConfigError::at(
                &path,
                format!(
                    "unknown {} type '{}'; burnwatch supports: {}",
                    singular(name),
                    id.kind,
                    known.join(", ")
                ),
            ));
        }
        let component = build(&id.kind, value, &path)?;
        out.insert(id, component);
    }
    Ok(out)
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}

/// Resolves the ids a pipeline lists against a section's definitions.
fn resolve<T>(
    names: &[String],
    path: &str,
    what: &str,
    section: &str,
    defined: &BTreeMap<ComponentId, T>,
) -> Result<Vec<ComponentId>, ConfigError> {
    let mut ids: Vec<ComponentId> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let id = ComponentId::parse(name).map_err(|e| ConfigError::at(&item_path, e))?;
        if !defined.contains_key(&id) {
            return Err(ConfigError::at(
                item_path,
                format!("references {what} '{id}' which is not defined under {section}"),
            ));
        }
        if ids.contains(&id) {
            return Err(ConfigError::at(item_path, format!("lists {what} '{id}' twice")));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Deserializes `value` (a null value reads as an empty mapping, so `batch:` alone gets
/// every default) into a typed config, turning serde's errors into path-naming ones.
pub fn typed<T: DeserializeOwned>(value: &Value, path: &str) -> Result<T, ConfigError> {
    let value = match value {
        Value::Null => Value::Mapping(Mapping::new()),
        v => v.clone(),
    };
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.path().to_string();
        let full = if inner == "." || inner.is_empty() {
            path.to_string()
        } else {
            format!("{path}.{inner}")
        };
        let message = err.into_inner().to_string();
        describe_serde_error(&full, &message)
    })
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" into the wording a
/// user can act on, naming the section the key was found in.
fn describe_serde_error(full_path: &str, message: &str) -> ConfigError {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
        // serde_path_to_error's path ends with the unknown key itself.
        let parent = full_path
            .strip_suffix(key)
            .map(|p| p.trim_end_matches('.'))
            .unwrap_or(full_path);
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let expected = if expected.is_empty() {
            "no keys".to_string()
        } else {
            format!("one of {}", expected.join(", "))
        };
        return ConfigError::at(
            "",
            format!("unknown key '{key}' in {parent}; expected {expected}"),
        );
    }
    ConfigError::at(full_path, message.to_string())
}

/// A serde helper: reads an explicitly written but empty section (`grpc:` with no
/// keys, which YAML reads as null) as "present with defaults", as the OTel Collector
/// does for protocol sections.
pub fn empty_section<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    let value: Option<T> = Option::deserialize(deserializer)?;
    Ok(Some(value.unwrap_or_default()))
}

/// Checks a `host:port` endpoint: a port is required; the host may be empty (every
/// interface), a name or an address.
pub fn check_endpoint(endpoint: &str, path: &str) -> Result<(), ConfigError> {
    let Some((_, port)) = endpoint.rsplit_once(':') else {
        return Err(ConfigError::at(
            path,
            format!("must be host:port, got {endpoint:?}"),
        ));
    };
    port.parse::<u16>().map_err(|_| {
        ConfigError::at(
            path,
            format!("must be host:port with a numeric port, got {endpoint:?}"),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests;

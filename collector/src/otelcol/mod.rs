//! The whole collector configuration, as the OTel Collector's `otelcol.Config`: the
//! assembler that sits above every component.
//!
//! A file has `receivers`, `processors`, `exporters`, `connectors`, `extensions` and
//! `service`. Components are keyed `type[/name]` (`otlp/jaeger`); `service.pipelines` wires
//! them per signal, and a connector listed as an exporter of one pipeline and a receiver
//! of another joins the two ([`graph`]). Values may reference the environment with `${env:VAR}` or
//! `${env:VAR:-default}`, expanded before the typed configuration is read, as the OTel
//! Collector's confmap does. Every error names the YAML path it is about.
//!
//! Each component kind's list lives beside its components, as otelcol's factories do
//! ([`ReceiverConfig`] in [`crate::receivers`], [`ProcessorConfig`] in
//! [`crate::processors`], …); this module only walks the sections with those lists and
//! resolves the pipelines. Components import the vocabulary in [`crate::config`], never
//! this module.

mod files;
pub mod graph;
mod telemetry;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_norway::{Mapping, Value};

use crate::config::{ComponentId, ComponentKind, ConfigError, UnsetVariable, env, key_str, typed};
pub use crate::connectors::ConnectorConfig;
use crate::consumer::Signal;
pub use crate::exporters::ExporterConfig;
pub use crate::extensions::ExtensionConfig;
pub use crate::processors::ProcessorConfig;
pub use crate::receivers::ReceiverConfig;

pub use graph::{ConnectorInstance, FlowNode};
pub use telemetry::{
    MetricReaderConfig, PrometheusPullConfig, PullExporterConfig, PullReaderConfig, TelemetryConfig,
    TelemetryLogsConfig, TelemetryMetricsConfig,
};

/// The configuration that runs when no `--config` is given: OTLP in on localhost,
/// `memory_limiter` and `batch`, Prometheus exposition for metrics and `debug` for traces
/// and logs.
pub const DEFAULT_CONFIG: &str = include_str!("default.yaml");

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
    /// Connectors feeding this pipeline (listed under its `receivers`).
    pub from_connectors: Vec<ComponentId>,
    /// Processors, applied in order.
    pub processors: Vec<ComponentId>,
    /// Exporters receiving the processed data.
    pub exporters: Vec<ComponentId>,
    /// Connectors receiving the processed data (listed under its `exporters`).
    pub to_connectors: Vec<ComponentId>,
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
    /// `connectors`.
    pub connectors: BTreeMap<ComponentId, ConnectorConfig>,
    /// `extensions` (only those enabled in `service.extensions` run).
    pub extensions: BTreeMap<ComponentId, ExtensionConfig>,
    /// `service.extensions`.
    pub service_extensions: Vec<ComponentId>,
    /// `service.pipelines`, resolved.
    pub pipelines: Vec<Pipeline>,
    /// The pipelines and the connector instances between them in data-flow order: each
    /// node before the nodes it feeds.
    pub flow: Vec<FlowNode>,
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

    /// Logs what the configuration does that a user may not have meant: connectors no
    /// pipeline uses, references to unset environment variables. Call once logging is set
    /// up.
    pub fn log_warnings(&self) {
        for id in self.unused_connectors() {
            tracing::warn!(
                connector = %id,
                "Connector is defined but no pipeline uses it; it is not built."
            );
        }
        for var in &self.unset_env {
            tracing::warn!(
                variable = %var.name,
                path = %var.path,
                "Configuration references an unset environment variable; it expands to an empty string."
            );
        }
    }

    /// The connectors defined under `connectors` that no pipeline lists. otelcol builds
    /// only what pipelines use and says nothing; burnwatch logs them (a connector meant to
    /// join pipelines that joins none is likely a mistake), and does not build them either.
    pub fn unused_connectors(&self) -> Vec<&ComponentId> {
        self.connectors
            .keys()
            .filter(|id| {
                !self
                    .pipelines
                    .iter()
                    .any(|p| p.from_connectors.contains(id) || p.to_connectors.contains(id))
            })
            .collect()
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
        let receivers = section::<ReceiverConfig>(&root, "receivers")?;
        let processors = section::<ProcessorConfig>(&root, "processors")?;
        let exporters = section::<ExporterConfig>(&root, "exporters")?;
        let connectors = section::<ConnectorConfig>(&root, "connectors")?;
        let extensions = section::<ExtensionConfig>(&root, "extensions")?;
        check_ambiguous_ids(
            &connectors.keys().cloned().collect::<Vec<_>>(),
            &receivers.keys().cloned().collect::<Vec<_>>(),
            &exporters.keys().cloned().collect::<Vec<_>>(),
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
            for (key, authenticator) in receiver.authenticators() {
                let path = format!("receivers.{id}.{key}");
                check_authenticator(authenticator, &path, &extensions, &service_extensions)?;
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
            let (receivers, from_connectors) = resolve(
                &pc.receivers,
                &format!("{path}.receivers"),
                "receiver",
                "receivers",
                &receivers,
                &connectors,
            )?;
            let (processors, _) = resolve(
                &pc.processors,
                &format!("{path}.processors"),
                "processor",
                "processors",
                &processors,
                &BTreeMap::new(),
            )?;
            let (exporter_ids, to_connectors) = resolve(
                &pc.exporters,
                &format!("{path}.exporters"),
                "exporter",
                "exporters",
                &exporters,
                &connectors,
            )?;
            for id in &exporter_ids {
                if !exporters[id].supports(signal) {
                    let i = pc
                        .exporters
                        .iter()
                        .position(|name| ComponentId::parse(name).as_ref() == Ok(id));
                    return Err(ConfigError::at(
                        format!("{path}.exporters[{}]", i.unwrap_or_default()),
                        format!("exporter '{id}' does not support {signal}"),
                    ));
                }
            }
            pipelines.push(Pipeline {
                id: pipeline_id.clone(),
                signal,
                receivers,
                from_connectors,
                processors,
                exporters: exporter_ids,
                to_connectors,
            });
        }
        let flow = graph::flow(&pipelines, &connectors)?;

        Ok(Config {
            receivers,
            processors,
            exporters,
            connectors,
            extensions,
            service_extensions,
            pipelines,
            flow,
            telemetry: service.telemetry,
            unset_env: Vec::new(),
        })
    }
}

/// otelcol's check that a pipeline's `receivers` or `exporters` entry says which
/// component it means: no connector may share its id with a receiver or an exporter.
/// (No type is both a connector and a receiver or exporter in burnwatch's lists today;
/// otelcol has such types, so the rule is kept for when one is added.)
fn check_ambiguous_ids(
    connectors: &[ComponentId],
    receivers: &[ComponentId],
    exporters: &[ComponentId],
) -> Result<(), ConfigError> {
    for id in connectors {
        for (kind, others) in [("exporter", exporters), ("receiver", receivers)] {
            if others.contains(id) {
                return Err(ConfigError::at(
                    format!("connectors.{id}"),
                    format!(
                        "ambiguous ID: found both \"{id}\" {kind} and \"{id}\" connector; change one of the \
                         components' IDs to eliminate ambiguity (e.g. rename the connector to \"{id}/connector\")"
                    ),
                ));
            }
        }
    }
    Ok(())
}

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
        Some(extension) if !extension.is_authenticator() => Err(ConfigError::at(
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

/// Adds to a validation error the unset variables referenced at (or under) its path: an
/// empty `endpoint` reads "is required" otherwise, which does not say why it is empty.
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

/// Reads one component section (`receivers`, …) with its kind's list, checking each
/// key's type.
fn section<K: ComponentKind>(root: &Mapping, name: &str) -> Result<BTreeMap<ComponentId, K>, ConfigError> {
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
        let Some(component) = K::parse(&id.kind, value, &path) else {
            return Err(ConfigError::at(
                &path,
                format!(
                    "unknown {} type '{}'; burnwatch supports: {}",
                    singular(name),
                    id.kind,
                    K::TYPES.join(", ")
                ),
            ));
        };
        out.insert(id, component?);
    }
    Ok(out)
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}

/// Resolves the ids a pipeline lists against a section's definitions and the
/// connectors (which may stand in a pipeline's `receivers` and `exporters`): the ids
/// found in the section, and those found among the connectors, each in listed order.
fn resolve<T>(
    names: &[String],
    path: &str,
    what: &str,
    section: &str,
    defined: &BTreeMap<ComponentId, T>,
    connectors: &BTreeMap<ComponentId, ConnectorConfig>,
) -> Result<(Vec<ComponentId>, Vec<ComponentId>), ConfigError> {
    let mut seen: Vec<ComponentId> = Vec::new();
    let (mut ids, mut connector_ids) = (Vec::new(), Vec::new());
    for (i, name) in names.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let id = ComponentId::parse(name).map_err(|e| ConfigError::at(&item_path, e))?;
        if seen.contains(&id) {
            return Err(ConfigError::at(item_path, format!("lists {what} '{id}' twice")));
        }
        if defined.contains_key(&id) {
            ids.push(id.clone());
        } else if connectors.contains_key(&id) {
            connector_ids.push(id.clone());
        } else {
            return Err(ConfigError::at(
                item_path,
                format!("references {what} '{id}' which is not defined under {section}"),
            ));
        }
        seen.push(id);
    }
    Ok((ids, connector_ids))
}

#[cfg(test)]
mod tests;

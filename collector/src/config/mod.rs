//! The configuration vocabulary every component speaks: a leaf that imports no component.
//!
//! [`ConfigError`] (an error naming its YAML path), [`ComponentId`] (`type[/name]`),
//! [`GoDuration`], the value helpers a component's `XConfig` uses ([`typed`],
//! [`empty_section`], [`check_endpoint`]), client TLS settings ([`tls_client`]),
//! `${env:…}` expansion, and [`ComponentKind`] with `component_list!`, which declare one
//! component kind's list. The assembler that walks a whole file and resolves its pipelines
//! is [`crate::otelcol`]; it sits above every component, as otelcol's `Config` and
//! factories do, so that a component imports this module and nothing of the others.

mod duration;
pub(crate) mod env;
pub mod tls_client;
pub use env::UnsetVariable;

use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_norway::{Mapping, Value};

pub use duration::{GoDuration, parse_go_duration};

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

/// One component kind (receivers, processors, …): the configuration enum its list
/// declares with `component_list!`, one variant per type. otelcol keeps a map of
/// factories per kind; this is that map, checked by the compiler.
pub trait ComponentKind: Sized {
    /// The type names in the list (`memory_limiter`, `batch`), in its order.
    const TYPES: &'static [&'static str];

    /// Reads and validates the settings of a component of type `kind` found at `path`;
    /// `None` when the list has no such type.
    fn parse(kind: &str, value: &Value, path: &str) -> Option<Result<Self, ConfigError>>;

    /// The type name of this configuration (`batch`).
    fn type_name(&self) -> &'static str;
}

/// Declares a component kind's list: the configuration enum with one variant per type,
/// and its [`ComponentKind`] implementation reading each type's settings with [`typed`]
/// and checking them with the settings' own `validate(&self, path)`.
///
/// ```ignore
/// component_list! {
///     /// A configured processor.
///     pub enum ProcessorConfig {
///         "memory_limiter" => MemoryLimiter(memory_limiter::MemoryLimiterConfig),
///         "batch" => Batch(batch::BatchConfig),
///     }
/// }
/// ```
macro_rules! component_list {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $key:literal => $variant:ident($config:ty), )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis enum $name {
            $(
                #[doc = concat!("`", $key, "`.")]
                $variant($config),
            )*
        }

        impl $crate::config::ComponentKind for $name {
            const TYPES: &'static [&'static str] = &[$($key),*];

            fn parse(
                kind: &str,
                value: &::serde_norway::Value,
                path: &str,
            ) -> Option<Result<Self, $crate::config::ConfigError>> {
                match kind {
                    $(
                        $key => Some($crate::config::typed::<$config>(value, path).and_then(|c| {
                            c.validate(path)?;
                            Ok($name::$variant(c))
                        })),
                    )*
                    _ => None,
                }
            }

            fn type_name(&self) -> &'static str {
                match self {
                    $( $name::$variant(_) => $key, )*
                }
            }
        }
    };
}
pub(crate) use component_list;

/// Reads a mapping key as a string, naming `path` when it is not one.
pub fn key_str<'a>(key: &'a Value, path: &str) -> Result<&'a str, ConfigError> {
    key.as_str()
        .ok_or_else(|| ConfigError::at(path, format!("keys must be strings, found {key:?}")))
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

//! Attribute actions, shared by the `attributes` and `resource` processors: the
//! OTel Collector-contrib's `attraction` vocabulary (`insert`, `update`, `upsert`,
//! `delete`, `hash`, `extract`, `convert`) over an OTLP attribute list.
//!
//! Semantics follow the contrib attributes processor's README:
//! - `insert` adds `key` when it is absent, `update` changes it when present, `upsert`
//!   does either; the value is `value` (any YAML scalar, list or map) or a copy of the
//!   attribute `from_attribute` (nothing happens when that one is absent).
//! - `delete` removes `key` and every attribute whose name matches `pattern`.
//! - `hash` replaces the value of `key` and of every attribute matching `pattern` with the
//!   hex SHA-256 of its bytes (strings as UTF-8, booleans as one byte 0/1, integers and
//!   doubles as 8 little-endian bytes; other types become the empty string), as
//!   otelcol-contrib has done since v0.75 (SHA-1 before).
//! - `extract` matches `pattern` (its named groups) against the string value of `key` and
//!   upserts one attribute per named group.
//! - `convert` changes the type of `key` to `converted_type` (`int`, `double`, `string`);
//!   a value that does not convert stays as it is.
//!
//! `from_context` (request metadata and client address in otelcol) is refused by name:
//! burnwatch's pipelines carry no request context.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use regex::Regex;
use serde::Deserialize;
use serde_norway::Value as Yaml;
use sha2::{Digest as _, Sha256};

use crate::config::ConfigError;

/// One entry of an `actions` list, as the user writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The attribute the action applies to. Required, except for `delete` and `hash`
    /// given a `pattern`.
    #[serde(default)]
    pub key: Option<String>,
    /// `insert`, `update`, `upsert`, `delete`, `hash`, `extract` or `convert`.
    pub action: String,
    /// The value `insert`, `update` and `upsert` set (a scalar, list or map).
    #[serde(default)]
    pub value: Option<Yaml>,
    /// The attribute whose value `insert`, `update` and `upsert` copy.
    #[serde(default)]
    pub from_attribute: Option<String>,
    /// Request context in otelcol; refused here.
    #[serde(default)]
    pub from_context: Option<String>,
    /// A regular expression: attribute names for `delete` and `hash`, the value with named
    /// groups for `extract`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// The target type of `convert`: `int`, `double` or `string`.
    #[serde(default)]
    pub converted_type: Option<String>,
}

/// Where `insert`, `update` and `upsert` take their value from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Value(AnyValue),
    Attribute(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Converted {
    Int,
    Double,
    String,
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Source),
    Update(Source),
    Upsert(Source),
    Delete,
    Hash,
    Extract(Regex),
    Convert(Converted),
}

#[derive(Debug, Clone)]
struct Action {
    key: Option<String>,
    /// Names matched by `delete` and `hash`.
    pattern: Option<Regex>,
    op: Op,
}

/// A compiled `actions` list, applied in order.
#[derive(Debug, Clone, Default)]
pub struct Actions(Vec<Action>);

const ACTIONS: &str = "insert, update, upsert, delete, hash, extract, convert";

impl Actions {
    /// Checks and compiles `configs`; errors name `path.actions[i].field`.
    pub fn compile(configs: &[ActionConfig], path: &str) -> Result<Actions, ConfigError> {
        let mut actions = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let at = format!("{path}.actions[{i}]");
            actions.push(compile_one(c, &at)?);
        }
        Ok(Actions(actions))
    }

    /// Whether there are no actions.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies every action to `attrs`, in order: a decoded `Vec<KeyValue>` or the
    /// attributes of a span still in its wire bytes ([`crate::processors::raw`]), through
    /// the one implementation, so both paths give the same attributes.
    pub fn apply<L: AttrList + ?Sized>(&self, attrs: &mut L) {
        for action in &self.0 {
            action.apply(attrs);
        }
    }
}

/// An attribute list the actions work on: the operations `Vec<KeyValue>` offers them,
/// also implemented over a span's encoded attributes, which are decoded only where an
/// action reads or changes a value.
pub trait AttrList {
    /// The number of attributes.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The name of attribute `i`.
    fn key(&self, i: usize) -> &str;
    /// The value of attribute `i` (`None` for a key-value pair without one).
    fn value(&self, i: usize) -> Option<Cow<'_, AnyValue>>;
    /// Sets the value of attribute `i`, keeping its position.
    fn set_value(&mut self, i: usize, value: AnyValue);
    /// Appends an attribute.
    fn push(&mut self, key: &str, value: AnyValue);
    /// Keeps the attributes whose name `keep` accepts, in order.
    fn retain_keys(&mut self, keep: &mut dyn FnMut(&str) -> bool);
    /// The index of the first attribute named `key`.
    fn position(&self, key: &str) -> Option<usize> {
        (0..self.len()).find(|&i| self.key(i) == key)
    }
    /// The value of the first attribute named `key`.
    fn get(&self, key: &str) -> Option<Cow<'_, AnyValue>> {
        self.position(key).and_then(|i| self.value(i))
    }
}

impl AttrList for Vec<KeyValue> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn key(&self, i: usize) -> &str {
        &self[i].key
    }
    fn value(&self, i: usize) -> Option<Cow<'_, AnyValue>> {
        self[i].value.as_ref().map(Cow::Borrowed)
    }
    fn set_value(&mut self, i: usize, value: AnyValue) {
        self[i].value = Some(value);
    }
    fn push(&mut self, key: &str, value: AnyValue) {
        Vec::push(self, kv(key, value));
    }
    fn retain_keys(&mut self, keep: &mut dyn FnMut(&str) -> bool) {
        self.retain(|a| keep(&a.key));
    }
}

fn compile_one(c: &ActionConfig, at: &str) -> Result<Action, ConfigError> {
    if c.from_context.is_some() {
        return Err(ConfigError::at(
            format!("{at}.from_context"),
            "is not supported by burnwatch: its pipelines carry no request context (client metadata, auth); use value or from_attribute",
        ));
    }
    let key = c.key.clone().filter(|k| !k.is_empty());
    let regex = |what: &str| -> Result<Option<Regex>, ConfigError> {
        match &c.pattern {
            None => Ok(None),
            Some(p) => Regex::new(p).map(Some).map_err(|err| {
                ConfigError::at(
                    format!("{at}.pattern"),
                    format!("is not a valid regular expression for {what}: {err}"),
                )
            }),
        }
    };
    let refuse = |field: &str, present: bool, action: &str| -> Result<(), ConfigError> {
        if present {
            Err(ConfigError::at(
                format!("{at}.{field}"),
                format!("is not allowed with action {action}"),
            ))
        } else {
            Ok(())
        }
    };
    let need_key = |action: &str| -> Result<String, ConfigError> {
        key.clone()
            .ok_or_else(|| ConfigError::at(format!("{at}.key"), format!("is required for action {action}")))
    };
    let action = c.action.to_ascii_lowercase();
    let op = match action.as_str() {
        "insert" | "update" | "upsert" => {
            need_key(&action)?;
            refuse("pattern", c.pattern.is_some(), &action)?;
            refuse("converted_type", c.converted_type.is_some(), &action)?;
            let source = match (&c.value, &c.from_attribute) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::at(
                        at,
                        format!("action {action} takes one of value and from_attribute, not both"),
                    ));
                }
                (Some(v), None) => Source::Value(yaml_to_any(v, &format!("{at}.value"))?),
                (None, Some(from)) if !from.is_empty() => Source::Attribute(from.clone()),
                _ => {
                    return Err(ConfigError::at(
                        at,
                        format!("action {action} needs value or from_attribute"),
                    ));
                }
            };
            match action.as_str() {
                "insert" => Op::Insert(source),
                "update" => Op::Update(source),
                _ => Op::Upsert(source),
            }
        }
        "delete" | "hash" => {
            refuse("value", c.value.is_some(), &action)?;
            refuse("from_attribute", c.from_attribute.is_some(), &action)?;
            refuse("converted_type", c.converted_type.is_some(), &action)?;
            if key.is_none() && c.pattern.is_none() {
                return Err(ConfigError::at(
                    at,
                    format!("action {action} needs key or pattern"),
                ));
            }
            let pattern = regex("attribute names")?;
            return Ok(Action {
                key,
                pattern,
                op: if action == "delete" { Op::Delete } else { Op::Hash },
            });
        }
        "extract" => {
            need_key(&action)?;
            refuse("value", c.value.is_some(), &action)?;
            refuse("from_attribute", c.from_attribute.is_some(), &action)?;
            refuse("converted_type", c.converted_type.is_some(), &action)?;
            let Some(re) = regex("extract")? else {
                return Err(ConfigError::at(
                    format!("{at}.pattern"),
                    "is required for action extract",
                ));
            };
            if re.capture_names().flatten().next().is_none() {
                return Err(ConfigError::at(
                    format!("{at}.pattern"),
                    "must have at least one named group, (?P<name>...), for action extract",
                ));
            }
            Op::Extract(re)
        }
        "convert" => {
            need_key(&action)?;
            refuse("value", c.value.is_some(), &action)?;
            refuse("from_attribute", c.from_attribute.is_some(), &action)?;
            refuse("pattern", c.pattern.is_some(), &action)?;
            let to = match c.converted_type.as_deref() {
                Some("int") => Converted::Int,
                Some("double") => Converted::Double,
                Some("string") => Converted::String,
                Some(other) => {
                    return Err(ConfigError::at(
                        format!("{at}.converted_type"),
                        format!("must be int, double or string, got {other:?}"),
                    ));
                }
                None => {
                    return Err(ConfigError::at(
                        format!("{at}.converted_type"),
                        "is required for action convert",
                    ));
                }
            };
            Op::Convert(to)
        }
        other => {
            return Err(ConfigError::at(
                format!("{at}.action"),
                format!("must be one of {ACTIONS}, got {other:?}"),
            ));
        }
    };
    Ok(Action {
        key,
        pattern: None,
        op,
    })
}

impl Action {
    /// Whether `delete` and `hash` apply to the attribute named `name`.
    fn names(&self, name: &str) -> bool {
        self.key.as_deref() == Some(name) || self.pattern.as_ref().is_some_and(|p| p.is_match(name))
    }

    fn apply<L: AttrList + ?Sized>(&self, attrs: &mut L) {
        let key = self.key.as_deref().unwrap_or("");
        match &self.op {
            Op::Insert(source) => {
                if attrs.position(key).is_none()
                    && let Some(v) = source.resolve(attrs)
                {
                    attrs.push(key, v);
                }
            }
            Op::Update(source) => {
                if let Some(i) = attrs.position(key)
                    && let Some(v) = source.resolve(attrs)
                {
                    attrs.set_value(i, v);
                }
            }
            Op::Upsert(source) => {
                if let Some(v) = source.resolve(attrs) {
                    upsert_in(attrs, key, v);
                }
            }
            Op::Delete => attrs.retain_keys(&mut |name| !self.names(name)),
            Op::Hash => {
                for i in 0..attrs.len() {
                    if self.names(attrs.key(i)) {
                        let hashed = hash(attrs.value(i).as_deref());
                        attrs.set_value(i, string_value(hashed));
                    }
                }
            }
            Op::Extract(re) => {
                let Some(i) = attrs.position(key) else {
                    return;
                };
                let found: Vec<(String, String)> = {
                    let value = attrs.value(i);
                    let Some(Av::StringValue(s)) = value.as_deref().and_then(|v| v.value.as_ref()) else {
                        return;
                    };
                    let Some(caps) = re.captures(s) else {
                        return;
                    };
                    re.capture_names()
                        .flatten()
                        .filter_map(|name| {
                            caps.name(name)
                                .map(|m| (name.to_string(), m.as_str().to_string()))
                        })
                        .collect()
                };
                for (name, value) in found {
                    upsert_in(attrs, &name, string_value(value));
                }
            }
            Op::Convert(to) => {
                if let Some(i) = attrs.position(key)
                    && let Some(converted) = attrs.value(i).and_then(|v| convert(&v, *to))
                {
                    attrs.set_value(i, converted);
                }
            }
        }
    }
}

/// [`upsert`] over any attribute list.
fn upsert_in<L: AttrList + ?Sized>(attrs: &mut L, key: &str, value: AnyValue) {
    match attrs.position(key) {
        Some(i) => attrs.set_value(i, value),
        None => attrs.push(key, value),
    }
}

impl Source {
    fn resolve<L: AttrList + ?Sized>(&self, attrs: &L) -> Option<AnyValue> {
        match self {
            Source::Value(v) => Some(v.clone()),
            Source::Attribute(from) => attrs.get(from).map(Cow::into_owned),
        }
    }
}

/// The index of the first attribute named `key`.
pub fn position(attrs: &[KeyValue], key: &str) -> Option<usize> {
    attrs.iter().position(|a| a.key == key)
}

/// The value of the first attribute named `key`.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref())
}

/// Sets `key` to `value`, replacing the first attribute of that name or appending.
pub fn upsert(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match position(attrs, key) {
        Some(i) => attrs[i].value = Some(value),
        None => attrs.push(kv(key, value)),
    }
}

/// A key-value pair.
pub fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    }
}

/// A string `AnyValue`.
pub fn string_value(s: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(Av::StringValue(s.into())),
    }
}

/// The hex SHA-256 of a value's bytes, as otelcol-contrib's `sha2Hasher`; empty for
/// values other than strings, booleans, integers and doubles.
fn hash(value: Option<&AnyValue>) -> String {
    let bytes: Vec<u8> = match value.and_then(|v| v.value.as_ref()) {
        Some(Av::StringValue(s)) => s.as_bytes().to_vec(),
        Some(Av::BoolValue(b)) => vec![u8::from(*b)],
        Some(Av::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(Av::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => return String::new(),
    };
    let digest = Sha256::digest(&bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

fn convert(value: &AnyValue, to: Converted) -> Option<AnyValue> {
    let v = value.value.as_ref()?;
    let out = match (to, v) {
        (Converted::Int, Av::IntValue(_))
        | (Converted::Double, Av::DoubleValue(_))
        | (Converted::String, Av::StringValue(_)) => return None,
        (Converted::Int, Av::StringValue(s)) => Av::IntValue(s.trim().parse().ok()?),
        // Go's int64(float64) truncates toward zero; out-of-range values do not convert.
        (Converted::Int, Av::DoubleValue(d)) => {
            if !d.is_finite() || d.abs() >= 9.223_372_036_854_776e18 {
                return None;
            }
            Av::IntValue(d.trunc() as i64)
        }
        (Converted::Int, Av::BoolValue(b)) => Av::IntValue(i64::from(*b)),
        (Converted::Double, Av::StringValue(s)) => Av::DoubleValue(s.trim().parse().ok()?),
        (Converted::Double, Av::IntValue(i)) => Av::DoubleValue(*i as f64),
        (Converted::Double, Av::BoolValue(b)) => Av::DoubleValue(f64::from(u8::from(*b))),
        (Converted::String, other) => Av::StringValue(scalar_string(other)?),
        _ => return None,
    };
    Some(AnyValue { value: Some(out) })
}

/// A scalar's string form as pcommon's `Value.AsString` writes it (`true`, `42`, a
/// double's shortest decimal without exponent); `None` for lists, maps and bytes.
pub fn scalar_string(v: &Av) -> Option<String> {
    Some(match v {
        Av::StringValue(s) => s.clone(),
        Av::BoolValue(b) => b.to_string(),
        Av::IntValue(i) => i.to_string(),
        Av::DoubleValue(d) => {
            if d.is_nan() {
                "NaN".to_string()
            } else if d.is_infinite() {
                if *d > 0.0 { "+Inf" } else { "-Inf" }.to_string()
            } else {
                d.to_string()
            }
        }
        _ => return None,
    })
}

/// Converts a configured YAML value to an attribute value. Null is refused: otelcol
/// reads a missing value as "no value".
pub fn yaml_to_any(value: &Yaml, path: &str) -> Result<AnyValue, ConfigError> {
    let v = match value {
        Yaml::Null => return Err(ConfigError::at(path, "must not be null")),
        Yaml::Bool(b) => Av::BoolValue(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Av::IntValue(i)
            } else if let Some(f) = n.as_f64() {
                Av::DoubleValue(f)
            } else {
                return Err(ConfigError::at(path, format!("is out of range: {n}")));
            }
        }
        Yaml::String(s) => Av::StringValue(s.clone()),
        Yaml::Sequence(items) => Av::ArrayValue(ArrayValue {
            values: items
                .iter()
                .enumerate()
                .map(|(i, item)| yaml_to_any(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        }),
        Yaml::Mapping(m) => {
            let mut values = Vec::with_capacity(m.len());
            for (k, item) in m {
                let Some(k) = k.as_str() else {
                    return Err(ConfigError::at(path, "must have string keys"));
                };
                values.push(kv(k, yaml_to_any(item, &format!("{path}.{k}"))?));
            }
            Av::KvlistValue(KeyValueList { values })
        }
        Yaml::Tagged(t) => return yaml_to_any(&t.value, path),
    };
    Ok(AnyValue { value: Some(v) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(yaml: &str) -> Result<Actions, ConfigError> {
        let configs: Vec<ActionConfig> = serde_norway::from_str(yaml).expect("yaml");
        Actions::compile(&configs, "processors.attributes")
    }

    fn s(v: &str) -> AnyValue {
        string_value(v)
    }

    fn int(i: i64) -> AnyValue {
        AnyValue {
            value: Some(Av::IntValue(i)),
        }
    }

    fn run(yaml: &str, mut attrs: Vec<KeyValue>) -> Vec<KeyValue> {
        actions(yaml).expect("valid").apply(&mut attrs);
        attrs
    }

    #[test]
    fn insert_adds_only_when_absent() {
        let out = run(
            "[{key: a, value: new, action: insert}, {key: b, value: 7, action: insert}]",
            vec![kv("a", s("old"))],
        );
        assert_eq!(out, vec![kv("a", s("old")), kv("b", int(7))]);
    }

    #[test]
    fn update_changes_only_when_present() {
        let out = run(
            "[{key: a, value: new, action: update}, {key: b, value: x, action: update}]",
            vec![kv("a", s("old"))],
        );
        assert_eq!(out, vec![kv("a", s("new"))]);
    }

    #[test]
    fn upsert_from_attribute_copies_and_skips_when_source_absent() {
        let out = run(
            "[{key: a, from_attribute: src, action: upsert}, {key: c, from_attribute: nope, action: upsert}]",
            vec![kv("src", int(3))],
        );
        assert_eq!(out, vec![kv("src", int(3)), kv("a", int(3))]);
    }

    #[test]
    fn delete_by_key_and_pattern() {
        let out = run(
            "[{key: a, action: delete}, {pattern: '^secret\\.', action: delete}]",
            vec![kv("a", s("1")), kv("secret.x", s("2")), kv("keep", s("3"))],
        );
        assert_eq!(out, vec![kv("keep", s("3"))]);
    }

    #[test]
    fn hash_is_sha256_hex_as_otelcol() {
        // sha256("hello") and sha256 of 42 as 8 little-endian bytes.
        let out = run(
            "[{key: user, action: hash}, {key: n, action: hash}, {key: m, action: hash}]",
            vec![
                kv("user", s("hello")),
                kv("n", int(42)),
                kv(
                    "m",
                    AnyValue {
                        value: Some(Av::ArrayValue(ArrayValue::default())),
                    },
                ),
            ],
        );
        assert_eq!(
            out[0].value,
            Some(s(
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            ))
        );
        let mut n = Sha256::new();
        n.update([42u8, 0, 0, 0, 0, 0, 0, 0]);
        let expected: String = n.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(out[1].value, Some(s(&expected)));
        assert_eq!(out[2].value, Some(s("")));
    }

    #[test]
    fn extract_upserts_named_groups() {
        let out = run(
            r#"[{key: http.url, pattern: '^(?P<scheme>\w+)://(?P<host>[^/]+)/', action: extract}]"#,
            vec![
                kv("http.url", s("https://example.com/path")),
                kv("host", s("old")),
            ],
        );
        assert_eq!(
            out,
            vec![
                kv("http.url", s("https://example.com/path")),
                kv("host", s("example.com")),
                kv("scheme", s("https")),
            ]
        );
        // No match, or not a string: nothing changes.
        let unchanged = vec![kv("http.url", int(1))];
        assert_eq!(
            run(
                r#"[{key: http.url, pattern: '(?P<x>a)', action: extract}]"#,
                unchanged.clone()
            ),
            unchanged
        );
    }

    #[test]
    fn convert_between_types() {
        let out = run(
            "[{key: a, action: convert, converted_type: int}, {key: b, action: convert, converted_type: double}, {key: c, action: convert, converted_type: string}, {key: d, action: convert, converted_type: int}]",
            vec![
                kv("a", s("12")),
                kv("b", int(2)),
                kv("c", int(5)),
                kv("d", s("x")),
            ],
        );
        assert_eq!(
            out,
            vec![
                kv("a", int(12)),
                kv(
                    "b",
                    AnyValue {
                        value: Some(Av::DoubleValue(2.0))
                    }
                ),
                kv("c", s("5")),
                kv("d", s("x")),
            ]
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = |yaml: &str| actions(yaml).expect_err("invalid").to_string();
        assert_eq!(
            err("[{key: a, action: insert}]"),
            "processors.attributes.actions[0]: action insert needs value or from_attribute"
        );
        assert_eq!(
            err("[{value: 1, action: upsert}]"),
            "processors.attributes.actions[0].key is required for action upsert"
        );
        assert_eq!(
            err("[{key: a, action: frobnicate}]"),
            "processors.attributes.actions[0].action must be one of insert, update, upsert, delete, hash, extract, convert, got \"frobnicate\""
        );
        assert_eq!(
            err("[{key: a, from_context: metadata.x, action: insert}]"),
            "processors.attributes.actions[0].from_context is not supported by burnwatch: its pipelines carry no request context (client metadata, auth); use value or from_attribute"
        );
        assert_eq!(
            err("[{key: a, pattern: 'x', action: extract}]"),
            "processors.attributes.actions[0].pattern must have at least one named group, (?P<name>...), for action extract"
        );
        assert_eq!(
            err("[{key: a, action: delete, value: 1}]"),
            "processors.attributes.actions[0].value is not allowed with action delete"
        );
        assert!(
            err("[{pattern: '(', action: delete}]")
                .starts_with("processors.attributes.actions[0].pattern is not a valid regular expression")
        );
    }
}

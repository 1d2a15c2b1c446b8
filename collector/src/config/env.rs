//! `${env:VAR}` expansion, as the OTel Collector's confmap resolver does it.
//!
//! Expansion happens on the parsed YAML tree, in string scalars only, so a variable's
//! value can never inject YAML structure. When a scalar is exactly one reference
//! (`limit_mib: ${env:LIMIT}`), the expanded text is re-read as a YAML scalar so that
//! numbers and booleans keep their type, as the OTel Collector does. `$$` escapes a `$`.
//!
//! An unset variable without a default expands to the empty string, as the OTel
//! Collector's env provider does ("Configuration references unset environment
//! variable", a warning). It is recorded as an [`UnsetVariable`] so that the warning can
//! be shown once logging is up (and by `collector validate`), and so that a validation
//! error at the same place names the variable instead of only saying the value is empty.

use serde_norway::Value;

use super::ConfigError;

/// A `${env:NAME}` reference to a variable that was not set, and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetVariable {
    /// The variable's name.
    pub name: String,
    /// The YAML path of the value that referenced it.
    pub path: String,
}

impl std::fmt::Display for UnsetVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: ${{env:{}}} is not set; it expands to an empty string",
            self.path, self.name
        )
    }
}

/// Expands every reference in `value`; `path` names the value for errors. Unset
/// variables are added to `unset`.
pub(crate) fn expand(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<UnsetVariable>,
) -> Result<(), ConfigError> {
    match value {
        Value::String(s) => {
            if !s.contains('$') {
                return Ok(());
            }
            let whole_reference = is_single_reference(s);
            let expanded = expand_str(s, path, lookup, unset)?;
            *value = if whole_reference {
                match serde_norway::from_str::<Value>(&expanded) {
                    Ok(v @ (Value::Bool(_) | Value::Number(_))) => v,
                    _ => Value::String(expanded),
                }
            } else {
                Value::String(expanded)
            };
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand(item, &format!("{path}[{i}]"), lookup, unset)?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().unwrap_or("?");
                let child = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                expand(item, &child, lookup, unset)?;
            }
        }
        Value::Tagged(tagged) => expand(&mut tagged.value, path, lookup, unset)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn is_single_reference(s: &str) -> bool {
    s.starts_with("${") && s.ends_with('}') && s[2..].find('}') == Some(s.len() - 3)
}

/// Expands the references in one string.
pub(super) fn expand_str(
    s: &str,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<UnsetVariable>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
            continue;
        }
        let Some(body_and_tail) = rest.strip_prefix("${") else {
            // A lone `$` not followed by `{` is literal, as in the OTel Collector.
            out.push('$');
            rest = &rest[1..];
            continue;
        };
        let end = body_and_tail
            .find('}')
            .ok_or_else(|| ConfigError::at(path, format!("unterminated ${{…}} reference in {s:?}")))?;
        let body = &body_and_tail[..end];
        rest = &body_and_tail[end + 1..];
        let (provider, rest_of_body) = match body.split_once(':') {
            Some((p, r)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()) => (Some(p), r),
            _ => (None, body),
        };
        match provider {
            Some("env") | None => {
                let (name, default) = match rest_of_body.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (rest_of_body, None),
                };
                if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || name.starts_with(|c: char| c.is_ascii_digit())
                {
                    return Err(ConfigError::at(
                        path,
                        format!("invalid environment variable name {name:?} in {s:?}"),
                    ));
                }
                match (lookup(name), default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => unset.push(UnsetVariable {
                        name: name.to_string(),
                        path: path.to_string(),
                    }),
                }
            }
            Some(other) => {
                return Err(ConfigError::at(
                    path,
                    format!("unsupported config provider '{other}' in {s:?}; only ${{env:VAR}} is supported"),
                ));
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

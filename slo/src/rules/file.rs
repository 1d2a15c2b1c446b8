//! Rule files in Prometheus's format, loaded and checked as `promtool check rules` checks them
//! (Prometheus's `model/rulefmt`).
//!
//! ```yaml
//! groups:
//!   - name: example
//!     interval: 30s        # optional, the global evaluation interval otherwise
//!     limit: 10            # optional: most series (recording) or alerts (alerting) per rule
//!     query_offset: 1m     # optional (Prometheus 3.x): evaluate this far in the past
//!     rules:
//!       - record: job:up:sum
//!         expr: sum by (job) (up)
//!       - alert: InstanceDown
//!         expr: up == 0
//!         for: 5m
//!         keep_firing_for: 1m
//!         labels: { severity: page }
//!         annotations: { summary: "{{ $labels.instance }} is down" }
//! ```
//!
//! Errors name the file, the group, the rule's index (from 0, as promtool counts) and name, and
//! the field; an expression that does not parse gives the parser's position inside it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::template::Template;
use crate::duration::parse_prometheus_duration_ms;

/// A rule file or pattern that could not be loaded, or a rule in it that is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleFileError {
    /// The file cannot be read.
    #[error("{file}: cannot read the rule file: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        reason: String,
    },
    /// A glob pattern is malformed.
    #[error("{pattern}: invalid rule file pattern: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The YAML does not have the rule-file shape.
    #[error("{file}: {reason}")]
    Yaml {
        /// The file.
        file: String,
        /// The YAML decoder's message, with the path inside the document.
        reason: String,
    },
    /// A group is invalid (empty name, repeated name, bad interval).
    #[error("{file}: group {group:?}: {reason}")]
    Group {
        /// The file.
        file: String,
        /// The group's name.
        group: String,
        /// What is wrong.
        reason: String,
    },
    /// A rule is invalid.
    #[error("{file}: group {group:?}, rule {index} ({name:?}), field {field}: {reason}")]
    Rule {
        /// The file.
        file: String,
        /// The group's name.
        group: String,
        /// The rule's index in the group, from 0.
        index: usize,
        /// The rule's `record` or `alert` name.
        name: String,
        /// The field at fault (`expr`, `labels.severity`, ...).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// One loaded rule file.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleFile {
    /// The path as given (or as the glob found it).
    pub path: String,
    /// Its groups in file order.
    pub groups: Vec<GroupSpec>,
}

/// One rule group as written.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSpec {
    /// The group's name, unique in its file.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// `interval` in ms; `None` takes the manager's evaluation interval.
    pub interval_ms: Option<i64>,
    /// `limit`: 0 is none.
    pub limit: usize,
    /// `query_offset` in ms (Prometheus 3.x); `None` takes the manager's default (0).
    pub query_offset_ms: Option<i64>,
    /// The rules, evaluated in order.
    pub rules: Vec<RuleSpec>,
}

/// What a rule does.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    /// `record: <name>`: the result is stored under that metric name.
    Recording,
    /// `alert: <name>` with its `for`, `keep_firing_for` and annotations.
    Alerting {
        /// `for` in ms.
        for_ms: i64,
        /// `keep_firing_for` in ms.
        keep_firing_for_ms: i64,
        /// Annotation templates in name order.
        annotations: BTreeMap<String, String>,
    },
}

/// One rule as written.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    /// The `record` or `alert` name.
    pub name: String,
    /// The PromQL expression, trimmed.
    pub expr: String,
    /// Labels (templates for alerting rules) in name order.
    pub labels: BTreeMap<String, String>,
    /// Recording or alerting, with the alerting fields.
    pub kind: RuleKind,
}

impl RuleSpec {
    /// Whether this is an alerting rule.
    pub fn is_alerting(&self) -> bool {
        matches!(self.kind, RuleKind::Alerting { .. })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    query_offset: Option<String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<serde_norway::Value>,
    #[serde(default)]
    alert: Option<serde_norway::Value>,
    #[serde(default)]
    expr: Option<serde_norway::Value>,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, serde_norway::Value>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, serde_norway::Value>>,
}

/// A YAML scalar as the string Go's YAML decoder gives a `string` field (`tier: 1` is `"1"`).
fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        serde_norway::Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Whether `n` is a valid label name (Prometheus's legacy `[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Whether `n` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn valid_metric_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

fn duration_field(s: &str) -> Result<i64, String> {
    parse_prometheus_duration_ms(s).ok_or_else(|| format!("not a valid duration string: {s:?}"))
}

/// Parses and checks one rule file's text; `file` names it in errors.
pub fn parse_rule_file(file: &str, text: &str) -> Result<RuleFile, RuleFileError> {
    // An empty file is a file without groups, as Prometheus reads it.
    let raw: Option<RawFile> = if text.trim().is_empty() {
        None
    } else {
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            // serde_norway's message already names the YAML path and the line.
            let inner = e.inner().to_string();
            let path = e.path().to_string();
            let reason = if inner.contains(':') || path == "." || path.is_empty() {
                inner
            } else {
                format!("{path}: {inner}")
            };
            RuleFileError::Yaml {
                file: file.to_string(),
                reason,
            }
        })?
    };
    let raw = raw.unwrap_or(RawFile { groups: Vec::new() });
    let mut seen = HashSet::new();
    let mut groups = Vec::with_capacity(raw.groups.len());
    for g in raw.groups {
        let group_err = |reason: String| RuleFileError::Group {
            file: file.to_string(),
            group: g.name.clone(),
            reason,
        };
        if g.name.is_empty() {
            return Err(group_err("Groupname must not be empty".to_string()));
        }
        if !seen.insert(g.name.clone()) {
            return Err(group_err("repeated in the same file".to_string()));
        }
        let interval_ms = match &g.interval {
            None => None,
            Some(s) => {
                let ms = duration_field(s).map_err(|e| group_err(format!("field interval: {e}")))?;
                // Prometheus treats an interval of 0 as unset (the global interval).
                (ms > 0).then_some(ms)
            }
        };
        let query_offset_ms = match &g.query_offset {
            None => None,
            Some(s) => Some(duration_field(s).map_err(|e| group_err(format!("field query_offset: {e}")))?),
        };
        let limit = match g.limit {
            None => 0,
            Some(n) if n < 0 => return Err(group_err(format!("field limit: must not be negative, got {n}"))),
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let mut rules = Vec::with_capacity(g.rules.len());
        for (index, r) in g.rules.into_iter().enumerate() {
            rules.push(check_rule(file, &g.name, index, r)?);
        }
        groups.push(GroupSpec {
            name: g.name,
            file: file.to_string(),
            interval_ms,
            limit,
            query_offset_ms,
            rules,
        });
    }
    Ok(RuleFile {
        path: file.to_string(),
        groups,
    })
}

fn check_rule(file: &str, group: &str, index: usize, r: RawRule) -> Result<RuleSpec, RuleFileError> {
    let record = r.record.as_ref().and_then(scalar).unwrap_or_default();
    let alert = r.alert.as_ref().and_then(scalar).unwrap_or_default();
    let name = if record.is_empty() {
        alert.clone()
    } else {
        record.clone()
    };
    let err = |field: &str, reason: String| RuleFileError::Rule {
        file: file.to_string(),
        group: group.to_string(),
        index,
        name: name.clone(),
        field: field.to_string(),
        reason,
    };
    if !record.is_empty() && !alert.is_empty() {
        return Err(err(
            "record",
            "only one of 'record' and 'alert' must be set".to_string(),
        ));
    }
    if record.is_empty() && alert.is_empty() {
        let field = if r.record.is_some() { "record" } else { "alert" };
        return Err(err(field, "one of 'record' or 'alert' must be set".to_string()));
    }
    let expr = r.expr.as_ref().and_then(scalar).unwrap_or_default();
    let expr = expr.trim().to_string();
    if expr.is_empty() {
        return Err(err("expr", "field 'expr' must be set in rule".to_string()));
    }
    match crate::promql::Engine::parse(&expr) {
        Ok(e) => crate::promql::depth::dismantle(e),
        Err(crate::promql::QueryError::Parse(msg)) => {
            return Err(err(
                "expr",
                format!(
                    "could not parse expression: {}",
                    crate::api::position::parse_error_text(&expr, &msg)
                ),
            ));
        }
        Err(e) => return Err(err("expr", format!("could not parse expression: {e}"))),
    }
    let mut labels = BTreeMap::new();
    for (k, v) in r.labels.unwrap_or_default() {
        let field = format!("labels.{k}");
        if !valid_label_name(&k) || k == "__name__" {
            return Err(err(&field, format!("invalid label name: {k}")));
        }
        let v = scalar(&v).ok_or_else(|| err(&field, "a label value must be a string".to_string()))?;
        labels.insert(k, v);
    }
    let mut annotations = BTreeMap::new();
    for (k, v) in r.annotations.unwrap_or_default() {
        let field = format!("annotations.{k}");
        if !valid_label_name(&k) {
            return Err(err(&field, format!("invalid annotation name: {k}")));
        }
        let v = scalar(&v).ok_or_else(|| err(&field, "an annotation must be a string".to_string()))?;
        annotations.insert(k, v);
    }
    if !record.is_empty() {
        if !annotations.is_empty() {
            return Err(err(
                "annotations",
                "invalid field 'annotations' in recording rule".to_string(),
            ));
        }
        if r.for_.is_some() {
            return Err(err("for", "invalid field 'for' in recording rule".to_string()));
        }
        if r.keep_firing_for.is_some() {
            return Err(err(
                "keep_firing_for",
                "invalid field 'keep_firing_for' in recording rule".to_string(),
            ));
        }
        if !valid_metric_name(&record) {
            return Err(err("record", format!("invalid recording rule name: {record}")));
        }
        return Ok(RuleSpec {
            name: record,
            expr,
            labels,
            kind: RuleKind::Recording,
        });
    }
    let for_ms = match &r.for_ {
        Some(s) => duration_field(s).map_err(|e| err("for", e))?,
        None => 0,
    };
    let keep_firing_for_ms = match &r.keep_firing_for {
        Some(s) => duration_field(s).map_err(|e| err("keep_firing_for", e))?,
        None => 0,
    };
    // Templates are parsed now, as promtool does, so a broken one fails the load rather than
    // every evaluation.
    for (k, v) in labels
        .iter()
        .map(|(k, v)| (format!("labels.{k}"), v))
        .chain(annotations.iter().map(|(k, v)| (format!("annotations.{k}"), v)))
    {
        if let Err(e) = Template::parse(v) {
            return Err(err(&k, format!("template: __alert_{alert}: {e}")));
        }
    }
    Ok(RuleSpec {
        name: alert,
        expr,
        labels,
        kind: RuleKind::Alerting {
            for_ms,
            keep_firing_for_ms,
            annotations,
        },
    })
}

/// Reads and checks the rule file at `path`.
pub fn load_rule_file(path: &Path) -> Result<RuleFile, RuleFileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| RuleFileError::Read {
        file: name.clone(),
        reason: e.to_string(),
    })?;
    parse_rule_file(&name, &text)
}

/// Loads every file the `patterns` name (paths or globs, as `rule_files` in `prometheus.yml`:
/// `*`, `?` and `[...]` in any path component). A pattern that matches nothing is not an error,
/// as in Prometheus; the files are loaded in sorted order, each once.
pub fn load_rule_files<P: AsRef<Path>>(patterns: &[P]) -> Result<Vec<RuleFile>, RuleFileError> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for p in patterns {
        let p = p.as_ref();
        let s = p.to_string_lossy();
        if s.contains(['*', '?', '[']) {
            let mut found = expand_glob(&s)?;
            found.sort();
            paths.extend(found);
        } else {
            paths.push(p.to_path_buf());
        }
    }
    let mut seen = HashSet::new();
    paths.retain(|p| seen.insert(p.clone()));
    paths.iter().map(|p| load_rule_file(p)).collect()
}

/// Expands a glob the way Go's `filepath.Glob` does: component by component.
fn expand_glob(pattern: &str) -> Result<Vec<PathBuf>, RuleFileError> {
    let bad = |reason: &str| RuleFileError::Pattern {
        pattern: pattern.to_string(),
        reason: reason.to_string(),
    };
    let absolute = pattern.starts_with('/');
    let mut current: Vec<PathBuf> = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    let parts: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        if !part.contains(['*', '?', '[']) {
            for base in current {
                let p = base.join(part);
                let keep = if last { p.exists() } else { p.is_dir() };
                if keep {
                    next.push(p);
                }
            }
        } else {
            glob_match(part, "").map_err(bad)?;
            for base in current {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    if glob_match(part, &name).unwrap_or(false) && (last || entry.path().is_dir()) {
                        next.push(base.join(&name));
                    }
                }
            }
        }
        current = next;
    }
    Ok(current)
}

/// Whether `name` matches the one-component `pattern` (Go's `filepath.Match`); an error names a
/// malformed character class.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, &'static str> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Validate the classes once so a bad pattern fails even when nothing is matched.
    let mut i = 0;
    while i < p.len() {
        if p[i] == '[' {
            let (_, end) = class(&p, i, ' ')?;
            i = end;
        } else {
            i += 1;
        }
    }
    Ok(match_from(&p, 0, &n, 0))
}

/// Parses the class at `p[i] == '['`, returning whether `c` is in it and the index after it.
fn class(p: &[char], i: usize, c: char) -> Result<(bool, usize), &'static str> {
    let mut j = i + 1;
    let negated = p.get(j) == Some(&'^');
    if negated {
        j += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&lo) = p.get(j) else {
            return Err("syntax error in pattern: unterminated '['");
        };
        if lo == ']' && !first {
            j += 1;
            break;
        }
        first = false;
        let lo = if lo == '\\' {
            j += 1;
            *p.get(j).ok_or("syntax error in pattern: trailing '\\'")?
        } else {
            lo
        };
        j += 1;
        let mut hi = lo;
        if p.get(j) == Some(&'-') && p.get(j + 1).is_some_and(|x| *x != ']') {
            hi = p[j + 1];
            j += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Ok((matched != negated, j))
}

fn match_from(p: &[char], pi: usize, n: &[char], ni: usize) -> bool {
    if pi == p.len() {
        return ni == n.len();
    }
    match p[pi] {
        '*' => (ni..=n.len()).any(|k| match_from(p, pi + 1, n, k)),
        '?' => ni < n.len() && match_from(p, pi + 1, n, ni + 1),
        '[' => {
            if ni >= n.len() {
                return false;
            }
            match class(p, pi, n[ni]) {
                Ok((true, end)) => match_from(p, end, n, ni + 1),
                _ => false,
            }
        }
        '\\' if pi + 1 < p.len() => ni < n.len() && n[ni] == p[pi + 1] && match_from(p, pi + 2, n, ni + 1),
        c => ni < n.len() && n[ni] == c && match_from(p, pi + 1, n, ni + 1),
    }
}

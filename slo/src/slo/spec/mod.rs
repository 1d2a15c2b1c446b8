//! Reading SLO spec files into [`SloSpec`]s.
//!
//! A file is recognised by its header: Sloth's `version: "prometheus/v1"` ([`sloth`]) or
//! OpenSLO's `apiVersion: openslo/v1` ([`openslo`]). A file may hold several YAML documents
//! (`---`): Sloth documents are read one by one, OpenSLO documents together (an SLO may name an
//! SLI in another document). Errors name the file, the SLO and the field: `slos.yaml:
//! slos[1].objective must be in (0, 100), got 100`, or for OpenSLO `slo.yaml: SLO
//! "checkout-availability" (document 2) spec.objectives[0].target must be in (0, 1), got 1.5`.
//!
//! [`windows_spec`] reads Sloth's `AlertWindows` files, which replace the alert window table.

pub mod openslo;
pub mod sloth;
pub mod windows_spec;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::SloSpec;

/// Why a spec file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct SpecError {
    /// The file, as the user named it.
    pub file: String,
    /// Where inside it (`slos[1].objective`); empty for the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.file.is_empty(), self.path.is_empty()) {
            (false, false) => write!(f, "{}: {} {}", self.file, self.path, self.message),
            (false, true) => write!(f, "{}: {}", self.file, self.message),
            (true, false) => write!(f, "{} {}", self.path, self.message),
            (true, true) => f.write_str(&self.message),
        }
    }
}

impl SpecError {
    /// An error at `path` in `file`.
    pub fn new(file: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            file: file.to_string(),
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Reads every SLO in a spec file.
pub fn load_file(path: &Path) -> Result<Vec<SloSpec>, SpecError> {
    load_file_with(path, sloth::DEFAULT_PERIOD)
}

/// Reads every SLO in a spec file; SLOs whose file gives no period get `default_period` (Sloth's
/// `--default-slo-period`).
pub fn load_file_with(path: &Path, default_period: Duration) -> Result<Vec<SloSpec>, SpecError> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| SpecError::new(&name, "", format!("cannot read: {e}")))?;
    parse_str_with(&text, &name, default_period)
}

/// Reads every SLO in the text of a spec file called `file` (used in messages).
pub fn parse_str(text: &str, file: &str) -> Result<Vec<SloSpec>, SpecError> {
    parse_str_with(text, file, sloth::DEFAULT_PERIOD)
}

/// [`parse_str`] with the period for SLOs whose file gives none.
pub fn parse_str_with(text: &str, file: &str, default_period: Duration) -> Result<Vec<SloSpec>, SpecError> {
    let mut docs: Vec<(usize, serde_norway::Value)> = Vec::new();
    for (i, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        let doc = <serde_norway::Value as serde::Deserialize>::deserialize(de)
            .map_err(|e| SpecError::new(file, "", format!("is not valid YAML: {e}")))?;
        // An empty document (a leading or trailing `---`) holds nothing.
        if !doc.is_null() {
            docs.push((i + 1, doc));
        }
    }
    if docs.is_empty() {
        return Err(SpecError::new(
            file,
            "",
            "is empty: expected a Sloth or OpenSLO spec",
        ));
    }
    if docs.iter().any(|(_, d)| openslo::is_openslo(d)) {
        if let Some((n, _)) = docs.iter().find(|(_, d)| !openslo::is_openslo(d)) {
            return Err(SpecError::new(
                file,
                format!("document {n}"),
                "is not OpenSLO while others are; put Sloth and OpenSLO specs in separate files",
            ));
        }
        return openslo::parse(&docs, file, default_period);
    }
    let several = docs.len() > 1;
    let mut out: Vec<SloSpec> = Vec::new();
    for (n, doc) in docs {
        // In a file of several Sloth documents, say which one (Sloth's own multi-document files).
        let at = |e: SpecError| {
            if several {
                let path = if e.path.is_empty() {
                    format!("document {n}")
                } else {
                    format!("document {n} {}", e.path)
                };
                SpecError { path, ..e }
            } else {
                e
            }
        };
        let version = doc.get("version").and_then(|v| v.as_str());
        let specs = match version {
            Some(sloth::VERSION) => sloth::parse_with_period(doc, file, default_period).map_err(at)?,
            Some(other) => {
                return Err(at(SpecError::new(
                    file,
                    "version",
                    format!("is {other:?}; burnwatch reads Sloth's \"{}\"", sloth::VERSION),
                )));
            }
            None if windows_spec::is_alert_windows(&doc) => {
                return Err(at(SpecError::new(
                    file,
                    "",
                    "is an AlertWindows file (an alert window table), not an SLO spec: pass it with --windows",
                )));
            }
            None => {
                return Err(at(SpecError::new(
                    file,
                    "",
                    format!(
                        "is not an SLO spec: expected Sloth's `version: \"{}\"` or OpenSLO's `apiVersion: {}`",
                        sloth::VERSION,
                        openslo::API_VERSION
                    ),
                )));
            }
        };
        for spec in specs {
            if let Some(prev) = out.iter().find(|s| s.id() == spec.id()) {
                return Err(SpecError::new(
                    file,
                    format!("document {n}"),
                    format!("repeats the SLO id {:?} of {}", spec.id(), prev.origin),
                ));
            }
            out.push(spec);
        }
    }
    Ok(out)
}

/// Deserializes `value` into `T`, turning serde's error into one naming the path inside the file.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    value: serde_norway::Value,
    file: &str,
) -> Result<T, SpecError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
            let parent = path
                .strip_suffix(key)
                .map(|p| p.trim_end_matches('.'))
                .unwrap_or(&path);
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let where_ = if parent.is_empty() || parent == "." {
                "the top level".to_string()
            } else {
                parent.to_string()
            };
            return SpecError::new(
                file,
                "",
                format!(
                    "unknown key '{key}' in {where_}; expected one of {}",
                    expected.join(", ")
                ),
            );
        }
        let path = if path == "." { String::new() } else { path };
        SpecError::new(file, path, message)
    })
}

//! Prometheus relabelling (`relabel_configs`, `metric_relabel_configs`, `write_relabel_configs`,
//! `alert_relabel_configs`), as `model/relabel/relabel.go` of Prometheus defines it.
//!
//! A [`RelabelConfig`] is the YAML a user writes; [`RelabelConfig::compile`] validates it with
//! Prometheus's rules and messages and gives a [`Relabeler`]; [`process`] runs a list of them over a
//! label set and returns the new set, or `None` when a `keep`/`drop` step dropped it.
//!
//! Defaults are Prometheus's: `action: replace`, `separator: ";"`, `regex: "(.*)"`, `replacement:
//! "$1"`. The regex is Go RE2 syntax (translated by [`crate::tsdb::matcher::goregex`]) anchored at
//! both ends. Prometheus 2.x anchors it as `^(?:re)$`, 3.x as `^(?s:re)$` (`.` matches a newline);
//! burnwatch follows 3.x, which only differs for label values holding a newline.
//!
//! `$1`, `${1}`, `$name` in `replacement` and `target_label` expand as Go's `Regexp.Expand` does
//! (the `regex` crate's `Captures::expand` has the same rules: `$1x` is the group named `1x`).
//!
//! ```
//! use burnwatch_slo::relabel::{RelabelConfig, process};
//! use burnwatch_slo::tsdb::Labels;
//!
//! let cfg: RelabelConfig = serde_norway::from_str(
//!     "source_labels: [__address__]\nregex: '(.*):\\d+'\ntarget_label: host\n",
//! ).unwrap();
//! let rules = vec![cfg.compile().unwrap()];
//! let out = process(&Labels::from_pairs([("__address__", "db:9187")]), &rules).unwrap();
//! assert_eq!(out.get("host"), Some("db"));
//! ```

use std::fmt;

use regex::Regex;
use serde::Deserialize;

use crate::tsdb::{Labels, LabelsBuilder};

/// The relabel actions Prometheus knows (`relabel.Action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` when `regex` matches.
    Replace,
    /// Keeps the set only if `regex` matches the joined source values.
    Keep,
    /// Drops the set if `regex` matches the joined source values.
    Drop,
    /// Keeps the set only if the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drops the set if the joined source values equal `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to the md5 hash of the joined values modulo `modulus`.
    HashMod,
    /// Copies labels whose name matches `regex` to the name `replacement` expands to.
    LabelMap,
    /// Removes labels whose name matches `regex`.
    LabelDrop,
    /// Removes labels whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the joined values in lower case.
    Lowercase,
    /// Sets `target_label` to the joined values in upper case.
    Uppercase,
}

impl Action {
    /// Every action, in the order Prometheus documents them.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name case-insensitively, as Prometheus's `Action.UnmarshalYAML` does.
    pub fn parse(s: &str) -> Result<Action, String> {
        let lower = s.to_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                format!("unknown relabel action {s:?} (known: {})", known.join(", "))
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabelling step as written in YAML. Unset fields take Prometheus's defaults when
/// compiled; they are kept as `Option` here because several actions refuse a field that was set
/// at all (`labeldrop` with a `separator`, say), as Prometheus does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` and matched against `regex`.
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    /// The string between joined source values (default `;`).
    #[serde(default)]
    pub separator: Option<String>,
    /// A Go RE2 regex, anchored at both ends (default `(.*)`).
    #[serde(default)]
    pub regex: Option<String>,
    /// The modulus of `hashmod`.
    #[serde(default)]
    pub modulus: Option<u64>,
    /// The label `replace`, `hashmod`, `lowercase`, `uppercase` write, and `keepequal`/`dropequal`
    /// compare with; `$1`-style references expand for `replace`.
    #[serde(default)]
    pub target_label: Option<String>,
    /// What `replace` writes and `labelmap` renames to (default `$1`).
    #[serde(default)]
    pub replacement: Option<String>,
    /// The action (default `replace`), case-insensitive.
    #[serde(default)]
    pub action: Option<String>,
}

/// A compiled, validated relabelling step.
#[derive(Clone, Debug)]
pub struct Relabeler {
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    modulus: u64,
    target_label: String,
    replacement: String,
}

/// `relabelTarget` in Prometheus: a label name, possibly built from `$1`/`${name}` references.
fn is_relabel_target(s: &str) -> bool {
    // ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ : a sequence of letters, underscores and
    // references, with digits allowed anywhere but first.
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            if b.get(i + 1) == Some(&b'{') {
                let end = b[i + 2..].iter().position(|&c| c == b'}').map(|p| i + 2 + p);
                match end {
                    Some(e) if e > i + 2 && b[i + 2..e].iter().all(|c| is_word(*c)) => i = e + 1,
                    _ => return false,
                }
            } else {
                let n = b[i + 1..].iter().take_while(|c| is_word(**c)).count();
                if n == 0 {
                    return false;
                }
                i += 1 + n;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || (!first && c.is_ascii_digit()) {
            i += 1;
        } else {
            return false;
        }
        first = false;
    }
    true
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether `n` is a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty() && (b[0].is_ascii_alphabetic() || b[0] == b'_') && b.iter().all(|c| is_word(*c))
}

impl RelabelConfig {
    /// Validates this step with Prometheus's rules (`relabel.Config.Validate`) and compiles its
    /// regex. Errors are Prometheus's messages.
    pub fn compile(&self) -> Result<Relabeler, String> {
        let action = match &self.action {
            Some(a) => Action::parse(a)?,
            None => Action::Replace,
        };
        let regex_src = self.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let regex = crate::tsdb::matcher::anchored_regex(regex_src).map_err(|e| e.to_string())?;
        let separator = self.separator.clone().unwrap_or_else(|| DEFAULT_SEPARATOR.into());
        let replacement = self
            .replacement
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.into());
        let target_label = self.target_label.clone().unwrap_or_default();
        let modulus = self.modulus.unwrap_or(0);
        if let Some(src) = &self.source_labels {
            for l in src {
                if !is_valid_label_name(l) {
                    return Err(format!("{l:?} is not a valid label name"));
                }
            }
        }
        use Action::*;
        if action == HashMod && modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && target_label.is_empty()
        {
            return Err(format!(
                "relabel configuration for {action} action requires 'target_label' value"
            ));
        }
        if matches!(action, Replace | Lowercase | Uppercase) && !is_relabel_target(&target_label) {
            return Err(format!(
                "{target_label:?} is invalid 'target_label' for {action} action"
            ));
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual)
            && self
                .replacement
                .as_deref()
                .is_some_and(|r| r != DEFAULT_REPLACEMENT)
        {
            return Err(format!("'replacement' can not be set for {action} action"));
        }
        if action == LabelMap && !is_relabel_target(&replacement) {
            return Err(format!(
                "{replacement:?} is invalid 'replacement' for {action} action"
            ));
        }
        if matches!(action, HashMod | KeepEqual | DropEqual) && !is_valid_label_name(&target_label) {
            return Err(format!(
                "{target_label:?} is invalid 'target_label' for {action} action"
            ));
        }
        if matches!(action, KeepEqual | DropEqual)
            && (self.regex.as_deref().is_some_and(|r| r != DEFAULT_REGEX)
                || modulus != 0
                || self.separator.as_deref().is_some_and(|s| s != DEFAULT_SEPARATOR))
        {
            return Err(format!(
                "{action} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (self.source_labels.as_ref().is_some_and(|s| !s.is_empty())
                || !target_label.is_empty()
                || modulus != 0
                || self.separator.as_deref().is_some_and(|s| s != DEFAULT_SEPARATOR)
                || self
                    .replacement
                    .as_deref()
                    .is_some_and(|r| r != DEFAULT_REPLACEMENT))
        {
            return Err(format!(
                "{action} action requires only 'regex', and no other fields"
            ));
        }
        Ok(Relabeler {
            action,
            source_labels: self.source_labels.clone().unwrap_or_default(),
            separator,
            regex,
            modulus,
            target_label,
            replacement,
        })
    }
}

/// Compiles every step of a list; the error names the step's index.
pub fn compile_all(configs: &[RelabelConfig]) -> Result<Vec<Relabeler>, (usize, String)> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| c.compile().map_err(|e| (i, e)))
        .collect()
}

/// Prometheus's `hashmod`: the md5 digest of `value`, its last 8 bytes read big-endian, modulo
/// `modulus`.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    use md5::Digest as _;
    let digest = md5::Md5::digest(value.as_bytes());
    let mut last = [0u8; 8];
    last.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(last) % modulus
}

impl Relabeler {
    /// The action.
    pub fn action(&self) -> Action {
        self.action
    }

    /// Applies this step to `b`; false means the set is dropped.
    fn apply(&self, b: &mut LabelsBuilder) -> bool {
        let joined = || {
            let vals: Vec<&str> = self
                .source_labels
                .iter()
                .map(|n| b.get(n).unwrap_or(""))
                .collect();
            vals.join(&self.separator)
        };
        match self.action {
            Action::Drop => {
                if self.regex.is_match(&joined()) {
                    return false;
                }
            }
            Action::Keep => {
                if !self.regex.is_match(&joined()) {
                    return false;
                }
            }
            Action::DropEqual => {
                if b.get(&self.target_label).unwrap_or("") == joined() {
                    return false;
                }
            }
            Action::KeepEqual => {
                if b.get(&self.target_label).unwrap_or("") != joined() {
                    return false;
                }
            }
            Action::Replace => {
                let val = joined();
                let Some(caps) = self.regex.captures(&val) else {
                    return true;
                };
                let mut target = String::new();
                caps.expand(&self.target_label, &mut target);
                if !is_valid_label_name(&target) {
                    return true;
                }
                let mut res = String::new();
                caps.expand(&self.replacement, &mut res);
                if res.is_empty() {
                    b.del(&target);
                } else {
                    b.set(target, res);
                }
            }
            Action::Lowercase => {
                let v = joined().to_lowercase();
                b.set(self.target_label.clone(), v);
            }
            Action::Uppercase => {
                let v = joined().to_uppercase();
                b.set(self.target_label.clone(), v);
            }
            Action::HashMod => {
                let v = hashmod(&joined(), self.modulus);
                b.set(self.target_label.clone(), v.to_string());
            }
            Action::LabelMap => {
                // Over the labels as they were before this step, as Prometheus ranges over them.
                let before = b.clone().build();
                for l in &before {
                    if let Some(caps) = self.regex.captures(l.name.as_str()) {
                        let mut name = String::new();
                        caps.expand(&self.replacement, &mut name);
                        // Prometheus sets whatever name results; a name that is not a valid label
                        // name would make the series unstorable, so it is skipped here.
                        if is_valid_label_name(&name) {
                            b.set(name, l.value.clone());
                        }
                    }
                }
            }
            Action::LabelDrop | Action::LabelKeep => {
                let before = b.clone().build();
                let keep = self.action == Action::LabelKeep;
                for l in &before {
                    if self.regex.is_match(l.name.as_str()) != keep {
                        b.del(l.name.as_str());
                    }
                }
            }
        }
        true
    }
}

/// Runs `steps` over `labels` in order; `None` when a step dropped the set.
pub fn process(labels: &Labels, steps: &[Relabeler]) -> Option<Labels> {
    if steps.is_empty() {
        return Some(labels.clone());
    }
    let mut b = LabelsBuilder::new(labels);
    for s in steps {
        if !s.apply(&mut b) {
            return None;
        }
    }
    Some(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> RelabelConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    fn run(yamls: &[&str], pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        let steps: Vec<Relabeler> = yamls.iter().map(|y| cfg(y).compile().unwrap()).collect();
        process(&Labels::from_pairs(pairs.iter().copied()), &steps).map(|l| {
            l.iter()
                .map(|l| (l.name.as_str().to_string(), l.value.as_str().to_string()))
                .collect()
        })
    }

    fn pairs(p: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        let mut v: Vec<(String, String)> = p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        v.sort();
        Some(v)
    }

    #[test]
    fn replace_with_defaults_copies_and_expands_groups() {
        let got = run(&["source_labels: [a]\ntarget_label: b\n"], &[("a", "x")]);
        assert_eq!(got, pairs(&[("a", "x"), ("b", "x")]));
        // Anchored: "foo" does not match "o" as an unanchored regex would.
        let got = run(
            &["source_labels: [a]\nregex: o\ntarget_label: b\nreplacement: hit\n"],
            &[("a", "foo")],
        );
        assert_eq!(got, pairs(&[("a", "foo")]));
        // Joined with the separator, groups and a target built from a group.
        let got = run(
            &[
                "source_labels: [a, c]\nseparator: '-'\nregex: '(\\w+)-(\\w+)'\ntarget_label: 'l_${1}'\nreplacement: '$2:$1'\n",
            ],
            &[("a", "x"), ("c", "y")],
        );
        assert_eq!(got, pairs(&[("a", "x"), ("c", "y"), ("l_x", "y:x")]));
        // `$1x` is the group named "1x" (empty), as in Go's Expand.
        let got = run(
            &["source_labels: [a]\ntarget_label: b\nreplacement: '$1x'\n"],
            &[("a", "v"), ("b", "old")],
        );
        assert_eq!(
            got,
            pairs(&[("a", "v")]),
            "an empty replacement deletes the target"
        );
        // A missing source label is the empty string.
        let got = run(
            &["source_labels: [nope]\nregex: ''\ntarget_label: b\nreplacement: empty\n"],
            &[("a", "v")],
        );
        assert_eq!(got, pairs(&[("a", "v"), ("b", "empty")]));
    }

    #[test]
    fn keep_drop_and_their_equal_forms() {
        let keep = "source_labels: [a]\nregex: 'x|y'\naction: keep\n";
        assert!(run(&[keep], &[("a", "x")]).is_some());
        assert!(run(&[keep], &[("a", "xx")]).is_none());
        let drop = "source_labels: [a]\nregex: x.*\naction: Drop\n";
        assert!(run(&[drop], &[("a", "xyz")]).is_none());
        assert!(run(&[drop], &[("a", "z")]).is_some());
        let ke = "source_labels: [a]\ntarget_label: b\naction: keepequal\n";
        assert!(run(&[ke], &[("a", "1"), ("b", "1")]).is_some());
        assert!(run(&[ke], &[("a", "1"), ("b", "2")]).is_none());
        let de = "source_labels: [a]\ntarget_label: b\naction: dropequal\n";
        assert!(run(&[de], &[("a", "1"), ("b", "1")]).is_none());
        assert!(run(&[de], &[("a", "1")]).is_some());
    }

    #[test]
    fn labelmap_labeldrop_labelkeep_case() {
        let got = run(
            &["regex: __meta_(.+)\naction: labelmap\n"],
            &[("__meta_zone", "eu"), ("job", "j")],
        );
        assert_eq!(got, pairs(&[("__meta_zone", "eu"), ("job", "j"), ("zone", "eu")]));
        let got = run(
            &["regex: 'tmp_.*'\naction: labeldrop\n"],
            &[("tmp_a", "1"), ("b", "2")],
        );
        assert_eq!(got, pairs(&[("b", "2")]));
        let got = run(
            &["regex: '__name__|job'\naction: labelkeep\n"],
            &[("__name__", "m"), ("job", "j"), ("x", "y")],
        );
        assert_eq!(got, pairs(&[("__name__", "m"), ("job", "j")]));
        let got = run(
            &[
                "source_labels: [a]\ntarget_label: lo\naction: lowercase\n",
                "source_labels: [a]\ntarget_label: up\naction: uppercase\n",
            ],
            &[("a", "MiXé")],
        );
        assert_eq!(got, pairs(&[("a", "MiXé"), ("lo", "mixé"), ("up", "MIXÉ")]));
    }

    /// Known md5 digests worked through by hand; tests/serve_promconfig.rs compares live
    /// `hashmod` results with a real Prometheus 2.42's /api/v1/targets.
    #[test]
    fn hashmod_equals_prometheus() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e; last 8 bytes e9800998ecf8427e.
        assert_eq!(hashmod("", 1 << 63), 0xe9800998ecf8427e & ((1 << 63) - 1));
        assert_eq!(hashmod("", 1000), 0xe9800998ecf8427e_u64 % 1000);
        // md5("abc") = 900150983cd24fb0d6963f7d28e17f72.
        assert_eq!(hashmod("abc", 1 << 32), 0x28e17f72);
        let got = run(
            &["source_labels: [a]\nmodulus: 8\ntarget_label: shard\naction: hashmod\n"],
            &[("a", "abc")],
        );
        assert_eq!(
            got,
            pairs(&[("a", "abc"), ("shard", &(0xd6963f7d28e17f72_u64 % 8).to_string())])
        );
    }

    #[test]
    fn validation_uses_prometheus_messages() {
        let cases = [
            ("action: hashmod\ntarget_label: x\n", "requires non-zero modulus"),
            ("action: replace\n", "requires 'target_label' value"),
            (
                "target_label: '1x'\n",
                "is invalid 'target_label' for replace action",
            ),
            (
                "action: lowercase\ntarget_label: x\nreplacement: y\n",
                "'replacement' can not be set",
            ),
            (
                "action: labelmap\nreplacement: '-'\n",
                "is invalid 'replacement' for labelmap",
            ),
            (
                "action: hashmod\nmodulus: 2\ntarget_label: '$1'\n",
                "is invalid 'target_label' for hashmod",
            ),
            (
                "action: keepequal\ntarget_label: x\nregex: a\n",
                "requires only 'source_labels'",
            ),
            (
                "action: labeldrop\nregex: a\ntarget_label: x\n",
                "requires only 'regex'",
            ),
            ("action: frobnicate\n", "unknown relabel action \"frobnicate\""),
            (
                "source_labels: [a]\ntarget_label: b\nregex: '(a'\n",
                "missing closing )",
            ),
            (
                "source_labels: ['a-b']\ntarget_label: b\n",
                "not a valid label name",
            ),
        ];
        for (yaml, want) in cases {
            let err = cfg(yaml).compile().unwrap_err();
            assert!(err.contains(want), "{yaml}: {err}");
        }
        assert!(is_relabel_target("${1}_x") && is_relabel_target("a$1") && !is_relabel_target("a-b"));
    }
}

//! Label sets: the identity of a series.
//!
//! A [`Labels`] value is a list of name/value pairs sorted by name, with no empty values (Prometheus
//! treats a label with an empty value as absent), and the metric name stored as the `__name__` label.
//! The pairs sit behind an `Arc`, so cloning a label set (the engine does so for every sample it
//! outputs) is a reference-count increment.
//!
//! Names and values are [`LabelStr`]s, shared immutable strings: the store interns them through
//! its index, so a million series carrying `job="api"` hold one copy of `job` and one of `api`
//! (label strings were the largest part of the per-series memory before, see NOTES-engine.md).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// A label name or value: an immutable string behind an `Arc`, so copies share one allocation.
///
/// It reads like a `&str` (it derefs to one, and compares with `str`, `&str` and `String`), and
/// hashes and orders exactly as the same text in a `String` does, so label-set hashes and the
/// sort order of query results do not depend on how the strings are stored.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelStr(Arc<str>);

impl LabelStr {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` and `other` share one allocation (then they are equal; the converse does
    /// not hold).
    pub fn ptr_eq(&self, other: &LabelStr) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for LabelStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for LabelStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by `LabelStr` be searched with a `&str` (the `Hash`/`Ord` of both agree).
impl Borrow<str> for LabelStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LabelStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LabelStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for LabelStr {
    fn from(s: &str) -> Self {
        LabelStr(Arc::from(s))
    }
}

impl From<&String> for LabelStr {
    fn from(s: &String) -> Self {
        LabelStr(Arc::from(s.as_str()))
    }
}

impl From<String> for LabelStr {
    fn from(s: String) -> Self {
        LabelStr(Arc::from(s))
    }
}

impl From<Arc<str>> for LabelStr {
    fn from(s: Arc<str>) -> Self {
        LabelStr(s)
    }
}

impl From<&LabelStr> for LabelStr {
    fn from(s: &LabelStr) -> Self {
        s.clone()
    }
}

impl From<LabelStr> for String {
    fn from(s: LabelStr) -> Self {
        String::from(&*s.0)
    }
}

impl From<&LabelStr> for String {
    fn from(s: &LabelStr) -> Self {
        String::from(&*s.0)
    }
}

impl PartialEq<str> for LabelStr {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for LabelStr {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for LabelStr {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<LabelStr> for str {
    fn eq(&self, other: &LabelStr) -> bool {
        self == &*other.0
    }
}

impl PartialEq<LabelStr> for &str {
    fn eq(&self, other: &LabelStr) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<LabelStr> for String {
    fn eq(&self, other: &LabelStr) -> bool {
        self.as_str() == &*other.0
    }
}

/// One name/value pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The label name, such as `job`.
    pub name: LabelStr,
    /// The label value; never empty inside a [`Labels`].
    pub value: LabelStr,
}

/// A sorted set of labels identifying one series.
///
/// Ordering is Prometheus's `labels.Compare`: pairwise by name, then value, then by length.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Arc::from(Vec::new()))
    }

    /// Builds a label set from pairs in any order; empty values are dropped, and for a repeated
    /// name the last pair wins.
    pub fn from_pairs<N: Into<LabelStr>, V: Into<LabelStr>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut b = LabelsBuilder::new(&Labels::empty());
        for (n, v) in pairs {
            b.set(n.into(), v.into());
        }
        b.build()
    }

    /// Builds a label set from pairs in any order that must not repeat a name, in O(n log n)
    /// (a sort and one pass comparing neighbours, where [`from_pairs`](Labels::from_pairs)
    /// inserts each pair into a sorted list); empty values are dropped. A repeated name is
    /// returned as the error, whatever its values.
    pub fn from_unique_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(w[0].0.to_string());
        }
        let labels: Vec<Label> = pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect();
        Ok(Labels(labels.into()))
    }

    /// The series as Prometheus shows it to people: `name{a="1", b="2"}`, just `name` without
    /// other labels, `{a="1"}` without a name, `{}` for none.
    pub fn series_name(&self) -> String {
        let name = self.metric_name().unwrap_or("");
        let rest: Vec<String> = self
            .iter()
            .filter(|x| x.name != METRIC_NAME)
            .map(|x| format!("{}=\"{}\"", x.name, escape_label_value(&x.value)))
            .collect();
        if rest.is_empty() && !name.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{}}}", rest.join(", "))
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name, if the set has one.
    pub fn metric_name(&self) -> Option<&str> {
        // `__name__` sorts before every lowercase label name, so it is nearly always first; the
        // engine asks for it per series and step.
        match self.0.first() {
            Some(l) if l.name == METRIC_NAME => Some(l.value.as_str()),
            _ => self.get(METRIC_NAME),
        }
    }

    /// Whether the set has a label called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The pairs in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        if !self.has(METRIC_NAME) {
            return self.clone();
        }
        Labels(
            self.0
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .cloned()
                .collect::<Vec<_>>()
                .into(),
        )
    }

    /// A copy keeping only the labels named in `names`.
    pub fn keep(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| listed(names, &l.name))
                .cloned()
                .collect(),
        )
    }

    /// A copy without the labels named in `names`.
    pub fn drop_names(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| !listed(names, &l.name))
                .cloned()
                .collect(),
        )
    }

    /// A 64-bit hash of the labels for which `keep(names)` (when `on`) or `drop_names(names)` minus
    /// the metric name (when not `on`) would be equal, computed without building that label set:
    /// the match signature of vector matching and grouping.
    pub fn signature(&self, on: bool, names: &[String]) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for l in self.0.iter() {
            let listed = listed(names, &l.name);
            let keep = if on {
                listed
            } else {
                !listed && l.name != METRIC_NAME
            };
            if keep {
                l.name.hash(&mut h);
                l.value.hash(&mut h);
            }
        }
        h.finish()
    }

    /// Identity of the shared allocation: equal ids mean equal labels (while both are alive). Used
    /// as a fast path before comparing label contents.
    pub fn ptr_id(&self) -> usize {
        Arc::as_ptr(&self.0) as *const Label as usize
    }

    /// Approximate heap size in bytes, for memory accounting: the pairs plus the text of
    /// every name and value, as if no string were shared with another label set (an upper
    /// bound for interned sets).
    pub fn byte_size(&self) -> usize {
        self.0
            .iter()
            .map(|l| l.name.len() + l.value.len() + std::mem::size_of::<Label>())
            .sum()
    }

    /// Builds a label set from pairs already sorted by name, with distinct names and no empty
    /// values (the invariants of [`Labels`]): how the store rebuilds a set with its interned
    /// strings without re-sorting.
    pub(crate) fn from_sorted(pairs: Vec<Label>) -> Labels {
        debug_assert!(pairs.windows(2).all(|w| w[0].name < w[1].name));
        Labels(pairs.into())
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prometheus's text form: `{__name__="up", job="api"}` (the form its error messages use).
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"{}\"", l.name, escape_label_value(&l.value))?;
        }
        f.write_str("}")
    }
}

/// Whether `name` is one of `names`.
fn listed(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}

/// Escapes a label value the way Go's `strconv.Quote` does for the characters that matter.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Edits a label set and produces a new sorted one.
#[derive(Clone, Debug)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    /// Starts from `base`.
    pub fn new(base: &Labels) -> Self {
        LabelsBuilder {
            labels: base.0.to_vec(),
        }
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: impl Into<LabelStr>, value: impl Into<LabelStr>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        match self.labels.binary_search_by(|l| l.name.cmp(&name)) {
            Ok(i) if value.is_empty() => {
                self.labels.remove(i);
            }
            Ok(i) => self.labels[i].value = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.labels.insert(i, Label { name, value }),
        }
        self
    }

    /// Deletes `name`.
    pub fn del(&mut self, name: &str) -> &mut Self {
        if let Ok(i) = self.labels.binary_search_by(|l| l.name.as_str().cmp(name)) {
            self.labels.remove(i);
        }
        self
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.labels[i].value.as_str())
    }

    /// The finished label set.
    pub fn build(self) -> Labels {
        Labels(self.labels.into())
    }
}

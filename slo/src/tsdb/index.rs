//! The inverted index: label name → label value → the series that carry that pair.

use std::collections::{BTreeMap, HashMap};

use super::SeriesRef;
use super::labels::Labels;
use super::matcher::Matcher;

/// Postings lists per label pair, each sorted by series reference (references only grow).
#[derive(Debug, Default)]
pub struct Index {
    postings: HashMap<String, BTreeMap<String, Vec<SeriesRef>>>,
    all: Vec<SeriesRef>,
}

impl Index {
    /// Records a new series.
    pub fn add(&mut self, r: SeriesRef, labels: &Labels) {
        for l in labels {
            self.postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default()
                .push(r);
        }
        self.all.push(r);
    }

    /// The series matching every matcher, sorted by reference.
    ///
    /// Matchers that reject the empty string narrow the candidates through the postings; the others
    /// (such as `foo!="x"` or `foo=~".*"`, which also match series without `foo`) are applied to the
    /// candidates afterwards by the caller's `check`, which sees the full label set.
    pub fn select<'a>(
        &self,
        matchers: &[Matcher],
        labels_of: impl Fn(SeriesRef) -> &'a Labels,
    ) -> Vec<SeriesRef> {
        let mut candidates: Option<Vec<SeriesRef>> = None;
        for m in matchers.iter().filter(|m| !m.matches("")) {
            let mut set: Vec<SeriesRef> = Vec::new();
            if let Some(values) = self.postings.get(&m.name) {
                if let super::matcher::MatchOp::Equal = m.op {
                    if let Some(p) = values.get(&m.value) {
                        set.extend_from_slice(p);
                    }
                } else {
                    for (v, p) in values {
                        if m.matches(v) {
                            set.extend_from_slice(p);
                        }
                    }
                    set.sort_unstable();
                    set.dedup();
                }
            }
            candidates = Some(match candidates {
                None => set,
                Some(c) => intersect(&c, &set),
            });
            if candidates.as_ref().is_some_and(|c| c.is_empty()) {
                return Vec::new();
            }
        }
        let candidates = candidates.unwrap_or_else(|| self.all.clone());
        candidates
            .into_iter()
            .filter(|r| {
                let ls = labels_of(*r);
                matchers
                    .iter()
                    .filter(|m| m.matches(""))
                    .all(|m| m.matches_labels(ls))
            })
            .collect()
    }

    /// All label names, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.postings.keys().cloned().collect();
        names.sort();
        names
    }

    /// All values of `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.postings
            .get(name)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Intersection of two sorted lists.
fn intersect(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

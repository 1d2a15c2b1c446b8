//! The inverted index: label name → label value → the series that carry that pair.
//!
//! The index is also the store's string interner: its keys are the one shared copy of every
//! label name and value, and [`Index::add`] hands back the new series' labels rebuilt from
//! those keys, so series share their strings with each other and with the index instead of
//! each holding copies (measured by `cargo bench --bench store`, see NOTES-engine.md).

use std::collections::btree_map;
use std::collections::hash_map;
use std::collections::{BTreeMap, HashMap};

use super::SeriesRef;
use super::labels::{Label, LabelStr, Labels};
use super::matcher::Matcher;

/// Postings lists per label pair, each sorted by series reference (references only grow).
#[derive(Debug, Default)]
pub struct Index {
    postings: HashMap<LabelStr, BTreeMap<LabelStr, Postings>>,
    all: Vec<SeriesRef>,
}

/// The series carrying one label pair, sorted by reference.
///
/// Most values of a high-cardinality label (a series id, a pod or request name) belong to a
/// single series; such a list is kept inline rather than in a vector of its own, which would
/// cost a heap allocation of 32 bytes for one 4-byte reference.
#[derive(Debug)]
enum Postings {
    One(SeriesRef),
    Many(Vec<SeriesRef>),
}

impl Postings {
    fn push(&mut self, r: SeriesRef) {
        match self {
            Postings::One(a) => *self = Postings::Many(vec![*a, r]),
            Postings::Many(v) => v.push(r),
        }
    }

    fn as_slice(&self) -> &[SeriesRef] {
        match self {
            Postings::One(a) => std::slice::from_ref(a),
            Postings::Many(v) => v,
        }
    }
}

impl Index {
    /// Records a new series and returns its labels made of the index's interned strings (equal
    /// to `labels`; the store keeps this copy so the strings are stored once).
    pub fn add(&mut self, r: SeriesRef, labels: &Labels) -> Labels {
        let mut interned = Vec::with_capacity(labels.len());
        // Whether `labels` already uses the interned strings (a store rebuilding its index
        // passes its own labels): then it is returned as is, without a new allocation.
        let mut shared = true;
        for l in labels {
            let (name, values) = match self.postings.entry(l.name.clone()) {
                hash_map::Entry::Occupied(o) => (o.key().clone(), o.into_mut()),
                hash_map::Entry::Vacant(v) => (v.key().clone(), v.insert(BTreeMap::new())),
            };
            let value = match values.entry(l.value.clone()) {
                btree_map::Entry::Occupied(mut o) => {
                    o.get_mut().push(r);
                    o.key().clone()
                }
                btree_map::Entry::Vacant(v) => {
                    let k = v.key().clone();
                    v.insert(Postings::One(r));
                    k
                }
            };
            shared &= name.ptr_eq(&l.name) && value.ptr_eq(&l.value);
            interned.push(Label { name, value });
        }
        self.all.push(r);
        if shared {
            labels.clone()
        } else {
            Labels::from_sorted(interned)
        }
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
            if let Some(values) = self.postings.get(m.name.as_str()) {
                if let super::matcher::MatchOp::Equal = m.op {
                    if let Some(p) = values.get(m.value.as_str()) {
                        set.extend_from_slice(p.as_slice());
                    }
                } else {
                    for (v, p) in values {
                        if m.matches(v) {
                            set.extend_from_slice(p.as_slice());
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
        let mut names: Vec<String> = self.postings.keys().map(String::from).collect();
        names.sort();
        names
    }

    /// All values of `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.postings
            .get(name)
            .map(|v| v.keys().map(String::from).collect())
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

//! Exemplars: a bounded circular store, like Prometheus's `CircularExemplarStorage`
//! (`tsdb/exemplar.go`, `--storage.exemplars.exemplars-limit`, default 100 000).
//!
//! Exemplars of every series share one ring of [`ExemplarStore::limit`] slots; when it is full,
//! each new exemplar overwrites the oldest one stored, whichever series it belongs to. Each
//! series' exemplars are linked oldest to newest through the ring, so a query walks only the
//! series its matchers select.
//!
//! Per series, as Prometheus does:
//! - an exemplar equal to the newest one stored (same labels and value, and the same timestamp
//!   unless neither came with one) is a duplicate and ignored: a scrape that serves the same
//!   exemplar without a timestamp every time stores it once;
//! - one older than the newest stored is refused ([`ExemplarError::OutOfOrder`]; Prometheus's
//!   out-of-order window for exemplars is 0 by default). At the same timestamp a larger value, or
//!   the same value with other labels, is taken (native histograms carry one per bucket); the
//!   tie-break between two such exemplars is label order here, a label hash in Prometheus;
//! - the labels of an exemplar may hold at most 128 characters of names and values together
//!   (OpenMetrics' limit, [`ExemplarError::LabelSetTooLong`]).
//!
//! **Memory bound.** At most `limit` exemplars and `limit` series entries. An exemplar's own
//! labels are at most 128 characters; its series labels are shared with the caller's label set.
//! Measured (release build, RSS before and after filling the default ring with exemplars holding
//! a 32-hex-digit `trace_id` and a 16-digit `span_id` over 10 000 series): 33 MB, about 330 bytes
//! per exemplar. A limit of 0 stores nothing ([`ExemplarError::Disabled`]).
//!
//! Exemplars are kept in memory only. Prometheus also writes them to its WAL; a restarted
//! burnwatch starts without them (new ones arrive with the next scrape or remote write).

use std::collections::HashMap;

use super::{Labels, Matcher};

/// Prometheus's default `--storage.exemplars.exemplars-limit`.
pub const DEFAULT_EXEMPLARS_LIMIT: usize = 100_000;

/// OpenMetrics: "The combined length of the label names and values of an Exemplar's LabelSet MUST
/// NOT exceed 128 UTF-8 characters."
pub const MAX_LABEL_SET_CHARS: usize = 128;

/// One exemplar.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// Its labels (`trace_id`, `span_id`, ...).
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// Milliseconds since the epoch: its own timestamp, or the scrape's when it came without.
    pub t: i64,
    /// Whether it came with a timestamp of its own.
    pub has_ts: bool,
}

impl Exemplar {
    /// Prometheus's `Exemplar.Equals`: the timestamps count only when one of the two had its own.
    pub fn same_as(&self, other: &Exemplar) -> bool {
        self.labels == other.labels
            && (!(self.has_ts || other.has_ts) || self.t == other.t)
            && self.value == other.value
    }
}

/// Why an exemplar was not stored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExemplarError {
    /// The store's limit is 0.
    #[error("exemplar storage is disabled (limit 0)")]
    Disabled,
    /// Its labels are longer than [`MAX_LABEL_SET_CHARS`].
    #[error("exemplar label set is {chars} characters long, more than the {MAX_LABEL_SET_CHARS} allowed")]
    LabelSetTooLong {
        /// Characters of names and values together.
        chars: usize,
    },
    /// It is older than the newest exemplar of its series.
    #[error("out of order exemplar for {series}: timestamp {t} is before the newest stored, {newest}")]
    OutOfOrder {
        /// The series.
        series: String,
        /// Its timestamp.
        t: i64,
        /// The newest stored exemplar's timestamp.
        newest: i64,
    },
}

/// No slot (the end of a series' list).
const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Slot {
    exemplar: Exemplar,
    /// The series entry it belongs to.
    series: u32,
    /// The next newer exemplar of the same series.
    next: u32,
}

#[derive(Clone, Debug)]
struct SeriesEntry {
    labels: Labels,
    oldest: u32,
    newest: u32,
}

/// The exemplar ring; see the module docs.
#[derive(Clone, Debug)]
pub struct ExemplarStore {
    limit: usize,
    /// Grows up to `limit`, then wraps.
    slots: Vec<Slot>,
    /// The slot the next exemplar goes to (the oldest one once the ring is full).
    next: usize,
    /// Series entries; `None` marks a free entry (listed in `free`).
    series: Vec<Option<SeriesEntry>>,
    free: Vec<u32>,
    by_labels: HashMap<Labels, u32>,
}

impl Default for ExemplarStore {
    fn default() -> Self {
        ExemplarStore::new(DEFAULT_EXEMPLARS_LIMIT)
    }
}

impl ExemplarStore {
    /// An empty store keeping at most `limit` exemplars (0: none). Slots are allocated as
    /// exemplars arrive, not up front.
    pub fn new(limit: usize) -> Self {
        ExemplarStore {
            // Slot and series numbers are u32.
            limit: limit.min(NONE as usize - 1),
            slots: Vec::new(),
            next: 0,
            series: Vec::new(),
            free: Vec::new(),
            by_labels: HashMap::new(),
        }
    }

    /// The most exemplars kept.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Exemplars stored.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether none are stored.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Series with at least one exemplar.
    pub fn series_count(&self) -> usize {
        self.by_labels.len()
    }

    /// Changes the limit, keeping the newest exemplars that fit (Prometheus's `Resize`).
    pub fn set_limit(&mut self, limit: usize) {
        let kept: Vec<(Labels, Exemplar)> = self.iter_oldest_first().collect();
        *self = ExemplarStore::new(limit);
        let skip = kept.len().saturating_sub(self.limit);
        for (series, e) in kept.into_iter().skip(skip) {
            // Taken before in the same order, so each is in order again.
            let _ = self.add(&series, e);
        }
    }

    /// Every stored exemplar with its series, oldest first.
    fn iter_oldest_first(&self) -> impl Iterator<Item = (Labels, Exemplar)> + '_ {
        let n = self.slots.len();
        let start = if n < self.limit { 0 } else { self.next };
        (0..n).map(move |i| {
            let slot = &self.slots[(start + i) % n];
            let labels = self.entry(slot.series).labels.clone();
            (labels, slot.exemplar.clone())
        })
    }

    fn entry(&self, i: u32) -> &SeriesEntry {
        self.series[i as usize]
            .as_ref()
            .expect("a slot's series entry exists")
    }

    fn entry_mut(&mut self, i: u32) -> &mut SeriesEntry {
        self.series[i as usize]
            .as_mut()
            .expect("a slot's series entry exists")
    }

    /// Stores `exemplar` for the series `series`: `Ok(true)` when stored, `Ok(false)` for a
    /// duplicate of the newest one, or why it was refused.
    pub fn add(&mut self, series: &Labels, exemplar: Exemplar) -> Result<bool, ExemplarError> {
        if self.limit == 0 {
            return Err(ExemplarError::Disabled);
        }
        let chars: usize = exemplar
            .labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if chars > MAX_LABEL_SET_CHARS {
            return Err(ExemplarError::LabelSetTooLong { chars });
        }
        if let Some(&s) = self.by_labels.get(series) {
            let newest = &self.slots[self.entry(s).newest as usize].exemplar;
            if newest.same_as(&exemplar) {
                return Ok(false);
            }
            let in_order = exemplar.t > newest.t
                || (exemplar.t == newest.t
                    && (exemplar.value > newest.value
                        || (exemplar.value == newest.value && exemplar.labels > newest.labels)));
            if !in_order {
                return Err(ExemplarError::OutOfOrder {
                    series: series.to_string(),
                    t: exemplar.t,
                    newest: newest.t,
                });
            }
        }
        let at = self.next;
        if at < self.slots.len() {
            self.evict(at);
        }
        let s = match self.by_labels.get(series) {
            Some(&s) => s,
            None => {
                let entry = SeriesEntry {
                    labels: series.clone(),
                    oldest: at as u32,
                    newest: NONE,
                };
                let s = match self.free.pop() {
                    Some(s) => {
                        self.series[s as usize] = Some(entry);
                        s
                    }
                    None => {
                        self.series.push(Some(entry));
                        (self.series.len() - 1) as u32
                    }
                };
                self.by_labels.insert(series.clone(), s);
                s
            }
        };
        let slot = Slot {
            exemplar,
            series: s,
            next: NONE,
        };
        if at < self.slots.len() {
            self.slots[at] = slot;
        } else {
            self.slots.push(slot);
        }
        let prev = self.entry(s).newest;
        if prev != NONE {
            self.slots[prev as usize].next = at as u32;
        }
        self.entry_mut(s).newest = at as u32;
        self.next = (at + 1) % self.limit;
        Ok(true)
    }

    /// Unlinks the exemplar in slot `at`, the oldest in the ring and so the oldest of its series
    /// (every series' list is in the order its exemplars were written).
    fn evict(&mut self, at: usize) {
        let (s, next) = (self.slots[at].series, self.slots[at].next);
        if next == NONE {
            let labels = self.entry(s).labels.clone();
            self.by_labels.remove(&labels);
            self.series[s as usize] = None;
            self.free.push(s);
        } else {
            self.entry_mut(s).oldest = next;
        }
    }

    /// The exemplars from `start` to `end` (ms, inclusive) of every series matching one of the
    /// matcher sets, by series labels, each series' oldest first (Prometheus's `Select`).
    pub fn select(&self, start: i64, end: i64, sets: &[Vec<Matcher>]) -> Vec<(Labels, Vec<Exemplar>)> {
        let mut out = Vec::new();
        for &s in self.by_labels.values() {
            let entry = self.entry(s);
            let oldest = &self.slots[entry.oldest as usize].exemplar;
            let newest = &self.slots[entry.newest as usize].exemplar;
            if oldest.t > end || newest.t < start {
                continue;
            }
            let matches = sets.iter().any(|set| {
                set.iter()
                    .all(|m| m.matches(entry.labels.get(&m.name).unwrap_or("")))
            });
            if !matches {
                continue;
            }
            let mut found = Vec::new();
            let mut i = entry.oldest;
            while i != NONE {
                let slot = &self.slots[i as usize];
                if slot.exemplar.t > end {
                    break;
                }
                if slot.exemplar.t >= start {
                    found.push(slot.exemplar.clone());
                }
                i = slot.next;
            }
            if !found.is_empty() {
                out.push((entry.labels.clone(), found));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(i: usize) -> Labels {
        Labels::from_pairs([("__name__", "m"), ("i", i.to_string().as_str())])
    }

    fn ex(trace: &str, v: f64, t: i64) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs([("trace_id", trace)]),
            value: v,
            t,
            has_ts: true,
        }
    }

    fn all() -> Vec<Vec<Matcher>> {
        vec![vec![Matcher::equal("__name__", "m")]]
    }

    #[test]
    fn the_ring_keeps_the_newest_limit_exemplars_across_series() {
        let mut s = ExemplarStore::new(5);
        for t in 0..12 {
            assert_eq!(s.add(&series((t % 3) as usize), ex("a", t as f64, t)), Ok(true));
        }
        assert_eq!(s.len(), 5);
        let got = s.select(i64::MIN, i64::MAX, &all());
        let times: Vec<(String, Vec<i64>)> = got
            .iter()
            .map(|(l, es)| (l.get("i").unwrap().to_string(), es.iter().map(|e| e.t).collect()))
            .collect();
        // Exemplars 7..=11 remain: series 0 has 9, series 1 has 7 and 10, series 2 has 8 and 11.
        assert_eq!(
            times,
            [
                ("0".to_string(), vec![9]),
                ("1".to_string(), vec![7, 10]),
                ("2".to_string(), vec![8, 11])
            ]
        );
        // Series whose every exemplar was overwritten leave the index.
        for t in 12..17 {
            s.add(&series(9), ex("b", 0.0, t)).unwrap();
        }
        assert_eq!(s.series_count(), 1);
        assert_eq!(s.select(i64::MIN, i64::MAX, &all())[0].1.len(), 5);
    }

    #[test]
    fn duplicates_are_ignored_and_older_exemplars_refused() {
        let mut s = ExemplarStore::new(10);
        let mut untimed = ex("a", 1.0, 1000);
        untimed.has_ts = false;
        assert_eq!(s.add(&series(0), untimed.clone()), Ok(true));
        // The same exemplar scraped again (stamped with the next scrape's time) is a duplicate.
        untimed.t = 2000;
        assert_eq!(s.add(&series(0), untimed), Ok(false));
        assert!(matches!(
            s.add(&series(0), ex("b", 1.0, 500)),
            Err(ExemplarError::OutOfOrder {
                t: 500,
                newest: 1000,
                ..
            })
        ));
        // Same time, larger value: taken (one exemplar per native-histogram bucket).
        assert_eq!(s.add(&series(0), ex("c", 2.0, 1000)), Ok(true));
        assert!(s.add(&series(0), ex("d", 1.5, 1000)).is_err());
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn long_label_sets_and_a_zero_limit_are_refused() {
        let mut s = ExemplarStore::new(10);
        let long = ex(&"x".repeat(121), 1.0, 1);
        assert_eq!(
            s.add(&series(0), long),
            Err(ExemplarError::LabelSetTooLong { chars: 129 })
        );
        assert_eq!(s.add(&series(0), ex(&"x".repeat(120), 1.0, 1)), Ok(true));
        assert_eq!(
            ExemplarStore::new(0).add(&series(0), ex("a", 1.0, 1)),
            Err(ExemplarError::Disabled)
        );
    }

    #[test]
    fn select_bounds_time_and_matches_any_set() {
        let mut s = ExemplarStore::new(100);
        for t in 0..10 {
            s.add(&series(1), ex("a", 0.0, t * 10)).unwrap();
            s.add(&series(2), ex("a", 0.0, t * 10)).unwrap();
        }
        let got = s.select(
            25,
            50,
            &[vec![Matcher::equal("i", "2")], vec![Matcher::equal("i", "7")]],
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, series(2));
        assert_eq!(got[0].1.iter().map(|e| e.t).collect::<Vec<_>>(), [30, 40, 50]);
        assert!(s.select(1000, 2000, &all()).is_empty());
    }

    #[test]
    fn set_limit_keeps_the_newest() {
        let mut s = ExemplarStore::new(10);
        for t in 0..10 {
            s.add(&series(t as usize % 2), ex("a", 0.0, t)).unwrap();
        }
        s.set_limit(3);
        let got = s.select(i64::MIN, i64::MAX, &all());
        let mut times: Vec<i64> = got.iter().flat_map(|(_, es)| es.iter().map(|e| e.t)).collect();
        times.sort_unstable();
        assert_eq!(times, [7, 8, 9]);
        s.add(&series(0), ex("a", 0.0, 10)).unwrap();
        assert_eq!(s.len(), 3);
    }
}

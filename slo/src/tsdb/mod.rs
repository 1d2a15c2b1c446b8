//! The in-memory time-series store.
//!
//! [`Storage`] keeps one [`series`](MemSeries) per distinct [`Labels`] set, an inverted
//! [`index`](index::Index) for label matchers, and the samples of each series in time order.
//! Appends must move forward in time per series: an older timestamp is rejected with
//! [`AppendError::OutOfOrder`] naming the series and both timestamps, and nothing stored is lost.
//!
//! Staleness markers are stored like any other sample, as the NaN with bit pattern
//! [`STALE_NAN_BITS`]; the query engine treats them as "series ended here".
//!
//! Durability is optional and lives in [`persist`]: a store with an [`AppendLog`] attached
//! reports every accepted sample and every new series to it (the write-ahead log), and a store
//! without one pays a single `None` check per append.

pub mod chunk;
pub mod exemplars;
pub mod histogram;
pub mod index;
pub mod labels;
pub mod matcher;
pub mod metadata;
pub mod persist;
#[cfg(test)]
mod tests;

use std::hash::BuildHasher;
use std::sync::Arc;

pub use histogram::{CounterResetHint, FloatHistogram};

pub use labels::{Label, LabelStr, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};

/// Bit pattern of Prometheus's staleness marker, a signalling-free NaN (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is the staleness marker (a plain NaN is not).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// How far ahead of the wall clock ingestion accepts a timestamp, in milliseconds: Prometheus's
/// `maxAheadTime` (10 minutes), which its scrape loop applies (`timeLimitAppender`) and its
/// remote-write receiver too (since 2.54). A sample stamped later is refused with
/// [`AppendError::OutOfBounds`]: one bad clock must not move retention, which counts back from
/// the newest sample (see [`persist`]), nor hide the live data behind a far-future point.
///
/// [`Storage::append`] itself does not look at the clock (Prometheus's TSDB does not either, so
/// replays and tests stay deterministic): the ingest paths check with [`check_not_ahead`].
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// Milliseconds since the Unix epoch by the wall clock.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The newest timestamp ingestion accepts when the wall clock reads `now_ms`.
pub fn max_valid_time(now_ms: i64) -> i64 {
    now_ms.saturating_add(MAX_AHEAD_MS)
}

/// Refuses timestamp `t` of series `labels` when it is after `max` (from [`max_valid_time`]).
pub fn check_not_ahead(labels: &Labels, t: i64, max: i64) -> Result<(), AppendError> {
    if t > max {
        return Err(AppendError::OutOfBounds {
            series: labels.to_string(),
            t,
            max,
        });
    }
    Ok(())
}

/// One float sample: a timestamp in milliseconds since the Unix epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// One native-histogram sample.
#[derive(Clone, Debug, PartialEq)]
pub struct HSample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The histogram (shared: query results hand out the stored value without copying it).
    pub h: Arc<FloatHistogram>,
}

/// A selected series with both its float and its histogram samples, as returned by
/// [`Queryable::select_all`].
#[derive(Clone, Debug)]
pub struct SeriesPoints {
    /// The labels.
    pub labels: Labels,
    /// Float samples in time order (staleness markers included).
    pub floats: Vec<Sample>,
    /// Histogram samples in time order.
    pub histograms: Vec<HSample>,
}

/// Index of a series inside a [`Storage`].
pub type SeriesRef = u32;

/// Receives every change a [`Storage`] accepts, in order, so it can be made durable (the
/// write-ahead log of [`persist`]). Calls happen under the store's write lock, once the
/// change is accepted; a refused or ignored (exact duplicate) sample is not reported.
pub trait AppendLog: std::fmt::Debug + Send + Sync {
    /// A series was created with reference `r` (references are dense: `r` is the count of
    /// series before it).
    fn series(&mut self, r: SeriesRef, labels: &Labels);
    /// A float sample was stored for series `r`.
    fn sample(&mut self, r: SeriesRef, t: i64, v: f64);
    /// A native-histogram sample was stored for series `r`, as stored (counter-reset hint set).
    fn histogram(&mut self, r: SeriesRef, t: i64, h: &FloatHistogram);
    /// Series were removed and the rest renumbered: `kept[old]` says whether the series with
    /// reference `old` survived; survivors keep their order, so the new references are dense.
    fn compact(&mut self, kept: &[bool]);
    /// An ingest batch (a scrape, a remote-write request, an import) ended: hand what is
    /// buffered to the OS. An error means some change of the batch (or of an earlier one) is
    /// not in the log: the caller must not acknowledge the batch.
    fn flush(&mut self) -> Result<(), LogError>;
    /// Whether the log takes changes now. An error (a full disk, say) means what is appended
    /// next would live in memory only, so ingest refuses it rather than acknowledge it.
    fn writable(&self) -> Result<(), LogError> {
        Ok(())
    }
}

/// The write-ahead log cannot make changes durable (it names the cause, such as "No space left
/// on device"). Ingest answers it with a server error (5xx) so that senders retry, as Prometheus
/// does when its WAL write fails.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LogError(pub String);

/// What [`Storage::drop_before`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Float and histogram samples removed.
    pub samples: usize,
    /// Series removed because nothing of them was left.
    pub series: usize,
}

/// Why [`Storage::restore_series`] refused a series.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The store already has a series with these labels.
    #[error("series {series} appears twice")]
    DuplicateSeries {
        /// The series, in Prometheus text form.
        series: String,
    },
    /// Histogram samples are not in strictly increasing time order.
    #[error("histogram samples of series {series} are not in time order at {t} ms")]
    HistogramOrder {
        /// The series, in Prometheus text form.
        series: String,
        /// The first out-of-order timestamp.
        t: i64,
    },
    /// No labels, or more series than references can number.
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The sample is older than the newest sample of its series.
    #[error(
        "out-of-order sample for series {series}: timestamp {t} ms is before the newest stored sample at {last} ms"
    )]
    OutOfOrder {
        /// The series, in Prometheus text form.
        series: String,
        /// The refused timestamp.
        t: i64,
        /// The newest stored timestamp.
        last: i64,
    },
    /// A different value for a timestamp that already has one.
    #[error("duplicate sample for series {series} at timestamp {t} ms: stored {stored}, refused {refused}")]
    Duplicate {
        /// The series, in Prometheus text form.
        series: String,
        /// The timestamp.
        t: i64,
        /// The stored value.
        stored: f64,
        /// The refused value.
        refused: f64,
    },
    /// A series needs at least one label.
    #[error("a series needs at least one label (usually __name__)")]
    EmptyLabels,
    /// The timestamp is too far in the future (see [`MAX_AHEAD_MS`]).
    #[error(
        "out of bounds: sample for series {series} at timestamp {t} ms ({}) is too far in the future; \
         the newest accepted is {max} ms ({}), 10 minutes after the server's clock",
        crate::api::params::format_rfc3339(*t),
        crate::api::params::format_rfc3339(*max)
    )]
    OutOfBounds {
        /// The series, in Prometheus text form.
        series: String,
        /// The refused timestamp.
        t: i64,
        /// The newest timestamp accepted at the time.
        max: i64,
    },
}

/// One stored series: its labels and its compressed samples.
#[derive(Debug)]
pub struct MemSeries {
    labels: Labels,
    data: chunk::SeriesChunks,
    /// Native-histogram samples, uncompressed. Most series have none, so the list is boxed and
    /// absent until the first one: 8 bytes per series instead of an empty vector's 24.
    #[expect(
        clippy::box_collection,
        reason = "the box makes an absent list 8 bytes, not 24"
    )]
    histograms: Option<Box<Vec<HSample>>>,
}

impl MemSeries {
    /// The series' labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Number of stored samples.
    pub fn num_samples(&self) -> usize {
        self.data.num_samples() + self.histograms().len()
    }

    /// The float samples as compressed chunks.
    pub fn chunks(&self) -> &chunk::SeriesChunks {
        &self.data
    }

    /// The native-histogram samples, in time order.
    pub fn histograms(&self) -> &[HSample] {
        self.histograms.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Newest timestamp over float and histogram samples.
    fn last_t(&self) -> Option<i64> {
        match (
            self.data.last().map(|s| s.t),
            self.histograms().last().map(|h| h.t),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A selected series with its samples in a time window, as returned by [`Queryable::select`].
#[derive(Clone, Debug)]
pub struct SeriesData {
    /// The labels.
    pub labels: Labels,
    /// Samples in time order (staleness markers included).
    pub samples: Vec<Sample>,
}

/// Anything the PromQL engine can read series from.
pub trait Queryable {
    /// The series matching all `matchers`, sorted by labels, each with its samples whose timestamps
    /// lie in `[mint, maxt]`. Series without samples in the window may be left out.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData>;

    /// Like [`select`](Queryable::select), with native-histogram samples too. Stores without
    /// histograms can rely on the default, which wraps `select`.
    fn select_all(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesPoints> {
        self.select(matchers, mint, maxt)
            .into_iter()
            .map(|s| SeriesPoints {
                labels: s.labels,
                floats: s.samples,
                histograms: Vec::new(),
            })
            .collect()
    }
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct Storage {
    series: Vec<MemSeries>,
    /// Series references by the hash of their labels (with `hasher`). The labels themselves are
    /// looked up in `series`, so each series costs this table 4 bytes rather than a second
    /// copy of its key as a `HashMap<Labels, SeriesRef>` would hold (about 50 bytes per series
    /// counting the table's spare buckets).
    by_labels: hashbrown::HashTable<SeriesRef>,
    hasher: std::hash::RandomState,
    index: index::Index,
    /// Where accepted changes are reported when the store is durable.
    log: Option<Box<dyn AppendLog>>,
    /// Exemplars of scrapes and remote write, in memory only (see [`exemplars`]).
    exemplars: exemplars::ExemplarStore,
    /// TYPE/HELP/UNIT of scrape targets and remote write, in memory only (see [`metadata`]).
    metadata: metadata::MetadataStore,
}

impl Storage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The exemplars.
    pub fn exemplars(&self) -> &exemplars::ExemplarStore {
        &self.exemplars
    }

    /// The exemplars, to add to.
    pub fn exemplars_mut(&mut self) -> &mut exemplars::ExemplarStore {
        &mut self.exemplars
    }

    /// The metric metadata.
    pub fn metadata(&self) -> &metadata::MetadataStore {
        &self.metadata
    }

    /// The metric metadata, to update.
    pub fn metadata_mut(&mut self) -> &mut metadata::MetadataStore {
        &mut self.metadata
    }

    /// Appends one sample to the series `labels`, creating the series on first use.
    ///
    /// A sample equal to the newest stored one (same timestamp, same value bits) is accepted and
    /// ignored, as Prometheus does for duplicates.
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let r = self.series_ref(labels)?;
        let s = &mut self.series[r as usize];
        if let Some(last) = s.histograms().last()
            && t <= last.t
        {
            return Err(AppendError::OutOfOrder {
                series: s.labels.to_string(),
                t,
                last: last.t,
            });
        }
        if let Some(last) = s.data.last() {
            if t < last.t {
                return Err(AppendError::OutOfOrder {
                    series: s.labels.to_string(),
                    t,
                    last: last.t,
                });
            }
            if t == last.t {
                if last.v.to_bits() == v.to_bits() {
                    return Ok(r);
                }
                return Err(AppendError::Duplicate {
                    series: s.labels.to_string(),
                    t,
                    stored: last.v,
                    refused: v,
                });
            }
        }
        s.data.push(Sample { t, v });
        if let Some(log) = &mut self.log {
            log.sample(r, t, v);
        }
        Ok(r)
    }

    /// Appends one native-histogram sample to the series `labels`, creating the series on first
    /// use. The timestamp must be newer than every stored sample of the series, float or
    /// histogram.
    pub fn append_histogram(
        &mut self,
        labels: &Labels,
        t: i64,
        h: FloatHistogram,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.series_ref(labels)?;
        let s = &mut self.series[r as usize];
        if let Some(last) = s.last_t()
            && t <= last
        {
            return Err(AppendError::OutOfOrder {
                series: s.labels.to_string(),
                t,
                last,
            });
        }
        let mut h = h;
        // Prometheus's head records whether each histogram follows a counter reset (chunk
        // headers and the samples after the first in a chunk); readers see that as the hint.
        // A histogram right after another one gets it here; after a float or as the first
        // sample it stays unknown.
        if h.counter_reset_hint == CounterResetHint::Unknown
            && let Some(prev) = s.histograms().last()
            && s.data.last().is_none_or(|f| f.t < prev.t)
        {
            h.counter_reset_hint = if h.detect_reset(&prev.h) {
                CounterResetHint::CounterReset
            } else {
                CounterResetHint::NotCounterReset
            };
        }
        let h = Arc::new(h);
        if let Some(log) = &mut self.log {
            log.histogram(r, t, &h);
        }
        s.histograms.get_or_insert_default().push(HSample { t, h });
        Ok(r)
    }

    /// The series for `labels`, created on first use.
    fn series_ref(&mut self, labels: &Labels) -> Result<SeriesRef, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels);
        }
        let hash = self.hasher.hash_one(labels);
        if let Some(r) = self.find(hash, labels) {
            return Ok(r);
        }
        let r = SeriesRef::try_from(self.series.len()).map_err(|_| AppendError::EmptyLabels)?;
        self.insert(hash, r, labels, chunk::SeriesChunks::default(), None);
        if let Some(log) = &mut self.log {
            log.series(r, &self.series[r as usize].labels);
        }
        Ok(r)
    }

    /// The series whose labels hash to `hash` (with `self.hasher`) and equal `labels`.
    fn find(&self, hash: u64, labels: &Labels) -> Option<SeriesRef> {
        let series = &self.series;
        self.by_labels
            .find(hash, |&r| {
                series.get(r as usize).is_some_and(|s| s.labels == *labels)
            })
            .copied()
    }

    /// Adds series `r` (the next reference) with `labels`, interned through the index, to the
    /// series list, the hash table and the index; `hash` is the labels' hash.
    #[expect(
        clippy::box_collection,
        reason = "the field's type, see `MemSeries::histograms`"
    )]
    fn insert(
        &mut self,
        hash: u64,
        r: SeriesRef,
        labels: &Labels,
        data: chunk::SeriesChunks,
        histograms: Option<Box<Vec<HSample>>>,
    ) {
        let labels = self.index.add(r, labels);
        self.series.push(MemSeries {
            labels,
            data,
            histograms,
        });
        let (series, hasher) = (&self.series, &self.hasher);
        // The table rehashes from the stored references when it grows; every reference it
        // holds is below `series.len()`, so the fallback hash is never used.
        self.by_labels.insert_unique(hash, r, |&r| {
            series.get(r as usize).map_or(0, |s| hasher.hash_one(&s.labels))
        });
    }

    /// Removes every series (an attached [`AppendLog`] stays attached and is told).
    pub fn clear(&mut self) {
        let log = self.log.take();
        let kept = vec![false; self.series.len()];
        *self = Storage::default();
        self.log = log;
        if let Some(log) = &mut self.log {
            log.compact(&kept);
        }
    }

    /// Attaches `log`, which from now on hears of every accepted change; returns the one it
    /// replaces. The log is expected to know the series already stored (see [`AppendLog`]).
    pub fn set_append_log(&mut self, log: Option<Box<dyn AppendLog>>) -> Option<Box<dyn AppendLog>> {
        std::mem::replace(&mut self.log, log)
    }

    /// Marks the end of an ingest batch: an attached [`AppendLog`] hands its buffer to the OS,
    /// so the batch survives a crash of the process. Without a log this does nothing. An error
    /// means the batch is in memory (queries see it) but not durable: do not acknowledge it.
    pub fn end_batch(&mut self) -> Result<(), LogError> {
        match &mut self.log {
            Some(log) => log.flush(),
            None => Ok(()),
        }
    }

    /// Whether appends are durable now: an error when the attached [`AppendLog`] cannot write
    /// (then ingest should refuse a batch before appending it, and queries go on).
    pub fn writable(&self) -> Result<(), LogError> {
        match &self.log {
            Some(log) => log.writable(),
            None => Ok(()),
        }
    }

    /// Every series in reference order: `all_series()[r]` has reference `r`.
    pub fn all_series(&self) -> &[MemSeries] {
        &self.series
    }

    /// Adds a whole series at once, as a snapshot stored it, without the per-sample checks of
    /// [`append`](Storage::append) (the chunks were validated when they were rebuilt). Not
    /// reported to an attached [`AppendLog`]: restoring happens before one is attached.
    pub fn restore_series(
        &mut self,
        labels: Labels,
        data: chunk::SeriesChunks,
        histograms: Vec<HSample>,
    ) -> Result<SeriesRef, RestoreError> {
        if labels.is_empty() {
            return Err(AppendError::EmptyLabels.into());
        }
        let hash = self.hasher.hash_one(&labels);
        if self.find(hash, &labels).is_some() {
            return Err(RestoreError::DuplicateSeries {
                series: labels.to_string(),
            });
        }
        if let Some(w) = histograms.windows(2).find(|w| w[1].t <= w[0].t) {
            return Err(RestoreError::HistogramOrder {
                series: labels.to_string(),
                t: w[1].t,
            });
        }
        let r = SeriesRef::try_from(self.series.len()).map_err(|_| AppendError::EmptyLabels)?;
        let histograms = (!histograms.is_empty()).then(|| Box::new(histograms));
        self.insert(hash, r, &labels, data, histograms);
        Ok(r)
    }

    /// The newest timestamp over all samples, float or histogram.
    pub fn max_time(&self) -> Option<i64> {
        self.series.iter().filter_map(MemSeries::last_t).max()
    }

    /// Removes data older than `cutoff` (ms): float chunks whose samples are all older, and
    /// older histogram samples. Series left without samples are removed and the others
    /// renumbered (an attached [`AppendLog`] is told through [`AppendLog::compact`]).
    pub fn drop_before(&mut self, cutoff: i64) -> RetentionStats {
        let mut stats = RetentionStats::default();
        let mut kept = Vec::with_capacity(self.series.len());
        for s in &mut self.series {
            stats.samples += s.data.drop_before(cutoff);
            if let Some(hs) = &mut s.histograms {
                let n = hs.partition_point(|h| h.t < cutoff);
                stats.samples += n;
                hs.drain(..n);
                if hs.is_empty() {
                    s.histograms = None;
                }
            }
            kept.push(s.num_samples() > 0);
        }
        stats.series = kept.iter().filter(|k| !**k).count();
        if stats.series == 0 {
            return stats;
        }
        // References are positions, so removing series means rebuilding the index around the
        // survivors (rare: at most once per retention check).
        let old = std::mem::take(&mut self.series);
        self.by_labels.clear();
        self.index = index::Index::default();
        for (s, keep) in old.into_iter().zip(&kept) {
            if *keep {
                let r = self.series.len() as SeriesRef;
                let hash = self.hasher.hash_one(&s.labels);
                // The labels already use interned strings, so the index keeps them as they are.
                self.insert(hash, r, &s.labels, s.data, s.histograms);
            }
        }
        if let Some(log) = &mut self.log {
            log.compact(&kept);
        }
        stats
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Number of samples across all series.
    pub fn num_samples(&self) -> usize {
        self.series.iter().map(|s| s.num_samples()).sum()
    }

    /// Bytes used by the encoded samples (chunks and the open head), without label overhead.
    pub fn sample_bytes(&self) -> usize {
        self.series.iter().map(|s| s.data.byte_size()).sum()
    }

    /// All label names, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.index.label_names()
    }

    /// All values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.index.label_values(name)
    }

    /// The stored label set of series `r` (a cheap clone sharing the store's strings), so a
    /// caller that keeps label sets around (the scrape loop's staleness set) holds the store's
    /// copy rather than a second one.
    pub fn labels_of(&self, r: SeriesRef) -> Option<&Labels> {
        self.series.get(r as usize).map(|s| &s.labels)
    }

    /// The series matching all `matchers`, sorted by labels (without samples).
    pub fn series(&self, matchers: &[Matcher]) -> Vec<&MemSeries> {
        let refs = self.index.select(matchers, |r| &self.series[r as usize].labels);
        let mut out: Vec<&MemSeries> = refs.into_iter().map(|r| &self.series[r as usize]).collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

impl Queryable for Storage {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
        let mut out = Vec::new();
        for s in self.series(matchers) {
            let mut samples = Vec::new();
            s.data.samples_in(mint, maxt, &mut samples);
            if !samples.is_empty() {
                out.push(SeriesData {
                    labels: s.labels.clone(),
                    samples,
                });
            }
        }
        out
    }

    fn select_all(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesPoints> {
        let mut out = Vec::new();
        for s in self.series(matchers) {
            let mut floats = Vec::new();
            s.data.samples_in(mint, maxt, &mut floats);
            let hs = s.histograms();
            let a = hs.partition_point(|h| h.t < mint);
            let b = hs.partition_point(|h| h.t <= maxt);
            let histograms = hs.get(a..b).map(<[HSample]>::to_vec).unwrap_or_default();
            if !floats.is_empty() || !histograms.is_empty() {
                out.push(SeriesPoints {
                    labels: s.labels.clone(),
                    floats,
                    histograms,
                });
            }
        }
        out
    }
}

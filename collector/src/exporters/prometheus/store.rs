//! The accumulated series: one current value per series, as the OTel Collector's
//! `lastValueAccumulator` keeps them.
//!
//! Families are keyed by their exposed name and series by their rendered label set
//! (`a="x",b="y"`), both in `BTreeMap`s so a scrape walks them already sorted. Rules
//! per point, from `accumulator.go`:
//!
//! - A point flagged `NO_RECORDED_VALUE` removes its series.
//! - Gauges, cumulative sums, summaries and cumulative histograms: a point older than
//!   the stored one is ignored; otherwise it replaces it.
//! - Delta monotonic sums: a point whose start time equals the stored point's time is
//!   added to it (keeping the first start time); any other start time is a restart and
//!   replaces the value.
//! - Delta histograms (explicit and exponential): a point starting exactly at the stored
//!   point's time is added bucket by bucket; one starting later is a restart and
//!   replaces the value; one starting earlier overlaps what was counted and is dropped.
//!   Explicit buckets with different bounds take the newer point's buckets.
//! - A point whose family exists with another type is dropped ("instrument type
//!   conflict"); the first description seen is the family's HELP.
//!
//! Every series records when it was last updated; those not updated within
//! `metric_expiration` are skipped by a scrape and removed by [`Store::sweep`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::render::{BucketLayout, FloatText};

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `gauge`.
    Gauge,
    /// `counter`.
    Counter,
    /// `histogram`.
    Histogram,
    /// `summary`.
    Summary,
    /// `untyped` (OpenMetrics `unknown`).
    Untyped,
}

/// An OTLP aggregation temporality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Temporality {
    /// Not set: sums are dropped, histograms only keep their first point.
    Unspecified,
    /// Each point covers the time since the previous one.
    Delta,
    /// Each point covers the time since a fixed start.
    Cumulative,
}

/// A number data point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// An integer value.
    Int(i64),
    /// A floating-point value.
    Double(f64),
}

impl Number {
    /// The value as a float, as the exposition writes it.
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Double(f) => f,
        }
    }

    fn add(self, other: Number) -> Number {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Number::Int(a.wrapping_add(b)),
            (a, b) => Number::Double(a.as_f64() + b.as_f64()),
        }
    }
}

/// An exemplar kept for the OpenMetrics exposition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Exemplar {
    /// The measured value.
    pub(crate) value: f64,
    /// When it was measured; 0 if unknown.
    pub(crate) time_unix_nano: u64,
    /// Lower-case hex trace id, empty if none.
    pub(crate) trace_id: String,
    /// Lower-case hex span id, empty if none.
    pub(crate) span_id: String,
}

/// One side (positive or negative) of an exponential histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ExpBuckets {
    /// The index of the first bucket.
    pub(crate) offset: i32,
    /// Counts of consecutive buckets from `offset`.
    pub(crate) counts: Vec<u64>,
}

/// An exponential histogram data point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpPoint {
    /// The resolution: bucket boundaries are powers of `2^(2^-scale)`.
    pub(crate) scale: i32,
    /// Values within `[-zero_threshold, zero_threshold]`.
    pub(crate) zero_count: u64,
    /// The zero bucket's half-width (non-negative).
    pub(crate) zero_threshold: f64,
    /// Buckets of positive values.
    pub(crate) positive: ExpBuckets,
    /// Buckets of negative values (by absolute value).
    pub(crate) negative: ExpBuckets,
    /// The sum of the values, if recorded.
    pub(crate) sum: Option<f64>,
    /// The number of values.
    pub(crate) count: u64,
}

/// A data point's payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PointData {
    /// Gauge or sum.
    Number(Number),
    /// Explicit-bucket histogram, as received.
    Histogram {
        /// Upper bounds, in the order received.
        bounds: Vec<f64>,
        /// Per-bucket counts: one per bound plus the overflow bucket.
        counts: Vec<u64>,
        /// Sum of the values (0 if not recorded).
        sum: f64,
        /// Number of values.
        count: u64,
    },
    /// Exponential histogram.
    Exponential(ExpPoint),
    /// Summary.
    Summary {
        /// `(quantile, value)` pairs as received.
        quantiles: Vec<(f64, f64)>,
        /// Sum of the values.
        sum: f64,
        /// Number of values.
        count: u64,
    },
}

/// One translated data point.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// The rendered label set: the series' identity within its family.
    pub(crate) key: Box<str>,
    /// Start of the point's interval (ns since the epoch).
    pub(crate) start: u64,
    /// The point's timestamp (ns since the epoch).
    pub(crate) time: u64,
    /// `NO_RECORDED_VALUE`: the series is gone.
    pub(crate) no_value: bool,
    /// The value.
    pub(crate) data: PointData,
    /// Exemplars (counters and explicit histograms only).
    pub(crate) exemplars: Vec<Exemplar>,
}

/// One OTLP metric's points, already named.
#[derive(Debug, Clone)]
pub(crate) struct MetricBatch {
    /// The exposed family name.
    pub(crate) family: String,
    /// The family's type.
    pub(crate) kind: Kind,
    /// The metric's description (HELP).
    pub(crate) help: String,
    /// How the points aggregate over time.
    pub(crate) temporality: Temporality,
    /// Index into [`Batch::targets`] of the metric's resource.
    pub(crate) resource: usize,
    /// The points.
    pub(crate) points: Vec<Point>,
}

/// Identifies a resource's `target_info` series: its job and instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TargetId(Box<str>);

impl TargetId {
    /// The id of `job` and `instance`.
    pub(crate) fn new(job: &str, instance: &str) -> Self {
        // U+FFFF cannot appear in either value's meaning; it only separates them.
        TargetId(format!("{job}\u{ffff}{instance}").into_boxed_str())
    }
}

/// A resource's `target_info` series.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Job and instance.
    pub(crate) id: TargetId,
    /// The rendered label set.
    pub(crate) key: Box<str>,
}

/// One export request, translated.
#[derive(Debug, Clone, Default)]
pub(crate) struct Batch {
    /// Per resource: its `target_info` series, if it has a job and an instance.
    pub(crate) targets: Vec<Option<Target>>,
    /// The metrics.
    pub(crate) metrics: Vec<MetricBatch>,
    /// Attributes that did not become labels, by reason (counted by the exporter).
    pub(crate) dropped: DroppedLabels,
}

/// Attributes the translator left out of a batch's label sets; the points themselves
/// are kept. Each is counted in `otelcol_exporter_prometheus_dropped_labels`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DroppedLabels {
    /// Attributes named like a label the exposition reserves: `__name__`, `le`,
    /// `quantile`.
    pub(crate) reserved: u64,
    /// Attribute keys with no valid label name (empty, or only invalid characters).
    pub(crate) invalid_name: u64,
    /// Attributes whose label name a resource- or scope-derived label already holds
    /// (`job`, `instance`, `otel_scope_*`).
    pub(crate) shadowed: u64,
}

/// An explicit-bucket histogram ready to render: raw per-bucket counts in the order of
/// [`BucketLayout::bounds`]; the layout says how to walk them in ascending order.
#[derive(Debug, Clone)]
pub(crate) struct Hist {
    /// Bounds and their pre-rendered `le` labels, shared between series.
    pub(crate) layout: Arc<BucketLayout>,
    /// Per-bucket (not cumulative) counts, indexed like the layout's raw bounds.
    pub(crate) counts: Vec<u64>,
    /// Sum of the values.
    pub(crate) sum: f64,
    /// Number of values (the `+Inf` bucket).
    pub(crate) count: u64,
}

/// A series' current value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// Gauge or counter, with the value pre-rendered for scrapes.
    Number(Number, FloatText),
    /// Explicit-bucket histogram.
    Histogram(Hist),
    /// Exponential histogram: the native form (for delta accumulation; boxed to keep
    /// every series small for the scrape's walk) and its classic buckets (for rendering).
    Exponential(Box<ExpPoint>, Hist),
    /// Summary with quantiles sorted and unique.
    Summary {
        /// `(quantile, value)`, ascending by quantile.
        quantiles: Vec<(f64, f64)>,
        /// Sum.
        sum: f64,
        /// Count.
        count: u64,
    },
}

/// One series.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Store clock (ms) of the last update, for expiration.
    pub(crate) updated_ms: u64,
    /// Start of the accumulated interval (ns).
    pub(crate) start: u64,
    /// Timestamp of the latest point (ns); 0 for `target_info`.
    pub(crate) time: u64,
    /// The value.
    pub(crate) value: Value,
    /// The latest point's exemplars.
    pub(crate) exemplars: Vec<Exemplar>,
}

/// One metric family.
#[derive(Debug)]
pub(crate) struct Family {
    /// Its type.
    pub(crate) kind: Kind,
    /// Its HELP text (unescaped).
    pub(crate) help: Box<str>,
    /// Its series, by rendered label set.
    pub(crate) series: BTreeMap<Box<str>, Series>,
    /// The last bucket layout built, reused while bounds stay the same.
    layout_cache: Option<Arc<BucketLayout>>,
    /// Series added since the family was last laid out in sorted order.
    added: usize,
}

/// Families at least this large are re-laid out once enough series were added.
const COMPACT_MIN_SERIES: usize = 1024;

impl Family {
    fn new(kind: Kind, help: &str) -> Self {
        Family {
            kind,
            help: help.into(),
            series: BTreeMap::new(),
            layout_cache: None,
            added: 0,
        }
    }

    /// Rebuilds the map so its nodes and keys sit in memory in the order a scrape walks
    /// them. Series arrive in any order, so their keys end up scattered over the heap
    /// and a large scrape is bound by cache misses; laid out in order, the walk is
    /// sequential and the hardware prefetches it. Done when a quarter of the family is
    /// new, so the cost is amortised.
    fn compact_if_grown(&mut self) {
        if self.series.len() < COMPACT_MIN_SERIES || self.added * 4 < self.series.len() {
            return;
        }
        // Copy every key before freeing the old ones, so the copies come from fresh,
        // consecutive memory; collecting a sorted iterator builds the nodes in order.
        let old = std::mem::take(&mut self.series);
        let rebuilt: Vec<(Box<str>, Series)> = old
            .iter()
            .map(|(k, v)| (Box::<str>::from(&**k), v.clone()))
            .collect();
        drop(old);
        self.series = rebuilt.into_iter().collect();
        self.added = 0;
    }
}

/// Every series the exporter serves.
#[derive(Debug)]
pub(crate) struct Store {
    families: BTreeMap<Box<str>, Family>,
    /// job/instance → the key of its current `target_info` series.
    targets: HashMap<TargetId, Box<str>>,
    target_family: Box<str>,
}

impl Store {
    /// An empty store whose `target_info` family is named `target_family`.
    pub(crate) fn new(target_family: &str) -> Self {
        Store {
            families: BTreeMap::new(),
            targets: HashMap::new(),
            target_family: target_family.into(),
        }
    }

    /// The families, sorted by name.
    pub(crate) fn families(&self) -> &BTreeMap<Box<str>, Family> {
        &self.families
    }

    /// The number of series held, expired or not.
    #[cfg(test)]
    pub(crate) fn series_count(&self) -> usize {
        self.families.values().map(|f| f.series.len()).sum()
    }

    /// Applies a batch at store time `now_ms`; returns the number of points accepted.
    pub(crate) fn apply(&mut self, batch: Batch, now_ms: u64) -> usize {
        let mut accepted = 0;
        let mut touched = vec![false; batch.targets.len()];
        for metric in batch.metrics {
            let family = self
                .families
                .entry(metric.family.into_boxed_str())
                .or_insert_with(|| Family::new(metric.kind, &metric.help));
            if family.kind != metric.kind {
                tracing::debug!(
                    family = ?family.kind,
                    dropped = ?metric.kind,
                    "Points dropped: their family already exists with another type."
                );
                continue;
            }
            let mut any = false;
            for point in metric.points {
                if apply_point(family, point, metric.temporality, now_ms) {
                    accepted += 1;
                    any = true;
                }
            }
            if any && let Some(t) = touched.get_mut(metric.resource) {
                *t = true;
            }
        }
        self.families.retain(|_, f| {
            f.compact_if_grown();
            !f.series.is_empty()
        });
        for (target, touched) in batch.targets.iter().zip(touched) {
            if let (Some(target), true) = (target, touched) {
                self.touch_target(target, now_ms);
            }
        }
        accepted
    }

    /// Keeps a resource's `target_info` alive while its series are updated.
    fn touch_target(&mut self, target: &Target, now_ms: u64) {
        let family = self
            .families
            .entry(self.target_family.clone())
            .or_insert_with(|| Family::new(Kind::Gauge, "Target metadata"));
        if family.kind != Kind::Gauge {
            return;
        }
        // One target_info per job/instance: a resource whose other attributes changed
        // replaces its old series.
        if let Some(old) = self.targets.get(&target.id)
            && **old != *target.key
        {
            family.series.remove(old);
        }
        self.targets.insert(target.id.clone(), target.key.clone());
        family
            .series
            .entry(target.key.clone())
            .and_modify(|s| s.updated_ms = now_ms)
            .or_insert_with(|| Series {
                updated_ms: now_ms,
                start: 0,
                time: 0,
                value: Value::Number(Number::Double(1.0), FloatText::new(1.0)),
                exemplars: Vec::new(),
            });
    }

    /// Removes series last updated before `cutoff_ms`, and families left empty.
    pub(crate) fn sweep(&mut self, cutoff_ms: u64) {
        self.families.retain(|_, f| {
            f.series.retain(|_, s| s.updated_ms >= cutoff_ms);
            !f.series.is_empty()
        });
        match self.families.get(&self.target_family) {
            Some(family) => self.targets.retain(|_, key| family.series.contains_key(key)),
            None => self.targets.clear(),
        }
    }
}

/// Applies one point to its family; true if the store took it.
fn apply_point(family: &mut Family, point: Point, temporality: Temporality, now_ms: u64) -> bool {
    let Family {
        series,
        layout_cache,
        added,
        ..
    } = family;
    if point.no_value {
        series.remove(&point.key);
        return false;
    }
    let Some(existing) = series.get_mut(&point.key) else {
        let value = first_value(point.data, layout_cache);
        series.insert(
            point.key,
            Series {
                updated_ms: now_ms,
                start: point.start,
                time: point.time,
                value,
                exemplars: point.exemplars,
            },
        );
        *added += 1;
        return true;
    };
    let (start, time) = (point.start, point.time);
    let updated = match (&mut existing.value, point.data) {
        (Value::Number(old, text), PointData::Number(new)) => {
            if time < existing.time {
                return false;
            }
            if temporality == Temporality::Delta && start == existing.time {
                *old = old.add(new);
                existing.time = time;
            } else {
                *old = new;
                existing.start = start;
                existing.time = time;
            }
            *text = FloatText::new(old.as_f64());
            true
        }
        (
            Value::Histogram(old),
            PointData::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
        ) => match temporality {
            Temporality::Delta if start == existing.time => {
                merge_histogram(old, existing.time, bounds, counts, sum, count, time, layout_cache);
                existing.time = existing.time.max(time);
                true
            }
            Temporality::Delta if start <= existing.time => return false,
            Temporality::Delta | Temporality::Cumulative => {
                if temporality == Temporality::Cumulative && time < existing.time {
                    return false;
                }
                *old = histogram(bounds, counts, sum, count, layout_cache);
                existing.start = start;
                existing.time = time;
                true
            }
            Temporality::Unspecified => return false,
        },
        (Value::Exponential(old, classic), PointData::Exponential(new)) => match temporality {
            Temporality::Delta if start == existing.time => {
                **old = merge_exponential(old, &new);
                *classic = exponential_to_classic(old, layout_cache);
                existing.time = existing.time.max(time);
                true
            }
            Temporality::Delta if start <= existing.time => return false,
            Temporality::Delta | Temporality::Cumulative => {
                if temporality == Temporality::Cumulative && time < existing.time {
                    return false;
                }
                *classic = exponential_to_classic(&new, layout_cache);
                **old = new;
                existing.start = start;
                existing.time = time;
                true
            }
            Temporality::Unspecified => return false,
        },
        (Value::Summary { .. }, data @ PointData::Summary { .. }) => {
            if time < existing.time {
                return false;
            }
            existing.value = first_value(data, layout_cache);
            existing.start = start;
            existing.time = time;
            true
        }
        // Two OTLP metrics of different shapes exposed under one name and label set:
        // the newer point wins.
        (_, data) => {
            if time < existing.time {
                return false;
            }
            existing.value = first_value(data, layout_cache);
            existing.start = start;
            existing.time = time;
            true
        }
    };
    if updated {
        existing.updated_ms = now_ms;
        existing.exemplars = point.exemplars;
    }
    updated
}

fn first_value(data: PointData, cache: &mut Option<Arc<BucketLayout>>) -> Value {
    match data {
        PointData::Number(n) => Value::Number(n, FloatText::new(n.as_f64())),
        PointData::Histogram {
            bounds,
            counts,
            sum,
            count,
        } => Value::Histogram(histogram(bounds, counts, sum, count, cache)),
        PointData::Exponential(e) => {
            let classic = exponential_to_classic(&e, cache);
            Value::Exponential(Box::new(e), classic)
        }
        PointData::Summary {
            mut quantiles,
            sum,
            count,
        } => {
            // One value per quantile (the last one given wins, as in a Go map), sorted.
            quantiles.reverse();
            quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
            quantiles.dedup_by(|a, b| a.0 == b.0);
            Value::Summary {
                quantiles,
                sum,
                count,
            }
        }
    }
}

/// The layout for `bounds`, reusing the family's last one when the bounds are equal.
fn layout(bounds: Vec<f64>, cache: &mut Option<Arc<BucketLayout>>) -> Arc<BucketLayout> {
    if let Some(cached) = cache
        && cached.bounds.len() == bounds.len()
        && cached
            .bounds
            .iter()
            .zip(&bounds)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    {
        return Arc::clone(cached);
    }
    let fresh = Arc::new(BucketLayout::new(bounds));
    *cache = Some(Arc::clone(&fresh));
    fresh
}

fn histogram(
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    cache: &mut Option<Arc<BucketLayout>>,
) -> Hist {
    Hist {
        layout: layout(bounds, cache),
        counts,
        sum,
        count,
    }
}

/// Adds a delta histogram point to the stored one (`accumulateHistogramValues`): with
/// equal bounds counts add up; otherwise the newer point's buckets are kept.
#[allow(clippy::too_many_arguments)]
fn merge_histogram(
    old: &mut Hist,
    old_time: u64,
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    time: u64,
    cache: &mut Option<Arc<BucketLayout>>,
) {
    let same_bounds = old.layout.bounds.len() == bounds.len()
        && old
            .layout
            .bounds
            .iter()
            .zip(&bounds)
            .all(|(a, b)| a.to_bits() == b.to_bits());
    if same_bounds {
        let len = old.counts.len().max(counts.len());
        let mut merged = Vec::with_capacity(len);
        for i in 0..len {
            let a = old.counts.get(i).copied().unwrap_or(0);
            merged.push(a.wrapping_add(counts.get(i).copied().unwrap_or(0)));
        }
        old.counts = merged;
        old.sum += sum;
        old.count = old.count.wrapping_add(count);
    } else if time >= old_time {
        *old = histogram(bounds, counts, sum, count, cache);
    }
    // Different bounds and the stored point is newer: it stays as it is.
}

/// Adds two exponential histograms, first bringing both to the coarser scale.
pub(crate) fn merge_exponential(a: &ExpPoint, b: &ExpPoint) -> ExpPoint {
    let scale = a.scale.min(b.scale);
    let pos = merge_buckets(
        &downscale(&a.positive, a.scale - scale),
        &downscale(&b.positive, b.scale - scale),
    );
    let neg = merge_buckets(
        &downscale(&a.negative, a.scale - scale),
        &downscale(&b.negative, b.scale - scale),
    );
    ExpPoint {
        scale,
        zero_count: a.zero_count.wrapping_add(b.zero_count),
        zero_threshold: a.zero_threshold.max(b.zero_threshold),
        positive: pos,
        negative: neg,
        sum: match (a.sum, b.sum) {
            (None, None) => None,
            (x, y) => Some(x.unwrap_or(0.0) + y.unwrap_or(0.0)),
        },
        count: a.count.wrapping_add(b.count),
    }
}

/// Reduces resolution by `shift` scale steps: bucket `i` becomes `i >> shift`
/// (floor division by `2^shift`).
fn downscale(b: &ExpBuckets, shift: i32) -> ExpBuckets {
    if b.counts.is_empty() || shift <= 0 {
        return b.clone();
    }
    let shift = shift.min(62) as u32;
    let first = i64::from(b.offset) >> shift;
    let last = (i64::from(b.offset) + b.counts.len() as i64 - 1) >> shift;
    let mut counts = vec![0u64; (last - first + 1) as usize];
    for (i, c) in b.counts.iter().enumerate() {
        let idx = ((i64::from(b.offset) + i as i64) >> shift) - first;
        counts[idx as usize] = counts[idx as usize].wrapping_add(*c);
    }
    ExpBuckets {
        offset: first as i32,
        counts,
    }
}

fn merge_buckets(a: &ExpBuckets, b: &ExpBuckets) -> ExpBuckets {
    match (a.counts.is_empty(), b.counts.is_empty()) {
        (true, true) => return ExpBuckets::default(),
        (true, false) => return b.clone(),
        (false, true) => return a.clone(),
        _ => {}
    }
    let first = a.offset.min(b.offset);
    let last = (i64::from(a.offset) + a.counts.len() as i64).max(i64::from(b.offset) + b.counts.len() as i64);
    let mut counts = vec![0u64; (last - i64::from(first)) as usize];
    for side in [a, b] {
        for (i, c) in side.counts.iter().enumerate() {
            let idx = (i64::from(side.offset) - i64::from(first)) as usize + i;
            counts[idx] = counts[idx].wrapping_add(*c);
        }
    }
    ExpBuckets {
        offset: first,
        counts,
    }
}

/// Converts an exponential histogram to classic `le` buckets (see the module docs of
/// the exporter for the method).
pub(crate) fn exponential_to_classic(e: &ExpPoint, cache: &mut Option<Arc<BucketLayout>>) -> Hist {
    let (bounds, counts) = exponential_buckets(e);
    Hist {
        layout: layout(bounds, cache),
        counts,
        sum: e.sum.unwrap_or(0.0),
        count: e.count,
    }
}

/// The ascending upper bounds and per-bucket counts of an exponential histogram.
///
/// With `base = 2^(2^-scale)`, positive bucket `i` holds `(base^i, base^(i+1)]`, so its
/// `le` is `base^(i+1)`; negative bucket `i` holds `[-base^(i+1), -base^i)`, so its
/// `le` is `-base^i`. The zero bucket is folded into the first positive bucket (its
/// values are all below that bound), or gets its own bound at the zero threshold when
/// there are no positive buckets. Bounds that overflow to infinity are left to the
/// `+Inf` bucket; equal bounds (from underflow) are merged.
///
/// Negative buckets with a zero count get no bound: SDKs send a negative range of zeros
/// (offset 0, counts `[0]`) for histograms that never saw a negative value, which used
/// to add a spurious `le="-1"` bucket to every such series. Leaving them out changes no
/// cumulative count.
pub(crate) fn exponential_buckets(e: &ExpPoint) -> (Vec<f64>, Vec<u64>) {
    // 2^(i * 2^-scale) is exact for scale <= 0 and correctly rounded by exp2 otherwise.
    let step = (-f64::from(e.scale)).exp2();
    let bound = |i: i64| (i as f64 * step).exp2();
    let mut out = ClassicBuckets::default();
    for (j, c) in e.negative.counts.iter().enumerate().rev() {
        if *c == 0 {
            continue;
        }
        out.push(-bound(i64::from(e.negative.offset) + j as i64), *c);
    }
    if e.positive.counts.is_empty() {
        if e.zero_count > 0 || out.carry > 0 {
            out.push(e.zero_threshold, e.zero_count);
        }
    } else {
        for (j, c) in e.positive.counts.iter().enumerate() {
            let extra = if j == 0 { e.zero_count } else { 0 };
            out.push(
                bound(i64::from(e.positive.offset) + j as i64 + 1),
                c.wrapping_add(extra),
            );
        }
    }
    let ClassicBuckets { bounds, counts, .. } = out;
    (bounds, counts)
}

/// Ascending classic buckets being built from exponential ones.
#[derive(Default)]
struct ClassicBuckets {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    /// Counts of buckets whose bound underflowed to -Inf, owed to the next bucket up.
    carry: u64,
}

impl ClassicBuckets {
    fn push(&mut self, le: f64, count: u64) {
        if le == f64::NEG_INFINITY {
            self.carry = self.carry.wrapping_add(count);
            return;
        }
        // +Inf (overflow) is the implicit +Inf bucket, whose count is the total.
        if le.is_nan() || le == f64::INFINITY {
            return;
        }
        let count = count.wrapping_add(std::mem::take(&mut self.carry));
        match (self.bounds.last(), self.counts.last_mut()) {
            (Some(last), Some(c)) if *last == le => *c = c.wrapping_add(count),
            _ => {
                self.bounds.push(le);
                self.counts.push(count);
            }
        }
    }
}

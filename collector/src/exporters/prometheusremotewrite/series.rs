//! OTLP → remote-write series: the `prometheus` exporter's translator names every series
//! and its store accumulates them (delta → cumulative, out-of-order points ignored), then
//! each series a request updated is written out as remote-write samples at the point's
//! timestamp. Pull and push therefore expose the same series with the same values.
//!
//! Per store value:
//! - a number: one sample of the family;
//! - an explicit histogram: `_bucket{le}` (cumulative, `le` written as Go's
//!   `FormatFloat(b, 'f', -1)`, as the contrib exporter does, plus `+Inf`), `_sum`, `_count`;
//! - an exponential histogram: one native histogram sample (schema = scale, capped at 8 by
//!   merging buckets; Prometheus bucket `i + 1` for OTLP bucket `i`, since OTLP buckets are
//!   upper-inclusive `(b^i, b^(i+1)]` and Prometheus's `(b^(i-1), b^i]`);
//! - a summary: `{quantile}` samples, `_sum`, `_count`.
//!
//! Staleness: a point flagged `NO_RECORDED_VALUE` ends its series with a staleness marker
//! (Prometheus's StaleNaN) at the point's time, as the contrib exporter does; a series no
//! point updated for [`EXPIRATION`] is dropped from the accumulator and gets a marker too,
//! so a receiver stops showing a value a vanished process no longer reports.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burnwatch_remote::proto::{
    BucketSpan, Histogram, Label, MetricMetadata, MetricType, ResetHint, STALE_NAN, Sample, TimeSeries,
    histogram,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use super::config::PrometheusRemoteWriteConfig;
use crate::exporters::prometheus::config::PrometheusExporterConfig;
use crate::exporters::prometheus::store::{
    Batch, DroppedLabels, ExpBuckets, ExpPoint, Family, Hist, Kind, MetricBatch, Series, Store, Value,
};
use crate::exporters::prometheus::translate::Translator;

/// Series not updated for this long are expired (the `prometheus` exporter's default
/// `metric_expiration`; the contrib remote-write exporter keeps no state, so has no key).
pub(crate) const EXPIRATION: std::time::Duration = std::time::Duration::from_secs(300);

/// The zero threshold sent when an OTLP point has none (exact zeros only), as the contrib
/// exporter sends it.
const DEFAULT_ZERO_THRESHOLD: f64 = 1e-128;

/// Native histogram schemas Prometheus accepts.
const MAX_SCHEMA: i32 = 8;
const MIN_SCHEMA: i32 = -4;

/// One request's output.
#[derive(Debug, Default)]
pub(crate) struct Converted {
    /// The series to send.
    pub(crate) series: Vec<TimeSeries>,
    /// Metadata (with `send_metadata`).
    pub(crate) metadata: Vec<MetricMetadata>,
    /// OTLP data points in the request.
    pub(crate) points: u64,
    /// Attributes left out of label sets.
    pub(crate) dropped: DroppedLabels,
    /// Exponential histogram points whose scale no native histogram can hold.
    pub(crate) unconvertible: u64,
}

struct State {
    store: Store,
    /// The newest `target_info` timestamp sent per target: a request carrying only older
    /// points must not send an older one, which a receiver refuses as out of order (and
    /// Prometheus refuses the whole request with it).
    target_sent: HashMap<Box<str>, i64>,
    /// The last store tick handed out (ms since `epoch`, strictly increasing).
    tick: u64,
    last_sweep: u64,
}

/// The translator and accumulator of one exporter.
pub(crate) struct Converter {
    translator: Translator,
    state: Mutex<State>,
    epoch: Instant,
    target_info: bool,
    send_metadata: bool,
    /// `external_labels`, added to `target_info` too (the translator leaves its constant
    /// labels off it), as the contrib exporter labels every series it sends.
    external_labels: Vec<Label>,
}

impl Converter {
    /// A converter for `config`.
    pub(crate) fn new(config: &PrometheusRemoteWriteConfig) -> Self {
        // The translator's configuration: external labels are its constant labels (a point
        // attribute of the same name wins, as in the contrib exporter).
        let prom = PrometheusExporterConfig {
            namespace: config.namespace.clone(),
            const_labels: config.external_labels.clone(),
            resource_to_telemetry_conversion: config.resource_to_telemetry_conversion.clone(),
            add_metric_suffixes: config.add_metric_suffixes,
            ..PrometheusExporterConfig::default()
        };
        let translator = Translator::new(&prom);
        let store = Store::new(translator.target_family());
        Converter {
            translator,
            state: Mutex::new(State {
                store,
                target_sent: HashMap::new(),
                tick: 0,
                last_sweep: 0,
            }),
            epoch: Instant::now(),
            target_info: config.target_info.enabled,
            send_metadata: config.send_metadata,
            external_labels: config
                .external_labels
                .iter()
                .map(|(k, v)| Label::new(k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Translates one request and applies it; returns the samples to send.
    pub(crate) fn convert(&self, request: &ExportMetricsServiceRequest) -> Converted {
        let batch = self.translator.translate(request);
        let mut out = Converted {
            points: batch.metrics.iter().map(|m| m.points.len() as u64).sum(),
            dropped: batch.dropped,
            ..Converted::default()
        };
        if self.send_metadata {
            let mut seen = HashSet::new();
            for m in &batch.metrics {
                if seen.insert(m.family.clone()) {
                    out.metadata.push(MetricMetadata {
                        r#type: metric_type(m.kind) as i32,
                        metric_family_name: m.family.clone(),
                        help: m.help.clone(),
                        unit: String::new(),
                    });
                }
            }
        }
        let targets = batch.targets.clone();
        // Per resource: the newest timestamp (ms) sent, for its target_info sample.
        let mut resource_time: HashMap<usize, i64> = HashMap::new();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for round in rounds(batch) {
            let wanted: Vec<(String, Box<str>, u64, usize, bool)> = round
                .metrics
                .iter()
                .flat_map(|m| {
                    m.points
                        .iter()
                        .map(|p| (m.family.clone(), p.key.clone(), p.time, m.resource, p.no_value))
                })
                .collect();
            // Series a NO_RECORDED_VALUE point ends: their current shape, before it goes.
            for (family, key, time, _, no_value) in &wanted {
                if !no_value {
                    continue;
                }
                if let Some((f, s)) = lookup(&state.store, family, key) {
                    stale_series(family, key, f, s, ms(*time), &mut out.series);
                }
            }
            let now = self.next_tick(&mut state);
            state.store.apply(round, now);
            for (family, key, time, resource, no_value) in wanted {
                if no_value {
                    continue;
                }
                let Some((f, s)) = lookup(&state.store, &family, &key) else {
                    continue;
                };
                // Only what this request changed: an out-of-order point left the series as it
                // was, and sending its old value again would be refused as a duplicate.
                if s.updated_ms != now || s.time != time {
                    continue;
                }
                let t = ms(s.time);
                if !write_series(&family, &key, f.kind, s, t, &mut out.series) {
                    out.unconvertible += 1;
                }
                let e = resource_time.entry(resource).or_insert(t);
                *e = (*e).max(t);
            }
        }
        if self.target_info {
            let name = self.translator.target_family().to_string();
            // Resources come and go; the map is a cache of recent ones, not a registry.
            if state.target_sent.len() > 100_000 {
                state.target_sent.clear();
            }
            for (resource, t) in resource_time {
                if let Some(Some(target)) = targets.get(resource) {
                    let last = state.target_sent.entry(target.key.clone()).or_insert(i64::MIN);
                    if t <= *last {
                        continue;
                    }
                    *last = t;
                    let mut labels = labels(&name, &target.key, None);
                    for l in &self.external_labels {
                        if !labels.iter().any(|have| have.name == l.name) {
                            labels.push(l.clone());
                        }
                    }
                    labels.sort_by(|a, b| a.name.cmp(&b.name));
                    out.series.push(TimeSeries {
                        labels,
                        samples: vec![Sample {
                            value: 1.0,
                            timestamp: t,
                        }],
                        ..Default::default()
                    });
                }
            }
        }
        self.expire(&mut state, &mut out.series);
        out
    }

    /// A store time (ms since the converter started) later than every earlier one, so
    /// `updated_ms == tick` identifies exactly the series one apply changed.
    fn next_tick(&self, state: &mut State) -> u64 {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        state.tick = ms.max(state.tick + 1);
        state.tick
    }

    /// Drops series not updated within [`EXPIRATION`] and writes their staleness markers.
    fn expire(&self, state: &mut State, out: &mut Vec<TimeSeries>) {
        let expiration = EXPIRATION.as_millis() as u64;
        let now = state.tick;
        if now.saturating_sub(state.last_sweep) < expiration / 10 {
            return;
        }
        state.last_sweep = now;
        let cutoff = now.saturating_sub(expiration);
        let wall = now_ms();
        let target_family = self.translator.target_family();
        for (family, f) in state.store.families() {
            if &**family == target_family {
                continue;
            }
            for (key, s) in &f.series {
                if s.updated_ms < cutoff {
                    stale_series(family, key, f, s, wall.max(ms(s.time) + 1), out);
                }
            }
        }
        state.store.sweep(cutoff);
    }
}

/// Splits a batch so that no round holds two points of one series: the store keeps one
/// value per series, and each point's value must be read back before the next is applied.
fn rounds(batch: Batch) -> Vec<Batch> {
    let duplicated = batch.metrics.iter().any(|m| {
        let mut seen = HashSet::with_capacity(m.points.len());
        m.points.iter().any(|p| !seen.insert(&p.key))
    });
    if !duplicated {
        return vec![batch];
    }
    let mut rounds: Vec<Batch> = Vec::new();
    for metric in batch.metrics {
        let mut count: HashMap<Box<str>, usize> = HashMap::new();
        let MetricBatch {
            family,
            kind,
            help,
            temporality,
            resource,
            points,
        } = metric;
        let mut per_round: Vec<Vec<_>> = Vec::new();
        for p in points {
            let n = count.entry(p.key.clone()).or_insert(0);
            if per_round.len() <= *n {
                per_round.push(Vec::new());
            }
            per_round[*n].push(p);
            *n += 1;
        }
        for (i, points) in per_round.into_iter().enumerate() {
            if rounds.len() <= i {
                rounds.push(Batch {
                    targets: batch.targets.clone(),
                    metrics: Vec::new(),
                    dropped: DroppedLabels::default(),
                });
            }
            rounds[i].metrics.push(MetricBatch {
                family: family.clone(),
                kind,
                help: help.clone(),
                temporality,
                resource,
                points,
            });
        }
    }
    rounds
}

fn lookup<'a>(store: &'a Store, family: &str, key: &str) -> Option<(&'a Family, &'a Series)> {
    let f = store.families().get(family)?;
    Some((f, f.series.get(key)?))
}

fn ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
        Kind::Histogram => MetricType::Histogram,
        Kind::Summary => MetricType::Summary,
        Kind::Untyped => MetricType::Unknown,
    }
}

/// Parses a rendered label set (`a="x",b="y\"z"`, as the translator writes it) back
/// into labels, adds `__name__` and `extra`, and sorts them by name.
pub(crate) fn labels(name: &str, key: &str, extra: Option<(&str, &str)>) -> Vec<Label> {
    let mut out = Vec::with_capacity(8);
    out.push(Label::new("__name__", name));
    let bytes = key.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let Some(eq) = key[i..].find("=\"") else {
            break;
        };
        let label = &key[i..i + eq];
        let mut value = String::new();
        let mut j = i + eq + 2;
        let mut chars = key[j..].char_indices();
        let mut end = key.len();
        while let Some((k, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => {}
                },
                '"' => {
                    end = j + k;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push(Label::new(label, value));
        j = end + 1;
        // Skip the separating comma.
        i = if bytes.get(j) == Some(&b',') { j + 1 } else { j };
    }
    if let Some((n, v)) = extra {
        out.push(Label::new(n, v));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn float_series(name: &str, key: &str, extra: Option<(&str, &str)>, value: f64, t: i64) -> TimeSeries {
    TimeSeries {
        labels: labels(name, key, extra),
        samples: vec![Sample { value, timestamp: t }],
        ..Default::default()
    }
}

/// The classic buckets of a histogram in ascending order, as `(le, cumulative count)`;
/// NaN and repeated bounds are skipped (the first occurrence keeps its count) and `+Inf`
/// is left to the caller.
fn cumulative_buckets(h: &Hist) -> Vec<(f64, u64)> {
    let bounds = &h.layout.bounds;
    let mut order: Vec<usize> = (0..bounds.len()).filter(|&i| !bounds[i].is_nan()).collect();
    order.sort_by(|&a, &b| bounds[a].total_cmp(&bounds[b]).then(a.cmp(&b)));
    order.dedup_by(|later, kept| bounds[*later] == bounds[*kept]);
    let mut cum = 0u64;
    let mut out = Vec::with_capacity(order.len());
    for i in order {
        cum = cum.wrapping_add(h.counts.get(i).copied().unwrap_or(0));
        if bounds[i] != f64::INFINITY {
            out.push((bounds[i], cum));
        }
    }
    out
}

fn histogram_series(name: &str, key: &str, h: &Hist, t: i64, out: &mut Vec<TimeSeries>) {
    let bucket = format!("{name}_bucket");
    for (le, count) in cumulative_buckets(h) {
        let le = burnwatch_gofmt::format_f(le);
        out.push(float_series(&bucket, key, Some(("le", &le)), count as f64, t));
    }
    out.push(float_series(
        &bucket,
        key,
        Some(("le", "+Inf")),
        h.count as f64,
        t,
    ));
    out.push(float_series(&format!("{name}_sum"), key, None, h.sum, t));
    out.push(float_series(
        &format!("{name}_count"),
        key,
        None,
        h.count as f64,
        t,
    ));
}

/// Writes a series' current value; false if it cannot be expressed (an exponential
/// histogram with a scale below -4).
fn write_series(name: &str, key: &str, kind: Kind, s: &Series, t: i64, out: &mut Vec<TimeSeries>) -> bool {
    let _ = kind;
    match &s.value {
        Value::Number(n, _) => out.push(float_series(name, key, None, n.as_f64(), t)),
        Value::Histogram(h) => histogram_series(name, key, h, t, out),
        Value::Exponential(e, _) => match native_histogram(e, t) {
            Some(h) => out.push(TimeSeries {
                labels: labels(name, key, None),
                histograms: vec![h],
                ..Default::default()
            }),
            None => {
                tracing::warn!(metric = %name, scale = e.scale, "Exponential histogram point dropped: native histograms need a scale of -4 or more.");
                return false;
            }
        },
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            for (q, v) in quantiles {
                let q = burnwatch_gofmt::format_f(*q);
                out.push(float_series(name, key, Some(("quantile", &q)), *v, t));
            }
            out.push(float_series(&format!("{name}_sum"), key, None, *sum, t));
            out.push(float_series(
                &format!("{name}_count"),
                key,
                None,
                *count as f64,
                t,
            ));
        }
    }
    true
}

/// Staleness markers for every series a store series was sent as.
fn stale_series(name: &str, key: &str, _f: &Family, s: &Series, t: i64, out: &mut Vec<TimeSeries>) {
    match &s.value {
        Value::Number(..) => out.push(float_series(name, key, None, STALE_NAN, t)),
        Value::Histogram(h) => {
            let bucket = format!("{name}_bucket");
            for (le, _) in cumulative_buckets(h) {
                let le = burnwatch_gofmt::format_f(le);
                out.push(float_series(&bucket, key, Some(("le", &le)), STALE_NAN, t));
            }
            out.push(float_series(&bucket, key, Some(("le", "+Inf")), STALE_NAN, t));
            out.push(float_series(&format!("{name}_sum"), key, None, STALE_NAN, t));
            out.push(float_series(&format!("{name}_count"), key, None, STALE_NAN, t));
        }
        Value::Exponential(e, _) => {
            if let Some(mut h) = native_histogram(e, t) {
                // Prometheus marks a native histogram stale by a StaleNaN sum.
                h.sum = STALE_NAN;
                out.push(TimeSeries {
                    labels: labels(name, key, None),
                    histograms: vec![h],
                    ..Default::default()
                });
            }
        }
        Value::Summary { quantiles, .. } => {
            for (q, _) in quantiles {
                let q = burnwatch_gofmt::format_f(*q);
                out.push(float_series(name, key, Some(("quantile", &q)), STALE_NAN, t));
            }
            out.push(float_series(&format!("{name}_sum"), key, None, STALE_NAN, t));
            out.push(float_series(&format!("{name}_count"), key, None, STALE_NAN, t));
        }
    }
}

/// An exponential histogram as a native histogram with integer counts; `None` when the
/// scale is below Prometheus's smallest schema.
pub(crate) fn native_histogram(e: &ExpPoint, t: i64) -> Option<Histogram> {
    if e.scale < MIN_SCHEMA {
        return None;
    }
    let shift = (e.scale - MAX_SCHEMA).max(0);
    let (positive_spans, positive_deltas) = spans_and_deltas(&e.positive, shift);
    let (negative_spans, negative_deltas) = spans_and_deltas(&e.negative, shift);
    Some(Histogram {
        count: Some(histogram::Count::CountInt(e.count)),
        sum: e.sum.unwrap_or(0.0),
        schema: e.scale.min(MAX_SCHEMA),
        zero_threshold: if e.zero_threshold > 0.0 {
            e.zero_threshold
        } else {
            DEFAULT_ZERO_THRESHOLD
        },
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(e.zero_count)),
        negative_spans,
        negative_deltas,
        negative_counts: Vec::new(),
        positive_spans,
        positive_deltas,
        positive_counts: Vec::new(),
        reset_hint: ResetHint::Unknown as i32,
        timestamp: t,
        custom_values: Vec::new(),
    })
}

/// Prometheus spans and delta-encoded counts for one side of an exponential histogram,
/// after merging `2^shift` buckets into one. Runs of up to two empty buckets stay inside a
/// span (as zero counts); longer ones start a new span, as the contrib exporter lays them
/// out.
fn spans_and_deltas(b: &ExpBuckets, shift: i32) -> (Vec<BucketSpan>, Vec<i64>) {
    // (Prometheus index, count) of the non-empty buckets, ascending.
    let mut merged: Vec<(i64, u64)> = Vec::new();
    for (j, c) in b.counts.iter().enumerate() {
        if *c == 0 {
            continue;
        }
        let otel = i64::from(b.offset) + j as i64;
        let idx = (otel >> shift) + 1;
        match merged.last_mut() {
            Some((last, count)) if *last == idx => *count = count.wrapping_add(*c),
            _ => merged.push((idx, *c)),
        }
    }
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::with_capacity(merged.len());
    let mut prev_count: i64 = 0;
    let mut next_idx: i64 = 0;
    for (idx, count) in merged {
        let gap = idx - next_idx;
        if spans.is_empty() || gap > 2 {
            let offset = if spans.is_empty() { idx } else { gap };
            spans.push(BucketSpan {
                offset: offset as i32,
                length: 0,
            });
        } else {
            for _ in 0..gap {
                deltas.push(-prev_count);
                prev_count = 0;
                if let Some(s) = spans.last_mut() {
                    s.length += 1;
                }
            }
        }
        let count = count as i64;
        deltas.push(count - prev_count);
        prev_count = count;
        if let Some(s) = spans.last_mut() {
            s.length += 1;
        }
        next_idx = idx + 1;
    }
    (spans, deltas)
}

#[cfg(test)]
mod tests;

//! The Prometheus remote-write 1.0 receiver: a snappy (block format) compressed protobuf
//! `prometheus.WriteRequest`.
//!
//! Semantics follow Prometheus's `storage/remote/write_handler.go` for 1.0 messages:
//! - a series without `__name__`, with an invalid label name, or with a label name twice is
//!   skipped and counted ([`WriteStats::invalid_series`]); the rest of the request is stored;
//! - an out-of-order or duplicate sample fails the whole request: Prometheus appends inside one
//!   transaction and rolls it back, answering 400 so the sender does not retry. This store has no
//!   rollback, so every sample is checked against the store before anything is appended, and
//!   [`IngestError::OutOfOrder`] reports the count and the first offender;
//! - native histograms (`TimeSeries.histograms`, integer or float counts, exponential or custom
//!   buckets) are stored with [`Storage::append_histogram`]; a histogram whose spans do not match
//!   its bucket counts fails the request, as its `ToIntHistogram`/`Validate` does;
//! - a sample stamped more than 10 minutes after the server's clock
//!   ([`MAX_AHEAD_MS`](crate::tsdb::MAX_AHEAD_MS)) fails the whole request with
//!   [`IngestError::OutOfBounds`] (400 naming the series and timestamp), as Prometheus's does;
//! - a series over the [`LabelLimits`] fails the whole request ([`IngestError::LabelLimit`],
//!   400 naming the limit); Prometheus's receiver has no such limits;
//! - exemplars are stored in the store's exemplar ring (see [`crate::tsdb::exemplars`]); as in
//!   Prometheus, a refused exemplar (out of order, labels too long) is logged and skipped, never
//!   failing the request; exemplars of a series Prometheus would skip are skipped with it;
//! - the `metadata` field is kept per family name for `/api/v1/metadata` (see
//!   [`crate::tsdb::metadata`]; Prometheus drops it in 1.0 requests, Mimir keeps it).
//!
//! The work is split so the receiver holds the store's write lock only to append:
//! [`check_headers`] (415 for anything but 1.0), [`prepare_remote_write`] (decode and validate,
//! no store), [`commit_remote_write`] (the order check and the appends, under the lock, and a
//! 500 via [`IngestError::Unavailable`] when the write-ahead log cannot hold the request).

use std::collections::HashMap;

use prost::Message;

use super::IngestError;
use crate::tsdb::histogram::CUSTOM_BUCKETS_SCHEMA;
use crate::tsdb::{AppendError, CounterResetHint, FloatHistogram, Labels, Matcher, Queryable, Storage};

/// The largest decompressed body accepted, so a tiny body claiming a huge length cannot make
/// the receiver allocate it.
pub const MAX_DECOMPRESSED_BYTES: usize = 512 << 20;

// The messages are burnwatch-remote's, shared with the sender (`slo::forward` and the
// collector's exporter). A malformed exemplar or metadata entry fails the request with a protobuf
// error, as it does in Prometheus, whose handler unmarshals the whole `WriteRequest`.
pub use burnwatch_remote::proto::{
    BucketSpan, Histogram, Label, Sample, TimeSeries, WriteRequest, histogram,
};

/// Expands spans and per-bucket counts into `(index, count)` pairs. Integer histograms give
/// deltas (each bucket's count minus the previous bucket's), float histograms absolute counts.
fn expand_buckets(spans: &[BucketSpan], counts: &[f64], side: &str) -> Result<Vec<(i32, f64)>, String> {
    let covered: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if covered != counts.len() as u64 {
        return Err(format!(
            "{side} spans cover {covered} buckets but {} counts are given",
            counts.len()
        ));
    }
    let mut out = Vec::with_capacity(counts.len());
    let mut idx: i32 = 0;
    let mut counts = counts.iter();
    for (i, span) in spans.iter().enumerate() {
        idx = if i == 0 {
            span.offset
        } else {
            idx.checked_add(span.offset).ok_or("bucket index overflow")?
        };
        for _ in 0..span.length {
            let c = counts.next().copied().unwrap_or(0.0);
            out.push((idx, c));
            idx = idx.checked_add(1).ok_or("bucket index overflow")?;
        }
    }
    Ok(out)
}

/// Largest count sent as an integer: every whole `f64` up to 2^53 is exact.
const MAX_EXACT_COUNT: f64 = 9_007_199_254_740_992.0;

/// Spans over `(index, count)` pairs sorted by index: consecutive indices share a span, a gap
/// starts a new one whose offset is the gap (the first span's offset is its first index).
fn spans_of(buckets: &[(i32, f64)]) -> Vec<BucketSpan> {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut next: Option<i32> = None;
    for &(i, _) in buckets {
        match (next, spans.last_mut()) {
            (Some(n), Some(span)) if n == i => span.length += 1,
            _ => spans.push(BucketSpan {
                // The gap after the previous span's end; an out-of-order index (the store keeps
                // them sorted) would give a negative offset, which receivers refuse.
                offset: next.map_or(i, |n| i.wrapping_sub(n)),
                length: 1,
            }),
        }
        next = i.checked_add(1);
    }
    spans
}

/// A stored histogram as a remote-write [`Histogram`] stamped `t`, as Prometheus's sender
/// writes it: integer counts (deltas between buckets) when every count is a whole number, as
/// ingested integer histograms and OTLP exponential histograms are, otherwise float counts.
/// Integer form matters beyond fidelity: receivers before Prometheus 2.44 read only the
/// integer fields. The inverse of [`to_float_histogram`].
pub fn from_float_histogram(h: &FloatHistogram, t: i64) -> Histogram {
    let whole = |c: f64| c.is_finite() && c >= 0.0 && c.fract() == 0.0 && c <= MAX_EXACT_COUNT;
    let integer =
        whole(h.count) && whole(h.zero_count) && h.positive.iter().chain(&h.negative).all(|&(_, c)| whole(c));
    let deltas = |buckets: &[(i32, f64)]| {
        let mut prev = 0i64;
        buckets
            .iter()
            .map(|&(_, c)| {
                let c = c as i64;
                let d = c - prev;
                prev = c;
                d
            })
            .collect::<Vec<i64>>()
    };
    let counts = |buckets: &[(i32, f64)]| buckets.iter().map(|&(_, c)| c).collect::<Vec<f64>>();
    let mut out = Histogram {
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        negative_spans: spans_of(&h.negative),
        positive_spans: spans_of(&h.positive),
        reset_hint: match h.counter_reset_hint {
            CounterResetHint::Unknown => 0,
            CounterResetHint::CounterReset => 1,
            CounterResetHint::NotCounterReset => 2,
            CounterResetHint::Gauge => 3,
        },
        timestamp: t,
        custom_values: h.custom_values.clone(),
        ..Histogram::default()
    };
    if integer {
        out.count = Some(histogram::Count::CountInt(h.count as u64));
        out.zero_count = Some(histogram::ZeroCount::ZeroCountInt(h.zero_count as u64));
        out.negative_deltas = deltas(&h.negative);
        out.positive_deltas = deltas(&h.positive);
    } else {
        out.count = Some(histogram::Count::CountFloat(h.count));
        out.zero_count = Some(histogram::ZeroCount::ZeroCountFloat(h.zero_count));
        out.negative_counts = counts(&h.negative);
        out.positive_counts = counts(&h.positive);
    }
    out
}

/// Converts a wire histogram to the store's [`FloatHistogram`].
pub fn to_float_histogram(h: &Histogram) -> Result<FloatHistogram, String> {
    let integer = !matches!(h.count, Some(histogram::Count::CountFloat(_)));
    let absolute = |deltas: &[i64]| {
        let mut acc: i64 = 0;
        deltas
            .iter()
            .map(|d| {
                acc = acc.wrapping_add(*d);
                acc as f64
            })
            .collect::<Vec<f64>>()
    };
    let (pos, neg) = if integer {
        (absolute(&h.positive_deltas), absolute(&h.negative_deltas))
    } else {
        (h.positive_counts.clone(), h.negative_counts.clone())
    };
    if !(-4..=8).contains(&h.schema) && h.schema != CUSTOM_BUCKETS_SCHEMA {
        return Err(format!("unsupported schema {}", h.schema));
    }
    Ok(FloatHistogram {
        counter_reset_hint: match h.reset_hint {
            1 => CounterResetHint::CounterReset,
            2 => CounterResetHint::NotCounterReset,
            3 => CounterResetHint::Gauge,
            _ => CounterResetHint::Unknown,
        },
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: match h.zero_count {
            Some(histogram::ZeroCount::ZeroCountInt(c)) => c as f64,
            Some(histogram::ZeroCount::ZeroCountFloat(c)) => c,
            None => 0.0,
        },
        count: match h.count {
            Some(histogram::Count::CountInt(c)) => c as f64,
            Some(histogram::Count::CountFloat(c)) => c,
            None => 0.0,
        },
        sum: h.sum,
        positive: expand_buckets(&h.positive_spans, &pos, "positive")?,
        negative: expand_buckets(&h.negative_spans, &neg, "negative")?,
        custom_values: h.custom_values.clone(),
    })
}

/// What a remote-write request stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Series in the request that were stored.
    pub series: usize,
    /// Float samples stored.
    pub samples: usize,
    /// Native histogram samples stored.
    pub histograms: usize,
    /// Series skipped for invalid labels (no `__name__`, a bad or repeated label name).
    pub invalid_series: usize,
    /// Samples the store refused after the order check passed; logged, not stored (kept as a
    /// safety net: the check pass refuses the request first).
    pub refused: usize,
    /// Exemplars the exemplar store refused (out of order, labels too long); logged at debug,
    /// the request still succeeds, as in Prometheus.
    pub exemplars_refused: usize,
}

/// The media type of remote-write bodies.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/x-protobuf";

/// The `proto` parameter naming remote-write 1.0's message, the only one this receiver takes.
pub const PROTO_MSG_V1: &str = "prometheus.WriteRequest";

/// The `proto` parameter naming remote-write 2.0's message.
pub const PROTO_MSG_V2: &str = "io.prometheus.write.v2.Request";

/// Checks a remote-write request's headers before its body is read, as Prometheus 3.x's
/// `writeHandler.ServeHTTP` does: the media type must be `application/x-protobuf`, its `proto`
/// parameter (when present) must name the 1.0 message `prometheus.WriteRequest`, and
/// `Content-Encoding` (when present) must be `snappy`. Every refusal is
/// [`IngestError::UnsupportedMediaType`] (415), so a remote-write 2.0 sender learns at once
/// that this receiver does not take 2.0 instead of having its data acknowledged and dropped.
///
/// Divergences from Prometheus, both so that nothing is acknowledged that was not stored and so
/// that a browser cannot post cross-site: a missing `Content-Type` is refused (Prometheus
/// assumes 1.0; every remote-write sender sets it, and a cross-site `fetch` of a binary body
/// sends none), and an `X-Prometheus-Remote-Write-Version` of 2 or more is refused even when
/// the media type has no `proto` parameter (a 2.0 body read as 1.0 decodes to nothing).
pub fn check_headers(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    version: Option<&str>,
) -> Result<(), IngestError> {
    let refuse = |msg: String| Err(IngestError::UnsupportedMediaType(msg));
    let Some(content_type) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        return refuse(format!(
            "remote write needs Content-Type: {PROTOBUF_MEDIA_TYPE} (a snappy-compressed {PROTO_MSG_V1} \
             protobuf); the request has none"
        ));
    };
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case(PROTOBUF_MEDIA_TYPE) {
        return refuse(format!(
            "expected {PROTOBUF_MEDIA_TYPE} as the first (media) part, got {content_type} content-type"
        ));
    }
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            return refuse(format!(
                "expected parameters to be key=value as per RFC 9110, got {param:?} in {content_type} \
                 content-type"
            ));
        };
        if key.trim().eq_ignore_ascii_case("proto") {
            let msg = value.trim().trim_matches('"');
            if msg != PROTO_MSG_V1 {
                let what = if msg == PROTO_MSG_V2 {
                    "remote-write 2.0 is not supported by this server"
                } else {
                    "unknown protobuf message"
                };
                return refuse(format!(
                    "{msg} protobuf message is not accepted by this server ({what}); accepted [{PROTO_MSG_V1}]"
                ));
            }
        }
    }
    if let Some(enc) = content_encoding.map(str::trim).filter(|e| !e.is_empty())
        && !enc.eq_ignore_ascii_case("snappy")
    {
        return refuse(format!(
            "{enc} encoding (compression) is not accepted by this server; only snappy is acceptable"
        ));
    }
    if let Some(v) = version.map(str::trim).filter(|v| !v.is_empty()) {
        let major = v.split('.').next().and_then(|m| m.parse::<u32>().ok());
        if major.is_none_or(|m| m >= 2) {
            return refuse(format!(
                "X-Prometheus-Remote-Write-Version {v} is not accepted by this server; it takes remote-write \
                 0.1.0 ({PROTO_MSG_V1}) only"
            ));
        }
    }
    Ok(())
}

/// Encodes `req` as a remote-write body (protobuf, then snappy block compression): what a
/// Prometheus sender puts on the wire. For tests, benchmarks and load generators.
pub fn encode_write_request(req: &WriteRequest) -> Vec<u8> {
    burnwatch_remote::encode::encode(req).body.to_vec()
}

/// Decodes a remote-write body into its request, with errors naming the layer that failed.
pub fn decode_write_request(body: &[u8]) -> Result<WriteRequest, IngestError> {
    let len = snap::raw::decompress_len(body).map_err(|e| IngestError::Snappy(e.to_string()))?;
    if len > MAX_DECOMPRESSED_BYTES {
        return Err(IngestError::Snappy(format!(
            "the body claims {len} decompressed bytes, more than the {MAX_DECOMPRESSED_BYTES} accepted"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| IngestError::Snappy(e.to_string()))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| IngestError::Protobuf(e.to_string()))
}

/// Limits on the labels of one remote-written series, named after Prometheus's scrape options
/// `label_limit`, `label_name_length_limit` and `label_value_length_limit` (0 turns one off).
/// Prometheus's receiver has none; here one request with a 100 000-label series would otherwise
/// cost every later query its memory and time, so the defaults are generous but finite. A
/// series over a limit fails the whole request with [`IngestError::LabelLimit`] (400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelLimits {
    /// Most labels per series, `__name__` included.
    pub label_limit: usize,
    /// Longest label name, in bytes.
    pub label_name_length_limit: usize,
    /// Longest label value, in bytes.
    pub label_value_length_limit: usize,
}

/// Default [`LabelLimits::label_limit`].
pub const DEFAULT_LABEL_LIMIT: usize = 512;
/// Default [`LabelLimits::label_name_length_limit`].
pub const DEFAULT_LABEL_NAME_LENGTH_LIMIT: usize = 1024;
/// Default [`LabelLimits::label_value_length_limit`].
pub const DEFAULT_LABEL_VALUE_LENGTH_LIMIT: usize = 16 * 1024;

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            label_limit: DEFAULT_LABEL_LIMIT,
            label_name_length_limit: DEFAULT_LABEL_NAME_LENGTH_LIMIT,
            label_value_length_limit: DEFAULT_LABEL_VALUE_LENGTH_LIMIT,
        }
    }
}

/// How a refused series is named in errors: its metric name, without the other labels (which
/// may be what is too large).
fn series_name_of(ts: &TimeSeries) -> String {
    match ts.labels.iter().find(|l| l.name == crate::tsdb::METRIC_NAME) {
        Some(l) if l.value.len() <= 200 => format!("{:?}", l.value),
        Some(l) => format!("{:?}... ({} bytes)", truncate_chars(&l.value, 64), l.value.len()),
        None => "without __name__".to_string(),
    }
}

fn truncate_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// Checks `ts` against `limits`: one pass over its labels, the count first.
fn check_limits(ts: &TimeSeries, limits: &LabelLimits) -> Result<(), IngestError> {
    let err = |limit: &'static str, reason: String| IngestError::LabelLimit {
        series: series_name_of(ts),
        limit,
        reason,
    };
    let n = ts.labels.len();
    if limits.label_limit > 0 && n > limits.label_limit {
        return Err(err(
            "label_limit",
            format!("it has {n} labels, more than the {} allowed", limits.label_limit),
        ));
    }
    for l in &ts.labels {
        if limits.label_name_length_limit > 0 && l.name.len() > limits.label_name_length_limit {
            return Err(err(
                "label_name_length_limit",
                format!(
                    "label name {:?}... is {} bytes long, more than the {} allowed",
                    truncate_chars(&l.name, 64),
                    l.name.len(),
                    limits.label_name_length_limit
                ),
            ));
        }
        if limits.label_value_length_limit > 0 && l.value.len() > limits.label_value_length_limit {
            return Err(err(
                "label_value_length_limit",
                format!(
                    "the value of label {:?} is {} bytes long, more than the {} allowed",
                    truncate_chars(&l.name, 64),
                    l.value.len(),
                    limits.label_value_length_limit
                ),
            ));
        }
    }
    Ok(())
}

/// Validated labels of a series, or `None` when Prometheus would skip it (an empty label
/// name, a name twice, no `__name__`). Linear apart from one sort: the duplicate check compares
/// neighbours after sorting.
fn series_labels(ts: &TimeSeries) -> Option<Labels> {
    // Prometheus 3.x accepts any UTF-8 name; the empty name is the one it refuses.
    if ts.labels.iter().any(|l| l.name.is_empty()) {
        return None;
    }
    let labels =
        Labels::from_unique_pairs(ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))).ok()?;
    labels.metric_name()?;
    Some(labels)
}

/// One series of a [`PreparedWrite`]: validated labels and its samples.
#[derive(Debug)]
struct PreparedSeries {
    labels: Labels,
    samples: Vec<Sample>,
    /// Timestamp and converted histogram, in request order.
    histograms: Vec<(i64, FloatHistogram)>,
    exemplars: Vec<crate::tsdb::exemplars::Exemplar>,
}

/// A remote-write request decoded and validated, ready for [`commit_remote_write`]. Building
/// it ([`prepare_remote_write`]) needs no store, so the receiver does it before taking the
/// store's write lock: a large or hostile body costs its own request time, not every query's.
#[derive(Debug)]
pub struct PreparedWrite {
    series: Vec<PreparedSeries>,
    invalid_series: usize,
    metadata: Vec<(String, crate::tsdb::metadata::Metadata)>,
}

/// Decodes and validates a remote-write 1.0 body without touching a store: snappy and
/// protobuf, the label limits, label validity, histogram shapes, and timestamps no later than
/// `max_t` (from [`crate::tsdb::max_valid_time`]). Any failure fails the whole request; series
/// Prometheus would skip are counted in [`WriteStats::invalid_series`] later.
pub fn prepare_remote_write(
    body: &[u8],
    limits: &LabelLimits,
    max_t: i64,
) -> Result<PreparedWrite, IngestError> {
    let req = decode_write_request(body)?;
    let mut out = PreparedWrite {
        series: Vec::with_capacity(req.timeseries.len()),
        invalid_series: 0,
        metadata: req
            .metadata
            .iter()
            .filter(|m| !m.metric_family_name.is_empty())
            .map(|m| {
                let mtype = crate::tsdb::metadata::MetricType::from_remote(m.r#type);
                (
                    m.metric_family_name.clone(),
                    crate::tsdb::metadata::Metadata::new(mtype, &m.help, &m.unit),
                )
            })
            .collect(),
    };
    for ts in &req.timeseries {
        check_limits(ts, limits)?;
    }
    // Bounds: a sample too far ahead of the clock fails the request, as in Prometheus (since
    // 2.54 its receiver applies the scrape loop's 10-minute limit). Retention counts back from
    // the newest sample, so one such sample would make good data look old.
    let mut ahead = 0usize;
    let mut first_ahead: Option<AppendError> = None;
    for ts in req.timeseries {
        let Some(labels) = series_labels(&ts) else {
            out.invalid_series += 1;
            continue;
        };
        let times = ts.samples.iter().map(|s| s.timestamp);
        for t in times.chain(ts.histograms.iter().map(|h| h.timestamp)) {
            if let Err(e) = crate::tsdb::check_not_ahead(&labels, t, max_t) {
                ahead += 1;
                first_ahead.get_or_insert(e);
            }
        }
        let mut histograms = Vec::with_capacity(ts.histograms.len());
        for (j, h) in ts.histograms.iter().enumerate() {
            let fh = to_float_histogram(h).map_err(|reason| IngestError::InvalidHistogram {
                series: labels.to_string(),
                index: j,
                reason,
            })?;
            histograms.push((h.timestamp, fh));
        }
        let exemplars = ts
            .exemplars
            .iter()
            .map(|e| crate::tsdb::exemplars::Exemplar {
                labels: Labels::from_pairs(
                    e.labels
                        .iter()
                        .filter(|l| !l.value.is_empty())
                        .map(|l| (l.name.as_str(), l.value.as_str())),
                ),
                value: e.value,
                t: e.timestamp,
                has_ts: true,
            })
            .collect();
        out.series.push(PreparedSeries {
            labels,
            samples: ts.samples,
            histograms,
            exemplars,
        });
    }
    if let Some(first) = first_ahead {
        return Err(IngestError::OutOfBounds { count: ahead, first });
    }
    Ok(out)
}

/// The newest stored sample of exactly `labels` at or after `from`: its timestamp and, for a
/// float sample, its value (`None` for a histogram).
fn newest_stored(store: &Storage, labels: &Labels, from: i64) -> Option<(i64, Option<f64>)> {
    let matchers: Vec<Matcher> = labels.iter().map(|l| Matcher::equal(&l.name, &l.value)).collect();
    let s = store
        .select_all(&matchers, from, i64::MAX)
        .into_iter()
        .find(|s| &s.labels == labels)?;
    let float = s.floats.last().map(|x| (x.t, Some(x.v)));
    let hist = s.histograms.last().map(|x| (x.t, None));
    match (float, hist) {
        (Some(f), Some(h)) => Some(if h.0 >= f.0 { h } else { f }),
        (f, h) => f.or(h),
    }
}

/// Decodes a remote-write 1.0 body and appends its samples to `store` with the default
/// [`LabelLimits`] and the wall clock's bound; see the module docs. The receiver splits this
/// into [`prepare_remote_write`] (outside the store's lock) and [`commit_remote_write`].
pub fn append_remote_write(store: &mut Storage, body: &[u8]) -> Result<WriteStats, IngestError> {
    let max_t = crate::tsdb::max_valid_time(crate::tsdb::wall_clock_ms());
    let prepared = prepare_remote_write(body, &LabelLimits::default(), max_t)?;
    commit_remote_write(store, prepared)
}

/// Appends a [`prepare_remote_write`]d request to `store`: every sample is checked against the
/// store first (out-of-order or conflicting samples fail the whole request, nothing stored),
/// then appended, and the request ends one batch of a durable store's write-ahead log.
pub fn commit_remote_write(store: &mut Storage, prepared: PreparedWrite) -> Result<WriteStats, IngestError> {
    // On a full disk nothing is appended: what the WAL cannot hold is not acknowledged.
    store.writable()?;
    let mut stats = WriteStats {
        invalid_series: prepared.invalid_series,
        ..WriteStats::default()
    };
    let valid = prepared.series;

    // Check pass: the newest sample per series, from the store or earlier in this request.
    // Prometheus appends a series' float samples, then its histograms.
    let mut last: HashMap<&Labels, Option<(i64, Option<f64>)>> = HashMap::new();
    let mut bad = 0usize;
    let mut first: Option<AppendError> = None;
    for ps in &valid {
        let labels = &ps.labels;
        let points = ps
            .samples
            .iter()
            .map(|s| (s.timestamp, Some(s.value)))
            .chain(ps.histograms.iter().map(|h| (h.0, None)));
        let Some(from) = points.clone().map(|p| p.0).min() else {
            continue;
        };
        let newest = last
            .entry(labels)
            .or_insert_with(|| newest_stored(store, labels, from));
        for (t, v) in points {
            let refusal = match (*newest, v) {
                (Some((last_t, _)), _) if t < last_t => Some(AppendError::OutOfOrder {
                    series: labels.to_string(),
                    t,
                    last: last_t,
                }),
                // A float equal to the newest float is a harmless duplicate; any other point at
                // the newest timestamp conflicts with it.
                (Some((last_t, Some(old))), Some(new)) if t == last_t && old.to_bits() != new.to_bits() => {
                    Some(AppendError::Duplicate {
                        series: labels.to_string(),
                        t,
                        stored: old,
                        refused: new,
                    })
                }
                (Some((last_t, old)), new) if t == last_t && (old.is_none() || new.is_none()) => {
                    Some(AppendError::OutOfOrder {
                        series: labels.to_string(),
                        t,
                        last: last_t,
                    })
                }
                _ => None,
            };
            match refusal {
                Some(e) => {
                    bad += 1;
                    first.get_or_insert(e);
                }
                None => *newest = Some((t, v)),
            }
        }
    }
    if let Some(first) = first {
        return Err(IngestError::OutOfOrder { count: bad, first });
    }

    for (family, meta) in prepared.metadata {
        store.metadata_mut().remote_write(&family, meta);
    }
    for ps in valid {
        let PreparedSeries {
            labels,
            samples,
            histograms,
            exemplars,
        } = ps;
        for e in exemplars {
            match store.exemplars_mut().add(&labels, e) {
                Ok(_) => {}
                Err(error) => {
                    stats.exemplars_refused += 1;
                    tracing::debug!(series = %labels, error = %error, "Error while adding a remote-write exemplar.");
                }
            }
        }
        if samples.is_empty() && histograms.is_empty() {
            continue;
        }
        stats.series += 1;
        // The check pass makes these appends succeed (an exact duplicate of the newest float is
        // accepted without a second copy); a refusal here is logged and counted.
        for s in &samples {
            match store.append(&labels, s.timestamp, s.value) {
                Ok(_) => stats.samples += 1,
                Err(error) => {
                    stats.refused += 1;
                    tracing::warn!(error = %error, "The store refused a remote-write sample.");
                }
            }
        }
        for (t, fh) in histograms {
            match store.append_histogram(&labels, t, fh) {
                Ok(_) => stats.histograms += 1,
                Err(error) => {
                    stats.refused += 1;
                    tracing::warn!(error = %error, "The store refused a remote-write histogram.");
                }
            }
        }
    }
    // One request is one batch for a durable store's write-ahead log; a request whose records
    // did not reach it is not acknowledged (the sender retries; the samples already in memory
    // make the retry an exact duplicate, which the store takes without a second copy).
    store.end_batch()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(positive: Vec<(i32, f64)>, zero: f64, count: f64) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: CounterResetHint::NotCounterReset,
            schema: 1,
            zero_threshold: 0.001,
            zero_count: zero,
            count,
            sum: 12.5,
            positive,
            negative: vec![(-2, 1.0)],
            custom_values: Vec::new(),
        }
    }

    #[test]
    fn whole_counts_go_out_as_an_integer_histogram_with_deltas_and_spans() {
        // Buckets 0, 1, then a gap of two, then 4: spans (0, 2) and (2, 1).
        let h = stored(vec![(0, 2.0), (1, 3.0), (4, 1.0)], 1.0, 8.0);
        let wire = from_float_histogram(&h, 5_000);
        assert_eq!(wire.count, Some(histogram::Count::CountInt(8)));
        assert_eq!(wire.zero_count, Some(histogram::ZeroCount::ZeroCountInt(1)));
        assert_eq!(
            wire.positive_spans,
            vec![
                BucketSpan { offset: 0, length: 2 },
                BucketSpan { offset: 2, length: 1 }
            ]
        );
        assert_eq!(wire.positive_deltas, vec![2, 1, -2]);
        assert!(wire.positive_counts.is_empty());
        assert_eq!(
            wire.negative_spans,
            vec![BucketSpan {
                offset: -2,
                length: 1
            }]
        );
        assert_eq!((wire.timestamp, wire.reset_hint, wire.schema), (5_000, 2, 1));
        assert_eq!(to_float_histogram(&wire).unwrap(), h);
    }

    #[test]
    fn fractional_counts_go_out_as_a_float_histogram() {
        let h = stored(vec![(3, 0.5), (4, 2.0)], 0.25, 3.75);
        let wire = from_float_histogram(&h, 1);
        assert_eq!(wire.count, Some(histogram::Count::CountFloat(3.75)));
        assert_eq!(wire.positive_counts, vec![0.5, 2.0]);
        assert!(wire.positive_deltas.is_empty());
        assert_eq!(to_float_histogram(&wire).unwrap(), h);
    }

    #[test]
    fn custom_bucket_bounds_and_the_stale_marker_survive_the_round_trip() {
        let mut h = stored(vec![(0, 1.0), (1, 1.0)], 0.0, 2.0);
        h.schema = CUSTOM_BUCKETS_SCHEMA;
        h.zero_threshold = 0.0;
        h.negative.clear();
        h.custom_values = vec![0.1, 1.0];
        h.counter_reset_hint = CounterResetHint::Unknown;
        h.sum = burnwatch_remote::proto::STALE_NAN;
        let back = to_float_histogram(&from_float_histogram(&h, 7)).unwrap();
        assert_eq!(back.custom_values, h.custom_values);
        assert!(burnwatch_remote::proto::is_stale_nan(back.sum));
    }
}

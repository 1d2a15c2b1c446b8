//! The series spanmetrics keeps between flushes, and the metrics it builds from them.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;

use hdrhistogram::Histogram as Hdr;
use lru::LruCache;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, exponential_histogram_data_point, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::config::{DEFAULT_DIMENSIONS, SpanMetricsConfig, Unit};
use super::decode::{Request, Span, span_kind_str, status_code_str};

/// The quantiles exported in `{namespace}.duration.quantiles`.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// HdrHistogram's precision: 3 significant decimal digits (relative error ≤ 0.1%).
const SIGNIFICANT_DIGITS: u8 = 3;

/// otelcol's exponential histogram defaults (go-expohisto's `DefaultMaxSize` and
/// `MaximumScale`), and the smallest scale OTLP allows.
const DEFAULT_EXPONENTIAL_MAX_SIZE: usize = 160;
const MAX_SCALE: i32 = 20;
const MIN_SCALE: i32 = -10;

/// How durations are bucketed.
#[derive(Debug, Clone)]
enum Buckets {
    /// No duration metrics.
    Disabled,
    /// Explicit upper bounds, in the unit.
    Explicit(Vec<f64>),
    /// An exponential histogram of at most this many buckets.
    Exponential(usize),
}

/// The configuration, resolved for the hot path.
#[derive(Debug, Clone)]
struct Settings {
    include: [bool; 4],
    dimensions: Vec<(Vec<u8>, Option<AnyValue>)>,
    key_attributes: Vec<String>,
    unit: Unit,
    buckets: Buckets,
    delta: bool,
    expiration_nanos: u64,
    exemplars: usize,
    calls_name: String,
    duration_name: String,
    quantiles_name: String,
}

/// One series: a resource and one set of dimension values.
struct Series {
    resource: u64,
    attributes: Vec<KeyValue>,
    start: u64,
    last_seen: u64,
    calls: u64,
    /// Sum of durations, in the unit.
    sum: f64,
    explicit: Vec<u64>,
    exponential: Option<Expo>,
    /// Durations in microseconds.
    hdr: Option<Hdr<u64>>,
    exemplars: Vec<Exemplar>,
}

struct ResourceEntry {
    id: u64,
    attributes: Vec<KeyValue>,
}

/// The aggregation state: bounded by `dimensions_cache_size` series and
/// `resource_metrics_cache_size` resources, least recently updated evicted first.
pub(crate) struct Aggregator {
    settings: Settings,
    resources: LruCache<Vec<u8>, ResourceEntry>,
    series: LruCache<Box<[u8]>, Series>,
    next_resource_id: u64,
    /// Delta only: when each series last flushed, its next data point's start time.
    last_delta: HashMap<Box<[u8]>, u64>,
    key: Vec<u8>,
}

impl Aggregator {
    /// A fresh state for a validated configuration.
    pub(crate) fn new(config: &SpanMetricsConfig) -> Aggregator {
        let include = DEFAULT_DIMENSIONS.map(|d| !config.exclude_dimensions.iter().any(|e| e == d));
        let buckets = if config.histogram.disable {
            Buckets::Disabled
        } else if let Some(e) = &config.histogram.exponential {
            Buckets::Exponential(if e.max_size > 0 {
                e.max_size as usize
            } else {
                DEFAULT_EXPONENTIAL_MAX_SIZE
            })
        } else {
            Buckets::Explicit(config.bounds())
        };
        let name = |suffix: &str| {
            if config.namespace.is_empty() {
                suffix.to_string()
            } else {
                format!("{}.{suffix}", config.namespace)
            }
        };
        let settings = Settings {
            include,
            dimensions: config
                .dimensions
                .iter()
                .map(|d| {
                    let default = d.default.as_ref().map(|s| AnyValue {
                        value: Some(any_value::Value::StringValue(s.clone())),
                    });
                    (d.name.as_bytes().to_vec(), default)
                })
                .collect(),
            key_attributes: config.resource_metrics_key_attributes.clone(),
            unit: config.histogram.unit,
            buckets,
            delta: config.is_delta(),
            expiration_nanos: u64::try_from(config.metrics_expiration.0.as_nanos()).unwrap_or(u64::MAX),
            exemplars: if config.exemplars.enabled {
                usize::try_from(config.exemplars.max_per_data_point).unwrap_or(0)
            } else {
                0
            },
            calls_name: name("calls"),
            duration_name: name("duration"),
            quantiles_name: name("duration.quantiles"),
        };
        let cap = |n: i64| NonZeroUsize::new(usize::try_from(n).unwrap_or(1).max(1)).expect("at least 1");
        Aggregator {
            settings,
            resources: LruCache::new(cap(config.resource_metrics_cache_size)),
            series: LruCache::new(cap(config.dimensions_cache_size)),
            next_resource_id: 0,
            last_delta: HashMap::new(),
            key: Vec::with_capacity(256),
        }
    }

    /// The number of series held.
    #[cfg(test)]
    pub(crate) fn series_len(&self) -> usize {
        self.series.len()
    }

    /// Counts the spans of `request`, `now` being the wall clock in Unix nanoseconds.
    pub(crate) fn aggregate(&mut self, request: &Request, now: u64) {
        for rs in &request.resource_spans {
            let attributes: &[KeyValue] = rs.resource.as_ref().map_or(&[], |r| &r.attributes);
            // Spans without a service.name are skipped, as otelcol does.
            let Some(service) = attributes.iter().find(|kv| kv.key == "service.name") else {
                continue;
            };
            let service = match service.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            let resource = self.resource_id(attributes);
            for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                self.record(resource, &service, attributes, span, now);
            }
        }
    }

    /// The id of the resource with these attributes, added (and the least recently seen
    /// one evicted with its series) when new.
    fn resource_id(&mut self, attributes: &[KeyValue]) -> u64 {
        let mut pairs: Vec<(&str, Vec<u8>)> = attributes
            .iter()
            .filter(|kv| {
                self.settings.key_attributes.is_empty() || self.settings.key_attributes.contains(&kv.key)
            })
            .map(|kv| {
                (
                    kv.key.as_str(),
                    kv.value.as_ref().map(|v| v.encode_to_vec()).unwrap_or_default(),
                )
            })
            .collect();
        pairs.sort();
        let mut key = Vec::new();
        for (k, v) in pairs {
            push_field(&mut key, k.as_bytes());
            push_field(&mut key, &v);
        }
        if let Some(entry) = self.resources.get(&key) {
            return entry.id;
        }
        let id = self.next_resource_id;
        self.next_resource_id += 1;
        let entry = ResourceEntry {
            id,
            attributes: attributes.to_vec(),
        };
        if let Some((_, evicted)) = self.resources.push(key, entry) {
            self.drop_resource(evicted.id);
        }
        id
    }

    fn drop_resource(&mut self, id: u64) {
        let keys: Vec<Box<[u8]>> = self
            .series
            .iter()
            .filter(|(_, s)| s.resource == id)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.series.pop(&key);
        }
    }

    fn record(&mut self, resource: u64, service: &str, resource_attrs: &[KeyValue], span: &Span, now: u64) {
        let settings = &self.settings;
        let name = std::str::from_utf8(&span.name).unwrap_or_default();
        let kind = span_kind_str(span.kind);
        let status = status_code_str(span.status.as_ref().map_or(0, |s| s.code));
        let defaults = [service, name, kind, status];

        // The key: the resource, then each dimension's value, length-prefixed so that
        // no two value lists share a key; absent dimensions are marked.
        self.key.clear();
        self.key.extend_from_slice(&resource.to_le_bytes());
        for (value, included) in defaults.iter().zip(settings.include) {
            if included {
                push_field(&mut self.key, value.as_bytes());
            }
        }
        let mut found: Vec<Option<DimValue<'_>>> = Vec::with_capacity(settings.dimensions.len());
        for (dim, default) in &settings.dimensions {
            let value = if let Some(kv) = span.attributes.iter().find(|kv| kv.key == dim[..]) {
                Some(DimValue::Encoded(&kv.value))
            } else if let Some(kv) = resource_attrs.iter().find(|kv| kv.key.as_bytes() == &dim[..]) {
                kv.value.as_ref().map(DimValue::Decoded)
            } else {
                default.as_ref().map(DimValue::Decoded)
            };
            match &value {
                Some(v) => {
                    self.key.push(1);
                    push_field(&mut self.key, &v.encoded());
                }
                None => self.key.push(0),
            }
            found.push(value);
        }

        let duration_nanos = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano);
        let duration = duration_nanos as f64 / settings.unit.nanos();

        if self.series.get(&self.key[..]).is_none() {
            let mut attributes = Vec::with_capacity(4 + found.len());
            for ((dim, value), included) in DEFAULT_DIMENSIONS.iter().zip(defaults).zip(settings.include) {
                if included {
                    attributes.push(string_kv(dim, value));
                }
            }
            for ((dim, _), value) in settings.dimensions.iter().zip(&found) {
                if let Some(value) = value {
                    attributes.push(KeyValue {
                        key: String::from_utf8_lossy(dim).into_owned(),
                        value: Some(value.decoded()),
                        ..Default::default()
                    });
                }
            }
            let start = if settings.delta {
                self.last_delta.get(&self.key[..]).copied().unwrap_or(now)
            } else {
                now
            };
            let series = Series {
                resource,
                attributes,
                start,
                last_seen: now,
                calls: 0,
                sum: 0.0,
                explicit: match &settings.buckets {
                    Buckets::Explicit(bounds) => vec![0; bounds.len() + 1],
                    _ => Vec::new(),
                },
                exponential: match settings.buckets {
                    Buckets::Exponential(max_size) => Some(Expo::new(max_size)),
                    _ => None,
                },
                hdr: match settings.buckets {
                    Buckets::Disabled => None,
                    // Auto-resizing: memory grows with the largest duration seen (about
                    // 8 KiB per power of two above 2 ms), not with a configured range.
                    _ => Hdr::new(SIGNIFICANT_DIGITS).ok(),
                },
                exemplars: Vec::new(),
            };
            // Past dimensions_cache_size, the least recently updated series goes.
            self.series.push(self.key.clone().into_boxed_slice(), series);
        }
        let Some(series) = self.series.get_mut(&self.key[..]) else {
            return;
        };
        series.last_seen = now;
        series.calls += 1;
        match &settings.buckets {
            Buckets::Disabled => {}
            Buckets::Explicit(bounds) => {
                // OTLP buckets are upper-inclusive: (bounds[i-1], bounds[i]].
                let i = bounds.partition_point(|b| *b < duration);
                series.explicit[i] += 1;
            }
            Buckets::Exponential(_) => {
                if let Some(e) = &mut series.exponential {
                    e.record(duration);
                }
            }
        }
        if !matches!(settings.buckets, Buckets::Disabled) {
            series.sum += duration;
            if let Some(hdr) = &mut series.hdr {
                // Whole microseconds; a duration past the histogram's reach (about 292
                // millennia) is left out of the quantiles only.
                let _ = hdr.record(duration_nanos / 1000);
            }
        }
        if series.exemplars.len() < settings.exemplars && span.trace_id.iter().any(|b| *b != 0) {
            series.exemplars.push(Exemplar {
                time_unix_nano: span.end_time_unix_nano,
                span_id: span.span_id.to_vec(),
                trace_id: span.trace_id.to_vec(),
                value: Some(exemplar::Value::AsDouble(duration)),
                ..Default::default()
            });
        }
    }

    /// Builds the metrics of every held series at `now` (Unix nanoseconds) and moves to
    /// the next interval: expired series are dropped (cumulative), or everything is
    /// (delta). `None` when there is nothing to send.
    pub(crate) fn collect(&mut self, now: u64) -> Option<ExportMetricsServiceRequest> {
        let settings = &self.settings;
        if !settings.delta && settings.expiration_nanos > 0 {
            let expired: Vec<Box<[u8]>> = self
                .series
                .iter()
                .filter(|(_, s)| now.saturating_sub(s.last_seen) >= settings.expiration_nanos)
                .map(|(k, _)| k.clone())
                .collect();
            for key in expired {
                self.series.pop(&key);
            }
        }
        // Resources with no series left are forgotten.
        let mut live: BTreeMap<u64, Vec<&Series>> = BTreeMap::new();
        for (_, series) in self.series.iter() {
            live.entry(series.resource).or_default().push(series);
        }
        let gone: Vec<Vec<u8>> = self
            .resources
            .iter()
            .filter(|(_, r)| !live.contains_key(&r.id))
            .map(|(k, _)| k.clone())
            .collect();
        for key in gone {
            self.resources.pop(&key);
        }
        if live.is_empty() {
            return None;
        }
        let attributes: HashMap<u64, &[KeyValue]> = self
            .resources
            .iter()
            .map(|(_, r)| (r.id, &r.attributes[..]))
            .collect();
        let temporality = if settings.delta {
            AggregationTemporality::Delta
        } else {
            AggregationTemporality::Cumulative
        } as i32;
        let unit = settings.unit.as_str().to_string();
        let mut request = ExportMetricsServiceRequest::default();
        for (resource, mut series) in live {
            // Oldest first, so the output order is stable between flushes.
            series.sort_by_key(|s| s.start);
            let mut metrics = vec![Metric {
                name: settings.calls_name.clone(),
                data: Some(Data::Sum(Sum {
                    data_points: series
                        .iter()
                        .map(|s| NumberDataPoint {
                            attributes: s.attributes.clone(),
                            start_time_unix_nano: s.start,
                            time_unix_nano: now,
                            exemplars: s.exemplars.clone(),
                            value: Some(number_data_point::Value::AsInt(s.calls as i64)),
                            ..Default::default()
                        })
                        .collect(),
                    aggregation_temporality: temporality,
                    is_monotonic: true,
                })),
                ..Default::default()
            }];
            match &settings.buckets {
                Buckets::Disabled => {}
                Buckets::Explicit(bounds) => metrics.push(Metric {
                    name: settings.duration_name.clone(),
                    unit: unit.clone(),
                    data: Some(Data::Histogram(Histogram {
                        data_points: series
                            .iter()
                            .map(|s| HistogramDataPoint {
                                attributes: s.attributes.clone(),
                                start_time_unix_nano: s.start,
                                time_unix_nano: now,
                                count: s.calls,
                                sum: Some(s.sum),
                                bucket_counts: s.explicit.clone(),
                                explicit_bounds: bounds.clone(),
                                exemplars: s.exemplars.clone(),
                                ..Default::default()
                            })
                            .collect(),
                        aggregation_temporality: temporality,
                    })),
                    ..Default::default()
                }),
                Buckets::Exponential(_) => metrics.push(Metric {
                    name: settings.duration_name.clone(),
                    unit: unit.clone(),
                    data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: series
                            .iter()
                            .map(|s| {
                                let e = s.exponential.as_ref();
                                ExponentialHistogramDataPoint {
                                    attributes: s.attributes.clone(),
                                    start_time_unix_nano: s.start,
                                    time_unix_nano: now,
                                    count: s.calls,
                                    sum: Some(s.sum),
                                    scale: e.map_or(MAX_SCALE, |e| e.scale),
                                    zero_count: e.map_or(0, |e| e.zero),
                                    positive: Some(exponential_histogram_data_point::Buckets {
                                        offset: e.map_or(0, |e| e.offset),
                                        bucket_counts: e.map(|e| e.counts.clone()).unwrap_or_default(),
                                    }),
                                    exemplars: s.exemplars.clone(),
                                    ..Default::default()
                                }
                            })
                            .collect(),
                        aggregation_temporality: temporality,
                    })),
                    ..Default::default()
                }),
            }
            if !matches!(settings.buckets, Buckets::Disabled) {
                metrics.push(Metric {
                    name: settings.quantiles_name.clone(),
                    unit: unit.clone(),
                    data: Some(Data::Summary(Summary {
                        data_points: series
                            .iter()
                            .map(|s| summary_point(s, now, settings.unit))
                            .collect(),
                    })),
                    ..Default::default()
                });
            }
            request.resource_metrics.push(ResourceMetrics {
                resource: Some(Resource {
                    attributes: attributes.get(&resource).map(|a| a.to_vec()).unwrap_or_default(),
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "spanmetricsconnector".to_string(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        if settings.delta {
            // Each series' next data point starts where this one ended, as otelcol's
            // lastDeltaTimestamps do; only series seen this interval are remembered.
            // Resources stay (their ids are in the keys) until a flush finds them
            // without series.
            self.last_delta = self.series.iter().map(|(k, _)| (k.clone(), now)).collect();
            self.series.clear();
        } else {
            for (_, series) in self.series.iter_mut() {
                series.exemplars.clear();
            }
        }
        Some(request)
    }
}

/// The HdrHistogram quantiles of one series as a summary data point, in `unit`.
fn summary_point(s: &Series, now: u64, unit: Unit) -> SummaryDataPoint {
    let micros_per_unit = unit.nanos() / 1000.0;
    let quantile_values = match &s.hdr {
        Some(hdr) if !hdr.is_empty() => QUANTILES
            .iter()
            .map(|&q| ValueAtQuantile {
                quantile: q,
                value: hdr.value_at_quantile(q) as f64 / micros_per_unit,
            })
            .collect(),
        _ => Vec::new(),
    };
    SummaryDataPoint {
        attributes: s.attributes.clone(),
        start_time_unix_nano: s.start,
        time_unix_nano: now,
        count: s.calls,
        sum: s.sum,
        quantile_values,
        ..Default::default()
    }
}

/// A dimension's value: from a span (still encoded) or from the resource or a default.
enum DimValue<'a> {
    Encoded(&'a bytes::Bytes),
    Decoded(&'a AnyValue),
}

impl DimValue<'_> {
    fn encoded(&self) -> Vec<u8> {
        match self {
            DimValue::Encoded(b) => b.to_vec(),
            DimValue::Decoded(v) => v.encode_to_vec(),
        }
    }

    fn decoded(&self) -> AnyValue {
        match self {
            // The receiver's wire walk checked the span, so this decodes; an empty
            // value is what a failure would leave.
            DimValue::Encoded(b) => AnyValue::decode(b.as_ref()).unwrap_or_default(),
            DimValue::Decoded(v) => (*v).clone(),
        }
    }
}

fn push_field(key: &mut Vec<u8>, value: &[u8]) {
    key.extend_from_slice(&(value.len() as u32).to_le_bytes());
    key.extend_from_slice(value);
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// A base-2 exponential histogram of positive values with at most `max_size` buckets,
/// as OTLP defines it: at scale `s`, bucket `i` holds values in
/// (2^(i·2^-s), 2^((i+1)·2^-s)]. It starts at the finest scale and halves its resolution
/// whenever a value would need more buckets than allowed.
#[derive(Debug, Clone)]
pub(crate) struct Expo {
    max_size: usize,
    pub(crate) scale: i32,
    pub(crate) zero: u64,
    pub(crate) offset: i32,
    pub(crate) counts: Vec<u64>,
}

impl Expo {
    pub(crate) fn new(max_size: usize) -> Expo {
        Expo {
            max_size: max_size.max(2),
            scale: MAX_SCALE,
            zero: 0,
            offset: 0,
            counts: Vec::new(),
        }
    }

    /// The bucket index of `v` (> 0) at `scale`. log2 is exact for powers of two, so
    /// those land in the bucket they close, as the specification requires.
    fn index(v: f64, scale: i32) -> i32 {
        let i = (v.log2() * 2f64.powi(scale)).ceil() - 1.0;
        i.clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }

    pub(crate) fn record(&mut self, v: f64) {
        if v <= 0.0 || !v.is_finite() {
            self.zero += 1;
            return;
        }
        let mut index = Self::index(v, self.scale);
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(1);
            return;
        }
        let end = self.offset + self.counts.len() as i32 - 1;
        let (lo, hi) = (self.offset.min(index), end.max(index));
        let mut change = 0;
        while self.scale - change > MIN_SCALE
            && i64::from((hi >> change) - (lo >> change)) + 1 > self.max_size as i64
        {
            change += 1;
        }
        if change > 0 {
            self.downscale(change);
            index = Self::index(v, self.scale);
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let at = (index - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += 1;
    }

    fn downscale(&mut self, change: i32) {
        let new_offset = self.offset >> change;
        let mut counts: Vec<u64> = Vec::new();
        for (i, c) in self.counts.iter().enumerate() {
            let at = (((self.offset + i as i32) >> change) - new_offset) as usize;
            if at >= counts.len() {
                counts.resize(at + 1, 0);
            }
            counts[at] += c;
        }
        self.offset = new_offset;
        self.counts = counts;
        self.scale -= change;
    }
}

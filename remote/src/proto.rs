//! The remote-write 1.0 messages (`prometheus/prompb/remote.proto` and `types.proto`),
//! with the field numbers and wire types Prometheus 2.x uses.
//!
//! Only what a sender writes is here; the `reserved` and read-path messages are left out.

/// `prometheus.WriteRequest`: one remote-write request body before compression.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series with their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (type, help, unit), sent when the caller has it.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: one label set and its samples.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// The labels, `__name__` included, sorted by name (receivers expect the order).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars.
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histogram samples, oldest first.
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Label {
    /// The label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

impl Label {
    /// A label from a name and a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// `prometheus.Sample`: one float value.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value; [`STALE_NAN`] marks the series stale.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.Exemplar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// The exemplar's labels (`trace_id`, `span_id`).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The measured value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// `prometheus.Histogram`: one native histogram sample (integer counts as deltas, or
/// float counts).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Number of observations.
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    /// Sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Resolution: bucket bounds are powers of `2^(2^-schema)`, -4..=8; -53 for custom
    /// bucket bounds ([`Histogram::custom_values`]).
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Half-width of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    /// Runs of populated negative buckets.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Negative bucket counts, each as the difference to the previous bucket's.
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Negative bucket counts of a float histogram.
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Runs of populated positive buckets.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Positive bucket counts, each as the difference to the previous bucket's.
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Positive bucket counts of a float histogram.
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// What the sender knows about counter resets.
    #[prost(enumeration = "ResetHint", tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Upper bounds of the custom buckets of schema -53 (Prometheus 3.x's native histograms
    /// with custom buckets); empty for exponential schemas.
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

/// The `oneof` fields of [`Histogram`].
pub mod histogram {
    /// `count`: integer or float.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Count {
        /// Integer histogram.
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        /// Float histogram.
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    /// `zero_count`: integer or float.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        /// Integer histogram.
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        /// Float histogram.
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }
}

/// `prometheus.Histogram.ResetHint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResetHint {
    /// Nothing is known.
    Unknown = 0,
    /// This sample follows a counter reset.
    Yes = 1,
    /// This sample does not follow a counter reset.
    No = 2,
    /// A gauge histogram: resets mean nothing.
    Gauge = 3,
}

/// `prometheus.BucketSpan`: `length` consecutive buckets starting `offset` buckets after
/// the previous span's end (the first span's offset is the absolute index).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct BucketSpan {
    /// Gap to the previous span, or the first index.
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// `prometheus.MetricMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// The family's type.
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    /// The family name (without `_bucket`, `_sum`, ... suffixes).
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// HELP text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// The unit.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// `prometheus.MetricMetadata.MetricType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// Unknown (untyped).
    Unknown = 0,
    /// Counter.
    Counter = 1,
    /// Gauge.
    Gauge = 2,
    /// Histogram.
    Histogram = 3,
    /// Gauge histogram.
    Gaugehistogram = 4,
    /// Summary.
    Summary = 5,
    /// Info.
    Info = 6,
    /// State set.
    Stateset = 7,
}

/// The NaN Prometheus writes as a staleness marker (`value.StaleNaN`): a sample with
/// exactly these bits ends a series.
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

/// Whether `v` is the staleness marker (compared by bits; other NaNs are values).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN.to_bits()
}

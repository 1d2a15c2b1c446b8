//! Query values: instant vectors, range vectors (matrices), scalars and strings.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::tsdb::{CounterResetHint, FloatHistogram, HSample, Labels, Sample, SeriesPoints};

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    /// The series labels (the metric name stays until the end of the query, see `drop_name`).
    pub labels: Labels,
    /// Timestamp in ms: the evaluation time.
    pub t: i64,
    /// The value (0 when the sample is a histogram).
    pub v: f64,
    /// The native histogram, when the sample is one (then `v` is meaningless).
    pub h: Option<Arc<FloatHistogram>>,
    /// Prometheus 3.x delayed name removal: the metric name is removed when the query finishes (or
    /// when an operation needs the final label set), not where the function ran, so that
    /// `label_replace(rate(x[5m]), "n", "$1", "__name__", "(.*)")` can still read it.
    pub drop_name: bool,
}

/// An instant vector.
pub type Vector = Vec<InstantSample>;

/// One series of a range vector.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    /// The series labels.
    pub labels: Labels,
    /// Float points in time order.
    pub samples: Samples,
    /// Native-histogram points in time order.
    pub histograms: Vec<HSample>,
    /// See [`InstantSample::drop_name`].
    pub drop_name: bool,
}

/// The float points of a range-vector series: either owned, or a window of a selector's
/// cached series. A range selector is evaluated at every step of a range query; lending the
/// window instead of copying it saves an allocation and a copy per series and step.
#[derive(Clone)]
pub struct Samples(SamplesRepr);

#[derive(Clone)]
enum SamplesRepr {
    Owned(Vec<Sample>),
    Window {
        src: Arc<Vec<SeriesPoints>>,
        series: usize,
        range: std::ops::Range<usize>,
    },
}

impl Samples {
    /// The samples `src[series].floats[range]`, borrowed.
    pub(crate) fn window(src: &Arc<Vec<SeriesPoints>>, series: usize, range: std::ops::Range<usize>) -> Self {
        Samples(SamplesRepr::Window {
            src: Arc::clone(src),
            series,
            range,
        })
    }

    /// Appends a point (copying a borrowed window first).
    pub fn push(&mut self, s: Sample) {
        self.to_mut().push(s);
    }

    /// The points as an owned vector.
    pub fn into_vec(self) -> Vec<Sample> {
        match self.0 {
            SamplesRepr::Owned(v) => v,
            SamplesRepr::Window { .. } => self.to_vec(),
        }
    }

    fn to_mut(&mut self) -> &mut Vec<Sample> {
        if let SamplesRepr::Window { .. } = self.0 {
            self.0 = SamplesRepr::Owned(self.to_vec());
        }
        match &mut self.0 {
            SamplesRepr::Owned(v) => v,
            SamplesRepr::Window { .. } => unreachable!("converted to owned above"),
        }
    }
}

impl Default for Samples {
    fn default() -> Self {
        Samples(SamplesRepr::Owned(Vec::new()))
    }
}

impl From<Vec<Sample>> for Samples {
    fn from(v: Vec<Sample>) -> Self {
        Samples(SamplesRepr::Owned(v))
    }
}

impl std::ops::Deref for Samples {
    type Target = [Sample];
    fn deref(&self) -> &[Sample] {
        match &self.0 {
            SamplesRepr::Owned(v) => v,
            SamplesRepr::Window { src, series, range } => src
                .get(*series)
                .and_then(|s| s.floats.get(range.clone()))
                .unwrap_or_default(),
        }
    }
}

impl<'a> IntoIterator for &'a Samples {
    type Item = &'a Sample;
    type IntoIter = std::slice::Iter<'a, Sample>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for Samples {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Samples {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<Vec<Sample>> for Samples {
    fn eq(&self, other: &Vec<Sample>) -> bool {
        **self == other[..]
    }
}

/// A range vector, or the result of a range query.
pub type Matrix = Vec<RangeSeries>;

/// The result of evaluating an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number at a time.
    Scalar {
        /// Evaluation time in ms.
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string literal.
    String {
        /// Evaluation time in ms.
        t: i64,
        /// The string.
        s: String,
    },
    /// An instant vector.
    Vector(Vector),
    /// A range vector (or a range query's result).
    Matrix(Matrix),
}

impl Value {
    /// The PromQL type name (`scalar`, `string`, `vector`, `matrix`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Formats a float the way Prometheus prints sample values (`model.SampleValue`'s `String`: Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, with `+Inf`, `-Inf`, `NaN`).
pub fn format_float(v: f64) -> String {
    burnwatch_gofmt::format_f(v)
}

/// Formats a native histogram in the test-script notation
/// (`{{schema:0 count:4 sum:5 z_bucket:1 z_bucket_w:0.001 buckets:[1 2] offset:0}}`), listing
/// buckets as one run from the lowest to the highest index (missing ones as 0).
pub fn format_histogram(h: &FloatHistogram) -> String {
    let mut out = format!("{{{{schema:{}", h.schema);
    out.push_str(&format!(
        " count:{} sum:{}",
        format_float(h.count),
        format_float(h.sum)
    ));
    if h.zero_count != 0.0 {
        out.push_str(&format!(" z_bucket:{}", format_float(h.zero_count)));
    }
    if h.zero_threshold != 0.0 {
        out.push_str(&format!(" z_bucket_w:{}", format_float(h.zero_threshold)));
    }
    for (name, off, b) in [
        ("buckets", "offset", &h.positive),
        ("n_buckets", "n_offset", &h.negative),
    ] {
        let (Some(first), Some(last)) = (b.first(), b.last()) else {
            continue;
        };
        if i64::from(last.0) - i64::from(first.0) > 10_000 {
            // Too sparse to write densely: list `index:count` pairs instead.
            let pairs: Vec<String> = b
                .iter()
                .map(|(i, c)| format!("{i}:{}", format_float(*c)))
                .collect();
            out.push_str(&format!(" {name}:{{{}}}", pairs.join(" ")));
            continue;
        }
        let mut dense = Vec::new();
        let mut k = 0;
        for i in first.0..=last.0 {
            if b.get(k).is_some_and(|x| x.0 == i) {
                dense.push(format_float(b[k].1));
                k += 1;
            } else {
                dense.push("0".to_string());
            }
        }
        out.push_str(&format!(" {off}:{} {name}:[{}]", first.0, dense.join(" ")));
    }
    if h.uses_custom_buckets() {
        let cv: Vec<String> = h.custom_values.iter().map(|v| format_float(*v)).collect();
        out.push_str(&format!(" custom_values:[{}]", cv.join(" ")));
    }
    match h.counter_reset_hint {
        CounterResetHint::Unknown => {}
        CounterResetHint::CounterReset => out.push_str(" counter_reset_hint:reset"),
        CounterResetHint::NotCounterReset => out.push_str(" counter_reset_hint:not_reset"),
        CounterResetHint::Gauge => out.push_str(" counter_reset_hint:gauge"),
    }
    out.push_str("}}");
    out
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar { v, .. } => write!(f, "scalar: {}", format_float(*v)),
            Value::String { s, .. } => write!(f, "string: {s:?}"),
            Value::Vector(vec) => {
                for s in vec {
                    match &s.h {
                        Some(h) => writeln!(f, "{} => {}", s.labels, format_histogram(h))?,
                        None => writeln!(f, "{} => {}", s.labels, format_float(s.v))?,
                    }
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for s in m {
                    write!(f, "{} =>", s.labels)?;
                    for p in &s.samples {
                        write!(f, " {}@{}", format_float(p.v), p.t)?;
                    }
                    for p in &s.histograms {
                        write!(f, " {}@{}", format_histogram(&p.h), p.t)?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            }
        }
    }
}

/// Warnings and infos attached to a query result (Prometheus's `annotations`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotations {
    /// Messages starting `PromQL warning: `.
    pub warnings: Vec<String>,
    /// Messages starting `PromQL info: `.
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds a warning (deduplicated); `msg` is without the `PromQL warning: ` prefix.
    pub fn warn(&mut self, msg: impl Into<String>) {
        let m = format!("PromQL warning: {}", msg.into());
        if !self.warnings.contains(&m) {
            self.warnings.push(m);
        }
    }

    /// Adds an info (deduplicated); `msg` is without the `PromQL info: ` prefix.
    pub fn info(&mut self, msg: impl Into<String>) {
        let m = format!("PromQL info: {}", msg.into());
        if !self.infos.contains(&m) {
            self.infos.push(m);
        }
    }
}

/// Finds or adds the series for a label set while a matrix is assembled step by step.
///
/// Samples coming from the same stored series share one `Arc` label allocation, so the pointer is
/// tried first; only new pointers pay for hashing the label contents.
#[derive(Default)]
pub(crate) struct SeriesIndex {
    by_ptr: HashMap<(usize, bool), usize>,
    by_labels: HashMap<(Labels, bool), usize>,
}

impl SeriesIndex {
    /// The index in `out` of the series `(labels, drop_name)`, appending an empty one if new.
    pub(crate) fn slot(&mut self, labels: &Labels, drop_name: bool, out: &mut Matrix) -> usize {
        if let Some(i) = self.by_ptr.get(&(labels.ptr_id(), drop_name)) {
            return *i;
        }
        let i = *self
            .by_labels
            .entry((labels.clone(), drop_name))
            .or_insert_with(|| {
                out.push(RangeSeries {
                    labels: labels.clone(),
                    samples: Samples::default(),
                    histograms: Vec::new(),
                    drop_name,
                });
                out.len() - 1
            });
        // Only pointers of label sets kept alive in `out` are remembered, so an id cannot be
        // reused by a different allocation while this index lives.
        if out[i].labels.ptr_id() == labels.ptr_id() {
            self.by_ptr.insert((labels.ptr_id(), drop_name), i);
        }
        i
    }
}

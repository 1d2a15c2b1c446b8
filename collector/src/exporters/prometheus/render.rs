//! The text exposition format 0.0.4 and OpenMetrics 1.0 writers.
//!
//! Output matches what the OTel Collector's exporter serves through `client_golang`'s
//! `expfmt`: families sorted by name, `# HELP` (always, possibly empty) and `# TYPE`
//! lines, label pairs sorted by name with `le`/`quantile` last, and numbers formatted
//! like Go's `strconv.FormatFloat(f, 'g', -1, 64)` (`1e+06`, `0.0001`, `NaN`, `+Inf`).
//! OpenMetrics differs in: counters are typed without `_total` and sampled with it,
//! integral floats get `.0`, bucket and count samples are integers, timestamps are in
//! seconds, exemplars are written, and the body ends with `# EOF`. `_created` samples
//! are not written (promhttp's default).
//!
//! Everything is written into one caller-provided, pre-sized `Vec<u8>`; series keys
//! and bucket `le` labels are rendered once when stored, so a scrape copies bytes and
//! formats numbers without allocating per series.

use super::store::{Exemplar, Family, Hist, Kind, Series, Store, Value};

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

/// How to render one scrape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RenderOptions {
    /// The format.
    pub(crate) format: Format,
    /// Write each sample's timestamp.
    pub(crate) send_timestamps: bool,
    /// Series last updated before this store time (ms) have expired and are skipped.
    pub(crate) cutoff_ms: u64,
}

/// Bounds of an explicit-bucket histogram with their `le` labels pre-rendered in both
/// formats. Shared (`Arc`) by every series with the same bounds.
#[derive(Debug)]
pub(crate) struct BucketLayout {
    /// The bounds in the order received, which also indexes the series' counts.
    pub(crate) bounds: Vec<f64>,
    /// Indices into `bounds` in ascending order, duplicates and NaN removed (the first
    /// occurrence of a bound keeps its count, as in the OTel Collector's exporter).
    order: Vec<u32>,
    text: Vec<u8>,
    text_ends: Vec<u32>,
    om: Vec<u8>,
    om_ends: Vec<u32>,
}

impl BucketLayout {
    /// Sorts `bounds` and renders their `le="…"` labels.
    pub(crate) fn new(bounds: Vec<f64>) -> Self {
        let mut order: Vec<u32> = (0..bounds.len().min(u32::MAX as usize))
            .filter(|&i| !bounds[i].is_nan())
            .map(|i| i as u32)
            .collect();
        order.sort_by(|&a, &b| bounds[a as usize].total_cmp(&bounds[b as usize]).then(a.cmp(&b)));
        order.dedup_by(|later, kept| bounds[*later as usize] == bounds[*kept as usize]);
        let mut layout = BucketLayout {
            text: Vec::with_capacity(order.len() * 12),
            text_ends: Vec::with_capacity(order.len()),
            om: Vec::with_capacity(order.len() * 12),
            om_ends: Vec::with_capacity(order.len()),
            bounds,
            order,
        };
        for &i in &layout.order {
            let b = layout.bounds[i as usize];
            layout.text.extend_from_slice(b"le=\"");
            push_go_float(&mut layout.text, b);
            layout.text.push(b'"');
            layout.text_ends.push(layout.text.len() as u32);
            layout.om.extend_from_slice(b"le=\"");
            push_om_float(&mut layout.om, b);
            layout.om.push(b'"');
            layout.om_ends.push(layout.om.len() as u32);
        }
        layout
    }

    /// The number of distinct finite-or-infinite bounds.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The `j`-th smallest bound.
    pub(crate) fn bound(&self, j: usize) -> f64 {
        self.bounds[self.order[j] as usize]
    }

    fn raw_index(&self, j: usize) -> usize {
        self.order[j] as usize
    }

    fn le(&self, format: Format, j: usize) -> &[u8] {
        let (buf, ends) = match format {
            Format::Text => (&self.text, &self.text_ends),
            Format::OpenMetrics => (&self.om, &self.om_ends),
        };
        let start = if j == 0 { 0 } else { ends[j - 1] as usize };
        &buf[start..ends[j] as usize]
    }
}

/// A number pre-rendered in the text format when it is stored, so a scrape copies it
/// instead of formatting it (each point is stored once but scraped many times). The
/// longest Go rendering of a float64 (`-1.7976931348623157e+308`) is 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FloatText {
    buf: [u8; 24],
    len: u8,
}

impl FloatText {
    /// `f` as the text format writes it.
    pub(crate) fn new(f: f64) -> Self {
        let mut v = Vec::with_capacity(24);
        push_go_float(&mut v, f);
        let mut buf = [0u8; 24];
        let len = v.len().min(buf.len());
        buf[..len].copy_from_slice(&v[..len]);
        FloatText { buf, len: len as u8 }
    }

    /// Writes the number in `format`: OpenMetrics adds `.0` to finite numbers written
    /// without a point or exponent, exactly as [`push_om_float`] does.
    fn push(&self, out: &mut Vec<u8>, format: Format) {
        let text = &self.buf[..usize::from(self.len)];
        out.extend_from_slice(text);
        if format == Format::OpenMetrics && !text.iter().any(|b| matches!(b, b'.' | b'e' | b'N' | b'I')) {
            out.extend_from_slice(b".0");
        }
    }
}

/// Renders every live series of `store` into `out`; returns how many expired series it
/// skipped, so the caller can sweep them.
pub(crate) fn render(store: &Store, opts: &RenderOptions, out: &mut Vec<u8>) -> usize {
    let mut expired = 0;
    for (name, family) in store.families() {
        expired += render_family(name, family, opts, out);
    }
    if opts.format == Format::OpenMetrics {
        out.extend_from_slice(b"# EOF\n");
    }
    expired
}

fn render_family(name: &str, family: &Family, opts: &RenderOptions, out: &mut Vec<u8>) -> usize {
    let om = opts.format == Format::OpenMetrics;
    // OpenMetrics names a counter family without `_total` and its sample with it.
    let (family_name, sample_name): (&str, std::borrow::Cow<'_, str>) = if om && family.kind == Kind::Counter
    {
        let base = name.strip_suffix("_total").unwrap_or(name);
        (base, format!("{base}_total").into())
    } else {
        (name, name.into())
    };
    let sample = sample_name.as_bytes();
    let mut expired = 0;
    let mut header = false;
    for (key, series) in &family.series {
        if series.updated_ms < opts.cutoff_ms {
            expired += 1;
            continue;
        }
        if !header {
            write_header(out, family_name, family, om);
            header = true;
        }
        let key = key.as_bytes();
        match &series.value {
            Value::Number(_, text) => {
                out.extend_from_slice(sample);
                labels(out, key, b"");
                out.push(b' ');
                text.push(out, opts.format);
                timestamp(out, opts, series.time);
                if om
                    && family.kind == Kind::Counter
                    && let Some(e) = series.exemplars.last()
                {
                    exemplar(out, e);
                }
                out.push(b'\n');
            }
            Value::Histogram(h) | Value::Exponential(_, h) => {
                histogram(out, sample, key, h, series, opts);
            }
            Value::Summary {
                quantiles,
                sum,
                count,
            } => {
                let mut extra = Vec::with_capacity(32);
                for (q, v) in quantiles {
                    extra.clear();
                    extra.extend_from_slice(b"quantile=\"");
                    push_float(&mut extra, opts.format, *q);
                    extra.push(b'"');
                    out.extend_from_slice(sample);
                    labels(out, key, &extra);
                    out.push(b' ');
                    push_float(out, opts.format, *v);
                    timestamp(out, opts, series.time);
                    out.push(b'\n');
                }
                sum_and_count(out, sample, key, *sum, *count, series, opts);
            }
        }
    }
    expired
}

fn write_header(out: &mut Vec<u8>, name: &str, family: &Family, om: bool) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    for &b in family.help.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if om => out.extend_from_slice(b"\\\""),
            b => out.push(b),
        }
    }
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(match (family.kind, om) {
        (Kind::Gauge, _) => b" gauge\n",
        (Kind::Counter, _) => b" counter\n",
        (Kind::Histogram, _) => b" histogram\n",
        (Kind::Summary, _) => b" summary\n",
        (Kind::Untyped, false) => b" untyped\n",
        (Kind::Untyped, true) => b" unknown\n",
    });
}

/// `{key,extra}`, `{key}`, `{extra}` or nothing.
fn labels(out: &mut Vec<u8>, key: &[u8], extra: &[u8]) {
    if key.is_empty() && extra.is_empty() {
        return;
    }
    out.push(b'{');
    out.extend_from_slice(key);
    if !key.is_empty() && !extra.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(extra);
    out.push(b'}');
}

fn histogram(out: &mut Vec<u8>, sample: &[u8], key: &[u8], h: &Hist, series: &Series, opts: &RenderOptions) {
    let om = opts.format == Format::OpenMetrics;
    let layout = &*h.layout;
    // client_golang attaches each exemplar to the first bucket whose bound is >= its
    // value, or to +Inf; a later exemplar replaces an earlier one on the same bucket.
    let mut bucket_exemplars: Vec<Option<&Exemplar>> = Vec::new();
    if om && !series.exemplars.is_empty() {
        bucket_exemplars = vec![None; layout.len() + 1];
        for e in &series.exemplars {
            let j = (0..layout.len())
                .find(|&j| layout.bound(j) >= e.value)
                .unwrap_or(layout.len());
            bucket_exemplars[j] = Some(e);
        }
    }
    let mut cumulative = 0u64;
    let mut inf_seen = false;
    for j in 0..layout.len() {
        cumulative = cumulative.wrapping_add(h.counts.get(layout.raw_index(j)).copied().unwrap_or(0));
        bucket_line(
            out,
            sample,
            key,
            layout.le(opts.format, j),
            cumulative,
            series,
            opts,
        );
        if let Some(Some(e)) = bucket_exemplars.get(j) {
            out.pop();
            exemplar(out, e);
            out.push(b'\n');
        }
        inf_seen |= layout.bound(j) == f64::INFINITY;
    }
    if !inf_seen {
        let le: &[u8] = b"le=\"+Inf\"";
        bucket_line(out, sample, key, le, h.count, series, opts);
        if let Some(Some(e)) = bucket_exemplars.get(layout.len()) {
            out.pop();
            exemplar(out, e);
            out.push(b'\n');
        }
    }
    sum_and_count(out, sample, key, h.sum, h.count, series, opts);
}

fn bucket_line(
    out: &mut Vec<u8>,
    sample: &[u8],
    key: &[u8],
    le: &[u8],
    count: u64,
    series: &Series,
    opts: &RenderOptions,
) {
    out.extend_from_slice(sample);
    out.extend_from_slice(b"_bucket");
    labels(out, key, le);
    out.push(b' ');
    push_count(out, opts.format, count);
    timestamp(out, opts, series.time);
    out.push(b'\n');
}

fn sum_and_count(
    out: &mut Vec<u8>,
    sample: &[u8],
    key: &[u8],
    sum: f64,
    count: u64,
    series: &Series,
    opts: &RenderOptions,
) {
    out.extend_from_slice(sample);
    out.extend_from_slice(b"_sum");
    labels(out, key, b"");
    out.push(b' ');
    push_float(out, opts.format, sum);
    timestamp(out, opts, series.time);
    out.push(b'\n');
    out.extend_from_slice(sample);
    out.extend_from_slice(b"_count");
    labels(out, key, b"");
    out.push(b' ');
    push_count(out, opts.format, count);
    timestamp(out, opts, series.time);
    out.push(b'\n');
}

/// A count: an integer in OpenMetrics, a float (`1e+06`) in the text format, where
/// `client_golang` writes every sample value as a float64.
fn push_count(out: &mut Vec<u8>, format: Format, count: u64) {
    match format {
        Format::OpenMetrics => push_u64(out, count),
        Format::Text => push_go_float(out, count as f64),
    }
}

fn push_float(out: &mut Vec<u8>, format: Format, f: f64) {
    match format {
        Format::Text => push_go_float(out, f),
        Format::OpenMetrics => push_om_float(out, f),
    }
}

/// ` <timestamp>`: milliseconds in the text format, seconds in OpenMetrics.
fn timestamp(out: &mut Vec<u8>, opts: &RenderOptions, time_unix_nano: u64) {
    if !opts.send_timestamps || time_unix_nano == 0 {
        return;
    }
    let ms = time_unix_nano / 1_000_000;
    out.push(b' ');
    match opts.format {
        Format::Text => push_u64(out, ms),
        Format::OpenMetrics => push_om_float(out, ms as f64 / 1000.0),
    }
}

/// ` # {span_id="…",trace_id="…"} value [timestamp]` (OpenMetrics only).
fn exemplar(out: &mut Vec<u8>, e: &Exemplar) {
    out.extend_from_slice(b" # {");
    if !e.span_id.is_empty() {
        out.extend_from_slice(b"span_id=\"");
        out.extend_from_slice(e.span_id.as_bytes());
        out.push(b'"');
    }
    if !e.trace_id.is_empty() {
        if !e.span_id.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"trace_id=\"");
        out.extend_from_slice(e.trace_id.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"} ");
    push_om_float(out, e.value);
    if e.time_unix_nano != 0 {
        out.push(b' ');
        push_om_float(out, (e.time_unix_nano / 1_000_000) as f64 / 1000.0);
    }
}

/// Writes an unsigned integer in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    out.extend_from_slice(u64_digits(v, &mut buf));
}

/// The decimal digits of `v`, written into the end of `buf`.
fn u64_digits(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Writes `f` as `client_golang`'s text writer does: Go's `strconv.FormatFloat(f, 'g', -1, 64)`
/// with Prometheus' names for the special values, `0` for negative zero
/// ([`burnwatch_gofmt::write_exposition`]).
pub(crate) fn push_go_float(out: &mut Vec<u8>, f: f64) {
    burnwatch_gofmt::write_exposition(out, f);
}

/// Writes `f` as `client_golang`'s OpenMetrics writer does: like the text format, but
/// a number without `.` or exponent gets `.0` (`1.0`, `42.0`;
/// [`burnwatch_gofmt::write_openmetrics`]).
pub(crate) fn push_om_float(out: &mut Vec<u8>, f: f64) {
    burnwatch_gofmt::write_openmetrics(out, f);
}

//! The collector's own metrics, served on `service.telemetry.metrics` (localhost:8888)
//! under the OTel Collector's names, so its dashboards and alerts work unchanged.
//!
//! Counters follow the Prometheus convention the OTel Collector's exporter also uses: the
//! family `otelcol_receiver_accepted_spans` is exposed as
//! `otelcol_receiver_accepted_spans_total`. Metrics are plain atomics: recording is a
//! relaxed add on a handle obtained once when a component is built.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::ComponentId;
use crate::consumer::Signal;

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Adds `d` (may be negative).
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A distribution of integer observations over fixed bucket bounds, exposed as a
/// Prometheus histogram (`_bucket{le}`, `_sum`, `_count`), as the OTel Collector exposes
/// its histogram self-metrics.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramData>);

#[derive(Debug)]
struct HistogramData {
    /// Upper bounds, ascending; `+Inf` is implicit.
    bounds: &'static [u64],
    /// Per bucket (not cumulative), one more than `bounds` for `+Inf`.
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [u64]) -> Self {
        Histogram(Arc::new(HistogramData {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }))
    }

    /// Records one observation.
    pub fn observe(&self, value: u64) {
        let data = &self.0;
        // `le` is inclusive: a value equal to a bound falls in that bound's bucket.
        let bucket = data.bounds.partition_point(|&b| b < value);
        data.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        data.sum.fetch_add(value, Ordering::Relaxed);
        data.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }

    /// The sum of the observations.
    pub fn sum(&self) -> u64 {
        self.0.sum.load(Ordering::Relaxed)
    }

    /// Cumulative counts per bound, then `+Inf`.
    fn cumulative(&self) -> Vec<u64> {
        let mut total = 0;
        self.0
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: Kind,
    series: BTreeMap<Vec<(String, String)>, Series>,
}

#[derive(Debug, Clone)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

/// The registry of the collector's own metrics.
#[derive(Debug)]
pub struct SelfTelemetry {
    families: Mutex<BTreeMap<String, Family>>,
    started: Instant,
}

impl Default for SelfTelemetry {
    fn default() -> Self {
        SelfTelemetry {
            families: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
        }
    }
}

impl SelfTelemetry {
    /// A new, empty registry.
    pub fn new() -> Arc<SelfTelemetry> {
        Arc::new(SelfTelemetry::default())
    }

    /// The counter `name` (without `_total`) with `labels`, created on first use.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        match self.series(name, help, Kind::Counter, labels, &[]) {
            Series::Counter(c) => c,
            Series::Gauge(_) | Series::Histogram(_) => unreachable!("kind checked in series()"),
        }
    }

    /// The gauge `name` with `labels`, created on first use.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        match self.series(name, help, Kind::Gauge, labels, &[]) {
            Series::Gauge(g) => g,
            Series::Counter(_) | Series::Histogram(_) => unreachable!("kind checked in series()"),
        }
    }

    /// The histogram `name` with `labels` over the bucket upper bounds `bounds`
    /// (ascending), created on first use.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        bounds: &'static [u64],
    ) -> Histogram {
        match self.series(name, help, Kind::Histogram, labels, bounds) {
            Series::Histogram(h) => h,
            Series::Counter(_) | Series::Gauge(_) => unreachable!("kind checked in series()"),
        }
    }

    fn series(
        &self,
        name: &str,
        help: &str,
        kind: Kind,
        labels: &[(&str, &str)],
        bounds: &'static [u64],
    ) -> Series {
        let mut families = self.families.lock().expect("telemetry lock poisoned");
        let family = families.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            series: BTreeMap::new(),
        });
        assert_eq!(family.kind, kind, "metric {name} registered with two kinds");
        let key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        family
            .series
            .entry(key)
            .or_insert_with(|| match kind {
                Kind::Counter => Series::Counter(Counter::default()),
                Kind::Gauge => Series::Gauge(Gauge::default()),
                Kind::Histogram => Series::Histogram(Histogram::new(bounds)),
            })
            .clone()
    }

    /// Renders every metric, plus the process's RSS, CPU time and uptime, in the
    /// Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        {
            let families = self.families.lock().expect("telemetry lock poisoned");
            for (name, family) in families.iter() {
                let exposed = match family.kind {
                    Kind::Counter => format!("{name}_total"),
                    Kind::Gauge | Kind::Histogram => name.clone(),
                };
                let kind = match family.kind {
                    Kind::Counter => "counter",
                    Kind::Gauge => "gauge",
                    Kind::Histogram => "histogram",
                };
                let _ = writeln!(out, "# HELP {exposed} {}", family.help);
                let _ = writeln!(out, "# TYPE {exposed} {kind}");
                for (labels, series) in &family.series {
                    let value = match series {
                        Series::Counter(c) => c.get() as i64,
                        Series::Gauge(g) => g.get(),
                        Series::Histogram(h) => {
                            write_histogram(&mut out, &exposed, labels, h);
                            continue;
                        }
                    };
                    out.push_str(&exposed);
                    write_labels(&mut out, labels);
                    let _ = writeln!(out, " {value}");
                }
            }
        }
        let process = crate::process::ProcessStats::read();
        let uptime = self.started.elapsed().as_secs_f64();
        let _ = write!(
            out,
            "# HELP otelcol_process_memory_rss Total physical memory (resident set size) [bytes].\n\
             # TYPE otelcol_process_memory_rss gauge\n\
             otelcol_process_memory_rss {}\n\
             # HELP otelcol_process_cpu_seconds_total Total CPU user and system time in seconds.\n\
             # TYPE otelcol_process_cpu_seconds_total counter\n\
             otelcol_process_cpu_seconds_total {}\n\
             # HELP otelcol_process_uptime_seconds_total Uptime of the process in seconds.\n\
             # TYPE otelcol_process_uptime_seconds_total counter\n\
             otelcol_process_uptime_seconds_total {uptime}\n",
            process.rss_bytes, process.cpu_seconds,
        );
        out
    }
}

/// `_bucket` lines (cumulative, `le` last, bounds written as integers: Go's `%g` writes
/// integers below 1e6 without an exponent, and the bounds used here stay below it), then
/// `_sum` and `_count`.
fn write_histogram(out: &mut String, name: &str, labels: &[(String, String)], h: &Histogram) {
    let cumulative = h.cumulative();
    let mut with_le = labels.to_vec();
    with_le.push((String::from("le"), String::new()));
    for (i, count) in cumulative.iter().enumerate() {
        let le = match h.0.bounds.get(i) {
            Some(bound) => bound.to_string(),
            None => "+Inf".to_string(),
        };
        if let Some(last) = with_le.last_mut() {
            last.1 = le;
        }
        let _ = write!(out, "{name}_bucket");
        write_labels(out, &with_le);
        let _ = writeln!(out, " {count}");
    }
    for (suffix, value) in [("_sum", h.sum()), ("_count", h.count())] {
        let _ = write!(out, "{name}{suffix}");
        write_labels(out, labels);
        let _ = writeln!(out, " {value}");
    }
}

fn write_labels(out: &mut String, labels: &[(String, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// A receiver's counters for one transport and signal.
#[derive(Debug, Clone)]
pub struct ReceiverMetrics {
    /// `otelcol_receiver_accepted_<items>`: items pushed into the pipeline.
    pub accepted: Counter,
    /// `otelcol_receiver_refused_<items>`: items the pipeline did not take.
    pub refused: Counter,
}

impl ReceiverMetrics {
    /// Registers the counters for `receiver` over `transport` (`grpc` or `http`).
    pub fn new(tel: &SelfTelemetry, receiver: &ComponentId, transport: &str, signal: Signal) -> Self {
        let id = receiver.to_string();
        let labels = [("receiver", id.as_str()), ("transport", transport)];
        let noun = signal.item_noun();
        ReceiverMetrics {
            accepted: tel.counter(
                &format!("otelcol_receiver_accepted_{noun}"),
                &format!(
                    "Number of {} successfully pushed into the pipeline.",
                    noun.replace('_', " ")
                ),
                &labels,
            ),
            refused: tel.counter(
                &format!("otelcol_receiver_refused_{noun}"),
                &format!(
                    "Number of {} that could not be pushed into the pipeline.",
                    noun.replace('_', " ")
                ),
                &labels,
            ),
        }
    }
}

/// An exporter's counters and queue gauges for one signal.
#[derive(Debug, Clone)]
pub struct ExporterMetrics {
    /// `otelcol_exporter_sent_<items>`: items successfully sent.
    pub sent: Counter,
    /// `otelcol_exporter_send_failed_<items>`: items given up on after retries.
    pub send_failed: Counter,
    /// `otelcol_exporter_enqueue_failed_<items>`: items refused because the queue was full.
    pub enqueue_failed: Counter,
    /// `otelcol_exporter_queue_size`: requests waiting in the sending queue.
    pub queue_size: Gauge,
    /// `otelcol_exporter_queue_capacity`: the sending queue's capacity.
    pub queue_capacity: Gauge,
}

impl ExporterMetrics {
    /// Registers the metrics for `exporter` and `signal`.
    pub fn new(tel: &SelfTelemetry, exporter: &ComponentId, signal: Signal) -> Self {
        let id = exporter.to_string();
        let labels = [("exporter", id.as_str())];
        let queue_labels = [("data_type", signal.as_str()), ("exporter", id.as_str())];
        let noun = signal.item_noun();
        let words = noun.replace('_', " ");
        ExporterMetrics {
            sent: tel.counter(
                &format!("otelcol_exporter_sent_{noun}"),
                &format!("Number of {words} successfully sent to destination."),
                &labels,
            ),
            send_failed: tel.counter(
                &format!("otelcol_exporter_send_failed_{noun}"),
                &format!("Number of {words} in failed attempts to send to destination."),
                &labels,
            ),
            enqueue_failed: tel.counter(
                &format!("otelcol_exporter_enqueue_failed_{noun}"),
                &format!("Number of {words} failed to be added to the sending queue."),
                &labels,
            ),
            queue_size: tel.gauge(
                "otelcol_exporter_queue_size",
                "Current size of the retry queue (in batches).",
                &queue_labels,
            ),
            queue_capacity: tel.gauge(
                "otelcol_exporter_queue_capacity",
                "Fixed capacity of the retry queue (in batches).",
                &queue_labels,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_total_and_escaped_labels() {
        let tel = SelfTelemetry::new();
        let id = ComponentId::parse("otlp").unwrap();
        let m = ReceiverMetrics::new(&tel, &id, "grpc", Signal::Traces);
        m.accepted.add(3);
        let text = tel.render();
        assert!(text.contains("# TYPE otelcol_receiver_accepted_spans_total counter\n"));
        assert!(
            text.contains("otelcol_receiver_accepted_spans_total{receiver=\"otlp\",transport=\"grpc\"} 3\n")
        );
        assert!(text.contains("otelcol_process_memory_rss "));
    }
}

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
use std::time::{Duration, Instant};

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
    /// Observations and bounds are integers of `1 / divisor` of the exposed unit: 1 for
    /// counts, 1e9 for a duration kept in nanoseconds and exposed in seconds.
    divisor: u64,
    /// Per bucket (not cumulative), one more than `bounds` for `+Inf`.
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [u64], divisor: u64) -> Self {
        Histogram(Arc::new(HistogramData {
            bounds,
            divisor,
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

    /// Records one duration, for a histogram registered with
    /// [`SelfTelemetry::duration_histogram`] (kept in nanoseconds, exposed in seconds).
    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
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
        match self.series(name, help, Kind::Counter, labels, (&[], 1)) {
            Series::Counter(c) => c,
            Series::Gauge(_) | Series::Histogram(_) => unreachable!("kind checked in series()"),
        }
    }

    /// The gauge `name` with `labels`, created on first use.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        match self.series(name, help, Kind::Gauge, labels, (&[], 1)) {
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
        match self.series(name, help, Kind::Histogram, labels, (bounds, 1)) {
            Series::Histogram(h) => h,
            Series::Counter(_) | Series::Gauge(_) => unreachable!("kind checked in series()"),
        }
    }

    /// The histogram `name` (ending in `_seconds`) with `labels` over the bucket upper bounds
    /// `bounds_ns` (ascending, in nanoseconds), created on first use. Observations are
    /// [`Histogram::observe_duration`]s; bounds and the sum are exposed in seconds.
    pub fn duration_histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        bounds_ns: &'static [u64],
    ) -> Histogram {
        match self.series(name, help, Kind::Histogram, labels, (bounds_ns, 1_000_000_000)) {
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
        (bounds, divisor): (&'static [u64], u64),
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
                Kind::Histogram => Series::Histogram(Histogram::new(bounds, divisor)),
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
/// `_sum` and `_count`. A duration histogram's bounds and sum are divided into seconds;
/// Rust's shortest round-trip form of its bounds (`0.0025`, `1`, `2.5`) is what Go's `%g`
/// writes for them too.
fn write_histogram(out: &mut String, name: &str, labels: &[(String, String)], h: &Histogram) {
    let divisor = h.0.divisor;
    let scaled = |v: u64| -> String {
        if divisor == 1 {
            v.to_string()
        } else {
            (v as f64 / divisor as f64).to_string()
        }
    };
    let cumulative = h.cumulative();
    let mut with_le = labels.to_vec();
    with_le.push((String::from("le"), String::new()));
    for (i, count) in cumulative.iter().enumerate() {
        let le = match h.0.bounds.get(i) {
            Some(bound) => scaled(*bound),
            None => "+Inf".to_string(),
        };
        if let Some(last) = with_le.last_mut() {
            last.1 = le;
        }
        let _ = write!(out, "{name}_bucket");
        write_labels(out, &with_le);
        let _ = writeln!(out, " {count}");
    }
    for (suffix, value) in [("_sum", scaled(h.sum())), ("_count", h.count().to_string())] {
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
    /// `burnwatch_exporter_send_duration_seconds`: how long each attempt to send one request
    /// took, see [`SEND_DURATION_BUCKETS_NS`].
    pub send_duration: Histogram,
}

/// The buckets of `burnwatch_exporter_send_duration_seconds`, in nanoseconds: 1 ms to 30 s,
/// Prometheus's default buckets (5 ms to 10 s) widened at both ends, for a collector next to
/// its backend (sub-millisecond) and for the exporters' default 5 s to 30 s timeouts.
///
/// The OTel Collector has no send-latency metric of its own: `exporterhelper` counts sent and
/// failed items only, and latency exists there only as the HTTP/gRPC client instrumentation's
/// `http.client.request.duration` / `rpc.client.duration` at the `detailed` level, per
/// connection rather than per exporter. So this one is in burnwatch's namespace, with
/// otelcol's `exporter` label and the `otel_signal` label otelcol's processor metrics use.
/// It is observed once per attempt (a retried request once per try), as Prometheus's
/// `prometheus_remote_storage_sent_batch_duration_seconds` is, so its count is the number of
/// requests made to the destination.
pub const SEND_DURATION_BUCKETS_NS: &[u64] = &[
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

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
            // Registered by `for_sender` only: an exporter that sends nothing (debug,
            // prometheus) exposes no latency rather than an empty histogram.
            send_duration: Histogram::new(SEND_DURATION_BUCKETS_NS, 1_000_000_000),
        }
    }

    /// [`ExporterMetrics::new`] for an exporter that sends requests (through the sending
    /// queue's retry sender): with `burnwatch_exporter_send_duration_seconds` registered.
    pub fn for_sender(tel: &SelfTelemetry, exporter: &ComponentId, signal: Signal) -> Self {
        let id = exporter.to_string();
        ExporterMetrics {
            send_duration: tel.duration_histogram(
                "burnwatch_exporter_send_duration_seconds",
                "Duration of each attempt to send one request to the destination, in seconds.",
                &[("exporter", id.as_str()), ("otel_signal", signal.as_str())],
                SEND_DURATION_BUCKETS_NS,
            ),
            ..ExporterMetrics::new(tel, exporter, signal)
        }
    }
}

/// One processor's item counts in one pipeline: otelcol's `processorhelper` metrics
/// (0.110 and later), `otelcol_processor_incoming_items` and
/// `otelcol_processor_outgoing_items` with its `processor` and `otel_signal` labels.
///
/// Divergence: a `pipeline` label is added. otelcol builds one processor instance per
/// pipeline too, but on its Prometheus endpoint the pipeline is only an instrumentation-scope
/// attribute (and only behind the `telemetry.newPipelineTelemetry` gate), so the same
/// processor in two pipelines writes two series with one label set. A `sum by (processor)`
/// written for otelcol gives the same answer here.
#[derive(Debug, Clone)]
pub struct ProcessorMetrics {
    /// Items passed to the processor.
    pub incoming: Counter,
    /// Items the processor passed on to the next component.
    pub outgoing: Counter,
}

impl ProcessorMetrics {
    /// Registers the counters of `processor` in `pipeline` (`traces/2`), carrying `signal`.
    pub fn new(tel: &SelfTelemetry, processor: &ComponentId, pipeline: &str, signal: Signal) -> Self {
        let id = processor.to_string();
        let labels = [
            ("otel_signal", signal.as_str()),
            ("pipeline", pipeline),
            ("processor", id.as_str()),
        ];
        ProcessorMetrics {
            incoming: tel.counter(
                "otelcol_processor_incoming_items",
                "Number of items passed to the processor.",
                &labels,
            ),
            outgoing: tel.counter(
                "otelcol_processor_outgoing_items",
                "Number of items emitted from the processor.",
                &labels,
            ),
        }
    }
}

/// One pipeline's item counts, in burnwatch's namespace with the labels `pipeline` (the
/// pipeline's id, `traces/2`) and `otel_signal`:
///
/// - `burnwatch_pipeline_incoming_items`: items receivers and connectors offered to the
///   pipeline;
/// - `burnwatch_pipeline_refused_items`: of those, items the pipeline returned an error for
///   (the memory limiter refusing, an exporter's queue closed at shutdown): the sender was
///   told, and may retry;
/// - `burnwatch_pipeline_outgoing_items`: items the pipeline handed to its exporters and
///   connectors and they accepted.
///
/// Incoming minus refused minus outgoing is what the pipeline took and did not pass on: items
/// a `filter` dropped, or a `batch` still holds or failed to hand over.
///
/// Why not otelcol's names: otelcol's pipeline-level counts
/// (`otelcol.processor.consumed.items` and friends, with an `otelcol.component.outcome`
/// attribute) exist only behind the alpha `telemetry.newPipelineTelemetry` gate and carry the
/// pipeline as an instrumentation-scope attribute that its Prometheus endpoint drops; receivers
/// and exporters carry no pipeline at all. A pipeline with no processors has no processor
/// metrics, so no otelcol metric answers "how much went through pipeline X".
#[derive(Debug, Clone)]
pub struct PipelineMetrics {
    /// Items offered to the pipeline.
    pub incoming: Counter,
    /// Items refused back to the sender.
    pub refused: Counter,
    /// Items handed on and accepted downstream.
    pub outgoing: Counter,
}

impl PipelineMetrics {
    /// Registers the counters of `pipeline` (`traces/2`), carrying `signal`.
    pub fn new(tel: &SelfTelemetry, pipeline: &str, signal: Signal) -> Self {
        let labels = [("otel_signal", signal.as_str()), ("pipeline", pipeline)];
        PipelineMetrics {
            incoming: tel.counter(
                "burnwatch_pipeline_incoming_items",
                "Number of items receivers and connectors offered to the pipeline.",
                &labels,
            ),
            refused: tel.counter(
                "burnwatch_pipeline_refused_items",
                "Number of items the pipeline returned an error for.",
                &labels,
            ),
            outgoing: tel.counter(
                "burnwatch_pipeline_outgoing_items",
                "Number of items the pipeline handed to its exporters and connectors, accepted.",
                &labels,
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

    #[test]
    fn duration_histograms_are_exposed_in_seconds() {
        let tel = SelfTelemetry::new();
        let id = ComponentId::parse("otlp/peer").unwrap();
        let m = ExporterMetrics::for_sender(&tel, &id, Signal::Traces);
        m.send_duration.observe_duration(Duration::from_micros(1500));
        m.send_duration.observe_duration(Duration::from_millis(2500));
        m.send_duration.observe_duration(Duration::from_secs(60));
        let text = tel.render();
        let labels = "exporter=\"otlp/peer\",otel_signal=\"traces\"";
        for line in [
            "# TYPE burnwatch_exporter_send_duration_seconds histogram".to_string(),
            format!("burnwatch_exporter_send_duration_seconds_bucket{{{labels},le=\"0.001\"}} 0"),
            format!("burnwatch_exporter_send_duration_seconds_bucket{{{labels},le=\"0.0025\"}} 1"),
            // `le` is inclusive: exactly 2.5 s is in the 2.5 bucket.
            format!("burnwatch_exporter_send_duration_seconds_bucket{{{labels},le=\"2.5\"}} 2"),
            format!("burnwatch_exporter_send_duration_seconds_bucket{{{labels},le=\"30\"}} 2"),
            format!("burnwatch_exporter_send_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3"),
            format!("burnwatch_exporter_send_duration_seconds_sum{{{labels}}} 62.5015"),
            format!("burnwatch_exporter_send_duration_seconds_count{{{labels}}} 3"),
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} missing from\n{text}");
        }
        // An exporter that does not send has no latency series.
        let debug = ComponentId::parse("debug").unwrap();
        ExporterMetrics::new(&tel, &debug, Signal::Traces);
        let text = tel.render();
        assert!(text.contains("otelcol_exporter_sent_spans_total{exporter=\"debug\"} 0"));
        assert!(!text.contains("seconds_count{exporter=\"debug\""), "{text}");
    }
}

//! The notifier's self-metrics, named and labelled as Prometheus 3.x's `notifier/metric.go`
//! names them, and their exposition text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The upper bounds of `prometheus_notifications_latency_histogram_seconds` (Prometheus's).
pub const LATENCY_BUCKETS: [f64; 4] = [0.01, 0.1, 1.0, 10.0];

/// Counters of one Alertmanager's send loop.
#[derive(Debug, Default)]
pub(crate) struct AmCounters {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    pub dropped: AtomicU64,
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`], then `+Inf`.
    pub latency_buckets: [AtomicU64; 5],
    /// Sum of successful send latencies, in nanoseconds.
    pub latency_sum_nanos: AtomicU64,
}

impl AmCounters {
    pub fn observe_latency(&self, seconds: f64) {
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_buckets[4].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_nanos
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }
}

/// A snapshot of one Alertmanager's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerMetrics {
    /// The URL alerts are posted to (the `alertmanager` label).
    pub url: String,
    /// `prometheus_notifications_sent_total`: alerts this Alertmanager accepted.
    pub sent: u64,
    /// `prometheus_notifications_errors_total`: alerts in batches that failed to send.
    pub errors: u64,
    /// `prometheus_notifications_dropped_total`: alerts that will not be sent — their batch
    /// failed, the queue was full, or the notifier stopped without draining.
    pub dropped: u64,
    /// `prometheus_notifications_queue_length`: alerts waiting.
    pub queue_length: usize,
    /// `prometheus_notifications_latency_histogram_seconds` cumulative bucket counts, one per
    /// [`LATENCY_BUCKETS`] bound and `+Inf`.
    pub latency_buckets: [u64; 5],
    /// The histogram's `_sum`, in seconds.
    pub latency_sum_seconds: f64,
}

/// A snapshot of every notifier figure.
#[derive(Clone, Debug, PartialEq)]
pub struct NotifierMetrics {
    /// `prometheus_notifications_queue_capacity`.
    pub queue_capacity: usize,
    /// `prometheus_notifications_alertmanagers_discovered`.
    pub alertmanagers_discovered: usize,
    /// Per Alertmanager, in configuration order.
    pub alertmanagers: Vec<AlertmanagerMetrics>,
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl NotifierMetrics {
    /// Appends the Prometheus text exposition of these metrics to `out`.
    ///
    /// Divergence: Prometheus also exports `prometheus_notifications_latency_seconds` as a
    /// summary with streaming quantiles; burnwatch exports only the histogram.
    pub fn write_exposition(&self, out: &mut String) {
        let fmt = burnwatch_gofmt::format_exposition;
        type Family = (&'static str, &'static str, fn(&AlertmanagerMetrics) -> f64);
        let counters: [Family; 3] = [
            (
                "prometheus_notifications_dropped_total",
                "Total number of alerts dropped due to errors when sending to Alertmanager.",
                |m| m.dropped as f64,
            ),
            (
                "prometheus_notifications_errors_total",
                "Total number of sent alerts affected by errors.",
                |m| m.errors as f64,
            ),
            (
                "prometheus_notifications_sent_total",
                "Total number of alerts sent.",
                |m| m.sent as f64,
            ),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for am in &self.alertmanagers {
                let _ = writeln!(
                    out,
                    "{name}{{alertmanager=\"{}\"}} {}",
                    escape_label(&am.url),
                    fmt(get(am))
                );
            }
        }
        let name = "prometheus_notifications_latency_histogram_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Latency histogram for sending alert notifications.\n# TYPE {name} histogram"
        );
        for am in &self.alertmanagers {
            let url = escape_label(&am.url);
            for (i, count) in am.latency_buckets.iter().enumerate() {
                let le = LATENCY_BUCKETS.get(i).map_or("+Inf".to_string(), |b| fmt(*b));
                let _ = writeln!(out, "{name}_bucket{{alertmanager=\"{url}\",le=\"{le}\"}} {count}");
            }
            let _ = writeln!(
                out,
                "{name}_sum{{alertmanager=\"{url}\"}} {}",
                fmt(am.latency_sum_seconds)
            );
            let _ = writeln!(
                out,
                "{name}_count{{alertmanager=\"{url}\"}} {}",
                am.latency_buckets[4]
            );
        }
        let name = "prometheus_notifications_queue_length";
        let _ = writeln!(
            out,
            "# HELP {name} The number of alert notifications in the queue.\n# TYPE {name} gauge"
        );
        for am in &self.alertmanagers {
            let _ = writeln!(
                out,
                "{name}{{alertmanager=\"{}\"}} {}",
                escape_label(&am.url),
                am.queue_length
            );
        }
        let _ = writeln!(
            out,
            "# HELP prometheus_notifications_queue_capacity The capacity of the alert notifications queue.\n\
             # TYPE prometheus_notifications_queue_capacity gauge\n\
             prometheus_notifications_queue_capacity {}",
            self.queue_capacity
        );
        let _ = writeln!(
            out,
            "# HELP prometheus_notifications_alertmanagers_discovered The number of alertmanagers discovered and active.\n\
             # TYPE prometheus_notifications_alertmanagers_discovered gauge\n\
             prometheus_notifications_alertmanagers_discovered {}",
            self.alertmanagers_discovered
        );
    }
}

//! PromQL over the spanmetrics connector's series, as the dashboard's Traces view asks them, so
//! `slo`-side tests and scripts can run exactly the same queries.
//!
//! The names are the OTel Collector's spanmetrics connector's after a Prometheus exporter
//! (`namespace: traces.span.metrics`, dots to underscores, `_total` on counters, the unit as a
//! suffix):
//! - [`CALLS`]: `traces_span_metrics_calls_total{service_name, span_name, span_kind, status_code}`,
//!   `status_code="STATUS_CODE_ERROR"` for failed spans;
//! - [`BUCKETS`]: `traces_span_metrics_duration_milliseconds_bucket{…, le}`, the explicit-bucket
//!   histogram every otelcol writes;
//! - [`QUANTILES`]: `traces_span_metrics_duration_quantiles_milliseconds{…, quantile}`, burnwatch's
//!   exact quantiles (an HdrHistogram per series, 3 significant digits) as a summary.
//!
//! Quantiles come from the summary when any of it exists ([`QuantileSource::Summary`]) and from
//! `histogram_quantile` over the buckets otherwise ([`QuantileSource::Histogram`], e.g. against a
//! real otelcol): those are interpolated within a bucket, so the screen says which it shows.
//!
//! ```
//! use burnwatch_slo::spanmetrics::{self, Operation, QuantileSource};
//!
//! let op = Operation::new("checkout", "POST /pay", "SPAN_KIND_SERVER");
//! assert_eq!(
//!     spanmetrics::operation_quantile(QuantileSource::Summary, 0.99, &op, "1m"),
//!     "max(traces_span_metrics_duration_quantiles_milliseconds{service_name=\"checkout\",\
//!      span_name=\"POST /pay\",span_kind=\"SPAN_KIND_SERVER\",quantile=\"0.99\"})"
//! );
//! ```

use serde::Serialize;

use crate::tsdb::labels::escape_label_value;

/// Calls per operation and status code (a counter).
pub const CALLS: &str = "traces_span_metrics_calls_total";
/// The duration histogram's buckets, milliseconds.
pub const BUCKETS: &str = "traces_span_metrics_duration_milliseconds_bucket";
/// The exact duration quantiles (a summary's quantile series), milliseconds.
pub const QUANTILES: &str = "traces_span_metrics_duration_quantiles_milliseconds";
/// The `status_code` of failed spans.
pub const ERROR_STATUS: &str = "STATUS_CODE_ERROR";
/// The labels that name an operation, in the order the view shows them.
pub const OPERATION_LABELS: [&str; 3] = ["service_name", "span_name", "span_kind"];

/// `by (…)` over [`OPERATION_LABELS`].
const BY_OPERATION: &str = "service_name, span_name, span_kind";

/// One operation: a span name of a service with its kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Operation {
    /// `service_name` (the resource's `service.name`).
    pub service: String,
    /// `span_name`.
    pub span_name: String,
    /// `span_kind` (`SPAN_KIND_SERVER`, …).
    pub span_kind: String,
}

impl Operation {
    /// The operation `span_name` of `service` with `span_kind`.
    pub fn new(service: &str, span_name: &str, span_kind: &str) -> Self {
        Operation {
            service: service.to_string(),
            span_name: span_name.to_string(),
            span_kind: span_kind.to_string(),
        }
    }

    /// The label matchers selecting this operation's series, without braces.
    pub fn matchers(&self) -> String {
        format!(
            "service_name=\"{}\",span_name=\"{}\",span_kind=\"{}\"",
            escape_label_value(&self.service),
            escape_label_value(&self.span_name),
            escape_label_value(&self.span_kind)
        )
    }
}

/// Where the quantiles come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantileSource {
    /// [`QUANTILES`]: exact (HdrHistogram, 3 significant digits).
    Summary,
    /// `histogram_quantile` over [`BUCKETS`]: interpolated within a bucket.
    Histogram,
}

impl QuantileSource {
    /// How the screen names it.
    pub fn describe(self) -> &'static str {
        match self {
            QuantileSource::Summary => "exact quantiles (HdrHistogram summary)",
            QuantileSource::Histogram => "quantiles interpolated from histogram buckets",
        }
    }
}

/// Which quantile source exists: `count(QUANTILES)` first, then `count(BUCKETS)`. Each query is
/// empty when its series do not exist.
pub fn source_probes() -> [(QuantileSource, String); 2] {
    [
        (QuantileSource::Summary, format!("count({QUANTILES})")),
        (QuantileSource::Histogram, format!("count({BUCKETS})")),
    ]
}

/// Calls per second per operation over `window` (all status codes).
pub fn calls_rate(window: &str) -> String {
    format!("sum by ({BY_OPERATION}) (rate({CALLS}[{window}]))")
}

/// Failed calls per second per operation over `window`. Operations without a failed-span series
/// are absent (their error share is 0 when they have calls).
pub fn errors_rate(window: &str) -> String {
    format!("sum by ({BY_OPERATION}) (rate({CALLS}{{status_code=\"{ERROR_STATUS}\"}}[{window}]))")
}

/// The `q` quantile (0.5 = p50) per operation, milliseconds.
///
/// From the summary, the latest value; an operation with several summary series (extra
/// `dimensions` split it) shows the largest, the conservative choice: quantiles cannot be merged.
/// From the buckets, over `window`, as Prometheus's `histogram_quantile` interpolates.
pub fn quantile(source: QuantileSource, q: f64, window: &str) -> String {
    match source {
        QuantileSource::Summary => {
            format!(
                "max by ({BY_OPERATION}) ({QUANTILES}{{quantile=\"{}\"}})",
                quantile_label(q)
            )
        }
        QuantileSource::Histogram => {
            format!("histogram_quantile({q}, sum by ({BY_OPERATION}, le) (rate({BUCKETS}[{window}])))")
        }
    }
}

/// The `q` quantile of one operation as a single series (for a range query: its latency over
/// time), milliseconds.
pub fn operation_quantile(source: QuantileSource, q: f64, op: &Operation, window: &str) -> String {
    let m = op.matchers();
    match source {
        QuantileSource::Summary => {
            format!("max({QUANTILES}{{{m},quantile=\"{}\"}})", quantile_label(q))
        }
        QuantileSource::Histogram => {
            format!("histogram_quantile({q}, sum by (le) (rate({BUCKETS}{{{m}}}[{window}])))")
        }
    }
}

/// The `quantile` label as a summary writes it: Go's shortest float (`0.5`, `0.99`, `0.999`).
fn quantile_label(q: f64) -> String {
    format!("{q}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::{Engine, Value};
    use crate::tsdb::{Labels, Storage};

    fn op_labels(name: &str, span: &str, extra: &[(&str, &str)]) -> Labels {
        let mut pairs = vec![
            ("__name__", name),
            ("service_name", "checkout"),
            ("span_name", span),
            ("span_kind", "SPAN_KIND_SERVER"),
        ];
        pairs.extend_from_slice(extra);
        Labels::from_pairs(pairs)
    }

    /// Two operations over 10 minutes at 15 s: `POST /pay` 10 calls/s of which 1/s fail,
    /// `GET /cart` 4 calls/s without failures; each with a summary and buckets.
    fn store() -> Storage {
        let mut s = Storage::new();
        for i in 0..=40i64 {
            let t = i * 15_000;
            let secs = (i * 15) as f64;
            let ok = op_labels(CALLS, "POST /pay", &[("status_code", "STATUS_CODE_UNSET")]);
            let err = op_labels(CALLS, "POST /pay", &[("status_code", ERROR_STATUS)]);
            let cart = op_labels(CALLS, "GET /cart", &[("status_code", "STATUS_CODE_UNSET")]);
            s.append(&ok, t, 9.0 * secs).unwrap();
            s.append(&err, t, secs).unwrap();
            s.append(&cart, t, 4.0 * secs).unwrap();
            for (q, v) in [("0.5", 20.0), ("0.9", 80.0), ("0.99", 250.0)] {
                s.append(&op_labels(QUANTILES, "POST /pay", &[("quantile", q)]), t, v)
                    .unwrap();
            }
            // GET /cart: every call under 10 ms, half under 5 ms.
            for (le, share) in [("5", 0.5), ("10", 1.0), ("+Inf", 1.0)] {
                s.append(
                    &op_labels(BUCKETS, "GET /cart", &[("le", le)]),
                    t,
                    4.0 * secs * share,
                )
                .unwrap();
            }
        }
        s
    }

    fn by_span(store: &Storage, expr: &str) -> Vec<(String, f64)> {
        let res = Engine::default().instant_query(store, expr, 600_000).unwrap();
        let Value::Vector(v) = res.value else {
            panic!("{expr}: not a vector")
        };
        let mut out: Vec<(String, f64)> = v
            .into_iter()
            .map(|s| (s.labels.get("span_name").unwrap_or_default().to_string(), s.v))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn rates_and_error_rates_are_per_operation() {
        let s = store();
        let calls = by_span(&s, &calls_rate("1m"));
        assert_eq!(calls.len(), 2);
        assert!((calls[0].1 - 4.0).abs() < 1e-9, "{calls:?}");
        assert!((calls[1].1 - 10.0).abs() < 1e-9, "{calls:?}");
        let errors = by_span(&s, &errors_rate("1m"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "POST /pay");
        assert!((errors[0].1 - 1.0).abs() < 1e-9, "{errors:?}");
    }

    #[test]
    fn summary_quantiles_are_read_as_written_and_buckets_are_interpolated() {
        let s = store();
        let p99 = by_span(&s, &quantile(QuantileSource::Summary, 0.99, "1m"));
        assert_eq!(p99, vec![("POST /pay".to_string(), 250.0)]);
        let p50 = by_span(&s, &quantile(QuantileSource::Histogram, 0.5, "1m"));
        assert_eq!(p50.len(), 1);
        assert_eq!(p50[0].0, "GET /cart");
        assert!((p50[0].1 - 5.0).abs() < 1e-9, "{p50:?}");
        let op = Operation::new("checkout", "GET /cart", "SPAN_KIND_SERVER");
        let one = Engine::default()
            .instant_query(
                &s,
                &operation_quantile(QuantileSource::Histogram, 0.5, &op, "1m"),
                600_000,
            )
            .unwrap();
        assert!(matches!(one.value, Value::Vector(v) if v.len() == 1 && (v[0].v - 5.0).abs() < 1e-9));
    }

    #[test]
    fn operation_names_with_quotes_are_escaped_in_selectors() {
        let op = Operation::new("a\"b", "x\\y", "SPAN_KIND_CLIENT");
        assert_eq!(
            op.matchers(),
            "service_name=\"a\\\"b\",span_name=\"x\\\\y\",span_kind=\"SPAN_KIND_CLIENT\""
        );
        // And the engine parses it.
        let expr = operation_quantile(QuantileSource::Summary, 0.5, &op, "1m");
        Engine::default()
            .instant_query(&Storage::new(), &expr, 0)
            .unwrap();
    }
}

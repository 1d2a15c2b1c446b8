//! Trace and span id lengths, checked on decoded requests as the OTel Collector's pdata
//! checks them while unmarshalling: a trace id is 16 bytes and a span id 8, or empty
//! (unset). Any other length is refused (HTTP 400, gRPC `INVALID_ARGUMENT`) rather than
//! forwarded: a backend would reject or misread it, and an acknowledged request must not
//! be lost downstream. OTLP/JSON carries ids as hex, so a 31-digit `traceId` decodes to
//! 15 bytes and is refused here; raw protobuf traces and logs are checked by the wire
//! walker ([`super::wire`]) with the same rule.

use std::fmt;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::Exemplar;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

/// The length of a trace id, in bytes.
pub const TRACE_ID_LEN: usize = 16;
/// The length of a span id, in bytes.
pub const SPAN_ID_LEN: usize = 8;

/// A trace or span id of the wrong length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    /// Where, in proto field names: `resource_spans[0].scope_spans[0].spans[3].trace_id`.
    pub path: String,
    /// The length the id must have (or 0).
    pub expected: usize,
    /// The length it has.
    pub actual: usize,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.expected == TRACE_ID_LEN {
            "a trace id"
        } else {
            "a span id"
        };
        write!(
            f,
            "{what} must be {} bytes ({} hex digits in OTLP/JSON) or empty, not {} bytes",
            self.expected,
            self.expected * 2,
            self.actual
        )
    }
}

impl std::error::Error for IdError {}

/// Requests whose ids can be checked.
pub trait CheckIds {
    /// The first id of the wrong length, if any.
    fn check_ids(&self) -> Result<(), IdError>;
}

/// Checks one id: `expected` bytes or none.
pub fn check_id(id: &[u8], expected: usize, path: impl FnOnce() -> String) -> Result<(), IdError> {
    if id.is_empty() || id.len() == expected {
        Ok(())
    } else {
        Err(IdError {
            path: path(),
            expected,
            actual: id.len(),
        })
    }
}

impl CheckIds for ExportTraceServiceRequest {
    fn check_ids(&self) -> Result<(), IdError> {
        for (i, rs) in self.resource_spans.iter().enumerate() {
            for (j, ss) in rs.scope_spans.iter().enumerate() {
                for (k, span) in ss.spans.iter().enumerate() {
                    let at = |field: &str| format!("resource_spans[{i}].scope_spans[{j}].spans[{k}].{field}");
                    check_id(&span.trace_id, TRACE_ID_LEN, || at("trace_id"))?;
                    check_id(&span.span_id, SPAN_ID_LEN, || at("span_id"))?;
                    check_id(&span.parent_span_id, SPAN_ID_LEN, || at("parent_span_id"))?;
                    for (l, link) in span.links.iter().enumerate() {
                        check_id(&link.trace_id, TRACE_ID_LEN, || {
                            at(&format!("links[{l}].trace_id"))
                        })?;
                        check_id(&link.span_id, SPAN_ID_LEN, || at(&format!("links[{l}].span_id")))?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl CheckIds for ExportLogsServiceRequest {
    fn check_ids(&self) -> Result<(), IdError> {
        for (i, rl) in self.resource_logs.iter().enumerate() {
            for (j, sl) in rl.scope_logs.iter().enumerate() {
                for (k, record) in sl.log_records.iter().enumerate() {
                    let at =
                        |field: &str| format!("resource_logs[{i}].scope_logs[{j}].log_records[{k}].{field}");
                    check_id(&record.trace_id, TRACE_ID_LEN, || at("trace_id"))?;
                    check_id(&record.span_id, SPAN_ID_LEN, || at("span_id"))?;
                }
            }
        }
        Ok(())
    }
}

fn check_exemplars(exemplars: &[Exemplar], at: &dyn Fn(usize, &str) -> String) -> Result<(), IdError> {
    for (e, exemplar) in exemplars.iter().enumerate() {
        check_id(&exemplar.trace_id, TRACE_ID_LEN, || at(e, "trace_id"))?;
        check_id(&exemplar.span_id, SPAN_ID_LEN, || at(e, "span_id"))?;
    }
    Ok(())
}

impl CheckIds for ExportMetricsServiceRequest {
    fn check_ids(&self) -> Result<(), IdError> {
        for (i, rm) in self.resource_metrics.iter().enumerate() {
            for (j, sm) in rm.scope_metrics.iter().enumerate() {
                for (k, metric) in sm.metrics.iter().enumerate() {
                    let lists: Vec<(&str, &[Exemplar])> = match &metric.data {
                        None | Some(Data::Summary(_)) => Vec::new(),
                        Some(Data::Gauge(g)) => g
                            .data_points
                            .iter()
                            .map(|p| ("gauge", &p.exemplars[..]))
                            .collect(),
                        Some(Data::Sum(s)) => {
                            s.data_points.iter().map(|p| ("sum", &p.exemplars[..])).collect()
                        }
                        Some(Data::Histogram(h)) => h
                            .data_points
                            .iter()
                            .map(|p| ("histogram", &p.exemplars[..]))
                            .collect(),
                        Some(Data::ExponentialHistogram(h)) => h
                            .data_points
                            .iter()
                            .map(|p| ("exponential_histogram", &p.exemplars[..]))
                            .collect(),
                    };
                    for (p, (kind, exemplars)) in lists.into_iter().enumerate() {
                        let at = |e: usize, field: &str| {
                            format!(
                                "resource_metrics[{i}].scope_metrics[{j}].metrics[{k}].{kind}.data_points[{p}].exemplars[{e}].{field}"
                            )
                        };
                        check_exemplars(exemplars, &at)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{
        Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics,
    };
    use opentelemetry_proto::tonic::trace::v1::span::Link;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn traces(span: Span) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(), span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn ids_of_the_right_length_or_empty_pass_and_others_are_named() {
        let ok = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            ..Default::default()
        };
        assert_eq!(traces(ok.clone()).check_ids(), Ok(()));
        assert_eq!(traces(Span::default()).check_ids(), Ok(()));
        let short_trace = Span {
            trace_id: vec![1; 15],
            ..ok.clone()
        };
        let err = traces(short_trace).check_ids().unwrap_err();
        assert_eq!(err.path, "resource_spans[0].scope_spans[0].spans[1].trace_id");
        assert_eq!(
            err.to_string(),
            "a trace id must be 16 bytes (32 hex digits in OTLP/JSON) or empty, not 15 bytes"
        );
        let long_parent = Span {
            parent_span_id: vec![1; 9],
            ..ok.clone()
        };
        assert_eq!(
            traces(long_parent).check_ids().unwrap_err().path,
            "resource_spans[0].scope_spans[0].spans[1].parent_span_id"
        );
        let bad_link = Span {
            links: vec![Link {
                span_id: vec![1; 4],
                ..Default::default()
            }],
            ..ok
        };
        assert_eq!(
            traces(bad_link).check_ids().unwrap_err().path,
            "resource_spans[0].scope_spans[0].spans[1].links[0].span_id"
        );
    }

    #[test]
    fn exemplar_ids_are_checked() {
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        data: Some(Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                exemplars: vec![Exemplar {
                                    trace_id: vec![1; 3],
                                    ..Default::default()
                                }],
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let err = request.check_ids().unwrap_err();
        assert_eq!(
            err.path,
            "resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].exemplars[0].trace_id"
        );
        assert_eq!(err.actual, 3);
    }
}

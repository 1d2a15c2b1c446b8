//! The text the debug exporter writes, per verbosity.
//!
//! `normal` follows the OTel Collector's normal output: a line per resource and scope,
//! then one line per item (`name trace_id span_id attrs` for a span, `name{attrs} value`
//! for a data point, `severity body attrs` for a log record). `detailed` writes every
//! field, as OTLP/JSON (hex ids, camelCase names) on one line per resource, scope,
//! metric and item, so nothing the sender set is hidden.

use std::borrow::Cow;
use std::fmt::Write as _;

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    SummaryDataPoint, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Serialize;

use crate::consumer::{Telemetry, data_point_count};
use crate::pdata::{OtlpRequest, Payload};

/// The counts the `basic` line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Summary {
    /// Resource groups.
    pub resources: usize,
    /// Metrics (for the metrics signal; 0 otherwise).
    pub metrics: usize,
    /// Spans, data points or log records.
    pub items: usize,
}

pub(super) fn summary(data: &Telemetry) -> Summary {
    let (resources, metrics) = match data {
        // O(1) for raw payloads: the wire walker counted resources.
        Telemetry::Traces(p) => (p.counts().resources, 0),
        Telemetry::Metrics(r) => (
            r.resource_metrics.len(),
            r.resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .map(|sm| sm.metrics.len())
                .sum(),
        ),
        Telemetry::Logs(p) => (p.counts().resources, 0),
    };
    Summary {
        resources,
        metrics,
        items: data.item_count(),
    }
}

/// One line per resource, scope and item.
/// The decoded request, for the verbosities that show every item: raw payloads are
/// decoded here, the one place that reads every field. A request that does not decode
/// gets a line saying so instead.
fn decoded<'a, R: OtlpRequest>(payload: &'a Payload<R>, lines: &mut Vec<String>) -> Option<Cow<'a, R>> {
    payload
        .decoded()
        .map_err(|err| lines.push(format!("<cannot decode the request: {err}>")))
        .ok()
}

pub(super) fn normal(data: &Telemetry) -> Vec<String> {
    let mut lines = Vec::new();
    match data {
        Telemetry::Traces(p) => {
            let Some(r) = decoded(p, &mut lines) else {
                return lines;
            };
            for (i, rs) in r.resource_spans.iter().enumerate() {
                lines.push(format!(
                    "ResourceSpans #{i}{}",
                    resource_suffix(rs.resource.as_ref())
                ));
                for (j, ss) in rs.scope_spans.iter().enumerate() {
                    lines.push(format!("ScopeSpans #{j}{}", scope_suffix(ss.scope.as_ref())));
                    for span in &ss.spans {
                        let mut line =
                            format!("{} {} {}", span.name, hex(&span.trace_id), hex(&span.span_id));
                        push_attributes(&mut line, " ", &span.attributes);
                        lines.push(line);
                    }
                }
            }
        }
        Telemetry::Metrics(r) => {
            for (i, rm) in r.resource_metrics.iter().enumerate() {
                lines.push(format!(
                    "ResourceMetrics #{i}{}",
                    resource_suffix(rm.resource.as_ref())
                ));
                for (j, sm) in rm.scope_metrics.iter().enumerate() {
                    lines.push(format!("ScopeMetrics #{j}{}", scope_suffix(sm.scope.as_ref())));
                    for metric in &sm.metrics {
                        normal_points(metric, &mut lines);
                    }
                }
            }
        }
        Telemetry::Logs(p) => {
            let Some(r) = decoded(p, &mut lines) else {
                return lines;
            };
            for (i, rl) in r.resource_logs.iter().enumerate() {
                lines.push(format!(
                    "ResourceLog #{i}{}",
                    resource_suffix(rl.resource.as_ref())
                ));
                for (j, sl) in rl.scope_logs.iter().enumerate() {
                    lines.push(format!("ScopeLog #{j}{}", scope_suffix(sl.scope.as_ref())));
                    for rec in &sl.log_records {
                        let severity = if rec.severity_text.is_empty() {
                            format!("severity_number={}", rec.severity_number)
                        } else {
                            rec.severity_text.clone()
                        };
                        let mut line = severity;
                        line.push(' ');
                        match &rec.body {
                            Some(body) => push_any(&mut line, body),
                            None => line.push_str("<no body>"),
                        }
                        push_attributes(&mut line, " ", &rec.attributes);
                        lines.push(line);
                    }
                }
            }
        }
    }
    lines
}

fn resource_suffix(resource: Option<&Resource>) -> String {
    let mut s = String::new();
    if let Some(r) = resource {
        push_attributes(&mut s, " ", &r.attributes);
    }
    s
}

fn scope_suffix(scope: Option<&InstrumentationScope>) -> String {
    match scope {
        Some(s) if !s.version.is_empty() => format!(" {}@{}", s.name, s.version),
        Some(s) if !s.name.is_empty() => format!(" {}", s.name),
        _ => String::new(),
    }
}

/// `name{k=v,…}` for a data point.
fn point_name(metric: &Metric, attributes: &[KeyValue]) -> String {
    let mut s = metric.name.clone();
    if !attributes.is_empty() {
        s.push('{');
        push_attributes(&mut s, ",", attributes);
        s.push('}');
    }
    s
}

fn normal_points(metric: &Metric, lines: &mut Vec<String>) {
    let number = |p: &NumberDataPoint| {
        let value = match p.value {
            Some(number_data_point::Value::AsDouble(v)) => v.to_string(),
            Some(number_data_point::Value::AsInt(v)) => v.to_string(),
            None => "<no value>".to_string(),
        };
        format!("{} {value}", point_name(metric, &p.attributes))
    };
    let histogram = |p: &HistogramDataPoint| {
        let mut line = format!("{} count={}", point_name(metric, &p.attributes), p.count);
        push_optional(&mut line, "sum", p.sum);
        push_optional(&mut line, "min", p.min);
        push_optional(&mut line, "max", p.max);
        for (i, count) in p.bucket_counts.iter().enumerate() {
            match p.explicit_bounds.get(i) {
                Some(bound) => {
                    let _ = write!(line, " le{bound}={count}");
                }
                None => {
                    let _ = write!(line, " le+Inf={count}");
                }
            }
        }
        line
    };
    let exponential = |p: &ExponentialHistogramDataPoint| {
        let mut line = format!("{} count={}", point_name(metric, &p.attributes), p.count);
        push_optional(&mut line, "sum", p.sum);
        push_optional(&mut line, "min", p.min);
        push_optional(&mut line, "max", p.max);
        let _ = write!(line, " scale={} zero_count={}", p.scale, p.zero_count);
        line
    };
    let summary = |p: &SummaryDataPoint| {
        let mut line = format!(
            "{} count={} sum={}",
            point_name(metric, &p.attributes),
            p.count,
            p.sum
        );
        for q in &p.quantile_values {
            let _ = write!(line, " q{}={}", q.quantile, q.value);
        }
        line
    };
    match &metric.data {
        Some(Data::Gauge(g)) => lines.extend(g.data_points.iter().map(number)),
        Some(Data::Sum(s)) => lines.extend(s.data_points.iter().map(number)),
        Some(Data::Histogram(h)) => lines.extend(h.data_points.iter().map(histogram)),
        Some(Data::ExponentialHistogram(h)) => lines.extend(h.data_points.iter().map(exponential)),
        Some(Data::Summary(s)) => lines.extend(s.data_points.iter().map(summary)),
        None => lines.push(format!("{} <no data>", metric.name)),
    }
}

fn push_optional(line: &mut String, name: &str, value: Option<f64>) {
    if let Some(v) = value {
        let _ = write!(line, " {name}={v}");
    }
}

/// `k=v` pairs separated by `sep`, after a leading `sep` when `sep` is a space.
fn push_attributes(out: &mut String, sep: &str, attributes: &[KeyValue]) {
    for (i, kv) in attributes.iter().enumerate() {
        if i > 0 || sep == " " {
            out.push_str(sep);
        }
        out.push_str(&kv.key);
        out.push('=');
        match &kv.value {
            Some(v) => push_any(out, v),
            None => out.push_str("<empty>"),
        }
    }
}

fn push_any(out: &mut String, value: &AnyValue) {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => out.push_str(s),
        Some(any_value::Value::BoolValue(b)) => {
            let _ = write!(out, "{b}");
        }
        Some(any_value::Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(any_value::Value::DoubleValue(d)) => {
            let _ = write!(out, "{d}");
        }
        Some(any_value::Value::BytesValue(b)) => out.push_str(&hex(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            out.push('[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_any(out, v);
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            out.push('{');
            push_attributes(out, ",", &kv.values);
            out.push('}');
        }
        Some(any_value::Value::StringValueStrindex(i)) => {
            let _ = write!(out, "strindex:{i}");
        }
        None => out.push_str("<empty>"),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// OTLP/JSON of `value`; serialization of these types cannot fail on valid UTF-8
/// strings, but the error is written rather than hidden if it ever does.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|err| format!("<not representable as JSON: {err}>"))
}

/// Every field: a JSON line per resource, scope, metric and item.
pub(super) fn detailed(data: &Telemetry) -> Vec<String> {
    let mut lines = Vec::new();
    match data {
        Telemetry::Traces(p) => {
            let Some(r) = decoded(p, &mut lines) else {
                return lines;
            };
            for (i, rs) in r.resource_spans.iter().enumerate() {
                lines.push(format!(
                    "ResourceSpans #{i} schema_url={:?} resource={}",
                    rs.schema_url,
                    json(&rs.resource)
                ));
                for (j, ss) in rs.scope_spans.iter().enumerate() {
                    lines.push(format!(
                        "ScopeSpans #{j} schema_url={:?} scope={}",
                        ss.schema_url,
                        json(&ss.scope)
                    ));
                    for (k, span) in ss.spans.iter().enumerate() {
                        lines.push(format!("Span #{k} {}", json(span)));
                    }
                }
            }
        }
        Telemetry::Metrics(r) => {
            for (i, rm) in r.resource_metrics.iter().enumerate() {
                lines.push(format!(
                    "ResourceMetrics #{i} schema_url={:?} resource={}",
                    rm.schema_url,
                    json(&rm.resource)
                ));
                for (j, sm) in rm.scope_metrics.iter().enumerate() {
                    lines.push(format!(
                        "ScopeMetrics #{j} schema_url={:?} scope={}",
                        sm.schema_url,
                        json(&sm.scope)
                    ));
                    for (k, metric) in sm.metrics.iter().enumerate() {
                        lines.push(format!(
                            "Metric #{k} name={:?} description={:?} unit={:?} type={} points={} metadata={}",
                            metric.name,
                            metric.description,
                            metric.unit,
                            metric_type(metric.data.as_ref()),
                            data_point_count(metric.data.as_ref()),
                            json(&metric.metadata),
                        ));
                        detailed_points(metric.data.as_ref(), &mut lines);
                    }
                }
            }
        }
        Telemetry::Logs(p) => {
            let Some(r) = decoded(p, &mut lines) else {
                return lines;
            };
            for (i, rl) in r.resource_logs.iter().enumerate() {
                lines.push(format!(
                    "ResourceLog #{i} schema_url={:?} resource={}",
                    rl.schema_url,
                    json(&rl.resource)
                ));
                for (j, sl) in rl.scope_logs.iter().enumerate() {
                    lines.push(format!(
                        "ScopeLog #{j} schema_url={:?} scope={}",
                        sl.schema_url,
                        json(&sl.scope)
                    ));
                    for (k, rec) in sl.log_records.iter().enumerate() {
                        lines.push(format!("LogRecord #{k} {}", json(rec)));
                    }
                }
            }
        }
    }
    lines
}

fn temporality(value: i32) -> &'static str {
    match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Delta) => "Delta",
        Ok(AggregationTemporality::Cumulative) => "Cumulative",
        _ => "Unspecified",
    }
}

fn metric_type(data: Option<&Data>) -> String {
    match data {
        Some(Data::Gauge(_)) => "Gauge".to_string(),
        Some(Data::Sum(s)) => {
            format!(
                "Sum temporality={} monotonic={}",
                temporality(s.aggregation_temporality),
                s.is_monotonic
            )
        }
        Some(Data::Histogram(h)) => {
            format!("Histogram temporality={}", temporality(h.aggregation_temporality))
        }
        Some(Data::ExponentialHistogram(h)) => {
            format!(
                "ExponentialHistogram temporality={}",
                temporality(h.aggregation_temporality)
            )
        }
        Some(Data::Summary(_)) => "Summary".to_string(),
        None => "Empty".to_string(),
    }
}

fn detailed_points(data: Option<&Data>, lines: &mut Vec<String>) {
    fn each<P: Serialize>(points: &[P], lines: &mut Vec<String>) {
        lines.extend(
            points
                .iter()
                .enumerate()
                .map(|(i, p)| format!("DataPoint #{i} {}", json(p))),
        );
    }
    match data {
        Some(Data::Gauge(g)) => each(&g.data_points, lines),
        Some(Data::Sum(s)) => each(&s.data_points, lines),
        Some(Data::Histogram(h)) => each(&h.data_points, lines),
        Some(Data::ExponentialHistogram(h)) => each(&h.data_points, lines),
        Some(Data::Summary(s)) => each(&s.data_points, lines),
        None => {}
    }
}

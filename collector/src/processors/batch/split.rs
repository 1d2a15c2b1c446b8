//! Merging requests into one, and cutting one into pieces of at most N items.
//!
//! An OTLP request is a tree: resources hold scopes, scopes hold spans (or metrics, whose
//! data hold data points, or log records). A piece must stay a valid request on its
//! own, so every cut inside a resource or scope copies that resource's or scope's
//! description onto both sides; items themselves are moved, never copied. The OTel
//! Collector's batch processor splits the same way (`SplitTraces`, `SplitMetrics` — for
//! metrics by data points, copying the metric's name, unit and type onto each piece).

use std::mem;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, SummaryDataPoint,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::consumer::{Telemetry, data_point_count};

/// A node of the request tree that can be cut by item count.
trait Group: Sized {
    /// The items (spans, data points, log records) under this node.
    fn items(&self) -> usize;

    /// Cuts this node, which holds more than `first` items, into pieces: the first with
    /// exactly `first` items, then pieces of `max` items, the last with the rest.
    /// `0 < first <= max`.
    fn into_parts(self, first: usize, max: usize) -> Vec<Self>;
}

/// Distributes `groups`, in order, into chunks: the first holds at most `first_room`
/// items, the others at most `max`. Every chunk but the last is filled exactly, cutting
/// a group when it does not fit. `max > 0`.
///
/// Each item is moved once, so cutting a request of n items costs O(n) whatever `max`.
fn chunk_with<G: Group>(groups: Vec<G>, first_room: usize, max: usize) -> Vec<Vec<G>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut room = first_room;
    for group in groups {
        let count = group.items();
        if count <= room {
            // Item-less groups land here too and ride along with their neighbours.
            room -= count;
            cur.push(group);
            continue;
        }
        if room == 0 {
            out.push(mem::take(&mut cur));
            room = max;
            if count <= room {
                room -= count;
                cur.push(group);
                continue;
            }
        }
        let mut parts = group.into_parts(room, max).into_iter().peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_some() {
                // The first part fills the current chunk; middle parts are whole chunks.
                cur.push(part);
                out.push(mem::take(&mut cur));
            } else {
                room = max.saturating_sub(part.items());
                cur.push(part);
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Cuts `parent` by cutting its children (reached through `children`) and giving each
/// piece a copy of the parent's own fields (its resource, scope, or metric description).
fn split_parent<P: Clone, C: Group>(
    mut parent: P,
    children: fn(&mut P) -> &mut Vec<C>,
    first: usize,
    max: usize,
) -> Vec<P> {
    let kids = mem::take(children(&mut parent));
    let mut pieces = chunk_with(kids, first, max);
    let last = pieces.pop();
    // With the children taken out, cloning the parent copies only its description.
    let mut out: Vec<P> = pieces
        .into_iter()
        .map(|piece| {
            let mut p = parent.clone();
            *children(&mut p) = piece;
            p
        })
        .collect();
    if let Some(piece) = last {
        *children(&mut parent) = piece;
        out.push(parent);
    }
    out
}

/// Items are the leaves: one item each, never cut (a chunk always has room for one).
macro_rules! leaf {
    ($($t:ty),*) => {$(
        impl Group for $t {
            fn items(&self) -> usize {
                1
            }
            fn into_parts(self, _first: usize, _max: usize) -> Vec<Self> {
                vec![self]
            }
        }
    )*};
}
leaf!(
    Span,
    LogRecord,
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    SummaryDataPoint
);

/// A node whose items are the sum of its children's.
macro_rules! parent {
    ($t:ty, $field:ident) => {
        impl Group for $t {
            fn items(&self) -> usize {
                self.$field.iter().map(Group::items).sum()
            }
            fn into_parts(self, first: usize, max: usize) -> Vec<Self> {
                split_parent(self, |p| &mut p.$field, first, max)
            }
        }
    };
}
parent!(ResourceSpans, scope_spans);
parent!(ScopeSpans, spans);
parent!(ResourceMetrics, scope_metrics);
parent!(ScopeMetrics, metrics);
parent!(ResourceLogs, scope_logs);
parent!(ScopeLogs, log_records);

impl Group for Metric {
    fn items(&self) -> usize {
        data_point_count(self.data.as_ref())
    }

    fn into_parts(mut self, first: usize, max: usize) -> Vec<Self> {
        // Each piece keeps the metric's name, unit and type, and the type's own fields
        // (temporality, monotonicity), so it means the same thing on its own.
        macro_rules! cut {
            ($variant:ident, $data:expr) => {{
                let mut data = $data;
                let points = mem::take(&mut data.data_points);
                chunk_with(points, first, max)
                    .into_iter()
                    .map(|piece| {
                        let mut d = data.clone();
                        d.data_points = piece;
                        Metric {
                            data: Some(Data::$variant(d)),
                            ..self.clone()
                        }
                    })
                    .collect()
            }};
        }
        match self.data.take() {
            Some(Data::Gauge(g)) => cut!(Gauge, g),
            Some(Data::Sum(s)) => cut!(Sum, s),
            Some(Data::Histogram(h)) => cut!(Histogram, h),
            Some(Data::ExponentialHistogram(h)) => cut!(ExponentialHistogram, h),
            Some(Data::Summary(s)) => cut!(Summary, s),
            None => vec![self],
        }
    }
}

/// Cuts `data` into requests of at most `max` items each (`max > 0`), in order. Every
/// item appears in exactly one piece, under a copy of its resource and scope.
pub(super) fn chunk(data: Telemetry, max: usize) -> Vec<Telemetry> {
    let max = max.max(1);
    match data {
        Telemetry::Traces(r) => chunk_with(r.resource_spans, max, max)
            .into_iter()
            .map(|resource_spans| Telemetry::Traces(ExportTraceServiceRequest { resource_spans }))
            .collect(),
        Telemetry::Metrics(r) => chunk_with(r.resource_metrics, max, max)
            .into_iter()
            .map(|resource_metrics| Telemetry::Metrics(ExportMetricsServiceRequest { resource_metrics }))
            .collect(),
        Telemetry::Logs(r) => chunk_with(r.resource_logs, max, max)
            .into_iter()
            .map(|resource_logs| Telemetry::Logs(ExportLogsServiceRequest { resource_logs }))
            .collect(),
    }
}

/// Appends `from`'s resources to `into`'s, as the OTel Collector's batcher does (it does
/// not merge equal resources). Gives `from` back if the signals differ.
pub(super) fn append(into: &mut Telemetry, from: Telemetry) -> Result<(), Telemetry> {
    match (into, from) {
        (Telemetry::Traces(a), Telemetry::Traces(b)) => a.resource_spans.extend(b.resource_spans),
        (Telemetry::Metrics(a), Telemetry::Metrics(b)) => a.resource_metrics.extend(b.resource_metrics),
        (Telemetry::Logs(a), Telemetry::Logs(b)) => a.resource_logs.extend(b.resource_logs),
        (_, from) => return Err(from),
    }
    Ok(())
}

//! Merging requests into one, and cutting one into pieces of at most N items.
//!
//! An OTLP request is a tree: resources hold scopes, scopes hold spans (or metrics, whose
//! data hold data points, or log records). A piece must stay a valid request on its
//! own, so every cut inside a resource or scope copies that resource's or scope's
//! description onto both sides; items themselves are moved, never copied. The OTel
//! Collector's batch processor splits the same way (`SplitTraces`, `SplitMetrics` — for
//! metrics by data points, copying the metric's name, unit and type onto each piece).
//!
//! Traces and logs carried raw ([`crate::pdata`]) are merged by concatenating their
//! encodings and cut the same way on an index of byte ranges: each piece re-emits the
//! resource's and scope's own fields (`resource`, `scope`, `schema_url`) around a subset
//! of the items' bytes, which are copied, never decoded.

use std::mem;
use std::ops::Range;

use bytes::Bytes;
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
use crate::pdata::wire::{self, Counts, ITEMS_FIELD, LEN, RESOURCES_FIELD, SCOPES_FIELD};
use crate::pdata::{OtlpRequest, Payload, WireError, concat};

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
        Telemetry::Traces(p) if p.is_raw() => chunk_raw(p, max, Telemetry::Traces),
        Telemetry::Logs(p) if p.is_raw() => chunk_raw(p, max, Telemetry::Logs),
        Telemetry::Traces(p) => match p.into_decoded() {
            Ok(r) => chunk_with(r.resource_spans, max, max)
                .into_iter()
                .map(|resource_spans| Telemetry::Traces(ExportTraceServiceRequest { resource_spans }.into()))
                .collect(),
            // Only a raw payload can fail to decode, and raw ones took the branch above.
            Err(err) => unsplittable(err.to_string(), Telemetry::Traces(Payload::default())),
        },
        Telemetry::Metrics(r) => chunk_with(r.resource_metrics, max, max)
            .into_iter()
            .map(|resource_metrics| Telemetry::Metrics(ExportMetricsServiceRequest { resource_metrics }))
            .collect(),
        Telemetry::Logs(p) => match p.into_decoded() {
            Ok(r) => chunk_with(r.resource_logs, max, max)
                .into_iter()
                .map(|resource_logs| Telemetry::Logs(ExportLogsServiceRequest { resource_logs }.into()))
                .collect(),
            Err(err) => unsplittable(err.to_string(), Telemetry::Logs(Payload::default())),
        },
    }
}

fn unsplittable(reason: String, data: Telemetry) -> Vec<Telemetry> {
    tracing::error!(error = %reason, "A batch could not be cut to send_batch_max_size; it is sent whole.");
    vec![data]
}

/// Merges payloads into as few requests as possible: one per signal, in order. A
/// signal's raw and decoded payloads merge into one raw request (the decoded ones are
/// encoded, see [`concat`]); decoded ones alone stay decoded, their resources appended
/// as the OTel Collector's batcher does (it does not merge equal resources).
pub(super) fn merge(parts: Vec<Telemetry>) -> Vec<Telemetry> {
    let mut traces = Vec::new();
    let mut metrics: Option<ExportMetricsServiceRequest> = None;
    let mut logs = Vec::new();
    for part in parts {
        match part {
            Telemetry::Traces(p) => traces.push(p),
            Telemetry::Metrics(r) => match metrics.as_mut() {
                None => metrics = Some(r),
                Some(m) => m.resource_metrics.extend(r.resource_metrics),
            },
            Telemetry::Logs(p) => logs.push(p),
        }
    }
    let mut out = Vec::new();
    if let Some(p) = merge_payloads(traces, |r, next| r.resource_spans.extend(next.resource_spans)) {
        out.push(Telemetry::Traces(p));
    }
    if let Some(m) = metrics {
        out.push(Telemetry::Metrics(m));
    }
    if let Some(p) = merge_payloads(logs, |r, next| r.resource_logs.extend(next.resource_logs)) {
        out.push(Telemetry::Logs(p));
    }
    out
}

fn merge_payloads<R: OtlpRequest>(mut parts: Vec<Payload<R>>, append: fn(&mut R, R)) -> Option<Payload<R>> {
    if parts.len() <= 1 {
        return parts.pop();
    }
    if parts.iter().any(Payload::is_raw) {
        return Some(concat(&parts));
    }
    let mut iter = parts.into_iter().filter_map(|p| p.into_decoded().ok());
    let mut first = iter.next()?;
    for next in iter {
        append(&mut first, next);
    }
    Some(first.into())
}

/// One resource of a raw request: its own fields (everything but its scopes) as byte
/// ranges of the request, and its scopes.
#[derive(Clone)]
struct RawResource {
    envelope: Vec<Range<usize>>,
    scopes: Vec<RawScope>,
}

/// One scope of a raw request: its own fields and its items.
#[derive(Clone)]
struct RawScope {
    envelope: Vec<Range<usize>>,
    items: Vec<RawItem>,
}

/// One item (span or log record): the byte range of its whole field, key included.
#[derive(Clone)]
struct RawItem(Range<usize>);

leaf!(RawItem);
parent!(RawResource, scopes);
parent!(RawScope, items);

/// Indexes a validated raw request down to its items.
fn index(bytes: &[u8]) -> Result<Vec<RawResource>, WireError> {
    let mut resources = Vec::new();
    for field in wire::fields(bytes, 0..bytes.len()) {
        let field = field?;
        // The request's only field; others are unknown and, as a decoder would, dropped.
        if field.tag != RESOURCES_FIELD || field.wire != LEN {
            continue;
        }
        let mut resource = RawResource {
            envelope: Vec::new(),
            scopes: Vec::new(),
        };
        for field in wire::fields(bytes, field.value) {
            let field = field?;
            if field.tag != SCOPES_FIELD || field.wire != LEN {
                resource.envelope.push(field.whole);
                continue;
            }
            let mut scope = RawScope {
                envelope: Vec::new(),
                items: Vec::new(),
            };
            for field in wire::fields(bytes, field.value) {
                let field = field?;
                if field.tag == ITEMS_FIELD && field.wire == LEN {
                    scope.items.push(RawItem(field.whole));
                } else {
                    scope.envelope.push(field.whole);
                }
            }
            resource.scopes.push(scope);
        }
        resources.push(resource);
    }
    Ok(resources)
}

fn ranges_len<'a>(ranges: impl Iterator<Item = &'a Range<usize>>) -> usize {
    ranges.map(|r| r.end.saturating_sub(r.start)).sum()
}

fn scope_len(scope: &RawScope) -> usize {
    ranges_len(scope.envelope.iter()) + ranges_len(scope.items.iter().map(|i| &i.0))
}

fn resource_len(resource: &RawResource) -> usize {
    ranges_len(resource.envelope.iter())
        + resource
            .scopes
            .iter()
            .map(|s| wire::len_field_size(SCOPES_FIELD, scope_len(s)))
            .sum::<usize>()
}

/// The bytes of `range`; the index only holds ranges inside `bytes`, so this is the
/// whole range, but a bad index must not panic.
fn slice(bytes: &[u8], range: Range<usize>) -> &[u8] {
    bytes.get(range).unwrap_or_default()
}

/// Encodes the resources of one piece as a request: each resource and scope re-emitted
/// with its own fields first, then its children.
fn encode_piece(bytes: &[u8], resources: &[RawResource]) -> (Bytes, Counts) {
    let total: usize = resources
        .iter()
        .map(|r| wire::len_field_size(RESOURCES_FIELD, resource_len(r)))
        .sum();
    let mut out = Vec::with_capacity(total);
    let mut counts = Counts {
        resources: resources.len(),
        items: 0,
    };
    for resource in resources {
        wire::put_len_prefix(&mut out, RESOURCES_FIELD, resource_len(resource));
        for range in &resource.envelope {
            out.extend_from_slice(slice(bytes, range.clone()));
        }
        for scope in &resource.scopes {
            wire::put_len_prefix(&mut out, SCOPES_FIELD, scope_len(scope));
            for range in &scope.envelope {
                out.extend_from_slice(slice(bytes, range.clone()));
            }
            counts.items += scope.items.len();
            // Items of a scope are usually adjacent: copy each run of them at once.
            let mut run: Option<Range<usize>> = None;
            for item in &scope.items {
                match run.as_mut() {
                    Some(r) if r.end == item.0.start => r.end = item.0.end,
                    _ => {
                        if let Some(r) = run.take() {
                            out.extend_from_slice(slice(bytes, r));
                        }
                        run = Some(item.0.clone());
                    }
                }
            }
            if let Some(r) = run {
                out.extend_from_slice(slice(bytes, r));
            }
        }
    }
    (Bytes::from(out), counts)
}

/// Cuts a raw request into raw requests of at most `max` items, by the same rules as
/// decoded ones ([`chunk_with`] over the index).
fn chunk_raw<R: OtlpRequest>(
    payload: Payload<R>,
    max: usize,
    wrap: fn(Payload<R>) -> Telemetry,
) -> Vec<Telemetry> {
    // Cutting needs the request in one buffer: a batch of several parts is joined here,
    // a copy only `send_batch_max_size` asks for.
    let Some(bytes) = payload.raw() else {
        return vec![wrap(payload)];
    };
    match index(&bytes) {
        Ok(resources) => chunk_with(resources, max, max)
            .iter()
            .map(|piece| {
                let (piece, counts) = encode_piece(&bytes, piece);
                wrap(Payload::from_validated(piece, counts))
            })
            .collect(),
        Err(err) => unsplittable(err.to_string(), wrap(payload)),
    }
}

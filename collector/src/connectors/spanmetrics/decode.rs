//! The few fields of a traces export request spanmetrics reads, decoded from the raw
//! protobuf without the rest.
//!
//! A full `ExportTraceServiceRequest` decode allocates every span's ids, events, links and
//! attribute values; spanmetrics needs the resource's attributes, and per span its name,
//! kind, times, status code and (for `dimensions`) a few attributes. These messages
//! declare only those fields, so prost skips the others; strings and attribute values stay
//! slices of the request's buffer ([`Bytes`]) until a series needs them.

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::KeyValue;

/// `ExportTraceServiceRequest`, resource_spans only.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Request {
    /// `resource_spans = 1`.
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ResourceSpans`: the resource and its scopes' spans.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ResourceSpans {
    /// `resource = 1`.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// `scope_spans = 2`.
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

/// `Resource`: its attributes, decoded whole (they are exported on the metrics).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Resource {
    /// `attributes = 1`.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeSpans`: the spans only.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ScopeSpans {
    /// `spans = 2`.
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

/// `Span`: what a series key and a duration need.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Span {
    /// `trace_id = 1`, for exemplars.
    #[prost(bytes = "bytes", tag = "1")]
    pub trace_id: Bytes,
    /// `span_id = 2`, for exemplars.
    #[prost(bytes = "bytes", tag = "2")]
    pub span_id: Bytes,
    /// `name = 5`, UTF-8 checked by the receiver's wire walk.
    #[prost(bytes = "bytes", tag = "5")]
    pub name: Bytes,
    /// `kind = 6`.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    /// `start_time_unix_nano = 7`.
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    /// `end_time_unix_nano = 8`.
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    /// `attributes = 9`, each value left encoded.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<LazyKeyValue>,
    /// `status = 15`.
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

/// A `KeyValue` whose `AnyValue` stays encoded until a dimension asks for it.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LazyKeyValue {
    /// `key = 1`.
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// `value = 2`, the encoded `AnyValue`.
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `Status`: the code only.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Status {
    /// `code = 3`.
    #[prost(int32, tag = "3")]
    pub code: i32,
}

/// otelcol's name for a span kind (`traceutil.SpanKindStr`).
pub(crate) fn span_kind_str(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        // Unknown values read as unspecified, as pdata's String() of an unknown kind is
        // not a name a query could match.
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

/// otelcol's name for a status code (`traceutil.StatusCodeStr`).
pub(crate) fn status_code_str(code: i32) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

//! proptest strategies for OTLP traces and logs requests, shared by the wire walker's and
//! the batch processor's property tests: several resources, scopes and items, attributes
//! of every `AnyValue` kind (nested arrays and key-value lists included), events, links,
//! status, entity refs, and non-ASCII strings.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Short strings, often non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z./_]{0,12}", "\\PC{0,6}"]
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(Vec::new()), vec(any::<u8>(), len)]
}

/// Every `AnyValue` kind, nested up to three levels. Doubles are finite so that requests
/// compare equal to themselves.
pub(crate) fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        Just(None),
        text().prop_map(|s| Some(Value::StringValue(s))),
        any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
        any::<i64>().prop_map(|i| Some(Value::IntValue(i))),
        (-1e12f64..1e12).prop_map(|d| Some(Value::DoubleValue(d))),
        vec(any::<u8>(), 0..10).prop_map(|b| Some(Value::BytesValue(b))),
        any::<i32>().prop_map(|i| Some(Value::StringValueStrindex(i))),
    ]
    .prop_map(|value| AnyValue { value });
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values })),
            }),
            vec((text(), option::of(inner)), 0..4).prop_map(|kvs| AnyValue {
                value: Some(Value::KvlistValue(KeyValueList {
                    values: kvs
                        .into_iter()
                        .map(|(key, value)| KeyValue {
                            key,
                            value,
                            key_strindex: 0,
                        })
                        .collect(),
                })),
            }),
        ]
    })
}

fn key_value() -> impl Strategy<Value = KeyValue> {
    (
        text(),
        option::of(any_value()),
        prop_oneof![Just(0), any::<i32>()],
    )
        .prop_map(|(key, value, key_strindex)| KeyValue {
            key,
            value,
            key_strindex,
        })
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    vec(key_value(), 0..4)
}

fn resource() -> impl Strategy<Value = Option<Resource>> {
    option::of(
        (
            attributes(),
            any::<u32>(),
            vec((text(), text(), vec(text(), 0..3), vec(text(), 0..2)), 0..2),
        )
            .prop_map(|(attributes, dropped_attributes_count, refs)| Resource {
                attributes,
                dropped_attributes_count,
                entity_refs: refs
                    .into_iter()
                    .map(|(schema_url, r#type, id_keys, description_keys)| EntityRef {
                        schema_url,
                        r#type,
                        id_keys,
                        description_keys,
                    })
                    .collect(),
            }),
    )
}

fn scope() -> impl Strategy<Value = Option<InstrumentationScope>> {
    option::of((text(), text(), attributes(), any::<u32>()).prop_map(
        |(name, version, attributes, dropped_attributes_count)| InstrumentationScope {
            name,
            version,
            attributes,
            dropped_attributes_count,
        },
    ))
}

fn event() -> impl Strategy<Value = Event> {
    (any::<u64>(), text(), attributes(), any::<u32>()).prop_map(
        |(time_unix_nano, name, attributes, dropped_attributes_count)| Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        },
    )
}

fn link() -> impl Strategy<Value = Link> {
    (id(16), id(8), text(), attributes(), any::<u32>(), any::<u32>()).prop_map(
        |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| Link {
            trace_id,
            span_id,
            trace_state,
            attributes,
            dropped_attributes_count,
            flags,
        },
    )
}

pub(crate) fn span() -> impl Strategy<Value = Span> {
    let ids = (id(16), id(8), id(8), text(), any::<u32>());
    let body = (text(), 0i32..6, any::<u64>(), any::<u64>());
    let children = (
        attributes(),
        vec(event(), 0..3),
        vec(link(), 0..2),
        option::of((text(), 0i32..3).prop_map(|(message, code)| Status { message, code })),
        (any::<u32>(), any::<u32>(), any::<u32>()),
    );
    (ids, body, children).prop_map(
        |(
            (trace_id, span_id, parent_span_id, trace_state, flags),
            (name, kind, start_time_unix_nano, end_time_unix_nano),
            (
                attributes,
                events,
                links,
                status,
                (dropped_attributes_count, dropped_events_count, dropped_links_count),
            ),
        )| Span {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano,
            end_time_unix_nano,
            attributes,
            dropped_attributes_count,
            events,
            dropped_events_count,
            links,
            dropped_links_count,
            status,
        },
    )
}

/// A traces request of up to 3 resources × 3 scopes × 4 spans.
pub(crate) fn traces() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope_spans =
        (scope(), vec(span(), 0..4), text()).prop_map(|(scope, spans, schema_url)| ScopeSpans {
            scope,
            spans,
            schema_url,
        });
    let resource_spans =
        (resource(), vec(scope_spans, 0..3), text()).prop_map(|(resource, scope_spans, schema_url)| {
            ResourceSpans {
                resource,
                scope_spans,
                schema_url,
            }
        });
    vec(resource_spans, 0..3).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

fn log_record() -> impl Strategy<Value = LogRecord> {
    let times = (any::<u64>(), any::<u64>(), 0i32..25, text());
    let rest = (
        option::of(any_value()),
        attributes(),
        any::<u32>(),
        any::<u32>(),
        id(16),
        id(8),
        text(),
    );
    (times, rest).prop_map(
        |(
            (time_unix_nano, observed_time_unix_nano, severity_number, severity_text),
            (body, attributes, dropped_attributes_count, flags, trace_id, span_id, event_name),
        )| LogRecord {
            time_unix_nano,
            observed_time_unix_nano,
            severity_number,
            severity_text,
            body,
            attributes,
            dropped_attributes_count,
            flags,
            trace_id,
            span_id,
            event_name,
        },
    )
}

/// A logs request of up to 3 resources × 3 scopes × 4 log records.
pub(crate) fn logs() -> impl Strategy<Value = ExportLogsServiceRequest> {
    let scope_logs =
        (scope(), vec(log_record(), 0..4), text()).prop_map(|(scope, log_records, schema_url)| ScopeLogs {
            scope,
            log_records,
            schema_url,
        });
    let resource_logs =
        (resource(), vec(scope_logs, 0..3), text()).prop_map(|(resource, scope_logs, schema_url)| {
            ResourceLogs {
                resource,
                scope_logs,
                schema_url,
            }
        });
    vec(resource_logs, 0..3).prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

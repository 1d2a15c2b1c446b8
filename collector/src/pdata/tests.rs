use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use proptest::prelude::*;
use prost::Message;

use super::wire::{self, Counts, WireReason};
use super::*;

fn span(name: &str) -> Span {
    Span {
        name: name.into(),
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        start_time_unix_nano: 7,
        kind: 2,
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn walk_traces(bytes: &[u8]) -> Result<Counts, WireError> {
    wire::walk(&wire::TRACES, bytes)
}

/// The walker's rule: whatever it accepts, prost decodes, with the same counts.
fn check_agrees(bytes: &[u8]) {
    let walked = walk_traces(bytes);
    let decoded = ExportTraceServiceRequest::decode(bytes);
    match (&walked, &decoded) {
        (Ok(counts), Ok(request)) => assert_eq!(*counts, request.counts(), "counts differ"),
        (Ok(_), Err(err)) => panic!("the walker accepted what prost rejects ({err}): {bytes:02x?}"),
        _ => {}
    }
}

/// Replaces the only occurrence of `marker` in `bytes` by `with` (same length).
fn patch(bytes: &mut [u8], marker: &[u8], with: &[u8]) -> usize {
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker present");
    bytes[at..at + with.len()].copy_from_slice(with);
    at
}

#[test]
fn counts_resources_and_spans_of_a_valid_request() {
    let mut req = request((0..5).map(|i| span(&format!("s{i}"))).collect());
    req.resource_spans.push(ResourceSpans::default());
    req.resource_spans[1].scope_spans = vec![
        ScopeSpans::default(),
        ScopeSpans {
            spans: vec![span("x"), span("y")],
            ..Default::default()
        },
    ];
    let bytes = req.encode_to_vec();
    assert_eq!(
        walk_traces(&bytes).unwrap(),
        Counts {
            resources: 2,
            items: 7
        }
    );
    assert_eq!(
        walk_traces(&[]).unwrap(),
        Counts::default(),
        "an empty request is valid"
    );
}

#[test]
fn invalid_utf8_names_the_span_the_field_and_the_byte() {
    let spans = (0..13)
        .map(|i| span(if i == 12 { "MARK-name" } else { "ok" }))
        .collect();
    let mut bytes = request(spans).encode_to_vec();
    let at = patch(&mut bytes, b"MARK", &[b'M', 0xff]);
    let err = walk_traces(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("span 12: field 5 (name) at byte {}: invalid UTF-8", at + 1)
    );
    assert_eq!(
        err.field_path(),
        "resource_spans[0].scope_spans[0].spans[12].name"
    );
    assert_eq!(err.offset(), at + 1);
    assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
}

#[test]
fn errors_inside_attributes_name_the_path_down_to_the_value() {
    let mut s = span("a");
    s.attributes.push(KeyValue {
        key: "k".into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue("MARK".into())),
        }),
        ..Default::default()
    });
    let mut bytes = request(vec![span("first"), s]).encode_to_vec();
    let at = patch(&mut bytes, b"MARK", &[0xc3, 0x28]);
    let err = walk_traces(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "span 1: field 9 (attributes) > field 2 (value) > field 1 (string_value) at byte {at}: invalid UTF-8"
        )
    );
    assert_eq!(
        err.field_path(),
        "resource_spans[0].scope_spans[0].spans[1].attributes.value.string_value"
    );
}

#[test]
fn logs_errors_name_the_log_record() {
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord::default(),
                    LogRecord {
                        severity_text: "MARK".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut bytes = req.encode_to_vec();
    let at = patch(&mut bytes, b"MARK", &[0xff]);
    let err = wire::walk(&wire::LOGS, &bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("log record 1: field 3 (severity_text) at byte {at}: invalid UTF-8")
    );
    assert_eq!(
        err.field_path(),
        "resource_logs[0].scope_logs[0].log_records[1].severity_text"
    );
    assert_eq!(
        wire::walk(&wire::LOGS, &req.encode_to_vec()).unwrap(),
        Counts {
            resources: 1,
            items: 2
        }
    );
}

/// The key of field `tag` with wire type `wire`.
fn key(tag: u32, wire: u8) -> Vec<u8> {
    let mut out = Vec::new();
    wire::put_varint(&mut out, u64::from((tag << 3) | u32::from(wire)));
    out
}

/// A span holding exactly `fields` (already encoded), inside one resource and scope.
fn wrap_span(fields: &[u8]) -> Vec<u8> {
    let mut scope = Vec::new();
    wire::put_len_prefix(&mut scope, 2, fields.len());
    scope.extend_from_slice(fields);
    let mut resource = Vec::new();
    wire::put_len_prefix(&mut resource, 2, scope.len());
    resource.extend_from_slice(&scope);
    let mut out = Vec::new();
    wire::put_len_prefix(&mut out, 1, resource.len());
    out.extend_from_slice(&resource);
    out
}

#[test]
fn a_known_field_with_the_wrong_wire_type_is_rejected_as_prost_does() {
    // start_time_unix_nano (field 7, fixed64) sent as a varint.
    let bytes = wrap_span(&[7 << 3, 5]);
    let err = walk_traces(&bytes).unwrap_err();
    assert_eq!(
        *err.reason(),
        WireReason::WrongWireType {
            actual: 0,
            expected: 1
        }
    );
    assert!(
        err.to_string()
            .starts_with("span 0: field 7 (start_time_unix_nano) at byte 6: wire type 0"),
        "{err}"
    );
    assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
}

#[test]
fn lengths_past_the_end_of_their_message_are_rejected() {
    // name (field 5) claims 10 bytes; the span has 2 left.
    let bytes = wrap_span(&[5 << 3 | 2, 10, b'a', b'b']);
    let err = walk_traces(&bytes).unwrap_err();
    assert_eq!(err.reason(), &WireReason::PastEnd { needed: 10, left: 2 });
    assert!(err.to_string().contains("field 5 (name)"), "{err}");
    check_agrees(&bytes);
    // The same bytes with the span's own length one short: the name crosses the span's end
    // although it fits the buffer.
    let mut bytes = wrap_span(&[5 << 3 | 2, 2, b'a', b'b']);
    let span_len_at = 5;
    assert_eq!(bytes[span_len_at], 4);
    bytes[span_len_at] = 3;
    bytes.push(0);
    assert!(walk_traces(&bytes).is_err());
    assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped_at_every_level() {
    // Unknown fields: varint, fixed64, length-delimited, fixed32, and a group holding a
    // nested group, in the span, the scope, the resource and the request.
    let unknown: Vec<u8> = [
        key(100, 0),
        vec![0x96, 0x01],
        key(101, 1),
        vec![1, 2, 3, 4, 5, 6, 7, 8],
        key(102, 2),
        vec![3, 0xff, 0xfe, 0xfd],
        key(103, 5),
        vec![1, 2, 3, 4],
        key(104, 3),
        vec![8, 1],
        key(105, 3),
        key(105, 4),
        key(104, 4),
    ]
    .concat();
    let mut span = unknown.clone();
    span.extend_from_slice(&[5 << 3 | 2, 1, b'x']);
    let mut scope = unknown.clone();
    wire::put_len_prefix(&mut scope, 2, span.len());
    scope.extend_from_slice(&span);
    let mut resource = unknown.clone();
    wire::put_len_prefix(&mut resource, 2, scope.len());
    resource.extend_from_slice(&scope);
    let mut bytes = unknown.clone();
    wire::put_len_prefix(&mut bytes, 1, resource.len());
    bytes.extend_from_slice(&resource);
    assert_eq!(
        walk_traces(&bytes).unwrap(),
        Counts {
            resources: 1,
            items: 1
        }
    );
    let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.resource_spans[0].scope_spans[0].spans[0].name, "x");

    // A group closed by another field's end-group tag, and a stray end-group.
    for bad in [
        wrap_span(&[key(104, 3), key(105, 4)].concat()),
        wrap_span(&key(104, 4)),
    ] {
        let err = walk_traces(&bad).unwrap_err();
        assert_eq!(err.reason(), &WireReason::UnexpectedEndGroup);
        assert!(ExportTraceServiceRequest::decode(bad.as_slice()).is_err());
    }
}

#[test]
fn varints_and_keys_are_limited_as_prost_limits_them() {
    // kind (field 6) as a 10-byte varint whose last byte is 1: u64 with bit 63 set, valid.
    let mut ten = vec![6 << 3];
    ten.extend_from_slice(&[0xff; 9]);
    ten.push(0x01);
    check_agrees(&wrap_span(&ten));
    assert!(walk_traces(&wrap_span(&ten)).is_ok());
    // Last byte 2 overflows 64 bits; 11 bytes are too long.
    let mut overflow = ten.clone();
    *overflow.last_mut().unwrap() = 0x02;
    let mut eleven = ten.clone();
    *eleven.last_mut().unwrap() = 0x81;
    eleven.push(0x01);
    for bad in [overflow, eleven] {
        let bytes = wrap_span(&bad);
        assert_eq!(
            walk_traces(&bytes).unwrap_err().reason(),
            &WireReason::InvalidVarint
        );
        assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
    }
    // A key of 2^32 (over 32 bits), field number 0, wire types 6 and 7.
    for (bad, reason) in [
        (
            vec![0x80, 0x80, 0x80, 0x80, 0x10, 0],
            WireReason::InvalidKey(1 << 32),
        ),
        (vec![0x00, 0], WireReason::TagZero),
        (vec![5 << 3 | 6], WireReason::InvalidWireType(6)),
        (vec![5 << 3 | 7], WireReason::InvalidWireType(7)),
    ] {
        let bytes = wrap_span(&bad);
        assert_eq!(walk_traces(&bytes).unwrap_err().reason(), &reason);
        assert!(ExportTraceServiceRequest::decode(bytes.as_slice()).is_err());
    }
}

/// An attribute value of arrays nested `depth` deep.
fn nested(depth: usize) -> AnyValue {
    let mut value = AnyValue {
        value: Some(Value::IntValue(1)),
    };
    for _ in 0..depth {
        value = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue { values: vec![value] })),
        };
    }
    value
}

#[test]
fn the_recursion_limit_is_prosts_to_the_level() {
    let mut boundary = None;
    for depth in 40..50 {
        let mut s = span("deep");
        s.attributes.push(KeyValue {
            key: "k".into(),
            value: Some(nested(depth)),
            ..Default::default()
        });
        let bytes = request(vec![s]).encode_to_vec();
        let walked = walk_traces(&bytes);
        let decoded = ExportTraceServiceRequest::decode(bytes.as_slice());
        assert_eq!(
            walked.is_ok(),
            decoded.is_ok(),
            "depth {depth}: {walked:?} / {decoded:?}"
        );
        if let Err(err) = walked {
            assert_eq!(err.reason(), &WireReason::RecursionLimit);
            boundary.get_or_insert(depth);
        }
    }
    assert!(boundary.is_some(), "the limit is reached within the depths tried");

    // Unknown groups count against the same budget while skipped.
    for depth in 90..100 {
        let mut fields = Vec::new();
        for _ in 0..depth {
            fields.extend(key(104, 3));
        }
        for _ in 0..depth {
            fields.extend(key(104, 4));
        }
        let bytes = wrap_span(&fields);
        let walked = walk_traces(&bytes);
        let decoded = ExportTraceServiceRequest::decode(bytes.as_slice());
        assert_eq!(walked.is_ok(), decoded.is_ok(), "group depth {depth}");
    }
}

#[test]
fn every_truncation_of_a_valid_request_agrees_with_prost() {
    let mut s = span("checkout");
    s.attributes.push(KeyValue {
        key: "nested".into(),
        value: Some(nested(3)),
        ..Default::default()
    });
    let bytes = request(vec![s, span("two")]).encode_to_vec();
    for len in 0..=bytes.len() {
        check_agrees(&bytes[..len]);
    }
}

#[test]
fn raw_payloads_are_cheap_to_encode_and_compare_by_content() {
    let req = request(vec![span("a"), span("b")]);
    let bytes = Bytes::from(req.encode_to_vec());
    let raw = TracesPayload::from_wire(bytes.clone()).unwrap();
    assert_eq!(raw.item_count(), 2);
    assert_eq!(
        raw.encode().as_ptr(),
        bytes.as_ptr(),
        "encoding a raw payload copies nothing"
    );
    assert_eq!(raw, TracesPayload::from(req.clone()));
    assert_ne!(raw, TracesPayload::from(request(vec![span("a")])));
    assert_eq!(raw.into_decoded().unwrap(), req);
    assert!(TracesPayload::from_wire(Bytes::from_static(&[0x0a, 0xff])).is_err());
}

fn decode_traces(p: &TracesPayload) -> ExportTraceServiceRequest {
    p.decoded().unwrap().into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn walked_counts_equal_decoded_counts(req in arb::traces(), logs in arb::logs()) {
        let bytes = req.encode_to_vec();
        prop_assert_eq!(walk_traces(&bytes).unwrap(), req.counts());
        let bytes = logs.encode_to_vec();
        prop_assert_eq!(wire::walk(&wire::LOGS, &bytes).unwrap(), logs.counts());
    }

    #[test]
    fn concatenated_requests_decode_to_the_concatenated_resources(
        parts in proptest::collection::vec((arb::traces(), any::<bool>()), 0..4),
    ) {
        let payloads: Vec<TracesPayload> = parts
            .iter()
            .map(|(req, raw)| {
                if *raw {
                    TracesPayload::from_wire(req.encode_to_vec().into()).unwrap()
                } else {
                    req.clone().into()
                }
            })
            .collect();
        let expected = ExportTraceServiceRequest {
            resource_spans: parts.iter().flat_map(|(r, _)| r.resource_spans.clone()).collect(),
        };
        let merged = concat(&payloads);
        prop_assert_eq!(merged.counts(), expected.counts());
        prop_assert_eq!(decode_traces(&merged), expected.clone());
        // The merged bytes are themselves a valid request.
        if let Some(bytes) = merged.raw() {
            prop_assert_eq!(walk_traces(&bytes).unwrap(), expected.counts());
        }
    }

    /// Flips, overwrites, truncations, insertions and deletions of a valid encoding:
    /// whenever the walker accepts, prost decodes with the same counts; the walker never
    /// panics.
    #[test]
    fn mutated_requests_are_never_accepted_when_prost_rejects_them(
        req in arb::traces(),
        mutations in proptest::collection::vec(
            (0u8..5, any::<proptest::sample::Index>(), any::<u8>()),
            1..4,
        ),
    ) {
        let mut bytes = req.encode_to_vec();
        for (kind, at, byte) in mutations {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] ^= 1 << (byte % 8),
                1 => bytes[i] = byte,
                2 => bytes.truncate(i),
                3 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        check_agrees(&bytes);
        let walked = wire::walk(&wire::LOGS, &bytes);
        if let Ok(counts) = walked {
            let decoded = ExportLogsServiceRequest::decode(bytes.as_slice());
            prop_assert!(decoded.is_ok(), "logs: walker accepted what prost rejects");
            prop_assert_eq!(counts, decoded.unwrap().counts());
        }
    }
}

/// Regression (issue #12, item 11): ids must be empty or of their fixed length, checked
/// by both the fast path and the full walker, at every place an id appears.
#[test]
fn ids_of_the_wrong_length_are_rejected_with_their_field() {
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::trace::v1::span::Link;
    let ok = span("ok");
    let cases: Vec<(Span, &str, usize, usize)> = vec![
        (
            Span {
                trace_id: vec![1; 15],
                ..ok.clone()
            },
            "trace_id",
            16,
            15,
        ),
        (
            Span {
                trace_id: vec![1; 32],
                ..ok.clone()
            },
            "trace_id",
            16,
            32,
        ),
        (
            Span {
                span_id: vec![1; 1],
                ..ok.clone()
            },
            "span_id",
            8,
            1,
        ),
        (
            Span {
                parent_span_id: vec![1; 16],
                ..ok.clone()
            },
            "parent_span_id",
            8,
            16,
        ),
        (
            Span {
                links: vec![Link {
                    trace_id: vec![1; 8],
                    ..Default::default()
                }],
                ..ok.clone()
            },
            "links.trace_id",
            16,
            8,
        ),
    ];
    for (bad, field, expected, actual) in cases {
        let bytes = request(vec![ok.clone(), bad]).encode_to_vec();
        let err = walk_traces(&bytes).unwrap_err();
        assert_eq!(
            err.reason(),
            &WireReason::IdLength { expected, actual },
            "{field}"
        );
        assert!(err.field_path().ends_with(field), "{field}: {}", err.field_path());
        assert!(TracesPayload::from_wire(Bytes::from(bytes)).is_err(), "{field}");
    }
    // Empty ids (unset) and full-length ones pass.
    let unset = Span {
        trace_id: Vec::new(),
        span_id: Vec::new(),
        ..ok.clone()
    };
    assert!(walk_traces(&request(vec![ok, unset]).encode_to_vec()).is_ok());

    let logs = |trace_id: Vec<u8>| ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    trace_id,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert!(LogsPayload::from_wire(Bytes::from(logs(vec![1; 16]).encode_to_vec())).is_ok());
    assert!(LogsPayload::from_wire(Bytes::from(logs(vec![1; 4]).encode_to_vec())).is_err());
}

//! The raw paths of the `resource`, `attributes` and `filter` processors against the
//! straightforward one (decode, change, encode) on random requests: the same request
//! comes out, byte for byte once decoded and encoded again, and it stays raw and valid.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message as _;

use crate::consumer::{Consumer, Telemetry};
use crate::pdata::{arb, wire};
use crate::processors::attributes::{AttributesConfig, AttributesProcessor};
use crate::processors::filter::{FilterConfig, FilterProcessor};
use crate::processors::resource::{ResourceConfig, ResourceProcessor};
use crate::processors::testkit::{Sink, kv, raw_traces, s, span, traces};

/// Attribute names the configurations below act on, so that random requests hit them.
const KEYS: [&str; 5] = ["env", "user.id", "http.route", "db.statement", "path"];

/// A random request ([`arb::traces`]) after a resource of 1 to 8 spans whose attributes,
/// and the resource's, include names from [`KEYS`] with values of every kind (repeated
/// names included).
fn request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let value = || prop_oneof![3 => scalar(), 1 => arb::any_value()];
    let extras = move |n| vec((0..KEYS.len(), value()), 0..n);
    let span = (arb::span(), extras(4)).prop_map(|(mut span, extra)| {
        span.attributes.extend(extra.iter().map(|(k, v)| named(*k, v)));
        span
    });
    let scope =
        proptest::option::of(
            prop_oneof![Just(""), Just("lib")].prop_map(|name| InstrumentationScope {
                name: name.to_string(),
                ..Default::default()
            }),
        );
    (arb::traces(), vec(span, 1..8), extras(3), scope).prop_map(|(mut request, spans, extra, scope)| {
        let resource = Resource {
            attributes: extra.iter().map(|(k, v)| named(*k, v)).collect(),
            ..Default::default()
        };
        request.resource_spans.insert(
            0,
            ResourceSpans {
                resource: Some(resource),
                scope_spans: vec![ScopeSpans {
                    scope,
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        request
    })
}

/// Scalars the conditions and actions below compare with, often equal to theirs.
fn scalar() -> impl Strategy<Value = AnyValue> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    prop_oneof![
        prop_oneof![
            Just("a"),
            Just("/a/b"),
            Just("/x"),
            Just("7"),
            Just("1.5"),
            Just("")
        ]
        .prop_map(|v| Value::StringValue(v.to_string())),
        any::<bool>().prop_map(Value::BoolValue),
        (-2i64..3).prop_map(Value::IntValue),
        prop_oneof![Just(0.5), Just(1.5), Just(2.0)].prop_map(Value::DoubleValue),
    ]
    .prop_map(|v| AnyValue { value: Some(v) })
}

fn named(k: usize, v: &AnyValue) -> KeyValue {
    KeyValue {
        key: KEYS[k].to_string(),
        value: Some(v.clone()),
        key_strindex: 0,
    }
}

/// One random attribute action, as YAML.
fn action() -> impl Strategy<Value = String> {
    let key = (0..KEYS.len()).prop_map(|k| KEYS[k]);
    prop_oneof![
        (
            key.clone(),
            prop_oneof![Just("insert"), Just("update"), Just("upsert")],
            "[a-z]{0,3}"
        )
            .prop_map(|(k, a, v)| format!("{{key: {k}, action: {a}, value: '{v}'}}")),
        (
            key.clone(),
            prop_oneof![Just("insert"), Just("update"), Just("upsert")],
            key.clone()
        )
            .prop_map(|(k, a, from)| format!("{{key: {k}, action: {a}, from_attribute: {from}}}")),
        (key.clone(), prop_oneof![Just("delete"), Just("hash")])
            .prop_map(|(k, a)| format!("{{key: {k}, action: {a}}}")),
        prop_oneof![Just("delete"), Just("hash")]
            .prop_map(|a| format!("{{pattern: '^(db|user)\\.', action: {a}}}")),
        key.clone().prop_map(|k| format!(
            "{{key: {k}, action: extract, pattern: '^/(?P<first>[a-z]*)/?(?P<second>.*)$'}}"
        )),
        (key, prop_oneof![Just("int"), Just("double"), Just("string")])
            .prop_map(|(k, t)| format!("{{key: {k}, action: convert, converted_type: {t}}}")),
    ]
}

fn actions() -> impl Strategy<Value = String> {
    vec(action(), 1..5).prop_map(|list| format!("[{}]", list.join(", ")))
}

/// Match properties for the attributes processor's `include` / `exclude`.
fn matcher() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{match_type: strict, attributes: [{key: env}]}".to_string()),
        Just("{match_type: regexp, span_names: ['^[a-m]']}".to_string()),
        Just("{match_type: strict, resources: [{key: path, value: ''}]}".to_string()),
        Just("{match_type: regexp, attributes: [{key: http.route, value: '^/a'}]}".to_string()),
        Just("{match_type: regexp, libraries: [{name: '.'}]}".to_string()),
    ]
}

/// Span conditions of the filter processor, each reading a different part of a span.
const CONDITIONS: [&str; 12] = [
    r#"attributes["env"] == "a""#,
    r#"attributes["http.route"] != nil and IsMatch(attributes["http.route"], "^/")"#,
    r#"attributes["user.id"] > 0"#,
    r#"attributes["db.statement"] == true or attributes["path"] < 1.5"#,
    r#"resource.attributes["env"] == "a""#,
    "kind == SPAN_KIND_SERVER",
    r#"IsMatch(name, "^[a-f]")"#,
    "status.code == STATUS_CODE_ERROR",
    r#"IsMatch(trace_id.string, "^0")"#,
    "start_time_unix_nano > end_time_unix_nano",
    r#"instrumentation_scope.name == """#,
    "dropped_attributes_count > 2000000000",
];

/// What `consumer` passes on for `data`: the request, with whether it came out raw.
fn run(consumer: impl Fn(Arc<Sink>) -> Box<dyn Consumer>, data: Telemetry) -> Option<(Vec<u8>, bool)> {
    let sink = Sink::new();
    let processor = consumer(sink.clone());
    futures::executor::block_on(processor.consume(data)).expect("accepted");
    let received = sink.received.lock().unwrap();
    match received.as_slice() {
        [] => None,
        [Telemetry::Traces(p)] => {
            if let Some(bytes) = p.raw() {
                wire::walk(&wire::TRACES, &bytes).expect("the raw output is a valid request");
                assert_eq!(
                    wire::walk(&wire::TRACES, &bytes).unwrap(),
                    p.counts(),
                    "the raw output's counts are its own"
                );
            }
            Some((p.decoded().unwrap().encode_to_vec(), p.is_raw()))
        }
        other => panic!("expected one traces payload, got {other:?}"),
    }
}

/// The raw path and the decoded path give the same request; the raw path stays raw.
fn same(consumer: impl Fn(Arc<Sink>) -> Box<dyn Consumer>, request: &ExportTraceServiceRequest) {
    let raw = run(&consumer, raw_traces(request));
    let decoded = run(&consumer, Telemetry::traces(request.clone()));
    assert_eq!(raw.as_ref().map(|r| &r.0), decoded.as_ref().map(|d| &d.0));
    assert!(raw.is_none_or(|r| r.1), "a raw request stays raw");
}

fn resource(yaml: &str) -> impl Fn(Arc<Sink>) -> Box<dyn Consumer> {
    let config: ResourceConfig = serde_norway::from_str(yaml).unwrap();
    move |sink| Box::new(ResourceProcessor::new(&config, sink).unwrap())
}

fn attributes(yaml: &str) -> impl Fn(Arc<Sink>) -> Box<dyn Consumer> {
    let config: AttributesConfig = serde_norway::from_str(yaml).unwrap();
    move |sink| Box::new(AttributesProcessor::new(&config, sink).unwrap())
}

fn filter(yaml: &str) -> impl Fn(Arc<Sink>) -> Box<dyn Consumer> {
    let config: FilterConfig = serde_norway::from_str(yaml).unwrap();
    move |sink| Box::new(FilterProcessor::new(&config, sink).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn resource_raw_path_equals_decode_change_encode(request in request(), actions in actions()) {
        same(resource(&format!("attributes: {actions}")), &request);
    }

    #[test]
    fn attributes_raw_path_equals_decode_change_encode(
        request in request(),
        actions in actions(),
        include in proptest::option::of(matcher()),
        exclude in proptest::option::of(matcher()),
    ) {
        let mut yaml = format!("actions: {actions}");
        if let Some(m) = include {
            yaml += &format!("\ninclude: {m}");
        }
        if let Some(m) = exclude {
            yaml += &format!("\nexclude: {m}");
        }
        same(attributes(&yaml), &request);
    }

    #[test]
    fn filter_raw_path_equals_decode_change_encode(
        request in request(),
        chosen in proptest::sample::subsequence(CONDITIONS.to_vec(), 1..3),
    ) {
        let list: Vec<String> = chosen.iter().map(|c| format!("'{}'", c.replace('\'', "''"))).collect();
        same(filter(&format!("traces: {{span: [{}]}}", list.join(", "))), &request);
    }
}

/// Encodings prost accepts but does not write: a span's fields out of order with its
/// attributes split around others, a resource and a status given twice (merged), a
/// key given twice (the last wins). Each processor's raw path reads them as prost does.
#[test]
fn raw_paths_read_non_canonical_encodings_as_prost_does() {
    let mut out = Vec::new();
    // Span: name, an attribute, status {code: 2}, kind 2, another attribute whose key is
    // given twice, status {message: "m"} (merged with the first), name again.
    let mut span = Vec::new();
    let field = |buf: &mut Vec<u8>, tag: u32, body: &[u8]| {
        wire::put_len_prefix(buf, tag, body.len());
        buf.extend_from_slice(body);
    };
    field(&mut span, 5, b"first");
    field(&mut span, 9, &kv("env", s("a")).encode_to_vec());
    field(&mut span, 15, &[0x18, 0x02]);
    span.extend_from_slice(&[0x30, 0x02]);
    let mut twice = Vec::new();
    field(&mut twice, 1, b"ignored");
    twice.extend_from_slice(&kv("user.id", s("alice")).encode_to_vec());
    field(&mut span, 9, &twice);
    field(&mut span, 15, &[0x12, 0x01, b'm']);
    field(&mut span, 5, b"second");
    let mut scope = Vec::new();
    field(&mut scope, 2, &span);
    let mut resource_spans = Vec::new();
    let first = traces(vec![kv("env", s("prod"))], vec![]).resource_spans[0]
        .resource
        .clone()
        .unwrap()
        .encode_to_vec();
    field(&mut resource_spans, 1, &first);
    field(&mut resource_spans, 2, &scope);
    let second = Resource {
        attributes: vec![kv("region", s("eu"))],
        ..Default::default()
    };
    field(&mut resource_spans, 1, &second.encode_to_vec());
    field(&mut out, 1, &resource_spans);
    let request = ExportTraceServiceRequest::decode(out.as_slice()).expect("prost reads it");
    assert_eq!(
        request.resource_spans[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .len(),
        2
    );
    let decoded_span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(decoded_span.name, "second");
    assert_eq!(
        decoded_span.status.as_ref().map(|s| (s.code, s.message.as_str())),
        Some((2, "m"))
    );
    assert_eq!(decoded_span.attributes[1].key, "user.id");

    let raw =
        || Telemetry::Traces(crate::consumer::TracesPayload::from_wire(out.clone().into()).expect("valid"));
    let check = |consumer: &dyn Fn(Arc<Sink>) -> Box<dyn Consumer>| {
        let from_raw = run(consumer, raw());
        let from_decoded = run(consumer, Telemetry::traces(request.clone()));
        assert_eq!(
            from_raw.as_ref().map(|r| &r.0),
            from_decoded.as_ref().map(|d| &d.0)
        );
        from_raw.map(|r| ExportTraceServiceRequest::decode(r.0.as_slice()).unwrap())
    };
    let changed = check(&resource(
        "attributes: [{key: tier, value: gold, action: insert}]",
    ))
    .unwrap();
    assert_eq!(
        changed.resource_spans[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .last(),
        Some(&kv("tier", s("gold")))
    );
    let changed = check(&attributes(
        "actions: [{key: user.id, action: hash}, {key: env, action: delete}, {key: x, value: y, action: insert}]",
    ))
    .unwrap();
    let keys: Vec<_> = changed.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .iter()
        .map(|a| a.key.as_str())
        .collect();
    assert_eq!(keys, ["user.id", "x"]);
    // Each condition holds for the merged reading only.
    for condition in [
        r#"name == "second""#,
        "status.code == STATUS_CODE_ERROR",
        r#"status.message == "m""#,
        r#"attributes["user.id"] == "alice""#,
        r#"resource.attributes["region"] == "eu""#,
    ] {
        let yaml = format!("traces: {{span: ['{}']}}", condition);
        assert_eq!(check(&filter(&yaml)), None, "{condition} drops the span");
    }
    assert!(check(&filter(r#"traces: {span: ['name == "first"']}"#)).is_some());
}

/// The loadgen scenario's chain on its request shape: every span gets `sidecar`, the
/// hashed and deleted attributes are absent, nothing is filtered.
#[test]
fn the_bench_chain_keeps_every_span_raw() {
    let request = traces(
        vec![kv("service.name", s("checkout"))],
        (0..3)
            .map(|i| span(&format!("GET /{i}"), vec![kv("http.route", s("/api"))]))
            .collect(),
    );
    let out = run(
        attributes(
            "actions: [{key: sidecar, value: burnwatch, action: insert}, {key: enduser.id, action: hash}]",
        ),
        raw_traces(&request),
    )
    .unwrap();
    assert!(out.1);
    let out = ExportTraceServiceRequest::decode(out.0.as_slice()).unwrap();
    for span in &out.resource_spans[0].scope_spans[0].spans {
        assert_eq!(
            span.attributes,
            vec![kv("http.route", s("/api")), kv("sidecar", s("burnwatch"))]
        );
    }
}

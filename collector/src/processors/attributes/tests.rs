use super::*;
use crate::processors::testkit::*;

fn processor(yaml: &str, sink: Arc<Sink>) -> AttributesProcessor {
    let config: AttributesConfig = serde_norway::from_str(yaml).unwrap();
    AttributesProcessor::new(&config, sink).unwrap()
}

fn config_error(yaml: &str) -> String {
    let config: AttributesConfig = serde_norway::from_str(yaml).unwrap();
    config.validate("processors.attributes").unwrap_err().to_string()
}

#[tokio::test]
async fn actions_apply_to_span_attributes_not_the_resource() {
    let sink = Sink::new();
    let p = processor(
        "actions: [{key: env, value: prod, action: insert}, {key: password, action: delete}]",
        sink.clone(),
    );
    let request = traces(
        vec![kv("password", s("resource keeps it"))],
        vec![span("a", vec![kv("password", s("x"))])],
    );
    p.consume(raw_traces(&request)).await.unwrap();
    let out = sink.traces();
    assert_eq!(out.resource_spans[0].resource, request.resource_spans[0].resource);
    assert_eq!(
        out.resource_spans[0].scope_spans[0].spans[0].attributes,
        vec![kv("env", s("prod"))]
    );
}

#[tokio::test]
async fn actions_apply_to_data_points_and_log_records() {
    let sink = Sink::new();
    let p = processor("actions: [{key: env, value: prod, action: upsert}]", sink.clone());
    p.consume(Telemetry::Metrics(metrics(
        vec![],
        vec![gauge(
            "g",
            vec![point(1.0, vec![kv("env", s("dev"))]), point(2.0, vec![])],
        )],
    )))
    .await
    .unwrap();
    assert_eq!(
        sink.metrics(),
        metrics(
            vec![],
            vec![gauge(
                "g",
                vec![
                    point(1.0, vec![kv("env", s("prod"))]),
                    point(2.0, vec![kv("env", s("prod"))])
                ]
            )]
        )
    );
    let sink = Sink::new();
    let p = processor("actions: [{key: env, value: prod, action: upsert}]", sink.clone());
    p.consume(Telemetry::logs(logs(vec![], vec![log("x", vec![])])))
        .await
        .unwrap();
    assert_eq!(
        sink.logs(),
        logs(vec![], vec![log("x", vec![kv("env", s("prod"))])])
    );
}

#[tokio::test]
async fn include_and_exclude_select_spans() {
    let sink = Sink::new();
    let p = processor(
        r#"
include:
  match_type: regexp
  services: ["^check"]
  span_names: ["^GET "]
exclude:
  match_type: strict
  attributes: [{key: internal, value: true}]
actions: [{key: touched, value: 1, action: insert}]
"#,
        sink.clone(),
    );
    let request = traces(
        vec![kv("service.name", s("checkout"))],
        vec![
            span("GET /a", vec![]),
            span("POST /a", vec![]),
            span(
                "GET /internal",
                vec![kv(
                    "internal",
                    AnyValue {
                        value: Some(Av::BoolValue(true)),
                    },
                )],
            ),
        ],
    );
    p.consume(Telemetry::traces(request)).await.unwrap();
    let out = sink.traces();
    let touched: Vec<bool> = out.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| attrs::get(&s.attributes, "touched").is_some())
        .collect();
    assert_eq!(touched, [true, false, false]);
}

#[tokio::test]
async fn span_names_never_match_log_records() {
    let sink = Sink::new();
    let p = processor(
        "{include: {match_type: strict, span_names: [x]}, actions: [{key: a, value: 1, action: insert}]}",
        sink.clone(),
    );
    let mut record = log("x", vec![]);
    record.severity_text = "x".into();
    p.consume(Telemetry::logs(logs(vec![], vec![record.clone()])))
        .await
        .unwrap();
    assert_eq!(sink.logs(), logs(vec![], vec![record]));
}

#[test]
fn config_errors_name_the_key() {
    assert_eq!(
        config_error("actions: []"),
        "processors.attributes.actions must list at least one action"
    );
    assert_eq!(
        config_error("{include: {match_type: fuzzy, services: [a]}, actions: [{key: a, action: delete}]}"),
        "processors.attributes.include.match_type must be strict or regexp, got \"fuzzy\""
    );
    assert_eq!(
        config_error("{include: {match_type: strict}, actions: [{key: a, action: delete}]}"),
        "processors.attributes.include must give at least one of services, span_names, metric_names, log_severity_texts, attributes, resources, libraries"
    );
    assert!(
        config_error(
            "{exclude: {match_type: regexp, span_names: ['(']}, actions: [{key: a, action: delete}]}"
        )
        .starts_with("processors.attributes.exclude.span_names[0] is not a valid regular expression")
    );
    let unknown = crate::config::typed::<AttributesConfig>(
        &serde_norway::from_str("{include: {match_type: strict, span_kinds: [SPAN_KIND_SERVER]}, actions: [{key: a, action: delete}]}").unwrap(),
        "processors.attributes",
    )
    .unwrap_err()
    .to_string();
    assert!(
        unknown.starts_with(
            "unknown key 'span_kinds' in processors.attributes.include; expected one of match_type, services"
        ),
        "{unknown}"
    );
}

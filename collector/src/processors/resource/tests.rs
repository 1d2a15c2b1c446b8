use super::*;
use crate::processors::testkit::*;

fn processor(yaml: &str, sink: Arc<Sink>) -> ResourceProcessor {
    let config: ResourceConfig = serde_norway::from_str(yaml).unwrap();
    ResourceProcessor::new(&config, sink).unwrap()
}

const CONFIG: &str = "attributes:
  - {key: deployment.environment, value: prod, action: upsert}
  - {key: secret, action: delete}
";

#[tokio::test]
async fn resource_actions_apply_to_raw_spans() {
    let sink = Sink::new();
    let p = processor(CONFIG, sink.clone());
    let request = traces(
        vec![kv("service.name", s("api")), kv("secret", s("x"))],
        vec![span("GET", vec![kv("secret", s("kept on the span"))])],
    );
    p.consume(raw_traces(&request)).await.unwrap();
    let mut expected = request;
    expected.resource_spans[0].resource = resource(vec![
        kv("service.name", s("api")),
        kv("deployment.environment", s("prod")),
    ]);
    assert_eq!(sink.traces(), expected);
}

#[tokio::test]
async fn resource_actions_apply_to_metrics_and_logs() {
    let sink = Sink::new();
    let p = processor(CONFIG, sink.clone());
    p.consume(Telemetry::Metrics(metrics(
        vec![],
        vec![gauge("g", vec![point(1.0, vec![])])],
    )))
    .await
    .unwrap();
    assert_eq!(
        sink.metrics().resource_metrics[0].resource,
        resource(vec![kv("deployment.environment", s("prod"))])
    );
    let sink = Sink::new();
    let p = processor(CONFIG, sink.clone());
    p.consume(Telemetry::logs(logs(
        vec![kv("secret", i(1))],
        vec![log("hi", vec![])],
    )))
    .await
    .unwrap();
    assert_eq!(
        sink.logs().resource_logs[0].resource,
        resource(vec![kv("deployment.environment", s("prod"))])
    );
}

#[test]
fn resource_config_errors_name_the_attributes_entry() {
    let config: ResourceConfig = serde_norway::from_str("attributes: [{key: a, action: insert}]").unwrap();
    assert_eq!(
        config.validate("processors.resource").unwrap_err().to_string(),
        "processors.resource.attributes[0]: action insert needs value or from_attribute"
    );
    let empty: ResourceConfig = serde_norway::from_str("{}").unwrap();
    assert_eq!(
        empty.validate("processors.resource").unwrap_err().to_string(),
        "processors.resource.attributes must list at least one action"
    );
}

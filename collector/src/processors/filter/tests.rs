use opentelemetry_proto::tonic::metrics::v1::{Sum, metric::Data};
use opentelemetry_proto::tonic::trace::v1::{Status, span::Event};

use super::*;
use crate::processors::testkit::*;

fn processor(yaml: &str, sink: Arc<Sink>) -> FilterProcessor {
    let config: FilterConfig = serde_norway::from_str(yaml).unwrap();
    FilterProcessor::new(&config, sink).unwrap()
}

fn config_error(yaml: &str) -> String {
    let config: FilterConfig = serde_norway::from_str(yaml).unwrap();
    config.validate("processors.filter").unwrap_err().to_string()
}

#[tokio::test]
async fn span_conditions_drop_matching_spans() {
    let sink = Sink::new();
    let p = processor(
        r#"
traces:
  span:
    - 'attributes["http.route"] == "/health"'
    - 'status.code == STATUS_CODE_ERROR and resource.attributes["service.name"] == "noisy"'
"#,
        sink.clone(),
    );
    let mut failed = span("failed", vec![]);
    failed.status = Some(Status {
        code: 2,
        ..Default::default()
    });
    let request = traces(
        vec![kv("service.name", s("noisy"))],
        vec![
            span("GET /health", vec![kv("http.route", s("/health"))]),
            span("GET /orders", vec![kv("http.route", s("/orders"))]),
            failed,
        ],
    );
    p.consume(raw_traces(&request)).await.unwrap();
    let out = sink.traces();
    let names: Vec<&str> = out.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["GET /orders"]);
}

#[tokio::test]
async fn nothing_left_means_nothing_sent() {
    let sink = Sink::new();
    let p = processor("traces: {span: ['name != \"\"']}", sink.clone());
    p.consume(raw_traces(&traces(vec![], vec![span("a", vec![])])))
        .await
        .unwrap();
    assert!(sink.received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn spanevent_conditions_drop_events_and_keep_spans() {
    let sink = Sink::new();
    let p = processor(
        "traces: {spanevent: ['name == \"debug\" and span.name == \"a\"']}",
        sink.clone(),
    );
    let event = |name: &str| Event {
        name: name.to_string(),
        ..Default::default()
    };
    let mut a = span("a", vec![]);
    a.events = vec![event("debug"), event("exception")];
    let mut b = span("b", vec![]);
    b.events = vec![event("debug")];
    p.consume(Telemetry::traces(traces(vec![], vec![a, b])))
        .await
        .unwrap();
    let out = sink.traces();
    let spans = &out.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans[0].events, vec![event("exception")]);
    assert_eq!(spans[1].events, vec![event("debug")]);
}

#[tokio::test]
async fn metric_and_datapoint_conditions() {
    let sink = Sink::new();
    let p = processor(
        r#"
metrics:
  metric: ['name == "drop.me"']
  datapoint:
    - 'attributes["env"] == "test"'
    - 'metric.type == METRIC_DATA_TYPE_SUM and value_double == 0'
"#,
        sink.clone(),
    );
    let mut zero_sum = gauge("zero.sum", vec![point(0.0, vec![])]);
    if let Some(Data::Gauge(g)) = zero_sum.data.take() {
        zero_sum.data = Some(Data::Sum(Sum {
            data_points: g.data_points,
            aggregation_temporality: 2,
            is_monotonic: true,
        }));
    }
    let request = metrics(
        vec![],
        vec![
            gauge("drop.me", vec![point(1.0, vec![])]),
            gauge(
                "kept",
                vec![
                    point(1.0, vec![kv("env", s("test"))]),
                    point(2.0, vec![kv("env", s("prod"))]),
                    point(0.0, vec![]),
                ],
            ),
            zero_sum,
        ],
    );
    p.consume(Telemetry::Metrics(request)).await.unwrap();
    let out = sink.metrics();
    let metrics = &out.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0].name, "kept");
    assert_eq!(
        metrics[0].data,
        gauge(
            "kept",
            vec![point(2.0, vec![kv("env", s("prod"))]), point(0.0, vec![])]
        )
        .data
    );
}

#[tokio::test]
async fn log_record_conditions() {
    let sink = Sink::new();
    let p = processor(
        "logs: {log_record: ['severity_number < SEVERITY_NUMBER_INFO', 'IsMatch(body, \"^healthcheck\")']}",
        sink.clone(),
    );
    let mut debug = log("debug detail", vec![]);
    debug.severity_number = 5;
    let mut info = log("order placed", vec![]);
    info.severity_number = 9;
    let mut health = log("healthcheck ok", vec![]);
    health.severity_number = 9;
    p.consume(Telemetry::logs(logs(vec![], vec![debug, info.clone(), health])))
        .await
        .unwrap();
    assert_eq!(sink.logs(), logs(vec![], vec![info]));
}

#[tokio::test]
async fn a_signal_without_conditions_passes_raw() {
    let sink = Sink::new();
    let p = processor("logs: {log_record: ['body == \"x\"']}", sink.clone());
    let request = traces(vec![], vec![span("a", vec![])]);
    p.consume(raw_traces(&request)).await.unwrap();
    match sink.received.lock().unwrap().as_slice() {
        [Telemetry::Traces(p)] => assert!(p.is_raw()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_errors_name_the_condition_and_byte() {
    assert_eq!(
        config_error("traces: {span: ['name == \"a\"', 'Len(name) > 3']}"),
        "processors.filter.traces.span[1]: at byte 0: unsupported function 'Len'; supported functions: IsMatch"
    );
    assert_eq!(
        config_error("logs: {log_record: ['severity_number <']}"),
        "processors.filter.logs.log_record[0]: at byte 17: expected a value, found the end of the condition"
    );
    assert_eq!(
        config_error("error_mode: loud"),
        "processors.filter.error_mode must be propagate, ignore or silent, got \"loud\""
    );
}

#[test]
fn legacy_match_properties_are_refused_by_name() {
    let err = crate::config::typed::<FilterConfig>(
        &serde_norway::from_str("spans: {include: {match_type: strict}}").unwrap(),
        "processors.filter",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "unknown key 'spans' in processors.filter; expected one of error_mode, traces, metrics, logs"
    );
}

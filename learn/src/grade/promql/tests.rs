//! Typical wrong PromQL answers and the feedback each gets.

use super::*;
use crate::model::{Answer, RangeSpec, Topic};

const DATA: &str = r#"
load 1m
  http_requests_total{job="api", instance="a", code="200"} 0+60x20 1300+30x20 2000+90x20
  http_requests_total{job="api", instance="a", code="500"} 0+6x60
  http_requests_total{job="api", instance="b", code="200"} 0+120x20 2500+10x20 2800+200x20
  http_request_duration_seconds_bucket{job="api", le="0.1"} 0+50x60
  http_request_duration_seconds_bucket{job="api", le="0.5"} 0+90x60
  http_request_duration_seconds_bucket{job="api", le="+Inf"} 0+100x60
"#;

fn exercise(reference: &str) -> Exercise {
    Exercise {
        id: "promql-test".into(),
        topic: Topic::Promql,
        title: "t".into(),
        prompt: "p".into(),
        data: Some(DATA.into()),
        hints: vec![],
        explanation: "e".into(),
        answer: Answer::Promql(PromqlAnswer {
            reference: reference.into(),
            at: vec!["22m".into(), "45m".into()],
            range: Some(RangeSpec {
                start: "10m".into(),
                end: "55m".into(),
                step: "5m".into(),
            }),
        }),
    }
}

fn grade(reference: &str, answer: &str) -> Verdict {
    crate::grade::check(&exercise(reference), answer)
}

fn has(v: &Verdict, needle: &str) {
    assert!(
        v.feedback.iter().any(|l| l.contains(needle)),
        "no feedback line contains {needle:?}: {:#?}",
        v.feedback
    );
}

const RATE: &str = "rate(http_requests_total[5m])";

#[test]
fn the_reference_and_equivalent_queries_pass() {
    for answer in [
        RATE,
        "rate(http_requests_total{job=\"api\"}[5m])",
        "  rate(http_requests_total[300s])  ",
        "rate({__name__=\"http_requests_total\"}[5m])",
    ] {
        let v = grade(RATE, answer);
        assert!(v.correct, "{answer}: {:#?}", v.feedback);
        assert!(v.expected.is_none());
    }
    let v = grade(RATE, RATE);
    assert_eq!(
        v.feedback,
        vec!["the same result as the reference at 22m, 45m, 10m..55m every 5m"]
    );
}

#[test]
fn irate_is_not_rate() {
    let v = grade(RATE, "irate(http_requests_total[5m])");
    assert!(!v.correct);
    has(&v, "at 22m: the same series, but the values differ");
    has(&v, "irate() uses only the last two samples in the window");
}

#[test]
fn per_minute_is_60_times_per_second() {
    let v = grade(RATE, "rate(http_requests_total[5m]) * 60");
    assert!(!v.correct);
    assert_eq!(
        v.feedback,
        vec![
            "at 22m: the same series, but every value is 60 times the expected: per minute where per second is asked?"
        ]
    );
    let v = grade("rate(http_requests_total[5m]) * 60", RATE);
    has(
        &v,
        "every value is 1/60 of the expected: per second where per minute is asked?",
    );
    let v = grade(RATE, "increase(http_requests_total[5m])");
    has(&v, "every value is 300 times the expected");
    has(
        &v,
        "increase() gives the increase over the whole window; rate() gives it per second",
    );
}

#[test]
fn sum_without_by_loses_the_labels() {
    let reference = "sum by (instance) (rate(http_requests_total[5m]))";
    let v = grade(reference, "sum(rate(http_requests_total[5m]))");
    assert!(!v.correct);
    assert_eq!(
        v.feedback,
        vec![
            "at 22m: your query returns 1 series; the expected result has 2",
            "at 22m: the expected series have labels yours do not: instance (keep them, e.g. in by (...))",
        ]
    );
    let v = grade(
        reference,
        "sum by (instance, code) (rate(http_requests_total[5m]))",
    );
    has(&v, "your query returns 3 series; the expected result has 2");
    has(&v, "your series have labels the expected ones do not: code");
    assert!(
        grade(
            reference,
            "sum without (job, code) (rate(http_requests_total[5m]))"
        )
        .correct
    );
}

#[test]
fn histogram_quantile_without_le_finds_nothing() {
    let reference = "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))";
    assert!(grade(reference, reference).correct);
    let v = grade(
        reference,
        "histogram_quantile(0.9, sum(rate(http_request_duration_seconds_bucket[5m])))",
    );
    assert!(!v.correct);
    has(
        &v,
        "at 22m: your query returns 0 series; the expected result has 1",
    );
    has(&v, "bucket label \"le\" is missing");
    let v = grade(
        reference,
        "histogram_quantile(0.9, sum by (job) (rate(http_request_duration_seconds_bucket[5m])))",
    );
    has(&v, "bucket label \"le\" is missing");
}

#[test]
fn a_quantile_of_99_is_not_0_99() {
    let reference = "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))";
    let v = grade(
        reference,
        "histogram_quantile(90, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    );
    assert!(!v.correct, "+Inf is not a latency");
    has(
        &v,
        "at 22m: the same series, but the values differ; {}: your value is +Inf, the expected 0.5",
    );
    assert!(!same_value(f64::INFINITY, 1.0) && !same_value(1.0, f64::NEG_INFINITY));
    assert!(same_value(f64::INFINITY, f64::INFINITY) && same_value(f64::NAN, f64::NAN));
}

#[test]
fn a_parse_error_has_its_position() {
    let v = grade(RATE, "rate(http_requests_total[5m]");
    assert!(!v.correct);
    assert_eq!(v.feedback, vec!["1:29: parse error: unclosed left parenthesis"]);
    let v = grade(RATE, "rate(http_requests_total{job=\"api\"[5m])");
    assert!(v.feedback[0].starts_with("1:"), "{:?}", v.feedback);
    assert!(v.feedback[0].contains("parse error"), "{:?}", v.feedback);
    assert_eq!(grade(RATE, "  ").feedback, vec!["type a PromQL query"]);
}

#[test]
fn wrong_types_are_named() {
    let v = grade(RATE, "http_requests_total[5m]");
    assert_eq!(
        v.feedback,
        vec![
            "your query gives a range vector; an instant vector is expected: a selector with a [range] needs a function such as rate() or avg_over_time() to become one value per series"
        ]
    );
    let v = grade(
        "sum(rate(http_requests_total[5m]))",
        "scalar(sum(rate(http_requests_total[5m])))",
    );
    has(&v, "your query gives a scalar; an instant vector is expected");
    let v = grade(
        "scalar(sum(rate(http_requests_total[5m])))",
        "sum(rate(http_requests_total[5m]))",
    );
    has(&v, "your query gives an instant vector; a scalar is expected");
}

#[test]
fn the_metric_name_and_different_series_are_named() {
    let v = grade(
        "http_requests_total{code=\"500\"}",
        "http_requests_total{code=\"200\"}",
    );
    has(&v, "your query returns 2 series; the expected result has 1");
    has(
        &v,
        "not expected: http_requests_total{code=\"200\", instance=\"a\", job=\"api\"}",
    );
    has(
        &v,
        "missing: http_requests_total{code=\"500\", instance=\"a\", job=\"api\"}",
    );
    let v = grade("http_requests_total + 0", "http_requests_total");
    has(&v, "your series keep the metric name (__name__)");
}

#[test]
fn hostile_answers_are_stopped_not_hung() {
    let v = grade(RATE, "count_over_time(http_requests_total[100y:1ms])");
    assert!(!v.correct);
    assert!(
        v.feedback[0].contains("was stopped") || v.feedback[0].contains("too many"),
        "{:?}",
        v.feedback
    );
    let deep = format!("{}http_requests_total{}", "(".repeat(200), ")".repeat(200));
    let v = grade(RATE, &deep);
    has(&v, "the query nests more than 32 levels deep");
    let v = grade(RATE, "x[1e308]");
    assert!(!v.correct);
}

#[test]
fn preview_shows_the_answer_at_the_first_time() {
    let ex = exercise(RATE);
    let table = crate::grade::preview(&ex, "sum by (instance) (rate(http_requests_total[5m]))").unwrap();
    assert_eq!(
        table,
        "at 22m:\n{instance=\"a\"}  1.14166666667\n{instance=\"b\"}  1.45833333333\n"
    );
    let err = crate::grade::preview(&ex, "sum(").unwrap_err();
    assert!(err.contains("parse error"), "{err}");
    assert_eq!(
        crate::grade::preview(&ex, "nothing_here").unwrap(),
        "at 22m:\nno series\n"
    );
}

//! The built-in curriculum as a whole: its size and topic mix, that every topic of issue 16 has
//! the exercise meant to teach it, that every reference answer passes its own grader, that the
//! data sets are deterministic and give data wherever they are evaluated, and that the usual
//! wrong answers fail (the data sets are chosen so that they give different results).

use burnwatch_learn::grade::{self, Verdict};
use burnwatch_learn::model::{Answer, Exercise};
use burnwatch_learn::{Curriculum, Topic};
use burnwatch_slo::duration::parse_prometheus_duration_ms;
use burnwatch_slo::promql::testscript::load_script;
use burnwatch_slo::promql::{Engine, Value};

/// The curriculum files, read again here so that parsing them twice can be compared.
const FILES: [(&str, Topic, &str); 4] = [
    (
        "promql.yaml",
        Topic::Promql,
        include_str!("../src/curriculum/promql.yaml"),
    ),
    ("slo.yaml", Topic::Slo, include_str!("../src/curriculum/slo.yaml")),
    (
        "dora.yaml",
        Topic::Dora,
        include_str!("../src/curriculum/dora.yaml"),
    ),
    (
        "collector.yaml",
        Topic::Collector,
        include_str!("../src/curriculum/collector.yaml"),
    ),
];

fn exercise(id: &str) -> &'static Exercise {
    Curriculum::builtin()
        .find(id)
        .unwrap_or_else(|| panic!("the curriculum has no exercise {id:?}"))
        .1
}

fn ms(duration: &str, id: &str) -> i64 {
    parse_prometheus_duration_ms(duration).unwrap_or_else(|| panic!("{id}: {duration:?} is not a duration"))
}

#[test]
fn at_least_sixty_exercises_in_the_intended_mix() {
    let c = Curriculum::builtin();
    let count = |t| c.of_topic(t).count();
    assert!(c.exercises().len() >= 60, "{} exercises", c.exercises().len());
    assert!(
        count(Topic::Promql) >= 30,
        "{} PromQL exercises",
        count(Topic::Promql)
    );
    assert!(count(Topic::Slo) >= 14, "{} SLO exercises", count(Topic::Slo));
    assert!(count(Topic::Dora) >= 7, "{} DORA exercises", count(Topic::Dora));
    assert!(
        count(Topic::Collector) >= 8,
        "{} collector exercises",
        count(Topic::Collector)
    );
    for e in c.exercises() {
        assert!(
            (1..=3).contains(&e.hints.len()),
            "{}: {} hints (1 to 3 wanted)",
            e.id,
            e.hints.len()
        );
        assert!(
            e.explanation.len() >= 80,
            "{}: the explanation is too short to teach",
            e.id
        );
    }
}

/// Each bullet of issue 16 and the exercise that covers it, with what its answer must use (a
/// PromQL reference's fragment, or the answer kind), so a later edit cannot quietly drop one.
#[test]
fn every_topic_of_the_issue_has_its_exercise() {
    let promql: &[(&str, &str)] = &[
        // selectors and matchers
        ("promql-select-job", "{job=\"api\"}"),
        ("promql-select-not-equal", "!="),
        ("promql-select-regex", "=~"),
        ("promql-select-negative-regex", "!~"),
        ("promql-select-metric-name-regex", "__name__"),
        // rate vs irate vs increase
        ("promql-request-rate", "rate("),
        ("promql-irate", "irate("),
        ("promql-increase-counter-reset", "increase("),
        // aggregation with by / without
        ("promql-sum-by-job", "sum by (job)"),
        ("promql-sum-without-instance", "without (instance)"),
        // error ratios
        ("promql-error-ratio", "code=~\"5..\""),
        ("promql-error-ratio-by-job", "sum by (job)"),
        // histogram_quantile over classic buckets
        ("promql-histogram-p99", "histogram_quantile(0.99"),
        ("promql-histogram-median-by-job", "(job, le)"),
        // offset and @
        ("promql-offset", "offset 30m"),
        ("promql-at-modifier", "@ 1800"),
        // subqueries
        ("promql-subquery-max-rate", "[30m:1m]"),
        // absent
        ("promql-absent", "absent("),
        ("promql-absent-over-time", "absent_over_time("),
        // vector matching with on / group_left
        (
            "promql-group-left-info-label",
            "on (instance) group_left (version)",
        ),
        ("promql-ignoring-group-left", "ignoring (code) group_left"),
        ("promql-on-memory-limit", "on (namespace, pod, container)"),
        // recording-rule naming, over recorded series
        ("promql-recorded-series", "job:http_requests:rate5m"),
    ];
    for (id, fragment) in promql {
        match &exercise(id).answer {
            Answer::Promql(p) => assert!(
                p.reference.contains(fragment),
                "{id}: {} lacks {fragment}",
                p.reference
            ),
            other => panic!("{id}: a {} answer, PromQL wanted", other.kind()),
        }
    }
    match &exercise("promql-recording-rule-name").answer {
        Answer::Choice(c) => assert_eq!(c.correct, "job:http_requests:rate5m"),
        other => panic!("a {} answer", other.kind()),
    }

    // The seed's essential queries: request rate, sum by job, P99 latency, error rate.
    for id in [
        "promql-request-rate",
        "promql-sum-by-job",
        "promql-histogram-p99",
        "promql-error-ratio",
    ] {
        assert_eq!(exercise(id).topic, Topic::Promql, "{id}");
    }

    // SLO math, DORA and collector config: the exercise and its answer kind.
    let others: &[(&str, &str)] = &[
        ("slo-allowed-downtime-999-30d", "number"),
        ("slo-budget-remaining", "number"),
        ("slo-burn-rate", "number"),
        ("slo-time-to-exhaustion", "number"),
        ("slo-threshold-1h", "number"),
        ("slo-threshold-6h", "number"),
        ("slo-threshold-1d", "number"),
        ("slo-threshold-3d", "number"),
        ("slo-policy-green", "choice"),
        ("slo-policy-yellow", "choice"),
        ("slo-policy-red-from-remaining", "choice"),
        ("dora-deployment-frequency", "number"),
        ("dora-lead-time", "number"),
        ("dora-change-failure-rate", "number"),
        ("dora-time-to-restore", "number"),
        ("dora-deployment-frequency-tier", "choice"),
        ("dora-lead-time-tier", "choice"),
        ("dora-change-failure-rate-tier", "choice"),
        ("dora-time-to-restore-tier", "choice"),
        ("collector-memory-limiter-first", "config"),
        ("collector-undefined-exporter", "config"),
        ("collector-bad-duration-days", "config"),
        ("collector-bad-duration-unit", "config"),
        ("collector-receiver-typo", "config"),
    ];
    for (id, kind) in others {
        assert_eq!(exercise(id).answer.kind(), *kind, "{id}");
    }
    // The workbook's numbers, as the issue states them.
    let value = |id: &str| match &exercise(id).answer {
        Answer::Number(n) => n.value,
        other => panic!("{id}: a {} answer", other.kind()),
    };
    assert_eq!(value("slo-allowed-downtime-999-30d"), 43.2 * 60.0);
    let thresholds = [
        "slo-threshold-1h",
        "slo-threshold-6h",
        "slo-threshold-1d",
        "slo-threshold-3d",
    ]
    .map(value);
    assert_eq!(thresholds, [14.4, 6.0, 3.0, 1.0]);
}

#[test]
fn every_reference_answer_passes_its_own_grader() {
    let mut failures = Vec::new();
    for e in Curriculum::builtin().exercises() {
        let reference = grade::reveal(e);
        assert!(!reference.trim().is_empty(), "{}: nothing to reveal", e.id);
        let v = grade::check(e, &reference);
        if !v.correct {
            failures.push(format!("{}: {:?}", e.id, v.feedback));
        }
    }
    assert!(
        failures.is_empty(),
        "references that fail their grader:\n{}",
        failures.join("\n")
    );
}

/// Every PromQL reference gives data at every `at` time and at some step of its `range`: an
/// exercise whose answer is "nothing" would accept any query that returns nothing.
#[test]
fn promql_references_return_data_wherever_they_are_evaluated() {
    let engine = Engine::default();
    for e in Curriculum::builtin().exercises() {
        let Answer::Promql(p) = &e.answer else { continue };
        let store = load_script(e.data.as_deref().unwrap_or_default())
            .unwrap_or_else(|err| panic!("{}: the data does not load: {err}", e.id));
        for at in &p.at {
            let r = engine
                .instant_query(&store, &p.reference, ms(at, &e.id))
                .unwrap_or_else(|err| panic!("{} at {at}: {err}", e.id));
            match r.value {
                Value::Vector(v) => assert!(!v.is_empty(), "{} at {at}: no series", e.id),
                other => panic!("{} at {at}: a {}, a vector wanted", e.id, other.type_name()),
            }
        }
        if let Some(range) = &p.range {
            let (start, end, step) = (
                ms(&range.start, &e.id),
                ms(&range.end, &e.id),
                ms(&range.step, &e.id),
            );
            let r = engine
                .range_query(&store, &p.reference, start, end, step)
                .unwrap_or_else(|err| panic!("{} over its range: {err}", e.id));
            match r.value {
                Value::Matrix(m) => assert!(!m.is_empty(), "{} over its range: no series", e.id),
                other => panic!("{} over its range: a {}", e.id, other.type_name()),
            }
        }
    }
}

/// The data sets are small, as the issue asks: at most two hours of samples, every evaluation
/// time inside them.
#[test]
fn promql_data_sets_are_small_and_cover_their_times() {
    let engine = Engine::default();
    for e in Curriculum::builtin().exercises() {
        let Answer::Promql(p) = &e.answer else { continue };
        let store = load_script(e.data.as_deref().unwrap_or_default()).unwrap();
        // Every sample of every series, read through the engine as a range vector.
        let r = engine
            .instant_query(&store, "{__name__=~\".+\"}[10h]", 10 * 3_600_000)
            .unwrap();
        let Value::Matrix(series) = r.value else {
            panic!("{}: a range selector gave a {}", e.id, r.value.type_name())
        };
        let newest_ms = series
            .into_iter()
            .flat_map(|s| s.samples.into_vec())
            .map(|s| s.t)
            .max()
            .unwrap_or_else(|| panic!("{}: the data has no samples", e.id));
        let newest_s = newest_ms as f64 / 1000.0;
        assert!(
            newest_s <= 2.0 * 3600.0,
            "{}: data up to {newest_s} s, more than 2h",
            e.id
        );
        let latest_eval =
            p.at.iter()
                .map(|t| ms(t, &e.id))
                .chain(p.range.as_ref().map(|r| ms(&r.end, &e.id)))
                .max()
                .unwrap();
        assert!(
            latest_eval as f64 / 1000.0 <= newest_s + 300.0,
            "{}: evaluated at {latest_eval} ms, after the data ends ({newest_s} s) and its lookback",
            e.id
        );
    }
}

#[test]
fn data_sets_are_deterministic() {
    let a = Curriculum::parse(&FILES).unwrap_or_else(|e| panic!("{e}"));
    let b = Curriculum::parse(&FILES).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a, b);
    assert_eq!(
        &a,
        Curriculum::builtin(),
        "the test's copy of the files is the built-in one"
    );

    // Loading a data set twice and evaluating the reference gives the same value, bit for bit.
    let engine = Engine::default();
    for e in a.exercises() {
        let Answer::Promql(p) = &e.answer else { continue };
        let data = e.data.as_deref().unwrap_or_default();
        let (s1, s2) = (load_script(data).unwrap(), load_script(data).unwrap());
        for at in &p.at {
            let t = ms(at, &e.id);
            let v1 = engine.instant_query(&s1, &p.reference, t).unwrap().value;
            let v2 = engine.instant_query(&s2, &p.reference, t).unwrap().value;
            assert_eq!(v1, v2, "{} at {at}", e.id);
        }
    }
    // Grading is a pure function of the exercise and the answer.
    for e in a.exercises() {
        let r = grade::reveal(e);
        assert_eq!(grade::check(e, &r), grade::check(e, &r), "{}", e.id);
    }
}

/// Each configuration exercise's `broken` is refused by the collector's validator (or, for the
/// processor-order exercise, accepted with pipelines the grader tells apart from `fixed`), and
/// handing in `broken` unchanged is never right.
#[test]
fn broken_configurations_fail_and_fixed_ones_pass() {
    use burnwatch_collector::otelcol::Config;
    let validate = |text: &str| Config::from_yaml_with_env(text, &|_| None).map_err(|e| e.to_string());
    let mut configs = 0;
    for e in Curriculum::builtin().exercises() {
        let Answer::Config(c) = &e.answer else { continue };
        configs += 1;
        validate(&c.fixed).unwrap_or_else(|err| panic!("{}: fixed is refused: {err}", e.id));
        let broken = validate(&c.broken);
        if e.id == "collector-memory-limiter-first" {
            assert!(
                broken.is_ok(),
                "{}: the order mistake is valid YAML: {broken:?}",
                e.id
            );
        } else {
            assert!(broken.is_err(), "{}: broken is accepted by the validator", e.id);
        }
        let v = grade::check(e, &c.broken);
        assert!(!v.correct, "{}: the broken configuration is graded right", e.id);
        assert!(
            !v.feedback.is_empty(),
            "{}: no feedback for the broken configuration",
            e.id
        );
        assert!(
            grade::check(e, &c.fixed).correct,
            "{}: fixed is graded wrong",
            e.id
        );
    }
    assert!(configs >= 8, "{configs} configuration exercises");
}

/// Grades a typical mistake; an error says why it does not count as one caught.
fn wrong(id: &str, answer: &str) -> Result<Verdict, String> {
    let v = grade::check(exercise(id), answer);
    if v.correct {
        return Err(format!("{id}: the typical mistake {answer:?} is graded right"));
    }
    if v.feedback.is_empty() {
        return Err(format!("{id}: no feedback for {answer:?}"));
    }
    Ok(v)
}

/// The mistakes each exercise is about give a different result over its data, so the grader
/// catches them: the data sets were built for that (two jobs, a counter reset, uneven growth).
#[test]
fn typical_wrong_answers_fail() {
    let mut missed = Vec::new();
    let promql: &[(&str, &str)] = &[
        ("promql-select-job", "http_requests_total"),
        ("promql-select-not-equal", "http_requests_total{code=\"500\"}"),
        ("promql-select-regex", "http_requests_total{code=~\"5\"}"),
        (
            "promql-select-metric-name-regex",
            "{__name__=~\"node_memory_.*\"}",
        ),
        (
            "promql-select-combined-matchers",
            "http_requests_total{job=\"checkout\", code=~\"5..\"}",
        ),
        ("promql-request-rate", "increase(http_requests_total[5m])"),
        ("promql-request-rate", "rate(http_requests_total[5m]) * 60"),
        ("promql-irate", "rate(http_requests_total[5m])"),
        ("promql-increase-counter-reset", "delta(http_requests_total[10m])"),
        (
            "promql-increase-counter-reset",
            "max_over_time(http_requests_total[10m]) - min_over_time(http_requests_total[10m])",
        ),
        ("promql-sum-of-rates", "rate(sum(http_requests_total)[5m:1m])"),
        ("promql-sum-by-job", "sum(rate(http_requests_total[5m]))"),
        ("promql-sum-by-job", "rate(http_requests_total[5m])"),
        (
            "promql-sum-without-instance",
            "sum by (job) (rate(http_requests_total[5m]))",
        ),
        ("promql-count-targets-up", "count by (job) (up)"),
        ("promql-targets-down", "up == bool 0"),
        ("promql-topk", "topk(2, rate(http_requests_total[5m]))"),
        ("promql-count-versions", "count(build_info{job=\"api\"})"),
        ("promql-avg-over-time", "avg(queue_length)"),
        (
            "promql-predict-linear",
            "predict_linear(node_filesystem_avail_bytes[30m], 4) < 0",
        ),
        (
            "promql-error-ratio",
            "sum(rate(http_requests_total{code!=\"200\"}[5m])) / sum(rate(http_requests_total[5m]))",
        ),
        (
            "promql-error-ratio",
            "rate(http_requests_total{code=~\"5..\"}[5m]) / rate(http_requests_total[5m])",
        ),
        (
            "promql-error-ratio-by-job",
            "sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
        ),
        (
            "promql-ignoring-group-left",
            "rate(http_requests_total[5m]) / ignoring (code) sum without (code) (rate(http_requests_total[5m]))",
        ),
        ("promql-group-left-info-label", "rate(http_requests_total[5m])"),
        (
            "promql-on-memory-limit",
            "container_memory_working_set_bytes / on (namespace, pod, container) kube_pod_container_resource_limits",
        ),
        (
            "promql-histogram-p99",
            "histogram_quantile(0.99, sum by (instance, le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        (
            "promql-histogram-p99",
            "histogram_quantile(0.99, sum by (le) (http_request_duration_seconds_bucket))",
        ),
        (
            "promql-histogram-p99",
            "histogram_quantile(99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        (
            "promql-histogram-median-by-job",
            "histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        (
            "promql-histogram-median-by-job",
            "histogram_quantile(0.5, sum by (job) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        (
            "promql-histogram-average",
            "avg(rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m]))",
        ),
        (
            "promql-histogram-fraction-fast",
            "rate(http_request_duration_seconds_bucket{le=\"0.25\"}[5m]) / rate(http_request_duration_seconds_count[5m])",
        ),
        ("promql-offset", "rate(http_requests_total[5m])"),
        (
            "promql-offset-compare",
            "sum by (job) (rate(http_requests_total[5m]))",
        ),
        ("promql-at-modifier", "rate(http_requests_total[5m] offset 20m)"),
        ("promql-subquery-max-rate", "rate(http_requests_total[30m])"),
        (
            "promql-subquery-max-rate",
            "max_over_time(http_requests_total[30m])",
        ),
        ("promql-absent", "up{job=\"payments\"} == 0"),
        ("promql-absent", "absent(up)"),
        (
            "promql-absent-over-time",
            "absent(batch_last_success_timestamp_seconds{job=\"nightly\"})",
        ),
        (
            "promql-recorded-series",
            "sum by (job) (job_code:http_requests:rate5m{code=~\"5..\"}) / job:http_requests:rate1h",
        ),
        ("promql-recorded-series", "rate(job:http_requests:rate5m[5m])"),
    ];
    for (id, answer) in promql {
        if let Err(e) = wrong(id, answer) {
            missed.push(e);
        }
    }

    let numbers: &[(&str, &str)] = &[
        ("slo-allowed-downtime-999-30d", "4.32 min"),
        ("slo-allowed-downtime-999-30d", "43.2"),
        ("slo-allowed-downtime-9995-28d", "21m36s"),
        ("slo-error-budget-ratio", "0.5"),
        ("slo-budget-remaining", "40%"),
        ("slo-budget-remaining-overspent", "0"),
        ("slo-burn-rate-below-one", "0.001005"),
        ("slo-time-to-exhaustion", "15d"),
        ("slo-threshold-28d", "14.4"),
        ("slo-detection-time", "60m"),
        ("dora-change-failure-rate-incidents", "20%"),
        ("dora-deployment-frequency", "1.75"),
        ("dora-lead-time", "6h"),
        ("dora-time-to-restore", "2h15m"),
    ];
    for (id, answer) in numbers {
        if let Err(e) = wrong(id, answer) {
            missed.push(e);
        }
    }

    let choices: &[(&str, &str)] = &[
        ("slo-policy-red-from-remaining", "Green"),
        ("slo-policy-yellow", "Red"),
        ("dora-change-failure-rate-tier", "medium"),
        ("dora-time-to-restore-tier", "elite"),
        ("dora-deployment-frequency-tier", "elite"),
        ("promql-recording-rule-name", "job:http_requests_total:rate5m"),
    ];
    for (id, answer) in choices {
        if let Err(e) = wrong(id, answer) {
            missed.push(e);
        }
    }

    // Some mistakes and what the feedback must tell the learner about them.
    let told: &[(&str, &str, &str)] = &[
        (
            "promql-request-rate",
            "rate(http_requests_total[5m]) * 60",
            "60 times",
        ),
        (
            "promql-request-rate",
            "increase(http_requests_total[5m])",
            "300 times",
        ),
        ("promql-sum-by-job", "sum(rate(http_requests_total[5m]))", "job"),
        ("promql-sum-by-job", "rate(http_requests_total[5m])", "4 series"),
        ("promql-irate", "rate(http_requests_total[5m])", "irate()"),
        ("promql-select-job", "http_requests_total", "c:80"),
        (
            "promql-error-ratio",
            "sum(rate(http_requests_total{code=~\"5..\"}[5m]) / sum(rate(http_requests_total[5m]))",
            "parse error",
        ),
        ("slo-allowed-downtime-999-30d", "4.32 min", "259.2 s"),
        ("dora-lead-time", "6h", "21600 s"),
        (
            "collector-bad-duration-days",
            &config_with_1d(),
            "max_elapsed_time",
        ),
    ];
    for (id, answer, fragment) in told {
        match wrong(id, answer) {
            Ok(v) if v.feedback.iter().any(|l| l.contains(fragment)) => {}
            Ok(v) => missed.push(format!(
                "{id}: the feedback on {answer:?} does not say {fragment:?}: {:?}",
                v.feedback
            )),
            Err(e) => missed.push(e),
        }
    }

    // The processor-order mistake is valid YAML: the grader must still tell the pipelines apart.
    let order = exercise("collector-memory-limiter-first");
    let Answer::Config(c) = &order.answer else {
        panic!("{}: a {} answer", order.id, order.answer.kind())
    };
    let v = wrong(&order.id, &c.broken).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        v.feedback.iter().any(|l| l.contains("processors")),
        "the order mistake's feedback names the processors: {:?}",
        v.feedback
    );
    assert!(missed.is_empty(), "mistakes not caught:\n{}", missed.join("\n"));
}

/// The days exercise's broken configuration: the collector's error names the field.
fn config_with_1d() -> String {
    match &exercise("collector-bad-duration-days").answer {
        Answer::Config(c) => c.broken.clone(),
        other => panic!("a {} answer", other.kind()),
    }
}

/// The other correct forms the explanations mention are accepted: grading compares results,
/// so an exercise must not teach "this works too" of an answer its grader refuses.
#[test]
fn equivalent_answers_the_explanations_mention_pass() {
    let same: &[(&str, &str)] = &[
        ("promql-select-regex", "http_requests_total{code=~\"5.*\"}"),
        (
            "promql-select-negative-regex",
            "http_requests_total{handler!=\"/healthz\", handler!=\"/metrics\"}",
        ),
        (
            "promql-increase-counter-reset",
            "rate(http_requests_total[10m]) * 600",
        ),
        (
            "promql-sum-without-instance",
            "sum by (job, code) (rate(http_requests_total[5m]))",
        ),
        ("promql-count-targets-up", "sum by (job) (up)"),
        (
            "promql-ignoring-group-left",
            "rate(http_requests_total[5m]) / on (job, instance) group_left sum by (job, instance) (rate(http_requests_total[5m]))",
        ),
        (
            "promql-histogram-fraction-fast",
            "sum(rate(http_request_duration_seconds_bucket{le=\"0.25\"}[5m])) / sum(rate(http_request_duration_seconds_bucket{le=\"+Inf\"}[5m]))",
        ),
        (
            "promql-select-metric-name-regex",
            "{__name__=~\"node_memory_.*_bytes\"}",
        ),
        ("slo-allowed-downtime-999-30d", "43m12s"),
        ("slo-allowed-downtime-999-30d", "43.2 min"),
        ("slo-time-to-exhaustion", "9d"),
        ("slo-time-to-exhaustion-page", "50h"),
        ("slo-budget-remaining-overspent", "-20%"),
        ("dora-lead-time", "4h"),
        ("dora-time-to-restore", "1h30m"),
        ("slo-policy-red-from-remaining", "red"),
    ];
    let mut refused = Vec::new();
    for (id, answer) in same {
        let v = grade::check(exercise(id), answer);
        if !v.correct {
            refused.push(format!("{id}: {answer:?} is refused: {:?}", v.feedback));
        }
    }
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

/// `promtool` on PATH; outside CI a missing tool skips with a loud message, in CI
/// (`CI=true`) it fails, as the root crate's `tests/common::require_tool` does.
fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let message = "`promtool` is not installed; install it with: apt-get install -y prometheus";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message} (CI=true: a missing peer fails the test)");
        }
        eprintln!("\n!!! SKIPPING: {message}\n");
    }
    found
}

/// One PromQL exercise's data as promtool's `input_series`: the `load` interval and
/// `(series, values)` pairs in the same notation.
fn promtool_series(e: &Exercise) -> (String, Vec<serde_json::Value>) {
    let data = e.data.as_deref().unwrap_or_default();
    let mut interval = None;
    let mut series = Vec::new();
    for line in data.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(i) = line.strip_prefix("load ") {
            assert!(interval.is_none(), "{}: one load block expected", e.id);
            interval = Some(i.trim().to_string());
            continue;
        }
        // The descriptor ends at its closing brace, or at the first space without labels.
        let end = match (line.find('{'), line.find(char::is_whitespace)) {
            (Some(b), Some(w)) if b < w => line.find('}').map(|c| c + 1),
            (_, w) => w,
        }
        .unwrap_or_else(|| panic!("{}: no values on {line:?}", e.id));
        let (name, values) = line.split_at(end);
        series.push(serde_json::json!({"series": name, "values": values.trim()}));
    }
    (
        interval.unwrap_or_else(|| panic!("{}: no load block", e.id)),
        series,
    )
}

/// Every PromQL reference gives, at each of its times, exactly what Prometheus 2.42 gives over
/// the same data: the curriculum teaches Prometheus's answers, not burnwatch's. The expected
/// samples of a promtool unit test are burnwatch's results, so promtool fails on any difference
/// (label sets, series count, or value).
#[test]
fn promql_references_agree_with_prometheus() {
    let Some(promtool) = promtool() else { return };
    let engine = Engine::default();
    let mut groups = Vec::new();
    let mut evaluations = 0;
    for e in Curriculum::builtin().exercises() {
        let Answer::Promql(p) = &e.answer else { continue };
        let store = load_script(e.data.as_deref().unwrap_or_default()).unwrap();
        let mut tests = Vec::new();
        for at in &p.at {
            let r = engine.instant_query(&store, &p.reference, ms(at, &e.id)).unwrap();
            let Value::Vector(v) = r.value else {
                panic!("{} at {at}: not a vector", e.id)
            };
            let samples: Vec<_> = v
                .iter()
                .map(|s| serde_json::json!({"labels": s.labels.to_string(), "value": s.v}))
                .collect();
            tests.push(serde_json::json!({"expr": p.reference, "eval_time": at, "exp_samples": samples}));
            evaluations += 1;
        }
        let (interval, series) = promtool_series(e);
        groups.push(serde_json::json!({
            "name": e.id, "interval": interval, "input_series": series, "promql_expr_test": tests,
        }));
    }
    // JSON is YAML: promtool reads it as a rules unit-test file.
    let file = std::env::temp_dir().join(format!("burnwatch-curriculum-{}.yml", std::process::id()));
    let doc = serde_json::json!({"evaluation_interval": "1m", "tests": groups});
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = std::process::Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        // promtool compares floats exactly; a last-bit difference of summation order is not a
        // different answer, so each failed eval's `exp:` and `got:` are compared again with the
        // grader's tolerance (1e-9 relative).
        let exp: Vec<_> = report
            .lines()
            .filter_map(|l| l.trim().strip_prefix("exp: "))
            .collect();
        let got: Vec<_> = report
            .lines()
            .filter_map(|l| l.trim().strip_prefix("got: "))
            .collect();
        assert!(
            !exp.is_empty() && exp.len() == got.len(),
            "promtool failed without comparing samples:\n{report}"
        );
        for (e, g) in exp.iter().zip(&got) {
            let (e, g) = (promtool_samples(e), promtool_samples(g));
            let same = e.len() == g.len()
                && e.iter()
                    .zip(&g)
                    .all(|((el, ev), (gl, gv))| el == gl && (ev - gv).abs() <= 1e-9 * ev.abs().max(gv.abs()));
            assert!(same, "promtool disagrees with the references' results:\n{report}");
        }
    }
    assert!(evaluations >= 60, "{evaluations} evaluations compared");
}

/// promtool's sample list, `{a="1", b="2"} 9E-01, {} 2E+00`, as (labels, value) pairs.
fn promtool_samples(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while let Some(open) = rest.find('{') {
        let close = open
            + rest[open..]
                .find('}')
                .unwrap_or_else(|| panic!("no closing brace in {text:?}"));
        let labels = rest[open..=close].to_string();
        let after = rest[close + 1..].trim_start();
        let end = after.find(", {").unwrap_or(after.len());
        let value = after[..end].trim().trim_end_matches(',');
        out.push((
            labels,
            value
                .parse()
                .unwrap_or_else(|_| panic!("value {value:?} in {text:?}")),
        ));
        rest = &after[end..];
    }
    out
}

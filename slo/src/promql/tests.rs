use std::time::Duration;

use super::*;
use crate::tsdb::{Labels, Storage, stale_nan};

fn store() -> Storage {
    let mut s = Storage::new();
    for (job, inst, step) in [("api", "0", 1.0), ("api", "1", 2.0), ("web", "0", 3.0)] {
        let l = Labels::from_pairs([
            ("__name__", "http_requests_total"),
            ("job", job),
            ("instance", inst),
        ]);
        for i in 0..=60i64 {
            s.append(&l, i * 15_000, step * i as f64).unwrap();
        }
    }
    let g = Labels::from_pairs([("__name__", "temp"), ("room", "a")]);
    for i in 0..=10i64 {
        s.append(&g, i * 60_000, 20.0 + i as f64).unwrap();
    }
    s.append(&g, 11 * 60_000, stale_nan()).unwrap();
    s
}

fn instant(s: &Storage, q: &str, t: i64) -> Vector {
    match Engine::default().instant_query(s, q, t).unwrap().value {
        Value::Vector(v) => v,
        other => panic!("expected a vector, got {other:?}"),
    }
}

#[test]
fn rate_of_a_steady_counter_is_its_slope() {
    let s = store();
    let v = instant(&s, "sum by (job) (rate(http_requests_total[5m]))", 900_000);
    let mut got: Vec<(String, f64)> = v.iter().map(|e| (e.labels.to_string(), e.v)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    // 1 and 2 per 15s for api, 3 per 15s for web.
    assert_eq!(got[0].0, r#"{job="api"}"#);
    assert!((got[0].1 - 0.2).abs() < 1e-9, "{got:?}");
    assert!((got[1].1 - 0.2).abs() < 1e-9, "{got:?}");
}

#[test]
fn staleness_marker_ends_a_series_before_the_lookback() {
    let s = store();
    assert_eq!(instant(&s, "temp", 600_000)[0].v, 30.0);
    // The marker at 11m hides the 10m sample even though it is within 5m.
    assert!(instant(&s, "temp", 11 * 60_000 + 1).is_empty());
}

#[test]
fn range_query_gives_a_matrix_sorted_by_labels_with_names_dropped() {
    let s = store();
    let r = Engine::default()
        .range_query(&s, "http_requests_total * 2", 0, 120_000, 60_000)
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("expected a matrix")
    };
    assert_eq!(m.len(), 3);
    assert!(m.windows(2).all(|w| w[0].labels < w[1].labels));
    assert!(
        m.iter()
            .all(|s| s.labels.metric_name().is_none() && s.samples.len() == 3)
    );
}

#[test]
fn many_to_many_matching_is_an_error_naming_the_side() {
    let s = store();
    let err = Engine::default()
        .instant_query(&s, "http_requests_total + on(job) http_requests_total", 60_000)
        .unwrap_err()
        .to_string();
    assert!(err.contains("many-to-many matching not allowed"), "{err}");
    assert!(err.contains("right hand-side"), "{err}");
}

#[test]
fn sample_limit_stops_big_queries() {
    let s = store();
    let engine = Engine::new(EngineOptions {
        max_samples: 10,
        ..EngineOptions::default()
    });
    let err = engine
        .instant_query(&s, "http_requests_total[10m]", 900_000)
        .unwrap_err();
    assert_eq!(err, QueryError::TooManySamples);
    assert!(engine.instant_query(&s, "temp", 60_000).is_ok());
}

/// Issue #12, crash 9: `count_over_time(vector(1)[3y:1s])` materialised all 94 million inner
/// points (6.8 GiB) before the sample limit was checked once at the end of the subquery. The
/// limit now stops it at the inner step that crosses it, in instant and range queries.
#[test]
fn subquery_sample_limit_is_checked_at_every_inner_step() {
    let s = store();
    let engine = Engine::new(EngineOptions {
        max_samples: 1000,
        ..EngineOptions::default()
    });
    let q = "count_over_time(vector(1)[3y:1s])";
    assert_eq!(
        engine.instant_query(&s, q, 900_000).unwrap_err(),
        QueryError::TooManySamples
    );
    assert_eq!(
        engine.range_query(&s, q, 0, 900_000, 60_000).unwrap_err(),
        QueryError::TooManySamples
    );
    // Nested: the outer subquery's inner evaluations are counted too.
    assert_eq!(
        engine
            .instant_query(
                &s,
                "max_over_time(count_over_time(vector(1)[1h:1s])[1h:1m])",
                900_000
            )
            .unwrap_err(),
        QueryError::TooManySamples
    );
    // Below the limit the answer is unchanged: 600 inner points, and the same from a selector.
    let v = instant(&s, "count_over_time(vector(1)[10m:1s])", 900_000);
    assert_eq!(v[0].v, 600.0);
    let r = engine
        .instant_query(&s, "count_over_time(http_requests_total[10m:15s])", 900_000)
        .unwrap();
    let Value::Vector(v) = r.value else { panic!() };
    assert_eq!(v.iter().map(|e| e.v).collect::<Vec<_>>(), vec![40.0; 3]);
}

/// The query timeout is honoured inside a subquery's loop over its inner steps, which evaluates
/// nothing that reads the store.
#[test]
fn timeout_stops_long_subqueries() {
    let s = store();
    let engine = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    let q = "count_over_time(vector(1)[3y:1s])";
    assert_eq!(
        engine.instant_query(&s, q, 900_000).unwrap_err(),
        QueryError::Timeout
    );
    assert_eq!(
        engine.range_query(&s, q, 0, 900_000, 60_000).unwrap_err(),
        QueryError::Timeout
    );
}

/// A selector over many series checks the deadline as it goes: one evaluation of `x` or `x[5m]`
/// over a million series must not run past the timeout before the next check.
#[test]
fn timeout_is_checked_inside_selectors_over_many_series() {
    let mut s = Storage::new();
    for i in 0..2000 {
        let l = Labels::from_pairs([("__name__", "many"), ("i", &i.to_string())]);
        s.append(&l, 0, 1.0).unwrap();
    }
    let engine = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    for q in ["many", "many[5m]"] {
        assert_eq!(
            engine.instant_query(&s, q, 0).unwrap_err(),
            QueryError::Timeout,
            "{q}"
        );
    }
    // Without the timeout both are answered.
    assert_eq!(instant(&s, "count(many)", 0)[0].v, 2000.0);
}

#[test]
fn timeout_stops_long_queries() {
    let s = store();
    let engine = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    let err = engine
        .range_query(&s, "rate(http_requests_total[1m])", 0, 3_600_000, 1_000)
        .unwrap_err();
    assert_eq!(err, QueryError::Timeout);
}

#[test]
fn parse_errors_are_reported_not_panicked() {
    let err = Engine::default()
        .instant_query(&Storage::new(), "sum(", 0)
        .unwrap_err();
    assert!(matches!(err, QueryError::Parse(_)), "{err:?}");
}

/// Regression (found by `slo/tests/fuzz.rs`): promql-parser panicked unquoting a string whose
/// backslash escapes a multi-byte character; Prometheus calls it an unknown escape sequence.
#[test]
fn a_backslash_before_a_multibyte_character_is_a_parse_error_not_a_panic() {
    let store = Storage::new();
    for query in [
        "\"\\🔥\"",
        "'\\é'",
        "up{a=\"x\\🔥\"}",
        "up{a=~\"\\🔥\"}",
        "label_replace(vector(1), \"a\", \"\\é\", \"b\", \"c\")",
        "\"\\🔥",
        "up{a=\"\\🔥}",
    ] {
        let err = Engine::default().instant_query(&store, query, 0).unwrap_err();
        assert!(matches!(err, QueryError::Parse(_)), "{query}: {err:?}");
    }
    let err = Engine::default()
        .instant_query(&store, "up{a=\"\\🔥\"}", 0)
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown escape sequence U+1F525"),
        "{err}"
    );
    // A backtick string is raw: the backslash is a character like any other.
    assert!(Engine::default().instant_query(&store, "up{a=`\\🔥`}", 0).is_ok());
}

/// Regression (found by `slo/tests/fuzz.rs`): promql-parser panics turning a huge number into a
/// duration (`Duration::from_secs_f64`); the query gets a parse error instead.
#[test]
fn a_duration_out_of_range_is_a_parse_error_not_a_panic() {
    let store = Storage::new();
    for query in [
        "up[1e308]",
        "up offset 1e308",
        "vector(1)[1e308:1s]",
        "rate(up[1e400])",
    ] {
        let err = Engine::default().instant_query(&store, query, 0).unwrap_err();
        assert!(matches!(err, QueryError::Parse(_)), "{query}: {err:?}");
        // The API's position probe on the same query does not panic either.
        let _ = crate::api::position::error_position(query, &err.to_string());
    }
}

/// A tiny deterministic generator (xorshift64*), enough to build random expressions.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

pub(crate) fn random_vector(r: &mut Rng, depth: u32) -> String {
    let leaves = [
        "http_requests_total",
        "temp",
        "{job=~\"a.*\"}",
        "nonexistent",
        "vector(1)",
        "http_requests_total offset 1m",
        "temp @ 100",
        "temp @ end()",
        "http_requests_total offset -5m",
    ];
    if depth == 0 {
        return r.pick(&leaves).to_string();
    }
    let sub = random_vector(r, depth - 1);
    let other = random_vector(r, depth - 1);
    let scalar = r.pick(&[
        "0",
        "1",
        "-1",
        "NaN",
        "Inf",
        "0.5",
        "1e308",
        "time()",
        "scalar(temp)",
    ]);
    let range = r.pick(&["1m", "5m", "1ms", "1h", "30s"]);
    let sel = r.pick(&["http_requests_total", "temp", "nonexistent"]);
    match r.next() % 16 {
        0 => format!(
            "{}({sel}[{range}])",
            r.pick(&[
                "rate", "increase", "delta", "irate", "idelta", "deriv", "changes", "resets"
            ])
        ),
        1 => format!(
            "{}({sel}[{range}])",
            r.pick(&[
                "avg_over_time",
                "sum_over_time",
                "first_over_time",
                "ts_of_last_over_time",
                "max_over_time",
                "stddev_over_time",
                "mad_over_time",
                "last_over_time",
                "count_over_time"
            ])
        ),
        2 => format!(
            "{} by (job) ({sub})",
            r.pick(&["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"])
        ),
        3 => format!(
            "{}({scalar}, {sub})",
            r.pick(&["topk", "bottomk", "quantile", "limitk", "limit_ratio"])
        ),
        4 => format!(
            "({sub}) {} ({other})",
            r.pick(&["+", "-", "*", "/", "%", "^", "atan2", "==", "!=", "> bool", "<="])
        ),
        5 => format!(
            "({sub}) {} ({other})",
            r.pick(&["and", "or", "unless", "+ on(job)", "* ignoring(instance)"])
        ),
        6 => format!("({sub}) * on(job) group_left(instance) ({other})"),
        7 => format!(
            "{}(({sub})[{range}:{}])",
            r.pick(&["max_over_time", "rate", "sum_over_time"]),
            r.pick(&["", "1m", "7s"])
        ),
        8 => match r.next() % 4 {
            0 => format!("histogram_quantile({scalar}, {sub})"),
            1 => format!("histogram_fraction({scalar}, {scalar}, {sub})"),
            2 => format!("histogram_quantiles({sub}, \"q\", {scalar}, 0.5)"),
            _ => format!(
                "{}({sub})",
                r.pick(&[
                    "histogram_count",
                    "histogram_sum",
                    "histogram_avg",
                    "histogram_stddev",
                    "histogram_stdvar"
                ])
            ),
        },
        9 => format!("label_replace({sub}, \"dst\", \"$1\", \"job\", \"(.*)\")"),
        10 => format!(
            "{}({sub})",
            r.pick(&[
                "abs",
                "sqrt",
                "ln",
                "sort_desc",
                "timestamp",
                "absent",
                "year",
                "round"
            ])
        ),
        11 => format!("clamp({sub}, {scalar}, {scalar})"),
        12 => format!("predict_linear({sel}[{range}], {scalar})"),
        13 => format!("count_values(\"v\", {sub})"),
        14 => format!("{sub} {} {scalar}", r.pick(&["+", "<", "> bool", "/"])),
        _ => format!("-({sub})"),
    }
}

#[test]
fn random_expressions_never_panic() {
    let mut s = store();
    // Histogram samples under the same names, so every operator and function meets them too:
    // exponential, custom-bucket, and a series switching from floats to histograms.
    let hl = Labels::from_pairs([("__name__", "temp"), ("room", "h")]);
    let cl = Labels::from_pairs([("__name__", "http_requests_total"), ("job", "nhcb")]);
    let ml = Labels::from_pairs([("__name__", "temp"), ("room", "mixed")]);
    for i in 0..=10i64 {
        let n = i as f64;
        let exp = crate::tsdb::FloatHistogram {
            schema: (i % 3) as i32 - 1,
            zero_threshold: 0.001 * (i % 2) as f64,
            zero_count: n,
            count: 4.0 * n,
            sum: 10.0 * n,
            positive: vec![(0, n), (2, n)],
            negative: vec![(-1, n)],
            ..Default::default()
        };
        let custom = crate::tsdb::FloatHistogram {
            schema: crate::tsdb::histogram::CUSTOM_BUCKETS_SCHEMA,
            count: 2.0 * n,
            sum: n,
            positive: vec![(0, n), (2, n)],
            custom_values: vec![0.5, 1.0],
            ..Default::default()
        };
        s.append_histogram(&hl, i * 60_000, exp.clone()).unwrap();
        s.append_histogram(&cl, i * 60_000, custom).unwrap();
        if i < 5 {
            s.append(&ml, i * 60_000, n).unwrap();
        } else {
            s.append_histogram(&ml, i * 60_000, exp).unwrap();
        }
    }
    let engine = Engine::new(EngineOptions {
        timeout: Duration::from_secs(5),
        ..EngineOptions::default()
    });
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..400 {
        let q = random_vector(&mut r, 1 + (i % 3));
        let t = [0, 1, 900_000, -60_000, i64::MAX / 2][(r.next() % 5) as usize];
        // Errors are fine; panics are not.
        let _ = engine.instant_query(&s, &q, t);
        let _ = engine.range_query(&s, &q, 0, 600_000, 60_000);
    }
}

/// Runs a test script and insists every eval passes.
fn script_passes(text: &str) {
    let r = testscript::run_script("inline", text);
    let details: Vec<String> = r.failures.iter().map(ToString::to_string).collect();
    assert!(
        r.failed == 0 && r.unsupported == 0 && r.errors.is_empty() && r.passed > 0,
        "{r}\n{}",
        details.join("\n")
    );
}

#[test]
fn native_histograms_load_select_and_aggregate() {
    script_passes(
        r#"
load 1m
  h{job="a"} {{schema:0 sum:2 count:2 buckets:[1 1]}}+{{schema:0 sum:2 count:2 buckets:[1 1]}}x4
  h{job="b"} {{schema:0 sum:4 count:4 buckets:[2 2]}}x4
  f{job="a"} 1 2 3 4 5

eval instant at 2m h{job="a"}
  h{job="a"} {{schema:0 sum:6 count:6 buckets:[3 3]}}

eval instant at 2m sum(h)
  {} {{schema:0 sum:10 count:10 buckets:[5 5]}}

eval instant at 2m avg(h)
  {} {{schema:0 sum:5 count:5 buckets:[2.5 2.5]}}

eval instant at 2m count(h)
  {} 2

eval instant at 2m histogram_count(h)
  {job="a"} 6
  {job="b"} 4

eval instant at 2m h * 2
  {job="a"} {{schema:0 sum:12 count:12 buckets:[6 6]}}
  {job="b"} {{schema:0 sum:8 count:8 buckets:[4 4]}}

eval instant at 2m h{job="a"} - ignoring(job) h{job="b"}
  {} {{schema:0 sum:2 count:2 buckets:[1 1]}}

eval instant at 2m sum({__name__=~"h|f"})
  expect warn msg: PromQL warning: encountered a mix of histograms and floats for aggregation

eval instant at 2m h > 1
  expect info

eval range from 0 to 2m step 1m h{job="b"}
  h{job="b"} {{schema:0 sum:4 count:4 buckets:[2 2]}}x2
"#,
    );
}

#[test]
fn native_histogram_rates_and_quantiles() {
    script_passes(
        r#"
load 1m
  c {{schema:0 sum:0 count:0}}+{{schema:0 sum:60 count:60 buckets:[30 30]}}x10

eval instant at 10m rate(c[5m])
  {} {{schema:0 sum:1 count:1 buckets:[0.5 0.5] counter_reset_hint:gauge}}

eval instant at 10m increase(c[5m])
  {} {{schema:0 sum:300 count:300 buckets:[150 150] counter_reset_hint:gauge}}

eval instant at 10m histogram_quantile(0.5, rate(c[5m]))
  {} 1

eval instant at 10m histogram_quantile(0.75, rate(c[5m]))
  {} 1.4142135623730951

eval instant at 10m histogram_fraction(0, 1, rate(c[5m]))
  {} 0.5

eval instant at 10m resets(c[10m])
  {} 0

load_with_nhcb 1m
  lat_bucket{le="1"}    0+1x5
  lat_bucket{le="2"}    0+3x5
  lat_bucket{le="+Inf"} 0+4x5

eval instant at 5m lat
  lat {{schema:-53 sum:0 count:20 buckets:[5 10 5] custom_values:[1 2]}}

eval instant at 5m histogram_quantile(0.5, lat)
  {} 1.5
"#,
    );
}

/// Data with the shapes that make whole-range evaluation tricky: counter resets, gaps longer
/// than the lookback, staleness markers, NaN and infinite values, series that start late or end
/// early, classic histogram buckets, and a native histogram (which must send its selector back
/// to the step path).
fn varied_store() -> Storage {
    let mut s = Storage::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (i, (job, inst)) in [
        ("api", "0"),
        ("api", "1"),
        ("web", "0"),
        ("web", "1"),
        ("db", "0"),
    ]
    .into_iter()
    .enumerate()
    {
        let l = Labels::from_pairs([("__name__", "reqs_total"), ("job", job), ("instance", inst)]);
        let g = Labels::from_pairs([("__name__", "temp"), ("job", job), ("instance", inst)]);
        let (mut c, first, last) = (0.0, i as i64 * 7, 240 - i as i64 * 11);
        for k in first..=last {
            let t = k * 15_000 + (rng.next() % 3_000) as i64;
            // A gap of 8 minutes in the middle of every other series.
            if i % 2 == 1 && (100..132).contains(&k) {
                continue;
            }
            c = if rng.next().is_multiple_of(40) {
                0.0
            } else {
                c + (rng.next() % 10) as f64
            };
            s.append(&l, t, c).unwrap();
            let v = match rng.next() % 50 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => stale_nan(),
                _ => (rng.next() % 1000) as f64 / 7.0 - 50.0,
            };
            s.append(&g, t, v).unwrap();
        }
        if i == 2 {
            s.append(&l, (last + 1) * 15_000, stale_nan()).unwrap();
        }
        for (b, le) in ["0.1", "0.5", "1", "+Inf"].into_iter().enumerate() {
            let h = Labels::from_pairs([
                ("__name__", "lat_seconds_bucket"),
                ("job", job),
                ("instance", inst),
                ("le", le),
            ]);
            for k in 0..=240i64 {
                s.append(&h, k * 15_000, (k * (b as i64 + 1) * (i as i64 + 1)) as f64)
                    .unwrap();
            }
        }
    }
    let nh = Labels::from_pairs([("__name__", "temp_native"), ("job", "native"), ("instance", "0")]);
    let h = crate::tsdb::FloatHistogram {
        count: 3.0,
        sum: 1.5,
        ..Default::default()
    };
    s.append_histogram(&nh, 600_000, h).unwrap();
    s
}

/// Every range query gives exactly the same matrix and annotations whether evaluated series by
/// series across all steps or one step at a time.
#[test]
fn whole_range_evaluation_matches_step_by_step() {
    let s = varied_store();
    let fast = Engine::default();
    let slow = Engine::new(EngineOptions {
        step_by_step: true,
        ..EngineOptions::default()
    });
    let queries = [
        "reqs_total",
        "temp",
        "temp offset 3m",
        "reqs_total @ 1800",
        "rate(reqs_total[1m])",
        "rate(reqs_total[5m] offset 2m)",
        "increase(reqs_total[10m])",
        "delta(temp[5m])",
        "irate(reqs_total[2m])",
        "idelta(temp[2m])",
        "deriv(temp[10m])",
        "changes(temp[10m])",
        "resets(reqs_total[10m])",
        "avg_over_time(temp[5m])",
        "min_over_time(temp[5m])",
        "max_over_time(temp[5m])",
        "sum_over_time(temp[5m])",
        "count_over_time(temp[5m])",
        "last_over_time(temp[5m])",
        "first_over_time(temp[5m])",
        "present_over_time(temp[5m])",
        "stddev_over_time(temp[5m])",
        "stdvar_over_time(temp[5m])",
        "mad_over_time(temp[5m])",
        "ts_of_max_over_time(temp[5m])",
        "-temp",
        "abs(temp)",
        "sqrt(reqs_total)",
        "temp > 10",
        "10 < temp",
        "temp > bool 10",
        "1 - temp",
        "reqs_total * 2 / 3",
        "(temp ^ 2) % 7",
        "sum(rate(reqs_total[5m]))",
        "sum by (job) (rate(reqs_total[5m]))",
        "avg without (instance) (temp)",
        "min by (job) (temp)",
        "max(temp)",
        "count by (job) (temp > 0)",
        "group by (instance) (reqs_total)",
        "stddev by (job) (temp)",
        "stdvar(temp)",
        "sum by (__name__) (temp)",
        "sum by (le) (rate(lat_seconds_bucket[5m]))",
        "histogram_quantile(0.9, sum by (le, job) (rate(lat_seconds_bucket[5m])))",
        "histogram_quantile(0.5, rate(lat_seconds_bucket[5m]))",
        "histogram_quantile(0.99, lat_seconds_bucket)",
        "histogram_quantile(0, sum without (instance) (lat_seconds_bucket))",
        "histogram_quantile(1.5, rate(lat_seconds_bucket[5m]))",
        "histogram_quantile(0.9, temp)",
        "histogram_quantile(0.9, lat_seconds_bucket - on(job, instance, le) group_left lat_seconds_bucket offset 10m)",
        "topk(2, rate(reqs_total[5m]))",
        "bottomk by (job) (1, temp)",
        "topk(3, -temp)",
        "topk(0, temp)",
        "topk(NaN, temp)",
        "sum(topk without (instance) (2, temp))",
        "limitk(1, sum by (job) (temp))",
        "quantile(0.3, sum by (job) (temp))",
        "rate(reqs_total[5m]) / on(job, instance) group_left temp",
        "sum(rate(reqs_total[1m])) / sum(rate(reqs_total[5m]))",
        "abs(temp - reqs_total)",
        "max_over_time(rate(reqs_total[1m])[10m:1m])",
        "timestamp(temp)",
        "label_replace(rate(reqs_total[5m]), \"x\", \"$1\", \"__name__\", \"(.*)\")",
        "absent(nonexistent)",
        "vector(1) + sum(temp)",
        "temp_native",
        "sum(temp_native)",
        "reqs_total + temp",
        "reqs_total - on(job, instance) temp",
        "temp > ignoring(le) reqs_total",
        "temp < bool reqs_total",
        "rate(lat_seconds_bucket[5m]) / ignoring(le) group_left sum without (le) (rate(lat_seconds_bucket[5m]))",
        "sum without (le) (rate(lat_seconds_bucket[5m])) / ignoring(le) group_right rate(lat_seconds_bucket[5m])",
        "sum by (job) (temp) * on(job) group_left(instance) temp",
        "temp * on(job) reqs_total",
        "temp + temp_native",
        "avg_over_time(temp[5m:30s])",
        "rate(sum(reqs_total)[5m:1m])",
        "min_over_time((temp > 0)[7m:45s] offset 1m)",
        "last_over_time(temp[10m:])",
        "max_over_time(temp[5m:1m] @ 1200)",
        "count_over_time(temp_native[5m:1m])",
        "sum_over_time(max_over_time(temp[2m:20s])[6m:1m])",
        "count_over_time(temp_native[5m])",
        "{__name__=~\"temp.*\"}",
    ];
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    for q in queries {
        for (start, end, step) in [
            (0, 3_600_000, 15_000),
            (30_000, 3_000_000, 60_000),
            (1_000, 1_000, 10_000),
        ] {
            let (a, b) = match (
                fast.range_query(&s, q, start, end, step),
                slow.range_query(&s, q, start, end, step),
            ) {
                (Ok(a), Ok(b)) => (a, b),
                (a, b) => {
                    assert_eq!(a.err(), b.err(), "{q} from {start}");
                    continue;
                }
            };
            assert_eq!(a.annotations, b.annotations, "{q} annotations");
            // The samples read are counted as if each step ran alone (Prometheus's
            // `totalQueryableSamples`), so both ways read the same number at every step.
            assert_eq!(
                a.stats.samples.total, b.stats.samples.total,
                "{q} from {start}: samples read"
            );
            assert_eq!(
                a.stats.samples.per_step, b.stats.samples.per_step,
                "{q} from {start}: per step"
            );
            let (Value::Matrix(a), Value::Matrix(b)) = (a.value, b.value) else {
                panic!("{q}: not matrices");
            };
            assert_eq!(a.len(), b.len(), "{q} from {start}: series");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.labels, y.labels, "{q}");
                assert_eq!(x.samples.len(), y.samples.len(), "{q} {}", x.labels);
                for (p, r) in x.samples.iter().zip(y.samples.iter()) {
                    assert!(p.t == r.t && same(p.v, r.v), "{q} {}: {p:?} vs {r:?}", x.labels);
                }
                assert_eq!(x.histograms, y.histograms, "{q}");
            }
        }
    }
}

/// Instant queries with functions over subqueries (Sloth's latency SLIs:
/// `avg_over_time((histogram_quantile(…) > bool x)[7d:1m])`) evaluate the subquery's inner
/// expression whole-range; the value, annotations and samples read are exactly the step-by-step
/// evaluation's, at times on and off the subquery step.
#[test]
fn instant_subquery_whole_range_matches_step_by_step() {
    let s = varied_store();
    let fast = Engine::default();
    let slow = Engine::new(EngineOptions {
        step_by_step: true,
        ..EngineOptions::default()
    });
    let queries = [
        "avg_over_time((histogram_quantile(0.9, sum by (le) (rate(lat_seconds_bucket[1m]))) > bool 0.2)[30m:1m])",
        "avg_over_time(temp[5m:30s])",
        "max_over_time(rate(reqs_total[1m])[10m:1m])",
        "rate(sum(reqs_total)[5m:1m])",
        "min_over_time((temp > 0)[7m:45s] offset 1m)",
        "last_over_time(temp[10m:])",
        "max_over_time(temp[5m:1m] @ 1200)",
        "count_over_time(temp_native[5m:1m])",
        "sum_over_time(max_over_time(temp[2m:20s])[6m:1m])",
        "sum(avg_over_time(temp[5m:1m])) by (job) / 2",
        "avg_over_time(temp[5m:1m]) + on(job, instance) temp",
        "timestamp(avg_over_time(temp[5m:1m]))",
        "stddev_over_time(temp[20m:1m]) > 1",
        "count_over_time(({__name__=~\"temp|reqs_total\"} * 2)[10m:1m])",
        "avg_over_time(nonexistent[5m:1m])",
        "histogram_quantile(0.5, sum by (le) (avg_over_time(lat_seconds_bucket[10m:1m])))",
    ];
    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    for q in queries {
        for t in [0, 1_000, 600_000, 1_234_567, 1_800_000, 3_600_000] {
            let (a, b) = match (fast.instant_query(&s, q, t), slow.instant_query(&s, q, t)) {
                (Ok(a), Ok(b)) => (a, b),
                (a, b) => {
                    assert_eq!(a.err(), b.err(), "{q} at {t}");
                    continue;
                }
            };
            assert_eq!(a.annotations, b.annotations, "{q} at {t}: annotations");
            assert_eq!(
                a.stats.samples.total, b.stats.samples.total,
                "{q} at {t}: samples read"
            );
            let (Value::Vector(a), Value::Vector(b)) = (a.value, b.value) else {
                panic!("{q}: not vectors");
            };
            assert_eq!(a.len(), b.len(), "{q} at {t}: series");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.labels, y.labels, "{q} at {t}");
                assert!(same(x.v, y.v), "{q} at {t} {}: {} vs {}", x.labels, x.v, y.v);
                assert_eq!(x.h, y.h, "{q} at {t}");
            }
        }
    }
}

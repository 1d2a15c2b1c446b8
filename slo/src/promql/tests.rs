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

/// A tiny deterministic generator (xorshift64*), enough to build random expressions.
struct Rng(u64);
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

fn random_vector(r: &mut Rng, depth: u32) -> String {
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
        8 => format!("histogram_quantile({scalar}, {sub})"),
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
    let s = store();
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

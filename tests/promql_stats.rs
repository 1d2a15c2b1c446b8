//! The query API's `stats` parameter against a real Prometheus 2.42 on the same data.
//!
//! Prometheus answers `data.stats` when `stats` is given: `timings` (six float seconds) and
//! `samples` (`totalQueryableSamples`, `peakSamples`, and with `stats=all`
//! `totalQueryableSamplesPerStep` as `[seconds, count]` pairs). For each query below both
//! servers must give the same JSON keys at every level and the same sample counts; timings are
//! only checked to be non-negative numbers.
//!
//! The queries are ones whose counts Prometheus 2.42 defines the same way burnwatch does:
//! selectors, range selectors, a range function over one series in an instant query, range
//! functions over many series in a range query, offsets. Known divergences (see
//! `slo/src/promql/stats.rs`) are left out: `peakSamples` of aggregations and binary operators
//! (Prometheus also counts its copy of each step's input), of an instant query's range function
//! over several series (Prometheus holds one series' window at a time, burnwatch all of them), and
//! `totalQueryableSamples` of a subquery that is the whole query. Every sample sits 100-400 ms past
//! a second and queries run at half past one, so 2.42's closed windows `[t - r, t]` and 3.x's
//! left-open ones (burnwatch) hold the same samples.

mod common;

use common::prom_pair::{PromPair, om_sample, post_form};
use serde_json::Value as Json;

const START_S: i64 = 1_767_225_600;
const SPAN_S: i64 = 3600;

/// A sample time `t` seconds into the data, 100-400 ms past the second.
fn jittered(t: i64, salt: i64) -> i64 {
    (START_S + t) * 1000 + 100 + (t * 7 + salt * 53) % 300
}

/// Three counters scraped every 15 s (one starting late, one stopping early) and two gauges
/// every 30 s.
fn data() -> String {
    let mut out = String::from("# TYPE st_requests counter\n");
    for (i, (first, last)) in [(0, SPAN_S), (900, SPAN_S), (0, SPAN_S / 2)]
        .into_iter()
        .enumerate()
    {
        let i = i as i64;
        let mut v = 1000.0 * (i as f64 + 1.0);
        let mut t = first;
        while t < last {
            let series = format!("st_requests_total{{job=\"api\",instance=\"i{i}\"}}");
            om_sample(&mut out, &series, v, jittered(t, i));
            v += ((t / 15) % 7) as f64 + 1.0;
            t += 15;
        }
    }
    out.push_str("# TYPE st_gauge gauge\n");
    for i in 0..2i64 {
        let mut t = 0;
        while t < SPAN_S {
            let series = format!("st_gauge{{job=\"db\",instance=\"g{i}\"}}");
            om_sample(
                &mut out,
                &series,
                ((t / 30 + i * 5) % 17) as f64 - 4.5,
                jittered(t, i + 3),
            );
            t += 30;
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The keys of a JSON object, sorted, or an empty list for anything else.
fn keys(j: &Json) -> Vec<String> {
    let mut k: Vec<String> = j
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// What must agree: the key sets of `data`, `stats`, `timings` and `samples`, and the sample
/// counts (with the per-step pairs when there are any).
fn comparable(body: &Json) -> Json {
    let stats = &body["data"]["stats"];
    serde_json::json!({
        "data": keys(&body["data"]),
        "stats": keys(stats),
        "timings": keys(&stats["timings"]),
        "samples": keys(&stats["samples"]),
        "totalQueryableSamples": stats["samples"]["totalQueryableSamples"],
        "peakSamples": stats["samples"]["peakSamples"],
        "totalQueryableSamplesPerStep": stats["samples"]["totalQueryableSamplesPerStep"],
    })
}

/// Both servers with Prometheus's `promql-per-step-stats` feature, so `stats=all` adds the
/// per-step counts.
#[test]
fn query_stats_match_prometheus() {
    let ready_at = (START_S + SPAN_S - 60) as f64 + 0.5;
    let feature = ["--enable-feature=promql-per-step-stats"];
    let Some(pair) = PromPair::start_with(
        &data(),
        "count({__name__=~\"st_.+\"})",
        ready_at,
        &feature,
        &feature,
    ) else {
        return;
    };
    let at = |s: i64| format!("{}.5", START_S + s);
    let instant = [
        ("st_requests_total", 1800),
        ("st_requests_total", 600),
        ("st_requests_total{instance=\"i1\"}", 2400),
        ("st_gauge offset 2m", 1800),
        ("st_requests_total[5m]", 1800),
        ("st_gauge[10m]", 3000),
        ("rate(st_requests_total{instance=\"i0\"}[5m])", 1800),
        ("max_over_time(st_gauge{instance=\"g1\"}[10m])", 1200),
        ("nope", 1800),
    ];
    let ranges = [
        ("st_requests_total", 1500, 2100, 60),
        ("st_gauge", 0, 3600, 300),
        ("rate(st_requests_total[5m])", 1500, 2100, 60),
        ("rate(st_requests_total[1m])", 600, 3000, 240),
        ("max_over_time(st_gauge[10m])", 1000, 1600, 15),
        ("st_requests_total offset 5m", 1700, 2000, 30),
        ("count_over_time(st_requests_total[2m])", 0, 1200, 120),
    ];
    let mut cases: Vec<(&str, Vec<(&str, String)>)> = Vec::new();
    for (q, t) in instant {
        cases.push(("/api/v1/query", vec![("query", q.to_string()), ("time", at(t))]));
    }
    for (q, s, e, step) in ranges {
        cases.push((
            "/api/v1/query_range",
            vec![
                ("query", q.to_string()),
                ("start", at(s)),
                ("end", at(e)),
                ("step", step.to_string()),
            ],
        ));
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for (path, params) in &cases {
        for stats in ["1", "all"] {
            let mut params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            params.push(("stats", stats));
            let (Some((ps, p)), Some((bs, b))) = (
                post_form(&pair.prometheus, path, &params),
                post_form(&pair.burnwatch, path, &params),
            ) else {
                failures.push(format!("{path} {params:?}: no JSON answer"));
                continue;
            };
            assert_eq!((ps, bs), (200, 200), "{path} {params:?}: {p} / {b}");
            let timings = &b["data"]["stats"]["timings"];
            for k in keys(timings) {
                assert!(
                    timings[&k].as_f64().is_some_and(|v| v >= 0.0),
                    "{path} {params:?}: timing {k} is {}",
                    timings[&k]
                );
            }
            let (p, b) = (comparable(&p), comparable(&b));
            if p != b {
                failures.push(format!("{path} {params:?}:\n  prometheus {p}\n  burnwatch  {b}"));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "stats differ from Prometheus 2.42 in {} of {checked}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Without `stats` (or with it empty) neither server adds `data.stats`; without the
/// `promql-per-step-stats` feature `stats=all` gives the totals only.
#[test]
fn no_stats_member_without_the_parameter_and_no_per_step_counts_without_the_feature() {
    let ready_at = (START_S + SPAN_S - 60) as f64 + 0.5;
    let Some(pair) = PromPair::start(&data(), "count({__name__=~\"st_.+\"})", ready_at) else {
        return;
    };
    let t = format!("{}.5", START_S + 1800);
    for extra in [vec![], vec![("stats", "")]] {
        let mut params = vec![("query", "st_requests_total"), ("time", t.as_str())];
        params.extend(extra);
        for base in [&pair.prometheus, &pair.burnwatch] {
            let (status, body) = post_form(base, "/api/v1/query", &params).expect("an answer");
            assert_eq!(status, 200);
            assert_eq!(
                keys(&body["data"]),
                ["result", "resultType"],
                "{base} {params:?}: {body}"
            );
        }
    }
    let params = [
        ("query", "st_requests_total"),
        ("time", t.as_str()),
        ("stats", "all"),
    ];
    for base in [&pair.prometheus, &pair.burnwatch] {
        let (status, body) = post_form(base, "/api/v1/query", &params).expect("an answer");
        assert_eq!(status, 200);
        assert_eq!(
            keys(&body["data"]["stats"]["samples"]),
            ["peakSamples", "totalQueryableSamples"],
            "{base}: {body}"
        );
    }
}

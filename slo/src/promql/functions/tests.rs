//! Engine-level cases for name removal and the label functions' duplicate check, each pinned to
//! what Prometheus answers (2.42 for the default; 3.x's feature flag for delayed removal).

use crate::promql::{Engine, EngineOptions, QueryError, Value};
use crate::tsdb::{Labels, Storage};

/// `a{x="1"}` and `b{x="1"}`: alike once their names go; `m{a, b}` with two `b` values.
fn store() -> Storage {
    let mut s = Storage::new();
    for (name, extra) in [("a", None), ("b", None), ("m", Some("x")), ("m", Some("y"))] {
        let l = match extra {
            None => Labels::from_pairs([("__name__", name), ("x", "1")]),
            Some(b) => Labels::from_pairs([("__name__", name), ("a", "1"), ("b", b)]),
        };
        for i in 0..=40i64 {
            s.append(
                &l,
                i * 15_000,
                (i * if extra == Some("y") { 2 } else { 1 }) as f64,
            )
            .unwrap();
        }
    }
    s
}

fn engines() -> [(Engine, &'static str); 2] {
    [
        (Engine::default(), "whole-range path"),
        (
            Engine::new(EngineOptions {
                step_by_step: true,
                ..EngineOptions::default()
            }),
            "step path",
        ),
    ]
}

fn delayed() -> Engine {
    Engine::new(EngineOptions {
        delayed_name_removal: true,
        ..EngineOptions::default()
    })
}

const SAME: &str = "vector cannot contain metrics with the same labelset";

fn err(e: &Engine, q: &str) -> String {
    match e.instant_query(&store(), q, 300_000) {
        Err(e) => e.to_string(),
        Ok(r) => panic!("{q} gave {:?}", r.value),
    }
}

fn series(r: Result<crate::promql::QueryResult, QueryError>) -> Vec<String> {
    let mut out: Vec<String> = match r.unwrap().value {
        Value::Vector(v) => v.iter().map(|s| format!("{} {}", s.labels, s.v)).collect(),
        Value::Matrix(m) => m
            .iter()
            .map(|s| format!("{} {}", s.labels, s.samples.len()))
            .collect(),
        other => panic!("{other:?}"),
    };
    out.sort();
    out
}

/// Prometheus's default drops a name where the function runs: two series left alike fail there,
/// even under an aggregation that would have merged them (delayed removal, on before, merged).
#[test]
fn name_removal_is_immediate_by_default() {
    let q = r#"sum(rate({__name__=~"a|b"}[1m]))"#;
    for (e, path) in engines() {
        assert_eq!(err(&e, q), SAME, "{path}");
        let r = e.range_query(&store(), q, 0, 300_000, 60_000).unwrap_err();
        assert_eq!(r.to_string(), SAME, "{path}");
        // `abs` and unary minus drop it too; a comparison keeps it.
        assert_eq!(err(&e, r#"sum(-{__name__=~"a|b"})"#), SAME, "{path}");
        assert_eq!(
            series(e.instant_query(&store(), r#"sum({__name__=~"a|b"} > 0)"#, 300_000)),
            ["{} 40"],
            "{path}"
        );
    }
    // With delayed removal the aggregation merges them first.
    assert_eq!(
        series(delayed().instant_query(&store(), q, 300_000)),
        ["{} 0.1333333333333333"]
    );
}

/// With immediate removal a later `label_replace` no longer sees the name.
#[test]
fn functions_after_a_name_drop_do_not_see_it() {
    let q = r#"label_replace(rate(a[1m]), "n", "$1", "__name__", "(.*)")"#;
    assert_eq!(
        series(Engine::default().instant_query(&store(), q, 300_000)),
        [r#"{x="1"} 0.06666666666666665"#]
    );
    assert_eq!(
        series(delayed().instant_query(&store(), q, 300_000)),
        [r#"{n="a", x="1"} 0.06666666666666665"#]
    );
}

/// `label_replace`/`label_join` making two series alike fail at once in Prometheus, also under an
/// aggregation; burnwatch summed them.
#[test]
fn label_functions_making_duplicates_fail_under_aggregations() {
    for e in [Engine::default(), delayed()] {
        assert_eq!(err(&e, r#"sum(label_replace(m, "b", "z", "", ""))"#), SAME);
        assert_eq!(err(&e, r#"sum(label_join(m, "b", "", "c"))"#), SAME);
        assert_eq!(
            e.range_query(
                &store(),
                r#"max(label_replace(m, "b", "z", "b", ".*"))"#,
                0,
                300_000,
                60_000
            )
            .unwrap_err()
            .to_string(),
            SAME
        );
    }
}

/// `count_values` adds its label before grouping, so `without` can remove it again (Prometheus
/// 2.42: `count_values without(v) ("v", m)` counts per series).
#[test]
fn count_values_without_its_own_label() {
    let e = Engine::default();
    assert_eq!(
        series(e.instant_query(&store(), r#"count_values without(v) ("v", m)"#, 300_000)),
        [r#"{a="1", b="x"} 1"#, r#"{a="1", b="y"} 1"#]
    );
    assert_eq!(
        series(e.instant_query(&store(), r#"count_values without(b) ("v", m)"#, 300_000)),
        [r#"{a="1", v="20"} 1"#, r#"{a="1", v="40"} 1"#]
    );
    assert_eq!(
        series(e.instant_query(&store(), r#"count_values by(a) ("b", m)"#, 300_000)),
        [r#"{a="1", b="20"} 1"#, r#"{a="1", b="40"} 1"#]
    );
}

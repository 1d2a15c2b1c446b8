//! Parse errors against a real Prometheus 2.42: the same status, `errorType`, position
//! (`1:5: parse error: ...`) and message for a table of hand-written bad queries, one or more
//! per error class of Prometheus's parser (lexer errors, grammar errors with and without context,
//! type and argument-count checks, selector checks, modifiers, numbers, escapes).
//!
//! [`KNOWN`] lists the queries whose message knowingly differs, each with the reason; for those
//! only the status and `errorType` must agree. Not listed: `x[1.5]`, which `promql-parser` takes as
//! 1.5 seconds where 2.42 refuses a range without a unit.

mod common;

use common::prom_pair::{PromPair, post_form};

/// Bad queries both servers must refuse with the same text.
const BAD: &[&str] = &[
    "sum(",
    "sum(x",
    "rate(x[5m]",
    "(((1)",
    "1 + (2",
    "x{a=\"b\"",
    "x{a=\"b\",",
    "{",
    "x[5m",
    "x[5m:",
    "x offset",
    "x @ ",
    "x{a=\"b",
    "\"unterminated",
    ")",
    "sum(x))",
    "x{a!b}",
    "1 !2",
    "1 . 2",
    "x[5x]",
    "1 $ 2",
    "x]",
    "x{a=\"1\"} }",
    "1 +",
    "foo bar",
    "1 + * 2",
    "sum(x) by",
    "rate(x)",
    "rate(x[5m], 1)",
    "rate()",
    "abs()",
    "abs(x, y)",
    "nosuchfunc(x)",
    "sum(x[5m])",
    "x[5m] + 1",
    "\"a\" + 1",
    "1 + \"a\"",
    "rate(1)",
    "histogram_quantile(x, y)",
    "label_replace(x, \"a\", \"b\", \"c\")",
    "label_replace(x, \"a\", \"b\", \"c\", 1)",
    "round(x, \"a\")",
    "topk(x, y)",
    "topk(\"a\", y)",
    "count_values(1, x)",
    "quantile(x)",
    "sum without (a) (x) by (b)",
    "x and 1",
    "1 and x",
    "x or on(a) 1",
    "sum by (a) x",
    "x[5m] offset",
    "x[5m][5m]",
    "x[5m:1m][5m]",
    "(x[5m])[1m:]",
    "-\"a\"",
    "-x[5m]",
    "x > bool",
    "1 > 2",
    "x @ start(",
    "x @ foo()",
    "x @ 1 @ 2",
    "x offset 1m offset 2m",
    "{}",
    "{a=\"\"}",
    "{__name__=\"\"}",
    "x{__name__=\"y\"}",
    "x{a=~\"a{3,2}\"}",
    "x{a=\"\\z\"}",
    "1e999999999999999",
    "x[0s]",
    "x[-5m]",
    "x[1m:0s]",
    "vector(1)[5m]",
    "time(1)",
    "sum(x) keep_firing",
    "x{a=\"b\"}{c=\"d\"}",
    "x{,}",
    "x{a}",
    "x{a=}",
    "x{=\"b\"}",
    "sum by (a,,b) (x)",
    "sum by (__name__ (x)",
    "absent(x, y)",
    "1 + on(a) 2",
    "sort(x, 1)",
    "5x",
    "x[5mx]",
    "x offset 5x",
    "x offset foo",
    "x[foo]",
    "sum by (a",
    "sum by (1)",
    "sum(x) by (a) (y)",
    "count_values(\"a\")",
    "x{a=\"b\",c}",
    "x{a=\"b\" c=\"d\"}",
    "x{a=~1}",
    "sum 1",
    "x{a=\"\\z\"} + y{b=\"\\q\"}",
    "rate(x[5m]) by (a)",
    "x @ start",
    "abs(x[5m])",
    "round()",
    "label_join(x)",
    "x + bool y",
    "x and bool y",
    "x and on(a) group_left y",
    "sum(x) and on() 1",
    "1 and on() x",
    "a:b c",
    "1 + 1e400",
    "x{a=\"b\"} offset -",
    "max_over_time(x[5m:1m] offset 1m [5m])",
    "sum(rate(x[5m])) without",
    "sum without(a) (x) + on(b c) y",
];

/// Bad queries whose message knowingly differs from Prometheus 2.42's, and why.
const KNOWN: &[(&str, &str)] = &[
    (
        "x{a=~\"(\"}",
        "Prometheus 3.x anchors regexes as `^(?s:...)$` (burnwatch follows 3.x: `.` matches a newline); 2.42 wrote `^(?:...)$`",
    ),
    (
        "x + on(a) group_left(b) group_right y",
        "promql-parser's grammar takes a second group modifier, so the parse fails later, at the operand",
    ),
    (
        "x[5m:x]",
        "Prometheus 2.42's lexer words a name after the subquery colon `unexpected colon 'x'`; burnwatch keeps the lexer's `unexpected character inside brackets`",
    ),
    ("x[5m:1m x]", "as above"),
    (
        "holt_winters(x[5m], 1)",
        "Prometheus 3.x renamed holt_winters to double_exponential_smoothing; promql-parser follows 3.x",
    ),
];

const AT: &str = "1767225600.5";

fn data() -> String {
    let mut out = String::from("# TYPE probe gauge\n");
    for i in 0..20 {
        common::prom_pair::om_sample(
            &mut out,
            "probe{job=\"a\"}",
            f64::from(i),
            (1_767_225_600 - 600 + i64::from(i) * 30) * 1000 + 100,
        );
    }
    out.push_str("# EOF\n");
    out
}

#[test]
fn parse_errors_match_prometheus() {
    let Some(pair) = PromPair::start(&data(), "probe", 1_767_225_600.5) else {
        return;
    };
    assert!(BAD.len() + KNOWN.len() >= 40);
    let mut failures = Vec::new();
    let queries = BAD
        .iter()
        .map(|q| (*q, None))
        .chain(KNOWN.iter().map(|(q, why)| (*q, Some(*why))));
    for (q, known) in queries {
        let instant = [("query", q), ("time", AT)];
        let range = [("query", q), ("start", AT), ("end", AT), ("step", "60")];
        for (path, params) in [
            ("/api/v1/query", &instant[..]),
            ("/api/v1/query_range", &range[..]),
        ] {
            let (Some((ps, p)), Some((bs, b))) = (
                post_form(&pair.prometheus, path, params),
                post_form(&pair.burnwatch, path, params),
            ) else {
                failures.push(format!("{path} {q:?}: no JSON answer"));
                continue;
            };
            assert_eq!(ps, 400, "{path} {q:?}: Prometheus accepted it: {p}");
            let same = if known.is_some() {
                (ps, &p["errorType"]) == (bs, &b["errorType"])
            } else {
                (ps, &p["errorType"], &p["error"]) == (bs, &b["errorType"], &b["error"])
            };
            if !same {
                failures.push(format!(
                    "{path} {q:?}\n  prometheus {ps} {} {}\n  burnwatch  {bs} {} {}",
                    p["errorType"], p["error"], b["errorType"], b["error"]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers differ from Prometheus 2.42:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Go's regex nesting limit as Prometheus meets it: 998 nested capture groups around a literal
/// are taken, 999 refused ("expression nests too deeply"; the quoted expression shows each
/// version's wrapper, `^(?:` in 2.42 and `^(?s:` in 3.x and burnwatch); non-capturing groups add
/// no height, so 1000 of them are taken.
#[test]
fn regex_nesting_limit_matches_prometheus() {
    let Some(pair) = PromPair::start(&data(), "probe", 1_767_225_600.5) else {
        return;
    };
    let nested = |open: &str, n: usize| format!("{}probe{}", open.repeat(n), ")".repeat(n));
    for (re, ok) in [
        (nested("(", 998), true),
        (nested("(", 999), false),
        (nested("(?:", 1000), true),
        ("(?:pro)be".to_string(), true),
    ] {
        let q = format!("count({{__name__=~\"{re}\"}})");
        let params = [("query", q.as_str()), ("time", AT)];
        for base in [&pair.prometheus, &pair.burnwatch] {
            let (status, body) = post_form(base, "/api/v1/query", &params).expect("an answer");
            if ok {
                assert_eq!(status, 200, "{base} {}: {body}", &re[..re.len().min(40)]);
                assert_eq!(body["data"]["result"][0]["value"][1], "1", "{base}: {body}");
            } else {
                assert_eq!(status, 400, "{base}: {body}");
                let err = body["error"].as_str().unwrap_or("");
                assert!(
                    err.starts_with("invalid parameter \"query\": 1:8: parse error: error parsing regexp: expression nests too deeply: `^("),
                    "{base}: {}",
                    &err[..err.len().min(200)]
                );
            }
        }
    }
}

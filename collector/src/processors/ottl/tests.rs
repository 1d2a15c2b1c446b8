use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::*;

/// An item holding the values a test gives it.
#[derive(Default)]
struct Fake(HashMap<String, Val<'static>>);

impl Fake {
    fn with(mut self, key: &str, v: Val<'static>) -> Self {
        self.0.insert(key.to_string(), v);
        self
    }
}

impl Item for Fake {
    fn get(&self, path: &Path) -> Val<'_> {
        let key = match path {
            Path::Field(f) => format!("{f:?}"),
            Path::Map(kind, k) => format!("{kind:?}[{k}]"),
        };
        self.0.get(&key).cloned().unwrap_or(Val::Nil)
    }
}

fn span() -> Fake {
    Fake::default()
        .with("Name", Val::Str("GET /health".into()))
        .with("Kind", Val::Int(2))
        .with("StatusCode", Val::Int(0))
        .with("Attributes[http.status_code]", Val::Int(200))
        .with("Attributes[ratio]", Val::Float(0.5))
        .with("Attributes[sampled]", Val::Bool(true))
        .with("Resource[service.name]", Val::Str("api".into()))
        .with("ScopeName", Val::Str("io.otel".into()))
}

fn holds(text: &str) -> bool {
    parse(Context::Span, text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .eval(&span())
}

fn error(ctx: Context, text: &str) -> String {
    parse(ctx, text).expect_err(text).to_string()
}

#[test]
fn comparisons_of_each_type() {
    assert!(holds(r#"name == "GET /health""#));
    assert!(!holds(r#"name != "GET /health""#));
    assert!(holds(r#"name < "GET /z""#));
    assert!(holds(r#"attributes["http.status_code"] >= 200"#));
    assert!(!holds(r#"attributes["http.status_code"] > 200"#));
    assert!(holds(r#"attributes["http.status_code"] <= 200.0"#));
    assert!(holds(r#"attributes["ratio"] < 1"#));
    assert!(holds(r#"attributes["sampled"] == true"#));
    // Booleans are not ordered; different types are unequal and unordered.
    assert!(!holds(r#"attributes["sampled"] > false"#));
    assert!(holds(r#"attributes["http.status_code"] != "200""#));
    assert!(!holds(r#"attributes["http.status_code"] == "200""#));
    assert!(!holds(r#"attributes["http.status_code"] < "300""#));
}

#[test]
fn nil_is_a_missing_attribute() {
    assert!(holds(r#"attributes["absent"] == nil"#));
    assert!(!holds(r#"attributes["absent"] != nil"#));
    assert!(holds(r#"resource.attributes["service.name"] != nil"#));
    assert!(!holds(r#"attributes["absent"] < 1"#));
    assert!(holds("nil == nil"));
}

#[test]
fn enums_are_integers() {
    assert!(holds("kind == SPAN_KIND_SERVER"));
    assert!(!holds("kind == SPAN_KIND_CLIENT"));
    assert!(holds("status.code == STATUS_CODE_UNSET"));
    assert!(holds("status.code != STATUS_CODE_ERROR"));
    assert_eq!(enum_value("SEVERITY_NUMBER_INFO"), Some(9));
    assert_eq!(enum_value("SEVERITY_NUMBER_WARN4"), Some(16));
    assert_eq!(enum_value("SEVERITY_NUMBER_FATAL4"), Some(24));
    assert_eq!(enum_value("METRIC_DATA_TYPE_SUM"), Some(2));
}

#[test]
fn boolean_operators_precedence_and_parentheses() {
    // and binds tighter than or.
    assert!(holds(r#"name == "x" and kind == 9 or kind == 2"#));
    assert!(!holds(r#"name == "x" and (kind == 9 or kind == 2)"#));
    assert!(holds(r#"not name == "x""#));
    assert!(!holds(r#"not not name == "x""#));
    assert!(holds(r#"not (name == "x" or kind == 1) and kind == 2"#));
    assert!(holds("true"));
    assert!(!holds("false or (false)"));
}

#[test]
fn is_match_on_strings_and_scalars() {
    assert!(holds(r#"IsMatch(name, "^GET /he")"#));
    assert!(!holds(r#"IsMatch(name, "^POST")"#));
    assert!(holds(r#"IsMatch(attributes["http.status_code"], "^2\\d\\d$")"#));
    assert!(!holds(r#"IsMatch(attributes["absent"], ".*")"#));
    assert!(holds(r#"not IsMatch(resource.attributes["service.name"], "db")"#));
    assert!(holds(r#"IsMatch(instrumentation_scope.name, "otel") == true"#));
}

#[test]
fn string_escapes() {
    let item = Fake::default().with("Name", Val::Str("a\"b\\c\n".into()));
    let c = parse(Context::Span, r#"name == "a\"b\\c\n""#).unwrap();
    assert!(c.eval(&item));
}

#[test]
fn unsupported_function_is_named_with_the_supported_list() {
    assert_eq!(
        error(Context::Span, r#"IsString(name)"#),
        "at byte 0: unsupported function 'IsString'; supported functions: IsMatch"
    );
    assert_eq!(
        error(Context::Span, r#"name == "a" and Len(name) > 3"#),
        "at byte 16: unsupported function 'Len'; supported functions: IsMatch"
    );
}

#[test]
fn unsupported_path_is_named_with_the_supported_list() {
    assert_eq!(
        error(Context::Metric, r#"attributes["k"] == 1"#),
        "at byte 0: unsupported path 'attributes[…]' in metrics.metric; supported paths: name, description, unit, type, aggregation_temporality, is_monotonic, instrumentation_scope.name, instrumentation_scope.version, resource.attributes[\"key\"]"
    );
    let msg = error(Context::Span, "   links == 1");
    assert!(
        msg.starts_with(
            "at byte 3: unsupported path 'links' in traces.span; supported paths: name, kind, status.code,"
        ),
        "{msg}"
    );
}

#[test]
fn syntax_errors_carry_byte_positions() {
    assert_eq!(
        error(Context::Span, r#"name = "x""#),
        "at byte 5: '=' is not an operator; use '==' to compare"
    );
    assert_eq!(
        error(Context::Span, r#"name == "x"#),
        "at byte 8: the string is not terminated"
    );
    assert_eq!(
        error(Context::Span, r#"(name == "x""#),
        "at byte 12: expected ')' to close the '(' at byte 0, found the end of the condition"
    );
    assert_eq!(
        error(Context::Span, "name"),
        "at byte 4: expected a comparison operator (==, !=, <, <=, >, >=) after the value at byte 0, found the end of the condition"
    );
    assert_eq!(
        error(Context::Span, r#"kind == SPAN_KIND_WHATEVER"#),
        "at byte 8: unsupported enum 'SPAN_KIND_WHATEVER'; supported: SPAN_KIND_*, STATUS_CODE_*, METRIC_DATA_TYPE_*, AGGREGATION_TEMPORALITY_*, SEVERITY_NUMBER_*"
    );
    assert_eq!(
        error(Context::Span, r#"name == "x" name"#),
        "at byte 12: unexpected 'name' after a complete condition"
    );
    assert_eq!(
        error(Context::Span, "kind == 99999999999999999999"),
        "at byte 8: '99999999999999999999' does not fit a 64-bit integer"
    );
    assert_eq!(
        error(Context::Span, "kind == 1 + 1"),
        "at byte 10: unexpected character '+'"
    );
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let parens = format!("{}true{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(
        error(Context::Span, &parens),
        format!(
            "at byte {MAX_DEPTH}: the condition nests deeper than {MAX_DEPTH} levels of parentheses and not"
        )
    );
    let nots = format!("{}true", "not ".repeat(100_000));
    assert!(error(Context::Span, &nots).contains("nests deeper than"));
    let ok = format!("{}true{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(holds(&ok));
}

/// Words and symbols of the grammar, so the fuzzer reaches deep into the parser rather
/// than stopping at the first unexpected character.
const VOCABULARY: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "!",
    "and",
    "or",
    "not",
    "true",
    "false",
    "nil",
    "name",
    "kind",
    "attributes",
    "resource.attributes",
    "\"k\"",
    "\"unterminated",
    "\"a\\\"b\"",
    "\"\\q\"",
    "1",
    "-2",
    "3.5",
    "1e400",
    "-",
    "IsMatch",
    "IsMatch(",
    "\"(\"",
    "SPAN_KIND_SERVER",
    "STATUS_CODE_ERROR",
    "FOO_BAR",
    "Len",
    "é",
    "\u{0}",
    "status.code",
    "span.name",
    "metric.name",
    "body",
    "value_int",
    ".",
    "9999999999999999999999",
];

fn check_never_panics(text: &str) {
    for ctx in [
        Context::Span,
        Context::SpanEvent,
        Context::Metric,
        Context::DataPoint,
        Context::LogRecord,
    ] {
        if let Ok(c) = parse(ctx, text) {
            c.eval(&span());
        }
    }
}

/// A deterministic run (fixed ChaCha seed), so CI sees the same inputs every time.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

#[test]
fn fuzz_parser_never_panics_on_arbitrary_text() {
    runner(4000)
        .run(&"\\PC{0,80}|[ -~]{0,80}", |text| {
            check_never_panics(&text);
            Ok(())
        })
        .unwrap();
}

#[test]
fn fuzz_parser_never_panics_on_token_soup() {
    let soup = proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..40)
        .prop_map(|words| words.join(" "));
    let glued = proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..40)
        .prop_map(|words| words.concat());
    runner(6000)
        .run(&prop_oneof![soup, glued], |text| {
            check_never_panics(&text);
            Ok(())
        })
        .unwrap();
}

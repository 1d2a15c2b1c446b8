//! Fuzz harnesses for the store's parsers, as property tests (the machine's one stable toolchain
//! cannot run `cargo fuzz`): PromQL parse + evaluation, the text exposition and OpenMetrics
//! parsers, and remote-write decoding. Inputs are valid documents with random damage (bytes cut,
//! repeated, swapped, replaced by tokens of the format) and plain random bytes. The property is
//! what a user of `burnwatch up` is promised: no input panics (one request must never take the
//! process down), every refusal is an error value, and errors point inside the input.
//!
//! Seeds: every query of Prometheus's own test corpus (`../shared/promql-testdata`, read in place)
//! and the repository's example exposition. CI fixes `PROPTEST_RNG_SEED`.

use std::sync::LazyLock;
use std::time::Duration;

use burnwatch_slo::ingest::import_text;
use burnwatch_slo::ingest::remote_write::{
    Label, LabelLimits, Sample, TimeSeries, WriteRequest, encode_write_request, prepare_remote_write,
};
use burnwatch_slo::ingest::text::{Format, parse_bytes};
use burnwatch_slo::promql::{Engine, EngineOptions};
use burnwatch_slo::tsdb::Storage;
use proptest::prelude::*;

fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The example OpenMetrics exposition every harness starts from.
static EXPOSITION: LazyLock<String> = LazyLock::new(|| repo_file("examples/metrics/checkout.om"));

/// The queries of every `eval` line in Prometheus's test corpus.
static QUERIES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/promql-testdata");
    let mut queries = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            // `eval[_fail|_warn|...] instant at 5m <query>` / `eval range from ... step 1m <query>`.
            let Some(rest) = line.strip_prefix("eval") else {
                continue;
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            // `eval instant …` or `eval_fail instant …`: the kind is the first or second word.
            let Some(kind) = words
                .iter()
                .take(2)
                .position(|w| *w == "instant" || *w == "range")
            else {
                continue;
            };
            let skip = kind + if words[kind] == "instant" { 3 } else { 7 };
            let query = words.get(skip..).map(|w| w.join(" ")).unwrap_or_default();
            if !query.is_empty() {
                queries.push(query);
            }
        }
    }
    assert!(queries.len() > 1000, "only {} corpus queries", queries.len());
    queries
});

/// The store the queries run against: the example exposition, imported.
static STORE: LazyLock<Storage> = LazyLock::new(|| {
    let mut store = Storage::new();
    import_text(&mut store, &EXPOSITION).unwrap();
    store
});

/// PromQL tokens a mutation may insert.
const PROMQL_TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "`",
    "'",
    "=~",
    "!~",
    "!=",
    "==",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    " and ",
    " or ",
    " unless ",
    " by ",
    " without ",
    " on",
    " ignoring",
    " group_left",
    " offset ",
    "@",
    "5m",
    "1s",
    "0s",
    ":",
    "[1h:1ms]",
    "sum",
    "rate",
    "histogram_quantile",
    "label_replace",
    "count_values",
    "topk",
    "absent",
    "vector",
    "scalar",
    "time()",
    "1e308",
    "NaN",
    "Inf",
    "-Inf",
    "0x",
    "\\",
    "\n",
    "{__name__=~\".+\"}",
    "bool",
    "start()",
    "end()",
    "(((((((",
    "]]]]",
    "1+1+1+1",
    "🔥",
];

/// Exposition tokens a mutation may insert.
const TEXT_TOKENS: &[&str] = &[
    "\n",
    " ",
    "{",
    "}",
    "=",
    "\"",
    "\\",
    ",",
    "# TYPE x counter\n",
    "# HELP ",
    "# UNIT x s\n",
    "# EOF\n",
    "_total",
    "_bucket",
    "le=\"+Inf\"",
    "quantile=\"0.5\"",
    "NaN",
    "+Inf",
    "1e400",
    "-0",
    "0x1p3",
    "# {trace_id=\"a\"} 1 1\n",
    "99999999999999999999",
    "\t",
    "\r",
    "é",
    "\u{0}",
];

/// One change to a document.
#[derive(Debug, Clone)]
enum Damage {
    Cut { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Repeat { at: usize, len: usize, times: usize },
    Swap { a: usize, b: usize },
    Byte { at: usize, byte: u8 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Damage::Cut { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Damage::Insert { at, token }),
        (any::<usize>(), 1usize..6, 2usize..40).prop_map(|(at, len, times)| Damage::Repeat {
            at,
            len,
            times
        }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Damage::Swap { a, b }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Byte { at, byte }),
    ]
}

/// Applies `damage` to `doc` (byte-wise, so the result may not be UTF-8).
fn apply(doc: &[u8], damage: &[Damage], tokens: &[&str]) -> Vec<u8> {
    let mut d = doc.to_vec();
    for change in damage {
        let n = d.len().max(1);
        match *change {
            Damage::Cut { at, len } => {
                let at = at % n;
                let end = (at + len).min(d.len());
                if at < end {
                    d.drain(at..end);
                }
            }
            Damage::Insert { at, token } => {
                let at = at % (d.len() + 1);
                let t = tokens[token % tokens.len()].as_bytes();
                d.splice(at..at, t.iter().copied());
            }
            Damage::Repeat { at, len, times } => {
                let at = at % n;
                let end = (at + len).min(d.len());
                let piece = d.get(at..end).unwrap_or_default().to_vec();
                for _ in 0..times {
                    d.splice(end..end, piece.iter().copied());
                }
            }
            Damage::Swap { a, b } => {
                if !d.is_empty() {
                    let (a, b) = (a % d.len(), b % d.len());
                    d.swap(a, b);
                }
            }
            Damage::Byte { at, byte } => {
                if !d.is_empty() {
                    let at = at % d.len();
                    d[at] = byte;
                }
            }
        }
    }
    d
}

/// An engine whose limits keep a damaged query cheap (`[1h:1ms]` and friends).
fn engine() -> Engine {
    Engine::new(EngineOptions {
        max_samples: 200_000,
        timeout: Duration::from_secs(5),
        ..EngineOptions::default()
    })
}

/// The exposition's newest timestamp region: queries evaluate where the data is.
const EVAL_AT_MS: i64 = 1_767_229_200_000;

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// A damaged corpus query is answered or refused, never a panic; a parse error's position
    /// lies inside the query.
    #[test]
    fn damaged_queries_are_answered_or_refused(pick in any::<usize>(), damage in prop::collection::vec(damage(), 1..5)) {
        let query = &QUERIES[pick % QUERIES.len()];
        let damaged = String::from_utf8_lossy(&apply(query.as_bytes(), &damage, PROMQL_TOKENS)).into_owned();
        let engine = engine();
        let _ = engine.instant_query(&*STORE, &damaged, EVAL_AT_MS);
        let _ = engine.range_query(&*STORE, &damaged, EVAL_AT_MS - 3_600_000, EVAL_AT_MS, 60_000);
    }

    /// Random token soup: the parser and evaluator see shapes no corpus holds.
    #[test]
    fn token_soup_is_answered_or_refused(tokens in prop::collection::vec(any::<usize>(), 1..40)) {
        let query: String = tokens.iter().map(|t| PROMQL_TOKENS[t % PROMQL_TOKENS.len()]).collect();
        let _ = engine().instant_query(&*STORE, &query, EVAL_AT_MS);
    }

    /// A damaged exposition, in either format, parses or fails at a line and column inside it.
    #[test]
    fn damaged_expositions_parse_or_fail_inside_the_input(damage in prop::collection::vec(damage(), 1..6), om in any::<bool>()) {
        let doc = apply(EXPOSITION.as_bytes(), &damage, TEXT_TOKENS);
        let format = if om { Format::OpenMetrics } else { Format::Prometheus };
        let mut samples = 0usize;
        if let Err(e) = parse_bytes(&doc, format, |_| samples += 1) {
            let lines = doc.split(|&b| b == b'\n').count();
            prop_assert!(e.line >= 1 && e.line <= lines + 1, "line {} of {lines}: {e}", e.line);
        }
        // Import goes through the same parser into a store.
        if let Ok(text) = std::str::from_utf8(&doc) {
            let _ = import_text(&mut Storage::new(), text);
        }
    }

    /// Remote-write bodies with damaged protobuf (and plain random bytes) are decoded or refused.
    #[test]
    fn damaged_remote_write_bodies_are_decoded_or_refused(damage in prop::collection::vec(damage(), 1..6), noise in prop::collection::vec(any::<u8>(), 0..256)) {
        let valid = encode_write_request(&WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label { name: "__name__".into(), value: "http_requests_total".into() },
                    Label { name: "job".into(), value: "api".into() },
                ],
                samples: vec![Sample { value: 1.5, timestamp: 1_000 }, Sample { value: 2.5, timestamp: 16_000 }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let body = apply(&valid, &damage, &["\u{0}", "\u{7f}", "\u{ff}", "\n\u{3}"]);
        let _ = prepare_remote_write(&body, &LabelLimits::default(), i64::MAX);
        let _ = prepare_remote_write(&noise, &LabelLimits::default(), i64::MAX);
    }
}

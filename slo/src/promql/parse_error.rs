//! Prometheus's words and positions for the parse errors `promql-parser` reports.
//!
//! `promql-parser` checks types and argument counts as Prometheus does but words them its own way
//! (`expected type matrix in call to function 'rate', got vector`) and gives no position, and it
//! reports every grammar error as `invalid promql query`. Prometheus's parser says
//! `1:6: parse error: expected type range vector in call to function "rate", got instant vector`
//! and, for grammar errors, names the token it did not expect and where
//! (`unexpected "," in grouping opts, expected label`). This module translates the messages and
//! finds the node each one is about by tokenising the query itself:
//!
//! - a type or argument-count error is about the smallest run of tokens that fails to parse with
//!   the same message (the offending node); Prometheus points at its start, at the offending
//!   argument or operand inside it, at the operator (comparisons, `bool`) or at the `[` of a
//!   range on something that is not a selector;
//! - grammar errors inside braces and grouping labels are found by following Prometheus's grammar
//!   for them token by token; others are at the position [`crate::api::position`] finds, described as
//!   Prometheus's lexer describes the token there (`identifier "x"`, `<op:*>`, `<by>`, `"{"`),
//!   with the context of the grammar rule that failed (`in aggregation`, `in @, expected
//!   timestamp`, `in offset, expected duration`, subquery and range brackets).
//!
//! Known differences, checked against Prometheus 2.42 in `tests/promql_errors.rs`: regex errors
//! show the `(?s:` anchoring of Prometheus 3.x (2.42 wrote `(?:`); a negative range (`x[-5m]`) is
//! refused by the lexer with its own words; a second `group_left`/`group_right` after a first one
//! is accepted by `promql-parser`'s grammar, so its position is where that parse then fails;
//! a range given as a plain number (`x[1.5]`) is taken as seconds, as `promql-parser` does.

use promql_parser::parser::{self, value::ValueType};

/// One token of a query, by byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tok {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// What a token is, as far as error messages need to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A name: metric, label, function, keyword.
    Ident,
    /// A number (`1`, `1e3`, `0x1f`, `.5`).
    Number,
    /// A duration (`5m`, `1h30m`).
    Duration,
    /// A quoted string.
    Str,
    /// Anything else: brackets, commas, operators.
    Punct,
}

const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "start",
    "end",
];

const SET_AND_WORD_OPS: &[&str] = &["and", "or", "unless", "atan2"];

const AGGREGATORS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Tokenises `q` for error analysis; stops at the first character no PromQL token starts with.
pub(crate) fn tokens(q: &str) -> Vec<Tok> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // Inside `[...]` a `:` separates durations instead of continuing a metric name.
    let mut brackets = 0usize;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let kind = if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' && c != b'`' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            Kind::Str
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || (c == b':' && brackets == 0) {
            let word =
                |x: u8| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || (x == b':' && brackets == 0);
            while i < b.len() && word(b[i]) {
                i += 1;
            }
            let w = &q[start..i];
            if c.is_ascii_digit() || c == b'.' {
                if is_duration(w) {
                    Kind::Duration
                } else {
                    Kind::Number
                }
            } else {
                Kind::Ident
            }
        } else {
            let two = q.get(i..i + 2).unwrap_or("");
            i += if matches!(two, "==" | "!=" | "<=" | ">=" | "=~" | "!~") {
                2
            } else {
                1
            };
            match c {
                b'[' => brackets += 1,
                b']' => brackets = brackets.saturating_sub(1),
                _ => {}
            }
            if !c.is_ascii() {
                break;
            }
            Kind::Punct
        };
        out.push(Tok { kind, start, end: i });
    }
    out
}

/// Whether a word starting with a digit is a duration (`5m`, `1h30m`, `100ms`).
fn is_duration(w: &str) -> bool {
    let mut rest = w;
    let mut any = false;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
        any = true;
    }
    any
}

/// How Prometheus's lexer describes a token in `unexpected ...` (`Item.desc`).
fn describe(q: &str, t: &Tok) -> String {
    let text = &q[t.start..t.end];
    match t.kind {
        Kind::Ident => {
            let lower = text.to_ascii_lowercase();
            if KEYWORDS.contains(&lower.as_str()) {
                format!("<{text}>")
            } else if SET_AND_WORD_OPS.contains(&lower.as_str()) {
                format!("<op:{text}>")
            } else if AGGREGATORS.contains(&lower.as_str()) {
                format!("<aggr:{text}>")
            } else if text.contains(':') {
                format!("metric identifier {text:?}")
            } else {
                format!("identifier {text:?}")
            }
        }
        Kind::Number => format!("number {text:?}"),
        Kind::Duration => format!("duration {text:?}"),
        Kind::Str => {
            let quoted = format!("{text:?}");
            // Go's `%.10q...` for long values.
            if text.chars().count() > 10 {
                let short: String = text.chars().take(10).collect();
                format!("string {:?}...", short)
            } else {
                format!("string {quoted}")
            }
        }
        Kind::Punct => match text {
            "(" | ")" | "{" | "}" | "[" | "]" | "," | "=" | ":" | "@" => format!("{text:?}"),
            op => format!("<op:{op}>"),
        },
    }
}

/// Prometheus's names for value types.
fn type_name(promql_parser_name: &str) -> &str {
    match promql_parser_name {
        "matrix" => "range vector",
        "vector" => "instant vector",
        other => other,
    }
}

/// Prometheus's position and message for a query `promql-parser` refused with `message`, when
/// this module knows them; `None` leaves the message as it is.
///
/// The position is `None` when the query is too long to search for the offending node.
pub fn translate(query: &str, message: &str) -> Option<(Option<usize>, String)> {
    // Grammar errors inside braces and grouping labels come first: Prometheus's parser meets them
    // before anything later in the query.
    let toks = tokens(query);
    let found = if let Some(found) = braces_and_grouping(query, &toks) {
        Some(found)
    } else if let Some(rest) = message.strip_prefix("unknown escape sequence ") {
        escape(query, rest)
    } else if message.starts_with(NUMBER_ERROR) {
        let t = toks
            .iter()
            .find(|t| message.contains(&format!("{:?}", &query[t.start..t.end])))?;
        Some((t.start, message.to_string()))
    } else {
        return semantic(query, &toks, message);
    };
    found.map(|(p, m)| (Some(p), m))
}

const NUMBER_ERROR: &str = "error parsing number: ";

/// Prometheus's error for a number too large for a float (`1e999`), which `promql-parser` takes
/// as infinity: `error parsing number: strconv.ParseFloat: parsing "1e999": value out of range`.
pub fn number_out_of_range(query: &str) -> Option<String> {
    tokens(query).into_iter().find_map(|t| {
        let text = &query[t.start..t.end];
        let v = text.parse::<f64>().ok()?;
        (t.kind == Kind::Number && v.is_infinite())
            .then(|| format!("{NUMBER_ERROR}strconv.ParseFloat: parsing {text:?}: value out of range"))
    })
}

/// Type, argument-count and other checks made on a complete parse.
fn semantic(query: &str, toks: &[Tok], message: &str) -> Option<(Option<usize>, String)> {
    let requote = |s: &str| s.replace('\'', "\"");
    // (message, where in the offending node)
    enum At {
        Start,
        Operator,
        LastBracket,
        Arg(ValueType),
        ZeroDuration,
        Operand,
        Aggregation(ValueType),
    }
    let (text, at) = if let Some(rest) = message.strip_prefix("expected type ") {
        let (expected, rest) = rest.split_once(" in ")?;
        let (context, got) = rest.rsplit_once(", got ")?;
        let got_type = value_type(got)?;
        if context == "aggregation expression" {
            let text = format!(
                "expected type {} in aggregation {{}}, got {}",
                type_name(expected),
                type_name(got)
            );
            (text, At::Aggregation(got_type))
        } else {
            let text = format!(
                "expected type {} in {}, got {}",
                type_name(expected),
                requote(context),
                type_name(got)
            );
            (text, At::Arg(got_type))
        }
    } else if message.starts_with("expected ") && message.contains(" argument(s) in call to '")
        || message.starts_with("unknown function with name '")
        || message.starts_with("metric name must not be set twice")
        || message.starts_with("no grouping allowed for '")
        || message.starts_with("wrong number of arguments for aggregate expression")
    {
        (requote(message), At::Start)
    } else if let Some(op) = message
        .strip_prefix("set operator '")
        .and_then(|r| r.strip_suffix("' not allowed in binary scalar expression"))
    {
        // Prometheus checks `on(...)`/`ignoring(...)` labels first.
        let matching = toks.windows(3).any(|w| {
            matches!(
                query[w[0].start..w[0].end].to_ascii_lowercase().as_str(),
                "on" | "ignoring"
            ) && &query[w[1].start..w[1].end] == "("
                && &query[w[2].start..w[2].end] != ")"
        });
        if matching {
            (
                "vector matching only allowed between instant vectors".to_string(),
                At::Start,
            )
        } else {
            (
                format!("set operator \"{op}\" not allowed in binary scalar expression"),
                At::Start,
            )
        }
    } else if message == "vector matching only allowed between vectors" {
        (
            "vector matching only allowed between instant vectors".to_string(),
            At::Start,
        )
    } else if let Some(got) = message
        .strip_prefix("subquery is only allowed on vector, got ")
        .and_then(|r| r.strip_suffix(" instead"))
    {
        // Prometheus names the type as `ValueType` prints it here (`matrix`), not as documented.
        (
            format!("subquery is only allowed on instant vector, got {got} instead"),
            At::Start,
        )
    } else if let Some(got) =
        message.strip_prefix("unary expression only allowed on expressions of type scalar or vector, got")
    {
        let got = got.trim_start_matches(':').trim();
        (
            format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                type_name(got)
            ),
            At::Start,
        )
    } else {
        match message {
            "@ <timestamp> may not be set multiple times"
            | "offset may not be set multiple times"
            | "vector selector must contain at least one non-empty matcher"
            | "no offset modifiers allowed before range"
            | "no @ modifiers allowed before range" => (message.to_string(), At::Start),
            "comparisons between scalars must use BOOL modifier"
            | "bool modifier can only be used on comparison operators" => (message.to_string(), At::Operator),
            "ranges only allowed for vector selectors" => (message.to_string(), At::LastBracket),
            "duration must be greater than 0" => (message.to_string(), At::ZeroDuration),
            "binary expression must contain only scalar and instant vector types" => {
                (message.to_string(), At::Operand)
            }
            _ => return None,
        }
    };
    let Some((i, j)) = offending_span(query, toks, message) else {
        return Some((None, text.replace("{}", "expression")));
    };
    let span = &toks[i..j];
    let pos = match at {
        At::Start => span[0].start,
        At::Operator => split_binary(query, span).map_or(span[0].start, |(op, _)| toks[i + op].start),
        At::LastBracket => span
            .iter()
            .rev()
            .find(|t| &query[t.start..t.end] == "[")
            .map_or(span[0].start, |t| t.start),
        At::ZeroDuration => span
            .iter()
            .find(|t| {
                t.kind == Kind::Duration
                    && query[t.start..t.end]
                        .bytes()
                        .all(|c| !c.is_ascii_digit() || c == b'0')
            })
            .map_or(span[0].start, |t| t.start),
        At::Operand => match split_binary(query, span) {
            Some((op, rhs)) => {
                let lhs = &query[span[0].start..span[op].start];
                let lhs_ok =
                    parse_type(lhs).is_some_and(|t| matches!(t, ValueType::Scalar | ValueType::Vector));
                if lhs_ok { span[rhs].start } else { span[0].start }
            }
            None => span[0].start,
        },
        At::Arg(got) => call_args(query, span)
            .into_iter()
            .find(|(s, e)| parse_type(&query[*s..*e]) == Some(got))
            .map_or(span[0].start, |(s, _)| s),
        At::Aggregation(got) => {
            let args = call_args(query, span);
            let param = args.len() == 2 && parse_type(&query[args[0].0..args[0].1]) == Some(got);
            let text = text.replace("{}", if param { "parameter" } else { "expression" });
            let pos = match (param, args.last()) {
                (true, _) => args[0].0,
                (false, Some(last)) => last.0,
                (false, None) => span[0].start,
            };
            return Some((Some(pos), text));
        }
    };
    Some((Some(pos), text))
}

/// The value type a promql-parser type name stands for.
fn value_type(name: &str) -> Option<ValueType> {
    Some(match name {
        "vector" => ValueType::Vector,
        "matrix" => ValueType::Matrix,
        "scalar" => ValueType::Scalar,
        "string" => ValueType::String,
        _ => return None,
    })
}

/// The type of `text` parsed alone, if it parses.
fn parse_type(text: &str) -> Option<ValueType> {
    crate::promql::engine::without_panics(|| parser::parse(text.trim()).ok().map(|e| e.value_type()))
        .flatten()
}

/// Most parses one search for the offending node may run.
const SPAN_BUDGET: usize = 4000;

/// Longest query searched for its offending node (as `api::position` probes): the search parses
/// runs of its tokens, so its cost grows with the square of the length, and it runs where the
/// error is answered, not on the deep-query stack of [`super::depth`].
const MAX_SEARCH_LEN: usize = 512;

/// The shortest run of tokens `[i, j)` that fails to parse with exactly `message`.
fn offending_span(query: &str, toks: &[Tok], message: &str) -> Option<(usize, usize)> {
    if query.len() > MAX_SEARCH_LEN {
        return None;
    }
    let mut budget = SPAN_BUDGET;
    for len in 1..=toks.len() {
        for i in 0..=toks.len() - len {
            // A parenthesis after a name is that call's argument list, not an expression.
            let call_body = &query[toks[i].start..toks[i].end] == "("
                && i > 0
                && (toks[i - 1].kind == Kind::Ident || &query[toks[i - 1].start..toks[i - 1].end] == ")");
            if call_body {
                continue;
            }
            budget = budget.checked_sub(1)?;
            let text = &query[toks[i].start..toks[i + len - 1].end];
            let fails_alike = crate::promql::engine::without_panics(|| parser::parse(text).err())
                .flatten()
                .is_some_and(|m| m == message);
            if fails_alike {
                return Some((i, i + len));
            }
        }
    }
    None
}

/// Splits a binary expression's tokens at its operator: the operator's index and the index of
/// the right operand's first token (after `bool`, `on(...)`, `group_left(...)`), for the first
/// operator at bracket depth 0 with a left side that parses.
fn split_binary(query: &str, span: &[Tok]) -> Option<(usize, usize)> {
    let mut depth = 0i32;
    for (k, t) in span.iter().enumerate() {
        let text = &query[t.start..t.end];
        match text {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            _ => {}
        }
        let is_op = match t.kind {
            Kind::Punct => matches!(
                text,
                "+" | "-" | "*" | "/" | "%" | "^" | "==" | "!=" | "<" | ">" | "<=" | ">="
            ),
            Kind::Ident => SET_AND_WORD_OPS.contains(&text.to_ascii_lowercase().as_str()),
            _ => false,
        };
        if depth != 0 || !is_op || k == 0 {
            continue;
        }
        if parse_type(&query[span[0].start..t.start]).is_none() {
            continue;
        }
        // Skip the modifiers.
        let mut r = k + 1;
        while r < span.len() {
            let w = query[span[r].start..span[r].end].to_ascii_lowercase();
            if !matches!(
                w.as_str(),
                "bool" | "on" | "ignoring" | "group_left" | "group_right"
            ) {
                break;
            }
            r += 1;
            if r < span.len() && &query[span[r].start..span[r].end] == "(" {
                while r < span.len() && &query[span[r].start..span[r].end] != ")" {
                    r += 1;
                }
                r += 1;
            }
        }
        if r < span.len() {
            return Some((k, r));
        }
    }
    None
}

/// The byte ranges of the arguments of the call or aggregation that `span` is (the last
/// top-level parenthesised group), trimmed.
fn call_args(query: &str, span: &[Tok]) -> Vec<(usize, usize)> {
    // The body is the first `(` at depth 0 after the name (skipping a `by (...)` before it).
    let mut k = 1;
    while k < span.len() {
        let w = query[span[k].start..span[k].end].to_ascii_lowercase();
        if w == "by" || w == "without" {
            k += 1;
            while k < span.len() && &query[span[k].start..span[k].end] != ")" {
                k += 1;
            }
            k += 1;
            continue;
        }
        break;
    }
    if k >= span.len() || &query[span[k].start..span[k].end] != "(" {
        return Vec::new();
    }
    let mut args = Vec::new();
    let mut depth = 0;
    let mut arg_start = None;
    for t in &span[k..] {
        let text = &query[t.start..t.end];
        match text {
            "(" | "[" | "{" => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    if let Some(s) = arg_start.take() {
                        args.push((s, t.start));
                    }
                    break;
                }
            }
            "," if depth == 1 => {
                if let Some(s) = arg_start.take() {
                    args.push((s, t.start));
                }
                continue;
            }
            _ => {}
        }
        if arg_start.is_none() {
            arg_start = Some(t.start);
        }
    }
    args.into_iter()
        .map(|(s, e)| (s, s + query[s..e].trim_end().len()))
        .collect()
}

/// `unknown escape sequence 'z'`: Prometheus words it `unknown escape sequence U+007A 'z'` and
/// points at the string's opening quote.
fn escape(query: &str, rest: &str) -> Option<(usize, String)> {
    let c = rest.trim_matches('\'').chars().next()?;
    let b = query.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let q = b[i];
        if q == b'"' || q == b'\'' {
            let open = i;
            i += 1;
            while i < b.len() && b[i] != q {
                if b[i] == b'\\' {
                    let next = query[i + 1..].chars().next();
                    let known = next.is_some_and(|n| r#"abfnrtv\01234567xuU"'`"#.contains(n));
                    if !known {
                        return Some((open, format!("unknown escape sequence U+{:04X} {c:?}", c as u32)));
                    }
                    i += 1;
                }
                i += 1;
            }
        } else if q == b'`' {
            i += 1;
            while i < b.len() && b[i] != b'`' {
                i += 1;
            }
        }
        i += 1;
    }
    None
}

/// Grammar errors inside `{...}` label matchers and `by (...)`-style grouping labels, found by
/// following Prometheus's grammar rules for them (`label_matcher`, `grouping_labels`).
fn braces_and_grouping(query: &str, toks: &[Tok]) -> Option<(usize, String)> {
    let text = |t: &Tok| &query[t.start..t.end];
    let unexpected = |k: usize, context: &str, expected: &str| {
        let (pos, what) = match toks.get(k) {
            Some(t) => (t.start, describe(query, t)),
            None => (query.len(), "end of input".to_string()),
        };
        Some((
            pos,
            format!("unexpected {what} in {context}, expected {expected}"),
        ))
    };
    let mut k = 0;
    while k < toks.len() {
        let t = &toks[k];
        let w = text(t);
        let lower = w.to_ascii_lowercase();
        if w == "{" && t.kind == Kind::Punct {
            // label_matcher (, label_matcher)* ,? }
            k += 1;
            loop {
                match toks.get(k) {
                    Some(t) if text(t) == "}" => break,
                    Some(t) if t.kind == Kind::Ident || t.kind == Kind::Str => {}
                    // End of input inside braces is the lexer's error.
                    None => return None,
                    _ => return unexpected(k, "label matching", "identifier or \"}\""),
                }
                k += 1;
                match toks.get(k).map(text) {
                    Some("=" | "!=" | "=~" | "!~") => {}
                    None => return None,
                    // `{"name"}`: a quoted metric name alone is a UTF-8 name (3.x).
                    Some("," | "}") if toks[k - 1].kind == Kind::Str => {
                        if text(&toks[k]) == "," {
                            k += 1;
                        }
                        continue;
                    }
                    _ => return unexpected(k, "label matching", "label matching operator"),
                }
                k += 1;
                match toks.get(k) {
                    Some(t) if t.kind == Kind::Str => {}
                    None => return None,
                    _ => return unexpected(k, "label matching", "string"),
                }
                k += 1;
                match toks.get(k).map(text) {
                    Some(",") => k += 1,
                    Some("}") => break,
                    None => return None,
                    _ => return unexpected(k, "label matching", "\",\" or \"}\""),
                }
            }
        } else if t.kind == Kind::Ident
            && matches!(lower.as_str(), "by" | "without" | "on" | "ignoring")
            && is_grouping_keyword(query, toks, k)
        {
            k += 1;
            match toks.get(k).map(text) {
                Some("(") => {}
                _ => return unexpected(k, "grouping opts", "\"(\""),
            }
            k += 1;
            let mut need_label = true;
            loop {
                match toks.get(k) {
                    Some(t) if text(t) == ")" => break,
                    None => return None,
                    Some(t) if need_label => {
                        if t.kind != Kind::Ident && t.kind != Kind::Str {
                            return unexpected(k, "grouping opts", "label");
                        }
                        need_label = false;
                    }
                    Some(t) if text(t) == "," => need_label = true,
                    Some(_) => return unexpected(k, "grouping opts", "\",\" or \")\""),
                }
                k += 1;
            }
        }
        k += 1;
    }
    None
}

/// Whether the keyword at `k` starts grouping labels: `by`/`without` after an aggregator's name
/// or its closing parenthesis, `on`/`ignoring` after a binary operator (not a label or metric
/// named `by`).
fn is_grouping_keyword(query: &str, toks: &[Tok], k: usize) -> bool {
    let Some(prev) = k.checked_sub(1).map(|p| &toks[p]) else {
        return false;
    };
    let prev_text = &query[prev.start..prev.end];
    let w = query[toks[k].start..toks[k].end].to_ascii_lowercase();
    match w.as_str() {
        "by" | "without" => {
            AGGREGATORS.contains(&prev_text.to_ascii_lowercase().as_str()) || prev_text == ")"
        }
        _ => {
            (prev.kind == Kind::Punct && !matches!(prev_text, "(" | ")" | "{" | "}" | "[" | "]" | ","))
                || SET_AND_WORD_OPS.contains(&prev_text.to_ascii_lowercase().as_str())
                || prev_text.eq_ignore_ascii_case("bool")
        }
    }
}

/// The position and message for a grammar error at byte `pos` that `promql-parser` only calls
/// invalid: `unexpected <token>` with the context Prometheus's grammar rule adds.
pub fn grammar_error(query: &str, pos: usize) -> (usize, String) {
    let toks = tokens(query);
    let mut k = toks.iter().position(|t| t.start >= pos).unwrap_or(toks.len());
    // `@ start` without its `()`: Prometheus fails at the token after it.
    let after_at_keyword = k > 0
        && &query[toks[k - 1].start..toks[k - 1].end] == "@"
        && toks.get(k).is_some_and(|t| {
            matches!(
                query[t.start..t.end].to_ascii_lowercase().as_str(),
                "start" | "end"
            )
        });
    if after_at_keyword {
        k += 1;
    }
    let what = match toks.get(k) {
        Some(t) => describe(query, t),
        None => "end of input".to_string(),
    };
    let prev = |n: usize| {
        k.checked_sub(n)
            .and_then(|i| toks.get(i))
            .map(|t| query[t.start..t.end].to_ascii_lowercase())
    };
    let context = match prev(1).as_deref() {
        _ if after_at_keyword => " in @, expected timestamp",
        Some("@") => " in @, expected timestamp",
        Some("offset") => " in offset, expected duration",
        Some("-") if prev(2).as_deref() == Some("offset") => " in offset, expected duration",
        Some("[") => " in subquery selector, expected duration",
        Some(":") if prev(3).as_deref() == Some("[") => " in subquery selector, expected duration or \"]\"",
        _ if prev(2).as_deref() == Some("[") && toks.get(k - 1).is_some_and(|t| t.kind == Kind::Duration) => {
            " in subquery or range, expected \":\" or \"]\""
        }
        _ if prev(2).as_deref() == Some(":")
            && prev(4).as_deref() == Some("[")
            && toks.get(k - 1).is_some_and(|t| t.kind == Kind::Duration) =>
        {
            " in subquery selector, expected \"]\""
        }
        _ if after_aggregator(query, &toks, k) => " in aggregation",
        _ => "",
    };
    let pos = toks.get(k).map_or(query.len(), |t| t.start);
    (pos, format!("unexpected {what}{context}"))
}

/// Whether token `k` follows an aggregator's name, or its `by (...)`/`without (...)` clause,
/// where only the `(` of its arguments may come.
fn after_aggregator(query: &str, toks: &[Tok], k: usize) -> bool {
    let text = |i: usize| query[toks[i].start..toks[i].end].to_ascii_lowercase();
    if toks.get(k).is_some_and(|t| &query[t.start..t.end] == "(") {
        return false;
    }
    // Only after a grouping clause: an aggregator's name alone is a valid metric name.
    let Some(mut i) = k.checked_sub(1) else {
        return false;
    };
    if text(i) != ")" {
        return false;
    }
    while i > 0 && text(i) != "(" {
        i -= 1;
    }
    if i < 2 || !matches!(text(i - 1).as_str(), "by" | "without") {
        return false;
    }
    i -= 2;
    AGGREGATORS.contains(&text(i).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_durations_numbers_names_and_strings() {
        let q = r#"rate(a:b{c="d\"}"}[5m:30s]) > 1e3"#;
        let kinds: Vec<(Kind, &str)> = tokens(q).iter().map(|t| (t.kind, &q[t.start..t.end])).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Ident, "rate"),
                (Kind::Punct, "("),
                (Kind::Ident, "a:b"),
                (Kind::Punct, "{"),
                (Kind::Ident, "c"),
                (Kind::Punct, "="),
                (Kind::Str, r#""d\"}""#),
                (Kind::Punct, "}"),
                (Kind::Punct, "["),
                (Kind::Duration, "5m"),
                (Kind::Punct, ":"),
                (Kind::Duration, "30s"),
                (Kind::Punct, "]"),
                (Kind::Punct, ")"),
                (Kind::Punct, ">"),
                (Kind::Number, "1e3"),
            ]
        );
    }

    /// Regression: type and argument-count errors had no position and promql-parser's words;
    /// grammar errors said only `invalid promql query`. Texts as Prometheus 2.42 answers them
    /// (all checked against the real server in `tests/promql_errors.rs`).
    #[test]
    fn parse_errors_have_prometheus_positions_and_words() {
        let cases = [
            (
                "rate(x)",
                "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
            ),
            (
                "rate(x[5m], 1)",
                "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2",
            ),
            (
                "1 + \"a\"",
                "1:5: parse error: binary expression must contain only scalar and instant vector types",
            ),
            (
                "topk(x, y)",
                "1:6: parse error: expected type scalar in aggregation parameter, got instant vector",
            ),
            (
                "sum(x[5m])",
                "1:5: parse error: expected type instant vector in aggregation expression, got range vector",
            ),
            (
                "vector(1)[5m]",
                "1:10: parse error: ranges only allowed for vector selectors",
            ),
            (
                "1 > 2",
                "1:3: parse error: comparisons between scalars must use BOOL modifier",
            ),
            ("x[1m:0s]", "1:6: parse error: duration must be greater than 0"),
            ("foo bar", "1:5: parse error: unexpected identifier \"bar\""),
            ("1 + * 2", "1:5: parse error: unexpected <op:*>"),
            (
                "sum(x) by",
                "1:10: parse error: unexpected end of input in grouping opts, expected \"(\"",
            ),
            (
                "sum by (a,,b) (x)",
                "1:11: parse error: unexpected \",\" in grouping opts, expected label",
            ),
            (
                "x{a=}",
                "1:5: parse error: unexpected \"}\" in label matching, expected string",
            ),
            (
                "x @ foo()",
                "1:5: parse error: unexpected identifier \"foo\" in @, expected timestamp",
            ),
            (
                "x{a=\"\\z\"}",
                "1:5: parse error: unknown escape sequence U+007A 'z'",
            ),
        ];
        for (q, want) in cases {
            let msg = crate::promql::Engine::parse(q).unwrap_err().to_string();
            let msg = msg.strip_prefix("parse error: ").unwrap_or(&msg);
            assert_eq!(crate::api::position::parse_error_text(q, msg), want, "{q}");
        }
        let big = "1e999";
        assert_eq!(
            crate::promql::Engine::parse(big).unwrap_err().to_string(),
            "parse error: error parsing number: strconv.ParseFloat: parsing \"1e999\": value out of range"
        );
    }

    #[test]
    fn tokens_are_described_as_prometheus_lexer_does() {
        let q = r#"x by * and sum , "a" 5m 1 a:b"#;
        let d: Vec<String> = tokens(q).iter().map(|t| describe(q, t)).collect();
        assert_eq!(
            d,
            [
                "identifier \"x\"",
                "<by>",
                "<op:*>",
                "<op:and>",
                "<aggr:sum>",
                "\",\"",
                "string \"\\\"a\\\"\"",
                "duration \"5m\"",
                "number \"1\"",
                "metric identifier \"a:b\"",
            ]
        );
    }
}

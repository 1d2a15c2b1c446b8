//! `/api/v1/format_query`: a query pretty-printed as Prometheus's `parser.Prettify` prints it.
//!
//! The printing is promql-parser's `Expr::prettify` (a port of Prometheus's prettier: lines
//! longer than 100 characters are split at aggregations, binary operators and calls, two spaces
//! per level); `tests/serve_status_api.rs` compares it with Prometheus 2.42's `format_query`
//! over hand-written queries and every expression of the upstream PromQL test corpus.
//!
//! The query is refused, with the parse error Prometheus would give, before anything is printed;
//! a query nested deeper than the engine takes is refused as the query API refuses it, and the
//! printing of a deep one runs on the engine's large-stack thread (`promql::depth`).

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use super::{ApiError, json, read_form, success};
use crate::promql::{Engine, depth};

/// The pretty-printed text of `query`, or the error the query API gives for it.
pub fn format_query(query: &str) -> Result<String, ApiError> {
    let bound = depth::check_query(query).map_err(|e| ApiError::from_query_error(query, e))?;
    // Printing recurses over the tree like parsing, so a deep tree is parsed, printed and
    // dropped on the large stack.
    depth::on_query_stack(bound, move || {
        let expr = Engine::parse(query)?;
        let text = go_numbers(&expr.prettify());
        depth::dismantle(expr);
        Ok(text)
    })
    .map_err(|e| ApiError::from_query_error(query, e))
}

/// Identifier characters of PromQL (metric and label names, keywords, `Inf`).
fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Keywords whose parenthesised list holds label names, which may be spelled `Inf` or `NaN`.
const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Number literals of promql-parser's printing respelled as Prometheus prints them: Go's `%v`
/// (`1.234e+07`, `2e-07`, `+Inf`) where Rust writes every digit (`12340000`, `0.0000002`,
/// `Inf`). Strings, names, durations (`1m30s`) and `@` timestamps (`@ 100.000`, printed with
/// three decimals by both) are left as they are.
fn go_numbers(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    // Whether the previous token was `@` (its number is a timestamp, printed `%.3f`).
    let mut after_at = false;
    // Inside `{...}` names are label names, never numbers.
    let mut in_braces = false;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c == b'"' || c == b'\'' || c == b'`' {
            // A string literal: copied through, escapes included.
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' && c != b'`' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            out.push_str(&text[start..i]);
            after_at = false;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if i < b.len() && is_ident(b[i]) {
                // A duration (`1m30s`): the whole run as written.
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                out.push_str(&text[start..i]);
            } else {
                match text[start..i].parse::<f64>() {
                    Ok(v) if !after_at => out.push_str(&burnwatch_gofmt::format_g(v)),
                    _ => out.push_str(&text[start..i]),
                }
            }
            after_at = false;
            continue;
        }
        if is_ident(c) {
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            let word = &text[start..i];
            let next = text[i..].trim_start().as_bytes().first().copied();
            if LABEL_LISTS.contains(&word) && next == Some(b'(') {
                // The label list, copied through to its `)`.
                let close = text[i..].find(')').map_or(text.len(), |p| i + p + 1);
                out.push_str(&text[start..close]);
                i = close;
            } else if word == "Inf" && !in_braces && out.as_bytes().last() != Some(&b'-') {
                out.push_str("+Inf");
            } else {
                out.push_str(word);
            }
            after_at = false;
            continue;
        }
        if c == b'{' || c == b'}' {
            in_braces = c == b'{';
        }
        if c == b'@' {
            after_at = true;
        } else if !c.is_ascii_whitespace() {
            after_at = false;
        }
        // One UTF-8 character.
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

/// The handler (GET, or POST with a form body).
pub(super) async fn handler(
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match read_form(&method, raw.as_deref(), &headers, &body) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let query = form.get("query").unwrap_or("").to_string();
    match tokio::task::spawn_blocking(move || format_query(&query)).await {
        Ok(Ok(text)) => {
            let mut data = String::new();
            json::write_str(&mut data, &text);
            success(&data, &[])
        }
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError {
            kind: super::ErrorType::Internal,
            message: format!("format task failed: {e}"),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_queries_stay_on_one_line_in_prometheus_spelling() {
        assert_eq!(
            format_query("sum by(job)(rate(x{b=\"1\",a=~\"2\"}[5m]))").unwrap(),
            "sum by (job) (rate(x{a=~\"2\",b=\"1\"}[5m]))"
        );
    }

    #[test]
    fn numbers_are_spelled_as_go_prints_them() {
        let f = |q: &str| format_query(q).unwrap();
        assert_eq!(f("12.34e6"), "1.234e+07");
        assert_eq!(f("-0.2e-6"), "-2e-07");
        assert_eq!(f("Inf"), "+Inf");
        assert_eq!(f("-Inf"), "-Inf");
        assert_eq!(f("x == bool Inf"), "x == bool +Inf");
        assert_eq!(f("Inf == x"), "+Inf == x");
        assert_eq!(f("x{Inf=\"1\"} - Inf"), "x{Inf=\"1\"} - +Inf");
        assert_eq!(f("topk(9999999999, x)"), "topk(9.999999999e+09, x)");
        assert_eq!(f("year(vector(1136239445))"), "year(vector(1.136239445e+09))");
        assert_eq!(
            f("sum by (le) (rate(a_1{b=\"12345678\"}[1m30s] @ 1000000 offset 90s))"),
            "sum by (le) (rate(a_1{b=\"12345678\"}[1m30s] @ 1000000.000 offset 1m30s))"
        );
    }

    #[test]
    fn a_parse_error_is_bad_data_naming_the_position() {
        let e = format_query("up(").unwrap_err();
        assert_eq!(e.kind, super::super::ErrorType::BadData);
        assert!(
            e.message.starts_with("invalid parameter \"query\": 1:"),
            "{}",
            e.message
        );
        let e = format_query("").unwrap_err();
        assert!(
            e.message.contains("no expression found in input"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_deeply_nested_query_is_refused_not_overflowing() {
        let q = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = format_query(&q).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorType::BadData);
    }
}

//! Where a query stops parsing.
//!
//! `promql-parser` 0.11 reports grammar errors as the bare text `invalid promql query` and lexer
//! errors without an offset (its LR parser's error list, which has positions, is dropped inside
//! `parser::parse`). Prometheus's own parser says `1:7: parse error: ...`, so the API and the CLI
//! recover a position here by probing prefixes of the query:
//!
//! - something left open at the end (`unclosed left parenthesis`, a brace or bracket, and every
//!   `unexpected end of input ...`) is at the end of the input, as Prometheus reports it; an
//!   unterminated string is at its opening quote;
//! - any other lexer error is at the last character of the shortest prefix that fails to lex
//!   with the same message (the unexpected character), moved as Prometheus's lexer reports it:
//!   just after an unexpected `)`, on the `!` or `.` before the character that does not fit, at
//!   the start of a bad number or duration;
//! - a grammar error is just after the longest prefix that is still a *viable* start of a query:
//!   one that parses once unclosed brackets and strings are closed, possibly after adding an operand.
//!
//! Checked against Prometheus 2.42 (`tests/promql_api.rs`, `tests/promql_errors.rs`). Type and
//! argument-count errors (`expected type range vector ...`) come from complete parses, whose
//! tree records no positions: [`crate::promql::parse_error`] finds the offending node and words
//! them, and every other message, as Prometheus does.

use promql_parser::parser;

/// Longest query probed; longer ones get no position. Probing parses up to nine completions of every
/// prefix, so its cost grows with the square of the length; at this size the worst case stays in
/// the low milliseconds in release builds.
const MAX_PROBE_LEN: usize = 512;

/// The message `promql-parser` gives for every grammar error.
const GRAMMAR_ERROR: &str = "invalid promql query";

/// The byte offset in `query` where parsing fails, if it can be located. `message` is the parser's
/// error text for the whole query.
pub fn error_position(query: &str, message: &str) -> Option<usize> {
    // Probing calls the parser crate on prefixes of the user's query; it panics on a few inputs.
    crate::promql::engine::without_panics(|| probe_error_position(query, message)).flatten()
}

/// [`error_position`] without the guard.
fn probe_error_position(query: &str, message: &str) -> Option<usize> {
    // Prometheus's lexer and parser meet these at the end of the input.
    if message == "unclosed left parenthesis" || message.starts_with("unexpected end of input") {
        return Some(query.len());
    }
    // A regex Go refuses: at its matcher's label name.
    if message.starts_with("error parsing regexp: ") {
        return crate::tsdb::matcher::invalid_regex_position(query);
    }
    if query.len() > MAX_PROBE_LEN {
        return None;
    }
    let boundaries: Vec<usize> = query
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(query.len()))
        .collect();
    if let Err(lex_msg) = parser::lex::lexer(query) {
        // A string left open at the end of the input: where it was opened.
        if lex_msg.starts_with("unterminated quoted string")
            && let Some((_, p)) = open_at_end(query).quote
        {
            return Some(p);
        }
        // Otherwise the last character of the shortest failing prefix is the culprit.
        for (n, &end) in boundaries.iter().enumerate().skip(1) {
            if parser::lex::lexer(&query[..end]).is_err_and(|m| m == lex_msg) {
                let at = boundaries[n - 1];
                return Some(if lex_msg.starts_with("unexpected right parenthesis") {
                    // Prometheus's lexer has consumed it.
                    end
                } else if lex_msg.starts_with("unexpected character after") {
                    // On the `!` or `.` that wanted a different next character.
                    boundaries[n.saturating_sub(2)]
                } else if lex_msg.starts_with("bad number or duration syntax") {
                    // At the start of the number.
                    let word = |c: char| c.is_ascii_alphanumeric() || c == '.';
                    query[..at].trim_end_matches(word).len()
                } else {
                    at
                });
            }
        }
        return None;
    }
    if message != GRAMMAR_ERROR {
        return None;
    }
    // Only prefixes ending between tokens are probed (not inside a word, not after a space), and
    // only up to a budget of parses, so a hostile query costs a bounded amount of work.
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let mut budget = PARSE_BUDGET;
    for (n, &end) in boundaries.iter().enumerate().rev() {
        let before = query[..end].chars().next_back();
        let after = query[end..].chars().next();
        let inside_word = matches!((before, after), (Some(b), Some(a)) if word(b) && word(a));
        if inside_word || before.is_some_and(char::is_whitespace) || n == 0 {
            continue;
        }
        match viable(&query[..end], &mut budget) {
            Some(true) => {
                let skipped = query[end..].len() - query[end..].trim_start().len();
                return Some(end + skipped);
            }
            Some(false) => {}
            None => return None,
        }
    }
    Some(0)
}

/// Most parses one position search may run.
const PARSE_BUDGET: usize = 600;

/// Whether `prefix` can be completed into a query that parses by adding an operand and closing
/// what is open; `None` when the parse budget ran out.
fn viable(prefix: &str, budget: &mut usize) -> Option<bool> {
    if prefix.trim().is_empty() || parser::lex::lexer(prefix).is_err() {
        return Some(false);
    }
    let closers = closers(prefix);
    const FILLERS: [&str; 9] = ["", " x", " 1", "5m", "=\"\"", " a=\"\"", "\"\"", " (x)", ":1m"];
    for f in FILLERS {
        *budget = budget.checked_sub(1)?;
        if parser::parse(&format!("{prefix}{f}{closers}")).is_ok() {
            return Some(true);
        }
    }
    Some(false)
}

/// What is still open at the end of a query: a quoted string and brackets, with byte offsets.
struct Open {
    /// The quote character and where the string starts.
    quote: Option<(char, usize)>,
    /// Opening brackets, outermost first.
    stack: Vec<(char, usize)>,
}

fn open_at_end(s: &str) -> Open {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut quote: Option<(char, usize)> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some((q, _)) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some((c, i)),
            '(' | '[' | '{' => stack.push((c, i)),
            ')' | ']' | '}' if stack.last().is_some_and(|(o, _)| closer(*o) == c) => {
                stack.pop();
            }
            '#' => break,
            _ => {}
        }
    }
    Open { quote, stack }
}

fn closer(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// The characters that close the brackets and quoted string left open at the end of `s`.
fn closers(s: &str) -> String {
    let open = open_at_end(s);
    let mut out = String::new();
    if let Some((q, _)) = open.quote {
        out.push(q);
    }
    out.extend(open.stack.iter().rev().map(|(o, _)| closer(*o)));
    out
}

/// Prometheus's `line:column` for a byte offset (both 1-based; the column counts bytes, as Go's
/// `PositionRange` does).
pub fn line_col(query: &str, offset: usize) -> (usize, usize) {
    let before = &query[..offset.min(query.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |i| before.len() - i - 1) + 1;
    (line, col)
}

/// The error text Prometheus's API gives for a query that does not parse:
/// `1:8: parse error: <message>` when the position is known, else `parse error: <message>`.
pub fn parse_error_text(query: &str, message: &str) -> String {
    let pos = error_position(query, message);
    // Prometheus's own message and position where `super::parse_error` knows them; a lexer error
    // stands unless the grammar error found is before it (Prometheus's parser reads tokens as
    // its lexer makes them, so it meets whichever comes first).
    let lexer_failed =
        crate::promql::engine::without_panics(|| parser::lex::lexer(query).is_err()).unwrap_or(true);
    let translated = crate::promql::parse_error::translate(query, message).filter(|(p, _)| {
        !lexer_failed
            || message.starts_with("unknown escape")
            || matches!((p, pos), (Some(p), Some(lp)) if *p < lp)
    });
    let (pos, shown) = match translated {
        Some((p, text)) => (p, text),
        None => match pos {
            Some(p) if message == GRAMMAR_ERROR => {
                let (p, shown) = crate::promql::parse_error::grammar_error(query, p);
                (Some(p), shown)
            }
            _ => (pos, prometheus_wording(query, pos, message)),
        },
    };
    match pos {
        Some(p) => {
            let (line, col) = line_col(query, p);
            format!("{line}:{col}: parse error: {shown}")
        }
        None => format!("parse error: {shown}"),
    }
}

/// Prometheus's words for the lexer errors `promql-parser` words differently (the position does
/// not change).
fn prometheus_wording(query: &str, pos: Option<usize>, message: &str) -> String {
    if let Some(word) = message.strip_prefix("bad number or duration syntax: ") {
        // Prometheus's lexer quotes what it consumed: the digits, and the rest of the word only
        // when a unit letter follows them (`5x` → "5", `5mx` → "5mx"); in brackets it expects a
        // duration.
        let digits = word.len()
            - word
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .len();
        let unit_follows = word[digits..].starts_with(['s', 'm', 'h', 'd', 'w', 'y']);
        let shown = if unit_follows { word } else { &word[..digits] };
        let in_brackets = pos.is_some_and(|p| query[..p].trim_end().ends_with(['[', ':']));
        let what = if in_brackets {
            "bad duration syntax"
        } else {
            "bad number or duration syntax"
        };
        return format!("{what}: {shown:?}");
    }
    // A name where a range's duration goes: Prometheus's lexer finds no duration at all.
    if let Some(c) = message
        .strip_prefix("unexpected character inside brackets: '")
        .and_then(|r| r.chars().next())
        && c.is_alphabetic()
        && pos.is_some_and(|p| query[..p].trim_end().ends_with('['))
    {
        return "bad duration syntax: \"\"".to_string();
    }
    prometheus_word(message).to_string()
}

/// [`prometheus_wording`] for fixed texts.
fn prometheus_word(message: &str) -> &str {
    match message {
        // A sign inside a range: Prometheus's lexer reads `-5m` as a number without a unit.
        "unexpected character inside brackets: '-'" => "missing unit character in duration",
        "unexpected end of input inside brackets" => "unclosed left bracket",
        "unexpected right brace '}'" => "unexpected character: '}'",
        m if m.starts_with("unterminated quoted string") => "unterminated quoted string",
        // Prometheus's lexer refuses the `.` itself.
        m if m.starts_with("unexpected character after '.'") => "unexpected character: '.'",
        m => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Broken queries and the column Prometheus 2.42's API reports for each (its
    /// `invalid parameter "query": 1:COL: parse error: ...`), as `tests/promql_api.rs` checks
    /// against the real server.
    const PROMETHEUS_COLUMNS: &[(&str, usize)] = &[
        ("sum(", 5),
        ("sum(x", 6),
        ("rate(x[5m]", 11),
        ("(((1)", 6),
        ("1 + (2", 7),
        ("x{a=\"b\"", 8),
        ("x{a=\"b\",", 9),
        ("{", 2),
        ("x[5m", 5),
        ("x[5m:", 6),
        ("x offset", 9),
        ("x @ ", 5),
        ("x{a=\"b", 5),
        ("\"unterminated", 1),
        (")", 2),
        ("sum(x))", 8),
        ("x{a!b}", 4),
        ("1 !2", 3),
        ("1 . 2", 3),
        ("x[5x]", 3),
        ("1 $ 2", 3),
        ("x]", 2),
        ("x{a=\"1\"} }", 10),
        ("1 +", 4),
        ("foo bar", 5),
        ("1 + * 2", 5),
        ("sum(x) by", 10),
    ];

    #[test]
    fn parse_error_columns_match_prometheus() {
        for &(q, col) in PROMETHEUS_COLUMNS {
            let msg = parser::parse(q).unwrap_err();
            let text = parse_error_text(q, &msg);
            assert!(
                text.starts_with(&format!("1:{col}: parse error: ")),
                "{q:?}: {text}"
            );
        }
    }

    #[test]
    fn lexer_errors_use_prometheus_words() {
        assert_eq!(
            parse_error_text("x[5m", &parser::parse("x[5m").unwrap_err()),
            "1:5: parse error: unclosed left bracket"
        );
        let q = "x{a=\"1\"} }";
        assert_eq!(
            parse_error_text(q, &parser::parse(q).unwrap_err()),
            "1:10: parse error: unexpected character: '}'"
        );
        let q = "x{a=\"b";
        assert_eq!(
            parse_error_text(q, &parser::parse(q).unwrap_err()),
            "1:5: parse error: unterminated quoted string"
        );
    }
}

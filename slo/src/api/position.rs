//! Where a query stops parsing.
//!
//! `promql-parser` 0.11 reports grammar errors as the bare text `invalid promql query` and lexer
//! errors without an offset (its LR parser's error list, which has positions, is dropped inside
//! `parser::parse`). Prometheus's own parser says `1:7: parse error: ...`, so the API and the CLI
//! recover a position here by probing prefixes of the query:
//!
//! - a lexer error about something left open (`unclosed left parenthesis`, an unterminated string)
//!   points where it was opened; any other lexer error is at the end of the shortest prefix that
//!   fails to lex with the same message (the unexpected character);
//! - a grammar error is just after the longest prefix that is still a *viable* start of a query:
//!   one that parses once unclosed brackets and strings are closed, possibly after adding an operand.
//!
//! Type errors (`expected type range vector ...`) come from complete parses and get no position.

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
    if query.len() > MAX_PROBE_LEN {
        return None;
    }
    let boundaries: Vec<usize> = query
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(query.len()))
        .collect();
    if let Err(lex_msg) = parser::lex::lexer(query) {
        // Something left open at the end of the input: point at where it was opened.
        let open = open_at_end(query);
        let opener = |c: char| open.stack.iter().rev().find(|(o, _)| *o == c).map(|(_, p)| *p);
        let at = if lex_msg.starts_with("unterminated quoted string") {
            open.quote.map(|(_, p)| p)
        } else if lex_msg == "unclosed left parenthesis" {
            opener('(')
        } else if lex_msg == "unexpected end of input inside brackets" {
            opener('[')
        } else if lex_msg == "unexpected end of input inside braces" {
            opener('{')
        } else {
            None
        };
        if at.is_some() {
            return at;
        }
        // Otherwise the last character of the shortest failing prefix is the culprit.
        for (n, &end) in boundaries.iter().enumerate().skip(1) {
            if parser::lex::lexer(&query[..end]).is_err_and(|m| m == lex_msg) {
                return Some(boundaries[n - 1]);
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
    match error_position(query, message) {
        Some(p) => {
            let (line, col) = line_col(query, p);
            format!("{line}:{col}: parse error: {message}")
        }
        None => format!("parse error: {message}"),
    }
}

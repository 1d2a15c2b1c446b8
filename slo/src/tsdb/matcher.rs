//! Label matchers with Prometheus semantics.
//!
//! Regular expressions are Go's RE2 syntax, translated by [`goregex`] (the one place a user's regex
//! is compiled: matchers, `label_replace`, test scripts), and fully anchored (`^(?s:re)$`):
//! `job=~"api"` matches only `api`, and `.` matches a newline too, as in Prometheus 3.x
//! (`labels.NewFastRegexMatcher`). A matcher compares against the empty string when the label is
//! absent, so `{foo=""}` selects series without `foo`.

use std::borrow::Cow;

use regex::Regex;

pub mod goregex;

pub use goregex::GoRegexError;

use super::labels::Labels;

/// How a [`Matcher`] compares a label value.
#[derive(Clone, Debug)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` with the anchored regex.
    Regex(Regex),
    /// `!~` with the anchored regex.
    NotRegex(Regex),
}

/// One label matcher, such as `job=~"api|web"`.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or the regex source, as the user wrote it.
    pub value: String,
}

/// A regex in a matcher did not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {value:?} for label {name:?}: {reason}")]
pub struct MatcherError {
    /// The label name.
    pub name: String,
    /// The regex source.
    pub value: String,
    /// Why it did not compile.
    pub reason: String,
}

/// Compiled size allowed for one regex. Go bounds a regex by its repeat counts (checked by the
/// translation) rather than by size; the crate's 10 MiB default refuses some that Go takes, such as
/// `\pL{1000}`.
const REGEX_SIZE_LIMIT: usize = 64 << 20;

/// Compiles the Go regex `re` anchored at both ends, with `.` matching newlines.
pub fn anchored_regex(re: &str) -> Result<Regex, GoRegexError> {
    let rust = goregex::translate(re)?;
    // The crate's compiler recurses per level: a deeply nested regex is built on a large stack,
    // with the nesting limit raised past what the translation lets through.
    goregex::on_regex_stack(re, || {
        regex::RegexBuilder::new(&format!("^(?s:{rust})$"))
            .size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(u32::try_from(2 * goregex::MAX_DEPTH + 16).unwrap_or(u32::MAX))
            .build()
    })
    .map_err(|e| GoRegexError {
        code: match e {
            regex::Error::CompiledTooBig(_) => "expression too large",
            _ => "expression nests too deeply",
        },
        expr: re.to_string(),
    })
}

/// Marks a regex literal that [`prepare_query`] replaced; the Go source follows in hex.
const REPLACED_MARK: &str = "(?:)burnwatch-go-regex:";

/// Readies a query for `promql-parser`, which differs from Prometheus's lexer and parser on two
/// points that this rewrites away before it parses:
///
/// - It compiles every `=~`/`!~` regex with the `regex` crate's syntax, so it refused valid Go
///   regexes (`\Q.\E`) and accepted invalid ones (`(?x)a`). Each regex literal is checked here as
///   Go would; an invalid one is the parse error Go gives. A valid one the crate cannot read is
///   replaced by a literal holding its source in hex, which [`Matcher::regex`] decodes.
/// - It reads backslash escapes inside backtick strings, which are raw in PromQL as in Go
///   (`` `\d` `` is the two characters `\` `d`). A backtick string with a backslash is rewritten
///   as the equivalent double-quoted string.
///
/// Queries without either need no copy. A rewrite can move the positions of later parse errors.
pub fn prepare_query(query: &str) -> Result<Cow<'_, str>, String> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    for (lit, is_regex) in string_literals(query) {
        let text = &query[lit.clone()];
        // promql-parser's unquoting slices inside a multi-byte character after a backslash and
        // panics (`"\🔥"`); Go calls it an unknown escape sequence. Refuse it before the parser
        // sees it.
        if let Some(c) = escaped_non_ascii(text) {
            return Err(format!(
                "1:{}: parse error: unknown escape sequence U+{:04X} '{c}'",
                query[..lit.start].chars().count() + 1,
                c as u32
            ));
        }
        let Ok(value) = promql_parser::util::unquote_string(text) else {
            continue;
        };
        let raw_with_backslash = text.starts_with('`') && value.contains('\\');
        let replacement = if is_regex {
            goregex::translate(&value).map_err(|e| e.to_string())?;
            if Regex::new(&format!("^(?:{value})$")).is_ok() {
                raw_with_backslash.then(|| promql_parser::util::escape_string(&value))
            } else {
                let mut r = REPLACED_MARK.to_string();
                for b in value.bytes() {
                    r.push_str(&format!("{b:02x}"));
                }
                Some(r)
            }
        } else {
            raw_with_backslash.then(|| promql_parser::util::escape_string(&value))
        };
        let Some(replacement) = replacement else {
            continue;
        };
        let o = out.get_or_insert_with(String::new);
        o.push_str(&query[copied..lit.start]);
        o.push('"');
        o.push_str(&replacement);
        o.push('"');
        copied = lit.end;
    }
    Ok(match out {
        Some(mut o) => {
            o.push_str(&query[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(query),
    })
}

/// Where Prometheus places the error for the first regex literal of `query` that Go refuses: the
/// start of the matcher's label name (`1:19` for `sum(rate(m{a="1", b=~"("}[5m]))`).
pub fn invalid_regex_position(query: &str) -> Option<usize> {
    let b = query.as_bytes();
    let (lit, _) = string_literals(query).into_iter().find(|(lit, is_regex)| {
        *is_regex
            && promql_parser::util::unquote_string(&query[lit.clone()])
                .is_ok_and(|v| goregex::translate(&v).is_err())
    })?;
    // Back over spaces, the operator, spaces, then the name (plain, or a quoted UTF-8 name).
    let mut i = lit.start;
    while i > 0 && b[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    i = i.checked_sub(2)?;
    while i > 0 && b[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    if i > 0 && matches!(b[i - 1], b'"' | b'\'' | b'`') {
        let q = b[i - 1];
        let mut j = i - 1;
        while j > 0 {
            j -= 1;
            if b[j] == q && (j == 0 || b[j - 1] != b'\\') {
                return Some(j);
            }
        }
        return Some(i - 1);
    }
    while i > 0 && (b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b':' | b'.')) {
        i -= 1;
    }
    Some(i)
}

/// The first non-ASCII character escaped by a backslash in a quoted (not backtick) literal.
fn escaped_non_ascii(literal: &str) -> Option<char> {
    if literal.starts_with('`') {
        return None;
    }
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e) if !e.is_ascii() => return Some(e),
                _ => {}
            }
        }
    }
    None
}

/// The Go source of a matcher value, decoding what [`prepare_query`] replaced.
fn go_source(value: &str) -> Cow<'_, str> {
    let Some(hex) = value.strip_prefix(REPLACED_MARK) else {
        return Cow::Borrowed(value);
    };
    let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
        .map(|i| {
            hex.get(2 * i..2 * i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    match bytes.and_then(|b| String::from_utf8(b).ok()) {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(value),
    }
}

/// Byte ranges of the string literals in `query` (skipping `#` comments), each with whether it
/// follows `=~` or `!~` (a regex).
fn string_literals(query: &str) -> Vec<(std::ops::Range<usize>, bool)> {
    let b = query.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    // The index after the string literal starting at `i` (its quote). Backtick strings are raw.
    let skip_string = |i: usize| -> usize {
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() {
            if b[j] == b'\\' && q != b'`' {
                j += 2;
                continue;
            }
            if b[j] == q {
                return j + 1;
            }
            j += 1;
        }
        b.len()
    };
    let mut after_regex_op = false;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                let end = skip_string(i).min(b.len());
                found.push((i..end, after_regex_op));
                after_regex_op = false;
                i = end;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'=' | b'!' if b.get(i + 1) == Some(&b'~') => {
                after_regex_op = true;
                i += 2;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                after_regex_op = false;
                i += 1;
            }
        }
    }
    found
}

impl Matcher {
    /// `name="value"`.
    pub fn equal(name: &str, value: &str) -> Self {
        Matcher {
            name: name.to_string(),
            op: MatchOp::Equal,
            value: value.to_string(),
        }
    }

    /// `name!="value"`.
    pub fn not_equal(name: &str, value: &str) -> Self {
        Matcher {
            name: name.to_string(),
            op: MatchOp::NotEqual,
            value: value.to_string(),
        }
    }

    /// `name=~"re"`.
    pub fn regex(name: &str, re: &str) -> Result<Self, MatcherError> {
        let re = &*go_source(re);
        let compiled = anchored_regex(re).map_err(|e| MatcherError {
            name: name.to_string(),
            value: re.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Matcher {
            name: name.to_string(),
            op: MatchOp::Regex(compiled),
            value: re.to_string(),
        })
    }

    /// `name!~"re"`.
    pub fn not_regex(name: &str, re: &str) -> Result<Self, MatcherError> {
        let re = &*go_source(re);
        let compiled = anchored_regex(re).map_err(|e| MatcherError {
            name: name.to_string(),
            value: re.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Matcher {
            name: name.to_string(),
            op: MatchOp::NotRegex(compiled),
            value: re.to_string(),
        })
    }

    /// Whether `value` (the empty string for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::Regex(re) => re.is_match(value),
            MatchOp::NotRegex(re) => !re.is_match(value),
        }
    }

    /// Whether the series with `labels` satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::Engine;

    fn matcher_of(query: &str) -> Matcher {
        let expr = Engine::parse(query).unwrap();
        let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
            panic!("{query} is not a selector");
        };
        let m = vs.matchers.matchers.iter().find(|m| m.name == "v").unwrap();
        Matcher::regex(&m.name, &m.value).unwrap()
    }

    /// `promql-parser` compiles matcher regexes with the crate's syntax and refused `\Q...\E`
    /// before burnwatch saw it.
    #[test]
    fn go_only_regex_syntax_parses_in_queries() {
        let m = matcher_of(r#"{v=~"\\Qa.b\\E"}"#);
        assert_eq!(m.value, r"\Qa.b\E");
        assert!(m.matches("a.b"));
        assert!(!m.matches("axb"));
        let m = matcher_of(r"{v=~`\12|x`, w='1'}");
        assert!(m.matches("\n"));
    }

    /// `promql-parser` read escapes inside backtick strings (`` `\d` `` was "unknown escape
    /// sequence"); they are raw in PromQL.
    #[test]
    fn backtick_strings_are_raw() {
        let m = matcher_of(r"{v=~`\d\.\<`}");
        assert_eq!(m.value, r"\d\.\<");
        assert!(m.matches("7.<"));
        let q = r#"label_replace(x, "a", `$1\n`, "b", `(\w)`)"#;
        let promql_parser::parser::Expr::Call(c) = Engine::parse(q).unwrap() else {
            panic!("a call");
        };
        let promql_parser::parser::Expr::StringLiteral(s) = &*c.args.args[2] else {
            panic!("a string");
        };
        assert_eq!(s.val, r"$1\n");
    }

    /// The crate's own syntax (`(?x)`) was accepted; Go refuses it at parse time with these words.
    #[test]
    fn rust_only_regex_syntax_is_a_go_parse_error() {
        let e = Engine::parse(r#"sum(rate({v=~"(?x)a b"}[5m]))"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?x`"
        );
        // Strings elsewhere are not regexes, even when they read like a matcher.
        assert!(Engine::parse(r#"label_replace(x, "a", "=~\"(\"", "b", "c") # =~ "(""#).is_ok());
    }

    /// Prometheus reports a bad regex at its matcher's label name (2.42: `1:19`, `1:3`, `1:20`).
    #[test]
    fn invalid_regex_errors_point_at_the_label_name() {
        for (q, col) in [
            (r#"sum(rate(m{a="1", b=~"("}[5m]))"#, 19),
            (r#"m{b =~ "("}"#, 3),
            (r#"{__name__=~"(", a="1"}"#, 2),
            (r#"m{a="1"} + on(x) n{c!~"[z-a]"}"#, 20),
            (r#"m{"a b"=~"("}"#, 3),
        ] {
            assert_eq!(invalid_regex_position(q), Some(col - 1), "{q}");
        }
        assert_eq!(invalid_regex_position(r#"m{a=~"(x)"}"#), None);
    }

    #[test]
    fn perl_classes_are_ascii() {
        let m = Matcher::regex("v", r"\w+\s\d").unwrap();
        assert!(m.matches("ab_9 7"));
        assert!(!m.matches("é 7"));
        assert!(!m.matches("a\u{a0}7"));
        assert!(!m.matches("a \u{663}"));
    }
}

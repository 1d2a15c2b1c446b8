//! Go's RE2 regular-expression syntax, translated into the `regex` crate's.
//!
//! Prometheus compiles every regex (label matchers, `label_replace`, relabelling) with Go's
//! `regexp` package and its Perl flags. The `regex` crate reads almost the same syntax, but not
//! quite, and the differences change what a query selects:
//!
//! | Go (RE2, Perl flags)                                  | `regex` crate                       |
//! |-------------------------------------------------------|-------------------------------------|
//! | `\d \w \s \b` are ASCII (`\s` is `[\t\n\f\r ]`)       | Unicode-aware                       |
//! | `\Q…\E` quotes literal text                           | not supported                       |
//! | `{` that is not a valid repeat (`a{,3}`, `a{2`) is a literal | an error or a repeat          |
//! | counted repeats above 1000, also nested (`(a{500}){3}`), are errors | allowed up to a size limit |
//! | stacked repeats (`a**`, `a{2}{3}`) are errors         | allowed                             |
//! | `\1`..`\7` followed by an octal digit, `\0`: octal     | errors                              |
//! | in a class, `[` `&&` `--` `~~` are literals           | nested classes and set operations   |
//! | `\<` `\>` are literal `<` `>`                         | word boundaries                     |
//! | `(?x)`, `(?u)`, `(?R)`, `\u`, `\e`, `\p{greek}` are errors | accepted                       |
//!
//! [`translate`] parses the Go syntax itself (so Go's errors are Go's, with its wording) and writes
//! an equivalent pattern for the `regex` crate; nothing else in burnwatch compiles a user's regex.
//!
//! Divergences kept on purpose: `(?<name>re)` is accepted as Go 1.22 (Prometheus 3.x) does, and a
//! group name starting with a digit (`(?P<1a>x)`, valid in Go) becomes an unnamed group, so only
//! `$1`-style references to it work in `label_replace`.

use std::fmt;

/// Go's largest counted repeat (`syntax.maxRepeat`... the `{n,m}` limit in `regexp/syntax`).
const MAX_REPEAT: i64 = 1000;

/// Go's `maxHeight`: the most levels Go's parse tree of a regex may have, Prometheus's
/// `^(?s:re)$` wrapper included (so 998 nested capture groups around a literal are the most Go
/// takes, checked against Prometheus 2.42). Go counts tree nodes, not brackets: capture groups,
/// repeats, concatenations and alternations add a level, non-capturing and flag groups none.
pub const MAX_HEIGHT: usize = 1000;

/// How deeply groups of any kind may nest here. Go has no such limit for non-capturing groups,
/// but this parser recurses per group, so past this a regex gets Go's "nests too deeply" error
/// too (a divergence only for more than 5000 nested non-capturing groups).
pub const MAX_DEPTH: usize = 5000;

/// Bracket nesting up to which a regex is translated and compiled on the caller's thread; deeper
/// ones move to a thread with a [`REGEX_STACK_BYTES`] stack (see [`on_regex_stack`]).
const INLINE_NESTING: usize = 64;

/// Stack of the thread a deeply nested regex is handled on: parsing, writing and dropping the tree
/// here and compiling it in the `regex` crate all recurse per level.
const REGEX_STACK_BYTES: usize = 256 << 20;

/// The deepest bracket nesting in `src`, counting every `(` not escaped (an upper bound of the
/// group nesting: a `(` inside a class counts too).
fn nesting_bound(src: &str) -> usize {
    let (mut depth, mut max, mut escaped) = (0usize, 0usize, false);
    for c in src.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '(' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Runs `f`, which translates or compiles the regex `src`, on this thread when `src` nests at
/// most [`INLINE_NESTING`] deep, else on a thread with a large stack, so no request thread's
/// stack can overflow on a deeply nested regex.
pub fn on_regex_stack<R: Send>(src: &str, f: impl FnOnce() -> R + Send) -> R {
    if nesting_bound(src) <= INLINE_NESTING {
        return f();
    }
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("deep-regex".to_string())
            .stack_size(REGEX_STACK_BYTES)
            .spawn_scoped(scope, f);
        match spawned {
            Ok(handle) => match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            // No thread to be had (out of memory or threads): nothing else could run it safely.
            Err(e) => panic!("cannot start a thread for a deeply nested regex: {e}"),
        }
    })
}

/// A regex Go's `regexp` would refuse, with Go's wording: `error parsing regexp: <code>: `<text>``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoRegexError {
    /// Go's `ErrorCode` text, such as `missing closing )`.
    pub code: &'static str,
    /// The offending part of the expression, as Go quotes it.
    pub expr: String,
}

impl fmt::Display for GoRegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error parsing regexp: {}: `{}`", self.code, self.expr)
    }
}

impl std::error::Error for GoRegexError {}

const MISSING_PAREN: &str = "missing closing )";
const MISSING_BRACKET: &str = "missing closing ]";
const UNEXPECTED_PAREN: &str = "unexpected )";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const MISSING_REPEAT_ARG: &str = "missing argument to repetition operator";
const INVALID_CHAR_RANGE: &str = "invalid character class range";
const NESTING_DEPTH: &str = "expression nests too deeply";

/// Go's Unicode general categories (`unicode.Categories`); scripts are checked by shape.
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl",
    "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs",
];

/// ASCII classes of Go's Perl escapes: `\d`, `\s`, `\w` (`regexp/syntax/perl_groups.go`). Go's `\s`
/// has no vertical tab.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        's' => Some((r"\t\n\x0C\r ", false)),
        'S' => Some((r"\t\n\x0C\r ", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        _ => None,
    }
}

/// One parsed piece of the expression, already written in the `regex` crate's syntax where it is
/// an atom.
#[derive(Debug)]
enum Node {
    /// A literal, class, dot, assertion: text that can be repeated once wrapped in `(?:...)`.
    Atom(String),
    /// A group: its opening text (`(`, `(?:`, `(?P<n>`, `(?i:`) and its contents.
    Group(String, Box<Node>),
    /// `(?i)`-style flags for the rest of the enclosing group.
    Flags(String),
    /// A repeat of the previous node.
    Repeat {
        sub: Box<Node>,
        op: String,
        min: i64,
        max: i64,
    },
    /// A sequence.
    Concat(Vec<Node>),
    /// Alternatives.
    Alt(Vec<Node>),
}

impl Node {
    fn write(&self, out: &mut String) {
        match self {
            Node::Atom(s) | Node::Flags(s) => out.push_str(s),
            Node::Group(open, inner) => {
                out.push_str(open);
                inner.write(out);
                out.push(')');
            }
            Node::Repeat { sub, op, .. } => {
                match **sub {
                    Node::Group(..) => sub.write(out),
                    _ => {
                        out.push_str("(?:");
                        sub.write(out);
                        out.push(')');
                    }
                }
                out.push_str(op);
            }
            Node::Concat(v) => v.iter().for_each(|n| n.write(out)),
            Node::Alt(v) => {
                for (i, n) in v.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    n.write(out);
                }
            }
        }
    }

    /// The height of Go's parse tree for this node: capture groups, repeats and concatenations or
    /// alternations of more than one element add a level, runs of literal characters are one
    /// literal, non-capturing groups and flags add nothing. (Go also factors alternations, which
    /// can lower the height; this counts them as written.)
    fn go_height(&self) -> usize {
        match self {
            Node::Atom(_) => 1,
            Node::Flags(_) => 0,
            Node::Group(open, inner) => {
                let capturing = open == "(" || open.starts_with("(?P<");
                usize::from(capturing) + inner.go_height().max(usize::from(capturing))
            }
            Node::Repeat { sub, .. } => 1 + sub.go_height(),
            Node::Concat(v) | Node::Alt(v) => {
                let mut elements = 0;
                let mut tallest = 0;
                let mut in_literal = false;
                for n in v {
                    let lit = matches!(n, Node::Atom(a) if is_literal_atom(a));
                    match n {
                        Node::Flags(_) => continue,
                        _ if lit && in_literal && matches!(self, Node::Concat(_)) => continue,
                        _ => {}
                    }
                    in_literal = lit;
                    elements += 1;
                    tallest = tallest.max(n.go_height());
                }
                match elements {
                    0 => 1,
                    1 => tallest,
                    _ => 1 + tallest,
                }
            }
        }
    }

    /// Go's `repeatIsValid` (depth bounded by [`MAX_DEPTH`]): nested counted repeats may multiply to at most `n`.
    fn repeat_is_valid(&self, mut n: i64) -> bool {
        match self {
            Node::Repeat { sub, min, max, .. } => {
                let mut m = *max;
                if m == 0 {
                    return true;
                }
                if m < 0 {
                    m = *min;
                }
                if m > n {
                    return false;
                }
                if m > 0 {
                    n /= m;
                }
                sub.repeat_is_valid(n)
            }
            Node::Group(_, inner) => inner.repeat_is_valid(n),
            Node::Concat(v) | Node::Alt(v) => v.iter().all(|s| s.repeat_is_valid(n)),
            Node::Atom(_) | Node::Flags(_) => true,
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    depth: usize,
    names: Vec<String>,
}

/// Translates the Go regex `src` into an equivalent pattern for the `regex` crate (unanchored, with
/// the flags it had), or Go's error for it.
///
/// A regex that nests deeply is translated on a thread with a large stack ([`on_regex_stack`]).
pub fn translate(src: &str) -> Result<String, GoRegexError> {
    on_regex_stack(src, || translate_here(src))
}

/// [`translate`] on this thread.
fn translate_here(src: &str) -> Result<String, GoRegexError> {
    let mut p = Parser {
        src,
        chars: src.char_indices().collect(),
        pos: 0,
        depth: 0,
        names: Vec::new(),
    };
    let node = p.alternation()?;
    if p.pos < p.chars.len() {
        // Only a `)` stops the top-level alternation early.
        return Err(p.err(UNEXPECTED_PAREN, wrapped(src)));
    }
    // Prometheus's wrapper makes the tree `^`, the regex, `$`: one level above the regex's own.
    if 1 + node.go_height().max(1) > MAX_HEIGHT {
        return Err(p.err(NESTING_DEPTH, wrapped(src)));
    }
    let mut out = String::with_capacity(src.len() + 8);
    node.write(&mut out);
    Ok(out)
}

/// The expression as Prometheus 3.x compiles it (`^(?s:re)$`, `labels.NewFastRegexMatcher`): Go
/// quotes it whole in "missing closing )" and "unexpected )" errors, and the tail of it in
/// "missing closing ]".
fn wrapped(src: &str) -> String {
    format!("^(?s:{src})$")
}

fn is_word_byte(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Writes `c` as a literal outside or inside a class.
fn push_literal(out: &mut String, c: char) {
    if regex_syntax_meta(c) {
        out.push('\\');
        out.push(c);
    } else if c.is_control() || c.is_whitespace() {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    } else {
        out.push(c);
    }
}

/// The characters the `regex` crate gives a meaning (its `is_meta_character`), escaped everywhere.
fn regex_syntax_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

/// Whether an atom is one literal character as [`literal`] writes it.
fn is_literal_atom(a: &str) -> bool {
    let mut chars = a.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(c), None, _) => !matches!(c, '.' | '^' | '$'),
        (Some('\\'), Some(c), None) => regex_syntax_meta(c),
        _ => a.starts_with("\\x{"),
    }
}

fn literal(c: char) -> String {
    let mut s = String::new();
    push_literal(&mut s, c);
    s
}

impl Parser<'_> {
    /// A `\` at the end escapes the `)` of Prometheus's `^(?:re)$` wrapper, so Prometheus reports a
    /// missing `)` rather than Go's trailing-backslash error.
    fn trailing_backslash(&self) -> GoRegexError {
        self.err(MISSING_PAREN, wrapped(self.src))
    }

    fn err(&self, code: &'static str, expr: String) -> GoRegexError {
        GoRegexError { code, expr }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.pos + k).map(|&(_, c)| c)
    }

    fn offset(&self, pos: usize) -> usize {
        self.chars.get(pos).map_or(self.src.len(), |&(o, _)| o)
    }

    /// The source text from char index `from` to the current position.
    fn text_from(&self, from: usize) -> String {
        self.src[self.offset(from)..self.offset(self.pos)].to_string()
    }

    fn alternation(&mut self) -> Result<Node, GoRegexError> {
        let mut alts = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.concat()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Concat(Vec::new()))
        } else {
            Node::Alt(alts)
        })
    }

    fn concat(&mut self) -> Result<Node, GoRegexError> {
        let mut items: Vec<Node> = Vec::new();
        // Where the last repeat operator started (for Go's "invalid nested repetition" text).
        let mut last_repeat: Option<usize> = None;
        while let Some(c) = self.peek() {
            match c {
                '|' | ')' => break,
                '*' | '+' | '?' | '{' => {
                    let start = self.pos;
                    let (min, max, mut op) = match c {
                        '{' => match self.counted_repeat() {
                            Some(r) => r,
                            None => {
                                // Not a repeat: a literal `{` (Go), escaped for Rust.
                                self.pos += 1;
                                items.push(Node::Atom(r"\{".to_string()));
                                last_repeat = None;
                                continue;
                            }
                        },
                        _ => {
                            self.pos += 1;
                            let (min, max) = match c {
                                '*' => (0, -1),
                                '+' => (1, -1),
                                _ => (0, 1),
                            };
                            (min, max, c.to_string())
                        }
                    };
                    if self.peek() == Some('?') {
                        self.pos += 1;
                        op.push('?');
                    }
                    if min == i64::MAX {
                        return Err(self.err(INVALID_REPEAT_SIZE, self.text_from(start)));
                    }
                    if let Some(prev) = last_repeat {
                        return Err(self.err(INVALID_REPEAT_OP, self.text_from(prev)));
                    }
                    let sub = match items.pop() {
                        Some(n @ (Node::Atom(_) | Node::Group(..) | Node::Repeat { .. })) => n,
                        other => {
                            if let Some(n) = other {
                                items.push(n);
                            }
                            return Err(self.err(MISSING_REPEAT_ARG, self.text_from(start)));
                        }
                    };
                    let node = Node::Repeat {
                        sub: Box::new(sub),
                        op,
                        min,
                        max,
                    };
                    if (min >= 2 || max >= 2) && !node.repeat_is_valid(MAX_REPEAT) {
                        return Err(self.err(INVALID_REPEAT_SIZE, self.text_from(start)));
                    }
                    items.push(node);
                    last_repeat = Some(start);
                    continue;
                }
                _ => {}
            }
            last_repeat = None;
            if c == '\\' && self.peek_at(1) == Some('Q') {
                // `\Q...\E` (or to the end): literals, each its own atom, so a repeat after it takes
                // the last character only, as in Go.
                self.pos += 2;
                let rest = &self.src[self.offset(self.pos)..];
                // Without `\E` the quote runs to the end, where Prometheus's own wrapper `)$` is
                // quoted too: Prometheus reports a missing `)`, and so does this.
                let Some(e) = rest.find("\\E") else {
                    return Err(self.err(MISSING_PAREN, wrapped(self.src)));
                };
                let (lit, used) = (&rest[..e], e + 2);
                self.pos += rest[..used].chars().count();
                items.extend(lit.chars().map(|ch| Node::Atom(literal(ch))));
                continue;
            }
            let node = match c {
                '(' => self.group()?,
                '[' => self.class()?,
                '\\' => self.escape()?,
                '.' | '^' | '$' => {
                    self.pos += 1;
                    Node::Atom(c.to_string())
                }
                _ => {
                    self.pos += 1;
                    Node::Atom(literal(c))
                }
            };
            items.push(node);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::Concat(Vec::new()))
        } else {
            Node::Concat(items)
        })
    }

    /// Reads Go's `{n}`, `{n,}` or `{n,m}` at the current `{`; `None` (position unchanged) when it
    /// is not one, so the `{` is a literal. Go refuses numbers with leading zeros or over 1000.
    fn counted_repeat(&mut self) -> Option<(i64, i64, String)> {
        let start = self.pos;
        let mut i = self.pos + 1;
        let number = |i: &mut usize, chars: &[(usize, char)]| -> Option<i64> {
            let from = *i;
            while chars.get(*i).is_some_and(|&(_, c)| c.is_ascii_digit()) {
                *i += 1;
            }
            if *i == from {
                return None;
            }
            let digits: String = chars[from..*i].iter().map(|&(_, c)| c).collect();
            if digits.len() >= 2 && digits.starts_with('0') {
                return None;
            }
            // Go's parseInt gives up beyond eight digits; the count check then rejects it.
            Some(if digits.len() > 8 {
                i64::MAX
            } else {
                digits.parse().ok()?
            })
        };
        let min = number(&mut i, &self.chars)?;
        let max = if self.chars.get(i).map(|&(_, c)| c) == Some(',') {
            i += 1;
            if self.chars.get(i).map(|&(_, c)| c) == Some('}') {
                -1
            } else {
                number(&mut i, &self.chars)?
            }
        } else {
            min
        };
        if self.chars.get(i).map(|&(_, c)| c) != Some('}') {
            return None;
        }
        i += 1;
        self.pos = i;
        let text = self.text_from(start);
        if min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max) {
            // Reported by the caller as Go does, naming the operator.
            self.pos = i;
            return Some((i64::MAX, i64::MAX, text));
        }
        Some((min, max, text))
    }

    fn group(&mut self) -> Result<Node, GoRegexError> {
        let start = self.pos;
        self.pos += 1;
        let mut open = "(".to_string();
        if self.peek() == Some('?') {
            let rest = &self.src[self.offset(self.pos)..];
            let named = if rest.starts_with("?P<") {
                Some(3)
            } else if rest.starts_with("?<") {
                Some(2)
            } else {
                None
            };
            if let Some(skip) = named {
                let Some(end) = rest.find('>') else {
                    return Err(self.err(INVALID_NAMED_CAPTURE, format!("({rest}")));
                };
                let name = &rest[skip..end];
                let whole = format!("({}", &rest[..=end]);
                if name.is_empty() || !name.chars().all(is_word_byte) {
                    return Err(self.err(INVALID_NAMED_CAPTURE, whole));
                }
                self.pos += rest[..=end].chars().count();
                // Rust names must start with a letter or `_` and be unique; Go's need neither.
                let rust_ok = !name.starts_with(|c: char| c.is_ascii_digit());
                if rust_ok && !self.names.iter().any(|n| n == name) {
                    self.names.push(name.to_string());
                    open = format!("(?P<{name}>");
                }
            } else {
                // Flags: (?flags) or (?flags:re), flags from [imsU], at most one `-`.
                self.pos += 1;
                let mut flags = String::new();
                let mut negated = false;
                let mut since_sign = 0;
                loop {
                    let Some(c) = self.peek() else {
                        return Err(self.err(MISSING_PAREN, wrapped(self.src)));
                    };
                    self.pos += 1;
                    match c {
                        'i' | 'm' | 's' | 'U' => {
                            flags.push(c);
                            since_sign += 1;
                        }
                        '-' if !negated => {
                            negated = true;
                            flags.push('-');
                            since_sign = 0;
                        }
                        // Go refuses only a `-` with no flag after it; `(?:re)` and `(?)` are fine.
                        ':' | ')' if !negated || since_sign > 0 => {
                            if c == ')' {
                                if flags.is_empty() {
                                    return Ok(Node::Flags(String::new()));
                                }
                                return Ok(Node::Flags(format!("(?{flags})")));
                            }
                            open = format!("(?{flags}:");
                            break;
                        }
                        _ => return Err(self.err(INVALID_PERL_OP, self.text_from(start))),
                    }
                }
            }
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(NESTING_DEPTH, wrapped(self.src)));
        }
        let inner = self.alternation()?;
        self.depth -= 1;
        if self.peek() != Some(')') {
            return Err(self.err(MISSING_PAREN, wrapped(self.src)));
        }
        self.pos += 1;
        Ok(Node::Group(open, Box::new(inner)))
    }

    /// An escape outside a class.
    fn escape(&mut self) -> Result<Node, GoRegexError> {
        let start = self.pos;
        let Some(c) = self.peek_at(1) else {
            return Err(self.trailing_backslash());
        };
        match c {
            'A' | 'z' => {
                self.pos += 2;
                return Ok(Node::Atom(format!("\\{c}")));
            }
            // Go's word boundary is ASCII.
            'b' | 'B' => {
                self.pos += 2;
                return Ok(Node::Atom(format!("(?-u:\\{c})")));
            }
            'p' | 'P' => {
                let class = self.unicode_class()?;
                return Ok(Node::Atom(class));
            }
            _ => {}
        }
        if let Some((set, neg)) = perl_class(c) {
            self.pos += 2;
            return Ok(Node::Atom(format!("[{}{set}]", if neg { "^" } else { "" })));
        }
        let ch = self.escaped_char(start)?;
        Ok(Node::Atom(literal(ch)))
    }

    /// Go's `parseEscape` for escapes that stand for one character (the position is at `\`).
    fn escaped_char(&mut self, start: usize) -> Result<char, GoRegexError> {
        self.pos += 1;
        let Some(c) = self.peek() else {
            return Err(self.trailing_backslash());
        };
        self.pos += 1;
        let bad = |p: &Self| p.err(INVALID_ESCAPE, p.text_from(start));
        match c {
            '1'..='7' if !self.peek().is_some_and(|d| ('0'..='7').contains(&d)) => Err(bad(self)),
            '0'..='7' => {
                let mut v = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            v = v * 8 + (d as u32 - '0' as u32);
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                char::from_u32(v).ok_or_else(|| bad(self))
            }
            'x' => {
                let mut v: u32 = 0;
                if self.peek() == Some('{') {
                    self.pos += 1;
                    let mut n = 0;
                    loop {
                        match self.peek() {
                            Some('}') if n > 0 => {
                                self.pos += 1;
                                break;
                            }
                            Some(d) if d.is_ascii_hexdigit() => {
                                v = v.saturating_mul(16).saturating_add(d.to_digit(16).unwrap_or(0));
                                if v > 0x10FFFF {
                                    return Err(bad(self));
                                }
                                n += 1;
                                self.pos += 1;
                            }
                            _ => return Err(bad(self)),
                        }
                    }
                } else {
                    for _ in 0..2 {
                        match self.peek() {
                            Some(d) if d.is_ascii_hexdigit() => {
                                v = v * 16 + d.to_digit(16).unwrap_or(0);
                                self.pos += 1;
                            }
                            _ => return Err(bad(self)),
                        }
                    }
                }
                // A surrogate is a valid rune in Go that no UTF-8 text contains; the crate has no
                // way to write it, so it becomes U+FFFD, which Go also decodes bad bytes to.
                Ok(char::from_u32(v).unwrap_or('\u{FFFD}'))
            }
            'a' => Ok('\x07'),
            'f' => Ok('\x0C'),
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'v' => Ok('\x0B'),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c),
            _ => Err(bad(self)),
        }
    }

    /// `\pN`, `\p{Name}`, `\PN`, `\P{^Name}` at the current `\`; Go knows general categories,
    /// scripts and `Any`, spelled exactly.
    fn unicode_class(&mut self) -> Result<String, GoRegexError> {
        let start = self.pos;
        let negated_p = self.peek_at(1) == Some('P');
        self.pos += 2;
        let name = match self.peek() {
            None => return Err(self.err(INVALID_CHAR_RANGE, self.text_from(start))),
            Some('{') => {
                let rest = &self.src[self.offset(self.pos)..];
                let Some(end) = rest.find('}') else {
                    self.pos = self.chars.len();
                    return Err(self.err(INVALID_CHAR_RANGE, self.text_from(start)));
                };
                self.pos += rest[..=end].chars().count();
                rest[1..end].to_string()
            }
            Some(c) => {
                self.pos += 1;
                c.to_string()
            }
        };
        let (negated, name) = match name.strip_prefix('^') {
            Some(n) => (!negated_p, n.to_string()),
            None => (negated_p, name),
        };
        let known = name == "Any"
            || CATEGORIES.contains(&name.as_str())
            || (name.len() > 1
                && name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_'));
        let class = format!("\\{}{{{name}}}", if negated { 'P' } else { 'p' });
        if !known || regex::Regex::new(&class).is_err() {
            return Err(self.err(INVALID_CHAR_RANGE, self.text_from(start)));
        }
        Ok(class)
    }

    /// A bracketed class, written with every literal escaped so the crate's nested classes and set
    /// operators (`[`, `&&`, `--`, `~~`) stay literals as in Go.
    fn class(&mut self) -> Result<Node, GoRegexError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::from("[");
        if self.peek() == Some('^') {
            self.pos += 1;
            out.push('^');
        }
        let missing = |p: &Self| p.err(MISSING_BRACKET, format!("{})$", &p.src[p.offset(start)..]));
        let mut first = true;
        let mut empty = true;
        loop {
            let Some(c) = self.peek() else {
                return Err(missing(self));
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            let item_start = self.pos;
            // POSIX class [:alpha:].
            if c == '[' && self.peek_at(1) == Some(':') {
                let rest = &self.src[self.offset(self.pos)..];
                if let Some(end) = rest[2..].find(":]") {
                    let whole = &rest[..end + 4];
                    let name = whole[2..whole.len() - 2].trim_start_matches('^');
                    const POSIX: &[&str] = &[
                        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print",
                        "punct", "space", "upper", "word", "xdigit",
                    ];
                    if !POSIX.contains(&name) {
                        return Err(self.err(INVALID_CHAR_RANGE, whole.to_string()));
                    }
                    self.pos += whole.chars().count();
                    out.push_str(whole);
                    empty = false;
                    continue;
                }
            }
            if c == '\\' {
                match self.peek_at(1) {
                    Some('p' | 'P') => {
                        let class = self.unicode_class()?;
                        out.push_str(&class);
                        empty = false;
                        continue;
                    }
                    Some(p) if perl_class(p).is_some() => {
                        let (set, neg) = perl_class(p).unwrap_or(("", false));
                        self.pos += 2;
                        if neg {
                            out.push_str(&format!("[^{set}]"));
                        } else {
                            out.push_str(set);
                        }
                        empty = false;
                        continue;
                    }
                    _ => {}
                }
            }
            let lo = self.class_char()?;
            let mut hi = lo;
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|n| n != ']') {
                self.pos += 1;
                hi = self.class_char()?;
                if hi < lo {
                    return Err(self.err(INVALID_CHAR_RANGE, self.text_from(item_start)));
                }
            }
            push_literal(&mut out, lo);
            if hi != lo {
                out.push('-');
                push_literal(&mut out, hi);
            }
            empty = false;
        }
        debug_assert!(!empty);
        out.push(']');
        Ok(Node::Atom(out))
    }

    /// One character of a class: a literal or an escape.
    fn class_char(&mut self) -> Result<char, GoRegexError> {
        let start = self.pos;
        match self.peek() {
            None => Err(self.err(MISSING_BRACKET, format!("{})$", self.src))),
            Some('\\') => self.escaped_char(start),
            Some(c) => {
                self.pos += 1;
                Ok(c)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(re: &str, v: &str) -> bool {
        crate::tsdb::matcher::anchored_regex(re)
            .unwrap_or_else(|e| panic!("{re}: {e}"))
            .is_match(v)
    }

    /// Each row was checked against Prometheus 2.42 with
    /// `label_replace(label_replace(vector(1), "v", VALUE, "", ""), "m", "yes", "v", RE)`.
    #[test]
    fn matches_as_prometheus_does() {
        let rows: &[(&str, &str, bool)] = &[
            (r"\d", "\u{663}", false),
            (r"\d", "7", true),
            (r"\w", "é", false),
            (r"\w", "_", true),
            (r"\s", "\u{a0}", false),
            (r"\s", "\x0B", false),
            (r"\s", "\x0C", true),
            (r"a\b.", "aé", true),
            (r".*\bb", "éb", true),
            (r"\Qa.b\E", "a.b", true),
            (r"\Qa.b\E", "axb", false),
            (r"a\Qbc\E*", "abcc", true),
            (r"a\Qbc\E*", "abcbc", false),
            (r"a{,3}", "a{,3}", true),
            (r"a{,3}", "aaa", false),
            (r"a{2", "a{2", true),
            (r"a{01}", "a{01}", true),
            (r"x{2}", "xx", true),
            (r"[[a]]", "[]", true),
            (r"[[a]]", "a]", true),
            (r"[a&&b]", "&", true),
            (r"[a-c--b]", "-", true),
            (r"[a~~b]", "~", true),
            (r"\<a\>", "<a>", true),
            (r"\12", "\n", true),
            (r"\0", "\0", true),
            (r"\101", "A", true),
            (r"(?i)k", "\u{212a}", true),
            (r"[^a]", "\n", true),
            (r"\x{263a}", "☺", true),
            (r"\pL", "é", true),
            (r"\p{Greek}", "α", true),
            (r"\p{^Greek}", "α", false),
            (r"\PL", "1", true),
            (r"[\d]", "\u{663}", false),
            (r"[^\D]", "5", true),
            (r"[\S]", "\u{a0}", true),
            (r"^*a", "a", true),
            (r"a}", "a}", true),
            (r"(?U)a+", "aa", true),
            (r"[]a]", "]", true),
            (r"[a-]", "-", true),
            (r"\-", "-", true),
            (r"\ ", " ", true),
            (r"[[:alpha:]]", "é", false),
            (r"[[:^alpha:]]", "1", true),
            (r"(?P<1a>x)", "x", true),
            (r"(?i)\W", "K", false),
            (r"a|", "", true),
            (r"\v", "\x0B", true),
            (r"[\v]", "\x0B", true),
            (r"\#", "#", true),
            (r"a#b", "a#b", true),
            (r"(?P<n>a)(?P<n>b)", "ab", true),
            // Prometheus 3.x matches `.` against a newline (`(?s:` in its wrapper); 2.x did not.
            (r".", "\n", true),
        ];
        for &(re, v, want) in rows {
            assert_eq!(is_match(re, v), want, "{re:?} against {v:?}");
        }
    }

    /// Each message is Prometheus 2.42's for `{a=~RE}`, with 3.x's `^(?s:` wrapper for 2.42's `^(?:`.
    #[test]
    fn refuses_as_go_does_with_its_wording() {
        let rows: &[(&str, &str)] = &[
            ("(a", "missing closing ): `^(?s:(a)$`"),
            ("a**", "invalid nested repetition operator: `**`"),
            ("a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
            ("a{1001}", "invalid repeat count: `{1001}`"),
            ("(a{500}){3}", "invalid repeat count: `{3}`"),
            ("((a{10}){10}){11}", "invalid repeat count: `{11}`"),
            ("(?x)a", "invalid or unsupported Perl syntax: `(?x`"),
            ("(?<n", "invalid named capture: `(?<n`"),
            (r"\u0041", r"invalid escape sequence: `\u`"),
            (r"\8", r"invalid escape sequence: `\8`"),
            (r"\C", r"invalid escape sequence: `\C`"),
            ("[z-a]", "invalid character class range: `z-a`"),
            ("[a", "missing closing ]: `[a)$`"),
            ("*", "missing argument to repetition operator: `*`"),
            (")", "unexpected ): `^(?s:))$`"),
            ("(?i", "missing closing ): `^(?s:(?i)$`"),
            ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
            (r"\pX", r"invalid character class range: `\pX`"),
            (r"\p{Foo}", r"invalid character class range: `\p{Foo}`"),
            (r"\p{greek}", r"invalid character class range: `\p{greek}`"),
            // Prometheus's wrapper makes these two a missing `)` as well.
            (r"a\", r"missing closing ): `^(?s:a\)$`"),
            (r"\Qa.b", r"missing closing ): `^(?s:\Qa.b)$`"),
        ];
        for &(re, want) in rows {
            assert_eq!(
                translate(re).map_err(|e| e.to_string()),
                Err(format!("error parsing regexp: {want}")),
                "{re:?}"
            );
        }
    }

    #[test]
    fn repeat_limit_is_go_s_thousand() {
        assert!(is_match("x{1000}", &"x".repeat(1000)));
        assert!(is_match(r"\pL{1000}", &"é".repeat(1000)));
        assert!(translate("x{1000,1001}").is_err());
        assert!(translate("(x{0}){5000}").is_err());
        assert!(translate("(x{2}){500}").is_ok());
    }

    /// Regression: groups could nest only 200 deep where Go allows a parse tree 1000 high.
    /// Prometheus 2.42 takes 998 capture groups around a literal and refuses 999 (its wrapper
    /// is a level too), with Go's text; non-capturing groups add no height.
    #[test]
    fn nesting_depth_is_go_s_height_limit() {
        let nested = |open: &str, n: usize| format!("{}a{}", open.repeat(n), ")".repeat(n));
        let ok = nested("(", 998);
        assert!(is_match(&ok, "a"));
        let deep = nested("(", 999);
        let err = translate(&deep).unwrap_err();
        assert_eq!(err.code, NESTING_DEPTH);
        assert_eq!(
            err.to_string(),
            format!("error parsing regexp: expression nests too deeply: `^(?s:{deep})$`")
        );
        assert!(is_match(&nested("(?:", 1000), "a"));
        assert!(is_match(&nested("(?i:", 1001), "A"));
        // Repeats are levels too: 499 groups each repeated make a tree 999 high.
        assert!(translate(&format!("{}a{}", "(".repeat(499), ")*".repeat(499))).is_ok());
        assert!(translate(&format!("{}a{}", "(".repeat(500), ")*".repeat(500))).is_err());
        // Runs of literals are one node: `(ab)` is as high as `(a)`.
        assert!(translate(&nested("(", 998).replace('a', "ab")).is_ok());
        // Regression: a non-capturing group without flags (`(?:a)`) and empty flags (`(?)`) were
        // refused as unsupported Perl syntax; Go takes both. A `-` with no flag after it is
        // still refused, as in Go.
        assert!(is_match("(?:a|b)c", "bc"));
        assert!(is_match("(?)a", "a"));
        assert_eq!(translate("(?i-:a)").map_err(|e| e.code), Err(INVALID_PERL_OP));
        let deep_any = nested("(?:", MAX_DEPTH + 1);
        assert_eq!(translate(&deep_any).map_err(|e| e.code), Err(NESTING_DEPTH));
        // A hostile depth is refused without exhausting the stack.
        let hostile = "(".repeat(100_000);
        assert!(translate(&hostile).is_err());
    }
}

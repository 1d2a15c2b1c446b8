//! The subset of Go's `text/template` that Prometheus alert labels and annotations use, with
//! Prometheus's template functions (`template/template.go`).
//!
//! Supported: text, `{{- … -}}` trimming, comments, variables (`$labels`, `$value`,
//! `$externalLabels`, `$externalURL`, `$x := …`, `$x = …`), fields (`.Labels.job`, `.Value`,
//! `$labels.job`), pipelines (`$value | humanize`), parenthesised commands, string, raw string,
//! number and boolean literals, `if`/`else if`/`else`/`end`, `with`, `range` over a map (sorted
//! keys, as Go iterates maps in templates) and over query results; Go's `and`, `or`, `not`, `eq`,
//! `ne`, `lt`, `le`, `gt`, `ge`, `len`, `index`, `print`, `printf`, `println`, `urlquery`; and
//! Prometheus's `humanize`, `humanize1024`, `humanizeDuration`, `humanizePercentage`,
//! `humanizeTimestamp`, `title`, `toUpper`, `toLower`, `match`, `reReplaceAll`, `stripPort`,
//! `stripDomain`, `parseDuration`, `safeHtml`, `query`, `first`, `label`, `value`, `strvalue`,
//! `sortByLabel`, `externalURL`, `graphLink`, `tableLink`.
//!
//! Not supported (refused when the template is parsed, naming the construct): `define`,
//! `template`, `block`, `break`, `continue`, character constants and method calls. A missing map
//! key gives the empty string, as Prometheus's `missingkey=zero` option does.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// Deepest nesting of blocks and parentheses taken (recursion over user input is bounded).
const MAX_NESTING: usize = 100;

/// A parse or execution error, worded like Go's (without the `template: name:line:` prefix,
/// which the caller adds).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

fn terr<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

/// One sample of a `query` result, as Prometheus's templates see it (`.Labels`, `.Value`).
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    /// The series labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Runs a PromQL query for the `query` function (at the evaluation time).
pub type QueryFn<'a> = &'a dyn Fn(&str) -> Result<Vec<QuerySample>, String>;

/// What an alert template sees: Prometheus's `AlertTemplateData`.
#[derive(Clone, Debug, Default)]
pub struct AlertData {
    /// The alert's labels (the sample's labels, `__name__` included when the result has it).
    pub labels: BTreeMap<String, String>,
    /// The server's external labels.
    pub external_labels: BTreeMap<String, String>,
    /// The server's external URL.
    pub external_url: String,
    /// The sample value.
    pub value: f64,
}

/// A template value.
#[derive(Clone, Debug)]
enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Map(Arc<BTreeMap<String, String>>),
    Data(Arc<AlertData>),
    Sample(Arc<QuerySample>),
    List(Arc<Vec<QuerySample>>),
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Nil => false,
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Map(m) => !m.is_empty(),
            Val::Data(_) | Val::Sample(_) => true,
            Val::List(l) => !l.is_empty(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Nil => "nil",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::Map(_) => "map[string]string",
            Val::Data(_) => "struct",
            Val::Sample(_) => "*template.sample",
            Val::List(_) => "template.queryResult",
        }
    }

    /// Go's `fmt.Sprint` of the value.
    fn print(&self, out: &mut String) {
        match self {
            Val::Nil => out.push_str("<no value>"),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Float(f) => out.push_str(&burnwatch_gofmt::format_g(*f)),
            Val::Str(s) => out.push_str(s),
            Val::Map(m) => print_map(out, m),
            Val::Data(d) => {
                out.push('{');
                print_map(out, &d.labels);
                out.push(' ');
                print_map(out, &d.external_labels);
                let _ = write!(
                    out,
                    " {} {}}}",
                    d.external_url,
                    burnwatch_gofmt::format_g(d.value)
                );
            }
            Val::Sample(s) => {
                out.push_str("&{");
                print_map(out, &s.labels);
                let _ = write!(out, " {}}}", burnwatch_gofmt::format_g(s.value));
            }
            Val::List(l) => {
                out.push('[');
                for (i, s) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    Val::Sample(Arc::new(s.clone())).print(out);
                }
                out.push(']');
            }
        }
    }

    fn to_text(&self) -> String {
        let mut s = String::new();
        self.print(&mut s);
        s
    }

    /// Prometheus's `convertToFloat`: numbers and numeric strings.
    fn to_float(&self, func: &str) -> Result<f64, TemplateError> {
        match self {
            Val::Float(f) => Ok(*f),
            Val::Int(i) => Ok(*i as f64),
            Val::Str(s) => burnwatch_gofmt::parse_go_float(s).ok_or_else(|| {
                TemplateError(format!(
                    "error calling {func}: strconv.ParseFloat: parsing {s:?}: invalid syntax"
                ))
            }),
            other => terr(format!(
                "error calling {func}: can't convert {} to float",
                other.type_name()
            )),
        }
    }
}

fn print_map(out: &mut String, m: &BTreeMap<String, String>) {
    out.push_str("map[");
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        out.push_str(v);
    }
    out.push(']');
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Field(String),
    Var(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Clone, Debug)]
enum Arg {
    /// `.A.B` (empty: the dot itself).
    Field(Vec<String>),
    /// `$x.A.B`.
    Var(String, Vec<String>),
    Ident(String),
    Lit(Val),
    /// `(pipeline).A.B`.
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Clone, Debug)]
struct Pipeline {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

/// What one `{{ … }}` holds, once lexed.
enum Piece {
    Text(String),
    Action(Vec<Tok>, usize),
}

const FUNCTIONS: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "urlquery",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "title",
    "toUpper",
    "toLower",
    "match",
    "reReplaceAll",
    "stripPort",
    "stripDomain",
    "parseDuration",
    "safeHtml",
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "externalURL",
    "graphLink",
    "tableLink",
    "html",
    "js",
];

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].matches('\n').count() + 1
}

/// Splits the source into text and lexed actions, applying the trim markers.
fn split(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = 0;
    let mut trim_next = false;
    while rest <= src.len() {
        let Some(open) = src[rest..].find("{{").map(|i| i + rest) else {
            let mut text = &src[rest..];
            if trim_next {
                text = text.trim_start();
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(text.to_string()));
            }
            break;
        };
        let mut text = &src[rest..open];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner_start = open + 2;
        // `{{- ` trims the text before it (the dash must be followed by a space).
        if src[inner_start..].starts_with("- ")
            || src[inner_start..].starts_with("-\t")
            || src[inner_start..].starts_with("-\n")
        {
            text = text.trim_end();
            inner_start += 1;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        let line = line_of(src, open);
        // Comments: `{{/* … */}}`.
        let after_ws = src[inner_start..].trim_start();
        if after_ws.starts_with("/*") {
            let start = src.len() - after_ws.len();
            let Some(end) = src[start..].find("*/").map(|i| i + start + 2) else {
                return terr(format!("{line}: unclosed comment"));
            };
            let tail = src[end..].trim_start();
            let (close, trim) = if let Some(t) = tail.strip_prefix("-}}") {
                (src.len() - t.len(), true)
            } else if let Some(t) = tail.strip_prefix("}}") {
                (src.len() - t.len(), false)
            } else {
                return terr(format!("{line}: comment ends before closing delimiter"));
            };
            trim_next = trim;
            rest = close;
            continue;
        }
        let (toks, end, trim) = lex_action(src, inner_start, line)?;
        pieces.push(Piece::Action(toks, line));
        trim_next = trim;
        rest = end;
    }
    Ok(pieces)
}

/// Lexes one action from `start` up to its `}}`; returns the tokens, the offset after the
/// delimiter and whether it was ` -}}`.
fn lex_action(src: &str, start: usize, line: usize) -> Result<(Vec<Tok>, usize, bool), TemplateError> {
    let b = src.as_bytes();
    let mut i = start;
    let mut toks = Vec::new();
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t' || b[i] == b'\r' || b[i] == b'\n') {
            i += 1;
        }
        if i >= b.len() {
            return terr(format!("{line}: unclosed action"));
        }
        if src[i..].starts_with("-}}") && i > start && matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') {
            return Ok((toks, i + 3, true));
        }
        if src[i..].starts_with("}}") {
            return Ok((toks, i + 2, false));
        }
        let c = b[i];
        match c {
            b'|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            b'(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            b'=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            b'"' => {
                let (s, end) = lex_quoted(src, i, line)?;
                toks.push(Tok::Str(s));
                i = end;
            }
            b'`' => {
                let Some(end) = src[i + 1..].find('`') else {
                    return terr(format!("{line}: unterminated raw quoted string"));
                };
                toks.push(Tok::Str(src[i + 1..i + 1 + end].to_string()));
                i = i + end + 2;
            }
            b'\'' => return terr(format!("{line}: character constants are not supported")),
            b'.' if b.get(i + 1).is_some_and(|x| x.is_ascii_digit()) => {
                let (t, end) = lex_number(src, i, line)?;
                toks.push(t);
                i = end;
            }
            b'.' => {
                let j = ident_end(b, i + 1);
                toks.push(Tok::Field(src[i + 1..j].to_string()));
                i = j;
            }
            b'$' => {
                let j = ident_end(b, i + 1);
                toks.push(Tok::Var(src[i..j].to_string()));
                i = j;
            }
            b'-' | b'+' | b'0'..=b'9' => {
                let (t, end) = lex_number(src, i, line)?;
                toks.push(t);
                i = end;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let j = ident_end(b, i);
                toks.push(Tok::Ident(src[i..j].to_string()));
                i = j;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return terr(format!("{line}: unexpected {ch:?} in command"));
            }
        }
    }
}

fn ident_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    i
}

fn lex_number(src: &str, start: usize, line: usize) -> Result<(Tok, usize), TemplateError> {
    let b = src.as_bytes();
    let mut i = start;
    if b[i] == b'-' || b[i] == b'+' {
        i += 1;
    }
    while i < b.len()
        && (b[i].is_ascii_alphanumeric()
            || b[i] == b'.'
            || b[i] == b'_'
            || ((b[i] == b'-' || b[i] == b'+') && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P')))
    {
        i += 1;
    }
    let text = &src[start..i];
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let int = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(v) = int {
        return Ok((Tok::Int(if neg { -v } else { v }), i));
    }
    match clean.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok((Tok::Float(f), i)),
        _ => terr(format!("{line}: bad number syntax: {text:?}")),
    }
}

fn lex_quoted(src: &str, start: usize, line: usize) -> Result<(String, usize), TemplateError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                        let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) else {
                            return terr(format!("{line}: invalid syntax in quoted string"));
                        };
                        out.push(ch);
                    }
                    _ => return terr(format!("{line}: invalid syntax in quoted string")),
                }
            }
            c => out.push(c),
        }
    }
    terr(format!("{line}: unterminated quoted string"))
}

struct Parser {
    pieces: std::vec::IntoIter<Piece>,
}

/// How a list of nodes ended.
enum Closer {
    Eof,
    End,
    Else(Vec<Tok>, usize),
}

impl Parser {
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, Closer), TemplateError> {
        if depth > MAX_NESTING {
            return terr("template nested too deeply");
        }
        let mut nodes = Vec::new();
        while let Some(p) = self.pieces.next() {
            let (toks, line) = match p {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action(t, l) => (t, l),
            };
            match toks.first() {
                Some(Tok::Ident(k)) if k == "end" => {
                    if toks.len() > 1 {
                        return terr(format!("{line}: unexpected token in end"));
                    }
                    return Ok((nodes, Closer::End));
                }
                Some(Tok::Ident(k)) if k == "else" => {
                    return Ok((nodes, Closer::Else(toks[1..].to_vec(), line)));
                }
                Some(Tok::Ident(k)) if k == "if" || k == "with" || k == "range" => {
                    let kind = k.clone();
                    let node = self.block(&kind, &toks[1..], line, depth)?;
                    nodes.push(node);
                }
                Some(Tok::Ident(k))
                    if matches!(k.as_str(), "define" | "template" | "block" | "break" | "continue") =>
                {
                    return terr(format!("{line}: {{{{{k}}}}} is not supported in alert templates"));
                }
                None => return terr(format!("{line}: missing value for command")),
                _ => nodes.push(Node::Action(parse_pipeline(&toks, line, true, depth)?)),
            }
        }
        Ok((nodes, Closer::Eof))
    }

    fn block(&mut self, kind: &str, toks: &[Tok], line: usize, depth: usize) -> Result<Node, TemplateError> {
        let pipe = parse_pipeline(toks, line, true, depth)?;
        if pipe.cmds.is_empty() {
            return terr(format!("{line}: missing value for {kind}"));
        }
        let (body, end) = self.list(depth + 1)?;
        let els = match end {
            Closer::Eof => return terr(format!("{line}: unexpected EOF")),
            Closer::End => Vec::new(),
            Closer::Else(rest, l) if rest.is_empty() => {
                let (els, end) = self.list(depth + 1)?;
                match end {
                    Closer::End => els,
                    Closer::Eof => return terr(format!("{l}: unexpected EOF")),
                    Closer::Else(_, l) => return terr(format!("{l}: expected end; found {{{{else}}}}")),
                }
            }
            // `else if …` / `else with …`: a nested block that shares this one's `end`.
            Closer::Else(rest, l) => match rest.first() {
                Some(Tok::Ident(k)) if (k == "if" || k == "with") && k == kind => {
                    vec![self.block(kind, &rest[1..], l, depth + 1)?]
                }
                _ => return terr(format!("{l}: unexpected token in else")),
            },
        };
        Ok(match kind {
            "if" => Node::If(pipe, body, els),
            "with" => Node::With(pipe, body, els),
            _ => Node::Range(pipe, body, els),
        })
    }
}

fn parse_pipeline(
    toks: &[Tok],
    line: usize,
    allow_decl: bool,
    depth: usize,
) -> Result<Pipeline, TemplateError> {
    if depth > MAX_NESTING {
        return terr(format!("{line}: template nested too deeply"));
    }
    let mut i = 0;
    let mut decl = Vec::new();
    let mut assign = false;
    // `$x :=`, `$k, $v :=`, `$x =`.
    if allow_decl {
        let mut j = 0;
        let mut vars = Vec::new();
        while let Some(Tok::Var(v)) = toks.get(j) {
            vars.push(v.clone());
            j += 1;
            if toks.get(j) == Some(&Tok::Comma) {
                j += 1;
            } else {
                break;
            }
        }
        match toks.get(j) {
            Some(Tok::Declare) if !vars.is_empty() => {
                decl = vars;
                i = j + 1;
            }
            Some(Tok::Assign) if vars.len() == 1 => {
                decl = vars;
                assign = true;
                i = j + 1;
            }
            _ => {}
        }
    }
    let mut cmds = Vec::new();
    let mut cmd = Vec::new();
    while i < toks.len() {
        let t = &toks[i];
        i += 1;
        let arg = match t {
            Tok::Pipe => {
                if cmd.is_empty() {
                    return terr(format!("{line}: missing command"));
                }
                cmds.push(std::mem::take(&mut cmd));
                continue;
            }
            Tok::LParen => {
                let mut level = 1;
                let start = i;
                while i < toks.len() && level > 0 {
                    match toks[i] {
                        Tok::LParen => level += 1,
                        Tok::RParen => level -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                if level != 0 {
                    return terr(format!("{line}: unclosed left paren"));
                }
                let inner = parse_pipeline(&toks[start..i - 1], line, false, depth + 1)?;
                if inner.cmds.is_empty() {
                    return terr(format!("{line}: missing value for parenthesized pipeline"));
                }
                let mut fields = Vec::new();
                while let Some(Tok::Field(f)) = toks.get(i) {
                    fields.push(f.clone());
                    i += 1;
                }
                Arg::Sub(Box::new(inner), fields)
            }
            Tok::RParen => return terr(format!("{line}: unexpected right paren")),
            Tok::Field(f) => {
                let mut fields = Vec::new();
                if !f.is_empty() {
                    fields.push(f.clone());
                }
                while let Some(Tok::Field(f)) = toks.get(i) {
                    if f.is_empty() {
                        return terr(format!("{line}: unexpected . after term"));
                    }
                    fields.push(f.clone());
                    i += 1;
                }
                Arg::Field(fields)
            }
            Tok::Var(v) => {
                let mut fields = Vec::new();
                while let Some(Tok::Field(f)) = toks.get(i) {
                    fields.push(f.clone());
                    i += 1;
                }
                Arg::Var(v.clone(), fields)
            }
            Tok::Str(s) => Arg::Lit(Val::Str(s.clone())),
            Tok::Int(n) => Arg::Lit(Val::Int(*n)),
            Tok::Float(f) => Arg::Lit(Val::Float(*f)),
            Tok::Ident(k) => match k.as_str() {
                "true" => Arg::Lit(Val::Bool(true)),
                "false" => Arg::Lit(Val::Bool(false)),
                "nil" => Arg::Lit(Val::Nil),
                name if FUNCTIONS.contains(&name) => Arg::Ident(name.to_string()),
                name => return terr(format!("{line}: function {name:?} not defined")),
            },
            Tok::Declare | Tok::Assign | Tok::Comma => {
                return terr(format!("{line}: unexpected {t:?} in operand"));
            }
        };
        cmd.push(arg);
    }
    if !cmd.is_empty() {
        cmds.push(cmd);
    } else if !cmds.is_empty() {
        return terr(format!("{line}: missing command"));
    }
    Ok(Pipeline { decl, assign, cmds })
}

impl Template {
    /// Parses `src`; the error names the line and the problem.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let pieces = split(src)?;
        let mut p = Parser {
            pieces: pieces.into_iter(),
        };
        let (nodes, end) = p.list(0)?;
        match end {
            Closer::Eof => Ok(Template { nodes }),
            Closer::End => terr("unexpected {{end}}"),
            Closer::Else(_, l) => terr(format!("{l}: unexpected {{{{else}}}}")),
        }
    }

    /// Expands the template with `.` and `$` bound to `data`, and `$labels`, `$externalLabels`,
    /// `$externalURL`, `$value` defined as Prometheus defines them for alert templates.
    pub fn expand_alert(
        &self,
        data: &AlertData,
        query: Option<QueryFn<'_>>,
    ) -> Result<String, TemplateError> {
        let data = Arc::new(data.clone());
        let root = Val::Data(data.clone());
        let mut ex = Exec {
            vars: vec![
                ("$".to_string(), root.clone()),
                ("$labels".to_string(), Val::Map(Arc::new(data.labels.clone()))),
                (
                    "$externalLabels".to_string(),
                    Val::Map(Arc::new(data.external_labels.clone())),
                ),
                ("$externalURL".to_string(), Val::Str(data.external_url.clone())),
                ("$value".to_string(), Val::Float(data.value)),
            ],
            out: String::new(),
            query,
            external_url: data.external_url.clone(),
        };
        ex.run(&self.nodes, &root, 0)?;
        Ok(ex.out)
    }
}

/// Expands `src` for an alert as Prometheus does: a template that fails to parse or run gives
/// `<error expanding template: …>` instead of the text.
pub fn expand_or_error(name: &str, src: &str, data: &AlertData, query: Option<QueryFn<'_>>) -> String {
    match Template::parse(src).and_then(|t| t.expand_alert(data, query)) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: template: __alert_{name}:{e}>"),
    }
}

// ---------------------------------------------------------------------------------------------
// Execution

struct Exec<'q> {
    vars: Vec<(String, Val)>,
    out: String,
    query: Option<QueryFn<'q>>,
    external_url: String,
}

fn field_of(v: &Val, name: &str) -> Result<Val, TemplateError> {
    match v {
        Val::Map(m) => Ok(Val::Str(m.get(name).cloned().unwrap_or_default())),
        Val::Data(d) => match name {
            "Labels" => Ok(Val::Map(Arc::new(d.labels.clone()))),
            "ExternalLabels" => Ok(Val::Map(Arc::new(d.external_labels.clone()))),
            "ExternalURL" => Ok(Val::Str(d.external_url.clone())),
            "Value" => Ok(Val::Float(d.value)),
            _ => terr(format!("can't evaluate field {name} in type template.alertData")),
        },
        Val::Sample(s) => match name {
            "Labels" => Ok(Val::Map(Arc::new(s.labels.clone()))),
            "Value" => Ok(Val::Float(s.value)),
            _ => terr(format!("can't evaluate field {name} in type *template.sample")),
        },
        Val::Nil => terr(format!("nil pointer evaluating interface {{}}.{name}")),
        other => terr(format!(
            "can't evaluate field {name} in type {}",
            other.type_name()
        )),
    }
}

impl Exec<'_> {
    fn var(&self, name: &str) -> Result<Val, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| TemplateError(format!("undefined variable: {name}")))
    }

    fn run(&mut self, nodes: &[Node], dot: &Val, depth: usize) -> Result<(), TemplateError> {
        if depth > MAX_NESTING {
            return terr("template nested too deeply");
        }
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot, depth)?;
                    if p.decl.is_empty() {
                        v.print(&mut self.out);
                    }
                }
                Node::If(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(p, dot, depth)?;
                    let r = if v.truthy() {
                        self.run(body, dot, depth + 1)
                    } else {
                        self.run(els, dot, depth + 1)
                    };
                    self.vars.truncate(mark);
                    r?;
                }
                Node::With(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(p, dot, depth)?;
                    let r = if v.truthy() {
                        self.run(body, &v, depth + 1)
                    } else {
                        self.run(els, dot, depth + 1)
                    };
                    self.vars.truncate(mark);
                    r?;
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    // The declared variables take the key and element, not the whole value.
                    let mut inner = p.clone();
                    let decl = std::mem::take(&mut inner.decl);
                    let v = self.pipeline(&inner, dot, depth)?;
                    let items: Vec<(Val, Val)> = match &v {
                        Val::Map(m) => m
                            .iter()
                            .map(|(k, x)| (Val::Str(k.clone()), Val::Str(x.clone())))
                            .collect(),
                        Val::List(l) => l
                            .iter()
                            .enumerate()
                            .map(|(i, s)| (Val::Int(i as i64), Val::Sample(Arc::new(s.clone()))))
                            .collect(),
                        Val::Int(n) => (0..*n).map(|i| (Val::Int(i), Val::Int(i))).collect(),
                        Val::Nil => Vec::new(),
                        other => return terr(format!("range can't iterate over {}", other.to_text())),
                    };
                    if items.is_empty() {
                        let r = self.run(els, dot, depth + 1);
                        self.vars.truncate(mark);
                        r?;
                        continue;
                    }
                    for (k, x) in items {
                        let m = self.vars.len();
                        match decl.len() {
                            0 => {}
                            1 => self.vars.push((decl[0].clone(), x.clone())),
                            _ => {
                                self.vars.push((decl[0].clone(), k));
                                self.vars.push((decl[1].clone(), x.clone()));
                            }
                        }
                        let r = self.run(body, &x, depth + 1);
                        self.vars.truncate(m);
                        if let Err(e) = r {
                            self.vars.truncate(mark);
                            return Err(e);
                        }
                    }
                    self.vars.truncate(mark);
                }
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Val, depth: usize) -> Result<Val, TemplateError> {
        let mut prev: Option<Val> = None;
        for cmd in &p.cmds {
            prev = Some(self.command(cmd, dot, prev, depth)?);
        }
        let v = prev.unwrap_or(Val::Nil);
        if !p.decl.is_empty() {
            if p.assign {
                let name = &p.decl[0];
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return terr(format!("undefined variable: {name}")),
                }
            } else {
                for d in &p.decl {
                    self.vars.push((d.clone(), v.clone()));
                }
            }
        }
        Ok(v)
    }

    fn arg(&mut self, a: &Arg, dot: &Val, depth: usize) -> Result<Val, TemplateError> {
        let walk = |mut v: Val, fields: &[String]| -> Result<Val, TemplateError> {
            for f in fields {
                v = field_of(&v, f)?;
            }
            Ok(v)
        };
        match a {
            Arg::Field(fields) => walk(dot.clone(), fields),
            Arg::Var(name, fields) => walk(self.var(name)?, fields),
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Sub(p, fields) => {
                let v = self.pipeline(p, dot, depth + 1)?;
                walk(v, fields)
            }
            Arg::Ident(name) => self.call(name, Vec::new()),
        }
    }

    fn command(
        &mut self,
        cmd: &[Arg],
        dot: &Val,
        piped: Option<Val>,
        depth: usize,
    ) -> Result<Val, TemplateError> {
        match &cmd[0] {
            Arg::Ident(name) => {
                let mut args = Vec::with_capacity(cmd.len());
                // `and` and `or` stop at the first argument that decides them, as Go 1.18+ does.
                for a in &cmd[1..] {
                    args.push(self.arg(a, dot, depth)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                self.call(name, args)
            }
            first => {
                if cmd.len() > 1 || piped.is_some() {
                    return terr("can't give argument to non-function");
                }
                self.arg(first, dot, depth)
            }
        }
    }

    fn call(&mut self, name: &str, args: Vec<Val>) -> Result<Val, TemplateError> {
        let want = |n: usize| -> Result<(), TemplateError> {
            if args.len() == n {
                Ok(())
            } else {
                terr(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                ))
            }
        };
        let text = |v: &Val| v.to_text();
        let s = |v: &Val| -> Result<String, TemplateError> {
            match v {
                Val::Str(s) => Ok(s.clone()),
                other => terr(format!(
                    "error calling {name}: wrong type for value; expected string; got {}",
                    other.type_name()
                )),
            }
        };
        Ok(match name {
            "and" => {
                if args.is_empty() {
                    return terr("wrong number of args for and: want at least 1 got 0");
                }
                args.iter()
                    .find(|a| !a.truthy())
                    .unwrap_or(&args[args.len() - 1])
                    .clone()
            }
            "or" => {
                if args.is_empty() {
                    return terr("wrong number of args for or: want at least 1 got 0");
                }
                args.iter()
                    .find(|a| a.truthy())
                    .unwrap_or(&args[args.len() - 1])
                    .clone()
            }
            "not" => {
                want(1)?;
                Val::Bool(!args[0].truthy())
            }
            "eq" => {
                if args.len() < 2 {
                    return terr(format!(
                        "wrong number of args for eq: want at least 2 got {}",
                        args.len()
                    ));
                }
                let mut any = false;
                for b in &args[1..] {
                    if compare(&args[0], b)? == std::cmp::Ordering::Equal {
                        any = true;
                    }
                }
                Val::Bool(any)
            }
            "ne" | "lt" | "le" | "gt" | "ge" => {
                want(2)?;
                let o = compare(&args[0], &args[1])?;
                if name != "ne" && matches!((&args[0], &args[1]), (Val::Bool(_), _) | (_, Val::Bool(_))) {
                    return terr(format!("error calling {name}: invalid type for comparison"));
                }
                use std::cmp::Ordering::*;
                Val::Bool(match name {
                    "ne" => o != Equal,
                    "lt" => o == Less,
                    "le" => o != Greater,
                    "gt" => o == Greater,
                    _ => o != Less,
                })
            }
            "len" => {
                want(1)?;
                Val::Int(match &args[0] {
                    Val::Str(s) => s.len() as i64,
                    Val::Map(m) => m.len() as i64,
                    Val::List(l) => l.len() as i64,
                    other => return terr(format!("error calling len: len of type {}", other.type_name())),
                })
            }
            "index" => {
                if args.is_empty() {
                    return terr("wrong number of args for index: want at least 1 got 0");
                }
                let mut v = args[0].clone();
                for k in &args[1..] {
                    v = match (&v, k) {
                        (Val::Map(m), Val::Str(k)) => Val::Str(m.get(k).cloned().unwrap_or_default()),
                        (Val::List(l), Val::Int(i)) => {
                            match usize::try_from(*i).ok().and_then(|i| l.get(i)) {
                                Some(s) => Val::Sample(Arc::new(s.clone())),
                                None => return terr(format!("error calling index: index out of range: {i}")),
                            }
                        }
                        (Val::Nil, _) => return terr("error calling index: index of untyped nil"),
                        (other, _) => {
                            return terr(format!(
                                "error calling index: can't index item of type {}",
                                other.type_name()
                            ));
                        }
                    };
                }
                v
            }
            "print" => {
                // Go's Sprint: a space between operands when neither is a string.
                let mut out = String::new();
                for (i, a) in args.iter().enumerate() {
                    if i > 0 && !matches!(a, Val::Str(_)) && !matches!(args[i - 1], Val::Str(_)) {
                        out.push(' ');
                    }
                    a.print(&mut out);
                }
                Val::Str(out)
            }
            "println" => {
                let parts: Vec<String> = args.iter().map(text).collect();
                Val::Str(parts.join(" ") + "\n")
            }
            "printf" => {
                if args.is_empty() {
                    return terr("wrong number of args for printf: want at least 1 got 0");
                }
                let f = s(&args[0])?;
                Val::Str(sprintf(&f, &args[1..]))
            }
            "urlquery" => {
                let joined: String = args.iter().map(text).collect();
                Val::Str(query_escape(&joined))
            }
            "html" | "safeHtml" | "js" => {
                want(1)?;
                let t = text(&args[0]);
                Val::Str(match name {
                    "html" => t
                        .replace('&', "&amp;")
                        .replace('\'', "&#39;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;")
                        .replace('"', "&#34;"),
                    _ => t,
                })
            }
            "humanize" => {
                want(1)?;
                Val::Str(humanize(args[0].to_float(name)?))
            }
            "humanize1024" => {
                want(1)?;
                Val::Str(humanize1024(args[0].to_float(name)?))
            }
            "humanizeDuration" => {
                want(1)?;
                Val::Str(humanize_duration(args[0].to_float(name)?))
            }
            "humanizePercentage" => {
                want(1)?;
                Val::Str(format!("{}%", go_g(args[0].to_float(name)? * 100.0, 4)))
            }
            "humanizeTimestamp" => {
                want(1)?;
                Val::Str(humanize_timestamp(args[0].to_float(name)?))
            }
            "title" => {
                want(1)?;
                Val::Str(title(&s(&args[0])?))
            }
            "toUpper" => {
                want(1)?;
                Val::Str(s(&args[0])?.to_uppercase())
            }
            "toLower" => {
                want(1)?;
                Val::Str(s(&args[0])?.to_lowercase())
            }
            "match" => {
                want(2)?;
                let re = regex::Regex::new(&s(&args[0])?)
                    .map_err(|e| TemplateError(format!("error calling match: {e}")))?;
                Val::Bool(re.is_match(&s(&args[1])?))
            }
            "reReplaceAll" => {
                want(3)?;
                let re = regex::Regex::new(&s(&args[0])?)
                    .map_err(|e| TemplateError(format!("error calling reReplaceAll: {e}")))?;
                let repl = s(&args[1])?;
                Val::Str(re.replace_all(&s(&args[2])?, repl.as_str()).into_owned())
            }
            "stripPort" => {
                want(1)?;
                Val::Str(strip_port(&s(&args[0])?))
            }
            "stripDomain" => {
                want(1)?;
                let hp = s(&args[0])?;
                let host = strip_port(&hp);
                let port = &hp[host.len().min(hp.len())..];
                let short = if host.parse::<std::net::IpAddr>().is_ok() {
                    host.clone()
                } else {
                    host.split('.').next().unwrap_or("").to_string()
                };
                Val::Str(format!("{short}{port}"))
            }
            "parseDuration" => {
                want(1)?;
                let d = s(&args[0])?;
                match crate::duration::parse_prometheus_duration_ms(&d) {
                    Some(ms) => Val::Float(ms as f64 / 1000.0),
                    None => {
                        return terr(format!(
                            "error calling parseDuration: not a valid duration string: {d:?}"
                        ));
                    }
                }
            }
            "externalURL" => {
                want(0)?;
                Val::Str(self.external_url.clone())
            }
            "graphLink" | "tableLink" => {
                want(1)?;
                let e = query_escape(&s(&args[0])?);
                Val::Str(if name == "graphLink" {
                    format!("/graph?g0.expr={e}&g0.tab=0")
                } else {
                    format!("/graph?g0.expr={e}&g0.tab=1")
                })
            }
            "query" => {
                want(1)?;
                let q = s(&args[0])?;
                let Some(f) = self.query else {
                    return terr("error calling query: no query engine");
                };
                let res = f(&q).map_err(|e| TemplateError(format!("error calling query: {e}")))?;
                Val::List(Arc::new(res))
            }
            "first" => {
                want(1)?;
                match &args[0] {
                    Val::List(l) => match l.first() {
                        Some(s) => Val::Sample(Arc::new(s.clone())),
                        None => {
                            return terr("error calling first: first() called on vector with no elements");
                        }
                    },
                    other => return terr(format!("error calling first: wrong type {}", other.type_name())),
                }
            }
            "label" => {
                want(2)?;
                let l = s(&args[0])?;
                match &args[1] {
                    Val::Sample(x) => Val::Str(x.labels.get(&l).cloned().unwrap_or_default()),
                    other => return terr(format!("error calling label: wrong type {}", other.type_name())),
                }
            }
            "value" | "strvalue" => {
                want(1)?;
                match &args[0] {
                    Val::Sample(x) if name == "value" => Val::Float(x.value),
                    Val::Sample(x) => Val::Str(x.labels.get("__value__").cloned().unwrap_or_default()),
                    other => return terr(format!("error calling {name}: wrong type {}", other.type_name())),
                }
            }
            "sortByLabel" => {
                want(2)?;
                let l = s(&args[0])?;
                match &args[1] {
                    Val::List(v) => {
                        let mut v = (**v).clone();
                        v.sort_by(|a, b| a.labels.get(&l).cmp(&b.labels.get(&l)));
                        Val::List(Arc::new(v))
                    }
                    other => {
                        return terr(format!(
                            "error calling sortByLabel: wrong type {}",
                            other.type_name()
                        ));
                    }
                }
            }
            other => return terr(format!("function {other:?} not defined")),
        })
    }
}

fn compare(a: &Val, b: &Val) -> Result<std::cmp::Ordering, TemplateError> {
    use std::cmp::Ordering;
    Ok(match (a, b) {
        (Val::Int(x), Val::Int(y)) => x.cmp(y),
        (Val::Float(x), Val::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Less),
        // Go compares an untyped integer constant with a float as numbers.
        (Val::Int(x), Val::Float(y)) => (*x as f64).partial_cmp(y).unwrap_or(Ordering::Less),
        (Val::Float(x), Val::Int(y)) => x.partial_cmp(&(*y as f64)).unwrap_or(Ordering::Less),
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
        (Val::Nil, Val::Nil) => Ordering::Equal,
        _ => return terr("error calling eq: incompatible types for comparison"),
    })
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn strip_port(hp: &str) -> String {
    // Go's net.SplitHostPort: `[v6]:port`, `host:port`; anything else is returned as it is.
    if let Some(rest) = hp.strip_prefix('[')
        && let Some(end) = rest.find(']')
        && rest[end + 1..].starts_with(':')
    {
        return rest[..end].to_string();
    }
    match hp.rfind(':') {
        Some(i) if !hp[..i].contains(':') => hp[..i].to_string(),
        _ => hp.to_string(),
    }
}

/// Go's deprecated `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Go's `%.<prec>g` (`strconv.FormatFloat(v, 'g', prec, 64)` as `fmt` prints it).
pub fn go_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".to_string()
        } else {
            "0".to_string()
        };
    }
    let prec = prec.max(1);
    // The digits rounded to `prec` significant ones, and the decimal exponent.
    let e = format!("{:.*e}", prec - 1, v.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut eprec = prec as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let sign = if v < 0.0 { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    // Fixed notation with the digits placed around the decimal point.
    let mut out = String::from(sign);
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(digits);
    } else if dp >= nd {
        out.push_str(digits);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        let (a, b) = digits.split_at(dp as usize);
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    }
    out
}

/// Prometheus's `humanize`: SI prefixes, four significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return go_g(v, 4);
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", go_g(v, 4));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", go_g(v, 4))
}

/// Prometheus's `humanize1024`: binary prefixes.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return go_g(v, 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g(v, 4))
}

/// Prometheus's `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with SI prefixes below 1 s.
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return go_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", go_g(v, 4));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g(v, 4))
}

/// Prometheus's `humanizeTimestamp`: Go's `time.Time.String()` of the Unix seconds, in UTC.
pub fn humanize_timestamp(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return go_g(v, 4);
    }
    // model.TimeFromUnixNano keeps milliseconds.
    let ms = (v * 1e9) as i64 / 1_000_000;
    let rfc = crate::api::params::format_rfc3339(ms);
    // `2006-01-02T15:04:05.123Z` → `2006-01-02 15:04:05.123 +0000 UTC`.
    let body = rfc.trim_end_matches('Z').replacen('T', " ", 1);
    let body = match body.split_once('.') {
        Some((a, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                a.to_string()
            } else {
                format!("{a}.{frac}")
            }
        }
        None => body,
    };
    format!("{body} +0000 UTC")
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %f %F %e %g %q %x %X %t %%`, with
/// flags `-+ 0#`, width and precision. A verb that does not fit its operand prints Go's
/// `%!d(string=x)` form.
fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut ai = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = None;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = Some(width.unwrap_or(0) * 10 + d as usize);
            chars.next();
        }
        let mut prec = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                p = p * 10 + d as usize;
                chars.next();
            }
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        ai += 1;
        let num_sign = |s: String, neg: bool| -> String {
            if neg {
                s
            } else if plus {
                format!("+{s}")
            } else if space {
                format!(" {s}")
            } else {
                s
            }
        };
        let bad = || format!("%!{verb}({}={})", arg.type_name(), arg.to_text());
        let body = match (verb, arg) {
            ('v', Val::Float(f)) | ('g', Val::Float(f)) => {
                let s = match prec {
                    Some(p) => go_g(*f, p),
                    None => burnwatch_gofmt::format_g(*f),
                };
                num_sign(s, *f < 0.0)
            }
            ('v', other) => other.to_text(),
            ('s', Val::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('s', Val::Int(_) | Val::Float(_) | Val::Bool(_) | Val::Nil) => bad(),
            ('s', other) => other.to_text(),
            ('q', Val::Str(s)) => format!("{s:?}"),
            ('d', Val::Int(i)) => num_sign(i.to_string(), *i < 0),
            ('f' | 'F', Val::Float(f)) => num_sign(fixed(*f, prec.unwrap_or(6)), *f < 0.0),
            ('f' | 'F', Val::Int(_)) => bad(),
            ('e', Val::Float(f)) => num_sign(go_e(*f, prec.unwrap_or(6)), *f < 0.0),
            ('x', Val::Int(i)) => format!("{i:x}"),
            ('X', Val::Int(i)) => format!("{i:X}"),
            ('x', Val::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('t', Val::Bool(b)) => b.to_string(),
            _ => bad(),
        };
        let len = body.chars().count();
        match width {
            Some(w) if w > len => {
                let pad = w - len;
                if minus {
                    out.push_str(&body);
                    out.extend(std::iter::repeat_n(' ', pad));
                } else if zero && matches!(arg, Val::Int(_) | Val::Float(_)) {
                    let (sign, digits) = match body.strip_prefix(['-', '+']) {
                        Some(d) => (&body[..1], d),
                        None => ("", body.as_str()),
                    };
                    out.push_str(sign);
                    out.extend(std::iter::repeat_n('0', pad));
                    out.push_str(digits);
                } else {
                    out.extend(std::iter::repeat_n(' ', pad));
                    out.push_str(&body);
                }
            }
            _ => out.push_str(&body),
        }
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[ai..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", a.type_name(), a.to_text());
        }
        out.push(')');
    }
    out
}

fn fixed(f: f64, prec: usize) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    format!("{f:.prec$}")
}

fn go_e(f: f64, prec: usize) -> String {
    if !f.is_finite() {
        return fixed(f, prec);
    }
    let s = format!("{f:.prec$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(labels: &[(&str, &str)], value: f64) -> AlertData {
        AlertData {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            external_labels: [("cluster".to_string(), "eu1".to_string())].into(),
            external_url: "http://prom:9090".to_string(),
            value,
        }
    }

    fn expand(src: &str, d: &AlertData) -> String {
        Template::parse(src).unwrap().expand_alert(d, None).unwrap()
    }

    #[test]
    fn variables_fields_and_pipelines() {
        let d = data(&[("instance", "a:9100"), ("job", "node")], 0.1234567);
        assert_eq!(
            expand("{{ $labels.instance }} of {{ .Labels.job }}", &d),
            "a:9100 of node"
        );
        assert_eq!(expand("{{ $value }}", &d), "0.1234567");
        assert_eq!(
            expand("{{ $externalLabels.cluster }} {{ $externalURL }}", &d),
            "eu1 http://prom:9090"
        );
        assert_eq!(expand("{{ $value | humanizePercentage }}", &d), "12.35%");
        assert_eq!(expand("{{ printf \"%.2f\" $value }}", &d), "0.12");
        assert_eq!(expand("{{ $labels.missing }}|", &d), "|");
        assert_eq!(expand("{{ $labels.instance | stripPort | toUpper }}", &d), "A");
        assert_eq!(expand("x {{- \" y \" -}} z", &d), "x y z");
        assert_eq!(expand("{{/* note */}}a", &d), "a");
    }

    #[test]
    fn control_flow() {
        let d = data(&[("severity", "page"), ("a", "1"), ("b", "2")], 3.0);
        let t = "{{ if eq $labels.severity \"page\" }}P{{ else if gt $value 1.0 }}B{{ else }}C{{ end }}";
        assert_eq!(expand(t, &d), "P");
        let t = "{{ if ne $labels.severity \"page\" }}P{{ else if gt $value 1.0 }}B{{ else }}C{{ end }}";
        assert_eq!(expand(t, &d), "B");
        assert_eq!(expand("{{ with $labels.a }}[{{ . }}]{{ end }}", &d), "[1]");
        assert_eq!(
            expand("{{ with $labels.zz }}[{{ . }}]{{ else }}none{{ end }}", &d),
            "none"
        );
        assert_eq!(
            expand("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", &d),
            "a=1;b=2;severity=page;"
        );
        assert_eq!(expand("{{ $x := 2 }}{{ $x }}{{ $x = 3 }}{{ $x }}", &d), "23");
    }

    #[test]
    fn humanize_functions_match_prometheus() {
        // Values from Prometheus's template_test.go.
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(1.0), "1");
        assert_eq!(humanize(123.0), "123");
        assert_eq!(humanize(1e-30), "1e-06y");
        assert_eq!(humanize1024(1048576.0), "1Mi");
        assert_eq!(humanize1024(0.5), "0.5");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(86400.0 + 3600.0 + 61.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.001), "1ms");
        assert_eq!(humanize_duration(-90.0), "-1m 30s");
        assert_eq!(
            humanize_timestamp(1_435_065_584.128),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(go_g(1234.5, 4), "1234");
        assert_eq!(go_g(12345.0, 4), "1.234e+04");
        assert_eq!(go_g(100000.0, 4), "1e+05");
        assert_eq!(go_g(0.00001234, 4), "1.234e-05");
        assert_eq!(go_g(0.0001234, 4), "0.0001234");
    }

    #[test]
    fn printf_verbs() {
        let f = |s: &str, a: Vec<Val>| sprintf(s, &a);
        assert_eq!(f("%s is %d", vec![Val::Str("x".into()), Val::Int(3)]), "x is 3");
        assert_eq!(
            f("%5.1f|%-4s|", vec![Val::Float(3.25159), Val::Str("ab".into())]),
            "  3.3|ab  |"
        );
        assert_eq!(f("%d", vec![Val::Float(1.5)]), "%!d(float64=1.5)");
        assert_eq!(f("%q", vec![Val::Str("a\"b".into())]), "\"a\\\"b\"");
        assert_eq!(f("%v%%", vec![Val::Float(99.5)]), "99.5%");
        assert_eq!(f("%e", vec![Val::Float(1234.5)]), "1.234500e+03");
        assert_eq!(f("%s", vec![]), "%!s(MISSING)");
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(
            Template::parse("{{ nosuchfunc 1 }}")
                .unwrap_err()
                .0
                .contains("\"nosuchfunc\" not defined")
        );
        assert!(
            Template::parse("{{ if 1 }}x")
                .unwrap_err()
                .0
                .contains("unexpected EOF")
        );
        assert!(
            Template::parse("{{ $labels.x ")
                .unwrap_err()
                .0
                .contains("unclosed action")
        );
        assert!(
            Template::parse("{{ define \"x\" }}{{ end }}")
                .unwrap_err()
                .0
                .contains("not supported")
        );
        let d = data(&[], 1.0);
        let out = expand_or_error("A", "{{ humanize \"abc\" }}", &d, None);
        assert!(
            out.starts_with("<error expanding template: template: __alert_A:"),
            "{out}"
        );
        assert!(out.contains("humanize"), "{out}");
        // Deep nesting is refused, not a stack overflow.
        let deep = format!("{}{}", "{{ if 1 }}".repeat(500), "{{ end }}".repeat(500));
        assert!(
            Template::parse(&deep)
                .unwrap_err()
                .0
                .contains("nested too deeply")
        );
    }
}

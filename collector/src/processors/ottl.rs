//! A documented subset of the OpenTelemetry Transformation Language's conditions, as
//! the `filter` processor uses them: a real parser (byte positions in every error,
//! nesting bounded by [`MAX_DEPTH`]) and an evaluator over borrowed OTLP items.
//!
//! What is supported (everything else is refused when the configuration is loaded, by
//! name, with the list of what is supported):
//!
//! - boolean operators `and`, `or`, `not` (precedence `not` > `and` > `or`) and
//!   parentheses;
//! - comparisons `==`, `!=`, `<`, `<=`, `>`, `>=` between values;
//! - literals: strings (`"a\"b"`, escapes `\" \\ \n \r \t`), integers, floats, `true`,
//!   `false`, `nil`;
//! - enums: `SPAN_KIND_*`, `STATUS_CODE_*`, `METRIC_DATA_TYPE_*`,
//!   `AGGREGATION_TEMPORALITY_*`, `SEVERITY_NUMBER_*` (integers, as in OTTL);
//! - the converter `IsMatch(value, "regex")` (the pattern a string literal; a non-string
//!   scalar value is matched in its string form, nil never matches);
//! - paths per context, listed in [`Context::paths`]: for example `name`, `kind`,
//!   `status.code`, `attributes["k"]`, `resource.attributes["k"]`,
//!   `instrumentation_scope.name`.
//!
//! Comparison follows OTTL's rules: integers and floats compare as numbers, strings
//! byte-wise, booleans only for (in)equality, `nil` equals only `nil`; values of
//! different types are unequal, and ordering them is false. A missing attribute is `nil`.
//! Evaluation cannot fail for this subset, so `error_mode` has nothing to act on.

use std::borrow::Cow;
use std::fmt;

use regex::Regex;

/// How deeply parentheses and `not` may nest: bounded so a hostile configuration cannot
/// overflow the stack of the process that runs the collector.
pub const MAX_DEPTH: usize = 64;

/// Where a condition is evaluated: the filter processor's configuration keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// `traces.span`.
    Span,
    /// `traces.spanevent`.
    SpanEvent,
    /// `metrics.metric`.
    Metric,
    /// `metrics.datapoint`.
    DataPoint,
    /// `logs.log_record`.
    LogRecord,
}

/// A field an item can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Field {
    Name,
    Kind,
    StatusCode,
    StatusMessage,
    TraceState,
    TraceId,
    SpanId,
    ParentSpanId,
    StartTime,
    EndTime,
    Time,
    ObservedTime,
    DroppedAttributesCount,
    ScopeName,
    ScopeVersion,
    Body,
    SeverityNumber,
    SeverityText,
    Flags,
    Description,
    Unit,
    Type,
    AggregationTemporality,
    IsMonotonic,
    ValueInt,
    ValueDouble,
    Count,
    Sum,
    SpanName,
    SpanKind,
    SpanStatusCode,
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricType,
    MetricAggregationTemporality,
    MetricIsMonotonic,
}

/// An attribute map an item can be indexed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// The item's own attributes.
    Attributes,
    /// Its resource's attributes.
    Resource,
    /// The enclosing span's attributes (span events).
    SpanAttributes,
}

/// A path of the item being evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// A plain field.
    Field(Field),
    /// One key of an attribute map.
    Map(MapKind, String),
}

const SCOPE: [(&str, Field); 2] = [
    ("instrumentation_scope.name", Field::ScopeName),
    ("instrumentation_scope.version", Field::ScopeVersion),
];

impl Context {
    /// The configuration key (`traces.span`).
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Span => "traces.span",
            Context::SpanEvent => "traces.spanevent",
            Context::Metric => "metrics.metric",
            Context::DataPoint => "metrics.datapoint",
            Context::LogRecord => "logs.log_record",
        }
    }

    /// The plain paths this context supports.
    pub fn paths(self) -> Vec<(&'static str, Field)> {
        use Field::*;
        let own: &[(&str, Field)] = match self {
            Context::Span => &[
                ("name", Name),
                ("kind", Kind),
                ("status.code", StatusCode),
                ("status.message", StatusMessage),
                ("trace_state", TraceState),
                ("trace_id.string", TraceId),
                ("span_id.string", SpanId),
                ("parent_span_id.string", ParentSpanId),
                ("start_time_unix_nano", StartTime),
                ("end_time_unix_nano", EndTime),
                ("dropped_attributes_count", DroppedAttributesCount),
            ],
            Context::SpanEvent => &[
                ("name", Name),
                ("time_unix_nano", Time),
                ("dropped_attributes_count", DroppedAttributesCount),
                ("span.name", SpanName),
                ("span.kind", SpanKind),
                ("span.status.code", SpanStatusCode),
            ],
            Context::Metric => &[
                ("name", Name),
                ("description", Description),
                ("unit", Unit),
                ("type", Type),
                ("aggregation_temporality", AggregationTemporality),
                ("is_monotonic", IsMonotonic),
            ],
            Context::DataPoint => &[
                ("value_int", ValueInt),
                ("value_double", ValueDouble),
                ("count", Count),
                ("sum", Sum),
                ("time_unix_nano", Time),
                ("start_time_unix_nano", StartTime),
                ("flags", Flags),
                ("metric.name", MetricName),
                ("metric.description", MetricDescription),
                ("metric.unit", MetricUnit),
                ("metric.type", MetricType),
                ("metric.aggregation_temporality", MetricAggregationTemporality),
                ("metric.is_monotonic", MetricIsMonotonic),
            ],
            Context::LogRecord => &[
                ("body", Body),
                ("severity_number", SeverityNumber),
                ("severity_text", SeverityText),
                ("time_unix_nano", Time),
                ("observed_time_unix_nano", ObservedTime),
                ("flags", Flags),
                ("trace_id.string", TraceId),
                ("span_id.string", SpanId),
                ("dropped_attributes_count", DroppedAttributesCount),
            ],
        };
        own.iter().chain(SCOPE.iter()).copied().collect()
    }

    /// The attribute maps this context supports (`attributes["k"]`).
    pub fn maps(self) -> &'static [(&'static str, MapKind)] {
        match self {
            Context::Span | Context::DataPoint | Context::LogRecord => &[
                ("attributes", MapKind::Attributes),
                ("resource.attributes", MapKind::Resource),
            ],
            Context::SpanEvent => &[
                ("attributes", MapKind::Attributes),
                ("resource.attributes", MapKind::Resource),
                ("span.attributes", MapKind::SpanAttributes),
            ],
            Context::Metric => &[("resource.attributes", MapKind::Resource)],
        }
    }

    fn supported(self) -> String {
        let mut names: Vec<String> = self.paths().iter().map(|(n, _)| n.to_string()).collect();
        names.extend(self.maps().iter().map(|(n, _)| format!("{n}[\"key\"]")));
        names.join(", ")
    }
}

/// The OTTL enums this subset knows, with their values.
const ENUMS: &[(&str, i64)] = &[
    ("SPAN_KIND_UNSPECIFIED", 0),
    ("SPAN_KIND_INTERNAL", 1),
    ("SPAN_KIND_SERVER", 2),
    ("SPAN_KIND_CLIENT", 3),
    ("SPAN_KIND_PRODUCER", 4),
    ("SPAN_KIND_CONSUMER", 5),
    ("STATUS_CODE_UNSET", 0),
    ("STATUS_CODE_OK", 1),
    ("STATUS_CODE_ERROR", 2),
    ("METRIC_DATA_TYPE_NONE", 0),
    ("METRIC_DATA_TYPE_GAUGE", 1),
    ("METRIC_DATA_TYPE_SUM", 2),
    ("METRIC_DATA_TYPE_HISTOGRAM", 3),
    ("METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM", 4),
    ("METRIC_DATA_TYPE_SUMMARY", 5),
    ("AGGREGATION_TEMPORALITY_UNSPECIFIED", 0),
    ("AGGREGATION_TEMPORALITY_DELTA", 1),
    ("AGGREGATION_TEMPORALITY_CUMULATIVE", 2),
    ("SEVERITY_NUMBER_UNSPECIFIED", 0),
];

const SEVERITIES: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

fn enum_value(name: &str) -> Option<i64> {
    if let Some((_, v)) = ENUMS.iter().find(|(n, _)| *n == name) {
        return Some(*v);
    }
    // SEVERITY_NUMBER_TRACE = 1, TRACE2..TRACE4 = 2..4, DEBUG = 5, …, FATAL4 = 24.
    let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
    for (i, level) in SEVERITIES.iter().enumerate() {
        if let Some(n) = rest.strip_prefix(level) {
            let step = match n {
                "" => 0,
                "2" => 1,
                "3" => 2,
                "4" => 3,
                _ => return None,
            };
            return Some(i as i64 * 4 + 1 + step);
        }
    }
    None
}

/// A condition that does not parse or uses what the subset does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OttlError {
    /// The byte offset in the condition the error is about.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for OttlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.pos, self.message)
    }
}

fn err<T>(pos: usize, message: impl Into<String>) -> Result<T, OttlError> {
    Err(OttlError {
        pos,
        message: message.into(),
    })
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Op(op) => format!("'{}'", op_str(*op)),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Comma => "','".into(),
            Tok::End => "the end of the condition".into(),
        }
    }
}

fn op_str(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, OttlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' | b')' | b'[' | b']' | b',' => {
                let tok = match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    _ => Tok::Comma,
                };
                out.push((tok, i));
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let next = bytes.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    (b'=', Some(b'=')) => (CmpOp::Eq, 2),
                    (b'!', Some(b'=')) => (CmpOp::Ne, 2),
                    (b'<', Some(b'=')) => (CmpOp::Le, 2),
                    (b'>', Some(b'=')) => (CmpOp::Ge, 2),
                    (b'<', _) => (CmpOp::Lt, 1),
                    (b'>', _) => (CmpOp::Gt, 1),
                    (b'=', _) => return err(i, "'=' is not an operator; use '==' to compare"),
                    _ => return err(i, "'!' is not an operator; use '!=' or 'not'"),
                };
                out.push((Tok::Op(op), i));
                i += len;
            }
            b'"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&b) = bytes.get(i) else {
                        return err(start, "the string is not terminated");
                    };
                    match b {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' => {
                            let esc = match bytes.get(i + 1) {
                                Some(b'"') => '"',
                                Some(b'\\') => '\\',
                                Some(b'n') => '\n',
                                Some(b'r') => '\r',
                                Some(b't') => '\t',
                                _ => {
                                    return err(
                                        i,
                                        "unsupported escape in string; supported: \\\" \\\\ \\n \\r \\t",
                                    );
                                }
                            };
                            s.push(esc);
                            i += 2;
                        }
                        _ => {
                            // Copy one whole UTF-8 character (the text is a &str).
                            let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push((Tok::Str(s), start));
            }
            b'-' | b'0'..=b'9' => {
                if c == b'-' && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return err(i, "'-' must start a number (arithmetic is not supported)");
                }
                i += 1;
                let mut float = false;
                while i < bytes.len() {
                    match bytes[i] {
                        b'0'..=b'9' => i += 1,
                        b'.' if !float => {
                            float = true;
                            i += 1;
                        }
                        b'e' | b'E' => {
                            float = true;
                            i += 1;
                            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                                i += 1;
                            }
                        }
                        _ => break,
                    }
                }
                let lit = &text[start..i];
                let tok = if float {
                    match lit.parse::<f64>() {
                        Ok(f) => Tok::Float(f),
                        Err(_) => return err(start, format!("'{lit}' is not a number")),
                    }
                } else {
                    match lit.parse::<i64>() {
                        Ok(n) => Tok::Int(n),
                        Err(_) => {
                            return err(start, format!("'{lit}' does not fit a 64-bit integer"));
                        }
                    }
                };
                out.push((tok, start));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() {
                    let b = bytes[i];
                    // A dot joins path segments (`status.code`) when a name follows it.
                    let segment_dot = b == b'.'
                        && bytes
                            .get(i + 1)
                            .is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_');
                    if b.is_ascii_alphanumeric() || b == b'_' || segment_dot {
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push((Tok::Ident(text[start..i].to_string()), start));
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                return err(i, format!("unexpected character {ch:?}"));
            }
        }
    }
    out.push((Tok::End, text.len()));
    Ok(out)
}

/// A value in a condition.
#[derive(Debug, Clone)]
enum Value {
    Nil,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Path(Path),
    IsMatch(Box<Value>, Regex),
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Value, CmpOp, Value),
    /// A boolean value on its own: `true`, `IsMatch(…)`.
    Truth(Value),
}

/// A parsed condition.
#[derive(Debug, Clone)]
pub struct Condition {
    expr: Expr,
}

struct Parser<'t> {
    toks: Vec<(Tok, usize)>,
    at: usize,
    ctx: Context,
    depth: usize,
    _text: &'t str,
}

/// Parses `text` as a condition of `ctx`.
pub fn parse(ctx: Context, text: &str) -> Result<Condition, OttlError> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        at: 0,
        ctx,
        depth: 0,
        _text: text,
    };
    let expr = p.or()?;
    let (tok, pos) = p.peek();
    if *tok != Tok::End {
        return err(
            pos,
            format!("unexpected {} after a complete condition", tok.describe()),
        );
    }
    Ok(Condition { expr })
}

impl Parser<'_> {
    fn peek(&self) -> (&Tok, usize) {
        let (t, p) = &self.toks[self.at.min(self.toks.len() - 1)];
        (t, *p)
    }

    fn bump(&mut self) -> (Tok, usize) {
        let t = self.toks[self.at.min(self.toks.len() - 1)].clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek().0, Tok::Ident(s) if s == kw)
    }

    fn enter(&mut self, pos: usize) -> Result<(), OttlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                pos,
                format!("the condition nests deeper than {MAX_DEPTH} levels of parentheses and not"),
            );
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, OttlError> {
        let mut terms = vec![self.and()?];
        while self.is_keyword("or") {
            self.bump();
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, OttlError> {
        let mut terms = vec![self.not()?];
        while self.is_keyword("and") {
            self.bump();
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn not(&mut self) -> Result<Expr, OttlError> {
        if self.is_keyword("not") {
            let (_, pos) = self.bump();
            self.enter(pos)?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, OttlError> {
        if let (Tok::LParen, pos) = self.peek() {
            self.bump();
            self.enter(pos)?;
            let inner = self.or()?;
            self.depth -= 1;
            return match self.bump() {
                (Tok::RParen, _) => Ok(inner),
                (tok, at) => err(
                    at,
                    format!(
                        "expected ')' to close the '(' at byte {pos}, found {}",
                        tok.describe()
                    ),
                ),
            };
        }
        let (_, start) = self.peek();
        let left = self.value()?;
        if let (Tok::Op(op), _) = self.peek() {
            let op = *op;
            self.bump();
            let right = self.value()?;
            return Ok(Expr::Cmp(left, op, right));
        }
        match left {
            Value::Bool(_) | Value::IsMatch(..) => Ok(Expr::Truth(left)),
            _ => {
                let (tok, pos) = self.peek();
                err(
                    pos,
                    format!(
                        "expected a comparison operator (==, !=, <, <=, >, >=) after the value at byte {start}, found {}",
                        tok.describe()
                    ),
                )
            }
        }
    }

    fn value(&mut self) -> Result<Value, OttlError> {
        let (tok, pos) = self.bump();
        match tok {
            Tok::Str(s) => Ok(Value::Str(s)),
            Tok::Int(i) => Ok(Value::Int(i)),
            Tok::Float(f) => Ok(Value::Float(f)),
            Tok::Ident(name) => self.named(name, pos),
            other => err(pos, format!("expected a value, found {}", other.describe())),
        }
    }

    fn named(&mut self, name: String, pos: usize) -> Result<Value, OttlError> {
        match name.as_str() {
            "nil" => return Ok(Value::Nil),
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "and" | "or" | "not" => {
                return err(pos, format!("expected a value, found '{name}'"));
            }
            _ => {}
        }
        if let (Tok::LParen, _) = self.peek() {
            return self.call(name, pos);
        }
        let is_enum = name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if is_enum {
            return match enum_value(&name) {
                Some(v) => Ok(Value::Int(v)),
                None => err(
                    pos,
                    format!(
                        "unsupported enum '{name}'; supported: SPAN_KIND_*, STATUS_CODE_*, METRIC_DATA_TYPE_*, AGGREGATION_TEMPORALITY_*, SEVERITY_NUMBER_*"
                    ),
                ),
            };
        }
        if let (Tok::LBracket, _) = self.peek() {
            let Some((_, kind)) = self.ctx.maps().iter().find(|(n, _)| *n == name) else {
                return err(
                    pos,
                    format!(
                        "unsupported path '{name}[…]' in {}; supported paths: {}",
                        self.ctx.as_str(),
                        self.ctx.supported()
                    ),
                );
            };
            let kind = *kind;
            self.bump();
            let key = match self.bump() {
                (Tok::Str(k), _) => k,
                (tok, at) => {
                    return err(
                        at,
                        format!("expected a string key in '{name}[…]', found {}", tok.describe()),
                    );
                }
            };
            match self.bump() {
                (Tok::RBracket, _) => {}
                (tok, at) => return err(at, format!("expected ']', found {}", tok.describe())),
            }
            if let (Tok::LBracket, at) = self.peek() {
                return err(at, "indexing into a nested map or slice is not supported");
            }
            return Ok(Value::Path(Path::Map(kind, key)));
        }
        match self.ctx.paths().iter().find(|(n, _)| *n == name) {
            Some((_, field)) => Ok(Value::Path(Path::Field(*field))),
            None => err(
                pos,
                format!(
                    "unsupported path '{name}' in {}; supported paths: {}",
                    self.ctx.as_str(),
                    self.ctx.supported()
                ),
            ),
        }
    }

    fn call(&mut self, name: String, pos: usize) -> Result<Value, OttlError> {
        if name != "IsMatch" {
            return err(
                pos,
                format!("unsupported function '{name}'; supported functions: IsMatch"),
            );
        }
        self.bump(); // (
        let target = self.value()?;
        match self.bump() {
            (Tok::Comma, _) => {}
            (tok, at) => return err(at, format!("expected ',' in IsMatch, found {}", tok.describe())),
        }
        let (pattern, at) = match self.bump() {
            (Tok::Str(p), at) => (p, at),
            (tok, at) => {
                return err(
                    at,
                    format!(
                        "IsMatch's pattern must be a string literal, found {}",
                        tok.describe()
                    ),
                );
            }
        };
        let re = Regex::new(&pattern)
            .or_else(|e| err(at, format!("invalid regular expression in IsMatch: {e}")))?;
        match self.bump() {
            (Tok::RParen, _) => {}
            (tok, at) => {
                return err(
                    at,
                    format!(
                        "expected ')' closing IsMatch (it takes two arguments), found {}",
                        tok.describe()
                    ),
                );
            }
        }
        Ok(Value::IsMatch(Box::new(target), re))
    }
}

/// A value read from an item or written in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// Absent.
    Nil,
    /// A string.
    Str(Cow<'a, str>),
    /// An integer (enums too).
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A map, slice or bytes: equal to nothing in this subset.
    Other,
}

/// An item a condition is evaluated on.
pub trait Item {
    /// The value at `path` ([`Val::Nil`] when absent).
    fn get(&self, path: &Path) -> Val<'_>;
}

impl Condition {
    /// Whether the condition holds for `item`.
    pub fn eval(&self, item: &dyn Item) -> bool {
        eval(&self.expr, item)
    }
}

fn eval(expr: &Expr, item: &dyn Item) -> bool {
    match expr {
        Expr::Or(terms) => terms.iter().any(|t| eval(t, item)),
        Expr::And(terms) => terms.iter().all(|t| eval(t, item)),
        Expr::Not(inner) => !eval(inner, item),
        Expr::Truth(v) => value(v, item) == Val::Bool(true),
        Expr::Cmp(l, op, r) => compare(&value(l, item), *op, &value(r, item)),
    }
}

fn value<'a>(v: &'a Value, item: &'a dyn Item) -> Val<'a> {
    match v {
        Value::Nil => Val::Nil,
        Value::Str(s) => Val::Str(Cow::Borrowed(s)),
        Value::Int(i) => Val::Int(*i),
        Value::Float(f) => Val::Float(*f),
        Value::Bool(b) => Val::Bool(*b),
        Value::Path(p) => item.get(p),
        Value::IsMatch(target, re) => Val::Bool(match value(target, item) {
            Val::Str(s) => re.is_match(&s),
            Val::Int(i) => re.is_match(&i.to_string()),
            Val::Float(f) => re.is_match(&f.to_string()),
            Val::Bool(b) => re.is_match(if b { "true" } else { "false" }),
            Val::Nil | Val::Other => false,
        }),
    }
}

/// OTTL's comparison rules (see the module docs).
fn compare(l: &Val<'_>, op: CmpOp, r: &Val<'_>) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (l, r) {
        (Val::Nil, Val::Nil) => Some(Ordering::Equal).filter(|_| matches!(op, CmpOp::Eq | CmpOp::Ne)),
        (Val::Int(a), Val::Int(b)) => Some(a.cmp(b)),
        (Val::Int(a), Val::Float(b)) => (*a as f64).partial_cmp(b),
        (Val::Float(a), Val::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Val::Float(a), Val::Float(b)) => a.partial_cmp(b),
        (Val::Str(a), Val::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Val::Bool(a), Val::Bool(b)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => Some(a.cmp(b)),
        _ => None,
    };
    match (ordering, op) {
        (Some(o), CmpOp::Eq) => o == Ordering::Equal,
        (Some(o), CmpOp::Ne) => o != Ordering::Equal,
        (Some(o), CmpOp::Lt) => o == Ordering::Less,
        (Some(o), CmpOp::Le) => o != Ordering::Greater,
        (Some(o), CmpOp::Gt) => o == Ordering::Greater,
        (Some(o), CmpOp::Ge) => o != Ordering::Less,
        // Different types (or NaN, or booleans ordered): unequal, and not ordered.
        (None, CmpOp::Ne) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests;

//! Parsing of Prometheus test scripts (`promql/promqltest` format): commands, times, and the
//! series value notation (`1+2x3 _ stale`).

use std::sync::OnceLock;

use promql_parser::parser::Expr;
use regex::Regex;

use crate::tsdb::histogram::{CUSTOM_BUCKETS_SCHEMA, CounterResetHint, FloatHistogram};
use crate::tsdb::{Labels, LabelsBuilder, METRIC_NAME, stale_nan};

/// One expanded value of the series notation: `None` is a `_` gap.
pub(crate) type Point = Option<f64>;

/// A parsed `<series> <values>` line.
#[derive(Debug)]
pub(crate) struct SeriesLine {
    pub labels: Labels,
    pub values: Vec<Point>,
    /// Native-histogram values (`{{...}}`) by position in `values` (where `values` holds `None`).
    pub histograms: Vec<(usize, FloatHistogram)>,
    /// The line holds native-histogram values.
    pub has_histogram: bool,
}

/// A script command.
#[derive(Debug)]
pub(crate) enum Command {
    Clear,
    Load {
        interval: i64,
        nhcb: bool,
        series: Vec<SeriesLine>,
    },
    Eval(Box<EvalCmd>),
}

/// How the eval's result is expected.
#[derive(Debug, Default)]
pub(crate) struct Expectations {
    pub fail: Option<Option<MsgMatch>>,
    pub ordered: bool,
    pub warn: Vec<Option<MsgMatch>>,
    pub no_warn: bool,
    pub info: Vec<Option<MsgMatch>>,
    pub no_info: bool,
    pub string: Option<String>,
    /// `expect range vector from A to B step S`.
    pub range_vector: Option<(i64, i64, i64)>,
}

/// `msg:` (exact) or `regex:` matching of a message.
#[derive(Debug)]
pub(crate) enum MsgMatch {
    Exact(String),
    Regex(Regex),
}

impl MsgMatch {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            MsgMatch::Exact(m) => m == s,
            MsgMatch::Regex(r) => r.is_match(s),
        }
    }
}

/// An `eval` command.
#[derive(Debug)]
pub(crate) struct EvalCmd {
    pub line: usize,
    pub text: String,
    pub expr: String,
    /// `(start, end, step)`; an instant eval has `start == end` and step 0.
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub expect: Expectations,
    /// Expected series rows.
    pub rows: Vec<SeriesLine>,
    /// Expected scalar.
    pub scalar: Option<f64>,
    /// The body could not be parsed (reason); the eval then fails.
    pub body_error: Option<String>,
}

impl EvalCmd {
    pub fn is_range(&self) -> bool {
        self.step > 0
    }
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).unwrap_or_else(|_| Regex::new("$^").unwrap()))
}

/// Parses a duration such as `1h30m`, `10s`, `1ms` or `0` into ms; a bare number is seconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return n.checked_mul(1000);
    }
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        return Some((f * 1000.0).round() as i64);
    }
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let total = crate::duration::parse_prometheus_duration_ms(s)?;
    Some(if neg { -total } else { total })
}

/// Parses a number prefix the way Go's `strconv.ParseFloat` reads the notation's numbers
/// (`Inf`, `NaN`, exponents); returns the value and the rest. `0x5` is not hex here: in the
/// notation it means "0 repeated 5 more times".
fn number_prefix(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let neg = b.first() == Some(&b'-');
    let body = &s[i..];
    let lower = body.to_ascii_lowercase();
    for (word, v) in [
        ("infinity", f64::INFINITY),
        ("inf", f64::INFINITY),
        ("nan", f64::NAN),
    ] {
        if lower.starts_with(word) {
            let v = if neg { -v } else { v };
            return Some((v, &body[word.len()..]));
        }
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i == start {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 {
            i = j + digits;
        }
    }
    let v: f64 = s[..i].parse().ok()?;
    Some((v, &s[i..]))
}

/// Expands one value token of the series notation.
fn expand_token(tok: &str, out: &mut Vec<Point>) -> Result<(), String> {
    let bad = || format!("invalid value {tok:?} in series notation");
    if tok == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| bad())?;
        out.extend(std::iter::repeat_n(None, n));
        return Ok(());
    }
    if tok == "stale" {
        out.push(Some(stale_nan()));
        return Ok(());
    }
    let (a, rest) = number_prefix(tok).ok_or_else(bad)?;
    if rest.is_empty() {
        out.push(Some(a));
        return Ok(());
    }
    let (delta, rest) = if rest.starts_with('+') || rest.starts_with('-') {
        let (d, r) = number_prefix(rest).ok_or_else(bad)?;
        (d, r)
    } else {
        (0.0, rest)
    };
    let n: usize = rest
        .strip_prefix('x')
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    if n > 10_000_000 {
        return Err(format!("expansion {tok:?} is too long"));
    }
    let mut v = a;
    for _ in 0..=n {
        out.push(Some(v));
        v += delta;
    }
    Ok(())
}

/// Splits a line into the series descriptor and the rest, respecting braces and quotes.
fn split_descriptor(line: &str) -> (&str, &str) {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => depth += 1,
            '}' => depth -= 1,
            c if c.is_whitespace() && depth == 0 => return (&line[..i], line[i..].trim()),
            _ => {}
        }
    }
    (line, "")
}

/// Labels of a series descriptor (`name{l="v"}`, `{__name__="x"}`, `{"a.b"}`).
pub(crate) fn parse_labels(desc: &str) -> Result<Labels, String> {
    if desc == "{}" {
        return Ok(Labels::empty());
    }
    // Through the engine's parse: a descriptor nested thousands deep must not overflow the stack
    // of `burnwatch promql test` (see `promql::depth`).
    let expr = crate::promql::Engine::parse(desc).map_err(|e| {
        let e = match e {
            crate::promql::QueryError::Parse(m) => m,
            other => other.to_string(),
        };
        format!("bad series descriptor {desc:?}: {e}")
    })?;
    let vs = match expr {
        Expr::VectorSelector(vs) => vs,
        other => {
            crate::promql::depth::dismantle(other);
            return Err(format!("bad series descriptor {desc:?}: not a selector"));
        }
    };
    let mut b = LabelsBuilder::new(&Labels::empty());
    if let Some(n) = &vs.name {
        b.set(METRIC_NAME.to_string(), n.clone());
    }
    for m in &vs.matchers.matchers {
        b.set(m.name.clone(), m.value.clone());
    }
    Ok(b.build())
}

/// Parses `<series> <values>`.
pub(crate) fn parse_series_line(line: &str) -> Result<SeriesLine, String> {
    let (desc, rest) = split_descriptor(line);
    let labels = parse_labels(desc)?;
    let mut values = Vec::new();
    let mut histograms = Vec::new();
    let mut has_histogram = false;
    let mut rest = rest;
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            has_histogram = true;
            // The token runs to the next space outside braces: `{{A}}`, `{{A}}xN`,
            // `{{A}}+{{B}}xN`, `{{A}}-{{B}}xN`.
            let mut depth = 0;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    c if c.is_whitespace() && depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            for h in expand_histogram_token(&rest[..end])? {
                histograms.push((values.len(), h));
                values.push(None);
            }
            rest = rest[end..].trim_start();
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        expand_token(&rest[..end], &mut values)?;
        rest = rest[end..].trim_start();
    }
    Ok(SeriesLine {
        labels,
        values,
        histograms,
        has_histogram,
    })
}

/// Splits `{{...}}` off the start of `s`: the inner text and the rest.
fn take_histogram(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix("{{")?;
    let close = inner.find("}}")?;
    Some((&inner[..close], &inner[close + 2..]))
}

/// Parses a number list `1 2 3` (the text inside `[...]`).
fn number_list(s: &str, tok: &str) -> Result<Vec<f64>, String> {
    s.split_whitespace()
        .map(|n| match number_prefix(n) {
            Some((v, "")) => Ok(v),
            _ => Err(format!("invalid number {n:?} in histogram {tok:?}")),
        })
        .collect()
}

/// Parses the inside of `{{...}}`: `schema:0 sum:5 count:4 z_bucket:1 z_bucket_w:0.001
/// buckets:[1 2 1] offset:0 n_buckets:[...] n_offset:0 custom_values:[...] counter_reset_hint:gauge`.
/// Listed buckets are consecutive from their offset, as in promqltest.
pub(crate) fn parse_histogram(inner: &str) -> Result<FloatHistogram, String> {
    let bad = |why: String| format!("histogram {{{{{inner}}}}}: {why}");
    let mut h = FloatHistogram::default();
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    let (mut off, mut noff) = (0i32, 0i32);
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let colon = rest
            .find(':')
            .ok_or_else(|| bad(format!("expected key:value at {rest:?}")))?;
        let key = rest[..colon].trim();
        let after = rest[colon + 1..].trim_start();
        let (val, next) = if let Some(list) = after.strip_prefix('[') {
            let close = list
                .find(']')
                .ok_or_else(|| bad(format!("unclosed [ after {key}")))?;
            (&list[..close], &list[close + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        let num = || match number_prefix(val) {
            Some((v, "")) => Ok(v),
            _ => Err(bad(format!("invalid number {val:?} for {key}"))),
        };
        let int = || {
            val.parse::<i32>()
                .map_err(|_| bad(format!("invalid integer {val:?} for {key}")))
        };
        match key {
            "schema" => h.schema = int()?,
            "sum" => h.sum = num()?,
            "count" => h.count = num()?,
            "z_bucket" => h.zero_count = num()?,
            "z_bucket_w" => h.zero_threshold = num()?,
            "buckets" => pos = number_list(val, inner)?,
            "n_buckets" => neg = number_list(val, inner)?,
            "offset" => off = int()?,
            "n_offset" => noff = int()?,
            "custom_values" => h.custom_values = number_list(val, inner)?,
            "counter_reset_hint" => {
                h.counter_reset_hint = match val {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(bad(format!("unknown counter_reset_hint {other:?}"))),
                }
            }
            other => return Err(bad(format!("unknown key {other:?}"))),
        }
        rest = next.trim_start();
    }
    if h.schema == CUSTOM_BUCKETS_SCHEMA && !neg.is_empty() {
        return Err(bad(
            "custom-bucket histograms have no negative buckets".to_string()
        ));
    }
    let idx = |start: i32, i: usize| start.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
    h.positive = pos
        .into_iter()
        .enumerate()
        .map(|(i, c)| (idx(off, i), c))
        .collect();
    h.negative = neg
        .into_iter()
        .enumerate()
        .map(|(i, c)| (idx(noff, i), c))
        .collect();
    Ok(h)
}

/// Expands one histogram token: `{{A}}`, `{{A}}xN` (N+1 copies), `{{A}}+{{B}}xN` / `{{A}}-{{B}}xN`
/// (A, A±B, …, A±N·B).
fn expand_histogram_token(tok: &str) -> Result<Vec<FloatHistogram>, String> {
    let bad = || format!("invalid histogram value {tok:?} in series notation");
    let (a, rest) = take_histogram(tok).ok_or_else(bad)?;
    let a = parse_histogram(a)?;
    if rest.is_empty() {
        return Ok(vec![a]);
    }
    let (inc, sign, rest) = match rest.as_bytes().first() {
        Some(b'+') | Some(b'-') => {
            let sign = if rest.starts_with('-') { -1.0 } else { 1.0 };
            let (b, r) = take_histogram(&rest[1..]).ok_or_else(bad)?;
            (Some(parse_histogram(b)?), sign, r)
        }
        _ => (None, 1.0, rest),
    };
    let n: usize = rest
        .strip_prefix('x')
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    if n > 1_000_000 {
        return Err(format!("expansion {tok:?} is too long"));
    }
    let mut out = Vec::with_capacity(n + 1);
    let mut cur = a;
    for _ in 0..=n {
        out.push(cur.clone());
        if let Some(b) = &inc {
            let hint = cur.counter_reset_hint;
            cur = cur
                .combine(b, sign)
                .map_err(|e| format!("{tok:?}: cannot add histograms: {e:?}"))?;
            cur.counter_reset_hint = hint;
        }
    }
    Ok(out)
}

fn parse_msg(kind: Option<&str>, text: Option<&str>) -> Result<Option<MsgMatch>, String> {
    match (kind, text) {
        (Some("msg"), Some(t)) => Ok(Some(MsgMatch::Exact(t.trim().to_string()))),
        // Go's syntax, as the upstream harness compiles it.
        (Some("regex"), Some(t)) => crate::tsdb::matcher::goregex::translate(t.trim())
            .map_err(|e| e.to_string())
            .and_then(|re| Regex::new(&re).map_err(|e| e.to_string()))
            .map(|r| Some(MsgMatch::Regex(r)))
            .map_err(|e| format!("bad expect regex: {e}")),
        _ => Ok(None),
    }
}

/// Go's `strconv.Unquote` for the common escapes.
fn unquote(s: &str) -> String {
    let s = s.trim();
    let inner = ['"', '`', '\'']
        .iter()
        .find_map(|q| s.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
        .unwrap_or(s);
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a script into commands. Errors name the line.
pub(crate) fn parse_script(text: &str) -> Result<Vec<Command>, String> {
    static INSTANT: OnceLock<Regex> = OnceLock::new();
    static RANGE: OnceLock<Regex> = OnceLock::new();
    static LOAD: OnceLock<Regex> = OnceLock::new();
    static EXPECT: OnceLock<Regex> = OnceLock::new();
    static EXPECT_RANGE: OnceLock<Regex> = OnceLock::new();
    let instant = re(
        &INSTANT,
        r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$",
    );
    let range = re(
        &RANGE,
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
    );
    let load = re(&LOAD, r"^load(?:_(with_nhcb))?\s+(.+?)$");
    let expect = re(
        &EXPECT,
        r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$",
    );
    let expect_range = re(
        &EXPECT_RANGE,
        r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$",
    );

    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        if l.split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("clear"))
        {
            // `clear` is a single line; a `load` may follow without a blank line.
            cmds.push(Command::Clear);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < lines.len() && !lines[j].is_empty() && !lines[j].starts_with('#') {
            j += 1;
        }
        let body = &lines[start + 1..j];
        i = j;
        let lineno = start + 1;
        let word = l.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if word.starts_with("load") {
            let c = load
                .captures(l)
                .ok_or_else(|| format!("line {lineno}: bad load command {l:?}"))?;
            let interval =
                parse_duration(&c[2]).ok_or_else(|| format!("line {lineno}: bad interval {:?}", &c[2]))?;
            let mut series = Vec::new();
            for (k, b) in body.iter().enumerate() {
                if b.contains("@st") {
                    return Err(format!(
                        "line {}: start-timestamp lines (@st) are not supported",
                        lineno + k + 1
                    ));
                }
                series.push(parse_series_line(b).map_err(|e| format!("line {}: {e}", lineno + k + 1))?);
            }
            cmds.push(Command::Load {
                interval,
                nhcb: c.get(1).is_some(),
                series,
            });
        } else if word.starts_with("eval") {
            let mut e = EvalCmd {
                line: lineno,
                text: l.to_string(),
                expr: String::new(),
                start: 0,
                end: 0,
                step: 0,
                expect: Expectations::default(),
                rows: Vec::new(),
                scalar: None,
                body_error: None,
            };
            let modifier;
            if let Some(c) = instant.captures(l) {
                modifier = c.get(1).map(|m| m.as_str().to_string());
                let at = c.get(2).map_or("0", |m| m.as_str());
                e.start = parse_duration(at).ok_or_else(|| format!("line {lineno}: bad time {at:?}"))?;
                e.end = e.start;
                e.expr = c[3].to_string();
            } else if let Some(c) = range.captures(l) {
                modifier = c.get(1).map(|m| m.as_str().to_string());
                let bad = |s: &str| format!("line {lineno}: bad time {s:?}");
                e.start = parse_duration(&c[2]).ok_or_else(|| bad(&c[2]))?;
                e.end = parse_duration(&c[3]).ok_or_else(|| bad(&c[3]))?;
                e.step = parse_duration(&c[4]).ok_or_else(|| bad(&c[4]))?;
                e.expr = c[5].to_string();
            } else {
                return Err(format!("line {lineno}: bad eval command {l:?}"));
            }
            match modifier.as_deref() {
                Some("fail") => e.expect.fail = Some(None),
                Some("warn") => e.expect.warn.push(None),
                Some("info") => e.expect.info.push(None),
                Some("ordered") => e.expect.ordered = true,
                _ => {}
            }
            for b in body {
                if let Some(c) = expect_range.captures(b) {
                    let p = |s: &str| parse_duration(s).unwrap_or(0);
                    e.expect.range_vector = Some((p(&c[1]), p(&c[2]), p(&c[3])));
                } else if let Some(s) = b.strip_prefix("expect string") {
                    e.expect.string = Some(unquote(s));
                } else if let Some(c) = expect.captures(b) {
                    let msg = match parse_msg(c.get(2).map(|m| m.as_str()), c.get(3).map(|m| m.as_str())) {
                        Ok(m) => m,
                        Err(err) => {
                            e.body_error = Some(err);
                            None
                        }
                    };
                    match &c[1] {
                        "fail" => e.expect.fail = Some(msg),
                        "ordered" => e.expect.ordered = true,
                        "warn" => e.expect.warn.push(msg),
                        "info" => e.expect.info.push(msg),
                        "no_warn" => e.expect.no_warn = true,
                        "no_info" => e.expect.no_info = true,
                        _ => {}
                    }
                } else if b.starts_with("expect") {
                    e.body_error = Some(format!("unknown expect line {b:?}"));
                } else if let Some((v, rest)) = number_prefix(b).filter(|(_, r)| r.trim().is_empty()) {
                    let _ = rest;
                    e.scalar = Some(v);
                } else {
                    match parse_series_line(b) {
                        Ok(s) => e.rows.push(s),
                        Err(err) => e.body_error = Some(err),
                    }
                }
            }
            cmds.push(Command::Eval(Box::new(e)));
        } else {
            return Err(format!("line {lineno}: unknown command {l:?}"));
        }
    }
    Ok(cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_notation_expands_like_promqltest() {
        let s = parse_series_line(r#"m{a="b c"} 1+2x2 _x2 -1-1x1 stale Inf 0x1 _ 3x1"#).unwrap();
        assert_eq!(s.labels.to_string(), r#"{__name__="m", a="b c"}"#);
        let v: Vec<String> = s
            .values
            .iter()
            .map(|p| p.map_or("_".into(), |x| x.to_string()))
            .collect();
        assert_eq!(
            v,
            [
                "1", "3", "5", "_", "_", "-1", "-2", "NaN", "inf", "0", "0", "_", "3", "3"
            ]
        );
        assert!(crate::tsdb::is_stale_nan(s.values[7].unwrap()));
    }

    #[test]
    fn durations_parse_compound_units_and_zero() {
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("10s53ms"), Some(10_053));
        assert_eq!(parse_duration("1x"), None);
    }
}

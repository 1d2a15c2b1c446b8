//! A parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text.
//!
//! The two formats differ in ways that change the data, so the caller names the format
//! ([`Format`]); [`Format::detect`] picks OpenMetrics for input whose last line is `# EOF` and
//! [`Format::from_content_type`] follows a scrape's `Content-Type` header.
//!
//! | | Prometheus text 0.0.4 | OpenMetrics 1.0 |
//! |---|---|---|
//! | timestamp | integer milliseconds | float seconds (`int64(ts * 1000)`, as Prometheus) |
//! | comments | `# HELP`, `# TYPE`, anything else ignored | only `# HELP`, `# TYPE`, `# UNIT`, `# EOF` |
//! | end | end of input | a final `# EOF` line, nothing after it |
//! | blank lines | ignored | an error |
//! | exemplars | — | `# {labels} value [ts]` after the sample ([`ParsedSample::exemplar`]) |
//!
//! Label values use the escapes `\\`, `\"` and `\n`; any other backslash pair is kept as written,
//! as Prometheus's parsers do. Values are Go `strconv.ParseFloat` floats (`NaN`, `+Inf`, `-Inf`,
//! `1e3`). As in Prometheus 3.x, `le` labels of histogram buckets and `quantile` labels of summaries
//! are normalised to the float format (`le="1"` is stored as `le="1.0"`), so the same bucket is the
//! same series whichever way an exporter writes it. Prometheus 3.x's quoted UTF-8 metric names
//! (`{"my.metric", label="v"}`) and label names are accepted too.
//!
//! Every error names the 1-based line and column (in bytes) and the reason; parsing stops at the
//! first one.

use crate::tsdb::{Labels, LabelsBuilder, METRIC_NAME};

/// Which text format a body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`).
    Prometheus,
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the last non-empty line is `# EOF` (OpenMetrics requires it; the
    /// Prometheus format has no such line), the Prometheus text format otherwise.
    pub fn detect(text: &str) -> Format {
        let trimmed = text.trim_end_matches(['\n', '\r']);
        let last = trimmed.rsplit('\n').next().unwrap_or("");
        if last == "# EOF" {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The format a scrape response declares: `application/openmetrics-text` is OpenMetrics;
    /// anything else (including no header) is read as the Prometheus text format, as Prometheus
    /// 2.x does.
    pub fn from_content_type(content_type: &str) -> Format {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Prometheus => "Prometheus text 0.0.4",
            Format::OpenMetrics => "OpenMetrics 1.0",
        })
    }
}

pub use crate::tsdb::metadata::{MetadataLine, MetricType};

/// One sample line, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSample {
    /// The series, metric name included as `__name__`.
    pub labels: Labels,
    /// The value (a NaN here is a plain NaN, never the staleness marker).
    pub value: f64,
    /// The timestamp in milliseconds, when the line has one.
    pub timestamp_ms: Option<i64>,
    /// The 1-based line number.
    pub line: usize,
    /// The 1-based byte column just after the value, where a timestamp would go.
    pub end_column: usize,
    /// The OpenMetrics exemplar of the line, if it has one.
    pub exemplar: Option<ParsedExemplar>,
}

/// An OpenMetrics exemplar: `# {trace_id="..."} value [timestamp]` after a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedExemplar {
    /// Its labels.
    pub labels: Labels,
    /// Its value.
    pub value: f64,
    /// Its timestamp in milliseconds (`int64(ts * 1000)`, as Prometheus), when it has one.
    pub timestamp_ms: Option<i64>,
}

/// What went wrong on a line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A metric name is missing or starts with a character it cannot.
    #[error("expected a metric name, found {found:?}")]
    ExpectedMetricName {
        /// What was there instead.
        found: String,
    },
    /// A label name is missing or malformed.
    #[error("expected a label name, found {found:?}")]
    ExpectedLabelName {
        /// What was there instead.
        found: String,
    },
    /// No `=` after a label name.
    #[error("expected '=' after label name {name:?}, found {found:?}")]
    ExpectedEquals {
        /// The label name.
        name: String,
        /// What was there instead.
        found: String,
    },
    /// A label value does not start with `"`.
    #[error("expected a quoted label value for label {name:?}, found {found:?}")]
    ExpectedLabelValue {
        /// The label name.
        name: String,
        /// What was there instead.
        found: String,
    },
    /// A quoted string runs to the end of the line.
    #[error("unterminated quoted string (missing closing '\"')")]
    UnterminatedString,
    /// Neither `,` nor `}` after a label pair.
    #[error("expected ',' or '}}' after a label, found {found:?}")]
    ExpectedCommaOrBrace {
        /// What was there instead.
        found: String,
    },
    /// The same label name twice in one series.
    #[error("label name {name:?} appears more than once")]
    DuplicateLabel {
        /// The label name.
        name: String,
    },
    /// `{...}` without a metric name in it (Prometheus 3.x quoted-name syntax).
    #[error("the series has no metric name")]
    MissingMetricName,
    /// Two metric names in one series.
    #[error("the metric name is given twice")]
    DuplicateMetricName,
    /// The line ends where the value should be.
    #[error("expected a value after the series")]
    MissingValue,
    /// The value is not a float.
    #[error("invalid value {value:?}: not a float (expected e.g. 1.5, 1e3, NaN, +Inf, -Inf)")]
    InvalidValue {
        /// The text.
        value: String,
    },
    /// The timestamp is not an integer (Prometheus text) or a finite float (OpenMetrics).
    #[error("invalid timestamp {value:?}: {expected}")]
    InvalidTimestamp {
        /// The text.
        value: String,
        /// What the format expects.
        expected: &'static str,
    },
    /// Something after the timestamp (or an exemplar where none is allowed).
    #[error("unexpected text {found:?} after the sample")]
    TrailingData {
        /// The text.
        found: String,
    },
    /// A malformed exemplar (`# {labels} value [timestamp]`).
    #[error("invalid exemplar: {reason}")]
    InvalidExemplar {
        /// Why.
        reason: String,
    },
    /// A `# HELP`/`# TYPE`/`# UNIT` line without its metric name or text.
    #[error("malformed # {keyword} line: {reason}")]
    InvalidMetadata {
        /// `HELP`, `TYPE` or `UNIT`.
        keyword: &'static str,
        /// Why.
        reason: String,
    },
    /// `# TYPE` names a type the format does not have.
    #[error("unknown metric type {found:?} (expected one of: {expected})")]
    UnknownType {
        /// The type.
        found: String,
        /// The types the format allows.
        expected: &'static str,
    },
    /// OpenMetrics `# UNIT` whose unit is not a suffix of the metric name.
    #[error("unit {unit:?} is not a suffix of metric name {name:?}")]
    UnitNotSuffix {
        /// The unit.
        unit: String,
        /// The metric name.
        name: String,
    },
    /// An OpenMetrics comment other than `# HELP`, `# TYPE`, `# UNIT`, `# EOF`.
    #[error("OpenMetrics allows only '# HELP', '# TYPE', '# UNIT' and '# EOF' comments, found {found:?}")]
    InvalidComment {
        /// The line.
        found: String,
    },
    /// A blank line in OpenMetrics.
    #[error("blank lines are not allowed in OpenMetrics")]
    BlankLine,
    /// OpenMetrics input without the final `# EOF`.
    #[error("OpenMetrics input must end with '# EOF'")]
    MissingEof,
    /// A file without `# EOF` (so read as Prometheus text, timestamps in milliseconds) that is
    /// written in OpenMetrics (timestamps in seconds): read on, every timestamp would land in
    /// January 1970.
    #[error(
        "{evidence} is OpenMetrics, but the input does not end with '# EOF', so it would be read as \
         Prometheus text with millisecond timestamps (OpenMetrics timestamps are seconds); add '# EOF' as \
         the last line"
    )]
    OpenMetricsWithoutEof {
        /// The OpenMetrics-only construct found, such as "`# UNIT` metadata".
        evidence: String,
    },
    /// Lines after `# EOF`.
    #[error("unexpected data after '# EOF'")]
    DataAfterEof,
    /// The body is not UTF-8.
    #[error("the input is not valid UTF-8")]
    InvalidUtf8,
    /// A sample without a timestamp where one is required (file import, like promtool).
    #[error(
        "sample for {series} has no timestamp; importing needs one on every sample (as `promtool tsdb \
         create-blocks-from openmetrics` does)"
    )]
    MissingTimestamp {
        /// The series, in Prometheus text form.
        series: String,
    },
}

/// A parse error: where and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based byte column within the line.
    pub column: usize,
    /// The reason.
    pub kind: ParseErrorKind,
}

/// What a successful parse saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseSummary {
    /// Sample lines passed to the callback.
    pub samples: usize,
    /// Lines read.
    pub lines: usize,
}

/// Parses `bytes` as UTF-8 text in `format`; a non-UTF-8 body is an error at the first bad byte.
pub fn parse_bytes(
    bytes: &[u8],
    format: Format,
    on_sample: impl FnMut(ParsedSample),
) -> Result<ParseSummary, ParseError> {
    parse_bytes_with_metadata(bytes, format, on_sample, |_, _| {})
}

/// [`parse_bytes`], also calling `on_metadata` with the family name and content of every
/// `# TYPE`, `# HELP` and (OpenMetrics) `# UNIT` line, in order.
pub fn parse_bytes_with_metadata(
    bytes: &[u8],
    format: Format,
    on_sample: impl FnMut(ParsedSample),
    on_metadata: impl FnMut(String, MetadataLine),
) -> Result<ParseSummary, ParseError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_with_metadata(text, format, on_sample, on_metadata),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            Err(ParseError {
                line,
                column: e.valid_up_to() - line_start + 1,
                kind: ParseErrorKind::InvalidUtf8,
            })
        }
    }
}

/// Parses `text` in `format`, calling `on_sample` for every sample line in order.
///
/// Stops at the first error; every sample passed to `on_sample` before it came from a valid line
/// above the failing one.
pub fn parse(
    text: &str,
    format: Format,
    on_sample: impl FnMut(ParsedSample),
) -> Result<ParseSummary, ParseError> {
    parse_with_metadata(text, format, on_sample, |_, _| {})
}

/// [`parse`], also calling `on_metadata` with the family name and content of every `# TYPE`,
/// `# HELP` and (OpenMetrics) `# UNIT` line, in order. HELP text is unescaped as Prometheus's
/// parsers do: `\\` and `\n` in both formats, `\"` too in OpenMetrics; other pairs are kept.
pub fn parse_with_metadata(
    text: &str,
    format: Format,
    mut on_sample: impl FnMut(ParsedSample),
    mut on_metadata: impl FnMut(String, MetadataLine),
) -> Result<ParseSummary, ParseError> {
    let mut summary = ParseSummary::default();
    let mut family = Family::default();
    let mut seen_eof = false;
    // A final '\n' ends the last line rather than starting an empty one.
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() && format == Format::Prometheus {
        return Ok(summary);
    }
    for (idx, raw) in body.split('\n').enumerate() {
        let line_no = idx + 1;
        summary.lines = line_no;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if seen_eof {
            return Err(ParseError {
                line: line_no,
                column: 1,
                kind: ParseErrorKind::DataAfterEof,
            });
        }
        let mut p = LineParser {
            line,
            pos: 0,
            line_no,
            format,
        };
        match format {
            Format::Prometheus => {
                p.skip_ws();
                if p.at_end() {
                    continue;
                }
                if p.peek() == Some(b'#') {
                    if let Some((name, line)) = p.prometheus_comment(&mut family)? {
                        on_metadata(name, line);
                    }
                    continue;
                }
            }
            Format::OpenMetrics => {
                if line.is_empty() {
                    return Err(p.err(ParseErrorKind::BlankLine));
                }
                if line == "# EOF" {
                    seen_eof = true;
                    continue;
                }
                if p.peek() == Some(b'#') {
                    let (name, line) = p.openmetrics_comment(&mut family)?;
                    on_metadata(name, line);
                    continue;
                }
            }
        }
        let sample = p.sample(&family)?;
        summary.samples += 1;
        on_sample(sample);
    }
    if format == Format::OpenMetrics && !seen_eof {
        let line = summary.lines.max(1);
        let column = body.rsplit('\n').next().map_or(0, str::len) + 1;
        return Err(ParseError {
            line,
            column,
            kind: ParseErrorKind::MissingEof,
        });
    }
    Ok(summary)
}

/// The metric family of the latest `# TYPE` line, for `le`/`quantile` normalisation.
#[derive(Default)]
struct Family {
    name: String,
    mtype: Option<MetricType>,
}

struct LineParser<'a> {
    line: &'a str,
    pos: usize,
    line_no: usize,
    format: Format,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> LineParser<'a> {
    fn err(&self, kind: ParseErrorKind) -> ParseError {
        self.err_at(self.pos, kind)
    }

    fn err_at(&self, pos: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line_no,
            column: pos + 1,
            kind,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// The next whitespace-delimited token (possibly empty).
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while !matches!(self.peek(), None | Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        &self.line[start..self.pos]
    }

    /// A short excerpt of what lies at the cursor, for error messages.
    fn found(&self) -> String {
        let rest = &self.line[self.pos..];
        if rest.is_empty() {
            return "end of line".to_string();
        }
        rest.chars().take(16).collect()
    }

    fn name(&mut self, start: fn(u8) -> bool, cont: fn(u8) -> bool) -> Option<&'a str> {
        let s = self.pos;
        match self.peek() {
            Some(b) if start(b) => self.pos += 1,
            _ => return None,
        }
        while self.peek().is_some_and(cont) {
            self.pos += 1;
        }
        Some(&self.line[s..self.pos])
    }

    /// A `"..."` string at the cursor, unescaped (`\\`, `\"`, `\n`; other pairs kept as written).
    fn quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1; // the opening quote
        let bytes = self.line.as_bytes();
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            match bytes.get(self.pos) {
                None => return Err(self.err_at(open, ParseErrorKind::UnterminatedString)),
                Some(b'"') => {
                    out.push_str(&self.line[run..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.line[run..self.pos]);
                    match bytes.get(self.pos + 1) {
                        Some(b'\\') => out.push('\\'),
                        Some(b'"') => out.push('"'),
                        Some(b'n') => out.push('\n'),
                        Some(_) => {
                            // Kept verbatim, like Prometheus's `lvalReplacer`.
                            out.push('\\');
                            self.pos += 1;
                            run = self.pos;
                            continue;
                        }
                        None => return Err(self.err_at(open, ParseErrorKind::UnterminatedString)),
                    }
                    self.pos += 2;
                    run = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// A `#` line of the text format: the metadata it declares, if any.
    fn prometheus_comment(
        &mut self,
        family: &mut Family,
    ) -> Result<Option<(String, MetadataLine)>, ParseError> {
        self.pos += 1; // '#'
        if !self.skip_ws() {
            return Ok(None); // "#foo" is a plain comment
        }
        let keyword = self.token();
        let keyword: &'static str = match keyword {
            "HELP" => "HELP",
            "TYPE" => "TYPE",
            _ => return Ok(None), // any other comment is ignored in the text format
        };
        self.metadata(keyword, family).map(Some)
    }

    fn openmetrics_comment(&mut self, family: &mut Family) -> Result<(String, MetadataLine), ParseError> {
        let rest = &self.line[self.pos..];
        let keyword: &'static str = if rest.starts_with("# HELP ") {
            "HELP"
        } else if rest.starts_with("# TYPE ") {
            "TYPE"
        } else if rest.starts_with("# UNIT ") {
            "UNIT"
        } else {
            return Err(self.err(ParseErrorKind::InvalidComment {
                found: rest.chars().take(32).collect(),
            }));
        };
        self.pos += 7;
        self.metadata(keyword, family)
    }

    /// The rest of a `# HELP|TYPE|UNIT` line after the keyword and its space: the family name and
    /// what the line says of it.
    fn metadata(
        &mut self,
        keyword: &'static str,
        family: &mut Family,
    ) -> Result<(String, MetadataLine), ParseError> {
        if self.format == Format::Prometheus {
            self.skip_ws();
        }
        let name_pos = self.pos;
        let name = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            match self.name(is_name_start, is_name_char) {
                Some(n) => n.to_string(),
                None => {
                    return Err(self.err(ParseErrorKind::InvalidMetadata {
                        keyword,
                        reason: format!("expected a metric name, found {:?}", self.found()),
                    }));
                }
            }
        };
        let text_pos;
        let text: &str = if self.at_end() {
            text_pos = self.pos;
            if keyword == "HELP" && self.format == Format::Prometheus {
                ""
            } else {
                return Err(self.err(ParseErrorKind::InvalidMetadata {
                    keyword,
                    reason: format!("expected text after metric name {name:?}"),
                }));
            }
        } else {
            let had_ws = match self.format {
                Format::Prometheus => self.skip_ws(),
                Format::OpenMetrics if self.peek() == Some(b' ') => {
                    self.pos += 1;
                    true
                }
                Format::OpenMetrics => false,
            };
            if !had_ws {
                return Err(self.err(ParseErrorKind::InvalidMetadata {
                    keyword,
                    reason: format!(
                        "expected a space after metric name {name:?}, found {:?}",
                        self.found()
                    ),
                }));
            }
            text_pos = self.pos;
            &self.line[self.pos..]
        };
        match keyword {
            "TYPE" => {
                let text = text.trim_end();
                let mtype = match (self.format, text) {
                    (_, "counter") => MetricType::Counter,
                    (_, "gauge") => MetricType::Gauge,
                    (_, "histogram") => MetricType::Histogram,
                    (_, "summary") => MetricType::Summary,
                    (Format::Prometheus, "untyped") => MetricType::Unknown,
                    (Format::OpenMetrics, "unknown") => MetricType::Unknown,
                    (Format::OpenMetrics, "gaugehistogram") => MetricType::GaugeHistogram,
                    (Format::OpenMetrics, "info") => MetricType::Info,
                    (Format::OpenMetrics, "stateset") => MetricType::StateSet,
                    _ => {
                        return Err(self.err_at(
                            text_pos,
                            ParseErrorKind::UnknownType {
                                found: text.to_string(),
                                expected: match self.format {
                                    Format::Prometheus => "counter, gauge, histogram, summary, untyped",
                                    Format::OpenMetrics => {
                                        "counter, gauge, histogram, gaugehistogram, summary, info, \
                                         stateset, unknown"
                                    }
                                },
                            },
                        ));
                    }
                };
                family.name = name.clone();
                family.mtype = Some(mtype);
                Ok((name, MetadataLine::Type(mtype)))
            }
            // OpenMetrics: "the unit MUST be a suffix of the MetricFamily name", after a '_'.
            "UNIT" if !text.is_empty() && !name.ends_with(&format!("_{text}")) => Err(self.err_at(
                name_pos,
                ParseErrorKind::UnitNotSuffix {
                    unit: text.to_string(),
                    name,
                },
            )),
            "UNIT" => Ok((name, MetadataLine::Unit(text.to_string()))),
            _ => Ok((name, MetadataLine::Help(unescape_help(text, self.format)))),
        }
    }

    fn sample(&mut self, family: &Family) -> Result<ParsedSample, ParseError> {
        let mut b = LabelsBuilder::new(&Labels::empty());
        let mut names: Vec<String> = Vec::new();
        let mut metric: Option<String> = None;
        let name_pos = self.pos;
        if self.peek() != Some(b'{') {
            match self.name(is_name_start, is_name_char) {
                Some(n) => metric = Some(n.to_string()),
                None => return Err(self.err(ParseErrorKind::ExpectedMetricName { found: self.found() })),
            }
        }
        let mut spaced = self.format == Format::Prometheus && self.skip_ws();
        if self.peek() == Some(b'{') {
            self.pos += 1;
            self.labels(&mut metric, &mut names, &mut b)?;
            spaced = false;
        }
        let Some(metric) = metric else {
            return Err(self.err_at(name_pos, ParseErrorKind::MissingMetricName));
        };
        let normalise = match family.mtype {
            Some(MetricType::Histogram | MetricType::GaugeHistogram) if metric.starts_with(&family.name) => {
                Some("le")
            }
            Some(MetricType::Summary) if metric.starts_with(&family.name) => Some("quantile"),
            _ => None,
        };
        if let Some(label) = normalise
            && let Some(v) = b.get(label)
            && let Ok(f) = parse_go_float(v)
        {
            b.set(label.to_string(), format_openmetrics_float(f));
        }
        b.set(METRIC_NAME.to_string(), metric);

        // The value, after at least one space.
        if !(self.skip_ws() || spaced) || self.at_end() {
            return Err(self.err(ParseErrorKind::MissingValue));
        }
        let value_pos = self.pos;
        let value_text = self.token();
        let value = parse_go_float(value_text).map_err(|_| {
            self.err_at(
                value_pos,
                ParseErrorKind::InvalidValue {
                    value: value_text.to_string(),
                },
            )
        })?;
        let end_column = self.pos + 1;
        let mut timestamp_ms = None;
        let mut exemplar = None;
        self.skip_ws();
        if !self.at_end() && self.peek() != Some(b'#') {
            let ts_pos = self.pos;
            let ts_text = self.token();
            timestamp_ms = Some(self.timestamp(ts_text, ts_pos)?);
            self.skip_ws();
        }
        if !self.at_end() {
            if self.peek() == Some(b'#') && self.format == Format::OpenMetrics {
                exemplar = Some(self.exemplar()?);
            } else {
                return Err(self.err(ParseErrorKind::TrailingData { found: self.found() }));
            }
        }
        Ok(ParsedSample {
            labels: b.build(),
            value,
            timestamp_ms,
            line: self.line_no,
            end_column,
            exemplar,
        })
    }

    fn timestamp(&self, text: &str, pos: usize) -> Result<i64, ParseError> {
        match self.format {
            Format::Prometheus => text.parse::<i64>().map_err(|_| {
                self.err_at(
                    pos,
                    ParseErrorKind::InvalidTimestamp {
                        value: text.to_string(),
                        expected: "the text format wants integer milliseconds since the epoch",
                    },
                )
            }),
            Format::OpenMetrics => match parse_go_float(text) {
                // Prometheus's OpenMetrics parser: `p.ts = int64(ts * 1000)` (truncation).
                Ok(ts) if ts.is_finite() => Ok((ts * 1000.0) as i64),
                _ => Err(self.err_at(
                    pos,
                    ParseErrorKind::InvalidTimestamp {
                        value: text.to_string(),
                        expected: "OpenMetrics wants finite seconds since the epoch, e.g. 1700000000.5",
                    },
                )),
            },
        }
    }

    /// The labels inside `{...}`, the cursor just after `{`.
    fn labels(
        &mut self,
        metric: &mut Option<String>,
        names: &mut Vec<String>,
        b: &mut LabelsBuilder,
    ) -> Result<(), ParseError> {
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(());
            }
            let name_pos = self.pos;
            let name = if self.peek() == Some(b'"') {
                let quoted = self.quoted()?;
                self.skip_ws();
                // A quoted string followed by ',' or '}' is the metric name (Prometheus 3.x).
                if matches!(self.peek(), Some(b',' | b'}')) {
                    if metric.is_some() {
                        return Err(self.err_at(name_pos, ParseErrorKind::DuplicateMetricName));
                    }
                    *metric = Some(quoted);
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                    }
                    continue;
                }
                quoted
            } else {
                match self.name(is_label_start, is_label_char) {
                    Some(n) => n.to_string(),
                    None => return Err(self.err(ParseErrorKind::ExpectedLabelName { found: self.found() })),
                }
            };
            if names.contains(&name) || (name == METRIC_NAME && metric.is_some()) {
                return Err(self.err_at(name_pos, ParseErrorKind::DuplicateLabel { name }));
            }
            self.skip_ws();
            if self.peek() != Some(b'=') {
                return Err(self.err(ParseErrorKind::ExpectedEquals {
                    name,
                    found: self.found(),
                }));
            }
            self.pos += 1;
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err(ParseErrorKind::ExpectedLabelValue {
                    name,
                    found: self.found(),
                }));
            }
            let value = self.quoted()?;
            if name == METRIC_NAME {
                *metric = Some(value);
            } else {
                names.push(name.clone());
                b.set(name, value);
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.err(ParseErrorKind::ExpectedCommaOrBrace { found: self.found() })),
            }
        }
    }

    /// An OpenMetrics exemplar `# {labels} value [timestamp]`.
    fn exemplar(&mut self) -> Result<ParsedExemplar, ParseError> {
        let bad = |p: &Self, reason: String| p.err(ParseErrorKind::InvalidExemplar { reason });
        self.pos += 1;
        if !self.skip_ws() || self.peek() != Some(b'{') {
            return Err(bad(
                self,
                format!("expected ' {{' after '#', found {:?}", self.found()),
            ));
        }
        self.pos += 1;
        let mut names = Vec::new();
        let mut b = LabelsBuilder::new(&Labels::empty());
        let mut metric = None;
        self.labels(&mut metric, &mut names, &mut b)?;
        if metric.is_some() {
            return Err(bad(self, "an exemplar has no metric name".to_string()));
        }
        if !self.skip_ws() {
            return Err(bad(
                self,
                "expected a space and a value after the exemplar labels".to_string(),
            ));
        }
        let v = self.token();
        let Ok(value) = parse_go_float(v) else {
            return Err(bad(self, format!("invalid exemplar value {v:?}")));
        };
        self.skip_ws();
        let mut timestamp_ms = None;
        if !self.at_end() {
            let ts = self.token();
            match parse_go_float(ts) {
                // Prometheus: `int64(ts * 1000)`, as for sample timestamps.
                Ok(t) if t.is_finite() => timestamp_ms = Some((t * 1000.0) as i64),
                _ => return Err(bad(self, format!("invalid exemplar timestamp {ts:?}"))),
            }
            self.skip_ws();
            if !self.at_end() {
                return Err(self.err(ParseErrorKind::TrailingData { found: self.found() }));
            }
        }
        Ok(ParsedExemplar {
            labels: b.build(),
            value,
            timestamp_ms,
        })
    }
}

/// HELP text unescaped as Prometheus's parsers do: `\\` and `\n` (its `helpReplacer`), and in
/// OpenMetrics `\"` too (`lvalReplacer`); any other backslash pair is kept as written.
fn unescape_help(text: &str, format: Format) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if format == Format::OpenMetrics => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Go's `strconv.ParseFloat` as Prometheus's parsers call it: decimal and exponent forms,
/// `NaN`, `Inf`/`+Inf`/`-Inf`/`infinity` in any case; no hex floats or `_` separators.
pub fn parse_go_float(s: &str) -> Result<f64, std::num::ParseFloatError> {
    if s.bytes().any(|b| matches!(b, b'x' | b'X' | b'_' | b'p' | b'P')) {
        return "invalid".parse::<f64>();
    }
    s.parse::<f64>()
}

/// Prometheus's `formatOpenMetricsFloat`: Go's `%g` shortest form (exponent from 1e6 on), with `.0`
/// appended to integral values so `1` and `1.0` give the same label value
/// ([`burnwatch_gofmt::format_openmetrics`]).
pub fn format_openmetrics_float(f: f64) -> String {
    burnwatch_gofmt::format_openmetrics(f)
}

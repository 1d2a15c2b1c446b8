//! Importing a text file with timestamps, as `promtool tsdb create-blocks-from openmetrics` does.
//!
//! Choices, documented for users of `--load`:
//! - The format is detected: OpenMetrics when the last line is `# EOF` (timestamps in seconds),
//!   the Prometheus text format otherwise (timestamps in milliseconds). A file without `# EOF`
//!   that uses OpenMetrics-only syntax (`# UNIT`, an OpenMetrics type, a counter family `c`
//!   with samples `c_total`) is refused before anything is stored: it is an OpenMetrics file
//!   whose end was cut off, and read as Prometheus text its second timestamps would be taken
//!   for milliseconds (promtool refuses OpenMetrics without `# EOF` too).
//! - Every sample needs a timestamp, as promtool requires; a sample without one is an error.
//! - The first malformed line stops the import: the samples of all earlier lines are stored, the
//!   error names the line, column and reason, and nothing already in the store is touched.
//! - Files may interleave series in any order (sorted by series as promtool writes them, or by
//!   time as an exporter dump is); samples are sorted per series before they are appended. Equal
//!   timestamps keep their file order, so an exact duplicate is stored once and a conflicting one
//!   is refused.
//! - Samples the store refuses (older than what it already holds for the series, a different
//!   value at a stored timestamp, or stamped more than 10 minutes after the clock, which
//!   `promtool` would take but a live store must not: retention counts back from the newest
//!   sample) are counted; the others are stored and the error reports the
//!   count and the first refusal with its line.

use std::collections::HashMap;

use super::IngestError;
use super::text::{self, Format, ParseError, ParseErrorKind};
use crate::tsdb::{AppendError, Labels, Storage};

/// What an import stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportStats {
    /// The detected format.
    pub format: Format,
    /// Samples stored.
    pub samples: usize,
    /// Distinct series in the file.
    pub series: usize,
    /// Lines read.
    pub lines: usize,
    /// The oldest timestamp imported (ms), if any sample was.
    pub min_t: Option<i64>,
    /// The newest timestamp imported (ms), if any sample was.
    pub max_t: Option<i64>,
}

/// One buffered sample: timestamp, value, and the line it came from (for error messages).
struct Buffered {
    t: i64,
    v: f64,
    line: usize,
}

/// The first OpenMetrics-only construct of a text read as Prometheus text: a `# UNIT` line, a
/// type only OpenMetrics has, or a counter family `c` with samples `c_total` (OpenMetrics names
/// the family without the suffix; Prometheus text types the sample name). Its line and a
/// description.
fn openmetrics_evidence(text: &str) -> Option<(usize, usize, String)> {
    let mut counters: Vec<(&str, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if let Some(rest) = line.strip_prefix("# UNIT ") {
            let name = rest.split_whitespace().next().unwrap_or("");
            return Some((line_no, 1, format!("`# UNIT {name} ...` metadata")));
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let (name, kind) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            if matches!(kind, "unknown" | "gaugehistogram" | "info" | "stateset") {
                return Some((line_no, 1, format!("metric type {kind:?}")));
            }
            if kind == "counter" && !name.ends_with("_total") {
                counters.push((name, line_no));
            }
            continue;
        }
        if line.starts_with('#') || counters.is_empty() {
            continue;
        }
        let sample = line.split(['{', ' ', '\t']).next().unwrap_or("");
        if let Some(family) = sample.strip_suffix("_total")
            && let Some((_, type_line)) = counters.iter().find(|(n, _)| *n == family)
        {
            return Some((
                line_no,
                1,
                format!("sample {sample} of the counter family {family} (typed at line {type_line})"),
            ));
        }
    }
    None
}

/// Parses `text` (OpenMetrics or Prometheus text, detected by [`Format::detect`]) and appends
/// its samples to `store`. See the module docs for the error policy.
pub fn import_text(store: &mut Storage, text: &str) -> Result<ImportStats, IngestError> {
    let format = Format::detect(text);
    if format == Format::Prometheus
        && let Some((line, column, evidence)) = openmetrics_evidence(text)
    {
        return Err(IngestError::Parse {
            source: ParseError {
                line,
                column,
                kind: ParseErrorKind::OpenMetricsWithoutEof { evidence },
            },
            kept: 0,
        });
    }
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut series: Vec<(Labels, Vec<Buffered>)> = Vec::new();
    let mut missing_ts: Option<ParseError> = None;
    let parsed = text::parse(text, format, |s| {
        if missing_ts.is_some() {
            return;
        }
        let Some(t) = s.timestamp_ms else {
            missing_ts = Some(ParseError {
                line: s.line,
                column: s.end_column,
                kind: ParseErrorKind::MissingTimestamp {
                    series: s.labels.to_string(),
                },
            });
            return;
        };
        let i = *index.entry(s.labels.clone()).or_insert_with(|| {
            series.push((s.labels, Vec::new()));
            series.len() - 1
        });
        series[i].1.push(Buffered {
            t,
            v: s.value,
            line: s.line,
        });
    });
    // The first failing line: a missing timestamp comes before any later syntax error, since the
    // parser passes samples in line order and we stop collecting at the first one.
    let stop = match (missing_ts, parsed) {
        (Some(e), _) => Some(e),
        (None, Err(e)) => Some(e),
        (None, Ok(_)) => None,
    };
    let (lines, series) = match &stop {
        Some(e) => {
            let cut = e.line;
            let kept = series
                .into_iter()
                .map(|(l, s)| (l, s.into_iter().filter(|b| b.line < cut).collect::<Vec<_>>()))
                .filter(|(_, s)| !s.is_empty())
                .collect::<Vec<_>>();
            (cut, kept)
        }
        None => (text.lines().count(), series),
    };

    let mut stats = ImportStats {
        format,
        samples: 0,
        series: series.len(),
        lines,
        min_t: None,
        max_t: None,
    };
    let mut rejected = 0usize;
    let mut first: Option<(usize, AppendError)> = None;
    let max_t = crate::tsdb::max_valid_time(crate::tsdb::wall_clock_ms());
    for (labels, mut samples) in series {
        // Stable: equal timestamps keep file order.
        samples.sort_by_key(|b| b.t);
        for b in samples {
            let appended = crate::tsdb::check_not_ahead(&labels, b.t, max_t)
                .and_then(|()| store.append(&labels, b.t, b.v));
            match appended {
                Ok(_) => {
                    stats.samples += 1;
                    stats.min_t = Some(stats.min_t.map_or(b.t, |m| m.min(b.t)));
                    stats.max_t = Some(stats.max_t.map_or(b.t, |m| m.max(b.t)));
                }
                Err(e) => {
                    rejected += 1;
                    // Report the refusal from the earliest line.
                    if first.as_ref().is_none_or(|(l, _)| b.line < *l) {
                        first = Some((b.line, e));
                    }
                }
            }
        }
    }
    // One import is one batch for a durable store's write-ahead log.
    store.end_batch()?;
    if let Some(source) = stop {
        return Err(IngestError::Parse {
            source,
            kept: stats.samples,
        });
    }
    if let Some((line, first)) = first {
        return Err(IngestError::Rejected {
            rejected,
            line,
            first,
            appended: stats.samples,
        });
    }
    Ok(stats)
}

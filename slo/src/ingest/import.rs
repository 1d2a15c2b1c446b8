//! Importing a text file with timestamps, as `promtool tsdb create-blocks-from openmetrics` does.
//!
//! Choices, documented for users of `--load`:
//! - The format is detected: OpenMetrics when the last line is `# EOF` (timestamps in seconds),
//!   the Prometheus text format otherwise (timestamps in milliseconds).
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

/// Parses `text` (OpenMetrics or Prometheus text, detected by [`Format::detect`]) and appends
/// its samples to `store`. See the module docs for the error policy.
pub fn import_text(store: &mut Storage, text: &str) -> Result<ImportStats, IngestError> {
    let format = Format::detect(text);
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

//! Getting samples into the store: text/OpenMetrics import, remote write, scraping.
//!
//! - [`import_text`] loads a file in the format `promtool tsdb create-blocks-from openmetrics`
//!   takes (OpenMetrics 1.0 text with timestamps; Prometheus text 0.0.4 is accepted too).
//! - [`append_remote_write`] stores the body of a Prometheus remote-write 1.0 request.
//! - [`ScrapeConfigFile`] and [`run_scrapes`] scrape Prometheus/OpenMetrics targets on an
//!   interval, with `up`, the `scrape_*` series and staleness markers as Prometheus writes them.
//!
//! All three share the text parser in [`text`] and report problems as [`IngestError`].

pub mod import;
pub mod remote_write;
pub mod scrape;
pub mod targets_api;
#[cfg(test)]
mod tests;
pub mod text;

pub use crate::promconfig::ScrapeConfig;
pub use import::{ImportStats, import_text};
pub use remote_write::{LabelLimits, WriteStats, append_remote_write};
pub use scrape::{ScrapeConfigFile, ScrapeManager, StaticConfig, run_scrapes};
pub use text::{Format, ParseError, ParseErrorKind};

use crate::tsdb::AppendError;

/// Why samples could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A line of an import file is malformed (or lacks a timestamp); the import stopped there.
    #[error(
        "{source}; the import stopped at this line ({kept} samples from the lines before it were stored)"
    )]
    Parse {
        /// Where and why.
        source: ParseError,
        /// Samples from earlier lines that were stored anyway.
        kept: usize,
    },
    /// The store refused samples of an import (older than, or conflicting with, samples already
    /// stored for the series); every other sample was stored.
    #[error(
        "{rejected} samples were refused by the store, first at line {line}: {first}; the other {appended} \
         samples were stored"
    )]
    Rejected {
        /// How many samples were refused.
        rejected: usize,
        /// The line of the first refused sample.
        line: usize,
        /// Why the first was refused.
        first: AppendError,
        /// Samples stored.
        appended: usize,
    },
    /// A remote-write request whose headers announce something this receiver does not take
    /// (remote-write 2.0, another encoding than snappy, a body that is not protobuf): refused
    /// with 415 Unsupported Media Type before the body is read, as Prometheus does.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A remote-write body is not snappy block-compressed data.
    #[error("remote-write body is not valid snappy (block format, not framed): {0}")]
    Snappy(String),
    /// A remote-write body decompresses to something that is not a `prometheus.WriteRequest`.
    #[error("remote-write body is not a valid prometheus.WriteRequest protobuf: {0}")]
    Protobuf(String),
    /// A remote-write request holds out-of-order or duplicate samples. As Prometheus's receiver
    /// does (it rolls the whole request back and answers 400), nothing from the request was stored.
    #[error(
        "remote write refused: {count} out-of-order or duplicate samples, first: {first}; nothing from \
         this request was stored"
    )]
    OutOfOrder {
        /// How many samples were out of order or duplicated.
        count: usize,
        /// The first one.
        first: AppendError,
    },
    /// A remote-write request holds samples stamped more than
    /// [`MAX_AHEAD_MS`](crate::tsdb::MAX_AHEAD_MS) after the server's clock. As Prometheus's
    /// receiver does (`storage.ErrOutOfBounds`, 400), nothing from the request was stored.
    #[error(
        "remote write refused: {count} samples too far in the future, first: {first}; nothing from this \
         request was stored"
    )]
    OutOfBounds {
        /// How many samples were too far ahead.
        count: usize,
        /// The first one.
        first: AppendError,
    },
    /// A remote-write series is over one of the
    /// [`LabelLimits`]; nothing from the request was stored.
    #[error(
        "remote write refused: series {series} is over the {limit}: {reason}; nothing from this request was stored"
    )]
    LabelLimit {
        /// The series' metric name (quoted), or "without __name__".
        series: String,
        /// The limit's name: `label_limit`, `label_name_length_limit` or `label_value_length_limit`.
        limit: &'static str,
        /// What exceeds it.
        reason: String,
    },
    /// A remote-write native histogram is malformed (its spans and counts disagree, or its
    /// schema is unknown); nothing from the request was stored.
    #[error(
        "remote write refused: histogram #{index} of series {series} is invalid: {reason}; nothing from this request was stored"
    )]
    InvalidHistogram {
        /// The series, in Prometheus text form.
        series: String,
        /// The histogram's position in the series' `histograms`.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The store's write-ahead log cannot write (a full disk): nothing of the request was
    /// acknowledged, and a sender should retry later. Answered with 500, as Prometheus answers
    /// a failed WAL write; queries go on.
    #[error("the store cannot make samples durable: {0}; retry later")]
    Unavailable(#[from] crate::tsdb::LogError),
    /// A scrape config file is invalid; `path` is the YAML path of the offending key.
    #[error("invalid scrape config: {path}: {reason}")]
    Config {
        /// The YAML path, such as `scrape_configs[0].scrape_timeout`.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

//! The PromQL engine, on the `promql-parser` crate.
//!
//! [`Engine`] runs instant and range queries against anything [`Queryable`](crate::tsdb::Queryable)
//! with Prometheus 3.x semantics: 5m lookback, left-open range windows `(t - range, t]`,
//! staleness markers, `offset`, `@` (with `start()`/`end()`), subqueries, delayed `__name__`
//! removal, and the guards of a shared server (sample limit, timeout). The split follows
//! Prometheus's own: [`engine`] (steps), `eval` (one match over the expression), [`value`],
//! `functions/` (one file per family), `aggregate`, `binary`. [`testscript`] runs Prometheus test
//! scripts against it.

mod aggregate;
mod binary;
pub mod depth;
pub mod engine;
mod eval;
mod functions;
pub mod parse_error;
pub mod stats;
mod steps;
#[cfg(test)]
mod tests;
pub mod testscript;
pub mod value;

pub use engine::{Engine, EngineOptions, QueryResult};
pub use stats::QueryStats;
pub use value::{Annotations, InstantSample, Matrix, RangeSeries, Value, Vector};

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query text does not parse.
    #[error("parse error: {0}")]
    Parse(String),
    /// The query is valid PromQL but cannot run as asked (for example a range query over a string).
    #[error("{0}")]
    BadQuery(String),
    /// Evaluation failed (for example many-to-many matching).
    #[error("{0}")]
    Execution(String),
    /// The sample limit ([`EngineOptions::max_samples`]) was exceeded.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// The timeout ([`EngineOptions::timeout`]) passed.
    #[error("query timed out in expression evaluation")]
    Timeout,
    /// The query nests deeper than [`depth::MAX_DEPTH`] (see [`depth`]); `offset` is the byte
    /// where it went too deep. Prometheus has no such limit; recursion over a deeper tree could
    /// overflow the stack and abort the process.
    #[error("query is nested too deeply: more than {limit} levels of operators, brackets and function calls")]
    TooDeep {
        /// Byte offset in the query where the nesting first exceeded the limit.
        offset: usize,
        /// The limit.
        limit: usize,
    },
}

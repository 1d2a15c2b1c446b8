//! Query values: instant vectors, range vectors (matrices), scalars and strings.

use std::fmt;

use crate::tsdb::{Labels, Sample};

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    /// The series labels (the metric name stays until the end of the query, see `drop_name`).
    pub labels: Labels,
    /// Timestamp in ms: the evaluation time.
    pub t: i64,
    /// The value.
    pub v: f64,
    /// Prometheus 3.x delayed name removal: the metric name is removed when the query finishes (or
    /// when an operation needs the final label set), not where the function ran, so that
    /// `label_replace(rate(x[5m]), "n", "$1", "__name__", "(.*)")` can still read it.
    pub drop_name: bool,
}

/// An instant vector.
pub type Vector = Vec<InstantSample>;

/// One series of a range vector.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    /// The series labels.
    pub labels: Labels,
    /// Points in time order.
    pub samples: Vec<Sample>,
    /// See [`InstantSample::drop_name`].
    pub drop_name: bool,
}

/// A range vector, or the result of a range query.
pub type Matrix = Vec<RangeSeries>;

/// The result of evaluating an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number at a time.
    Scalar {
        /// Evaluation time in ms.
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string literal.
    String {
        /// Evaluation time in ms.
        t: i64,
        /// The string.
        s: String,
    },
    /// An instant vector.
    Vector(Vector),
    /// A range vector (or a range query's result).
    Matrix(Matrix),
}

impl Value {
    /// The PromQL type name (`scalar`, `string`, `vector`, `matrix`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Formats a float the way Prometheus prints sample values (`+Inf`, `-Inf`, `NaN`, shortest form).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar { v, .. } => write!(f, "scalar: {}", format_float(*v)),
            Value::String { s, .. } => write!(f, "string: {s:?}"),
            Value::Vector(vec) => {
                for s in vec {
                    writeln!(f, "{} => {}", s.labels, format_float(s.v))?;
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for s in m {
                    write!(f, "{} =>", s.labels)?;
                    for p in &s.samples {
                        write!(f, " {}@{}", format_float(p.v), p.t)?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            }
        }
    }
}

/// Warnings and infos attached to a query result (Prometheus's `annotations`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotations {
    /// Messages starting `PromQL warning: `.
    pub warnings: Vec<String>,
    /// Messages starting `PromQL info: `.
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds a warning (deduplicated); `msg` is without the `PromQL warning: ` prefix.
    pub fn warn(&mut self, msg: impl Into<String>) {
        let m = format!("PromQL warning: {}", msg.into());
        if !self.warnings.contains(&m) {
            self.warnings.push(m);
        }
    }

    /// Adds an info (deduplicated); `msg` is without the `PromQL info: ` prefix.
    pub fn info(&mut self, msg: impl Into<String>) {
        let m = format!("PromQL info: {}", msg.into());
        if !self.infos.contains(&m) {
            self.infos.push(m);
        }
    }
}

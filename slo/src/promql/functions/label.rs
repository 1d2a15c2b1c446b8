//! `label_replace` and `label_join`.
//!
//! Writing `__name__` clears the delayed-removal mark, so `label_replace(rate(x[1m]), "__name__",
//! ...)` names its result (Prometheus 3.x).

use crate::promql::QueryError;
use crate::promql::value::Vector;
use crate::tsdb::{LabelsBuilder, METRIC_NAME, matcher::anchored_regex};

/// Label names are any non-empty UTF-8 string in Prometheus 3.x.
fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub(super) fn replace(
    mut vec: Vector,
    dst: &str,
    repl: &str,
    src: &str,
    re: &str,
) -> Result<Vector, QueryError> {
    let regex = anchored_regex(re)
        .map_err(|_| QueryError::Execution(format!("invalid regular expression in label_replace(): {re}")))?;
    if !valid_label_name(dst) {
        return Err(QueryError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    for s in &mut vec {
        let src_val = s.labels.get(src).unwrap_or("").to_string();
        if let Some(caps) = regex.captures(&src_val) {
            let mut res = String::new();
            caps.expand(repl, &mut res);
            let mut b = LabelsBuilder::new(&s.labels);
            b.set(dst.to_string(), res);
            s.labels = b.build();
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    unique(vec)
}

/// Prometheus checks the result of `label_replace` and `label_join` itself (also under an
/// aggregation, where the final check never sees it): two series made alike are an error.
fn unique(vec: Vector) -> Result<Vector, QueryError> {
    let mut seen = std::collections::HashSet::with_capacity(vec.len());
    for s in &vec {
        if !seen.insert((&s.labels, s.drop_name)) {
            return Err(QueryError::Execution(
                "vector cannot contain metrics with the same labelset".to_string(),
            ));
        }
    }
    Ok(vec)
}

/// `label_join(v, dst, separator, src...)`.
pub(super) fn join(mut vec: Vector, dst: &str, sep: &str, srcs: &[String]) -> Result<Vector, QueryError> {
    for s in srcs {
        if !valid_label_name(s) {
            return Err(QueryError::Execution(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
    }
    if !valid_label_name(dst) {
        return Err(QueryError::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    for s in &mut vec {
        let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
        let joined = joined.join(sep);
        let mut b = LabelsBuilder::new(&s.labels);
        b.set(dst.to_string(), joined);
        s.labels = b.build();
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    unique(vec)
}

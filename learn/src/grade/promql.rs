//! PromQL answers: evaluated beside the reference over the exercise's data set.
//!
//! Both queries run on slo's engine over the exercise's store ([`crate::dataset`]) at every
//! `at` time (instant queries) and over the `range` (a range query). The results compare as
//! sets: each series' label set (metric name included, as Prometheus returns it) with its
//! value or values, floats within a relative 1e-9 (or 1e-12 absolute, for arithmetic noise
//! around zero). Order does not matter: Prometheus does not order instant vectors either,
//! except after `sort`, which no exercise grades.
//!
//! On a mismatch the feedback says how the results differ, at the first time they do: a parse
//! error with Prometheus's `line:column` ([`burnwatch_slo::api::position`]); a range vector,
//! scalar or string where another type is expected; the series count; labels present on one
//! side only (`sum` without `by`, a `by` too many); values off by one constant factor (60
//! between per-second and per-minute, 100 between a ratio and a percentage); the engine's own
//! warnings (`histogram_quantile` without `le`); and, for the functions people mix up
//! (`rate`/`irate`/`increase`/`delta`), what the function used does differently.
//!
//! The answer's evaluation is bounded ([`LIMITS`]): a query nesting deeper than
//! [`MAX_NESTING`] is refused before parsing, and the engine's timeout and sample limit stop a
//! query such as `count_over_time(x[100y:1ms])`, so a keypress never hangs the practice view.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use burnwatch_slo::api::position;
use burnwatch_slo::promql::{Annotations, Engine, EngineOptions, QueryError, Value, depth};
use burnwatch_slo::tsdb::{Labels, Storage};
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

use super::Verdict;
use crate::dataset;
use crate::model::{Exercise, PromqlAnswer};

/// The deepest nesting of operators, brackets and calls an answer may have: far beyond any
/// exercise, and shallow enough to parse and evaluate on the caller's stack
/// ([`depth::INLINE_DEPTH`]).
pub const MAX_NESTING: usize = depth::INLINE_DEPTH;

/// The bounds on one evaluation of an answer: a second, and a million samples (an exercise's
/// data set holds a few thousand).
pub const LIMITS: Limits = Limits {
    timeout: Duration::from_secs(1),
    max_samples: 1_000_000,
};

/// Bounds on an answer's evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest one query may run.
    pub timeout: Duration,
    /// Most samples one query may hold.
    pub max_samples: usize,
}

fn engine() -> Engine {
    Engine::new(EngineOptions {
        timeout: LIMITS.timeout,
        max_samples: LIMITS.max_samples,
        ..EngineOptions::default()
    })
}

/// Relative tolerance of the comparison.
pub const TOLERANCE: f64 = 1e-9;

/// Whether two sample values are the same result: equal, both NaN, within [`TOLERANCE`]
/// relative, or within 1e-12 of each other (noise of float arithmetic around zero).
pub fn same_value(a: f64, b: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    // An infinity equals only itself (the relative bound below would be infinite too).
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    let diff = (a - b).abs();
    diff <= TOLERANCE * a.abs().max(b.abs()) || diff < 1e-12
}

/// An evaluation time of the exercise, in ms since time 0, with its text for messages.
fn time(text: &str) -> Result<i64, String> {
    burnwatch_slo::duration::parse_prometheus_duration_ms(text.trim())
        .ok_or_else(|| format!("the exercise's time {text:?} is not a Prometheus duration"))
}

/// A query result reduced to what is compared: series by label set, each with its points
/// `(t, v)`; a scalar is one unlabelled series flagged as such.
#[derive(Debug, Default)]
struct Rows {
    kind: &'static str,
    series: BTreeMap<String, (Labels, Vec<(i64, f64)>)>,
}

fn rows(value: &Value) -> Rows {
    let mut out = Rows {
        kind: value.type_name(),
        ..Rows::default()
    };
    match value {
        Value::Scalar { t, v } => {
            out.series
                .insert(String::new(), (Labels::empty(), vec![(*t, *v)]));
        }
        // A string never equals a number; its text is its value.
        Value::String { t, .. } => {
            out.series
                .insert(String::new(), (Labels::empty(), vec![(*t, f64::NAN)]));
        }
        Value::Vector(v) => {
            for s in v {
                // Native histograms compare as NaN: the curriculum uses classic buckets only.
                let val = if s.h.is_some() { f64::NAN } else { s.v };
                out.series
                    .insert(s.labels.to_string(), (s.labels.clone(), vec![(s.t, val)]));
            }
        }
        Value::Matrix(m) => {
            for s in m {
                let pts = s.samples.iter().map(|p| (p.t, p.v)).collect();
                out.series.insert(s.labels.to_string(), (s.labels.clone(), pts));
            }
        }
    }
    out
}

/// The type an expression gives, in words.
fn type_words(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "an instant vector",
        ValueType::Matrix => "a range vector",
        ValueType::Scalar => "a scalar",
        ValueType::String => "a string",
    }
}

/// Parses an answer within [`MAX_NESTING`], with Prometheus's wording and position on error.
fn parse_answer(answer: &str) -> Result<Expr, String> {
    let answer_t = answer.trim();
    if answer_t.is_empty() {
        return Err("type a PromQL query".to_string());
    }
    if let Err(offset) = depth::nesting_bound(answer, MAX_NESTING) {
        let (line, col) = position::line_col(answer, offset);
        return Err(format!(
            "{line}:{col}: the query nests more than {MAX_NESTING} levels deep; no exercise needs that many"
        ));
    }
    Engine::parse(answer).map_err(|e| match e {
        QueryError::Parse(msg) => position::parse_error_text(answer, &msg),
        other => other.to_string(),
    })
}

/// Why a query could not run, for the learner.
fn run_error(e: &QueryError) -> String {
    match e {
        QueryError::Timeout => format!(
            "the query ran longer than {} s and was stopped: a subquery step or range that small over this data is too much",
            LIMITS.timeout.as_secs()
        ),
        QueryError::TooManySamples => format!(
            "the query would hold more than {} samples and was stopped: a subquery step or range that small is too much",
            LIMITS.max_samples
        ),
        other => other.to_string(),
    }
}

/// The function names an expression calls.
fn functions(expr: &Expr) -> BTreeSet<String> {
    use promql_parser::util::{ExprVisitor, walk_expr};
    struct Calls(BTreeSet<String>);
    impl ExprVisitor for Calls {
        type Error = ();
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, ()> {
            if let Expr::Call(c) = e {
                self.0.insert(c.func.name.to_string());
            }
            Ok(true)
        }
    }
    let mut v = Calls(BTreeSet::new());
    // Answers are bounded to MAX_NESTING levels before they parse, so this walk is shallow.
    let _ = walk_expr(&mut v, expr);
    v.0
}

/// What a function people confuse with the reference's does differently.
fn confusion_note(answer: &BTreeSet<String>, reference: &BTreeSet<String>) -> Option<String> {
    let uses = |f: &str| answer.contains(f) && !reference.contains(f);
    let wants = |f: &str| reference.contains(f) && !answer.contains(f);
    let note = if uses("irate") && wants("rate") {
        "irate() uses only the last two samples in the window; rate() averages over the whole window, which is what is asked"
    } else if uses("rate") && wants("irate") {
        "rate() averages over the whole window; irate() uses only the last two samples, which is what is asked"
    } else if uses("increase") && wants("rate") {
        "increase() gives the increase over the whole window; rate() gives it per second"
    } else if uses("rate") && wants("increase") {
        "rate() is per second; increase() gives the increase over the whole window"
    } else if uses("delta") && (wants("rate") || wants("increase")) {
        "delta() is for gauges and does not handle counter resets; counters take rate() or increase()"
    } else if uses("deriv") && wants("rate") {
        "deriv() fits a line to a gauge; a counter's per-second rate is rate()"
    } else if uses("histogram_quantile") && wants("quantile") {
        "histogram_quantile() reads histogram buckets; quantile() takes a quantile across series"
    } else if uses("quantile") && wants("histogram_quantile") {
        "quantile() takes a quantile across series; latency histograms need histogram_quantile() over the buckets' rates"
    } else {
        return None;
    };
    Some(note.to_string())
}

/// Factors by which every value can be off, with what they suggest.
const FACTORS: &[(f64, &str)] = &[
    (60.0, "per minute where per second is asked?"),
    (1.0 / 60.0, "per second where per minute is asked?"),
    (3600.0, "per hour where per second is asked?"),
    (1.0 / 3600.0, "per second where per hour is asked?"),
    (100.0, "a percentage where a ratio (0 to 1) is asked?"),
    (0.01, "a ratio where a percentage is asked?"),
    (1000.0, "milliseconds where seconds are asked?"),
    (0.001, "seconds where milliseconds are asked?"),
    (-1.0, "the operands of a subtraction swapped?"),
];

fn factor_text(c: f64) -> String {
    if c.abs() >= 1.0 {
        format!("{} times", crate::answer::significant(c, 6))
    } else {
        format!("1/{} of", crate::answer::significant(1.0 / c, 6))
    }
}

/// When every value of `a` is one constant factor (other than 1) of `b`'s, that factor.
fn constant_factor(pairs: &[(f64, f64)]) -> Option<f64> {
    let mut factor: Option<f64> = None;
    for &(a, b) in pairs {
        if same_value(a, b) && a.is_nan() {
            continue;
        }
        if b == 0.0 || !a.is_finite() || !b.is_finite() {
            if same_value(a, b) {
                continue;
            }
            return None;
        }
        let r = a / b;
        match factor {
            None => factor = Some(r),
            Some(f) if (r - f).abs() <= 1e-6 * f.abs() => {}
            Some(_) => return None,
        }
    }
    factor.filter(|f| (f - 1.0).abs() > 1e-6 && *f != 0.0)
}

fn show(labels: &Labels) -> String {
    labels.series_name()
}

fn names(rows: &Rows) -> BTreeSet<String> {
    rows.series
        .values()
        .flat_map(|(l, _)| l.iter().map(|x| x.name.to_string()))
        .collect()
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(|n| {
            if n == "__name__" {
                "__name__ (the metric name)"
            } else {
                n.as_str()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How `got` differs from `want`, one sentence a line; empty when they are the same result.
fn differences(got: &Rows, want: &Rows) -> Vec<String> {
    let mut out = Vec::new();
    if got.kind != want.kind {
        out.push(format!(
            "your query gives a {}; a {} is expected",
            got.kind, want.kind
        ));
        return out;
    }
    let got_keys: BTreeSet<&String> = got.series.keys().collect();
    let want_keys: BTreeSet<&String> = want.series.keys().collect();
    if got_keys != want_keys {
        if got.series.len() != want.series.len() {
            out.push(format!(
                "your query returns {} series; the expected result has {}",
                got.series.len(),
                want.series.len()
            ));
        }
        if got.series.is_empty() {
            return out;
        }
        let (gn, wn) = (names(got), names(want));
        let extra: BTreeSet<String> = gn.difference(&wn).cloned().collect();
        let missing: BTreeSet<String> = wn.difference(&gn).cloned().collect();
        if extra.contains("__name__") && extra.len() == 1 {
            out.push(
                "your series keep the metric name (__name__); the expected ones have none: a function or operator drops it"
                    .to_string(),
            );
        } else if !extra.is_empty() {
            out.push(format!(
                "your series have labels the expected ones do not: {} (aggregate them away with by (...) or without (...))",
                join(&extra)
            ));
        }
        if missing.contains("__name__") && missing.len() == 1 {
            out.push("the expected series keep the metric name (__name__); yours have none".to_string());
        } else if !missing.is_empty() {
            out.push(format!(
                "the expected series have labels yours do not: {} (keep them, e.g. in by (...))",
                join(&missing)
            ));
        }
        if extra.is_empty() && missing.is_empty() {
            let unexpected: Vec<String> = got_keys
                .difference(&want_keys)
                .take(3)
                .map(|k| show(&got.series[*k].0))
                .collect();
            let absent: Vec<String> = want_keys
                .difference(&got_keys)
                .take(3)
                .map(|k| show(&want.series[*k].0))
                .collect();
            if !unexpected.is_empty() {
                out.push(format!("not expected: {}", unexpected.join(", ")));
            }
            if !absent.is_empty() {
                out.push(format!("missing: {}", absent.join(", ")));
            }
        }
        return out;
    }
    // The same series: compare their points.
    let mut pairs = Vec::new();
    let mut first_diff: Option<String> = None;
    for (key, (labels, wpts)) in &want.series {
        let gpts = &got.series[key].1;
        let gt: Vec<i64> = gpts.iter().map(|p| p.0).collect();
        let wt: Vec<i64> = wpts.iter().map(|p| p.0).collect();
        if gt != wt {
            first_diff.get_or_insert_with(|| {
                format!(
                    "{}: your query has values at {} of the steps, the expected result at {}",
                    show(labels),
                    gt.len(),
                    wt.len()
                )
            });
            continue;
        }
        for (g, w) in gpts.iter().zip(wpts) {
            if !same_value(g.1, w.1) {
                first_diff.get_or_insert_with(|| {
                    let at = if want.kind == "matrix" {
                        format!(" at {}", secs(w.0))
                    } else {
                        String::new()
                    };
                    format!(
                        "{}{at}: your value is {}, the expected {}",
                        if want.kind == "scalar" {
                            "the value".to_string()
                        } else {
                            show(labels)
                        },
                        crate::answer::plain(g.1),
                        crate::answer::plain(w.1)
                    )
                });
            }
            pairs.push((g.1, w.1));
        }
    }
    let Some(first) = first_diff else { return out };
    if let Some(f) = constant_factor(&pairs) {
        let hint = FACTORS
            .iter()
            .find(|(k, _)| (f - k).abs() <= 1e-6 * k.abs())
            .map_or(String::new(), |(_, h)| format!(": {h}"));
        out.push(format!(
            "the same series, but every value is {} the expected{hint}",
            factor_text(f)
        ));
    } else {
        out.push(format!("the same series, but the values differ; {first}"));
    }
    out
}

/// Milliseconds after time 0 as a duration (`30m`, `1h5m`).
fn secs(ms: i64) -> String {
    crate::answer::format_duration(ms as f64 / 1000.0)
}

/// Annotations of the answer's evaluation worth showing (the engine's warnings and infos).
fn notes(a: &Annotations) -> impl Iterator<Item = String> + '_ {
    a.warnings.iter().chain(&a.infos).cloned()
}

/// Grades a PromQL answer.
pub fn check(exercise: &Exercise, p: &PromqlAnswer, answer: &str) -> Verdict {
    let got_expr = match parse_answer(answer) {
        Ok(e) => e,
        Err(e) => return Verdict::wrong(vec![e]),
    };
    let want_expr = match Engine::parse(&p.reference) {
        Ok(e) => e,
        Err(e) => {
            return Verdict::wrong(vec![format!(
                "the exercise's reference query does not parse: {e}"
            )]);
        }
    };
    let (gt, wt) = (got_expr.value_type(), want_expr.value_type());
    if gt != wt {
        let why = match (gt, wt) {
            (ValueType::Matrix, ValueType::Vector) => {
                ": a selector with a [range] needs a function such as rate() or avg_over_time() to become one value per series"
            }
            (ValueType::Scalar, ValueType::Vector) => {
                ": a scalar has no labels (scalar() or a bare number drops them)"
            }
            (ValueType::Vector, ValueType::Scalar) => ": scalar() turns a one-series vector into a scalar",
            _ => "",
        };
        return Verdict::wrong(vec![format!(
            "your query gives {}; {} is expected{why}",
            type_words(gt),
            type_words(wt)
        )]);
    }
    let store = match dataset::store(exercise) {
        Ok(s) => s,
        Err(e) => return Verdict::wrong(vec![e]),
    };
    let confusion = confusion_note(&functions(&got_expr), &functions(&want_expr));
    let engine = engine();
    let wrong = |mut lines: Vec<String>, annotations: &Annotations| {
        lines.extend(notes(annotations));
        lines.extend(confusion.clone());
        Verdict::wrong(lines)
    };
    let mut checked = Vec::new();
    for at in &p.at {
        let t = match time(at) {
            Ok(t) => t,
            Err(e) => return Verdict::wrong(vec![e]),
        };
        let want = match engine.instant_expr(&*store, &want_expr, t) {
            Ok(r) => r,
            Err(e) => return Verdict::wrong(vec![format!("the exercise's reference fails at {at}: {e}")]),
        };
        let got = match engine.instant_expr(&*store, &got_expr, t) {
            Ok(r) => r,
            Err(e) => return Verdict::wrong(vec![format!("at {at}: {}", run_error(&e))]),
        };
        let diff = differences(&rows(&got.value), &rows(&want.value));
        if !diff.is_empty() {
            let lines = diff.into_iter().map(|d| format!("at {at}: {d}")).collect();
            return wrong(lines, &got.annotations);
        }
        checked.push(at.clone());
    }
    if let Some(r) = &p.range {
        let (start, end, step) = match (time(&r.start), time(&r.end), time(&r.step)) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Verdict::wrong(vec![e]),
        };
        let want = match engine.range_expr(&*store, &want_expr, start, end, step) {
            Ok(r) => r,
            Err(e) => {
                return Verdict::wrong(vec![format!(
                    "the exercise's reference fails over its range: {e}"
                )]);
            }
        };
        let got = match engine.range_expr(&*store, &got_expr, start, end, step) {
            Ok(r) => r,
            Err(e) => {
                return Verdict::wrong(vec![format!(
                    "over {}..{} every {}: {}",
                    r.start,
                    r.end,
                    r.step,
                    run_error(&e)
                )]);
            }
        };
        let diff = differences(&rows(&got.value), &rows(&want.value));
        if !diff.is_empty() {
            let lines = diff
                .into_iter()
                .map(|d| format!("over {}..{} every {}: {d}", r.start, r.end, r.step))
                .collect();
            return wrong(lines, &got.annotations);
        }
        checked.push(format!("{}..{} every {}", r.start, r.end, r.step));
    }
    Verdict::right(vec![format!(
        "the same result as the reference at {}",
        checked.join(", ")
    )])
}

/// The answer's result at the exercise's first evaluation time, as a table of at most
/// [`PREVIEW_ROWS`] series.
pub fn preview(exercise: &Exercise, p: &PromqlAnswer, answer: &str) -> Result<String, String> {
    let expr = parse_answer(answer)?;
    let store: Arc<Storage> = dataset::store(exercise)?;
    let (label, t) = match (p.at.first(), &p.range) {
        (Some(at), _) => (at.clone(), time(at)?),
        (None, Some(r)) => (r.end.clone(), time(&r.end)?),
        (None, None) => return Err("the exercise has no evaluation time".to_string()),
    };
    let r = engine()
        .instant_expr(&*store, &expr, t)
        .map_err(|e| run_error(&e))?;
    let mut out = format!("at {label}:\n");
    match &r.value {
        Value::Scalar { v, .. } => out.push_str(&format!("scalar  {}\n", crate::answer::plain(*v))),
        Value::String { s, .. } => out.push_str(&format!("string  {s:?}\n")),
        Value::Vector(v) if v.is_empty() => out.push_str("no series\n"),
        Value::Vector(v) => {
            let mut rows: Vec<(String, String)> = v
                .iter()
                .map(|s| {
                    let val = match &s.h {
                        Some(_) => "(native histogram)".to_string(),
                        None => crate::answer::plain(s.v),
                    };
                    (show(&s.labels), val)
                })
                .collect();
            rows.sort();
            table(&mut out, &rows);
        }
        Value::Matrix(m) if m.is_empty() => out.push_str("no series\n"),
        Value::Matrix(m) => {
            let mut rows: Vec<(String, String)> = m
                .iter()
                .map(|s| {
                    let pts: Vec<String> = s.samples.iter().map(|p| crate::answer::plain(p.v)).collect();
                    (show(&s.labels), pts.join(" "))
                })
                .collect();
            rows.sort();
            table(&mut out, &rows);
        }
    }
    for n in notes(&r.annotations) {
        out.push_str(&n);
        out.push('\n');
    }
    Ok(out)
}

/// Most series a preview lists.
pub const PREVIEW_ROWS: usize = 12;

fn table(out: &mut String, rows: &[(String, String)]) {
    let width = rows
        .iter()
        .take(PREVIEW_ROWS)
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0);
    for (l, v) in rows.iter().take(PREVIEW_ROWS) {
        out.push_str(&format!("{l:<width$}  {v}\n"));
    }
    if rows.len() > PREVIEW_ROWS {
        out.push_str(&format!("… and {} more series\n", rows.len() - PREVIEW_ROWS));
    }
}

#[cfg(test)]
mod tests;
